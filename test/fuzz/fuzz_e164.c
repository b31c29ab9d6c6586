/*-------------------------------------------------------------------------
 *
 * fuzz_e164.c
 *	  libFuzzer harness for pgp_e164_normalize (src/e164.c).
 *
 * Input layout: if the first two bytes are ASCII letters they are the
 * default country (known or not) and the rest is the number; if the first
 * byte is '-' there is no default country; otherwise the first byte picks
 * one of a few default countries with distinct rules.  The number is
 * passed with its exact length and no terminating NUL, so AddressSanitizer
 * catches any read past len.
 *
 * Invariants checked (abort on violation):
 *	- OK: number is '+' and 2..15 digits, NUL-terminated; ndigits matches;
 *	  cc_len is 1..3 and pgp_e164_cc_len agrees; err_pos is 0; normalizing
 *	  the result again, with no default country, gives the same result.
 *	- BAD_CHAR / MISPLACED_PLUS: 1 <= err_pos <= len and the byte there is
 *	  the offending one; every other status: err_pos 0, number "".
 *	- The status is a known one and has a text.
 *
 *-------------------------------------------------------------------------
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "e164.h"

#define REQUIRE(cond) do { if (!(cond)) abort(); } while (0)

static const char *const countries[] = {
	"DK", "DE", "US", "GB", "RU", "HU", "BY", "IT", "NO", "FR", "FI", "JM",
	"GL", "LT", "dk", NULL
};

/* ASCII letter: the first two input bytes then name the country. */
static int
is_letter(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

/*
 * check_result
 *		Assert the invariants of one normalization of raw[0..len).
 */
static void
check_result(const uint8_t *raw, size_t len, const char *country)
{
	PgpE164Result res;
	PgpE164Status st;
	char	   *copy;

	copy = malloc(len ? len : 1);	/* exact size: ASan sees overreads */
	REQUIRE(copy != NULL);
	if (len)
		memcpy(copy, raw, len);

	memset(&res, 0xA5, sizeof(res));
	st = pgp_e164_normalize(copy, len, country, &res);
	REQUIRE(st >= PGP_E164_OK && st <= PGP_E164_TOO_LONG);
	REQUIRE(pgp_e164_status_text(st) != NULL);

	if (st == PGP_E164_OK)
	{
		size_t		nlen = strnlen(res.number, sizeof(res.number));
		size_t		i;
		PgpE164Result again;

		REQUIRE(nlen < sizeof(res.number));
		REQUIRE(res.number[0] == '+');
		REQUIRE(nlen >= 3 && nlen <= 1 + PGP_E164_MAX_DIGITS);
		for (i = 1; i < nlen; i++)
			REQUIRE(res.number[i] >= '0' && res.number[i] <= '9');
		REQUIRE(res.ndigits == (int) nlen - 1);
		REQUIRE(res.cc_len >= 1 && res.cc_len <= 3);
		REQUIRE(res.cc_len < res.ndigits);
		REQUIRE(pgp_e164_cc_len(res.number + 1, (size_t) res.ndigits) ==
				res.cc_len);
		REQUIRE(res.err_pos == 0);

		/* idempotent: the normalized form is its own normalization */
		REQUIRE(pgp_e164_normalize(res.number, nlen, NULL, &again) ==
				PGP_E164_OK);
		REQUIRE(strcmp(again.number, res.number) == 0);
		REQUIRE(again.cc_len == res.cc_len);
	}
	else
	{
		REQUIRE(res.number[0] == '\0');
		if (st == PGP_E164_BAD_CHAR || st == PGP_E164_MISPLACED_PLUS)
		{
			REQUIRE(res.err_pos >= 1 && res.err_pos <= len);
			if (st == PGP_E164_MISPLACED_PLUS)
				REQUIRE(copy[res.err_pos - 1] == '+');
			else
				REQUIRE(copy[res.err_pos - 1] != '+' &&
						(copy[res.err_pos - 1] < '0' ||
						 copy[res.err_pos - 1] > '9'));
		}
		else
			REQUIRE(res.err_pos == 0);
	}
	free(copy);
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * LLVMFuzzerTestOneInput
 *		libFuzzer entry point: split the input into default country and
 *		number as described in the file header, then check the invariants.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size >= 2 && is_letter(data[0]) && is_letter(data[1]))
	{
		char		country[3] = {(char) data[0], (char) data[1], '\0'};

		check_result(data + 2, size - 2, country);
	}
	else if (size >= 1 && data[0] == '-')
		check_result(data + 1, size - 1, NULL);
	else if (size >= 1)
		check_result(data + 1, size - 1,
					 countries[data[0] % (sizeof(countries) /
										  sizeof(countries[0]))]);
	else
		check_result(data, 0, "DK");
	return 0;
}
