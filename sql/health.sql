-- privacy.health(): one place to ask whether pg_privacy is working; and
-- the mistakes that used to pass without a word.
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_privacy;
RESET client_min_messages;

-- The shape, and an entry point like the other API functions (not
-- SECURITY DEFINER; runs as the extension owner through the hook).
SELECT pg_get_function_result('privacy.health()'::regprocedure) AS result,
       p.prosecdef, p.proconfig
  FROM pg_proc p WHERE p.oid = 'privacy.health()'::regprocedure;
SELECT has_function_privilege('public', 'privacy.health()', 'EXECUTE') AS public_may_execute;

-- Every area is there, in order, each with a known status.
SELECT array_agg(DISTINCT area) @> '{library,key,purge,"subject requests",catalog,"undeclared columns",protection,"restrictions and holds"}' AS all_areas,
       bool_and(status IN ('ok', 'warning', 'error')) AS known_statuses
  FROM privacy.health();
-- (keyed work records the database's key, whatever ran before)
SELECT privacy.pseudonymize('x') IS NOT NULL AS keyed_work_done;
-- (the loaded key's fingerprint shown as LOADED_KEY: the output is the
-- same under any key)
SELECT area, status, replace(detail, privacy.key_fingerprint(), 'LOADED_KEY') AS detail
  FROM privacy.health() WHERE area IN ('library', 'key', 'purge');
-- before any keyed work: ok, the key is recorded at first use
BEGIN;
DELETE FROM privacy.key_state;
SELECT status, replace(detail, privacy.key_fingerprint(), 'LOADED_KEY') AS detail
  FROM privacy.health() WHERE area = 'key';
ROLLBACK;

------------------------------------------------------------------------
-- Findings
------------------------------------------------------------------------
CREATE ROLE regress_health_owner;
CREATE SCHEMA regress_health AUTHORIZATION regress_health_owner;
SELECT privacy.define_purpose('regress_health_billing', 'contract');
SET ROLE regress_health_owner;
CREATE TABLE regress_health.subscriber (id int, msisdn text, regress_health_email text);
RESET ROLE;
SELECT privacy.grant_domain('default', 'regress_health_owner');
SELECT privacy.register_table('regress_health.subscriber', 'regress_health_billing');
SELECT privacy.register_column('regress_health.subscriber', 'msisdn', 'phone', identifies => 'msisdn',
                               protect => 'msisdn_fpe');
-- declared for protection, not protected yet: an error
SELECT area, status, detail, hint FROM privacy.health()
 WHERE area = 'protection' AND detail LIKE '%regress_health.subscriber%';
SELECT privacy.protect('regress_health.subscriber');

-- an undeclared personal column: a warning naming it
SELECT status, detail LIKE '%regress_health.subscriber.regress_health_email%' AS names_it
  FROM privacy.health() WHERE area = 'undeclared columns';

-- protection switched off by a superuser (as a data-only restore does):
-- the catalog problem and the protection are errors
SET client_min_messages = error;
ALTER TABLE regress_health.subscriber DISABLE TRIGGER zz_pg_privacy_protect;
RESET client_min_messages;
SELECT area, status, detail, hint FROM privacy.health()
 WHERE area IN ('catalog', 'protection') AND detail LIKE '%regress_health.subscriber%' ORDER BY area;
SET client_min_messages = error;
ALTER TABLE regress_health.subscriber ENABLE TRIGGER zz_pg_privacy_protect;
RESET client_min_messages;
SELECT count(*) AS findings_left FROM privacy.health()
 WHERE area IN ('catalog', 'protection') AND status <> 'ok' AND detail LIKE '%regress_health.subscriber%';

-- a key that is not the database's: error, with the way out
BEGIN;
SELECT privacy.key_fingerprint() AS loaded \gset
INSERT INTO privacy.key_state (fingerprint) VALUES (:'loaded') ON CONFLICT DO NOTHING;
UPDATE privacy.key_state SET fingerprint = 'pgp1:0000000000000000';
SELECT status, replace(detail, :'loaded', 'LOADED_KEY') AS detail, hint
  FROM privacy.health() WHERE area = 'key';
ROLLBACK;

-- an open request past its deadline: error; restrictions and holds past
-- their end: warnings (by id and kind, never the value)
BEGIN;
INSERT INTO privacy.subject_request (id, kind, subject_ref, request, received_at, opened_by)
VALUES (900001, 'msisdn', 'ref', 'access', '2000-01-01 12:00+00', 'regress'),
       (900002, 'msisdn', 'ref', 'erasure', now(), 'regress');
INSERT INTO privacy.restriction (kind, subject_ref, reason, origin, until, restricted_by)
VALUES ('msisdn', 'regress_health_ref', 'case', 'request', '2001-01-01', 'regress');
INSERT INTO privacy.legal_hold (id, kind, value, reason, placed_by, until)
VALUES (900003, 'msisdn', '+4512345678', 'case', 'regress', '2001-01-01');
SELECT area, status, detail FROM privacy.health()
 WHERE area IN ('subject requests', 'restrictions and holds') ORDER BY area, detail;
SELECT count(*) AS values_shown FROM privacy.health() WHERE detail LIKE '%12345678%' OR detail LIKE '%regress_health_ref%';
ROLLBACK;

-- read-only: in a read-only transaction, and nothing is audited
SELECT count(*) AS audit_entries FROM privacy.audit_log \gset
BEGIN TRANSACTION READ ONLY;
SELECT count(*) > 0 AS answered FROM privacy.health();
COMMIT;
SELECT count(*) = :audit_entries AS nothing_audited FROM privacy.audit_log;

-- A monitoring role: nothing by default, then the documented grants.
CREATE ROLE regress_health_monitor;
SET ROLE regress_health_monitor;
SELECT count(*) FROM privacy.health();
RESET ROLE;
GRANT USAGE ON SCHEMA privacy TO regress_health_monitor;
GRANT EXECUTE ON FUNCTION privacy.health() TO regress_health_monitor;
SET ROLE regress_health_monitor;
SELECT area, status FROM privacy.health() WHERE area IN ('library', 'key');
-- and still no access to what health() reads
SELECT count(*) FROM privacy.registered_table;
RESET ROLE;

------------------------------------------------------------------------
-- Mistakes that used to pass without a word
------------------------------------------------------------------------
SELECT privacy.protect(NULL);
SELECT privacy.protect(to_regclass('regress_health.subscribr'));
SELECT privacy.protect('regress_health.subscriber', NULL);
SELECT privacy.unprotect(NULL);
SELECT privacy.unregister_table(NULL);
SELECT privacy.drop_purpose(NULL);
-- the STRICT marks are gone, so the checks run
SELECT p.oid::regprocedure AS strict_api
  FROM pg_proc p
 WHERE p.oid IN ('privacy.protect(regclass, boolean)'::regprocedure, 'privacy.unprotect(regclass)'::regprocedure,
                 'privacy.unregister_table(regclass)'::regprocedure, 'privacy.drop_purpose(text)'::regprocedure)
   AND p.proisstrict;

-- a mistyped purpose: the hint lists the existing ones
DO $$
DECLARE h text;
BEGIN
  PERFORM privacy.register_table('regress_health.subscriber', 'regress_health_biling');
EXCEPTION WHEN invalid_parameter_value THEN
  GET STACKED DIAGNOSTICS h = PG_EXCEPTION_HINT;
  RAISE NOTICE 'hint lists purposes: %, names the right one: %',
    h LIKE 'Existing purposes: %', h LIKE '%regress_health_billing%';
END $$;

-- a purge with nothing configured says so
BEGIN;
DELETE FROM privacy.retention_policy;
SELECT * FROM privacy.purge(true);
ROLLBACK;

-- a relative key file is refused when set, not at first use
ALTER SYSTEM SET pg_privacy.key_file = 'keys/master.key';
SELECT privacy.key_fingerprint() = :'loaded' AS key_unchanged;

-- clean up
SELECT privacy.unprotect('regress_health.subscriber');
SELECT privacy.unregister_table('regress_health.subscriber');
SELECT privacy.drop_purpose('regress_health_billing');
SELECT privacy.revoke_domain('default', 'regress_health_owner');
DROP SCHEMA regress_health CASCADE;
REVOKE ALL ON SCHEMA privacy FROM regress_health_monitor;
REVOKE ALL ON FUNCTION privacy.health() FROM regress_health_monitor;
DROP ROLE regress_health_owner, regress_health_monitor;
