-- Retention together with the data-subject rights: an anonymizing purge
-- leaves a restricted subject's rows as they are, and erasure keeps what
-- the legal minimum keeps, by the purge's own rule.  (After the subject
-- tests: these write subject.* audit events.)
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_privacy;
RESET client_min_messages;

CREATE ROLE regress_sr_owner;
-- her protected tables produce pseudonyms of the default domain
SELECT privacy.grant_domain('default', 'regress_sr_owner');
CREATE SCHEMA regress_sr AUTHORIZATION regress_sr_owner;
SELECT privacy.define_purpose('regress_sr_support', 'contract');
SELECT privacy.define_purpose('regress_sr_traffic', 'legal_obligation');

------------------------------------------------------------------------
-- Anonymize with a restricted data subject: the subject's rows stay as
-- they are (restriction allows storing them, not changing them), everyone
-- else's expired rows are anonymized; lifted, they go by the next run
------------------------------------------------------------------------
CREATE TABLE regress_sr.calls (id int, phone text, email text, at timestamptz NOT NULL, minutes int);
ALTER TABLE regress_sr.calls OWNER TO regress_sr_owner;
SELECT privacy.register_table('regress_sr.calls', 'regress_sr_traffic');
SELECT privacy.register_column('regress_sr.calls', 'phone', 'phone', identifies => 'msisdn');
SELECT privacy.register_column('regress_sr.calls', 'email', 'email', identifies => 'email');
SELECT privacy.register_column('regress_sr.calls', 'minutes', 'traffic');
-- ids 1..3 belong to the restricted subject (3 as typed), 1..6 expired
INSERT INTO regress_sr.calls VALUES
  (1, '+4520000001', 'r@example.dk', now() - interval '40 days', 1),
  (2, '+4520000001', NULL, now() - interval '41 days', 2),
  (3, '20 00 00 01', NULL, now() - interval '42 days', 3),
  (4, '+4520000002', 'o@example.dk', now() - interval '43 days', 4),
  (5, '+4520000003', NULL, now() - interval '44 days', 5),
  (6, NULL, 'n@example.dk', now() - interval '45 days', 6),
  (7, '+4520000004', 'c@example.dk', now() - interval '1 day', 7);
SELECT privacy.set_retention('regress_sr.calls', 'at', '30 days', 'anonymize', time_zone => 'UTC');
SELECT privacy.restrict_subject('msisdn', '+45 20 00 00 01', 'regress_sr accuracy contested') AS restricted;
-- the restricted rows cannot be changed
UPDATE regress_sr.calls SET minutes = minutes WHERE id = 1;
SELECT * FROM privacy.purge(true, 'regress_sr.calls');
SELECT * FROM privacy.purge(false, 'regress_sr.calls');
SELECT id, phone, email, at = date_trunc('day', at, 'UTC') AS generalized, minutes
  FROM regress_sr.calls ORDER BY id;
-- run_purge (in batches of 2) leaves them too
INSERT INTO regress_sr.calls VALUES
  (11, '+4520000001', 's@example.dk', now() - interval '50 days', 11),
  (12, '+4520000005', NULL, now() - interval '51 days', 12),
  (13, '+4520000006', 't@example.dk', now() - interval '52 days', 13),
  (14, '0045 20000001', NULL, now() - interval '53 days', 14),
  (15, '+4520000007', NULL, now() - interval '54 days', 15);
SELECT array_agg(tbl::text ORDER BY tbl::text) AS tables_with_policies FROM privacy.retention_policy;
CALL privacy.run_purge(2);
SELECT array_agg(id ORDER BY id) FILTER (WHERE phone IS NOT NULL AND at < now() - interval '30 days') AS not_anonymized,
       count(*) FILTER (WHERE email IS NOT NULL AND at < now() - interval '30 days') AS expired_emails
  FROM regress_sr.calls;
SELECT privacy.unrestrict_subject('msisdn', '+4520000001');
SELECT * FROM privacy.purge(false, 'regress_sr.calls');
SELECT id, phone, email, minutes FROM regress_sr.calls WHERE id <= 3 ORDER BY id;
SELECT privacy.drop_retention('regress_sr.calls');
-- the same through an msisdn_fpe column; a stored value that cannot be
-- read back (the restriction trigger would refuse it too) is left alone
CREATE TABLE regress_sr.fpe_calls (id int, msisdn text, at timestamptz NOT NULL);
ALTER TABLE regress_sr.fpe_calls OWNER TO regress_sr_owner;
SELECT privacy.register_table('regress_sr.fpe_calls', 'regress_sr_traffic');
SELECT privacy.register_column('regress_sr.fpe_calls', 'msisdn', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
INSERT INTO regress_sr.fpe_calls VALUES
  (1, privacy_internal._transform('+4520000011', 'msisdn_fpe', 'default'), now() - interval '40 days'),
  (2, privacy_internal._transform('+4520000012', 'msisdn_fpe', 'default'), now() - interval '41 days'),
  (3, 'not a number', now() - interval '42 days'),
  (4, privacy_internal._transform('+4520000011', 'msisdn_fpe', 'default'), now() - interval '1 day');
-- (declared protected without the protect trigger, the table is refused
-- by the search: its values could be raw; protected now, its pseudonyms
-- left as they are)
SELECT privacy.restrict_subject('msisdn', '+4520000011', 'regress_sr fpe') AS restricted;
SELECT privacy.protect('regress_sr.fpe_calls', rewrite_existing => false);
SELECT privacy.set_retention('regress_sr.fpe_calls', 'at', '30 days', 'anonymize', time_zone => 'UTC');
SELECT privacy.restrict_subject('msisdn', '+4520000011', 'regress_sr fpe') AS restricted;
SELECT * FROM privacy.purge(false, 'regress_sr.fpe_calls');
SELECT id, msisdn IS NULL AS anonymized FROM regress_sr.fpe_calls ORDER BY id;
SELECT privacy.unrestrict_subject('msisdn', '+4520000011');
SELECT privacy.drop_retention('regress_sr.fpe_calls');

------------------------------------------------------------------------
-- The legal minimum: one rule for purge and erasure (period alignment and
-- time zone included).  An invoice issued early in the year five years ago
-- is under its minimum until the end of this year: the purge keeps it,
-- and so does an erasure, reporting that date
------------------------------------------------------------------------
CREATE TABLE regress_sr.invoice (id int, customer text, issued_on date NOT NULL, amount numeric);
SELECT privacy.register_table('regress_sr.invoice', 'regress_sr_support');
SELECT privacy.register_column('regress_sr.invoice', 'customer', 'customer_number', identifies => 'customer');
SELECT privacy.set_retention('regress_sr.invoice', 'issued_on', '5 years', keep_at_least => '5 years',
                             align => 'year', time_zone => 'Europe/Copenhagen');
INSERT INTO regress_sr.invoice
SELECT v.id, 'regress-C77', (date_trunc('year', now() AT TIME ZONE 'Europe/Copenhagen') - v.back + interval '1 day')::date, 10
  FROM (VALUES (1, interval '5 years'), (2, interval '7 years')) v(id, back);
-- the rule, at fixed times: a row is under its minimum at `at` exactly
-- when it is kept until after `at`
SELECT bool_and((ts >= privacy_internal._legal_minimum_from(p, at)) = (privacy_internal._legal_minimum_until(p.tbl, ts) > at)) AS one_rule,
       count(*) AS checked
  FROM privacy.retention_policy p,
       generate_series('2020-01-01 00:00+01'::timestamptz, '2023-01-01', '5 days 7 hours') ts,
       unnest(ARRAY['2026-11-30 12:00+01', '2026-12-31 23:59:59+01', '2027-01-01 00:00+01', '2027-06-01 00:00+02']::timestamptz[]) at
 WHERE p.tbl = 'regress_sr.invoice'::regclass;
SELECT privacy_internal._legal_minimum_until('regress_sr.invoice', '2021-06-01') AT TIME ZONE 'Europe/Copenhagen' AS invoice_2021_06_01_kept_until;
SELECT * FROM privacy.purge(true, 'regress_sr.invoice');
SELECT table_name, action, rows,
       kept_until AT TIME ZONE 'Europe/Copenhagen'
         = date_trunc('year', now() AT TIME ZONE 'Europe/Copenhagen') + interval '1 year' AS kept_until_end_of_year
  FROM privacy.erase_subject('customer', 'regress-C77')
 WHERE table_name = 'regress_sr.invoice'::regclass;
SELECT id FROM regress_sr.invoice ORDER BY id;
DELETE FROM privacy.restriction WHERE kind = 'customer' AND subject_ref = privacy_internal._subject_ref('customer', 'regress-C77');
SELECT privacy.drop_retention('regress_sr.invoice');

------------------------------------------------------------------------
-- Clean up
------------------------------------------------------------------------
SELECT privacy.unprotect('regress_sr.fpe_calls');
SELECT privacy.unregister_table(t) FROM unnest('{regress_sr.calls,regress_sr.fpe_calls,regress_sr.invoice}'::regclass[]) t;
DROP SCHEMA regress_sr CASCADE;
SELECT privacy.drop_purpose('regress_sr_support');
SELECT privacy.drop_purpose('regress_sr_traffic');
SELECT privacy.revoke_domain('default', 'regress_sr_owner');
DROP ROLE regress_sr_owner;
SELECT count(*) AS restrictions_left FROM privacy.restriction WHERE reason LIKE 'regress_sr%';
SELECT privacy.verify_audit_log() IS NULL AS audit_chain_intact;
