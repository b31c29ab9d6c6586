/*-------------------------------------------------------------------------
 *
 * pseudonym.h
 *	  The transformations of pseudonym.c, shared by its SQL functions and
 *	  the protect trigger (protect.c), and the domain grants they check.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGP_PSEUDONYM_H
#define PGP_PSEUDONYM_H

#include "postgres.h"

#include "keys.h"
#include "e164.h"
#include "identifier.h"

#define PGP_PSEUDONYM_LEN	22	/* base64url of 128 bits */
#define PGP_EMAIL_LOCAL_LEN 26	/* base32 of 128 bits */
#define PGP_MAX_DOMAIN		200 /* bytes; the FF1 tweak holds it */

extern void pgp_check_domain(const char *domain, int len);
extern void pgp_pseudonym(PgpKey *k, const char *data, int len, char *out);
extern void pgp_msisdn_ff1(PgpKey *k, PgpE164Result *res, const char *domain,
						   int domain_len, bool decrypt);
extern text *pgp_email_pseudonym(PgpKey *k, const char *s, int len);
extern void pgp_country(const char *s, int len, char *iso);
extern bool pgp_domain_allowed(Oid roleid, const char *domain, int len);
extern void pgp_check_domain_grant(Oid roleid, const char *domain, int len);
/* called when any domain grant, role or membership changes */
extern void pgp_on_domain_grant_change(void (*callback) (void));

#endif							/* PGP_PSEUDONYM_H */
