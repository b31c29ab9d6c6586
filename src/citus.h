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

extern bool pgp_citus_table(Oid relid);
extern void pgp_citus_refuse(Oid relid, const char *what);
extern void pgp_citus_refuse_on_worker(const char *what, const char *why);

#endif							/* PGP_CITUS_H */
