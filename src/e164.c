/*-------------------------------------------------------------------------
 *
 * e164.c
 *	  E.164 phone number normalization for pg_privacy, in pure C.
 *
 * normalize_msisdn(), the msisdn identifier kind and pseudonymize_msisdn()
 * all start here: what a person typed becomes "+<country code><national
 * significant number>", and the length of the country calling code is
 * reported so that FF1 can encrypt the subscriber part only.
 *
 * The file has three parts:
 *
 *	- CountryCodes: every country calling code in the ITU-T E.164 list of
 *	  assigned codes (1 to 3 digits, including the shared and non-geographic
 *	  codes such as 800, 808, 870, 878, 881, 882, 883, 888, 979, 991 and the
 *	  "group of countries" code 388).  E.164 codes form a prefix-free set,
 *	  so at most one of the first 1, 2 or 3 digits of a number is a code.
 *	- DefaultCountries: ISO 3166-1 alpha-2 codes (every one that has a
 *	  calling code, plus the widely used XK, AC and TA) with their calling
 *	  code and national trunk prefix.  All NANP members map to 1 with trunk
 *	  prefix 1.
 *	- NsnRules: exact lengths of the national significant number (NSN) for
 *	  the few numbering plans where they are certain; everywhere else only
 *	  the general bounds apply (NSN at least 4 digits, 15 digits in all).
 *	  Rejecting a real number is worse than accepting a mistyped one.
 *
 * What is accepted: digits; the separators space, tab, '-', '.', '(', ')'
 * and '/' anywhere (parentheses need not balance); leading and trailing
 * white space; one '+' before the first digit (separators may precede it,
 * as in "(+45) 2012 3456").  International form is a '+', a leading "00",
 * or a leading "011" when the default country is in the NANP.  In
 * international form a "(0)" right after the country code is the national
 * trunk prefix written for domestic callers ("+44 (0)20 7946 0000") and is
 * dropped, where that country's trunk prefix is 0 (not in Italy, where the
 * 0 is part of the number, nor in Denmark, which has no trunk prefix).
 * Anything else is a national number of the default country: its trunk
 * prefix, if present, is removed and its calling code prepended.
 *
 * Error positions are 1-based byte offsets into the input.  Scanning stops
 * at the first byte that is not ASCII, so every byte before it is one
 * character and the offset is also the character position.
 *
 *-------------------------------------------------------------------------
 */
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "e164.h"

#define E164_MIN_NSN	4		/* general lower bound of the NSN */
#define E164_DIGIT_CAP	40		/* digits kept while scanning; more than
								 * 3 (prefix) + 1 ("(0)") + 2 (trunk) + 15
								 * always means TOO_LONG */

/*
 * Assigned country calling codes, ascending.  A 1-digit code is 1..9, a
 * 2-digit one 10..99 and a 3-digit one 100..999, so one sorted array serves
 * all three lengths.  Spare codes (e.g. 210, 259, 28x, 384, 422, 671, 684,
 * 80x other than 800/808, 83x, 89x, 969, 978, 990, 997) and the reserved
 * ones not in service (875-877, 879, 999) are absent.
 */
static const uint16_t CountryCodes[] = {
	1, 7,
	20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46, 47, 48, 49,
	51, 52, 53, 54, 55, 56, 57, 58, 60, 61, 62, 63, 64, 65, 66,
	81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98,
	211, 212, 213, 216, 218,
	220, 221, 222, 223, 224, 225, 226, 227, 228, 229,
	230, 231, 232, 233, 234, 235, 236, 237, 238, 239,
	240, 241, 242, 243, 244, 245, 246, 247, 248, 249,
	250, 251, 252, 253, 254, 255, 256, 257, 258,
	260, 261, 262, 263, 264, 265, 266, 267, 268, 269,
	290, 291, 297, 298, 299,
	350, 351, 352, 353, 354, 355, 356, 357, 358, 359,
	370, 371, 372, 373, 374, 375, 376, 377, 378, 379,
	380, 381, 382, 383, 385, 386, 387, 388, 389,
	420, 421, 423,
	500, 501, 502, 503, 504, 505, 506, 507, 508, 509,
	590, 591, 592, 593, 594, 595, 596, 597, 598, 599,
	670, 672, 673, 674, 675, 676, 677, 678, 679,
	680, 681, 682, 683, 685, 686, 687, 688, 689,
	690, 691, 692,
	800, 808,
	850, 852, 853, 855, 856,
	870, 878, 880, 881, 882, 883, 886, 888,
	960, 961, 962, 963, 964, 965, 966, 967, 968,
	970, 971, 972, 973, 974, 975, 976, 977, 979,
	991, 992, 993, 994, 995, 996, 998
};

#define N_COUNTRY_CODES (sizeof(CountryCodes) / sizeof(CountryCodes[0]))

/*
 * A default country: ISO 3166-1 alpha-2 code, calling code, and national
 * trunk prefix ("" for none; alternatives separated by '|', tried in order,
 * e.g. Belarus writes "8 029 ..." as well as "029 ...").
 */
typedef struct DefaultCountry
{
	char		iso[3];
	uint16_t	cc;
	const char *trunk;
} DefaultCountry;

/* Sorted by iso (binary search); the unit test checks the order. */
static const DefaultCountry DefaultCountries[] = {
	{"AC", 247, ""},			/* Ascension (ISO exceptionally reserved) */
	{"AD", 376, ""},
	{"AE", 971, "0"},
	{"AF", 93, "0"},
	{"AG", 1, "1"},
	{"AI", 1, "1"},
	{"AL", 355, "0"},
	{"AM", 374, "0"},
	{"AO", 244, ""},
	{"AQ", 672, ""},
	{"AR", 54, "0"},
	{"AS", 1, "1"},
	{"AT", 43, "0"},
	{"AU", 61, "0"},
	{"AW", 297, ""},
	{"AX", 358, "0"},
	{"AZ", 994, "0"},
	{"BA", 387, "0"},
	{"BB", 1, "1"},
	{"BD", 880, "0"},
	{"BE", 32, "0"},
	{"BF", 226, ""},
	{"BG", 359, "0"},
	{"BH", 973, ""},
	{"BI", 257, ""},
	{"BJ", 229, ""},
	{"BL", 590, "0"},
	{"BM", 1, "1"},
	{"BN", 673, ""},
	{"BO", 591, "0"},
	{"BQ", 599, ""},
	{"BR", 55, "0"},
	{"BS", 1, "1"},
	{"BT", 975, ""},
	{"BW", 267, ""},
	{"BY", 375, "80|8|0"},
	{"BZ", 501, ""},
	{"CA", 1, "1"},
	{"CC", 61, "0"},
	{"CD", 243, "0"},
	{"CF", 236, ""},
	{"CG", 242, ""},
	{"CH", 41, "0"},
	{"CI", 225, ""},
	{"CK", 682, ""},
	{"CL", 56, ""},
	{"CM", 237, ""},
	{"CN", 86, "0"},
	{"CO", 57, "0"},
	{"CR", 506, ""},
	{"CU", 53, "0"},
	{"CV", 238, ""},
	{"CW", 599, ""},
	{"CX", 61, "0"},
	{"CY", 357, ""},
	{"CZ", 420, ""},
	{"DE", 49, "0"},
	{"DJ", 253, ""},
	{"DK", 45, ""},
	{"DM", 1, "1"},
	{"DO", 1, "1"},
	{"DZ", 213, "0"},
	{"EC", 593, "0"},
	{"EE", 372, ""},
	{"EG", 20, "0"},
	{"EH", 212, "0"},
	{"ER", 291, "0"},
	{"ES", 34, ""},
	{"ET", 251, "0"},
	{"FI", 358, "0"},
	{"FJ", 679, ""},
	{"FK", 500, ""},
	{"FM", 691, ""},
	{"FO", 298, ""},
	{"FR", 33, "0"},
	{"GA", 241, ""},
	{"GB", 44, "0"},
	{"GD", 1, "1"},
	{"GE", 995, "0"},
	{"GF", 594, "0"},
	{"GG", 44, "0"},
	{"GH", 233, "0"},
	{"GI", 350, ""},
	{"GL", 299, ""},
	{"GM", 220, ""},
	{"GN", 224, ""},
	{"GP", 590, "0"},
	{"GQ", 240, ""},
	{"GR", 30, ""},
	{"GS", 500, ""},
	{"GT", 502, ""},
	{"GU", 1, "1"},
	{"GW", 245, ""},
	{"GY", 592, ""},
	{"HK", 852, ""},
	{"HN", 504, ""},
	{"HR", 385, "0"},
	{"HT", 509, ""},
	{"HU", 36, "06"},
	{"ID", 62, "0"},
	{"IE", 353, "0"},
	{"IL", 972, "0"},
	{"IM", 44, "0"},
	{"IN", 91, "0"},
	{"IO", 246, ""},
	{"IQ", 964, "0"},
	{"IR", 98, "0"},
	{"IS", 354, ""},
	{"IT", 39, ""},				/* the leading 0 is part of the NSN */
	{"JE", 44, "0"},
	{"JM", 1, "1"},
	{"JO", 962, "0"},
	{"JP", 81, "0"},
	{"KE", 254, "0"},
	{"KG", 996, "0"},
	{"KH", 855, "0"},
	{"KI", 686, "0"},
	{"KM", 269, ""},
	{"KN", 1, "1"},
	{"KP", 850, "0"},
	{"KR", 82, "0"},
	{"KW", 965, ""},
	{"KY", 1, "1"},
	{"KZ", 7, "8"},
	{"LA", 856, "0"},
	{"LB", 961, "0"},
	{"LC", 1, "1"},
	{"LI", 423, "0"},
	{"LK", 94, "0"},
	{"LR", 231, "0"},
	{"LS", 266, ""},
	{"LT", 370, "0|8"},			/* moving from 8 to 0 */
	{"LU", 352, ""},
	{"LV", 371, ""},
	{"LY", 218, "0"},
	{"MA", 212, "0"},
	{"MC", 377, "0"},
	{"MD", 373, "0"},
	{"ME", 382, "0"},
	{"MF", 590, "0"},
	{"MG", 261, "0"},
	{"MH", 692, "1"},
	{"MK", 389, "0"},
	{"ML", 223, ""},
	{"MM", 95, "0"},
	{"MN", 976, "0"},
	{"MO", 853, ""},
	{"MP", 1, "1"},
	{"MQ", 596, "0"},
	{"MR", 222, ""},
	{"MS", 1, "1"},
	{"MT", 356, ""},
	{"MU", 230, ""},
	{"MV", 960, ""},
	{"MW", 265, "0"},
	{"MX", 52, ""},
	{"MY", 60, "0"},
	{"MZ", 258, ""},
	{"NA", 264, "0"},
	{"NC", 687, ""},
	{"NE", 227, ""},
	{"NF", 672, ""},
	{"NG", 234, "0"},
	{"NI", 505, ""},
	{"NL", 31, "0"},
	{"NO", 47, ""},
	{"NP", 977, "0"},
	{"NR", 674, ""},
	{"NU", 683, ""},
	{"NZ", 64, "0"},
	{"OM", 968, ""},
	{"PA", 507, ""},
	{"PE", 51, "0"},
	{"PF", 689, ""},
	{"PG", 675, ""},
	{"PH", 63, "0"},
	{"PK", 92, "0"},
	{"PL", 48, ""},
	{"PM", 508, "0"},
	{"PN", 64, ""},
	{"PR", 1, "1"},
	{"PS", 970, "0"},
	{"PT", 351, ""},
	{"PW", 680, ""},
	{"PY", 595, "0"},
	{"QA", 974, ""},
	{"RE", 262, "0"},
	{"RO", 40, "0"},
	{"RS", 381, "0"},
	{"RU", 7, "8"},
	{"RW", 250, "0"},
	{"SA", 966, "0"},
	{"SB", 677, ""},
	{"SC", 248, ""},
	{"SD", 249, "0"},
	{"SE", 46, "0"},
	{"SG", 65, ""},
	{"SH", 290, ""},
	{"SI", 386, "0"},
	{"SJ", 47, ""},
	{"SK", 421, "0"},
	{"SL", 232, "0"},
	{"SM", 378, ""},
	{"SN", 221, ""},
	{"SO", 252, "0"},
	{"SR", 597, ""},
	{"SS", 211, "0"},
	{"ST", 239, ""},
	{"SV", 503, ""},
	{"SX", 1, "1"},
	{"SY", 963, "0"},
	{"SZ", 268, ""},
	{"TA", 290, ""},			/* Tristan da Cunha (ISO exc. reserved) */
	{"TC", 1, "1"},
	{"TD", 235, ""},
	{"TF", 262, ""},
	{"TG", 228, ""},
	{"TH", 66, "0"},
	{"TJ", 992, ""},
	{"TK", 690, ""},
	{"TL", 670, ""},
	{"TM", 993, "8"},
	{"TN", 216, ""},
	{"TO", 676, ""},
	{"TR", 90, "0"},
	{"TT", 1, "1"},
	{"TV", 688, ""},
	{"TW", 886, "0"},
	{"TZ", 255, "0"},
	{"UA", 380, "0"},
	{"UG", 256, "0"},
	{"UM", 1, "1"},
	{"US", 1, "1"},
	{"UY", 598, "0"},
	{"UZ", 998, ""},
	{"VA", 39, ""},
	{"VC", 1, "1"},
	{"VE", 58, "0"},
	{"VG", 1, "1"},
	{"VI", 1, "1"},
	{"VN", 84, "0"},
	{"VU", 678, ""},
	{"WF", 681, ""},
	{"WS", 685, ""},
	{"XK", 383, "0"},			/* Kosovo (user-assigned, in common use) */
	{"YE", 967, "0"},
	{"YT", 262, "0"},
	{"ZA", 27, "0"},
	{"ZM", 260, "0"},
	{"ZW", 263, "0"}
};

#define N_DEFAULT_COUNTRIES \
	(sizeof(DefaultCountries) / sizeof(DefaultCountries[0]))

/*
 * Allowed NSN lengths (bit k set: k digits allowed) for numbering plans
 * whose lengths are certain.  Kept short on purpose.
 */
typedef struct NsnRule
{
	uint16_t	cc;
	uint16_t	lengths;
} NsnRule;

#define LEN(k)	((uint16_t) (1u << (k)))

static const NsnRule NsnRules[] = {
	{1, LEN(10)},				/* NANP: 3-digit area code + 7 digits */
	{45, LEN(8)},				/* Denmark: closed 8-digit plan */
	{47, LEN(5) | LEN(8) | LEN(12)},	/* Norway: 8; 5-digit service
										 * numbers; 12-digit M2M (58, 59) */
	{298, LEN(6)},				/* Faroe Islands */
	{299, LEN(6)}				/* Greenland */
};

#define N_NSN_RULES (sizeof(NsnRules) / sizeof(NsnRules[0]))

/*
 * CcAssigned
 *		Whether code (1..999) is an assigned country calling code.
 */
static bool
CcAssigned(unsigned int code)
{
	size_t		lo = 0;
	size_t		hi = N_COUNTRY_CODES;

	while (lo < hi)
	{
		size_t		mid = lo + (hi - lo) / 2;

		if (CountryCodes[mid] == code)
			return true;
		if (CountryCodes[mid] < code)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/*
 * CcDigits
 *		Number of decimal digits of a calling code (1..999).
 */
static int
CcDigits(unsigned int code)
{
	return code >= 100 ? 3 : (code >= 10 ? 2 : 1);
}

/*
 * IsCcPrefix
 *		Whether the n (< 3) digits could still grow into an assigned code,
 *		so that "+4" or "+35" is reported as too short rather than as an
 *		unknown country code.
 */
static bool
IsCcPrefix(const char *digits, size_t n)
{
	size_t		i;

	if (n == 0)
		return true;
	for (i = 0; i < N_COUNTRY_CODES; i++)
	{
		unsigned int code = CountryCodes[i];
		int			len = CcDigits(code);
		unsigned int head = code;
		unsigned int want = 0;
		size_t		k;

		if ((size_t) len <= n)
			continue;
		for (k = 0; k < (size_t) len - n; k++)
			head /= 10;
		for (k = 0; k < n; k++)
			want = want * 10 + (unsigned int) (digits[k] - '0');
		if (head == want)
			return true;
	}
	return false;
}

/*
 * FindDefaultCountry
 *		Look up an ISO 3166-1 alpha-2 code, case-insensitively; NULL if it is
 *		not exactly two letters of a known country.
 */
static const DefaultCountry *last_found = NULL;

static const DefaultCountry *
FindDefaultCountry(const char *iso)
{
	char		key[3];
	size_t		lo = 0;
	size_t		hi = N_DEFAULT_COUNTRIES;
	int			i;

	for (i = 0; i < 2; i++)
	{
		char		c = iso[i];

		if (c >= 'a' && c <= 'z')
			c = (char) (c - 'a' + 'A');
		if (c < 'A' || c > 'Z')
			return NULL;		/* also catches a string shorter than 2 */
		key[i] = c;
	}
	if (iso[2] != '\0')
		return NULL;
	key[2] = '\0';

	/*
	 * Bulk loads normalize millions of numbers with one default country:
	 * remember the last one found (the tables are constant, so a stale
	 * entry is impossible).
	 */
	if (last_found != NULL && last_found->iso[0] == key[0] && last_found->iso[1] == key[1])
		return last_found;

	while (lo < hi)
	{
		size_t		mid = lo + (hi - lo) / 2;
		int			cmp = memcmp(DefaultCountries[mid].iso, key, 2);

		if (cmp == 0)
		{
			last_found = &DefaultCountries[mid];
			return last_found;
		}
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * StripTrunk
 *		Length of the trunk prefix alternative that digits[0..n) starts with
 *		(the first that matches, in table order), or 0.
 */
static size_t
StripTrunk(const char *trunk, const char *digits, size_t n)
{
	const char *alt = trunk;

	while (*alt != '\0')
	{
		size_t		len = strcspn(alt, "|");

		if (len > 0 && len <= n && memcmp(alt, digits, len) == 0)
			return len;
		alt += len;
		if (*alt == '|')
			alt++;
	}
	return 0;
}

/*
 * CcHasTrunkZero
 *		Whether a country under calling code cc dials a trunk prefix "0".
 *		Only there is a "(0)" after the country code the trunk prefix; in
 *		Italy, say, the 0 belongs to the number and must stay.
 */
static bool
CcHasTrunkZero(unsigned int cc)
{
	size_t		i;

	for (i = 0; i < N_DEFAULT_COUNTRIES; i++)
	{
		const char *alt = DefaultCountries[i].trunk;

		if (DefaultCountries[i].cc != cc)
			continue;
		while (*alt != '\0')
		{
			size_t		len = strcspn(alt, "|");

			if (len == 1 && alt[0] == '0')
				return true;
			alt += len;
			if (*alt == '|')
				alt++;
		}
	}
	return false;
}

/*
 * CheckNsnLength
 *		Apply the general minimum and any per-plan length rule to an NSN of
 *		nsn digits under calling code cc.
 *
 * When a plan allows several lengths and nsn falls between two of them, the
 * status names the nearer one (too long if it is nearer the shorter
 * length), since a typo usually adds or drops a single digit.
 */
static PgpE164Status
CheckNsnLength(unsigned int cc, size_t nsn)
{
	size_t		i;

	if (nsn < E164_MIN_NSN)
		return PGP_E164_TOO_SHORT;

	for (i = 0; i < N_NSN_RULES; i++)
	{
		uint16_t	mask;
		size_t		below;
		size_t		above;

		if (NsnRules[i].cc != cc)
			continue;
		mask = NsnRules[i].lengths;
		if (nsn < 16 && (mask & LEN(nsn)))
			return PGP_E164_OK;
		for (below = nsn; below > 0 && !(mask & LEN(below)); below--)
			;
		for (above = nsn; above < 16 && !(mask & LEN(above)); above++)
			;
		if (below == 0)
			return PGP_E164_TOO_SHORT;
		if (above >= 16)
			return PGP_E164_TOO_LONG;
		return (nsn - below < above - nsn) ?
			PGP_E164_TOO_LONG : PGP_E164_TOO_SHORT;
	}
	return PGP_E164_OK;
}

/*
 * pgp_e164_cc_len
 *		Length (1..3) of the assigned calling code that digits starts with,
 *		or 0.  Because the codes are prefix-free the first match is the
 *		only one.
 */
int
pgp_e164_cc_len(const char *digits, size_t n)
{
	unsigned int code = 0;
	size_t		k;

	if (digits == NULL || n == 0 || digits[0] < '1' || digits[0] > '9')
		return 0;
	for (k = 0; k < 3 && k < n; k++)
	{
		if (digits[k] < '0' || digits[k] > '9')
			return 0;
		code = code * 10 + (unsigned int) (digits[k] - '0');
		if (CcAssigned(code))
			return (int) k + 1;
	}
	return 0;
}

/*
 * IsTrimSpace
 *		White space that is ignored at either end of the input.
 */
static inline bool
IsTrimSpace(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		c == '\v' || c == '\f';
}

/*
 * IsSeparator
 *		Characters allowed between digits.
 */
static inline bool
IsSeparator(char c)
{
	return c == ' ' || c == '\t' || c == '-' || c == '.' ||
		c == '(' || c == ')' || c == '/';
}

/*
 * pgp_e164_normalize
 *		Normalize raw[0..len) to "+<cc><nsn>" in res->number (see the file
 *		header for the accepted forms).
 *
 * The input is scanned once, left to right; the first bad character or
 * misplaced '+' wins.  Then the form is decided, the calling code found or
 * taken from the default country, and the lengths checked.  On any status
 * other than OK, res->number is "" and only err_pos may be set.  No byte
 * beyond raw[len - 1] is read and res->number is never overrun.
 */
PgpE164Status
pgp_e164_normalize(const char *raw, size_t len, const char *default_country,
				   PgpE164Result *res)
{
	const DefaultCountry *country = NULL;
	char		digits[E164_DIGIT_CAP];
	size_t		ndig = 0;		/* digits seen (may exceed the cap) */
	size_t		kept;			/* digits stored */
	bool		seen_plus = false;
	size_t		zero_group = SIZE_MAX;	/* digit index of a "(0)" */
	size_t		start = 0;
	size_t		end = len;
	size_t		i;
	size_t		p = 0;			/* digits of the international prefix */
	unsigned int cc;
	int			cc_len;
	size_t		nsn_off;		/* where the NSN starts in digits[] */
	size_t		nsn_len;
	size_t		total;
	PgpE164Status st;
	char	   *o;

	if (res == NULL)			/* caller bug; nothing to write into */
		return PGP_E164_EMPTY;
	memset(res, 0, sizeof(*res));
	if (raw == NULL)
		len = end = 0;

	if (default_country != NULL)
	{
		country = FindDefaultCountry(default_country);
		if (country == NULL)
			return PGP_E164_BAD_DEFAULT_COUNTRY;
	}

	while (start < end && IsTrimSpace(raw[start]))
		start++;
	while (end > start && IsTrimSpace(raw[end - 1]))
		end--;

	for (i = start; i < end; i++)
	{
		char		c = raw[i];

		if (c >= '0' && c <= '9')
		{
			if (ndig < E164_DIGIT_CAP)
				digits[ndig] = c;
			ndig++;
		}
		else if (c == '+')
		{
			if (seen_plus || ndig > 0)
			{
				res->err_pos = i + 1;
				return PGP_E164_MISPLACED_PLUS;
			}
			seen_plus = true;
		}
		else if (IsSeparator(c))
		{
			if (c == '(' && zero_group == SIZE_MAX && end - i >= 3 &&
				raw[i + 1] == '0' && raw[i + 2] == ')')
				zero_group = ndig;
		}
		else
		{
			res->err_pos = i + 1;
			return PGP_E164_BAD_CHAR;
		}
	}

	if (ndig == 0)
		return PGP_E164_EMPTY;
	kept = ndig < E164_DIGIT_CAP ? ndig : E164_DIGIT_CAP;

	/* Which form? */
	if (seen_plus)
		p = 0;
	else if (kept >= 2 && digits[0] == '0' && digits[1] == '0')
		p = 2;
	else if (country != NULL && country->cc == 1 && kept >= 3 &&
			 memcmp(digits, "011", 3) == 0)
		p = 3;
	else if (country == NULL)
		return PGP_E164_BAD_DEFAULT_COUNTRY;
	else
		p = SIZE_MAX;			/* national */

	if (p != SIZE_MAX)
	{
		/* International: the calling code comes from the digits. */
		cc_len = pgp_e164_cc_len(digits + p, kept - p);
		if (cc_len == 0)
		{
			if (ndig - p < 3 && IsCcPrefix(digits + p, kept - p))
				return PGP_E164_TOO_SHORT;
			return PGP_E164_UNKNOWN_COUNTRY_CODE;
		}
		cc = 0;
		for (i = 0; i < (size_t) cc_len; i++)
			cc = cc * 10 + (unsigned int) (digits[p + i] - '0');
		nsn_off = p + (size_t) cc_len;
		if (zero_group == nsn_off && nsn_off < kept && CcHasTrunkZero(cc))
			nsn_off++;			/* "+44 (0)20 ...": drop the trunk 0 */
		nsn_len = ndig - nsn_off;
	}
	else
	{
		/* National: strip the trunk prefix, take the default's code. */
		cc = country->cc;
		cc_len = CcDigits(cc);
		nsn_off = StripTrunk(country->trunk, digits, kept);
		nsn_len = ndig - nsn_off;
	}

	total = (size_t) cc_len + nsn_len;
	if (total > PGP_E164_MAX_DIGITS)
		return PGP_E164_TOO_LONG;
	st = CheckNsnLength(cc, nsn_len);
	if (st != PGP_E164_OK)
		return st;

	/* total <= 15, so every digit was kept and the buffer has room */
	o = res->number;
	*o++ = '+';
	for (i = (size_t) cc_len; i > 0; i--)
	{
		unsigned int div = (i == 3) ? 100 : (i == 2 ? 10 : 1);

		*o++ = (char) ('0' + (cc / div) % 10);
	}
	memcpy(o, digits + nsn_off, nsn_len);
	o[nsn_len] = '\0';
	res->cc_len = cc_len;
	res->ndigits = (int) total;
	return PGP_E164_OK;
}

/*
 * pgp_e164_status_text
 *		A short lower-case phrase for a status, to complete an error message
 *		about "the phone number".  Never includes the input itself.
 */
const char *
pgp_e164_status_text(PgpE164Status st)
{
	switch (st)
	{
		case PGP_E164_OK:
			return "is valid";
		case PGP_E164_EMPTY:
			return "contains no digits";
		case PGP_E164_BAD_CHAR:
			return "contains an invalid character";
		case PGP_E164_MISPLACED_PLUS:
			return "contains a \"+\" that is not at the start";
		case PGP_E164_UNKNOWN_COUNTRY_CODE:
			return "has a country calling code that is not assigned";
		case PGP_E164_BAD_DEFAULT_COUNTRY:
			return "needs a default country, and none or an unknown one was given";
		case PGP_E164_TOO_SHORT:
			return "is too short";
		case PGP_E164_TOO_LONG:
			return "is too long";
	}
	return "has an unknown problem";
}

/*
 * Principal country of a calling code shared by several ISO codes (the
 * one a country-level statistic should name); codes not listed here are
 * either unshared or not a country (global services such as +800, +881).
 */
static const struct
{
	uint16_t	cc;
	char		iso[3];
}			PrincipalCountries[] = {
	{1, "US"}, {7, "RU"}, {39, "IT"}, {44, "GB"}, {47, "NO"}, {61, "AU"},
	{212, "MA"}, {262, "RE"}, {290, "SH"}, {358, "FI"}, {590, "GP"},
	{599, "CW"}, {672, "NF"}
};

/*
 * pgp_e164_country_of
 *		The ISO 3166-1 alpha-2 code of the country the calling code at the
 *		start of digits belongs to, or NULL for a code of no country.
 */
const char *
pgp_e164_country_of(const char *digits, int cc_len)
{
	unsigned int cc = 0;
	size_t		i;
	const char *found = NULL;

	if (cc_len < 1 || cc_len > 3)
		return NULL;
	for (i = 0; i < (size_t) cc_len; i++)
	{
		if (digits[i] < '0' || digits[i] > '9')
			return NULL;
		cc = cc * 10 + (unsigned int) (digits[i] - '0');
	}
	for (i = 0; i < sizeof(PrincipalCountries) / sizeof(PrincipalCountries[0]); i++)
		if (PrincipalCountries[i].cc == cc)
			return PrincipalCountries[i].iso;
	for (i = 0; i < N_DEFAULT_COUNTRIES; i++)
	{
		if (DefaultCountries[i].cc == cc)
		{
			if (found == NULL)
				found = DefaultCountries[i].iso;
		}
	}
	return found;
}

/*
 * pgp_e164_country_known
 *		Non-zero when iso is a known ISO 3166-1 alpha-2 country code.
 */
int
pgp_e164_country_known(const char *iso)
{
	return FindDefaultCountry(iso) != NULL;
}
