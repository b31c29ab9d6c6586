/* pg_privacy--0.8.0--0.9.0.sql: ALTER EXTENSION pg_privacy UPDATE TO '0.9.0'
 *
 * Assembled by src/upgrade/gen_upgrade.py from src/upgrade/0.8.0--0.9.0.pre.sql,
 * the differences between the 0.8.0 and 0.9.0 install scripts, and
 * src/upgrade/0.8.0--0.9.0.post.sql.  Edit those, not this file.
 */

\echo Use "ALTER EXTENSION pg_privacy UPDATE TO '0.9.0'" to load this file. \quit

-- Nothing before the functions: 0.9.0 changes no table.

-- Tables new in 0.9.0 (generated)

-- Functions removed, or whose arguments or result changed (generated)

DROP FUNCTION privacy_internal._audit_anchor(bigint, bytea, text);


-- Functions new or changed in 0.9.0, in the order of its install script (generated)

CREATE OR REPLACE FUNCTION privacy_internal._audit(event text, object text DEFAULT NULL,
                               detail jsonb DEFAULT '{}')
  RETURNS bigint
  LANGUAGE c VOLATILE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
  AS 'MODULE_PATHNAME', 'pgp_audit_append';

CREATE FUNCTION privacy_internal._audit_refs(kind text, value text) RETURNS text[]
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_audit_refs';

COMMENT ON FUNCTION privacy_internal._audit_refs(text, text) IS
  'internal: _audit_ref under every usable listed key, the current one first';

CREATE OR REPLACE FUNCTION privacy.grant_consent(kind text, value text, purpose text,
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

CREATE OR REPLACE FUNCTION privacy.withdraw_consent(kind text, value text, purpose text,
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
  FOR r IN SELECT q.tbl, q.col, c.protect, c.domain, privacy_internal._has_protect_trigger(q.tbl) AS is_protected,
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
    IF r.is_protected AND r.protect IS NOT NULL THEN
      -- fail closed where protection was switched off (raw values)
      PERFORM privacy_internal._check_protection(r.tbl);
      how := 'equal';
      match := privacy_internal._transform(norm, r.protect, r.domain, kind);
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

CREATE OR REPLACE FUNCTION privacy.consent_history(kind text, value text)
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

CREATE OR REPLACE FUNCTION privacy_internal._consent_receipts(kinds text[], normvs text[], controller jsonb)
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

CREATE OR REPLACE FUNCTION privacy.consent_receipt(kind text, value text, controller jsonb DEFAULT NULL)
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

CREATE OR REPLACE FUNCTION privacy_internal._restriction_keys(in_force boolean DEFAULT true)
  RETURNS text[]
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
  WITH RECURSIVE k(fp) AS (
    SELECT pg_catalog.min(r.key_fingerprint) FROM privacy.restriction r
     WHERE r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()
        OR (NOT in_force AND r.origin OPERATOR(pg_catalog.=) 'request'
            AND privacy_internal._key_listed(r.key_fingerprint))
    UNION ALL
    SELECT (SELECT pg_catalog.min(r.key_fingerprint) FROM privacy.restriction r
             WHERE r.key_fingerprint OPERATOR(pg_catalog.>) k.fp
               AND (r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()
                    OR (NOT in_force AND r.origin OPERATOR(pg_catalog.=) 'request'
                        AND privacy_internal._key_listed(r.key_fingerprint))))
      FROM k WHERE k.fp IS NOT NULL),
  labels AS (SELECT COALESCE(pg_catalog.array_agg(k.fp) FILTER (WHERE k.fp IS NOT NULL), '{}') AS fps FROM k)
  SELECT CASE WHEN pg_catalog.cardinality(l.fps) OPERATOR(pg_catalog.=) 0
                OR privacy.key_fingerprint() OPERATOR(pg_catalog.=) ANY (l.fps) THEN l.fps
              ELSE l.fps OPERATOR(pg_catalog.||) privacy.key_fingerprint() END
    FROM labels l
$$;

COMMENT ON FUNCTION privacy_internal._restriction_keys(boolean) IS
  'internal: the fingerprints of the keys the restrictions in force (in_force false: and the listed keys of requested ones past their end) were made with, and the current one';

CREATE OR REPLACE FUNCTION privacy.open_request(kind text, value text, request text,
                                     received_at timestamptz DEFAULT pg_catalog.now())
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  norm   text;
  new_id bigint;
BEGIN
  norm := privacy_internal._identifier_normalize(kind, value);
  IF request IS NULL OR request NOT IN ('access', 'portability', 'erasure', 'rectification', 'restriction', 'objection') THEN
    RAISE EXCEPTION 'invalid request "%"', request
      USING ERRCODE = '22023',
            HINT = 'Use one of: access, portability, erasure, rectification, restriction, objection.';
  END IF;
  IF received_at IS NULL OR received_at OPERATOR(pg_catalog.>) pg_catalog.now() THEN
    RAISE EXCEPTION 'a request cannot be received in the future'
      USING ERRCODE = '22023', DETAIL = pg_catalog.format('received_at is %s.', received_at);
  END IF;
  INSERT INTO privacy.subject_request (kind, subject_ref, request, received_at, opened_by)
       VALUES (kind, privacy_internal._audit_ref(kind, norm), request, received_at, privacy_internal._invoker())
    RETURNING id INTO new_id;
  PERFORM privacy_internal._audit('subject.request_open', request,
    pg_catalog.jsonb_build_object('id', new_id, 'kind', kind, 'subject', privacy_internal._audit_ref(kind, norm),
                                  'received_at', received_at));
  RETURN new_id;
END
$$;

CREATE OR REPLACE FUNCTION privacy_internal._subject_header(kind text, norm text, kinds text[], vals text[], spans tstzmultirange[])
  RETURNS jsonb
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
  RETURN (
  SELECT pg_catalog.jsonb_build_object(
           'format', 'pg_privacy.subject_export',
           'version', 1,
           'generated_at', pg_catalog.now(),
           'subject', pg_catalog.jsonb_build_object('kind', kind, 'value', norm),
           -- each identifier with the periods it was the subject's
           'identifiers', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                                    'kind', u.k, 'value', u.v,
                                    'periods', CASE WHEN u.s OPERATOR(pg_catalog.=) '{(,)}'::tstzmultirange THEN NULL
                                                    ELSE (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                                                                   'from', pg_catalog.lower(p), 'to', pg_catalog.upper(p)) ORDER BY p)
                                                            FROM pg_catalog.unnest(u.s) p) END) ORDER BY u.o), '[]')
                             FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(vals), pg_catalog.unnest(spans))
                                  WITH ORDINALITY u(k, v, s, o)),
           -- (under every key a restriction was made with)
           'restricted', EXISTS (SELECT FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(vals)) u(k, v)
                                   JOIN privacy.restriction x
                                     ON x.kind OPERATOR(pg_catalog.=) u.k
                                    AND x.subject_ref OPERATOR(pg_catalog.=) ANY (privacy_internal._restriction_refs(u.k, u.v))
                                  WHERE x.until IS NULL OR x.until OPERATOR(pg_catalog.>) pg_catalog.now()),
           -- a receipt per identifier with consent events
           'consent', (SELECT COALESCE(pg_catalog.jsonb_agg(c.receipt ORDER BY c.i), '[]')
                         FROM privacy_internal._consent_receipts(kinds, vals, NULL) c
                        WHERE pg_catalog.jsonb_array_length(c.receipt OPERATOR(pg_catalog.->) 'consents') OPERATOR(pg_catalog.>) 0),
           -- the open requests of the subject
           'requests', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                                 'id', d.id, 'request', d.request, 'received_at', d.received_at, 'due_at', d.due_at,
                                 'status', d.status) ORDER BY d.id), '[]')
                          FROM privacy.request_deadlines d
                         WHERE d.subject_ref OPERATOR(pg_catalog.=) ANY (r.refs) AND d.closed_at IS NULL))
    -- the identifiers' keyed references, computed once, under every key
    -- pg_privacy.key_file lists: a request opened before a key change is
    -- found (a request is a record; one made under a key no longer listed
    -- is not, and nothing fails)
    FROM (SELECT COALESCE(pg_catalog.array_agg(f.ref), '{}') AS refs
            FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(vals)) u(k, v),
                 pg_catalog.unnest(privacy_internal._audit_refs(u.k, u.v)) f(ref)) r);
END
$$;

CREATE OR REPLACE FUNCTION privacy.export_subject(kind text, value text, at timestamptz DEFAULT NULL)
  RETURNS jsonb
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  doc  jsonb;
  norm text;
BEGIN
  -- the subject's tables are searched, read and changed by statements
  -- Citus cannot plan: refused while Citus manages one (src/citus.c)
  PERFORM privacy_internal._citus_refuse(t.tbl, 'export_subject') FROM privacy.registered_table t;
  norm := privacy_internal._identifier_normalize(kind, value);
  doc := privacy_internal._subject_export(kind, value, at);
  PERFORM privacy_internal._audit('subject.export', NULL,
    pg_catalog.jsonb_build_object(
      'kind', kind, 'subject', privacy_internal._audit_ref(kind, norm),
      'identifiers', pg_catalog.jsonb_array_length(doc OPERATOR(pg_catalog.->) 'identifiers'),
      'tables', (SELECT COALESCE(pg_catalog.jsonb_object_agg(e OPERATOR(pg_catalog.->>) 'table',
                                   pg_catalog.jsonb_array_length(e OPERATOR(pg_catalog.->) 'rows')
                                   OPERATOR(pg_catalog.+) pg_catalog.jsonb_array_length(e OPERATOR(pg_catalog.->) 'mentions')), '{}')
                   FROM pg_catalog.jsonb_array_elements(doc OPERATOR(pg_catalog.->) 'tables') e)));
  RETURN doc;
END
$$;

CREATE OR REPLACE FUNCTION privacy.export_subject_chunks(kind text, value text, chunk_rows integer DEFAULT 10000,
                                              at timestamptz DEFAULT NULL)
  RETURNS TABLE(part integer, section text, table_name regclass, data jsonb)
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  norm text;
  n    bigint := 0;
  tabs jsonb := '{}';
BEGIN
  -- the subject's tables are searched, read and changed by statements
  -- Citus cannot plan: refused while Citus manages one (src/citus.c)
  PERFORM privacy_internal._citus_refuse(t.tbl, 'export_subject_chunks') FROM privacy.registered_table t;
  norm := privacy_internal._identifier_normalize(kind, value);
  FOR part, section, table_name, data IN SELECT * FROM privacy_internal._subject_export_stream(kind, value, chunk_rows, at) LOOP
    IF section IN ('rows', 'mentions') THEN
      tabs := tabs OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(table_name::text,
                COALESCE((tabs OPERATOR(pg_catalog.->>) table_name::text)::bigint, 0)
                OPERATOR(pg_catalog.+) pg_catalog.jsonb_array_length(data));
    END IF;
    n := n OPERATOR(pg_catalog.+) 1;
    RETURN NEXT;
  END LOOP;
  PERFORM privacy_internal._audit('subject.export', NULL,
    pg_catalog.jsonb_build_object('kind', kind, 'subject', privacy_internal._audit_ref(kind, norm),
                                  'chunks', n, 'tables', tabs));
END
$$;

CREATE OR REPLACE FUNCTION privacy.restrict_subject(kind text, value text, reason text, at timestamptz DEFAULT NULL)
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  ids  record;
  n    integer;
BEGIN
  -- the subject's tables are searched, read and changed by statements
  -- Citus cannot plan: refused while Citus manages one (src/citus.c)
  PERFORM privacy_internal._citus_refuse(t.tbl, 'restrict_subject') FROM privacy.registered_table t;
  IF reason IS NULL OR pg_catalog.btrim(reason) OPERATOR(pg_catalog.=) '' THEN
    RAISE EXCEPTION 'a restriction needs a reason' USING ERRCODE = '22023',
      HINT = 'Say why processing is restricted, e.g. ''accuracy contested (Art. 18(1)(a))''.';
  END IF;
  ids := privacy_internal._subject_identifiers(kind, value, at);
  n := privacy_internal._restrict_ids(ids.kinds, ids.vals, ids.spans, reason, 'request', NULL);
  PERFORM privacy_internal._audit('subject.restrict', NULL,
    pg_catalog.jsonb_build_object('kind', kind, 'subject', privacy_internal._audit_ref(kind, ids.vals[1]),
                                  'identifiers', n, 'reason', reason));
END
$$;

CREATE OR REPLACE FUNCTION privacy.unrestrict_subject(kind text, value text, at timestamptz DEFAULT NULL)
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  ids record;
  n   integer;
BEGIN
  ids := privacy_internal._subject_identifiers(kind, value, at);
  DELETE FROM privacy.restriction r
   WHERE r.origin OPERATOR(pg_catalog.=) 'request'
     AND (r.kind, r.subject_ref) IN (SELECT u.k, x.ref
                                       FROM ROWS FROM (pg_catalog.unnest(ids.kinds), pg_catalog.unnest(ids.vals)) u(k, v),
                                            pg_catalog.unnest(privacy_internal._restriction_refs(u.k, u.v, false)) x(ref));
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n OPERATOR(pg_catalog.=) 0 THEN
    PERFORM privacy_internal._raise_hidden('55000', 'data subject is not restricted',
      'No identifier of this subject has a restriction requested by the subject; restrictions kept after an erasure end on their own.');
  END IF;
  PERFORM privacy_internal._audit('subject.unrestrict', NULL,
    pg_catalog.jsonb_build_object('kind', kind, 'subject', privacy_internal._audit_ref(kind, ids.vals[1]),
                                  'identifiers', n));
END
$$;

CREATE OR REPLACE FUNCTION privacy.is_restricted(kind text, value text)
  RETURNS boolean
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  norm text;
BEGIN
  norm := privacy_internal._identifier_normalize(kind, value);
  RETURN EXISTS (SELECT FROM privacy.restriction r
                  WHERE r.kind OPERATOR(pg_catalog.=) is_restricted.kind
                    AND r.subject_ref OPERATOR(pg_catalog.=) ANY (privacy_internal._restriction_refs(is_restricted.kind, norm))
                    AND (r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()));
END
$$;

CREATE OR REPLACE FUNCTION privacy.erase_subject(kind text, value text, dry_run boolean DEFAULT false,
                                      at timestamptz DEFAULT NULL)
  RETURNS TABLE(table_name regclass, action text, rows bigint, reason text, kept_until timestamptz)
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  norm   text;
  report jsonb;
  ledger privacy.erasure_ledger_state;
  lkinds text[];
  lvals  text[];
  lspans tstzmultirange[];
BEGIN
  -- the subject's tables are searched, read and changed by statements
  -- Citus cannot plan: refused while Citus manages one (src/citus.c)
  PERFORM privacy_internal._citus_refuse(t.tbl, 'erase_subject') FROM privacy.registered_table t;
  norm := privacy_internal._identifier_normalize(kind, value);
  IF dry_run IS NULL THEN
    RAISE EXCEPTION 'dry_run must not be null' USING ERRCODE = '22004';
  END IF;
  IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed' THEN
    RAISE EXCEPTION 'erase_subject must run at isolation level READ COMMITTED'
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('The transaction runs at %s; its snapshot could miss rows written concurrently.',
                                       pg_catalog.current_setting('transaction_isolation'));
  END IF;
  IF dry_run THEN
    -- The same work, rolled back: the report is exactly what an erasure
    -- would do now.
    BEGIN
      SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(e)) INTO report
        FROM privacy_internal._subject_erase(kind, value, at) e;
      RAISE EXCEPTION USING ERRCODE = 'P0004', MESSAGE = 'pg_privacy dry run';
    EXCEPTION WHEN assert_failure THEN
      NULL;
    END;
  ELSE
    -- With an erasure ledger: refused while the database is behind it
    -- (src/sql/75_subject_ledger.sql)
    ledger := privacy_internal._ledger_check();
    SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(e)) INTO report
      FROM privacy_internal._subject_erase(kind, value, at) e;
    IF ledger.database_id IS NOT NULL THEN
      -- the identifiers the erasure acted on, found under its locks
      SELECT i.kinds, i.vals, i.spans INTO lkinds, lvals, lspans
        FROM privacy_internal._subject_erased_identifiers() i;
    END IF;
    -- (an erasure that found nothing has nothing a restore could bring back)
    IF ledger.database_id IS NOT NULL AND pg_catalog.jsonb_array_length(COALESCE(report, '[]')) OPERATOR(pg_catalog.>) 0 THEN
      PERFORM privacy_internal._ledger_record(ledger, lkinds, lvals, lspans, report, at);
    END IF;
  END IF;
  report := COALESCE(report, '[]');
  PERFORM privacy_internal._audit(CASE WHEN dry_run THEN 'subject.erase_dry_run' ELSE 'subject.erase' END, NULL,
    pg_catalog.jsonb_build_object('kind', kind, 'subject', privacy_internal._audit_ref(kind, norm),
                                  'report', (SELECT COALESCE(pg_catalog.jsonb_agg(e OPERATOR(pg_catalog.-) 'reason'), '[]')
                                               FROM pg_catalog.jsonb_array_elements(report) e)));
  RETURN QUERY
    SELECT (e OPERATOR(pg_catalog.->>) 'table_name')::regclass, e OPERATOR(pg_catalog.->>) 'action',
           (e OPERATOR(pg_catalog.->>) 'rows')::bigint, e OPERATOR(pg_catalog.->>) 'reason',
           (e OPERATOR(pg_catalog.->>) 'kept_until')::timestamptz
      FROM pg_catalog.jsonb_array_elements(report) e;
END
$$;

CREATE OR REPLACE FUNCTION privacy_internal._ledger_record(s privacy.erasure_ledger_state, kinds text[], vals text[],
                                               spans tstzmultirange[], report jsonb, asked_at timestamptz)
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  refs  text[];
  lrefs text[];
  entry jsonb;
  mac   text;
BEGIN
  -- the audit log's references, for the open requests (under every listed
  -- key: a request opened before a key change); the ledger's own, under a
  -- domain of its own (a reference read in the ledger cannot be matched
  -- against the audit log or the requests)
  refs := ARRAY(SELECT f.ref
                  FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(vals)) u(k, v),
                       pg_catalog.unnest(privacy_internal._audit_refs(u.k, u.v)) f(ref));
  lrefs := ARRAY(SELECT privacy_internal._audit_ref('ledger:' || u.k, u.v)
                   FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(vals)) WITH ORDINALITY u(k, v, o)
                  ORDER BY u.o);
  entry := pg_catalog.jsonb_build_object(
    'v', 1, 'type', 'erasure', 'db', s.database_id, 'seq', s.last_seq OPERATOR(pg_catalog.+) 1,
    'at', pg_catalog.clock_timestamp(), 'datname', pg_catalog.current_database(),
    'ids', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('kind', u.k, 'ref', u.r)
                                                  OPERATOR(pg_catalog.||)
                                                  CASE WHEN u.p IS NULL OR u.p OPERATOR(pg_catalog.=) '{(,)}'::tstzmultirange THEN '{}'::jsonb
                                                       ELSE pg_catalog.jsonb_build_object('span', u.p::text) END
                                                  ORDER BY u.o), '[]')
              FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(lrefs), pg_catalog.unnest(spans)) WITH ORDINALITY u(k, r, p, o)),
    'report', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                 'table', r OPERATOR(pg_catalog.->>) 'table_name',
                 'action', r OPERATOR(pg_catalog.->>) 'action',
                 'rows', r OPERATOR(pg_catalog.->) 'rows',
                 'kept_until', r OPERATOR(pg_catalog.->) 'kept_until',
                 'why', CASE WHEN r OPERATOR(pg_catalog.->>) 'action' OPERATOR(pg_catalog.<>) 'keep' THEN NULL
                             WHEN r OPERATOR(pg_catalog.->>) 'reason' LIKE 'legal hold%' THEN 'legal hold'
                             WHEN r OPERATOR(pg_catalog.->>) 'reason' LIKE 'legal minimum%' THEN 'legal minimum'
                             WHEN r OPERATOR(pg_catalog.->>) 'reason' LIKE 'referenced%' THEN 'referenced by kept rows'
                             ELSE 'kept' END)), '[]')
                 FROM pg_catalog.jsonb_array_elements(report) r),
    'requests', (SELECT COALESCE(pg_catalog.jsonb_agg(q.id ORDER BY q.id), '[]')
                   FROM privacy.subject_request q
                  WHERE q.request OPERATOR(pg_catalog.=) 'erasure' AND q.closed_at IS NULL
                    AND q.subject_ref OPERATOR(pg_catalog.=) ANY (refs)),
    'key', privacy.key_fingerprint(),
    'asked_at', asked_at,
    'prev', s.last_mac);
  mac := privacy_internal._audit_ref('pg_privacy erasure ledger', entry::text);
  PERFORM privacy_internal._ledger_queue((entry OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('mac', mac))::text);
  UPDATE privacy.erasure_ledger_state x
     SET last_seq = s.last_seq OPERATOR(pg_catalog.+) 1, last_mac = mac, last_at = pg_catalog.clock_timestamp()
   WHERE x.database_id OPERATOR(pg_catalog.=) s.database_id;
  RETURN s.last_seq OPERATOR(pg_catalog.+) 1;
END
$$;

CREATE OR REPLACE FUNCTION privacy.health()
  RETURNS TABLE(area text, status text, detail text, hint text)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  ext_owner oid;
  libs text[];
  loaded text;
  stored text;
  r record;
  n bigint;
  m bigint;
  job record;
  last record;
  npolicies bigint;
  nkeys bigint;
  conn text;
  unlisted_restrictions numeric;
BEGIN
  -- Without the entry-point hook (the library loaded on demand, or not at
  -- all) this function runs with the caller's rights: say so and stop.
  SELECT e.extowner INTO ext_owner FROM pg_catalog.pg_extension e
   WHERE e.extname OPERATOR(pg_catalog.=) 'pg_privacy';
  IF ext_owner IS NULL OR NOT pg_catalog.pg_has_role(CURRENT_USER, ext_owner, 'USAGE') THEN
    area := 'library'; status := 'error';
    detail := 'pg_privacy''s API entry points are not in force in this session: the library is not preloaded';
    hint := 'Add pg_privacy to shared_preload_libraries in postgresql.conf and restart the server.';
    RETURN NEXT;
    RETURN;
  END IF;

  -- 1. The library.
  area := 'library';
  libs := ARRAY(SELECT pg_catalog.btrim(x, ' "')
                  FROM pg_catalog.regexp_split_to_table(
                         pg_catalog.current_setting('shared_preload_libraries'), ',') x);
  IF 'pg_privacy' OPERATOR(pg_catalog.=) ANY (libs)
     OR '$libdir/pg_privacy' OPERATOR(pg_catalog.=) ANY (libs) THEN
    status := 'ok'; detail := 'pg_privacy is preloaded (shared_preload_libraries)'; hint := NULL;
  ELSE
    status := 'error';
    detail := pg_catalog.format('pg_privacy is not in shared_preload_libraries (%s)',
                                COALESCE(NULLIF(pg_catalog.current_setting('shared_preload_libraries'), ''), 'empty'));
    hint := 'Add pg_privacy to shared_preload_libraries in postgresql.conf and restart the server: its API functions rely on a hook installed at load.';
  END IF;
  RETURN NEXT;

  -- 2. The key: configured, usable, and the database's own.
  area := 'key';
  BEGIN
    loaded := privacy.key_fingerprint();
  EXCEPTION WHEN OTHERS THEN
    status := 'error';
    detail := SQLERRM;
    hint := 'Set pg_privacy.key_file to a file of 64 hexadecimal digits (openssl rand -hex 32), mode 0600, outside the data directory, and reload.';
    RETURN NEXT;
  END;
  IF loaded IS NOT NULL THEN
    SELECT s.fingerprint INTO stored FROM privacy.key_state s;
    IF stored IS NULL THEN
      status := 'ok';
      detail := pg_catalog.format('key %s loaded; no keyed data yet (the first keyed work records it)', loaded);
      hint := NULL;
    ELSIF stored OPERATOR(pg_catalog.=) loaded THEN
      status := 'ok';
      detail := pg_catalog.format('key %s loaded, the database''s key', loaded);
      hint := NULL;
    ELSE
      status := 'error';
      detail := pg_catalog.format('the loaded key %s is not the database''s key %s: keyed work fails', loaded, stored);
      hint := pg_catalog.format('Install the key file of fingerprint %s and reload; if the key was replaced on purpose, run SELECT privacy.accept_key_change(%L).',
                                stored, stored);
    END IF;
    RETURN NEXT;
  END IF;

  -- 2b. Older keys: the audit entries and erasure ledger lines made under
  -- a replaced key are checked with it (privacy.key_versions).
  area := 'key history';
  BEGIN
    -- one read of the view (it reads the whole audit log and the ledger)
    SELECT pg_catalog.string_agg(pg_catalog.format('%s (version %s: %s audit entries, %s ledger lines, %s restrictions)',
                                                   v.fingerprint, v.version, v.audit_entries, v.ledger_lines, v.restrictions),
                                 '; ' ORDER BY v.version)
             FILTER (WHERE v.needed AND v.listed_at IS NULL AND v.fingerprint IS NOT NULL),
           pg_catalog.count(*) FILTER (WHERE v.needed AND v.listed_at IS NULL AND v.fingerprint IS NOT NULL),
           pg_catalog.string_agg(v.listed_at || ': ' || v.problem, '; ' ORDER BY v.listed_at) FILTER (WHERE v.fingerprint IS NULL),
           pg_catalog.count(*) FILTER (WHERE v.fingerprint IS NULL),
           pg_catalog.count(*) FILTER (WHERE v.listed_at IS NOT NULL),
           COALESCE(pg_catalog.sum(v.restrictions) FILTER (WHERE v.listed_at IS NULL AND v.fingerprint IS NOT NULL), 0)
      INTO conn, n, stored, m, nkeys, unlisted_restrictions
      FROM privacy.key_versions v;
    IF m OPERATOR(pg_catalog.>) 0 THEN
      status := 'error';
      detail := pg_catalog.format('pg_privacy.key_file lists key files that cannot be used: %s', stored);
      hint := 'Fix or remove them and reload: checking what was made under an older key fails while one cannot be read.';
    ELSIF unlisted_restrictions OPERATOR(pg_catalog.>) 0 THEN
      status := 'error';
      detail := pg_catalog.format('restrictions were made under %s replaced key(s) that are not listed: %s', n, conn);
      hint := 'List the file of each after the current key''s in pg_privacy.key_file and reload: until then every update of a table that holds data subjects, is_restricted, unrestrict_subject, export_subject and the purge''s anonymization refuse (they cannot tell whom those restrictions cover).';
    ELSIF n OPERATOR(pg_catalog.>) 0 THEN
      status := 'warning';
      detail := pg_catalog.format('what was made under %s replaced key(s) cannot be verified: %s', n, conn);
      hint := 'List the file of each after the current key''s in pg_privacy.key_file and reload; verify_audit_log and replay_erasures refuse until then.';
    ELSE
      status := 'ok';
      detail := pg_catalog.format('%s key(s) listed; every key the audit log, the erasure ledger and the restrictions need is listed', nkeys);
      hint := NULL;
    END IF;
  EXCEPTION WHEN OTHERS THEN
    status := 'error';
    detail := SQLERRM;
    hint := 'Check pg_privacy.key_file: every listed file must be a usable key file.';
  END;
  RETURN NEXT;
  conn := NULL;
  stored := NULL;

  -- 3. The purge: scheduled with pg_cron, and its last run.
  area := 'purge';
  SELECT pg_catalog.count(*) INTO npolicies FROM privacy.retention_policy;
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'pg_cron') THEN
    status := 'warning';
    detail := CASE WHEN npolicies OPERATOR(pg_catalog.>) 0
                   THEN pg_catalog.format('pg_cron not installed in this database; tables with a retention policy: %s', npolicies)
                   ELSE 'pg_cron not installed in this database' END;
    hint := 'Schedule CALL privacy.run_purge() nightly: with pg_cron (cron.database_name = this database, cron.use_background_workers = on, CREATE EXTENSION pg_cron, SELECT privacy.schedule_purge()), '
            'or with cron.schedule_in_database() from pg_cron''s database, or another scheduler.';
    RETURN NEXT;
  ELSE
    EXECUTE 'SELECT j.jobid, j.schedule, j.command, j.nodename, j.nodeport, j.database, j.username, j.active
               FROM cron.job j WHERE j.jobname OPERATOR(pg_catalog.=) $1
              ORDER BY j.jobid DESC LIMIT 1'
      INTO job USING 'pg_privacy_purge';
    IF job.jobid IS NULL THEN
      status := CASE WHEN npolicies OPERATOR(pg_catalog.>) 0 THEN 'error' ELSE 'warning' END;
      detail := CASE WHEN npolicies OPERATOR(pg_catalog.>) 0
                     THEN pg_catalog.format('the purge is not scheduled; tables with a retention policy: %s', npolicies)
                     ELSE 'the purge is not scheduled (and no table has a retention policy)' END;
      hint := 'Schedule it with SELECT privacy.schedule_purge(''30 3 * * *'').';
      RETURN NEXT;
    ELSE
      EXECUTE 'SELECT d.status, d.return_message, d.start_time, d.end_time
                 FROM cron.job_run_details d WHERE d.jobid OPERATOR(pg_catalog.=) $1
                ORDER BY d.runid DESC LIMIT 1'
        INTO last USING job.jobid;
      IF NOT job.active THEN
        status := 'error';
        detail := pg_catalog.format('purge job %s is inactive', job.jobid);
        hint := 'Activate it again with SELECT privacy.schedule_purge(schedule).';
      ELSIF job.database OPERATOR(pg_catalog.<>) pg_catalog.current_database() THEN
        status := 'error';
        detail := pg_catalog.format('purge job %s runs in database %s, not in this one', job.jobid, job.database);
        hint := 'Schedule it again with SELECT privacy.schedule_purge(schedule).';
      ELSIF last.status IS NOT DISTINCT FROM 'failed' THEN
        status := 'error';
        detail := pg_catalog.format('the last run of purge job %s failed at %s: %s', job.jobid,
                                    pg_catalog.to_char(COALESCE(last.end_time, last.start_time), 'YYYY-MM-DD HH24:MI:SSOF'),
                                    COALESCE(last.return_message, 'no message'));
        hint := CASE
          WHEN last.return_message LIKE 'connection failed%'
            THEN 'pg_cron could not connect: set cron.use_background_workers = on in postgresql.conf, restart, and SELECT privacy.schedule_purge(schedule).'
          WHEN last.return_message LIKE 'could not start background process%'
            THEN 'Raise max_worker_processes (pg_cron''s jobs need background workers beside parallel query and replication) and restart.'
          ELSE 'See cron.job_run_details and privacy.audit_log (event retention.purge_failed); run CALL privacy.run_purge() by hand to see the error.' END;
      ELSIF pg_catalog.current_setting('cron.use_background_workers', true) IS DISTINCT FROM 'on'
            AND (job.nodename IS DISTINCT FROM COALESCE(pg_catalog.current_setting('cron.host', true), 'localhost')
                 OR job.nodeport IS DISTINCT FROM pg_catalog.current_setting('port')::integer) THEN
        -- pg_cron connects to the node the job names: one restored from
        -- another cluster, or made before cron.host changed, misses.
        status := 'warning';
        detail := pg_catalog.format('purge job %s connects to %s port %s, not to this server (%s port %s): its next run fails',
                                    job.jobid, job.nodename, job.nodeport,
                                    COALESCE(pg_catalog.current_setting('cron.host', true), 'localhost'),
                                    pg_catalog.current_setting('port'));
        hint := 'Schedule it again with SELECT privacy.schedule_purge(schedule): the job is made for this server.';
      ELSIF last.status IS NULL THEN
        conn := privacy_internal._cron_connection_problem();
        status := CASE WHEN conn IS NULL THEN 'ok' ELSE 'warning' END;
        detail := pg_catalog.format('purge job %s scheduled ''%s'' (%s), not run yet%s', job.jobid, job.schedule, job.command,
                                    CASE WHEN conn IS NULL THEN '' ELSE '; ' || conn END);
        hint := CASE WHEN conn IS NULL THEN NULL
                     ELSE 'Set cron.use_background_workers = on and restart, then SELECT privacy.schedule_purge(schedule).' END;
      ELSE
        status := 'ok';
        detail := pg_catalog.format('purge job %s scheduled ''%s''; last run %s at %s', job.jobid, job.schedule,
                                    last.status, pg_catalog.to_char(COALESCE(last.end_time, last.start_time), 'YYYY-MM-DD HH24:MI:SSOF'));
        hint := NULL;
      END IF;
      RETURN NEXT;
    END IF;
  END IF;

  -- 4. Data-subject requests past their deadline and still open.
  area := 'subject requests';
  SELECT pg_catalog.count(*),
         pg_catalog.string_agg(pg_catalog.format('%s (%s, due %s)', d.id, d.request, pg_catalog.to_char(d.due_at, 'YYYY-MM-DD')), ', ' ORDER BY d.due_at, d.id)
    INTO n, detail
    FROM privacy.request_deadlines d
   WHERE d.closed_at IS NULL AND d.due_at OPERATOR(pg_catalog.<) pg_catalog.now();
  IF n OPERATOR(pg_catalog.>) 0 THEN
    status := 'error';
    detail := pg_catalog.format('open requests past their deadline (%s): %s', n, detail);
    hint := 'Answer them and close them with privacy.close_request(id, outcome); privacy.request_deadlines lists them.';
  ELSE
    SELECT pg_catalog.count(*) INTO m FROM privacy.subject_request q WHERE q.closed_at IS NULL;
    status := 'ok';
    detail := pg_catalog.format('no open request is overdue (%s open)', m);
    hint := NULL;
  END IF;
  RETURN NEXT;

  -- 5. The catalog: each problem is an error.
  area := 'catalog';
  n := 0;
  FOR r IN SELECT p.table_name, p.column_name, p.problem FROM privacy.catalog_problems p
            ORDER BY p.table_name::text, p.column_name, p.problem LOOP
    n := n OPERATOR(pg_catalog.+) 1;
    status := 'error';
    detail := pg_catalog.format('%s%s: %s', r.table_name,
                                CASE WHEN r.column_name IS NULL THEN '' ELSE '.' || pg_catalog.quote_ident(r.column_name) END,
                                r.problem);
    hint := 'See privacy.catalog_problems; fix the table or its declaration (privacy.register_column, privacy.unregister_column).';
    RETURN NEXT;
  END LOOP;
  IF n OPERATOR(pg_catalog.=) 0 THEN
    status := 'ok';
    detail := pg_catalog.format('no catalog problem (registered tables: %s)',
                                (SELECT pg_catalog.count(*) FROM privacy.registered_table));
    hint := NULL;
    RETURN NEXT;
  END IF;

  -- 6. Columns that look personal but are not declared.
  area := 'undeclared columns';
  SELECT pg_catalog.count(*),
         pg_catalog.string_agg(x.c, ', ' ORDER BY x.c) FILTER (WHERE x.i OPERATOR(pg_catalog.<=) 10)
    INTO n, detail
    FROM (SELECT u.table_name::text || '.' || pg_catalog.quote_ident(u.column_name) AS c,
                 pg_catalog.row_number() OVER (ORDER BY u.table_name::text, u.column_name) AS i
            FROM privacy_internal._undeclared_by_name u) x;
  IF n OPERATOR(pg_catalog.>) 0 THEN
    status := 'warning';
    detail := pg_catalog.format('columns that look personal but are not declared (%s): %s%s', n, detail,
                                CASE WHEN n OPERATOR(pg_catalog.>) 10 THEN ', ...' ELSE '' END);
    hint := 'Declare them with privacy.register_column() (see privacy.undeclared_columns).';
  ELSE
    status := 'ok'; detail := 'no undeclared personal column'; hint := NULL;
  END IF;
  RETURN NEXT;

  -- 7. Tables with protect transformations whose protection is not in force.
  area := 'protection';
  n := 0;
  FOR r IN SELECT p.table_name FROM privacy.protected_tables p WHERE NOT p.protected
            ORDER BY p.table_name::text LOOP
    n := n OPERATOR(pg_catalog.+) 1;
    status := 'error';
    detail := pg_catalog.format('protection of %s is not in force: %s', r.table_name,
                                COALESCE(privacy_internal._protection_problem(r.table_name),
                                                    'it has protect declarations but no protect trigger'));
    hint := CASE WHEN privacy_internal._has_protect_trigger(r.table_name)
                 THEN 'Restore the protect trigger (ALTER TABLE ... ENABLE TRIGGER zz_pg_privacy_protect, on every partition), or remove the protection with privacy.unprotect() and install it again with privacy.protect().'
                 ELSE pg_catalog.format('Run SELECT privacy.protect(%L) (rewrite_existing => true converts rows stored meanwhile).',
                                        r.table_name::text) END;
    RETURN NEXT;
  END LOOP;
  IF n OPERATOR(pg_catalog.=) 0 THEN
    status := 'ok';
    detail := pg_catalog.format('protection in force (protected tables: %s)', (SELECT pg_catalog.count(*) FROM privacy.protected_tables));
    hint := NULL;
    RETURN NEXT;
  END IF;

  -- 8. Restrictions and legal holds past their end and still in place.
  area := 'restrictions and holds';
  SELECT pg_catalog.count(*), pg_catalog.string_agg(DISTINCT x.kind, ', ')
    INTO n, detail
    FROM privacy.restriction x
   -- a restriction an erasure left on the rows it had to keep ends by
   -- itself at its end (restrict checks ignore it from then on); one the
   -- subject asked for is lifted by hand
   WHERE x.origin OPERATOR(pg_catalog.=) 'request'
     AND x.until IS NOT NULL AND x.until OPERATOR(pg_catalog.<) pg_catalog.now();
  SELECT pg_catalog.count(*) INTO m
    FROM privacy.legal_hold h
   WHERE h.released_at IS NULL AND h.until IS NOT NULL AND h.until OPERATOR(pg_catalog.<) pg_catalog.now();
  IF n OPERATOR(pg_catalog.>) 0 THEN
    status := 'warning';
    detail := pg_catalog.format('restrictions past their end and still in place (%s): kinds %s', n, detail);
    hint := 'Lift them with privacy.unrestrict_subject(kind, value) or restrict again with a new end.';
    RETURN NEXT;
  END IF;
  IF m OPERATOR(pg_catalog.>) 0 THEN
    status := 'warning';
    detail := pg_catalog.format('legal holds past their end and not released (%s): ids %s', m,
                                (SELECT pg_catalog.string_agg(h.id::text, ', ' ORDER BY h.id) FROM privacy.legal_hold h
                                  WHERE h.released_at IS NULL AND h.until IS NOT NULL
                                    AND h.until OPERATOR(pg_catalog.<) pg_catalog.now()));
    hint := 'Release them with privacy.release_hold(id), or place a new hold if the reason still holds (see privacy.legal_holds).';
    RETURN NEXT;
  END IF;
  IF n OPERATOR(pg_catalog.=) 0 AND m OPERATOR(pg_catalog.=) 0 THEN
    status := 'ok';
    detail := pg_catalog.format('no restriction or hold past its end (restrictions: %s, active holds: %s)',
                                (SELECT pg_catalog.count(*) FROM privacy.restriction),
                                (SELECT pg_catalog.count(*) FROM privacy.legal_hold h
                                  WHERE h.released_at IS NULL
                                    AND (h.until IS NULL OR h.until OPERATOR(pg_catalog.>=) pg_catalog.now())));
    hint := NULL;
    RETURN NEXT;
  END IF;

  -- 9. Masking: each masked role still one the masks hold for (mask_role's
  -- conditions, which a later GRANT or ALTER ROLE can break).
  area := 'masking';
  m := 0;
  FOR r IN
    SELECT m.role::oid AS rid, a.rolname, a.oid IS NULL AS gone,
           COALESCE(x.files, false) AS reads_files, x.tables AS owns
      FROM privacy.masked_role m
      LEFT JOIN pg_catalog.pg_roles a ON a.oid OPERATOR(pg_catalog.=) m.role::oid
      LEFT JOIN LATERAL privacy_internal._mask_reads_around(a.oid) x ON a.oid IS NOT NULL
     ORDER BY m.role::oid
  LOOP
    IF r.gone THEN
      status := 'warning';
      detail := pg_catalog.format('a masked role (OID %s) no longer exists', r.rid);
      hint := 'A role created again under its name is not masked: mask it with privacy.mask_role().';
      RETURN NEXT;
      m := m + 1;
    ELSIF r.reads_files OR r.owns IS NOT NULL THEN
      status := 'error';
      detail := CASE WHEN r.reads_files
                     THEN pg_catalog.format('masked role %I is a superuser, a replication role or may read the server''s files: it reads around the masks', r.rolname)
                     ELSE pg_catalog.format('masked role %I owns, may add triggers to, or may reference in a foreign key, registered tables (%s): its code sees their rows in clear', r.rolname, r.owns) END;
      hint := 'Take the attribute, the membership, the ownership, or the TRIGGER or REFERENCES privilege back (mask_role refuses such roles).';
      RETURN NEXT;
      m := m + 1;
    END IF;
  END LOOP;
  IF m OPERATOR(pg_catalog.=) 0 THEN
    status := 'ok';
    detail := pg_catalog.format('masked roles: %s', (SELECT pg_catalog.count(*) FROM privacy.masked_role));
    hint := NULL;
    RETURN NEXT;
  END IF;

  -- 11. The erasure ledger (75_subject_ledger.sql): configured, and the
  -- database where its ledger is.
  area := 'erasure ledger';
  hint := NULL;
  IF NOT privacy_internal._ledger_configured() THEN
    status := 'warning';
    detail := 'no erasure ledger: a restore from a backup taken before an erasure brings the erased subject back, and nothing says so';
    hint := 'Set pg_privacy.erasure_ledger_file to a file outside the data directory (doc/operations.md, "Erasures that survive a restore") and reload.';
    RETURN NEXT;
  ELSIF pg_catalog.pg_is_in_recovery() THEN
    status := 'ok';
    detail := 'a standby: the primary records erasures in the ledger';
    RETURN NEXT;
  ELSE
    BEGIN
      SELECT (i).* INTO r FROM (SELECT privacy_internal._ledger_identity() AS i) y;
      SELECT t.seq, t.mac INTO m, conn FROM privacy_internal._ledger_tail(r.database_id::text) t;
      -- this database's own lines after where it is, and its sources'
      SELECT pg_catalog.count(*) INTO n
        FROM privacy_internal._ledger_entries() e
        JOIN pg_catalog.jsonb_array_elements(pg_catalog.jsonb_build_array(
               pg_catalog.jsonb_build_object('db', r.database_id, 'seq', r.last_seq)) OPERATOR(pg_catalog.||) r.sources) ch
          ON e.chain::text OPERATOR(pg_catalog.=) (ch OPERATOR(pg_catalog.->>) 'db')
       WHERE e.verified IS NOT TRUE AND (e.seq IS NULL OR e.seq OPERATOR(pg_catalog.>) (ch OPERATOR(pg_catalog.->>) 'seq')::bigint);
      IF r.database_id IS NULL THEN
        status := 'error';
        detail := 'this database has no erasure ledger identity (privacy.erasure_ledger_state is empty)';
        hint := 'The next erasure makes one; erasures recorded under its old identity are not replayed here.';
      ELSIF n OPERATOR(pg_catalog.>) 0 THEN
        status := 'error';
        detail := pg_catalog.format('%s line(s) of this database''s erasure ledger do not verify (altered, damaged, or made under a key pg_privacy.key_file does not list)', n);
        hint := 'List the keys the ledger was written under in pg_privacy.key_file (privacy.key_versions), or put back the ledger file from its own backup; replay_erasures refuses until then.';
      ELSIF r.here OPERATOR(pg_catalog.<>) privacy_internal._ledger_here() THEN
        status := 'error';
        detail := 'this database was restored or copied from another place: erasures recorded after its backup may not be applied, and it refuses new ones';
        hint := 'Run SELECT * FROM privacy.replay_erasures();';
      ELSIF COALESCE(m, 0) OPERATOR(pg_catalog.>) r.last_seq THEN
        status := 'error';
        detail := pg_catalog.format('this database is older than its erasure ledger: %s erasure(s) recorded after its last one are not applied, and it refuses new ones',
                                    m OPERATOR(pg_catalog.-) r.last_seq);
        hint := 'Run SELECT * FROM privacy.replay_erasures();';
      ELSIF COALESCE(m, 0) OPERATOR(pg_catalog.<) r.last_seq THEN
        status := 'error';
        detail := pg_catalog.format('the erasure ledger lacks this database''s erasures up to number %s: it is not this database''s ledger, or lost lines', r.last_seq);
        hint := 'Set pg_privacy.erasure_ledger_file to this database''s ledger, or put the file back from its own backup (privacy.fork_erasure_ledger() starts a new chain if it is lost).';
      ELSIF m IS NOT NULL AND conn IS DISTINCT FROM r.last_mac THEN
        status := 'error';
        detail := pg_catalog.format('another database wrote this database''s chain in the erasure ledger (entry number %s is not the one it wrote)', m);
        hint := 'In each physical copy that is not the original, run SELECT privacy.fork_erasure_ledger(); then replay_erasures() here.';
      ELSIF EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(r.sources) src
                     WHERE (SELECT t.seq FROM privacy_internal._ledger_tail(src OPERATOR(pg_catalog.->>) 'db') t)
                           OPERATOR(pg_catalog.>) (src OPERATOR(pg_catalog.->>) 'seq')::bigint) THEN
        status := 'warning';
        detail := 'the database this one was restored or copied from recorded erasures since that are not applied here';
        hint := 'Run SELECT * FROM privacy.replay_erasures(); (a copy kept for tests: every night).';
      ELSE
        status := 'ok';
        detail := pg_catalog.format('%s erasure(s) recorded; the database is where its ledger is', r.last_seq);
      END IF;
    EXCEPTION WHEN OTHERS THEN
      status := 'error';
      detail := SQLERRM;
      hint := 'The erasure ledger cannot be read: see the server log, and doc/operations.md.';
    END;
    RETURN NEXT;
  END IF;
END
$$;

-- Views, triggers, comments and configuration new or changed in 0.9.0 (generated)

-- Nothing after the functions: 0.9.0 changes no view, trigger or data.


-- Privileges: every GRANT and REVOKE of the 0.9.0 install script, in its order (generated)

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA privacy FROM PUBLIC;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA privacy_internal FROM PUBLIC;

REVOKE ALL ON ALL TABLES IN SCHEMA privacy FROM PUBLIC;

REVOKE ALL ON ALL TABLES IN SCHEMA privacy_internal FROM PUBLIC;

REVOKE ALL ON ALL SEQUENCES IN SCHEMA privacy FROM PUBLIC;

REVOKE ALL ON ALL SEQUENCES IN SCHEMA privacy_internal FROM PUBLIC;

REVOKE ALL ON PROCEDURE privacy.run_purge(integer, integer, integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION privacy.health() FROM PUBLIC;

GRANT USAGE ON SCHEMA privacy TO PUBLIC;

GRANT USAGE ON SCHEMA privacy_internal TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy.normalize_msisdn(text, text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy.lookup_value(text, text, text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy.mask_msisdn(text, integer) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy.mask_name(text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy.mask_email(text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy.mask_address(text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy.mask_account(text, integer) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._mask_pseudonym(text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._mask_pseudonym(bigint) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._mask_pseudonym(integer) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._mask_pseudonym(smallint) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy.country_of(text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy.generalize(timestamptz, text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy.k_anonymity(regclass, name[], integer) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._protect_trigger() TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._consent_trigger() TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._is_protected(regclass), privacy_internal._has_protect_trigger(regclass),
                          privacy_internal._protection_problem(regclass),
                          privacy_internal._trigger_problem(regclass, name, regprocedure, integer, name[]),
                          privacy_internal._consent_problem(regclass), privacy_internal._restrict_problem(regclass),
                          privacy_internal._enforcement_problems(regclass, boolean, boolean, boolean) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._extract_msisdn(text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._extract_country(text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._subject_key(text, text, text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._subject_ids(jsonb, text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._subject_ids_span(jsonb, text, boolean) TO PUBLIC;
