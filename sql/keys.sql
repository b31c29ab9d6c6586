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

-- The setting lists the current key's file, then the files of older keys
-- kept to check what was made under them.  Anything but absolute paths,
-- each once, at most eight, is refused when written.
ALTER SYSTEM SET pg_privacy.key_file = 'relative.key';
ALTER SYSTEM SET pg_privacy.key_file = '/etc/pg_privacy/a.key, relative.key';
ALTER SYSTEM SET pg_privacy.key_file = '/etc/pg_privacy/a.key, ';
ALTER SYSTEM SET pg_privacy.key_file = '/etc/pg_privacy/a.key,/etc/pg_privacy/a.key';
ALTER SYSTEM SET pg_privacy.key_file = '/k1,/k2,/k3,/k4,/k5,/k6,/k7,/k8,/k9';

-- The keys it lists: here one, the current key, and no problem.
SELECT listed_at, fingerprint = privacy.key_fingerprint() AS current_key, problem FROM privacy_internal._key_list();
SELECT privacy_internal._key_listed(privacy.key_fingerprint()) AS listed,
       privacy_internal._key_listed('pgp1:0000000000000000') AS other_listed;
-- A reference under the listed key of a fingerprint: under the current
-- key it is the reference; under a key not listed it is refused.
SELECT privacy_internal._audit_ref_under(privacy.key_fingerprint(), 'msisdn', '+4520000000')
       = privacy_internal._audit_ref('msisdn', '+4520000000') AS same_reference;
SELECT privacy_internal._audit_ref_under('pgp1:0000000000000000', 'msisdn', '+4520000000');
SELECT privacy_internal._audit_ref_under(privacy.key_fingerprint(), '', '+4520000000');
-- Under every listed key that can be used: here the one, the reference.
SELECT privacy_internal._audit_refs('msisdn', '+4520000000')
       = ARRAY[privacy_internal._audit_ref('msisdn', '+4520000000')] AS every_listed_key;
SELECT privacy_internal._audit_refs('', '+4520000000');
SELECT privacy_internal._audit_refs('msisdn', NULL) IS NULL AS strict;
-- The database's keys: one, current, listed first, needed.
SELECT privacy.key_fingerprint() AS fp \gset
SELECT version, current, listed_at, needed, problem, fingerprint = :'fp' AS the_loaded_key
  FROM privacy.key_versions;

CREATE ROLE regress_keys_user;
SET ROLE regress_keys_user;
-- Hidden from non-superusers ...
SELECT count(*) AS visible FROM pg_settings WHERE name = 'pg_privacy.key_file';
SHOW pg_privacy.key_file;
-- ... and the fingerprint is not for PUBLIC, nor the keys' view.
SELECT privacy.key_fingerprint();
SELECT count(*) FROM privacy.key_versions;
RESET ROLE;
DROP ROLE regress_keys_user;
