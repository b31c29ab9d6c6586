/* pg_privacy--0.5.0--0.6.0.sql: ALTER EXTENSION pg_privacy UPDATE TO '0.6.0'
 *
 * Assembled by src/upgrade/gen_upgrade.py from src/upgrade/0.5.0--0.6.0.pre.sql,
 * the differences between the 0.5.0 and 0.6.0 install scripts, and
 * src/upgrade/0.5.0--0.6.0.post.sql.  Edit those, not this file.
 */

\echo Use "ALTER EXTENSION pg_privacy UPDATE TO '0.6.0'" to load this file. \quit



-- Tables new in 0.6.0 (generated)

CREATE TABLE privacy.erasure_ledger_state (
  database_id uuid        PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
  created_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
  here        text        NOT NULL,
  last_seq    bigint      NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
  last_mac    text,
  last_at     timestamptz,
  sources     jsonb       NOT NULL DEFAULT '[]',
  replayed_at timestamptz
);

-- Functions removed, or whose arguments or result changed (generated)

DROP FUNCTION privacy_internal._consent_forget_identity(text, text);


-- Functions new or changed in 0.6.0, in the order of its install script (generated)

CREATE FUNCTION privacy_internal._consent_forget_identities(kinds text[], vals text[]) RETURNS bigint
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_consent_forget_identities';

COMMENT ON FUNCTION privacy_internal._consent_forget_identities(text[], text[]) IS
  'internal (erasure path only): nulls a subject''s identifiers in the consent register, keeping subject_ref and the events';

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
    FROM (SELECT w.k, w.v, w.o,
                 privacy_internal._audit_ref(w.k, privacy_internal._identifier_normalize(w.k, w.v)) AS ref
            FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(normvs)) WITH ORDINALITY w(k, v, o)) u
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
           WHERE e.subject_ref OPERATOR(pg_catalog.=) u.ref
             AND e.kind OPERATOR(pg_catalog.=) u.k
           GROUP BY p.name, p.description, p.legal_basis, b.article, p.recipients) m) c;
END
$$;

CREATE OR REPLACE FUNCTION privacy_internal._subject_identifiers_json(kinds text[], vals text[], spans tstzmultirange[])
  RETURNS jsonb
  LANGUAGE plpgsql IMMUTABLE
  SET search_path = pg_catalog, pg_temp
  SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
  RETURN (
  SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
           'kind', k, 'value', v,
           'periods', CASE WHEN s OPERATOR(pg_catalog.=) '{(,)}'::tstzmultirange THEN NULL
                           ELSE (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                                          'from', pg_catalog.lower(r), 'to', pg_catalog.upper(r)) ORDER BY r)
                                   FROM pg_catalog.unnest(s) r) END) ORDER BY o), '[]')
    FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(vals), pg_catalog.unnest(spans)) WITH ORDINALITY u(k, v, s, o));
END
$$;

CREATE OR REPLACE FUNCTION privacy_internal._subject_refs(kinds text[], vals text[])
  RETURNS text[]
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
  RETURN (
  SELECT COALESCE(pg_catalog.array_agg(privacy_internal._audit_ref(k, v)), '{}')
    FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(vals)) u(k, v));
END
$$;

CREATE OR REPLACE FUNCTION privacy_internal._subject_consent(kinds text[], vals text[])
  RETURNS jsonb
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
  RETURN (
  SELECT COALESCE(pg_catalog.jsonb_agg(r.receipt ORDER BY r.i), '[]')
    FROM privacy_internal._consent_receipts(kinds, vals, NULL) r
   WHERE pg_catalog.jsonb_array_length(r.receipt OPERATOR(pg_catalog.->) 'consents') OPERATOR(pg_catalog.>) 0);
END
$$;

CREATE OR REPLACE FUNCTION privacy_internal._subject_requests_json(refs text[])
  RETURNS jsonb
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
  RETURN (
  SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
           'id', d.id, 'request', d.request, 'received_at', d.received_at, 'due_at', d.due_at,
           'status', d.status) ORDER BY d.id), '[]')
    FROM privacy.request_deadlines d
   WHERE d.subject_ref OPERATOR(pg_catalog.=) ANY (refs) AND d.closed_at IS NULL);
END
$$;

CREATE OR REPLACE FUNCTION privacy_internal._subject_table_json(tbl regclass, retention jsonb)
  RETURNS jsonb
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
  RETURN (
  SELECT pg_catalog.jsonb_build_object(
           'table', t.tbl::text,
           'purpose', p.name,
           'purpose_description', p.description,
           'legal_basis', p.legal_basis,
           'legal_basis_article', b.article,
           'recipients', pg_catalog.to_jsonb(p.recipients),
           'retention', retention OPERATOR(pg_catalog.->) (t.tbl::oid::text),
           'source', s.source,
           'categories', (SELECT pg_catalog.jsonb_agg(DISTINCT rc.category)
                            FROM privacy.registered_column rc WHERE rc.tbl OPERATOR(pg_catalog.=) t.tbl))
    FROM privacy.registered_table t
    JOIN privacy.purpose p ON p.name OPERATOR(pg_catalog.=) t.purpose
    JOIN privacy.legal_basis b ON b.name OPERATOR(pg_catalog.=) p.legal_basis
    LEFT JOIN privacy.subject_table s ON s.tbl OPERATOR(pg_catalog.=) t.tbl
   WHERE t.tbl OPERATOR(pg_catalog.=) _subject_table_json.tbl);
END
$$;

CREATE OR REPLACE FUNCTION privacy_internal._subject_header(kind text, norm text, kinds text[], vals text[], spans tstzmultirange[])
  RETURNS jsonb
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  refs text[] := privacy_internal._subject_refs(kinds, vals);    -- keyed, computed once
BEGIN
  RETURN (
  SELECT pg_catalog.jsonb_build_object(
           'format', 'pg_privacy.subject_export',
           'version', 1,
           'generated_at', pg_catalog.now(),
           'subject', pg_catalog.jsonb_build_object('kind', kind, 'value', norm),
           'identifiers', privacy_internal._subject_identifiers_json(kinds, vals, spans),
           'restricted', EXISTS (SELECT FROM privacy.restriction r
                                  WHERE r.subject_ref OPERATOR(pg_catalog.=) ANY (refs)
                                    AND (r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now())),
           'consent', privacy_internal._subject_consent(kinds, vals),
           'requests', privacy_internal._subject_requests_json(refs)));
END
$$;

CREATE FUNCTION privacy_internal._subject_erased_identifiers(OUT kinds text[], OUT vals text[], OUT spans tstzmultirange[])
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_subject_erased_identifiers';

COMMENT ON FUNCTION privacy_internal._subject_erased_identifiers() IS
  'internal: the identifiers the last erasure of this transaction acted on';

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
  e_state  text;
  e_msg    text;
  e_detail text;
  e_hint   text;
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
EXCEPTION WHEN OTHERS THEN
  -- The statement that called this names a person: never logged with an
  -- error (errhidestmt), whatever the error.
  GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_msg = MESSAGE_TEXT,
                          e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
  PERFORM privacy_internal._raise_hidden(e_state, e_msg, NULLIF(e_detail, ''), NULLIF(e_hint, ''));
END
$$;

CREATE FUNCTION privacy_internal._ledger_here() RETURNS text
  LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'pgp_ledger_here';

COMMENT ON FUNCTION privacy_internal._ledger_here() IS
  'internal: where this database lives (system identifier and database OID)';

CREATE FUNCTION privacy_internal._ledger_configured() RETURNS boolean
  LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'pgp_ledger_configured';

COMMENT ON FUNCTION privacy_internal._ledger_configured() IS
  'internal: whether pg_privacy.erasure_ledger_file is set';

CREATE FUNCTION privacy_internal._ledger_queue(line text) RETURNS void
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_ledger_queue';

COMMENT ON FUNCTION privacy_internal._ledger_queue(text) IS
  'internal: appends one line to the erasure ledger when the transaction commits (fsynced; the commit fails if it cannot)';

CREATE FUNCTION privacy_internal._ledger_lines()
  RETURNS TABLE(lineno bigint, body jsonb, line text)
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_ledger_lines';

COMMENT ON FUNCTION privacy_internal._ledger_lines() IS
  'internal: the lines of the erasure ledger file (body NULL for a line that is not a JSON object)';

CREATE FUNCTION privacy_internal._ledger_tail(db text)
  RETURNS TABLE(seq bigint, mac text)
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_ledger_tail';

COMMENT ON FUNCTION privacy_internal._ledger_tail(text) IS
  'internal: the sequence number and MAC of a database''s last entry in the erasure ledger';

CREATE FUNCTION privacy_internal._ledger_state() RETURNS privacy.erasure_ledger_state
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  s privacy.erasure_ledger_state;
BEGIN
  SELECT * INTO s FROM privacy.erasure_ledger_state x
   WHERE x.database_id OPERATOR(pg_catalog.=) (privacy_internal._ledger_identity()).database_id
     FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO privacy.erasure_ledger_state (here) VALUES (privacy_internal._ledger_here())
      RETURNING * INTO s;
  END IF;
  DELETE FROM privacy.erasure_ledger_state x WHERE x.database_id OPERATOR(pg_catalog.<>) s.database_id;
  RETURN s;
END
$$;

COMMENT ON FUNCTION privacy_internal._ledger_state() IS
  'internal: this database''s erasure ledger state, locked';

CREATE FUNCTION privacy_internal._ledger_entries()
  RETURNS TABLE(lineno bigint, chain uuid, db uuid, seq bigint, at timestamptz, datname text, type text,
                ids jsonb, report jsonb, requests jsonb, key_fingerprint text,
                prev text, mac text, mac_ok boolean, verified boolean, body jsonb)
  LANGUAGE sql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT x.lineno, x.chain, x.db, x.seq, x.at, x.datname, x.type, x.ids, x.report, x.requests, x.key_fingerprint,
         x.prev, x.mac, COALESCE(x.mac_ok, false),
         COALESCE(x.mac_ok AND x.type OPERATOR(pg_catalog.=) 'erasure'
                  AND x.db OPERATOR(pg_catalog.=) x.chain
                  AND CASE WHEN pg_catalog.lag(x.lineno) OVER w IS NULL
                           THEN x.seq OPERATOR(pg_catalog.=) 1 AND x.prev IS NULL
                           ELSE pg_catalog.lag(x.mac) OVER w OPERATOR(pg_catalog.=) x.prev
                                AND pg_catalog.lag(x.seq) OVER w OPERATOR(pg_catalog.+) 1 OPERATOR(pg_catalog.=) x.seq END,
                  false),
         x.body
    FROM (SELECT l.lineno, l.body, c.chain,
                 CASE WHEN (l.body OPERATOR(pg_catalog.->>) 'db') OPERATOR(pg_catalog.~)
                           '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                      THEN (l.body OPERATOR(pg_catalog.->>) 'db')::uuid END AS db,
                 CASE WHEN pg_catalog.jsonb_typeof(l.body OPERATOR(pg_catalog.->) 'seq') OPERATOR(pg_catalog.=) 'number'
                       AND (l.body OPERATOR(pg_catalog.->>) 'seq') OPERATOR(pg_catalog.~) '^[0-9]{1,18}$'
                      THEN (l.body OPERATOR(pg_catalog.->>) 'seq')::bigint END AS seq,
                 CASE WHEN (l.body OPERATOR(pg_catalog.->>) 'at') OPERATOR(pg_catalog.~)
                           '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?[+-](0[0-9]|1[0-5]):[0-5][0-9](:[0-5][0-9])?$'
                      THEN (l.body OPERATOR(pg_catalog.->>) 'at')::timestamptz END AS at,
                 l.body OPERATOR(pg_catalog.->>) 'datname' AS datname,
                 CASE WHEN l.body OPERATOR(pg_catalog.->>) 'v' OPERATOR(pg_catalog.=) '1'
                      THEN l.body OPERATOR(pg_catalog.->>) 'type' END AS type,
                 l.body OPERATOR(pg_catalog.->) 'ids' AS ids,
                 l.body OPERATOR(pg_catalog.->) 'report' AS report,
                 l.body OPERATOR(pg_catalog.->) 'requests' AS requests,
                 l.body OPERATOR(pg_catalog.->>) 'key' AS key_fingerprint,
                 l.body OPERATOR(pg_catalog.->>) 'prev' AS prev,
                 l.body OPERATOR(pg_catalog.->>) 'mac' AS mac,
                 (l.body OPERATOR(pg_catalog.->>) 'mac') OPERATOR(pg_catalog.=)
                   privacy_internal._audit_ref('pg_privacy erasure ledger',
                                               (l.body OPERATOR(pg_catalog.-) 'mac')::text) AS mac_ok
            FROM privacy_internal._ledger_lines() l
            -- every identity the line's text names: its chains
            LEFT JOIN LATERAL (SELECT DISTINCT m[1]::uuid AS chain
                                 FROM pg_catalog.regexp_matches(COALESCE(l.line, ''),
                                        '([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})', 'g') m) c ON true) x
  WINDOW w AS (PARTITION BY x.chain ORDER BY x.lineno)
$$;

COMMENT ON FUNCTION privacy_internal._ledger_entries() IS
  'internal: the erasure ledger''s entries, parsed and verified';

CREATE FUNCTION privacy_internal._ledger_identity() RETURNS privacy.erasure_ledger_state
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT x FROM privacy.erasure_ledger_state x
   ORDER BY (x.last_seq OPERATOR(pg_catalog.>) 0 OR x.sources OPERATOR(pg_catalog.<>) '[]'::jsonb
             OR x.here OPERATOR(pg_catalog.<>) privacy_internal._ledger_here()) DESC,
            x.created_at, x.database_id
   LIMIT 1
$$;

COMMENT ON FUNCTION privacy_internal._ledger_identity() IS
  'internal: this database''s erasure ledger state (not locked)';

CREATE FUNCTION privacy_internal._ledger_check() RETURNS privacy.erasure_ledger_state
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  s privacy.erasure_ledger_state;
  tail_seq bigint;
  tail_mac text;
BEGIN
  IF NOT privacy_internal._ledger_configured() THEN
    RETURN NULL;
  END IF;
  s := privacy_internal._ledger_state();
  IF s.here OPERATOR(pg_catalog.<>) privacy_internal._ledger_here() THEN
    RAISE EXCEPTION 'this database was restored or copied from another place: its erasure ledger must be replayed first'
      USING ERRCODE = '55000',
            DETAIL = 'Erasures recorded in the ledger after the backup it comes from are not applied here yet.',
            HINT = 'Run SELECT * FROM privacy.replay_erasures(); then erase.';
  END IF;
  SELECT t.seq, t.mac INTO tail_seq, tail_mac FROM privacy_internal._ledger_tail(s.database_id::text) t;
  IF tail_seq OPERATOR(pg_catalog.>) s.last_seq THEN
    RAISE EXCEPTION 'this database is older than its erasure ledger'
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('The ledger records %s erasure(s) of this database after its last one (number %s): it was restored from a backup taken before them, or an erasure whose line was written did not commit.',
                                       tail_seq OPERATOR(pg_catalog.-) s.last_seq, s.last_seq),
            HINT = 'Run SELECT * FROM privacy.replay_erasures(); then erase.';
  END IF;
  IF COALESCE(tail_seq, 0) OPERATOR(pg_catalog.<) s.last_seq THEN
    RAISE EXCEPTION 'the erasure ledger lacks this database''s erasures up to number %', s.last_seq
      USING ERRCODE = '55000',
            DETAIL = 'The file named by pg_privacy.erasure_ledger_file is not this database''s ledger, is missing, or lost lines.',
            HINT = 'Put the ledger file back from its own backup; if it is lost, SELECT privacy.fork_erasure_ledger(); starts a new chain for this database.';
  END IF;
  IF tail_seq IS NOT NULL AND tail_mac IS DISTINCT FROM s.last_mac THEN
    RAISE EXCEPTION 'another database wrote this database''s chain in the erasure ledger'
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('The ledger''s entry number %s of this database is not the one it wrote: a physical copy of it (a base backup, a promoted standby) erases into the same ledger.', tail_seq),
            HINT = 'In each copy that is not the original, SELECT privacy.fork_erasure_ledger(); before erasing. Then run SELECT * FROM privacy.replay_erasures(); here.';
  END IF;
  RETURN s;
END
$$;

COMMENT ON FUNCTION privacy_internal._ledger_check() IS
  'internal: refuses an erasure unless the database is where its erasure ledger is; its state, locked';

CREATE FUNCTION privacy_internal._ledger_fork(old uuid) RETURNS uuid
  LANGUAGE sql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
  UPDATE privacy.erasure_ledger_state x
     SET database_id = pg_catalog.gen_random_uuid(), created_at = pg_catalog.clock_timestamp(),
         here = privacy_internal._ledger_here(), last_seq = 0, last_mac = NULL, last_at = NULL,
         sources = pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('db', x.database_id, 'seq', x.last_seq, 'mac', x.last_mac))
                   OPERATOR(pg_catalog.||) x.sources
   WHERE x.database_id OPERATOR(pg_catalog.=) old
  RETURNING x.database_id
$$;

COMMENT ON FUNCTION privacy_internal._ledger_fork(uuid) IS
  'internal: this database''s erasures from now on under a new identity, the old one (and how far it came) kept as a source';

CREATE FUNCTION privacy.fork_erasure_ledger() RETURNS uuid
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  s privacy.erasure_ledger_state;
  new_id uuid;
BEGIN
  s := privacy_internal._ledger_state();
  new_id := privacy_internal._ledger_fork(s.database_id);
  PERFORM privacy_internal._audit('ledger.fork', NULL,
    pg_catalog.jsonb_build_object('from', s.database_id, 'from_seq', s.last_seq, 'to', new_id));
  RETURN new_id;
END
$$;

COMMENT ON FUNCTION privacy.fork_erasure_ledger() IS
  'this database records its erasures in a chain of its own from now on, its old chain kept as its source (for a physical copy, or after the ledger file was lost); audited';

CREATE FUNCTION privacy_internal._ledger_record(s privacy.erasure_ledger_state, kinds text[], vals text[],
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
  -- the audit log's references, for the open requests; the ledger's own,
  -- under a domain of its own (a reference read in the ledger cannot be
  -- matched against the audit log or the requests)
  refs := ARRAY(SELECT privacy_internal._audit_ref(u.k, u.v)
                  FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(vals)) WITH ORDINALITY u(k, v, o)
                 ORDER BY u.o);
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

COMMENT ON FUNCTION privacy_internal._ledger_record(privacy.erasure_ledger_state, text[], text[], tstzmultirange[], jsonb, timestamptz) IS
  'internal: queues an erasure''s ledger entry (keyed references only) for the commit';

CREATE FUNCTION privacy.replay_erasures(since timestamptz DEFAULT NULL)
  RETURNS TABLE(database_id uuid, seq bigint, erased_at timestamptz, result text, report jsonb)
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  s      privacy.erasure_ledger_state;
  chains jsonb;
  lines  jsonb;
  todo   jsonb;
  wanted text[];
  stable text[];
  known  jsonb := '{}';
  c      privacy_internal._subject_column;
  dc     text := privacy_internal._default_country();
  q      text;
  dom    text;
  e      jsonb;
  fk     text;
  fv     text;
  fref   text;
  bad    jsonb;
  moved  boolean;
  eid    uuid;
  eseq   bigint;
  eat    timestamptz;
  strangers bigint;
BEGIN
  IF NOT privacy_internal._ledger_configured() THEN
    RAISE EXCEPTION 'no erasure ledger is configured'
      USING ERRCODE = '55000',
            HINT = 'Set pg_privacy.erasure_ledger_file to the ledger the erasures were recorded in, and reload.';
  END IF;
  PERFORM privacy_internal._citus_refuse(t.tbl, 'replay_erasures') FROM privacy.registered_table t;
  IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed' THEN
    RAISE EXCEPTION 'replay_erasures must run at isolation level READ COMMITTED' USING ERRCODE = '55000';
  END IF;
  s := privacy_internal._ledger_state();
  moved := s.here OPERATOR(pg_catalog.<>) privacy_internal._ledger_here();
  -- the chains to follow, each from where this database is in it: its own,
  -- and those it came from
  chains := pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('db', s.database_id, 'seq', s.last_seq, 'mac', s.last_mac))
            OPERATOR(pg_catalog.||) s.sources;
  -- their lines, read once
  SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
           'lineno', x.lineno, 'chain', x.chain, 'seq', x.seq, 'at', x.at, 'mac', x.mac, 'mac_ok', x.mac_ok,
           'verified', x.verified, 'body', x.body, 'from', (ch OPERATOR(pg_catalog.->>) 'seq')::bigint,
           'from_mac', ch OPERATOR(pg_catalog.->>) 'mac') ORDER BY x.lineno), '[]')
    INTO lines
    FROM privacy_internal._ledger_entries() x
    JOIN pg_catalog.jsonb_array_elements(chains) ch ON x.chain::text OPERATOR(pg_catalog.=) (ch OPERATOR(pg_catalog.->>) 'db');

  -- Where this database is in each chain must be in the ledger, as it
  -- recorded it (the same entry, by its MAC); every line after it must be
  -- as written: its MAC under the loaded key, its place in the chain.  A
  -- line not as written, a line missing, a foreign or garbled line in the
  -- chain: nothing is replayed.
  SELECT ch INTO bad FROM pg_catalog.jsonb_array_elements(chains) ch
   WHERE (ch OPERATOR(pg_catalog.->>) 'seq')::bigint OPERATOR(pg_catalog.>) 0
     AND NOT EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(lines) l
                      WHERE (l OPERATOR(pg_catalog.->>) 'chain') OPERATOR(pg_catalog.=) (ch OPERATOR(pg_catalog.->>) 'db')
                        AND (l OPERATOR(pg_catalog.->>) 'seq')::bigint OPERATOR(pg_catalog.=) (ch OPERATOR(pg_catalog.->>) 'seq')::bigint
                        AND (ch OPERATOR(pg_catalog.->>) 'mac' IS NULL
                             OR (l OPERATOR(pg_catalog.->>) 'mac') OPERATOR(pg_catalog.=) (ch OPERATOR(pg_catalog.->>) 'mac')))
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'the erasure ledger does not hold this database''s last erasure (number %)', bad OPERATOR(pg_catalog.->>) 'seq'
      USING ERRCODE = '55000',
            DETAIL = 'The file named by pg_privacy.erasure_ledger_file is not the ledger this database recorded its erasures in, lost lines, or its entry was altered.',
            HINT = 'Set pg_privacy.erasure_ledger_file to this database''s ledger; nothing was replayed.';
  END IF;
  SELECT l INTO bad FROM pg_catalog.jsonb_array_elements(lines) l
   WHERE NOT (l OPERATOR(pg_catalog.->>) 'verified')::boolean
     AND (l OPERATOR(pg_catalog.->>) 'lineno')::bigint OPERATOR(pg_catalog.>) COALESCE(
           (SELECT pg_catalog.max((a OPERATOR(pg_catalog.->>) 'lineno')::bigint) FROM pg_catalog.jsonb_array_elements(lines) a
             WHERE (a OPERATOR(pg_catalog.->>) 'chain') OPERATOR(pg_catalog.=) (l OPERATOR(pg_catalog.->>) 'chain')
               AND (a OPERATOR(pg_catalog.->>) 'seq')::bigint OPERATOR(pg_catalog.=) (l OPERATOR(pg_catalog.->>) 'from')::bigint
               AND (l OPERATOR(pg_catalog.->>) 'from')::bigint OPERATOR(pg_catalog.>) 0), 0)
   ORDER BY (l OPERATOR(pg_catalog.->>) 'lineno')::bigint LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'the erasure ledger is damaged or was altered at line %', bad OPERATOR(pg_catalog.->>) 'lineno'
      USING ERRCODE = 'XX001',
            DETAIL = 'Its MAC does not verify under the loaded key, it does not follow the entry before it, or it is not an entry.',
            HINT = 'Put back the ledger file from its own backup, with the key it was written under; nothing was replayed.';
  END IF;

  -- the entries to apply, oldest first
  SELECT COALESCE(pg_catalog.jsonb_agg(l OPERATOR(pg_catalog.->) 'body'
                                       ORDER BY (l OPERATOR(pg_catalog.->>) 'at')::timestamptz, (l OPERATOR(pg_catalog.->>) 'lineno')::bigint), '[]')
    INTO todo
    FROM pg_catalog.jsonb_array_elements(lines) l
   WHERE (l OPERATOR(pg_catalog.->>) 'seq')::bigint OPERATOR(pg_catalog.>) (l OPERATOR(pg_catalog.->>) 'from')::bigint
      OR (since IS NOT NULL AND (l OPERATOR(pg_catalog.->>) 'at')::timestamptz OPERATOR(pg_catalog.>=) since);

  -- Who they are here: the references of the identifiers the subjects held
  -- for good, in the columns that hold a subject's own rows, smallest
  -- tables first, until every entry has one identifier found (each column
  -- read once, as its table's owner; the references computed here).  A
  -- kind that is reassigned here (a phone number) is never used: it may
  -- be another person's now.
  stable := ARRAY(SELECT DISTINCT sc.kind FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc
                   WHERE NOT EXISTS (SELECT FROM pg_catalog.unnest(privacy_internal._subject_cols()) v
                                      WHERE v.kind OPERATOR(pg_catalog.=) sc.kind AND v.is_validity));
  wanted := ARRAY(SELECT DISTINCT (i OPERATOR(pg_catalog.->>) 'kind') || ':' || (i OPERATOR(pg_catalog.->>) 'ref')
                    FROM pg_catalog.jsonb_array_elements(todo) t,
                         pg_catalog.jsonb_array_elements(t OPERATOR(pg_catalog.->) 'ids') i
                   WHERE NOT i OPERATOR(pg_catalog.?) 'span'
                     AND i OPERATOR(pg_catalog.->>) 'kind' OPERATOR(pg_catalog.=) ANY (stable));
  FOR c IN SELECT sc.* FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc
             JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) sc.tbl
            WHERE sc.link OPERATOR(pg_catalog.=) 'owner' AND sc.kind OPERATOR(pg_catalog.=) ANY (stable)
            ORDER BY k.reltuples, sc.tbl::text, sc.attnum LOOP
    EXIT WHEN NOT EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(todo) t
                           WHERE NOT EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(t OPERATOR(pg_catalog.->) 'ids') i
                                              WHERE known OPERATOR(pg_catalog.?) ((i OPERATOR(pg_catalog.->>) 'kind') || ':' || (i OPERATOR(pg_catalog.->>) 'ref'))));
    CONTINUE WHEN NOT EXISTS (SELECT FROM pg_catalog.unnest(wanted) w
                               WHERE pg_catalog.split_part(w, ':', 1) OPERATOR(pg_catalog.=) c.kind);
    dom := privacy_internal._subject_decrypt_domain(c);
    q := pg_catalog.format('SELECT 0, NULL::pg_catalog.text, pg_catalog.to_jsonb(x.v) FROM (SELECT DISTINCT %s AS v FROM %s t) x WHERE x.v IS NOT NULL',
                           privacy_internal._subject_value_expr(c, dc), c.tbl);
    known := known OPERATOR(pg_catalog.||) COALESCE((
      SELECT pg_catalog.jsonb_object_agg(m.key, m.v)
        FROM (SELECT DISTINCT ON (y.key) y.key, y.v
                FROM (SELECT c.kind || ':' || privacy_internal._audit_ref('ledger:' || c.kind, z.v) AS key, z.v
                        FROM (SELECT CASE WHEN dom IS NULL THEN r.j OPERATOR(pg_catalog.#>>) '{}'
                                          ELSE privacy_internal._msisdn_decrypt(r.j OPERATOR(pg_catalog.#>>) '{}', dom) END AS v
                                FROM privacy_internal._subject_rows(c.tbl, q, '{}'::jsonb) r) z
                       WHERE z.v IS NOT NULL) y
               WHERE y.key OPERATOR(pg_catalog.=) ANY (wanted)) m), '{}');
  END LOOP;

  -- Each entry: erased again with the legal exceptions in force here
  -- (holds, legal minimums), and this database's place moved past it.
  FOR e IN SELECT t FROM pg_catalog.jsonb_array_elements(todo) t LOOP
    fk := NULL;
    fv := NULL;
    fref := NULL;
    SELECT i OPERATOR(pg_catalog.->>) 'kind', known OPERATOR(pg_catalog.->>) ((i OPERATOR(pg_catalog.->>) 'kind') || ':' || (i OPERATOR(pg_catalog.->>) 'ref')),
           i OPERATOR(pg_catalog.->>) 'ref'
      INTO fk, fv, fref
      FROM pg_catalog.jsonb_array_elements(e OPERATOR(pg_catalog.->) 'ids') WITH ORDINALITY u(i, o)
     WHERE known OPERATOR(pg_catalog.?) ((i OPERATOR(pg_catalog.->>) 'kind') || ':' || (i OPERATOR(pg_catalog.->>) 'ref'))
     ORDER BY u.o LIMIT 1;
    eid := (e OPERATOR(pg_catalog.->>) 'db')::uuid;
    eseq := (e OPERATOR(pg_catalog.->>) 'seq')::bigint;
    eat := (e OPERATOR(pg_catalog.->>) 'at')::timestamptz;
    report := '[]';
    IF fv IS NULL THEN
      result := 'not in this database';
    ELSE
      -- The person found here must be the one erased: every identifier
      -- it holds for good here is one the entry names.  An identifier
      -- that passed to someone else since (an e-mail address taken by a
      -- new customer) would otherwise erase that other person.
      SELECT pg_catalog.count(*) INTO strangers
        FROM privacy_internal._subject_identifiers(fk, fv, NULL) h,
             ROWS FROM (pg_catalog.unnest(h.kinds), pg_catalog.unnest(h.vals)) u(k, v)
       WHERE u.k OPERATOR(pg_catalog.=) ANY (stable)
         AND NOT EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(e OPERATOR(pg_catalog.->) 'ids') i
                          WHERE i OPERATOR(pg_catalog.->>) 'kind' OPERATOR(pg_catalog.=) u.k
                            AND i OPERATOR(pg_catalog.->>) 'ref' OPERATOR(pg_catalog.=) privacy_internal._audit_ref('ledger:' || u.k, u.v));
      IF strangers OPERATOR(pg_catalog.>) 0 THEN
        result := 'ambiguous: not erased';
      ELSE
        SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x)), '[]') INTO report
          FROM privacy_internal._subject_erase(fk, fv, NULL) x;
        result := 'erased again';
      END IF;
    END IF;
    PERFORM privacy_internal._audit('subject.erase_replay', NULL,
      pg_catalog.jsonb_build_object('database', eid, 'seq', eseq, 'erased_at', eat,
                                    'kind', fk, 'subject', fref, 'result', result,
                                    'report', (SELECT COALESCE(pg_catalog.jsonb_agg(r OPERATOR(pg_catalog.-) 'reason'), '[]')
                                                 FROM pg_catalog.jsonb_array_elements(report) r)));
    IF eid OPERATOR(pg_catalog.=) s.database_id THEN
      UPDATE privacy.erasure_ledger_state x
         SET last_seq = eseq, last_mac = e OPERATOR(pg_catalog.->>) 'mac', last_at = eat
       WHERE x.database_id OPERATOR(pg_catalog.=) s.database_id AND x.last_seq OPERATOR(pg_catalog.<) eseq;
    ELSE
      UPDATE privacy.erasure_ledger_state x
         SET sources = (SELECT pg_catalog.jsonb_agg(CASE WHEN src OPERATOR(pg_catalog.->>) 'db' OPERATOR(pg_catalog.=) eid::text
                                                          AND (src OPERATOR(pg_catalog.->>) 'seq')::bigint OPERATOR(pg_catalog.<) eseq
                                                         THEN src OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('seq', eseq, 'mac', e OPERATOR(pg_catalog.->>) 'mac')
                                                         ELSE src END)
                          FROM pg_catalog.jsonb_array_elements(x.sources) src)
       WHERE x.database_id OPERATOR(pg_catalog.=) s.database_id;
    END IF;
    database_id := eid;
    seq := eseq;
    erased_at := eat;
    RETURN NEXT;
  END LOOP;
  UPDATE privacy.erasure_ledger_state x SET replayed_at = pg_catalog.clock_timestamp()
   WHERE x.database_id OPERATOR(pg_catalog.=) s.database_id;

  -- Restored or copied elsewhere: from now on a chain of its own, which
  -- remembers the one it came from.
  IF moved THEN
    PERFORM privacy_internal._ledger_fork(s.database_id);
  END IF;
END
$$;

COMMENT ON FUNCTION privacy.replay_erasures(timestamptz) IS
  'after a restore or a copy: erase again every subject the erasure ledger names that this database does not know was erased (since: also those erased from that moment on), with the holds and legal minimums in force here; audited';

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
  conn text;
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
       WHERE NOT e.verified AND (e.seq IS NULL OR e.seq OPERATOR(pg_catalog.>) (ch OPERATOR(pg_catalog.->>) 'seq')::bigint);
      IF r.database_id IS NULL THEN
        status := 'error';
        detail := 'this database has no erasure ledger identity (privacy.erasure_ledger_state is empty)';
        hint := 'The next erasure makes one; erasures recorded under its old identity are not replayed here.';
      ELSIF n OPERATOR(pg_catalog.>) 0 THEN
        status := 'error';
        detail := pg_catalog.format('%s line(s) of this database''s erasure ledger do not verify (altered, damaged, or written under another key)', n);
        hint := 'Put back the ledger file from its own backup, with the key it was written under; replay_erasures refuses until then.';
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

COMMENT ON FUNCTION privacy.health() IS
  'is pg_privacy working? one row per area (library, key, purge, subject requests, catalog, undeclared columns, protection, restrictions and holds, masking, erasure ledger) with status ok, warning or error, what was found and what to do; read-only, runs on a standby';

-- Views, triggers, comments and configuration new or changed in 0.6.0 (generated)

COMMENT ON TABLE privacy.erasure_ledger_state IS
  'pg_privacy: this database''s identity and position in the erasure ledger (sources: the databases it was restored or copied from, and how far their erasures are applied here)';

SELECT pg_catalog.pg_extension_config_dump('privacy.erasure_ledger_state', '');

CREATE VIEW privacy.erasure_ledger AS
SELECT e.lineno AS line, e.chain AS database_id, e.seq, e.at AS erased_at, e.datname AS database_name,
       e.ids AS identifiers, e.report, e.requests, e.key_fingerprint, e.verified,
       e.chain OPERATOR(pg_catalog.=) s.database_id AS this_database
  FROM privacy_internal._ledger_entries() e
  JOIN LATERAL privacy_internal._ledger_identity() s ON true
 WHERE e.chain OPERATOR(pg_catalog.=) s.database_id
    OR e.chain::text OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT src OPERATOR(pg_catalog.->>) 'db'
                                                      FROM pg_catalog.jsonb_array_elements(s.sources) src));

COMMENT ON VIEW privacy.erasure_ledger IS
  'this database''s lines of the erasure ledger file (pg_privacy.erasure_ledger_file): one row per erasure, subjects by keyed reference only, verified against the key and the chain (this_database: its own chain, else one it was restored or copied from)';

-- The erasure ledger's state: this database's identity, made where it lives now.
INSERT INTO privacy.erasure_ledger_state (here) VALUES (privacy_internal._ledger_here());


-- Privileges: every GRANT and REVOKE of the 0.6.0 install script, in its order (generated)

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
