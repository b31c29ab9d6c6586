-- Key rotation of phone-number pseudonyms.
--
-- A column protected by msisdn_fpe stores a phone number encrypted under
-- the key (format-preserving, reversible).  After accept_key_change() the
-- rows written before it still hold pseudonyms under the replaced key.
-- Those pseudonyms are numbers themselves: looked up under the new key
-- they are not found, or are taken for another person's number (a
-- pseudonym under one key equals another number's pseudonym under the
-- other key about as often as a random number of the same length is in the
-- table).  So the change records every relation (a table, or each
-- partition of a partitioned one) whose pseudonyms are under the replaced
-- key as pending, and until privacy.rekey() has converted it:
--
--   * the protect trigger writes each row under the key of its place
--     (below); a new partition is under the current key;
--   * export, erasure, restriction, the consent cascade, the link search
--     and the replay match and read each stored number under the key of
--     its row (privacy_internal._row_key, in the reading statement's
--     snapshot): never a silent miss, never another person's row; legal
--     holds and restrictions look a number up under every key in play;
--   * privacy.key_versions counts the relations that still need the key.
--
-- privacy.rekey() converts a relation in batches, each its own
-- transaction, in order of one of its columns (the order column: not
-- protected, of a built-in type with a total order, the leading column of
-- a btree index; src/rekey.c).  Each batch locks the relation against
-- writes (SHARE ROW EXCLUSIVE, waiting at most lock_timeout_ms) while it
-- decrypts each pseudonym of the rows past the watermark, up to
-- batch_size rows further, under the pending key and encrypts it under
-- the current one through the protect trigger, as the table's owner, and
-- moves the watermark; then commits.  When the conversion of a relation
-- begins (a first pass of privacy.rekey() begins every relation it can
-- lock at once), it records the largest value of the order column, the
-- high mark.  A row whose order column is at most the watermark, or above
-- the high mark (written since the conversion began), is under the
-- current key; any other row (between the two, or without a value in the
-- order column) under the pending key: the protect trigger writes each
-- row under the key of its place.  The last batch converts the rest up to
-- the high mark (the rows without a value in the order column too), drops
-- the relation from the pending list, logs and audits it.  A relation
-- with no order column is converted in one batch.  A crash or cancel
-- loses at most the batch under way: the next CALL goes on from the
-- watermark.

CREATE TABLE privacy.rekey_pending (
  rel      regclass    PRIMARY KEY,
  tbl      regclass    NOT NULL,
  -- the older key its pseudonyms are under, or 'raw': rows the table held
  -- before protect_in_batches(), which privacy.rekey() converts the same
  -- way (src/sql/35_protect.sql)
  from_key text        NOT NULL CHECK (from_key ~ '^pgp1:[0-9a-f]{16}$' OR from_key = 'raw'),
  since    timestamptz NOT NULL DEFAULT pg_catalog.now(),
  -- how far privacy.rekey() has come (src/rekey.c): rows whose order_col
  -- is at most watermark (the value in its type's binary form) are under
  -- the current key; NULL before the first batch
  order_col  name,
  order_type regtype,
  watermark  bytea,
  rows_done  bigint      NOT NULL DEFAULT 0,
  started_at timestamptz,
  -- the largest value of order_col when the conversion began (binary
  -- form): rows above it have been written under the current key since
  high_mark  bytea,
  CONSTRAINT rekey_pending_order_check CHECK ((order_col IS NULL) = (order_type IS NULL)),
  CONSTRAINT rekey_pending_watermark_check CHECK (watermark IS NULL OR order_col IS NOT NULL),
  CONSTRAINT rekey_pending_high_mark_check CHECK (high_mark IS NULL OR order_col IS NOT NULL)
);
COMMENT ON TABLE privacy.rekey_pending IS
  'pg_privacy: relations whose phone-number pseudonyms (msisdn_fpe) are under an older key until privacy.rekey() converts them';
SELECT pg_catalog.pg_extension_config_dump('privacy.rekey_pending', '');

-- Every write of it reaches every session (the lookups remember that
-- nothing is pending until it changes: src/protect.c), also by hand and in
-- logical replication's apply.
CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE ON privacy.rekey_pending
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._catalog_changed();
CREATE TRIGGER catalog_truncated AFTER TRUNCATE ON privacy.rekey_pending
  FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._catalog_changed();
ALTER TABLE privacy.rekey_pending ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;

CREATE SEQUENCE privacy.rekey_log_id_seq;
CREATE TABLE privacy.rekey_log (
  id          bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('privacy.rekey_log_id_seq'),
  rel         text        NOT NULL,
  tbl         text        NOT NULL,
  from_key    text        NOT NULL,
  to_key      text        NOT NULL,
  rows        bigint      NOT NULL,
  started_at  timestamptz NOT NULL,
  finished_at timestamptz NOT NULL
);
COMMENT ON TABLE privacy.rekey_log IS
  'pg_privacy: relations privacy.rekey() converted, with their row counts and times';
SELECT pg_catalog.pg_extension_config_dump('privacy.rekey_log', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.rekey_log_id_seq', '');

CREATE FUNCTION privacy_internal._rekey_batch(rel regclass, cols name[], order_col name, order_type regtype,
                                      lo bytea, mark bytea, batch_size integer, count_rows boolean,
                                      OUT hi bytea, OUT rows bigint)
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_rekey_batch';
COMMENT ON FUNCTION privacy_internal._rekey_batch(regclass, name[], name, regtype, bytea, bytea, integer, boolean) IS
  'internal: convert the msisdn_fpe pseudonyms of one batch of a relation (past the watermark lo, batch_size rows in order of order_col, up to the high mark) from its pending key to the current one, through the protect trigger, as the table owner; hi: the new watermark, NULL when the relation is done';

CREATE FUNCTION privacy_internal._rekey_high_mark(rel regclass, order_col name, order_type regtype) RETURNS bytea
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_rekey_high_mark';
COMMENT ON FUNCTION privacy_internal._rekey_high_mark(regclass, name, regtype) IS
  'internal: the largest value of a relation''s order column (binary form) when its conversion begins, read as its owner';

-- The columns privacy.rekey() can convert a relation in order of, best
-- first: the leading column of a valid btree index of the relation, by
-- the type's default order, of a type whose order no setting changes
-- (src/rekey.c), neither protected nor generated (the conversion leaves it
-- as it is); a unique index first.  The first batch takes the first (none:
-- the relation is converted in one batch); a later one warns when its
-- column is no longer among them.
CREATE FUNCTION privacy_internal._rekey_order_columns(rel regclass, tbl regclass)
  RETURNS TABLE(col name, typ regtype)
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT a.attname, a.atttypid::regtype
    FROM pg_catalog.pg_index i
    JOIN pg_catalog.pg_class ic ON ic.oid OPERATOR(pg_catalog.=) i.indexrelid
    JOIN pg_catalog.pg_am am ON am.oid OPERATOR(pg_catalog.=) ic.relam
    JOIN pg_catalog.pg_attribute a
      ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid AND a.attnum OPERATOR(pg_catalog.=) i.indkey[0]
    JOIN pg_catalog.pg_opclass oc ON oc.oid OPERATOR(pg_catalog.=) i.indclass[0]
   WHERE i.indrelid OPERATOR(pg_catalog.=) _rekey_order_columns.rel
     AND am.amname OPERATOR(pg_catalog.=) 'btree'
     AND i.indisvalid AND i.indisready AND i.indpred IS NULL
     AND i.indkey[0] OPERATOR(pg_catalog.<>) 0
     AND oc.opcdefault AND oc.opcintype OPERATOR(pg_catalog.=) a.atttypid
     AND (i.indoption[0] OPERATOR(pg_catalog.&) 1) OPERATOR(pg_catalog.=) 0
     AND NOT a.attisdropped AND a.attgenerated OPERATOR(pg_catalog.=) ''
     AND a.atttypid IN ('pg_catalog.int2'::regtype, 'pg_catalog.int4'::regtype, 'pg_catalog.int8'::regtype,
                        'pg_catalog.numeric'::regtype, 'pg_catalog.date'::regtype,
                        'pg_catalog.timestamp'::regtype, 'pg_catalog.timestamptz'::regtype,
                        'pg_catalog.uuid'::regtype)
     AND NOT EXISTS (SELECT FROM privacy.registered_column c
                      WHERE c.tbl OPERATOR(pg_catalog.=) _rekey_order_columns.tbl
                        AND c.col OPERATOR(pg_catalog.=) a.attname
                        AND c.protect IS NOT NULL)
   ORDER BY i.indisunique DESC, i.indisprimary DESC, i.indexrelid
$$;

-- The protected tables with a column protected by msisdn_fpe, and their
-- relations that hold rows (the table itself, or its leaf partitions).
CREATE FUNCTION privacy_internal._rekey_relations()
  RETURNS TABLE(tbl regclass, rel regclass)
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT t.tbl, p.relid::regclass
    FROM privacy.registered_table t
    -- the table itself (pg_partition_tree lists nothing for a table that
    -- is neither partitioned nor a partition), or its partitions
    CROSS JOIN LATERAL (SELECT t.tbl::pg_catalog.oid AS relid
                        UNION SELECT x.relid FROM pg_catalog.pg_partition_tree(t.tbl) x) p
    JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) p.relid
   WHERE k.relkind OPERATOR(pg_catalog.=) 'r'
     AND EXISTS (SELECT FROM privacy.registered_column c
                  WHERE c.tbl OPERATOR(pg_catalog.=) t.tbl
                    AND c.protect OPERATOR(pg_catalog.=) 'msisdn_fpe')
     AND privacy_internal._has_protect_trigger(t.tbl)
$$;

-- Called by accept_key_change() before it records the new key: every
-- relation of a table protected by msisdn_fpe that is not pending already
-- is pending from the replaced key (one already pending stays under the
-- older key it is under); relations pending from the new key are under it
-- already.  Refuses (0A000, nothing changed) on a table Citus manages,
-- whose shards' pseudonyms cannot be converted.  Returns the number of
-- relations pending.
CREATE FUNCTION privacy_internal._rekey_mark(from_key text, to_key text) RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  citus regclass;
  part record;
  n bigint;
BEGIN
  SELECT r.tbl INTO citus FROM privacy_internal._rekey_relations() r
   WHERE privacy_internal._citus_table(r.tbl) LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'cannot change the key while table %, which Citus manages, has a column protected by msisdn_fpe', citus
      USING ERRCODE = '0A000',
            DETAIL = 'Its phone-number pseudonyms are under the database''s key on the shards; converting them to a new key is not built for tables Citus manages, and they would be looked up under the wrong key.',
            HINT = 'Keep the database''s key; nothing was changed.';
  END IF;
  -- Rows a table held before protection, not converted yet: the rows
  -- converted so far are under the current key, and a second key among
  -- them could not be told apart.
  SELECT p.rel INTO part FROM privacy.rekey_pending p
   WHERE p.from_key OPERATOR(pg_catalog.=) 'raw'
     AND EXISTS (SELECT FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) p.rel)
   ORDER BY p.since, p.rel::pg_catalog.oid LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'cannot change the key while privacy.rekey() converts the rows relation % held before it was protected', part.rel
      USING ERRCODE = '55000',
            DETAIL = 'Its rows converted so far are under the current key, the others raw; rows under a second key could not be told apart.',
            HINT = 'Run CALL privacy.rekey() to the end (privacy.rekey_progress shows what is left), then change the key; nothing was changed.';
  END IF;
  -- A relation privacy.rekey() has converted in part holds rows under two
  -- keys already; a third could not be told apart.
  SELECT p.rel, p.from_key INTO part FROM privacy.rekey_pending p
   WHERE (p.watermark IS NOT NULL OR p.high_mark IS NOT NULL) AND EXISTS (SELECT FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) p.rel)
   ORDER BY p.since, p.rel::pg_catalog.oid LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'cannot change the key while privacy.rekey() has converted relation % in part', part.rel
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('Some of its phone-number pseudonyms are under key %s, the others under the current key; rows under a third key could not be told apart.', part.from_key),
            HINT = 'Run CALL privacy.rekey() to the end (privacy.rekey_progress shows what is left), then change the key; nothing was changed.';
  END IF;
  DELETE FROM privacy.rekey_pending p WHERE p.from_key OPERATOR(pg_catalog.=) _rekey_mark.to_key;
  INSERT INTO privacy.rekey_pending (rel, tbl, from_key)
  SELECT DISTINCT ON (r.rel) r.rel, r.tbl, _rekey_mark.from_key
    FROM privacy_internal._rekey_relations() r
   ORDER BY r.rel
  ON CONFLICT (rel) DO NOTHING;
  -- relations dropped since (one detached stays pending: its pseudonyms
  -- are under its key wherever it is attached again)
  DELETE FROM privacy.rekey_pending p
   WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) p.rel);
  SELECT pg_catalog.count(*) INTO n FROM privacy.rekey_pending;
  -- the protect trigger of each relation reads its pending key again
  -- (also where it is pending no more)
  PERFORM privacy_internal._invalidate(r.tbl)
     FROM (SELECT DISTINCT x.tbl FROM privacy_internal._rekey_relations() x) r;
  RETURN n;
END
$$;

-- The keys the phone-number pseudonyms of table tbl (itself, or its
-- attached partitions) are pending under, for the checks that keep a row
-- whichever key it is under while a rotation runs: legal holds in the
-- purge, restrictions in the purge and the restriction trigger.  Those
-- look a held or restricted number up under each of these keys as well
-- as the current one (privacy_internal._msisdn_under), so that a row under
-- either is kept; a row of another number whose pseudonym under the other
-- key is the same is kept too (about one chance in the size of the
-- numbering plan per row and number): kept a little longer, or its update
-- refused, never a held or restricted row lost.
CREATE FUNCTION privacy_internal._rekey_keys(tbl regclass) RETURNS text[]
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT COALESCE(pg_catalog.array_agg(DISTINCT p.from_key ORDER BY p.from_key), '{}')
    FROM privacy.rekey_pending p
   -- a part of the table now, whichever table it was pending with (rows
   -- left raw before protection are under no key)
   WHERE (p.rel OPERATOR(pg_catalog.=) _rekey_keys.tbl
          OR p.rel IN (SELECT x.relid FROM pg_catalog.pg_partition_tree(_rekey_keys.tbl) x))
     AND p.from_key OPERATOR(pg_catalog.<>) 'raw'
$$;
COMMENT ON FUNCTION privacy_internal._rekey_keys(regclass) IS
  'internal: the older keys the phone-number pseudonyms of a table are pending under';

-- A relation of table tbl (itself or a partition of it now, whichever
-- table it was protected with) that holds rows from before
-- protect_in_batches() not converted yet, or NULL.
CREATE FUNCTION privacy_internal._raw_relation(tbl regclass) RETURNS regclass
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT p.rel FROM privacy.rekey_pending p
   WHERE p.from_key OPERATOR(pg_catalog.=) 'raw'
     AND (p.rel OPERATOR(pg_catalog.=) _raw_relation.tbl
          OR p.rel IN (SELECT x.relid FROM pg_catalog.pg_partition_tree(_raw_relation.tbl) x))
   ORDER BY p.rel::pg_catalog.oid LIMIT 1
$$;
COMMENT ON FUNCTION privacy_internal._raw_relation(regclass) IS
  'internal: a relation of the table holding rows from before protect_in_batches() not converted yet';

-- Whether the library loaded in this session reads the rows of such a
-- relation raw in the search for a data subject (0.19.0 on): a library
-- from before, still loaded after an update until the server restarts,
-- has no such function, and a search that reaches such a table fails
-- there (privacy_internal._subject_column) rather than read them as
-- pseudonyms.
CREATE FUNCTION privacy_internal._library_reads_raw() RETURNS boolean
  LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'pgp_library_reads_raw';
COMMENT ON FUNCTION privacy_internal._library_reads_raw() IS
  'internal: true; a library too old to read rows not converted since protect_in_batches() has no such function';

CREATE FUNCTION privacy_internal._msisdn_under(fingerprint text, number text, domain text, decrypt boolean)
  RETURNS text
  LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'pgp_msisdn_under';
COMMENT ON FUNCTION privacy_internal._msisdn_under(text, text, text, boolean) IS
  'internal: a phone number''s msisdn_fpe pseudonym under the listed key of that fingerprint (decrypt: the number a pseudonym under it stands for)';

-- Which key a row's phone-number pseudonyms are under, for the subject
-- engine (export, erasure, restriction, the link search, the replay of
-- erasures), which matches and decrypts a stored pseudonym under the key of
-- its row (src/rekey.c, pgp_row_key): rel the row's relation (tableoid), r
-- the statement's whole row.  The watermark is read in the calling
-- statement's snapshot, the same state as the rows it reads.  The
-- statements run as the table's owner: PUBLIC may execute it
-- (90_privileges.sql), and it answers only a role that may read rel or a
-- table it is a partition of.
CREATE FUNCTION privacy_internal._row_key(rel oid, r record) RETURNS text
  LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'pgp_row_key';
COMMENT ON FUNCTION privacy_internal._row_key(oid, record) IS
  'internal: the fingerprint of the key a row''s phone-number pseudonyms are under (the pending key until privacy.rekey() reaches the row)';

-- The same for whoever re-identifies a number read from a row while a key
-- rotation runs: privacy.reidentify_msisdn(t.a_number, 'default',
-- privacy.row_key(t.tableoid, t.*)).  Granted to no one by default, as
-- reidentify_msisdn.
CREATE FUNCTION privacy.row_key(rel regclass, r record) RETURNS text
  LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'pgp_row_key';
COMMENT ON FUNCTION privacy.row_key(regclass, record) IS
  'the fingerprint of the key under which the phone-number pseudonyms of a row (its tableoid, the row) are stored: the replaced key until privacy.rekey() converts the row';

-- After ALTER TABLE rel ALTER COLUMN col TYPE ... or DROP COLUMN col
-- (called by the event trigger, src/protect.c): refused while col is the
-- order column of rel, or of a partition of it, that privacy.rekey() has
-- converted in part.  Its values tell which rows are under which key: a
-- rewrite (USING, a narrower precision) would move rows across the
-- watermark without the protect trigger, and a column dropped and added
-- again under the same name would pass for it.
CREATE FUNCTION privacy_internal._rekey_column_ddl(rel regclass, col name) RETURNS void
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  p record;
BEGIN
  SELECT x.rel INTO p FROM privacy.rekey_pending x
   WHERE (x.watermark IS NOT NULL OR x.high_mark IS NOT NULL) AND x.order_col OPERATOR(pg_catalog.=) _rekey_column_ddl.col
     AND (x.rel OPERATOR(pg_catalog.=) _rekey_column_ddl.rel
          OR x.rel IN (SELECT t.relid FROM pg_catalog.pg_partition_tree(_rekey_column_ddl.rel) t))
   ORDER BY x.rel::pg_catalog.oid LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'cannot drop, rename or retype column % of relation % while privacy.rekey() converts it in order of that column', col, p.rel
      USING ERRCODE = '55000',
            DETAIL = 'Which of its rows are under the current key and which under the replaced one is told by that column.',
            HINT = 'Run CALL privacy.rekey() to the end (privacy.rekey_progress), then change the column.';
  END IF;
END
$$;

-- Fail closed where a lookup would meet pseudonyms under an older key: a
-- table (or, tbl NULL, any table with a column of one of the kinds, NULL:
-- any) that has a column protected by msisdn_fpe and relations pending.
CREATE FUNCTION privacy_internal._check_rekeyed(tbl regclass, kinds text[] DEFAULT NULL) RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r record;
BEGIN
  IF NOT EXISTS (SELECT FROM privacy.rekey_pending) THEN
    RETURN;
  END IF;
  -- each pending relation with the registered table it is a part of now
  -- (itself, or an ancestor: one detached is searched with no table, one
  -- attached to another table is searched with that one)
  SELECT g.tbl, pg_catalog.count(*) AS n, pg_catalog.min(g.from_key) AS k INTO r
    FROM (SELECT p.rel, p.from_key,
                 (SELECT t.tbl FROM privacy.registered_table t
                   WHERE t.tbl OPERATOR(pg_catalog.=) p.rel
                      OR t.tbl IN (SELECT a.relid FROM pg_catalog.pg_partition_ancestors(p.rel) a)
                   ORDER BY t.tbl::pg_catalog.oid LIMIT 1) AS tbl
            FROM privacy.rekey_pending p) g
   WHERE g.tbl IS NOT NULL
     AND (_check_rekeyed.tbl IS NULL OR g.rel OPERATOR(pg_catalog.=) _check_rekeyed.tbl
          OR g.rel IN (SELECT x.relid FROM pg_catalog.pg_partition_tree(_check_rekeyed.tbl) x))
     AND (kinds IS NULL
          OR EXISTS (SELECT FROM privacy.registered_column c
                      WHERE c.tbl OPERATOR(pg_catalog.=) g.tbl
                        AND c.identifies OPERATOR(pg_catalog.=) ANY (kinds)))
   GROUP BY g.tbl
   ORDER BY g.tbl::pg_catalog.oid
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'the phone-number pseudonyms of table % are not yet under the current key', r.tbl
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('%s of its relations hold pseudonyms made under key %s, which privacy.rekey() has not converted: looked up under the current key they would be missed, or taken for another number.',
                                       r.n, r.k),
            HINT = 'Run CALL privacy.rekey() (privacy.rekey_progress shows what is left), then try again.';
  END IF;
END
$$;
COMMENT ON FUNCTION privacy_internal._check_rekeyed(regclass, text[]) IS
  'internal: 55000 when a table searched for the kinds still holds msisdn_fpe pseudonyms under an older key';

-- Convert one batch of a pending relation (one transaction: the caller
-- commits): rows, the rows converted (NULL when the relation is pending no
-- more), finished, whether the relation is converted whole now.
CREATE FUNCTION privacy_internal._rekey_rel(rel regclass, lock_timeout_ms integer, batch_size integer DEFAULT 2147483647,
                                            OUT rows bigint, OUT finished boolean)
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  p privacy.rekey_pending;
  cur text;
  cols name[];
  b record;
  count_rows boolean := false;
  bsize integer := _rekey_rel.batch_size;
  started timestamptz := pg_catalog.clock_timestamp();
BEGIN
  finished := true;
  -- the key this conversion writes under cannot change meanwhile
  SELECT s.fingerprint INTO cur FROM privacy.key_state s FOR SHARE;
  -- one conversion of a relation at a time (a second CALL waits, then
  -- finds it done)
  SELECT * INTO p FROM privacy.rekey_pending x WHERE x.rel OPERATOR(pg_catalog.=) _rekey_rel.rel FOR UPDATE;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF bsize OPERATOR(pg_catalog.=) 0 AND p.started_at IS NOT NULL THEN
    -- (rekey's first pass: begun already)
    rows := 0;
    finished := false;
    RETURN;
  END IF;
  IF p.from_key OPERATOR(pg_catalog.<>) 'raw' AND NOT privacy_internal._key_listed(p.from_key) THEN
    RAISE EXCEPTION 'no key of fingerprint % is loaded', p.from_key
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('The phone-number pseudonyms of %s are under that key; they can be converted only with it.', p.rel),
            HINT = 'List that key''s file after the current one in pg_privacy.key_file and reload the configuration (privacy.key_versions).';
  END IF;
  -- Writers wait while this relation is converted, so that each relation
  -- is under one key when this commits.  Taken first: while it waits for
  -- a writer, this transaction holds no other lock (the purge may drop
  -- other partitions meanwhile).
  IF EXISTS (SELECT FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) p.rel) THEN
    PERFORM pg_catalog.set_config('lock_timeout', lock_timeout_ms::text, true);
    EXECUTE pg_catalog.format('LOCK TABLE ONLY %s IN SHARE ROW EXCLUSIVE MODE', p.rel);
    PERFORM pg_catalog.set_config('lock_timeout', '0', true);
  END IF;
  -- dropped since: nothing left to convert
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) p.rel) THEN
    DELETE FROM privacy.rekey_pending x WHERE x.rel OPERATOR(pg_catalog.=) p.rel;
    RETURN;
  END IF;
  -- Rows from before protect_in_batches() are raw whatever table they
  -- belong to: a relation attached since to another registered table is
  -- converted by that table's declarations (and searched with it).
  IF p.from_key OPERATOR(pg_catalog.=) 'raw' THEN
    SELECT t.tbl INTO p.tbl
      FROM privacy.registered_table t
     WHERE t.tbl OPERATOR(pg_catalog.=) p.rel
        OR t.tbl IN (SELECT a.relid FROM pg_catalog.pg_partition_ancestors(p.rel) a)
     ORDER BY t.tbl OPERATOR(pg_catalog.=) p.rel DESC, t.tbl::pg_catalog.oid LIMIT 1;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'relation % is no longer part of a registered table', p.rel
        USING ERRCODE = '55000',
              DETAIL = 'Its rows from before its protection are raw; they are converted only through the protect trigger of a protected table it is part of.',
              HINT = 'Attach it to a protected table and run CALL privacy.rekey(); or drop it.';
    END IF;
    UPDATE privacy.rekey_pending x SET tbl = p.tbl WHERE x.rel OPERATOR(pg_catalog.=) p.rel;
  END IF;
  -- detached from its table, or the table no longer protected by
  -- msisdn_fpe: its pseudonyms stay under their key, and it stays pending
  -- (attached again, it is converted then)
  IF NOT (p.rel OPERATOR(pg_catalog.=) p.tbl
          OR p.tbl IN (SELECT a.relid FROM pg_catalog.pg_partition_ancestors(p.rel) a))
     OR NOT EXISTS (SELECT FROM privacy.registered_column c
                     WHERE c.tbl OPERATOR(pg_catalog.=) p.tbl
                       AND (c.protect OPERATOR(pg_catalog.=) 'msisdn_fpe'
                            OR (p.from_key OPERATOR(pg_catalog.=) 'raw' AND c.protect IS NOT NULL)))
     OR NOT privacy_internal._has_protect_trigger(p.tbl) THEN
    RAISE EXCEPTION 'relation % is no longer a protected part of table %', p.rel, p.tbl
      USING ERRCODE = '55000',
            DETAIL = CASE WHEN p.from_key OPERATOR(pg_catalog.=) 'raw'
                          THEN 'Its rows from before protection are raw; they are converted only through the protect trigger of its table.'
                          ELSE pg_catalog.format('Its phone-number pseudonyms are under key %s; they are converted only through the protect trigger of its table.', p.from_key) END,
            HINT = pg_catalog.format('Attach it to %s again (or protect that table again) and run CALL privacy.rekey(); or drop it.', p.tbl);
  END IF;
  PERFORM privacy_internal._check_protection(p.tbl);
  IF pg_catalog.current_setting('session_replication_role') OPERATOR(pg_catalog.<>) 'origin' THEN
    RAISE EXCEPTION 'cannot rekey with session_replication_role = %', pg_catalog.current_setting('session_replication_role')
      USING ERRCODE = '55000',
            DETAIL = 'The protect trigger, which converts the pseudonyms, does not fire then.',
            HINT = 'SET session_replication_role = origin, then run CALL privacy.rekey() again.';
  END IF;
  -- A stored generated column computed by a function of the owner (or
  -- anything else not built in: only those are recorded in pg_depend) is
  -- computed after the protect trigger: it could change the row of a
  -- subject past the consent and restriction checks the conversion skips.
  IF EXISTS (SELECT FROM pg_catalog.pg_attrdef ad
               JOIN pg_catalog.pg_attribute a
                 ON a.attrelid OPERATOR(pg_catalog.=) ad.adrelid AND a.attnum OPERATOR(pg_catalog.=) ad.adnum
               JOIN pg_catalog.pg_depend d
                 ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_attrdef'::pg_catalog.regclass
                AND d.objid OPERATOR(pg_catalog.=) ad.oid
              WHERE ad.adrelid OPERATOR(pg_catalog.=) p.rel AND a.attgenerated OPERATOR(pg_catalog.=) 's'
                AND NOT (d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                         AND d.refobjid OPERATOR(pg_catalog.=) p.rel)) THEN
    RAISE EXCEPTION 'cannot rekey relation %, which has a generated column computed by a function that is not built in', p.rel
      USING ERRCODE = '55000',
            DETAIL = 'The column is computed after the protect trigger, during the conversion, which skips the consent and restriction checks.',
            HINT = 'Drop the generated column, or compute it with built-in functions only, then run CALL privacy.rekey() again.';
  END IF;
  -- A foreign key between phone-number columns: the two sides cannot be
  -- converted one after the other (the key's check, or its cascade into
  -- the other side's protect trigger, fails at the first).
  IF EXISTS (SELECT FROM pg_catalog.pg_constraint k
              WHERE k.contype OPERATOR(pg_catalog.=) 'f'
                AND (k.conrelid OPERATOR(pg_catalog.=) p.rel OR k.confrelid OPERATOR(pg_catalog.=) p.rel
                     OR k.conrelid IN (SELECT a.relid FROM pg_catalog.pg_partition_ancestors(p.rel) a)
                     OR k.confrelid IN (SELECT a.relid FROM pg_catalog.pg_partition_ancestors(p.rel) a))
                AND EXISTS (SELECT FROM (VALUES (k.conrelid, k.conkey), (k.confrelid, k.confkey)) side(r, keys)
                              JOIN pg_catalog.pg_attribute a
                                ON a.attrelid OPERATOR(pg_catalog.=) side.r AND a.attnum OPERATOR(pg_catalog.=) ANY (side.keys)
                              JOIN privacy.registered_column c
                                ON c.col OPERATOR(pg_catalog.=) a.attname
                               AND (c.protect OPERATOR(pg_catalog.=) 'msisdn_fpe'
                                    OR (p.from_key OPERATOR(pg_catalog.=) 'raw' AND c.protect IS NOT NULL))
                               AND (c.tbl OPERATOR(pg_catalog.=) side.r
                                    OR c.tbl IN (SELECT x.relid FROM pg_catalog.pg_partition_ancestors(side.r) x)))) THEN
    RAISE EXCEPTION 'cannot rekey relation %, whose phone-number column takes part in a foreign key', p.rel
      USING ERRCODE = '55000',
            DETAIL = 'The referencing and the referenced pseudonyms would be under different keys between the two conversions.',
            HINT = 'Drop the foreign key for the rotation, run CALL privacy.rekey(), and create it again.';
  END IF;
  -- A rule of the owner could make the UPDATE convert nothing, or other rows.
  IF EXISTS (SELECT FROM pg_catalog.pg_rewrite w WHERE w.ev_class OPERATOR(pg_catalog.=) p.rel) THEN
    RAISE EXCEPTION 'cannot rekey relation %, which has rules', p.rel
      USING ERRCODE = '55000',
            DETAIL = 'A rule could keep the conversion''s UPDATE from reaching its rows.',
            HINT = 'Drop the rules of the relation, then run CALL privacy.rekey() again.';
  END IF;
  -- The rows of the batch, counted under the lock when a BEFORE UPDATE row
  -- trigger of the owner could skip one (return NULL) and leave it under
  -- the old key.  (The lock keeps her from adding one meanwhile.)
  count_rows := EXISTS (SELECT FROM pg_catalog.pg_trigger g
                          JOIN pg_catalog.pg_proc f ON f.oid OPERATOR(pg_catalog.=) g.tgfoid
                         WHERE g.tgrelid OPERATOR(pg_catalog.=) p.rel AND NOT g.tgisinternal
                           AND g.tgenabled OPERATOR(pg_catalog.<>) 'D'
                           AND (g.tgtype::integer OPERATOR(pg_catalog.&) 19) OPERATOR(pg_catalog.=) 19   -- ROW, BEFORE, UPDATE
                           AND f.pronamespace OPERATOR(pg_catalog.<>) 'privacy_internal'::regnamespace);
  -- (rows from before protection: every protected column)
  SELECT pg_catalog.array_agg(c.col ORDER BY c.attnum) INTO cols
    FROM privacy.registered_column c
   WHERE c.tbl OPERATOR(pg_catalog.=) p.tbl
     AND (c.protect OPERATOR(pg_catalog.=) 'msisdn_fpe'
          OR (p.from_key OPERATOR(pg_catalog.=) 'raw' AND c.protect IS NOT NULL));
  -- The conversion begins: it chooses the order column (none: the
  -- relation is converted whole, in one batch) and records the high mark,
  -- the column's largest value now (read after the lock, at READ
  -- COMMITTED): rows written above it from now on are under the current
  -- key, and the batches stop at it.  batch_size 0 (rekey's first pass):
  -- only that (a relation without an order column is left to its one
  -- batch).
  IF p.started_at IS NULL THEN
    SELECT o.col, o.typ INTO p.order_col, p.order_type
      FROM privacy_internal._rekey_order_columns(p.rel, p.tbl) o LIMIT 1;
    p.started_at := started;
    IF p.order_col IS NOT NULL THEN
      p.high_mark := privacy_internal._rekey_high_mark(p.rel, p.order_col, p.order_type);
    END IF;
    UPDATE privacy.rekey_pending x SET order_col = p.order_col, order_type = p.order_type, started_at = p.started_at,
                                       high_mark = p.high_mark
     WHERE x.rel OPERATOR(pg_catalog.=) p.rel;
    -- the protect trigger writes above the mark under the current key
    PERFORM privacy_internal._invalidate(p.rel);
    IF p.order_col IS NULL THEN
      RAISE NOTICE 'relation % has no index rekey can convert it in order of: it is converted in one transaction, its writers held meanwhile', p.rel
        USING HINT = 'An index on a column of type smallint, integer, bigint, numeric, date, timestamp, timestamptz or uuid that is neither protected nor generated lets rekey convert it in batches.';
    ELSIF _rekey_rel.batch_size OPERATOR(pg_catalog.=) 0 AND p.high_mark IS NULL THEN
      -- nothing to mark: converted now, in one batch (its rows, if any,
      -- have no value in the order column), so that its new rows are
      -- under the current key at once
      bsize := 2147483647;
    END IF;
  END IF;
  IF bsize OPERATOR(pg_catalog.=) 0 THEN
    -- begun, and left to the batches
    rows := 0;
    finished := false;
    RETURN;
  END IF;
  -- (an index on the order column dropped since the conversion began:
  -- each batch reads the relation whole from then on)
  IF (p.watermark IS NOT NULL OR p.high_mark IS NOT NULL)
     AND NOT EXISTS (SELECT FROM privacy_internal._rekey_order_columns(p.rel, p.tbl) o
                      WHERE o.col OPERATOR(pg_catalog.=) p.order_col) THEN
    RAISE WARNING 'relation % has no index on column % any more, which rekey converts it in order of: each batch reads the relation whole', p.rel, p.order_col
      USING HINT = pg_catalog.format('Create an index on %s (%I), or convert the rest in one batch: CALL privacy.rekey(batch_size => 2147483647, only_table => ''%s'').',
                                     p.rel, p.order_col, p.tbl);
  END IF;
  b := privacy_internal._rekey_batch(p.rel, cols, p.order_col, p.order_type, p.watermark, p.high_mark,
                                     bsize, count_rows);
  rows := b.rows;
  p.rows_done := p.rows_done OPERATOR(pg_catalog.+) b.rows;
  -- the relation's state in every backend, read again with the watermark
  PERFORM privacy_internal._invalidate(p.rel);
  IF b.hi IS NOT NULL THEN
    UPDATE privacy.rekey_pending x SET watermark = b.hi, rows_done = p.rows_done
     WHERE x.rel OPERATOR(pg_catalog.=) p.rel;
    finished := false;
    RETURN;
  END IF;
  DELETE FROM privacy.rekey_pending x WHERE x.rel OPERATOR(pg_catalog.=) p.rel;
  INSERT INTO privacy.rekey_log (rel, tbl, from_key, to_key, rows, started_at, finished_at)
  VALUES (p.rel::text, p.tbl::text, p.from_key, cur, p.rows_done, p.started_at, pg_catalog.clock_timestamp());
  PERFORM privacy_internal._audit(CASE WHEN p.from_key OPERATOR(pg_catalog.=) 'raw' THEN 'protect.converted' ELSE 'key.rekey' END, p.rel::text,
                         pg_catalog.jsonb_build_object('table', p.tbl::text, 'from', p.from_key, 'to', cur,
                                                       'columns', pg_catalog.cardinality(cols), 'rows', p.rows_done,
                                                       'order_column', p.order_col));
END
$$;
COMMENT ON FUNCTION privacy_internal._rekey_rel(regclass, integer, integer) IS
  'internal: one step of privacy.rekey(): convert one batch of a pending relation''s phone-number pseudonyms to the current key';

-- The pending relations (of table tbl, NULL: of every table), in the
-- order rekey converts them.
CREATE FUNCTION privacy_internal._rekey_todo(tbl regclass DEFAULT NULL) RETURNS regclass[]
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
  SELECT COALESCE(pg_catalog.array_agg(p.rel ORDER BY p.since, p.rel::pg_catalog.oid), '{}')
    FROM privacy.rekey_pending p
   WHERE _rekey_todo.tbl IS NULL OR p.tbl OPERATOR(pg_catalog.=) _rekey_todo.tbl
$$;
COMMENT ON FUNCTION privacy_internal._rekey_todo(regclass) IS
  'internal: the relations privacy.rekey() has left to convert';

-- Not SECURITY DEFINER and without SET clauses, so that it may COMMIT;
-- every name and operator in it is qualified, because it runs with the
-- caller's search_path.
CREATE PROCEDURE privacy.rekey(batch_size integer DEFAULT 10000, lock_timeout_ms integer DEFAULT 1000,
                               only_table regclass DEFAULT NULL, max_seconds integer DEFAULT NULL)
  LANGUAGE plpgsql
AS $$
DECLARE
  todo regclass[];
  r regclass;
  nrows bigint;
  fin boolean;
  done integer := 0;
  total bigint := 0;
  failed jsonb := pg_catalog.jsonb_build_array();
  st text;
  msg text;
  began timestamptz := pg_catalog.clock_timestamp();
  out_of_time boolean := false;
BEGIN
  IF batch_size IS NULL OR batch_size OPERATOR(pg_catalog.<) 1 THEN
    RAISE EXCEPTION 'invalid batch_size %', batch_size
      USING ERRCODE = '22023', HINT = 'batch_size, the rows converted per transaction, must be at least 1.';
  END IF;
  IF lock_timeout_ms IS NULL OR lock_timeout_ms OPERATOR(pg_catalog.<) 1 THEN
    RAISE EXCEPTION 'invalid lock_timeout_ms %', lock_timeout_ms
      USING ERRCODE = '22023', HINT = 'lock_timeout_ms must be at least 1.';
  END IF;
  IF max_seconds OPERATOR(pg_catalog.<) 1 THEN
    RAISE EXCEPTION 'invalid max_seconds %', max_seconds
      USING ERRCODE = '22023', HINT = 'max_seconds, after which no further batch is begun, must be at least 1 (NULL: no limit).';
  END IF;
  -- Fails here, before anything is locked, when CALLed inside a
  -- transaction block (where the batches could not commit one by one).
  COMMIT;
  -- Each batch reads its rows after it has locked the relation: at
  -- READ COMMITTED only (src/protect.c, protect_self_update).
  IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed' THEN
    RAISE EXCEPTION 'rekey must run at isolation level READ COMMITTED'
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('Its transactions run at %s: a batch''s snapshot could be older than its lock, and a row committed in between would not be converted.',
                                       pg_catalog.upper(pg_catalog.current_setting('transaction_isolation'))),
            HINT = 'SET default_transaction_isolation = ''read committed'', then CALL privacy.rekey() again.';
  END IF;
  todo := privacy_internal._rekey_todo(only_table);
  IF pg_catalog.cardinality(todo) OPERATOR(pg_catalog.=) 0 THEN
    IF only_table IS NULL THEN
      RAISE NOTICE 'nothing to rekey: every phone-number pseudonym is under the current key';
    ELSE
      RAISE NOTICE 'nothing to rekey in %: its phone-number pseudonyms are under the current key', only_table;
    END IF;
    RETURN;
  END IF;
  -- A first pass begins every relation not yet begun that it can lock at
  -- once (each committed): its high mark recorded, the rows written into
  -- it above the mark are under the current key from then on, while the
  -- batches go from relation to relation.  A relation a writer holds is
  -- begun by its first batch instead.  (_rekey_rel skips one begun
  -- already: the caller, a role the DBA granted rekey to, reads nothing
  -- of pg_privacy's catalog itself.)
  FOREACH r IN ARRAY todo LOOP
    EXIT WHEN max_seconds IS NOT NULL
              AND pg_catalog.clock_timestamp() OPERATOR(pg_catalog.>=) (began OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs => max_seconds));
    BEGIN
      SELECT s.rows, s.finished INTO nrows, fin FROM privacy_internal._rekey_rel(r, LEAST(lock_timeout_ms, 100), 0) s;
      total := total OPERATOR(pg_catalog.+) COALESCE(nrows, 0);
      IF fin AND nrows IS NOT NULL THEN
        done := done OPERATOR(pg_catalog.+) 1;   -- (nothing to mark: converted)
      END IF;
    EXCEPTION
      WHEN query_canceled THEN
        RAISE;
      WHEN OTHERS THEN
        NULL;   -- (its first batch reports it)
    END;
    COMMIT;
  END LOOP;
  FOREACH r IN ARRAY todo LOOP
    -- batch after batch, each committed, until the relation is done (or
    -- the time given is up: no further batch is begun)
    LOOP
      IF max_seconds IS NOT NULL
         AND pg_catalog.clock_timestamp() OPERATOR(pg_catalog.>=) (began OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs => max_seconds)) THEN
        out_of_time := true;
        fin := NULL;
        EXIT;
      END IF;
      BEGIN
        SELECT s.rows, s.finished INTO nrows, fin
          FROM privacy_internal._rekey_rel(r, lock_timeout_ms, batch_size) s;
        total := total OPERATOR(pg_catalog.+) COALESCE(nrows, 0);
      EXCEPTION
        WHEN query_canceled THEN
          RAISE;
        WHEN OTHERS THEN
          GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
          RAISE WARNING 'rekey of % failed (SQLSTATE %): %', r, st, msg;
          failed := failed OPERATOR(pg_catalog.||)
                    pg_catalog.jsonb_build_object('relation', r::text, 'sqlstate', st, 'message', msg);
          fin := NULL;
      END;
      COMMIT;
      EXIT WHEN fin IS NOT FALSE;   -- done, or failed
    END LOOP;
    IF fin AND nrows IS NOT NULL THEN
      done := done OPERATOR(pg_catalog.+) 1;
    END IF;
    EXIT WHEN out_of_time;
  END LOOP;
  RAISE NOTICE 'rekeyed % relation(s), % row(s)', done, total;
  IF out_of_time THEN
    RAISE NOTICE 'stopped after % second(s), with relations left to convert', max_seconds
      USING HINT = 'CALL privacy.rekey() again goes on from where each relation''s last batch left it (privacy.rekey_progress).';
  END IF;
  IF pg_catalog.jsonb_array_length(failed) OPERATOR(pg_catalog.>) 0 THEN
    RAISE EXCEPTION 'rekey failed for % relation(s)', pg_catalog.jsonb_array_length(failed)
      USING ERRCODE = '55000',
            DETAIL = (SELECT pg_catalog.string_agg(pg_catalog.format('%s: %s (%s)', f->>'relation', f->>'message', f->>'sqlstate'), '; ')
                        FROM pg_catalog.jsonb_array_elements(failed) f),
            HINT = 'The other relations were converted; CALL privacy.rekey() again continues with these, from where they stopped.';
  END IF;
END
$$;
COMMENT ON PROCEDURE privacy.rekey(integer, integer, regclass, integer) IS
  'convert every phone-number pseudonym (msisdn_fpe) still under an older key (of one table: only_table) to the current key, batch_size rows per transaction, each relation in order of an indexed column, beginning no batch after max_seconds; resumable; CALL it outside a transaction block';

-- Progress of the rotation, per table: relations converted since the
-- current key was recorded and left, their rows (left: the planner's
-- estimate, less the rows of the batches done in relations converted in
-- part), the rate so far and the estimated end.  Readable from any
-- session while privacy.rekey() runs (each batch shows once it commits).
CREATE VIEW privacy.rekey_progress AS
WITH k AS (SELECT s.fingerprint, s.recorded_at FROM privacy.key_state s),
done AS (
  SELECT l.tbl, pg_catalog.count(*) AS rels, pg_catalog.sum(l.rows) AS rows,
         pg_catalog.sum(pg_catalog.date_part('epoch', l.finished_at OPERATOR(pg_catalog.-) l.started_at)) AS secs,
         pg_catalog.min(l.started_at) AS first_at, pg_catalog.max(l.finished_at) AS last_at
    FROM privacy.rekey_log l, k
   WHERE l.to_key OPERATOR(pg_catalog.=) k.fingerprint AND l.finished_at OPERATOR(pg_catalog.>=) k.recorded_at
   GROUP BY l.tbl),
todo AS (
  -- qualified, as rekey_log names it (whatever the reader's search_path)
  SELECT (SELECT pg_catalog.format('%I.%I', n.nspname, x.relname)
            FROM pg_catalog.pg_class x JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) x.relnamespace
           WHERE x.oid OPERATOR(pg_catalog.=) p.tbl) AS tbl,
         pg_catalog.count(*) AS rels,
         pg_catalog.sum(GREATEST(GREATEST(c.reltuples, 0)::bigint OPERATOR(pg_catalog.-) p.rows_done, 0))::bigint AS rows,
         pg_catalog.min(p.from_key) AS from_key,
         pg_catalog.count(*) FILTER (WHERE p.watermark IS NOT NULL OR p.high_mark IS NOT NULL) AS part,
         pg_catalog.sum(p.rows_done) AS rows_part,
         pg_catalog.sum(pg_catalog.date_part('epoch', pg_catalog.now() OPERATOR(pg_catalog.-) p.started_at))
           FILTER (WHERE p.watermark IS NOT NULL OR p.high_mark IS NOT NULL) AS secs_part
    FROM privacy.rekey_pending p
    JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) p.rel
   GROUP BY p.tbl),
t AS (
  SELECT COALESCE(t.tbl, d.tbl) AS tbl, t.from_key, d.rels AS drels, t.rels AS trels, t.part, t.rows AS left_rows,
         COALESCE(d.rows, 0) OPERATOR(pg_catalog.+) COALESCE(t.rows_part, 0) AS done_rows,
         COALESCE(d.secs, 0) OPERATOR(pg_catalog.+) COALESCE(t.secs_part, 0) AS secs,
         d.last_at
    FROM todo t
    FULL JOIN done d ON d.tbl OPERATOR(pg_catalog.=) t.tbl)
SELECT t.tbl,
       t.from_key,
       COALESCE(t.drels, 0) AS relations_done,
       COALESCE(t.trels, 0) AS relations_left,
       t.done_rows::bigint AS rows_done,
       COALESCE(t.left_rows, 0) AS rows_left,
       CASE WHEN t.secs OPERATOR(pg_catalog.>) 0 THEN pg_catalog.round((t.done_rows OPERATOR(pg_catalog./) t.secs)::numeric) END AS rows_per_second,
       CASE WHEN COALESCE(t.trels, 0) OPERATOR(pg_catalog.=) 0 THEN t.last_at
            WHEN t.secs OPERATOR(pg_catalog.>) 0 AND t.done_rows OPERATOR(pg_catalog.>) 0
              THEN pg_catalog.now() OPERATOR(pg_catalog.+)
                   pg_catalog.make_interval(secs => (t.left_rows OPERATOR(pg_catalog.*) t.secs OPERATOR(pg_catalog./) t.done_rows)::double precision)
       END AS estimated_end,
       COALESCE(t.part, 0) AS relations_in_part
  FROM t;
COMMENT ON VIEW privacy.rekey_progress IS
  'the key rotation of phone-number pseudonyms per table: relations and rows converted to the current key and left, rate, estimated end (the finish time when nothing is left), relations converted in part';
