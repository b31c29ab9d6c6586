/*-------------------------------------------------------------------------
 *
 * mask.h
 *	  Masking by role: what a masked role reads of a registered table
 *	  (mask.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGP_MASK_H
#define PGP_MASK_H

#include "postgres.h"

/* Installs the planner and utility hooks (from _PG_init). */
extern void pgp_mask_init(bool preloaded);

#endif							/* PGP_MASK_H */
