-- The hand-written part of the update from 0.2.0 to 0.3.0 that runs after
-- the generated functions, views and comments.

-- The query of a published view is stored as text (privacy.published.body)
-- and run by the view's row function: the helpers it names
-- (_extract_msisdn, _extract_country) moved to privacy_internal.
UPDATE privacy.published
   SET body = pg_catalog.regexp_replace(body, '(^|[^[:alnum:]_."])privacy\._', '\1privacy_internal._', 'g')
 WHERE body OPERATOR(pg_catalog.~) 'privacy\._';

-- Event triggers whose commands changed in 0.3.0 (an event trigger's tags
-- cannot be altered): renames are followed after ALTER VIEW and ALTER
-- MATERIALIZED VIEW too, and the enforcement checks run after CREATE TABLE
-- (a child by inheritance of a protected table, a partition of a subject
-- table that needs the restriction check).
DROP EVENT TRIGGER pg_privacy_ddl_end;
CREATE EVENT TRIGGER pg_privacy_ddl_end ON ddl_command_end
  WHEN TAG IN ('ALTER TABLE', 'ALTER FOREIGN TABLE', 'ALTER VIEW', 'ALTER MATERIALIZED VIEW')
  EXECUTE FUNCTION privacy_internal._on_ddl_end();
DROP EVENT TRIGGER pg_privacy_protect_ddl_end;
CREATE EVENT TRIGGER pg_privacy_protect_ddl_end ON ddl_command_end
  WHEN TAG IN ('ALTER TABLE', 'ALTER FOREIGN TABLE', 'CREATE TABLE', 'CREATE TRIGGER', 'ALTER TRIGGER')
  EXECUTE FUNCTION privacy_internal._protect_event_trigger();
-- DROP EXTENSION drops a trigger that depends on the extension: an
-- enforcement trigger so dropped is refused as DROP TRIGGER is.
DROP EVENT TRIGGER pg_privacy_protect_sql_drop;
CREATE EVENT TRIGGER pg_privacy_protect_sql_drop ON sql_drop
  WHEN TAG IN ('DROP TRIGGER', 'ALTER TABLE', 'DROP EXTENSION')
  EXECUTE FUNCTION privacy_internal._protect_event_trigger();
