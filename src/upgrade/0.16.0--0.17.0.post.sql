-- The changed view rekey_progress is generated.  The protect trigger's
-- DDL checks also run after CREATE SCHEMA, whose schema elements (tables,
-- triggers) fire no event trigger of their own.
DROP EVENT TRIGGER pg_privacy_protect_ddl_end;
CREATE EVENT TRIGGER pg_privacy_protect_ddl_end ON ddl_command_end
  WHEN TAG IN ('ALTER TABLE', 'ALTER FOREIGN TABLE', 'CREATE TABLE', 'CREATE TRIGGER', 'ALTER TRIGGER', 'CREATE SCHEMA')
  EXECUTE FUNCTION privacy_internal._protect_event_trigger();
