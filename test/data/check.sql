/*
 * test/data/check.sql
 *
 * Sanity checks of the synthetic telephony data set.  Run after loading
 * telephony.sql:
 *
 *     psql -X -v ON_ERROR_STOP=1 -f test/data/check.sql [-v seed=42] [-v scale=1]
 *
 * It regenerates the data several times (determinism, another seed, another
 * anchor) and leaves telco filled with generate(seed, scale).  Every check
 * prints one line "ok  <check> (<figures>)"; a check that does not hold
 * raises an exception, and with ON_ERROR_STOP psql stops with exit code 3.
 */

\set ON_ERROR_STOP on
\if :{?seed}
\else
    \set seed 42
\endif
\if :{?scale}
\else
    \set scale 1
\endif

SET client_min_messages = warning;
\pset tuples_only on
\pset format unaligned

-- Passes through or fails loudly.
CREATE FUNCTION pg_temp.check(name text, passed boolean, info text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql
AS $$
BEGIN
    IF passed IS NOT TRUE THEN
        RAISE EXCEPTION 'data set check failed: %', name
            USING DETAIL = coalesce(info, '(no details)');
    END IF;
    RETURN 'ok  ' || name || coalesce(' (' || info || ')', '');
END
$$;

-- One hash per table over all its rows, in primary key order.  Rendered in
-- UTC with fixed date style, so the hash depends on the data only.
CREATE FUNCTION pg_temp.table_hashes()
RETURNS TABLE (tbl text, hash text)
LANGUAGE plpgsql
SET TimeZone = 'UTC'
SET DateStyle = 'ISO, YMD'
SET extra_float_digits = 1
AS $$
DECLARE
    t record;
BEGIN
    FOR t IN
        SELECT * FROM (VALUES ('customer', 'customer_id'), ('subscription', 'subscription_id'),
                              ('cdr', 'cdr_id'), ('invoice', 'invoice_id'),
                              ('newsletter_subscriber', 'subscriber_id'),
                              ('support_ticket', 'ticket_id'), ('consent_import', 'import_id')) v(tbl, pk)
    LOOP
        tbl := t.tbl;
        EXECUTE format('SELECT md5(string_agg(md5(x::text), '''' ORDER BY x.%I)) FROM telco.%I x', t.pk, t.tbl)
           INTO hash;
        RETURN NEXT;
    END LOOP;
END
$$;

CREATE TEMP TABLE run (run text, tbl text, hash text);

\echo '== determinism'

-- Run 1: default settings.
SELECT count(*) = 7 AS generated FROM telco.generate(:seed, :scale) \gset
INSERT INTO run SELECT 'first', * FROM pg_temp.table_hashes();

-- Run 2: other plans and another session time zone: parallel query forced
-- wherever possible, no hash joins or hash aggregation, far-away TimeZone.
BEGIN;
SET LOCAL TimeZone = 'Pacific/Auckland';
SET LOCAL enable_hashjoin = off;
SET LOCAL enable_hashagg = off;
SET LOCAL max_parallel_workers_per_gather = 4;
SET LOCAL parallel_setup_cost = 0;
SET LOCAL parallel_tuple_cost = 0;
SET LOCAL min_parallel_table_scan_size = 0;
SET LOCAL max_parallel_maintenance_workers = 0;   -- parallel index builds only cost time here
SELECT count(*) = 7 AS generated FROM telco.generate(:seed, :scale) \gset
COMMIT;
INSERT INTO run SELECT 'second', * FROM pg_temp.table_hashes();

SELECT pg_temp.check('same seed, same data, whatever the plan and TimeZone',
                     bool_and(a.hash = b.hash),
                     string_agg(a.tbl || CASE WHEN a.hash = b.hash THEN ' same' ELSE ' DIFFERENT' END, ', '))
FROM run a JOIN run b USING (tbl)
WHERE a.run = 'first' AND b.run = 'second';

-- Run 3: another seed changes every table.
SELECT count(*) = 7 AS generated FROM telco.generate(:seed + 1, :scale) \gset
INSERT INTO run SELECT 'other seed', * FROM pg_temp.table_hashes();

SELECT pg_temp.check('another seed, other data in every table',
                     bool_and(a.hash <> b.hash),
                     string_agg(a.tbl || CASE WHEN a.hash <> b.hash THEN ' differs' ELSE ' SAME' END, ', '))
FROM run a JOIN run b USING (tbl)
WHERE a.run = 'first' AND b.run = 'other seed';

-- From here on, read times in Danish local time (the subscription dates
-- and partition bounds are Danish calendar days).
SET TimeZone = 'Europe/Copenhagen';

\echo '== anchor'

-- Run 4: another anchor moves the window and the partitions.
SELECT count(*) = 7 AS generated FROM telco.generate(:seed, :scale, date '2025-03-15') \gset

SELECT pg_temp.check('anchor 2025-03-15: partitions cdr_2023_04 .. cdr_2025_03 + default, old ones gone',
                     array_agg(c.relname::text ORDER BY c.relname)
                       = (SELECT array_agg('cdr_' || to_char(date '2023-04-01' + m * interval '1 month', 'YYYY_MM') ORDER BY m)
                            FROM generate_series(0, 23) m) || 'cdr_default'::text,
                     count(*) || ' partitions')
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'telco.cdr'::regclass;

SELECT pg_temp.check('anchor 2025-03-15: all CDRs inside the window, default partition empty',
                     min(started_at) >= timestamptz '2023-04-01 00:00 Europe/Copenhagen'
                     AND max(started_at) < timestamptz '2025-04-01 00:00 Europe/Copenhagen'
                     AND (SELECT count(*) FROM telco.cdr_default) = 0,
                     min(started_at) || ' .. ' || max(started_at))
FROM telco.cdr;

-- Run 5: back to the default anchor; the data must be the first run's again.
SELECT count(*) = 7 AS generated FROM telco.generate(:seed, :scale) \gset
INSERT INTO run SELECT 'again', * FROM pg_temp.table_hashes();

SELECT pg_temp.check('regenerated after an anchor change: same data as the first run',
                     bool_and(a.hash = b.hash),
                     string_agg(a.tbl || CASE WHEN a.hash = b.hash THEN ' same' ELSE ' DIFFERENT' END, ', '))
FROM run a JOIN run b USING (tbl)
WHERE a.run = 'first' AND b.run = 'again';

-- The properties of generate(seed, scale).

\echo '== sizes'

SELECT pg_temp.check('row counts scale with scale',
                     (SELECT count(*) FROM telco.customer) = 50 * :scale
                     AND (SELECT count(*) FROM telco.subscription) BETWEEN 135 * :scale AND 170 * :scale
                     AND (SELECT count(*) FROM telco.cdr) = 5000 * :scale
                     AND (SELECT count(*) FROM telco.invoice) BETWEEN 700 * :scale AND 1200 * :scale
                     AND (SELECT count(*) FROM telco.newsletter_subscriber) = 40 * :scale
                     AND (SELECT count(*) FROM telco.support_ticket) = 30 * :scale
                     AND (SELECT count(*) FROM telco.consent_import) BETWEEN 60 * :scale AND 160 * :scale,
                     format('customer %s, subscription %s, cdr %s, invoice %s, newsletter_subscriber %s, support_ticket %s, consent_import %s',
                            (SELECT count(*) FROM telco.customer), (SELECT count(*) FROM telco.subscription),
                            (SELECT count(*) FROM telco.cdr), (SELECT count(*) FROM telco.invoice),
                            (SELECT count(*) FROM telco.newsletter_subscriber),
                            (SELECT count(*) FROM telco.support_ticket), (SELECT count(*) FROM telco.consent_import)));

\echo '== partitions'

SELECT pg_temp.check('cdr has 24 monthly partitions ending with the anchor month, plus a default',
                     count(*) = 25
                     AND count(*) FILTER (WHERE pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT') = 1
                     AND array_agg(c.relname::text ORDER BY c.relname) FILTER (WHERE c.relname <> 'cdr_default')
                         = (SELECT array_agg('cdr_' || to_char(date '2024-12-01' + m * interval '1 month', 'YYYY_MM') ORDER BY m)
                              FROM generate_series(0, 23) m),
                     min(c.relname) || ' .. ' || max(c.relname) FILTER (WHERE c.relname <> 'cdr_default'))
FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
WHERE i.inhparent = 'telco.cdr'::regclass;

SELECT pg_temp.check('every monthly partition holds CDRs, the default none',
                     bool_and(n > 0) FILTER (WHERE p <> 'telco.cdr_default')
                     AND coalesce(sum(n) FILTER (WHERE p = 'telco.cdr_default'), 0) = 0,
                     'per month ' || min(n) FILTER (WHERE p <> 'telco.cdr_default') || ' .. '
                                  || max(n) FILTER (WHERE p <> 'telco.cdr_default'))
FROM (SELECT i.inhrelid::regclass::text AS p,
             (SELECT count(*) FROM telco.cdr c WHERE c.tableoid = i.inhrelid) AS n
        FROM pg_inherits i WHERE i.inhparent = 'telco.cdr'::regclass) x;

SELECT pg_temp.check('monthly partition bounds are Danish local midnights',
                     bool_and(c.started_at >= date_trunc('month', c.started_at)
                              AND c.tableoid::regclass::text = 'telco.cdr_' || to_char(c.started_at, 'YYYY_MM')),
                     count(*) || ' CDRs')
FROM telco.cdr c;

\echo '== subscriptions and number reassignment'

SELECT pg_temp.check('msisdns are Danish E.164 mobile numbers in our ranges',
                     bool_and(msisdn ~ '^\+45(2[0-9]|3[01]|4[01]|5[0-3]|6[01]|71|81|9[13])[0-9]{6}$'),
                     count(DISTINCT msisdn) || ' numbers')
FROM telco.subscription;

SELECT pg_temp.check('no msisdn has two subscriptions valid at the same time',
                     NOT EXISTS (SELECT 1 FROM telco.subscription a JOIN telco.subscription b
                                   ON a.msisdn = b.msisdn AND a.subscription_id < b.subscription_id
                                  AND daterange(a.valid_from, a.valid_to) && daterange(b.valid_from, b.valid_to)));

SELECT pg_temp.check('about 10% of the msisdns were reassigned, to another customer, after >= 90 days quarantine',
                     count(*) > 0
                     AND count(*)::numeric / (SELECT count(DISTINCT msisdn) FROM telco.subscription) BETWEEN 0.05 AND 0.15
                     AND bool_and(b.customer_id <> a.customer_id AND b.valid_from - a.valid_to >= 90),
                     count(*) || ' of ' || (SELECT count(DISTINCT msisdn) FROM telco.subscription) || ' numbers')
FROM telco.subscription a JOIN telco.subscription b
  ON a.msisdn = b.msisdn AND b.valid_from >= a.valid_to;

SELECT pg_temp.check('reassigned numbers have CDRs of both holders',
                     count(*) > 0,
                     count(*) || ' numbers with calls before and after the reassignment')
FROM telco.subscription a JOIN telco.subscription b
  ON a.msisdn = b.msisdn AND b.valid_from >= a.valid_to
WHERE EXISTS (SELECT 1 FROM telco.cdr c WHERE c.a_number = a.msisdn AND c.started_at < a.valid_to)
  AND EXISTS (SELECT 1 FROM telco.cdr c WHERE c.a_number = b.msisdn AND c.started_at >= b.valid_from);

SELECT pg_temp.check('every customer has a subscription from the day it signed up',
                     bool_and(EXISTS (SELECT 1 FROM telco.subscription s
                                       WHERE s.customer_id = c.customer_id
                                         AND s.valid_from = c.created_at::date AND s.valid_to IS NULL))
                     AND NOT EXISTS (SELECT 1 FROM telco.subscription s JOIN telco.customer c2 USING (customer_id)
                                      WHERE s.valid_from < c2.created_at::date))
FROM telco.customer c;

\echo '== call detail records'

SELECT pg_temp.check('every CDR''s a_number maps to exactly one subscription valid at started_at',
                     count(*) FILTER (WHERE n <> 1) = 0,
                     count(*) FILTER (WHERE n <> 1) || ' of ' || count(*) || ' CDRs without exactly one')
FROM (SELECT (SELECT count(*) FROM telco.subscription s
               WHERE s.msisdn = c.a_number
                 AND c.started_at >= s.valid_from
                 AND (s.valid_to IS NULL OR c.started_at < s.valid_to)) AS n
        FROM telco.cdr c) x;

SELECT pg_temp.check('on-net B-numbers exist and are subscribers valid at started_at',
                     count(*) > 0
                     AND count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM telco.subscription s
                                                             WHERE s.msisdn = c.b_number
                                                               AND c.started_at >= s.valid_from
                                                               AND (s.valid_to IS NULL OR c.started_at < s.valid_to))) = 0,
                     count(*) || ' on-net calls and SMS')
FROM telco.cdr c
WHERE c.b_number IN (SELECT msisdn FROM telco.subscription);

SELECT pg_temp.check('B-numbers are E.164, Danish and foreign, NULL exactly for data sessions',
                     bool_and(b_number ~ '^\+[1-9][0-9]{7,14}$') FILTER (WHERE call_type <> 'data')
                     AND bool_and(b_number IS NULL) FILTER (WHERE call_type = 'data')
                     AND count(*) FILTER (WHERE b_number NOT LIKE '+45%') > 0,
                     count(*) FILTER (WHERE b_number LIKE '+45%') || ' Danish, '
                     || count(*) FILTER (WHERE b_number NOT LIKE '+45%') || ' foreign')
FROM telco.cdr;

SELECT pg_temp.check('CDR types, durations, prices and countries are plausible',
                     bool_and(duration_s = 0) FILTER (WHERE call_type = 'sms')
                     AND bool_and(duration_s > 0) FILTER (WHERE call_type = 'voice')
                     AND bool_and(price >= 0)
                     AND count(*) FILTER (WHERE price > 0) > 0
                     AND bool_and(country IN ('DK','SE','DE','NO','ES','GB','FR','US','IT','PL'))
                     AND count(*) FILTER (WHERE country = 'DK') > 0.8 * count(*)
                     AND count(*) FILTER (WHERE country <> 'DK') > 0,
                     format('voice %s, sms %s, data %s, roaming %s, charged %s',
                            count(*) FILTER (WHERE call_type = 'voice'), count(*) FILTER (WHERE call_type = 'sms'),
                            count(*) FILTER (WHERE call_type = 'data'), count(*) FILTER (WHERE country <> 'DK'),
                            count(*) FILTER (WHERE price > 0)))
FROM telco.cdr;

SELECT pg_temp.check('cdr_id ascends with started_at',
                     NOT EXISTS (SELECT 1 FROM (SELECT started_at < lag(started_at) OVER (ORDER BY cdr_id) AS back
                                                  FROM telco.cdr) x WHERE back));

\echo '== customers and invoices'

SELECT pg_temp.check('customer numbers, CVR numbers (modulus 11), postal codes, e-mails well-formed; e-mails unique',
                     bool_and(customer_no = 'C' || lpad(customer_id::text, 6, '0'))
                     AND bool_and(cvr ~ '^[1-9][0-9]{7}$'
                                  AND (SELECT sum(substr(cvr, k, 1)::integer * (ARRAY[2,7,6,5,4,3,2,1])[k])
                                         FROM generate_series(1, 8) k) % 11 = 0)
                     AND bool_and(postal_code ~ '^[1-9][0-9]{3}$')
                     AND bool_and(email ~ '^[a-z0-9.]+@[a-z0-9.]+\.dk$')
                     AND count(DISTINCT email) = count(*),
                     count(*) || ' customers')
FROM telco.customer;

SELECT pg_temp.check('bank accounts: reg.no + account no for direct debit, NULL for invoice payers',
                     bool_and(bank_account ~ '^[0-9]{4} [0-9]{10}$') FILTER (WHERE bank_account IS NOT NULL)
                     AND count(*) FILTER (WHERE bank_account IS NULL) > 0
                     AND count(*) FILTER (WHERE bank_account IS NOT NULL) > 0,
                     count(*) FILTER (WHERE bank_account IS NOT NULL) || ' direct debit, '
                     || count(*) FILTER (WHERE bank_account IS NULL) || ' by invoice')
FROM telco.customer;

SELECT pg_temp.check('one invoice per customer and month it existed, bank account of direct debit customers only',
                     NOT EXISTS (SELECT 1 FROM telco.invoice GROUP BY customer_id, date_trunc('month', period_start) HAVING count(*) > 1)
                     AND (SELECT count(*) FROM telco.invoice)
                         = (SELECT count(*) FROM telco.customer c, generate_series(date '2024-12-01', date '2026-11-01', interval '1 month') m
                             WHERE c.created_at < m + interval '1 month')
                     AND NOT EXISTS (SELECT 1 FROM telco.invoice i JOIN telco.customer c USING (customer_id)
                                      WHERE (i.bank_account IS NULL) <> (c.bank_account IS NULL)
                                         OR i.period_start < c.created_at::date)
                     AND EXISTS (SELECT 1 FROM telco.invoice i JOIN telco.customer c USING (customer_id)
                                  WHERE i.bank_account <> c.bank_account)
                     AND EXISTS (SELECT 1 FROM telco.invoice WHERE paid_at IS NULL)
                     AND NOT EXISTS (SELECT 1 FROM telco.invoice
                                      WHERE amount <= 0 OR issued_at <> period_end + 1 OR due_at <> issued_at + 14),
                     (SELECT count(*) FROM telco.invoice) || ' invoices, '
                     || (SELECT count(*) FROM telco.invoice i JOIN telco.customer c USING (customer_id)
                          WHERE i.bank_account <> c.bank_account) || ' with an earlier account');

\echo '== messy identifiers'

SELECT pg_temp.check('each typed phone form occurs: ' || form,
                     count(*) > 0, count(*) || ' values')
FROM (VALUES ('+45 20 12 34 56', '^\+45 [0-9]{2} [0-9]{2} [0-9]{2} [0-9]{2}$'),
             ('0045 20123456',   '^0045 [0-9]{8}$'),
             ('20123456',        '^[0-9]{8}$'),
             ('20 12 34 56',     '^[0-9]{2} [0-9]{2} [0-9]{2} [0-9]{2}$'),
             ('+4520123456',     '^\+45[0-9]{8}$')) f(form, re)
LEFT JOIN (SELECT phone AS v FROM telco.newsletter_subscriber
           UNION ALL SELECT msisdn_raw FROM telco.support_ticket
           UNION ALL SELECT value FROM telco.consent_import WHERE kind = 'msisdn') v
       ON v.v ~ f.re
GROUP BY form
ORDER BY form;

SELECT pg_temp.check('typed phone numbers contain only digits, spaces, dashes and a leading +',
                     bool_and(v ~ '^\+?[0-9][0-9 -]*[0-9]$'),
                     count(*) || ' values')
FROM (SELECT phone AS v FROM telco.newsletter_subscriber WHERE phone IS NOT NULL
      UNION ALL SELECT msisdn_raw FROM telco.support_ticket WHERE msisdn_raw IS NOT NULL
      UNION ALL SELECT value FROM telco.consent_import WHERE kind = 'msisdn') x;

SELECT pg_temp.check('newsletter phones and tickets reach our subscribers (their customers'' first numbers)',
                     count(*) > 0, count(*) || ' typed numbers that are ours')
FROM (SELECT phone AS v FROM telco.newsletter_subscriber
      UNION ALL SELECT msisdn_raw FROM telco.support_ticket) x
WHERE '+45' || right(regexp_replace(v, '[^0-9]', '', 'g'), 8) IN (SELECT msisdn FROM telco.subscription);

SELECT pg_temp.check('consent e-mails arrive in mixed case and with stray whitespace, and tidy to valid addresses',
                     count(*) FILTER (WHERE value <> lower(value)) > 0
                     AND count(*) FILTER (WHERE value <> btrim(value)) > 0
                     AND bool_and(lower(btrim(value)) ~ '^[a-z0-9.]+@[a-z0-9.]+\.[a-z]+$'),
                     count(*) FILTER (WHERE value <> lower(value)) || ' mixed case, '
                     || count(*) FILTER (WHERE value <> btrim(value)) || ' with whitespace')
FROM telco.consent_import WHERE kind = 'email';

SELECT pg_temp.check('newsletter subscribers: contacts of customers and others; e-mails unique',
                     count(*) FILTER (WHERE lower(n.email) IN (SELECT email FROM telco.customer)) > 0
                     AND count(*) FILTER (WHERE lower(n.email) NOT IN (SELECT email FROM telco.customer)) > 0
                     AND count(DISTINCT lower(n.email)) = count(*),
                     count(*) FILTER (WHERE lower(n.email) IN (SELECT email FROM telco.customer)) || ' customer contacts')
FROM telco.newsletter_subscriber n;

\echo '== consent events'

SELECT pg_temp.check('consent events: grants with notice version, withdrawals without, ordered by arrival',
                     bool_and((event = 'grant') = (notice_version IS NOT NULL))
                     AND bool_and(notice_version ~ '^(nl-[0-9]{4}-(01|06)|mk-[0-9]{4}-03)$') FILTER (WHERE event = 'grant')
                     AND NOT EXISTS (SELECT 1 FROM (SELECT at < lag(at) OVER (ORDER BY import_id) AS back
                                                      FROM telco.consent_import) x WHERE back),
                     count(*) FILTER (WHERE event = 'grant') || ' grants, '
                     || count(*) FILTER (WHERE event = 'withdraw') || ' withdrawals')
FROM telco.consent_import;

SELECT pg_temp.check('some subjects withdraw after granting (e-mail and SMS), some withdraw without any grant',
                     count(*) FILTER (WHERE w.kind = 'email' AND g) > 0
                     AND count(*) FILTER (WHERE w.kind = 'msisdn' AND g) > 0
                     AND count(*) FILTER (WHERE NOT g) > 0,
                     count(*) FILTER (WHERE g) || ' withdrawals after a grant, '
                     || count(*) FILTER (WHERE NOT g) || ' without')
FROM (SELECT w.kind,
             EXISTS (SELECT 1 FROM telco.consent_import g
                      WHERE g.event = 'grant' AND g.kind = w.kind AND g.purpose = w.purpose AND g.at < w.at
                        AND CASE w.kind
                                WHEN 'email' THEN lower(btrim(g.value)) = lower(btrim(w.value))
                                ELSE right(regexp_replace(g.value, '[^0-9]', '', 'g'), 8)
                                     = right(regexp_replace(w.value, '[^0-9]', '', 'g'), 8)
                            END) AS g
        FROM telco.consent_import w
       WHERE w.event = 'withdraw') w;

SELECT pg_temp.check('consent was given on numbers that were later reassigned',
                     count(*) > 0, count(*) || ' grants by an earlier holder')
FROM telco.consent_import ci
JOIN telco.subscription a ON a.msisdn = '+45' || right(regexp_replace(ci.value, '[^0-9]', '', 'g'), 8)
                         AND ci.at < a.valid_to
JOIN telco.subscription b ON b.msisdn = a.msisdn AND b.valid_from >= a.valid_to
WHERE ci.kind = 'msisdn' AND ci.event = 'grant';

\echo '== support tickets'

SELECT pg_temp.check('tickets: mostly customers, some prospects; bodies mention numbers and names',
                     count(*) FILTER (WHERE customer_id IS NULL) > 0
                     AND count(*) FILTER (WHERE customer_id IS NOT NULL) > count(*) / 2
                     AND bool_and(body ~ '[0-9]{2}[ -]?[0-9]{2}')
                     AND count(*) FILTER (WHERE c.contact_name IS NOT NULL
                                           AND strpos(t.body, split_part(c.contact_name, ' ', 1)) > 0) > 0
                     AND bool_and(closed_at IS NULL OR closed_at > opened_at),
                     count(*) FILTER (WHERE customer_id IS NULL) || ' from prospects, '
                     || count(*) FILTER (WHERE closed_at IS NULL) || ' open')
FROM telco.support_ticket t LEFT JOIN telco.customer c USING (customer_id);

\echo '== comments'

SELECT pg_temp.check('every telco table and column has a comment',
                     count(*) FILTER (WHERE d IS NULL) = 0,
                     coalesce(string_agg(what, ', ') FILTER (WHERE d IS NULL), 'all commented'))
FROM (SELECT c.relname::text AS what, obj_description(c.oid, 'pg_class') AS d
        FROM pg_class c
       WHERE c.relnamespace = 'telco'::regnamespace AND c.relkind IN ('r', 'p')
      UNION ALL
      SELECT c.relname || '.' || a.attname, col_description(c.oid, a.attnum)
        FROM pg_class c JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
       WHERE c.relnamespace = 'telco'::regnamespace AND c.relkind IN ('r', 'p') AND NOT c.relispartition) x;

\echo '== all checks passed'
