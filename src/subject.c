/*-------------------------------------------------------------------------
 *
 * subject.c
 *	  C helpers of the data-subject rights (src/sql/70_subject_find.sql
 *	  through 74_subject_erase.sql).
 *
 * The subject engine (src/engine.c) works in three phases: find (the
 * subject's identifiers to a fixed point), decide (legal minimums, holds,
 * restriction, consent) and apply (export rows, delete, scrub, restrict).
 * The pieces below are what it and the SQL builders share: they run per
 * statement or per row, keep backend state, or act as a table's owner
 * (always through src/owner.c):
 *
 *	  _subject_params	find: the subject's identifiers by column, as each
 *						column stores them (transformed, cast-checked), the
 *						one parameter of every generated statement
 *	  _subject_ids, _subject_ids_span
 *						inside a generated statement, run as the table's
 *						owner: one column's identifiers as rows; pure
 *	  _subject_exec		apply: one DELETE or UPDATE of the erasure as the
 *						owner of the table (pgp_owner_run), through a kept
 *						plan
 *	  _erasing			true while erase_subject scrubs and deletes, so the
 *						restriction trigger lets the erasure through; reset
 *						at the end of every transaction, error included
 *	  _subject_query	one generated read-only query over a table, as the
 *						table's owner (pgp_owner_run), through a plan kept
 *						per backend (the plan cache replans it when a table
 *						changes), returning jsonb
 *	  _subject_rows		the same, returning every row (the export's rows)
 *	  _subject_eval		0.3.0's export query over _subject_rows (kept for a
 *						database not yet updated; 0.4.0's engine runs its
 *						own)
 *	  _restrict_trigger	the restriction trigger: the old rows read as the
 *						table's owner, checked as the extension owner
 *	  _subject_cache	the SQL that export and erasure generate from the
 *						catalog, and what they checked in it (protection,
 *						foreign keys), kept per backend (as text for the SQL
 *						builders, as objects for the engine): generating it takes
 *						far longer than running it for one subject.  An
 *						invalidation of pg_privacy's catalog empties it
 *						(the catalog functions send one for every
 *						declaration they change, privacy_internal._invalidate);
 *						so does one of a registered table or partition
 *						whose shape changed (columns, triggers,
 *						constraints, owner, partitions: checked at the
 *						next use, for VACUUM and ANALYZE send the same
 *						invalidation and change none of it), and a change
 *						of a schema (the statements name their tables by
 *						schema)
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "subject.h"

#include "citus.h"
#include "compat.h"
#include "identifier.h"
#include "owner.h"
#include "protect.h"
#include "rekey.h"
#include "schema.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "common/hashfn.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/resowner.h"
#include "utils/typcache.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/multirangetypes.h"
#include "utils/rangetypes.h"
#include "utils/timestamp.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"
#include "utils/snapmgr.h"
#include "funcapi.h"
#include "utils/tuplestore.h"
#include "utils/rel.h"
#include "storage/lmgr.h"
#include "utils/relcache.h"
#include "lib/stringinfo.h"

/*
 * True while erase_subject runs its statements (this transaction only),
 * and the transaction nesting level that set it: an erasure that fails in
 * a subtransaction its caller catches leaves the flag unset.
 */
static bool subject_erasing = false;
static int	subject_erasing_level = 0;
static bool subject_xact_cb_registered = false;

/*
 * The engine's build window (pgp_subject_build_begin/end): while a call of
 * the engine runs, nothing is kept once an invalidation has emptied the
 * cache since the call began.  What the call built after that may come
 * from a snapshot older than the change that emptied it (a declaration
 * committed while the builder ran), and kept, it would outlive that
 * change; it is used by this call and built again by the next.
 */
#define BUILD_MAX_NEST 16
static int	build_depth = 0;
static int	build_levels[BUILD_MAX_NEST];	/* the nesting level each began at */
static uint64 build_resets = 0;
static void subject_register_callbacks(void);
static void subject_cache_free_retired(void);

/*
 * Transaction callback: the erasure flag never outlives the transaction
 * that set it, whether it commits or aborts.
 */
static void
subject_xact_cb(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
	{
		subject_erasing = false;
		build_depth = 0;
		subject_cache_free_retired();
	}
}

/*
 * Subtransaction callback: the abort of the subtransaction that set the
 * flag, or of one enclosing it, unsets it.
 */
static void
subject_subxact_cb(SubXactEvent event, SubTransactionId mySubid,
				   SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB && subject_erasing &&
		GetCurrentTransactionNestLevel() <= subject_erasing_level)
		subject_erasing = false;
	/* the engine calls that began in it, or deeper, failed: their windows end */
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		int			level = GetCurrentTransactionNestLevel();

		while (build_depth > 0 &&
			   build_levels[Min(build_depth, BUILD_MAX_NEST) - 1] >= level)
			build_depth--;
	}
}


/* Where subject_ids_walk sends each identifier's row. */
typedef void (*SubjectIdsEmit) (void *arg, Datum *values, bool *nulls);

static void subject_ids_walk(Jsonb *params, const char *key, int keylen, bool spans,
							 bool want_bounded, SubjectIdsEmit emit, void *emit_arg);

PG_FUNCTION_INFO_V1(pgp_subject_exec);

/*
 * The prefix of a statement run once per identifier with a bounded period
 * (privacy_internal._subject_parts): "/ * per identifier <key> * / ".
 */
#define SUBJECT_EACH_PREFIX "/* per identifier "

/* What subject_exec_one needs: the statement and the rows it processed. */
typedef struct SubjectExecEach
{
	Oid			relid;
	const char *sql;
	Datum		params;
	uint64		processed;
} SubjectExecEach;

/*
 * subject_ids_walk's emit for _subject_exec: the statement for one
 * identifier, its value, period and the period's bounds as the scalar
 * parameters $2..$5 (so that the kept generic plan prunes the partitions
 * outside the period when it starts), and the key it is under and whether
 * the table's rows are all under the current key as $6, $7
 * (subject_ids_walk); $1 still the whole parameter.
 */
static void
subject_exec_one(void *arg, Datum *values, bool *nulls)
{
	SubjectExecEach *each = (SubjectExecEach *) arg;
	Oid			argtypes[7] = {JSONBOID, TEXTOID, TSTZMULTIRANGEOID, TIMESTAMPTZOID, TIMESTAMPTZOID,
	TEXTOID, BOOLOID};
	Datum		v[7];
	char		n[8] = "       ";

	v[0] = each->params;
	v[1] = values[0];
	n[1] = nulls[0] ? 'n' : ' ';
	v[2] = values[1];
	n[2] = nulls[1] ? 'n' : ' ';
	v[3] = values[3];
	n[3] = nulls[3] ? 'n' : ' ';
	v[4] = values[4];
	n[4] = nulls[4] ? 'n' : ' ';
	v[5] = values[5];
	n[5] = nulls[5] ? 'n' : ' ';
	v[6] = values[6];
	each->processed += pgp_owner_run(each->relid, each->sql, 7, argtypes, v, n,
									 PGP_RUN_EXEC | PGP_RUN_KEEP_PLAN,
									 0, InvalidOid,
									 NULL, NULL, NULL, NULL);
}

/*
 * _subject_exec(tbl, sql, params): run one statement of the erasure (a
 * DELETE or UPDATE of tbl built by erase_subject with quoted identifiers,
 * its only parameter $1 the subject's identifiers as jsonb) as the owner
 * of tbl.  Returns the number of rows processed.
 *
 * A statement that begins "/ * per identifier <key> * / " runs once per
 * identifier of params-><key> whose period is bounded, with the
 * identifier's value, period and the period's inclusive bounds as $2..$5
 * besides $1: over a table partitioned by its event time, each run reads
 * only the partitions of one period, which the kept generic plan finds
 * when it starts (initial partition pruning), where a join to all the
 * identifiers would plan and probe every partition.
 *
 * erase_subject runs as the extension owner; the table's triggers,
 * defaults and index expressions belong to the table's owner and must not
 * run with more rights than the owner has.  So the statement runs as the
 * owner, in a security-restricted operation, with search_path pinned to
 * pg_catalog, pg_temp, the way PostgreSQL's maintenance commands act on a
 * table.  Values travel as the parameter, never in the statement text, so
 * no identifier shows up in an error context in the server log.  The plan
 * is prepared once per backend and kept (pgp_owner_run, src/owner.c).
 */
Datum
pgp_subject_exec(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	PG_RETURN_INT64((int64) pgp_subject_exec_sql(PG_GETARG_OID(0),
												 text_to_cstring(PG_GETARG_TEXT_PP(1)),
												 PG_GETARG_DATUM(2)));
}

/* _subject_exec's work, for the engine (src/engine.c) too. */
uint64
pgp_subject_exec_sql(Oid relid, const char *sql, Datum params)
{
	Oid			argtypes[1] = {JSONBOID};
	Datum		values[1];
	uint64		processed;

	if (strncmp(sql, SUBJECT_EACH_PREFIX, strlen(SUBJECT_EACH_PREFIX)) == 0)
	{
		const char *key = sql + strlen(SUBJECT_EACH_PREFIX);
		const char *end = strstr(key, " */");
		SubjectExecEach each;
		int			nestlevel;

		if (end == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid per-identifier statement")));
		each.relid = relid;
		each.sql = sql;
		each.params = params;
		each.processed = 0;

		/*
		 * The generic plan cannot know how wide a period is: guessing it
		 * narrow, it would AND the event time's index (read over the whole
		 * period) into the identifier's.  Planned without bitmap scans, it
		 * probes the identifier's index only, the period pruning the
		 * partitions.
		 */
		nestlevel = NewGUCNestLevel();
		(void) set_config_option("enable_bitmapscan", "off",
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
								 true, 0, false);
		subject_ids_walk(DatumGetJsonbP(params), key, end - key, true, true,
						 subject_exec_one, &each);
		AtEOXact_GUC(true, nestlevel);
		return each.processed;
	}
	values[0] = params;
	processed = pgp_owner_run(relid, sql,
							  1, argtypes, values, NULL,
							  PGP_RUN_EXEC | PGP_RUN_KEEP_PLAN, 0, InvalidOid,
							  NULL, NULL, NULL, NULL);
	return processed;
}

/*
 * The identifiers of params->key: with spans, only those whose "b" is
 * want_bounded, each with the bounds (lo, hi) of its period, -infinity and
 * infinity where open, both inclusive; each row (s, span, b, lo, hi, k, o:
 * lo and hi NULL without spans) goes to emit.
 */
static void
subject_ids_walk(Jsonb *params, const char *key, int keylen, bool spans,
				 bool want_bounded, SubjectIdsEmit emit, void *emit_arg)
{
	JsonbValue	k;
	JsonbValue *arr;
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	Oid			mr_in;
	Oid			mr_ioparam;
	FmgrInfo	mr_flinfo;
	TypeCacheEntry *mr_type = NULL;

	if (!JB_ROOT_IS_OBJECT(params))
		return;
	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = keylen;
	arr = findJsonbValueFromContainer(&params->root, JB_FOBJECT, &k);
	if (arr == NULL || arr->type != jbvBinary)
		return;

	getTypeInputInfo(TSTZMULTIRANGEOID, &mr_in, &mr_ioparam);
	fmgr_info(mr_in, &mr_flinfo);
	if (spans)
		mr_type = lookup_type_cache(TSTZMULTIRANGEOID, TYPECACHE_MULTIRANGE_INFO);

	it = JsonbIteratorInit(arr->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		JsonbContainer *elem;
		JsonbValue	f;
		JsonbValue *fs;
		JsonbValue *fspan;
		JsonbValue *fb;
		JsonbValue *fk;
		JsonbValue *fo;
		Datum		values[7];
		bool		nulls[7] = {true, true, true, true, true, true, false};

		if (tok != WJB_ELEM)
			continue;
		if (v.type != jbvBinary || !JsonContainerIsObject(v.val.binary.data))
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid subject identifiers")));
		elem = v.val.binary.data;
		f.type = jbvString;
		f.val.string.val = "b";
		f.val.string.len = 1;
		fb = findJsonbValueFromContainer(elem, JB_FOBJECT, &f);
		if (fb != NULL && fb->type == jbvBool)
		{
			values[2] = BoolGetDatum(fb->val.boolean);
			nulls[2] = false;
		}
		if (spans && (nulls[2] || DatumGetBool(values[2]) != want_bounded))
			continue;
		f.val.string.val = "s";
		f.val.string.len = 1;
		fs = findJsonbValueFromContainer(elem, JB_FOBJECT, &f);
		f.val.string.val = "span";
		f.val.string.len = 4;
		fspan = findJsonbValueFromContainer(elem, JB_FOBJECT, &f);
		if (fs != NULL && fs->type == jbvString)
		{
			values[0] = PointerGetDatum(cstring_to_text_with_len(fs->val.string.val,
																 fs->val.string.len));
			nulls[0] = false;
		}
		if (fspan != NULL && fspan->type == jbvString)
		{
			char	   *str = pnstrdup(fspan->val.string.val, fspan->val.string.len);

			values[1] = InputFunctionCall(&mr_flinfo, str, mr_ioparam, -1);
			nulls[1] = false;
		}
		/*
		 * The key s is under (a phone-number pseudonym's, while a rotation
		 * runs: k its fingerprint), and whether the table's rows are all
		 * under the current key (o, true when absent): the statements
		 * then need not ask each row's key (privacy_internal._row_key).
		 */
		f.val.string.val = "k";
		f.val.string.len = 1;
		fk = findJsonbValueFromContainer(elem, JB_FOBJECT, &f);
		if (fk != NULL && fk->type == jbvString)
		{
			values[5] = PointerGetDatum(cstring_to_text_with_len(fk->val.string.val,
																 fk->val.string.len));
			nulls[5] = false;
		}
		f.val.string.val = "o";
		fo = findJsonbValueFromContainer(elem, JB_FOBJECT, &f);
		values[6] = BoolGetDatum(fo == NULL || fo->type != jbvBool || fo->val.boolean);
		if (spans)
		{
			/*
			 * The period's bounds, for partition pruning, as inclusive
			 * bounds (an exclusive one moved by the type's resolution, one
			 * microsecond), so that t.event_time BETWEEN lo AND hi names the
			 * same partitions as the period; open is infinite.
			 */
			values[3] = TimestampTzGetDatum(DT_NOBEGIN);
			values[4] = TimestampTzGetDatum(DT_NOEND);
			nulls[3] = nulls[4] = false;
			if (!nulls[1])
			{
				MultirangeType *mr = DatumGetMultirangeTypeP(values[1]);

				if (!MultirangeIsEmpty(mr))
				{
					RangeBound	lower;
					RangeBound	upper;
					RangeBound	tmp;

					multirange_get_bounds(mr_type->rngtype, mr, 0, &lower, &tmp);
					multirange_get_bounds(mr_type->rngtype, mr, mr->rangeCount - 1, &tmp, &upper);
					if (!lower.infinite)
					{
						TimestampTz lo = DatumGetTimestampTz(lower.val);

						if (!lower.inclusive && !TIMESTAMP_NOT_FINITE(lo))
							lo++;
						values[3] = TimestampTzGetDatum(lo);
					}
					if (!upper.infinite)
					{
						TimestampTz hi = DatumGetTimestampTz(upper.val);

						if (!upper.inclusive && !TIMESTAMP_NOT_FINITE(hi))
							hi--;
						values[4] = TimestampTzGetDatum(hi);
					}
				}
			}
		}
		emit(emit_arg, values, nulls);
	}
}

/* subject_ids_walk's emit for the set-returning functions */
static void
subject_ids_put(void *arg, Datum *values, bool *nulls)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) arg;
	int			natts = rsinfo->setDesc->natts;

	if (natts == 5 && TupleDescAttr(rsinfo->setDesc, 4)->atttypid == BOOLOID)
	{
		/* _subject_ids: (s, span, b, k, o) */
		Datum		v[5] = {values[0], values[1], values[2], values[5], values[6]};
		bool		n[5] = {nulls[0], nulls[1], nulls[2], nulls[5], nulls[6]};

		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, n);
	}
	else
		/*
		 * _subject_ids_span: (s, span, b, lo, hi, k, o); as declared before
		 * 0.17.0, the first 3 or 5 of them
		 */
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

/*
 * The rows of _subject_ids and _subject_ids_span: the identifiers of
 * params->key (subject_ids_walk).
 */
static void
subject_ids_rows(FunctionCallInfo fcinfo, bool spans, bool want_bounded)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	text	   *key;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		return;
	/* (as declared before 0.17.0: without k and o) */
	if (spans ? (rsinfo->setDesc->natts != 7 && rsinfo->setDesc->natts != 5)
		: (rsinfo->setDesc->natts != 5 && rsinfo->setDesc->natts != 3))
		elog(ERROR, "_subject_ids returns an unexpected row type");
	key = PG_GETARG_TEXT_PP(1);
	subject_ids_walk(PG_GETARG_JSONB_P(0), VARDATA_ANY(key), VARSIZE_ANY_EXHDR(key),
					 spans, want_bounded, subject_ids_put, rsinfo);
}

PG_FUNCTION_INFO_V1(pgp_subject_ids);

/*
 * _subject_ids(params, key): the subject's identifiers for one column, the
 * array params->key of {"s": text, "span": tstzmultirange, "b": bool,
 * "k": text, "o": bool} (privacy_internal._subject_params), as rows (s,
 * span, b, k, o).  Every generated
 * statement reads its identifiers through it, as the table's owner: pure
 * (it reads nothing but its argument, and parses a multirange with the
 * built-in input function only), so granted to PUBLIC.  In C so that a
 * statement pays no PL/pgSQL call and no query per use.
 */
Datum
pgp_subject_ids(PG_FUNCTION_ARGS)
{
	subject_ids_rows(fcinfo, false, false);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pgp_subject_ids_span);

/*
 * _subject_ids_span(params, key, bounded): the same rows, only those whose
 * period is bounded (b) or not, with the bounds (lo, hi) of the period.  A
 * statement over a table partitioned by its event time joins its rows on
 * t.event_time BETWEEN lo AND hi as well: a superset of the period, which
 * lets each identifier's probe skip the partitions outside its period.
 */
Datum
pgp_subject_ids_span(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("bounded must not be null")));
	subject_ids_rows(fcinfo, true, PG_GETARG_BOOL(2));
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pgp_subject_set_erasing);

/*
 * _subject_set_erasing(on): mark (or unmark) this transaction as running
 * an erasure.  Only erase_subject calls it (EXECUTE is not granted).
 */
Datum
pgp_subject_set_erasing(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("erasure flag must not be null")));
	pgp_subject_set_erasing_flag(PG_GETARG_BOOL(0));
	PG_RETURN_VOID();
}

static void
subject_register_callbacks(void)
{
	if (!subject_xact_cb_registered)
	{
		RegisterXactCallback(subject_xact_cb, NULL);
		RegisterSubXactCallback(subject_subxact_cb, NULL);
		subject_xact_cb_registered = true;
	}
}

/* Mark (or unmark) this transaction as running an erasure. */
void
pgp_subject_set_erasing_flag(bool on)
{
	subject_register_callbacks();
	subject_erasing = on;
	subject_erasing_level = GetCurrentTransactionNestLevel();
}

PG_FUNCTION_INFO_V1(pgp_subject_erasing);

/* _subject_erasing(): true while erase_subject runs its statements. */
Datum
pgp_subject_erasing(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(subject_erasing);
}

/* The generated-SQL cache: key and value strings in SubjectCacheContext. */
typedef struct SubjectCacheEntry
{
	char		key[NAMEDATALEN * 2];
	char	   *value;			/* text of the SQL cache, or NULL */
	void	   *obj;			/* what the C engine keeps under the key, or NULL */
} SubjectCacheEntry;

static HTAB *subject_cache = NULL;
static MemoryContext SubjectCacheContext = NULL;

/*
 * The memory of emptied caches, kept until no caller can hold a pointer
 * into it: the end of the transaction, or the start of the next engine
 * call (pgp_subject_build_begin at depth 0).  An engine call that holds an
 * object it kept, or is about to keep, may see the cache emptied under it
 * (an invalidation taken in by any catalog read, or a suspect's shape
 * checked); what it holds stays valid until the call is over.
 */
static MemoryContext SubjectRetiredContext = NULL;
static bool subject_callbacks_registered = false;

/* The searchable columns (privacy_internal._subject_column[]), flat, or NULL. */
static struct varlena *subject_cols = NULL;

/*
 * The relations whose invalidation empties the cache, sorted (NULL: not
 * known yet, and then any invalidation empties it): the registered tables,
 * their partitions and pg_privacy's catalog tables.  Everything the cache
 * holds depends only on them: a declaration changed through the catalog
 * functions invalidates its table and privacy.registered_table
 * (privacy_internal._invalidate); a change of a registered table's columns,
 * triggers, constraints, partitions or inheritance children invalidates
 * the table or the partition.  Invalidations of other relations (the
 * statistics that autovacuum writes to any table, an application's
 * temporary tables) leave the cache alone; so does an invalidation of a
 * registered table or partition that left its shape as it was (below).
 */
static Oid *subject_watched = NULL;
static int	subject_nwatched = 0;

/* The pg_namespace syscache hash values of their schemas. */
static uint32 *subject_watched_nsp = NULL;

/*
 * Per watched relation, its shape when the cache was filled (subject_shape),
 * or NULL for pg_privacy's own catalog tables, whose every invalidation
 * empties the cache (a declaration changed: the rows change, the shape
 * does not).
 */
static char **subject_watched_shape = NULL;
static int *subject_watched_shapelen = NULL;

/*
 * Watched relations invalidated since the cache was last used: an
 * invalidation may be a change of the table or only of its statistics
 * (VACUUM and ANALYZE, by hand or by autovacuum, rewrite the table's
 * pg_class row, and with it send the same invalidation as an ALTER
 * TABLE).  Checked at the next use (subject_cache_settle): the shape
 * changed, the cache is emptied; else it stays.
 */
#define SUBJECT_MAX_SUSPECTS 64
static Oid	subject_suspects[SUBJECT_MAX_SUSPECTS];
static int	subject_nsuspects = 0;

/* How many times the cache was emptied in this backend. */
static uint64 subject_cache_resets = 0;


/* Forget everything generated. */
static void
subject_cache_empty(void)
{
	subject_cache_resets++;
	subject_cache = NULL;
	subject_cols = NULL;
	subject_watched = NULL;
	subject_watched_nsp = NULL;
	subject_watched_shape = NULL;
	subject_watched_shapelen = NULL;
	subject_nwatched = 0;
	subject_nsuspects = 0;
	if (SubjectCacheContext != NULL)
	{
		/* the hash table and what it holds go with the context, later */
		if (SubjectRetiredContext == NULL)
			SubjectRetiredContext = AllocSetContextCreate(TopMemoryContext,
														  "pg_privacy emptied subject SQL caches",
														  ALLOCSET_SMALL_SIZES);
		MemoryContextSetParent(SubjectCacheContext, SubjectRetiredContext);
		SubjectCacheContext = NULL;
	}
}

/* Free the emptied caches' memory: nobody holds a pointer into it now. */
static void
subject_cache_free_retired(void)
{
	if (SubjectRetiredContext != NULL)
		MemoryContextDeleteChildren(SubjectRetiredContext);
}

/*
 * Relcache callback: a declaration (or a table) changed somewhere; forget
 * everything generated, unless the relation is not one the cache depends
 * on, or is a table whose shape is checked at the next use (it may have
 * been vacuumed or analyzed only).  Rebuilding costs one export's worth of
 * catalog reads.  No catalog is read here: the callback runs wherever
 * invalidations are taken in.
 */
static void
subject_cache_reset(Datum arg, Oid relid)
{
	Oid		   *hit;
	int			i;

	if (OidIsValid(relid) && subject_watched != NULL)
	{
		hit = bsearch(&relid, subject_watched, subject_nwatched, sizeof(Oid), oid_cmp);
		if (hit == NULL)
			return;
		if (subject_watched_shape != NULL && subject_watched_shape[hit - subject_watched] != NULL)
		{
			for (i = 0; i < subject_nsuspects; i++)
				if (subject_suspects[i] == relid)
					return;
			if (subject_nsuspects < SUBJECT_MAX_SUSPECTS)
			{
				subject_suspects[subject_nsuspects++] = relid;
				return;
			}
		}
	}
	subject_cache_empty();
}

/* Append the bytes of a value to a shape. */
#define SHAPE_PUT(buf, v)	appendBinaryStringInfo((buf), (const char *) &(v), sizeof(v))

static void
shape_put_str(StringInfo buf, const char *s)
{
	if (s == NULL)
		appendStringInfoChar(buf, '\x01');
	else
		appendBinaryStringInfo(buf, s, strlen(s) + 1);
}

static void
shape_put_class_attr(StringInfo buf, HeapTuple tup, AttrNumber attno)
{
	bool		isnull;
	Datum		d = SysCacheGetAttr(RELOID, tup, attno, &isnull);

	if (isnull)
		appendStringInfoChar(buf, '\x01');
	else
	{
		struct varlena *v = PG_DETOAST_DATUM_PACKED(d);
		int32		len = VARSIZE_ANY_EXHDR(v);

		SHAPE_PUT(buf, len);
		appendBinaryStringInfo(buf, VARDATA_ANY(v), len);
	}
}

/* Append a list of OIDs (its length first), and free the list. */
static void
shape_put_oids(StringInfo buf, List *oids)
{
	ListCell   *lc;
	int			n = list_length(oids);

	SHAPE_PUT(buf, n);
	foreach(lc, oids)
	{
		Oid			o = lfirst_oid(lc);

		SHAPE_PUT(buf, o);
	}
	list_free(oids);
}

/*
 * The shape of a relation: everything of it that the generated statements
 * and the checks kept with them may depend on, as bytes, compared whole.
 * Its pg_class row but the figures that VACUUM and ANALYZE keep (pages,
 * tuples, all-visible pages, the frozen and multixact horizons, the
 * file), its columns, defaults and check constraints, triggers, foreign
 * keys (and, through the triggers that enforce them, the keys that
 * reference it), indexes, rules and inheritance children.  False when the
 * relation is gone.
 *
 * Reads the catalog (and so may take in invalidations, which may empty
 * the cache: the caller checks).  The relation is not locked: a change
 * committed after this read sends its own invalidation, checked again.
 */
static bool
subject_shape(Oid relid, StringInfo buf)
{
	HeapTuple	tup;
	Form_pg_class c;
	Relation	rel;
	List	   *children;
	List	   *indexes;
	List	   *fkeys;
	ListCell   *lc;
	int			i,
				j;

	/*
	 * Locked while it is read, so that it cannot be dropped meanwhile; not
	 * waited for (someone altering or dropping it: take it as changed),
	 * and let go at once, not kept to the end of the caller's transaction
	 * (an application's UPDATE checking a restriction).  First what reads
	 * the catalog, then the relcache entry's own fields.
	 */
	if (!ConditionalLockRelationOid(relid, AccessShareLock))
		return false;
	children = find_inheritance_children(relid, NoLock);
	tup = SearchSysCache1(RELOID, ObjectIdGetDatum(relid));
	if (!HeapTupleIsValid(tup))
	{
		UnlockRelationOid(relid, AccessShareLock);
		return false;
	}
	c = (Form_pg_class) GETSTRUCT(tup);
	SHAPE_PUT(buf, c->oid);
	shape_put_str(buf, NameStr(c->relname));
	SHAPE_PUT(buf, c->relnamespace);
	SHAPE_PUT(buf, c->reltype);
	SHAPE_PUT(buf, c->reloftype);
	SHAPE_PUT(buf, c->relowner);
	SHAPE_PUT(buf, c->relam);
	SHAPE_PUT(buf, c->reltablespace);
	SHAPE_PUT(buf, c->reltoastrelid);
	SHAPE_PUT(buf, c->relhasindex);
	SHAPE_PUT(buf, c->relisshared);
	SHAPE_PUT(buf, c->relpersistence);
	SHAPE_PUT(buf, c->relkind);
	SHAPE_PUT(buf, c->relnatts);
	SHAPE_PUT(buf, c->relchecks);
	SHAPE_PUT(buf, c->relhasrules);
	SHAPE_PUT(buf, c->relhastriggers);
	SHAPE_PUT(buf, c->relhassubclass);
	SHAPE_PUT(buf, c->relrowsecurity);
	SHAPE_PUT(buf, c->relforcerowsecurity);
	SHAPE_PUT(buf, c->relispopulated);
	SHAPE_PUT(buf, c->relreplident);
	SHAPE_PUT(buf, c->relispartition);
	SHAPE_PUT(buf, c->relrewrite);
	shape_put_class_attr(buf, tup, Anum_pg_class_relacl);
	shape_put_class_attr(buf, tup, Anum_pg_class_reloptions);
	shape_put_class_attr(buf, tup, Anum_pg_class_relpartbound);
	ReleaseSysCache(tup);

	shape_put_oids(buf, children);

	/*
	 * Whether Citus manages it: the statements identify a row across shards
	 * otherwise there (create_distributed_table leaves the table's OID and
	 * may leave the rest of its shape as it was).
	 */
	{
		bool		citus = pgp_citus_table(relid);

		SHAPE_PUT(buf, citus);
	}

	rel = RelationIdGetRelation(relid);
	if (!RelationIsValid(rel))
	{
		UnlockRelationOid(relid, AccessShareLock);
		return false;
	}
	indexes = RelationGetIndexList(rel);
	shape_put_oids(buf, indexes);
	fkeys = RelationGetFKeyList(rel);
	i = list_length(fkeys);
	SHAPE_PUT(buf, i);
	foreach(lc, fkeys)
	{
		ForeignKeyCacheInfo *fk = lfirst_node(ForeignKeyCacheInfo, lc);

		SHAPE_PUT(buf, fk->conoid);
		SHAPE_PUT(buf, fk->conrelid);
		SHAPE_PUT(buf, fk->confrelid);
		SHAPE_PUT(buf, fk->nkeys);
		for (j = 0; j < fk->nkeys; j++)
		{
			SHAPE_PUT(buf, fk->conkey[j]);
			SHAPE_PUT(buf, fk->confkey[j]);
			SHAPE_PUT(buf, fk->conpfeqop[j]);
		}
	}

	/* the relcache entry's own fields: nothing below reads the catalog */
	for (i = 0; i < RelationGetDescr(rel)->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(RelationGetDescr(rel), i);

		shape_put_str(buf, NameStr(a->attname));
		SHAPE_PUT(buf, a->atttypid);
		SHAPE_PUT(buf, a->atttypmod);
		SHAPE_PUT(buf, a->attndims);
		SHAPE_PUT(buf, a->attnotnull);
		SHAPE_PUT(buf, a->atthasdef);
		SHAPE_PUT(buf, a->attidentity);
		SHAPE_PUT(buf, a->attgenerated);
		SHAPE_PUT(buf, a->attisdropped);
		SHAPE_PUT(buf, a->attislocal);
		SHAPE_PUT(buf, a->attinhcount);
		SHAPE_PUT(buf, a->attcollation);
	}
	if (RelationGetDescr(rel)->constr != NULL)
	{
		TupleConstr *k = RelationGetDescr(rel)->constr;

		SHAPE_PUT(buf, k->num_defval);
		for (i = 0; i < k->num_defval; i++)
		{
			SHAPE_PUT(buf, k->defval[i].adnum);
			shape_put_str(buf, k->defval[i].adbin);
		}
		SHAPE_PUT(buf, k->num_check);
		for (i = 0; i < k->num_check; i++)
		{
			shape_put_str(buf, k->check[i].ccname);
			shape_put_str(buf, k->check[i].ccbin);
			SHAPE_PUT(buf, k->check[i].ccvalid);
			SHAPE_PUT(buf, k->check[i].ccnoinherit);
		}
	}
	if (rel->trigdesc != NULL)
	{
		SHAPE_PUT(buf, rel->trigdesc->numtriggers);
		for (i = 0; i < rel->trigdesc->numtriggers; i++)
		{
			Trigger    *t = &rel->trigdesc->triggers[i];

			SHAPE_PUT(buf, t->tgoid);
			shape_put_str(buf, t->tgname);
			SHAPE_PUT(buf, t->tgfoid);
			SHAPE_PUT(buf, t->tgtype);
			SHAPE_PUT(buf, t->tgenabled);
			SHAPE_PUT(buf, t->tgisinternal);
			SHAPE_PUT(buf, t->tgisclone);
			SHAPE_PUT(buf, t->tgconstrrelid);
			SHAPE_PUT(buf, t->tgconstrindid);
			SHAPE_PUT(buf, t->tgconstraint);
			SHAPE_PUT(buf, t->tgdeferrable);
			SHAPE_PUT(buf, t->tginitdeferred);
			SHAPE_PUT(buf, t->tgnargs);
			for (j = 0; j < t->tgnargs; j++)
				shape_put_str(buf, t->tgargs[j]);
			SHAPE_PUT(buf, t->tgnattr);
			for (j = 0; j < t->tgnattr; j++)
				SHAPE_PUT(buf, t->tgattr[j]);
			shape_put_str(buf, t->tgqual);
			shape_put_str(buf, t->tgoldtable);
			shape_put_str(buf, t->tgnewtable);
		}
	}
	if (rel->rd_rules != NULL)
	{
		SHAPE_PUT(buf, rel->rd_rules->numLocks);
		for (i = 0; i < rel->rd_rules->numLocks; i++)
		{
			SHAPE_PUT(buf, rel->rd_rules->rules[i]->ruleId);
			SHAPE_PUT(buf, rel->rd_rules->rules[i]->event);
			SHAPE_PUT(buf, rel->rd_rules->rules[i]->enabled);
			SHAPE_PUT(buf, rel->rd_rules->rules[i]->isInstead);
		}
	}
	RelationClose(rel);
	UnlockRelationOid(relid, AccessShareLock);
	return true;
}

/*
 * Check the watched relations invalidated since the last use: any whose
 * shape changed (or that is gone) empties the cache.  Called before the
 * cache is read or written, in a transaction.
 */
static void
subject_cache_settle(void)
{
	while (subject_nsuspects > 0 && subject_watched != NULL)
	{
		Oid			relid = subject_suspects[subject_nsuspects - 1];
		uint64		resets = subject_cache_resets;
		StringInfoData buf;
		Oid		   *hit;
		bool		same;
		int			i;

		if (!IsTransactionState())
		{
			subject_cache_empty();
			return;
		}
		subject_nsuspects--;
		initStringInfo(&buf);
		/* (an error while it is checked must not lose the suspect) */
		PG_TRY();
		{
			same = subject_shape(relid, &buf);
		}
		PG_CATCH();
		{
			subject_cache_empty();
			PG_RE_THROW();
		}
		PG_END_TRY();
		if (resets != subject_cache_resets || subject_watched == NULL)
		{
			/* emptied while the catalog was read: nothing left to check */
			pfree(buf.data);
			return;
		}
		hit = bsearch(&relid, subject_watched, subject_nwatched, sizeof(Oid), oid_cmp);
		i = hit ? hit - subject_watched : -1;
		same = same && i >= 0 && subject_watched_shape != NULL && subject_watched_shape[i] != NULL &&
			subject_watched_shapelen[i] == buf.len &&
			memcmp(subject_watched_shape[i], buf.data, buf.len) == 0;
		pfree(buf.data);
		if (!same)
		{
			subject_cache_empty();
			return;
		}
	}
}

/*
 * Syscache callback on pg_namespace: the statements name their tables
 * schema-qualified, so a schema renamed (or any other change of a schema,
 * rare) empties the cache; the tables' own relcache entries are not
 * invalidated by it.
 */
static void
subject_cache_schema_changed(Datum arg, int cacheid, uint32 hashvalue)
{
	int			i;

	/*
	 * Only a schema of a relation the cache depends on: the first temporary
	 * table of a session (which may create its schema) leaves it alone.
	 */
	if (hashvalue != 0 && subject_watched_nsp != NULL)
	{
		for (i = 0; i < subject_nwatched; i++)
			if (subject_watched_nsp[i] == hashvalue)
				break;
		if (i == subject_nwatched)
			return;
	}
	subject_cache_reset((Datum) 0, InvalidOid);
}

/* The cache's memory context and invalidation callbacks, on first use. */
static void
subject_cache_context(void)
{
	if (SubjectCacheContext == NULL)
		SubjectCacheContext = AllocSetContextCreate(TopMemoryContext,
													"pg_privacy subject SQL cache",
													ALLOCSET_DEFAULT_SIZES);
	if (!subject_callbacks_registered)
	{
		pgp_on_relcache(subject_cache_reset, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACEOID, subject_cache_schema_changed, (Datum) 0);
		subject_callbacks_registered = true;
	}
}

static void
subject_cache_init(void)
{
	HASHCTL		ctl;

	subject_cache_context();
	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = NAMEDATALEN * 2;
	ctl.entrysize = sizeof(SubjectCacheEntry);
	ctl.hcxt = SubjectCacheContext;
	subject_cache = hash_create("pg_privacy subject SQL cache", 64, &ctl,
								HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
}

/* The key as a fixed-size, NUL-padded hash key; too long is an error. */
static void
subject_cache_key(text *t, char *key)
{
	int			len = VARSIZE_ANY_EXHDR(t);

	if (len >= NAMEDATALEN * 2)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("subject cache key is too long"),
				 errdetail("A key is at most %d bytes.", NAMEDATALEN * 2 - 1)));
	memset(key, 0, NAMEDATALEN * 2);
	memcpy(key, VARDATA_ANY(t), len);
}

PG_FUNCTION_INFO_V1(pgp_subject_cache_get);

/* _subject_cache_get(key): the cached text, or NULL. */
Datum
pgp_subject_cache_get(PG_FUNCTION_ARGS)
{
	char		key[NAMEDATALEN * 2];
	const char *v;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	subject_cache_key(PG_GETARG_TEXT_PP(0), key);	/* 54000 when too long */
	v = pgp_subject_cache_lookup(key);
	if (v == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(v));
}

PG_FUNCTION_INFO_V1(pgp_subject_cache_put);

/* _subject_cache_put(key, value): remember value; returns it. */
Datum
pgp_subject_cache_put(PG_FUNCTION_ARGS)
{
	char		key[NAMEDATALEN * 2];
	text	   *value;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	value = PG_GETARG_TEXT_PP(1);
	subject_cache_key(PG_GETARG_TEXT_PP(0), key);	/* 54000 when too long */
	pgp_subject_cache_store(key, text_to_cstring(value));	/* (or not: see there) */
	PG_RETURN_TEXT_P(value);
}

/*
 * The entry of key in the cache, or NULL when there is none (create: made,
 * the cache too, empty); NULL for a key too long to keep.
 */
static SubjectCacheEntry *
subject_cache_entry(const char *key, bool create)
{
	char		k[NAMEDATALEN * 2];
	SubjectCacheEntry *e;
	bool		found;

	if (strlen(key) >= NAMEDATALEN * 2)
		return NULL;
	subject_cache_settle();
	if (subject_cache == NULL)
	{
		if (!create)
			return NULL;
		subject_cache_init();
	}
	memset(k, 0, sizeof(k));
	strcpy(k, key);
	e = hash_search(subject_cache, k, create ? HASH_ENTER : HASH_FIND, &found);
	if (e != NULL && create && !found)
	{
		e->value = NULL;
		e->obj = NULL;
	}
	return e;
}

/*
 * The same cache for C (src/engine.c): the text kept under key, or NULL.
 * What the cache holds is gone at the next relcache invalidation, which
 * any statement may process: callers copy what they use.
 */
const char *
pgp_subject_cache_lookup(const char *key)
{
	SubjectCacheEntry *e = subject_cache_entry(key, false);

	return e ? e->value : NULL;
}

/*
 * Something is kept outside an engine call (the SQL builders called from
 * PL/pgSQL, in their caller's snapshot, which may predate a change whose
 * invalidation was already taken in): the shapes are dropped, so that
 * until the cache is next emptied any invalidation of a watched relation
 * empties it, as before shapes were checked.  (The suspects were settled
 * just before, by pgp_subject_cache_may_keep.)
 */
static void
subject_cache_kept_outside(void)
{
	if (build_depth == 0)
	{
		subject_watched_shape = NULL;
		subject_watched_shapelen = NULL;
	}
}

/*
 * Whether what is built now may be kept: not inside an engine call that
 * an invalidation has interrupted (the build window, above).
 */
bool
pgp_subject_cache_may_keep(void)
{
	subject_cache_settle();
	return build_depth == 0 || build_resets == subject_cache_resets;
}

/*
 * Keep value (text) under key; keys too long are not kept, nor anything
 * built in an engine call an invalidation interrupted.
 */
void
pgp_subject_cache_store(const char *key, const char *value)
{
	SubjectCacheEntry *e;

	if (!pgp_subject_cache_may_keep())
		return;
	e = subject_cache_entry(key, true);

	if (e == NULL)
		return;
	subject_cache_kept_outside();
	if (e->value != NULL)
		pfree(e->value);
	e->value = MemoryContextStrdup(SubjectCacheContext, value);
}

/* The object kept under key (allocated in pgp_subject_cache_memory()), or NULL. */
void *
pgp_subject_cache_obj(const char *key)
{
	SubjectCacheEntry *e = subject_cache_entry(key, false);

	return e ? e->obj : NULL;
}

/*
 * Keep obj, allocated in pgp_subject_cache_memory(), under key (or not,
 * as pgp_subject_cache_store; obj stays valid until the next reset).
 */
void
pgp_subject_cache_keep_obj(const char *key, void *obj)
{
	SubjectCacheEntry *e;

	if (!pgp_subject_cache_may_keep())
		return;
	e = subject_cache_entry(key, true);

	if (e != NULL)
	{
		subject_cache_kept_outside();
		e->obj = obj;
	}
}

/*
 * The build window of one engine call (src/engine.c), begun before it
 * reads anything it may keep, ended when it returns; an error ends it with
 * the (sub)transaction that fails.
 */
void
pgp_subject_build_begin(void)
{
	subject_register_callbacks();
	if (build_depth == 0)
	{
		/* no engine call runs: nothing points into an emptied cache */
		subject_cache_free_retired();
		/* what was invalidated before the call is checked before it */
		subject_cache_settle();
		build_resets = subject_cache_resets;
	}
	if (build_depth < BUILD_MAX_NEST)
		build_levels[build_depth] = GetCurrentTransactionNestLevel();
	build_depth++;
}

void
pgp_subject_build_end(void)
{
	if (build_depth > 0)
		build_depth--;
}

/* Where objects kept in the cache live (reset with it). */
MemoryContext
pgp_subject_cache_memory(void)
{
	subject_cache_context();
	return SubjectCacheContext;
}

PG_FUNCTION_INFO_V1(pgp_subject_query);

/*
 * _subject_query(tbl, sql, params): the first column (jsonb) of the first
 * row of a generated read-only query over tbl whose only parameter $1 is
 * params.  NULL when there is no row.
 *
 * The query reads a user's table and evaluates what its columns' types
 * bring (casts to json, operators, a row-level security policy), so it runs
 * as the owner of tbl in a security-restricted operation with search_path
 * pg_catalog, pg_temp (pgp_begin_as_owner), never as the extension owner
 * or the caller.  It may only call what the owner may: built-in functions
 * and the extension's functions granted to PUBLIC; keyed work on its
 * result is done by the caller afterwards.  It runs in the caller's
 * snapshot (read-only SPI), so a STABLE caller reads one snapshot
 * throughout.  STRICT; the NULL checks below guard a changed declaration.
 */
Datum
pgp_subject_query(PG_FUNCTION_ARGS)
{
	Oid			argtypes[1] = {JSONBOID};
	Datum		values[1];
	Datum		result = (Datum) 0;
	bool		isnull = true;

	/* 0.1.0 declared it (sql text, params jsonb): see src/compat.c */
	pgp_compat_check_nargs(fcinfo, 3, "privacy_internal._subject_query");
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	values[0] = PG_GETARG_DATUM(2);
	(void) pgp_owner_run(PG_GETARG_OID(0), text_to_cstring(PG_GETARG_TEXT_PP(1)),
						 1, argtypes, values, NULL,
						 PGP_RUN_QUERY | PGP_RUN_KEEP_PLAN | PGP_RUN_READ_ONLY, 0, JSONBOID,
						 &result, &isnull, NULL, NULL);
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}

PG_FUNCTION_INFO_V1(pgp_subject_rows);

/*
 * _subject_rows(tbl, sql, params): the rows (pri, m, j, k) of a generated
 * read-only query over tbl, as a set.  Run like _subject_query
 * (as the owner of tbl, security-restricted), through a cursor, into a
 * tuplestore that spills to disk: a subject with millions of rows is
 * exported without one huge value.
 */
Datum
pgp_subject_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			argtypes[1] = {JSONBOID};
	Datum		values[1];
	int			nestlevel;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		return (Datum) 0;
	/*
	 * (pri, m, j, k); 0.3.0 declared it returning one jsonb [pri, m, j],
	 * 0.4.0 to 0.16.0 (pri, m, j)
	 */
	if (!((rsinfo->setDesc->natts == 1 &&
		   TupleDescAttr(rsinfo->setDesc, 0)->atttypid == JSONBOID) ||
		  ((rsinfo->setDesc->natts == 3 || rsinfo->setDesc->natts == 4) &&
		   TupleDescAttr(rsinfo->setDesc, 0)->atttypid == INT4OID &&
		   TupleDescAttr(rsinfo->setDesc, 1)->atttypid == TEXTOID &&
		   TupleDescAttr(rsinfo->setDesc, 2)->atttypid == JSONBOID &&
		   (rsinfo->setDesc->natts == 3 ||
			TupleDescAttr(rsinfo->setDesc, 3)->atttypid == TEXTOID))))
		elog(ERROR, "_subject_rows must return (integer, text, jsonb, text)");
	values[0] = PG_GETARG_DATUM(2);

	/*
	 * Planned without bitmap scans: the generic plan probes each
	 * identifier's index (one node per partition to start, not two), as the
	 * erasure's statements do.
	 */
	nestlevel = NewGUCNestLevel();
	(void) set_config_option("enable_bitmapscan", "off",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	(void) pgp_owner_run(PG_GETARG_OID(0), text_to_cstring(PG_GETARG_TEXT_PP(1)),
						 1, argtypes, values, NULL,
						 PGP_RUN_ROWS | PGP_RUN_KEEP_PLAN | PGP_RUN_READ_ONLY, 0, JSONBOID,
						 NULL, NULL, rsinfo->setResult, rsinfo->setDesc);
	AtEOXact_GUC(true, nestlevel);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pgp_subject_eval);

/*
 * _subject_eval(sql, tbl, q, params): the first column (jsonb) of the
 * first row of sql, a query the extension built from its catalog over
 * privacy_internal._subject_rows($1, $2, $3) (the rows of tbl, read as its owner),
 * that shows those rows: decrypts, masks.  It runs as the current user
 * (the extension owner, inside the API), read-only, through a plan kept
 * per backend: the export's per-table query is planned once, not per
 * subject.  Internal: never granted.
 */
Datum
pgp_subject_eval(PG_FUNCTION_ARGS)
{
	Oid			argtypes[3] = {REGCLASSOID, TEXTOID, JSONBOID};
	Datum		values[3];
	SPIPlanPtr	plan;
	int			ret;
	Datum		result = (Datum) 0;
	bool		isnull = true;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		PG_RETURN_NULL();
	values[0] = PG_GETARG_DATUM(1);
	values[1] = PG_GETARG_DATUM(2);
	values[2] = PG_GETARG_DATUM(3);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	plan = pgp_kept_plan(text_to_cstring(PG_GETARG_TEXT_PP(0)), 3, argtypes);
	ret = SPI_execute_plan(plan, values, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	if (SPI_processed > 0)
	{
		if (SPI_tuptable->tupdesc->natts != 1 ||
			SPI_gettypeid(SPI_tuptable->tupdesc, 1) != JSONBOID)
			elog(ERROR, "_subject_eval's query must return one jsonb column");
		result = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull)
			result = SPI_datumTransfer(result, false, -1);
	}
	SPI_finish();
	if (isnull)
		PG_RETURN_NULL();
	PG_RETURN_DATUM(result);
}

PG_FUNCTION_INFO_V1(pgp_subject_cols);

/*
 * _subject_cols(): the searchable identifier columns (the view
 * privacy_internal._subject_column as an array), read once and kept flat until the
 * next relcache invalidation.  Every step of finding a subject reads them;
 * a copy of the flat array costs a memcpy, reading the view a query.
 */
/*
 * The searchable columns as kept (flat, in SubjectCacheContext), read on
 * first use after an invalidation; NULL when there is none.  Callers copy
 * the result at once: when an invalidation arrived while it was read, it
 * is returned without being kept.
 */
static struct varlena *
subject_cols_kept(void)
{
	subject_cache_settle();
	if (subject_cols == NULL)
	{
		int			ret;
		bool		isnull;
		Datum		d;
		struct varlena *flat;
		struct varlena *copy;
		uint64		resets;
		Oid		   *w = NULL;
		uint32	   *ns = NULL;
		StringInfoData *shapes = NULL;
		int			n = 0;

		/*
		 * Read in a snapshot taken now, after the invalidations that
		 * arrived: not the caller's, which may predate a declaration whose
		 * invalidation has emptied the cache already (a REPEATABLE READ
		 * transaction, or one statement's snapshot taken before the change
		 * committed), so that what is kept is never older than the change
		 * that made it go.
		 */
		AcceptInvalidationMessages();
		resets = subject_cache_resets;
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		PushActiveSnapshot(GetLatestSnapshot());
		ret = SPI_execute(pgp_internal_sql("SELECT pg_catalog.array_agg(sc ORDER BY sc.tbl::pg_catalog.oid, sc.attnum)"
											"  FROM privacy_internal._subject_column sc"), true, 1);
		if (ret != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (isnull)
		{
			PopActiveSnapshot();
			SPI_finish();
			return NULL;		/* no searchable column: nothing to keep */
		}
		flat = PG_DETOAST_DATUM_COPY(d);

		/* the relations the cache depends on, sorted as unsigned OIDs */
		ret = SPI_execute("SELECT pg_catalog.array_agg(DISTINCT x.r ORDER BY x.r) FROM ("
						  " SELECT t.tbl::pg_catalog.oid AS r FROM privacy.registered_table t"
						  " UNION ALL"
						  " SELECT p.relid::pg_catalog.oid FROM privacy.registered_table t,"
						  "        pg_catalog.pg_partition_tree(t.tbl) p"
						  " UNION ALL"
						  " SELECT c.oid FROM pg_catalog.pg_class c"
						  "  WHERE c.relnamespace OPERATOR(pg_catalog.=) 'privacy'::pg_catalog.regnamespace"
						  "    AND c.relname IN ('registered_table', 'registered_column', 'subject_table',"
						  "                      'identifier_kind', 'purpose', 'legal_basis', 'retention_policy')) x",
						  true, 1);
		if (ret != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		if (!isnull)
		{
			ArrayType  *a = DatumGetArrayTypeP(d);
			Datum	   *elems;
			bool	   *nulls;
			int			i;
			Oid			own_nsp[2] = {get_namespace_oid("privacy", true),
			get_namespace_oid("privacy_internal", true)};

			deconstruct_array(a, OIDOID, sizeof(Oid), true, TYPALIGN_INT,
							  &elems, &nulls, &n);
			w = palloc(sizeof(Oid) * Max(n, 1));
			for (i = 0; i < n; i++)
				w[i] = nulls[i] ? InvalidOid : DatumGetObjectId(elems[i]);
			qsort(w, n, sizeof(Oid), oid_cmp);
			ns = palloc(sizeof(uint32) * Max(n, 1));
			shapes = palloc0(sizeof(StringInfoData) * Max(n, 1));
			for (i = 0; i < n; i++)
			{
				Oid			nsp = OidIsValid(w[i]) ? get_rel_namespace(w[i]) : InvalidOid;

				/* (a relation gone has no schema; 0 matches no change) */
				ns[i] = OidIsValid(nsp) ? GetSysCacheHashValue1(NAMESPACEOID, ObjectIdGetDatum(nsp)) : 0;
				/*
				 * pg_privacy's catalog tables have no shape (see
				 * subject_watched_shape); nor has any relation when the
				 * cache is filled outside an engine call (the purge's
				 * hold predicates, the consent trigger): reading every
				 * partition's shape costs more than such a caller saves,
				 * and the cache is emptied by any invalidation until an
				 * engine call fills it again.
				 */
				if (build_depth > 0 && OidIsValid(nsp) && nsp != own_nsp[0] && nsp != own_nsp[1])
				{
					initStringInfo(&shapes[i]);
					if (!subject_shape(w[i], &shapes[i]))
					{
						pfree(shapes[i].data);
						shapes[i].data = NULL;
					}
				}
			}
		}
		PopActiveSnapshot();

		subject_cache_context();
		copy = MemoryContextAlloc(SubjectCacheContext, VARSIZE(flat));
		memcpy(copy, flat, VARSIZE(flat));
		if (resets != subject_cache_resets)
		{
			/*
			 * An invalidation emptied the cache while the statements ran:
			 * what they read may predate the change.  Used by this caller
			 * (who copies it at once), not kept.
			 */
			SPI_finish();
			return copy;
		}
		if (!isnull)
		{
			int			i;

			subject_watched = MemoryContextAlloc(SubjectCacheContext, sizeof(Oid) * Max(n, 1));
			memcpy(subject_watched, w, sizeof(Oid) * Max(n, 1));
			subject_watched_nsp = MemoryContextAlloc(SubjectCacheContext, sizeof(uint32) * Max(n, 1));
			memcpy(subject_watched_nsp, ns, sizeof(uint32) * Max(n, 1));
			subject_watched_shape = MemoryContextAllocZero(SubjectCacheContext, sizeof(char *) * Max(n, 1));
			subject_watched_shapelen = MemoryContextAllocZero(SubjectCacheContext, sizeof(int) * Max(n, 1));
			for (i = 0; i < n; i++)
				if (shapes[i].data != NULL)
				{
					subject_watched_shape[i] = MemoryContextAlloc(SubjectCacheContext, Max(shapes[i].len, 1));
					memcpy(subject_watched_shape[i], shapes[i].data, shapes[i].len);
					subject_watched_shapelen[i] = shapes[i].len;
				}
			subject_nwatched = n;
			subject_nsuspects = 0;
		}
		SPI_finish();
		subject_cols = copy;
	}
	return subject_cols;
}

/* A copy of the searchable columns (an array of _subject_column), or NULL. */
struct varlena *
pgp_subject_cols_copy(void)
{
	struct varlena *kept = subject_cols_kept();
	struct varlena *copy;

	if (kept == NULL)
		return NULL;
	copy = palloc(VARSIZE(kept));
	memcpy(copy, kept, VARSIZE(kept));
	return copy;
}

Datum
pgp_subject_cols(PG_FUNCTION_ARGS)
{
	struct varlena *kept = subject_cols_kept();
	struct varlena *copy;

	if (kept == NULL)
		PG_RETURN_NULL();
	copy = palloc(VARSIZE(kept));
	memcpy(copy, kept, VARSIZE(kept));
	PG_RETURN_POINTER(copy);
}

/* What _subject_params keeps between calls (fn_extra). */
typedef struct SubjectParamsState
{
	FmgrInfo	transform;		/* privacy_internal._transform */
} SubjectParamsState;

/* text of a Datum column of a deformed _subject_column, or NULL */
static inline char *
col_text(Datum *v, bool *n, int i)
{
	return n[i] ? NULL : TextDatumGetCString(v[i]);
}

/* '^[+-]?[0-9]{1,18}$' */
static bool
is_small_integer(const char *s)
{
	int			d = 0;

	if (*s == '+' || *s == '-')
		s++;
	for (; *s; s++, d++)
	{
		if (*s < '0' || *s > '9')
			return false;
	}
	return d >= 1 && d <= 18;
}

/*
 * Whether s is a value of the built-in type typ (int2, int4, int8 or
 * numeric), by the type's own input function; an error of the input
 * function means no, as a cast in a subtransaction would say.
 */
static bool
fits_builtin_type(const char *s, Oid typ)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile bool ok = true;

	if (typ == INT2OID || typ == INT4OID || typ == INT8OID)
	{
		/* is_small_integer was checked: a range check is all */
		long long	v = strtoll(s, NULL, 10);

		if (typ == INT2OID)
			return v >= PG_INT16_MIN && v <= PG_INT16_MAX;
		if (typ == INT4OID)
			return v >= PG_INT32_MIN && v <= PG_INT32_MAX;
		return true;
	}
	if (typ != NUMERICOID)
		return true;
	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		(void) DirectFunctionCall3(numeric_in, CStringGetDatum(s),
								   ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
		ReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(oldcxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		if (ERRCODE_TO_CATEGORY(edata->sqlerrcode) != ERRCODE_DATA_EXCEPTION)
			ReThrowError(edata);
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/*
 * One identifier of a column in _subject_params' document: {"s": its value
 * as the column stores it, "span", "b": whether the span is bounded, "k":
 * the key s is under (a phone-number pseudonym's, while the table's
 * relations are pending), "o": whether the table's rows are all under the
 * current key}.
 */
static void
params_push_id(JsonbParseState **state, const char *sval, const char *span, const char *key,
			   bool only_current)
{
	JsonbValue	k;
	JsonbValue	v;

	pushJsonbValue(state, WJB_BEGIN_OBJECT, NULL);
	k.type = jbvString;
	k.val.string.val = "s";
	k.val.string.len = 1;
	pushJsonbValue(state, WJB_KEY, &k);
	v.type = jbvString;
	v.val.string.val = (char *) sval;
	v.val.string.len = strlen(sval);
	pushJsonbValue(state, WJB_VALUE, &v);
	k.val.string.val = "span";
	k.val.string.len = 4;
	pushJsonbValue(state, WJB_KEY, &k);
	if (span == NULL)
		v.type = jbvNull;
	else
	{
		v.type = jbvString;
		v.val.string.val = (char *) span;
		v.val.string.len = strlen(span);
	}
	pushJsonbValue(state, WJB_VALUE, &v);
	k.val.string.val = "b";
	k.val.string.len = 1;
	pushJsonbValue(state, WJB_KEY, &k);
	if (span == NULL)
		v.type = jbvNull;
	else
	{
		v.type = jbvBool;
		v.val.boolean = strcmp(span, "{(,)}") != 0;
	}
	pushJsonbValue(state, WJB_VALUE, &v);
	if (key != NULL)
	{
		k.val.string.val = "k";
		k.val.string.len = 1;
		pushJsonbValue(state, WJB_KEY, &k);
		v.type = jbvString;
		v.val.string.val = (char *) key;
		v.val.string.len = strlen(key);
		pushJsonbValue(state, WJB_VALUE, &v);
	}
	k.val.string.val = "o";
	k.val.string.len = 1;
	pushJsonbValue(state, WJB_KEY, &k);
	v.type = jbvBool;
	v.val.boolean = only_current;
	pushJsonbValue(state, WJB_VALUE, &v);
	pushJsonbValue(state, WJB_END_OBJECT, NULL);
}

/*
 * The keys the phone-number pseudonyms of table tbl (or its partitions)
 * are pending under (privacy_internal._rekey_keys, read in the caller's
 * snapshot), into *keys; how many.
 */
static int
subject_pending_keys(Oid tbl, char ***keys)
{
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(tbl)};
	MemoryContext cxt = CurrentMemoryContext;
	int			n = 0;
	bool		isnull;
	Datum		d;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	pgp_catalog_select("SELECT privacy_internal._rekey_keys($1)", 1, argtypes, values);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (!isnull)
	{
		ArrayType  *a = DatumGetArrayTypeP(d);
		Datum	   *el;
		bool	   *nulls;
		int			i;

		deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &el, &nulls, &n);
		*keys = MemoryContextAlloc(cxt, sizeof(char *) * Max(n, 1));
		for (i = 0; i < n; i++)
			(*keys)[i] = MemoryContextStrdup(cxt, nulls[i] ? "" : TextDatumGetCString(el[i]));
	}
	SPI_finish();
	return n;
}

/*
 * Whether table tbl (itself or a partition of it now) holds rows from
 * before protect_in_batches() that privacy.rekey() has not converted yet,
 * in this statement's snapshot (src/sql/36_rekey.sql).
 */
static bool
subject_raw_table(Oid tbl)
{
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1] = {ObjectIdGetDatum(tbl)};
	bool		isnull;
	bool		yes;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	pgp_catalog_select("SELECT EXISTS (SELECT FROM privacy.rekey_pending p"
					   "  WHERE p.from_key OPERATOR(pg_catalog.=) 'raw'"
					   "    AND (p.rel OPERATOR(pg_catalog.=) $1"
					   "         OR p.rel IN (SELECT x.relid FROM pg_catalog.pg_partition_tree($1) x)))",
					   1, argtypes, values);
	yes = SPI_processed == 1 &&
		DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) &&
		!isnull;
	SPI_finish();
	return yes;
}

PG_FUNCTION_INFO_V1(pgp_subject_params);

/*
 * _subject_params(kinds, vals, spans): for every searchable column of one
 * of the kinds, the subject's identifiers of its kind as the column
 * stores them: {"<table oid>.<attnum>": [{"s", "span", "b"}]}.  A column
 * whose type is no longer one the search computes with fails closed
 * (privacy_internal._subject_check raises); a protected column gets the value
 * through its transformation (privacy_internal._transform); values that cannot be
 * a value of a non-text column's built-in type are left out.  Every find,
 * export, erasure and restriction passes here, several times: C, so that
 * no statement runs per column.
 */
Datum
pgp_subject_params(PG_FUNCTION_ARGS)
{
	SubjectParamsState *st = (SubjectParamsState *) fcinfo->flinfo->fn_extra;
	ArrayType  *kinds_a;
	ArrayType  *vals_a;
	ArrayType  *spans_a;
	Datum	   *kinds;
	bool	   *kinds_n;
	Datum	   *vals;
	bool	   *vals_n;
	Datum	   *spans;
	bool	   *spans_n;
	char	  **kind_s;
	char	  **span_s;
	int			nk,
				nv,
				ns;
	struct varlena *kept;
	ArrayType  *cols;
	Datum	   *celems;
	bool	   *cnulls;
	int			ncols;
	TupleDesc	ctd = NULL;
	Oid			span_out;
	bool		span_varlena;
	JsonbParseState *state = NULL;
	JsonbValue *res;
	int			c,
				i;
	bool		pending;
	char		current_fp[PGP_FINGERPRINT_LEN + 1];
	List	   *raw_tables = NIL;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		PG_RETURN_NULL();
	if (st == NULL)
	{
		Oid			targs[4] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID};
		List	   *tname = list_make2(makeString("privacy_internal"), makeString("_transform"));

		st = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(SubjectParamsState));
		fmgr_info_cxt(LookupFuncName(tname, 4, targs, false), &st->transform,
					  fcinfo->flinfo->fn_mcxt);
		fcinfo->flinfo->fn_extra = st;
	}
	/*
	 * While a key rotation runs (some relation is pending), the tables
	 * with relations pending hold phone-number pseudonyms under the
	 * current key and under the pending ones (src/sql/36_rekey.sql).  Read
	 * in this call's snapshot, which the statements that use these
	 * parameters share or follow (an export reads in its caller's
	 * snapshot, an erasure in later ones): the latest committed state
	 * could say nothing is pending where their older snapshot still sees
	 * rows under the replaced key.  (Once a relation is done it stays so:
	 * one pending here and done for a statement is read right by _row_key
	 * there.)
	 */
	pending = pgp_rekey_pending_in_snapshot();
	if (pending && !pgp_rekey_row_keys())
	{
		/*
		 * A database at 0.16.0, whose statements cannot ask a row's key:
		 * fail closed as it did, where a searched table is pending.
		 */
		Oid			ctypes[1] = {TEXTARRAYOID};
		Datum		cvals[1] = {PG_GETARG_DATUM(0)};

		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		pgp_catalog_select("SELECT privacy_internal._check_rekeyed(NULL, $1)", 1, ctypes, cvals);
		SPI_finish();
		pending = false;
	}
	if (pending)
		pgp_key_current_fingerprint(current_fp);
	kinds_a = PG_GETARG_ARRAYTYPE_P(0);
	vals_a = PG_GETARG_ARRAYTYPE_P(1);
	spans_a = PG_GETARG_ARRAYTYPE_P(2);
	deconstruct_array(kinds_a, TEXTOID, -1, false, TYPALIGN_INT, &kinds, &kinds_n, &nk);
	deconstruct_array(vals_a, TEXTOID, -1, false, TYPALIGN_INT, &vals, &vals_n, &nv);
	{
		int16		len;
		bool		byval;
		char		align;

		get_typlenbyvalalign(ARR_ELEMTYPE(spans_a), &len, &byval, &align);
		deconstruct_array(spans_a, ARR_ELEMTYPE(spans_a), len, byval, align,
						  &spans, &spans_n, &ns);
	}

	/* the identifiers' kinds and periods as text, once */
	getTypeOutputInfo(ARR_ELEMTYPE(spans_a), &span_out, &span_varlena);
	kind_s = palloc0(sizeof(char *) * nk);
	span_s = palloc0(sizeof(char *) * nk);
	for (i = 0; i < nk; i++)
	{
		kind_s[i] = kinds_n[i] ? NULL : TextDatumGetCString(kinds[i]);
		span_s[i] = (i >= ns || spans_n[i]) ? NULL : OidOutputFunctionCall(span_out, spans[i]);
	}

	pushJsonbValue(&state, WJB_BEGIN_OBJECT, NULL);
	kept = subject_cols_kept();
	if (kept != NULL)
	{
		cols = (ArrayType *) palloc(VARSIZE(kept));
		memcpy(cols, kept, VARSIZE(kept));
		{
			int16		len;
			bool		byval;
			char		align;

			get_typlenbyvalalign(ARR_ELEMTYPE(cols), &len, &byval, &align);
			deconstruct_array(cols, ARR_ELEMTYPE(cols), len, byval, align,
							  &celems, &cnulls, &ncols);
		}
		for (c = 0; c < ncols; c++)
		{
			HeapTupleHeader th;
			HeapTupleData tup;
			Datum		cv[32];
			bool		cn[32];
			char	   *ckind;
			char	   *cprotect;
			char	   *cdomain;
			char	   *cmode;
			Oid			ctyp;
			bool		any = false;
			bool		has_kind = false;
			char		keybuf[32];
			int			npend;
			char	  **pend = NULL;
			bool		fpe;
			bool		raw;
			char	   *rawmode = NULL;

			if (cnulls[c])
				continue;
			th = DatumGetHeapTupleHeader(celems[c]);
			if (ctd == NULL)
			{
				ctd = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(th),
											 HeapTupleHeaderGetTypMod(th));
				if (ctd->natts > 32 || ctd->natts < 18)
					elog(ERROR, "unexpected shape of privacy_internal._subject_column");
			}
			tup.t_len = HeapTupleHeaderGetDatumLength(th);
			ItemPointerSetInvalid(&tup.t_self);
			tup.t_tableOid = InvalidOid;
			tup.t_data = th;
			heap_deform_tuple(&tup, ctd, cv, cn);

			/*
			 * tbl 0, col 1, attnum 2, kind 3, link 4, protect 5, domain 6,
			 * mode 7, typ 8, ..., type_problem 17
			 */
			ckind = col_text(cv, cn, 3);
			if (ckind == NULL)
				continue;
			for (i = 0; i < nk; i++)
			{
				if (kind_s[i] != NULL && strcmp(kind_s[i], ckind) == 0)
				{
					has_kind = true;
					break;
				}
			}
			if (!has_kind)
				continue;
			if (!cn[17])
			{
				/* fail closed, with privacy_internal._subject_check's own error */
				Oid			cargs[1] = {HeapTupleHeaderGetTypeId(th)};
				List	   *cname = list_make2(makeString("privacy_internal"), makeString("_subject_check"));

				OidFunctionCall1(LookupFuncName(cname, 1, cargs, false), celems[c]);
				elog(ERROR, "privacy_internal._subject_check passed a column with a type problem");
			}
			/*
			 * A column declared protected whose protection the search cannot
			 * rely on (protect_problem 18; a database at 0.17.0 has no such
			 * column): its values may be raw, and the search matches the
			 * pseudonym only.  A raw row would be silently missed: fail
			 * closed, with privacy_internal._subject_protect_check's error.
			 */
			if (ctd->natts > 18 && !cn[18])
			{
				Oid			cargs[1] = {HeapTupleHeaderGetTypeId(th)};
				List	   *cname = list_make2(makeString("privacy_internal"),
											   makeString("_subject_protect_check"));

				OidFunctionCall1(LookupFuncName(cname, 1, cargs, false), celems[c]);
				elog(ERROR, "privacy_internal._subject_protect_check passed a column with a protection problem");
			}
			cprotect = col_text(cv, cn, 5);
			cdomain = col_text(cv, cn, 6);
			cmode = col_text(cv, cn, 7);
			ctyp = cn[8] ? InvalidOid : DatumGetObjectId(cv[8]);
			npend = 0;
			raw = false;
			if (pending)
			{
				npend = subject_pending_keys(DatumGetObjectId(cv[0]), &pend);
				raw = subject_raw_table(DatumGetObjectId(cv[0]));
				/* (protect_in_batches refuses a table Citus manages) */
				if (raw && pgp_citus_table(DatumGetObjectId(cv[0])))
					ereport(ERROR,
							(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
							 errmsg("table %s holds rows from before its protection that are not converted yet",
									get_rel_name(DatumGetObjectId(cv[0]))),
							 errdetail("Citus manages the table: its rows cannot be told apart."),
							 errhint("Run CALL privacy.rekey() (privacy.rekey_progress shows what is left), then try again.")));
				/*
				 * A table Citus manages is never pending (a key change
				 * waits for it); should one be, its statements cannot ask
				 * a row's key: fail closed.
				 */
				if (npend > 0 && pgp_citus_table(DatumGetObjectId(cv[0])))
					ereport(ERROR,
							(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
							 errmsg("the phone-number pseudonyms of table %s are not yet under the current key",
									get_rel_name(DatumGetObjectId(cv[0]))),
							 errdetail("Citus manages the table: its rows cannot be matched under the key of each."),
							 errhint("Run CALL privacy.rekey() (privacy.rekey_progress shows what is left), then try again.")));
			}
			fpe = cprotect != NULL && strcmp(cprotect, "msisdn_fpe") == 0;
			/*
			 * A column of a table with rows not converted since
			 * protect_in_batches(): such a row holds the identifier raw,
			 * which its conversion will normalize as the protect trigger
			 * does (a phone number as one under msisdn_fpe, else by the
			 * kind) and transform.  So it is the subject's exactly when
			 * that normal form is the subject's identifier's: the
			 * statements match it so (privacy_internal._subject_match,
			 * the key "raw"), and the rows under the current key only by
			 * their stored value.
			 */
			if (raw && cprotect != NULL)
				rawmode = fpe ? "msisdn" : cmode;
			/*
			 * and the table marked, "raw:<table oid>": its export shows the
			 * protected columns of such a row as its conversion will
			 * store them (privacy_internal._subject_row_json)
			 */
			if (raw && !list_member_oid(raw_tables, DatumGetObjectId(cv[0])))
			{
				JsonbValue	mk;
				JsonbValue	mv;
				char		mbuf[32];

				raw_tables = lappend_oid(raw_tables, DatumGetObjectId(cv[0]));
				snprintf(mbuf, sizeof(mbuf), "raw:%u", DatumGetObjectId(cv[0]));
				mk.type = jbvString;
				mk.val.string.val = pstrdup(mbuf);
				mk.val.string.len = strlen(mbuf);
				pushJsonbValue(&state, WJB_KEY, &mk);
				mv.type = jbvBool;
				mv.val.boolean = true;
				pushJsonbValue(&state, WJB_VALUE, &mv);
			}

			for (i = 0; i < nk; i++)
			{
				char	   *sval = NULL;
				JsonbValue	k;

				if (kind_s[i] == NULL || strcmp(kind_s[i], ckind) != 0)
					continue;
				if (cprotect != NULL)
				{
					LOCAL_FCINFO(tfc, 4);
					Datum		r;

					InitFunctionCallInfoData(*tfc, &st->transform, 4, InvalidOid, NULL, NULL);
					tfc->args[0].value = (i < nv) ? vals[i] : (Datum) 0;
					tfc->args[0].isnull = (i >= nv) || vals_n[i];
					tfc->args[1].value = CStringGetTextDatum(cprotect);
					tfc->args[1].isnull = false;
					tfc->args[2].value = cdomain ? CStringGetTextDatum(cdomain) : (Datum) 0;
					tfc->args[2].isnull = (cdomain == NULL);
					tfc->args[3].value = CStringGetTextDatum(ckind);
					tfc->args[3].isnull = false;
					r = FunctionCallInvoke(tfc);
					if (!tfc->isnull)
						sval = TextDatumGetCString(r);
				}
				else
				{
					sval = (i < nv && !vals_n[i]) ? TextDatumGetCString(vals[i]) : NULL;
					if (sval != NULL && cmode != NULL && strcmp(cmode, "text") == 0)
					{
						if ((ctyp == INT2OID || ctyp == INT4OID || ctyp == INT8OID) &&
							!is_small_integer(sval))
							sval = NULL;	/* not a value this column can hold */
						else if (ctyp != TEXTOID && ctyp != VARCHAROID && ctyp != BPCHAROID &&
								 !fits_builtin_type(sval, ctyp))
							sval = NULL;	/* not a value this column can hold */
					}
				}
				if (sval == NULL)
					continue;
				if (!any)
				{
					snprintf(keybuf, sizeof(keybuf), "%u.%d",
							 DatumGetObjectId(cv[0]), (int) DatumGetInt16(cv[2]));
					k.type = jbvString;
					k.val.string.val = pstrdup(keybuf);
					k.val.string.len = strlen(keybuf);
					pushJsonbValue(&state, WJB_KEY, &k);
					pushJsonbValue(&state, WJB_BEGIN_ARRAY, NULL);
					any = true;
				}
				/*
				 * A phone number searched in a table with relations
				 * pending: under the current key and under each pending
				 * one, each with its key, which the statements match with
				 * the key of the row (privacy_internal._row_key).
				 */
				params_push_id(&state, sval, span_s[i],
							   ((fpe && npend > 0) || rawmode != NULL) ? current_fp : NULL,
							   npend == 0 && !raw);
				if (rawmode != NULL && i < nv && !vals_n[i])
				{
					text	   *rv = pgp_normalize_identifier(pgp_identifier_norm_from_name(rawmode, strlen(rawmode)),
															  VARDATA_ANY(DatumGetTextPP(vals[i])),
															  VARSIZE_ANY_EXHDR(DatumGetTextPP(vals[i])),
															  pgp_default_country, true);

					if (rv != NULL)
						params_push_id(&state, text_to_cstring(rv), span_s[i], PGP_REKEY_RAW_FP, false);
				}
				if (fpe)
				{
					int			j;

					for (j = 0; j < npend; j++)
					{
						Datum		u;

						u = DirectFunctionCall4(pgp_msisdn_under,
												CStringGetTextDatum(pend[j]),
												vals[i],
												CStringGetTextDatum(cdomain ? cdomain : "default"),
												BoolGetDatum(false));
						params_push_id(&state, TextDatumGetCString(u), span_s[i], pend[j], false);
					}
				}
			}
			if (any)
				pushJsonbValue(&state, WJB_END_ARRAY, NULL);
		}
		if (ctd != NULL)
			ReleaseTupleDesc(ctd);
	}
	res = pushJsonbValue(&state, WJB_END_OBJECT, NULL);
	PG_RETURN_JSONB_P(JsonbValueToJsonb(res));
}

PG_FUNCTION_INFO_V1(pgp_restrict_trigger);

/*
 * Run a catalog query of the restriction check (as the extension owner)
 * whose errors (a restricted row, or a restriction whose key is not
 * listed: 55000) are logged without the UPDATE statement, which may name
 * the subject; rethrown at once, so no subtransaction is needed.
 */
static void
restrict_catalog_select(const char *sql, int nargs, Oid *argtypes, Datum *values)
{
	MemoryContext cxt = CurrentMemoryContext;

	PG_TRY();
	{
		pgp_catalog_select(sql, nargs, argtypes, values);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		edata->hide_stmt = true;
		ReThrowError(edata);
	}
	PG_END_TRY();
}

/*
 * The query of the restriction check over the old rows that a catalog
 * function (_restrict_values_sql, _restrict_rows_sql or _restrict_sql)
 * builds as the extension owner, in a snapshot taken now, not the UPDATE's (which may predate a
 * declaration whose invalidation this statement has processed already:
 * kept, what it built would outlive that declaration); NULL for none.
 */
static char *
restrict_query(const char *fn_sql, Datum relid)
{
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1] = {relid};

	pgp_subject_build_begin();
	PushActiveSnapshot(GetLatestSnapshot());
	pgp_catalog_select(fn_sql, 1, argtypes, values);
	PopActiveSnapshot();
	pgp_subject_build_end();
	if (SPI_processed != 1)
		elog(ERROR, "%s returned %d rows", fn_sql, (int) SPI_processed);
	return SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
}

/*
 * The relation and the layout of the rows of the transition table: the
 * trigger relation's OID and its columns (name, type, modifier, collation,
 * dropped) in order, as text.  The plan cache does not watch a transition
 * table, and a plan over it reads its columns by position: a plan kept
 * over it is kept under its text and this key, so that it is used for
 * this relation only (another with the same query, its columns in another
 * order, gets its own) and a relation whose columns changed is planned
 * again.
 */
static char *
restrict_layout(Oid relid, TupleDesc desc)
{
	StringInfoData buf;
	StringInfoData names;
	int			i;

	initStringInfo(&buf);
	initStringInfo(&names);
	appendStringInfo(&buf, "%u", relid);
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute a = TupleDescAttr(desc, i);

		/* numbers only in the text: a column's name goes in by a hash */
		appendStringInfo(&buf, ",%u:%d:%u%s", a->atttypid, a->atttypmod, a->attcollation,
						 a->attisdropped ? ":d" : "");
		appendBinaryStringInfo(&names, NameStr(a->attname), strlen(NameStr(a->attname)) + 1);
	}
	appendStringInfo(&buf, ",%016llx",
					 (unsigned long long) hash_bytes_extended((const unsigned char *) names.data, names.len, 0));
	return buf.data;
}

/*
 * The one jsonb (or NULL) a query over the old rows returns, run as the
 * table's owner in a security-restricted operation.  The query text is
 * the catalog's, constant per table while its declarations and layout
 * stand: its plan is kept (pgp_kept_plan) under the text and the layout.
 */
static Datum
restrict_owner_rows(Oid relid, TupleDesc desc, const char *sql, int nargs, Oid *argtypes,
					Datum *values, bool *isnull)
{
	PgpAsOwner	as_owner;
	int			ret;
	Datum		d;
	char	   *keyed = psprintf("/* pgp_old_rows %s */ %s", restrict_layout(relid, desc), sql);

	pgp_begin_as_owner(relid, &as_owner);
	ret = SPI_execute_plan(pgp_kept_plan(keyed, nargs, argtypes), values, NULL, true, 1);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	if (SPI_processed != 1 || SPI_tuptable->tupdesc->natts != 1 ||
		SPI_gettypeid(SPI_tuptable->tupdesc, 1) != JSONBOID)
		elog(ERROR, "the restriction trigger's query must return one jsonb");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, isnull);
	pgp_end_as_owner(&as_owner);
	return d;
}

/*
 * The restriction trigger (AFTER UPDATE, FOR EACH STATEMENT, old rows as
 * the transition table pgp_old_rows): refuses an UPDATE of rows of a
 * restricted data subject.  See 73_subject_restrict.sql for the steps: the catalog and the restrictions
 * are read as the extension owner (pgp_catalog_select), the old rows only
 * as the owner of the table, in a security-restricted operation, so that
 * nothing of the owner's (a cast, a comparison of her type) runs with more
 * rights than hers, whoever wrote.  The erasure's own statements pass
 * (_erasing).
 *
 * In a database not updated to 0.10.0 yet (no _restrict_hits),
 * _restrict_sql's query gives every old row with its period at once, for
 * _restrict_check, as before (and still does for a backend that runs the
 * library of an older version after the update).
 */
Datum
pgp_restrict_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Oid			relid;
	Oid			argtypes[2] = {REGCLASSOID, JSONBOID};
	Datum		values[2];
	bool		isnull;
	char	   *sql;
	Datum		vals;
	bool		vals_null;
	bool		two_steps;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("privacy_internal._restrict_trigger() must be called as a trigger")));
	if (!TRIGGER_FIRED_AFTER(td->tg_event) || !TRIGGER_FIRED_FOR_STATEMENT(td->tg_event) ||
		!TRIGGER_FIRED_BY_UPDATE(td->tg_event) || td->tg_oldtable == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("privacy_internal._restrict_trigger() must be an AFTER UPDATE statement trigger with an old transition table")));
	relid = RelationGetRelid(td->tg_relation);
	/* the erasure's scrub, rekey's and protect()'s conversions: no subject changes */
	if (subject_erasing || pgp_rekeying(relid) || pgp_rewriting(relid))
		return PointerGetDatum(NULL);

	values[0] = ObjectIdGetDatum(relid);
	two_steps = pgp_internal_func_exists("_restrict_hits", 2, argtypes);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/* 1. the owner's query, or NULL: no restriction in force */
	sql = restrict_query(two_steps ? "SELECT privacy_internal._restrict_values_sql($1)"
						 : "SELECT privacy_internal._restrict_sql($1)", values[0]);
	if (sql == NULL)
	{
		SPI_finish();
		return PointerGetDatum(NULL);
	}
	if (SPI_register_trigger_data(td) != SPI_OK_TD_REGISTER)
		elog(ERROR, "SPI_register_trigger_data failed");

	/* 2. the old rows' identifiers, each once, read as the table's owner */
	vals = restrict_owner_rows(relid, RelationGetDescr(td->tg_relation), sql, 0, NULL, NULL, &vals_null);

	if (two_steps && !vals_null)
	{
		Datum		hits;
		Oid			hits_type[1] = {TEXTARRAYOID};

		/* 3. those a restriction in force holds (as the extension owner) */
		values[1] = vals;
		restrict_catalog_select("SELECT privacy_internal._restrict_hits($1, $2)", 2, argtypes, values);
		if (SPI_processed != 1)
			elog(ERROR, "privacy_internal._restrict_hits returned %d rows", (int) SPI_processed);
		hits = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
		vals_null = isnull;
		if (!isnull)
		{
			/* 4. the rows that hold them, with their periods (as the owner) */
			sql = restrict_query("SELECT privacy_internal._restrict_rows_sql($1)", values[0]);
			if (sql == NULL)
				elog(ERROR, "privacy_internal._restrict_rows_sql returned no query");
			vals = restrict_owner_rows(relid, RelationGetDescr(td->tg_relation), sql, 1, hits_type, &hits,
									   &vals_null);
		}
	}

	/* the periods against the restrictions' (as the extension owner) */
	if (!vals_null)
	{
		values[1] = vals;
		restrict_catalog_select("SELECT privacy_internal._restrict_check($1, $2)", 2, argtypes, values);
	}
	SPI_finish();
	return PointerGetDatum(NULL);
}
