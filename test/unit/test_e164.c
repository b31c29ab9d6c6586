/*-------------------------------------------------------------------------
 *
 * test_e164.c
 *	  Unit tests of E.164 normalization (src/e164.c): table-driven cases
 *	  for accepted forms and every error status, the 15-digit limit,
 *	  pgp_e164_cc_len, and consistency checks of the static tables.
 *
 * The tables are static in e164.c, so this file includes that source
 * directly (and the Makefile does not compile e164.c a second time).
 *
 *-------------------------------------------------------------------------
 */
#include "e164.c"

#include <stdio.h>

#include "unit.h"

typedef struct E164Case
{
	const char *raw;
	const char *country;
	PgpE164Status st;
	const char *number;			/* expected on OK */
	int			cc_len;			/* expected on OK */
	size_t		err_pos;		/* expected for BAD_CHAR/MISPLACED_PLUS */
} E164Case;

#define OK(raw, ctry, num, ccl) {raw, ctry, PGP_E164_OK, num, ccl, 0}
#define ERR(raw, ctry, st) {raw, ctry, st, "", 0, 0}
#define ERRAT(raw, ctry, st, pos) {raw, ctry, st, "", 0, pos}

static const E164Case cases[] = {
	/* Denmark: every written form of one number */
	OK("+45 20 12 34 56", "DK", "+4520123456", 2),
	OK("0045 20123456", "DK", "+4520123456", 2),
	OK("20123456", "DK", "+4520123456", 2),
	OK("+45-20.12.34.56", "DK", "+4520123456", 2),
	OK("(+45) 2012 3456", "DK", "+4520123456", 2),
	ERR("+45 (0) 20123456", "DK", PGP_E164_TOO_LONG),	/* no trunk 0 */
	OK("20 12 34 56", "dk", "+4520123456", 2),
	OK(" \t+4520123456\r\n", "DK", "+4520123456", 2),
	OK("20/12/34/56", "DK", "+4520123456", 2),
	OK("+4520123456", NULL, "+4520123456", 2),
	OK("004520123456", NULL, "+4520123456", 2),
	ERR("+45 2012345", "DK", PGP_E164_TOO_SHORT),
	ERR("+45 201234567", "DK", PGP_E164_TOO_LONG),
	ERR("2012345", "DK", PGP_E164_TOO_SHORT),
	ERR("4520123456", "DK", PGP_E164_TOO_LONG),	/* no '+': national */

	/* Germany: trunk prefix 0; "(0)" after the code */
	OK("030 1234567", "DE", "+49301234567", 2),
	OK("(030) 1234-567", "DE", "+49301234567", 2),
	OK("+49 (0)30 1234567", NULL, "+49301234567", 2),
	OK("0049 30 1234567", "DK", "+49301234567", 2),
	OK("30 1234567", "DE", "+49301234567", 2),
	OK("01234567890123", "DE", "+491234567890123", 2),	/* 15 digits */
	ERR("012345678901234", "DE", PGP_E164_TOO_LONG),	/* 16 */

	/* United Kingdom */
	OK("07700 900123", "GB", "+447700900123", 2),
	OK("+44 (0)7700 900123", "DK", "+447700900123", 2),
	OK("+44 (0)20 7946 0000", NULL, "+442079460000", 2),

	/* NANP */
	OK("(212) 555-0123", "US", "+12125550123", 1),
	OK("1 212 555 0123", "US", "+12125550123", 1),
	OK("1-212-555-0123", "CA", "+12125550123", 1),
	OK("+1 212 555 0123", NULL, "+12125550123", 1),
	OK("011 45 20123456", "US", "+4520123456", 2),
	OK("011 45 20123456", "JM", "+4520123456", 2),
	OK("+1 242 555 0123", "DK", "+12425550123", 1),	/* Bahamas */
	OK("416 555 0123", "CA", "+14165550123", 1),
	ERR("011 45 20123456", "DK", PGP_E164_TOO_LONG),	/* 011 not intl */
	ERR("212 555 012", "US", PGP_E164_TOO_SHORT),
	ERR("212 555 01234", "US", PGP_E164_TOO_LONG),

	/* other trunk prefixes */
	OK("8 912 345-67-89", "RU", "+79123456789", 1),
	OK("8 701 234 5678", "KZ", "+77012345678", 1),
	OK("070-123 45 67", "SE", "+46701234567", 2),
	OK("06 12 34 56 78", "FR", "+33612345678", 2),
	OK("06 1234 5678", "IT", "+390612345678", 2),	/* 0 is kept */
	OK("+39 06 1234 5678", NULL, "+390612345678", 2),
	OK("+39 (0)6 1234 5678", NULL, "+390612345678", 2),	/* 0 kept */
	OK("+33 (0)6 12 34 56 78", NULL, "+33612345678", 2),
	OK("+49 30 (0)1234567", NULL, "+493001234567", 2),	/* not after cc */
	OK("06 20 123 4567", "HU", "+36201234567", 2),
	OK("8 029 123 45 67", "BY", "+375291234567", 3),
	OK("040 1234567", "FI", "+358401234567", 3),
	OK("+358 40 1234567", NULL, "+358401234567", 3),
	OK("0612345678", "NL", "+31612345678", 2),
	OK("412 34 567", "NO", "+4741234567", 2),
	OK("32 12 34", "GL", "+299321234", 3),	/* no trunk */
	ERR("321 234 5", "GL", PGP_E164_TOO_LONG),

	/* Norway allows 5, 8 and 12 digits */
	OK("+47 02000", NULL, "+4702000", 2),
	OK("+47 580012345678", NULL, "+47580012345678", 2),
	ERR("+47 4123456", NULL, PGP_E164_TOO_SHORT),
	ERR("+47 412345678", NULL, PGP_E164_TOO_LONG),
	ERR("+47 1234", NULL, PGP_E164_TOO_SHORT),

	/* shared and non-geographic codes */
	OK("+800 1234 5678", NULL, "+80012345678", 3),
	OK("+808 1234 5678", NULL, "+80812345678", 3),
	OK("+870 773 123 456", NULL, "+870773123456", 3),
	OK("+881 6 1234 5678", NULL, "+881612345678", 3),
	OK("+882 1234 5678", NULL, "+88212345678", 3),
	OK("+883 1234 5678", NULL, "+88312345678", 3),
	OK("+888 1234 5678", NULL, "+88812345678", 3),
	OK("+979 1234 5678", NULL, "+97912345678", 3),

	/* 15 digits at most */
	OK("+882 123456789012", NULL, "+882123456789012", 3),
	ERR("+882 1234567890123", NULL, PGP_E164_TOO_LONG),
	OK("+49 1234567890123", NULL, "+491234567890123", 2),
	ERR("+49 12345678901234", NULL, PGP_E164_TOO_LONG),
	ERR("+49 1234567890123456789012345678901234567890123456789", NULL,
		PGP_E164_TOO_LONG),

	/* subscriber part at least 4 digits */
	OK("+49 1234", NULL, "+491234", 2),
	ERR("+49 123", NULL, PGP_E164_TOO_SHORT),
	ERR("+45", NULL, PGP_E164_TOO_SHORT),
	ERR("+4", NULL, PGP_E164_TOO_SHORT),
	ERR("+35", NULL, PGP_E164_TOO_SHORT),
	ERR("00", "DK", PGP_E164_TOO_SHORT),
	ERR("011", "US", PGP_E164_TOO_SHORT),
	ERR("0", "DE", PGP_E164_TOO_SHORT),

	/* unassigned country codes */
	ERR("+999 1234 5678", NULL, PGP_E164_UNKNOWN_COUNTRY_CODE),
	ERR("+28 1234 5678", NULL, PGP_E164_UNKNOWN_COUNTRY_CODE),
	ERR("+0 45 20123456", NULL, PGP_E164_UNKNOWN_COUNTRY_CODE),
	ERR("+671 123 4567", NULL, PGP_E164_UNKNOWN_COUNTRY_CODE),
	ERR("+28", NULL, PGP_E164_UNKNOWN_COUNTRY_CODE),
	ERR("000 45 20123456", "DK", PGP_E164_UNKNOWN_COUNTRY_CODE),

	/* empty */
	ERR("", "DK", PGP_E164_EMPTY),
	ERR("   ", "DK", PGP_E164_EMPTY),
	ERR(" - ( ) / . ", "DK", PGP_E164_EMPTY),
	ERR("+", "DK", PGP_E164_EMPTY),
	ERR("(+)", NULL, PGP_E164_EMPTY),

	/* bad characters, 1-based positions */
	ERRAT("+45 2O12 3456", "DK", PGP_E164_BAD_CHAR, 6),
	ERRAT("20123456x", "DK", PGP_E164_BAD_CHAR, 9),
	ERRAT("x", "DK", PGP_E164_BAD_CHAR, 1),
	ERRAT("2012\n3456", "DK", PGP_E164_BAD_CHAR, 5),
	ERRAT("+45 20 12 34 56 ext 1", "DK", PGP_E164_BAD_CHAR, 17),
	ERRAT("  tel:+4520123456", "DK", PGP_E164_BAD_CHAR, 3),
	ERRAT("20\xc2\xa0" "123456", "DK", PGP_E164_BAD_CHAR, 3),
	ERRAT("+45,20123456", "DK", PGP_E164_BAD_CHAR, 4),
	ERRAT("#31#20123456", "DK", PGP_E164_BAD_CHAR, 1),
	ERRAT("2012*3456", "DK", PGP_E164_BAD_CHAR, 5),
	ERRAT("x+45", "DK", PGP_E164_BAD_CHAR, 1),	/* first error wins */

	/* misplaced plus */
	ERRAT("45+20123456", "DK", PGP_E164_MISPLACED_PLUS, 3),
	ERRAT("++4520123456", "DK", PGP_E164_MISPLACED_PLUS, 2),
	ERRAT("+45 +20123456", "DK", PGP_E164_MISPLACED_PLUS, 5),
	ERRAT("2012345+", "DK", PGP_E164_MISPLACED_PLUS, 8),
	ERRAT("1+x", "DK", PGP_E164_MISPLACED_PLUS, 2),	/* first error wins */

	/* default country */
	ERR("20123456", NULL, PGP_E164_BAD_DEFAULT_COUNTRY),
	ERR("20123456", "XX", PGP_E164_BAD_DEFAULT_COUNTRY),
	ERR("20123456", "D", PGP_E164_BAD_DEFAULT_COUNTRY),
	ERR("20123456", "DNK", PGP_E164_BAD_DEFAULT_COUNTRY),
	ERR("20123456", "", PGP_E164_BAD_DEFAULT_COUNTRY),
	ERR("20123456", "4 ", PGP_E164_BAD_DEFAULT_COUNTRY),
	ERR("+4520123456", "XX", PGP_E164_BAD_DEFAULT_COUNTRY),
	ERR("011 45 20123456", NULL, PGP_E164_BAD_DEFAULT_COUNTRY),
};

/*
 * run_case
 *		Normalize one case and compare every result field.
 */
static void
run_case(const E164Case *c)
{
	PgpE164Result res;
	PgpE164Status st;
	const char *ctry = c->country ? c->country : "NULL";

	memset(&res, 0x5A, sizeof(res));
	st = pgp_e164_normalize(c->raw, strlen(c->raw), c->country, &res);
	if (st != c->st)
	{
		CHECK(0, "\"%s\" (%s): status %d (%s), want %d (%s)", c->raw, ctry,
			  (int) st, pgp_e164_status_text(st), (int) c->st,
			  pgp_e164_status_text(c->st));
		return;
	}
	if (st == PGP_E164_OK)
		CHECK(strcmp(res.number, c->number) == 0 &&
			  res.cc_len == c->cc_len &&
			  res.ndigits == (int) strlen(c->number) - 1 &&
			  res.err_pos == 0,
			  "\"%s\" (%s): got %s cc_len %d ndigits %d, want %s cc_len %d",
			  c->raw, ctry, res.number, res.cc_len, res.ndigits, c->number,
			  c->cc_len);
	else
		CHECK(res.number[0] == '\0' && res.err_pos == c->err_pos,
			  "\"%s\" (%s): err_pos %zu, want %zu", c->raw, ctry,
			  res.err_pos, c->err_pos);
}

/*
 * test_normalize
 *		The case table, plus inputs that are not NUL-terminated.
 */
static void
test_normalize(void)
{
	size_t		i;
	PgpE164Result res;
	char		buf[32];

	group_begin("e164: normalization cases and error statuses");
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);

	/* only len bytes are read: the rest of the buffer is not a number */
	memcpy(buf, "+4520123456999xx", 16);
	CHECK(pgp_e164_normalize(buf, 11, "DK", &res) == PGP_E164_OK &&
		  strcmp(res.number, "+4520123456") == 0,
		  "input bounded by len, not by NUL");
	CHECK(pgp_e164_normalize("+45 20123456", 3, "DK", &res) ==
		  PGP_E164_TOO_SHORT, "a prefix of the input is judged alone");
	CHECK(pgp_e164_normalize("(0", 2, "DE", &res) == PGP_E164_TOO_SHORT,
		  "\"(0\" cut at len is not a \"(0)\" group");
	CHECK(pgp_e164_normalize(NULL, 0, "DK", &res) == PGP_E164_EMPTY,
		  "NULL input with length 0");
	CHECK(pgp_e164_normalize("2012\0" "3456", 9, "DK", &res) ==
		  PGP_E164_BAD_CHAR && res.err_pos == 5, "NUL byte inside");

	/* a very long input of separators and digits */
	{
		static char longbuf[100000];

		memset(longbuf, ' ', sizeof(longbuf));
		memcpy(longbuf + 50000, "+4520123456", 11);
		CHECK(pgp_e164_normalize(longbuf, sizeof(longbuf), "DK", &res) ==
			  PGP_E164_OK && strcmp(res.number, "+4520123456") == 0,
			  "100,000 bytes of padding");
		memset(longbuf, '9', sizeof(longbuf));
		CHECK(pgp_e164_normalize(longbuf, sizeof(longbuf), "DK", &res) ==
			  PGP_E164_TOO_LONG, "100,000 digits");
	}

	for (i = 0; i <= (size_t) PGP_E164_TOO_LONG; i++)
		CHECK(pgp_e164_status_text((PgpE164Status) i) != NULL &&
			  strlen(pgp_e164_status_text((PgpE164Status) i)) > 0,
			  "status text %zu", i);
	CHECK(strcmp(pgp_e164_status_text(PGP_E164_BAD_CHAR),
				 "contains an invalid character") == 0,
		  "BAD_CHAR text");
	group_end();
}

/*
 * test_cc_len
 *		pgp_e164_cc_len on chosen codes, and consistency over all 3-digit
 *		strings: the code found is a prefix and no shorter prefix is one.
 */
static void
test_cc_len(void)
{
	static const struct
	{
		const char *d;
		int			len;
	}			cc[] = {
		{"1", 1}, {"12125550123", 1}, {"1242", 1}, {"7", 1}, {"45", 2},
		{"4520123456", 2}, {"358", 3}, {"3584012", 3}, {"298", 3},
		{"800", 3}, {"808", 3}, {"870", 3}, {"878", 3}, {"881", 3},
		{"882", 3}, {"883", 3}, {"888", 3}, {"979", 3}, {"886", 3},
		{"388", 3}, {"383", 3}, {"0", 0}, {"045", 0}, {"999", 0},
		{"28", 0}, {"289", 0}, {"35", 0}, {"3", 0}, {"", 0}, {"80", 0},
		{"801", 0}, {"x45", 0}, {"4x", 0}, {"671", 0}, {"259", 0},
	};
	size_t		i;
	int			consistent = 1;
	int			v;

	group_begin("e164: pgp_e164_cc_len");
	for (i = 0; i < sizeof(cc) / sizeof(cc[0]); i++)
		CHECK(pgp_e164_cc_len(cc[i].d, strlen(cc[i].d)) == cc[i].len,
			  "cc_len(\"%s\") = %d, want %d", cc[i].d,
			  pgp_e164_cc_len(cc[i].d, strlen(cc[i].d)), cc[i].len);
	CHECK(pgp_e164_cc_len("45", 1) == 0, "reads at most n digits");
	CHECK(pgp_e164_cc_len(NULL, 3) == 0, "NULL digits");

	for (v = 0; v < 1000; v++)
	{
		char		d[4];
		int			len;
		int			k;

		snprintf(d, sizeof(d), "%03d", v);
		len = pgp_e164_cc_len(d, 3);
		if (len > 0 && pgp_e164_cc_len(d, (size_t) len) != len)
			consistent = 0;
		for (k = 1; k < len; k++)
			if (pgp_e164_cc_len(d, (size_t) k) != 0)
				consistent = 0;
	}
	CHECK(consistent, "cc_len consistent on every 3-digit prefix");
	group_end();
}

/*
 * test_tables
 *		The static tables are sorted, prefix-free, and refer only to
 *		assigned codes; the NANP members share code 1 and trunk prefix 1.
 */
static void
test_tables(void)
{
	size_t		i;
	size_t		j;
	int			sorted = 1;
	int			prefix_free = 1;
	int			iso_sorted = 1;
	int			iso_assigned = 1;
	int			nanp_ok = 1;
	int			rules_assigned = 1;
	int			nanp_count = 0;
	static const char *const nanp[] = {
		"AG", "AI", "AS", "BB", "BM", "BS", "CA", "DM", "DO", "GD", "GU",
		"JM", "KN", "KY", "LC", "MP", "MS", "PR", "SX", "TC", "TT", "UM",
		"US", "VC", "VG", "VI"
	};

	group_begin("e164: country code and default country tables");
	for (i = 1; i < N_COUNTRY_CODES; i++)
		if (CountryCodes[i - 1] >= CountryCodes[i])
			sorted = 0;
	CHECK(sorted, "CountryCodes strictly ascending");

	for (i = 0; i < N_COUNTRY_CODES; i++)
		for (j = 0; j < N_COUNTRY_CODES; j++)
		{
			char		a[8],
						b[8];

			if (i == j)
				continue;
			snprintf(a, sizeof(a), "%u", (unsigned) CountryCodes[i]);
			snprintf(b, sizeof(b), "%u", (unsigned) CountryCodes[j]);
			if (strncmp(a, b, strlen(a)) == 0)
			{
				prefix_free = 0;
				fprintf(stderr, "code %s is a prefix of %s\n", a, b);
			}
		}
	CHECK(prefix_free, "CountryCodes prefix-free");
	CHECK(N_COUNTRY_CODES > 200, "CountryCodes has %zu codes",
		  (size_t) N_COUNTRY_CODES);

	for (i = 0; i < N_DEFAULT_COUNTRIES; i++)
	{
		const DefaultCountry *c = &DefaultCountries[i];

		if (i > 0 && strcmp(DefaultCountries[i - 1].iso, c->iso) >= 0)
			iso_sorted = 0;
		if (!CcAssigned(c->cc))
		{
			iso_assigned = 0;
			fprintf(stderr, "%s has unassigned code %u\n", c->iso, c->cc);
		}
		if (FindDefaultCountry(c->iso) != c)
			iso_sorted = 0;
		if (c->cc == 1)
		{
			nanp_count++;
			if (strcmp(c->trunk, "1") != 0)
				nanp_ok = 0;
		}
	}
	for (i = 0; i < sizeof(nanp) / sizeof(nanp[0]); i++)
	{
		const DefaultCountry *c = FindDefaultCountry(nanp[i]);

		if (c == NULL || c->cc != 1)
			nanp_ok = 0;
	}
	for (i = 0; i < N_NSN_RULES; i++)
		if (!CcAssigned(NsnRules[i].cc))
			rules_assigned = 0;

	CHECK(iso_sorted, "DefaultCountries sorted and found by lookup");
	CHECK(iso_assigned, "every default country's code is assigned");
	CHECK(N_DEFAULT_COUNTRIES >= 245, "DefaultCountries has %zu entries",
		  (size_t) N_DEFAULT_COUNTRIES);
	CHECK(nanp_ok && nanp_count == (int) (sizeof(nanp) / sizeof(nanp[0])),
		  "NANP members map to 1 with trunk prefix 1 (%d)", nanp_count);
	CHECK(rules_assigned, "every NSN rule's code is assigned");
	CHECK(FindDefaultCountry("dk") == FindDefaultCountry("DK") &&
		  FindDefaultCountry("Dk") != NULL, "lookup is case-insensitive");
	group_end();
}

/*
 * test_e164
 *		All E.164 groups.
 */
void
test_e164(void)
{
	test_normalize();
	test_cc_len();
	test_tables();
}
