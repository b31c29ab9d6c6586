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
GRANT EXECUTE ON FUNCTION privacy._extract_msisdn(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy._extract_country(text) TO PUBLIC;
