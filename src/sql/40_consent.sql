-- Consent: an append-only register of consent events, the current state
-- derived from it, requirements that make the database refuse writes
-- without consent, and the cascade that stops processing on withdrawal.
--
-- privacy.consent_event is the proof (GDPR Art. 7(1)): one row per grant
-- or withdrawal, never updated or deleted (only the erasure hook may null
-- the identifier, keeping the keyed subject reference).  privacy.consent_state
-- holds one row per (kind, value, purpose) with the latest event; it is
-- what the require_consent trigger locks (FOR KEY SHARE, in C) and what a
-- withdrawal locks FOR UPDATE before it appends its event and deletes the
-- subject's rows, so a write that depends on a consent and the withdrawal
-- of that consent are serialized.  has_consent and the trigger are C
-- (src/consent.c): direct index scans, no SPI and no catalog query per row.

CREATE SEQUENCE privacy.consent_event_id_seq;

CREATE TABLE privacy.consent_event (
  id             bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('privacy.consent_event_id_seq'),
  kind           text        NOT NULL REFERENCES privacy.identifier_kind,
  value          text,       -- normalized identifier; NULL once the subject is erased
  subject_ref    text        NOT NULL,   -- privacy_internal._subject_ref(kind, value): kept after erasure
  purpose        text        NOT NULL REFERENCES privacy.purpose,
  event          text        NOT NULL CHECK (event IN ('grant', 'withdraw')),
  at             timestamptz NOT NULL,   -- when the subject gave or withdrew consent
  source         text,                   -- channel: web form, SMS STOP, customer service ...
  notice_version text,                   -- the consent text shown (grants)
  actor          name        NOT NULL,   -- session user that recorded it
  role           name        NOT NULL,   -- role the statement ran as
  recorded_at    timestamptz NOT NULL    -- when it was recorded
);
COMMENT ON TABLE privacy.consent_event IS
  'pg_privacy consent register: append-only grants and withdrawals, the proof of consent (GDPR Art. 7(1))';
-- has_consent(..., at => t) and the hand-written equivalent: the latest
-- event at or before t is the first entry of this index.
CREATE INDEX consent_event_lookup ON privacy.consent_event (kind, value, purpose, at DESC, id DESC);
CREATE INDEX consent_event_subject ON privacy.consent_event (subject_ref);

CREATE TABLE privacy.consent_state (
  kind      text        NOT NULL,
  value     text        NOT NULL,
  purpose   text        NOT NULL,
  granted   boolean     NOT NULL,
  event_id  bigint,                     -- the latest event (NULL only inside the granting transaction)
  at        timestamptz,                -- its time
  PRIMARY KEY (kind, value, purpose)
);
COMMENT ON TABLE privacy.consent_state IS
  'pg_privacy: current consent per subject identifier and purpose, derived from privacy.consent_event';

CREATE TABLE privacy.consent_requirement (
  tbl          regclass    NOT NULL,
  col          name        NOT NULL,
  purpose      text        NOT NULL REFERENCES privacy.purpose,
  kind         text        NOT NULL REFERENCES privacy.identifier_kind,
  on_withdraw  text        NOT NULL CHECK (on_withdraw IN ('keep', 'delete')),
  required_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  required_by  name        NOT NULL,
  PRIMARY KEY (tbl, col, purpose)
);
COMMENT ON TABLE privacy.consent_requirement IS
  'pg_privacy: tables that refuse rows of subjects without consent for a purpose (privacy.require_consent)';
-- A requirement written by hand reaches every session's consent trigger,
-- as one written by require_consent does (src/protect.c).
CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE ON privacy.consent_requirement
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._catalog_changed();
CREATE TRIGGER catalog_truncated AFTER TRUNCATE ON privacy.consent_requirement
  FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._catalog_changed();
ALTER TABLE privacy.consent_requirement ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;

SELECT pg_catalog.pg_extension_config_dump('privacy.consent_event', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.consent_event_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.consent_state', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.consent_requirement', '');

------------------------------------------------------------------------
-- C parts (src/consent.c)
------------------------------------------------------------------------

-- The register is append-only for everyone, its owner included; only
-- privacy_internal._consent_forget_identities (below) may null an identifier.
CREATE FUNCTION privacy_internal._consent_append_only() RETURNS trigger
  LANGUAGE c
  AS 'MODULE_PATHNAME', 'pgp_consent_append_only';
COMMENT ON FUNCTION privacy_internal._consent_append_only() IS
  'internal: refuses UPDATE, DELETE and TRUNCATE on the consent register';
CREATE TRIGGER consent_event_append_only
  BEFORE UPDATE OR DELETE ON privacy.consent_event
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._consent_append_only();
CREATE TRIGGER consent_event_no_truncate
  BEFORE TRUNCATE ON privacy.consent_event
  FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._consent_append_only();

CREATE FUNCTION privacy.has_consent(kind text, value text, purpose text,
                                    at timestamptz DEFAULT NULL)
  RETURNS boolean
  LANGUAGE c STABLE PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_has_consent';
COMMENT ON FUNCTION privacy.has_consent(text, text, text, timestamptz) IS
  'whether the subject identifier has consent for the purpose: now (at NULL: the latest event the statement sees) or at a past moment';

CREATE FUNCTION privacy_internal._consent_trigger() RETURNS trigger
  LANGUAGE c
  AS 'MODULE_PATHNAME', 'pgp_consent_trigger';
COMMENT ON FUNCTION privacy_internal._consent_trigger() IS
  'internal: the require_consent trigger (BEFORE INSERT OR UPDATE, FOR EACH ROW)';

-- Forget the trigger's per-transaction memory of checked consents; called
-- after this transaction changed a consent.
CREATE FUNCTION privacy_internal._consent_changed() RETURNS void
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_consent_changed';
COMMENT ON FUNCTION privacy_internal._consent_changed() IS
  'internal: resets the require_consent trigger''s per-transaction cache';

-- Delete a subject's rows from a table as the table's owner (withdrawal
-- cascade).  how: 'equal' (column as text equals match), 'msisdn' or
-- 'email' (column normalized equals match), 'under:<fingerprint>' (equal,
-- rows under that key only: privacy_internal._row_key), 'raw:<normalization>'
-- (column normalized equals match, rows not converted since
-- protect_in_batches() only).
CREATE FUNCTION privacy_internal._consent_delete(tbl regclass, col name, how text, match text)
  RETURNS bigint
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_consent_delete';
COMMENT ON FUNCTION privacy_internal._consent_delete(regclass, name, text, text) IS
  'internal: deletes a subject''s rows from a table as its owner (withdrawal with on_withdraw => delete)';

-- The erasure hook.  Nulls the identifiers of every consent event of a
-- subject (the keyed subject_ref stays, so the proof of what was consented
-- and withdrawn survives without the identity) and drops the subject's
-- current state: all its identifiers (kinds[i], vals[i]) in one statement
-- each.  The append-only trigger lets exactly this through, and only while
-- this C function runs; EXECUTE stays with the extension owner (the
-- data-subject erasure path).  Returns the number of events.
CREATE FUNCTION privacy_internal._consent_forget_identities(kinds text[], vals text[]) RETURNS bigint
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_consent_forget_identities';
COMMENT ON FUNCTION privacy_internal._consent_forget_identities(text[], text[]) IS
  'internal (erasure path only): nulls a subject''s identifiers in the consent register, keeping subject_ref and the events';

-- Raise an error about a data subject without logging the statement that
-- names it (PL/pgSQL's RAISE cannot hide the statement); never echo the
-- value itself.  Any error that unwinds an API entry point (the consent and
-- data-subject functions among them, each called with an identifier) is
-- logged without its statement by the entry-point hook (src/caller.c), so
-- they need no exception handler of their own: none, so that a batch of
-- calls in one transaction starts no subtransaction per call.  Used where
-- PL/pgSQL raises such an error itself (the restriction trigger runs
-- outside any entry point).
CREATE FUNCTION privacy_internal._raise_hidden(sqlstate text, message text, detail text DEFAULT NULL,
                                      hint text DEFAULT NULL)
  RETURNS void
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_raise_hidden';
COMMENT ON FUNCTION privacy_internal._raise_hidden(text, text, text, text) IS
  'internal: raises an error about a data subject with the statement hidden from the server log';

------------------------------------------------------------------------
-- Recording consent
------------------------------------------------------------------------

-- Check a (kind, value, purpose) triple and return the value in its
-- kind's normal form.  Errors: NULLs 22004; unknown kind or purpose, a
-- purpose whose legal basis is not consent, no normal form: 22023/22P02.
CREATE FUNCTION privacy_internal._consent_subject(kind text, value text, purpose text)
  RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  norm text;
  p    privacy.purpose;
BEGIN
  IF kind IS NULL OR value IS NULL OR purpose IS NULL THEN
    RAISE EXCEPTION 'identifier kind, value and purpose must not be null'
      USING ERRCODE = '22004';
  END IF;
  SELECT k.normalize INTO norm FROM privacy.identifier_kind k
   WHERE k.name OPERATOR(pg_catalog.=) _consent_subject.kind;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unknown identifier kind "%"', kind
      USING ERRCODE = '22023',
            HINT = 'Use one of: ' || (SELECT pg_catalog.string_agg(k.name, ', ' ORDER BY k.name)
                                        FROM privacy.identifier_kind k) || '.';
  END IF;
  SELECT * INTO p FROM privacy.purpose q WHERE q.name OPERATOR(pg_catalog.=) _consent_subject.purpose;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'purpose "%" does not exist', purpose
      USING ERRCODE = '22023',
            HINT = 'Define it first with privacy.define_purpose().';
  END IF;
  IF NOT p.requires_consent THEN
    RAISE EXCEPTION 'purpose "%" is not based on consent', purpose
      USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('Its legal basis is "%s"; consent is recorded only for purposes whose legal basis is consent.',
                                       p.legal_basis);
  END IF;
  RETURN privacy_internal._identifier_normalize(kind, value);
END
$$;
COMMENT ON FUNCTION privacy_internal._consent_subject(text, text, text) IS
  'internal: checks a consent subject and purpose, returns the identifier in normal form';

-- Lock the current state of (kind, value, purpose) for a change, creating
-- it (not granted, no event) on first use.  Grants lock FOR NO KEY UPDATE,
-- which lets writers holding FOR KEY SHARE go on; withdrawals lock FOR
-- UPDATE, which waits for every transaction that wrote a row relying on
-- the consent, and makes later writers see the withdrawal.
CREATE FUNCTION privacy_internal._consent_lock_state(kind text, value text, purpose text, for_withdraw boolean)
  RETURNS privacy.consent_state
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  st privacy.consent_state;
BEGIN
  FOR i IN 1..2 LOOP
    IF for_withdraw THEN
      SELECT * INTO st FROM privacy.consent_state s
       WHERE s.kind OPERATOR(pg_catalog.=) _consent_lock_state.kind
         AND s.value OPERATOR(pg_catalog.=) _consent_lock_state.value
         AND s.purpose OPERATOR(pg_catalog.=) _consent_lock_state.purpose
         FOR UPDATE;
    ELSE
      SELECT * INTO st FROM privacy.consent_state s
       WHERE s.kind OPERATOR(pg_catalog.=) _consent_lock_state.kind
         AND s.value OPERATOR(pg_catalog.=) _consent_lock_state.value
         AND s.purpose OPERATOR(pg_catalog.=) _consent_lock_state.purpose
         FOR NO KEY UPDATE;
    END IF;
    IF FOUND OR for_withdraw THEN
      RETURN st;      -- NULL fields: never granted
    END IF;
    -- First grant: create the state row; a concurrent first grant makes
    -- this wait and then do nothing, and the loop locks its row.
    INSERT INTO privacy.consent_state (kind, value, purpose, granted)
         VALUES (kind, value, purpose, false)
    ON CONFLICT DO NOTHING;
  END LOOP;
  RAISE EXCEPTION 'could not lock the consent state' USING ERRCODE = 'XX000';
END
$$;
COMMENT ON FUNCTION privacy_internal._consent_lock_state(text, text, text, boolean) IS
  'internal: locks (creating on first grant) the consent state of an identifier and purpose';

-- Append one event and move the state to it.  Shared by grant and
-- withdraw once the state is locked; each audits the event afterwards
-- (privacy_internal._consent_audit), the audit head being the last lock taken.
CREATE FUNCTION privacy_internal._consent_append(kind text, value text, purpose text, event text,
                                        at timestamptz, source text, notice_version text,
                                        st privacy.consent_state)
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  new_id bigint;
  ts     timestamptz := pg_catalog.clock_timestamp();
  ref    text := privacy_internal._subject_ref(kind, value);
BEGIN
  IF at IS NULL THEN
    at := GREATEST(ts, st.at);
  ELSIF at OPERATOR(pg_catalog.>) ts THEN
    RAISE EXCEPTION 'consent % time is in the future', event
      USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('at is %s; it is now %s.', at, ts);
  ELSIF at OPERATOR(pg_catalog.<) st.at THEN
    RAISE EXCEPTION 'consent events must be recorded in time order'
      USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('at is %s; the latest event for this identifier and purpose is at %s.',
                                       at, st.at);
  END IF;
  INSERT INTO privacy.consent_event (kind, value, subject_ref, purpose, event, at, source,
                                     notice_version, actor, role, recorded_at)
       VALUES (kind, value, ref, purpose, event, at, source, notice_version,
               pg_catalog.session_user(), privacy_internal._invoker(), ts)
    RETURNING id INTO new_id;
  UPDATE privacy.consent_state s
     SET granted = (event OPERATOR(pg_catalog.=) 'grant'), event_id = new_id, at = _consent_append.at
   WHERE s.kind OPERATOR(pg_catalog.=) _consent_append.kind
     AND s.value OPERATOR(pg_catalog.=) _consent_append.value
     AND s.purpose OPERATOR(pg_catalog.=) _consent_append.purpose;
  PERFORM privacy_internal._consent_changed();
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION privacy_internal._consent_append(text, text, text, text, timestamptz, text, text, privacy.consent_state) IS
  'internal: appends one consent event and moves the state to it';

-- Audit one consent event (after every other lock of the change).
CREATE FUNCTION privacy_internal._consent_audit(event_id bigint)
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  e privacy.consent_event;
BEGIN
  SELECT * INTO e FROM privacy.consent_event x WHERE x.id OPERATOR(pg_catalog.=) event_id;
  PERFORM privacy_internal._audit('consent.' || e.event, e.purpose,
                         pg_catalog.jsonb_build_object('subject', e.subject_ref, 'kind', e.kind,
                                                       'event_id', e.id, 'at', e.at,
                                                       'source', e.source,
                                                       'notice_version', e.notice_version));
END
$$;
COMMENT ON FUNCTION privacy_internal._consent_audit(bigint) IS
  'internal: the audit entry of one consent event';

CREATE FUNCTION privacy.grant_consent(kind text, value text, purpose text,
                                      source text DEFAULT NULL, notice_version text DEFAULT NULL,
                                      at timestamptz DEFAULT NULL)
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  norm   text;
  st     privacy.consent_state;
  new_id bigint;
BEGIN
  norm := privacy_internal._consent_subject(kind, value, purpose);
  st := privacy_internal._consent_lock_state(kind, norm, purpose, false);
  new_id := privacy_internal._consent_append(kind, norm, purpose, 'grant', at, source, notice_version, st);
  PERFORM privacy_internal._consent_audit(new_id);
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION privacy.grant_consent(text, text, text, text, text, timestamptz) IS
  'record that a subject identifier gave consent for a purpose (source/channel, notice version shown, time); returns the event id';

CREATE FUNCTION privacy.withdraw_consent(kind text, value text, purpose text,
                                         source text DEFAULT NULL, at timestamptz DEFAULT NULL)
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  norm   text;
  st     privacy.consent_state;
  new_id bigint;
  r      record;
  n      bigint;
  how    text;
  match  text;
  total  bigint := 0;
  tables jsonb := '{}';
  locks  text;
  pend   text[];
  fp     text;
BEGIN
  norm := privacy_internal._consent_subject(kind, value, purpose);
  -- One lock order for every path that writes user tables and the audit
  -- log (erase_subject takes the same): the user tables first, in order of
  -- their oid, then the consent state, the audit head last.  So the tables
  -- the cascade deletes from are locked before anything else: an erasure
  -- holding them makes the withdrawal wait here, holding nothing it needs.
  SELECT pg_catalog.string_agg(x.tbl::text, ', ' ORDER BY x.tbl::oid) INTO locks
    FROM (SELECT DISTINCT q.tbl FROM privacy.consent_requirement q
           WHERE q.purpose OPERATOR(pg_catalog.=) withdraw_consent.purpose
             AND q.kind OPERATOR(pg_catalog.=) withdraw_consent.kind
             AND q.on_withdraw OPERATOR(pg_catalog.=) 'delete') x;
  IF locks IS NOT NULL THEN
    EXECUTE 'LOCK TABLE ' || locks || ' IN ROW EXCLUSIVE MODE';
  END IF;
  st := privacy_internal._consent_lock_state(kind, norm, purpose, true);
  IF st.granted IS NULL OR st.event_id IS NULL THEN
    PERFORM privacy_internal._raise_hidden('55000', pg_catalog.format('no consent to withdraw for purpose "%s"', purpose),
                                  'Consent for this identifier and purpose was never granted.');
  END IF;
  IF NOT st.granted THEN
    -- Withdrawing twice (a second click on an unsubscribe link) changes
    -- nothing: the withdrawal in force is the answer.
    RAISE NOTICE 'consent for purpose "%" is already withdrawn', purpose
      USING DETAIL = pg_catalog.format('Withdrawn at %s (event %s).', st.at, st.event_id);
    RETURN st.event_id;
  END IF;
  -- The withdrawal is in force before anything of a table's owner runs
  -- (a trigger of hers writing the subject's row anew is refused).
  new_id := privacy_internal._consent_append(kind, norm, purpose, 'withdraw', at, source, NULL, st);
  -- Stop processing: delete the subject's rows where the requirement says
  -- so, as each table's owner, in this transaction; the audit head is
  -- locked last.
  FOR r IN SELECT q.tbl, q.col, c.protect, c.domain,
                  privacy_internal._has_protect_trigger(q.tbl) AS is_protected,
                  privacy_internal._raw_relation(q.tbl) IS NOT NULL AS has_raw,
                  k.normalize
             FROM privacy.consent_requirement q
             JOIN privacy.identifier_kind k ON k.name OPERATOR(pg_catalog.=) q.kind
             LEFT JOIN privacy.registered_column c
               ON c.tbl OPERATOR(pg_catalog.=) q.tbl AND c.col OPERATOR(pg_catalog.=) q.col
            WHERE q.purpose OPERATOR(pg_catalog.=) withdraw_consent.purpose
              AND q.kind OPERATOR(pg_catalog.=) withdraw_consent.kind
              AND q.on_withdraw OPERATOR(pg_catalog.=) 'delete'
            ORDER BY q.tbl::oid, q.col
  LOOP
    -- A column declared protected in a table without the protect trigger
    -- (never protected, or unprotected since) may hold raw values or
    -- pseudonyms, which cannot be told apart: fail closed, as export and
    -- erasure do, rather than delete some of the subject's rows.
    IF NOT r.is_protected AND r.protect IN ('pseudonym', 'msisdn_fpe', 'email_pseudonym') THEN
      RAISE EXCEPTION 'protection of table % is not in force', r.tbl
        USING ERRCODE = '55000',
              DETAIL = pg_catalog.format('Column "%s" of relation %s is declared protected by %s, but the table has no protect trigger: its values may be stored raw, and the withdrawal''s deletion could not find all of the subject''s rows. Nothing was changed.',
                                         r.col, r.tbl, r.protect),
              HINT = 'Protect the table (SELECT privacy.protect(tbl, rewrite_existing => true) converts the rows it holds), or declare the column without protect if it is meant to hold raw values.';
    END IF;
    IF r.is_protected AND r.protect IS NOT NULL THEN
      -- fail closed where protection was switched off (raw values)
      PERFORM privacy_internal._check_protection(r.tbl);
      how := 'equal';
      match := privacy_internal._transform(norm, r.protect, r.domain, kind);
      pend := CASE WHEN r.protect OPERATOR(pg_catalog.=) 'msisdn_fpe'
                   THEN privacy_internal._rekey_keys(r.tbl) ELSE '{}' END;
      IF r.has_raw AND r.protect IN ('pseudonym', 'msisdn_fpe', 'email_pseudonym') THEN
        -- rows not converted since protect_in_batches() hold the
        -- identifier raw: matched by the normal form the conversion gives
        -- it ("raw", src/consent.c), the others under the current key
        n := privacy_internal._consent_delete(r.tbl, r.col, 'under:' || privacy.key_fingerprint(),
                                              privacy_internal._transform(norm, r.protect, r.domain, kind))
             OPERATOR(pg_catalog.+)
             privacy_internal._consent_delete(r.tbl, r.col,
                                              'raw:' || CASE WHEN r.protect OPERATOR(pg_catalog.=) 'msisdn_fpe' THEN 'msisdn'
                                                             ELSE r.normalize END,
                                              privacy.lookup_value(CASE WHEN r.protect OPERATOR(pg_catalog.=) 'msisdn_fpe' THEN 'msisdn'
                                                                        ELSE r.normalize END,
                                                                   norm, privacy_internal._default_country()));
        total := total OPERATOR(pg_catalog.+) n;
        tables := tables OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(r.tbl::text, n);
        CONTINUE;
      ELSIF pg_catalog.cardinality(pend) OPERATOR(pg_catalog.>) 0 THEN
        -- a key rotation runs (src/sql/36_rekey.sql): the number under
        -- each key, matched with the rows under that key only
        n := 0;
        FOREACH fp IN ARRAY privacy.key_fingerprint() OPERATOR(pg_catalog.||) pend LOOP
          n := n OPERATOR(pg_catalog.+)
               privacy_internal._consent_delete(r.tbl, r.col, 'under:' || fp,
                                                privacy_internal._msisdn_under(fp, norm, r.domain, false));
        END LOOP;
        total := total OPERATOR(pg_catalog.+) n;
        tables := tables OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(r.tbl::text, n);
        CONTINUE;
      END IF;
    ELSIF r.normalize IN ('msisdn', 'email') THEN
      how := r.normalize;
      match := norm;
    ELSE
      how := 'equal';
      match := norm;
    END IF;
    n := privacy_internal._consent_delete(r.tbl, r.col, how, match);
    total := total OPERATOR(pg_catalog.+) n;
    tables := tables OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(r.tbl::text, n);
  END LOOP;
  PERFORM privacy_internal._consent_audit(new_id);
  IF tables OPERATOR(pg_catalog.<>) '{}'::jsonb THEN
    PERFORM privacy_internal._audit('consent.withdraw_cascade', purpose,
                           pg_catalog.jsonb_build_object('subject', privacy_internal._subject_ref(kind, norm),
                                                         'event_id', new_id, 'deleted', tables));
  END IF;
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION privacy.withdraw_consent(text, text, text, text, timestamptz) IS
  'record that a subject identifier withdrew consent for a purpose; deletes its rows where require_consent says on_withdraw => delete; returns the event id';

CREATE FUNCTION privacy.consent_history(kind text, value text)
  RETURNS TABLE(purpose text, event text, at timestamptz, source text, notice_version text,
                event_id bigint, recorded_at timestamptz, actor name)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  norm text;
  refs text[];
BEGIN
  IF kind IS NULL OR value IS NULL THEN
    RAISE EXCEPTION 'identifier kind and value must not be null' USING ERRCODE = '22004';
  END IF;
  SELECT k.normalize INTO norm FROM privacy.identifier_kind k
   WHERE k.name OPERATOR(pg_catalog.=) consent_history.kind;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unknown identifier kind "%"', kind USING ERRCODE = '22023';
  END IF;
  -- By the identifier, and by the keyed subject reference, so the history
  -- of an erased identifier (value nulled, reference kept) is still found
  -- by whoever knows it: under every key pg_privacy.key_file lists (an
  -- event recorded before a key change).
  norm := privacy_internal._identifier_normalize(kind, value);
  refs := privacy_internal._audit_refs(consent_history.kind, norm);
  RETURN QUERY
    SELECT e.purpose, e.event, e.at, e.source, e.notice_version, e.id, e.recorded_at, e.actor
      FROM privacy.consent_event e
     WHERE (e.subject_ref OPERATOR(pg_catalog.=) ANY (refs) OR e.value OPERATOR(pg_catalog.=) norm)
       AND e.kind OPERATOR(pg_catalog.=) consent_history.kind
     ORDER BY e.at, e.id;
END
$$;
COMMENT ON FUNCTION privacy.consent_history(text, text) IS
  'every consent event of a subject identifier, oldest first: purpose, grant/withdraw, time, source, notice version';

-- The receipts of identifiers already in their normal form, one row per
-- identifier in the order given (i counts from 1), made by one statement:
-- consent_receipt's without its checks, and the export's (an index probe
-- of the register per identifier).
CREATE FUNCTION privacy_internal._consent_receipts(kinds text[], normvs text[], controller jsonb)
  RETURNS TABLE(i bigint, receipt jsonb)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
  -- PL/pgSQL, so that the statement is planned once per session: with a
  -- generic plan, since a plan for the given arrays (their length known)
  -- always looks cheaper and would be made again at every call
  RETURN QUERY
  SELECT u.o, pg_catalog.jsonb_build_object(
    'version', 'KI-CR-v1.1.0',
    'model', 'ISO/IEC TS 27560 consent record',
    'jurisdiction', 'DK',
    'language', 'da',
    -- Same subject and same last event give the same receipt id.
    'consentReceiptID', CASE WHEN c.last_id IS NULL THEN NULL ELSE
        pg_catalog.left(pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(u.ref || '|' || c.last_id::text, 'UTF8')), 'hex'), 32)::uuid::text END,
    'iat', pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.now()))::bigint,
    'piiPrincipalId', pg_catalog.jsonb_build_object('kind', u.k, 'value', u.v),
    'piiControllers', CASE WHEN controller IS NULL THEN '[]'::jsonb
                           ELSE pg_catalog.jsonb_build_array(controller) END,
    'sensitive', false,
    'spiCat', '[]'::jsonb,
    'consents', COALESCE(c.records, '[]'::jsonb))
    -- events by the identifier, and by its keyed reference (an erased
    -- identifier's) under every key pg_privacy.key_file lists (an event
    -- recorded before a key change); the receipt id under the current key
    FROM (SELECT w.k, w.v, w.o, w.nv,
                 privacy_internal._audit_ref(w.k, w.nv) AS ref,
                 privacy_internal._audit_refs(w.k, w.nv) AS refs
            FROM (SELECT x.k, x.v, x.o, privacy_internal._identifier_normalize(x.k, x.v) AS nv
                    FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(normvs)) WITH ORDINALITY x(k, v, o)) w) u
    CROSS JOIN LATERAL (
      SELECT pg_catalog.jsonb_agg(m.r ORDER BY m.r OPERATOR(pg_catalog.->>) 'purpose') AS records,
             pg_catalog.max(m.last_id) AS last_id
        FROM (
          SELECT pg_catalog.jsonb_build_object(
                   'purpose', p.name,
                   'purposeDescription', p.description,
                   'legalBasis', p.legal_basis,
                   'legalBasisArticle', b.article,
                   'consentType', 'EXPLICIT',
                   'thirdPartyDisclosure', pg_catalog.cardinality(p.recipients) OPERATOR(pg_catalog.>) 0,
                   'thirdPartyName', pg_catalog.to_jsonb(p.recipients),
                   'termination', 'withdrawal at any time, as easy as giving it (GDPR Art. 7(3))',
                   'state', CASE pg_catalog.max(e.id) FILTER (WHERE e.event OPERATOR(pg_catalog.=) 'grant')
                                  OPERATOR(pg_catalog.=) pg_catalog.max(e.id)
                                 WHEN true THEN 'active' ELSE 'withdrawn' END,
                   'events', pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                               'eventId', e.id,
                               'eventType', CASE e.event WHEN 'grant' THEN 'given' ELSE 'withdrawn' END,
                               'eventTime', e.at,
                               'recordedTime', e.recorded_at,
                               'collectionMethod', e.source,
                               'noticeVersion', e.notice_version,
                               'recordedBy', e.actor) ORDER BY e.at, e.id)) AS r,
                 pg_catalog.max(e.id) AS last_id
            FROM privacy.consent_event e
            JOIN privacy.purpose p ON p.name OPERATOR(pg_catalog.=) e.purpose
            JOIN privacy.legal_basis b ON b.name OPERATOR(pg_catalog.=) p.legal_basis
           WHERE (e.subject_ref OPERATOR(pg_catalog.=) ANY (u.refs) OR e.value OPERATOR(pg_catalog.=) u.nv)
             AND e.kind OPERATOR(pg_catalog.=) u.k
           GROUP BY p.name, p.description, p.legal_basis, b.article, p.recipients) m) c;
END
$$;
COMMENT ON FUNCTION privacy_internal._consent_receipts(text[], text[], jsonb) IS
  'internal: the consent receipts of identifiers in their normal form, one statement';

-- A consent receipt: the subject's consents as JSON, with field names
-- after the Kantara Initiative Consent Receipt (v1.1) and the event model
-- of ISO/IEC TS 27560 (consent record, events given/withdrawn, state).
CREATE FUNCTION privacy.consent_receipt(kind text, value text, controller jsonb DEFAULT NULL)
  RETURNS jsonb
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  norm    text;
  normv   text;
BEGIN
  IF kind IS NULL OR value IS NULL THEN
    RAISE EXCEPTION 'identifier kind and value must not be null' USING ERRCODE = '22004';
  END IF;
  SELECT k.normalize INTO norm FROM privacy.identifier_kind k
   WHERE k.name OPERATOR(pg_catalog.=) consent_receipt.kind;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unknown identifier kind "%"', kind USING ERRCODE = '22023';
  END IF;
  normv := privacy_internal._identifier_normalize(kind, value);
  RETURN (SELECT r.receipt FROM privacy_internal._consent_receipts(ARRAY[kind], ARRAY[normv], controller) r);
END
$$;
COMMENT ON FUNCTION privacy.consent_receipt(text, text, jsonb) IS
  'the consents of a subject identifier as a receipt (Kantara Consent Receipt fields, ISO/IEC TS 27560 events)';

------------------------------------------------------------------------
-- Enforcement
------------------------------------------------------------------------

CREATE FUNCTION privacy.require_consent(tbl regclass, subject_column name, purpose text,
                                        on_withdraw text DEFAULT 'keep', kind text DEFAULT NULL)
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  rel      record;
  att      record;
  reg      record;
  p        privacy.purpose;
  old      privacy.consent_requirement;
  use_kind text := kind;
BEGIN
  IF tbl IS NULL OR subject_column IS NULL OR purpose IS NULL OR on_withdraw IS NULL THEN
    RAISE EXCEPTION 'table, subject column, purpose and on_withdraw must not be null'
      USING ERRCODE = '22004';
  END IF;
  SELECT c.relkind, c.relispartition, n.nspname INTO rel
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
   WHERE c.oid OPERATOR(pg_catalog.=) tbl;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'relation with OID % does not exist', tbl::oid USING ERRCODE = '42P01';
  END IF;
  IF rel.relkind NOT IN ('r', 'p') OR rel.nspname IN ('pg_catalog', 'information_schema', 'privacy', 'privacy_internal') THEN
    RAISE EXCEPTION '% is not a table that can require consent', tbl
      USING ERRCODE = '42809',
            DETAIL = 'Only ordinary and partitioned tables outside the system schemas can.';
  END IF;
  IF rel.relispartition THEN
    RAISE EXCEPTION 'cannot require consent on partition % on its own', tbl
      USING ERRCODE = '42809',
            HINT = 'Require it on the partitioned table; its trigger applies to every partition.';
  END IF;
  PERFORM privacy_internal._check_owner(tbl);
  PERFORM privacy_internal._citus_refuse(tbl, 'require_consent');
  SELECT a.attnum, a.atttypid, a.attgenerated INTO att FROM pg_catalog.pg_attribute a
   WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attname OPERATOR(pg_catalog.=) subject_column
     AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'column "%" of relation % does not exist', subject_column, tbl USING ERRCODE = '42703';
  END IF;
  -- A generated column is computed after the BEFORE row trigger: the check
  -- would see no subject (the trigger refuses every write to one, too).
  IF att.attgenerated OPERATOR(pg_catalog.<>) '' THEN
    RAISE EXCEPTION 'column "%" of relation % is a generated column', subject_column, tbl
      USING ERRCODE = '55000',
            DETAIL = 'A generated column is computed after the consent check, which would see no subject.',
            HINT = 'Require consent on the column it is computed from.';
  END IF;
  -- The trigger and the withdrawal read the column: built-in text and
  -- integer types only (checked again at each use).
  IF NOT privacy_internal._identifier_type_ok(att.atttypid) THEN
    RAISE EXCEPTION 'a subject column must have a built-in text or integer type'
      USING ERRCODE = '42804',
            DETAIL = pg_catalog.format('Column "%s" of relation %s has type %s.', subject_column, tbl,
                                       pg_catalog.format_type(att.atttypid, NULL)),
            HINT = 'Use text, varchar, char, smallint, integer, bigint or numeric.';
  END IF;
  SELECT * INTO p FROM privacy.purpose q WHERE q.name OPERATOR(pg_catalog.=) require_consent.purpose;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'purpose "%" does not exist', purpose
      USING ERRCODE = '22023', HINT = 'Define it first with privacy.define_purpose().';
  END IF;
  IF NOT p.requires_consent THEN
    RAISE EXCEPTION 'purpose "%" is not based on consent', purpose
      USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('Its legal basis is "%s"; consent is recorded only for purposes whose legal basis is consent.',
                                       p.legal_basis);
  END IF;
  IF on_withdraw NOT IN ('keep', 'delete') THEN
    RAISE EXCEPTION 'invalid on_withdraw "%"', on_withdraw
      USING ERRCODE = '22023', HINT = 'Use "keep" or "delete".';
  END IF;
  SELECT c.identifies, c.protect INTO reg FROM privacy.registered_column c
   WHERE c.tbl OPERATOR(pg_catalog.=) require_consent.tbl
     AND c.col OPERATOR(pg_catalog.=) subject_column;
  IF use_kind IS NULL THEN
    use_kind := reg.identifies;
  ELSIF reg.identifies IS NOT NULL AND reg.identifies OPERATOR(pg_catalog.<>) use_kind THEN
    RAISE EXCEPTION 'column "%" of relation % is declared to hold identifier kind "%", not "%"',
                    subject_column, tbl, reg.identifies, use_kind
      USING ERRCODE = '22023';
  END IF;
  IF use_kind IS NULL THEN
    RAISE EXCEPTION 'the identifier kind of column "%" of relation % is unknown', subject_column, tbl
      USING ERRCODE = '22023',
            HINT = 'Register the column with identifies => ..., or pass kind => ....';
  END IF;
  IF NOT EXISTS (SELECT FROM privacy.identifier_kind k WHERE k.name OPERATOR(pg_catalog.=) use_kind) THEN
    RAISE EXCEPTION 'unknown identifier kind "%"', use_kind USING ERRCODE = '22023';
  END IF;
  IF reg.protect IS NOT NULL AND reg.protect OPERATOR(pg_catalog.<>) 'msisdn_fpe' THEN
    RAISE EXCEPTION 'cannot require consent on column "%" of relation %', subject_column, tbl
      USING ERRCODE = '0A000',
            DETAIL = pg_catalog.format('The column is protected by "%s", which cannot be reversed, so an update could not tell whose row it is.', reg.protect),
            HINT = 'Require consent on a column that holds the identifier, raw or protected by msisdn_fpe.';
  END IF;

  SELECT * INTO old FROM privacy.consent_requirement q
   WHERE q.tbl OPERATOR(pg_catalog.=) require_consent.tbl
     AND q.col OPERATOR(pg_catalog.=) subject_column
     AND q.purpose OPERATOR(pg_catalog.=) require_consent.purpose
     FOR UPDATE;
  INSERT INTO privacy.consent_requirement AS q (tbl, col, purpose, kind, on_withdraw, required_by)
       VALUES (tbl, subject_column, purpose, use_kind, on_withdraw, privacy_internal._invoker())
  ON CONFLICT ON CONSTRAINT consent_requirement_pkey DO UPDATE
       SET kind = EXCLUDED.kind, on_withdraw = EXCLUDED.on_withdraw;
  -- Named to fire after the table's own BEFORE triggers and before the
  -- protect trigger (zz_pg_privacy_protect): it sees the raw identifier.
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_trigger g
                  WHERE g.tgrelid OPERATOR(pg_catalog.=) tbl
                    AND g.tgname OPERATOR(pg_catalog.=) 'zy_pg_privacy_consent') THEN
    EXECUTE pg_catalog.format(
      'CREATE TRIGGER zy_pg_privacy_consent BEFORE INSERT OR UPDATE ON %s '
      'FOR EACH ROW EXECUTE FUNCTION privacy_internal._consent_trigger()', tbl);
  END IF;
  PERFORM privacy_internal._invalidate(tbl);
  PERFORM privacy_internal._audit(CASE WHEN old.tbl IS NULL THEN 'consent.require' ELSE 'consent.require_changed' END,
                         tbl::text,
                         pg_catalog.jsonb_build_object('column', subject_column, 'purpose', purpose,
                                                       'kind', use_kind, 'on_withdraw', on_withdraw)
                         OPERATOR(pg_catalog.||)
                         CASE WHEN old.tbl IS NULL THEN '{}'::jsonb
                              ELSE pg_catalog.jsonb_build_object('previous_on_withdraw', old.on_withdraw) END);
END
$$;
COMMENT ON FUNCTION privacy.require_consent(regclass, name, text, text, text) IS
  'make the table refuse rows whose subject (in the column) has no consent for the purpose; on_withdraw => delete removes them on withdrawal';

CREATE FUNCTION privacy.unrequire_consent(tbl regclass, subject_column name, purpose text)
  RETURNS void
  LANGUAGE plpgsql VOLATILE STRICT
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
BEGIN
  PERFORM privacy_internal._check_owner(tbl);
  DELETE FROM privacy.consent_requirement q
   WHERE q.tbl OPERATOR(pg_catalog.=) unrequire_consent.tbl
     AND q.col OPERATOR(pg_catalog.=) subject_column
     AND q.purpose OPERATOR(pg_catalog.=) unrequire_consent.purpose;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'relation % does not require consent for purpose "%" in column "%"',
                    tbl, purpose, subject_column
      USING ERRCODE = '55000';
  END IF;
  IF NOT EXISTS (SELECT FROM privacy.consent_requirement q WHERE q.tbl OPERATOR(pg_catalog.=) unrequire_consent.tbl) THEN
    EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS zy_pg_privacy_consent ON %s', tbl);
  END IF;
  PERFORM privacy_internal._invalidate(tbl);
  PERFORM privacy_internal._audit('consent.unrequire', tbl::text,
                         pg_catalog.jsonb_build_object('column', subject_column, 'purpose', purpose));
END
$$;
COMMENT ON FUNCTION privacy.unrequire_consent(regclass, name, text) IS
  'stop requiring consent for the purpose in the table''s column';

-- A dropped table takes its requirements with it.
CREATE FUNCTION privacy_internal._consent_on_sql_drop() RETURNS event_trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
  SET jit = off
AS $$
DECLARE
  o record;
BEGIN
  FOR o IN SELECT * FROM pg_catalog.pg_event_trigger_dropped_objects()
            WHERE object_type OPERATOR(pg_catalog.=) 'table'
  LOOP
    DELETE FROM privacy.consent_requirement q WHERE q.tbl::oid OPERATOR(pg_catalog.=) o.objid;
  END LOOP;
END
$$;
COMMENT ON FUNCTION privacy_internal._consent_on_sql_drop() IS
  'internal: removes the consent requirements of dropped tables';
CREATE EVENT TRIGGER pg_privacy_consent_sql_drop ON sql_drop
  EXECUTE FUNCTION privacy_internal._consent_on_sql_drop();

-- Which tables require consent, with the trigger's presence.
-- Why the consent check of a table with a consent requirement is not in
-- force (see privacy_internal._trigger_problem), or NULL.  The check is named to fire
-- after the table's own BEFORE triggers and before the protect trigger, so
-- only the protect trigger may follow it.  Reads pg_catalog only.
CREATE FUNCTION privacy_internal._consent_problem(tbl regclass) RETURNS text
  LANGUAGE sql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT privacy_internal._trigger_problem(tbl, 'zy_pg_privacy_consent', 'privacy_internal._consent_trigger()'::regprocedure,
                                  23, ARRAY['zz_pg_privacy_protect']::name[])   -- 23: ROW BEFORE INSERT UPDATE
$$;

CREATE VIEW privacy.consent_requirements AS
SELECT q.tbl AS table_name, q.col AS subject_column, q.kind, q.purpose, q.on_withdraw,
       privacy_internal._consent_problem(q.tbl) IS NULL AS enforced,
       q.required_at, q.required_by
  FROM privacy.consent_requirement q;
COMMENT ON VIEW privacy.consent_requirements IS
  'tables that refuse rows of subjects without consent, per column and purpose';
