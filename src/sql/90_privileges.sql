-- Privileges.  Nothing in the schema is usable by PUBLIC unless granted
-- here; the README lists the grants a DBA gives to which role.

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA privacy FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA privacy FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA privacy FROM PUBLIC;
