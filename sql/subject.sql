-- Data-subject rights: finding a subject through the catalog (linked
-- identifiers, reassigned numbers, protected columns), export with
-- counterparties masked, the streamed export, restriction, requests and
-- their deadlines, erasure with its report, and every error path.
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_privacy;
RESET client_min_messages;
SET TimeZone = 'Europe/Copenhagen';
-- this test's own audit entries are those after this point
SELECT coalesce(max(id), 0) AS audit_start FROM privacy.audit_log \gset

CREATE SCHEMA regress_subj;
SELECT privacy.define_purpose('regress_subj_customer', 'contract', recipients => ARRAY['bank']);
SELECT privacy.define_purpose('regress_subj_traffic', 'legal_obligation', description => 'traffic data');
SELECT privacy.define_purpose('regress_subj_news', 'consent');

CREATE TABLE regress_subj.customer (
  customer_id bigint PRIMARY KEY,
  name        text NOT NULL,
  email       text NOT NULL
);
CREATE TABLE regress_subj.subscription (
  customer_id bigint NOT NULL REFERENCES regress_subj.customer,
  msisdn      text NOT NULL,
  valid_from  date NOT NULL,
  valid_to    date
);
CREATE TABLE regress_subj.cdr (
  cdr_id     bigint,
  a_number   text NOT NULL,
  b_number   text,
  started_at timestamptz NOT NULL,
  price      numeric NOT NULL
) PARTITION BY RANGE (started_at);
CREATE TABLE regress_subj.cdr_2025 PARTITION OF regress_subj.cdr
  FOR VALUES FROM ('2025-01-01') TO ('2026-01-01');
CREATE TABLE regress_subj.newsletter (
  email      text NOT NULL,
  phone      text,
  signed_up  timestamptz NOT NULL
);

SELECT privacy.register_table('regress_subj.customer', 'regress_subj_customer');
SELECT privacy.register_column('regress_subj.customer', 'customer_id', 'customer_number', identifies => 'customer');
SELECT privacy.register_column('regress_subj.customer', 'name', 'name');
SELECT privacy.register_column('regress_subj.customer', 'email', 'email', identifies => 'email');
SELECT privacy.register_table('regress_subj.subscription', 'regress_subj_customer');
SELECT privacy.register_column('regress_subj.subscription', 'customer_id', 'customer_number', identifies => 'customer');
SELECT privacy.register_column('regress_subj.subscription', 'msisdn', 'phone', identifies => 'msisdn');
SELECT privacy.register_table('regress_subj.cdr', 'regress_subj_traffic');
SELECT privacy.register_column('regress_subj.cdr', 'a_number', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.register_column('regress_subj.cdr', 'b_number', 'phone', identifies => 'msisdn', link => 'mention',
                               protect => 'msisdn_fpe');
SELECT privacy.register_column('regress_subj.cdr', 'started_at', 'traffic');
SELECT privacy.register_column('regress_subj.cdr', 'price', 'traffic');
SELECT privacy.protect('regress_subj.cdr');
SELECT privacy.register_table('regress_subj.newsletter', 'regress_subj_news');
SELECT privacy.register_column('regress_subj.newsletter', 'email', 'email', identifies => 'email');
SELECT privacy.register_column('regress_subj.newsletter', 'phone', 'phone', identifies => 'msisdn');

-- Declaring how a subject is found: errors first
SELECT privacy.set_subject_table('regress_subj.cdr_2025', event_time => 'started_at');
SELECT privacy.set_subject_table('regress_subj.cdr', event_time => 'no_such');
SELECT privacy.set_subject_table('regress_subj.cdr', event_time => 'price');
SELECT privacy.set_subject_table('regress_subj.subscription', validity_column => 'msisdn');
SELECT privacy.set_subject_table('regress_subj.subscription', validity_column => 'valid_from', valid_from => 'valid_from');
SELECT privacy.set_subject_table('regress_subj.customer', link_columns => ARRAY['name']::name[]);
SELECT privacy.set_subject_table(NULL);
SELECT privacy.set_subject_table('regress_subj.subscription', validity_column => 'msisdn',
                                 valid_from => 'valid_from', valid_to => 'valid_to', source => 'orders');
SELECT privacy.set_subject_table('regress_subj.cdr', event_time => 'started_at', source => 'our network');
SELECT privacy.set_subject_table('regress_subj.newsletter', event_time => 'signed_up');

-- Ann (customer 1) had +4520000001 until 2025-06-01; then it went to Bob
-- (customer 2).  Ann also has +4520000003.  Cid (3) is someone else.
INSERT INTO regress_subj.customer VALUES
  (1, 'Ann Jensen', 'ann@example.dk'), (2, 'Bob Hansen', 'bob@example.dk'), (3, 'Cid Holm', 'cid@example.dk');
INSERT INTO regress_subj.subscription VALUES
  (1, '+4520000001', '2025-01-01', '2025-06-01'),
  (2, '+4520000001', '2025-08-01', NULL),
  (1, '+4520000003', '2025-01-01', NULL),
  (3, '+4520000009', '2025-01-01', NULL);
INSERT INTO regress_subj.cdr VALUES
  (1, '+4520000001', '+4520000009', '2025-03-01 10:00', 1.00),  -- Ann calls Cid
  (2, '+4520000001', '+4520000009', '2025-09-01 10:00', 2.00),  -- Bob calls Cid (same number, later)
  (3, '+4520000009', '+4520000003', '2025-04-01 10:00', 3.00),  -- Cid calls Ann
  (4, '+4520000003', NULL,          '2025-05-01 10:00', 4.00),  -- Ann's data session
  (5, '+4520000009', '+4520000001', '2025-10-01 10:00', 5.00);  -- Cid calls Bob
INSERT INTO regress_subj.newsletter VALUES
  (' Ann@Example.DK ', '20 00 00 03', '2025-02-01'),
  ('cid@example.dk', 'not a number', '2025-02-01');

-- Columns without an index for the lookup
SELECT table_name, column_name, lookup, suggested_index FROM privacy.missing_indexes
 WHERE table_name::text LIKE 'regress_subj.%' ORDER BY table_name::text, column_name;
CREATE INDEX ON regress_subj.subscription (privacy.lookup_value('msisdn', msisdn, 'DK'));
CREATE INDEX ON regress_subj.newsletter (privacy.lookup_value('email', email, 'DK'));
SELECT table_name, column_name FROM privacy.missing_indexes
 WHERE table_name::text LIKE 'regress_subj.%' ORDER BY table_name::text, column_name;

-- Bad input
SELECT privacy.export_subject('passport', 'X1');
SELECT privacy.export_subject(NULL, '1');
SELECT privacy.export_subject('email', '   ');
SELECT privacy.export_subject('email', 'no-at-sign');
SELECT privacy.export_subject('msisdn', '12ab');

-- A subject the database knows nothing about: an empty, valid export
SELECT e - 'generated_at' AS export FROM privacy.export_subject('customer', '99') e;

-- Ann's identifiers: customer 1 links her e-mail and both numbers; the
-- reassigned number only for her period; the newsletter row (found by the
-- e-mail) gives the number typed there, at its sign-up time.
SELECT i->>'kind' AS kind, i->>'value' AS value, i->'periods' AS periods
  FROM jsonb_array_elements(privacy.export_subject('customer', '1')->'identifiers') i;

-- A changed declaration takes effect at once (the generated SQL is
-- forgotten): with the e-mail linking neither in the customer row nor in
-- the newsletter row (found by its number), customer 1 no longer reaches it.
SELECT privacy.set_subject_table('regress_subj.customer', link_columns => ARRAY['customer_id']::name[]);
SELECT privacy.set_subject_table('regress_subj.newsletter', event_time => 'signed_up',
                                 link_columns => ARRAY['phone']::name[]);
SELECT i->>'kind' AS kind, i->>'value' AS value
  FROM jsonb_array_elements(privacy.export_subject('customer', '1')->'identifiers') i;
SELECT privacy.set_subject_table('regress_subj.customer');
SELECT privacy.set_subject_table('regress_subj.newsletter', event_time => 'signed_up');

-- Ann's export: her rows per table, with purpose, legal basis, recipients
-- and source; her own numbers in clear, counterparties masked; Cid's call
-- to her is a mention with Cid's number masked; Bob's calls are not hers.
SELECT t->>'table' AS "table", t->>'purpose' AS purpose, t->>'legal_basis_article' AS basis,
       t->'recipients' AS recipients, t->>'source' AS source, t->'rows' AS rows, t->'mentions' AS mentions
  FROM jsonb_array_elements(privacy.export_subject('customer', '1')->'tables') t;

-- Starting from the number: today it is Bob's ...
SELECT privacy.export_subject('msisdn', '20 00 00 01')->'subject' AS subject,
       jsonb_path_query_array(privacy.export_subject('msisdn', '20 00 00 01'), '$.tables[*].rows[*].customer_id') AS customers;
-- ... in March 2025 it was Ann's
SELECT jsonb_path_query_array(privacy.export_subject('msisdn', '+4520000001', at => '2025-03-15'),
                              '$.tables[*].rows[*].customer_id') AS customers;
-- Found through the protected column: the stored value is the pseudonym
SELECT count(*) AS stored_raw FROM regress_subj.cdr WHERE a_number = '+4520000003';

-- The streamed export: a header, then per table its metadata and chunks
SELECT part, section, table_name,
       CASE WHEN section IN ('rows', 'mentions') THEN jsonb_array_length(data) END AS n
  FROM privacy.export_subject_chunks('customer', '1', chunk_rows => 1);
SELECT count(*) FROM privacy.export_subject_chunks('customer', '1', chunk_rows => 0);

-- Restriction
SELECT privacy.restrict_subject('customer', '1', '');
SELECT privacy.restrict_subject('customer', '1', 'accuracy contested (Art. 18(1)(a))');
SELECT privacy.is_restricted('customer', '1') AS c1, privacy.is_restricted('email', 'ANN@example.dk') AS ann_email,
       privacy.is_restricted('msisdn', '+4520000003') AS ann_number, privacy.is_restricted('customer', '2') AS c2;
SELECT kind, span, reason, origin FROM privacy.restriction ORDER BY kind, span;
UPDATE regress_subj.customer SET name = 'Ann J.' WHERE customer_id = 1;
UPDATE regress_subj.cdr SET price = 9 WHERE cdr_id = 4;
UPDATE regress_subj.cdr_2025 SET price = 9 WHERE cdr_id = 4;
-- Bob's rows, and Bob's use of the number Ann once had, are not restricted
UPDATE regress_subj.customer SET name = 'Bob H.' WHERE customer_id = 2;
UPDATE regress_subj.cdr SET price = 2.5 WHERE cdr_id = 2;
-- One statement over many rows: refused when any of them is the
-- restricted subject's in its period (row 1: Ann's first number, in her
-- time), not for the same number outside it (rows 2 and 5: Bob's)
UPDATE regress_subj.cdr SET price = price WHERE cdr_id IN (1, 2, 3, 5);
UPDATE regress_subj.cdr SET price = price WHERE cdr_id IN (2, 3, 5) RETURNING cdr_id;
-- The check's plan over the old rows is kept per backend, under the
-- table's row layout: after a column is added and another's type changed
-- in the same session, it is planned again, and still refuses her row and
-- passes Bob's
BEGIN;
ALTER TABLE regress_subj.customer ADD COLUMN note text DEFAULT 'n';
ALTER TABLE regress_subj.customer ALTER COLUMN name TYPE varchar(200);
UPDATE regress_subj.customer SET name = 'Bob H.' WHERE customer_id = 2 RETURNING customer_id, name, note;
SAVEPOINT layout;
UPDATE regress_subj.customer SET name = 'Ann J.' WHERE customer_id = 1;
ROLLBACK TO SAVEPOINT layout;
ALTER TABLE regress_subj.customer DROP COLUMN note;
UPDATE regress_subj.customer SET name = 'Ann J.' WHERE customer_id = 1;
ROLLBACK;
-- An upsert that updates her row is an UPDATE too; so is moving her row to
-- another partition (its event time changed); another subject's upsert
-- and move pass
INSERT INTO regress_subj.customer VALUES (1, 'Ann J.', 'x@example.dk')
  ON CONFLICT (customer_id) DO UPDATE SET name = EXCLUDED.name;
INSERT INTO regress_subj.customer VALUES (2, 'Bob H.', 'x@example.dk')
  ON CONFLICT (customer_id) DO UPDATE SET name = EXCLUDED.name RETURNING customer_id, name;
BEGIN;
CREATE TABLE regress_subj.cdr_2026 PARTITION OF regress_subj.cdr FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
SAVEPOINT moved;
UPDATE regress_subj.cdr SET started_at = '2026-05-01 10:00' WHERE cdr_id = 4;
ROLLBACK TO SAVEPOINT moved;
UPDATE regress_subj.cdr SET started_at = '2026-09-01 10:00' WHERE cdr_id = 2 RETURNING cdr_id, tableoid::regclass;
ROLLBACK;
-- Stored rows stay exportable
SELECT (privacy.export_subject('customer', '1')->>'restricted')::boolean AS restricted;
SELECT privacy.unrestrict_subject('customer', '1');
SELECT privacy.unrestrict_subject('customer', '1');
UPDATE regress_subj.customer SET name = 'Ann Jensen' WHERE customer_id = 1;
SELECT privacy.is_restricted('customer', '1');
-- A restriction names the key of its references, and is matched under it:
-- made under a key pg_privacy.key_file does not list, it cannot be told
-- whom it covers, and every check of restrictions fails closed (55000)
-- while it is in force; past its end it binds no key.
SELECT privacy.restrict_subject('customer', '1', 'regress key') \gset
SELECT count(*) AS under_the_current_key FROM privacy.restriction WHERE key_fingerprint = privacy.key_fingerprint();
BEGIN;
INSERT INTO privacy.restriction (kind, subject_ref, reason, origin, until, restricted_by, key_fingerprint)
VALUES ('customer', 'ref:made-under-another-key', 'case', 'request', '2001-01-01', 'regress', 'pgp1:0000000000000000');
SELECT privacy.is_restricted('customer', '2') AS c2_past_its_end;
UPDATE regress_subj.customer SET name = 'Bob H.' WHERE customer_id = 2;
UPDATE privacy.restriction SET until = NULL WHERE subject_ref = 'ref:made-under-another-key';
SAVEPOINT in_force;
SELECT privacy.is_restricted('customer', '2');
ROLLBACK TO SAVEPOINT in_force;
UPDATE regress_subj.customer SET name = 'Bob H.' WHERE customer_id = 2;
ROLLBACK;
SELECT privacy.unrestrict_subject('customer', '1');

-- Requests and their deadlines
SELECT privacy.open_request('customer', '1', 'complaint');
SELECT privacy.open_request('customer', '1', 'access', now() + interval '1 day');
SELECT privacy.open_request('customer', '1', 'access', '2025-01-10 12:00+01') AS r_old \gset
SELECT privacy.open_request('email', 'ann@example.dk', 'erasure') AS r_new \gset
SELECT privacy.extend_request(:r_new, 3, 'complex');
SELECT privacy.extend_request(:r_new, 1, ' ');
SELECT privacy.extend_request(:r_new, 2, 'many systems to search');
SELECT privacy.extend_request(:r_new, 1, 'more');
SELECT privacy.extend_request(:r_old, 1, 'too late');
SELECT privacy.extend_request(-1, 1, 'none');
SELECT request, received_at, due_at, extension_months, status, overdue
  FROM privacy.request_deadlines WHERE id = :r_old;
SELECT request, due_at = received_at + interval '3 months' AS due_in_three_months, extension_reason, overdue, days_left > 80 AS days_left
  FROM privacy.request_deadlines WHERE id = :r_new;
SELECT r->>'request' AS request, r->>'status' AS status
  FROM jsonb_array_elements(privacy.export_subject('customer', '1')->'requests') r;
SELECT privacy.close_request(:r_old, '');
SELECT privacy.close_request(:r_old, 'exported and sent');
SELECT privacy.close_request(:r_old, 'again');
SELECT privacy.close_request(-1, 'none');
SELECT status, overdue, outcome FROM privacy.request_deadlines WHERE id = :r_old;

-- Erasure: a dry run reports and changes nothing
SELECT * FROM privacy.erase_subject('customer', '1', dry_run => true);
SELECT count(*) AS ann_rows FROM regress_subj.subscription WHERE customer_id = 1;
SELECT privacy.erase_subject('customer', '1', dry_run => NULL);
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT * FROM privacy.erase_subject('customer', '1');
ROLLBACK;
-- A mention that cannot be scrubbed: nothing is done
UPDATE regress_subj.cdr SET b_number = '+4520000005' WHERE b_number IS NULL;
ALTER TABLE regress_subj.cdr ALTER COLUMN b_number SET NOT NULL;
SELECT * FROM privacy.erase_subject('customer', '1');
SELECT count(*) AS ann_rows FROM regress_subj.subscription WHERE customer_id = 1;
-- ... nor in a dry run, whose error leaves the caller's transaction usable:
-- caught, then a dry run that succeeds and a write in the same
-- transaction, and no audit entry for the failed one
SELECT count(*) AS dry_runs_before FROM privacy.audit_log WHERE event = 'subject.erase_dry_run' \gset
DO $$
DECLARE
  n bigint;
BEGIN
  BEGIN
    PERFORM count(*) FROM privacy.erase_subject('customer', '1', dry_run => true);
    RAISE EXCEPTION 'the dry run did not fail';
  EXCEPTION WHEN object_not_in_prerequisite_state THEN
    RAISE NOTICE 'dry run refused: %', SQLERRM;
  END;
  SELECT count(*) INTO n FROM privacy.erase_subject('customer', '999', dry_run => true);
  RAISE NOTICE 'then a dry run of another subject in the same transaction reports % line(s)', n;
  UPDATE regress_subj.customer SET name = name WHERE customer_id = 2;
END
$$;
SELECT count(*) - :dry_runs_before AS dry_runs_audited FROM privacy.audit_log WHERE event = 'subject.erase_dry_run';
ALTER TABLE regress_subj.cdr ALTER COLUMN b_number DROP NOT NULL;
-- The erasure
SELECT * FROM privacy.erase_subject('customer', '1');
SELECT customer_id, name FROM regress_subj.customer ORDER BY 1;
SELECT customer_id, msisdn, valid_from FROM regress_subj.subscription ORDER BY 1, 3;
SELECT cdr_id, privacy.reidentify_msisdn(a_number) AS a, privacy.reidentify_msisdn(b_number) AS b
  FROM regress_subj.cdr ORDER BY cdr_id;
SELECT email, phone FROM regress_subj.newsletter ORDER BY 1;
SELECT e - 'generated_at' AS export FROM privacy.export_subject('customer', '1') e;
-- Erasing again finds nothing
SELECT * FROM privacy.erase_subject('customer', '1');
-- The audit log names subjects only by keyed reference
SELECT event, detail->>'kind' AS kind, length(detail->>'subject') AS ref_len
  FROM privacy.audit_log WHERE event LIKE 'subject.%' AND event <> 'subject.set_table' AND id > :audit_start ORDER BY id;
SELECT count(*) AS raw_identifiers_in_audit FROM privacy.audit_log
 WHERE detail::text ~ '(20000001|20000003|ann@example|Ann Jensen)';
SELECT privacy.verify_audit_log() IS NULL AS chain_intact;

-- Privileges: nothing here is for PUBLIC
CREATE ROLE regress_subj_user;
SET ROLE regress_subj_user;
SELECT privacy.export_subject('customer', '2');
SELECT * FROM privacy.erase_subject('customer', '2', true);
SELECT privacy.is_restricted('customer', '2');
SELECT privacy.open_request('customer', '2', 'access');
SELECT * FROM privacy.request_deadlines;
SELECT privacy.lookup_value('msisdn', '20 00 00 02', 'DK');
RESET ROLE;
DROP ROLE regress_subj_user;

DROP SCHEMA regress_subj CASCADE;
DELETE FROM privacy.subject_request;
DELETE FROM privacy.restriction;
DELETE FROM privacy.purpose WHERE name LIKE 'regress_subj_%';

-- A table partitioned by its event time: a number held for a bounded
-- period is erased and exported from the partitions of that period only
-- (one statement per identifier, the period's bounds as parameters that
-- prune the partitions), exactly at the period's bounds.
CREATE SCHEMA regress_subj_p;
SELECT privacy.define_purpose('regress_subj_p', 'contract');
CREATE TABLE regress_subj_p.subscription (customer_id bigint NOT NULL, msisdn text NOT NULL,
                                          valid_from date NOT NULL, valid_to date);
CREATE TABLE regress_subj_p.cdr (cdr_id int, a_number text NOT NULL, b_number text, started_at timestamptz)
  PARTITION BY RANGE (started_at);
CREATE TABLE regress_subj_p.cdr_01 PARTITION OF regress_subj_p.cdr FOR VALUES FROM ('2025-01-01') TO ('2025-02-01');
CREATE TABLE regress_subj_p.cdr_02 PARTITION OF regress_subj_p.cdr FOR VALUES FROM ('2025-02-01') TO ('2025-03-01');
CREATE TABLE regress_subj_p.cdr_03 PARTITION OF regress_subj_p.cdr FOR VALUES FROM ('2025-03-01') TO ('2025-04-01');
CREATE TABLE regress_subj_p.cdr_null PARTITION OF regress_subj_p.cdr DEFAULT;
SELECT privacy.register_table('regress_subj_p.subscription', 'regress_subj_p');
SELECT privacy.register_column('regress_subj_p.subscription', 'customer_id', 'customer_number', identifies => 'customer');
SELECT privacy.register_column('regress_subj_p.subscription', 'msisdn', 'phone', identifies => 'msisdn');
SELECT privacy.set_subject_table('regress_subj_p.subscription', validity_column => 'msisdn',
                                 valid_from => 'valid_from', valid_to => 'valid_to');
SELECT privacy.register_table('regress_subj_p.cdr', 'regress_subj_p');
SELECT privacy.register_column('regress_subj_p.cdr', 'a_number', 'phone', identifies => 'msisdn');
SELECT privacy.register_column('regress_subj_p.cdr', 'b_number', 'phone', identifies => 'msisdn', link => 'mention');
SELECT privacy.set_subject_table('regress_subj_p.cdr', event_time => 'started_at');
-- customer 901 holds the number in February only; 902 before and after
INSERT INTO regress_subj_p.subscription VALUES
  (902, '+4529000001', '2025-01-01', '2025-02-01'),
  (901, '+4529000001', '2025-02-01', '2025-03-01'),
  (902, '+4529000001', '2025-03-01', NULL);
INSERT INTO regress_subj_p.cdr VALUES
  (1, '+4529000001', '+4529000009', '2025-01-31 23:59:59.999999'),
  (2, '+4529000001', '+4529000009', '2025-02-01 00:00'),
  (3, '+4529000001', '+4529000009', '2025-02-28 23:59:59.999999'),
  (4, '+4529000001', '+4529000009', '2025-03-01 00:00'),
  (5, '+4529000009', '+4529000001', '2025-01-31 23:59:59.999999'),
  (6, '+4529000009', '+4529000001', '2025-02-15 12:00'),
  (7, '+4529000009', '+4529000001', '2025-03-01 00:00'),
  (8, '+4529000002', NULL, NULL),
  (9, '+4529000002', NULL, '2025-02-10 00:00');
-- the erasure's statements over the partitioned table run per identifier
SELECT pg_catalog.left(s, 18) AS stmt, count(*)
  FROM unnest(privacy_internal._subject_cols()) c,
       unnest(privacy_internal._subject_stmts('delete', c, 'DK',
                privacy_internal._subject_params(ARRAY['msisdn'], ARRAY['+4529000001'],
                                                 ARRAY['{[2025-02-01,2025-03-01)}'::tstzmultirange]))) s
 WHERE c.tbl = 'regress_subj_p.cdr'::regclass
 GROUP BY 1 ORDER BY 1;
-- an unfinished per-identifier statement is refused
SELECT privacy_internal._subject_exec('regress_subj_p.cdr', '/* per identifier 1.2', '{}');
SELECT jsonb_path_query_array(privacy.export_subject('customer', '901'),
         '$.tables[*] ? (@.table == "regress_subj_p.cdr").rows[*].cdr_id') AS own,
       jsonb_path_query_array(privacy.export_subject('customer', '901'),
         '$.tables[*] ? (@.table == "regress_subj_p.cdr").mentions[*].cdr_id') AS mentions;
SELECT table_name, action, rows FROM privacy.erase_subject('customer', '901') ORDER BY 1, 2;
SELECT cdr_id, a_number, b_number FROM regress_subj_p.cdr ORDER BY cdr_id;
-- a number nobody held: every row, the ones without an event time too
SELECT jsonb_path_query_array(privacy.export_subject('msisdn', '+4529000002'),
         '$.tables[*] ? (@.table == "regress_subj_p.cdr").rows[*].cdr_id') AS own;
SELECT table_name, action, rows FROM privacy.erase_subject('msisdn', '+4529000002') ORDER BY 1, 2;
SELECT cdr_id FROM regress_subj_p.cdr ORDER BY cdr_id;
DROP SCHEMA regress_subj_p CASCADE;
DELETE FROM privacy.purpose WHERE name = 'regress_subj_p';

-- A table with inheritance children: the erasure deletes the subject's
-- rows by table, never another row of a child that has the same ctid.
CREATE SCHEMA regress_subj_i;
SELECT privacy.define_purpose('regress_subj_i', 'contract');
CREATE TABLE regress_subj_i.ticket (customer_id bigint, email text, note text);
CREATE TABLE regress_subj_i.ticket_old () INHERITS (regress_subj_i.ticket);
SELECT privacy.register_table('regress_subj_i.ticket', 'regress_subj_i');
SELECT privacy.register_column('regress_subj_i.ticket', 'customer_id', 'customer_number', identifies => 'customer');
SELECT privacy.register_column('regress_subj_i.ticket', 'email', 'email', identifies => 'email');
INSERT INTO regress_subj_i.ticket VALUES (911, 'ann@example.dk', 'the subject''s');
INSERT INTO regress_subj_i.ticket_old VALUES (912, 'bob@example.dk', 'another subject''s, in a child');
SELECT tableoid::regclass AS tbl, ctid, customer_id FROM regress_subj_i.ticket ORDER BY 1;
SELECT table_name, action, rows FROM privacy.erase_subject('customer', '911') ORDER BY 1, 2;
SELECT tableoid::regclass AS tbl, customer_id, note FROM regress_subj_i.ticket ORDER BY 1;
DROP SCHEMA regress_subj_i CASCADE;
DELETE FROM privacy.purpose WHERE name = 'regress_subj_i';

-- A restriction made while a subject table has hundreds of partitions:
-- each gets its restriction check (statement triggers are not cloned to
-- partitions), one CREATE TRIGGER after another, not an install started
-- again by each of them (which ran out of stack at about 220)
CREATE SCHEMA regress_subj_p;
SELECT privacy.define_purpose('regress_subj_p', 'contract');
CREATE TABLE regress_subj_p.event (customer_id bigint, day integer, note text) PARTITION BY LIST (day);
DO $$
BEGIN
  FOR d IN 1..300 LOOP
    EXECUTE format('CREATE TABLE regress_subj_p.event_%s PARTITION OF regress_subj_p.event FOR VALUES IN (%s)', d, d);
  END LOOP;
END
$$;
INSERT INTO regress_subj_p.event VALUES (921, 300, 'hers'), (922, 300, 'his');
SELECT privacy.register_table('regress_subj_p.event', 'regress_subj_p');
SELECT privacy.register_column('regress_subj_p.event', 'customer_id', 'customer_number', identifies => 'customer');
SELECT privacy.restrict_subject('customer', '921', 'contested') IS NOT NULL AS restricted;
SELECT count(*) AS restriction_checks FROM pg_trigger
 WHERE tgname = 'zx_pg_privacy_restrict' AND tgrelid::regclass::text LIKE 'regress_subj_p.event%';
UPDATE regress_subj_p.event_300 SET note = 'x' WHERE customer_id = 921;
UPDATE regress_subj_p.event_300 SET note = 'his, updated' WHERE customer_id = 922 RETURNING note;
-- a partition created, and a table attached, while the subject is
-- restricted get their checks; an index or a constraint added does not
-- install anything (pg_restore creates the checks itself after them)
CREATE TABLE regress_subj_p.event_301 PARTITION OF regress_subj_p.event FOR VALUES IN (301);
CREATE TABLE regress_subj_p.event_302 (customer_id bigint, day integer, note text);
INSERT INTO regress_subj_p.event_302 VALUES (921, 302, 'hers too');
ALTER TABLE regress_subj_p.event ATTACH PARTITION regress_subj_p.event_302 FOR VALUES IN (302);
SELECT tgrelid::regclass AS checked FROM pg_trigger
 WHERE tgname = 'zx_pg_privacy_restrict' AND tgrelid IN ('regress_subj_p.event_301'::regclass, 'regress_subj_p.event_302'::regclass)
 ORDER BY 1;
UPDATE regress_subj_p.event_302 SET note = 'x' WHERE customer_id = 921;
CREATE TABLE regress_subj_p.loose (customer_id bigint);
SELECT privacy.register_table('regress_subj_p.loose', 'regress_subj_p');
SELECT privacy.register_column('regress_subj_p.loose', 'customer_id', 'customer_number', identifies => 'customer');
DROP TRIGGER zx_pg_privacy_restrict ON regress_subj_p.loose;
CREATE INDEX ON regress_subj_p.loose (customer_id);
SELECT count(*) AS loose_checks FROM pg_trigger
 WHERE tgname = 'zx_pg_privacy_restrict' AND tgrelid = 'regress_subj_p.loose'::regclass;
SELECT privacy.unrestrict_subject('customer', '921');
DROP SCHEMA regress_subj_p CASCADE;
DELETE FROM privacy.purpose WHERE name = 'regress_subj_p';

-- Two tables whose restriction check runs the same query over columns of
-- the same types, in another order: each has its own plan (a plan reads
-- the transition table's columns by position)
CREATE SCHEMA regress_subj_o;
SELECT privacy.define_purpose('regress_subj_o', 'contract');
CREATE TABLE regress_subj_o.pair_a (x bigint, customer_id bigint);
CREATE TABLE regress_subj_o.pair_b (customer_id bigint, x bigint);
INSERT INTO regress_subj_o.pair_a VALUES (931, 932);
INSERT INTO regress_subj_o.pair_b VALUES (931, 932);
SELECT privacy.register_table('regress_subj_o.pair_a', 'regress_subj_o');
SELECT privacy.register_column('regress_subj_o.pair_a', 'customer_id', 'customer_number', identifies => 'customer');
SELECT privacy.register_table('regress_subj_o.pair_b', 'regress_subj_o');
SELECT privacy.register_column('regress_subj_o.pair_b', 'customer_id', 'customer_number', identifies => 'customer');
SELECT privacy.restrict_subject('customer', '931', 'contested') IS NOT NULL AS restricted;
UPDATE regress_subj_o.pair_a SET x = x RETURNING customer_id;
UPDATE regress_subj_o.pair_b SET x = x RETURNING customer_id;
UPDATE regress_subj_o.pair_a SET x = x RETURNING customer_id;
SELECT privacy.unrestrict_subject('customer', '931');
DROP SCHEMA regress_subj_o CASCADE;
DELETE FROM privacy.purpose WHERE name = 'regress_subj_o';
