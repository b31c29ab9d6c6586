/*-------------------------------------------------------------------------
 *
 * pg_privacy.h
 *	  Shared declarations of the pg_privacy backend module.
 *
 * The module is split by concern:
 *	  pg_privacy.c	module entry (_PG_init), GUCs, reading pg_privacy's catalog
 *	  owner.c		the one way to run SQL as a table's owner (security-
 *					restricted, safe search_path), and the kept plans
 *	  caller.c		API entry points: who called, running as the extension owner
 *	  keys.c		master key file, HKDF working keys, per-backend key cache
 *	  pgp_crypto.c	HKDF/HMAC primitives (pure C, also used by unit tests)
 *	  ff1.c			FF1 format-preserving encryption (pure C)
 *	  e164.c		E.164 phone number normalization (pure C)
 *	  identifier.c	identifier kinds, their normalization, the default
 *					country and the indexable lookup value
 *	  audit.c		the keyed hash chain of the audit log
 *	  catalog.c		the catalog's view of DDL: renamed columns
 *	  pseudonym.c	SQL-callable pseudonymization and masking functions
 *	  protect.c		the on-write protect trigger and its per-relation cache
 *	  subject.c		data-subject rights, the C side of the subject engine:
 *					identifiers by column, statements run as the table owner
 *					(through owner.c), generated SQL kept per backend
 *	  retention.c	purge statements run as the table owner (through owner.c)
 *
 *-------------------------------------------------------------------------
 */
#ifndef PG_PRIVACY_H
#define PG_PRIVACY_H

#include "postgres.h"

#include "access/tupdesc.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/tuplestore.h"
#include "pgp_crypto.h"

/* Key purposes: each derives its own working keys (HKDF info). */
#define PGP_KP_PSEUDONYM		"pseudonym"
#define PGP_KP_MSISDN_FPE		"msisdn-fpe"
#define PGP_KP_EMAIL			"email-pseudonym"
#define PGP_KP_AUDIT			"audit"
#define PGP_KP_FINGERPRINT		"fingerprint"

/* Length of a key fingerprint: "pgp1:" and 16 hex digits. */
#define PGP_FINGERPRINT_LEN		21

/* Current key version mixed into every derivation. */
#define PGP_KEY_VERSION			1

/*
 * A working key derived from the master key for one (purpose, domain,
 * version), with the OpenSSL contexts prepared from it.  Lives in the
 * per-backend key cache until the key file is reloaded; key bytes are
 * wiped when the entry is released.
 */
typedef struct PgpKey
{
	struct PgpKey *next;
	const char *purpose;		/* one of the PGP_KP_* constants */
	char	   *domain;			/* NUL-terminated copy */
	int			domain_len;
	uint32		version;
	unsigned char key[PGP_KEY_LEN];
	bool		hmac_ready;
	PgpHmac		hmac;
	bool		ff1_ready;
	PgpFF1		ff1;
} PgpKey;

/* caller.c */
extern void pgp_caller_init(void);
extern void pgp_protect_init(void);
extern Oid	pgp_caller(void);
extern bool pgp_in_api(void);

/* pg_privacy.c */
extern void pgp_catalog_select(const char *sql, int nargs, Oid *argtypes,
							   Datum *values);

/* owner.c: the one way to run SQL as a table's owner */
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

/* pgp_owner_run's flags: one result kind, and whether to keep the plan */
#define PGP_RUN_EXEC		0x01
#define PGP_RUN_QUERY		0x02
#define PGP_RUN_ROWS		0x04
#define PGP_RUN_KEEP_PLAN	0x10
#define PGP_RUN_READ_ONLY	0x20

extern SPIPlanPtr pgp_kept_plan(const char *sql, int nargs, Oid *argtypes);
extern uint64 pgp_owner_run(Oid relid, const char *sql, int nargs, Oid *argtypes,
							Datum *values, const char *nulls, int flags,
							int32 lock_timeout_ms, Oid expect_type,
							Datum *result, bool *isnull,
							Tuplestorestate *store, TupleDesc desc);

/* keys.c */
extern char *pgp_key_file;
extern uint64 pgp_key_generation;
extern uint64 pgp_key_checked;	/* generation the database's key was checked for */
extern void pgp_define_key_gucs(void);
extern PgpKey *pgp_get_key(const char *purpose, const char *domain,
						   int domain_len, uint32 version);
extern PgpHmac *pgp_key_hmac(PgpKey *k);
extern PgpFF1 *pgp_key_ff1(PgpKey *k);
extern void pgp_crypto_error(const char *what) pg_attribute_noreturn();

/*
 * Fast path: a call site caches the PgpKey it used last, valid while the
 * key generation is unchanged and the domain is the same.  One PgpKeyRef
 * serves one key purpose only (the purpose is fixed per call site).  Kept in
 * fn_extra (SQL functions) or in the protect trigger's relation cache.
 */
typedef struct PgpKeyRef
{
	uint64		generation;
	PgpKey	   *key;
} PgpKeyRef;

static inline PgpKey *
pgp_key_cached(PgpKeyRef *ref, const char *purpose, const char *domain,
			   int domain_len)
{
	PgpKey	   *k = ref->key;

	if (likely(k != NULL && ref->generation == pgp_key_generation &&
			   pgp_key_checked == pgp_key_generation &&
			   k->domain_len == domain_len &&
			   memcmp(k->domain, domain, domain_len) == 0))
		return k;
	k = pgp_get_key(purpose, domain, domain_len, PGP_KEY_VERSION);
	ref->key = k;
	ref->generation = pgp_key_generation;
	return k;
}

/* src/compat.c: a 0.1.0 declaration of a changed C function */
extern void pgp_compat_check_nargs(FunctionCallInfo fcinfo, int nargs,
								   const char *name);
/* src/compat.c: the internal helpers' schema of this database */
extern const char *pgp_internal_sql(const char *sql);
extern Oid	pgp_internal_func(const char *name, int nargs, const Oid *argtypes);

#endif							/* PG_PRIVACY_H */
