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
  mask        text,               -- privacy.set_mask: overrides the category's mask
  PRIMARY KEY (tbl, col)
);
COMMENT ON TABLE privacy.registered_column IS 'pg_privacy: columns holding personal data';

-- Pseudonymization domains are capabilities: whoever produces a domain's
-- pseudonyms (by the keyed functions, or by writing a table protected in
-- it and reading the result) can reverse them by trying every value.  The
-- extension owner and superusers hold every domain, "default" included;
-- any other role holds the domains granted here to it or to a role whose
-- privileges it has (privacy.grant_domain, privacy.revoke_domain).
CREATE TABLE privacy.domain_grant (
  domain      text NOT NULL CHECK (pg_catalog.octet_length(domain) BETWEEN 1 AND 200),
  grantee     regrole NOT NULL,
  granted_at  timestamptz NOT NULL DEFAULT now(),
  granted_by  name NOT NULL,
  PRIMARY KEY (domain, grantee)
);
COMMENT ON TABLE privacy.domain_grant IS
  'pg_privacy: roles that may produce the pseudonyms of a domain';

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
  ('customer_?(no|number|id)$', 'customer_number', true),
  -- Danish and Nordic names (with and without æ, ø, å, ä, ö)
  ('telefon|(^|_)tlf|mobil|puhelin', 'phone', true),
  ('e_?post|s[aä]hk[oö]posti', 'email', true),
  ('(^|_)((for|efter|mellem|fuld|kontakt|etter|f[oö]r|slekt)_?)?(navn|namn|nimi)$|(suku|etu)nimi', 'name', true),
  ('adresse|adress|osoite|(^|_)postnr|post_?nummer|postinumero|(^|_)gade(_|$)|(^|_)vej(_|$)|bynavn|(^|_)postby$|postort', 'postal_address', true),
  ('(^|_)cpr|person_?n(umme)?r|f(ø|oe|o)dsels_?(nummer|nr|dato)|f[oö]delse_?datum|henkil[oö]tunnus|(^|_)hetu$|syntym[aä]', 'national_id', true),
  ('kunde_?n(umme)?r|kund_?n(umme)?r|asiakas_?n(ume)?ro', 'customer_number', true),
  ('konto_?n(umme)?r|tilinumero|(^|_)reg_?nr', 'bank_account', true),
  ('org(anisations|anisasjons)?_?n(umme)?r|y_?tunnus', 'business_id', true),
  ('(^|_)firma|virksomhed|f[oö]retag|yritys', 'company', true);

SELECT pg_catalog.pg_extension_config_dump('privacy.category', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('privacy.identifier_kind', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('privacy.name_pattern', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('privacy.purpose', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.registered_table', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.registered_column', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.domain_grant', '');

-- May the role produce pseudonyms of the domain?  Cached per backend,
-- dropped when privacy.domain_grant or a role membership changes.
CREATE FUNCTION privacy_internal._domain_allowed(role oid, domain text) RETURNS boolean
  LANGUAGE c STABLE STRICT PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_domain_allowed_sql';
COMMENT ON FUNCTION privacy_internal._domain_allowed(oid, text) IS
  'internal: whether a role may produce the pseudonyms of a domain (privacy.domain_grant)';

-- Raise 42501 unless the owners of the table and of each of its partitions
-- hold the domain of every keyed protect transformation given.
CREATE FUNCTION privacy_internal._check_domain_owner(tbl regclass, domain text) RETURNS void
  LANGUAGE plpgsql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  owner oid;
BEGIN
  FOR owner IN
    SELECT DISTINCT c.relowner FROM pg_catalog.pg_class c
     WHERE c.oid OPERATOR(pg_catalog.=) tbl
        OR c.oid IN (SELECT p.relid FROM pg_catalog.pg_partition_tree(tbl) p)
  LOOP
    IF NOT privacy_internal._domain_allowed(owner, domain) THEN
      RAISE EXCEPTION 'role "%" may not produce pseudonyms of domain "%"',
                      pg_catalog.pg_get_userbyid(owner), domain
        USING ERRCODE = '42501',
              DETAIL = pg_catalog.format('Role %I owns %s (or a partition of it); whoever writes a protected table and reads it produces the domain''s pseudonyms, and can reverse them by trying every value.',
                                         pg_catalog.pg_get_userbyid(owner), tbl),
              HINT = 'The owner of pg_privacy grants a domain with privacy.grant_domain().';
    END IF;
  END LOOP;
END
$$;

-- Keep registered_column.attnum matching the column name, also when rows
-- come back from a dump (attribute numbers can change across a restore).
CREATE FUNCTION privacy_internal._registered_column_attnum() RETURNS trigger
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
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._registered_column_attnum();
-- (also in logical replication's apply: the column's number on this server)
ALTER TABLE privacy.registered_column ENABLE ALWAYS TRIGGER registered_column_attnum;

-- A change of a declaration, however made, reaches every session's
-- derived statements and table descriptions (src/subject.c).  The
-- triggers fire ALWAYS: also in a session with session_replication_role =
-- replica, and in logical replication's apply of a declaration table, where
-- ordinary triggers stay silent and sessions would keep stale rules.
CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE ON privacy.identifier_kind
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._catalog_changed();
CREATE TRIGGER catalog_truncated AFTER TRUNCATE ON privacy.identifier_kind
  FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._catalog_changed();
ALTER TABLE privacy.identifier_kind ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;
CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE ON privacy.legal_basis
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._catalog_changed();
CREATE TRIGGER catalog_truncated AFTER TRUNCATE ON privacy.legal_basis
  FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._catalog_changed();
ALTER TABLE privacy.legal_basis ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;
CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE ON privacy.purpose
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._catalog_changed();
CREATE TRIGGER catalog_truncated AFTER TRUNCATE ON privacy.purpose
  FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._catalog_changed();
ALTER TABLE privacy.purpose ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;
CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE ON privacy.registered_table
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._catalog_changed();
CREATE TRIGGER catalog_truncated AFTER TRUNCATE ON privacy.registered_table
  FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._catalog_changed();
ALTER TABLE privacy.registered_table ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;
CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE ON privacy.registered_column
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._catalog_changed();
CREATE TRIGGER catalog_truncated AFTER TRUNCATE ON privacy.registered_column
  FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._catalog_changed();
ALTER TABLE privacy.registered_column ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;

------------------------------------------------------------------------
-- Declaring purposes, tables and columns
------------------------------------------------------------------------

CREATE FUNCTION privacy.define_purpose(name text, legal_basis text,
                                       requires_consent boolean DEFAULT false,
                                       description text DEFAULT NULL,
                                       recipients text[] DEFAULT '{}')
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
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
  PERFORM privacy_internal._audit(
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
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
BEGIN
  IF name IS NULL THEN
    RAISE EXCEPTION 'purpose must not be null' USING ERRCODE = '22004';
  END IF;
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
  PERFORM privacy_internal._audit('catalog.drop_purpose', name);
END
$$;
COMMENT ON FUNCTION privacy.drop_purpose(text) IS 'remove a purpose no table uses';

-- Raise 22023 unless the purpose exists.
CREATE FUNCTION privacy_internal._check_purpose(purpose text) RETURNS void
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
            HINT = COALESCE((SELECT pg_catalog.format('Existing purposes: %s%s. Define a new one with privacy.define_purpose().',
                                                     pg_catalog.string_agg(x.name, ', ' ORDER BY x.name),
                                                     CASE WHEN (SELECT pg_catalog.count(*) FROM privacy.purpose) OPERATOR(pg_catalog.>) 20
                                                          THEN ', ...' ELSE '' END)
                               FROM (SELECT p.name FROM privacy.purpose p ORDER BY p.name LIMIT 20) x
                             HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 0),
                            'No purpose is defined yet: define it first with privacy.define_purpose().');
  END IF;
END
$$;

CREATE FUNCTION privacy.register_table(tbl regclass, purpose text) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  rel record;
  parent regclass;
BEGIN
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'table must not be null' USING ERRCODE = '22004';
  END IF;
  SELECT c.relkind, c.relpersistence, c.relispartition, n.nspname, c.reloftype
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
  -- A typed table's columns follow its composite type: ALTER TYPE ...
  -- CASCADE renames, drops and retypes them under a command tag no event
  -- trigger of pg_privacy sees (the catalog would not follow, the
  -- protection could be turned onto another column).
  IF rel.reloftype OPERATOR(pg_catalog.<>) 0 THEN
    RAISE EXCEPTION 'cannot register typed table %', tbl
      USING ERRCODE = '0A000',
            DETAIL = pg_catalog.format('Its columns follow composite type %s, which ALTER TYPE ... CASCADE changes without the checks that keep a registered table''s declarations and protection in force.',
                                       rel.reloftype::regtype),
            HINT = pg_catalog.format('Make it an ordinary table first: ALTER TABLE %s NOT OF.', tbl);
  END IF;
  IF rel.nspname IN ('pg_catalog', 'information_schema', 'privacy', 'privacy_internal') THEN
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
  PERFORM privacy_internal._check_owner(tbl);
  PERFORM privacy_internal._check_purpose(purpose);
  IF EXISTS (SELECT FROM privacy.registered_table t WHERE t.tbl OPERATOR(pg_catalog.=) register_table.tbl) THEN
    RAISE EXCEPTION 'table % is already registered', tbl
      USING ERRCODE = '42710',
            HINT = 'Use privacy.set_purpose() to change its purpose.';
  END IF;
  INSERT INTO privacy.registered_table (tbl, purpose, registered_by)
       VALUES (tbl, purpose, privacy_internal._invoker());
  PERFORM privacy_internal._audit('catalog.register_table', tbl::text,
                         pg_catalog.jsonb_build_object('purpose', purpose));
END
$$;
COMMENT ON FUNCTION privacy.register_table(regclass, text) IS
  'declare that a table holds personal data, kept for a purpose';

CREATE FUNCTION privacy.set_purpose(tbl regclass, purpose text) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  old text;
BEGIN
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'table must not be null' USING ERRCODE = '22004';
  END IF;
  PERFORM privacy_internal._check_purpose(purpose);
  SELECT t.purpose INTO old FROM privacy.registered_table t
   WHERE t.tbl OPERATOR(pg_catalog.=) set_purpose.tbl FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'table % is not registered', tbl
      USING ERRCODE = '55000', HINT = 'Register it with privacy.register_table().';
  END IF;
  PERFORM privacy_internal._check_owner(tbl);
  UPDATE privacy.registered_table t SET purpose = set_purpose.purpose
   WHERE t.tbl OPERATOR(pg_catalog.=) set_purpose.tbl;
  PERFORM privacy_internal._audit('catalog.set_purpose', tbl::text,
                         pg_catalog.jsonb_build_object('purpose', purpose, 'previous_purpose', old));
END
$$;
COMMENT ON FUNCTION privacy.set_purpose(regclass, text) IS 'change the purpose a registered table is kept for';

CREATE FUNCTION privacy.unregister_table(tbl regclass) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
BEGIN
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'table must not be null' USING ERRCODE = '22004',
          HINT = 'A mistyped table name given to to_regclass() yields NULL; check the name.';
  END IF;
  PERFORM privacy_internal._check_owner(tbl);
  IF privacy_internal._has_protect_trigger(tbl) THEN
    RAISE EXCEPTION 'table % is protected', tbl
      USING ERRCODE = '55000',
            DETAIL = 'Without its declarations the protect trigger would store raw values.',
            HINT = 'Remove the protection with privacy.unprotect() first.';
  END IF;
  DELETE FROM privacy.registered_table t WHERE t.tbl OPERATOR(pg_catalog.=) unregister_table.tbl;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'table % is not registered', tbl USING ERRCODE = '55000';
  END IF;
  PERFORM privacy_internal._invalidate(tbl);
  PERFORM privacy_internal._audit('catalog.unregister_table', tbl::text);
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
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
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
  PERFORM privacy_internal._check_owner(tbl);
  SELECT a.attnum, a.atttypid, a.attnotnull, a.attgenerated, t.typcategory
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
  -- Identifiers are matched, normalized and cast by the extension: only
  -- built-in text and integer types (privacy_internal._identifier_type_ok).
  IF identifies IS NOT NULL AND NOT privacy_internal._identifier_type_ok(att.atttypid) THEN
    RAISE EXCEPTION 'an identifier column must have a built-in text or integer type'
      USING ERRCODE = '42804',
            DETAIL = pg_catalog.format('Column "%s" of relation %s has type %s.', col, tbl,
                                       pg_catalog.format_type(att.atttypid, NULL)),
            HINT = 'Use text, varchar, char, smallint, integer, bigint or numeric.';
  END IF;
  IF domain IS NULL OR pg_catalog.octet_length(domain) NOT BETWEEN 1 AND 200 THEN
    RAISE EXCEPTION 'invalid pseudonymization domain'
      USING ERRCODE = '22023',
            DETAIL = 'A domain is a non-empty text of at most 200 bytes.';
  END IF;
  IF protect IS NOT NULL AND att.attgenerated OPERATOR(pg_catalog.<>) '' THEN
    RAISE EXCEPTION 'cannot protect generated column "%" of relation %', col, tbl
      USING ERRCODE = '55000',
            DETAIL = 'A generated column is computed after the protect trigger and would be stored untransformed.',
            HINT = 'Protect the columns it is computed from, or register it without protect.';
  END IF;
  -- A protected table produces the pseudonyms of its domain for its owner.
  IF protect IN ('pseudonym', 'msisdn_fpe', 'email_pseudonym') THEN
    PERFORM privacy_internal._check_domain_owner(tbl, domain);
  END IF;
  IF EXISTS (SELECT FROM privacy.registered_column c
              WHERE c.tbl OPERATOR(pg_catalog.=) register_column.tbl
                AND c.col OPERATOR(pg_catalog.=) register_column.col) THEN
    RAISE EXCEPTION 'column "%" of relation % is already registered', col, tbl
      USING ERRCODE = '42710',
            HINT = 'Unregister it with privacy.unregister_column() to declare it anew.';
  END IF;
  -- A protected table's trigger transforms the column from now on; the
  -- values it holds already would stay raw among them, never found by the
  -- search for a data subject, and no conversion could tell them apart.
  -- (Not a table whose trigger carries a rule for shards, as
  -- undistribute_table leaves it: it refuses every row, and what it holds
  -- was written through the shards' trigger.)
  IF protect IS NOT NULL AND privacy_internal._has_protect_trigger(tbl) AND NOT privacy_internal._citus_table(tbl)
     AND NOT EXISTS (SELECT FROM pg_catalog.pg_trigger g
                      WHERE g.tgrelid OPERATOR(pg_catalog.=) tbl AND g.tgname OPERATOR(pg_catalog.=) 'zz_pg_privacy_protect'
                        AND g.tgnargs OPERATOR(pg_catalog.>) 0)
     AND privacy_internal._has_rows(tbl, col) THEN
    RAISE EXCEPTION 'column "%" of protected table % holds values', col, tbl
      USING ERRCODE = '55000',
            DETAIL = 'Declared protected now, its values would stay raw beside the ones the protect trigger transforms from now on, and the search for a data subject would not find them.',
            HINT = 'Declare it without protect (its values are then searched as they are written), or set it NULL in every row first; if its values are pseudonyms already, unprotect the table, declare the column, and protect it again with rewrite_existing => false.';
  END IF;
  INSERT INTO privacy.registered_column (tbl, col, attnum, category, identifies, link, protect, domain)
       VALUES (tbl, col, att.attnum, category, identifies, link, protect, domain);
  -- the shards of a protected Citus table transform by the rule their
  -- trigger carries (src/protect.c): signed again with this column
  IF protect IS NOT NULL AND privacy_internal._has_protect_trigger(tbl) AND privacy_internal._citus_table(tbl) THEN
    PERFORM privacy_internal._protect_citus_dist_check(tbl);
    PERFORM privacy_internal._protect_citus_sign(tbl);
  END IF;
  -- A table that now holds subjects' own identifiers gets the restriction
  -- check at once while any subject is restricted (73_subject_restrict.sql).
  IF identifies IS NOT NULL AND link OPERATOR(pg_catalog.=) 'owner'
     AND EXISTS (SELECT FROM privacy.restriction) THEN
    PERFORM privacy_internal._restrict_install();
  END IF;
  PERFORM privacy_internal._invalidate(tbl);
  PERFORM privacy_internal._audit('catalog.register_column', tbl::text,
                         pg_catalog.jsonb_build_object('column', col, 'category', category,
                                                       'identifies', identifies, 'link', link,
                                                       'protect', protect, 'domain', domain));
END
$$;
COMMENT ON FUNCTION privacy.register_column(regclass, name, text, text, text, text, text) IS
  'declare a column of a registered table as personal data: category, identifier kind, link, on-write protection';

CREATE FUNCTION privacy.unregister_column(tbl regclass, col name) RETURNS void
  LANGUAGE plpgsql VOLATILE STRICT
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
BEGIN
  PERFORM privacy_internal._check_owner(tbl);
  IF privacy_internal._has_protect_trigger(tbl) AND EXISTS (
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
  PERFORM privacy_internal._invalidate(tbl);
  PERFORM privacy_internal._audit('catalog.unregister_column', tbl::text,
                         pg_catalog.jsonb_build_object('column', col));
END
$$;
COMMENT ON FUNCTION privacy.unregister_column(regclass, name) IS 'remove a column from the catalog';

------------------------------------------------------------------------
-- Views
------------------------------------------------------------------------

-- Columns whose names look personal but are not declared.  Partitions are
-- covered by their parent; tables belonging to extensions are skipped.
CREATE VIEW privacy_internal._undeclared_by_name AS
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
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'privacy', 'privacy_internal')
   AND n.nspname !~ '^pg_toast'
   AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
   AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                    WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
                      AND d.objid OPERATOR(pg_catalog.=) c.oid
                      AND d.deptype OPERATOR(pg_catalog.=) 'e')
   AND NOT EXISTS (SELECT FROM privacy.registered_column rc
                    WHERE rc.tbl OPERATOR(pg_catalog.=) c.oid
                      AND rc.col OPERATOR(pg_catalog.=) a.attname);
COMMENT ON VIEW privacy_internal._undeclared_by_name IS
  'internal: columns whose names look personal but are not declared (privacy.undeclared_columns; privacy.health)';

-- Undeclared columns of built-in text types (text, varchar, char, json,
-- jsonb) whose content looks personal: of the first sample_rows rows of
-- each table (a bounded sample: a large table costs what a small one
-- does), the share of non-null values holding an e-mail address, a phone
-- number, a national identity number (Danish CPR, Norwegian, Swedish,
-- Finnish) or an IBAN anywhere in their text (so free text and JSON count
-- too).  Each table is read as its owner in a security-restricted
-- operation (privacy_internal._owner_query), casting only built-in types;
-- a table that cannot be read within 100 ms (a lock) or whose read fails
-- is left out, never stops the report.  The category is the one matched
-- by most values (ties: e-mail, national id, bank account, phone).
CREATE FUNCTION privacy_internal._undeclared_by_content(sample_rows integer DEFAULT 1000)
  RETURNS TABLE(table_name regclass, column_name name, suggested_category text, matched_share numeric, sampled bigint)
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  t       record;
  q       text;
  res     jsonb;
  i       integer;
  cnt     jsonb;
  best    text;
  bestn   bigint;
  k       integer;
  -- e-mail, national id, bank account, phone: in order of precedence
  kinds   text[] := ARRAY['email', 'national_id', 'bank_account', 'phone'];
  res_re  text[] := ARRAY[
    '[[:alnum:]._%+-]+@[[:alnum:]-]+(\.[[:alnum:]-]+)*\.[[:alpha:]]{2,}',
    '(^|[^[:alnum:]])((0[1-9]|[12][0-9]|3[01])(0[1-9]|1[0-2])[0-9]{2}[-+A]?[0-9]{3}[0-9A-Z]{1,2}|(19|20)?[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])[-+][0-9]{4})($|[^[:alnum:]])',
    '(^|[^[:alnum:]])[A-Z]{2}[0-9]{2}( ?[A-Z0-9]){11,30}($|[^[:alnum:]])',
    '(^|[^[:alnum:]+])((\+|00)[1-9][0-9]([ .-]?[0-9]){6,13}|[2-9][0-9]( ?[0-9]){6})($|[^[:alnum:]])'];
BEGIN
  IF sample_rows IS NULL OR sample_rows OPERATOR(pg_catalog.<) 1 OR sample_rows OPERATOR(pg_catalog.>) 1000000 THEN
    RAISE EXCEPTION 'sample_rows must be between 1 and 1000000' USING ERRCODE = '22023';
  END IF;
  FOR t IN
    SELECT c.oid::regclass AS tbl,
           pg_catalog.array_agg(a.attname ORDER BY a.attnum) AS cols
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
      JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.oid
     WHERE c.relkind IN ('r', 'p')
       AND NOT c.relispartition
       AND c.relpersistence OPERATOR(pg_catalog.<>) 't'
       AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'privacy', 'privacy_internal')
       AND n.nspname !~ '^pg_toast'
       AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
       AND a.atttypid IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype, 'json'::regtype, 'jsonb'::regtype)
       AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                        WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
                          AND d.objid OPERATOR(pg_catalog.=) c.oid
                          AND d.deptype OPERATOR(pg_catalog.=) 'e')
       AND NOT EXISTS (SELECT FROM privacy.registered_column rc
                        WHERE rc.tbl OPERATOR(pg_catalog.=) c.oid
                          AND rc.col OPERATOR(pg_catalog.=) a.attname)
     GROUP BY c.oid
     ORDER BY c.oid::regclass::text
  LOOP
    -- per column: [non-null values, matches of each kind]
    SELECT 'SELECT pg_catalog.jsonb_build_array(' || pg_catalog.string_agg(
             pg_catalog.format('pg_catalog.jsonb_build_array(pg_catalog.count(s.%1$I)%2$s)', 'v' || o,
               (SELECT pg_catalog.string_agg(pg_catalog.format(', pg_catalog.count(*) FILTER (WHERE s.%I OPERATOR(pg_catalog.~) %L)', 'v' || o, r), '' ORDER BY ro)
                  FROM pg_catalog.unnest(res_re) WITH ORDINALITY x(r, ro))), ', ' ORDER BY o)
           || ')::pg_catalog.text FROM (SELECT '
           || pg_catalog.string_agg(pg_catalog.format('t.%I::pg_catalog.text AS %I', col, 'v' || o), ', ' ORDER BY o)
           || pg_catalog.format(' FROM %s t LIMIT %s) s', t.tbl, sample_rows)
      INTO q
      FROM pg_catalog.unnest(t.cols) WITH ORDINALITY u(col, o);
    BEGIN
      res := privacy_internal._owner_query(t.tbl, q, '{}', 100)::jsonb;
    EXCEPTION WHEN OTHERS THEN
      CONTINUE;   -- locked, or unreadable: left out of this report
    END;
    FOR i IN 1 .. pg_catalog.cardinality(t.cols) LOOP
      cnt := res OPERATOR(pg_catalog.->) (i OPERATOR(pg_catalog.-) 1);
      CONTINUE WHEN (cnt OPERATOR(pg_catalog.->>) 0)::bigint OPERATOR(pg_catalog.=) 0;
      best := NULL;
      bestn := 0;
      FOR k IN 1 .. pg_catalog.cardinality(kinds) LOOP
        IF (cnt OPERATOR(pg_catalog.->>) k)::bigint OPERATOR(pg_catalog.>) bestn THEN
          best := kinds[k];
          bestn := (cnt OPERATOR(pg_catalog.->>) k)::bigint;
        END IF;
      END LOOP;
      CONTINUE WHEN best IS NULL;
      table_name := t.tbl;
      column_name := t.cols[i];
      suggested_category := best;
      sampled := (cnt OPERATOR(pg_catalog.->>) 0)::bigint;
      matched_share := pg_catalog.round(bestn::numeric OPERATOR(pg_catalog./) sampled, 3);
      RETURN NEXT;
    END LOOP;
  END LOOP;
END
$$;
COMMENT ON FUNCTION privacy_internal._undeclared_by_content(integer) IS
  'internal: undeclared text and JSON columns whose sampled content looks like e-mail addresses, phone numbers, national identity numbers or IBANs';

-- Columns that look personal but are not declared: by their name
-- (privacy.name_pattern), by their content (a sample of each table), or
-- both; the share of sampled values that matched says how sure.
CREATE VIEW privacy.undeclared_columns AS
SELECT COALESCE(nm.table_name, ct.table_name) AS table_name,
       COALESCE(nm.column_name, ct.column_name) AS column_name,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS data_type,
       COALESCE(nm.suggested_category, ct.suggested_category) AS suggested_category,
       EXISTS (SELECT FROM privacy.registered_table r
                WHERE r.tbl OPERATOR(pg_catalog.=) COALESCE(nm.table_name, ct.table_name)) AS table_registered,
       CASE WHEN nm.column_name IS NOT NULL AND ct.column_name IS NOT NULL THEN 'name, content'
            WHEN nm.column_name IS NOT NULL THEN 'name'
            ELSE 'content' END AS found_by,
       ct.matched_share,
       ct.sampled
  FROM privacy_internal._undeclared_by_name nm
  FULL JOIN privacy_internal._undeclared_by_content() ct
    ON ct.table_name OPERATOR(pg_catalog.=) nm.table_name AND ct.column_name OPERATOR(pg_catalog.=) nm.column_name
  JOIN pg_catalog.pg_attribute a
    ON a.attrelid OPERATOR(pg_catalog.=) COALESCE(nm.table_name, ct.table_name)
   AND a.attname OPERATOR(pg_catalog.=) COALESCE(nm.column_name, ct.column_name);
COMMENT ON VIEW privacy.undeclared_columns IS
  'columns that look personal but are not declared, by their name (phone, email, navn, cpr, kundenummer, ...) or their sampled content (phone numbers, e-mail addresses, CPR numbers, IBANs), with the share of sampled values that matched';

-- The types a declared identifier column may have: built-in text and
-- integer types, whose casts, comparisons and output are PostgreSQL's own
-- (never code of the table's owner).  Checked when a column is declared
-- and again wherever identifiers are used.
CREATE FUNCTION privacy_internal._identifier_type_ok(typ oid) RETURNS boolean
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT typ IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype,
                 'int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'numeric'::regtype)
$$;
COMMENT ON FUNCTION privacy_internal._identifier_type_ok(oid) IS
  'internal: whether a declared identifier column may have this type (built-in text and integer types)';

------------------------------------------------------------------------
-- Event triggers: follow renames and drops
------------------------------------------------------------------------

-- A dropped table or column leaves the catalog with it; the audit log says so.
CREATE FUNCTION privacy_internal._on_sql_drop() RETURNS event_trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
  SET jit = off
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
        PERFORM privacy_internal._audit('analytics.unpublished', o.object_identity);
      END IF;
    ELSIF o.object_type OPERATOR(pg_catalog.=) 'table column' THEN
      DELETE FROM privacy.registered_column c
       WHERE c.tbl::oid OPERATOR(pg_catalog.=) o.objid
         AND c.attnum OPERATOR(pg_catalog.=) o.objsubid;
      GET DIAGNOSTICS n = ROW_COUNT;
      IF n OPERATOR(pg_catalog.>) 0 THEN
        PERFORM privacy_internal._audit('catalog.column_dropped', o.object_identity);
      END IF;
    ELSE
      DELETE FROM privacy.registered_table t WHERE t.tbl::oid OPERATOR(pg_catalog.=) o.objid;
      GET DIAGNOSTICS n = ROW_COUNT;
      IF n OPERATOR(pg_catalog.>) 0 THEN
        PERFORM privacy_internal._audit('catalog.table_dropped', o.object_identity);
      END IF;
    END IF;
  END LOOP;
END
$$;

-- Which column an ALTER ... RENAME COLUMN renamed (src/catalog.c): read from
-- the command itself, inside the ddl_command_end event trigger only.
CREATE FUNCTION privacy_internal._renamed_column(cmd pg_catalog.pg_ddl_command,
                                        OUT relid regclass, OUT old_name name, OUT new_name name)
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_renamed_column';
COMMENT ON FUNCTION privacy_internal._renamed_column(pg_catalog.pg_ddl_command) IS
  'internal: the relation, old and new name of a column renamed by a collected DDL command';

-- A column of a user's table was renamed: every catalog table that names
-- columns follows it, here and nowhere else.  The list:
--   registered_column.col                 (20_catalog.sql)
--   consent_requirement.col               (40_consent.sql)
--   retention_policy.time_column          (50_retention.sql)
--   subject_table.event_time, validity_column, valid_from, valid_to,
--                 link_columns            (70_subject_find.sql)
-- Each change is audited under its module's event name; caches built from
-- the old names are dropped in every backend at commit.
CREATE FUNCTION privacy_internal._follow_column_rename(tbl regclass, old_name name, new_name name)
  RETURNS void
  LANGUAGE plpgsql VOLATILE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  ev text;
  followed boolean := false;
BEGIN
  -- The shards of a protected Citus table transform the columns their
  -- signed rule names (src/protect.c): a renamed protected column would be
  -- stored raw under its new name, another column transformed under the
  -- old one.
  IF privacy_internal._citus_table(tbl) AND privacy_internal._has_protect_trigger(tbl)
     AND EXISTS (SELECT FROM privacy.registered_column c
                  WHERE c.tbl OPERATOR(pg_catalog.=) _follow_column_rename.tbl
                    AND c.col OPERATOR(pg_catalog.=) old_name AND c.protect IS NOT NULL) THEN
    RAISE EXCEPTION 'cannot rename protected column "%" of table %, which Citus manages', old_name, tbl
      USING ERRCODE = '0A000',
            DETAIL = 'The protect trigger on its shards transforms the column by the name its signed rule gives.',
            HINT = 'Keep the name; or remove the protection with privacy.unprotect() while no row is written, rename the column, and protect the table again.';
  END IF;
  FOR ev IN
    WITH c AS (UPDATE privacy.registered_column c SET col = new_name
                WHERE c.tbl OPERATOR(pg_catalog.=) _follow_column_rename.tbl
                  AND c.col OPERATOR(pg_catalog.=) old_name
               RETURNING 'catalog.column_renamed'::text AS ev),
         q AS (UPDATE privacy.consent_requirement q SET col = new_name
                WHERE q.tbl OPERATOR(pg_catalog.=) _follow_column_rename.tbl
                  AND q.col OPERATOR(pg_catalog.=) old_name
               RETURNING 'consent.column_renamed'::text AS ev),
         p AS (UPDATE privacy.retention_policy p SET time_column = new_name
                WHERE p.tbl OPERATOR(pg_catalog.=) _follow_column_rename.tbl
                  AND p.time_column OPERATOR(pg_catalog.=) old_name
               RETURNING 'retention.column_renamed'::text AS ev),
         s AS (UPDATE privacy.subject_table s
                  SET event_time = CASE WHEN s.event_time OPERATOR(pg_catalog.=) old_name THEN new_name ELSE s.event_time END,
                      validity_column = CASE WHEN s.validity_column OPERATOR(pg_catalog.=) old_name THEN new_name
                                             ELSE s.validity_column END,
                      valid_from = CASE WHEN s.valid_from OPERATOR(pg_catalog.=) old_name THEN new_name ELSE s.valid_from END,
                      valid_to = CASE WHEN s.valid_to OPERATOR(pg_catalog.=) old_name THEN new_name ELSE s.valid_to END,
                      link_columns = pg_catalog.array_replace(s.link_columns, old_name, new_name)
                WHERE s.tbl OPERATOR(pg_catalog.=) _follow_column_rename.tbl
                  AND (old_name OPERATOR(pg_catalog.=) ANY (ARRAY[s.event_time, s.validity_column, s.valid_from, s.valid_to])
                       OR old_name OPERATOR(pg_catalog.=) ANY (s.link_columns))
               RETURNING 'subject.column_renamed'::text AS ev)
    SELECT DISTINCT u.ev FROM (TABLE c UNION ALL TABLE q UNION ALL TABLE p UNION ALL TABLE s) u
     ORDER BY 1
  LOOP
    PERFORM privacy_internal._audit(ev, tbl::text, pg_catalog.jsonb_build_object('from', old_name, 'to', new_name));
    followed := true;
  END LOOP;
  IF followed THEN
    PERFORM privacy_internal._invalidate(tbl);
  END IF;
END
$$;
COMMENT ON FUNCTION privacy_internal._follow_column_rename(regclass, name, name) IS
  'internal: carries a renamed column along in every catalog table that names columns';

-- After ALTER TABLE (and ALTER FOREIGN TABLE, ALTER VIEW): follow renamed
-- columns.
CREATE FUNCTION privacy_internal._on_ddl_end() RETURNS event_trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
  SET jit = off
AS $$
DECLARE
  r record;
BEGIN
  FOR r IN
    SELECT x.relid, x.old_name, x.new_name
      FROM pg_catalog.pg_event_trigger_ddl_commands() d,
           LATERAL privacy_internal._renamed_column(d.command) x
     WHERE x.relid IS NOT NULL
  LOOP
    PERFORM privacy_internal._follow_column_rename(r.relid, r.old_name, r.new_name);
  END LOOP;
END
$$;

CREATE EVENT TRIGGER pg_privacy_sql_drop ON sql_drop
  EXECUTE FUNCTION privacy_internal._on_sql_drop();
CREATE EVENT TRIGGER pg_privacy_ddl_end ON ddl_command_end
  WHEN TAG IN ('ALTER TABLE', 'ALTER FOREIGN TABLE', 'ALTER VIEW', 'ALTER MATERIALIZED VIEW')
  EXECUTE FUNCTION privacy_internal._on_ddl_end();
