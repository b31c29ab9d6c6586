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

extern bool pgp_rekey_tracked(void);
extern bool pgp_rekeying(Oid relid);
extern bool pgp_rekey_nothing_pending(void);

#endif							/* PGP_PROTECT_H */
