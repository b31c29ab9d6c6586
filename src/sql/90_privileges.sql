-- Privileges: every grant and revoke of pg_privacy, in one place.
-- Nothing is usable by PUBLIC unless granted here; the README and each
-- page of doc/ show the grants a DBA gives to which role.

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA privacy FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA privacy_internal FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA privacy FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA privacy_internal FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA privacy FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA privacy_internal FROM PUBLIC;
-- Procedures are not functions to REVOKE ... ON ALL FUNCTIONS.
REVOKE ALL ON PROCEDURE privacy.run_purge(integer, integer, integer) FROM PUBLIC;
-- The key rotation is the DBA's (it calls _rekey_todo and _rekey_rel).
REVOKE ALL ON PROCEDURE privacy.rekey(integer, integer, regclass, integer) FROM PUBLIC;
-- Said again for the one function whose report (table names, request ids,
-- the key's fingerprint) is for the DBA and the monitoring the DBA
-- chooses; it runs as the extension owner and only reads, so a monitoring
-- role needs nothing else:
--   GRANT USAGE ON SCHEMA privacy TO monitoring;
--   GRANT EXECUTE ON FUNCTION privacy.health() TO monitoring;
REVOKE ALL ON FUNCTION privacy.health() FROM PUBLIC;

------------------------------------------------------------------------
-- The schemas
------------------------------------------------------------------------

-- Everyone may look up names in the API schema; what each function or
-- relation allows is granted one by one below.
GRANT USAGE ON SCHEMA privacy TO PUBLIC;

-- Only the extension owner creates objects in the internal schema (no
-- CREATE is granted), so nobody can plant a look-alike helper there.
-- Every role may look names up in it (USAGE), because some statements
-- name a helper while running as a role that is not the extension owner;
-- what each helper allows is still its own EXECUTE grant:
--   * statements pg_privacy generates and runs as a table's owner (the
--     subject statements) call _subject_ids, _subject_ids_span and
--     _row_key by name;
--   * the views protected_tables and catalog_problems, read by anyone
--     granted them, call the enforcement checks by name;
--   * run_purge, a procedure running as its caller, calls its steps
--     _purge_begin/_purge_batch/_purge_end by name (a DBA grants them);
--   * expression indexes made under 0.2.0 name _subject_key.
GRANT USAGE ON SCHEMA privacy_internal TO PUBLIC;

------------------------------------------------------------------------
-- The API functions safe for everyone: no key involved
------------------------------------------------------------------------

GRANT EXECUTE ON FUNCTION privacy.normalize_msisdn(text, text) TO PUBLIC;
-- The lookup value of identifiers: pure, keyless, IMMUTABLE; users index
-- it, and the table owners that consent, holds, export and erasure act as
-- evaluate it (as does every writer of a table indexed by it).
GRANT EXECUTE ON FUNCTION privacy.lookup_value(text, text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.mask_msisdn(text, integer) TO PUBLIC;
-- The masks of the categories (65_mask.sql): keyless display masks.
GRANT EXECUTE ON FUNCTION privacy.mask_name(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.mask_email(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.mask_address(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.mask_account(text, integer) TO PUBLIC;
-- The keyed masks of identifiers run in the statements of masked roles,
-- as those roles; each refuses (42501) wherever the planner did not put
-- it as a column's mask, so whoever calls it by name gets nothing.
GRANT EXECUTE ON FUNCTION privacy_internal._mask_pseudonym(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy_internal._mask_pseudonym(bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy_internal._mask_pseudonym(integer) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy_internal._mask_pseudonym(smallint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.country_of(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.generalize(timestamptz, text) TO PUBLIC;
-- Measuring k-anonymity reads only what the caller may read.
GRANT EXECUTE ON FUNCTION privacy.k_anonymity(regclass, name[], integer) TO PUBLIC;

-- Not granted to PUBLIC, each for its reason:
--   * the keyed functions (pseudonymize*, key_fingerprint): whoever can
--     call them can test guesses against pseudonyms; reidentify_msisdn
--     (and row_key, which names the key to re-identify a row's number
--     under during a key rotation) stays with the extension owner unless
--     granted;
--   * the consent register: has_consent reveals whether a person
--     consented, grant_consent/withdraw_consent write the proof,
--     consent_history and consent_receipt disclose it,
--     require_consent/unrequire_consent change enforcement, e.g.
--       GRANT EXECUTE ON FUNCTION privacy.has_consent(text, text, text, timestamptz) TO app;
--       GRANT EXECUTE ON FUNCTION privacy.grant_consent(text, text, text, text, text, timestamptz),
--                                 privacy.withdraw_consent(text, text, text, text, timestamptz) TO app;
--   * retention: policies and holds (set_retention, drop_retention, hold,
--     release_hold), purging (purge; for run_purge also its steps
--     _purge_begin, _purge_batch, _purge_end), scheduling (schedule_purge,
--     unschedule_purge);
--   * analytics builders (create_safe_aggregate,
--     create_pseudonymized_extract, unpublish): they check the caller's
--     rights themselves; their internal steps are granted to no one, so
--     nothing outside a builder can record a published view;
--   * data-subject rights: export, erasure, restriction and requests.
-- The protect, consent and restriction triggers need no grant: they fire
-- for every writer and read the catalog as its owner.

------------------------------------------------------------------------
-- Internal helpers PUBLIC may execute: no key, no data, called in the
-- context of another role (sql/trust.sql checks this list)
------------------------------------------------------------------------

-- The protect trigger's function: PostgreSQL checks EXECUTE on it when it
-- clones the trigger to a partition a table owner creates or attaches.  It
-- only runs as a BEFORE row trigger and only applies the catalog's
-- declarations, under the table owner's domain grants.
GRANT EXECUTE ON FUNCTION privacy_internal._protect_trigger() TO PUBLIC;
-- The consent check's function, for the same reason: without it the owner
-- of a table that requires consent could create or attach no partition
-- ("permission denied for function").  It only runs as a BEFORE row
-- trigger and only applies the table's consent requirements.
GRANT EXECUTE ON FUNCTION privacy_internal._consent_trigger() TO PUBLIC;
-- Whether a table's protection, consent check and restriction check are in
-- force, and whether Citus made a table a shard: read from the catalogs
-- only, for the views protected_tables, consent_requirements and
-- catalog_problems and whoever reads them.
GRANT EXECUTE ON FUNCTION privacy_internal._is_protected(regclass), privacy_internal._has_protect_trigger(regclass),
                          privacy_internal._protection_problem(regclass),
                          privacy_internal._trigger_problem(regclass, name, regprocedure, integer, name[]),
                          privacy_internal._consent_problem(regclass), privacy_internal._restrict_problem(regclass),
                          privacy_internal._enforcement_problems(regclass, boolean, boolean, boolean),
                          privacy_internal._citus_shard_named(regclass) TO PUBLIC;
-- Keyless and immutable, called in the rows of an extract, which are
-- computed with the publisher's rights.
GRANT EXECUTE ON FUNCTION privacy_internal._extract_msisdn(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy_internal._extract_country(text) TO PUBLIC;
-- lookup_value under its 0.2.0 name: expression indexes made then name it,
-- and every role writing such a table evaluates it.
GRANT EXECUTE ON FUNCTION privacy_internal._subject_key(text, text, text) TO PUBLIC;
-- The identifiers of a generated statement's parameter as rows: pure (no
-- key, no data), executed by the table owners the statements run as.
GRANT EXECUTE ON FUNCTION privacy_internal._subject_ids(jsonb, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy_internal._subject_ids_span(jsonb, text, boolean) TO PUBLIC;
-- The key a row's pseudonyms are under during a key rotation, called by
-- the same statements; it answers only a role that may read the relation.
GRANT EXECUTE ON FUNCTION privacy_internal._row_key(oid, record) TO PUBLIC;
