-- Data-subject rights against hostile table owners.  Two ordinary roles own
-- registered tables; one of them plants code in her table's types (a cast
-- to json, a cast to text, a domain CHECK, an operator, a trigger) that
-- makes her a superuser when it runs as one.  A superuser (the privacy
-- officer) exports, erases and restricts her subjects: the planted code
-- runs as her or not at all, she stays an ordinary role, and export and
-- erasure still give the right results across tables of different owners.
-- Also: identifier columns of other types are refused at declaration and
-- at use, and every C function of these parts takes NULLs without harm.
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_privacy;
RESET client_min_messages;
SET TimeZone = 'Europe/Copenhagen';

CREATE ROLE regress_own_eve;
CREATE ROLE regress_own_bob;
CREATE SCHEMA regress_own_e AUTHORIZATION regress_own_eve;
CREATE SCHEMA regress_own_b AUTHORIZATION regress_own_bob;
SELECT privacy.define_purpose('regress_own_service', 'contract');

-- Eve's trap: whoever runs it as a superuser makes her one; it logs the
-- role it ran as.
SET ROLE regress_own_eve;
CREATE TABLE regress_own_e.ran_as (fn text, role name);
CREATE FUNCTION regress_own_e.trap(fn text) RETURNS boolean
  LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO regress_own_e.ran_as VALUES (fn, current_user);
  IF (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = current_user) THEN
    EXECUTE 'ALTER ROLE regress_own_eve SUPERUSER';
  END IF;
  RETURN true;
END
$$;
CREATE TYPE regress_own_e.mood AS ENUM ('happy', 'sad');
CREATE FUNCTION regress_own_e.mood_json(m regress_own_e.mood) RETURNS json
  LANGUAGE sql AS $$ SELECT pg_catalog.to_json(m::text || CASE WHEN regress_own_e.trap('json') THEN '' END) $$;
CREATE FUNCTION regress_own_e.mood_text(m regress_own_e.mood) RETURNS text
  LANGUAGE sql AS $$ SELECT pg_catalog.enum_out(m)::text || CASE WHEN regress_own_e.trap('text') THEN '' END $$;
CREATE FUNCTION regress_own_e.mood_jsonb(m regress_own_e.mood) RETURNS jsonb
  LANGUAGE sql AS $$ SELECT pg_catalog.to_jsonb(pg_catalog.enum_out(m)::text || CASE WHEN regress_own_e.trap('jsonb') THEN '' END) $$;
RESET ROLE;
-- Casts need the type's owner (a superuser only for the text cast here,
-- as in a database where she may create them).
CREATE CAST (regress_own_e.mood AS json) WITH FUNCTION regress_own_e.mood_json(regress_own_e.mood);
CREATE CAST (regress_own_e.mood AS jsonb) WITH FUNCTION regress_own_e.mood_jsonb(regress_own_e.mood);
CREATE CAST (regress_own_e.mood AS text) WITH FUNCTION regress_own_e.mood_text(regress_own_e.mood);
SET ROLE regress_own_eve;
CREATE DOMAIN regress_own_e.cust AS bigint CHECK (regress_own_e.trap('domain'));
-- Her own = on (bigint, text), in her schema: reached only by a search_path
-- that includes it.
CREATE FUNCTION regress_own_e.eq(bigint, text) RETURNS boolean
  LANGUAGE sql AS $$ SELECT regress_own_e.trap('operator') AND $1::text = $2 $$;
CREATE OPERATOR regress_own_e.= (LEFTARG = bigint, RIGHTARG = text, FUNCTION = regress_own_e.eq);
-- Eve's table: her customers, a column of her enum, a trigger of hers on
-- every write, and her search_path pointing at her schema.
CREATE TABLE regress_own_e.customer (
  customer_id bigint PRIMARY KEY,
  email       text NOT NULL,
  mood        regress_own_e.mood NOT NULL,
  phone       text
);
CREATE FUNCTION regress_own_e.on_write() RETURNS trigger
  LANGUAGE plpgsql AS $$
BEGIN
  PERFORM regress_own_e.trap('trigger ' || TG_WHEN || ' ' || TG_OP);
  RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
END
$$;
CREATE TRIGGER a_on_write BEFORE INSERT OR UPDATE OR DELETE ON regress_own_e.customer
  FOR EACH ROW EXECUTE FUNCTION regress_own_e.on_write();
INSERT INTO regress_own_e.customer VALUES
  (1, 'ann@example.dk', 'happy', '+4520000001'),
  (2, 'bob@example.dk', 'sad', '+4520000002');
RESET ROLE;

-- Bob's table: calls of Eve's customers (owner by number, mentions the
-- other party).
SET ROLE regress_own_bob;
CREATE TABLE regress_own_b.calls (
  call_id    int PRIMARY KEY,
  a_number   text NOT NULL,
  b_number   text,
  started_at timestamptz NOT NULL
);
INSERT INTO regress_own_b.calls VALUES
  (1, '+4520000001', '+4520000002', '2025-03-01 10:00'),
  (2, '+4520000002', '+4520000001', '2025-03-02 10:00'),
  (3, '+4520000002', NULL, '2025-03-03 10:00');
RESET ROLE;

SELECT privacy.register_table('regress_own_e.customer', 'regress_own_service');
SELECT privacy.register_column('regress_own_e.customer', 'customer_id', 'customer_number', identifies => 'customer');
SELECT privacy.register_column('regress_own_e.customer', 'email', 'email', identifies => 'email');
SELECT privacy.register_column('regress_own_e.customer', 'phone', 'phone', identifies => 'msisdn');
SELECT privacy.register_column('regress_own_e.customer', 'mood', 'other');
-- a column name made to break generated SQL (a quote, a bar, a control
-- character): quoted wherever it goes
ALTER TABLE regress_own_e.customer ADD COLUMN U&"odd\0001"" |col" text DEFAULT 'x';
SELECT privacy.register_column('regress_own_e.customer', U&'odd\0001" |col', 'other');
SELECT privacy.register_table('regress_own_b.calls', 'regress_own_service');
SELECT privacy.register_column('regress_own_b.calls', 'a_number', 'phone', identifies => 'msisdn');
SELECT privacy.register_column('regress_own_b.calls', 'b_number', 'phone', identifies => 'msisdn', link => 'mention');
SELECT privacy.register_column('regress_own_b.calls', 'started_at', 'traffic');
TRUNCATE regress_own_e.ran_as;
-- The officer's session has her schema first in its search_path (her
-- operator, functions and types are found first there).
SET search_path = regress_own_e, pg_catalog, public;

-- Export: her cast to json runs as her, never as the superuser exporting;
-- the rows are complete and correct.
SELECT t->>'table' AS "table", t->'rows' AS rows, t->'mentions' AS mentions
  FROM jsonb_array_elements(privacy.export_subject('customer', '1')->'tables') t;
SELECT part, section, table_name, data
  FROM privacy.export_subject_chunks('customer', '1') WHERE section IN ('rows', 'mentions');
SELECT DISTINCT fn, role FROM regress_own_e.ran_as ORDER BY 1, 2;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_own_eve';
TRUNCATE regress_own_e.ran_as;

-- Restriction: her own UPDATE fires the restriction trigger; restricted
-- rows are refused, others go through, and nothing of hers runs with
-- more rights than hers.
SELECT privacy.restrict_subject('customer', '1', 'accuracy contested');
SET ROLE regress_own_eve;
UPDATE regress_own_e.customer SET mood = 'sad' WHERE customer_id = 1;
UPDATE regress_own_e.customer SET mood = 'happy' WHERE customer_id = 2;
RESET ROLE;
SET ROLE regress_own_bob;
UPDATE regress_own_b.calls SET started_at = started_at WHERE call_id = 1;
UPDATE regress_own_b.calls SET started_at = started_at WHERE call_id = 3;
RESET ROLE;
SELECT privacy.unrestrict_subject('customer', '1');
SELECT DISTINCT fn, role FROM regress_own_e.ran_as ORDER BY 1, 2;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_own_eve';
TRUNCATE regress_own_e.ran_as;

-- Erasure across tables of two ordinary owners: each statement runs as
-- its table's owner (her trigger sees her own role), the identifiers
-- travel as a parameter, and the mention in Bob's table is scrubbed.
-- A dry run reports the whole erasure or fails: Eve's trigger that fails
-- an assertion (P0004, the SQLSTATE a dry run's own rollback could be
-- taken for) makes it fail, never report an erasure with nothing in it.
SET ROLE regress_own_eve;
CREATE FUNCTION regress_own_e.no_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  ASSERT false, 'eve says no';
  RETURN OLD;
END $$;
CREATE TRIGGER no_delete BEFORE DELETE ON regress_own_e.customer
  FOR EACH ROW EXECUTE FUNCTION regress_own_e.no_delete();
RESET ROLE;
SELECT count(*) AS dry_runs_before FROM privacy.audit_log WHERE event = 'subject.erase_dry_run' \gset
SELECT * FROM privacy.erase_subject('customer', '1', dry_run => true);
SELECT count(*) - :dry_runs_before AS dry_runs_audited FROM privacy.audit_log WHERE event = 'subject.erase_dry_run';
SET ROLE regress_own_eve;
DROP TRIGGER no_delete ON regress_own_e.customer;
DROP FUNCTION regress_own_e.no_delete();
RESET ROLE;
SELECT * FROM privacy.erase_subject('customer', '1', dry_run => true);
SELECT * FROM privacy.erase_subject('customer', '1');
SELECT customer_id, email FROM regress_own_e.customer ORDER BY 1;
SELECT call_id, a_number, b_number FROM regress_own_b.calls ORDER BY 1;
SELECT DISTINCT fn, role FROM regress_own_e.ran_as ORDER BY 1, 2;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_own_eve';
TRUNCATE regress_own_e.ran_as;
RESET search_path;

-- Identifier columns: built-in text and integer types only, at declaration
SELECT privacy.register_column('regress_own_e.customer', 'mood', 'other', identifies => 'customer');
SET ROLE regress_own_eve;
CREATE TABLE regress_own_e.account (id regress_own_e.cust, owner_mood regress_own_e.mood, note text);
INSERT INTO regress_own_e.account VALUES (2, 'sad', 'n');
RESET ROLE;
SELECT privacy.register_table('regress_own_e.account', 'regress_own_service');
SELECT privacy.register_column('regress_own_e.account', 'id', 'customer_number', identifies => 'customer');
SELECT privacy.register_column('regress_own_e.account', 'owner_mood', 'other', identifies => 'customer');
SELECT privacy.register_column('regress_own_e.account', 'note', 'other', identifies => 'customer');
-- ... and at use: the column changed to her domain after it was declared.
-- Export, erasure and restriction refuse (fail closed) before evaluating
-- her domain's CHECK, and catalog_problems shows it.
SET ROLE regress_own_eve;
ALTER TABLE regress_own_e.account ALTER COLUMN note TYPE regress_own_e.cust USING 2;
RESET ROLE;
TRUNCATE regress_own_e.ran_as;
SELECT table_name, column_name, problem FROM privacy.catalog_problems
 WHERE table_name::text LIKE 'regress_own_%' ORDER BY table_name::text, column_name;
SELECT privacy.export_subject('customer', '2');
SELECT * FROM privacy.erase_subject('customer', '2');
SELECT privacy.restrict_subject('customer', '2', 'contested');
SELECT privacy.is_restricted('customer', '2');
SELECT count(*) AS traps_run FROM regress_own_e.ran_as;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_own_eve';
-- Restricted before the change: her UPDATE is refused (fail closed), not
-- checked through her type.
SET ROLE regress_own_eve;
ALTER TABLE regress_own_e.account ALTER COLUMN note TYPE text;
RESET ROLE;
SELECT privacy.restrict_subject('customer', '2', 'contested');
SET ROLE regress_own_eve;
ALTER TABLE regress_own_e.account ALTER COLUMN note TYPE regress_own_e.cust USING 2;
UPDATE regress_own_e.customer SET mood = 'happy' WHERE customer_id = 2;
UPDATE regress_own_e.account SET owner_mood = 'happy';
RESET ROLE;
SELECT DISTINCT fn, role FROM regress_own_e.ran_as ORDER BY 1, 2;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_own_eve';
SELECT privacy.unregister_column('regress_own_e.account', 'note');
SELECT privacy.unrestrict_subject('customer', '2');
-- A time column changed to a type of hers is refused the same way
SELECT privacy.set_subject_table('regress_own_b.calls', event_time => 'started_at');
ALTER TABLE regress_own_b.calls ALTER COLUMN started_at TYPE text;
SELECT privacy.export_subject('msisdn', '+4520000002');
ALTER TABLE regress_own_b.calls ALTER COLUMN started_at TYPE timestamptz USING started_at::timestamptz;
SELECT jsonb_array_length(privacy.export_subject('msisdn', '+4520000002')->'tables') AS tables;


-- Rows kept by a legal hold or a legal minimum are counted as each table's
-- owner too (Bob's calls, Eve's customer), and the report is right.
SELECT privacy.hold('customer', '2', 'regress_own litigation', now() + interval '30 days') AS hold_id \gset
SELECT table_name, action, rows, kept_until > now() AS until_ok FROM privacy.erase_subject('customer', '2') ORDER BY table_name::text, action;
SELECT privacy.release_hold(:hold_id);
SELECT privacy.set_retention('regress_own_b.calls', 'started_at', interval '30 years', keep_at_least => interval '25 years');
SELECT table_name, action, rows, kept_until > now() AS until_ok
  FROM privacy.erase_subject('customer', '2', dry_run => true) ORDER BY table_name::text, action;
DELETE FROM privacy.restriction;
-- An erasure that fails half-way (a mention it cannot scrub), caught by
-- its caller, leaves nothing behind: the restriction trigger, which lets
-- an erasure's own statements through, refuses restricted rows again.
UPDATE regress_own_b.calls SET b_number = '+4520000002' WHERE b_number IS NULL;
ALTER TABLE regress_own_b.calls ALTER COLUMN b_number SET NOT NULL;
SELECT privacy.restrict_subject('customer', '2', 'contested');
BEGIN;
DO $$
BEGIN
  PERFORM * FROM privacy.erase_subject('customer', '2');
EXCEPTION WHEN object_not_in_prerequisite_state THEN
  RAISE NOTICE 'erasure failed: %', SQLERRM;
END
$$;
SET ROLE regress_own_bob;
UPDATE regress_own_b.calls SET started_at = started_at WHERE call_id = 2;
ROLLBACK;
ALTER TABLE regress_own_b.calls ALTER COLUMN b_number DROP NOT NULL;
SELECT DISTINCT fn, role FROM regress_own_e.ran_as ORDER BY 1, 2;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_own_eve';
DELETE FROM privacy.restriction;
TRUNCATE regress_own_e.ran_as;

-- Consent: a subject column of a built-in type only, at declaration and at
-- each use (the trigger on her writes, the withdrawal's cascade)
SELECT privacy.define_purpose('regress_own_news', 'consent');
SET ROLE regress_own_eve;
CREATE DOMAIN regress_own_e.mail AS text CHECK (regress_own_e.trap('mail'));
CREATE TABLE regress_own_e.news (id int, who text, m regress_own_e.mood);
RESET ROLE;
SELECT privacy.require_consent('regress_own_e.news', 'm', 'regress_own_news', kind => 'customer');
SELECT privacy.require_consent('regress_own_e.news', 'who', 'regress_own_news', 'delete', kind => 'email');
SELECT privacy.grant_consent('email', 'ann@example.dk', 'regress_own_news') > 0 AS granted;
SET ROLE regress_own_eve;
INSERT INTO regress_own_e.news VALUES (1, 'ann@example.dk', 'happy');
ALTER TABLE regress_own_e.news ALTER COLUMN who TYPE regress_own_e.mail;
INSERT INTO regress_own_e.news VALUES (2, 'ann@example.dk', 'sad');
RESET ROLE;
TRUNCATE regress_own_e.ran_as;
SELECT privacy.withdraw_consent('email', 'ann@example.dk', 'regress_own_news');
SELECT count(*) AS traps_run FROM regress_own_e.ran_as;
SET ROLE regress_own_eve;
ALTER TABLE regress_own_e.news ALTER COLUMN who TYPE text;
RESET ROLE;
SELECT privacy.withdraw_consent('email', 'ann@example.dk', 'regress_own_news') > 0 AS withdrawn;
SELECT count(*) AS rows_left FROM regress_own_e.news;
SELECT rolsuper FROM pg_roles WHERE rolname = 'regress_own_eve';

-- Internal helpers stay internal: the owners have no EXECUTE on them
SET ROLE regress_own_eve;
SELECT privacy_internal._subject_query('regress_own_e.customer', 'SELECT NULL::jsonb', '{}');
SELECT * FROM privacy_internal._subject_rows('regress_own_e.customer', 'SELECT NULL::jsonb', '{}');
SELECT privacy_internal._subject_exec('regress_own_e.customer', 'DELETE FROM regress_own_e.customer', '{}');
RESET ROLE;

-- No crash on NULL: every C function of the subject and consent parts
SELECT privacy_internal._subject_query(NULL, NULL, NULL) IS NULL AS q,
       privacy_internal._subject_query('regress_own_e.customer', NULL, '{}') IS NULL AS q2,
       privacy_internal._subject_exec(NULL, NULL, NULL) IS NULL AS e,
       privacy_internal._subject_key(NULL, NULL, NULL) IS NULL AS k,
       privacy_internal._subject_key('msisdn', NULL, 'DK') IS NULL AS k2,
       privacy_internal._subject_cache_get(NULL) IS NULL AS g,
       privacy_internal._subject_cache_put(NULL, NULL) IS NULL AS p,
       privacy_internal._subject_cache_put('k', NULL) IS NULL AS p2,
       privacy_internal._subject_set_erasing(NULL) IS NULL AS s,
       privacy_internal._subject_erasing() AS erasing,
       privacy.lookup_value(NULL, NULL, NULL) IS NULL AS n,
       privacy.lookup_value(NULL, 'x', 'DK') IS NULL AS ik,
       privacy_internal._consent_delete(NULL, NULL, NULL, NULL) IS NULL AS d,
       privacy_internal._consent_delete('regress_own_e.customer', 'email', 'equal', NULL) IS NULL AS d2,
       privacy_internal._consent_forget_identities(NULL, NULL) IS NULL AS f,
       privacy.has_consent('email', NULL, 'regress_own_service') IS NULL AS h;
SELECT count(*) FROM privacy_internal._subject_rows(NULL, NULL, NULL);
SELECT privacy.has_consent(NULL, 'a@b.dk', NULL);
SELECT privacy_internal._consent_changed();
SELECT privacy_internal._subject_cols() IS NOT NULL AS cols;
SELECT privacy_internal._raise_hidden(NULL, NULL);
SELECT privacy_internal._raise_hidden('no', 'message');
SELECT privacy_internal._raise_hidden('55000', 'message', NULL, 'hint');
SELECT privacy_internal._consent_trigger();
SELECT privacy_internal._consent_append_only();
SELECT privacy_internal._restrict_trigger();

DROP SCHEMA regress_own_e CASCADE;
DROP SCHEMA regress_own_b CASCADE;
DELETE FROM privacy.restriction;
DELETE FROM privacy.legal_hold WHERE reason = 'regress_own litigation';
ALTER TABLE privacy.consent_event DISABLE TRIGGER consent_event_append_only;
DELETE FROM privacy.consent_event WHERE purpose = 'regress_own_news';
ALTER TABLE privacy.consent_event ENABLE TRIGGER consent_event_append_only;
DELETE FROM privacy.consent_state WHERE purpose = 'regress_own_news';
SELECT privacy.drop_purpose('regress_own_news');
DELETE FROM privacy.purpose WHERE name = 'regress_own_service';
DROP ROLE regress_own_eve;
DROP ROLE regress_own_bob;
