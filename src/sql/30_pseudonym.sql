-- Pseudonymization, format-preserving phone numbers, masking, and the
-- protect trigger.  The transformations are C functions (pseudonym.c);
-- the protect trigger (protect.c) applies them on write.

-- STABLE: without a default_country (NULL) national numbers are read as
-- numbers of pg_privacy.default_country.  privacy.lookup_value is the
-- IMMUTABLE form, for indexes.
CREATE FUNCTION privacy.normalize_msisdn(raw text, default_country text DEFAULT NULL)
  RETURNS text
  LANGUAGE c STABLE PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_normalize_msisdn';
COMMENT ON FUNCTION privacy.normalize_msisdn(text, text) IS
  'E.164 form (+<country code><number>) of a phone number as people type it; national numbers of default_country (NULL: pg_privacy.default_country)';

CREATE FUNCTION privacy.pseudonymize(value text, domain text DEFAULT 'default')
  RETURNS text
  LANGUAGE c STABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_pseudonymize';
COMMENT ON FUNCTION privacy.pseudonymize(text, text) IS
  'keyed pseudonym (HMAC-SHA256 under a key derived for the domain, 128 bits, base64url): deterministic, one-way, domain-separated';

CREATE FUNCTION privacy.pseudonymize_msisdn(msisdn text, domain text DEFAULT 'default',
                                            default_country text DEFAULT NULL)
  RETURNS text
  LANGUAGE c STABLE PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_pseudonymize_msisdn';
COMMENT ON FUNCTION privacy.pseudonymize_msisdn(text, text, text) IS
  'format-preserving pseudonym of a phone number (FF1/AES-256): same country code, first digit and length; reversible only by reidentify_msisdn';

CREATE FUNCTION privacy._msisdn_decrypt(pseudonym text, domain text)
  RETURNS text
  LANGUAGE c STABLE STRICT PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_msisdn_decrypt';
COMMENT ON FUNCTION privacy._msisdn_decrypt(text, text) IS
  'internal: inverse of pseudonymize_msisdn; use reidentify_msisdn, which audits';

-- How the audit log refers to a subject's identifier: a keyed one-way
-- reference under the audit key, after the kind's normalization.
CREATE FUNCTION privacy._audit_ref(kind text, value text) RETURNS text
  LANGUAGE c STABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_audit_ref';
COMMENT ON FUNCTION privacy._audit_ref(text, text) IS
  'internal: keyed one-way reference to an identifier, as written to the audit log';

CREATE FUNCTION privacy._subject_ref(kind text, value text) RETURNS text
  LANGUAGE sql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT privacy._audit_ref(kind, privacy._identifier_normalize(kind, value))
$$;
COMMENT ON FUNCTION privacy._subject_ref(text, text) IS
  'internal: the audit log''s reference to a subject identifier (normalized by its kind, keyed, one-way)';

-- Re-identification is audited on every call: who, when, which domain,
-- and a keyed one-way reference to the number (never the number).
CREATE FUNCTION privacy.reidentify_msisdn(pseudonym text, domain text DEFAULT 'default')
  RETURNS text
  LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  result text;
BEGIN
  result := privacy._msisdn_decrypt(pseudonym, domain);
  PERFORM privacy._audit('pseudonym.reidentify', NULL,
                         pg_catalog.jsonb_build_object('domain', domain, 'kind', 'msisdn',
                                                       'subject', privacy._subject_ref('msisdn', result)));
  RETURN result;
END
$$;
COMMENT ON FUNCTION privacy.reidentify_msisdn(text, text) IS
  'the phone number behind a pseudonymize_msisdn pseudonym; every call is audited';

CREATE FUNCTION privacy.pseudonymize_email(email text, domain text DEFAULT 'default')
  RETURNS text
  LANGUAGE c STABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_pseudonymize_email';
COMMENT ON FUNCTION privacy.pseudonymize_email(text, text) IS
  'keyed pseudonym of the local part of an e-mail address (trimmed, lower-cased); the domain part is kept';

CREATE FUNCTION privacy.mask_msisdn(msisdn text, visible integer DEFAULT 4)
  RETURNS text
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_mask_msisdn';
COMMENT ON FUNCTION privacy.mask_msisdn(text, integer) IS
  'display mask of a phone number: +4520XXXXXX keeps the first `visible` digits';

CREATE FUNCTION privacy.country_of(value text)
  RETURNS text
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_country_of';
COMMENT ON FUNCTION privacy.country_of(text) IS
  'ISO 3166-1 alpha-2 country of a phone number (or of a country code): location kept at country level';

CREATE FUNCTION privacy.generalize(ts timestamptz, unit text)
  RETURNS timestamptz
  LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF unit NOT IN ('minute', 'hour', 'day', 'week', 'month', 'quarter', 'year') THEN
    RAISE EXCEPTION 'invalid generalization unit "%"', unit
      USING ERRCODE = '22023',
            HINT = 'Use one of: minute, hour, day, week, month, quarter, year.';
  END IF;
  RETURN pg_catalog.date_trunc(unit, ts);
END
$$;
COMMENT ON FUNCTION privacy.generalize(timestamptz, text) IS
  'time generalized to the start of its minute, hour, day, week, month, quarter or year (in the session time zone)';

------------------------------------------------------------------------
-- The protect trigger
------------------------------------------------------------------------

CREATE FUNCTION privacy._protect_trigger() RETURNS trigger
  LANGUAGE c
  AS 'MODULE_PATHNAME', 'pgp_protect_trigger';
COMMENT ON FUNCTION privacy._protect_trigger() IS
  'internal: the on-write protect trigger created by privacy.protect()';

-- Rewrite the rows a table held before it was protected (see protect()).
CREATE FUNCTION privacy._rewrite_protected(tbl regclass, cols name[])
  RETURNS bigint
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_rewrite_protected';
COMMENT ON FUNCTION privacy._rewrite_protected(regclass, name[]) IS
  'internal: transform pre-existing rows through the protect trigger, as the table owner';

-- One value through a protect transformation, as the trigger stores it in
-- a column of identifier kind `identifies` (normalized by the kind first).
-- Not STRICT: NULL value gives NULL, NULL identifies means no kind.
CREATE FUNCTION privacy._transform(value text, protect text, domain text,
                                   identifies text DEFAULT NULL)
  RETURNS text
  LANGUAGE c STABLE PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_transform';
COMMENT ON FUNCTION privacy._transform(text, text, text, text) IS
  'internal: one value through a protect transformation, as the protect trigger stores it in a column of the identifier kind';

-- Every change of the grants, by these functions, by hand or by a
-- restore of the dumped table, makes every backend check them again.
CREATE FUNCTION privacy._domain_grant_changed() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM privacy._invalidate('privacy.domain_grant'::regclass);
  RETURN NULL;
END
$$;
CREATE TRIGGER domain_grant_changed
  AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON privacy.domain_grant
  FOR EACH STATEMENT EXECUTE FUNCTION privacy._domain_grant_changed();

-- Domains are capabilities (see privacy.domain_grant).
CREATE FUNCTION privacy.grant_domain(domain text, grantee regrole) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
BEGIN
  IF domain IS NULL OR grantee IS NULL THEN
    RAISE EXCEPTION 'domain and grantee must not be null' USING ERRCODE = '22004';
  END IF;
  PERFORM privacy._check_domain_admin();
  IF pg_catalog.octet_length(domain) NOT BETWEEN 1 AND 200 THEN
    RAISE EXCEPTION 'invalid pseudonymization domain'
      USING ERRCODE = '22023', DETAIL = 'A domain is a non-empty text of at most 200 bytes.';
  END IF;
  INSERT INTO privacy.domain_grant (domain, grantee, granted_by)
       VALUES (domain, grantee, privacy._invoker())
  ON CONFLICT DO NOTHING;
  PERFORM privacy._audit('pseudonym.grant_domain', domain,
                         pg_catalog.jsonb_build_object('grantee', grantee::text));
END
$$;
COMMENT ON FUNCTION privacy.grant_domain(text, regrole) IS
  'let a role (and the roles that have its privileges) produce the pseudonyms of a domain, by the keyed functions or by tables it protects';

CREATE FUNCTION privacy.revoke_domain(domain text, grantee regrole) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
BEGIN
  IF domain IS NULL OR grantee IS NULL THEN
    RAISE EXCEPTION 'domain and grantee must not be null' USING ERRCODE = '22004';
  END IF;
  PERFORM privacy._check_domain_admin();
  DELETE FROM privacy.domain_grant g
   WHERE g.domain OPERATOR(pg_catalog.=) revoke_domain.domain
     AND g.grantee OPERATOR(pg_catalog.=) revoke_domain.grantee;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'role % holds no grant of domain "%"', grantee, domain USING ERRCODE = '42704';
  END IF;
  PERFORM privacy._audit('pseudonym.revoke_domain', domain,
                         pg_catalog.jsonb_build_object('grantee', grantee::text));
END
$$;
COMMENT ON FUNCTION privacy.revoke_domain(text, regrole) IS
  'withdraw a domain grant; tables the role protects in the domain refuse writes until it is granted again';

-- Only the extension owner (or a superuser) grants domains.
CREATE FUNCTION privacy._check_domain_admin() RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT pg_catalog.pg_has_role(privacy._invoker(),
                                (SELECT c.relowner FROM pg_catalog.pg_class c
                                  WHERE c.oid OPERATOR(pg_catalog.=) 'privacy.domain_grant'::regclass),
                                'USAGE') THEN
    RAISE EXCEPTION 'only the owner of pg_privacy may grant or revoke pseudonymization domains'
      USING ERRCODE = '42501';
  END IF;
END
$$;

-- privacy.unprotect() lets its own DROP TRIGGER pass the event trigger.
CREATE FUNCTION privacy._allow_protect_ddl(tbl regclass) RETURNS void
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_allow_protect_ddl';
CREATE FUNCTION privacy._protect_ddl_allowed(tbl regclass) RETURNS boolean
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_protect_ddl_allowed';

CREATE FUNCTION privacy.protect(tbl regclass, rewrite_existing boolean DEFAULT false) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  ncols integer;
  nrows bigint := 0;
  d text;
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
  PERFORM privacy._check_owner(tbl);
  SELECT pg_catalog.count(*) INTO ncols FROM privacy.registered_column c
   WHERE c.tbl OPERATOR(pg_catalog.=) protect.tbl AND c.protect IS NOT NULL;
  IF ncols OPERATOR(pg_catalog.=) 0 THEN
    RAISE EXCEPTION 'no column of table % has a protect transformation', tbl
      USING ERRCODE = '55000',
            HINT = 'Declare one with privacy.register_column(..., protect => ''pseudonym'').';
  END IF;
  IF privacy._has_protect_trigger(tbl) THEN
    PERFORM privacy._check_protection(tbl);
    IF rewrite_existing THEN
      RAISE EXCEPTION 'table % is already protected', tbl
        USING ERRCODE = '55000',
              DETAIL = 'Its rows were protected on write; rewriting them would transform them twice.';
    END IF;
    RAISE NOTICE 'table % is already protected', tbl;
    RETURN;
  END IF;
  -- The owner of the table (and of each partition) must hold the domains.
  FOR d IN SELECT DISTINCT c.domain FROM privacy.registered_column c
            WHERE c.tbl OPERATOR(pg_catalog.=) protect.tbl
              AND c.protect IN ('pseudonym', 'msisdn_fpe', 'email_pseudonym')
  LOOP
    PERFORM privacy._check_domain_owner(tbl, d);
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
  EXECUTE pg_catalog.format(
    'CREATE TRIGGER zz_pg_privacy_protect BEFORE INSERT OR UPDATE ON %s '
    'FOR EACH ROW EXECUTE FUNCTION privacy._protect_trigger()', tbl);
  -- Rows written before protection: transformed in place through the new
  -- trigger, in this transaction (the trigger's creation locks out
  -- concurrent writers until commit), as the table's owner.
  IF rewrite_existing THEN
    nrows := privacy._rewrite_protected(tbl,
               ARRAY(SELECT c.col FROM privacy.registered_column c
                      WHERE c.tbl OPERATOR(pg_catalog.=) protect.tbl AND c.protect IS NOT NULL
                      ORDER BY c.attnum));
  END IF;
  PERFORM privacy._audit('protect.on', tbl::text,
                         pg_catalog.jsonb_build_object('columns', ncols, 'rows_rewritten', nrows));
END
$$;
COMMENT ON FUNCTION privacy.protect(regclass, boolean) IS
  'install the on-write protect trigger: each declared transformation is applied on INSERT, UPDATE and COPY, also on partitions; rewrite_existing converts rows already stored';

CREATE FUNCTION privacy.unprotect(tbl regclass) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
BEGIN
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'table must not be null' USING ERRCODE = '22004',
          HINT = 'A mistyped table name given to to_regclass() yields NULL; check the name.';
  END IF;
  PERFORM privacy._check_owner(tbl);
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_trigger g
                  WHERE g.tgrelid OPERATOR(pg_catalog.=) tbl
                    AND g.tgname OPERATOR(pg_catalog.=) 'zz_pg_privacy_protect') THEN
    RAISE EXCEPTION 'table % is not protected', tbl USING ERRCODE = '55000';
  END IF;
  -- The event trigger lets this one drop pass (and only this one).
  PERFORM privacy._allow_protect_ddl(tbl);
  EXECUTE pg_catalog.format('DROP TRIGGER zz_pg_privacy_protect ON %s', tbl);
  PERFORM privacy._allow_protect_ddl(NULL);
  PERFORM privacy._audit('protect.off', tbl::text);
END
$$;
COMMENT ON FUNCTION privacy.unprotect(regclass) IS 'remove the on-write protect trigger';

-- Which tables are protected.
CREATE VIEW privacy.protected_tables AS
SELECT t.tbl AS table_name,
       pg_catalog.array_agg(c.col::text || ':' || c.protect ORDER BY c.attnum) AS columns,
       privacy._is_protected(t.tbl) AS protected
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
-- fire in name order) but those listed in `may_follow` (pg_privacy's own).
CREATE FUNCTION privacy._trigger_problem(tbl regclass, tgname name, fn regprocedure, tgtype integer,
                                         may_follow name[])
  RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r record;
  g record;
BEGIN
  FOR r IN SELECT c.oid::regclass AS rel FROM pg_catalog.pg_class c
            WHERE (c.oid OPERATOR(pg_catalog.=) tbl
                   OR c.oid IN (SELECT p.relid FROM pg_catalog.pg_partition_tree(tbl) p))
              AND c.relkind IN ('r', 'p', 'f')
            ORDER BY c.oid OPERATOR(pg_catalog.<>) tbl, c.oid::regclass::text
  LOOP
    SELECT t.tgfoid, t.tgtype, t.tgenabled, t.tgqual IS NOT NULL AS has_when,
           pg_catalog.cardinality(t.tgattr::pg_catalog.int2[]) OPERATOR(pg_catalog.>) 0 AS has_cols
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
    END IF;
    IF (tgtype OPERATOR(pg_catalog.&) 3) OPERATOR(pg_catalog.=) 3 THEN        -- ROW, BEFORE
      SELECT t.tgname INTO g FROM pg_catalog.pg_trigger t
       WHERE t.tgrelid OPERATOR(pg_catalog.=) r.rel
         AND NOT t.tgisinternal
         AND t.tgenabled IN ('O', 'A')
         AND (t.tgtype::integer OPERATOR(pg_catalog.&) 3) OPERATOR(pg_catalog.=) 3
         AND (t.tgtype::integer OPERATOR(pg_catalog.&) 20) OPERATOR(pg_catalog.<>) 0
         AND t.tgname OPERATOR(pg_catalog.>) _trigger_problem.tgname
         AND NOT (t.tgname OPERATOR(pg_catalog.=) ANY (COALESCE(may_follow, '{}'::name[])))
       ORDER BY t.tgname LIMIT 1;
      IF FOUND THEN
        RETURN pg_catalog.format('trigger %I on %s fires after %I', g.tgname, r.rel, tgname);
      END IF;
    END IF;
  END LOOP;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION privacy._trigger_problem(regclass, name, regprocedure, integer, name[]) IS
  'internal: why an enforcement trigger of pg_privacy is not in force on a table or one of its partitions (NULL: in force)';

-- Every enforcement pg_privacy keeps on tbl that is not in force, one row
-- per problem with what it switches off: the protection (a registered
-- table carrying the protect trigger), the consent check (when
-- consent_required: the table has a consent requirement) and the
-- restriction check (when restricted: a subject table while any subject is
-- restricted).  The flags come from the view privacy._enforced_table;
-- this function reads pg_catalog only, so a role granted catalog_problems
-- needs nothing more.
CREATE FUNCTION privacy._enforcement_problems(tbl regclass, registered boolean, consent_required boolean,
                                              restricted boolean, OUT what text, OUT problem text)
  RETURNS SETOF record
  LANGUAGE plpgsql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF registered AND privacy._has_protect_trigger(tbl) THEN
    what := 'protection';
    problem := privacy._protection_problem(tbl);
    IF problem IS NOT NULL THEN
      RETURN NEXT;
    END IF;
  END IF;
  IF consent_required THEN
    what := 'consent check';
    problem := privacy._consent_problem(tbl);
    IF problem IS NOT NULL THEN
      RETURN NEXT;
    END IF;
  END IF;
  IF restricted THEN
    what := 'restriction check';
    problem := privacy._restrict_problem(tbl);
    IF problem IS NOT NULL THEN
      RETURN NEXT;
    END IF;
  END IF;
END
$$;
COMMENT ON FUNCTION privacy._enforcement_problems(regclass, boolean, boolean, boolean) IS
  'internal: the protection, consent check and restriction check of a table that are not in force, and why';

-- After ALTER TABLE, CREATE TABLE, CREATE TRIGGER or ALTER TRIGGER: a
-- command that leaves an enforcement of a table not in force (its
-- protection, its consent check, its restriction check: see
-- _enforcement_problems), because it disabled, replaced or renamed the
-- trigger, added a BEFORE row trigger that fires after it, or attached a
-- partition that has one, is refused.  A superuser acting on its own (not inside a
-- security-restricted operation) may: a data-only restore with
-- --disable-triggers does.  That is logged and audited, and
-- catalog_problems shows it until the protection is back.  Called by the
-- event trigger function privacy._protect_event_trigger() (protect.c),
-- which runs as the role executing the DDL and tells whether it may.
CREATE FUNCTION privacy._protect_on_ddl_end(may_switch_off boolean) RETURNS void
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  reg regclass;
  e record;
  who name := privacy._invoker();
BEGIN
  -- A partition created or attached under a subject table while subjects
  -- are restricted gets its restriction check (statement triggers are not
  -- cloned to partitions).
  IF EXISTS (SELECT FROM privacy.restriction) THEN
    PERFORM privacy._restrict_install();
  END IF;
  FOR reg IN
    SELECT DISTINCT t.tbl
      FROM pg_catalog.pg_event_trigger_ddl_commands() d
      CROSS JOIN LATERAL (
        SELECT CASE WHEN d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass THEN d.objid
                    WHEN d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::regclass
                    THEN (SELECT g.tgrelid FROM pg_catalog.pg_trigger g WHERE g.oid OPERATOR(pg_catalog.=) d.objid)
               END AS relid) x
      JOIN privacy._enforced_table t
        ON t.tbl::oid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT pg_catalog.pg_partition_ancestors(x.relid)))
        OR t.tbl::oid OPERATOR(pg_catalog.=) x.relid
        -- ALTER TABLE ... INHERIT a protected table
        OR t.tbl::oid IN (SELECT i.inhparent FROM pg_catalog.pg_inherits i
                           WHERE i.inhrelid OPERATOR(pg_catalog.=) x.relid)
     WHERE x.relid IS NOT NULL
  LOOP
    FOR e IN SELECT p.* FROM privacy._enforced_table f,
                    LATERAL privacy._enforcement_problems(f.tbl, f.registered, f.consent_required, f.restricted) p
              WHERE f.tbl OPERATOR(pg_catalog.=) reg LOOP
      IF may_switch_off THEN
        RAISE WARNING '% of table % is not in force', e.what, reg
          USING DETAIL = e.problem, HINT = 'Restore it before writing to the table; privacy.catalog_problems lists it.';
        RAISE LOG 'pg_privacy: superuser % switched off % of table %: %', who, e.what, reg, e.problem;
        BEGIN
          PERFORM privacy._audit(CASE e.what WHEN 'protection' THEN 'protect.weakened'
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
CREATE FUNCTION privacy._protect_on_sql_drop(may_switch_off boolean) RETURNS void
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  o record;
  rel regclass;
  what text;
  who name := privacy._invoker();
BEGIN
  FOR o IN SELECT * FROM pg_catalog.pg_event_trigger_dropped_objects() x
            WHERE x.object_type OPERATOR(pg_catalog.=) 'trigger'
              AND x.address_names[3] IN ('zz_pg_privacy_protect', 'zy_pg_privacy_consent', 'zx_pg_privacy_restrict')
  LOOP
    rel := pg_catalog.to_regclass(pg_catalog.format('%I.%I', o.address_names[1], o.address_names[2]));
    CONTINUE WHEN rel IS NULL;
    IF o.address_names[3] OPERATOR(pg_catalog.=) 'zz_pg_privacy_protect' THEN
      CONTINUE WHEN NOT EXISTS (SELECT FROM privacy.registered_table t WHERE t.tbl OPERATOR(pg_catalog.=) rel);
      CONTINUE WHEN privacy._protect_ddl_allowed(rel);
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
        PERFORM privacy._audit(CASE what WHEN 'protect trigger' THEN 'protect.weakened'
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

CREATE FUNCTION privacy._protect_event_trigger() RETURNS event_trigger
  LANGUAGE c
  AS 'MODULE_PATHNAME', 'pgp_protect_event_trigger';
COMMENT ON FUNCTION privacy._protect_event_trigger() IS
  'internal: refuses DDL that switches off the protection of a protected table';

CREATE EVENT TRIGGER pg_privacy_protect_ddl_end ON ddl_command_end
  WHEN TAG IN ('ALTER TABLE', 'ALTER FOREIGN TABLE', 'CREATE TABLE', 'CREATE TRIGGER', 'ALTER TRIGGER')
  EXECUTE FUNCTION privacy._protect_event_trigger();
CREATE EVENT TRIGGER pg_privacy_protect_sql_drop ON sql_drop
  WHEN TAG IN ('DROP TRIGGER', 'ALTER TABLE')
  EXECUTE FUNCTION privacy._protect_event_trigger();
