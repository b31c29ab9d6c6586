-- Consent: the append-only register, has_consent now and at a past moment,
-- identifier normalization, bad input, privileges, the require_consent
-- trigger (INSERT, UPDATE, COPY, partitions, protected columns) and the
-- withdrawal cascade.
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_privacy;
RESET client_min_messages;
-- this test's own audit entries are those after this point
SELECT coalesce(max(id), 0) AS audit_start FROM privacy.audit_log \gset
SET TimeZone = 'UTC';

CREATE SCHEMA regress_consent;
SELECT privacy.define_purpose('regress_newsletter', 'consent', description => 'newsletter');
SELECT privacy.define_purpose('regress_sms', 'consent', recipients => ARRAY['sms gateway']);
SELECT privacy.define_purpose('regress_billing', 'contract');
SELECT count(*) AS events_before FROM privacy.consent_event \gset

-- Grants: one subject whatever way the identifier is typed
SELECT privacy.grant_consent('msisdn', '+45 20 12 34 56', 'regress_sms', 'web form', 'sms-1',
                             at => '2026-01-10 10:00+00') > 0 AS granted;
SELECT privacy.has_consent('msisdn', '004520123456', 'regress_sms') AS same_subject,
       privacy.has_consent('msisdn', '20123456', 'regress_sms') AS national_form,
       privacy.has_consent('msisdn', '+4520123457', 'regress_sms') AS other_number,
       privacy.has_consent('msisdn', '+4520123456', 'regress_newsletter') AS other_purpose;
SELECT privacy.grant_consent('email', '  Ann.Hansen@Example.DK ', 'regress_newsletter', 'web form', 'nl-2026-01',
                             at => '2026-01-15 09:00+00') > 0 AS granted;
SELECT privacy.has_consent('email', 'ann.hansen@example.dk', 'regress_newsletter') AS lower_case,
       privacy.has_consent('email', 'ANN.HANSEN@EXAMPLE.DK', 'regress_newsletter') AS upper_case;
SELECT kind, value, purpose, event, source, notice_version, subject_ref LIKE 'ref:%' AS keyed_ref
  FROM privacy.consent_event ORDER BY id OFFSET :events_before;

-- History: withdraw, grant again; has_consent answers for past moments
SELECT privacy.withdraw_consent('msisdn', '+4520123456', 'regress_sms', 'SMS STOP',
                                at => '2026-03-01 12:00+00') > 0 AS withdrawn;
SELECT privacy.grant_consent('msisdn', '0045 2012 3456', 'regress_sms', 'customer service', 'sms-2',
                             at => '2026-05-01 08:00+00') > 0 AS granted_again;
SELECT t, privacy.has_consent('msisdn', '+4520123456', 'regress_sms', t) AS consent
  FROM unnest(ARRAY['2026-01-01 00:00+00', '2026-01-10 10:00+00', '2026-02-15 00:00+00',
                    '2026-03-01 12:00+00', '2026-04-30 23:59+00', '2026-05-01 08:00+00']::timestamptz[]) t;
SELECT purpose, event, at, source, notice_version, actor
  FROM privacy.consent_history('msisdn', '+45 20123456');
SELECT count(*) AS no_history FROM privacy.consent_history('msisdn', '+4599999999');

-- Withdrawing twice changes nothing and returns the withdrawal in force
SELECT privacy.withdraw_consent('email', 'ann.hansen@example.dk', 'regress_newsletter', 'unsubscribe link',
                                at => '2026-02-01 10:00+00') AS first_withdrawal \gset
SELECT privacy.withdraw_consent('email', 'Ann.Hansen@example.dk', 'regress_newsletter') = :first_withdrawal
       AS same_event;
SELECT privacy.has_consent('email', 'ann.hansen@example.dk', 'regress_newsletter') AS after_withdrawal;

-- The receipt (Kantara Consent Receipt fields, ISO/IEC TS 27560 events)
SELECT r->'piiPrincipalId' AS principal, r->>'version' AS version,
       r->>'consentReceiptID' ~ '^[0-9a-f-]{36}$' AS has_id,
       jsonb_array_length(r->'consents') AS consents
  FROM privacy.consent_receipt('msisdn', '20 12 34 56') r;
SELECT c->>'purpose' AS purpose, c->>'state' AS state, c->>'legalBasisArticle' AS article,
       c->'thirdPartyName' AS recipients,
       jsonb_path_query_array(c, '$.events[*].eventType') AS events,
       jsonb_path_query_array(c, '$.events[*].noticeVersion') AS notices
  FROM privacy.consent_receipt('msisdn', '+4520123456') r, jsonb_array_elements(r->'consents') c;
SELECT privacy.consent_receipt('email', 'nobody@example.dk')->'consents' AS no_consents;

-- Bad input: a clear error, nothing recorded
SELECT count(*) AS events_now FROM privacy.consent_event \gset
SELECT privacy.grant_consent(NULL, 'ann@example.dk', 'regress_newsletter');
SELECT privacy.grant_consent('email', NULL, 'regress_newsletter');
SELECT privacy.grant_consent('email', 'ann@example.dk', NULL);
SELECT privacy.grant_consent('fax', '12345678', 'regress_newsletter');
SELECT privacy.grant_consent('email', 'ann@example.dk', 'regress_nope');
SELECT privacy.grant_consent('email', 'ann@example.dk', 'regress_billing');
SELECT privacy.grant_consent('msisdn', 'call me', 'regress_sms');
SELECT privacy.grant_consent('msisdn', '+999 1234', 'regress_sms');
SELECT privacy.grant_consent('email', '   ', 'regress_newsletter');
SELECT privacy.grant_consent('email', 'bob@example.dk', 'regress_newsletter', at => now() + interval '1 day');
SELECT privacy.grant_consent('msisdn', '+4520123456', 'regress_sms', at => '2026-04-01 00:00+00');
SELECT privacy.withdraw_consent('email', 'never@example.dk', 'regress_newsletter');
SELECT privacy.withdraw_consent('email', 'ann@example.dk', 'regress_billing');
SELECT privacy.withdraw_consent(NULL, 'ann@example.dk', 'regress_newsletter');
SELECT privacy.has_consent(NULL, 'ann@example.dk', 'regress_newsletter');
SELECT privacy.has_consent('email', 'ann@example.dk', NULL);
SELECT privacy.has_consent('email', NULL, 'regress_newsletter') IS NULL AS null_value_gives_null;
SELECT privacy.has_consent('fax', '1', 'regress_newsletter');
SELECT privacy.has_consent('email', 'ann@example.dk', 'regress_nope');
SELECT privacy.has_consent('email', 'ann@example.dk', 'regress_billing');
SELECT privacy.has_consent('msisdn', 'call me', 'regress_sms');
SELECT privacy.consent_history(NULL, 'x');
SELECT privacy.consent_history('fax', 'x');
SELECT privacy.consent_receipt('fax', 'x');
SELECT count(*) - :events_now AS recorded_by_errors FROM privacy.consent_event;

-- The register is append-only, for its owner too
UPDATE privacy.consent_event SET source = 'forged';
DELETE FROM privacy.consent_event;
TRUNCATE privacy.consent_event;

-- Privileges: nothing for PUBLIC; has_consent once granted
CREATE ROLE regress_consent_app;
CREATE ROLE regress_consent_owner;
GRANT USAGE, CREATE ON SCHEMA regress_consent TO regress_consent_owner;
SET ROLE regress_consent_app;
SELECT privacy.has_consent('msisdn', '+4520123456', 'regress_sms');
SELECT privacy.grant_consent('msisdn', '+4520123456', 'regress_sms');
SELECT privacy.withdraw_consent('msisdn', '+4520123456', 'regress_sms');
SELECT * FROM privacy.consent_history('msisdn', '+4520123456');
SELECT privacy.consent_receipt('msisdn', '+4520123456');
SELECT count(*) FROM privacy.consent_event;
SELECT count(*) FROM privacy.consent_state;
SELECT privacy_internal._consent_forget_identities('{msisdn}', '{+4520123456}');
RESET ROLE;
GRANT EXECUTE ON FUNCTION privacy.has_consent(text, text, text, timestamptz) TO regress_consent_app;
SET ROLE regress_consent_app;
SELECT privacy.has_consent('msisdn', '+4520123456', 'regress_sms') AS app_may_ask;
RESET ROLE;

-- require_consent: bad input
CREATE TABLE regress_consent.newsletter (id int PRIMARY KEY, email text, note text);
CREATE VIEW regress_consent.v AS SELECT 1 AS email;
CREATE TABLE regress_consent.parted (id int, msisdn text) PARTITION BY RANGE (id);
CREATE TABLE regress_consent.parted_1 PARTITION OF regress_consent.parted FOR VALUES FROM (0) TO (100);
CREATE TABLE regress_consent.parted_2 (msisdn text, id int);
ALTER TABLE regress_consent.parted ATTACH PARTITION regress_consent.parted_2 FOR VALUES FROM (100) TO (200);
SELECT privacy.require_consent(NULL, 'email', 'regress_newsletter');
SELECT privacy.require_consent('regress_consent.newsletter', 'email', 'regress_newsletter', on_withdraw => NULL);
SELECT privacy.require_consent('regress_consent.v', 'email', 'regress_newsletter');
SELECT privacy.require_consent('regress_consent.parted_1', 'msisdn', 'regress_sms', kind => 'msisdn');
SELECT privacy.require_consent('regress_consent.newsletter', 'mail', 'regress_newsletter', kind => 'email');
SELECT privacy.require_consent('regress_consent.newsletter', 'email', 'regress_nope', kind => 'email');
SELECT privacy.require_consent('regress_consent.newsletter', 'email', 'regress_billing', kind => 'email');
SELECT privacy.require_consent('regress_consent.newsletter', 'email', 'regress_newsletter', 'erase', kind => 'email');
SELECT privacy.require_consent('regress_consent.newsletter', 'email', 'regress_newsletter');
SELECT privacy.require_consent('regress_consent.newsletter', 'email', 'regress_newsletter', kind => 'fax');
SELECT privacy.register_table('regress_consent.newsletter', 'regress_newsletter');
SELECT privacy.register_column('regress_consent.newsletter', 'email', 'email', identifies => 'email');
SELECT privacy.require_consent('regress_consent.newsletter', 'email', 'regress_newsletter', kind => 'msisdn');
SET ROLE regress_consent_owner;
SELECT privacy.require_consent('regress_consent.newsletter', 'email', 'regress_newsletter');
RESET ROLE;
GRANT EXECUTE ON FUNCTION privacy.require_consent(regclass, name, text, text, text) TO regress_consent_owner;
SET ROLE regress_consent_owner;
SELECT privacy.require_consent('regress_consent.newsletter', 'email', 'regress_newsletter');
RESET ROLE;
SELECT count(*) AS requirements FROM privacy.consent_requirement
 WHERE tbl::text LIKE 'regress_consent.%';

-- Enforcement: the kind comes from the catalog; refusals name the purpose only
SELECT privacy.require_consent('regress_consent.newsletter', 'email', 'regress_newsletter', 'delete');
SELECT table_name, subject_column, kind, purpose, on_withdraw, enforced, required_by
  FROM privacy.consent_requirements WHERE table_name = 'regress_consent.newsletter'::regclass;
SELECT privacy.grant_consent('email', 'bob@example.dk', 'regress_newsletter', 'trade fair', 'nl-2026-01') > 0 AS bob;
INSERT INTO regress_consent.newsletter VALUES (1, 'Bob@Example.dk', 'typed');
INSERT INTO regress_consent.newsletter VALUES (2, ' bob@example.dk', 'again');
INSERT INTO regress_consent.newsletter VALUES (3, 'ann.hansen@example.dk', 'withdrawn');
INSERT INTO regress_consent.newsletter VALUES (4, 'carl@example.dk', 'never');
INSERT INTO regress_consent.newsletter VALUES (5, NULL, 'nobody');
DO $$
DECLARE
  msg text; detail text; state text;
BEGIN
  INSERT INTO regress_consent.newsletter VALUES (6, 'carl@example.dk', 'never');
EXCEPTION WHEN insufficient_privilege THEN
  GET STACKED DIAGNOSTICS msg = MESSAGE_TEXT, detail = PG_EXCEPTION_DETAIL, state = RETURNED_SQLSTATE;
  RAISE NOTICE 'SQLSTATE %: %', state, msg;
  RAISE NOTICE 'detail: %', detail;
  RAISE NOTICE 'names the subject: %', (msg || detail) ILIKE '%carl%';
END
$$;
-- COPY: all rows or none
COPY regress_consent.newsletter (id, email, note) FROM stdin;
10	bob@example.dk	copy
11	BOB@EXAMPLE.DK	copy
\.
COPY regress_consent.newsletter (id, email, note) FROM stdin;
12	bob@example.dk	copy
13	carl@example.dk	copy
\.
SELECT id, email, note FROM regress_consent.newsletter ORDER BY id;
-- UPDATE: to a subject without consent is refused; other columns are fine
UPDATE regress_consent.newsletter SET email = 'carl@example.dk' WHERE id = 1;
UPDATE regress_consent.newsletter SET note = 'updated' WHERE id = 1;
-- A requirement written by hand reaches the consent trigger in this
-- session too: a row that declares a table drops the table's state.
BEGIN;
INSERT INTO privacy.consent_requirement (tbl, col, purpose, kind, on_withdraw, required_by)
VALUES ('regress_consent.newsletter', 'email', 'regress_sms', 'email', 'keep', current_user);
INSERT INTO regress_consent.newsletter VALUES (40, 'bob@example.dk', 'now needs sms consent too');
ROLLBACK;
-- In one transaction: a grant counts at once, a withdrawal too
BEGIN;
SELECT privacy.grant_consent('email', 'carl@example.dk', 'regress_newsletter', 'sales call', 'nl-2026-01') > 0 AS carl;
INSERT INTO regress_consent.newsletter VALUES (20, 'carl@example.dk', 'same transaction');
SELECT privacy.withdraw_consent('email', 'carl@example.dk', 'regress_newsletter', 'sales call') > 0 AS carl_withdrew;
SELECT count(*) AS carl_rows_left FROM regress_consent.newsletter WHERE email = 'carl@example.dk';
INSERT INTO regress_consent.newsletter VALUES (21, 'carl@example.dk', 'after withdrawal');
ROLLBACK;

-- Withdrawal with on_withdraw => 'delete': every spelling of the subject goes
SELECT privacy.withdraw_consent('email', 'BOB@example.dk', 'regress_newsletter', 'unsubscribe link') > 0 AS bob_withdrew;
SELECT id, email, note FROM regress_consent.newsletter ORDER BY id;
INSERT INTO regress_consent.newsletter VALUES (30, 'bob@example.dk', 'after withdrawal');
SELECT event, object, detail->'deleted' AS deleted, detail ? 'subject' AS has_subject_ref
  FROM privacy.audit_log WHERE event = 'consent.withdraw_cascade' ORDER BY id DESC LIMIT 1;

-- on_withdraw => 'keep': rows stay, but nothing more is written for the subject
SELECT privacy.require_consent('regress_consent.parted', 'msisdn', 'regress_sms', kind => 'msisdn');
INSERT INTO regress_consent.parted VALUES (1, '+45 20 12 34 56'), (150, '20123456');
SELECT tableoid::regclass AS partition, id, msisdn FROM regress_consent.parted ORDER BY id;
INSERT INTO regress_consent.parted VALUES (2, '+4520999999');
INSERT INTO regress_consent.parted VALUES (151, '+4520999999');
SELECT privacy.withdraw_consent('msisdn', '+4520123456', 'regress_sms', 'SMS STOP') > 0 AS withdrew;
SELECT count(*) AS kept_rows FROM regress_consent.parted;
UPDATE regress_consent.parted SET id = 3 WHERE id = 1;
INSERT INTO regress_consent.parted VALUES (4, '004520123456');
-- Changing the requirement is audited
SELECT privacy.require_consent('regress_consent.parted', 'msisdn', 'regress_sms', 'delete', kind => 'msisdn');
SELECT event, detail->>'previous_on_withdraw' AS previous FROM privacy.audit_log
 WHERE object = 'regress_consent.parted' ORDER BY id DESC LIMIT 1;

-- A protected column: the trigger sees the raw number, the cascade finds
-- the stored pseudonym; an unchanged pseudonym on UPDATE is decrypted
CREATE TABLE regress_consent.sms (id int, msisdn text, body text);
SELECT privacy.register_table('regress_consent.sms', 'regress_sms');
SELECT privacy.register_column('regress_consent.sms', 'msisdn', 'phone', identifies => 'msisdn', protect => 'msisdn_fpe');
SELECT privacy.protect('regress_consent.sms');
SELECT privacy.require_consent('regress_consent.sms', 'msisdn', 'regress_sms', 'delete');
SELECT privacy.grant_consent('msisdn', '+4530111111', 'regress_sms', 'web form', 'sms-2') > 0 AS granted;
INSERT INTO regress_consent.sms VALUES (1, '30 11 11 11', 'hello'), (2, '+4530111111', 'again');
INSERT INTO regress_consent.sms VALUES (3, '+4520123456', 'withdrawn');
SELECT id, msisdn = privacy.pseudonymize_msisdn('+4530111111') AS stored_as_pseudonym FROM regress_consent.sms ORDER BY id;
UPDATE regress_consent.sms SET body = 'edited' WHERE id = 1;
SELECT privacy.withdraw_consent('msisdn', '+4530111111', 'regress_sms') > 0 AS withdrew;
SELECT count(*) AS sms_left FROM regress_consent.sms;
-- One-way protection cannot be checked on UPDATE: refused up front
CREATE TABLE regress_consent.hashed (email text);
SELECT privacy.register_table('regress_consent.hashed', 'regress_newsletter');
SELECT privacy.register_column('regress_consent.hashed', 'email', 'email', identifies => 'email', protect => 'email_pseudonym');
SELECT privacy.require_consent('regress_consent.hashed', 'email', 'regress_newsletter');

-- Identifier kinds of other types: a bigint customer number
CREATE TABLE regress_consent.offers (customer_id bigint, offer text);
SELECT privacy.require_consent('regress_consent.offers', 'customer_id', 'regress_newsletter', 'delete', kind => 'customer');
SELECT privacy.grant_consent('customer', '1042', 'regress_newsletter', 'crm', 'nl-2026-01') > 0 AS granted;
INSERT INTO regress_consent.offers VALUES (1042, 'spring'), (1042, 'summer');
INSERT INTO regress_consent.offers VALUES (1043, 'spring');
SELECT privacy.withdraw_consent('customer', '1042', 'regress_newsletter') > 0 AS withdrew;
SELECT count(*) AS offers_left FROM regress_consent.offers;

-- The cascade deletes as the table's owner, not as the extension owner
CREATE TABLE regress_consent.owned (email text);
ALTER TABLE regress_consent.owned OWNER TO regress_consent_owner;
CREATE TABLE regress_consent.deleted_by (who name);
ALTER TABLE regress_consent.deleted_by OWNER TO regress_consent_owner;
CREATE FUNCTION regress_consent.note_deleter() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO regress_consent.deleted_by VALUES (current_user);
  RETURN OLD;
END
$$;
ALTER FUNCTION regress_consent.note_deleter() OWNER TO regress_consent_owner;
CREATE TRIGGER note_deleter BEFORE DELETE ON regress_consent.owned
  FOR EACH ROW EXECUTE FUNCTION regress_consent.note_deleter();
SELECT privacy.require_consent('regress_consent.owned', 'email', 'regress_newsletter', 'delete', kind => 'email');
SELECT privacy.grant_consent('email', 'dora@example.dk', 'regress_newsletter', 'web form', 'nl-2026-06') > 0 AS granted;
SET ROLE regress_consent_owner;
INSERT INTO regress_consent.owned VALUES ('dora@example.dk');
RESET ROLE;
SELECT privacy.withdraw_consent('email', 'dora@example.dk', 'regress_newsletter') > 0 AS withdrew;
SELECT who FROM regress_consent.deleted_by;

-- unrequire_consent drops the trigger with the last requirement
SELECT privacy.unrequire_consent('regress_consent.offers', 'customer_id', 'regress_newsletter');
SELECT privacy.unrequire_consent('regress_consent.offers', 'customer_id', 'regress_newsletter');
INSERT INTO regress_consent.offers VALUES (1043, 'now allowed');
SELECT count(*) AS offers_triggers FROM pg_trigger WHERE tgrelid = 'regress_consent.offers'::regclass;

-- The erasure hook: the identifier goes, the proof stays
SELECT privacy.grant_consent('email', 'erin@example.dk', 'regress_newsletter', 'web form', 'nl-2026-06',
                             at => '2026-06-01 00:00+00') > 0 AS granted;
SELECT privacy_internal._consent_forget_identities('{email}', '{" ERIN@example.dk"}') AS events_forgotten;
SELECT count(*) AS raw_left FROM privacy.consent_event WHERE value = 'erin@example.dk';
SELECT privacy.has_consent('email', 'erin@example.dk', 'regress_newsletter') AS now,
       privacy.has_consent('email', 'erin@example.dk', 'regress_newsletter', '2026-07-01') AS then;
SELECT purpose, event, at, notice_version FROM privacy.consent_history('email', 'erin@example.dk');
-- all of a subject's identifiers at once: each in its normal form, the same
-- identifier given twice in two forms forgotten once, a NULL skipped
SELECT privacy.grant_consent('email', 'ida@example.dk', 'regress_newsletter', 'web form', 'nl-2026-06',
                             at => '2026-06-02 00:00+00') > 0 AS granted_mail,
       privacy.grant_consent('msisdn', '+4520999111', 'regress_sms', 'web form', 'sms-1',
                             at => '2026-06-02 00:00+00') > 0 AS granted_number;
SELECT privacy_internal._consent_forget_identities('{email,email,msisdn,msisdn}',
                                                   '{ida@example.dk," IDA@Example.DK",20999111,NULL}') AS events_forgotten;
SELECT count(*) AS raw_left FROM privacy.consent_event WHERE value IN ('ida@example.dk', '+4520999111');
SELECT count(*) AS state_left FROM privacy.consent_state WHERE value IN ('ida@example.dk', '+4520999111');
SELECT count(*) AS proof_kept FROM privacy.consent_event
 WHERE subject_ref IN (privacy_internal._audit_ref('email', 'ida@example.dk'), privacy_internal._audit_ref('msisdn', '+4520999111'));
-- (and only the hook may touch the register)
UPDATE privacy.consent_event SET value = NULL WHERE value = 'bob@example.dk';

-- Fail closed: a requirement the trigger can no longer check refuses writes
CREATE TABLE regress_consent.later (email text, note text);
SELECT privacy.require_consent('regress_consent.later', 'email', 'regress_newsletter', kind => 'email');
SELECT privacy.grant_consent('email', 'fay@example.dk', 'regress_newsletter', 'web form', 'nl-2026-06') > 0 AS granted;
INSERT INTO regress_consent.later VALUES ('fay@example.dk', 'checked');
-- (a renamed column is followed: the requirement moves with it)
ALTER TABLE regress_consent.later RENAME COLUMN email TO mail;
INSERT INTO regress_consent.later VALUES ('fay@example.dk', 'renamed column');
INSERT INTO regress_consent.later VALUES ('gus@example.dk', 'renamed column, no consent');
ALTER TABLE regress_consent.later RENAME COLUMN mail TO email;
-- (a dropped column is not: the requirement stays and refuses every write)
CREATE TABLE regress_consent.later2 (email text, note text);
SELECT privacy.require_consent('regress_consent.later2', 'email', 'regress_newsletter', kind => 'email');
ALTER TABLE regress_consent.later2 DROP COLUMN email;
INSERT INTO regress_consent.later2 (note) VALUES ('dropped column');
SELECT col FROM privacy.consent_requirement WHERE tbl = 'regress_consent.later2'::regclass;
SELECT * FROM privacy.catalog_problems WHERE table_name = 'regress_consent.later2'::regclass;
DROP TABLE regress_consent.later2;
SELECT privacy.register_table('regress_consent.later', 'regress_newsletter');
SELECT privacy.register_column('regress_consent.later', 'email', 'email', identifies => 'email', protect => 'email_pseudonym');
SELECT privacy.protect('regress_consent.later', rewrite_existing => false);
INSERT INTO regress_consent.later VALUES ('fay@example.dk', 'one-way protection added later');
SELECT note FROM regress_consent.later;
-- The trigger function only works as the BEFORE row trigger it is made for
CREATE TABLE regress_consent.misfire (email text);
CREATE TRIGGER after_insert AFTER INSERT ON regress_consent.misfire
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._consent_trigger();
INSERT INTO regress_consent.misfire VALUES ('fay@example.dk');
SELECT privacy_internal._consent_trigger();
-- Identifiers of kinds compared as text must not be empty; the internal
-- normalizers say what they cannot do
SELECT privacy.grant_consent('customer', '', 'regress_newsletter');
SELECT privacy_internal._identifier_normalize('fax', 'x');
SELECT privacy.lookup_value('msisdn', 'call me', 'DK') IS NULL AS no_key,
       privacy.lookup_value('email', E' Fay@Example.DK\t', 'DK') AS email_key,
       privacy.lookup_value('msisdn', '0045 20 12 34 56', 'DK') AS msisdn_key;

-- has_consent keeps its index scan open for the rest of a query: errors,
-- savepoints, exception blocks, holdable cursors and changing snapshots
-- leave nothing behind (a leak would show as a WARNING here)
CREATE TABLE regress_consent.q AS
  SELECT CASE WHEN g % 3 = 0 THEN '+4520123456' WHEN g % 3 = 1 THEN '+4530111111' ELSE '+45 40 40 40 40' END AS msisdn
    FROM generate_series(1, 300) g;
SELECT privacy.grant_consent('msisdn', '+4540404040', 'regress_sms', 'web form', 'sms-2') > 0 AS granted;
SELECT count(*) FILTER (WHERE privacy.has_consent('msisdn', msisdn, 'regress_sms')) AS now,
       count(*) FILTER (WHERE privacy.has_consent('msisdn', msisdn, 'regress_sms', '2026-02-01')) AS in_february
  FROM regress_consent.q;
SELECT count(*) FILTER (WHERE privacy.has_consent('msisdn', m, 'regress_sms'))
  FROM (SELECT msisdn AS m FROM regress_consent.q UNION ALL SELECT 'not a number') s;
BEGIN;
SELECT count(*) FILTER (WHERE privacy.has_consent('msisdn', msisdn, 'regress_sms')) FROM regress_consent.q;
SAVEPOINT s;
SELECT count(*) FILTER (WHERE privacy.has_consent('msisdn', msisdn, 'regress_sms')) FROM regress_consent.q;
SELECT privacy.has_consent('msisdn', 'not a number', 'regress_sms');
ROLLBACK TO SAVEPOINT s;
SELECT privacy.withdraw_consent('msisdn', '+4540404040', 'regress_sms') > 0 AS withdrawn;
SELECT count(*) FILTER (WHERE privacy.has_consent('msisdn', msisdn, 'regress_sms')) AS after_withdrawal
  FROM regress_consent.q;
ROLLBACK;
DO $$
DECLARE
  r record;
  yes int := 0;
  failed int := 0;
BEGIN
  FOR r IN SELECT msisdn, row_number() OVER () AS n FROM regress_consent.q LOOP
    BEGIN
      IF privacy.has_consent('msisdn', CASE WHEN r.n % 100 = 0 THEN 'bad' ELSE r.msisdn END, 'regress_sms') THEN
        yes := yes + 1;
      END IF;
      IF privacy.has_consent('msisdn', r.msisdn, 'regress_sms', '2026-02-01') THEN
        yes := yes + 0;
      END IF;
    EXCEPTION WHEN invalid_text_representation THEN
      failed := failed + 1;
    END;
  END LOOP;
  RAISE NOTICE 'consenting %, refused values %', yes, failed;
END
$$;
BEGIN;
DECLARE c CURSOR WITH HOLD FOR
  SELECT msisdn, privacy.has_consent('msisdn', msisdn, 'regress_sms') FROM regress_consent.q LIMIT 3;
FETCH 1 FROM c;
COMMIT;
FETCH 2 FROM c;
CLOSE c;

-- The audit log refers to subjects only by keyed references
SELECT event, count(*) FROM privacy.audit_log
 WHERE event LIKE 'consent.%' AND id > :audit_start GROUP BY event ORDER BY event;
SELECT count(*) AS raw_identifiers_in_audit FROM privacy.audit_log
 WHERE id > :audit_start
   AND detail::text ~* '(example\.dk|\m(\+?45)?20123456\M|\m(\+?45)?30111111\M|\m1042\M)';
SELECT privacy.verify_audit_log() AS first_bad_entry;

-- A batch of calls in one transaction starts no subtransaction per call
-- (the API functions have no exception handler of their own; the
-- entry-point hook keeps a failing call's statement out of the log): it
-- takes one transaction id, not one per call.  (With one per call, a
-- large batch would overflow every other session's snapshot with
-- subtransactions, and burn transaction ids.)
SELECT txid_current() AS xid_before \gset
BEGIN;
SELECT count(privacy.grant_consent('msisdn', '+4520' || (100000 + i)::text, 'regress_sms', 'batch', 'n-1'))
       AS granted
  FROM generate_series(1, 40) i;
SELECT count(*) AS history_events
  FROM generate_series(1, 40) i, privacy.consent_history('msisdn', '+4520' || (100000 + i)::text) h;
SELECT count(privacy.withdraw_consent('msisdn', '+4520' || (100000 + i)::text, 'regress_sms', 'batch'))
       AS withdrawn
  FROM generate_series(1, 40) i;
SELECT count(privacy.export_subject('msisdn', '+4520' || (100000 + i)::text)) AS exported,
       count(privacy.is_restricted('msisdn', '+4520' || (100000 + i)::text)) AS checked
  FROM generate_series(1, 10) i;
SELECT count(*) AS erasure_report_rows
  FROM generate_series(1, 10) i, privacy.erase_subject('msisdn', '+4520' || (100000 + i)::text) e;
COMMIT;
SELECT txid_current() - :xid_before < 10 AS no_transaction_id_per_call;
SELECT privacy.verify_audit_log() AS first_bad_entry;

-- Clean up.  The register cannot be emptied through SQL; a superuser
-- disabling its trigger can (and is the only one who can).
DROP SCHEMA regress_consent CASCADE;
SELECT count(*) AS requirements_left FROM privacy.consent_requirement;
ALTER TABLE privacy.consent_event DISABLE TRIGGER consent_event_append_only;
DELETE FROM privacy.consent_event WHERE purpose LIKE 'regress_%';
ALTER TABLE privacy.consent_event ENABLE TRIGGER consent_event_append_only;
DELETE FROM privacy.consent_state WHERE purpose LIKE 'regress_%';
SELECT privacy.drop_purpose(p) FROM unnest(ARRAY['regress_newsletter', 'regress_sms', 'regress_billing']) p;
REVOKE ALL ON FUNCTION privacy.has_consent(text, text, text, timestamptz) FROM regress_consent_app;
REVOKE ALL ON FUNCTION privacy.require_consent(regclass, name, text, text, text) FROM regress_consent_owner;
DROP ROLE regress_consent_app;
DROP ROLE regress_consent_owner;
