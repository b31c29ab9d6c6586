-- Finding personal data that is not declared: by Danish and Nordic column
-- names, and by content (a bounded sample of each table, read as its
-- owner), with the share of sampled values that matched.
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_privacy;
RESET client_min_messages;

CREATE SCHEMA regress_disc;

-- Danish and Nordic names; "created_by" and "status" are not personal
-- names (nor is their content, while the table is empty).
CREATE TABLE regress_disc.kunde (
  kundenummer text, fornavn text, efternavn text, adresse text, postnr text, bynavn text,
  tlf text, mobilnummer text, e_post text, cpr_nr text, foedselsdato date, kontonummer text,
  firma text, orgnr text, henkilotunnus text, created_by text, status text);
SELECT column_name, suggested_category, found_by
  FROM privacy.undeclared_columns
 WHERE table_name = 'regress_disc.kunde'::regclass
 ORDER BY column_name;

-- Content, whatever the name: phone numbers, e-mail addresses, CPR and
-- other Nordic identity numbers, IBANs, in plain columns, free text and
-- JSON.  A column of words is not listed; a declared column is not.
CREATE TABLE regress_disc.misc (
  id int, a text, b varchar(200), c jsonb, d text, e text, f text, g text, h text);
INSERT INTO regress_disc.misc
SELECT i,
       '+45 20 12 34 ' || lpad(i::text, 2, '0'),                     -- a: phone numbers
       'customer ' || i || ' wrote from k' || i || '@example.dk',    -- b: free text with addresses
       jsonb_build_object('note', 'call me', 'from', 'p' || i || '@example.com'),  -- c: JSON
       CASE WHEN i % 2 = 0 THEN '0101' || lpad(i::text, 2, '0') || '-1234' ELSE 'n/a' END,  -- d: half CPR
       'DK50 0040 0440 1162 ' || lpad(i::text, 2, '0'),              -- e: IBANs
       CASE i % 3 WHEN 0 THEN 'red' WHEN 1 THEN 'green' ELSE 'blue' END,  -- f: words
       CASE WHEN i = 1 THEN 'ring 20 30 40 50 efter kl. 16' ELSE 'intet' END,  -- g: one of 20
       NULL                                                           -- h: empty
  FROM generate_series(1, 20) i;
SELECT privacy.define_purpose('regress_disc_p', 'contract');
SELECT privacy.register_table('regress_disc.misc', 'regress_disc_p');
SELECT privacy.register_column('regress_disc.misc', 'b', 'free_text');
SELECT column_name, suggested_category, found_by, matched_share, sampled
  FROM privacy.undeclared_columns
 WHERE table_name = 'regress_disc.misc'::regclass
 ORDER BY column_name;

-- Name and content together, and a name pattern a DBA adds.
INSERT INTO regress_disc.kunde (tlf, e_post, status) VALUES ('+4520123456', 'ann@example.dk', 'x@example.dk');
INSERT INTO privacy.name_pattern (pattern, category) VALUES ('(^|_)status$', 'other');
SELECT column_name, suggested_category, found_by, matched_share, sampled
  FROM privacy.undeclared_columns
 WHERE table_name = 'regress_disc.kunde'::regclass AND column_name IN ('tlf', 'e_post', 'status')
 ORDER BY column_name;
DELETE FROM privacy.name_pattern WHERE pattern = '(^|_)status$';

-- The sample is bounded: the first sample_rows rows of each table.
SELECT column_name, sampled
  FROM privacy_internal._undeclared_by_content(5)
 WHERE table_name = 'regress_disc.misc'::regclass
 ORDER BY column_name;
SELECT count(*) FROM privacy_internal._undeclared_by_content(0);
SELECT count(*) FROM privacy_internal._undeclared_by_content(NULL);

-- Only built-in text and JSON types are read: a column of the owner's
-- domain is not cast (its code is the owner's), whatever it holds.
CREATE DOMAIN regress_disc.tag AS text;
CREATE TABLE regress_disc.tagged (t regress_disc.tag);
INSERT INTO regress_disc.tagged VALUES ('+4520123456'), ('bo@example.dk');
SELECT count(*) AS listed FROM privacy.undeclared_columns WHERE table_name = 'regress_disc.tagged'::regclass;

-- A table's owner: her row-level security policy runs as herself when the
-- sample is read (never as the superuser reading the report), and a
-- policy that fails leaves her table out of the report, not the report
-- broken.
CREATE ROLE regress_disc_owner;
GRANT USAGE, CREATE ON SCHEMA regress_disc TO regress_disc_owner;
SET ROLE regress_disc_owner;
CREATE TABLE regress_disc.seen (who name, sec boolean);
CREATE FUNCTION regress_disc.note_reader() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO regress_disc.seen VALUES (current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user));
  RETURN true;
END $$;
CREATE TABLE regress_disc.watched (x text);
INSERT INTO regress_disc.watched VALUES ('eve@example.dk');
ALTER TABLE regress_disc.watched ENABLE ROW LEVEL SECURITY;
ALTER TABLE regress_disc.watched FORCE ROW LEVEL SECURITY;
CREATE POLICY p ON regress_disc.watched USING (regress_disc.note_reader());
CREATE FUNCTION regress_disc.fail() RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'no sample for you';
END $$;
CREATE TABLE regress_disc.broken (x text);
INSERT INTO regress_disc.broken VALUES ('mal@example.dk');
ALTER TABLE regress_disc.broken ENABLE ROW LEVEL SECURITY;
ALTER TABLE regress_disc.broken FORCE ROW LEVEL SECURITY;
CREATE POLICY p ON regress_disc.broken USING (regress_disc.fail());
RESET ROLE;
SELECT table_name, column_name, found_by, matched_share
  FROM privacy.undeclared_columns
 WHERE table_name IN ('regress_disc.watched'::regclass, 'regress_disc.broken'::regclass)
 ORDER BY 1, 2;
SELECT DISTINCT who, sec FROM regress_disc.seen;

-- health() counts the columns found by name only (it reads no table).
SELECT status,
       (pg_catalog.regexp_match(detail, '\((\d+)\)'))[1]::int = (SELECT count(*) FROM privacy_internal._undeclared_by_name) AS by_name_only
  FROM privacy.health() WHERE area = 'undeclared columns';

-- Not for PUBLIC.
CREATE ROLE regress_disc_nobody;
SET ROLE regress_disc_nobody;
SELECT count(*) FROM privacy.undeclared_columns;
SELECT count(*) FROM privacy_internal._undeclared_by_content();
RESET ROLE;

-- Clean up
SET client_min_messages = warning;
SELECT privacy.unregister_table('regress_disc.misc');
DROP SCHEMA regress_disc CASCADE;
DROP ROLE regress_disc_owner;
DROP ROLE regress_disc_nobody;
SELECT privacy.drop_purpose('regress_disc_p');
RESET client_min_messages;
