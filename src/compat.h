/*-------------------------------------------------------------------------
 *
 * compat.h
 *	  The library under a database at an older version (compat.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGP_COMPAT_H
#define PGP_COMPAT_H

#include "postgres.h"

#include "fmgr.h"

/* refuse a call through an older declaration of a changed C function */
extern void pgp_compat_check_nargs(FunctionCallInfo fcinfo, int nargs,
								   const char *name);

#endif							/* PGP_COMPAT_H */
