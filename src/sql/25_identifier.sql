-- Identifiers (src/identifier.c): how a data subject's identifier is
-- written in normal form, by its kind's normalization
-- (privacy.identifier_kind.normalize):
--
--   msisdn  E.164, national numbers read as numbers of the default country
--   email   surrounding ASCII white space removed, ASCII letters A-Z
--           lower-cased, every other character kept as it is (the same
--           result under every locale and collation); needs an "@"
--   text    surrounding ASCII white space removed; not blank
--
-- The default country is one setting, pg_privacy.default_country.  What
-- pg_privacy stores about a subject (consent events, holds, restrictions,
-- requests, audit references) is the normal form computed when it was
-- written, so changing the setting later does not change what a stored
-- reference means.

-- The lookup value: the normal form, or NULL when the value has none.  Pure
-- and IMMUTABLE (the default country is an argument; NULL reads
-- international forms only), so it backs an expression index.  Consent's
-- withdrawal cascade, legal holds, export, erasure and restriction all
-- search a column of identifiers as people typed them by exactly
--   privacy.lookup_value('<normalization>', col, '<pg_privacy.default_country>')
-- so one index on that expression serves them all
-- (privacy.missing_indexes proposes it).
CREATE FUNCTION privacy.lookup_value(normalization text, value text, default_country text)
  RETURNS text
  LANGUAGE c IMMUTABLE PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_lookup_value';
COMMENT ON FUNCTION privacy.lookup_value(text, text, text) IS
  'lookup value of an identifier as typed: normal form by normalization (msisdn, email, text), NULL when it has none; IMMUTABLE, for expression indexes';

-- A kind's value in normal form under pg_privacy.default_country, or an
-- error: 22023 for an unknown kind, 22P02 for a value without a normal
-- form (the value never in the message).  What the API functions store
-- and look for.
CREATE FUNCTION privacy_internal._identifier_normalize(kind text, value text)
  RETURNS text
  LANGUAGE c STABLE PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_identifier_normalize_kind';
COMMENT ON FUNCTION privacy_internal._identifier_normalize(text, text) IS
  'internal: an identifier in its kind''s normal form under pg_privacy.default_country, or an error';

-- pg_privacy.default_country, defined by the library whether or not it
-- was loaded before: the literal the statements inline into the lookup value.
CREATE FUNCTION privacy_internal._default_country()
  RETURNS text
  LANGUAGE c STABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_identifier_default_country';
COMMENT ON FUNCTION privacy_internal._default_country() IS
  'internal: pg_privacy.default_country';
