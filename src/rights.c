/*-------------------------------------------------------------------------
 *
 * rights.c
 *	  privacy.export_subject and privacy.erase_subject: the API entries of
 *	  the subject engine (src/engine.c) for access (GDPR Art. 15 and 20)
 *	  and erasure (Art. 17).
 *
 * They are C, not PL/pgSQL, because an export or an erasure of a typical
 * subscriber takes two milliseconds, and a PL/pgSQL wrapper (which passed
 * the erasure's report through jsonb and back) added a sixth to it (make
 * bench, 60_subject).  The SQL functions they call (the audit's, the
 * erasure ledger's) are called as they are, as kept plans.  Both run as
 * API entry points (SET pg_privacy.definer = 'api', src/caller.c): as
 * the extension owner, the caller recorded.
 *
 * export_subject, as src/sql/72_subject_export.sql declares it:
 *
 *	  1. refused (0A000) on a Citus worker, and while a table Citus
 *		 manages is not ready for it (pgp_citus_refuse_unready: a table
 *		 Citus made a shard of another, former rows left on the
 *		 coordinator, an owner that cannot log in); on the coordinator the
 *		 tables Citus manages are read as the others (the owner's
 *		 statements are planned per run there: src/owner.c);
 *	  2. the identifier normalized (22004 null, 22023 unknown kind, 22P02 a
 *		 value with no normal form);
 *	  3. the document (the engine's _subject_export), read in one snapshot
 *		 taken at the call;
 *	  4. one audit entry: the kind, the subject's keyed reference, how many
 *		 identifiers, and the rows per table.
 *
 * erase_subject:
 *
 *	  1. refused as export_subject is; an erasure that would keep rows
 *		 refuses (0A000) while Citus manages a subject table, since the
 *		 restriction of what it keeps cannot be checked there
 *		 (_restrict_ids);
 *	  2. the identifier normalized (22004 null, 22023 unknown kind, 22P02
 *		 a value with no normal form); dry_run not null (22004); the
 *		 transaction at READ COMMITTED (55000): a snapshot taken earlier
 *		 could miss rows written concurrently;
 *	  3. with an erasure ledger, refused while the database is behind it
 *		 (_ledger_check, 55000);
 *	  4. the erasure by the subject engine (src/engine.c); a dry run does
 *		 it in a subtransaction rolled back, so that its report is exactly
 *		 what an erasure would do now;
 *	  5. with a ledger, the entry queued for the file (_ledger_record:
 *		 written when the transaction commits, src/ledger.c);
 *	  6. one audit entry: the kind, the subject's keyed reference and the
 *		 report without its reasons;
 *	  7. the report returned.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "citus.h"
#include "engine.h"
#include "identifier.h"
#include "ledger.h"
#include "owner.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/regproc.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

/*
 * What both entries check first, in the active snapshot: not on a Citus
 * worker (0A000: the audit log and the catalog are the coordinator's),
 * kind and value not null (22004, the statement hidden: it may name the
 * subject), the value in its kind's normal form (22023, 22P02).  Returns
 * the normal form; *kind and *value are the arguments.
 */
static text *
rights_subject(FunctionCallInfo fcinfo, const char *what, text **kind, text **value)
{
	pgp_citus_refuse_on_worker(what, "It reads pg_privacy's catalog and writes its audit log");
	pgp_citus_refuse_unready(what);
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errhidestmt(true),
				 errmsg("identifier kind and value must not be null")));
	*kind = PG_GETARG_TEXT_PP(0);
	*value = PG_GETARG_TEXT_PP(1);
	return pgp_normalize_identifier(pgp_identifier_kind_norm(text_to_cstring(*kind)),
									VARDATA_ANY(*value), VARSIZE_ANY_EXHDR(*value),
									pgp_default_country, false);
}

/* A string, or null, as a jsonb value. */
static void
jb_string(JsonbParseState **st, const char *s)
{
	JsonbValue	v;

	if (s == NULL)
		v.type = jbvNull;
	else
	{
		v.type = jbvString;
		v.val.string.val = (char *) s;
		v.val.string.len = strlen(s);
	}
	pushJsonbValue(st, WJB_VALUE, &v);
}

static void
jb_key(JsonbParseState **st, const char *k)
{
	JsonbValue	v;

	v.type = jbvString;
	v.val.string.val = (char *) k;
	v.val.string.len = strlen(k);
	pushJsonbValue(st, WJB_KEY, &v);
}

/*
 * The report as a jsonb array, each row as to_jsonb() makes it (table_name
 * as regclass text, kept_until as a JSON time stamp); with_reason false
 * leaves the reasons out (the audit entry's report).
 */
static Datum
erasure_report_jsonb(List *rows, bool with_reason)
{
	JsonbParseState *st = NULL;
	JsonbValue *res;
	ListCell   *lc;

	pushJsonbValue(&st, WJB_BEGIN_ARRAY, NULL);
	foreach(lc, rows)
	{
		PgpErasureRow *r = (PgpErasureRow *) lfirst(lc);
		JsonbValue	n;

		pushJsonbValue(&st, WJB_BEGIN_OBJECT, NULL);
		jb_key(&st, "rows");
		n.type = jbvNumeric;
		n.val.numeric = DatumGetNumeric(DirectFunctionCall1(int8_numeric, Int64GetDatum(r->rows)));
		pushJsonbValue(&st, WJB_VALUE, &n);
		jb_key(&st, "action");
		jb_string(&st, r->action);
		if (with_reason)
		{
			jb_key(&st, "reason");
			jb_string(&st, r->reason);
		}
		jb_key(&st, "kept_until");
		jb_string(&st, r->until_null ? NULL
				  : JsonEncodeDateTime(NULL, TimestampTzGetDatum(r->until), TIMESTAMPTZOID, NULL));
		jb_key(&st, "table_name");
		jb_string(&st, DatumGetCString(DirectFunctionCall1(regclassout, ObjectIdGetDatum(r->tbl))));
		pushJsonbValue(&st, WJB_END_OBJECT, NULL);
	}
	res = pushJsonbValue(&st, WJB_END_ARRAY, NULL);
	return JsonbPGetDatum(JsonbValueToJsonb(res));
}

/*
 * The erasure's ledger entry, when the erasure found something: queued by
 * _ledger_record with the identifiers it acted on, found under its locks.
 */
static void
erasure_ledger_record(Datum state, Oid state_type, List *rows, Datum at, bool at_null)
{
	Oid			types[6] = {state_type, TEXTARRAYOID, TEXTARRAYOID, TSTZMULTIRANGEARRAYOID,
	JSONBOID, TIMESTAMPTZOID};
	Datum		vals[6];
	char		nulls[6] = {' ', ' ', ' ', ' ', ' ', ' '};
	int			ret;

	if (rows == NIL)
		return;					/* nothing a restore could bring back */
	vals[0] = state;
	if (!pgp_engine_erased(&vals[1], &vals[2], &vals[3]))
		nulls[1] = nulls[2] = nulls[3] = 'n';
	vals[4] = erasure_report_jsonb(rows, true);
	vals[5] = at;
	nulls[5] = at_null ? 'n' : ' ';
	ret = SPI_execute_plan(pgp_kept_plan("SELECT privacy_internal._ledger_record($1, $2, $3, $4, $5, $6)",
										 6, types),
						   vals, nulls, false, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
}

/*
 * The erasure, rolled back: what it would do now.  Every error it raises
 * is raised again after the rollback, an assertion failure (P0004) of a
 * table owner's trigger too: a dry run either reports the whole erasure
 * or fails.
 */
static List *
erasure_dry_run(FunctionCallInfo fcinfo, MemoryContext cxt, text *kind, text *value,
				Datum at, bool at_null)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	ResourceOwner oldowner = CurrentResourceOwner;
	List	   *rows;

	BeginInternalSubTransaction(NULL);
	MemoryContextSwitchTo(oldcxt);
	PG_TRY();
	{
		rows = pgp_engine_erase(fcinfo, cxt, kind, value, at, at_null);
	}
	PG_CATCH();
	{
		ErrorData  *edata;

		MemoryContextSwitchTo(cxt);
		edata = CopyErrorData();
		FlushErrorState();
		RollbackAndReleaseCurrentSubTransaction();
		MemoryContextSwitchTo(oldcxt);
		CurrentResourceOwner = oldowner;
		ReThrowError(edata);
	}
	PG_END_TRY();
	RollbackAndReleaseCurrentSubTransaction();
	MemoryContextSwitchTo(oldcxt);
	CurrentResourceOwner = oldowner;
	return rows;
}

PG_FUNCTION_INFO_V1(pgp_erase_subject);

/*
 * erase_subject(kind, value, dry_run, at): the erasure, its ledger entry
 * and audit entry, and its report (table_name, action, rows, reason,
 * kept_until).
 */
Datum
pgp_erase_subject(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MemoryContext cxt = CurrentMemoryContext;
	text	   *kind;
	text	   *value;
	text	   *norm;
	bool		dry_run;
	Datum		at = PG_ARGISNULL(3) ? (Datum) 0 : PG_GETARG_DATUM(3);
	bool		at_null = PG_ARGISNULL(3);
	List	   *rows;
	int			ret;

	/* the report's set, made before any work: a caller that cannot take one fails first */
	InitMaterializedSRF(fcinfo, 0);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/*
	 * The checks read the catalog in a snapshot taken now, as each
	 * statement of a PL/pgSQL function would, not the calling statement's.
	 */
	PushActiveSnapshot(GetTransactionSnapshot());
	norm = rights_subject(fcinfo, "erase_subject", &kind, &value);
	PopActiveSnapshot();
	if (PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("dry_run must not be null")));
	dry_run = PG_GETARG_BOOL(2);
	if (XactIsoLevel != XACT_READ_COMMITTED)
	{
		const char *level = GetConfigOption("transaction_isolation", false, false);

		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("erase_subject must run at isolation level READ COMMITTED"),
				 errdetail("The transaction runs at %s; its snapshot could miss rows written concurrently.",
						   level)));
	}

	if (dry_run)
		rows = erasure_dry_run(fcinfo, cxt, kind, value, at, at_null);
	else
	{
		Datum		ledger = (Datum) 0;
		Oid			ledger_type = InvalidOid;
		bool		ledger_on = false;

		/*
		 * With an erasure ledger: refused while the database is behind it
		 * (src/sql/75_subject_ledger.sql)
		 */
		if (pgp_erasure_ledger_file != NULL && pgp_erasure_ledger_file[0] != '\0')
		{
			bool		isnull;

			ret = SPI_execute_plan(pgp_kept_plan("SELECT privacy_internal._ledger_check()", 0, NULL),
								   NULL, NULL, false, 0);
			if (ret != SPI_OK_SELECT || SPI_processed != 1)
				elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
			ledger = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
			if (!isnull)
			{
				ledger_type = SPI_gettypeid(SPI_tuptable->tupdesc, 1);
				ledger = datumCopy(ledger, false, -1);
				(void) GetAttributeByName(DatumGetHeapTupleHeader(ledger), "database_id", &isnull);
				ledger_on = !isnull;
			}
		}
		rows = pgp_engine_erase(fcinfo, cxt, kind, value, at, at_null);
		if (ledger_on)
			erasure_ledger_record(ledger, ledger_type, rows, at, at_null);
	}

	/* the audit entry: the report without its reasons */
	{
		Oid			types[4] = {TEXTOID, TEXTOID, TEXTOID, JSONBOID};
		Datum		vals[4];

		vals[0] = CStringGetTextDatum(dry_run ? "subject.erase_dry_run" : "subject.erase");
		vals[1] = PointerGetDatum(kind);
		vals[2] = PointerGetDatum(norm);
		vals[3] = erasure_report_jsonb(rows, false);
		ret = SPI_execute_plan(pgp_kept_plan("SELECT privacy_internal._audit($1, NULL,"
											 " pg_catalog.jsonb_build_object('kind', $2,"
											 " 'subject', privacy_internal._audit_ref($2, $3), 'report', $4))",
											 4, types),
							   vals, NULL, false, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	}
	SPI_finish();

	pgp_engine_report_put(rsinfo, rows);
	return (Datum) 0;
}

PG_FUNCTION_INFO_V1(pgp_export_subject);

/*
 * export_subject(kind, value, at): the document of _subject_export, and
 * its audit entry.  Its arguments are _subject_export's, in the same
 * places: the engine reads them from this call.
 */
Datum
pgp_export_subject(PG_FUNCTION_ARGS)
{
	MemoryContext cxt = CurrentMemoryContext;
	text	   *kind;
	text	   *value;
	text	   *norm;
	Datum		doc;
	int			ret;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* a snapshot taken now, for the checks and the whole document */
	PushActiveSnapshot(GetTransactionSnapshot());
	norm = rights_subject(fcinfo, "export_subject", &kind, &value);

	/* the document, made in the caller's memory (it outlives this SPI connection) */
	{
		MemoryContext spicxt = MemoryContextSwitchTo(cxt);

		doc = pgp_subject_export(fcinfo);
		MemoryContextSwitchTo(spicxt);
	}
	PopActiveSnapshot();

	/* the audit entry: how many identifiers, the rows per table */
	{
		Oid			types[3] = {TEXTOID, TEXTOID, JSONBOID};
		Datum		vals[3] = {PointerGetDatum(kind), PointerGetDatum(norm), doc};

		ret = SPI_execute_plan(pgp_kept_plan("SELECT privacy_internal._audit('subject.export', NULL,"
											 " pg_catalog.jsonb_build_object('kind', $1,"
											 " 'subject', privacy_internal._audit_ref($1, $2),"
											 " 'identifiers', pg_catalog.jsonb_array_length($3 OPERATOR(pg_catalog.->) 'identifiers'),"
											 " 'tables', (SELECT COALESCE(pg_catalog.jsonb_object_agg(e OPERATOR(pg_catalog.->>) 'table',"
											 " pg_catalog.jsonb_array_length(e OPERATOR(pg_catalog.->) 'rows')"
											 " OPERATOR(pg_catalog.+) pg_catalog.jsonb_array_length(e OPERATOR(pg_catalog.->) 'mentions')), '{}')"
											 " FROM pg_catalog.jsonb_array_elements($3 OPERATOR(pg_catalog.->) 'tables') e)))",
											 3, types),
							   vals, NULL, false, 0);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	}
	SPI_finish();
	PG_RETURN_DATUM(doc);
}
