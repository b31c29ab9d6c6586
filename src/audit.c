/*-------------------------------------------------------------------------
 *
 * audit.c
 *	  The keyed audit chain: the digest of one audit entry under the audit
 *	  chain key, and the chain head written to the server log at commit.
 *
 * Each entry's hash is HMAC-SHA256, under a working key derived from the
 * master key (purpose PGP_KP_AUDIT, domain PGP_AUDIT_CHAIN_DOMAIN), over
 * the previous entry's hash and every field of the entry, each one
 * length-prefixed.  Whoever can change rows of privacy.audit_log (a
 * superuser, or someone editing a dump) but cannot use the key cannot
 * recompute a chain that verifies.
 *
 * The chain key's domain begins with a NUL byte.  The other users of the
 * audit purpose (privacy_internal._audit_ref, whose domain is an identifier kind
 * given as text) can never name it, since text holds no NUL: no SQL
 * function but privacy_internal._audit_digest computes MACs under this key.
 *
 * The newest head (entry id, hash, key fingerprint) of every transaction
 * that appended to the chain is written to the server log, and only there,
 * when that transaction commits (LOG_SERVER_ONLY, statement hidden):
 *
 *	  pg_privacy audit head: id=N hash=HEX key=pgp1:...
 *
 * A log collector keeps these lines outside the database; they are the
 * anchors privacy.verify_audit_log(head_id, head_hash) checks the chain
 * against.  Nothing is written for a transaction or subtransaction that
 * rolls back, so every anchor names an entry that was committed.  (A
 * crash between the commit and the log write loses that one line; the
 * previous anchor still verifies.  A prepared transaction writes none.
 * log_min_messages above "log" would suppress the lines.)
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "caller.h"
#include "citus.h"
#include "keys.h"
#include "owner.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "storage/itemptr.h"
#include "storage/proc.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

/* The chain key: purpose PGP_KP_AUDIT, a domain no text argument can be. */
#define PGP_AUDIT_CHAIN_DOMAIN		"\0audit-chain"
#define PGP_AUDIT_CHAIN_DOMAIN_LEN	((int) sizeof(PGP_AUDIT_CHAIN_DOMAIN) - 1)

/* First bytes of every MAC'd message: the serialization's version. */
#define PGP_AUDIT_TAG				"pg_privacy audit entry v2"

/* Key fingerprints are short ("pgp1:" and 16 hex digits); room to spare. */
#define PGP_AUDIT_FP_MAX			64

static PgpKeyRef audit_keyref;

/*
 * Heads appended by the current transaction, not yet written to the log:
 * at most one per subtransaction nesting level, levels increasing.  The
 * newest one of a level supersedes older ones of that level and deeper.
 * Lives in TopTransactionContext; reset at every transaction end.
 */
typedef struct PendingHead
{
	int			level;			/* subtransaction nesting level */
	int64		id;
	unsigned char hash[PGP_SHA256_LEN];
	char		fp[PGP_AUDIT_FP_MAX + 1];
} PendingHead;

static PendingHead *pending = NULL;
static int	npending = 0;
static int	maxpending = 0;
static bool callbacks_registered = false;

static void
put_u32(StringInfo buf, uint32 v)
{
	unsigned char b[4];

	b[0] = (unsigned char) (v >> 24);
	b[1] = (unsigned char) (v >> 16);
	b[2] = (unsigned char) (v >> 8);
	b[3] = (unsigned char) v;
	appendBinaryStringInfo(buf, (const char *) b, 4);
}

static void
put_i64(StringInfo buf, int64 v)
{
	put_u32(buf, (uint32) ((uint64) v >> 32));
	put_u32(buf, (uint32) ((uint64) v & 0xffffffff));
}

/* One field: its length in bytes (32 bits, big endian), then its bytes. */
static void
put_field(StringInfo buf, const char *data, int len)
{
	put_u32(buf, (uint32) len);
	appendBinaryStringInfo(buf, data, len);
}

static void
require_arg(FunctionCallInfo fcinfo, int argno, const char *name)
{
	if (PG_ARGISNULL(argno))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("audit entry field \"%s\" must not be null", name)));
}

PG_FUNCTION_INFO_V1(pgp_audit_digest);

/*
 * _audit_digest(prev bytea, id bigint, at timestamptz, actor name,
 *				 role name, event text, object text, detail jsonb,
 *				 key_fingerprint text) -> bytea
 *
 * HMAC-SHA256 under the audit chain key of:
 *	  tag, prev, id, at, actor, role, event, object, detail, key_fingerprint
 * where prev, actor, role, event, detail (its jsonb text form) and
 * key_fingerprint are length-prefixed byte strings, id and at (microseconds
 * since 2000-01-01 UTC, independent of any setting) are 64-bit big endian,
 * and object is one byte 0 when NULL, else one byte 1 and the
 * length-prefixed string.  Only object may be NULL.  Raises 55000 when no
 * usable master key is loaded.  Never returns or logs the key.
 */
/*
 * The MAC of one entry (see _audit_digest below) into out; object may be
 * NULL, nothing else.
 */
static void
audit_digest(const char *prev, int prevlen, int64 id, TimestampTz at,
			 const char *actor, const char *role, text *event, text *object,
			 Datum detail, const char *fp, int fplen, unsigned char *out)
{
	StringInfoData buf;
	PgpKey	   *k;

	/*
	 * Under the key the entry names: the current one (appending, and
	 * checking entries made under it), or an older key that
	 * pg_privacy.key_file still lists (checking entries made before a key
	 * change).  A key not listed: 55000, never a digest under another key.
	 */
	{
		char		cur[PGP_FINGERPRINT_LEN + 1];
		char	   *fps = pnstrdup(fp, fplen);
		int			m;

		k = pgp_key_cached(&audit_keyref, PGP_KP_AUDIT, PGP_AUDIT_CHAIN_DOMAIN,
						   PGP_AUDIT_CHAIN_DOMAIN_LEN);
		pgp_key_fingerprint_of(0, cur);
		if (strcmp(fps, cur) != 0)
		{
			m = pgp_key_require(fps, "An audit entry");
			k = pgp_get_key_of(m, PGP_KP_AUDIT, PGP_AUDIT_CHAIN_DOMAIN,
							   PGP_AUDIT_CHAIN_DOMAIN_LEN, PGP_KEY_VERSION);
		}
		pfree(fps);
	}

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, PGP_AUDIT_TAG, sizeof(PGP_AUDIT_TAG));	/* with NUL */
	put_field(&buf, prev, prevlen);
	put_i64(&buf, id);
	put_i64(&buf, (int64) at);
	put_field(&buf, actor, strlen(actor));
	put_field(&buf, role, strlen(role));
	put_field(&buf, VARDATA_ANY(event), VARSIZE_ANY_EXHDR(event));
	if (object == NULL)
		appendStringInfoCharMacro(&buf, 0);
	else
	{
		appendStringInfoCharMacro(&buf, 1);
		put_field(&buf, VARDATA_ANY(object), VARSIZE_ANY_EXHDR(object));
	}
	{
		char	   *d = DatumGetCString(DirectFunctionCall1(jsonb_out, detail));

		put_field(&buf, d, strlen(d));
		pfree(d);
	}
	put_field(&buf, fp, fplen);

	if (!pgp_hmac_sha256(pgp_key_hmac(k), (const unsigned char *) buf.data,
						 buf.len, out))
		pgp_crypto_error("HMAC");
	pfree(buf.data);
}

Datum
pgp_audit_digest(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"prev_hash", "id", "at", "actor", "role",
	"event", "object", "detail", "key_fingerprint"};
	bytea	   *result;
	bytea	   *prev;
	text	   *fp;
	int			i;

	for (i = 0; i < 9; i++)
		if (i != 6)
			require_arg(fcinfo, i, names[i]);
	prev = PG_GETARG_BYTEA_PP(0);
	fp = PG_GETARG_TEXT_PP(8);
	result = (bytea *) palloc(VARHDRSZ + PGP_SHA256_LEN);
	SET_VARSIZE(result, VARHDRSZ + PGP_SHA256_LEN);
	audit_digest(VARDATA_ANY(prev), VARSIZE_ANY_EXHDR(prev), PG_GETARG_INT64(1),
				 PG_GETARG_TIMESTAMPTZ(2), NameStr(*PG_GETARG_NAME(3)),
				 NameStr(*PG_GETARG_NAME(4)), PG_GETARG_TEXT_PP(5),
				 PG_ARGISNULL(6) ? NULL : PG_GETARG_TEXT_PP(6), PG_GETARG_DATUM(7),
				 VARDATA_ANY(fp), VARSIZE_ANY_EXHDR(fp), (unsigned char *) VARDATA(result));
	PG_RETURN_BYTEA_P(result);
}

/*
 * Write the newest committed head to the server log.
 */
static void
audit_log_head(const PendingHead *h)
{
	static const char hexdig[] = "0123456789abcdef";
	char		hex[2 * PGP_SHA256_LEN + 1];
	int			i;

	for (i = 0; i < PGP_SHA256_LEN; i++)
	{
		hex[2 * i] = hexdig[h->hash[i] >> 4];
		hex[2 * i + 1] = hexdig[h->hash[i] & 0x0f];
	}
	hex[2 * PGP_SHA256_LEN] = '\0';
	ereport(LOG_SERVER_ONLY,
			(errhidestmt(true),
			 errhidecontext(true),
			 errmsg("pg_privacy audit head: id=" INT64_FORMAT " hash=%s key=%s",
					h->id, hex, h->fp)));
}

static void
audit_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_COMMIT:
			{
				bool		any = npending > 0;
				PendingHead h;

				if (any)
					h = pending[npending - 1];
				/* the array goes with TopTransactionContext */
				pending = NULL;
				npending = maxpending = 0;
				if (any)
					audit_log_head(&h);
			}
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
			pending = NULL;
			npending = maxpending = 0;
			break;
		default:
			break;
	}
}

static void
audit_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
					   SubTransactionId parentSubid, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();

	if (npending == 0)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		/* the heads this subtransaction appended were rolled back */
		while (npending > 0 && pending[npending - 1].level >= level)
			npending--;
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		/* they now belong to the parent, superseding its own */
		if (pending[npending - 1].level >= level)
		{
			PendingHead h = pending[npending - 1];

			while (npending > 0 && pending[npending - 1].level >= level - 1)
				npending--;
			h.level = level - 1;
			pending[npending++] = h;
		}
	}
}

/*
 * Note a new chain head: written to the server log if and when the current
 * transaction commits (see the file header).
 */
static void
audit_note_head(int64 id, const char *hash, int hashlen, const char *fp, int fplen)
{
	int			level = GetCurrentTransactionNestLevel();
	PendingHead *h;

	if (hashlen != PGP_SHA256_LEN || fplen > PGP_AUDIT_FP_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("not an audit chain head"),
				 errdetail("A head is a %d-byte hash and a key fingerprint of at most %d bytes.",
						   PGP_SHA256_LEN, PGP_AUDIT_FP_MAX)));
	if (!callbacks_registered)
	{
		RegisterXactCallback(audit_xact_callback, NULL);
		RegisterSubXactCallback(audit_subxact_callback, NULL);
		callbacks_registered = true;
	}

	/* the new head supersedes those of this level and deeper */
	while (npending > 0 && pending[npending - 1].level >= level)
		npending--;
	if (pending == NULL)
	{
		maxpending = 4;
		pending = MemoryContextAlloc(TopTransactionContext,
									 maxpending * sizeof(PendingHead));
	}
	else if (npending >= maxpending)
	{
		maxpending *= 2;
		pending = repalloc(pending, maxpending * sizeof(PendingHead));
	}
	h = &pending[npending++];
	memset(h, 0, sizeof(*h));
	h->level = level;
	h->id = id;
	memcpy(h->hash, hash, PGP_SHA256_LEN);
	memcpy(h->fp, fp, fplen);
	h->fp[fplen] = '\0';
}

PG_FUNCTION_INFO_V1(pgp_audit_anchor);

/*
 * _audit_anchor(id bigint, hash bytea, key_fingerprint text): the SQL entry
 * point of audit_note_head, which the _audit of a database at 0.8.0 or
 * older calls until ALTER EXTENSION pg_privacy UPDATE (since 0.9.0 _audit
 * is pgp_audit_append below, and the SQL function is gone).
 */
Datum
pgp_audit_anchor(PG_FUNCTION_ARGS)
{
	bytea	   *hash;
	text	   *fp;

	require_arg(fcinfo, 0, "id");
	require_arg(fcinfo, 1, "hash");
	require_arg(fcinfo, 2, "key_fingerprint");
	hash = PG_GETARG_BYTEA_PP(1);
	fp = PG_GETARG_TEXT_PP(2);
	audit_note_head(PG_GETARG_INT64(0), VARDATA_ANY(hash), VARSIZE_ANY_EXHDR(hash),
					VARDATA_ANY(fp), VARSIZE_ANY_EXHDR(fp));
	PG_RETURN_VOID();
}

/*
 * Where this transaction last wrote the head row: its tuple, found again
 * by TID.  The head row is updated by every entry, and a transaction that
 * appends many entries (a batch of erasures, a replay after a restore)
 * leaves as many versions of it on its pages, none of them removable
 * before it ends: found by a scan, the n-th entry would look at the n-1
 * versions before it, every one of them checked against the transaction's
 * subtransactions.  Only a hint: the tuple found at the TID is used only
 * when it is visible and this transaction wrote it (its xmin is one of the
 * transaction's own), so that it is the head and no other transaction can
 * change it before this one ends (a writer waits for this transaction):
 * it needs no lock of its own.  Otherwise (the subtransaction that wrote
 * it rolled back, a new transaction, the row written behind pg_privacy's
 * back) the head is locked and found by a scan, as before.
 */
static LocalTransactionId head_lxid = InvalidLocalTransactionId;
static ItemPointerData head_tid;

/*
 * Run a kept statement that finds the head row by TID ($n = TID).  Planned
 * (when it is, on first use or after an invalidation) without sequential
 * scans and with TID scans, whatever the session set: on a table of one
 * page the planner prefers reading the page to fetching the TID, and that
 * scan reads every version.
 */
static int
audit_exec_by_tid(SPIPlanPtr plan, Datum *vals)
{
	int			nestlevel = NewGUCNestLevel();
	int			ret;

	(void) set_config_option("enable_seqscan", "off",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	(void) set_config_option("enable_tidscan", "on",
							 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE,
							 true, 0, false);
	ret = SPI_execute_plan(plan, vals, NULL, false, 0);
	AtEOXact_GUC(true, nestlevel);
	return ret;
}

/*
 * The head row's last_hash (palloc'd into *prev) and TID, the row held by
 * this transaction; false when there is none.
 *
 * By TID: the version this transaction last wrote, if still visible and
 * its own (see above), with no lock taken.  Otherwise by a scan, locked by
 * an UPDATE that changes nothing, not by SELECT ... FOR UPDATE: a row lock
 * taken in a subtransaction on a version another subtransaction of the
 * same transaction wrote is kept on every later version in a MultiXact of
 * all of them, which every later reader then reads whole (again a cost
 * that grows with each entry).
 */
static bool
audit_lock_head(bool by_tid, bytea **prev, ItemPointer tid)
{
	int			ret;
	bool		isnull;
	Datum		d;

	if (by_tid)
	{
		Oid			types[1] = {TIDOID};
		Datum		vals[1] = {PointerGetDatum(&head_tid)};

		ret = audit_exec_by_tid(pgp_kept_plan("SELECT h.last_hash, h.ctid, h.xmin FROM privacy.audit_head h"
											  " WHERE h.ctid OPERATOR(pg_catalog.=) $1",
											  1, types),
								vals);
		if (ret != SPI_OK_SELECT)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
		if (SPI_processed != 1)
			return false;
		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3, &isnull);
		if (isnull || !TransactionIdIsCurrentTransactionId(DatumGetTransactionId(d)))
			return false;
	}
	else
	{
		ret = SPI_execute_plan(pgp_kept_plan("UPDATE privacy.audit_head h SET last_id = h.last_id"
											 " RETURNING h.last_hash, h.ctid",
											 0, NULL),
							   NULL, NULL, false, 0);
		if (ret != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
		if (SPI_processed == 0)
			return false;
	}
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the audit chain head has no hash")));
	*prev = DatumGetByteaPCopy(d);
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull);
	ItemPointerCopy((ItemPointer) DatumGetPointer(d), tid);
	return true;
}

PG_FUNCTION_INFO_V1(pgp_audit_append);

/*
 * _audit(event text, object text, detail jsonb) -> bigint: append one
 * entry to the chain and return its id.  The head row is locked first, so
 * writers queue there (and under REPEATABLE READ a concurrent append raises
 * a serialization failure instead of forking the chain); the entry is
 * chained to the head's hash under the current key (55000 without one),
 * the head moved to it, and the new head noted for the server log at
 * commit.  Refused on a Citus worker: one chain, on the coordinator.
 */
Datum
pgp_audit_append(PG_FUNCTION_ARGS)
{
	text	   *event;
	text	   *object;
	Datum		detail;
	TimestampTz ts = GetCurrentTimestamp();
	char	   *who = GetUserNameFromId(GetSessionUserId(), false);
	char	   *as_role = GetUserNameFromId(pgp_caller(), false);
	char		fp[PGP_FINGERPRINT_LEN + 1];
	bytea	   *prev = NULL;
	ItemPointerData tid;
	unsigned char hash[PGP_SHA256_LEN];
	bytea	   *hashv;
	int64		new_id;
	bool		isnull;
	int			ret;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("audit event must not be null")));
	event = PG_GETARG_TEXT_PP(0);
	object = PG_ARGISNULL(1) ? NULL : PG_GETARG_TEXT_PP(1);
	detail = PG_ARGISNULL(2) ? DirectFunctionCall1(jsonb_in, CStringGetDatum("{}"))
		: PG_GETARG_DATUM(2);
	pgp_citus_refuse_on_worker(text_to_cstring(event), "It writes pg_privacy's audit log");
	/* nothing is appended unkeyed: without a usable key this fails (55000) */
	pgp_key_current_fingerprint(fp);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!(head_lxid == MyProc->lxid && audit_lock_head(true, &prev, &tid)) &&
		!audit_lock_head(false, &prev, &tid))
	{
		ret = SPI_execute("INSERT INTO privacy.audit_head VALUES (true, 0, '\\x'::bytea)"
						  " ON CONFLICT DO NOTHING", false, 0);
		if (ret != SPI_OK_INSERT)
			elog(ERROR, "SPI_execute failed: %s", SPI_result_code_string(ret));
		if (!audit_lock_head(false, &prev, &tid))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the audit chain head is missing or cannot be updated")));
	}

	ret = SPI_execute_plan(pgp_kept_plan("SELECT pg_catalog.nextval('privacy.audit_log_id_seq'::pg_catalog.regclass)",
										 0, NULL),
						   NULL, NULL, false, 0);
	if (ret != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	new_id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));

	audit_digest(VARDATA_ANY(prev), VARSIZE_ANY_EXHDR(prev), new_id, ts, who, as_role,
				 event, object, detail, fp, strlen(fp), hash);
	hashv = (bytea *) palloc(VARHDRSZ + PGP_SHA256_LEN);
	SET_VARSIZE(hashv, VARHDRSZ + PGP_SHA256_LEN);
	memcpy(VARDATA(hashv), hash, PGP_SHA256_LEN);

	{
		Oid			types[10] = {INT8OID, TIMESTAMPTZOID, NAMEOID, NAMEOID, TEXTOID,
		TEXTOID, JSONBOID, BYTEAOID, BYTEAOID, TEXTOID};
		Datum		vals[10];
		char		nulls[10] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};

		vals[0] = Int64GetDatum(new_id);
		vals[1] = TimestampTzGetDatum(ts);
		vals[2] = DirectFunctionCall1(namein, CStringGetDatum(who));
		vals[3] = DirectFunctionCall1(namein, CStringGetDatum(as_role));
		vals[4] = PointerGetDatum(event);
		vals[5] = object ? PointerGetDatum(object) : (Datum) 0;
		nulls[5] = object ? ' ' : 'n';
		vals[6] = detail;
		vals[7] = PointerGetDatum(prev);
		vals[8] = PointerGetDatum(hashv);
		vals[9] = CStringGetTextDatum(fp);
		ret = SPI_execute_plan(pgp_kept_plan("INSERT INTO privacy.audit_log"
											 " (id, at, actor, role, event, object, detail, prev_hash, hash, key_fingerprint)"
											 " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
											 10, types),
							   vals, nulls, false, 0);
		if (ret != SPI_OK_INSERT)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
	}
	{
		Oid			types[3] = {INT8OID, BYTEAOID, TIDOID};
		Datum		vals[3] = {Int64GetDatum(new_id), PointerGetDatum(hashv),
		PointerGetDatum(&tid)};

		/*
		 * The version read above, held by this transaction: nobody else
		 * can have moved it.  Were it gone, the entry would fork the
		 * chain: fail instead.
		 */
		ret = audit_exec_by_tid(pgp_kept_plan("UPDATE privacy.audit_head h SET last_id = $1, last_hash = $2"
											  " WHERE h.ctid OPERATOR(pg_catalog.=) $3 RETURNING h.ctid",
											  3, types),
								vals);
		if (ret != SPI_OK_UPDATE_RETURNING)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
		if (SPI_processed != 1)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("the audit chain head moved during an append"),
					 errhint("Retry the transaction.")));
		ItemPointerCopy((ItemPointer) DatumGetPointer(SPI_getbinval(SPI_tuptable->vals[0],
														  SPI_tuptable->tupdesc, 1, &isnull)),
						&head_tid);
		head_lxid = MyProc->lxid;
	}
	SPI_finish();
	audit_note_head(new_id, (const char *) hash, PGP_SHA256_LEN, fp, strlen(fp));
	PG_RETURN_INT64(new_id);
}
