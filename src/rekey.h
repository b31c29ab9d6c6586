/*-------------------------------------------------------------------------
 *
 * rekey.h
 *	  Which key a stored phone-number pseudonym is under during a key
 *	  rotation (rekey.c; the rotation itself: src/sql/36_rekey.sql).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGP_REKEY_H
#define PGP_REKEY_H

#include "postgres.h"

#include "access/htup.h"
#include "access/xact.h"
#include "access/tupdesc.h"
#include "fmgr.h"
#include "utils/relcache.h"

#include "keys.h"

/* the pending "key" of rows a table held before protect_in_batches() */
#define PGP_REKEY_RAW_FP "raw"
#define PGP_REKEY_RAW(rg) (strcmp((rg)->fp, PGP_REKEY_RAW_FP) == 0)

/*
 * A relation's state in a key rotation: the older key its msisdn_fpe
 * pseudonyms are pending under (fp, "" when none), and, once
 * privacy.rekey() has begun it, the column it converts in order of, the
 * watermark and the high mark: a row whose order column is at most the
 * watermark or above the high mark is under the current key, any other
 * row (the column NULL among them) under fp.
 */
typedef struct PgpRekeyRegion
{
	char		fp[PGP_FINGERPRINT_LEN + 1];
	bool		has_wm;
	bool		has_hi;
	AttrNumber	attnum;			/* the order column in the relation */
	Datum		wm;				/* in the memory context it was read into */
	Datum		hi;				/* the high mark, likewise */
	FmgrInfo	cmp;			/* the order type's btree comparison */
} PgpRekeyRegion;

extern bool pgp_rekey_nothing_pending(void);
extern bool pgp_rekey_pending_in_snapshot(void);
extern bool pgp_rekey_row_keys(void);
extern void pgp_rekey_check_snapshot_xact(Relation rel);

/*
 * For a writer at REPEATABLE READ or SERIALIZABLE: a serialization failure
 * where rekey changed the relation's state since its snapshot (rekey.c).
 * Per row: the isolation level is tested inline.
 */
static inline void
pgp_rekey_check_snapshot(Relation rel)
{
	if (IsolationUsesXactSnapshot())
		pgp_rekey_check_snapshot_xact(rel);
}
extern void pgp_rekey_region(Relation rel, MemoryContext cxt, PgpRekeyRegion *rg);
extern bool pgp_rekey_row_pending(PgpRekeyRegion *rg, HeapTuple tuple, TupleDesc tupdesc);
extern bool pgp_rekey_order_type_ok(Oid typid);
extern AttrNumber pgp_rekey_order_attnum(Oid relid, const char *col, Oid typ);
extern Datum pgp_rekey_order_value(bytea *b, Oid typ);

/* Whether the row is under the relation's pending key: per row, inline. */
extern bool pgp_rekey_value_pending(PgpRekeyRegion *rg, Datum v, bool isnull);

static inline bool
pgp_rekey_row_pending_fast(PgpRekeyRegion *rg, HeapTuple tuple, TupleDesc tupdesc)
{
	return rg->fp[0] != '\0' && pgp_rekey_row_pending(rg, tuple, tupdesc);
}
/* _msisdn_under(fingerprint, number, domain, decrypt), for DirectFunctionCall */
extern PGDLLEXPORT Datum pgp_msisdn_under(PG_FUNCTION_ARGS);
extern struct PgpKey *pgp_pending_fpe_key(const char *fp, const char *domain, int domain_len,
										  struct PgpKey **cache, uint64 *gen,
										  const char *relname);

#endif							/* PGP_REKEY_H */
