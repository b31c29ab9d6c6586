/*-------------------------------------------------------------------------
 *
 * engine.h
 *	  What the subject engine (src/engine.c) offers the API entry points
 *	  written in C (src/rights.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGP_ENGINE_H
#define PGP_ENGINE_H

#include "postgres.h"

#include "fmgr.h"
#include "nodes/execnodes.h"
#include "nodes/pg_list.h"
#include "utils/timestamp.h"

/* One line of an erasure's report. */
typedef struct PgpErasureRow
{
	Oid			tbl;			/* table_name */
	char	   *action;			/* delete, keep, scrub, pseudonymize, restrict */
	int64		rows;
	char	   *reason;
	TimestampTz until;			/* kept_until, unless until_null */
	bool		until_null;
} PgpErasureRow;

/*
 * The erasure of the subject of (kind, value) at `at`: its report, a list
 * of PgpErasureRow allocated in cxt.  fcinfo is the calling function's
 * (the engine keeps per-function state in its fn_extra).
 */
extern List *pgp_engine_erase(FunctionCallInfo fcinfo, MemoryContext cxt, text *kind, text *value,
							  Datum at, bool at_null);

/*
 * _subject_export(kind, value, at): the export document; export_subject
 * calls it with its own arguments, which are in the same places.
 */
extern PGDLLEXPORT Datum pgp_subject_export(PG_FUNCTION_ARGS);

/* the report's rows into the result set (InitMaterializedSRF made) */
extern void pgp_engine_report_put(ReturnSetInfo *rsinfo, List *rows);

/* the identifiers the last erasure of this transaction acted on */
extern bool pgp_engine_erased(Datum *kinds, Datum *vals, Datum *spans);

#endif							/* PGP_ENGINE_H */
