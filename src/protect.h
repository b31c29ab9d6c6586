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
extern void pgp_rekey_pending_key(Oid relid, char *fp);
extern struct PgpKey *pgp_pending_fpe_key(const char *fp, const char *domain, int domain_len,
										  struct PgpKey **cache, uint64 *gen,
										  const char *relname);

#endif							/* PGP_PROTECT_H */
