/*-------------------------------------------------------------------------
 *
 * consent.c
 *	  Consent: the has_consent check, the require_consent trigger, the
 *	  append-only guard of the consent register with its erasure hook, and
 *	  the withdrawal cascade.
 *
 * The register (privacy.consent_event) and the current state derived from
 * it (privacy.consent_state, one row per identifier kind, normalized value
 * and purpose) are written by the PL/pgSQL functions of
 * src/sql/40_consent.sql.  This file reads them on the hot paths:
 *
 *	  has_consent()		one btree descent into consent_state (now) or into
 *						consent_event's (kind, value, purpose, at DESC, id
 *						DESC) index (a past moment), with the statement's
 *						snapshot, through an index scan each call site keeps
 *						open for its query (see ConsentScan); no SPI and no
 *						catalog lookup per call.
 *	  the trigger		per row: normalize the subject, descend into
 *						consent_state and lock the row FOR KEY SHARE.  A
 *						withdrawal locks the same row FOR UPDATE and updates
 *						it, so it waits for every transaction that wrote a
 *						row relying on the consent (and then deletes those
 *						rows with a fresh snapshot), and a writer that comes
 *						after it follows the update chain and sees the
 *						withdrawal.  Checked subjects are remembered for the
 *						rest of the transaction: the lock keeps the answer
 *						true until commit.
 *
 * Relation OIDs of the register are cached per backend and dropped by a
 * relcache callback; the trigger's per-relation requirements are read once
 * from privacy.consent_requirement (as its owner, like protect.c) and
 * dropped the same way (require_consent sends the invalidation).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "citus.h"
#include "e164.h"
#include "identifier.h"
#include "keys.h"
#include "owner.h"
#include "protect.h"
#include "rekey.h"
#include "pseudonym.h"
#include "schema.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/nbtree.h"
#include "access/skey.h"
#include "access/stratnum.h"
#include "access/table.h"
#include "access/tableam.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_am.h"
#include "catalog/pg_class.h"
#include "catalog/pg_collation.h"
#include "catalog/pg_type.h"
#include "common/hashfn.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "executor/tuptable.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"
#include "utils/syscache.h"

/* How an identifier kind is normalized: identifier.c. */
typedef PgpIdNorm IdNorm;

/* Longest key of the checked-subjects cache (see checked below). */
#define CHECKED_KEYLEN	160

/* The register's relations, looked up once per backend. */
typedef struct ConsentRels
{
	bool		valid;
	Oid			state_rel;		/* privacy.consent_state */
	Oid			state_idx;		/* its primary key (kind, value, purpose) */
	Oid			event_rel;		/* privacy.consent_event */
	Oid			event_idx;		/* consent_event_lookup */
	AttrNumber	state_granted;
	AttrNumber	event_event;
} ConsentRels;

static ConsentRels crels;

/* One requirement of a table, resolved for the firing relation. */
typedef struct ConsentReq
{
	AttrNumber	attnum;
	char	   *colname;
	char	   *relname;		/* the firing relation's, for messages */
	Oid			typid;
	bool		typbyval;
	int16		typlen;
	bool		is_text;		/* text, varchar or bpchar */
	FmgrInfo	typoutput;		/* for other types (e.g. bigint ids) */
	IdNorm		norm;
	text	   *kind;
	text	   *purpose;
	char	   *purpose_s;
	char	   *keyprefix;		/* "purpose|kind|" for the checked cache */
	int			keyprefix_len;
	uint64		lastkey_gen;	/* the generation of checked ... */
	int			lastkey_len;	/* ... in which this key was checked last */
	char		lastkey[CHECKED_KEYLEN];
	bool		fpe;			/* column protected by msisdn_fpe */
	char	   *domain;
	int			domain_len;
	PgpKeyRef	ref;
	PgpKey	   *pending_key;	/* under the relation's pending key */
	uint64		pending_gen;
} ConsentReq;

typedef struct ConsentRel
{
	Oid			relid;			/* hash key: the firing relation */
	Oid			registered;		/* the table the requirement names */
	bool		valid;
	int			nreqs;
	ConsentReq *reqs;
	PgpRekeyRegion region;		/* the key rotation's (src/rekey.c) */
	MemoryContext cxt;
} ConsentRel;

static HTAB *consent_rel_cache = NULL;
static ConsentRel *last_rel = NULL;	/* the entry looked up last */
static bool callbacks_registered = false;

/*
 * Subjects this transaction has checked and locked, keyed "purpose|kind|"
 * plus the value as written ('r') or in normal form ('n').  Lives in
 * TopTransactionContext; dropped at transaction end, when a
 * subtransaction aborts (its row locks go with it) and when this
 * transaction changes a consent.
 */
#define CHECKED_MAX		(256 * 1024)
static HTAB *checked = NULL;

/* Bumped whenever checked is dropped: a remembered key is valid only in its generation. */
static uint64 checked_gen = 1;

/* Drop the checked subjects. */
static inline void
checked_reset(void)
{
	checked = NULL;
	checked_gen++;
}

/*
 * An index scan that one has_consent call site keeps open for the rest of
 * its query, so each call is a rescan (as a correlated subquery's index
 * scan is) instead of opening relations and a scan descriptor anew.
 *
 * Everything such a scan holds (relation references, the slot's tuple
 * descriptor, buffer pins during a call) is held by the top transaction's
 * resource owner, whatever portal or subtransaction the call runs in, and
 * no buffer stays pinned between calls.  A scan is closed when the call
 * site's memory goes (end of query), before commit at the latest, and when
 * the subtransaction that opened it (and took its locks) aborts, or one
 * aborts in the middle of a call; at a top-level abort the resource owner
 * releases it and it is only forgotten.
 */
typedef struct ConsentScan
{
	struct ConsentScan *next;	/* in open_scans while open */
	bool		open;
	bool		in_call;		/* an error now leaves its state unusable */
	Oid			relid;
	Oid			indexid;
	int			nkeys;
	Relation	rel;
	Relation	idx;
	IndexScanDesc scan;
	TupleTableSlot *slot;
	Snapshot	snap;
	SubTransactionId subid;		/* (sub)transaction that opened it */
	MemoryContext mcxt;
	MemoryContextCallback cb;
} ConsentScan;

static ConsentScan *open_scans = NULL;

/*
 * Set while _consent_forget_identities runs: the one UPDATE the append-only
 * trigger lets through.  Only C code sets it.
 */
static bool forgetting = false;

/* ------------------------------------------------------------------------
 * Caches and their invalidation
 * ------------------------------------------------------------------------
 */

/*
 * Relcache callback: forget the register's OIDs when one of its relations
 * changes, and the requirement state of an invalidated table.
 */
static void
consent_relcache_cb(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == crels.state_rel || relid == crels.state_idx ||
		relid == crels.event_rel || relid == crels.event_idx)
		crels.valid = false;
	last_rel = NULL;
	if (consent_rel_cache != NULL)
	{
		HASH_SEQ_STATUS status;
		ConsentRel *cr;

		hash_seq_init(&status, consent_rel_cache);
		while ((cr = hash_seq_search(&status)) != NULL)
		{
			if (relid == InvalidOid || cr->relid == relid || cr->registered == relid)
				cr->valid = false;
		}
	}
}

/* Take a scan out of open_scans; its resources are someone else's now. */
static void
scan_forget(ConsentScan *cs)
{
	ConsentScan **p;

	for (p = &open_scans; *p != NULL; p = &(*p)->next)
	{
		if (*p == cs)
		{
			*p = cs->next;
			break;
		}
	}
	cs->next = NULL;
	cs->open = false;
}

/*
 * Close a scan, as the top transaction's resource owner.  A scan stopped
 * in the middle of a call by an error may hold index entries to be marked
 * dead; they are dropped rather than written during an abort.
 */
static void
scan_close(ConsentScan *cs)
{
	ResourceOwner save = CurrentResourceOwner;

	if (!cs->open)
		return;
	scan_forget(cs);
	if (cs->in_call && cs->idx->rd_rel->relam == BTREE_AM_OID)
		((BTScanOpaque) cs->scan->opaque)->numKilled = 0;
	CurrentResourceOwner = TopTransactionResourceOwner;
	index_endscan(cs->scan);
	ExecDropSingleTupleTableSlot(cs->slot);
	index_close(cs->idx, NoLock);
	table_close(cs->rel, NoLock);
	CurrentResourceOwner = save;
}

/* The call site's memory goes away: close its scan if still open. */
static void
scan_reset_cb(void *arg)
{
	scan_close((ConsentScan *) arg);
}

/*
 * Transaction end: forget the checked subjects (their memory goes with
 * TopTransactionContext); close open scans before commit, forget them at
 * an abort (the resource owner releases them).
 */
static void
consent_xact_cb(XactEvent event, void *arg)
{
	checked_reset();
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
		case XACT_EVENT_PARALLEL_PRE_COMMIT:
		case XACT_EVENT_PRE_PREPARE:
			while (open_scans != NULL)
				scan_close(open_scans);
			break;
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
			while (open_scans != NULL)
				scan_forget(open_scans);
			break;
		default:
			break;
	}
}

/*
 * A subtransaction that aborts releases its row locks (forget the checked
 * subjects) and the relation locks of the scans it opened (close them); a
 * scan it interrupted in the middle of a call is closed too.  A committing
 * one hands its scans up.
 */
static void
consent_subxact_cb(SubXactEvent event, SubTransactionId mySubid,
				   SubTransactionId parentSubid, void *arg)
{
	ConsentScan *cs;
	ConsentScan *next;

	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		checked_reset();
		for (cs = open_scans; cs != NULL; cs = next)
		{
			next = cs->next;
			if (cs->subid == mySubid || cs->in_call)
				scan_close(cs);
		}
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		for (cs = open_scans; cs != NULL; cs = cs->next)
			if (cs->subid == mySubid)
				cs->subid = parentSubid;
	}
}

/* Register the cache callbacks once per backend. */
static void
consent_register_callbacks(void)
{
	if (callbacks_registered)
		return;
	pgp_on_relcache(consent_relcache_cb, (Datum) 0);
	RegisterXactCallback(consent_xact_cb, NULL);
	RegisterSubXactCallback(consent_subxact_cb, NULL);
	callbacks_registered = true;
}

/* The OID of privacy.<name>, which must exist. */
static Oid
privacy_relid(Oid nsp, const char *name)
{
	Oid			relid = get_relname_relid(name, nsp);

	if (!OidIsValid(relid))
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation \"privacy.%s\" does not exist", name),
				 errhint("Is the pg_privacy extension installed in this database?")));
	return relid;
}

/*
 * Make sure crels holds the register's OIDs and attribute numbers.
 */
static void
consent_rels_ensure(void)
{
	Oid			nsp;

	consent_register_callbacks();
	if (crels.valid)
		return;
	nsp = get_namespace_oid("privacy", false);
	crels.state_rel = privacy_relid(nsp, "consent_state");
	crels.state_idx = privacy_relid(nsp, "consent_state_pkey");
	crels.event_rel = privacy_relid(nsp, "consent_event");
	crels.event_idx = privacy_relid(nsp, "consent_event_lookup");
	crels.state_granted = get_attnum(crels.state_rel, "granted");
	crels.event_event = get_attnum(crels.event_rel, "event");
	if (crels.state_granted == InvalidAttrNumber || crels.event_event == InvalidAttrNumber)
		elog(ERROR, "the consent register has an unexpected shape");
	crels.valid = true;
}

/* ------------------------------------------------------------------------
 * Identifiers
 * ------------------------------------------------------------------------
 */

/* The normalization named in privacy.identifier_kind.normalize. */
static inline IdNorm
parse_norm(const char *s)
{
	return pgp_identifier_norm_from_name(s, strlen(s));
}

/*
 * An identifier in its kind's normal form (identifier.c), national phone
 * numbers read under pg_privacy.default_country.
 */
static inline text *
identifier_normalize(IdNorm norm, const char *s, int len, bool quiet)
{
	return pgp_normalize_identifier(norm, s, len, pgp_default_country, quiet);
}

/* ------------------------------------------------------------------------
 * Reading the register
 * ------------------------------------------------------------------------
 */

/* Equality scan key on a text index column, with the column's collation. */
static void
text_key(ScanKey key, Relation idx, AttrNumber attno, text *value)
{
	ScanKeyEntryInitialize(key, 0, attno, BTEqualStrategyNumber, InvalidOid,
						   idx->rd_indcollation[attno - 1], F_TEXTEQ,
						   PointerGetDatum(value));
}

/*
 * The current consent of (kind, value, purpose) for the trigger: true when
 * its latest event is a grant.  The state row is locked FOR KEY SHARE (the
 * newest version of it in READ COMMITTED, so a withdrawal committed after
 * the statement's snapshot is seen); under REPEATABLE READ a concurrent
 * change is a serialization failure, as for SELECT ... FOR KEY SHARE.
 * The lookup is cached per transaction by the caller, so it opens its
 * relations per call.
 */
static bool
consent_current_locked(text *kind, text *value, text *purpose)
{
	Relation	rel;
	Relation	idx;
	IndexScanDesc scan;
	ScanKeyData keys[3];
	TupleTableSlot *slot;
	Snapshot	snap = GetActiveSnapshot();
	bool		granted = false;
	bool		isnull;

	consent_rels_ensure();
	rel = table_open(crels.state_rel, RowShareLock);
	idx = index_open(crels.state_idx, AccessShareLock);
	text_key(&keys[0], idx, 1, kind);
	text_key(&keys[1], idx, 2, value);
	text_key(&keys[2], idx, 3, purpose);
	slot = table_slot_create(rel, NULL);
	scan = index_beginscan(rel, idx, snap, 3, 0);
	index_rescan(scan, keys, 3, NULL, 0);
	if (index_getnext_slot(scan, ForwardScanDirection, slot))
	{
		ItemPointerData tid = slot->tts_tid;
		TM_FailureData tmfd;
		TM_Result	res;

		res = table_tuple_lock(rel, &tid, snap, slot, GetCurrentCommandId(false),
							   LockTupleKeyShare, LockWaitBlock,
							   IsolationUsesXactSnapshot() ? 0 : TUPLE_LOCK_FLAG_FIND_LAST_VERSION,
							   &tmfd);
		switch (res)
		{
			case TM_Ok:
				granted = DatumGetBool(slot_getattr(slot, crels.state_granted, &isnull)) && !isnull;
				break;
			case TM_Deleted:
				if (IsolationUsesXactSnapshot())
					ereport(ERROR,
							(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
							 errhidestmt(true),
							 errmsg("could not serialize access due to concurrent delete")));
				granted = false;	/* the identifier was erased */
				break;
			case TM_Updated:
				ereport(ERROR,
						(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
						 errhidestmt(true),
						 errmsg("could not serialize access due to concurrent update"),
						 errdetail("The consent this row depends on changed after the transaction began.")));
				break;
			case TM_SelfModified:
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errhidestmt(true),
						 errmsg("consent changed by the statement that depends on it")));
				break;
			default:
				elog(ERROR, "unexpected table_tuple_lock status: %u", res);
		}
	}
	index_endscan(scan);
	ExecDropSingleTupleTableSlot(slot);
	index_close(idx, NoLock);
	table_close(rel, NoLock);
	return granted;
}

/*
 * The open scan of a call site over (relid, indexid) with nkeys keys,
 * opened on first use and re-begun when the active snapshot changes.
 */
static ConsentScan *
scan_get(ConsentScan **pcs, MemoryContext mcxt, Oid relid, Oid indexid, int nkeys)
{
	ConsentScan *cs = *pcs;
	Snapshot	snap = GetActiveSnapshot();
	MemoryContext old;
	ResourceOwner save;

	if (cs == NULL)
	{
		cs = MemoryContextAllocZero(mcxt, sizeof(ConsentScan));
		cs->mcxt = mcxt;
		cs->cb.func = scan_reset_cb;
		cs->cb.arg = cs;
		MemoryContextRegisterResetCallback(mcxt, &cs->cb);
		*pcs = cs;
	}
	if (cs->open && (cs->relid != relid || cs->indexid != indexid || cs->nkeys != nkeys))
		scan_close(cs);
	old = MemoryContextSwitchTo(cs->mcxt);
	save = CurrentResourceOwner;
	CurrentResourceOwner = TopTransactionResourceOwner;
	if (!cs->open)
	{
		cs->rel = table_open(relid, AccessShareLock);
		cs->idx = index_open(indexid, AccessShareLock);
		cs->slot = table_slot_create(cs->rel, NULL);
		cs->scan = index_beginscan(cs->rel, cs->idx, snap, nkeys, 0);
		cs->relid = relid;
		cs->indexid = indexid;
		cs->nkeys = nkeys;
		cs->snap = snap;
		cs->subid = GetCurrentSubTransactionId();
		cs->in_call = false;
		cs->open = true;
		cs->next = open_scans;
		open_scans = cs;
	}
	else if (cs->snap != snap)
	{
		index_endscan(cs->scan);
		cs->scan = index_beginscan(cs->rel, cs->idx, snap, nkeys, 0);
		cs->snap = snap;
	}
	CurrentResourceOwner = save;
	MemoryContextSwitchTo(old);
	return cs;
}

/*
 * Look up the first index entry for keys with an open scan and return
 * attribute attno of its row (isnull and false when there is none).  No
 * buffer stays pinned afterwards.
 */
static bool
scan_first(ConsentScan *cs, ScanKey keys, AttrNumber attno, Datum *value, bool *isnull)
{
	volatile bool found = false;
	ResourceOwner save = CurrentResourceOwner;

	cs->in_call = true;
	CurrentResourceOwner = TopTransactionResourceOwner;
	PG_TRY();
	{
		index_rescan(cs->scan, keys, cs->nkeys, NULL, 0);
		found = index_getnext_slot(cs->scan, ForwardScanDirection, cs->slot);
		if (found)
		{
			*value = slot_getattr(cs->slot, attno, isnull);
			/* copy out before the slot lets go of the buffer */
			if (!*isnull && attno == crels.event_event)
				*value = PointerGetDatum(DatumGetTextPCopy(*value));
		}
		else
			*isnull = true;
		ExecClearTuple(cs->slot);
		index_rescan(cs->scan, keys, cs->nkeys, NULL, 0);	/* drops the pins */
	}
	PG_FINALLY();
	{
		CurrentResourceOwner = save;
	}
	PG_END_TRY();
	cs->in_call = false;
	return found;
}

/*
 * The consent of (kind, value, purpose) for has_consent: now (the latest
 * state the snapshot sees) or, with has_at, at a moment (the latest event
 * at or before it).
 */
static bool
consent_lookup(ConsentScan **pcs, MemoryContext mcxt, text *kind, text *value,
			   text *purpose, bool has_at, TimestampTz at)
{
	ConsentScan *cs;
	ScanKeyData keys[4];
	Datum		d = (Datum) 0;
	bool		isnull = true;

	consent_rels_ensure();
	if (!has_at)
	{
		cs = scan_get(pcs, mcxt, crels.state_rel, crels.state_idx, 3);
		text_key(&keys[0], cs->idx, 1, kind);
		text_key(&keys[1], cs->idx, 2, value);
		text_key(&keys[2], cs->idx, 3, purpose);
		(void) scan_first(cs, keys, crels.state_granted, &d, &isnull);
		return !isnull && DatumGetBool(d);
	}
	cs = scan_get(pcs, mcxt, crels.event_rel, crels.event_idx, 4);
	text_key(&keys[0], cs->idx, 1, kind);
	text_key(&keys[1], cs->idx, 2, value);
	text_key(&keys[2], cs->idx, 3, purpose);
	ScanKeyEntryInitialize(&keys[3], 0, 4, BTLessEqualStrategyNumber, InvalidOid,
						   InvalidOid, F_TIMESTAMPTZ_LE, TimestampTzGetDatum(at));
	(void) scan_first(cs, keys, crels.event_event, &d, &isnull);
	if (isnull)
		return false;
	return VARSIZE_ANY_EXHDR(DatumGetPointer(d)) == 5 &&
		memcmp(VARDATA_ANY(DatumGetPointer(d)), "grant", 5) == 0;
}

/*
 * Check an identifier kind and a purpose the way the SQL functions do, and
 * return the kind's normalization.
 */
static IdNorm
consent_validate(text *kind, text *purpose)
{
	Oid			argtypes[2] = {TEXTOID, TEXTOID};
	Datum		values[2];
	IdNorm		norm;
	char	   *kind_s = text_to_cstring(kind);
	char	   *purpose_s = text_to_cstring(purpose);
	char	   *normalize;
	char	   *basis;
	char	   *requires;

	consent_rels_ensure();
	values[0] = PointerGetDatum(kind);
	values[1] = PointerGetDatum(purpose);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	pgp_catalog_select("SELECT (SELECT k.normalize FROM privacy.identifier_kind k"
				 "         WHERE k.name OPERATOR(pg_catalog.=) $1),"
				 "       (SELECT p.legal_basis FROM privacy.purpose p"
				 "         WHERE p.name OPERATOR(pg_catalog.=) $2),"
				 "       (SELECT p.requires_consent::pg_catalog.text FROM privacy.purpose p"
				 "         WHERE p.name OPERATOR(pg_catalog.=) $2)",
				 2, argtypes, values);
	normalize = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	basis = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2);
	requires = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	if (normalize == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errhidestmt(true),	/* has_consent's statement names the subject */
				 errmsg("unknown identifier kind \"%s\"", kind_s)));
	if (basis == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errhidestmt(true),	/* has_consent's statement names the subject */
				 errmsg("purpose \"%s\" does not exist", purpose_s),
				 errhint("Define it first with privacy.define_purpose().")));
	if (strcmp(requires, "true") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errhidestmt(true),	/* has_consent's statement names the subject */
				 errmsg("purpose \"%s\" is not based on consent", purpose_s),
				 errdetail("Its legal basis is \"%s\"; consent is recorded only for purposes whose legal basis is consent.",
						   basis)));
	norm = parse_norm(normalize);
	SPI_finish();
	return norm;
}

/* ------------------------------------------------------------------------
 * has_consent
 * ------------------------------------------------------------------------
 */

/* Per call site: the kind and purpose checked last, and the kind's norm. */
typedef struct HasConsentCache
{
	text	   *kind;
	text	   *purpose;
	IdNorm		norm;
	ConsentScan *now_scan;		/* over consent_state */
	ConsentScan *at_scan;		/* over consent_event */
} HasConsentCache;

/* Byte-equal texts. */
static bool
text_same(text *a, text *b)
{
	return VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0;
}

PG_FUNCTION_INFO_V1(pgp_has_consent);

/*
 * has_consent(kind, value, purpose, at): whether the identifier has
 * consent for the purpose.  at NULL: now, i.e. the latest event the
 * statement's snapshot sees (a grant made earlier in the same transaction
 * counts, which now() as transaction start time would miss); otherwise the
 * state at that moment.  A NULL value gives NULL.
 */
Datum
pgp_has_consent(PG_FUNCTION_ARGS)
{
	HasConsentCache *cache = (HasConsentCache *) fcinfo->flinfo->fn_extra;
	text	   *kind;
	text	   *value;
	text	   *purpose;
	text	   *norm_value;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("identifier kind and purpose must not be null")));
	if (PG_ARGISNULL(1))
		PG_RETURN_NULL();
	kind = PG_GETARG_TEXT_PP(0);
	value = PG_GETARG_TEXT_PP(1);
	purpose = PG_GETARG_TEXT_PP(2);

	if (cache == NULL || !text_same(cache->kind, kind) || !text_same(cache->purpose, purpose))
	{
		IdNorm		norm;
		MemoryContext old;

		/*
		 * Pushed down by Citus into a worker, it would read that node's own,
		 * empty register: refused there (once per call site and purpose).
		 */
		pgp_citus_refuse_on_worker("has_consent", "It reads pg_privacy's consent register");
		norm = consent_validate(kind, purpose);
		old = MemoryContextSwitchTo(fcinfo->flinfo->fn_mcxt);

		if (cache == NULL)
			cache = palloc0(sizeof(HasConsentCache));
		else
		{
			pfree(cache->kind);
			pfree(cache->purpose);
		}
		cache->kind = (text *) PG_DETOAST_DATUM_COPY(PointerGetDatum(kind));
		cache->purpose = (text *) PG_DETOAST_DATUM_COPY(PointerGetDatum(purpose));
		cache->norm = norm;
		MemoryContextSwitchTo(old);
		fcinfo->flinfo->fn_extra = cache;
	}

	norm_value = identifier_normalize(cache->norm, VARDATA_ANY(value),
									  VARSIZE_ANY_EXHDR(value), false);
	if (PG_NARGS() < 4 || PG_ARGISNULL(3))
		PG_RETURN_BOOL(consent_lookup(&cache->now_scan, fcinfo->flinfo->fn_mcxt,
									  cache->kind, norm_value, cache->purpose, false, 0));
	PG_RETURN_BOOL(consent_lookup(&cache->at_scan, fcinfo->flinfo->fn_mcxt,
								  cache->kind, norm_value, cache->purpose, true,
								  PG_GETARG_TIMESTAMPTZ(3)));
}

/* ------------------------------------------------------------------------
 * The require_consent trigger
 * ------------------------------------------------------------------------
 */

/*
 * Build the requirements of the firing relation from the catalog: one
 * query, columns resolved by name in this relation (a partition may number
 * them differently).
 */
/*
 * The types a column holding identifiers may have: built-in text and
 * integer types (privacy_internal._identifier_type_ok in SQL).
 */
static bool
pgp_consent_type_ok(Oid typid)
{
	return typid == TEXTOID || typid == VARCHAROID || typid == BPCHAROID ||
		typid == INT2OID || typid == INT4OID || typid == INT8OID ||
		typid == NUMERICOID;
}

static void
consent_rel_build(ConsentRel *cr, Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	List	   *ancestors = NIL;
	Datum	   *elems;
	int			nelems;
	int			i;
	ListCell   *lc;
	Oid			argtypes[1] = {OIDARRAYOID};
	Datum		values[1];
	MemoryContext oldcxt;
	MemoryContext cxt;
	TupleDesc	tupdesc = RelationGetDescr(rel);

	consent_rels_ensure();
	if (cr->cxt != NULL)
		MemoryContextDelete(cr->cxt);
	cr->cxt = NULL;
	cr->nreqs = 0;
	cr->registered = InvalidOid;

	if (rel->rd_rel->relispartition)
		ancestors = get_partition_ancestors(relid);
	nelems = list_length(ancestors) + 1;
	elems = palloc(sizeof(Datum) * nelems);
	elems[0] = ObjectIdGetDatum(relid);
	i = 1;
	foreach(lc, ancestors)
		elems[i++] = ObjectIdGetDatum(lfirst_oid(lc));
	values[0] = PointerGetDatum(construct_array(elems, nelems, OIDOID, sizeof(Oid), true,
												TYPALIGN_INT));

	cxt = AllocSetContextCreate(CacheMemoryContext, "pg_privacy consent state",
								ALLOCSET_SMALL_SIZES);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	pgp_catalog_select("SELECT q.col::pg_catalog.text, q.purpose, q.kind, k.normalize,"
				 "       CASE WHEN privacy_internal._has_protect_trigger(q.tbl) THEN c.protect END,"
				 "       c.domain, q.tbl::pg_catalog.oid"
				 "  FROM privacy.consent_requirement q"
				 "  JOIN privacy.identifier_kind k ON k.name OPERATOR(pg_catalog.=) q.kind"
				 "  LEFT JOIN privacy.registered_column c"
				 "         ON c.tbl OPERATOR(pg_catalog.=) q.tbl AND c.col OPERATOR(pg_catalog.=) q.col"
				 " WHERE q.tbl::pg_catalog.oid OPERATOR(pg_catalog.=) ANY ($1)"
				 " ORDER BY q.col, q.purpose",
				 1, argtypes, values);

	oldcxt = MemoryContextSwitchTo(cxt);
	cr->reqs = palloc0(sizeof(ConsentReq) * Max(SPI_processed, 1));
	for (i = 0; i < (int) SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		char	   *col = SPI_getvalue(t, td, 1);
		char	   *purpose = SPI_getvalue(t, td, 2);
		char	   *kind = SPI_getvalue(t, td, 3);
		char	   *normalize = SPI_getvalue(t, td, 4);
		char	   *protect = SPI_getvalue(t, td, 5);
		char	   *domain = SPI_getvalue(t, td, 6);
		bool		isnull;
		Oid			reg = DatumGetObjectId(SPI_getbinval(t, td, 7, &isnull));
		ConsentReq *rq = &cr->reqs[cr->nreqs];

		rq->attnum = get_attnum(RelationGetRelid(rel), col);
		if (rq->attnum != InvalidAttrNumber)
		{
			Form_pg_attribute att = TupleDescAttr(tupdesc, rq->attnum - 1);

			rq->typid = att->atttypid;
			rq->typbyval = att->attbyval;
			rq->typlen = att->attlen;
			/*
			 * Fail closed on a generated column (a column dropped and added
			 * again as one keeps the requirement by name): it is computed
			 * after the BEFORE row triggers, so the check would see no
			 * subject and let every row through.
			 */
			if (att->attgenerated != '\0')
				ereport(ERROR,
						(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						 errmsg("column \"%s\" of relation \"%s\" that requires consent is a generated column",
								col, RelationGetRelationName(rel)),
						 errdetail("A generated column is computed after the consent check, which would see no subject."),
						 errhint("Require consent on the column it is computed from.")));
		}
		if (rq->attnum == InvalidAttrNumber)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("column \"%s\" of relation \"%s\" that requires consent does not exist",
							col, RelationGetRelationName(rel)),
					 errhint("Declare the requirement anew with privacy.require_consent() after renaming a column.")));
		/*
		 * Fail closed on a column whose type changed since the requirement
		 * was declared: only built-in text and integer types are read.
		 */
		if (!pgp_consent_type_ok(rq->typid))
			ereport(ERROR,
					(errcode(ERRCODE_DATATYPE_MISMATCH),
					 errmsg("column \"%s\" of relation \"%s\" that requires consent has type %s",
							col, RelationGetRelationName(rel), format_type_be(rq->typid)),
					 errdetail("A subject column must have a built-in text or integer type."),
					 errhint("Change the column back, or remove the requirement with privacy.unrequire_consent().")));
		rq->colname = pstrdup(col);
		rq->relname = pstrdup(RelationGetRelationName(rel));
		rq->is_text = (rq->typid == TEXTOID || rq->typid == VARCHAROID || rq->typid == BPCHAROID);
		if (!rq->is_text)
		{
			Oid			outfunc;
			bool		varlena;

			getTypeOutputInfo(rq->typid, &outfunc, &varlena);
			fmgr_info_cxt(outfunc, &rq->typoutput, cxt);
		}
		rq->norm = parse_norm(normalize);
		rq->kind = cstring_to_text(kind);
		rq->purpose = cstring_to_text(purpose);
		rq->purpose_s = pstrdup(purpose);
		rq->keyprefix = psprintf("%s|%s|", purpose, kind);
		rq->keyprefix_len = strlen(rq->keyprefix);
		if (protect != NULL)
		{
			if (strcmp(protect, "msisdn_fpe") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errmsg("cannot check consent on column \"%s\" of relation \"%s\"",
								col, RelationGetRelationName(rel)),
						 errdetail("The column is protected by \"%s\", which cannot be reversed.", protect),
						 errhint("Remove the requirement with privacy.unrequire_consent() or the protection.")));
			rq->fpe = true;
			rq->domain = pstrdup(domain);
			rq->domain_len = strlen(domain);
		}
		cr->registered = reg;
		cr->nreqs++;
	}
	MemoryContextSwitchTo(oldcxt);

	/*
	 * A stored phone-number pseudonym of a row privacy.rekey() has not
	 * converted is under the older key (src/rekey.c).
	 */
	for (i = 0; i < cr->nreqs && !cr->reqs[i].fpe; i++)
		;
	cr->region.fp[0] = '\0';
	cr->region.has_wm = false;
	cr->region.has_hi = false;
	if (i < cr->nreqs)
	{
		PG_TRY();
		{
			pgp_rekey_region(rel, cxt, &cr->region);
		}
		PG_CATCH();
		{
			MemoryContextDelete(cxt);
			cr->nreqs = 0;
			PG_RE_THROW();
		}
		PG_END_TRY();
	}
	SPI_finish();

	cr->cxt = cxt;
	cr->valid = true;
}

/* The requirements of the firing relation, built on first use. */
static ConsentRel *
consent_rel_lookup(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	ConsentRel *cr;
	bool		found;

	if (last_rel != NULL && last_rel->relid == relid && last_rel->valid)
		return last_rel;
	consent_register_callbacks();
	if (consent_rel_cache == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(ConsentRel);
		ctl.hcxt = CacheMemoryContext;
		consent_rel_cache = hash_create("pg_privacy consent cache", 64, &ctl,
										HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	cr = hash_search(consent_rel_cache, &relid, HASH_ENTER, &found);
	if (!found)
	{
		cr->valid = false;
		cr->cxt = NULL;
		cr->nreqs = 0;
		cr->registered = InvalidOid;
	}
	if (!cr->valid)
	{
		PG_TRY();
		{
			consent_rel_build(cr, rel);
		}
		PG_CATCH();
		{
			cr->valid = false;
			PG_RE_THROW();
		}
		PG_END_TRY();
	}
	last_rel = cr;
	return cr;
}

/*
 * Whether this transaction already checked and locked the consent of the
 * key; with add, remember it.
 */
static bool
checked_probe(const char *key, int klen, bool add)
{
	bool		found;
	uint32		hash;

	if (checked == NULL)
	{
		HASHCTL		ctl;

		if (!add)
			return false;
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = CHECKED_KEYLEN;
		ctl.entrysize = CHECKED_KEYLEN;
		ctl.hcxt = TopTransactionContext;
		checked = hash_create("pg_privacy checked consents", 1024, &ctl,
							  HASH_ELEM | HASH_STRINGS | HASH_CONTEXT);
	}
	/* string_hash would give the same, after a strlen */
	hash = hash_bytes((const unsigned char *) key, klen);
	if (add)
	{
		if (hash_get_num_entries(checked) >= CHECKED_MAX)
			return false;		/* bounded: later subjects are looked up */
		(void) hash_search_with_hash_value(checked, key, hash, HASH_ENTER, &found);
		return found;
	}
	(void) hash_search_with_hash_value(checked, key, hash, HASH_FIND, &found);
	return found;
}

/*
 * The subject a row's value names, in normal form.  An unchanged value of a
 * column protected by msisdn_fpe is the stored pseudonym: decrypt it.
 */
static text *
row_subject(ConsentRel *cr, ConsentReq *rq, Datum d, bool stored, bool pending)
{
	char	   *s;
	int			len;

	if (rq->is_text)
	{
		text	   *t = DatumGetTextPP(d);

		s = VARDATA_ANY(t);
		len = VARSIZE_ANY_EXHDR(t);
	}
	else
	{
		s = OutputFunctionCall(&rq->typoutput, d);
		len = strlen(s);
	}
	/*
	 * a row a table held before protect_in_batches() that privacy.rekey()
	 * has not converted: its value is raw
	 */
	if (stored && rq->fpe && pending && PGP_REKEY_RAW(&cr->region))
		return identifier_normalize(rq->norm, s, len, false);
	if (stored && rq->fpe)
	{
		PgpE164Result res;
		PgpKey	   *k;

		pgp_normalize_or_error(s, len, NULL, &res);
		if (pending)
			/* under the older key until privacy.rekey() converts it */
			k = pgp_pending_fpe_key(cr->region.fp, rq->domain, rq->domain_len,
									&rq->pending_key, &rq->pending_gen, rq->relname);
		else
			k = pgp_key_cached(&rq->ref, PGP_KP_MSISDN_FPE, rq->domain, rq->domain_len);
		pgp_msisdn_ff1(k, &res, rq->domain, rq->domain_len, true);
		return cstring_to_text_with_len(res.number, res.ndigits + 1);
	}
	return identifier_normalize(rq->norm, s, len, false);
}

PG_FUNCTION_INFO_V1(pgp_consent_trigger);

/*
 * The trigger function: BEFORE INSERT OR UPDATE, FOR EACH ROW.  Refuses a
 * row whose subject has no consent for a purpose the table requires it
 * for; the error names the purpose, never the subject.
 */
Datum
pgp_consent_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Relation	rel;
	TupleDesc	tupdesc;
	HeapTuple	tuple;
	HeapTuple	oldtuple = NULL;
	ConsentRel *cr;
	int			i;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("privacy_internal._consent_trigger() must be called as a trigger")));
	if (!TRIGGER_FIRED_BEFORE(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		TRIGGER_FIRED_BY_DELETE(td->tg_event) || TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("privacy_internal._consent_trigger() must be a BEFORE INSERT OR UPDATE row trigger")));

	rel = td->tg_relation;
	tupdesc = RelationGetDescr(rel);
	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		tuple = td->tg_newtuple;
		oldtuple = td->tg_trigtuple;
	}
	else
		tuple = td->tg_trigtuple;

	/*
	 * privacy.rekey() converting the relation's phone-number pseudonyms
	 * to the current key, or protect() the values it held raw: the same
	 * subjects, nothing to check.
	 */
	if (oldtuple != NULL &&
		(pgp_rekeying(RelationGetRelid(rel)) || pgp_rewriting(RelationGetRelid(rel))))
		return PointerGetDatum(tuple);

	cr = consent_rel_lookup(rel);

	/*
	 * No requirement names this relation (a copy of the trigger on a table
	 * the catalog does not name, a Citus shard among them): accepting the
	 * row would accept a subject without consent.  Refuse.
	 */
	if (cr->nreqs == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" has pg_privacy's consent trigger but no consent requirement",
						RelationGetRelationName(rel)),
				 errdetail("A row of a subject without consent would be accepted."),
				 errhint("Require consent with privacy.require_consent(), or drop the trigger with privacy.unrequire_consent().")));
	for (i = 0; i < cr->nreqs; i++)
	{
		ConsentReq *rq = &cr->reqs[i];
		bool		isnull;
		bool		stored = false;
		Datum		d = heap_getattr(tuple, rq->attnum, tupdesc, &isnull);
		text	   *subject;
		char		key[CHECKED_KEYLEN];
		int			klen;
		bool		cacheable;

		if (isnull)
			continue;			/* a row about nobody */
		if (oldtuple != NULL)
		{
			bool		oldnull;
			Datum		od = heap_getattr(oldtuple, rq->attnum, tupdesc, &oldnull);

			stored = !oldnull && datum_image_eq(d, od, rq->typbyval, rq->typlen);
		}
		/*
		 * The checked cache is keyed by "purpose|kind|" and the value as
		 * written (with the default country for phone numbers, which
		 * decides how a national number normalizes), so a subject seen
		 * before in this transaction costs one hash probe; a stored
		 * pseudonym (UPDATE leaving it unchanged) is keyed in normal form.
		 */
		if (rq->is_text && !stored)
		{
			text	   *t = DatumGetTextPP(d);
			int			vlen = VARSIZE_ANY_EXHDR(t);
			int			dlen = (rq->norm == PGP_ID_MSISDN) ? 4 : 1;

			klen = rq->keyprefix_len + dlen + vlen;
			cacheable = klen < (int) sizeof(key) && memchr(VARDATA_ANY(t), '\0', vlen) == NULL;
			if (cacheable)
			{
				/* "purpose|kind|r" [country "|"] raw value */
				memcpy(key, rq->keyprefix, rq->keyprefix_len);
				key[rq->keyprefix_len] = 'r';
				if (dlen > 1)
				{
					key[rq->keyprefix_len + 1] = pgp_default_country[0];
					key[rq->keyprefix_len + 2] = pgp_default_country[1];
					key[rq->keyprefix_len + 3] = '|';
				}
				memcpy(key + rq->keyprefix_len + dlen, VARDATA_ANY(t), vlen);
				key[klen] = '\0';
				if (rq->lastkey_gen == checked_gen && rq->lastkey_len == klen &&
					memcmp(rq->lastkey, key, klen) == 0)
					continue;	/* the same subject as the row before */
				if (checked_probe(key, klen, false))
					continue;
			}
			subject = identifier_normalize(rq->norm, VARDATA_ANY(t), vlen, false);
		}
		else
		{
			subject = row_subject(cr, rq, d, stored,
								  stored && pgp_rekey_row_pending(&cr->region, oldtuple, tupdesc));
			klen = rq->keyprefix_len + 1 + VARSIZE_ANY_EXHDR(subject);
			cacheable = klen < (int) sizeof(key);
			if (cacheable)
			{
				/* "purpose|kind|n" normalized value */
				memcpy(key, rq->keyprefix, rq->keyprefix_len);
				key[rq->keyprefix_len] = 'n';
				memcpy(key + rq->keyprefix_len + 1, VARDATA_ANY(subject), VARSIZE_ANY_EXHDR(subject));
				key[klen] = '\0';
				if (checked_probe(key, klen, false))
					continue;
			}
		}
		if (!consent_current_locked(rq->kind, subject, rq->purpose))
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errhidestmt(true),	/* the statement holds the subject */
					 errmsg("no consent for purpose \"%s\"", rq->purpose_s),
					 errdetail("Relation \"%s\" requires consent for purpose \"%s\" from the subject in column \"%s\"; this row's subject has not given it, or has withdrawn it.",
							   RelationGetRelationName(rel), rq->purpose_s, rq->colname),
					 errhint("Record the consent with privacy.grant_consent() first.")));
		if (cacheable)
		{
			(void) checked_probe(key, klen, true);
			memcpy(rq->lastkey, key, klen + 1);
			rq->lastkey_len = klen;
			rq->lastkey_gen = checked_gen;
		}
	}
	return PointerGetDatum(tuple);
}

PG_FUNCTION_INFO_V1(pgp_raise_hidden);

/*
 * _raise_hidden(sqlstate, message, detail, hint): raise an error about a
 * data subject from PL/pgSQL without logging the statement, which names
 * the subject (RAISE cannot hide it).  The message and detail must not
 * hold the value themselves.
 */
Datum
pgp_raise_hidden(PG_FUNCTION_ARGS)
{
	const char *code = "P0001";
	const char *msg = "error about a data subject";

	if (!PG_ARGISNULL(0))
		code = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (!PG_ARGISNULL(1))
		msg = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (strlen(code) != 5 || strspn(code, "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ") != 5)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid SQLSTATE code")));
	ereport(ERROR,
			(errcode(MAKE_SQLSTATE(code[0], code[1], code[2], code[3], code[4])),
			 errhidestmt(true),
			 errmsg_internal("%s", msg),
			 PG_ARGISNULL(2) ? 0 : errdetail_internal("%s", text_to_cstring(PG_GETARG_TEXT_PP(2))),
			 PG_ARGISNULL(3) ? 0 : errhint("%s", text_to_cstring(PG_GETARG_TEXT_PP(3)))));
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(pgp_consent_changed);

/*
 * _consent_changed(): this transaction granted or withdrew a consent;
 * forget what the trigger remembered.
 */
Datum
pgp_consent_changed(PG_FUNCTION_ARGS)
{
	checked_reset();
	PG_RETURN_VOID();
}

/* ------------------------------------------------------------------------
 * Withdrawal cascade
 * ------------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(pgp_consent_delete);

/*
 * _consent_delete(tbl, col, how, match): delete the rows of a subject.
 *
 * Runs as the table's owner in a security-restricted operation with a safe
 * search_path, so nothing the owner planted runs with the rights of the
 * SECURITY DEFINER caller.  In READ COMMITTED the DELETE takes a fresh
 * snapshot, which sees every row written by a transaction the withdrawal
 * waited for.  Under REPEATABLE READ those rows are newer than the
 * transaction snapshot: the DELETE uses the latest snapshot and checks
 * against the transaction's, so such a row is a serialization failure
 * (retry) rather than a row left behind, as PostgreSQL's foreign-key
 * cascades do.
 */
Datum
pgp_consent_delete(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *col;
	char	   *how;
	Datum		match;
	StringInfoData sql;
	Oid			argtypes[1] = {TEXTOID};
	Datum		values[1];
	PgpAsOwner	as_owner;
	uint64		processed = 0;
	const char *qcol;
	AttrNumber	attnum;
	Oid			typid;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		PG_RETURN_NULL();
	relid = PG_GETARG_OID(0);
	col = NameStr(*PG_GETARG_NAME(1));
	how = text_to_cstring(PG_GETARG_TEXT_PP(2));
	match = PG_GETARG_DATUM(3);
	qcol = quote_identifier(col);

	/* a table Citus manages: its rows are on the shards (citus.c) */
	pgp_citus_refuse(relid, "withdraw_consent(on_withdraw => 'delete')");

	/* fail closed on a column whose type changed since it was declared */
	attnum = get_attnum(relid, col);
	if (attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_COLUMN),
				 errmsg("column \"%s\" of relation \"%s\" does not exist", col, get_rel_name(relid))));
	typid = get_atttype(relid, attnum);
	if (!pgp_consent_type_ok(typid))
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("column \"%s\" of relation \"%s\" that requires consent has type %s",
						col, get_rel_name(relid), format_type_be(typid)),
				 errdetail("A subject column must have a built-in text or integer type."),
				 errhint("Change the column back, or remove the requirement with privacy.unrequire_consent().")));

	initStringInfo(&sql);
	appendStringInfo(&sql, "DELETE FROM %s t WHERE ",
					 quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)),
												get_rel_name(relid)));
	if (strcmp(how, "equal") == 0)
		appendStringInfo(&sql, "t.%s::pg_catalog.text OPERATOR(pg_catalog.=) $1", qcol);
	else if (strncmp(how, "under:", 6) == 0)
	{
		/*
		 * A phone-number pseudonym while a key rotation runs: match under
		 * the key given, the rows under that key only (_row_key, read in
		 * the DELETE's snapshot: src/sql/36_rekey.sql)
		 */
		const char *fp = how + 6;
		const char *p;

		if (strlen(fp) != PGP_FINGERPRINT_LEN)
			elog(ERROR, "invalid match \"%s\"", how);
		for (p = fp; *p; p++)
			if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || *p == ':'))
				elog(ERROR, "invalid match \"%s\"", how);
		appendStringInfo(&sql, "t.%s::pg_catalog.text OPERATOR(pg_catalog.=) $1"
						 " AND privacy_internal._row_key(t.tableoid, t.*) OPERATOR(pg_catalog.=) %s",
						 qcol, quote_literal_cstr(fp));
	}
	else if (strcmp(how, "raw:msisdn") == 0 || strcmp(how, "raw:email") == 0 ||
			 strcmp(how, "raw:text") == 0)
	{
		/*
		 * Rows not converted since protect_in_batches(), which hold the
		 * identifier raw: by the normal form their conversion gives it
		 * (rows of that key only, read in the DELETE's snapshot)
		 */
		appendStringInfo(&sql, "privacy.lookup_value('%s', t.%s::pg_catalog.text, %s) COLLATE \"C\" OPERATOR(pg_catalog.=) $1"
						 " AND privacy_internal._row_key(t.tableoid, t.*) OPERATOR(pg_catalog.=) 'raw'",
						 how + 4, qcol, quote_literal_cstr(pgp_default_country));
	}
	else if (strcmp(how, "msisdn") == 0 || strcmp(how, "email") == 0)
		appendStringInfo(&sql, "privacy.lookup_value('%s', t.%s::pg_catalog.text, %s) OPERATOR(pg_catalog.=) $1",
						 how, qcol, quote_literal_cstr(pgp_default_country));
	else
		elog(ERROR, "invalid match \"%s\"", how);
	values[0] = match;

	pgp_begin_as_owner(relid, &as_owner);
	pgp_refuse_deferrable_triggers(relid);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (IsolationUsesXactSnapshot())
	{
		SPIPlanPtr	plan = SPI_prepare(pgp_internal_sql(sql.data), 1, argtypes);
		int			ret;

		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		CommandCounterIncrement();
		ret = SPI_execute_snapshot(plan, values, NULL, GetLatestSnapshot(),
								   GetTransactionSnapshot(), false, false, 0);
		if (ret != SPI_OK_DELETE)
			elog(ERROR, "SPI_execute_snapshot failed: %s", SPI_result_code_string(ret));
	}
	else
	{
		int			ret = SPI_execute_with_args(pgp_internal_sql(sql.data), 1, argtypes, values, NULL, false, 0);

		if (ret != SPI_OK_DELETE)
			elog(ERROR, "SPI_execute_with_args failed: %s", SPI_result_code_string(ret));
	}
	processed = SPI_processed;
	SPI_finish();
	pgp_end_as_owner(&as_owner);

	PG_RETURN_INT64((int64) processed);
}

/* ------------------------------------------------------------------------
 * Append-only register and the erasure hook
 * ------------------------------------------------------------------------
 */

PG_FUNCTION_INFO_V1(pgp_consent_append_only);

/*
 * Trigger on privacy.consent_event: refuses UPDATE, DELETE and TRUNCATE
 * to everyone, except the one change the erasure hook makes while it runs
 * (value set to NULL, every other column unchanged).
 */
Datum
pgp_consent_append_only(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	const char *op;

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("privacy_internal._consent_append_only() must be called as a trigger")));

	if (forgetting && TRIGGER_FIRED_BY_UPDATE(td->tg_event) &&
		TRIGGER_FIRED_FOR_ROW(td->tg_event))
	{
		TupleDesc	tupdesc = RelationGetDescr(td->tg_relation);
		int			valatt = get_attnum(RelationGetRelid(td->tg_relation), "value");
		bool		ok = true;
		int			a;

		for (a = 1; a <= tupdesc->natts && ok; a++)
		{
			Form_pg_attribute att = TupleDescAttr(tupdesc, a - 1);
			bool		n1,
						n2;
			Datum		d1,
						d2;

			if (att->attisdropped)
				continue;
			d1 = heap_getattr(td->tg_trigtuple, a, tupdesc, &n1);
			d2 = heap_getattr(td->tg_newtuple, a, tupdesc, &n2);
			if (a == valatt)
				ok = n2;
			else
				ok = (n1 == n2) && (n1 || datum_image_eq(d1, d2, att->attbyval, att->attlen));
		}
		if (ok)
			return PointerGetDatum(td->tg_newtuple);
	}

	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		op = "UPDATE";
	else if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
		op = "DELETE";
	else if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		op = "TRUNCATE";
	else
		op = "INSERT";
	ereport(ERROR,
			(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
			 errmsg("privacy.consent_event is append-only"),
			 errdetail("%s is not allowed on the consent register; it is the proof of consent.", op),
			 errhint("Record a withdrawal with privacy.withdraw_consent().")));
	return (Datum) 0;			/* keep compiler quiet */
}

PG_FUNCTION_INFO_V1(pgp_consent_forget_identities);

/*
 * The identifiers ($1 kinds, $2 values) as (k, v), each value in the
 * normal form of its kind, each pair once.
 */
#define FORGET_IDS \
	"(SELECT DISTINCT u.k, privacy_internal._identifier_normalize(u.k, u.v) AS v" \
	"   FROM ROWS FROM (pg_catalog.unnest($1), pg_catalog.unnest($2)) u(k, v)" \
	"  WHERE u.k IS NOT NULL AND u.v IS NOT NULL)"

/*
 * _consent_forget_identities(kinds, values): the erasure hook.  Nulls the
 * subject's identifiers in its consent events (subject_ref stays) and
 * drops their current state rows, all identifiers in one statement each.
 * Runs with the caller's rights: only the extension owner holds EXECUTE
 * and the tables' privileges.
 */
static uint64
forget_identities(Datum kinds, Datum vals)
{
	Datum		values[2];
	Oid			argtypes[2] = {TEXTARRAYOID, TEXTARRAYOID};
	uint64		n = 0;

	values[0] = kinds;
	values[1] = vals;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	forgetting = true;
	PG_TRY();
	{
		int			ret;

		/* (one statement: the identifiers normalized once) */
		ret = SPI_execute_plan(pgp_kept_plan(pgp_internal_sql("WITH x AS MATERIALIZED " FORGET_IDS ","
															   " d AS (DELETE FROM privacy.consent_state s USING x"
															   " WHERE s.kind OPERATOR(pg_catalog.=) x.k"
															   "   AND s.value OPERATOR(pg_catalog.=) x.v)"
															   " UPDATE privacy.consent_event e SET value = NULL"
															   " FROM x"
															   " WHERE e.kind OPERATOR(pg_catalog.=) x.k"
															   "   AND e.value OPERATOR(pg_catalog.=) x.v"),
											 2, argtypes),
							   values, NULL, false, 0);
		if (ret != SPI_OK_UPDATE)
			elog(ERROR, "SPI_execute_plan failed: %s", SPI_result_code_string(ret));
		n = SPI_processed;
	}
	PG_FINALLY();
	{
		forgetting = false;
	}
	PG_END_TRY();
	SPI_finish();
	checked_reset();
	return n;
}

Datum
pgp_consent_forget_identities(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	PG_RETURN_INT64((int64) forget_identities(PG_GETARG_DATUM(0), PG_GETARG_DATUM(1)));
}

PG_FUNCTION_INFO_V1(pgp_consent_forget_identity);

/*
 * The same for one identifier: _consent_forget_identity(kind, value) of the
 * install scripts up to 0.5.0 (see src/compat.c).
 */
Datum
pgp_consent_forget_identity(PG_FUNCTION_ARGS)
{
	Datum		k;
	Datum		v;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	k = PG_GETARG_DATUM(0);
	v = PG_GETARG_DATUM(1);
	PG_RETURN_INT64((int64) forget_identities(PointerGetDatum(construct_array(&k, 1, TEXTOID, -1, false, TYPALIGN_INT)),
											  PointerGetDatum(construct_array(&v, 1, TEXTOID, -1, false, TYPALIGN_INT))));
}
