-- Installing pg_privacy: schema, objects, and what PUBLIC may do.
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_privacy;
RESET client_min_messages;

SELECT extname, extversion, extrelocatable, n.nspname AS schema
  FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
 WHERE extname = 'pg_privacy';

-- The schema cannot be chosen: the extension is not relocatable.
CREATE SCHEMA regress_other;
ALTER EXTENSION pg_privacy SET SCHEMA regress_other;
DROP SCHEMA regress_other;

-- Every SECURITY DEFINER function pins its search_path.
SELECT p.oid::regprocedure AS definer_without_pinned_search_path
  FROM pg_proc p
 WHERE p.pronamespace IN ('privacy'::regnamespace, 'privacy_internal'::regnamespace) AND p.prosecdef
   AND NOT coalesce(p.proconfig @> ARRAY['search_path=pg_catalog, pg_temp'], false);

-- The event triggers, the purge and health plan their own catalog
-- queries, which are never JIT-compiled: a compilation (about 200 ms)
-- costs more than such a query, and under the server's default jit = on
-- every ALTER TABLE would pay one once the catalog is large (a Citus
-- worker's with its shards).
SELECT p.oid::regprocedure AS planned_with_jit
  FROM pg_proc p
 WHERE p.pronamespace IN ('privacy'::regnamespace, 'privacy_internal'::regnamespace)
   AND (p.prorettype = 'event_trigger'::regtype AND p.prolang <> (SELECT oid FROM pg_language WHERE lanname = 'c')
        OR p.oid IN ('privacy_internal._protect_on_ddl_end(boolean)'::regprocedure,
                     'privacy_internal._protect_on_sql_drop(boolean)'::regprocedure,
                     'privacy.purge(boolean, regclass, integer, integer)'::regprocedure,
                     'privacy_internal._purge_batch(regclass, bigint, integer, integer, integer)'::regprocedure,
                     'privacy.health()'::regprocedure))
   AND NOT coalesce(p.proconfig @> ARRAY['jit=off'], false);

-- What PUBLIC may execute: only functions that involve no key and change nothing.
SELECT p.oid::regprocedure AS public_function
  FROM pg_proc p
 WHERE p.pronamespace IN ('privacy'::regnamespace, 'privacy_internal'::regnamespace)
   AND has_function_privilege('public', p.oid, 'EXECUTE')
 ORDER BY 1;

-- PUBLIC has no privilege on any table, view or sequence of the schema.
SELECT c.oid::regclass AS public_relation
  FROM pg_class c
 WHERE c.relnamespace IN ('privacy'::regnamespace, 'privacy_internal'::regnamespace)
   AND c.relkind IN ('r', 'v', 'S', 'p')
   AND (has_table_privilege('public', c.oid, 'SELECT')
        OR has_table_privilege('public', c.oid, 'INSERT')
        OR has_table_privilege('public', c.oid, 'UPDATE')
        OR has_table_privilege('public', c.oid, 'DELETE'));

-- Every public function has a comment.
SELECT p.oid::regprocedure AS uncommented
  FROM pg_proc p
 WHERE p.pronamespace IN ('privacy'::regnamespace, 'privacy_internal'::regnamespace)
   AND p.proname !~ '^_'
   AND obj_description(p.oid, 'pg_proc') IS NULL;

-- Catalog tables and the audit log are dumped with the database.
SELECT unnest(extconfig)::regclass AS dumped FROM pg_extension
 WHERE extname = 'pg_privacy' ORDER BY 1;
