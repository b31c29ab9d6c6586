-- The declaration tables' triggers fire also under session_replication_role
-- = replica and in logical replication's apply (src/sql/20_catalog.sql).
ALTER TABLE privacy.identifier_kind ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;
ALTER TABLE privacy.legal_basis ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;
ALTER TABLE privacy.purpose ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;
ALTER TABLE privacy.registered_table ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;
ALTER TABLE privacy.registered_column ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;
ALTER TABLE privacy.consent_requirement ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;
ALTER TABLE privacy.retention_policy ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;
ALTER TABLE privacy.subject_table ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;
-- So do the domain grants' trigger (a revoke reaches open sessions) and
-- the triggers that number a declared column on this server.
ALTER TABLE privacy.domain_grant ENABLE ALWAYS TRIGGER domain_grant_changed;
ALTER TABLE privacy.registered_column ENABLE ALWAYS TRIGGER registered_column_attnum;
ALTER TABLE privacy.retention_policy ENABLE ALWAYS TRIGGER retention_policy_attnum;
