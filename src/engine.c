/*-------------------------------------------------------------------------
 *
 * engine.c
 *	  The subject engine: find, decide, apply, for export and erasure.
 *
 * A data-subject right runs in three phases:
 *
 *	  find		the subject's identifiers, from one, to a fixed point: rows
 *				of a registered table whose owner columns hold one of them
 *				give the others (_subject_identifiers)
 *	  decide	what the law keeps: legal holds, legal minimums of the
 *				retention policies, rows other kept rows reference
 *	  apply		export the rows (_subject_export), or delete, keep and
 *				restrict, scrub the subject's mentions in others' rows, and
 *				forget it in the consent history (_subject_erase)
 *
 * Every statement over a user's table is built once per backend from the
 * catalog (the SQL builders of src/sql/70_subject_find.sql through
 * 74_subject_erase.sql, whose text src/subject.c keeps), planned once, and
 * run as the table's owner through src/owner.c; the subject's identifiers
 * travel as the statements' one jsonb parameter (_subject_params).  What
 * the engine computes itself (decrypting a stored pseudonym, merging the
 * periods an identifier was the subject's, the report) it computes as the
 * extension owner, on the plain values the owner's statements returned.
 * The SQL builders run only when the cache is empty (after a catalog
 * change); the reports and the per-identifier checks of holds, legal
 * minimums and consent stay SQL functions the engine calls.
 *
 * Export runs in the snapshot of the statement that calls it (STABLE): a
 * concurrent erasure is seen whole or not at all.  Erasure locks every
 * searchable table (and the tables they reference) first, then finds the
 * subject in a snapshot taken after the lock.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "citus.h"
#include "engine.h"
#include "identifier.h"
#include "owner.h"
#include "rekey.h"
#include "schema.h"
#include "subject.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "utils/syscache.h"
#include "catalog/pg_inherits.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "storage/lmgr.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/snapmgr.h"
#include "utils/typcache.h"
#include "utils/varlena.h"

/* the most identifiers a subject has, and rounds of the search */
#define ENG_MAX_IDS		500
#define ENG_MAX_ROUNDS	10

/* One searchable column (a row of privacy_internal._subject_column). */
typedef struct EngCol
{
	Oid			tbl;
	char	   *col;
	int			attnum;
	char	   *kind;
	char	   *link;			/* 'owner', 'mention' or NULL */
	bool		notnull;
	Datum		row;			/* the row itself, for the SQL builders */
	Oid			rowtype;
	char		key[32];		/* "<table oid>.<attnum>", as in params */
} EngCol;

/*
 * One query of the search (privacy_internal._subject_link_sql): the rows of
 * a linking table that hold an identifier of one column, and the
 * identifiers they link to.
 */
typedef struct EngLink
{
	Oid			tbl;
	char	   *key;			/* the column whose identifiers it looks up */
	char	   *sql;
	char	   *rawsql;			/* the same matching rows not converted since
								 * protect_in_batches() raw (NULL: none) */
} EngLink;

/* What the engine keeps per call site (fn_extra). */
typedef struct EngState
{
	FmgrInfo	params_fn;		/* privacy_internal._subject_params */
	FmgrInfo	decrypt_fn;		/* privacy_internal._msisdn_decrypt */
	FmgrInfo	contains_fn;	/* anymultirange @> anymultirange */
	FmgrInfo	union_fn;		/* anymultirange + anymultirange */
	Oid			mr_input;
	Oid			mr_ioparam;
} EngState;

/* One call of the engine. */
typedef struct Eng
{
	MemoryContext cxt;			/* what outlives the SPI calls */
	EngState   *st;
	char	   *dc;				/* pg_privacy.default_country */
	EngCol	   *cols;
	int			ncols;
	bool		fresh;			/* erasure: each read in a new snapshot */
	/* the subject */
	int			nids;
	int			maxids;
	char	  **kinds;
	char	  **vals;
	Datum	   *spans;			/* tstzmultirange */
	Datum		params;			/* jsonb: _subject_params of the above */
} Eng;

/* ---------------------------------------------------------------- setup */

static Oid
eng_func(const char *name, int nargs, Oid *argtypes)
{
	List	   *qn = list_make2(makeString("privacy_internal"), makeString(pstrdup(name)));

	return LookupFuncName(qn, nargs, argtypes, false);
}

static EngState *
eng_state(FunctionCallInfo fcinfo)
{
	EngState   *st = (EngState *) fcinfo->flinfo->fn_extra;

	if (st == NULL)
	{
		MemoryContext mcxt = fcinfo->flinfo->fn_mcxt;
		Oid			pargs[3] = {TEXTARRAYOID, TEXTARRAYOID, TSTZMULTIRANGEARRAYOID};
		Oid			dargs[2] = {TEXTOID, TEXTOID};

		st = MemoryContextAllocZero(mcxt, sizeof(EngState));
		fmgr_info_cxt(eng_func("_subject_params", 3, pargs), &st->params_fn, mcxt);
		fmgr_info_cxt(eng_func("_msisdn_decrypt", 2, dargs), &st->decrypt_fn, mcxt);
		fmgr_info_cxt(F_MULTIRANGE_CONTAINS_MULTIRANGE, &st->contains_fn, mcxt);
		fmgr_info_cxt(F_MULTIRANGE_UNION, &st->union_fn, mcxt);
		getTypeInputInfo(TSTZMULTIRANGEOID, &st->mr_input, &st->mr_ioparam);
		fcinfo->flinfo->fn_extra = st;
	}
	return st;
}

static char *
tuple_text(Datum *v, bool *n, int i)
{
	return n[i] ? NULL : TextDatumGetCString(v[i]);
}

/* The searchable columns, deformed, in the call's memory. */
static void
eng_load_cols(Eng *e)
{
	struct varlena *kept;
	ArrayType  *a;
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;
	int16		len;
	bool		byval;
	char		align;
	TupleDesc	td = NULL;
	MemoryContext old = MemoryContextSwitchTo(e->cxt);

	e->cols = NULL;
	e->ncols = 0;
	kept = pgp_subject_cols_copy();
	if (kept == NULL)
	{
		MemoryContextSwitchTo(old);
		return;
	}
	a = (ArrayType *) kept;
	get_typlenbyvalalign(ARR_ELEMTYPE(a), &len, &byval, &align);
	deconstruct_array(a, ARR_ELEMTYPE(a), len, byval, align, &elems, &nulls, &n);
	e->cols = palloc0(sizeof(EngCol) * Max(n, 1));
	for (i = 0; i < n; i++)
	{
		HeapTupleHeader th;
		HeapTupleData tup;
		Datum		v[32];
		bool		vn[32];
		EngCol	   *c = &e->cols[e->ncols];

		if (nulls[i])
			continue;
		th = DatumGetHeapTupleHeader(elems[i]);
		if (td == NULL)
		{
			td = lookup_rowtype_tupdesc(HeapTupleHeaderGetTypeId(th), HeapTupleHeaderGetTypMod(th));
			if (td->natts > 32 || td->natts < 18)
				elog(ERROR, "unexpected shape of privacy_internal._subject_column");
		}
		tup.t_len = HeapTupleHeaderGetDatumLength(th);
		ItemPointerSetInvalid(&tup.t_self);
		tup.t_tableOid = InvalidOid;
		tup.t_data = th;
		heap_deform_tuple(&tup, td, v, vn);
		/* tbl 0, col 1, attnum 2, kind 3, link 4, ..., notnull 9 */
		if (vn[0] || vn[1] || vn[2] || vn[3])
			continue;
		c->tbl = DatumGetObjectId(v[0]);
		c->col = pstrdup(NameStr(*DatumGetName(v[1])));
		c->attnum = DatumGetInt16(v[2]);
		c->kind = tuple_text(v, vn, 3);
		c->link = tuple_text(v, vn, 4);
		c->notnull = !vn[9] && DatumGetBool(v[9]);
		c->row = elems[i];
		c->rowtype = HeapTupleHeaderGetTypeId(th);
		snprintf(c->key, sizeof(c->key), "%u.%d", c->tbl, c->attnum);
		e->ncols++;
	}
	if (td != NULL)
		ReleaseTupleDesc(td);
	MemoryContextSwitchTo(old);
}

/*
 * What identifies a row's relation, with its ctid: the relation's OID, or
 * on a table Citus manages (where each node gives its shards OIDs of its
 * own, and shards on two nodes may share one) the shard's name.
 */
static const char *
eng_rowrel(Oid tbl)
{
	return pgp_citus_table(tbl) ? "t.tableoid::pg_catalog.regclass::pg_catalog.text" : "t.tableoid";
}

/* Is c the distribution column of a table Citus manages? */
static bool
eng_citus_dist_col(EngCol *c)
{
	bool		known;
	AttrNumber	a = pgp_citus_dist_attnum(c->tbl, &known);

	if (!known && pgp_citus_table(c->tbl))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot read the distribution column of table %s", get_rel_name(c->tbl)),
				 errdetail("Citus's catalog pg_dist_partition does not give it in the form pg_privacy reads (a column of the table)."),
				 errhint("Check the Citus version: pg_privacy is tested with Citus 12.1.")));
	return known && a == c->attnum;
}

/* ------------------------------------------------------------ SQL calls */

/*
 * The first column of the first row of sql, run as the current user (the
 * extension owner) through a plan kept per backend, copied into the call's
 * memory; *isnull when there is no row or it is NULL.  The caller is
 * connected to SPI.
 */
static Datum
eng_sql(Eng *e, const char *sql, int nargs, Oid *types, Datum *vals,
		const char *nulls, bool *isnull)
{
	SPIPlanPtr	plan = pgp_kept_plan(sql, nargs, types);
	int			ret;
	Datum		d;
	bool		n;

	ret = SPI_execute_plan(plan, vals, nulls, !e->fresh, 1);
	if (ret < 0)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	*isnull = true;
	if (SPI_tuptable == NULL || SPI_processed == 0)
		return (Datum) 0;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &n);
	if (!n)
	{
		int16		len;
		bool		byval;
		MemoryContext old;

		get_typlenbyval(SPI_gettypeid(SPI_tuptable->tupdesc, 1), &len, &byval);
		old = MemoryContextSwitchTo(e->cxt);
		d = datumCopy(d, byval, len);
		MemoryContextSwitchTo(old);
		*isnull = false;
	}
	SPI_freetuptable(SPI_tuptable);
	return n ? (Datum) 0 : d;
}

/* The columns 1..natts of the first row of sql, like eng_sql; false: no row. */
static bool
eng_sql_row(Eng *e, const char *sql, int nargs, Oid *types, Datum *vals,
			const char *nulls, int natts, Datum *out, bool *outnull)
{
	SPIPlanPtr	plan = pgp_kept_plan(sql, nargs, types);
	int			ret;
	int			i;
	MemoryContext old;

	ret = SPI_execute_plan(plan, vals, nulls, !e->fresh, 1);
	if (ret < 0)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	for (i = 0; i < natts; i++)
		outnull[i] = true;
	if (SPI_tuptable == NULL || SPI_processed == 0)
		return false;
	if (SPI_tuptable->tupdesc->natts < natts)
		elog(ERROR, "unexpected row of an engine query");
	old = MemoryContextSwitchTo(e->cxt);
	for (i = 0; i < natts; i++)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, i + 1, &outnull[i]);
		int16		len;
		bool		byval;

		if (!outnull[i])
		{
			get_typlenbyval(SPI_gettypeid(SPI_tuptable->tupdesc, i + 1), &len, &byval);
			out[i] = datumCopy(d, byval, len);
		}
	}
	MemoryContextSwitchTo(old);
	SPI_freetuptable(SPI_tuptable);
	return true;
}

/*
 * eng_sql for the SQL builders, whose results the cache keeps: in a
 * snapshot taken now (an export runs in its caller's, which may predate a
 * declaration whose invalidation has emptied the cache already), so that
 * what is kept is never older than the change that made it go.  An
 * erasure's statements take a snapshot of their own anyway.
 */
static Datum
eng_build_sql(Eng *e, const char *sql, int nargs, Oid *types, Datum *vals,
			  const char *nulls, bool *isnull)
{
	Datum		d;

	if (e->fresh)
		return eng_sql(e, sql, nargs, types, vals, nulls, isnull);
	PushActiveSnapshot(GetLatestSnapshot());
	d = eng_sql(e, sql, nargs, types, vals, nulls, isnull);
	PopActiveSnapshot();
	return d;
}

/* text of a Datum in the call's memory */
static char *
eng_text(Eng *e, Datum d)
{
	MemoryContext old = MemoryContextSwitchTo(e->cxt);
	char	   *s = TextDatumGetCString(d);

	MemoryContextSwitchTo(old);
	return s;
}

static char *
eng_strdup(Eng *e, const char *s)
{
	return s ? MemoryContextStrdup(e->cxt, s) : NULL;
}

/*
 * A read-only query over tbl as its owner (the statement built from the
 * catalog, its parameter $1 the subject's identifiers): the first column
 * (jsonb) of its first row.  During an erasure each read takes a snapshot
 * of its own, as a statement of a VOLATILE function does.
 */
static Datum
eng_owner_query_flags(Eng *e, Oid tbl, const char *sql, Datum params, bool *isnull, int flags)
{
	Oid			argtypes[1] = {JSONBOID};
	Datum		values[1];
	Datum		result = (Datum) 0;
	MemoryContext old = MemoryContextSwitchTo(e->cxt);

	values[0] = params;
	if (e->fresh)
		PushActiveSnapshot(GetTransactionSnapshot());
	(void) pgp_owner_run(tbl, sql, 1, argtypes, values, NULL,
						 PGP_RUN_QUERY | PGP_RUN_KEEP_PLAN | PGP_RUN_READ_ONLY | flags, 0, JSONBOID,
						 &result, isnull, NULL, NULL);
	if (e->fresh)
		PopActiveSnapshot();
	MemoryContextSwitchTo(old);
	return result;
}

/* the same, with no flags besides (flags: PGP_RUN_NOFORCE_RLS) */
static Datum
eng_owner_query(Eng *e, Oid tbl, const char *sql, Datum params, bool *isnull)
{
	return eng_owner_query_flags(e, tbl, sql, params, isnull, 0);
}

/* ------------------------------------------------------------ jsonb bits */

/* obj -> key (a jsonb object's container), or NULL */
static JsonbValue *
eng_field(JsonbContainer *obj, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	return findJsonbValueFromContainer(obj, JB_FOBJECT, &k);
}

/* params -> key, or NULL */
static JsonbValue *
eng_param(Datum params, const char *key)
{
	return eng_field(&DatumGetJsonbP(params)->root, key);
}

/* params ? key */
static bool
eng_has(Datum params, const char *key)
{
	return eng_param(params, key) != NULL;
}

/*
 * Whether params -> key holds an identifier whose one-letter field f is
 * the value want (its type and, for a string, its text).
 */
static bool
eng_has_field(Datum params, const char *key, char f, const JsonbValue *want)
{
	JsonbValue *arr = eng_param(params, key);
	JsonbIterator *it;
	JsonbValue	v;
	JsonbIteratorToken tok;
	bool		next_is_f = false;
	bool		found = false;

	if (arr == NULL || arr->type != jbvBinary)
		return false;
	it = JsonbIteratorInit(arr->val.binary.data);
	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		if (tok == WJB_KEY)
			next_is_f = (v.val.string.len == 1 && v.val.string.val[0] == f);
		else if (tok == WJB_VALUE)
		{
			if (next_is_f && v.type == want->type &&
				(v.type == jbvBool ? v.val.boolean == want->val.boolean :
				 v.type == jbvString && v.val.string.len == want->val.string.len &&
				 memcmp(v.val.string.val, want->val.string.val, v.val.string.len) == 0))
				found = true;
			next_is_f = false;
		}
	}
	return found;
}

/*
 * Whether params -> key holds an identifier of rows not converted since
 * protect_in_batches() (its "k" is "raw": src/subject.c, _subject_params):
 * the column's statements are then the raw ones
 * (privacy_internal._subject_raw says the same in SQL).
 */
static bool
eng_has_raw(Datum params, const char *key)
{
	JsonbValue	raw;

	raw.type = jbvString;
	raw.val.string.val = (char *) "raw";
	raw.val.string.len = 3;
	return eng_has_field(params, key, 'k', &raw);
}

/* whether params -> key holds an identifier whose "b" is want */
static bool
eng_has_b(Datum params, const char *key, bool want)
{
	JsonbValue	b;

	b.type = jbvBool;
	b.val.boolean = want;
	return eng_has_field(params, key, 'b', &b);
}

/* element i of a jsonb array as text (NULL for a JSON null), in e->cxt */
static char *
eng_elem_text(Eng *e, JsonbContainer *arr, int i)
{
	JsonbValue *v = getIthJsonbValueFromContainer(arr, i);

	if (v == NULL || v->type == jbvNull)
		return NULL;
	if (v->type == jbvString)
		return MemoryContextStrdup(e->cxt, pnstrdup(v->val.string.val, v->val.string.len));
	elog(ERROR, "unexpected value in an engine row");
	return NULL;
}

/* ------------------------------------------------------------- the cache */

/*
 * The text the SQL builder keeps under key, building it with sql (one
 * text column, args as given) when the cache does not have it; copied.
 */
static char *
eng_cached_text(Eng *e, const char *key, const char *sql, int nargs,
				Oid *types, Datum *vals)
{
	const char *v = pgp_subject_cache_lookup(key);
	bool		isnull;
	Datum		d;
	char	   *s;

	if (v != NULL)
		return eng_strdup(e, v);
	d = eng_build_sql(e, sql, nargs, types, vals, NULL, &isnull);
	s = isnull ? "" : eng_text(e, d);
	pgp_subject_cache_store(key, s);
	return eng_strdup(e, s);
}

/* The FROM clause joining column c's rows to its identifiers (cached). */
static char *
eng_from(Eng *e, EngCol *c)
{
	char		key[NAMEDATALEN * 2];
	Oid			types[2] = {c->rowtype, TEXTOID};
	Datum		vals[2] = {c->row, CStringGetTextDatum(e->dc)};

	/* the raw one when the subject's identifiers there include raw ones */
	if (eng_has_raw(e->params, c->key))
	{
		snprintf(key, sizeof(key), "from:%s:%s:raw", c->key, e->dc);
		return eng_cached_text(e, key,
							   "SELECT privacy_internal._subject_from($1, $2, true)",
							   2, types, vals);
	}
	snprintf(key, sizeof(key), "from:%s:%s", c->key, e->dc);
	return eng_cached_text(e, key,
						   "SELECT privacy_internal._subject_from($1, $2)",
						   2, types, vals);
}

/*
 * The erasure's statements of column c for the verb (delete, ctid,
 * scrub), built once per backend (privacy_internal._subject_stmts), and
 * of them those the subject's identifiers need: the bounded periods' and
 * the open ones'.
 */
static char **
eng_stmts(Eng *e, const char *verb, EngCol *c, int *n)
{
	char		key[NAMEDATALEN * 2];
	const char *v;
	ArrayType  *a;
	Datum	   *elems;
	bool	   *nulls;
	int			ne,
				i;
	char	  **out;
	char	  **kept;
	MemoryContext old;

	/* (the raw statements under a key of their own, as _subject_stmts keeps them) */
	snprintf(key, sizeof(key), "#%s:%s:%s%s", verb, c->key, e->dc,
			 eng_has_raw(e->params, c->key) ? ":raw" : "");
	kept = (char **) pgp_subject_cache_obj(key);
	if (kept == NULL)
	{
		v = pgp_subject_cache_lookup(key + 1);
		if (v == NULL)
		{
			Oid			types[4] = {TEXTOID, c->rowtype, TEXTOID, JSONBOID};
			Datum		vals[4] = {CStringGetTextDatum(verb), c->row, CStringGetTextDatum(e->dc), e->params};
			bool		isnull;
			Datum		d;

			d = eng_build_sql(e, "SELECT privacy_internal._subject_stmts($1, $2, $3, $4)",
							  4, types, vals, NULL, &isnull);
			v = pgp_subject_cache_lookup(key + 1);
			if (v == NULL)
			{
				/*
				 * Not kept (an invalidation came in during this call): the
				 * statements the builder chose for the subject's
				 * identifiers, for this call only.
				 */
				ArrayType  *sa;

				if (isnull)
					elog(ERROR, "privacy_internal._subject_stmts returned no statements");
				sa = DatumGetArrayTypeP(d);
				deconstruct_array(sa, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &ne);
				old = MemoryContextSwitchTo(e->cxt);
				out = palloc0(sizeof(char *) * Max(ne, 1));
				*n = 0;
				for (i = 0; i < ne; i++)
					if (!nulls[i])
						out[(*n)++] = TextDatumGetCString(elems[i]);
				MemoryContextSwitchTo(old);
				return out;
			}
		}
		/* parsed once: entry 0 counts the statements */
		old = MemoryContextSwitchTo(pgp_subject_cache_memory());
		a = DatumGetArrayTypeP(OidInputFunctionCall(F_ARRAY_IN, (char *) v, TEXTOID, -1));
		deconstruct_array(a, TEXTOID, -1, false, TYPALIGN_INT, &elems, &nulls, &ne);
		kept = palloc0(sizeof(char *) * (ne + 1));
		kept[0] = (char *) (intptr_t) ne;
		for (i = 0; i < ne; i++)
			kept[i + 1] = nulls[i] ? NULL : TextDatumGetCString(elems[i]);
		MemoryContextSwitchTo(old);
		pgp_subject_cache_keep_obj(key, kept);
	}
	ne = (int) (intptr_t) kept[0];
	old = MemoryContextSwitchTo(e->cxt);
	out = palloc0(sizeof(char *) * Max(ne, 1));
	*n = 0;
	if (ne == 1)
	{
		if (kept[1] != NULL)
			out[(*n)++] = pstrdup(kept[1]);
	}
	else
	{
		/* bounded, then open periods: only those the subject has */
		if (ne >= 1 && kept[1] != NULL && eng_has_b(e->params, c->key, true))
			out[(*n)++] = pstrdup(kept[1]);
		if (ne >= 2 && kept[2] != NULL && eng_has_b(e->params, c->key, false))
			out[(*n)++] = pstrdup(kept[2]);
	}
	MemoryContextSwitchTo(old);
	return out;
}

/* The search's queries, by table and column (cached), copied. */
static EngLink *
eng_links(Eng *e, int *n)
{
	char		key[NAMEDATALEN];
	EngLink    *kept;
	EngLink    *out;
	int			i;
	int			nl;

	snprintf(key, sizeof(key), "#link:%s", e->dc);
	kept = (EngLink *) pgp_subject_cache_obj(key);
	if (kept == NULL)
	{
		Oid			types[1] = {TEXTOID};
		Datum		vals[1] = {CStringGetTextDatum(e->dc)};
		bool		isnull;
		Datum		d = eng_build_sql(e, "SELECT privacy_internal._subject_link_sql($1)",
								1, types, vals, NULL, &isnull);
		MemoryContext old = MemoryContextSwitchTo(pgp_subject_cache_memory());
		Datum	   *elems;
		bool	   *nulls;
		int			ne = 0;

		if (!isnull)
			deconstruct_array(DatumGetArrayTypeP(d), TEXTOID, -1, false, TYPALIGN_INT,
							  &elems, &nulls, &ne);
		/* entry 0 is a header: tbl holds how many follow */
		kept = palloc0(sizeof(EngLink) * (ne + 1));
		nl = 0;
		for (i = 0; i < ne; i++)
		{
			/*
			 * "table|key|query", a protected column's followed by its raw
			 * query, "table|key#raw|query"
			 */
			char	   *s = nulls[i] ? NULL : TextDatumGetCString(elems[i]);
			char	   *bar1 = s ? strchr(s, '|') : NULL;
			char	   *bar2 = bar1 ? strchr(bar1 + 1, '|') : NULL;
			EngLink    *l;
			size_t		klen;

			if (bar2 == NULL)
				elog(ERROR, "malformed query of the subject search");
			*bar1 = '\0';
			*bar2 = '\0';
			klen = strlen(bar1 + 1);
			if (klen > 4 && strcmp(bar1 + 1 + klen - 4, "#raw") == 0)
			{
				l = &kept[nl];
				bar1[1 + klen - 4] = '\0';
				if (nl == 0 || l->tbl != (Oid) strtoul(s, NULL, 10) || strcmp(l->key, bar1 + 1) != 0)
					elog(ERROR, "malformed query of the subject search");
				l->rawsql = bar2 + 1;
				continue;
			}
			l = &kept[1 + nl++];
			l->tbl = (Oid) strtoul(s, NULL, 10);
			l->key = bar1 + 1;
			l->sql = bar2 + 1;
		}
		kept[0].tbl = (Oid) nl;
		MemoryContextSwitchTo(old);
		pgp_subject_cache_keep_obj(key, kept);
	}
	*n = (int) kept[0].tbl;
	out = MemoryContextAllocZero(e->cxt, sizeof(EngLink) * Max(*n, 1));
	for (i = 0; i < *n; i++)
	{
		out[i].tbl = kept[1 + i].tbl;
		out[i].key = eng_strdup(e, kept[1 + i].key);
		out[i].sql = eng_strdup(e, kept[1 + i].sql);
		out[i].rawsql = kept[1 + i].rawsql ? eng_strdup(e, kept[1 + i].rawsql) : NULL;
	}
	return out;
}

/* A list of table OIDs kept under key, computed by sql (oid[]), copied. */
static Oid *
eng_oids(Eng *e, const char *key, const char *sql, int *n)
{
	Oid		   *kept = (Oid *) pgp_subject_cache_obj(key);
	Oid		   *out;

	if (kept == NULL)
	{
		bool		isnull;
		Datum		d = eng_build_sql(e, sql, 0, NULL, NULL, NULL, &isnull);
		Datum	   *elems;
		bool	   *nulls;
		int			ne = 0,
					i;

		if (!isnull)
			deconstruct_array(DatumGetArrayTypeP(d), OIDOID, sizeof(Oid), true, TYPALIGN_INT,
							  &elems, &nulls, &ne);
		kept = MemoryContextAlloc(pgp_subject_cache_memory(), sizeof(Oid) * (ne + 1));
		kept[0] = (Oid) ne;
		for (i = 0; i < ne; i++)
			kept[i + 1] = nulls[i] ? InvalidOid : DatumGetObjectId(elems[i]);
		pgp_subject_cache_keep_obj(key, kept);
	}
	*n = (int) kept[0];
	out = MemoryContextAlloc(e->cxt, sizeof(Oid) * Max(*n, 1));
	memcpy(out, kept + 1, sizeof(Oid) * *n);
	return out;
}

/* --------------------------------------------------------------- arrays */

static Datum
eng_text_array(Eng *e, char **items, int n)
{
	MemoryContext old = MemoryContextSwitchTo(e->cxt);
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	int			i;
	ArrayType  *a;

	for (i = 0; i < n; i++)
		d[i] = CStringGetTextDatum(items[i]);
	a = construct_array(d, n, TEXTOID, -1, false, TYPALIGN_INT);
	MemoryContextSwitchTo(old);
	return PointerGetDatum(a);
}

static Datum
eng_span_array(Eng *e, Datum *spans, int n)
{
	MemoryContext old = MemoryContextSwitchTo(e->cxt);
	ArrayType  *a = construct_array(spans, n, TSTZMULTIRANGEOID, -1, false, TYPALIGN_DOUBLE);

	MemoryContextSwitchTo(old);
	return PointerGetDatum(a);
}

/* oids[0..n-1] as an oid[] in the call's memory */
static Datum
eng_oid_array(Eng *e, Oid *oids, int n)
{
	MemoryContext old = MemoryContextSwitchTo(e->cxt);
	Datum	   *d = palloc(sizeof(Datum) * Max(n, 1));
	int			i;
	ArrayType  *a;

	for (i = 0; i < n; i++)
		d[i] = ObjectIdGetDatum(oids[i]);
	a = construct_array(d, n, OIDOID, sizeof(Oid), true, TYPALIGN_INT);
	MemoryContextSwitchTo(old);
	return PointerGetDatum(a);
}

/* _subject_params(kinds, vals, spans) of the identifiers from..from+n-1 */
static Datum
eng_params(Eng *e, char **kinds, char **vals, Datum *spans, int n)
{
	Datum		r;
	MemoryContext old;

	r = FunctionCall3(&e->st->params_fn, eng_text_array(e, kinds, n),
					  eng_text_array(e, vals, n), eng_span_array(e, spans, n));
	old = MemoryContextSwitchTo(e->cxt);
	r = PointerGetDatum(DatumGetJsonbPCopy(r));
	MemoryContextSwitchTo(old);
	return r;
}

/* ----------------------------------------------------------------- find */

/* a row of a linking query: identifier kind, value, period */
typedef struct EngFound
{
	char	   *k;
	char	   *v;
	char	   *s;
} EngFound;

static int
eng_found_cmp(const void *a, const void *b)
{
	const EngFound *x = (const EngFound *) a;
	const EngFound *y = (const EngFound *) b;
	int			r = varstr_cmp(x->k, strlen(x->k), y->k, strlen(y->k), DEFAULT_COLLATION_OID);

	if (r != 0)
		return r;
	return varstr_cmp(x->v, strlen(x->v), y->v, strlen(y->v), DEFAULT_COLLATION_OID);
}

static void
eng_add_id(Eng *e, const char *k, const char *v, Datum span)
{
	if (e->nids == e->maxids)
	{
		e->maxids *= 2;
		e->kinds = repalloc(e->kinds, sizeof(char *) * e->maxids);
		e->vals = repalloc(e->vals, sizeof(char *) * e->maxids);
		e->spans = repalloc(e->spans, sizeof(Datum) * e->maxids);
	}
	e->kinds[e->nids] = eng_strdup(e, k);
	e->vals[e->nids] = eng_strdup(e, v);
	e->spans[e->nids] = span;
	e->nids++;
}

static void
eng_too_many(const char *msg)
{
	ereport(ERROR,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errhidestmt(true),
			 errmsg("%s", msg),
			 errhint("An identifier shared by many subjects links them; declare the linking columns with privacy.set_subject_table(link_columns => ...).")));
}

/*
 * Every identifier of the subject reached from (kind, value), with the
 * period each is the subject's (src/sql/70_subject_find.sql says how),
 * into e->kinds, e->vals, e->spans; e->params is left unset.
 */
static void
eng_find(Eng *e, text *kind, text *value, Datum at, bool at_null)
{
	char	   *k0 = text_to_cstring(kind);
	char	   *norm;
	Datum		span0;
	EngLink    *links;
	int			nlinks;
	int			rounds = 0;
	int			nfront;
	char	  **fk;
	char	  **fv;
	Datum	   *fs;
	int			i;
	bool		reassignable = false;
	StringInfoData *qs;
	Oid		   *qowner;
	Oid		   *qtbl;
	bool	   *qcitus;
	MemoryContext old;

	/* the identifier module's errors: 22023 unknown kind, 22P02 bad value */
	old = MemoryContextSwitchTo(e->cxt);
	norm = text_to_cstring(pgp_normalize_identifier(pgp_identifier_kind_norm(k0),
													VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value),
													pgp_default_country, false));
	span0 = OidInputFunctionCall(e->st->mr_input, "{(,)}", e->st->mr_ioparam, -1);
	MemoryContextSwitchTo(old);

	/* a reassignable identifier: the subject is its holder at `at` */
	for (i = 0; i < e->ncols; i++)
	{
		if (strcmp(e->cols[i].kind, k0) == 0)
		{
			HeapTupleHeader th = DatumGetHeapTupleHeader(e->cols[i].row);
			bool		isnull;
			Datum		v = GetAttributeByNum(th, 14, &isnull);	/* is_validity */

			if (!isnull && DatumGetBool(v))
				reassignable = true;
		}
	}
	if (reassignable)
	{
		Oid			types[3] = {TEXTOID, TEXTOID, TIMESTAMPTZOID};
		Datum		vals[3] = {PointerGetDatum(kind), CStringGetTextDatum(norm), at};
		char		nulls[3] = {' ', ' ', at_null ? 'n' : ' '};
		bool		isnull;
		Datum		d = eng_sql(e, "SELECT privacy_internal._subject_holder_span($1, $2, $3)",
								3, types, vals, nulls, &isnull);

		if (!isnull)
			span0 = d;
	}

	links = eng_links(e, &nlinks);

	e->maxids = 16;
	e->nids = 0;
	e->kinds = MemoryContextAlloc(e->cxt, sizeof(char *) * e->maxids);
	e->vals = MemoryContextAlloc(e->cxt, sizeof(char *) * e->maxids);
	e->spans = MemoryContextAlloc(e->cxt, sizeof(Datum) * e->maxids);
	eng_add_id(e, k0, norm, span0);

	/* the frontier: identifiers new or with a period grown last round */
	fk = MemoryContextAlloc(e->cxt, sizeof(char *) * (ENG_MAX_IDS + 2) * 4);
	fv = MemoryContextAlloc(e->cxt, sizeof(char *) * (ENG_MAX_IDS + 2) * 4);
	fs = MemoryContextAlloc(e->cxt, sizeof(Datum) * (ENG_MAX_IDS + 2) * 4);
	fk[0] = e->kinds[0];
	fv[0] = e->vals[0];
	fs[0] = e->spans[0];
	nfront = 1;
	/* a query per owner: at most one per linking table */
	qs = MemoryContextAlloc(e->cxt, sizeof(StringInfoData) * Max(nlinks, 1));
	qowner = MemoryContextAlloc(e->cxt, sizeof(Oid) * Max(nlinks, 1));
	qcitus = MemoryContextAlloc(e->cxt, sizeof(bool) * Max(nlinks, 1));
	qtbl = MemoryContextAlloc(e->cxt, sizeof(Oid) * Max(nlinks, 1));
	while (nfront > 0)
	{
		Datum		params;
		EngFound   *found = NULL;
		int			nfound = 0;
		int			maxfound = 0;
		int			l,
					lnext,
					j;
		int			nq;
		char	  **nk;
		char	  **nv;
		Datum	   *ns;
		int			nnew = 0;
		int			maxnew;

		rounds++;
		if (rounds > ENG_MAX_ROUNDS)
			eng_too_many("the identifiers of this data subject do not reach a fixed point in 10 rounds");
		params = eng_params(e, fk, fv, fs, nfront);

		/*
		 * One query per owner of linking tables with identifiers to look up
		 * (the union of their columns' that have some), as that owner;
		 * stored pseudonyms decrypted here.  Each table is locked before
		 * its owner is read, so that no owner changes before the query
		 * runs.  The tables Citus manages have queries of their own (per
		 * owner), which Citus plans at each run (src/owner.c).
		 */
		nq = 0;
		for (l = 0; l < nlinks; l = lnext)
		{
			int			nb = 0;
			Oid			owner = InvalidOid;
			bool		citus = false;

			for (lnext = l; lnext < nlinks && links[lnext].tbl == links[l].tbl; lnext++)
			{
				const char *lsql;

				if (!eng_has(params, links[lnext].key))
					continue;
				/* its raw query when the subject has raw identifiers there */
				lsql = (links[lnext].rawsql != NULL && eng_has_raw(params, links[lnext].key))
					? links[lnext].rawsql : links[lnext].sql;
				if (nb++ == 0)
				{
					LockRelationOid(links[l].tbl, AccessShareLock);
					owner = pgp_rel_owner(links[l].tbl);
					citus = pgp_citus_table(links[l].tbl);
					for (j = 0; j < nq; j++)
						if (qowner[j] == owner && qcitus[j] == citus)
							break;
					if (j == nq)
					{
						qowner[nq] = owner;
						qcitus[nq] = citus;
						qtbl[nq] = links[l].tbl;
						initStringInfo(&qs[nq]);
						/*
						 * the key of the row (r) since 0.17.0: an older
						 * version's queries give the first four
						 */
						appendStringInfoString(&qs[nq], strstr(lsql, "x(k, v, s, d, r)") != NULL
											   ? "SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(z.k, z.v, z.s::pg_catalog.text, z.d, z.r)) FROM ("
											   : "SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(z.k, z.v, z.s::pg_catalog.text, z.d)) FROM (");
						nq++;
					}
					else
						appendStringInfoString(&qs[j], " UNION ALL ");
				}
				else
					appendStringInfoString(&qs[j], " UNION ALL ");
				appendStringInfoString(&qs[j], lsql);
			}
		}
		for (l = 0; l < nq; l++)
		{
			bool		isnull;
			Datum		res;
			Jsonb	   *jb;
			int			cnt;

			appendStringInfoString(&qs[l], ") z");
			res = eng_owner_query(e, qtbl[l], qs[l].data, params, &isnull);
			if (isnull)
				continue;
			jb = DatumGetJsonbP(res);
			if (!JB_ROOT_IS_ARRAY(jb))
				elog(ERROR, "unexpected result of a link query of the subject search");
			cnt = JB_ROOT_COUNT(jb);
			for (j = 0; j < cnt; j++)
			{
				JsonbValue *row = getIthJsonbValueFromContainer(&jb->root, j);
				char	   *fkind,
						   *fval,
						   *fspan,
						   *fdom,
						   *fkey;

				if (row == NULL || row->type != jbvBinary)
					elog(ERROR, "unexpected row of a link query of the subject search");
				fkind = eng_elem_text(e, row->val.binary.data, 0);
				fval = eng_elem_text(e, row->val.binary.data, 1);
				fspan = eng_elem_text(e, row->val.binary.data, 2);
				fdom = eng_elem_text(e, row->val.binary.data, 3);
				fkey = eng_elem_text(e, row->val.binary.data, 4);
				if (fdom != NULL && fval != NULL && fkey != NULL)
				{
					/*
					 * a stored pseudonym of a table in a key rotation: its
					 * number under the key of its row
					 */
					LOCAL_FCINFO(ufc, 4);
					Datum		r;

					/*
					 * (of a row not converted since protect_in_batches(),
					 * key "raw": the number it holds raw, NULL when it is
					 * none)
					 */
					InitFunctionCallInfoData(*ufc, NULL, 4, InvalidOid, NULL, NULL);
					ufc->args[0].value = CStringGetTextDatum(fkey);
					ufc->args[1].value = CStringGetTextDatum(fval);
					ufc->args[2].value = CStringGetTextDatum(fdom);
					ufc->args[3].value = BoolGetDatum(true);
					ufc->args[0].isnull = ufc->args[1].isnull = ufc->args[2].isnull = ufc->args[3].isnull = false;
					r = pgp_msisdn_under(ufc);
					fval = ufc->isnull ? NULL : eng_text(e, r);
				}
				else if (fdom != NULL && fval != NULL)
				{
					/* a stored pseudonym: its number */
					LOCAL_FCINFO(dfc, 2);
					Datum		r;

					InitFunctionCallInfoData(*dfc, &e->st->decrypt_fn, 2, InvalidOid, NULL, NULL);
					dfc->args[0].value = CStringGetTextDatum(fval);
					dfc->args[0].isnull = false;
					dfc->args[1].value = CStringGetTextDatum(fdom);
					dfc->args[1].isnull = false;
					r = FunctionCallInvoke(dfc);
					fval = dfc->isnull ? NULL : eng_text(e, r);
				}
				if (fval == NULL || fkind == NULL || fspan == NULL)
					continue;
				if (nfound == maxfound)
				{
					maxfound = Max(16, maxfound * 2);
					found = found ? repalloc(found, sizeof(EngFound) * maxfound)
						: MemoryContextAlloc(e->cxt, sizeof(EngFound) * maxfound);
				}
				found[nfound].k = fkind;
				found[nfound].v = fval;
				found[nfound].s = fspan;
				nfound++;
			}
		}
		if (nfound > 1)
			qsort(found, nfound, sizeof(EngFound), eng_found_cmp);

		maxnew = Max(nfound, 1);
		nk = MemoryContextAlloc(e->cxt, sizeof(char *) * maxnew);
		nv = MemoryContextAlloc(e->cxt, sizeof(char *) * maxnew);
		ns = MemoryContextAlloc(e->cxt, sizeof(Datum) * maxnew);
		for (i = 0; i < nfound; i++)
		{
			Datum		s;
			int			p;

			old = MemoryContextSwitchTo(e->cxt);
			s = OidInputFunctionCall(e->st->mr_input, found[i].s, e->st->mr_ioparam, -1);
			MemoryContextSwitchTo(old);
			for (p = 0; p < e->nids; p++)
				if (strcmp(e->vals[p], found[i].v) == 0 && strcmp(e->kinds[p], found[i].k) == 0)
					break;
			if (p == e->nids)
				eng_add_id(e, found[i].k, found[i].v, s);
			else if (DatumGetBool(FunctionCall2Coll(&e->st->contains_fn, InvalidOid,
													e->spans[p], s)))
				continue;
			else
			{
				old = MemoryContextSwitchTo(e->cxt);
				e->spans[p] = FunctionCall2Coll(&e->st->union_fn, InvalidOid, e->spans[p], s);
				MemoryContextSwitchTo(old);
			}
			if (e->nids > ENG_MAX_IDS)
				eng_too_many("this data subject has more than 500 identifiers");
			nk[nnew] = e->kinds[p];
			nv[nnew] = e->vals[p];
			ns[nnew] = e->spans[p];
			nnew++;
		}
		fk = nk;
		fv = nv;
		fs = ns;
		nfront = nnew;
	}
}

/* ---------------------------------------------------------------- setup */

static void
eng_begin(Eng *e, FunctionCallInfo fcinfo, bool fresh)
{
	memset(e, 0, sizeof(Eng));
	e->cxt = AllocSetContextCreate(CurrentMemoryContext, "pg_privacy subject engine",
								   ALLOCSET_DEFAULT_SIZES);
	e->st = eng_state(fcinfo);
	e->fresh = fresh;
	e->dc = MemoryContextStrdup(e->cxt, pgp_default_country ? pgp_default_country : "");
	/* what the call builds is kept only while no invalidation came in */
	pgp_subject_build_begin();
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	eng_load_cols(e);
}

static void
eng_check_args(FunctionCallInfo fcinfo)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errhidestmt(true),
				 errmsg("identifier kind and value must not be null")));
}

/* ----------------------------------------------------------------- find */

PG_FUNCTION_INFO_V1(pgp_subject_identifiers);

/*
 * _subject_identifiers(kind, value, at, OUT kinds, OUT vals, OUT spans):
 * every identifier of the subject reached from one (restriction and the
 * chunked export use it; export and erasure call the search directly).
 */
Datum
pgp_subject_identifiers(PG_FUNCTION_ARGS)
{
	Eng			e;
	TupleDesc	td;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	HeapTuple	tup;
	MemoryContext outer = CurrentMemoryContext;

	eng_check_args(fcinfo);
	if (get_call_result_type(fcinfo, NULL, &td) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "_subject_identifiers must return a row");
	eng_begin(&e, fcinfo, false);
	eng_find(&e, PG_GETARG_TEXT_PP(0), PG_GETARG_TEXT_PP(1),
			 PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2), PG_ARGISNULL(2));
	values[0] = eng_text_array(&e, e.kinds, e.nids);
	values[1] = eng_text_array(&e, e.vals, e.nids);
	values[2] = eng_span_array(&e, e.spans, e.nids);
	MemoryContextSwitchTo(outer);
	td = BlessTupleDesc(td);
	tup = heap_form_tuple(td, values, nulls);
	SPI_finish();
	MemoryContextSwitchTo(outer);
	MemoryContextDelete(e.cxt);
	pgp_subject_build_end();
	PG_RETURN_DATUM(HeapTupleGetDatum(tup));
}

/* --------------------------------------------------------------- export */

/* Push every key and value of the object container c. */
static void
eng_push_fields(JsonbParseState **ps, JsonbContainer *c)
{
	JsonbIterator *it = JsonbIteratorInit(c);
	JsonbValue	v;
	JsonbIteratorToken tok;

	while ((tok = JsonbIteratorNext(&it, &v, true)) != WJB_DONE)
	{
		if (tok == WJB_KEY || tok == WJB_VALUE)
			(void) pushJsonbValue(ps, tok, &v);
	}
}

/*
 * The export document: the header's fields, and "tables": per table its
 * description (metas[i]) and its rows (docs[i]: "rows" and "mentions"),
 * as the object metas[i] || docs[i].
 */
static Datum
eng_export_document(Jsonb *header, Jsonb **metas, Datum *docs, int ndocs)
{
	JsonbParseState *ps = NULL;
	JsonbValue	k;
	JsonbValue *res;
	int			i;

	if (!JB_ROOT_IS_OBJECT(header))
		elog(ERROR, "unexpected parts of an export document");
	(void) pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
	eng_push_fields(&ps, &header->root);
	k.type = jbvString;
	k.val.string.val = "tables";
	k.val.string.len = 6;
	(void) pushJsonbValue(&ps, WJB_KEY, &k);
	(void) pushJsonbValue(&ps, WJB_BEGIN_ARRAY, NULL);
	for (i = 0; i < ndocs; i++)
	{
		Jsonb	   *d = DatumGetJsonbP(docs[i]);

		if (metas[i] == NULL || !JB_ROOT_IS_OBJECT(metas[i]) || !JB_ROOT_IS_OBJECT(d))
			elog(ERROR, "unexpected part of an export document");
		(void) pushJsonbValue(&ps, WJB_BEGIN_OBJECT, NULL);
		eng_push_fields(&ps, &metas[i]->root);
		eng_push_fields(&ps, &d->root);
		(void) pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	}
	(void) pushJsonbValue(&ps, WJB_END_ARRAY, NULL);
	res = pushJsonbValue(&ps, WJB_END_OBJECT, NULL);
	return JsonbPGetDatum(JsonbValueToJsonb(res));
}

/*
 * The descriptions of the tables (oids, n of them), in their order, each
 * kept in the subject cache under "meta:<oid>".  When one is missing, all
 * are read again by one statement (which may empty the cache: nothing
 * looked up before it is used), in a snapshot taken now (see
 * eng_build_sql); they are kept unless an invalidation emptied the cache
 * during the engine call (pgp_subject_cache_may_keep: what it read may
 * predate that change).  The
 * result may point into the cache: the caller uses it before any other
 * statement runs.
 *
 * A database not yet updated to 0.7.0 has neither the statement (it has
 * one function per table) nor the declaration tables' trigger that keeps
 * the descriptions current: they are read at every export there.
 */
static Jsonb **
eng_table_descriptions(Eng *e, Datum *oids, int n)
{
	Jsonb	  **metas = MemoryContextAllocZero(e->cxt, sizeof(Jsonb *) * Max(n, 1));
	Oid			argtypes[1] = {OIDARRAYOID};
	bool		current;
	bool		missing = false;
	int			i;
	char		k[NAMEDATALEN];

	current = pgp_internal_func_exists("_subject_tables_json", 1, argtypes);
	for (i = 0; i < n && !missing; i++)
	{
		snprintf(k, sizeof(k), "meta:%u", DatumGetObjectId(oids[i]));
		metas[i] = current ? (Jsonb *) pgp_subject_cache_obj(k) : NULL;
		missing = metas[i] == NULL;
	}
	if (missing)
	{
		Datum		vals[1];
		Datum		d;
		bool		isnull;
		Jsonb	   *arr;
		bool		keep;

		vals[0] = PointerGetDatum(construct_array(oids, n, OIDOID, sizeof(Oid), true, TYPALIGN_INT));
		AcceptInvalidationMessages();
		PushActiveSnapshot(GetLatestSnapshot());
		if (current)
			d = eng_sql(e, "SELECT privacy_internal._subject_tables_json($1)",
						1, argtypes, vals, NULL, &isnull);
		else
			d = eng_sql(e,
						"SELECT COALESCE(pg_catalog.jsonb_agg(privacy_internal._subject_table_json(d.t::pg_catalog.regclass, r.reten)"
						" ORDER BY d.o), '[]')"
						" FROM pg_catalog.unnest($1) WITH ORDINALITY d(t, o),"
						" (SELECT privacy_internal._subject_retention_all() AS reten) r",
						1, argtypes, vals, NULL, &isnull);
		PopActiveSnapshot();
		if (isnull)
			elog(ERROR, "the export's table descriptions are missing");
		arr = DatumGetJsonbP(d);
		if (!JB_ROOT_IS_ARRAY(arr) || JB_ROOT_COUNT(arr) != n)
			elog(ERROR, "unexpected table descriptions of an export document");
		/* an invalidation processed during this call: used, not kept */
		keep = current && pgp_subject_cache_may_keep();
		for (i = 0; i < n; i++)
		{
			JsonbValue *v = getIthJsonbValueFromContainer(&arr->root, i);
			MemoryContext old;

			if (v == NULL || v->type != jbvBinary || !JsonContainerIsObject(v->val.binary.data))
				elog(ERROR, "a table of the export is not registered");
			old = MemoryContextSwitchTo(keep ? pgp_subject_cache_memory() : e->cxt);
			metas[i] = JsonbValueToJsonb(v);
			MemoryContextSwitchTo(old);
			if (keep)
			{
				snprintf(k, sizeof(k), "meta:%u", DatumGetObjectId(oids[i]));
				pgp_subject_cache_keep_obj(k, metas[i]);
			}
		}
	}
	return metas;
}

PG_FUNCTION_INFO_V1(pgp_subject_export);

/*
 * _subject_export(kind, value, at): the whole export document, read in one
 * snapshot.  Per table with a column that can hold one of the subject's
 * identifiers, its rows read as its owner (privacy_internal._subject_rows)
 * and shown (decrypted, masked) by the table's query, built from the
 * catalog once per backend and planned once; then the header (identifiers,
 * restriction, consent receipts, open requests).
 */
Datum
pgp_subject_export(PG_FUNCTION_ARGS)
{
	Eng			e;
	Oid		   *tables;
	int			ntables;
	Datum	   *docs;
	Datum	   *docoids;
	int			ndocs = 0;
	int		   *pend_slot;		/* tables their owners read and show */
	Oid		   *pend_tbl;
	Oid		   *pend_owner;
	bool	   *pend_citus;
	char	  **pend_sql;
	int			npend = 0;
	bool		isnull;
	int			t,
				i;
	Datum		doc;
	MemoryContext outer = CurrentMemoryContext;

	eng_check_args(fcinfo);
	eng_begin(&e, fcinfo, false);
	eng_find(&e, PG_GETARG_TEXT_PP(0), PG_GETARG_TEXT_PP(1),
			 PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2), PG_ARGISNULL(2));
	e.params = eng_params(&e, e.kinds, e.vals, e.spans, e.nids);

	/* the tables in the order of their names */
	tables = eng_oids(&e, "#export_order",
					  "SELECT pg_catalog.array_agg(x.t::pg_catalog.oid ORDER BY x.t::pg_catalog.text)"
					  "  FROM (SELECT DISTINCT sc.tbl AS t"
					  "          FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc) x",
					  &ntables);
	docs = MemoryContextAlloc(e.cxt, sizeof(Datum) * Max(ntables, 1));
	docoids = MemoryContextAlloc(e.cxt, sizeof(Datum) * Max(ntables, 1));
	pend_slot = MemoryContextAlloc(e.cxt, sizeof(int) * Max(ntables, 1));
	pend_tbl = MemoryContextAlloc(e.cxt, sizeof(Oid) * Max(ntables, 1));
	pend_owner = MemoryContextAlloc(e.cxt, sizeof(Oid) * Max(ntables, 1));
	pend_citus = MemoryContextAlloc(e.cxt, sizeof(bool) * Max(ntables, 1));
	pend_sql = MemoryContextAlloc(e.cxt, sizeof(char *) * Max(ntables, 1));
	for (t = 0; t < ntables; t++)
	{
		char		k[NAMEDATALEN];
		const char *q;
		const char *qb;
		const char *shown;
		char	   *qc;
		StringInfoData sql;
		Oid			types[3] = {REGCLASSOID, TEXTOID, JSONBOID};
		Datum		vals[3];
		Datum		d;
		bool		has_ids = false;
		bool		raw;

		/* only tables with a column that can hold one of the identifiers */
		for (i = 0; i < e.ncols && !has_ids; i++)
			has_ids = e.cols[i].tbl == tables[t] && eng_has(e.params, e.cols[i].key);
		if (!has_ids)
			continue;

		/*
		 * the rows' query and how they are shown, built once per backend;
		 * the raw ones (under keys of their own) when the subject's
		 * identifiers of the table include rows not converted since
		 * protect_in_batches()
		 */
		snprintf(k, sizeof(k), "raw:%u", tables[t]);
		raw = eng_has(e.params, k);
		snprintf(k, sizeof(k), "rows:%u:%s%s", tables[t], e.dc, raw ? ":raw" : "");
		q = pgp_subject_cache_lookup(k);
		snprintf(k, sizeof(k), "shown:%u:%s%s", tables[t], e.dc, raw ? ":raw" : "");
		shown = pgp_subject_cache_lookup(k);
		snprintf(k, sizeof(k), "rowsb:%u:%s%s", tables[t], e.dc, raw ? ":raw" : "");
		qb = pgp_subject_cache_lookup(k);
		if (q != NULL && shown != NULL && qb != NULL)
		{
			/*
			 * Without the branches of open periods when none of the
			 * table's identifiers has one.
			 */
			bool		open = false;

			for (i = 0; i < e.ncols && !open; i++)
				open = e.cols[i].tbl == tables[t] && eng_has_b(e.params, e.cols[i].key, false);
			if (!open)
				q = qb;
		}
		else
		{
			Oid			btypes[2] = {REGCLASSOID, TEXTOID};
			Datum		bvals[2] = {ObjectIdGetDatum(tables[t]), CStringGetTextDatum(e.dc)};
			Datum		r[2];
			bool		rn[2];

			/* built in a snapshot taken now (see eng_build_sql) */
			PushActiveSnapshot(GetLatestSnapshot());
			(void) eng_sql_row(&e, raw ? "SELECT r.q, r.shown FROM privacy_internal._subject_rows_sql($1, $2, true) r"
							   : "SELECT r.q, r.shown FROM privacy_internal._subject_rows_sql($1, $2) r",
							   2, btypes, bvals, NULL, 2, r, rn);
			PopActiveSnapshot();
			q = rn[0] ? "" : eng_text(&e, r[0]);
			shown = rn[1] ? "" : eng_text(&e, r[1]);
		}
		if (q[0] == '\0' || shown[0] == '\0')
			continue;
		qc = eng_strdup(&e, q);

		/*
		 * The rows, read as the table's owner, shown here as the extension
		 * owner; with what the export says about the table besides its rows.
		 */
		initStringInfo(&sql);
		appendStringInfo(&sql,
						 "SELECT CASE WHEN pg_catalog.count(*) OPERATOR(pg_catalog.>) 0 THEN"
						 " pg_catalog.jsonb_build_object("
						 "'rows', COALESCE(pg_catalog.jsonb_agg(%s) FILTER (WHERE x.pri OPERATOR(pg_catalog.=) 0), '[]'),"
						 " 'mentions', COALESCE(pg_catalog.jsonb_agg(%s) FILTER (WHERE x.pri OPERATOR(pg_catalog.=) 1), '[]')) END",
						 shown, shown);
		if (strstr(shown, "privacy") == NULL)
		{
			/*
			 * Built-in functions only in how the rows are shown (nothing to
			 * decrypt, nothing of pg_privacy's): the table's owner reads and
			 * shows them, in one query with her other such tables (below).
			 */
			appendStringInfo(&sql, " FROM (%s) x", qc);
			pend_slot[npend] = ndocs;
			pend_tbl[npend] = tables[t];
			/* locked: its owner cannot change before the query runs */
			LockRelationOid(tables[t], AccessShareLock);
			pend_owner[npend] = pgp_rel_owner(tables[t]);
			pend_citus[npend] = pgp_citus_table(tables[t]);
			pend_sql[npend++] = sql.data;
			docoids[ndocs] = ObjectIdGetDatum(tables[t]);
			docs[ndocs++] = (Datum) 0;
			continue;
		}
		else
		{
			appendStringInfoString(&sql, " FROM privacy_internal._subject_rows($1, $2, $3) x");
			vals[0] = ObjectIdGetDatum(tables[t]);
			vals[1] = CStringGetTextDatum(qc);
			vals[2] = e.params;
			d = eng_sql(&e, sql.data, 3, types, vals, NULL, &isnull);
		}
		if (!isnull)
		{
			docoids[ndocs] = ObjectIdGetDatum(tables[t]);
			docs[ndocs++] = d;
		}
	}

	/*
	 * The tables read and shown by their owners: one query per owner, run
	 * as that owner, each table's document a scalar subquery of it (the
	 * tables Citus manages in queries of their own, which Citus plans at
	 * each run: src/owner.c).
	 */
	for (t = 0; t < npend; t += (pend_sql[t] == NULL) ? 1 : 0)
	{
		StringInfoData q;
		int			first = t;
		int			u;
		int			n = 0;
		int			nestlevel;
		Datum		res;
		Jsonb	   *jb;

		if (pend_sql[t] == NULL)
			continue;
		/* at most 50 tables a query (a function takes at most 100 arguments) */
		initStringInfo(&q);
		appendStringInfoString(&q, "SELECT pg_catalog.jsonb_build_array(");
		for (u = t; u < npend && n < 50; u++)
		{
			if (pend_sql[u] == NULL || pend_owner[u] != pend_owner[first] ||
				pend_citus[u] != pend_citus[first])
				continue;
			appendStringInfo(&q, "%s(%s)", n++ > 0 ? ", " : "", pend_sql[u]);
		}
		appendStringInfoString(&q, ")");
		nestlevel = NewGUCNestLevel();
		(void) set_config_option("enable_bitmapscan", "off",
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
								 true, 0, false);
		res = eng_owner_query(&e, pend_tbl[first], q.data, e.params, &isnull);
		AtEOXact_GUC(true, nestlevel);
		if (isnull)
			elog(ERROR, "an export query returned no row");
		jb = DatumGetJsonbP(res);
		n = 0;
		for (u = t; u < npend && n < JB_ROOT_COUNT(jb); u++)
		{
			JsonbValue *v;

			if (pend_sql[u] == NULL || pend_owner[u] != pend_owner[first] ||
				pend_citus[u] != pend_citus[first])
				continue;
			v = getIthJsonbValueFromContainer(&jb->root, n++);
			if (v != NULL && v->type != jbvNull)
			{
				MemoryContext old = MemoryContextSwitchTo(e.cxt);

				docs[pend_slot[u]] = PointerGetDatum(JsonbValueToJsonb(v));
				MemoryContextSwitchTo(old);
			}
			pend_sql[u] = NULL;
		}
	}
	/* the tables without rows go */
	for (t = 0, i = 0; t < ndocs; t++)
	{
		if (docs[t] == (Datum) 0)
			continue;
		docs[i] = docs[t];
		docoids[i++] = docoids[t];
	}
	ndocs = i;

	/* the header, and the tables */
	{
		Oid			types[5] = {TEXTOID, TEXTOID, TEXTARRAYOID, TEXTARRAYOID,
		TSTZMULTIRANGEARRAYOID};
		Datum		vals[5];
		Datum		header;
		Jsonb	  **metas;
		MemoryContext old = MemoryContextSwitchTo(e.cxt);

		vals[0] = PointerGetDatum(PG_GETARG_TEXT_PP(0));
		vals[1] = CStringGetTextDatum(e.vals[0]);
		vals[2] = eng_text_array(&e, e.kinds, e.nids);
		vals[3] = eng_text_array(&e, e.vals, e.nids);
		vals[4] = eng_span_array(&e, e.spans, e.nids);
		MemoryContextSwitchTo(old);

		/*
		 * privacy_internal._subject_header's document (identifiers,
		 * restriction, consent receipts, open requests) ...
		 */
		header = eng_sql(&e, "SELECT privacy_internal._subject_header($1, $2, $3, $4, $5)",
						 5, types, vals, NULL, &isnull);
		if (isnull)
			elog(ERROR, "the export's header is missing");

		/*
		 * ... what the export says about each table besides its rows
		 * (privacy_internal._subject_tables_json): kept per backend, like
		 * the statements, and gone with them when a declaration changes
		 * (the declaration tables' trigger) ...
		 */
		metas = eng_table_descriptions(&e, docoids, ndocs);
		/*
		 * ... put together here: the header's fields, and "tables", each
		 * table's description and its rows.  The rows, the bulk of the
		 * document, are copied once, into the document itself.
		 */
		old = MemoryContextSwitchTo(e.cxt);
		doc = eng_export_document(DatumGetJsonbP(header), metas, docs, ndocs);
		MemoryContextSwitchTo(old);
	}
	MemoryContextSwitchTo(outer);
	doc = PointerGetDatum(DatumGetJsonbPCopy(doc));
	SPI_finish();
	MemoryContextSwitchTo(outer);
	MemoryContextDelete(e.cxt);
	pgp_subject_build_end();
	PG_RETURN_DATUM(doc);
}

/* -------------------------------------------------------------- erasure */

/* The erasure's report as it is made: PgpErasureRow in cxt. */
typedef struct EngReport
{
	MemoryContext cxt;
	List	   *rows;
} EngReport;

/* One line of the erasure's report, kept in the report's memory. */
static void
eng_emit(EngReport *rep, Oid tbl, const char *action, int64 rows,
		 const char *reason, TimestampTz until, bool until_null)
{
	MemoryContext old = MemoryContextSwitchTo(rep->cxt);
	PgpErasureRow *r = palloc(sizeof(PgpErasureRow));

	r->tbl = tbl;
	r->action = pstrdup(action);
	r->rows = rows;
	r->reason = pstrdup(reason);
	r->until = until;
	r->until_null = until_null;
	rep->rows = lappend(rep->rows, r);
	MemoryContextSwitchTo(old);
}

/* to_char(ts, 'YYYY-MM-DD') */
static char *
eng_date(TimestampTz ts)
{
	return TextDatumGetCString(DirectFunctionCall2Coll(timestamptz_to_char, DEFAULT_COLLATION_OID,
													   TimestampTzGetDatum(ts),
													   CStringGetTextDatum("YYYY-MM-DD")));
}

/* GREATEST(a, b) of nullable time stamps */
static void
eng_greatest(TimestampTz *a, bool *a_null, TimestampTz b, bool b_null)
{
	if (b_null)
		return;
	if (*a_null || b > *a)
	{
		*a = b;
		*a_null = false;
	}
}

/* "SELECT count(DISTINCT ...) ..." as the owner: its number */
static int64
eng_owner_count(Eng *e, Oid tbl, const char *sql)
{
	bool		isnull;
	Datum		d = eng_owner_query(e, tbl, sql, e->params, &isnull);
	Datum		n;

	if (isnull)
		return 0;
	n = DirectFunctionCall1(jsonb_int8, d);
	return DatumGetInt64(n);
}

/* a cached boolean fact about a table ('true'/'false' under key) */
static bool
eng_cached_bool(Eng *e, const char *key, const char *sql, Oid tbl)
{
	Oid			types[1] = {REGCLASSOID};
	Datum		vals[1] = {ObjectIdGetDatum(tbl)};
	char	   *s = eng_cached_text(e, key, sql, 1, types, vals);

	return strcmp(s, "true") == 0;
}

/* Does a foreign key reference tbl (or a partition of it)? */
static bool
eng_referenced(Eng *e, Oid tbl)
{
	char		key[NAMEDATALEN];

	snprintf(key, sizeof(key), "referenced:%u", tbl);
	return eng_cached_bool(e, key,
						   "SELECT EXISTS (SELECT FROM pg_catalog.pg_constraint k"
						   " WHERE k.contype OPERATOR(pg_catalog.=) 'f'"
						   " AND (k.confrelid OPERATOR(pg_catalog.=) $1"
						   " OR k.confrelid IN (SELECT p.relid FROM pg_catalog.pg_partition_tree($1) p)))::pg_catalog.text",
						   tbl);
}

/* run the erasure's statements of one column, keep condition appended */
static int64
eng_exec_all(Eng *e, Oid tbl, char **stmts, int nstmts, const char *cond)
{
	int64		n = 0;
	int			i;

	for (i = 0; i < nstmts; i++)
	{
		char	   *q = psprintf("%s AND NOT %s", stmts[i], cond);

		n += (int64) pgp_subject_exec_sql(tbl, q, e->params);
		pfree(q);
	}
	return n;
}

/*
 * An erasure tries deleting rows that other tables reference in a
 * subtransaction (eng_exec_all_fk), which takes a transaction id.
 * PostgreSQL keeps 64 of a transaction's in shared memory; past them,
 * every other session's snapshot looks the running transaction's
 * subtransactions up in pg_subtrans.  While the transaction holds fewer
 * than ENG_FK_TRIES (counted as PostgreSQL counts them: a subtransaction
 * rolled back is gone), an erasure tries the deletion, the cheapest way
 * for one erasure; after that it first looks whether a row of another
 * table holds their keys (eng_fk_refused), so that a batch of erasures in
 * one transaction stays below that limit.
 */
#define ENG_FK_TRIES 32

static bool
eng_fk_may_try(void)
{
	return !MyProc->subxidStatus.overflowed && MyProc->subxidStatus.count < ENG_FK_TRIES;
}

/*
 * The same in a subtransaction: false when a foreign key of another table
 * refuses the deletion (the rows stay), other errors thrown on.
 */
static bool
eng_exec_all_fk(Eng *e, Oid tbl, char **stmts, int nstmts, const char *cond, int64 *n)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	volatile bool ok = true;
	volatile int64 done = 0;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		done = eng_exec_all(e, tbl, stmts, nstmts, cond);
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
		if (edata->sqlerrcode != ERRCODE_FOREIGN_KEY_VIOLATION)
			ReThrowError(edata);
		FreeErrorData(edata);
		ok = false;
	}
	PG_END_TRY();
	*n = ok ? done : 0;
	return ok;
}

/*
 * "<tbl> t WHERE t.ctid = ANY (...)": the rows of the ordinary table tbl
 * that the ctid statements (eng_stmts "ctid") find, one per column
 */
static char *
eng_ctid_rows(Oid tbl, char **ctids, int nctids)
{
	StringInfoData q;
	int			i;

	initStringInfo(&q);
	appendStringInfo(&q, "%s t WHERE t.ctid OPERATOR(pg_catalog.=) ANY (ARRAY(",
					 DatumGetCString(DirectFunctionCall1(regclassout, ObjectIdGetDatum(tbl))));
	for (i = 0; i < nctids; i++)
		appendStringInfo(&q, "%s%s", i > 0 ? " UNION ALL " : "", ctids[i]);
	appendStringInfoString(&q, "))");
	return q.data;
}

/* a string field of a jsonb object (a container), copied; NULL if absent */
static char *
eng_field_text(JsonbContainer *obj, const char *key)
{
	JsonbValue *v = eng_field(obj, key);

	if (v == NULL || v->type != jbvString)
		return NULL;
	return pnstrdup(v->val.string.val, v->val.string.len);
}

/*
 * The look-ahead's checks per referenced table (_subject_fk_checks), kept
 * per backend until a relation they name (the table, a referencing one)
 * or any schema changes: they name referencing tables and columns that
 * need not be registered, so the subject cache does not watch them.
 */
typedef struct EngFkChecks
{
	Oid			tbl;
	char	   *spec;
	Oid		   *rels;
	int			nrels;
} EngFkChecks;

#define ENG_FK_CACHE 64
static EngFkChecks fk_cache[ENG_FK_CACHE];
static int	fk_ncache = 0;
static MemoryContext fk_cxt = NULL;

static void
fk_cache_forget(int i)
{
	pfree(fk_cache[i].spec);
	if (fk_cache[i].rels)
		pfree(fk_cache[i].rels);
	fk_cache[i] = fk_cache[--fk_ncache];
}

static void
fk_cache_relcache_cb(Datum arg, Oid relid)
{
	int			i,
				j;

	for (i = fk_ncache - 1; i >= 0; i--)
	{
		bool		hit = !OidIsValid(relid) || fk_cache[i].tbl == relid;

		for (j = 0; !hit && j < fk_cache[i].nrels; j++)
			hit = fk_cache[i].rels[j] == relid;
		if (hit)
			fk_cache_forget(i);
	}
}

static void
fk_cache_syscache_cb(Datum arg, int cacheid, uint32 hashvalue)
{
	while (fk_ncache > 0)
		fk_cache_forget(fk_ncache - 1);
}

static const char *
fk_cache_get(Oid tbl)
{
	int			i;

	for (i = 0; i < fk_ncache; i++)
		if (fk_cache[i].tbl == tbl)
			return fk_cache[i].spec;
	return NULL;
}

/* keep spec (jb: it parsed, or NULL) for tbl, with the tables it names */
static void
fk_cache_put(Oid tbl, const char *spec, Jsonb *jb)
{
	EngFkChecks *c;
	int			i,
				n;

	if (fk_cxt == NULL)
	{
		fk_cxt = AllocSetContextCreate(TopMemoryContext, "pg_privacy foreign key checks",
									   ALLOCSET_SMALL_SIZES);
		pgp_on_relcache(fk_cache_relcache_cb, (Datum) 0);
		CacheRegisterSyscacheCallback(NAMESPACEOID, fk_cache_syscache_cb, (Datum) 0);
	}
	if (fk_ncache == ENG_FK_CACHE)
		fk_cache_forget(0);
	c = &fk_cache[fk_ncache];
	c->tbl = tbl;
	c->spec = MemoryContextStrdup(fk_cxt, spec);
	c->rels = NULL;
	c->nrels = 0;
	n = (jb != NULL && JB_ROOT_IS_ARRAY(jb)) ? JB_ROOT_COUNT(jb) : 0;
	if (n > 0)
	{
		c->rels = MemoryContextAlloc(fk_cxt, sizeof(Oid) * n);
		for (i = 0; i < n; i++)
		{
			JsonbValue *v = getIthJsonbValueFromContainer(&jb->root, i);
			char	   *fk = (v != NULL && v->type == jbvBinary) ? eng_field_text(v->val.binary.data, "fk") : NULL;

			c->rels[c->nrels++] = fk ? (Oid) strtoul(fk, NULL, 10) : InvalidOid;
		}
	}
	fk_ncache++;
}

/*
 * Whether a foreign key of another table would refuse deleting the rows
 * of the ordinary table tbl that the ctid statements find (keep condition
 * appended), told without trying (privacy_internal._subject_fk_checks): 0
 * no row of another table references them, 1 some does, -1 it cannot be
 * told so.  Each constraint's keys of those rows are read as tbl's owner,
 * and the rows that hold them looked for as the referencing table's
 * owner, with the constraint's own equality operators, as PostgreSQL's
 * own check does.  With 0 the erasure deletes without a subtransaction
 * (used once the transaction holds ENG_FK_TRIES subtransactions: see
 * eng_fk_may_try).  A referencing row written in between (only into a table the
 * erasure has not locked) makes the DELETE fail with 23503, and the
 * erasure with it: nothing is lost, and the next try keeps the row.
 */
static int
eng_fk_refused(Eng *e, Oid tbl, char **ctids, int nctids, const char *keepcond)
{
	const char *spec;
	bool		kept;
	Jsonb	   *jb;
	int			i,
				n;
	char	   *rows;
	Oid			types[1] = {REGCLASSOID};
	Datum		vals[1] = {ObjectIdGetDatum(tbl)};

	spec = fk_cache_get(tbl);
	kept = spec != NULL;
	if (!kept)
	{
		bool		isnull;
		Datum		d;

		/* (a database not updated to 0.10.0 yet: tried, as its version did) */
		if (!pgp_internal_func_exists("_subject_fk_checks", 1, types))
			return -1;
		d = eng_build_sql(e, "SELECT privacy_internal._subject_fk_checks($1)", 1, types, vals,
						  NULL, &isnull);
		spec = isnull ? "" : eng_text(e, d);
	}
	jb = (spec[0] == '\0' || strcmp(spec, "-") == 0) ? NULL
		: DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(spec)));
	if (!kept)
		fk_cache_put(tbl, spec, jb);
	if (jb == NULL || !JB_ROOT_IS_ARRAY(jb))
		return -1;
	n = JB_ROOT_COUNT(jb);

	/* the rows about to go, as the DELETE finds them */
	rows = psprintf(" FROM %s AND NOT %s", eng_ctid_rows(tbl, ctids, nctids), keepcond);

	for (i = 0; i < n; i++)
	{
		JsonbValue *c = getIthJsonbValueFromContainer(&jb->root, i);
		char	   *fk;
		char	   *keys;
		char	   *check;
		Oid			fkrel;
		Datum		k;
		Datum		r;
		bool		isnull;

		if (c == NULL || c->type != jbvBinary)
			return -1;
		fk = eng_field_text(c->val.binary.data, "fk");
		keys = eng_field_text(c->val.binary.data, "keys");
		check = eng_field_text(c->val.binary.data, "check");
		if (fk == NULL || keys == NULL || check == NULL)
			return -1;
		fkrel = (Oid) strtoul(fk, NULL, 10);
		k = eng_owner_query(e, tbl, psprintf("%s%s", keys, rows), e->params, &isnull);
		if (isnull)
			continue;
		r = eng_owner_query_flags(e, fkrel, check, k, &isnull, PGP_RUN_NOFORCE_RLS);
		if (isnull || DatumGetBool(DirectFunctionCall1(jsonb_bool, r)))
			return 1;
	}
	return 0;
}

static int
eng_cstr_cmp(const void *a, const void *b)
{
	const char *x = *(const char *const *) a;
	const char *y = *(const char *const *) b;

	return varstr_cmp(x, strlen(x), y, strlen(y), DEFAULT_COLLATION_OID);
}

/*
 * Delete the subject's rows found through column c (keep condition
 * appended): the rows deleted; when the table is referenced (refd), in a
 * subtransaction, and if a foreign key of another table refuses, nothing
 * is deleted and the rows stay as long as the rows that reference them
 * (counted into *kept, *referenced set).
 */
static int64
eng_delete_column(Eng *e, Oid tbl, EngCol *c, bool refd, const char *keepcond,
				  int64 *kept, bool *referenced)
{
	char	  **stmts;
	int			nstmts;
	int64		n;

	stmts = eng_stmts(e, "delete", c, &nstmts);
	if (!refd)
		return eng_exec_all(e, tbl, stmts, nstmts, keepcond);
	if (eng_exec_all_fk(e, tbl, stmts, nstmts, keepcond, &n))
		return n;
	*kept = Max(*kept, eng_owner_count(e, tbl,
									   psprintf("SELECT pg_catalog.to_jsonb(pg_catalog.count(*)) FROM %s",
												eng_from(e, c))));
	*referenced = true;
	return 0;
}

/*
 * The identifiers the last erasure of this transaction acted on, found
 * under its locks (for the erasure ledger's entry: src/sql/75_subject_ledger.sql).
 */
static struct
{
	LocalTransactionId lxid;
	MemoryContext cxt;
	int			n;
	char	  **kinds;
	char	  **vals;
	Datum	   *spans;
}			erased;

static void
eng_remember_erased(Eng *e)
{
	MemoryContext old;
	int			i;

	if (erased.cxt == NULL)
		erased.cxt = AllocSetContextCreate(TopMemoryContext, "pg_privacy erased identifiers",
										   ALLOCSET_SMALL_SIZES);
	else
		MemoryContextReset(erased.cxt);
	old = MemoryContextSwitchTo(erased.cxt);
	erased.n = e->nids;
	erased.kinds = palloc(sizeof(char *) * Max(e->nids, 1));
	erased.vals = palloc(sizeof(char *) * Max(e->nids, 1));
	erased.spans = palloc(sizeof(Datum) * Max(e->nids, 1));
	for (i = 0; i < e->nids; i++)
	{
		erased.kinds[i] = pstrdup(e->kinds[i]);
		erased.vals[i] = pstrdup(e->vals[i]);
		erased.spans[i] = datumCopy(e->spans[i], false, -1);
	}
	erased.lxid = MyProc->lxid;
	MemoryContextSwitchTo(old);
}

/*
 * The identifiers the last erasure of this transaction acted on, as the
 * arrays kinds text[], vals text[], spans tstzmultirange[] in the current
 * memory context; false when this transaction made none.
 */
bool
pgp_engine_erased(Datum *kinds, Datum *vals, Datum *spans)
{
	Datum	   *k;
	Datum	   *v;
	int			i;

	if (erased.cxt == NULL || erased.lxid != MyProc->lxid)
		return false;
	k = palloc(sizeof(Datum) * Max(erased.n, 1));
	v = palloc(sizeof(Datum) * Max(erased.n, 1));
	for (i = 0; i < erased.n; i++)
	{
		k[i] = CStringGetTextDatum(erased.kinds[i]);
		v[i] = CStringGetTextDatum(erased.vals[i]);
	}
	*kinds = PointerGetDatum(construct_array(k, erased.n, TEXTOID, -1, false, TYPALIGN_INT));
	*vals = PointerGetDatum(construct_array(v, erased.n, TEXTOID, -1, false, TYPALIGN_INT));
	*spans = PointerGetDatum(construct_array(erased.spans, erased.n, TSTZMULTIRANGEOID, -1, false, TYPALIGN_DOUBLE));
	return true;
}

PG_FUNCTION_INFO_V1(pgp_subject_erased_identifiers);

/*
 * _subject_erased_identifiers(): (kinds, vals, spans) of the last erasure
 * of this transaction, NULLs when it made none.
 */
Datum
pgp_subject_erased_identifiers(PG_FUNCTION_ARGS)
{
	TupleDesc	td;
	Datum		values[3];
	bool		nulls[3] = {true, true, true};

	if (get_call_result_type(fcinfo, NULL, &td) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "_subject_erased_identifiers must return a row");
	if (pgp_engine_erased(&values[0], &values[1], &values[2]))
		nulls[0] = nulls[1] = nulls[2] = false;
	td = BlessTupleDesc(td);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(td, values, nulls)));
}

/*
 * For the tables Citus manages among the erasure's (locked on this node
 * already): the same lock on every node, through Citus's own LOCK TABLE,
 * which it takes on the tables of the nodes that route writes too, run as
 * the table's owner; and, when one of them is a reference table other
 * tables reference, multi-shard statements one shard at a time for the
 * rest of the erasure (citus.multi_shard_modify_mode): Citus refuses to
 * change a reference table after a parallel change of a table with a
 * foreign key to it in the same transaction.  *guc_nest: the GUC nest
 * level to restore at the end, when a setting was made.
 */
static void
eng_citus_prepare(Eng *e, Oid *tbls, int ntbls, int *guc_nest)
{
	bool		sequential = false;
	int			i;

	if (!pgp_citus_present())
		return;
	for (i = 0; i < ntbls; i++)
	{
		bool		known;

		if (!pgp_citus_table(tbls[i]))
			continue;
		(void) pgp_owner_run(tbls[i],
							 psprintf("LOCK TABLE %s IN SHARE ROW EXCLUSIVE MODE",
									  DatumGetCString(DirectFunctionCall1(regclassout, ObjectIdGetDatum(tbls[i])))),
							 0, NULL, NULL, NULL, PGP_RUN_EXEC, 0, InvalidOid, NULL, NULL, NULL, NULL);
		if (!sequential &&
			pgp_citus_dist_attnum(tbls[i], &known) == InvalidAttrNumber && known &&
			eng_referenced(e, tbls[i]))
			sequential = true;
	}
	if (sequential)
	{
		*guc_nest = NewGUCNestLevel();
		(void) set_config_option("citus.multi_shard_modify_mode", "sequential",
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	}
}

/*
 * The erasure (src/sql/74_subject_erase.sql describes it): tables in the
 * order that lets referencing rows go first, each table's rows deleted
 * where no hold and no legal minimum keeps them, kept (and the subject
 * restricted) where one does, mentions in other subjects' rows scrubbed,
 * the consent history pseudonymized.  Returns its report, a list of
 * PgpErasureRow in cxt (which must outlive the call: a dry run reads it
 * after rolling the erasure back).  fcinfo is the calling function's, for
 * the state the engine keeps in its fn_extra.
 */
List *
pgp_engine_erase(FunctionCallInfo fcinfo, MemoryContext cxt, text *kind, text *value,
				 Datum at, bool at_null)
{
	EngReport	rep_s = {cxt, NIL};
	EngReport  *rep = &rep_s;
	Eng			e;
	Oid		   *order;
	int			norder;
	Oid		   *keep_tbls;
	int			nkeep_tbls;
	char	   *holds = NULL;
	bool		open_hold = false;
	TimestampTz hold_until = 0;
	bool		hold_until_null = true;
	bool		any_hold;
	bool		kept_any = false;
	bool		forever = false;
	TimestampTz max_until = 0;
	bool		max_until_null = true;
	Datum		reten;
	bool		isnull;
	int			t,
				i;
	int			guc_nest = -1;
	MemoryContext outer = CurrentMemoryContext;

	eng_begin(&e, fcinfo, true);

	/* every searchable table, and those they reference, locked first */
	order = eng_oids(&e, "#order",
					 "SELECT pg_catalog.array_agg(o.tbl::pg_catalog.oid ORDER BY o.depth, o.tbl::pg_catalog.text)"
					 "  FROM privacy_internal._subject_table_order() o", &norder);
	if (norder > 0)
	{
		/*
		 * Locked by OID, in the order of their OIDs, with their partitions
		 * and inheritance children (as LOCK TABLE does): no name to go
		 * stale (some, the tables registered tables reference, are not
		 * watched by the cache) or to race with a rename.
		 */
		Oid		   *sorted = MemoryContextAlloc(e.cxt, sizeof(Oid) * norder);

		memcpy(sorted, order, sizeof(Oid) * norder);
		qsort(sorted, norder, sizeof(Oid), oid_cmp);
		for (i = 0; i < norder; i++)
		{
			LockRelationOid(sorted[i], ShareRowExclusiveLock);
			if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(sorted[i])))
				ereport(ERROR,
						(errcode(ERRCODE_UNDEFINED_TABLE),
						 errmsg("relation with OID %u does not exist", sorted[i]),
						 errhint("A table was dropped while the erasure started; try again.")));
			if (has_subclass(sorted[i]))
				list_free(find_all_inheritors(sorted[i], ShareRowExclusiveLock, NULL));
		}
		eng_citus_prepare(&e, sorted, norder, &guc_nest);
	}

	/* the subject, found in a snapshot taken after the lock */
	PushActiveSnapshot(GetTransactionSnapshot());
	e.fresh = false;
	eng_find(&e, kind, value, at, at_null);
	e.fresh = true;
	PopActiveSnapshot();
	e.params = eng_params(&e, e.kinds, e.vals, e.spans, e.nids);
	eng_remember_erased(&e);

	/*
	 * decide: legal holds on any of the identifiers, whether any hold is
	 * active, the retention policies, and the tables with a legal minimum
	 */
	{
		Oid			types[2] = {TEXTARRAYOID, TEXTARRAYOID};
		Datum		vals[2] = {eng_text_array(&e, e.kinds, e.nids), eng_text_array(&e, e.vals, e.nids)};
		Datum		r[6];
		bool		rn[6];
		Datum	   *elems;
		bool	   *nulls;

		(void) eng_sql_row(&e,
						   "SELECT h.reasons, h.open, h.until,"
						   " EXISTS (SELECT FROM privacy.legal_hold lh WHERE lh.released_at IS NULL"
						   " AND (lh.until IS NULL OR lh.until OPERATOR(pg_catalog.>) pg_catalog.now())),"
						   " COALESCE(p.reten, '{}'), p.keep"
						   " FROM (SELECT pg_catalog.string_agg(lh.reason, '; ' ORDER BY lh.id) AS reasons,"
						   " pg_catalog.bool_or(lh.until IS NULL) AS open, pg_catalog.max(lh.until) AS until"
						   " FROM privacy.legal_hold lh"
						   " WHERE lh.released_at IS NULL"
						   " AND (lh.until IS NULL OR lh.until OPERATOR(pg_catalog.>) pg_catalog.now())"
						   " AND (lh.kind, lh.value) IN (SELECT u.k, u.v FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) u(k, v))) h,"
						   " (SELECT pg_catalog.jsonb_object_agg(rp.tbl::pg_catalog.oid::pg_catalog.text,"
						   " pg_catalog.jsonb_build_object('time_column', rp.time_column, 'keep', rp.keep,"
						   " 'action', rp.action, 'keep_at_least', rp.keep_at_least)) AS reten,"
						   " pg_catalog.array_agg(rp.tbl::pg_catalog.oid) FILTER (WHERE rp.keep_at_least IS NOT NULL) AS keep"
						   " FROM privacy.retention_policy rp) p",
						   2, types, vals, NULL, 6, r, rn);
		if (!rn[0])
		{
			holds = eng_text(&e, r[0]);
			open_hold = !rn[1] && DatumGetBool(r[1]);
			if (!open_hold && !rn[2])
			{
				hold_until = DatumGetTimestampTz(r[2]);
				hold_until_null = false;
			}
		}
		any_hold = !rn[3] && DatumGetBool(r[3]);
		reten = r[4];
		nkeep_tbls = 0;
		keep_tbls = NULL;
		if (!rn[5])
		{
			deconstruct_array(DatumGetArrayTypeP(r[5]), OIDOID, sizeof(Oid), true, TYPALIGN_INT,
							  &elems, &nulls, &nkeep_tbls);
			keep_tbls = MemoryContextAlloc(e.cxt, sizeof(Oid) * Max(nkeep_tbls, 1));
			for (i = 0; i < nkeep_tbls; i++)
				keep_tbls[i] = DatumGetObjectId(elems[i]);
		}
	}

	pgp_subject_set_erasing_flag(true);
	if (pgp_subject_cache_lookup("protected") == NULL)
	{
		Oid			types[1] = {OIDARRAYOID};
		Datum		vals[1] = {eng_oid_array(&e, order, norder)};

		/* every table still protected as declared, or the erasure stops */
		{
			SPIPlanPtr	plan = pgp_kept_plan("SELECT privacy_internal._check_protection(x::pg_catalog.regclass)"
											 " FROM pg_catalog.unnest($1) x", 1, types);

			if (SPI_execute_plan(plan, vals, NULL, false, 0) < 0)
				elog(ERROR, "SPI_execute_plan failed");
		}
		pgp_subject_cache_store("protected", "ok");
	}
	for (t = 0; t < norder; t++)
	{
		Oid			tbl = order[t];
		char	   *keep_cond = NULL;
		char	   *row_time = NULL;
		char	   *keep_time_column = NULL;
		char	   *keep_at_least = NULL;
		char	   *keepcond;
		char	   *heldcond = NULL;
		int64		deleted = 0;
		int64		kept = 0;
		TimestampTz until = 0;
		bool		until_null = true;
		bool		referenced = false;
		bool		refd;
		bool		plain;
		char		key[NAMEDATALEN * 2];
		char	  **ctids = NULL;
		char	  **dels = NULL;
		int			nctids = 0;
		int			ndels = 0;
		int		   *pcols = palloc(sizeof(int) * Max(e.ncols, 1));
		int			npcols = 0;
		int64		n;

		if (holds != NULL)
		{
			/* a hold on the subject keeps every row of it */
			n = 0;
			for (i = 0; i < e.ncols; i++)
			{
				EngCol	   *c = &e.cols[i];

				if (c->tbl != tbl || c->link == NULL || strcmp(c->link, "owner") != 0 ||
					!eng_has(e.params, c->key))
					continue;
				n = Max(n, eng_owner_count(&e, tbl,
										   psprintf("SELECT pg_catalog.to_jsonb(pg_catalog.count(DISTINCT (%s, t.ctid))) FROM %s",
													eng_rowrel(tbl), eng_from(&e, c))));
			}
			if (n > 0)
			{
				eng_emit(rep, tbl, "keep", n,
						 psprintf("legal hold: %s%s", holds,
								  hold_until_null ? " (until released)"
								  : psprintf(" (until %s)", eng_date(hold_until))),
						 hold_until, hold_until_null);
				kept_any = true;
			}
			continue;
		}

		/* the legal minimum of the table's retention policy */
		for (i = 0; i < nkeep_tbls; i++)
			if (keep_tbls[i] == tbl)
				break;
		if (i < nkeep_tbls)
		{
			Oid			types[3] = {JSONBOID, TEXTOID, REGCLASSOID};
			Datum		vals[3];
			Datum		r[4];
			bool		rn[4];

			snprintf(key, sizeof(key), "%u", tbl);
			vals[0] = reten;
			vals[1] = CStringGetTextDatum(key);
			vals[2] = ObjectIdGetDatum(tbl);
			if (eng_sql_row(&e, "SELECT ($1 OPERATOR(pg_catalog.->) $2 OPERATOR(pg_catalog.->>) 'time_column')::pg_catalog.name::pg_catalog.text,"
							" ($1 OPERATOR(pg_catalog.->) $2 OPERATOR(pg_catalog.->>) 'keep_at_least')::pg_catalog.interval::pg_catalog.text,"
							" m.keep_cond, m.row_time"
							" FROM privacy_internal._legal_minimum_sql($3, 't', pg_catalog.now()) m",
							3, types, vals, NULL, 4, r, rn))
			{
				keep_time_column = rn[0] ? NULL : eng_text(&e, r[0]);
				keep_at_least = rn[1] ? NULL : eng_text(&e, r[1]);
				keep_cond = rn[2] ? NULL : eng_text(&e, r[2]);
				row_time = rn[3] ? NULL : eng_text(&e, r[3]);
			}
		}
		keepcond = keep_cond ? keep_cond : "false";

		/* rows that hold another identifier under a hold */
		if (any_hold)
		{
			Oid			types[2] = {REGCLASSOID, TEXTOID};
			Datum		vals[2];
			Datum		r[2];
			bool		rn[2];

			snprintf(key, sizeof(key), "held.%u", tbl);
			vals[0] = ObjectIdGetDatum(tbl);
			vals[1] = CStringGetTextDatum(key);
			if (eng_sql_row(&e, "SELECT hp.held, pg_catalog.to_jsonb(hp.held_args)"
							" FROM privacy_internal._hold_predicate($1, 't', $2) hp",
							2, types, vals, NULL, 2, r, rn) && !rn[0])
			{
				Oid			ptypes[3] = {JSONBOID, TEXTOID, JSONBOID};
				Datum		pvals[3];
				char		pnulls[3] = {' ', ' ', rn[1] ? 'n' : ' '};

				heldcond = eng_text(&e, r[0]);
				pvals[0] = e.params;
				pvals[1] = CStringGetTextDatum(key);
				pvals[2] = r[1];
				e.params = eng_sql(&e, "SELECT $1 OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object($2, $3)",
								   3, ptypes, pvals, pnulls, &isnull);
			}
		}
		if (heldcond != NULL)
		{
			n = 0;
			for (i = 0; i < e.ncols; i++)
			{
				EngCol	   *c = &e.cols[i];

				if (c->tbl != tbl || !eng_has(e.params, c->key))
					continue;
				n = Max(n, eng_owner_count(&e, tbl,
										   psprintf("SELECT pg_catalog.to_jsonb(pg_catalog.count(DISTINCT (%s, t.ctid))) FROM %s AND %s",
													eng_rowrel(tbl), eng_from(&e, c), heldcond)));
			}
			if (n > 0)
			{
				eng_emit(rep, tbl, "keep", n,
						 "legal hold on another identifier these rows hold (until released)", 0, true);
				kept_any = true;
				forever = true;
			}
			keepcond = psprintf("(%s OR %s)", keepcond, heldcond);
		}

		refd = eng_referenced(&e, tbl);
		snprintf(key, sizeof(key), "plain:%u", tbl);
		plain = eng_cached_bool(&e, key,
								"SELECT EXISTS (SELECT FROM pg_catalog.pg_class k"
								" WHERE k.oid OPERATOR(pg_catalog.=) $1 AND k.relkind OPERATOR(pg_catalog.=) 'r'"
								" AND NOT EXISTS (SELECT FROM pg_catalog.pg_inherits i"
								" WHERE i.inhparent OPERATOR(pg_catalog.=) $1))::pg_catalog.text",
								tbl);
		/* (a ctid names a row of one shard only: never on Citus) */
		if (plain && pgp_citus_table(tbl))
			plain = false;

		/* the subject's own rows (cols are in order of table and attnum) */
		for (i = 0; i < e.ncols; i++)
		{
			EngCol	   *c = &e.cols[i];

			if (c->tbl != tbl || c->link == NULL || strcmp(c->link, "owner") != 0 ||
				!eng_has(e.params, c->key))
				continue;
			if (keep_cond != NULL)
			{
				bool		rnull;
				Datum		res = eng_owner_query(&e, tbl,
												  psprintf("SELECT pg_catalog.jsonb_build_array(pg_catalog.count(DISTINCT (%s, t.ctid)), pg_catalog.max(%s)) FROM %s AND %s AND NOT %s",
														   eng_rowrel(tbl), row_time, eng_from(&e, c), keep_cond,
														   heldcond ? heldcond : "false"),
												  e.params, &rnull);

				if (!rnull)
				{
					Oid			types[2] = {JSONBOID, REGCLASSOID};
					Datum		vals[2] = {res, ObjectIdGetDatum(tbl)};
					Datum		r[2];
					bool		rn[2];

					(void) eng_sql_row(&e, "SELECT ($1 OPERATOR(pg_catalog.->>) 0)::pg_catalog.int8,"
									   " privacy_internal._legal_minimum_until($2, ($1 OPERATOR(pg_catalog.->>) 1)::pg_catalog.timestamptz)",
									   2, types, vals, NULL, 2, r, rn);
					if (!rn[0])
						kept = Max(kept, DatumGetInt64(r[0]));
					eng_greatest(&until, &until_null,
								 rn[1] ? 0 : DatumGetTimestampTz(r[1]), rn[1]);
				}
			}
			if (plain)
			{
				/* one DELETE by ctid for all the columns of an ordinary table */
				char	  **s;
				int			ns,
							j;

				s = eng_stmts(&e, "ctid", c, &ns);
				ctids = ctids ? repalloc(ctids, sizeof(char *) * (nctids + ns + 1))
					: palloc(sizeof(char *) * (ns + 1));
				for (j = 0; j < ns; j++)
					ctids[nctids++] = s[j];
				s = eng_stmts(&e, "delete", c, &ns);
				dels = dels ? repalloc(dels, sizeof(char *) * (ndels + ns + 1))
					: palloc(sizeof(char *) * (ns + 1));
				for (j = 0; j < ns; j++)
					dels[ndels++] = s[j];
				pcols[npcols++] = i;
				continue;
			}
			deleted += eng_delete_column(&e, tbl, c, refd, keepcond, &kept, &referenced);
		}
		if (nctids > 0)
		{
			char	   *one[1];

			if (nctids == 1)
				one[0] = dels[0];
			else
				one[0] = psprintf("DELETE FROM %s", eng_ctid_rows(tbl, ctids, nctids));
			if (!refd || (!eng_fk_may_try() && eng_fk_refused(&e, tbl, ctids, nctids, keepcond) == 0))
				deleted += eng_exec_all(&e, tbl, one, 1, keepcond);
			else if (eng_exec_all_fk(&e, tbl, one, 1, keepcond, &n))
				deleted += n;
			else
			{
				/* a foreign key of another table refuses: column by column */
				int			p;

				for (p = 0; p < npcols; p++)
					deleted += eng_delete_column(&e, tbl, &e.cols[pcols[p]], true, keepcond,
												 &kept, &referenced);
			}
		}
		if (deleted > 0)
			eng_emit(rep, tbl, "delete", deleted,
					 "erased at the data subject's request (GDPR Art. 17)", 0, true);
		if (kept > 0)
		{
			char	   *reason;

			if (referenced)
			{
				/*
				 * as long as the rows that reference them (tables referencing
				 * this one were handled before it)
				 */
				eng_greatest(&until, &until_null, max_until, max_until_null);
				reason = psprintf("referenced by rows kept in another table (until %s), restricted",
								  until_null ? "they go" : eng_date(until));
			}
			else
				reason = psprintf("legal minimum: kept %s after %s (until %s), restricted",
								  keep_at_least ? keep_at_least : "",
								  keep_time_column ? keep_time_column : "",
								  until_null ? "" : eng_date(until));
			eng_emit(rep, tbl, "keep", kept, reason, until, until_null);
			kept_any = true;
			if (until_null)
				forever = true;
			else
				eng_greatest(&max_until, &max_until_null, until, false);
		}

		/* mentions in other subjects' rows: the subject's identifier goes */
		{
			char	  **names = NULL;
			int			nnames = 0;
			int64		total = 0;

			for (i = 0; i < e.ncols; i++)
			{
				EngCol	   *c = &e.cols[i];
				char	  **stmts;
				int			nstmts;
				int64		nrows;

				if (c->tbl != tbl || c->link == NULL || strcmp(c->link, "mention") != 0 ||
					!eng_has(e.params, c->key))
					continue;
				if (c->notnull)
					ereport(ERROR,
							(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
							 errmsg("cannot scrub mentions in column \"%s\" of relation %s", c->col,
									DatumGetCString(DirectFunctionCall1(regclassout, ObjectIdGetDatum(tbl)))),
							 errdetail("The column is NOT NULL, so the subject's identifier cannot be removed from other subjects' rows."),
							 errhint("Allow NULL in the column (ALTER TABLE ... ALTER COLUMN ... DROP NOT NULL).")));
				if (eng_citus_dist_col(c))
					ereport(ERROR,
							(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
							 errmsg("cannot scrub mentions in column \"%s\" of relation %s", c->col,
									DatumGetCString(DirectFunctionCall1(regclassout, ObjectIdGetDatum(tbl)))),
							 errdetail("It is the table's distribution column: Citus places each row by it, and no UPDATE can change it, "
									   "so the subject's identifier cannot be removed from other subjects' rows."),
							 errhint("Distribute the table by a column that holds no identifier.")));
				stmts = eng_stmts(&e, "scrub", c, &nstmts);
				nrows = eng_exec_all(&e, tbl, stmts, nstmts, heldcond ? heldcond : "false");
				if (nrows > 0)
				{
					names = names ? repalloc(names, sizeof(char *) * (nnames + 1))
						: palloc(sizeof(char *));
					names[nnames++] = c->col;
					total += nrows;
				}
			}
			if (total > 0)
			{
				StringInfoData r;

				qsort(names, nnames, sizeof(char *), eng_cstr_cmp);
				initStringInfo(&r);
				appendStringInfoString(&r, "mentioned in other subjects' rows: ");
				for (i = 0; i < nnames; i++)
					appendStringInfo(&r, "%s%s", i > 0 ? ", " : "", quote_identifier(names[i]));
				appendStringInfoString(&r, " set to NULL");
				eng_emit(rep, tbl, "scrub", total, r.data, 0, true);
			}
		}
	}
	pgp_subject_set_erasing_flag(false);

	/* the consent history keeps its proof under a keyed reference */
	if (holds == NULL)
	{
		Oid			types[2] = {TEXTARRAYOID, TEXTARRAYOID};
		Datum		vals[2] = {eng_text_array(&e, e.kinds, e.nids), eng_text_array(&e, e.vals, e.nids)};
		int64		forgotten;
		Datum		d;

		/* every identifier at once: one UPDATE, one DELETE */
		d = eng_sql(&e, "SELECT privacy_internal._consent_forget_identities($1, $2)",
					2, types, vals, NULL, &isnull);
		forgotten = isnull ? 0 : DatumGetInt64(d);
		if (forgotten > 0)
		{
			Oid			ce = get_relname_relid("consent_event", get_namespace_oid("privacy", false));

			eng_emit(rep, ce, "pseudonymize", forgotten,
					 "proof of consent kept (GDPR Art. 7(1)); the identifier replaced by a keyed reference",
					 0, true);
		}
	}

	/* what is kept is restricted: stored, not processed or updated */
	if (kept_any)
	{
		TimestampTz until;
		bool		until_null;
		Oid			types[6] = {TEXTARRAYOID, TEXTARRAYOID, TSTZMULTIRANGEARRAYOID, TEXTOID, TEXTOID, TIMESTAMPTZOID};
		Datum		vals[6];
		char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
		Datum		d;

		if (holds != NULL)
		{
			until = hold_until;
			until_null = hold_until_null;
			forever = open_hold;
		}
		else
		{
			until = max_until;
			until_null = max_until_null;
		}
		if (forever)
			until_null = true;
		vals[0] = eng_text_array(&e, e.kinds, e.nids);
		vals[1] = eng_text_array(&e, e.vals, e.nids);
		vals[2] = eng_span_array(&e, e.spans, e.nids);
		vals[3] = CStringGetTextDatum(holds ? psprintf("legal hold: %s", holds) : "rows kept after erasure");
		vals[4] = CStringGetTextDatum("erasure");
		vals[5] = TimestampTzGetDatum(until);
		nulls[5] = until_null ? 'n' : ' ';
		d = eng_sql(&e, "SELECT privacy_internal._restrict_ids($1, $2, $3, $4, $5, $6)::pg_catalog.int8",
					6, types, vals, nulls, &isnull);
		eng_emit(rep, get_relname_relid("restriction", get_namespace_oid("privacy", false)),
				 "restrict", isnull ? 0 : DatumGetInt64(d),
				 "the kept rows are restricted: stored, not processed or updated",
				 until, until_null);
	}
	SPI_finish();
	if (guc_nest >= 0)
		AtEOXact_GUC(true, guc_nest);
	MemoryContextSwitchTo(outer);
	MemoryContextDelete(e.cxt);
	pgp_subject_build_end();
	return rep->rows;
}

/* The report's rows into the result set of a function that returns it. */
void
pgp_engine_report_put(ReturnSetInfo *rsinfo, List *rows)
{
	ListCell   *lc;

	foreach(lc, rows)
	{
		PgpErasureRow *r = (PgpErasureRow *) lfirst(lc);
		Datum		v[5];
		bool		n[5] = {false, false, false, false, r->until_null};

		v[0] = ObjectIdGetDatum(r->tbl);
		v[1] = CStringGetTextDatum(r->action);
		v[2] = Int64GetDatum(r->rows);
		v[3] = CStringGetTextDatum(r->reason);
		v[4] = TimestampTzGetDatum(r->until);
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, v, n);
	}
}

PG_FUNCTION_INFO_V1(pgp_subject_erase);

/*
 * _subject_erase(kind, value, at): the erasure, returning its report
 * (table_name, action, rows, reason, kept_until); erase_subject is the
 * API (src/rights.c), this the engine alone (replay_erasures calls it).
 */
Datum
pgp_subject_erase(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	List	   *rows;

	eng_check_args(fcinfo);
	InitMaterializedSRF(fcinfo, 0);
	rows = pgp_engine_erase(fcinfo, CurrentMemoryContext, PG_GETARG_TEXT_PP(0), PG_GETARG_TEXT_PP(1),
							PG_ARGISNULL(2) ? (Datum) 0 : PG_GETARG_DATUM(2), PG_ARGISNULL(2));
	pgp_engine_report_put(rsinfo, rows);
	return (Datum) 0;
}
