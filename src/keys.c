/*-------------------------------------------------------------------------
 *
 * keys.c
 *	  The master key file, HKDF working keys and the per-backend key cache.
 *
 * The 256-bit master key lives in a file named by pg_privacy.key_file
 * (superuser-only, reloadable).  It is read lazily by the first function
 * that needs a key, never stored in a table, never passed through SQL and
 * never printed.  The setting may list older keys after the current one
 * (comma-separated paths): they are read only when something made under
 * them is checked (an audit entry, an erasure ledger line), found by their
 * fingerprint, and never used for new work.  Every working key is derived from it with HKDF-SHA256
 * (RFC 5869) for one (purpose, domain, version); derived keys and the
 * OpenSSL contexts prepared from them are cached for the life of the
 * backend and wiped when the key file setting is reloaded (SIGHUP).
 * pgp_key_generation makes every cached reference (PgpKeyRef) re-resolve:
 * it moves on a reload and when privacy.key_state changes, and a reference
 * is used only while the database's key was checked for the current
 * generation (pgp_key_checked), so no keyed work skips that check.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "keys.h"
#include "citus.h"
#include "schema.h"
#include "owner.h"

#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>

#include "access/parallel.h"
#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "funcapi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/snapmgr.h"

char	   *pgp_key_file = NULL;

/* Bumped whenever the key file setting is (re)assigned. */
uint64		pgp_key_generation = 1;

/* Bumped when the key file setting is (re)assigned: keys are reloaded. */
static uint64 key_file_generation = 1;

/*
 * The master keys of this backend: masters[0] the current key, the others
 * older keys listed after it, each read on first use.
 */
typedef struct MasterKey
{
	char		path[MAXPGPATH];
	unsigned char key[PGP_KEY_LEN];
	bool		loaded;
	bool		fp_known;
	char		fingerprint[PGP_FINGERPRINT_LEN + 1];
} MasterKey;

static MasterKey masters[PGP_MAX_KEYS];
static int	n_masters = 0;
static uint64 master_generation = 0;

/* Derived keys, a short list: one entry per purpose and domain in use. */
static PgpKey *key_cache = NULL;
static int	key_cache_len = 0;

/*
 * A backend that uses more domains than this (a caller looping over
 * invented domain names) drops its derived keys and starts over, rather
 * than growing without bound.
 */
#define PGP_KEY_CACHE_MAX	256

#define PGP_HKDF_SALT		"pg_privacy master key v1"
#define PGP_KEYFILE_HINT	"Generate a key with \"openssl rand -hex 32 > FILE\" and \"chmod 600 FILE\" " \
							"(FILE outside the data directory, owned by the server's OS user), " \
							"set pg_privacy.key_file to it and reload the configuration."

static void release_keys(void);
static void check_database_key(void);

/*
 * The database remembers the fingerprint of the key its pseudonyms, holds
 * and keyed references were made with (privacy.key_state).  This backend
 * checked the loaded key against it for key generation pgp_key_checked;
 * a change of privacy.key_state (a restore, accept_key_change) resets it.
 */
uint64		pgp_key_checked = 0;
static bool db_key_checking = false;
static Oid	key_state_relid = InvalidOid;
static bool key_state_callback_set = false;

/*
 * GUC assign hook: a (re)assignment of the key file, at start-up or on
 * SIGHUP, invalidates the loaded master key and every derived key.
 */
static void
assign_key_file(const char *newval, void *extra)
{
	key_file_generation++;
	pgp_key_generation++;
}

/*
 * Split a key_file setting into its paths (trimmed); false, with the
 * problem in *problem, when one is empty or relative, a path repeats, or
 * there are more than PGP_MAX_KEYS.
 */
static bool
split_key_files(const char *value, char paths[][MAXPGPATH], int *n, const char **problem)
{
	const char *p = value;

	*n = 0;
	while (true)
	{
		const char *end = strchr(p, ',');
		size_t		len = end ? (size_t) (end - p) : strlen(p);
		int			i;

		while (len > 0 && (*p == ' ' || *p == '\t'))
		{
			p++;
			len--;
		}
		while (len > 0 && (p[len - 1] == ' ' || p[len - 1] == '\t'))
			len--;
		if (len == 0)
		{
			*problem = "an empty path";
			return false;
		}
		if (len >= MAXPGPATH)
		{
			*problem = "a path that is too long";
			return false;
		}
		if (*n >= PGP_MAX_KEYS)
		{
			*problem = "more than " CppAsString2(PGP_MAX_KEYS) " keys";
			return false;
		}
		memcpy(paths[*n], p, len);
		paths[*n][len] = '\0';
		if (!is_absolute_path(paths[*n]))
		{
			*problem = "a relative path";
			return false;
		}
		for (i = 0; i < *n; i++)
			if (strcmp(paths[i], paths[*n]) == 0)
			{
				*problem = "the same path twice";
				return false;
			}
		(*n)++;
		if (end == NULL)
			return true;
		p = end + 1;
	}
}

/*
 * GUC check hook: the key files must be named by absolute paths (the
 * server's working directory is the data directory, where a key must not
 * lie), the current key first, then the older ones, each once.  Refused
 * when set or reloaded, not at first use; an empty value stays allowed and
 * means "not configured".
 */
static bool
check_key_file(char **newval, void **extra, GucSource source)
{
	char		paths[PGP_MAX_KEYS][MAXPGPATH];
	int			n;
	const char *problem = NULL;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if (!split_key_files(*newval, paths, &n, &problem))
	{
		GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
		if (strcmp(problem, "a relative path") == 0)
			GUC_check_errmsg("pg_privacy.key_file must be an absolute path");
		else
			GUC_check_errmsg("pg_privacy.key_file names %s", problem);
		GUC_check_errdetail("It lists the current key's file first, then the files of older keys, "
							"separated by commas, each by its absolute path.");
		GUC_check_errhint("Name each key file by its full path outside the data directory, "
						  "for example '/etc/postgresql/pg_privacy/master.key'.");
		return false;
	}
	return true;
}

/*
 * Define the key settings.  Called from _PG_init.
 */
void
pgp_define_key_gucs(void)
{
	DefineCustomStringVariable("pg_privacy.key_file",
							   "File holding the pg_privacy master key (64 hexadecimal digits); older keys' files may follow, comma-separated.",
							   "Each must be readable only by the server's OS user and lie outside the data directory.",
							   &pgp_key_file,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   check_key_file,
							   assign_key_file,
							   NULL);
}

/*
 * Raise the error for an OpenSSL failure, in one place, without any key
 * material; the OpenSSL error queue is cleared so nothing lingers.
 */
void
pgp_crypto_error(const char *what)
{
	unsigned long e = ERR_get_error();
	char		buf[256];

	if (e != 0)
		ERR_error_string_n(e, buf, sizeof(buf));
	else
		strlcpy(buf, "no OpenSSL error reported", sizeof(buf));
	ERR_clear_error();
	ereport(ERROR,
			(errcode(ERRCODE_EXTERNAL_ROUTINE_EXCEPTION),
			 errmsg("pg_privacy cryptographic operation failed: %s", what),
			 errdetail("%s", buf)));
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Raise the "key file not usable" error.  The message names the problem,
 * the path goes to the server log only, the content never anywhere.
 */
static void
key_file_error(int m, const char *problem, const char *detail)
pg_attribute_noreturn();

static void
key_file_error(int m, const char *problem, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errhidestmt(true),
			 m == 0 ? errmsg("pg_privacy master key is not usable: %s", problem)
			 : errmsg("pg_privacy older key %d is not usable: %s", m + 1, problem),
			 detail ? errdetail("%s", detail) : 0,
			 errdetail_log("pg_privacy.key_file is \"%s\".", pgp_key_file),
			 m == 0 ? errhint(PGP_KEYFILE_HINT)
			 : errhint("Fix or remove path number %d of pg_privacy.key_file and reload the configuration.", m + 1)));
}

/*
 * True when path (canonical, absolute) lies inside the data directory:
 * a file there travels with every base backup and copy of it.  Used for
 * the key file and the erasure ledger (ledger.c).
 */
bool
pgp_path_in_data_directory(const char *path)
{
	char		datadir[PATH_MAX];
	size_t		n;

	if (DataDir == NULL || realpath(DataDir, datadir) == NULL)
		return false;
	n = strlen(datadir);
	return strncmp(path, datadir, n) == 0 && (path[n] == '/' || path[n] == '\0');
}

/*
 * The listed key files, parsed again after a reload of the setting: every
 * master key and derived key of this backend is wiped first.
 */
static void
refresh_masters(void)
{
	char		paths[PGP_MAX_KEYS][MAXPGPATH];
	int			n = 0;
	const char *problem = NULL;
	int			i;

	if (master_generation == key_file_generation)
		return;
	release_keys();
	n_masters = 0;
	master_generation = key_file_generation;
	if (pgp_key_file == NULL || pgp_key_file[0] == '\0')
		return;
	if (!split_key_files(pgp_key_file, paths, &n, &problem))
		return;					/* refused by the check hook; not configured */
	for (i = 0; i < n; i++)
	{
		memset(&masters[i], 0, sizeof(MasterKey));
		strlcpy(masters[i].path, paths[i], MAXPGPATH);
	}
	n_masters = n;
}

/*
 * Read and check key file m into masters[m].key.  Refuses a file that is
 * missing, not a regular file, accessible by group or others, inside the
 * data directory, or not exactly 64 hex digits (plus optional trailing
 * whitespace).  The buffer holding the file's text is wiped.
 */
static void
load_master(int m)
{
	MasterKey  *mk = &masters[m];
	int			fd;
	struct stat st;
	char		buf[128];
	ssize_t		n;
	int			i;
	int			ndig = 0;
	char		resolved[PATH_MAX];

	if (realpath(mk->path, resolved) == NULL)
		key_file_error(m, "the key file cannot be opened",
					   "The file does not exist or cannot be reached by the server.");
	if (pgp_path_in_data_directory(resolved))
		key_file_error(m, "the key file lies inside the data directory",
					   "Base backups and file copies of the data directory would carry the key.");

	fd = open(resolved, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		key_file_error(m, "the key file cannot be opened",
					   "The server's OS user cannot read it.");
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))
	{
		close(fd);
		key_file_error(m, "the key file is not a regular file", NULL);
	}
	if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
	{
		close(fd);
		key_file_error(m, "the key file is accessible by group or others",
					   "Its permissions must be 0600 or 0400.");
	}

	n = read(fd, buf, sizeof(buf));
	close(fd);
	if (n < 0)
		key_file_error(m, "the key file cannot be read", NULL);

	/* 64 hex digits, then only whitespace */
	for (i = 0; i < n; i++)
	{
		int			v = hexval(buf[i]);

		if (v >= 0 && ndig < 2 * PGP_KEY_LEN)
		{
			if (ndig % 2 == 0)
				mk->key[ndig / 2] = (unsigned char) (v << 4);
			else
				mk->key[ndig / 2] |= (unsigned char) v;
			ndig++;
		}
		else if (ndig == 2 * PGP_KEY_LEN &&
				 (buf[i] == '\n' || buf[i] == '\r' || buf[i] == ' ' || buf[i] == '\t'))
			continue;
		else
		{
			ndig = -1;
			break;
		}
	}
	OPENSSL_cleanse(buf, sizeof(buf));
	if (ndig != 2 * PGP_KEY_LEN || n >= (ssize_t) sizeof(buf))
	{
		OPENSSL_cleanse(mk->key, sizeof(mk->key));
		key_file_error(m, "the key file is malformed",
					   "The file must hold exactly 64 hexadecimal digits (256 bits).");
	}
	mk->loaded = true;
}

/* The current key (masters[0]) read, or an error saying why not. */
static void
load_current_master(void)
{
	refresh_masters();
	if (pgp_key_file == NULL || pgp_key_file[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errhidestmt(true),
				 errmsg("pg_privacy master key is not configured"),
				 errdetail("pg_privacy.key_file is not set."),
				 errhint(PGP_KEYFILE_HINT)));
	if (n_masters == 0)
		key_file_error(0, "pg_privacy.key_file is not a list of absolute paths", NULL);
	if (!masters[0].loaded)
		load_master(0);
}

/*
 * Wipe the master key and every derived key of this backend.
 */
static void
release_keys(void)
{
	PgpKey	   *k = key_cache;
	int			i;

	while (k != NULL)
	{
		PgpKey	   *next = k->next;

		if (k->hmac_ready)
			pgp_hmac_free(&k->hmac);
		if (k->ff1_ready)
			pgp_ff1_free(&k->ff1);
		OPENSSL_cleanse(k->key, sizeof(k->key));
		free(k->domain);
		free(k);
		k = next;
	}
	key_cache = NULL;
	key_cache_len = 0;
	for (i = 0; i < PGP_MAX_KEYS; i++)
	{
		OPENSSL_cleanse(masters[i].key, sizeof(masters[i].key));
		masters[i].loaded = false;
		masters[i].fp_known = false;
	}
}

/*
 * The working key for (purpose, domain, version) of master key m, derived
 * on first use: HKDF-SHA256 with the master key as input keying material,
 * a fixed salt, and info = purpose 0x00 domain 0x00 version (4 bytes, big
 * endian).  Master key m is read already.
 */
static PgpKey *
derive_key(int m, const char *purpose, const char *domain, int domain_len,
		   uint32 version)
{
	PgpKey	   *k;
	size_t		plen = strlen(purpose);
	size_t		info_len;
	unsigned char *info;

	for (k = key_cache; k != NULL; k = k->next)
	{
		if (k->master == m && k->version == version && strcmp(k->purpose, purpose) == 0 &&
			k->domain_len == domain_len &&
			memcmp(k->domain, domain, domain_len) == 0)
			return k;
	}

	if (key_cache_len >= PGP_KEY_CACHE_MAX)
	{
		/*
		 * Start over.  Bumping the generation makes every cached reference
		 * (PgpKeyRef) re-resolve instead of pointing at a freed entry.
		 */
		release_keys();
		pgp_key_generation++;
		load_master(m);
	}

	k = calloc(1, sizeof(PgpKey));
	if (k == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	k->domain = malloc(domain_len + 1);
	if (k->domain == NULL)
	{
		free(k);
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	}
	memcpy(k->domain, domain, domain_len);
	k->domain[domain_len] = '\0';
	k->domain_len = domain_len;
	k->purpose = purpose;
	k->version = version;
	k->master = m;

	info_len = plen + 1 + domain_len + 1 + 4;
	info = palloc(info_len);
	memcpy(info, purpose, plen);
	info[plen] = 0;
	memcpy(info + plen + 1, domain, domain_len);
	info[plen + 1 + domain_len] = 0;
	info[info_len - 4] = (unsigned char) (version >> 24);
	info[info_len - 3] = (unsigned char) (version >> 16);
	info[info_len - 2] = (unsigned char) (version >> 8);
	info[info_len - 1] = (unsigned char) version;

	if (!pgp_hkdf_sha256(masters[m].key, PGP_KEY_LEN,
						 (const unsigned char *) PGP_HKDF_SALT, strlen(PGP_HKDF_SALT),
						 info, info_len, k->key, PGP_KEY_LEN))
	{
		pfree(info);
		free(k->domain);
		free(k);
		pgp_crypto_error("key derivation");
	}
	pfree(info);

	k->next = key_cache;
	key_cache = k;
	key_cache_len++;
	return k;
}

/*
 * Return the working key of the current master key for (purpose, domain,
 * version).  Raises 55000 when no usable master key is configured, or
 * when it is not the database's key (check_database_key).
 */
PgpKey *
pgp_get_key(const char *purpose, const char *domain, int domain_len,
			uint32 version)
{
	load_current_master();
	if (pgp_key_checked != pgp_key_generation &&
		strcmp(purpose, PGP_KP_FINGERPRINT) != 0)
		check_database_key();
	return derive_key(0, purpose, domain, domain_len, version);
}

/* How many keys pg_privacy.key_file lists (the current one first). */
int
pgp_key_count(void)
{
	refresh_masters();
	return n_masters;
}

/*
 * The fingerprint of listed key m, "pgp1:" and 16 hex digits, into out:
 * the first 64 bits of a working key derived for that sole purpose.
 * Reads the key file (its errors are raised).
 */
void
pgp_key_fingerprint_of(int m, char *out)
{
	static const char hex[] = "0123456789abcdef";
	PgpKey	   *k;
	int			i;

	refresh_masters();
	if (m < 0 || m >= n_masters)
		elog(ERROR, "no key %d in pg_privacy.key_file", m + 1);
	if (!masters[m].fp_known)
	{
		if (!masters[m].loaded)
			load_master(m);
		k = derive_key(m, PGP_KP_FINGERPRINT, "", 0, PGP_KEY_VERSION);
		memcpy(masters[m].fingerprint, "pgp1:", 5);
		for (i = 0; i < 8; i++)
		{
			masters[m].fingerprint[5 + 2 * i] = hex[k->key[i] >> 4];
			masters[m].fingerprint[5 + 2 * i + 1] = hex[k->key[i] & 0x0f];
		}
		masters[m].fingerprint[PGP_FINGERPRINT_LEN] = '\0';
		masters[m].fp_known = true;
	}
	memcpy(out, masters[m].fingerprint, PGP_FINGERPRINT_LEN + 1);
}

/*
 * The position in pg_privacy.key_file of the key with fingerprint fp, or
 * -1 when none of the listed keys has it.  Reads the listed key files in
 * turn until it is found (their errors are raised: a listed key that
 * cannot be read is a configuration to fix, never skipped).
 */
int
pgp_key_find(const char *fp)
{
	char		f[PGP_FINGERPRINT_LEN + 1];
	int			m;

	for (m = 0; m < pgp_key_count(); m++)
	{
		pgp_key_fingerprint_of(m, f);
		if (strcmp(f, fp) == 0)
			return m;
	}
	return -1;
}

/*
 * pgp_key_find(fp), or 55000 when no listed key has that fingerprint;
 * what says what was made under it.
 */
int
pgp_key_require(const char *fp, const char *what)
{
	int			m = pgp_key_find(fp);

	if (m < 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("no key of fingerprint %s is loaded", fp),
				 errdetail("%s made under that key can be checked only with it.", what),
				 errhint("List that key's file after the current one in pg_privacy.key_file and reload the configuration.")));
	return m;
}

/*
 * The working key of listed key m for (purpose, domain, version): for
 * checking what was made under an older key (the current one, m 0, goes
 * through pgp_get_key and the database's check).
 */
PgpKey *
pgp_get_key_of(int m, const char *purpose, const char *domain, int domain_len,
			   uint32 version)
{
	if (m == 0)
		return pgp_get_key(purpose, domain, domain_len, version);
	refresh_masters();
	if (m < 0 || m >= n_masters)
		elog(ERROR, "no key %d in pg_privacy.key_file", m + 1);
	if (!masters[m].loaded)
		load_master(m);
	return derive_key(m, purpose, domain, domain_len, version);
}

/*
 * The prepared HMAC-SHA256 contexts of a working key, set up on first use.
 */
PgpHmac *
pgp_key_hmac(PgpKey *k)
{
	if (!k->hmac_ready)
	{
		if (!pgp_hmac_init(&k->hmac, k->key, PGP_KEY_LEN))
		{
			pgp_hmac_free(&k->hmac);
			pgp_crypto_error("HMAC initialization");
		}
		k->hmac_ready = true;
	}
	return &k->hmac;
}

/*
 * The prepared FF1 (AES-256) context of a working key, set up on first use.
 */
PgpFF1 *
pgp_key_ff1(PgpKey *k)
{
	if (!k->ff1_ready)
	{
		if (!pgp_ff1_init(&k->ff1, k->key))
		{
			pgp_ff1_free(&k->ff1);
			pgp_crypto_error("AES key schedule");
		}
		k->ff1_ready = true;
	}
	return &k->ff1;
}

/*
 * The fingerprint of the current master key (see pgp_key_fingerprint_of);
 * 55000 without one.
 */
void
pgp_key_current_fingerprint(char *out)
{
	load_current_master();
	pgp_key_fingerprint_of(0, out);
}

/* A change of privacy.key_state makes every backend check again. */
static void
key_state_changed(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == key_state_relid)
	{
		pgp_key_checked = 0;
		/* cached key references re-resolve, and so pass the check again */
		pgp_key_generation++;
	}
}

/*
 * Check the loaded key against the fingerprint this database remembers.
 * The first keyed work of a database records it (where the database can
 * be written: not on a standby or in a read-only transaction).  Under
 * another key the work fails closed: its pseudonyms would not match the
 * stored ones, holds and references would find nothing, re-identification
 * would return wrong numbers.
 */
static void
check_database_key(void)
{
	char		loaded[PGP_FINGERPRINT_LEN + 1];
	char	   *volatile stored = NULL;
	Oid			nsp;
	Oid			relid;
	Oid			owner;
	Oid			save_userid;
	int			save_sec_context;
	volatile bool connected = false;

	if (db_key_checking || !IsTransactionState())
		return;
	nsp = get_namespace_oid("privacy", true);
	relid = OidIsValid(nsp) ? get_relname_relid("key_state", nsp) : InvalidOid;
	if (!OidIsValid(relid))
		return;					/* extension not (yet) installed here */
	key_state_relid = relid;
	if (!key_state_callback_set)
	{
		pgp_on_relcache(key_state_changed, (Datum) 0);
		key_state_callback_set = true;
	}
	pgp_key_current_fingerprint(loaded);

	owner = pgp_rel_owner(relid);
	db_key_checking = true;
	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	PG_TRY();
	{
		SetUserIdAndSecContext(owner, save_sec_context | SECURITY_LOCAL_USERID_CHANGE |
							   SECURITY_RESTRICTED_OPERATION);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		connected = true;
		/*
		 * In the latest committed state, not the statement's snapshot: a
		 * statement that began before a key change and outlived it (the
		 * configuration reloaded under it only at its end) must not go on
		 * writing under the replaced key into a relation the change's
		 * rotation has since begun under the new one.
		 */
		{
			SPIPlanPtr	plan = SPI_prepare("SELECT fingerprint FROM privacy.key_state", 0, NULL);
			Snapshot	snap;
			int			ret;

			if (plan == NULL)
				elog(ERROR, "reading privacy.key_state failed");
			snap = RegisterSnapshot(GetLatestSnapshot());
			ret = SPI_execute_snapshot(plan, NULL, NULL, snap, InvalidSnapshot, true, false, 1);
			UnregisterSnapshot(snap);
			if (ret != SPI_OK_SELECT)
				elog(ERROR, "reading privacy.key_state failed");
		}
		if (SPI_processed > 0)
		{
			char	   *v = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);

			if (v != NULL)
				stored = MemoryContextStrdup(TopTransactionContext, v);
		}
		else if (!RecoveryInProgress() && !XactReadOnly && !IsParallelWorker() &&
				 !IsInParallelMode() && !pgp_citus_worker())
		{
			/*
			 * (Not on a Citus worker: there the shards' triggers run in
			 * several connections of one distributed transaction, and the
			 * second insert would wait for the first; a worker's key is
			 * checked against the coordinator's by the signed rules of the
			 * shards' protect triggers, src/protect.c.)
			 */
			Oid			argtypes[1] = {TEXTOID};
			Datum		values[1];

			values[0] = CStringGetTextDatum(loaded);
			if (SPI_execute_with_args("INSERT INTO privacy.key_state (fingerprint) VALUES ($1) "
									  "ON CONFLICT DO NOTHING",
									  1, argtypes, values, NULL, false, 0) != SPI_OK_INSERT)
				elog(ERROR, "recording the key fingerprint failed");
			stored = MemoryContextStrdup(TopTransactionContext, loaded);
		}
		SPI_finish();
		connected = false;
	}
	PG_FINALLY();
	{
		if (connected)
			SPI_finish();
		SetUserIdAndSecContext(save_userid, save_sec_context);
		db_key_checking = false;
	}
	PG_END_TRY();

	if (stored != NULL && strcmp(stored, loaded) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pg_privacy master key does not match this database"),
				 errdetail("The database's pseudonyms, holds and keyed references were made with the key of fingerprint %s; "
						   "the loaded key has fingerprint %s.", stored, loaded),
				 errhint("Install the key file of fingerprint %s and reload the configuration. "
						 "If the key was replaced on purpose, declare it with SELECT privacy.accept_key_change('%s'), "
						 "keep the replaced key's file listed after the new one in pg_privacy.key_file, "
						 "and convert the phone-number pseudonyms with CALL privacy.rekey().", stored, stored)));
	if (stored != NULL || pgp_citus_worker())
		pgp_key_checked = pgp_key_generation;
}

PG_FUNCTION_INFO_V1(pgp_key_fingerprint);

/*
 * key_fingerprint(): identifies the loaded master key without revealing
 * it.  Two servers with the same fingerprint pseudonymize alike.
 */
Datum
pgp_key_fingerprint(PG_FUNCTION_ARGS)
{
	char		out[PGP_FINGERPRINT_LEN + 1];

	pgp_key_current_fingerprint(out);
	PG_RETURN_TEXT_P(cstring_to_text(out));
}

PG_FUNCTION_INFO_V1(pgp_key_listed);

/*
 * _key_listed(fingerprint): whether pg_privacy.key_file lists a key of
 * that fingerprint (the listed key files are read to tell).
 */
Datum
pgp_key_listed(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(pgp_key_find(text_to_cstring(PG_GETARG_TEXT_PP(0))) >= 0);
}

/*
 * The fingerprint of listed key m into fp, or false (with its problem in
 * *problem when not NULL) when its file cannot be used.  A key file's
 * error (55000) comes from reading one file, with nothing held, so it is
 * caught without a subtransaction; anything else is raised.
 */
bool
pgp_key_usable(int m, char *fp, char **problem)
{
	MemoryContext cxt = CurrentMemoryContext;
	volatile bool ok = true;

	PG_TRY();
	{
		pgp_key_fingerprint_of(m, fp);
	}
	PG_CATCH();
	{
		ErrorData  *ed;

		MemoryContextSwitchTo(cxt);
		ed = CopyErrorData();
		if (ed->sqlerrcode != ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE)
			PG_RE_THROW();
		FlushErrorState();
		if (problem != NULL)
			*problem = pstrdup(ed->message);
		FreeErrorData(ed);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

PG_FUNCTION_INFO_V1(pgp_key_list);

/*
 * _key_list(): the keys pg_privacy.key_file lists, in order (position 1
 * the current key): each one's fingerprint, or NULL and the problem when
 * its file cannot be used.  Never a path, never key material.
 */
Datum
pgp_key_list(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	int			m;
	int			n;

	InitMaterializedSRF(fcinfo, 0);
	n = pgp_key_count();
	for (m = 0; m < n; m++)
	{
		Datum		values[3];
		bool		nulls[3] = {false, false, false};
		char		fp[PGP_FINGERPRINT_LEN + 1];
		char	   *problem = NULL;

		values[0] = Int32GetDatum(m + 1);
		/* a key file that cannot be used is reported, not raised */
		if (pgp_key_usable(m, fp, &problem))
		{
			values[1] = CStringGetTextDatum(fp);
			nulls[2] = true;
		}
		else
		{
			nulls[1] = true;
			values[2] = CStringGetTextDatum(problem);
		}
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum) 0;
}
