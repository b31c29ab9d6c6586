/*-------------------------------------------------------------------------
 *
 * mask.c
 *	  Masking by role: a masked role reads every declared personal column
 *	  of a registered table through the mask of its category.
 *
 * The masks are applied where every statement passes, the planner: when
 * the current user or the login (session user) is or inherits a role of
 * privacy.masked_role (see mask_active), or the role whose privileges read
 * a table is (a view's or rule's owner), each registered table the
 * statement reads becomes a subquery
 *
 *		SELECT mask(t.c1), t.c2, ... FROM <table> t
 *
 * with the table's own privileges, locks, row-level security and row
 * marks, in the place and under the name the statement gave the table.
 * Everything the statement does with the table (WHERE, ORDER BY, joins,
 * whole-row references, functions and views of the role) therefore sees
 * the masked values only, and so does EXPLAIN.  Tables reached through
 * views are masked too: views are expanded before the planner runs.
 * COPY table TO (pg_dump's data) is rewritten as COPY (SELECT ...) TO, which
 * is planned like any statement: pg_dump run by a masked role writes an
 * anonymized copy.
 *
 * What is refused to a masked role instead: reading the statistics of
 * columns (pg_statistic, pg_statistic_ext_data and the views over them,
 * which hold the most common values in clear), system columns of a masked
 * table, and any write to a table it reads masked (a failing row's DETAIL,
 * a unique or foreign-key check, a WHERE or RETURNING would show or test
 * the values in clear).
 *
 * A plan made for a statement that reads a registered table depends on
 * the role it was made for (PlannedStmt.dependsOnRole), so a cached plan
 * is never reused across a change of role; mask_role and unmask_role
 * invalidate the registered tables, so cached plans are made again.
 *
 * The masks of identifiers (customer numbers and the like) are keyed
 * pseudonyms of the same type, so that keys still join: text gets an
 * HMAC-SHA256 pseudonym, integers a keyed permutation (FF1 with cycle
 * walking) of their own type, so that primary keys stay unique.  The
 * functions that compute them refuse to run anywhere the planner did not
 * put them as a column's mask (their FuncExpr carries a location no
 * parser produces), so nobody can compute the mask of a guessed value.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "caller.h"
#include "citus.h"
#include "keys.h"
#include "mask.h"
#include "owner.h"
#include "pseudonym.h"
#include "schema.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/parallel.h"
#include "access/table.h"
#include "access/xact.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_statistic.h"
#include "catalog/pg_statistic_ext_data.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/pathnode.h"
#include "optimizer/plancat.h"
#include "optimizer/planner.h"
#include "parser/analyze.h"
#include "parser/parse_coerce.h"
#include "parser/parse_func.h"
#include "parser/parse_relation.h"
#include "parser/parser.h"
#include "parser/parsetree.h"
#include "rewrite/rewriteHandler.h"
#include "rewrite/rewriteManip.h"
#include "tcop/utility.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/plancache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

/* The location of a keyed mask's FuncExpr: no parser produces it. */
#define PGP_MASK_LOCATION	(-0x5047504D)

/* How a masked role reads a column. */
typedef enum MaskRule
{
	MR_UNCHANGED,
	MR_NULL,
	MR_INITIALS,
	MR_EMAIL,
	MR_MSISDN,
	MR_ADDRESS,
	MR_ACCOUNT,
	MR_PSEUDONYM,
	MR_CUSTOM,
	MR_DROPPED
} MaskRule;

static const char *const rule_names[] = {
	"unchanged", "null", "initials", "partial_email", "msisdn_mask",
	"postcode_town", "last_digits", "pseudonym", "custom", "dropped"
};

/* One masked role: a role of privacy.masked_role. */
typedef struct MaskedRole
{
	Oid			role;
	bool		privacy_by_default;
} MaskedRole;

/*
 * What masking does to one relation, per backend.  declared[] and rules
 * are read from the catalog (through the registered table the relation
 * is, or is a partition or child of); the subqueries are made when a
 * masked role first reads it.
 */
typedef struct MaskRel
{
	Oid			relid;			/* hash key */
	bool		stale;			/* the relation changed: read it again */
	bool		registered;
	bool		masked[2];		/* does any column change? [privacy_by_default] */
	MemoryContext cxt;			/* everything below */
	int			natts;
	MaskRule   *rule;			/* per attno - 1, for a declared column */
	bool	   *declared;
	char	  **custom;			/* set_mask's expression, or NULL */
	Query	   *query[2];		/* the masked subquery, made on first use */
	bool		keyed;			/* a column is read through a keyed mask */
} MaskRel;

static planner_hook_type prev_planner_hook = NULL;
static ProcessUtility_hook_type prev_utility_hook = NULL;
static bool mask_preloaded = false;

static MemoryContext mask_cxt = NULL;
static bool state_valid = false;
static Oid	masked_role_relid = InvalidOid;
static Oid	registered_table_relid = InvalidOid;
static Oid	registered_column_relid = InvalidOid;
static MaskedRole *masked_roles = NULL;
static int	n_masked_roles = 0;
static Oid *registered_tables = NULL;	/* sorted */
static int	n_registered_tables = 0;
static HTAB *mask_rels = NULL;
static Oid	keyed_funcs[4];		/* _mask_pseudonym(text, int8, int4, int2) */

/* Set while pg_privacy analyzes its own subqueries (no masking there). */
static int	mask_building = 0;

/* ----------------------------------------------------------------
 * The catalog, read by this backend
 * ----------------------------------------------------------------
 */

static void
drop_mask_rels(void)
{
	HASH_SEQ_STATUS st;
	MaskRel    *mr;

	if (mask_rels == NULL)
		return;
	hash_seq_init(&st, mask_rels);
	while ((mr = hash_seq_search(&st)) != NULL)
		if (mr->cxt)
			MemoryContextDelete(mr->cxt);
	hash_destroy(mask_rels);
	mask_rels = NULL;
}

static void
mask_relcache_cb(Datum arg, Oid relid)
{
	MaskRel    *mr;

	/*
	 * The catalog changed, or was missing when it was read (then the
	 * extension may have been created since): everything is read again.
	 */
	if (!OidIsValid(relid) || relid == masked_role_relid ||
		relid == registered_table_relid || relid == registered_column_relid ||
		!OidIsValid(masked_role_relid))
	{
		state_valid = false;
		return;
	}
	/* marked only: the entry may be in use (this runs inside table_open) */
	if (mask_rels != NULL &&
		(mr = hash_search(mask_rels, &relid, HASH_FIND, NULL)) != NULL)
		mr->stale = true;
}

/* A function was created, changed or dropped: make the masks again. */
static void
mask_proc_cb(Datum arg, int cacheid, uint32 hashvalue)
{
	state_valid = false;
}

/*
 * Role membership or a role's attributes changed: a plan made for a role
 * that was not masked may now be one that is (a plan depends on its role,
 * not on the role's memberships).
 */
static void
mask_auth_cb(Datum arg, int cacheid, uint32 hashvalue)
{
	state_valid = false;
	if (n_masked_roles > 0)
		ResetPlanCache();
}

/* A row of privacy.masked_role: (role, privacy_by_default). */
static bool
load_masked_role(Datum *values, bool *nulls, void *arg)
{
	int		   *cap = (int *) arg;

	if (nulls[0])
		return true;
	if (n_masked_roles == *cap)
	{
		*cap *= 2;
		masked_roles = repalloc(masked_roles, *cap * sizeof(MaskedRole));
	}
	masked_roles[n_masked_roles].role = DatumGetObjectId(values[0]);
	masked_roles[n_masked_roles].privacy_by_default = !nulls[1] && DatumGetBool(values[1]);
	n_masked_roles++;
	return true;
}

/* A row of privacy.registered_table: (tbl). */
static bool
load_registered_table(Datum *values, bool *nulls, void *arg)
{
	int		   *cap = (int *) arg;

	if (nulls[0])
		return true;
	if (n_registered_tables == *cap)
	{
		*cap *= 2;
		registered_tables = repalloc(registered_tables, *cap * sizeof(Oid));
	}
	registered_tables[n_registered_tables++] = DatumGetObjectId(values[0]);
	return true;
}

/*
 * Load the masked roles, once per change of the catalog.  Read in the
 * latest snapshot, so that a role masked by a transaction that committed
 * is masked at once; the catalog's tables are read directly (this runs
 * inside the planner).
 */
static void
mask_load_state(void)
{
	Oid			nsp;

	if (state_valid)
		return;
	if (mask_cxt == NULL)
		mask_cxt = AllocSetContextCreate(CacheMemoryContext, "pg_privacy masks",
										 ALLOCSET_SMALL_SIZES);
	drop_mask_rels();
	MemoryContextReset(mask_cxt);
	masked_roles = NULL;
	n_masked_roles = 0;
	registered_tables = NULL;
	n_registered_tables = 0;
	masked_role_relid = registered_table_relid = registered_column_relid = InvalidOid;
	memset(keyed_funcs, 0, sizeof(keyed_funcs));

	nsp = get_namespace_oid("privacy", true);
	if (OidIsValid(nsp))
	{
		masked_role_relid = get_relname_relid("masked_role", nsp);
		registered_table_relid = get_relname_relid("registered_table", nsp);
		registered_column_relid = get_relname_relid("registered_column", nsp);
	}
	if (OidIsValid(masked_role_relid) && OidIsValid(registered_table_relid) &&
		OidIsValid(registered_column_relid))
	{
		static const char *const role_cols[2] = {"role", "privacy_by_default"};
		static const char *const table_cols[1] = {"tbl"};
		int			cap = 8;

		masked_roles = MemoryContextAlloc(mask_cxt, cap * sizeof(MaskedRole));
		if (!pgp_scan_latest(masked_role_relid, role_cols, 2, load_masked_role, &cap))
			elog(ERROR, "pg_privacy: privacy.masked_role has not the columns of this version");
		cap = 16;
		registered_tables = MemoryContextAlloc(mask_cxt, cap * sizeof(Oid));
		if (!pgp_scan_latest(registered_table_relid, table_cols, 1, load_registered_table, &cap))
			elog(ERROR, "pg_privacy: privacy.registered_table has not the columns of this version");
		qsort(registered_tables, n_registered_tables, sizeof(Oid), oid_cmp);
	}
	state_valid = true;
}

/* Is the role masked (never a superuser)?  privacy_by_default ORed in. */
static bool
role_masked(Oid role, bool *pbd)
{
	bool		hit = false;
	int			i;

	if (!OidIsValid(role) || superuser_arg(role))
		return false;
	for (i = 0; i < n_masked_roles; i++)
	{
		if (role == masked_roles[i].role || has_privs_of_role(role, masked_roles[i].role))
		{
			hit = true;
			if (masked_roles[i].privacy_by_default)
				*pbd = true;
		}
	}
	return hit;
}

/*
 * Does the statement being planned run masked?  When the current user is
 * a masked role, or when the session user (the login) is one: neither SET
 * ROLE nor a SECURITY DEFINER function takes a masked login out of its
 * masks.  pg_privacy's own entry points are the exception: they act as
 * the extension owner or a table's owner for the caller (an export the
 * role was granted shows the subject's data, an erasure finds it).  The
 * foreign-key checks a masked session's writes cause are masked too (a
 * masked role writes no registered table; see mask_query): the code of a
 * role's own types and casts runs inside them as the referenced table's
 * owner.  Besides the statement's users, the role whose privileges read a
 * table counts (mask_applies): a view or rule of a masked role reads
 * masked for whoever uses it.
 */
typedef struct MaskCtx
{
	bool		active;			/* the statement runs masked */
	bool		pbd;			/* ... with privacy by default */
} MaskCtx;

static bool
mask_active(MaskCtx *m)
{
	m->active = m->pbd = false;
	if (mask_building > 0 || !IsTransactionState())
		return false;
	mask_load_state();
	if (n_masked_roles == 0)
		return false;
	m->active = role_masked(GetUserId(), &m->pbd);
	if (!(InLocalUserIdChange() && pgp_in_api()))
		m->active = role_masked(GetSessionUserId(), &m->pbd) || m->active;
	return m->active;
}

/*
 * Does the statement read the relation masked?  Also when the role whose
 * privileges read it (a view's or rule's owner, RangeTblEntry.checkAsUser)
 * is masked.
 */
static bool
mask_applies(MaskCtx *m, MaskRel *mr, Oid check_as)
{
	bool		pbd = m->pbd;
	bool		active = m->active;

	if (!mr->registered)
		return false;
	if (OidIsValid(check_as) && n_masked_roles > 0 && role_masked(check_as, &pbd))
		active = true;
	m->pbd = pbd;
	return active && mr->masked[pbd];
}

/*
 * The registered table relid is, or is a partition or inheritance child
 * of (InvalidOid if none): its declarations apply to it.
 */
static bool
is_registered(Oid relid)
{
	return n_registered_tables > 0 &&
		bsearch(&relid, registered_tables, n_registered_tables, sizeof(Oid), oid_cmp) != NULL;
}

static Oid
registered_ancestor(Oid relid, int depth)
{
	Relation	inh;
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			found = InvalidOid;

	if (is_registered(relid))
		return relid;
	if (depth > 32)
		return InvalidOid;
	inh = table_open(InheritsRelationId, AccessShareLock);
	ScanKeyInit(&key, Anum_pg_inherits_inhrelid, BTEqualStrategyNumber, F_OIDEQ,
				ObjectIdGetDatum(relid));
	scan = systable_beginscan(inh, InheritsRelidSeqnoIndexId, true, NULL, 1, &key);
	while (!OidIsValid(found) && (tup = systable_getnext(scan)) != NULL)
		found = registered_ancestor(((Form_pg_inherits) GETSTRUCT(tup))->inhparent, depth + 1);
	systable_endscan(scan);
	table_close(inh, AccessShareLock);
	return found;
}

/* The mask of a category. */
static MaskRule
category_rule(const char *category)
{
	static const struct
	{
		const char *category;
		MaskRule	rule;
	}			map[] = {
		{"name", MR_INITIALS},
		{"email", MR_EMAIL},
		{"phone", MR_MSISDN},
		{"postal_address", MR_ADDRESS},
		{"bank_account", MR_ACCOUNT},
		{"national_id", MR_NULL},
		{"free_text", MR_NULL},
		{"customer_number", MR_PSEUDONYM},
		{"online_identifier", MR_PSEUDONYM},
		{"traffic", MR_UNCHANGED},
		{"location", MR_UNCHANGED},
		{"company", MR_UNCHANGED},
		{"business_id", MR_UNCHANGED},
	};
	int			i;

	for (i = 0; i < lengthof(map); i++)
		if (strcmp(category, map[i].category) == 0)
			return map[i].rule;
	/* 'other' and categories of the DBA's own: nothing is known, NULL */
	return MR_NULL;
}

/*
 * How a masked role reads column i (0-based) of mr: its rule, or for an
 * undeclared column under privacy by default, NULL.  A dropped column is
 * MR_DROPPED either way.
 */
static MaskRule
effective_rule(MaskRel *mr, int i, bool pbd)
{
	MaskRule	r = (mr->registered && i < mr->natts) ? mr->rule[i] : MR_UNCHANGED;

	if (r == MR_UNCHANGED && pbd && !(mr->registered && i < mr->natts && mr->declared[i]))
		r = MR_NULL;
	return r;
}

/* The declarations of one registered table, read into a MaskRel. */
typedef struct ColumnScan
{
	MaskRel    *mr;
	TupleDesc	desc;			/* of the relation masked */
	Oid			reg;			/* the registered table it is or descends from */
} ColumnScan;

/* A row of privacy.registered_column: (tbl, col, category, mask). */
static bool
load_column(Datum *values, bool *nulls, void *arg)
{
	ColumnScan *cs = (ColumnScan *) arg;
	MaskRel    *mr = cs->mr;
	const char *colname;
	int			i;

	if (nulls[0] || nulls[1] || DatumGetObjectId(values[0]) != cs->reg)
		return true;
	colname = NameStr(*DatumGetName(values[1]));
	for (i = 0; i < cs->desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(cs->desc, i);

		if (att->attisdropped || strcmp(NameStr(att->attname), colname) != 0)
			continue;
		mr->declared[i] = true;
		if (!nulls[3])
		{
			mr->custom[i] = TextDatumGetCString(values[3]);
			mr->rule[i] = MR_CUSTOM;
		}
		else
			mr->rule[i] = nulls[2] ? MR_NULL : category_rule(TextDatumGetCString(values[2]));
	}
	return true;
}

/*
 * What masking does to relid, from the catalog: the relation's own
 * columns, matched by name with the declarations of the registered table
 * it is (or descends from).
 */
static MaskRel *
mask_rel(Oid relid)
{
	MaskRel    *mr;
	bool		found;
	Oid			reg;

	if (mask_rels == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(MaskRel);
		ctl.hcxt = mask_cxt;
		mask_rels = hash_create("pg_privacy masked relations", 64, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	/* a bound on what a backend keeps (temporary tables come and go) */
	if (hash_get_num_entries(mask_rels) > 4096 &&
		hash_search(mask_rels, &relid, HASH_FIND, NULL) == NULL)
	{
		drop_mask_rels();
		return mask_rel(relid);
	}
	mr = hash_search(mask_rels, &relid, HASH_ENTER, &found);
	if (found && !mr->stale)
		return mr;
	if (found && mr->cxt)
		MemoryContextDelete(mr->cxt);
	memset(((char *) mr) + sizeof(Oid), 0, sizeof(MaskRel) - sizeof(Oid));

	PG_TRY();
	{
		reg = (relid == registered_table_relid || relid == registered_column_relid ||
			   relid == masked_role_relid) ? InvalidOid : registered_ancestor(relid, 0);
		if (OidIsValid(reg))
		{
			static const char *const cols[4] = {"tbl", "col", "category", "mask"};
			Relation	rel = table_open(relid, AccessShareLock);
			TupleDesc	desc = RelationGetDescr(rel);
			ColumnScan	cs;
			MemoryContext old;
			int			i;

			mr->cxt = AllocSetContextCreate(mask_cxt, "pg_privacy masked relation",
											ALLOCSET_SMALL_SIZES);
			old = MemoryContextSwitchTo(mr->cxt);
			mr->registered = true;
			mr->natts = desc->natts;
			mr->rule = palloc0(sizeof(MaskRule) * Max(desc->natts, 1));
			mr->declared = palloc0(sizeof(bool) * Max(desc->natts, 1));
			mr->custom = palloc0(sizeof(char *) * Max(desc->natts, 1));
			for (i = 0; i < desc->natts; i++)
				mr->rule[i] = TupleDescAttr(desc, i)->attisdropped ? MR_DROPPED : MR_UNCHANGED;
			cs.mr = mr;
			cs.desc = desc;
			cs.reg = reg;
			if (!pgp_scan_latest(registered_column_relid, cols, 4, load_column, &cs))
				elog(ERROR, "pg_privacy: privacy.registered_column has not the columns of this version");
			for (i = 0; i < desc->natts; i++)
			{
				if (mr->rule[i] == MR_DROPPED)
					continue;
				mr->masked[0] = mr->masked[0] || effective_rule(mr, i, false) != MR_UNCHANGED;
				mr->masked[1] = mr->masked[1] || effective_rule(mr, i, true) != MR_UNCHANGED;
				mr->keyed = mr->keyed || mr->rule[i] == MR_PSEUDONYM;
			}
			MemoryContextSwitchTo(old);
			table_close(rel, AccessShareLock);
		}
	}
	PG_CATCH();
	{
		if (mr->cxt)
			MemoryContextDelete(mr->cxt);
		hash_search(mask_rels, &relid, HASH_REMOVE, NULL);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return mr;
}

/* ----------------------------------------------------------------
 * The masked subquery of a relation
 * ----------------------------------------------------------------
 */

static bool
is_string_type(Oid typid)
{
	char		cat;
	bool		pref;

	get_type_category_preferred(getBaseType(typid), &cat, &pref);
	return cat == TYPCATEGORY_STRING;
}

static bool
is_numeric_type(Oid typid)
{
	char		cat;
	bool		pref;

	get_type_category_preferred(getBaseType(typid), &cat, &pref);
	return cat == TYPCATEGORY_NUMERIC;
}

/*
 * The SQL expression a masked role reads column att through (the row is
 * "t").  Returns the rule applied.  Text masks apply to string columns
 * only; any other type reads as NULL under them.  A NOT NULL column whose
 * mask gives NULL reads as '' (strings) or 0 (numbers), so that copies
 * made by masked roles restore.
 */
static MaskRule
column_sql(StringInfo buf, Form_pg_attribute att, MaskRule rule, const char *custom)
{
	const char *col = quote_identifier(NameStr(att->attname));
	Oid			base = getBaseType(att->atttypid);
	bool		str = is_string_type(att->atttypid);
	StringInfoData e;
	const char *fn = NULL;

	if (rule == MR_UNCHANGED)
	{
		appendStringInfo(buf, "t.%s", col);
		return rule;
	}
	initStringInfo(&e);
	switch (rule)
	{
		case MR_INITIALS:
			fn = "privacy.mask_name";
			break;
		case MR_EMAIL:
			fn = "privacy.mask_email";
			break;
		case MR_MSISDN:
			fn = "privacy.mask_msisdn";
			break;
		case MR_ADDRESS:
			fn = "privacy.mask_address";
			break;
		case MR_ACCOUNT:
			fn = "privacy.mask_account";
			break;
		default:
			break;
	}
	if (fn != NULL)
	{
		if (str)
			appendStringInfo(&e, "%s(t.%s::pg_catalog.text)", fn, col);
		else
			rule = MR_NULL;
	}
	else if (rule == MR_PSEUDONYM)
	{
		if (base == INT8OID || base == INT4OID || base == INT2OID)
			appendStringInfo(&e, "privacy_internal._mask_pseudonym(t.%s::%s)", col,
							 format_type_be_qualified(base));
		else if (str)
			appendStringInfo(&e, "privacy_internal._mask_pseudonym(t.%s::pg_catalog.text)", col);
		else
			rule = MR_NULL;
	}
	else if (rule == MR_CUSTOM)
		appendStringInfo(&e, "(%s)", custom);
	if (rule == MR_NULL)
		appendStringInfoString(&e, "NULL");

	/*
	 * Cast to the column's base type: a domain's checks are not run on a
	 * mask (mask_rel_query relabels the result to the column's own type).
	 */
	{
		int32		basetypmod = att->atttypmod;
		Oid			basetype = getBaseTypeAndTypmod(att->atttypid, &basetypmod);
		bool		notnull = att->attnotnull;
		HeapTuple	ttup = SearchSysCache1(TYPEOID, ObjectIdGetDatum(att->atttypid));

		if (HeapTupleIsValid(ttup))
		{
			notnull = notnull || ((Form_pg_type) GETSTRUCT(ttup))->typnotnull;
			ReleaseSysCache(ttup);
		}
		if (notnull && (rule == MR_NULL || rule == MR_ADDRESS || rule == MR_CUSTOM) &&
			(str || is_numeric_type(att->atttypid)))
			appendStringInfo(buf, "CAST(COALESCE(%s, %s) AS %s)", e.data, str ? "''" : "0",
							 format_type_with_typemod(basetype, basetypmod));
		else
			appendStringInfo(buf, "CAST(%s AS %s)", e.data,
							 format_type_with_typemod(basetype, basetypmod));
	}
	pfree(e.data);
	return rule;
}

/*
 * A column's own mask must be one expression by itself: parsed alone as
 * "SELECT (expr)", one target and nothing else.  Then, put in parentheses
 * among the other columns' masks, it cannot change the statement around
 * it (close a parenthesis, add a FROM, comment the rest out).
 */
static void
check_mask_expression(const char *expr)
{
	char	   *sql = psprintf("SELECT (%s)", expr);
	List	   *raw = raw_parser(sql, RAW_PARSE_DEFAULT);	/* 42601 if not SQL */
	SelectStmt *sel;
	bool		ok = false;

	if (list_length(raw) == 1 && IsA(linitial_node(RawStmt, raw)->stmt, SelectStmt))
	{
		sel = (SelectStmt *) linitial_node(RawStmt, raw)->stmt;
		ok = sel->op == SETOP_NONE && list_length(sel->targetList) == 1 &&
			sel->fromClause == NIL && sel->whereClause == NULL && sel->groupClause == NIL &&
			sel->havingClause == NULL && sel->windowClause == NIL && sel->sortClause == NIL &&
			sel->limitCount == NULL && sel->limitOffset == NULL && sel->lockingClause == NIL &&
			sel->withClause == NULL && sel->distinctClause == NIL && sel->intoClause == NULL &&
			sel->valuesLists == NIL;
	}
	if (!ok)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("a mask must be one expression"),
				 errdetail("A column's mask is one SQL expression over the table's row, such as left(email, 1)."),
				 errhint("Check the masks set with privacy.set_mask().")));
}

/* A NULL of the size and alignment of a dropped column. */
static const char *
dropped_placeholder(Form_pg_attribute att)
{
	if (att->attlen == 8 && att->attalign == TYPALIGN_DOUBLE)
		return "NULL::pg_catalog.int8";
	if (att->attlen == 4 && att->attalign == TYPALIGN_INT)
		return "NULL::pg_catalog.int4";
	if (att->attlen == 2 && att->attalign == TYPALIGN_SHORT)
		return "NULL::pg_catalog.int2";
	if (att->attlen == 1)
		return "NULL::pg_catalog.\"char\"";
	return "NULL::pg_catalog.text";
}

static bool
mark_keyed_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, FuncExpr))
	{
		FuncExpr   *f = (FuncExpr *) node;
		int			i;

		for (i = 0; i < lengthof(keyed_funcs); i++)
			if (OidIsValid(keyed_funcs[i]) && f->funcid == keyed_funcs[i])
				f->location = PGP_MASK_LOCATION;
	}
	return expression_tree_walker(node, mark_keyed_walker, context);
}

static void
lookup_keyed_funcs(void)
{
	static const Oid types[4] = {TEXTOID, INT8OID, INT4OID, INT2OID};
	int			i;

	for (i = 0; i < 4; i++)
		if (!OidIsValid(keyed_funcs[i]))
			keyed_funcs[i] = LookupFuncName(list_make2(makeString("privacy_internal"),
													   makeString("_mask_pseudonym")),
											1, &types[i], true);
}

/*
 * Parse and analyze sql (one SELECT of pg_privacy's over relid, with the
 * masks of its columns) without masking, as the table's owner in a
 * security-restricted operation: analysis runs the input functions of the
 * literals it meets, and a column's own mask (set_mask) is the owner's
 * SQL.  The result is the same whoever plans: the table's privileges are
 * checked when it runs, as the statement's own (mask_rte).
 */
static Query *
analyze_own(Oid relid, const char *sql)
{
	List	   *raw = raw_parser(sql, RAW_PARSE_DEFAULT);
	Query	   *volatile q = NULL;
	Oid			save_userid;
	int			save_sec;

	GetUserIdAndSecContext(&save_userid, &save_sec);
	mask_building++;
	SetUserIdAndSecContext(pgp_rel_owner(relid),
						   save_sec | SECURITY_LOCAL_USERID_CHANGE | SECURITY_RESTRICTED_OPERATION);
	PG_TRY();
	{
		q = parse_analyze_fixedparams(linitial_node(RawStmt, raw), sql, NULL, 0, NULL);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec);
		mask_building--;
	}
	PG_END_TRY();
	return q;
}

/* Run under a search_path of pg_catalog only (undone at the end). */
static int
pin_search_path(void)
{
	int			nest = NewGUCNestLevel();

	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET,
							 PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

/* The masked subquery of mr (made once per backend and catalog state). */
static Query *
mask_rel_query(MaskRel *mr, bool pbd)
{
	Relation	rel;
	TupleDesc	desc;
	StringInfoData sql;
	Query	   *q;
	MemoryContext old;
	int			nest;
	int			i;

	if (mr->query[pbd] != NULL)
		return mr->query[pbd];

	nest = pin_search_path();
	rel = table_open(mr->relid, AccessShareLock);
	desc = RelationGetDescr(rel);
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT ");
	for (i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		MaskRule	r = effective_rule(mr, i, pbd);

		if (i > 0)
			appendStringInfoString(&sql, ", ");
		if (att->attisdropped)
		{
			appendStringInfoString(&sql, dropped_placeholder(att));
			continue;
		}
		if (r == MR_CUSTOM)
			check_mask_expression(mr->custom[i]);
		(void) column_sql(&sql, att, r, r == MR_CUSTOM ? mr->custom[i] : NULL);
		appendStringInfo(&sql, " AS %s", quote_identifier(NameStr(att->attname)));
	}
	appendStringInfo(&sql, " FROM %s t",
					 quote_qualified_identifier(get_namespace_name(RelationGetNamespace(rel)),
												RelationGetRelationName(rel)));

	lookup_keyed_funcs();
	q = analyze_own(mr->relid, sql.data);
	AtEOXact_GUC(true, nest);
	if (list_length(q->rtable) != 1 || q->hasSubLinks || q->hasAggs ||
		q->hasWindowFuncs || q->hasTargetSRFs || list_length(q->targetList) != desc->natts)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the masks of %s are not one expression per column", get_rel_name(mr->relid)),
				 errhint("Check the masks set with privacy.set_mask().")));
	/*
	 * The keyed masks the planner puts in are marked, never one in a
	 * column's own mask; a masked column gets its own type (a domain, not
	 * checked on a mask) and collation back.
	 */
	{
		ListCell   *lc;

		foreach(lc, q->targetList)
		{
			TargetEntry *te = lfirst_node(TargetEntry, lc);
			Form_pg_attribute att;

			if (te->resno > desc->natts)
				continue;
			att = TupleDescAttr(desc, te->resno - 1);
			if (te->resno <= mr->natts && mr->rule[te->resno - 1] != MR_CUSTOM)
				(void) mark_keyed_walker((Node *) te->expr, NULL);
			if (!att->attisdropped && !IsA(te->expr, Var) &&
				(exprType((Node *) te->expr) != att->atttypid ||
				 exprCollation((Node *) te->expr) != att->attcollation))
				te->expr = (Expr *) makeRelabelType(te->expr, att->atttypid, att->atttypmod,
													att->attcollation, COERCE_IMPLICIT_CAST);
		}
	}

	table_close(rel, AccessShareLock);

	old = MemoryContextSwitchTo(mr->cxt);
	mr->query[pbd] = copyObject(q);
	MemoryContextSwitchTo(old);
	pfree(sql.data);
	return mr->query[pbd];
}

/* ----------------------------------------------------------------
 * The planner: registered tables become their masked subqueries
 * ----------------------------------------------------------------
 */

/* A system column of relation varno, at its level in q (see system_column). */
typedef struct SysColRef
{
	Index		varno;
	int			sublevels_up;
	AttrNumber	hit;			/* the first found */
} SysColRef;

static bool
system_column_walker(Node *node, SysColRef *c)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
	{
		Var		   *v = (Var *) node;

		if (v->varno == c->varno && v->varlevelsup == c->sublevels_up && v->varattno < 0)
		{
			c->hit = v->varattno;
			return true;
		}
		return false;
	}
	if (IsA(node, Query))
	{
		bool		r;

		c->sublevels_up++;
		r = query_tree_walker((Query *) node, system_column_walker, c, 0);
		c->sublevels_up--;
		return r;
	}
	return expression_tree_walker(node, system_column_walker, c);
}

/*
 * The first system column (ctid, tableoid, ...) of relation rti that q
 * refers to, anywhere in it, or InvalidAttrNumber: a masked subquery has
 * none to give.
 */
static AttrNumber
system_column(Query *q, Index rti)
{
	SysColRef	c = {rti, 0, InvalidAttrNumber};

	(void) query_tree_walker(q, system_column_walker, &c, 0);
	return c.hit;
}

/* A masked role writes no table it reads masked (see mask_query). */
static void
refuse_write(Oid relid)
{
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("a masked role cannot write table %s", get_rel_name(relid)),
			 errdetail("Its checks and errors would show or test the table's values in clear."),
			 errhint("Write as a role that is not masked.")));
}

typedef struct MaskWalk
{
	MaskCtx		m;
	bool		touched;		/* it reads a registered table */
	bool		keyed;			/* a keyed mask was put in */
} MaskWalk;

static void mask_query(Query *q, MaskWalk *w);

static bool
mask_walker(Node *node, MaskWalk *w)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
	{
		mask_query((Query *) node, w);
		return false;
	}
	return expression_tree_walker(node, mask_walker, w);
}

static bool
any_var_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Var))
		return true;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, any_var_walker, context, 0);
	return expression_tree_walker(node, any_var_walker, context);
}

static bool
contain_any_var(Node *node)
{
	return any_var_walker(node, NULL);
}

/*
 * The subqueries of a table's row-level security policies are the owner's
 * filter, not reads of the statement: they are left unmasked (masked,
 * a deny-list policy would compare raw values with masks and let rows
 * through), and their tables carry the mark mask_relation_info passes.
 */
static bool
policy_mark_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, Query))
		return query_tree_walker((Query *) node, policy_mark_walker, context, QTW_EXAMINE_RTES_BEFORE);
	if (IsA(node, RangeTblEntry))
	{
		if (((RangeTblEntry *) node)->rtekind == RTE_RELATION)
			((RangeTblEntry *) node)->security_barrier = true;
		return false;
	}
	return expression_tree_walker(node, policy_mark_walker, context);
}

/* Replace the relation rti of q by its masked subquery (as a view is). */
static void
mask_rte(Query *q, Index rti, RangeTblEntry *rte, MaskRel *mr, bool pbd)
{
	Query	   *sub = copyObject(mask_rel_query(mr, pbd));
	RangeTblEntry *in = linitial_node(RangeTblEntry, sub->rtable);
	RowMarkClause *rc = get_parse_rowmark(q, rti);

	/* the mark of a relation read through its masks (see mask_relation_info) */
	in->security_barrier = true;
	in->inh = rte->inh;
	in->rellockmode = rte->rellockmode;
	in->requiredPerms = rte->requiredPerms;
	in->checkAsUser = rte->checkAsUser;
	in->selectedCols = rte->selectedCols;
	in->insertedCols = rte->insertedCols;
	in->updatedCols = rte->updatedCols;
	in->extraUpdatedCols = rte->extraUpdatedCols;
	/*
	 * TABLESAMPLE moves one level down: its arguments may refer to outer
	 * queries only through variables, which would then point one level too
	 * near.  A masked table is sampled by constants and parameters only.
	 */
	if (rte->tablesample != NULL && contain_any_var((Node *) rte->tablesample))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a masked role cannot sample table %s by a column of another table",
						get_rel_name(rte->relid))));
	in->tablesample = rte->tablesample;
	in->alias = rte->alias;
	in->eref->aliasname = rte->eref->aliasname;
	if (rte->securityQuals != NIL)
	{
		List	   *sq = copyObject(rte->securityQuals);

		ChangeVarNodes((Node *) sq, rti, 1, 0);
		in->securityQuals = sq;
		sub->hasRowSecurity = true;
		if (checkExprHasSubLink((Node *) sq))
			sub->hasSubLinks = true;
	}
	if (rc != NULL)
		applyLockingClause(sub, 1, rc->strength, rc->waitPolicy, true);

	rte->rtekind = RTE_SUBQUERY;
	rte->subquery = sub;
	rte->security_barrier = false;
	rte->relid = InvalidOid;
	rte->relkind = 0;
	rte->rellockmode = 0;
	rte->tablesample = NULL;
	rte->inh = false;
	rte->requiredPerms = 0;
	rte->checkAsUser = InvalidOid;
	rte->selectedCols = NULL;
	rte->insertedCols = NULL;
	rte->updatedCols = NULL;
	rte->extraUpdatedCols = NULL;
	rte->securityQuals = NIL;
}

/*
 * Are the row-level security policies of relid its owner's filter, not
 * the statement's?  Not when the owner is masked, nor when the statement
 * runs masked and its user or login may act as the owner (SET ROLE): a
 * masked role's own table with a policy over a registered table would be
 * an oracle on the raw values.  Such policies are masked like any read.
 */
static bool
policy_is_owners(Oid relid, MaskCtx *m)
{
	Oid			owner = pgp_rel_owner(relid);
	bool		pbd = false;

	if (role_masked(owner, &pbd))
		return false;
	if (m->active && (is_member_of_role(GetUserId(), owner) ||
					  is_member_of_role(GetSessionUserId(), owner)))
		return false;
	return true;
}

/*
 * What q contains (its subqueries, CTEs, sublinks), except the security
 * quals of its relations that are their owner's (see policy_mark_walker).
 */
static void
mask_children(Query *q, MaskWalk *w)
{
	ListCell   *lc;
	List	   *saved = NIL;

	foreach(lc, q->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

		saved = lappend(saved, rte->securityQuals);
		if (rte->rtekind == RTE_RELATION && rte->securityQuals != NIL &&
			policy_is_owners(rte->relid, &w->m))
		{
			(void) policy_mark_walker((Node *) rte->securityQuals, NULL);
			rte->securityQuals = NIL;
		}
	}
	PG_TRY();
	{
		(void) query_tree_walker(q, mask_walker, w, 0);
	}
	PG_FINALLY();
	{
		ListCell   *sl = list_head(saved);

		foreach(lc, q->rtable)
		{
			lfirst_node(RangeTblEntry, lc)->securityQuals = (List *) lfirst(sl);
			sl = lnext(saved, sl);
		}
	}
	PG_END_TRY();
}

static void
mask_query(Query *q, MaskWalk *w)
{
	ListCell   *lc;
	Index		rti = 0;

	/* first what q contains (see mask_children) */
	mask_children(q, w);

	foreach(lc, q->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);
		MaskRel    *mr;
		MaskCtx		rm;
		AttrNumber	sys;

		rti++;
		if (rte->rtekind != RTE_RELATION)
			continue;
		if (w->m.active &&
			(rte->relid == StatisticRelationId || rte->relid == StatisticExtDataRelationId))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("a masked role cannot read column statistics"),
					 errdetail("pg_statistic and the views over it hold the most common values of columns in clear.")));
		mr = mask_rel(rte->relid);
		if (!mr->registered)
			continue;
		w->touched = true;
		rm = w->m;
		if (!mask_applies(&rm, mr, rte->checkAsUser))
			continue;

		/*
		 * A masked role writes no table it reads masked: the write's own
		 * checks would show or test the values in clear (a failing row's
		 * DETAIL lists the whole row, a unique or foreign-key check answers
		 * whether a value exists, a WHERE or RETURNING reads the row).
		 */
		if (rti == q->resultRelation ||
			(q->onConflict != NULL && rti == q->onConflict->exclRelIndex))
			refuse_write(rte->relid);
		/* on the shards the masks would not be those planned here */
		pgp_citus_refuse(rte->relid, "masking");
		sys = system_column(q, rti);
		if (sys != InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("a masked role cannot read system column %s of %s",
							get_attname(rte->relid, sys, true) ? get_attname(rte->relid, sys, true) : "?",
							get_rel_name(rte->relid))));
		mask_rte(q, rti, rte, mr, rm.pbd);
		w->keyed = w->keyed || mr->keyed;
	}
}

/* What a plan says about its masks: the name of its last range table entry. */
static const char *
mark_name(MaskCtx *m)
{
	if (!m->active)
		return "pg_privacy: unmasked";
	return m->pbd ? "pg_privacy: masked, by default" : "pg_privacy: masked";
}

static PlannedStmt *
mask_planner(Query *parse, const char *query_string, int cursorOptions,
			 ParamListInfo boundParams)
{
	PlannedStmt *volatile result = NULL;
	MaskWalk	w;

	w.touched = false;
	w.keyed = false;
	(void) mask_active(&w.m);
	if (n_masked_roles > 0 && mask_building == 0)
		mask_query(parse, &w);
	/*
	 * The keyed masks' key is checked against the database's here, not in
	 * a parallel leader (the check runs a query).
	 */
	if (w.keyed)
		(void) pgp_get_key(PGP_KP_MASK, "default", 7, PGP_KEY_VERSION);
	/* SQL functions are planned on their own, masked, not inlined */
	if (w.m.active)
		pgp_no_inline++;
	PG_TRY();
	{
		if (prev_planner_hook)
			result = prev_planner_hook(parse, query_string, cursorOptions, boundParams);
		else
			result = standard_planner(parse, query_string, cursorOptions, boundParams);
	}
	PG_FINALLY();
	{
		if (w.m.active)
			pgp_no_inline--;
	}
	PG_END_TRY();
	/*
	 * A plan that reads a registered table is made for its role only, and
	 * says whether it reads masked (checked when it runs: mask_executor_start).
	 */
	if (w.touched)
	{
		RangeTblEntry *mark = makeNode(RangeTblEntry);

		result->dependsOnRole = true;
		mark->rtekind = RTE_RESULT;
		mark->eref = makeAlias(mark_name(&w.m), NIL);
		mark->inh = w.keyed;	/* unused on RTE_RESULT: "has keyed masks" */
		result->rtable = lappend(result->rtable, mark);
	}
	return result;
}

/* ----------------------------------------------------------------
 * COPY table TO: the masked SELECT instead
 * ----------------------------------------------------------------
 */

static void
mask_utility(PlannedStmt *pstmt, const char *queryString, bool readOnlyTree,
			 ProcessUtilityContext context, ParamListInfo params,
			 QueryEnvironment *queryEnv, DestReceiver *dest, QueryCompletion *qc)
{
	Node	   *parsetree = pstmt->utilityStmt;
	MaskCtx		m;

	if (IsA(parsetree, CopyStmt) && ((CopyStmt *) parsetree)->relation != NULL &&
		mask_active(&m))
	{
		CopyStmt   *copy = (CopyStmt *) parsetree;
		Oid			relid = RangeVarGetRelid(copy->relation, AccessShareLock, true);

		if (OidIsValid(relid) && copy->is_from && mask_applies(&m, mask_rel(relid), InvalidOid))
			refuse_write(relid);
		if (OidIsValid(relid) && !copy->is_from && get_rel_relkind(relid) == RELKIND_RELATION)
		{
			MaskRel    *mr = mask_rel(relid);

			if (mask_applies(&m, mr, InvalidOid))
			{
				StringInfoData sql;
				ListCell   *lc;
				CopyStmt   *masked;
				PlannedStmt *p;
				List	   *raw;

				pgp_citus_refuse(relid, "masking");
				masked = copyObject(copy);
				p = copyObject(pstmt);

				initStringInfo(&sql);
				appendStringInfoString(&sql, "SELECT ");
				if (copy->attlist == NIL)
					appendStringInfoChar(&sql, '*');
				foreach(lc, copy->attlist)
					appendStringInfo(&sql, "%s%s", lc == list_head(copy->attlist) ? "" : ", ",
									 quote_identifier(strVal(lfirst(lc))));
				appendStringInfo(&sql, " FROM ONLY %s",
								 quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
															get_rel_name(relid)));
				raw = raw_parser(sql.data, RAW_PARSE_DEFAULT);
				masked->relation = NULL;
				masked->attlist = NIL;
				masked->query = linitial_node(RawStmt, raw)->stmt;
				p->utilityStmt = (Node *) masked;
				p->stmt_location = 0;
				p->stmt_len = strlen(sql.data);
				pstmt = p;
				queryString = sql.data;
				readOnlyTree = false;
			}
		}
	}
	if (prev_utility_hook)
		prev_utility_hook(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);
	else
		standard_ProcessUtility(pstmt, queryString, readOnlyTree, context, params, queryEnv, dest, qc);

	/*
	 * Another login in this session: the plans kept for a role may have been
	 * made under the masks of the login before (a plan depends on its role,
	 * the masks also on the login).  They are made again.
	 */
	if (IsA(parsetree, VariableSetStmt) && ((VariableSetStmt *) parsetree)->name != NULL &&
		strcmp(((VariableSetStmt *) parsetree)->name, "session_authorization") == 0)
		ResetPlanCache();
}

/*
 * The last line: a registered table the planner is about to scan for a
 * masked statement without its masks (a set-returning SQL function whose
 * body the planner inlined after mask_planner, or anything else that puts
 * a table into a statement late) is refused.  The tables read through
 * their masks carry a mark (security_barrier, unused on a relation), and
 * so do the partitions the planner expands from them; the tables a
 * statement writes were checked by mask_query.
 */
static get_relation_info_hook_type prev_relation_info_hook = NULL;

static void
mask_relation_info(PlannerInfo *root, Oid relationObjectId, bool inhparent,
				   RelOptInfo *rel)
{
	if (prev_relation_info_hook)
		prev_relation_info_hook(root, relationObjectId, inhparent, rel);
	if (mask_building == 0 && IsTransactionState())
	{
		RangeTblEntry *rte = planner_rt_fetch(rel->relid, root);
		MaskCtx		m;

		/* read the catalog again if it changed while planning: never skip */
		(void) mask_active(&m);
		if (n_masked_roles > 0 && !rte->security_barrier && !bms_is_member(rel->relid, root->all_result_relids) &&
			rel->relid != root->parse->resultRelation &&
			mask_applies(&m, mask_rel(relationObjectId), rte->checkAsUser))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("a masked role cannot read table %s this way", get_rel_name(relationObjectId)),
					 errdetail("The table entered the statement after its masks were applied (a set-returning SQL function inlined by the planner, for instance)."),
					 errhint("Read the table directly, or through a view or a PL/pgSQL function.")));
	}
}

/*
 * A plan made under other masks than the statement now runs under (a
 * cached plan made for the same role in another login's session after SET
 * SESSION AUTHORIZATION, or inside and outside pg_privacy's entry points)
 * is not run: every kept plan is made again, and the statement fails once.
 */
static ExecutorStart_hook_type prev_executor_start_hook = NULL;

static void
mask_executor_start(QueryDesc *queryDesc, int eflags)
{
	List	   *rt = queryDesc->plannedstmt->rtable;

	/* a parallel worker runs its leader's plan, checked by the leader */
	if (rt != NIL && mask_building == 0 && !IsParallelWorker())
	{
		RangeTblEntry *last = llast_node(RangeTblEntry, rt);

		if (last->rtekind == RTE_RESULT && last->eref != NULL &&
			strncmp(last->eref->aliasname, "pg_privacy: ", 12) == 0)
		{
			MaskCtx		m;

			(void) mask_active(&m);
			if (strcmp(last->eref->aliasname, mark_name(&m)) != 0)
			{
				ResetPlanCache();
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("a kept plan was made for other masks than this statement runs under"),
						 errdetail("It was made \"%s\", and would run \"%s\".",
								   last->eref->aliasname + 12, mark_name(&m) + 12),
						 errhint("Run the statement again: the plan is made anew.")));
			}
			/* the key is checked here, not in a parallel leader (a query) */
			if (last->inh)
				(void) pgp_get_key(PGP_KP_MASK, "default", 7, PGP_KEY_VERSION);
		}
	}
	if (prev_executor_start_hook)
		prev_executor_start_hook(queryDesc, eflags);
	else
		standard_ExecutorStart(queryDesc, eflags);
}

void
pgp_mask_init(bool preloaded)
{
	mask_preloaded = preloaded;
	prev_planner_hook = planner_hook;
	planner_hook = mask_planner;
	prev_utility_hook = ProcessUtility_hook;
	ProcessUtility_hook = mask_utility;
	prev_relation_info_hook = get_relation_info_hook;
	get_relation_info_hook = mask_relation_info;
	prev_executor_start_hook = ExecutorStart_hook;
	ExecutorStart_hook = mask_executor_start;
	pgp_on_relcache(mask_relcache_cb, (Datum) 0);
	CacheRegisterSyscacheCallback(PROCOID, mask_proc_cb, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, mask_auth_cb, (Datum) 0);
	CacheRegisterSyscacheCallback(AUTHOID, mask_auth_cb, (Datum) 0);
}

/* ----------------------------------------------------------------
 * SQL: what a column reads as, a column's own mask, the preload
 * ----------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(pgp_mask_preloaded);

Datum
pgp_mask_preloaded(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(mask_preloaded);
}

static AttrNumber
column_attnum(Oid relid, Name col)
{
	AttrNumber	attno = get_attnum(relid, NameStr(*col));

	if (attno <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation %s does not exist", NameStr(*col),
						get_rel_name(relid))));
	return attno;
}

PG_FUNCTION_INFO_V1(pgp_mask_column);

/* _mask_column(tbl, col, privacy_by_default) -> (rule, expression) */
Datum
pgp_mask_column(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Name		col = PG_GETARG_NAME(1);
	bool		pbd = PG_GETARG_BOOL(2);
	TupleDesc	tupdesc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	MaskRel    *mr;
	AttrNumber	attno;
	MaskRule	r;
	StringInfoData buf;
	int			nest;

	if (get_call_result_type(fcinfo, NULL, &tupdesc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	mask_load_state();
	if (!OidIsValid(registered_column_relid))
		PG_RETURN_NULL();
	attno = column_attnum(relid, col);
	mr = mask_rel(relid);
	r = effective_rule(mr, attno - 1, pbd);
	initStringInfo(&buf);
	nest = pin_search_path();
	{
		HeapTuple	atup = SearchSysCache2(ATTNUM, ObjectIdGetDatum(relid), Int16GetDatum(attno));

		if (!HeapTupleIsValid(atup))
			elog(ERROR, "cache lookup failed for attribute %d of relation %u", attno, relid);
		r = column_sql(&buf, (Form_pg_attribute) GETSTRUCT(atup), r,
					   r == MR_CUSTOM ? mr->custom[attno - 1] : NULL);
		ReleaseSysCache(atup);
	}
	AtEOXact_GUC(true, nest);
	values[0] = CStringGetTextDatum(rule_names[r]);
	values[1] = CStringGetTextDatum(buf.data);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(tupdesc, values, nulls)));
}

static bool
has_subquery_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (IsA(node, SubLink) || IsA(node, Query))
		return true;
	return expression_tree_walker(node, has_subquery_walker, context);
}

static bool
uses_keyed_walker(Node *node, void *context)
{
	int			i;

	if (node == NULL)
		return false;
	if (IsA(node, FuncExpr))
		for (i = 0; i < lengthof(keyed_funcs); i++)
			if (OidIsValid(keyed_funcs[i]) && ((FuncExpr *) node)->funcid == keyed_funcs[i])
				return true;
	return expression_tree_walker(node, uses_keyed_walker, context);
}

PG_FUNCTION_INFO_V1(pgp_mask_check);

/*
 * _mask_check(tbl, col, expression): the expression is one scalar
 * expression over the table's own row, of a type assignable to the
 * column's: no subquery (so no other table), no aggregate, window or
 * set-returning function.  Parsed under a search_path of pg_catalog only,
 * as it will be when applied: functions of other schemas are qualified.
 */
Datum
pgp_mask_check(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Name		col = PG_GETARG_NAME(1);
	char	   *expr = text_to_cstring(PG_GETARG_TEXT_PP(2));
	AttrNumber	attno = column_attnum(relid, col);
	Oid			coltype = get_atttype(relid, attno);
	StringInfoData sql;
	List	   *raw;
	Query	   *q;
	Oid			exprtype;
	int			nest;

	check_mask_expression(expr);
	nest = pin_search_path();
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT (%s) FROM %s t", expr,
					 quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
												get_rel_name(relid)));
	raw = raw_parser(sql.data, RAW_PARSE_DEFAULT);
	if (list_length(raw) != 1 || !IsA(linitial_node(RawStmt, raw)->stmt, SelectStmt) ||
		((SelectStmt *) linitial_node(RawStmt, raw)->stmt)->op != SETOP_NONE ||
		list_length(((SelectStmt *) linitial_node(RawStmt, raw)->stmt)->targetList) != 1 ||
		list_length(((SelectStmt *) linitial_node(RawStmt, raw)->stmt)->fromClause) != 1 ||
		((SelectStmt *) linitial_node(RawStmt, raw)->stmt)->whereClause != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SYNTAX_ERROR),
				 errmsg("a mask must be one expression")));
	/*
	 * A literal (NULL, '…') is cast to the column's type, as it will be
	 * when applied: a value of the wrong type is refused now.
	 */
	if (IsA(((ResTarget *) linitial(((SelectStmt *) linitial_node(RawStmt, raw)->stmt)->targetList))->val, A_Const))
	{
		Oid			typid;
		int32		typmod;
		Oid			coll;

		get_atttypetypmodcoll(relid, attno, &typid, &typmod, &coll);
		resetStringInfo(&sql);
		appendStringInfo(&sql, "SELECT CAST((%s) AS %s) FROM %s t", expr,
						 format_type_with_typemod(typid, typmod),
						 quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
													get_rel_name(relid)));
	}
	q = analyze_own(relid, sql.data);
	AtEOXact_GUC(true, nest);
	lookup_keyed_funcs();
	if (uses_keyed_walker((Node *) q->targetList, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("a mask cannot call the keyed masks of identifiers"),
				 errdetail("Masked roles would read the keyed mask of whatever value the expression gives.")));
	if (q->hasSubLinks || has_subquery_walker((Node *) q->targetList, NULL))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a mask cannot contain a subquery"),
				 errdetail("A mask reads the row it masks, and no other table.")));
	if (q->hasAggs || q->hasWindowFuncs || q->hasTargetSRFs || list_length(q->rtable) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a mask cannot contain an aggregate, window or set-returning function"),
				 errdetail("A mask gives one value per row.")));
	exprtype = exprType((Node *) linitial_node(TargetEntry, q->targetList)->expr);
	if (!can_coerce_type(1, &exprtype, &coltype, COERCION_ASSIGNMENT))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("a mask of column \"%s\" must be of type %s, not %s", NameStr(*col),
						format_type_be(coltype), format_type_be(exprtype))));
	PG_RETURN_VOID();
}

/* ----------------------------------------------------------------
 * The masks of the categories
 * ----------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(pgp_mask_name);

/* "Jens Peter Hansen" -> "J. P. H." (words split at white space) */
Datum
pgp_mask_name(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	const char *s = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	StringInfoData out;
	int			i = 0;

	initStringInfo(&out);
	while (i < len)
	{
		int			l;

		if (isspace((unsigned char) s[i]))
		{
			i++;
			continue;
		}
		l = pg_mblen(s + i);
		if (out.len > 0)
			appendStringInfoChar(&out, ' ');
		appendBinaryStringInfo(&out, s + i, Min(l, len - i));
		appendStringInfoChar(&out, '.');
		while (i < len && !isspace((unsigned char) s[i]))
			i += pg_mblen(s + i);
	}
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}

PG_FUNCTION_INFO_V1(pgp_mask_email);

/* "jens.hansen@firma.dk" -> "j***@firma.dk"; not an address -> "***" */
Datum
pgp_mask_email(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	const char *s = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	int			start = 0;
	int			at = -1;
	int			i;
	StringInfoData out;

	while (start < len && isspace((unsigned char) s[start]))
		start++;
	while (len > start && isspace((unsigned char) s[len - 1]))
		len--;
	for (i = start; i < len; i++)
		if (s[i] == '@')
			at = i;
	if (at <= start || at >= len - 1)
		PG_RETURN_TEXT_P(cstring_to_text("***"));
	initStringInfo(&out);
	appendBinaryStringInfo(&out, s + start, Min(pg_mblen(s + start), at - start));
	appendStringInfoString(&out, "***");
	appendBinaryStringInfo(&out, s + at, len - at);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(out.data, out.len));
}

PG_FUNCTION_INFO_V1(pgp_mask_address);

/*
 * A postal address reduced to postal code and town: the last postal code
 * (4 or 5 digits, or the Swedish "123 45") followed by a town, and
 * everything after it.  A postal code alone is kept, and so is a value
 * without digits (a town); anything else (a street) is NULL.
 */
Datum
pgp_mask_address(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	const char *s = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	int			start = 0;
	int			found = -1;
	int			i;
	bool		digits = false;

	while (start < len && isspace((unsigned char) s[start]))
		start++;
	while (len > start && isspace((unsigned char) s[len - 1]))
		len--;
	for (i = start; i < len; i++)
		digits = digits || isdigit((unsigned char) s[i]);
	if (!digits)
		PG_RETURN_TEXT_P(cstring_to_text_with_len(s + start, len - start));

	for (i = start; i < len; i++)
	{
		int			j = i;
		int			n;

		if (!isdigit((unsigned char) s[i]) || (i > start && isalnum((unsigned char) s[i - 1])))
			continue;
		while (j < len && isdigit((unsigned char) s[j]))
			j++;
		n = j - i;
		/* "123 45" */
		if (n == 3 && j + 3 <= len && s[j] == ' ' && isdigit((unsigned char) s[j + 1]) &&
			isdigit((unsigned char) s[j + 2]) && (j + 3 == len || !isdigit((unsigned char) s[j + 3])))
		{
			j += 3;
			n = 5;
		}
		if (n != 4 && n != 5)
			continue;
		if (j == len && i == start)
			found = i;			/* a postal code alone */
		else if (j < len && isspace((unsigned char) s[j]))
		{
			int			k = j;

			while (k < len && isspace((unsigned char) s[k]))
				k++;
			if (k < len && !isdigit((unsigned char) s[k]) && !ispunct((unsigned char) s[k]))
				found = i;
		}
		i = j;
	}
	if (found < 0)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text_with_len(s + found, len - found));
}

PG_FUNCTION_INFO_V1(pgp_mask_account);

/* every digit but the last `visible` becomes X, the format kept */
Datum
pgp_mask_account(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	int32		visible = PG_GETARG_INT32(1);
	int			len = VARSIZE_ANY_EXHDR(t);
	text	   *result;
	char	   *s;
	int			ndigits = 0;
	int			i;

	if (visible < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("visible must not be negative")));
	result = (text *) palloc(VARHDRSZ + len);
	SET_VARSIZE(result, VARHDRSZ + len);
	s = VARDATA(result);
	memcpy(s, VARDATA_ANY(t), len);
	for (i = 0; i < len; i++)
		ndigits += isdigit((unsigned char) s[i]) ? 1 : 0;
	for (i = 0; i < len && ndigits > visible; i++)
		if (isdigit((unsigned char) s[i]))
		{
			s[i] = 'X';
			ndigits--;
		}
	PG_RETURN_TEXT_P(result);
}

/* ----------------------------------------------------------------
 * The keyed masks of identifiers
 * ----------------------------------------------------------------
 */

/*
 * The key of the masks, for a call the planner put there; anything else
 * (a call by name, in any statement) is refused.
 */
static PgpKey *
mask_key(FunctionCallInfo fcinfo)
{
	Node	   *e = fcinfo->flinfo->fn_expr;

	if (e == NULL || !IsA(e, FuncExpr) || ((FuncExpr *) e)->location != PGP_MASK_LOCATION)
		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("the keyed masks of identifiers are applied by masking only"),
				 errdetail("Computing the mask of a value of one's choice would reveal which value a masked role reads.")));
	if (fcinfo->flinfo->fn_extra == NULL)
		fcinfo->flinfo->fn_extra = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(PgpKeyRef));
	return pgp_key_cached((PgpKeyRef *) fcinfo->flinfo->fn_extra, PGP_KP_MASK, "default", 7);
}

PG_FUNCTION_INFO_V1(pgp_mask_pseudonym_text);

Datum
pgp_mask_pseudonym_text(PG_FUNCTION_ARGS)
{
	PgpKey	   *k = mask_key(fcinfo);
	text	   *value = PG_GETARG_TEXT_PP(0);
	text	   *result = (text *) palloc(VARHDRSZ + PGP_PSEUDONYM_LEN);

	SET_VARSIZE(result, VARHDRSZ + PGP_PSEUDONYM_LEN);
	pgp_pseudonym(k, VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value), VARDATA(result));
	PG_RETURN_TEXT_P(result);
}

/*
 * A keyed permutation of [0, max]: FF1 over ndigits decimal digits,
 * repeated while the result is above max (cycle walking, so that every
 * value of the range has exactly one image in it).  Negative values are
 * permuted among themselves (-1 - x).
 */
static int64
permute(PgpKey *k, int64 x, int64 max, int ndigits, const char *tweak)
{
	uint8_t		d[20];
	bool		neg = x < 0;
	uint64		v = neg ? (uint64) (-1 - x) : (uint64) x;
	int			i;

	do
	{
		uint64		u = v;

		for (i = ndigits - 1; i >= 0; i--)
		{
			d[i] = (uint8_t) (u % 10);
			u /= 10;
		}
		if (pgp_ff1_encrypt(pgp_key_ff1(k), 10, (const unsigned char *) tweak, strlen(tweak),
							d, d, ndigits) != PGP_FF1_OK)
			pgp_crypto_error("FF1");
		v = 0;
		for (i = 0; i < ndigits; i++)
			v = v * 10 + d[i];
	} while (v > (uint64) max);
	return neg ? -1 - (int64) v : (int64) v;
}

PG_FUNCTION_INFO_V1(pgp_mask_pseudonym_int8);

Datum
pgp_mask_pseudonym_int8(PG_FUNCTION_ARGS)
{
	PgpKey	   *k = mask_key(fcinfo);

	PG_RETURN_INT64(permute(k, PG_GETARG_INT64(0), PG_INT64_MAX, 19, "int8"));
}

PG_FUNCTION_INFO_V1(pgp_mask_pseudonym_int4);

Datum
pgp_mask_pseudonym_int4(PG_FUNCTION_ARGS)
{
	PgpKey	   *k = mask_key(fcinfo);

	PG_RETURN_INT32((int32) permute(k, PG_GETARG_INT32(0), PG_INT32_MAX, 10, "int4"));
}

PG_FUNCTION_INFO_V1(pgp_mask_pseudonym_int2);

Datum
pgp_mask_pseudonym_int2(PG_FUNCTION_ARGS)
{
	PgpKey	   *k = mask_key(fcinfo);

	/* 6 digits: FF1's smallest domain is 10^6 values */
	PG_RETURN_INT16((int16) permute(k, PG_GETARG_INT16(0), PG_INT16_MAX, 6, "int2"));
}
