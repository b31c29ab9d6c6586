/*-------------------------------------------------------------------------
 *
 * retention.c
 *	  Running a purge statement as the owner of the table it touches.
 *
 * The purge (src/sql/55_purge.sql) is written in PL/pgSQL: it reads
 * the policies and holds, builds each DELETE, UPDATE or DROP with quoted
 * identifiers, and passes every value as a parameter.  The statement itself
 * is run here through pgp_owner_run (src/owner.c, the one way pg_privacy
 * acts as a table's owner), in a security-restricted operation
 * with search_path pinned to pg_catalog, pg_temp: the way PostgreSQL's own
 * maintenance commands (VACUUM, ANALYZE, REFRESH MATERIALIZED VIEW) act on
 * a table.  pg_cron runs the nightly purge as a superuser; a trigger, a
 * default or an index expression the table's owner planted therefore runs
 * with the owner's rights only, and cannot change role or leave settings
 * behind.
 *
 * Values reach the statement as text parameters ($1, $2, ...), never as
 * literals in its text, so identifiers under a legal hold do not show up
 * in an error context in the server log.  A lock_timeout is set for the
 * statement only (restored afterwards, also on error), so a purge that
 * waits for a lock gives up instead of queueing the application's writers
 * behind it; the caller retries.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "owner.h"

#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

/*
 * Run sql with the text parameters in args as the owner of relid, in a
 * security-restricted operation with a safe search_path and, when
 * lock_timeout_ms > 0, that lock_timeout.  With want_value, return the
 * first column of the first row as text in *value (NULL when there is no
 * row or the value is NULL).  Returns the number of rows processed.
 */
static uint64
run_as_owner(Oid relid, text *sql, ArrayType *args, int32 lock_timeout_ms,
			 bool want_value, text **value, bool *value_null)
{
	Datum	   *elems = NULL;
	bool	   *elemnulls = NULL;
	int			nargs = 0;
	Oid		   *argtypes = NULL;
	char	   *nulls = NULL;
	int			i;
	Datum		result = (Datum) 0;
	bool		isnull = true;
	uint64		processed;

	if (args != NULL)
	{
		if (ARR_NDIM(args) > 1)
			ereport(ERROR,
					(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
					 errmsg("statement parameters must be a one-dimensional array")));
		deconstruct_array(args, TEXTOID, -1, false, TYPALIGN_INT,
						  &elems, &elemnulls, &nargs);
	}
	if (nargs > 0)
	{
		argtypes = palloc(sizeof(Oid) * nargs);
		nulls = palloc(sizeof(char) * nargs);
		for (i = 0; i < nargs; i++)
		{
			argtypes[i] = TEXTOID;
			nulls[i] = elemnulls[i] ? 'n' : ' ';
		}
	}

	/* the statements hold per-run literals (names, times): not kept */
	processed = pgp_owner_run(relid, text_to_cstring(sql), nargs, argtypes,
							  elems, nulls,
							  want_value ? PGP_RUN_QUERY : PGP_RUN_EXEC,
							  lock_timeout_ms, InvalidOid,
							  &result, &isnull, NULL, NULL);
	if (want_value)
	{
		*value_null = isnull;
		if (!isnull)
			*value = DatumGetTextPP(result);
	}
	return processed;
}

PG_FUNCTION_INFO_V1(pgp_owner_exec);

/*
 * _owner_exec(tbl, sql, args, lock_timeout_ms): run a purge statement
 * (DELETE, UPDATE, DROP) as the owner of tbl; returns the rows processed.
 */
Datum
pgp_owner_exec(PG_FUNCTION_ARGS)
{
	Oid			relid;
	int32		timeout;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table and statement must not be null")));
	relid = PG_GETARG_OID(0);
	timeout = PG_ARGISNULL(3) ? 0 : PG_GETARG_INT32(3);
	PG_RETURN_INT64((int64) run_as_owner(relid, PG_GETARG_TEXT_PP(1),
										 PG_ARGISNULL(2) ? NULL : PG_GETARG_ARRAYTYPE_P(2),
										 timeout, false, NULL, NULL));
}

PG_FUNCTION_INFO_V1(pgp_owner_query);

/*
 * _owner_query(tbl, sql, args, lock_timeout_ms): run a query as the owner
 * of tbl and return the first column of its first row as text (NULL when
 * there is none).  Used for the counts of a dry run, the batch boundaries
 * and the checks whether a partition holds rows under a hold.
 */
Datum
pgp_owner_query(PG_FUNCTION_ARGS)
{
	Oid			relid;
	int32		timeout;
	text	   *value = NULL;
	bool		isnull = true;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table and query must not be null")));
	relid = PG_GETARG_OID(0);
	timeout = (PG_NARGS() > 3 && !PG_ARGISNULL(3)) ? PG_GETARG_INT32(3) : 0;
	(void) run_as_owner(relid, PG_GETARG_TEXT_PP(1),
						PG_ARGISNULL(2) ? NULL : PG_GETARG_ARRAYTYPE_P(2),
						timeout, true, &value, &isnull);
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(value);
}

PG_FUNCTION_INFO_V1(pgp_lock_nowait);

/*
 * _lock_nowait(rels): lock each relation in ACCESS EXCLUSIVE mode, in the
 * order given, without ever waiting in a lock queue.  A purge dropping a
 * partition takes the partition first and its parent last this way, so the
 * application's writers (whose INSERTs lock the parent) never queue behind
 * a purge that is itself waiting.  Raises lock_not_available at the first
 * relation another session holds; the caller's subtransaction then gives
 * the locks already taken back.  No user code runs and nothing is read,
 * so no privilege on the relations is needed (the function is internal).
 */
Datum
pgp_lock_nowait(PG_FUNCTION_ARGS)
{
	ArrayType  *rels = PG_GETARG_ARRAYTYPE_P(0);
	Datum	   *elems;
	bool	   *nulls;
	int			n;
	int			i;

	if (ARR_NDIM(rels) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("relations must be a one-dimensional array")));
	deconstruct_array(rels, REGCLASSOID, sizeof(Oid), true, TYPALIGN_INT,
					  &elems, &nulls, &n);
	for (i = 0; i < n; i++)
	{
		Oid			relid;

		if (nulls[i])
			continue;
		relid = DatumGetObjectId(elems[i]);
		if (!ConditionalLockRelationOid(relid, AccessExclusiveLock))
		{
			char	   *name = get_rel_name(relid);

			ereport(ERROR,
					(errcode(ERRCODE_LOCK_NOT_AVAILABLE),
					 errmsg("could not obtain lock on relation \"%s\"",
							name ? name : "(dropped)"),
					 errdetail("Another session uses it; the purge does not wait in its lock queue.")));
		}
	}
	PG_RETURN_VOID();
}
