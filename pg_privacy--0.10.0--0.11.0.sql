/* pg_privacy--0.10.0--0.11.0.sql: ALTER EXTENSION pg_privacy UPDATE TO '0.11.0'
 *
 * Assembled by src/upgrade/gen_upgrade.py from src/upgrade/0.10.0--0.11.0.pre.sql,
 * the differences between the 0.10.0 and 0.11.0 install scripts, and
 * src/upgrade/0.10.0--0.11.0.post.sql.  Edit those, not this file.
 */

\echo Use "ALTER EXTENSION pg_privacy UPDATE TO '0.11.0'" to load this file. \quit

-- Nothing before the functions: 0.11.0 changes no table.

-- Tables new in 0.11.0 (generated)

-- Functions removed, or whose arguments or result changed (generated)


-- Functions new or changed in 0.11.0, in the order of its install script (generated)

CREATE FUNCTION privacy_internal._citus_dist_column(tbl regclass) RETURNS text
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_citus_dist_column';

COMMENT ON FUNCTION privacy_internal._citus_dist_column(regclass) IS
  'internal: the distribution column of a table Citus manages (NULL for a reference or local table)';

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
  -- The rules the shards of protected Citus tables carry are signed
  -- under the key (src/protect.c): signed again under the new one.
  PERFORM privacy_internal._protect_citus_resign(NULL);
  PERFORM privacy_internal._audit('key.change', NULL,
                         pg_catalog.jsonb_build_object('from', stored, 'to', loaded,
                                                       'holds_released', held_n, 'erasure_ledger', ledger));
  RETURN loaded;
END
$$;

CREATE OR REPLACE FUNCTION privacy.grant_domain(domain text, grantee regrole) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
BEGIN
  IF domain IS NULL OR grantee IS NULL THEN
    RAISE EXCEPTION 'domain and grantee must not be null' USING ERRCODE = '22004';
  END IF;
  PERFORM privacy_internal._check_domain_admin();
  IF pg_catalog.octet_length(domain) NOT BETWEEN 1 AND 200 THEN
    RAISE EXCEPTION 'invalid pseudonymization domain'
      USING ERRCODE = '22023', DETAIL = 'A domain is a non-empty text of at most 200 bytes.';
  END IF;
  INSERT INTO privacy.domain_grant (domain, grantee, granted_by)
       VALUES (domain, grantee, privacy_internal._invoker())
  ON CONFLICT DO NOTHING;
  PERFORM privacy_internal._audit('pseudonym.grant_domain', domain,
                         pg_catalog.jsonb_build_object('grantee', grantee::text));
  -- the shards of protected Citus tables read the grant from their rule
  PERFORM privacy_internal._protect_citus_resign(domain);
END
$$;

CREATE OR REPLACE FUNCTION privacy.revoke_domain(domain text, grantee regrole) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
BEGIN
  IF domain IS NULL OR grantee IS NULL THEN
    RAISE EXCEPTION 'domain and grantee must not be null' USING ERRCODE = '22004';
  END IF;
  PERFORM privacy_internal._check_domain_admin();
  DELETE FROM privacy.domain_grant g
   WHERE g.domain OPERATOR(pg_catalog.=) revoke_domain.domain
     AND g.grantee OPERATOR(pg_catalog.=) revoke_domain.grantee;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'role % holds no grant of domain "%"', grantee, domain USING ERRCODE = '42704';
  END IF;
  PERFORM privacy_internal._audit('pseudonym.revoke_domain', domain,
                         pg_catalog.jsonb_build_object('grantee', grantee::text));
  -- the shards of protected Citus tables read the grant from their rule
  PERFORM privacy_internal._protect_citus_resign(domain);
END
$$;

CREATE FUNCTION privacy_internal._protect_shard_rule(tbl regclass) RETURNS text[]
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_protect_shard_rule';

COMMENT ON FUNCTION privacy_internal._protect_shard_rule(regclass) IS
  'internal: the signed rule for the protect trigger of a Citus table''s shards';

CREATE FUNCTION privacy_internal._protect_citus_sign(tbl regclass) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r      text[] := privacy_internal._protect_shard_rule(tbl);
  unsafe text := pg_catalog.current_setting('citus.enable_unsafe_triggers', true);
BEGIN
  -- Citus creates a trigger on its tables' shards only when told that
  -- triggers there are safe: this one reads nothing but its row and its
  -- own rule
  PERFORM pg_catalog.set_config('citus.enable_unsafe_triggers', 'on', true);
  IF EXISTS (SELECT FROM pg_catalog.pg_trigger g
              WHERE g.tgrelid OPERATOR(pg_catalog.=) tbl
                AND g.tgname OPERATOR(pg_catalog.=) 'zz_pg_privacy_protect') THEN
    PERFORM privacy_internal._allow_protect_ddl(tbl);
    EXECUTE pg_catalog.format('DROP TRIGGER zz_pg_privacy_protect ON %s', tbl);
    PERFORM privacy_internal._allow_protect_ddl(NULL);
  END IF;
  EXECUTE pg_catalog.format(
    'CREATE TRIGGER zz_pg_privacy_protect BEFORE INSERT OR UPDATE ON %s '
    'FOR EACH ROW EXECUTE FUNCTION privacy_internal._protect_trigger(%L, %L)', tbl, r[1], r[2]);
  PERFORM pg_catalog.set_config('citus.enable_unsafe_triggers', COALESCE(unsafe, 'off'), true);
END
$$;

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

CREATE OR REPLACE FUNCTION privacy.protect(tbl regclass, rewrite_existing boolean DEFAULT false) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  ncols integer;
  nrows bigint := 0;
  d text;
  citus boolean;
BEGIN
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'table must not be null' USING ERRCODE = '22004',
          HINT = 'A mistyped table name given to to_regclass() yields NULL; check the name.';
  END IF;
  IF rewrite_existing IS NULL THEN
    RAISE EXCEPTION 'rewrite_existing must not be null' USING ERRCODE = '22004';
  END IF;
  IF NOT EXISTS (SELECT FROM privacy.registered_table t WHERE t.tbl OPERATOR(pg_catalog.=) protect.tbl) THEN
    RAISE EXCEPTION 'table % is not registered', tbl
      USING ERRCODE = '55000',
            HINT = 'Register it with privacy.register_table() and declare its columns with privacy.register_column().';
  END IF;
  PERFORM privacy_internal._check_owner(tbl);
  SELECT pg_catalog.count(*) INTO ncols FROM privacy.registered_column c
   WHERE c.tbl OPERATOR(pg_catalog.=) protect.tbl AND c.protect IS NOT NULL;
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
    IF EXISTS (SELECT FROM pg_catalog.pg_class k
                WHERE k.oid OPERATOR(pg_catalog.=) tbl AND k.relkind OPERATOR(pg_catalog.=) 'p') THEN
      RAISE EXCEPTION 'protect is not supported on partitioned table %, which Citus manages', tbl
        USING ERRCODE = '0A000',
              DETAIL = 'The partitions Citus creates and attaches on every node are not covered yet.',
              HINT = 'Protect distributed tables without partitions, or keep the partitioned table local.';
    END IF;
    d := privacy_internal._citus_dist_column(tbl);
    IF d IS NOT NULL AND EXISTS (SELECT FROM privacy.registered_column c
                                  WHERE c.tbl OPERATOR(pg_catalog.=) protect.tbl AND c.protect IS NOT NULL
                                    AND c.col OPERATOR(pg_catalog.=) d) THEN
      RAISE EXCEPTION 'cannot protect column "%" of table %: it is the distribution column', d, tbl
        USING ERRCODE = '0A000',
              DETAIL = 'Citus routes a row by the value the coordinator sees, before the trigger on the shard transforms it: the row would lie in the shard of its raw value, and queries by pseudonym would not find it.',
              HINT = 'Distribute the table by another column (a customer or row id), or store the pseudonym itself: write privacy.pseudonymize_msisdn(...) in the INSERT and declare the column without protect.';
    END IF;
  END IF;
  IF privacy_internal._has_protect_trigger(tbl) THEN
    PERFORM privacy_internal._check_protection(tbl);
    IF rewrite_existing THEN
      RAISE EXCEPTION 'table % is already protected', tbl
        USING ERRCODE = '55000',
              DETAIL = 'Its rows were protected on write; rewriting them would transform them twice.';
    END IF;
    IF citus THEN
      -- signed again: the rule as the catalog, owner, names and key now are
      FOR d IN SELECT DISTINCT c.domain FROM privacy.registered_column c
                WHERE c.tbl OPERATOR(pg_catalog.=) protect.tbl
                  AND c.protect IN ('pseudonym', 'msisdn_fpe', 'email_pseudonym')
      LOOP
        PERFORM privacy_internal._check_domain_owner(tbl, d);
      END LOOP;
      PERFORM privacy_internal._protect_citus_sign(tbl);
      PERFORM privacy_internal._audit('protect.on', tbl::text,
                             pg_catalog.jsonb_build_object('columns', ncols, 'rows_rewritten', 0, 'citus', 'signed again'));
      RETURN;
    END IF;
    RAISE NOTICE 'table % is already protected', tbl;
    RETURN;
  END IF;
  -- The owner of the table (and of each partition) must hold the domains.
  FOR d IN SELECT DISTINCT c.domain FROM privacy.registered_column c
            WHERE c.tbl OPERATOR(pg_catalog.=) protect.tbl
              AND c.protect IN ('pseudonym', 'msisdn_fpe', 'email_pseudonym')
  LOOP
    PERFORM privacy_internal._check_domain_owner(tbl, d);
  END LOOP;
  -- A generated column is computed after BEFORE triggers: stored raw.
  SELECT c.col INTO d FROM privacy.registered_column c
    JOIN pg_catalog.pg_attribute a
      ON a.attrelid OPERATOR(pg_catalog.=) c.tbl AND a.attname OPERATOR(pg_catalog.=) c.col
     AND NOT a.attisdropped
   WHERE c.tbl OPERATOR(pg_catalog.=) protect.tbl AND c.protect IS NOT NULL
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
    PERFORM privacy_internal._protect_citus_sign(tbl);
  ELSE
    EXECUTE pg_catalog.format(
      'CREATE TRIGGER zz_pg_privacy_protect BEFORE INSERT OR UPDATE ON %s '
      'FOR EACH ROW EXECUTE FUNCTION privacy_internal._protect_trigger()', tbl);
  END IF;
  -- Rows written before protection: transformed in place through the new
  -- trigger, in this transaction (the trigger's creation locks out
  -- concurrent writers until commit), as the table's owner.
  IF rewrite_existing THEN
    nrows := privacy_internal._rewrite_protected(tbl,
               ARRAY(SELECT c.col FROM privacy.registered_column c
                      WHERE c.tbl OPERATOR(pg_catalog.=) protect.tbl AND c.protect IS NOT NULL
                      ORDER BY c.attnum));
  END IF;
  PERFORM privacy_internal._audit('protect.on', tbl::text,
                         pg_catalog.jsonb_build_object('columns', ncols, 'rows_rewritten', nrows));
END
$$;

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

-- Views, triggers, comments and configuration new or changed in 0.11.0 (generated)

-- Nothing after the functions: 0.11.0 changes no view, trigger or data.


-- Privileges: every GRANT and REVOKE of the 0.11.0 install script, in its order (generated)

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
