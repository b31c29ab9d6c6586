-- The erasure ledger: erasures that survive a restore (GDPR Art. 17).
--
-- An erasure is undone by any restore of a backup taken before it: the
-- subject comes back with the rest of the database.  So every erasure is
-- also written, as it commits, to a file outside the data directory that
-- no restore touches (pg_privacy.erasure_ledger_file, src/ledger.c), and
-- after a restore privacy.replay_erasures() erases again every subject the
-- ledger names that the restored database does not know was erased.
--
-- An entry names the subject by the keyed references of its identifiers
-- (privacy_internal._audit_ref, as the audit log does), never by an
-- identifier: whoever reads the file learns nothing without the key, and
-- the restored database, which holds the identifiers, recognizes them.
-- It says when, which open erasure requests it answered, and per table
-- what was deleted, scrubbed and kept, with the kind of reason for what
-- was kept (a hold's free-text reason is not copied).  The entries of one
-- database form a chain: each has the database's identity, a sequence
-- number, the MAC of the previous entry and its own MAC under the key
-- (any change to a line is seen).
--
-- The database remembers where it is in its chain
-- (privacy.erasure_ledger_state, dumped with it).  A database restored
-- from an older backup is behind its ledger: its erasures are refused
-- (55000) until replay_erasures() has run.  A database restored into
-- another cluster, or copied into another database, is somewhere else
-- than where its state was written (privacy_internal._ledger_here()):
-- replay_erasures() applies the ledger to it too, and then it starts a
-- chain of its own, remembering where it came from, so that a copy's own
-- erasures never reach the original and the original's later ones are
-- still replayed into the copy when it is asked to.

-- Where this database lives: the cluster's system identifier and the
-- database's OID.
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

-- Where this database is in its chain.  One row; a restore adds the
-- dumped row beside the one CREATE EXTENSION made, and the older one is
-- the database's (privacy_internal._ledger_state).
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
COMMENT ON TABLE privacy.erasure_ledger_state IS
  'pg_privacy: this database''s identity and position in the erasure ledger (sources: the databases it was restored or copied from, and how far their erasures are applied here)';
INSERT INTO privacy.erasure_ledger_state (here) VALUES (privacy_internal._ledger_here());
SELECT pg_catalog.pg_extension_config_dump('privacy.erasure_ledger_state', '');

-- The database's state row, locked; the other rows (a restore's) gone.
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

-- The ledger's entries: each line parsed (NULL where a field is missing
-- or malformed), and whether it is as written: its MAC under the key it
-- names (the loaded one, or an older one pg_privacy.key_file lists; NULL,
-- unknown, under a key not listed), and its place in its database's chain.  A line is counted in the
-- chain of every database identity its text names, whether it parses or
-- not (a garbled or foreign line in a chain breaks it); the first line of
-- a chain is its number 1 with no previous MAC, each next one the number
-- after and carrying the MAC of the line before it.  A key change is a line
-- of the chain too (accept_key_change), made under the key it replaces:
-- after it, the chain's lines are under the new key, so whoever still holds
-- the replaced one cannot continue the chain.
CREATE FUNCTION privacy_internal._ledger_entries()
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
COMMENT ON FUNCTION privacy_internal._ledger_entries() IS
  'internal: the erasure ledger''s entries, parsed and verified';

-- The database's identity: its state row.  After a restore there are two
-- (the dumped one, and the one CREATE EXTENSION made); the one with a
-- history (entries, sources, or made somewhere else) is the database's,
-- else the older.
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

-- The erasure ledger as SQL: this database's lines (its own chain and
-- those it was restored or copied from), whether each is as written.
CREATE VIEW privacy.erasure_ledger AS
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

-- This database's ledger lines per key they were made under (none
-- without a ledger): for privacy.key_versions.  Counted as the lines say,
-- not verified (privacy.erasure_ledger verifies them).
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

-- Before an erasure: the database must be where its ledger is.  Returns
-- its state, locked (erasures are recorded one after the other), or NULL
-- when no ledger is configured.
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

-- A chain of its own: the database's erasures from now on under a new
-- identity, the old one kept as its source (erasures recorded there after
-- this point are still replayed here when asked).  For a physical copy of
-- a database (a base backup, a promoted standby used apart), and for a
-- database whose ledger file is lost.
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

-- After an erasure: its entry, queued for the commit.  kinds/vals/spans
-- are the subject's identifiers (the erased one first) and the periods
-- they were the subject's (a reassigned phone number: only then; kept so
-- that a replay never takes the number's later holder for the subject),
-- report the erasure's.
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
COMMENT ON FUNCTION privacy_internal._ledger_record(privacy.erasure_ledger_state, text[], text[], tstzmultirange[], jsonb, timestamptz) IS
  'internal: queues an erasure''s ledger entry (keyed references only) for the commit';

-- A key change (accept_key_change): a line of the database's chain, made
-- under the key it replaces, saying which key the chain's lines are under
-- from then on: 'recorded'.  When the replaced key is not listed (lost),
-- that line cannot be made: the database's erasures go on in a chain of
-- its own, the old one kept as its source ('forked').  NULL without a
-- ledger, or for a chain with no line yet.
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

-- Replay: erase again every subject the ledger names that this database
-- does not know was erased (restored from an older backup, or copied).
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
    -- stored numbers read back under the key of their row (k, while a key
    -- rotation runs: src/sql/36_rekey.sql; "raw" for a row not converted
    -- since protect_in_batches(), which holds the number itself)
    q := pg_catalog.format('SELECT 0, NULL::pg_catalog.text, pg_catalog.to_jsonb(x.v), x.k FROM (SELECT DISTINCT %s AS v, %s AS k FROM %s t) x WHERE x.v IS NOT NULL',
                           privacy_internal._subject_value_expr(c, dc),
                           CASE WHEN dom IS NOT NULL
                                     AND (pg_catalog.cardinality(privacy_internal._rekey_keys(c.tbl)) OPERATOR(pg_catalog.>) 0
                                          OR privacy_internal._raw_relation(c.tbl) IS NOT NULL)
                                THEN 'privacy_internal._row_key(t.tableoid, t.*)' ELSE 'NULL::pg_catalog.text' END,
                           c.tbl);
    known := known OPERATOR(pg_catalog.||) COALESCE((
      SELECT pg_catalog.jsonb_object_agg(m.key, m.v)
        FROM (SELECT DISTINCT ON (y.key) y.key, y.v
                FROM (SELECT c.kind || ':' || privacy_internal._audit_ref_under(kf.fp, 'ledger:' || c.kind, z.v) AS key, z.v
                        FROM (SELECT CASE WHEN dom IS NULL THEN r.j OPERATOR(pg_catalog.#>>) '{}'
                                          WHEN r.k IS NOT NULL THEN privacy_internal._msisdn_under(r.k, r.j OPERATOR(pg_catalog.#>>) '{}', dom, true)
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
COMMENT ON FUNCTION privacy.replay_erasures(timestamptz) IS
  'after a restore or a copy: erase again every subject the erasure ledger names that this database does not know was erased (since: also those erased from that moment on), with the holds and legal minimums in force here; audited';
