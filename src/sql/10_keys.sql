-- Keys.  The master key is read by the C library from the file named by
-- pg_privacy.key_file; nothing here stores, takes or returns key material.

CREATE FUNCTION privacy.key_fingerprint() RETURNS text
  LANGUAGE c VOLATILE STRICT PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_key_fingerprint';
COMMENT ON FUNCTION privacy.key_fingerprint() IS
  'identifies the loaded master key without revealing it (equal fingerprints pseudonymize alike)';

-- The key this database's pseudonyms, holds and keyed references were made
-- with, by fingerprint.  Recorded by the first keyed work in the database
-- and carried by pg_dump: keyed work under another key (a restore onto a
-- server with another key file, a wrong file after a reload) fails closed
-- with 55000 until the DBA declares the change with accept_key_change().
CREATE TABLE privacy.key_state (
  singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  fingerprint text NOT NULL CHECK (fingerprint ~ '^pgp1:[0-9a-f]{16}$'),
  recorded_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE privacy.key_state IS
  'pg_privacy: fingerprint of the master key this database''s keyed data was made with';
SELECT pg_catalog.pg_extension_config_dump('privacy.key_state', '');

-- Fail unless the loaded key is the database's key (records it on first
-- use).  Internal: for paths that compare stored keyed values in SQL.
CREATE FUNCTION privacy._check_key() RETURNS void
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_database_key_check';

-- Declare a deliberate key change: the database now belongs to the loaded
-- key.  The caller names the fingerprint being replaced, so a mistyped or
-- stale call cannot move a database to a wrong key.  Existing pseudonyms
-- are not converted: lookups of rows written under the old key no longer
-- match, which is why the change is explicit and audited.
CREATE FUNCTION privacy.accept_key_change(old_fingerprint text) RETURNS text
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  stored text;
  loaded text := privacy.key_fingerprint();
BEGIN
  IF old_fingerprint IS NULL THEN
    RAISE EXCEPTION 'old fingerprint must not be null' USING ERRCODE = '22004';
  END IF;
  SELECT s.fingerprint INTO stored FROM privacy.key_state s FOR UPDATE;
  IF stored IS NULL THEN
    RAISE EXCEPTION 'this database has no recorded key'
      USING ERRCODE = '55000',
            HINT = 'The first keyed work records the loaded key; there is nothing to change.';
  END IF;
  IF stored OPERATOR(pg_catalog.<>) old_fingerprint THEN
    RAISE EXCEPTION 'fingerprint % is not the database''s key', old_fingerprint
      USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('The database''s key has fingerprint %s.', stored);
  END IF;
  IF stored OPERATOR(pg_catalog.=) loaded THEN
    RAISE EXCEPTION 'the loaded key is already the database''s key' USING ERRCODE = '55000';
  END IF;
  UPDATE privacy.key_state SET fingerprint = loaded, recorded_at = pg_catalog.now();
  PERFORM privacy._invalidate('privacy.key_state'::regclass);
  PERFORM privacy._audit('key.change', NULL,
                         pg_catalog.jsonb_build_object('from', stored, 'to', loaded));
  RETURN loaded;
END
$$;
COMMENT ON FUNCTION privacy.accept_key_change(text) IS
  'declare that the loaded master key replaces the database''s key of the given fingerprint (existing pseudonyms are not converted)';
