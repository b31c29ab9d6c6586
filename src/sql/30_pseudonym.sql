-- Pseudonymization, format-preserving phone numbers, masking, and the
-- protect trigger.  The transformations are C functions (pseudonym.c);
-- the protect trigger (protect.c) applies them on write.

-- STABLE: without a default_country (NULL) national numbers are read as
-- numbers of pg_privacy.default_country.  privacy.lookup_value is the
-- IMMUTABLE form, for indexes.
CREATE FUNCTION privacy.normalize_msisdn(raw text, default_country text DEFAULT NULL)
  RETURNS text
  LANGUAGE c STABLE PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_normalize_msisdn';
COMMENT ON FUNCTION privacy.normalize_msisdn(text, text) IS
  'E.164 form (+<country code><number>) of a phone number as people type it; national numbers of default_country (NULL: pg_privacy.default_country)';

CREATE FUNCTION privacy.pseudonymize(value text, domain text DEFAULT 'default')
  RETURNS text
  LANGUAGE c STABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_pseudonymize';
COMMENT ON FUNCTION privacy.pseudonymize(text, text) IS
  'keyed pseudonym (HMAC-SHA256 under a key derived for the domain, 128 bits, base64url): deterministic, one-way, domain-separated';

CREATE FUNCTION privacy.pseudonymize_msisdn(msisdn text, domain text DEFAULT 'default',
                                            default_country text DEFAULT NULL)
  RETURNS text
  LANGUAGE c STABLE PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_pseudonymize_msisdn';
COMMENT ON FUNCTION privacy.pseudonymize_msisdn(text, text, text) IS
  'format-preserving pseudonym of a phone number (FF1/AES-256): same country code, first digit and length; reversible only by reidentify_msisdn';

CREATE FUNCTION privacy_internal._msisdn_decrypt(pseudonym text, domain text)
  RETURNS text
  LANGUAGE c STABLE STRICT PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_msisdn_decrypt';
COMMENT ON FUNCTION privacy_internal._msisdn_decrypt(text, text) IS
  'internal: inverse of pseudonymize_msisdn; use reidentify_msisdn, which audits';

-- How the audit log refers to a subject's identifier: a keyed one-way
-- reference under the audit key, after the kind's normalization.
CREATE FUNCTION privacy_internal._audit_ref(kind text, value text) RETURNS text
  LANGUAGE c STABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_audit_ref';
COMMENT ON FUNCTION privacy_internal._audit_ref(text, text) IS
  'internal: keyed one-way reference to an identifier, as written to the audit log';

-- The same reference under a listed key of the given fingerprint (the
-- current one, or an older one pg_privacy.key_file lists after it): to
-- check and match what was made before a key change.  55000 when no listed
-- key has that fingerprint.
CREATE FUNCTION privacy_internal._audit_ref_under(fingerprint text, kind text, value text) RETURNS text
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_audit_ref_under';
COMMENT ON FUNCTION privacy_internal._audit_ref_under(text, text, text) IS
  'internal: _audit_ref under the listed key of a fingerprint';

-- The same reference under every key pg_privacy.key_file lists that can be
-- used, the current one first: to match what was made before a key change
-- (a request, the consent events of an erased identifier).
CREATE FUNCTION privacy_internal._audit_refs(kind text, value text) RETURNS text[]
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_audit_refs';
COMMENT ON FUNCTION privacy_internal._audit_refs(text, text) IS
  'internal: _audit_ref under every usable listed key, the current one first';

CREATE FUNCTION privacy_internal._subject_ref(kind text, value text) RETURNS text
  LANGUAGE sql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT privacy_internal._audit_ref(kind, privacy_internal._identifier_normalize(kind, value))
$$;
COMMENT ON FUNCTION privacy_internal._subject_ref(text, text) IS
  'internal: the audit log''s reference to a subject identifier (normalized by its kind, keyed, one-way)';

-- Re-identification is audited on every call: who, when, which domain,
-- and a keyed one-way reference to the number (never the number).
CREATE FUNCTION privacy.reidentify_msisdn(pseudonym text, domain text DEFAULT 'default')
  RETURNS text
  LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  result text;
BEGIN
  -- A pseudonym of a relation privacy.rekey() has not converted is under
  -- the replaced key: decrypted under the current one it gives another,
  -- valid-looking number.  The pseudonym does not say where it comes
  -- from, so none is read back while any is left (src/sql/36_rekey.sql),
  -- but by the form that names the key of its row.
  IF EXISTS (SELECT FROM privacy.rekey_pending p WHERE p.from_key OPERATOR(pg_catalog.<>) 'raw') THEN
    RAISE EXCEPTION 'cannot tell which key a phone-number pseudonym is under while a key rotation runs'
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('%s relation(s) hold phone-number pseudonyms under a replaced key, which privacy.rekey() has not converted: decrypted under the current key, such a pseudonym gives another, valid-looking number.',
                                       (SELECT pg_catalog.count(*) FROM privacy.rekey_pending p WHERE p.from_key OPERATOR(pg_catalog.<>) 'raw')),
            HINT = 'Name the key of the row the pseudonym comes from: privacy.reidentify_msisdn(t.col, domain, privacy.row_key(t.tableoid, t.*)); or run CALL privacy.rekey() first.';
  END IF;
  result := privacy_internal._msisdn_decrypt(pseudonym, domain);
  PERFORM privacy_internal._audit('pseudonym.reidentify', NULL,
                         pg_catalog.jsonb_build_object('domain', domain, 'kind', 'msisdn',
                                                       'subject', privacy_internal._subject_ref('msisdn', result)));
  RETURN result;
END
$$;
COMMENT ON FUNCTION privacy.reidentify_msisdn(text, text) IS
  'the phone number behind a pseudonymize_msisdn pseudonym; every call is audited';

-- The same under a key named by its fingerprint, one pg_privacy.key_file
-- lists (55000 otherwise): while a key rotation runs, the key of the row
-- the pseudonym was read from (privacy.row_key, src/sql/36_rekey.sql).
CREATE FUNCTION privacy.reidentify_msisdn(pseudonym text, domain text, key_fingerprint text)
  RETURNS text
  LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  result text;
BEGIN
  result := privacy_internal._msisdn_under(key_fingerprint, pseudonym, domain, true);
  PERFORM privacy_internal._audit('pseudonym.reidentify', NULL,
                         pg_catalog.jsonb_build_object('domain', domain, 'kind', 'msisdn', 'key', key_fingerprint,
                                                       'subject', privacy_internal._subject_ref('msisdn', result)));
  RETURN result;
END
$$;
COMMENT ON FUNCTION privacy.reidentify_msisdn(text, text, text) IS
  'the phone number behind a phone-number pseudonym made under the listed key of that fingerprint (privacy.row_key gives a row''s); every call is audited';

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

-- Every change of the grants, by these functions, by hand or by a
-- restore of the dumped table, makes every backend check them again.
CREATE FUNCTION privacy_internal._domain_grant_changed() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM privacy_internal._invalidate('privacy.domain_grant'::regclass);
  RETURN NULL;
END
$$;
CREATE TRIGGER domain_grant_changed
  AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON privacy.domain_grant
  FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._domain_grant_changed();
-- (also under session_replication_role = replica and in logical
-- replication's apply: a revoke written there reaches open sessions)
ALTER TABLE privacy.domain_grant ENABLE ALWAYS TRIGGER domain_grant_changed;

-- Domains are capabilities (see privacy.domain_grant).
CREATE FUNCTION privacy.grant_domain(domain text, grantee regrole) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
BEGIN
  IF domain IS NULL OR grantee IS NULL THEN
    RAISE EXCEPTION 'domain and grantee must not be null' USING ERRCODE = '22004';
  END IF;
  PERFORM privacy_internal._check_domain_admin();
  IF pg_catalog.octet_length(domain) NOT BETWEEN 1 AND 200 THEN
    RAISE EXCEPTION 'invalid pseudonymization domain'
      USING ERRCODE = '22023', DETAIL = 'A domain is a non-empty text of at most 200 bytes.';
  END IF;
  INSERT INTO privacy.domain_grant (domain, grantee, granted_by)
       VALUES (domain, grantee, privacy_internal._invoker())
  ON CONFLICT DO NOTHING;
  PERFORM privacy_internal._audit('pseudonym.grant_domain', domain,
                         pg_catalog.jsonb_build_object('grantee', grantee::text));
  -- the shards of protected Citus tables read the grant from their rule
  PERFORM privacy_internal._protect_citus_resign(domain);
END
$$;
COMMENT ON FUNCTION privacy.grant_domain(text, regrole) IS
  'let a role (and the roles that have its privileges) produce the pseudonyms of a domain, by the keyed functions or by tables it protects';

CREATE FUNCTION privacy.revoke_domain(domain text, grantee regrole) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
BEGIN
  IF domain IS NULL OR grantee IS NULL THEN
    RAISE EXCEPTION 'domain and grantee must not be null' USING ERRCODE = '22004';
  END IF;
  PERFORM privacy_internal._check_domain_admin();
  DELETE FROM privacy.domain_grant g
   WHERE g.domain OPERATOR(pg_catalog.=) revoke_domain.domain
     AND g.grantee OPERATOR(pg_catalog.=) revoke_domain.grantee;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'role % holds no grant of domain "%"', grantee, domain USING ERRCODE = '42704';
  END IF;
  PERFORM privacy_internal._audit('pseudonym.revoke_domain', domain,
                         pg_catalog.jsonb_build_object('grantee', grantee::text));
  -- the shards of protected Citus tables read the grant from their rule
  PERFORM privacy_internal._protect_citus_resign(domain);
END
$$;
COMMENT ON FUNCTION privacy.revoke_domain(text, regrole) IS
  'withdraw a domain grant; tables the role protects in the domain refuse writes until it is granted again';

-- Only the extension owner (or a superuser) grants domains.
CREATE FUNCTION privacy_internal._check_domain_admin() RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT pg_catalog.pg_has_role(privacy_internal._invoker(),
                                (SELECT c.relowner FROM pg_catalog.pg_class c
                                  WHERE c.oid OPERATOR(pg_catalog.=) 'privacy.domain_grant'::regclass),
                                'USAGE') THEN
    RAISE EXCEPTION 'only the owner of pg_privacy may grant or revoke pseudonymization domains'
      USING ERRCODE = '42501';
  END IF;
END
$$;
