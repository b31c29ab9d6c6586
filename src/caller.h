/*-------------------------------------------------------------------------
 *
 * caller.h
 *	  API entry points: who called, running as the extension owner (caller.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGP_CALLER_H
#define PGP_CALLER_H

#include "postgres.h"

extern void pgp_caller_init(bool preloaded);
extern Oid	pgp_caller(void);
extern bool pgp_in_api(void);

/*
 * While above zero, every function of a user's own (OID past the initial
 * catalog) asks for the function-manager hook, which keeps the planner from
 * inlining SQL functions: mask.c sets it while planning a masked statement,
 * so that the queries of SQL functions are planned, and masked, on their
 * own instead of being inlined after the masks were applied.
 */
extern int	pgp_no_inline;

#endif							/* PGP_CALLER_H */
