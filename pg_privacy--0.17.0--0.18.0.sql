/* pg_privacy--0.17.0--0.18.0.sql: ALTER EXTENSION pg_privacy UPDATE TO '0.18.0'
 *
 * Assembled by src/upgrade/gen_upgrade.py from src/upgrade/0.17.0--0.18.0.pre.sql,
 * the differences between the 0.17.0 and 0.18.0 install scripts, and
 * src/upgrade/0.17.0--0.18.0.post.sql.  Edit those, not this file.
 */

\echo Use "ALTER EXTENSION pg_privacy UPDATE TO '0.18.0'" to load this file. \quit

-- The rows a table held before protect(..., batched => true) are pending
-- from 'raw' in privacy.rekey_pending until privacy.rekey() converts them.
ALTER TABLE privacy.rekey_pending
  DROP CONSTRAINT rekey_pending_from_key_check,
  ADD CONSTRAINT rekey_pending_from_key_check CHECK (from_key ~ '^pgp1:[0-9a-f]{16}$' OR from_key = 'raw');

-- Tables new in 0.18.0 (generated)

-- Functions removed, or whose arguments or result changed (generated)


-- Functions new or changed in 0.18.0, in the order of its install script (generated)

CREATE OR REPLACE FUNCTION privacy.register_column(tbl regclass, col name, category text,
                                        identifies text DEFAULT NULL,
                                        link text DEFAULT 'owner',
                                        protect text DEFAULT NULL,
                                        domain text DEFAULT 'default')
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  att record;
BEGIN
  IF tbl IS NULL OR col IS NULL OR category IS NULL THEN
    RAISE EXCEPTION 'table, column and category must not be null' USING ERRCODE = '22004';
  END IF;
  IF NOT EXISTS (SELECT FROM privacy.registered_table t WHERE t.tbl OPERATOR(pg_catalog.=) register_column.tbl) THEN
    RAISE EXCEPTION 'table % is not registered', tbl
      USING ERRCODE = '55000',
            HINT = 'Register it with privacy.register_table() first.';
  END IF;
  PERFORM privacy_internal._check_owner(tbl);
  SELECT a.attnum, a.atttypid, a.attnotnull, a.attgenerated, t.typcategory
    INTO att
    FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) a.atttypid
   WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attname OPERATOR(pg_catalog.=) col
     AND NOT a.attisdropped;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'column "%" of relation % does not exist', col, tbl USING ERRCODE = '42703';
  END IF;
  IF att.attnum OPERATOR(pg_catalog.<=) 0 THEN
    RAISE EXCEPTION 'cannot register system column "%"', col USING ERRCODE = '22023';
  END IF;
  IF NOT EXISTS (SELECT FROM privacy.category c WHERE c.name OPERATOR(pg_catalog.=) category) THEN
    RAISE EXCEPTION 'unknown category "%"', category
      USING ERRCODE = '22023',
            HINT = 'Use one of: ' || (SELECT pg_catalog.string_agg(c.name, ', ' ORDER BY c.name)
                                        FROM privacy.category c) || '.';
  END IF;
  IF identifies IS NOT NULL
     AND NOT EXISTS (SELECT FROM privacy.identifier_kind k WHERE k.name OPERATOR(pg_catalog.=) identifies) THEN
    RAISE EXCEPTION 'unknown identifier kind "%"', identifies
      USING ERRCODE = '22023',
            HINT = 'Use one of: ' || (SELECT pg_catalog.string_agg(k.name, ', ' ORDER BY k.name)
                                        FROM privacy.identifier_kind k) || '.';
  END IF;
  IF link IS NULL OR link NOT IN ('owner', 'mention') THEN
    RAISE EXCEPTION 'invalid link "%"', link
      USING ERRCODE = '22023', HINT = 'Use "owner" or "mention".';
  END IF;
  IF link OPERATOR(pg_catalog.=) 'mention' AND identifies IS NULL THEN
    RAISE EXCEPTION 'a mention must say which identifier kind it holds'
      USING ERRCODE = '22023', HINT = 'Pass identifies => ''msisdn'' (or another kind).';
  END IF;
  IF protect IS NOT NULL THEN
    IF protect NOT IN ('pseudonym', 'msisdn_fpe', 'email_pseudonym', 'country', 'null') THEN
      RAISE EXCEPTION 'invalid protect transformation "%"', protect
        USING ERRCODE = '22023',
              HINT = 'Use one of: pseudonym, msisdn_fpe, email_pseudonym, country, null.';
    END IF;
    IF protect OPERATOR(pg_catalog.=) 'null' AND att.attnotnull THEN
      RAISE EXCEPTION 'column "%" of relation % is NOT NULL and cannot be protected by nulling', col, tbl
        USING ERRCODE = '22023';
    END IF;
    IF protect OPERATOR(pg_catalog.<>) 'null'
       AND att.atttypid NOT IN ('text'::regtype, 'varchar'::regtype)
       AND NOT (protect OPERATOR(pg_catalog.=) 'country' AND att.atttypid OPERATOR(pg_catalog.=) 'bpchar'::regtype) THEN
      RAISE EXCEPTION 'protect transformation "%" needs a text or varchar column', protect
        USING ERRCODE = '42804',
              DETAIL = pg_catalog.format('Column "%s" of relation %s has type %s.', col, tbl,
                                         pg_catalog.format_type(att.atttypid, NULL));
    END IF;
  END IF;
  -- Identifiers are matched, normalized and cast by the extension: only
  -- built-in text and integer types (privacy_internal._identifier_type_ok).
  IF identifies IS NOT NULL AND NOT privacy_internal._identifier_type_ok(att.atttypid) THEN
    RAISE EXCEPTION 'an identifier column must have a built-in text or integer type'
      USING ERRCODE = '42804',
            DETAIL = pg_catalog.format('Column "%s" of relation %s has type %s.', col, tbl,
                                       pg_catalog.format_type(att.atttypid, NULL)),
            HINT = 'Use text, varchar, char, smallint, integer, bigint or numeric.';
  END IF;
  IF domain IS NULL OR pg_catalog.octet_length(domain) NOT BETWEEN 1 AND 200 THEN
    RAISE EXCEPTION 'invalid pseudonymization domain'
      USING ERRCODE = '22023',
            DETAIL = 'A domain is a non-empty text of at most 200 bytes.';
  END IF;
  IF protect IS NOT NULL AND att.attgenerated OPERATOR(pg_catalog.<>) '' THEN
    RAISE EXCEPTION 'cannot protect generated column "%" of relation %', col, tbl
      USING ERRCODE = '55000',
            DETAIL = 'A generated column is computed after the protect trigger and would be stored untransformed.',
            HINT = 'Protect the columns it is computed from, or register it without protect.';
  END IF;
  -- A protected table produces the pseudonyms of its domain for its owner.
  IF protect IN ('pseudonym', 'msisdn_fpe', 'email_pseudonym') THEN
    PERFORM privacy_internal._check_domain_owner(tbl, domain);
  END IF;
  IF EXISTS (SELECT FROM privacy.registered_column c
              WHERE c.tbl OPERATOR(pg_catalog.=) register_column.tbl
                AND c.col OPERATOR(pg_catalog.=) register_column.col) THEN
    RAISE EXCEPTION 'column "%" of relation % is already registered', col, tbl
      USING ERRCODE = '42710',
            HINT = 'Unregister it with privacy.unregister_column() to declare it anew.';
  END IF;
  -- A protected table's trigger transforms the column from now on; the
  -- values it holds already would stay raw among them, never found by the
  -- search for a data subject, and no conversion could tell them apart.
  -- (Not a table whose trigger carries a rule for shards, as
  -- undistribute_table leaves it: it refuses every row, and what it holds
  -- was written through the shards' trigger.)
  IF protect IS NOT NULL AND privacy_internal._has_protect_trigger(tbl) AND NOT privacy_internal._citus_table(tbl)
     AND NOT EXISTS (SELECT FROM pg_catalog.pg_trigger g
                      WHERE g.tgrelid OPERATOR(pg_catalog.=) tbl AND g.tgname OPERATOR(pg_catalog.=) 'zz_pg_privacy_protect'
                        AND g.tgnargs OPERATOR(pg_catalog.>) 0)
     AND privacy_internal._has_rows(tbl, col) THEN
    RAISE EXCEPTION 'column "%" of protected table % holds values', col, tbl
      USING ERRCODE = '55000',
            DETAIL = 'Declared protected now, its values would stay raw beside the ones the protect trigger transforms from now on, and the search for a data subject would not find them.',
            HINT = 'Declare it without protect (its values are then searched as they are written), or set it NULL in every row first; if its values are pseudonyms already, unprotect the table, declare the column, and protect it again with rewrite_existing => false.';
  END IF;
  INSERT INTO privacy.registered_column (tbl, col, attnum, category, identifies, link, protect, domain)
       VALUES (tbl, col, att.attnum, category, identifies, link, protect, domain);
  -- the shards of a protected Citus table transform by the rule their
  -- trigger carries (src/protect.c): signed again with this column
  IF protect IS NOT NULL AND privacy_internal._has_protect_trigger(tbl) AND privacy_internal._citus_table(tbl) THEN
    PERFORM privacy_internal._protect_citus_dist_check(tbl);
    PERFORM privacy_internal._protect_citus_sign(tbl);
  END IF;
  -- A table that now holds subjects' own identifiers gets the restriction
  -- check at once while any subject is restricted (73_subject_restrict.sql).
  IF identifies IS NOT NULL AND link OPERATOR(pg_catalog.=) 'owner'
     AND EXISTS (SELECT FROM privacy.restriction) THEN
    PERFORM privacy_internal._restrict_install();
  END IF;
  PERFORM privacy_internal._invalidate(tbl);
  PERFORM privacy_internal._audit('catalog.register_column', tbl::text,
                         pg_catalog.jsonb_build_object('column', col, 'category', category,
                                                       'identifies', identifies, 'link', link,
                                                       'protect', protect, 'domain', domain));
END
$$;

CREATE OR REPLACE FUNCTION privacy.reidentify_msisdn(pseudonym text, domain text DEFAULT 'default')
  RETURNS text
  LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  result text;
BEGIN
  -- A pseudonym of a relation privacy.rekey() has not converted is under
  -- the replaced key: decrypted under the current one it gives another,
  -- valid-looking number.  The pseudonym does not say where it comes
  -- from, so none is read back while any is left (src/sql/36_rekey.sql),
  -- but by the form that names the key of its row.
  IF EXISTS (SELECT FROM privacy.rekey_pending p WHERE p.from_key OPERATOR(pg_catalog.<>) 'raw') THEN
    RAISE EXCEPTION 'cannot tell which key a phone-number pseudonym is under while a key rotation runs'
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('%s relation(s) hold phone-number pseudonyms under a replaced key, which privacy.rekey() has not converted: decrypted under the current key, such a pseudonym gives another, valid-looking number.',
                                       (SELECT pg_catalog.count(*) FROM privacy.rekey_pending p WHERE p.from_key OPERATOR(pg_catalog.<>) 'raw')),
            HINT = 'Name the key of the row the pseudonym comes from: privacy.reidentify_msisdn(t.col, domain, privacy.row_key(t.tableoid, t.*)); or run CALL privacy.rekey() first.';
  END IF;
  result := privacy_internal._msisdn_decrypt(pseudonym, domain);
  PERFORM privacy_internal._audit('pseudonym.reidentify', NULL,
                         pg_catalog.jsonb_build_object('domain', domain, 'kind', 'msisdn',
                                                       'subject', privacy_internal._subject_ref('msisdn', result)));
  RETURN result;
END
$$;

CREATE FUNCTION privacy_internal._has_rows(tbl regclass, col name DEFAULT NULL) RETURNS boolean
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_has_rows';

COMMENT ON FUNCTION privacy_internal._has_rows(regclass, name) IS
  'internal: whether the table holds a row (whose col is not NULL), read as its owner';

CREATE FUNCTION privacy_internal._protect(tbl regclass, rewrite_existing boolean, batched boolean) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  ncols integer;
  nrows bigint := 0;
  d text;
  citus boolean;
  had_trigger boolean := privacy_internal._has_protect_trigger(tbl);
BEGIN
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'table must not be null' USING ERRCODE = '22004',
          HINT = 'A mistyped table name given to to_regclass() yields NULL; check the name.';
  END IF;
  IF NOT EXISTS (SELECT FROM privacy.registered_table t WHERE t.tbl OPERATOR(pg_catalog.=) _protect.tbl) THEN
    RAISE EXCEPTION 'table % is not registered', tbl
      USING ERRCODE = '55000',
            HINT = 'Register it with privacy.register_table() and declare its columns with privacy.register_column().';
  END IF;
  PERFORM privacy_internal._check_owner(tbl);
  SELECT pg_catalog.count(*) INTO ncols FROM privacy.registered_column c
   WHERE c.tbl OPERATOR(pg_catalog.=) _protect.tbl AND c.protect IS NOT NULL;
  IF ncols OPERATOR(pg_catalog.=) 0 THEN
    RAISE EXCEPTION 'no column of table % has a protect transformation', tbl
      USING ERRCODE = '55000',
            HINT = 'Declare one with privacy.register_column(..., protect => ''pseudonym'').';
  END IF;
  -- A table Citus manages: its rows are on the shards, whose trigger reads
  -- the rule it carries (src/protect.c, signed rules).
  citus := privacy_internal._citus_table(tbl);
  IF citus THEN
    IF rewrite_existing THEN
      RAISE EXCEPTION 'rewrite_existing is not supported on table %, which Citus manages', tbl
        USING ERRCODE = '0A000',
              DETAIL = 'Rewriting the rows already on the shards through Citus is not built.',
              HINT = 'Protect an empty distributed table and load the rows into it (INSERT ... SELECT from the raw table): the shards transform them.';
    END IF;
    -- (Citus cuts and hashes the shard names of a longer name: the
    -- shards' trigger would not recognise them)
    IF pg_catalog.octet_length((SELECT k.relname FROM pg_catalog.pg_class k
                                 WHERE k.oid OPERATOR(pg_catalog.=) tbl)::text) OPERATOR(pg_catalog.>) 40 THEN
      RAISE EXCEPTION 'protect is not supported on table %, which Citus manages, with a name longer than 40 bytes', tbl
        USING ERRCODE = '0A000',
              DETAIL = 'Its shards would be named by a hash Citus adds, which the protect trigger on a shard does not check.',
              HINT = 'Rename the table to a shorter name.';
    END IF;
    PERFORM privacy_internal._protect_citus_dist_check(tbl);
  END IF;
  IF privacy_internal._has_protect_trigger(tbl) THEN
    PERFORM privacy_internal._check_protection(tbl);
    IF rewrite_existing THEN
      RAISE EXCEPTION 'table % is already protected', tbl
        USING ERRCODE = '55000',
              DETAIL = 'Its rows were protected on write; rewriting them would transform them twice.';
    END IF;
    -- A Citus table's rule is signed again below (as the catalog, owner,
    -- names and key now are); a table Citus no longer manages
    -- (undistribute_table) gets the local trigger instead of the one its
    -- shards carried, whose rule protects no local table.
    IF NOT citus AND NOT EXISTS (SELECT FROM pg_catalog.pg_trigger g
                                  WHERE g.tgrelid OPERATOR(pg_catalog.=) tbl
                                    AND g.tgname OPERATOR(pg_catalog.=) 'zz_pg_privacy_protect'
                                    AND g.tgnargs OPERATOR(pg_catalog.>) 0) THEN
      RAISE NOTICE 'table % is already protected', tbl;
      RETURN;
    END IF;
  END IF;
  -- The owner of the table (and of each partition) must hold the domains.
  FOR d IN SELECT DISTINCT c.domain FROM privacy.registered_column c
            WHERE c.tbl OPERATOR(pg_catalog.=) _protect.tbl
              AND c.protect IN ('pseudonym', 'msisdn_fpe', 'email_pseudonym')
  LOOP
    PERFORM privacy_internal._check_domain_owner(tbl, d);
  END LOOP;
  -- A generated column is computed after BEFORE triggers: stored raw.
  SELECT c.col INTO d FROM privacy.registered_column c
    JOIN pg_catalog.pg_attribute a
      ON a.attrelid OPERATOR(pg_catalog.=) c.tbl AND a.attname OPERATOR(pg_catalog.=) c.col
     AND NOT a.attisdropped
   WHERE c.tbl OPERATOR(pg_catalog.=) _protect.tbl AND c.protect IS NOT NULL
     AND a.attgenerated OPERATOR(pg_catalog.<>) '' LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'cannot protect generated column "%" of relation %', d, tbl
      USING ERRCODE = '55000',
            DETAIL = 'A generated column is computed after the protect trigger and would be stored untransformed.';
  END IF;
  -- No BEFORE row trigger may fire after ours and put a raw value back.
  SELECT pg_catalog.format('trigger %I on %s', g.tgname, g.tgrelid::regclass) INTO d
    FROM pg_catalog.pg_trigger g
   WHERE (g.tgrelid OPERATOR(pg_catalog.=) tbl
          OR g.tgrelid IN (SELECT p.relid FROM pg_catalog.pg_partition_tree(tbl) p))
     AND NOT g.tgisinternal AND g.tgenabled IN ('O', 'A')
     AND (g.tgtype::integer OPERATOR(pg_catalog.&) 3) OPERATOR(pg_catalog.=) 3
     AND (g.tgtype::integer OPERATOR(pg_catalog.&) 20) OPERATOR(pg_catalog.<>) 0
     AND g.tgname OPERATOR(pg_catalog.>) 'zz_pg_privacy_protect'::name
   ORDER BY g.tgname LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'table % has a BEFORE row trigger that would fire after the protect trigger', tbl
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('The %s sorts after zz_pg_privacy_protect and could store raw values.', d),
            HINT = 'Rename that trigger so that it sorts before zz_pg_privacy_protect.';
  END IF;
  -- Named to fire after the table's other BEFORE triggers (they fire in
  -- name order), so no later trigger can put a raw value back.
  IF citus THEN
    PERFORM privacy_internal._protect_citus_sign(tbl, pg_catalog.current_setting('pg_privacy.default_country'), true);
  ELSE
    IF privacy_internal._has_protect_trigger(tbl) THEN
      PERFORM privacy_internal._allow_protect_ddl(tbl);
      EXECUTE pg_catalog.format('DROP TRIGGER zz_pg_privacy_protect ON %s', tbl);
      PERFORM privacy_internal._allow_protect_ddl(NULL);
    END IF;
    EXECUTE pg_catalog.format(
      'CREATE TRIGGER zz_pg_privacy_protect BEFORE INSERT OR UPDATE ON %s '
      'FOR EACH ROW EXECUTE FUNCTION privacy_internal._protect_trigger()', tbl);
  END IF;
  -- Rows written before protection.  Left raw, they would be stored
  -- beside pseudonyms that cannot be told from them: export, erasure and
  -- restriction would not find them, and no later conversion could tell
  -- which rows to convert.  So a table that holds rows is protected only
  -- with an explicit choice (the trigger's creation above locks out
  -- concurrent writers until commit: no row comes in between).
  IF rewrite_existing IS NULL AND NOT had_trigger AND NOT citus AND privacy_internal._has_rows(tbl) THEN
    RAISE EXCEPTION 'table % holds rows written while it was not protected', tbl
      USING ERRCODE = '55000',
            DETAIL = 'Left as they are, raw values would stay beside the pseudonyms written from now on: the search for a data subject would not find them, and no later conversion could tell them apart. Nothing was changed.',
            HINT = pg_catalog.format('Convert them now: SELECT privacy.protect(%L, rewrite_existing => true); or, if they hold pseudonyms already (the table was protected before and nothing was written since privacy.unprotect()), leave them as they are: rewrite_existing => false.', tbl);
  END IF;
  IF rewrite_existing IS FALSE AND NOT had_trigger AND NOT citus AND privacy_internal._has_rows(tbl) THEN
    RAISE WARNING 'the rows table % held before privacy.protect() are left as they are', tbl
      USING DETAIL = 'Values written raw (before the table was protected, or while it was not) stay raw: export, erasure and restriction match its protected columns by pseudonym and do not find those rows by them.';
    nrows := -1;
  END IF;
  -- Rows written before protection, in batches: each relation (the table,
  -- or each of its partitions) is pending from 'raw' (privacy.rekey_pending,
  -- src/sql/36_rekey.sql) and begun now, under the trigger's lock: its
  -- high mark recorded, so that rows written from now on above it are
  -- protected as usual, while CALL privacy.rekey() converts the others in
  -- batches, each its own transaction.  Until then the protect trigger
  -- refuses to write a row left raw, and the search for a data subject
  -- refuses the table.  A relation that cannot be converted in batches (no
  -- order column, or nothing to mark) is converted now.
  IF batched THEN
    IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed' THEN
      RAISE EXCEPTION 'cannot convert the rows of relation % at isolation level %', tbl,
                      pg_catalog.upper(pg_catalog.current_setting('transaction_isolation'))
        USING ERRCODE = '55000',
              DETAIL = 'The transaction''s snapshot may be older than the lock that holds the writers off: a row committed in between would not be converted.',
              HINT = 'Run it at READ COMMITTED.';
    END IF;
    IF EXISTS (SELECT FROM privacy.rekey_pending p
                WHERE p.rel OPERATOR(pg_catalog.=) _protect.tbl
                   OR p.rel IN (SELECT x.relid FROM pg_catalog.pg_partition_tree(_protect.tbl) x)) THEN
      RAISE EXCEPTION 'relation % is pending in privacy.rekey_pending already', tbl
        USING ERRCODE = '55000', HINT = 'Run CALL privacy.rekey() to the end first.';
    END IF;
    INSERT INTO privacy.rekey_pending (rel, tbl, from_key)
    SELECT r.rel, _protect.tbl, 'raw'
      FROM (SELECT _protect.tbl::pg_catalog.oid AS rel
            UNION SELECT x.relid FROM pg_catalog.pg_partition_tree(_protect.tbl) x) r
      JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) r.rel
     WHERE k.relkind OPERATOR(pg_catalog.=) 'r';
    PERFORM privacy_internal._invalidate(tbl);
    FOR d IN SELECT p.rel::text FROM privacy.rekey_pending p
              WHERE p.tbl OPERATOR(pg_catalog.=) _protect.tbl AND p.from_key OPERATOR(pg_catalog.=) 'raw'
              ORDER BY p.rel::pg_catalog.oid
    LOOP
      nrows := nrows OPERATOR(pg_catalog.+)
               COALESCE((SELECT s.rows FROM privacy_internal._rekey_rel(d::regclass, 1000, 0) s), 0);
      IF EXISTS (SELECT FROM privacy.rekey_pending p
                  WHERE p.rel OPERATOR(pg_catalog.=) d::regclass AND p.high_mark IS NULL) THEN
        nrows := nrows OPERATOR(pg_catalog.+)
                 COALESCE((SELECT s.rows FROM privacy_internal._rekey_rel(d::regclass, 1000, 2147483647) s), 0);
      END IF;
    END LOOP;
  -- Rows written before protection: transformed in place through the new
  -- trigger, in this transaction, as the table's owner.
  ELSIF rewrite_existing THEN
    nrows := privacy_internal._rewrite_protected(tbl,
               ARRAY(SELECT c.col FROM privacy.registered_column c
                      WHERE c.tbl OPERATOR(pg_catalog.=) _protect.tbl AND c.protect IS NOT NULL
                      ORDER BY c.attnum));
  END IF;
  PERFORM privacy_internal._audit('protect.on', tbl::text,
                         pg_catalog.jsonb_build_object('columns', ncols, 'rows_rewritten', GREATEST(nrows, 0),
                                                       'rows_left_raw', nrows OPERATOR(pg_catalog.<) 0,
                                                       'batched', batched));
  IF batched AND EXISTS (SELECT FROM privacy.rekey_pending p WHERE p.tbl OPERATOR(pg_catalog.=) _protect.tbl
                                                             AND p.from_key OPERATOR(pg_catalog.=) 'raw') THEN
    RAISE NOTICE 'the rows table % held are converted by CALL privacy.rekey()', tbl
      USING DETAIL = 'New rows are protected now. Until a row is converted its protected columns cannot be changed, and export, erasure and restriction refuse the table.',
            HINT = 'Run CALL privacy.rekey() (privacy.rekey_progress shows what is left).';
  END IF;
END
$$;

COMMENT ON FUNCTION privacy_internal._protect(regclass, boolean, boolean) IS
  'internal: privacy.protect() and privacy.protect_in_batches()';

CREATE OR REPLACE FUNCTION privacy.protect(tbl regclass, rewrite_existing boolean DEFAULT NULL) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
BEGIN
  PERFORM privacy_internal._protect(tbl, rewrite_existing, false);
END
$$;

COMMENT ON FUNCTION privacy.protect(regclass, boolean) IS
  'install the on-write protect trigger: each declared transformation is applied on INSERT, UPDATE and COPY, also on partitions; rewrite_existing converts rows already stored (true) or leaves them raw (false); a table that holds rows needs one or the other';

CREATE FUNCTION privacy.protect_in_batches(tbl regclass) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
BEGIN
  PERFORM privacy_internal._protect(tbl, true, true);
END
$$;

COMMENT ON FUNCTION privacy.protect_in_batches(regclass) IS
  'install the on-write protect trigger, and leave the rows the table holds to CALL privacy.rekey(), which converts them in batches; until then the protected columns of a row not converted cannot be changed and the search for a data subject refuses the table';

CREATE OR REPLACE FUNCTION privacy.unprotect(tbl regclass) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  unsafe text;
BEGIN
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'table must not be null' USING ERRCODE = '22004',
          HINT = 'A mistyped table name given to to_regclass() yields NULL; check the name.';
  END IF;
  PERFORM privacy_internal._check_owner(tbl);
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_trigger g
                  WHERE g.tgrelid OPERATOR(pg_catalog.=) tbl
                    AND g.tgname OPERATOR(pg_catalog.=) 'zz_pg_privacy_protect') THEN
    RAISE EXCEPTION 'table % is not protected', tbl USING ERRCODE = '55000';
  END IF;
  -- Rows it held before protect_in_batches() half converted:
  -- without the trigger, the two kinds could never be told apart.
  IF privacy_internal._raw_relation(tbl) IS NOT NULL THEN
    RAISE EXCEPTION 'cannot unprotect table % while privacy.rekey() converts the rows it held before it was protected', tbl
      USING ERRCODE = '55000',
            DETAIL = 'Its rows converted so far are pseudonyms, the others raw: without the protect trigger they could not be told apart.',
            HINT = 'Run CALL privacy.rekey() to the end (privacy.rekey_progress shows what is left), then unprotect it.';
  END IF;
  -- Citus drops it from every shard only when told triggers are safe
  IF privacy_internal._citus_table(tbl) THEN
    unsafe := pg_catalog.current_setting('citus.enable_unsafe_triggers', true);
    PERFORM pg_catalog.set_config('citus.enable_unsafe_triggers', 'on', true);
  END IF;
  -- The event trigger lets this one drop pass (and only this one).
  PERFORM privacy_internal._allow_protect_ddl(tbl);
  EXECUTE pg_catalog.format('DROP TRIGGER zz_pg_privacy_protect ON %s', tbl);
  PERFORM privacy_internal._allow_protect_ddl(NULL);
  IF unsafe IS NOT NULL THEN
    PERFORM pg_catalog.set_config('citus.enable_unsafe_triggers', unsafe, true);
  END IF;
  PERFORM privacy_internal._audit('protect.off', tbl::text);
END
$$;

CREATE OR REPLACE FUNCTION privacy_internal._rekey_mark(from_key text, to_key text) RETURNS bigint
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

CREATE OR REPLACE FUNCTION privacy_internal._rekey_keys(tbl regclass) RETURNS text[]
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

CREATE OR REPLACE FUNCTION privacy_internal._rekey_rel(rel regclass, lock_timeout_ms integer, batch_size integer DEFAULT 2147483647,
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
                  privacy_internal._has_protect_trigger(q.tbl)
                  AND privacy_internal._raw_relation(q.tbl) IS NULL AS is_protected,
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
              DETAIL = pg_catalog.format('Column "%s" of relation %s is declared protected by %s, but the table has no protect trigger, or holds rows from before its protection that privacy.rekey() has not converted yet: its values may be stored raw, and the withdrawal''s deletion could not find all of the subject''s rows. Nothing was changed.',
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
      IF pg_catalog.cardinality(pend) OPERATOR(pg_catalog.>) 0 THEN
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

CREATE OR REPLACE FUNCTION privacy_internal._hold_predicate(tbl regclass, alias text, param_key text,
                                        OUT held text, OUT held_args text[], OUT held_cols integer)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  c record;
  vals text[];
  norms text[];
  cond text[];
  parts text[] := '{}';
  colref text;
  dc text := privacy_internal._default_country();
BEGIN
  -- Holds: every registered column that holds an identifier of the kind
  -- (owner or mention), whatever form it is written in.  A stored
  -- (transformed) value is compared with the transformation of the held
  -- identifier and of its usual written forms; a value as typed, and one
  -- written before the column was protected, by its kind's normal form
  -- (privacy.lookup_value: '20 55 66 77', '004520556677' and '+4520556677'
  -- are one number; the expression export and erasure use, so one index
  -- serves them all).  Only built-in operators and the keyless, PUBLIC
  -- lookup_value: the predicate runs as the table's owner.  Holds store
  -- the normal form computed when they were placed (under the setting of
  -- that moment); today's default country reads the column.
  held_args := '{}';
  FOR c IN
    SELECT rc.col, rc.protect, rc.domain, rc.identifies, ik.normalize,
           (SELECT pg_catalog.array_agg(DISTINCT h.value)
              FROM privacy.legal_hold h
             WHERE h.kind OPERATOR(pg_catalog.=) rc.identifies
               AND h.released_at IS NULL
               AND (h.until IS NULL OR h.until OPERATOR(pg_catalog.>) pg_catalog.now())) AS vals
      FROM privacy.registered_column rc
      JOIN privacy.identifier_kind ik ON ik.name OPERATOR(pg_catalog.=) rc.identifies
     WHERE rc.tbl OPERATOR(pg_catalog.=) _hold_predicate.tbl
       AND (rc.protect IS NULL OR rc.protect NOT IN ('null', 'country'))
     ORDER BY rc.attnum
  LOOP
    CONTINUE WHEN c.vals IS NULL;
    colref := CASE WHEN alias IS NULL THEN pg_catalog.quote_ident(c.col)
                   ELSE pg_catalog.quote_ident(alias) || '.' || pg_catalog.quote_ident(c.col) END;
    -- the normal forms (as lookup_value writes them) of the held values
    SELECT pg_catalog.array_agg(DISTINCT f) INTO norms
      FROM pg_catalog.unnest(c.vals) v,
           LATERAL (VALUES (v), (privacy.lookup_value(c.normalize, v, dc))) x(f)
     WHERE f IS NOT NULL;
    cond := '{}';
    IF c.protect IS NOT NULL THEN
      -- and, while relations of the table are pending under an older key
      -- (src/sql/36_rekey.sql), a held number's pseudonym under that key
      -- too: its rows are kept whichever key they are under
      SELECT pg_catalog.array_agg(DISTINCT x.f) INTO vals
        FROM (SELECT f
                FROM pg_catalog.unnest(privacy_internal._retention_written_forms(c.vals, c.normalize, dc)) v,
                     privacy_internal._stored_form(v, c.protect, c.domain, c.identifies) f
              UNION
              SELECT privacy_internal._msisdn_under(k, v, c.domain, false)
                FROM pg_catalog.unnest(privacy_internal._rekey_keys(_hold_predicate.tbl)) k,
                     pg_catalog.unnest(c.vals) v
               WHERE c.protect OPERATOR(pg_catalog.=) 'msisdn_fpe') x
       WHERE x.f IS NOT NULL;
      IF vals IS NOT NULL THEN
        held_args := held_args || vals::text;
        cond := cond || pg_catalog.format('%s::pg_catalog.text OPERATOR(pg_catalog.=) ANY (%s)',
                                          colref, privacy_internal._hold_arg(held_args, param_key));
      END IF;
    ELSE
      held_args := held_args || c.vals::text;
      cond := cond || pg_catalog.format('%s::pg_catalog.text OPERATOR(pg_catalog.=) ANY (%s)',
                                        colref, privacy_internal._hold_arg(held_args, param_key));
    END IF;
    -- as typed, or raw from before protection: by the normal form (not in
    -- an msisdn_fpe column, whose pseudonyms are numbers themselves,
    -- unless the table has no protect trigger: never protected, or
    -- unprotected since, its rows may hold the number raw; or rows from
    -- before protect_in_batches() are not converted yet: a hold keeps too
    -- much rather than too little)
    IF norms IS NOT NULL AND (c.protect IS DISTINCT FROM 'msisdn_fpe'
                              OR NOT privacy_internal._has_protect_trigger(_hold_predicate.tbl)
                              OR privacy_internal._raw_relation(_hold_predicate.tbl) IS NOT NULL) THEN
      held_args := held_args || norms::text;
      cond := cond || pg_catalog.format('privacy.lookup_value(%L, %s::pg_catalog.text, %L) OPERATOR(pg_catalog.=) ANY (%s)',
                                        c.normalize, colref, dc, privacy_internal._hold_arg(held_args, param_key));
    END IF;
    CONTINUE WHEN pg_catalog.cardinality(cond) OPERATOR(pg_catalog.=) 0;
    -- (IS TRUE, not COALESCE: Citus plans no STABLE cast, such as the
    -- arguments' ::text[], inside a COALESCE of a distributed DELETE)
    parts := parts || pg_catalog.format('(%s) IS TRUE', pg_catalog.array_to_string(cond, ' OR '));
  END LOOP;
  held_cols := pg_catalog.cardinality(parts);
  held := CASE WHEN pg_catalog.cardinality(parts) OPERATOR(pg_catalog.=) 0 THEN NULL
               ELSE '(' || pg_catalog.array_to_string(parts, ' OR ') || ')' END;
END
$$;

CREATE FUNCTION privacy_internal._subject_protect_check(c privacy_internal._subject_column)
  RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF c.protect_problem IS NOT NULL THEN
    RAISE EXCEPTION 'protection of table % is not in force', c.tbl
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.upper(pg_catalog.left(c.protect_problem, 1)) || pg_catalog.substr(c.protect_problem, 2)
                     || ': its values may be stored raw, and the search for a data subject matches their pseudonyms only.',
            HINT = CASE WHEN privacy_internal._raw_relation(c.tbl) IS NOT NULL
                        THEN 'Run CALL privacy.rekey() to the end (privacy.rekey_progress shows what is left), then try again.'
                        ELSE 'Protect the table (SELECT privacy.protect(tbl, rewrite_existing => true) converts the rows it holds), or declare the column without protect if it is meant to hold raw values.' END;
  END IF;
END
$$;

CREATE OR REPLACE FUNCTION privacy_internal._restrict_matches(fired regclass, vals jsonb)
  RETURNS TABLE(col text, val text, is_validity boolean, has_event boolean, reason text, span tstzmultirange)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  dc   text := privacy_internal._default_country();
  keys text[] := privacy_internal._restriction_keys();
  -- While relations of the table are pending under an older key
  -- (src/sql/36_rekey.sql), a stored phone number is read back under that
  -- key too: a restricted subject's row is refused whichever key it is
  -- under (and, rarely, another row whose number under the other key is
  -- hers: refused too, never hers let through).
  pend text[] := CASE WHEN EXISTS (SELECT FROM privacy.rekey_pending)
                      THEN privacy_internal._rekey_keys(fired) ELSE '{}' END;
BEGIN
  RETURN QUERY
  WITH n AS MATERIALIZED (
         SELECT d.col, d.val, c.kind, c.is_validity, c.event_time IS NOT NULL AS has_event, r.norm
           FROM (SELECT DISTINCT x OPERATOR(pg_catalog.->>) 0 AS col, x OPERATOR(pg_catalog.->>) 1 AS val
                   FROM pg_catalog.jsonb_array_elements(vals) x) d
           JOIN privacy_internal._restrict_cols(fired) c ON c.col OPERATOR(pg_catalog.=) d.col::name
           CROSS JOIN LATERAL (
             SELECT CASE WHEN c.protect IS NOT NULL THEN privacy_internal._msisdn_decrypt(d.val, c.domain)
                         ELSE privacy.lookup_value(c.mode, d.val, dc) END
             UNION
             SELECT privacy_internal._msisdn_under(k.fp, d.val, c.domain, true)
               FROM pg_catalog.unnest(pend) k(fp)
              WHERE c.protect IS NOT NULL
             -- and read as a raw number: a row written before the table was
             -- protected, or while it was not (a number read both ways
             -- that is a restricted subject's is refused either way)
             UNION
             SELECT privacy.lookup_value(c.mode, d.val, dc)
              WHERE c.protect IS NOT NULL) r(norm)),
       -- (each reference computed once per value and key)
       nk AS MATERIALIZED (
         SELECT n.col, n.val, n.kind, n.is_validity, n.has_event,
                privacy_internal._audit_ref_under(k.fp, n.kind, n.norm) AS ref
           FROM n CROSS JOIN pg_catalog.unnest(keys) k(fp)
          WHERE n.norm IS NOT NULL)
  SELECT nk.col, nk.val, nk.is_validity, nk.has_event, r.reason, r.span
    FROM nk JOIN privacy.restriction r
      ON r.kind OPERATOR(pg_catalog.=) nk.kind AND r.subject_ref OPERATOR(pg_catalog.=) nk.ref
   WHERE r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now();
END
$$;

CREATE OR REPLACE FUNCTION privacy.health()
  RETURNS TABLE(area text, status text, detail text, hint text)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET jit = off
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

  -- 2c. Key rotation: relations whose phone-number pseudonyms are still
  -- under a replaced key (src/sql/36_rekey.sql).
  area := 'key rotation';
  BEGIN
    SELECT pg_catalog.count(*),
           pg_catalog.count(*) FILTER (WHERE NOT privacy_internal._key_listed(p.from_key)),
           pg_catalog.string_agg(DISTINCT p.tbl::text, ', '),
           pg_catalog.string_agg(DISTINCT p.from_key, ', ')
      INTO n, m, conn, stored
      FROM privacy.rekey_pending p
     WHERE p.from_key OPERATOR(pg_catalog.<>) 'raw';
  EXCEPTION WHEN OTHERS THEN
    n := NULL;
    conn := SQLERRM;
  END;
  IF n IS NULL THEN
    status := 'error';
    detail := pg_catalog.format('cannot tell whether the keys of the relations left to convert are listed: %s', conn);
    hint := 'Check pg_privacy.key_file (the area key says more).';
  ELSIF m OPERATOR(pg_catalog.>) 0 THEN
    status := 'error';
    detail := pg_catalog.format('%s relation(s) of %s hold phone-number pseudonyms under a key pg_privacy.key_file does not list (%s)', m, conn, stored);
    hint := 'List that key''s file after the current one and reload: until then writes to those relations refuse; then run CALL privacy.rekey().';
  ELSIF n OPERATOR(pg_catalog.>) 0 THEN
    status := 'warning';
    detail := pg_catalog.format('%s relation(s) of %s hold phone-number pseudonyms under the replaced key %s (%s of them converted in part); the replaced key must stay listed until they are converted',
                                n, conn, stored,
                                (SELECT pg_catalog.count(*) FROM privacy.rekey_pending p WHERE p.watermark IS NOT NULL OR p.high_mark IS NOT NULL));
    hint := 'Run CALL privacy.rekey() (privacy.rekey_progress shows what is left; max_seconds bounds a run to a maintenance window).';
  ELSE
    status := 'ok';
    detail := 'every phone-number pseudonym is under the current key';
    hint := NULL;
  END IF;
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
  -- a protected Citus table whose shards carry another rule than the
  -- catalog signs now (src/protect.c, signed rules)
  -- (a rule can only be compared under the database's key: without it
  -- the key area reports, and this check is skipped)
  BEGIN
    FOR r IN SELECT t.tbl FROM privacy.registered_table t
              WHERE EXISTS (SELECT FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) t.tbl)
                AND privacy_internal._citus_table(t.tbl)
                AND privacy_internal._protect_rule_stale(t.tbl)
              ORDER BY t.tbl::text LOOP
      n := n OPERATOR(pg_catalog.+) 1;
      status := 'error';
      detail := pg_catalog.format('%s: the protect rule on its shards is not the one the catalog gives now (renamed, another owner, or a domain taken away)', r.tbl);
      hint := pg_catalog.format('Run SELECT privacy.protect(%L) on the coordinator.', r.tbl::text);
      RETURN NEXT;
    END LOOP;
  EXCEPTION WHEN object_not_in_prerequisite_state OR undefined_file OR invalid_parameter_value THEN
    NULL;
  END;
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
  -- rows held before protect_in_batches(), not converted yet
  FOR r IN SELECT p.tbl, pg_catalog.count(*) AS rels FROM privacy.rekey_pending p
            WHERE p.from_key OPERATOR(pg_catalog.=) 'raw'
            GROUP BY p.tbl ORDER BY p.tbl::text LOOP
    n := n OPERATOR(pg_catalog.+) 1;
    status := 'warning';
    detail := pg_catalog.format('%s relation(s) of %s hold rows from before its protection that privacy.rekey() has not converted yet: their protected columns cannot be changed, and export, erasure and restriction refuse the table',
                                r.rels, r.tbl);
    hint := 'Run CALL privacy.rekey() (privacy.rekey_progress shows what is left).';
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

-- Views, triggers, comments and configuration new or changed in 0.18.0 (generated)

CREATE OR REPLACE VIEW privacy_internal._subject_column AS
SELECT c.tbl, c.col, c.attnum, c.identifies AS kind, c.link, c.protect, c.domain,
       k.normalize AS mode, a.atttypid::regtype AS typ, a.attnotnull AS notnull,
       s.event_time, s.valid_from, s.valid_to,
       (s.validity_column OPERATOR(pg_catalog.=) c.col) IS TRUE AS is_validity,
       (c.link OPERATOR(pg_catalog.=) 'owner'
        AND (s.link_columns IS NULL OR c.col OPERATOR(pg_catalog.=) ANY (s.link_columns))
        AND (c.protect IS NULL OR c.protect OPERATOR(pg_catalog.=) 'msisdn_fpe')) AS links,
       EXISTS (SELECT FROM privacy.subject_table v
                 JOIN privacy.registered_column vc
                   ON vc.tbl OPERATOR(pg_catalog.=) v.tbl AND vc.col OPERATOR(pg_catalog.=) v.validity_column
                WHERE vc.identifies OPERATOR(pg_catalog.=) c.identifies) AS reassignable,
       s.source,
       CASE WHEN NOT privacy_internal._identifier_type_ok(a.atttypid)
            THEN pg_catalog.format('identifier column "%s" of relation %s has type %s',
                                   c.col, c.tbl, pg_catalog.format_type(a.atttypid, NULL))
            ELSE (SELECT pg_catalog.format('time column "%s" of relation %s has type %s',
                                           ta.attname, c.tbl, pg_catalog.format_type(ta.atttypid, NULL))
                    FROM pg_catalog.pg_attribute ta
                   WHERE ta.attrelid OPERATOR(pg_catalog.=) c.tbl AND NOT ta.attisdropped
                     AND ta.attname IN (s.event_time, s.valid_from, s.valid_to)
                     AND ta.atttypid NOT IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype)
                   ORDER BY ta.attnum LIMIT 1) END AS type_problem,
       -- a column declared protected whose table has no protect trigger
       -- (never protected, or unprotected since), or whose protection is
       -- not in force (its trigger switched off by a superuser): its values
       -- may be raw, or pseudonyms, and cannot be told apart; every search
       -- of it fails closed (src/subject.c)
       CASE WHEN c.protect IS NULL THEN NULL
            WHEN NOT privacy_internal._has_protect_trigger(c.tbl)
            THEN pg_catalog.format('column "%s" of relation %s is declared protected by %s, but the table has no protect trigger',
                                   c.col, c.tbl, c.protect)
            -- rows held before protect_in_batches() that
            -- privacy.rekey() has not converted yet: raw
            WHEN privacy_internal._raw_relation(c.tbl) IS NOT NULL
            THEN pg_catalog.format('relation %s holds rows from before it was protected that privacy.rekey() has not converted yet',
                                   privacy_internal._raw_relation(c.tbl))
            ELSE privacy_internal._protection_problem(c.tbl) END AS protect_problem
  FROM privacy.registered_column c
  JOIN privacy.identifier_kind k ON k.name OPERATOR(pg_catalog.=) c.identifies
  JOIN pg_catalog.pg_attribute a
    ON a.attrelid OPERATOR(pg_catalog.=) c.tbl AND a.attname OPERATOR(pg_catalog.=) c.col AND NOT a.attisdropped
  LEFT JOIN privacy.subject_table s ON s.tbl OPERATOR(pg_catalog.=) c.tbl
 WHERE c.protect IS NULL OR c.protect IN ('msisdn_fpe', 'pseudonym', 'email_pseudonym');

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
-- the relations whose phone-number pseudonyms are still under the key
rekey AS (SELECT p.from_key AS fingerprint, pg_catalog.count(*) AS n FROM privacy.rekey_pending p
           WHERE p.from_key OPERATOR(pg_catalog.<>) 'raw'
           GROUP BY p.from_key),
used AS (
  SELECT u.fingerprint, pg_catalog.min(u.o) AS o
    FROM (SELECT a.fingerprint, a.first_id::numeric AS o FROM audit a
          UNION ALL SELECT s.fingerprint, 1e30 FROM state s
          UNION ALL SELECT g.fingerprint, 1e31 FROM ledger g WHERE g.fingerprint IS NOT NULL
          UNION ALL SELECT r.fingerprint, 1e32 FROM restr r
          UNION ALL SELECT x.fingerprint, 1e33 FROM rekey x) u
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
         OR COALESCE(r.n, 0) OPERATOR(pg_catalog.>) 0 OR COALESCE(x.n, 0) OPERATOR(pg_catalog.>) 0
         OR k.fingerprint OPERATOR(pg_catalog.=) (SELECT s.fingerprint FROM state s) AS needed,
       NULL::text AS problem,
       COALESCE(r.n, 0) AS restrictions,
       COALESCE(x.n, 0) AS rekey_relations
  FROM known k
  LEFT JOIN numbered nb ON nb.fingerprint OPERATOR(pg_catalog.=) k.fingerprint
  LEFT JOIN listed l ON l.fingerprint OPERATOR(pg_catalog.=) k.fingerprint
  LEFT JOIN audit a ON a.fingerprint OPERATOR(pg_catalog.=) k.fingerprint
  LEFT JOIN ledger g ON g.fingerprint OPERATOR(pg_catalog.=) k.fingerprint
  LEFT JOIN restr r ON r.fingerprint OPERATOR(pg_catalog.=) k.fingerprint
  LEFT JOIN rekey x ON x.fingerprint OPERATOR(pg_catalog.=) k.fingerprint
UNION ALL
-- a listed key whose file cannot be used
SELECT NULL, NULL, false, l.listed_at, NULL, NULL, NULL, NULL, NULL, l.problem, NULL, NULL
  FROM keylist l WHERE l.fingerprint IS NULL;

-- Nothing to do after the generated part.


-- Privileges: every GRANT and REVOKE of the 0.18.0 install script, in its order (generated)

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA privacy FROM PUBLIC;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA privacy_internal FROM PUBLIC;

REVOKE ALL ON ALL TABLES IN SCHEMA privacy FROM PUBLIC;

REVOKE ALL ON ALL TABLES IN SCHEMA privacy_internal FROM PUBLIC;

REVOKE ALL ON ALL SEQUENCES IN SCHEMA privacy FROM PUBLIC;

REVOKE ALL ON ALL SEQUENCES IN SCHEMA privacy_internal FROM PUBLIC;

REVOKE ALL ON PROCEDURE privacy.run_purge(integer, integer, integer) FROM PUBLIC;

REVOKE ALL ON PROCEDURE privacy.rekey(integer, integer, regclass, integer) FROM PUBLIC;

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
                          privacy_internal._enforcement_problems(regclass, boolean, boolean, boolean),
                          privacy_internal._citus_shard_named(regclass) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._extract_msisdn(text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._extract_country(text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._subject_key(text, text, text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._subject_ids(jsonb, text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._subject_ids_span(jsonb, text, boolean) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._row_key(oid, record) TO PUBLIC;
