/*-------------------------------------------------------------------------
 *
 * protect.c
 *	  The protect trigger: applies each registered column's on-write
 *	  transformation, so raw identifiers never reach the table.
 *
 * privacy.protect(tbl) creates a BEFORE INSERT OR UPDATE row trigger that
 * runs pgp_protect_trigger().  On a partitioned table PostgreSQL clones it
 * to every partition, present and future; the trigger then fires with the
 * partition as its relation, so the per-relation state is kept per firing
 * relation and found through the partition's registered ancestor.
 *
 * Per-relation state (attribute numbers, transformations, key
 * references) is built once with one catalog query and cached in
 * CacheMemoryContext.  A relcache invalidation of the relation or of its
 * registered ancestor drops it; the catalog functions send one when a
 * declaration changes (privacy_internal._invalidate), and ALTER TABLE sends one by
 * itself; a change of privacy.domain_grant drops every relation's state
 * (the owners' grants are checked when it is built).  Per row there is
 * no catalog lookup and no SPI: a loop over the
 * protected columns, the transformation, and one heap_modify_tuple.
 *
 * On UPDATE a column is transformed only when its value changed, so an
 * UPDATE that does not touch a protected column never transforms an
 * already protected value a second time.
 *
 * Exactly once across trigger firings.  Two statements show a row to the
 * trigger twice:
 *
 *	- INSERT ... ON CONFLICT DO UPDATE SET col = EXCLUDED.col: BEFORE
 *	  INSERT transforms the proposed row, which becomes EXCLUDED; on a
 *	  conflict BEFORE UPDATE fires, on the same relation and in the same
 *	  statement, with the transformed value as NEW.
 *	- An UPDATE that moves a row to another partition: BEFORE UPDATE on
 *	  the source partition, then BEFORE INSERT on the destination with the
 *	  row as it left BEFORE UPDATE.
 *
 * The trigger remembers what it last stored for an insert (per firing
 * relation) and for an update (the last one at each executor nesting
 * level).  BEFORE UPDATE keeps a new
 * value that is byte for byte what BEFORE INSERT stored in that column of
 * that relation at the trigger's previous firing, in the same statement;
 * BEFORE INSERT keeps a value that is what BEFORE UPDATE left in that
 * column of another partition of the same registered table at the
 * previous firing, in the same statement.  ("The same statement": the
 * same transaction and statement start; "previous firing": no firing of
 * the protect trigger, on any table, in between at the same or an outer
 * executor nesting level: firings in statements nested in between, such
 * as a history trigger writing another protected table, do not count.)
 * Every other value is
 * transformed, except that in BEFORE UPDATE a value that is what BEFORE
 * INSERT just stored in another protected column (SET b = EXCLUDED.a) is
 * refused: it cannot be stored right either way.
 *
 * A kept value is the output of a transformation of the same column (or,
 * for a partition move, the value the row already had).  A false match
 * needs a raw value byte for byte equal to what the previous firing, in
 * the same statement, stored for another row: only msisdn_fpe pseudonyms
 * are phone numbers, and a number in E.164 form equal to the pseudonym
 * just computed for another number (one chance in 10^6 or less) in one
 * statement that both inserts and updates the table.  A missed match
 * transforms twice: when a user's trigger nested in between writes the
 * very relation of the memo (its memo is then another row's), or in a
 * move when a user's BEFORE INSERT trigger on the destination changes the
 * value.
 * Rows stored raw before protect() (without rewrite_existing) carry their
 * raw value through a move, as they would through any UPDATE.
 *
 * Key rotation.  After accept_key_change(), each relation (a table, or a
 * leaf partition) of a table with msisdn_fpe columns is pending under the
 * replaced key (privacy.rekey_pending, src/sql/36_rekey.sql) until
 * privacy.rekey() converts it, in batches in order of one of its columns
 * (src/rekey.c): a row whose order column is at most the watermark of the
 * batches done is under the current key, any other row under the pending
 * key (read when the relation's state is built, in the latest committed
 * state).  The trigger writes each row's phone-number pseudonyms under
 * the key of its place: an UPDATE that moves a row across the watermark
 * converts its unchanged pseudonyms to the other key, and a partition
 * move between relations under different keys is refused.  rekey's own
 * UPDATE of a batch (SET col = col, as the owner) converts each
 * pseudonym: decrypted under the pending key, encrypted under the current
 * one; the trigger refuses it when an earlier BEFORE trigger changed the
 * row or the row is not under the pending key, and refuses any write of
 * the relation nested in it.
 *
 * A restore.  pg_restore creates the protect trigger after it loads the
 * data, so its rows (protected when they were dumped) pass once.  The
 * trigger fires in a pg_restore session only when data is restored into a
 * table that is already protected (a data-only restore without
 * --disable-triggers): the rows would be transformed a second time, so
 * the trigger refuses.
 *
 * Values of a known identifier kind (registered_column.identifies) are
 * normalized before the transformation by identifier.c (phone numbers to
 * E.164 under pg_privacy.default_country, e-mail addresses trimmed with
 * ASCII letters lower-cased, other identifiers trimmed), so every written
 * form of an identifier gets one pseudonym.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "protect.h"
#include "rekey.h"
#include "e164.h"
#include "identifier.h"
#include "keys.h"
#include "owner.h"
#include "pseudonym.h"
#include "schema.h"
#include "citus.h"

#include "access/htup_details.h"
#include "catalog/namespace.h"
#include "catalog/partition.h"
#include "catalog/pg_class.h"
#include "catalog/pg_type.h"
#include "commands/event_trigger.h"
#include "commands/extension.h"
#include "commands/trigger.h"
#include "nodes/makefuncs.h"
#include "parser/parse_func.h"
#include "utils/acl.h"
#include "executor/executor.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/guc.h"
#include "utils/timestamp.h"
#include "utils/hsearch.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "lib/stringinfo.h"
#include "libpq/pqformat.h"
#include "miscadmin.h"
#include "access/xact.h"
#include "storage/proc.h"
#include "utils/array.h"
#include "catalog/pg_collation.h"

typedef enum ProtectKind
{
	PROTECT_PSEUDONYM,
	PROTECT_MSISDN_FPE,
	PROTECT_EMAIL,
	PROTECT_COUNTRY,
	PROTECT_NULL
} ProtectKind;

/*
 * The identifier kind's normalization (identifier.c), or NORM_NONE for a
 * column that holds no identifier or whose transformation keeps nothing
 * of the value.
 */
typedef int ProtectNorm;
#define NORM_NONE	(-1)

typedef struct ProtectCol
{
	AttrNumber	attnum;			/* in the firing relation */
	ProtectKind kind;
	ProtectNorm norm;			/* identifier kind's normalization */
	Oid			typid;			/* text, varchar or bpchar */
	int32		maxlen;			/* character limit from the typmod, or -1 */
	char	   *domain;
	int			domain_len;
	const char *country;		/* default country of a signed rule, or NULL:
								 * pg_privacy.default_country */
	PgpKeyRef	ref;
	PgpKey	   *pending_key;	/* msisdn_fpe under the relation's pending
								 * key (see "Key rotation" at the top) */
	uint64		pending_gen;	/* key generation pending_key was found in */
} ProtectCol;

typedef struct ProtectRel
{
	Oid			relid;			/* hash key: the firing relation */
	Oid			registered;		/* the registered table (itself or an
								 * ancestor) */
	bool		valid;
	uint64		signed_keygen;	/* a signed rule's: the key generation its
								 * signature was checked under, else 0 */
	char		signed_tgname[NAMEDATALEN];	/* and the one trigger that
											 * carries it */
	PgpRekeyRegion region;		/* the key rotation's: which rows are under
								 * an older key (src/rekey.c) */
	bool		has_fpe;		/* some column is msisdn_fpe */
	int			ncols;
	ProtectCol *cols;
	int		   *repl_cols;		/* scratch for heap_modify_tuple_by_cols */
	Datum	   *repl_vals;
	bool	   *repl_nulls;
	MemoryContext cxt;
	/* what BEFORE INSERT last stored in this relation (see the top) */
	LocalTransactionId memo_lxid;
	TimestampTz memo_stmt;		/* statement start */
	uint64		memo_seq;		/* firing number */
	bool		memo_pending;	/* its pseudonyms under the pending key */
	int			memo_depth;		/* executor nesting level of the firing */
	Datum	   *memo_vals;		/* per column, in cxt's child memo_cxt */
	bool	   *memo_nulls;
	MemoryContext memo_cxt;
} ProtectRel;

static HTAB *protect_cache = NULL;

/* What BEFORE UPDATE last left in a row (see the top). */
typedef struct UpdateMemo
{
	LocalTransactionId lxid;
	TimestampTz stmt;
	uint64		seq;
	Oid			relid;			/* firing relation */
	Oid			registered;
	char		row_fp[PGP_FINGERPRINT_LEN + 1];	/* the key the row's
													 * pseudonyms are under:
													 * its pending key, or "" */
	int			ncols;
	Datum	   *vals;
	bool	   *nulls;
	MemoryContext cxt;
} UpdateMemo;

/*
 * Firings of the protect trigger in this backend, numbered, and the
 * executor nesting level they fire at.  The memos hold for the very next
 * firing at the same level: a firing in a statement nested in between (a
 * history or archiving trigger of the table writing another protected
 * table between the BEFORE INSERT and BEFORE UPDATE of an upsert, or the
 * BEFORE UPDATE and BEFORE INSERT of a partition move) does not count,
 * while a firing at the same or an outer level does.  protect_last_seq[d]
 * is the number of the last firing at level d or above (outer); deeper
 * levels than the array share its last slot, which only ever makes a memo
 * lapse (a second transformation is refused or done as before), never hold
 * wrongly.
 */
#define PROTECT_MAX_DEPTH	32
static UpdateMemo update_memo[PROTECT_MAX_DEPTH];
static uint64 protect_fire_seq = 0;
static uint64 protect_last_seq[PROTECT_MAX_DEPTH];
static int	protect_exec_depth = 0;

static ExecutorRun_hook_type prev_ExecutorRun = NULL;
static ExecutorFinish_hook_type prev_ExecutorFinish = NULL;

static void
protect_ExecutorRun(QueryDesc *queryDesc, ScanDirection direction,
					uint64 count, bool execute_once)
{
	protect_exec_depth++;
	PG_TRY();
	{
		if (prev_ExecutorRun)
			prev_ExecutorRun(queryDesc, direction, count, execute_once);
		else
			standard_ExecutorRun(queryDesc, direction, count, execute_once);
	}
	PG_FINALLY();
	{
		protect_exec_depth--;
	}
	PG_END_TRY();
}

static void
protect_ExecutorFinish(QueryDesc *queryDesc)
{
	protect_exec_depth++;
	PG_TRY();
	{
		if (prev_ExecutorFinish)
			prev_ExecutorFinish(queryDesc);
		else
			standard_ExecutorFinish(queryDesc);
	}
	PG_FINALLY();
	{
		protect_exec_depth--;
	}
	PG_END_TRY();
}

static void protect_invalidate_all(void);

/* Install the executor hooks that count nesting levels.  From _PG_init. */
void
pgp_protect_init(void)
{
	pgp_on_domain_grant_change(protect_invalidate_all);
	prev_ExecutorRun = ExecutorRun_hook;
	ExecutorRun_hook = protect_ExecutorRun;
	prev_ExecutorFinish = ExecutorFinish_hook;
	ExecutorFinish_hook = protect_ExecutorFinish;
}

/*
 * The relation whose protect trigger privacy.unprotect() is dropping, so
 * the event trigger lets that drop pass (see _allow_protect_ddl).
 * Cleared at the end of the transaction.
 */
static Oid	protect_ddl_relid = InvalidOid;
static bool protect_xact_cb_registered = false;

/*
 * While protect(..., rewrite_existing => true) rewrites a table, the
 * trigger transforms the rewritten columns of that table even though the
 * UPDATE leaves their values unchanged.  InvalidOid otherwise.
 */
static Oid	rewrite_relid = InvalidOid;
static int	rewrite_depth = -1;		/* its UPDATE's executor level */

/*
 * The relation whose msisdn_fpe pseudonyms privacy.rekey() converts now,
 * and the executor nesting level of its UPDATE: a statement nested in it
 * (a trigger of the table's owner writing the table again) is an ordinary
 * write.
 */
static Oid	rekey_relid = InvalidOid;
static int	rekey_depth = -1;
static uint64 rekey_rows = 0;	/* rows the trigger converted in it */

/*
 * Relcache callback: forget the state of an invalidated relation, and of
 * every partition whose registered ancestor it is.
 */
static void
protect_relcache_cb(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS status;
	ProtectRel *pr;
	bool		all;

	if (protect_cache == NULL)
		return;
	all = relid == InvalidOid;
	hash_seq_init(&status, protect_cache);
	while ((pr = hash_seq_search(&status)) != NULL)
	{
		if (all || pr->relid == relid || pr->registered == relid)
			pr->valid = false;
	}
}

/*
 * Drop every relation's state (a domain grant changed: each table's owner
 * is checked again when its state is rebuilt).  Registered with
 * pseudonym.c, which watches the grants.
 */
static void
protect_invalidate_all(void)
{
	protect_relcache_cb((Datum) 0, InvalidOid);
}

static void
protect_cache_init(void)
{
	HASHCTL		ctl;

	memset(&ctl, 0, sizeof(ctl));
	ctl.keysize = sizeof(Oid);
	ctl.entrysize = sizeof(ProtectRel);
	ctl.hcxt = CacheMemoryContext;
	protect_cache = hash_create("pg_privacy protect cache", 64, &ctl,
								HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	pgp_on_relcache(protect_relcache_cb, (Datum) 0);
}

static ProtectKind
parse_kind(const char *s)
{
	if (strcmp(s, "pseudonym") == 0)
		return PROTECT_PSEUDONYM;
	if (strcmp(s, "msisdn_fpe") == 0)
		return PROTECT_MSISDN_FPE;
	if (strcmp(s, "email_pseudonym") == 0)
		return PROTECT_EMAIL;
	if (strcmp(s, "country") == 0)
		return PROTECT_COUNTRY;
	if (strcmp(s, "null") == 0)
		return PROTECT_NULL;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("invalid protect transformation \"%s\"", s),
			 errhint("Use one of: pseudonym, msisdn_fpe, email_pseudonym, country, null.")));
	return PROTECT_NULL;		/* keep compiler quiet */
}

/* The per-column arrays of a relation's state, for n columns, in cxt. */
static void
protect_alloc_cols(ProtectRel *pr, MemoryContext cxt, int n)
{
	MemoryContext old = MemoryContextSwitchTo(cxt);

	n = Max(n, 1);
	pr->cols = palloc0(sizeof(ProtectCol) * n);
	pr->repl_cols = palloc(sizeof(int) * n);
	pr->repl_vals = palloc(sizeof(Datum) * n);
	pr->repl_nulls = palloc(sizeof(bool) * n);
	pr->memo_vals = palloc0(sizeof(Datum) * n);
	pr->memo_nulls = palloc0(sizeof(bool) * n);
	MemoryContextSwitchTo(old);
}

/*
 * Column col of the firing relation as protected column pc: its attribute
 * (by name), type and length limit, transformation (kind), domain (in cxt)
 * and identifier kind's normalization (norm, or NULL); hint says where to
 * look when the column does not fit.
 */
static void
protect_set_col(ProtectCol *pc, Relation rel, MemoryContext cxt, const char *col,
				const char *kind, const char *domain, const char *norm, const char *hint)
{
	Form_pg_attribute att;

	pc->attnum = get_attnum(RelationGetRelid(rel), col);
	if (pc->attnum == InvalidAttrNumber)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("protected column \"%s\" does not exist in relation \"%s\"",
						col, RelationGetRelationName(rel)),
				 errhint("%s", hint)));
	att = TupleDescAttr(RelationGetDescr(rel), pc->attnum - 1);
	pc->typid = att->atttypid;
	pc->maxlen = (att->atttypmod >= VARHDRSZ) ? att->atttypmod - VARHDRSZ : -1;
	/* computed after BEFORE triggers: would be stored raw */
	if (att->attgenerated != '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("protected column \"%s\" of relation \"%s\" is a generated column",
						col, RelationGetRelationName(rel)),
				 errdetail("A generated column is computed after the protect trigger and would be stored untransformed."),
				 errhint("%s", hint)));
	pc->kind = parse_kind(kind);
	if (pc->kind != PROTECT_NULL &&
		pc->typid != TEXTOID && pc->typid != VARCHAROID && pc->typid != BPCHAROID)
		ereport(ERROR,
				(errcode(ERRCODE_DATATYPE_MISMATCH),
				 errmsg("protected column \"%s\" of relation \"%s\" is not of a text type",
						col, RelationGetRelationName(rel)),
				 errhint("%s", hint)));
	pc->domain = MemoryContextStrdup(cxt, domain);
	pc->domain_len = strlen(domain);
	if (norm == NULL || pc->kind == PROTECT_COUNTRY || pc->kind == PROTECT_NULL)
		pc->norm = NORM_NONE;
	else
		pc->norm = pgp_identifier_norm_from_name(norm, strlen(norm));
}

/* ------------------------------------------------------------------
 * Signed rules: the protect trigger on the shards of a Citus table
 *
 * On a table Citus manages, the rows live in shards, on every node, whose
 * OIDs no catalog of pg_privacy names, and the nodes' own catalogs are
 * empty.  So privacy.protect() writes the table's rule into the trigger
 * itself, as its two arguments, and Citus copies the trigger onto every
 * shard (also onto the new placement of a moved shard, and onto the
 * shards of a node added later):
 *   1. the rule, JSON: {"v": 1, "schema", "table", "owner", "country",
 *      "cols": [[column, transformation, identifier kind's normalization or
 *      null, domain, denied], ...]}, built from the catalog
 *      (_protect_shard_rule, never from an argument, but for the default
 *      country, which protect() takes from its session and a later signing
 *      from the rule it replaces);
 *   2. its HMAC-SHA256 under a key derived from the master key (purpose
 *      PGP_KP_SHARD_RULE), in hex.
 * The trigger on a shard checks, before it transforms anything, that the
 * signature holds under the node's own key (so every node transforms under
 * the coordinator's key, or refuses), that the relation is a shard of the
 * table the rule names, named exactly after it and placed on this node
 * (pg_dist_shard, pg_dist_placement), that it is the one trigger Citus
 * named after the shard (a second one would transform twice), that the
 * shard is owned by the role the rule names (who held the domains when it
 * was signed), and that no protected column is the distribution column.
 * A rule can be copied but not changed, and it protects nothing but the
 * shards of its own table.  What changes a rule (a declaration, a grant, a
 * key change) signs it again; a rename or a new owner makes the shards
 * refuse rows until protect() signs it again.
 * ------------------------------------------------------------------
 */
#define SHARD_RULE_DOMAIN	"citus"
#define SHARD_RULE_VERSION	1

/* The rule's signature, 64 hex digits and a NUL, into out. */
static void
shard_rule_mac(const char *rule, char *out)
{
	PgpKey	   *k = pgp_get_key(PGP_KP_SHARD_RULE, SHARD_RULE_DOMAIN,
								strlen(SHARD_RULE_DOMAIN), PGP_KEY_VERSION);
	unsigned char mac[PGP_SHA256_LEN];
	StringInfoData msg;

	initStringInfo(&msg);
	appendStringInfoString(&msg, "pg_privacy shard rule\n");
	appendStringInfoString(&msg, rule);
	if (!pgp_hmac_sha256(pgp_key_hmac(k), (const unsigned char *) msg.data, msg.len, mac))
		pgp_crypto_error("HMAC-SHA256");
	hex_encode((const char *) mac, PGP_SHA256_LEN, out);
	out[2 * PGP_SHA256_LEN] = '\0';
	explicit_bzero(mac, sizeof(mac));
	pfree(msg.data);
}

static void
rule_invalid(Relation rel, const char *why)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("the protect rule on table \"%s\" is not valid", RelationGetRelationName(rel)),
			 errdetail("%s", why),
			 errhint("Run privacy.protect() on the distributed table on the coordinator again.")));
}

/*
 * The state of a relation the catalog does not name, from the signed rule
 * its trigger carries (see above); columns allocated in cxt.
 */
static void
protect_build_signed(ProtectRel *pr, Relation rel, Trigger *tg, MemoryContext cxt)
{
	const char *rule = tg->tgargs[0];
	const char *mac = tg->tgargs[1];
	char		expect[2 * PGP_SHA256_LEN + 1];
	Oid			relid = RelationGetRelid(rel);
	Jsonb	   *jb;
	JsonbValue	k;
	JsonbValue *cols;
	char	   *v;
	char	   *schema;
	char	   *table;
	char	   *owner;
	char	   *country;
	char	   *relowner;
	Oid			logical;
	Oid			named = InvalidOid;
	int64		shardid = 0;
	List	   *candidates;
	ListCell   *lc;
	AttrNumber	distatt;
	bool		known;
	char	   *distcol = NULL;
	int			ncols,
				i,
				d;

	/* 1. signed under this node's key, by pg_privacy */
	shard_rule_mac(rule, expect);
	d = strlen(mac) == 2 * PGP_SHA256_LEN ? 0 : 1;
	for (i = 0; i < 2 * PGP_SHA256_LEN && mac[i] != '\0'; i++)
		d |= (unsigned char) mac[i] ^ (unsigned char) expect[i];
	if (d != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the protect rule on table \"%s\" is not signed with this node's key",
						RelationGetRelationName(rel)),
				 errdetail("Either this node loads another key than the coordinator, or the rule was not written by privacy.protect(); the row would not be transformed as the coordinator transforms it."),
				 errhint("Load the coordinator's key file on every node (pg_privacy.key_file), then run privacy.protect() on the distributed table on the coordinator again.")));

	/* 2. the rule */
	jb = DatumGetJsonbP(DirectFunctionCall1(jsonb_in, CStringGetDatum(rule)));
	if (!JB_ROOT_IS_OBJECT(jb))
		rule_invalid(rel, "It is not a JSON object.");
	v = pgp_jsonb_text(&jb->root, "v");
	if (v == NULL || strcmp(v, "1") != 0)
		rule_invalid(rel, "It is of another version.");
	schema = pgp_jsonb_text(&jb->root, "schema");
	table = pgp_jsonb_text(&jb->root, "table");
	owner = pgp_jsonb_text(&jb->root, "owner");
	country = pgp_jsonb_text(&jb->root, "country");
	if (schema == NULL || table == NULL || owner == NULL)
		rule_invalid(rel, "It names no table or owner.");
	k.type = jbvString;
	k.val.string.val = "cols";
	k.val.string.len = 4;
	cols = findJsonbValueFromContainer(&jb->root, JB_FOBJECT, &k);
	if (cols == NULL || cols->type != jbvBinary || !JsonContainerIsArray(cols->val.binary.data))
		rule_invalid(rel, "It names no columns.");

	/* 3. a shard of the table the rule names (or of a partition of it) */
	logical = pgp_citus_shard_of(relid, &shardid);
	/*
	 * A partition of a shard (of a partitioned distributed table) carries
	 * the clone of its root shard's trigger, named after the root shard.
	 */
	if (OidIsValid(logical) && rel->rd_rel->relispartition)
	{
		Oid			root = llast_oid(get_partition_ancestors(relid));
		int64		rootshard = 0;
		Oid			rootlogical = pgp_citus_shard_of(root, &rootshard);

		if (!OidIsValid(rootlogical) ||
			!list_member_oid(get_partition_ancestors(logical), rootlogical))
			logical = InvalidOid;
		else
			shardid = rootshard;
	}
	if (!OidIsValid(logical))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" carries the protect rule of table %s but is not a shard of it",
						RelationGetRelationName(rel), quote_qualified_identifier(schema, table)),
				 errdetail("A signed protect rule protects only the shards of the Citus table it was written for; the row would be stored untransformed."),
				 errhint("Run privacy.protect() on this table (after registering it, if Citus made it anew), or on the distributed table on the coordinator.")));
	/* by the one trigger Citus names after the shard (not a second one) */
	{
		char		tgexpect[NAMEDATALEN + 32];

		snprintf(tgexpect, sizeof(tgexpect), "zz_pg_privacy_protect_" INT64_FORMAT, shardid);
		if (strcmp(tg->tgname, tgexpect) != 0 || strlen(tgexpect) >= NAMEDATALEN)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("the protect rule on shard \"%s\" is carried by trigger \"%s\", not by \"%s\"",
							RelationGetRelationName(rel), tg->tgname, tgexpect),
					 errdetail("Only the trigger Citus copied from the distributed table transforms its rows: a second one would transform them twice."),
					 errhint("Drop that trigger, and run privacy.protect() on the distributed table on the coordinator again.")));
	}
	candidates = list_make1_oid(logical);
	if (get_rel_relispartition(logical))
		candidates = list_concat(candidates, get_partition_ancestors(logical));
	foreach(lc, candidates)
	{
		Oid			c = lfirst_oid(lc);
		char	   *nsp = get_namespace_name(get_rel_namespace(c));
		char	   *name = get_rel_name(c);

		if (nsp && name && strcmp(nsp, schema) == 0 && strcmp(name, table) == 0)
		{
			named = c;
			break;
		}
	}
	if (!OidIsValid(named))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("shard \"%s\" carries the protect rule of table %s, not of its own table %s",
						RelationGetRelationName(rel), quote_qualified_identifier(schema, table),
						quote_qualified_identifier(get_namespace_name(get_rel_namespace(logical)),
												   get_rel_name(logical))),
				 errdetail("The table was renamed since it was protected, or the rule was copied from another table; the row would not be transformed as declared."),
				 errhint("Run privacy.protect() on the distributed table on the coordinator again.")));

	/* 4. owned by whom held the domains when the rule was signed */
	relowner = GetUserNameFromId(rel->rd_rel->relowner, true);
	if (relowner == NULL || strcmp(relowner, owner) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("shard \"%s\" is owned by role \"%s\", its protect rule by role \"%s\"",
						RelationGetRelationName(rel), relowner ? relowner : "?", owner),
				 errdetail("Whoever owns a protected table can read the pseudonyms of numbers of her choice, so the owner must hold the domains; the table changed owner since it was protected."),
				 errhint("Run privacy.protect() on the distributed table on the coordinator again.")));

	/* 5. the distribution column is never transformed on the shard */
	distatt = pgp_citus_dist_attnum(logical, &known);
	if (!known)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot read the distribution column of the table of shard \"%s\"",
						RelationGetRelationName(rel))));
	if (distatt != InvalidAttrNumber)
		distcol = get_attname(logical, distatt, true);

	/* 6. the columns, resolved by name in this relation */
	ncols = JsonContainerSize(cols->val.binary.data);
	protect_alloc_cols(pr, cxt, ncols);
	country = country ? MemoryContextStrdup(cxt, country) : NULL;
	for (i = 0; i < ncols; i++)
	{
		JsonbValue *c = getIthJsonbValueFromContainer(cols->val.binary.data, i);
		char	   *f[5];
		int			j;
		ProtectCol *pc = &pr->cols[pr->ncols];

		if (c == NULL || c->type != jbvBinary || !JsonContainerIsArray(c->val.binary.data) ||
			JsonContainerSize(c->val.binary.data) != 5)
			rule_invalid(rel, "A column is not [name, transformation, normalization, domain, denied].");
		for (j = 0; j < 5; j++)
		{
			JsonbValue *e = getIthJsonbValueFromContainer(c->val.binary.data, j);

			f[j] = NULL;
			if (e != NULL && e->type == jbvString)
				f[j] = pnstrdup(e->val.string.val, e->val.string.len);
			else if (e != NULL && e->type == jbvBool)
				f[j] = pstrdup(e->val.boolean ? "true" : "false");
		}
		if (f[0] == NULL || f[1] == NULL || f[3] == NULL || f[4] == NULL)
			rule_invalid(rel, "A column lacks its name, transformation or domain.");
		if (distcol != NULL && strcmp(distcol, f[0]) == 0)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("protected column \"%s\" of shard \"%s\" is its table's distribution column",
							f[0], RelationGetRelationName(rel)),
					 errdetail("Citus routes a row by the value the coordinator sees: a transformed distribution column would lie in the shard of its raw value."),
					 errhint("Distribute the table by another column, or remove the protection with privacy.unprotect().")));
		if (strcmp(f[4], "true") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("role \"%s\" may not produce pseudonyms of domain \"%s\"", owner, f[3]),
					 errdetail("Whoever produces a domain's pseudonyms can reverse them by trying every value."),
					 errhint("The owner of pg_privacy grants a domain with privacy.grant_domain().")));
		protect_set_col(pc, rel, cxt, f[0], f[1], f[3], f[2],
						"Run privacy.protect() on the distributed table on the coordinator again.");
		pc->country = country;
		pr->ncols++;
	}
	/* partition moves within the shard: the shard's root is the table */
	if (rel->rd_rel->relispartition)
		pr->registered = llast_oid(get_partition_ancestors(relid));
	else
		pr->registered = relid;
	pr->signed_keygen = pgp_key_generation;
	strlcpy(pr->signed_tgname, tg->tgname, NAMEDATALEN);
}

PG_FUNCTION_INFO_V1(pgp_protect_shard_rule);

/*
 * _protect_shard_rule(tbl, country): the rule and its signature for the
 * protect trigger of a Citus table (see above), from the catalog: the
 * table's schema and name, its owner, the default country (country, or
 * pg_privacy.default_country), and per
 * protected column its transformation, identifier kind's normalization,
 * domain and whether the owner may not produce that domain's pseudonyms.
 */
Datum
pgp_protect_shard_rule(PG_FUNCTION_ARGS)
{
	Oid			relid;
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1];
	StringInfoData r;
	char	   *nsp;
	char	   *name;
	Oid			ownerid;
	char		mac[2 * PGP_SHA256_LEN + 1];
	Datum		out[2];
	uint64		i;
	const char *country = pgp_default_country;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	relid = PG_GETARG_OID(0);
	if (PG_NARGS() > 1 && !PG_ARGISNULL(1))
		country = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (country != NULL && country[0] != '\0' && !pgp_e164_country_known(country))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown default country \"%s\"", country)));

	nsp = get_namespace_name(get_rel_namespace(relid));
	name = get_rel_name(relid);
	if (nsp == NULL || name == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	ownerid = pgp_rel_owner(relid);
	initStringInfo(&r);
	appendStringInfoString(&r, "{\"v\": " CppAsString2(SHARD_RULE_VERSION) ", \"schema\": ");
	escape_json(&r, nsp);
	appendStringInfoString(&r, ", \"table\": ");
	escape_json(&r, name);
	appendStringInfoString(&r, ", \"owner\": ");
	escape_json(&r, GetUserNameFromId(ownerid, false));
	appendStringInfoString(&r, ", \"country\": ");
	if (country != NULL && country[0] != '\0')
		escape_json(&r, country);
	else
		appendStringInfoString(&r, "null");
	appendStringInfoString(&r, ", \"cols\": [");

	values[0] = ObjectIdGetDatum(relid);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	pgp_catalog_select("SELECT c.col::pg_catalog.text, c.protect, k.normalize, c.domain"
					   "  FROM privacy.registered_column c"
					   "  LEFT JOIN privacy.identifier_kind k"
					   "    ON k.name OPERATOR(pg_catalog.=) c.identifies"
					   " WHERE c.tbl OPERATOR(pg_catalog.=) $1 AND c.protect IS NOT NULL"
					   " ORDER BY c.attnum",
					   1, argtypes, values);
	for (i = 0; i < SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		char	   *col = SPI_getvalue(t, td, 1);
		char	   *kind = SPI_getvalue(t, td, 2);
		char	   *norm = SPI_getvalue(t, td, 3);
		char	   *domain = SPI_getvalue(t, td, 4);
		ProtectKind pk = parse_kind(kind);
		bool		keyed = pk != PROTECT_COUNTRY && pk != PROTECT_NULL;

		appendStringInfoString(&r, i > 0 ? ", [" : "[");
		escape_json(&r, col);
		appendStringInfoString(&r, ", ");
		escape_json(&r, kind);
		appendStringInfoString(&r, ", ");
		if (norm != NULL)
			escape_json(&r, norm);
		else
			appendStringInfoString(&r, "null");
		appendStringInfoString(&r, ", ");
		escape_json(&r, domain);
		appendStringInfo(&r, ", %s]",
						 keyed && !pgp_domain_allowed(ownerid, domain, strlen(domain)) ? "true" : "false");
	}
	SPI_finish();
	appendStringInfoString(&r, "]}");
	shard_rule_mac(r.data, mac);
	out[0] = CStringGetTextDatum(r.data);
	out[1] = CStringGetTextDatum(mac);
	PG_RETURN_ARRAYTYPE_P(construct_array(out, 2, TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * Build the state of the firing relation from the catalog: one query,
 * attribute numbers resolved by name in this relation.
 */
static void
protect_build(ProtectRel *pr, Relation rel, Trigger *tg)
{
	Oid			relid = RelationGetRelid(rel);
	List	   *ancestors = NIL;
	Datum	   *elems;
	int			nelems;
	int			i;
	ListCell   *lc;
	ArrayType  *arr;
	Oid			argtypes[1] = {OIDARRAYOID};
	Datum		values[1];
	MemoryContext oldcxt;
	MemoryContext cxt;

	if (pr->cxt != NULL)
		MemoryContextDelete(pr->cxt);
	pr->cxt = NULL;
	pr->memo_cxt = NULL;
	pr->memo_lxid = InvalidLocalTransactionId;
	pr->ncols = 0;
	pr->registered = InvalidOid;
	pr->signed_keygen = 0;
	pr->region.fp[0] = '\0';
	pr->region.has_wm = false;
	pr->region.has_hi = false;
	pr->has_fpe = false;

	if (rel->rd_rel->relispartition)
		ancestors = get_partition_ancestors(relid);
	nelems = list_length(ancestors) + 1;
	elems = palloc(sizeof(Datum) * nelems);
	elems[0] = ObjectIdGetDatum(relid);
	i = 1;
	foreach(lc, ancestors)
		elems[i++] = ObjectIdGetDatum(lfirst_oid(lc));
	arr = construct_array(elems, nelems, OIDOID, sizeof(Oid), true, TYPALIGN_INT);
	values[0] = PointerGetDatum(arr);

	cxt = AllocSetContextCreate(CacheMemoryContext, "pg_privacy protect state",
								ALLOCSET_SMALL_SIZES);

	/* The writing role has no access to the catalog: read it as its owner. */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	pgp_catalog_select("SELECT c.col::pg_catalog.text, c.protect, c.domain, c.tbl::pg_catalog.oid,"
					   "       k.normalize"
					   "  FROM privacy.registered_column c"
					   "  LEFT JOIN privacy.identifier_kind k"
					   "    ON k.name OPERATOR(pg_catalog.=) c.identifies"
					   " WHERE c.tbl::pg_catalog.oid OPERATOR(pg_catalog.=) ANY ($1)"
					   "   AND c.protect IS NOT NULL"
					   " ORDER BY c.attnum",
					   1, argtypes, values);

	protect_alloc_cols(pr, cxt, (int) SPI_processed);
	oldcxt = MemoryContextSwitchTo(cxt);
	pr->memo_cxt = AllocSetContextCreate(cxt, "pg_privacy protect memo",
										 ALLOCSET_SMALL_SIZES);
	for (i = 0; i < (int) SPI_processed; i++)
	{
		HeapTuple	t = SPI_tuptable->vals[i];
		TupleDesc	td = SPI_tuptable->tupdesc;
		char	   *col = SPI_getvalue(t, td, 1);
		char	   *kind = SPI_getvalue(t, td, 2);
		char	   *domain = SPI_getvalue(t, td, 3);
		char	   *norm = SPI_getvalue(t, td, 5);
		bool		isnull;
		Oid			reg = DatumGetObjectId(SPI_getbinval(t, td, 4, &isnull));

		protect_set_col(&pr->cols[pr->ncols], rel, cxt, col, kind, domain, norm,
						"See privacy.catalog_problems.");
		if (pr->cols[pr->ncols].kind == PROTECT_MSISDN_FPE)
			pr->has_fpe = true;
		pr->registered = reg;
		pr->ncols++;
	}
	MemoryContextSwitchTo(oldcxt);

	/*
	 * The older key this relation's phone-number pseudonyms are still
	 * under, until privacy.rekey() converts them, and how far it has come
	 * (see "Key rotation"); or "raw": the rows it held before
	 * protect_in_batches(), which privacy.rekey() converts the same way.
	 */
	if (pr->ncols > 0)
	{
		PG_TRY();
		{
			pgp_rekey_region(rel, cxt, &pr->region);
		}
		PG_CATCH();
		{
			MemoryContextDelete(cxt);
			pr->ncols = 0;
			pr->region.fp[0] = '\0';
			pr->region.has_wm = false;
			pr->region.has_hi = false;
			PG_RE_THROW();
		}
		PG_END_TRY();
	}
	SPI_finish();

	/*
	 * Whoever owns the table (or this partition of it) can write numbers of
	 * her choice and read their pseudonyms: she must hold the domain.
	 */
	for (i = 0; i < pr->ncols; i++)
	{
		ProtectCol *pc = &pr->cols[i];

		if (pc->kind == PROTECT_COUNTRY || pc->kind == PROTECT_NULL)
			continue;
		pgp_check_domain_grant(rel->rd_rel->relowner, pc->domain, pc->domain_len);
		if (OidIsValid(pr->registered) && pr->registered != relid)
			pgp_check_domain_grant(pgp_rel_owner(pr->registered),
								   pc->domain, pc->domain_len);
	}

	/* a shard of a Citus table: the rule its trigger carries, signed */
	if (pr->ncols == 0 && tg != NULL && tg->tgnargs == 2)
	{
		PG_TRY();
		{
			protect_build_signed(pr, rel, tg, cxt);
		}
		PG_CATCH();
		{
			MemoryContextDelete(cxt);
			pr->ncols = 0;
			pr->cxt = NULL;
			pr->memo_cxt = NULL;
			PG_RE_THROW();
		}
		PG_END_TRY();
	}

	pr->cxt = cxt;
	pr->valid = true;
}

/*
 * The cached state of the firing relation, built on first use.
 */
static ProtectRel *
protect_lookup(Relation rel, Trigger *tg)
{
	Oid			relid = RelationGetRelid(rel);
	ProtectRel *pr;
	bool		found;

	if (protect_cache == NULL)
		protect_cache_init();
	pr = hash_search(protect_cache, &relid, HASH_ENTER, &found);
	if (!found)
	{
		pr->valid = false;
		pr->cxt = NULL;
		pr->memo_cxt = NULL;
		pr->memo_lxid = InvalidLocalTransactionId;
		pr->ncols = 0;
		pr->registered = InvalidOid;
		pr->signed_keygen = 0;
		pr->region.fp[0] = '\0';
		pr->region.has_wm = false;
		pr->region.has_hi = false;
		pr->has_fpe = false;
	}
	/* a signed rule is checked again under a reloaded key */
	if (pr->valid && pr->signed_keygen != 0 && pr->signed_keygen != pgp_key_generation)
		pr->valid = false;
	if (!pr->valid)
	{
		PG_TRY();
		{
			protect_build(pr, rel, tg);
		}
		PG_CATCH();
		{
			pr->valid = false;
			PG_RE_THROW();
		}
		PG_END_TRY();
	}
	return pr;
}

/* Equal raw bytes of two non-null text datums. */
static bool
text_equal(Datum a, Datum b)
{
	text	   *ta = (text *) PG_DETOAST_DATUM_PACKED(a);
	text	   *tb = (text *) PG_DETOAST_DATUM_PACKED(b);

	return VARSIZE_ANY_EXHDR(ta) == VARSIZE_ANY_EXHDR(tb) &&
		memcmp(VARDATA_ANY(ta), VARDATA_ANY(tb), VARSIZE_ANY_EXHDR(ta)) == 0;
}

/*
 * Apply one column's transformation to a non-null value.
 */
static Datum
protect_value(ProtectCol *pc, const char *colname, const char *relname, Datum value,
			  PgpKey *fpe_key)
{
	text	   *t = (text *) PG_DETOAST_DATUM_PACKED(value);
	const char *s = VARDATA_ANY(t);
	int			len = VARSIZE_ANY_EXHDR(t);
	text	   *out;
	PgpKey	   *k;
	PgpE164Result nres;
	const char *country = pc->country ? pc->country : pgp_default_country;

	/*
	 * One identifier, one pseudonym: normalize by the identifier kind
	 * first (identifier.c), as holds, export and erasure normalize what
	 * they look for.  msisdn_fpe normalizes by itself.  A phone number
	 * that does not normalize is refused; an e-mail address or other
	 * identifier without a normal form (blank, no "@") is transformed as
	 * written.
	 */
	if (pc->norm == PGP_ID_MSISDN && pc->kind != PROTECT_MSISDN_FPE)
	{
		pgp_normalize_or_error(s, len, country, &nres);
		s = nres.number;
		len = nres.ndigits + 1;
	}
	else if (pc->norm == PGP_ID_EMAIL || pc->norm == PGP_ID_TEXT)
	{
		text	   *normal = pgp_normalize_identifier((PgpIdNorm) pc->norm, s, len,
													  country, true);

		if (normal != NULL)
		{
			s = VARDATA_ANY(normal);
			len = VARSIZE_ANY_EXHDR(normal);
		}
	}

	switch (pc->kind)
	{
		case PROTECT_PSEUDONYM:
			k = pgp_key_cached(&pc->ref, PGP_KP_PSEUDONYM, pc->domain, pc->domain_len);
			out = (text *) palloc(VARHDRSZ + PGP_PSEUDONYM_LEN);
			SET_VARSIZE(out, VARHDRSZ + PGP_PSEUDONYM_LEN);
			pgp_pseudonym(k, s, len, VARDATA(out));
			break;
		case PROTECT_MSISDN_FPE:
			{
				PgpE164Result res;

				pgp_normalize_or_error(s, len, country, &res);
				k = fpe_key ? fpe_key :
					pgp_key_cached(&pc->ref, PGP_KP_MSISDN_FPE, pc->domain, pc->domain_len);
				pgp_msisdn_ff1(k, &res, pc->domain, pc->domain_len, false);
				out = cstring_to_text_with_len(res.number, res.ndigits + 1);
				break;
			}
		case PROTECT_EMAIL:
			k = pgp_key_cached(&pc->ref, PGP_KP_EMAIL, pc->domain, pc->domain_len);
			out = pgp_email_pseudonym(k, s, len);
			break;
		case PROTECT_COUNTRY:
			{
				char		iso[3];

				pgp_country(s, len, iso);
				out = cstring_to_text(iso);
				break;
			}
		default:
			elog(ERROR, "unexpected protect transformation %d", (int) pc->kind);
			return (Datum) 0;
	}

	if (pc->maxlen >= 0 &&
		pg_mbstrlen_with_len(VARDATA(out), VARSIZE(out) - VARHDRSZ) > pc->maxlen)
		ereport(ERROR,
				(errcode(ERRCODE_STRING_DATA_RIGHT_TRUNCATION),
				 errhidestmt(true),
				 errmsg("protected value too long for column \"%s\" of relation \"%s\"",
						colname, relname),
				 errdetail("The transformed value has %d characters; the column holds %d.",
						   pg_mbstrlen_with_len(VARDATA(out), VARSIZE(out) - VARHDRSZ),
						   pc->maxlen)));
	if (pc->typid == BPCHAROID && pc->maxlen > (int) (VARSIZE(out) - VARHDRSZ))
	{
		/* blank-pad to the declared length, as char(n) input would */
		int			have = VARSIZE(out) - VARHDRSZ;
		text	   *padded = (text *) palloc(VARHDRSZ + pc->maxlen);

		SET_VARSIZE(padded, VARHDRSZ + pc->maxlen);
		memcpy(VARDATA(padded), VARDATA(out), have);
		memset(VARDATA(padded) + have, ' ', pc->maxlen - have);
		out = padded;
	}
	return PointerGetDatum(out);
}

/*
 * pgp_rekeying: whether this firing is privacy.rekey()'s own UPDATE of the
 * relation (not a statement nested in it), which changes no subject: the
 * consent and restriction checks let it pass.
 */
bool
pgp_rekeying(Oid relid)
{
	return OidIsValid(rekey_relid) && rekey_relid == relid &&
		protect_exec_depth == rekey_depth;
}

/*
 * pgp_rewriting: whether this firing is protect(..., rewrite_existing =>
 * true)'s own UPDATE of the table (or of a partition of it), not a
 * statement nested in it.  It converts the values a row holds and changes
 * no subject (the protect trigger refuses a row another trigger changed):
 * the consent and restriction checks let it pass, as they let rekey's.
 * They could not read its rows anyway: their protected columns hold raw
 * values, which the checks would take for pseudonyms.
 */
bool
pgp_rewriting(Oid relid)
{
	if (!OidIsValid(rewrite_relid) || protect_exec_depth != rewrite_depth)
		return false;
	if (relid == rewrite_relid)
		return true;
	return get_rel_relispartition(relid) &&
		list_member_oid(get_partition_ancestors(relid), rewrite_relid);
}

/*
 * A conversion's UPDATE (rekey's batch, protect's rewrite) sets each
 * column to itself: a row that reaches the protect trigger (the last
 * BEFORE trigger) otherwise was changed by a trigger of the table's owner,
 * which must not ride on the conversion past the consent and restriction
 * checks it skips.
 */
static void
refuse_changed_row(Relation rel, TupleDesc tupdesc, HeapTuple tuple, HeapTuple oldtuple,
				   const char *what)
{
	int			a;

	for (a = 1; a <= tupdesc->natts; a++)
	{
		Form_pg_attribute att = TupleDescAttr(tupdesc, a - 1);
		bool		n1,
					n2;
		Datum		v1,
					v2;

		if (att->attisdropped)
			continue;
		v1 = heap_getattr(tuple, a, tupdesc, &n1);
		v2 = heap_getattr(oldtuple, a, tupdesc, &n2);
		if (n1 != n2 || (!n1 && !datum_image_eq(v1, v2, att->attbyval, att->attlen)))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("a trigger of relation \"%s\" changed column \"%s\" of a row %s converts",
							RelationGetRelationName(rel), NameStr(att->attname), what),
					 errdetail("The conversion changes the protected values only; nothing of it was kept."),
					 errhint("Make the table's BEFORE UPDATE triggers leave the row alone, then run it again.")));
	}
}

/*
 * The msisdn_fpe working key of a row: under the relation's pending key
 * (the older key its phone-number pseudonyms are under until
 * privacy.rekey() converts them; 55000 when pg_privacy.key_file no longer
 * lists it), or the current key.
 */
static PgpKey *
protect_fpe_key(ProtectRel *pr, ProtectCol *pc, Relation rel, bool pending)
{
	if (pending)
		return pgp_pending_fpe_key(pr->region.fp, pc->domain, pc->domain_len,
								   &pc->pending_key, &pc->pending_gen,
								   RelationGetRelationName(rel));
	return pgp_key_cached(&pc->ref, PGP_KP_MSISDN_FPE, pc->domain, pc->domain_len);
}

/*
 * A stored phone-number pseudonym under one key (the relation's pending
 * key, or the current one), decrypted and pseudonymized again under the
 * other (as the column stores it): privacy.rekey()'s conversion, and a row
 * that moves across the watermark of a relation being converted.
 */
static Datum
protect_reencrypt(ProtectRel *pr, ProtectCol *pc, Relation rel,
				  const char *colname, Datum value, bool from_pending, bool to_pending)
{
	text	   *t = (text *) PG_DETOAST_DATUM_PACKED(value);
	PgpE164Result res;

	pgp_normalize_or_error(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t), NULL, &res);
	pgp_msisdn_ff1(protect_fpe_key(pr, pc, rel, from_pending), &res, pc->domain,
				   pc->domain_len, true);
	return protect_value(pc, colname, RelationGetRelationName(rel),
						 PointerGetDatum(cstring_to_text_with_len(res.number, res.ndigits + 1)),
						 to_pending ? protect_fpe_key(pr, pc, rel, true) : NULL);
}

/* Does the memo hold exactly this non-null value for the column? */
static inline bool
memo_matches(Datum *vals, bool *nulls, int i, Datum d)
{
	return !nulls[i] && vals[i] != (Datum) 0 && text_equal(d, vals[i]);
}

/*
 * Remember the protected columns of the row as it leaves the trigger,
 * copied into cxt (which the caller has reset).
 */
static void
memo_store(MemoryContext cxt, ProtectRel *pr, TupleDesc tupdesc, HeapTuple tuple,
		   Datum *vals, bool *nulls)
{
	MemoryContext oldcxt;
	int			i;

	oldcxt = MemoryContextSwitchTo(cxt);
	for (i = 0; i < pr->ncols; i++)
	{
		ProtectCol *pc = &pr->cols[i];
		bool		isnull;
		Datum		d = heap_getattr(tuple, pc->attnum, tupdesc, &isnull);

		nulls[i] = isnull || pc->kind == PROTECT_NULL;
		vals[i] = nulls[i] ? (Datum) 0 : datumCopy(d, false, -1);
	}
	MemoryContextSwitchTo(oldcxt);
}

PG_FUNCTION_INFO_V1(pgp_protect_trigger);

/*
 * The trigger function: BEFORE INSERT OR UPDATE, FOR EACH ROW.
 */
Datum
pgp_protect_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Relation	rel;
	TupleDesc	tupdesc;
	HeapTuple	tuple;
	HeapTuple	oldtuple = NULL;
	HeapTuple	result;
	ProtectRel *pr;
	int			i;
	int			nrepl = 0;
	bool		rewriting;
	bool		upsert_memo;
	bool		move_memo;
	bool		new_pending;
	bool		old_pending;
	bool		raw = false;
	LocalTransactionId lxid = MyProc->lxid;
	TimestampTz stmt = GetCurrentStatementStartTimestamp();
	uint64		seq = ++protect_fire_seq;
	int			depth = Min(Max(protect_exec_depth, 0), PROTECT_MAX_DEPTH - 1);
	uint64		prev_seq = protect_last_seq[depth];
	UpdateMemo *um = &update_memo[depth];

	if (!CALLED_AS_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("privacy_internal._protect_trigger() must be called as a trigger")));
	if (!TRIGGER_FIRED_BEFORE(td->tg_event) || !TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		TRIGGER_FIRED_BY_DELETE(td->tg_event) || TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("privacy_internal._protect_trigger() must be a BEFORE INSERT OR UPDATE row trigger")));

	rel = td->tg_relation;
	tupdesc = RelationGetDescr(rel);
	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		tuple = td->tg_newtuple;
		oldtuple = td->tg_trigtuple;
	}
	else
		tuple = td->tg_trigtuple;

	pr = protect_lookup(rel, td->tg_trigger);

	/*
	 * A shard's state comes from the rule of one trigger: another trigger
	 * running this function on the shard would transform the row twice.
	 */
	if (pr->signed_keygen != 0 && strcmp(td->tg_trigger->tgname, pr->signed_tgname) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the protect rule on shard \"%s\" is carried by trigger \"%s\", not by \"%s\"",
						RelationGetRelationName(rel), td->tg_trigger->tgname, pr->signed_tgname),
				 errdetail("Only the trigger Citus copied from the distributed table transforms its rows: a second one would transform them twice."),
				 errhint("Drop that trigger.")));

	/*
	 * The trigger fires on a relation pg_privacy knows no protected column
	 * of: a copy of the trigger on a table the catalog does not name (a
	 * Citus shard, whose OID is not the distributed table's), or a table
	 * whose protected columns were undeclared.  Passing the row would
	 * store raw values in a table that says it is protected: refuse.
	 */
	if (pr->ncols == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("table \"%s\" has pg_privacy's protect trigger but no protected column in the catalog",
						RelationGetRelationName(rel)),
				 errdetail("The row would be stored untransformed."),
				 errhint("Declare its protected columns (privacy.register_column with protect), or run privacy.unprotect() on it; for a shard of a table Citus manages, run privacy.protect() on that table on the coordinator.")));

	if (application_name != NULL &&
		strcmp(application_name, "pg_restore") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot restore rows into protected table \"%s\" through its protect trigger",
						RelationGetRelationName(rel)),
				 errdetail("Rows in a dump were protected when they were written; the trigger would transform them a second time."),
				 errhint("Restore schema and data together, or restore the data with --disable-triggers as a superuser.")));

	rewriting = OidIsValid(rewrite_relid) &&
		(rewrite_relid == pr->registered || rewrite_relid == RelationGetRelid(rel));
	if (rewriting && oldtuple != NULL && protect_exec_depth == rewrite_depth)
		refuse_changed_row(rel, tupdesc, tuple, oldtuple, "privacy.protect()");

	/*
	 * A write of the relation nested in privacy.rekey()'s UPDATE of it (a
	 * trigger of the table's owner): it would be made under the pending
	 * key of a relation about to be marked converted.
	 */
	if (OidIsValid(rekey_relid) && rekey_relid == RelationGetRelid(rel) &&
		protect_exec_depth != rekey_depth)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot write relation \"%s\" while privacy.rekey() converts it",
						RelationGetRelationName(rel)),
				 errdetail("A statement run inside the conversion (a trigger of the table) wrote the relation being converted.")));
	/*
	 * privacy.rekey() converting this relation: its UPDATE sets each
	 * msisdn_fpe column to itself; each pseudonym goes from the pending key
	 * to the current one.  Nothing else of the row is touched.
	 */
	if (oldtuple != NULL && pgp_rekeying(RelationGetRelid(rel)))
	{
		refuse_changed_row(rel, tupdesc, tuple, oldtuple, "privacy.rekey()");
		if (pr->region.fp[0] == '\0')
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("relation \"%s\" has no pseudonyms to convert to the current key",
							RelationGetRelationName(rel))));
		raw = PGP_REKEY_RAW(&pr->region);
		/* never converted twice */
		if (!pgp_rekey_row_pending(&pr->region, oldtuple, tupdesc))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("a row of relation \"%s\" that privacy.rekey() converts is under the current key already",
							RelationGetRelationName(rel)),
					 errdetail("Nothing of the batch was converted.")));
		for (i = 0; i < pr->ncols; i++)
		{
			ProtectCol *pc = &pr->cols[i];
			bool		isnull;
			Datum		d;

			if (pc->kind != PROTECT_MSISDN_FPE && !raw)
				continue;
			d = heap_getattr(tuple, pc->attnum, tupdesc, &isnull);
			if (isnull)
				continue;
			pr->repl_cols[nrepl] = pc->attnum;
			if (raw && pc->kind == PROTECT_NULL)
			{
				pr->repl_vals[nrepl] = (Datum) 0;
				pr->repl_nulls[nrepl] = true;
				nrepl++;
				continue;
			}
			/* raw: transformed as on write; else from the pending key */
			pr->repl_vals[nrepl] = raw
				? protect_value(pc, NameStr(TupleDescAttr(tupdesc, pc->attnum - 1)->attname),
								RelationGetRelationName(rel), d, NULL)
				: protect_reencrypt(pr, pc, rel,
									NameStr(TupleDescAttr(tupdesc, pc->attnum - 1)->attname), d,
									true, false);
			pr->repl_nulls[nrepl] = false;
			nrepl++;
		}
		for (i = depth; i < PROTECT_MAX_DEPTH; i++)
			protect_last_seq[i] = seq;
		rekey_rows++;
		if (nrepl == 0)
			return PointerGetDatum(tuple);
		return PointerGetDatum(heap_modify_tuple_by_cols(tuple, tupdesc, nrepl,
														 pr->repl_cols,
														 pr->repl_vals,
														 pr->repl_nulls));
	}
	/* BEFORE UPDATE of EXCLUDED, right after this relation's BEFORE INSERT */
	upsert_memo = oldtuple != NULL && !rewriting && pr->memo_lxid == lxid &&
		pr->memo_stmt == stmt && pr->memo_depth == depth && pr->memo_seq == prev_seq;
	/* BEFORE INSERT of a row moving here from another partition */
	move_memo = oldtuple == NULL && !rewriting &&
		um->lxid == lxid && um->stmt == stmt && um->seq == prev_seq &&
		um->registered == pr->registered &&
		OidIsValid(pr->registered) && um->relid != RelationGetRelid(rel) &&
		um->ncols == pr->ncols;

	/*
	 * A row moving between partitions whose phone-number pseudonyms are
	 * under different keys (privacy.rekey() has converted one and not the
	 * other): its pseudonyms would be under the wrong key where it lands.
	 */
	/* the key each side of the row is under (see "Key rotation") */
	if (pr->has_fpe)
		pgp_rekey_check_snapshot(rel);
	new_pending = pgp_rekey_row_pending_fast(&pr->region, tuple, tupdesc);
	old_pending = oldtuple != NULL && pgp_rekey_row_pending_fast(&pr->region, oldtuple, tupdesc);

	/*
	 * A row the relation held before protect_in_batches() that
	 * privacy.rekey() has not converted yet: its values are raw, and the
	 * row cannot be marked converted apart from its place.  Written (or
	 * written there), it would be stored raw or converted unseen: refuse.
	 * Rows above the high mark (new rows) are written as usual.
	 */
	if ((new_pending || old_pending) && PGP_REKEY_RAW(&pr->region))
	{
		/*
		 * An UPDATE that leaves the row in its place and each protected
		 * column as it was or NULL (the application's update of another
		 * column, the purge's anonymizing, an erasure's scrubbing) keeps
		 * the row what it was: raw where it is not NULL, converted with
		 * the others by its batch.
		 */
		if (oldtuple != NULL && old_pending && new_pending)
		{
			bool		kept = true;

			for (i = 0; i < pr->ncols && kept; i++)
			{
				bool		isnull,
							oldnull;
				Datum		d = heap_getattr(tuple, pr->cols[i].attnum, tupdesc, &isnull);
				Datum		od = heap_getattr(oldtuple, pr->cols[i].attnum, tupdesc, &oldnull);

				/*
				 * (a value of EXCLUDED is a new one, transformed by BEFORE
				 * INSERT, even when it equals the raw value byte for byte)
				 */
				kept = isnull ||
					(!oldnull && text_equal(d, od) &&
					 !(upsert_memo && pr->cols[i].kind != PROTECT_NULL &&
					   memo_matches(pr->memo_vals, pr->memo_nulls, i, d)));
			}
			if (kept)
			{
				for (i = depth; i < PROTECT_MAX_DEPTH; i++)
					protect_last_seq[i] = seq;
				return PointerGetDatum(tuple);
			}
		}
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot write a row of relation \"%s\" that privacy.rekey() has not converted since the table was protected",
						RelationGetRelationName(rel)),
				 errdetail("The rows the table held before it was protected are converted in batches; until its batch, such a row holds raw values, and may be updated only leaving its protected columns as they are or NULL, in its place."),
				 errhint("Run CALL privacy.rekey() (privacy.rekey_progress shows what is left), then write the row again.")));
	}
	if (move_memo && pr->has_fpe &&
		strcmp(um->row_fp, new_pending ? pr->region.fp : "") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot move a row of table \"%s\" to partition \"%s\" before privacy.rekey() has converted both partitions",
						get_rel_name(pr->registered), RelationGetRelationName(rel)),
				 errdetail("The phone-number pseudonyms of the two partitions are under different keys."),
				 errhint("Run CALL privacy.rekey() to finish the key rotation, then update the row again.")));
	/* this firing is the last one at its level and for the levels within */
	for (i = depth; i < PROTECT_MAX_DEPTH; i++)
		protect_last_seq[i] = seq;

	for (i = 0; i < pr->ncols; i++)
	{
		ProtectCol *pc = &pr->cols[i];
		bool		isnull;
		Datum		d = heap_getattr(tuple, pc->attnum, tupdesc, &isnull);

		if (isnull)
			continue;
		if (oldtuple != NULL && pc->kind != PROTECT_NULL && !rewriting)
		{
			bool		oldnull;
			Datum		od = heap_getattr(oldtuple, pc->attnum, tupdesc, &oldnull);

			if (!oldnull && text_equal(d, od))
			{
				/*
				 * unchanged: already protected, under the key of the row's
				 * old place; moved across the watermark of a relation being
				 * converted, under the other key now
				 */
				if (pc->kind == PROTECT_MSISDN_FPE && old_pending != new_pending)
				{
					pr->repl_cols[nrepl] = pc->attnum;
					pr->repl_vals[nrepl] =
						protect_reencrypt(pr, pc, rel,
										  NameStr(TupleDescAttr(tupdesc, pc->attnum - 1)->attname),
										  d, old_pending, new_pending);
					pr->repl_nulls[nrepl] = false;
					nrepl++;
				}
				continue;
			}
			if (upsert_memo)
			{
				int			j;

				if (memo_matches(pr->memo_vals, pr->memo_nulls, i, d))
				{
					/*
					 * EXCLUDED: protected by BEFORE INSERT, under the key
					 * of the place the proposed row had
					 */
					if (pc->kind == PROTECT_MSISDN_FPE && pr->memo_pending != new_pending)
					{
						pr->repl_cols[nrepl] = pc->attnum;
						pr->repl_vals[nrepl] =
							protect_reencrypt(pr, pc, rel,
											  NameStr(TupleDescAttr(tupdesc, pc->attnum - 1)->attname),
											  d, pr->memo_pending, new_pending);
						pr->repl_nulls[nrepl] = false;
						nrepl++;
					}
					continue;
				}

				/*
				 * EXCLUDED of another protected column (SET b = EXCLUDED.a):
				 * protected under the other column's transformation, and a
				 * second one would corrupt it.  Neither is right: refuse.
				 */
				for (j = 0; j < pr->ncols; j++)
					if (j != i && pr->cols[j].kind != PROTECT_NULL &&
						memo_matches(pr->memo_vals, pr->memo_nulls, j, d))
						ereport(ERROR,
								(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
								 errhidestmt(true),
								 errmsg("cannot protect column \"%s\" of relation \"%s\" with the protected value of column \"%s\"",
										NameStr(TupleDescAttr(tupdesc, pc->attnum - 1)->attname),
										RelationGetRelationName(rel),
										NameStr(TupleDescAttr(tupdesc, pr->cols[j].attnum - 1)->attname)),
								 errdetail("The value was already transformed for the other column; transforming it again would store neither form."),
								 errhint("Set the column to the raw value, not to EXCLUDED of another protected column.")));
			}
		}
		if (move_memo && pc->kind != PROTECT_NULL &&
			memo_matches(um->vals, um->nulls, i, d))
			continue;			/* moved row: left so by BEFORE UPDATE */
		pr->repl_cols[nrepl] = pc->attnum;
		if (pc->kind == PROTECT_NULL)
		{
			pr->repl_vals[nrepl] = (Datum) 0;
			pr->repl_nulls[nrepl] = true;
		}
		else
		{
			pr->repl_vals[nrepl] =
				protect_value(pc,
							  NameStr(TupleDescAttr(tupdesc, pc->attnum - 1)->attname),
							  RelationGetRelationName(rel), d,
							  (pc->kind == PROTECT_MSISDN_FPE && new_pending)
							  ? protect_fpe_key(pr, pc, rel, true) : NULL);
			pr->repl_nulls[nrepl] = false;
		}
		nrepl++;
	}

	if (nrepl == 0)
		result = tuple;
	else
		result = heap_modify_tuple_by_cols(tuple, tupdesc, nrepl,
										   pr->repl_cols,
										   pr->repl_vals,
										   pr->repl_nulls);

	/* remember what this firing stored, for the next one (see the top) */
	if (pr->ncols > 0 && !rewriting)
	{
		if (oldtuple == NULL)
		{
			pr->memo_lxid = InvalidLocalTransactionId;
			MemoryContextReset(pr->memo_cxt);
			memo_store(pr->memo_cxt, pr, tupdesc, result, pr->memo_vals, pr->memo_nulls);
			pr->memo_lxid = lxid;
			pr->memo_pending = new_pending;
			pr->memo_stmt = stmt;
			pr->memo_seq = seq;
			pr->memo_depth = depth;
		}
		else
		{
			if (um->cxt == NULL)
				um->cxt = AllocSetContextCreate(TopMemoryContext,
												"pg_privacy protect update memo",
												ALLOCSET_SMALL_SIZES);
			um->lxid = InvalidLocalTransactionId;
			MemoryContextReset(um->cxt);
			um->vals = MemoryContextAllocZero(um->cxt, sizeof(Datum) * pr->ncols);
			um->nulls = MemoryContextAllocZero(um->cxt, sizeof(bool) * pr->ncols);
			memo_store(um->cxt, pr, tupdesc, result, um->vals, um->nulls);
			um->lxid = lxid;
			um->stmt = stmt;
			um->seq = seq;
			um->relid = RelationGetRelid(rel);
			um->registered = pr->registered;
			strlcpy(um->row_fp, new_pending ? pr->region.fp : "", sizeof(um->row_fp));
			um->ncols = pr->ncols;
		}
	}
	return PointerGetDatum(result);
}

/* The call site's state of _transform, in fn_extra. */
typedef struct TransformState
{
	ProtectCol	col;
	char	   *kind;			/* identifier kind, or NULL */
} TransformState;

PG_FUNCTION_INFO_V1(pgp_transform);

/*
 * _transform(value, protect, domain, identifies): one value through a
 * protect transformation, exactly as the trigger would store it in a
 * column of that identifier kind (NULL: none): normalized by the kind,
 * then transformed.  Used by protect(..., rewrite_existing => true) and by
 * the lookups (holds, consent, export, erasure) that compute the stored
 * form of an identifier.  The column is taken as unbounded text.  The
 * current user must hold the domain.
 */
Datum
pgp_transform(PG_FUNCTION_ARGS)
{
	TransformState *ts = (TransformState *) fcinfo->flinfo->fn_extra;
	text	   *kind;
	text	   *domain;
	char	   *kind_s;
	char	   *ident = NULL;
	int			dlen;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	if (PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("protect transformation and domain must not be null")));
	kind = PG_GETARG_TEXT_PP(1);
	domain = PG_GETARG_TEXT_PP(2);
	kind_s = text_to_cstring(kind);
	dlen = VARSIZE_ANY_EXHDR(domain);
	if (PG_NARGS() > 3 && !PG_ARGISNULL(3))
		ident = text_to_cstring(PG_GETARG_TEXT_PP(3));

	if (ts == NULL || ts->col.kind != parse_kind(kind_s) || ts->col.domain_len != dlen ||
		memcmp(ts->col.domain, VARDATA_ANY(domain), dlen) != 0 ||
		(ts->kind == NULL) != (ident == NULL) ||
		(ident != NULL && strcmp(ts->kind, ident) != 0))
	{
		ProtectKind pk = parse_kind(kind_s);
		ProtectNorm norm = ident ? (ProtectNorm) pgp_identifier_kind_norm(ident) : NORM_NONE;

		pgp_check_domain(VARDATA_ANY(domain), dlen);
		ts = MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(TransformState));
		ts->col.kind = pk;
		ts->col.norm = (pk == PROTECT_COUNTRY || pk == PROTECT_NULL) ? NORM_NONE : norm;
		ts->col.typid = TEXTOID;
		ts->col.maxlen = -1;
		ts->col.domain = MemoryContextAlloc(fcinfo->flinfo->fn_mcxt, dlen + 1);
		memcpy(ts->col.domain, VARDATA_ANY(domain), dlen);
		ts->col.domain[dlen] = '\0';
		ts->col.domain_len = dlen;
		ts->kind = ident ? MemoryContextStrdup(fcinfo->flinfo->fn_mcxt, ident) : NULL;
		fcinfo->flinfo->fn_extra = ts;
	}
	if (ts->col.kind == PROTECT_NULL)
		PG_RETURN_NULL();
	if (ts->col.kind != PROTECT_COUNTRY)
		pgp_check_domain_grant(GetUserId(), ts->col.domain, ts->col.domain_len);
	PG_RETURN_DATUM(protect_value(&ts->col, "value", "argument", PG_GETARG_DATUM(0), NULL));
}

/*
 * A conversion of a relation's rows (rekey's batch and high mark,
 * protect(rewrite_existing)) reads them after it has locked the relation
 * against writers.  Under REPEATABLE READ or SERIALIZABLE the transaction's
 * snapshot may predate that lock: a row committed in between would be
 * left as it is (raw, or under the old key) while the relation, or the
 * watermark past it, is taken for converted.
 */
static void
require_read_committed(const char *relname)
{
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("cannot convert the rows of relation \"%s\" at isolation level %s",
						relname, IsolationIsSerializable() ? "SERIALIZABLE" : "REPEATABLE READ"),
				 errdetail("The transaction's snapshot may be older than the lock that holds the writers off: a row committed in between would not be converted."),
				 errhint("Run it at READ COMMITTED (for CALL privacy.rekey(): SET default_transaction_isolation = 'read committed').")));
}

/*
 * UPDATE [ONLY] tbl t SET col = col, ... [WHERE where] for the given
 * columns, as the table's owner in a security-restricted operation with a
 * safe search_path (src/owner.c), as PostgreSQL's own maintenance commands
 * run, so a trigger or default the owner planted never runs with the
 * rights of the caller of a privileged path.  While it runs the table is
 * named (rewrite_relid, or for privacy.rekey() rekey_relid, ONLY the
 * relation, without the owner's forced row security, with the condition
 * where over alias t and its parameters): the protect trigger then
 * converts those columns although the UPDATE leaves them unchanged.
 * Returns the number of rows.  For rekey, count_rows counts the rows the
 * condition selects first, and the UPDATE must reach each (a BEFORE
 * trigger of the owner returning NULL would leave one under the old key).
 */
static uint64
protect_self_update(Oid relid, ArrayType *cols, bool rekey, const char *where,
					int nargs, Oid *argtypes, Datum *argvals, bool count_rows)
{
	Datum	   *elems;
	bool	   *nulls;
	int			ncols;
	int			i;
	char	   *relname;
	char	   *nspname;
	StringInfoData sql;
	uint64		processed = 0;
	volatile int64 total = -1;

	if (ARR_NDIM(cols) > 1 || ARR_ELEMTYPE(cols) != NAMEOID)
		ereport(ERROR,
				(errcode(ERRCODE_ARRAY_SUBSCRIPT_ERROR),
				 errmsg("columns must be a one-dimensional array of names")));
	relname = get_rel_name(relid);
	nspname = relname ? get_namespace_name(get_rel_namespace(relid)) : NULL;
	if (relname == NULL || nspname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));

	deconstruct_array(cols, NAMEOID, NAMEDATALEN, false, TYPALIGN_CHAR,
					  &elems, &nulls, &ncols);
	if (ncols == 0)
		return 0;

	require_read_committed(relname);

	if (rekey && count_rows)
	{
		Datum		d;
		bool		isnull;

		initStringInfo(&sql);
		appendStringInfo(&sql, "SELECT pg_catalog.count(*) FROM ONLY %s t%s%s",
						 quote_qualified_identifier(nspname, relname),
						 where ? " WHERE " : "", where ? where : "");
		(void) pgp_owner_run(relid, sql.data, nargs, argtypes, argvals, NULL,
							 PGP_RUN_QUERY | PGP_RUN_NOFORCE_RLS, 0, INT8OID,
							 &d, &isnull, NULL, NULL);
		total = isnull ? 0 : DatumGetInt64(d);
	}

	initStringInfo(&sql);
	appendStringInfo(&sql, "UPDATE %s%s t SET ", rekey ? "ONLY " : "",
					 quote_qualified_identifier(nspname, relname));
	for (i = 0; i < ncols; i++)
	{
		const char *col;

		if (nulls[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("column names must not be null")));
		col = quote_identifier(NameStr(*DatumGetName(elems[i])));
		appendStringInfo(&sql, "%s%s = %s", i > 0 ? ", " : "", col, col);
	}
	if (where)
		appendStringInfo(&sql, " WHERE %s", where);

	if (rekey)
	{
		rekey_relid = relid;
		rekey_depth = protect_exec_depth + 1;	/* the UPDATE's level */
		rekey_rows = 0;
	}
	else
	{
		rewrite_relid = relid;
		rewrite_depth = protect_exec_depth + 1;	/* the UPDATE's level */
	}
	PG_TRY();
	{
		/*
		 * as the table's owner (src/owner.c); a conversion is not subject
		 * to her row security: every row is converted
		 */
		processed = pgp_owner_run(relid, sql.data, nargs, argtypes, argvals, NULL,
								  PGP_RUN_EXEC | (rekey ? PGP_RUN_NOFORCE_RLS : 0),
								  0, InvalidOid, NULL, NULL, NULL, NULL);
	}
	PG_FINALLY();
	{
		rewrite_relid = InvalidOid;
		rewrite_depth = -1;
		rekey_relid = InvalidOid;
		rekey_depth = -1;
	}
	PG_END_TRY();

	/*
	 * Each row the UPDATE reports, converted by the protect trigger (it does
	 * not fire under session_replication_role = replica, for one).
	 */
	if (rekey && rekey_rows != processed)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("the protect trigger converted %llu of the %llu rows privacy.rekey() updated in relation \"%s\"",
						(unsigned long long) rekey_rows, (unsigned long long) processed, relname),
				 errdetail("Nothing of the batch was converted."),
				 errhint("Run CALL privacy.rekey() with session_replication_role = origin, its protect trigger enabled.")));
	if (total >= 0 && (uint64) total != processed)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("privacy.rekey() converted %llu of the %lld rows of relation %s",
						(unsigned long long) processed, (long long) total,
						quote_qualified_identifier(nspname, relname)),
				 errdetail("A trigger of the table kept rows from being updated; nothing of the batch was converted."),
				 errhint("Make the table's BEFORE UPDATE triggers return the row, then run CALL privacy.rekey() again.")));
	return processed;
}

/*
 * privacy.rekey()'s UPDATE of one batch of a relation (src/rekey.c): the
 * rows where selects (over alias t; NULL: every row).
 */
uint64
pgp_protect_rekey_update(Oid relid, ArrayType *cols, const char *where,
						 int nargs, Oid *argtypes, Datum *argvals, bool count_rows)
{
	return protect_self_update(relid, cols, true, where, nargs, argtypes, argvals,
							   count_rows);
}

PG_FUNCTION_INFO_V1(pgp_rekey_batch);

/*
 * _rekey_batch(rel, cols, order_col, order_type, lo, mark, batch_size,
 * count_rows) -> (hi bytea, rows bigint): convert the msisdn_fpe columns
 * cols of the rows of relation rel past the watermark lo (NULL: from the
 * start) up to the batch_size-th next value of the order column (every
 * row of that value too) not above the high mark (NULL: none), hi,
 * through the protect trigger as the table's owner (above).  hi NULL: the
 * rows left were fewer, and every row past lo up to the high mark, the
 * order column NULL among them, was converted (order_col NULL: the whole
 * relation, in one batch).  count_rows: the rows in the
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
	bool		has_mark = !PG_ARGISNULL(5);
	int32		batch_size;
	bool		count_rows;
	char	   *relname;
	char	   *qrel;
	const char *qcol = NULL;
	Datum		lo = (Datum) 0;
	Datum		hi = (Datum) 0;
	bool		hi_null = true;
	StringInfoData where;
	Oid			argtypes[3];
	Datum		argvals[3];
	int			nargs = 0;
	int			lo_arg = 0;
	int			mark_arg = 0;
	uint64		processed;
	TupleDesc	rtd;
	Datum		out[2];
	bool		outnull[2] = {false, false};

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(6) || PG_ARGISNULL(7))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("relation, columns, batch size and count_rows must not be null")));
	relid = PG_GETARG_OID(0);
	cols = PG_GETARG_ARRAYTYPE_P(1);
	batch_size = PG_GETARG_INT32(6);
	count_rows = PG_GETARG_BOOL(7);
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

		(void) pgp_rekey_order_attnum(relid, col, typ);
		qcol = quote_identifier(col);
		if (has_lo)
		{
			lo = pgp_rekey_order_value(PG_GETARG_BYTEA_PP(4), typ);
			argtypes[nargs] = typ;
			argvals[nargs++] = lo;
			lo_arg = nargs;
		}
		if (has_mark)
		{
			argtypes[nargs] = typ;
			argvals[nargs++] = pgp_rekey_order_value(PG_GETARG_BYTEA_PP(5), typ);
			mark_arg = nargs;
		}

		/*
		 * The next watermark: the batch_size-th value past lo, up to the
		 * high mark (the rows above it are under the current key already),
		 * as the owner sees her table without her forced row security (a
		 * bound only; the UPDATE converts every row up to it).  Built-in
		 * operators of a built-in type.
		 */
		{
			StringInfoData q;
			Oid			qtypes[3];
			Datum		qvals[3];
			int			qn = nargs;
			bool		isnull = true;

			memcpy(qtypes, argtypes, sizeof(Oid) * nargs);
			memcpy(qvals, argvals, sizeof(Datum) * nargs);
			qtypes[qn] = INT8OID;
			qvals[qn++] = Int64GetDatum((int64) batch_size - 1);
			initStringInfo(&q);
			appendStringInfo(&q, "SELECT t.%s FROM ONLY %s t WHERE ", qcol, qrel);
			if (has_lo)
				appendStringInfo(&q, "t.%s OPERATOR(pg_catalog.>) $%d", qcol, lo_arg);
			else
				appendStringInfo(&q, "t.%s IS NOT NULL", qcol);
			if (has_mark)
				appendStringInfo(&q, " AND t.%s OPERATOR(pg_catalog.<=) $%d", qcol, mark_arg);
			appendStringInfo(&q, " ORDER BY t.%s OFFSET $%d LIMIT 1", qcol, qn);
			(void) pgp_owner_run(relid, q.data, qn, qtypes, qvals, NULL,
								 PGP_RUN_QUERY | PGP_RUN_NOFORCE_RLS, 0, typ,
								 &hi, &isnull, NULL, NULL);
			hi_null = isnull;
		}
		if (!hi_null)
		{
			/* (lo, hi]: hi is at most the high mark */
			if (has_lo)
				appendStringInfo(&where, "t.%s OPERATOR(pg_catalog.>) $%d AND ", qcol, lo_arg);
			argtypes[nargs] = typ;
			argvals[nargs++] = hi;
			appendStringInfo(&where, "t.%s OPERATOR(pg_catalog.<=) $%d", qcol, nargs);
		}
		else if (has_lo || has_mark)
		{
			/*
			 * the last batch: every row past lo up to the high mark, and
			 * those without a value
			 */
			appendStringInfoString(&where, "((");
			if (has_lo)
				appendStringInfo(&where, "t.%s OPERATOR(pg_catalog.>) $%d%s", qcol, lo_arg,
								 has_mark ? " AND " : "");
			if (has_mark)
				appendStringInfo(&where, "t.%s OPERATOR(pg_catalog.<=) $%d", qcol, mark_arg);
			appendStringInfo(&where, ") OR t.%s IS NULL)", qcol);
		}
	}

	processed = protect_self_update(relid, cols, true, where.len > 0 ? where.data : NULL,
									nargs, argtypes, argvals, count_rows);
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

PG_FUNCTION_INFO_V1(pgp_rekey_high_mark);

/*
 * _rekey_high_mark(rel, order_col, order_type) -> bytea: the largest value
 * of the order column of rel (NULL: none), in its type's binary form, as
 * the owner sees her table without her forced row security, when the
 * conversion of rel begins (src/sql/36_rekey.sql).  The caller holds the
 * relation against writers and reads at READ COMMITTED, after the lock: no
 * row under the old key lies above it.
 */
Datum
pgp_rekey_high_mark(PG_FUNCTION_ARGS)
{
	Oid			relid;
	const char *col;
	Oid			typ;
	char	   *relname;
	StringInfoData q;
	Datum		v = (Datum) 0;
	bool		isnull = true;
	Oid			send;
	bool		varlena;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("relation, order column and its type must not be null")));
	relid = PG_GETARG_OID(0);
	col = NameStr(*PG_GETARG_NAME(1));
	typ = PG_GETARG_OID(2);
	relname = get_rel_name(relid);
	if (relname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	require_read_committed(relname);
	(void) pgp_rekey_order_attnum(relid, col, typ);
	initStringInfo(&q);
	/* (not max(): uuid has none) */
	appendStringInfo(&q, "SELECT t.%1$s FROM ONLY %2$s t WHERE t.%1$s IS NOT NULL ORDER BY t.%1$s DESC LIMIT 1",
					 quote_identifier(col),
					 quote_qualified_identifier(get_namespace_name(get_rel_namespace(relid)), relname));
	(void) pgp_owner_run(relid, q.data, 0, NULL, NULL, NULL,
						 PGP_RUN_QUERY | PGP_RUN_NOFORCE_RLS, 0, typ,
						 &v, &isnull, NULL, NULL);
	if (isnull)
		PG_RETURN_NULL();
	getTypeBinaryOutputInfo(typ, &send, &varlena);
	PG_RETURN_BYTEA_P(OidSendFunctionCall(send, v));
}

PG_FUNCTION_INFO_V1(pgp_rewrite_protected);

/*
 * _rewrite_protected(tbl, cols): transform the rows a table held before it
 * was protected, through the protect trigger (which must exist), with an
 * UPDATE that sets each protected column to itself.
 */
Datum
pgp_rewrite_protected(PG_FUNCTION_ARGS)
{
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("table and columns must not be null")));
	PG_RETURN_INT64((int64) protect_self_update(PG_GETARG_OID(0), PG_GETARG_ARRAYTYPE_P(1),
												false, NULL, 0, NULL, NULL, false));
}

PG_FUNCTION_INFO_V1(pgp_has_rows);

/*
 * _has_rows(tbl, col): whether the table (or a partition of it) holds a
 * row (col not NULL: whose col is not NULL), read as its owner in a
 * security-restricted operation (src/owner.c), without her forced row
 * security: protect() and register_column() ask it before they would leave
 * values raw in a protected column.
 */
Datum
pgp_has_rows(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	char	   *relname = get_rel_name(relid);
	char	   *nspname = relname ? get_namespace_name(get_rel_namespace(relid)) : NULL;
	StringInfoData sql;
	Datum		d;
	bool		isnull;

	if (relname == NULL || nspname == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	initStringInfo(&sql);
	appendStringInfo(&sql, "SELECT EXISTS (SELECT FROM %s t",
					 quote_qualified_identifier(nspname, relname));
	if (PG_NARGS() > 1 && !PG_ARGISNULL(1))
		appendStringInfo(&sql, " WHERE t.%s IS NOT NULL",
						 quote_identifier(NameStr(*PG_GETARG_NAME(1))));
	appendStringInfoChar(&sql, ')');
	(void) pgp_owner_run(relid, sql.data, 0, NULL, NULL, NULL,
						 PGP_RUN_QUERY | PGP_RUN_NOFORCE_RLS, 0, BOOLOID,
						 &d, &isnull, NULL, NULL);
	PG_RETURN_BOOL(!isnull && DatumGetBool(d));
}

PG_FUNCTION_INFO_V1(pgp_invalidate);

/*
 * _invalidate(tbl): make every backend drop its cached protect state of
 * the table (and its partitions) at commit.  Called by the catalog
 * functions when a declaration changes.  privacy.registered_table is
 * invalidated too: the subject engine's kept statements (subject.c) watch
 * it, and a table declared for the first time is not yet one they watch.
 */
Datum
pgp_invalidate(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Oid			catrel = get_relname_relid("registered_table",
										   get_namespace_oid("privacy", false));

	CacheInvalidateRelcacheByRelid(relid);
	if (OidIsValid(catrel) && catrel != relid)
		CacheInvalidateRelcacheByRelid(catrel);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(pgp_catalog_changed);

/*
 * _catalog_changed(): AFTER trigger on the declaration tables (purposes,
 * legal bases, identifier kinds, registered tables and columns, subject
 * tables, retention policies, consent requirements): for each row written,
 * and for TRUNCATE; enabled ALWAYS, so that it fires under
 * session_replication_role = replica and in logical replication's apply.
 * However they were written, by the catalog functions or by hand, every
 * backend drops what it derived from them (the subject engine's statements
 * and table descriptions, subject.c) when the change commits, and this
 * backend at once.  Per row, so that a statement that changes no row (an
 * UPDATE or DELETE that matches nothing, as most of the rename-following
 * UPDATEs do) drops nothing; the invalidation is queued once per command
 * however many rows change.
 */
Datum
pgp_catalog_changed(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;

	TupleDesc	desc;
	AttrNumber	tblatt;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		(TRIGGER_FIRED_FOR_STATEMENT(td->tg_event) && !TRIGGER_FIRED_BY_TRUNCATE(td->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("_catalog_changed must be called as an AFTER row trigger, or an AFTER TRUNCATE trigger")));
	CacheInvalidateRelcacheByRelid(RelationGetRelid(td->tg_relation));

	/*
	 * A row that declares a table (its column tbl): the table too, as
	 * _invalidate does for the catalog functions, so that the protect and
	 * consent triggers' states follow a declaration written by hand.  A
	 * table already dropped (its declaration deleted after it) has nothing
	 * to drop.
	 */
	desc = RelationGetDescr(td->tg_relation);
	tblatt = SPI_fnumber(desc, "tbl");
	if (TRIGGER_FIRED_FOR_ROW(td->tg_event) && tblatt > 0 &&
		TupleDescAttr(desc, tblatt - 1)->atttypid == REGCLASSOID)
	{
		HeapTuple	rows[2] = {td->tg_trigtuple, td->tg_newtuple};
		int			i;

		for (i = 0; i < 2; i++)
		{
			bool		isnull;
			Datum		v;

			if (rows[i] == NULL)
				continue;
			v = heap_getattr(rows[i], tblatt, desc, &isnull);
			if (!isnull && SearchSysCacheExists1(RELOID, v))
				CacheInvalidateRelcacheByRelid(DatumGetObjectId(v));
		}
	}
	return PointerGetDatum(NULL);
}

static void
protect_xact_cb(XactEvent event, void *arg)
{
	protect_ddl_relid = InvalidOid;
}

PG_FUNCTION_INFO_V1(pgp_allow_protect_ddl);

/*
 * _allow_protect_ddl(tbl): let the event triggers pass the next drop of
 * the protect trigger of tbl, in this transaction; NULL ends that.  Only
 * privacy.unprotect() calls it (the function is not granted to anyone),
 * around its own DROP TRIGGER.
 */
Datum
pgp_allow_protect_ddl(PG_FUNCTION_ARGS)
{
	if (!protect_xact_cb_registered)
	{
		RegisterXactCallback(protect_xact_cb, NULL);
		protect_xact_cb_registered = true;
	}
	protect_ddl_relid = PG_ARGISNULL(0) ? InvalidOid : PG_GETARG_OID(0);
	PG_RETURN_VOID();
}

PG_FUNCTION_INFO_V1(pgp_protect_ddl_allowed);

/*
 * _protect_ddl_allowed(tbl): is privacy.unprotect() (or protect() on a
 * Citus table) dropping or creating tbl's trigger?  Also for a shard of
 * that table placed on this node, where Citus runs the same command.
 */
Datum
pgp_protect_ddl_allowed(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	int64		shardid;
	Oid			logical;

	if (!OidIsValid(protect_ddl_relid))
		PG_RETURN_BOOL(false);
	if (protect_ddl_relid == relid)
		PG_RETURN_BOOL(true);
	logical = pgp_citus_shard_of(relid, &shardid);
	PG_RETURN_BOOL(OidIsValid(logical) &&
				   (logical == protect_ddl_relid ||
					(get_rel_relispartition(logical) &&
					 list_member_oid(get_partition_ancestors(logical), protect_ddl_relid))));
}

PG_FUNCTION_INFO_V1(pgp_protect_shard_table);

/*
 * _protect_shard_table(rel): the table Citus made rel a shard of, placed on
 * this node, or NULL (a table of the coordinator or of a worker).
 */
Datum
pgp_protect_shard_table(PG_FUNCTION_ARGS)
{
	int64		shardid;
	Oid			logical = pgp_citus_shard_of(PG_GETARG_OID(0), &shardid);

	if (!OidIsValid(logical))
		PG_RETURN_NULL();
	PG_RETURN_OID(logical);
}

/*
 * ATTACH PARTITION into a protected table: the partition's rows were not
 * written through the protect trigger (a table made for it, or a partition
 * detached and written raw meanwhile), and nothing tells raw rows from
 * protected ones.  A partition with rows is refused, except for a
 * superuser acting on its own (reattaching a partition detached from this
 * table), which is logged.  The partition is read as its owner.
 */
static void
protect_check_attach(PartitionCmd *pc, bool may_switch_off)
{
	Oid			part = RangeVarGetRelid(pc->name, NoLock, true);
	Oid			argtypes[1] = {REGCLASSOID};
	Datum		values[1];
	bool		protected_tree;
	bool		has_rows = false;
	bool		isnull;
	char	   *partname;

	if (!OidIsValid(part))
		return;
	values[0] = ObjectIdGetDatum(part);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	/* not read-only: a fresh snapshot sees the trigger the command cloned */
	if (SPI_execute_with_args(pgp_internal_sql("SELECT privacy_internal._has_protect_trigger($1)"), 1, argtypes, values,
							  NULL, false, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "checking the protect trigger of an attached partition failed");
	protected_tree = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) && !isnull;
	SPI_finish();
	if (!protected_tree)
		return;
	/*
	 * A table Citus manages: on the coordinator, refused (below); on a
	 * worker, Citus attaching the shell of a partition made on the
	 * coordinator (CREATE TABLE ... PARTITION OF), which holds no rows.
	 */
	if (pgp_citus_table(part))
	{
		if (pgp_citus_worker())
			return;
		/* its rows are on its shards, which this check cannot read */
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot attach table %s, which Citus manages, to a protected table",
						get_rel_name(part)),
				 errdetail("Its rows on the shards were not written through the protect trigger, and cannot be checked here."),
				 errhint("Create the partition with CREATE TABLE ... PARTITION OF the protected table: Citus distributes it, and its shards transform the rows written to it.")));
	}

	partname = quote_qualified_identifier(get_namespace_name(get_rel_namespace(part)),
										  get_rel_name(part));
	{
		Datum		d = (Datum) 0;

		/* read as the partition's owner (src/owner.c) */
		if (pgp_owner_run(part, psprintf("SELECT EXISTS (SELECT FROM %s)", partname),
						  0, NULL, NULL, NULL, PGP_RUN_QUERY, 0, BOOLOID,
						  &d, &isnull, NULL, NULL) != 1)
			elog(ERROR, "reading an attached partition failed");
		has_rows = !isnull && DatumGetBool(d);
	}
	if (!has_rows)
		return;
	if (may_switch_off)
	{
		ereport(WARNING,
				(errmsg("partition %s attached to a protected table holds rows that were not written through its protect trigger",
						partname),
				 errhint("Attach only a partition detached from this table; raw rows in it are not protected.")));
		ereport(LOG,
				(errmsg("pg_privacy: superuser attached partition %s with rows to a protected table", partname)));
		return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("cannot attach partition %s with rows to a protected table", partname),
			 errdetail("Its rows were not written through the protect trigger: they would be stored raw, or transformed twice."),
			 errhint("Attach an empty partition and insert the rows through the table.")));
}

PG_FUNCTION_INFO_V1(pgp_protect_event_trigger);

/*
 * The event trigger that keeps protection in force (ddl_command_end and
 * sql_drop).  It runs as the role that executes the DDL, so it can tell
 * whether that role is a superuser acting on its own (not inside a
 * security-restricted operation, where a table owner's code may run in a
 * superuser's session): only then may a protection be switched off, with
 * a warning.  The checks themselves are the SECURITY DEFINER functions
 * privacy_internal._protect_on_ddl_end(boolean) and _protect_on_sql_drop(boolean),
 * called directly (they are granted to no one).
 */
/*
 * ALTER TABLE ... ALTER COLUMN ... TYPE ... USING (expression) rewrites
 * the column's every value without firing a trigger: on a protected
 * column the table's owner would store values of her choice, raw numbers
 * among them.  Refused (55000); a superuser acting directly may, with a
 * warning, as she may switch a protection off.
 */
static void
protect_check_retype(RangeVar *rv, const char *col, bool may_switch_off)
{
	Oid			relid = RangeVarGetRelid(rv, NoLock, true);
	Oid			types[2] = {OIDOID, TEXTOID};
	Datum		vals[2];
	bool		isnull;
	bool		protected_col;

	if (!OidIsValid(relid))
		return;
	vals[0] = ObjectIdGetDatum(relid);
	vals[1] = CStringGetTextDatum(col);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	pgp_catalog_select("SELECT EXISTS (SELECT FROM privacy.registered_column c"
					   " WHERE (c.tbl::pg_catalog.oid OPERATOR(pg_catalog.=) $1"
					   "        OR c.tbl::pg_catalog.oid IN (SELECT a.relid::pg_catalog.oid"
					   "                                   FROM pg_catalog.pg_partition_ancestors($1) a))"
					   "   AND c.col::pg_catalog.text OPERATOR(pg_catalog.=) $2"
					   "   AND c.protect IS NOT NULL)",
					   2, types, vals);
	protected_col = SPI_processed == 1 &&
		DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) &&
		!isnull;
	SPI_finish();
	if (!protected_col)
		return;
	ereport(may_switch_off ? WARNING : ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errmsg("%s the values of protected column \"%s\" of relation \"%s\" through ALTER COLUMN ... TYPE ... USING",
					may_switch_off ? "rewriting" : "cannot rewrite", col, get_rel_name(relid)),
			 errdetail("The rewrite fires no trigger: the values it stores are not transformed."),
			 errhint("Change the type without USING, or write the values with UPDATE, which the protect trigger transforms.")));
}

Datum
pgp_protect_event_trigger(PG_FUNCTION_ARGS)
{
	EventTriggerData *trigdata;
	bool		may_switch_off;
	const char *fname;
	Oid			fargs[1] = {BOOLOID};
	Oid			rekey_ddl_args[2] = {REGCLASSOID, NAMEOID};
	Oid			fnoid;

	if (!CALLED_AS_EVENT_TRIGGER(fcinfo))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("privacy_internal._protect_event_trigger() must be called as an event trigger")));
	trigdata = (EventTriggerData *) fcinfo->context;
	/*
	 * pg_privacy's own install and update scripts create and alter its
	 * catalog tables before the tables these checks read exist; nothing
	 * they do touches a user's table.
	 */
	if (creating_extension &&
		CurrentExtensionObject == get_extension_oid("pg_privacy", true))
		PG_RETURN_VOID();
	may_switch_off = superuser() && !InSecurityRestrictedOperation();
	if (strcmp(trigdata->event, "ddl_command_end") == 0)
		fname = "_protect_on_ddl_end";
	else if (strcmp(trigdata->event, "sql_drop") == 0)
		fname = "_protect_on_sql_drop";
	else
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("privacy_internal._protect_event_trigger() does not handle event \"%s\"",
						trigdata->event)));
	/*
	 * A partition created or attached: its restriction check, while
	 * subjects are restricted (a database before 0.17.0 installs it in
	 * _protect_on_ddl_end, after every command); first, so that the
	 * checks that follow find it in force.
	 */
	if (strcmp(trigdata->event, "ddl_command_end") == 0 && trigdata->parsetree != NULL)
	{
		bool		partition_ddl = IsA(trigdata->parsetree, CreateStmt);

		/* CREATE SCHEMA ... CREATE TABLE ...: its elements run inside it */
		if (IsA(trigdata->parsetree, CreateSchemaStmt))
		{
			ListCell   *lc;

			foreach(lc, ((CreateSchemaStmt *) trigdata->parsetree)->schemaElts)
				if (IsA(lfirst(lc), CreateStmt))
					partition_ddl = true;
		}

		if (IsA(trigdata->parsetree, AlterTableStmt))
		{
			ListCell   *lc;

			foreach(lc, ((AlterTableStmt *) trigdata->parsetree)->cmds)
				if (IsA(lfirst(lc), AlterTableCmd) &&
					((AlterTableCmd *) lfirst(lc))->subtype == AT_AttachPartition)
					partition_ddl = true;
		}
		if (partition_ddl && pgp_internal_func_exists("_restrict_on_partition_ddl", 0, NULL))
			OidFunctionCall0(pgp_internal_func("_restrict_on_partition_ddl", 0, NULL));
	}
	fnoid = pgp_internal_func(fname, 1, fargs);
	OidFunctionCall1(fnoid, BoolGetDatum(may_switch_off));

	if (strcmp(trigdata->event, "ddl_command_end") == 0 &&
		trigdata->parsetree != NULL && IsA(trigdata->parsetree, AlterTableStmt))
	{
		ListCell   *lc;

		foreach(lc, ((AlterTableStmt *) trigdata->parsetree)->cmds)
		{
			AlterTableCmd *cmd = (AlterTableCmd *) lfirst(lc);

			if (IsA(cmd, AlterTableCmd) && cmd->subtype == AT_AttachPartition &&
				cmd->def != NULL && IsA(cmd->def, PartitionCmd))
				protect_check_attach((PartitionCmd *) cmd->def, may_switch_off);
			if (IsA(cmd, AlterTableCmd) && cmd->subtype == AT_AlterColumnType &&
				cmd->def != NULL && IsA(cmd->def, ColumnDef) &&
				((ColumnDef *) cmd->def)->raw_default != NULL && cmd->name != NULL)
				protect_check_retype(((AlterTableStmt *) trigdata->parsetree)->relation,
									 cmd->name, may_switch_off);
			/* the order column of a relation rekey has converted in part */
			if (IsA(cmd, AlterTableCmd) && cmd->name != NULL &&
				(cmd->subtype == AT_AlterColumnType || cmd->subtype == AT_DropColumn) &&
				pgp_internal_func_exists("_rekey_column_ddl", 2, rekey_ddl_args))
			{
				Oid			relid = RangeVarGetRelid(((AlterTableStmt *) trigdata->parsetree)->relation,
													 NoLock, true);

				if (OidIsValid(relid))
					OidFunctionCall2(pgp_internal_func("_rekey_column_ddl", 2, rekey_ddl_args),
									 ObjectIdGetDatum(relid),
									 DirectFunctionCall1(namein, CStringGetDatum(cmd->name)));
			}
		}
	}
	PG_RETURN_VOID();
}
