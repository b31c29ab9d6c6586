-- Data-subject rights: export_subject and erase_subject for typical
-- subscribers against hand-written indexed SQL that gathers (or deletes
-- and scrubs) the same rows, and the restriction check on UPDATE against
-- the same UPDATE without it.  The telco tables are declared here
-- (test/data/register.sql, register_subject.sql) and the CDRs loaded
-- before are converted through the protect trigger.
SET client_min_messages = warning;
SET max_parallel_workers_per_gather = 0;
SET jit = off;

-- The earlier benchmarks' tables (a million rows each, identifying
-- columns without indexes) would be searched for every subject too: the
-- catalog here is the telephony data set's alone.
DO $$
DECLARE
  t regclass;
BEGIN
  FOR t IN SELECT tbl FROM privacy.registered_table WHERE tbl::text NOT LIKE 'telco.%' LOOP
    EXECUTE format('DROP TABLE %s CASCADE', t);
  END LOOP;
END
$$;

\o /dev/null
\set cdr_rewrite 1
\ir ../data/register.sql
\ir ../data/register_subject.sql
\o
-- The whole database vacuumed and analyzed, and a checkpoint: the earlier
-- parts of the bench leave millions of rows behind that autovacuum would
-- otherwise process (and the checkpointer write) while the subjects are
-- timed, on a machine of two cores.
VACUUM ANALYZE;
CHECKPOINT;
SET client_min_messages = warning;

-- Milliseconds a statement takes, rolled back afterwards (for erasures).
CREATE FUNCTION bench.ms_undo(q text) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
  t0 timestamptz;
  ms numeric;
BEGIN
  BEGIN
    t0 := clock_timestamp();
    EXECUTE q;
    ms := round((extract(epoch FROM clock_timestamp() - t0) * 1000)::numeric, 1);
    RAISE EXCEPTION USING ERRCODE = 'P0004', MESSAGE = 'undo';
  EXCEPTION WHEN assert_failure THEN
    NULL;
  END;
  RETURN ms;
END
$$;

-- Ten typical subscribers: customers with the median number of CDRs,
-- whose numbers were not reassigned (their hand-written SQL needs no
-- period logic beyond the subscription dates).
CREATE TABLE bench.subjects AS
WITH per AS (
  SELECT s.customer_id, count(*) AS cdrs
    FROM telco.subscription s
    JOIN telco.cdr d ON d.a_number = privacy.pseudonymize_msisdn(s.msisdn)
                    AND d.started_at >= s.valid_from AND (s.valid_to IS NULL OR d.started_at < s.valid_to)
   WHERE s.customer_id % 50 = 7
     AND NOT EXISTS (SELECT FROM telco.subscription o WHERE o.msisdn = s.msisdn AND o.customer_id <> s.customer_id)
   GROUP BY s.customer_id)
SELECT customer_id, cdrs FROM per
 ORDER BY abs(cdrs - (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY cdrs) FROM per)), customer_id
 LIMIT 10;
SELECT count(*) AS n, sum(cdrs) AS cdrs FROM bench.subjects \gset

-- The hand-written export: one indexed SELECT per table, the same JSON,
-- the subject's consent events and open requests included.
CREATE FUNCTION bench.hand_export(c bigint) RETURNS jsonb LANGUAGE sql AS $$
WITH cu AS (SELECT * FROM telco.customer WHERE customer_id = c),
     nums AS (SELECT msisdn, privacy.pseudonymize_msisdn(msisdn) AS p, valid_from, valid_to
                FROM telco.subscription WHERE customer_id = c)
SELECT jsonb_build_object(
  'customer', (SELECT jsonb_agg(to_jsonb(cu)) FROM cu),
  'subscription', (SELECT jsonb_agg(to_jsonb(s)) FROM telco.subscription s WHERE s.customer_id = c),
  'cdr', (SELECT jsonb_agg(to_jsonb(d) || jsonb_build_object('a_number', n.msisdn,
                             'b_number', privacy.mask_msisdn(privacy_internal._msisdn_decrypt(d.b_number, 'default'))))
            FROM nums n JOIN telco.cdr d ON d.a_number = n.p
           WHERE d.started_at >= n.valid_from AND (n.valid_to IS NULL OR d.started_at < n.valid_to)),
  'cdr_mentions', (SELECT jsonb_agg(to_jsonb(d) || jsonb_build_object('b_number', n.msisdn,
                             'a_number', privacy.mask_msisdn(privacy_internal._msisdn_decrypt(d.a_number, 'default'))))
            FROM nums n JOIN telco.cdr d ON d.b_number = n.p
           WHERE d.started_at >= n.valid_from AND (n.valid_to IS NULL OR d.started_at < n.valid_to)),
  'invoice', (SELECT jsonb_agg(to_jsonb(i)) FROM telco.invoice i WHERE i.customer_id = c),
  'support_ticket', (SELECT jsonb_agg(to_jsonb(t)) FROM telco.support_ticket t
                      WHERE t.customer_id = c
                         OR privacy.lookup_value('email', t.contact_email, 'DK') = (SELECT email FROM cu)),
  'newsletter', (SELECT jsonb_agg(to_jsonb(n)) FROM telco.newsletter_subscriber n
                  WHERE privacy.lookup_value('email', n.email, 'DK') = (SELECT email FROM cu)),
  'consent', (SELECT jsonb_agg(to_jsonb(e)) FROM privacy.consent_event e
               WHERE e.subject_ref = ANY (ARRAY(SELECT privacy_internal._audit_ref('msisdn', msisdn) FROM nums
                                                UNION ALL SELECT privacy_internal._audit_ref('email', email) FROM cu))),
  'requests', (SELECT jsonb_agg(to_jsonb(r)) FROM privacy.subject_request r
                WHERE r.subject_ref = privacy_internal._audit_ref('customer', c::text) AND r.closed_at IS NULL))
$$;

-- The hand-written erasure: the same deletes and scrubs, one indexed
-- statement per number and table.
CREATE FUNCTION bench.hand_erase(c bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  mail text := (SELECT email FROM telco.customer WHERE customer_id = c);
  num record;
BEGIN
  FOR num IN SELECT privacy.pseudonymize_msisdn(msisdn) AS p, valid_from, valid_to
               FROM telco.subscription WHERE customer_id = c LOOP
    DELETE FROM telco.cdr
     WHERE a_number = num.p AND started_at >= num.valid_from AND (num.valid_to IS NULL OR started_at < num.valid_to);
    UPDATE telco.cdr SET b_number = NULL
     WHERE b_number = num.p AND started_at >= num.valid_from AND (num.valid_to IS NULL OR started_at < num.valid_to);
  END LOOP;
  DELETE FROM telco.invoice WHERE customer_id = c;
  DELETE FROM telco.support_ticket t WHERE t.customer_id = c;
  DELETE FROM telco.support_ticket t WHERE privacy.lookup_value('email', t.contact_email, 'DK') = mail;
  DELETE FROM telco.newsletter_subscriber n WHERE privacy.lookup_value('email', n.email, 'DK') = mail;
  DELETE FROM telco.subscription WHERE customer_id = c;
  DELETE FROM telco.customer WHERE customer_id = c;
END
$$;

-- The hand-written erasure that does erase_subject's whole job: the same
-- rows found as erase_subject finds them (the subscriber's numbers in the
-- newsletter and in support tickets too), the tables locked against
-- concurrent writes first, the identifiers nulled in the operator's own
-- consent register (a copy of pg_privacy's, with its indexes and rows:
-- pg_privacy's refuses every UPDATE but its own), and a row in an
-- erasure log.
CREATE TABLE bench.consent_event (LIKE privacy.consent_event INCLUDING DEFAULTS INCLUDING INDEXES);
INSERT INTO bench.consent_event SELECT * FROM privacy.consent_event;
CREATE TABLE bench.consent_state (LIKE privacy.consent_state INCLUDING DEFAULTS INCLUDING INDEXES);
INSERT INTO bench.consent_state SELECT * FROM privacy.consent_state;
CREATE TABLE bench.erasure_log (at timestamptz, who name, subject text, detail jsonb);
ANALYZE bench.consent_event, bench.consent_state;
CREATE FUNCTION bench.hand_erase_whole(c bigint) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  mail text := (SELECT lower(btrim(email)) FROM telco.customer WHERE customer_id = c);
  nums text[] := ARRAY(SELECT msisdn FROM telco.subscription WHERE customer_id = c);
BEGIN
  LOCK TABLE telco.customer, telco.subscription, telco.cdr, telco.invoice,
             telco.newsletter_subscriber, telco.support_ticket IN SHARE ROW EXCLUSIVE MODE;
  DELETE FROM telco.newsletter_subscriber n WHERE privacy.lookup_value('msisdn', n.phone, 'DK') = ANY (nums);
  DELETE FROM telco.support_ticket t WHERE privacy.lookup_value('msisdn', t.msisdn_raw, 'DK') = ANY (nums);
  PERFORM bench.hand_erase(c);
  UPDATE bench.consent_event e SET value = NULL
   WHERE (e.kind = 'msisdn' AND e.value = ANY (nums)) OR (e.kind = 'email' AND e.value = mail);
  DELETE FROM bench.consent_state s
   WHERE (s.kind = 'msisdn' AND s.value = ANY (nums)) OR (s.kind = 'email' AND s.value = mail);
  INSERT INTO bench.erasure_log VALUES (now(), session_user, c::text, jsonb_build_object('numbers', cardinality(nums)));
END
$$;

-- Five rounds each (the best counts): the erasures write, and one round
-- in three is slowed by what the machine does meanwhile.  The variants
-- take turns at going first: the first to read the subjects' rows after
-- the others' rolled-back erasures sets their hint bits, and after a
-- checkpoint the first to change a page writes its whole image to the
-- WAL, costs that would otherwise always fall on the same variant.
DO $$
DECLARE
  r int;
  v int;
  ids text := (SELECT string_agg(customer_id::text, ',') FROM bench.subjects);
  variants text[][] := ARRAY[
    ['export', 'hand-written SELECTs', 'ms', 'SELECT bench.hand_export(c) FROM unnest(ARRAY[%s]::bigint[]) c'],
    ['export', 'export_subject', 'ms', 'SELECT privacy.export_subject(''customer'', c::text) FROM unnest(ARRAY[%s]) c'],
    ['erase', 'hand-written DELETE/UPDATE', 'ms_undo', 'SELECT bench.hand_erase(c) FROM unnest(ARRAY[%s]::bigint[]) c'],
    ['erase', 'erase_subject', 'ms_undo', 'SELECT privacy.erase_subject(''customer'', c::text) FROM unnest(ARRAY[%s]) c'],
    ['erase', 'hand-written, whole job', 'ms_undo', 'SELECT bench.hand_erase_whole(c) FROM unnest(ARRAY[%s]::bigint[]) c']];
  first int;
BEGIN
  FOR r IN 1..5 LOOP
    -- export: the two in turn; erase: the three in turn
    FOR v IN 0..1 LOOP
      first := 1 + (v + r) % 2;
      EXECUTE format('INSERT INTO bench.result SELECT $1, $2, $3, bench.%I($4)', variants[first][3])
        USING variants[first][1], variants[first][2], r, format(variants[first][4], ids);
    END LOOP;
    FOR v IN 0..2 LOOP
      first := 3 + (v + r) % 3;
      EXECUTE format('INSERT INTO bench.result SELECT $1, $2, $3, bench.%I($4)', variants[first][3])
        USING variants[first][1], variants[first][2], r, format(variants[first][4], ids);
    END LOOP;
  END LOOP;
END
$$;

-- erase_subject with an erasure ledger (doc/operations.md): the same
-- erasures, each also recorded.  An entry is written to the file when its
-- transaction commits, and these roll back: the figure has the checks and
-- the entry, not the write and its fsync.
\o /dev/null
ALTER SYSTEM SET pg_privacy.erasure_ledger_file = :'ledger';
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
\o
DO $$
DECLARE
  r int;
  ids text := (SELECT string_agg(customer_id::text, ',') FROM bench.subjects);
BEGIN
  FOR r IN 1..5 LOOP
    INSERT INTO bench.result SELECT 'erase', 'erase_subject, erasure ledger on', r, bench.ms_undo(
      format('SELECT privacy.erase_subject(''customer'', c::text) FROM unnest(ARRAY[%s]) c', ids));
  END LOOP;
END
$$;
\o /dev/null
ALTER SYSTEM RESET pg_privacy.erasure_ledger_file;
SELECT pg_reload_conf();
SELECT pg_sleep(0.5);
\o

-- Right after a VACUUM (autovacuum's, most of the time): it invalidates
-- what backends planned over the table, and the hand-written erasure and
-- erase_subject alike plan their statements again.  erase_subject keeps
-- the statements it generated: it checks that the vacuumed tables' shape
-- is unchanged (src/subject.c).  Each erasure follows a VACUUM of its
-- own, the two variants in turn.
\o /dev/null
SELECT 'VACUUM telco.customer, telco.subscription, telco.cdr, telco.invoice, telco.newsletter_subscriber, telco.support_ticket',
       format('INSERT INTO bench.result SELECT %L, %L, %s, bench.ms_undo(%L)', 'erase_vacuum', v.variant, r,
              format(v.q, (SELECT string_agg(customer_id::text, ',') FROM bench.subjects)))
  FROM generate_series(1, 3) r,
       (VALUES (0, 'hand-written DELETE/UPDATE, after VACUUM', 'SELECT bench.hand_erase(c) FROM unnest(ARRAY[%s]::bigint[]) c'),
               (1, 'erase_subject, after VACUUM', 'SELECT privacy.erase_subject(''customer'', c::text) FROM unnest(ARRAY[%s]) c')) v(o, variant, q)
 ORDER BY r, (v.o + r) % 2 \gexec
\o

-- The restriction check on UPDATE: 100,000 CDRs updated with no
-- restriction trigger, and with it installed and one subject restricted.
-- Each UPDATE is rolled back, which leaves its row versions behind, dead:
-- the next UPDATE of the same rows finds its pages fuller and costs more,
-- whichever variant it is.  So the table is vacuumed before each round,
-- then a checkpoint is taken (each round writes its pages' first images
-- after one: without it, a round that a checkpoint happens to precede pays
-- them and another does not, 670 to 1,400 ms for the same UPDATE), and
-- the variants alternate (without, with, with, without, without, with).
SELECT format('UPDATE telco.cdr SET price = price WHERE cdr_id BETWEEN %s AND %s', min(cdr_id), min(cdr_id) + 99999) AS upd
  FROM telco.cdr \gset
SELECT max(customer_id)::text AS victim FROM telco.customer \gset
VACUUM telco.cdr;
CHECKPOINT;
INSERT INTO bench.result SELECT 'restrict', 'UPDATE without the check', 1, bench.ms_undo(:'upd');
SELECT privacy.restrict_subject('customer', :'victim', 'benchmark') IS NULL AS restricted \gset
VACUUM telco.cdr;
CHECKPOINT;
INSERT INTO bench.result SELECT 'restrict', 'UPDATE with the restriction check', 1, bench.ms_undo(:'upd');
VACUUM telco.cdr;
CHECKPOINT;
INSERT INTO bench.result SELECT 'restrict', 'UPDATE with the restriction check', 2, bench.ms_undo(:'upd');
SELECT privacy.unrestrict_subject('customer', :'victim') IS NULL AS unrestricted \gset
VACUUM telco.cdr;
CHECKPOINT;
INSERT INTO bench.result SELECT 'restrict', 'UPDATE without the check', 2, bench.ms_undo(:'upd');
VACUUM telco.cdr;
CHECKPOINT;
INSERT INTO bench.result SELECT 'restrict', 'UPDATE without the check', 3, bench.ms_undo(:'upd');
SELECT privacy.restrict_subject('customer', :'victim', 'benchmark') IS NULL AS restricted \gset
VACUUM telco.cdr;
CHECKPOINT;
INSERT INTO bench.result SELECT 'restrict', 'UPDATE with the restriction check', 3, bench.ms_undo(:'upd');
SELECT privacy.unrestrict_subject('customer', :'victim') IS NULL AS unrestricted \gset

-- The same check on one-row UPDATEs, as applications make them: 2,000
-- UPDATEs of one customer's subscriptions each (by an indexed column), no
-- restriction in force, and one subject restricted.  The check runs once
-- per statement: what it costs a statement is what a small UPDATE pays.
-- The variants alternate as above.
CREATE FUNCTION bench.small_updates(n int) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  c0 bigint := (SELECT min(customer_id) FROM telco.subscription);
BEGIN
  FOR i IN 0 .. n - 1 LOOP
    UPDATE telco.subscription SET valid_to = valid_to WHERE customer_id = c0 + (i % 1000);
  END LOOP;
END
$$;
SELECT 'SELECT bench.small_updates(2000)' AS small \gset
INSERT INTO bench.result SELECT 'restrict_small', 'one-row UPDATEs, no restriction in force', 1, bench.ms_undo(:'small');
SELECT privacy.restrict_subject('customer', :'victim', 'benchmark') IS NULL AS restricted \gset
INSERT INTO bench.result SELECT 'restrict_small', 'one-row UPDATEs, a restriction in force', 1, bench.ms_undo(:'small');
INSERT INTO bench.result SELECT 'restrict_small', 'one-row UPDATEs, a restriction in force', 2, bench.ms_undo(:'small');
SELECT privacy.unrestrict_subject('customer', :'victim') IS NULL AS unrestricted \gset
INSERT INTO bench.result SELECT 'restrict_small', 'one-row UPDATEs, no restriction in force', 2, bench.ms_undo(:'small');
INSERT INTO bench.result SELECT 'restrict_small', 'one-row UPDATEs, no restriction in force', 3, bench.ms_undo(:'small');
SELECT privacy.restrict_subject('customer', :'victim', 'benchmark') IS NULL AS restricted \gset
INSERT INTO bench.result SELECT 'restrict_small', 'one-row UPDATEs, a restriction in force', 3, bench.ms_undo(:'small');
SELECT privacy.unrestrict_subject('customer', :'victim') IS NULL AS unrestricted \gset

\echo
\echo '== data-subject rights (export and erasure best of 5 rounds; after a VACUUM, and restriction, best of 3;' :n 'typical subscribers,' :cdrs 'own CDRs in all)'
SELECT bench, variant, ms, round(ms / :n, 2) AS "ms/subject"
  FROM bench.best WHERE bench IN ('export', 'erase', 'erase_vacuum', 'restrict', 'restrict_small') ORDER BY bench, ms;

WITH b AS (SELECT variant, ms FROM bench.best WHERE bench IN ('export', 'erase', 'erase_vacuum', 'restrict', 'restrict_small'))
SELECT measure, ratio, target, CASE WHEN ok THEN 'met' WHEN NOT ok THEN 'NOT MET' ELSE '-' END AS result FROM (
  SELECT 1 AS o, 'export_subject / hand-written SELECTs' AS measure,
         round(e.ms / h.ms, 2) AS ratio, '<= 1.5' AS target, e.ms / h.ms <= 1.5 AS ok
    FROM b e, b h WHERE e.variant = 'export_subject' AND h.variant = 'hand-written SELECTs'
  UNION ALL
  SELECT 2, 'erase_subject / hand-written DELETE/UPDATE', round(e.ms / h.ms, 2), '<= 1.5', e.ms / h.ms <= 1.5
    FROM b e, b h WHERE e.variant = 'erase_subject' AND h.variant = 'hand-written DELETE/UPDATE'
  UNION ALL
  SELECT 3, 'erase_subject / hand-written, whole job', round(e.ms / h.ms, 2), '<= 1.5', e.ms / h.ms <= 1.5
    FROM b e, b h WHERE e.variant = 'erase_subject' AND h.variant = 'hand-written, whole job'
  UNION ALL
  SELECT 4, 'erase_subject, erasure ledger on / hand-written, whole job', round(e.ms / h.ms, 2), '-', NULL
    FROM b e, b h WHERE e.variant = 'erase_subject, erasure ledger on' AND h.variant = 'hand-written, whole job'
  UNION ALL
  SELECT 5, 'the same, each right after a VACUUM', round(e.ms / h.ms, 2), '-', NULL
    FROM b e, b h WHERE e.variant = 'erase_subject, after VACUUM' AND h.variant = 'hand-written DELETE/UPDATE, after VACUUM'
  UNION ALL
  SELECT 6, 'UPDATE with restriction check / without', round(e.ms / h.ms, 2), '<= 1.5', e.ms / h.ms <= 1.5
    FROM b e, b h WHERE e.variant = 'UPDATE with the restriction check' AND h.variant = 'UPDATE without the check'
  UNION ALL
  SELECT 7, 'one-row UPDATE, a restriction in force / none', round(e.ms / h.ms, 2), '-', NULL
    FROM b e, b h WHERE e.variant = 'one-row UPDATEs, a restriction in force' AND h.variant = 'one-row UPDATEs, no restriction in force'
) s ORDER BY o;
