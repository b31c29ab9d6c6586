-- Privileges of privacy.health().  90_privileges.sql revoked it from
-- PUBLIC with everything else; said again here, because what it reports
-- (table names, request ids, the key's fingerprint) is for the DBA and
-- the monitoring the DBA chooses.  It runs as the extension owner (an API
-- entry point) and only reads, so a monitoring role needs no other grant:
--   GRANT USAGE ON SCHEMA privacy TO monitoring;
--   GRANT EXECUTE ON FUNCTION privacy.health() TO monitoring;
REVOKE ALL ON FUNCTION privacy.health() FROM PUBLIC;
