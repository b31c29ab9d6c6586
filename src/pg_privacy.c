/*-------------------------------------------------------------------------
 *
 * pg_privacy.c
 *	  Module entry point of pg_privacy.
 *
 * The library belongs in shared_preload_libraries: its API entry points
 * rely on the function-manager hook installed at load (caller.c), and its
 * settings are then known and checked from server start.  Loaded on
 * demand instead, it warns once per backend (and privacy.health() says
 * so).
 *
 * The module is split by concern, one C file (with its header) for each,
 * and one part of the install script in src/sql for each that declares
 * SQL functions (see doc/architecture.md).  From the ground up:
 *
 *	  pgp_crypto.c	HKDF/HMAC primitives (pure C, also used by unit tests)
 *	  ff1.c			FF1 format-preserving encryption (pure C)
 *	  e164.c		E.164 phone number normalization (pure C)
 *	  schema.c		the two schemas: where this database keeps its helpers;
 *					the one relcache callback of all modules
 *	  citus.c		what Citus made of a table, and of this server: a
 *					shard's table and a table's distribution column (for
 *					the signed protect rules), and the refusals where
 *					pg_privacy's guarantees do not hold there yet
 *	  owner.c		the one way to run SQL as a table's owner (security-
 *					restricted, safe search_path), kept plans, and
 *					pg_privacy's own catalog read as its owner
 *	  caller.c		API entry points: who called, running as the extension
 *					owner
 *	  keys.c		master key file, HKDF working keys, per-backend key cache
 *	  identifier.c	identifier kinds, their normal forms, the default
 *					country and the indexable lookup value
 *	  audit.c		the keyed hash chain of the audit log
 *	  pseudonym.c	pseudonyms, format-preserving phone numbers, masking,
 *					and the domain grants they check
 *	  rekey.c		which key a stored phone-number pseudonym is under
 *					during a key rotation (the watermark of rekey's batches)
 *	  protect.c		the on-write protect trigger and its per-relation cache;
 *					the event triggers that keep enforcement in force;
 *					rekey's batches, run through the trigger
 *	  catalog.c		the catalog's view of DDL: renamed columns
 *	  consent.c		the consent register's hot path and the consent trigger
 *	  retention.c	purge statements run as the table owner
 *	  analytics.c	safe aggregates and pseudonymized extracts
 *	  mask.c		masking by role: the planner reads registered tables
 *					masked for masked roles, COPY TO too
 *	  subject.c		data-subject rights, what the subject engine and the
 *					SQL builders share: identifiers by column, statements
 *					run as the table owner, generated SQL kept per backend
 *	  engine.c		the subject engine: find, decide, apply (export and
 *					erasure)
 *	  rights.c		export_subject and erase_subject, the API entries of
 *					the engine: checks, dry run, ledger and audit entries
 *	  ledger.c		the erasure ledger file: written as an erasure commits,
 *					read back by replay_erasures
 *	  compat.c		the library under a database at an older version
 *	  pg_privacy.c	this file: _PG_init
 *
 * A file includes the headers of the files below it only.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "caller.h"
#include "identifier.h"
#include "keys.h"
#include "ledger.h"
#include "mask.h"
#include "protect.h"

#include "fmgr.h"
#include "miscadmin.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

/*
 * Define the settings and reserve the "pg_privacy." prefix so that a
 * misspelled setting is reported instead of silently ignored.
 */
void
_PG_init(void)
{
	/*
	 * The API's entry points run as the extension owner through the
	 * function-manager hook installed here (caller.c).  Loaded on demand,
	 * the hook exists in this session only from now on, and in no other
	 * session until each loads the library: say so, once per backend.
	 */
	if (!process_shared_preload_libraries_in_progress)
		ereport(WARNING,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_privacy is not loaded through shared_preload_libraries"),
				 errdetail("pg_privacy's API functions rely on a hook installed when the library is loaded at server start; "
						   "without it they run with the caller's rights and fail."),
				 errhint("Add pg_privacy to shared_preload_libraries in postgresql.conf and restart the server.")));
	pgp_define_key_gucs();
	pgp_identifier_define_gucs();
	pgp_ledger_init();
	pgp_caller_init(process_shared_preload_libraries_in_progress);
	pgp_protect_init();
	pgp_mask_init(process_shared_preload_libraries_in_progress);
#if PG_VERSION_NUM >= 150000
	MarkGUCPrefixReserved("pg_privacy");
#else
	EmitWarningsOnPlaceholders("pg_privacy");
#endif
}

