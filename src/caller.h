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

extern void pgp_caller_init(void);
extern Oid	pgp_caller(void);
extern bool pgp_in_api(void);

#endif							/* PGP_CALLER_H */
