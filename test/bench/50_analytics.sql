-- Safe analytics: the pseudonymized extract of the protected CDRs against
-- the same SELECT without pseudonymization, and k_anonymity against the
-- hand-written GROUP BY.
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;
SET jit = off;

-- bench.cdr_protected holds the CDRs with FF1-protected A/B-numbers (20_protect_copy.sql).
SELECT privacy.register_column('bench.cdr_protected', 'started_at', 'traffic') \g /dev/null
SELECT privacy.register_column('bench.cdr_protected', 'duration_s', 'traffic') \g /dev/null
SELECT privacy.register_column('bench.cdr_protected', 'country', 'location') \g /dev/null
SELECT privacy.create_pseudonymized_extract('bench.cdr_extract', 'bench.cdr_protected', 'bench_analytics', 'hour') \g /dev/null
SELECT count(*) AS n FROM bench.cdr_protected \gset

DO $$
DECLARE
  r int;
BEGIN
  FOR r IN 1..3 LOOP
    INSERT INTO bench.result SELECT 'extract', 'plain SELECT', r, bench.ms(
      'SELECT count(a_number), count(b_number), count(started_at), count(country), sum(duration_s) FROM bench.cdr_protected');
    INSERT INTO bench.result SELECT 'extract', 'pseudonymized extract', r, bench.ms(
      'SELECT count(a_number), count(b_number), count(started_at), count(country), sum(duration_s) FROM bench.cdr_extract');
    INSERT INTO bench.result SELECT 'kanon', 'hand-written GROUP BY', r, bench.ms(
      'SELECT min(n), count(*), sum(n), count(*) FILTER (WHERE n < 5), sum(n) FILTER (WHERE n < 5)
         FROM (SELECT count(*) AS n FROM telco.cdr GROUP BY country, call_type, duration_s) g');
    INSERT INTO bench.result SELECT 'kanon', 'k_anonymity', r, bench.ms(
      'SELECT * FROM privacy.k_anonymity(''telco.cdr'', ARRAY[''country'', ''call_type'', ''duration_s''], 5)');
  END LOOP;
END
$$;

\echo
\echo '== safe analytics (best of 3 rounds over' :n 'CDRs)'
SELECT bench, variant, ms, round(ms * 1000000 / :n) AS "ns/row"
  FROM bench.best WHERE bench IN ('extract', 'kanon') ORDER BY bench, ms;

WITH b AS (SELECT variant, ms FROM bench.best WHERE bench IN ('extract', 'kanon'))
SELECT measure, ratio, target, CASE WHEN ok THEN 'met' ELSE 'NOT MET' END AS result FROM (
  SELECT 1 AS o, 'pseudonymized extract / plain SELECT' AS measure,
         round(e.ms / p.ms, 2) AS ratio, '<= 2' AS target, e.ms / p.ms <= 2 AS ok
    FROM b e, b p WHERE e.variant = 'pseudonymized extract' AND p.variant = 'plain SELECT'
  UNION ALL
  SELECT 2, 'k_anonymity / hand-written GROUP BY', round(k.ms / h.ms, 2), '<= 1.5', k.ms / h.ms <= 1.5
    FROM b k, b h WHERE k.variant = 'k_anonymity' AND h.variant = 'hand-written GROUP BY'
) s ORDER BY o;
