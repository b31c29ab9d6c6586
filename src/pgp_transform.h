/*-------------------------------------------------------------------------
 *
 * pgp_transform.h
 *	  The on-write transformations shared by the SQL functions
 *	  (pseudonym.c) and the protect trigger (protect.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGP_TRANSFORM_H
#define PGP_TRANSFORM_H

#include "pg_privacy.h"
#include "e164.h"
#include "identifier.h"

#define PGP_PSEUDONYM_LEN	22	/* base64url of 128 bits */
#define PGP_EMAIL_LOCAL_LEN 26	/* base32 of 128 bits */
#define PGP_MAX_DOMAIN		200 /* bytes; the FF1 tweak holds it */

extern void pgp_check_domain(const char *domain, int len);
extern void pgp_pseudonym(PgpKey *k, const char *data, int len, char *out);
extern void pgp_e164_error(PgpE164Status st, const PgpE164Result *res,
						   const char *default_country) pg_attribute_noreturn();
extern void pgp_normalize_or_error(const char *raw, int len,
								   const char *default_country,
								   PgpE164Result *res);
extern void pgp_msisdn_ff1(PgpKey *k, PgpE164Result *res, const char *domain,
						   int domain_len, bool decrypt);
extern text *pgp_email_pseudonym(PgpKey *k, const char *s, int len);
extern void pgp_country(const char *s, int len, char *iso);
extern bool pgp_domain_allowed(Oid roleid, const char *domain, int len);
extern void pgp_check_domain_grant(Oid roleid, const char *domain, int len);
extern void pgp_protect_invalidate_all(void);

#endif							/* PGP_TRANSFORM_H */
