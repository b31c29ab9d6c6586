/*-------------------------------------------------------------------------
 *
 * test_ff1.c
 *	  Unit tests of FF1 over AES-256 (src/ff1.c): the NIST SP 800-38G
 *	  FF1-AES256 samples 7, 8 and 9, round trips, a full-domain permutation
 *	  check, and every error status.
 *
 *-------------------------------------------------------------------------
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "pgp_crypto.h"
#include "unit.h"

__extension__ typedef unsigned __int128 u128;

/* Key of the NIST FF1-AES256 samples (published test key, not a secret) */
static const char *nist_key =
"2B7E151628AED2A6ABF7158809CF4F3CEF4359D8D580AA4F7F036D6F04FC6A94";

typedef struct Ff1Sample
{
	const char *name;
	unsigned int radix;
	const char *pt;				/* numerals as 0-9a-z */
	const char *tweak;			/* hex */
	const char *ct;
} Ff1Sample;

static const Ff1Sample samples[] = {
	{"NIST FF1-AES256 sample 7", 10, "0123456789", "", "6657667009"},
	{"NIST FF1-AES256 sample 8", 10, "0123456789",
	"39383736353433323130", "1001623463"},
	{"NIST FF1-AES256 sample 9", 36, "0123456789abcdefghi",
	"3737373770717273373737", "xs8a0azh2avyalyzuwd"},
};

/* '0'-'9', 'a'-'z' to numeral values */
static size_t
to_numerals(const char *s, uint8_t *out)
{
	size_t		n = 0;

	for (; *s; s++)
		out[n++] = (uint8_t) (*s <= '9' ? *s - '0' : *s - 'a' + 10);
	return n;
}

/* Whether numerals x[0..n) spell the string s. */
static int
numerals_equal(const uint8_t *x, const char *s, size_t n)
{
	uint8_t		y[64];

	return to_numerals(s, y) == n && memcmp(x, y, n) == 0;
}

/* xorshift64: deterministic test data, never key material */
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
 * test_ff1_samples
 *		The published samples, encrypt and decrypt, also in place.
 */
static void
test_ff1_samples(PgpFF1 *f)
{
	size_t		i;

	group_begin("ff1-aes256: NIST SP 800-38G samples 7, 8, 9");
	for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
	{
		const Ff1Sample *s = &samples[i];
		unsigned char tweak[64];
		size_t		tlen = hex_to_bytes(s->tweak, tweak, sizeof(tweak));
		uint8_t		pt[64],
					ct[64],
					back[64];
		size_t		n = to_numerals(s->pt, pt);

		CHECK(pgp_ff1_encrypt(f, s->radix, tweak, tlen, pt, ct, n) ==
			  PGP_FF1_OK && numerals_equal(ct, s->ct, n),
			  "%s: encrypt", s->name);
		to_numerals(s->ct, ct);
		CHECK(pgp_ff1_decrypt(f, s->radix, tweak, tlen, ct, back, n) ==
			  PGP_FF1_OK && numerals_equal(back, s->pt, n),
			  "%s: decrypt", s->name);
		memcpy(back, pt, n);
		CHECK(pgp_ff1_encrypt(f, s->radix, tweak, tlen, back, back, n) ==
			  PGP_FF1_OK && numerals_equal(back, s->ct, n),
			  "%s: encrypt in place", s->name);
		CHECK(pgp_ff1_decrypt(f, s->radix, tweak, tlen, back, back, n) ==
			  PGP_FF1_OK && numerals_equal(back, s->pt, n),
			  "%s: decrypt in place", s->name);
	}
	group_end();
}

/*
 * Reference FF1, written line by line from the pseudocode of SP 800-38G
 * Algorithms 7 and 8 with no shortcuts: numeral strings, the full P || Q
 * through CBC-MAC, S extended block by block, b from log2.  Slow and
 * simple; used to check the optimized src/ff1.c bit for bit.
 */
static void
ref_ciph(EVP_CIPHER_CTX *ecb, const unsigned char in[16], unsigned char out[16])
{
	int			outl = 0;

	if (EVP_EncryptUpdate(ecb, out, &outl, in, 16) != 1 || outl != 16)
		abort();
}

/* Reference NUM_radix(X), in 128 bits. */
static u128
ref_num_radix(const uint8_t *x, size_t len, unsigned int radix)
{
	u128		r = 0;
	size_t		k;

	for (k = 0; k < len; k++)
		r = r * radix + x[k];
	return r;
}

/* Reference STR^len_radix(x). */
static void
ref_str_radix(u128 x, uint8_t *out, size_t len, unsigned int radix)
{
	while (len-- > 0)
	{
		out[len] = (uint8_t) (x % radix);
		x /= radix;
	}
}

/* radix^e in 128 bits (callers keep it below 2^128). */
static u128
ref_pow(unsigned int radix, size_t e)
{
	u128		r = 1;

	while (e-- > 0)
		r *= radix;
	return r;
}

/* y = NUM(S) for round i, given the numeral string that Q carries */
static u128
ref_round_y(EVP_CIPHER_CTX *ecb, unsigned int radix, const unsigned char *t,
			size_t tlen, size_t n, size_t u, size_t b, size_t d,
			unsigned int i, const uint8_t *half, size_t half_len)
{
	unsigned char pq[16 + PGP_FF1_MAX_TWEAK + 32];
	unsigned char r[16];
	unsigned char s[64];
	size_t		len = 0;
	size_t		pad = (size_t) ((16 - (long) ((tlen + b + 1) % 16)) % 16);
	size_t		j;
	size_t		k;
	u128		numb = ref_num_radix(half, half_len, radix);
	u128		y = 0;

	/* P */
	pq[len++] = 1;
	pq[len++] = 2;
	pq[len++] = 1;
	pq[len++] = (unsigned char) (radix >> 16);
	pq[len++] = (unsigned char) (radix >> 8);
	pq[len++] = (unsigned char) radix;
	pq[len++] = 10;
	pq[len++] = (unsigned char) (u % 256);
	for (k = 0; k < 4; k++)
		pq[len++] = (unsigned char) (n >> (24 - 8 * k));
	for (k = 0; k < 4; k++)
		pq[len++] = (unsigned char) (tlen >> (24 - 8 * k));
	/* Q */
	memcpy(pq + len, t, tlen);
	len += tlen;
	memset(pq + len, 0, pad);
	len += pad;
	pq[len++] = (unsigned char) i;
	for (k = 0; k < b; k++)
		pq[len++] = (unsigned char) (numb >> (8 * (b - 1 - k)));
	if (len % 16 != 0)
		abort();

	/* R = PRF(P || Q) */
	memset(r, 0, 16);
	for (j = 0; j < len; j += 16)
	{
		unsigned char x[16];

		for (k = 0; k < 16; k++)
			x[k] = r[k] ^ pq[j + k];
		ref_ciph(ecb, x, r);
	}
	/* S = R || CIPH(R xor [1]^16) || ... */
	memcpy(s, r, 16);
	for (j = 1; j < (d + 15) / 16; j++)
	{
		unsigned char x[16];

		memcpy(x, r, 16);
		for (k = 0; k < 8; k++)
			x[15 - k] ^= (unsigned char) (j >> (8 * k));
		ref_ciph(ecb, x, s + 16 * j);
	}
	for (k = 0; k < d; k++)
		y = (y << 8) | s[k];
	return y;
}

/*
 * Reference FF1.Encrypt (encrypt != 0) or FF1.Decrypt of x[0..n) into out,
 * following Algorithms 7 and 8 step by step.
 */
static void
ref_ff1(EVP_CIPHER_CTX *ecb, int encrypt, unsigned int radix,
		const unsigned char *t, size_t tlen, const uint8_t *x, uint8_t *out,
		size_t n)
{
	size_t		u = n / 2;
	size_t		v = n - u;
	size_t		b = (size_t) ceil(ceil((double) v * log2((double) radix)) / 8);
	size_t		d = 4 * ((b + 3) / 4) + 4;
	uint8_t		a[64],
				bb[64],
				c[64];
	size_t		alen = u,
				blen = v;
	int			i;

	memcpy(a, x, u);
	memcpy(bb, x + u, v);
	for (i = 0; i < 10; i++)
	{
		int			rnd = encrypt ? i : 9 - i;
		size_t		m = (rnd % 2 == 0) ? u : v;
		u128		mod = ref_pow(radix, m);
		u128		y;
		u128		cv;

		if (encrypt)
		{
			y = ref_round_y(ecb, radix, t, tlen, n, u, b, d,
							(unsigned int) rnd, bb, blen);
			cv = (ref_num_radix(a, alen, radix) + y % mod) % mod;
			ref_str_radix(cv, c, m, radix);
			memcpy(a, bb, blen);
			alen = blen;
			memcpy(bb, c, m);
			blen = m;
		}
		else
		{
			y = ref_round_y(ecb, radix, t, tlen, n, u, b, d,
							(unsigned int) rnd, a, alen);
			cv = (ref_num_radix(bb, blen, radix) + mod - y % mod) % mod;
			ref_str_radix(cv, c, m, radix);
			memcpy(bb, a, alen);
			blen = alen;
			memcpy(a, c, m);
			alen = m;
		}
	}
	memcpy(out, a, alen);
	memcpy(out + alen, bb, blen);
}

/*
 * test_ff1_reference
 *		The reference reproduces the NIST samples, and src/ff1.c agrees with
 *		it on random inputs for every radix 2..36, every supported length
 *		and tweaks of 0..256 bytes (all b = 1..8 and d = 8, 12 occur).
 */
static void
test_ff1_reference(PgpFF1 *f, const unsigned char *key)
{
	EVP_CIPHER_CTX *ecb = EVP_CIPHER_CTX_new();
	uint64_t	seed = 0xfeedfacecafebeefULL;
	unsigned char tweak[PGP_FF1_MAX_TWEAK];
	unsigned int radix;
	int			agree = 1;
	int			cases = 0;
	size_t		i;
	int			seen_b[9] = {0};

	group_begin("ff1-aes256: agreement with a literal reference FF1");
	if (ecb == NULL ||
		EVP_EncryptInit_ex2(ecb, EVP_aes_256_ecb(), key, NULL, NULL) != 1 ||
		EVP_CIPHER_CTX_set_padding(ecb, 0) != 1)
	{
		CHECK(0, "reference cipher context");
		EVP_CIPHER_CTX_free(ecb);
		group_end();
		return;
	}

	for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++)
	{
		const Ff1Sample *s = &samples[i];
		unsigned char t[64];
		size_t		tlen = hex_to_bytes(s->tweak, t, sizeof(t));
		uint8_t		pt[64],
					ct[64];
		size_t		n = to_numerals(s->pt, pt);

		ref_ff1(ecb, 1, s->radix, t, tlen, pt, ct, n);
		CHECK(numerals_equal(ct, s->ct, n), "reference: %s", s->name);
	}

	for (radix = 2; radix <= 36; radix++)
	{
		size_t		n;

		for (n = 2; n <= 56; n++)
		{
			uint8_t		x[64],
						y1[64],
						y2[64],
						z1[64],
						z2[64];
			size_t		tlen;
			size_t		k;
			size_t		v = n - n / 2;
			u128		pv = ref_pow(radix, v);
			int			rep;

			if (pv > UINT64_MAX)
				break;
			if (ref_pow(radix, n) < 100)
				continue;
			seen_b[(64 - __builtin_clzll((uint64_t) (pv - 1)) + 7) / 8] = 1;
			for (rep = 0; rep < 3; rep++)
			{
				tlen = (size_t) (next_rand(&seed) % 4 == 0 ?
								 next_rand(&seed) % (PGP_FF1_MAX_TWEAK + 1) :
								 next_rand(&seed) % 20);
				for (k = 0; k < tlen; k++)
					tweak[k] = (unsigned char) next_rand(&seed);
				for (k = 0; k < n; k++)
					x[k] = (uint8_t) (next_rand(&seed) % radix);
				ref_ff1(ecb, 1, radix, tweak, tlen, x, y1, n);
				ref_ff1(ecb, 0, radix, tweak, tlen, x, z1, n);
				if (pgp_ff1_encrypt(f, radix, tweak, tlen, x, y2, n) !=
					PGP_FF1_OK ||
					pgp_ff1_decrypt(f, radix, tweak, tlen, x, z2, n) !=
					PGP_FF1_OK ||
					memcmp(y1, y2, n) != 0 || memcmp(z1, z2, n) != 0)
				{
					if (agree)
						fprintf(stderr, "first disagreement: radix %u n %zu "
								"tweak %zu bytes\n", radix, n, tlen);
					agree = 0;
				}
				cases++;
			}
		}
	}
	CHECK(agree, "encrypt and decrypt agree with the reference "
		  "(%d cases)", cases);
	for (i = 1; i <= 8; i++)
		CHECK(seen_b[i], "some case had b = %zu", i);
	EVP_CIPHER_CTX_free(ecb);
	group_end();
}

/*
 * test_ff1_roundtrip
 *		decrypt(encrypt(x)) == x on random inputs: radix 10 lengths 6..15
 *		(the E.164 subscriber range) and a spread of radixes and lengths up
 *		to each radix's maximum, with random tweaks of 0..256 bytes.
 */
static void
test_ff1_roundtrip(PgpFF1 *f)
{
	uint64_t	seed = 0x0123456789abcdefULL;
	unsigned char tweak[PGP_FF1_MAX_TWEAK];
	static const unsigned int radixes[] = {2, 3, 7, 10, 16, 26, 36};
	static const size_t max_n[] = {56, 56, 44, 38, 30, 26, 24};
	size_t		n;
	size_t		r;
	int			ok = 1;
	int			changed = 0;
	int			inrange = 1;
	int			total = 0;

	group_begin("ff1-aes256: random round trips");
	for (n = 6; n <= 15; n++)
	{
		int			k;

		for (k = 0; k < 500; k++)
		{
			uint8_t		x[64],
						y[64],
						z[64];
			size_t		tlen = (size_t) (next_rand(&seed) % 17);
			size_t		i;

			for (i = 0; i < tlen; i++)
				tweak[i] = (unsigned char) next_rand(&seed);
			for (i = 0; i < n; i++)
				x[i] = (uint8_t) (next_rand(&seed) % 10);
			if (pgp_ff1_encrypt(f, 10, tweak, tlen, x, y, n) != PGP_FF1_OK ||
				pgp_ff1_decrypt(f, 10, tweak, tlen, y, z, n) != PGP_FF1_OK ||
				memcmp(x, z, n) != 0)
				ok = 0;
			for (i = 0; i < n; i++)
				if (y[i] >= 10)
					inrange = 0;
			if (memcmp(x, y, n) != 0)
				changed++;
			total++;
		}
	}
	CHECK(ok, "radix 10, n = 6..15, 5,000 values: decrypt(encrypt(x)) == x");
	CHECK(inrange, "radix 10: every output numeral < 10");
	CHECK(changed >= total - 5, "encryption changes almost every value");

	ok = 1;
	for (r = 0; r < sizeof(radixes) / sizeof(radixes[0]); r++)
	{
		unsigned int radix = radixes[r];

		for (n = 2; n <= max_n[r]; n++)
		{
			uint8_t		x[64],
						y[64],
						z[64];
			size_t		tlen = (size_t) (next_rand(&seed) %
										 (PGP_FF1_MAX_TWEAK + 1));
			size_t		i;
			PgpFF1Status st;
			uint64_t	dom = 1;
			int			big = 0;

			for (i = 0; i < n && !big; i++)
			{
				dom *= radix;
				big = dom >= 100;
			}
			for (i = 0; i < tlen; i++)
				tweak[i] = (unsigned char) next_rand(&seed);
			for (i = 0; i < n; i++)
				x[i] = (uint8_t) (next_rand(&seed) % radix);
			st = pgp_ff1_encrypt(f, radix, tweak, tlen, x, y, n);
			if (!big)
			{
				if (st != PGP_FF1_BAD_LENGTH)
					ok = 0;
				continue;
			}
			if (st != PGP_FF1_OK ||
				pgp_ff1_decrypt(f, radix, tweak, tlen, y, z, n) !=
				PGP_FF1_OK || memcmp(x, z, n) != 0)
			{
				ok = 0;
				fprintf(stderr, "round trip failed: radix %u n %zu\n",
						radix, n);
			}
			for (i = 0; i < n; i++)
				if (y[i] >= radix)
					inrange = 0;
		}
	}
	CHECK(ok, "radix 2..36, every supported length, tweaks 0..256 bytes");

	/* one numeral more than each radix supports is refused */
	ok = 1;
	for (r = 0; r < sizeof(radixes) / sizeof(radixes[0]); r++)
	{
		uint8_t		x[64] = {0};
		uint8_t		y[64];

		if (pgp_ff1_encrypt(f, radixes[r], NULL, 0, x, y, max_n[r] + 1) !=
			PGP_FF1_BAD_LENGTH)
			ok = 0;
	}
	CHECK(ok, "maximum length + 1 refused for each radix");
	CHECK(inrange, "every output numeral < radix");

	/* the tweak matters */
	{
		uint8_t		x[10] = {4, 5, 2, 0, 1, 2, 3, 4, 5, 6};
		uint8_t		y1[10],
					y2[10];

		CHECK(pgp_ff1_encrypt(f, 10, (const unsigned char *) "a", 1,
							  x, y1, 10) == PGP_FF1_OK &&
			  pgp_ff1_encrypt(f, 10, (const unsigned char *) "b", 1,
							  x, y2, 10) == PGP_FF1_OK &&
			  memcmp(y1, y2, 10) != 0, "different tweaks, different output");
	}
	group_end();
}

/*
 * test_ff1_permutation
 *		Encrypting all 10^6 six-digit strings under one key and tweak hits
 *		every six-digit string exactly once, and decrypting each gives the
 *		input back.
 */
static void
test_ff1_permutation(PgpFF1 *f)
{
	const uint32_t dom = 1000000;
	unsigned char *seen = calloc(dom, 1);
	uint32_t	v;
	uint32_t	hits = 0;
	int			ok = 1;
	int			inverse = 1;
	const unsigned char tweak[] = "perm";

	group_begin("ff1-aes256: all 10^6 six-digit strings form a permutation");
	if (seen == NULL)
	{
		CHECK(0, "out of memory");
		group_end();
		return;
	}
	for (v = 0; v < dom; v++)
	{
		uint8_t		x[6],
					y[6],
					z[6];
		uint32_t	t = v;
		uint32_t	w = 0;
		int			i;

		for (i = 5; i >= 0; i--)
		{
			x[i] = (uint8_t) (t % 10);
			t /= 10;
		}
		if (pgp_ff1_encrypt(f, 10, tweak, 4, x, y, 6) != PGP_FF1_OK)
		{
			ok = 0;
			break;
		}
		for (i = 0; i < 6; i++)
			w = w * 10 + y[i];
		if (w < dom && !seen[w])
		{
			seen[w] = 1;
			hits++;
		}
		if ((v % 97) == 0 &&
			(pgp_ff1_decrypt(f, 10, tweak, 4, y, z, 6) != PGP_FF1_OK ||
			 memcmp(x, z, 6) != 0))
			inverse = 0;
	}
	free(seen);
	CHECK(ok, "every encryption succeeded");
	CHECK(hits == dom, "10^6 distinct outputs (got %u)", hits);
	CHECK(inverse, "decryption inverts (every 97th value)");
	group_end();
}

/*
 * test_ff1_errors
 *		Each status, and that out is untouched on failure.
 */
static void
test_ff1_errors(PgpFF1 *f)
{
	uint8_t		x[64];
	uint8_t		y[64];
	unsigned char tweak[PGP_FF1_MAX_TWEAK + 1];
	PgpFF1		none = {NULL};

	memset(x, 1, sizeof(x));
	memset(tweak, 7, sizeof(tweak));
	group_begin("ff1-aes256: error statuses");
	CHECK(pgp_ff1_encrypt(f, 1, NULL, 0, x, y, 10) == PGP_FF1_BAD_RADIX,
		  "radix 1");
	CHECK(pgp_ff1_encrypt(f, 37, NULL, 0, x, y, 10) == PGP_FF1_BAD_RADIX,
		  "radix 37");
	CHECK(pgp_ff1_decrypt(f, 0, NULL, 0, x, y, 10) == PGP_FF1_BAD_RADIX,
		  "radix 0 (decrypt)");
	CHECK(pgp_ff1_encrypt(f, 10, NULL, 0, x, y, 1) == PGP_FF1_BAD_LENGTH,
		  "n = 1");
	CHECK(pgp_ff1_encrypt(f, 10, NULL, 0, x, y, 0) == PGP_FF1_BAD_LENGTH,
		  "n = 0");
	CHECK(pgp_ff1_encrypt(f, 2, NULL, 0, x, y, 57) == PGP_FF1_BAD_LENGTH,
		  "n = 57");
	CHECK(pgp_ff1_encrypt(f, 2, NULL, 0, x, y, 56) == PGP_FF1_OK,
		  "radix 2, n = 56");
	CHECK(pgp_ff1_encrypt(f, 2, NULL, 0, x, y, 6) == PGP_FF1_BAD_LENGTH,
		  "radix 2, n = 6: domain 64 < 100");
	CHECK(pgp_ff1_encrypt(f, 2, NULL, 0, x, y, 7) == PGP_FF1_OK,
		  "radix 2, n = 7: domain 128");
	CHECK(pgp_ff1_encrypt(f, 10, NULL, 0, x, y, 2) == PGP_FF1_OK,
		  "radix 10, n = 2: domain 100");
	CHECK(pgp_ff1_encrypt(f, 10, NULL, 0, x, y, 38) == PGP_FF1_OK,
		  "radix 10, n = 38: 10^19 < 2^64");
	CHECK(pgp_ff1_encrypt(f, 10, NULL, 0, x, y, 39) == PGP_FF1_BAD_LENGTH,
		  "radix 10, n = 39: 10^20 >= 2^64");
	CHECK(pgp_ff1_encrypt(f, 36, NULL, 0, x, y, 24) == PGP_FF1_OK,
		  "radix 36, n = 24");
	CHECK(pgp_ff1_encrypt(f, 36, NULL, 0, x, y, 25) == PGP_FF1_BAD_LENGTH,
		  "radix 36, n = 25: 36^13 >= 2^64");
	CHECK(pgp_ff1_encrypt(f, 10, tweak, PGP_FF1_MAX_TWEAK, x, y, 10) ==
		  PGP_FF1_OK, "tweak of PGP_FF1_MAX_TWEAK bytes");
	CHECK(pgp_ff1_encrypt(f, 10, tweak, PGP_FF1_MAX_TWEAK + 1, x, y, 10) ==
		  PGP_FF1_TWEAK_TOO_LONG, "tweak one byte too long");
	CHECK(pgp_ff1_encrypt(f, 10, NULL, 3, x, y, 10) ==
		  PGP_FF1_TWEAK_TOO_LONG, "NULL tweak with a length");

	x[4] = 10;
	memset(y, 0xEE, sizeof(y));
	CHECK(pgp_ff1_encrypt(f, 10, NULL, 0, x, y, 10) == PGP_FF1_BAD_NUMERAL,
		  "numeral 10 in radix 10");
	CHECK(y[0] == 0xEE && y[9] == 0xEE, "out untouched on error");
	x[4] = 35;
	CHECK(pgp_ff1_decrypt(f, 36, NULL, 0, x, y, 10) == PGP_FF1_OK,
		  "numeral 35 in radix 36");
	x[4] = 36;
	CHECK(pgp_ff1_decrypt(f, 36, NULL, 0, x, y, 10) == PGP_FF1_BAD_NUMERAL,
		  "numeral 36 in radix 36 (decrypt)");
	x[4] = 1;
	CHECK(pgp_ff1_encrypt(f, 10, NULL, 0, NULL, y, 10) == PGP_FF1_BAD_LENGTH,
		  "NULL input");

	CHECK(pgp_ff1_encrypt(&none, 10, NULL, 0, x, y, 10) ==
		  PGP_FF1_CRYPTO_ERROR, "context without a key");
	pgp_ff1_free(&none);
	CHECK(pgp_ff1_init(&none, NULL) == 0 && none.ecb == NULL,
		  "init without a key refused");
	group_end();
}

/*
 * test_ff1
 *		All FF1 groups under the NIST sample key, plus a second key.
 */
void
test_ff1(void)
{
	unsigned char key[PGP_KEY_LEN];
	PgpFF1		f;

	hex_to_bytes(nist_key, key, sizeof(key));
	if (pgp_ff1_init(&f, key) != 1)
	{
		group_begin("ff1-aes256: init");
		CHECK(0, "pgp_ff1_init failed");
		group_end();
		return;
	}
	test_ff1_samples(&f);
	test_ff1_reference(&f, key);
	test_ff1_roundtrip(&f);
	test_ff1_permutation(&f);
	test_ff1_errors(&f);
	pgp_ff1_free(&f);
	pgp_ff1_free(&f);			/* safe twice */

	/* a different key gives different ciphertexts */
	{
		PgpFF1		g;
		uint8_t		x[10] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
		uint8_t		y[10];

		key[0] ^= 1;
		group_begin("ff1-aes256: key separation");
		CHECK(pgp_ff1_init(&g, key) == 1 &&
			  pgp_ff1_encrypt(&g, 10, NULL, 0, x, y, 10) == PGP_FF1_OK &&
			  !numerals_equal(y, "6657667009", 10),
			  "another key, another ciphertext for sample 7");
		pgp_ff1_free(&g);
		group_end();
	}
}
