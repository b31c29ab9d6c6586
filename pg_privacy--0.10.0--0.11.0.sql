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

CREATE FUNCTION privacy_internal._citus_worker() RETURNS boolean
  LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'pgp_citus_worker_sql';

COMMENT ON FUNCTION privacy_internal._citus_worker() IS
  'internal: is this node a Citus worker';

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

CREATE OR REPLACE FUNCTION privacy_internal._follow_column_rename(tbl regclass, old_name name, new_name name)
  RETURNS void
  LANGUAGE plpgsql VOLATILE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  ev text;
  followed boolean := false;
BEGIN
  -- The shards of a protected Citus table transform the columns their
  -- signed rule names (src/protect.c): a renamed protected column would be
  -- stored raw under its new name, another column transformed under the
  -- old one.
  IF privacy_internal._citus_table(tbl) AND privacy_internal._has_protect_trigger(tbl)
     AND EXISTS (SELECT FROM privacy.registered_column c
                  WHERE c.tbl OPERATOR(pg_catalog.=) _follow_column_rename.tbl
                    AND c.col OPERATOR(pg_catalog.=) old_name AND c.protect IS NOT NULL) THEN
    RAISE EXCEPTION 'cannot rename protected column "%" of table %, which Citus manages', old_name, tbl
      USING ERRCODE = '0A000',
            DETAIL = 'The protect trigger on its shards transforms the column by the name its signed rule gives.',
            HINT = 'Keep the name; or remove the protection with privacy.unprotect() while no row is written, rename the column, and protect the table again.';
  END IF;
  FOR ev IN
    WITH c AS (UPDATE privacy.registered_column c SET col = new_name
                WHERE c.tbl OPERATOR(pg_catalog.=) _follow_column_rename.tbl
                  AND c.col OPERATOR(pg_catalog.=) old_name
               RETURNING 'catalog.column_renamed'::text AS ev),
         q AS (UPDATE privacy.consent_requirement q SET col = new_name
                WHERE q.tbl OPERATOR(pg_catalog.=) _follow_column_rename.tbl
                  AND q.col OPERATOR(pg_catalog.=) old_name
               RETURNING 'consent.column_renamed'::text AS ev),
         p AS (UPDATE privacy.retention_policy p SET time_column = new_name
                WHERE p.tbl OPERATOR(pg_catalog.=) _follow_column_rename.tbl
                  AND p.time_column OPERATOR(pg_catalog.=) old_name
               RETURNING 'retention.column_renamed'::text AS ev),
         s AS (UPDATE privacy.subject_table s
                  SET event_time = CASE WHEN s.event_time OPERATOR(pg_catalog.=) old_name THEN new_name ELSE s.event_time END,
                      validity_column = CASE WHEN s.validity_column OPERATOR(pg_catalog.=) old_name THEN new_name
                                             ELSE s.validity_column END,
                      valid_from = CASE WHEN s.valid_from OPERATOR(pg_catalog.=) old_name THEN new_name ELSE s.valid_from END,
                      valid_to = CASE WHEN s.valid_to OPERATOR(pg_catalog.=) old_name THEN new_name ELSE s.valid_to END,
                      link_columns = pg_catalog.array_replace(s.link_columns, old_name, new_name)
                WHERE s.tbl OPERATOR(pg_catalog.=) _follow_column_rename.tbl
                  AND (old_name OPERATOR(pg_catalog.=) ANY (ARRAY[s.event_time, s.validity_column, s.valid_from, s.valid_to])
                       OR old_name OPERATOR(pg_catalog.=) ANY (s.link_columns))
               RETURNING 'subject.column_renamed'::text AS ev)
    SELECT DISTINCT u.ev FROM (TABLE c UNION ALL TABLE q UNION ALL TABLE p UNION ALL TABLE s) u
     ORDER BY 1
  LOOP
    PERFORM privacy_internal._audit(ev, tbl::text, pg_catalog.jsonb_build_object('from', old_name, 'to', new_name));
    followed := true;
  END LOOP;
  IF followed THEN
    PERFORM privacy_internal._invalidate(tbl);
  END IF;
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

CREATE FUNCTION privacy_internal._protect_shard_rule(tbl regclass, country text DEFAULT NULL) RETURNS text[]
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_protect_shard_rule';

COMMENT ON FUNCTION privacy_internal._protect_shard_rule(regclass, text) IS
  'internal: the signed rule for the protect trigger of a Citus table''s shards';

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

CREATE FUNCTION privacy_internal._protect_rule_args(r text[]) RETURNS bytea
  LANGUAGE sql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT pg_catalog.convert_to(r[1], pg_catalog.getdatabaseencoding()) OPERATOR(pg_catalog.||) '\x00'::bytea
         OPERATOR(pg_catalog.||) pg_catalog.convert_to(r[2], pg_catalog.getdatabaseencoding())
         OPERATOR(pg_catalog.||) '\x00'::bytea
$$;

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

CREATE FUNCTION privacy_internal._protect_shard_table(rel regclass) RETURNS regclass
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_protect_shard_table';

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

CREATE OR REPLACE FUNCTION privacy_internal._protect_on_ddl_end(may_switch_off boolean) RETURNS void
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  reg regclass;
  e record;
  who name := privacy_internal._invoker();
  fn regprocedure := pg_catalog.to_regprocedure('privacy_internal._protect_trigger()');
  -- pg_privacy's own DDL reaches the shards on a worker as the role it
  -- runs as there: the extension owner
  own boolean := who OPERATOR(pg_catalog.=) (SELECT r.rolname FROM pg_catalog.pg_extension x
                                               JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) x.extowner
                                              WHERE x.extname OPERATOR(pg_catalog.=) 'pg_privacy');
BEGIN
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
       AND NOT (own AND privacy_internal._citus_worker())
       AND ((d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::regclass AND g.tgnargs OPERATOR(pg_catalog.>) 0)
            OR (g.tgenabled OPERATOR(pg_catalog.<>) 'O'
                AND privacy_internal._protect_shard_table(g.tgrelid::regclass) IS NOT NULL))
  LOOP
    IF may_switch_off THEN
      RAISE WARNING 'protection of table % is not as pg_privacy made it: %', e.rel, e.problem;
      RAISE LOG 'pg_privacy: superuser % changed the protect trigger % of table %: %', who, e.tgname, e.rel, e.problem;
      CONTINUE;
    END IF;
    RAISE LOG 'pg_privacy: refused DDL of role % on the protect trigger % of table %: %', who, e.tgname, e.rel, e.problem;
    RAISE EXCEPTION 'cannot change the protect trigger % of table %', e.tgname, e.rel
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.upper(pg_catalog.left(e.problem, 1)) || pg_catalog.substr(e.problem, 2)
                     || '; only privacy.protect() writes a signed rule, and Citus copies it onto the shards.',
            HINT = 'Run privacy.protect() on the table on the coordinator.';
  END LOOP;
  -- A partition created or attached under a subject table while subjects
  -- are restricted gets its restriction check (statement triggers are not
  -- cloned to partitions).
  IF EXISTS (SELECT FROM privacy.restriction) THEN
    PERFORM privacy_internal._restrict_install();
  END IF;
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

CREATE OR REPLACE FUNCTION privacy_internal._protect_on_sql_drop(may_switch_off boolean) RETURNS void
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  o record;
  rel regclass;
  what text;
  who name := privacy_internal._invoker();
BEGIN
  -- the protect trigger of a shard (named after it by Citus), dropped by
  -- anyone but pg_privacy (whose DDL reaches a worker's shards as the
  -- extension owner)
  IF NOT (privacy_internal._citus_worker()
          AND who OPERATOR(pg_catalog.=) (SELECT r.rolname FROM pg_catalog.pg_extension x
                                            JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) x.extowner
                                           WHERE x.extname OPERATOR(pg_catalog.=) 'pg_privacy')) THEN
    FOR o IN SELECT * FROM pg_catalog.pg_event_trigger_dropped_objects() x
              WHERE x.object_type OPERATOR(pg_catalog.=) 'trigger'
                AND x.address_names[3] LIKE 'zz\_pg\_privacy\_protect\_%'
    LOOP
      rel := pg_catalog.to_regclass(pg_catalog.format('%I.%I', o.address_names[1], o.address_names[2]));
      CONTINUE WHEN rel IS NULL OR privacy_internal._protect_shard_table(rel) IS NULL
                    OR privacy_internal._protect_ddl_allowed(rel);
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
  END IF;
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
