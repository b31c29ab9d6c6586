/*-------------------------------------------------------------------------
 *
 * pgp_crypto.c
 *	  Key derivation (HKDF-SHA256, RFC 5869) and keyed hashing (HMAC-SHA256,
 *	  RFC 2104) for pg_privacy, in pure C on OpenSSL 3.
 *
 * HKDF turns the master key into per-purpose working keys; it runs once per
 * key version and domain, so it simply uses OpenSSL's EVP_KDF "HKDF".
 *
 * HMAC is the hot path of pseudonymize() and of the protect trigger.  A
 * one-shot HMAC() call re-does the key schedule (two SHA-256 compressions of
 * the padded key) for every value, which is most of its cost for short
 * inputs.  PgpHmac therefore keeps two SHA-256 contexts that have already
 * absorbed (key XOR ipad) and (key XOR opad); each MAC copies them into two
 * reused working contexts with EVP_MD_CTX_copy_ex and finishes from there.
 * Only non-deprecated EVP calls are used.
 *
 * Nothing here depends on PostgreSQL: functions return 1/0 and the backend
 * turns a failure into an error in one place.  No function prints or logs
 * key material, and key-derived buffers are cleansed before they go out of
 * scope.
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "pgp_crypto.h"

#define SHA256_BLOCK_LEN	64	/* HMAC block size B for SHA-256 */

/*
 * pgp_hkdf_sha256
 *		Derive okm_len bytes from ikm with HKDF-SHA256 (extract, then expand).
 *
 * A NULL or empty salt means "HashLen zero bytes", as RFC 5869 section 2.2
 * says; we pass that string explicitly so the result does not depend on how
 * the provider treats a missing salt.  okm_len must be 1..255*32.
 */
int
pgp_hkdf_sha256(const unsigned char *ikm, size_t ikm_len,
				const unsigned char *salt, size_t salt_len,
				const unsigned char *info, size_t info_len,
				unsigned char *okm, size_t okm_len)
{
	static const unsigned char zero_salt[PGP_SHA256_LEN] = {0};
	static const unsigned char empty[1] = {0};
	EVP_KDF    *kdf;
	EVP_KDF_CTX *kctx;
	OSSL_PARAM	params[5];
	OSSL_PARAM *p = params;
	int			ok;

	if (okm == NULL || okm_len == 0 || okm_len > 255 * PGP_SHA256_LEN)
		return 0;
	if ((ikm == NULL && ikm_len > 0) ||
		(salt == NULL && salt_len > 0) ||
		(info == NULL && info_len > 0))
		return 0;

	if (salt == NULL || salt_len == 0)
	{
		salt = zero_salt;
		salt_len = sizeof(zero_salt);
	}

	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	if (kdf == NULL)
		return 0;
	kctx = EVP_KDF_CTX_new(kdf);
	EVP_KDF_free(kdf);			/* the context keeps its own reference */
	if (kctx == NULL)
		return 0;

	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
											(char *) "SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
											 (void *) (ikm ? ikm : empty),
											 ikm_len);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT,
											 (void *) salt, salt_len);
	if (info_len > 0)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO,
												 (void *) info, info_len);
	*p = OSSL_PARAM_construct_end();

	ok = EVP_KDF_derive(kctx, okm, okm_len, params) == 1;
	EVP_KDF_CTX_free(kctx);		/* cleanses the copied key */
	if (!ok)
		OPENSSL_cleanse(okm, okm_len);
	return ok ? 1 : 0;
}

/*
 * HmacPadContext
 *		Start a SHA-256 context and feed it one block of (key XOR pad).
 *
 * kblock is the key already hashed (if longer than a block) and zero-padded
 * to SHA256_BLOCK_LEN bytes; pad is 0x36 (inner) or 0x5c (outer).
 */
static int
HmacPadContext(EVP_MD_CTX *ctx, const EVP_MD *md,
			   const unsigned char kblock[SHA256_BLOCK_LEN], unsigned char pad)
{
	unsigned char buf[SHA256_BLOCK_LEN];
	int			ok;
	int			i;

	for (i = 0; i < SHA256_BLOCK_LEN; i++)
		buf[i] = kblock[i] ^ pad;
	ok = EVP_DigestInit_ex2(ctx, md, NULL) == 1 &&
		EVP_DigestUpdate(ctx, buf, sizeof(buf)) == 1;
	OPENSSL_cleanse(buf, sizeof(buf));
	return ok;
}

/*
 * pgp_hmac_init
 *		Prepare h for HMAC-SHA256 under key: compute the inner and outer pad
 *		states once and allocate the two working contexts.
 *
 * Keys longer than the SHA-256 block are hashed first (RFC 2104).  On
 * failure every context is freed and h is left zeroed, so pgp_hmac_free()
 * is still safe.  The key itself is not kept.
 */
int
pgp_hmac_init(PgpHmac *h, const unsigned char *key, size_t key_len)
{
	unsigned char kblock[SHA256_BLOCK_LEN];
	EVP_MD	   *md;
	int			ok = 0;

	if (h == NULL)
		return 0;
	memset(h, 0, sizeof(*h));
	if (key == NULL && key_len > 0)
		return 0;

	/*
	 * Fetch SHA-256 explicitly: contexts initialized with a fetched method
	 * hold a reference to it, and later copies need no implicit fetch.
	 */
	md = EVP_MD_fetch(NULL, "SHA256", NULL);
	if (md == NULL)
		return 0;

	memset(kblock, 0, sizeof(kblock));
	if (key_len > SHA256_BLOCK_LEN)
	{
		unsigned int dlen = 0;

		if (EVP_Digest(key, key_len, kblock, &dlen, md, NULL) != 1 ||
			dlen != PGP_SHA256_LEN)
			goto done;
	}
	else if (key_len > 0)
		memcpy(kblock, key, key_len);

	h->inner = EVP_MD_CTX_new();
	h->outer = EVP_MD_CTX_new();
	h->work_inner = EVP_MD_CTX_new();
	h->work_outer = EVP_MD_CTX_new();
	if (h->inner == NULL || h->outer == NULL ||
		h->work_inner == NULL || h->work_outer == NULL)
		goto done;

	if (!HmacPadContext(h->inner, md, kblock, 0x36) ||
		!HmacPadContext(h->outer, md, kblock, 0x5c))
		goto done;

	ok = 1;

done:
	OPENSSL_cleanse(kblock, sizeof(kblock));
	EVP_MD_free(md);
	if (!ok)
		pgp_hmac_free(h);
	return ok;
}

/*
 * pgp_hmac_sha256
 *		HMAC-SHA256 of msg under the key h was prepared with, into out.
 *
 * Copies the prepared pad states into the working contexts instead of
 * re-keying; this function does no allocation of its own.
 */
int
pgp_hmac_sha256(PgpHmac *h, const unsigned char *msg, size_t msg_len,
				unsigned char out[PGP_SHA256_LEN])
{
	unsigned char ihash[PGP_SHA256_LEN];
	unsigned int len = 0;
	int			ok;

	if (h == NULL || h->inner == NULL || out == NULL ||
		(msg == NULL && msg_len > 0))
		return 0;

	ok = EVP_MD_CTX_copy_ex(h->work_inner, h->inner) == 1 &&
		(msg_len == 0 ||
		 EVP_DigestUpdate(h->work_inner, msg, msg_len) == 1) &&
		EVP_DigestFinal_ex(h->work_inner, ihash, &len) == 1 &&
		len == PGP_SHA256_LEN &&
		EVP_MD_CTX_copy_ex(h->work_outer, h->outer) == 1 &&
		EVP_DigestUpdate(h->work_outer, ihash, sizeof(ihash)) == 1 &&
		EVP_DigestFinal_ex(h->work_outer, out, &len) == 1 &&
		len == PGP_SHA256_LEN;

	OPENSSL_cleanse(ihash, sizeof(ihash));
	if (!ok)
		OPENSSL_cleanse(out, PGP_SHA256_LEN);
	return ok ? 1 : 0;
}

/*
 * pgp_hmac_free
 *		Release the four contexts (OpenSSL cleanses digest state on free)
 *		and zero the struct, so a second call does nothing.
 */
void
pgp_hmac_free(PgpHmac *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->inner);
	EVP_MD_CTX_free(h->outer);
	EVP_MD_CTX_free(h->work_inner);
	EVP_MD_CTX_free(h->work_outer);
	memset(h, 0, sizeof(*h));
}
