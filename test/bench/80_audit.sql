-- The audit log in a long transaction: every audited call appends an
-- entry and moves the chain head, and every API function runs in a
-- subtransaction of its own (its exception block).  A batch (erasures,
-- exports, replay_erasures after a restore) appends thousands of entries
-- in one transaction; the thousandth must cost about what the first did.
-- Measured: 200 entries at the start of a transaction, and 200 more after
-- 2,000 others, each in a subtransaction; every round rolled back.
SET client_min_messages = warning;

-- n entries, each in a subtransaction as an API function appends it
CREATE FUNCTION bench.audit_n(n int) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN 1..n LOOP
    BEGIN
      PERFORM privacy_internal._audit('bench.audit', NULL, '{}');
    EXCEPTION WHEN division_by_zero THEN
      NULL;
    END;
  END LOOP;
END
$$;

-- One transaction per round, rolled back (the timings kept in variables).
CREATE PROCEDURE bench.audit_rounds() LANGUAGE plpgsql AS $$
DECLARE
  first_ms numeric[] := '{}';
  late_ms numeric[] := '{}';
  r int;
BEGIN
  FOR r IN 1..3 LOOP
    PERFORM bench.audit_n(10);   -- the plans made, the head found once
    first_ms := first_ms || bench.ms('SELECT bench.audit_n(200)');
    PERFORM bench.audit_n(2000);
    late_ms := late_ms || bench.ms('SELECT bench.audit_n(200)');
    ROLLBACK;
  END LOOP;
  FOR r IN 1..3 LOOP
    INSERT INTO bench.result VALUES ('audit', '200 entries at the start of a transaction', r, first_ms[r]);
    INSERT INTO bench.result VALUES ('audit', '200 entries after 2,010 in the same transaction', r, late_ms[r]);
  END LOOP;
  COMMIT;
END
$$;
CALL bench.audit_rounds();

\echo
\echo '== the audit log in a long transaction (best of 3 rounds; each entry in a subtransaction)'
SELECT bench, variant, ms, round(ms * 1000 / 200, 1) AS "us/entry"
  FROM bench.best WHERE bench = 'audit' ORDER BY ms;

WITH b AS (SELECT variant, ms FROM bench.best WHERE bench = 'audit')
SELECT 'entries 2,011-2,210 / entries 11-210 of one transaction' AS measure,
       round(l.ms / f.ms, 2) AS ratio, '<= 1.5' AS target,
       CASE WHEN l.ms / f.ms <= 1.5 THEN 'met' ELSE 'NOT MET' END AS result
  FROM b l, b f
 WHERE l.variant = '200 entries after 2,010 in the same transaction'
   AND f.variant = '200 entries at the start of a transaction';
