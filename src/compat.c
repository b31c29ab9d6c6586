/*-------------------------------------------------------------------------
 *
 * compat.c
 *	  The 0.2.0 library under a database still at 0.1.0.
 *
 * Installing the 0.2.0 package replaces the library before ALTER
 * EXTENSION pg_privacy UPDATE runs, and CREATE EXTENSION pg_privacy
 * VERSION '0.1.0' installs the 0.1.0 script over it: every C symbol the
 * 0.1.0 script names exists in this library.  Most kept their arguments.
 * Those whose arguments changed in 0.2.0 check how many they were declared
 * with, and under the 0.1.0 declaration refuse (0A000) instead of reading
 * arguments that were never passed:
 *
 *	  pgp_subject_query			(sql text, params jsonb) in 0.1.0
 *	  pgp_analyze_grouped_query	(query text) in 0.1.0
 *
 * (pgp_transform reads its fourth argument only when it was declared.)
 *
 * Identifier normalization moved to identifier.c in 0.2.0; the 0.1.0
 * symbols stay as thin entries into it:
 *
 *	  pgp_identifier_normalize	_identifier_normalize(mode, value)
 *	  pgp_subject_key			_subject_key(mode, value, default_country)
 *	  pgp_identifier_key		(identifier.c) under two arguments: the setting
 * What 0.1.0 built on them (export, erasure and restriction of a data
 * subject, safe aggregates) works again after the update.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_privacy.h"

#include "fmgr.h"
#include "identifier.h"
#include "utils/builtins.h"

void
pgp_compat_check_nargs(FunctionCallInfo fcinfo, int nargs, const char *name)
{
	if (PG_NARGS() != nargs)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("function %s removed in 0.2.0; run ALTER EXTENSION pg_privacy UPDATE",
						name),
				 errdetail("The database's pg_privacy is at an older version than its library."),
				 errhint("Run ALTER EXTENSION pg_privacy UPDATE in this database.")));
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

PG_FUNCTION_INFO_V1(pgp_subject_key);

/* 0.1.0's _subject_key(mode, value, default_country): identifier_key. */
Datum
pgp_subject_key(PG_FUNCTION_ARGS)
{
	return pgp_identifier_key(fcinfo);
}
