/*-------------------------------------------------------------------------
 *
 * citus.c
 *	  What Citus made of a table, and of this server.
 *
 * pg_privacy's guarantees do not hold on tables Citus manages yet: the
 * per-row triggers Citus copies onto the shards look their rules up by the
 * shard's OID (and now refuse every row, protect.c and consent.c), the
 * purge and the subject engine build statements Citus cannot plan, and an
 * audited function pushed down to a worker would write the worker's own
 * audit chain.  Until each is built for Citus, every function whose
 * guarantee would not hold refuses (0A000) and says why: never a silent
 * pass-through.
 *
 * Citus is recognised by its catalog, read directly (no Citus function is
 * called, so nothing here needs Citus loaded): a table Citus distributes,
 * replicates or manages has a row in pg_dist_partition; a worker's
 * pg_dist_local_group has a group other than 0 (the coordinator's).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "citus.h"

#include "access/heapam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "access/tableam.h"
#include "catalog/pg_namespace.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

/* Is some row's column `col` (an OID or int) of pg_catalog.`catalog` equal to value? */
static bool
catalog_has(const char *catalog, const char *col, Oid value, bool *exists, int32 *first)
{
	Oid			relid = get_relname_relid(catalog, PG_CATALOG_NAMESPACE);
	Relation	rel;
	TableScanDesc scan;
	HeapTuple	tup;
	AttrNumber	attno = InvalidAttrNumber;
	Snapshot	snap;
	bool		found = false;
	int			i;

	*exists = OidIsValid(relid);
	if (!*exists)
		return false;
	rel = table_open(relid, AccessShareLock);
	for (i = 0; i < RelationGetDescr(rel)->natts; i++)
		if (strcmp(NameStr(TupleDescAttr(RelationGetDescr(rel), i)->attname), col) == 0)
			attno = i + 1;
	if (attno == InvalidAttrNumber)
	{
		table_close(rel, AccessShareLock);
		return false;
	}
	snap = RegisterSnapshot(GetLatestSnapshot());
	scan = table_beginscan(rel, snap, 0, NULL);
	while (!found && (tup = heap_getnext(scan, ForwardScanDirection)) != NULL)
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, attno, RelationGetDescr(rel), &isnull);

		if (isnull)
			continue;
		if (first != NULL)
		{
			*first = DatumGetInt32(d);
			found = true;
		}
		else
			found = DatumGetObjectId(d) == value;
	}
	table_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);
	return found;
}

/* Does Citus distribute, replicate or manage the table? */
bool
pgp_citus_table(Oid relid)
{
	bool		exists;

	return catalog_has("pg_dist_partition", "logicalrelid", relid, &exists, NULL);
}

void
pgp_citus_refuse(Oid relid, const char *what)
{
	if (pgp_citus_table(relid))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s is not supported on table %s, which Citus manages", what,
						get_rel_name(relid)),
				 errdetail("pg_privacy's guarantees do not hold on Citus tables yet: the triggers Citus copies onto the shards "
						   "do not find the table's declarations, and pg_privacy's statements are not planned for distributed tables."),
				 errhint("Keep the personal data this needs in tables Citus does not manage (see doc/operations.md, Citus).")));
}

PG_FUNCTION_INFO_V1(pgp_citus_refuse_sql);

/* _citus_refuse(tbl, what): 0A000 when Citus manages tbl. */
Datum
pgp_citus_refuse_sql(PG_FUNCTION_ARGS)
{
	if (!PG_ARGISNULL(0) && !PG_ARGISNULL(1))
		pgp_citus_refuse(PG_GETARG_OID(0), text_to_cstring(PG_GETARG_TEXT_PP(1)));
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(pgp_citus_table_sql);

Datum
pgp_citus_table_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(pgp_citus_table(PG_GETARG_OID(0)));
}

PG_FUNCTION_INFO_V1(pgp_citus_refuse_worker);

/*
 * _citus_refuse_worker(what): 0A000 on a Citus worker.  Audited functions
 * run on the coordinator only, so that every entry lands in one chain.
 */
Datum
pgp_citus_refuse_worker(PG_FUNCTION_ARGS)
{
	bool		exists;
	int32		group = 0;

	(void) catalog_has("pg_dist_local_group", "groupid", InvalidOid, &exists, &group);
	if (exists && group != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s cannot run on a Citus worker", text_to_cstring(PG_GETARG_TEXT_PP(0))),
				 errdetail("It writes pg_privacy's audit log, which is kept on the coordinator (group 0); this node is group %d.", group),
				 errhint("Run it on the coordinator, outside queries Citus pushes down to the workers.")));
	PG_RETURN_VOID();
}
