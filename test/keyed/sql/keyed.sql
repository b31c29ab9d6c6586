-- Exact values under the fixed test key (test/keys/regress.key).
--
-- These tests run only against a server loaded with the test key: make test
-- (regress and sanitizer phases) or `make installcheck-keyed`.  They pin the
-- key derivation and the formats of pseudonyms, format-preserving numbers
-- and the key fingerprint: any change to them would silently break joins on
-- data pseudonymized by an earlier version, so it must fail here.  The
-- key-independent properties are in sql/ (make installcheck).
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_privacy;
RESET client_min_messages;

-- The key fingerprint of the test key.
SELECT privacy.key_fingerprint();

-- pseudonymize, per domain, and of the empty value.
SELECT privacy.pseudonymize('+4520123456') AS p_default,
       privacy.pseudonymize('+4520123456', 'analytics') AS p_analytics,
       privacy.pseudonymize('', 'default') AS empty_value;
-- many domains in one backend: the key cache starts over, results stay right
SELECT count(DISTINCT privacy.pseudonymize('x', 'd' || i)) AS distinct_domains,
       bool_and(privacy.pseudonymize('+4520123456', 'analytics') = 'jVtakwTiCjEXe5yEmJZLgA') AS stable
  FROM generate_series(1, 1000) i;

-- pseudonymize_msisdn: format-preserving numbers.
SELECT m, privacy.pseudonymize_msisdn(m) AS fpe
  FROM (VALUES ('+4520123456'), ('+4520123457'), ('+46701234567'), ('+12125550123')) v(m);
SELECT privacy.pseudonymize_msisdn('+4520123456', 'regress_att') AS fpe_regress_att;
SELECT privacy.reidentify_msisdn('+4522186386') AS reidentified;

-- pseudonymize_email: keyed local part, domain kept.
SELECT privacy.pseudonymize_email('Ann.Jensen@Example.DK') AS pe,
       privacy.pseudonymize_email('ann.jensen@example.dk', 'analytics') AS pe_analytics;

-- Identifiers (src/identifier.c): one normal form wherever an identifier
-- is written.  The audit reference of an e-mail address and the pseudonym
-- the protect trigger stores do not depend on case (ASCII), white space or
-- the column's collation; a national number is the setting's country's.
SELECT privacy_internal._subject_ref('email', ' INFO@Firma.DK ') AS ref_email,
       privacy_internal._subject_ref('email', 'info@firma.dk' COLLATE "tr-TR-x-icu")
         = privacy_internal._subject_ref('email', ' INFO@Firma.DK ') AS same_ref,
       privacy_internal._subject_ref('msisdn', '20 12 34 56') AS ref_msisdn,
       privacy_internal._subject_ref('customer', ' 1042 ') = privacy_internal._subject_ref('customer', '1042') AS customer_trimmed;
CREATE SCHEMA keyed_ident;
CREATE TABLE keyed_ident.contact (email text COLLATE "tr-TR-x-icu", phone text);
SELECT privacy.define_purpose('keyed_ident', 'contract');
SELECT privacy.register_table('keyed_ident.contact', 'keyed_ident');
SELECT privacy.register_column('keyed_ident.contact', 'email', 'email', identifies => 'email', protect => 'pseudonym');
SELECT privacy.register_column('keyed_ident.contact', 'phone', 'phone', identifies => 'msisdn', protect => 'pseudonym');
SELECT privacy.protect('keyed_ident.contact');
INSERT INTO keyed_ident.contact VALUES (' INFO@FIRMA.DK', '20 12 34 56'), ('info@firma.dk ', '+45 20123456');
SET pg_privacy.default_country = 'SE';
INSERT INTO keyed_ident.contact VALUES ('Info@Firma.Dk', '070-123 45 67');
RESET pg_privacy.default_country;
SELECT email, phone, email = privacy.pseudonymize('info@firma.dk') AS email_normal_form,
       phone IN (privacy.pseudonymize('+4520123456'), privacy.pseudonymize('+46701234567')) AS phone_normal_form
  FROM keyed_ident.contact ORDER BY phone;
SELECT privacy.unprotect('keyed_ident.contact');
SELECT privacy.unregister_table('keyed_ident.contact');
DROP SCHEMA keyed_ident CASCADE;
SELECT privacy.drop_purpose('keyed_ident');
