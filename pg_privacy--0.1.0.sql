-- pg_privacy install script, assembled by the Makefile from src/sql/*.sql
-- in file-name order.  This part: the schema and internal helpers.

\echo Use "CREATE EXTENSION pg_privacy" to load this file. \quit

COMMENT ON SCHEMA privacy IS
  'pg_privacy: personal-data catalog, keyed pseudonymization, retention, consent and data-subject rights';

-- Everyone may look up names in the schema; what each function or relation
-- allows is granted one by one at the end of the script.
GRANT USAGE ON SCHEMA privacy TO PUBLIC;

-- The role on whose behalf a statement runs, even inside SECURITY DEFINER
-- functions (the role set by SET ROLE, else the session user).
CREATE FUNCTION privacy._invoker() RETURNS name
  LANGUAGE c STABLE STRICT PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_invoker';
COMMENT ON FUNCTION privacy._invoker() IS
  'internal: the role on whose behalf the current statement runs';

-- Raise an error unless the invoking role owns (is a member of the owner
-- of) the relation.  Catalog functions run as the extension owner, so they
-- check the caller's right to act on a table themselves.
CREATE FUNCTION privacy._check_owner(tbl regclass) RETURNS void
  LANGUAGE plpgsql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  owner oid;
BEGIN
  SELECT c.relowner INTO owner FROM pg_catalog.pg_class c
   WHERE c.oid OPERATOR(pg_catalog.=) tbl;
  IF NOT pg_catalog.pg_has_role(privacy._invoker(), owner, 'MEMBER') THEN
    RAISE EXCEPTION 'must be owner of table %', tbl
      USING ERRCODE = '42501';
  END IF;
END
$$;

-- Make every backend drop its cached protect-trigger state of a table (and
-- its partitions) at commit; called when a declaration changes.
CREATE FUNCTION privacy._invalidate(tbl regclass) RETURNS void
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_invalidate';
-- Keys.  The master key is read by the C library from the file named by
-- pg_privacy.key_file; nothing here stores, takes or returns key material.

CREATE FUNCTION privacy.key_fingerprint() RETURNS text
  LANGUAGE c VOLATILE STRICT PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_key_fingerprint';
COMMENT ON FUNCTION privacy.key_fingerprint() IS
  'identifies the loaded master key without revealing it (equal fingerprints pseudonymize alike)';
-- The audit log: append-only and hash-chained.
--
-- Every privacy operation (catalog changes, and in later parts purges,
-- exports, erasures, restrictions, consent changes, re-identifications)
-- appends one entry through privacy._audit().  Each entry's hash covers the
-- previous entry's hash and every field of its own, so an entry changed,
-- removed or inserted behind the extension's back breaks the chain, which
-- privacy.verify_audit_log() reports.  Entries never hold a raw identifier:
-- subjects are referred to by keyed pseudonyms.

CREATE SEQUENCE privacy.audit_log_id_seq;

CREATE TABLE privacy.audit_log (
  id         bigint      PRIMARY KEY,
  at         timestamptz NOT NULL,
  actor      name        NOT NULL,   -- session (login) user
  role       name        NOT NULL,   -- role the statement ran as (SET ROLE)
  event      text        NOT NULL,   -- e.g. 'catalog.register_column'
  object     text,                   -- e.g. the table concerned
  detail     jsonb       NOT NULL DEFAULT '{}',
  prev_hash  bytea       NOT NULL,
  hash       bytea       NOT NULL
);
COMMENT ON TABLE privacy.audit_log IS
  'pg_privacy audit trail: append-only, hash-chained; never holds a raw identifier';

-- The head of the chain: one row, locked by each writer, so entries are
-- chained in commit order and a removed last entry is still detected.
CREATE TABLE privacy.audit_head (
  singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  last_id    bigint  NOT NULL,
  last_hash  bytea   NOT NULL
);
COMMENT ON TABLE privacy.audit_head IS
  'pg_privacy: the id and hash of the newest audit entry';

SELECT pg_catalog.pg_extension_config_dump('privacy.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.audit_log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.audit_head', '');

-- The hash of one entry: SHA-256 over the previous hash and each field,
-- every field length-prefixed so that no two entries serialize alike.
-- Time is taken as microseconds since the epoch, independent of settings.
CREATE FUNCTION privacy._audit_digest(prev bytea, id bigint, at timestamptz,
                                      actor name, role name, event text,
                                      object text, detail jsonb)
  RETURNS bytea
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT pg_catalog.sha256(
    prev OPERATOR(pg_catalog.||) pg_catalog.convert_to(
      pg_catalog.concat_ws(
        '|',
        id::text,
        (EXTRACT(epoch FROM at) OPERATOR(pg_catalog.*) 1000000)::bigint::text,
        pg_catalog.length(actor::text) || ':' || actor::text,
        pg_catalog.length(role::text) || ':' || role::text,
        pg_catalog.length(event) || ':' || event,
        CASE WHEN object IS NULL THEN '-'
             ELSE pg_catalog.length(object) || ':' || object END,
        pg_catalog.length(detail::text) || ':' || detail::text),
      'UTF8'))
$$;
COMMENT ON FUNCTION privacy._audit_digest(bytea, bigint, timestamptz, name, name, text, text, jsonb) IS
  'internal: hash of one audit entry chained to the previous one';

-- Append one entry.  Internal: called by the extension's own functions.
CREATE FUNCTION privacy._audit(event text, object text DEFAULT NULL,
                               detail jsonb DEFAULT '{}')
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  prev   bytea;
  new_id bigint;
  ts     timestamptz := pg_catalog.clock_timestamp();
  who    name := pg_catalog.session_user();
  as_role name := privacy._invoker();
  h      bytea;
BEGIN
  IF event IS NULL THEN
    RAISE EXCEPTION 'audit event must not be null' USING ERRCODE = '22004';
  END IF;
  detail := COALESCE(detail, '{}'::jsonb);
  -- Lock the head: writers queue here, and under REPEATABLE READ a
  -- concurrent append raises a serialization failure instead of forking
  -- the chain.
  SELECT h0.last_hash INTO prev FROM privacy.audit_head h0 FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO privacy.audit_head VALUES (true, 0, '\x'::bytea)
      ON CONFLICT DO NOTHING;
    SELECT h0.last_hash INTO prev FROM privacy.audit_head h0 FOR UPDATE;
  END IF;
  new_id := pg_catalog.nextval('privacy.audit_log_id_seq');
  h := privacy._audit_digest(prev, new_id, ts, who, as_role, event, object, detail);
  INSERT INTO privacy.audit_log (id, at, actor, role, event, object, detail, prev_hash, hash)
       VALUES (new_id, ts, who, as_role, event, object, detail, prev, h);
  UPDATE privacy.audit_head SET last_id = new_id, last_hash = h;
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION privacy._audit(text, text, jsonb) IS
  'internal: append one entry to the hash-chained audit log';

-- NULL when the chain is intact, else the id of the first entry that does
-- not verify (changed, or following a removed entry).  A removed or changed
-- newest entry is reported as the id the chain head names.
CREATE FUNCTION privacy.verify_audit_log() RETURNS bigint
  LANGUAGE plpgsql STABLE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r       record;
  prev    bytea := '\x'::bytea;
  last_id bigint := 0;
  head    record;
BEGIN
  FOR r IN SELECT * FROM privacy.audit_log ORDER BY id LOOP
    IF r.prev_hash OPERATOR(pg_catalog.<>) prev
       OR r.hash OPERATOR(pg_catalog.<>) privacy._audit_digest(
            r.prev_hash, r.id, r.at, r.actor, r.role, r.event, r.object, r.detail) THEN
      RETURN r.id;
    END IF;
    prev := r.hash;
    last_id := r.id;
  END LOOP;
  SELECT * INTO head FROM privacy.audit_head;
  IF FOUND AND (head.last_id OPERATOR(pg_catalog.<>) last_id
                OR head.last_hash OPERATOR(pg_catalog.<>) prev) THEN
    RETURN head.last_id;
  END IF;
  IF NOT FOUND AND last_id OPERATOR(pg_catalog.<>) 0 THEN
    RETURN last_id;
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION privacy.verify_audit_log() IS
  'NULL when the audit hash chain is intact, else the id of the first entry that does not verify';

-- Append-only: refuse UPDATE, DELETE and TRUNCATE to everyone, the table
-- owner included.  (A superuser can still disable the trigger; the hash
-- chain then shows what was done.)
CREATE FUNCTION privacy._audit_append_only() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RAISE EXCEPTION 'privacy.audit_log is append-only'
    USING ERRCODE = '42501',
          DETAIL = pg_catalog.format('%s is not allowed on the audit log.', TG_OP);
END
$$;

CREATE TRIGGER audit_log_append_only
  BEFORE UPDATE OR DELETE ON privacy.audit_log
  FOR EACH ROW EXECUTE FUNCTION privacy._audit_append_only();
CREATE TRIGGER audit_log_no_truncate
  BEFORE TRUNCATE ON privacy.audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION privacy._audit_append_only();
-- The personal-data catalog: purposes, registered tables and columns.
--
-- The catalog is the record of processing (GDPR Art. 30) and the map every
-- other part of pg_privacy follows: the protect trigger reads each column's
-- transformation from it, retention its policies, export and erasure the
-- identifier kinds and links.  Tables are referred to by regclass, which
-- follows renames and survives pg_dump/pg_restore; columns by name, kept
-- right across renames and drops by the event triggers below.

CREATE TABLE privacy.legal_basis (
  name        text PRIMARY KEY,
  article     text NOT NULL,
  description text NOT NULL
);
COMMENT ON TABLE privacy.legal_basis IS 'pg_privacy: the lawful bases of GDPR Art. 6(1)';
INSERT INTO privacy.legal_basis VALUES
  ('consent',             'GDPR Art. 6(1)(a)', 'the data subject has given consent for the purpose'),
  ('contract',            'GDPR Art. 6(1)(b)', 'necessary for a contract with the data subject'),
  ('legal_obligation',    'GDPR Art. 6(1)(c)', 'necessary for a legal obligation of the controller'),
  ('vital_interest',      'GDPR Art. 6(1)(d)', 'necessary to protect vital interests'),
  ('public_task',         'GDPR Art. 6(1)(e)', 'necessary for a task in the public interest'),
  ('legitimate_interest', 'GDPR Art. 6(1)(f)', 'necessary for legitimate interests of the controller');

CREATE TABLE privacy.category (
  name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]*$'),
  description text NOT NULL,
  special     boolean NOT NULL DEFAULT false,   -- GDPR Art. 9/10 data
  builtin     boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE privacy.category IS 'pg_privacy: categories of personal data';
INSERT INTO privacy.category (name, description, special, builtin) VALUES
  ('name',              'a person''s name', false, true),
  ('email',             'e-mail address', false, true),
  ('phone',             'telephone number (MSISDN), own or a counterparty''s', false, true),
  ('postal_address',    'street, postal code, town', false, true),
  ('company',           'company name (personal data for sole traders)', false, true),
  ('business_id',       'business registration number (CVR)', false, true),
  ('customer_number',   'customer or account number', false, true),
  ('bank_account',      'bank account for direct debit', false, true),
  ('national_id',       'national identity number (CPR)', false, true),
  ('traffic',           'traffic data: time, duration, price of a call or session', false, true),
  ('location',          'location data (country level)', false, true),
  ('online_identifier', 'IP address, IMSI, IMEI and similar', false, true),
  ('free_text',         'free text that may mention a person', false, true),
  ('other',             'other personal data', false, true);

-- Identifier kinds: how a data subject is reached, and how values of the
-- kind are normalized before they are compared.
CREATE TABLE privacy.identifier_kind (
  name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]*$'),
  normalize   text NOT NULL CHECK (normalize IN ('msisdn', 'email', 'text')),
  description text,
  builtin     boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE privacy.identifier_kind IS
  'pg_privacy: kinds of identifier a data subject is reached by';
INSERT INTO privacy.identifier_kind VALUES
  ('customer', 'text',   'customer number', true),
  ('msisdn',   'msisdn', 'telephone number, E.164', true),
  ('email',    'email',  'e-mail address', true),
  ('cvr',      'text',   'Danish business registration number', true);

CREATE TABLE privacy.purpose (
  name             text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]*$'),
  legal_basis      text NOT NULL REFERENCES privacy.legal_basis,
  requires_consent boolean NOT NULL DEFAULT false,
  description      text,
  recipients       text[] NOT NULL DEFAULT '{}',
  defined_at       timestamptz NOT NULL DEFAULT now(),
  CHECK (requires_consent = (legal_basis = 'consent'))
);
COMMENT ON TABLE privacy.purpose IS 'pg_privacy: purposes of processing and their legal basis';

CREATE TABLE privacy.registered_table (
  tbl           regclass PRIMARY KEY,
  purpose       text NOT NULL REFERENCES privacy.purpose ON UPDATE CASCADE,
  registered_at timestamptz NOT NULL DEFAULT now(),
  registered_by name NOT NULL DEFAULT current_user
);
COMMENT ON TABLE privacy.registered_table IS 'pg_privacy: tables holding personal data';

CREATE TABLE privacy.registered_column (
  tbl         regclass NOT NULL REFERENCES privacy.registered_table ON DELETE CASCADE,
  col         name NOT NULL,
  attnum      smallint NOT NULL,  -- kept current by _registered_column_attnum
  category    text NOT NULL REFERENCES privacy.category,
  identifies  text REFERENCES privacy.identifier_kind,
  link        text NOT NULL DEFAULT 'owner' CHECK (link IN ('owner', 'mention')),
  protect     text CHECK (protect IN ('pseudonym', 'msisdn_fpe', 'email_pseudonym', 'country', 'null')),
  domain      text NOT NULL DEFAULT 'default'
              CHECK (pg_catalog.octet_length(domain) BETWEEN 1 AND 200),
  PRIMARY KEY (tbl, col)
);
COMMENT ON TABLE privacy.registered_column IS 'pg_privacy: columns holding personal data';

-- Column-name patterns that look personal, for privacy.undeclared_columns.
CREATE TABLE privacy.name_pattern (
  pattern  text PRIMARY KEY,        -- case-insensitive POSIX regular expression
  category text NOT NULL REFERENCES privacy.category,
  builtin  boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE privacy.name_pattern IS
  'pg_privacy: column names that look personal (privacy.undeclared_columns)';
INSERT INTO privacy.name_pattern VALUES
  ('msisdn|phone|mobile|(^|_)tel(_|$)|telephone|(^|_)[ab]_?number$|caller|callee', 'phone', true),
  ('e_?mail', 'email', true),
  ('(^|_)((first|last|full|given|family|middle|sur|contact|person)_?)?name$', 'name', true),
  ('address|street|(^|_)addr|postal|(^|_)zip|postcode|(^|_)city$', 'postal_address', true),
  ('account|iban|(^|_)bic$|(^|_)reg_?no$', 'bank_account', true),
  ('(^|_)cpr|(^|_)ssn(_|$)|national_id|personnummer|birth|(^|_)dob$', 'national_id', true),
  ('(^|_)cvr|(^|_)vat_?(no|number|id)', 'business_id', true),
  ('ip_?addr|(^|_)imsi|(^|_)imei|mac_?addr', 'online_identifier', true),
  ('(^|_)company', 'company', true),
  ('customer_?(no|number|id)$', 'customer_number', true);

SELECT pg_catalog.pg_extension_config_dump('privacy.category', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('privacy.identifier_kind', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('privacy.name_pattern', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('privacy.purpose', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.registered_table', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.registered_column', '');

-- Keep registered_column.attnum matching the column name, also when rows
-- come back from a dump (attribute numbers can change across a restore).
CREATE FUNCTION privacy._registered_column_attnum() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  SELECT a.attnum INTO NEW.attnum FROM pg_catalog.pg_attribute a
   WHERE a.attrelid OPERATOR(pg_catalog.=) NEW.tbl
     AND a.attname OPERATOR(pg_catalog.=) NEW.col
     AND NOT a.attisdropped;
  IF NEW.attnum IS NULL THEN
    RAISE EXCEPTION 'column "%" of relation % does not exist', NEW.col, NEW.tbl
      USING ERRCODE = '42703';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER registered_column_attnum
  BEFORE INSERT OR UPDATE OF tbl, col ON privacy.registered_column
  FOR EACH ROW EXECUTE FUNCTION privacy._registered_column_attnum();

------------------------------------------------------------------------
-- Declaring purposes, tables and columns
------------------------------------------------------------------------

CREATE FUNCTION privacy.define_purpose(name text, legal_basis text,
                                       requires_consent boolean DEFAULT false,
                                       description text DEFAULT NULL,
                                       recipients text[] DEFAULT '{}')
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  old privacy.purpose;
  needs_consent boolean;
BEGIN
  IF name IS NULL OR legal_basis IS NULL THEN
    RAISE EXCEPTION 'purpose name and legal basis must not be null'
      USING ERRCODE = '22004';
  END IF;
  IF name !~ '^[a-z][a-z0-9_]*$' OR pg_catalog.length(name) > 63 THEN
    RAISE EXCEPTION 'invalid purpose name "%"', name
      USING ERRCODE = '22023',
            DETAIL = 'A purpose name is 1 to 63 lower-case letters, digits and underscores, starting with a letter.';
  END IF;
  IF NOT EXISTS (SELECT FROM privacy.legal_basis b WHERE b.name OPERATOR(pg_catalog.=) legal_basis) THEN
    RAISE EXCEPTION 'unknown legal basis "%"', legal_basis
      USING ERRCODE = '22023',
            HINT = 'Use one of: ' || (SELECT pg_catalog.string_agg(b.name, ', ' ORDER BY b.name)
                                        FROM privacy.legal_basis b) || '.';
  END IF;
  needs_consent := COALESCE(requires_consent, false)
                   OR legal_basis OPERATOR(pg_catalog.=) 'consent';
  IF needs_consent AND legal_basis OPERATOR(pg_catalog.<>) 'consent' THEN
    RAISE EXCEPTION 'a purpose that requires consent must have legal basis "consent"'
      USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('Purpose "%s" was given legal basis "%s".', name, legal_basis);
  END IF;
  IF recipients IS NULL OR pg_catalog.array_position(recipients, NULL) IS NOT NULL THEN
    RAISE EXCEPTION 'recipients must not be null or hold null elements'
      USING ERRCODE = '22004';
  END IF;

  SELECT * INTO old FROM privacy.purpose p WHERE p.name OPERATOR(pg_catalog.=) define_purpose.name
    FOR UPDATE;
  INSERT INTO privacy.purpose AS p (name, legal_basis, requires_consent, description, recipients)
       VALUES (name, legal_basis, needs_consent, description, recipients)
  ON CONFLICT ON CONSTRAINT purpose_pkey DO UPDATE
       SET legal_basis = EXCLUDED.legal_basis,
           requires_consent = EXCLUDED.requires_consent,
           description = EXCLUDED.description,
           recipients = EXCLUDED.recipients;
  PERFORM privacy._audit(
    CASE WHEN old.name IS NULL THEN 'catalog.define_purpose' ELSE 'catalog.redefine_purpose' END,
    name,
    pg_catalog.jsonb_build_object('legal_basis', legal_basis,
                                  'requires_consent', needs_consent,
                                  'recipients', pg_catalog.to_jsonb(recipients))
    OPERATOR(pg_catalog.||)
    CASE WHEN old.name IS NULL THEN '{}'::jsonb
         ELSE pg_catalog.jsonb_build_object('previous_legal_basis', old.legal_basis,
                                            'previous_recipients', pg_catalog.to_jsonb(old.recipients)) END);
END
$$;
COMMENT ON FUNCTION privacy.define_purpose(text, text, boolean, text, text[]) IS
  'define (or redefine) a purpose of processing with its legal basis and recipients';

CREATE FUNCTION privacy.drop_purpose(name text) RETURNS void
  LANGUAGE plpgsql VOLATILE STRICT
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF EXISTS (SELECT FROM privacy.registered_table t WHERE t.purpose OPERATOR(pg_catalog.=) name) THEN
    RAISE EXCEPTION 'purpose "%" is still in use', name
      USING ERRCODE = '2BP01',
            DETAIL = (SELECT pg_catalog.format('Registered tables: %s.', pg_catalog.string_agg(t.tbl::text, ', ' ORDER BY t.tbl::text))
                        FROM privacy.registered_table t WHERE t.purpose OPERATOR(pg_catalog.=) name),
            HINT = 'Give those tables another purpose with privacy.set_purpose() first.';
  END IF;
  DELETE FROM privacy.purpose p WHERE p.name OPERATOR(pg_catalog.=) drop_purpose.name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'purpose "%" does not exist', name USING ERRCODE = '22023';
  END IF;
  PERFORM privacy._audit('catalog.drop_purpose', name);
END
$$;
COMMENT ON FUNCTION privacy.drop_purpose(text) IS 'remove a purpose no table uses';

-- Raise 22023 unless the purpose exists.
CREATE FUNCTION privacy._check_purpose(purpose text) RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF purpose IS NULL THEN
    RAISE EXCEPTION 'purpose must not be null' USING ERRCODE = '22004';
  END IF;
  IF NOT EXISTS (SELECT FROM privacy.purpose p WHERE p.name OPERATOR(pg_catalog.=) purpose) THEN
    RAISE EXCEPTION 'purpose "%" does not exist', purpose
      USING ERRCODE = '22023',
            HINT = 'Define it first with privacy.define_purpose().';
  END IF;
END
$$;

CREATE FUNCTION privacy.register_table(tbl regclass, purpose text) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  rel record;
  parent regclass;
BEGIN
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'table must not be null' USING ERRCODE = '22004';
  END IF;
  SELECT c.relkind, c.relpersistence, c.relispartition, n.nspname
    INTO rel
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
   WHERE c.oid OPERATOR(pg_catalog.=) tbl;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'relation with OID % does not exist', tbl::oid USING ERRCODE = '42P01';
  END IF;
  IF rel.relkind NOT IN ('r', 'p', 'f') THEN
    RAISE EXCEPTION '% is not a table', tbl
      USING ERRCODE = '42809',
            DETAIL = 'Only ordinary, partitioned and foreign tables hold personal data in the catalog.';
  END IF;
  IF rel.relpersistence OPERATOR(pg_catalog.=) 't' THEN
    RAISE EXCEPTION 'cannot register temporary table %', tbl USING ERRCODE = '42809';
  END IF;
  IF rel.nspname IN ('pg_catalog', 'information_schema', 'privacy') THEN
    RAISE EXCEPTION 'cannot register system or pg_privacy table %', tbl USING ERRCODE = '42809';
  END IF;
  IF rel.relispartition THEN
    SELECT i.inhparent::regclass INTO parent FROM pg_catalog.pg_inherits i
     WHERE i.inhrelid OPERATOR(pg_catalog.=) tbl;
    RAISE EXCEPTION 'cannot register partition % on its own', tbl
      USING ERRCODE = '42809',
            DETAIL = pg_catalog.format('It is a partition of %s.', parent),
            HINT = 'Register the partitioned table; its declarations apply to every partition.';
  END IF;
  PERFORM privacy._check_owner(tbl);
  PERFORM privacy._check_purpose(purpose);
  IF EXISTS (SELECT FROM privacy.registered_table t WHERE t.tbl OPERATOR(pg_catalog.=) register_table.tbl) THEN
    RAISE EXCEPTION 'table % is already registered', tbl
      USING ERRCODE = '42710',
            HINT = 'Use privacy.set_purpose() to change its purpose.';
  END IF;
  INSERT INTO privacy.registered_table (tbl, purpose, registered_by)
       VALUES (tbl, purpose, privacy._invoker());
  PERFORM privacy._audit('catalog.register_table', tbl::text,
                         pg_catalog.jsonb_build_object('purpose', purpose));
END
$$;
COMMENT ON FUNCTION privacy.register_table(regclass, text) IS
  'declare that a table holds personal data, kept for a purpose';

CREATE FUNCTION privacy.set_purpose(tbl regclass, purpose text) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  old text;
BEGIN
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'table must not be null' USING ERRCODE = '22004';
  END IF;
  PERFORM privacy._check_purpose(purpose);
  SELECT t.purpose INTO old FROM privacy.registered_table t
   WHERE t.tbl OPERATOR(pg_catalog.=) set_purpose.tbl FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'table % is not registered', tbl
      USING ERRCODE = '55000', HINT = 'Register it with privacy.register_table().';
  END IF;
  PERFORM privacy._check_owner(tbl);
  UPDATE privacy.registered_table t SET purpose = set_purpose.purpose
   WHERE t.tbl OPERATOR(pg_catalog.=) set_purpose.tbl;
  PERFORM privacy._audit('catalog.set_purpose', tbl::text,
                         pg_catalog.jsonb_build_object('purpose', purpose, 'previous_purpose', old));
END
$$;
COMMENT ON FUNCTION privacy.set_purpose(regclass, text) IS 'change the purpose a registered table is kept for';

-- True when the protect trigger is installed on the table.
CREATE FUNCTION privacy._is_protected(tbl regclass) RETURNS boolean
  LANGUAGE sql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT EXISTS (SELECT FROM pg_catalog.pg_trigger g
                  WHERE g.tgrelid OPERATOR(pg_catalog.=) tbl
                    AND g.tgname OPERATOR(pg_catalog.=) 'zz_pg_privacy_protect')
$$;

CREATE FUNCTION privacy.unregister_table(tbl regclass) RETURNS void
  LANGUAGE plpgsql VOLATILE STRICT
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM privacy._check_owner(tbl);
  IF privacy._is_protected(tbl) THEN
    RAISE EXCEPTION 'table % is protected', tbl
      USING ERRCODE = '55000',
            DETAIL = 'Without its declarations the protect trigger would store raw values.',
            HINT = 'Remove the protection with privacy.unprotect() first.';
  END IF;
  DELETE FROM privacy.registered_table t WHERE t.tbl OPERATOR(pg_catalog.=) unregister_table.tbl;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'table % is not registered', tbl USING ERRCODE = '55000';
  END IF;
  PERFORM privacy._invalidate(tbl);
  PERFORM privacy._audit('catalog.unregister_table', tbl::text);
END
$$;
COMMENT ON FUNCTION privacy.unregister_table(regclass) IS
  'remove a table and its columns from the catalog';

CREATE FUNCTION privacy.register_column(tbl regclass, col name, category text,
                                        identifies text DEFAULT NULL,
                                        link text DEFAULT 'owner',
                                        protect text DEFAULT NULL,
                                        domain text DEFAULT 'default')
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  att record;
BEGIN
  IF tbl IS NULL OR col IS NULL OR category IS NULL THEN
    RAISE EXCEPTION 'table, column and category must not be null' USING ERRCODE = '22004';
  END IF;
  IF NOT EXISTS (SELECT FROM privacy.registered_table t WHERE t.tbl OPERATOR(pg_catalog.=) register_column.tbl) THEN
    RAISE EXCEPTION 'table % is not registered', tbl
      USING ERRCODE = '55000',
            HINT = 'Register it with privacy.register_table() first.';
  END IF;
  PERFORM privacy._check_owner(tbl);
  SELECT a.attnum, a.atttypid, a.attnotnull, t.typcategory
    INTO att
    FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) a.atttypid
   WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attname OPERATOR(pg_catalog.=) col
     AND NOT a.attisdropped;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'column "%" of relation % does not exist', col, tbl USING ERRCODE = '42703';
  END IF;
  IF att.attnum OPERATOR(pg_catalog.<=) 0 THEN
    RAISE EXCEPTION 'cannot register system column "%"', col USING ERRCODE = '22023';
  END IF;
  IF NOT EXISTS (SELECT FROM privacy.category c WHERE c.name OPERATOR(pg_catalog.=) category) THEN
    RAISE EXCEPTION 'unknown category "%"', category
      USING ERRCODE = '22023',
            HINT = 'Use one of: ' || (SELECT pg_catalog.string_agg(c.name, ', ' ORDER BY c.name)
                                        FROM privacy.category c) || '.';
  END IF;
  IF identifies IS NOT NULL
     AND NOT EXISTS (SELECT FROM privacy.identifier_kind k WHERE k.name OPERATOR(pg_catalog.=) identifies) THEN
    RAISE EXCEPTION 'unknown identifier kind "%"', identifies
      USING ERRCODE = '22023',
            HINT = 'Use one of: ' || (SELECT pg_catalog.string_agg(k.name, ', ' ORDER BY k.name)
                                        FROM privacy.identifier_kind k) || '.';
  END IF;
  IF link IS NULL OR link NOT IN ('owner', 'mention') THEN
    RAISE EXCEPTION 'invalid link "%"', link
      USING ERRCODE = '22023', HINT = 'Use "owner" or "mention".';
  END IF;
  IF link OPERATOR(pg_catalog.=) 'mention' AND identifies IS NULL THEN
    RAISE EXCEPTION 'a mention must say which identifier kind it holds'
      USING ERRCODE = '22023', HINT = 'Pass identifies => ''msisdn'' (or another kind).';
  END IF;
  IF protect IS NOT NULL THEN
    IF protect NOT IN ('pseudonym', 'msisdn_fpe', 'email_pseudonym', 'country', 'null') THEN
      RAISE EXCEPTION 'invalid protect transformation "%"', protect
        USING ERRCODE = '22023',
              HINT = 'Use one of: pseudonym, msisdn_fpe, email_pseudonym, country, null.';
    END IF;
    IF protect OPERATOR(pg_catalog.=) 'null' AND att.attnotnull THEN
      RAISE EXCEPTION 'column "%" of relation % is NOT NULL and cannot be protected by nulling', col, tbl
        USING ERRCODE = '22023';
    END IF;
    IF protect OPERATOR(pg_catalog.<>) 'null'
       AND att.atttypid NOT IN ('text'::regtype, 'varchar'::regtype)
       AND NOT (protect OPERATOR(pg_catalog.=) 'country' AND att.atttypid OPERATOR(pg_catalog.=) 'bpchar'::regtype) THEN
      RAISE EXCEPTION 'protect transformation "%" needs a text or varchar column', protect
        USING ERRCODE = '42804',
              DETAIL = pg_catalog.format('Column "%s" of relation %s has type %s.', col, tbl,
                                         pg_catalog.format_type(att.atttypid, NULL));
    END IF;
  END IF;
  IF domain IS NULL OR pg_catalog.octet_length(domain) NOT BETWEEN 1 AND 200 THEN
    RAISE EXCEPTION 'invalid pseudonymization domain'
      USING ERRCODE = '22023',
            DETAIL = 'A domain is a non-empty text of at most 200 bytes.';
  END IF;
  IF EXISTS (SELECT FROM privacy.registered_column c
              WHERE c.tbl OPERATOR(pg_catalog.=) register_column.tbl
                AND c.col OPERATOR(pg_catalog.=) register_column.col) THEN
    RAISE EXCEPTION 'column "%" of relation % is already registered', col, tbl
      USING ERRCODE = '42710',
            HINT = 'Unregister it with privacy.unregister_column() to declare it anew.';
  END IF;
  INSERT INTO privacy.registered_column (tbl, col, attnum, category, identifies, link, protect, domain)
       VALUES (tbl, col, att.attnum, category, identifies, link, protect, domain);
  PERFORM privacy._invalidate(tbl);
  PERFORM privacy._audit('catalog.register_column', tbl::text,
                         pg_catalog.jsonb_build_object('column', col, 'category', category,
                                                       'identifies', identifies, 'link', link,
                                                       'protect', protect, 'domain', domain));
END
$$;
COMMENT ON FUNCTION privacy.register_column(regclass, name, text, text, text, text, text) IS
  'declare a column of a registered table as personal data: category, identifier kind, link, on-write protection';

CREATE FUNCTION privacy.unregister_column(tbl regclass, col name) RETURNS void
  LANGUAGE plpgsql VOLATILE STRICT
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM privacy._check_owner(tbl);
  IF privacy._is_protected(tbl) AND EXISTS (
       SELECT FROM privacy.registered_column c
        WHERE c.tbl OPERATOR(pg_catalog.=) unregister_column.tbl
          AND c.col OPERATOR(pg_catalog.=) unregister_column.col AND c.protect IS NOT NULL) THEN
    RAISE EXCEPTION 'column "%" of relation % is protected', col, tbl
      USING ERRCODE = '55000',
            DETAIL = 'Without its declaration the protect trigger would store raw values in it.',
            HINT = 'Remove the protection with privacy.unprotect() first.';
  END IF;
  DELETE FROM privacy.registered_column c
   WHERE c.tbl OPERATOR(pg_catalog.=) unregister_column.tbl
     AND c.col OPERATOR(pg_catalog.=) unregister_column.col;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'column "%" of relation % is not registered', col, tbl USING ERRCODE = '55000';
  END IF;
  PERFORM privacy._invalidate(tbl);
  PERFORM privacy._audit('catalog.unregister_column', tbl::text,
                         pg_catalog.jsonb_build_object('column', col));
END
$$;
COMMENT ON FUNCTION privacy.unregister_column(regclass, name) IS 'remove a column from the catalog';

------------------------------------------------------------------------
-- Views
------------------------------------------------------------------------

-- The record of processing: every declared column with its purpose and
-- legal basis.
CREATE VIEW privacy.personal_data AS
SELECT c.tbl                          AS table_name,
       c.col                          AS column_name,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS data_type,
       c.category,
       c.identifies,
       c.link,
       c.protect,
       CASE WHEN c.protect IN ('pseudonym', 'msisdn_fpe', 'email_pseudonym') THEN c.domain END
                                      AS protect_domain,
       t.purpose,
       p.legal_basis,
       b.article                      AS legal_basis_article,
       p.requires_consent,
       p.recipients,
       p.description                  AS purpose_description
  FROM privacy.registered_column c
  JOIN privacy.registered_table t ON t.tbl OPERATOR(pg_catalog.=) c.tbl
  JOIN privacy.purpose p ON p.name OPERATOR(pg_catalog.=) t.purpose
  JOIN privacy.legal_basis b ON b.name OPERATOR(pg_catalog.=) p.legal_basis
  LEFT JOIN pg_catalog.pg_attribute a
         ON a.attrelid OPERATOR(pg_catalog.=) c.tbl AND a.attname OPERATOR(pg_catalog.=) c.col
        AND NOT a.attisdropped;
COMMENT ON VIEW privacy.personal_data IS
  'the record of processing (GDPR Art. 30): every declared personal column with purpose, legal basis and recipients';

-- Columns whose names look personal but are not declared.  Partitions are
-- covered by their parent; tables belonging to extensions are skipped.
CREATE VIEW privacy.undeclared_columns AS
SELECT c.oid::regclass                AS table_name,
       a.attname                      AS column_name,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS data_type,
       m.category                     AS suggested_category,
       (t.tbl IS NOT NULL)            AS table_registered
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
  JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.oid
  CROSS JOIN LATERAL (
        SELECT np.category FROM privacy.name_pattern np
         WHERE a.attname::text OPERATOR(pg_catalog.~*) np.pattern
         ORDER BY np.builtin, np.pattern LIMIT 1) m
  LEFT JOIN privacy.registered_table t ON t.tbl OPERATOR(pg_catalog.=) c.oid
 WHERE c.relkind IN ('r', 'p', 'f')
   AND NOT c.relispartition
   AND c.relpersistence OPERATOR(pg_catalog.<>) 't'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'privacy')
   AND n.nspname !~ '^pg_toast'
   AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
   AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                    WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
                      AND d.objid OPERATOR(pg_catalog.=) c.oid
                      AND d.deptype OPERATOR(pg_catalog.=) 'e')
   AND NOT EXISTS (SELECT FROM privacy.registered_column rc
                    WHERE rc.tbl OPERATOR(pg_catalog.=) c.oid
                      AND rc.col OPERATOR(pg_catalog.=) a.attname);
COMMENT ON VIEW privacy.undeclared_columns IS
  'columns whose names look personal (phone, email, name, address, account, ...) but are not declared';

-- What is wrong with the catalog: registered columns that no longer exist
-- or whose type no longer suits their protect transformation.  Empty when
-- all is well; the event triggers keep it empty under ordinary DDL.
CREATE VIEW privacy.catalog_problems AS
SELECT c.tbl AS table_name, c.col AS column_name,
       'column does not exist'::text AS problem
  FROM privacy.registered_column c
 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a
                    WHERE a.attrelid OPERATOR(pg_catalog.=) c.tbl
                      AND a.attname OPERATOR(pg_catalog.=) c.col AND NOT a.attisdropped)
UNION ALL
SELECT c.tbl, c.col,
       pg_catalog.format('type %s does not suit protect transformation "%s"',
                         pg_catalog.format_type(a.atttypid, NULL), c.protect)
  FROM privacy.registered_column c
  JOIN pg_catalog.pg_attribute a
    ON a.attrelid OPERATOR(pg_catalog.=) c.tbl AND a.attname OPERATOR(pg_catalog.=) c.col
   AND NOT a.attisdropped
 WHERE c.protect IS NOT NULL AND c.protect OPERATOR(pg_catalog.<>) 'null'
   AND a.atttypid NOT IN ('text'::regtype, 'varchar'::regtype)
   AND NOT (c.protect OPERATOR(pg_catalog.=) 'country' AND a.atttypid OPERATOR(pg_catalog.=) 'bpchar'::regtype)
UNION ALL
SELECT t.tbl, NULL, 'table does not exist'
  FROM privacy.registered_table t
 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) t.tbl);
COMMENT ON VIEW privacy.catalog_problems IS
  'registered tables and columns the catalog no longer describes correctly (empty when all is well)';

------------------------------------------------------------------------
-- Event triggers: follow renames and drops
------------------------------------------------------------------------

-- A dropped table or column leaves the catalog with it; the audit log says so.
CREATE FUNCTION privacy._on_sql_drop() RETURNS event_trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  o record;
  n bigint;
BEGIN
  FOR o IN SELECT * FROM pg_catalog.pg_event_trigger_dropped_objects()
            WHERE object_type IN ('table', 'foreign table', 'table column', 'view')
  LOOP
    IF o.object_type OPERATOR(pg_catalog.=) 'view' THEN
      -- a published view (safe aggregate, extract) leaves the register
      DELETE FROM privacy.published p WHERE p.view_name::oid OPERATOR(pg_catalog.=) o.objid;
      GET DIAGNOSTICS n = ROW_COUNT;
      IF n OPERATOR(pg_catalog.>) 0 THEN
        PERFORM privacy._audit('analytics.unpublished', o.object_identity);
      END IF;
    ELSIF o.object_type OPERATOR(pg_catalog.=) 'table column' THEN
      DELETE FROM privacy.registered_column c
       WHERE c.tbl::oid OPERATOR(pg_catalog.=) o.objid
         AND c.attnum OPERATOR(pg_catalog.=) o.objsubid;
      GET DIAGNOSTICS n = ROW_COUNT;
      IF n OPERATOR(pg_catalog.>) 0 THEN
        PERFORM privacy._audit('catalog.column_dropped', o.object_identity);
      END IF;
    ELSE
      DELETE FROM privacy.registered_table t WHERE t.tbl::oid OPERATOR(pg_catalog.=) o.objid;
      GET DIAGNOSTICS n = ROW_COUNT;
      IF n OPERATOR(pg_catalog.>) 0 THEN
        PERFORM privacy._audit('catalog.table_dropped', o.object_identity);
      END IF;
    END IF;
  END LOOP;
END
$$;

-- After ALTER TABLE: a registered column whose name is gone but whose
-- attribute number still holds a live column was renamed; follow it.
CREATE FUNCTION privacy._on_ddl_end() RETURNS event_trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r record;
BEGIN
  FOR r IN
    SELECT c.tbl, c.col, a.attname AS new_name
      FROM pg_catalog.pg_event_trigger_ddl_commands() d
      JOIN privacy.registered_column c ON c.tbl::oid OPERATOR(pg_catalog.=) d.objid
      JOIN pg_catalog.pg_attribute a
        ON a.attrelid OPERATOR(pg_catalog.=) c.tbl AND a.attnum OPERATOR(pg_catalog.=) c.attnum
     WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
       AND NOT a.attisdropped
       AND a.attname OPERATOR(pg_catalog.<>) c.col
       AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a2
                        WHERE a2.attrelid OPERATOR(pg_catalog.=) c.tbl
                          AND a2.attname OPERATOR(pg_catalog.=) c.col AND NOT a2.attisdropped)
  LOOP
    UPDATE privacy.registered_column c SET col = r.new_name
     WHERE c.tbl OPERATOR(pg_catalog.=) r.tbl AND c.col OPERATOR(pg_catalog.=) r.col;
    PERFORM privacy._audit('catalog.column_renamed', r.tbl::text,
                           pg_catalog.jsonb_build_object('from', r.col, 'to', r.new_name));
  END LOOP;
END
$$;

CREATE EVENT TRIGGER pg_privacy_sql_drop ON sql_drop
  EXECUTE FUNCTION privacy._on_sql_drop();
CREATE EVENT TRIGGER pg_privacy_ddl_end ON ddl_command_end
  WHEN TAG IN ('ALTER TABLE', 'ALTER FOREIGN TABLE')
  EXECUTE FUNCTION privacy._on_ddl_end();
-- Pseudonymization, format-preserving phone numbers, masking, and the
-- protect trigger.  The transformations are C functions (pseudonym.c);
-- the protect trigger (protect.c) applies them on write.

CREATE FUNCTION privacy.normalize_msisdn(raw text, default_country text DEFAULT 'DK')
  RETURNS text
  LANGUAGE c IMMUTABLE PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_normalize_msisdn';
-- Not STRICT in the second argument: NULL means "international forms only".
COMMENT ON FUNCTION privacy.normalize_msisdn(text, text) IS
  'E.164 form (+<country code><number>) of a phone number as people type it; NULL default_country accepts international forms only';

CREATE FUNCTION privacy.pseudonymize(value text, domain text DEFAULT 'default')
  RETURNS text
  LANGUAGE c STABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_pseudonymize';
COMMENT ON FUNCTION privacy.pseudonymize(text, text) IS
  'keyed pseudonym (HMAC-SHA256 under a key derived for the domain, 128 bits, base64url): deterministic, one-way, domain-separated';

CREATE FUNCTION privacy.pseudonymize_msisdn(msisdn text, domain text DEFAULT 'default',
                                            default_country text DEFAULT 'DK')
  RETURNS text
  LANGUAGE c STABLE PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_pseudonymize_msisdn';
COMMENT ON FUNCTION privacy.pseudonymize_msisdn(text, text, text) IS
  'format-preserving pseudonym of a phone number (FF1/AES-256): same country code, first digit and length; reversible only by reidentify_msisdn';

CREATE FUNCTION privacy._msisdn_decrypt(pseudonym text, domain text)
  RETURNS text
  LANGUAGE c STABLE STRICT PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_msisdn_decrypt';
COMMENT ON FUNCTION privacy._msisdn_decrypt(text, text) IS
  'internal: inverse of pseudonymize_msisdn; use reidentify_msisdn, which audits';

-- How the audit log refers to a subject's identifier: a keyed one-way
-- reference under the audit key, after the kind's normalization.
CREATE FUNCTION privacy._audit_ref(kind text, value text) RETURNS text
  LANGUAGE c STABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_audit_ref';
COMMENT ON FUNCTION privacy._audit_ref(text, text) IS
  'internal: keyed one-way reference to an identifier, as written to the audit log';

-- An identifier normalized as its kind says (privacy.identifier_kind): the
-- form audit references, holds and restrictions store and compare.
CREATE FUNCTION privacy._normalize_identifier(kind text, value text) RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  norm text;
BEGIN
  SELECT k.normalize INTO norm FROM privacy.identifier_kind k WHERE k.name OPERATOR(pg_catalog.=) kind;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unknown identifier kind "%"', kind
      USING ERRCODE = '22023',
            HINT = 'Use one of: ' || (SELECT pg_catalog.string_agg(k.name, ', ' ORDER BY k.name)
                                        FROM privacy.identifier_kind k) || '.';
  END IF;
  RETURN CASE norm WHEN 'msisdn' THEN privacy.normalize_msisdn(value)
                   WHEN 'email' THEN pg_catalog.lower(pg_catalog.btrim(value))
                   ELSE value END;
END
$$;

CREATE FUNCTION privacy._subject_ref(kind text, value text) RETURNS text
  LANGUAGE sql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT privacy._audit_ref(kind, privacy._normalize_identifier(kind, value))
$$;
COMMENT ON FUNCTION privacy._subject_ref(text, text) IS
  'internal: the audit log''s reference to a subject identifier (normalized by its kind, keyed, one-way)';

-- Re-identification is audited on every call: who, when, which domain,
-- and a keyed one-way reference to the number (never the number).
CREATE FUNCTION privacy.reidentify_msisdn(pseudonym text, domain text DEFAULT 'default')
  RETURNS text
  LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  result text;
BEGIN
  result := privacy._msisdn_decrypt(pseudonym, domain);
  PERFORM privacy._audit('pseudonym.reidentify', NULL,
                         pg_catalog.jsonb_build_object('domain', domain, 'kind', 'msisdn',
                                                       'subject', privacy._subject_ref('msisdn', result)));
  RETURN result;
END
$$;
COMMENT ON FUNCTION privacy.reidentify_msisdn(text, text) IS
  'the phone number behind a pseudonymize_msisdn pseudonym; every call is audited';

CREATE FUNCTION privacy.pseudonymize_email(email text, domain text DEFAULT 'default')
  RETURNS text
  LANGUAGE c STABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_pseudonymize_email';
COMMENT ON FUNCTION privacy.pseudonymize_email(text, text) IS
  'keyed pseudonym of the local part of an e-mail address (trimmed, lower-cased); the domain part is kept';

CREATE FUNCTION privacy.mask_msisdn(msisdn text, visible integer DEFAULT 4)
  RETURNS text
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_mask_msisdn';
COMMENT ON FUNCTION privacy.mask_msisdn(text, integer) IS
  'display mask of a phone number: +4520XXXXXX keeps the first `visible` digits';

CREATE FUNCTION privacy.country_of(value text)
  RETURNS text
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_country_of';
COMMENT ON FUNCTION privacy.country_of(text) IS
  'ISO 3166-1 alpha-2 country of a phone number (or of a country code): location kept at country level';

CREATE FUNCTION privacy.generalize(ts timestamptz, unit text)
  RETURNS timestamptz
  LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF unit NOT IN ('minute', 'hour', 'day', 'week', 'month', 'quarter', 'year') THEN
    RAISE EXCEPTION 'invalid generalization unit "%"', unit
      USING ERRCODE = '22023',
            HINT = 'Use one of: minute, hour, day, week, month, quarter, year.';
  END IF;
  RETURN pg_catalog.date_trunc(unit, ts);
END
$$;
COMMENT ON FUNCTION privacy.generalize(timestamptz, text) IS
  'time generalized to the start of its minute, hour, day, week, month, quarter or year (in the session time zone)';

------------------------------------------------------------------------
-- The protect trigger
------------------------------------------------------------------------

CREATE FUNCTION privacy._protect_trigger() RETURNS trigger
  LANGUAGE c
  AS 'MODULE_PATHNAME', 'pgp_protect_trigger';
COMMENT ON FUNCTION privacy._protect_trigger() IS
  'internal: the on-write protect trigger created by privacy.protect()';

-- Rewrite the rows a table held before it was protected (see protect()).
CREATE FUNCTION privacy._rewrite_protected(tbl regclass, cols name[])
  RETURNS bigint
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_rewrite_protected';
COMMENT ON FUNCTION privacy._rewrite_protected(regclass, name[]) IS
  'internal: transform pre-existing rows through the protect trigger, as the table owner';

-- One value through a protect transformation, as the trigger stores it.
CREATE FUNCTION privacy._transform(value text, protect text, domain text)
  RETURNS text
  LANGUAGE c STABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_transform';
COMMENT ON FUNCTION privacy._transform(text, text, text) IS
  'internal: one value through a protect transformation, as the protect trigger stores it';

CREATE FUNCTION privacy.protect(tbl regclass, rewrite_existing boolean DEFAULT false) RETURNS void
  LANGUAGE plpgsql VOLATILE STRICT
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  ncols integer;
  nrows bigint := 0;
BEGIN
  IF NOT EXISTS (SELECT FROM privacy.registered_table t WHERE t.tbl OPERATOR(pg_catalog.=) protect.tbl) THEN
    RAISE EXCEPTION 'table % is not registered', tbl
      USING ERRCODE = '55000',
            HINT = 'Register it with privacy.register_table() and declare its columns with privacy.register_column().';
  END IF;
  PERFORM privacy._check_owner(tbl);
  SELECT pg_catalog.count(*) INTO ncols FROM privacy.registered_column c
   WHERE c.tbl OPERATOR(pg_catalog.=) protect.tbl AND c.protect IS NOT NULL;
  IF ncols OPERATOR(pg_catalog.=) 0 THEN
    RAISE EXCEPTION 'no column of table % has a protect transformation', tbl
      USING ERRCODE = '55000',
            HINT = 'Declare one with privacy.register_column(..., protect => ''pseudonym'').';
  END IF;
  IF privacy._is_protected(tbl) THEN
    IF rewrite_existing THEN
      RAISE EXCEPTION 'table % is already protected', tbl
        USING ERRCODE = '55000',
              DETAIL = 'Its rows were protected on write; rewriting them would transform them twice.';
    END IF;
    RAISE NOTICE 'table % is already protected', tbl;
    RETURN;
  END IF;
  -- Named to fire after the table's other BEFORE triggers (they fire in
  -- name order), so no later trigger can put a raw value back.
  EXECUTE pg_catalog.format(
    'CREATE TRIGGER zz_pg_privacy_protect BEFORE INSERT OR UPDATE ON %s '
    'FOR EACH ROW EXECUTE FUNCTION privacy._protect_trigger()', tbl);
  -- Rows written before protection: transformed in place through the new
  -- trigger, in this transaction (the trigger's creation locks out
  -- concurrent writers until commit), as the table's owner.
  IF rewrite_existing THEN
    nrows := privacy._rewrite_protected(tbl,
               ARRAY(SELECT c.col FROM privacy.registered_column c
                      WHERE c.tbl OPERATOR(pg_catalog.=) protect.tbl AND c.protect IS NOT NULL
                      ORDER BY c.attnum));
  END IF;
  PERFORM privacy._audit('protect.on', tbl::text,
                         pg_catalog.jsonb_build_object('columns', ncols, 'rows_rewritten', nrows));
END
$$;
COMMENT ON FUNCTION privacy.protect(regclass, boolean) IS
  'install the on-write protect trigger: each declared transformation is applied on INSERT, UPDATE and COPY, also on partitions; rewrite_existing converts rows already stored';

CREATE FUNCTION privacy.unprotect(tbl regclass) RETURNS void
  LANGUAGE plpgsql VOLATILE STRICT
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM privacy._check_owner(tbl);
  IF NOT privacy._is_protected(tbl) THEN
    RAISE EXCEPTION 'table % is not protected', tbl USING ERRCODE = '55000';
  END IF;
  EXECUTE pg_catalog.format('DROP TRIGGER zz_pg_privacy_protect ON %s', tbl);
  PERFORM privacy._audit('protect.off', tbl::text);
END
$$;
COMMENT ON FUNCTION privacy.unprotect(regclass) IS 'remove the on-write protect trigger';

-- Which tables are protected.
CREATE VIEW privacy.protected_tables AS
SELECT t.tbl AS table_name,
       pg_catalog.array_agg(c.col::text || ':' || c.protect ORDER BY c.attnum) AS columns,
       privacy._is_protected(t.tbl) AS protected
  FROM privacy.registered_table t
  JOIN privacy.registered_column c ON c.tbl OPERATOR(pg_catalog.=) t.tbl
 WHERE c.protect IS NOT NULL
 GROUP BY t.tbl;
COMMENT ON VIEW privacy.protected_tables IS
  'registered tables with protect transformations, and whether the protect trigger is installed';
-- Consent: an append-only register of consent events, the current state
-- derived from it, requirements that make the database refuse writes
-- without consent, and the cascade that stops processing on withdrawal.
--
-- privacy.consent_event is the proof (GDPR Art. 7(1)): one row per grant
-- or withdrawal, never updated or deleted (only the erasure hook may null
-- the identifier, keeping the keyed subject reference).  privacy.consent_state
-- holds one row per (kind, value, purpose) with the latest event; it is
-- what the require_consent trigger locks (FOR KEY SHARE, in C) and what a
-- withdrawal locks FOR UPDATE before it appends its event and deletes the
-- subject's rows, so a write that depends on a consent and the withdrawal
-- of that consent are serialized.  has_consent and the trigger are C
-- (src/consent.c): direct index scans, no SPI and no catalog query per row.

CREATE SEQUENCE privacy.consent_event_id_seq;

CREATE TABLE privacy.consent_event (
  id             bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('privacy.consent_event_id_seq'),
  kind           text        NOT NULL REFERENCES privacy.identifier_kind,
  value          text,       -- normalized identifier; NULL once the subject is erased
  subject_ref    text        NOT NULL,   -- privacy._subject_ref(kind, value): kept after erasure
  purpose        text        NOT NULL REFERENCES privacy.purpose,
  event          text        NOT NULL CHECK (event IN ('grant', 'withdraw')),
  at             timestamptz NOT NULL,   -- when the subject gave or withdrew consent
  source         text,                   -- channel: web form, SMS STOP, customer service ...
  notice_version text,                   -- the consent text shown (grants)
  actor          name        NOT NULL,   -- session user that recorded it
  role           name        NOT NULL,   -- role the statement ran as
  recorded_at    timestamptz NOT NULL    -- when it was recorded
);
COMMENT ON TABLE privacy.consent_event IS
  'pg_privacy consent register: append-only grants and withdrawals, the proof of consent (GDPR Art. 7(1))';
-- has_consent(..., at => t) and the hand-written equivalent: the latest
-- event at or before t is the first entry of this index.
CREATE INDEX consent_event_lookup ON privacy.consent_event (kind, value, purpose, at DESC, id DESC);
CREATE INDEX consent_event_subject ON privacy.consent_event (subject_ref);

CREATE TABLE privacy.consent_state (
  kind      text        NOT NULL,
  value     text        NOT NULL,
  purpose   text        NOT NULL,
  granted   boolean     NOT NULL,
  event_id  bigint,                     -- the latest event (NULL only inside the granting transaction)
  at        timestamptz,                -- its time
  PRIMARY KEY (kind, value, purpose)
);
COMMENT ON TABLE privacy.consent_state IS
  'pg_privacy: current consent per subject identifier and purpose, derived from privacy.consent_event';

CREATE TABLE privacy.consent_requirement (
  tbl          regclass    NOT NULL,
  col          name        NOT NULL,
  purpose      text        NOT NULL REFERENCES privacy.purpose,
  kind         text        NOT NULL REFERENCES privacy.identifier_kind,
  on_withdraw  text        NOT NULL CHECK (on_withdraw IN ('keep', 'delete')),
  required_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  required_by  name        NOT NULL,
  PRIMARY KEY (tbl, col, purpose)
);
COMMENT ON TABLE privacy.consent_requirement IS
  'pg_privacy: tables that refuse rows of subjects without consent for a purpose (privacy.require_consent)';

SELECT pg_catalog.pg_extension_config_dump('privacy.consent_event', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.consent_event_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.consent_state', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.consent_requirement', '');

------------------------------------------------------------------------
-- C parts (src/consent.c)
------------------------------------------------------------------------

-- The register is append-only for everyone, its owner included; only
-- privacy._consent_forget_identity (below) may null an identifier.
CREATE FUNCTION privacy._consent_append_only() RETURNS trigger
  LANGUAGE c
  AS 'MODULE_PATHNAME', 'pgp_consent_append_only';
COMMENT ON FUNCTION privacy._consent_append_only() IS
  'internal: refuses UPDATE, DELETE and TRUNCATE on the consent register';
CREATE TRIGGER consent_event_append_only
  BEFORE UPDATE OR DELETE ON privacy.consent_event
  FOR EACH ROW EXECUTE FUNCTION privacy._consent_append_only();
CREATE TRIGGER consent_event_no_truncate
  BEFORE TRUNCATE ON privacy.consent_event
  FOR EACH STATEMENT EXECUTE FUNCTION privacy._consent_append_only();

-- An identifier in its kind's normal form: msisdn to E.164 (default
-- country from pg_privacy.default_country), email trimmed and lower-cased,
-- other kinds as given.  Raises 22P02/22023 on a value that has no normal
-- form.  mode is privacy.identifier_kind.normalize.
CREATE FUNCTION privacy._identifier_normalize(mode text, value text) RETURNS text
  LANGUAGE c STABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_identifier_normalize';
COMMENT ON FUNCTION privacy._identifier_normalize(text, text) IS
  'internal: an identifier in the normal form of its kind''s normalization (msisdn, email, text)';

-- The same, but NULL instead of an error: used to find a subject's rows in
-- columns that hold identifiers as people typed them.
CREATE FUNCTION privacy._identifier_key(mode text, value text) RETURNS text
  LANGUAGE c STABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_identifier_key';
COMMENT ON FUNCTION privacy._identifier_key(text, text) IS
  'internal: normal form of an identifier, NULL when it has none (matching typed values)';

CREATE FUNCTION privacy.has_consent(kind text, value text, purpose text,
                                    at timestamptz DEFAULT NULL)
  RETURNS boolean
  LANGUAGE c STABLE PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_has_consent';
COMMENT ON FUNCTION privacy.has_consent(text, text, text, timestamptz) IS
  'whether the subject identifier has consent for the purpose: now (at NULL: the latest event the statement sees) or at a past moment';

CREATE FUNCTION privacy._consent_trigger() RETURNS trigger
  LANGUAGE c
  AS 'MODULE_PATHNAME', 'pgp_consent_trigger';
COMMENT ON FUNCTION privacy._consent_trigger() IS
  'internal: the require_consent trigger (BEFORE INSERT OR UPDATE, FOR EACH ROW)';

-- Forget the trigger's per-transaction memory of checked consents; called
-- after this transaction changed a consent.
CREATE FUNCTION privacy._consent_changed() RETURNS void
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_consent_changed';
COMMENT ON FUNCTION privacy._consent_changed() IS
  'internal: resets the require_consent trigger''s per-transaction cache';

-- Delete a subject's rows from a table as the table's owner (withdrawal
-- cascade).  how: 'equal' (column as text equals match), 'msisdn' or
-- 'email' (column normalized equals match).
CREATE FUNCTION privacy._consent_delete(tbl regclass, col name, how text, match text)
  RETURNS bigint
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_consent_delete';
COMMENT ON FUNCTION privacy._consent_delete(regclass, name, text, text) IS
  'internal: deletes a subject''s rows from a table as its owner (withdrawal with on_withdraw => delete)';

-- The erasure hook.  Nulls the identifier of every consent event of a
-- subject (the keyed subject_ref stays, so the proof of what was consented
-- and withdrawn survives without the identity) and drops the subject's
-- current state.  The append-only trigger lets exactly this through, and
-- only while this C function runs; EXECUTE stays with the extension owner
-- (the data-subject erasure path).  Returns the number of events.
CREATE FUNCTION privacy._consent_forget_identity(kind text, value text) RETURNS bigint
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_consent_forget_identity';
COMMENT ON FUNCTION privacy._consent_forget_identity(text, text) IS
  'internal (erasure path only): nulls a subject''s identifier in the consent register, keeping subject_ref and the events';

------------------------------------------------------------------------
-- Recording consent
------------------------------------------------------------------------

-- Check a (kind, value, purpose) triple and return the value in its
-- kind's normal form.  Errors: NULLs 22004; unknown kind or purpose, a
-- purpose whose legal basis is not consent, no normal form: 22023/22P02.
CREATE FUNCTION privacy._consent_subject(kind text, value text, purpose text)
  RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  norm text;
  p    privacy.purpose;
BEGIN
  IF kind IS NULL OR value IS NULL OR purpose IS NULL THEN
    RAISE EXCEPTION 'identifier kind, value and purpose must not be null'
      USING ERRCODE = '22004';
  END IF;
  SELECT k.normalize INTO norm FROM privacy.identifier_kind k
   WHERE k.name OPERATOR(pg_catalog.=) _consent_subject.kind;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unknown identifier kind "%"', kind
      USING ERRCODE = '22023',
            HINT = 'Use one of: ' || (SELECT pg_catalog.string_agg(k.name, ', ' ORDER BY k.name)
                                        FROM privacy.identifier_kind k) || '.';
  END IF;
  SELECT * INTO p FROM privacy.purpose q WHERE q.name OPERATOR(pg_catalog.=) _consent_subject.purpose;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'purpose "%" does not exist', purpose
      USING ERRCODE = '22023',
            HINT = 'Define it first with privacy.define_purpose().';
  END IF;
  IF NOT p.requires_consent THEN
    RAISE EXCEPTION 'purpose "%" is not based on consent', purpose
      USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('Its legal basis is "%s"; consent is recorded only for purposes whose legal basis is consent.',
                                       p.legal_basis);
  END IF;
  RETURN privacy._identifier_normalize(norm, value);
END
$$;
COMMENT ON FUNCTION privacy._consent_subject(text, text, text) IS
  'internal: checks a consent subject and purpose, returns the identifier in normal form';

-- Lock the current state of (kind, value, purpose) for a change, creating
-- it (not granted, no event) on first use.  Grants lock FOR NO KEY UPDATE,
-- which lets writers holding FOR KEY SHARE go on; withdrawals lock FOR
-- UPDATE, which waits for every transaction that wrote a row relying on
-- the consent, and makes later writers see the withdrawal.
CREATE FUNCTION privacy._consent_lock_state(kind text, value text, purpose text, for_withdraw boolean)
  RETURNS privacy.consent_state
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  st privacy.consent_state;
BEGIN
  FOR i IN 1..2 LOOP
    IF for_withdraw THEN
      SELECT * INTO st FROM privacy.consent_state s
       WHERE s.kind OPERATOR(pg_catalog.=) _consent_lock_state.kind
         AND s.value OPERATOR(pg_catalog.=) _consent_lock_state.value
         AND s.purpose OPERATOR(pg_catalog.=) _consent_lock_state.purpose
         FOR UPDATE;
    ELSE
      SELECT * INTO st FROM privacy.consent_state s
       WHERE s.kind OPERATOR(pg_catalog.=) _consent_lock_state.kind
         AND s.value OPERATOR(pg_catalog.=) _consent_lock_state.value
         AND s.purpose OPERATOR(pg_catalog.=) _consent_lock_state.purpose
         FOR NO KEY UPDATE;
    END IF;
    IF FOUND OR for_withdraw THEN
      RETURN st;      -- NULL fields: never granted
    END IF;
    -- First grant: create the state row; a concurrent first grant makes
    -- this wait and then do nothing, and the loop locks its row.
    INSERT INTO privacy.consent_state (kind, value, purpose, granted)
         VALUES (kind, value, purpose, false)
    ON CONFLICT DO NOTHING;
  END LOOP;
  RAISE EXCEPTION 'could not lock the consent state' USING ERRCODE = 'XX000';
END
$$;
COMMENT ON FUNCTION privacy._consent_lock_state(text, text, text, boolean) IS
  'internal: locks (creating on first grant) the consent state of an identifier and purpose';

-- Append one event and move the state to it; audit it.  Shared by grant
-- and withdraw once the state is locked.
CREATE FUNCTION privacy._consent_append(kind text, value text, purpose text, event text,
                                        at timestamptz, source text, notice_version text,
                                        st privacy.consent_state)
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  new_id bigint;
  ts     timestamptz := pg_catalog.clock_timestamp();
  ref    text := privacy._subject_ref(kind, value);
BEGIN
  IF at IS NULL THEN
    at := GREATEST(ts, st.at);
  ELSIF at OPERATOR(pg_catalog.>) ts THEN
    RAISE EXCEPTION 'consent % time is in the future', event
      USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('at is %s; it is now %s.', at, ts);
  ELSIF at OPERATOR(pg_catalog.<) st.at THEN
    RAISE EXCEPTION 'consent events must be recorded in time order'
      USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('at is %s; the latest event for this identifier and purpose is at %s.',
                                       at, st.at);
  END IF;
  INSERT INTO privacy.consent_event (kind, value, subject_ref, purpose, event, at, source,
                                     notice_version, actor, role, recorded_at)
       VALUES (kind, value, ref, purpose, event, at, source, notice_version,
               pg_catalog.session_user(), privacy._invoker(), ts)
    RETURNING id INTO new_id;
  UPDATE privacy.consent_state s
     SET granted = (event OPERATOR(pg_catalog.=) 'grant'), event_id = new_id, at = _consent_append.at
   WHERE s.kind OPERATOR(pg_catalog.=) _consent_append.kind
     AND s.value OPERATOR(pg_catalog.=) _consent_append.value
     AND s.purpose OPERATOR(pg_catalog.=) _consent_append.purpose;
  PERFORM privacy._consent_changed();
  PERFORM privacy._audit('consent.' || event, purpose,
                         pg_catalog.jsonb_build_object('subject', ref, 'kind', kind,
                                                       'event_id', new_id, 'at', at,
                                                       'source', source,
                                                       'notice_version', notice_version));
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION privacy._consent_append(text, text, text, text, timestamptz, text, text, privacy.consent_state) IS
  'internal: appends one consent event, moves the state to it and audits it';

CREATE FUNCTION privacy.grant_consent(kind text, value text, purpose text,
                                      source text DEFAULT NULL, notice_version text DEFAULT NULL,
                                      at timestamptz DEFAULT NULL)
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  norm text := privacy._consent_subject(kind, value, purpose);
  st   privacy.consent_state;
BEGIN
  st := privacy._consent_lock_state(kind, norm, purpose, false);
  RETURN privacy._consent_append(kind, norm, purpose, 'grant', at, source, notice_version, st);
END
$$;
COMMENT ON FUNCTION privacy.grant_consent(text, text, text, text, text, timestamptz) IS
  'record that a subject identifier gave consent for a purpose (source/channel, notice version shown, time); returns the event id';

CREATE FUNCTION privacy.withdraw_consent(kind text, value text, purpose text,
                                         source text DEFAULT NULL, at timestamptz DEFAULT NULL)
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  norm   text := privacy._consent_subject(kind, value, purpose);
  st     privacy.consent_state;
  new_id bigint;
  r      record;
  n      bigint;
  how    text;
  match  text;
  total  bigint := 0;
  tables jsonb := '{}';
BEGIN
  st := privacy._consent_lock_state(kind, norm, purpose, true);
  IF st.granted IS NULL OR st.event_id IS NULL THEN
    RAISE EXCEPTION 'no consent to withdraw for purpose "%"', purpose
      USING ERRCODE = '55000',
            DETAIL = 'Consent for this identifier and purpose was never granted.';
  END IF;
  IF NOT st.granted THEN
    -- Withdrawing twice (a second click on an unsubscribe link) changes
    -- nothing: the withdrawal in force is the answer.
    RAISE NOTICE 'consent for purpose "%" is already withdrawn', purpose
      USING DETAIL = pg_catalog.format('Withdrawn at %s (event %s).', st.at, st.event_id);
    RETURN st.event_id;
  END IF;
  new_id := privacy._consent_append(kind, norm, purpose, 'withdraw', at, source, NULL, st);
  -- Stop processing: delete the subject's rows where the requirement says
  -- so, as each table's owner, in this transaction.
  FOR r IN SELECT q.tbl, q.col, c.protect, c.domain, privacy._is_protected(q.tbl) AS is_protected,
                  k.normalize
             FROM privacy.consent_requirement q
             JOIN privacy.identifier_kind k ON k.name OPERATOR(pg_catalog.=) q.kind
             LEFT JOIN privacy.registered_column c
               ON c.tbl OPERATOR(pg_catalog.=) q.tbl AND c.col OPERATOR(pg_catalog.=) q.col
            WHERE q.purpose OPERATOR(pg_catalog.=) withdraw_consent.purpose
              AND q.kind OPERATOR(pg_catalog.=) withdraw_consent.kind
              AND q.on_withdraw OPERATOR(pg_catalog.=) 'delete'
            ORDER BY q.tbl::oid, q.col
  LOOP
    IF r.is_protected AND r.protect IS NOT NULL THEN
      how := 'equal';
      match := privacy._transform(norm, r.protect, r.domain);
    ELSIF r.normalize IN ('msisdn', 'email') THEN
      how := r.normalize;
      match := norm;
    ELSE
      how := 'equal';
      match := norm;
    END IF;
    n := privacy._consent_delete(r.tbl, r.col, how, match);
    total := total OPERATOR(pg_catalog.+) n;
    tables := tables OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(r.tbl::text, n);
  END LOOP;
  IF tables OPERATOR(pg_catalog.<>) '{}'::jsonb THEN
    PERFORM privacy._audit('consent.withdraw_cascade', purpose,
                           pg_catalog.jsonb_build_object('subject', privacy._subject_ref(kind, norm),
                                                         'event_id', new_id, 'deleted', tables));
  END IF;
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION privacy.withdraw_consent(text, text, text, text, timestamptz) IS
  'record that a subject identifier withdrew consent for a purpose; deletes its rows where require_consent says on_withdraw => delete; returns the event id';

CREATE FUNCTION privacy.consent_history(kind text, value text)
  RETURNS TABLE(purpose text, event text, at timestamptz, source text, notice_version text,
                event_id bigint, recorded_at timestamptz, actor name)
  LANGUAGE plpgsql STABLE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  norm text;
  ref  text;
BEGIN
  IF kind IS NULL OR value IS NULL THEN
    RAISE EXCEPTION 'identifier kind and value must not be null' USING ERRCODE = '22004';
  END IF;
  SELECT k.normalize INTO norm FROM privacy.identifier_kind k
   WHERE k.name OPERATOR(pg_catalog.=) consent_history.kind;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unknown identifier kind "%"', kind USING ERRCODE = '22023';
  END IF;
  -- By the keyed subject reference, so the history of an erased identifier
  -- (value nulled, reference kept) is still found by whoever knows it.
  ref := privacy._subject_ref(kind, privacy._identifier_normalize(norm, value));
  RETURN QUERY
    SELECT e.purpose, e.event, e.at, e.source, e.notice_version, e.id, e.recorded_at, e.actor
      FROM privacy.consent_event e
     WHERE e.subject_ref OPERATOR(pg_catalog.=) ref
       AND e.kind OPERATOR(pg_catalog.=) consent_history.kind
     ORDER BY e.at, e.id;
END
$$;
COMMENT ON FUNCTION privacy.consent_history(text, text) IS
  'every consent event of a subject identifier, oldest first: purpose, grant/withdraw, time, source, notice version';

-- A consent receipt: the subject's consents as JSON, with field names
-- after the Kantara Initiative Consent Receipt (v1.1) and the event model
-- of ISO/IEC TS 27560 (consent record, events given/withdrawn, state).
CREATE FUNCTION privacy.consent_receipt(kind text, value text, controller jsonb DEFAULT NULL)
  RETURNS jsonb
  LANGUAGE plpgsql STABLE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  norm    text;
  normv   text;
  ref     text;
  records jsonb;
  last_id bigint;
BEGIN
  IF kind IS NULL OR value IS NULL THEN
    RAISE EXCEPTION 'identifier kind and value must not be null' USING ERRCODE = '22004';
  END IF;
  SELECT k.normalize INTO norm FROM privacy.identifier_kind k
   WHERE k.name OPERATOR(pg_catalog.=) consent_receipt.kind;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unknown identifier kind "%"', kind USING ERRCODE = '22023';
  END IF;
  normv := privacy._identifier_normalize(norm, value);
  ref := privacy._subject_ref(kind, normv);
  SELECT pg_catalog.jsonb_agg(r ORDER BY r OPERATOR(pg_catalog.->>) 'purpose'), pg_catalog.max(m.last_id)
    INTO records, last_id
    FROM (
      SELECT pg_catalog.jsonb_build_object(
               'purpose', p.name,
               'purposeDescription', p.description,
               'legalBasis', p.legal_basis,
               'legalBasisArticle', b.article,
               'consentType', 'EXPLICIT',
               'thirdPartyDisclosure', pg_catalog.cardinality(p.recipients) OPERATOR(pg_catalog.>) 0,
               'thirdPartyName', pg_catalog.to_jsonb(p.recipients),
               'termination', 'withdrawal at any time, as easy as giving it (GDPR Art. 7(3))',
               'state', CASE pg_catalog.max(e.id) FILTER (WHERE e.event OPERATOR(pg_catalog.=) 'grant')
                              OPERATOR(pg_catalog.=) pg_catalog.max(e.id)
                             WHEN true THEN 'active' ELSE 'withdrawn' END,
               'events', pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                           'eventId', e.id,
                           'eventType', CASE e.event WHEN 'grant' THEN 'given' ELSE 'withdrawn' END,
                           'eventTime', e.at,
                           'recordedTime', e.recorded_at,
                           'collectionMethod', e.source,
                           'noticeVersion', e.notice_version,
                           'recordedBy', e.actor) ORDER BY e.at, e.id)) AS r,
             pg_catalog.max(e.id) AS last_id
        FROM privacy.consent_event e
        JOIN privacy.purpose p ON p.name OPERATOR(pg_catalog.=) e.purpose
        JOIN privacy.legal_basis b ON b.name OPERATOR(pg_catalog.=) p.legal_basis
       WHERE e.subject_ref OPERATOR(pg_catalog.=) ref
         AND e.kind OPERATOR(pg_catalog.=) consent_receipt.kind
       GROUP BY p.name, p.description, p.legal_basis, b.article, p.recipients) m;
  RETURN pg_catalog.jsonb_build_object(
    'version', 'KI-CR-v1.1.0',
    'model', 'ISO/IEC TS 27560 consent record',
    'jurisdiction', 'DK',
    'language', 'da',
    -- Same subject and same last event give the same receipt id.
    'consentReceiptID', CASE WHEN last_id IS NULL THEN NULL ELSE
        pg_catalog.left(pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(ref || '|' || last_id::text, 'UTF8')), 'hex'), 32)::uuid::text END,
    'iat', pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.now()))::bigint,
    'piiPrincipalId', pg_catalog.jsonb_build_object('kind', kind, 'value', normv),
    'piiControllers', CASE WHEN controller IS NULL THEN '[]'::jsonb
                           ELSE pg_catalog.jsonb_build_array(controller) END,
    'sensitive', false,
    'spiCat', '[]'::jsonb,
    'consents', COALESCE(records, '[]'::jsonb));
END
$$;
COMMENT ON FUNCTION privacy.consent_receipt(text, text, jsonb) IS
  'the consents of a subject identifier as a receipt (Kantara Consent Receipt fields, ISO/IEC TS 27560 events)';

------------------------------------------------------------------------
-- Enforcement
------------------------------------------------------------------------

CREATE FUNCTION privacy.require_consent(tbl regclass, subject_column name, purpose text,
                                        on_withdraw text DEFAULT 'keep', kind text DEFAULT NULL)
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  rel      record;
  att      record;
  reg      record;
  p        privacy.purpose;
  old      privacy.consent_requirement;
  use_kind text := kind;
BEGIN
  IF tbl IS NULL OR subject_column IS NULL OR purpose IS NULL OR on_withdraw IS NULL THEN
    RAISE EXCEPTION 'table, subject column, purpose and on_withdraw must not be null'
      USING ERRCODE = '22004';
  END IF;
  SELECT c.relkind, c.relispartition, n.nspname INTO rel
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
   WHERE c.oid OPERATOR(pg_catalog.=) tbl;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'relation with OID % does not exist', tbl::oid USING ERRCODE = '42P01';
  END IF;
  IF rel.relkind NOT IN ('r', 'p') OR rel.nspname IN ('pg_catalog', 'information_schema', 'privacy') THEN
    RAISE EXCEPTION '% is not a table that can require consent', tbl
      USING ERRCODE = '42809',
            DETAIL = 'Only ordinary and partitioned tables outside the system schemas can.';
  END IF;
  IF rel.relispartition THEN
    RAISE EXCEPTION 'cannot require consent on partition % on its own', tbl
      USING ERRCODE = '42809',
            HINT = 'Require it on the partitioned table; its trigger applies to every partition.';
  END IF;
  PERFORM privacy._check_owner(tbl);
  SELECT a.attnum INTO att FROM pg_catalog.pg_attribute a
   WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attname OPERATOR(pg_catalog.=) subject_column
     AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'column "%" of relation % does not exist', subject_column, tbl USING ERRCODE = '42703';
  END IF;
  SELECT * INTO p FROM privacy.purpose q WHERE q.name OPERATOR(pg_catalog.=) require_consent.purpose;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'purpose "%" does not exist', purpose
      USING ERRCODE = '22023', HINT = 'Define it first with privacy.define_purpose().';
  END IF;
  IF NOT p.requires_consent THEN
    RAISE EXCEPTION 'purpose "%" is not based on consent', purpose
      USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('Its legal basis is "%s"; consent is recorded only for purposes whose legal basis is consent.',
                                       p.legal_basis);
  END IF;
  IF on_withdraw NOT IN ('keep', 'delete') THEN
    RAISE EXCEPTION 'invalid on_withdraw "%"', on_withdraw
      USING ERRCODE = '22023', HINT = 'Use "keep" or "delete".';
  END IF;
  SELECT c.identifies, c.protect INTO reg FROM privacy.registered_column c
   WHERE c.tbl OPERATOR(pg_catalog.=) require_consent.tbl
     AND c.col OPERATOR(pg_catalog.=) subject_column;
  IF use_kind IS NULL THEN
    use_kind := reg.identifies;
  ELSIF reg.identifies IS NOT NULL AND reg.identifies OPERATOR(pg_catalog.<>) use_kind THEN
    RAISE EXCEPTION 'column "%" of relation % is declared to hold identifier kind "%", not "%"',
                    subject_column, tbl, reg.identifies, use_kind
      USING ERRCODE = '22023';
  END IF;
  IF use_kind IS NULL THEN
    RAISE EXCEPTION 'the identifier kind of column "%" of relation % is unknown', subject_column, tbl
      USING ERRCODE = '22023',
            HINT = 'Register the column with identifies => ..., or pass kind => ....';
  END IF;
  IF NOT EXISTS (SELECT FROM privacy.identifier_kind k WHERE k.name OPERATOR(pg_catalog.=) use_kind) THEN
    RAISE EXCEPTION 'unknown identifier kind "%"', use_kind USING ERRCODE = '22023';
  END IF;
  IF reg.protect IS NOT NULL AND reg.protect OPERATOR(pg_catalog.<>) 'msisdn_fpe' THEN
    RAISE EXCEPTION 'cannot require consent on column "%" of relation %', subject_column, tbl
      USING ERRCODE = '0A000',
            DETAIL = pg_catalog.format('The column is protected by "%s", which cannot be reversed, so an update could not tell whose row it is.', reg.protect),
            HINT = 'Require consent on a column that holds the identifier, raw or protected by msisdn_fpe.';
  END IF;

  SELECT * INTO old FROM privacy.consent_requirement q
   WHERE q.tbl OPERATOR(pg_catalog.=) require_consent.tbl
     AND q.col OPERATOR(pg_catalog.=) subject_column
     AND q.purpose OPERATOR(pg_catalog.=) require_consent.purpose
     FOR UPDATE;
  INSERT INTO privacy.consent_requirement AS q (tbl, col, purpose, kind, on_withdraw, required_by)
       VALUES (tbl, subject_column, purpose, use_kind, on_withdraw, privacy._invoker())
  ON CONFLICT ON CONSTRAINT consent_requirement_pkey DO UPDATE
       SET kind = EXCLUDED.kind, on_withdraw = EXCLUDED.on_withdraw;
  -- Named to fire after the table's own BEFORE triggers and before the
  -- protect trigger (zz_pg_privacy_protect): it sees the raw identifier.
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_trigger g
                  WHERE g.tgrelid OPERATOR(pg_catalog.=) tbl
                    AND g.tgname OPERATOR(pg_catalog.=) 'zy_pg_privacy_consent') THEN
    EXECUTE pg_catalog.format(
      'CREATE TRIGGER zy_pg_privacy_consent BEFORE INSERT OR UPDATE ON %s '
      'FOR EACH ROW EXECUTE FUNCTION privacy._consent_trigger()', tbl);
  END IF;
  PERFORM privacy._invalidate(tbl);
  PERFORM privacy._audit(CASE WHEN old.tbl IS NULL THEN 'consent.require' ELSE 'consent.require_changed' END,
                         tbl::text,
                         pg_catalog.jsonb_build_object('column', subject_column, 'purpose', purpose,
                                                       'kind', use_kind, 'on_withdraw', on_withdraw)
                         OPERATOR(pg_catalog.||)
                         CASE WHEN old.tbl IS NULL THEN '{}'::jsonb
                              ELSE pg_catalog.jsonb_build_object('previous_on_withdraw', old.on_withdraw) END);
END
$$;
COMMENT ON FUNCTION privacy.require_consent(regclass, name, text, text, text) IS
  'make the table refuse rows whose subject (in the column) has no consent for the purpose; on_withdraw => delete removes them on withdrawal';

CREATE FUNCTION privacy.unrequire_consent(tbl regclass, subject_column name, purpose text)
  RETURNS void
  LANGUAGE plpgsql VOLATILE STRICT
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM privacy._check_owner(tbl);
  DELETE FROM privacy.consent_requirement q
   WHERE q.tbl OPERATOR(pg_catalog.=) unrequire_consent.tbl
     AND q.col OPERATOR(pg_catalog.=) subject_column
     AND q.purpose OPERATOR(pg_catalog.=) unrequire_consent.purpose;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'relation % does not require consent for purpose "%" in column "%"',
                    tbl, purpose, subject_column
      USING ERRCODE = '55000';
  END IF;
  IF NOT EXISTS (SELECT FROM privacy.consent_requirement q WHERE q.tbl OPERATOR(pg_catalog.=) unrequire_consent.tbl) THEN
    EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS zy_pg_privacy_consent ON %s', tbl);
  END IF;
  PERFORM privacy._invalidate(tbl);
  PERFORM privacy._audit('consent.unrequire', tbl::text,
                         pg_catalog.jsonb_build_object('column', subject_column, 'purpose', purpose));
END
$$;
COMMENT ON FUNCTION privacy.unrequire_consent(regclass, name, text) IS
  'stop requiring consent for the purpose in the table''s column';

-- A dropped table takes its requirements with it.
CREATE FUNCTION privacy._consent_on_sql_drop() RETURNS event_trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  o record;
BEGIN
  FOR o IN SELECT * FROM pg_catalog.pg_event_trigger_dropped_objects()
            WHERE object_type OPERATOR(pg_catalog.=) 'table'
  LOOP
    DELETE FROM privacy.consent_requirement q WHERE q.tbl::oid OPERATOR(pg_catalog.=) o.objid;
  END LOOP;
END
$$;
COMMENT ON FUNCTION privacy._consent_on_sql_drop() IS
  'internal: removes the consent requirements of dropped tables';
CREATE EVENT TRIGGER pg_privacy_consent_sql_drop ON sql_drop
  EXECUTE FUNCTION privacy._consent_on_sql_drop();

-- Which tables require consent, with the trigger's presence.
CREATE VIEW privacy.consent_requirements AS
SELECT q.tbl AS table_name, q.col AS subject_column, q.kind, q.purpose, q.on_withdraw,
       EXISTS (SELECT FROM pg_catalog.pg_trigger g
                WHERE g.tgrelid OPERATOR(pg_catalog.=) q.tbl
                  AND g.tgname OPERATOR(pg_catalog.=) 'zy_pg_privacy_consent') AS enforced,
       q.required_at, q.required_by
  FROM privacy.consent_requirement q;
COMMENT ON VIEW privacy.consent_requirements IS
  'tables that refuse rows of subjects without consent, per column and purpose';
-- Retention: declarative policies, partition-aware purge, anonymization
-- instead of deletion, legal holds, and the nightly run by pg_cron.
--
-- A policy says, for one registered table, which column dates a row, how
-- long a row is kept (optionally counted from the end of the calendar or
-- financial period the row falls in), whether an expired row is deleted or
-- anonymized, and the legal minimum no row is purged before.  A policy
-- turns into one instant per run, the cutoff: rows dated before it are
-- expired.
--
-- The purge works in batches (privacy._purge_batch), each one of:
--   - dropping one whole expired partition (range partitions on the time
--     column whose upper bound is at or before the cutoff and which hold no
--     row under a legal hold; never merely detached);
--   - deleting or anonymizing the rows of one key range [lo, hi) of the
--     time column, hi chosen so that the range holds batch_size rows; the
--     next batch starts at hi (keyset), so every row is visited once and
--     rows under a hold are skipped without being visited again.
-- Each batch's statement runs as the table's owner in a security-restricted
-- operation (src/retention.c), with a lock_timeout and retries.  Progress
-- (phase, next key, counts) is kept per table in privacy.retention_progress
-- and committed with each batch, so an interrupted run_purge is continued
-- by the next run, and nothing is counted twice.  When a table is done, its
-- receipt goes to the audit log: action, rows, partitions, the time window,
-- and no personal data.
--
-- CALL privacy.run_purge() commits after every batch: it is a plain
-- (not SECURITY DEFINER) procedure calling SECURITY DEFINER functions per
-- batch, because only such a procedure may commit.  privacy.purge() does
-- the same work in the caller's transaction.
--
-- Concurrency: one purge at a time (an advisory lock: run_purge skips when
-- another purge runs, purge() waits); a batch holds a shared lock that
-- privacy.hold() takes exclusively, so a hold is either seen by a batch or
-- placed after it.

------------------------------------------------------------------------
-- Catalog
------------------------------------------------------------------------

CREATE TABLE privacy.retention_policy (
  tbl           regclass PRIMARY KEY REFERENCES privacy.registered_table ON DELETE CASCADE,
  time_column   name NOT NULL,
  time_attnum   smallint NOT NULL,     -- kept current by _retention_policy_attnum
  keep          interval NOT NULL CHECK (keep OPERATOR(pg_catalog.>) interval '0'),
  action        text NOT NULL CHECK (action IN ('delete', 'anonymize')),
  keep_at_least interval CHECK (keep_at_least OPERATOR(pg_catalog.>) interval '0'),
  align         text CHECK (align IN ('day', 'week', 'month', 'quarter', 'year')),
  year_start    smallint NOT NULL DEFAULT 1 CHECK (year_start BETWEEN 1 AND 12),
  time_zone     text NOT NULL,
  generalize    text NOT NULL DEFAULT 'day'
                CHECK (generalize IN ('minute', 'hour', 'day', 'week', 'month', 'quarter', 'year')),
  set_at        timestamptz NOT NULL DEFAULT now(),
  set_by        name NOT NULL
);
COMMENT ON TABLE privacy.retention_policy IS
  'pg_privacy: retention policies, one per registered table';

-- Legal holds: the identifier is kept normalized by its kind, because the
-- purge must find the subject's rows (through each column's transformation)
-- in tables declared after the hold was placed.
CREATE SEQUENCE privacy.legal_hold_id_seq;
CREATE TABLE privacy.legal_hold (
  id          bigint PRIMARY KEY DEFAULT pg_catalog.nextval('privacy.legal_hold_id_seq'),
  kind        text NOT NULL REFERENCES privacy.identifier_kind,
  value       text NOT NULL,          -- normalized identifier
  reason      text NOT NULL,
  placed_at   timestamptz NOT NULL DEFAULT now(),
  placed_by   name NOT NULL,
  until       timestamptz,
  released_at timestamptz,
  released_by name
);
ALTER SEQUENCE privacy.legal_hold_id_seq OWNED BY privacy.legal_hold.id;
CREATE INDEX legal_hold_active_idx ON privacy.legal_hold (kind) WHERE released_at IS NULL;
COMMENT ON TABLE privacy.legal_hold IS
  'pg_privacy: legal holds; rows of a subject under an active hold are never purged';

-- Work in progress of a purge, per table, committed with every batch.
CREATE TABLE privacy.retention_progress (
  tbl          regclass PRIMARY KEY REFERENCES privacy.retention_policy ON DELETE CASCADE,
  run_id       bigint NOT NULL,        -- the run now working on it
  first_run_id bigint NOT NULL,        -- the run that started this pass
  runs         integer NOT NULL DEFAULT 1,
  started_at   timestamptz NOT NULL,
  cutoff       timestamptz NOT NULL,
  phase        text NOT NULL CHECK (phase IN ('partitions', 'rows')),
  next_from    text,                   -- keyset: the next batch starts here
  rows         bigint NOT NULL DEFAULT 0,
  partitions   integer NOT NULL DEFAULT 0,
  dropped      text[] NOT NULL DEFAULT '{}',
  dropped_rows_estimate bigint NOT NULL DEFAULT 0,
  pending      oid[],                  -- expired partitions still to drop
  batches      integer NOT NULL DEFAULT 0
);
COMMENT ON TABLE privacy.retention_progress IS
  'pg_privacy: purges under way (an interrupted run_purge is continued from here)';

CREATE SEQUENCE privacy.retention_run_seq;

SELECT pg_catalog.pg_extension_config_dump('privacy.retention_policy', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.legal_hold', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.legal_hold_id_seq', '');

-- Keep time_attnum matching the column name, also for rows restored from a
-- dump (attribute numbers can change across a restore).
CREATE FUNCTION privacy._retention_policy_attnum() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  SELECT a.attnum INTO NEW.time_attnum FROM pg_catalog.pg_attribute a
   WHERE a.attrelid OPERATOR(pg_catalog.=) NEW.tbl
     AND a.attname OPERATOR(pg_catalog.=) NEW.time_column
     AND NOT a.attisdropped;
  IF NEW.time_attnum IS NULL THEN
    RAISE EXCEPTION 'column "%" of relation % does not exist', NEW.time_column, NEW.tbl
      USING ERRCODE = '42703';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER retention_policy_attnum
  BEFORE INSERT OR UPDATE OF tbl, time_column ON privacy.retention_policy
  FOR EACH ROW EXECUTE FUNCTION privacy._retention_policy_attnum();

-- After ALTER TABLE: a policy's time column that was renamed is followed.
CREATE FUNCTION privacy._retention_on_ddl_end() RETURNS event_trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r record;
BEGIN
  FOR r IN
    SELECT p.tbl, p.time_column, a.attname AS new_name
      FROM pg_catalog.pg_event_trigger_ddl_commands() d
      JOIN privacy.retention_policy p ON p.tbl::oid OPERATOR(pg_catalog.=) d.objid
      JOIN pg_catalog.pg_attribute a
        ON a.attrelid OPERATOR(pg_catalog.=) p.tbl AND a.attnum OPERATOR(pg_catalog.=) p.time_attnum
     WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
       AND NOT a.attisdropped
       AND a.attname OPERATOR(pg_catalog.<>) p.time_column
       AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a2
                        WHERE a2.attrelid OPERATOR(pg_catalog.=) p.tbl
                          AND a2.attname OPERATOR(pg_catalog.=) p.time_column AND NOT a2.attisdropped)
  LOOP
    UPDATE privacy.retention_policy p SET time_column = r.new_name
     WHERE p.tbl OPERATOR(pg_catalog.=) r.tbl;
    PERFORM privacy._audit('retention.column_renamed', r.tbl::text,
                           pg_catalog.jsonb_build_object('from', r.time_column, 'to', r.new_name));
  END LOOP;
END
$$;
CREATE EVENT TRIGGER pg_privacy_retention_ddl_end ON ddl_command_end
  WHEN TAG IN ('ALTER TABLE')
  EXECUTE FUNCTION privacy._retention_on_ddl_end();

------------------------------------------------------------------------
-- Internal helpers
------------------------------------------------------------------------

-- Statements run as a table's owner (src/retention.c).
CREATE FUNCTION privacy._owner_exec(tbl regclass, sql text, args text[] DEFAULT '{}',
                                    lock_timeout_ms integer DEFAULT 0)
  RETURNS bigint
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_owner_exec';
COMMENT ON FUNCTION privacy._owner_exec(regclass, text, text[], integer) IS
  'internal: run a statement with text parameters as the table owner in a security-restricted operation; rows processed';

CREATE FUNCTION privacy._owner_query(tbl regclass, sql text, args text[] DEFAULT '{}',
                                     lock_timeout_ms integer DEFAULT 0)
  RETURNS text
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_owner_query';
COMMENT ON FUNCTION privacy._owner_query(regclass, text, text[], integer) IS
  'internal: run a query as the table owner in a security-restricted operation; first value as text';

-- The advisory lock keys: one purge at a time; holds against batches.
CREATE FUNCTION privacy._lock_key(what text) RETURNS integer
  LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN CASE what WHEN 'purge' THEN 1 WHEN 'hold' THEN 2 END;
END
$$;
COMMENT ON FUNCTION privacy._lock_key(text) IS
  'internal: second key of the advisory locks of purge and holds (first key: 0x70677072)';

-- The start of the period (align) that ts falls in, in the time zone; the
-- financial year (and its quarters) start in month year_start.
CREATE FUNCTION privacy._period_start(ts timestamptz, align text, year_start integer, zone text)
  RETURNS timestamptz
  LANGUAGE plpgsql STABLE PARALLEL SAFE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  local timestamp := ts AT TIME ZONE zone;
  shift interval := pg_catalog.make_interval(months => year_start OPERATOR(pg_catalog.-) 1);
BEGIN
  IF align IS NULL THEN
    RETURN ts;
  END IF;
  IF align IN ('quarter', 'year') THEN
    local := pg_catalog.date_trunc(align, local OPERATOR(pg_catalog.-) shift) OPERATOR(pg_catalog.+) shift;
  ELSE
    local := pg_catalog.date_trunc(align, local);
  END IF;
  RETURN local AT TIME ZONE zone;
END
$$;
COMMENT ON FUNCTION privacy._period_start(timestamptz, text, integer, text) IS
  'internal: start of the day/week/month/quarter/(financial) year a time falls in, in a time zone';

-- The cutoff of a policy at a given time: rows dated before it are
-- expired.  A row is expired when `keep` has passed since the end of its
-- period (or since its time, without alignment), and `keep_at_least`
-- (counted the same way) as well.
CREATE FUNCTION privacy._retention_cutoff(p privacy.retention_policy, at timestamptz)
  RETURNS timestamptz
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  local timestamp := at AT TIME ZONE p.time_zone;
  c timestamptz;
BEGIN
  c := privacy._period_start((local OPERATOR(pg_catalog.-) p.keep) AT TIME ZONE p.time_zone,
                             p.align, p.year_start, p.time_zone);
  IF p.keep_at_least IS NOT NULL THEN
    c := LEAST(c, privacy._period_start((local OPERATOR(pg_catalog.-) p.keep_at_least) AT TIME ZONE p.time_zone,
                                        p.align, p.year_start, p.time_zone));
  END IF;
  RETURN c;
END
$$;
COMMENT ON FUNCTION privacy._retention_cutoff(privacy.retention_policy, timestamptz) IS
  'internal: the instant before which rows of a policy''s table are expired';

-- Until when the legal minimum of a table's policy keeps a row dated ts:
-- keep_at_least after the end of the row's period (or after ts without
-- alignment); NULL when the table has no legal minimum.  For erasure,
-- which must keep (restricted) what the law still requires.
CREATE FUNCTION privacy._legal_minimum_until(tbl regclass, ts timestamptz) RETURNS timestamptz
  LANGUAGE plpgsql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  p privacy.retention_policy;
  local timestamp;
BEGIN
  SELECT * INTO p FROM privacy.retention_policy r WHERE r.tbl OPERATOR(pg_catalog.=) _legal_minimum_until.tbl;
  IF NOT FOUND OR p.keep_at_least IS NULL THEN
    RETURN NULL;
  END IF;
  local := privacy._period_start(ts, p.align, p.year_start, p.time_zone) AT TIME ZONE p.time_zone;
  IF p.align IS NOT NULL THEN
    local := local OPERATOR(pg_catalog.+)
             CASE p.align WHEN 'quarter' THEN interval '3 months' ELSE ('1 ' || p.align)::interval END;
  END IF;
  RETURN (local OPERATOR(pg_catalog.+) p.keep_at_least) AT TIME ZONE p.time_zone;
END
$$;
COMMENT ON FUNCTION privacy._legal_minimum_until(regclass, timestamptz) IS
  'internal: until when the legal minimum of the table''s retention policy keeps a row dated ts (NULL: no minimum)';

-- An interval in words ("5 years", "6 months", "1 year 2 days"), the
-- same whatever the session's IntervalStyle.
CREATE FUNCTION privacy._interval_text(i interval) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT COALESCE(NULLIF(pg_catalog.concat_ws(' ',
           CASE WHEN y OPERATOR(pg_catalog.=) 1 THEN '1 year' WHEN y OPERATOR(pg_catalog.<>) 0 THEN y || ' years' END,
           CASE WHEN m OPERATOR(pg_catalog.=) 1 THEN '1 month' WHEN m OPERATOR(pg_catalog.<>) 0 THEN m || ' months' END,
           CASE WHEN d OPERATOR(pg_catalog.=) 1 THEN '1 day' WHEN d OPERATOR(pg_catalog.<>) 0 THEN d || ' days' END,
           CASE WHEN t OPERATOR(pg_catalog.<>) interval '0' THEN pg_catalog.to_char(t, 'HH24:MI:SS') END), ''), '0')
    FROM (SELECT pg_catalog.date_part('year', i)::integer AS y, pg_catalog.date_part('month', i)::integer AS m,
                 pg_catalog.date_part('day', i)::integer AS d,
                 i OPERATOR(pg_catalog.-) pg_catalog.date_trunc('day', i) AS t) v
$$;

-- A policy in words, for the record of processing.
CREATE FUNCTION privacy._retention_text(p privacy.retention_policy) RETURNS text
  LANGUAGE sql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT CASE WHEN p.tbl IS NOT NULL THEN pg_catalog.concat(
    CASE p.action WHEN 'delete' THEN 'deleted' ELSE 'anonymized' END,
    ' ', privacy._interval_text(p.keep),
    CASE WHEN p.align IS NULL THEN ' after ' || p.time_column
         WHEN p.align OPERATOR(pg_catalog.=) 'year' AND p.year_start OPERATOR(pg_catalog.<>) 1
           THEN ' after the end of the financial year (from month ' || p.year_start || ') of ' || p.time_column
         ELSE ' after the end of the ' || p.align || ' of ' || p.time_column END,
    CASE WHEN p.keep_at_least IS NOT NULL THEN ', never before ' || privacy._interval_text(p.keep_at_least) END) END
$$;

-- A text value of the time column's type from an instant, in a form every
-- DateStyle reads back the same.
CREATE FUNCTION privacy._retention_literal(ts timestamptz, typ regtype, zone text) RETURNS text
  LANGUAGE plpgsql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF typ OPERATOR(pg_catalog.=) 'timestamptz'::regtype THEN
    RETURN pg_catalog.to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') OPERATOR(pg_catalog.||) 'Z';
  ELSIF typ OPERATOR(pg_catalog.=) 'timestamp'::regtype THEN
    RETURN pg_catalog.to_char(ts AT TIME ZONE zone, 'YYYY-MM-DD"T"HH24:MI:SS.US');
  END IF;
  -- a date: the rows of a day are expired when the whole day is
  RETURN pg_catalog.to_char(ts AT TIME ZONE zone, 'YYYY-MM-DD');
END
$$;

-- What a purge of one table needs to know, built from the catalog: the
-- relation to query, the time column, the predicate that leaves rows
-- under a hold alone (with its parameters), and for anonymize the SET list
-- and the predicate of rows not yet anonymized.
CREATE TYPE privacy._retention_work AS (
  policy       privacy.retention_policy,
  relkind      "char",
  rel          text,       -- relation as written in the statements
  tcol         text,       -- quoted time column
  ttype        regtype,
  held         text,       -- predicate: the row is under a hold ($3...)
  held_args    text[],
  set_list     text,       -- anonymize: SET ...
  todo         text        -- anonymize: the row is not anonymized yet
);

-- The form an identifier is stored in by a protect transformation; NULL
-- when the transformation refuses it (then no row can hold it there).
CREATE FUNCTION privacy._stored_form(value text, protect text, domain text) RETURNS text
  LANGUAGE plpgsql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN privacy._transform(value, protect, domain);
EXCEPTION WHEN data_exception THEN
  RETURN NULL;
END
$$;

CREATE FUNCTION privacy._retention_work(tbl regclass) RETURNS privacy._retention_work
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  w privacy._retention_work;
  p privacy.retention_policy;
  c record;
  vals text[];
  sets text[] := '{}';
  todo text[] := '{}';
  held text[] := '{}';
  expr text;
BEGIN
  SELECT * INTO p FROM privacy.retention_policy r WHERE r.tbl OPERATOR(pg_catalog.=) _retention_work.tbl;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'table % has no retention policy', tbl
      USING ERRCODE = '55000', HINT = 'Set one with privacy.set_retention().';
  END IF;
  w.policy := p;
  SELECT k.relkind INTO w.relkind FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) tbl;
  w.rel := CASE WHEN w.relkind OPERATOR(pg_catalog.=) 'p' THEN tbl::text ELSE 'ONLY ' || tbl::text END;
  SELECT pg_catalog.quote_ident(a.attname), a.atttypid::regtype INTO w.tcol, w.ttype
    FROM pg_catalog.pg_attribute a
   WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attnum OPERATOR(pg_catalog.=) p.time_attnum
     AND NOT a.attisdropped;
  IF w.tcol IS NULL THEN
    RAISE EXCEPTION 'the time column of the retention policy of % no longer exists', tbl
      USING ERRCODE = '55000', HINT = 'Set the policy again with privacy.set_retention().';
  END IF;
  IF w.ttype NOT IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype) THEN
    RAISE EXCEPTION 'time column % of relation % has type %', w.tcol, tbl, w.ttype
      USING ERRCODE = '42804', HINT = 'The time column must be timestamptz, timestamp or date.';
  END IF;

  -- Holds: every registered column that holds an identifier of the kind,
  -- compared in its stored form (through its protect transformation).
  w.held_args := '{}';
  FOR c IN
    SELECT rc.col, rc.protect, rc.domain, ik.normalize,
           (SELECT pg_catalog.array_agg(DISTINCT h.value)
              FROM privacy.legal_hold h
             WHERE h.kind OPERATOR(pg_catalog.=) rc.identifies
               AND h.released_at IS NULL
               AND (h.until IS NULL OR h.until OPERATOR(pg_catalog.>) pg_catalog.now())) AS vals
      FROM privacy.registered_column rc
      JOIN privacy.identifier_kind ik ON ik.name OPERATOR(pg_catalog.=) rc.identifies
     WHERE rc.tbl OPERATOR(pg_catalog.=) _retention_work.tbl
       AND (rc.protect IS NULL OR rc.protect NOT IN ('null', 'country'))
     ORDER BY rc.attnum
  LOOP
    CONTINUE WHEN c.vals IS NULL;
    IF c.protect IS NOT NULL THEN
      SELECT pg_catalog.array_agg(f) INTO vals
        FROM pg_catalog.unnest(c.vals) v, privacy._stored_form(v, c.protect, c.domain) f
       WHERE f IS NOT NULL;
      CONTINUE WHEN vals IS NULL;
      expr := pg_catalog.quote_ident(c.col) || '::pg_catalog.text';
    ELSE
      vals := c.vals;
      expr := CASE WHEN c.normalize OPERATOR(pg_catalog.=) 'email'
                   THEN pg_catalog.format('pg_catalog.lower(pg_catalog.btrim(%I::pg_catalog.text))', c.col)
                   ELSE pg_catalog.quote_ident(c.col) || '::pg_catalog.text' END;
    END IF;
    w.held_args := w.held_args || vals::text;
    held := held || pg_catalog.format('COALESCE(%s OPERATOR(pg_catalog.=) ANY ($%s::pg_catalog.text[]), false)',
                                      expr, pg_catalog.cardinality(w.held_args) OPERATOR(pg_catalog.+) 2);
  END LOOP;
  w.held := CASE WHEN pg_catalog.cardinality(held) OPERATOR(pg_catalog.=) 0 THEN NULL
                 ELSE '(' || pg_catalog.array_to_string(held, ' OR ') || ')' END;

  IF p.action OPERATOR(pg_catalog.=) 'anonymize' THEN
    -- the time column and other registered traffic times: generalized
    FOR c IN
      SELECT a.attname, a.atttypid::regtype AS typ
        FROM pg_catalog.pg_attribute a
       WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND NOT a.attisdropped
         AND a.atttypid IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype)
         AND (a.attnum OPERATOR(pg_catalog.=) p.time_attnum
              OR EXISTS (SELECT FROM privacy.registered_column rc
                          WHERE rc.tbl OPERATOR(pg_catalog.=) _retention_work.tbl
                            AND rc.col OPERATOR(pg_catalog.=) a.attname
                            AND rc.category OPERATOR(pg_catalog.=) 'traffic'))
       ORDER BY a.attnum
    LOOP
      expr := CASE c.typ
        WHEN 'timestamptz'::regtype THEN pg_catalog.format('pg_catalog.date_trunc(%L, %I, %L)', p.generalize, c.attname, p.time_zone)
        WHEN 'timestamp'::regtype THEN pg_catalog.format('pg_catalog.date_trunc(%L, %I)', p.generalize, c.attname)
        ELSE pg_catalog.format('pg_catalog.date_trunc(%L, %I::pg_catalog.timestamp)::pg_catalog.date', p.generalize, c.attname) END;
      sets := sets || pg_catalog.format('%I = %s', c.attname, expr);
      todo := todo || pg_catalog.format('%I OPERATOR(pg_catalog.<>) %s', c.attname, expr);
    END LOOP;
    -- every other registered column, unless it is a traffic or location fact
    FOR c IN
      SELECT rc.col, a.attnotnull, a.atttypid, rc.protect
        FROM privacy.registered_column rc
        JOIN pg_catalog.pg_attribute a
          ON a.attrelid OPERATOR(pg_catalog.=) rc.tbl AND a.attname OPERATOR(pg_catalog.=) rc.col
         AND NOT a.attisdropped
       WHERE rc.tbl OPERATOR(pg_catalog.=) _retention_work.tbl
         AND a.attnum OPERATOR(pg_catalog.<>) p.time_attnum
         AND (rc.identifies IS NOT NULL OR rc.category NOT IN ('traffic', 'location'))
       ORDER BY a.attnum
    LOOP
      IF NOT c.attnotnull THEN
        sets := sets || pg_catalog.format('%I = NULL', c.col);
        todo := todo || pg_catalog.format('%I IS NOT NULL', c.col);
      ELSIF c.protect IS NULL
            AND c.atttypid IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype) THEN
        sets := sets || pg_catalog.format('%I = %L', c.col, '');
        todo := todo || pg_catalog.format('%I OPERATOR(pg_catalog.<>) %L', c.col, '');
      ELSE
        RAISE EXCEPTION 'column "%" of relation % is NOT NULL and cannot be anonymized', c.col, tbl
          USING ERRCODE = '55000',
                DETAIL = CASE WHEN c.protect IS NOT NULL
                              THEN 'Its protect transformation applies to any value but NULL, so only NULL hides it.'
                              ELSE 'Only NULL (or an empty text) carries no personal data.' END,
                HINT = pg_catalog.format('Allow NULL in it (ALTER TABLE %s ALTER COLUMN %I DROP NOT NULL) or use action ''delete''.',
                                         tbl, c.col);
      END IF;
    END LOOP;
    w.set_list := pg_catalog.array_to_string(sets, ', ');
    w.todo := '(' || pg_catalog.array_to_string(todo, ' OR ') || ')';
  END IF;
  RETURN w;
END
$$;
COMMENT ON FUNCTION privacy._retention_work(regclass) IS
  'internal: the relation, time column, hold predicate and anonymization of one table''s purge';

-- The WHERE clause of a batch: [lo <= t] and t < hi ($1), not held,
-- not anonymized yet.  $2 is lo.
CREATE FUNCTION privacy._retention_where(w privacy._retention_work, with_lo boolean) RETURNS text
  LANGUAGE plpgsql IMMUTABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN pg_catalog.concat_ws(' AND ',
    CASE WHEN with_lo THEN pg_catalog.format('%s OPERATOR(pg_catalog.>=) $2::%s', w.tcol, w.ttype) END,
    pg_catalog.format('%s OPERATOR(pg_catalog.<) $1::%s', w.tcol, w.ttype),
    CASE WHEN w.held IS NOT NULL THEN 'NOT ' OPERATOR(pg_catalog.||) w.held END,
    w.todo);
END
$$;

-- Whole partitions that a purge of tbl drops: leaves range-partitioned on
-- the time column alone, whose upper bound is at or before the cutoff (so
-- every row they can hold is expired).  Rows under a hold are checked by
-- the caller.
CREATE FUNCTION privacy._retention_expired_partitions(w privacy._retention_work, cutoff timestamptz)
  RETURNS TABLE(leaf regclass, upper_bound timestamptz)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET datestyle = 'ISO, YMD'
AS $$
DECLARE
  r record;
  bound text;
  ub timestamptz;
BEGIN
  IF w.relkind OPERATOR(pg_catalog.<>) 'p' THEN
    RETURN;
  END IF;
  FOR r IN
    SELECT t.relid AS leaf, t.parentrelid AS parent,
           pg_catalog.pg_get_expr(c.relpartbound, c.oid) AS spec
      FROM pg_catalog.pg_partition_tree((w.policy).tbl) t
      JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.relid
      JOIN pg_catalog.pg_partitioned_table pt ON pt.partrelid OPERATOR(pg_catalog.=) t.parentrelid
      JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) t.parentrelid
                                    AND a.attnum OPERATOR(pg_catalog.=) pt.partattrs[0]
     WHERE t.isleaf AND c.relkind OPERATOR(pg_catalog.=) 'r'
       AND pt.partstrat OPERATOR(pg_catalog.=) 'r' AND pt.partnatts OPERATOR(pg_catalog.=) 1
       AND a.attname OPERATOR(pg_catalog.=) (w.policy).time_column
  LOOP
    bound := pg_catalog.substring(r.spec, '\) TO \((.*)\)$');
    CONTINUE WHEN bound IS NULL OR bound !~ '^''.*''$';     -- MAXVALUE
    bound := pg_catalog.replace(pg_catalog.substr(bound, 2, pg_catalog.length(bound) OPERATOR(pg_catalog.-) 2), '''''', '''');
    ub := CASE w.ttype
            WHEN 'timestamptz'::regtype THEN bound::timestamptz
            WHEN 'timestamp'::regtype THEN bound::timestamp AT TIME ZONE (w.policy).time_zone
            ELSE bound::date::timestamp AT TIME ZONE (w.policy).time_zone END;
    -- for a date column a row's whole day must be expired: compare dates
    IF (w.ttype OPERATOR(pg_catalog.=) 'date'::regtype
        AND bound::date OPERATOR(pg_catalog.<=) privacy._retention_literal(cutoff, w.ttype, (w.policy).time_zone)::date)
       OR (w.ttype OPERATOR(pg_catalog.<>) 'date'::regtype AND ub OPERATOR(pg_catalog.<=) cutoff) THEN
      leaf := r.leaf;
      upper_bound := ub;
      RETURN NEXT;
    END IF;
  END LOOP;
END
$$;

-- Raise 42501 unless the invoking role may run purges.
CREATE FUNCTION privacy._check_purge_privilege() RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT (pg_catalog.has_function_privilege(privacy._invoker(), 'privacy.purge(boolean, regclass, integer, integer)', 'EXECUTE')
          OR pg_catalog.has_function_privilege(privacy._invoker(), 'privacy.run_purge(integer, integer, integer)', 'EXECUTE')) THEN
    RAISE EXCEPTION 'permission denied to purge'
      USING ERRCODE = '42501',
            HINT = 'Grant EXECUTE on privacy.purge() or privacy.run_purge() to this role.';
  END IF;
END
$$;

------------------------------------------------------------------------
-- Policies
------------------------------------------------------------------------

CREATE FUNCTION privacy.set_retention(tbl regclass, time_column name, keep interval,
                                      action text DEFAULT 'delete',
                                      keep_at_least interval DEFAULT NULL,
                                      align text DEFAULT NULL,
                                      year_start integer DEFAULT 1,
                                      time_zone text DEFAULT NULL,
                                      generalize text DEFAULT 'day')
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  att record;
  old privacy.retention_policy;
  zone text := COALESCE(time_zone, pg_catalog.current_setting('TimeZone'));
  rel record;
  other regclass;
  w privacy._retention_work;
BEGIN
  IF tbl IS NULL OR time_column IS NULL OR keep IS NULL OR action IS NULL THEN
    RAISE EXCEPTION 'table, time column, keep and action must not be null' USING ERRCODE = '22004';
  END IF;
  IF NOT EXISTS (SELECT FROM privacy.registered_table t WHERE t.tbl OPERATOR(pg_catalog.=) set_retention.tbl) THEN
    RAISE EXCEPTION 'table % is not registered', tbl
      USING ERRCODE = '55000',
            HINT = 'Register it with privacy.register_table() first; a policy is part of the record of processing.';
  END IF;
  PERFORM privacy._check_owner(tbl);
  SELECT a.attnum, a.atttypid::regtype AS typ INTO att
    FROM pg_catalog.pg_attribute a
   WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attname OPERATOR(pg_catalog.=) time_column
     AND NOT a.attisdropped AND a.attnum OPERATOR(pg_catalog.>) 0;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'column "%" of relation % does not exist', time_column, tbl USING ERRCODE = '42703';
  END IF;
  IF att.typ NOT IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype) THEN
    RAISE EXCEPTION 'time column "%" of relation % has type %', time_column, tbl, att.typ
      USING ERRCODE = '42804',
            HINT = 'The column that dates a row must be of type timestamptz, timestamp or date.';
  END IF;
  IF keep OPERATOR(pg_catalog.<=) interval '0' THEN
    RAISE EXCEPTION 'retention period must be positive'
      USING ERRCODE = '22023', DETAIL = pg_catalog.format('keep was %s.', keep);
  END IF;
  IF keep_at_least IS NOT NULL AND keep_at_least OPERATOR(pg_catalog.<=) interval '0' THEN
    RAISE EXCEPTION 'legal minimum must be positive'
      USING ERRCODE = '22023', DETAIL = pg_catalog.format('keep_at_least was %s.', keep_at_least);
  END IF;
  IF keep_at_least IS NOT NULL AND keep OPERATOR(pg_catalog.<) keep_at_least THEN
    RAISE EXCEPTION 'retention period is shorter than the legal minimum'
      USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('keep was %s, keep_at_least %s: rows could never be purged when they expire.',
                                       keep, keep_at_least),
            HINT = 'Keep rows at least as long as the law requires.';
  END IF;
  IF action NOT IN ('delete', 'anonymize') THEN
    RAISE EXCEPTION 'invalid retention action "%"', action
      USING ERRCODE = '22023', HINT = 'Use "delete" or "anonymize".';
  END IF;
  IF align IS NOT NULL AND align NOT IN ('day', 'week', 'month', 'quarter', 'year') THEN
    RAISE EXCEPTION 'invalid period "%"', align
      USING ERRCODE = '22023', HINT = 'Use one of: day, week, month, quarter, year (the financial year with year_start).';
  END IF;
  IF year_start IS NULL OR year_start NOT BETWEEN 1 AND 12 THEN
    RAISE EXCEPTION 'invalid first month of the financial year: %', year_start
      USING ERRCODE = '22023', HINT = 'year_start is a month, 1 to 12.';
  END IF;
  IF year_start OPERATOR(pg_catalog.<>) 1 AND align IS DISTINCT FROM 'year' AND align IS DISTINCT FROM 'quarter' THEN
    RAISE EXCEPTION 'year_start applies only to periods "year" and "quarter"' USING ERRCODE = '22023';
  END IF;
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_timezone_names z WHERE z.name OPERATOR(pg_catalog.=) zone)
     AND NOT EXISTS (SELECT FROM pg_catalog.pg_timezone_abbrevs z WHERE z.abbrev OPERATOR(pg_catalog.=) zone) THEN
    RAISE EXCEPTION 'time zone "%" not recognized', zone USING ERRCODE = '22023';
  END IF;
  IF generalize IS NULL OR generalize NOT IN ('minute', 'hour', 'day', 'week', 'month', 'quarter', 'year') THEN
    RAISE EXCEPTION 'invalid generalization unit "%"', generalize
      USING ERRCODE = '22023', HINT = 'Use one of: minute, hour, day, week, month, quarter, year.';
  END IF;
  -- Conflicts: a table that inherits from, or is inherited by, a table
  -- with a policy would be purged under two policies.
  WITH RECURSIVE up(r) AS (
      SELECT i.inhparent FROM pg_catalog.pg_inherits i WHERE i.inhrelid OPERATOR(pg_catalog.=) tbl
      UNION SELECT i.inhparent FROM pg_catalog.pg_inherits i JOIN up ON i.inhrelid OPERATOR(pg_catalog.=) up.r),
    down(r) AS (
      SELECT i.inhrelid FROM pg_catalog.pg_inherits i WHERE i.inhparent OPERATOR(pg_catalog.=) tbl
      UNION SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN down ON i.inhparent OPERATOR(pg_catalog.=) down.r)
  SELECT p.tbl INTO other FROM privacy.retention_policy p
   WHERE p.tbl::oid IN (SELECT r FROM up UNION SELECT r FROM down)
   LIMIT 1;
  IF other IS NOT NULL THEN
    RAISE EXCEPTION 'conflicting retention policy'
      USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('Table %s inherits from or is inherited by %s, which has a policy; its rows would be purged under both.',
                                       tbl, other),
            HINT = pg_catalog.format('Remove the policy of %s with privacy.drop_retention() first.', other);
  END IF;

  SELECT * INTO old FROM privacy.retention_policy p WHERE p.tbl OPERATOR(pg_catalog.=) set_retention.tbl FOR UPDATE;
  INSERT INTO privacy.retention_policy AS p
         (tbl, time_column, time_attnum, keep, action, keep_at_least, align, year_start, time_zone, generalize, set_by)
  VALUES (tbl, time_column, att.attnum, keep, action, keep_at_least, align, year_start, zone, generalize, privacy._invoker())
  ON CONFLICT ON CONSTRAINT retention_policy_pkey DO UPDATE
     SET time_column = EXCLUDED.time_column, keep = EXCLUDED.keep, action = EXCLUDED.action,
         keep_at_least = EXCLUDED.keep_at_least, align = EXCLUDED.align, year_start = EXCLUDED.year_start,
         time_zone = EXCLUDED.time_zone, generalize = EXCLUDED.generalize,
         set_at = pg_catalog.now(), set_by = EXCLUDED.set_by;
  -- A purge under way continues under the new policy from the start.
  DELETE FROM privacy.retention_progress g WHERE g.tbl OPERATOR(pg_catalog.=) set_retention.tbl;
  -- Check that the purge can be carried out (anonymize: every personal
  -- column can be emptied); an error undoes the change.
  w := privacy._retention_work(tbl);
  PERFORM privacy._audit(
    CASE WHEN old.tbl IS NULL THEN 'retention.set' ELSE 'retention.change' END,
    tbl::text,
    pg_catalog.jsonb_build_object('time_column', time_column, 'keep', keep::text, 'action', action,
                                  'keep_at_least', keep_at_least::text, 'align', align,
                                  'year_start', year_start, 'time_zone', zone,
                                  'generalize', CASE WHEN action OPERATOR(pg_catalog.=) 'anonymize' THEN generalize END)
    OPERATOR(pg_catalog.||)
    CASE WHEN old.tbl IS NULL THEN '{}'::jsonb
         ELSE pg_catalog.jsonb_build_object('previous', privacy._retention_text(old)) END);
END
$$;
COMMENT ON FUNCTION privacy.set_retention(regclass, name, interval, text, interval, text, integer, text, text) IS
  'set (or replace) the retention policy of a registered table: rows older than keep (counted from the end of the align period, a financial year starting in month year_start) are deleted or anonymized, never before keep_at_least';

CREATE FUNCTION privacy.drop_retention(tbl regclass) RETURNS void
  LANGUAGE plpgsql VOLATILE STRICT
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  old privacy.retention_policy;
BEGIN
  SELECT * INTO old FROM privacy.retention_policy p WHERE p.tbl OPERATOR(pg_catalog.=) drop_retention.tbl FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'table % has no retention policy', tbl USING ERRCODE = '55000';
  END IF;
  PERFORM privacy._check_owner(tbl);
  DELETE FROM privacy.retention_policy p WHERE p.tbl OPERATOR(pg_catalog.=) drop_retention.tbl;
  PERFORM privacy._audit('retention.drop', tbl::text,
                         pg_catalog.jsonb_build_object('previous', privacy._retention_text(old)));
END
$$;
COMMENT ON FUNCTION privacy.drop_retention(regclass) IS 'remove the retention policy of a table';

CREATE VIEW privacy.retention_policies AS
SELECT p.tbl AS table_name, t.purpose, p.time_column, p.keep, p.align AS period,
       CASE WHEN p.align IN ('year', 'quarter') THEN p.year_start END AS year_start,
       p.action, p.keep_at_least, p.time_zone,
       CASE WHEN p.action OPERATOR(pg_catalog.=) 'anonymize' THEN p.generalize END AS generalize,
       privacy._retention_cutoff(p, pg_catalog.now()) AS expired_before,
       privacy._retention_text(p) AS description,
       p.set_at, p.set_by,
       g.tbl IS NOT NULL AS purge_under_way
  FROM privacy.retention_policy p
  JOIN privacy.registered_table t ON t.tbl OPERATOR(pg_catalog.=) p.tbl
  LEFT JOIN privacy.retention_progress g ON g.tbl OPERATOR(pg_catalog.=) p.tbl;
COMMENT ON VIEW privacy.retention_policies IS
  'retention policies: what is kept how long, what happens then, and the cutoff as of now';

-- The record of processing, with retention (the columns of 20_catalog.sql
-- unchanged and in order; retention appended).
CREATE OR REPLACE VIEW privacy.personal_data AS
SELECT c.tbl                          AS table_name,
       c.col                          AS column_name,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS data_type,
       c.category,
       c.identifies,
       c.link,
       c.protect,
       CASE WHEN c.protect IN ('pseudonym', 'msisdn_fpe', 'email_pseudonym') THEN c.domain END
                                      AS protect_domain,
       t.purpose,
       p.legal_basis,
       b.article                      AS legal_basis_article,
       p.requires_consent,
       p.recipients,
       p.description                  AS purpose_description,
       privacy._retention_text(r)     AS retention,
       r.keep                         AS retention_keep,
       r.action                       AS retention_action,
       r.keep_at_least                AS retention_keep_at_least
  FROM privacy.registered_column c
  JOIN privacy.registered_table t ON t.tbl OPERATOR(pg_catalog.=) c.tbl
  JOIN privacy.purpose p ON p.name OPERATOR(pg_catalog.=) t.purpose
  JOIN privacy.legal_basis b ON b.name OPERATOR(pg_catalog.=) p.legal_basis
  LEFT JOIN pg_catalog.pg_attribute a
         ON a.attrelid OPERATOR(pg_catalog.=) c.tbl AND a.attname OPERATOR(pg_catalog.=) c.col
        AND NOT a.attisdropped
  LEFT JOIN privacy.retention_policy r ON r.tbl OPERATOR(pg_catalog.=) c.tbl;

------------------------------------------------------------------------
-- Legal holds
------------------------------------------------------------------------


CREATE FUNCTION privacy.hold(kind text, value text, reason text, until timestamptz DEFAULT NULL)
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  norm text;
  new_id bigint;
BEGIN
  IF kind IS NULL OR value IS NULL OR reason IS NULL THEN
    RAISE EXCEPTION 'kind, value and reason must not be null' USING ERRCODE = '22004';
  END IF;
  IF pg_catalog.btrim(reason) OPERATOR(pg_catalog.=) '' THEN
    RAISE EXCEPTION 'a legal hold needs a reason' USING ERRCODE = '22023';
  END IF;
  IF until IS NOT NULL AND until OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
    RAISE EXCEPTION 'a legal hold must end in the future'
      USING ERRCODE = '22023', DETAIL = pg_catalog.format('until was %s.', until);
  END IF;
  norm := privacy._normalize_identifier(kind, value);
  IF norm IS NULL OR norm OPERATOR(pg_catalog.=) '' THEN
    RAISE EXCEPTION 'empty identifier' USING ERRCODE = '22023';
  END IF;
  -- Wait for a purge batch in progress: it did not see this hold.  The
  -- next batch does.
  PERFORM pg_catalog.pg_advisory_xact_lock(1885827186, privacy._lock_key('hold'));
  INSERT INTO privacy.legal_hold (kind, value, reason, placed_by, until)
       VALUES (kind, norm, reason, privacy._invoker(), until)
    RETURNING id INTO new_id;
  PERFORM privacy._audit('retention.hold', NULL,
                         pg_catalog.jsonb_build_object('hold', new_id, 'kind', kind,
                                                       'subject', privacy._subject_ref(kind, value),
                                                       'until', until));
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION privacy.hold(text, text, text, timestamptz) IS
  'place a legal hold on a data subject: rows holding the identifier are not purged until the hold ends or is released';

CREATE FUNCTION privacy.release_hold(hold_id bigint) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  h privacy.legal_hold;
BEGIN
  IF hold_id IS NULL THEN
    RAISE EXCEPTION 'hold id must not be null' USING ERRCODE = '22004';
  END IF;
  SELECT * INTO h FROM privacy.legal_hold l WHERE l.id OPERATOR(pg_catalog.=) hold_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'legal hold % does not exist', hold_id USING ERRCODE = '22023';
  END IF;
  IF h.released_at IS NOT NULL THEN
    RAISE EXCEPTION 'legal hold % was already released', hold_id
      USING ERRCODE = '55000', DETAIL = pg_catalog.format('It was released at %s.', h.released_at);
  END IF;
  UPDATE privacy.legal_hold l SET released_at = pg_catalog.now(), released_by = privacy._invoker()
   WHERE l.id OPERATOR(pg_catalog.=) hold_id;
  PERFORM privacy._audit('retention.release_hold', NULL,
                         pg_catalog.jsonb_build_object('hold', hold_id, 'kind', h.kind,
                                                       'subject', privacy._subject_ref(h.kind, h.value)));
END
$$;
COMMENT ON FUNCTION privacy.release_hold(bigint) IS
  'end a legal hold: the subject''s expired rows are purged by the next run';

CREATE VIEW privacy.legal_holds AS
SELECT h.id, h.kind,
       CASE k.normalize WHEN 'msisdn' THEN privacy.mask_msisdn(h.value)
                        ELSE pg_catalog.left(h.value, 2) || '***' END AS masked_value,
       h.reason, h.placed_at, h.placed_by, h.until, h.released_at, h.released_by,
       (h.released_at IS NULL AND (h.until IS NULL OR h.until OPERATOR(pg_catalog.>) pg_catalog.now())) AS active
  FROM privacy.legal_hold h
  JOIN privacy.identifier_kind k ON k.name OPERATOR(pg_catalog.=) h.kind;
COMMENT ON VIEW privacy.legal_holds IS
  'legal holds with masked identifiers, and whether each is active';

------------------------------------------------------------------------
-- The purge
------------------------------------------------------------------------

-- One batch of the purge of one table.  Returns done when the table is
-- finished (its receipt is then in the audit log), with the totals of its
-- pass so far.
CREATE FUNCTION privacy._purge_batch(tbl regclass, run_id bigint, batch_size integer,
                                     lock_timeout_ms integer, retries integer,
                                     OUT done boolean, OUT action text,
                                     OUT rows bigint, OUT partitions integer)
  LANGUAGE plpgsql VOLATILE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
  SET datestyle = 'ISO, YMD'
AS $$
DECLARE
  w privacy._retention_work;
  g privacy.retention_progress;
  cutoff timestamptz;
  cut text;
  hi text;
  n bigint := 0;
  leaf regclass;
  leafname text;
  dropped_one boolean;
  pend oid[];
  i integer;
  est bigint;
  attempt integer;
  wh text;
  q text;
  args text[];
BEGIN
  PERFORM privacy._check_purge_privilege();
  -- A hold placed from now on waits for this batch; one placed before is seen.
  PERFORM pg_catalog.pg_advisory_xact_lock_shared(1885827186, privacy._lock_key('hold'));
  IF NOT EXISTS (SELECT FROM privacy.retention_policy p WHERE p.tbl OPERATOR(pg_catalog.=) _purge_batch.tbl) THEN
    -- the policy (or the table) went away since the run started
    done := true;
    RETURN;
  END IF;
  w := privacy._retention_work(tbl);
  action := (w.policy).action;

  SELECT * INTO g FROM privacy.retention_progress p WHERE p.tbl OPERATOR(pg_catalog.=) _purge_batch.tbl FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO privacy.retention_progress AS p (tbl, run_id, first_run_id, started_at, cutoff, phase)
         VALUES (tbl, run_id, run_id, pg_catalog.now(), privacy._retention_cutoff(w.policy, pg_catalog.now()),
                 CASE WHEN w.relkind OPERATOR(pg_catalog.=) 'p' AND (w.policy).action OPERATOR(pg_catalog.=) 'delete'
                      THEN 'partitions' ELSE 'rows' END)
      RETURNING * INTO g;
  ELSIF g.run_id OPERATOR(pg_catalog.<>) run_id THEN
    -- continuing an interrupted run: the cutoff as of now
    UPDATE privacy.retention_progress p
       SET run_id = _purge_batch.run_id, runs = p.runs OPERATOR(pg_catalog.+) 1,
           cutoff = privacy._retention_cutoff(w.policy, pg_catalog.now())
     WHERE p.tbl OPERATOR(pg_catalog.=) _purge_batch.tbl
      RETURNING * INTO g;
  END IF;
  cutoff := g.cutoff;

  IF g.phase OPERATOR(pg_catalog.=) 'partitions' THEN
    -- the expired partitions, listed once per pass, oldest first; each
    -- batch drops the next one that holds no row under a hold
    pend := g.pending;
    IF pend IS NULL THEN
      pend := ARRAY(SELECT e.leaf::oid FROM privacy._retention_expired_partitions(w, cutoff) e
                     ORDER BY e.upper_bound, e.leaf::text);
    END IF;
    i := 1;
    WHILE i OPERATOR(pg_catalog.<=) pg_catalog.cardinality(pend) LOOP
      SELECT c.oid::regclass, GREATEST(c.reltuples, 0)::bigint INTO leaf, est
        FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) pend[i];
      i := i OPERATOR(pg_catalog.+) 1;
      CONTINUE WHEN leaf IS NULL;   -- dropped meanwhile
      leafname := leaf::text;       -- the name, before the oid is gone
      dropped_one := false;
      attempt := 0;
      LOOP
        BEGIN
          IF w.held IS NULL
             OR privacy._owner_query(leaf, pg_catalog.format('SELECT EXISTS (SELECT FROM ONLY %s WHERE %s)', leafname, w.held),
                                     ARRAY[NULL, NULL]::text[] || w.held_args, lock_timeout_ms)::boolean IS FALSE THEN
            PERFORM privacy._owner_exec(leaf, pg_catalog.format('DROP TABLE %s', leafname), '{}', lock_timeout_ms);
            dropped_one := true;
          END IF;
          EXIT;
        EXCEPTION WHEN lock_not_available THEN
          attempt := attempt OPERATOR(pg_catalog.+) 1;
          IF attempt OPERATOR(pg_catalog.>) retries THEN
            RAISE EXCEPTION 'could not lock partition % to drop it', leafname
              USING ERRCODE = '55P03',
                    DETAIL = pg_catalog.format('Gave up after %s attempts with lock_timeout %s ms.', attempt, lock_timeout_ms),
                    HINT = 'The next run tries again; the purge continues where it stopped.';
          END IF;
          PERFORM pg_catalog.pg_sleep(0.05 OPERATOR(pg_catalog.*) attempt);
        END;
      END LOOP;
      IF dropped_one THEN
        UPDATE privacy.retention_progress p
           SET partitions = p.partitions OPERATOR(pg_catalog.+) 1,
               dropped = p.dropped OPERATOR(pg_catalog.||) leafname,
               dropped_rows_estimate = p.dropped_rows_estimate OPERATOR(pg_catalog.+) est,
               pending = pend[i:],
               batches = p.batches OPERATOR(pg_catalog.+) 1
         WHERE p.tbl OPERATOR(pg_catalog.=) _purge_batch.tbl
          RETURNING * INTO g;
        done := false;
        rows := g.rows;
        partitions := g.partitions;
        RETURN;
      END IF;
      -- it holds a row under a hold: its other rows go by rows below
    END LOOP;
    UPDATE privacy.retention_progress p SET phase = 'rows', pending = '{}'
     WHERE p.tbl OPERATOR(pg_catalog.=) _purge_batch.tbl
      RETURNING * INTO g;
  END IF;

  -- Rows: the key range [next_from, hi) holding batch_size rows to purge.
  cut := privacy._retention_literal(cutoff, w.ttype, (w.policy).time_zone);
  args := ARRAY[cut, g.next_from] OPERATOR(pg_catalog.||) w.held_args;
  wh := privacy._retention_where(w, g.next_from IS NOT NULL);
  IF (w.policy).action OPERATOR(pg_catalog.=) 'delete' THEN
    q := pg_catalog.format('DELETE FROM %s WHERE %s', w.rel, wh);
  ELSE
    q := pg_catalog.format('UPDATE %s SET %s WHERE %s', w.rel, w.set_list, wh);
  END IF;
  attempt := 0;
  LOOP
    BEGIN
      args[1] := cut;
      hi := privacy._owner_query(tbl,
              pg_catalog.format('SELECT %s FROM %s WHERE %s ORDER BY %s OFFSET %s LIMIT 1',
                                w.tcol, w.rel, wh, w.tcol, batch_size), args, lock_timeout_ms);
      IF hi IS NOT NULL AND hi OPERATOR(pg_catalog.=) g.next_from THEN
        -- batch_size rows or more share one time: take them all
        hi := privacy._owner_query(tbl,
                pg_catalog.format('SELECT pg_catalog.min(%s) FROM %s WHERE %s AND %s OPERATOR(pg_catalog.>) $2::%s',
                                  w.tcol, w.rel, wh, w.tcol, w.ttype), args, lock_timeout_ms);
      END IF;
      args[1] := COALESCE(hi, cut);
      n := privacy._owner_exec(tbl, q, args, lock_timeout_ms);
      EXIT;
    EXCEPTION WHEN lock_not_available THEN
      attempt := attempt OPERATOR(pg_catalog.+) 1;
      IF attempt OPERATOR(pg_catalog.>) retries THEN
        RAISE EXCEPTION 'could not lock rows of % to purge them', tbl
          USING ERRCODE = '55P03',
                DETAIL = pg_catalog.format('Gave up after %s attempts with lock_timeout %s ms.', attempt, lock_timeout_ms),
                HINT = 'The next run tries again; the purge continues where it stopped.';
      END IF;
      PERFORM pg_catalog.pg_sleep(0.05 OPERATOR(pg_catalog.*) attempt);
    END;
  END LOOP;
  UPDATE privacy.retention_progress p
     SET rows = p.rows OPERATOR(pg_catalog.+) n, next_from = hi,
         batches = p.batches OPERATOR(pg_catalog.+) 1
   WHERE p.tbl OPERATOR(pg_catalog.=) _purge_batch.tbl
    RETURNING * INTO g;
  rows := g.rows;
  partitions := g.partitions;
  done := hi IS NULL;
  IF done THEN
    -- the receipt: no personal data, only what was done to which table
    PERFORM privacy._audit('retention.purge', tbl::text,
      pg_catalog.jsonb_build_object(
        'run', g.first_run_id, 'action', (w.policy).action,
        'rows', g.rows, 'partitions', g.partitions,
        'dropped', pg_catalog.to_jsonb(g.dropped),
        'dropped_rows_estimate', g.dropped_rows_estimate,
        'expired_before', g.cutoff,
        'policy', privacy._retention_text(w.policy),
        'held_columns', pg_catalog.cardinality(w.held_args),
        'started_at', g.started_at, 'finished_at', pg_catalog.clock_timestamp(),
        'batches', g.batches, 'runs', g.runs));
    DELETE FROM privacy.retention_progress p WHERE p.tbl OPERATOR(pg_catalog.=) _purge_batch.tbl;
  END IF;
END
$$;
COMMENT ON FUNCTION privacy._purge_batch(regclass, bigint, integer, integer, integer) IS
  'internal: one batch of a table''s purge (drop one expired partition, or purge one key range of rows), as the table owner';

-- What a purge of one table would do now: the expired partitions it
-- would drop and the rows it would delete or anonymize, counted with the
-- same predicates (a dry run).
CREATE FUNCTION privacy._purge_preview(tbl regclass,
                                       OUT action text, OUT rows bigint, OUT partitions integer)
  LANGUAGE plpgsql VOLATILE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
  SET datestyle = 'ISO, YMD'
AS $$
DECLARE
  w privacy._retention_work;
  g privacy.retention_progress;
  cutoff timestamptz;
  leaf regclass;
  dropped oid[] := '{}';
  args text[];
BEGIN
  PERFORM privacy._check_purge_privilege();
  w := privacy._retention_work(tbl);
  action := (w.policy).action;
  partitions := 0;
  SELECT * INTO g FROM privacy.retention_progress p WHERE p.tbl OPERATOR(pg_catalog.=) _purge_preview.tbl;
  cutoff := privacy._retention_cutoff(w.policy, pg_catalog.now());
  IF w.relkind OPERATOR(pg_catalog.=) 'p' AND (w.policy).action OPERATOR(pg_catalog.=) 'delete'
     AND (g.tbl IS NULL OR g.phase OPERATOR(pg_catalog.=) 'partitions') THEN
    FOR leaf IN
      SELECT c.oid::regclass FROM pg_catalog.pg_class c
       WHERE g.pending IS NOT NULL AND c.oid OPERATOR(pg_catalog.=) ANY (g.pending)
      UNION ALL
      SELECT e.leaf FROM privacy._retention_expired_partitions(w, cutoff) e WHERE g.pending IS NULL
    LOOP
      IF w.held IS NULL
         OR privacy._owner_query(leaf, pg_catalog.format('SELECT EXISTS (SELECT FROM ONLY %s WHERE %s)', leaf, w.held),
                                 ARRAY[NULL, NULL]::text[] || w.held_args)::boolean IS FALSE THEN
        partitions := partitions OPERATOR(pg_catalog.+) 1;
        dropped := dropped OPERATOR(pg_catalog.||) leaf::oid;
      END IF;
    END LOOP;
  END IF;
  args := ARRAY[privacy._retention_literal(cutoff, w.ttype, (w.policy).time_zone), g.next_from]
          OPERATOR(pg_catalog.||) w.held_args OPERATOR(pg_catalog.||) dropped::text;
  rows := privacy._owner_query(tbl,
            pg_catalog.format('SELECT pg_catalog.count(*) FROM %s WHERE %s AND tableoid OPERATOR(pg_catalog.<>) ALL ($%s::pg_catalog.oid[])',
                              w.rel, privacy._retention_where(w, g.next_from IS NOT NULL),
                              pg_catalog.cardinality(args)), args)::bigint;
END
$$;
COMMENT ON FUNCTION privacy._purge_preview(regclass) IS
  'internal: what a purge of the table would do now (dry run)';

CREATE FUNCTION privacy.purge(dry_run boolean DEFAULT false, tbl regclass DEFAULT NULL,
                              lock_timeout_ms integer DEFAULT 1000, retries integer DEFAULT 5)
  RETURNS TABLE(table_name regclass, action text, rows bigint, partitions integer)
  LANGUAGE plpgsql VOLATILE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  tables regclass[];
  t regclass;
  b record;
  run bigint;
  total_rows bigint := 0;
  total_parts integer := 0;
BEGIN
  IF dry_run IS NULL THEN
    RAISE EXCEPTION 'dry_run must not be null' USING ERRCODE = '22004';
  END IF;
  IF lock_timeout_ms IS NULL OR lock_timeout_ms OPERATOR(pg_catalog.<) 1
     OR retries IS NULL OR retries OPERATOR(pg_catalog.<) 0 THEN
    RAISE EXCEPTION 'invalid lock_timeout_ms % or retries %', lock_timeout_ms, retries
      USING ERRCODE = '22023', HINT = 'lock_timeout_ms must be at least 1, retries at least 0.';
  END IF;
  PERFORM privacy._check_purge_privilege();
  IF tbl IS NOT NULL
     AND NOT EXISTS (SELECT FROM privacy.retention_policy p WHERE p.tbl OPERATOR(pg_catalog.=) purge.tbl) THEN
    RAISE EXCEPTION 'table % has no retention policy', tbl
      USING ERRCODE = '55000', HINT = 'Set one with privacy.set_retention().';
  END IF;
  tables := ARRAY(SELECT p.tbl FROM privacy.retention_policy p
                   WHERE purge.tbl IS NULL OR p.tbl OPERATOR(pg_catalog.=) purge.tbl
                   ORDER BY p.tbl::text);
  IF dry_run THEN
    FOREACH t IN ARRAY tables LOOP
      SELECT * INTO b FROM privacy._purge_preview(t);
      table_name := t; action := b.action; rows := b.rows; partitions := b.partitions;
      RETURN NEXT;
    END LOOP;
    RETURN;
  END IF;

  -- A batch must see holds placed while the purge runs: READ COMMITTED.
  IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed' THEN
    RAISE EXCEPTION 'purge must run at isolation level READ COMMITTED'
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('The transaction runs at %s; a snapshot taken earlier would not see a legal hold placed meanwhile.',
                                       pg_catalog.upper(pg_catalog.current_setting('transaction_isolation'))),
            HINT = 'Run it in a READ COMMITTED transaction, or use a dry run.';
  END IF;
  -- One purge at a time: wait for one in progress.
  PERFORM pg_catalog.pg_advisory_xact_lock(1885827186, privacy._lock_key('purge'));
  run := pg_catalog.nextval('privacy.retention_run_seq');
  FOREACH t IN ARRAY tables LOOP
    LOOP
      SELECT * INTO b FROM privacy._purge_batch(t, run, 10000, lock_timeout_ms, retries);
      EXIT WHEN b.done;
    END LOOP;
    CONTINUE WHEN b.action IS NULL;     -- its policy was dropped meanwhile
    table_name := t; action := b.action; rows := b.rows; partitions := b.partitions;
    total_rows := total_rows OPERATOR(pg_catalog.+) b.rows;
    total_parts := total_parts OPERATOR(pg_catalog.+) b.partitions;
    RETURN NEXT;
  END LOOP;
  PERFORM privacy._audit('retention.run', NULL,
                         pg_catalog.jsonb_build_object('run', run, 'via', 'purge', 'tables', pg_catalog.cardinality(tables),
                                                       'rows', total_rows, 'partitions', total_parts,
                                                       'failed', '[]'::jsonb));
END
$$;
COMMENT ON FUNCTION privacy.purge(boolean, regclass, integer, integer) IS
  'purge expired rows of every table with a retention policy (or of one): drop expired partitions, delete or anonymize rows, keep rows under a hold; dry_run reports what it would do; one transaction';

-- run_purge's steps (SECURITY DEFINER); the procedure itself cannot be.
CREATE FUNCTION privacy._purge_begin(OUT run_id bigint, OUT tables regclass[])
  LANGUAGE plpgsql VOLATILE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM privacy._check_purge_privilege();
  -- A run of this session that was interrupted may have kept the lock.
  IF EXISTS (SELECT FROM pg_catalog.pg_locks l
              WHERE l.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()
                AND l.locktype OPERATOR(pg_catalog.=) 'advisory'
                AND l.classid OPERATOR(pg_catalog.=) 1885827186
                AND l.objid OPERATOR(pg_catalog.=) privacy._lock_key('purge')::oid
                AND l.objsubid OPERATOR(pg_catalog.=) 2 AND l.mode OPERATOR(pg_catalog.=) 'ExclusiveLock'
                AND l.granted) THEN
    PERFORM pg_catalog.pg_advisory_unlock(1885827186, privacy._lock_key('purge'));
  END IF;
  IF NOT pg_catalog.pg_try_advisory_lock(1885827186, privacy._lock_key('purge')) THEN
    run_id := NULL;
    RETURN;
  END IF;
  run_id := pg_catalog.nextval('privacy.retention_run_seq');
  tables := ARRAY(SELECT p.tbl FROM privacy.retention_policy p ORDER BY p.tbl::text);
END
$$;
COMMENT ON FUNCTION privacy._purge_begin() IS
  'internal: start a run_purge (one purge at a time); NULL run id when another purge runs';

CREATE FUNCTION privacy._purge_end(run_id bigint, tables integer, rows bigint, partitions integer,
                                   failed jsonb)
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM privacy._check_purge_privilege();
  IF failed IS NOT NULL THEN
    PERFORM privacy._audit('retention.run', NULL,
                           pg_catalog.jsonb_build_object('run', run_id, 'via', 'run_purge', 'tables', tables,
                                                         'rows', rows, 'partitions', partitions,
                                                         'failed', failed));
  END IF;
  IF EXISTS (SELECT FROM pg_catalog.pg_locks l
              WHERE l.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()
                AND l.locktype OPERATOR(pg_catalog.=) 'advisory'
                AND l.classid OPERATOR(pg_catalog.=) 1885827186
                AND l.objid OPERATOR(pg_catalog.=) privacy._lock_key('purge')::oid
                AND l.objsubid OPERATOR(pg_catalog.=) 2 AND l.mode OPERATOR(pg_catalog.=) 'ExclusiveLock'
                AND l.granted) THEN
    PERFORM pg_catalog.pg_advisory_unlock(1885827186, privacy._lock_key('purge'));
  END IF;
END
$$;
COMMENT ON FUNCTION privacy._purge_end(bigint, integer, bigint, integer, jsonb) IS
  'internal: finish a run_purge: the run''s receipt, and the lock released';

-- The nightly job.  Not SECURITY DEFINER and without SET clauses, so that
-- it may COMMIT; every name and operator in it is qualified, because it
-- runs with the caller's search_path (pg_cron's superuser's among them).
CREATE PROCEDURE privacy.run_purge(batch_size integer DEFAULT 10000,
                                   lock_timeout_ms integer DEFAULT 1000,
                                   retries integer DEFAULT 5)
  LANGUAGE plpgsql
AS $$
DECLARE
  b record;
  run bigint;
  tables regclass[];
  t regclass;
  total_rows bigint := 0;
  total_parts integer := 0;
  failed jsonb := pg_catalog.jsonb_build_array();
  st text;
  msg text;
  table_failed boolean;
BEGIN
  IF batch_size IS NULL OR batch_size OPERATOR(pg_catalog.<) 1 THEN
    RAISE EXCEPTION 'batch size must be positive' USING ERRCODE = '22023',
          DETAIL = pg_catalog.format('batch_size was %s.', batch_size);
  END IF;
  IF lock_timeout_ms IS NULL OR lock_timeout_ms OPERATOR(pg_catalog.<) 1
     OR retries IS NULL OR retries OPERATOR(pg_catalog.<) 0 THEN
    RAISE EXCEPTION 'invalid lock_timeout_ms % or retries %', lock_timeout_ms, retries
      USING ERRCODE = '22023', HINT = 'lock_timeout_ms must be at least 1, retries at least 0.';
  END IF;
  -- Fails here, before anything is locked, when CALLed inside a
  -- transaction block (where the batches could not commit).
  COMMIT;
  SELECT * INTO b FROM privacy._purge_begin();
  IF b.run_id IS NULL THEN
    RAISE NOTICE 'another purge is running; this one does nothing';
    RETURN;
  END IF;
  run := b.run_id;
  tables := b.tables;
  COMMIT;
  FOREACH t IN ARRAY tables LOOP
    table_failed := false;
    LOOP
      BEGIN
        SELECT * INTO b FROM privacy._purge_batch(t, run, batch_size, lock_timeout_ms, retries);
      EXCEPTION
        WHEN query_canceled THEN
          PERFORM privacy._purge_end(run, NULL, NULL, NULL, NULL);
          RAISE;
        WHEN OTHERS THEN
          GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
          RAISE WARNING 'purge of % failed: %', t, msg;
          failed := failed OPERATOR(pg_catalog.||)
                    pg_catalog.jsonb_build_object('table', t::text, 'sqlstate', st, 'message', msg);
          table_failed := true;
      END;
      COMMIT;
      EXIT WHEN table_failed OR b.done;
    END LOOP;
    IF NOT table_failed AND b.action IS NOT NULL THEN
      total_rows := total_rows OPERATOR(pg_catalog.+) b.rows;
      total_parts := total_parts OPERATOR(pg_catalog.+) b.partitions;
      RAISE NOTICE 'purged %: % % rows, % partitions dropped', t, b.action, b.rows, b.partitions;
    END IF;
  END LOOP;
  PERFORM privacy._purge_end(run, pg_catalog.cardinality(tables), total_rows, total_parts, failed);
  COMMIT;
  IF pg_catalog.jsonb_array_length(failed) OPERATOR(pg_catalog.>) 0 THEN
    RAISE EXCEPTION 'purge failed for % of % tables', pg_catalog.jsonb_array_length(failed), pg_catalog.cardinality(tables)
      USING ERRCODE = failed OPERATOR(pg_catalog.->) 0 OPERATOR(pg_catalog.->>) 'sqlstate',
            DETAIL = (SELECT pg_catalog.string_agg(pg_catalog.format('%s: %s', f OPERATOR(pg_catalog.->>) 'table',
                                                                     f OPERATOR(pg_catalog.->>) 'message'), '; ')
                        FROM pg_catalog.jsonb_array_elements(failed) f),
            HINT = 'The other tables were purged; the next run continues the failed ones where they stopped.';
  END IF;
END
$$;
COMMENT ON PROCEDURE privacy.run_purge(integer, integer, integer) IS
  'purge every table with a retention policy in batches, committing after each; CALL it outside a transaction block (pg_cron does)';

------------------------------------------------------------------------
-- Scheduling with pg_cron
------------------------------------------------------------------------

CREATE FUNCTION privacy._check_pg_cron() RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'pg_cron') THEN
    RAISE EXCEPTION 'pg_cron is not installed in database %', pg_catalog.current_database()
      USING ERRCODE = '55000',
            HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, restart, and run CREATE EXTENSION pg_cron; or schedule CALL privacy.run_purge() with another scheduler.';
  END IF;
END
$$;

CREATE FUNCTION privacy.schedule_purge(schedule text DEFAULT '30 3 * * *', batch_size integer DEFAULT 10000)
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  job bigint;
  st text;
  msg text;
BEGIN
  IF schedule IS NULL OR batch_size IS NULL THEN
    RAISE EXCEPTION 'schedule and batch size must not be null' USING ERRCODE = '22004';
  END IF;
  IF batch_size OPERATOR(pg_catalog.<) 1 THEN
    RAISE EXCEPTION 'batch size must be positive' USING ERRCODE = '22023',
          DETAIL = pg_catalog.format('batch_size was %s.', batch_size);
  END IF;
  PERFORM privacy._check_pg_cron();
  -- One statement only: pg_cron then runs it outside a transaction block,
  -- where the procedure may commit after every batch.
  BEGIN
    EXECUTE 'SELECT cron.schedule($1, $2, $3)' INTO job
      USING 'pg_privacy_purge', schedule, pg_catalog.format('CALL privacy.run_purge(%s)', batch_size);
  EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    IF msg LIKE 'invalid schedule%' THEN
      RAISE EXCEPTION 'invalid schedule "%"', schedule
        USING ERRCODE = '22023', HINT = 'Use cron syntax, for example ''30 3 * * *'' (03:30 every night).';
    END IF;
    RAISE;
  END;
  PERFORM privacy._audit('retention.schedule', NULL,
                         pg_catalog.jsonb_build_object('job', job, 'schedule', schedule, 'batch_size', batch_size));
  RETURN job;
END
$$;
COMMENT ON FUNCTION privacy.schedule_purge(text, integer) IS
  'schedule CALL privacy.run_purge() with pg_cron (job "pg_privacy_purge", replaced when scheduled again); returns the job id';

CREATE FUNCTION privacy.unschedule_purge() RETURNS boolean
  LANGUAGE plpgsql VOLATILE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  job bigint;
BEGIN
  PERFORM privacy._check_pg_cron();
  EXECUTE 'SELECT j.jobid FROM cron.job j WHERE j.jobname OPERATOR(pg_catalog.=) $1 AND j.username OPERATOR(pg_catalog.=) CURRENT_USER'
    INTO job USING 'pg_privacy_purge';
  IF job IS NULL THEN
    RETURN false;
  END IF;
  EXECUTE 'SELECT cron.unschedule($1)' USING job;
  PERFORM privacy._audit('retention.unschedule', NULL, pg_catalog.jsonb_build_object('job', job));
  RETURN true;
END
$$;
COMMENT ON FUNCTION privacy.unschedule_purge() IS
  'remove the pg_cron job of the purge; false when none was scheduled';
-- Safe analytics: measuring k-anonymity, publishing aggregates that single
-- no one out, and pseudonymized extracts for analysts.
--
-- Published objects are created with the rights of the role that creates
-- them and are owned by it: the functions below that build them run as
-- their caller, so nothing a caller writes ever runs with the extension
-- owner's rights.  What they publish is recorded in privacy.published.

CREATE TABLE privacy.published (
  view_name    regclass PRIMARY KEY,
  kind         text NOT NULL CHECK (kind IN ('safe_aggregate', 'pseudonymized_extract')),
  source       text NOT NULL,          -- the query, or the table extracted
  min_group    integer,                -- safe aggregates
  with_total   boolean,
  domain       text,                   -- extracts
  time_unit    text,
  created_by   name NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE privacy.published IS
  'pg_privacy: safe aggregates and pseudonymized extracts published for analysts';
SELECT pg_catalog.pg_extension_config_dump('privacy.published', '');

------------------------------------------------------------------------
-- k-anonymity
------------------------------------------------------------------------

CREATE FUNCTION privacy.k_anonymity(tbl regclass, quasi_identifiers name[], k integer DEFAULT 5)
  RETURNS TABLE(min_group_size bigint, groups bigint, rows bigint,
                groups_below_k bigint, rows_below_k bigint)
  LANGUAGE plpgsql STABLE
AS $$
DECLARE
  cols text;
  c name;
BEGIN
  IF tbl IS NULL OR quasi_identifiers IS NULL OR k IS NULL THEN
    RAISE EXCEPTION 'table, quasi-identifiers and k must not be null' USING ERRCODE = '22004';
  END IF;
  IF k OPERATOR(pg_catalog.<) 2 THEN
    RAISE EXCEPTION 'k must be at least 2'
      USING ERRCODE = '22023', DETAIL = pg_catalog.format('The value given was %s.', k);
  END IF;
  IF pg_catalog.cardinality(quasi_identifiers) OPERATOR(pg_catalog.=) 0 THEN
    RAISE EXCEPTION 'at least one quasi-identifier is needed' USING ERRCODE = '22023';
  END IF;
  FOREACH c IN ARRAY quasi_identifiers LOOP
    IF c IS NULL OR NOT EXISTS (
         SELECT FROM pg_catalog.pg_attribute a
          WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attname OPERATOR(pg_catalog.=) c
            AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped) THEN
      RAISE EXCEPTION 'column "%" of relation % does not exist', c, tbl USING ERRCODE = '42703';
    END IF;
  END LOOP;
  SELECT pg_catalog.string_agg(pg_catalog.quote_ident(q), ', ') INTO cols
    FROM pg_catalog.unnest(quasi_identifiers) q;
  -- Runs with the caller's rights: the caller must be able to read tbl.
  RETURN QUERY EXECUTE pg_catalog.format(
    'SELECT pg_catalog.min(n)::bigint, pg_catalog.count(*)::bigint, COALESCE(pg_catalog.sum(n), 0)::bigint,'
    '       pg_catalog.count(*) FILTER (WHERE n OPERATOR(pg_catalog.<) $1)::bigint,'
    '       COALESCE(pg_catalog.sum(n) FILTER (WHERE n OPERATOR(pg_catalog.<) $1), 0)::bigint'
    '  FROM (SELECT pg_catalog.count(*) AS n FROM %s GROUP BY %s) g', tbl, cols)
    USING k;
END
$$;
COMMENT ON FUNCTION privacy.k_anonymity(regclass, name[], integer) IS
  'smallest group size over the quasi-identifiers, number of groups and rows, and how many fall in groups below k';

------------------------------------------------------------------------
-- Safe aggregates
------------------------------------------------------------------------

CREATE FUNCTION privacy._analyze_grouped_query(query text)
  RETURNS TABLE(col name, type text, kind text)
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_analyze_grouped_query';
COMMENT ON FUNCTION privacy._analyze_grouped_query(text) IS
  'internal: output columns of a grouped SELECT (group, count, sum, other), or an error when it is not a plain grouped SELECT';

-- Split a schema-qualified name; raise when it is not one.
CREATE FUNCTION privacy._qualified_name(name text, what text) RETURNS text[]
  LANGUAGE plpgsql IMMUTABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  parts text[];
BEGIN
  BEGIN
    parts := pg_catalog.parse_ident(name);
  EXCEPTION WHEN OTHERS THEN
    RAISE EXCEPTION 'invalid % name "%"', what, name USING ERRCODE = '22023';
  END;
  IF pg_catalog.cardinality(parts) OPERATOR(pg_catalog.<>) 2 THEN
    RAISE EXCEPTION '% name "%" must be schema-qualified', what, name
      USING ERRCODE = '22023', HINT = 'Write it as schema.name.';
  END IF;
  RETURN parts;
END
$$;

-- Record a published view and audit it.  Only the view's owner may record
-- it, so the register holds nothing its caller did not create.
CREATE FUNCTION privacy._record_published(view_name regclass, kind text, source text,
                                          min_group integer, with_total boolean,
                                          domain text, time_unit text)
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM privacy._check_owner(view_name);
  INSERT INTO privacy.published (view_name, kind, source, min_group, with_total, domain, time_unit, created_by)
       VALUES (view_name, kind, source, min_group, with_total, domain, time_unit, privacy._invoker());
  PERFORM privacy._audit('analytics.' || kind, view_name::text,
                         pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                           'min_group', min_group, 'with_total', with_total,
                           'domain', domain, 'time_unit', time_unit)));
END
$$;

-- Publish a grouped query as a view whose groups smaller than min_group
-- are suppressed.  The view is a security barrier (no leaky qual of a
-- reader reaches suppressed groups), is owned by the caller and reads with
-- the caller's rights, so a BI role granted SELECT on it sees the
-- published groups and nothing underneath.  With with_total, a total row
-- is added that sums the published groups only: a suppressed group can
-- never be recovered by subtracting the published ones from it.
CREATE FUNCTION privacy.create_safe_aggregate(view_name text, query text, min_group integer,
                                              count_column name DEFAULT 'n',
                                              with_total boolean DEFAULT false,
                                              grant_to name DEFAULT NULL)
  RETURNS regclass
  LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  parts text[];
  body text;
  q text;
  s record;
  sel text[] := '{}';
  tot text[] := '{}';
  found_count boolean := false;
  v regclass;
BEGIN
  IF view_name IS NULL OR query IS NULL OR min_group IS NULL OR count_column IS NULL
     OR with_total IS NULL THEN
    RAISE EXCEPTION 'view name, query, min_group, count_column and with_total must not be null'
      USING ERRCODE = '22004';
  END IF;
  IF min_group OPERATOR(pg_catalog.<) 2 THEN
    RAISE EXCEPTION 'min_group must be at least 2'
      USING ERRCODE = '22023', DETAIL = pg_catalog.format('The value given was %s.', min_group);
  END IF;
  parts := privacy._qualified_name(view_name, 'view');
  q := pg_catalog.regexp_replace(query, '[[:space:];]+$', '');

  FOR s IN SELECT * FROM privacy._analyze_grouped_query(q) LOOP
    IF s.col OPERATOR(pg_catalog.=) count_column THEN
      IF s.kind OPERATOR(pg_catalog.<>) 'count' THEN
        RAISE EXCEPTION 'column "%" of a safe aggregate must be count(*)', count_column
          USING ERRCODE = '22023',
                DETAIL = 'Only count(*) without FILTER or DISTINCT gives the true size of a group.';
      END IF;
      found_count := true;
    END IF;
    IF with_total AND s.kind NOT IN ('group', 'count', 'sum') THEN
      RAISE EXCEPTION 'column "%" cannot be totalled', s.col
        USING ERRCODE = '22023',
              DETAIL = 'A total over the published groups is only meaningful for count(*) and sum().',
              HINT = 'Publish without with_total, or drop that column.';
    END IF;
    sel := sel OPERATOR(pg_catalog.||) pg_catalog.format('q.%I', s.col);
    tot := tot OPERATOR(pg_catalog.||)
           CASE WHEN s.kind OPERATOR(pg_catalog.=) 'group'
                THEN pg_catalog.format('NULL::%s AS %I', s.type, s.col)
                ELSE pg_catalog.format('pg_catalog.sum(q.%I)::%s AS %I', s.col, s.type, s.col) END;
  END LOOP;
  IF NOT found_count THEN
    RAISE EXCEPTION 'the query of a safe aggregate must return count(*) as column "%"', count_column
      USING ERRCODE = '22023', HINT = 'Add count(*) AS n to the select list, or name the column with count_column.';
  END IF;

  IF with_total THEN
    sel := sel OPERATOR(pg_catalog.||) 'false AS total'::text;
    tot := tot OPERATOR(pg_catalog.||) 'true AS total'::text;
  END IF;
  body := pg_catalog.format('WITH q AS MATERIALIZED (%s) SELECT %s FROM q WHERE q.%I OPERATOR(pg_catalog.>=) %s',
                            q, pg_catalog.array_to_string(sel, ', '), count_column, min_group);
  IF with_total THEN
    body := body || pg_catalog.format(' UNION ALL SELECT %s FROM q WHERE q.%I OPERATOR(pg_catalog.>=) %s',
                                      pg_catalog.array_to_string(tot, ', '), count_column, min_group);
  END IF;

  EXECUTE pg_catalog.format('CREATE VIEW %I.%I WITH (security_barrier) AS %s', parts[1], parts[2], body);
  v := pg_catalog.format('%I.%I', parts[1], parts[2])::regclass;
  EXECUTE pg_catalog.format('COMMENT ON VIEW %s IS %L', v,
                            pg_catalog.format('safe aggregate (pg_privacy): groups under %s suppressed%s',
                                              min_group,
                                              CASE WHEN with_total THEN '; total over published groups only' ELSE '' END));
  IF grant_to IS NOT NULL THEN
    EXECUTE pg_catalog.format('GRANT SELECT ON %s TO %I', v, grant_to);
  END IF;
  PERFORM privacy._record_published(v, 'safe_aggregate', q, min_group, with_total, NULL, NULL);
  RETURN v;
END
$$;
COMMENT ON FUNCTION privacy.create_safe_aggregate(text, text, integer, name, boolean, name) IS
  'publish a grouped query as a view with groups below min_group suppressed (optionally a total over the published groups only)';

------------------------------------------------------------------------
-- Pseudonymized extracts
------------------------------------------------------------------------

-- How each column of a registered table appears in an extract.  Runs as
-- the extension owner to read the catalog, for a caller who may read the
-- table.
CREATE FUNCTION privacy._extract_spec(tbl regclass)
  RETURNS TABLE(col name, type text, category text, identifies text, protect text, domain text)
  LANGUAGE plpgsql STABLE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT pg_catalog.has_table_privilege(privacy._invoker(), tbl, 'SELECT') THEN
    RAISE EXCEPTION 'permission denied for table %', tbl USING ERRCODE = '42501';
  END IF;
  RETURN QUERY
  SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
         c.category, c.identifies, c.protect, c.domain
    FROM pg_catalog.pg_attribute a
    LEFT JOIN privacy.registered_column c
      ON c.tbl OPERATOR(pg_catalog.=) _extract_spec.tbl AND c.col OPERATOR(pg_catalog.=) a.attname
   WHERE a.attrelid OPERATOR(pg_catalog.=) _extract_spec.tbl AND a.attnum OPERATOR(pg_catalog.>) 0
     AND NOT a.attisdropped
   ORDER BY a.attnum;
END
$$;

-- A pseudonymized extract of a registered table for analysts: every
-- registered personal column replaced by its keyed pseudonym under an
-- analytics domain (so distinct callers can be counted and extracts
-- joined, but not linked to other domains or re-identified), timestamps
-- of traffic data generalized to time_unit, location kept at country
-- level; undeclared columns pass unchanged.  Phone numbers are first
-- brought to one form (the msisdn_fpe pseudonym of the default domain,
-- which is how protected CDR columns store them), so a subscriber has the
-- same analytics pseudonym in every extract.
--
-- The rows come from a SECURITY DEFINER function without arguments, owned
-- by the caller: an analyst granted the view (and the function) cannot
-- feed the keyed functions values of his own choosing.
CREATE FUNCTION privacy.create_pseudonymized_extract(view_name text, tbl regclass,
                                                     domain text DEFAULT 'analytics',
                                                     time_unit text DEFAULT 'day',
                                                     grant_to name DEFAULT NULL)
  RETURNS regclass
  LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  parts text[];
  s record;
  expr text;
  sel text := '';
  cols text := '';
  fn text;
  src text;
  v regclass;
  npersonal integer := 0;
BEGIN
  IF view_name IS NULL OR tbl IS NULL OR domain IS NULL OR time_unit IS NULL THEN
    RAISE EXCEPTION 'view name, table, domain and time unit must not be null' USING ERRCODE = '22004';
  END IF;
  parts := privacy._qualified_name(view_name, 'view');
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(ARRAY['minute','hour','day','week','month','quarter','year']) u
                  WHERE u OPERATOR(pg_catalog.=) time_unit) THEN
    RAISE EXCEPTION 'invalid generalization unit "%"', time_unit
      USING ERRCODE = '22023', HINT = 'Use one of: minute, hour, day, week, month, quarter, year.';
  END IF;
  IF domain OPERATOR(pg_catalog.=) 'default' OR pg_catalog.octet_length(domain) NOT BETWEEN 1 AND 200 THEN
    RAISE EXCEPTION 'invalid analytics domain "%"', domain
      USING ERRCODE = '22023',
            DETAIL = 'An extract needs a domain of its own (1 to 200 bytes, not "default"), so its pseudonyms link to nothing else.';
  END IF;
  FOR s IN SELECT * FROM privacy._extract_spec(tbl) LOOP
    expr := CASE
      WHEN s.category IS NULL THEN pg_catalog.format('t.%I', s.col)
      WHEN s.category OPERATOR(pg_catalog.=) 'traffic'
           AND s.type IN ('timestamp with time zone', 'timestamp without time zone', 'date')
        THEN pg_catalog.format('pg_catalog.date_trunc(%L, t.%I)', time_unit, s.col)
      WHEN s.category OPERATOR(pg_catalog.=) 'traffic' THEN pg_catalog.format('t.%I', s.col)
      WHEN s.category OPERATOR(pg_catalog.=) 'location'
        THEN pg_catalog.format('privacy.country_of(t.%I::text)', s.col)
      WHEN s.identifies OPERATOR(pg_catalog.=) 'msisdn' AND s.protect IS NULL
        THEN pg_catalog.format('privacy.pseudonymize(privacy.pseudonymize_msisdn(t.%I::text), %L)', s.col, domain)
      WHEN s.identifies OPERATOR(pg_catalog.=) 'email' AND s.protect IS NULL
        THEN pg_catalog.format('privacy.pseudonymize(pg_catalog.lower(pg_catalog.btrim(t.%I::text)), %L)', s.col, domain)
      ELSE pg_catalog.format('privacy.pseudonymize(t.%I::text, %L)', s.col, domain)
    END;
    IF s.category IS NOT NULL THEN
      npersonal := npersonal + 1;
    END IF;
    sel := sel || CASE WHEN sel OPERATOR(pg_catalog.=) '' THEN '' ELSE ', ' END
                || expr || pg_catalog.format(' AS %I', s.col);
    cols := cols || CASE WHEN cols OPERATOR(pg_catalog.=) '' THEN '' ELSE ', ' END
                 || pg_catalog.format('%I %s', s.col,
                      CASE WHEN s.category IS NULL OR s.category OPERATOR(pg_catalog.=) 'traffic' THEN s.type
                           ELSE 'text' END);
  END LOOP;
  IF npersonal OPERATOR(pg_catalog.=) 0 THEN
    RAISE EXCEPTION 'table % declares no personal column', tbl
      USING ERRCODE = '55000', HINT = 'Declare its columns with privacy.register_column() first.';
  END IF;

  fn := pg_catalog.format('%I.%I', parts[1], parts[2] || '_rows');
  -- the table by its qualified name: the function body runs with a pinned search_path
  SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) INTO src
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
   WHERE c.oid OPERATOR(pg_catalog.=) tbl;
  EXECUTE pg_catalog.format(
    'CREATE FUNCTION %s() RETURNS TABLE(%s) LANGUAGE sql STABLE SECURITY DEFINER '
    'SET search_path = pg_catalog, pg_temp AS %L',
    fn, cols, pg_catalog.format('SELECT %s FROM %s t', sel, src));
  EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s() FROM PUBLIC', fn);
  EXECUTE pg_catalog.format('CREATE VIEW %I.%I AS SELECT * FROM %s()', parts[1], parts[2], fn);
  v := pg_catalog.format('%I.%I', parts[1], parts[2])::regclass;
  EXECUTE pg_catalog.format('COMMENT ON VIEW %s IS %L', v,
                            pg_catalog.format('pseudonymized extract (pg_privacy) of %s: domain %s, time by %s',
                                              tbl, domain, time_unit));
  IF grant_to IS NOT NULL THEN
    EXECUTE pg_catalog.format('GRANT SELECT ON %s TO %I', v, grant_to);
    EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s() TO %I', fn, grant_to);
  END IF;
  PERFORM privacy._record_published(v, 'pseudonymized_extract', tbl::text, NULL, NULL, domain, time_unit);
  RETURN v;
END
$$;
COMMENT ON FUNCTION privacy.create_pseudonymized_extract(text, regclass, text, text, name) IS
  'publish a view of a registered table with personal columns pseudonymized under an analytics domain, time generalized, location at country level';
-- Data-subject rights: finding a subject across every registered table,
-- export (GDPR Art. 15 and 20), erasure (Art. 17), restriction (Art. 18)
-- and the one-month deadline of every request (Art. 12(3)).
--
-- Finding a subject.  A subject is reached from one identifier (kind,
-- value), normalized by its kind.  Rows of a registered table whose owner
-- columns hold one identifier of the subject give the subject's other
-- identifiers (a subscription row ties a customer to a number): the search
-- follows them to a fixed point, at most 10 rounds and 500 identifiers.
-- Only owner columns link; a mention never pulls anyone in.
--
-- Reassigned identifiers.  privacy.set_subject_table() declares, per
-- table, which column's identifier is held only for a period
-- (validity_column, valid_from, valid_to: telco.subscription holds an
-- msisdn from valid_from to valid_to) and when a row's event happened
-- (event_time: telco.cdr.started_at).  A kind with a validity column is
-- "reassignable".  An identifier of a reassignable kind found through a
-- validity row is the subject's only during that row's period; one found
-- in a row with an event time is the subject's at that moment.  A row found
-- through a bounded identifier belongs to the subject only when its
-- validity overlaps, or its event time falls in, the identifier's period:
-- so the next holder of a number and the calls made from it are not the
-- subject's.  Starting from a reassignable identifier, the subject is its
-- holder at `at` (default now; the latest holder before that when nobody
-- holds it then).  Tables that declare no time take every row of the
-- identifier.
--
-- Columns stored transformed are searched through their transformation
-- (privacy._transform of the normalized value); msisdn_fpe columns are
-- also read back (privacy._msisdn_decrypt) to follow links.  Raw columns
-- of kind msisdn or email are searched by the normal form of what people
-- typed (privacy._subject_key), which an expression index can serve;
-- privacy.missing_indexes lists identifying columns without a usable index.
--
-- Nothing here writes a raw identifier outside the registered tables:
-- restrictions and requests keep privacy._subject_ref() references, and
-- the audit log the same.

------------------------------------------------------------------------
-- Declarations
------------------------------------------------------------------------

CREATE TABLE privacy.subject_table (
  tbl             regclass PRIMARY KEY REFERENCES privacy.registered_table ON DELETE CASCADE,
  event_time      name,     -- when a row's event happened (timestamptz/date/timestamp)
  validity_column name,     -- the identifier column held only for a period
  valid_from      name,     -- period start (inclusive), NULL: since ever
  valid_to        name,     -- period end (exclusive), NULL: still held
  link_columns    name[],   -- owner identifier columns that tie identifiers together (NULL: all)
  source          text      -- where the data comes from (GDPR Art. 15(1)(g))
);
COMMENT ON TABLE privacy.subject_table IS
  'pg_privacy: how to find a data subject in a registered table: event time, validity of reassigned identifiers, linking columns, source';
SELECT pg_catalog.pg_extension_config_dump('privacy.subject_table', '');

-- Restricted identifiers (GDPR Art. 18), by keyed reference only.
CREATE TABLE privacy.restriction (
  kind          text        NOT NULL REFERENCES privacy.identifier_kind,
  subject_ref   text        NOT NULL,   -- privacy._subject_ref(kind, value)
  span          tstzmultirange NOT NULL DEFAULT '{(,)}',  -- when the identifier was the subject's
  reason        text        NOT NULL,
  origin        text        NOT NULL CHECK (origin IN ('request', 'erasure')),
  until         timestamptz,            -- NULL: until lifted
  restricted_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
  restricted_by name        NOT NULL,
  PRIMARY KEY (kind, subject_ref)
);
COMMENT ON TABLE privacy.restriction IS
  'pg_privacy: restricted data subjects (GDPR Art. 18) by keyed identifier reference; their rows can be stored and exported, not updated';
SELECT pg_catalog.pg_extension_config_dump('privacy.restriction', '');

CREATE SEQUENCE privacy.subject_request_id_seq;
CREATE TABLE privacy.subject_request (
  id               bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('privacy.subject_request_id_seq'),
  kind             text        NOT NULL REFERENCES privacy.identifier_kind,
  subject_ref      text        NOT NULL,
  request          text        NOT NULL CHECK (request IN ('access', 'portability', 'erasure',
                                                            'rectification', 'restriction', 'objection')),
  received_at      timestamptz NOT NULL,
  extension_months integer     NOT NULL DEFAULT 0 CHECK (extension_months BETWEEN 0 AND 2),
  extension_reason text,
  closed_at        timestamptz,
  outcome          text,
  opened_by        name        NOT NULL,
  CHECK ((extension_months OPERATOR(pg_catalog.=) 0) = (extension_reason IS NULL)),
  CHECK ((closed_at IS NULL) = (outcome IS NULL))
);
CREATE INDEX subject_request_subject ON privacy.subject_request (subject_ref);
COMMENT ON TABLE privacy.subject_request IS
  'pg_privacy: data-subject requests (GDPR Art. 15-21) and their deadlines; subjects by keyed reference only';
SELECT pg_catalog.pg_extension_config_dump('privacy.subject_request', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.subject_request_id_seq', '');

------------------------------------------------------------------------
-- C helpers (src/subject.c)
------------------------------------------------------------------------

CREATE FUNCTION privacy._subject_key(mode text, value text, default_country text)
  RETURNS text
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_subject_key';
COMMENT ON FUNCTION privacy._subject_key(text, text, text) IS
  'normal form of an identifier as typed (mode msisdn, email or text), NULL when it has none; indexable';

CREATE FUNCTION privacy._subject_exec(tbl regclass, sql text, params jsonb)
  RETURNS bigint
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_subject_exec';
COMMENT ON FUNCTION privacy._subject_exec(regclass, text, jsonb) IS
  'internal: one erasure statement run as the table owner in a security-restricted operation';

CREATE FUNCTION privacy._subject_set_erasing(on_ boolean)
  RETURNS void
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_subject_set_erasing';
COMMENT ON FUNCTION privacy._subject_set_erasing(boolean) IS
  'internal: marks this transaction as running erase_subject (reset at transaction end)';

CREATE FUNCTION privacy._subject_erasing()
  RETURNS boolean
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_subject_erasing';
COMMENT ON FUNCTION privacy._subject_erasing() IS
  'internal: true while erase_subject runs its statements';

CREATE FUNCTION privacy._subject_query(sql text, params jsonb)
  RETURNS jsonb
  LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'pgp_subject_query';
COMMENT ON FUNCTION privacy._subject_query(text, jsonb) IS
  'internal: one generated read-only query over the subject''s identifiers, through a kept prepared plan';

CREATE FUNCTION privacy._subject_cache_get(key text)
  RETURNS text
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_subject_cache_get';
COMMENT ON FUNCTION privacy._subject_cache_get(text) IS
  'internal: SQL generated from the catalog, cached per backend until a relcache invalidation';

CREATE FUNCTION privacy._subject_cache_put(key text, value text)
  RETURNS text
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_subject_cache_put';
COMMENT ON FUNCTION privacy._subject_cache_put(text, text) IS
  'internal: remember SQL generated from the catalog in the per-backend cache';

------------------------------------------------------------------------
-- Declaring how a table is searched
------------------------------------------------------------------------

-- The column's type, or an error naming what is wrong.
CREATE FUNCTION privacy._subject_check_column(tbl regclass, col name, what text, time_column boolean)
  RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  typ regtype;
BEGIN
  SELECT a.atttypid::regtype INTO typ FROM pg_catalog.pg_attribute a
   WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attname OPERATOR(pg_catalog.=) col
     AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'column "%" of relation % does not exist', col, tbl
      USING ERRCODE = '42703', DETAIL = pg_catalog.format('It was given as %s.', what);
  END IF;
  IF time_column AND typ NOT IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype) THEN
    RAISE EXCEPTION '% column "%" of relation % must be a date or time stamp', what, col, tbl
      USING ERRCODE = '42804',
            DETAIL = pg_catalog.format('It has type %s.', typ);
  END IF;
END
$$;

CREATE FUNCTION privacy.set_subject_table(tbl regclass,
                                          event_time name DEFAULT NULL,
                                          validity_column name DEFAULT NULL,
                                          valid_from name DEFAULT NULL,
                                          valid_to name DEFAULT NULL,
                                          link_columns name[] DEFAULT NULL,
                                          source text DEFAULT NULL)
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  c name;
BEGIN
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'table must not be null' USING ERRCODE = '22004';
  END IF;
  IF NOT EXISTS (SELECT FROM privacy.registered_table t WHERE t.tbl OPERATOR(pg_catalog.=) set_subject_table.tbl) THEN
    RAISE EXCEPTION 'table % is not registered', tbl
      USING ERRCODE = '55000', HINT = 'Register it with privacy.register_table() first.';
  END IF;
  PERFORM privacy._check_owner(tbl);
  IF event_time IS NOT NULL THEN
    PERFORM privacy._subject_check_column(tbl, event_time, 'event_time', true);
  END IF;
  IF (validity_column IS NULL) <> (valid_from IS NULL AND valid_to IS NULL) THEN
    RAISE EXCEPTION 'a validity column needs valid_from or valid_to, and they need a validity column'
      USING ERRCODE = '22023',
            HINT = 'Pass validity_column => ''msisdn'', valid_from => ''valid_from'', valid_to => ''valid_to''.';
  END IF;
  IF validity_column IS NOT NULL THEN
    IF NOT EXISTS (SELECT FROM privacy.registered_column r
                    WHERE r.tbl OPERATOR(pg_catalog.=) set_subject_table.tbl
                      AND r.col OPERATOR(pg_catalog.=) validity_column
                      AND r.identifies IS NOT NULL AND r.link OPERATOR(pg_catalog.=) 'owner') THEN
      RAISE EXCEPTION 'column "%" of relation % is not a registered owner identifier', validity_column, tbl
        USING ERRCODE = '22023',
              HINT = 'Register it with privacy.register_column(..., identifies => ...).';
    END IF;
    IF valid_from IS NOT NULL THEN
      PERFORM privacy._subject_check_column(tbl, valid_from, 'valid_from', true);
    END IF;
    IF valid_to IS NOT NULL THEN
      PERFORM privacy._subject_check_column(tbl, valid_to, 'valid_to', true);
    END IF;
  END IF;
  IF link_columns IS NOT NULL THEN
    FOREACH c IN ARRAY link_columns LOOP
      IF c IS NULL OR NOT EXISTS (SELECT FROM privacy.registered_column r
                                   WHERE r.tbl OPERATOR(pg_catalog.=) set_subject_table.tbl
                                     AND r.col OPERATOR(pg_catalog.=) c
                                     AND r.identifies IS NOT NULL
                                     AND r.link OPERATOR(pg_catalog.=) 'owner') THEN
        RAISE EXCEPTION 'link column "%" of relation % is not a registered owner identifier', c, tbl
          USING ERRCODE = '22023';
      END IF;
    END LOOP;
  END IF;
  INSERT INTO privacy.subject_table AS s (tbl, event_time, validity_column, valid_from, valid_to, link_columns, source)
       VALUES (tbl, event_time, validity_column, valid_from, valid_to, link_columns, source)
  ON CONFLICT ON CONSTRAINT subject_table_pkey DO UPDATE
       SET event_time = EXCLUDED.event_time, validity_column = EXCLUDED.validity_column,
           valid_from = EXCLUDED.valid_from, valid_to = EXCLUDED.valid_to,
           link_columns = EXCLUDED.link_columns, source = EXCLUDED.source;
  -- Every backend forgets the SQL it generated from the old declaration.
  PERFORM privacy._invalidate(tbl);
  PERFORM privacy._audit('subject.set_table', tbl::text,
                         pg_catalog.jsonb_build_object('event_time', event_time,
                                                       'validity_column', validity_column,
                                                       'valid_from', valid_from, 'valid_to', valid_to,
                                                       'link_columns', link_columns, 'source', source));
END
$$;
COMMENT ON FUNCTION privacy.set_subject_table(regclass, name, name, name, name, name[], text) IS
  'declare how a data subject is found in a registered table: event time of a row, the identifier held only from valid_from to valid_to, the columns that link identifiers, and the data''s source';

-- Every identifying column that can be searched, with what the search needs.
CREATE VIEW privacy._subject_column AS
SELECT c.tbl, c.col, c.attnum, c.identifies AS kind, c.link, c.protect, c.domain,
       k.normalize AS mode, a.atttypid::regtype AS typ, a.attnotnull AS notnull,
       s.event_time, s.valid_from, s.valid_to,
       (s.validity_column OPERATOR(pg_catalog.=) c.col) IS TRUE AS is_validity,
       (c.link OPERATOR(pg_catalog.=) 'owner'
        AND (s.link_columns IS NULL OR c.col OPERATOR(pg_catalog.=) ANY (s.link_columns))
        AND (c.protect IS NULL OR c.protect OPERATOR(pg_catalog.=) 'msisdn_fpe')) AS links,
       EXISTS (SELECT FROM privacy.subject_table v
                 JOIN privacy.registered_column vc
                   ON vc.tbl OPERATOR(pg_catalog.=) v.tbl AND vc.col OPERATOR(pg_catalog.=) v.validity_column
                WHERE vc.identifies OPERATOR(pg_catalog.=) c.identifies) AS reassignable,
       s.source
  FROM privacy.registered_column c
  JOIN privacy.identifier_kind k ON k.name OPERATOR(pg_catalog.=) c.identifies
  JOIN pg_catalog.pg_attribute a
    ON a.attrelid OPERATOR(pg_catalog.=) c.tbl AND a.attname OPERATOR(pg_catalog.=) c.col AND NOT a.attisdropped
  LEFT JOIN privacy.subject_table s ON s.tbl OPERATOR(pg_catalog.=) c.tbl
 WHERE c.protect IS NULL OR c.protect IN ('msisdn_fpe', 'pseudonym', 'email_pseudonym');
COMMENT ON VIEW privacy._subject_column IS
  'internal: identifying columns a data subject can be searched by';

-- The searchable columns, from the per-backend cache (src/subject.c);
-- NULL when there is none.
CREATE FUNCTION privacy._subject_cols()
  RETURNS privacy._subject_column[]
  LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'pgp_subject_cols';
COMMENT ON FUNCTION privacy._subject_cols() IS
  'internal: the searchable identifier columns, kept per backend until a relcache invalidation';

-- Identifying columns whose lookup has no index: every export and erasure
-- then scans the table.
CREATE VIEW privacy.missing_indexes AS
SELECT c.tbl AS table_name, c.col AS column_name, c.kind AS identifies, c.link,
       CASE WHEN c.protect IS NULL AND c.mode IN ('msisdn', 'email') THEN 'normal form'
            ELSE 'stored value' END AS lookup,
       CASE WHEN c.protect IS NULL AND c.mode IN ('msisdn', 'email')
            THEN pg_catalog.format('CREATE INDEX ON %s (privacy._subject_key(%L, %I%s, %L))',
                                   c.tbl, c.mode, c.col,
                                   CASE WHEN c.typ OPERATOR(pg_catalog.=) 'text'::regtype THEN '' ELSE '::text' END,
                                   COALESCE(pg_catalog.current_setting('pg_privacy.default_country', true), 'DK'))
            ELSE pg_catalog.format('CREATE INDEX ON %s (%I)', c.tbl, c.col) END AS suggested_index
  FROM privacy._subject_column c
 WHERE NOT EXISTS (
   SELECT FROM pg_catalog.pg_index i
    WHERE i.indrelid OPERATOR(pg_catalog.=) c.tbl
      AND CASE WHEN c.protect IS NULL AND c.mode IN ('msisdn', 'email')
               THEN i.indkey[0] OPERATOR(pg_catalog.=) 0
                    AND pg_catalog.pg_get_indexdef(i.indexrelid, 1, true)
                        OPERATOR(pg_catalog.~) ('_subject_key\(''' || c.mode || '''::text, '
                                                || pg_catalog.regexp_replace(pg_catalog.quote_ident(c.col), '([^a-zA-Z0-9_])', '\\\1', 'g')
                                                || '[,:]')
               ELSE i.indkey[0] OPERATOR(pg_catalog.=) c.attnum END);
COMMENT ON VIEW privacy.missing_indexes IS
  'identifying columns without an index for the data-subject lookup (export, erasure, restriction), with the index to create';

------------------------------------------------------------------------
-- Finding a subject
------------------------------------------------------------------------

-- The value in its kind's normal form, or a clear error.
CREATE FUNCTION privacy._subject_normalize(kind text, value text)
  RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  mode text;
  norm text;
BEGIN
  IF kind IS NULL OR value IS NULL THEN
    RAISE EXCEPTION 'identifier kind and value must not be null' USING ERRCODE = '22004';
  END IF;
  SELECT k.normalize INTO mode FROM privacy.identifier_kind k WHERE k.name OPERATOR(pg_catalog.=) kind;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unknown identifier kind "%"', kind
      USING ERRCODE = '22023',
            HINT = 'Use one of: ' || (SELECT pg_catalog.string_agg(k.name, ', ' ORDER BY k.name)
                                        FROM privacy.identifier_kind k) || '.';
  END IF;
  IF mode OPERATOR(pg_catalog.=) 'msisdn' THEN
    RETURN privacy.normalize_msisdn(value,
             COALESCE(pg_catalog.current_setting('pg_privacy.default_country', true), 'DK'));
  END IF;
  norm := privacy._subject_key(mode, value, 'DK');
  IF norm IS NULL THEN
    RAISE EXCEPTION 'identifier of kind "%" has no normal form', kind
      USING ERRCODE = '22023',
            DETAIL = CASE mode WHEN 'email' THEN 'An e-mail address needs an "@" and may not be blank.'
                               ELSE 'The value is blank.' END;
  END IF;
  RETURN norm;
END
$$;
COMMENT ON FUNCTION privacy._subject_normalize(text, text) IS
  'internal: an identifier in its kind''s normal form, or an error';

-- The SQL condition that a row (alias t) holds the identifier of a record
-- f(s text, span tstzmultirange, b boolean) in column c: f.s is the value as
-- the column stores it (prepared by _subject_params); for a bounded span
-- (f.b) the row's validity or event time must fall in it.
CREATE FUNCTION privacy._subject_match(c privacy._subject_column, dc text)
  RETURNS text
  LANGUAGE sql STABLE
AS $$
  SELECT CASE
           WHEN c.protect IS NOT NULL THEN pg_catalog.format('t.%I OPERATOR(pg_catalog.=) f.s', c.col)
           WHEN c.mode IN ('msisdn', 'email') THEN
             pg_catalog.format('privacy._subject_key(%L, t.%I%s, %L) OPERATOR(pg_catalog.=) f.s', c.mode, c.col,
                               CASE WHEN c.typ OPERATOR(pg_catalog.=) 'text'::regtype THEN '' ELSE '::text' END, dc)
           WHEN c.typ IN ('text'::regtype, 'varchar'::regtype) THEN pg_catalog.format('t.%I OPERATOR(pg_catalog.=) f.s', c.col)
           ELSE pg_catalog.format('t.%I OPERATOR(pg_catalog.=) f.s::%s', c.col, c.typ)
         END
      || CASE
           WHEN c.is_validity THEN
             pg_catalog.format(' AND (NOT f.b OR f.span OPERATOR(pg_catalog.&&) pg_catalog.tstzrange(t.%s::timestamptz, t.%s::timestamptz, ''[)''))',
                               COALESCE(pg_catalog.quote_ident(c.valid_from), 'NULL'),
                               COALESCE(pg_catalog.quote_ident(c.valid_to), 'NULL'))
           WHEN c.event_time IS NOT NULL THEN
             pg_catalog.format(' AND (NOT f.b OR f.span OPERATOR(pg_catalog.@>) t.%I::timestamptz)', c.event_time)
           ELSE ''
         END
$$;

-- The identifier a column of row t holds, in normal form (NULL when the
-- column's transformation cannot be reversed).
CREATE FUNCTION privacy._subject_value_expr(c privacy._subject_column, dc text)
  RETURNS text
  LANGUAGE sql STABLE
AS $$
  SELECT CASE
           WHEN c.protect OPERATOR(pg_catalog.=) 'msisdn_fpe' THEN pg_catalog.format('privacy._msisdn_decrypt(t.%I, %L)', c.col, c.domain)
           WHEN c.protect IS NOT NULL THEN 'NULL::text'
           ELSE pg_catalog.format('privacy._subject_key(%L, t.%I::text, %L)', c.mode, c.col, dc)
         END
$$;

-- The period for which an identifier found in column c of row t is the
-- subject's.
CREATE FUNCTION privacy._subject_span_expr(c privacy._subject_column)
  RETURNS text
  LANGUAGE sql STABLE
AS $$
  SELECT CASE
           WHEN c.is_validity THEN
             pg_catalog.format('pg_catalog.tstzmultirange(pg_catalog.tstzrange(t.%s::timestamptz, t.%s::timestamptz, ''[)''))',
                               COALESCE(pg_catalog.quote_ident(c.valid_from), 'NULL'),
                               COALESCE(pg_catalog.quote_ident(c.valid_to), 'NULL'))
           WHEN c.reassignable AND c.event_time IS NOT NULL THEN
             pg_catalog.format('pg_catalog.tstzmultirange(pg_catalog.tstzrange(t.%1$I::timestamptz, t.%1$I::timestamptz, ''[]''))',
                               c.event_time)
           ELSE '''{(,)}''::pg_catalog.tstzmultirange'
         END
$$;

-- For every searchable column, the subject's identifiers of its kind as
-- the column stores them: {"<table oid>.<attnum>": [{"s", "span", "b"}]}.
-- Values that cannot be cast to a non-text column's type are left out.
CREATE FUNCTION privacy._subject_params(kinds text[], vals text[], spans tstzmultirange[])
  RETURNS jsonb
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  c      record;
  i      integer;
  s      text;
  arr    jsonb;
  result jsonb := '{}';
BEGIN
  FOR c IN SELECT * FROM pg_catalog.unnest(privacy._subject_cols()) sc WHERE sc.kind OPERATOR(pg_catalog.=) ANY (kinds) LOOP
    arr := '[]';
    FOR i IN 1 .. pg_catalog.cardinality(kinds) LOOP
      CONTINUE WHEN kinds[i] OPERATOR(pg_catalog.<>) c.kind;
      IF c.protect IS NOT NULL THEN
        s := privacy._transform(vals[i], c.protect, c.domain);
      ELSE
        s := vals[i];
        IF c.mode OPERATOR(pg_catalog.=) 'text' AND c.typ IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype) THEN
          IF s OPERATOR(pg_catalog.!~) '^[+-]?[0-9]{1,18}$' THEN
            s := NULL;    -- not a value this column can hold
          END IF;
        ELSIF c.mode OPERATOR(pg_catalog.=) 'text' AND c.typ NOT IN ('text'::regtype, 'varchar'::regtype) THEN
          BEGIN
            EXECUTE pg_catalog.format('SELECT $1::%s', c.typ) USING s;
          EXCEPTION WHEN data_exception THEN
            s := NULL;    -- not a value this column can hold
          END;
        END IF;
      END IF;
      IF s IS NOT NULL THEN
        arr := arr OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object(
                 's', s, 'span', spans[i]::text,
                 'b', spans[i] OPERATOR(pg_catalog.<>) '{(,)}'::tstzmultirange));
      END IF;
    END LOOP;
    IF arr OPERATOR(pg_catalog.<>) '[]'::jsonb THEN
      result := result OPERATOR(pg_catalog.||)
                pg_catalog.jsonb_build_object(c.tbl::oid::text || '.' || c.attnum::text, arr);
    END IF;
  END LOOP;
  RETURN result;
END
$$;

-- The subject's identifiers for one column, from _subject_params.  A
-- PL/pgSQL function: its plan is kept for the session (a SQL function with
-- a SET clause would be planned anew on every call, and an inlined one
-- would hand the planner jsonb_to_recordset's estimate of 100 rows); its
-- estimate of a few rows makes the planner look each one up through the
-- column's index.  Called only from functions that pin search_path.
CREATE FUNCTION privacy._subject_ids(params jsonb, key text)
  RETURNS TABLE(s text, span tstzmultirange, b boolean)
  LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE ROWS 4
AS $$
BEGIN
  RETURN QUERY
    SELECT f.s, f.span, f.b
      FROM pg_catalog.jsonb_to_recordset(params OPERATOR(pg_catalog.->) key)
           AS f(s pg_catalog.text, span pg_catalog.tstzmultirange, b pg_catalog.bool);
END
$$;

-- The FROM clause of one branch: the subject's identifiers for column c
-- joined to the table's rows that hold them.
CREATE FUNCTION privacy._subject_from(c privacy._subject_column, dc text)
  RETURNS text
  LANGUAGE sql STABLE
AS $$
  SELECT pg_catalog.format(
           'privacy._subject_ids($1, %L) f '
           'JOIN %s t ON %s',
           c.tbl::oid::text || '.' || c.attnum::text, c.tbl, privacy._subject_match(c, dc))
$$;

-- All identifiers of the subject reached from (kind, value): the fixed
-- point described at the top of this file.
CREATE FUNCTION privacy._subject_identifiers(kind text, value text, at timestamptz DEFAULT NULL,
                                             OUT kinds text[], OUT vals text[], OUT spans tstzmultirange[])
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  dc       text := COALESCE(pg_catalog.current_setting('pg_privacy.default_country', true), 'DK');
  norm     text := privacy._subject_normalize(kind, value);
  span0    tstzmultirange := '{(,)}';
  c        privacy._subject_column;
  t        record;
  r        record;
  q        text;
  branches text[];
  rs       tstzrange[];
  cached   text;
  keys     text[];
  link_all text;
  link_sql text[] := '{}';
  fk       text[];
  fv       text[];
  fs       tstzmultirange[];
  nk       text[];
  nv       text[];
  ns       tstzmultirange[];
  params   jsonb;
  rounds   integer := 0;
  i        integer;
  ranges   tstzrange[];
  chosen   tstzmultirange;
BEGIN
  at := COALESCE(at, pg_catalog.now());
  -- A reassignable identifier: its holder at `at`.
  IF EXISTS (SELECT FROM pg_catalog.unnest(privacy._subject_cols()) sc WHERE sc.kind OPERATOR(pg_catalog.=) _subject_identifiers.kind
                AND sc.is_validity) THEN
    params := privacy._subject_params(ARRAY[kind], ARRAY[norm], ARRAY['{(,)}'::tstzmultirange]);
    ranges := '{}';
    FOR c IN SELECT * FROM pg_catalog.unnest(privacy._subject_cols()) sc
              WHERE sc.kind OPERATOR(pg_catalog.=) _subject_identifiers.kind AND sc.is_validity LOOP
      IF params OPERATOR(pg_catalog.?) (c.tbl::oid::text || '.' || c.attnum::text) THEN
        EXECUTE pg_catalog.format('SELECT pg_catalog.array_agg(pg_catalog.tstzrange(t.%s::timestamptz, t.%s::timestamptz, ''[)'')) FROM %s',
                                  COALESCE(pg_catalog.quote_ident(c.valid_from), 'NULL'),
                                  COALESCE(pg_catalog.quote_ident(c.valid_to), 'NULL'),
                                  privacy._subject_from(c, dc))
          INTO rs USING params;
        ranges := ranges OPERATOR(pg_catalog.||) COALESCE(rs, '{}');
      END IF;
    END LOOP;
    IF pg_catalog.cardinality(ranges) OPERATOR(pg_catalog.>) 0 THEN
      SELECT pg_catalog.range_agg(x) INTO chosen FROM pg_catalog.unnest(ranges) x
       WHERE x OPERATOR(pg_catalog.@>) at;
      IF chosen IS NULL THEN
        -- nobody holds it at `at`: its latest holder before, else the first after
        SELECT pg_catalog.tstzmultirange(x) INTO chosen FROM pg_catalog.unnest(ranges) x
         ORDER BY (pg_catalog.lower(x) OPERATOR(pg_catalog.<=) at) DESC,
                  CASE WHEN pg_catalog.lower(x) OPERATOR(pg_catalog.<=) at THEN pg_catalog.lower(x) END DESC NULLS LAST,
                  pg_catalog.lower(x)
         LIMIT 1;
      END IF;
      span0 := chosen;
    END IF;
  END IF;

  -- One query per linking table: for each searchable owner column, the
  -- rows holding a current identifier, and from them every linking
  -- column's identifier with its period.
  cached := privacy._subject_cache_get('link:' || dc);
  IF cached IS NOT NULL THEN
    link_sql := cached::text[];
  END IF;
  FOR t IN SELECT sc.tbl FROM pg_catalog.unnest(privacy._subject_cols()) sc
            WHERE sc.link OPERATOR(pg_catalog.=) 'owner'
            GROUP BY sc.tbl
           HAVING pg_catalog.count(*) FILTER (WHERE sc.links) OPERATOR(pg_catalog.>=) 1
              AND pg_catalog.count(*) OPERATOR(pg_catalog.>=) 2
            ORDER BY sc.tbl::oid LOOP
    EXIT WHEN cached IS NOT NULL;
    branches := '{}';
    keys := '{}';
    FOR c IN SELECT * FROM pg_catalog.unnest(privacy._subject_cols()) sc
              WHERE sc.tbl OPERATOR(pg_catalog.=) t.tbl AND sc.link OPERATOR(pg_catalog.=) 'owner'
              ORDER BY sc.attnum LOOP
      q := pg_catalog.format('SELECT x.k, x.v, x.s FROM %s CROSS JOIN LATERAL (VALUES %s) x(k, v, s) WHERE x.v IS NOT NULL',
             privacy._subject_from(c, dc),
             (SELECT pg_catalog.string_agg(pg_catalog.format('(%L, %s, %s)', l.kind,
                                                             privacy._subject_value_expr(l, dc),
                                                             privacy._subject_span_expr(l)), ', ' ORDER BY l.attnum)
                FROM pg_catalog.unnest(privacy._subject_cols()) l
               WHERE l.tbl OPERATOR(pg_catalog.=) t.tbl AND l.links));
      branches := branches OPERATOR(pg_catalog.||)
                  pg_catalog.format('SELECT * FROM (%s) b WHERE $1 OPERATOR(pg_catalog.?) %L', q, c.tbl::oid::text || '.' || c.attnum::text);
      keys := keys OPERATOR(pg_catalog.||) (c.tbl::oid::text || '.' || c.attnum::text);
    END LOOP;
    -- "key key ...|query": the query runs only when a key has identifiers
    link_sql := link_sql OPERATOR(pg_catalog.||)
                (pg_catalog.array_to_string(keys, ' ') || '|' || pg_catalog.array_to_string(branches, ' UNION ALL '));
  END LOOP;
  IF cached IS NULL THEN
    PERFORM privacy._subject_cache_put('link:' || dc, link_sql::text);
  END IF;

  IF pg_catalog.cardinality(link_sql) OPERATOR(pg_catalog.>) 0 THEN
    link_all := 'SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(z.k, z.v, z.s::text)) FROM ('
                || (SELECT pg_catalog.string_agg(pg_catalog.substr(l, pg_catalog.strpos(l, '|') OPERATOR(pg_catalog.+) 1),
                                                 ' UNION ALL ' ORDER BY o)
                      FROM pg_catalog.unnest(link_sql) WITH ORDINALITY u(l, o))
                || ') z';
  END IF;
  kinds := ARRAY[kind];
  vals := ARRAY[norm];
  spans := ARRAY[span0];
  fk := kinds; fv := vals; fs := spans;
  WHILE pg_catalog.cardinality(fk) OPERATOR(pg_catalog.>) 0 LOOP
    rounds := rounds OPERATOR(pg_catalog.+) 1;
    IF rounds OPERATOR(pg_catalog.>) 10 THEN
      RAISE EXCEPTION 'the identifiers of this data subject do not reach a fixed point in 10 rounds'
        USING ERRCODE = '54000',
              HINT = 'An identifier shared by many subjects links them; declare the linking columns with privacy.set_subject_table(link_columns => ...).';
    END IF;
    params := privacy._subject_params(fk, fv, fs);
    nk := '{}'; nv := '{}'; ns := '{}';
    -- One query per round over every linking table (a branch without
    -- identifiers of its column's kind returns nothing at once).
    IF link_all IS NOT NULL THEN
      FOR r IN SELECT e OPERATOR(pg_catalog.->>) 0 AS k, e OPERATOR(pg_catalog.->>) 1 AS v,
                      (e OPERATOR(pg_catalog.->>) 2)::tstzmultirange AS s
                 FROM pg_catalog.jsonb_array_elements(privacy._subject_query(link_all, params)) e LOOP
        i := pg_catalog.array_position(vals, r.v);
        WHILE i IS NOT NULL AND kinds[i] OPERATOR(pg_catalog.<>) r.k LOOP
          i := pg_catalog.array_position(vals, r.v, i OPERATOR(pg_catalog.+) 1);
        END LOOP;
        IF i IS NULL THEN
          kinds := kinds OPERATOR(pg_catalog.||) r.k::text;
          vals := vals OPERATOR(pg_catalog.||) r.v::text;
          spans := spans OPERATOR(pg_catalog.||) r.s::tstzmultirange;
          i := pg_catalog.cardinality(kinds);
        ELSIF spans[i] OPERATOR(pg_catalog.@>) r.s::tstzmultirange THEN
          CONTINUE;
        ELSE
          spans[i] := spans[i] OPERATOR(pg_catalog.+) r.s::tstzmultirange;
        END IF;
        IF pg_catalog.cardinality(kinds) OPERATOR(pg_catalog.>) 500 THEN
          RAISE EXCEPTION 'this data subject has more than 500 identifiers'
            USING ERRCODE = '54000',
                  HINT = 'An identifier shared by many subjects links them; declare the linking columns with privacy.set_subject_table(link_columns => ...).';
        END IF;
        nk := nk OPERATOR(pg_catalog.||) kinds[i];
        nv := nv OPERATOR(pg_catalog.||) vals[i];
        ns := ns OPERATOR(pg_catalog.||) spans[i];
      END LOOP;
    END IF;
    fk := nk; fv := nv; fs := ns;
  END LOOP;
END
$$;
COMMENT ON FUNCTION privacy._subject_identifiers(text, text, timestamptz) IS
  'internal: every identifier of the data subject reached from one, with the period it is the subject''s';

-- The identifiers as the export shows them.
CREATE FUNCTION privacy._subject_identifiers_json(kinds text[], vals text[], spans tstzmultirange[])
  RETURNS jsonb
  LANGUAGE plpgsql IMMUTABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN (
  SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
           'kind', k, 'value', v,
           'periods', CASE WHEN s OPERATOR(pg_catalog.=) '{(,)}'::tstzmultirange THEN NULL
                           ELSE (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                                          'from', pg_catalog.lower(r), 'to', pg_catalog.upper(r)) ORDER BY r)
                                   FROM pg_catalog.unnest(s) r) END) ORDER BY o), '[]')
    FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(vals), pg_catalog.unnest(spans)) WITH ORDINALITY u(k, v, s, o));
END
$$;

-- The keyed references of the subject's identifiers.
CREATE FUNCTION privacy._subject_refs(kinds text[], vals text[])
  RETURNS text[]
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN (
  SELECT COALESCE(pg_catalog.array_agg(privacy._audit_ref(k, v)), '{}')
    FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(vals)) u(k, v));
END
$$;

------------------------------------------------------------------------
-- Integration with retention and consent (when installed)
------------------------------------------------------------------------

-- Every table's retention policy, by table oid (one query; empty without
-- the retention part).
CREATE FUNCTION privacy._subject_retention_all()
  RETURNS jsonb
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  result jsonb;
BEGIN
  IF pg_catalog.to_regclass('privacy.retention_policy') IS NULL THEN
    RETURN '{}';
  END IF;
  EXECUTE 'SELECT pg_catalog.jsonb_object_agg(p.tbl::pg_catalog.oid::text,
             pg_catalog.jsonb_build_object(''time_column'', p.time_column, ''keep'', p.keep,
                                           ''action'', p.action, ''keep_at_least'', p.keep_at_least))
             FROM privacy.retention_policy p'
    INTO result;
  RETURN COALESCE(result, '{}');
END
$$;

-- Active holds on any of the subject's identifiers: (reason, until),
-- until NULL for an open-ended hold.  Read from the retention part's
-- holds when installed.
CREATE FUNCTION privacy._subject_holds(kinds text[], vals text[])
  RETURNS TABLE(hold_id bigint, reason text, until timestamptz)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF pg_catalog.to_regclass('privacy.legal_hold') IS NULL THEN
    RETURN;
  END IF;
  RETURN QUERY EXECUTE
    'SELECT h.id, h.reason, h.until FROM privacy.legal_hold h
      WHERE h.released_at IS NULL
        AND (h.until IS NULL OR h.until OPERATOR(pg_catalog.>) pg_catalog.now())
        AND (h.kind, h.value) IN (SELECT u.k, u.v FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) u(k, v))
      ORDER BY h.id'
    USING kinds, vals;
END
$$;

-- The positions of the identifiers that have consent events (consent
-- part; empty without it), found with one query.
CREATE FUNCTION privacy._subject_with_consent(kinds text[], vals text[])
  RETURNS integer[]
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  result integer[];
BEGIN
  IF pg_catalog.to_regclass('privacy.consent_event') IS NULL THEN
    RETURN '{}';
  END IF;
  -- A scalar subquery per identifier, so that each is one probe of the
  -- subject_ref index (an EXISTS may be planned as a hash join over the
  -- whole register).
  EXECUTE 'SELECT pg_catalog.array_agg(i ORDER BY i) FROM pg_catalog.generate_subscripts($1, 1) i
            WHERE (SELECT true FROM privacy.consent_event e
                    WHERE e.subject_ref OPERATOR(pg_catalog.=) privacy._audit_ref($1[i], $2[i])
                      AND e.kind OPERATOR(pg_catalog.=) $1[i] LIMIT 1)'
    INTO result USING kinds, vals;
  RETURN COALESCE(result, '{}');
END
$$;

-- The subject's consent receipts (consent part): one per identifier that
-- has consent events; an empty array without the consent part.
CREATE FUNCTION privacy._subject_consent(kinds text[], vals text[])
  RETURNS jsonb
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  result jsonb := '[]';
  receipt jsonb;
  i integer;
BEGIN
  IF pg_catalog.to_regprocedure('privacy.consent_receipt(text,text,jsonb)') IS NULL THEN
    RETURN result;    -- the consent part is not installed: no receipts
  END IF;
  -- a receipt only for identifiers with consent events (one query)
  FOREACH i IN ARRAY privacy._subject_with_consent(kinds, vals) LOOP
    EXECUTE 'SELECT privacy.consent_receipt($1, $2)' INTO receipt USING kinds[i], vals[i];
    IF receipt IS NOT NULL AND pg_catalog.jsonb_array_length(COALESCE(receipt OPERATOR(pg_catalog.->) 'consents', '[]'))
                                OPERATOR(pg_catalog.>) 0 THEN
      result := result OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_array(receipt);
    END IF;
  END LOOP;
  RETURN result;
END
$$;

-- Erasure: replace the subject's identity in the consent history by its
-- keyed reference (consent part).  Returns the events changed, or NULL
-- when the consent part is not installed.
CREATE FUNCTION privacy._subject_forget_consent(kinds text[], vals text[])
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  n bigint := 0;
  m bigint;
  i integer;
BEGIN
  IF pg_catalog.to_regprocedure('privacy._consent_forget_identity(text,text)') IS NULL THEN
    RETURN NULL;
  END IF;
  -- only identifiers that have consent events (one query)
  FOREACH i IN ARRAY privacy._subject_with_consent(kinds, vals) LOOP
    EXECUTE 'SELECT privacy._consent_forget_identity($1, $2)' INTO m USING kinds[i], vals[i];
    n := n OPERATOR(pg_catalog.+) COALESCE(m, 0);
  END LOOP;
  RETURN n;
END
$$;

------------------------------------------------------------------------
-- Requests and their deadlines (GDPR Art. 12(3))
------------------------------------------------------------------------

CREATE FUNCTION privacy.open_request(kind text, value text, request text,
                                     received_at timestamptz DEFAULT pg_catalog.now())
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  norm   text := privacy._subject_normalize(kind, value);
  new_id bigint;
BEGIN
  IF request IS NULL OR request NOT IN ('access', 'portability', 'erasure', 'rectification', 'restriction', 'objection') THEN
    RAISE EXCEPTION 'invalid request "%"', request
      USING ERRCODE = '22023',
            HINT = 'Use one of: access, portability, erasure, rectification, restriction, objection.';
  END IF;
  IF received_at IS NULL OR received_at OPERATOR(pg_catalog.>) pg_catalog.now() THEN
    RAISE EXCEPTION 'a request cannot be received in the future'
      USING ERRCODE = '22023', DETAIL = pg_catalog.format('received_at is %s.', received_at);
  END IF;
  INSERT INTO privacy.subject_request (kind, subject_ref, request, received_at, opened_by)
       VALUES (kind, privacy._audit_ref(kind, norm), request, received_at, privacy._invoker())
    RETURNING id INTO new_id;
  PERFORM privacy._audit('subject.request_open', request,
    pg_catalog.jsonb_build_object('id', new_id, 'kind', kind, 'subject', privacy._audit_ref(kind, norm),
                                  'received_at', received_at));
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION privacy.open_request(text, text, text, timestamptz) IS
  'record a data-subject request (access, portability, erasure, rectification, restriction, objection); due one month after receipt; returns its id';

CREATE FUNCTION privacy.extend_request(request_id bigint, months integer, reason text)
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r privacy.subject_request;
BEGIN
  IF months IS NULL OR months NOT BETWEEN 1 AND 2 THEN
    RAISE EXCEPTION 'a request can be extended by one or two months' USING ERRCODE = '22023',
      DETAIL = pg_catalog.format('months is %s.', COALESCE(months::text, 'NULL'));
  END IF;
  IF reason IS NULL OR pg_catalog.btrim(reason) OPERATOR(pg_catalog.=) '' THEN
    RAISE EXCEPTION 'an extension needs a reason' USING ERRCODE = '22023',
      HINT = 'GDPR Art. 12(3): the subject must be told why, within the first month.';
  END IF;
  SELECT * INTO r FROM privacy.subject_request q WHERE q.id OPERATOR(pg_catalog.=) request_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'request % does not exist', request_id USING ERRCODE = '22023';
  END IF;
  IF r.closed_at IS NOT NULL THEN
    RAISE EXCEPTION 'request % is closed', request_id USING ERRCODE = '55000';
  END IF;
  IF (r.extension_months OPERATOR(pg_catalog.+) months) OPERATOR(pg_catalog.>) 2 THEN
    RAISE EXCEPTION 'request % cannot be extended beyond two months', request_id USING ERRCODE = '55000',
      DETAIL = pg_catalog.format('It is already extended by %s month(s).', r.extension_months);
  END IF;
  IF pg_catalog.now() OPERATOR(pg_catalog.>) (r.received_at OPERATOR(pg_catalog.+) pg_catalog.make_interval(months => 1 OPERATOR(pg_catalog.+) r.extension_months)) THEN
    RAISE EXCEPTION 'request % is overdue and can no longer be extended', request_id USING ERRCODE = '55000';
  END IF;
  UPDATE privacy.subject_request q
     SET extension_months = q.extension_months OPERATOR(pg_catalog.+) months,
         extension_reason = COALESCE(q.extension_reason || '; ', '') || reason
   WHERE q.id OPERATOR(pg_catalog.=) request_id;
  PERFORM privacy._audit('subject.request_extend', r.request,
    pg_catalog.jsonb_build_object('id', request_id, 'months', months, 'reason', reason));
END
$$;
COMMENT ON FUNCTION privacy.extend_request(bigint, integer, text) IS
  'extend the deadline of a request by one or two months (at most two in all) with the reason told to the subject (GDPR Art. 12(3))';

CREATE FUNCTION privacy.close_request(request_id bigint, outcome text)
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r privacy.subject_request;
BEGIN
  IF outcome IS NULL OR pg_catalog.btrim(outcome) OPERATOR(pg_catalog.=) '' THEN
    RAISE EXCEPTION 'closing a request needs an outcome' USING ERRCODE = '22023',
      HINT = 'Say what was done, e.g. ''exported and sent'' or ''erased; invoices kept (bookkeeping)''.';
  END IF;
  SELECT * INTO r FROM privacy.subject_request q WHERE q.id OPERATOR(pg_catalog.=) request_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'request % does not exist', request_id USING ERRCODE = '22023';
  END IF;
  IF r.closed_at IS NOT NULL THEN
    RAISE EXCEPTION 'request % is already closed', request_id USING ERRCODE = '55000',
      DETAIL = pg_catalog.format('It was closed at %s.', r.closed_at);
  END IF;
  UPDATE privacy.subject_request q SET closed_at = pg_catalog.now(), outcome = close_request.outcome
   WHERE q.id OPERATOR(pg_catalog.=) request_id;
  PERFORM privacy._audit('subject.request_close', r.request,
    pg_catalog.jsonb_build_object('id', request_id, 'outcome', outcome,
      'late', pg_catalog.now() OPERATOR(pg_catalog.>) (r.received_at OPERATOR(pg_catalog.+)
              pg_catalog.make_interval(months => 1 OPERATOR(pg_catalog.+) r.extension_months))));
END
$$;
COMMENT ON FUNCTION privacy.close_request(bigint, text) IS
  'close a data-subject request with its outcome';

CREATE VIEW privacy.request_deadlines AS
SELECT q.id, q.kind, q.subject_ref, q.request, q.received_at,
       q.received_at OPERATOR(pg_catalog.+) pg_catalog.make_interval(months => 1 OPERATOR(pg_catalog.+) q.extension_months) AS due_at,
       q.extension_months, q.extension_reason, q.closed_at, q.outcome,
       CASE WHEN q.closed_at IS NOT NULL THEN 'closed' ELSE 'open' END AS status,
       (COALESCE(q.closed_at, pg_catalog.now()) OPERATOR(pg_catalog.>)
        (q.received_at OPERATOR(pg_catalog.+) pg_catalog.make_interval(months => 1 OPERATOR(pg_catalog.+) q.extension_months))) AS overdue,
       CASE WHEN q.closed_at IS NULL THEN
         (q.received_at OPERATOR(pg_catalog.+) pg_catalog.make_interval(months => 1 OPERATOR(pg_catalog.+) q.extension_months))::date
         OPERATOR(pg_catalog.-) pg_catalog.now()::date END AS days_left
  FROM privacy.subject_request q;
COMMENT ON VIEW privacy.request_deadlines IS
  'data-subject requests with their due date (one month from receipt, plus extensions of up to two months), status and overdue flag (closed late counts as overdue)';

------------------------------------------------------------------------
-- Export
------------------------------------------------------------------------

-- The JSON of one row of table tbl (alias t) as the export shows it.  In
-- the subject's own rows (mention_col NULL) the owner identifiers are
-- shown in clear and every mention is masked; in another subject's row
-- that mentions the subject (mention_col), only that column is shown, the
-- row's owner identifiers and other personal data are masked, and
-- traffic and location data stay.
CREATE FUNCTION privacy._subject_row_json(tbl regclass, mention_col name)
  RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r     record;
  parts text[] := '{}';
  clear text;
BEGIN
  FOR r IN SELECT rc.col, rc.category, rc.identifies, rc.link, rc.protect, rc.domain
             FROM privacy.registered_column rc WHERE rc.tbl OPERATOR(pg_catalog.=) _subject_row_json.tbl
            ORDER BY rc.attnum LOOP
    clear := CASE WHEN r.protect OPERATOR(pg_catalog.=) 'msisdn_fpe'
                  THEN pg_catalog.format('privacy._msisdn_decrypt(t.%I, %L)', r.col, r.domain)
                  ELSE pg_catalog.format('t.%I', r.col) END;
    IF mention_col IS NULL THEN
      IF r.link OPERATOR(pg_catalog.=) 'mention' THEN
        parts := parts OPERATOR(pg_catalog.||) pg_catalog.format('%L, %s', r.col,
                   CASE WHEN r.identifies OPERATOR(pg_catalog.=) 'msisdn'
                        THEN pg_catalog.format('privacy.mask_msisdn(%s)', clear)
                        ELSE pg_catalog.format('CASE WHEN t.%I IS NOT NULL THEN ''(masked)'' END', r.col) END);
      ELSIF r.identifies IS NOT NULL AND r.protect OPERATOR(pg_catalog.=) 'msisdn_fpe' THEN
        parts := parts OPERATOR(pg_catalog.||) pg_catalog.format('%L, %s', r.col, clear);
      END IF;
    ELSE
      IF r.col OPERATOR(pg_catalog.=) mention_col THEN
        parts := parts OPERATOR(pg_catalog.||) pg_catalog.format('%L, %s', r.col, clear);
      ELSIF r.identifies OPERATOR(pg_catalog.=) 'msisdn' THEN
        parts := parts OPERATOR(pg_catalog.||) pg_catalog.format('%L, privacy.mask_msisdn(%s)', r.col, clear);
      ELSIF r.category NOT IN ('traffic', 'location') THEN
        parts := parts OPERATOR(pg_catalog.||)
                 pg_catalog.format('%L, CASE WHEN t.%I IS NOT NULL THEN ''(masked)'' END', r.col, r.col);
      END IF;
    END IF;
  END LOOP;
  IF pg_catalog.cardinality(parts) OPERATOR(pg_catalog.=) 0 THEN
    RETURN 'pg_catalog.to_jsonb(t)';
  END IF;
  -- jsonb_build_object takes at most 100 arguments: one call per 50 columns.
  RETURN 'pg_catalog.to_jsonb(t) OPERATOR(pg_catalog.||) ' ||
         (SELECT pg_catalog.string_agg('pg_catalog.jsonb_build_object(' ||
                   pg_catalog.array_to_string(parts[g OPERATOR(pg_catalog.*) 50 OPERATOR(pg_catalog.+) 1 :
                                                    g OPERATOR(pg_catalog.*) 50 OPERATOR(pg_catalog.+) 50], ', ') || ')',
                   ' OPERATOR(pg_catalog.||) ')
            FROM pg_catalog.generate_series(0, (pg_catalog.cardinality(parts) OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog./) 50) g);
END
$$;

-- The query returning the subject's rows of one table, each once:
-- (pri 0 = the subject's own row, 1 = a row that mentions the subject, j).
-- NULL when no column of the table can hold the subject's identifiers.
CREATE FUNCTION privacy._subject_rows_sql(tbl regclass, dc text)
  RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  c        privacy._subject_column;
  branches text[] := '{}';
  own_json text;
  key      text := 'rows:' || tbl::oid::text || ':' || dc;
  q        text := privacy._subject_cache_get(key);
BEGIN
  IF q IS NOT NULL THEN
    RETURN NULLIF(q, '');
  END IF;
  FOR c IN SELECT * FROM pg_catalog.unnest(privacy._subject_cols()) sc WHERE sc.tbl OPERATOR(pg_catalog.=) _subject_rows_sql.tbl
            ORDER BY sc.link DESC, sc.attnum LOOP
    IF c.link OPERATOR(pg_catalog.=) 'owner' THEN
      own_json := COALESCE(own_json, privacy._subject_row_json(tbl, NULL));
      branches := branches OPERATOR(pg_catalog.||)
        pg_catalog.format('SELECT 0 AS pri, t.tableoid AS o, t.ctid AS d, %s AS j FROM %s',
                          own_json, privacy._subject_from(c, dc));
    ELSE
      branches := branches OPERATOR(pg_catalog.||)
        pg_catalog.format('SELECT 1 AS pri, t.tableoid AS o, t.ctid AS d, %s AS j FROM %s',
                          privacy._subject_row_json(tbl, c.col), privacy._subject_from(c, dc));
    END IF;
  END LOOP;
  IF pg_catalog.cardinality(branches) OPERATOR(pg_catalog.=) 0 THEN
    q := '';
  ELSIF pg_catalog.cardinality(branches) OPERATOR(pg_catalog.=) 1 THEN
    q := 'SELECT u.pri, u.j FROM (' || branches[1] || ') u';
  ELSE
    q := 'SELECT DISTINCT ON (u.o, u.d) u.pri, u.j FROM (' ||
         pg_catalog.array_to_string(branches, ' UNION ALL ') || ') u ORDER BY u.o, u.d, u.pri';
  END IF;
  PERFORM privacy._subject_cache_put(key, q);
  RETURN NULLIF(q, '');
END
$$;

-- What the export says about a table besides its rows (GDPR Art. 15(1)).
CREATE FUNCTION privacy._subject_table_json(tbl regclass, retention jsonb)
  RETURNS jsonb
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN (
  SELECT pg_catalog.jsonb_build_object(
           'table', t.tbl::text,
           'purpose', p.name,
           'purpose_description', p.description,
           'legal_basis', p.legal_basis,
           'legal_basis_article', b.article,
           'recipients', pg_catalog.to_jsonb(p.recipients),
           'retention', retention OPERATOR(pg_catalog.->) (t.tbl::oid::text),
           'source', s.source,
           'categories', (SELECT pg_catalog.jsonb_agg(DISTINCT rc.category)
                            FROM privacy.registered_column rc WHERE rc.tbl OPERATOR(pg_catalog.=) t.tbl))
    FROM privacy.registered_table t
    JOIN privacy.purpose p ON p.name OPERATOR(pg_catalog.=) t.purpose
    JOIN privacy.legal_basis b ON b.name OPERATOR(pg_catalog.=) p.legal_basis
    LEFT JOIN privacy.subject_table s ON s.tbl OPERATOR(pg_catalog.=) t.tbl
   WHERE t.tbl OPERATOR(pg_catalog.=) _subject_table_json.tbl);
END
$$;

-- The subject's requests as the export shows them.
CREATE FUNCTION privacy._subject_requests_json(refs text[])
  RETURNS jsonb
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN (
  SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
           'id', d.id, 'request', d.request, 'received_at', d.received_at, 'due_at', d.due_at,
           'status', d.status) ORDER BY d.id), '[]')
    FROM privacy.request_deadlines d
   WHERE d.subject_ref OPERATOR(pg_catalog.=) ANY (refs) AND d.closed_at IS NULL);
END
$$;

-- The export's header: everything but the rows.
CREATE FUNCTION privacy._subject_header(kind text, norm text, kinds text[], vals text[], spans tstzmultirange[])
  RETURNS jsonb
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN (
  SELECT pg_catalog.jsonb_build_object(
           'format', 'pg_privacy.subject_export',
           'version', 1,
           'generated_at', pg_catalog.now(),
           'subject', pg_catalog.jsonb_build_object('kind', kind, 'value', norm),
           'identifiers', privacy._subject_identifiers_json(kinds, vals, spans),
           'restricted', EXISTS (SELECT FROM privacy.restriction r
                                  WHERE r.subject_ref OPERATOR(pg_catalog.=) ANY (privacy._subject_refs(kinds, vals))
                                    AND (r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now())),
           'consent', privacy._subject_consent(kinds, vals),
           'requests', privacy._subject_requests_json(privacy._subject_refs(kinds, vals))));
END
$$;

-- The whole export, read in one snapshot (a STABLE function sees the
-- snapshot of the statement calling it): a concurrent erasure is seen
-- entirely or not at all.
CREATE FUNCTION privacy._subject_export(kind text, value text, at timestamptz)
  RETURNS jsonb
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  dc     text := COALESCE(pg_catalog.current_setting('pg_privacy.default_country', true), 'DK');
  ids    record;
  params jsonb;
  t      record;
  q      text;
  own    jsonb;
  ment   jsonb;
  res    jsonb;
  tables jsonb := '[]';
  reten  jsonb := privacy._subject_retention_all();
BEGIN
  ids := privacy._subject_identifiers(kind, value, at);
  params := privacy._subject_params(ids.kinds, ids.vals, ids.spans);
  FOR t IN SELECT sc.tbl FROM pg_catalog.unnest(privacy._subject_cols()) sc GROUP BY sc.tbl ORDER BY sc.tbl::text LOOP
    CONTINUE WHEN NOT EXISTS (SELECT FROM pg_catalog.unnest(privacy._subject_cols()) sc
                               WHERE sc.tbl OPERATOR(pg_catalog.=) t.tbl
                                 AND params OPERATOR(pg_catalog.?) (sc.tbl::oid::text || '.' || sc.attnum::text));
    q := privacy._subject_rows_sql(t.tbl, dc);
    CONTINUE WHEN q IS NULL;
    res := privacy._subject_query(
             'SELECT pg_catalog.jsonb_build_array(pg_catalog.jsonb_agg(x.j) FILTER (WHERE x.pri OPERATOR(pg_catalog.=) 0),
                     pg_catalog.jsonb_agg(x.j) FILTER (WHERE x.pri OPERATOR(pg_catalog.=) 1)) FROM (' || q || ') x',
             params);
    own := NULLIF(res OPERATOR(pg_catalog.->) 0, 'null'::jsonb);
    ment := NULLIF(res OPERATOR(pg_catalog.->) 1, 'null'::jsonb);
    CONTINUE WHEN own IS NULL AND ment IS NULL;
    tables := tables OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_array(
                privacy._subject_table_json(t.tbl, reten) OPERATOR(pg_catalog.||)
                pg_catalog.jsonb_build_object('rows', COALESCE(own, '[]'), 'mentions', COALESCE(ment, '[]')));
  END LOOP;
  RETURN privacy._subject_header(kind, ids.vals[1], ids.kinds, ids.vals, ids.spans)
         OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('tables', tables);
END
$$;

CREATE FUNCTION privacy.export_subject(kind text, value text, at timestamptz DEFAULT NULL)
  RETURNS jsonb
  LANGUAGE plpgsql VOLATILE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  doc  jsonb;
  norm text := privacy._subject_normalize(kind, value);
BEGIN
  doc := privacy._subject_export(kind, value, at);
  PERFORM privacy._audit('subject.export', NULL,
    pg_catalog.jsonb_build_object(
      'kind', kind, 'subject', privacy._audit_ref(kind, norm),
      'identifiers', pg_catalog.jsonb_array_length(doc OPERATOR(pg_catalog.->) 'identifiers'),
      'tables', (SELECT COALESCE(pg_catalog.jsonb_object_agg(e OPERATOR(pg_catalog.->>) 'table',
                                   pg_catalog.jsonb_array_length(e OPERATOR(pg_catalog.->) 'rows')
                                   OPERATOR(pg_catalog.+) pg_catalog.jsonb_array_length(e OPERATOR(pg_catalog.->) 'mentions')), '{}')
                   FROM pg_catalog.jsonb_array_elements(doc OPERATOR(pg_catalog.->) 'tables') e)));
  RETURN doc;
END
$$;
COMMENT ON FUNCTION privacy.export_subject(text, text, timestamptz) IS
  'everything the database holds about a data subject as one JSON document (GDPR Art. 15 and 20): rows grouped by table with purpose, legal basis, retention, recipients and source, counterparties masked, consent receipts and open requests; audited';

-- The same export as a stream: one row for the header, then per table one
-- row of metadata and its rows in chunks of chunk_rows, so a subject with
-- millions of rows is exported without one huge value.
CREATE FUNCTION privacy._subject_export_stream(kind text, value text, chunk_rows integer, at timestamptz)
  RETURNS TABLE(part integer, section text, table_name regclass, data jsonb)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  dc     text := COALESCE(pg_catalog.current_setting('pg_privacy.default_country', true), 'DK');
  ids    record;
  params jsonb;
  t      record;
  r      record;
  q      text;
  chunk  jsonb[];
  cpri   integer;
  meta   boolean;
  reten  jsonb := privacy._subject_retention_all();
BEGIN
  IF chunk_rows IS NULL OR chunk_rows OPERATOR(pg_catalog.<) 1 THEN
    RAISE EXCEPTION 'chunk_rows must be at least 1' USING ERRCODE = '22023';
  END IF;
  ids := privacy._subject_identifiers(kind, value, at);
  params := privacy._subject_params(ids.kinds, ids.vals, ids.spans);
  part := 0;
  section := 'subject';
  table_name := NULL;
  data := privacy._subject_header(kind, ids.vals[1], ids.kinds, ids.vals, ids.spans);
  RETURN NEXT;
  FOR t IN SELECT sc.tbl FROM pg_catalog.unnest(privacy._subject_cols()) sc GROUP BY sc.tbl ORDER BY sc.tbl::text LOOP
    CONTINUE WHEN NOT EXISTS (SELECT FROM pg_catalog.unnest(privacy._subject_cols()) sc
                               WHERE sc.tbl OPERATOR(pg_catalog.=) t.tbl
                                 AND params OPERATOR(pg_catalog.?) (sc.tbl::oid::text || '.' || sc.attnum::text));
    q := privacy._subject_rows_sql(t.tbl, dc);
    CONTINUE WHEN q IS NULL;
    meta := false;
    chunk := '{}';
    cpri := 0;
    FOR r IN EXECUTE 'SELECT x.pri, x.j FROM (' || q || ') x ORDER BY x.pri' USING params LOOP
      IF NOT meta THEN
        part := part OPERATOR(pg_catalog.+) 1;
        section := 'table';
        table_name := t.tbl;
        data := privacy._subject_table_json(t.tbl, reten);
        RETURN NEXT;
        meta := true;
      END IF;
      IF r.pri OPERATOR(pg_catalog.<>) cpri OR pg_catalog.cardinality(chunk) OPERATOR(pg_catalog.>=) chunk_rows THEN
        IF pg_catalog.cardinality(chunk) OPERATOR(pg_catalog.>) 0 THEN
          part := part OPERATOR(pg_catalog.+) 1;
          section := CASE cpri WHEN 0 THEN 'rows' ELSE 'mentions' END;
          data := pg_catalog.to_jsonb(chunk);
          RETURN NEXT;
        END IF;
        chunk := '{}';
        cpri := r.pri;
      END IF;
      chunk := chunk OPERATOR(pg_catalog.||) r.j;
    END LOOP;
    IF pg_catalog.cardinality(chunk) OPERATOR(pg_catalog.>) 0 THEN
      part := part OPERATOR(pg_catalog.+) 1;
      section := CASE cpri WHEN 0 THEN 'rows' ELSE 'mentions' END;
      table_name := t.tbl;
      data := pg_catalog.to_jsonb(chunk);
      RETURN NEXT;
    END IF;
  END LOOP;
END
$$;

CREATE FUNCTION privacy.export_subject_chunks(kind text, value text, chunk_rows integer DEFAULT 10000,
                                              at timestamptz DEFAULT NULL)
  RETURNS TABLE(part integer, section text, table_name regclass, data jsonb)
  LANGUAGE plpgsql VOLATILE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  norm text := privacy._subject_normalize(kind, value);
  n    bigint := 0;
  tabs jsonb := '{}';
BEGIN
  FOR part, section, table_name, data IN SELECT * FROM privacy._subject_export_stream(kind, value, chunk_rows, at) LOOP
    IF section IN ('rows', 'mentions') THEN
      tabs := tabs OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(table_name::text,
                COALESCE((tabs OPERATOR(pg_catalog.->>) table_name::text)::bigint, 0)
                OPERATOR(pg_catalog.+) pg_catalog.jsonb_array_length(data));
    END IF;
    n := n OPERATOR(pg_catalog.+) 1;
    RETURN NEXT;
  END LOOP;
  PERFORM privacy._audit('subject.export', NULL,
    pg_catalog.jsonb_build_object('kind', kind, 'subject', privacy._audit_ref(kind, norm),
                                  'chunks', n, 'tables', tabs));
END
$$;
COMMENT ON FUNCTION privacy.export_subject_chunks(text, text, integer, timestamptz) IS
  'the export of export_subject as a stream: a header row, then per table a metadata row and its rows in chunks of chunk_rows (for subjects with very many rows); audited';

------------------------------------------------------------------------
-- Restriction (GDPR Art. 18)
------------------------------------------------------------------------

-- The restriction trigger: AFTER UPDATE, FOR EACH STATEMENT, with the old
-- rows as a transition table.  One query per statement checks the old rows'
-- owner identifiers against the active restrictions; per row there is only
-- the transition table's copy and, inside that one query, a keyed
-- reference per identifier.  With no active restriction it returns at once.
CREATE FUNCTION privacy._restrict_trigger() RETURNS trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  reg   regclass;
  dc    text := COALESCE(pg_catalog.current_setting('pg_privacy.default_country', true), 'DK');
  c     record;
  conds text[] := '{}';
  hit   record;
BEGIN
  IF privacy._subject_erasing() THEN
    RETURN NULL;
  END IF;
  IF NOT EXISTS (SELECT FROM privacy.restriction r
                  WHERE r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()) THEN
    RETURN NULL;
  END IF;
  SELECT a.relid INTO reg
    FROM (SELECT TG_RELID::regclass AS relid, 0 AS o
          UNION ALL
          SELECT p.relid, p.o FROM pg_catalog.pg_partition_ancestors(TG_RELID) WITH ORDINALITY p(relid, o)) a
    JOIN privacy.registered_table t ON t.tbl OPERATOR(pg_catalog.=) a.relid
   ORDER BY a.o LIMIT 1;
  FOR c IN SELECT * FROM pg_catalog.unnest(privacy._subject_cols()) sc
            WHERE sc.tbl OPERATOR(pg_catalog.=) reg AND sc.link OPERATOR(pg_catalog.=) 'owner'
              AND (sc.protect IS NULL OR sc.protect OPERATOR(pg_catalog.=) 'msisdn_fpe') LOOP
    -- The keyed reference is computed once per distinct value, and the
    -- period checked only for values that are restricted.
    conds := conds OPERATOR(pg_catalog.||) pg_catalog.format(
      'SELECT h.reason, %1$L AS col FROM ('
      'SELECT v.val, r.reason, r.span FROM (SELECT DISTINCT t.%2$I AS val FROM pgp_old_rows t WHERE t.%2$I IS NOT NULL) v '
      'JOIN privacy.restriction r ON r.kind OPERATOR(pg_catalog.=) %3$L '
      'AND r.subject_ref OPERATOR(pg_catalog.=) privacy._audit_ref(%3$L, %4$s) '
      'WHERE (r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now())) h%5$s',
      c.col, c.col, c.kind,
      CASE WHEN c.protect IS NOT NULL THEN pg_catalog.format('privacy._msisdn_decrypt(v.val, %L)', c.domain)
           ELSE pg_catalog.format('privacy._subject_key(%L, v.val::text, %L)', c.mode, dc) END,
      CASE WHEN c.is_validity THEN
             pg_catalog.format(' JOIN pgp_old_rows t ON t.%I OPERATOR(pg_catalog.=) h.val'
                               ' AND h.span OPERATOR(pg_catalog.&&) pg_catalog.tstzrange(t.%s::timestamptz, t.%s::timestamptz, ''[)'')',
                               c.col,
                               COALESCE(pg_catalog.quote_ident(c.valid_from), 'NULL'),
                               COALESCE(pg_catalog.quote_ident(c.valid_to), 'NULL'))
           WHEN c.event_time IS NOT NULL THEN
             pg_catalog.format(' JOIN pgp_old_rows t ON t.%I OPERATOR(pg_catalog.=) h.val'
                               ' AND (h.span OPERATOR(pg_catalog.=) ''{(,)}'' OR h.span OPERATOR(pg_catalog.@>) t.%I::timestamptz)',
                               c.col, c.event_time)
           ELSE '' END);
  END LOOP;
  IF pg_catalog.cardinality(conds) OPERATOR(pg_catalog.=) 0 THEN
    RETURN NULL;
  END IF;
  EXECUTE pg_catalog.array_to_string(conds, ' UNION ALL ') || ' LIMIT 1' INTO hit;
  IF hit IS NOT NULL THEN
    RAISE EXCEPTION 'cannot update a row of a data subject whose processing is restricted'
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('A row of %s belongs, by its column "%s", to a restricted subject (%s).',
                                       TG_RELID::regclass, hit.col, hit.reason),
            HINT = 'Rows of a restricted subject can be stored and exported only; lift the restriction with privacy.unrestrict_subject().';
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION privacy._restrict_trigger() IS
  'internal: refuses UPDATE of rows of restricted data subjects (statement-level, transition table)';

-- Install the restriction trigger on every registered table with owner
-- identifiers (and on each partition, for UPDATEs aimed at a partition).
CREATE FUNCTION privacy._restrict_install()
  RETURNS integer
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r record;
  n integer := 0;
BEGIN
  FOR r IN SELECT p.relid
             FROM (SELECT DISTINCT sc.tbl FROM privacy._subject_column sc
                    WHERE sc.link OPERATOR(pg_catalog.=) 'owner') t
             CROSS JOIN LATERAL (SELECT t.tbl::oid::regclass AS relid
                                 UNION SELECT pt.relid FROM pg_catalog.pg_partition_tree(t.tbl) pt) p
             JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) p.relid
            WHERE k.relkind IN ('r', 'p')
              AND NOT EXISTS (SELECT FROM pg_catalog.pg_trigger g
                               WHERE g.tgrelid OPERATOR(pg_catalog.=) p.relid
                                 AND g.tgname OPERATOR(pg_catalog.=) 'zx_pg_privacy_restrict')
            ORDER BY p.relid LOOP
    EXECUTE pg_catalog.format(
      'CREATE TRIGGER zx_pg_privacy_restrict AFTER UPDATE ON %s REFERENCING OLD TABLE AS pgp_old_rows '
      'FOR EACH STATEMENT EXECUTE FUNCTION privacy._restrict_trigger()', r.relid::regclass);
    n := n OPERATOR(pg_catalog.+) 1;
  END LOOP;
  RETURN n;
END
$$;

-- Record restrictions of the subject's identifiers; returns how many.
CREATE FUNCTION privacy._restrict_ids(kinds text[], vals text[], spans tstzmultirange[],
                                      reason text, origin text, until timestamptz)
  RETURNS integer
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  n integer;
BEGIN
  INSERT INTO privacy.restriction AS r (kind, subject_ref, span, reason, origin, until, restricted_by)
  SELECT u.k, privacy._audit_ref(u.k, u.v), u.s, reason, origin, until, privacy._invoker()
    FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(vals), pg_catalog.unnest(spans)) u(k, v, s)
  ON CONFLICT ON CONSTRAINT restriction_pkey DO UPDATE
     SET span = r.span OPERATOR(pg_catalog.+) EXCLUDED.span,
         reason = EXCLUDED.reason, origin = EXCLUDED.origin,
         until = CASE WHEN r.until IS NULL OR EXCLUDED.until IS NULL THEN NULL
                      ELSE GREATEST(r.until, EXCLUDED.until) END;
  GET DIAGNOSTICS n = ROW_COUNT;
  PERFORM privacy._restrict_install();
  RETURN n;
END
$$;

CREATE FUNCTION privacy.restrict_subject(kind text, value text, reason text, at timestamptz DEFAULT NULL)
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  ids  record;
  n    integer;
BEGIN
  IF reason IS NULL OR pg_catalog.btrim(reason) OPERATOR(pg_catalog.=) '' THEN
    RAISE EXCEPTION 'a restriction needs a reason' USING ERRCODE = '22023',
      HINT = 'Say why processing is restricted, e.g. ''accuracy contested (Art. 18(1)(a))''.';
  END IF;
  ids := privacy._subject_identifiers(kind, value, at);
  n := privacy._restrict_ids(ids.kinds, ids.vals, ids.spans, reason, 'request', NULL);
  PERFORM privacy._audit('subject.restrict', NULL,
    pg_catalog.jsonb_build_object('kind', kind, 'subject', privacy._audit_ref(kind, ids.vals[1]),
                                  'identifiers', n, 'reason', reason));
END
$$;
COMMENT ON FUNCTION privacy.restrict_subject(text, text, text, timestamptz) IS
  'restrict processing of a data subject (GDPR Art. 18): every identifier of the subject is restricted; its rows can be stored and exported, not updated; audited';

CREATE FUNCTION privacy.unrestrict_subject(kind text, value text, at timestamptz DEFAULT NULL)
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  ids record;
  n   integer;
BEGIN
  ids := privacy._subject_identifiers(kind, value, at);
  DELETE FROM privacy.restriction r
   WHERE r.origin OPERATOR(pg_catalog.=) 'request'
     AND (r.kind, r.subject_ref) IN (SELECT u.k, privacy._audit_ref(u.k, u.v)
                                       FROM ROWS FROM (pg_catalog.unnest(ids.kinds), pg_catalog.unnest(ids.vals)) u(k, v));
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n OPERATOR(pg_catalog.=) 0 THEN
    RAISE EXCEPTION 'data subject is not restricted' USING ERRCODE = '55000',
      DETAIL = 'No identifier of this subject has a restriction requested by the subject; restrictions kept after an erasure end on their own.';
  END IF;
  PERFORM privacy._audit('subject.unrestrict', NULL,
    pg_catalog.jsonb_build_object('kind', kind, 'subject', privacy._audit_ref(kind, ids.vals[1]),
                                  'identifiers', n));
END
$$;
COMMENT ON FUNCTION privacy.unrestrict_subject(text, text, timestamptz) IS
  'lift the restriction of a data subject requested with restrict_subject; audited';

CREATE FUNCTION privacy.is_restricted(kind text, value text)
  RETURNS boolean
  LANGUAGE plpgsql STABLE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  norm text := privacy._subject_normalize(kind, value);
BEGIN
  RETURN EXISTS (SELECT FROM privacy.restriction r
                  WHERE r.kind OPERATOR(pg_catalog.=) is_restricted.kind
                    AND r.subject_ref OPERATOR(pg_catalog.=) privacy._audit_ref(is_restricted.kind, norm)
                    AND (r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()));
END
$$;
COMMENT ON FUNCTION privacy.is_restricted(text, text) IS
  'whether processing of the identifier''s subject is restricted (by request, or for rows kept after an erasure)';

------------------------------------------------------------------------
-- Erasure (GDPR Art. 17)
------------------------------------------------------------------------

-- Registered tables with searchable identifiers, referencing tables
-- before the tables they reference, so children are deleted first.
CREATE FUNCTION privacy._subject_table_order()
  RETURNS TABLE(tbl regclass, depth integer)
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
  WITH RECURSIVE t AS (SELECT DISTINCT sc.tbl FROM privacy._subject_column sc),
  fk AS (SELECT DISTINCT c.conrelid::regclass AS child, c.confrelid::regclass AS parent
           FROM pg_catalog.pg_constraint c
          WHERE c.contype OPERATOR(pg_catalog.=) 'f'
            AND c.conrelid OPERATOR(pg_catalog.<>) c.confrelid
            AND c.conparentid OPERATOR(pg_catalog.=) 0),
  d(tbl, depth) AS (
    SELECT t.tbl, 0 FROM t
    UNION ALL
    SELECT fk.parent, d.depth OPERATOR(pg_catalog.+) 1 FROM d JOIN fk ON fk.child OPERATOR(pg_catalog.=) d.tbl
     WHERE d.depth OPERATOR(pg_catalog.<) 20)
  SELECT t.tbl, (SELECT pg_catalog.max(d.depth) FROM d WHERE d.tbl OPERATOR(pg_catalog.=) t.tbl)::integer
    FROM t
$$;

-- The work of erase_subject: returns the report rows.
CREATE FUNCTION privacy._subject_erase(kind text, value text, at timestamptz)
  RETURNS TABLE(table_name regclass, action text, rows bigint, reason text, kept_until timestamptz)
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  dc      text := COALESCE(pg_catalog.current_setting('pg_privacy.default_country', true), 'DK');
  ids     record;
  params  jsonb;
  t       record;
  c       privacy._subject_column;
  h       record;
  holds   text;
  hold_until timestamptz;
  open_hold boolean := false;
  n       bigint;
  kept    bigint;
  until   timestamptz;
  deleted bigint;
  keep    record;
  keepcond text;
  nrows   bigint;
  kept_any boolean := false;
  max_until timestamptz;
  row_until timestamptz;
  forever boolean := false;
  scrubbed jsonb;
  referenced boolean;
  order_  regclass[];
  cached  text;
  reten   jsonb := privacy._subject_retention_all();
BEGIN
  -- Writers of the subject's tables wait until the erasure commits, and an
  -- erasure waits for writers in flight: a row inserted concurrently is
  -- either seen and erased here or written after the erasure.  (Each
  -- statement below takes a new snapshot, so it sees what the writers we
  -- waited for committed.)
  cached := privacy._subject_cache_get('order');
  IF cached IS NULL THEN
    SELECT pg_catalog.array_agg(o.tbl ORDER BY o.depth, o.tbl::text) INTO order_
      FROM privacy._subject_table_order() o;
    PERFORM privacy._subject_cache_put('order', COALESCE(order_::text, ''));
  ELSE
    order_ := NULLIF(cached, '')::regclass[];
  END IF;
  IF order_ IS NOT NULL THEN
    EXECUTE 'LOCK TABLE ' || (SELECT pg_catalog.string_agg(x::text, ', ' ORDER BY x::oid) FROM pg_catalog.unnest(order_) x)
            || ' IN SHARE ROW EXCLUSIVE MODE';
  END IF;
  ids := privacy._subject_identifiers(kind, value, at);
  params := privacy._subject_params(ids.kinds, ids.vals, ids.spans);

  FOR h IN SELECT * FROM privacy._subject_holds(ids.kinds, ids.vals) LOOP
    holds := COALESCE(holds || '; ', '') || h.reason;
    IF h.until IS NULL THEN
      open_hold := true;
    ELSE
      hold_until := GREATEST(hold_until, h.until);
    END IF;
  END LOOP;
  IF open_hold THEN
    hold_until := NULL;
  END IF;

  PERFORM privacy._subject_set_erasing(true);
  FOR t IN SELECT x AS tbl FROM pg_catalog.unnest(order_) WITH ORDINALITY u(x, o) ORDER BY u.o LOOP
    table_name := t.tbl;
    IF holds IS NOT NULL THEN
      -- Under a hold nothing of the subject changes: count what is kept.
      n := 0;
      FOR c IN SELECT * FROM pg_catalog.unnest(privacy._subject_cols()) sc
                WHERE sc.tbl OPERATOR(pg_catalog.=) t.tbl AND sc.link OPERATOR(pg_catalog.=) 'owner' LOOP
        CONTINUE WHEN NOT params OPERATOR(pg_catalog.?) (c.tbl::oid::text || '.' || c.attnum::text);
        EXECUTE 'SELECT pg_catalog.count(DISTINCT (t.tableoid, t.ctid)) FROM ' || privacy._subject_from(c, dc)
          INTO nrows USING params;
        n := GREATEST(n, nrows);
      END LOOP;
      IF n OPERATOR(pg_catalog.>) 0 THEN
        action := 'keep'; rows := n; kept_until := hold_until;
        reason := 'legal hold: ' || holds || COALESCE(' (until ' || pg_catalog.to_char(hold_until, 'YYYY-MM-DD') || ')', ' (until released)');
        kept_any := true;
        RETURN NEXT;
      END IF;
      CONTINUE;
    END IF;

    -- Legal minimum: rows younger than keep_at_least stay.
    SELECT (reten OPERATOR(pg_catalog.->) (t.tbl::oid::text) OPERATOR(pg_catalog.->>) 'time_column')::name AS time_column,
           (reten OPERATOR(pg_catalog.->) (t.tbl::oid::text) OPERATOR(pg_catalog.->>) 'keep_at_least')::interval AS keep_at_least
      INTO keep;
    keepcond := CASE WHEN keep.keep_at_least IS NULL THEN 'false'
                     ELSE pg_catalog.format('(t.%I::timestamptz OPERATOR(pg_catalog.+) %L::interval OPERATOR(pg_catalog.>) pg_catalog.now())',
                                            keep.time_column, keep.keep_at_least) END;
    deleted := 0; kept := 0; until := NULL; referenced := false;
    FOR c IN SELECT * FROM pg_catalog.unnest(privacy._subject_cols()) sc
              WHERE sc.tbl OPERATOR(pg_catalog.=) t.tbl AND sc.link OPERATOR(pg_catalog.=) 'owner'
              ORDER BY sc.attnum LOOP
      CONTINUE WHEN NOT params OPERATOR(pg_catalog.?) (c.tbl::oid::text || '.' || c.attnum::text);
      IF keep.keep_at_least IS NOT NULL THEN
        EXECUTE pg_catalog.format('SELECT pg_catalog.count(DISTINCT (t.tableoid, t.ctid)), pg_catalog.max(t.%I::timestamptz OPERATOR(pg_catalog.+) %L::interval) FROM %s AND %s',
                                  keep.time_column, keep.keep_at_least, privacy._subject_from(c, dc), keepcond)
          INTO nrows, row_until USING params;
        kept := GREATEST(kept, nrows);
        until := GREATEST(until, row_until);
      END IF;
      BEGIN
        n := privacy._subject_exec(t.tbl,
               pg_catalog.format('DELETE FROM %s t USING privacy._subject_ids($1, %L) f WHERE %s AND NOT %s',
                                 t.tbl, c.tbl::oid::text || '.' || c.attnum::text,
                                 privacy._subject_match(c, dc), keepcond),
               params);
      EXCEPTION WHEN foreign_key_violation THEN
        -- Rows that other kept rows still reference stay as long as they do.
        EXECUTE 'SELECT pg_catalog.count(*) FROM ' || privacy._subject_from(c, dc) INTO nrows USING params;
        kept := GREATEST(kept, nrows);
        referenced := true;
        n := 0;
      END;
      deleted := deleted OPERATOR(pg_catalog.+) n;
    END LOOP;
    IF deleted OPERATOR(pg_catalog.>) 0 THEN
      action := 'delete'; rows := deleted; kept_until := NULL;
      reason := 'erased at the data subject''s request (GDPR Art. 17)';
      RETURN NEXT;
    END IF;
    IF kept OPERATOR(pg_catalog.>) 0 THEN
      IF referenced THEN
        -- as long as the rows that reference them (tables referencing
        -- this one were handled before it)
        until := GREATEST(until, max_until);
      END IF;
      action := 'keep'; rows := kept; kept_until := until;
      reason := CASE WHEN referenced
                     THEN pg_catalog.format('referenced by rows kept in another table (until %s), restricted',
                                            COALESCE(pg_catalog.to_char(until, 'YYYY-MM-DD'), 'they go'))
                     ELSE pg_catalog.format('legal minimum: kept %s after %s (until %s), restricted',
                                            keep.keep_at_least, keep.time_column,
                                            pg_catalog.to_char(until, 'YYYY-MM-DD')) END;
      kept_any := true;
      IF kept_until IS NULL THEN
        forever := true;
      ELSE
        max_until := GREATEST(max_until, kept_until);
      END IF;
      RETURN NEXT;
    END IF;

    -- Mentions in other subjects' rows: the subject's identifier goes.
    scrubbed := '{}';
    n := 0;
    FOR c IN SELECT * FROM pg_catalog.unnest(privacy._subject_cols()) sc
              WHERE sc.tbl OPERATOR(pg_catalog.=) t.tbl AND sc.link OPERATOR(pg_catalog.=) 'mention'
              ORDER BY sc.attnum LOOP
      CONTINUE WHEN NOT params OPERATOR(pg_catalog.?) (c.tbl::oid::text || '.' || c.attnum::text);
      IF c.notnull THEN
        RAISE EXCEPTION 'cannot scrub mentions in column "%" of relation %', c.col, c.tbl
          USING ERRCODE = '55000',
                DETAIL = 'The column is NOT NULL, so the subject''s identifier cannot be removed from other subjects'' rows.',
                HINT = 'Allow NULL in the column (ALTER TABLE ... ALTER COLUMN ... DROP NOT NULL).';
      END IF;
      nrows := privacy._subject_exec(t.tbl,
               pg_catalog.format('UPDATE %s t SET %I = NULL FROM privacy._subject_ids($1, %L) f WHERE %s',
                                 t.tbl, c.col, c.tbl::oid::text || '.' || c.attnum::text,
                                 privacy._subject_match(c, dc)),
               params);
      IF nrows OPERATOR(pg_catalog.>) 0 THEN
        scrubbed := scrubbed OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(c.col, nrows);
        n := n OPERATOR(pg_catalog.+) nrows;
      END IF;
    END LOOP;
    IF n OPERATOR(pg_catalog.>) 0 THEN
      action := 'scrub'; rows := n; kept_until := NULL;
      reason := 'mentioned in other subjects'' rows: ' ||
                (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(k), ', ' ORDER BY k)
                   FROM pg_catalog.jsonb_object_keys(scrubbed) k) || ' set to NULL';
      RETURN NEXT;
    END IF;
  END LOOP;
  PERFORM privacy._subject_set_erasing(false);

  IF holds IS NULL THEN
    n := privacy._subject_forget_consent(ids.kinds, ids.vals);
    IF n IS NOT NULL AND n OPERATOR(pg_catalog.>) 0 THEN
      table_name := pg_catalog.to_regclass('privacy.consent_event');
      action := 'pseudonymize'; rows := n; kept_until := NULL;
      reason := 'proof of consent kept (GDPR Art. 7(1)); the identifier replaced by a keyed reference';
      RETURN NEXT;
    END IF;
  END IF;

  IF kept_any THEN
    IF holds IS NOT NULL THEN
      until := hold_until;
      forever := open_hold;
    ELSE
      until := max_until;
    END IF;
    n := privacy._restrict_ids(ids.kinds, ids.vals, ids.spans,
                               COALESCE('legal hold: ' || holds, 'rows kept after erasure'), 'erasure',
                               CASE WHEN forever THEN NULL ELSE until END);
    table_name := 'privacy.restriction'::regclass;
    action := 'restrict'; rows := n; kept_until := CASE WHEN forever THEN NULL ELSE until END;
    reason := 'the kept rows are restricted: stored, not processed or updated';
    RETURN NEXT;
  END IF;
END
$$;

CREATE FUNCTION privacy.erase_subject(kind text, value text, dry_run boolean DEFAULT false,
                                      at timestamptz DEFAULT NULL)
  RETURNS TABLE(table_name regclass, action text, rows bigint, reason text, kept_until timestamptz)
  LANGUAGE plpgsql VOLATILE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  norm   text := privacy._subject_normalize(kind, value);
  report jsonb;
BEGIN
  IF dry_run IS NULL THEN
    RAISE EXCEPTION 'dry_run must not be null' USING ERRCODE = '22004';
  END IF;
  IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed' THEN
    RAISE EXCEPTION 'erase_subject must run at isolation level READ COMMITTED'
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('The transaction runs at %s; its snapshot could miss rows written concurrently.',
                                       pg_catalog.current_setting('transaction_isolation'));
  END IF;
  IF dry_run THEN
    -- The same work, rolled back: the report is exactly what an erasure
    -- would do now.
    BEGIN
      SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(e)) INTO report
        FROM privacy._subject_erase(kind, value, at) e;
      RAISE EXCEPTION USING ERRCODE = 'P0004', MESSAGE = 'pg_privacy dry run';
    EXCEPTION WHEN assert_failure THEN
      NULL;
    END;
  ELSE
    SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(e)) INTO report
      FROM privacy._subject_erase(kind, value, at) e;
  END IF;
  report := COALESCE(report, '[]');
  PERFORM privacy._audit(CASE WHEN dry_run THEN 'subject.erase_dry_run' ELSE 'subject.erase' END, NULL,
    pg_catalog.jsonb_build_object('kind', kind, 'subject', privacy._audit_ref(kind, norm),
                                  'report', (SELECT COALESCE(pg_catalog.jsonb_agg(e OPERATOR(pg_catalog.-) 'reason'), '[]')
                                               FROM pg_catalog.jsonb_array_elements(report) e)));
  RETURN QUERY
    SELECT (e OPERATOR(pg_catalog.->>) 'table_name')::regclass, e OPERATOR(pg_catalog.->>) 'action',
           (e OPERATOR(pg_catalog.->>) 'rows')::bigint, e OPERATOR(pg_catalog.->>) 'reason',
           (e OPERATOR(pg_catalog.->>) 'kept_until')::timestamptz
      FROM pg_catalog.jsonb_array_elements(report) e;
END
$$;
COMMENT ON FUNCTION privacy.erase_subject(text, text, boolean, timestamptz) IS
  'erase a data subject in one transaction (GDPR Art. 17): delete its rows, keep and restrict rows under a legal minimum or hold (saying why and until when), scrub its mentions in others'' rows, pseudonymize it in the consent history; dry_run reports without changing; audited';

-- Privileges.  Nothing in the schema is usable by PUBLIC unless granted
-- here; the README lists the grants a DBA gives to which role.

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA privacy FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA privacy FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA privacy FROM PUBLIC;

-- Safe for everyone: no key involved.
GRANT EXECUTE ON FUNCTION privacy.normalize_msisdn(text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.mask_msisdn(text, integer) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.country_of(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.generalize(timestamptz, text) TO PUBLIC;
-- Keyed functions (pseudonymize*, key_fingerprint) are not granted to
-- PUBLIC: whoever can call them can test guesses against pseudonyms.
-- reidentify_msisdn stays with the extension owner unless granted.
-- Analytics: the builders run with their caller's rights and are granted
-- by the DBA (see README); the internal steps they take are safe for
-- anyone: parsing a query as the caller, splitting a name, reading the
-- declarations of a table the caller may read, and recording a view the
-- caller owns.
GRANT EXECUTE ON FUNCTION privacy._analyze_grouped_query(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy._qualified_name(text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy._extract_spec(regclass) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy._record_published(regclass, text, text, integer, boolean, text, text) TO PUBLIC;
-- Measuring k-anonymity reads only what the caller may read.
GRANT EXECUTE ON FUNCTION privacy.k_anonymity(regclass, name[], integer) TO PUBLIC;
-- Consent privileges.  90_privileges.sql revoked everything from PUBLIC;
-- this part grants back only what is safe for everyone.
--
-- Nothing of the consent register is granted to PUBLIC: has_consent
-- reveals whether a person consented, grant_consent/withdraw_consent
-- write the proof, consent_history and consent_receipt disclose it, and
-- require_consent/unrequire_consent change enforcement (they also check
-- that the caller owns the table).  A DBA grants them to the roles that
-- need them, for example:
--
--   GRANT EXECUTE ON FUNCTION privacy.has_consent(text, text, text, timestamptz) TO app;
--   GRANT EXECUTE ON FUNCTION privacy.grant_consent(text, text, text, text, text, timestamptz),
--                             privacy.withdraw_consent(text, text, text, text, timestamptz) TO app;
--   GRANT EXECUTE ON FUNCTION privacy.consent_history(text, text),
--                             privacy.consent_receipt(text, text, jsonb) TO privacy_officer;
--
-- The require_consent trigger needs no grant: it fires for every writer.
-- privacy._consent_forget_identity stays with the extension owner (the
-- erasure path).

-- The withdrawal cascade deletes as each table's owner and matches typed
-- identifiers with this pure normalization function (no key, no data).
GRANT EXECUTE ON FUNCTION privacy._identifier_key(text, text) TO PUBLIC;
-- Privileges of retention.  90_privileges.sql revoked every function,
-- table and sequence of the schema from PUBLIC; procedures are not
-- functions there, so run_purge is revoked here.  Nothing of retention is
-- granted to PUBLIC: a DBA grants (README, "Security model"):
--   policies and holds:  set_retention, drop_retention, hold, release_hold
--   purging:             purge, and for run_purge also its steps
--                        _purge_begin, _purge_batch, _purge_end
--   scheduling:          schedule_purge, unschedule_purge

REVOKE ALL ON PROCEDURE privacy.run_purge(integer, integer, integer) FROM PUBLIC;
-- Data-subject rights: privileges.  90_privileges.sql revoked everything
-- from PUBLIC; export, erasure, restriction and requests stay with the
-- extension owner and the roles a DBA grants them to (see README).

-- The lenient normal form has no key and backs expression indexes on
-- identifier columns, which every role writing such a table evaluates.
GRANT EXECUTE ON FUNCTION privacy._subject_key(text, text, text) TO PUBLIC;
