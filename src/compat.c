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
 * What 0.1.0 built on them (export, erasure and restriction of a data
 * subject, safe aggregates) works again after the update.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_privacy.h"

#include "fmgr.h"

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
