-- Shared set-up of the benchmarks: the timing helper, pgcrypto, the no-op
-- floor function, and the CDRs as a CSV file for COPY.
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_privacy;
CREATE EXTENSION IF NOT EXISTS pgcrypto;
DROP SCHEMA IF EXISTS bench CASCADE;
CREATE SCHEMA bench;

-- Milliseconds one statement takes (run through EXECUTE, result discarded).
CREATE FUNCTION bench.ms(q text) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
  t0 timestamptz := clock_timestamp();
BEGIN
  EXECUTE q;
  RETURN round((extract(epoch FROM clock_timestamp() - t0) * 1000)::numeric, 1);
END
$$;

-- The executor's floor: a C function of the same signature doing nothing.
CREATE FUNCTION bench.noop(value text, domain text DEFAULT 'default') RETURNS text
  LANGUAGE c STABLE STRICT PARALLEL SAFE AS '$libdir/pgp_bench_floor', 'pgp_bench_noop';

-- Results: one row per measurement and round.
CREATE TABLE bench.result (bench text, variant text, round int, ms numeric);

-- 1M (or SCALE-dependent) phone numbers: the A-numbers of the CDRs.
CREATE TABLE bench.phones AS SELECT a_number AS msisdn FROM telco.cdr;
ANALYZE bench.phones;

-- The CDRs as the switch would deliver them.
COPY (SELECT cdr_id, a_number, b_number, started_at, duration_s, price, country FROM telco.cdr)
  TO :'csv' WITH (FORMAT csv);

-- Best of the rounds per variant.
CREATE VIEW bench.best AS
  SELECT bench, variant, min(ms) AS ms FROM bench.result GROUP BY bench, variant;
