-- The personal-data catalog: purposes, tables, columns, the record of
-- processing, undeclared columns, and the catalog following DDL.
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_privacy;
RESET client_min_messages;

CREATE SCHEMA regress_cat;
CREATE TABLE regress_cat.customer (
  customer_id   bigint PRIMARY KEY,
  customer_no   text NOT NULL,
  contact_name  text,
  email         text,
  phone         text,
  street        text,
  note          text
);
CREATE TABLE regress_cat.cdr (
  a_number   text NOT NULL,
  b_number   text,
  started_at timestamptz NOT NULL,
  duration_s integer,
  country    char(2)
) PARTITION BY RANGE (started_at);
CREATE TABLE regress_cat.cdr_2026_01 PARTITION OF regress_cat.cdr
  FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');

-- Purposes
SELECT privacy.define_purpose('billing', 'contract',
         description => 'invoicing and collection',
         recipients => ARRAY['debt collection agency', 'bank (direct debit)']);
SELECT privacy.define_purpose('marketing', 'consent', description => 'newsletters and offers');
SELECT privacy.define_purpose('traffic', 'legal_obligation');
SELECT name, legal_basis, requires_consent, recipients FROM privacy.purpose
 WHERE name IN ('billing', 'marketing', 'traffic') ORDER BY name;
-- bad purposes
SELECT privacy.define_purpose('billing', 'contractual');
SELECT privacy.define_purpose('Bad Name', 'contract');
SELECT privacy.define_purpose('billing2', 'contract', requires_consent => true);
SELECT privacy.define_purpose(NULL, 'contract');
SELECT privacy.define_purpose('billing3', 'contract', recipients => ARRAY[NULL]);
SELECT privacy.drop_purpose('no_such_purpose');

-- Tables
SELECT privacy.register_table('regress_cat.customer', 'billing');
SELECT privacy.register_table('regress_cat.cdr', 'traffic');
-- bad tables
SELECT privacy.register_table('regress_cat.customer', 'billing');
SELECT privacy.register_table('regress_cat.no_such_table', 'billing');
SELECT privacy.register_table('regress_cat.cdr_2026_01', 'traffic');
SELECT privacy.register_table('pg_catalog.pg_class', 'billing');
SELECT privacy.register_table('privacy.purpose', 'billing');
CREATE VIEW regress_cat.v AS SELECT 1 AS x;
SELECT privacy.register_table('regress_cat.v', 'billing');
CREATE TEMP TABLE regress_tmp (phone text);
SELECT privacy.register_table('regress_tmp', 'billing');
SELECT privacy.register_table('regress_cat.customer'::regclass, 'no_such_purpose');
SELECT privacy.register_table(NULL, 'billing');
SELECT privacy.set_purpose('regress_cat.cdr', 'no_such_purpose');
SELECT privacy.set_purpose('regress_cat.v', 'billing');
SELECT privacy.drop_purpose('billing');

-- Columns
SELECT privacy.register_column('regress_cat.customer', 'customer_no', 'customer_number', identifies => 'customer');
SELECT privacy.register_column('regress_cat.customer', 'contact_name', 'name');
SELECT privacy.register_column('regress_cat.customer', 'email', 'email', identifies => 'email');
SELECT privacy.register_column('regress_cat.customer', 'phone', 'phone', identifies => 'msisdn');
SELECT privacy.register_column('regress_cat.cdr', 'a_number', 'phone', identifies => 'msisdn',
                               protect => 'msisdn_fpe');
SELECT privacy.register_column('regress_cat.cdr', 'b_number', 'phone', identifies => 'msisdn',
                               link => 'mention', protect => 'msisdn_fpe');
SELECT privacy.register_column('regress_cat.cdr', 'country', 'location', protect => 'country');
-- bad columns
SELECT privacy.register_column('regress_cat.customer', 'email', 'email');
SELECT privacy.register_column('regress_cat.customer', 'no_such_column', 'name');
SELECT privacy.register_column('regress_cat.customer', 'ctid', 'other');
SELECT privacy.register_column('regress_cat.customer', 'street', 'street_address');
SELECT privacy.register_column('regress_cat.customer', 'street', 'postal_address', identifies => 'passport');
SELECT privacy.register_column('regress_cat.customer', 'street', 'postal_address', link => 'owns');
SELECT privacy.register_column('regress_cat.customer', 'street', 'postal_address', link => 'mention');
SELECT privacy.register_column('regress_cat.customer', 'street', 'postal_address', protect => 'encrypt');
SELECT privacy.register_column('regress_cat.customer', 'customer_id', 'customer_number', protect => 'pseudonym');
SELECT privacy.register_column('regress_cat.customer', 'customer_no', 'customer_number', protect => 'null');
SELECT privacy.register_column('regress_cat.customer', 'street', 'postal_address', protect => 'pseudonym', domain => '');
SELECT privacy.register_column('regress_cat.customer', NULL, 'name');
SELECT privacy.register_column('regress_cat.v', 'x', 'other');
SELECT privacy.unregister_column('regress_cat.customer', 'street');

-- The record of processing
SELECT table_name, column_name, data_type, category, identifies, link, protect,
       protect_domain, purpose, legal_basis, legal_basis_article, recipients
  FROM privacy.personal_data
 WHERE table_name::text LIKE 'regress_cat.%'
 ORDER BY 1, 2;

-- Columns that look personal but are not declared (partitions are covered
-- by their parent; the temp table is not listed).
SELECT table_name, column_name, suggested_category, table_registered
  FROM privacy.undeclared_columns
 WHERE table_name::text LIKE 'regress_cat.%' OR table_name::text LIKE 'regress_tmp%'
 ORDER BY 1, 2;

-- Renaming follows; nothing becomes a problem.
ALTER TABLE regress_cat.customer RENAME COLUMN contact_name TO full_name;
ALTER TABLE regress_cat.customer RENAME TO client;
SELECT table_name, column_name FROM privacy.personal_data
 WHERE table_name::text LIKE 'regress_cat.%' AND category = 'name';
SELECT * FROM privacy.catalog_problems;

-- One rename-following mechanism for every catalog table that names a
-- column: the declaration, the consent requirement, the retention policy's
-- time column and the subject table's period and link columns all follow,
-- each audited, and what they drive keeps working under the new names.
CREATE TABLE regress_cat.line (phone text NOT NULL, mail text, since date NOT NULL,
                               until date, seen timestamptz NOT NULL DEFAULT now());
SELECT privacy.register_table('regress_cat.line', 'traffic');
SELECT privacy.register_column('regress_cat.line', 'phone', 'phone', identifies => 'msisdn');
SELECT privacy.register_column('regress_cat.line', 'mail', 'email', identifies => 'email');
SELECT privacy.set_subject_table('regress_cat.line', event_time => 'seen', validity_column => 'phone',
                                 valid_from => 'since', valid_to => 'until', link_columns => '{phone,mail}');
SELECT privacy.set_retention('regress_cat.line', 'seen', '1 year');
SELECT privacy.require_consent('regress_cat.line', 'mail', 'marketing', kind => 'email');
ALTER TABLE regress_cat.line RENAME COLUMN phone TO msisdn;
ALTER TABLE regress_cat.line RENAME COLUMN mail TO email;
ALTER TABLE regress_cat.line RENAME COLUMN since TO valid_from;
ALTER TABLE regress_cat.line RENAME COLUMN until TO valid_to;
ALTER TABLE regress_cat.line RENAME COLUMN seen TO observed_at;
SELECT col, attnum FROM privacy.registered_column WHERE tbl = 'regress_cat.line'::regclass ORDER BY attnum;
SELECT event_time, validity_column, valid_from, valid_to, link_columns
  FROM privacy.subject_table WHERE tbl = 'regress_cat.line'::regclass;
SELECT time_column, time_attnum FROM privacy.retention_policy WHERE tbl = 'regress_cat.line'::regclass;
SELECT col FROM privacy.consent_requirement WHERE tbl = 'regress_cat.line'::regclass;
SELECT event, detail FROM privacy.audit_log
 WHERE object = 'regress_cat.line' AND event LIKE '%.column_renamed' ORDER BY id;
SELECT * FROM privacy.catalog_problems WHERE table_name = 'regress_cat.line'::regclass;
-- the consent trigger checks the renamed column: refused without consent,
-- accepted with it
INSERT INTO regress_cat.line (msisdn, email, valid_from) VALUES ('+4520000001', 'noconsent@example.dk', '2026-01-01');
SELECT privacy.grant_consent('email', 'yes@example.dk', 'marketing', 'web form') > 0 AS granted;
INSERT INTO regress_cat.line (msisdn, email, valid_from) VALUES ('+4520000001', 'yes@example.dk', '2026-01-01');
INSERT INTO regress_cat.line (msisdn, email, valid_from, observed_at)
     VALUES ('+4520000001', 'yes@example.dk', '2020-01-01', '2020-06-01');
-- the subject search and the purge use the new names (the search reaches
-- regress_cat.cdr through the line's number: a table declared protected
-- without its protect trigger is refused, its values could be raw)
SELECT t->>'table' AS table_name, jsonb_array_length(t->'rows') AS exported_rows
  FROM jsonb_array_elements(privacy.export_subject('email', 'yes@example.dk')->'tables') t;
SELECT privacy.protect('regress_cat.cdr');
SELECT t->>'table' AS table_name, jsonb_array_length(t->'rows') AS exported_rows
  FROM jsonb_array_elements(privacy.export_subject('email', 'yes@example.dk')->'tables') t;
SELECT table_name, action, rows FROM privacy.purge(dry_run => true, tbl => 'regress_cat.line');
-- a rename in a rolled-back transaction leaves the catalog as it was
BEGIN;
ALTER TABLE regress_cat.line RENAME COLUMN email TO e_mail;
SELECT col FROM privacy.consent_requirement WHERE tbl = 'regress_cat.line'::regclass;
ROLLBACK;
SELECT col FROM privacy.consent_requirement WHERE tbl = 'regress_cat.line'::regclass;
-- renaming a column the catalog does not name changes nothing and audits nothing
ALTER TABLE regress_cat.line ADD COLUMN note text;
ALTER TABLE regress_cat.line RENAME COLUMN note TO remark;
SELECT count(*) AS audited FROM privacy.audit_log
 WHERE object = 'regress_cat.line' AND event LIKE '%.column_renamed' AND detail ->> 'from' = 'note';
-- swapping two names in three renames is followed rename by rename: each
-- declaration stays with its column
ALTER TABLE regress_cat.line RENAME COLUMN msisdn TO swap;
ALTER TABLE regress_cat.line RENAME COLUMN email TO msisdn;
ALTER TABLE regress_cat.line RENAME COLUMN swap TO email;
SELECT col, category, attnum FROM privacy.registered_column WHERE tbl = 'regress_cat.line'::regclass ORDER BY attnum;
SELECT validity_column, link_columns FROM privacy.subject_table WHERE tbl = 'regress_cat.line'::regclass;
SELECT col FROM privacy.consent_requirement WHERE tbl = 'regress_cat.line'::regclass;
-- the function reads only what the event trigger hands it
SELECT privacy_internal._renamed_column(NULL) IS NULL AS no_command;
-- a dropped column that a policy or the subject table names is a problem
-- the catalog reports (and the purge refuses the table meanwhile)
ALTER TABLE regress_cat.line DROP COLUMN observed_at;
SELECT column_name, problem FROM privacy.catalog_problems
 WHERE table_name = 'regress_cat.line'::regclass ORDER BY 1, 2;
SELECT table_name, action, rows FROM privacy.purge(dry_run => true, tbl => 'regress_cat.line');
DROP TABLE regress_cat.line;

-- Dropping a column or table removes it from the catalog, audited.
ALTER TABLE regress_cat.client DROP COLUMN phone;
SELECT count(*) AS phone_declared FROM privacy.personal_data
 WHERE table_name = 'regress_cat.client'::regclass AND column_name = 'phone';
-- A type change that no longer suits the transformation is reported.
ALTER TABLE regress_cat.cdr ALTER COLUMN b_number TYPE bigint USING b_number::bigint;
SELECT * FROM privacy.catalog_problems;
ALTER TABLE regress_cat.cdr ALTER COLUMN b_number TYPE text;
SELECT * FROM privacy.catalog_problems;

DROP TABLE regress_cat.cdr;
SELECT count(*) AS cdr_declared FROM privacy.registered_table WHERE tbl::text LIKE '%cdr%';
SELECT event, object, detail FROM privacy.audit_log
 WHERE event IN ('catalog.column_renamed', 'catalog.column_dropped', 'catalog.table_dropped')
   AND object LIKE 'regress_cat.%'
 ORDER BY id;

-- Only the table's owner may declare it.
CREATE ROLE regress_cat_owner;
CREATE ROLE regress_cat_other;
GRANT USAGE ON SCHEMA regress_cat TO regress_cat_owner, regress_cat_other;
GRANT EXECUTE ON FUNCTION privacy.register_table(regclass, text),
                          privacy.register_column(regclass, name, text, text, text, text, text)
   TO regress_cat_owner, regress_cat_other;
CREATE TABLE regress_cat.owned (email text);
ALTER TABLE regress_cat.owned OWNER TO regress_cat_owner;
SET ROLE regress_cat_other;
SELECT privacy.register_table('regress_cat.owned', 'billing');
SELECT privacy.define_purpose('sneaky', 'contract');
SET ROLE regress_cat_owner;
SELECT privacy.register_table('regress_cat.owned', 'billing');
SELECT privacy.register_column('regress_cat.owned', 'email', 'email', identifies => 'email');
RESET ROLE;
SELECT registered_by FROM privacy.registered_table WHERE tbl = 'regress_cat.owned'::regclass;
SELECT role FROM privacy.audit_log
 WHERE event = 'catalog.register_table' AND object = 'regress_cat.owned' ORDER BY id DESC LIMIT 1;

SELECT privacy.unregister_table('regress_cat.owned');
SELECT privacy.unregister_table('regress_cat.owned');
DROP SCHEMA regress_cat CASCADE;
DROP OWNED BY regress_cat_owner, regress_cat_other;
DROP ROLE regress_cat_owner;
DROP ROLE regress_cat_other;
SELECT privacy.verify_audit_log() AS first_bad_entry;
