-- Retention: policies, purge (dry run and real), partitions dropped whole,
-- anonymization, legal holds, keep_at_least, batches that commit and
-- resume, receipts in the audit log, work done as the table owner, and
-- every error path.
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_privacy;
RESET client_min_messages;

-- hold ids in messages below do not depend on the tests run before
SELECT setval('privacy.legal_hold_id_seq',
              greatest(1000, (SELECT coalesce(max(id), 0) + 1 FROM privacy.legal_hold)), false) \g /dev/null
CREATE ROLE regress_ret_owner;
CREATE ROLE regress_ret_other;
CREATE SCHEMA regress_ret AUTHORIZATION regress_ret_owner;
SELECT privacy.define_purpose('regress_ret_support', 'contract');
SELECT privacy.define_purpose('regress_ret_traffic', 'legal_obligation');

-- The table owner's own trigger records whose rights a purge runs with.
CREATE TABLE regress_ret.trigger_log (who name, superuser text, op text);
ALTER TABLE regress_ret.trigger_log OWNER TO regress_ret_owner;
CREATE FUNCTION regress_ret.log_rights() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO regress_ret.trigger_log
    SELECT current_user, r.rolsuper::text, TG_OP FROM pg_roles r WHERE r.rolname = current_user;
  RETURN CASE TG_OP WHEN 'DELETE' THEN OLD ELSE NEW END;
END $$;
ALTER FUNCTION regress_ret.log_rights() OWNER TO regress_ret_owner;

CREATE TABLE regress_ret.ticket (
  id        integer PRIMARY KEY,
  email     text,
  phone     text,
  opened_at timestamptz NOT NULL,
  closed_at timestamptz,
  body      text NOT NULL,
  minutes   integer,
  kind      text
);
CREATE INDEX ON regress_ret.ticket (opened_at);
ALTER TABLE regress_ret.ticket OWNER TO regress_ret_owner;
CREATE TRIGGER log_rights BEFORE DELETE OR UPDATE ON regress_ret.ticket
  FOR EACH ROW EXECUTE FUNCTION regress_ret.log_rights();
SELECT privacy.register_table('regress_ret.ticket', 'regress_ret_support');
SELECT privacy.register_column('regress_ret.ticket', 'email', 'email', identifies => 'email');
SELECT privacy.register_column('regress_ret.ticket', 'phone', 'phone', identifies => 'msisdn');
SELECT privacy.register_column('regress_ret.ticket', 'opened_at', 'traffic');
SELECT privacy.register_column('regress_ret.ticket', 'closed_at', 'traffic');
SELECT privacy.register_column('regress_ret.ticket', 'body', 'free_text');
SELECT privacy.register_column('regress_ret.ticket', 'minutes', 'traffic');
-- 30 tickets, one a day back from now: ids 1..30 are 1..30 days old
INSERT INTO regress_ret.ticket
SELECT i, format('user%s@example.dk', i % 3), '+452012345' || (i % 3),
       now() - make_interval(days => i, hours => 1), now() - make_interval(days => i),
       'ticket text ' || i, i, 'voice'
  FROM generate_series(1, 30) i;

------------------------------------------------------------------------
-- Bad input: clear errors, nothing changed
------------------------------------------------------------------------
SELECT privacy.set_retention(NULL, 'opened_at', '10 days');
SELECT privacy.set_retention('regress_ret.no_such_table', 'opened_at', '10 days');
SELECT privacy.set_retention('regress_ret.trigger_log', 'who', '10 days');
SELECT privacy.set_retention('regress_ret.ticket', 'no_such', '10 days');
SELECT privacy.set_retention('regress_ret.ticket', 'body', '10 days');
SELECT privacy.set_retention('regress_ret.ticket', 'opened_at', '0 days');
SELECT privacy.set_retention('regress_ret.ticket', 'opened_at', '-3 days');
SELECT privacy.set_retention('regress_ret.ticket', 'opened_at', '10 days', 'shred');
SELECT privacy.set_retention('regress_ret.ticket', 'opened_at', '10 days', keep_at_least => '0 days');
SELECT privacy.set_retention('regress_ret.ticket', 'opened_at', '10 days', keep_at_least => '20 days');
SELECT privacy.set_retention('regress_ret.ticket', 'opened_at', '10 days', align => 'fortnight');
SELECT privacy.set_retention('regress_ret.ticket', 'opened_at', '10 days', align => 'year', year_start => 13);
SELECT privacy.set_retention('regress_ret.ticket', 'opened_at', '10 days', align => 'month', year_start => 7);
SELECT privacy.set_retention('regress_ret.ticket', 'opened_at', '10 days', time_zone => 'Mars/Olympus');
SELECT privacy.set_retention('regress_ret.ticket', 'opened_at', '10 days', 'anonymize', generalize => 'decade');
SET ROLE regress_ret_other;
SELECT privacy.set_retention('regress_ret.ticket', 'opened_at', '10 days');
RESET ROLE;
GRANT USAGE ON SCHEMA regress_ret TO regress_ret_other;
GRANT EXECUTE ON FUNCTION privacy.set_retention(regclass, name, interval, text, interval, text, integer, text, text)
  TO regress_ret_other;
SET ROLE regress_ret_other;
SELECT privacy.set_retention('regress_ret.ticket', 'opened_at', '10 days');
RESET ROLE;
REVOKE EXECUTE ON FUNCTION privacy.set_retention(regclass, name, interval, text, interval, text, integer, text, text)
  FROM regress_ret_other;
-- anonymize needs every personal column emptiable: body is NOT NULL text
-- (emptied), but a NOT NULL protected or non-text column is refused
ALTER TABLE regress_ret.ticket ALTER COLUMN minutes SET NOT NULL;
SELECT privacy.register_column('regress_ret.ticket', 'kind', 'other');
ALTER TABLE regress_ret.ticket ALTER COLUMN kind SET NOT NULL;
ALTER TABLE regress_ret.ticket ALTER COLUMN kind TYPE varchar(10);
SELECT privacy.unregister_column('regress_ret.ticket', 'kind');
CREATE TABLE regress_ret.conflict (x int, at timestamptz NOT NULL, contact int NOT NULL);
SELECT privacy.register_table('regress_ret.conflict', 'regress_ret_support');
SELECT privacy.register_column('regress_ret.conflict', 'contact', 'customer_number', identifies => 'customer');
SELECT privacy.set_retention('regress_ret.conflict', 'at', '1 year', 'anonymize');
-- inheritance: a child of a table with a policy would be purged twice
SELECT privacy.set_retention('regress_ret.conflict', 'at', '1 year');
CREATE TABLE regress_ret.conflict_child () INHERITS (regress_ret.conflict);
SELECT privacy.register_table('regress_ret.conflict_child', 'regress_ret_support');
SELECT privacy.set_retention('regress_ret.conflict_child', 'at', '2 years');
SELECT count(*) AS policies_after_errors FROM privacy.retention_policy
 WHERE tbl::text LIKE 'regress_ret.ticket%';
DROP TABLE regress_ret.conflict_child, regress_ret.conflict;

------------------------------------------------------------------------
-- Calendar alignment: the cutoff at a fixed moment
------------------------------------------------------------------------
CREATE TABLE regress_ret.books (id int, booked_on date NOT NULL);
SELECT privacy.register_table('regress_ret.books', 'regress_ret_support');
-- "5 years after the end of the financial year" (financial year from July)
SELECT privacy.set_retention('regress_ret.books', 'booked_on', '5 years', align => 'year', year_start => 7,
                             time_zone => 'Europe/Copenhagen');
SELECT at, privacy_internal._retention_cutoff(p, at) AT TIME ZONE 'Europe/Copenhagen' AS expired_before
  FROM privacy.retention_policy p,
       unnest(ARRAY['2031-06-30 23:00+02', '2031-07-01 00:00+02', '2032-01-15 12:00+01']::timestamptz[]) at
 WHERE p.tbl = 'regress_ret.books'::regclass ORDER BY at;
-- calendar year, month, quarter, and the legal minimum counted alike
SELECT align, keep, keep_at_least,
       privacy_internal._retention_cutoff(ROW('regress_ret.books'::regclass, 'booked_on', 2, keep, 'delete', keep_at_least,
                                     align, 1, 'Europe/Copenhagen', 'day', now(), 'x')::privacy.retention_policy,
                                 '2026-05-20 12:00+02') AT TIME ZONE 'Europe/Copenhagen' AS expired_before
  FROM (VALUES ('year', interval '5 years', NULL::interval), ('month', '3 months', NULL),
               ('quarter', '1 month', NULL), (NULL, '10 days', NULL),
               ('month', '3 months', '6 months')) v(align, keep, keep_at_least);
SELECT table_name, description FROM privacy.retention_policies WHERE table_name = 'regress_ret.books'::regclass;
SELECT i, privacy_internal._interval_text(i) AS in_words
  FROM unnest('{1 year 2 mons 3 days 04:05:06, 1 mon 1 day, 18 months, 00:00:00}'::interval[]) i;
-- for erasure: until when the legal minimum keeps a row (none set here)
SELECT privacy_internal._legal_minimum_until('regress_ret.books', '2026-03-01') AS no_legal_minimum;
SELECT privacy.set_retention('regress_ret.books', 'booked_on', '5 years', align => 'year', year_start => 7,
                             keep_at_least => '5 years', time_zone => 'Europe/Copenhagen');
SELECT d, privacy_internal._legal_minimum_until('regress_ret.books', d) AT TIME ZONE 'Europe/Copenhagen' AS kept_until
  FROM unnest(ARRAY['2026-03-01 12:00+01', '2026-07-01 00:00+02']::timestamptz[]) d;
SELECT privacy.drop_retention('regress_ret.books');
SELECT privacy.drop_retention('regress_ret.books');

------------------------------------------------------------------------
-- Delete: dry run, then the real run; rows under a hold are kept
------------------------------------------------------------------------
SELECT privacy.set_retention('regress_ret.ticket', 'opened_at', '20 days');
SELECT privacy.set_retention('regress_ret.ticket', 'opened_at', '20 days', keep_at_least => '15 days');
SELECT table_name, time_column, keep, action, keep_at_least, description
  FROM privacy.retention_policies WHERE table_name = 'regress_ret.ticket'::regclass;
SELECT column_name, retention, retention_keep, retention_action, retention_keep_at_least
  FROM privacy.personal_data WHERE table_name = 'regress_ret.ticket'::regclass ORDER BY column_name;
-- hold the subject user1@example.dk (written as people type it)
SELECT privacy.hold('email', '  User1@Example.DK ', 'case 17') AS hold_id \gset
SELECT id, kind, masked_value, reason, active FROM privacy.legal_holds WHERE id = :hold_id;
-- ids 20..30 are expired (older than 20 days); ids 22, 25, 28 are held
SELECT * FROM privacy.purge(dry_run => true);
SELECT count(*) AS rows_before FROM regress_ret.ticket;
SELECT * FROM privacy.purge(tbl => 'regress_ret.ticket');
SELECT array_agg(id ORDER BY id) AS rows_left_over_15_days FROM regress_ret.ticket WHERE id > 15;
SELECT count(*) AS rows_left FROM regress_ret.ticket;
-- the owner's trigger ran as the owner, not as the superuser calling purge
SELECT who, superuser, op, count(*) FROM regress_ret.trigger_log GROUP BY 1, 2, 3;
-- the receipt: counts and the time window, no personal data
SELECT event, object, detail->>'action' AS action, detail->'rows' AS rows, detail->'partitions' AS partitions,
       detail->>'policy' AS policy, detail->'held_columns' AS held_columns,
       (detail->>'expired_before')::timestamptz < now() - interval '15 days' AS window_ok
  FROM privacy.audit_log WHERE event = 'retention.purge' ORDER BY id DESC LIMIT 1;
SELECT count(*) AS receipts_with_identifiers FROM privacy.audit_log
 WHERE event LIKE 'retention.%' AND (detail::text LIKE '%example.dk%' OR detail::text LIKE '%4520%');
-- a dry run after the run finds nothing more
SELECT * FROM privacy.purge(true, 'regress_ret.ticket');
-- the hold ends: the next run purges those rows
SELECT privacy.release_hold(:hold_id);
SELECT * FROM privacy.purge(true);
SELECT * FROM privacy.purge();
SELECT count(*) AS rows_left FROM regress_ret.ticket;
SELECT event, detail->'rows' AS rows FROM privacy.audit_log
 WHERE event IN ('retention.purge', 'retention.run') ORDER BY id DESC LIMIT 2;
-- holds: bad input
SELECT privacy.hold('email', 'a@b.dk', NULL);
SELECT privacy.hold('email', 'a@b.dk', '   ');
SELECT privacy.hold('passport', 'X1', 'case');
SELECT privacy.hold('msisdn', 'call me', 'case');
SELECT privacy.hold('email', 'a@b.dk', 'case', now() - interval '1 day');
SELECT privacy.release_hold(:hold_id);
SELECT privacy.release_hold(-1);
-- a hold that has ended by its date no longer keeps anything
SELECT count(*) AS active_holds FROM privacy.legal_holds WHERE active;

------------------------------------------------------------------------
-- Anonymize: personal columns emptied, facts kept, time generalized;
-- a second run finds nothing to do
------------------------------------------------------------------------
-- ids 15..19 are older than 15 days; 16 and 19 (phone +4520123451) are held
TRUNCATE regress_ret.trigger_log;
SELECT privacy.set_retention('regress_ret.ticket', 'opened_at', '15 days', 'anonymize',
                             generalize => 'day', time_zone => 'UTC');
SELECT privacy.hold('msisdn', '+4520123451', 'case 18') AS hold_id \gset
SELECT * FROM privacy.purge(true, 'regress_ret.ticket');
SELECT * FROM privacy.purge(false, 'regress_ret.ticket');
SELECT id, email IS NULL AS email_gone, phone IS NULL AS phone_gone, body, minutes, kind,
       opened_at = date_trunc('day', opened_at, 'UTC') AS time_generalized
  FROM regress_ret.ticket WHERE id >= 14 ORDER BY id;
SELECT * FROM privacy.purge(true, 'regress_ret.ticket');
SELECT * FROM privacy.purge(false, 'regress_ret.ticket');
SELECT who, superuser, op, count(*) FROM regress_ret.trigger_log GROUP BY 1, 2, 3;
SELECT privacy.release_hold(:hold_id);

------------------------------------------------------------------------
-- Partitioned: expired partitions dropped whole (not detached), the
-- boundary partition and the default partition purged by rows, a
-- partition with a held row kept
------------------------------------------------------------------------
CREATE TABLE regress_ret.cdr (a_number text, started_at timestamptz NOT NULL, price numeric)
  PARTITION BY RANGE (started_at);
ALTER TABLE regress_ret.cdr OWNER TO regress_ret_owner;
CREATE INDEX ON regress_ret.cdr (started_at);
-- six monthly partitions ending with the current month, m0 .. m5 back
DO $$
DECLARE
  m int;
  lo timestamptz;
BEGIN
  FOR m IN 0..5 LOOP
    lo := date_trunc('month', now()) - make_interval(months => m);
    EXECUTE format('CREATE TABLE regress_ret.cdr_m%s PARTITION OF regress_ret.cdr FOR VALUES FROM (%L) TO (%L)',
                   m, lo, lo + interval '1 month');
    EXECUTE format('ALTER TABLE regress_ret.cdr_m%s OWNER TO regress_ret_owner', m);
  END LOOP;
END $$;
CREATE TABLE regress_ret.cdr_default PARTITION OF regress_ret.cdr DEFAULT;
ALTER TABLE regress_ret.cdr_default OWNER TO regress_ret_owner;
-- 10 rows per month, and 4 very old rows that landed in the default partition
INSERT INTO regress_ret.cdr
SELECT CASE WHEN m = 4 AND i = 3 THEN '+4530000004' ELSE '+4530' || lpad((100 + m * 10 + i)::text, 6, '0') END,
       date_trunc('month', now()) - make_interval(months => m) + make_interval(days => i), m
  FROM generate_series(0, 5) m, generate_series(0, 9) i;
INSERT INTO regress_ret.cdr
SELECT '+4530999999', date_trunc('month', now()) - interval '3 years' + make_interval(days => i), 0
  FROM generate_series(1, 4) i;
SELECT privacy.register_table('regress_ret.cdr', 'regress_ret_traffic');
-- the owner of a protected table produces its domain's pseudonyms: granted
SELECT privacy.grant_domain('default', 'regress_ret_owner');
SELECT privacy.register_column('regress_ret.cdr', 'a_number', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
-- expired: everything before the start of the month two months back, so
-- m3, m4, m5 whole and the default partition's rows, nothing of m2; m4
-- holds one row of a subject under a hold, so it is purged by rows
SELECT privacy.set_retention('regress_ret.cdr', 'started_at', '2 months', align => 'month');
-- the table was filled before it was registered; the hold compares the
-- stored (here raw) value through the column's transformation, so protect
-- the stored value first, the way the protect trigger would have
UPDATE regress_ret.cdr SET a_number = privacy_internal._transform(a_number, 'msisdn_fpe', 'default');
SELECT privacy.hold('msisdn', '+4530000004', 'case 99') AS hold_id \gset
-- a number the column's transformation refuses cannot be in it: no effect
SELECT privacy.hold('msisdn', '+298 123456', 'case 100') AS faroe_hold_id \gset
SELECT tableoid::regclass AS partition, count(*) FILTER (WHERE a_number = privacy.pseudonymize_msisdn('+4530000004')) AS held,
       count(*) AS total
  FROM regress_ret.cdr GROUP BY 1 ORDER BY 1;
SELECT * FROM privacy.purge(true, 'regress_ret.cdr');
SELECT * FROM privacy.purge(false, 'regress_ret.cdr');
SELECT tableoid::regclass AS partition, count(*) AS total FROM regress_ret.cdr GROUP BY 1 ORDER BY 1;
SELECT c.relname AS remaining_partition FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
 WHERE i.inhparent = 'regress_ret.cdr'::regclass ORDER BY 1;
SELECT count(*) AS detached_leftovers FROM pg_class
 WHERE relnamespace = 'regress_ret'::regnamespace AND relname ~ '^cdr_m[345]$';
SELECT detail->'dropped' AS dropped, detail->'rows' AS rows, detail->'partitions' AS partitions
  FROM privacy.audit_log WHERE event = 'retention.purge' AND object = 'regress_ret.cdr' ORDER BY id DESC LIMIT 1;
SELECT privacy.release_hold(:hold_id);
SELECT privacy.release_hold(:faroe_hold_id);
SELECT * FROM privacy.purge(true, 'regress_ret.cdr');

------------------------------------------------------------------------
-- run_purge: batches that commit, an interrupted run continued by the
-- next one, nothing counted twice
------------------------------------------------------------------------
SELECT privacy.drop_retention('regress_ret.cdr');
TRUNCATE regress_ret.ticket;
INSERT INTO regress_ret.ticket
SELECT i, NULL, NULL, now() - make_interval(days => 100 + i), NULL, 'x', i, 'sms'
  FROM generate_series(1, 50) i;
INSERT INTO regress_ret.ticket
SELECT i, NULL, NULL, now() - make_interval(days => i - 100), NULL, 'x', i, 'sms'
  FROM generate_series(101, 110) i;
SELECT privacy.set_retention('regress_ret.ticket', 'opened_at', '90 days');
-- the owner's trigger refuses to delete ticket 10 for now
CREATE FUNCTION regress_ret.refuse_10() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF OLD.id = 10 THEN
    RAISE EXCEPTION 'ticket 10 is still needed';
  END IF;
  RETURN OLD;
END $$;
ALTER FUNCTION regress_ret.refuse_10() OWNER TO regress_ret_owner;
CREATE TRIGGER refuse_10 BEFORE DELETE ON regress_ret.ticket FOR EACH ROW EXECUTE FUNCTION regress_ret.refuse_10();
CALL privacy.run_purge(0);
CALL privacy.run_purge(8);
-- batches of 8 from the oldest: 50..43, 42..35, 34..27, 26..19, 18..11 committed; 10 failed
SELECT count(*) AS left_after_interruption FROM regress_ret.ticket;
SELECT rows, batches, runs, phase FROM privacy.retention_progress WHERE tbl = 'regress_ret.ticket'::regclass;
SELECT purge_under_way FROM privacy.retention_policies WHERE table_name = 'regress_ret.ticket'::regclass;
SELECT detail->'failed'->0->>'table' AS failed_table, detail->'failed'->0->>'sqlstate' AS sqlstate
  FROM privacy.audit_log WHERE event = 'retention.run' ORDER BY id DESC LIMIT 1;
-- a dry run now counts what is left, from where the run stopped
SELECT * FROM privacy.purge(true);
DROP TRIGGER refuse_10 ON regress_ret.ticket;
CALL privacy.run_purge(8);
SELECT count(*) AS left_after_rerun, min(id) AS oldest_left FROM regress_ret.ticket;
SELECT detail->'rows' AS rows, detail->'runs' AS runs, detail->'batches' AS batches
  FROM privacy.audit_log WHERE event = 'retention.purge' ORDER BY id DESC LIMIT 1;
SELECT count(*) AS progress_rows FROM privacy.retention_progress;
-- a run inside a transaction block cannot commit
BEGIN;
CALL privacy.run_purge();
ROLLBACK;

------------------------------------------------------------------------
-- One table that fails does not stop the others: a hostile owner's table
-- sorting first, whose trigger refuses every delete (and puts a value in
-- its message), is left as it was, reported and audited without the
-- value; the other tables are purged, by run_purge and by purge()
------------------------------------------------------------------------
CREATE ROLE regress_ret_hostile;
CREATE TABLE regress_ret.aaa_first (id int, email text, at timestamptz NOT NULL);
ALTER TABLE regress_ret.aaa_first OWNER TO regress_ret_hostile;
GRANT USAGE ON SCHEMA regress_ret TO regress_ret_hostile;
SELECT privacy.register_table('regress_ret.aaa_first', 'regress_ret_support');
SELECT privacy.register_column('regress_ret.aaa_first', 'email', 'email', identifies => 'email');
SELECT privacy.set_retention('regress_ret.aaa_first', 'at', '30 days');
CREATE FUNCTION regress_ret.refuse_all() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the row of % is mine', OLD.email;
END $$;
ALTER FUNCTION regress_ret.refuse_all() OWNER TO regress_ret_hostile;
CREATE TRIGGER refuse_all BEFORE DELETE ON regress_ret.aaa_first
  FOR EACH ROW EXECUTE FUNCTION regress_ret.refuse_all();
INSERT INTO regress_ret.aaa_first VALUES (1, 'victim@example.dk', now() - interval '40 days'), (2, 'x@example.dk', now());
INSERT INTO regress_ret.ticket
SELECT i, NULL, NULL, now() - make_interval(days => 100 + i), NULL, 'x', i, 'sms' FROM generate_series(201, 205) i;
SELECT array_agg(tbl::text ORDER BY tbl::text) AS purge_order FROM privacy.retention_policy;
CALL privacy.run_purge();
SELECT count(*) AS hostile_rows_left FROM regress_ret.aaa_first;
SELECT count(*) AS expired_tickets_left FROM regress_ret.ticket WHERE opened_at < now() - interval '90 days';
SELECT object, detail->>'via' AS via, detail->>'sqlstate' AS sqlstate, detail->>'message' AS message
  FROM privacy.audit_log WHERE event = 'retention.purge_failed' ORDER BY id DESC LIMIT 1;
SELECT detail->'tables' AS tables, detail->'rows' AS rows, detail->'failed' AS failed
  FROM privacy.audit_log WHERE event = 'retention.run' ORDER BY id DESC LIMIT 1;
SELECT object, detail->'rows' AS rows FROM privacy.audit_log
 WHERE event = 'retention.purge' ORDER BY id DESC LIMIT 1;
-- purge(): one transaction, the failed table reported and nothing of it done
INSERT INTO regress_ret.ticket
SELECT i, NULL, NULL, now() - make_interval(days => 100 + i), NULL, 'x', i, 'sms' FROM generate_series(206, 208) i;
SELECT * FROM privacy.purge(true);
SELECT * FROM privacy.purge();
SELECT count(*) AS hostile_rows_left, (SELECT count(*) FROM regress_ret.ticket WHERE id > 200) AS tickets_left
  FROM regress_ret.aaa_first;
SELECT count(*) AS unfinished FROM privacy.retention_progress WHERE tbl = 'regress_ret.aaa_first'::regclass;
SELECT object, detail->>'via' AS via, detail->>'message' AS message
  FROM privacy.audit_log WHERE event = 'retention.purge_failed' ORDER BY id DESC LIMIT 1;
SELECT detail->'failed'->0->>'table' AS failed_table FROM privacy.audit_log
 WHERE event = 'retention.run' ORDER BY id DESC LIMIT 1;
SELECT count(*) AS records_with_the_value FROM privacy.audit_log
 WHERE event LIKE 'retention.%' AND detail::text LIKE '%victim%';
-- how a failure is recorded: values masked
SELECT privacy_internal._purge_error('P0001', 'the row of Anna@Example.DK with ''+45 20 55 66 77'' and "x"') AS p0,
       privacy_internal._purge_error('22P02', 'invalid input syntax for type integer: "20556677"') AS data,
       privacy_internal._purge_error('42703', 'record "b" has no field "done"') AS other;
-- a key's fingerprint stays whole; a number goes, inside a word too
SELECT privacy_internal._purge_error('55000', 'no key of fingerprint pgp1:6998b5ca431954c1 is loaded (account DK5000400440116243, number 4520556677, phone4520556677)') AS key_error;
-- a policy the owner broke (the time column is text now) fails the same way
DROP TRIGGER refuse_all ON regress_ret.aaa_first;
ALTER TABLE regress_ret.aaa_first ALTER COLUMN at TYPE text;
SELECT * FROM privacy.purge();
SELECT object, detail->>'sqlstate' AS sqlstate, detail->>'message' AS message
  FROM privacy.audit_log WHERE event = 'retention.purge_failed' ORDER BY id DESC LIMIT 1;
SELECT privacy.drop_retention('regress_ret.aaa_first');

------------------------------------------------------------------------
-- A legal hold keeps every row that holds the number in any declared
-- column of its kind (owner or mention, raw, pseudonymized or FPE), in any
-- written form, and every partition holding such a row
------------------------------------------------------------------------
CREATE TABLE regress_ret.contacts (id int, caller text, callee text, pseud text, fpe text,
                                   at timestamptz NOT NULL) PARTITION BY RANGE (at);
ALTER TABLE regress_ret.contacts OWNER TO regress_ret_owner;
CREATE TABLE regress_ret.contacts_old1 PARTITION OF regress_ret.contacts
  FOR VALUES FROM (MINVALUE) TO ('2020-01-01');
CREATE TABLE regress_ret.contacts_old2 PARTITION OF regress_ret.contacts
  FOR VALUES FROM ('2020-01-01') TO ('2021-01-01');
CREATE TABLE regress_ret.contacts_cur PARTITION OF regress_ret.contacts
  FOR VALUES FROM ('2021-01-01') TO (MAXVALUE);
ALTER TABLE regress_ret.contacts_old1 OWNER TO regress_ret_owner;
ALTER TABLE regress_ret.contacts_old2 OWNER TO regress_ret_owner;
ALTER TABLE regress_ret.contacts_cur OWNER TO regress_ret_owner;
SELECT privacy.register_table('regress_ret.contacts', 'regress_ret_traffic');
SELECT privacy.register_column('regress_ret.contacts', 'caller', 'phone', identifies => 'msisdn');
SELECT privacy.register_column('regress_ret.contacts', 'callee', 'phone', identifies => 'msisdn', link => 'mention');
SELECT privacy.register_column('regress_ret.contacts', 'pseud', 'phone', identifies => 'msisdn', protect => 'pseudonym');
SELECT privacy.register_column('regress_ret.contacts', 'fpe', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
INSERT INTO regress_ret.contacts (id, caller, callee, pseud, fpe, at) VALUES
  (1, '20 55 66 77', NULL, NULL, NULL, '2019-06-01'),                  -- old1: held, as typed
  (2, '+4599999991', NULL, NULL, NULL, '2019-07-01'),
  (3, '+4599999992', '+4599999993', NULL, NULL, '2020-06-01'),         -- old2: nobody held
  (4, NULL, '004520556677', NULL, NULL, '2022-01-01'),                 -- mentioned, 00 form
  (5, NULL, NULL, privacy_internal._transform('20556677', 'pseudonym', 'default', 'msisdn'), NULL, '2022-01-02'),  -- as the trigger stores it
  (6, NULL, NULL, NULL, privacy_internal._transform('+4520556677', 'msisdn_fpe', 'default'), '2022-01-03'),
  (7, '+45 2055 6677', NULL, NULL, NULL, '2022-01-04'),
  (8, '+4599999994', NULL, privacy_internal._transform('+4599999994', 'pseudonym', 'default'), NULL, '2022-01-05'),
  (9, NULL, NULL, NULL, privacy_internal._transform('+4599999995', 'msisdn_fpe', 'default'), '2022-01-06'),
  (10, '20556677', NULL, NULL, NULL, now());
SELECT privacy.set_retention('regress_ret.contacts', 'at', '1 year');
SELECT privacy.hold('msisdn', '2055 6677', 'case 200') AS hold_id \gset
SELECT * FROM privacy.purge(true, 'regress_ret.contacts');
SELECT * FROM privacy.purge(false, 'regress_ret.contacts');
SELECT tableoid::regclass AS partition, array_agg(id ORDER BY id) AS ids FROM regress_ret.contacts GROUP BY 1 ORDER BY 1;
SELECT privacy.release_hold(:hold_id);
SELECT * FROM privacy.purge(false, 'regress_ret.contacts');
SELECT tableoid::regclass AS partition, array_agg(id ORDER BY id) AS ids FROM regress_ret.contacts GROUP BY 1 ORDER BY 1;
SELECT privacy.drop_retention('regress_ret.contacts');

------------------------------------------------------------------------
-- Privileges and pg_cron
------------------------------------------------------------------------
SET ROLE regress_ret_other;
SELECT * FROM privacy.purge(true);
CALL privacy.run_purge();
SELECT privacy.hold('email', 'a@b.dk', 'case');
SELECT privacy.schedule_purge();
RESET ROLE;
-- run_purge's steps refuse a role that may run no purge
GRANT EXECUTE ON FUNCTION privacy_internal._purge_batch(regclass, bigint, integer, integer, integer) TO regress_ret_other;
SET ROLE regress_ret_other;
SELECT * FROM privacy_internal._purge_batch('regress_ret.ticket', 0, 10, 100, 0);
RESET ROLE;
-- a role granted purge() may run it
GRANT EXECUTE ON FUNCTION privacy.purge(boolean, regclass, integer, integer) TO regress_ret_other;
SET ROLE regress_ret_other;
SELECT * FROM privacy.purge(true);
RESET ROLE;
REVOKE EXECUTE ON FUNCTION privacy_internal._purge_batch(regclass, bigint, integer, integer, integer),
                           privacy.purge(boolean, regclass, integer, integer) FROM regress_ret_other;
SELECT privacy.purge(NULL);
SELECT privacy.purge(false, 'regress_ret.trigger_log');
SELECT privacy.purge(false, NULL, 0);
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT privacy.purge();
ROLLBACK;
-- this database has no pg_cron
SELECT privacy.schedule_purge();
SELECT privacy.unschedule_purge();

-- Every retention function has a comment and is not executable by PUBLIC
SELECT p.oid::regprocedure AS public_retention_routine
  FROM pg_proc p
 WHERE p.pronamespace IN ('privacy'::regnamespace, 'privacy_internal'::regnamespace)
   AND (p.proname ~ 'retention|purge|hold' OR p.proname LIKE '\_owner%')
   AND has_function_privilege('public', p.oid, 'EXECUTE');

------------------------------------------------------------------------
-- Clean up
------------------------------------------------------------------------
SELECT privacy.drop_retention('regress_ret.ticket');
SELECT privacy.unregister_table('regress_ret.ticket');
SELECT privacy.unregister_table('regress_ret.books');
SELECT privacy.unregister_table('regress_ret.cdr');
SELECT privacy.unregister_table(t) FROM unnest('{regress_ret.aaa_first,regress_ret.contacts}'::regclass[]) t;
DROP SCHEMA regress_ret CASCADE;
SELECT privacy.drop_purpose('regress_ret_support');
SELECT privacy.drop_purpose('regress_ret_traffic');
SELECT privacy.revoke_domain('default', 'regress_ret_owner');
DROP ROLE regress_ret_owner, regress_ret_other, regress_ret_hostile;
DELETE FROM privacy.legal_hold WHERE reason IN ('case 17', 'case 18', 'case 99', 'case 100', 'case 200');
SELECT privacy.verify_audit_log() IS NULL AS audit_chain_intact;
