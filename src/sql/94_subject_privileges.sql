-- Data-subject rights: privileges.  90_privileges.sql revoked everything
-- from PUBLIC; export, erasure, restriction and requests stay with the
-- extension owner and the roles a DBA grants them to (see README).

-- The lenient normal form has no key and backs expression indexes on
-- identifier columns, which every role writing such a table evaluates.
GRANT EXECUTE ON FUNCTION privacy._subject_key(text, text, text) TO PUBLIC;

-- The identifiers of a generated statement's parameter as rows: pure (no
-- key, no data), executed by the table owners the statements run as.
GRANT EXECUTE ON FUNCTION privacy._subject_ids(jsonb, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy._subject_ids_span(jsonb, text, boolean) TO PUBLIC;
