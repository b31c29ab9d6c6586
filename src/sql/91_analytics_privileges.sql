-- Analytics: the builders run with their caller's rights and are granted
-- by the DBA (see README); the internal steps they take are safe for
-- anyone: parsing a query as the caller, splitting a name, reading the
-- declarations of a table the caller may read, and recording a view the
-- caller owns.
GRANT EXECUTE ON FUNCTION privacy._analyze_grouped_query(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy._qualified_name(text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy._extract_spec(regclass) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy._record_published(regclass, text, text, integer, boolean, text, text) TO PUBLIC;
-- Measuring k-anonymity reads only what the caller may read.
GRANT EXECUTE ON FUNCTION privacy.k_anonymity(regclass, name[], integer) TO PUBLIC;
