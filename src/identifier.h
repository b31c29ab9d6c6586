/*-------------------------------------------------------------------------
 *
 * identifier.h
 *	  Identifier kinds and their normalization (src/identifier.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGP_IDENTIFIER_H
#define PGP_IDENTIFIER_H

#include "postgres.h"

#include "fmgr.h"

#include "e164.h"

/*
 * How values of an identifier kind are normalized
 * (privacy.identifier_kind.normalize).
 */
typedef enum PgpIdNorm
{
	PGP_ID_TEXT,				/* trimmed */
	PGP_ID_MSISDN,				/* E.164 */
	PGP_ID_EMAIL				/* trimmed, ASCII letters lower-cased, an '@' */
} PgpIdNorm;

/* pg_privacy.default_country: the one default country (upper case). */
extern char *pgp_default_country;

extern void pgp_identifier_define_gucs(void);

/* The normalization named name ("msisdn", "email", "text"), or 22023. */
extern PgpIdNorm pgp_identifier_norm_from_name(const char *name, int len);

/*
 * The normalization of the identifier kind named kind: the built-in kinds
 * are known, others are read from privacy.identifier_kind (SPI).  An
 * unknown kind raises 22023.
 */
extern PgpIdNorm pgp_identifier_kind_norm(const char *kind);

/*
 * value (len bytes) in the normal form of norm, national phone numbers
 * read as numbers of default_country (NULL: international forms only).
 * A value without a normal form raises 22P02 (never echoing the value),
 * or, with quiet, gives NULL.
 */
extern text *pgp_normalize_identifier(PgpIdNorm norm, const char *value, int len,
									  const char *default_country, bool quiet);

/* lookup_value(), also behind 0.1.0's _subject_key (compat.c) */
extern PGDLLEXPORT Datum pgp_lookup_value(PG_FUNCTION_ARGS);

/* the error of a phone number that does not normalize (never the number) */
extern void pgp_e164_error(PgpE164Status st, const PgpE164Result *res,
						   const char *default_country) pg_attribute_noreturn();
extern void pgp_normalize_or_error(const char *raw, int len,
								   const char *default_country,
								   PgpE164Result *res);

#endif							/* PGP_IDENTIFIER_H */
