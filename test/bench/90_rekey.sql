-- Key rotation: CALL privacy.rekey() converting the CDRs' A- and B-numbers
-- (1M rows at scale 200, two msisdn_fpe columns, 24 monthly partitions and
-- a default one, each number and the time indexed)
-- from the replaced key to the new one, against the hand-written UPDATE
-- that writes the same values: the same numbers in clear in an
-- unprotected table of the same layout and indexes, each pseudonymized under the
-- new key by pseudonymize_msisdn.  The UPDATE computes one FF1 per value;
-- rekey decrypts under the old key and encrypts under the new one, and
-- commits every 10,000 rows (its default batch), each partition in order
-- of its time.  Runs last: it changes the database's key (twice, for two
-- rounds of rekey; three rounds of the UPDATE, each on a fresh copy after
-- a checkpoint).  rekey is timed as CALL privacy.rekey(10000, 60000,
-- 'bench.rekey_cdr') runs it, over this table's relations only (other
-- tables of the data set that earlier parts protected are left pending).
SET client_min_messages = warning;

SELECT privacy.define_purpose('bench_rekey', 'legal_obligation')
 WHERE NOT EXISTS (SELECT FROM privacy.purpose WHERE name = 'bench_rekey') \g /dev/null

-- The CDRs partitioned by month like telco.cdr (24 months and a default
-- partition), indexed on both numbers and the time; protected (the CDRs'
-- numbers pseudonymized under key A on the way in) or not.
CREATE OR REPLACE FUNCTION bench.rekey_part(t text, protected boolean) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  m int;
  lo timestamptz;
  tbl regclass;
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
  EXECUTE format('CREATE INDEX ON bench.%I (a_number)', t);
  EXECUTE format('CREATE INDEX ON bench.%I (b_number)', t);
  EXECUTE format('CREATE INDEX ON bench.%I (started_at)', t);
  tbl := format('bench.%I', t)::regclass;
  IF protected THEN
    PERFORM privacy.register_table(tbl, 'bench_rekey');
    PERFORM privacy.register_column(tbl, 'a_number', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
    PERFORM privacy.register_column(tbl, 'b_number', 'phone', identifies => 'msisdn', link => 'mention', protect => 'msisdn_fpe');
    PERFORM privacy.protect(tbl);
  END IF;
END $$;

SELECT bench.rekey_part('rekey_cdr', true) \g /dev/null
INSERT INTO bench.rekey_cdr SELECT * FROM telco.cdr ORDER BY started_at;
-- the numbers as the switch delivered them, in a table of the same layout
SELECT bench.rekey_part('rekey_clear', false) \g /dev/null
INSERT INTO bench.rekey_clear SELECT * FROM telco.cdr ORDER BY started_at;
SELECT count(*) AS ncdr FROM bench.rekey_clear \gset


DROP TABLE IF EXISTS bench.rekey_result;
CREATE TABLE bench.rekey_result (variant text, round int, ms numeric, rows bigint);

-- Two more keys, next to the data set's CSV (outside the data directory).
SELECT current_setting('pg_privacy.key_file') AS key_a \gset
\set key_b :csv '.rekey-b.key'
\set key_c :csv '.rekey-c.key'
\setenv PGP_BENCH_KEY_B :key_b
\setenv PGP_BENCH_KEY_C :key_c
\! umask 077; openssl rand -hex 32 > "$PGP_BENCH_KEY_B"; openssl rand -hex 32 > "$PGP_BENCH_KEY_C"

CREATE OR REPLACE FUNCTION bench.hand_copy() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  PERFORM bench.rekey_part('rekey_hand', false);
  INSERT INTO bench.rekey_hand SELECT * FROM bench.rekey_clear ORDER BY started_at;
END $$;
CREATE OR REPLACE FUNCTION bench.t0() RETURNS void LANGUAGE sql AS $$
  SELECT set_config('bench.t0', clock_timestamp()::text, false);
$$;
CREATE OR REPLACE FUNCTION bench.rekey_record(v text, r int, nrows bigint) RETURNS void LANGUAGE sql AS $$
  INSERT INTO bench.rekey_result
  SELECT v, r, round((extract(epoch FROM clock_timestamp() - current_setting('bench.t0')::timestamptz) * 1000)::numeric, 1), nrows;
$$;

-- Round 1: key B replaces A.
SELECT fingerprint AS fp_a FROM privacy.key_state \gset
SELECT format('ALTER SYSTEM SET pg_privacy.key_file = %L', :'key_b' || ', ' || :'key_a') \gexec
SELECT pg_reload_conf() \g /dev/null
SELECT pg_sleep(0.5) \g /dev/null
\c
SET client_min_messages = warning;
SELECT privacy.accept_key_change(:'fp_a') \g /dev/null

-- The hand-written UPDATE, three rounds under key B.
\o /dev/null
SELECT stmt FROM (
  SELECT r, o, stmt FROM generate_series(1, 3) r, LATERAL (VALUES
    (1, 'SELECT bench.hand_copy()'),
    (2, 'VACUUM ANALYZE bench.rekey_hand'),
    (3, 'CHECKPOINT'),
    (4, 'SELECT bench.t0()'),
    (5, 'UPDATE bench.rekey_hand SET a_number = privacy.pseudonymize_msisdn(a_number), b_number = privacy.pseudonymize_msisdn(b_number)'),
    (6, format($q$SELECT bench.rekey_record('hand UPDATE', %s, (SELECT count(*) FROM bench.rekey_hand))$q$, r))
  ) s(o, stmt)
) q ORDER BY r, o \gexec
\o

-- rekey, round 1 (A to B)
VACUUM ANALYZE bench.rekey_cdr;
CHECKPOINT;
SELECT bench.t0() \g /dev/null
CALL privacy.rekey(10000, 60000, 'bench.rekey_cdr');
SELECT bench.rekey_record('rekey', 1, (SELECT sum(rows) FROM privacy.rekey_log
                                        WHERE to_key = privacy.key_fingerprint() AND tbl = 'bench.rekey_cdr')::bigint) \g /dev/null
-- the same values as the hand-written UPDATE's
SELECT count(*) AS differ FROM bench.rekey_cdr c JOIN bench.rekey_hand h USING (cdr_id)
 WHERE c.a_number IS DISTINCT FROM h.a_number OR c.b_number IS DISTINCT FROM h.b_number \gset

-- rekey, round 2 (B to C)
SELECT format('ALTER SYSTEM SET pg_privacy.key_file = %L', :'key_c' || ', ' || :'key_b' || ', ' || :'key_a') \gexec
SELECT pg_reload_conf() \g /dev/null
SELECT pg_sleep(0.5) \g /dev/null
\c
SET client_min_messages = warning;
SELECT fingerprint AS fp_b FROM privacy.key_state \gset
SELECT privacy.accept_key_change(:'fp_b') \g /dev/null
VACUUM ANALYZE bench.rekey_cdr;
CHECKPOINT;
SELECT bench.t0() \g /dev/null
CALL privacy.rekey(10000, 60000, 'bench.rekey_cdr');
SELECT bench.rekey_record('rekey', 2, (SELECT sum(rows) FROM privacy.rekey_log
                                        WHERE to_key = privacy.key_fingerprint() AND tbl = 'bench.rekey_cdr')::bigint) \g /dev/null

CREATE OR REPLACE VIEW bench.rekey_best AS
  SELECT DISTINCT ON (variant) variant, ms, rows FROM bench.rekey_result ORDER BY variant, ms;

\echo
\echo '== Key rotation: rekey of the CDRs (two msisdn_fpe columns) against the hand-written UPDATE (best of 2 and 3 rounds)'
SELECT variant, ms, round(ms * 1000000 / NULLIF(rows, 0)) AS "ns/row", rows FROM bench.rekey_best ORDER BY ms;

SELECT measure, ratio, target, result FROM (
  SELECT 1 AS o, 'rekey 1M CDRs (2 FPE columns) / hand UPDATE' AS measure, round(k.ms / h.ms, 2) AS ratio,
         '<= 2' AS target,
         CASE WHEN k.ms / h.ms <= 2 AND k.rows = :ncdr AND :differ = 0 THEN 'met'
              WHEN :differ <> 0 THEN 'NOT MET: values differ' ELSE 'NOT MET' END AS result
    FROM bench.rekey_best k, bench.rekey_best h WHERE k.variant = 'rekey' AND h.variant = 'hand UPDATE'
) s ORDER BY o;

-- Protecting a table that holds 1M CDRs written raw: protect_in_batches
-- and CALL privacy.rekey() (10,000 rows per transaction) against
-- protect(rewrite_existing => true) (one transaction), two rounds each on
-- fresh copies, under the current key; the two must store the same values.
CREATE OR REPLACE FUNCTION bench.raw_copy(t text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  tbl regclass;
BEGIN
  IF to_regclass('bench.' || t) IS NOT NULL AND EXISTS (SELECT FROM privacy.registered_table r WHERE r.tbl::text = 'bench.' || t) THEN
    PERFORM privacy.unprotect(('bench.' || t)::regclass);
    PERFORM privacy.unregister_table(('bench.' || t)::regclass);
  END IF;
  PERFORM bench.rekey_part(t, false);
  EXECUTE format('INSERT INTO bench.%I SELECT * FROM bench.rekey_clear ORDER BY started_at', t);
  tbl := format('bench.%I', t)::regclass;
  PERFORM privacy.register_table(tbl, 'bench_rekey');
  PERFORM privacy.register_column(tbl, 'a_number', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
  PERFORM privacy.register_column(tbl, 'b_number', 'phone', identifies => 'msisdn', link => 'mention', protect => 'msisdn_fpe');
END $$;
-- The export of a subject while the table is converted (its raw rows read
-- by their normal form, the table scanned) and once it is, timed apart
-- from the conversion (bench.t_pause, bench.t_resume).
CREATE OR REPLACE FUNCTION bench.t_pause() RETURNS void LANGUAGE sql AS $$
  SELECT set_config('bench.acc', (clock_timestamp() - current_setting('bench.t0')::timestamptz)::text, false);
$$;
CREATE OR REPLACE FUNCTION bench.t_resume() RETURNS void LANGUAGE sql AS $$
  SELECT set_config('bench.t0', (clock_timestamp() - current_setting('bench.acc')::interval)::text, false);
$$;
SELECT a_number AS conv_subj FROM bench.rekey_clear GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1 \gset
CREATE OR REPLACE FUNCTION bench.export_rows(n text) RETURNS bigint LANGUAGE sql AS $$
  SELECT count(*) FROM jsonb_array_elements(privacy.export_subject('msisdn', n)->'tables') t,
                      jsonb_array_elements(t->'rows') r
   WHERE t->>'table' = 'bench.conv_batch'
$$;
\o /dev/null
SELECT stmt FROM (
  SELECT r, o, stmt FROM generate_series(1, 2) r, LATERAL (VALUES
    (1, 'SELECT bench.raw_copy(''conv_one'')'),
    (2, 'VACUUM ANALYZE bench.conv_one'),
    (3, 'CHECKPOINT'),
    (4, 'SELECT bench.t0()'),
    (5, 'SELECT privacy.protect(''bench.conv_one'', rewrite_existing => true)'),
    (6, format($q$SELECT bench.rekey_record('protect(rewrite_existing)', %s, (SELECT count(*) FROM bench.conv_one))$q$, r)),
    (7, 'SELECT bench.raw_copy(''conv_batch'')'),
    (8, 'VACUUM ANALYZE bench.conv_batch'),
    (9, 'CHECKPOINT'),
    (10, 'SELECT bench.t0()'),
    (11, 'SELECT privacy.protect_in_batches(''bench.conv_batch'')'),
    (11.1, 'SELECT bench.t_pause()'),
    (11.2, 'SELECT bench.t0()'),
    (11.3, format($q$SELECT bench.rekey_record('export, table being converted', %s, bench.export_rows(%L))$q$, r, :'conv_subj')),
    (11.4, 'SELECT bench.t_resume()'),
    (12, 'CALL privacy.rekey(10000, 60000, ''bench.conv_batch'')'),
    (13, format($q$SELECT bench.rekey_record('protect_in_batches + rekey', %s, (SELECT sum(rows) FROM privacy.rekey_log WHERE from_key = 'raw' AND tbl = 'bench.conv_batch' AND finished_at >= current_setting('bench.t0')::timestamptz)::bigint)$q$, r)),
    (14, 'SELECT bench.t0()'),
    (15, format($q$SELECT bench.rekey_record('export, table converted', %s, bench.export_rows(%L))$q$, r, :'conv_subj'))
  ) s(o, stmt)
) q ORDER BY r, o \gexec
\o
SELECT count(*) AS conv_differ FROM bench.conv_batch c JOIN bench.conv_one o USING (cdr_id)
 WHERE c.a_number IS DISTINCT FROM o.a_number OR c.b_number IS DISTINCT FROM o.b_number \gset
SELECT count(*) AS conv_left FROM privacy.rekey_pending WHERE tbl = 'bench.conv_batch'::regclass \gset

\echo
\echo '== Protecting 1M CDRs written raw: protect_in_batches + CALL privacy.rekey() against protect(rewrite_existing => true) (best of 2 rounds)'
SELECT variant, ms, round(ms * 1000000 / NULLIF(rows, 0)) AS "ns/row", rows FROM bench.rekey_best
 WHERE variant LIKE 'protect%' ORDER BY ms;
SELECT 'protect_in_batches + rekey / protect(rewrite_existing), 1M CDRs' AS measure, round(b.ms / o.ms, 2) AS ratio,
       '(report)' AS target,
       CASE WHEN b.rows = :ncdr AND o.rows = :ncdr AND :conv_differ = 0 AND :conv_left = 0 THEN 'reported, same values'
            ELSE 'values or rows differ' END AS result
  FROM bench.rekey_best b, bench.rekey_best o
 WHERE b.variant = 'protect_in_batches + rekey' AND o.variant = 'protect(rewrite_existing)';
SELECT privacy.unprotect(t) FROM unnest('{bench.conv_one,bench.conv_batch}'::regclass[]) t \g /dev/null
SELECT privacy.unregister_table(t) FROM unnest('{bench.conv_one,bench.conv_batch}'::regclass[]) t \g /dev/null
DROP TABLE bench.conv_one, bench.conv_batch;

\echo
\echo '== The export of a subject with calls in that table, while protect_in_batches converts it (its raw rows read by their normal form, the table scanned) and once it is (best of 2 rounds)'
SELECT variant, ms, rows FROM bench.rekey_best WHERE variant LIKE 'export%' ORDER BY ms;
SELECT 'export during protect_in_batches / after, 1M CDRs' AS measure, round(d.ms / a.ms, 2) AS ratio,
       '(report)' AS target,
       CASE WHEN d.rows = a.rows AND d.rows > 0 THEN 'reported, same rows' ELSE 'rows differ' END AS result
  FROM bench.rekey_best d, bench.rekey_best a
 WHERE d.variant = 'export, table being converted' AND a.variant = 'export, table converted';

DROP TABLE bench.rekey_hand, bench.rekey_clear;
SELECT privacy.unprotect('bench.rekey_cdr') \g /dev/null
SELECT privacy.unregister_table('bench.rekey_cdr') \g /dev/null
DROP TABLE bench.rekey_cdr;
SELECT privacy.drop_purpose('bench_rekey') \g /dev/null
