-- Keys.  The master key is read by the C library from the file named by
-- pg_privacy.key_file; nothing here stores, takes or returns key material.

CREATE FUNCTION privacy.key_fingerprint() RETURNS text
  LANGUAGE c VOLATILE STRICT PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_key_fingerprint';
COMMENT ON FUNCTION privacy.key_fingerprint() IS
  'identifies the loaded master key without revealing it (equal fingerprints pseudonymize alike)';

-- The keys pg_privacy.key_file lists, in order (position 1: the current
-- key, then older keys kept to check what was made under them): each
-- one's fingerprint, or the problem of its file.  Never a path, never key
-- material.
CREATE FUNCTION privacy_internal._key_list()
  RETURNS TABLE(listed_at integer, fingerprint text, problem text)
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_key_list';
COMMENT ON FUNCTION privacy_internal._key_list() IS
  'internal: the keys pg_privacy.key_file lists (current first): fingerprint, or the problem of the file';

CREATE FUNCTION privacy_internal._key_listed(fingerprint text) RETURNS boolean
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_key_listed';
COMMENT ON FUNCTION privacy_internal._key_listed(text) IS
  'internal: whether pg_privacy.key_file lists a key of that fingerprint';

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

-- Declare a deliberate key change: the database now belongs to the loaded
-- key.  The caller names the fingerprint being replaced, so a mistyped or
-- stale call cannot move a database to a wrong key.  Existing pseudonyms
-- are not converted by the change: HMAC pseudonyms cannot be (they are
-- one-way), and lookups of rows written under the old key no longer match
-- them, which is why the change is explicit and audited; the
-- phone-number pseudonyms of msisdn_fpe columns are converted afterwards
-- by privacy.rekey(), and until then the lookups that would meet them
-- refuse (src/sql/36_rekey.sql).
CREATE FUNCTION privacy.accept_key_change(old_fingerprint text, holds text DEFAULT 'refuse') RETURNS text
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  stored text;
  loaded text := privacy.key_fingerprint();
  held_n bigint;
  held_kinds text;
  ledger text;
  pending bigint;
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
  -- The relations whose phone-number pseudonyms stay under the replaced
  -- key until privacy.rekey() converts them (src/sql/36_rekey.sql).
  pending := privacy_internal._rekey_mark(stored, loaded);
  -- A legal hold finds the rows that hold its identifier in a protected
  -- column by transforming the identifier under the current key: rows
  -- written under the replaced key would no longer be recognized, and the
  -- purge or an erasure would remove what the hold must keep.  Refuse
  -- while such a hold is active.
  SELECT pg_catalog.count(*), pg_catalog.string_agg(DISTINCT h.kind, ', ')
    INTO held_n, held_kinds
    FROM privacy.legal_hold h
   WHERE h.released_at IS NULL
     AND (h.until IS NULL OR h.until OPERATOR(pg_catalog.>) pg_catalog.now())
     AND EXISTS (SELECT FROM privacy.registered_column c
                  WHERE c.identifies OPERATOR(pg_catalog.=) h.kind
                    AND c.protect IN ('pseudonym', 'msisdn_fpe', 'email_pseudonym'));
  IF holds IS NULL OR holds NOT IN ('refuse', 'release') THEN
    RAISE EXCEPTION 'invalid holds option "%"', holds
      USING ERRCODE = '22023', HINT = 'Use ''refuse'' (the default) or ''release''.';
  END IF;
  IF held_n OPERATOR(pg_catalog.>) 0 AND holds OPERATOR(pg_catalog.=) 'refuse' THEN
    RAISE EXCEPTION 'cannot accept a new key while legal holds cover protected columns'
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('%s active hold(s) on %s identifiers; rows protected under the key %s would no longer be recognized as held.',
                                       held_n, held_kinds, stored),
            HINT = 'Install the key file of the database''s key again; or secure the rows the holds keep and call accept_key_change(..., holds => ''release''), which releases them with the key change.';
  END IF;
  IF held_n OPERATOR(pg_catalog.>) 0 THEN
    -- released with the key change, explicitly: recorded in its audit entry
    UPDATE privacy.legal_hold h SET released_at = pg_catalog.now(), released_by = privacy_internal._invoker()
     WHERE h.released_at IS NULL
       AND (h.until IS NULL OR h.until OPERATOR(pg_catalog.>) pg_catalog.now())
       AND EXISTS (SELECT FROM privacy.registered_column c
                    WHERE c.identifies OPERATOR(pg_catalog.=) h.kind
                      AND c.protect IN ('pseudonym', 'msisdn_fpe', 'email_pseudonym'));
  END IF;
  UPDATE privacy.key_state SET fingerprint = loaded, recorded_at = pg_catalog.now();
  -- With an erasure ledger: the change is a line of the database's chain,
  -- made under the replaced key; without that key, a new chain
  -- (src/sql/75_subject_ledger.sql).
  ledger := privacy_internal._ledger_record_key_change(stored, loaded);
  -- The audit entries and erasure ledger lines made under the replaced key
  -- are checked with it: kept listed after the new one, they stay
  -- verifiable (privacy.key_versions).
  IF NOT privacy_internal._key_listed(stored) THEN
    RAISE WARNING 'the replaced key % is not listed in pg_privacy.key_file', stored
      USING DETAIL = 'The audit entries and erasure ledger lines made under it cannot be verified while it is not.'
                     || CASE WHEN ledger OPERATOR(pg_catalog.=) 'forked'
                             THEN ' This database''s erasures go on in a new chain of the erasure ledger.' ELSE '' END,
            HINT = pg_catalog.format('List its file after the new key''s in pg_privacy.key_file (see privacy.key_versions), or keep the key file of fingerprint %s where it can be listed again.', stored);
  END IF;
  PERFORM privacy_internal._invalidate('privacy.key_state'::regclass);
  -- The rules the shards of protected Citus tables carry are signed
  -- under the key (src/protect.c): signed again under the new one.
  PERFORM privacy_internal._protect_citus_resign(NULL);
  PERFORM privacy_internal._audit('key.change', NULL,
                         pg_catalog.jsonb_build_object('from', stored, 'to', loaded,
                                                       'holds_released', held_n, 'erasure_ledger', ledger,
                                                       'rekey_pending', pending));
  IF pending OPERATOR(pg_catalog.>) 0 THEN
    RAISE NOTICE '% relation(s) hold phone-number pseudonyms under the replaced key', pending
      USING DETAIL = 'Until privacy.rekey() converts them, rows written there are pseudonymized under the replaced key; export, erasure and restriction find their rows under either key, and privacy.reidentify_msisdn() needs the key of the row (privacy.row_key()).',
            HINT = 'Run CALL privacy.rekey() now (privacy.rekey_progress shows what is left); keep the replaced key listed in pg_privacy.key_file until it is done.';
  END IF;
  RETURN loaded;
END
$$;
COMMENT ON FUNCTION privacy.accept_key_change(text, text) IS
  'declare that the loaded master key replaces the database''s key of the given fingerprint (phone-number pseudonyms are then converted by privacy.rekey(), other pseudonyms are not; refused while legal holds cover protected columns unless holds => ''release'')';
