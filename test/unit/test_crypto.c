/*-------------------------------------------------------------------------
 *
 * test_crypto.c
 *	  Unit tests of HKDF-SHA256 (RFC 5869 test cases 1-3) and of the
 *	  prepared-context HMAC-SHA256 (RFC 4231 test cases 1-7).
 *
 * The HMAC is also compared with OpenSSL's own one-shot EVP_Q_mac() on
 * pseudo-random keys and messages of many lengths, reusing one PgpHmac,
 * because the hot-path code builds HMAC from raw SHA-256 contexts.
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <string.h>

#include <openssl/evp.h>

#include "pgp_crypto.h"
#include "unit.h"

typedef struct HkdfCase
{
	const char *name;
	const char *ikm;
	const char *salt;
	const char *info;
	size_t		len;
	const char *okm;
} HkdfCase;

/* RFC 5869 appendix A.1-A.3 (SHA-256) */
static const HkdfCase hkdf_cases[] = {
	{"RFC 5869 A.1",
		"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
		"000102030405060708090a0b0c",
		"f0f1f2f3f4f5f6f7f8f9",
		42,
		"3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf"
	"34007208d5b887185865"},
	{"RFC 5869 A.2",
		"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
		"202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f"
		"404142434445464748494a4b4c4d4e4f",
		"606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f"
		"808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f"
		"a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
		"b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecf"
		"d0d1d2d3d4d5d6d7d8d9dadbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeef"
		"f0f1f2f3f4f5f6f7f8f9fafbfcfdfeff",
		82,
		"b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c"
		"59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71"
	"cc30c58179ec3e87c14c01d5c1f3434f1d87"},
	{"RFC 5869 A.3",
		"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
		"",
		"",
		42,
		"8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
	"9d201395faa4b61a96c8"},
};

/*
 * test_hkdf
 *		RFC 5869 vectors, the NULL-salt rule, and the length limits.
 */
static void
test_hkdf(void)
{
	unsigned char ikm[128],
				salt[128],
				info[128],
				okm[128],
				want[128];
	unsigned char big[255 * PGP_SHA256_LEN + 1];
	size_t		i;

	group_begin("hkdf-sha256: RFC 5869 cases 1-3, NULL salt, limits");
	for (i = 0; i < sizeof(hkdf_cases) / sizeof(hkdf_cases[0]); i++)
	{
		const HkdfCase *c = &hkdf_cases[i];
		size_t		ikm_len = hex_to_bytes(c->ikm, ikm, sizeof(ikm));
		size_t		salt_len = hex_to_bytes(c->salt, salt, sizeof(salt));
		size_t		info_len = hex_to_bytes(c->info, info, sizeof(info));
		size_t		want_len = hex_to_bytes(c->okm, want, sizeof(want));

		CHECK(want_len == c->len, "%s: vector length", c->name);
		memset(okm, 0, sizeof(okm));
		CHECK(pgp_hkdf_sha256(ikm, ikm_len, salt, salt_len, info, info_len,
							  okm, c->len) == 1, "%s: derive", c->name);
		CHECK(memcmp(okm, want, c->len) == 0, "%s: OKM matches", c->name);

		/* an output prefix equals the shorter derivation */
		memset(okm, 0, sizeof(okm));
		CHECK(pgp_hkdf_sha256(ikm, ikm_len, salt, salt_len, info, info_len,
							  okm, 32) == 1 && memcmp(okm, want, 32) == 0,
			  "%s: first 32 bytes", c->name);
	}

	/* A.3 again with NULL salt and NULL info: same OKM */
	hex_to_bytes(hkdf_cases[2].ikm, ikm, sizeof(ikm));
	hex_to_bytes(hkdf_cases[2].okm, want, sizeof(want));
	memset(okm, 0, sizeof(okm));
	CHECK(pgp_hkdf_sha256(ikm, 22, NULL, 0, NULL, 0, okm, 42) == 1 &&
		  memcmp(okm, want, 42) == 0, "NULL salt means HashLen zeros");
	memset(salt, 0, 32);
	memset(okm, 0, sizeof(okm));
	CHECK(pgp_hkdf_sha256(ikm, 22, salt, 32, NULL, 0, okm, 42) == 1 &&
		  memcmp(okm, want, 42) == 0, "32 zero bytes of salt likewise");

	/* different info, different key (domain separation) */
	CHECK(pgp_hkdf_sha256(ikm, 22, NULL, 0, (const unsigned char *) "a", 1,
						  okm, 32) == 1 &&
		  pgp_hkdf_sha256(ikm, 22, NULL, 0, (const unsigned char *) "b", 1,
						  want, 32) == 1 &&
		  memcmp(okm, want, 32) != 0, "info separates keys");

	/* empty IKM is allowed by the RFC */
	CHECK(pgp_hkdf_sha256(NULL, 0, NULL, 0, NULL, 0, okm, 32) == 1,
		  "empty IKM derives");

	CHECK(pgp_hkdf_sha256(ikm, 22, NULL, 0, NULL, 0, big,
						  255 * PGP_SHA256_LEN) == 1, "L = 255*HashLen ok");
	CHECK(pgp_hkdf_sha256(ikm, 22, NULL, 0, NULL, 0, big,
						  255 * PGP_SHA256_LEN + 1) == 0,
		  "L > 255*HashLen refused");
	CHECK(pgp_hkdf_sha256(ikm, 22, NULL, 0, NULL, 0, okm, 0) == 0,
		  "L = 0 refused");
	CHECK(pgp_hkdf_sha256(NULL, 5, NULL, 0, NULL, 0, okm, 32) == 0,
		  "NULL IKM with a length refused");
	group_end();
}

typedef struct HmacCase
{
	const char *name;
	const char *key;			/* hex */
	const char *data;			/* hex */
	const char *mac;			/* hex; 16 bytes for the truncation case */
} HmacCase;

#define HEX_AA_131 \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" \
	"aaaaaa"

/* RFC 4231 section 4, HMAC-SHA-256 */
static const HmacCase hmac_cases[] = {
	{"RFC 4231 case 1",
		"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b",
		"4869205468657265",		/* "Hi There" */
	"b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
	{"RFC 4231 case 2",
		"4a656665",				/* "Jefe" */
		"7768617420646f2079612077616e7420666f72206e6f7468696e673f",
	"5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
	{"RFC 4231 case 3",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		"dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
		"dddddddddddddddddddddddddddddddddddd",
	"773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
	{"RFC 4231 case 4",
		"0102030405060708090a0b0c0d0e0f10111213141516171819",
		"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
		"cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd",
	"82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
	{"RFC 4231 case 5 (first 128 bits)",
		"0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c0c",
		"546573742057697468205472756e636174696f6e",
	"a3b6167473100ee06e0c796c2955552b"},
	{"RFC 4231 case 6",
		HEX_AA_131,
		"54657374205573696e67204c6172676572205468616e20426c6f636b2d53697a"
		"65204b6579202d2048617368204b6579204669727374",
	"60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
	{"RFC 4231 case 7",
		HEX_AA_131,
		"5468697320697320612074657374207573696e672061206c6172676572207468"
		"616e20626c6f636b2d73697a65206b657920616e642061206c61726765722074"
		"68616e20626c6f636b2d73697a6520646174612e20546865206b6579206e6565"
		"647320746f20626520686173686564206265666f7265206265696e6720757365"
		"642062792074686520484d414320616c676f726974686d2e",
	"9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
};

/* xorshift64: deterministic test data, not for keys in production */
static uint64_t
next_rand(uint64_t *s)
{
	uint64_t	x = *s;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	*s = x;
	return x;
}

/*
 * test_hmac
 *		RFC 4231 vectors, reuse of one prepared context, agreement with
 *		OpenSSL's own HMAC, and the free/failure contracts.
 */
static void
test_hmac(void)
{
	unsigned char key[256],
				data[256],
				want[64],
				mac[PGP_SHA256_LEN],
				ref[EVP_MAX_MD_SIZE];
	PgpHmac		h;
	PgpHmac		h131;
	size_t		i;
	uint64_t	seed = 0x9e3779b97f4a7c15ULL;

	group_begin("hmac-sha256: RFC 4231 cases 1-7, context reuse, "
				"agreement with EVP_Q_mac");
	for (i = 0; i < sizeof(hmac_cases) / sizeof(hmac_cases[0]); i++)
	{
		const HmacCase *c = &hmac_cases[i];
		size_t		klen = hex_to_bytes(c->key, key, sizeof(key));
		size_t		dlen = hex_to_bytes(c->data, data, sizeof(data));
		size_t		wlen = hex_to_bytes(c->mac, want, sizeof(want));

		CHECK(pgp_hmac_init(&h, key, klen) == 1, "%s: init", c->name);
		/* twice with the same context: the prepared state is not used up */
		CHECK(pgp_hmac_sha256(&h, data, dlen, mac) == 1 &&
			  memcmp(mac, want, wlen) == 0, "%s: MAC", c->name);
		CHECK(pgp_hmac_sha256(&h, data, dlen, mac) == 1 &&
			  memcmp(mac, want, wlen) == 0, "%s: MAC again", c->name);
		pgp_hmac_free(&h);
		pgp_hmac_free(&h);		/* safe twice */
		CHECK(h.inner == NULL && h.work_outer == NULL, "%s: freed", c->name);
	}

	/*
	 * One context for a key longer than the block (case 6/7 key), used for
	 * both messages in turn.
	 */
	{
		unsigned char d6[128],
					d7[256],
					w6[32],
					w7[32];
		size_t		klen = hex_to_bytes(hmac_cases[5].key, key, sizeof(key));
		size_t		l6 = hex_to_bytes(hmac_cases[5].data, d6, sizeof(d6));
		size_t		l7 = hex_to_bytes(hmac_cases[6].data, d7, sizeof(d7));
		int			k;
		int			good = 1;

		hex_to_bytes(hmac_cases[5].mac, w6, sizeof(w6));
		hex_to_bytes(hmac_cases[6].mac, w7, sizeof(w7));
		CHECK(klen == 131 && pgp_hmac_init(&h131, key, klen) == 1,
			  "131-byte key init");
		for (k = 0; k < 5; k++)
		{
			good &= pgp_hmac_sha256(&h131, d6, l6, mac) == 1 &&
				memcmp(mac, w6, 32) == 0;
			good &= pgp_hmac_sha256(&h131, d7, l7, mac) == 1 &&
				memcmp(mac, w7, 32) == 0;
		}
		CHECK(good, "one context, cases 6 and 7 alternating five times");
		pgp_hmac_free(&h131);
	}

	/* random keys 0..200 bytes, random messages 0..255 bytes */
	{
		int			agree = 1;
		int			k;

		for (k = 0; k < 200; k++)
		{
			size_t		klen = (size_t) (next_rand(&seed) % 201);
			int			m;

			for (i = 0; i < klen; i++)
				key[i] = (unsigned char) next_rand(&seed);
			if (pgp_hmac_init(&h, key, klen) != 1)
			{
				agree = 0;
				break;
			}
			for (m = 0; m < 8; m++)
			{
				size_t		dlen = (size_t) (next_rand(&seed) % 256);
				size_t		rlen = 0;

				for (i = 0; i < dlen; i++)
					data[i] = (unsigned char) next_rand(&seed);
				if (pgp_hmac_sha256(&h, data, dlen, mac) != 1 ||
					EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL, key, klen,
							  data, dlen, ref, sizeof(ref), &rlen) == NULL ||
					rlen != 32 || memcmp(mac, ref, 32) != 0)
					agree = 0;
			}
			pgp_hmac_free(&h);
		}
		CHECK(agree, "1,600 random (key, message) pairs agree with EVP_Q_mac");
	}

	/* empty key and empty message are legal HMAC inputs */
	{
		size_t		rlen = 0;

		CHECK(pgp_hmac_init(&h, NULL, 0) == 1 &&
			  pgp_hmac_sha256(&h, NULL, 0, mac) == 1 &&
			  EVP_Q_mac(NULL, "HMAC", NULL, "SHA256", NULL,
						(const unsigned char *) "", 0,
						(const unsigned char *) "", 0,
						ref, sizeof(ref), &rlen) != NULL &&
			  memcmp(mac, ref, 32) == 0, "empty key, empty message");
		pgp_hmac_free(&h);
	}

	/* misuse is refused, not crashed on */
	memset(&h, 0, sizeof(h));
	CHECK(pgp_hmac_sha256(&h, data, 4, mac) == 0, "MAC on a freed context");
	CHECK(pgp_hmac_init(&h, NULL, 3) == 0 && h.inner == NULL,
		  "NULL key with a length refused");
	group_end();
}

/*
 * test_crypto
 *		The HKDF and HMAC groups.
 */
void
test_crypto(void)
{
	test_hkdf();
	test_hmac();
}
