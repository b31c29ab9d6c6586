/*-------------------------------------------------------------------------
 *
 * caller.c
 *	  Who called pg_privacy: the entry points of the management API and
 *	  the role that really acted.
 *
 * A SECURITY DEFINER function cannot see who called it: current_user is
 * the function's owner, and session_user or the role set by SET ROLE
 * (GetOuterUserId) is not the caller when the call comes from another
 * role's SECURITY DEFINER function, or from a table owner's trigger that
 * fires while a superuser's maintenance runs on her table.  Checking
 * ownership against those roles lets a table owner borrow the rights of
 * whoever runs code over her table.
 *
 * So the API's privileged entry points are not SECURITY DEFINER.  They
 * carry the setting
 *
 *		SET pg_privacy.definer = 'api'
 *
 * and this module's function-manager hook does what SECURITY DEFINER does,
 * one step earlier: at entry it records the role that called (the current
 * user at the moment of the call), refuses to run inside a
 * security-restricted operation (a table owner's trigger, default or index
 * expression running during pg_privacy's or PostgreSQL's own maintenance
 * of her table), and then switches to the function's owner, the extension
 * owner; at exit it switches back.  privacy_internal._invoker() returns the caller
 * of the outermost entry point: the role whose rights ownership checks
 * use and whose name the audit log records.
 *
 * On a standby, entry points that may write (the volatile ones: they
 * append to the audit log or change the catalog) are refused with a
 * message that names the primary as the place to run them; the read-only
 * ones (is_restricted, consent_history, verify_audit_log, ...) run.
 *
 * The hook is installed when the library is loaded.  pg_privacy belongs in
 * shared_preload_libraries; if it is not loaded when an entry point is
 * first called in a session, the function runs with the caller's own
 * rights and fails on the first catalog access (fail closed).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "caller.h"

#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_proc.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

/* The setting that marks an entry point, and its one value. */
#define PGP_DEFINER_SETTING		"pg_privacy.definer"
#define PGP_DEFINER_MARK		"pg_privacy.definer=api"

/* Value of the setting: has no effect of its own, it is only a mark. */
static char *pgp_definer_value = NULL;

/* Entry points active in this backend, outermost first. */
typedef struct ApiFrame
{
	Oid			caller;			/* current user when the call was made */
	Oid			saved_user;		/* what to restore at exit */
	int			saved_sec;
} ApiFrame;

#define PGP_API_MAX_DEPTH	32
static ApiFrame api_stack[PGP_API_MAX_DEPTH];
static int	api_depth = 0;

/* Per-backend memo: is this function an entry point, and its owner. */
typedef struct DefinerEntry
{
	Oid			fn_oid;			/* hash key */
	bool		is_api;
	bool		writes;			/* volatile: may write (audit, catalog) */
	Oid			owner;
} DefinerEntry;

static HTAB *definer_cache = NULL;

static needs_fmgr_hook_type prev_needs_fmgr_hook = NULL;
static emit_log_hook_type prev_emit_log_hook = NULL;

/* Set when an entry point unwinds with an error, until the transaction ends. */
static bool hide_statement = false;

/*
 * Not preloaded: the transaction that loaded the library (the call that
 * loaded it began before the hook existed).
 */
static LocalTransactionId loaded_late_lxid = InvalidLocalTransactionId;
static fmgr_hook_type prev_fmgr_hook = NULL;

/* Any change of pg_proc may change a function's settings or owner. */
static void
definer_cache_reset(Datum arg, int cacheid, uint32 hashvalue)
{
	if (definer_cache != NULL)
	{
		hash_destroy(definer_cache);
		definer_cache = NULL;
	}
}

/*
 * Look a function up in pg_proc: an entry point is a function of the
 * privacy schema, or of privacy_internal (run_purge's steps), whose settings
 * carry the mark.  Only the extension owner creates objects in either
 * schema, so no other role can make a function that passes for one.
 */
static DefinerEntry *
definer_lookup(Oid fn_oid)
{
	DefinerEntry found_entry;
	DefinerEntry *e;
	HeapTuple	tup;
	Oid			nsp;
	Oid			insp;

	if (definer_cache != NULL &&
		(e = hash_search(definer_cache, &fn_oid, HASH_FIND, NULL)) != NULL)
		return e;

	/*
	 * Every catalog access first: a cache miss may process invalidations,
	 * which destroy the memo (definer_cache_reset); it is written only
	 * afterwards.
	 */
	nsp = get_namespace_oid("privacy", true);
	insp = get_namespace_oid("privacy_internal", true);
	tup = SearchSysCache1(PROCOID, ObjectIdGetDatum(fn_oid));
	if (!HeapTupleIsValid(tup))
		return NULL;			/* not cached: it may appear later */
	found_entry.fn_oid = fn_oid;
	found_entry.is_api = false;
	found_entry.writes = false;
	found_entry.owner = InvalidOid;
	{
		Form_pg_proc proc = (Form_pg_proc) GETSTRUCT(tup);
		bool		isnull;
		Datum		config;

		if (((OidIsValid(nsp) && proc->pronamespace == nsp) ||
			 (OidIsValid(insp) && proc->pronamespace == insp)) && !proc->prosecdef)
		{
			config = SysCacheGetAttr(PROCOID, tup, Anum_pg_proc_proconfig, &isnull);
			if (!isnull)
			{
				ArrayType  *arr = DatumGetArrayTypeP(config);
				Datum	   *items;
				bool	   *nulls;
				int			n;

				deconstruct_array(arr, TEXTOID, -1, false, TYPALIGN_INT,
								  &items, &nulls, &n);
				for (int i = 0; i < n; i++)
				{
					char	   *str;

					if (nulls[i])
						continue;
					str = TextDatumGetCString(items[i]);
					if (strcmp(str, PGP_DEFINER_MARK) == 0)
						found_entry.is_api = true;
					pfree(str);
				}
			}
			found_entry.owner = proc->proowner;
			found_entry.writes = (proc->provolatile == PROVOLATILE_VOLATILE);
		}
	}
	ReleaseSysCache(tup);

	if (definer_cache == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(DefinerEntry);
		ctl.hcxt = CacheMemoryContext;
		definer_cache = hash_create("pg_privacy entry points", 64, &ctl,
									HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	e = hash_search(definer_cache, &fn_oid, HASH_ENTER, NULL);
	*e = found_entry;
	return e;
}

int			pgp_no_inline = 0;

static bool
pgp_needs_fmgr_hook(Oid fn_oid)
{
	DefinerEntry *e;

	if (prev_needs_fmgr_hook && prev_needs_fmgr_hook(fn_oid))
		return true;
	if (fn_oid < FirstNormalObjectId)
		return false;
	if (pgp_no_inline > 0)
		return true;
	e = definer_lookup(fn_oid);
	return e != NULL && e->is_api;
}

static void
pgp_fmgr_hook(FmgrHookEventType event, FmgrInfo *flinfo, Datum *private)
{
	DefinerEntry *e;
	Oid			userid;
	int			sec;
	ApiFrame   *f;

	if (prev_fmgr_hook)
		(*prev_fmgr_hook) (event, flinfo, private);
	if (flinfo->fn_oid < FirstNormalObjectId)
		return;

	/*
	 * At exit, the call's own slot says whether its start pushed a frame:
	 * no second catalog lookup, and no way for the two to disagree.
	 */
	if (event != FHET_START)
	{
		if (!DatumGetBool(*private))
		{
			/*
			 * No frame: not an entry point, or a call that began before
			 * the library was loaded (not preloaded: loaded by this very
			 * call), whose start the hook never saw.  In the transaction
			 * that loaded the library, an error unwinding any function
			 * with settings is reported without its statement.
			 */
			if (event == FHET_ABORT && loaded_late_lxid != InvalidLocalTransactionId &&
				loaded_late_lxid == MyProc->lxid)
				hide_statement = true;
			return;
		}
		if (event == FHET_END)
		{
			if (api_depth > 0)
			{
				ApiFrame   *f = &api_stack[--api_depth];

				SetUserIdAndSecContext(f->saved_user, f->saved_sec);
			}
		}
		else
		{
			/*
			 * The (sub)transaction's abort restores the user id.  The error
			 * may be about a person's value given as an argument: the
			 * statement that carries it is not logged with it.
			 */
			if (api_depth > 0)
				api_depth--;
			hide_statement = true;
		}
		return;
	}

	e = definer_lookup(flinfo->fn_oid);
	if (e == NULL || !e->is_api)
		return;

	GetUserIdAndSecContext(&userid, &sec);
	if (sec & SECURITY_RESTRICTED_OPERATION)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errhidestmt(true),
				 errmsg("pg_privacy function %s cannot be called inside a security-restricted operation",
						get_func_name(flinfo->fn_oid)),
				 errdetail("It was called by code of a table's owner (a trigger, default, index expression or function) "
						   "while maintenance ran on the table as its owner."),
				 errhint("Call pg_privacy's functions directly, not from triggers or expressions of a table.")));
	if (e->writes && RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errhidestmt(true),
				 errmsg("pg_privacy function %s cannot run on a standby server",
						get_func_name(flinfo->fn_oid)),
				 errdetail("It writes the audit log or pg_privacy's catalog, and this server is in recovery."),
				 errhint("Run it on the primary server.")));
	if (api_depth >= PGP_API_MAX_DEPTH)
		ereport(ERROR,
				(errcode(ERRCODE_STATEMENT_TOO_COMPLEX),
				 errhidestmt(true),
				 errmsg("pg_privacy entry points nested more than %d deep",
						PGP_API_MAX_DEPTH)));
	f = &api_stack[api_depth++];
	f->caller = userid;
	f->saved_user = userid;
	f->saved_sec = sec;
	SetUserIdAndSecContext(e->owner, sec | SECURITY_LOCAL_USERID_CHANGE);
	*private = BoolGetDatum(true);
}

/*
 * An error that left an entry point unwinding is reported without the
 * statement: the statement carries the entry point's arguments, a phone
 * number or an e-mail address among them (a cancel or timeout included,
 * which no exception handler of the function sees).
 */
static void
pgp_emit_log(ErrorData *edata)
{
	/*
	 * Also the detail written to the log only: a deadlock's names the
	 * query of every process in the cycle.  A parallel worker cannot tell
	 * whether an entry point of its leader's unwinds, and logs the
	 * leader's statement as its own: it hides it always (the leader
	 * reports the same error).
	 */
	if (edata->elevel >= ERROR && (hide_statement || IsParallelWorker()))
	{
		edata->hide_stmt = true;
		edata->detail_log = NULL;
	}
	if (prev_emit_log_hook)
		(*prev_emit_log_hook) (edata);
}

/* A transaction that ends, however, leaves no entry point active. */
static void
caller_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PREPARE)
	{
		api_depth = 0;
		hide_statement = false;
	}
}

/*
 * Install the hook and define the marking setting.  Called from _PG_init.
 */
void
pgp_caller_init(bool preloaded)
{
	if (!preloaded && IsTransactionState())
		loaded_late_lxid = MyProc->lxid;
	DefineCustomStringVariable(PGP_DEFINER_SETTING,
							   "Marks pg_privacy's API entry points (no effect when set otherwise).",
							   NULL,
							   &pgp_definer_value,
							   "",
							   PGC_USERSET,
							   GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE | GUC_NO_RESET_ALL,
							   NULL, NULL, NULL);
	prev_needs_fmgr_hook = needs_fmgr_hook;
	needs_fmgr_hook = pgp_needs_fmgr_hook;
	prev_fmgr_hook = fmgr_hook;
	fmgr_hook = pgp_fmgr_hook;
	prev_emit_log_hook = emit_log_hook;
	emit_log_hook = pgp_emit_log;
	CacheRegisterSyscacheCallback(PROCOID, definer_cache_reset, (Datum) 0);
	RegisterXactCallback(caller_xact_callback, NULL);
}

/*
 * The role that really acted: the caller of the outermost active entry
 * point; outside any entry point (a trigger of pg_privacy firing for an
 * application's write), the role the statement runs as.
 */
Oid
pgp_caller(void)
{
	if (api_depth > 0)
		return api_stack[0].caller;
	return GetOuterUserId();
}

/* True while an entry point of the API runs. */
bool
pgp_in_api(void)
{
	return api_depth > 0;
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
