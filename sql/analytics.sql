-- Safe analytics: k-anonymity, safe aggregates (suppression, totals that
-- cannot be subtracted), pseudonymized extracts, and what a BI role sees.
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_privacy;
RESET client_min_messages;

CREATE SCHEMA regress_ana;
SELECT privacy.define_purpose('regress_ana_traffic', 'legal_obligation');
CREATE TABLE regress_ana.calls (
  id         int,
  msisdn     text,
  email      text,
  started_at timestamptz,
  duration   int,
  country    text,
  note       text
);
-- DK 50 calls by 5 subscribers, SE 12, NO 3, DE 1
INSERT INTO regress_ana.calls
SELECT i, '+45201234' || lpad((i % 5)::text, 2, '0'), 'user' || (i % 5) || '@example.dk',
       timestamptz '2026-03-01 00:00+01' + i * interval '7 hours', 60 + i, 'DK', 'n' || i
  FROM generate_series(1, 50) i;
INSERT INTO regress_ana.calls
SELECT 50 + i, '+46701234' || lpad(i::text, 3, '0'), NULL, timestamptz '2026-04-01 00:00+02' + i * interval '1 day',
       100, 'SE', NULL
  FROM generate_series(1, 12) i;
INSERT INTO regress_ana.calls VALUES
  (63, '+4740123456', NULL, '2026-05-01 10:00+02', 30, 'NO', NULL),
  (64, '+4740123457', NULL, '2026-05-02 10:00+02', 40, 'NO', NULL),
  (65, '+4740123458', NULL, '2026-05-03 10:00+02', 50, 'NO', NULL),
  (66, '+4915112345678', NULL, '2026-05-04 10:00+02', 70, 'DE', 'the only German call');
SELECT privacy.register_table('regress_ana.calls', 'regress_ana_traffic');
SELECT privacy.register_column('regress_ana.calls', 'msisdn', 'phone', identifies => 'msisdn');
SELECT privacy.register_column('regress_ana.calls', 'email', 'email', identifies => 'email');
SELECT privacy.register_column('regress_ana.calls', 'started_at', 'traffic');
SELECT privacy.register_column('regress_ana.calls', 'duration', 'traffic');
SELECT privacy.register_column('regress_ana.calls', 'country', 'location');

------------------------------------------------------------------------
-- k-anonymity
------------------------------------------------------------------------
SELECT * FROM privacy.k_anonymity('regress_ana.calls', ARRAY['country'], 5);
SELECT * FROM privacy.k_anonymity('regress_ana.calls', ARRAY['country', 'msisdn'], 2);
-- the same figures by hand
SELECT min(n) AS min_group_size, count(*) AS groups, sum(n) AS rows,
       count(*) FILTER (WHERE n < 5) AS groups_below_k, coalesce(sum(n) FILTER (WHERE n < 5), 0) AS rows_below_k
  FROM (SELECT count(*) AS n FROM regress_ana.calls GROUP BY country) g;
SELECT * FROM privacy.k_anonymity('regress_ana.calls', ARRAY['country'], 1);
SELECT * FROM privacy.k_anonymity('regress_ana.calls', ARRAY[]::name[], 5);
SELECT * FROM privacy.k_anonymity('regress_ana.calls', ARRAY['country', 'no_such_column'], 5);
SELECT * FROM privacy.k_anonymity('regress_ana.calls', NULL, 5);

------------------------------------------------------------------------
-- Safe aggregates
------------------------------------------------------------------------
SELECT privacy.create_safe_aggregate('regress_ana.calls_by_country',
  'SELECT country, count(*) AS n, sum(duration) AS seconds FROM regress_ana.calls GROUP BY country;', 5);
SELECT * FROM regress_ana.calls_by_country ORDER BY country;

-- With a total: it sums the published groups only, so total minus the
-- published groups is 0, never the suppressed NO and DE calls.
SELECT privacy.create_safe_aggregate('regress_ana.calls_by_country_total',
  'SELECT country, count(*) AS n, sum(duration) AS seconds FROM regress_ana.calls GROUP BY country', 5,
  with_total => true);
SELECT * FROM regress_ana.calls_by_country_total ORDER BY total, country;
SELECT (SELECT n FROM regress_ana.calls_by_country_total WHERE total)
       - (SELECT sum(n) FROM regress_ana.calls_by_country_total WHERE NOT total) AS recovered_by_subtraction,
       (SELECT count(*) FROM regress_ana.calls) - (SELECT n FROM regress_ana.calls_by_country_total WHERE total)
       AS rows_withheld;

-- The view follows the data: a fifth NO call... still under 5; two more publish NO.
INSERT INTO regress_ana.calls VALUES (67, '+4740123459', NULL, '2026-05-05 10:00+02', 10, 'NO', NULL),
                                      (68, '+4740123460', NULL, '2026-05-06 10:00+02', 10, 'NO', NULL);
SELECT country, n FROM regress_ana.calls_by_country ORDER BY country;
DELETE FROM regress_ana.calls WHERE id IN (67, 68);

-- Not a plain grouped SELECT with a true count(*): refused (identifiers,
-- other aggregates, subqueries: see analytics_attack)
SELECT privacy.create_safe_aggregate('regress_ana.v1', 'SELECT * FROM regress_ana.calls', 5);
SELECT privacy.create_safe_aggregate('regress_ana.v1', 'SELECT count(*) AS n FROM regress_ana.calls', 5);
SELECT privacy.create_safe_aggregate('regress_ana.v1', 'SELECT country, sum(duration) AS s FROM regress_ana.calls GROUP BY country', 5);
SELECT privacy.create_safe_aggregate('regress_ana.v1', 'SELECT country, count(duration) AS n FROM regress_ana.calls GROUP BY country', 5);
SELECT privacy.create_safe_aggregate('regress_ana.v1', 'SELECT country, count(*) FILTER (WHERE duration > 60) AS n FROM regress_ana.calls GROUP BY country', 5);
SELECT privacy.create_safe_aggregate('regress_ana.v1', 'SELECT country, count(DISTINCT duration) AS n FROM regress_ana.calls GROUP BY country', 5);
SELECT privacy.create_safe_aggregate('regress_ana.v1', 'SELECT country, count(*) AS n FROM regress_ana.calls GROUP BY ROLLUP (country)', 5);
SELECT privacy.create_safe_aggregate('regress_ana.v1', 'SELECT country, count(*) AS n FROM regress_ana.calls GROUP BY country UNION ALL SELECT ''x'', 1', 5);
SELECT privacy.create_safe_aggregate('regress_ana.v1', 'SELECT country, count(*) AS n, sum(count(*)) OVER () AS all_calls FROM regress_ana.calls GROUP BY country', 5);
SELECT privacy.create_safe_aggregate('regress_ana.v1', 'SELECT country, count(*) AS n FROM regress_ana.calls GROUP BY country; SELECT 1', 5);
SELECT privacy.create_safe_aggregate('regress_ana.v1', 'DELETE FROM regress_ana.calls', 5);
SELECT privacy.create_safe_aggregate('regress_ana.v1', 'SELECT country, count(*) AS n INTO regress_ana.x FROM regress_ana.calls GROUP BY country', 5);
SELECT privacy.create_safe_aggregate('regress_ana.v1', 'SELECT country, count(*) AS n FROM regress_ana.calls GROUP BY country FOR UPDATE', 5);
SELECT privacy.create_safe_aggregate('regress_ana.v1', 'SELECT country, count(*) AS n, duration > 60 FROM regress_ana.calls GROUP BY country, duration', 5);
SELECT privacy.create_safe_aggregate('regress_ana.v1', 'SELECT country, count(*) AS n, count(*) AS n FROM regress_ana.calls GROUP BY country', 5);
SELECT privacy.create_safe_aggregate('regress_ana.v1', 'SELECT country, count(*) AS n, sum(duration) / count(*) AS a FROM regress_ana.calls GROUP BY country', 5, with_total => true);
SELECT privacy.create_safe_aggregate('regress_ana.v1', 'SELECT country, count(*) AS n, count(*) AS total FROM regress_ana.calls GROUP BY country', 5, with_total => true);
SELECT privacy.create_safe_aggregate('regress_ana.v1', 'SELECT country, count(*) AS n FROM regress_ana.calls GROUP BY country', 1);
SELECT privacy.create_safe_aggregate('v1', 'SELECT country, count(*) AS n FROM regress_ana.calls GROUP BY country', 5);
SELECT privacy.create_safe_aggregate('regress_ana."unterminated', 'SELECT country, count(*) AS n FROM regress_ana.calls GROUP BY country', 5);
SELECT privacy.create_safe_aggregate('regress_ana.v1', 'SELECT country, count(*) AS n FROM regress_ana.no_such GROUP BY country', 5);
SELECT privacy.create_safe_aggregate('regress_ana.v1', NULL, 5);
SELECT count(*) AS nothing_created FROM pg_class WHERE relname = 'v1';

------------------------------------------------------------------------
-- Pseudonymized extracts
------------------------------------------------------------------------
SELECT privacy.create_pseudonymized_extract('regress_ana.calls_extract', 'regress_ana.calls',
                                            domain => 'regress_analytics', time_unit => 'month');
SELECT id, msisdn = privacy.pseudonymize(privacy.pseudonymize_msisdn(c.msisdn_raw), 'regress_analytics') AS msisdn_ok,
       email = privacy.pseudonymize('user' || (id % 5) || '@example.dk', 'regress_analytics') AS email_ok,
       started_at, duration, country, note
  FROM regress_ana.calls_extract e
  JOIN (SELECT id, msisdn AS msisdn_raw FROM regress_ana.calls) c USING (id)
 WHERE id IN (1, 6, 51, 66) ORDER BY id;
-- Distinct callers can be counted; no raw value and no other domain's
-- pseudonym appears.
SELECT count(DISTINCT msisdn) AS distinct_callers,
       count(*) FILTER (WHERE msisdn IN (SELECT msisdn FROM regress_ana.calls)) AS raw_numbers,
       count(*) FILTER (WHERE msisdn IN (SELECT privacy.pseudonymize(msisdn) FROM regress_ana.calls)) AS default_domain,
       count(*) FILTER (WHERE msisdn IN (SELECT privacy.pseudonymize_msisdn(msisdn) FROM regress_ana.calls)) AS fpe_form
  FROM regress_ana.calls_extract;

-- One subscriber has one analytics pseudonym in every extract: a raw
-- subscription table and CDRs stored protected (FF1) join.
CREATE TABLE regress_ana.subscription (msisdn text, product text);
INSERT INTO regress_ana.subscription VALUES ('+45 20 12 34 01', 'Mobil 10GB'), ('0046 701234001', 'Mobil 5GB');
SELECT privacy.register_table('regress_ana.subscription', 'regress_ana_traffic');
SELECT privacy.register_column('regress_ana.subscription', 'msisdn', 'phone', identifies => 'msisdn');
CREATE TABLE regress_ana.cdr (a_number text, started_at timestamptz);
SELECT privacy.register_table('regress_ana.cdr', 'regress_ana_traffic');
SELECT privacy.register_column('regress_ana.cdr', 'a_number', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.register_column('regress_ana.cdr', 'started_at', 'traffic');
SELECT privacy.protect('regress_ana.cdr');
INSERT INTO regress_ana.cdr SELECT msisdn, started_at FROM regress_ana.calls;
SELECT privacy.create_pseudonymized_extract('regress_ana.subscription_extract', 'regress_ana.subscription', 'regress_analytics');
SELECT privacy.create_pseudonymized_extract('regress_ana.cdr_extract', 'regress_ana.cdr', 'regress_analytics');
SELECT s.product, count(*) AS calls
  FROM regress_ana.subscription_extract s JOIN regress_ana.cdr_extract c ON c.a_number = s.msisdn
 GROUP BY s.product ORDER BY 1;
-- another analytics domain links to nothing
SELECT privacy.create_pseudonymized_extract('regress_ana.cdr_extract_other', 'regress_ana.cdr', 'regress_other');
SELECT count(*) AS linked FROM regress_ana.subscription_extract s
  JOIN regress_ana.cdr_extract_other c ON c.a_number = s.msisdn;

-- bad extracts
SELECT privacy.create_pseudonymized_extract('regress_ana.x1', 'regress_ana.calls', 'default');
SELECT privacy.create_pseudonymized_extract('regress_ana.x1', 'regress_ana.calls', '');
SELECT privacy.create_pseudonymized_extract('regress_ana.x1', 'regress_ana.calls', 'a', 'fortnight');
CREATE TABLE regress_ana.plain (x int);
SELECT privacy.create_pseudonymized_extract('regress_ana.x1', 'regress_ana.plain', 'a');
SELECT privacy.create_pseudonymized_extract('x1', 'regress_ana.calls', 'a');

------------------------------------------------------------------------
-- What a BI role sees: the published views, nothing underneath
------------------------------------------------------------------------
CREATE ROLE regress_bi;
GRANT USAGE ON SCHEMA regress_ana TO regress_bi;
SELECT privacy.create_safe_aggregate('regress_ana.bi_calls', 'SELECT country, count(*) AS n FROM regress_ana.calls GROUP BY country', 5,
                                     grant_to => 'regress_bi');
SELECT privacy.create_pseudonymized_extract('regress_ana.bi_extract', 'regress_ana.calls', 'regress_analytics',
                                            grant_to => 'regress_bi');
SET ROLE regress_bi;
SELECT country, n FROM regress_ana.bi_calls ORDER BY country;
SELECT count(*) AS rows, count(DISTINCT msisdn) AS callers FROM regress_ana.bi_extract;
SELECT count(*) FROM regress_ana.calls;
SELECT count(*) FROM regress_ana.calls_by_country;
SELECT privacy.pseudonymize('+4520123401', 'regress_analytics');
SELECT privacy.pseudonymize_msisdn('+4520123401');
-- a leaky function in the reader's WHERE sees published groups only
CREATE FUNCTION pg_temp.leak(text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS $$
BEGIN RAISE NOTICE 'saw %', $1; RETURN true; END $$;
SELECT country FROM regress_ana.bi_calls WHERE pg_temp.leak(country) ORDER BY country;
RESET ROLE;
-- Views are created with the caller's rights and owned by the caller: a
-- role that may not read the table cannot extract it.
GRANT EXECUTE ON FUNCTION privacy.create_pseudonymized_extract(text, regclass, text, text, name) TO regress_bi;
GRANT CREATE ON SCHEMA regress_ana TO regress_bi;
SET ROLE regress_bi;
SELECT privacy.create_pseudonymized_extract('regress_ana.bi_own', 'regress_ana.calls', 'regress_analytics');
RESET ROLE;
SELECT pg_get_userbyid(relowner) AS owner FROM pg_class WHERE oid = 'regress_ana.bi_extract'::regclass;

-- The register of published views, and the audit trail
SELECT view_name, kind, min_group, with_total, domain, time_unit, created_by
  FROM privacy.published ORDER BY view_name::text;
SELECT event, object, detail FROM privacy.audit_log
 WHERE event LIKE 'analytics.%' AND object LIKE 'regress_ana.%' ORDER BY id;

-- Dropping a published view takes it off the register
DROP VIEW regress_ana.calls_by_country_total;
SELECT count(*) AS still_listed FROM privacy.published WHERE view_name::text = 'regress_ana.calls_by_country_total';
SELECT event, object FROM privacy.audit_log WHERE event = 'analytics.unpublished' ORDER BY id;

DROP SCHEMA regress_ana CASCADE;
SELECT count(*) AS published_left FROM privacy.published;
DROP OWNED BY regress_bi;
DROP ROLE regress_bi;
SELECT privacy.drop_purpose('regress_ana_traffic');
