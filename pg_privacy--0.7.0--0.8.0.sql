/* pg_privacy--0.7.0--0.8.0.sql: ALTER EXTENSION pg_privacy UPDATE TO '0.8.0'
 *
 * Assembled by src/upgrade/gen_upgrade.py from src/upgrade/0.7.0--0.8.0.pre.sql,
 * the differences between the 0.7.0 and 0.8.0 install scripts, and
 * src/upgrade/0.7.0--0.8.0.post.sql.  Edit those, not this file.
 */

\echo Use "ALTER EXTENSION pg_privacy UPDATE TO '0.8.0'" to load this file. \quit

-- Restrictions remember the key their references were made with
-- (privacy.restriction.key_fingerprint), so that a restriction made before
-- a key change is matched under that key.  An existing restriction was
-- made under the key in force when it was made: the one before the first
-- key change recorded in the audit log (accept_key_change: key.change,
-- {from, to}), or the one the last change before it moved to; with no key
-- change at all, the database's key.  (One pass over the few key changes
-- per row, not over the audit log.)
ALTER TABLE privacy.restriction ADD COLUMN key_fingerprint text;
WITH ch AS (
  SELECT a.at, a.detail OPERATOR(pg_catalog.->>) 'from' AS f, a.detail OPERATOR(pg_catalog.->>) 'to' AS t,
         pg_catalog.row_number() OVER (ORDER BY a.id) AS n
    FROM privacy.audit_log a
   WHERE a.event OPERATOR(pg_catalog.=) 'key.change'),
periods AS MATERIALIZED (
  SELECT NULL::timestamptz AS since, ch.f AS fp FROM ch WHERE ch.n OPERATOR(pg_catalog.=) 1
  UNION ALL
  SELECT ch.at, ch.t FROM ch)
UPDATE privacy.restriction r
   SET key_fingerprint = COALESCE(
         (SELECT p.fp FROM periods p
           WHERE p.since IS NULL OR p.since OPERATOR(pg_catalog.<=) r.restricted_at
           ORDER BY p.since DESC NULLS LAST LIMIT 1),
         (SELECT s.fingerprint FROM privacy.key_state s),
         privacy.key_fingerprint());
ALTER TABLE privacy.restriction ALTER COLUMN key_fingerprint SET DEFAULT privacy.key_fingerprint(),
                                ALTER COLUMN key_fingerprint SET NOT NULL;

-- Tables new in 0.8.0 (generated)

-- Functions removed, or whose arguments or result changed (generated)

DROP FUNCTION privacy_internal._retention_fpe_ref(text, text, text);


-- Functions new or changed in 0.8.0, in the order of its install script (generated)

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
  e_state  text;
  e_msg    text;
  e_detail text;
  e_hint   text;
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
  refs := ARRAY(SELECT privacy_internal._audit_ref_under(k.fingerprint, consent_history.kind, norm)
                  FROM privacy_internal._key_list() k WHERE k.fingerprint IS NOT NULL);
  RETURN QUERY
    SELECT e.purpose, e.event, e.at, e.source, e.notice_version, e.id, e.recorded_at, e.actor
      FROM privacy.consent_event e
     WHERE (e.subject_ref OPERATOR(pg_catalog.=) ANY (refs) OR e.value OPERATOR(pg_catalog.=) norm)
       AND e.kind OPERATOR(pg_catalog.=) consent_history.kind
     ORDER BY e.at, e.id;
EXCEPTION WHEN OTHERS THEN
  -- The statement that called this names a person: never logged with an
  -- error (errhidestmt), whatever the error.
  GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_msg = MESSAGE_TEXT,
                          e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
  PERFORM privacy_internal._raise_hidden(e_state, e_msg, NULLIF(e_detail, ''), NULLIF(e_hint, ''));
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
                 ARRAY(SELECT privacy_internal._audit_ref_under(f.fp, w.k, w.nv) FROM pg_catalog.unnest(kl.fps) f(fp)) AS refs
            FROM (SELECT x.k, x.v, x.o, privacy_internal._identifier_normalize(x.k, x.v) AS nv
                    FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(normvs)) WITH ORDINALITY x(k, v, o)) w,
                 (SELECT pg_catalog.array_agg(k.fingerprint) AS fps
                    FROM privacy_internal._key_list() k WHERE k.fingerprint IS NOT NULL) kl) u
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

CREATE FUNCTION privacy_internal._retention_fpe_norm(val text, domain text) RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN COALESCE(privacy_internal._msisdn_decrypt(val, domain), '');
EXCEPTION WHEN data_exception THEN
  RETURN '';
END
$$;

COMMENT ON FUNCTION privacy_internal._retention_fpe_norm(text, text) IS
  'internal: the number an msisdn_fpe stored value holds, empty when it cannot be read back';

CREATE OR REPLACE FUNCTION privacy_internal._retention_restricted(w privacy_internal._retention_work, wh text, args text[],
                                             lock_timeout_ms integer,
                                             OUT pred text, OUT pargs text[])
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  dc text := privacy_internal._default_country();
  c record;
  raw text;
  vals text[];
  rvals text[];
  rspans tstzmultirange[];
  keys text[];
  rel text := (w.policy).tbl::text;     -- qualifies the outer row below
  conds text[] := '{}';
  n integer := pg_catalog.cardinality(args);
BEGIN
  pargs := '{}';
  IF (w.policy).action OPERATOR(pg_catalog.<>) 'anonymize'
     OR NOT EXISTS (SELECT FROM privacy.restriction r
                     WHERE r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()) THEN
    RETURN;
  END IF;
  -- the keys the restrictions in force were made with, read once
  keys := privacy_internal._restriction_keys();
  FOR c IN SELECT * FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc
            WHERE sc.tbl OPERATOR(pg_catalog.=) (w.policy).tbl AND sc.link OPERATOR(pg_catalog.=) 'owner'
              AND (sc.protect IS NULL OR sc.protect OPERATOR(pg_catalog.=) 'msisdn_fpe')
            ORDER BY sc.attnum LOOP
    CONTINUE WHEN NOT EXISTS (SELECT FROM privacy.restriction r
                               WHERE r.kind OPERATOR(pg_catalog.=) c.kind
                                 AND (r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()));
    raw := privacy_internal._owner_query((w.policy).tbl,
             pg_catalog.format('SELECT pg_catalog.array_agg(DISTINCT %I::pg_catalog.text) FROM %s WHERE %s AND %I IS NOT NULL',
                               c.col, w.rel, wh, c.col),
             args, lock_timeout_ms);
    CONTINUE WHEN raw IS NULL;
    vals := raw::text[];
    -- (a stored value that cannot be read back, which the trigger would
    -- refuse as well, is left alone as if restricted)
    WITH v AS (
      SELECT u.val,
             CASE WHEN c.protect IS NOT NULL THEN privacy_internal._retention_fpe_norm(u.val, c.domain)
                  ELSE privacy.lookup_value(c.mode, u.val, dc) END AS norm
        FROM pg_catalog.unnest(vals) u(val))
    SELECT pg_catalog.array_agg(x.val ORDER BY x.val), pg_catalog.array_agg(x.span ORDER BY x.val)
      INTO rvals, rspans
      FROM (SELECT v.val, r.span
              FROM v CROSS JOIN pg_catalog.unnest(keys) k(fp)
              JOIN privacy.restriction r
                ON r.kind OPERATOR(pg_catalog.=) c.kind
               AND r.subject_ref OPERATOR(pg_catalog.=) privacy_internal._audit_ref_under(k.fp, c.kind, v.norm)
             WHERE r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()
            UNION ALL
            SELECT v.val, '{(,)}'::pg_catalog.tstzmultirange FROM v WHERE v.norm OPERATOR(pg_catalog.=) '') x;
    CONTINUE WHEN rvals IS NULL;
    pargs := pargs || rvals::text || rspans::text;
    conds := conds || pg_catalog.format(
      'NOT EXISTS (SELECT FROM ROWS FROM (pg_catalog.unnest($%s::pg_catalog.text[]), pg_catalog.unnest($%s::pg_catalog.tstzmultirange[])) AS pgp_r(pgp_v, pgp_s) '
      'WHERE %s.%I::pg_catalog.text OPERATOR(pg_catalog.=) pgp_r.pgp_v%s)',
      n OPERATOR(pg_catalog.+) pg_catalog.cardinality(pargs) OPERATOR(pg_catalog.-) 1,
      n OPERATOR(pg_catalog.+) pg_catalog.cardinality(pargs),
      rel, c.col,
      CASE WHEN c.is_validity THEN
             pg_catalog.format(' AND pgp_r.pgp_s OPERATOR(pg_catalog.&&) pg_catalog.tstzrange(%s, %s, ''[)'')',
                               COALESCE(rel || '.' || pg_catalog.quote_ident(c.valid_from) || '::pg_catalog.timestamptz', 'NULL'),
                               COALESCE(rel || '.' || pg_catalog.quote_ident(c.valid_to) || '::pg_catalog.timestamptz', 'NULL'))
           WHEN c.event_time IS NOT NULL THEN
             pg_catalog.format(' AND (pgp_r.pgp_s OPERATOR(pg_catalog.=) ''{(,)}'' OR pgp_r.pgp_s OPERATOR(pg_catalog.@>) %s.%I::pg_catalog.timestamptz)',
                               rel, c.event_time)
           ELSE '' END);
  END LOOP;
  IF pg_catalog.cardinality(conds) OPERATOR(pg_catalog.>) 0 THEN
    pred := pg_catalog.array_to_string(conds, ' AND ');
  END IF;
END
$$;

CREATE FUNCTION privacy_internal._restriction_keys(in_force boolean DEFAULT true)
  RETURNS text[]
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
  WITH RECURSIVE k(fp) AS (
    SELECT pg_catalog.min(r.key_fingerprint) FROM privacy.restriction r
     WHERE NOT in_force OR r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()
    UNION ALL
    SELECT (SELECT pg_catalog.min(r.key_fingerprint) FROM privacy.restriction r
             WHERE r.key_fingerprint OPERATOR(pg_catalog.>) k.fp
               AND (NOT in_force OR r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()))
      FROM k WHERE k.fp IS NOT NULL),
  labels AS (SELECT COALESCE(pg_catalog.array_agg(k.fp) FILTER (WHERE k.fp IS NOT NULL), '{}') AS fps FROM k)
  SELECT CASE WHEN pg_catalog.cardinality(l.fps) OPERATOR(pg_catalog.=) 0
                OR privacy.key_fingerprint() OPERATOR(pg_catalog.=) ANY (l.fps) THEN l.fps
              ELSE l.fps OPERATOR(pg_catalog.||) privacy.key_fingerprint() END
    FROM labels l
$$;

COMMENT ON FUNCTION privacy_internal._restriction_keys(boolean) IS
  'internal: the fingerprints of the keys the restrictions in force (or all) were made with, and the current one';

CREATE FUNCTION privacy_internal._restriction_refs(kind text, value text, in_force boolean DEFAULT true)
  RETURNS text[]
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT COALESCE(pg_catalog.array_agg(privacy_internal._audit_ref_under(k.fp, kind, value)), '{}')
    FROM pg_catalog.unnest(privacy_internal._restriction_keys(in_force)) k(fp)
   WHERE value IS NOT NULL
$$;

COMMENT ON FUNCTION privacy_internal._restriction_refs(text, text, boolean) IS
  'internal: an identifier''s references under every key a restriction was made with';

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
    FROM (SELECT COALESCE(pg_catalog.array_agg(privacy_internal._audit_ref_under(k.fingerprint, u.k, u.v)), '{}') AS refs
            FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(vals)) u(k, v),
                 privacy_internal._key_list() k
           WHERE k.fingerprint IS NOT NULL AND u.v IS NOT NULL) r);
END
$$;

CREATE OR REPLACE FUNCTION privacy_internal._restrict_check(fired regclass, vals jsonb)
  RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  dc   text := privacy_internal._default_country();
  reg  regclass;
  hit  record;
  keys text[];
BEGIN
  IF vals IS NULL THEN
    RETURN;
  END IF;
  -- the keys the restrictions in force were made with, read once
  keys := privacy_internal._restriction_keys();
  SELECT a.relid INTO reg
    FROM (SELECT fired AS relid, 0 AS o
          UNION ALL
          SELECT p.relid, p.o FROM pg_catalog.pg_partition_ancestors(fired) WITH ORDINALITY p(relid, o)) a
    JOIN privacy.registered_table t ON t.tbl OPERATOR(pg_catalog.=) a.relid
   ORDER BY a.o LIMIT 1;
  WITH e AS (SELECT x OPERATOR(pg_catalog.->>) 0 AS col, x OPERATOR(pg_catalog.->>) 1 AS val,
                    x OPERATOR(pg_catalog.->>) 2 AS span
               FROM pg_catalog.jsonb_array_elements(vals) x),
       -- (materialized: each distinct value read back once, each
       -- reference computed once per key, not once per row and restriction)
       n AS MATERIALIZED (SELECT d.col, d.val, c.kind, c.is_validity, c.event_time IS NOT NULL AS has_event,
                    CASE WHEN c.protect IS NOT NULL THEN privacy_internal._msisdn_decrypt(d.val, c.domain)
                         ELSE privacy.lookup_value(c.mode, d.val, dc) END AS norm
               FROM (SELECT DISTINCT e.col, e.val FROM e) d
               JOIN pg_catalog.unnest(privacy_internal._subject_cols()) c
                 ON c.tbl OPERATOR(pg_catalog.=) reg AND c.col OPERATOR(pg_catalog.=) d.col::name),
       nk AS MATERIALIZED (SELECT n.col, n.val, n.kind, n.is_validity, n.has_event,
                                  privacy_internal._audit_ref_under(k.fp, n.kind, n.norm) AS ref
                             FROM n CROSS JOIN pg_catalog.unnest(keys) k(fp)
                            WHERE n.norm IS NOT NULL),
       h AS (SELECT nk.col, nk.val, nk.is_validity, nk.has_event, r.reason, r.span
               FROM nk JOIN privacy.restriction r
                 ON r.kind OPERATOR(pg_catalog.=) nk.kind
                AND r.subject_ref OPERATOR(pg_catalog.=) nk.ref
              WHERE r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now())
  SELECT h.col, h.reason INTO hit
    FROM h JOIN e ON e.col OPERATOR(pg_catalog.=) h.col AND e.val OPERATOR(pg_catalog.=) h.val
   WHERE CASE WHEN h.is_validity THEN h.span OPERATOR(pg_catalog.&&) e.span::tstzrange
              WHEN h.has_event THEN h.span OPERATOR(pg_catalog.=) '{(,)}'::tstzmultirange
                                    OR h.span OPERATOR(pg_catalog.@>) e.span::timestamptz
              ELSE true END
   LIMIT 1;
  IF hit.col IS NOT NULL THEN
    -- the UPDATE statement may name the subject: not logged
    PERFORM privacy_internal._raise_hidden('55000', 'cannot update a row of a data subject whose processing is restricted',
            pg_catalog.format('A row of %s belongs, by its column "%s", to a restricted subject (%s).',
                              fired, hit.col, hit.reason),
            'Rows of a restricted subject can be stored and exported only; lift the restriction with privacy.unrestrict_subject().');
  END IF;
END
$$;

CREATE OR REPLACE FUNCTION privacy_internal._restrict_ids(kinds text[], vals text[], spans tstzmultirange[],
                                      reason text, origin text, until timestamptz)
  RETURNS integer
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  n integer;
BEGIN
  INSERT INTO privacy.restriction AS r (kind, subject_ref, span, reason, origin, until, restricted_by, key_fingerprint)
  SELECT u.k, privacy_internal._audit_ref(u.k, u.v), u.s, reason, origin, until, privacy_internal._invoker(),
         privacy.key_fingerprint()
    FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(vals), pg_catalog.unnest(spans)) u(k, v, s)
  ON CONFLICT ON CONSTRAINT restriction_pkey DO UPDATE
     SET span = r.span OPERATOR(pg_catalog.+) EXCLUDED.span,
         -- (the same reference made now: it is under the current key)
         key_fingerprint = EXCLUDED.key_fingerprint,
         reason = EXCLUDED.reason, origin = EXCLUDED.origin,
         until = CASE WHEN r.until IS NULL OR EXCLUDED.until IS NULL THEN NULL
                      ELSE GREATEST(r.until, EXCLUDED.until) END;
  GET DIAGNOSTICS n = ROW_COUNT;
  PERFORM privacy_internal._restrict_install();
  RETURN n;
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
  e_state  text;
  e_msg    text;
  e_detail text;
  e_hint   text;
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
EXCEPTION WHEN OTHERS THEN
  -- The statement that called this names a person: never logged with an
  -- error (errhidestmt), whatever the error.
  GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_msg = MESSAGE_TEXT,
                          e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
  PERFORM privacy_internal._raise_hidden(e_state, e_msg, NULLIF(e_detail, ''), NULLIF(e_hint, ''));
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
  e_state  text;
  e_msg    text;
  e_detail text;
  e_hint   text;
BEGIN
  norm := privacy_internal._identifier_normalize(kind, value);
  RETURN EXISTS (SELECT FROM privacy.restriction r
                  WHERE r.kind OPERATOR(pg_catalog.=) is_restricted.kind
                    AND r.subject_ref OPERATOR(pg_catalog.=) ANY (privacy_internal._restriction_refs(is_restricted.kind, norm))
                    AND (r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()));
EXCEPTION WHEN OTHERS THEN
  -- The statement that called this names a person: never logged with an
  -- error (errhidestmt), whatever the error.
  GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_msg = MESSAGE_TEXT,
                          e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
  PERFORM privacy_internal._raise_hidden(e_state, e_msg, NULLIF(e_detail, ''), NULLIF(e_hint, ''));
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
  refs := ARRAY(SELECT privacy_internal._audit_ref_under(k.fingerprint, u.k, u.v)
                  FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(vals)) WITH ORDINALITY u(k, v, o),
                       privacy_internal._key_list() k
                 WHERE k.fingerprint IS NOT NULL AND u.v IS NOT NULL
                 ORDER BY u.o, k.listed_at);
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
      hint := 'List the file of each after the current key''s in pg_privacy.key_file and reload: until then every update of a subject table with a restricted subject, is_restricted and the purge''s anonymization refuse (they cannot tell whom those restrictions cover).';
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

-- Views, triggers, comments and configuration new or changed in 0.8.0 (generated)

CREATE INDEX restriction_key ON privacy.restriction (key_fingerprint);

CREATE OR REPLACE VIEW privacy.key_versions AS
WITH audit AS (
  SELECT l.key_fingerprint AS fingerprint, pg_catalog.count(*) AS entries, pg_catalog.min(l.id) AS first_id,
         pg_catalog.min(l.at) AS first_at, pg_catalog.max(l.at) AS last_at
    FROM privacy.audit_log l
   WHERE l.key_fingerprint IS NOT NULL
   GROUP BY l.key_fingerprint),
keylist AS (SELECT k.listed_at, k.fingerprint, k.problem FROM privacy_internal._key_list() k),
-- one row per key (a key file listed twice, or a copy of it, counts once)
listed AS (SELECT pg_catalog.min(k.listed_at) AS listed_at, k.fingerprint FROM keylist k
            WHERE k.fingerprint IS NOT NULL GROUP BY k.fingerprint),
ledger AS (SELECT g.fingerprint, g.lines FROM privacy_internal._ledger_key_lines() g),
state AS (SELECT s.fingerprint, s.recorded_at FROM privacy.key_state s),
-- the restrictions in force (one past its end binds no key)
restr AS (SELECT r.key_fingerprint AS fingerprint, pg_catalog.count(*) AS n FROM privacy.restriction r
           WHERE r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()
           GROUP BY r.key_fingerprint),
used AS (
  SELECT u.fingerprint, pg_catalog.min(u.o) AS o
    FROM (SELECT a.fingerprint, a.first_id::numeric AS o FROM audit a
          UNION ALL SELECT s.fingerprint, 1e30 FROM state s
          UNION ALL SELECT g.fingerprint, 1e31 FROM ledger g WHERE g.fingerprint IS NOT NULL
          UNION ALL SELECT r.fingerprint, 1e32 FROM restr r) u
   GROUP BY u.fingerprint),
-- numbered by first use (keys known from the same source only: by fingerprint)
numbered AS (SELECT u.fingerprint, pg_catalog.row_number() OVER (ORDER BY u.o, u.fingerprint) AS version FROM used u),
known AS (
  SELECT u.fingerprint FROM used u
  UNION SELECT l.fingerprint FROM listed l WHERE l.fingerprint IS NOT NULL)
SELECT nb.version,
       k.fingerprint,
       k.fingerprint OPERATOR(pg_catalog.=) COALESCE((SELECT s.fingerprint FROM state s),
                                                      (SELECT l.fingerprint FROM listed l WHERE l.listed_at OPERATOR(pg_catalog.=) 1)) AS current,
       l.listed_at,
       COALESCE(a.entries, 0) AS audit_entries,
       COALESCE(g.lines, 0) AS ledger_lines,
       COALESCE(a.first_at, (SELECT s.recorded_at FROM state s WHERE s.fingerprint OPERATOR(pg_catalog.=) k.fingerprint)) AS first_used,
       a.last_at AS last_used,
       COALESCE(a.entries, 0) OPERATOR(pg_catalog.>) 0 OR COALESCE(g.lines, 0) OPERATOR(pg_catalog.>) 0
         OR COALESCE(r.n, 0) OPERATOR(pg_catalog.>) 0
         OR k.fingerprint OPERATOR(pg_catalog.=) (SELECT s.fingerprint FROM state s) AS needed,
       NULL::text AS problem,
       COALESCE(r.n, 0) AS restrictions
  FROM known k
  LEFT JOIN numbered nb ON nb.fingerprint OPERATOR(pg_catalog.=) k.fingerprint
  LEFT JOIN listed l ON l.fingerprint OPERATOR(pg_catalog.=) k.fingerprint
  LEFT JOIN audit a ON a.fingerprint OPERATOR(pg_catalog.=) k.fingerprint
  LEFT JOIN ledger g ON g.fingerprint OPERATOR(pg_catalog.=) k.fingerprint
  LEFT JOIN restr r ON r.fingerprint OPERATOR(pg_catalog.=) k.fingerprint
UNION ALL
-- a listed key whose file cannot be used
SELECT NULL, NULL, false, l.listed_at, NULL, NULL, NULL, NULL, NULL, l.problem, NULL
  FROM keylist l WHERE l.fingerprint IS NULL;

COMMENT ON VIEW privacy.key_versions IS
  'the keys of this database (numbered by first use) and of pg_privacy.key_file (listed_at: 1 the current key; problem: a listed file that cannot be used): the audit entries, erasure ledger lines and restrictions made under each, which need it listed to be verified or matched';

-- The declaration tables' triggers fire also under session_replication_role
-- = replica and in logical replication's apply (src/sql/20_catalog.sql).
ALTER TABLE privacy.identifier_kind ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;
ALTER TABLE privacy.legal_basis ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;
ALTER TABLE privacy.purpose ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;
ALTER TABLE privacy.registered_table ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;
ALTER TABLE privacy.registered_column ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;
ALTER TABLE privacy.consent_requirement ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;
ALTER TABLE privacy.retention_policy ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;
ALTER TABLE privacy.subject_table ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;
-- So do the domain grants' trigger (a revoke reaches open sessions) and
-- the triggers that number a declared column on this server.
ALTER TABLE privacy.domain_grant ENABLE ALWAYS TRIGGER domain_grant_changed;
ALTER TABLE privacy.registered_column ENABLE ALWAYS TRIGGER registered_column_attnum;
ALTER TABLE privacy.retention_policy ENABLE ALWAYS TRIGGER retention_policy_attnum;


-- Privileges: every GRANT and REVOKE of the 0.8.0 install script, in its order (generated)

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
