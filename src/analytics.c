/*-------------------------------------------------------------------------
 *
 * analytics.c
 *	  Checks behind safe aggregates, and the rows of published views.
 *
 * privacy.create_safe_aggregate() publishes a grouped query as a view
 * whose small groups are suppressed.  That is only sound if the query is
 * what it claims to be: one plain grouped SELECT over tables, whose group
 * size is really count(*), that publishes counts and sums only (no
 * min/max or array_agg of one person's values), with no window function
 * that could carry a suppressed group's figures into a published row, no
 * grouping sets whose totals would give suppressed groups away by
 * subtraction, and no subquery that could list values.  Text inspection
 * cannot decide that, so _analyze_grouped_query() runs the parser and
 * parse analysis, as the publishing role, and reads the query tree.
 * Only built-in, non-volatile functions and operators over built-in types
 * are accepted: the published query never runs code of a table owner's.
 *
 * _grouped_query_def() gives the query back as SQL with every name
 * qualified, with the number of distinct data subjects of each group
 * added where a table declares an owner identifier, so that a group's
 * size counts people and not rows.
 *
 * pgp_published_rows() computes the rows of a published view: it runs the
 * registered definition with the rights of the role that published it,
 * in a security-restricted operation, and returns the figures only.  The
 * reader of the view sees a function scan, never the plan over the
 * source, its row counts or the rows its filter removed.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "compat.h"
#include "e164.h"
#include "owner.h"

#include "access/htup_details.h"
#include "access/relation.h"
#include "access/transam.h"
#include "catalog/namespace.h"
#include "catalog/pg_aggregate.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_class.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_proc.h"
#include "catalog/pg_type.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/clauses.h"
#include "optimizer/optimizer.h"
#include "parser/analyze.h"
#include "parser/parse_oper.h"
#include "parser/parser.h"
#include "parser/parsetree.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/partcache.h"
#include "utils/plancache.h"
#include "utils/rel.h"
#include "utils/rls.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/ruleutils.h"
#include "utils/syscache.h"
#include "utils/tuplestore.h"

/* Prefix of the columns _grouped_query_def() adds. */
#define SUBJECTS_PREFIX "_pgp_subjects_"

static void
bad_query(const char *msg, const char *hint) pg_attribute_noreturn();

static void
bad_query(const char *msg, const char *hint)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("%s", msg),
			 hint ? errhint("%s", hint) : 0));
}

/*
 * Act as role in a security-restricted operation with a pinned
 * search_path (pgp_begin_as_role), row security off; undone by
 * pgp_end_as_owner(), or by the abort on error.
 */
static void
begin_as_role(Oid role, PgpAsOwner *save)
{
	if (!SearchSysCacheExists1(AUTHOID, ObjectIdGetDatum(role)))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_OBJECT),
				 errmsg("role with OID %u does not exist", role)));
	pgp_begin_as_role(role, save);
	/* a policy that would apply makes the query fail instead of running */
	(void) set_config_option("row_security", "off",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
}

/*
 * A column of a table the query reads.
 */
typedef struct SourceColumn
{
	Index		rtindex;
	AttrNumber	attnum;
} SourceColumn;

typedef struct CheckContext
{
	Query	   *q;
	List	   *cols;			/* SourceColumn *, each once */
} CheckContext;

static char *
qualified_name(Oid relid)
{
	return quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
									  get_rel_name(relid));
}

static bool
is_builtin(Oid oid)
{
	return OidIsValid(oid) && oid < FirstNormalObjectId;
}

static bool
not_builtin_function(Oid funcid, void *context)
{
	return !is_builtin(funcid);
}

static void
check_type(Oid typid)
{
	if (!is_builtin(typid))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("type %s cannot be used in a safe aggregate", format_type_be(typid)),
				 errdetail("A safe aggregate computes over built-in types only.")));
}

static void
check_function(Oid funcid)
{
	if (!is_builtin(funcid))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("function %s cannot be used in a safe aggregate",
						format_procedure(funcid)),
				 errdetail("A safe aggregate calls built-in functions only.")));
	if (func_volatile(funcid) == PROVOLATILE_VOLATILE)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("volatile function %s cannot be used in a safe aggregate",
						format_procedure(funcid))));
}

static void
check_operator(Oid opno)
{
	if (!is_builtin(opno))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("operator %s cannot be used in a safe aggregate",
						format_operator(opno)),
				 errdetail("A safe aggregate uses built-in operators only.")));
	check_function(get_opcode(opno));
}

static bool
is_sum(Oid aggfnoid)
{
	char	   *fname = get_func_name(aggfnoid);

	return is_builtin(aggfnoid) && fname != NULL && strcmp(fname, "sum") == 0 &&
		get_func_namespace(aggfnoid) == PG_CATALOG_NAMESPACE;
}

/*
 * Only counts and sums publish figures about a group; every other
 * aggregate (min, max, array_agg, string_agg, json_agg, mode, ...) can
 * publish one person's value.
 */
static void
check_aggregate(Aggref *agg)
{
	if ((agg->aggfnoid == F_COUNT_ && agg->aggstar) || agg->aggfnoid == F_COUNT_ANY ||
		is_sum(agg->aggfnoid))
		return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("aggregate %s cannot be published in a safe aggregate",
					format_procedure(agg->aggfnoid)),
			 errdetail("Only count(*), count(column) and sum(column) are published; other aggregates such as min, max, array_agg and string_agg can give away one person's values.")));
}

static void
note_column(CheckContext *cx, Index rtindex, AttrNumber attnum)
{
	ListCell   *lc;
	SourceColumn *sc;

	foreach(lc, cx->cols)
	{
		sc = (SourceColumn *) lfirst(lc);
		if (sc->rtindex == rtindex && sc->attnum == attnum)
			return;
	}
	sc = palloc(sizeof(SourceColumn));
	sc->rtindex = rtindex;
	sc->attnum = attnum;
	cx->cols = lappend(cx->cols, sc);
}

static bool
check_walker(Node *node, CheckContext *cx)
{
	if (node == NULL)
		return false;
	switch (nodeTag(node))
	{
		case T_Var:
			{
				Var		   *v = (Var *) node;
				RangeTblEntry *rte;

				if (v->varlevelsup != 0)
					bad_query("the query of a safe aggregate must not contain subqueries", NULL);
				rte = rt_fetch(v->varno, cx->q->rtable);
				if (rte->rtekind == RTE_JOIN && v->varattno > 0)
					return check_walker(list_nth(rte->joinaliasvars, v->varattno - 1), cx);
				if (rte->rtekind != RTE_RELATION || v->varattno <= 0)
					ereport(ERROR,
							(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
							 errmsg("a safe aggregate must name the columns it reads"),
							 errdetail("Whole rows and system columns cannot be used.")));
				check_type(v->vartype);
				note_column(cx, v->varno, v->varattno);
				return false;
			}
		case T_Const:
			check_type(((Const *) node)->consttype);
			return false;
		case T_Param:
		case T_SubLink:
		case T_SubPlan:
		case T_Query:
			bad_query("the query of a safe aggregate must not contain subqueries", NULL);
			break;
		case T_NextValueExpr:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("a safe aggregate must not call volatile functions")));
			break;
		case T_FuncExpr:
			check_function(((FuncExpr *) node)->funcid);
			break;
		case T_OpExpr:
		case T_DistinctExpr:
		case T_NullIfExpr:
			check_operator(((OpExpr *) node)->opno);
			break;
		case T_ScalarArrayOpExpr:
			check_operator(((ScalarArrayOpExpr *) node)->opno);
			break;
		case T_RowCompareExpr:
			{
				ListCell   *lc;

				foreach(lc, ((RowCompareExpr *) node)->opnos)
					check_operator(lfirst_oid(lc));
			}
			break;
		case T_Aggref:
			check_aggregate((Aggref *) node);
			break;
		case T_CoerceViaIO:
		case T_RelabelType:
		case T_ArrayCoerceExpr:
		case T_CoerceToDomain:
		case T_ConvertRowtypeExpr:
		case T_CaseExpr:
		case T_CoalesceExpr:
		case T_MinMaxExpr:
		case T_ArrayExpr:
		case T_RowExpr:
		case T_FieldSelect:
		case T_FieldStore:
		case T_CollateExpr:
		case T_BoolExpr:
		case T_NullTest:
		case T_BooleanTest:
		case T_SQLValueFunction:
		case T_SubscriptingRef:
		case T_XmlExpr:
			break;
		case T_SortGroupClause:
			{
				SortGroupClause *sgc = (SortGroupClause *) node;

				if (OidIsValid(sgc->eqop))
					check_operator(sgc->eqop);
				if (OidIsValid(sgc->sortop))
					check_operator(sgc->sortop);
			}
			return false;
		case T_TargetEntry:
		case T_List:
		case T_FromExpr:
		case T_JoinExpr:
		case T_RangeTblRef:
		case T_CaseWhen:
		case T_CaseTestExpr:
		case T_CoerceToDomainValue:
			return expression_tree_walker(node, check_walker, (void *) cx);
		default:
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("expression of node type %d cannot be used in a safe aggregate",
							(int) nodeTag(node))));
	}
	/* every expression node above: a built-in type, then its arguments */
	check_type(exprType(node));
	return expression_tree_walker(node, check_walker, (void *) cx);
}

static bool
builtin_functions_walker(Node *node, void *context)
{
	if (node == NULL)
		return false;
	if (check_functions_in_node(node, not_builtin_function, NULL))
		return true;
	return expression_tree_walker(node, builtin_functions_walker, context);
}

/*
 * The rows are computed with the publisher's rights: no code of the
 * table's owner may run then.  Refused: a table whose row-level security
 * policies would apply to the publisher, and a partitioned table whose
 * partition key (evaluated when partitions are pruned) uses an operator
 * class or expression that is not built in.
 */
static void
check_source(Oid relid, Oid role)
{
	ListCell   *lc;

	if (check_enable_rls(relid, role, true) == RLS_ENABLED)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("a safe aggregate cannot read %s, whose row-level security policies would apply",
						qualified_name(relid)),
				 errdetail("Its rows are computed with the publisher's rights, where the policies of the table's owner would run."),
				 errhint("Publish it as the table's owner.")));
	if (get_rel_relkind(relid) != RELKIND_PARTITIONED_TABLE)
		return;
	foreach(lc, find_all_inheritors(relid, AccessShareLock, NULL))
	{
		Oid			part = lfirst_oid(lc);
		Relation	rel;
		PartitionKey key;
		int			i;
		bool		ok = true;

		if (get_rel_relkind(part) != RELKIND_PARTITIONED_TABLE)
			continue;
		rel = relation_open(part, AccessShareLock);
		key = RelationGetPartitionKey(rel);
		for (i = 0; i < key->partnatts; i++)
			if (!is_builtin(key->partopfamily[i]) || !is_builtin(key->partsupfunc[i].fn_oid) ||
				!is_builtin(key->parttypid[i]))
				ok = false;
		if (key->partexprs != NIL &&
			builtin_functions_walker((Node *) key->partexprs, NULL))
			ok = false;
		relation_close(rel, AccessShareLock);
		if (!ok)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("a safe aggregate cannot read %s, whose partition key is not built in",
							qualified_name(part)),
					 errdetail("Partition pruning would run the operator class or expression of the table's owner.")));
	}
}

/* check_source() for every table a (rewritten) query reads */
static void
check_sources_in_query(Query *q, Oid role)
{
	ListCell   *lc;

	foreach(lc, q->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

		if (rte->rtekind == RTE_RELATION)
		{
			/*
			 * Read again at every read of the published view: a table the
			 * definition names may have been renamed and replaced by a view
			 * of its owner's (whose functions would run as the publisher).
			 */
			if (rte->relkind != RELKIND_RELATION &&
				rte->relkind != RELKIND_PARTITIONED_TABLE &&
				rte->relkind != RELKIND_MATVIEW)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("a published view reads %s, which is no longer a table",
								qualified_name(rte->relid)),
						 errhint("Publish the figures again with privacy.unpublish() and the builder.")));
			check_source(rte->relid, role);
		}
		else if (rte->rtekind == RTE_SUBQUERY)
			check_sources_in_query(rte->subquery, role);
	}
	foreach(lc, q->cteList)
		check_sources_in_query(castNode(Query, lfirst_node(CommonTableExpr, lc)->ctequery), role);
}

static void
check_sort_group(List *clauses)
{
	ListCell   *lc;

	foreach(lc, clauses)
		(void) check_walker((Node *) lfirst_node(SortGroupClause, lc), NULL);
}

/*
 * Parse and analyze sql as role, check that it is a plain grouped SELECT
 * a safe aggregate can publish, and that role may read what it reads.
 * Returns the analyzed query; *cols gets the columns it reads.
 */
static Query *
analyze_grouped_query(const char *sql, Oid role, List **cols)
{
	List	   *raw;
	RawStmt    *rs;
	Query	   *q;
	ListCell   *lc;
	Index		rti;
	CheckContext cx;
	PgpAsOwner	save;

	begin_as_role(role, &save);

	raw = raw_parser(sql, RAW_PARSE_DEFAULT);
	if (list_length(raw) != 1)
		bad_query("the query of a safe aggregate must be exactly one SELECT statement", NULL);
	rs = linitial_node(RawStmt, raw);
	if (!IsA(rs->stmt, SelectStmt))
		bad_query("the query of a safe aggregate must be a SELECT statement", NULL);
	if (((SelectStmt *) rs->stmt)->intoClause != NULL)
		bad_query("the query of a safe aggregate must not be SELECT INTO", NULL);

	q = parse_analyze_fixedparams(rs, sql, NULL, 0, NULL);

	if (q->commandType != CMD_SELECT || q->utilityStmt != NULL)
		bad_query("the query of a safe aggregate must be a SELECT statement", NULL);
	if (q->setOperations != NULL)
		bad_query("the query of a safe aggregate must not use UNION, INTERSECT or EXCEPT",
				  "Publish each grouped SELECT as a safe aggregate of its own.");
	if (q->hasModifyingCTE)
		bad_query("the query of a safe aggregate must not modify data", NULL);
	if (q->rowMarks != NIL)
		bad_query("the query of a safe aggregate must not lock rows", NULL);
	if (q->cteList != NIL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the query of a safe aggregate must not use WITH")));
	if (q->hasSubLinks)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the query of a safe aggregate must not contain subqueries"),
				 errdetail("A subquery can publish values that are not counted in any group.")));
	if (q->limitCount != NULL || q->limitOffset != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the query of a safe aggregate must not use LIMIT or OFFSET"),
				 errdetail("Which groups a limit keeps depends on the groups it suppresses.")));
	if (q->hasTargetSRFs)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("the query of a safe aggregate must not call set-returning functions")));
	if (q->groupingSets != NIL)
		bad_query("the query of a safe aggregate must not use GROUPING SETS, ROLLUP or CUBE",
				  "Their totals would reveal suppressed groups by subtraction; use with_total => true, which totals the published groups only.");
	if (q->groupClause == NIL)
		bad_query("the query of a safe aggregate must be a grouped SELECT",
				  "Add a GROUP BY clause and count(*) AS n to the select list.");
	if (q->hasWindowFuncs)
		bad_query("the query of a safe aggregate must not use window functions",
				  "A window over the groups would carry suppressed groups into published rows.");

	/* What it reads: tables (and joins of them), nothing else */
	rti = 0;
	foreach(lc, q->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

		rti++;
		if (rte->rtekind == RTE_JOIN)
			continue;
		if (rte->rtekind != RTE_RELATION)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("a safe aggregate reads tables only"),
					 errdetail("Subqueries, functions, VALUES and WITH queries in FROM cannot be used.")));
		if (rte->relkind != RELKIND_RELATION && rte->relkind != RELKIND_PARTITIONED_TABLE &&
			rte->relkind != RELKIND_MATVIEW)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("a safe aggregate cannot read %s", qualified_name(rte->relid)),
					 errdetail("Only tables and materialized views can be read.")));
		if (get_rel_persistence(rte->relid) == RELPERSISTENCE_TEMP)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("a safe aggregate cannot read temporary table %s",
							qualified_name(rte->relid))));
		if (rte->tablesample != NULL)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("a safe aggregate cannot use TABLESAMPLE")));
		check_source(rte->relid, role);
	}
	/* the role must be allowed to read all of it */
	(void) ExecCheckRTPerms(q->rtable, true);

	cx.q = q;
	cx.cols = NIL;
	(void) query_tree_walker(q, check_walker, (void *) &cx,
							 QTW_IGNORE_RANGE_TABLE | QTW_IGNORE_JOINALIASES);
	check_sort_group(q->groupClause);
	check_sort_group(q->sortClause);
	check_sort_group(q->distinctClause);

	pgp_end_as_owner(&save);
	*cols = cx.cols;
	return q;
}

/*
 * Classify one output expression: 'group' (not an aggregate), 'count'
 * (count(*) without FILTER or DISTINCT: a true group size), 'sum' (sum of
 * something: additive, so a total over published groups is meaningful),
 * or 'other' (any other count or an expression over aggregates).
 */
static const char *
classify(Node *expr)
{
	Aggref	   *agg;

	if (!IsA(expr, Aggref))
		return contain_agg_clause(expr) ? "other" : "group";
	agg = (Aggref *) expr;
	if (agg->aggfnoid == F_COUNT_ && agg->aggstar && agg->aggfilter == NULL &&
		agg->aggdistinct == NIL)
		return "count";
	if (is_sum(agg->aggfnoid) && agg->aggfilter == NULL && agg->aggdistinct == NIL)
		return "sum";
	return "other";
}

static void
put_row(ReturnSetInfo *rsinfo, const char *what, const char *col, const char *type,
		const char *kind, Oid rel, int rtindex)
{
	Datum		values[6];
	bool		nulls[6] = {false, false, false, false, false, false};

	values[0] = CStringGetTextDatum(what);
	values[1] = DirectFunctionCall1(namein, CStringGetDatum(col));
	if (type)
		values[2] = CStringGetTextDatum(type);
	else
		nulls[2] = true;
	if (kind)
		values[3] = CStringGetTextDatum(kind);
	else
		nulls[3] = true;
	if (OidIsValid(rel))
		values[4] = ObjectIdGetDatum(rel);
	else
		nulls[4] = true;
	if (rtindex > 0)
		values[5] = Int32GetDatum(rtindex);
	else
		nulls[5] = true;
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
}

PG_FUNCTION_INFO_V1(pgp_analyze_grouped_query);

/*
 * _analyze_grouped_query(query text, as_role oid)
 *		RETURNS TABLE(what text, col name, type text, kind text,
 *					  rel regclass, rtindex integer)
 *
 * Parses and analyzes query as as_role (who must be able to read what it
 * reads) and raises when it is not a single plain grouped SELECT a safe
 * aggregate may publish.  Returns first the tables it reads ('relation':
 * rel and its range-table index), then the columns it uses anywhere
 * ('column': col of rel), then its output columns ('output': col, type,
 * kind as classify() says).
 */
Datum
pgp_analyze_grouped_query(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *sql;
	Oid			role;
	Query	   *q;
	List	   *cols;
	ListCell   *lc;
	List	   *seen = NIL;
	Index		rti = 0;

	/* 0.1.0 declared it (query text): see src/compat.c */
	pgp_compat_check_nargs(fcinfo, 2, "privacy_internal._analyze_grouped_query");
	sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
	role = PG_GETARG_OID(1);
	InitMaterializedSRF(fcinfo, 0);
	q = analyze_grouped_query(sql, role, &cols);

	foreach(lc, q->rtable)
	{
		RangeTblEntry *rte = lfirst_node(RangeTblEntry, lc);

		rti++;
		if (rte->rtekind == RTE_RELATION)
			put_row(rsinfo, "relation", get_rel_name(rte->relid), NULL, NULL, rte->relid, rti);
	}
	foreach(lc, cols)
	{
		SourceColumn *sc = (SourceColumn *) lfirst(lc);
		RangeTblEntry *rte = rt_fetch(sc->rtindex, q->rtable);

		put_row(rsinfo, "column", get_attname(rte->relid, sc->attnum, false), NULL, NULL,
				rte->relid, sc->rtindex);
	}

	foreach(lc, q->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);
		ListCell   *lc2;

		if (tle->resjunk)
			continue;
		if (tle->resname == NULL || strcmp(tle->resname, "?column?") == 0)
			bad_query("every column of a safe aggregate needs a name",
					  "Name each expression with AS.");
		if (strncmp(tle->resname, SUBJECTS_PREFIX, strlen(SUBJECTS_PREFIX)) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("column name \"%s\" is reserved for pg_privacy", tle->resname)));
		foreach(lc2, seen)
		{
			if (strcmp((char *) lfirst(lc2), tle->resname) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("column name \"%s\" appears more than once in the query of a safe aggregate",
								tle->resname)));
		}
		seen = lappend(seen, tle->resname);
		put_row(rsinfo, "output", tle->resname,
				format_type_with_typemod(exprType((Node *) tle->expr),
										 exprTypmod((Node *) tle->expr)),
				classify((Node *) tle->expr), InvalidOid, 0);
	}
	return (Datum) 0;
}

/*
 * count(DISTINCT v) as an analyzed aggregate.
 */
static Aggref *
make_count_distinct(Var *v)
{
	TargetEntry *arg = makeTargetEntry((Expr *) v, 1, NULL, false);
	SortGroupClause *sgc = makeNode(SortGroupClause);
	Aggref	   *agg = makeNode(Aggref);

	get_sort_group_operators(v->vartype, true, true, false,
							 &sgc->sortop, &sgc->eqop, NULL, &sgc->hashable);
	sgc->tleSortGroupRef = arg->ressortgroupref = 1;
	sgc->nulls_first = false;

	agg->aggfnoid = F_COUNT_ANY;
	agg->aggtype = INT8OID;
	agg->aggcollid = InvalidOid;
	agg->inputcollid = v->varcollid;
	agg->aggtranstype = InvalidOid;
	agg->aggargtypes = list_make1_oid(v->vartype);
	agg->aggdirectargs = NIL;
	agg->args = list_make1(arg);
	agg->aggorder = NIL;
	agg->aggdistinct = list_make1(sgc);
	agg->aggfilter = NULL;
	agg->aggstar = false;
	agg->aggvariadic = false;
	agg->aggkind = AGGKIND_NORMAL;
	agg->agglevelsup = 0;
	agg->aggsplit = AGGSPLIT_SIMPLE;
	agg->aggno = -1;
	agg->aggtransno = -1;
	agg->location = -1;
	return agg;
}

PG_FUNCTION_INFO_V1(pgp_grouped_query_def);

/*
 * _grouped_query_def(query text, as_role oid, subject_rtindex integer[],
 *					  subject_col name[]) RETURNS text
 *
 * The query (checked as _analyze_grouped_query checks it) as SQL with
 * every name qualified, to run under search_path = pg_catalog, pg_temp.
 * For each (range-table index, column) pair given, an output column
 * _pgp_subjects_<i> is added: the number of distinct values of that
 * column in the group, i.e. of data subjects where the column is an
 * owner identifier.
 */
Datum
pgp_grouped_query_def(PG_FUNCTION_ARGS)
{
	char	   *sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Oid			role = PG_GETARG_OID(1);
	ArrayType  *rtarr = PG_GETARG_ARRAYTYPE_P(2);
	ArrayType  *colarr = PG_GETARG_ARRAYTYPE_P(3);
	Datum	   *rtis;
	Datum	   *colnames;
	bool	   *rtnulls;
	bool	   *colnulls;
	int			nrt;
	int			ncol;
	Query	   *q;
	List	   *cols;
	List	   *tl = NIL;
	List	   *junk = NIL;
	ListCell   *lc;
	AttrNumber	resno = 0;
	int			i;
	char	   *def;
	PgpAsOwner	save;

	deconstruct_array(rtarr, INT4OID, 4, true, TYPALIGN_INT, &rtis, &rtnulls, &nrt);
	deconstruct_array(colarr, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR,
					  &colnames, &colnulls, &ncol);
	if (nrt != ncol)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("range-table indexes and columns must be arrays of equal length")));

	q = analyze_grouped_query(sql, role, &cols);

	/* the non-junk entries, the subject counts, then the junk entries */
	foreach(lc, q->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);

		if (tle->resjunk)
			junk = lappend(junk, tle);
		else
		{
			tle->resno = ++resno;
			tl = lappend(tl, tle);
		}
	}
	for (i = 0; i < nrt; i++)
	{
		int			rti;
		RangeTblEntry *rte;
		AttrNumber	attnum;
		Oid			typid;
		int32		typmod;
		Oid			collid;
		char		resname[NAMEDATALEN];

		if (rtnulls[i] || colnulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("range-table indexes and columns must not be null")));
		rti = DatumGetInt32(rtis[i]);
		if (rti < 1 || rti > list_length(q->rtable) ||
			(rte = rt_fetch(rti, q->rtable))->rtekind != RTE_RELATION)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("range-table index %d is not a table of the query", rti)));
		attnum = get_attnum(rte->relid, NameStr(*DatumGetName(colnames[i])));
		if (attnum <= 0)
			ereport(ERROR,
					(errcode(ERRCODE_UNDEFINED_COLUMN),
					 errmsg("column \"%s\" of relation %s does not exist",
							NameStr(*DatumGetName(colnames[i])), get_rel_name(rte->relid))));
		get_atttypetypmodcoll(rte->relid, attnum, &typid, &typmod, &collid);
		check_type(typid);
		snprintf(resname, sizeof(resname), SUBJECTS_PREFIX "%d", i + 1);
		tl = lappend(tl, makeTargetEntry((Expr *) make_count_distinct(makeVar(rti, attnum, typid, typmod, collid, 0)),
										 ++resno, pstrdup(resname), false));
	}
	foreach(lc, junk)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);

		tle->resno = ++resno;
		tl = lappend(tl, tle);
	}
	q->targetList = tl;

	/* qualify every name that the pinned search_path would not find */
	begin_as_role(role, &save);
	def = pg_get_querydef(q, false);
	pgp_end_as_owner(&save);
	PG_RETURN_TEXT_P(cstring_to_text(def));
}

PG_FUNCTION_INFO_V1(pgp_published_rows);

/*
 * <view>_rows() RETURNS TABLE(...), LANGUAGE c, SECURITY DEFINER: the
 * row function of a published view, created by privacy_internal._publish() and
 * owned by the extension owner.  Its rows come from the definition that
 * privacy.published records for it (the safe aggregate with its
 * suppression, or the extract), run with the rights of the role that
 * published it, in a security-restricted operation with a pinned
 * search_path.  No SQL function takes a view's name or a query: a reader
 * granted the view and this function gets the published rows and nothing
 * else.
 */
Datum
pgp_published_rows(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	Oid			fn = fcinfo->flinfo->fn_oid;
	Oid			argtypes[1] = {OIDOID};
	Datum		args[1];
	char	   *body;
	char	   *creator;
	char	   *view;
	Oid			role;
	SPIPlanPtr	plan;
	Portal		portal;
	PgpAsOwner	save;
	TupleDesc	want;
	ListCell   *lc;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	want = rsinfo->setDesc;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	args[0] = ObjectIdGetDatum(fn);
	pgp_catalog_select("SELECT p.body, p.created_by::pg_catalog.text, p.view_name::pg_catalog.text"
					   "  FROM privacy.published p"
					   " WHERE p.row_function::pg_catalog.oid OPERATOR(pg_catalog.=) $1",
					   1, argtypes, args);
	if (SPI_processed != 1)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("%s is not the row function of a published view", format_procedure(fn)),
				 errhint("Publish with privacy.create_safe_aggregate() or privacy.create_pseudonymized_extract().")));
	body = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	creator = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	view = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	if (body == NULL || creator == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("published view %s has no definition", view),
				 errhint("Drop it and publish it again.")));
	role = get_role_oid(creator, false);

	begin_as_role(role, &save);
	plan = SPI_prepare(body, 0, NULL);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
	/* what the tables are now: checked again before anything is planned */
	foreach(lc, SPI_plan_get_plan_sources(plan))
	{
		CachedPlanSource *ps = (CachedPlanSource *) lfirst(lc);
		ListCell   *lc2;

		foreach(lc2, ps->query_list)
			check_sources_in_query(lfirst_node(Query, lc2), role);
	}
	portal = SPI_cursor_open(NULL, plan, NULL, NULL, true);
	for (;;)
	{
		uint64		i;

		SPI_cursor_fetch(portal, true, 1000);
		if (SPI_processed == 0)
			break;
		if (SPI_tuptable->tupdesc->natts != want->natts)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("published view %s no longer matches its definition", view)));
		for (i = 0; i < (uint64) want->natts; i++)
			if (TupleDescAttr(SPI_tuptable->tupdesc, i)->atttypid != TupleDescAttr(want, i)->atttypid)
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("published view %s no longer matches its definition", view)));
		for (i = 0; i < SPI_processed; i++)
			tuplestore_puttuple(rsinfo->setResult, SPI_tuptable->vals[i]);
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
	pgp_end_as_owner(&save);
	SPI_finish();
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pgp_extract_msisdn);

/*
 * _extract_msisdn(raw text) RETURNS text: the E.164 form of a phone
 * number that can be pseudonymized with pseudonymize_msisdn, or NULL.
 * An extract shows NULL for a malformed number instead of failing for
 * everyone (and never shows the raw value).
 */
Datum
pgp_extract_msisdn(PG_FUNCTION_ARGS)
{
	text	   *raw = PG_GETARG_TEXT_PP(0);
	PgpE164Result res;

	if (pgp_e164_normalize(VARDATA_ANY(raw), VARSIZE_ANY_EXHDR(raw), "DK", &res) != PGP_E164_OK)
		PG_RETURN_NULL();
	/* pseudonymize_msisdn encrypts what follows the country code and first digit */
	if (res.ndigits - (res.cc_len + 1) < 6)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text_with_len(res.number, res.ndigits + 1));
}

PG_FUNCTION_INFO_V1(pgp_extract_country);

/*
 * _extract_country(value text) RETURNS text: country_of(value), or NULL
 * where no country can be derived, so that one malformed value does not
 * make an extract fail for everyone.
 */
Datum
pgp_extract_country(PG_FUNCTION_ARGS)
{
	text	   *t = PG_GETARG_TEXT_PP(0);
	const char *s = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	PgpE164Result res;
	const char *c;
	char		iso[3];

	while (len > 0 && s[len - 1] == ' ')
		len--;					/* char(n) padding */
	if (len == 2 && isalpha((unsigned char) s[0]) && isalpha((unsigned char) s[1]))
	{
		iso[0] = pg_ascii_toupper((unsigned char) s[0]);
		iso[1] = pg_ascii_toupper((unsigned char) s[1]);
		iso[2] = '\0';
		if (pgp_e164_country_known(iso))
			PG_RETURN_TEXT_P(cstring_to_text(iso));
		PG_RETURN_NULL();
	}
	if (pgp_e164_normalize(s, len, NULL, &res) == PGP_E164_OK &&
		(c = pgp_e164_country_of(res.number + 1, res.cc_len)) != NULL)
		PG_RETURN_TEXT_P(cstring_to_text_with_len(c, 2));
	PG_RETURN_NULL();
}
