/*-------------------------------------------------------------------------
 *
 * e164.h
 *	  E.164 phone number normalization for pg_privacy, in pure C.
 *
 * Turns what people type ("+45 20 12 34 56", "0045 20123456", "20123456"
 * with default country DK, "(030) 1234-567" with DE) into "+<digits>", and
 * tells where the country calling code ends.  Country calling codes come
 * from the ITU assignment list (a table, not a guess); default countries
 * are ISO 3166-1 alpha-2 codes mapped to their calling code and national
 * trunk prefix.  No PostgreSQL dependency: the backend maps the status to
 * an ereport() and the fuzz harness calls this directly.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGP_E164_H
#define PGP_E164_H

#include <stddef.h>

#define PGP_E164_MAX_DIGITS 15	/* E.164: at most 15 digits incl. the CC */
#define PGP_E164_BUFLEN		(PGP_E164_MAX_DIGITS + 2)	/* '+', digits, NUL */

typedef enum PgpE164Status
{
	PGP_E164_OK = 0,
	PGP_E164_EMPTY,				/* nothing but separators/whitespace */
	PGP_E164_BAD_CHAR,			/* a character that is not a digit or an
								 * allowed separator; *err_pos says where */
	PGP_E164_MISPLACED_PLUS,	/* '+' anywhere but first */
	PGP_E164_UNKNOWN_COUNTRY_CODE,	/* international form, CC not assigned */
	PGP_E164_BAD_DEFAULT_COUNTRY,	/* default country not a known ISO code */
	PGP_E164_TOO_SHORT,			/* subscriber part shorter than allowed */
	PGP_E164_TOO_LONG			/* more than 15 digits in all */
} PgpE164Status;

typedef struct PgpE164Result
{
	char		number[PGP_E164_BUFLEN];	/* "+4520123456", NUL-terminated */
	int			cc_len;			/* digits in the country calling code */
	int			ndigits;		/* digits in all (cc + subscriber part) */
	size_t		err_pos;		/* 1-based character position for
								 * BAD_CHAR/MISPLACED_PLUS, else 0 */
} PgpE164Result;

/*
 * Normalize raw (len bytes, need not be NUL-terminated) to E.164.
 * default_country is an ISO 3166-1 alpha-2 code (case-insensitive) or NULL
 * for "international forms only".
 */
extern PgpE164Status pgp_e164_normalize(const char *raw, size_t len,
										const char *default_country,
										PgpE164Result *res);

/*
 * Length (1..3) of the assigned country calling code at the start of the
 * digit string, or 0 when none is assigned.
 */
extern int	pgp_e164_cc_len(const char *digits, size_t n);

/*
 * The ISO 3166-1 alpha-2 code of the country a calling code belongs to
 * (for a shared code, its principal country: +1 US, +7 RU, +44 GB, ...),
 * or NULL when unassigned.  digits start with the calling code of length
 * cc_len.
 */
extern const char *pgp_e164_country_of(const char *digits, int cc_len);

/* True when iso (two upper-case letters) is a known country code. */
extern int	pgp_e164_country_known(const char *iso);

/* Text for a status, for error messages ("contains an invalid character"). */
extern const char *pgp_e164_status_text(PgpE164Status st);

#endif							/* PGP_E164_H */
