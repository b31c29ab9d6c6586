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
