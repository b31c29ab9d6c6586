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

/*
 * Relcache invalidation callbacks of pg_privacy's modules, all behind the
 * one callback pg_privacy registers with PostgreSQL: a backend has room for
 * ten in all (MAX_RELCACHE_CALLBACKS), shared with core and every other
 * extension loaded (Citus takes several).
 */
#include "utils/inval.h"
extern void pgp_on_relcache(RelcacheCallbackFunction fn, Datum arg);

#endif							/* PGP_SCHEMA_H */
