/*-------------------------------------------------------------------------
 *
 * protect.h
 *	  The protect trigger and the event triggers of enforcement (protect.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGP_PROTECT_H
#define PGP_PROTECT_H

#include "postgres.h"

extern void pgp_protect_init(void);

#include "utils/array.h"

/* privacy.rekey(): whether this firing is its own UPDATE of relid */
extern bool pgp_rekeying(Oid relid);
/* protect(rewrite_existing): whether this firing is its own UPDATE of relid */
extern bool pgp_rewriting(Oid relid);
/* privacy.rekey()'s UPDATE of one batch of a relation (src/rekey.c) */
extern uint64 pgp_protect_rekey_update(Oid relid, ArrayType *cols, const char *where,
									   int nargs, Oid *argtypes, Datum *argvals,
									   bool count_rows);

#endif							/* PGP_PROTECT_H */
