-- The key rotation of phone-number pseudonyms (src/sql/36_rekey.sql): the
-- relations still under an older key, and the log of what was converted.
CREATE TABLE privacy.rekey_pending (
  rel      regclass    PRIMARY KEY,
  tbl      regclass    NOT NULL,
  from_key text        NOT NULL CHECK (from_key ~ '^pgp1:[0-9a-f]{16}$'),
  since    timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE privacy.rekey_pending IS
  'pg_privacy: relations whose phone-number pseudonyms (msisdn_fpe) are under an older key until privacy.rekey() converts them';
SELECT pg_catalog.pg_extension_config_dump('privacy.rekey_pending', '');

-- Every write of it reaches every session (the lookups remember that
-- nothing is pending until it changes: src/protect.c), also by hand and in
-- logical replication's apply.
CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE ON privacy.rekey_pending
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._catalog_changed();
CREATE TRIGGER catalog_truncated AFTER TRUNCATE ON privacy.rekey_pending
  FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._catalog_changed();
ALTER TABLE privacy.rekey_pending ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;

CREATE SEQUENCE privacy.rekey_log_id_seq;
CREATE TABLE privacy.rekey_log (
  id          bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('privacy.rekey_log_id_seq'),
  rel         text        NOT NULL,
  tbl         text        NOT NULL,
  from_key    text        NOT NULL,
  to_key      text        NOT NULL,
  rows        bigint      NOT NULL,
  started_at  timestamptz NOT NULL,
  finished_at timestamptz NOT NULL
);
COMMENT ON TABLE privacy.rekey_log IS
  'pg_privacy: relations privacy.rekey() converted, with their row counts and times';
SELECT pg_catalog.pg_extension_config_dump('privacy.rekey_log', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.rekey_log_id_seq', '');
