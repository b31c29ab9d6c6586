/*-------------------------------------------------------------------------
 *
 * rekey.c
 *	  Which key a stored phone-number pseudonym is under during a key
 *	  rotation, and one batch of privacy.rekey()'s conversion.
 *
 * After accept_key_change() each relation (a table, or a leaf partition)
 * with msisdn_fpe columns is pending under the replaced key
 * (privacy.rekey_pending, src/sql/36_rekey.sql).  privacy.rekey() converts
 * a relation in batches, each its own transaction, in order of one of its
 * columns (the order column: not protected, of a built-in type with a
 * total order, the leading column of a btree index).  It records how far
 * it has come, the watermark: a row whose order column is at most the
 * watermark is under the current key, every other row (the column NULL
 * among them) under the pending key.  Each batch holds the relation
 * against writers (SHARE ROW EXCLUSIVE) only while it converts the rows
 * between the last watermark and the next and moves the watermark, so
 * that writers see the watermark before or after a batch, never during
 * one, and write each row under the key of its place.
 *
 * The protect and consent triggers read a relation's region
 * (pgp_rekey_region) when they build its state, in the latest committed
 * state: a writer holds the relation's lock, which makes what it reads
 * final even in a REPEATABLE READ transaction whose snapshot is older.
 * Each batch invalidates the relation's state in every backend.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "rekey.h"
#include "owner.h"
#include "protect.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

/*
 * Whether the installed version of the extension records the relations a
 * key rotation has not converted (privacy.rekey_pending, 0.16.0): a
 * database at an older version runs this library too.
 */
bool
pgp_rekey_tracked(void)
{
	Oid			nsp = get_namespace_oid("privacy", true);

	return OidIsValid(nsp) && OidIsValid(get_relname_relid("rekey_pending", nsp));
}

/*
 * Whether no relation is pending (privacy.rekey_pending is empty), as the
 * lookups ask at every call: remembered in the backend until that table's
 * next relcache invalidation, which every write of it sends (its trigger
 * catalog_changed), so that a call while nothing is pending costs no
 * query.  Read in the latest committed state, so that what is remembered
 * is never older than the invalidations already taken in.
 */
static bool rekey_none_known = false;
static Oid	rekey_pending_oid = InvalidOid;
static bool rekey_cb_registered = false;

static void
rekey_relcache_cb(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == rekey_pending_oid)
		rekey_none_known = false;
}

bool
pgp_rekey_nothing_pending(void)
{
	Oid			nsp;
	bool		isnull;
	bool		none;

	if (likely(rekey_none_known))
		return true;
	nsp = get_namespace_oid("privacy", true);
	rekey_pending_oid = OidIsValid(nsp) ? get_relname_relid("rekey_pending", nsp) : InvalidOid;
	if (!OidIsValid(rekey_pending_oid))
		return true;			/* a version before 0.16.0: nothing tracked */
	if (!rekey_cb_registered)
	{
		CacheRegisterRelcacheCallback(rekey_relcache_cb, (Datum) 0);
		rekey_cb_registered = true;
	}
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	pgp_catalog_select_latest("SELECT NOT EXISTS (SELECT FROM privacy.rekey_pending)", 0, NULL, NULL);
	none = SPI_processed == 1 &&
		DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) &&
		!isnull;
	SPI_finish();
	rekey_none_known = none;
	return none;
}

/*
 * The types a relation may be converted in order of: built in, with a
 * total order that no setting changes (no collation, no time zone in the
 * comparison), and a binary form that is the same on every server.
 */
bool
pgp_rekey_order_type_ok(Oid typid)
{
	switch (typid)
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case NUMERICOID:
		case DATEOID:
		case TIMESTAMPOID:
		case TIMESTAMPTZOID:
		case UUIDOID:
			return true;
		default:
			return false;
	}
}

/*
 * The region of relation rel (see the top), read in the latest committed
 * state into rg; the watermark is kept in cxt.  55000 when the order
 * column is gone or changed its type (the rows' keys could not be told
 * apart).  The caller is connected to SPI.
 */
void
pgp_rekey_region(Relation rel, MemoryContext cxt, PgpRekeyRegion *rg)
{
	Oid			relid = RelationGetRelid(rel);
	Oid			reltype[1] = {OIDOID};
	Datum		relval[1] = {ObjectIdGetDatum(relid)};
	Oid			nsp;
	Oid			pending;
	bool		isnull;
	char	   *fp;
	char	   *col;
	Oid			typ;
	bytea	   *wm;
	AttrNumber	attnum;
	Form_pg_attribute att = NULL;

	rg->fp[0] = '\0';
	rg->has_wm = false;
	rg->attnum = InvalidAttrNumber;
	rg->wm = (Datum) 0;
	nsp = get_namespace_oid("privacy", true);
	pending = OidIsValid(nsp) ? get_relname_relid("rekey_pending", nsp) : InvalidOid;
	if (!OidIsValid(pending))
		return;					/* a version before 0.16.0: nothing tracked */
	if (get_attnum(pending, "watermark") == InvalidAttrNumber)
		/* 0.16.0: a relation is converted whole */
		pgp_catalog_select_latest("SELECT p.from_key, NULL::pg_catalog.text, NULL::pg_catalog.oid, NULL::pg_catalog.bytea"
								  "  FROM privacy.rekey_pending p"
								  " WHERE p.rel::pg_catalog.oid OPERATOR(pg_catalog.=) $1",
								  1, reltype, relval);
	else
		pgp_catalog_select_latest("SELECT p.from_key, p.order_col::pg_catalog.text, p.order_type::pg_catalog.oid, p.watermark"
								  "  FROM privacy.rekey_pending p"
								  " WHERE p.rel::pg_catalog.oid OPERATOR(pg_catalog.=) $1",
								  1, reltype, relval);
	if (SPI_processed == 0)
		return;
	fp = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (fp == NULL || strlen(fp) != PGP_FINGERPRINT_LEN)
		return;
	strlcpy(rg->fp, fp, sizeof(rg->fp));
	wm = (bytea *) DatumGetPointer(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &isnull));
	if (isnull)
		return;					/* not begun: every row is pending */
	col = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	typ = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
	attnum = col != NULL ? get_attnum(relid, col) : InvalidAttrNumber;
	if (attnum > 0 && attnum <= RelationGetNumberOfAttributes(rel))
		att = TupleDescAttr(RelationGetDescr(rel), attnum - 1);
	if (att == NULL || att->attisdropped || isnull || att->atttypid != typ ||
		!pgp_rekey_order_type_ok(typ))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the key rotation of relation \"%s\" cannot tell its rows' keys apart",
						RelationGetRelationName(rel)),
				 errdetail("privacy.rekey() converts it in order of column \"%s\" of type %s, which is gone or changed.",
						   col ? col : "?", OidIsValid(typ) ? format_type_be(typ) : "?"),
				 errhint("Give the relation back that column, as it was, then run CALL privacy.rekey().")));
	{
		MemoryContext oldcxt = MemoryContextSwitchTo(cxt);
		StringInfoData buf;
		Oid			recv;
		Oid			ioparam;
		TypeCacheEntry *tc;

		getTypeBinaryInputInfo(typ, &recv, &ioparam);
		initStringInfo(&buf);
		appendBinaryStringInfo(&buf, VARDATA_ANY(wm), VARSIZE_ANY_EXHDR(wm));
		rg->wm = OidReceiveFunctionCall(recv, &buf, ioparam, -1);
		tc = lookup_type_cache(typ, TYPECACHE_CMP_PROC_FINFO);
		if (!OidIsValid(tc->cmp_proc_finfo.fn_oid))
			elog(ERROR, "no btree comparison for type %s", format_type_be(typ));
		fmgr_info_copy(&rg->cmp, &tc->cmp_proc_finfo, cxt);
		MemoryContextSwitchTo(oldcxt);
	}
	rg->attnum = attnum;
	rg->has_wm = true;
}

/*
 * Whether the row's phone-number pseudonyms are under the relation's
 * pending key (else under the current one).
 */
bool
pgp_rekey_row_pending(PgpRekeyRegion *rg, HeapTuple tuple, TupleDesc tupdesc)
{
	bool		isnull;
	Datum		v;

	if (rg->fp[0] == '\0')
		return false;
	if (!rg->has_wm)
		return true;
	v = heap_getattr(tuple, rg->attnum, tupdesc, &isnull);
	if (isnull)
		return true;
	return DatumGetInt32(FunctionCall2Coll(&rg->cmp, InvalidOid, v, rg->wm)) > 0;
}

/*
 * The msisdn_fpe working key of a relation's pending key fp for a domain,
 * kept in *cache while the key generation (*gen) holds; 55000 when
 * pg_privacy.key_file no longer lists that key (relname names the
 * relation whose pseudonyms need it).
 */
PgpKey *
pgp_pending_fpe_key(const char *fp, const char *domain, int domain_len,
					PgpKey **cache, uint64 *gen, const char *relname)
{
	if (*cache == NULL || *gen != pgp_key_generation)
	{
		int			m = pgp_key_find(fp);

		if (m < 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("no key of fingerprint %s is loaded", fp),
					 errdetail("The phone-number pseudonyms of relation \"%s\" are under that key until privacy.rekey() converts them; rows written there are pseudonymized under it too.",
							   relname),
					 errhint("List that key's file after the current one in pg_privacy.key_file, reload the configuration and run CALL privacy.rekey().")));
		*cache = pgp_get_key_of(m, PGP_KP_MSISDN_FPE, domain, domain_len, PGP_KEY_VERSION);
		*gen = pgp_key_generation;
	}
	return *cache;
}

/* A value of the order type from its binary form. */
static Datum
rekey_recv(bytea *b, Oid typ)
{
	StringInfoData buf;
	Oid			recv;
	Oid			ioparam;

	getTypeBinaryInputInfo(typ, &recv, &ioparam);
	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
	return OidReceiveFunctionCall(recv, &buf, ioparam, -1);
}

PG_FUNCTION_INFO_V1(pgp_rekey_batch);

/*
 * _rekey_batch(rel, cols, order_col, order_type, lo, batch_size,
 * count_rows) -> (hi bytea, rows bigint): convert the msisdn_fpe columns
 * cols of the rows of relation rel past the watermark lo (NULL: from the
 * start) up to the batch_size-th next value of the order column (every
 * row of that value too), hi, through the protect trigger as the table's
 * owner (src/protect.c).  hi NULL: the rows left were fewer, and every row
 * past lo, the order column NULL among them, was converted (order_col
 * NULL: the whole relation, in one batch).  count_rows: the rows in the
 * range are counted first, and a trigger of the owner that kept one from
 * being updated is refused (55000).  The caller holds the relation's lock
 * and records hi as the new watermark.
 */
Datum
pgp_rekey_batch(PG_FUNCTION_ARGS)
{
	Oid			relid;
	ArrayType  *cols;
	bool		ordered = !PG_ARGISNULL(2);
	Oid			typ = PG_ARGISNULL(3) ? InvalidOid : PG_GETARG_OID(3);
	bool		has_lo = !PG_ARGISNULL(4);
	int32		batch_size;
	bool		count_rows;
	char	   *relname;
	char	   *qrel;
	const char *qcol = NULL;
	Datum		lo = (Datum) 0;
	Datum		hi = (Datum) 0;
	bool		hi_null = true;
	StringInfoData where;
	Oid			argtypes[2];
	Datum		argvals[2];
	int			nargs = 0;
	uint64		processed;
	TupleDesc	rtd;
	Datum		out[2];
	bool		outnull[2] = {false, false};

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(5) || PG_ARGISNULL(6))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("relation, columns, batch size and count_rows must not be null")));
	relid = PG_GETARG_OID(0);
	cols = PG_GETARG_ARRAYTYPE_P(1);
	batch_size = PG_GETARG_INT32(5);
	count_rows = PG_GETARG_BOOL(6);
	if (batch_size < 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid batch size %d", batch_size)));
	if (get_call_result_type(fcinfo, NULL, &rtd) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	relname = get_rel_name(relid);
	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	qrel = quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), relname);

	initStringInfo(&where);
	if (ordered)
	{
		const char *col = NameStr(*PG_GETARG_NAME(2));
		AttrNumber	attnum = get_attnum(relid, col);

		if (attnum <= 0 || get_atttype(relid, attnum) != typ || !pgp_rekey_order_type_ok(typ))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the key rotation of relation \"%s\" cannot tell its rows' keys apart", relname),
					 errdetail("privacy.rekey() converts it in order of column \"%s\" of type %s, which is gone or changed.",
							   col, OidIsValid(typ) ? format_type_be(typ) : "?"),
					 errhint("Give the relation back that column, as it was, then run CALL privacy.rekey().")));
		qcol = quote_identifier(col);
		if (has_lo)
		{
			lo = rekey_recv(PG_GETARG_BYTEA_PP(4), typ);
			argtypes[nargs] = typ;
			argvals[nargs++] = lo;
		}

		/*
		 * The next watermark: the batch_size-th value past lo, as the
		 * owner sees her table without her forced row security (a bound
		 * only; the UPDATE converts every row up to it).  Built-in
		 * operators of a built-in type.
		 */
		{
			StringInfoData q;
			Oid			qtypes[2];
			Datum		qvals[2];
			int			qn = nargs;
			bool		isnull = true;

			memcpy(qtypes, argtypes, sizeof(Oid) * nargs);
			memcpy(qvals, argvals, sizeof(Datum) * nargs);
			qtypes[qn] = INT8OID;
			qvals[qn++] = Int64GetDatum((int64) batch_size - 1);
			initStringInfo(&q);
			appendStringInfo(&q, "SELECT t.%s FROM ONLY %s t WHERE ", qcol, qrel);
			if (has_lo)
				appendStringInfo(&q, "t.%s OPERATOR(pg_catalog.>) $1", qcol);
			else
				appendStringInfo(&q, "t.%s IS NOT NULL", qcol);
			appendStringInfo(&q, " ORDER BY t.%s OFFSET $%d LIMIT 1", qcol, qn);
			(void) pgp_owner_run(relid, q.data, qn, qtypes, qvals, NULL,
								 PGP_RUN_QUERY | PGP_RUN_NOFORCE_RLS, 0, typ,
								 &hi, &isnull, NULL, NULL);
			hi_null = isnull;
		}
		if (has_lo)
			appendStringInfo(&where, "t.%s OPERATOR(pg_catalog.>) $1", qcol);
		if (!hi_null)
		{
			argtypes[nargs] = typ;
			argvals[nargs++] = hi;
			appendStringInfo(&where, "%st.%s OPERATOR(pg_catalog.<=) $%d",
							 has_lo ? " AND " : "", qcol, nargs);
		}
		else if (has_lo)
		{
			/* the last batch: every row past lo, and those without a value */
			resetStringInfo(&where);
			appendStringInfo(&where, "(t.%s OPERATOR(pg_catalog.>) $1 OR t.%s IS NULL)", qcol, qcol);
		}
	}

	processed = pgp_protect_rekey_update(relid, cols, where.len > 0 ? where.data : NULL,
										 nargs, argtypes, argvals,
										 count_rows);
	if (hi_null)
		outnull[0] = true;
	else
	{
		Oid			send;
		bool		varlena;
		bytea	   *b;

		getTypeBinaryOutputInfo(typ, &send, &varlena);
		b = OidSendFunctionCall(send, hi);

		out[0] = PointerGetDatum(b);
	}
	out[1] = Int64GetDatum((int64) processed);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(rtd), out, outnull)));
}
