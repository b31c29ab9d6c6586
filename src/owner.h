/*-------------------------------------------------------------------------
 *
 * owner.h
 *	  The one way pg_privacy runs SQL as the owner of a table (owner.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGP_OWNER_H
#define PGP_OWNER_H

#include "postgres.h"

#include "access/tupdesc.h"
#include "executor/spi.h"
#include "utils/tuplestore.h"

extern Oid	pgp_rel_owner(Oid relid);

/* What pgp_begin_as_owner() changed, for pgp_end_as_owner() to undo. */
typedef struct PgpAsOwner
{
	Oid			userid;
	int			sec_context;
	int			nestlevel;
} PgpAsOwner;

extern void pgp_begin_as_owner(Oid relid, PgpAsOwner *save);
extern void pgp_begin_as_role(Oid role, PgpAsOwner *save);
extern void pgp_end_as_owner(PgpAsOwner *save);

/* refuse (55000) a write to relid while it has a deferrable trigger */
extern void pgp_refuse_deferrable_triggers(Oid relid);

/* pgp_owner_run's flags: one result kind, and whether to keep the plan */
#define PGP_RUN_EXEC		0x01
#define PGP_RUN_QUERY		0x02
#define PGP_RUN_ROWS		0x04
#define PGP_RUN_KEEP_PLAN	0x10
#define PGP_RUN_READ_ONLY	0x20
#define PGP_RUN_NOFORCE_RLS	0x40

extern SPIPlanPtr pgp_kept_plan(const char *sql, int nargs, Oid *argtypes);
extern uint64 pgp_owner_run(Oid relid, const char *sql, int nargs, Oid *argtypes,
							Datum *values, const char *nulls, int flags,
							int32 lock_timeout_ms, Oid expect_type,
							Datum *result, bool *isnull,
							Tuplestorestate *store, TupleDesc desc);

/* pg_privacy's own catalog read as its owner */
extern void pgp_catalog_select_in(Snapshot snap, const char *sql, int nargs, Oid *argtypes,
								  Datum *values);
extern void pgp_catalog_select_latest(const char *sql, int nargs, Oid *argtypes,
									  Datum *values);
extern void pgp_catalog_select(const char *sql, int nargs, Oid *argtypes,
							   Datum *values);

#endif							/* PGP_OWNER_H */
