-- Identifiers: one normalization per kind (src/identifier.c), the
-- IMMUTABLE lookup value privacy.lookup_value and the one index that
-- serves consent, holds, export and erasure; the e-mail rule under a
-- locale-sensitive collation; the default country as one setting, and
-- what a stored hold or consent means after the setting changes.
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_privacy;
RESET client_min_messages;
SET TimeZone = 'UTC';
RESET pg_privacy.default_country;

-- The lookup value: the normal form by normalization, NULL when none
SELECT v, privacy.lookup_value('msisdn', v, 'DK') AS dk, privacy.lookup_value('msisdn', v, 'SE') AS se,
       privacy.lookup_value('msisdn', v, NULL) AS intl_only
  FROM (VALUES ('+45 20 12 34 56'), ('004520123456'), ('20 12 34 56'), ('070-123 45 67'), ('call me'), ('')) x(v);
SELECT v, privacy.lookup_value('email', v, 'DK') AS email, privacy.lookup_value('text', v, 'DK') AS text
  FROM (VALUES (E'  Ann.Hansen@Example.DK\t'), ('ann.hansen@example.dk'), ('no-at-sign'), ('   '),
               (' 1042 ')) x(v);
SELECT privacy.lookup_value(NULL, 'x', 'DK') IS NULL AS null_kind,
       privacy.lookup_value('email', NULL, 'DK') IS NULL AS null_value,
       privacy.lookup_value('email', 'a@b', NULL) AS no_country_needed;

-- The e-mail rule lower-cases ASCII letters only: the key does not depend
-- on the database's locale or the value's collation.  lower() under a
-- Turkish collation makes 'I' a dotless 'ı'; the key keeps 'i'.  'İ', 'ß'
-- and 'Ä' are kept as they are (no locale decides what they fold to).
SELECT lower('INFO@FIRMA.DK' COLLATE "tr-TR-x-icu") AS turkish_lower,
       privacy.lookup_value('email', 'INFO@FIRMA.DK' COLLATE "tr-TR-x-icu", 'DK') AS key_tr,
       privacy.lookup_value('email', 'INFO@FIRMA.DK' COLLATE "C", 'DK') AS key_c,
       privacy.lookup_value('email', 'İnfo@Straße.DE' COLLATE "tr-TR-x-icu", 'DK') AS key_dotted_i,
       privacy.lookup_value('email', 'ÄRNE.ß@EXAMPLE.DK' COLLATE "de-DE-x-icu", 'DK') AS key_umlaut;

-- Errors: a normalization that does not exist (22023), an unknown default
-- country (22023); an unknown kind (22023) and a value without a normal
-- form (22P02) wherever an identifier is given
SELECT privacy.lookup_value('customer', '1042', 'DK');
SELECT privacy.lookup_value('fax', '1042', 'DK');
SELECT privacy.lookup_value('msisdn', '20123456', 'XX');
SELECT privacy.lookup_value('email', 'a@b', 'denmark');
SELECT privacy_internal._identifier_normalize('fax', '1042');
SELECT privacy_internal._identifier_normalize('msisdn', 'call me');
SELECT privacy_internal._identifier_normalize('email', 'no-at-sign');
SELECT privacy_internal._identifier_normalize('email', '  ');
SELECT privacy_internal._identifier_normalize('customer', ' ');
SELECT privacy_internal._identifier_normalize(NULL, 'x');
SELECT privacy.has_consent('fax', '1042', 'regress_ident_news');
SELECT privacy.hold('fax', '1042', 'case 1');
SELECT privacy.hold('msisdn', '20 12 34 5x', 'case 1');
SELECT privacy.export_subject('email', 'no-at-sign');
SELECT * FROM privacy.erase_subject('email', '   ');
SELECT privacy.restrict_subject('msisdn', 'call me', 'objection');

-- IMMUTABLE, PARALLEL SAFE, executable by PUBLIC: it can back an index
SELECT p.oid::regprocedure, p.provolatile, p.proparallel, p.prosecdef,
       has_function_privilege('public', p.oid, 'EXECUTE') AS public_execute
  FROM pg_proc p
 WHERE p.oid IN ('privacy.lookup_value(text, text, text)'::regprocedure,
                 'privacy.normalize_msisdn(text, text)'::regprocedure,
                 'privacy_internal._identifier_normalize(text, text)'::regprocedure)
 ORDER BY 1;
CREATE SCHEMA regress_ident;
CREATE TABLE regress_ident.dirty (v text);
INSERT INTO regress_ident.dirty VALUES ('20 12 34 56'), ('not a number'), (''), (NULL), ('+46 70 123 45 67');
CREATE INDEX dirty_key ON regress_ident.dirty (privacy.lookup_value('msisdn', v, 'DK'));
SET enable_seqscan = off;
SELECT v FROM regress_ident.dirty WHERE privacy.lookup_value('msisdn', v, 'DK') = '+4520123456';
SELECT count(*) AS without_key FROM regress_ident.dirty WHERE privacy.lookup_value('msisdn', v, 'DK') IS NULL;
RESET enable_seqscan;

-- The default country is one setting, and the API's default
SHOW pg_privacy.default_country;
SELECT privacy.normalize_msisdn('20 12 34 56') AS dk_default,
       privacy.normalize_msisdn('070-123 45 67', 'SE') AS explicit_se;
SET pg_privacy.default_country = 'se';
SELECT privacy.normalize_msisdn('070-123 45 67') AS se_default,
       privacy_internal._identifier_normalize('msisdn', '070-123 45 67') AS se_normal_form,
       privacy_internal._default_country() AS setting;
RESET pg_privacy.default_country;

-- One index for the consent cascade, holds, export and erasure of an
-- e-mail column: the expression privacy.missing_indexes proposes.
SELECT privacy.define_purpose('regress_ident_news', 'consent');
CREATE TABLE regress_ident.newsletter (id bigint, email text, phone text, signed_up timestamptz);
INSERT INTO regress_ident.newsletter
SELECT i, 'Subscriber' || i || '@Example.DK', '+452000' || lpad(i::text, 4, '0'), '2026-01-01'
  FROM generate_series(1, 5000) i;
SELECT privacy.register_table('regress_ident.newsletter', 'regress_ident_news');
SELECT privacy.register_column('regress_ident.newsletter', 'email', 'email', identifies => 'email');
SELECT privacy.register_column('regress_ident.newsletter', 'phone', 'phone', identifies => 'msisdn');
SELECT column_name, lookup, suggested_index FROM privacy.missing_indexes
 WHERE table_name = 'regress_ident.newsletter'::regclass ORDER BY column_name;
SELECT suggested_index FROM privacy.missing_indexes
 WHERE table_name = 'regress_ident.newsletter'::regclass ORDER BY column_name \gexec
ALTER INDEX regress_ident.newsletter_lookup_value_idx RENAME TO newsletter_email_idx;
ALTER INDEX regress_ident.newsletter_lookup_value_idx1 RENAME TO newsletter_phone_idx;
SELECT count(*) AS still_missing FROM privacy.missing_indexes
 WHERE table_name = 'regress_ident.newsletter'::regclass;
SELECT c.relname, pg_get_indexdef(i.indexrelid) AS definition
  FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
 WHERE i.indrelid = 'regress_ident.newsletter'::regclass ORDER BY 1;
-- an index with another default country does not serve the statements
CREATE INDEX newsletter_se ON regress_ident.newsletter (privacy.lookup_value('msisdn', phone, 'SE'));
DROP INDEX regress_ident.newsletter_phone_idx;
SELECT column_name, suggested_index FROM privacy.missing_indexes
 WHERE table_name = 'regress_ident.newsletter'::regclass;
DROP INDEX regress_ident.newsletter_se;
CREATE INDEX newsletter_phone_idx ON regress_ident.newsletter (privacy.lookup_value('msisdn', phone, 'DK'));
ANALYZE regress_ident.newsletter;
SELECT privacy.require_consent('regress_ident.newsletter', 'email', 'regress_ident_news', kind => 'email',
                               on_withdraw => 'delete');

-- The statements' shape uses it
SET enable_seqscan = off;
EXPLAIN (COSTS OFF)
DELETE FROM regress_ident.newsletter
 WHERE privacy.lookup_value('email', email::pg_catalog.text, 'DK') OPERATOR(pg_catalog.=) 'subscriber7@example.dk';
EXPLAIN (COSTS OFF)
SELECT t.id FROM jsonb_to_recordset('[{"s": "subscriber7@example.dk"}]') f(s text)
  JOIN regress_ident.newsletter t ON privacy.lookup_value('email', t.email, 'DK') OPERATOR(pg_catalog.=) f.s;

-- ... and the real paths do: the index's scan count grows with each
CREATE FUNCTION regress_ident.scans() RETURNS bigint LANGUAGE sql AS $$
  SELECT pg_stat_force_next_flush();
  SELECT pg_stat_clear_snapshot();
  SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelid = 'regress_ident.newsletter_email_idx'::regclass
$$;
SELECT pg_stat_force_next_flush();
SELECT regress_ident.scans() AS s0 \gset
SELECT privacy.grant_consent('email', 'subscriber7@example.dk', 'regress_ident_news') > 0 AS granted;
SELECT privacy.withdraw_consent('email', ' SUBSCRIBER7@Example.dk', 'regress_ident_news') > 0 AS withdrawn;
SELECT pg_stat_force_next_flush();
SELECT regress_ident.scans() AS s1 \gset
SELECT :s1 > :s0 AS consent_cascade_used_index,
       (SELECT count(*) FROM regress_ident.newsletter WHERE id = 7) AS rows_left;
SELECT jsonb_array_length(privacy.export_subject('email', 'SUBSCRIBER8@example.dk') #> '{tables,0,rows}') AS exported_rows;
SELECT pg_stat_force_next_flush();
SELECT regress_ident.scans() AS s2 \gset
SELECT :s2 > :s1 AS export_used_index;
SELECT table_name, action, rows FROM privacy.erase_subject('email', 'subscriber8@EXAMPLE.DK');
SELECT pg_stat_force_next_flush();
SELECT regress_ident.scans() AS s3 \gset
SELECT :s3 > :s2 AS erasure_used_index;
RESET enable_seqscan;

-- A hold written in national format means the number it meant when it
-- was placed: holds store the normal form (E.164) computed under the
-- setting of that moment.  An erasure under another default country
-- reaches the held rows when it names the same number, in international
-- form or in that country's national form; the same digits read as a
-- Swedish number are another subject.
SELECT privacy.hold('msisdn', '20 00 00 09', 'case 1') AS hold_id \gset
SELECT masked_value FROM privacy.legal_holds WHERE id = :hold_id;
SELECT value FROM privacy.legal_hold WHERE id = :hold_id;
SET pg_privacy.default_country = 'SE';
SELECT table_name, action, rows, reason IS NOT NULL AS has_reason
  FROM privacy.erase_subject('msisdn', '+45 20 00 00 09', dry_run => true);
SELECT table_name, action, rows FROM privacy.erase_subject('msisdn', '20 00 00 09', dry_run => true);
RESET pg_privacy.default_country;
SELECT table_name, action, rows, reason IS NOT NULL AS has_reason
  FROM privacy.erase_subject('msisdn', '20000009', dry_run => true);
SELECT privacy.release_hold(:hold_id);

-- Consent stores the normal form too: granted under DK in national form,
-- it is the Danish number's under any later setting
SELECT privacy.grant_consent('msisdn', '20 00 00 10', 'regress_ident_news') > 0 AS granted;
SET pg_privacy.default_country = 'SE';
SELECT privacy.has_consent('msisdn', '+4520000010', 'regress_ident_news') AS danish_number,
       privacy.has_consent('msisdn', '20 00 00 10', 'regress_ident_news') AS swedish_reading;
RESET pg_privacy.default_country;
SELECT privacy.has_consent('msisdn', '20 00 00 10', 'regress_ident_news') AS danish_reading;

-- The same key everywhere for one address written three ways
SELECT privacy.grant_consent('email', E'\tMIXED.Case@Example.DK ', 'regress_ident_news') > 0 AS granted;
SELECT privacy.has_consent('email', 'mixed.case@example.dk', 'regress_ident_news') AS lower,
       privacy.has_consent('email', 'Mixed.Case@EXAMPLE.dk' COLLATE "tr-TR-x-icu", 'regress_ident_news') AS turkish;
SELECT value FROM privacy.consent_state WHERE purpose = 'regress_ident_news' ORDER BY value;

-- Clean up
SELECT privacy.unrequire_consent('regress_ident.newsletter', 'email', 'regress_ident_news');
SELECT privacy.unregister_table('regress_ident.newsletter');
DROP SCHEMA regress_ident CASCADE;
DELETE FROM privacy.legal_hold WHERE reason = 'case 1';
DELETE FROM privacy.restriction;
DELETE FROM privacy.consent_state WHERE purpose = 'regress_ident_news';
