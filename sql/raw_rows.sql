-- Rows the protection cannot vouch for.
--
-- A column declared protected holds pseudonyms only when every row was
-- written through the protect trigger.  Rows a table held before
-- privacy.protect(), or wrote while it had no protect trigger (never
-- protected, or unprotected since), may hold raw values, and for
-- msisdn_fpe a raw number cannot be told from a pseudonym.  What must not
-- happen: an erasure or export that silently misses them, a consent
-- withdrawal that deletes some of a subject's rows, a purge that deletes a
-- held row, an update of a restricted subject's raw row let through, a
-- protect() that leaves them raw without being told to.
\set VERBOSITY terse
SET client_min_messages = warning;

CREATE SCHEMA regress_raw;
SELECT privacy.define_purpose('regress_raw_care', 'contract');
SELECT privacy.define_purpose('regress_raw_news', 'consent', requires_consent => true);
-- declared protected, never protected: its rows are raw
CREATE TABLE regress_raw.calls (id int PRIMARY KEY, msisdn text, at timestamptz NOT NULL);
SELECT privacy.register_table('regress_raw.calls', 'regress_raw_care');
SELECT privacy.register_column('regress_raw.calls', 'msisdn', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
INSERT INTO regress_raw.calls VALUES
  (1, '+4520000001', now() - interval '3 years'),
  (2, '20 00 00 02', now() - interval '3 years'),
  (3, '+4520000001', now());

-- 1. The search for a data subject refuses the table (55000), whichever
-- way it is reached, and nothing is erased.
SELECT privacy.export_subject('msisdn', '+4520000001');
SELECT * FROM privacy.erase_subject('msisdn', '+4520000001');
SELECT * FROM privacy.erase_subject('msisdn', '+4520000001', dry_run => true);
SELECT privacy.restrict_subject('msisdn', '+4520000001', 'regress_raw');
SELECT count(*) AS rows_left FROM regress_raw.calls;
-- a search that does not reach the table is not refused
SELECT jsonb_array_length(privacy.export_subject('email', 'nobody@example.dk')->'tables') AS tables_found;

-- 2. A legal hold keeps the raw rows of a held number from the purge (its
-- normal form is compared: '20 00 00 02' is +4520000002).
SELECT privacy.set_retention('regress_raw.calls', 'at', '1 year');
SELECT privacy.hold('msisdn', '+4520000002', 'regress_raw: dispute') > 0 AS held;
SELECT table_name, action, rows FROM privacy.purge(false, 'regress_raw.calls');
SELECT id FROM regress_raw.calls ORDER BY id;

-- 3. A consent withdrawal whose cascade would delete from the table is
-- refused whole: the consent stays granted, the row stays.
CREATE TABLE regress_raw.sms (msisdn text, note text);
SELECT privacy.register_table('regress_raw.sms', 'regress_raw_news');
SELECT privacy.register_column('regress_raw.sms', 'msisdn', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.grant_consent('msisdn', '+4520000005', 'regress_raw_news', 'web') > 0 AS granted;
SELECT privacy.require_consent('regress_raw.sms', 'msisdn', 'regress_raw_news', on_withdraw => 'delete');
INSERT INTO regress_raw.sms VALUES ('+4520000005', 'raw, before protection');
SELECT privacy.withdraw_consent('msisdn', '+4520000005', 'regress_raw_news');
SELECT privacy.has_consent('msisdn', '+4520000005', 'regress_raw_news') AS still_granted;
SELECT count(*) AS sms_rows FROM regress_raw.sms;
-- converted, the withdrawal deletes the row
SELECT privacy.protect('regress_raw.sms', rewrite_existing => true);
SELECT privacy.withdraw_consent('msisdn', '+4520000005', 'regress_raw_news') > 0 AS withdrawn;
SELECT count(*) AS sms_rows FROM regress_raw.sms;

-- 4. protect() on a table that holds rows wants a choice: without one it
-- refuses (55000) and leaves the table unprotected; rewrite_existing =>
-- false leaves them, with a warning and an audit entry that says so.
SELECT privacy.protect('regress_raw.calls');
SELECT privacy_internal._has_protect_trigger('regress_raw.calls') AS protected;
SET client_min_messages = warning;
SELECT privacy.protect('regress_raw.calls', rewrite_existing => false);
SELECT detail->>'rows_left_raw' AS rows_left_raw, detail->>'rows_rewritten' AS rows_rewritten
  FROM privacy.audit_log WHERE event = 'protect.on' AND object = 'regress_raw.calls' ORDER BY id DESC LIMIT 1;
-- an empty table needs no choice
CREATE TABLE regress_raw.empty (msisdn text);
SELECT privacy.register_table('regress_raw.empty', 'regress_raw_care');
SELECT privacy.register_column('regress_raw.empty', 'msisdn', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.protect('regress_raw.empty');
-- nor does one protected already
SELECT privacy.protect('regress_raw.empty');

-- 4b. The conversion skips the consent and restriction checks (it
-- changes no subject, and they would read its raw values as pseudonyms):
-- a trigger of the table that changes the row on its way is refused, and
-- nothing is converted.
CREATE TABLE regress_raw.ride (msisdn text, note text);
SELECT privacy.register_table('regress_raw.ride', 'regress_raw_care');
SELECT privacy.register_column('regress_raw.ride', 'msisdn', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
INSERT INTO regress_raw.ride VALUES ('+4520000006', 'raw');
CREATE FUNCTION regress_raw.ride() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN NEW.msisdn := '+4520000007'; RETURN NEW; END$$;
CREATE TRIGGER ride BEFORE UPDATE ON regress_raw.ride FOR EACH ROW EXECUTE FUNCTION regress_raw.ride();
SELECT privacy.protect('regress_raw.ride', rewrite_existing => true);
SELECT msisdn, privacy_internal._has_protect_trigger('regress_raw.ride') AS protected FROM regress_raw.ride;
DROP TRIGGER ride ON regress_raw.ride;
SELECT privacy.protect('regress_raw.ride', rewrite_existing => true);
SELECT privacy.reidentify_msisdn(msisdn) AS converted FROM regress_raw.ride;

-- 5. A restricted subject's raw row (left by rewrite_existing => false) is
-- refused to an UPDATE like her pseudonymized rows are.
INSERT INTO regress_raw.calls VALUES (4, '+4520000003', now());
SELECT privacy.restrict_subject('msisdn', '+4520000001', 'regress_raw');
UPDATE regress_raw.calls SET at = at WHERE id = 3;
UPDATE regress_raw.calls SET at = at WHERE id = 4;
SELECT privacy.unrestrict_subject('msisdn', '+4520000001');

-- 5b. A column declared protected on a protected table that holds values
-- in it would keep them raw: refused; a column without values is not.
ALTER TABLE regress_raw.calls ADD COLUMN other text, ADD COLUMN spare text;
UPDATE regress_raw.calls SET other = '+4520000009' WHERE id = 4;
SELECT privacy.register_column('regress_raw.calls', 'other', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.register_column('regress_raw.calls', 'spare', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT col, protect FROM privacy.registered_column WHERE tbl = 'regress_raw.calls'::regclass ORDER BY attnum;

-- 6. Protection switched off by a superuser (the trigger disabled): rows
-- written meanwhile are raw; the export and the restriction refuse too,
-- as the erasure did already.
SET client_min_messages = error;
ALTER TABLE regress_raw.empty DISABLE TRIGGER zz_pg_privacy_protect;
SET client_min_messages = warning;
INSERT INTO regress_raw.empty VALUES ('+4520000008');
SELECT privacy.export_subject('msisdn', '+4520000008');
SELECT privacy.restrict_subject('msisdn', '+4520000008', 'regress_raw');
SET client_min_messages = error;
ALTER TABLE regress_raw.empty ENABLE TRIGGER zz_pg_privacy_protect;
SET client_min_messages = warning;
DELETE FROM regress_raw.empty;
SELECT jsonb_array_length(privacy.export_subject('msisdn', '+4520000008')->'tables') AS tables_found;

-- 7. Unprotected again: refused again.
SELECT privacy.unprotect('regress_raw.calls');
SELECT * FROM privacy.erase_subject('msisdn', '+4520000003');
SELECT count(*) AS rows_left FROM regress_raw.calls;

-- clean up
SELECT privacy.release_hold(id) FROM privacy.legal_hold WHERE reason = 'regress_raw: dispute';
SELECT privacy.unrequire_consent('regress_raw.sms', 'msisdn', 'regress_raw_news');
SELECT privacy.unprotect(t) FROM unnest('{regress_raw.sms,regress_raw.empty,regress_raw.ride}'::regclass[]) t;
SELECT privacy.drop_retention('regress_raw.calls');
SELECT privacy.unregister_table(t) FROM unnest('{regress_raw.calls,regress_raw.sms,regress_raw.empty,regress_raw.ride}'::regclass[]) t;
DROP SCHEMA regress_raw CASCADE;
ALTER TABLE privacy.consent_event DISABLE TRIGGER consent_event_append_only;
DELETE FROM privacy.consent_event WHERE purpose = 'regress_raw_news';
ALTER TABLE privacy.consent_event ENABLE TRIGGER consent_event_append_only;
DELETE FROM privacy.consent_state WHERE purpose = 'regress_raw_news';
SELECT privacy.drop_purpose(p) FROM unnest(ARRAY['regress_raw_care', 'regress_raw_news']) p;
