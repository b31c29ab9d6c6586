-- Data-subject rights with retention and consent installed: erasure keeps
-- rows under a legal minimum (keep_at_least) and restricts them, keeps
-- everything of a subject under a legal hold, and pseudonymizes the
-- subject in the consent history; the export carries consent receipts
-- and retention.
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_privacy;
RESET client_min_messages;
SET TimeZone = 'Europe/Copenhagen';

CREATE SCHEMA regress_subi;
SELECT privacy.define_purpose('regress_subi_customer', 'contract');
SELECT privacy.define_purpose('regress_subi_books', 'legal_obligation', recipients => ARRAY['auditor']);
SELECT privacy.define_purpose('regress_subi_news', 'consent');
CREATE TABLE regress_subi.customer (customer_id bigint PRIMARY KEY, email text NOT NULL);
CREATE TABLE regress_subi.invoice (
  invoice_id  bigint PRIMARY KEY,
  customer_id bigint NOT NULL REFERENCES regress_subi.customer,
  issued_at   date NOT NULL,
  amount      numeric NOT NULL
);
SELECT privacy.register_table('regress_subi.customer', 'regress_subi_customer');
SELECT privacy.register_column('regress_subi.customer', 'customer_id', 'customer_number', identifies => 'customer');
SELECT privacy.register_column('regress_subi.customer', 'email', 'email', identifies => 'email');
SELECT privacy.register_table('regress_subi.invoice', 'regress_subi_books');
SELECT privacy.register_column('regress_subi.invoice', 'customer_id', 'customer_number', identifies => 'customer');
SELECT privacy.register_column('regress_subi.invoice', 'amount', 'other');
-- Invoices: ten years, never less than five (bookkeeping)
SELECT privacy.set_retention('regress_subi.invoice', 'issued_at', interval '10 years',
                             keep_at_least => interval '5 years');

INSERT INTO regress_subi.customer VALUES (1, 'ann@example.dk'), (2, 'bob@example.dk'), (3, 'cid@example.dk');
INSERT INTO regress_subi.invoice VALUES
  (11, 1, current_date - interval '7 years', 100),   -- past the legal minimum
  (12, 1, current_date - interval '1 year', 200),    -- under it
  (21, 2, current_date - interval '7 years', 300),
  (31, 3, current_date - interval '1 year', 400);
SELECT privacy.grant_consent('email', 'Ann@Example.dk', 'regress_subi_news', 'web form', 'nl-1') > 0 AS granted;
SELECT privacy.withdraw_consent('email', 'ann@example.dk', 'regress_subi_news', 'unsubscribe link') > 0 AS withdrawn;

-- The export carries the retention of each table and the consent receipt
SELECT t->>'table' AS "table", t->'retention'->>'keep' AS keep, t->'retention'->>'keep_at_least' AS keep_at_least,
       jsonb_array_length(t->'rows') AS rows
  FROM jsonb_array_elements(privacy.export_subject('customer', '1')->'tables') t;
SELECT c->'piiPrincipalId' AS principal, c->'consents'->0->>'purpose' AS purpose,
       c->'consents'->0->>'state' AS state, jsonb_array_length(c->'consents'->0->'events') AS events
  FROM jsonb_array_elements(privacy.export_subject('customer', '1')->'consent') c;

-- Ann: the old invoice goes, the young one stays restricted until its
-- legal minimum ends, and with it the customer row it references; the
-- consent history keeps the events without her address.
SELECT table_name, action, rows, regexp_replace(reason, '\d{4}-\d\d-\d\d', 'YYYY-MM-DD') AS reason,
       kept_until = (current_date - interval '1 year' + interval '5 years')::date AS until_ok
  FROM privacy.erase_subject('customer', '1');
SELECT invoice_id, customer_id FROM regress_subi.invoice ORDER BY 1;
SELECT customer_id, email FROM regress_subi.customer ORDER BY 1;
SELECT privacy.is_restricted('customer', '1') AS restricted, privacy.is_restricted('customer', '2') AS other;
SELECT kind, origin, reason, until IS NOT NULL AS ends FROM privacy.restriction ORDER BY kind;
UPDATE regress_subi.invoice SET amount = 0 WHERE invoice_id = 12;
UPDATE regress_subi.invoice SET amount = 301 WHERE invoice_id = 21;
SELECT count(*) AS events, count(value) AS with_identifier FROM privacy.consent_event
 WHERE purpose = 'regress_subi_news';
SELECT purpose, event, source FROM privacy.consent_history('email', 'ann@example.dk');

-- Cid is under a legal hold: nothing is erased, everything is reported
-- kept and restricted until the hold ends.
SELECT privacy.hold('customer', '3', 'litigation', now() + interval '30 days') AS hold_id \gset
SELECT table_name, action, rows, reason LIKE 'legal hold: litigation (until %)' AS reason_ok,
       kept_until > now() AS until_ok
  FROM privacy.erase_subject('customer', '3');
SELECT count(*) AS cid_rows FROM regress_subi.invoice WHERE customer_id = 3;
SELECT privacy.is_restricted('customer', '3') AS restricted;
-- Released: the erasure goes ahead (the young invoice stays, restricted)
SELECT privacy.release_hold(:hold_id);
SELECT table_name, action, rows FROM privacy.erase_subject('customer', '3');

DROP SCHEMA regress_subi CASCADE;
DELETE FROM privacy.restriction;
DELETE FROM privacy.legal_hold WHERE reason = 'litigation';
DELETE FROM privacy.consent_state WHERE purpose = 'regress_subi_news';
