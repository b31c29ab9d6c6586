-- Privileges.  Nothing in the schema is usable by PUBLIC unless granted
-- here; the README lists the grants a DBA gives to which role.

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA privacy FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA privacy FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA privacy FROM PUBLIC;

-- Safe for everyone: no key involved.
GRANT EXECUTE ON FUNCTION privacy.normalize_msisdn(text, text) TO PUBLIC;
-- The lookup value of identifiers: pure, keyless, IMMUTABLE; users index it,
-- and the table owners that consent, holds, export and erasure act as
-- evaluate it (as does every writer of a table indexed by it).
GRANT EXECUTE ON FUNCTION privacy.lookup_value(text, text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.mask_msisdn(text, integer) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.country_of(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.generalize(timestamptz, text) TO PUBLIC;
-- Keyed functions (pseudonymize*, key_fingerprint) are not granted to
-- PUBLIC: whoever can call them can test guesses against pseudonyms.
-- reidentify_msisdn stays with the extension owner unless granted.
-- The protect trigger's function: PostgreSQL checks EXECUTE on it when it
-- clones the trigger to a partition a table owner creates or attaches.  It
-- only runs as a BEFORE row trigger and only applies the catalog's
-- declarations, under the table owner's domain grants.
GRANT EXECUTE ON FUNCTION privacy._protect_trigger() TO PUBLIC;
-- Whether a table's protection, consent check and restriction check are in
-- force: read from pg_catalog only, for
-- the views protected_tables and catalog_problems and whoever reads them.
GRANT EXECUTE ON FUNCTION privacy._is_protected(regclass), privacy._has_protect_trigger(regclass),
                          privacy._protection_problem(regclass),
                          privacy._trigger_problem(regclass, name, regprocedure, integer, name[]),
                          privacy._consent_problem(regclass), privacy._restrict_problem(regclass),
                          privacy._enforcement_problems(regclass, boolean, boolean, boolean) TO PUBLIC;
