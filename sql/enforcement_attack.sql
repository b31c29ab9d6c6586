-- The consent check and the restriction check cannot be switched off by a
-- table's owner, as the protection cannot: disabling, dropping, renaming or
-- replacing the trigger, or a BEFORE trigger of hers that fires after the
-- consent check and changes the subject, is refused (55000); a superuser
-- acting directly may, with a warning, an audit entry, and the problem
-- listed in catalog_problems until the check is back.  A partition created
-- later gets the checks too.
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_privacy;
RESET client_min_messages;

CREATE ROLE regress_enf_owner;
CREATE SCHEMA regress_enf AUTHORIZATION regress_enf_owner;
SELECT privacy.define_purpose('regress_enf_news', 'consent');
SELECT privacy.define_purpose('regress_enf_crm', 'contract');
SELECT coalesce(max(id), 0) AS audit_start FROM privacy.audit_log \gset

SET ROLE regress_enf_owner;
CREATE TABLE regress_enf.signup (email text, note text);
CREATE TABLE regress_enf.account (id int PRIMARY KEY, email text NOT NULL, plan text)
  PARTITION BY RANGE (id);
CREATE TABLE regress_enf.account_1 PARTITION OF regress_enf.account FOR VALUES FROM (0) TO (100);
CREATE FUNCTION regress_enf.swap() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN NEW.email := 'nobody@example.dk'; RETURN NEW; END $$;
CREATE FUNCTION regress_enf.noop() RETURNS trigger LANGUAGE plpgsql AS
  $$ BEGIN RETURN NULL; END $$;
RESET ROLE;
SELECT privacy.require_consent('regress_enf.signup', 'email', 'regress_enf_news', kind => 'email');
SELECT privacy.grant_consent('email', 'yes@example.dk', 'regress_enf_news', 'web form') > 0 AS granted;
SELECT privacy.register_table('regress_enf.account', 'regress_enf_crm');
SELECT privacy.register_column('regress_enf.account', 'email', 'email', identifies => 'email');
INSERT INTO regress_enf.account VALUES (1, 'held@example.dk', 'basic'), (2, 'free@example.dk', 'basic');
SELECT privacy.restrict_subject('email', 'held@example.dk', 'accuracy contested');

------------------------------------------------------------------------
-- 1. The consent check, attacked by the table's owner
------------------------------------------------------------------------
SET ROLE regress_enf_owner;
ALTER TABLE regress_enf.signup DISABLE TRIGGER zy_pg_privacy_consent;
ALTER TABLE regress_enf.signup DISABLE TRIGGER ALL;
ALTER TABLE regress_enf.signup DISABLE TRIGGER USER;
ALTER TABLE regress_enf.signup ENABLE REPLICA TRIGGER zy_pg_privacy_consent;
ALTER TABLE regress_enf.signup ENABLE ALWAYS TRIGGER zy_pg_privacy_consent;
DROP TRIGGER zy_pg_privacy_consent ON regress_enf.signup;
ALTER TRIGGER zy_pg_privacy_consent ON regress_enf.signup RENAME TO harmless;
CREATE OR REPLACE TRIGGER zy_pg_privacy_consent BEFORE INSERT OR UPDATE ON regress_enf.signup
  FOR EACH ROW EXECUTE FUNCTION regress_enf.noop();
-- her trigger, named to fire after the check, would change the subject
-- once consent was checked
CREATE TRIGGER zz_after_check BEFORE INSERT ON regress_enf.signup
  FOR EACH ROW EXECUTE FUNCTION regress_enf.swap();
-- one that fires before the check is hers to have: the check sees its result
CREATE TRIGGER a_before_check BEFORE INSERT ON regress_enf.signup
  FOR EACH ROW EXECUTE FUNCTION regress_enf.swap();
INSERT INTO regress_enf.signup VALUES ('yes@example.dk', 'swapped before the check');
DROP TRIGGER a_before_check ON regress_enf.signup;
-- so the check is still in force
INSERT INTO regress_enf.signup VALUES ('no@example.dk', 'no consent');
INSERT INTO regress_enf.signup VALUES ('yes@example.dk', 'consent');
SELECT note FROM regress_enf.signup;
RESET ROLE;
SELECT table_name, subject_column, enforced FROM privacy.consent_requirements
 WHERE table_name = 'regress_enf.signup'::regclass;

------------------------------------------------------------------------
-- 2. The restriction check, attacked by the table's owner
------------------------------------------------------------------------
SELECT tgrelid::regclass AS rel, tgenabled FROM pg_trigger
 WHERE tgname = 'zx_pg_privacy_restrict' AND tgrelid::regclass::text LIKE 'regress_enf.%' ORDER BY 1;
SET ROLE regress_enf_owner;
ALTER TABLE regress_enf.account DISABLE TRIGGER zx_pg_privacy_restrict;
ALTER TABLE regress_enf.account_1 DISABLE TRIGGER ALL;
DROP TRIGGER zx_pg_privacy_restrict ON regress_enf.account_1;
-- (a renamed check: refused, the partition keeps its check in force)
ALTER TRIGGER zx_pg_privacy_restrict ON regress_enf.account_1 RENAME TO harmless;
-- a partition created now gets the check at once
CREATE TABLE regress_enf.account_2 PARTITION OF regress_enf.account FOR VALUES FROM (100) TO (200);
INSERT INTO regress_enf.account VALUES (101, 'held@example.dk', 'basic');
UPDATE regress_enf.account_2 SET plan = 'premium' WHERE id = 101;
UPDATE regress_enf.account SET plan = 'premium' WHERE id = 1;
UPDATE regress_enf.account SET plan = 'premium' WHERE id = 2;
-- and so does a table attached as a partition
CREATE TABLE regress_enf.account_3 (id int PRIMARY KEY, email text NOT NULL, plan text);
ALTER TABLE regress_enf.account ATTACH PARTITION regress_enf.account_3 FOR VALUES FROM (200) TO (300);
INSERT INTO regress_enf.account VALUES (201, 'held@example.dk', 'basic');
UPDATE regress_enf.account_3 SET plan = 'premium' WHERE id = 201;
-- and so does a partition created inside CREATE SCHEMA (its schema
-- elements fire no event trigger of their own)
RESET ROLE;
DO $$ BEGIN EXECUTE format('GRANT CREATE ON DATABASE %I TO regress_enf_owner', current_database()); END $$;
SET ROLE regress_enf_owner;
CREATE SCHEMA regress_enf_side
  CREATE TABLE account_4 PARTITION OF regress_enf.account FOR VALUES FROM (300) TO (400);
INSERT INTO regress_enf.account VALUES (301, 'held@example.dk', 'basic');
UPDATE regress_enf_side.account_4 SET plan = 'premium' WHERE id = 301;
RESET ROLE;
SELECT tgrelid::regclass AS rel, tgenabled FROM pg_trigger
 WHERE tgname = 'zx_pg_privacy_restrict' AND tgrelid::regclass::text LIKE 'regress_enf.%' ORDER BY 1;
SELECT id, plan FROM regress_enf.account ORDER BY id;
SELECT * FROM privacy.catalog_problems WHERE table_name::text LIKE 'regress_enf.%';
-- and so does a table declared while a subject is restricted
CREATE TABLE regress_enf.invoice (no int, email text);
INSERT INTO regress_enf.invoice VALUES (1, 'held@example.dk');
SELECT privacy.register_table('regress_enf.invoice', 'regress_enf_crm');
SELECT privacy.register_column('regress_enf.invoice', 'email', 'email', identifies => 'email');
UPDATE regress_enf.invoice SET no = 2;

------------------------------------------------------------------------
-- 3. A superuser acting directly may, and it shows
------------------------------------------------------------------------
ALTER TABLE regress_enf.signup DISABLE TRIGGER zy_pg_privacy_consent;
ALTER TABLE regress_enf.account_1 DISABLE TRIGGER zx_pg_privacy_restrict;
SELECT table_name, subject_column, enforced FROM privacy.consent_requirements
 WHERE table_name = 'regress_enf.signup'::regclass;
SELECT * FROM privacy.catalog_problems WHERE table_name::text LIKE 'regress_enf.%' ORDER BY 1, 3;
SELECT area, status, detail FROM privacy.health() WHERE area = 'catalog';
SELECT event, object, detail FROM privacy.audit_log
 WHERE id > :audit_start AND event LIKE '%weakened' ORDER BY id;
-- switching it back on is anyone's to do
SET ROLE regress_enf_owner;
ALTER TABLE regress_enf.signup ENABLE TRIGGER zy_pg_privacy_consent;
RESET ROLE;
ALTER TABLE regress_enf.account_1 ENABLE TRIGGER zx_pg_privacy_restrict;
SELECT * FROM privacy.catalog_problems WHERE table_name::text LIKE 'regress_enf.%';
-- and dropping it, too
DROP TRIGGER zy_pg_privacy_consent ON regress_enf.signup;
SELECT * FROM privacy.catalog_problems WHERE table_name::text LIKE 'regress_enf.%';
INSERT INTO regress_enf.signup VALUES ('no@example.dk', 'no check');
SELECT privacy.require_consent('regress_enf.signup', 'email', 'regress_enf_news', kind => 'email');
INSERT INTO regress_enf.signup VALUES ('no@example.dk', 'check back');

------------------------------------------------------------------------
-- 4. What pg_privacy itself does passes
------------------------------------------------------------------------
-- the last requirement removed drops the check; then the triggers are hers
SELECT privacy.unrequire_consent('regress_enf.signup', 'email', 'regress_enf_news');
SELECT count(*) AS consent_triggers FROM pg_trigger
 WHERE tgrelid = 'regress_enf.signup'::regclass AND tgname = 'zy_pg_privacy_consent';
SET ROLE regress_enf_owner;
CREATE TRIGGER zz_after_check BEFORE INSERT ON regress_enf.signup
  FOR EACH ROW EXECUTE FUNCTION regress_enf.swap();
DROP TRIGGER zz_after_check ON regress_enf.signup;
RESET ROLE;
-- with no subject restricted, the restriction check may go (and comes
-- back at the next restriction)
SELECT privacy.unrestrict_subject('email', 'held@example.dk');
SET ROLE regress_enf_owner;
DROP TRIGGER zx_pg_privacy_restrict ON regress_enf.account_1;
RESET ROLE;
SELECT privacy.restrict_subject('email', 'held@example.dk', 'accuracy contested');
SELECT count(*) AS restriction_triggers FROM pg_trigger
 WHERE tgname = 'zx_pg_privacy_restrict' AND tgrelid::regclass::text LIKE 'regress_enf.%';
UPDATE regress_enf.account_1 SET plan = 'premium' WHERE id = 1;
SELECT privacy.unrestrict_subject('email', 'held@example.dk');

------------------------------------------------------------------------
-- 5. A trigger of hers named like pg_privacy's own, and a check made to
--    depend on an extension that she may drop
------------------------------------------------------------------------
SELECT privacy.require_consent('regress_enf.signup', 'email', 'regress_enf_news', kind => 'email');
SET ROLE regress_enf_owner;
-- zz_pg_privacy_protect fires after the consent check; on a table without
-- protection, one of that name is hers and runs her function: refused
CREATE TRIGGER zz_pg_privacy_protect BEFORE INSERT OR UPDATE ON regress_enf.signup
  FOR EACH ROW EXECUTE FUNCTION regress_enf.swap();
-- DROP EXTENSION would drop a check that depends on the extension: refused
ALTER TRIGGER zy_pg_privacy_consent ON regress_enf.signup DEPENDS ON EXTENSION plpgsql;
INSERT INTO regress_enf.signup VALUES ('yes@example.dk', 'still checked, not swapped');
SELECT email, note FROM regress_enf.signup WHERE note = 'still checked, not swapped';
RESET ROLE;
-- a superuser may, warned, and catalog_problems lists it
ALTER TRIGGER zy_pg_privacy_consent ON regress_enf.signup DEPENDS ON EXTENSION plpgsql;
SELECT * FROM privacy.catalog_problems WHERE table_name::text LIKE 'regress_enf.%';
ALTER TRIGGER zy_pg_privacy_consent ON regress_enf.signup NO DEPENDS ON EXTENSION plpgsql;
SELECT * FROM privacy.catalog_problems WHERE table_name::text LIKE 'regress_enf.%';
SELECT privacy.unrequire_consent('regress_enf.signup', 'email', 'regress_enf_news');
-- the owner of a partitioned table that requires consent creates and
-- attaches partitions (PostgreSQL checks EXECUTE on the cloned check's
-- function), and they get the check
SELECT privacy.require_consent('regress_enf.account', 'email', 'regress_enf_news', kind => 'email');
SET ROLE regress_enf_owner;
CREATE TABLE regress_enf.account_7 PARTITION OF regress_enf.account FOR VALUES FROM (700) TO (800);
CREATE TABLE regress_enf.account_8 (id int NOT NULL, email text NOT NULL, plan text);
ALTER TABLE regress_enf.account ATTACH PARTITION regress_enf.account_8 FOR VALUES FROM (800) TO (900);
INSERT INTO regress_enf.account VALUES (750, 'no@example.dk', 'basic');
INSERT INTO regress_enf.account VALUES (850, 'no@example.dk', 'basic');
INSERT INTO regress_enf.account VALUES (851, 'yes@example.dk', 'basic');
RESET ROLE;
SELECT privacy.unrequire_consent('regress_enf.account', 'email', 'regress_enf_news');
-- a child by inheritance (not a partition) gets no check, and its rows
-- show in every scan of the table: refused while the check is in force
SELECT privacy.require_consent('regress_enf.signup', 'email', 'regress_enf_news', kind => 'email');
SET ROLE regress_enf_owner;
CREATE TABLE regress_enf.signup_child () INHERITS (regress_enf.signup);
CREATE TABLE regress_enf.signup_loose (email text, note text);
ALTER TABLE regress_enf.signup_loose INHERIT regress_enf.signup;
RESET ROLE;
SELECT privacy.unrequire_consent('regress_enf.signup', 'email', 'regress_enf_news');
-- a generated subject column is computed after the check, which would see
-- no subject: the requirement is refused on one, and a column dropped and
-- added again as one (the requirement follows the name) refuses every write
SET ROLE regress_enf_owner;
CREATE TABLE regress_enf.derived (note text, email text GENERATED ALWAYS AS (note) STORED);
RESET ROLE;
SELECT privacy.require_consent('regress_enf.derived', 'email', 'regress_enf_news', kind => 'email');
SELECT privacy.require_consent('regress_enf.signup', 'email', 'regress_enf_news', kind => 'email');
SET ROLE regress_enf_owner;
ALTER TABLE regress_enf.signup DROP COLUMN email;
ALTER TABLE regress_enf.signup ADD COLUMN email text GENERATED ALWAYS AS (note) STORED;
INSERT INTO regress_enf.signup (note) VALUES ('no@example.dk');
INSERT INTO regress_enf.signup (note) VALUES ('yes@example.dk');
RESET ROLE;
SELECT privacy.unrequire_consent('regress_enf.signup', 'email', 'regress_enf_news');

-- the checks never answer "in force" for a table that is not there
SELECT privacy_internal._consent_problem(4000000000::oid::regclass) AS consent_problem,
       privacy_internal._restrict_problem(4000000000::oid::regclass) AS restrict_problem;

-- the consent trigger copied by a table's owner onto a table no
-- requirement names (as Citus copies it onto each shard): refused, never
-- a row accepted without a check
SET ROLE regress_enf_owner;
CREATE TABLE regress_enf.copycat (email text);
CREATE TRIGGER copycat_consent BEFORE INSERT OR UPDATE ON regress_enf.copycat
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._consent_trigger();
INSERT INTO regress_enf.copycat VALUES ('nobody@example.dk');
SELECT count(*) AS accepted FROM regress_enf.copycat;
RESET ROLE;

DROP SCHEMA regress_enf CASCADE;
DROP SCHEMA regress_enf_side CASCADE;
DO $$ BEGIN EXECUTE format('REVOKE CREATE ON DATABASE %I FROM regress_enf_owner', current_database()); END $$;
SELECT privacy.drop_purpose('regress_enf_crm');
DROP ROLE regress_enf_owner;
