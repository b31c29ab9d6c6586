/*-------------------------------------------------------------------------
 *
 * identifier.c
 *	  Identifier kinds and their normalization: the one place that knows
 *	  how a data subject's identifier is written in normal form.
 *
 * A data subject is reached by (kind, value) pairs.  Each kind
 * (privacy.identifier_kind) names one of three normalizations:
 *
 *	  msisdn	E.164 ("+<country code><number>") by the E.164 parser
 *				(e164.c); a national number is read as a number of the
 *				default country
 *	  email		surrounding ASCII white space (space, tab, CR, LF, FF, VT)
 *				removed, the ASCII letters A-Z lower-cased and every other
 *				byte kept as it is; it must contain an "@".  The rule does
 *				not depend on the database's locale or collation: 'İ', 'ß'
 *				or 'Ä' stay what they are, so a key computed under one
 *				locale is the key under every other
 *	  text		surrounding ASCII white space removed; it must not be blank
 *
 * The default country is one setting, pg_privacy.default_country (defined
 * here).  Stored references (holds, consent, restrictions, audit
 * references) hold the normal form computed when they were written, so a
 * later change of the setting does not change what they refer to.
 *
 * SQL:
 *	  privacy.lookup_value(normalization, value, default_country)
 *				the normal form or NULL, IMMUTABLE (the country is an
 *				argument): the lookup value every statement that searches a
 *				column of identifiers as people typed them uses, and the
 *				expression of the index that serves them all
 *	  privacy_internal._identifier_normalize(kind, value)
 *				the normal form of a kind's value under the setting, or an
 *				error: what the API functions store and look for
 *	  privacy_internal._default_country()
 *				the setting, for SQL that inlines it into the lookup value
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "identifier.h"
#include "e164.h"
#include "owner.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/guc.h"

char	   *pgp_default_country = NULL;

/*
 * GUC check hook: pg_privacy.default_country must be a known ISO 3166-1
 * alpha-2 code (any case); it is stored upper-cased.
 */
static bool
check_default_country(char **newval, void **extra, GucSource source)
{
	char		iso[3];

	if (*newval == NULL || strlen(*newval) != 2)
	{
		GUC_check_errdetail("A default country is a two-letter ISO 3166-1 code such as DK.");
		return false;
	}
	iso[0] = pg_ascii_toupper((unsigned char) (*newval)[0]);
	iso[1] = pg_ascii_toupper((unsigned char) (*newval)[1]);
	iso[2] = '\0';
	if (!pgp_e164_country_known(iso))
	{
		GUC_check_errdetail("\"%s\" is not a known ISO 3166-1 alpha-2 country code.", *newval);
		return false;
	}
	(*newval)[0] = iso[0];
	(*newval)[1] = iso[1];
	return true;
}

/*
 * Define pg_privacy.default_country.  Called from _PG_init.
 */
void
pgp_identifier_define_gucs(void)
{
	DefineCustomStringVariable("pg_privacy.default_country",
							   "Country (ISO 3166-1 alpha-2) of phone numbers written without a country code.",
							   "Used wherever pg_privacy normalizes an identifier without an explicit country.",
							   &pgp_default_country,
							   "DK",
							   PGC_USERSET,
							   0,
							   check_default_country, NULL, NULL);
}

static inline bool
is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/*
 * The normalization named name (len bytes): msisdn, email or text.
 */
PgpIdNorm
pgp_identifier_norm_from_name(const char *name, int len)
{
	if (len == 6 && memcmp(name, "msisdn", 6) == 0)
		return PGP_ID_MSISDN;
	if (len == 5 && memcmp(name, "email", 5) == 0)
		return PGP_ID_EMAIL;
	if (len == 4 && memcmp(name, "text", 4) == 0)
		return PGP_ID_TEXT;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errhidestmt(true),	/* the statement may name a subject */
			 errmsg("unknown identifier normalization \"%s\"", pnstrdup(name, len)),
			 errdetail("An identifier kind is normalized as msisdn, email or text (privacy.identifier_kind.normalize)."),
			 errhint("Use msisdn, email or text.")));
	return PGP_ID_TEXT;			/* keep compiler quiet */
}

/*
 * The normalization of the identifier kind named kind.  The built-in kinds
 * are known; others are read from privacy.identifier_kind.
 */
PgpIdNorm
pgp_identifier_kind_norm(const char *kind)
{
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	char	   *norm;
	char	   *kinds;
	PgpIdNorm	result;

	if (strcmp(kind, "msisdn") == 0)
		return PGP_ID_MSISDN;
	if (strcmp(kind, "email") == 0)
		return PGP_ID_EMAIL;
	if (strcmp(kind, "customer") == 0 || strcmp(kind, "cvr") == 0)
		return PGP_ID_TEXT;
	values[0] = CStringGetTextDatum(kind);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	pgp_catalog_select("SELECT (SELECT k.normalize FROM privacy.identifier_kind k"
					   "         WHERE k.name OPERATOR(pg_catalog.=) $1),"
					   "       (SELECT pg_catalog.string_agg(k.name, ', ' ORDER BY k.name)"
					   "          FROM privacy.identifier_kind k)",
					   1, argtypes, values);
	norm = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (norm == NULL)
	{
		kinds = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errhidestmt(true),	/* the statement may name a subject */
				 errmsg("unknown identifier kind \"%s\"", kind),
				 kinds ? errhint("Use one of: %s.", kinds) : 0));
	}
	result = pgp_identifier_norm_from_name(norm, strlen(norm));
	SPI_finish();
	return result;
}

/*
 * value in the normal form of norm (see the file header), or NULL (quiet)
 * or an error when it has none.
 */
text *
pgp_normalize_identifier(PgpIdNorm norm, const char *s, int len,
						 const char *default_country, bool quiet)
{
	int			b = 0;
	int			e = len;

	if (norm == PGP_ID_MSISDN)
	{
		PgpE164Result res;
		PgpE164Status st = pgp_e164_normalize(s, len, default_country, &res);

		if (st != PGP_E164_OK)
		{
			if (quiet)
				return NULL;
			pgp_e164_error(st, &res, default_country);
		}
		return cstring_to_text_with_len(res.number, res.ndigits + 1);
	}

	while (b < e && is_space(s[b]))
		b++;
	while (e > b && is_space(s[e - 1]))
		e--;

	if (norm == PGP_ID_EMAIL)
	{
		text	   *out;
		char	   *d;
		bool		has_at = false;
		int			i;

		for (i = b; i < e; i++)
			if (s[i] == '@')
				has_at = true;
		if (!has_at)
		{
			if (quiet)
				return NULL;
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errhidestmt(true),
					 errmsg("invalid e-mail address"),
					 errdetail(b == e ? "The address is blank." : "The address has no \"@\".")));
		}
		out = (text *) palloc(VARHDRSZ + e - b);
		SET_VARSIZE(out, VARHDRSZ + e - b);
		d = VARDATA(out);
		for (i = b; i < e; i++)
			*d++ = pg_ascii_tolower((unsigned char) s[i]);
		return out;
	}

	if (b == e)
	{
		if (quiet)
			return NULL;
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errhidestmt(true),
				 errmsg("invalid identifier"),
				 errdetail("The identifier is blank.")));
	}
	return cstring_to_text_with_len(s + b, e - b);
}

PG_FUNCTION_INFO_V1(pgp_lookup_value);

/*
 * lookup_value(normalization, value, default_country): the normal form
 * of value, or NULL when it has none (so an index over a column of dirty
 * data can be built).  A NULL default_country reads international forms
 * only.  IMMUTABLE: nothing but its arguments decides the result.
 */
Datum
pgp_lookup_value(PG_FUNCTION_ARGS)
{
	text	   *normname;
	text	   *value;
	char	   *country = NULL;
	PgpIdNorm	norm;
	text	   *result;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	normname = PG_GETARG_TEXT_PP(0);
	value = PG_GETARG_TEXT_PP(1);
	norm = pgp_identifier_norm_from_name(VARDATA_ANY(normname), VARSIZE_ANY_EXHDR(normname));
	if (PG_NARGS() < 3)
		country = pgp_default_country;	/* 0.1.0's and 0.2.0's _identifier_key(mode, value) */
	else if (!PG_ARGISNULL(2))
	{
		text	   *c = PG_GETARG_TEXT_PP(2);
		char		iso[3];

		if (VARSIZE_ANY_EXHDR(c) != 2 ||
			(iso[0] = pg_ascii_toupper((unsigned char) VARDATA_ANY(c)[0]),
			 iso[1] = pg_ascii_toupper((unsigned char) VARDATA_ANY(c)[1]),
			 iso[2] = '\0',
			 !pgp_e164_country_known(iso)))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errhidestmt(true),	/* the statement may name a subject */
					 errmsg("unknown default country \"%s\"", text_to_cstring(c)),
					 errhint("Use an ISO 3166-1 alpha-2 country code such as 'DK', or NULL for international forms only.")));
		country = pstrdup(iso);
	}
	result = pgp_normalize_identifier(norm, VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value),
									  country, true);
	if (result == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(result);
}

PG_FUNCTION_INFO_V1(pgp_identifier_normalize_kind);

/*
 * _identifier_normalize(kind, value): value in its kind's normal form
 * under pg_privacy.default_country; 22023 for an unknown kind, 22P02 for
 * a value without a normal form.
 */
Datum
pgp_identifier_normalize_kind(PG_FUNCTION_ARGS)
{
	text	   *value;
	PgpIdNorm	norm;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errhidestmt(true),	/* the statement may name a subject */
				 errmsg("identifier kind and value must not be null")));
	norm = pgp_identifier_kind_norm(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	value = PG_GETARG_TEXT_PP(1);
	PG_RETURN_TEXT_P(pgp_normalize_identifier(norm, VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value),
											  pgp_default_country, false));
}

PG_FUNCTION_INFO_V1(pgp_identifier_default_country);

/* _default_country(): pg_privacy.default_country. */
Datum
pgp_identifier_default_country(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(cstring_to_text(pgp_default_country));
}

/*
 * Raise the error for a phone number that does not normalize.  The detail
 * says what is wrong and where, never the number itself.
 */
void
pgp_e164_error(PgpE164Status st, const PgpE164Result *res,
			   const char *default_country)
{
	if (st == PGP_E164_BAD_DEFAULT_COUNTRY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errhidestmt(true),
				 default_country ?
				 errmsg("unknown default country \"%s\"", default_country) :
				 errmsg("phone number has no country code and no default country is given"),
				 errhint("Use an ISO 3166-1 alpha-2 country code such as 'DK', or write the number with + and its country code.")));
	if (st == PGP_E164_BAD_CHAR || st == PGP_E164_MISPLACED_PLUS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errhidestmt(true),
				 errmsg("invalid phone number"),
				 errdetail("The number %s at position %zu.",
						   pgp_e164_status_text(st), res->err_pos),
				 errhint("A phone number holds digits, an optional leading +, and spaces, dashes, dots, slashes or parentheses.")));
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errhidestmt(true),
			 errmsg("invalid phone number"),
			 errdetail("The number %s.", pgp_e164_status_text(st))));
}

/*
 * Normalize or raise.
 */
void
pgp_normalize_or_error(const char *raw, int len, const char *default_country,
					   PgpE164Result *res)
{
	PgpE164Status st = pgp_e164_normalize(raw, len, default_country, res);

	if (st != PGP_E164_OK)
		pgp_e164_error(st, res, default_country);
}
