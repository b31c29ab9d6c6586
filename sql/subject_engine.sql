-- The subject engine's per-backend state: the statements it builds from
-- the catalog, the protection check and whether a foreign key references a
-- table are kept per backend, and a change of the catalog in the middle of
-- a session is seen by the next export or erasure of that session.
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_privacy;
RESET client_min_messages;
SET TimeZone = 'UTC';

CREATE SCHEMA regress_eng;
SELECT privacy.define_purpose('regress_eng_p', 'contract');
CREATE TABLE regress_eng.account (account_id bigint PRIMARY KEY, email text, note text);
CREATE TABLE regress_eng.ticket (ticket_id int, account_id bigint, contact text);
CREATE TABLE regress_eng.mail (addr text, sent_at timestamptz);
SELECT privacy.register_table('regress_eng.account', 'regress_eng_p');
SELECT privacy.register_column('regress_eng.account', 'account_id', 'customer_number', identifies => 'customer');
SELECT privacy.register_column('regress_eng.account', 'email', 'email', identifies => 'email');
SELECT privacy.register_table('regress_eng.ticket', 'regress_eng_p');
SELECT privacy.register_column('regress_eng.ticket', 'account_id', 'customer_number', identifies => 'customer');
SELECT privacy.register_table('regress_eng.mail', 'regress_eng_p');
SELECT privacy.register_column('regress_eng.mail', 'addr', 'email', identifies => 'email', protect => 'email_pseudonym');
SELECT privacy.protect('regress_eng.mail');
INSERT INTO regress_eng.account VALUES
  (1, 'one@example.dk', 'a'), (2, 'two@example.dk', 'b'), (3, 'three@example.dk', 'c'), (4, 'four@example.dk', 'd');
INSERT INTO regress_eng.ticket VALUES
  (10, 1, NULL), (11, NULL, 'ONE@example.dk'), (20, 2, NULL), (21, NULL, 'two@example.dk');
INSERT INTO regress_eng.mail VALUES ('one@example.dk', now()), ('four@example.dk', now());

-- The export and erasure build and keep their statements: the ticket
-- without an account number is not found while its contact column is not
-- declared.
SELECT e->>'table' AS tbl, jsonb_array_length(e->'rows') AS n
  FROM jsonb_array_elements(privacy.export_subject('customer', '1')->'tables') e ORDER BY 1;

-- The catalog changes in the middle of the session: the next export and
-- erasure of this session search the new column.
SELECT privacy.register_column('regress_eng.ticket', 'contact', 'email', identifies => 'email');
SELECT e->>'table' AS tbl, jsonb_array_length(e->'rows') AS n
  FROM jsonb_array_elements(privacy.export_subject('customer', '1')->'tables') e ORDER BY 1;
SELECT table_name, action, rows FROM privacy.erase_subject('customer', '1') ORDER BY 1, 2;
SELECT ticket_id FROM regress_eng.ticket ORDER BY 1;

-- What the export says about each table is kept too.  A declaration
-- written by hand, not through a catalog function, reaches the next
-- export of the session (the declaration tables' trigger), and
-- a change rolled back is gone again.
SELECT e->>'table' AS tbl, e->>'purpose_description' AS description, e->>'legal_basis_article' AS article,
       e->'retention' AS retention, e->>'source' AS source
  FROM jsonb_array_elements(privacy.export_subject('customer', '4')->'tables') e ORDER BY 1;
UPDATE privacy.purpose SET description = 'changed by hand' WHERE name = 'regress_eng_p';
INSERT INTO privacy.subject_table (tbl, source) SELECT 'regress_eng.mail', 'a mail system'
 WHERE NOT EXISTS (SELECT FROM privacy.subject_table WHERE tbl = 'regress_eng.mail'::regclass);
SELECT e->>'table' AS tbl, e->>'purpose_description' AS description, e->>'source' AS source
  FROM jsonb_array_elements(privacy.export_subject('customer', '4')->'tables') e ORDER BY 1;
BEGIN;
UPDATE privacy.legal_basis SET article = 'changed in a transaction' WHERE name = 'contract';
SELECT DISTINCT e->>'legal_basis_article' AS article
  FROM jsonb_array_elements(privacy.export_subject('customer', '4')->'tables') e;
ROLLBACK;
SELECT DISTINCT e->>'legal_basis_article' AS article
  FROM jsonb_array_elements(privacy.export_subject('customer', '4')->'tables') e;
-- A protection rule written by hand reaches the table's protect trigger in
-- this session too: a row that declares a table drops the table's cached
-- state, as the catalog functions do.
INSERT INTO regress_eng.mail VALUES ('six@example.dk', now()) RETURNING addr <> 'six@example.dk' AS protected;
BEGIN;
UPDATE privacy.registered_column SET protect = 'null' WHERE tbl = 'regress_eng.mail'::regclass AND col = 'addr';
INSERT INTO regress_eng.mail VALUES ('seven@example.dk', now()) RETURNING addr IS NULL AS nulled_by_the_new_rule;
ROLLBACK;
DELETE FROM regress_eng.mail WHERE addr <> privacy.pseudonymize_email('four@example.dk');
-- So do declarations written where ordinary triggers stay silent
-- (session_replication_role = replica, as logical replication's apply
-- writes): the declaration tables' triggers are enabled ALWAYS.
SELECT c.relname, t.tgname, t.tgenabled FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
 WHERE t.tgname IN ('catalog_changed', 'catalog_truncated') ORDER BY 1, 2;
SET session_replication_role = replica;
UPDATE privacy.purpose SET description = 'changed as a replica' WHERE name = 'regress_eng_p';
RESET session_replication_role;
SELECT DISTINCT e->>'purpose_description' AS description
  FROM jsonb_array_elements(privacy.export_subject('customer', '4')->'tables') e;
BEGIN;
INSERT INTO regress_eng.mail VALUES ('seven@example.dk', now()) RETURNING addr <> 'seven@example.dk' AS protected;
SET LOCAL session_replication_role = replica;
UPDATE privacy.registered_column SET protect = 'null' WHERE tbl = 'regress_eng.mail'::regclass AND col = 'addr';
SET LOCAL session_replication_role = origin;
INSERT INTO regress_eng.mail VALUES ('eight@example.dk', now()) RETURNING addr IS NULL AS nulled_by_the_rule_written_as_replica;
ROLLBACK;
UPDATE privacy.purpose SET description = NULL WHERE name = 'regress_eng_p';

-- The statements name their tables by schema: a schema renamed in the
-- middle of the session, the next export and erasure build them again.
ALTER SCHEMA regress_eng RENAME TO regress_eng_renamed;
SELECT e->>'table' AS tbl FROM jsonb_array_elements(privacy.export_subject('customer', '4')->'tables') e ORDER BY 1;
SELECT table_name, action, rows FROM privacy.erase_subject('customer', '4', dry_run => true) ORDER BY 1, 2;
ALTER SCHEMA regress_eng_renamed RENAME TO regress_eng;
SELECT e->>'table' AS tbl FROM jsonb_array_elements(privacy.export_subject('customer', '4')->'tables') e ORDER BY 1;

-- The trigger function is an AFTER trigger only.
CREATE TABLE regress_eng.scratch (x int);
CREATE TRIGGER misuse BEFORE INSERT ON regress_eng.scratch
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._catalog_changed();
INSERT INTO regress_eng.scratch VALUES (1);
DROP TRIGGER misuse ON regress_eng.scratch;
CREATE TRIGGER misuse AFTER INSERT ON regress_eng.scratch
  FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._catalog_changed();
INSERT INTO regress_eng.scratch VALUES (1);
DROP TABLE regress_eng.scratch;

-- No foreign key references account yet (remembered by the erasure); one
-- is added: the next erasure keeps a referenced row instead of failing.
SELECT table_name, action, rows FROM privacy.erase_subject('customer', '2') ORDER BY 1, 2;
CREATE TABLE regress_eng.contract (account_id bigint REFERENCES regress_eng.account);
INSERT INTO regress_eng.contract VALUES (3);
SELECT table_name, action, rows, reason FROM privacy.erase_subject('customer', '3') ORDER BY 1, 2;
SELECT account_id FROM regress_eng.account ORDER BY 1;

-- While a foreign key references account, an erasure tries deleting an
-- account in a subtransaction (account 3 above is kept so), which takes a
-- transaction id.  After 32 such tries in one transaction, it first looks
-- whether a row of another table holds the account's key, and deletes an
-- account nothing references without one: a batch of 60 erasures takes 32
-- subtransaction ids, not 60 (PostgreSQL keeps 64 per transaction in
-- shared memory; past them every other session's snapshots slow down).
INSERT INTO regress_eng.account SELECT i, 'batch' || i || '@example.dk', 'z' FROM generate_series(100, 159) i;
SELECT txid_current() AS xid_before \gset
BEGIN;
SELECT count(*) FILTER (WHERE e.action = 'delete') AS deleted, count(*) FILTER (WHERE e.action <> 'delete') AS other
  FROM generate_series(100, 159) i, privacy.erase_subject('customer', i::text) e;
COMMIT;
SELECT txid_current() - :xid_before AS transaction_ids;
SELECT count(*) AS batch_left FROM regress_eng.account WHERE account_id >= 100;
-- A foreign key that acts on delete (CASCADE here) is not told ahead: the
-- deletion is tried, and the referencing row goes with it.
CREATE TABLE regress_eng.cascade_child (account_id bigint REFERENCES regress_eng.account ON DELETE CASCADE);
INSERT INTO regress_eng.account VALUES (140, 'c140@example.dk', 'z');
INSERT INTO regress_eng.cascade_child VALUES (140);
SELECT privacy_internal._subject_fk_checks('regress_eng.account') AS fk_checks;
SELECT table_name, action, rows FROM privacy.erase_subject('customer', '140') ORDER BY 1, 2;
SELECT count(*) AS children_left FROM regress_eng.cascade_child;
DROP TABLE regress_eng.cascade_child;
-- The check of each constraint, built from the catalog: the keys read as
-- account's owner, the rows holding them looked for as contract's owner
SELECT x->>'fk' = 'regress_eng.contract'::regclass::oid::text AS fk, x->>'keys' AS keys, x->>'check' AS check
  FROM jsonb_array_elements(privacy_internal._subject_fk_checks('regress_eng.account')::jsonb) x;

-- The protection was checked and found in force (remembered); it is
-- switched off in the middle of the session: the next erasure refuses.
ALTER TABLE regress_eng.mail DISABLE TRIGGER zz_pg_privacy_protect;
SELECT table_name, action, rows FROM privacy.erase_subject('customer', '4') ORDER BY 1, 2;
ALTER TABLE regress_eng.mail ENABLE TRIGGER zz_pg_privacy_protect;
SELECT table_name, action, rows FROM privacy.erase_subject('customer', '4') ORDER BY 1, 2;
SELECT count(*) AS mails_left FROM regress_eng.mail;

-- A table declared for the first time in the middle of the session is
-- searched by the next export.
INSERT INTO regress_eng.account VALUES (5, 'five@example.dk', 'e');
SELECT e->>'table' AS tbl FROM jsonb_array_elements(privacy.export_subject('customer', '5')->'tables') e ORDER BY 1;
CREATE TABLE regress_eng.letter (account_id bigint, body text);
INSERT INTO regress_eng.letter VALUES (5, 'hello');
SELECT privacy.register_table('regress_eng.letter', 'regress_eng_p');
SELECT privacy.register_column('regress_eng.letter', 'account_id', 'customer_number', identifies => 'customer');
SELECT e->>'table' AS tbl FROM jsonb_array_elements(privacy.export_subject('customer', '5')->'tables') e ORDER BY 1;

-- What the cache keeps survives a change of an unrelated relation (a
-- temporary table, the statistics of another table) and goes with a
-- change of a registered one.  (One transaction: no autovacuum of a
-- registered table can come in between.)
BEGIN;
SELECT count(*) FROM privacy.erase_subject('customer', '999', dry_run => true);
SELECT privacy_internal._subject_cache_get('protected') IS NOT NULL AS kept;
CREATE TEMP TABLE regress_eng_unrelated (x int);
ANALYZE regress_eng_unrelated;
SELECT privacy_internal._subject_cache_get('protected') IS NOT NULL AS kept;
ALTER TABLE regress_eng.letter ADD COLUMN sent_at timestamptz;
SELECT privacy_internal._subject_cache_get('protected') IS NOT NULL AS kept;
COMMIT;

-- VACUUM and ANALYZE of a registered table (by hand or by autovacuum)
-- send the same invalidation as a change of the table: its shape is
-- checked, found unchanged, and what the cache keeps stays (the first
-- erasure after an autovacuum does not build everything again).  A change
-- of the shape made behind pg_privacy's back empties it: a trigger added
-- or disabled, a foreign key that references the table, a new owner, a
-- partition attached, a column's default, a check constraint.
CREATE ROLE regress_eng_other;
GRANT USAGE, CREATE ON SCHEMA regress_eng TO regress_eng_other;
CREATE TABLE regress_eng.parted (account_id bigint, at date) PARTITION BY RANGE (at);
CREATE TABLE regress_eng.parted_1 PARTITION OF regress_eng.parted FOR VALUES FROM ('2020-01-01') TO ('2021-01-01');
SELECT privacy.register_table('regress_eng.parted', 'regress_eng_p');
SELECT privacy.register_column('regress_eng.parted', 'account_id', 'customer_number', identifies => 'customer');
CREATE FUNCTION pg_temp.kept_after(ddl text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  PERFORM count(*) FROM privacy.erase_subject('customer', '999', dry_run => true);
  IF privacy_internal._subject_cache_get('protected') IS NULL THEN
    RAISE EXCEPTION 'nothing kept before: %', ddl;
  END IF;
  EXECUTE ddl;
  RETURN privacy_internal._subject_cache_get('protected') IS NOT NULL;
END $$;
-- (rows added first, so that VACUUM and ANALYZE do rewrite the tables'
-- pg_class rows, and send their invalidations: their figures change)
INSERT INTO regress_eng.letter (account_id, body) SELECT 900100 + g, 'x' FROM generate_series(1, 50) g;
INSERT INTO regress_eng.parted_1 SELECT 900100 + g, '2020-06-01' FROM generate_series(1, 50) g;
CREATE TEMP TABLE regress_eng_figures AS
  SELECT oid, reltuples FROM pg_class WHERE oid IN ('regress_eng.letter'::regclass, 'regress_eng.parted_1'::regclass);
SELECT count(*) FROM privacy.erase_subject('customer', '999', dry_run => true);
VACUUM ANALYZE regress_eng.account, regress_eng.letter, regress_eng.parted, regress_eng.parted_1;
SELECT count(*) AS figures_changed FROM pg_class c JOIN regress_eng_figures f ON f.oid = c.oid
 WHERE c.reltuples IS DISTINCT FROM f.reltuples;
SELECT privacy_internal._subject_cache_get('protected') IS NOT NULL AS kept_after_vacuum_analyze;
VACUUM (FULL) regress_eng.ticket;
SELECT privacy_internal._subject_cache_get('protected') IS NOT NULL AS kept_after_vacuum_full;
SELECT ddl, pg_temp.kept_after(ddl) AS kept FROM unnest(ARRAY[
  'ANALYZE regress_eng.parted',
  'CREATE TRIGGER t_noop BEFORE DELETE ON regress_eng.letter FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()',
  'ALTER TABLE regress_eng.letter DISABLE TRIGGER t_noop',
  'DROP TRIGGER t_noop ON regress_eng.letter',
  'CREATE TABLE regress_eng.refers (account_id bigint REFERENCES regress_eng.account)',
  'ALTER TABLE regress_eng.letter OWNER TO regress_eng_other',
  'ALTER TABLE regress_eng.letter OWNER TO CURRENT_USER',
  'CREATE TABLE regress_eng.parted_2 PARTITION OF regress_eng.parted FOR VALUES FROM (''2021-01-01'') TO (''2022-01-01'')',
  'ALTER TABLE regress_eng.parted DETACH PARTITION regress_eng.parted_2',
  'ALTER TABLE regress_eng.letter ALTER COLUMN body SET DEFAULT ''x''',
  'ALTER TABLE regress_eng.letter ADD CONSTRAINT body_short CHECK (length(body) < 1000)',
  'ALTER TABLE regress_eng.letter ALTER COLUMN body TYPE varchar(2000)',
  'CREATE INDEX ON regress_eng.letter (account_id)',
  'CREATE RULE r_noop AS ON DELETE TO regress_eng.letter DO ALSO NOTHING'
  ]) WITH ORDINALITY AS d(ddl, o) ORDER BY o;
-- What the SQL builders keep when PL/pgSQL calls them outside an engine
-- call (export_subject_chunks, in its caller's snapshot) is dropped at the
-- next invalidation of a registered table, VACUUM's too, as before shapes
-- were checked; once the engine has filled the cache again, a VACUUM
-- leaves it.
ALTER TABLE regress_eng.letter ALTER COLUMN body SET DEFAULT 'y';
SELECT count(*) FROM privacy.erase_subject('customer', '999', dry_run => true);
SELECT count(*) > 0 AS chunks FROM privacy.export_subject_chunks('customer', '5');
INSERT INTO regress_eng.letter (account_id, body) SELECT 900200 + g, 'x' FROM generate_series(1, 50) g;
VACUUM ANALYZE regress_eng.letter;
SELECT privacy_internal._subject_cache_get('protected') IS NOT NULL AS kept_after_chunks_and_vacuum;
SELECT count(*) FROM privacy.erase_subject('customer', '999', dry_run => true);
SELECT count(*) > 0 AS exported FROM jsonb_array_elements(privacy.export_subject('customer', '5')->'tables');
INSERT INTO regress_eng.letter (account_id, body) SELECT 900300 + g, 'x' FROM generate_series(1, 50) g;
VACUUM ANALYZE regress_eng.letter;
SELECT privacy_internal._subject_cache_get('protected') IS NOT NULL AS kept_after_engine_and_vacuum;
DROP RULE r_noop ON regress_eng.letter;
DELETE FROM regress_eng.letter WHERE account_id > 900000;
DROP TABLE regress_eng.refers, regress_eng.parted_2;
SELECT privacy.unregister_table('regress_eng.parted');
DROP TABLE regress_eng.parted;
REVOKE ALL ON SCHEMA regress_eng FROM regress_eng_other;
DROP ROLE regress_eng_other;

-- The search's limits, for export and erasure alike, and nothing is
-- erased when one is reached: a chain of accounts each linked to the next
-- needs more than 10 rounds; an account linked to 600 addresses has more
-- than 500 identifiers (54000, the statement never logged).
CREATE TABLE regress_eng.chain (a text, b text);
INSERT INTO regress_eng.chain SELECT 'c' || i, 'c' || (i + 1) FROM generate_series(1, 12) i;
SELECT privacy.register_table('regress_eng.chain', 'regress_eng_p');
SELECT privacy.register_column('regress_eng.chain', 'a', 'customer_number', identifies => 'customer');
SELECT privacy.register_column('regress_eng.chain', 'b', 'customer_number', identifies => 'customer');
SELECT privacy.export_subject('customer', 'c1');
SELECT count(*) FROM privacy.erase_subject('customer', 'c1');
SELECT count(*) AS chain_rows FROM regress_eng.chain;
DO $$
BEGIN
  PERFORM privacy.export_subject('customer', 'c1');
EXCEPTION WHEN program_limit_exceeded THEN
  RAISE NOTICE 'export: %', SQLSTATE;
END
$$;
SELECT jsonb_array_length(privacy.export_subject('customer', 'c4')->'identifiers') AS ids_from_c4;
CREATE TABLE regress_eng.fan (account text, email text);
INSERT INTO regress_eng.fan SELECT 'f1', 'f' || i || '@example.dk' FROM generate_series(1, 600) i;
SELECT privacy.register_table('regress_eng.fan', 'regress_eng_p');
SELECT privacy.register_column('regress_eng.fan', 'account', 'customer_number', identifies => 'customer');
SELECT privacy.register_column('regress_eng.fan', 'email', 'email', identifies => 'email');
SELECT privacy.export_subject('customer', 'f1');
SELECT count(*) FROM privacy.erase_subject('customer', 'f1');
SELECT count(*) AS fan_rows FROM regress_eng.fan;
-- declaring the linking column ends the fan-out: one identifier each
SELECT privacy.set_subject_table('regress_eng.fan', link_columns => ARRAY['account']::name[]);
SELECT jsonb_array_length(privacy.export_subject('customer', 'f1')->'identifiers') AS ids_from_f1;
SELECT privacy.unregister_table('regress_eng.chain'), privacy.unregister_table('regress_eng.fan');

-- A table's owner plants a deferred constraint trigger on the erasure's
-- DELETE: it would fire at commit as the superuser who erases, outside the
-- owner's restricted context.  The erasure refuses (55000), nothing is
-- erased, the trigger never runs.
CREATE ROLE regress_eng_mallory;
GRANT USAGE, CREATE ON SCHEMA regress_eng TO regress_eng_mallory;
SET ROLE regress_eng_mallory;
CREATE TABLE regress_eng.trap (id text);
INSERT INTO regress_eng.trap VALUES ('t1');
CREATE TABLE regress_eng.trap_log (who name, super boolean);
CREATE FUNCTION regress_eng.trap_fire() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO regress_eng.trap_log VALUES (current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user));
  RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER late AFTER DELETE ON regress_eng.trap
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION regress_eng.trap_fire();
RESET ROLE;
SELECT privacy.register_table('regress_eng.trap', 'regress_eng_p');
SELECT privacy.register_column('regress_eng.trap', 'id', 'customer_number', identifies => 'customer');
SELECT count(*) FROM privacy.erase_subject('customer', 't1');
SELECT count(*) AS trap_rows, (SELECT count(*) FROM regress_eng.trap_log) AS fired FROM regress_eng.trap;
-- made NOT DEFERRABLE, it fires inside the erasure, as the owner
SET ROLE regress_eng_mallory;
DROP TRIGGER late ON regress_eng.trap;
CREATE CONSTRAINT TRIGGER late AFTER DELETE ON regress_eng.trap
  NOT DEFERRABLE FOR EACH ROW EXECUTE FUNCTION regress_eng.trap_fire();
RESET ROLE;
SELECT table_name, action, rows FROM privacy.erase_subject('customer', 't1');
SELECT who, super FROM regress_eng.trap_log;
SELECT privacy.unregister_table('regress_eng.trap');

-- The same trigger planted during the erasure, by a trigger of the owner's
-- on the erasure's first statement (the deletion of the subject's rows):
-- the next statement on the table (the scrub of its mentions) sees it and
-- refuses (55000), and the whole erasure is rolled back; the trigger never
-- fires as the superuser who erases.
TRUNCATE regress_eng.trap_log;
SET ROLE regress_eng_mallory;
DROP TRIGGER late ON regress_eng.trap;
ALTER TABLE regress_eng.trap ADD COLUMN friend text;
INSERT INTO regress_eng.trap VALUES ('t2', NULL), ('t9', 't2');
CREATE FUNCTION regress_eng.trap_plant() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_trigger WHERE tgname = 'planted') THEN
    CREATE CONSTRAINT TRIGGER planted AFTER UPDATE ON regress_eng.trap
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION regress_eng.trap_fire();
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER plant AFTER DELETE ON regress_eng.trap FOR EACH ROW EXECUTE FUNCTION regress_eng.trap_plant();
RESET ROLE;
SELECT privacy.register_table('regress_eng.trap', 'regress_eng_p');
SELECT privacy.register_column('regress_eng.trap', 'id', 'customer_number', identifies => 'customer');
SELECT privacy.register_column('regress_eng.trap', 'friend', 'customer_number', identifies => 'customer', link => 'mention');
SELECT count(*) FROM privacy.erase_subject('customer', 't2');
SELECT id, friend FROM regress_eng.trap ORDER BY id;
SELECT count(*) AS fired FROM regress_eng.trap_log;
SELECT count(*) AS planted FROM pg_trigger WHERE tgname = 'planted';
SELECT privacy.unregister_table('regress_eng.trap');

-- A table of another owner references account: once a transaction's
-- erasures have tried 32 deletions, the erasure looks for her rows as
-- her, before it deletes.  A row of hers that holds the account's key
-- keeps the account.  Her own forced row-level security does not hide one
-- from that look, as it does not from PostgreSQL's check of the
-- constraint: the account is kept the same.
GRANT REFERENCES ON regress_eng.account TO regress_eng_mallory;
INSERT INTO regress_eng.account SELECT i, 'm' || i || '@example.dk', 'z' FROM generate_series(150, 151) i;
INSERT INTO regress_eng.account SELECT i, 'm' || i || '@example.dk', 'z' FROM generate_series(200, 263) i;
SET ROLE regress_eng_mallory;
CREATE TABLE regress_eng.m_contract (account_id bigint REFERENCES regress_eng.account);
INSERT INTO regress_eng.m_contract VALUES (150), (151);
RESET ROLE;
BEGIN;
SELECT count(*) AS tries FROM generate_series(200, 231) i, privacy.erase_subject('customer', i::text) e;
SELECT table_name, action, rows, reason FROM privacy.erase_subject('customer', '150') ORDER BY 1, 2;
COMMIT;
SET ROLE regress_eng_mallory;
ALTER TABLE regress_eng.m_contract ENABLE ROW LEVEL SECURITY;
ALTER TABLE regress_eng.m_contract FORCE ROW LEVEL SECURITY;
CREATE POLICY hide ON regress_eng.m_contract USING (account_id <> 151);
RESET ROLE;
BEGIN;
SELECT count(*) AS tries FROM generate_series(232, 263) i, privacy.erase_subject('customer', i::text) e;
SELECT table_name, action, rows FROM privacy.erase_subject('customer', '151') ORDER BY 1, 2;
ROLLBACK;
SELECT account_id FROM regress_eng.account WHERE account_id IN (150, 151) ORDER BY 1;
-- (rolled back above) in a transaction of its own the erasure tries, and
-- keeps the account too
SELECT table_name, action, rows FROM privacy.erase_subject('customer', '151') ORDER BY 1, 2;
DROP TABLE regress_eng.m_contract;
-- Keys of char(n) are compared as the constraint compares them (as
-- bpchar, not cut to one character by a cast to char): the reference is
-- found, and the row kept.
CREATE TABLE regress_eng.shop (code char(8) PRIMARY KEY, email text);
CREATE TABLE regress_eng.shop_order (code char(8) REFERENCES regress_eng.shop);
SELECT privacy.register_table('regress_eng.shop', 'regress_eng_p');
SELECT privacy.register_column('regress_eng.shop', 'email', 'email', identifies => 'email');
INSERT INTO regress_eng.shop VALUES ('C0000001', 'shop1@example.dk');
INSERT INTO regress_eng.shop_order VALUES ('C0000001');
INSERT INTO regress_eng.account SELECT i, 'm' || i || '@example.dk', 'z' FROM generate_series(300, 331) i;
BEGIN;
SELECT count(*) AS tries FROM generate_series(300, 331) i, privacy.erase_subject('customer', i::text) e;
SELECT table_name, action, rows FROM privacy.erase_subject('email', 'shop1@example.dk') ORDER BY 1, 2;
ROLLBACK;
SELECT x->>'check' AS check FROM jsonb_array_elements(privacy_internal._subject_fk_checks('regress_eng.shop')::jsonb) x;
-- The checks are kept per session until a table they name changes: the
-- referencing table and its column renamed, the next look-ahead uses the
-- new names.
ALTER TABLE regress_eng.shop_order RENAME TO shop_order_renamed;
ALTER TABLE regress_eng.shop_order_renamed RENAME COLUMN code TO shop_code;
INSERT INTO regress_eng.account SELECT i, 'm' || i || '@example.dk', 'z' FROM generate_series(332, 363) i;
BEGIN;
SELECT count(*) AS tries FROM generate_series(332, 363) i, privacy.erase_subject('customer', i::text) e;
SELECT table_name, action, rows FROM privacy.erase_subject('email', 'shop1@example.dk') ORDER BY 1, 2;
ROLLBACK;
SELECT privacy.unregister_table('regress_eng.shop');

-- The restriction check compares identifiers byte for byte, whatever the
-- columns' collations (here two of its owner columns differ).
CREATE TABLE regress_eng.coll (email text COLLATE "C", alt_email text COLLATE "POSIX", note text);
SELECT privacy.register_table('regress_eng.coll', 'regress_eng_p');
SELECT privacy.register_column('regress_eng.coll', 'email', 'email', identifies => 'email');
SELECT privacy.register_column('regress_eng.coll', 'alt_email', 'email', identifies => 'email');
INSERT INTO regress_eng.coll VALUES ('coll1@example.dk', 'coll2@example.dk', 'a'), ('other@example.dk', NULL, 'b');
SELECT privacy.restrict_subject('email', 'coll2@example.dk', 'accuracy contested');
UPDATE regress_eng.coll SET note = 'x' WHERE email = 'other@example.dk' RETURNING note;
UPDATE regress_eng.coll SET note = 'x' WHERE email = 'coll1@example.dk';
SELECT privacy.unrestrict_subject('email', 'coll2@example.dk');
SELECT privacy.unregister_table('regress_eng.coll');

-- An invalidation in the middle of an erasure (here: the owner's trigger
-- on the first table alters the second, a registered table): what the
-- erasure builds after it is used, not kept (it could come from a
-- snapshot older than the change), and the erasure is whole.  The next
-- erasure keeps what it builds.
CREATE TABLE regress_eng.w_first (id text);
CREATE TABLE regress_eng.w_last (id text);
INSERT INTO regress_eng.w_first VALUES ('w1');
INSERT INTO regress_eng.w_last VALUES ('w1'), ('w2');
CREATE FUNCTION regress_eng.w_alter() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  ALTER TABLE regress_eng.w_last SET (fillfactor = 90);
  RETURN OLD;
END $$;
CREATE TRIGGER w_alter BEFORE DELETE ON regress_eng.w_first FOR EACH ROW EXECUTE FUNCTION regress_eng.w_alter();
SELECT privacy.register_table(t, 'regress_eng_p') FROM unnest(ARRAY['regress_eng.w_first', 'regress_eng.w_last']::regclass[]) t;
SELECT privacy.register_column(t, 'id', 'customer_number', identifies => 'customer')
  FROM unnest(ARRAY['regress_eng.w_first', 'regress_eng.w_last']::regclass[]) t;
CREATE FUNCTION pg_temp.w_kept() RETURNS boolean LANGUAGE sql AS $$
  SELECT privacy_internal._subject_cache_get(v || ':' || 'regress_eng.w_last'::regclass::oid || '.1:'
                                            || current_setting('pg_privacy.default_country')) IS NOT NULL
    FROM unnest(ARRAY['ctid', 'delete']) v ORDER BY v LIMIT 1 $$;
SELECT table_name, action, rows FROM privacy.erase_subject('customer', 'w1') ORDER BY 1, 2;
SELECT pg_temp.w_kept() AS kept_after_the_invalidation;
SELECT id FROM regress_eng.w_first UNION ALL SELECT id FROM regress_eng.w_last ORDER BY 1;
SELECT table_name, action, rows FROM privacy.erase_subject('customer', 'w2') ORDER BY 1, 2;
SELECT pg_temp.w_kept() AS kept_by_the_next_erasure;
-- A table a registered table references, not registered itself, is
-- locked by the erasure too, named at each erasure: renamed in the middle
-- of the session, the next erasure locks it under its new name.
CREATE TABLE regress_eng.w_plan (plan_id int PRIMARY KEY);
INSERT INTO regress_eng.w_plan VALUES (1);
ALTER TABLE regress_eng.w_last ADD COLUMN plan_id int REFERENCES regress_eng.w_plan;
INSERT INTO regress_eng.w_last VALUES ('w3', 1), ('w4', 1);
SELECT table_name, action, rows FROM privacy.erase_subject('customer', 'w3') ORDER BY 1, 2;
ALTER TABLE regress_eng.w_plan RENAME TO w_plan_renamed;
SELECT table_name, action, rows FROM privacy.erase_subject('customer', 'w4') ORDER BY 1, 2;
SELECT privacy.unregister_table(t) FROM unnest(ARRAY['regress_eng.w_first', 'regress_eng.w_last']::regclass[]) t;

-- Clean up
SET client_min_messages = warning;
SELECT privacy.unprotect('regress_eng.mail');
SELECT privacy.unregister_table(t) FROM unnest(ARRAY['regress_eng.account', 'regress_eng.ticket', 'regress_eng.mail', 'regress_eng.letter']::regclass[]) t;
DROP SCHEMA regress_eng CASCADE;
DROP ROLE regress_eng_mallory;
DELETE FROM privacy.restriction
 WHERE subject_ref IN (privacy_internal._audit_ref('customer', '3'), privacy_internal._audit_ref('email', 'three@example.dk'),
                       privacy_internal._audit_ref('customer', '150'), privacy_internal._audit_ref('email', 'm150@example.dk'),
                       privacy_internal._audit_ref('customer', '151'), privacy_internal._audit_ref('email', 'm151@example.dk'));
RESET client_min_messages;
