/*-------------------------------------------------------------------------
 *
 * compat.c
 *	  The library under a database still at an older version.
 *
 * Installing a new package replaces the library before ALTER EXTENSION
 * pg_privacy UPDATE runs, and CREATE EXTENSION pg_privacy VERSION '0.1.0'
 * (or '0.2.0') installs the older script over it: every C symbol an older
 * script names exists in this library.  Most kept their arguments.
 * Those whose arguments changed in 0.2.0 check how many they were declared
 * with, and under the 0.1.0 declaration refuse (0A000) instead of reading
 * arguments that were never passed:
 *
 *	  pgp_subject_query			(sql text, params jsonb) in 0.1.0
 *	  pgp_analyze_grouped_query	(query text) in 0.1.0
 *
 * (pgp_transform reads its fourth argument only when it was declared.)
 *
 * Identifier normalization moved to identifier.c in 0.3.0; the symbols
 * the 0.1.0 and 0.2.0 scripts name stay as thin entries into it:
 *
 *	  pgp_identifier_normalize	_identifier_normalize(mode, value)
 *	  pgp_subject_key			_subject_key(mode, value, default_country)
 *	  pgp_identifier_key		_identifier_key(mode, value): lookup_value
 *								(identifier.c) under the setting
 * What the older versions built on them (export, erasure and restriction
 * of a data subject, safe aggregates) works again after the update.
 *
 * Since 0.3.0 the internal helpers live in the schema privacy_internal;
 * a database still at 0.2.0 or 0.1.0 has them in privacy.  The statements
 * the library runs name them through pgp_internal_sql() and look them up
 * through pgp_internal_func(), which read them where this database has
 * them, so the protect, consent and restriction triggers and the event
 * triggers of an older database keep working until (and while) ALTER
 * EXTENSION pg_privacy UPDATE moves them.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_privacy.h"

#include "catalog/namespace.h"
#include "fmgr.h"
#include "identifier.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

#define INTERNAL_PREFIX "privacy_internal."

/*
 * Refuse unless the function was declared with nargs arguments.  The
 * message names the function as the database declares it (the schema of
 * its helpers changed in 0.3.0), else as name.
 */
void
pgp_compat_check_nargs(FunctionCallInfo fcinfo, int nargs, const char *name)
{
	if (PG_NARGS() != nargs)
	{
		Oid			fn = fcinfo->flinfo ? fcinfo->flinfo->fn_oid : InvalidOid;
		char	   *nsp = OidIsValid(fn) ? get_namespace_name(get_func_namespace(fn)) : NULL;
		char	   *fname = OidIsValid(fn) ? get_func_name(fn) : NULL;

		if (nsp != NULL && fname != NULL)
			name = quote_qualified_identifier(nsp, fname);
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("function %s removed in 0.2.0; run ALTER EXTENSION pg_privacy UPDATE",
						name),
				 errdetail("The database's pg_privacy is at an older version than its library."),
				 errhint("Run ALTER EXTENSION pg_privacy UPDATE in this database.")));
	}
}

/*
 * sql as this database needs it: every privacy_internal.name read as
 * privacy.name while the schema privacy_internal does not exist (a
 * database at 0.2.0 or older).  Returns sql itself or a palloc'd copy.
 */
const char *
pgp_internal_sql(const char *sql)
{
	StringInfoData buf;
	const char *p;
	const char *hit;

	if (strstr(sql, INTERNAL_PREFIX) == NULL ||
		OidIsValid(get_namespace_oid("privacy_internal", true)))
		return sql;
	initStringInfo(&buf);
	for (p = sql; (hit = strstr(p, INTERNAL_PREFIX)) != NULL; p = hit + strlen(INTERNAL_PREFIX))
	{
		appendBinaryStringInfo(&buf, p, hit - p);
		appendStringInfoString(&buf, "privacy.");
	}
	appendStringInfoString(&buf, p);
	return buf.data;
}

/*
 * The OID of the internal helper name(argtypes): in privacy_internal, or
 * in privacy in a database whose update has not moved it yet.  Only the
 * extension owner creates objects in either schema.
 */
Oid
pgp_internal_func(const char *name, int nargs, const Oid *argtypes)
{
	Oid			fn = InvalidOid;

	if (OidIsValid(get_namespace_oid("privacy_internal", true)))
		fn = LookupFuncName(list_make2(makeString("privacy_internal"), makeString(pstrdup(name))),
							nargs, argtypes, true);
	if (!OidIsValid(fn))
		fn = LookupFuncName(list_make2(makeString("privacy"), makeString(pstrdup(name))),
							nargs, argtypes, false);
	return fn;
}

PG_FUNCTION_INFO_V1(pgp_identifier_normalize);

/* 0.1.0's _identifier_normalize(mode, value): the normal form or an error. */
Datum
pgp_identifier_normalize(PG_FUNCTION_ARGS)
{
	text	   *mode;
	text	   *value;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	mode = PG_GETARG_TEXT_PP(0);
	value = PG_GETARG_TEXT_PP(1);
	PG_RETURN_TEXT_P(pgp_normalize_identifier(pgp_identifier_norm_from_name(VARDATA_ANY(mode),
																			 VARSIZE_ANY_EXHDR(mode)),
											  VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value),
											  pgp_default_country, false));
}

PG_FUNCTION_INFO_V1(pgp_identifier_key);

/* 0.1.0's and 0.2.0's _identifier_key(mode, value): lookup_value. */
Datum
pgp_identifier_key(PG_FUNCTION_ARGS)
{
	return pgp_lookup_value(fcinfo);
}

PG_FUNCTION_INFO_V1(pgp_subject_key);

/* 0.1.0's _subject_key(mode, value, default_country): lookup_value. */
Datum
pgp_subject_key(PG_FUNCTION_ARGS)
{
	return pgp_lookup_value(fcinfo);
}
