-- make demo, data-subject rights: how a subject is found, one subscriber's
-- export printed for a person, restriction, a request and its deadline,
-- and the erasure of another subscriber with its report.  Called by
-- test/demo.sh after its other sections (telephony data set loaded and
-- declared by test/data/register.sql).
\set ON_ERROR_STOP on
SET client_min_messages = warning;
\pset footer off
-- An intended refusal, shown as a result row instead of a raw error.
CREATE FUNCTION pg_temp.refused(statement text) RETURNS text
  LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE statement;
  RETURN 'NOT refused';
EXCEPTION WHEN OTHERS THEN
  RETURN 'refused, ' || SQLSTATE || ': ' || SQLERRM;
END
$$;

\echo
\echo '=== Data-subject rights 1/5: how a subject is found (test/data/register_subject.sql)'
\ir data/register_subject.sql
\pset footer off
SELECT s.tbl AS "table", s.event_time, s.validity_column AS "held for a period",
       s.valid_from || ' .. ' || s.valid_to AS period, s.link_columns AS "linking columns", s.source
  FROM privacy.subject_table s ORDER BY s.tbl::text;
\echo '(identifying columns without an index for the lookup, after creating the suggested ones:)'
SELECT count(*) AS missing_indexes FROM privacy.missing_indexes;

-- The subscriber to export: one whose number was given to someone else
-- later, so the export shows how the next holder is kept out.
SELECT s.customer_id AS ann, s.msisdn AS ann_old_number, o.customer_id AS next_holder
  FROM telco.subscription s JOIN telco.subscription o ON o.msisdn = s.msisdn AND o.valid_from >= s.valid_to
 WHERE EXISTS (SELECT FROM telco.cdr d WHERE d.a_number = privacy.pseudonymize_msisdn(s.msisdn))
 ORDER BY s.customer_id LIMIT 1 \gset
SELECT privacy.export_subject('customer', :'ann') AS doc \gset

\echo
\echo '=== Data-subject rights 2/5: export of customer' :ann '(GDPR Art. 15 and 20): one JSON document'
\echo '(the identifiers reached from the customer number; a reassigned number only for the holding period)'
SELECT i->>'kind' AS kind, i->>'value' AS value,
       CASE WHEN jsonb_typeof(i->'periods') = 'array'
            THEN (SELECT string_agg(coalesce((p->>'from')::date::text, '') || ' .. ' || coalesce((p->>'to')::date::text, 'now'), ', ')
                    FROM jsonb_array_elements(i->'periods') p)
            ELSE 'always' END AS "the subject's during"
  FROM jsonb_array_elements(:'doc'::jsonb->'identifiers') i;
\echo '(per table: purpose, legal basis, recipients, source, and how many rows; mentions are other people''s rows naming the subject)'
SELECT t->>'table' AS "table", t->>'purpose' AS purpose, t->>'legal_basis_article' AS basis,
       (SELECT string_agg(r, ', ') FROM jsonb_array_elements_text(t->'recipients') r) AS recipients,
       t->>'source' AS source,
       jsonb_array_length(t->'rows') AS rows, jsonb_array_length(t->'mentions') AS mentions
  FROM jsonb_array_elements(:'doc'::jsonb->'tables') t;
\echo '(two of the calls as exported: own number in clear, the other party masked)'
SELECT jsonb_pretty(c) AS "calls made"
  FROM jsonb_array_elements(:'doc'::jsonb->'tables') t, jsonb_array_elements(t->'rows') c
 WHERE t->>'table' = 'telco.cdr' AND c->>'b_number' IS NOT NULL LIMIT 2;
SELECT jsonb_pretty(c) AS "a call received (a mention: the caller masked)"
  FROM jsonb_array_elements(:'doc'::jsonb->'tables') t, jsonb_array_elements(t->'mentions') c
 WHERE t->>'table' = 'telco.cdr' LIMIT 1;
SELECT jsonb_pretty(jsonb_build_object('customer', (SELECT c FROM jsonb_array_elements(:'doc'::jsonb->'tables') t,
                                                               jsonb_array_elements(t->'rows') c
                                                     WHERE t->>'table' = 'telco.customer'))) AS "the customer record";
\echo '(the old number''s later calls belong to the next holder and are not in the export:)'
SELECT count(*) FILTER (WHERE d.started_at < s.valid_to) AS "calls while the subscriber held it",
       count(*) FILTER (WHERE d.started_at >= s.valid_to) AS "calls by the next holder",
       (SELECT count(*) FROM jsonb_array_elements(:'doc'::jsonb->'tables') t, jsonb_array_elements(t->'rows') c
         WHERE t->>'table' = 'telco.cdr' AND c->>'a_number' = :'ann_old_number') AS "in the export"
  FROM telco.subscription s JOIN telco.cdr d ON d.a_number = privacy.pseudonymize_msisdn(s.msisdn)
 WHERE s.customer_id = :ann AND s.msisdn = :'ann_old_number';
\echo '(the same export as a stream, for subjects with very many rows: a header, then chunks per table)'
SELECT part, section, table_name, CASE WHEN section IN ('rows', 'mentions') THEN jsonb_array_length(data) END AS rows
  FROM privacy.export_subject_chunks('customer', :'ann', chunk_rows => 50) LIMIT 8;

\echo
\echo '=== Data-subject rights 3/5: requests, answered within one month (GDPR Art. 12(3))'
SELECT privacy.open_request('customer', :'ann', 'access') AS req \gset
SELECT privacy.open_request('customer', :'next_holder', 'erasure', now() - interval '40 days') AS late \gset
SELECT privacy.close_request(:req, 'export sent to the customer by secure e-mail') \g /dev/null
SELECT id, request, received_at::date, due_at::date, status, overdue, days_left
  FROM privacy.request_deadlines ORDER BY id;

\echo
\echo '=== Data-subject rights 4/5: restriction (GDPR Art. 18): stored and exported, not updated'
SELECT privacy.restrict_subject('customer', :'next_holder', 'accuracy of the invoices contested') \g /dev/null
SELECT privacy.is_restricted('customer', :'next_holder') AS restricted;
SELECT pg_temp.refused(format('UPDATE telco.invoice SET amount = amount + 1 WHERE customer_id = %s', :next_holder))
       AS "UPDATE of the restricted customer's invoices";
SELECT privacy.unrestrict_subject('customer', :'next_holder') \g /dev/null
\echo '(restriction lifted)'

\echo
\echo '=== Data-subject rights 5/5: erasure of another subscriber (GDPR Art. 17): the dry run, then the erasure and its report'
SELECT customer_id AS bo FROM telco.customer
 WHERE customer_id NOT IN (:ann, :next_holder)
   AND EXISTS (SELECT FROM telco.support_ticket t WHERE t.customer_id = telco.customer.customer_id)
 ORDER BY customer_id LIMIT 1 \gset
\echo '-- the DRY RUN (nothing changes):'
SELECT table_name, action, rows, reason, kept_until::date FROM privacy.erase_subject('customer', :'bo', dry_run => true);
\echo '-- the ERASURE itself:'
SELECT table_name, action, rows, reason, kept_until::date FROM privacy.erase_subject('customer', :'bo');
\echo '(afterwards the export holds only what the report kept, and the audit log has the erasure with no identifier, only a keyed reference)'
SELECT t->>'table' AS "still held", jsonb_array_length(t->'rows') AS rows
  FROM jsonb_array_elements(privacy.export_subject('customer', :'bo')->'tables') t;
SELECT a.event, a.detail->>'kind' AS kind, a.detail->>'subject' AS subject_ref,
       (SELECT string_agg((r->>'table_name') || ' ' || (r->>'action') || ' ' || (r->>'rows'), ', ')
          FROM jsonb_array_elements(a.detail->'report') r) AS report
  FROM privacy.audit_log a WHERE a.event = 'subject.erase' ORDER BY a.id DESC LIMIT 1;
\echo '(and the erasure ledger, a file outside the data directory that no restore touches, has it too: a restore of a backup taken before it refuses to erase until privacy.replay_erasures() has erased Bo again)'
SELECT seq, erased_at::timestamp(0) AS erased_at, verified, jsonb_array_length(identifiers) AS identifiers,
       (SELECT string_agg((r->>'table') || ' ' || (r->>'action') || ' ' || (r->>'rows') || COALESCE(' (' || (r->>'why') || ')', ''), ', ')
          FROM jsonb_array_elements(report) r) AS report
  FROM privacy.erasure_ledger WHERE this_database ORDER BY line DESC LIMIT 1;
SELECT area, status, detail FROM privacy.health() WHERE area = 'erasure ledger';
