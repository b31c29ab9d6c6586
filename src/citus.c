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
#include "schema.h"

#include "catalog/pg_namespace.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"

/* What a scan of a Citus catalog looks for: an OID, or the first int4. */
typedef struct CatalogProbe
{
	Oid			value;			/* the OID to find, or InvalidOid */
	int32		first;			/* the first row's value, when value is invalid */
	bool		found;
} CatalogProbe;

static bool
probe_row(Datum *values, bool *nulls, void *arg)
{
	CatalogProbe *p = (CatalogProbe *) arg;

	if (nulls[0])
		return true;
	if (!OidIsValid(p->value))
		p->first = DatumGetInt32(values[0]);
	p->found = !OidIsValid(p->value) || DatumGetObjectId(values[0]) == p->value;
	return !p->found;
}

/*
 * Does a row's column `col` of pg_catalog.`catalog` hold value (or, for
 * InvalidOid, is there a row: its value in p->first)?  False when Citus's
 * catalog is not there.
 */
static bool
catalog_has(const char *catalog, const char *col, CatalogProbe *p)
{
	Oid			relid = get_relname_relid(catalog, PG_CATALOG_NAMESPACE);
	const char *cols[1] = {col};

	p->found = false;
	return OidIsValid(relid) && pgp_scan_latest(relid, cols, 1, probe_row, p) && p->found;
}

/* Does Citus distribute, replicate or manage the table? */
bool
pgp_citus_table(Oid relid)
{
	CatalogProbe p = {relid, 0, false};

	return catalog_has("pg_dist_partition", "logicalrelid", &p);
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

/*
 * 0A000 on a Citus worker (a node whose group is not the coordinator's, 0):
 * what runs there would read or write pg_privacy's catalog, consent
 * register or audit log, which are kept on the coordinator; why says which.
 */
void
pgp_citus_refuse_on_worker(const char *what, const char *why)
{
	CatalogProbe p = {InvalidOid, 0, false};

	if (catalog_has("pg_dist_local_group", "groupid", &p) && p.first != 0)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("%s cannot run on a Citus worker", what),
				 errdetail("%s, which is kept on the coordinator (group 0); this node is group %d.", why, p.first),
				 errhint("Run it on the coordinator, outside queries Citus pushes down to the workers.")));
}

PG_FUNCTION_INFO_V1(pgp_citus_refuse_worker);

/*
 * _citus_refuse_worker(what): 0A000 on a Citus worker.  Audited functions
 * run on the coordinator only, so that every entry lands in one chain.
 */
Datum
pgp_citus_refuse_worker(PG_FUNCTION_ARGS)
{
	pgp_citus_refuse_on_worker(text_to_cstring(PG_GETARG_TEXT_PP(0)),
							   "It writes pg_privacy's audit log");
	PG_RETURN_VOID();
}
