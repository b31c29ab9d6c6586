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

#endif							/* PGP_SCHEMA_H */
