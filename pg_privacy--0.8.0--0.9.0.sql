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
                  FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(vals)) WITH ORDINALITY u(k, v, o),
                       pg_catalog.unnest(privacy_internal._audit_refs(u.k, u.v)) WITH ORDINALITY f(ref, n)
                 ORDER BY u.o, f.n);
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
