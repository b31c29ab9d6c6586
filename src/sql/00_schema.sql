-- pg_privacy install script, assembled by the Makefile from src/sql/*.sql
-- in file-name order.  This part: the schema and internal helpers.

\echo Use "CREATE EXTENSION pg_privacy" to load this file. \quit

COMMENT ON SCHEMA privacy IS
  'pg_privacy: personal-data catalog, keyed pseudonymization, retention, consent and data-subject rights';

-- Internal helpers live in a schema of their own, so that the API schema
-- holds exactly the API.  Only the extension owner creates objects in it.
CREATE SCHEMA privacy_internal;
COMMENT ON SCHEMA privacy_internal IS
  'pg_privacy: internal helpers, not part of the API; executable by no role but the extension owner unless granted in 90_privileges.sql';

-- The role on whose behalf a statement runs, even inside SECURITY DEFINER
-- functions (the role set by SET ROLE, else the session user).
CREATE FUNCTION privacy_internal._invoker() RETURNS name
  LANGUAGE c STABLE STRICT PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_invoker';
COMMENT ON FUNCTION privacy_internal._invoker() IS
  'internal: the role on whose behalf the current statement runs';

-- Raise an error unless the invoking role owns (is a member of the owner
-- of) the relation.  Catalog functions run as the extension owner, so they
-- check the caller's right to act on a table themselves.
CREATE FUNCTION privacy_internal._check_owner(tbl regclass) RETURNS void
  LANGUAGE plpgsql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  owner oid;
BEGIN
  SELECT c.relowner INTO owner FROM pg_catalog.pg_class c
   WHERE c.oid OPERATOR(pg_catalog.=) tbl;
  IF NOT pg_catalog.pg_has_role(privacy_internal._invoker(), owner, 'MEMBER') THEN
    RAISE EXCEPTION 'must be owner of table %', tbl
      USING ERRCODE = '42501';
  END IF;
END
$$;

-- Citus (src/citus.c): the functions whose guarantees do not hold on tables
-- Citus manages yet refuse there (0A000), and audited functions refuse to
-- run on a worker.  protect() works there (src/protect.c, signed rules),
-- and so do the purge, export and erasure (statements Citus plans).
CREATE FUNCTION privacy_internal._citus_refuse(tbl regclass, what text) RETURNS void
  LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'pgp_citus_refuse_sql';
COMMENT ON FUNCTION privacy_internal._citus_refuse(regclass, text) IS
  'internal: refuses (0A000) when Citus manages the table';
CREATE FUNCTION privacy_internal._citus_table(tbl regclass) RETURNS boolean
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_citus_table_sql';
COMMENT ON FUNCTION privacy_internal._citus_table(regclass) IS
  'internal: does Citus distribute, replicate or manage the table';
CREATE FUNCTION privacy_internal._citus_refuse_worker(what text) RETURNS void
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_citus_refuse_worker';
COMMENT ON FUNCTION privacy_internal._citus_refuse_worker(text) IS
  'internal: refuses (0A000) on a Citus worker';
CREATE FUNCTION privacy_internal._citus_shard_named(rel regclass) RETURNS regclass
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_citus_shard_named_sql';
COMMENT ON FUNCTION privacy_internal._citus_shard_named(regclass) IS
  'internal: the table Citus names the relation a shard of (placed on this node or not yet), or NULL';
CREATE FUNCTION privacy_internal._citus_refuse_unready(what text) RETURNS void
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_citus_refuse_unready_sql';
COMMENT ON FUNCTION privacy_internal._citus_refuse_unready(text) IS
  'internal: refuses while export and erasure cannot run on the tables Citus manages (src/citus.c)';
CREATE FUNCTION privacy_internal._citus_worker() RETURNS boolean
  LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'pgp_citus_worker_sql';
COMMENT ON FUNCTION privacy_internal._citus_worker() IS
  'internal: is this node a Citus worker';
CREATE FUNCTION privacy_internal._citus_dist_column(tbl regclass) RETURNS text
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_citus_dist_column';
COMMENT ON FUNCTION privacy_internal._citus_dist_column(regclass) IS
  'internal: the distribution column of a table Citus manages (NULL for a reference or local table)';

-- The trigger of the declaration tables: every backend forgets
-- what it derived from them when a change commits, however it was written
-- (src/protect.c).
CREATE FUNCTION privacy_internal._catalog_changed() RETURNS trigger
  LANGUAGE c
  AS 'MODULE_PATHNAME', 'pgp_catalog_changed';
COMMENT ON FUNCTION privacy_internal._catalog_changed() IS
  'internal: a declaration table changed; drops the sessions'' derived statements and descriptions';

-- Make every backend drop its cached protect-trigger state of a table (and
-- its partitions) at commit; called when a declaration changes.
CREATE FUNCTION privacy_internal._invalidate(tbl regclass) RETURNS void
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_invalidate';
