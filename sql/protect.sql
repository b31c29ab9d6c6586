-- The protect trigger: raw identifiers never reach the table, under
-- INSERT, COPY and UPDATE, on plain and partitioned tables.
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_privacy;
RESET client_min_messages;

CREATE SCHEMA regress_prot;
SELECT privacy.define_purpose('regress_traffic', 'legal_obligation');
CREATE TABLE regress_prot.cdr (
  id         bigint,
  a_number   text NOT NULL,
  b_number   varchar(20),
  email      text,
  imei       text,
  country    text,
  started_at timestamptz NOT NULL
) PARTITION BY RANGE (started_at);
CREATE TABLE regress_prot.cdr_01 PARTITION OF regress_prot.cdr
  FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
SELECT privacy.register_table('regress_prot.cdr', 'regress_traffic');

-- protect() needs a declared transformation
SELECT privacy.protect('regress_prot.cdr');
SELECT privacy.register_column('regress_prot.cdr', 'a_number', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.register_column('regress_prot.cdr', 'b_number', 'phone', identifies => 'msisdn',
                               link => 'mention', protect => 'msisdn_fpe');
SELECT privacy.register_column('regress_prot.cdr', 'email', 'email', identifies => 'email', protect => 'email_pseudonym');
SELECT privacy.register_column('regress_prot.cdr', 'imei', 'online_identifier', protect => 'null');
SELECT privacy.register_column('regress_prot.cdr', 'country', 'location', protect => 'country');
SELECT privacy.protect('regress_prot.cdr');
SELECT privacy.protect('regress_prot.cdr');
SELECT * FROM privacy.protected_tables WHERE table_name = 'regress_prot.cdr'::regclass;

-- INSERT: each column gets exactly what the function gives
INSERT INTO regress_prot.cdr VALUES
  (1, '+45 20 12 34 56', '0045 30123456', 'Ann@Example.dk', '35-209900-176148-1', '+4640123456', '2026-01-05');
SELECT a_number = privacy.pseudonymize_msisdn('+4520123456') AS a_ok,
       b_number = privacy.pseudonymize_msisdn('+4530123456') AS b_ok,
       email = privacy.pseudonymize_email('ann@example.dk') AS email_ok,
       imei IS NULL AS imei_nulled,
       country
  FROM regress_prot.cdr WHERE id = 1;

-- COPY goes through the same trigger
COPY regress_prot.cdr (id, a_number, b_number, email, imei, country, started_at) FROM stdin;
2	20123456	+46 70 123 45 67	bo@example.com	x	DK	2026-01-06
3	+4520123456	\N	\N	\N	\N	2026-01-07
\.
SELECT id, a_number = privacy.pseudonymize_msisdn('+4520123456') AS a_ok,
       b_number IS NOT DISTINCT FROM privacy.pseudonymize_msisdn(CASE id WHEN 2 THEN '+46701234567' END) AS b_ok,
       imei IS NULL AS imei_nulled, country
  FROM regress_prot.cdr WHERE id IN (2, 3) ORDER BY id;

-- No raw number is stored anywhere in the table
SELECT count(*) AS raw_rows FROM regress_prot.cdr
 WHERE a_number IN ('+4520123456', '20123456') OR b_number IN ('+4530123456', '+46701234567');

-- UPDATE: a changed column is protected; an untouched one is not
-- protected twice
UPDATE regress_prot.cdr SET started_at = started_at + interval '1 hour' WHERE id = 1;
SELECT a_number = privacy.pseudonymize_msisdn('+4520123456') AS unchanged_once
  FROM regress_prot.cdr WHERE id = 1;
UPDATE regress_prot.cdr SET a_number = '+4599887766', imei = 'again' WHERE id = 1;
SELECT a_number = privacy.pseudonymize_msisdn('+4599887766') AS changed_ok, imei IS NULL AS imei_nulled
  FROM regress_prot.cdr WHERE id = 1;

-- A partition created later is protected too
CREATE TABLE regress_prot.cdr_02 PARTITION OF regress_prot.cdr
  FOR VALUES FROM ('2026-02-01') TO ('2026-03-01');
INSERT INTO regress_prot.cdr (id, a_number, started_at) VALUES (4, '+4520123456', '2026-02-02');
SELECT a_number = privacy.pseudonymize_msisdn('+4520123456') AS new_partition_ok
  FROM regress_prot.cdr_02 WHERE id = 4;
-- and a partition attached later, with columns in another order
CREATE TABLE regress_prot.cdr_03 (started_at timestamptz NOT NULL, country text, imei text,
  email text, b_number varchar(20), a_number text NOT NULL, id bigint);
ALTER TABLE regress_prot.cdr ATTACH PARTITION regress_prot.cdr_03
  FOR VALUES FROM ('2026-03-01') TO ('2026-04-01');
INSERT INTO regress_prot.cdr (id, a_number, email, started_at) VALUES (5, '+4520123456', 'ann@example.dk', '2026-03-02');
SELECT a_number = privacy.pseudonymize_msisdn('+4520123456') AS attached_ok,
       email = privacy.pseudonymize_email('ann@example.dk') AS attached_email_ok
  FROM regress_prot.cdr_03 WHERE id = 5;

-- Bad input is refused and nothing is written
INSERT INTO regress_prot.cdr (id, a_number, started_at) VALUES (6, 'call me', '2026-01-08');
INSERT INTO regress_prot.cdr (id, a_number, started_at) VALUES (6, '+298 123456', '2026-01-08');
INSERT INTO regress_prot.cdr (id, a_number, email, started_at) VALUES (6, '+4520123456', 'nobody', '2026-01-08');
INSERT INTO regress_prot.cdr (id, a_number, country, started_at) VALUES (6, '+4520123456', 'Q1', '2026-01-08');
COPY regress_prot.cdr (id, a_number, started_at) FROM stdin;
7	+4520123456	2026-01-09
8	+45 2O12 3456	2026-01-09
\.
SELECT count(*) AS none_written FROM regress_prot.cdr WHERE id >= 6;

-- Declarations of a protected table cannot be withdrawn under it
SELECT privacy.unregister_column('regress_prot.cdr', 'imei');
SELECT privacy.unregister_table('regress_prot.cdr');
-- A declaration added later is picked up by this session at once
ALTER TABLE regress_prot.cdr ADD COLUMN cell_id text;
INSERT INTO regress_prot.cdr (id, a_number, cell_id, started_at) VALUES (9, '+4520123456', 'DK-CPH-0042', '2026-01-10');
-- (refused while the column holds a value the trigger never saw)
SELECT privacy.register_column('regress_prot.cdr', 'cell_id', 'location', protect => 'null');
UPDATE regress_prot.cdr SET cell_id = NULL WHERE id = 9;
SELECT privacy.register_column('regress_prot.cdr', 'cell_id', 'location', protect => 'null');
INSERT INTO regress_prot.cdr (id, a_number, cell_id, started_at) VALUES (9, '+4520123456', 'DK-CPH-0043', '2026-01-10');
SELECT cell_id FROM regress_prot.cdr WHERE id = 9 ORDER BY 1 NULLS LAST;
-- pg_privacy.default_country takes only known countries
SET pg_privacy.default_country = 'XX';
SET pg_privacy.default_country = 'denmark';
SET pg_privacy.default_country = 'se';
SHOW pg_privacy.default_country;
INSERT INTO regress_prot.cdr (id, a_number, started_at) VALUES (13, '070 123 45 67', '2026-01-13');
SELECT a_number = privacy.pseudonymize_msisdn('+46701234567') AS swedish_default FROM regress_prot.cdr WHERE id = 13;
RESET pg_privacy.default_country;

-- A renamed column stays protected
ALTER TABLE regress_prot.cdr RENAME COLUMN email TO contact_email;
INSERT INTO regress_prot.cdr (id, a_number, contact_email, started_at) VALUES (10, '+4520123456', 'bo@example.com', '2026-01-10');
SELECT contact_email = privacy.pseudonymize_email('bo@example.com') AS renamed_ok
  FROM regress_prot.cdr WHERE id = 10;

-- A value that would not fit the column is refused, not cut
CREATE TABLE regress_prot.small (e varchar(10));
SELECT privacy.register_table('regress_prot.small', 'regress_traffic');
SELECT privacy.register_column('regress_prot.small', 'e', 'email', protect => 'email_pseudonym');
SELECT privacy.protect('regress_prot.small');
INSERT INTO regress_prot.small VALUES ('a@b.dk');

-- The trigger function is not callable on its own, nor as another kind of trigger
SELECT privacy_internal._protect_trigger();
CREATE TABLE regress_prot.misuse (x text);
CREATE TRIGGER t AFTER INSERT ON regress_prot.misuse FOR EACH ROW EXECUTE FUNCTION privacy_internal._protect_trigger();
INSERT INTO regress_prot.misuse VALUES ('x');

-- A role that may write the table uses the trigger without any grant on
-- the catalog or the key functions
CREATE ROLE regress_prot_writer;
GRANT USAGE ON SCHEMA regress_prot TO regress_prot_writer;
GRANT INSERT, SELECT ON regress_prot.cdr TO regress_prot_writer;
SET ROLE regress_prot_writer;
INSERT INTO regress_prot.cdr (id, a_number, started_at) VALUES (11, '+4520123456', '2026-01-11');
SELECT privacy.pseudonymize_msisdn('+4520123456');
RESET ROLE;
SELECT a_number = privacy.pseudonymize_msisdn('+4520123456') AS writer_ok FROM regress_prot.cdr WHERE id = 11;

-- unprotect
SELECT privacy.unprotect('regress_prot.cdr');
SELECT privacy.unprotect('regress_prot.cdr');
INSERT INTO regress_prot.cdr (id, a_number, started_at) VALUES (12, '+4520123456', '2026-01-12');
SELECT a_number FROM regress_prot.cdr WHERE id = 12;

-- Rows stored before protection are converted by rewrite_existing, as the
-- table's owner: a trigger the owner planted runs with the owner's rights,
-- not the superuser's.
CREATE ROLE regress_prot_owner;
CREATE TABLE regress_prot.legacy (id int, phone text, mail text, note text);
INSERT INTO regress_prot.legacy VALUES (1, '+4520123456', 'Ann@Example.dk', 'x'), (2, NULL, 'bo@example.com', 'y');
CREATE TABLE regress_prot.who (usr name, is_super boolean);
CREATE FUNCTION regress_prot.spy() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO regress_prot.who SELECT current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user);
  RETURN NEW;
END $$;
CREATE TRIGGER a_spy BEFORE UPDATE ON regress_prot.legacy FOR EACH ROW EXECUTE FUNCTION regress_prot.spy();
GRANT USAGE ON SCHEMA regress_prot TO regress_prot_owner;
GRANT INSERT ON regress_prot.who TO regress_prot_owner;
ALTER TABLE regress_prot.legacy OWNER TO regress_prot_owner;
-- the owner of a protected table produces its domain's pseudonyms: granted
SELECT privacy.grant_domain('default', 'regress_prot_owner');
SELECT privacy.register_table('regress_prot.legacy', 'regress_traffic');
SELECT privacy.register_column('regress_prot.legacy', 'phone', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.register_column('regress_prot.legacy', 'mail', 'email', identifies => 'email', protect => 'email_pseudonym');
SELECT privacy.protect('regress_prot.legacy', rewrite_existing => true);
SELECT id, phone = privacy.pseudonymize_msisdn('+4520123456') AS phone_ok, phone IS NULL AS phone_null,
       mail = privacy.pseudonymize_email(CASE id WHEN 1 THEN 'ann@example.dk' ELSE 'bo@example.com' END) AS mail_ok,
       note
  FROM regress_prot.legacy ORDER BY id;
SELECT DISTINCT usr, is_super FROM regress_prot.who;
-- Once protected, a second rewrite would transform twice: refused.
SELECT privacy.protect('regress_prot.legacy', rewrite_existing => true);
-- A failing rewrite changes nothing and leaves the table unprotected.
CREATE TABLE regress_prot.bad (phone text);
INSERT INTO regress_prot.bad VALUES ('+4520123456'), ('not a number');
SELECT privacy.register_table('regress_prot.bad', 'regress_traffic');
SELECT privacy.register_column('regress_prot.bad', 'phone', 'phone', protect => 'msisdn_fpe');
SELECT privacy.protect('regress_prot.bad', rewrite_existing => true);
SELECT phone FROM regress_prot.bad ORDER BY 1;
SELECT protected FROM privacy.protected_tables WHERE table_name = 'regress_prot.bad'::regclass;

-- _transform gives what the trigger stores
SELECT privacy_internal._transform('+45 20123456', 'msisdn_fpe', 'default') = privacy.pseudonymize_msisdn('+4520123456') AS fpe,
       privacy_internal._transform('x', 'pseudonym', 'd') = privacy.pseudonymize('x', 'd') AS pseudonym,
       privacy_internal._transform('x', 'null', 'default') IS NULL AS nulled,
       privacy_internal._transform('+4520123456', 'country', 'default') AS country;
SELECT privacy_internal._transform('x', 'scramble', 'default');

SELECT event, object, detail->>'rows_rewritten' AS rewritten FROM privacy.audit_log WHERE event LIKE 'protect.%' AND object LIKE 'regress\_prot.%' ORDER BY id;

DROP SCHEMA regress_prot CASCADE;
DROP ROLE regress_prot_writer;
SELECT privacy.revoke_domain('default', 'regress_prot_owner');
DROP OWNED BY regress_prot_owner;
DROP ROLE regress_prot_owner;
SELECT privacy.drop_purpose('regress_traffic');
