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
