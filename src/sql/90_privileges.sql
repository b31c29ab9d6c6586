-- Privileges.  Nothing in the schema is usable by PUBLIC unless granted
-- here; the README lists the grants a DBA gives to which role.

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA privacy FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA privacy_internal FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA privacy FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA privacy_internal FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA privacy FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA privacy_internal FROM PUBLIC;

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
GRANT EXECUTE ON FUNCTION privacy_internal._protect_trigger() TO PUBLIC;
-- Whether a table's protection, consent check and restriction check are in
-- force: read from pg_catalog only, for
-- the views protected_tables and catalog_problems and whoever reads them.
GRANT EXECUTE ON FUNCTION privacy_internal._is_protected(regclass), privacy_internal._has_protect_trigger(regclass),
                          privacy_internal._protection_problem(regclass),
                          privacy_internal._trigger_problem(regclass, name, regprocedure, integer, name[]),
                          privacy_internal._consent_problem(regclass), privacy_internal._restrict_problem(regclass),
                          privacy_internal._enforcement_problems(regclass, boolean, boolean, boolean) TO PUBLIC;

-- ------------------------------------------------------------------------
-- (was 91_analytics_privileges.sql)
-- Analytics.  The builders (create_safe_aggregate,
-- create_pseudonymized_extract, unpublish) are API entry points granted by
-- the DBA (see doc/analytics.md); they check the caller's rights
-- themselves, and the entry-point hook refuses them inside a
-- security-restricted operation.  Their internal steps
-- (_analyze_grouped_query, _grouped_query_def, _publish, ...) are granted
-- to no one: nothing outside a builder
-- can record a published view or compute a view's rows.
--
-- Measuring k-anonymity reads only what the caller may read.
GRANT EXECUTE ON FUNCTION privacy.k_anonymity(regclass, name[], integer) TO PUBLIC;
-- Keyless and immutable, called in the rows of an extract, which are
-- computed with the publisher's rights.
GRANT EXECUTE ON FUNCTION privacy_internal._extract_msisdn(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy_internal._extract_country(text) TO PUBLIC;

-- ------------------------------------------------------------------------
-- (was 92_consent_privileges.sql)
-- Consent privileges.  90_privileges.sql revoked everything from PUBLIC;
-- this part grants back only what is safe for everyone.
--
-- Nothing of the consent register is granted to PUBLIC: has_consent
-- reveals whether a person consented, grant_consent/withdraw_consent
-- write the proof, consent_history and consent_receipt disclose it, and
-- require_consent/unrequire_consent change enforcement (they also check
-- that the caller owns the table).  A DBA grants them to the roles that
-- need them, for example:
--
--   GRANT EXECUTE ON FUNCTION privacy.has_consent(text, text, text, timestamptz) TO app;
--   GRANT EXECUTE ON FUNCTION privacy.grant_consent(text, text, text, text, text, timestamptz),
--                             privacy.withdraw_consent(text, text, text, text, timestamptz) TO app;
--   GRANT EXECUTE ON FUNCTION privacy.consent_history(text, text),
--                             privacy.consent_receipt(text, text, jsonb) TO privacy_officer;
--
-- The require_consent trigger needs no grant: it fires for every writer.
-- privacy_internal._consent_forget_identity stays with the extension owner (the
-- erasure path).

-- The withdrawal cascade deletes as each table's owner and matches typed
-- identifiers with privacy.lookup_value (90_privileges.sql grants it).

-- ------------------------------------------------------------------------
-- (was 93_retention_privileges.sql)
-- Privileges of retention.  90_privileges.sql revoked every function,
-- table and sequence of the schema from PUBLIC; procedures are not
-- functions there, so run_purge is revoked here.  Nothing of retention is
-- granted to PUBLIC: a DBA grants (README, "Security model"):
--   policies and holds:  set_retention, drop_retention, hold, release_hold
--   purging:             purge, and for run_purge also its steps
--                        _purge_begin, _purge_batch, _purge_end
--   scheduling:          schedule_purge, unschedule_purge

REVOKE ALL ON PROCEDURE privacy.run_purge(integer, integer, integer) FROM PUBLIC;

-- ------------------------------------------------------------------------
-- (was 94_subject_privileges.sql)
-- Data-subject rights: privileges.  90_privileges.sql revoked everything
-- from PUBLIC; export, erasure, restriction and requests stay with the
-- extension owner and the roles a DBA grants them to (see README).

-- The lenient normal form has no key and backs expression indexes on
-- identifier columns, which every role writing such a table evaluates.
GRANT EXECUTE ON FUNCTION privacy_internal._subject_key(text, text, text) TO PUBLIC;

-- The identifiers of a generated statement's parameter as rows: pure (no
-- key, no data), executed by the table owners the statements run as.
GRANT EXECUTE ON FUNCTION privacy_internal._subject_ids(jsonb, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy_internal._subject_ids_span(jsonb, text, boolean) TO PUBLIC;

-- ------------------------------------------------------------------------
-- (was 95_health_privileges.sql)
-- Privileges of privacy.health().  90_privileges.sql revoked it from
-- PUBLIC with everything else; said again here, because what it reports
-- (table names, request ids, the key's fingerprint) is for the DBA and
-- the monitoring the DBA chooses.  It runs as the extension owner (an API
-- entry point) and only reads, so a monitoring role needs no other grant:
--   GRANT USAGE ON SCHEMA privacy TO monitoring;
--   GRANT EXECUTE ON FUNCTION privacy.health() TO monitoring;
REVOKE ALL ON FUNCTION privacy.health() FROM PUBLIC;

-- (from 00_schema.sql)
-- Everyone may look up names in the schema; what each function or relation
-- allows is granted one by one at the end of the script.
GRANT USAGE ON SCHEMA privacy TO PUBLIC;

-- ------------------------------------------------------------------------
-- The internal schema.  Only the extension owner creates objects in it
-- (no CREATE is granted), so nobody can plant a look-alike helper there.
-- Every role may look names up in it (USAGE), because some statements
-- name a helper while running as a role that is not the extension owner;
-- what each helper allows is still its own EXECUTE grant (all revoked
-- above, but for the few granted back with their reasons):
--   * statements pg_privacy generates and runs as a table's owner (the
--     subject statements) call _subject_ids and _subject_ids_span by name;
--   * the views protected_tables and catalog_problems, read by anyone,
--     find the protect trigger's function by name (_has_protect_trigger);
--   * run_purge, a procedure running as its caller, calls its steps
--     _purge_begin/_purge_batch/_purge_end by name (a DBA grants them);
--   * expression indexes made under 0.2.0 name _subject_key.
GRANT USAGE ON SCHEMA privacy_internal TO PUBLIC;
