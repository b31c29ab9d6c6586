-- Pseudonymization per row: privacy.pseudonymize and pseudonymize_msisdn
-- against pgcrypto's HMAC and the no-op floor, over every A-number.
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;
SET jit = off;
\set key '''bench-key-0123456789abcdef0123456789abcdef'''

SELECT privacy.pseudonymize('warm-up'), privacy.pseudonymize_msisdn('+4520123456') \g /dev/null
SELECT count(*) AS n FROM bench.phones \gset
-- Three rounds, variants interleaved so drift hits all alike.
DO $$
DECLARE
  r int;
BEGIN
  FOR r IN 1..3 LOOP
    INSERT INTO bench.result SELECT 'pseudo', 'noop', r,
      bench.ms('SELECT count(bench.noop(msisdn, ''default'')) FROM bench.phones');
    INSERT INTO bench.result SELECT 'pseudo', 'pseudonymize', r,
      bench.ms('SELECT count(privacy.pseudonymize(msisdn)) FROM bench.phones');
    INSERT INTO bench.result SELECT 'pseudo', 'pseudonymize_msisdn', r,
      bench.ms('SELECT count(privacy.pseudonymize_msisdn(msisdn)) FROM bench.phones');
    INSERT INTO bench.result SELECT 'pseudo', 'pgcrypto', r,
      bench.ms('SELECT count(encode(hmac(msisdn, ''bench-key-0123456789abcdef0123456789abcdef'', ''sha256''), ''hex'')) FROM bench.phones');
  END LOOP;
END
$$;

\echo
\echo '== pseudonymization, per row (best of 3 rounds over' :n 'rows, one backend, no parallelism, JIT off)'
SELECT variant AS "function", ms AS "ms",
       round(ms * 1000000 / :n) AS "ns/row"
  FROM bench.best WHERE bench = 'pseudo'
 ORDER BY ms;

WITH b AS (SELECT variant, ms FROM bench.best WHERE bench = 'pseudo')
SELECT measure, ratio, target, CASE WHEN ok THEN 'met' ELSE 'NOT MET' END AS result FROM (
  SELECT 1 AS o, 'pgcrypto hmac / pseudonymize' AS measure,
         round(pg.ms / p.ms, 2) AS ratio, '>= 4' AS target, pg.ms / p.ms >= 4 AS ok
    FROM b p, b pg WHERE p.variant = 'pseudonymize' AND pg.variant = 'pgcrypto'
  UNION ALL
  SELECT 2, 'pseudonymize / no-op floor', round(p.ms / f.ms, 2), '<= 2', p.ms / f.ms <= 2
    FROM b p, b f WHERE p.variant = 'pseudonymize' AND f.variant = 'noop'
  UNION ALL
  SELECT 3, 'pgcrypto hmac / pseudonymize_msisdn', round(pg.ms / m.ms, 2), '>= 2', pg.ms / m.ms >= 2
    FROM b m, b pg WHERE m.variant = 'pseudonymize_msisdn' AND pg.variant = 'pgcrypto'
) s ORDER BY o;
