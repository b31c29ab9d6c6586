-- Keys.  The master key is read by the C library from the file named by
-- pg_privacy.key_file; nothing here stores, takes or returns key material.

CREATE FUNCTION privacy.key_fingerprint() RETURNS text
  LANGUAGE c VOLATILE STRICT PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_key_fingerprint';
COMMENT ON FUNCTION privacy.key_fingerprint() IS
  'identifies the loaded master key without revealing it (equal fingerprints pseudonymize alike)';
