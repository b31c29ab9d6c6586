-- Masking by role: a SELECT over all CDRs that computes every column
-- (each row as text), run by the table's owner and by a role masked with
-- privacy.mask_role, whose A- and B-numbers the planner masks.  The bench
-- runs as a superuser, who is never masked: the masked run is made after
-- SET ROLE to the masked role.
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;
SET jit = off;

-- Run alone (BENCH_ONLY=70_mask), nothing has declared the telco tables
-- yet: declare them as 60_subject.sql does.
SELECT NOT EXISTS (SELECT FROM privacy.registered_table WHERE tbl = 'telco.cdr'::regclass) AS declare_telco \gset
\if :declare_telco
\o /dev/null
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
  q text := 'SELECT sum(length(t::text)) FROM telco.cdr t';
BEGIN
  FOR r IN 1..3 LOOP
    INSERT INTO bench.result SELECT 'mask', 'unmasked SELECT', r, bench.ms(q);
    SET LOCAL ROLE bench_masked;
    ms := bench.ms(q);
    RESET ROLE;
    INSERT INTO bench.result VALUES ('mask', 'masked SELECT', r, ms);
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
  FROM bench.best WHERE bench = 'mask' ORDER BY ms;

WITH b AS (SELECT variant, ms FROM bench.best WHERE bench = 'mask')
SELECT measure, ratio, target, CASE WHEN ok THEN 'met' ELSE 'NOT MET' END AS result FROM (
  SELECT 'masked SELECT / unmasked SELECT' AS measure, round(m.ms / u.ms, 2) AS ratio, '<= 1.3' AS target,
         m.ms / u.ms <= 1.3 AS ok
    FROM b m, b u WHERE m.variant = 'masked SELECT' AND u.variant = 'unmasked SELECT'
) s;
