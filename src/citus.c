/*-------------------------------------------------------------------------
 *
 * citus.c
 *	  What Citus made of a table, and of this server.
 *
 * The protect trigger Citus copies onto the shards of a protected table
 * carries the table's signed rule (protect.c); what it needs from here is
 * the table a shard belongs to (pg_dist_shard) and the table's
 * distribution column (pg_dist_partition).  Elsewhere pg_privacy's
 * guarantees do not hold on tables Citus manages yet: the consent trigger
 * Citus copies onto the shards looks its requirements up by the shard's
 * OID (and refuses every row, consent.c), the purge and the subject
 * engine build statements Citus cannot plan, and an audited function
 * pushed down to a worker would write the worker's own audit chain.  Until
 * each is built for Citus, every function whose guarantee would not hold
 * refuses (0A000) and says why: never a silent pass-through.
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
#include "owner.h"
#include "schema.h"

#include "access/relation.h"
#include "catalog/pg_am.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_inherits.h"
#include "catalog/pg_namespace.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "storage/bufmgr.h"
#include "storage/lmgr.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/regproc.h"
#include "utils/rel.h"
#include "utils/syscache.h"

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

/* Is Citus installed in this database (its catalog there)? */
bool
pgp_citus_present(void)
{
	return OidIsValid(get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE));
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
				 errdetail("pg_privacy does not make this guarantee hold on tables Citus manages yet; "
						   "doc/operations.md (Citus) lists what works there."),
				 errhint("Keep the personal data this needs in tables Citus does not manage (see doc/operations.md, Citus).")));
}

/*
 * Does the table on this node (or a partition of it) hold pages of its
 * own?  A table Citus distributed keeps, on the coordinator, the rows it
 * held before, unless truncate_local_data_after_distributing_table() ran.
 */
static bool
citus_local_rows_left(Oid relid)
{
	List	   *rels;
	ListCell   *lc;
	bool		left = false;

	LockRelationOid(relid, AccessShareLock);
	if (!SearchSysCacheExists1(RELOID, ObjectIdGetDatum(relid)))
		return false;
	rels = find_all_inheritors(relid, AccessShareLock, NULL);
	foreach(lc, rels)
	{
		Relation	rel = relation_open(lfirst_oid(lc), NoLock);

		/*
		 * Heap tables only: another access method (Citus's columnar) may
		 * keep pages of its own in an empty table.
		 */
		if (RELKIND_HAS_STORAGE(rel->rd_rel->relkind) && rel->rd_rel->relam == HEAP_TABLE_AM_OID &&
			RelationGetNumberOfBlocks(rel) > 0)
			left = true;
		relation_close(rel, NoLock);
		if (left)
			break;
	}
	list_free(rels);
	return left;
}

/*
 * What export and erasure need of the registered tables where Citus is
 * (nothing elsewhere; the caller is connected to SPI), refused otherwise:
 *
 *	  0A000 while a registered table is a shard Citus made of another:
 *		Citus makes a table that references a reference table a Citus local
 *		table by renaming it into its shard and making a new one of the old
 *		name, and the declarations stay with the shard, whose rows the
 *		statements would change behind Citus;
 *	  0A000 while a table Citus manages keeps on the coordinator the rows it
 *		held before it was distributed: no query reads them and no erasure
 *		would reach them;
 *	  55000 while the owner of a table Citus manages cannot log in: the
 *		statements run as the owner, and Citus connects to the workers as
 *		that role.
 */
void
pgp_citus_refuse_unready(const char *what)
{
	int			ret;
	int			n = 0;
	Oid		   *tbls;
	uint64		i;

	if (!pgp_citus_present())
		return;
	ret = SPI_execute_plan(pgp_kept_plan("SELECT t.tbl::pg_catalog.oid FROM privacy.registered_table t", 0, NULL),
						   NULL, NULL, true, 0);
	if (ret != SPI_OK_SELECT)
		elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
	tbls = palloc(sizeof(Oid) * Max(SPI_processed, 1));
	for (i = 0; i < SPI_processed; i++)
	{
		bool		isnull;
		Datum		d = SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull);

		if (!isnull && SearchSysCacheExists1(RELOID, d))
			tbls[n++] = DatumGetObjectId(d);
	}

	/* the shards first: catalog_problems names them */
	for (i = 0; i < n; i++)
	{
		int64		shardid;
		Oid			logical = pgp_citus_shard_named(tbls[i], &shardid);

		if (OidIsValid(logical))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("%s cannot run while registered table %s is a shard Citus made of table %s", what,
							DatumGetCString(DirectFunctionCall1(regclassout, ObjectIdGetDatum(tbls[i]))),
							DatumGetCString(DirectFunctionCall1(regclassout, ObjectIdGetDatum(logical)))),
					 errdetail("Citus makes a table that references a reference table a Citus local table: it renames the table "
							   "into its shard and makes a new table of the old name. pg_privacy's declarations stayed with the shard."),
					 errhint("Declare the table Citus made (register_table, register_column) and unregister the shard; "
							 "privacy.catalog_problems lists every such table.")));
	}

	for (i = 0; i < n; i++)
	{
		char	   *name;
		HeapTuple	role;
		bool		canlogin;

		if (!pgp_citus_table(tbls[i]))
			continue;
		name = DatumGetCString(DirectFunctionCall1(regclassout, ObjectIdGetDatum(tbls[i])));
		if (citus_local_rows_left(tbls[i]))
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("%s cannot run while table %s keeps on the coordinator the rows it held before Citus distributed it",
							what, name),
					 errdetail("Citus copied them into the shards and left them in the table on the coordinator, "
							   "where no query reads them and no erasure reaches them."),
					 errhint("Remove them: SELECT truncate_local_data_after_distributing_table(%s);", quote_literal_cstr(name))));
		role = SearchSysCache1(AUTHOID, ObjectIdGetDatum(pgp_rel_owner(tbls[i])));
		canlogin = HeapTupleIsValid(role) && ((Form_pg_authid) GETSTRUCT(role))->rolcanlogin;
		if (HeapTupleIsValid(role))
			ReleaseSysCache(role);
		if (!canlogin)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("%s cannot run while the owner of table %s, which Citus manages, cannot log in", what, name),
					 errdetail("pg_privacy runs its statements over a table as the table's owner, and Citus connects to the workers as that role."),
					 errhint("Give the owner LOGIN, and let it connect from the coordinator to the workers (pg_hba.conf).")));
	}
	pfree(tbls);
}

PG_FUNCTION_INFO_V1(pgp_citus_refuse_unready_sql);

/* _citus_refuse_unready(what) */
Datum
pgp_citus_refuse_unready_sql(PG_FUNCTION_ARGS)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	pgp_citus_refuse_unready(text_to_cstring(PG_GETARG_TEXT_PP(0)));
	SPI_finish();
	PG_RETURN_VOID();
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

/* Is this node a Citus worker (its group is not the coordinator's, 0)? */
bool
pgp_citus_worker(void)
{
	CatalogProbe p = {InvalidOid, 0, false};

	return catalog_has("pg_dist_local_group", "groupid", &p) && p.first != 0;
}

PG_FUNCTION_INFO_V1(pgp_citus_shard_named_sql);

/*
 * _citus_shard_named(rel): the table Citus's catalog names rel a shard of,
 * placed on this node or not (yet), or NULL.
 */
Datum
pgp_citus_shard_named_sql(PG_FUNCTION_ARGS)
{
	int64		shardid;
	Oid			logical = pgp_citus_shard_named(PG_GETARG_OID(0), &shardid);

	if (!OidIsValid(logical))
		PG_RETURN_NULL();
	PG_RETURN_OID(logical);
}

PG_FUNCTION_INFO_V1(pgp_citus_worker_sql);

/* _citus_worker(): is this node a Citus worker? */
Datum
pgp_citus_worker_sql(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(pgp_citus_worker());
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

static Oid	citus_shard_of(Oid relid, int64 *shardid, bool placed);

/* What a scan of pg_dist_shard or pg_dist_partition looks for. */
typedef struct ShardProbe
{
	int64		shardid;		/* the shard to find (pg_dist_shard) */
	Oid			relid;			/* the table to find (pg_dist_partition) */
	int32		group;			/* the node group to find (pg_dist_placement) */
	Oid			found_relid;	/* its logical table */
	char	   *partkey;		/* its distribution key, as Citus wrote it */
	bool		found;
} ShardProbe;

static bool
shard_row(Datum *values, bool *nulls, void *arg)
{
	ShardProbe *p = (ShardProbe *) arg;

	if (nulls[0] || nulls[1] || DatumGetInt64(values[0]) != p->shardid)
		return true;
	p->found_relid = DatumGetObjectId(values[1]);
	p->found = true;
	return false;
}

static bool
placement_row(Datum *values, bool *nulls, void *arg)
{
	ShardProbe *p = (ShardProbe *) arg;

	if (nulls[0] || nulls[1] || DatumGetInt64(values[0]) != p->shardid ||
		DatumGetInt32(values[1]) != p->group)
		return true;
	p->found = true;
	return false;
}

/*
 * The logical table whose shard relation relid is, by Citus's catalog, with
 * the shard's id in *shardid; InvalidOid when relid is no shard placed on
 * this node.  A shard is named after its table, "<table>_<shard id>", in
 * the table's schema (pg_dist_shard), and this node holds a placement of it
 * (pg_dist_placement, this node's group in pg_dist_local_group): a table of
 * that name on a node without the placement is no shard.  (Citus cuts and
 * hashes the name of a table too long for the suffix: such shards are not
 * recognised, so protect() refuses those names.)
 */
Oid
pgp_citus_shard_of(Oid relid, int64 *shardid)
{
	return citus_shard_of(relid, shardid, true);
}

/*
 * The same, placed on this node or not (yet): the table a shard being
 * created here belongs to, before its placement is recorded (a move).
 */
Oid
pgp_citus_shard_named(Oid relid, int64 *shardid)
{
	return citus_shard_of(relid, shardid, false);
}

static Oid
citus_shard_of(Oid relid, int64 *shardid, bool placed)
{
	char	   *relname = get_rel_name(relid);
	Oid			catalog = get_relname_relid("pg_dist_shard", PG_CATALOG_NAMESPACE);
	Oid			placements = get_relname_relid("pg_dist_placement", PG_CATALOG_NAMESPACE);
	const char *cols[2] = {"shardid", "logicalrelid"};
	const char *pcols[2] = {"shardid", "groupid"};
	const char *us;
	const char *d;
	char	   *logical;
	char		expect[NAMEDATALEN * 2];
	ShardProbe	p;
	CatalogProbe g = {InvalidOid, 0, false};

	if (relname == NULL || !OidIsValid(catalog) || !OidIsValid(placements))
		return InvalidOid;
	us = strrchr(relname, '_');
	if (us == NULL || us[1] == '\0' || us[1] == '0' || strlen(us + 1) > 18)
		return InvalidOid;
	for (d = us + 1; *d; d++)
		if (*d < '0' || *d > '9')
			return InvalidOid;
	memset(&p, 0, sizeof(p));
	p.shardid = strtoll(us + 1, NULL, 10);
	if (!pgp_scan_latest(catalog, cols, 2, shard_row, &p) || !p.found)
		return InvalidOid;
	/* in its table's schema, named exactly after it */
	if (get_rel_namespace(p.found_relid) != get_rel_namespace(relid))
		return InvalidOid;
	logical = get_rel_name(p.found_relid);
	if (logical == NULL)
		return InvalidOid;
	snprintf(expect, sizeof(expect), "%s_" INT64_FORMAT, logical, p.shardid);
	if (strcmp(expect, relname) != 0)
		return InvalidOid;
	/* placed on this node */
	if (!placed)
	{
		*shardid = p.shardid;
		return p.found_relid;
	}
	if (!catalog_has("pg_dist_local_group", "groupid", &g))
		return InvalidOid;
	{
		ShardProbe	q;

		memset(&q, 0, sizeof(q));
		q.shardid = p.shardid;
		q.group = g.first;
		if (!pgp_scan_latest(placements, pcols, 2, placement_row, &q) || !q.found)
			return InvalidOid;
	}
	*shardid = p.shardid;
	return p.found_relid;
}

static bool
partition_row(Datum *values, bool *nulls, void *arg)
{
	ShardProbe *p = (ShardProbe *) arg;

	if (nulls[0] || DatumGetObjectId(values[0]) != p->relid)
		return true;
	p->found = true;
	p->partkey = nulls[1] ? NULL : TextDatumGetCString(values[1]);
	return false;
}

/*
 * The distribution column of a table Citus manages (InvalidAttrNumber for
 * a reference table, which has none), read from pg_dist_partition's
 * partkey (a Var: ":varattno N"); *known false when the table is not
 * there or the key cannot be read.
 */
AttrNumber
pgp_citus_dist_attnum(Oid logicalrelid, bool *known)
{
	Oid			catalog = get_relname_relid("pg_dist_partition", PG_CATALOG_NAMESPACE);
	const char *cols[2] = {"logicalrelid", "partkey"};
	ShardProbe	p;
	const char *v;
	long		attno;
	char	   *end;

	*known = false;
	memset(&p, 0, sizeof(p));
	p.relid = logicalrelid;
	if (!OidIsValid(catalog) || !pgp_scan_latest(catalog, cols, 2, partition_row, &p) || !p.found)
		return InvalidAttrNumber;
	if (p.partkey == NULL || p.partkey[0] == '\0')
	{
		*known = true;
		return InvalidAttrNumber;
	}
	v = strstr(p.partkey, ":varattno ");
	if (v == NULL)
		return InvalidAttrNumber;
	attno = strtol(v + strlen(":varattno "), &end, 10);
	if (end == v + strlen(":varattno ") || attno <= 0 || attno > MaxAttrNumber)
		return InvalidAttrNumber;
	*known = true;
	return (AttrNumber) attno;
}

PG_FUNCTION_INFO_V1(pgp_citus_dist_column);

/* _citus_dist_column(tbl): the distribution column's name, or NULL. */
Datum
pgp_citus_dist_column(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	bool		known;
	AttrNumber	a = pgp_citus_dist_attnum(relid, &known);
	char	   *name;

	if (!known)
	{
		if (pgp_citus_table(relid))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("cannot read the distribution column of table %s", get_rel_name(relid))));
		PG_RETURN_NULL();
	}
	if (a == InvalidAttrNumber || (name = get_attname(relid, a, true)) == NULL)
		PG_RETURN_NULL();
	PG_RETURN_TEXT_P(cstring_to_text(name));
}
