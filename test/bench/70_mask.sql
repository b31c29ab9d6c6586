-- Masking by role: SELECTs over all CDRs run by the table's owner and by a
-- role masked with privacy.mask_role, whose A- and B-numbers the planner
-- masks.  The measure: every column in its text form, as a client
-- receives a SELECT * (column by column: a whole-row reference would add
-- the conversion of each partition's row to the parent's type to the
-- unmasked run only).  Shown beside it, without a target: aggregates over
-- the columns, no text form, where the masks' own cost stands alone.  The
-- bench runs as a superuser, who is never masked: the masked runs are made
-- after SET ROLE to the masked role.
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;
SET jit = off;

-- Run alone (BENCH_ONLY=70_mask), nothing has declared the telco tables
-- yet: declare them as 60_subject.sql does.
SELECT NOT EXISTS (SELECT FROM privacy.registered_table WHERE tbl = 'telco.cdr'::regclass) AS declare_telco \gset
\if :declare_telco
\o /dev/null
\set cdr_rewrite 1
\ir ../data/register.sql
\o
SET client_min_messages = warning;
\endif

CREATE ROLE bench_masked;
GRANT USAGE ON SCHEMA telco, bench TO bench_masked;
GRANT SELECT ON telco.cdr TO bench_masked;
SELECT privacy.mask_role('bench_masked') \g /dev/null
VACUUM ANALYZE telco.cdr;
SELECT count(*) AS n FROM telco.cdr \gset

DO $$
DECLARE
  r int;
  ms numeric;
  q text := 'SELECT sum(length(cdr_id::text) + length(a_number) + length(coalesce(b_number, '''')) + length(started_at::text)
                        + length(duration_s::text) + length(price::text) + length(country::text) + length(call_type))
               FROM telco.cdr';
  qc text := 'SELECT max(cdr_id), sum(length(a_number)), sum(length(b_number)), max(started_at), sum(duration_s),
                     sum(price), count(country), count(call_type) FROM telco.cdr';
BEGIN
  FOR r IN 1..3 LOOP
    INSERT INTO bench.result SELECT 'mask', 'unmasked SELECT, as text', r, bench.ms(q);
    INSERT INTO bench.result SELECT 'mask_cols', 'unmasked aggregates', r, bench.ms(qc);
    SET LOCAL ROLE bench_masked;
    ms := bench.ms(q);
    RESET ROLE;
    INSERT INTO bench.result VALUES ('mask', 'masked SELECT, as text', r, ms);
    SET LOCAL ROLE bench_masked;
    ms := bench.ms(qc);
    RESET ROLE;
    INSERT INTO bench.result VALUES ('mask_cols', 'masked aggregates', r, ms);
  END LOOP;
END
$$;

-- What the masked run computed: every A-number masked (+4520XXXXXX).
SET ROLE bench_masked;
SELECT count(*) FILTER (WHERE (t).a_number ~ 'X') AS masked, count(*) AS of FROM telco.cdr t \gset
RESET ROLE;

\echo
\echo '== masking by role (best of 3 rounds over' :n 'CDRs; the masked role saw' :masked 'of' :of 'A-numbers masked)'
SELECT bench, variant, ms, round(ms * 1000000 / :n) AS "ns/row"
  FROM bench.best WHERE bench IN ('mask', 'mask_cols') ORDER BY bench, ms;

WITH b AS (SELECT variant, ms FROM bench.best WHERE bench IN ('mask', 'mask_cols'))
SELECT measure, ratio, target, CASE WHEN ok IS NULL THEN '-' WHEN ok THEN 'met' ELSE 'NOT MET' END AS result FROM (
  SELECT 1 AS o, 'masked SELECT / unmasked SELECT (every column as text)' AS measure,
         round(m.ms / u.ms, 2) AS ratio, '<= 1.3' AS target, m.ms / u.ms <= 1.3 AS ok
    FROM b m, b u WHERE m.variant = 'masked SELECT, as text' AND u.variant = 'unmasked SELECT, as text'
  UNION ALL
  SELECT 2, 'masked / unmasked aggregates (the masks'' own cost)', round(m.ms / u.ms, 2), '-', NULL
    FROM b m, b u WHERE m.variant = 'masked aggregates' AND u.variant = 'unmasked aggregates'
) s ORDER BY o;
