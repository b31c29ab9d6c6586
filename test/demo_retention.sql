-- make demo, retention part: run by test/demo.sh after its other sections,
-- on the telephony data set (scale 20) declared by test/data/register.sql,
-- with telco.cdr protected.  psql -X -q -v ON_ERROR_STOP=1 -f this file.
\set ON_ERROR_STOP on
\pset footer off
SET client_min_messages = warning;
SET TimeZone = 'Europe/Copenhagen';

\echo
\echo '=== 10. Retention policies: how long each kind of data is kept (privacy policy section 5)'
\echo '(traffic data: until bills can no longer be disputed; support tickets: anonymized after a year;'
\echo ' invoices: 5 years after the end of the financial year, the Bookkeeping Act''s minimum)'
SELECT privacy.set_retention('telco.cdr', 'started_at', '6 months', align => 'month',
                             time_zone => 'Europe/Copenhagen') \g /dev/null
SELECT privacy.set_retention('telco.support_ticket', 'opened_at', '12 months', 'anonymize',
                             time_zone => 'Europe/Copenhagen', generalize => 'month') \g /dev/null
SELECT privacy.set_retention('telco.invoice', 'issued_at', '5 years', align => 'year', year_start => 1,
                             keep_at_least => '5 years', time_zone => 'Europe/Copenhagen') \g /dev/null
SELECT table_name AS "table", purpose, action, description AS policy,
       expired_before::timestamp(0) AS "expired before (now)"
  FROM privacy.retention_policies ORDER BY table_name::text;

\echo
\echo '=== 11. A legal hold: one subscriber''s calls are evidence in a billing dispute'
-- a number with expired calls in as few months as possible
SELECT s.msisdn AS held_msisdn
  FROM telco.subscription s
  CROSS JOIN LATERAL (SELECT count(DISTINCT date_trunc('month', c.started_at)) AS months
                        FROM telco.cdr c
                       WHERE c.a_number = privacy.pseudonymize_msisdn(s.msisdn)
                         AND c.started_at < date_trunc('month', now()) - interval '6 months') m
 WHERE m.months > 0
 ORDER BY m.months, s.subscription_id LIMIT 1 \gset
SELECT privacy.hold('msisdn', :'held_msisdn', 'billing dispute 2026-117') AS hold_id \gset
SELECT id, kind, masked_value AS subject, reason, active FROM privacy.legal_holds WHERE id = :hold_id;

\echo
\echo '=== 12. Dry run: what the purge would do, changing nothing'
SELECT count(*) AS cdr_partitions_before FROM pg_inherits WHERE inhparent = 'telco.cdr'::regclass \gset
SELECT * FROM privacy.purge(dry_run => true);

\echo
\echo '=== 13. The real run: CALL privacy.run_purge() commits after every batch (this is what pg_cron runs)'
CALL privacy.run_purge(5000);
SELECT :cdr_partitions_before AS "CDR partitions before",
       (SELECT count(*) FROM pg_inherits WHERE inhparent = 'telco.cdr'::regclass) AS "after",
       (SELECT count(*) FROM telco.cdr WHERE started_at < (SELECT expired_before FROM privacy.retention_policies
                                                           WHERE table_name = 'telco.cdr'::regclass)) AS "expired CDRs left (held)",
       (SELECT count(*) FROM telco.cdr WHERE privacy.pseudonymize_msisdn(:'held_msisdn') IN (a_number, b_number)
           AND started_at < (SELECT expired_before FROM privacy.retention_policies
                              WHERE table_name = 'telco.cdr'::regclass)) AS "calls made or received by the held number";
\echo 'support tickets after anonymization: the facts stay, the person is gone'
SELECT ticket_id, customer_id, msisdn_raw, contact_email, opened_at::timestamp(0) AS opened_at,
       closed_at IS NOT NULL AS closed, subject, body
  FROM telco.support_ticket
 WHERE opened_at < (SELECT expired_before FROM privacy.retention_policies WHERE table_name = 'telco.support_ticket'::regclass)
 ORDER BY ticket_id LIMIT 4;

\echo
\echo '=== 14. The receipts in the audit log: counts and time window, no personal data'
SELECT id, event, object, detail->>'action' AS action, detail->'rows' AS rows, detail->'partitions' AS partitions,
       (detail->>'expired_before')::timestamptz::timestamp(0) AS expired_before, detail->'batches' AS batches
  FROM privacy.audit_log WHERE event = 'retention.purge' ORDER BY id;
SELECT id, event, detail->'tables' AS tables, detail->'rows' AS rows, detail->'partitions' AS partitions,
       detail->'failed' AS failed
  FROM privacy.audit_log WHERE event = 'retention.run' ORDER BY id DESC LIMIT 1;
\echo 'dropped partitions:'
SELECT jsonb_array_elements_text(detail->'dropped') AS partition
  FROM privacy.audit_log WHERE event = 'retention.purge' AND object = 'telco.cdr' ORDER BY id DESC LIMIT 30;

\echo
\echo '=== 15. The next night: nothing left to do; the hold ends and its rows go'
SELECT * FROM privacy.purge(dry_run => true);
SELECT privacy.release_hold(:hold_id) \g /dev/null
SELECT * FROM privacy.purge(dry_run => true) WHERE table_name = 'telco.cdr'::regclass;

\echo
\echo '=== 16. Scheduling with pg_cron, and the record of processing with retention'
SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'pg_cron') AS has_pg_cron \gset
\if :has_pg_cron
SELECT privacy.schedule_purge('30 3 * * *') AS job_id \gset
SELECT jobid, jobname, schedule, command FROM cron.job WHERE jobid = :job_id;
SELECT privacy.unschedule_purge() AS unscheduled \g /dev/null
\else
\echo '(pg_cron is not installed in this database: schedule CALL privacy.run_purge() another way)'
\endif
SELECT DISTINCT table_name::text AS "table", purpose, retention
  FROM privacy.personal_data WHERE retention IS NOT NULL ORDER BY 1;
SELECT coalesce(privacy.verify_audit_log()::text, 'intact') AS audit_chain;
