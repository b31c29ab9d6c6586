-- Protection on write: the protect trigger (src/protect.c) that transforms
-- declared columns as rows are written, protect() and unprotect(), the
-- rewrite of rows a table held before, and the event triggers that keep a
-- protection (and the consent and restriction checks) from being switched
-- off behind pg_privacy's back.

-- Protection is verified, not assumed.  A table's protection is in force
-- when the table and each of its partitions have the trigger
-- zz_pg_privacy_protect running privacy_internal._protect_trigger() as a BEFORE
-- INSERT OR UPDATE row trigger on every column, without WHEN condition,
-- enabled (origin mode), and no other enabled BEFORE INSERT/UPDATE row
-- trigger fires after it (row triggers fire in name order).  NULL when in
-- force, else the first reason it is not.
CREATE FUNCTION privacy_internal._protection_problem(tbl regclass) RETURNS text
  LANGUAGE plpgsql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  fn oid := pg_catalog.to_regprocedure('privacy_internal._protect_trigger()');
  r record;
  g record;
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) tbl) THEN
    RETURN pg_catalog.format('table with OID %s does not exist', tbl::oid);
  END IF;
  -- The common case in one query over the whole partition tree: every
  -- relation has the trigger as created, nothing fires after it or runs
  -- it twice, no child by inheritance.  Only otherwise is the tree walked
  -- below to name the problem.
  IF (SELECT pg_catalog.bool_and(
             EXISTS (SELECT FROM pg_catalog.pg_trigger t
                      WHERE t.tgrelid OPERATOR(pg_catalog.=) tree.relid
                        AND t.tgname OPERATOR(pg_catalog.=) 'zz_pg_privacy_protect'
                        AND t.tgfoid OPERATOR(pg_catalog.=) fn
                        AND t.tgtype OPERATOR(pg_catalog.=) 23
                        AND pg_catalog.cardinality(t.tgattr::pg_catalog.int2[]) OPERATOR(pg_catalog.=) 0
                        AND t.tgqual IS NULL
                        AND t.tgenabled OPERATOR(pg_catalog.=) 'O'
                        AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                                         WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::pg_catalog.regclass
                                           AND d.objid OPERATOR(pg_catalog.=) t.oid
                                           AND d.deptype OPERATOR(pg_catalog.=) 'x'))
             AND NOT EXISTS (SELECT FROM pg_catalog.pg_trigger t
                              WHERE t.tgrelid OPERATOR(pg_catalog.=) tree.relid
                                AND ((NOT t.tgisinternal AND t.tgenabled IN ('O', 'A')
                                      AND (t.tgtype::integer OPERATOR(pg_catalog.&) 3) OPERATOR(pg_catalog.=) 3
                                      AND (t.tgtype::integer OPERATOR(pg_catalog.&) 20) OPERATOR(pg_catalog.<>) 0
                                      AND t.tgname OPERATOR(pg_catalog.>) 'zz_pg_privacy_protect'::name)
                                     OR (t.tgfoid OPERATOR(pg_catalog.=) fn
                                         AND t.tgname OPERATOR(pg_catalog.<>) 'zz_pg_privacy_protect')))
             AND NOT EXISTS (SELECT FROM pg_catalog.pg_inherits i
                               JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.inhrelid
                              WHERE i.inhparent OPERATOR(pg_catalog.=) tree.relid AND NOT c.relispartition))
        FROM (SELECT tbl::oid AS relid
              UNION SELECT p.relid::oid FROM pg_catalog.pg_partition_tree(tbl) p) tree) THEN
    RETURN NULL;
  END IF;
  FOR r IN SELECT c.oid::regclass AS rel FROM pg_catalog.pg_class c
            WHERE c.oid OPERATOR(pg_catalog.=) tbl
               OR c.oid IN (SELECT p.relid FROM pg_catalog.pg_partition_tree(tbl) p)
            ORDER BY c.oid OPERATOR(pg_catalog.<>) tbl, c.oid::regclass::text
  LOOP
    SELECT t.tgfoid, t.tgtype, t.tgenabled, t.tgqual IS NOT NULL AS has_when,
           pg_catalog.cardinality(t.tgattr::pg_catalog.int2[]) OPERATOR(pg_catalog.>) 0 AS has_cols,
           EXISTS (SELECT FROM pg_catalog.pg_depend d
                    WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::pg_catalog.regclass
                      AND d.objid OPERATOR(pg_catalog.=) t.oid
                      AND d.deptype OPERATOR(pg_catalog.=) 'x') AS ext_dep
      INTO g
      FROM pg_catalog.pg_trigger t
     WHERE t.tgrelid OPERATOR(pg_catalog.=) r.rel
       AND t.tgname OPERATOR(pg_catalog.=) 'zz_pg_privacy_protect';
    IF NOT FOUND THEN
      RETURN pg_catalog.format('trigger zz_pg_privacy_protect is missing on %s', r.rel);
    ELSIF g.tgfoid OPERATOR(pg_catalog.<>) fn THEN
      RETURN pg_catalog.format('trigger zz_pg_privacy_protect on %s does not run privacy_internal._protect_trigger()', r.rel);
    ELSIF g.tgtype OPERATOR(pg_catalog.<>) 23 OR g.has_cols THEN
      -- 23 = ROW | BEFORE | INSERT | UPDATE
      RETURN pg_catalog.format('trigger zz_pg_privacy_protect on %s is not a BEFORE INSERT OR UPDATE row trigger on every column', r.rel);
    ELSIF g.has_when THEN
      RETURN pg_catalog.format('trigger zz_pg_privacy_protect on %s has a WHEN condition', r.rel);
    ELSIF g.tgenabled OPERATOR(pg_catalog.<>) 'O' THEN
      RETURN pg_catalog.format('trigger zz_pg_privacy_protect on %s is %s', r.rel,
                               CASE g.tgenabled WHEN 'D' THEN 'disabled'
                                                WHEN 'R' THEN 'enabled for replica sessions only'
                                                ELSE 'enabled always, not as created' END);
    ELSIF g.ext_dep THEN
      -- ALTER TRIGGER ... DEPENDS ON EXTENSION: DROP EXTENSION would drop it
      RETURN pg_catalog.format('trigger zz_pg_privacy_protect on %s depends on an extension', r.rel);
    END IF;
    SELECT t.tgname INTO g FROM pg_catalog.pg_trigger t
     WHERE t.tgrelid OPERATOR(pg_catalog.=) r.rel
       AND NOT t.tgisinternal
       AND t.tgenabled IN ('O', 'A')
       AND (t.tgtype::integer OPERATOR(pg_catalog.&) 3) OPERATOR(pg_catalog.=) 3     -- ROW, BEFORE
       AND (t.tgtype::integer OPERATOR(pg_catalog.&) 20) OPERATOR(pg_catalog.<>) 0   -- INSERT or UPDATE
       AND t.tgname OPERATOR(pg_catalog.>) 'zz_pg_privacy_protect'::name
     ORDER BY t.tgname LIMIT 1;
    IF FOUND THEN
      RETURN pg_catalog.format('trigger %I on %s fires after zz_pg_privacy_protect', g.tgname, r.rel);
    END IF;
    -- a second trigger running the protect function transforms twice
    SELECT t.tgname INTO g FROM pg_catalog.pg_trigger t
     WHERE t.tgrelid OPERATOR(pg_catalog.=) r.rel
       AND t.tgfoid OPERATOR(pg_catalog.=) fn
       AND t.tgname OPERATOR(pg_catalog.<>) 'zz_pg_privacy_protect'
     ORDER BY t.tgname LIMIT 1;
    IF FOUND THEN
      RETURN pg_catalog.format('trigger %I on %s runs privacy_internal._protect_trigger() a second time', g.tgname, r.rel);
    END IF;
    -- a child by inheritance (not a partition) gets no protect trigger:
    -- rows written to it are stored raw and show in every scan of the table
    SELECT i.inhrelid::regclass AS child INTO g
      FROM pg_catalog.pg_inherits i
      JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.inhrelid
     WHERE i.inhparent OPERATOR(pg_catalog.=) r.rel AND NOT c.relispartition
     ORDER BY i.inhrelid::regclass::text LIMIT 1;
    IF FOUND THEN
      RETURN pg_catalog.format('table %s inherits from %s: rows written to it are not protected', g.child, r.rel);
    END IF;
  END LOOP;
  RETURN NULL;
END
$$;

-- True when the table carries a protect trigger (by name or by function),
-- whether or not it is in force: the table is meant to be protected.
CREATE FUNCTION privacy_internal._has_protect_trigger(tbl regclass) RETURNS boolean
  LANGUAGE sql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT EXISTS (SELECT FROM pg_catalog.pg_trigger g
                  WHERE g.tgrelid OPERATOR(pg_catalog.=) tbl
                    AND (g.tgname OPERATOR(pg_catalog.=) 'zz_pg_privacy_protect'
                         OR g.tgfoid OPERATOR(pg_catalog.=) pg_catalog.to_regprocedure('privacy_internal._protect_trigger()')))
$$;

-- True when the table's protection is in force (see _protection_problem).
CREATE FUNCTION privacy_internal._is_protected(tbl regclass) RETURNS boolean
  LANGUAGE sql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT privacy_internal._protection_problem(tbl) IS NULL
$$;

-- Raise 55000 when a table meant to be protected is not protected now.
-- The purge and erasure paths call it before they touch a table.
CREATE FUNCTION privacy_internal._check_protection(tbl regclass) RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  problem text;
BEGIN
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'table must not be null' USING ERRCODE = '22004';
  END IF;
  IF NOT privacy_internal._has_protect_trigger(tbl) THEN
    RETURN;
  END IF;
  problem := privacy_internal._protection_problem(tbl);
  IF problem IS NOT NULL THEN
    RAISE LOG 'pg_privacy: protection of table % is not in force: % (role %)', tbl, problem, privacy_internal._invoker();
    RAISE EXCEPTION 'protection of table % is not in force', tbl
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.upper(pg_catalog.left(problem, 1)) || pg_catalog.substr(problem, 2) || '.',
            HINT = 'Restore the protect trigger, or remove the protection with privacy.unprotect() and install it again with privacy.protect().';
  END IF;
END
$$;

------------------------------------------------------------------------
-- The protect trigger
------------------------------------------------------------------------

CREATE FUNCTION privacy_internal._protect_trigger() RETURNS trigger
  LANGUAGE c
  AS 'MODULE_PATHNAME', 'pgp_protect_trigger';
COMMENT ON FUNCTION privacy_internal._protect_trigger() IS
  'internal: the on-write protect trigger created by privacy.protect()';

-- Rewrite the rows a table held before it was protected (see protect()).
-- Whether a table holds a row (col given: one whose col is not NULL), read
-- as its owner (src/protect.c).
CREATE FUNCTION privacy_internal._has_rows(tbl regclass, col name DEFAULT NULL) RETURNS boolean
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_has_rows';
COMMENT ON FUNCTION privacy_internal._has_rows(regclass, name) IS
  'internal: whether the table holds a row (whose col is not NULL), read as its owner';

CREATE FUNCTION privacy_internal._rewrite_protected(tbl regclass, cols name[])
  RETURNS bigint
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_rewrite_protected';
COMMENT ON FUNCTION privacy_internal._rewrite_protected(regclass, name[]) IS
  'internal: transform pre-existing rows through the protect trigger, as the table owner';

-- One value through a protect transformation, as the trigger stores it in
-- a column of identifier kind `identifies` (normalized by the kind first).
-- Not STRICT: NULL value gives NULL, NULL identifies means no kind.
CREATE FUNCTION privacy_internal._transform(value text, protect text, domain text,
                                   identifies text DEFAULT NULL)
  RETURNS text
  LANGUAGE c STABLE PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_transform';
COMMENT ON FUNCTION privacy_internal._transform(text, text, text, text) IS
  'internal: one value through a protect transformation, as the protect trigger stores it in a column of the identifier kind';

-- The rule and its signature that the protect trigger of a Citus table
-- carries onto every shard (src/protect.c, signed rules): built from the
-- catalog, never from an argument, but for the default country national
-- numbers are read in (NULL: pg_privacy.default_country).
CREATE FUNCTION privacy_internal._protect_shard_rule(tbl regclass, country text DEFAULT NULL) RETURNS text[]
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_protect_shard_rule';
COMMENT ON FUNCTION privacy_internal._protect_shard_rule(regclass, text) IS
  'internal: the signed rule for the protect trigger of a Citus table''s shards';

-- The default country of the rule the protect trigger of a Citus table
-- carries, or NULL.
-- (NULL when the rule does not read as one: protect() then signs with its
-- session's default country)
CREATE FUNCTION privacy_internal._protect_rule_country(tbl regclass) RETURNS text
  LANGUAGE plpgsql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  -- (the first argument: the bytes before the first NUL)
  RETURN (SELECT pg_catalog.convert_from(pg_catalog.substr(g.tgargs, 1, pg_catalog.position(g.tgargs, '\x00'::bytea) OPERATOR(pg_catalog.-) 1),
                                         pg_catalog.getdatabaseencoding())::jsonb OPERATOR(pg_catalog.->>) 'country'
            FROM pg_catalog.pg_trigger g
           WHERE g.tgrelid OPERATOR(pg_catalog.=) tbl AND g.tgname OPERATOR(pg_catalog.=) 'zz_pg_privacy_protect'
             AND g.tgnargs OPERATOR(pg_catalog.=) 2);
EXCEPTION WHEN OTHERS THEN
  RETURN NULL;
END
$$;

-- A rule and its signature as pg_trigger.tgargs holds them (each argument
-- followed by a NUL, in the database's encoding).
CREATE FUNCTION privacy_internal._protect_rule_args(r text[]) RETURNS bytea
  LANGUAGE sql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT pg_catalog.convert_to(r[1], pg_catalog.getdatabaseencoding()) OPERATOR(pg_catalog.||) '\x00'::bytea
         OPERATOR(pg_catalog.||) pg_catalog.convert_to(r[2], pg_catalog.getdatabaseencoding())
         OPERATOR(pg_catalog.||) '\x00'::bytea
$$;

-- (Re)create the protect trigger of a Citus table with its signed rule;
-- Citus copies it onto every shard.  Also after what makes the rule stale:
-- a declaration, a domain grant or revocation, a key change, a rename or a
-- new owner (the rule's default country kept unless `country` is given).
-- A rule that would not change is left as it is (dropping and creating the
-- trigger locks the table and every shard), unless `force`: protect()
-- writes it onto every shard again, whatever a shard holds.
CREATE FUNCTION privacy_internal._protect_citus_sign(tbl regclass, country text DEFAULT NULL,
                                                     force boolean DEFAULT false) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r      text[] := privacy_internal._protect_shard_rule(
                     tbl, COALESCE(country, privacy_internal._protect_rule_country(tbl)));
  unsafe text := pg_catalog.current_setting('citus.enable_unsafe_triggers', true);
  now_args bytea;
BEGIN
  SELECT g.tgargs INTO now_args FROM pg_catalog.pg_trigger g
   WHERE g.tgrelid OPERATOR(pg_catalog.=) tbl AND g.tgname OPERATOR(pg_catalog.=) 'zz_pg_privacy_protect';
  IF NOT force AND now_args OPERATOR(pg_catalog.=) privacy_internal._protect_rule_args(r) THEN
    RETURN;
  END IF;
  -- Citus creates a trigger on its tables' shards only when told that
  -- triggers there are safe: this one reads nothing but its row and its
  -- own rule
  PERFORM pg_catalog.set_config('citus.enable_unsafe_triggers', 'on', true);
  -- the event triggers let these pass (and only these: a rule is written
  -- by protect() alone)
  PERFORM privacy_internal._allow_protect_ddl(tbl);
  IF now_args IS NOT NULL THEN
    EXECUTE pg_catalog.format('DROP TRIGGER zz_pg_privacy_protect ON %s', tbl);
  END IF;
  EXECUTE pg_catalog.format(
    'CREATE TRIGGER zz_pg_privacy_protect BEFORE INSERT OR UPDATE ON %s '
    'FOR EACH ROW EXECUTE FUNCTION privacy_internal._protect_trigger(%L, %L)', tbl, r[1], r[2]);
  PERFORM privacy_internal._allow_protect_ddl(NULL);
  PERFORM pg_catalog.set_config('citus.enable_unsafe_triggers', COALESCE(unsafe, 'off'), true);
END
$$;

-- 0A000 when a protected column of a Citus table is its distribution
-- column: Citus routes a row by the value the coordinator sees, before the
-- trigger on the shard transforms it (protect(), register_column).
CREATE FUNCTION privacy_internal._protect_citus_dist_check(tbl regclass) RETURNS void
  LANGUAGE plpgsql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  d text := privacy_internal._citus_dist_column(tbl);
BEGIN
  IF d IS NOT NULL AND EXISTS (SELECT FROM privacy.registered_column c
                                WHERE c.tbl OPERATOR(pg_catalog.=) _protect_citus_dist_check.tbl AND c.protect IS NOT NULL
                                  AND c.col OPERATOR(pg_catalog.=) d) THEN
    RAISE EXCEPTION 'cannot protect column "%" of table %: it is the distribution column', d, tbl
      USING ERRCODE = '0A000',
            DETAIL = 'Citus routes a row by the value the coordinator sees, before the trigger on the shard transforms it: the row would lie in the shard of its raw value, and queries by pseudonym would not find it.',
            HINT = 'Distribute the table by another column (a customer or row id), or store the pseudonym itself: write privacy.pseudonymize_msisdn(...) in the INSERT and declare the column without protect.';
  END IF;
END
$$;

-- Whether the rule the protect trigger of a Citus table carries onto its
-- shards is not the one the catalog signs now (a rename, a new owner, a
-- domain taken away by a change of role membership): privacy.health().
CREATE FUNCTION privacy_internal._protect_rule_stale(tbl regclass) RETURNS boolean
  LANGUAGE plpgsql VOLATILE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r text[];
  now_args bytea;
BEGIN
  IF NOT privacy_internal._citus_table(tbl) THEN
    RETURN false;
  END IF;
  SELECT g.tgargs INTO now_args FROM pg_catalog.pg_trigger g
   WHERE g.tgrelid OPERATOR(pg_catalog.=) tbl AND g.tgname OPERATOR(pg_catalog.=) 'zz_pg_privacy_protect';
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  r := privacy_internal._protect_shard_rule(tbl, privacy_internal._protect_rule_country(tbl));
  RETURN now_args IS DISTINCT FROM privacy_internal._protect_rule_args(r);
END
$$;

-- Sign again the rules of the protected Citus tables (those with a column
-- in `domain`, or all for NULL), after what changes them.
CREATE FUNCTION privacy_internal._protect_citus_resign(domain text) RETURNS integer
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  t regclass;
  n integer := 0;
BEGIN
  FOR t IN SELECT r.tbl FROM privacy.registered_table r
            WHERE privacy_internal._has_protect_trigger(r.tbl)
              AND privacy_internal._citus_table(r.tbl)
              AND EXISTS (SELECT FROM privacy.registered_column c
                           WHERE c.tbl OPERATOR(pg_catalog.=) r.tbl AND c.protect IS NOT NULL
                             AND (_protect_citus_resign.domain IS NULL
                                  OR c.domain OPERATOR(pg_catalog.=) _protect_citus_resign.domain))
            ORDER BY r.tbl::text
  LOOP
    PERFORM privacy_internal._protect_citus_sign(t);
    n := n OPERATOR(pg_catalog.+) 1;
  END LOOP;
  RETURN n;
END
$$;

-- privacy.unprotect() lets its own DROP TRIGGER pass the event trigger.
CREATE FUNCTION privacy_internal._allow_protect_ddl(tbl regclass) RETURNS void
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_allow_protect_ddl';
CREATE FUNCTION privacy_internal._protect_ddl_allowed(tbl regclass) RETURNS boolean
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_protect_ddl_allowed';
-- The table Citus made rel a shard of (placed on this node), or NULL.
CREATE FUNCTION privacy_internal._protect_shard_table(rel regclass) RETURNS regclass
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_protect_shard_table';

-- protect() and protect_in_batches() (below): batched, the rows the table
-- holds are left to CALL privacy.rekey().
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
      USING DETAIL = 'New rows are protected now. Until a row is converted its protected columns cannot be changed; export, erasure and restriction read it raw, scanning the table.',
            HINT = 'Run CALL privacy.rekey() (privacy.rekey_progress shows what is left).';
  END IF;
END
$$;
COMMENT ON FUNCTION privacy_internal._protect(regclass, boolean, boolean) IS
  'internal: privacy.protect() and privacy.protect_in_batches()';

CREATE FUNCTION privacy.protect(tbl regclass, rewrite_existing boolean DEFAULT NULL) RETURNS void
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

-- The same as protect(tbl, rewrite_existing => true), but the rows the
-- table holds are converted in batches by CALL privacy.rekey(), each its
-- own transaction, resumable: for a table too large for one.
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

CREATE FUNCTION privacy.unprotect(tbl regclass) RETURNS void
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
COMMENT ON FUNCTION privacy.unprotect(regclass) IS 'remove the on-write protect trigger';

-- Which tables are protected.
CREATE VIEW privacy.protected_tables AS
SELECT t.tbl AS table_name,
       pg_catalog.array_agg(c.col::text || ':' || c.protect ORDER BY c.attnum) AS columns,
       privacy_internal._is_protected(t.tbl) AS protected
  FROM privacy.registered_table t
  JOIN privacy.registered_column c ON c.tbl OPERATOR(pg_catalog.=) t.tbl
 WHERE c.protect IS NOT NULL
 GROUP BY t.tbl;
COMMENT ON VIEW privacy.protected_tables IS
  'registered tables with protect transformations, and whether their protection is in force (trigger present, enabled, last, on every partition)';

------------------------------------------------------------------------
-- Protection cannot be switched off behind pg_privacy's back
------------------------------------------------------------------------

-- The enforcement triggers besides the protect trigger (the consent check
-- zy_pg_privacy_consent, the restriction check zx_pg_privacy_restrict) are
-- verified the same way: the first reason why trigger `tgname` is not in
-- force on tbl and on every relation of its partition tree, or NULL.  In
-- force means: present, running fn, of the trigger type it was created
-- with (tgtype), on every column, without WHEN condition, enabled as
-- created (origin mode); and, for a BEFORE row trigger, no enabled BEFORE
-- INSERT/UPDATE row trigger of the owner's fires after it (row triggers
-- fire in name order) but those listed in `may_follow` (pg_privacy's own,
-- by name and function); and no child by inheritance (it gets no check).
CREATE FUNCTION privacy_internal._trigger_problem(tbl regclass, tgname name, fn regprocedure, tgtype integer,
                                         may_follow name[])
  RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r record;
  g record;
BEGIN
  -- a check never answers "in force" for a table that is not there
  IF tbl IS NOT NULL AND NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) tbl) THEN
    RETURN pg_catalog.format('table with OID %s does not exist', tbl::oid);
  END IF;
  FOR r IN SELECT c.oid::regclass AS rel FROM pg_catalog.pg_class c
            WHERE (c.oid OPERATOR(pg_catalog.=) tbl
                   OR c.oid IN (SELECT p.relid FROM pg_catalog.pg_partition_tree(tbl) p))
              AND c.relkind IN ('r', 'p', 'f')
            ORDER BY c.oid OPERATOR(pg_catalog.<>) tbl, c.oid::regclass::text
  LOOP
    SELECT t.tgfoid, t.tgtype, t.tgenabled, t.tgqual IS NOT NULL AS has_when,
           pg_catalog.cardinality(t.tgattr::pg_catalog.int2[]) OPERATOR(pg_catalog.>) 0 AS has_cols,
           EXISTS (SELECT FROM pg_catalog.pg_depend d
                    WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::pg_catalog.regclass
                      AND d.objid OPERATOR(pg_catalog.=) t.oid
                      AND d.deptype OPERATOR(pg_catalog.=) 'x') AS ext_dep
      INTO g
      FROM pg_catalog.pg_trigger t
     WHERE t.tgrelid OPERATOR(pg_catalog.=) r.rel
       AND t.tgname OPERATOR(pg_catalog.=) _trigger_problem.tgname;
    IF NOT FOUND THEN
      RETURN pg_catalog.format('trigger %I is missing on %s', tgname, r.rel);
    ELSIF g.tgfoid OPERATOR(pg_catalog.<>) fn THEN
      RETURN pg_catalog.format('trigger %I on %s does not run %s', tgname, r.rel, fn);
    ELSIF g.tgtype OPERATOR(pg_catalog.<>) _trigger_problem.tgtype OR g.has_cols THEN
      RETURN pg_catalog.format('trigger %I on %s is not of the type pg_privacy created', tgname, r.rel);
    ELSIF g.has_when THEN
      RETURN pg_catalog.format('trigger %I on %s has a WHEN condition', tgname, r.rel);
    ELSIF g.tgenabled OPERATOR(pg_catalog.<>) 'O' THEN
      RETURN pg_catalog.format('trigger %I on %s is %s', tgname, r.rel,
                               CASE g.tgenabled WHEN 'D' THEN 'disabled'
                                                WHEN 'R' THEN 'enabled for replica sessions only'
                                                ELSE 'enabled always, not as created' END);
    ELSIF g.ext_dep THEN
      -- ALTER TRIGGER ... DEPENDS ON EXTENSION: DROP EXTENSION would drop it
      RETURN pg_catalog.format('trigger %I on %s depends on an extension', tgname, r.rel);
    END IF;
    IF (tgtype OPERATOR(pg_catalog.&) 3) OPERATOR(pg_catalog.=) 3 THEN        -- ROW, BEFORE
      SELECT t.tgname INTO g FROM pg_catalog.pg_trigger t
       WHERE t.tgrelid OPERATOR(pg_catalog.=) r.rel
         AND NOT t.tgisinternal
         AND t.tgenabled IN ('O', 'A')
         AND (t.tgtype::integer OPERATOR(pg_catalog.&) 3) OPERATOR(pg_catalog.=) 3
         AND (t.tgtype::integer OPERATOR(pg_catalog.&) 20) OPERATOR(pg_catalog.<>) 0
         AND t.tgname OPERATOR(pg_catalog.>) _trigger_problem.tgname
         -- pg_privacy's own by name and function: a trigger of the owner's
         -- named zz_pg_privacy_protect on a table without protection is hers
         AND NOT (t.tgname OPERATOR(pg_catalog.=) ANY (COALESCE(may_follow, '{}'::name[]))
                  AND t.tgfoid IN (SELECT p.oid FROM pg_catalog.pg_proc p
                                    WHERE p.pronamespace OPERATOR(pg_catalog.=) 'privacy_internal'::pg_catalog.regnamespace))
       ORDER BY t.tgname LIMIT 1;
      IF FOUND THEN
        RETURN pg_catalog.format('trigger %I on %s fires after %I', g.tgname, r.rel, tgname);
      END IF;
    END IF;
    -- a child by inheritance (not a partition) gets no check: rows written
    -- to it, or updated in it, show in every scan of the table
    SELECT i.inhrelid::regclass AS child INTO g
      FROM pg_catalog.pg_inherits i
      JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.inhrelid
     WHERE i.inhparent OPERATOR(pg_catalog.=) r.rel AND NOT c.relispartition
     ORDER BY i.inhrelid::regclass::text LIMIT 1;
    IF FOUND THEN
      RETURN pg_catalog.format('table %s inherits from %s: trigger %I does not check its rows', g.child, r.rel, tgname);
    END IF;
  END LOOP;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION privacy_internal._trigger_problem(regclass, name, regprocedure, integer, name[]) IS
  'internal: why an enforcement trigger of pg_privacy is not in force on a table or one of its partitions (NULL: in force)';

-- Every enforcement pg_privacy keeps on tbl that is not in force, one row
-- per problem with what it switches off: the protection (a registered
-- table carrying the protect trigger), the consent check (when
-- consent_required: the table has a consent requirement) and the
-- restriction check (when restricted: a subject table while any subject is
-- restricted).  The flags come from the view privacy_internal._enforced_table;
-- this function reads pg_catalog only, so a role granted catalog_problems
-- needs nothing more.
CREATE FUNCTION privacy_internal._enforcement_problems(tbl regclass, registered boolean, consent_required boolean,
                                              restricted boolean, OUT what text, OUT problem text)
  RETURNS SETOF record
  LANGUAGE plpgsql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN QUERY
  SELECT x.w, x.p
    FROM (VALUES ('protection', CASE WHEN registered AND privacy_internal._has_protect_trigger(tbl)
                                     THEN privacy_internal._protection_problem(tbl) END),
                 ('consent check', CASE WHEN consent_required THEN privacy_internal._consent_problem(tbl) END),
                 ('restriction check', CASE WHEN restricted THEN privacy_internal._restrict_problem(tbl) END)) x(w, p)
   WHERE x.p IS NOT NULL;
END
$$;
COMMENT ON FUNCTION privacy_internal._enforcement_problems(regclass, boolean, boolean, boolean) IS
  'internal: the protection, consent check and restriction check of a table that are not in force, and why';

-- Is this DDL pg_privacy's own on a Citus worker?  protect() and
-- unprotect() on the coordinator reach a worker's shards as the role they
-- run as there: the extension owner.  (Asked only of DDL that touched a
-- shard's protect trigger.)
CREATE FUNCTION privacy_internal._protect_own_worker_ddl(who name) RETURNS boolean
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT privacy_internal._citus_worker()
         AND who OPERATOR(pg_catalog.=) (SELECT r.rolname FROM pg_catalog.pg_extension x
                                           JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) x.extowner
                                          WHERE x.extname OPERATOR(pg_catalog.=) 'pg_privacy')
$$;

-- After ALTER TABLE, CREATE TABLE, CREATE TRIGGER or ALTER TRIGGER: a
-- command that leaves an enforcement of a table not in force (its
-- protection, its consent check, its restriction check: see
-- _enforcement_problems), because it disabled, replaced or renamed the
-- trigger, added a BEFORE row trigger that fires after it, or attached a
-- partition that has one, is refused.  A superuser acting on its own (not inside a
-- security-restricted operation) may: a data-only restore with
-- --disable-triggers does.  That is logged and audited, and
-- catalog_problems shows it until the protection is back.  Called by the
-- event trigger function privacy_internal._protect_event_trigger() (protect.c),
-- which runs as the role executing the DDL and tells whether it may.
CREATE FUNCTION privacy_internal._protect_on_ddl_end(may_switch_off boolean) RETURNS void
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
  SET jit = off
AS $$
DECLARE
  reg regclass;
  e record;
  who name := privacy_internal._invoker();
  fn regprocedure := pg_catalog.to_regprocedure('privacy_internal._protect_trigger()');
BEGIN
  -- A command that only created restriction checks as _restrict_install
  -- makes them (AFTER UPDATE statement triggers of that name and function,
  -- with no condition and no column list) adds enforcement: nothing to
  -- install or check.  The install makes one per table and partition, and
  -- an install started again by each of them nested one level deeper per
  -- table (restrict_subject ran out of stack at about 220).
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_event_trigger_ddl_commands() d
                  WHERE NOT (d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::pg_catalog.regclass
                             AND EXISTS (SELECT FROM pg_catalog.pg_trigger g
                                          WHERE g.oid OPERATOR(pg_catalog.=) d.objid
                                            AND g.tgname OPERATOR(pg_catalog.=) 'zx_pg_privacy_restrict'
                                            AND g.tgfoid OPERATOR(pg_catalog.=) pg_catalog.to_regprocedure('privacy_internal._restrict_trigger()')
                                            AND g.tgtype OPERATOR(pg_catalog.=) 16
                                            AND g.tgenabled OPERATOR(pg_catalog.=) 'O'
                                            AND g.tgqual IS NULL
                                            AND pg_catalog.cardinality(g.tgattr::pg_catalog.int2[]) OPERATOR(pg_catalog.=) 0))) THEN
    RETURN;
  END IF;
  -- A registered table made a typed table (ALTER TABLE ... OF type): its
  -- columns would follow ALTER TYPE ... CASCADE, which no check of
  -- pg_privacy sees (register_table refuses typed tables).
  FOR e IN
    SELECT DISTINCT t.tbl, k.reloftype::regtype AS typ
      FROM pg_catalog.pg_event_trigger_ddl_commands() d
      JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) d.objid
      JOIN privacy.registered_table t ON t.tbl OPERATOR(pg_catalog.=) k.oid
     WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
       AND k.reloftype OPERATOR(pg_catalog.<>) 0
  LOOP
    RAISE EXCEPTION 'cannot make registered table % a typed table', e.tbl
      USING ERRCODE = '0A000',
            DETAIL = pg_catalog.format('Its columns would follow composite type %s, which ALTER TYPE ... CASCADE changes without the checks that keep its declarations and protection in force.', e.typ);
  END LOOP;
  -- The column privacy.rekey() converts a relation in order of tells which
  -- of its rows are under which key (src/rekey.c): until the relation is
  -- converted it may be neither dropped, nor renamed, nor given another
  -- type (the rows' keys could no longer be told apart).
  IF pg_catalog.to_regclass('privacy.rekey_pending') IS NOT NULL THEN
    FOR e IN
      SELECT p.rel, p.order_col, p.order_type
        FROM privacy.rekey_pending p
       WHERE (p.watermark IS NOT NULL OR p.high_mark IS NOT NULL)
         AND EXISTS (SELECT FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) p.rel)
         AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a
                          WHERE a.attrelid OPERATOR(pg_catalog.=) p.rel
                            AND a.attname OPERATOR(pg_catalog.=) p.order_col
                            AND NOT a.attisdropped
                            AND a.atttypid OPERATOR(pg_catalog.=) p.order_type)
       ORDER BY p.rel::pg_catalog.oid
       LIMIT 1
    LOOP
      RAISE EXCEPTION 'cannot drop, rename or retype column % of relation % while privacy.rekey() converts it in order of that column', e.order_col, e.rel
        USING ERRCODE = '55000',
              DETAIL = 'Which of its rows are under the current key and which under the replaced one is told by that column.',
              HINT = 'Run CALL privacy.rekey() to the end (privacy.rekey_progress), then change the column.';
    END LOOP;
  END IF;
  -- The protect trigger with a signed rule (a Citus table's, src/protect.c)
  -- is written by protect() alone: an owner putting back an older rule read
  -- from pg_trigger would have the shards transform by a rule the catalog no
  -- longer gives (a revoked domain, a column declared since).  Neither may
  -- anyone but pg_privacy create one on a shard or disable a shard's, on any
  -- node (Citus itself does not stop a table's owner there).
  FOR e IN
    SELECT g.tgrelid::regclass AS rel, g.tgname,
           CASE WHEN d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::regclass AND g.tgnargs OPERATOR(pg_catalog.>) 0
                THEN 'a protect trigger with a rule was created' ELSE 'its protect trigger was disabled' END AS problem
      FROM pg_catalog.pg_event_trigger_ddl_commands() d
      JOIN pg_catalog.pg_trigger g
        ON g.tgfoid OPERATOR(pg_catalog.=) fn
       AND ((d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::regclass AND g.oid OPERATOR(pg_catalog.=) d.objid)
            OR (d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass AND g.tgrelid OPERATOR(pg_catalog.=) d.objid))
     WHERE NOT privacy_internal._protect_ddl_allowed(g.tgrelid::regclass)
       AND NOT privacy_internal._protect_own_worker_ddl(who)
       AND ((d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::regclass AND g.tgnargs OPERATOR(pg_catalog.>) 0)
            -- (a shard, placed on this node or not yet: the tables of a
            -- new placement a move builds are served once it is recorded)
            OR (g.tgenabled OPERATOR(pg_catalog.<>) 'O'
                AND privacy_internal._citus_shard_named(g.tgrelid::regclass) IS NOT NULL))
  LOOP
    IF may_switch_off THEN
      RAISE WARNING 'protection of table % is not as pg_privacy made it: %', e.rel, e.problem;
      RAISE LOG 'pg_privacy: superuser % changed the protect trigger % of table %: %', who, e.tgname, e.rel, e.problem;
      CONTINUE;
    END IF;
    RAISE LOG 'pg_privacy: refused DDL of role % on the protect trigger % of table %: %', who, e.tgname, e.rel, e.problem;
    -- a shard's new placement, built by a move or a split as the owner
    IF e.problem OPERATOR(pg_catalog.=) 'a protect trigger with a rule was created'
       AND privacy_internal._citus_shard_named(e.rel) IS NOT NULL AND privacy_internal._protect_shard_table(e.rel) IS NULL THEN
      RAISE EXCEPTION 'cannot move or split the shards of protected table %, owned by %',
                      privacy_internal._citus_shard_named(e.rel),
                      (SELECT k.relowner::pg_catalog.regrole FROM pg_catalog.pg_class k
                        WHERE k.oid OPERATOR(pg_catalog.=) privacy_internal._citus_shard_named(e.rel))
        USING ERRCODE = '55000',
              DETAIL = 'Citus builds the new placement of a shard as the table''s owner, and pg_privacy cannot tell its copy of '
                       'the protect trigger and the rows from what the owner could write there herself.',
              HINT = 'Give the table to a superuser for the move, then back, and run privacy.protect() on it again '
                     '(see doc/operations.md, Citus).';
    END IF;
    RAISE EXCEPTION 'cannot change the protect trigger % of table %', e.tgname, e.rel
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.upper(pg_catalog.left(e.problem, 1)) || pg_catalog.substr(e.problem, 2)
                     || '; only privacy.protect() writes a signed rule, and Citus copies it onto the shards.',
            HINT = 'Run privacy.protect() on the table on the coordinator.';
  END LOOP;
  -- (A partition created or attached under a subject table while subjects
  -- are restricted gets its restriction check from
  -- privacy_internal._restrict_on_partition_ddl, which src/protect.c calls
  -- after CREATE TABLE and ATTACH PARTITION only.)
  FOR reg IN
    SELECT DISTINCT t.tbl
      FROM pg_catalog.pg_event_trigger_ddl_commands() d
      CROSS JOIN LATERAL (
        SELECT CASE WHEN d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass THEN d.objid
                    WHEN d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::regclass
                    THEN (SELECT g.tgrelid FROM pg_catalog.pg_trigger g WHERE g.oid OPERATOR(pg_catalog.=) d.objid)
               END AS relid) x
      JOIN privacy_internal._enforced_table t
        ON t.tbl::oid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT pg_catalog.pg_partition_ancestors(x.relid)))
        OR t.tbl::oid OPERATOR(pg_catalog.=) x.relid
        -- ALTER TABLE ... INHERIT a protected table
        OR t.tbl::oid IN (SELECT i.inhparent FROM pg_catalog.pg_inherits i
                           WHERE i.inhrelid OPERATOR(pg_catalog.=) x.relid)
     WHERE x.relid IS NOT NULL
  LOOP
    FOR e IN SELECT p.* FROM privacy_internal._enforced_table f,
                    LATERAL privacy_internal._enforcement_problems(f.tbl, f.registered, f.consent_required, f.restricted) p
              WHERE f.tbl OPERATOR(pg_catalog.=) reg LOOP
      IF may_switch_off THEN
        RAISE WARNING '% of table % is not in force', e.what, reg
          USING DETAIL = e.problem, HINT = 'Restore it before writing to the table; privacy.catalog_problems lists it.';
        RAISE LOG 'pg_privacy: superuser % switched off % of table %: %', who, e.what, reg, e.problem;
        BEGIN
          PERFORM privacy_internal._audit(CASE e.what WHEN 'protection' THEN 'protect.weakened'
                                             WHEN 'consent check' THEN 'consent.weakened'
                                             ELSE 'subject.restriction_weakened' END,
                                 reg::text, pg_catalog.jsonb_build_object('problem', e.problem));
        EXCEPTION WHEN unique_violation THEN
          -- a data-only restore loading the audit log itself: the server log has it
          NULL;
        END;
        CONTINUE;
      END IF;
      RAISE LOG 'pg_privacy: refused DDL of role % that would switch off % of table %: %', who, e.what, reg, e.problem;
      RAISE EXCEPTION 'cannot switch off the % of table %', e.what, reg
        USING ERRCODE = '55000',
              DETAIL = pg_catalog.upper(pg_catalog.left(e.problem, 1)) || pg_catalog.substr(e.problem, 2) || '.',
              HINT = CASE e.what WHEN 'protection' THEN 'Remove the protection with privacy.unprotect() first.'
                                 WHEN 'consent check' THEN 'Remove the requirement with privacy.unrequire_consent() first.'
                                 ELSE 'Lift the restrictions with privacy.unrestrict_subject() first.' END;
    END LOOP;
  END LOOP;
END
$$;

-- DROP TRIGGER of an enforcement trigger on a table that still exists is
-- refused: zz_pg_privacy_protect unless privacy.unprotect() drops it,
-- zy_pg_privacy_consent while the table requires consent,
-- zx_pg_privacy_restrict while any subject is restricted (DROP TABLE and
-- DETACH PARTITION drop them with the table or from the partition: allowed).
CREATE FUNCTION privacy_internal._protect_on_sql_drop(may_switch_off boolean) RETURNS void
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
  SET jit = off
AS $$
DECLARE
  o record;
  rel regclass;
  what text;
  who name := privacy_internal._invoker();
BEGIN
  -- the protect trigger of a shard (named after it by Citus), dropped by
  -- anyone but pg_privacy
  FOR o IN SELECT * FROM pg_catalog.pg_event_trigger_dropped_objects() x
            WHERE x.object_type OPERATOR(pg_catalog.=) 'trigger'
              AND x.address_names[3] LIKE 'zz\_pg\_privacy\_protect\_%'
  LOOP
    rel := pg_catalog.to_regclass(pg_catalog.format('%I.%I', o.address_names[1], o.address_names[2]));
    CONTINUE WHEN rel IS NULL OR privacy_internal._citus_shard_named(rel) IS NULL
                  OR privacy_internal._protect_ddl_allowed(rel)
                  OR privacy_internal._protect_own_worker_ddl(who);
    IF may_switch_off THEN
      RAISE WARNING 'protection of shard % is not in force', rel
        USING DETAIL = pg_catalog.format('Its trigger %I was dropped.', o.address_names[3]);
      RAISE LOG 'pg_privacy: superuser % dropped the protect trigger of shard %', who, rel;
      CONTINUE;
    END IF;
    RAISE LOG 'pg_privacy: refused DROP TRIGGER % of role % on shard %', o.address_names[3], who, rel;
    RAISE EXCEPTION 'cannot drop the protect trigger of shard %', rel
      USING ERRCODE = '55000',
            HINT = 'Remove the protection with privacy.unprotect() on the table on the coordinator.';
  END LOOP;
  FOR o IN SELECT * FROM pg_catalog.pg_event_trigger_dropped_objects() x
            WHERE x.object_type OPERATOR(pg_catalog.=) 'trigger'
              AND x.address_names[3] IN ('zz_pg_privacy_protect', 'zy_pg_privacy_consent', 'zx_pg_privacy_restrict')
  LOOP
    rel := pg_catalog.to_regclass(pg_catalog.format('%I.%I', o.address_names[1], o.address_names[2]));
    CONTINUE WHEN rel IS NULL;
    IF o.address_names[3] OPERATOR(pg_catalog.=) 'zz_pg_privacy_protect' THEN
      CONTINUE WHEN NOT EXISTS (SELECT FROM privacy.registered_table t WHERE t.tbl OPERATOR(pg_catalog.=) rel);
      CONTINUE WHEN privacy_internal._protect_ddl_allowed(rel);
      what := 'protect trigger';
    ELSIF o.address_names[3] OPERATOR(pg_catalog.=) 'zy_pg_privacy_consent' THEN
      -- privacy.unrequire_consent() drops it after the last requirement
      CONTINUE WHEN NOT EXISTS (SELECT FROM privacy.consent_requirement q
                                 WHERE q.tbl OPERATOR(pg_catalog.=) rel
                                    OR q.tbl::oid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT pg_catalog.pg_partition_ancestors(rel))));
      what := 'consent check';
    ELSE
      CONTINUE WHEN NOT EXISTS (SELECT FROM privacy.restriction);
      what := 'restriction check';
    END IF;
    IF may_switch_off THEN
      RAISE WARNING '% of table % is not in force', CASE what WHEN 'protect trigger' THEN 'protection' ELSE what END, rel
        USING DETAIL = pg_catalog.format('Its trigger %I was dropped.', o.address_names[3]);
      RAISE LOG 'pg_privacy: superuser % dropped the % of table %', who, what, rel;
      BEGIN
        PERFORM privacy_internal._audit(CASE what WHEN 'protect trigger' THEN 'protect.weakened'
                                         WHEN 'consent check' THEN 'consent.weakened'
                                         ELSE 'subject.restriction_weakened' END,
                               rel::text,
                               pg_catalog.jsonb_build_object('problem', pg_catalog.format('trigger %s dropped', o.address_names[3])));
      EXCEPTION WHEN unique_violation THEN
        NULL;
      END;
      CONTINUE;
    END IF;
    RAISE LOG 'pg_privacy: refused DROP TRIGGER % of role % on table %', o.address_names[3], who, rel;
    RAISE EXCEPTION 'cannot drop the % of table %', what, rel
      USING ERRCODE = '55000',
            HINT = CASE what WHEN 'protect trigger' THEN 'Remove the protection with privacy.unprotect() first.'
                             WHEN 'consent check' THEN 'Remove the requirement with privacy.unrequire_consent() first.'
                             ELSE 'Lift the restrictions with privacy.unrestrict_subject() first.' END;
  END LOOP;
END
$$;

CREATE FUNCTION privacy_internal._protect_event_trigger() RETURNS event_trigger
  LANGUAGE c
  AS 'MODULE_PATHNAME', 'pgp_protect_event_trigger';
COMMENT ON FUNCTION privacy_internal._protect_event_trigger() IS
  'internal: refuses DDL that switches off the protection of a protected table';

-- (CREATE SCHEMA too: the tables and triggers created by its schema
-- elements fire no event trigger of their own)
CREATE EVENT TRIGGER pg_privacy_protect_ddl_end ON ddl_command_end
  WHEN TAG IN ('ALTER TABLE', 'ALTER FOREIGN TABLE', 'CREATE TABLE', 'CREATE TRIGGER', 'ALTER TRIGGER', 'CREATE SCHEMA')
  EXECUTE FUNCTION privacy_internal._protect_event_trigger();
CREATE EVENT TRIGGER pg_privacy_protect_sql_drop ON sql_drop
  WHEN TAG IN ('DROP TRIGGER', 'ALTER TABLE', 'DROP EXTENSION')
  EXECUTE FUNCTION privacy_internal._protect_event_trigger();
