-- The rows a table held before protect(..., batched => true) are pending
-- from 'raw' in privacy.rekey_pending until privacy.rekey() converts them.
ALTER TABLE privacy.rekey_pending
  DROP CONSTRAINT rekey_pending_from_key_check,
  ADD CONSTRAINT rekey_pending_from_key_check CHECK (from_key ~ '^pgp1:[0-9a-f]{16}$' OR from_key = 'raw');
