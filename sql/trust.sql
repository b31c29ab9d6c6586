-- Trust: who called, and what runs with whose rights.
--
-- The API's entry points record the role that called them (not the
-- session's role, not current_user of a SECURITY DEFINER function), refuse
-- to run inside a security-restricted operation, and nothing privileged is
-- executable by PUBLIC.  Every function of the extension survives NULL
-- arguments.
\set VERBOSITY terse
SET client_min_messages = warning;

CREATE ROLE regress_tr_alice;      -- owns a table of her own
CREATE ROLE regress_tr_mallory;    -- owns nothing registered
CREATE SCHEMA regress_tr;
GRANT USAGE, CREATE ON SCHEMA regress_tr TO regress_tr_alice, regress_tr_mallory;
SELECT privacy.define_purpose('regress_tr_billing', 'contract');
SELECT privacy.grant_domain('default', 'regress_tr_alice');
CREATE TABLE regress_tr.cdr (id int, msisdn text, at timestamptz);
ALTER TABLE regress_tr.cdr OWNER TO regress_tr_alice;
SELECT privacy.register_table('regress_tr.cdr', 'regress_tr_billing');
SELECT privacy.register_column('regress_tr.cdr', 'msisdn', 'phone', 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.protect('regress_tr.cdr');
GRANT EXECUTE ON FUNCTION privacy.unprotect(regclass), privacy.register_table(regclass, text)
   TO regress_tr_alice, regress_tr_mallory;

-- 1. The API functions are not SECURITY DEFINER: they carry the mark the
-- function-manager hook acts on, and the search_path is pinned.
SELECT count(*) AS api_entry_points,
       count(*) FILTER (WHERE p.prosecdef) AS security_definer,
       count(*) FILTER (WHERE NOT 'search_path=pg_catalog, pg_temp' = ANY (p.proconfig)) AS unpinned
  FROM pg_proc p
 WHERE p.pronamespace IN ('privacy'::regnamespace, 'privacy_internal'::regnamespace)
   AND 'pg_privacy.definer=api' = ANY (p.proconfig);
-- every SECURITY DEFINER function left pins its search_path
SELECT p.oid::regprocedure AS unpinned_definer
  FROM pg_proc p
 WHERE p.pronamespace IN ('privacy'::regnamespace, 'privacy_internal'::regnamespace) AND p.prosecdef
   AND (p.proconfig IS NULL OR NOT 'search_path=pg_catalog, pg_temp' = ANY (p.proconfig));

-- 2. Nothing that runs with the extension owner's rights is executable by
-- a role without grants (PUBLIC), volatile or not.
SELECT p.oid::regprocedure AS privileged_for_public
  FROM pg_proc p
 WHERE p.pronamespace IN ('privacy'::regnamespace, 'privacy_internal'::regnamespace)
   AND (p.prosecdef OR 'pg_privacy.definer=api' = ANY (p.proconfig))
   AND has_function_privilege('public', p.oid, 'EXECUTE');
SELECT count(*) AS public_procedures
  FROM pg_proc p
 WHERE p.pronamespace IN ('privacy'::regnamespace, 'privacy_internal'::regnamespace) AND p.prokind = 'p'
   AND has_function_privilege('public', p.oid, 'EXECUTE');

-- 3. A SECURITY DEFINER function of mallory's, called by a superuser, acts
-- with mallory's rights: she owns neither table.
CREATE FUNCTION regress_tr.evil() RETURNS void LANGUAGE plpgsql SECURITY DEFINER
  AS $$ BEGIN PERFORM privacy.unprotect('regress_tr.cdr'); END $$;
ALTER FUNCTION regress_tr.evil() OWNER TO regress_tr_mallory;
SELECT regress_tr.evil();
SELECT table_name, protected FROM privacy.protected_tables WHERE table_name = 'regress_tr.cdr'::regclass;

-- 4. Inside a security-restricted operation (here REFRESH MATERIALIZED VIEW,
-- which runs the view's query as its owner) no entry point runs, even for
-- a table its caller owns.
CREATE TABLE regress_tr.mine (id int);
ALTER TABLE regress_tr.mine OWNER TO regress_tr_mallory;
CREATE FUNCTION regress_tr.sneaky() RETURNS int LANGUAGE plpgsql
  AS $$ BEGIN PERFORM privacy.register_table('regress_tr.mine', 'regress_tr_billing'); RETURN 1; END $$;
ALTER FUNCTION regress_tr.sneaky() OWNER TO regress_tr_mallory;
CREATE MATERIALIZED VIEW regress_tr.mv2 AS SELECT regress_tr.sneaky() AS x WITH NO DATA;
ALTER MATERIALIZED VIEW regress_tr.mv2 OWNER TO regress_tr_mallory;
REFRESH MATERIALIZED VIEW regress_tr.mv2;
SELECT count(*) AS registered FROM privacy.registered_table WHERE tbl = 'regress_tr.mine'::regclass;

-- ... and the same through pg_privacy's own maintenance: alice's BEFORE
-- DELETE trigger, fired while a superuser purges her table as its owner,
-- tries to switch protection off.  The purge of her table fails (isolated,
-- audited); protection stays.
CREATE FUNCTION regress_tr.on_delete() RETURNS trigger LANGUAGE plpgsql
  AS $$ BEGIN PERFORM privacy.unprotect('regress_tr.cdr'); RETURN OLD; END $$;
ALTER FUNCTION regress_tr.on_delete() OWNER TO regress_tr_alice;
SET ROLE regress_tr_alice;
CREATE TRIGGER a_on_delete BEFORE DELETE ON regress_tr.cdr
  FOR EACH ROW EXECUTE FUNCTION regress_tr.on_delete();
INSERT INTO regress_tr.cdr VALUES (1, '+4520556677', now() - interval '3 years');
RESET ROLE;
SELECT privacy.set_retention('regress_tr.cdr', 'at', '1 year');
SELECT table_name, action FROM privacy.purge(false, 'regress_tr.cdr');
SELECT count(*) AS rows_left FROM regress_tr.cdr;
SELECT table_name, protected FROM privacy.protected_tables WHERE table_name = 'regress_tr.cdr'::regclass;
SELECT count(*) AS failure_audited FROM privacy.audit_log
 WHERE event = 'retention.purge_failed' AND object = 'regress_tr.cdr';
SELECT count(*) AS unprotect_audited FROM privacy.audit_log
 WHERE event = 'protect.off' AND object = 'regress_tr.cdr';
SELECT privacy.drop_retention('regress_tr.cdr');

-- 5. The audit log names the role that really acted: alice's own SECURITY
-- DEFINER function registering her own table, called by a superuser.
CREATE TABLE regress_tr.alices (id int);
ALTER TABLE regress_tr.alices OWNER TO regress_tr_alice;
CREATE FUNCTION regress_tr.register_mine() RETURNS void LANGUAGE plpgsql SECURITY DEFINER
  AS $$ BEGIN PERFORM privacy.register_table('regress_tr.alices', 'regress_tr_billing'); END $$;
ALTER FUNCTION regress_tr.register_mine() OWNER TO regress_tr_alice;
SELECT regress_tr.register_mine();
SELECT actor = session_user AS actor_is_session, role FROM privacy.audit_log
 WHERE event = 'catalog.register_table' AND object = 'regress_tr.alices';
SELECT registered_by FROM privacy.registered_table WHERE tbl = 'regress_tr.alices'::regclass;

-- 6. The database remembers its key; declaring a key change needs the
-- fingerprint being replaced.
SELECT count(*) AS recorded, bool_and(fingerprint = privacy.key_fingerprint()) AS matches
  FROM privacy.key_state;
SELECT privacy.accept_key_change(NULL);
SELECT privacy.accept_key_change('pgp1:0000000000000000');
SELECT privacy.accept_key_change(privacy.key_fingerprint());
SET ROLE regress_tr_alice;
SELECT privacy.accept_key_change(privacy.key_fingerprint());
SELECT * FROM privacy.key_state;
RESET ROLE;

-- 6b. A legal hold keeps every row that holds the held identifier, in any
-- declared column and written form, whichever subject is being erased:
-- erasing the caller keeps (and does not scrub) her calls to a held
-- number, protected or typed as it came.
CREATE TABLE regress_tr.calls (id int, a_number text, b_number text, b_fpe text);
SELECT privacy.register_table('regress_tr.calls', 'regress_tr_billing');
SELECT privacy.register_column('regress_tr.calls', 'a_number', 'phone', 'msisdn');
SELECT privacy.register_column('regress_tr.calls', 'b_number', 'phone', 'msisdn', link => 'mention');
SELECT privacy.register_column('regress_tr.calls', 'b_fpe', 'phone', 'msisdn', link => 'mention', protect => 'msisdn_fpe');
SELECT privacy.protect('regress_tr.calls');
INSERT INTO regress_tr.calls VALUES
  (1, '+4521000001', '20 99 88 77', NULL),      -- her call to the held number, as typed
  (2, '+4521000001', NULL, '+4520998877'),      -- the same, in the protected column
  (3, '+4521000001', '+4522000002', NULL),      -- an ordinary call of hers
  (4, '+4522000002', '+4521000001', NULL);      -- someone else's call to her
SELECT privacy.hold('msisdn', '+45 2099 8877', 'regress_tr case 7') AS hold_id \gset
SELECT action, rows, reason FROM privacy.erase_subject('msisdn', '+4521000001')
 WHERE table_name = 'regress_tr.calls'::regclass ORDER BY action;
SELECT id, a_number, b_number, b_fpe IS NOT NULL AS has_b_fpe FROM regress_tr.calls ORDER BY id;
SELECT privacy.release_hold(:hold_id);

-- 6c. Protection switched off (here by a superuser, the only one who
-- can): erasure and the purge refuse the table, with nothing changed.
ALTER TABLE regress_tr.calls DISABLE TRIGGER zz_pg_privacy_protect;
SELECT table_name, problem FROM privacy.catalog_problems WHERE table_name = 'regress_tr.calls'::regclass;
SELECT count(*) FROM privacy.erase_subject('msisdn', '+4522000002');
SELECT count(*) AS calls_left FROM regress_tr.calls;
ALTER TABLE regress_tr.calls ENABLE TRIGGER zz_pg_privacy_protect;
DROP TRIGGER a_on_delete ON regress_tr.cdr;
SELECT privacy.set_retention('regress_tr.cdr', 'at', '1 year');
ALTER TABLE regress_tr.cdr DISABLE TRIGGER zz_pg_privacy_protect;
SELECT table_name, action FROM privacy.purge(false, 'regress_tr.cdr');
SELECT count(*) AS cdr_left FROM regress_tr.cdr;
ALTER TABLE regress_tr.cdr ENABLE TRIGGER zz_pg_privacy_protect;
SELECT privacy.drop_retention('regress_tr.cdr');
SELECT count(*) AS problems_after FROM privacy.catalog_problems WHERE table_name = 'regress_tr.calls'::regclass;

-- 7. Every function of the extension called with NULL for each argument:
-- an error or a result, never a crash.  (In a transaction rolled back:
-- some calls succeed and would change the catalog.)
BEGIN;
SET LOCAL statement_timeout = '60s';
CREATE TEMP TABLE null_calls (fn text, outcome text);
DO $$
DECLARE
  f record;
  args text;
BEGIN
  FOR f IN
    SELECT p.oid, p.oid::regprocedure::text AS sig, p.pronargs, p.proargtypes
      FROM pg_proc p
     WHERE p.pronamespace IN ('privacy'::regnamespace, 'privacy_internal'::regnamespace) AND p.prokind = 'f'
       AND p.pronargs > 0
       AND p.prorettype NOT IN ('trigger'::regtype, 'event_trigger'::regtype)
     ORDER BY 2
  LOOP
    SELECT string_agg(format('NULL::%s', format_type(t, NULL)), ', ' ORDER BY o)
      INTO args FROM unnest(f.proargtypes::oid[]) WITH ORDINALITY u(t, o);
    BEGIN
      EXECUTE format('SELECT count(*) FROM (SELECT %s.%I(%s)) s',
                     (SELECT pronamespace::regnamespace::text FROM pg_proc WHERE oid = f.oid),
                     (SELECT proname FROM pg_proc WHERE oid = f.oid), args);
      INSERT INTO null_calls VALUES (f.sig, 'ok');
    EXCEPTION WHEN OTHERS THEN
      INSERT INTO null_calls VALUES (f.sig, 'error ' || SQLSTATE);
    END;
  END LOOP;
END
$$;
SELECT count(*) > 100 AS many_functions_called,
       count(*) FILTER (WHERE outcome LIKE 'error XX%') AS internal_errors
  FROM null_calls;
ROLLBACK;
SELECT 'server still up' AS after_null_sweep;

-- 8. The API schema shows the API: \df privacy.* (the functions and
-- procedures of the schema privacy, not of privacy_internal) is exactly the
-- documented list of doc/reference.md, no more, no less.
WITH api(name) AS (VALUES
  ('accept_key_change'), ('close_request'), ('consent_history'), ('consent_receipt'), ('country_of'),
  ('create_pseudonymized_extract'), ('create_safe_aggregate'), ('define_purpose'), ('drop_purpose'),
  ('drop_retention'), ('erase_subject'), ('export_subject'), ('export_subject_chunks'), ('extend_request'),
  ('generalize'), ('grant_consent'), ('grant_domain'), ('has_consent'), ('health'), ('hold'),
  ('is_restricted'), ('k_anonymity'), ('key_fingerprint'), ('lookup_value'), ('mask_account'), ('mask_address'),
  ('mask_email'), ('mask_msisdn'), ('mask_name'), ('mask_role'), ('normalize_msisdn'),
  ('open_request'), ('protect'), ('protect_in_batches'), ('pseudonymize'), ('pseudonymize_email'), ('pseudonymize_msisdn'),
  ('purge'), ('register_column'), ('register_table'), ('reidentify_msisdn'), ('rekey'), ('release_hold'), ('replay_erasures'), ('fork_erasure_ledger'), ('row_key'),
  ('require_consent'), ('restrict_subject'), ('revoke_domain'), ('run_purge'), ('schedule_purge'),
  ('set_mask'), ('set_purpose'), ('set_retention'), ('set_subject_table'), ('unmask_role'), ('unprotect'), ('unpublish'),
  ('unregister_column'), ('unregister_table'), ('unrequire_consent'), ('unrestrict_subject'),
  ('unschedule_purge'), ('verify_audit_log'), ('withdraw_consent'))
SELECT coalesce(p.proname, a.name) AS name,
       CASE WHEN a.name IS NULL THEN 'in privacy, not documented' ELSE 'documented, missing' END AS problem
  FROM (SELECT DISTINCT proname::text FROM pg_proc
         WHERE pronamespace = 'privacy'::regnamespace) p     -- the API schema only, not privacy_internal
  FULL JOIN api a ON a.name = p.proname
 WHERE p.proname IS NULL OR a.name IS NULL
 ORDER BY 1;
-- no internal name (leading _) anywhere in the API schema, nor a type or relation
SELECT 'privacy'::regnamespace AS nsp, count(*) AS internal_in_api_schema   -- internal ones: privacy_internal
  FROM (SELECT proname AS n FROM pg_proc WHERE pronamespace = 'privacy'::regnamespace
        UNION ALL SELECT relname FROM pg_class WHERE relnamespace = 'privacy'::regnamespace
        UNION ALL SELECT typname FROM pg_type WHERE typnamespace = 'privacy'::regnamespace
                                             AND typrelid = 0 AND typelem = 0) o
 WHERE o.n LIKE '\_%';

-- 9. Nothing in privacy_internal is executable by PUBLIC but these, each
-- called in the context of another role and holding no key:
--   _protect_trigger, _consent_trigger: PostgreSQL checks EXECUTE on a
--     trigger's function when it clones the protect trigger or the consent
--     check to a partition a table owner creates or attaches;
--   _is_protected, _has_protect_trigger, _protection_problem: read pg_catalog
--     only, for the views protected_tables and catalog_problems;
--   _extract_msisdn, _extract_country: keyless, called in the rows of an
--     extract, which its readers evaluate;
--   _trigger_problem, _consent_problem, _restrict_problem,
--     _enforcement_problems: read pg_catalog only, for catalog_problems and
--     consent_requirements (whether the consent and restriction checks are
--     in force);
--   _subject_ids, _subject_ids_span: the subject statements run as each
--     table's owner read the subject's identifiers with them (pure);
--   _row_key: those statements ask the key a row's pseudonyms are under
--     while a key rotation runs (it answers only a role that may read the
--     relation);
--   _subject_key: expression indexes made under 0.2.0 name it;
--   _mask_pseudonym: the masks of identifiers, run by the statements of
--     masked roles, refusing every call the planner did not place (mask.sql);
--   _citus_shard_named: reads Citus's catalog only (which PUBLIC reads), for
--     catalog_problems (a declared table Citus made a shard of another).
SELECT p.oid::regprocedure AS internal_for_public
  FROM pg_proc p
 WHERE p.pronamespace = 'privacy_internal'::regnamespace
   AND has_function_privilege('public', p.oid, 'EXECUTE')
   AND p.proname NOT IN ('_protect_trigger', '_consent_trigger', '_is_protected', '_has_protect_trigger', '_protection_problem',
                         '_trigger_problem', '_consent_problem', '_restrict_problem', '_enforcement_problems',
                         '_extract_msisdn', '_extract_country', '_subject_key', '_subject_ids', '_subject_ids_span',
                         '_row_key', '_mask_pseudonym', '_citus_shard_named')
 ORDER BY p.oid::regprocedure::text COLLATE "C";
SELECT count(*) AS internal_relations_for_public
  FROM pg_class c
 WHERE c.relnamespace = 'privacy_internal'::regnamespace
   AND has_table_privilege('public', c.oid, 'SELECT, INSERT, UPDATE, DELETE, TRUNCATE, REFERENCES, TRIGGER');
-- The schema belongs to the extension owner and is the extension's; nobody
-- else may create in it, so no role can plant a look-alike helper (an
-- entry point or a trigger function that the C code would take for ours).
SELECT n.nspowner = (SELECT extowner FROM pg_extension WHERE extname = 'pg_privacy') AS owned_by_extension_owner,
       has_schema_privilege('public', n.oid, 'CREATE') AS public_may_create,
       has_schema_privilege('regress_tr_mallory', n.oid, 'CREATE') AS mallory_may_create,
       EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_namespace'::regclass AND d.objid = n.oid
                  AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e') AS extension_member
  FROM pg_namespace n WHERE n.nspname = 'privacy_internal';
SET ROLE regress_tr_mallory;
CREATE FUNCTION privacy_internal._purge_begin_x() RETURNS void LANGUAGE sql
  SET pg_privacy.definer = 'api' AS 'SELECT';
CREATE VIEW privacy_internal._subject_column_x AS SELECT 1;
ALTER SCHEMA privacy_internal RENAME TO regress_tr_mine;
RESET ROLE;

-- clean up
DROP SCHEMA regress_tr CASCADE;
SELECT count(*) AS left_registered FROM privacy.registered_table t
 WHERE NOT EXISTS (SELECT FROM pg_class c WHERE c.oid = t.tbl);
SELECT privacy.revoke_domain('default', 'regress_tr_alice');
SELECT privacy.drop_purpose('regress_tr_billing');
REVOKE EXECUTE ON FUNCTION privacy.unprotect(regclass), privacy.register_table(regclass, text)
  FROM regress_tr_alice, regress_tr_mallory;
DROP ROLE regress_tr_alice, regress_tr_mallory;
SELECT privacy.verify_audit_log() IS NULL AS audit_chain_intact;
