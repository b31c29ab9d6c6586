/*-------------------------------------------------------------------------
 *
 * schema.c
 *	  pg_privacy's two schemas, and where this database keeps its helpers.
 *
 * The API lives in the schema privacy; since 0.3.0 the internal helpers
 * live in privacy_internal, which only the extension owner can create
 * objects in.  A database still at 0.2.0 or 0.1.0 (the library is
 * replaced before ALTER EXTENSION pg_privacy UPDATE runs) has them in
 * privacy.  The statements the library runs name helpers through
 * pgp_internal_sql() and look them up through pgp_internal_func(), which
 * find them where this database has them, so the protect, consent and
 * restriction triggers and the event triggers of an older database keep
 * working until (and while) the update moves them.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "schema.h"

#include "access/table.h"
#include "access/tableam.h"
#include "catalog/namespace.h"
#include "executor/tuptable.h"
#include "lib/stringinfo.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/builtins.h"
#include "utils/jsonb.h"
#include "utils/rel.h"
#include "utils/snapmgr.h"

#define INTERNAL_PREFIX "privacy_internal."

/*
 * sql as this database needs it: every privacy_internal.name read as
 * privacy.name while the schema privacy_internal does not exist (a
 * database at 0.2.0 or older).  Returns sql itself or a palloc'd copy.
 */
const char *
pgp_internal_sql(const char *sql)
{
	StringInfoData buf;
	const char *p;
	const char *hit;

	if (strstr(sql, INTERNAL_PREFIX) == NULL ||
		OidIsValid(get_namespace_oid("privacy_internal", true)))
		return sql;
	initStringInfo(&buf);
	for (p = sql; (hit = strstr(p, INTERNAL_PREFIX)) != NULL; p = hit + strlen(INTERNAL_PREFIX))
	{
		appendBinaryStringInfo(&buf, p, hit - p);
		appendStringInfoString(&buf, "privacy.");
	}
	appendStringInfoString(&buf, p);
	return buf.data;
}

/*
 * The OID of the internal helper name(argtypes): in privacy_internal, or
 * in privacy in a database whose update has not moved it yet.  Only the
 * extension owner creates objects in either schema.
 */
Oid
pgp_internal_func(const char *name, int nargs, const Oid *argtypes)
{
	Oid			fn = InvalidOid;

	if (OidIsValid(get_namespace_oid("privacy_internal", true)))
		fn = LookupFuncName(list_make2(makeString("privacy_internal"), makeString(pstrdup(name))),
							nargs, argtypes, true);
	if (!OidIsValid(fn))
		fn = LookupFuncName(list_make2(makeString("privacy"), makeString(pstrdup(name))),
							nargs, argtypes, false);
	return fn;
}

/*
 * Whether privacy_internal has the helper name(argtypes): false in a
 * database whose update has not added it yet (the library then works as
 * that version did).
 */
bool
pgp_internal_func_exists(const char *name, int nargs, const Oid *argtypes)
{
	return OidIsValid(LookupFuncName(list_make2(makeString("privacy_internal"), makeString(pstrdup(name))),
									 nargs, argtypes, true));
}

/* The modules' relcache callbacks (see schema.h), called in order. */
#define PGP_MAX_RELCACHE_CALLBACKS 16

static struct
{
	RelcacheCallbackFunction fn;
	Datum		arg;
}			relcache_callbacks[PGP_MAX_RELCACHE_CALLBACKS];
static int	n_relcache_callbacks = 0;

static void
pgp_relcache_dispatch(Datum arg, Oid relid)
{
	int			i;

	for (i = 0; i < n_relcache_callbacks; i++)
		relcache_callbacks[i].fn(relcache_callbacks[i].arg, relid);
}

void
pgp_on_relcache(RelcacheCallbackFunction fn, Datum arg)
{
	if (n_relcache_callbacks >= PGP_MAX_RELCACHE_CALLBACKS)
		elog(FATAL, "pg_privacy: out of relcache callback slots");
	if (n_relcache_callbacks == 0)
		CacheRegisterRelcacheCallback(pgp_relcache_dispatch, (Datum) 0);
	relcache_callbacks[n_relcache_callbacks].fn = fn;
	relcache_callbacks[n_relcache_callbacks].arg = arg;
	n_relcache_callbacks++;
}

/* The text of key in a jsonb object (see schema.h). */
char *
pgp_jsonb_text(JsonbContainer *obj, const char *key)
{
	JsonbValue	k;
	JsonbValue *v;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	v = findJsonbValueFromContainer(obj, JB_FOBJECT, &k);
	if (v == NULL)
		return NULL;
	if (v->type == jbvString)
		return pnstrdup(v->val.string.val, v->val.string.len);
	if (v->type == jbvNumeric)
		return DatumGetCString(DirectFunctionCall1(numeric_out, NumericGetDatum(v->val.numeric)));
	return NULL;
}

/* Every row of a table in the latest snapshot (see schema.h). */
bool
pgp_scan_latest(Oid relid, const char *const *cols, int ncols, PgpRowFn fn, void *arg)
{
	Relation	rel = table_open(relid, AccessShareLock);
	TupleDesc	desc = RelationGetDescr(rel);
	AttrNumber	attnos[PGP_SCAN_MAX_COLS];
	Datum		values[PGP_SCAN_MAX_COLS];
	bool		nulls[PGP_SCAN_MAX_COLS];
	Snapshot	snap;
	TableScanDesc scan;
	TupleTableSlot *slot;
	int			i;
	int			j;

	Assert(ncols <= PGP_SCAN_MAX_COLS);
	for (j = 0; j < ncols; j++)
	{
		attnos[j] = InvalidAttrNumber;
		for (i = 0; i < desc->natts; i++)
			if (!TupleDescAttr(desc, i)->attisdropped &&
				strcmp(NameStr(TupleDescAttr(desc, i)->attname), cols[j]) == 0)
				attnos[j] = i + 1;
		if (attnos[j] == InvalidAttrNumber)
		{
			table_close(rel, AccessShareLock);
			return false;
		}
	}
	snap = RegisterSnapshot(GetLatestSnapshot());
	scan = table_beginscan(rel, snap, 0, NULL);
	slot = table_slot_create(rel, NULL);
	while (table_scan_getnextslot(scan, ForwardScanDirection, slot))
	{
		for (j = 0; j < ncols; j++)
			values[j] = slot_getattr(slot, attnos[j], &nulls[j]);
		if (!fn(values, nulls, arg))
			break;
	}
	ExecDropSingleTupleTableSlot(slot);
	table_endscan(scan);
	UnregisterSnapshot(snap);
	table_close(rel, AccessShareLock);
	return true;
}
