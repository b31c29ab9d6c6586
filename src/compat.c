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
 * pgp_consent_forget_identity (src/consent.c), the erasure's hook for one
 * identifier up to 0.5.0, stays as an entry into the hook for all of them
 * (0.6.0).  Until the update, the library's erasure calls a function the
 * database does not have yet and stops with nothing erased (42883).
 *
 * In a database not updated to 0.10.0 yet, the restriction trigger
 * (subject.c) reads every old row with its period, as the older
 * _restrict_sql's query does, when _restrict_hits is missing; and the
 * erasure (engine.c, eng_fk_refused) tries the deletion of rows other
 * tables reference in a subtransaction when _subject_fk_checks is.
 *
 * The export reads its tables' descriptions with one statement and keeps
 * them per backend (0.7.0, _subject_tables_json); in a database not updated
 * yet it reads them through the older function per table, at every export
 * (engine.c, eng_table_descriptions).
 *
 * export_subject and erase_subject are C from 0.14.0 (rights.c,
 * pgp_export_subject, pgp_erase_subject): from then on the SQL functions
 * they call are part of what a later library must find in a database at
 * 0.14.0: _ledger_check(), _ledger_record with its six arguments,
 * _audit(event, object, detail), _audit_ref(kind, value).  A later version
 * that changes one of them keeps the older form callable, or has the
 * entry check which the database has.
 *
 * 0.16.0's privacy.rekey() converts a relation whole, through
 * _rekey_protected(rel, cols) (pgp_rekey_protected); 0.17.0 converts it in
 * batches (rekey.c, pgp_rekey_batch).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "compat.h"
#include "identifier.h"
#include "protect.h"

#include "catalog/namespace.h"
#include "fmgr.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

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

PG_FUNCTION_INFO_V1(pgp_rekey_protected);

/*
 * 0.16.0's _rekey_protected(rel, cols): convert the phone-number pseudonyms
 * of one relation whole, from its pending key to the current one.
 */
Datum
pgp_rekey_protected(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table and columns must not be null")));
	PG_RETURN_INT64((int64) pgp_protect_rekey_update(PG_GETARG_OID(0), PG_GETARG_ARRAYTYPE_P(1),
													 NULL, 0, NULL, NULL, false));
}
