/*-------------------------------------------------------------------------
 *
 * keys.h
 *	  The master key and the working keys derived from it (keys.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGP_KEYS_H
#define PGP_KEYS_H

#include "postgres.h"

#include "pgp_crypto.h"

/* Key purposes: each derives its own working keys (HKDF info). */
#define PGP_KP_PSEUDONYM		"pseudonym"
#define PGP_KP_MSISDN_FPE		"msisdn-fpe"
#define PGP_KP_EMAIL			"email-pseudonym"
#define PGP_KP_AUDIT			"audit"
#define PGP_KP_FINGERPRINT		"fingerprint"
#define PGP_KP_MASK				"mask"
#define PGP_KP_SHARD_RULE		"shard-rule"	/* the signed protect rules of
											 * Citus shards (protect.c) */

/* Length of a key fingerprint: "pgp1:" and 16 hex digits. */
#define PGP_FINGERPRINT_LEN		21

/* At most this many keys in pg_privacy.key_file (the current, then older). */
#define PGP_MAX_KEYS			8

/* Current key version mixed into every derivation. */
#define PGP_KEY_VERSION			1

/*
 * A working key derived from the master key for one (purpose, domain,
 * version), with the OpenSSL contexts prepared from it.  Lives in the
 * per-backend key cache until the key file is reloaded; key bytes are
 * wiped when the entry is released.
 */
typedef struct PgpKey
{
	struct PgpKey *next;
	const char *purpose;		/* one of the PGP_KP_* constants */
	char	   *domain;			/* NUL-terminated copy */
	int			domain_len;
	uint32		version;
	int			master;			/* position of its master key in pg_privacy.key_file */
	unsigned char key[PGP_KEY_LEN];
	bool		hmac_ready;
	PgpHmac		hmac;
	bool		ff1_ready;
	PgpFF1		ff1;
} PgpKey;

/* keys.c */
extern char *pgp_key_file;
extern uint64 pgp_key_generation;
extern uint64 pgp_key_checked;	/* generation the database's key was checked for */
extern void pgp_define_key_gucs(void);
extern PgpKey *pgp_get_key(const char *purpose, const char *domain,
						   int domain_len, uint32 version);
extern int	pgp_key_count(void);
extern void pgp_key_fingerprint_of(int m, char *out);
extern void pgp_key_current_fingerprint(char *out);
extern bool pgp_key_usable(int m, char *fp, char **problem);
extern int	pgp_key_find(const char *fp);
extern int	pgp_key_require(const char *fp, const char *what);
extern PgpKey *pgp_get_key_of(int m, const char *purpose, const char *domain,
							  int domain_len, uint32 version);
extern PgpHmac *pgp_key_hmac(PgpKey *k);
extern PgpFF1 *pgp_key_ff1(PgpKey *k);
extern void pgp_crypto_error(const char *what) pg_attribute_noreturn();
extern bool pgp_path_in_data_directory(const char *path);

/*
 * Fast path: a call site caches the PgpKey it used last, valid while the
 * key generation is unchanged and the domain is the same.  One PgpKeyRef
 * serves one key purpose only (the purpose is fixed per call site).  Kept in
 * fn_extra (SQL functions) or in the protect trigger's relation cache.
 */
typedef struct PgpKeyRef
{
	uint64		generation;
	PgpKey	   *key;
} PgpKeyRef;

static inline PgpKey *
pgp_key_cached(PgpKeyRef *ref, const char *purpose, const char *domain,
			   int domain_len)
{
	PgpKey	   *k = ref->key;

	if (likely(k != NULL && ref->generation == pgp_key_generation &&
			   pgp_key_checked == pgp_key_generation &&
			   k->domain_len == domain_len &&
			   memcmp(k->domain, domain, domain_len) == 0))
		return k;
	k = pgp_get_key(purpose, domain, domain_len, PGP_KEY_VERSION);
	ref->key = k;
	ref->generation = pgp_key_generation;
	return k;
}

#endif							/* PGP_KEYS_H */
