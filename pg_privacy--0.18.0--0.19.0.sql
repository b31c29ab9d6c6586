/* pg_privacy--0.18.0--0.19.0.sql: ALTER EXTENSION pg_privacy UPDATE TO '0.19.0'
 *
 * Assembled by src/upgrade/gen_upgrade.py from src/upgrade/0.18.0--0.19.0.pre.sql,
 * the differences between the 0.18.0 and 0.19.0 install scripts, and
 * src/upgrade/0.18.0--0.19.0.post.sql.  Edit those, not this file.
 */

\echo Use "ALTER EXTENSION pg_privacy UPDATE TO '0.19.0'" to load this file. \quit

-- Nothing to do before the generated part.

-- Tables new in 0.19.0 (generated)

-- Functions removed, or whose arguments or result changed (generated)

DROP FUNCTION privacy_internal._subject_match(privacy_internal._subject_column, text);

DROP FUNCTION privacy_internal._subject_from(privacy_internal._subject_column, text);

DROP FUNCTION privacy_internal._subject_parts(privacy_internal._subject_column, text);

DROP FUNCTION privacy_internal._subject_row_json(regclass, name);

DROP FUNCTION privacy_internal._subject_rows_sql(regclass, text);


-- Functions new or changed in 0.19.0, in the order of its install script (generated)

CREATE OR REPLACE FUNCTION privacy_internal._protect(tbl regclass, rewrite_existing boolean, batched boolean) RETURNS void
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

CREATE FUNCTION privacy_internal._library_reads_raw() RETURNS boolean
  LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'pgp_library_reads_raw';

COMMENT ON FUNCTION privacy_internal._library_reads_raw() IS
  'internal: true; a library too old to read rows not converted since protect_in_batches() has no such function';

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
                  privacy_internal._has_protect_trigger(q.tbl) AS is_protected,
                  privacy_internal._raw_relation(q.tbl) IS NOT NULL AS has_raw,
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
              DETAIL = pg_catalog.format('Column "%s" of relation %s is declared protected by %s, but the table has no protect trigger: its values may be stored raw, and the withdrawal''s deletion could not find all of the subject''s rows. Nothing was changed.',
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
      IF r.has_raw AND r.protect IN ('pseudonym', 'msisdn_fpe', 'email_pseudonym') THEN
        -- rows not converted since protect_in_batches() hold the
        -- identifier raw: matched by the normal form the conversion gives
        -- it ("raw", src/consent.c), the others under the current key
        n := privacy_internal._consent_delete(r.tbl, r.col, 'under:' || privacy.key_fingerprint(),
                                              privacy_internal._transform(norm, r.protect, r.domain, kind))
             OPERATOR(pg_catalog.+)
             privacy_internal._consent_delete(r.tbl, r.col,
                                              'raw:' || CASE WHEN r.protect OPERATOR(pg_catalog.=) 'msisdn_fpe' THEN 'msisdn'
                                                             ELSE r.normalize END,
                                              privacy.lookup_value(CASE WHEN r.protect OPERATOR(pg_catalog.=) 'msisdn_fpe' THEN 'msisdn'
                                                                        ELSE r.normalize END,
                                                                   norm, privacy_internal._default_country()));
        total := total OPERATOR(pg_catalog.+) n;
        tables := tables OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(r.tbl::text, n);
        CONTINUE;
      ELSIF pg_catalog.cardinality(pend) OPERATOR(pg_catalog.>) 0 THEN
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

CREATE OR REPLACE FUNCTION privacy_internal._subject_protect_check(c privacy_internal._subject_column)
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
            HINT = 'Protect the table (SELECT privacy.protect(tbl, rewrite_existing => true) converts the rows it holds, privacy.protect_in_batches(tbl) in batches), or declare the column without protect if it is meant to hold raw values.';
  END IF;
END
$$;

CREATE FUNCTION privacy_internal._subject_match(c privacy_internal._subject_column, dc text, raw boolean DEFAULT false)
  RETURNS text
  LANGUAGE sql STABLE
AS $$
  SELECT CASE
           WHEN raw AND c.protect IS NOT NULL AND NOT privacy_internal._citus_table(c.tbl) THEN
             pg_catalog.format('((f.k OPERATOR(pg_catalog.=) ''raw'') IS NOT TRUE AND t.%1$I OPERATOR(pg_catalog.=) f.s'
                               ' AND (f.o OR privacy_internal._row_key(t.tableoid, t.*) OPERATOR(pg_catalog.=) f.k)'
                               ' OR f.k OPERATOR(pg_catalog.=) ''raw'''
                               ' AND privacy.lookup_value(%2$L, t.%1$I::pg_catalog.text, %3$L) COLLATE "C" OPERATOR(pg_catalog.=) f.s'
                               ' AND privacy_internal._row_key(t.tableoid, t.*) OPERATOR(pg_catalog.=) ''raw'')',
                               c.col, CASE WHEN c.protect OPERATOR(pg_catalog.=) 'msisdn_fpe' THEN 'msisdn' ELSE c.mode END, dc)
           -- (not on a table Citus manages, whose relations are never
           -- pending: a key change waits for it, src/sql/10_keys.sql; and
           -- Citus runs no STABLE function of a row in an UPDATE)
           WHEN c.protect OPERATOR(pg_catalog.=) 'msisdn_fpe' AND NOT privacy_internal._citus_table(c.tbl) THEN
             pg_catalog.format('t.%I OPERATOR(pg_catalog.=) f.s AND (f.o OR privacy_internal._row_key(t.tableoid, t.*) OPERATOR(pg_catalog.=) f.k)', c.col)
           WHEN c.protect IS NOT NULL THEN pg_catalog.format('t.%I OPERATOR(pg_catalog.=) f.s', c.col)
           WHEN c.mode IN ('msisdn', 'email') THEN
             pg_catalog.format('privacy.lookup_value(%L, t.%I%s, %L) OPERATOR(pg_catalog.=) f.s', c.mode, c.col,
                               CASE WHEN c.typ OPERATOR(pg_catalog.=) 'text'::regtype THEN '' ELSE '::text' END, dc)
           WHEN c.typ IN ('text'::regtype, 'varchar'::regtype) THEN pg_catalog.format('t.%I OPERATOR(pg_catalog.=) f.s', c.col)
           -- built-in types only (privacy_internal._subject_check): their casts
           ELSE pg_catalog.format('t.%I OPERATOR(pg_catalog.=) f.s::pg_catalog.%s', c.col,
                                  (SELECT y.typname FROM pg_catalog.pg_type y WHERE y.oid OPERATOR(pg_catalog.=) c.typ))
         END
      || CASE
           WHEN c.is_validity THEN
             pg_catalog.format(' AND (NOT f.b OR f.span OPERATOR(pg_catalog.&&) pg_catalog.tstzrange(t.%s::timestamptz, t.%s::timestamptz, ''[)''))',
                               COALESCE(pg_catalog.quote_ident(c.valid_from), 'NULL'),
                               COALESCE(pg_catalog.quote_ident(c.valid_to), 'NULL'))
           WHEN c.event_time IS NOT NULL THEN
             pg_catalog.format(' AND (NOT f.b OR f.span OPERATOR(pg_catalog.@>) t.%I::timestamptz)', c.event_time)
           ELSE ''
         END
$$;

CREATE FUNCTION privacy_internal._subject_from(c privacy_internal._subject_column, dc text, raw boolean DEFAULT false)
  RETURNS text
  LANGUAGE sql STABLE
AS $$
  SELECT pg_catalog.format(
           '%s JOIN %s t ON %s',
           privacy_internal._subject_ids_sql(c.tbl::oid::text || '.' || c.attnum::text), c.tbl, privacy_internal._subject_match(c, dc, raw))
$$;

CREATE FUNCTION privacy_internal._subject_raw(params jsonb, k text)
  RETURNS boolean
  LANGUAGE sql IMMUTABLE
AS $$
  SELECT COALESCE(params OPERATOR(pg_catalog.->) k OPERATOR(pg_catalog.@>) '[{"k": "raw"}]'::jsonb, false)
$$;

CREATE FUNCTION privacy_internal._subject_parts(c privacy_internal._subject_column, dc text, raw boolean DEFAULT false)
  RETURNS TABLE(ids text, cond text, each boolean)
  LANGUAGE sql STABLE
AS $$
  SELECT x.ids, x.cond, x.each
    FROM (SELECT 1 AS o, privacy_internal._subject_ids_sql(c.tbl::oid::text || '.' || c.attnum::text) AS ids,
                 privacy_internal._subject_match(c, dc, raw) AS cond, false AS each
           WHERE c.event_time IS NULL OR c.is_validity
          UNION ALL
          SELECT 2, CASE WHEN p.partitioned
                         THEN '(SELECT $2::pg_catalog.text AS s, $3::pg_catalog.tstzmultirange AS span, true AS b,'
                              ' $4::pg_catalog.timestamptz AS lo, $5::pg_catalog.timestamptz AS hi,'
                              ' $6::pg_catalog.text AS k, $7::pg_catalog.bool AS o) f'
                         ELSE pg_catalog.format('privacy_internal._subject_ids_span($1, %L, true) f',
                                                c.tbl::oid::text || '.' || c.attnum::text) END,
                 privacy_internal._subject_match(c, dc, raw)
                 || pg_catalog.format(' AND t.%1$I::timestamptz OPERATOR(pg_catalog.>=) f.lo AND t.%1$I::timestamptz OPERATOR(pg_catalog.<=) f.hi',
                                      c.event_time),
                 p.partitioned
            FROM (SELECT EXISTS (SELECT FROM pg_catalog.pg_class k
                                  WHERE k.oid OPERATOR(pg_catalog.=) c.tbl
                                    AND k.relkind OPERATOR(pg_catalog.=) 'p') AS partitioned) p
           WHERE c.event_time IS NOT NULL AND NOT c.is_validity
          UNION ALL
          SELECT 3, pg_catalog.format('privacy_internal._subject_ids_span($1, %L, false) f', c.tbl::oid::text || '.' || c.attnum::text),
                 privacy_internal._subject_match(c, dc, raw), false
           WHERE c.event_time IS NOT NULL AND NOT c.is_validity) x
   ORDER BY x.o
$$;

CREATE OR REPLACE FUNCTION privacy_internal._subject_stmts(verb text, c privacy_internal._subject_column, dc text, params jsonb)
  RETURNS text[]
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  k      text := c.tbl::oid::text || '.' || c.attnum::text;
  -- (the raw statements under a key of their own: src/engine.c builds it too)
  raw    boolean := privacy_internal._subject_raw(params, c.tbl::oid::text || '.' || c.attnum::text);
  ck     text := verb || ':' || k || ':' || dc || CASE WHEN raw THEN ':raw' ELSE '' END;
  cached text := privacy_internal._subject_cache_get(ck);
  stmts  text[];
BEGIN
  IF cached IS NULL THEN
    SELECT pg_catalog.array_agg(
             CASE WHEN p.each THEN '/* per identifier ' || k || ' */ ' ELSE '' END
             || pg_catalog.format(
             CASE verb WHEN 'delete' THEN 'DELETE FROM %1$s t USING %2$s WHERE %3$s'
                       WHEN 'ctid' THEN 'SELECT t.ctid FROM %2$s JOIN %1$s t ON %3$s'
                       ELSE 'UPDATE %1$s t SET %4$I = NULL FROM %2$s WHERE %3$s' END,
             c.tbl, p.ids, p.cond, c.col))
      INTO stmts
      FROM privacy_internal._subject_parts(c, dc, raw) p;
    cached := privacy_internal._subject_cache_put(ck, stmts::text);
  END IF;
  stmts := cached::text[];
  IF pg_catalog.cardinality(stmts) OPERATOR(pg_catalog.=) 1 THEN
    RETURN stmts;
  END IF;
  -- bounded, then open periods: only those the subject has
  RETURN CASE WHEN params OPERATOR(pg_catalog.->) k OPERATOR(pg_catalog.@>) '[{"b": true}]'::jsonb
              THEN ARRAY[stmts[1]] ELSE '{}'::text[] END
         OPERATOR(pg_catalog.||)
         CASE WHEN params OPERATOR(pg_catalog.->) k OPERATOR(pg_catalog.@>) '[{"b": false}]'::jsonb
              THEN ARRAY[stmts[2]] ELSE '{}'::text[] END;
END
$$;

CREATE OR REPLACE FUNCTION privacy_internal._subject_holder_span(kind text, norm text, at timestamptz)
  RETURNS tstzmultirange
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  dc       text := privacy_internal._default_country();
  c        privacy_internal._subject_column;
  params   jsonb;
  rs       tstzrange[];
  ranges   tstzrange[];
  chosen   tstzmultirange;
BEGIN
  at := COALESCE(at, pg_catalog.now());
  IF EXISTS (SELECT FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc WHERE sc.kind OPERATOR(pg_catalog.=) _subject_holder_span.kind
                AND sc.is_validity) THEN
    params := privacy_internal._subject_params(ARRAY[kind], ARRAY[norm], ARRAY['{(,)}'::tstzmultirange]);
    ranges := '{}';
    FOR c IN SELECT * FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc
              WHERE sc.kind OPERATOR(pg_catalog.=) _subject_holder_span.kind AND sc.is_validity LOOP
      IF params OPERATOR(pg_catalog.?) (c.tbl::oid::text || '.' || c.attnum::text) THEN
        -- read as the table's owner
        rs := (privacy_internal._subject_query(c.tbl,
                 pg_catalog.format('SELECT pg_catalog.to_jsonb(pg_catalog.array_agg(pg_catalog.tstzrange(t.%s::pg_catalog.timestamptz, t.%s::pg_catalog.timestamptz, ''[)''))::pg_catalog.text) FROM %s',
                                   COALESCE(pg_catalog.quote_ident(c.valid_from), 'NULL'),
                                   COALESCE(pg_catalog.quote_ident(c.valid_to), 'NULL'),
                                   privacy_internal._subject_from(c, dc,
                                     privacy_internal._subject_raw(params, c.tbl::oid::text || '.' || c.attnum::text))),
                 params) OPERATOR(pg_catalog.#>>) '{}')::tstzrange[];
        ranges := ranges OPERATOR(pg_catalog.||) COALESCE(rs, '{}');
      END IF;
    END LOOP;
    IF pg_catalog.cardinality(ranges) OPERATOR(pg_catalog.>) 0 THEN
      SELECT pg_catalog.range_agg(x) INTO chosen FROM pg_catalog.unnest(ranges) x
       WHERE x OPERATOR(pg_catalog.@>) at;
      IF chosen IS NULL THEN
        -- nobody holds it at `at`: its latest holder before, else the first after
        SELECT pg_catalog.tstzmultirange(x) INTO chosen FROM pg_catalog.unnest(ranges) x
         ORDER BY (pg_catalog.lower(x) OPERATOR(pg_catalog.<=) at) DESC,
                  CASE WHEN pg_catalog.lower(x) OPERATOR(pg_catalog.<=) at THEN pg_catalog.lower(x) END DESC NULLS LAST,
                  pg_catalog.lower(x)
         LIMIT 1;
      END IF;
      RETURN chosen;
    END IF;
  END IF;

  RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION privacy_internal._subject_link_sql(dc text)
  RETURNS text[]
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  c        privacy_internal._subject_column;
  t        record;
  link_sql text[] := '{}';
  raw      boolean;
BEGIN
  FOR t IN SELECT sc.tbl FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc
            WHERE sc.link OPERATOR(pg_catalog.=) 'owner'
            GROUP BY sc.tbl
           HAVING pg_catalog.count(*) FILTER (WHERE sc.links) OPERATOR(pg_catalog.>=) 1
              AND pg_catalog.count(*) OPERATOR(pg_catalog.>=) 2
            ORDER BY sc.tbl::oid LOOP
    FOR c IN SELECT * FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc
              WHERE sc.tbl OPERATOR(pg_catalog.=) t.tbl AND sc.link OPERATOR(pg_catalog.=) 'owner'
              ORDER BY sc.attnum LOOP
      FOREACH raw IN ARRAY CASE WHEN c.protect IS NOT NULL AND NOT privacy_internal._citus_table(c.tbl)
                                THEN '{false,true}'::boolean[] ELSE '{false}'::boolean[] END LOOP
        link_sql := link_sql OPERATOR(pg_catalog.||)
          (t.tbl::oid::text || '|' || c.tbl::oid::text || '.' || c.attnum::text
           || CASE WHEN raw THEN '#raw' ELSE '' END || '|' ||
           pg_catalog.format('SELECT x.k, x.v, x.s, x.d, x.r FROM %s CROSS JOIN LATERAL (VALUES %s) x(k, v, s, d, r) WHERE x.v IS NOT NULL',
             privacy_internal._subject_from(c, dc, raw),
             (SELECT pg_catalog.string_agg(pg_catalog.format('(%L, %s, %s, %L::pg_catalog.text, %s)', l.kind,
                                                             privacy_internal._subject_value_expr(l, dc),
                                                             privacy_internal._subject_span_expr(l),
                                                             privacy_internal._subject_decrypt_domain(l),
                                                             privacy_internal._subject_row_key_expr(l)), ', ' ORDER BY l.attnum)
                FROM pg_catalog.unnest(privacy_internal._subject_cols()) l
               WHERE l.tbl OPERATOR(pg_catalog.=) t.tbl AND l.links)));
      END LOOP;
    END LOOP;
  END LOOP;
  RETURN link_sql;
END
$$;

CREATE FUNCTION privacy_internal._transform_shown(value text, protect text, domain text, identifies text, own boolean)
  RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN privacy_internal._transform(value, protect, domain, identifies);
EXCEPTION WHEN data_exception THEN
  RETURN CASE WHEN own THEN value END;
END
$$;

COMMENT ON FUNCTION privacy_internal._transform_shown(text, text, text, text, boolean) IS
  'internal: a protected value of a row not yet converted as the export shows it (its transformation; refused: the own value, else NULL)';

CREATE FUNCTION privacy_internal._subject_row_json(tbl regclass, mention_col name, raw boolean DEFAULT false)
  RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r     record;
  parts text[] := '{}';
  clear text;
  clear_text text;
  masked text;
BEGIN
  FOR r IN SELECT rc.col, rc.category, rc.identifies, rc.link, rc.protect, rc.domain
             FROM privacy.registered_column rc WHERE rc.tbl OPERATOR(pg_catalog.=) _subject_row_json.tbl
            ORDER BY rc.attnum LOOP
    IF r.protect OPERATOR(pg_catalog.=) 'msisdn_fpe' THEN
      -- under the key of its row (x.k) while a key rotation runs
      clear := pg_catalog.format('CASE WHEN x.k IS NULL THEN privacy_internal._msisdn_decrypt(x.j OPERATOR(pg_catalog.->>) %1$L, %2$L)'
                                 ' ELSE privacy_internal._msisdn_under(x.k, x.j OPERATOR(pg_catalog.->>) %1$L, %2$L, true) END',
                                 r.col, r.domain);
      clear_text := clear;
    ELSIF raw AND r.protect IS NOT NULL THEN
      -- a row not yet converted: the value its conversion will store (one
      -- it will refuse: the subject's own as stored, another's not at all)
      clear_text := pg_catalog.format('CASE WHEN x.k OPERATOR(pg_catalog.=) ''raw'''
                                      ' THEN privacy_internal._transform_shown(x.j OPERATOR(pg_catalog.->>) %1$L, %2$L, %3$L, %4$L, %5$L)'
                                      ' ELSE x.j OPERATOR(pg_catalog.->>) %1$L END',
                                      r.col, r.protect, r.domain, r.identifies, mention_col IS NULL);
      clear := pg_catalog.format('CASE WHEN x.k OPERATOR(pg_catalog.=) ''raw'''
                                 ' THEN pg_catalog.to_jsonb(privacy_internal._transform_shown(x.j OPERATOR(pg_catalog.->>) %1$L, %2$L, %3$L, %4$L, %5$L))'
                                 ' ELSE x.j OPERATOR(pg_catalog.->) %1$L END',
                                 r.col, r.protect, r.domain, r.identifies, mention_col IS NULL);
    ELSE
      clear := pg_catalog.format('x.j OPERATOR(pg_catalog.->) %L', r.col);
      clear_text := pg_catalog.format('x.j OPERATOR(pg_catalog.->>) %L', r.col);
    END IF;
    -- (a column protected by null holds nothing once converted)
    masked := CASE WHEN raw AND r.protect OPERATOR(pg_catalog.=) 'null' THEN 'NULL::pg_catalog.text'
                   ELSE pg_catalog.format('CASE WHEN x.j OPERATOR(pg_catalog.->>) %L IS NOT NULL THEN ''(masked)'' END', r.col) END;
    IF mention_col IS NULL THEN
      IF r.link OPERATOR(pg_catalog.=) 'mention' THEN
        parts := parts OPERATOR(pg_catalog.||) pg_catalog.format('%L, %s', r.col,
                   CASE WHEN r.identifies OPERATOR(pg_catalog.=) 'msisdn'
                        THEN pg_catalog.format('privacy.mask_msisdn(%s)', clear_text)
                        ELSE masked END);
      ELSIF (r.identifies IS NOT NULL AND r.protect OPERATOR(pg_catalog.=) 'msisdn_fpe')
            OR (raw AND r.protect IS NOT NULL) THEN
        parts := parts OPERATOR(pg_catalog.||) pg_catalog.format('%L, %s', r.col, clear);
      END IF;
    ELSE
      IF r.col OPERATOR(pg_catalog.=) mention_col THEN
        parts := parts OPERATOR(pg_catalog.||) pg_catalog.format('%L, %s', r.col, clear);
      ELSIF r.identifies OPERATOR(pg_catalog.=) 'msisdn' THEN
        parts := parts OPERATOR(pg_catalog.||) pg_catalog.format('%L, privacy.mask_msisdn(%s)', r.col, clear_text);
      ELSIF r.category NOT IN ('traffic', 'location') THEN
        parts := parts OPERATOR(pg_catalog.||) pg_catalog.format('%L, %s', r.col, masked);
      ELSIF raw AND r.protect IS NOT NULL THEN
        parts := parts OPERATOR(pg_catalog.||) pg_catalog.format('%L, %s', r.col, clear);
      END IF;
    END IF;
  END LOOP;
  IF pg_catalog.cardinality(parts) OPERATOR(pg_catalog.=) 0 THEN
    RETURN 'x.j';
  END IF;
  -- jsonb_build_object takes at most 100 arguments: one call per 50 columns.
  RETURN 'x.j OPERATOR(pg_catalog.||) ' ||
         (SELECT pg_catalog.string_agg('pg_catalog.jsonb_build_object(' ||
                   pg_catalog.array_to_string(parts[g OPERATOR(pg_catalog.*) 50 OPERATOR(pg_catalog.+) 1 :
                                                    g OPERATOR(pg_catalog.*) 50 OPERATOR(pg_catalog.+) 50], ', ') || ')',
                   ' OPERATOR(pg_catalog.||) ')
            FROM pg_catalog.generate_series(0, (pg_catalog.cardinality(parts) OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog./) 50) g);
END
$$;

CREATE FUNCTION privacy_internal._subject_rows_sql(tbl regclass, dc text, raw boolean DEFAULT false, OUT q text, OUT shown text)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  c        privacy_internal._subject_column;
  branches text[] := '{}';
  whens    text[] := '{}';
  own_json text;
  key      text := tbl::oid::text || ':' || dc || CASE WHEN raw THEN ':raw' ELSE '' END;
  cached   text := privacy_internal._subject_cache_get('rows:' || key);
  froms    text[];
  f        text;
  bounded  text[] := '{}';   -- the branches without those of open periods only
  -- a row is its relation and ctid; on Citus, where each shard's OID is
  -- its node's own (shards on two nodes may share one), its shard's name
  rid      text;
  -- the key of the row's phone-number pseudonyms while a key rotation
  -- runs (NULL: the current key), which shows them decrypted
  rkey     text := CASE WHEN raw OR EXISTS (SELECT FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc
                                             WHERE sc.tbl OPERATOR(pg_catalog.=) _subject_rows_sql.tbl
                                               AND sc.protect OPERATOR(pg_catalog.=) 'msisdn_fpe')
                        THEN privacy_internal._subject_row_key_sql(tbl)
                        ELSE 'NULL::pg_catalog.text' END;
BEGIN
  -- two entries (no separator that a column name could hold), used only
  -- together
  IF cached IS NOT NULL THEN
    shown := privacy_internal._subject_cache_get('shown:' || key);
    IF shown IS NOT NULL THEN
      q := NULLIF(cached, '');
      shown := NULLIF(shown, '');
      RETURN;
    END IF;
    shown := NULL;
  END IF;
  rid := CASE WHEN privacy_internal._citus_table(tbl)
              THEN 't.tableoid::pg_catalog.regclass::pg_catalog.text' ELSE 't.tableoid' END;
  FOR c IN SELECT * FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc WHERE sc.tbl OPERATOR(pg_catalog.=) _subject_rows_sql.tbl
            ORDER BY sc.link DESC, sc.attnum LOOP
    -- A table partitioned by its event time: each identifier's rows are
    -- read from the partitions of its period only (the bounds lo, hi of
    -- _subject_ids_span, open periods infinite, pruned per identifier as
    -- the query runs), and the rows without an event time, which only an
    -- open period takes, from the partition that holds them.
    IF c.event_time IS NOT NULL AND NOT c.is_validity
       AND EXISTS (SELECT FROM pg_catalog.pg_class k
                    WHERE k.oid OPERATOR(pg_catalog.=) tbl AND k.relkind OPERATOR(pg_catalog.=) 'p') THEN
      froms := ARRAY[
        pg_catalog.format('(SELECT * FROM privacy_internal._subject_ids_span($1, %1$L, true)'
                          ' UNION ALL SELECT * FROM privacy_internal._subject_ids_span($1, %1$L, false)) f'
                          ' JOIN %2$s t ON %3$s AND t.%4$I::pg_catalog.timestamptz OPERATOR(pg_catalog.>=) f.lo'
                          ' AND t.%4$I::pg_catalog.timestamptz OPERATOR(pg_catalog.<=) f.hi',
                          c.tbl::oid::text || '.' || c.attnum::text, c.tbl, privacy_internal._subject_match(c, dc, raw), c.event_time),
        pg_catalog.format('privacy_internal._subject_ids_span($1, %1$L, false) f JOIN %2$s t ON %3$s AND t.%4$I IS NULL',
                          c.tbl::oid::text || '.' || c.attnum::text, c.tbl, privacy_internal._subject_match(c, dc, raw), c.event_time)];
    ELSE
      froms := ARRAY[privacy_internal._subject_from(c, dc, raw)];
    END IF;
    -- (of two froms, the second reads the rows of open periods only)
    IF c.link OPERATOR(pg_catalog.=) 'owner' THEN
      own_json := COALESCE(own_json, privacy_internal._subject_row_json(tbl, NULL, raw));
      FOREACH f IN ARRAY froms LOOP
        branches := branches OPERATOR(pg_catalog.||)
          pg_catalog.format('SELECT 0 AS pri, NULL::pg_catalog.text AS m, %s AS o, t.ctid AS d, pg_catalog.to_jsonb(t.*) AS j, %s AS k FROM %s', rid, rkey, f);
      END LOOP;
      bounded := bounded OPERATOR(pg_catalog.||) branches[pg_catalog.cardinality(branches) OPERATOR(pg_catalog.-) pg_catalog.cardinality(froms) OPERATOR(pg_catalog.+) 1];
    ELSE
      FOREACH f IN ARRAY froms LOOP
        branches := branches OPERATOR(pg_catalog.||)
          pg_catalog.format('SELECT 1 AS pri, %L::pg_catalog.text AS m, %s AS o, t.ctid AS d, pg_catalog.to_jsonb(t.*) AS j, %s AS k FROM %s',
                            c.col, rid, rkey, f);
      END LOOP;
      bounded := bounded OPERATOR(pg_catalog.||) branches[pg_catalog.cardinality(branches) OPERATOR(pg_catalog.-) pg_catalog.cardinality(froms) OPERATOR(pg_catalog.+) 1];
      whens := whens OPERATOR(pg_catalog.||)
        pg_catalog.format('WHEN x.m OPERATOR(pg_catalog.=) %L THEN %s', c.col, privacy_internal._subject_row_json(tbl, c.col, raw));
    END IF;
  END LOOP;
  IF pg_catalog.cardinality(branches) OPERATOR(pg_catalog.>) 0 THEN
    q := 'SELECT u.pri, u.m, u.j, u.k FROM (SELECT DISTINCT ON (u.o, u.d) u.pri, u.m, u.o, u.d, u.j, u.k FROM ('
         || pg_catalog.array_to_string(branches, ' UNION ALL ')
         || ') u ORDER BY u.o, u.d, u.pri) u ORDER BY u.pri, u.o, u.d';
    shown := 'CASE WHEN x.pri OPERATOR(pg_catalog.=) 0 THEN ' || COALESCE(own_json, 'NULL::pg_catalog.jsonb') || ' '
             || pg_catalog.array_to_string(whens, ' ') || ' END';
  END IF;
  PERFORM privacy_internal._subject_cache_put('shown:' || key, COALESCE(shown, ''));
  -- The same query without the branches of open periods only, for a
  -- subject whose identifiers of the table all have bounded periods
  -- (src/engine.c): over a table partitioned by its event time, every
  -- branch is one more scan of each partition to set up.
  PERFORM privacy_internal._subject_cache_put('rowsb:' || key,
    CASE WHEN pg_catalog.cardinality(bounded) OPERATOR(pg_catalog.>) 0
         THEN 'SELECT u.pri, u.m, u.j, u.k FROM (SELECT DISTINCT ON (u.o, u.d) u.pri, u.m, u.o, u.d, u.j, u.k FROM ('
              || pg_catalog.array_to_string(bounded, ' UNION ALL ')
              || ') u ORDER BY u.o, u.d, u.pri) u ORDER BY u.pri, u.o, u.d'
         ELSE '' END);
  PERFORM privacy_internal._subject_cache_put('rows:' || key, COALESCE(q, ''));
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
    rs := privacy_internal._subject_rows_sql(t.tbl, dc, params OPERATOR(pg_catalog.?) ('raw:' || t.tbl::oid::text));
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
    detail := pg_catalog.format('%s relation(s) of %s hold rows from before its protection that privacy.rekey() has not converted yet: their protected columns cannot be changed, and export, erasure and restriction read them raw, scanning the table',
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

-- Views, triggers, comments and configuration new or changed in 0.19.0 (generated)

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
            -- (rows held before protect_in_batches() that privacy.rekey()
            -- has not converted yet are raw, and the search matches them
            -- raw: _subject_match; a library from before 0.19.0, still
            -- loaded after the update, fails here instead of reading them
            -- as pseudonyms)
            WHEN CASE WHEN privacy_internal._raw_relation(c.tbl) IS NOT NULL THEN NOT privacy_internal._library_reads_raw() END
            THEN pg_catalog.format('relation %s holds rows from before it was protected, which the pg_privacy library loaded in this session cannot read (restart the server after an update of pg_privacy)',
                                   privacy_internal._raw_relation(c.tbl))
            ELSE privacy_internal._protection_problem(c.tbl) END AS protect_problem
  FROM privacy.registered_column c
  JOIN privacy.identifier_kind k ON k.name OPERATOR(pg_catalog.=) c.identifies
  JOIN pg_catalog.pg_attribute a
    ON a.attrelid OPERATOR(pg_catalog.=) c.tbl AND a.attname OPERATOR(pg_catalog.=) c.col AND NOT a.attisdropped
  LEFT JOIN privacy.subject_table s ON s.tbl OPERATOR(pg_catalog.=) c.tbl
 WHERE c.protect IS NULL OR c.protect IN ('msisdn_fpe', 'pseudonym', 'email_pseudonym');

-- Nothing to do after the generated part.


-- Privileges: every GRANT and REVOKE of the 0.19.0 install script, in its order (generated)

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
