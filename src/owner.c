/*-------------------------------------------------------------------------
 *
 * owner.c
 *	  The one way pg_privacy runs SQL as the owner of a user's table.
 *
 * Anything that reads or writes a registered table, or evaluates what its
 * types bring (casts, domain checks, operators, defaults, triggers, index
 * expressions), runs as the table's owner in a security-restricted
 * operation with search_path = pg_catalog, pg_temp: the way VACUUM,
 * ANALYZE and REFRESH MATERIALIZED VIEW protect themselves.  Never as the
 * extension owner, never as the caller.
 *
 *	  pgp_begin_as_owner / pgp_begin_as_role / pgp_end_as_owner
 *						enter and leave that context (for C code that
 *						runs its own SPI calls inside it: the protect
 *						rewrite, the consent cascade, the restriction
 *						trigger, the analytics reads)
 *	  pgp_owner_run		run one statement in that context, with typed
 *						parameters, a kept or a one-shot plan, an optional
 *						lock_timeout, and one of three results: the rows
 *						processed (exec), the first column of the first row
 *						(query), or every row's first column into a
 *						tuplestore (rows).  The SQL-callable helpers of
 *						retention (_owner_exec, _owner_query) and of the
 *						data-subject rights (_subject_exec, _subject_query,
 *						_subject_rows) are thin wrappers over it.
 *	  pgp_kept_plan		the per-backend cache of prepared plans, by
 *						statement text and parameter types
 *
 * On error the transaction (or the caller's subtransaction) is aborted,
 * which restores the user id, the security context and the settings.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "citus.h"
#include "owner.h"

#include "utils/snapmgr.h"
#include "schema.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "common/hashfn.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "utils/relcache.h"
#include "utils/rel.h"
#include "catalog/pg_inherits.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "storage/lmgr.h"
#include "storage/lock.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"

/*
 * The owner of a relation, or an error when it no longer exists.  Work
 * done on a user's table (purge, rewrite, cascade, erasure) runs as this
 * role.
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

/*
 * Act as the owner of relid until pgp_end_as_owner(): in a
 * security-restricted operation, with search_path = pg_catalog, pg_temp,
 * so that a trigger, default or function the owner planted never runs
 * with the caller's (often a superuser's) rights.  Settings changed
 * meanwhile (the search_path, a lock_timeout) are undone at the end; on
 * error the transaction's abort restores everything.
 */
void
pgp_begin_as_owner(Oid relid, PgpAsOwner *save)
{
	/*
	 * Locked first (the statement locks it anyway): its owner cannot change
	 * between reading it here and running the statement.
	 */
	LockRelationOid(relid, AccessShareLock);
	pgp_begin_as_role(pgp_rel_owner(relid), save);
}

/* The same for a role given by OID (the publisher of a view, say). */
void
pgp_begin_as_role(Oid role, PgpAsOwner *save)
{
	GetUserIdAndSecContext(&save->userid, &save->sec_context);
	SetUserIdAndSecContext(role, save->sec_context | SECURITY_RESTRICTED_OPERATION);
	save->nestlevel = NewGUCNestLevel();
	/* (already so inside an API function: setting it again costs a lookup) */
	if (namespace_search_path == NULL ||
		strcmp(namespace_search_path, "pg_catalog, pg_temp") != 0)
		(void) set_config_option("search_path", "pg_catalog, pg_temp",
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
								 true, 0, false);
}

void
pgp_end_as_owner(PgpAsOwner *save)
{
	AtEOXact_GUC(false, save->nestlevel);
	SetUserIdAndSecContext(save->userid, save->sec_context);
}

/*
 * Kept plans, by statement text and parameter types.  The texts are built
 * from the catalog and are few; a new declaration makes new texts, and the
 * least recently used plans go when the list is full.  A plan is independent of the
 * role that prepared it: permissions are checked when it runs, and the
 * plan cache replans it when a table or function it uses changes.  Plans
 * are generic (the identifiers' estimate is a fixed few rows), never
 * replanned per call.
 */
#define PGP_MAX_PLANS 256
#define PGP_MAX_PLAN_ARGS 10

typedef struct PgpKeptPlan
{
	char	   *sql;
	uint32		hash;			/* of sql, compared first */
	int			nargs;
	Oid			argtypes[PGP_MAX_PLAN_ARGS];
	SPIPlanPtr	plan;
} PgpKeptPlan;

static PgpKeptPlan kept_plans[PGP_MAX_PLANS];
static int	n_kept_plans = 0;

/*
 * Plans forgotten by the list in this transaction.  A plan may be running
 * when it is forgotten (a statement that runs it can add plans: a trigger
 * that reads the catalog), and nothing tells when its run ends: it is
 * freed when the transaction ends, when none runs.  At most
 * PGP_MAX_RETIRED wait: past them, a new plan is used once and not kept.
 */
#define PGP_MAX_RETIRED 64

static SPIPlanPtr retired_plans[PGP_MAX_RETIRED];
static int	n_retired_plans = 0;
static bool retire_callback = false;

static void
kept_plans_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			while (n_retired_plans > 0)
				SPI_freeplan(retired_plans[--n_retired_plans]);
			break;
		default:
			break;
	}
}

/* The kept plan of sql (inside SPI), prepared on first use. */
SPIPlanPtr
pgp_kept_plan(const char *sql, int nargs, Oid *argtypes)
{
	SPIPlanPtr	plan;
	int			i;
	uint32		hash = hash_bytes((const unsigned char *) sql, strlen(sql));

	if (nargs > PGP_MAX_PLAN_ARGS)
		elog(ERROR, "a kept plan takes at most %d parameters", PGP_MAX_PLAN_ARGS);
	for (i = n_kept_plans - 1; i >= 0; i--)
	{
		if (kept_plans[i].hash == hash &&
			kept_plans[i].nargs == nargs &&
			(nargs == 0 || memcmp(kept_plans[i].argtypes, argtypes, sizeof(Oid) * nargs) == 0) &&
			strcmp(kept_plans[i].sql, sql) == 0)
		{
			/*
			 * The most recently used goes last: the oldest, evicted when the
			 * list is full, is never a plan running now (a statement that
			 * runs adds far fewer plans than the list holds).
			 */
			if (i != n_kept_plans - 1)
			{
				PgpKeptPlan hit = kept_plans[i];

				memmove(&kept_plans[i], &kept_plans[i + 1],
						sizeof(PgpKeptPlan) * (n_kept_plans - 1 - i));
				kept_plans[n_kept_plans - 1] = hit;
			}
			return kept_plans[n_kept_plans - 1].plan;
		}
	}
	plan = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_GENERIC_PLAN);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	if (n_kept_plans == PGP_MAX_PLANS)
	{
		/*
		 * Forget the oldest, freed when the transaction ends (it may be
		 * running).  With PGP_MAX_RETIRED waiting already, the new plan is
		 * used once and not kept: it goes with the caller's SPI connection.
		 */
		if (n_retired_plans == PGP_MAX_RETIRED)
			return plan;
		if (!retire_callback)
		{
			RegisterXactCallback(kept_plans_xact_callback, NULL);
			retire_callback = true;
		}
		retired_plans[n_retired_plans++] = kept_plans[0].plan;
		pfree(kept_plans[0].sql);
		memmove(&kept_plans[0], &kept_plans[1],
				sizeof(PgpKeptPlan) * (PGP_MAX_PLANS - 1));
		n_kept_plans--;
	}
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "SPI_keepplan failed");
	kept_plans[n_kept_plans].sql = MemoryContextStrdup(TopMemoryContext, sql);
	kept_plans[n_kept_plans].hash = hash;
	kept_plans[n_kept_plans].nargs = nargs;
	if (nargs > 0)
		memcpy(kept_plans[n_kept_plans].argtypes, argtypes, sizeof(Oid) * nargs);
	kept_plans[n_kept_plans].plan = plan;
	n_kept_plans++;
	return plan;
}

/*
 * Tables found without deferrable triggers in this transaction while it
 * held a lock that keeps other sessions from creating triggers on them
 * and their partitions (SHARE ROW EXCLUSIVE or stronger, as an erasure
 * takes on every table it searches).  While it still holds that lock and
 * no relation has changed since (a trigger this transaction created
 * itself, by a trigger function of the owner's, say: any relcache
 * invalidation forgets them all), the check is not made again for every
 * statement.
 */
#define PGP_CHECKED_RELS 32
static Oid	checked_rels[PGP_CHECKED_RELS];
static int	n_checked_rels = 0;
static LocalTransactionId checked_lxid = InvalidLocalTransactionId;
static bool checked_callback = false;

static void
checked_rels_forget(Datum arg, Oid relid)
{
	n_checked_rels = 0;
}

static bool
locked_against_triggers(Oid relid)
{
	LOCKTAG		tag;

	SET_LOCKTAG_RELATION(tag, MyDatabaseId, relid);
	return LockHeldByMe(&tag, ShareRowExclusiveLock) ||
		LockHeldByMe(&tag, ExclusiveLock) ||
		LockHeldByMe(&tag, AccessExclusiveLock);
}

/*
 * A statement that writes to relid as its owner may fire the owner's
 * triggers: inside the security-restricted operation, as the owner, unless
 * a trigger is deferred.  A deferred trigger fires at commit, as whoever
 * commits (the caller of an API function, the pg_cron job's superuser),
 * outside that operation: the write is refused while relid or any of its
 * partitions or children has a deferrable trigger of its own (foreign
 * keys' internal triggers are PostgreSQL's and stay allowed).
 */
void
pgp_refuse_deferrable_triggers(Oid relid)
{
	List	   *rels;
	ListCell   *lc;
	int			i;
	bool		locked;

	if (!checked_callback)
	{
		pgp_on_relcache(checked_rels_forget, (Datum) 0);
		checked_callback = true;
	}
	if (checked_lxid != MyProc->lxid)
	{
		checked_lxid = MyProc->lxid;
		n_checked_rels = 0;
	}
	locked = locked_against_triggers(relid);
	if (locked)
	{
		for (i = 0; i < n_checked_rels; i++)
			if (checked_rels[i] == relid)
				return;
	}
	rels = find_all_inheritors(relid, NoLock, NULL);

	foreach(lc, rels)
	{
		Relation	r = RelationIdGetRelation(lfirst_oid(lc));
		int			i;

		if (!RelationIsValid(r))
			continue;
		for (i = 0; r->trigdesc != NULL && i < r->trigdesc->numtriggers; i++)
		{
			Trigger    *tg = &r->trigdesc->triggers[i];

			if (tg->tgdeferrable && !tg->tgisinternal)
			{
				char	   *name = pstrdup(tg->tgname);
				char	   *rel = pstrdup(RelationGetRelationName(r));

				RelationClose(r);
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("relation \"%s\" has a deferrable trigger", rel),
						 errdetail("Trigger \"%s\" could fire at commit, as whoever commits, outside the table owner's restricted context.", name),
						 errhint("Make the trigger NOT DEFERRABLE, or drop it: pg_privacy writes to a table only where everything the write fires runs as the table's owner.")));
			}
		}
		RelationClose(r);
	}
	list_free(rels);
	if (locked && n_checked_rels < PGP_CHECKED_RELS)
		checked_rels[n_checked_rels++] = relid;
}

/*
 * Run sql as the owner of relid (pgp_begin_as_owner), with the parameters
 * $1..$nargs of types argtypes (values, nulls as SPI takes them).
 *
 *	  PGP_RUN_EXEC		a DELETE, UPDATE or other statement; returns the
 *						rows processed
 *	  PGP_RUN_QUERY		a read-only query; its first row's first column in
 *						*result (copied into the caller's memory context,
 *						*isnull when there is no row or it is NULL)
 *	  PGP_RUN_ROWS		a read-only query; every row put into store (desc:
 *						its first column when desc has one, else the whole
 *						row, of exactly desc's types), through a cursor,
 *						1,000 rows at a time: a subject with millions of
 *						rows is read without one huge value
 *
 * PGP_RUN_READ_ONLY: a SELECT run in the caller's snapshot (a STABLE
 * caller reads one snapshot throughout); without it the statement takes a
 * new snapshot, as a statement of a VOLATILE function does.
 * PGP_RUN_KEEP_PLAN: the statement is built from the catalog and prepared
 * once per backend (pgp_kept_plan); otherwise it is planned for this run.
 * PGP_RUN_NOFORCE_RLS: the owner's own FORCE ROW LEVEL SECURITY does not
 * hide rows from the statement, as for PostgreSQL's check of a foreign key
 * (for the erasure's look for referencing rows).
 * lock_timeout_ms > 0 sets lock_timeout for the statement only.
 * expect_type, when valid, is the type the first column must have.
 */
uint64
pgp_owner_run(Oid relid, const char *sql, int nargs, Oid *argtypes,
			  Datum *values, const char *nulls, int flags,
			  int32 lock_timeout_ms, Oid expect_type,
			  Datum *result, bool *isnull,
			  Tuplestorestate *store, TupleDesc desc)
{
	MemoryContext callercxt = CurrentMemoryContext;
	PgpAsOwner	as_owner;
	int			outer_nestlevel = -1;
	bool		read_only = (flags & PGP_RUN_READ_ONLY) != 0;
	SPIPlanPtr	plan = NULL;
	uint64		processed = 0;
	int			ret;

	if (isnull)
		*isnull = true;
	if (lock_timeout_ms > 0)
	{
		/*
		 * The statement's lock_timeout holds for the lock taken on the
		 * table before its owner is read (pgp_begin_as_owner) too.
		 */
		char		buf[32];

		outer_nestlevel = NewGUCNestLevel();
		snprintf(buf, sizeof(buf), "%d", lock_timeout_ms);
		(void) set_config_option("lock_timeout", buf,
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
								 true, 0, false);
	}
	pgp_begin_as_owner(relid, &as_owner);
	if (flags & PGP_RUN_NOFORCE_RLS)
	{
		Oid			userid;
		int			sec_context;

		GetUserIdAndSecContext(&userid, &sec_context);
		SetUserIdAndSecContext(userid, sec_context | SECURITY_NOFORCE_RLS);
	}
	if ((flags & PGP_RUN_EXEC) &&
		pg_strncasecmp(sql, "DROP ", 5) != 0 && pg_strncasecmp(sql, "ALTER ", 6) != 0)
		pgp_refuse_deferrable_triggers(relid);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/*
	 * Citus plans a distributed statement only with its parameters' values
	 * in hand: on a table it manages the statement is planned for this run,
	 * with a custom plan, never kept.
	 */
	if (flags & PGP_RUN_KEEP_PLAN)
	{
		if (pgp_citus_table(relid))
			flags &= ~PGP_RUN_KEEP_PLAN;
		else
			plan = pgp_kept_plan(sql, nargs, argtypes);
	}

	if (flags & PGP_RUN_ROWS)
	{
		Portal		portal;

		if (plan == NULL)
		{
			plan = SPI_prepare_cursor(sql, nargs, argtypes, CURSOR_OPT_CUSTOM_PLAN);
			if (plan == NULL)
				elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		}
		portal = SPI_cursor_open(NULL, plan, values, nulls, read_only);
		for (;;)
		{
			uint64		i;

			SPI_cursor_fetch(portal, true, 1000);
			if (SPI_processed == 0)
				break;
			if (desc->natts == 1)
			{
				if (SPI_tuptable->tupdesc->natts != 1 ||
					(OidIsValid(expect_type) &&
					 SPI_gettypeid(SPI_tuptable->tupdesc, 1) != expect_type))
					elog(ERROR, "a statement run as the table's owner returned an unexpected row type");
				for (i = 0; i < SPI_processed; i++)
				{
					bool		null;
					Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &null);

					tuplestore_putvalues(store, desc, &d, &null);
				}
			}
			else
			{
				/* whole rows, of exactly desc's column types */
				Datum	   *v = palloc(sizeof(Datum) * desc->natts);
				bool	   *n = palloc(sizeof(bool) * desc->natts);
				int			a;

				if (SPI_tuptable->tupdesc->natts != desc->natts)
					elog(ERROR, "a statement run as the table's owner returned an unexpected row type");
				for (a = 0; a < desc->natts; a++)
					if (SPI_gettypeid(SPI_tuptable->tupdesc, a + 1) != TupleDescAttr(desc, a)->atttypid)
						elog(ERROR, "a statement run as the table's owner returned an unexpected row type");
				for (i = 0; i < SPI_processed; i++)
				{
					heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, v, n);
					tuplestore_putvalues(store, desc, v, n);
				}
			}
			processed += SPI_processed;
			SPI_freetuptable(SPI_tuptable);
		}
		SPI_cursor_close(portal);
	}
	else
	{
		if (plan != NULL)
			ret = SPI_execute_plan(plan, values, nulls, read_only,
								   (flags & PGP_RUN_QUERY) ? 1 : 0);
		else
			ret = SPI_execute_with_args(sql, nargs, argtypes, values, nulls,
										read_only, (flags & PGP_RUN_QUERY) ? 1 : 0);
		if (ret < 0)
			elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
		if (read_only && ret != SPI_OK_SELECT)
			elog(ERROR, "a query run as the table's owner must be a SELECT");
		processed = SPI_processed;
		if ((flags & PGP_RUN_QUERY) && SPI_tuptable != NULL && SPI_processed > 0)
		{
			bool		null;
			Datum		d;

			if (SPI_tuptable->tupdesc->natts < 1 ||
				(OidIsValid(expect_type) &&
				 (SPI_tuptable->tupdesc->natts != 1 ||
				  SPI_gettypeid(SPI_tuptable->tupdesc, 1) != expect_type)))
				elog(ERROR, "a statement run as the table's owner returned an unexpected row type");
			d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &null);
			if (!null)
			{
				if (OidIsValid(expect_type))
				{
					int16		len;
					bool		byval;

					get_typlenbyval(expect_type, &len, &byval);
					*result = SPI_datumTransfer(d, byval, len);
				}
				else
				{
					/* as text, in the caller's memory */
					char	   *s = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
					MemoryContext oldcxt = MemoryContextSwitchTo(callercxt);

					*result = PointerGetDatum(cstring_to_text(s));
					MemoryContextSwitchTo(oldcxt);
				}
				*isnull = false;
			}
		}
	}
	SPI_finish();
	pgp_end_as_owner(&as_owner);
	if (outer_nestlevel >= 0)
		AtEOXact_GUC(true, outer_nestlevel);
	return processed;
}

/*
 * Run a fully qualified SELECT on pg_privacy's own catalog as its owner
 * (the extension owner), in a security-restricted operation: the roles
 * whose writes fire pg_privacy's triggers cannot read the catalog.  The
 * caller is connected to SPI; the result is in SPI_tuptable.  The texts
 * are constants: each is planned once per backend and kept (the triggers
 * that read the catalog run it for every statement).
 */
static void catalog_select(const char *sql, int nargs, Oid *argtypes, Datum *values,
						   Snapshot snap);

void
pgp_catalog_select(const char *sql, int nargs, Oid *argtypes, Datum *values)
{
	catalog_select(sql, nargs, argtypes, values, InvalidSnapshot);
}

/*
 * pgp_catalog_select with the latest committed state, not the
 * transaction's snapshot: for what a lock the caller holds makes final (a
 * relation's pending key, src/sql/36_rekey.sql, read by a writer at
 * REPEATABLE READ whose snapshot predates privacy.rekey()'s commit).
 */
void
pgp_catalog_select_latest(const char *sql, int nargs, Oid *argtypes, Datum *values)
{
	catalog_select(sql, nargs, argtypes, values, GetLatestSnapshot());
}

/* pgp_catalog_select in a snapshot of the caller's */
void
pgp_catalog_select_in(Snapshot snap, const char *sql, int nargs, Oid *argtypes, Datum *values)
{
	catalog_select(sql, nargs, argtypes, values, snap);
}

static void
catalog_select(const char *sql, int nargs, Oid *argtypes, Datum *values, Snapshot snap)
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
		if (snap != InvalidSnapshot)
			ret = SPI_execute_snapshot(pgp_kept_plan(pgp_internal_sql(sql), nargs, argtypes),
									   values, NULL, snap, InvalidSnapshot,
									   true, false, 0);
		else
			ret = SPI_execute_plan(pgp_kept_plan(pgp_internal_sql(sql), nargs, argtypes),
								   values, NULL, true, 0);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
}
