/*-------------------------------------------------------------------------
 *
 * analytics.c
 *	  Checks behind safe aggregates for business intelligence.
 *
 * privacy.create_safe_aggregate() publishes a grouped query as a view
 * whose small groups are suppressed.  That is only sound if the query is
 * what it claims to be: one plain grouped SELECT whose group size is
 * really count(*), with no window function that could carry a suppressed
 * group's figures into a published row, and no grouping sets whose
 * totals would give suppressed groups away by subtraction.  Text
 * inspection cannot decide that, so _analyze_grouped_query() runs the
 * parser and parse analysis and reads the query tree.
 *
 *-------------------------------------------------------------------------
 */
#include "pg_privacy.h"

#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "funcapi.h"
#include "nodes/nodeFuncs.h"
#include "optimizer/clauses.h"
#include "parser/analyze.h"
#include "parser/parser.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/lsyscache.h"
#include "utils/tuplestore.h"

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
 * Classify one output expression: 'group' (not an aggregate), 'count'
 * (count(*) without FILTER or DISTINCT: a true group size), 'sum' (sum of
 * something: additive, so a total over published groups is meaningful),
 * or 'other' (any other aggregate or an expression over aggregates).
 */
static const char *
classify(Node *expr)
{
	Aggref	   *agg;
	char	   *fname;

	if (!IsA(expr, Aggref))
		return contain_agg_clause(expr) ? "other" : "group";
	agg = (Aggref *) expr;
	if (agg->aggfnoid == F_COUNT_ && agg->aggstar && agg->aggfilter == NULL &&
		agg->aggdistinct == NIL)
		return "count";
	fname = get_func_name(agg->aggfnoid);
	if (fname != NULL && strcmp(fname, "sum") == 0 &&
		get_func_namespace(agg->aggfnoid) == PG_CATALOG_NAMESPACE &&
		agg->aggfilter == NULL && agg->aggdistinct == NIL)
		return "sum";
	return "other";
}

PG_FUNCTION_INFO_V1(pgp_analyze_grouped_query);

/*
 * _analyze_grouped_query(query text)
 *		RETURNS TABLE(col name, type text, kind text)
 *
 * Parses and analyzes query (as the calling role: tables it cannot read
 * are refused here already) and returns its output columns with their
 * types and classification, or raises 22023 when the query is not a single
 * plain grouped SELECT.
 */
Datum
pgp_analyze_grouped_query(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *sql = text_to_cstring(PG_GETARG_TEXT_PP(0));
	List	   *raw;
	RawStmt    *rs;
	Query	   *q;
	ListCell   *lc;
	List	   *seen = NIL;

	InitMaterializedSRF(fcinfo, 0);

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
	if (q->groupingSets != NIL)
		bad_query("the query of a safe aggregate must not use GROUPING SETS, ROLLUP or CUBE",
				  "Their totals would reveal suppressed groups by subtraction; use with_total => true, which totals the published groups only.");
	if (q->groupClause == NIL)
		bad_query("the query of a safe aggregate must be a grouped SELECT",
				  "Add a GROUP BY clause and count(*) AS n to the select list.");
	if (q->hasWindowFuncs)
		bad_query("the query of a safe aggregate must not use window functions",
				  "A window over the groups would carry suppressed groups into published rows.");

	foreach(lc, q->targetList)
	{
		TargetEntry *tle = lfirst_node(TargetEntry, lc);
		Datum		values[3];
		bool		nulls[3] = {false, false, false};
		ListCell   *lc2;

		if (tle->resjunk)
			continue;
		if (tle->resname == NULL || strcmp(tle->resname, "?column?") == 0)
			bad_query("every column of a safe aggregate needs a name",
					  "Name each expression with AS.");
		foreach(lc2, seen)
		{
			if (strcmp((char *) lfirst(lc2), tle->resname) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("column name \"%s\" appears more than once in the query of a safe aggregate",
								tle->resname)));
		}
		seen = lappend(seen, tle->resname);

		values[0] = DirectFunctionCall1(namein, CStringGetDatum(tle->resname));
		values[1] = CStringGetTextDatum(format_type_with_typemod(exprType((Node *) tle->expr),
																 exprTypmod((Node *) tle->expr)));
		values[2] = CStringGetTextDatum(classify((Node *) tle->expr));
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
