-- The hand-written part of the update from 0.3.0 to 0.4.0 that runs after
-- the generated functions.

-- Every backend forgets the statements it built from the catalog with the
-- 0.3.0 builders (their rows queries return one jsonb, 0.4.0's three
-- columns): an invalidation of the catalog's tables empties the per-backend
-- cache of each session at its next statement.
SELECT privacy_internal._invalidate(t.tbl) FROM privacy.registered_table t;
SELECT privacy_internal._invalidate('privacy.registered_table'::pg_catalog.regclass);
