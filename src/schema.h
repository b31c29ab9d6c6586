/*-------------------------------------------------------------------------
 *
 * schema.h
 *	  pg_privacy's two schemas: where this database keeps its helpers (schema.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGP_SCHEMA_H
#define PGP_SCHEMA_H

#include "postgres.h"

extern const char *pgp_internal_sql(const char *sql);
extern Oid	pgp_internal_func(const char *name, int nargs, const Oid *argtypes);
extern bool pgp_internal_func_exists(const char *name, int nargs, const Oid *argtypes);

/*
 * Relcache invalidation callbacks of pg_privacy's modules, all behind the
 * one callback pg_privacy registers with PostgreSQL: a backend has room for
 * ten in all (MAX_RELCACHE_CALLBACKS), shared with core and every other
 * extension loaded (Citus takes several).
 */
#include "utils/inval.h"
extern void pgp_on_relcache(RelcacheCallbackFunction fn, Datum arg);

/*
 * Every row of a table, read directly in the latest snapshot (no SPI: the
 * callers run inside the planner's hooks): fn gets the values of the named
 * columns, valid until it returns, and returns false to stop.  Returns
 * false, reading nothing, when a named column is missing.
 */
#define PGP_SCAN_MAX_COLS 8
typedef bool (*PgpRowFn) (Datum *values, bool *nulls, void *arg);
/* The text of key in a jsonb object (a string, or a number as text), or NULL. */
struct JsonbContainer;
extern char *pgp_jsonb_text(struct JsonbContainer *obj, const char *key);

extern bool pgp_scan_latest(Oid relid, const char *const *cols, int ncols,
							PgpRowFn fn, void *arg);

#endif							/* PGP_SCHEMA_H */
