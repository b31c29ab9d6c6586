-- Declares the telephony data set (test/data/telephony.sql) in the
-- pg_privacy catalog: its purposes with their legal basis and recipients,
-- and every personal column with its category, the identifier it holds,
-- and the on-write protection of the call detail records.  This is what a
-- DBA writes once for a database like the operator's.
\set ON_ERROR_STOP on
SET client_min_messages = warning;

-- Purposes (privacy policy sections 2 and 3)
SELECT privacy.define_purpose('customer_relationship', 'contract',
  description => 'delivering the subscriptions the customer ordered, customer service');
SELECT privacy.define_purpose('billing', 'contract',
  description => 'invoicing, direct debit and collection',
  recipients  => ARRAY['bank (direct debit)', 'debt collection agency']);
SELECT privacy.define_purpose('bookkeeping', 'legal_obligation',
  description => 'accounting records kept under the Danish Bookkeeping Act (5 years)',
  recipients  => ARRAY['auditor', 'Danish Business Authority']);
SELECT privacy.define_purpose('traffic', 'legal_obligation',
  description => 'traffic data for billing, delivery and network management (Teleloven)',
  recipients  => ARRAY['interconnect partners', 'parent group (aggregates only)']);
SELECT privacy.define_purpose('newsletter', 'consent',
  description => 'newsletters sent to those who signed up');
SELECT privacy.define_purpose('consent_records', 'legal_obligation',
  description => 'proof of consent (GDPR Art. 7(1))');

-- Customers
SELECT privacy.register_table('telco.customer', 'customer_relationship');
SELECT privacy.register_column('telco.customer', 'customer_id',  'customer_number', identifies => 'customer');
SELECT privacy.register_column('telco.customer', 'customer_no',  'customer_number');
SELECT privacy.register_column('telco.customer', 'company',      'company');
SELECT privacy.register_column('telco.customer', 'cvr',          'business_id', identifies => 'cvr');
SELECT privacy.register_column('telco.customer', 'contact_name', 'name');
SELECT privacy.register_column('telco.customer', 'email',        'email', identifies => 'email');
SELECT privacy.register_column('telco.customer', 'street',       'postal_address');
SELECT privacy.register_column('telco.customer', 'postal_code',  'postal_address');
SELECT privacy.register_column('telco.customer', 'city',         'postal_address');
SELECT privacy.register_column('telco.customer', 'bank_account', 'bank_account');

-- Subscriptions tie a customer to a number for a period
SELECT privacy.register_table('telco.subscription', 'customer_relationship');
SELECT privacy.register_column('telco.subscription', 'customer_id', 'customer_number', identifies => 'customer');
SELECT privacy.register_column('telco.subscription', 'msisdn',      'phone', identifies => 'msisdn');

-- Call detail records: A- and B-numbers pseudonymized on write (FF1,
-- format-preserving), location kept at country level
SELECT privacy.register_table('telco.cdr', 'traffic');
SELECT privacy.register_column('telco.cdr', 'a_number',   'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.register_column('telco.cdr', 'b_number',   'phone', identifies => 'msisdn', link => 'mention',
                               protect => 'msisdn_fpe');
SELECT privacy.register_column('telco.cdr', 'started_at', 'traffic');
SELECT privacy.register_column('telco.cdr', 'duration_s', 'traffic');
SELECT privacy.register_column('telco.cdr', 'price',      'traffic');
SELECT privacy.register_column('telco.cdr', 'country',    'location', protect => 'country');
-- (empty here in the demo; a caller that loaded CDRs first sets
-- cdr_rewrite, and they are converted: protect() refuses to leave them raw;
-- or cdr_batched, and they are left to CALL privacy.rekey())
\if :{?cdr_batched}
SELECT privacy.protect_in_batches('telco.cdr');
\elif :{?cdr_rewrite}
SELECT privacy.protect('telco.cdr', rewrite_existing => true);
\else
SELECT privacy.protect('telco.cdr');
\endif

-- Invoices are bookkeeping material
SELECT privacy.register_table('telco.invoice', 'bookkeeping');
SELECT privacy.register_column('telco.invoice', 'customer_id',  'customer_number', identifies => 'customer');
SELECT privacy.register_column('telco.invoice', 'invoice_no',   'customer_number');
SELECT privacy.register_column('telco.invoice', 'amount',       'other');
SELECT privacy.register_column('telco.invoice', 'bank_account', 'bank_account');

-- Newsletter sign-ups
SELECT privacy.register_table('telco.newsletter_subscriber', 'newsletter');
SELECT privacy.register_column('telco.newsletter_subscriber', 'email', 'email', identifies => 'email');
SELECT privacy.register_column('telco.newsletter_subscriber', 'name',  'name');
SELECT privacy.register_column('telco.newsletter_subscriber', 'phone', 'phone', identifies => 'msisdn');

-- Support tickets
SELECT privacy.register_table('telco.support_ticket', 'customer_relationship');
SELECT privacy.register_column('telco.support_ticket', 'customer_id',   'customer_number', identifies => 'customer');
SELECT privacy.register_column('telco.support_ticket', 'msisdn_raw',    'phone', identifies => 'msisdn');
SELECT privacy.register_column('telco.support_ticket', 'contact_email', 'email', identifies => 'email');
SELECT privacy.register_column('telco.support_ticket', 'subject',       'free_text');
SELECT privacy.register_column('telco.support_ticket', 'body',          'free_text');

-- Consent events as imported
SELECT privacy.register_table('telco.consent_import', 'consent_records');
SELECT privacy.register_column('telco.consent_import', 'value', 'other');
