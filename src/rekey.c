/*-------------------------------------------------------------------------
 *
 * rekey.c
 *	  Which key a stored phone-number pseudonym is under during a key
 *	  rotation (privacy.rekey()'s batches themselves run through the
 *	  protect trigger: protect.c, pgp_rekey_batch).
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
 * final.  A REPEATABLE READ writer whose snapshot is older than that state
 * fails to serialize (pgp_rekey_check_snapshot): it would read its rows
 * back by its snapshot's.  Each batch invalidates the relation's state in
 * every backend.  The readers (the subject engine, _row_key) read the
 * region in their statement's snapshot, the same state as its rows.
 *
 * The high mark: when a relation's conversion begins, the largest value
 * of its order column then; rows written above it are under the current
 * key, and the batches stop at it.
 *
 * The checks that keep a row (legal holds and restrictions, in the purge
 * and the restriction trigger) look a number up under each key a table's
 * relations are pending under as well as the current one, through
 * _msisdn_under (pgp_msisdn_under): a row is kept whichever key it is
 * under.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "rekey.h"
#include "identifier.h"
#include "owner.h"
#include "pseudonym.h"

#include "access/htup_details.h"
#include "catalog/partition.h"
#include "catalog/namespace.h"
#include "catalog/pg_attribute.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/proc.h"
#include "access/xact.h"
#include "libpq/pqformat.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/typcache.h"

/*
 * Whether no relation is pending (privacy.rekey_pending is empty), as the
 * lookups ask at every call: remembered in the backend until that table's
 * next relcache invalidation, which every write of it sends (its trigger
 * catalog_changed), so that a call while nothing is pending costs no
 * query.  Read in the latest committed state, so that what is remembered
 * is never older than the invalidations already taken in.
 */
static bool rekey_none_known = false;
static uint64 rekey_none_completions = 0;	/* (below) */
static Oid	rekey_pending_oid = InvalidOid;
static bool rekey_cb_registered = false;

static void
rekey_relcache_cb(Datum arg, Oid relid)
{
	if (!OidIsValid(relid) || relid == rekey_pending_oid)
		rekey_none_known = false;
}

/* privacy.rekey_pending, InvalidOid in a version before 0.16.0 */
static Oid
rekey_pending_relid(void)
{
	Oid			nsp = get_namespace_oid("privacy", true);

	return OidIsValid(nsp) ? get_relname_relid("rekey_pending", nsp) : InvalidOid;
}

bool
pgp_rekey_nothing_pending(void)
{
	bool		isnull;
	volatile bool none = false;
	Snapshot	snap;

	if (likely(rekey_none_known))
		return true;
	rekey_pending_oid = rekey_pending_relid();
	if (!OidIsValid(rekey_pending_oid))
		return true;			/* a version before 0.16.0: nothing tracked */
	if (!rekey_cb_registered)
	{
		CacheRegisterRelcacheCallback(rekey_relcache_cb, (Datum) 0);
		rekey_cb_registered = true;
	}
	/*
	 * Read in a snapshot of the latest committed state, kept: the
	 * transactions it counts as completed are those it saw, and a snapshot
	 * that counts as many has seen the table empty too
	 * (pgp_rekey_pending_in_snapshot).  (A count read afterwards could
	 * include a commit the query did not see.)
	 */
	snap = RegisterSnapshot(GetLatestSnapshot());
	PG_TRY();
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		pgp_catalog_select_in(snap, "SELECT NOT EXISTS (SELECT FROM privacy.rekey_pending)", 0, NULL, NULL);
		none = SPI_processed == 1 &&
			DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) &&
			!isnull;
		SPI_finish();
		rekey_none_completions = none ? snap->snapXactCompletionCount : 0;
	}
	PG_FINALLY();
	{
		UnregisterSnapshot(snap);
	}
	PG_END_TRY();
	rekey_none_known = none;
	return none;
}

/*
 * Whether the database's version matches stored phone numbers under the
 * key of their row (0.17.0: privacy_internal._row_key), rather than
 * refusing where a searched table is pending (0.16.0).
 */
bool
pgp_rekey_row_keys(void)
{
	Oid			pending = rekey_pending_relid();

	return OidIsValid(pending) && get_attnum(pending, "watermark") != InvalidAttrNumber;
}

/*
 * Nothing pending in the latest committed state, read when no more
 * transactions had completed than the caller's snapshot counts: that
 * snapshot is as new, and sees nothing pending either (once a relation
 * is done it stays so).  So a reader pays no query while no rotation runs;
 * a snapshot older than the end of one reads the table.
 */
static bool
rekey_none_in_snapshot(void)
{
	return pgp_rekey_nothing_pending() && rekey_none_completions != 0 && ActiveSnapshotSet() &&
		GetActiveSnapshot()->snapXactCompletionCount >= rekey_none_completions;
}

/*
 * Whether a relation is pending in the caller's snapshot (not the latest
 * committed state, as pgp_rekey_nothing_pending): for the subject engine,
 * whose statements read the rows in that snapshot or a later one, so that
 * a relation pending for them is pending for it.  The caller is not
 * connected to SPI.
 */
bool
pgp_rekey_pending_in_snapshot(void)
{
	bool		isnull;
	bool		any;

	AcceptInvalidationMessages();
	if (rekey_none_in_snapshot() || !OidIsValid(rekey_pending_oid))
		return false;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	pgp_catalog_select("SELECT EXISTS (SELECT FROM privacy.rekey_pending)", 0, NULL, NULL);
	any = SPI_processed == 1 &&
		DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) &&
		!isnull;
	SPI_finish();
	return any;
}

/*
 * A relation's row of privacy.rekey_pending as the caller's snapshot (or
 * the latest committed state) shows it, as text, for a comparison: ""
 * when there is none.
 */
static char *
rekey_state_text(Oid relid, bool latest)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	const char *sql = "SELECT pg_catalog.concat_ws('|', p.from_key, pg_catalog.encode(p.watermark, 'hex'),"
		"       pg_catalog.encode(p.high_mark, 'hex'))"
		"  FROM privacy.rekey_pending p"
		" WHERE p.rel::pg_catalog.oid OPERATOR(pg_catalog.=) $1";
	char	   *r = NULL;
	MemoryContext cxt = CurrentMemoryContext;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (latest)
		pgp_catalog_select_latest(sql, 1, argtypes, values);
	else
		pgp_catalog_select(sql, 1, argtypes, values);
	if (SPI_processed == 1)
	{
		char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

		r = MemoryContextStrdup(cxt, v ? v : "");
	}
	SPI_finish();
	return r ? r : pstrdup("");
}

/*
 * A writer whose transaction reads in one snapshot (REPEATABLE READ,
 * SERIALIZABLE) writes each row of relid under the key its place has in
 * the relation's latest state (pgp_rekey_region: its lock makes that
 * final), but reads its rows back (the subject engine, row_key) under the
 * key its snapshot shows.  Where the two differ (a batch or the first pass
 * of privacy.rekey() committed since the snapshot), a row it writes could
 * be read back under the other key, as another number: a serialization
 * failure instead, as PostgreSQL raises for a row changed since the
 * snapshot (the application retries).  Checked once per relation and
 * transaction: the writer's lock keeps rekey off the relation until it
 * ends, or until the subtransaction that took it is rolled back (ROLLBACK
 * TO SAVEPOINT, a PL/pgSQL exception block caught): then every relation is
 * checked again at its next write, since a batch may have come in
 * between.  Called by the protect trigger, for relations with msisdn_fpe
 * columns, through pgp_rekey_check_snapshot (rekey.h), which tests the
 * isolation level inline (per row).
 */
static LocalTransactionId checked_lxid = InvalidLocalTransactionId;
static Oid	checked[64];
static int	nchecked = 0;
static bool checked_cb_registered = false;

static void
rekey_checked_subxact_cb(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		nchecked = 0;
}

void
pgp_rekey_check_snapshot_xact(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	char	   *then;
	char	   *now;
	int			i;

	if (!checked_cb_registered)
	{
		RegisterSubXactCallback(rekey_checked_subxact_cb, NULL);
		checked_cb_registered = true;
	}
	if (checked_lxid != MyProc->lxid)
	{
		checked_lxid = MyProc->lxid;
		nchecked = 0;
	}
	for (i = 0; i < nchecked; i++)
		if (checked[i] == relid)
			return;
	/* (rekey_none_in_snapshot finds the catalog once per backend) */
	if (!rekey_none_in_snapshot() && OidIsValid(rekey_pending_oid))
	{
		then = rekey_state_text(relid, false);
		now = rekey_state_text(relid, true);
		if (strcmp(then, now) != 0)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not serialize access due to a concurrent key rotation of relation \"%s\"",
							RelationGetRelationName(rel)),
					 errdetail("privacy.rekey() converted part of the relation after this transaction's snapshot was taken: a row written now could be read back in it under the other key."),
					 errhint("Retry the transaction.")));
	}
	if (nchecked < lengthof(checked))
		checked[nchecked++] = relid;
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
 * The attribute number of relid's order column col, which must still be of
 * type typ (a type pgp_rekey_order_type_ok accepts): 55000 when it is gone
 * or changed, for the rows' keys could no longer be told apart.  Shared by
 * the triggers' region (below) and rekey's batch (src/protect.c).
 */
AttrNumber
pgp_rekey_order_attnum(Oid relid, const char *col, Oid typ)
{
	AttrNumber	attnum = col != NULL ? get_attnum(relid, col) : InvalidAttrNumber;

	if (attnum <= 0 || !OidIsValid(typ) || get_atttype(relid, attnum) != typ ||
		!pgp_rekey_order_type_ok(typ))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the key rotation of relation \"%s\" cannot tell its rows' keys apart",
						get_rel_name(relid)),
				 errdetail("privacy.rekey() converts it in order of column \"%s\" of type %s, which is gone or changed.",
						   col ? col : "?", OidIsValid(typ) ? format_type_be(typ) : "?"),
				 errhint("Give the relation back that column, as it was, then run CALL privacy.rekey().")));
	return attnum;
}

/* A value of the order type typ from the binary form a watermark keeps. */
Datum
pgp_rekey_order_value(bytea *b, Oid typ)
{
	StringInfoData buf;
	Oid			recv;
	Oid			ioparam;

	getTypeBinaryInputInfo(typ, &recv, &ioparam);
	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, VARDATA_ANY(b), VARSIZE_ANY_EXHDR(b));
	return OidReceiveFunctionCall(recv, &buf, ioparam, -1);
}

/*
 * The region of relation relid (see the top) as privacy.rekey_pending
 * holds it, in the latest committed state (latest) or the caller's
 * snapshot, into rg, its watermark and high mark kept in cxt; rg->attnum
 * is left unset.  When the relation's conversion has begun, the order
 * column's name (in cxt) and type into *col and *typ (else NULL).  55000
 * when the order column recorded is not one the rows' keys can be told
 * by.  The caller is connected to SPI.
 */
static void
rekey_region_read(Oid relid, bool latest, MemoryContext cxt, PgpRekeyRegion *rg,
				  char **col, Oid *typ)
{
	Oid			reltype[1] = {OIDOID};
	Datum		relval[1] = {ObjectIdGetDatum(relid)};
	Oid			pending = rekey_pending_relid();
	const char *sql;
	bool		isnull;
	bool		wm_null;
	bool		hi_null;
	char	   *fp;
	bytea	   *wm;
	bytea	   *hi;

	memset(rg, 0, sizeof(PgpRekeyRegion));
	*col = NULL;
	*typ = InvalidOid;
	if (!OidIsValid(pending))
		return;					/* a version before 0.16.0: nothing tracked */
	if (get_attnum(pending, "watermark") == InvalidAttrNumber)
		/* 0.16.0: a relation is converted whole */
		sql = "SELECT p.from_key, NULL::pg_catalog.text, NULL::pg_catalog.oid, NULL::pg_catalog.bytea,"
			"       NULL::pg_catalog.bytea"
			"  FROM privacy.rekey_pending p"
			" WHERE p.rel::pg_catalog.oid OPERATOR(pg_catalog.=) $1";
	else
		sql = "SELECT p.from_key, p.order_col::pg_catalog.text, p.order_type::pg_catalog.oid, p.watermark,"
			"       p.high_mark"
			"  FROM privacy.rekey_pending p"
			" WHERE p.rel::pg_catalog.oid OPERATOR(pg_catalog.=) $1";
	if (latest)
		pgp_catalog_select_latest(sql, 1, reltype, relval);
	else
		pgp_catalog_select(sql, 1, reltype, relval);
	if (SPI_processed == 0)
		return;
	fp = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (fp == NULL || (strlen(fp) != PGP_FINGERPRINT_LEN && strcmp(fp, PGP_REKEY_RAW_FP) != 0))
		return;
	strlcpy(rg->fp, fp, sizeof(rg->fp));
	wm = (bytea *) DatumGetPointer(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4, &wm_null));
	hi = (bytea *) DatumGetPointer(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5, &hi_null));
	if (wm_null && hi_null)
		return;					/* not begun: every row is pending */
	{
		char	   *c = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
		Oid			t = DatumGetObjectId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull));
		MemoryContext oldcxt;
		TypeCacheEntry *tc;

		if (c == NULL || isnull || !pgp_rekey_order_type_ok(t))
			(void) pgp_rekey_order_attnum(relid, c, isnull ? InvalidOid : t);
		oldcxt = MemoryContextSwitchTo(cxt);
		*col = pstrdup(c);
		*typ = t;
		if (!wm_null)
			rg->wm = pgp_rekey_order_value(wm, t);
		if (!hi_null)
			rg->hi = pgp_rekey_order_value(hi, t);
		tc = lookup_type_cache(t, TYPECACHE_CMP_PROC_FINFO);
		if (!OidIsValid(tc->cmp_proc_finfo.fn_oid))
			elog(ERROR, "no btree comparison for type %s", format_type_be(t));
		fmgr_info_copy(&rg->cmp, &tc->cmp_proc_finfo, cxt);
		MemoryContextSwitchTo(oldcxt);
	}
	rg->has_wm = !wm_null;
	rg->has_hi = !hi_null;
}

/*
 * The region of relation rel (see the top), read in the latest committed
 * state into rg; the watermark and high mark are kept in cxt.  55000 when
 * the order column is gone or changed its type (the rows' keys could not
 * be told apart).  The caller is connected to SPI.
 */
void
pgp_rekey_region(Relation rel, MemoryContext cxt, PgpRekeyRegion *rg)
{
	char	   *col;
	Oid			typ;

	rekey_region_read(RelationGetRelid(rel), true, cxt, rg, &col, &typ);
	if (col != NULL)
		rg->attnum = pgp_rekey_order_attnum(RelationGetRelid(rel), col, typ);
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
	if (!rg->has_wm && !rg->has_hi)
		return true;
	v = heap_getattr(tuple, rg->attnum, tupdesc, &isnull);
	return pgp_rekey_value_pending(rg, v, isnull);
}

/*
 * Whether a row whose order column holds v (isnull: none) is under the
 * pending key: not at or below the watermark, nor above the high mark.
 * For a region with an order column (has_wm or has_hi).
 */
bool
pgp_rekey_value_pending(PgpRekeyRegion *rg, Datum v, bool isnull)
{
	if (isnull)
		return true;
	if (rg->has_wm && DatumGetInt32(FunctionCall2Coll(&rg->cmp, InvalidOid, v, rg->wm)) <= 0)
		return false;
	if (rg->has_hi && DatumGetInt32(FunctionCall2Coll(&rg->cmp, InvalidOid, v, rg->hi)) > 0)
		return false;
	return true;
}

/*
 * The msisdn_fpe working key of a relation's pending key fp for a domain,
 * kept in *cache while the key generation (*gen) holds; 55000 when
 * pg_privacy.key_file no longer lists that key (relname names the
 * relation whose pseudonyms need it, NULL: none in particular).
 */
PgpKey *
pgp_pending_fpe_key(const char *fp, const char *domain, int domain_len,
					PgpKey **cache, uint64 *gen, const char *relname)
{
	/* rows from before protect_in_batches(): under no key */
	if (strcmp(fp, PGP_REKEY_RAW_FP) == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 relname != NULL
				 ? errmsg("cannot write a row of relation \"%s\" that privacy.rekey() has not converted since the table was protected", relname)
				 : errmsg("rows written before their table was protected are not converted yet"),
				 errdetail("The rows the table held before it was protected are converted in batches; until its batch, such a row holds raw values."),
				 errhint("Run CALL privacy.rekey() (privacy.rekey_progress shows what is left), then write the row again.")));
	if (*cache == NULL || *gen != pgp_key_generation)
	{
		int			m = pgp_key_find(fp);

		if (m < 0)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("no key of fingerprint %s is loaded", fp),
					 relname != NULL
					 ? errdetail("The phone-number pseudonyms of relation \"%s\" are under that key until privacy.rekey() converts them; rows written there are pseudonymized under it too.",
								 relname)
					 : errdetail("Phone-number pseudonyms under that key are still stored: privacy.rekey() has not converted them."),
					 errhint("List that key's file after the current one in pg_privacy.key_file, reload the configuration and run CALL privacy.rekey().")));
		*cache = pgp_get_key_of(m, PGP_KP_MSISDN_FPE, domain, domain_len, PGP_KEY_VERSION);
		*gen = pgp_key_generation;
	}
	return *cache;
}

PG_FUNCTION_INFO_V1(pgp_msisdn_under);

/*
 * _msisdn_under(fingerprint, number, domain, decrypt): a phone number's
 * msisdn_fpe pseudonym under the listed key of that fingerprint (decrypt:
 * the number a pseudonym under it stands for).  For the checks that must
 * keep a row whichever key it is under while a rotation runs (legal holds,
 * restrictions): 55000 when the key is not listed.  Under "raw" (a row
 * not converted since protect_in_batches), the number itself.  Internal,
 * not executable by PUBLIC.
 */
Datum
pgp_msisdn_under(PG_FUNCTION_ARGS)
{
	char	   *fp;
	text	   *value;
	text	   *domain;
	int			dlen;
	PgpKey	   *k = NULL;
	uint64		gen = 0;
	PgpE164Result res;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		PG_RETURN_NULL();
	fp = text_to_cstring(PG_GETARG_TEXT_PP(0));
	value = PG_GETARG_TEXT_PP(1);
	domain = PG_GETARG_TEXT_PP(2);
	dlen = VARSIZE_ANY_EXHDR(domain);
	pgp_check_domain(VARDATA_ANY(domain), dlen);
	if (strcmp(fp, PGP_REKEY_RAW_FP) == 0)
	{
		/*
		 * A row not yet converted since protect_in_batches() (the "key"
		 * _row_key gives it): it holds the number raw, which is what it
		 * stands for, in the normal form the conversion will give it under
		 * pg_privacy.default_country; NULL when it has none (such a value
		 * is no one's number, and the conversion refuses it).
		 */
		text	   *normal = pgp_normalize_identifier(PGP_ID_MSISDN, VARDATA_ANY(value),
													  VARSIZE_ANY_EXHDR(value),
													  pgp_default_country, true);

		if (normal == NULL)
			PG_RETURN_NULL();
		PG_RETURN_TEXT_P(normal);
	}
	k = pgp_pending_fpe_key(fp, VARDATA_ANY(domain), dlen, &k, &gen, NULL);
	pgp_normalize_or_error(VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value), NULL, &res);
	pgp_msisdn_ff1(k, &res, VARDATA_ANY(domain), dlen, PG_GETARG_BOOL(3));
	PG_RETURN_TEXT_P(cstring_to_text_with_len(res.number, res.ndigits + 1));
}

/*
 * _row_key(rel, r): the fingerprint of the key under which the phone-number
 * pseudonyms of row r of relation rel (its tableoid) are stored: the
 * relation's pending key when privacy.rekey() has not reached the row (see
 * the top), else the current key.  For the subject engine's statements
 * (export, erasure, restriction, the link search, the replay of erasures),
 * which match a stored pseudonym to the subject's number under the key of
 * its row and decrypt it under that key.
 *
 * The watermark is read in the snapshot of the statement that calls it:
 * the same state as the rows that statement reads, since a batch moves its
 * rows and the watermark in one commit.  (The triggers' region is read in
 * the latest committed state instead, which their lock makes final.)  r is
 * the statement's whole row of the table (of a partitioned table, the
 * parent's row type): the order column is found in it by name.
 *
 * The statements run as the table's owner, so PUBLIC may execute it; it
 * answers only a role that may read rel or a table rel is a partition of
 * (42501 otherwise): it tells on which side of the watermark a value lies.
 */
typedef struct RowKeyRel
{
	Oid			relid;
	bool		protected_fpe;	/* a part of a table with a keyed protected column */
	PgpRekeyRegion rg;			/* fp "" while not pending; attnum unused */
	char	   *col;
	Oid			typ;
	Oid			rectype;		/* the row type attnum was found in */
	int32		rectypmod;
	AttrNumber	attnum;
} RowKeyRel;

typedef struct RowKeyState
{
	char		current[PGP_FINGERPRINT_LEN + 1];
	int			n;
	int			max;
	RowKeyRel  *rels;
	/*
	 * What the relations' states were read in: the snapshot (an
	 * expression of PL/pgSQL is kept for the whole transaction, and at
	 * READ COMMITTED each of its statements has a snapshot of its own) and
	 * the key generation.
	 */
	bool		valid;
	TransactionId xmin;
	TransactionId xmax;
	CommandId	curcid;
	uint64		completions;
	uint64		keygen;
	MemoryContext cxt;			/* the relations' states, reset with them */
} RowKeyState;

static void
row_key_check_access(Oid relid)
{
	List	   *anc;
	ListCell   *lc;

	if (pg_class_aclcheck(relid, GetUserId(), ACL_SELECT) == ACLCHECK_OK)
		return;
	anc = get_partition_ancestors(relid);
	foreach(lc, anc)
		if (pg_class_aclcheck(lfirst_oid(lc), GetUserId(), ACL_SELECT) == ACLCHECK_OK)
			return;
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("permission denied for relation %s", get_rel_name(relid))));
}

/*
 * Whether relid, or a table it is a partition of, is registered with a
 * protected column: _row_key answers for those only (NULL for any other
 * relation, whose rows hold nothing protected).  Of a table without
 * msisdn_fpe it tells the rows not converted since protect_in_batches()
 * ("raw") from the others (the current key).
 */
static bool
row_key_protected(Oid relid)
{
	Oid			argtypes[1] = {OIDOID};
	Datum		values[1] = {ObjectIdGetDatum(relid)};
	bool		isnull;
	bool		yes;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	pgp_catalog_select("SELECT EXISTS (SELECT FROM privacy.registered_column c"
					   "  WHERE c.protect IS NOT NULL"
					   "    AND (c.tbl::pg_catalog.oid OPERATOR(pg_catalog.=) $1"
					   "         OR c.tbl::pg_catalog.oid IN (SELECT a.relid::pg_catalog.oid"
					   "                                        FROM pg_catalog.pg_partition_ancestors($1::pg_catalog.regclass) a)))",
					   1, argtypes, values);
	yes = SPI_processed == 1 &&
		DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) &&
		!isnull;
	SPI_finish();
	return yes;
}

static RowKeyRel *
row_key_rel(FunctionCallInfo fcinfo, RowKeyState *st, Oid relid)
{
	MemoryContext cxt = st->cxt;
	RowKeyRel  *r;
	int			i;

	for (i = 0; i < st->n; i++)
		if (st->rels[i].relid == relid)
			return &st->rels[i];
	if (get_rel_relkind(relid) == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	row_key_check_access(relid);
	if (st->n == st->max)
	{
		st->max = Max(4, st->max * 2);
		st->rels = st->rels ? repalloc(st->rels, sizeof(RowKeyRel) * st->max)
			: MemoryContextAlloc(cxt, sizeof(RowKeyRel) * st->max);
	}
	r = &st->rels[st->n];
	memset(r, 0, sizeof(RowKeyRel));
	r->relid = relid;
	r->protected_fpe = row_key_protected(relid);
	if (!r->protected_fpe)
	{
		st->n++;
		return r;
	}

	/*
	 * Read in the statement's snapshot, never taken from
	 * pgp_rekey_nothing_pending(): that is the latest committed state, and
	 * the statement's snapshot may be older than the batch that finished
	 * the relation.
	 */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rekey_region_read(relid, false, cxt, &r->rg, &r->col, &r->typ);
	SPI_finish();
	st->n++;
	return r;
}

PG_FUNCTION_INFO_V1(pgp_row_key);

Datum
pgp_row_key(PG_FUNCTION_ARGS)
{
	RowKeyState *st = (RowKeyState *) fcinfo->flinfo->fn_extra;
	RowKeyRel  *r;
	HeapTupleHeader th;
	Oid			rectype;
	int32		rectypmod;
	HeapTupleData tup;
	TupleDesc	td;
	Datum		v;
	bool		isnull;

	Snapshot	snap;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	if (st == NULL)
	{
		st = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(RowKeyState));
		st->cxt = AllocSetContextCreate(fcinfo->flinfo->fn_mcxt, "pg_privacy row keys",
										ALLOCSET_SMALL_SIZES);
		fcinfo->flinfo->fn_extra = st;
	}
	/* the relations' states as the calling statement's snapshot shows them */
	if (!ActiveSnapshotSet())
		elog(ERROR, "_row_key needs an active snapshot");
	snap = GetActiveSnapshot();
	if (!st->valid || st->keygen != pgp_key_generation ||
		st->xmin != snap->xmin || st->xmax != snap->xmax || st->curcid != snap->curcid ||
		st->completions != snap->snapXactCompletionCount)
	{
		MemoryContextReset(st->cxt);
		st->rels = NULL;
		st->max = 0;
		st->n = 0;
		st->valid = true;
		pgp_key_current_fingerprint(st->current);
		st->keygen = pgp_key_generation;
		st->xmin = snap->xmin;
		st->xmax = snap->xmax;
		st->curcid = snap->curcid;
		st->completions = snap->snapXactCompletionCount;
	}
	r = row_key_rel(fcinfo, st, PG_GETARG_OID(0));
	if (!r->protected_fpe)
		PG_RETURN_NULL();
	if (r->rg.fp[0] == '\0')
		PG_RETURN_TEXT_P(cstring_to_text(st->current));
	if (!r->rg.has_wm && !r->rg.has_hi)
		PG_RETURN_TEXT_P(cstring_to_text(r->rg.fp));
	if (PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("the row must not be null")));
	th = PG_GETARG_HEAPTUPLEHEADER(1);
	rectype = HeapTupleHeaderGetTypeId(th);
	rectypmod = HeapTupleHeaderGetTypMod(th);
	td = lookup_rowtype_tupdesc(rectype, rectypmod);
	if (r->attnum == InvalidAttrNumber || r->rectype != rectype || r->rectypmod != rectypmod)
	{
		int			i;

		r->attnum = InvalidAttrNumber;
		for (i = 0; i < td->natts; i++)
		{
			Form_pg_attribute a = TupleDescAttr(td, i);

			if (!a->attisdropped && strcmp(NameStr(a->attname), r->col) == 0)
			{
				if (a->atttypid == r->typ)
					r->attnum = a->attnum;
				break;
			}
		}
		if (r->attnum == InvalidAttrNumber)
		{
			ReleaseTupleDesc(td);
			(void) pgp_rekey_order_attnum(r->relid, r->col, r->typ);
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the key rotation of relation \"%s\" cannot tell its rows' keys apart",
							get_rel_name(r->relid)),
					 errdetail("The row read has no column \"%s\" of type %s.",
							   r->col, format_type_be(r->typ))));
		}
		r->rectype = rectype;
		r->rectypmod = rectypmod;
	}
	tup.t_len = HeapTupleHeaderGetDatumLength(th);
	ItemPointerSetInvalid(&tup.t_self);
	tup.t_tableOid = InvalidOid;
	tup.t_data = th;
	v = heap_getattr(&tup, r->attnum, td, &isnull);
	ReleaseTupleDesc(td);
	if (pgp_rekey_value_pending(&r->rg, v, isnull))
		PG_RETURN_TEXT_P(cstring_to_text(r->rg.fp));
	PG_RETURN_TEXT_P(cstring_to_text(st->current));
}

PG_FUNCTION_INFO_V1(pgp_library_reads_raw);

/*
 * _library_reads_raw(): true.  The library of 0.19.0 on reads the rows not
 * converted since protect_in_batches() raw; an older one, still loaded in
 * a session after the extension was updated (before the server restarts),
 * has no such function: a search that reaches such a table there fails
 * (privacy_internal._subject_column) instead of reading them as
 * pseudonyms.
 */
Datum
pgp_library_reads_raw(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(true);
}
