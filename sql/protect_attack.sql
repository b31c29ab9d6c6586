-- A value is transformed exactly once, and only by who may: the attacks of
-- a hostile table owner (regress_owner) on domains and on the protect
-- trigger, upserts and partition moves, written forms of one identifier,
-- and NULL arguments.
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_privacy;
RESET client_min_messages;

CREATE ROLE regress_owner;
CREATE ROLE regress_granted;
CREATE ROLE regress_member IN ROLE regress_granted;
CREATE SCHEMA regress_att AUTHORIZATION regress_owner;
SELECT privacy.define_purpose('regress_att', 'legal_obligation');
GRANT EXECUTE ON FUNCTION privacy.register_table(regclass, text),
                          privacy.register_column(regclass, name, text, text, text, text, text),
                          privacy.protect(regclass, boolean), privacy.unprotect(regclass),
                          privacy.pseudonymize(text, text),
                          privacy.pseudonymize_msisdn(text, text, text),
                          privacy.pseudonymize_email(text, text)
      TO regress_owner, regress_granted;

------------------------------------------------------------------------
-- 1. Domains are capabilities
------------------------------------------------------------------------
SET ROLE regress_owner;
CREATE TABLE regress_att.oracle (id int, msisdn text);
SELECT privacy.register_table('regress_att.oracle', 'regress_att');
-- The oracle: protect her own table in "default", write every number,
-- read the pseudonyms back.  Refused, in any domain she was not granted.
SELECT privacy.register_column('regress_att.oracle', 'msisdn', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.register_column('regress_att.oracle', 'msisdn', 'phone', identifies => 'msisdn', protect => 'pseudonym', domain => 'hers');
-- nor through the functions
SELECT privacy.pseudonymize_msisdn('+4520123456');
SELECT privacy.pseudonymize_msisdn('+4520123456', 'default');
SELECT privacy.pseudonymize('+4520123456', 'default');
SELECT privacy.pseudonymize_email('ann@example.dk', 'default');
-- She cannot grant herself a domain, nor write the grant table.
SELECT privacy.grant_domain('default', 'regress_owner');
INSERT INTO privacy.domain_grant (domain, grantee, granted_by) VALUES ('default', 'regress_owner', 'x');
-- Registering without protect is fine (no pseudonym is produced).
SELECT privacy.register_column('regress_att.oracle', 'msisdn', 'phone', identifies => 'msisdn', protect => 'country');
RESET ROLE;
-- Even given EXECUTE on grant_domain, only pg_privacy's owner grants.
GRANT EXECUTE ON FUNCTION privacy.grant_domain(text, regrole) TO regress_owner;
SET ROLE regress_owner;
SELECT privacy.grant_domain('default', 'regress_owner');
RESET ROLE;
REVOKE EXECUTE ON FUNCTION privacy.grant_domain(text, regrole) FROM regress_owner;

-- With a grant, the role (and its members) can, and gets what the DBA gets.
SELECT privacy.grant_domain('regress_att', 'regress_granted');
SELECT privacy.grant_domain('regress_att', 'regress_granted');   -- twice is once
SELECT domain, grantee, granted_by FROM privacy.domain_grant WHERE domain = 'regress_att';
SET ROLE regress_granted;
SELECT privacy.pseudonymize_msisdn('+4520123456', 'regress_att') AS granted_fpe \gset
SELECT privacy.pseudonymize_msisdn('+4520123456', 'default');
RESET ROLE;
SELECT privacy.pseudonymize_msisdn('+4520123456', 'regress_att') = :'granted_fpe' AS dba_fpe_is_granted_fpe,
       :'granted_fpe' ~ '^\+452[0-9]{7}$' AS well_formed;
SET ROLE regress_member;
SELECT privacy.pseudonymize('x', 'regress_att') = privacy.pseudonymize('x', 'regress_att') AS member_ok;
RESET ROLE;
-- Revoked: refused at once, in this very session (the cache is dropped).
SELECT privacy.revoke_domain('regress_att', 'regress_granted');
SELECT privacy.revoke_domain('regress_att', 'regress_granted');
SET ROLE regress_member;
SELECT privacy.pseudonymize('x', 'regress_att');
RESET ROLE;

-- A protected table of a granted owner works; revoking the grant stops its
-- writes (fail closed) and shows in catalog_problems.
SELECT privacy.grant_domain('default', 'regress_owner');
SET ROLE regress_owner;
SELECT privacy.pseudonymize_msisdn('+4520123456', 'default') AS owner_fpe \gset
CREATE TABLE regress_att.mine (id int, msisdn text);
SELECT privacy.register_table('regress_att.mine', 'regress_att');
SELECT privacy.register_column('regress_att.mine', 'msisdn', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.protect('regress_att.mine');
INSERT INTO regress_att.mine VALUES (1, '+4520123456');
RESET ROLE;
SELECT msisdn = privacy.pseudonymize_msisdn('+4520123456') AS stored_once, msisdn = :'owner_fpe' AS dba_fpe_is_owner_fpe
  FROM regress_att.mine;
SELECT privacy.revoke_domain('default', 'regress_owner');
SET ROLE regress_owner;
INSERT INTO regress_att.mine VALUES (2, '+4520123457');
RESET ROLE;
-- (a role granted the views reads them without further grants)
GRANT SELECT ON privacy.catalog_problems, privacy.protected_tables TO regress_granted;
SET ROLE regress_granted;
SELECT table_name, column_name, problem FROM privacy.catalog_problems WHERE table_name::text LIKE 'regress_att.%';
SELECT table_name, protected FROM privacy.protected_tables WHERE table_name::text LIKE 'regress_att.%';
RESET ROLE;
REVOKE SELECT ON privacy.catalog_problems, privacy.protected_tables FROM regress_granted;
-- nor can she protect it anew without the grant
SET ROLE regress_owner;
SELECT privacy.unprotect('regress_att.mine');
SELECT privacy.protect('regress_att.mine');
RESET ROLE;
-- A table handed to a role without the grant stops too.
SELECT privacy.grant_domain('default', 'regress_owner');
SET ROLE regress_owner;
SELECT privacy.protect('regress_att.mine', rewrite_existing => false);
RESET ROLE;
CREATE ROLE regress_heir;
ALTER TABLE regress_att.mine OWNER TO regress_heir;
INSERT INTO regress_att.mine VALUES (3, '+4520123458');
ALTER TABLE regress_att.mine OWNER TO regress_owner;
INSERT INTO regress_att.mine VALUES (3, '+4520123458');
SELECT count(*) AS written FROM regress_att.mine;
SELECT event, object, detail FROM privacy.audit_log WHERE event LIKE 'pseudonym.%_domain' AND object = 'regress_att' ORDER BY id;

------------------------------------------------------------------------
-- 2. Exactly once: upserts and partition moves
------------------------------------------------------------------------
SET ROLE regress_owner;
CREATE TABLE regress_att.sub (id int PRIMARY KEY, msisdn text, email text, note text);
SELECT privacy.register_table('regress_att.sub', 'regress_att');
SELECT privacy.register_column('regress_att.sub', 'msisdn', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.register_column('regress_att.sub', 'email', 'email', identifies => 'email', protect => 'email_pseudonym');
SELECT privacy.protect('regress_att.sub');
INSERT INTO regress_att.sub VALUES (1, '+4520000001', 'ann@example.dk', 'first');
-- EXCLUDED holds the value BEFORE INSERT protected: stored as is, once.
INSERT INTO regress_att.sub VALUES (1, '+4520000002', 'bo@example.dk', 'upsert')
  ON CONFLICT (id) DO UPDATE SET msisdn = EXCLUDED.msisdn, email = EXCLUDED.email, note = EXCLUDED.note;
RESET ROLE;
SELECT id, msisdn = privacy.pseudonymize_msisdn('+4520000002') AS msisdn_once,
       privacy.reidentify_msisdn(msisdn) AS reidentified,
       email = privacy.pseudonymize_email('bo@example.dk') AS email_once, note
  FROM regress_att.sub WHERE id = 1;
SET ROLE regress_owner;
-- A raw literal in DO UPDATE SET is transformed; EXCLUDED beside it is not.
INSERT INTO regress_att.sub VALUES (1, '+4520000003', 'cy@example.dk', 'x')
  ON CONFLICT (id) DO UPDATE SET msisdn = '+4520000004', email = EXCLUDED.email;
RESET ROLE;
SELECT msisdn = privacy.pseudonymize_msisdn('+4520000004') AS literal_once,
       email = privacy.pseudonymize_email('cy@example.dk') AS excluded_once
  FROM regress_att.sub WHERE id = 1;
SET ROLE regress_owner;
-- A raw literal in SET whose pseudonym is already stored: transformed to it.
INSERT INTO regress_att.sub VALUES (1, '+4520000005', NULL, 'x')
  ON CONFLICT (id) DO UPDATE SET email = 'CY@example.dk';
RESET ROLE;
SELECT email = privacy.pseudonymize_email('cy@example.dk') AS literal_again_once FROM regress_att.sub WHERE id = 1;
SET ROLE regress_owner;
-- Multi-row upsert: new rows and conflicting rows, in one statement.
INSERT INTO regress_att.sub VALUES
  (1, '+4520000011', 'd1@example.dk', 'm'), (2, '+4520000012', 'd2@example.dk', 'm'),
  (3, '+4520000013', 'd3@example.dk', 'm')
  ON CONFLICT (id) DO UPDATE SET msisdn = EXCLUDED.msisdn, email = EXCLUDED.email;
INSERT INTO regress_att.sub VALUES
  (2, '+4520000022', 'e2@example.dk', 'm'), (4, '+4520000014', 'd4@example.dk', 'm'),
  (3, '+4520000023', 'e3@example.dk', 'm')
  ON CONFLICT (id) DO UPDATE SET msisdn = EXCLUDED.msisdn, email = EXCLUDED.email;
-- EXCLUDED of another protected column cannot be stored right: refused
INSERT INTO regress_att.sub VALUES (4, '+4520000077', 'x@example.dk', 'm')
  ON CONFLICT (id) DO UPDATE SET email = EXCLUDED.msisdn;
-- A number that happens to be the pseudonym just stored, written by the
-- next statement of the transaction, is a raw number: transformed.
BEGIN;
INSERT INTO regress_att.sub VALUES (5, '+4520000050', NULL, 'c');
UPDATE regress_att.sub SET msisdn = (SELECT s.msisdn FROM regress_att.sub s WHERE s.id = 5) WHERE id = 4;
COMMIT;
RESET ROLE;
SELECT (SELECT privacy.reidentify_msisdn(msisdn) FROM regress_att.sub WHERE id = 4)
       = (SELECT msisdn FROM regress_att.sub WHERE id = 5) AS next_statement_transformed;
SET ROLE regress_owner;
DELETE FROM regress_att.sub WHERE id = 5;
UPDATE regress_att.sub SET msisdn = '+4520000014' WHERE id = 4;
-- DO NOTHING and a plain UPDATE of another column
INSERT INTO regress_att.sub VALUES (4, '+4520000099', 'zz@example.dk', 'm') ON CONFLICT DO NOTHING;
UPDATE regress_att.sub SET note = 'touched';
RESET ROLE;
SELECT id, privacy.reidentify_msisdn(msisdn) AS number,
       email = privacy.pseudonymize_email(CASE id WHEN 1 THEN 'd1@example.dk' WHEN 2 THEN 'e2@example.dk'
                                                  WHEN 3 THEN 'e3@example.dk' ELSE 'd4@example.dk' END) AS email_once
  FROM regress_att.sub ORDER BY id;
-- the lookups find each row by its number's stored form: one transformation
SELECT count(*) AS found FROM regress_att.sub
 WHERE msisdn IN (privacy_internal._transform('20000011', 'msisdn_fpe', 'default', 'msisdn'),
                  privacy_internal._transform('+45 20 00 00 22', 'msisdn_fpe', 'default', 'msisdn'),
                  privacy_internal._transform('+4520000023', 'msisdn_fpe', 'default', 'msisdn'),
                  privacy_internal._transform('+4520000014', 'msisdn_fpe', 'default', 'msisdn'));

-- A partitioned table: upsert on a partition, and UPDATEs that move rows.
SET ROLE regress_owner;
CREATE TABLE regress_att.cdr (id int, a_number text, b_number text, started date,
                              PRIMARY KEY (id, started)) PARTITION BY RANGE (started);
CREATE TABLE regress_att.cdr_01 PARTITION OF regress_att.cdr FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
CREATE TABLE regress_att.cdr_02 PARTITION OF regress_att.cdr FOR VALUES FROM ('2026-02-01') TO ('2026-03-01');
SELECT privacy.register_table('regress_att.cdr', 'regress_att');
SELECT privacy.register_column('regress_att.cdr', 'a_number', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.register_column('regress_att.cdr', 'b_number', 'phone', identifies => 'msisdn', link => 'mention', protect => 'pseudonym');
SELECT privacy.protect('regress_att.cdr');
INSERT INTO regress_att.cdr VALUES (1, '+4530000001', '+4540000001', '2026-01-05'),
                                   (2, '+4530000002', '+4540000002', '2026-01-06');
INSERT INTO regress_att.cdr VALUES (1, '+4530000003', '+4540000003', '2026-01-05')
  ON CONFLICT (id, started) DO UPDATE SET a_number = EXCLUDED.a_number, b_number = EXCLUDED.b_number;
-- moves to the other partition, protected columns untouched
UPDATE regress_att.cdr SET started = '2026-02-05' WHERE id = 1;
-- moves, with a new raw number at the same time
UPDATE regress_att.cdr SET started = '2026-02-06', a_number = '+4530000004' WHERE id = 2;
-- and back
UPDATE regress_att.cdr SET started = '2026-01-07';
RESET ROLE;
SELECT tableoid::regclass AS part, id, privacy.reidentify_msisdn(a_number) AS a,
       b_number = privacy.pseudonymize(CASE id WHEN 1 THEN '+4540000003' ELSE '+4540000002' END) AS b_once
  FROM regress_att.cdr ORDER BY id;

-- A move into a partition whose columns lie elsewhere (another order, a
-- dropped column), owned by a role that does not hold the domain.
SET ROLE regress_owner;
CREATE TABLE regress_att.mv (id int, phone text, mail text, k int) PARTITION BY LIST (k);
CREATE TABLE regress_att.mv_1 PARTITION OF regress_att.mv FOR VALUES IN (1);
CREATE TABLE regress_att.mv_2 (gone int, k int, mail text, id int, phone text);
ALTER TABLE regress_att.mv_2 DROP COLUMN gone;
ALTER TABLE regress_att.mv ATTACH PARTITION regress_att.mv_2 FOR VALUES IN (2);
SELECT privacy.register_table('regress_att.mv', 'regress_att');
SELECT privacy.register_column('regress_att.mv', 'phone', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.register_column('regress_att.mv', 'mail', 'email', identifies => 'email', protect => 'email_pseudonym');
SELECT privacy.protect('regress_att.mv');
INSERT INTO regress_att.mv VALUES (1, '+4520000031', 'f1@example.dk', 1), (2, '+4520000032', 'f2@example.dk', 1);
UPDATE regress_att.mv SET k = 2;
UPDATE regress_att.mv SET k = 1, mail = 'g2@example.dk' WHERE id = 2;
UPDATE regress_att.mv SET k = 2, phone = phone WHERE id = 2;
RESET ROLE;
SELECT tableoid::regclass AS part, id, privacy.reidentify_msisdn(phone) AS phone,
       mail = privacy.pseudonymize_email(CASE id WHEN 1 THEN 'f1@example.dk' ELSE 'g2@example.dk' END) AS mail_once
  FROM regress_att.mv ORDER BY id;
-- a partition handed to a role without the domain stops taking rows
ALTER TABLE regress_att.mv_2 OWNER TO regress_heir;
SET ROLE regress_owner;
INSERT INTO regress_att.mv VALUES (3, '+4520000033', NULL, 2);
INSERT INTO regress_att.mv VALUES (3, '+4520000033', NULL, 1);
RESET ROLE;
ALTER TABLE regress_att.mv_2 OWNER TO regress_owner;
SELECT privacy.protect('regress_att.mv');

------------------------------------------------------------------------
-- 3. A generated column is computed after the trigger: never protected
------------------------------------------------------------------------
SET ROLE regress_owner;
CREATE TABLE regress_att.gen (phone text, phone_copy text GENERATED ALWAYS AS (phone || '') STORED);
SELECT privacy.register_table('regress_att.gen', 'regress_att');
SELECT privacy.register_column('regress_att.gen', 'phone_copy', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.register_column('regress_att.gen', 'phone_copy', 'phone', protect => 'null');
SELECT privacy.register_column('regress_att.gen', 'phone', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.protect('regress_att.gen');
RESET ROLE;
-- a declaration that reaches the catalog otherwise (a restored dump) is
-- reported, and the trigger refuses to write rather than store it raw
INSERT INTO privacy.registered_column (tbl, col, attnum, category, protect)
     VALUES ('regress_att.gen', 'phone_copy', 2, 'phone', 'null');
SELECT privacy_internal._invalidate('regress_att.gen');
SELECT table_name, column_name, problem FROM privacy.catalog_problems WHERE table_name = 'regress_att.gen'::regclass;
INSERT INTO regress_att.gen (phone) VALUES ('+4520123456');
SELECT count(*) AS written FROM regress_att.gen;
SELECT privacy.unprotect('regress_att.gen');
SELECT privacy.protect('regress_att.gen');
DELETE FROM privacy.registered_column WHERE tbl = 'regress_att.gen'::regclass AND col = 'phone_copy';

------------------------------------------------------------------------
-- 4. One identifier, one pseudonym, in every written form
------------------------------------------------------------------------
SET ROLE regress_owner;
CREATE TABLE regress_att.norm (id int, phone text, mail text, ref text);
SELECT privacy.register_table('regress_att.norm', 'regress_att');
SELECT privacy.register_column('regress_att.norm', 'phone', 'phone', identifies => 'msisdn', protect => 'pseudonym');
SELECT privacy.register_column('regress_att.norm', 'mail', 'email', identifies => 'email', protect => 'pseudonym');
SELECT privacy.register_column('regress_att.norm', 'ref', 'customer_number', identifies => 'customer', protect => 'pseudonym');
SELECT privacy.protect('regress_att.norm');
INSERT INTO regress_att.norm VALUES (1, '20 55 66 77', ' Ann@Example.DK ', 'C-1'),
                                    (2, '+4520556677', 'ann@example.dk', 'C-1'),
                                    (3, '0045 20-55-66-77', 'ANN@EXAMPLE.DK', 'c-1');
UPDATE regress_att.norm SET phone = '(+45) 20556677' WHERE id = 3;
-- unparseable numbers are refused (the message holds no value)
INSERT INTO regress_att.norm VALUES (4, 'call me', 'x@example.dk', 'C-2');
RESET ROLE;
SELECT count(DISTINCT phone) AS phones, count(DISTINCT mail) AS mails, count(DISTINCT ref) AS refs,
       bool_and(phone = privacy.pseudonymize('+4520556677')) AS phone_is_e164_pseudonym,
       bool_and(mail = privacy.pseudonymize('ann@example.dk')) AS mail_is_normalized_pseudonym
  FROM regress_att.norm;
-- what the lookups compute is what the trigger stored
SELECT count(*) AS found FROM regress_att.norm
 WHERE phone = privacy_internal._transform('20556677', 'pseudonym', 'default', 'msisdn')
   AND mail = privacy_internal._transform('ANN@example.dk ', 'pseudonym', 'default', 'email');
SELECT privacy_internal._transform('call me', 'pseudonym', 'default', 'msisdn');
SELECT privacy_internal._transform('x', 'pseudonym', 'default', 'no_such_kind');
SELECT privacy_internal._transform('C-1', 'pseudonym', 'default', 'customer') = privacy.pseudonymize('C-1') AS text_kind_as_is;
-- a kind of one's own normalizes as its normalization says
INSERT INTO privacy.identifier_kind (name, normalize, description) VALUES ('regress_mobile', 'msisdn', 'mobile number');
INSERT INTO privacy.identifier_kind (name, normalize, description) VALUES ('regress_login', 'email', 'login address');
SELECT privacy_internal._transform('20 55 66 77', 'pseudonym', 'default', 'regress_mobile') = privacy.pseudonymize('+4520556677') AS own_msisdn_kind,
       privacy_internal._transform(' Ann@Example.DK', 'pseudonym', 'default', 'regress_login') = privacy.pseudonymize('ann@example.dk') AS own_email_kind;
SET ROLE regress_owner;
ALTER TABLE regress_att.norm ADD COLUMN mobile text;
SELECT privacy.register_column('regress_att.norm', 'mobile', 'phone', identifies => 'regress_mobile', protect => 'pseudonym');
INSERT INTO regress_att.norm (id, mobile) VALUES (5, '0045 20 55 66 77');
RESET ROLE;
SELECT mobile = privacy.pseudonymize('+4520556677') AS own_kind_in_trigger FROM regress_att.norm WHERE id = 5;

------------------------------------------------------------------------
-- 5. Protection is verified, and cannot be switched off by the owner
------------------------------------------------------------------------
CREATE FUNCTION regress_att.raw() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN NEW.a_number := '+4599999999'; RETURN NEW; END $$;
CREATE FUNCTION regress_att.noop() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN RETURN NEW; END $$;
GRANT EXECUTE ON FUNCTION regress_att.raw(), regress_att.noop() TO regress_owner;
SET ROLE regress_owner;
ALTER TABLE regress_att.cdr DISABLE TRIGGER zz_pg_privacy_protect;
ALTER TABLE regress_att.cdr DISABLE TRIGGER ALL;
ALTER TABLE regress_att.cdr DISABLE TRIGGER USER;
ALTER TABLE regress_att.cdr ENABLE REPLICA TRIGGER zz_pg_privacy_protect;
ALTER TABLE regress_att.cdr ENABLE ALWAYS TRIGGER zz_pg_privacy_protect;
ALTER TABLE regress_att.cdr_02 DISABLE TRIGGER zz_pg_privacy_protect;
DROP TRIGGER zz_pg_privacy_protect ON regress_att.cdr;
DROP TRIGGER zz_pg_privacy_protect ON regress_att.cdr_01;
CREATE OR REPLACE TRIGGER zz_pg_privacy_protect BEFORE INSERT OR UPDATE ON regress_att.cdr
  FOR EACH ROW EXECUTE FUNCTION regress_att.noop();
CREATE OR REPLACE TRIGGER zz_pg_privacy_protect BEFORE INSERT OR UPDATE ON regress_att.cdr
  FOR EACH ROW WHEN (false) EXECUTE FUNCTION privacy_internal._protect_trigger();
CREATE TRIGGER zzz_raw BEFORE INSERT ON regress_att.cdr FOR EACH ROW EXECUTE FUNCTION regress_att.raw();
CREATE TRIGGER zzz_raw BEFORE UPDATE ON regress_att.cdr_01 FOR EACH ROW EXECUTE FUNCTION regress_att.raw();
ALTER TRIGGER zz_pg_privacy_protect ON regress_att.cdr RENAME TO a_protect;
-- a trigger renamed to sort after the protect trigger
CREATE TRIGGER a_raw BEFORE INSERT ON regress_att.cdr FOR EACH ROW EXECUTE FUNCTION regress_att.raw();
ALTER TRIGGER a_raw ON regress_att.cdr RENAME TO zzzz_raw;
DROP TRIGGER a_raw ON regress_att.cdr;
-- the protect function a second time, or our trigger with a WHEN condition
CREATE TRIGGER a_twice BEFORE INSERT OR UPDATE ON regress_att.cdr FOR EACH ROW EXECUTE FUNCTION privacy_internal._protect_trigger();
-- a partition that brings its own late trigger
CREATE TABLE regress_att.cdr_03 (LIKE regress_att.cdr);
CREATE TRIGGER zzz_raw BEFORE INSERT ON regress_att.cdr_03 FOR EACH ROW EXECUTE FUNCTION regress_att.raw();
ALTER TABLE regress_att.cdr ATTACH PARTITION regress_att.cdr_03 FOR VALUES FROM ('2026-03-01') TO ('2026-04-01');
-- the replica role is the superuser's
SET session_replication_role = replica;
-- Allowed: triggers that fire before ours, AFTER triggers, other events,
-- statement triggers, new and attached partitions, ordinary ALTER TABLE.
DROP TRIGGER zzz_raw ON regress_att.cdr_03;
ALTER TABLE regress_att.cdr ATTACH PARTITION regress_att.cdr_03 FOR VALUES FROM ('2026-03-01') TO ('2026-04-01');
CREATE TABLE regress_att.cdr_04 PARTITION OF regress_att.cdr FOR VALUES FROM ('2026-04-01') TO ('2026-05-01');
CREATE TRIGGER zzz_after AFTER INSERT ON regress_att.cdr FOR EACH ROW EXECUTE FUNCTION regress_att.noop();
CREATE TRIGGER zzz_delete BEFORE DELETE ON regress_att.cdr FOR EACH ROW EXECUTE FUNCTION regress_att.noop();
CREATE TRIGGER zzz_stmt BEFORE INSERT ON regress_att.cdr FOR EACH STATEMENT EXECUTE FUNCTION regress_att.noop();
CREATE TRIGGER a_early BEFORE INSERT ON regress_att.cdr FOR EACH ROW EXECUTE FUNCTION regress_att.raw();
ALTER TABLE regress_att.cdr ADD COLUMN note text;
INSERT INTO regress_att.cdr (id, a_number, started) VALUES (10, '+4530000010', '2026-03-10'), (11, '+4530000011', '2026-04-10');
RESET ROLE;
SELECT table_name, protected FROM privacy.protected_tables WHERE table_name = 'regress_att.cdr'::regclass;
-- even the early trigger's raw value is protected; so are new partitions
SELECT tableoid::regclass AS part, privacy.reidentify_msisdn(a_number) AS a
  FROM regress_att.cdr WHERE id IN (10, 11) ORDER BY id;

-- A superuser may (a data-only restore with --disable-triggers): warned,
-- audited, reported, and purge and erasure refuse the table meanwhile.
ALTER TABLE regress_att.cdr DISABLE TRIGGER ALL;
SELECT table_name, protected FROM privacy.protected_tables WHERE table_name = 'regress_att.cdr'::regclass;
SELECT table_name, problem FROM privacy.catalog_problems WHERE table_name = 'regress_att.cdr'::regclass;
SELECT privacy_internal._check_protection('regress_att.cdr');
SELECT privacy.protect('regress_att.cdr');
SET ROLE regress_owner;
ALTER TABLE regress_att.cdr ADD COLUMN note2 text;
ALTER TABLE regress_att.cdr ENABLE TRIGGER ALL;
RESET ROLE;
SELECT table_name, protected FROM privacy.protected_tables WHERE table_name = 'regress_att.cdr'::regclass;
SELECT privacy_internal._check_protection('regress_att.cdr');
-- One partition disabled by the superuser: the table is not in force.
ALTER TABLE regress_att.cdr_01 DISABLE TRIGGER zz_pg_privacy_protect;
SELECT privacy_internal._check_protection('regress_att.cdr');
ALTER TABLE regress_att.cdr_01 ENABLE TRIGGER zz_pg_privacy_protect;
SELECT event, object, detail->>'problem' AS problem FROM privacy.audit_log
 WHERE event = 'protect.weakened' AND object LIKE 'regress\_att.%' ORDER BY id;
-- a table that is not protected at all passes the check
SELECT privacy_internal._check_protection('regress_att.oracle');

-- Her code running in a superuser's session (the rewrite of protect()
-- runs her triggers as her, in a security-restricted operation) cannot
-- take the superuser's way either.
CREATE FUNCTION regress_att.switch_off() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  ALTER TABLE regress_att.cdr DISABLE TRIGGER zz_pg_privacy_protect;
  RETURN NEW;
END $$;
ALTER FUNCTION regress_att.switch_off() OWNER TO regress_owner;
SET ROLE regress_owner;
CREATE TABLE regress_att.legacy (phone text);
INSERT INTO regress_att.legacy VALUES ('+4520123456');
CREATE TRIGGER a_switch_off BEFORE UPDATE ON regress_att.legacy FOR EACH ROW EXECUTE FUNCTION regress_att.switch_off();
SELECT privacy.register_table('regress_att.legacy', 'regress_att');
SELECT privacy.register_column('regress_att.legacy', 'phone', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
RESET ROLE;
SELECT privacy.protect('regress_att.legacy', rewrite_existing => true);
SELECT privacy_internal._check_protection('regress_att.cdr');

-- protect() refuses a table whose late BEFORE trigger would undo it
SET ROLE regress_owner;
CREATE TABLE regress_att.late (id int, phone text);
CREATE TRIGGER zzzz BEFORE UPDATE ON regress_att.late FOR EACH ROW EXECUTE FUNCTION regress_att.noop();
SELECT privacy.register_table('regress_att.late', 'regress_att');
SELECT privacy.register_column('regress_att.late', 'phone', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.protect('regress_att.late');
ALTER TRIGGER zzzz ON regress_att.late RENAME TO aaaa;
SELECT privacy.protect('regress_att.late');
-- unprotect and protect again still work; so do DETACH and DROP TABLE
SELECT privacy.unprotect('regress_att.late');
SELECT privacy.protect('regress_att.late');
ALTER TABLE regress_att.cdr DETACH PARTITION regress_att.cdr_04;
DROP TABLE regress_att.cdr_04;
DROP TABLE regress_att.late;
RESET ROLE;

------------------------------------------------------------------------
-- 6. No crash on NULL; no value in messages
------------------------------------------------------------------------
SELECT privacy_internal._rewrite_protected('regress_att.cdr', ARRAY[NULL]::name[]);
SELECT privacy_internal._rewrite_protected('regress_att.cdr', ARRAY['a_number', NULL]::name[]);
SELECT privacy_internal._rewrite_protected(NULL, ARRAY['a_number']::name[]) IS NULL AS strict_null;
SELECT privacy_internal._rewrite_protected(1::oid::regclass, ARRAY['a_number']::name[]);
SELECT privacy_internal._rewrite_protected('regress_att.cdr', ARRAY[['a_number']]::name[]);
SELECT privacy_internal._transform(NULL, 'pseudonym', 'default') IS NULL AS null_value;
SELECT privacy_internal._transform('x', NULL, 'default');
SELECT privacy_internal._transform('x', 'pseudonym', NULL);
SELECT privacy_internal._transform('x', 'pseudonym', 'default', NULL) = privacy.pseudonymize('x') AS null_kind;
SELECT privacy_internal._domain_allowed(NULL, 'default') IS NULL AS strict_domain;
SELECT privacy_internal._check_protection(NULL);
SELECT privacy_internal._protect_ddl_allowed(NULL) IS NULL AS strict_ddl;
SELECT privacy_internal._allow_protect_ddl(NULL);
SELECT privacy.grant_domain(NULL, 'regress_owner');
SELECT privacy.revoke_domain('default', NULL);
SELECT privacy_internal._protection_problem(NULL) IS NULL AS strict_problem;
SELECT privacy.country_of('QQ');
SELECT privacy_internal._transform('QQ', 'country', 'default');

------------------------------------------------------------------------
-- The protect trigger on a table the catalog names no protected column of
-- (a copy made by a table's owner, as Citus makes on each shard, or a table
-- whose protected columns were undeclared): the row is refused, never
-- stored untransformed.
------------------------------------------------------------------------
CREATE TABLE regress_att.copycat (a_number text);
ALTER TABLE regress_att.copycat OWNER TO regress_owner;
SET ROLE regress_owner;
CREATE TRIGGER copycat_protect BEFORE INSERT OR UPDATE ON regress_att.copycat
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._protect_trigger();
INSERT INTO regress_att.copycat VALUES ('+4520123456');
RESET ROLE;
SELECT count(*) AS stored_untransformed FROM regress_att.copycat;

------------------------------------------------------------------------
-- The signed rule the protect trigger of a Citus table carries onto its
-- shards (src/protect.c): on a table that is no shard, copied there or
-- forged, it protects nothing and the row is refused.
------------------------------------------------------------------------
-- Only pg_privacy signs a rule, from its catalog.
SET ROLE regress_owner;
SELECT privacy_internal._protect_shard_rule('regress_att.copycat');
RESET ROLE;
CREATE TABLE regress_att.signed (a_number text, b_number text);
SELECT privacy.register_table('regress_att.signed', 'regress_att');
SELECT privacy.register_column('regress_att.signed', 'a_number', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT r[1] AS rule, r[2] AS mac FROM privacy_internal._protect_shard_rule('regress_att.signed') r \gset
SELECT :'rule' ~ '^\{"v": 1, "schema": "regress_att", "table": "signed", "owner": "[^"]+", "country": "DK", "cols": \[\["a_number", "msisdn_fpe", "msisdn", "default", false\]\]\}$' AS rule_from_catalog,
       :'mac' ~ '^[0-9a-f]{64}$' AS mac_hex;
-- the same catalog signs the same rule
SELECT (privacy_internal._protect_shard_rule('regress_att.signed'))[2] = :'mac' AS same_signature;
-- copied onto a table that is no shard of it
CREATE TABLE regress_att.forged (a_number text, b_number text);
CREATE TRIGGER zz_pg_privacy_protect BEFORE INSERT OR UPDATE ON regress_att.forged
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._protect_trigger(:'rule', :'mac');
INSERT INTO regress_att.forged VALUES ('+4520123456', NULL);
-- with another signature
DROP TRIGGER zz_pg_privacy_protect ON regress_att.forged;
CREATE TRIGGER zz_pg_privacy_protect BEFORE INSERT OR UPDATE ON regress_att.forged
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._protect_trigger(:'rule', '00');
INSERT INTO regress_att.forged VALUES ('+4520123456', NULL);
-- changed under its signature: naming this table
SELECT replace(:'rule', '"signed"', '"forged"') AS forged_rule \gset
DROP TRIGGER zz_pg_privacy_protect ON regress_att.forged;
CREATE TRIGGER zz_pg_privacy_protect BEFORE INSERT OR UPDATE ON regress_att.forged
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._protect_trigger(:'forged_rule', :'mac');
INSERT INTO regress_att.forged VALUES ('+4520123456', NULL);
-- not JSON, under a signature of another text
DROP TRIGGER zz_pg_privacy_protect ON regress_att.forged;
CREATE TRIGGER zz_pg_privacy_protect BEFORE INSERT OR UPDATE ON regress_att.forged
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._protect_trigger('{', :'mac');
INSERT INTO regress_att.forged VALUES ('+4520123456', NULL);
SELECT count(*) AS stored_untransformed FROM regress_att.forged;
-- (a superuser acting on its own was warned above); a table owner may not
-- put a rule on her table at all: only protect() writes one, an older rule
-- read from pg_trigger included
SET ROLE regress_owner;
CREATE TABLE regress_att.planted (a_number text, b_number text);
CREATE TRIGGER zz_pg_privacy_protect BEFORE INSERT OR UPDATE ON regress_att.planted
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._protect_trigger(:'rule', :'mac');
RESET ROLE;
SELECT count(*) AS planted FROM pg_trigger WHERE tgrelid = 'regress_att.planted'::regclass;
-- on a table that is not Citus's, protect() creates the trigger without a rule
SELECT privacy.protect('regress_att.signed');
SELECT tgnargs FROM pg_trigger WHERE tgrelid = 'regress_att.signed'::regclass AND tgname = 'zz_pg_privacy_protect';
SELECT privacy.unprotect('regress_att.signed');
-- A local table whose protect trigger carries a rule for shards (as
-- undistribute_table leaves it) and that the catalog declares: the catalog
-- decides, the rule is not read; protect() gives it the local trigger.
CREATE TRIGGER zz_pg_privacy_protect BEFORE INSERT OR UPDATE ON regress_att.signed
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._protect_trigger(:'rule', :'mac');
INSERT INTO regress_att.signed VALUES ('+4520123456', NULL);
SELECT privacy.protect('regress_att.signed');
SELECT tgnargs FROM pg_trigger WHERE tgrelid = 'regress_att.signed'::regclass AND tgname = 'zz_pg_privacy_protect';
INSERT INTO regress_att.signed VALUES ('+4520123456', NULL);
SELECT a_number = privacy.pseudonymize_msisdn('+4520123456') AS transformed_once FROM regress_att.signed;
SELECT privacy.unprotect('regress_att.signed');

------------------------------------------------------------------------
-- A rewrite of a protected column by DDL fires no trigger
------------------------------------------------------------------------
SELECT privacy.grant_domain('default', 'regress_owner') IS NOT NULL AS granted;
SET ROLE regress_owner;
CREATE TABLE regress_att.retyped (id int, msisdn text, note text);
SELECT privacy.register_table('regress_att.retyped', 'regress_att');
SELECT privacy.register_column('regress_att.retyped', 'msisdn', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.protect('regress_att.retyped');
INSERT INTO regress_att.retyped VALUES (1, '+4520123456', 'n');
-- her USING expression would store the number in clear: refused
ALTER TABLE regress_att.retyped ALTER COLUMN msisdn TYPE text USING ('+4520123456');
SELECT msisdn = privacy.pseudonymize_msisdn('+4520123456') AS still_protected FROM regress_att.retyped;
-- a type change without USING, and a USING on a column not protected, pass
ALTER TABLE regress_att.retyped ALTER COLUMN msisdn TYPE varchar(20);
ALTER TABLE regress_att.retyped ALTER COLUMN note TYPE text USING (note || '!');
SELECT msisdn = privacy.pseudonymize_msisdn('+4520123456') AS still_protected, note FROM regress_att.retyped;
RESET ROLE;
SELECT privacy.unprotect('regress_att.retyped');

-- A typed table cannot be registered: ALTER TYPE ... CASCADE renames,
-- drops and retypes its columns under a command tag no check sees; nor can
-- a registered table be made one
CREATE TYPE regress_att.row_t AS (id int, msisdn text);
CREATE TABLE regress_att.typed OF regress_att.row_t;
SELECT privacy.register_table('regress_att.typed', 'regress_att');
CREATE TABLE regress_att.untyped (id int, msisdn text);
SELECT privacy.register_table('regress_att.untyped', 'regress_att');
ALTER TABLE regress_att.untyped OF regress_att.row_t;
SELECT reloftype = 0 AS still_untyped FROM pg_class WHERE oid = 'regress_att.untyped'::regclass;
-- (one registered before 0.17.0 refused them: catalog_problems names it)
ALTER EVENT TRIGGER pg_privacy_protect_ddl_end DISABLE;
ALTER TABLE regress_att.untyped OF regress_att.row_t;
ALTER EVENT TRIGGER pg_privacy_protect_ddl_end ENABLE;
SELECT problem FROM privacy.catalog_problems WHERE table_name = 'regress_att.untyped'::regclass;
ALTER TABLE regress_att.untyped NOT OF;
SELECT privacy.unregister_table('regress_att.untyped');

-- Clean up
DROP SCHEMA regress_att CASCADE;
DELETE FROM privacy.domain_grant WHERE grantee::text LIKE 'regress\_%';
DELETE FROM privacy.identifier_kind WHERE name LIKE 'regress\_%';
DROP ROLE regress_member;
DROP ROLE regress_heir;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA privacy FROM regress_owner, regress_granted;
DROP ROLE regress_owner;
DROP ROLE regress_granted;
SELECT privacy.drop_purpose('regress_att');
