/*-------------------------------------------------------------------------
 *
 * pgp_crypto.h
 *	  Pure-C cryptographic primitives of pg_privacy: HKDF-SHA256 (RFC 5869),
 *	  HMAC-SHA256 with prepared pad contexts (RFC 2104/4231), and FF1 over
 *	  AES-256 (NIST SP 800-38G).
 *
 * Nothing in this header or in the files that implement it depends on
 * PostgreSQL: they return status codes instead of raising errors, so that
 * the C unit tests (test/unit) and the fuzz harnesses (test/fuzz) can link
 * them with libcrypto alone.  The backend wraps them and turns a failure
 * into an ereport() in one place (keys.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGP_CRYPTO_H
#define PGP_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#define PGP_KEY_LEN		32		/* master and working keys: 256 bits */
#define PGP_SHA256_LEN	32

/* ----------
 * HKDF-SHA256 (RFC 5869): extract-and-expand.
 * salt may be NULL/0 (then a string of HashLen zeros is used, as the RFC
 * says).  Returns 1 on success, 0 on failure (okm_len > 255*32, OpenSSL
 * error).
 * ----------
 */
extern int	pgp_hkdf_sha256(const unsigned char *ikm, size_t ikm_len,
							const unsigned char *salt, size_t salt_len,
							const unsigned char *info, size_t info_len,
							unsigned char *okm, size_t okm_len);

/* ----------
 * HMAC-SHA256 with the inner and outer pad states prepared once per key.
 * Each MAC copies the prepared states into two reused working contexts
 * (EVP_MD_CTX_copy_ex), which avoids the per-call key schedule that makes
 * one-shot HMAC slow.  The struct holds no copy of the key itself.
 * ----------
 */
typedef struct PgpHmac
{
	EVP_MD_CTX *inner;			/* SHA-256 state after (key XOR ipad) */
	EVP_MD_CTX *outer;			/* SHA-256 state after (key XOR opad) */
	EVP_MD_CTX *work_inner;		/* reused working contexts */
	EVP_MD_CTX *work_outer;
} PgpHmac;

/* Prepare; key of any length (longer than 64 bytes is hashed first). 1/0. */
extern int	pgp_hmac_init(PgpHmac *h, const unsigned char *key, size_t key_len);

/* MAC of msg into out[32].  1 on success, 0 on failure. */
extern int	pgp_hmac_sha256(PgpHmac *h, const unsigned char *msg, size_t msg_len,
							unsigned char out[PGP_SHA256_LEN]);

/* Free the contexts (they are cleansed by OpenSSL on free). Safe twice. */
extern void pgp_hmac_free(PgpHmac *h);

/* ----------
 * FF1 (NIST SP 800-38G) with AES-256, radix 2..36, numeral strings given
 * as arrays of values 0..radix-1.  Lengths supported: 2 <= n <= 56 with
 * radix^ceil(n/2) < 2^64 (enough for every E.164 number and for the NIST
 * AES-256 samples), and radix^n >= 100 (the standard's minimum domain).
 * The context keeps one AES-256-ECB EVP_CIPHER_CTX with padding off.
 * ----------
 */
typedef struct PgpFF1
{
	EVP_CIPHER_CTX *ecb;		/* AES-256-ECB, padding off, keyed */
} PgpFF1;

typedef enum PgpFF1Status
{
	PGP_FF1_OK = 0,
	PGP_FF1_BAD_RADIX,			/* radix outside 2..36 */
	PGP_FF1_BAD_LENGTH,			/* n too short/long for this radix */
	PGP_FF1_BAD_NUMERAL,		/* a numeral >= radix */
	PGP_FF1_TWEAK_TOO_LONG,		/* tweak longer than PGP_FF1_MAX_TWEAK */
	PGP_FF1_CRYPTO_ERROR		/* OpenSSL failed */
} PgpFF1Status;

#define PGP_FF1_MAX_TWEAK	256

extern int	pgp_ff1_init(PgpFF1 *f, const unsigned char key[PGP_KEY_LEN]);
extern PgpFF1Status pgp_ff1_encrypt(PgpFF1 *f, unsigned int radix,
									const unsigned char *tweak, size_t tweak_len,
									const uint8_t *in, uint8_t *out, size_t n);
extern PgpFF1Status pgp_ff1_decrypt(PgpFF1 *f, unsigned int radix,
									const unsigned char *tweak, size_t tweak_len,
									const uint8_t *in, uint8_t *out, size_t n);
extern void pgp_ff1_free(PgpFF1 *f);

#endif							/* PGP_CRYPTO_H */
