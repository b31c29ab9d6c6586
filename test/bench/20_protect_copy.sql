-- COPY of the CDRs into a protected table (A- and B-number FPE) against
-- the same table unprotected and with a hand-written PL/pgSQL trigger
-- calling pgcrypto for the same two columns.
SET client_min_messages = warning;

CREATE TABLE bench.cdr_plain (cdr_id bigint, a_number text, b_number text, started_at timestamptz,
                              duration_s integer, price numeric(10,4), country text);
CREATE TABLE bench.cdr_protected (LIKE bench.cdr_plain);
CREATE TABLE bench.cdr_plpgsql (LIKE bench.cdr_plain);
-- The trigger floor: the same C trigger with the cheapest transformation
-- (one column nulled), to show what any BEFORE ROW trigger costs COPY.
CREATE TABLE bench.cdr_trigger_floor (LIKE bench.cdr_plain);

SELECT privacy.define_purpose('bench_traffic', 'legal_obligation') \g /dev/null
SELECT privacy.register_table('bench.cdr_protected', 'bench_traffic') \g /dev/null
SELECT privacy.register_column('bench.cdr_protected', 'a_number', 'phone', identifies => 'msisdn',
                               protect => 'msisdn_fpe') \g /dev/null
SELECT privacy.register_column('bench.cdr_protected', 'b_number', 'phone', identifies => 'msisdn',
                               link => 'mention', protect => 'msisdn_fpe') \g /dev/null
SELECT privacy.protect('bench.cdr_protected') \g /dev/null
SELECT privacy.register_table('bench.cdr_trigger_floor', 'bench_traffic') \g /dev/null
SELECT privacy.register_column('bench.cdr_trigger_floor', 'country', 'location', protect => 'null') \g /dev/null
SELECT privacy.protect('bench.cdr_trigger_floor') \g /dev/null

-- What operators write by hand today.
CREATE FUNCTION bench.plpgsql_protect() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.a_number := encode(hmac(NEW.a_number, 'bench-key-0123456789abcdef0123456789abcdef', 'sha256'), 'hex');
  NEW.b_number := encode(hmac(NEW.b_number, 'bench-key-0123456789abcdef0123456789abcdef', 'sha256'), 'hex');
  RETURN NEW;
END
$$;
CREATE TRIGGER protect BEFORE INSERT OR UPDATE ON bench.cdr_plpgsql
  FOR EACH ROW EXECUTE FUNCTION bench.plpgsql_protect();

SELECT :'csv' AS csv \gset
SELECT count(*) AS n FROM telco.cdr \gset
SELECT set_config('bench.csv', :'csv', false) \g /dev/null

DO $$
DECLARE
  r int;
  t text;
  csv text := current_setting('bench.csv');
BEGIN
  FOR r IN 1..3 LOOP
    FOREACH t IN ARRAY ARRAY['cdr_plain', 'cdr_trigger_floor', 'cdr_protected', 'cdr_plpgsql'] LOOP
      EXECUTE format('TRUNCATE bench.%I', t);
      INSERT INTO bench.result SELECT 'copy', t, r,
        bench.ms(format('COPY bench.%I FROM %L WITH (FORMAT csv)', t, csv));
    END LOOP;
  END LOOP;
END
$$;

SELECT count(*) AS raw_left FROM bench.cdr_protected p JOIN telco.cdr c USING (cdr_id)
 WHERE p.a_number = c.a_number \gset
\echo
\echo '== COPY of' :n 'CDRs (best of 3 rounds; raw A-numbers left in the protected table:' :raw_left ')'
SELECT variant AS "table", ms AS "ms", round(ms * 1000000 / :n) AS "ns/row"
  FROM bench.best WHERE bench = 'copy' ORDER BY ms;

WITH b AS (SELECT variant, ms FROM bench.best WHERE bench = 'copy')
SELECT measure, ratio, target, CASE WHEN ok THEN 'met' ELSE 'NOT MET' END AS result FROM (
  SELECT 1 AS o, 'protected / plain COPY' AS measure,
         round(p.ms / c.ms, 2) AS ratio, '<= 1.5' AS target, p.ms / c.ms <= 1.5 AS ok
    FROM b p, b c WHERE p.variant = 'cdr_protected' AND c.variant = 'cdr_plain'
  UNION ALL
  SELECT 2, 'PL/pgSQL+pgcrypto trigger / protected', round(g.ms / p.ms, 2), '>= 4', g.ms / p.ms >= 4
    FROM b p, b g WHERE p.variant = 'cdr_protected' AND g.variant = 'cdr_plpgsql'
) s ORDER BY o;

\echo 'where the time goes (per row, against plain COPY):'
WITH b AS (SELECT variant, ms FROM bench.best WHERE bench = 'copy')
SELECT 'any BEFORE ROW trigger (row-by-row insert, trigger call, tuple rebuild)' AS part,
       round((f.ms - c.ms) * 1000000 / :n) AS "ns/row", round(f.ms / c.ms, 2) AS "ratio to plain"
  FROM b f, b c WHERE f.variant = 'cdr_trigger_floor' AND c.variant = 'cdr_plain'
UNION ALL
SELECT 'FF1 of the A- and B-number (normalize, 2 x 10 AES-256 rounds)',
       round((p.ms - f.ms) * 1000000 / :n), NULL
  FROM b p, b f WHERE p.variant = 'cdr_protected' AND f.variant = 'cdr_trigger_floor';
