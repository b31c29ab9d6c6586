-- Safe analytics against a hostile publisher, a hostile table owner and an
-- analyst: no forged register entries, nothing but counts and sums of
-- non-identifying columns, groups counted in people, no plan over the
-- source for the reader, and extracts that survive a malformed number.
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_privacy;
RESET client_min_messages;

CREATE ROLE regress_att_pub;        -- an analyst the DBA lets publish
CREATE ROLE regress_att_bi;         -- a BI reader
CREATE ROLE regress_att_owner;      -- a table owner who is not to be trusted
CREATE ROLE regress_att_nobody;     -- any login role
CREATE SCHEMA regress_att;
GRANT USAGE ON SCHEMA regress_att TO regress_att_pub, regress_att_bi, regress_att_owner, regress_att_nobody;
GRANT CREATE ON SCHEMA regress_att TO regress_att_pub, regress_att_owner;
GRANT EXECUTE ON FUNCTION privacy.create_safe_aggregate(text, text, integer, name, boolean, name),
                          privacy.create_pseudonymized_extract(text, regclass, text, text, name)
   TO regress_att_pub, regress_att_owner;
GRANT EXECUTE ON FUNCTION privacy.pseudonymize(text, text), privacy.pseudonymize_msisdn(text, text, text)
   TO regress_att_pub;
-- an extract produces pseudonyms of its domain: the publisher needs it
SELECT privacy.grant_domain('regress_att_analytics', 'regress_att_pub');
SELECT privacy.grant_domain('default', 'regress_att_pub');
SELECT privacy.define_purpose('regress_att_traffic', 'legal_obligation');

-- DK: 50 calls of ONE subscriber; SE: 12 calls of 12 subscribers; NO: 3.
CREATE TABLE regress_att.calls (id int, msisdn text, b_number text, email text, country text,
                                started_at timestamptz, duration int, customer_no text);
INSERT INTO regress_att.calls
SELECT i, '+4520123400', '+4530000000', 'one@example.dk', 'DK', timestamptz '2026-03-01 00:00+01' + i * interval '1 hour', 60, 'C1'
  FROM generate_series(1, 50) i;
INSERT INTO regress_att.calls
SELECT 50 + i, '+46701234' || lpad(i::text, 3, '0'), '+4530000000', NULL, 'SE', timestamptz '2026-03-02 00:00+01', 100, 'C' || (i + 1)
  FROM generate_series(1, 12) i;
INSERT INTO regress_att.calls
SELECT 62 + i, '+4740123' || lpad(i::text, 3, '0'), '+4530000000', NULL, 'NO', timestamptz '2026-03-03 00:00+01', 30, NULL
  FROM generate_series(1, 3) i;
SELECT privacy.register_table('regress_att.calls', 'regress_att_traffic');
SELECT privacy.register_column('regress_att.calls', 'msisdn', 'phone', identifies => 'msisdn');
SELECT privacy.register_column('regress_att.calls', 'b_number', 'phone', identifies => 'msisdn', link => 'mention');
SELECT privacy.register_column('regress_att.calls', 'email', 'email', identifies => 'email');
SELECT privacy.register_column('regress_att.calls', 'country', 'location');
SELECT privacy.register_column('regress_att.calls', 'started_at', 'traffic');
SELECT privacy.register_column('regress_att.calls', 'duration', 'traffic');
GRANT SELECT ON regress_att.calls TO regress_att_pub;

------------------------------------------------------------------------
-- 1. The register cannot be forged
------------------------------------------------------------------------
-- No volatile SECURITY DEFINER function of the extension is executable by
-- PUBLIC, and none of the analytics internals is.
SELECT p.oid::regprocedure AS public_volatile_definer
  FROM pg_proc p
 WHERE p.pronamespace IN ('privacy'::regnamespace, 'privacy_internal'::regnamespace) AND p.prosecdef AND p.provolatile = 'v'
   AND has_function_privilege('public', p.oid, 'EXECUTE');
SELECT p.oid::regprocedure AS internal, has_function_privilege('regress_att_pub', p.oid, 'EXECUTE') AS publisher_may
  FROM pg_proc p
 WHERE p.pronamespace = 'privacy_internal'::regnamespace
   AND p.proname IN ('_publish', '_analyze_grouped_query', '_grouped_query_def',
                     '_check_publishable', '_check_publish_schema', '_qualified_name')
 ORDER BY p.oid::regprocedure::text COLLATE "C";
SELECT count(*) AS record_published_left FROM pg_proc
 WHERE pronamespace IN ('privacy'::regnamespace, 'privacy_internal'::regnamespace) AND proname = '_record_published';
SET ROLE regress_att_nobody;
-- what 0.1.0 let anyone do: append an arbitrary entry to the register and audit log
SELECT privacy_internal._publish(ARRAY['regress_att', 'forged'], 'x int', 'SELECT 1', 'safe_aggregate',
                        repeat('x', 100000), 2, false, NULL, NULL, NULL, 'postgres', 'c', '{}');
INSERT INTO privacy.published (view_name, kind, source, created_by) VALUES ('pg_class', 'safe_aggregate', 'x', 'postgres');
RESET ROLE;
-- A publisher's own view is not recorded by anything it can call either.
SET ROLE regress_att_pub;
CREATE VIEW regress_att.raw_numbers AS SELECT msisdn FROM regress_att.calls;
SELECT privacy_internal._publish(ARRAY['regress_att', 'raw2'], 'msisdn text', 'SELECT msisdn FROM regress_att.calls', 'safe_aggregate',
                        'x', 2, false, NULL, NULL, NULL, 'regress_att_pub', 'c', '{}');
-- The publisher publishes for real: the view and its row function belong
-- to the extension owner, the rows are computed with the publisher's rights.
SELECT privacy.create_safe_aggregate('regress_att.by_country',
  'SELECT country, count(*) AS n, sum(duration) AS seconds FROM regress_att.calls GROUP BY country', 10,
  grant_to => 'regress_att_bi');
-- ... and cannot swap what it published for raw rows afterwards
CREATE OR REPLACE FUNCTION regress_att.by_country_rows()
  RETURNS TABLE(country text, n bigint, seconds bigint) LANGUAGE sql
  AS 'SELECT msisdn, 1::bigint, 1::bigint FROM regress_att.calls';
CREATE OR REPLACE VIEW regress_att.by_country AS SELECT msisdn AS country, 1::bigint AS n, 1::bigint AS seconds FROM regress_att.calls;
ALTER VIEW regress_att.by_country RENAME TO by_country2;
RESET ROLE;
-- a reader without the grant cannot call the row function
SET ROLE regress_att_nobody;
SELECT * FROM regress_att.by_country_rows();
RESET ROLE;
SELECT pg_get_userbyid(c.relowner) = current_user AS view_owned_by_extension_owner,
       pg_get_userbyid(p.proowner) = current_user AS function_owned_by_extension_owner,
       p.prosecdef AS definer
  FROM pg_class c, pg_proc p
 WHERE c.oid = 'regress_att.by_country'::regclass AND p.oid = 'regress_att.by_country_rows()'::regprocedure;
SELECT view_name, kind, min_group, created_by FROM privacy.published WHERE view_name::text LIKE 'regress_att.%';
SELECT event, object, role, detail FROM privacy.audit_log
 WHERE event LIKE 'analytics.%' AND object LIKE 'regress_att.%' ORDER BY id;
-- No right of the publisher's, no rows: its SELECT revoked, the view fails.
REVOKE SELECT ON regress_att.calls FROM regress_att_pub;
SELECT * FROM regress_att.by_country ORDER BY country;
GRANT SELECT ON regress_att.calls TO regress_att_pub;
SELECT * FROM regress_att.by_country ORDER BY country;
-- Only its publisher (or the schema's owner) takes it back.
SELECT privacy.create_safe_aggregate('regress_att.dba_view',
  'SELECT country, count(*) AS n FROM regress_att.calls GROUP BY country', 10);
GRANT EXECUTE ON FUNCTION privacy.unpublish(regclass) TO regress_att_pub;
SET ROLE regress_att_pub;
SELECT privacy.unpublish('regress_att.dba_view');
SELECT privacy.unpublish('regress_att.calls');
SELECT privacy.create_safe_aggregate('regress_att.mine',
  'SELECT country, count(*) AS n FROM regress_att.calls GROUP BY country', 10);
SELECT privacy.unpublish('regress_att.mine');
SELECT count(*) AS mine_left FROM pg_class WHERE relname IN ('mine', 'mine_rows');
SELECT count(*) AS mine_rows_left FROM pg_proc WHERE proname = 'mine_rows';
RESET ROLE;
SELECT event, object, role FROM privacy.audit_log
 WHERE event = 'analytics.unpublished' AND object LIKE 'regress_att.%' ORDER BY id;
SELECT privacy.unpublish('regress_att.dba_view');
SELECT privacy.unpublish(NULL);
-- A table owner's code running during a superuser's maintenance (here
-- REFRESH MATERIALIZED VIEW, as her, in a security-restricted operation)
-- cannot publish in the superuser's name.
GRANT EXECUTE ON FUNCTION privacy.create_safe_aggregate(text, text, integer, name, boolean, name),
                          privacy.unpublish(regclass) TO regress_att_nobody;
GRANT CREATE ON SCHEMA regress_att TO regress_att_nobody;
SET ROLE regress_att_nobody;
CREATE FUNCTION regress_att.sneak() RETURNS int LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('regress_att.armed', true) = 'on' THEN
    PERFORM privacy.create_safe_aggregate('regress_att.sneaked',
      'SELECT country, count(*) AS n FROM regress_att.calls GROUP BY country', 2, grant_to => 'regress_att_nobody');
  END IF;
  RETURN 1;
END $$;
CREATE MATERIALIZED VIEW regress_att.innocent AS SELECT regress_att.sneak() AS one;
RESET ROLE;
SET regress_att.armed = on;
REFRESH MATERIALIZED VIEW regress_att.innocent;
RESET regress_att.armed;
SELECT count(*) AS sneaked FROM privacy.published WHERE view_name::text = 'regress_att.sneaked';
-- The publisher needs CREATE on the schema, as for any view of its own.
SET ROLE regress_att_pub;
SELECT privacy.create_safe_aggregate('public.by_country',
  'SELECT country, count(*) AS n FROM regress_att.calls GROUP BY country', 10);
SELECT privacy.create_safe_aggregate('no_such_schema.by_country',
  'SELECT country, count(*) AS n FROM regress_att.calls GROUP BY country', 10);
RESET ROLE;

------------------------------------------------------------------------
-- 2. Only counts and sums of non-identifying columns, grouped by them
------------------------------------------------------------------------
-- every refusal with its SQLSTATE
CREATE FUNCTION pg_temp.refusal(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE q;
  RETURN 'accepted';
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
SET ROLE regress_att_pub;
-- aggregates that publish one person's values
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.x', 'SELECT country, count(*) AS n, array_agg(msisdn) AS who FROM regress_att.calls GROUP BY country', 10)$q$);
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.x', 'SELECT country, count(*) AS n, string_agg(email, '','') AS who FROM regress_att.calls GROUP BY country', 10)$q$);
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.x', 'SELECT country, count(*) AS n, array_agg(duration) AS d FROM regress_att.calls GROUP BY country', 10)$q$);
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.x', 'SELECT country, count(*) AS n, min(duration) AS shortest FROM regress_att.calls GROUP BY country', 10)$q$);
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.x', 'SELECT country, count(*) AS n, max(started_at) AS last_call FROM regress_att.calls GROUP BY country', 10)$q$);
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.x', 'SELECT country, count(*) AS n, json_agg(duration) AS d FROM regress_att.calls GROUP BY country', 10)$q$);
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.x', 'SELECT country, count(*) AS n FROM regress_att.calls GROUP BY country HAVING max(duration) > 0', 10)$q$);
-- identifiers and personal columns, wherever they appear
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.x', 'SELECT msisdn, count(*) AS n FROM regress_att.calls GROUP BY msisdn', 10)$q$);
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.x', 'SELECT count(*) AS n FROM regress_att.calls GROUP BY email', 10)$q$);
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.x', 'SELECT b_number, count(*) AS n FROM regress_att.calls GROUP BY b_number', 10)$q$);
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.x', 'SELECT substr(msisdn, 1, 11) AS m, count(*) AS n FROM regress_att.calls GROUP BY 1', 10)$q$);
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.x', 'SELECT country, count(*) AS n FROM regress_att.calls WHERE msisdn = ''+4520123400'' GROUP BY country', 10)$q$);
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.x', 'SELECT country, count(*) AS n, sum(length(msisdn)) AS s FROM regress_att.calls GROUP BY country', 10)$q$);
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.x', 'SELECT country, count(*) AS n, count(calls) AS c FROM regress_att.calls GROUP BY country', 10)$q$);
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.x', 'SELECT ctid, count(*) AS n FROM regress_att.calls GROUP BY ctid', 10)$q$);
-- an undeclared column whose name looks personal must be declared first
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.x', 'SELECT customer_no, count(*) AS n FROM regress_att.calls GROUP BY customer_no', 10)$q$);
-- subqueries that list numbers, and other sources than tables
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.x', 'SELECT country, count(*) AS n, (SELECT string_agg(msisdn, '','') FROM regress_att.calls) AS all_numbers FROM regress_att.calls GROUP BY country', 10)$q$);
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.x', 'SELECT country, count(*) AS n FROM regress_att.calls WHERE id IN (SELECT id FROM regress_att.calls WHERE msisdn LIKE ''+45%'') GROUP BY country', 10)$q$);
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.x', 'SELECT m AS country, count(*) AS n FROM (SELECT msisdn AS m FROM regress_att.calls) s GROUP BY m', 10)$q$);
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.x', 'WITH s AS (SELECT msisdn FROM regress_att.calls) SELECT count(*) AS n FROM s GROUP BY msisdn', 10)$q$);
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.x', 'SELECT v AS country, count(*) AS n FROM (VALUES (''+4520123400'')) t(v) GROUP BY v', 10)$q$);
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.x', 'SELECT msisdn AS country, count(*) AS n FROM regress_att.raw_numbers GROUP BY msisdn', 10)$q$);
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.x', 'SELECT country, count(*) AS n, generate_series(1, 2) AS g FROM regress_att.calls GROUP BY country', 10)$q$);
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.x', 'SELECT country, count(*) AS n, sum(random())::int AS r FROM regress_att.calls GROUP BY country', 10)$q$);
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.x', 'SELECT country, count(*) AS n FROM regress_att.calls TABLESAMPLE SYSTEM (50) GROUP BY country', 10)$q$);
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.x', 'SELECT country, count(*) AS n FROM regress_att.calls GROUP BY country ORDER BY n OFFSET 1 LIMIT 1', 10)$q$);
SELECT count(*) AS nothing_created FROM pg_class WHERE relname IN ('x', 'x_rows') AND relnamespace = 'regress_att'::regnamespace;
-- still allowed: counts and sums of traffic and location data, grouped by them
SELECT privacy.create_safe_aggregate('regress_att.by_day',
  'SELECT country, date_trunc(''day'', started_at)::date AS day, count(*) AS n, count(duration) AS calls_with_duration,
          sum(duration) AS seconds, round(sum(duration) / 60.0) AS minutes
     FROM regress_att.calls WHERE started_at >= ''2026-01-01'' AND duration > 0 GROUP BY 1, 2', 10);
RESET ROLE;

-- A table owner's code never runs in a published query: her functions,
-- operators, types and views are refused, also for a superuser publisher.
SET ROLE regress_att_owner;
CREATE FUNCTION regress_att.pwn(text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  IF (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) THEN
    EXECUTE 'ALTER ROLE regress_att_owner SUPERUSER';
  END IF;
  RETURN true;
END $$;
CREATE DOMAIN regress_att.cc AS text CHECK (regress_att.pwn(VALUE));
CREATE FUNCTION regress_att.eq(text, text) RETURNS boolean LANGUAGE sql AS 'SELECT regress_att.pwn($1) AND $1 = $2';
CREATE OPERATOR regress_att.=== (LEFTARG = text, RIGHTARG = text, FUNCTION = regress_att.eq);
CREATE TABLE regress_att.her (country regress_att.cc, region text, duration int);
INSERT INTO regress_att.her SELECT 'DK', 'r' || (i % 2), i FROM generate_series(1, 30) i;
CREATE VIEW regress_att.her_view AS SELECT region, duration FROM regress_att.her WHERE regress_att.pwn(region);
GRANT SELECT ON regress_att.her, regress_att.her_view TO PUBLIC;
RESET ROLE;
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.y', 'SELECT country, count(*) AS n FROM regress_att.her GROUP BY country', 5)$q$);
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.y', 'SELECT region, count(*) AS n FROM regress_att.her WHERE regress_att.pwn(region) GROUP BY region', 5)$q$);
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.y', 'SELECT region, count(*) AS n FROM regress_att.her WHERE region OPERATOR(regress_att.===) ''r1'' GROUP BY region', 5)$q$);
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.y', 'SELECT region, count(*) AS n FROM regress_att.her GROUP BY region ORDER BY region USING OPERATOR(regress_att.===)', 5)$q$);
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.y', 'SELECT region, count(*) AS n FROM regress_att.her_view GROUP BY region', 5)$q$);
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.y', 'SELECT region, count(*) AS n, sum(duration::regress_att.cc::text::int) AS s FROM regress_att.her GROUP BY region', 5)$q$);
-- her row-level security policies, or her partition key, would run with
-- the publisher's rights when the rows are computed: refused
SET ROLE regress_att_owner;
CREATE TABLE regress_att.her_rls (region text, duration int);
INSERT INTO regress_att.her_rls SELECT 'r' || (i % 2), i FROM generate_series(1, 30) i;
ALTER TABLE regress_att.her_rls ENABLE ROW LEVEL SECURITY;
CREATE POLICY everything ON regress_att.her_rls USING (regress_att.pwn(region));
GRANT SELECT ON regress_att.her_rls TO PUBLIC;
CREATE FUNCTION regress_att.part_of(t text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS 'BEGIN RETURN t; END';
CREATE TABLE regress_att.her_parted (region text, duration int) PARTITION BY LIST (regress_att.part_of(region));
CREATE TABLE regress_att.her_parted_0 PARTITION OF regress_att.her_parted FOR VALUES IN ('r0');
GRANT SELECT ON regress_att.her_parted TO PUBLIC;
RESET ROLE;
SET ROLE regress_att_pub;
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.y', 'SELECT region, count(*) AS n FROM regress_att.her_rls GROUP BY region', 5)$q$);
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.y', 'SELECT region, count(*) AS n FROM regress_att.her_parted WHERE region = ''r0'' GROUP BY region', 5)$q$);
RESET ROLE;
-- ... also when she adds them after the view was published: the tables
-- are checked again each time the rows are computed
SET ROLE regress_att_owner;
CREATE TABLE regress_att.her_late (region text, duration int) PARTITION BY LIST (region);
CREATE TABLE regress_att.her_late_0 PARTITION OF regress_att.her_late FOR VALUES IN ('r0');
CREATE TABLE regress_att.her_late_x (region text, duration int);
INSERT INTO regress_att.her_late SELECT 'r0', i FROM generate_series(1, 5) i;
INSERT INTO regress_att.her_late_x SELECT 'r0', i FROM generate_series(1, 5) i;
GRANT SELECT ON regress_att.her_late, regress_att.her_late_x TO PUBLIC;
RESET ROLE;
SET ROLE regress_att_pub;
SELECT privacy.create_safe_aggregate('regress_att.late_parted',
  'SELECT region, count(*) AS n FROM regress_att.her_late WHERE region = ''r1'' GROUP BY region', 2);
SELECT privacy.create_safe_aggregate('regress_att.late_rls',
  'SELECT region, count(*) AS n FROM regress_att.her_late_x GROUP BY region', 2);
RESET ROLE;
SELECT * FROM regress_att.late_parted;
SELECT * FROM regress_att.late_rls;
SET ROLE regress_att_owner;
CREATE TABLE regress_att.her_late_1 PARTITION OF regress_att.her_late FOR VALUES IN ('r1')
  PARTITION BY LIST (regress_att.part_of(region));
CREATE TABLE regress_att.her_late_1a PARTITION OF regress_att.her_late_1 FOR VALUES IN ('r1');
ALTER TABLE regress_att.her_late_x ENABLE ROW LEVEL SECURITY;
CREATE POLICY everything ON regress_att.her_late_x USING (regress_att.pwn(region));
RESET ROLE;
SELECT * FROM regress_att.late_parted;
SELECT * FROM regress_att.late_rls;
-- (a superuser is not subject to her policies)
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.her_rls_regions', 'SELECT region, count(*) AS n FROM regress_att.her_rls GROUP BY region', 5)$q$);
SELECT * FROM regress_att.her_rls_regions ORDER BY region;
-- k_anonymity, run by a superuser over her table, runs none of her code either
SELECT * FROM privacy.k_anonymity('regress_att.her', ARRAY['country'], 2);
SELECT * FROM privacy.k_anonymity('regress_att.her_view', ARRAY['region'], 2);
SELECT * FROM privacy.k_anonymity('regress_att.her', ARRAY['region'], 2);
SELECT * FROM privacy.k_anonymity('regress_att.by_country', ARRAY['country'], 2);
-- the owner herself publishing: rows computed as her, still no code of hers
SET ROLE regress_att_owner;
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.y', 'SELECT region, count(*) AS n FROM regress_att.her WHERE regress_att.pwn(region) GROUP BY region', 5)$q$);
SELECT privacy.create_safe_aggregate('regress_att.her_regions', 'SELECT region, count(*) AS n FROM regress_att.her GROUP BY region', 5);
RESET ROLE;
SELECT * FROM regress_att.her_regions ORDER BY region;
SELECT rolsuper AS owner_became_superuser FROM pg_roles WHERE rolname = 'regress_att_owner';

------------------------------------------------------------------------
-- 3. Groups are counted in people, not rows
------------------------------------------------------------------------
-- by_country (min_group 10): DK has 50 calls but one subscriber, suppressed
SELECT * FROM regress_att.by_country ORDER BY country;
SELECT * FROM regress_att.by_day ORDER BY country, day;
-- what rows alone would have published
SELECT country, count(*) AS calls, count(DISTINCT msisdn) AS subscribers
  FROM regress_att.calls GROUP BY country ORDER BY country;
-- ten more DK subscribers make DK a group of eleven people
INSERT INTO regress_att.calls
SELECT 100 + i, '+45201235' || lpad(i::text, 2, '0'), NULL, NULL, 'DK', timestamptz '2026-03-05 00:00+01', 10, NULL
  FROM generate_series(1, 10) i;
SELECT * FROM regress_att.by_country ORDER BY country;
DELETE FROM regress_att.calls WHERE id > 100;
-- two owner identifiers: per table the larger distinct count (an unknown
-- e-mail does not make the SE subscribers fewer)
SELECT privacy.create_safe_aggregate('regress_att.by_country_total',
  'SELECT country, count(*) AS n FROM regress_att.calls GROUP BY country', 10, with_total => true);
SELECT * FROM regress_att.by_country_total ORDER BY total, country;
-- A table without a declared owner identifier counts rows, as before.
CREATE TABLE regress_att.cells (cell text, duration int);
INSERT INTO regress_att.cells SELECT 'c' || (i % 3), i FROM generate_series(1, 25) i;
SELECT privacy.create_safe_aggregate('regress_att.by_cell',
  'SELECT cell, count(*) AS n FROM regress_att.cells GROUP BY cell', 9);
SELECT * FROM regress_att.by_cell ORDER BY cell;
SELECT comment FROM (SELECT obj_description('regress_att.by_cell'::regclass) AS comment
                     UNION ALL SELECT obj_description('regress_att.by_country'::regclass)) c;
-- joins: the smallest number of people over the tables that declare them
-- (joining on an identifier is refused like any other use of it)
CREATE TABLE regress_att.product (msisdn text, product text);
INSERT INTO regress_att.product SELECT DISTINCT msisdn, 'Mobil' FROM regress_att.calls;
SELECT privacy.register_table('regress_att.product', 'regress_att_traffic');
SELECT privacy.register_column('regress_att.product', 'msisdn', 'phone', identifies => 'msisdn');
SELECT privacy.create_safe_aggregate('regress_att.by_product',
  'SELECT p.product, c.country, count(*) AS n FROM regress_att.calls c JOIN regress_att.product p ON p.msisdn = c.msisdn GROUP BY 1, 2', 10);
CREATE TABLE regress_att.product_plan (product text, plan text);
INSERT INTO regress_att.product_plan VALUES ('Mobil', 'Basic');
SELECT privacy.create_safe_aggregate('regress_att.by_plan',
  'SELECT pp.plan, count(*) AS n FROM regress_att.product p JOIN regress_att.product_plan pp ON pp.product = p.product GROUP BY 1', 10);
SELECT * FROM regress_att.by_plan;

------------------------------------------------------------------------
-- 4. The reader sees the figures, not the plan over the source
------------------------------------------------------------------------
SET ROLE regress_att_bi;
SELECT * FROM regress_att.by_country ORDER BY country;
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM regress_att.by_country;
EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM regress_att.by_country;
-- asserted: no source relation, no row count of it, nothing removed by a filter
DO $$
DECLARE
  line text;
  plan text := '';
BEGIN
  FOR line IN EXECUTE 'EXPLAIN (ANALYZE, VERBOSE, BUFFERS, COSTS OFF, TIMING OFF, SUMMARY OFF) SELECT * FROM regress_att.by_country WHERE n > 0' LOOP
    plan := plan || line || E'\n';
  END LOOP;
  IF plan ~ '(calls|Seq Scan|Rows Removed|HashAggregate|GroupAggregate|CTE)' OR plan !~ 'Function Scan' THEN
    RAISE EXCEPTION 'the reader sees the plan over the source: %', plan;
  END IF;
  RAISE NOTICE 'plan shows a function scan only';
END $$;
-- the row function gives the same published rows, nothing more; the
-- query underneath cannot be called
SELECT * FROM regress_att.by_country_rows() ORDER BY country;
SELECT regress_att.by_country_rows();
SELECT * FROM regress_att.by_day;
SELECT count(*) FROM regress_att.calls;
RESET ROLE;

------------------------------------------------------------------------
-- 5. A malformed number makes an extract show NULL, not fail
------------------------------------------------------------------------
CREATE TABLE regress_att.subscriber (id int, msisdn text, country text, plan text);
INSERT INTO regress_att.subscriber VALUES
  (1, '+45 20 12 34 00', '+4520123400', 'a'),
  (2, 'not a number', 'DK', 'b'),
  (3, '+45 12', 'XX', 'c'),            -- too short to pseudonymize; no such country
  (4, '+999 123456789', '+999123', 'd'),  -- no such country code
  (5, '0046 701234001', 'se', 'e'),
  (6, NULL, NULL, 'f');
SELECT privacy.register_table('regress_att.subscriber', 'regress_att_traffic');
SELECT privacy.register_column('regress_att.subscriber', 'msisdn', 'phone', identifies => 'msisdn');
SELECT privacy.register_column('regress_att.subscriber', 'country', 'location');
GRANT SELECT ON regress_att.subscriber TO regress_att_pub;
SET ROLE regress_att_pub;
SELECT privacy.create_pseudonymized_extract('regress_att.subscriber_extract', 'regress_att.subscriber',
                                            'regress_att_analytics', grant_to => 'regress_att_bi');
RESET ROLE;
SET ROLE regress_att_bi;
SELECT id, msisdn IS NULL AS msisdn_null, country, plan FROM regress_att.subscriber_extract ORDER BY id;
RESET ROLE;
-- the well-formed numbers are pseudonymized as ever, no raw value appears
SELECT e.id, e.msisdn = privacy.pseudonymize(privacy.pseudonymize_msisdn(s.msisdn), 'regress_att_analytics') AS pseudonym_ok
  FROM regress_att.subscriber_extract e JOIN regress_att.subscriber s USING (id) WHERE e.id IN (1, 5) ORDER BY id;
SELECT count(*) AS raw_values_shown
  FROM regress_att.subscriber_extract e JOIN regress_att.subscriber s USING (id)
 WHERE e.msisdn = s.msisdn OR e.msisdn LIKE '%not a number%' OR e.msisdn LIKE '%+45 12%';
-- an undeclared column that looks personal is not passed raw
ALTER TABLE regress_att.subscriber ADD COLUMN contact_email text;
SELECT privacy.create_pseudonymized_extract('regress_att.x3', 'regress_att.subscriber', 'regress_att_analytics');
ALTER TABLE regress_att.subscriber DROP COLUMN contact_email;
-- a partition is declared by its partitioned table: extracting or
-- aggregating one partition keeps the declarations
CREATE TABLE regress_att.cdr (a_number text, started_at timestamptz, country text) PARTITION BY RANGE (started_at);
CREATE TABLE regress_att.cdr_2026 PARTITION OF regress_att.cdr FOR VALUES FROM ('2026-01-01') TO ('2027-01-01');
INSERT INTO regress_att.cdr SELECT msisdn, started_at, country FROM regress_att.calls;
SELECT privacy.register_table('regress_att.cdr', 'regress_att_traffic');
SELECT privacy.register_column('regress_att.cdr', 'a_number', 'phone', identifies => 'msisdn');
SELECT privacy.register_column('regress_att.cdr', 'country', 'location');
SELECT privacy.create_pseudonymized_extract('regress_att.cdr_2026_extract', 'regress_att.cdr_2026', 'regress_att_analytics');
SELECT count(*) AS raw_numbers_in_partition_extract FROM regress_att.cdr_2026_extract e
 WHERE e.a_number IN (SELECT msisdn FROM regress_att.calls);
SELECT pg_temp.refusal($q$SELECT privacy.create_safe_aggregate('regress_att.z', 'SELECT a_number AS c, count(*) AS n FROM regress_att.cdr_2026 GROUP BY 1', 10)$q$);
SELECT privacy.create_safe_aggregate('regress_att.cdr_2026_by_country',
  'SELECT country, count(*) AS n FROM regress_att.cdr_2026 GROUP BY country', 10);
SELECT * FROM regress_att.cdr_2026_by_country ORDER BY country;
-- the extract's row function belongs to the extension owner too
SET ROLE regress_att_pub;
CREATE OR REPLACE FUNCTION regress_att.subscriber_extract_rows()
  RETURNS TABLE(id int, msisdn text, country text, plan text) LANGUAGE sql
  AS 'SELECT id, msisdn, country, plan FROM regress_att.subscriber';
RESET ROLE;
-- an extract of a declared column of the owner's type is refused
SET ROLE regress_att_owner;
CREATE TABLE regress_att.her_subscriber (msisdn regress_att.cc, plan text);
GRANT SELECT ON regress_att.her_subscriber TO PUBLIC;
RESET ROLE;
SELECT privacy.register_table('regress_att.her_subscriber', 'regress_att_traffic');
SELECT privacy.register_column('regress_att.her_subscriber', 'msisdn', 'phone');
SELECT privacy.create_pseudonymized_extract('regress_att.her_extract', 'regress_att.her_subscriber', 'regress_att_analytics');
-- nor an extract of a table whose policies would run as the publisher
SET ROLE regress_att_owner;
CREATE TABLE regress_att.her_rls_subscriber (msisdn text, plan text);
ALTER TABLE regress_att.her_rls_subscriber ENABLE ROW LEVEL SECURITY;
CREATE POLICY everything ON regress_att.her_rls_subscriber USING (regress_att.pwn(plan));
GRANT SELECT ON regress_att.her_rls_subscriber TO PUBLIC;
RESET ROLE;
SELECT privacy.register_table('regress_att.her_rls_subscriber', 'regress_att_traffic');
SELECT privacy.register_column('regress_att.her_rls_subscriber', 'msisdn', 'phone', identifies => 'msisdn');
SET ROLE regress_att_pub;
SELECT privacy.create_pseudonymized_extract('regress_att.x4', 'regress_att.her_rls_subscriber', 'regress_att_analytics');
RESET ROLE;
-- without the keys there is no extract
GRANT SELECT ON regress_att.subscriber TO regress_att_owner;
SET ROLE regress_att_owner;
SELECT privacy.create_pseudonymized_extract('regress_att.x2', 'regress_att.subscriber', 'regress_att_analytics');
RESET ROLE;

-- A table owner renames her table away and puts a view of the same name
-- in its place, whose function would run as the publisher at every read:
-- the published view refuses to read anything but a table.
SET ROLE regress_att_owner;
CREATE TABLE regress_att.owners_calls (country text, duration int);
INSERT INTO regress_att.owners_calls SELECT 'DK', g FROM generate_series(1, 20) g;
GRANT SELECT ON regress_att.owners_calls TO regress_att_pub;
CREATE TABLE regress_att.spied (who name, role_now name);
GRANT INSERT ON regress_att.spied TO PUBLIC;
CREATE FUNCTION regress_att.spy() RETURNS boolean LANGUAGE plpgsql
  AS $$ BEGIN INSERT INTO regress_att.spied VALUES (session_user, current_user); RETURN true; END $$;
RESET ROLE;
SET ROLE regress_att_pub;
SELECT privacy.create_safe_aggregate('regress_att.owners_by_country',
  'SELECT country, count(*) AS n FROM regress_att.owners_calls GROUP BY country', 10,
  grant_to => 'regress_att_bi');
RESET ROLE;
SET ROLE regress_att_owner;
ALTER TABLE regress_att.owners_calls RENAME TO owners_calls_old;
CREATE VIEW regress_att.owners_calls AS
  SELECT country, duration FROM regress_att.owners_calls_old WHERE regress_att.spy();
GRANT SELECT ON regress_att.owners_calls TO regress_att_pub;
RESET ROLE;
SET ROLE regress_att_bi;
SELECT * FROM regress_att.owners_by_country;
RESET ROLE;
SELECT count(*) AS spy_ran FROM regress_att.spied;

-- clean up
DROP SCHEMA regress_att CASCADE;
SELECT count(*) AS published_left FROM privacy.published WHERE view_name::text LIKE 'regress_att.%';
SELECT privacy.drop_purpose('regress_att_traffic');
SELECT privacy.revoke_domain('regress_att_analytics', 'regress_att_pub');
SELECT privacy.revoke_domain('default', 'regress_att_pub');
DROP OWNED BY regress_att_pub, regress_att_bi, regress_att_owner, regress_att_nobody;
DROP ROLE regress_att_pub, regress_att_bi, regress_att_owner, regress_att_nobody;
