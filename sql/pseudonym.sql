-- Pseudonymization and masking functions.
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_privacy;
RESET client_min_messages;

-- normalize_msisdn: what people type, to E.164
SELECT raw, privacy.normalize_msisdn(raw) AS e164
  FROM (VALUES ('+45 20 12 34 56'), ('0045 20123456'), ('20123456'), ('20 12 34 56'),
               ('+45-20.12.34.56'), ('(+45) 2012 3456'), ('  +4520123456  '),
               ('+46 70 123 45 67'), ('+1 (212) 555-0123'), ('+358 40 1234567')) v(raw);
SELECT privacy.normalize_msisdn('030 1234567', 'DE') AS de,
       privacy.normalize_msisdn('07700 900123', 'gb') AS gb,
       privacy.normalize_msisdn('(212) 555-0123', 'US') AS us,
       privacy.normalize_msisdn('+4520123456', NULL) AS null_country;
SELECT privacy.normalize_msisdn(NULL) IS NULL AS null_in_null_out;
-- bad numbers: 22P02, the detail says what and where, never the number
\set VERBOSITY default
SELECT privacy.normalize_msisdn('+45 2O12 3456');
SELECT privacy.normalize_msisdn('45+20123456');
\set VERBOSITY terse
SELECT privacy.normalize_msisdn('');
SELECT privacy.normalize_msisdn(' - ');
SELECT privacy.normalize_msisdn('+45 201');
SELECT privacy.normalize_msisdn('+45 2012345678901234');
SELECT privacy.normalize_msisdn('+999 12345678');
SELECT privacy.normalize_msisdn('20123456', 'XX');
-- a NULL default_country is pg_privacy.default_country; lookup_value
-- with a NULL country reads international forms only
SELECT privacy.normalize_msisdn('20123456', NULL) AS null_is_the_setting,
       privacy.lookup_value('msisdn', '20123456', NULL) IS NULL AS intl_only_key;

-- pseudonymize: deterministic, 22 characters of base64url, and
-- domain-separated (the exact values under the test key are checked in
-- test/keyed/: these tests pass under any key)
SELECT privacy.pseudonymize('+4520123456', 'analytics') AS p_analytics \gset
SELECT privacy.pseudonymize('+4520123456') ~ '^[A-Za-z0-9_-]{22}$' AS p_default_well_formed,
       privacy.pseudonymize('+4520123456') = privacy.pseudonymize('+4520123456') AS deterministic,
       privacy.pseudonymize('+4520123456', 'analytics') <> privacy.pseudonymize('+4520123456') AS domains_differ,
       privacy.pseudonymize('+4520123456', 'default') = privacy.pseudonymize('+4520123456') AS default_domain,
       length(privacy.pseudonymize('x')) AS len;
SELECT count(DISTINCT privacy.pseudonymize(i::text)) AS distinct_of_10000
  FROM generate_series(1, 10000) i;
SELECT privacy.pseudonymize('', 'default') ~ '^[A-Za-z0-9_-]{22}$' AS empty_value_pseudonymized;
-- many domains in one backend: the key cache starts over, results stay right
SELECT count(DISTINCT privacy.pseudonymize('x', 'd' || i)) AS distinct_domains,
       bool_and(privacy.pseudonymize('+4520123456', 'analytics') = :'p_analytics') AS stable
  FROM generate_series(1, 1000) i;
SELECT privacy.pseudonymize('x', '');
SELECT privacy.pseudonymize('x', repeat('d', 201));
SELECT privacy.pseudonymize(NULL) IS NULL AS null_in_null_out;

-- pseudonymize_msisdn: still E.164, same country code, first digit and
-- length; reversible only through reidentify_msisdn
SELECT m, f <> m AS changed, length(f) = length(m) AS same_length,
       left(f, length(cc) + 2) = left(m, length(cc) + 2) AS same_country_and_first_digit
  FROM (VALUES ('+4520123456', '45'), ('+4520123457', '45'), ('+46701234567', '46'),
               ('+12125550123', '1')) v(m, cc),
       LATERAL privacy.pseudonymize_msisdn(m) f;
SELECT privacy.pseudonymize_msisdn('+45 20 12 34 56') = privacy.pseudonymize_msisdn('004520123456')
       AS messy_forms_agree,
       privacy.pseudonymize_msisdn('+4520123456', 'analytics') <> privacy.pseudonymize_msisdn('+4520123456')
       AS domains_differ;
SELECT privacy.reidentify_msisdn(privacy.pseudonymize_msisdn('+45 20 12 34 56')) AS round_trip,
       privacy.reidentify_msisdn(privacy.pseudonymize_msisdn('+4520123456', 'analytics'), 'analytics')
       AS round_trip_analytics;
-- a bijection: 20,000 distinct numbers give 20,000 distinct pseudonyms
-- that all decrypt back
WITH n AS (SELECT '+4520' || lpad(i::text, 6, '0') AS m FROM generate_series(0, 19999) i),
     p AS (SELECT m, privacy.pseudonymize_msisdn(m) AS f FROM n)
SELECT count(DISTINCT f) AS distinct_pseudonyms,
       count(*) FILTER (WHERE f !~ '^\+452[0-9]{7}$') AS malformed,
       count(*) FILTER (WHERE privacy_internal._msisdn_decrypt(f, 'default') <> m) AS not_reversed
  FROM p;
-- too short to hide: fewer than 10^6 values
SELECT privacy.pseudonymize_msisdn('+298 123456');
SELECT privacy.pseudonymize_msisdn('not a number');
SELECT privacy.pseudonymize_msisdn('+4520123456', '');
SELECT privacy.reidentify_msisdn('+45 2O');
-- every re-identification is audited, without the number
SELECT event, detail - 'subject' AS detail,
       detail->>'subject' = privacy_internal._subject_ref('msisdn', '+45 20 12 34 56') AS subject_ref_matches
  FROM privacy.audit_log WHERE event = 'pseudonym.reidentify' ORDER BY id DESC LIMIT 1;
SELECT privacy_internal._subject_ref('msisdn', '004520123456') = privacy_internal._subject_ref('msisdn', '+4520123456') AS normalized,
       privacy_internal._subject_ref('email', ' Ann@Example.DK') = privacy_internal._subject_ref('email', 'ann@example.dk') AS email_normalized,
       privacy_internal._subject_ref('msisdn', '+4520123456') <> privacy_internal._subject_ref('customer', '+4520123456') AS kinds_differ,
       privacy_internal._subject_ref('msisdn', '+4520123456') <> privacy.pseudonymize('+4520123456') AS not_a_pseudonym;
SELECT privacy_internal._subject_ref('passport', 'x');
SELECT count(*) AS numbers_in_audit_log FROM privacy.audit_log
 WHERE detail::text ~ '20123456|\+45';

-- pseudonymize_email: keyed local part, domain kept (lower-cased)
SELECT privacy.pseudonymize_email('Ann.Jensen@Example.DK') ~ '^[a-z2-7]{26}@example\.dk$' AS pe_well_formed,
       privacy.pseudonymize_email('  ann.jensen@example.dk ') = privacy.pseudonymize_email('Ann.Jensen@Example.DK')
       AS normalized,
       privacy.pseudonymize_email('ann.jensen@example.dk', 'analytics') ~ '^[a-z2-7]{26}@example\.dk$'
       AS pe_analytics_well_formed,
       privacy.pseudonymize_email('ann.jensen@example.dk', 'analytics') <> privacy.pseudonymize_email('ann.jensen@example.dk')
       AS domains_differ;
SELECT privacy.pseudonymize_email('no-at-sign');
SELECT privacy.pseudonymize_email('@example.dk');
SELECT privacy.pseudonymize_email('ann@');
SELECT privacy.pseudonymize_email('ann jensen@example.dk');

-- mask_msisdn
SELECT privacy.mask_msisdn('+4520123456') AS m4, privacy.mask_msisdn('20 12 34 56', 6) AS m6,
       privacy.mask_msisdn('+4520123456', 0) AS m0, privacy.mask_msisdn('garbage') AS unparsable;
SELECT privacy.mask_msisdn('+4520123456', -1);
SELECT privacy.mask_msisdn('+4520123456', 16);

-- country_of: location at country level
SELECT privacy.country_of('+4520123456') AS dk, privacy.country_of('+12125550123') AS us,
       privacy.country_of('se') AS se, privacy.country_of('+447700900123') AS gb;
SELECT privacy.country_of('Copenhagen');
SELECT privacy.country_of('QQ');

-- generalize
SET TimeZone = 'Europe/Copenhagen';
SELECT privacy.generalize('2026-03-14 15:09:26.5+01', 'hour') AS hour,
       privacy.generalize('2026-03-14 15:09:26.5+01', 'day') AS day,
       privacy.generalize('2026-03-14 15:09:26.5+01', 'month') AS month;
SELECT privacy.generalize(now(), 'fortnight');
RESET TimeZone;

-- Keyed functions are not for PUBLIC; the keyless ones are.
CREATE ROLE regress_pseudo_user;
SET ROLE regress_pseudo_user;
SELECT privacy.normalize_msisdn('20123456'), privacy.mask_msisdn('+4520123456');
SELECT privacy.pseudonymize('x');
SELECT privacy.pseudonymize_msisdn('+4520123456');
SELECT privacy.reidentify_msisdn('+4520123456');
SELECT privacy_internal._msisdn_decrypt('+4520123456', 'default');
RESET ROLE;
DROP ROLE regress_pseudo_user;
