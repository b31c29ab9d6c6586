/*-------------------------------------------------------------------------
 *
 * subject.h
 *	  What src/subject.c offers the subject engine (src/engine.c): the
 *	  per-backend cache of what was built from the catalog, the searchable
 *	  columns, one statement of the erasure, and the erasure flag.
 *
 *-------------------------------------------------------------------------
 */
#ifndef PGP_SUBJECT_H
#define PGP_SUBJECT_H

#include "postgres.h"

/*
 * The cache: text (shared with the SQL builders' _subject_cache_get/put)
 * and objects, both gone at the next relcache invalidation, which any
 * statement may process.  Callers copy what they use.
 */
extern const char *pgp_subject_cache_lookup(const char *key);
extern void pgp_subject_cache_store(const char *key, const char *value);
extern void *pgp_subject_cache_obj(const char *key);
extern void pgp_subject_cache_keep_obj(const char *key, void *obj);
extern MemoryContext pgp_subject_cache_memory(void);
extern bool pgp_subject_cache_may_keep(void);
extern void pgp_subject_build_begin(void);
extern void pgp_subject_build_end(void);

/* a palloc'd copy of the array of privacy_internal._subject_column, or NULL */
extern struct varlena *pgp_subject_cols_copy(void);

/*
 * One DELETE or UPDATE of the erasure as the owner of relid, its
 * parameter $1 params (jsonb); a statement that begins "/ * per
 * identifier <key> * / " runs once per bounded identifier of that key.
 * Returns the rows processed.
 */
extern uint64 pgp_subject_exec_sql(Oid relid, const char *sql, Datum params);

/* mark (or unmark) this transaction as running an erasure */
extern void pgp_subject_set_erasing_flag(bool on);

#endif							/* PGP_SUBJECT_H */
