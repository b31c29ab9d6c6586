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
  LANGUAGE c VOLATILE STRICT
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
   ORDER BY x.created_at, x.database_id LIMIT 1 FOR UPDATE;
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
-- or malformed), and whether it is as written: its MAC under the loaded
-- key, and its link to the previous entry of its database in the file.
CREATE FUNCTION privacy_internal._ledger_entries()
  RETURNS TABLE(lineno bigint, db uuid, seq bigint, at timestamptz, datname text, type text,
                ids jsonb, report jsonb, requests jsonb, key_fingerprint text,
                prev text, mac text, verified boolean, body jsonb)
  LANGUAGE sql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT x.lineno, x.db, x.seq, x.at, x.datname, x.type, x.ids, x.report, x.requests, x.key_fingerprint,
         x.prev, x.mac,
         COALESCE(x.mac_ok
                  AND (pg_catalog.lag(x.mac) OVER w IS NULL
                       OR (pg_catalog.lag(x.mac) OVER w OPERATOR(pg_catalog.=) x.prev
                           AND pg_catalog.lag(x.seq) OVER w OPERATOR(pg_catalog.+) 1 OPERATOR(pg_catalog.=) x.seq)), false),
         x.body
    FROM (SELECT l.lineno, l.body,
                 CASE WHEN (l.body OPERATOR(pg_catalog.->>) 'db') OPERATOR(pg_catalog.~)
                           '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                      THEN (l.body OPERATOR(pg_catalog.->>) 'db')::uuid END AS db,
                 CASE WHEN pg_catalog.jsonb_typeof(l.body OPERATOR(pg_catalog.->) 'seq') OPERATOR(pg_catalog.=) 'number'
                       AND (l.body OPERATOR(pg_catalog.->>) 'seq') OPERATOR(pg_catalog.~) '^[0-9]{1,18}$'
                      THEN (l.body OPERATOR(pg_catalog.->>) 'seq')::bigint END AS seq,
                 CASE WHEN (l.body OPERATOR(pg_catalog.->>) 'at') OPERATOR(pg_catalog.~)
                           '^[0-9]{4}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?[+-][0-9]{2}:[0-9]{2}$'
                      THEN (l.body OPERATOR(pg_catalog.->>) 'at')::timestamptz END AS at,
                 l.body OPERATOR(pg_catalog.->>) 'datname' AS datname,
                 l.body OPERATOR(pg_catalog.->>) 'type' AS type,
                 l.body OPERATOR(pg_catalog.->) 'ids' AS ids,
                 l.body OPERATOR(pg_catalog.->) 'report' AS report,
                 l.body OPERATOR(pg_catalog.->) 'requests' AS requests,
                 l.body OPERATOR(pg_catalog.->>) 'key' AS key_fingerprint,
                 l.body OPERATOR(pg_catalog.->>) 'prev' AS prev,
                 l.body OPERATOR(pg_catalog.->>) 'mac' AS mac,
                 (l.body OPERATOR(pg_catalog.->>) 'mac') OPERATOR(pg_catalog.=)
                   privacy_internal._audit_ref('pg_privacy erasure ledger',
                                               (l.body OPERATOR(pg_catalog.-) 'mac')::text) AS mac_ok
            FROM privacy_internal._ledger_lines() l) x
  WINDOW w AS (PARTITION BY x.db ORDER BY x.lineno)
$$;
COMMENT ON FUNCTION privacy_internal._ledger_entries() IS
  'internal: the erasure ledger''s entries, parsed and verified';

-- The erasure ledger as SQL: what the file says, line by line, whether
-- each line is as written (verified), and whether it is this database's
-- (or of one it was restored or copied from).
CREATE VIEW privacy.erasure_ledger AS
SELECT e.lineno AS line, e.db AS database_id, e.seq, e.at AS erased_at, e.datname AS database_name,
       e.ids AS identifiers, e.report, e.requests, e.key_fingerprint, e.verified,
       (e.db OPERATOR(pg_catalog.=) s.database_id
        OR e.db::text OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT src OPERATOR(pg_catalog.->>) 'db'
                                                       FROM pg_catalog.jsonb_array_elements(s.sources) src))) AS this_database
  FROM privacy_internal._ledger_entries() e
  LEFT JOIN LATERAL (SELECT x.database_id, x.sources FROM privacy.erasure_ledger_state x
                      ORDER BY x.created_at, x.database_id LIMIT 1) s ON true;
COMMENT ON VIEW privacy.erasure_ledger IS
  'the erasure ledger file (pg_privacy.erasure_ledger_file): one row per erasure, subjects by keyed reference only, verified against the key and the chain';

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
  SELECT t.seq INTO tail_seq FROM privacy_internal._ledger_tail(s.database_id::text) t;
  IF tail_seq OPERATOR(pg_catalog.>) s.last_seq THEN
    RAISE EXCEPTION 'this database is older than its erasure ledger'
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('The ledger records %s erasure(s) of this database after its last one (number %s): it was restored from a backup taken before them.',
                                       tail_seq OPERATOR(pg_catalog.-) s.last_seq, s.last_seq),
            HINT = 'Run SELECT * FROM privacy.replay_erasures(); then erase.';
  END IF;
  RETURN s;
END
$$;
COMMENT ON FUNCTION privacy_internal._ledger_check() IS
  'internal: refuses an erasure while the database is behind its erasure ledger; its state, locked';

-- After an erasure: its entry, queued for the commit.  kinds/vals/spans
-- are the subject's identifiers (the erased one first) and the periods
-- they were the subject's (a reassigned phone number: only then; kept so
-- that a replay never takes the number's later holder for the subject),
-- report the erasure's.
CREATE FUNCTION privacy_internal._ledger_record(s privacy.erasure_ledger_state, kinds text[], vals text[],
                                               spans tstzmultirange[], report jsonb)
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  refs  text[];
  entry jsonb;
  mac   text;
BEGIN
  refs := ARRAY(SELECT privacy_internal._audit_ref(u.k, u.v)
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
              FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(refs), pg_catalog.unnest(spans)) WITH ORDINALITY u(k, r, p, o)),
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
    'prev', s.last_mac);
  mac := privacy_internal._audit_ref('pg_privacy erasure ledger', entry::text);
  PERFORM privacy_internal._ledger_queue((entry OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('mac', mac))::text);
  UPDATE privacy.erasure_ledger_state x
     SET last_seq = s.last_seq OPERATOR(pg_catalog.+) 1, last_mac = mac, last_at = pg_catalog.clock_timestamp()
   WHERE x.database_id OPERATOR(pg_catalog.=) s.database_id;
  RETURN s.last_seq OPERATOR(pg_catalog.+) 1;
END
$$;
COMMENT ON FUNCTION privacy_internal._ledger_record(privacy.erasure_ledger_state, text[], text[], tstzmultirange[], jsonb) IS
  'internal: queues an erasure''s ledger entry (keyed references only) for the commit';

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
  todo   jsonb;
  wanted text[];
  known  jsonb := '{}';
  c      privacy_internal._subject_column;
  dc     text := privacy_internal._default_country();
  q      text;
  dom    text;
  e      jsonb;
  fk     text;
  fv     text;
  fref   text;
  bad    record;
  own_seq bigint;
  moved  boolean;
  eid    uuid;
  eseq   bigint;
  eat    timestamptz;
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
  -- the chains to follow: this database's own, and those it came from
  chains := pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('db', s.database_id, 'seq', s.last_seq))
            OPERATOR(pg_catalog.||) s.sources;

  -- A line of these chains not as written (a MAC that does not verify
  -- under the loaded key, a broken link, an entry this database has but
  -- the ledger does not): nothing is replayed.
  SELECT x.lineno, x.seq INTO bad
    FROM privacy_internal._ledger_entries() x
    JOIN pg_catalog.jsonb_array_elements(chains) ch ON x.db::text OPERATOR(pg_catalog.=) (ch OPERATOR(pg_catalog.->>) 'db')
   WHERE x.type OPERATOR(pg_catalog.=) 'erasure' AND NOT x.verified
   ORDER BY x.lineno LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'the erasure ledger is damaged or was altered at line %', bad.lineno
      USING ERRCODE = 'XX001',
            DETAIL = 'Its MAC does not verify under the loaded key, or it does not follow the entry before it.',
            HINT = 'Put back the ledger file from its own backup, with the key it was written under; nothing was replayed.';
  END IF;
  IF s.last_seq OPERATOR(pg_catalog.>) 0 AND NOT EXISTS (
       SELECT FROM privacy_internal._ledger_entries() x
        WHERE x.db OPERATOR(pg_catalog.=) s.database_id AND x.seq OPERATOR(pg_catalog.=) s.last_seq
          AND x.mac OPERATOR(pg_catalog.=) s.last_mac) THEN
    RAISE EXCEPTION 'the erasure ledger does not hold this database''s last erasure (number %)', s.last_seq
      USING ERRCODE = '55000',
            DETAIL = 'The file named by pg_privacy.erasure_ledger_file is not the ledger this database recorded its erasures in, or lost lines.',
            HINT = 'Set pg_privacy.erasure_ledger_file to this database''s ledger; nothing was replayed.';
  END IF;

  -- the entries to apply, oldest first
  SELECT COALESCE(pg_catalog.jsonb_agg(x.body ORDER BY x.at, x.lineno), '[]') INTO todo
    FROM privacy_internal._ledger_entries() x
    JOIN pg_catalog.jsonb_array_elements(chains) ch ON x.db::text OPERATOR(pg_catalog.=) (ch OPERATOR(pg_catalog.->>) 'db')
   WHERE x.type OPERATOR(pg_catalog.=) 'erasure'
     AND (x.seq OPERATOR(pg_catalog.>) (ch OPERATOR(pg_catalog.->>) 'seq')::bigint
          OR (since IS NOT NULL AND x.at OPERATOR(pg_catalog.>=) since));

  -- Who they are here: the keyed references of the identifiers in the
  -- columns that hold a subject's own rows, smallest tables first, until
  -- every entry has one identifier found (each column read once, as its
  -- table's owner; the references computed here).
  wanted := ARRAY(SELECT DISTINCT (i OPERATOR(pg_catalog.->>) 'kind') || ':' || (i OPERATOR(pg_catalog.->>) 'ref')
                    FROM pg_catalog.jsonb_array_elements(todo) t,
                         pg_catalog.jsonb_array_elements(t OPERATOR(pg_catalog.->) 'ids') i
                   WHERE NOT i OPERATOR(pg_catalog.?) 'span');
  FOR c IN SELECT sc.* FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc
             JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) sc.tbl
            WHERE sc.link OPERATOR(pg_catalog.=) 'owner'
            ORDER BY k.reltuples, sc.tbl::text, sc.attnum LOOP
    EXIT WHEN NOT EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(todo) t
                           WHERE NOT EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(t OPERATOR(pg_catalog.->) 'ids') i
                                              WHERE NOT i OPERATOR(pg_catalog.?) 'span'
                                                AND known OPERATOR(pg_catalog.?) ((i OPERATOR(pg_catalog.->>) 'kind') || ':' || (i OPERATOR(pg_catalog.->>) 'ref'))));
    CONTINUE WHEN NOT EXISTS (SELECT FROM pg_catalog.unnest(wanted) w
                               WHERE pg_catalog.split_part(w, ':', 1) OPERATOR(pg_catalog.=) c.kind);
    dom := privacy_internal._subject_decrypt_domain(c);
    q := pg_catalog.format('SELECT 0, NULL::pg_catalog.text, pg_catalog.to_jsonb(x.v) FROM (SELECT DISTINCT %s AS v FROM %s t) x WHERE x.v IS NOT NULL',
                           privacy_internal._subject_value_expr(c, dc), c.tbl);
    known := known OPERATOR(pg_catalog.||) COALESCE((
      SELECT pg_catalog.jsonb_object_agg(m.key, m.v)
        FROM (SELECT DISTINCT ON (y.key) y.key, y.v
                FROM (SELECT c.kind || ':' || privacy_internal._audit_ref(c.kind, z.v) AS key, z.v
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
    -- An identifier that was the subject's for good.  A reassigned one (a
    -- phone number, recorded with the period it was the subject's) is
    -- never taken: here it may be another person's, and the subject is
    -- found by the others (the customer number the erasure was asked for).
    SELECT i OPERATOR(pg_catalog.->>) 'kind', known OPERATOR(pg_catalog.->>) ((i OPERATOR(pg_catalog.->>) 'kind') || ':' || (i OPERATOR(pg_catalog.->>) 'ref')),
           i OPERATOR(pg_catalog.->>) 'ref'
      INTO fk, fv, fref
      FROM pg_catalog.jsonb_array_elements(e OPERATOR(pg_catalog.->) 'ids') WITH ORDINALITY u(i, o)
     WHERE known OPERATOR(pg_catalog.?) ((i OPERATOR(pg_catalog.->>) 'kind') || ':' || (i OPERATOR(pg_catalog.->>) 'ref'))
       AND NOT i OPERATOR(pg_catalog.?) 'span'
     ORDER BY u.o LIMIT 1;
    eid := (e OPERATOR(pg_catalog.->>) 'db')::uuid;
    eseq := (e OPERATOR(pg_catalog.->>) 'seq')::bigint;
    eat := (e OPERATOR(pg_catalog.->>) 'at')::timestamptz;
    IF fv IS NULL THEN
      result := 'not in this database';
      report := '[]';
    ELSE
      SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x)), '[]') INTO report
        FROM privacy_internal._subject_erase(fk, fv, NULL) x;
      result := 'erased again';
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
                                                         THEN src OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('seq', eseq)
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
    SELECT x.last_seq INTO own_seq FROM privacy.erasure_ledger_state x
     WHERE x.database_id OPERATOR(pg_catalog.=) s.database_id;
    UPDATE privacy.erasure_ledger_state x
       SET database_id = pg_catalog.gen_random_uuid(), created_at = pg_catalog.clock_timestamp(),
           here = privacy_internal._ledger_here(), last_seq = 0, last_mac = NULL, last_at = NULL,
           sources = pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('db', s.database_id, 'seq', own_seq))
                     OPERATOR(pg_catalog.||) x.sources
     WHERE x.database_id OPERATOR(pg_catalog.=) s.database_id;
  END IF;
END
$$;
COMMENT ON FUNCTION privacy.replay_erasures(timestamptz) IS
  'after a restore or a copy: erase again every subject the erasure ledger names that this database does not know was erased (since: also those erased from that moment on), with the holds and legal minimums in force here; audited';
