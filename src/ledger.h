/*-------------------------------------------------------------------------
 *
 * ledger.h
 *	  The erasure ledger: a file outside the data directory (ledger.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGP_LEDGER_H
#define PGP_LEDGER_H

#include "postgres.h"

extern char *pgp_erasure_ledger_file;
extern void pgp_ledger_init(void);

#endif							/* PGP_LEDGER_H */
