-- Consent: 1M has_consent calls against the same question asked by a
-- hand-written indexed query over the same events (now, and at a past
-- moment), and COPY of 1M rows into a require_consent table whose subjects
-- all consent against COPY without it.  The same table with a BEFORE ROW
-- trigger that does nothing is shown as the floor: any such trigger makes
-- COPY insert row by row instead of in batches.
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;
SET jit = off;
\set mkcsv :csv '.marketing.csv'

SELECT privacy.define_purpose('bench_marketing', 'consent',
                              description => 'marketing by SMS') \g /dev/null

-- The register: every subscriber's number granted on 2025-01-01, every
-- fifth withdrew on 2025-06-01, every twentieth granted again on
-- 2025-09-01.  Written straight into the register and its state (INSERT
-- is allowed there, UPDATE and DELETE are not) because replaying the
-- events through grant_consent, which appends the same rows plus an audit
-- entry each, would take longer than the measurements.
INSERT INTO privacy.consent_event (kind, value, subject_ref, purpose, event, at, source,
                                   notice_version, actor, role, recorded_at)
SELECT 'msisdn', s.msisdn, privacy_internal._subject_ref('msisdn', s.msisdn), 'bench_marketing',
       v.event, v.at, 'bench', CASE WHEN v.event = 'grant' THEN 'mk-2025-01' END,
       current_user, current_user, v.at
  FROM (SELECT msisdn, row_number() OVER (ORDER BY msisdn) AS n
          FROM (SELECT DISTINCT msisdn FROM telco.subscription) d) s
  CROSS JOIN LATERAL (VALUES ('grant', timestamptz '2025-01-01', true),
                             ('withdraw', timestamptz '2025-06-01', s.n % 5 = 0),
                             ('grant', timestamptz '2025-09-01', s.n % 20 = 0)) v(event, at, happens)
 WHERE v.happens;
INSERT INTO privacy.consent_state (kind, value, purpose, granted, event_id, at)
SELECT DISTINCT ON (kind, value, purpose) kind, value, purpose, event = 'grant', id, at
  FROM privacy.consent_event WHERE purpose = 'bench_marketing'
 ORDER BY kind, value, purpose, at DESC, id DESC;
ANALYZE privacy.consent_event;
ANALYZE privacy.consent_state;

-- 1M questions: subscribers' numbers, one in ten a number nobody asked about.
CREATE TABLE bench.subscriber AS
  SELECT msisdn, (row_number() OVER (ORDER BY msisdn) - 1)::int AS k
    FROM (SELECT DISTINCT msisdn FROM telco.subscription) d;
SELECT count(*) AS nsub FROM bench.subscriber \gset
CREATE TABLE bench.consent_q AS
  SELECT CASE WHEN g % 10 = 0 THEN '+4599' || lpad((g % 1000000)::text, 6, '0') ELSE s.msisdn END AS msisdn
    FROM generate_series(1, 1000000) g
    JOIN bench.subscriber s ON s.k = (hashint4(g) & 2147483647) % :nsub;
ANALYZE bench.consent_q;

-- 1M marketing messages to numbers that consent now, as the SMS platform
-- would deliver them.
CREATE TABLE bench.consenting AS
  SELECT value AS msisdn, (row_number() OVER (ORDER BY value) - 1)::int AS k
    FROM privacy.consent_state WHERE purpose = 'bench_marketing' AND granted;
SELECT count(*) AS ncons FROM bench.consenting \gset
COPY (SELECT c.msisdn, 'campaign-' || (g % 12), timestamptz '2026-01-01' + g * interval '1 second',
             'Tilbud: 20 GB ekstra data i december'
        FROM generate_series(1, 1000000) g
        JOIN bench.consenting c ON c.k = (hashint4(g) & 2147483647) % :ncons)
  TO :'mkcsv' WITH (FORMAT csv);

CREATE TABLE bench.sms_plain (msisdn text, campaign text, sent_at timestamptz, body text);
CREATE TABLE bench.sms_trigger (LIKE bench.sms_plain);
CREATE TABLE bench.sms_consent (LIKE bench.sms_plain);
-- The floor: a C row trigger that returns the row untouched (the consent
-- trigger itself refuses rows of a table no requirement names).
CREATE FUNCTION bench.noop_trigger() RETURNS trigger
  LANGUAGE c AS '$libdir/pgp_bench_floor', 'pgp_bench_noop_trigger';
CREATE TRIGGER zy_pg_privacy_consent BEFORE INSERT OR UPDATE ON bench.sms_trigger
  FOR EACH ROW EXECUTE FUNCTION bench.noop_trigger();
SELECT privacy.require_consent('bench.sms_consent', 'msisdn', 'bench_marketing', kind => 'msisdn') \g /dev/null

SELECT count(*) AS nq FROM bench.consent_q \gset
SELECT set_config('bench.mkcsv', :'mkcsv', false) \g /dev/null

-- Three rounds, variants interleaved so drift hits all alike.
DO $$
DECLARE
  r int;
  t text;
  csv text := current_setting('bench.mkcsv');
BEGIN
  FOR r IN 1..3 LOOP
    INSERT INTO bench.result SELECT 'consent', 'has_consent now', r,
      bench.ms($q$SELECT count(*) FILTER (WHERE privacy.has_consent('msisdn', msisdn, 'bench_marketing'))
                   FROM bench.consent_q$q$);
    INSERT INTO bench.result SELECT 'consent', 'hand-written query now', r,
      bench.ms($q$SELECT count(*) FILTER (WHERE (
                     SELECT e.event = 'grant' FROM privacy.consent_event e
                      WHERE e.kind = 'msisdn' AND e.value = q.msisdn AND e.purpose = 'bench_marketing'
                      ORDER BY e.at DESC, e.id DESC LIMIT 1))
                   FROM bench.consent_q q$q$);
    INSERT INTO bench.result SELECT 'consent', 'has_consent at 2025-07-01', r,
      bench.ms($q$SELECT count(*) FILTER (WHERE privacy.has_consent('msisdn', msisdn, 'bench_marketing',
                                                                    '2025-07-01'))
                   FROM bench.consent_q$q$);
    INSERT INTO bench.result SELECT 'consent', 'hand-written query at 2025-07-01', r,
      bench.ms($q$SELECT count(*) FILTER (WHERE (
                     SELECT e.event = 'grant' FROM privacy.consent_event e
                      WHERE e.kind = 'msisdn' AND e.value = q.msisdn AND e.purpose = 'bench_marketing'
                        AND e.at <= '2025-07-01'
                      ORDER BY e.at DESC, e.id DESC LIMIT 1))
                   FROM bench.consent_q q$q$);
    FOREACH t IN ARRAY ARRAY['sms_plain', 'sms_trigger', 'sms_consent'] LOOP
      EXECUTE format('TRUNCATE bench.%I', t);
      INSERT INTO bench.result SELECT 'consent_copy', t, r,
        bench.ms(format('COPY bench.%I FROM %L WITH (FORMAT csv)', t, csv));
    END LOOP;
  END LOOP;
END
$$;

-- The answers agree, and every message went in.
SELECT (SELECT count(*) FILTER (WHERE privacy.has_consent('msisdn', msisdn, 'bench_marketing')) FROM bench.consent_q)
     = (SELECT count(*) FILTER (WHERE (SELECT e.event = 'grant' FROM privacy.consent_event e
                                        WHERE e.kind = 'msisdn' AND e.value = q.msisdn
                                          AND e.purpose = 'bench_marketing'
                                        ORDER BY e.at DESC, e.id DESC LIMIT 1)) FROM bench.consent_q q)
       AS same_answers \gset
SELECT count(*) AS copied FROM bench.sms_consent \gset
\echo
\echo '== has_consent, 1M calls (best of 3 rounds over' :nq 'rows; the answers agree:' :same_answers ')'
SELECT variant AS "question", ms AS "ms", round(ms * 1000000 / :nq) AS "ns/call"
  FROM bench.best WHERE bench = 'consent' ORDER BY variant;
\echo
\echo '== COPY of 1M SMS rows, subjects all consenting (best of 3 rounds;' :copied 'rows in the require_consent table)'
SELECT variant AS "table", ms AS "ms", round(ms * 1000000 / 1000000) AS "ns/row"
  FROM bench.best WHERE bench = 'consent_copy' ORDER BY ms;

WITH b AS (SELECT variant, ms FROM bench.best WHERE bench IN ('consent', 'consent_copy'))
SELECT measure, ratio, target, CASE WHEN ok IS NULL THEN '-' WHEN ok THEN 'met' ELSE 'NOT MET' END AS result FROM (
  SELECT 1 AS o, 'has_consent / hand-written query, now' AS measure,
         round(h.ms / q.ms, 2) AS ratio, '<= 1.2' AS target, h.ms / q.ms <= 1.2 AS ok
    FROM b h, b q WHERE h.variant = 'has_consent now' AND q.variant = 'hand-written query now'
  UNION ALL
  SELECT 2, 'has_consent / hand-written query, at a past moment',
         round(h.ms / q.ms, 2), '<= 1.2', h.ms / q.ms <= 1.2
    FROM b h, b q WHERE h.variant = 'has_consent at 2025-07-01' AND q.variant = 'hand-written query at 2025-07-01'
  UNION ALL
  SELECT 3, 'COPY require_consent / plain COPY', round(c.ms / p.ms, 2), '<= 2', c.ms / p.ms <= 2
    FROM b c, b p WHERE c.variant = 'sms_consent' AND p.variant = 'sms_plain'
  UNION ALL
  SELECT 4, '(floor) COPY with a no-op BEFORE ROW trigger / plain COPY', round(t.ms / p.ms, 2), '-', NULL
    FROM b t, b p WHERE t.variant = 'sms_trigger' AND p.variant = 'sms_plain'
  UNION ALL
  SELECT 5, 'COPY require_consent / no-op trigger floor', round(c.ms / t.ms, 2), '-', NULL
    FROM b c, b t WHERE c.variant = 'sms_consent' AND t.variant = 'sms_trigger'
) s ORDER BY o;
