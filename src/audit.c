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

#include "keys.h"

#include "access/xact.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
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
Datum
pgp_audit_digest(PG_FUNCTION_ARGS)
{
	static const char *const names[] = {"prev_hash", "id", "at", "actor", "role",
	"event", "object", "detail", "key_fingerprint"};
	StringInfoData buf;
	PgpKey	   *k;
	bytea	   *result;
	int			i;

	for (i = 0; i < 9; i++)
		if (i != 6)
			require_arg(fcinfo, i, names[i]);

	/*
	 * Under the key the entry names: the current one (appending, and
	 * checking entries made under it), or an older key that
	 * pg_privacy.key_file still lists (checking entries made before a key
	 * change).  A key not listed: 55000, never a digest under another key.
	 */
	{
		text	   *fpt = PG_GETARG_TEXT_PP(8);
		char		cur[PGP_FINGERPRINT_LEN + 1];
		char	   *fp = text_to_cstring(fpt);
		int			m;

		k = pgp_key_cached(&audit_keyref, PGP_KP_AUDIT, PGP_AUDIT_CHAIN_DOMAIN,
						   PGP_AUDIT_CHAIN_DOMAIN_LEN);
		pgp_key_fingerprint_of(0, cur);
		if (strcmp(fp, cur) != 0)
		{
			m = pgp_key_require(fp, "An audit entry");
			k = pgp_get_key_of(m, PGP_KP_AUDIT, PGP_AUDIT_CHAIN_DOMAIN,
							   PGP_AUDIT_CHAIN_DOMAIN_LEN, PGP_KEY_VERSION);
		}
		pfree(fp);
	}

	initStringInfo(&buf);
	appendBinaryStringInfo(&buf, PGP_AUDIT_TAG, sizeof(PGP_AUDIT_TAG));	/* with NUL */
	{
		bytea	   *prev = PG_GETARG_BYTEA_PP(0);

		put_field(&buf, VARDATA_ANY(prev), VARSIZE_ANY_EXHDR(prev));
	}
	put_i64(&buf, PG_GETARG_INT64(1));
	put_i64(&buf, (int64) PG_GETARG_TIMESTAMPTZ(2));
	{
		Name		actor = PG_GETARG_NAME(3);
		Name		role = PG_GETARG_NAME(4);

		put_field(&buf, NameStr(*actor), strlen(NameStr(*actor)));
		put_field(&buf, NameStr(*role), strlen(NameStr(*role)));
	}
	{
		text	   *event = PG_GETARG_TEXT_PP(5);

		put_field(&buf, VARDATA_ANY(event), VARSIZE_ANY_EXHDR(event));
	}
	if (PG_ARGISNULL(6))
		appendStringInfoCharMacro(&buf, 0);
	else
	{
		text	   *object = PG_GETARG_TEXT_PP(6);

		appendStringInfoCharMacro(&buf, 1);
		put_field(&buf, VARDATA_ANY(object), VARSIZE_ANY_EXHDR(object));
	}
	{
		char	   *detail = DatumGetCString(DirectFunctionCall1(jsonb_out,
																 PG_GETARG_DATUM(7)));

		put_field(&buf, detail, strlen(detail));
		pfree(detail);
	}
	{
		text	   *fp = PG_GETARG_TEXT_PP(8);

		put_field(&buf, VARDATA_ANY(fp), VARSIZE_ANY_EXHDR(fp));
	}

	result = (bytea *) palloc(VARHDRSZ + PGP_SHA256_LEN);
	SET_VARSIZE(result, VARHDRSZ + PGP_SHA256_LEN);
	if (!pgp_hmac_sha256(pgp_key_hmac(k), (const unsigned char *) buf.data,
						 buf.len, (unsigned char *) VARDATA(result)))
		pgp_crypto_error("HMAC");
	pfree(buf.data);
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

PG_FUNCTION_INFO_V1(pgp_audit_anchor);

/*
 * _audit_anchor(id bigint, hash bytea, key_fingerprint text): note the new
 * chain head; it is written to the server log if and when the current
 * transaction commits (see the file header).
 */
Datum
pgp_audit_anchor(PG_FUNCTION_ARGS)
{
	int			level = GetCurrentTransactionNestLevel();
	bytea	   *hash;
	text	   *fp;
	PendingHead *h;

	require_arg(fcinfo, 0, "id");
	require_arg(fcinfo, 1, "hash");
	require_arg(fcinfo, 2, "key_fingerprint");
	hash = PG_GETARG_BYTEA_PP(1);
	fp = PG_GETARG_TEXT_PP(2);
	if (VARSIZE_ANY_EXHDR(hash) != PGP_SHA256_LEN ||
		VARSIZE_ANY_EXHDR(fp) > PGP_AUDIT_FP_MAX)
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
	h->id = PG_GETARG_INT64(0);
	memcpy(h->hash, VARDATA_ANY(hash), PGP_SHA256_LEN);
	memcpy(h->fp, VARDATA_ANY(fp), VARSIZE_ANY_EXHDR(fp));
	h->fp[VARSIZE_ANY_EXHDR(fp)] = '\0';
	PG_RETURN_VOID();
}
