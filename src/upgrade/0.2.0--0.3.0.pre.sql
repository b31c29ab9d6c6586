-- The hand-written part of the update from 0.2.0 to 0.3.0 that runs before
-- the generated functions, after the generated moves (new schemas first,
-- then every privacy._name moved to privacy_internal with ALTER ... SET
-- SCHEMA, keeping its OID): changes to existing tables and types, written
-- with the names after the moves.

-- Renamed columns are followed in one place for every catalog table that
-- names a column (privacy_internal._on_ddl_end): retention's own event
-- trigger goes before the update drops its function.
DROP EVENT TRIGGER pg_privacy_retention_ddl_end;
