/*-------------------------------------------------------------------------
 *
 * pg_privacy.c
 *	  Module entry point of pg_privacy: settings and small SQL helpers.
 *
 * The library works loaded on demand; listing it in
 * shared_preload_libraries makes its settings known from server start
 * (so that pg_privacy.key_file is checked and reserved at once).
 *
 *-------------------------------------------------------------------------
 */
#include "pg_privacy.h"
#include "pgp_transform.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/syscache.h"
#include "access/htup_details.h"
#include "catalog/pg_class.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/*
 * Define the settings and reserve the "pg_privacy." prefix so that a
 * misspelled setting is reported instead of silently ignored.
 */
void
_PG_init(void)
{
	pgp_define_key_gucs();
	pgp_define_transform_gucs();
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("pg_privacy");
#else
	EmitWarningsOnPlaceholders("pg_privacy");
#endif
}

PG_FUNCTION_INFO_V1(pgp_invoker);

/*
 * _invoker(): the role on whose behalf the current statement runs, seen
 * from inside a SECURITY DEFINER function (where current_user is the
 * function's owner).  That is the role set by SET ROLE, or the session
 * user.  The audit log records it as the acting role.
 */
Datum
pgp_invoker(PG_FUNCTION_ARGS)
{
	char	   *name = GetUserNameFromId(GetOuterUserId(), false);

	PG_RETURN_DATUM(DirectFunctionCall1(namein, CStringGetDatum(name)));
}

/*
 * The owner of a relation, or an error when it no longer exists.  Work
 * done on a user's table (purge, rewrite, cascade) runs as this role.
 */
Oid
pgp_rel_owner(Oid relid)
{
	HeapTuple	reltup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	Oid			owner;

	if (!HeapTupleIsValid(reltup))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	owner = ((Form_pg_class) GETSTRUCT(reltup))->relowner;
	ReleaseSysCache(reltup);
	return owner;
}
