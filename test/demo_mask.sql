-- make demo, masking by role: customer service gets a role that reads the
-- telco tables masked, column by column, by the category the catalog
-- gives each column (test/data/register.sql).  Shown next to what the DBA
-- sees.  Run by test/demo.sh after its other parts, which then makes a
-- development copy with pg_dump run as this role.
\set ON_ERROR_STOP on
\pset footer off
SET client_min_messages = warning;

\echo
\echo '\033[1m=== Masking by role 1/2: customer service reads masked data (privacy.mask_role)\033[0m'
CREATE ROLE support LOGIN;
GRANT USAGE ON SCHEMA telco TO support;
GRANT SELECT ON ALL TABLES IN SCHEMA telco TO support;
GRANT SELECT ON ALL SEQUENCES IN SCHEMA telco TO support;
SELECT privacy.mask_role('support') \g /dev/null
\echo '(three customers, as the DBA sees them:)'
SELECT customer_id, customer_no, company, contact_name, email, street, postal_code, city, bank_account
  FROM telco.customer ORDER BY cvr LIMIT 3;
\echo '(the same query after SET ROLE support: names as initials, e-mails and numbers masked, keys pseudonymized;'
\echo ' the company is not personal data and stays)'
SET ROLE support;
SELECT customer_id, customer_no, company, contact_name, email, street, postal_code, city, bank_account
  FROM telco.customer ORDER BY cvr LIMIT 3;
RESET ROLE;
\echo '(three CDRs, as the DBA sees them, then as support:)'
SELECT cdr_id, started_at::timestamp(0) AS started_at, a_number, b_number, duration_s, country, call_type
  FROM telco.cdr ORDER BY cdr_id LIMIT 3;
SET ROLE support;
SELECT cdr_id, started_at::timestamp(0) AS started_at, a_number, b_number, duration_s, country, call_type
  FROM telco.cdr ORDER BY cdr_id LIMIT 3;
RESET ROLE;
