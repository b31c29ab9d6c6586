/* pg_privacy--0.6.0--0.7.0.sql: ALTER EXTENSION pg_privacy UPDATE TO '0.7.0'
 *
 * Assembled by src/upgrade/gen_upgrade.py from src/upgrade/0.6.0--0.7.0.pre.sql,
 * the differences between the 0.6.0 and 0.7.0 install scripts, and
 * src/upgrade/0.6.0--0.7.0.post.sql.  Edit those, not this file.
 */

\echo Use "ALTER EXTENSION pg_privacy UPDATE TO '0.7.0'" to load this file. \quit



-- Tables new in 0.7.0 (generated)

-- Functions removed, or whose arguments or result changed (generated)

DROP FUNCTION privacy_internal._subject_identifiers_json(text[], text[], tstzmultirange[]);

DROP FUNCTION privacy_internal._subject_refs(text[], text[]);

DROP FUNCTION privacy_internal._subject_retention_all();

DROP FUNCTION privacy_internal._subject_consent(text[], text[]);

DROP FUNCTION privacy_internal._subject_requests_json(text[]);

DROP FUNCTION privacy_internal._subject_table_json(regclass, jsonb);


-- Functions new or changed in 0.7.0, in the order of its install script (generated)

CREATE FUNCTION privacy_internal._catalog_changed() RETURNS trigger
  LANGUAGE c
  AS 'MODULE_PATHNAME', 'pgp_catalog_changed';

COMMENT ON FUNCTION privacy_internal._catalog_changed() IS
  'internal: a declaration table changed; drops the sessions'' derived statements and descriptions';

CREATE FUNCTION privacy_internal._key_list()
  RETURNS TABLE(listed_at integer, fingerprint text, problem text)
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_key_list';

COMMENT ON FUNCTION privacy_internal._key_list() IS
  'internal: the keys pg_privacy.key_file lists (current first): fingerprint, or the problem of the file';

CREATE FUNCTION privacy_internal._key_listed(fingerprint text) RETURNS boolean
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_key_listed';

COMMENT ON FUNCTION privacy_internal._key_listed(text) IS
  'internal: whether pg_privacy.key_file lists a key of that fingerprint';

CREATE OR REPLACE FUNCTION privacy.accept_key_change(old_fingerprint text, holds text DEFAULT 'refuse') RETURNS text
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  stored text;
  loaded text := privacy.key_fingerprint();
  held_n bigint;
  held_kinds text;
  ledger text;
BEGIN
  IF old_fingerprint IS NULL THEN
    RAISE EXCEPTION 'old fingerprint must not be null' USING ERRCODE = '22004';
  END IF;
  SELECT s.fingerprint INTO stored FROM privacy.key_state s FOR UPDATE;
  IF stored IS NULL THEN
    RAISE EXCEPTION 'this database has no recorded key'
      USING ERRCODE = '55000',
            HINT = 'The first keyed work records the loaded key; there is nothing to change.';
  END IF;
  IF stored OPERATOR(pg_catalog.<>) old_fingerprint THEN
    RAISE EXCEPTION 'fingerprint % is not the database''s key', old_fingerprint
      USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('The database''s key has fingerprint %s.', stored);
  END IF;
  IF stored OPERATOR(pg_catalog.=) loaded THEN
    RAISE EXCEPTION 'the loaded key is already the database''s key' USING ERRCODE = '55000';
  END IF;
  -- A legal hold finds the rows that hold its identifier in a protected
  -- column by transforming the identifier under the current key: rows
  -- written under the replaced key would no longer be recognized, and the
  -- purge or an erasure would remove what the hold must keep.  Refuse
  -- while such a hold is active.
  SELECT pg_catalog.count(*), pg_catalog.string_agg(DISTINCT h.kind, ', ')
    INTO held_n, held_kinds
    FROM privacy.legal_hold h
   WHERE h.released_at IS NULL
     AND (h.until IS NULL OR h.until OPERATOR(pg_catalog.>) pg_catalog.now())
     AND EXISTS (SELECT FROM privacy.registered_column c
                  WHERE c.identifies OPERATOR(pg_catalog.=) h.kind
                    AND c.protect IN ('pseudonym', 'msisdn_fpe', 'email_pseudonym'));
  IF holds IS NULL OR holds NOT IN ('refuse', 'release') THEN
    RAISE EXCEPTION 'invalid holds option "%"', holds
      USING ERRCODE = '22023', HINT = 'Use ''refuse'' (the default) or ''release''.';
  END IF;
  IF held_n OPERATOR(pg_catalog.>) 0 AND holds OPERATOR(pg_catalog.=) 'refuse' THEN
    RAISE EXCEPTION 'cannot accept a new key while legal holds cover protected columns'
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('%s active hold(s) on %s identifiers; rows protected under the key %s would no longer be recognized as held.',
                                       held_n, held_kinds, stored),
            HINT = 'Install the key file of the database''s key again; or secure the rows the holds keep and call accept_key_change(..., holds => ''release''), which releases them with the key change.';
  END IF;
  IF held_n OPERATOR(pg_catalog.>) 0 THEN
    -- released with the key change, explicitly: recorded in its audit entry
    UPDATE privacy.legal_hold h SET released_at = pg_catalog.now(), released_by = privacy_internal._invoker()
     WHERE h.released_at IS NULL
       AND (h.until IS NULL OR h.until OPERATOR(pg_catalog.>) pg_catalog.now())
       AND EXISTS (SELECT FROM privacy.registered_column c
                    WHERE c.identifies OPERATOR(pg_catalog.=) h.kind
                      AND c.protect IN ('pseudonym', 'msisdn_fpe', 'email_pseudonym'));
  END IF;
  UPDATE privacy.key_state SET fingerprint = loaded, recorded_at = pg_catalog.now();
  -- With an erasure ledger: the change is a line of the database's chain,
  -- made under the replaced key; without that key, a new chain
  -- (src/sql/75_subject_ledger.sql).
  ledger := privacy_internal._ledger_record_key_change(stored, loaded);
  -- The audit entries and erasure ledger lines made under the replaced key
  -- are checked with it: kept listed after the new one, they stay
  -- verifiable (privacy.key_versions).
  IF NOT privacy_internal._key_listed(stored) THEN
    RAISE WARNING 'the replaced key % is not listed in pg_privacy.key_file', stored
      USING DETAIL = 'The audit entries and erasure ledger lines made under it cannot be verified while it is not.'
                     || CASE WHEN ledger OPERATOR(pg_catalog.=) 'forked'
                             THEN ' This database''s erasures go on in a new chain of the erasure ledger.' ELSE '' END,
            HINT = pg_catalog.format('List its file after the new key''s in pg_privacy.key_file (see privacy.key_versions), or keep the key file of fingerprint %s where it can be listed again.', stored);
  END IF;
  PERFORM privacy_internal._invalidate('privacy.key_state'::regclass);
  PERFORM privacy_internal._audit('key.change', NULL,
                         pg_catalog.jsonb_build_object('from', stored, 'to', loaded,
                                                       'holds_released', held_n, 'erasure_ledger', ledger));
  RETURN loaded;
END
$$;

CREATE OR REPLACE FUNCTION privacy_internal._audit_verify(head_id bigint, head_hash bytea) RETURNS bigint
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r          record;
  prev       bytea := '\x'::bytea;
  last_id    bigint := 0;
  head       record;
  fp         text;
  head_seen  boolean := false;
  other_from bigint;
  other_to   bigint;
  other_fp   text;
  legacy     record;
  keyed_seen boolean := false;
  legacy_end boolean := false;
  cur_key    text;      -- the key of the keyed entries so far
  seg_start  bigint;    -- the first entry under it
  db_key     text;
BEGIN
  -- Fails closed (55000) when no usable key is loaded.
  fp := privacy.key_fingerprint();
  -- the head of the 0.1.0 chain of an updated database (none: fresh install)
  SELECT * INTO legacy FROM privacy.audit_legacy;
  FOR r IN SELECT * FROM privacy.audit_log ORDER BY id LOOP
    -- the supplied head's entry was passed over: it is not in the chain
    IF head_id IS NOT NULL AND NOT head_seen AND r.id OPERATOR(pg_catalog.>) head_id THEN
      RETURN head_id;
    END IF;
    IF (r.prev_hash OPERATOR(pg_catalog.=) prev) IS NOT TRUE THEN
      RETURN r.id;
    END IF;
    IF r.key_fingerprint IS NULL THEN
      -- A 0.1.0 entry (plain SHA-256, weaker: see audit_legacy).  Only the
      -- prefix of the chain up to the recorded legacy head may be legacy:
      -- never after a keyed entry, never on a fresh install.
      IF keyed_seen OR legacy_end OR legacy.last_id IS NULL
         OR r.id OPERATOR(pg_catalog.>) legacy.last_id
         OR (r.hash OPERATOR(pg_catalog.=) privacy_internal._audit_legacy_digest(
               r.prev_hash, r.id, r.at, r.actor, r.role, r.event, r.object, r.detail)) IS NOT TRUE THEN
        RETURN r.id;
      END IF;
      IF r.id OPERATOR(pg_catalog.=) legacy.last_id THEN
        IF (r.hash OPERATOR(pg_catalog.=) legacy.last_hash) IS NOT TRUE THEN
          RETURN r.id;
        END IF;
        legacy_end := true;
      END IF;
    ELSIF (r.key_fingerprint OPERATOR(pg_catalog.=) fp) IS TRUE
          OR (r.key_fingerprint IS NOT NULL AND privacy_internal._key_listed(r.key_fingerprint)) THEN
      -- under the loaded key, or an older one pg_privacy.key_file lists
      -- (_audit_digest takes the key the entry names).
      -- The legacy prefix, when there is one, ends at its recorded head
      IF legacy.last_id IS NOT NULL AND NOT legacy_end THEN
        RETURN r.id;
      END IF;
      keyed_seen := true;
      -- The chain's key changes only where accept_key_change says so: its
      -- entry, under the new key, names the key before and the new one.
      -- Whoever still holds a replaced key cannot append under it.
      IF cur_key IS NOT NULL AND r.key_fingerprint OPERATOR(pg_catalog.<>) cur_key
         AND (r.event OPERATOR(pg_catalog.<>) 'key.change'
              OR (r.detail OPERATOR(pg_catalog.->>) 'from') IS DISTINCT FROM cur_key
              OR (r.detail OPERATOR(pg_catalog.->>) 'to') IS DISTINCT FROM r.key_fingerprint) THEN
        RETURN r.id;
      END IF;
      IF cur_key IS DISTINCT FROM r.key_fingerprint THEN
        seg_start := r.id;
      END IF;
      cur_key := r.key_fingerprint;
      IF (r.hash OPERATOR(pg_catalog.=) privacy_internal._audit_digest(
            r.prev_hash, r.id, r.at, r.actor, r.role, r.event, r.object, r.detail,
            r.key_fingerprint)) IS NOT TRUE THEN
        RETURN r.id;
      END IF;
    ELSE
      -- chained under a key not listed: links are checked, MACs cannot be
      IF legacy.last_id IS NOT NULL AND NOT legacy_end THEN
        RETURN r.id;
      END IF;
      -- (never intact then: 55000 below, whatever else the walk finds)
      keyed_seen := true;
      other_from := COALESCE(other_from, r.id);
      other_to := r.id;
      other_fp := COALESCE(other_fp, r.key_fingerprint, '(none)');
    END IF;
    IF r.id OPERATOR(pg_catalog.=) head_id THEN
      IF (r.hash OPERATOR(pg_catalog.=) head_hash) IS NOT TRUE THEN
        RETURN head_id;
      END IF;
      head_seen := true;
    END IF;
    prev := r.hash;
    last_id := r.id;
  END LOOP;
  IF head_id IS NOT NULL AND NOT head_seen THEN
    RETURN head_id;
  END IF;
  -- the recorded legacy head must be in the chain
  IF legacy.last_id IS NOT NULL AND NOT legacy_end THEN
    RETURN legacy.last_id;
  END IF;
  SELECT * INTO head FROM privacy.audit_head;
  IF FOUND AND ((head.last_id OPERATOR(pg_catalog.=) last_id) IS NOT TRUE
                OR (head.last_hash OPERATOR(pg_catalog.=) prev) IS NOT TRUE) THEN
    RETURN COALESCE(head.last_id, last_id);
  END IF;
  IF NOT FOUND AND last_id OPERATOR(pg_catalog.<>) 0 THEN
    RETURN last_id;
  END IF;
  -- The newest entries are under the database's key: a tail under an
  -- older key was appended by whoever still holds it.
  IF other_from IS NULL AND cur_key IS DISTINCT FROM fp AND cur_key IS NOT NULL THEN
    SELECT s.fingerprint INTO db_key FROM privacy.key_state s;
    IF db_key IS DISTINCT FROM fp THEN
      RAISE EXCEPTION 'the loaded key is not the database''s key'
        USING ERRCODE = '55000',
              DETAIL = pg_catalog.format('The database''s key is %s; the loaded key is %s.', db_key, fp),
              HINT = 'Verify the audit log once the key change is declared with accept_key_change, or with the database''s key loaded.';
    END IF;
    RETURN seg_start;
  END IF;
  IF other_from IS NOT NULL THEN
    RAISE EXCEPTION 'the audit log was chained under another key'
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('Entries %s to %s name key %s, which pg_privacy.key_file does not list; the loaded key is %s.',
                                       other_from, other_to,
                                       CASE WHEN other_fp OPERATOR(pg_catalog.~) '^pgp1:[0-9a-f]{16}$' THEN other_fp
                                            ELSE '(not a key fingerprint)' END, fp),
            HINT = 'List the file of that key after the current one in pg_privacy.key_file and reload '
                   '(privacy.key_versions shows the keys the log needs); its entries cannot be verified under another key.';
  END IF;
  RETURN NULL;
END
$$;

CREATE FUNCTION privacy_internal._audit_ref_under(fingerprint text, kind text, value text) RETURNS text
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_audit_ref_under';

COMMENT ON FUNCTION privacy_internal._audit_ref_under(text, text, text) IS
  'internal: _audit_ref under the listed key of a fingerprint';

CREATE FUNCTION privacy_internal._subject_tables_json(tbls oid[])
  RETURNS jsonb
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
  RETURN (
  SELECT COALESCE(pg_catalog.jsonb_agg(
           CASE WHEN t.tbl IS NOT NULL THEN
           pg_catalog.jsonb_build_object(
             'table', t.tbl::text,
             'purpose', p.name,
             'purpose_description', p.description,
             'legal_basis', p.legal_basis,
             'legal_basis_article', b.article,
             'recipients', pg_catalog.to_jsonb(p.recipients),
             'retention', CASE WHEN rp.tbl IS NOT NULL THEN
                            pg_catalog.jsonb_build_object('time_column', rp.time_column, 'keep', rp.keep,
                                                          'action', rp.action, 'keep_at_least', rp.keep_at_least) END,
             'source', s.source,
             'categories', (SELECT pg_catalog.jsonb_agg(DISTINCT rc.category)
                              FROM privacy.registered_column rc WHERE rc.tbl OPERATOR(pg_catalog.=) t.tbl)) END
           ORDER BY d.o), '[]')
    FROM pg_catalog.unnest(tbls) WITH ORDINALITY d(t, o)
    LEFT JOIN privacy.registered_table t ON t.tbl::pg_catalog.oid OPERATOR(pg_catalog.=) d.t
    LEFT JOIN privacy.purpose p ON p.name OPERATOR(pg_catalog.=) t.purpose
    LEFT JOIN privacy.legal_basis b ON b.name OPERATOR(pg_catalog.=) p.legal_basis
    LEFT JOIN privacy.subject_table s ON s.tbl OPERATOR(pg_catalog.=) t.tbl
    LEFT JOIN privacy.retention_policy rp ON rp.tbl OPERATOR(pg_catalog.=) t.tbl);
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
           'restricted', EXISTS (SELECT FROM privacy.restriction x
                                  WHERE x.subject_ref OPERATOR(pg_catalog.=) ANY (r.refs)
                                    AND (x.until IS NULL OR x.until OPERATOR(pg_catalog.>) pg_catalog.now())),
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
    -- the identifiers' keyed references, computed once
    FROM (SELECT COALESCE(pg_catalog.array_agg(privacy_internal._audit_ref(u.k, u.v)), '{}') AS refs
            FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(vals)) u(k, v)) r);
END
$$;

CREATE OR REPLACE FUNCTION privacy_internal._subject_export_stream(kind text, value text, chunk_rows integer, at timestamptz)
  RETURNS TABLE(part integer, section text, table_name regclass, data jsonb)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  dc     text := privacy_internal._default_country();
  ids    record;
  params jsonb;
  t      record;
  r      record;
  rs     record;
  chunk  jsonb[];
  cpri   integer;
  meta   boolean;
BEGIN
  IF chunk_rows IS NULL OR chunk_rows OPERATOR(pg_catalog.<) 1 THEN
    RAISE EXCEPTION 'chunk_rows must be at least 1' USING ERRCODE = '22023';
  END IF;
  ids := privacy_internal._subject_identifiers(kind, value, at);
  params := privacy_internal._subject_params(ids.kinds, ids.vals, ids.spans);
  part := 0;
  section := 'subject';
  table_name := NULL;
  data := privacy_internal._subject_header(kind, ids.vals[1], ids.kinds, ids.vals, ids.spans);
  RETURN NEXT;
  FOR t IN SELECT sc.tbl FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc GROUP BY sc.tbl ORDER BY sc.tbl::text LOOP
    CONTINUE WHEN NOT EXISTS (SELECT FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc
                               WHERE sc.tbl OPERATOR(pg_catalog.=) t.tbl
                                 AND params OPERATOR(pg_catalog.?) (sc.tbl::oid::text || '.' || sc.attnum::text));
    rs := privacy_internal._subject_rows_sql(t.tbl, dc);
    CONTINUE WHEN rs.q IS NULL;
    meta := false;
    chunk := '{}';
    cpri := 0;
    -- the rows, read as the table's owner (in order of pri); shown here
    FOR r IN EXECUTE 'SELECT x.pri, ' || rs.shown || ' AS j
                        FROM privacy_internal._subject_rows($1, $2, $3) x'
               USING t.tbl, rs.q, params LOOP
      IF NOT meta THEN
        part := part OPERATOR(pg_catalog.+) 1;
        section := 'table';
        table_name := t.tbl;
        data := privacy_internal._subject_tables_json(ARRAY[t.tbl::pg_catalog.oid]) OPERATOR(pg_catalog.->) 0;
        RETURN NEXT;
        meta := true;
      END IF;
      IF r.pri OPERATOR(pg_catalog.<>) cpri OR pg_catalog.cardinality(chunk) OPERATOR(pg_catalog.>=) chunk_rows THEN
        IF pg_catalog.cardinality(chunk) OPERATOR(pg_catalog.>) 0 THEN
          part := part OPERATOR(pg_catalog.+) 1;
          section := CASE cpri WHEN 0 THEN 'rows' ELSE 'mentions' END;
          data := pg_catalog.to_jsonb(chunk);
          RETURN NEXT;
        END IF;
        chunk := '{}';
        cpri := r.pri;
      END IF;
      chunk := chunk OPERATOR(pg_catalog.||) r.j;
    END LOOP;
    IF pg_catalog.cardinality(chunk) OPERATOR(pg_catalog.>) 0 THEN
      part := part OPERATOR(pg_catalog.+) 1;
      section := CASE cpri WHEN 0 THEN 'rows' ELSE 'mentions' END;
      table_name := t.tbl;
      data := pg_catalog.to_jsonb(chunk);
      RETURN NEXT;
    END IF;
  END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION privacy_internal._ledger_entries()
  RETURNS TABLE(lineno bigint, chain uuid, db uuid, seq bigint, at timestamptz, datname text, type text,
                ids jsonb, report jsonb, requests jsonb, key_fingerprint text,
                prev text, mac text, mac_ok boolean, verified boolean, body jsonb)
  LANGUAGE sql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT z.lineno, z.chain, z.db, z.seq, z.at, z.datname, z.type, z.ids, z.report, z.requests, z.key_fingerprint,
         z.prev, z.mac, z.mac_ok,
         CASE WHEN COALESCE(z.type IN ('erasure', 'key_change')
                            AND z.db OPERATOR(pg_catalog.=) z.chain
                            AND CASE WHEN pg_catalog.lag(z.lineno) OVER w IS NULL
                                     THEN z.seq OPERATOR(pg_catalog.=) 1 AND z.prev IS NULL
                                     ELSE pg_catalog.lag(z.mac) OVER w OPERATOR(pg_catalog.=) z.prev
                                          AND pg_catalog.lag(z.seq) OVER w OPERATOR(pg_catalog.+) 1 OPERATOR(pg_catalog.=) z.seq END
                            -- under the key in force: after a key change, the new one
                            AND CASE WHEN z.type OPERATOR(pg_catalog.=) 'key_change'
                                     THEN z.key_fingerprint OPERATOR(pg_catalog.=) z.mfrom AND z.mto IS NOT NULL
                                          AND (pg_catalog.lag(z.in_force) OVER w IS NULL
                                               OR z.mfrom OPERATOR(pg_catalog.=) pg_catalog.lag(z.in_force) OVER w)
                                     ELSE z.in_force IS NULL OR z.key_fingerprint OPERATOR(pg_catalog.=) z.in_force END,
                            false) IS NOT TRUE THEN false
              ELSE z.mac_ok END,
         z.body
    FROM (SELECT y.*, pg_catalog.first_value(y.mto) OVER (PARTITION BY y.chain, y.changes ORDER BY y.lineno) AS in_force
            FROM (SELECT x.*,
                         pg_catalog.count(*) FILTER (WHERE x.type OPERATOR(pg_catalog.=) 'key_change')
                           OVER (PARTITION BY x.chain ORDER BY x.lineno ROWS UNBOUNDED PRECEDING) AS changes
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
                 CASE WHEN l.body OPERATOR(pg_catalog.->>) 'type' OPERATOR(pg_catalog.=) 'key_change' THEN l.body OPERATOR(pg_catalog.->>) 'from' END AS mfrom,
                 CASE WHEN l.body OPERATOR(pg_catalog.->>) 'type' OPERATOR(pg_catalog.=) 'key_change' THEN l.body OPERATOR(pg_catalog.->>) 'to' END AS mto,
                 CASE WHEN l.body IS NULL OR pg_catalog.jsonb_typeof(l.body OPERATOR(pg_catalog.->) 'key') IS DISTINCT FROM 'string'
                           OR pg_catalog.jsonb_typeof(l.body OPERATOR(pg_catalog.->) 'mac') IS DISTINCT FROM 'string' THEN false
                      WHEN privacy_internal._key_listed(l.body OPERATOR(pg_catalog.->>) 'key') THEN
                        (l.body OPERATOR(pg_catalog.->>) 'mac') OPERATOR(pg_catalog.=)
                          privacy_internal._audit_ref_under(l.body OPERATOR(pg_catalog.->>) 'key', 'pg_privacy erasure ledger',
                                                            (l.body OPERATOR(pg_catalog.-) 'mac')::text)
                 END AS mac_ok
            FROM privacy_internal._ledger_lines() l
            -- every identity the line's text names: its chains
            LEFT JOIN LATERAL (SELECT DISTINCT m[1]::uuid AS chain
                                 FROM pg_catalog.regexp_matches(COALESCE(l.line, ''),
                                        '([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})', 'g') m) c ON true) x) y) z
  WINDOW w AS (PARTITION BY z.chain ORDER BY z.lineno)
$$;

CREATE FUNCTION privacy_internal._ledger_key_lines()
  RETURNS TABLE(fingerprint text, lines bigint)
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  s privacy.erasure_ledger_state;
BEGIN
  IF NOT privacy_internal._ledger_configured() THEN
    RETURN;
  END IF;
  s := privacy_internal._ledger_identity();
  RETURN QUERY
    SELECT l.body OPERATOR(pg_catalog.->>) 'key', pg_catalog.count(*)
      FROM privacy_internal._ledger_lines() l
     WHERE l.body OPERATOR(pg_catalog.->>) 'db' OPERATOR(pg_catalog.=) s.database_id::text
        OR l.body OPERATOR(pg_catalog.->>) 'db' OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT src OPERATOR(pg_catalog.->>) 'db'
                                                                               FROM pg_catalog.jsonb_array_elements(s.sources) src))
     GROUP BY 1;
END
$$;

COMMENT ON FUNCTION privacy_internal._ledger_key_lines() IS
  'internal: this database''s erasure ledger lines per key fingerprint';

CREATE FUNCTION privacy_internal._ledger_record_key_change(old_fp text, new_fp text) RETURNS text
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  s     privacy.erasure_ledger_state;
  entry jsonb;
  mac   text;
BEGIN
  -- refused (55000) unless the database is where its ledger is: replay
  -- first, so that no restored database skips its replay by a key change
  s := privacy_internal._ledger_check();
  IF s.database_id IS NULL OR s.last_seq OPERATOR(pg_catalog.=) 0 THEN
    RETURN NULL;
  END IF;
  IF NOT privacy_internal._key_listed(old_fp) THEN
    PERFORM privacy_internal._ledger_fork(s.database_id);
    RETURN 'forked';
  END IF;
  entry := pg_catalog.jsonb_build_object(
    'v', 1, 'type', 'key_change', 'db', s.database_id, 'seq', s.last_seq OPERATOR(pg_catalog.+) 1,
    'at', pg_catalog.clock_timestamp(), 'datname', pg_catalog.current_database(),
    'from', old_fp, 'to', new_fp, 'key', old_fp, 'prev', s.last_mac);
  mac := privacy_internal._audit_ref_under(old_fp, 'pg_privacy erasure ledger', entry::text);
  PERFORM privacy_internal._ledger_queue((entry OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('mac', mac))::text);
  UPDATE privacy.erasure_ledger_state x
     SET last_seq = s.last_seq OPERATOR(pg_catalog.+) 1, last_mac = mac, last_at = pg_catalog.clock_timestamp()
   WHERE x.database_id OPERATOR(pg_catalog.=) s.database_id;
  RETURN 'recorded';
END
$$;

COMMENT ON FUNCTION privacy_internal._ledger_record_key_change(text, text) IS
  'internal: queues the line of a key change in the database''s erasure ledger chain, under the replaced key (or forks the chain when that key is not listed)';

CREATE OR REPLACE FUNCTION privacy.replay_erasures(since timestamptz DEFAULT NULL)
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
  ekeys  text[];
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
  -- The first line that is not as written, after where this database is
  -- or among those since asks for again: made under a key
  -- pg_privacy.key_file does not list (it cannot be checked), or damaged.
  -- Nothing is replayed.
  SELECT l INTO bad FROM pg_catalog.jsonb_array_elements(lines) l
   WHERE (l OPERATOR(pg_catalog.->>) 'verified')::boolean IS NOT TRUE
     AND ((l OPERATOR(pg_catalog.->>) 'lineno')::bigint OPERATOR(pg_catalog.>) COALESCE(
           (SELECT pg_catalog.max((a OPERATOR(pg_catalog.->>) 'lineno')::bigint) FROM pg_catalog.jsonb_array_elements(lines) a
             WHERE (a OPERATOR(pg_catalog.->>) 'chain') OPERATOR(pg_catalog.=) (l OPERATOR(pg_catalog.->>) 'chain')
               AND (a OPERATOR(pg_catalog.->>) 'seq')::bigint OPERATOR(pg_catalog.=) (l OPERATOR(pg_catalog.->>) 'from')::bigint
               AND (l OPERATOR(pg_catalog.->>) 'from')::bigint OPERATOR(pg_catalog.>) 0), 0)
          OR (since IS NOT NULL AND ((l OPERATOR(pg_catalog.->>) 'at')::timestamptz OPERATOR(pg_catalog.>=) since
                                     OR l OPERATOR(pg_catalog.->>) 'at' IS NULL)))
   ORDER BY (l OPERATOR(pg_catalog.->>) 'lineno')::bigint LIMIT 1;
  IF FOUND AND pg_catalog.jsonb_typeof(bad OPERATOR(pg_catalog.->) 'verified') OPERATOR(pg_catalog.=) 'null' THEN
    RAISE EXCEPTION 'line % of the erasure ledger was made under key %, which pg_privacy.key_file does not list',
                    bad OPERATOR(pg_catalog.->>) 'lineno',
                    CASE WHEN bad OPERATOR(pg_catalog.#>>) '{body,key}' OPERATOR(pg_catalog.~) '^pgp1:[0-9a-f]{16}$'
                         THEN bad OPERATOR(pg_catalog.#>>) '{body,key}' ELSE '(not a key fingerprint)' END
      USING ERRCODE = '55000',
            DETAIL = 'Its MAC can be checked, and its subject matched, only with that key: it was written before a key change, or not by pg_privacy.',
            HINT = 'List the file of that key after the current one in pg_privacy.key_file and reload (privacy.key_versions); nothing was replayed.';
  ELSIF FOUND THEN
    RAISE EXCEPTION 'the erasure ledger is damaged or was altered at line %', bad OPERATOR(pg_catalog.->>) 'lineno'
      USING ERRCODE = 'XX001',
            DETAIL = 'Its MAC does not verify under the key it names, it does not follow the entry before it, or it is not an entry.',
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
  -- the keys the entries were made under (each entry's references are
  -- under its own)
  ekeys := ARRAY(SELECT DISTINCT t OPERATOR(pg_catalog.->>) 'key' FROM pg_catalog.jsonb_array_elements(todo) t);
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
                FROM (SELECT c.kind || ':' || privacy_internal._audit_ref_under(kf.fp, 'ledger:' || c.kind, z.v) AS key, z.v
                        FROM (SELECT CASE WHEN dom IS NULL THEN r.j OPERATOR(pg_catalog.#>>) '{}'
                                          ELSE privacy_internal._msisdn_decrypt(r.j OPERATOR(pg_catalog.#>>) '{}', dom) END AS v
                                FROM privacy_internal._subject_rows(c.tbl, q, '{}'::jsonb) r) z,
                             pg_catalog.unnest(ekeys) kf(fp)
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
    IF e OPERATOR(pg_catalog.->>) 'type' OPERATOR(pg_catalog.=) 'key_change' THEN
      -- a key change: nothing to apply; the database's place moves past it
      result := NULL;
    ELSIF fv IS NULL THEN
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
                            AND i OPERATOR(pg_catalog.->>) 'ref' OPERATOR(pg_catalog.=)
                                privacy_internal._audit_ref_under(e OPERATOR(pg_catalog.->>) 'key', 'ledger:' || u.k, u.v));
      IF strangers OPERATOR(pg_catalog.>) 0 THEN
        result := 'ambiguous: not erased';
      ELSE
        SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x)), '[]') INTO report
          FROM privacy_internal._subject_erase(fk, fv, NULL) x;
        result := 'erased again';
      END IF;
    END IF;
    IF result IS NOT NULL THEN
      PERFORM privacy_internal._audit('subject.erase_replay', NULL,
        pg_catalog.jsonb_build_object('database', eid, 'seq', eseq, 'erased_at', eat,
                                      'kind', fk, 'subject', fref, 'result', result,
                                      'report', (SELECT COALESCE(pg_catalog.jsonb_agg(r OPERATOR(pg_catalog.-) 'reason'), '[]')
                                                   FROM pg_catalog.jsonb_array_elements(report) r)));
    END IF;
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
    IF result IS NOT NULL THEN
      database_id := eid;
      seq := eseq;
      erased_at := eat;
      RETURN NEXT;
    END IF;
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
    SELECT pg_catalog.string_agg(pg_catalog.format('%s (version %s: %s audit entries, %s ledger lines)',
                                                   v.fingerprint, v.version, v.audit_entries, v.ledger_lines), '; ' ORDER BY v.version)
             FILTER (WHERE v.needed AND v.listed_at IS NULL AND v.fingerprint IS NOT NULL),
           pg_catalog.count(*) FILTER (WHERE v.needed AND v.listed_at IS NULL AND v.fingerprint IS NOT NULL),
           pg_catalog.string_agg(v.listed_at || ': ' || v.problem, '; ' ORDER BY v.listed_at) FILTER (WHERE v.fingerprint IS NULL),
           pg_catalog.count(*) FILTER (WHERE v.fingerprint IS NULL),
           pg_catalog.count(*) FILTER (WHERE v.listed_at IS NOT NULL)
      INTO conn, n, stored, m, nkeys
      FROM privacy.key_versions v;
    IF m OPERATOR(pg_catalog.>) 0 THEN
      status := 'error';
      detail := pg_catalog.format('pg_privacy.key_file lists key files that cannot be used: %s', stored);
      hint := 'Fix or remove them and reload: checking what was made under an older key fails while one cannot be read.';
    ELSIF n OPERATOR(pg_catalog.>) 0 THEN
      status := 'warning';
      detail := pg_catalog.format('what was made under %s replaced key(s) cannot be verified: %s', n, conn);
      hint := 'List the file of each after the current key''s in pg_privacy.key_file and reload; verify_audit_log and replay_erasures refuse until then.';
    ELSE
      status := 'ok';
      detail := pg_catalog.format('%s key(s) listed; every key the audit log and the erasure ledger need is listed', nkeys);
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

COMMENT ON FUNCTION privacy.health() IS
  'is pg_privacy working? one row per area (library, key, key history, purge, subject requests, catalog, undeclared columns, protection, restrictions and holds, masking, erasure ledger) with status ok, warning or error, what was found and what to do; read-only, runs on a standby';

-- Views, triggers, comments and configuration new or changed in 0.7.0 (generated)

CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE ON privacy.identifier_kind
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._catalog_changed();

CREATE TRIGGER catalog_truncated AFTER TRUNCATE ON privacy.identifier_kind
  FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._catalog_changed();

CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE ON privacy.legal_basis
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._catalog_changed();

CREATE TRIGGER catalog_truncated AFTER TRUNCATE ON privacy.legal_basis
  FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._catalog_changed();

CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE ON privacy.purpose
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._catalog_changed();

CREATE TRIGGER catalog_truncated AFTER TRUNCATE ON privacy.purpose
  FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._catalog_changed();

CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE ON privacy.registered_table
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._catalog_changed();

CREATE TRIGGER catalog_truncated AFTER TRUNCATE ON privacy.registered_table
  FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._catalog_changed();

CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE ON privacy.registered_column
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._catalog_changed();

CREATE TRIGGER catalog_truncated AFTER TRUNCATE ON privacy.registered_column
  FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._catalog_changed();

CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE ON privacy.consent_requirement
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._catalog_changed();

CREATE TRIGGER catalog_truncated AFTER TRUNCATE ON privacy.consent_requirement
  FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._catalog_changed();

CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE ON privacy.retention_policy
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._catalog_changed();

CREATE TRIGGER catalog_truncated AFTER TRUNCATE ON privacy.retention_policy
  FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._catalog_changed();

CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE ON privacy.subject_table
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._catalog_changed();

CREATE TRIGGER catalog_truncated AFTER TRUNCATE ON privacy.subject_table
  FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._catalog_changed();

CREATE OR REPLACE VIEW privacy.erasure_ledger AS
SELECT e.lineno AS line, e.chain AS database_id, e.seq, e.at AS erased_at, e.datname AS database_name,
       e.ids AS identifiers, e.report, e.requests, e.key_fingerprint, COALESCE(e.verified, false) AS verified,
       e.chain OPERATOR(pg_catalog.=) s.database_id AS this_database,
       e.mac_ok IS NOT NULL AS key_listed,
       e.type AS entry_type
  FROM privacy_internal._ledger_entries() e
  JOIN LATERAL privacy_internal._ledger_identity() s ON true
 WHERE e.chain OPERATOR(pg_catalog.=) s.database_id
    OR e.chain::text OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT src OPERATOR(pg_catalog.->>) 'db'
                                                      FROM pg_catalog.jsonb_array_elements(s.sources) src));

COMMENT ON VIEW privacy.erasure_ledger IS
  'this database''s lines of the erasure ledger file (pg_privacy.erasure_ledger_file): one row per erasure (entry_type erasure) or key change (key_change), subjects by keyed reference only, verified against the key it names and the chain (false too when that key is not listed in pg_privacy.key_file: key_listed); this_database: its own chain, else one it was restored or copied from';

CREATE VIEW privacy.key_versions AS
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
used AS (
  SELECT u.fingerprint, pg_catalog.min(u.o) AS o
    FROM (SELECT a.fingerprint, a.first_id::numeric AS o FROM audit a
          UNION ALL SELECT s.fingerprint, 1e30 FROM state s
          UNION ALL SELECT g.fingerprint, 1e31 FROM ledger g WHERE g.fingerprint IS NOT NULL) u
   GROUP BY u.fingerprint),
known AS (
  SELECT u.fingerprint FROM used u
  UNION SELECT l.fingerprint FROM listed l WHERE l.fingerprint IS NOT NULL)
SELECT CASE WHEN u.o IS NOT NULL THEN (SELECT pg_catalog.count(*) FROM used v WHERE v.o OPERATOR(pg_catalog.<=) u.o) END AS version,
       k.fingerprint,
       k.fingerprint OPERATOR(pg_catalog.=) COALESCE((SELECT s.fingerprint FROM state s),
                                                      (SELECT l.fingerprint FROM listed l WHERE l.listed_at OPERATOR(pg_catalog.=) 1)) AS current,
       l.listed_at,
       COALESCE(a.entries, 0) AS audit_entries,
       COALESCE(g.lines, 0) AS ledger_lines,
       COALESCE(a.first_at, (SELECT s.recorded_at FROM state s WHERE s.fingerprint OPERATOR(pg_catalog.=) k.fingerprint)) AS first_used,
       a.last_at AS last_used,
       COALESCE(a.entries, 0) OPERATOR(pg_catalog.>) 0 OR COALESCE(g.lines, 0) OPERATOR(pg_catalog.>) 0
         OR k.fingerprint OPERATOR(pg_catalog.=) (SELECT s.fingerprint FROM state s) AS needed,
       NULL::text AS problem
  FROM known k
  LEFT JOIN used u ON u.fingerprint OPERATOR(pg_catalog.=) k.fingerprint
  LEFT JOIN listed l ON l.fingerprint OPERATOR(pg_catalog.=) k.fingerprint
  LEFT JOIN audit a ON a.fingerprint OPERATOR(pg_catalog.=) k.fingerprint
  LEFT JOIN ledger g ON g.fingerprint OPERATOR(pg_catalog.=) k.fingerprint
UNION ALL
-- a listed key whose file cannot be used
SELECT NULL, NULL, false, l.listed_at, NULL, NULL, NULL, NULL, NULL, l.problem
  FROM keylist l WHERE l.fingerprint IS NULL;

COMMENT ON VIEW privacy.key_versions IS
  'the keys of this database (numbered by first use) and of pg_privacy.key_file (listed_at: 1 the current key; problem: a listed file that cannot be used): the audit entries and erasure ledger lines made under each, which need it listed to be verified';




-- Privileges: every GRANT and REVOKE of the 0.7.0 install script, in its order (generated)

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
