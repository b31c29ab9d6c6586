-- Masking by role: what a masked role reads from a registered table, under
-- every name it can give the table, and every way it could try to get the
-- raw values back or test guesses against them.  The output never shows a
-- pseudonym (it depends on the key): pseudonymized columns are compared by
-- their properties (type, length, uniqueness, joins, difference from the
-- raw value) instead.
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_privacy;
RESET client_min_messages;

CREATE ROLE regress_mask_owner;                  -- owns the tables, unmasked
CREATE ROLE regress_mask_plain;                  -- unmasked, may read the tables
CREATE ROLE regress_mask_reader IN ROLE regress_mask_plain;   -- the masked analyst
CREATE ROLE regress_mask_group;                  -- a masked group ...
CREATE ROLE regress_mask_member IN ROLE regress_mask_group;   -- ... and a member inheriting it
-- roles that must not be masked: they can read the data files
CREATE ROLE regress_mask_super SUPERUSER;
CREATE ROLE regress_mask_repl REPLICATION;
CREATE ROLE regress_mask_files IN ROLE pg_read_server_files;
CREATE ROLE regress_mask_writer IN ROLE pg_write_server_files;
CREATE ROLE regress_mask_program IN ROLE pg_execute_server_program;
CREATE ROLE regress_mask_indirect IN ROLE regress_mask_files;  -- has it through a group
CREATE ROLE regress_mask_noinherit NOINHERIT IN ROLE pg_read_server_files;  -- can SET ROLE to it
CREATE ROLE regress_mask_trigger;                -- may add triggers to a registered table
CREATE ROLE regress_mask_deputy NOINHERIT IN ROLE regress_mask_owner;  -- can SET ROLE to the owner
CREATE ROLE regress_mask_admin;                  -- a DBA's role granted mask_role

-- A refusal with its SQLSTATE, run as whoever calls it; a statement that
-- is accepted says how many rows it returned or changed.
CREATE FUNCTION pg_temp.refusal(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE n bigint;
BEGIN
  EXECUTE q;
  GET DIAGNOSTICS n = ROW_COUNT;
  RETURN 'accepted, rows: ' || n;
EXCEPTION WHEN OTHERS THEN
  RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
-- The same, its SQLSTATE only.
CREATE FUNCTION pg_temp.sqlstate(q text) RETURNS text LANGUAGE plpgsql AS $$
DECLARE r text := pg_temp.refusal(q);
BEGIN
  RETURN CASE WHEN r LIKE 'accepted%' THEN r ELSE left(r, 5) END;
END $$;

------------------------------------------------------------------------
-- The owner's schema: customers, their orders, calls in partitions, tickets
------------------------------------------------------------------------
CREATE SCHEMA regress_mask AUTHORIZATION regress_mask_owner;
SELECT privacy.define_purpose('regress_mask', 'contract');
INSERT INTO privacy.category (name, description) VALUES ('regress_mask_cat', 'a category of the test''s own');
SET ROLE regress_mask_owner;
CREATE TABLE regress_mask.customer (
  id          bigint PRIMARY KEY,
  customer_no text NOT NULL UNIQUE,
  name        text NOT NULL,
  email       text,
  phone       text,
  street      text NOT NULL,
  city        text,
  account     text,
  cpr         text NOT NULL,
  note        text,
  device_id   integer,
  score       integer,
  segment     smallint NOT NULL,
  company     text,
  cvr         text,
  created_at  timestamptz UNIQUE
);
CREATE INDEX ON regress_mask.customer (email);
CREATE INDEX ON regress_mask.customer (lower(email));
CREATE INDEX ON regress_mask.customer (cpr);
CREATE TABLE regress_mask.orders (
  id          bigint PRIMARY KEY,
  customer_id bigint NOT NULL REFERENCES regress_mask.customer,
  amount      numeric NOT NULL
);
CREATE TABLE regress_mask.calls (
  customer_id bigint NOT NULL,
  line        smallint,
  msisdn      text NOT NULL,
  b_number    text,
  started_at  timestamptz NOT NULL,
  duration    integer,
  cell        text
) PARTITION BY RANGE (started_at);
CREATE TABLE regress_mask.calls_2026_01 PARTITION OF regress_mask.calls
  FOR VALUES FROM ('2026-01-01') TO ('2026-02-01');
CREATE TABLE regress_mask.calls_2026_02 PARTITION OF regress_mask.calls
  FOR VALUES FROM ('2026-02-01') TO ('2026-03-01');
CREATE TABLE regress_mask.ticket (
  id      integer PRIMARY KEY,
  opened  date NOT NULL,
  email   text,
  body    text NOT NULL,
  phone   text
);
INSERT INTO regress_mask.customer VALUES
  (1001, 'C-1001', 'Jens Peter Hansen', 'jens.hansen@firma.dk', '+4520123456', 'Vestergade 12, 8000 Aarhus C',
   'Aarhus', '1234 5678901234', '0101701234', 'called about the invoice', 501, 7, 3, 'Hansen ApS', '12345678',
   '2026-01-01 10:00+01'),
  (1002, 'C-1002', 'Anne Marie Jensen', 'anne@example.com', '+4531234567', '8000',
   'Aarhus', 'DK50 0040 0440 1162 43', '3112851234', NULL, 502, NULL, 1, NULL, NULL,
   '2026-01-02 10:00+01'),
  (1003, 'C-1003', 'Åse Ødegård', NULL, '+4740123456', 'Aarhus C',
   'Oslo', NULL, '1505901234', 'VIP', NULL, 3, 2, NULL, NULL,
   '2026-01-03 10:00+01'),
  (1004, 'C-1004', 'Bo', 'not-an-address', NULL, 'Vestergade 12',
   'Aarhus', '12345678', '0202021234', 'VIP', 504, 1, 1, 'Bo Byg', '87654321',
   '2026-01-04 10:00+01'),
  (1005, 'C-1005', 'Zoe Adams', 'zoe@adams.org', '+4520000000', 'Nørregade 1, 1165 København K',
   'København', '9999 0000000001', '2412991234', 'VIP', 505, 10, 4, NULL, NULL,
   '2026-01-05 10:00+01');
INSERT INTO regress_mask.orders VALUES (1, 1001, 100), (2, 1001, 50), (3, 1002, 75), (4, 1005, 20);
INSERT INTO regress_mask.calls VALUES
  (1001, 1, '+4520123456', '+4531234567', '2026-01-10 12:00+01', 60, 'DK-AAR'),
  (1001, 2, '+4520123456', '+4520000000', '2026-02-10 12:00+01', 30, 'DK-AAR'),
  (1002, 1, '+4531234567', '+4520123456', '2026-02-11 12:00+01', 90, 'DK-CPH'),
  (1005, 3, '+4520000000', NULL, '2026-01-12 12:00+01', 15, 'DK-CPH');
INSERT INTO regress_mask.ticket VALUES
  (1, '2026-01-05', 'jens.hansen@firma.dk', 'Jens called, CPR 0101701234', '+4520123456'),
  (2, '2026-01-06', NULL, 'no personal data here', NULL);
-- a view of the owner's, granted to the readers
CREATE VIEW regress_mask.customer_v AS SELECT name, email, cpr, created_at FROM regress_mask.customer;
CREATE VIEW regress_mask.customer_sb WITH (security_barrier) AS
  SELECT name, email, cpr, created_at FROM regress_mask.customer WHERE city <> 'Oslo';
CREATE VIEW regress_mask.customer_inv WITH (security_invoker) AS
  SELECT name, email, cpr, created_at FROM regress_mask.customer;
-- the owner's deliberate interface: a SECURITY DEFINER function
CREATE FUNCTION regress_mask.lookup_email(c text) RETURNS text LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = pg_catalog AS $$ SELECT email FROM regress_mask.customer WHERE customer_no = c $$;
-- a SECURITY INVOKER function anyone may call, and a definer function calling it
CREATE FUNCTION regress_mask.first_cpr() RETURNS text LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog AS $$
DECLARE v text;
BEGIN
  SELECT cpr INTO v FROM regress_mask.customer ORDER BY created_at LIMIT 1;
  RETURN v;
END $$;
CREATE FUNCTION regress_mask.first_cpr_api() RETURNS text LANGUAGE plpgsql STABLE SECURITY DEFINER
  SET search_path = pg_catalog AS $$ BEGIN RETURN regress_mask.first_cpr(); END $$;
GRANT USAGE ON SCHEMA regress_mask TO regress_mask_plain, regress_mask_reader, regress_mask_group;
GRANT SELECT ON ALL TABLES IN SCHEMA regress_mask TO regress_mask_plain, regress_mask_reader, regress_mask_group;
GRANT INSERT, UPDATE, DELETE ON regress_mask.customer, regress_mask.ticket TO regress_mask_reader;
GRANT INSERT ON regress_mask.orders TO regress_mask_reader;
GRANT TRIGGER ON regress_mask.ticket TO regress_mask_trigger;
RESET ROLE;
SELECT t AS registered FROM unnest(ARRAY['regress_mask.customer', 'regress_mask.orders',
                                   'regress_mask.calls', 'regress_mask.ticket']) t,
       LATERAL privacy.register_table(t::regclass, 'regress_mask') ORDER BY 1;
SELECT count(*) AS declared
  FROM (VALUES ('regress_mask.customer', 'id', 'customer_number'), ('regress_mask.customer', 'customer_no', 'customer_number'),
               ('regress_mask.customer', 'name', 'name'), ('regress_mask.customer', 'email', 'email'),
               ('regress_mask.customer', 'phone', 'phone'), ('regress_mask.customer', 'street', 'postal_address'),
               ('regress_mask.customer', 'city', 'location'), ('regress_mask.customer', 'account', 'bank_account'),
               ('regress_mask.customer', 'cpr', 'national_id'), ('regress_mask.customer', 'note', 'free_text'),
               ('regress_mask.customer', 'device_id', 'online_identifier'),
               ('regress_mask.customer', 'score', 'regress_mask_cat'), ('regress_mask.customer', 'segment', 'other'),
               ('regress_mask.customer', 'company', 'company'), ('regress_mask.customer', 'cvr', 'business_id'),
               ('regress_mask.orders', 'customer_id', 'customer_number'),
               ('regress_mask.calls', 'customer_id', 'customer_number'), ('regress_mask.calls', 'line', 'online_identifier'),
               ('regress_mask.calls', 'msisdn', 'phone'), ('regress_mask.calls', 'b_number', 'phone'),
               ('regress_mask.calls', 'started_at', 'traffic'), ('regress_mask.calls', 'duration', 'traffic'),
               ('regress_mask.calls', 'cell', 'location'),
               ('regress_mask.ticket', 'email', 'email'), ('regress_mask.ticket', 'body', 'free_text'),
               ('regress_mask.ticket', 'phone', 'phone')) d(t, c, category),
       LATERAL privacy.register_column(d.t::regclass, d.c::name, d.category);
SELECT tbl, count(*) AS declared FROM privacy.registered_column WHERE tbl::text LIKE 'regress\_mask.%' GROUP BY 1 ORDER BY tbl::text;
-- statistics exist (pg_stats would show the raw values)
ANALYZE regress_mask.customer, regress_mask.orders, regress_mask.calls, regress_mask.ticket;
SET ROLE regress_mask_owner;
CREATE STATISTICS regress_mask.customer_stx (mcv) ON city, note FROM regress_mask.customer;
CREATE STATISTICS regress_mask.customer_stx_expr ON (lower(email)) FROM regress_mask.customer;
RESET ROLE;
ANALYZE regress_mask.customer;

-- The reader's own schema, with a look-alike table named like the owner's.
CREATE SCHEMA regress_mask_r AUTHORIZATION regress_mask_reader;
SET ROLE regress_mask_reader;
CREATE TABLE regress_mask_r.customer (name text, email text, cpr text);
INSERT INTO regress_mask_r.customer VALUES ('my own row', 'me@example.dk', '0000000000');
RESET ROLE;

------------------------------------------------------------------------
-- 1. The mask functions (keyless, for everyone)
------------------------------------------------------------------------
SET SESSION AUTHORIZATION regress_mask_reader;
SELECT privacy.mask_name('Jens Peter Hansen') AS name, privacy.mask_name('Åse Ødegård') AS nordic,
       privacy.mask_name('  anne   marie  ') AS spaced, privacy.mask_name('') AS empty,
       privacy.mask_name(NULL) AS null_name;
SELECT privacy.mask_email('jens.hansen@firma.dk') AS email, privacy.mask_email('Øjvind@firma.dk') AS nordic,
       privacy.mask_email('not-an-address') AS not_an_address, privacy.mask_email('@firma.dk') AS no_local,
       privacy.mask_email('') AS empty, privacy.mask_email(NULL) AS null_email;
SELECT privacy.mask_address('Vestergade 12, 8000 Aarhus C') AS full_address,
       privacy.mask_address('8000') AS postcode, privacy.mask_address('Aarhus C') AS town,
       privacy.mask_address('Vestergade 12') AS street_only,
       privacy.mask_address('Nørregade 1, 1165 København K') AS nordic,
       privacy.mask_address(NULL) AS null_address;
SELECT privacy.mask_account('1234 5678901234') AS account, privacy.mask_account('1234 5678901234', 2) AS two,
       privacy.mask_account('1234 5678901234', 0) AS none_visible,
       privacy.mask_account('DK50 0040 0440 1162 43') AS iban, privacy.mask_account('123') AS short,
       privacy.mask_account(NULL) AS null_account;
SELECT privacy.mask_msisdn('+4520123456') AS msisdn;
RESET SESSION AUTHORIZATION;

------------------------------------------------------------------------
-- 2. Before masking the reader reads raw; mask_role and its refusals
------------------------------------------------------------------------
SET plan_cache_mode = force_generic_plan;
SET SESSION AUTHORIZATION regress_mask_reader;
-- plans made while unmasked: a prepared statement and a PL/pgSQL function
PREPARE reader_cpr(text) AS SELECT name, email, cpr FROM regress_mask.customer WHERE city = $1 ORDER BY created_at;
EXECUTE reader_cpr('Oslo');
CREATE FUNCTION regress_mask_r.first_email() RETURNS text LANGUAGE plpgsql STABLE AS $$
DECLARE v text;
BEGIN
  SELECT email INTO v FROM regress_mask.customer ORDER BY created_at LIMIT 1;
  RETURN v;
END $$;
SELECT regress_mask_r.first_email();
RESET SESSION AUTHORIZATION;

-- Errors: NULL, unknown role, roles that can read the data files anyway.
SELECT pg_temp.refusal($$SELECT privacy.mask_role(NULL)$$);
SELECT pg_temp.refusal($$SELECT privacy.mask_role('regress_mask_reader', NULL)$$);
SELECT pg_temp.refusal($$SELECT privacy.mask_role('regress_mask_no_such_role')$$);
SELECT pg_temp.refusal($$SELECT privacy.mask_role('regress_mask_super')$$);
SELECT pg_temp.refusal($$SELECT privacy.mask_role(current_user)$$);
SELECT pg_temp.refusal($$SELECT privacy.mask_role('regress_mask_repl')$$);
SELECT pg_temp.refusal($$SELECT privacy.mask_role('regress_mask_files')$$);
SELECT pg_temp.refusal($$SELECT privacy.mask_role('regress_mask_writer')$$);
SELECT pg_temp.refusal($$SELECT privacy.mask_role('regress_mask_program')$$);
SELECT pg_temp.refusal($$SELECT privacy.mask_role('regress_mask_indirect')$$);
SELECT pg_temp.refusal($$SELECT privacy.mask_role('pg_read_server_files')$$);
-- The owner of a registered table, and a role that may add triggers to
-- one, see the rows in clear in their triggers.
SELECT pg_temp.refusal($$SELECT privacy.mask_role('regress_mask_owner')$$);
SELECT pg_temp.refusal($$SELECT privacy.mask_role('regress_mask_trigger')$$);
-- A NOINHERIT member has not the privileges of pg_read_server_files, or of
-- the owner, but takes them with SET ROLE: it reads the data files, or adds
-- a trigger to the table, as well as a member that inherits.
SELECT pg_temp.sqlstate($$SELECT privacy.mask_role('regress_mask_noinherit')$$) AS noinherit_files;
SELECT pg_temp.sqlstate($$SELECT privacy.mask_role('regress_mask_deputy')$$) AS noinherit_owner;
SELECT pg_temp.refusal($$SELECT privacy.unmask_role(NULL)$$);
SELECT pg_temp.refusal($$SELECT privacy.unmask_role('regress_mask_no_such_role')$$);
SELECT privacy.unmask_role('regress_mask_reader') AS was_masked;
SELECT role AS refused_role_masked FROM privacy.masked_role ORDER BY role::text;
-- nobody but pg_privacy's owner and the roles it grants it to masks or
-- unmasks: least of all the reader
SET SESSION AUTHORIZATION regress_mask_reader;
SELECT pg_temp.refusal($$SELECT privacy.unmask_role('regress_mask_reader')$$);
SELECT pg_temp.refusal($$SELECT privacy.mask_role('regress_mask_plain')$$);
SELECT pg_temp.refusal($$DELETE FROM privacy.masked_role$$);
SELECT pg_temp.refusal($$SELECT * FROM privacy.masked_role$$);
RESET SESSION AUTHORIZATION;

-- The reader may write registered tables: masked, with a warning that its
-- writes to them are refused while it is masked.
SELECT privacy.mask_role('regress_mask_reader');
-- a role granted mask_role masks in its own name
GRANT EXECUTE ON FUNCTION privacy.mask_role(name, boolean), privacy.unmask_role(name) TO regress_mask_admin;
SET ROLE regress_mask_admin;
SELECT privacy.mask_role('regress_mask_group');
RESET ROLE;
REVOKE EXECUTE ON FUNCTION privacy.mask_role(name, boolean), privacy.unmask_role(name) FROM regress_mask_admin;
SELECT role, privacy_by_default, masked_by, masked_at <= now() AS masked_at_set FROM privacy.masked_role ORDER BY role::text;
SELECT actor, role, event, object, detail FROM privacy.audit_log WHERE event LIKE 'mask.%' AND object LIKE 'regress\_mask%' ORDER BY id;
SELECT status, detail FROM privacy.health() WHERE area = 'masking';

------------------------------------------------------------------------
-- 3. What the masked reader reads, column by column
------------------------------------------------------------------------
SET SESSION AUTHORIZATION regress_mask_reader;
-- the plans made before mask_role are not reused
EXECUTE reader_cpr('Oslo');
SELECT regress_mask_r.first_email();
-- the qualified name
SELECT name, email, phone, street, city, account, cpr, note, score, segment, company, cvr, created_at
  FROM regress_mask.customer ORDER BY created_at;
-- pseudonyms: same type, 22 base64url characters for text, unique keys
SELECT min(pg_typeof(id)::text) AS id_type, min(pg_typeof(device_id)::text) AS device_type,
       count(*) AS n, count(DISTINCT id) AS distinct_ids, count(DISTINCT customer_no) AS distinct_nos,
       bool_and(customer_no ~ '^[A-Za-z0-9_-]{22}$') AS nos_22_base64url,
       count(device_id) AS devices, count(DISTINCT device_id) AS distinct_devices
  FROM regress_mask.customer;
SELECT min(pg_typeof(line)::text) AS line_type, count(line) AS lines, count(DISTINCT line) AS distinct_lines,
       count(DISTINCT (customer_id, line)) AS distinct_pairs
  FROM regress_mask.calls;
-- what the reader sees, kept in a table of its own (an unregistered table:
-- it keeps what it was given), for comparison with the raw rows below
CREATE TABLE regress_mask_r.seen AS SELECT * FROM regress_mask.customer;
CREATE TABLE regress_mask_r.seen_orders AS SELECT * FROM regress_mask.orders;
CREATE TABLE regress_mask_r.seen_calls AS SELECT * FROM regress_mask.calls;
-- reading again gives the same pseudonyms
SELECT count(*) AS same_pseudonyms FROM regress_mask.customer c
  JOIN regress_mask_r.seen s ON s.id = c.id AND s.customer_no = c.customer_no
                            AND s.device_id IS NOT DISTINCT FROM c.device_id;
-- foreign keys still join, and join the same rows
SELECT count(*) AS order_rows, count(DISTINCT c.name) AS customers_with_orders
  FROM regress_mask.orders o JOIN regress_mask.customer c ON c.id = o.customer_id;
SELECT c.name, sum(o.amount) AS total FROM regress_mask.orders o JOIN regress_mask.customer c ON c.id = o.customer_id
 GROUP BY c.name ORDER BY c.name COLLATE "C";
SELECT c.name, count(*) AS calls, sum(k.duration) AS seconds
  FROM regress_mask.calls k JOIN regress_mask.customer c ON c.id = k.customer_id GROUP BY c.name ORDER BY c.name COLLATE "C";
-- looking a customer up by the raw key finds nothing
SELECT count(*) AS by_raw_id FROM regress_mask.customer WHERE id = 1001;
SELECT count(*) AS by_raw_no FROM regress_mask.customer WHERE customer_no = 'C-1001';
SELECT count(*) AS orders_by_raw_id FROM regress_mask.orders WHERE customer_id = 1001;
-- k_anonymity runs as its caller: over the masked values (one group of '')
SELECT * FROM privacy.k_anonymity('regress_mask.customer', ARRAY['cpr'], 2);
RESET SESSION AUTHORIZATION;
SELECT * FROM privacy.k_anonymity('regress_mask.customer', ARRAY['cpr'], 2);
-- As the superuser (unmasked): the raw rows against what the reader saw.
SELECT count(*) AS rows,
       count(*) FILTER (WHERE s.id = c.id) AS same_id,
       count(*) FILTER (WHERE s.customer_no = c.customer_no) AS same_no,
       count(*) FILTER (WHERE strpos(s.customer_no, c.customer_no) > 0) AS no_contains_raw,
       count(*) FILTER (WHERE s.device_id = c.device_id) AS same_device, count(s.device_id) AS devices,
       bool_and(s.name = privacy.mask_name(c.name)) AS name_masked,
       bool_and(s.email IS NOT DISTINCT FROM privacy.mask_email(c.email)) AS email_masked,
       bool_and(s.phone IS NOT DISTINCT FROM privacy.mask_msisdn(c.phone)) AS phone_masked,
       bool_and(s.street = coalesce(privacy.mask_address(c.street), '')) AS street_masked,
       bool_and(s.account IS NOT DISTINCT FROM privacy.mask_account(c.account)) AS account_masked,
       bool_and(s.cpr = '') AS cpr_empty, bool_and(s.note IS NULL) AS note_null,
       bool_and(s.score IS NULL) AS score_null, bool_and(s.segment = 0) AS segment_zero,
       bool_and(s.city IS NOT DISTINCT FROM c.city AND s.company IS NOT DISTINCT FROM c.company
                AND s.cvr IS NOT DISTINCT FROM c.cvr) AS unchanged_kept
  FROM regress_mask.customer c JOIN regress_mask_r.seen s USING (created_at);
-- the same join counts raw and masked
SELECT (SELECT count(*) FROM regress_mask.orders o JOIN regress_mask.customer c ON c.id = o.customer_id) AS raw_join,
       (SELECT count(*) FROM regress_mask_r.seen_orders o JOIN regress_mask_r.seen c ON c.id = o.customer_id) AS masked_join,
       (SELECT count(*) FROM regress_mask.calls k JOIN regress_mask.customer c ON c.id = k.customer_id) AS raw_calls_join,
       (SELECT count(*) FROM regress_mask_r.seen_calls k JOIN regress_mask_r.seen c ON c.id = k.customer_id) AS masked_calls_join;
SELECT count(*) AS calls, bool_or(s.line <> k.line) AS lines_changed
  FROM regress_mask.calls k JOIN regress_mask_r.seen_calls s USING (started_at);
-- the pseudonym of a key is the same in each table (it is what joins)
SELECT count(*) AS orders_pseudonym_matches
  FROM regress_mask.orders o JOIN regress_mask.customer c ON c.id = o.customer_id
  JOIN regress_mask_r.seen s USING (created_at)
  JOIN regress_mask_r.seen_orders so ON so.id = o.id AND so.customer_id = s.id;
-- nothing raw in what the reader kept
SELECT count(*) AS raw_values_seen
  FROM regress_mask.customer c, regress_mask_r.seen s
 WHERE strpos(s::text, c.cpr) > 0 OR strpos(s::text, c.email) > 0 OR strpos(s::text, c.customer_no) > 0
    OR strpos(s::text, c.phone) > 0 OR strpos(s::text, 'called about') > 0;
-- the superuser and the unmasked roles read raw
SET ROLE regress_mask_plain;
SELECT name, email, cpr FROM regress_mask.customer ORDER BY created_at LIMIT 2;
RESET ROLE;
SET ROLE regress_mask_owner;
SELECT count(*) AS owner_by_raw_id FROM regress_mask.customer WHERE id = 1001 AND customer_no = 'C-1001';
RESET ROLE;

------------------------------------------------------------------------
-- 4. Every name of the table
------------------------------------------------------------------------
SET SESSION AUTHORIZATION regress_mask_reader;
-- unqualified, with the reader's own search_path: its look-alike table first
SET search_path = regress_mask_r, regress_mask;
SELECT name, email, cpr FROM customer;
-- ... and the real one
SET search_path = regress_mask;
SELECT name, email, cpr FROM customer ORDER BY created_at;
RESET search_path;
-- TABLE, ONLY, a CTE, a subquery, a UNION, LATERAL
SELECT t.name, t.cpr FROM (TABLE regress_mask.customer) t ORDER BY t.created_at LIMIT 2;
SELECT name, cpr FROM ONLY regress_mask.customer ORDER BY created_at LIMIT 2;
WITH c AS MATERIALIZED (SELECT * FROM regress_mask.customer) SELECT name, email, cpr FROM c ORDER BY created_at LIMIT 2;
SELECT name, cpr FROM (SELECT * FROM regress_mask.customer WHERE segment >= 0 OFFSET 0) s ORDER BY created_at LIMIT 2;
SELECT e FROM (SELECT email FROM regress_mask.customer UNION SELECT 'x') u(e) ORDER BY e COLLATE "C";
SELECT x.cpr FROM (VALUES (1)) v(n), LATERAL (SELECT cpr FROM regress_mask.customer ORDER BY created_at LIMIT 1) x;
-- a view of the reader's own, and a materialized view
CREATE VIEW regress_mask_r.v AS SELECT * FROM regress_mask.customer;
SELECT name, email, cpr FROM regress_mask_r.v ORDER BY created_at LIMIT 2;
CREATE MATERIALIZED VIEW regress_mask_r.mv AS SELECT name, email, cpr, created_at FROM regress_mask.customer;
SELECT name, email, cpr FROM regress_mask_r.mv ORDER BY created_at LIMIT 2;
-- the owner's views granted to it: plain, security_barrier, security_invoker
SELECT name, email, cpr FROM regress_mask.customer_v ORDER BY created_at LIMIT 2;
SELECT name, email, cpr FROM regress_mask.customer_sb ORDER BY created_at LIMIT 2;
SELECT name, email, cpr FROM regress_mask.customer_inv ORDER BY created_at LIMIT 2;
-- SQL functions: one in FROM that the planner inlines, one it does not;
-- PL/pgSQL with static and dynamic SQL
CREATE FUNCTION regress_mask_r.f_sql() RETURNS SETOF regress_mask.customer LANGUAGE sql STABLE
  AS $$ SELECT * FROM regress_mask.customer $$;
SELECT name, email, cpr FROM regress_mask_r.f_sql() ORDER BY created_at LIMIT 2;
CREATE FUNCTION regress_mask_r.f_sql_strict(text) RETURNS text LANGUAGE sql STRICT VOLATILE
  AS $$ SELECT string_agg(cpr || '/' || email, ',' ORDER BY created_at) FROM regress_mask.customer WHERE city = $1 $$;
SELECT regress_mask_r.f_sql_strict('Aarhus');
CREATE FUNCTION regress_mask_r.f_plpgsql() RETURNS TABLE(name text, email text, cpr text, dyn_cpr text) LANGUAGE plpgsql AS $$
DECLARE r record;
BEGIN
  FOR r IN SELECT c.name, c.email, c.cpr, c.created_at FROM regress_mask.customer c ORDER BY c.created_at LOOP
    name := r.name; email := r.email; cpr := r.cpr;
    EXECUTE 'SELECT cpr FROM regress_mask.customer WHERE created_at = $1' INTO dyn_cpr USING r.created_at;
    RETURN NEXT;
  END LOOP;
END $$;
SELECT * FROM regress_mask_r.f_plpgsql() LIMIT 2;
-- a SECURITY DEFINER function of its own: it runs as the reader, masked
CREATE FUNCTION regress_mask_r.f_definer() RETURNS text LANGUAGE sql SECURITY DEFINER
  AS $$ SELECT string_agg(cpr, ',' ORDER BY created_at) FROM regress_mask.customer $$;
SELECT regress_mask_r.f_definer();
-- a cursor
BEGIN;
DECLARE c CURSOR FOR SELECT name, email, cpr FROM regress_mask.customer ORDER BY created_at;
FETCH 2 FROM c;
FETCH ALL FROM c;
COMMIT;
-- a prepared statement made now
PREPARE p AS SELECT name, email, cpr FROM regress_mask.customer ORDER BY created_at LIMIT 2;
EXECUTE p;
-- a partition read directly
SELECT msisdn, b_number, started_at, duration, cell FROM regress_mask.calls_2026_01 ORDER BY started_at;
SELECT count(*) AS partition_calls_joined FROM regress_mask.calls_2026_02 k JOIN regress_mask.customer c ON c.id = k.customer_id;
SELECT count(*) AS partition_by_raw_id FROM regress_mask.calls_2026_02 WHERE customer_id = 1001;
-- whole-row references
SELECT to_jsonb(c) - 'id' - 'customer_no' - 'device_id' AS row_json FROM regress_mask.customer c ORDER BY created_at LIMIT 1;
SELECT row_to_json(c)::jsonb ->> 'cpr' AS json_cpr, (c).email, strpos(c::text, '0101701234') AS cpr_in_text,
       strpos(c::text, 'C-1001') AS no_in_text, strpos(c::text, 'jens.hansen') AS email_in_text
  FROM regress_mask.customer c ORDER BY created_at LIMIT 1;
CREATE FUNCTION regress_mask_r.cpr_of(regress_mask.customer) RETURNS text LANGUAGE sql AS $$ SELECT $1.cpr $$;
SELECT regress_mask_r.cpr_of(c) AS cpr_of_row FROM regress_mask.customer c ORDER BY created_at LIMIT 1;
SELECT (jsonb_populate_record(NULL::regress_mask.customer, to_jsonb(c))).cpr AS repopulated FROM regress_mask.customer c LIMIT 1;
-- SELECT ... FOR UPDATE / FOR SHARE: the rows locked, the values masked
BEGIN;
SELECT name, email, cpr FROM regress_mask.customer WHERE city = 'Oslo' FOR UPDATE;
SELECT name, cpr FROM regress_mask.customer c WHERE city = 'Oslo' FOR SHARE OF c;
ROLLBACK;
-- in a parallel plan: the same masks, the same pseudonyms, also when the
-- first keyed mask of the session (here: the first after the database's
-- key state changed) is computed by the leader of a parallel plan
RESET SESSION AUTHORIZATION;
ANALYZE privacy.key_state;
SET SESSION AUTHORIZATION regress_mask_reader;
SET max_parallel_workers_per_gather = 2;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SELECT count(DISTINCT customer_no) AS distinct_nos, count(DISTINCT id) AS distinct_ids
  FROM regress_mask.customer WHERE email LIKE '%@%';
SET force_parallel_mode = on;
SELECT name, email, cpr FROM regress_mask.customer ORDER BY created_at LIMIT 2;
SELECT count(*) AS same_in_worker FROM regress_mask.customer c
  JOIN regress_mask_r.seen s ON s.id = c.id AND s.customer_no = c.customer_no
                            AND s.device_id IS NOT DISTINCT FROM c.device_id;
RESET force_parallel_mode;
RESET max_parallel_workers_per_gather;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET SESSION AUTHORIZATION;

------------------------------------------------------------------------
-- 5. COPY and EXPLAIN
------------------------------------------------------------------------
SET SESSION AUTHORIZATION regress_mask_reader;
COPY regress_mask.ticket TO STDOUT;
COPY regress_mask.customer (name, email, phone, street, account, cpr, note, segment) TO STDOUT;
COPY (SELECT name, cpr FROM regress_mask.customer ORDER BY created_at) TO STDOUT (FORMAT csv);
COPY regress_mask.calls_2026_01 (msisdn, b_number, duration) TO STDOUT;
-- by an unqualified name, its look-alike table last in its search_path
SET search_path = regress_mask, regress_mask_r;
COPY customer (name, cpr, note) TO STDOUT;
RESET search_path;
-- EXPLAIN ANALYZE: no raw value in the plan, nor in its VERBOSE form
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT name FROM regress_mask.customer WHERE email LIKE 'j%';
EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)
  SELECT name FROM regress_mask.customer WHERE cpr = '0101701234';
CREATE TABLE regress_mask_r.plan (line text);
DO $$
DECLARE l text;
BEGIN
  FOR l IN EXECUTE $q$EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF)
                      SELECT * FROM regress_mask.customer c JOIN regress_mask.orders o ON o.customer_id = c.id
                       WHERE c.email LIKE '%@%' ORDER BY c.cpr$q$ LOOP
    INSERT INTO regress_mask_r.plan VALUES (l);
  END LOOP;
  FOR l IN EXECUTE $q$EXPLAIN (ANALYZE, VERBOSE, COSTS OFF, TIMING OFF, SUMMARY OFF, FORMAT JSON)
                      SELECT * FROM regress_mask.calls WHERE msisdn LIKE '+45%'$q$ LOOP
    INSERT INTO regress_mask_r.plan VALUES (l);
  END LOOP;
END $$;
-- the estimate for a raw value is that of any value
CREATE FUNCTION regress_mask_r.estimate(q text) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE j json;
BEGIN
  EXECUTE 'EXPLAIN (FORMAT JSON) ' || q INTO j;
  RETURN (j -> 0 -> 'Plan' ->> 'Plan Rows')::numeric;
END $$;
SELECT regress_mask_r.estimate($$SELECT * FROM regress_mask.customer WHERE note = 'VIP'$$)
     = regress_mask_r.estimate($$SELECT * FROM regress_mask.customer WHERE note = 'nothing like it'$$) AS note_estimate_blind,
       regress_mask_r.estimate($$SELECT * FROM regress_mask.customer WHERE cpr = '0101701234'$$)
     = regress_mask_r.estimate($$SELECT * FROM regress_mask.customer WHERE cpr = '0000000000'$$) AS cpr_estimate_blind;
RESET SESSION AUTHORIZATION;
SELECT count(*) AS plan_lines, count(*) FILTER (WHERE p.line ~ '\\x[0-9a-f]{16}|[0-9a-f]{32}') AS key_like
  FROM regress_mask_r.plan p;
SELECT count(*) AS raw_in_plan
  FROM regress_mask_r.plan p, regress_mask.customer c
 WHERE strpos(p.line, c.cpr) > 0 OR strpos(p.line, c.customer_no) > 0 OR strpos(p.line, c.name) > 0
    OR strpos(p.line, coalesce(c.email, '@@')) > 0 OR strpos(p.line, c.street) > 0
    OR strpos(p.line, coalesce(c.phone, '@@')) > 0 OR strpos(p.line, '1001') > 0;

------------------------------------------------------------------------
-- 6. Oracles: WHERE, ORDER BY, GROUP BY, indexes, errors, leaky functions
------------------------------------------------------------------------
SET SESSION AUTHORIZATION regress_mask_reader;
-- WHERE compares the masked value: the raw one matches nothing
SELECT count(*) FILTER (WHERE email = 'jens.hansen@firma.dk') AS raw_email,
       count(*) FILTER (WHERE email = 'j***@firma.dk') AS masked_email,
       count(*) FILTER (WHERE email LIKE 'jens%') AS raw_prefix,
       count(*) FILTER (WHERE cpr LIKE '01%') AS cpr_prefix,
       count(*) FILTER (WHERE cpr = '') AS cpr_empty,
       count(*) FILTER (WHERE note = 'VIP') AS note_vip,
       count(*) FILTER (WHERE street LIKE 'Vester%') AS street_prefix,
       count(*) FILTER (WHERE phone = '+4520123456') AS raw_phone
  FROM regress_mask.customer;
-- ... also when an index on the raw column could answer
SET enable_seqscan = off;
SET enable_bitmapscan = off;
SELECT count(*) AS indexed_raw_email FROM regress_mask.customer WHERE email = 'jens.hansen@firma.dk';
SELECT count(*) AS indexed_lower_email FROM regress_mask.customer WHERE lower(email) = 'jens.hansen@firma.dk';
SELECT count(*) AS indexed_raw_cpr FROM regress_mask.customer WHERE cpr = '0101701234';
SELECT email FROM regress_mask.customer WHERE email > '' ORDER BY email COLLATE "C";
SELECT cpr FROM regress_mask.customer WHERE cpr >= '0' ORDER BY cpr;
RESET enable_seqscan;
RESET enable_bitmapscan;
-- ORDER BY the masked value: the raw CPR order (1, 4, 3, 5, 2) is not revealed
SELECT name FROM regress_mask.customer ORDER BY cpr, created_at;
SELECT name FROM regress_mask.customer ORDER BY note NULLS FIRST, created_at;
SELECT min(cpr) AS min_cpr, max(cpr) AS max_cpr, count(DISTINCT cpr) AS distinct_cpr,
       count(DISTINCT note) AS distinct_notes, string_agg(DISTINCT account COLLATE "C", ',' ORDER BY account COLLATE "C") AS accounts
  FROM regress_mask.customer;
-- GROUP BY the masked value
SELECT cpr, count(*) FROM regress_mask.customer GROUP BY cpr;
SELECT note, count(*) FROM regress_mask.customer GROUP BY note;
SELECT left(street, 4) AS postcode, count(*) FROM regress_mask.customer GROUP BY 1 ORDER BY left(street, 4) COLLATE "C";
SELECT count(*) FROM regress_mask.customer GROUP BY cpr HAVING count(*) > 1;
-- error messages carry the masked value
SELECT pg_temp.refusal($$SELECT email::integer FROM regress_mask.customer WHERE city = 'København'$$);
SELECT pg_temp.refusal($$SELECT account::bigint FROM regress_mask.customer WHERE city = 'København'$$);
SELECT pg_temp.refusal($$SELECT CASE WHEN cpr LIKE '01%' THEN 1/0 END FROM regress_mask.customer$$);
-- a leaky function in WHERE sees only masked values
CREATE FUNCTION regress_mask_r.leak(text) RETURNS boolean LANGUAGE plpgsql COST 0.0000001 AS $$
BEGIN
  RAISE NOTICE 'leak: %', $1;
  RETURN true;
END $$;
SELECT count(*) AS leaked_rows FROM regress_mask.customer WHERE regress_mask_r.leak(cpr) AND regress_mask_r.leak(email);
SELECT count(*) AS leaked_sb_rows FROM regress_mask.customer_sb WHERE regress_mask_r.leak(cpr);
-- a leaky operator of its own, first in its search_path
CREATE FUNCTION regress_mask_r.leak_eq(text, text) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
  RAISE NOTICE 'leak_eq: %', $1;
  RETURN $1 OPERATOR(pg_catalog.=) $2;
END $$;
CREATE OPERATOR regress_mask_r.= (LEFTARG = text, RIGHTARG = text, FUNCTION = regress_mask_r.leak_eq);
SET search_path = regress_mask_r, pg_catalog;
SELECT count(*) AS op_rows FROM regress_mask.customer WHERE cpr = '0101701234';
RESET search_path;
-- statistics: refused, not shown
SELECT pg_temp.refusal($$SELECT most_common_vals::text FROM pg_stats WHERE schemaname = 'regress_mask' AND tablename = 'customer' AND attname = 'note'$$);
SELECT pg_temp.refusal($$SELECT histogram_bounds::text FROM pg_stats WHERE attname = 'cpr'$$);
SELECT pg_temp.refusal($$SELECT count(*) FROM pg_stats$$);
SELECT pg_temp.refusal($$SELECT stavalues1::text FROM pg_statistic$$);
SELECT pg_temp.refusal($$SELECT most_common_vals::text FROM pg_stats_ext WHERE statistics_name = 'customer_stx'$$);
SELECT pg_temp.refusal($$SELECT most_common_vals::text FROM pg_stats_ext_exprs WHERE statistics_name = 'customer_stx_expr'$$);
SELECT pg_temp.refusal($$SELECT stxdmcv::text FROM pg_statistic_ext_data$$);
-- system columns of a masked table
SELECT pg_temp.refusal($$SELECT ctid FROM regress_mask.customer$$);
SELECT pg_temp.refusal($$SELECT xmin FROM regress_mask.customer$$);
SELECT pg_temp.refusal($$SELECT tableoid::regclass FROM regress_mask.calls$$);
SELECT pg_temp.refusal($$SELECT count(*) FROM regress_mask.customer WHERE ctid = '(0,1)'$$);
RESET SESSION AUTHORIZATION;

------------------------------------------------------------------------
-- 7. Writes: a masked role writes no table it reads masked (its checks and
--    errors would show or test the values in clear), whatever it reads
------------------------------------------------------------------------
SET SESSION AUTHORIZATION regress_mask_reader;
-- an UPDATE or DELETE whose WHERE is an oracle on the raw value: refused
SELECT pg_temp.refusal($$UPDATE regress_mask.customer SET city = city WHERE cpr = '0101701234'$$);
SELECT pg_temp.refusal($$UPDATE regress_mask.customer SET city = city WHERE email LIKE 'jens%'$$);
SELECT pg_temp.refusal($$DELETE FROM regress_mask.customer WHERE cpr LIKE '01%'$$);
SELECT pg_temp.refusal($$DELETE FROM regress_mask.ticket WHERE body LIKE '%CPR%'$$);
-- SET expressions reading a masked column: refused
SELECT pg_temp.refusal($$UPDATE regress_mask.customer SET note = cpr WHERE city = 'Oslo'$$);
SELECT pg_temp.refusal($$UPDATE regress_mask.customer SET company = company || name WHERE city = 'Oslo'$$);
-- RETURNING a masked column: refused
SELECT pg_temp.refusal($$UPDATE regress_mask.customer SET city = 'Oslo' WHERE city = 'Oslo' RETURNING cpr$$);
SELECT pg_temp.refusal($$UPDATE regress_mask.customer SET city = 'Oslo' WHERE city = 'Oslo' RETURNING *$$);
SELECT pg_temp.refusal($$DELETE FROM regress_mask.ticket WHERE id = 2 RETURNING body$$);
SELECT pg_temp.refusal($$UPDATE regress_mask.customer c SET city = 'Oslo' WHERE city = 'Oslo' RETURNING c$$);
-- INSERT ... ON CONFLICT DO UPDATE reading the old row: refused
SELECT pg_temp.refusal($$INSERT INTO regress_mask.ticket VALUES (1, '2026-01-01', NULL, 'x', NULL, NULL)
                          ON CONFLICT (id) DO UPDATE SET body = regress_mask.ticket.body || 'x'$$);
SELECT pg_temp.refusal($$INSERT INTO regress_mask.ticket VALUES (1, '2026-01-01', NULL, 'x', NULL, NULL)
                          ON CONFLICT (id) DO UPDATE SET body = 'x' WHERE regress_mask.ticket.email LIKE 'jens%'$$);
SELECT pg_temp.refusal($$INSERT INTO regress_mask.ticket VALUES (1, '2026-01-01', NULL, 'x', NULL, NULL)
                          ON CONFLICT (id) DO UPDATE SET body = EXCLUDED.body RETURNING body$$);
-- MERGE joining on a masked column: refused
SELECT pg_temp.refusal($$MERGE INTO regress_mask.customer c USING (VALUES ('0101701234')) v(cpr) ON c.cpr = v.cpr
                          WHEN MATCHED THEN UPDATE SET city = 'x'$$);
-- a masked column in a correlated subquery of the WHERE: refused
SELECT pg_temp.refusal($$UPDATE regress_mask.customer c SET city = city
                          WHERE EXISTS (SELECT 1 WHERE c.cpr = '0101701234')$$);
-- the same table read a second time (UPDATE ... FROM) is read masked:
-- nothing matches the raw value
SELECT pg_temp.refusal($$UPDATE regress_mask.customer c SET city = c.city FROM regress_mask.customer d
                          WHERE d.created_at = c.created_at AND d.cpr = '0101701234'$$);
-- a write through a view of its own is the same write: the view's WHERE,
-- also as a security_barrier view's (a security qual of the written table)
-- and as a CHECK OPTION, is a WHERE over the table
SELECT pg_temp.refusal($$UPDATE regress_mask_r.v SET city = city WHERE cpr = '0101701234'$$);
CREATE VIEW regress_mask_r.one_cpr WITH (security_barrier) AS
  SELECT * FROM regress_mask.customer WHERE cpr = '0101701234';
SELECT pg_temp.sqlstate($$UPDATE regress_mask_r.one_cpr SET city = city$$) AS sb_update;
SELECT pg_temp.sqlstate($$DELETE FROM regress_mask_r.one_cpr WHERE city = 'no such city'$$) AS sb_delete;
CREATE VIEW regress_mask_r.by_city AS SELECT * FROM regress_mask.customer WHERE city = 'Aarhus';
CREATE VIEW regress_mask_r.checked AS SELECT * FROM regress_mask_r.by_city WHERE cpr LIKE '01%'
  WITH CASCADED CHECK OPTION;
SELECT pg_temp.refusal($$UPDATE regress_mask_r.checked SET city = 'Aarhus' WHERE created_at = '2026-01-01 10:00+01'$$);
CREATE VIEW regress_mask_r.cpr_checked WITH (security_barrier) AS
  SELECT * FROM regress_mask.customer WHERE cpr LIKE '01%' WITH CHECK OPTION;
SELECT pg_temp.sqlstate($$UPDATE regress_mask_r.cpr_checked SET city = 'Aarhus' WHERE created_at = '2026-01-01 10:00+01'$$) AS sb_checked_update;
-- (an UPDATE by unmasked columns through such a view would be accepted:
-- the oracle is its row count, 1 for the right CPR and 0 for another)
CREATE VIEW regress_mask_r.other_cpr WITH (security_barrier) AS
  SELECT * FROM regress_mask.customer WHERE cpr = '0000000000';
SELECT pg_temp.sqlstate($$UPDATE regress_mask_r.other_cpr SET city = city$$) AS sb_other_update;
-- nothing was changed by the refused statements
RESET SESSION AUTHORIZATION;
SELECT id, city, note, company FROM regress_mask.customer ORDER BY id;
SELECT id, body FROM regress_mask.ticket ORDER BY id;
SET SESSION AUTHORIZATION regress_mask_reader;
-- plain writes are refused too: INSERT, UPDATE of a constant by an unmasked
-- column, DELETE by one (a failing row's DETAIL lists the row in clear)
INSERT INTO regress_mask.customer (id, customer_no, name, street, cpr, segment, created_at)
  VALUES (1099, 'C-1099', 'New Customer', 'Vestergade 99, 8000 Aarhus C', '0303031234', 1, '2026-01-09 10:00+01');
UPDATE regress_mask.customer SET note = 'updated by the reader', city = 'Aarhus' WHERE created_at = '2026-01-09 10:00+01';
SELECT name, street, cpr, note, city FROM regress_mask.customer WHERE created_at = '2026-01-09 10:00+01';
INSERT INTO regress_mask.ticket (id, opened, body) VALUES (3, '2026-01-09', 'new') RETURNING id, opened;
DELETE FROM regress_mask.ticket WHERE id = 3;
-- the foreign-key check finds the customer by its real key
INSERT INTO regress_mask.orders VALUES (5, 1099, 10);
SELECT pg_temp.refusal($$INSERT INTO regress_mask.orders VALUES (6, 4242, 10)$$);
RESET SESSION AUTHORIZATION;
SELECT id, customer_no, name, cpr, note, city FROM regress_mask.customer WHERE id = 1099;
SELECT * FROM regress_mask.orders WHERE id >= 5;
DELETE FROM regress_mask.orders WHERE id = 5;
DELETE FROM regress_mask.customer WHERE id = 1099;

------------------------------------------------------------------------
-- 8. Roles: SET ROLE, membership, search_path, SECURITY DEFINER
------------------------------------------------------------------------
-- The masked login becomes an unmasked role it belongs to: still masked.
SET SESSION AUTHORIZATION regress_mask_reader;
SET ROLE regress_mask_plain;
SELECT current_user, session_user, cpr, email FROM regress_mask.customer ORDER BY created_at LIMIT 1;
RESET ROLE;
-- ... nor through a SECURITY DEFINER function it hands to that role
GRANT CREATE ON SCHEMA regress_mask_r TO regress_mask_plain;
CREATE FUNCTION regress_mask_r.via_plain() RETURNS text LANGUAGE sql SECURITY DEFINER
  AS $$ SELECT string_agg(cpr, ',' ORDER BY created_at) FROM regress_mask.customer $$;
ALTER FUNCTION regress_mask_r.via_plain() OWNER TO regress_mask_plain;
SELECT regress_mask_r.via_plain();
-- ... nor through a view it hands to that role
CREATE VIEW regress_mask_r.plain_v AS SELECT cpr, created_at FROM regress_mask.customer;
ALTER VIEW regress_mask_r.plain_v OWNER TO regress_mask_plain;
SELECT cpr FROM regress_mask_r.plain_v ORDER BY created_at LIMIT 1;
-- ... nor through a materialized view of that role's, which REFRESH fills
-- as that role (in a security-restricted operation)
SET ROLE regress_mask_plain;
CREATE MATERIALIZED VIEW regress_mask_r.plain_mv AS SELECT cpr, created_at FROM regress_mask.customer WITH NO DATA;
RESET ROLE;
REFRESH MATERIALIZED VIEW regress_mask_r.plain_mv;
SELECT cpr FROM regress_mask_r.plain_mv ORDER BY created_at LIMIT 1;
-- Its own search_path changes nothing: look-alike mask functions first
CREATE FUNCTION regress_mask_r.mask_name(text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN RAISE NOTICE 'hijacked mask_name: %', $1; RETURN $1; END $$;
CREATE FUNCTION regress_mask_r.mask_email(text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN RAISE NOTICE 'hijacked mask_email: %', $1; RETURN $1; END $$;
CREATE FUNCTION regress_mask_r.mask_address(text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN RAISE NOTICE 'hijacked mask_address: %', $1; RETURN $1; END $$;
CREATE FUNCTION regress_mask_r.mask_account(text, integer DEFAULT 4) RETURNS text LANGUAGE plpgsql AS $$
BEGIN RAISE NOTICE 'hijacked mask_account: %', $1; RETURN $1; END $$;
CREATE FUNCTION regress_mask_r.mask_msisdn(text, integer DEFAULT 4) RETURNS text LANGUAGE plpgsql AS $$
BEGIN RAISE NOTICE 'hijacked mask_msisdn: %', $1; RETURN $1; END $$;
CREATE FUNCTION regress_mask_r.split_part(text, text, integer) RETURNS text LANGUAGE plpgsql AS $$
BEGIN RAISE NOTICE 'hijacked split_part: %', $1; RETURN $1; END $$;
CREATE FUNCTION regress_mask_r.coalesce_text(text, text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN RAISE NOTICE 'hijacked ||: %', $1; RETURN $1; END $$;
CREATE OPERATOR regress_mask_r.|| (LEFTARG = text, RIGHTARG = text, FUNCTION = regress_mask_r.coalesce_text);
SET search_path = regress_mask_r, privacy, privacy_internal, pg_catalog;
SELECT name, email, phone, street, account, cpr FROM regress_mask.customer ORDER BY created_at LIMIT 2;
RESET search_path;
RESET SESSION AUTHORIZATION;
-- A member inheriting a masked group is masked; so is the group after SET ROLE.
SET SESSION AUTHORIZATION regress_mask_member;
SELECT name, cpr FROM regress_mask.customer ORDER BY created_at LIMIT 1;
SET ROLE regress_mask_group;
SELECT name, cpr FROM regress_mask.customer ORDER BY created_at LIMIT 1;
RESET SESSION AUTHORIZATION;
SET ROLE regress_mask_group;
SELECT name, cpr FROM regress_mask.customer ORDER BY created_at LIMIT 1;
RESET ROLE;
-- A masked login stays masked in the owner's SECURITY DEFINER functions,
-- also where the superuser's call left a plan made for the owner.
GRANT EXECUTE ON FUNCTION regress_mask.lookup_email(text), regress_mask.first_cpr(),
                          regress_mask.first_cpr_api() TO regress_mask_reader;
SELECT regress_mask.lookup_email('C-1001') AS superuser_via_definer, regress_mask.first_cpr_api() AS superuser_plpgsql;
SET SESSION AUTHORIZATION regress_mask_reader;
SELECT regress_mask.lookup_email('C-1001') AS via_owner_definer, regress_mask.first_cpr_api() AS via_owner_plpgsql;
RESET SESSION AUTHORIZATION;
-- An unmasked login acting as the masked role (SET ROLE) reads as the owner
-- inside the owner's function; a plan made there is not reused outside it,
-- nor the other way round.
SET ROLE regress_mask_reader;
SELECT regress_mask.first_cpr_api() AS definer_first, regress_mask.first_cpr() AS invoker_after;
SELECT regress_mask.first_cpr() AS invoker_first, regress_mask.first_cpr_api() AS definer_after;
RESET ROLE;
-- A plan prepared by the unmasked superuser is not reused by the reader.
PREPARE su_cpr AS SELECT cpr FROM regress_mask.customer ORDER BY created_at LIMIT 1;
EXECUTE su_cpr;
SET SESSION AUTHORIZATION regress_mask_reader;
EXECUTE su_cpr;
RESET SESSION AUTHORIZATION;
EXECUTE su_cpr;
DEALLOCATE su_cpr;
-- A backend serving several logins in turn (SET SESSION AUTHORIZATION, as
-- a pooler may run it): a plan made for regress_mask_plain under an
-- unmasked login is not reused by the masked login as regress_mask_plain.
SET ROLE regress_mask_plain;
PREPARE plain_cpr AS SELECT cpr FROM regress_mask.customer ORDER BY created_at LIMIT 1;
EXECUTE plain_cpr;
RESET ROLE;
SET SESSION AUTHORIZATION regress_mask_reader;
SET ROLE regress_mask_plain;
EXECUTE plain_cpr;
RESET SESSION AUTHORIZATION;
DEALLOCATE plain_cpr;
-- The foreign-key actions PostgreSQL runs as the owner of a referencing
-- table (a table of regress_mask_plain's here, made by the masked login):
-- a trigger of that owner's that they fire reads masked too.
SET ROLE regress_mask_owner;
GRANT REFERENCES (created_at) ON regress_mask.customer TO regress_mask_plain;
RESET ROLE;
SET SESSION AUTHORIZATION regress_mask_reader;
GRANT USAGE ON SCHEMA regress_mask_r TO regress_mask_plain;
SET ROLE regress_mask_plain;
CREATE TABLE regress_mask_r.follow (created_at timestamptz REFERENCES regress_mask.customer (created_at) ON UPDATE CASCADE);
CREATE FUNCTION regress_mask_r.peek() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE NOTICE 'peek: %', (SELECT string_agg(cpr, ',' ORDER BY created_at) FROM regress_mask.customer);
  RETURN NEW;
END $$;
CREATE TRIGGER peek BEFORE UPDATE ON regress_mask_r.follow FOR EACH ROW EXECUTE FUNCTION regress_mask_r.peek();
-- (the foreign-key check itself finds the customer by its real key)
INSERT INTO regress_mask_r.follow VALUES ('2026-01-01 10:00+01');
RESET ROLE;
BEGIN;
UPDATE regress_mask.customer SET created_at = created_at + interval '1 second' WHERE created_at = '2026-01-01 10:00+01';
ROLLBACK;
RESET SESSION AUTHORIZATION;
-- REFERENCES lets a role's own code (the casts and operators of the
-- referencing column's type) run inside the foreign-key check as the
-- table's owner: health() says so, and mask_role refuses such a role.
SELECT status, detail FROM privacy.health() WHERE area = 'masking';
SELECT pg_temp.refusal($$SELECT privacy.mask_role('regress_mask_reader')$$);
SET ROLE regress_mask_owner;
REVOKE REFERENCES (created_at) ON regress_mask.customer FROM regress_mask_plain;
RESET ROLE;
-- A GRANT after mask_role that breaks its conditions shows in health().
GRANT TRIGGER ON regress_mask.ticket TO regress_mask_reader;
SELECT status, detail FROM privacy.health() WHERE area = 'masking';
REVOKE TRIGGER ON regress_mask.ticket FROM regress_mask_reader;
SELECT status, detail FROM privacy.health() WHERE area = 'masking';

------------------------------------------------------------------------
-- 9. No pseudonym of a guess: the keyed functions refuse direct calls
------------------------------------------------------------------------
SET SESSION AUTHORIZATION regress_mask_reader;
SELECT p.oid::regprocedure AS keyed_function, has_function_privilege(p.oid, 'EXECUTE') AS executable
  FROM pg_proc p
 WHERE p.pronamespace = 'privacy_internal'::regnamespace AND p.proname = '_mask_pseudonym'
 ORDER BY p.oid::regprocedure::text;
DO $$
DECLARE f regprocedure; r text;
BEGIN
  FOR f IN SELECT p.oid FROM pg_proc p
            WHERE p.pronamespace = 'privacy_internal'::regnamespace AND p.proname = '_mask_pseudonym'
            ORDER BY p.oid::regprocedure::text LOOP
    BEGIN
      EXECUTE format('SELECT %s(%L::%s)::text', f::oid::regproc, '1001',
                     format_type((SELECT proargtypes[0] FROM pg_proc WHERE oid = f), NULL)) INTO r;
      RAISE NOTICE '%: accepted', f;
    EXCEPTION WHEN OTHERS THEN
      RAISE NOTICE '%: %', f, SQLSTATE;
    END;
  END LOOP;
END $$;
-- ... nor wrapped: in a function, an operator, a view's expression
CREATE FUNCTION regress_mask_r.guess(text) RETURNS text LANGUAGE sql
  AS $$ SELECT privacy_internal._mask_pseudonym($1) $$;
SELECT pg_temp.refusal($$SELECT regress_mask_r.guess('C-1001')$$);
CREATE OPERATOR regress_mask_r.### (RIGHTARG = text, FUNCTION = privacy_internal._mask_pseudonym);
SELECT pg_temp.refusal($$SELECT OPERATOR(regress_mask_r.###) 'C-1001'$$);
CREATE VIEW regress_mask_r.guesses AS SELECT privacy_internal._mask_pseudonym(v) AS p FROM (VALUES ('C-1001')) g(v);
SELECT pg_temp.refusal($$SELECT p FROM regress_mask_r.guesses$$);
-- ... and the keyed functions of pg_privacy's API are not the reader's
SELECT pg_temp.refusal($$SELECT privacy.pseudonymize('C-1001')$$);
RESET SESSION AUTHORIZATION;
-- not even the superuser calls them directly
DO $$
DECLARE f regprocedure; r text;
BEGIN
  FOR f IN SELECT p.oid FROM pg_proc p
            WHERE p.pronamespace = 'privacy_internal'::regnamespace AND p.proname = '_mask_pseudonym'
            ORDER BY p.oid::regprocedure::text LOOP
    BEGIN
      EXECUTE format('SELECT %s(%L::%s)::text', f::oid::regproc, '1001',
                     format_type((SELECT proargtypes[0] FROM pg_proc WHERE oid = f), NULL)) INTO r;
      RAISE NOTICE '%: accepted', f;
    EXCEPTION WHEN OTHERS THEN
      RAISE NOTICE '%: %', f, SQLSTATE;
    END;
  END LOOP;
END $$;

------------------------------------------------------------------------
-- 10. privacy_by_default
------------------------------------------------------------------------
SELECT privacy.mask_role('regress_mask_reader', privacy_by_default => true);
SELECT role, privacy_by_default FROM privacy.masked_role WHERE role = 'regress_mask_reader'::regrole;
SET SESSION AUTHORIZATION regress_mask_reader;
-- undeclared columns read NULL (0 for a NOT NULL number); declared ones by their rule
SELECT name, cpr, city, created_at FROM regress_mask.customer ORDER BY city COLLATE "C", name COLLATE "C";
SELECT id, amount FROM regress_mask.orders ORDER BY amount;
SELECT id, opened, body, phone FROM regress_mask.ticket ORDER BY phone;
SELECT msisdn, started_at, duration FROM regress_mask.calls ORDER BY started_at;
-- a table that is not registered is unchanged
SELECT name, email, cpr FROM regress_mask_r.customer;
RESET SESSION AUTHORIZATION;
SELECT privacy.mask_role('regress_mask_reader', false);
SET SESSION AUTHORIZATION regress_mask_reader;
SELECT name, created_at FROM regress_mask.customer ORDER BY created_at LIMIT 1;
RESET SESSION AUTHORIZATION;

------------------------------------------------------------------------
-- 11. set_mask: one column's own rule
------------------------------------------------------------------------
GRANT EXECUTE ON FUNCTION privacy.set_mask(regclass, name, text) TO regress_mask_owner, regress_mask_reader;
SET ROLE regress_mask_owner;
SELECT privacy.set_mask('regress_mask.customer', 'email', $$split_part(email, '@', 2)$$);
SELECT privacy.set_mask('regress_mask.customer', 'cpr', $$left(cpr, 4) || '-XXXX'$$);
SELECT privacy.set_mask('regress_mask.customer', 'note', $$CASE WHEN note = 'VIP' THEN 'V' END$$);
SELECT privacy.set_mask('regress_mask.customer', 'device_id', 'device_id / 100');
-- an untyped NULL is assignable to any column (here a NOT NULL smallint: 0)
SELECT privacy.set_mask('regress_mask.customer', 'segment', 'NULL');
RESET ROLE;
SELECT column_name, category, rule, expression FROM privacy.column_masks
 WHERE table_name = 'regress_mask.customer'::regclass ORDER BY column_name;
SET SESSION AUTHORIZATION regress_mask_reader;
SELECT name, email, cpr, note, device_id, segment FROM regress_mask.customer ORDER BY created_at;
-- the expression is parsed under a search_path of pg_catalog only: the
-- reader's look-alikes of split_part, left and || first in its own
-- search_path change nothing
CREATE FUNCTION regress_mask_r.left(text, integer) RETURNS text LANGUAGE plpgsql AS $$
BEGIN RAISE NOTICE 'hijacked left: %', $1; RETURN $1; END $$;
SET search_path = regress_mask_r, pg_catalog;
SELECT email, cpr FROM regress_mask.customer ORDER BY created_at LIMIT 2;
RESET search_path;
-- the reader cannot set a table's masks, not even to the identity
SELECT pg_temp.refusal($$SELECT privacy.set_mask('regress_mask.customer', 'cpr', 'cpr')$$);
SELECT pg_temp.refusal($$SELECT privacy.set_mask('regress_mask.customer', 'cpr', NULL)$$);
RESET SESSION AUTHORIZATION;
-- errors
SET ROLE regress_mask_owner;
SELECT pg_temp.refusal($$SELECT privacy.set_mask('regress_mask.customer', 'created_at', 'NULL')$$);
SELECT pg_temp.refusal($$SELECT privacy.set_mask('regress_mask.customer', 'no_such_column', 'NULL')$$);
SELECT pg_temp.refusal($$SELECT privacy.set_mask('regress_mask.customer', 'email', '(SELECT max(email) FROM regress_mask.customer)')$$);
SELECT pg_temp.refusal($$SELECT privacy.set_mask('regress_mask.customer', 'email', 'email || (SELECT ''x'')')$$);
SELECT pg_temp.refusal($$SELECT privacy.set_mask('regress_mask.customer', 'email', 'CASE WHEN EXISTS (SELECT 1) THEN email END')$$);
SELECT pg_temp.refusal($$SELECT privacy.set_mask('regress_mask.customer', 'email', 'max(email)')$$);
SELECT pg_temp.refusal($$SELECT privacy.set_mask('regress_mask.customer', 'email', 'row_number() OVER ()')$$);
SELECT pg_temp.refusal($$SELECT privacy.set_mask('regress_mask.customer', 'email', 'regexp_split_to_table(email, ''@'')')$$);
SELECT pg_temp.refusal($$SELECT privacy.set_mask('regress_mask.customer', 'email', 'orders.id::text')$$);
SELECT pg_temp.refusal($$SELECT privacy.set_mask('regress_mask.customer', 'email', 'no_such_column')$$);
SELECT pg_temp.refusal($$SELECT privacy.set_mask('regress_mask.customer', 'device_id', 'now()')$$);
SELECT pg_temp.refusal($$SELECT privacy.set_mask('regress_mask.customer', 'device_id', 'email')$$);
SELECT pg_temp.refusal($$SELECT privacy.set_mask('regress_mask.customer', 'email', 'lower(')$$);
SELECT pg_temp.refusal($$SELECT privacy.set_mask('regress_mask.customer', 'email', 'email); DROP TABLE regress_mask.orders; --')$$);
SELECT pg_temp.refusal($$SELECT privacy.set_mask('regress_mask.customer', 'email', 'email FROM regress_mask.orders')$$);
SELECT pg_temp.refusal($$SELECT privacy.set_mask(NULL, 'email', 'NULL')$$);
SELECT pg_temp.refusal($$SELECT privacy.set_mask('regress_mask.customer', NULL, 'NULL')$$);
SELECT pg_temp.refusal($$SELECT privacy.set_mask('regress_mask_r.customer', 'email', 'NULL')$$);
-- back to the category rule
SELECT privacy.set_mask('regress_mask.customer', 'email', NULL);
SELECT privacy.set_mask('regress_mask.customer', 'cpr', NULL);
SELECT privacy.set_mask('regress_mask.customer', 'note', NULL);
SELECT privacy.set_mask('regress_mask.customer', 'device_id', NULL);
SELECT privacy.set_mask('regress_mask.customer', 'segment', NULL);
RESET ROLE;
SELECT column_name, rule, expression FROM privacy.column_masks
 WHERE table_name = 'regress_mask.customer'::regclass AND rule = 'custom';
SET SESSION AUTHORIZATION regress_mask_reader;
SELECT name, email, cpr, note, segment FROM regress_mask.customer ORDER BY created_at LIMIT 2;
RESET SESSION AUTHORIZATION;
SELECT event, object FROM privacy.audit_log WHERE event LIKE 'mask.%' AND object LIKE 'regress_mask.%' ORDER BY id;

------------------------------------------------------------------------
-- 11b. The masked role's code in other statements
------------------------------------------------------------------------
-- A rule and a view the masked role owns read as the role, masked, for
-- whoever uses them: an unmasked role firing the rule, or reading the
-- view, copies masked values only.
CREATE ROLE regress_mask_victim;
SET SESSION AUTHORIZATION regress_mask_reader;
CREATE TABLE regress_mask_r.inbox (x int);
CREATE TABLE regress_mask_r.loot (v text);
CREATE RULE grab AS ON INSERT TO regress_mask_r.inbox DO ALSO
  INSERT INTO regress_mask_r.loot SELECT coalesce(cpr, '-') || ' ' || email FROM regress_mask.customer;
CREATE VIEW regress_mask_r.lure AS SELECT cpr, email FROM regress_mask.customer;
GRANT USAGE ON SCHEMA regress_mask_r TO regress_mask_victim;
GRANT INSERT ON regress_mask_r.inbox TO regress_mask_victim;
GRANT SELECT ON regress_mask_r.lure TO regress_mask_victim;
RESET SESSION AUTHORIZATION;
SET SESSION AUTHORIZATION regress_mask_victim;
INSERT INTO regress_mask_r.inbox VALUES (1);
SELECT count(*) FILTER (WHERE cpr ~ '[0-9]{6}') AS raw_cpr, count(*) FILTER (WHERE email ~ '^[^*]+@') AS raw_email,
       count(*) AS seen
  FROM regress_mask_r.lure;
RESET SESSION AUTHORIZATION;
SELECT count(*) FILTER (WHERE v ~ '[0-9]{10}' OR v ~ '^[^*]*@') AS raw_copied, count(*) AS copied FROM regress_mask_r.loot;
-- The role's own code inside a foreign-key check (the cast of its type to
-- the key's type) runs as the referenced table's owner, in the masked
-- session: it reads masked, and the check finds no customer by a raw key.
SET ROLE regress_mask_owner;
GRANT REFERENCES ON regress_mask.customer TO regress_mask_plain;
RESET ROLE;
SET SESSION AUTHORIZATION regress_mask_reader;
SET ROLE regress_mask_plain;
CREATE TYPE regress_mask_r.ct AS (v text);
CREATE FUNCTION regress_mask_r.ct2text(regress_mask_r.ct) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
  RAISE NOTICE 'inside the check: %', (SELECT string_agg(coalesce(cpr, '-') || ' ' || name, ', ' ORDER BY created_at)
                                         FROM regress_mask.customer);
  RETURN $1.v;
END $$;
CREATE CAST (regress_mask_r.ct AS text) WITH FUNCTION regress_mask_r.ct2text(regress_mask_r.ct) AS IMPLICIT;
CREATE TABLE regress_mask_r.fk2 (c regress_mask_r.ct REFERENCES regress_mask.customer (customer_no));
SELECT pg_temp.refusal($$INSERT INTO regress_mask_r.fk2 VALUES (ROW('C-1001'))$$);
RESET ROLE;
RESET SESSION AUTHORIZATION;
SET ROLE regress_mask_owner;
REVOKE REFERENCES ON regress_mask.customer FROM regress_mask_plain;
RESET ROLE;
-- Writes by the masked role are refused whatever they read: a failing
-- row's DETAIL would list the row in clear, an ON CONFLICT ON CONSTRAINT
-- or a unique check would say whether a raw value exists.
SET SESSION AUTHORIZATION regress_mask_reader;
SELECT pg_temp.refusal($$UPDATE regress_mask.customer SET customer_no = NULL WHERE city = 'Oslo'$$);
SELECT pg_temp.refusal($$INSERT INTO regress_mask.customer (id, customer_no, name, street) VALUES (1999, 'C-1001', 'x', 'x')
                         ON CONFLICT ON CONSTRAINT customer_customer_no_key DO NOTHING$$);
SELECT pg_temp.refusal($$COPY regress_mask.customer (id, customer_no, name, street) FROM '/nonexistent'$$);
RESET SESSION AUTHORIZATION;

------------------------------------------------------------------------
-- 11c. Row-level security, domains, TABLESAMPLE, inheritance
------------------------------------------------------------------------
CREATE SCHEMA regress_mask_x AUTHORIZATION regress_mask_owner;
GRANT USAGE ON SCHEMA regress_mask_x TO regress_mask_plain;
SET ROLE regress_mask_owner;
CREATE DOMAIN regress_mask_x.long_name AS text NOT NULL CHECK (length(VALUE) > 9);
CREATE TABLE regress_mask_x.person (id int PRIMARY KEY, name regress_mask_x.long_name, cpr text, owner name);
INSERT INTO regress_mask_x.person VALUES (1, 'Karen Knudsen', '0101701234', 'regress_mask_reader'),
                                         (2, 'Jakob Jensen', '0202802345', 'regress_mask_reader');
CREATE TABLE regress_mask_x.blocked (cpr text);
INSERT INTO regress_mask_x.blocked VALUES ('0202802345');
-- a deny-list policy whose subquery reads another registered table
ALTER TABLE regress_mask_x.person ENABLE ROW LEVEL SECURITY;
CREATE POLICY not_blocked ON regress_mask_x.person
  USING (NOT EXISTS (SELECT 1 FROM regress_mask_x.blocked b WHERE b.cpr = person.cpr));
GRANT SELECT ON regress_mask_x.person, regress_mask_x.blocked TO regress_mask_plain;
CREATE TABLE regress_mask_x.parent (id int, secret text);
CREATE TABLE regress_mask_x.child () INHERITS (regress_mask_x.parent);
INSERT INTO regress_mask_x.child VALUES (1, 'rawsecret');
GRANT SELECT ON regress_mask_x.parent, regress_mask_x.child TO regress_mask_plain;
RESET ROLE;
SELECT privacy.register_table(t, 'regress_mask')
  FROM unnest(ARRAY['regress_mask_x.person', 'regress_mask_x.blocked', 'regress_mask_x.child']::regclass[]) t;
SELECT privacy.register_column('regress_mask_x.person', 'name', 'name');
SELECT privacy.register_column('regress_mask_x.person', 'cpr', 'national_id');
SELECT privacy.register_column('regress_mask_x.blocked', 'cpr', 'national_id');
SELECT privacy.register_column('regress_mask_x.child', 'secret', 'national_id');
SET SESSION AUTHORIZATION regress_mask_reader;
-- the policy filters on the raw values, as for anyone: one row, not two
SELECT id, name, cpr FROM regress_mask_x.person ORDER BY id;
-- a domain's CHECK and NOT NULL are not run on the mask: 'K. K.' is read
SELECT pg_typeof(name) AS type, name FROM regress_mask_x.person;
-- TABLESAMPLE by a column of an outer query: refused, not a crash
SELECT pg_temp.refusal($$SELECT (SELECT count(*) FROM regress_mask_x.person TABLESAMPLE bernoulli (x.p))
                           FROM (VALUES (100.0::float4)) x(p)$$);
SELECT count(*) AS sampled FROM regress_mask_x.person TABLESAMPLE bernoulli (100);
-- a registered child read through its unregistered parent: masked (the
-- planner expands the parent after the masks): refused, never raw
SELECT pg_temp.refusal($$SELECT secret FROM regress_mask_x.parent$$);
SELECT secret FROM regress_mask_x.child;
RESET SESSION AUTHORIZATION;
-- with a volatile mask of its own and the policy's subquery, still one row
SELECT privacy.set_mask('regress_mask_x.person', 'cpr', $$left(md5(random()::text), 0)$$);
SET SESSION AUTHORIZATION regress_mask_reader;
SELECT id, cpr FROM regress_mask_x.person;
RESET SESSION AUTHORIZATION;
-- ... but a policy the masked role wrote, on a table of its own or of a
-- role it can SET ROLE to, is the role's read: masked, no oracle on raw values
SET SESSION AUTHORIZATION regress_mask_reader;
CREATE TABLE regress_mask_r.guess (g text);
INSERT INTO regress_mask_r.guess VALUES ('jens.hansen@firma.dk'), ('nobody@nowhere.dk');
ALTER TABLE regress_mask_r.guess ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY oracle ON regress_mask_r.guess
  USING (EXISTS (SELECT 1 FROM regress_mask.customer c WHERE c.email = guess.g));
SELECT count(*) AS guesses_confirmed FROM regress_mask_r.guess;
SET ROLE regress_mask_plain;
CREATE TABLE regress_mask_r.guess2 (g text);
INSERT INTO regress_mask_r.guess2 VALUES ('jens.hansen@firma.dk');
ALTER TABLE regress_mask_r.guess2 ENABLE ROW LEVEL SECURITY, FORCE ROW LEVEL SECURITY;
CREATE POLICY oracle ON regress_mask_r.guess2
  USING (EXISTS (SELECT 1 FROM regress_mask.customer c WHERE c.email = guess2.g));
SELECT count(*) AS guesses_confirmed_as_member FROM regress_mask_r.guess2;
RESET ROLE;
RESET SESSION AUTHORIZATION;
-- a registered table with nothing to mask (traffic data only, and a
-- dropped column) is not masked: the masked role reads and writes it
SET ROLE regress_mask_owner;
CREATE TABLE regress_mask_x.usage (gone int, minutes int);
ALTER TABLE regress_mask_x.usage DROP COLUMN gone;
GRANT SELECT, INSERT ON regress_mask_x.usage TO regress_mask_plain;
RESET ROLE;
SELECT privacy.register_table('regress_mask_x.usage', 'regress_mask');
SELECT privacy.register_column('regress_mask_x.usage', 'minutes', 'traffic');
SET SESSION AUTHORIZATION regress_mask_reader;
INSERT INTO regress_mask_x.usage VALUES (42);
SELECT u FROM regress_mask_x.usage u;
RESET SESSION AUTHORIZATION;
SELECT privacy.unregister_table(t)
  FROM unnest(ARRAY['regress_mask_x.person', 'regress_mask_x.blocked', 'regress_mask_x.child',
                    'regress_mask_x.usage']::regclass[]) t;
DROP SCHEMA regress_mask_x CASCADE;

------------------------------------------------------------------------
-- 12. unmask_role: raw again, and no masked plan is reused either
------------------------------------------------------------------------
SET SESSION AUTHORIZATION regress_mask_reader;
EXECUTE p;
RESET SESSION AUTHORIZATION;
SELECT privacy.unmask_role('regress_mask_reader') AS was_masked;
SELECT privacy.unmask_role('regress_mask_reader') AS was_masked_again;
SET SESSION AUTHORIZATION regress_mask_reader;
EXECUTE p;
EXECUTE reader_cpr('Oslo');
SELECT regress_mask_r.first_email();
RESET SESSION AUTHORIZATION;
SELECT actor, role, event, object, detail FROM privacy.audit_log WHERE event LIKE 'mask.%' AND object LIKE 'regress\_mask%' ORDER BY id;

-- Clean up
DEALLOCATE ALL;
RESET plan_cache_mode;
SELECT privacy.unmask_role('regress_mask_group') AS group_was_masked;
-- (whatever else a failed refusal above may have masked)
SELECT count(*) FILTER (WHERE NOT privacy.unmask_role(role::text)) AS not_unmasked
  FROM privacy.masked_role WHERE role::text LIKE 'regress\_mask%';
SELECT count(*) AS masked_left FROM privacy.masked_role;
SET client_min_messages = warning;
DROP SCHEMA regress_mask_r CASCADE;
DROP SCHEMA regress_mask CASCADE;
RESET client_min_messages;
SELECT count(*) AS declarations_left FROM privacy.registered_table WHERE tbl::text LIKE 'regress\_mask%';
DELETE FROM privacy.category WHERE name = 'regress_mask_cat';
SELECT privacy.drop_purpose('regress_mask');
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA privacy FROM regress_mask_owner, regress_mask_reader;
DROP ROLE regress_mask_member, regress_mask_group, regress_mask_reader, regress_mask_plain, regress_mask_deputy,
          regress_mask_owner, regress_mask_super, regress_mask_repl, regress_mask_indirect, regress_mask_files,
          regress_mask_writer, regress_mask_program, regress_mask_noinherit, regress_mask_trigger, regress_mask_admin,
          regress_mask_victim;
