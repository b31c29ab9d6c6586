-- Retention: CALL privacy.run_purge() against the hand-written statement
-- doing the same work, best of 3 interleaved rounds, each on a fresh copy
-- of the data:
--   - an unpartitioned table of twice the CDRs (2M at scale 200), half
--     expired: run_purge (batches of 10,000, a commit per batch) against
--     one DELETE ... WHERE started_at < cutoff;
--   - the CDRs partitioned by month over 24 months, 12 expired: run_purge
--     (one partition dropped per batch) against dropping the 12 partitions
--     by hand in one statement, and the WAL of both against a plain DELETE
--     of the same rows;
--   - anonymize on the expired half of the 2M table: run_purge against a
--     hand-written UPDATE doing the same (A/B-number NULL, time to the day).
-- WAL bytes are pg_current_wal_lsn() differences around each statement.
-- run_purge commits, so it cannot be timed inside a function: the
-- statements are generated and run by \gexec, each at top level, between
-- bench.mark() and bench.record().
SET client_min_messages = warning;

SELECT privacy.define_purpose('bench_retention', 'legal_obligation')
 WHERE NOT EXISTS (SELECT FROM privacy.purpose WHERE name = 'bench_retention') \g /dev/null
SELECT count(*) AS policies FROM privacy.retention_policy \gset
\if :policies
  \echo 'retention bench: the database already has retention policies; run_purge would purge them too'
  \quit
\endif

-- Twice the CDRs: the data set's 24 months, and the same shifted 24 months
-- back (all expired), in time order as a switch delivers them.
DROP TABLE IF EXISTS bench.cdr2m;
CREATE TABLE bench.cdr2m AS
  SELECT * FROM (
    SELECT cdr_id, a_number, b_number, started_at, duration_s, price, country, call_type FROM telco.cdr
    UNION ALL
    SELECT cdr_id + 1000000000, a_number, b_number, started_at - interval '24 months', duration_s, price, country, call_type
      FROM telco.cdr) s
  ORDER BY started_at;
SELECT count(*) AS n2m FROM bench.cdr2m \gset
SELECT count(*) AS n1m FROM telco.cdr \gset

DROP TABLE IF EXISTS bench.ret_result CASCADE;
CREATE TABLE bench.ret_result (bench text, variant text, round int, ms numeric, wal_bytes numeric,
                               rows bigint, batches int);

-- Expired before 2024-12-01 (unpartitioned) or 2025-12-01 (partitioned),
-- Danish time: whole days back from today, aligned to the day.
CREATE OR REPLACE FUNCTION bench.keep_until(cutoff date) RETURNS interval LANGUAGE sql AS $$
  SELECT make_interval(days => (now() AT TIME ZONE 'Europe/Copenhagen')::date - cutoff)
$$;

-- A fresh, vacuumed and analyzed copy of the 2M table, registered.
CREATE OR REPLACE FUNCTION bench.make_plain(t text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('DROP TABLE IF EXISTS bench.%I', t);
  EXECUTE format('CREATE TABLE bench.%I AS SELECT * FROM bench.cdr2m', t);
  EXECUTE format('CREATE INDEX ON bench.%I (started_at)', t);
  PERFORM privacy.register_table(format('bench.%I', t)::regclass, 'bench_retention');
  PERFORM privacy.register_column(format('bench.%I', t)::regclass, 'a_number', 'phone', identifies => 'msisdn');
  PERFORM privacy.register_column(format('bench.%I', t)::regclass, 'b_number', 'phone', identifies => 'msisdn', link => 'mention');
  PERFORM privacy.register_column(format('bench.%I', t)::regclass, 'started_at', 'traffic');
  PERFORM privacy.register_column(format('bench.%I', t)::regclass, 'duration_s', 'traffic');
  PERFORM privacy.register_column(format('bench.%I', t)::regclass, 'price', 'traffic');
  PERFORM privacy.register_column(format('bench.%I', t)::regclass, 'country', 'location');
END $$;

-- A fresh copy of the CDRs partitioned by month like telco.cdr, registered.
CREATE OR REPLACE FUNCTION bench.make_part(t text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  m int;
  lo timestamptz;
BEGIN
  EXECUTE format('DROP TABLE IF EXISTS bench.%I', t);
  EXECUTE format('CREATE TABLE bench.%I (LIKE telco.cdr) PARTITION BY RANGE (started_at)', t);
  FOR m IN 0..23 LOOP
    lo := (timestamp '2024-12-01' + make_interval(months => m)) AT TIME ZONE 'Europe/Copenhagen';
    EXECUTE format('CREATE TABLE bench.%I PARTITION OF bench.%I FOR VALUES FROM (%L) TO (%L)',
                   t || '_p' || lpad(m::text, 2, '0'), t, lo,
                   (timestamp '2024-12-01' + make_interval(months => m + 1)) AT TIME ZONE 'Europe/Copenhagen');
  END LOOP;
  EXECUTE format('CREATE TABLE bench.%I PARTITION OF bench.%I DEFAULT', t || '_default', t);
  EXECUTE format('INSERT INTO bench.%I SELECT * FROM telco.cdr ORDER BY started_at', t);
  EXECUTE format('CREATE INDEX ON bench.%I (started_at)', t);
  PERFORM privacy.register_table(format('bench.%I', t)::regclass, 'bench_retention');
  PERFORM privacy.register_column(format('bench.%I', t)::regclass, 'a_number', 'phone', identifies => 'msisdn');
END $$;

-- Time and WAL position before a measured statement, and the result after.
CREATE OR REPLACE FUNCTION bench.mark() RETURNS void LANGUAGE sql AS $$
  SELECT set_config('bench.t0', clock_timestamp()::text, false),
         set_config('bench.lsn0', pg_current_wal_lsn()::text, false);
$$;
CREATE OR REPLACE FUNCTION bench.record(b text, v text, r int, nrows bigint) RETURNS void LANGUAGE sql AS $$
  INSERT INTO bench.ret_result
  SELECT b, v, r,
         round((extract(epoch FROM clock_timestamp() - current_setting('bench.t0')::timestamptz) * 1000)::numeric, 1),
         pg_wal_lsn_diff(pg_current_wal_lsn(), current_setting('bench.lsn0')::pg_lsn),
         nrows,
         CASE WHEN v = 'run_purge' THEN
           (SELECT (detail->>'batches')::int FROM privacy.audit_log WHERE event = 'retention.purge' ORDER BY id DESC LIMIT 1) END;
$$;
CREATE OR REPLACE FUNCTION bench.count_of(t text) RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  EXECUTE format('SELECT count(*) FROM bench.%I', t) INTO n;
  RETURN n;
END $$;

-- The statements of the 3 rounds, each run at top level (their output
-- is not shown).
\o /dev/null
SELECT stmt FROM (
  SELECT r, o, stmt FROM generate_series(1, 3) r, LATERAL (VALUES
    -- 1. unpartitioned, half expired: run_purge against one DELETE
    (1, $q$SELECT bench.make_plain('ret_a'), bench.make_plain('ret_b')$q$),
    (2, 'CHECKPOINT'),   -- old rows are all-visible: flush the commit first (synchronous_commit may be off)
    (2, 'VACUUM ANALYZE bench.ret_a'),
    (3, 'VACUUM ANALYZE bench.ret_b'),
    (4, $q$SELECT privacy.set_retention('bench.ret_a', 'started_at', bench.keep_until('2024-12-01'), align => 'day',
                                        time_zone => 'Europe/Copenhagen')$q$),
    (5, 'CHECKPOINT'),
    (6, 'SELECT bench.mark()'),
    (7, 'CALL privacy.run_purge(10000)'),
    (8, format($q$SELECT bench.record('delete', 'run_purge', %s, %s - bench.count_of('ret_a'))$q$, r, :n2m)),
    (9, 'SELECT bench.mark()'),
    (10, $q$DELETE FROM bench.ret_b WHERE started_at < timestamptz '2024-12-01 00:00 Europe/Copenhagen'$q$),
    (11, format($q$SELECT bench.record('delete', 'hand DELETE', %s, %s - bench.count_of('ret_b'))$q$, r, :n2m)),
    (12, 'DROP TABLE bench.ret_a, bench.ret_b'),
    -- 2. partitioned by month, 12 of 24 expired: drop partitions
    (20, $q$SELECT bench.make_part('retp_a'), bench.make_part('retp_b'), bench.make_part('retp_c')$q$),
    (21, 'CHECKPOINT'),
    (21, 'VACUUM ANALYZE bench.retp_a, bench.retp_b, bench.retp_c'),
    (22, $q$SELECT privacy.set_retention('bench.retp_a', 'started_at', bench.keep_until('2025-12-01'), align => 'day',
                                         time_zone => 'Europe/Copenhagen')$q$),
    (23, 'CHECKPOINT'),
    (24, 'SELECT bench.mark()'),
    (25, 'CALL privacy.run_purge(10000)'),
    (26, format($q$SELECT bench.record('partitions', 'run_purge', %s, %s - bench.count_of('retp_a'))$q$, r, :n1m)),
    (27, 'SELECT bench.mark()'),
    (28, 'DROP TABLE ' || (SELECT string_agg('bench.retp_b_p' || lpad(m::text, 2, '0'), ', ') FROM generate_series(0, 11) m)),
    (29, format($q$SELECT bench.record('partitions', 'hand DROP', %s, %s - bench.count_of('retp_b'))$q$, r, :n1m)),
    (30, 'SELECT bench.mark()'),
    (31, $q$DELETE FROM bench.retp_c WHERE started_at < timestamptz '2025-12-01 00:00 Europe/Copenhagen'$q$),
    (32, format($q$SELECT bench.record('partitions', 'plain DELETE', %s, %s - bench.count_of('retp_c'))$q$, r, :n1m)),
    (33, 'DROP TABLE bench.retp_a, bench.retp_b, bench.retp_c'),
    -- 3. anonymize the expired half of the 2M table
    (40, $q$SELECT bench.make_plain('ret_c'), bench.make_plain('ret_d')$q$),
    (41, 'CHECKPOINT'),
    (41, 'VACUUM ANALYZE bench.ret_c'),
    (42, 'VACUUM ANALYZE bench.ret_d'),
    (43, $q$SELECT privacy.set_retention('bench.ret_c', 'started_at', bench.keep_until('2024-12-01'), 'anonymize',
                                         align => 'day', time_zone => 'Europe/Copenhagen', generalize => 'day')$q$),
    (44, 'CHECKPOINT'),
    (45, 'SELECT bench.mark()'),
    (46, 'CALL privacy.run_purge(10000)'),
    (47, format($q$SELECT bench.record('anonymize', 'run_purge', %s,
                   (SELECT count(*) FROM bench.ret_c WHERE a_number IS NULL))$q$, r)),
    (48, 'SELECT bench.mark()'),
    (49, $q$UPDATE bench.ret_d SET a_number = NULL, b_number = NULL,
                   started_at = date_trunc('day', started_at, 'Europe/Copenhagen')
             WHERE started_at < timestamptz '2024-12-01 00:00 Europe/Copenhagen'$q$),
    (50, format($q$SELECT bench.record('anonymize', 'hand UPDATE', %s,
                   (SELECT count(*) FROM bench.ret_d WHERE a_number IS NULL))$q$, r)),
    (51, 'DROP TABLE bench.ret_c, bench.ret_d')
  ) s(o, stmt)
) q ORDER BY r, o, stmt = 'CHECKPOINT' DESC \gexec
\o

CREATE OR REPLACE VIEW bench.ret_best AS
  SELECT DISTINCT ON (bench, variant) bench, variant, ms, wal_bytes, rows, batches
    FROM bench.ret_result ORDER BY bench, variant, ms;

\echo
\echo '== Retention: run_purge against hand-written SQL (best of 3 rounds; WAL of that round)'
SELECT bench, variant, ms, round(ms * 1000000 / NULLIF(rows, 0)) AS "ns/row",
       rows, batches, pg_size_pretty(wal_bytes) AS wal
  FROM bench.ret_best ORDER BY bench, ms;

WITH b AS (SELECT * FROM bench.ret_best)
SELECT measure, ratio, target, result FROM (
  SELECT 1 AS o, 'delete 2M/2: run_purge / hand DELETE' AS measure, round(p.ms / d.ms, 2) AS ratio,
         '<= 1.5' AS target, CASE WHEN p.ms / d.ms <= 1.5 AND p.rows = d.rows THEN 'met' ELSE 'NOT MET' END AS result
    FROM b p, b d WHERE p.bench = 'delete' AND p.variant = 'run_purge' AND d.bench = 'delete' AND d.variant = 'hand DELETE'
  UNION ALL
  SELECT 2, 'delete: rows per transaction (batch size 10,000)', round(p.rows::numeric / p.batches, 0),
         '<= 10000', CASE WHEN p.rows::numeric / p.batches <= 10000 THEN 'met' ELSE 'NOT MET' END
    FROM b p WHERE p.bench = 'delete' AND p.variant = 'run_purge'
  UNION ALL
  SELECT 3, '12 of 24 partitions: run_purge / hand DROP', round(p.ms / d.ms, 2),
         '<= 2', CASE WHEN p.ms / d.ms <= 2 AND p.rows = d.rows THEN 'met' ELSE 'NOT MET' END
    FROM b p, b d WHERE p.bench = 'partitions' AND p.variant = 'run_purge' AND d.bench = 'partitions' AND d.variant = 'hand DROP'
  UNION ALL
  SELECT 4, '12 of 24 partitions: WAL of plain DELETE / run_purge', round(d.wal_bytes / p.wal_bytes, 0),
         '(report)', pg_size_pretty(d.wal_bytes) || ' against ' || pg_size_pretty(p.wal_bytes)
    FROM b p, b d WHERE p.bench = 'partitions' AND p.variant = 'run_purge' AND d.bench = 'partitions' AND d.variant = 'plain DELETE'
  UNION ALL
  SELECT 5, '12 of 24 partitions: time of plain DELETE / run_purge', round(d.ms / p.ms, 1),
         '(report)', 'reported'
    FROM b p, b d WHERE p.bench = 'partitions' AND p.variant = 'run_purge' AND d.bench = 'partitions' AND d.variant = 'plain DELETE'
  UNION ALL
  SELECT 6, 'anonymize 1M: run_purge / hand UPDATE', round(p.ms / d.ms, 2),
         '(report)', CASE WHEN p.rows = d.rows THEN 'reported, same rows' ELSE 'NOT MET: rows differ' END
    FROM b p, b d WHERE p.bench = 'anonymize' AND p.variant = 'run_purge' AND d.bench = 'anonymize' AND d.variant = 'hand UPDATE'
) s ORDER BY o;

SELECT privacy.drop_purpose('bench_retention') \g /dev/null
