/*-------------------------------------------------------------------------
 *
 * fuzz_ff1.c
 *	  libFuzzer harness for FF1 (src/ff1.c): decrypt(encrypt(x)) == x and
 *	  encrypt(decrypt(x)) == x on arbitrary numeral strings and tweaks.
 *
 * Input layout: byte 0 picks the radix (2..36) and, in its top bit, whether
 * the numerals are taken raw (so that some are >= radix); byte 1 the
 * length n (0..63, to reach the limits); byte 2 the tweak length (0..258,
 * scaled); then the tweak, then the numerals (missing bytes are zero).
 * The key is fixed (a test key, never printed).
 *
 * Besides the round trips the harness checks that the status is exactly
 * the one the header's rules predict, that encryption and decryption agree
 * on it, and that every output numeral is < radix.
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pgp_crypto.h"

#define REQUIRE(cond) do { if (!(cond)) abort(); } while (0)

static PgpFF1 ff1;
static int	ff1_ready = 0;

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * expected_status
 *		The status the header's rules give for these arguments.
 */
static PgpFF1Status
expected_status(unsigned int radix, size_t tlen, const uint8_t *x, size_t n)
{
	unsigned __int128 pv = 1;
	unsigned __int128 pn = 1;
	size_t		v = n - n / 2;
	size_t		i;

	if (radix < 2 || radix > 36)
		return PGP_FF1_BAD_RADIX;
	if (tlen > PGP_FF1_MAX_TWEAK)
		return PGP_FF1_TWEAK_TOO_LONG;
	if (n < 2 || n > 56)
		return PGP_FF1_BAD_LENGTH;
	for (i = 0; i < v && pv <= UINT64_MAX; i++)
		pv *= radix;			/* stops before __int128 can overflow */
	if (pv > UINT64_MAX)
		return PGP_FF1_BAD_LENGTH;
	for (i = 0; i < n && pn < 100; i++)
		pn *= radix;
	if (pn < 100)
		return PGP_FF1_BAD_LENGTH;
	for (i = 0; i < n; i++)
		if (x[i] >= radix)
			return PGP_FF1_BAD_NUMERAL;
	return PGP_FF1_OK;
}

/*
 * LLVMFuzzerTestOneInput
 *		libFuzzer entry point: decode radix, length, tweak and numerals,
 *		compare the status with the rules, and check both round trips.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char tweak[PGP_FF1_MAX_TWEAK + 8];
	uint8_t		x[64],
				y[64],
				z[64];
	unsigned int radix;
	int			raw;
	size_t		n;
	size_t		tlen;
	size_t		i;
	size_t		pos = 3;
	PgpFF1Status se;
	PgpFF1Status sd;
	PgpFF1Status want;

	if (!ff1_ready)
	{
		unsigned char key[PGP_KEY_LEN];

		for (i = 0; i < PGP_KEY_LEN; i++)
			key[i] = (unsigned char) (0x5c ^ (i * 37));
		REQUIRE(pgp_ff1_init(&ff1, key) == 1);
		ff1_ready = 1;
	}
	if (size < 3)
		return 0;

	radix = 2 + (data[0] & 0x7f) % 35;
	raw = (data[0] & 0x80) != 0;
	n = data[1] % 64;
	tlen = (size_t) data[2] * (PGP_FF1_MAX_TWEAK + 3) / 255;	/* 0..259 */

	memset(tweak, 0, sizeof(tweak));
	for (i = 0; i < tlen && pos < size; i++)
		tweak[i] = data[pos++];
	memset(x, 0, sizeof(x));
	for (i = 0; i < n && pos < size; i++)
	{
		x[i] = raw ? data[pos] : (uint8_t) (data[pos] % radix);
		pos++;
	}

	want = expected_status(radix, tlen, x, n);
	memset(y, 0xEE, sizeof(y));
	se = pgp_ff1_encrypt(&ff1, radix, tweak, tlen, x, y, n);
	REQUIRE(se == want);
	memset(z, 0xEE, sizeof(z));
	sd = pgp_ff1_decrypt(&ff1, radix, tweak, tlen, x, z, n);
	REQUIRE(sd == want);
	if (se != PGP_FF1_OK)
	{
		REQUIRE(y[0] == 0xEE && z[0] == 0xEE);	/* out untouched */
		return 0;
	}

	for (i = 0; i < n; i++)
		REQUIRE(y[i] < radix && z[i] < radix);

	/* decrypt(encrypt(x)) == x, in place */
	REQUIRE(pgp_ff1_decrypt(&ff1, radix, tweak, tlen, y, y, n) == PGP_FF1_OK);
	REQUIRE(memcmp(x, y, n) == 0);
	/* encrypt(decrypt(x)) == x */
	REQUIRE(pgp_ff1_encrypt(&ff1, radix, tweak, tlen, z, z, n) == PGP_FF1_OK);
	REQUIRE(memcmp(x, z, n) == 0);
	return 0;
}
