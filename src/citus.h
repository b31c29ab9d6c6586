/*-------------------------------------------------------------------------
 *
 * citus.h
 *	  What Citus made of a table, and of this server (citus.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGP_CITUS_H
#define PGP_CITUS_H

#include "postgres.h"

#include "access/attnum.h"

extern bool pgp_citus_present(void);
extern bool pgp_citus_table(Oid relid);
extern void pgp_citus_refuse(Oid relid, const char *what);
extern void pgp_citus_refuse_unready(const char *what);
extern void pgp_citus_refuse_on_worker(const char *what, const char *why);
extern bool pgp_citus_worker(void);
extern Oid	pgp_citus_shard_of(Oid relid, int64 *shardid);
extern Oid	pgp_citus_shard_named(Oid relid, int64 *shardid);
extern AttrNumber pgp_citus_dist_attnum(Oid logicalrelid, bool *known);

#endif							/* PGP_CITUS_H */
