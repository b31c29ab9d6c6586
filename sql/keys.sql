-- Keys: the fingerprint identifies the loaded key without revealing it;
-- the key file setting is superuser-only.
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_privacy;
RESET client_min_messages;

-- The value depends on the server's key: the exact one under the test key
-- is checked in test/keyed/ (make test).
SELECT privacy.key_fingerprint() = privacy.key_fingerprint() AS stable;
-- 'pgp1:' and 16 hex digits: 64 bits of a derived key, not the key.
SELECT privacy.key_fingerprint() ~ '^pgp1:[0-9a-f]{16}$' AS well_formed;

-- The setting exists and is reserved: misspellings are refused.
SELECT name, context FROM pg_settings WHERE name = 'pg_privacy.key_file';
SET pg_privacy.key_fil = 'x';
-- It cannot be changed in a session.
SET pg_privacy.key_file = '/tmp/other.key';

CREATE ROLE regress_keys_user;
SET ROLE regress_keys_user;
-- Hidden from non-superusers ...
SELECT count(*) AS visible FROM pg_settings WHERE name = 'pg_privacy.key_file';
SHOW pg_privacy.key_file;
-- ... and the fingerprint is not for PUBLIC.
SELECT privacy.key_fingerprint();
RESET ROLE;
DROP ROLE regress_keys_user;
