/*-------------------------------------------------------------------------
 *
 * pg_privacy.c
 *	  Module entry point of pg_privacy: settings and small SQL helpers.
 *
 * The library belongs in shared_preload_libraries: its API entry points
 * rely on the function-manager hook installed at load (caller.c), and its
 * settings are then known and checked from server start.  Loaded on
 * demand instead, it warns once per backend (and privacy.health() says
 * so).
 *
 *-------------------------------------------------------------------------
 */
#include "pg_privacy.h"
#include "identifier.h"
#include "pgp_transform.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/syscache.h"
#include "catalog/namespace.h"
#include "utils/lsyscache.h"
#include "executor/spi.h"
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
	/*
	 * The API's entry points run as the extension owner through the
	 * function-manager hook installed here (caller.c).  Loaded on demand,
	 * the hook exists in this session only from now on, and in no other
	 * session until each loads the library: say so, once per backend.
	 */
	if (!process_shared_preload_libraries_in_progress)
		ereport(WARNING,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_privacy is not loaded through shared_preload_libraries"),
				 errdetail("pg_privacy's API functions rely on a hook installed when the library is loaded at server start; "
						   "without it they run with the caller's rights and fail."),
				 errhint("Add pg_privacy to shared_preload_libraries in postgresql.conf and restart the server.")));
	pgp_define_key_gucs();
	pgp_identifier_define_gucs();
	pgp_caller_init();
	pgp_protect_init();
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("pg_privacy");
#else
	EmitWarningsOnPlaceholders("pg_privacy");
#endif
}

PG_FUNCTION_INFO_V1(pgp_invoker);

/*
 * _invoker(): the role that really acted, seen from inside pg_privacy's
 * functions (where current_user is the extension owner): the caller of the
 * outermost API entry point (caller.c).  Ownership checks use its rights;
 * the audit log records it as the acting role.
 */
Datum
pgp_invoker(PG_FUNCTION_ARGS)
{
	char	   *name = GetUserNameFromId(pgp_caller(), false);

	PG_RETURN_DATUM(DirectFunctionCall1(namein, CStringGetDatum(name)));
}

/*
 * Run a fully qualified SELECT on pg_privacy's own catalog as its owner
 * (the extension owner), in a security-restricted operation: the roles
 * whose writes fire pg_privacy's triggers cannot read the catalog.  The
 * caller is connected to SPI; the result is in SPI_tuptable.
 */
void
pgp_catalog_select(const char *sql, int nargs, Oid *argtypes, Datum *values)
{
	Oid			catrel = get_relname_relid("registered_table",
										   get_namespace_oid("privacy", false));
	Oid			save_userid;
	int			save_sec_context;
	volatile int ret = 0;

	if (!OidIsValid(catrel))
		elog(ERROR, "privacy.registered_table is missing");
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	SetUserIdAndSecContext(pgp_rel_owner(catrel),
						   save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		ret = SPI_execute_with_args(pgp_internal_sql(sql), nargs, argtypes, values, NULL, true, 0);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
}
