/*-------------------------------------------------------------------------
 *
 * ledger.c
 *	  The erasure ledger: every erasure appended to a file outside the data
 *	  directory as it commits, so that a restore cannot take it back.
 *
 * The file is named by pg_privacy.erasure_ledger_file (superuser-only,
 * reloadable, an absolute path outside the data directory).  It holds one
 * JSON object per line, one line per erasure, made by
 * src/sql/75_subject_ledger.sql: keyed references of the subject's
 * identifiers only, never an identifier; the lines of one database form a
 * chain (seq, prev, mac).  This file knows nothing of that content: it
 * checks the path, writes the lines of a transaction when it commits, and
 * reads them back.
 *
 * Writing: a line is queued by the transaction that erased
 * (_ledger_queue), forgotten if its subtransaction rolls back, and
 * appended with the transaction's other lines just before it commits
 * (XACT_EVENT_PRE_COMMIT), under an exclusive flock, then fsynced (and the
 * directory too when the file is new).  A line that cannot be written
 * fails the commit: the erasure does not happen.  A crash after the write
 * and before the commit leaves a line for an erasure that did not commit;
 * the database is then behind its ledger, and replay_erasures() carries
 * the erasure out (the subject asked for it).  A transaction that erased
 * cannot be prepared (two-phase commit): its line would be written long
 * before it is known to commit.
 *
 * Reading: _ledger_lines reads the file, _ledger_tail the last line of one
 * database: the first time from the file's end backwards, then, while the
 * file only grows, the lines appended since.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "ledger.h"
#include "keys.h"
#include "schema.h"

#include <ctype.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "common/jsonapi.h"
#include "funcapi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "storage/fd.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/jsonfuncs.h"
#include "utils/memutils.h"

char	   *pgp_erasure_ledger_file = NULL;

/* Lines waiting for their transaction to commit. */
typedef struct LedgerLine
{
	struct LedgerLine *next;
	SubTransactionId subid;
	char	   *text;			/* without the newline */
} LedgerLine;

static LedgerLine *pending = NULL;	/* in TopTransactionContext, newest first */

/* What _ledger_tail read last: one database's last line, up to offset. */
static struct
{
	bool		valid;
	char		path[MAXPGPATH];
	dev_t		dev;
	ino_t		ino;
	off_t		offset;			/* read up to here (whole lines) */
	char		db[64];
	int64		seq;			/* 0: none yet */
	char		mac[128];
}			tail_cache;

#define LEDGER_HINT "Set pg_privacy.erasure_ledger_file to an absolute path outside the data directory, " \
					"in a directory the server's OS user can write (on a disk backed up apart from the database), and reload."

static bool
check_ledger_file(char **newval, void **extra, GucSource source)
{
	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if (!is_absolute_path(*newval))
	{
		GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
		GUC_check_errmsg("pg_privacy.erasure_ledger_file must be an absolute path");
		GUC_check_errdetail("\"%s\" is a relative path.", *newval);
		GUC_check_errhint("Name the ledger by its full path outside the data directory, "
						  "for example '/var/lib/pg_privacy/erasures.ledger'.");
		return false;
	}
	if (strlen(*newval) >= MAXPGPATH)
	{
		GUC_check_errcode(ERRCODE_INVALID_PARAMETER_VALUE);
		GUC_check_errmsg("pg_privacy.erasure_ledger_file is too long");
		return false;
	}
	return true;
}

static void
ledger_error(const char *problem, const char *detail) pg_attribute_noreturn();

static void
ledger_error(const char *problem, const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
			 errhidestmt(true),
			 errmsg("pg_privacy erasure ledger is not usable: %s", problem),
			 detail ? errdetail("%s", detail) : 0,
			 errdetail_log("pg_privacy.erasure_ledger_file is \"%s\".",
						   pgp_erasure_ledger_file ? pgp_erasure_ledger_file : ""),
			 errhint(LEDGER_HINT)));
}

static bool
ledger_configured(void)
{
	return pgp_erasure_ledger_file != NULL && pgp_erasure_ledger_file[0] != '\0';
}

/*
 * The ledger's path, checked: configured, absolute, in a directory that
 * exists and does not lie inside the data directory (a copy of the data
 * directory would carry the ledger back with it).
 */
static const char *
ledger_path(void)
{
	char		dir[MAXPGPATH];
	char		resolved[PATH_MAX];

	if (!ledger_configured())
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errhidestmt(true),
				 errmsg("no erasure ledger is configured"),
				 errdetail("pg_privacy.erasure_ledger_file is not set."),
				 errhint(LEDGER_HINT)));
	if (!is_absolute_path(pgp_erasure_ledger_file))
		ledger_error("pg_privacy.erasure_ledger_file is not an absolute path", NULL);
	strlcpy(dir, pgp_erasure_ledger_file, sizeof(dir));
	get_parent_directory(dir);
	if (dir[0] == '\0' || realpath(dir, resolved) == NULL)
		ledger_error("the ledger's directory cannot be reached",
					 "The directory does not exist or the server's OS user cannot reach it.");
	if (pgp_path_in_data_directory(resolved))
		ledger_error("the ledger lies inside the data directory",
					 "A base backup or a copy of the data directory would bring it back with the database.");
	return pgp_erasure_ledger_file;
}

/*
 * Errors of the commit's write.  They are raised after the statement that
 * erased, outside the API function's own error handling: the statement
 * (which names the person) is never logged with them.
 */
#define LEDGER_WRITE_ERROR(msg) \
	ereport(ERROR, \
			(errcode_for_file_access(), \
			 errhidestmt(true), \
			 errmsg(msg), \
			 errdetail("The erasure is not committed: an erasure the ledger does not record could be undone by a restore."), \
			 errdetail_log("pg_privacy.erasure_ledger_file is \"%s\".", path), \
			 errhint(LEDGER_HINT)))

/*
 * Take the ledger's lock: waits while another writer appends, and can be
 * cancelled meanwhile; gives up after a minute.
 */
static bool
ledger_lock(int fd)
{
	int			waited = 0;

	for (;;)
	{
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			return true;
		if (errno != EWOULDBLOCK && errno != EINTR)
			return false;
		CHECK_FOR_INTERRUPTS();
		if (waited >= 60000)
		{
			errno = EWOULDBLOCK;
			return false;
		}
		pg_usleep(10000L);
		waited += 10;
	}
}

/*
 * A line cut short by a writer that failed before its commit (a full
 * disk, a backend killed while writing): nothing committed ends without
 * its newline, so what follows the last newline goes.  Under the lock.
 */
static bool
ledger_drop_torn_tail(int fd, off_t size)
{
	char		buf[4096];
	off_t		pos = size;

	while (pos > 0)
	{
		size_t		n = (size_t) Min((off_t) sizeof(buf), pos);
		ssize_t		r = pread(fd, buf, n, pos - (off_t) n);
		ssize_t		i;

		if (r != (ssize_t) n)
			return false;
		for (i = r - 1; i >= 0; i--)
		{
			if (buf[i] == '\n')
			{
				off_t		keep = pos - (off_t) n + i + 1;

				return keep == size || ftruncate(fd, keep) == 0;
			}
		}
		pos -= (off_t) n;
	}
	return ftruncate(fd, 0) == 0;
}

/* Append the transaction's lines, oldest first, and make them durable. */
static void
ledger_flush(void)
{
	const char *path = ledger_path();
	LedgerLine *l;
	LedgerLine *ordered = NULL;
	StringInfoData buf;
	struct stat st;
	int			fd;
	bool		created = false;

	/* oldest first */
	for (l = pending; l != NULL;)
	{
		LedgerLine *next = l->next;

		l->next = ordered;
		ordered = l;
		l = next;
	}
	pending = ordered;
	initStringInfo(&buf);
	for (l = pending; l != NULL; l = l->next)
	{
		appendStringInfoString(&buf, l->text);
		appendStringInfoChar(&buf, '\n');
	}

	/* (transient files are closed by the abort an error causes) */
	fd = OpenTransientFilePerm(path, O_RDWR | O_CREAT | O_EXCL | PG_BINARY | O_NOFOLLOW, S_IRUSR | S_IWUSR);
	if (fd >= 0)
		created = true;
	else if (errno == EEXIST)
		fd = OpenTransientFile(path, O_RDWR | PG_BINARY | O_NOFOLLOW);
	if (fd < 0)
		LEDGER_WRITE_ERROR("could not open the erasure ledger: %m");
	if (!ledger_lock(fd))
		LEDGER_WRITE_ERROR("could not lock the erasure ledger: %m");
	if (fstat(fd, &st) != 0)
		LEDGER_WRITE_ERROR("could not read the erasure ledger: %m");
	if (!S_ISREG(st.st_mode))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errhidestmt(true),
				 errmsg("pg_privacy erasure ledger is not usable: the ledger is not a regular file"),
				 errdetail_log("pg_privacy.erasure_ledger_file is \"%s\".", path),
				 errhint(LEDGER_HINT)));
	if (st.st_uid != geteuid() || (st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errhidestmt(true),
				 errmsg("pg_privacy erasure ledger is not usable: the ledger is not the server's own, or others may read or write it"),
				 errdetail("It must belong to the server's OS user, with permissions 0600."),
				 errdetail_log("pg_privacy.erasure_ledger_file is \"%s\".", path),
				 errhint(LEDGER_HINT)));
	if (created)
	{
		/* the new file's name is durable before anything is written in it */
		char		dir[MAXPGPATH];

		strlcpy(dir, path, sizeof(dir));
		get_parent_directory(dir);
		if (pg_fsync(fd) != 0 || fsync_fname_ext(dir, true, false, ERROR) != 0)
			LEDGER_WRITE_ERROR("could not create the erasure ledger: %m");
	}
	if (st.st_size > 0 && !ledger_drop_torn_tail(fd, st.st_size))
		LEDGER_WRITE_ERROR("could not repair the erasure ledger's last line: %m");
	if (fstat(fd, &st) != 0)
		LEDGER_WRITE_ERROR("could not read the erasure ledger: %m");
	if (pwrite(fd, buf.data, buf.len, st.st_size) != (ssize_t) buf.len ||
		pg_fsync(fd) != 0)
	{
		int			save_errno = errno ? errno : ENOSPC;

		/* what was written of these lines goes, so the file stays whole */
		if (ftruncate(fd, st.st_size) != 0)
			save_errno = errno;
		errno = save_errno;
		LEDGER_WRITE_ERROR("could not write the erasure ledger: %m");
	}
	CloseTransientFile(fd);		/* releases the lock */
	pfree(buf.data);
	pending = NULL;
}

static void
ledger_xact_cb(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			if (pending != NULL)
				ledger_flush();
			break;
		case XACT_EVENT_PRE_PREPARE:
			if (pending != NULL)
				ereport(ERROR,
						(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
						 errhidestmt(true),
						 errmsg("cannot PREPARE a transaction that erased a data subject"),
						 errdetail("Its erasure ledger entry would be written before the transaction is known to commit."),
						 errhint("Erase in a transaction of its own.")));
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			pending = NULL;		/* (its memory goes with the transaction's) */
			break;
		default:
			break;
	}
}

static void
ledger_subxact_cb(SubXactEvent event, SubTransactionId mySubid,
				  SubTransactionId parentSubid, void *arg)
{
	LedgerLine **p;

	if (event == SUBXACT_EVENT_ABORT_SUB)
	{
		for (p = &pending; *p != NULL;)
		{
			if ((*p)->subid == mySubid)
				*p = (*p)->next;
			else
				p = &(*p)->next;
		}
	}
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
	{
		LedgerLine *l;

		for (l = pending; l != NULL; l = l->next)
			if (l->subid == mySubid)
				l->subid = parentSubid;
	}
}

void
pgp_ledger_init(void)
{
	/*
	 * Registered at load, before anything else of the session's: the last
	 * callback to run before the commit, so that nothing that could still
	 * abort the transaction runs after its line is written.
	 */
	RegisterXactCallback(ledger_xact_cb, NULL);
	RegisterSubXactCallback(ledger_subxact_cb, NULL);
	DefineCustomStringVariable("pg_privacy.erasure_ledger_file",
							   "File every data-subject erasure is appended to as it commits.",
							   "An absolute path outside the data directory; a restore cannot take back what it records "
							   "(privacy.replay_erasures).",
							   &pgp_erasure_ledger_file,
							   "",
							   PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY,
							   check_ledger_file,
							   NULL,
							   NULL);
}

PG_FUNCTION_INFO_V1(pgp_ledger_configured);

/* _ledger_configured(): whether pg_privacy.erasure_ledger_file is set. */
Datum
pgp_ledger_configured(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(ledger_configured());
}

PG_FUNCTION_INFO_V1(pgp_ledger_here);

/*
 * _ledger_here(): where this database lives, "<system identifier>:<database
 * OID>": a restore into another cluster, or a copy in another database,
 * is somewhere else.
 */
Datum
pgp_ledger_here(PG_FUNCTION_ARGS)
{
	char		buf[64];

	snprintf(buf, sizeof(buf), UINT64_FORMAT ":%u", GetSystemIdentifier(), MyDatabaseId);
	PG_RETURN_TEXT_P(cstring_to_text(buf));
}

PG_FUNCTION_INFO_V1(pgp_ledger_queue);

/*
 * _ledger_queue(line): append line (one JSON object, no newline) to the
 * ledger when this transaction commits.  The path is checked now, so that
 * an erasure with no usable ledger fails before its report is shown.
 */
Datum
pgp_ledger_queue(PG_FUNCTION_ARGS)
{
	text	   *t;

	MemoryContext old;
	LedgerLine *l;

	if (PG_ARGISNULL(0))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("an erasure ledger entry must not be null")));
	t = PG_GETARG_TEXT_PP(0);
	(void) ledger_path();
	if (memchr(VARDATA_ANY(t), '\n', VARSIZE_ANY_EXHDR(t)) != NULL ||
		memchr(VARDATA_ANY(t), '\r', VARSIZE_ANY_EXHDR(t)) != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an erasure ledger entry is one line")));
	if (IsInParallelMode())
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TRANSACTION_STATE),
				 errmsg("cannot record an erasure during a parallel operation")));
	old = MemoryContextSwitchTo(TopTransactionContext);
	l = palloc(sizeof(LedgerLine));
	l->text = text_to_cstring(t);
	l->subid = GetCurrentSubTransactionId();
	l->next = pending;
	pending = l;
	MemoryContextSwitchTo(old);
	PG_RETURN_VOID();
}

/*
 * Whether jsonb can hold what the line's text says: no \u0000 and no lone
 * surrogate escape, no number beyond numeric's range (those are valid
 * JSON that jsonb refuses with an error).
 */
static bool
line_convertible(const char *line, int len)
{
	bool		in_string = false;
	int			i;

	for (i = 0; i < len; i++)
	{
		char		ch = line[i];

		if (in_string)
		{
			if (ch == '\\' && i + 1 < len)
			{
				if ((line[i + 1] == 'u' || line[i + 1] == 'U') && i + 5 < len)
				{
					char		hex[5];
					long		v;

					memcpy(hex, line + i + 2, 4);
					hex[4] = '\0';
					v = strtol(hex, NULL, 16);
					if (v == 0 || (v >= 0xD800 && v <= 0xDFFF))
						return false;
				}
				i++;			/* the escaped character */
			}
			else if (ch == '"')
				in_string = false;
		}
		else if (ch == '"')
			in_string = true;
		else if ((ch == 'e' || ch == 'E') && i > 0 &&
				 (isdigit((unsigned char) line[i - 1]) || line[i - 1] == '.'))
		{
			/* a number's exponent, outside strings */
			int			j = i + 1;
			int			nd = 0;

			if (j < len && (line[j] == '+' || line[j] == '-'))
				j++;
			while (j < len && isdigit((unsigned char) line[j]))
				j++, nd++;
			if (nd >= 4)
				return false;
		}
	}
	return true;
}

/*
 * The line (len bytes) as a jsonb object, or NULL when it is not one (a
 * damaged or altered line is shown as such, never an error).
 */
static Jsonb *
line_jsonb(char *line, int len)
{
	JsonLexContext *lex;
	Datum		d;
	Jsonb	   *jb;
	char		save = line[len];

	if (len == 0 || !pg_verifymbstr(line, len, true) || !line_convertible(line, len))
		return NULL;
	lex = makeJsonLexContextCstringLen(line, len, GetDatabaseEncoding(), false);
	if (pg_parse_json(lex, &nullSemAction) != JSON_SUCCESS)
		return NULL;
	line[len] = '\0';
	d = DirectFunctionCall1(jsonb_in, CStringGetDatum(line));
	line[len] = save;
	jb = DatumGetJsonbP(d);
	if (!JB_ROOT_IS_OBJECT(jb))
		return NULL;
	return jb;
}

/* text of key in object jb, or NULL */
static char *
jsonb_key_text(Jsonb *jb, const char *key)
{
	return pgp_jsonb_text(&jb->root, key);
}

/*
 * Read the ledger from offset, calling each(line) for every whole line;
 * returns the offset after the last whole line.  A missing file is empty.
 */
/*
 * The ledger file opened for reading, with its stat; -1 (and a zeroed
 * stat) when there is no file yet.  Any other failure is an error.
 */
static int
ledger_open_read(const char *path, struct stat *st_out)
{
	int			fd = OpenTransientFile(path, O_RDONLY | PG_BINARY | O_NOFOLLOW);

	if (fd < 0)
	{
		if (errno == ENOENT)
		{
			memset(st_out, 0, sizeof(*st_out));
			return -1;
		}
		ereport(ERROR,
				(errcode_for_file_access(),
				 errhidestmt(true),
				 errmsg("could not read the erasure ledger: %m"),
				 errdetail_log("pg_privacy.erasure_ledger_file is \"%s\".", path)));
	}
	if (fstat(fd, st_out) != 0 || !S_ISREG(st_out->st_mode))
		ledger_error("the ledger is not a regular file", NULL);
	return fd;
}

typedef void (*LineFn) (char *line, int len, int64 lineno, void *arg);

static off_t
read_lines(const char *path, off_t offset, int64 lineno, struct stat *st_out,
		   LineFn each, void *arg)
{
	int			fd = ledger_open_read(path, st_out);
	char	   *buf;
	size_t		cap = 65536;
	size_t		have = 0;
	off_t		done = offset;

	if (fd < 0)
		return 0;				/* no ledger file yet */
	if (offset > st_out->st_size)
		offset = done = 0;		/* (the caller notices: a shorter file) */
	if (lseek(fd, offset, SEEK_SET) < 0)
		ereport(ERROR, (errcode_for_file_access(), errmsg("could not read the erasure ledger: %m")));
	buf = palloc(cap + 1);
	for (;;)
	{
		ssize_t		r;
		size_t		start = 0;
		size_t		i;

		if (have == cap)
		{
			/* a line longer than the buffer: grow it */
			cap *= 2;
			if (cap > MaxAllocSize / 2)
				ledger_error("the ledger holds a line too long to be an entry", NULL);
			buf = repalloc(buf, cap + 1);
		}
		r = read(fd, buf + have, cap - have);
		if (r < 0)
		{
			if (errno == EINTR)
				continue;
			ereport(ERROR, (errcode_for_file_access(), errmsg("could not read the erasure ledger: %m")));
		}
		if (r == 0)
			break;
		have += (size_t) r;
		for (i = 0; i < have; i++)
		{
			if (buf[i] != '\n')
				continue;
			CHECK_FOR_INTERRUPTS();
			each(buf + start, (int) (i - start), ++lineno, arg);
			done += (off_t) (i - start + 1);
			start = i + 1;
		}
		memmove(buf, buf + start, have - start);
		have -= start;
	}
	CloseTransientFile(fd);
	pfree(buf);
	return done;
}

typedef struct LinesOut
{
	ReturnSetInfo *rsinfo;
} LinesOut;

static void
lines_put(char *line, int len, int64 lineno, void *arg)
{
	LinesOut   *out = (LinesOut *) arg;
	Datum		values[3];
	bool		nulls[3] = {false, false, false};
	Jsonb	   *jb = line_jsonb(line, len);

	values[0] = Int64GetDatum(lineno);
	if (jb != NULL)
		values[1] = JsonbPGetDatum(jb);
	else
		nulls[1] = true;
	if (pg_verifymbstr(line, len, true))
		values[2] = PointerGetDatum(cstring_to_text_with_len(line, len));
	else
		nulls[2] = true;
	tuplestore_putvalues(out->rsinfo->setResult, out->rsinfo->setDesc, values, nulls);
}

PG_FUNCTION_INFO_V1(pgp_ledger_lines);

/*
 * _ledger_lines(): every whole line of the ledger, in order: its number,
 * the entry (NULL when the line is not a JSON object) and the line.
 */
Datum
pgp_ledger_lines(PG_FUNCTION_ARGS)
{
	LinesOut	out;
	struct stat st;
	const char *path = ledger_path();

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	out.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	(void) read_lines(path, 0, 0, &st, lines_put, &out);
	return (Datum) 0;
}

static bool tail_match(char *line, int len, const char *db);

static void
tail_put(char *line, int len, int64 lineno, void *arg)
{
	(void) tail_match(line, len, (const char *) arg);
}

/*
 * Whether line (len bytes, not NUL-terminated; line[len] may be written and
 * is put back) is an entry of database db with a sequence number: then
 * tail_cache's seq and mac are set from it.
 */
static bool
tail_match(char *line, int len, const char *db)
{
	Jsonb	   *jb;
	char	   *v;

	char		save;
	bool		mine;

	/* cheap test first: only this database's lines are parsed */
	if (len == 0)
		return false;
	save = line[len];			/* the newline, or the buffer's spare byte */
	line[len] = '\0';
	mine = strstr(line, db) != NULL;
	line[len] = save;
	if (!mine)
		return false;
	jb = line_jsonb(line, len);
	if (jb == NULL)
		return false;
	v = jsonb_key_text(jb, "db");
	if (v == NULL || strcmp(v, db) != 0)
		return false;
	v = jsonb_key_text(jb, "seq");
	if (v == NULL)
		return false;
	tail_cache.seq = strtoll(v, NULL, 10);
	v = jsonb_key_text(jb, "mac");
	strlcpy(tail_cache.mac, v ? v : "", sizeof(tail_cache.mac));
	return true;
}

/*
 * Whether offset is still the end of a line of the file (the file was not
 * replaced in place by other content since it was read up to there).
 */
static bool
offset_ends_line(const char *path, off_t offset)
{
	int			fd;
	char		c;
	bool		ok;

	if (offset == 0)
		return true;
	fd = OpenTransientFile(path, O_RDONLY | PG_BINARY | O_NOFOLLOW);
	if (fd < 0)
		return false;
	ok = pread(fd, &c, 1, offset - 1) == 1 && c == '\n';
	CloseTransientFile(fd);
	return ok;
}

/*
 * The first read of a database's tail: database db's last line, found by
 * reading the file backwards from its last complete line, so that the
 * first erasure of a session costs the ledger's newest lines, not its
 * whole size.  Sets tail_cache's seq and mac (0 and "" when db has no
 * line); returns the offset just after the last complete line (where the
 * next read goes on, as read_lines returns), with the file's stat.
 */
static off_t
tail_backwards(const char *path, const char *db, struct stat *st_out)
{
	int			fd;
	size_t		cap = 65536;
	char	   *buf;
	size_t		have = 0;		/* bytes held, at buf[cap - have .. cap) */
	off_t		pos;			/* file offset of the first byte held */
	off_t		end = 0;		/* just after the last complete line */
	bool		line_known = false; /* the held bytes end where a line ends */

	tail_cache.seq = 0;
	tail_cache.mac[0] = '\0';
	fd = ledger_open_read(path, st_out);
	if (fd < 0)
		return 0;				/* no ledger file yet */
	pos = st_out->st_size;
	buf = palloc(cap + 1);
	while (pos > 0)
	{
		size_t		want;
		ssize_t		r;
		size_t		i;
		size_t		line_end = cap; /* index of the newline after a line */

		if (have == cap)
		{
			/* a line longer than the buffer: grow it, the bytes held at its end */
			char	   *nbuf;

			if (cap > MaxAllocSize / 4)
				ledger_error("the ledger holds a line too long to be an entry", NULL);
			nbuf = palloc(cap * 2 + 1);
			memcpy(nbuf + cap * 2 - have, buf + cap - have, have);
			pfree(buf);
			buf = nbuf;
			cap *= 2;
			line_end = cap;
		}
		want = Min(cap - have, (size_t) pos);
		r = pread(fd, buf + cap - have - want, want, pos - (off_t) want);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			ereport(ERROR, (errcode_for_file_access(), errmsg("could not read the erasure ledger: %m")));
		if ((size_t) r != want)
		{
			/* cut short meanwhile (a torn line repaired): read it forwards */
			CloseTransientFile(fd);
			pfree(buf);
			tail_cache.seq = 0;
			tail_cache.mac[0] = '\0';
			return read_lines(path, 0, 0, st_out, tail_put, unconstify(char *, db));
		}
		pos -= (off_t) want;
		have += want;

		/* the lines held, newest first */
		for (i = cap; i > cap - have; i--)
		{
			if (buf[i - 1] != '\n')
				continue;
			if (!line_known)
			{
				/* the file's last newline: what follows it is torn */
				end = pos + (off_t) (i - (cap - have));
				line_known = true;
				line_end = i - 1;
				continue;
			}
			CHECK_FOR_INTERRUPTS();
			if (tail_match(buf + i, (int) (line_end - i), db))
			{
				CloseTransientFile(fd);
				pfree(buf);
				return end;
			}
			line_end = i - 1;
		}
		/* keep the earliest line, unfinished, at the buffer's end */
		if (line_known)
		{
			size_t		keep = line_end - (cap - have);

			memmove(buf + cap - keep, buf + cap - have, keep);
			have = keep;
		}
		else
			have = 0;			/* no newline yet: a torn line, never read */
	}
	/* the file's first line, which no newline precedes */
	if (line_known && tail_match(buf + cap - have, (int) have, db))
	{
		CloseTransientFile(fd);
		pfree(buf);
		return end;
	}
	CloseTransientFile(fd);
	pfree(buf);
	return end;
}

PG_FUNCTION_INFO_V1(pgp_ledger_tail);

/*
 * _ledger_tail(db): seq and mac of database db's last line in the ledger
 * (no row when it has none).  Remembers how far it read: while the file
 * is the same and only grew, the next call reads the new lines only.
 */
Datum
pgp_ledger_tail(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	char	   *db = text_to_cstring(PG_GETARG_TEXT_PP(0));
	const char *path = ledger_path();
	struct stat st;
	off_t		from = 0;

	InitMaterializedSRF(fcinfo, MAT_SRF_USE_EXPECTED_DESC);
	if (strlen(db) >= sizeof(tail_cache.db))
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("invalid database identity")));
	if (stat(path, &st) == 0 && tail_cache.valid &&
		strcmp(tail_cache.path, path) == 0 && strcmp(tail_cache.db, db) == 0 &&
		tail_cache.dev == st.st_dev && tail_cache.ino == st.st_ino &&
		st.st_size >= tail_cache.offset && offset_ends_line(path, tail_cache.offset))
		from = tail_cache.offset;
	else
	{
		tail_cache.valid = false;
		tail_cache.seq = 0;
		tail_cache.mac[0] = '\0';
		strlcpy(tail_cache.path, path, sizeof(tail_cache.path));
		strlcpy(tail_cache.db, db, sizeof(tail_cache.db));
	}
	if (from > 0)
		tail_cache.offset = read_lines(path, from, 0, &st, tail_put, db);
	else
		tail_cache.offset = tail_backwards(path, db, &st);
	if (from > 0 && (st.st_dev != tail_cache.dev || st.st_ino != tail_cache.ino))
	{
		/* replaced meanwhile: the new file's tail */
		tail_cache.offset = tail_backwards(path, db, &st);
	}
	tail_cache.dev = st.st_dev;
	tail_cache.ino = st.st_ino;
	tail_cache.valid = true;

	/*
	 * This transaction's own lines, not written yet, come after the file's:
	 * the newest of them for db is the tail (an erasure after another in
	 * one transaction).
	 */
	{
		int64		seq = tail_cache.seq;
		char	   *mac = tail_cache.mac;
		LedgerLine *l;

		for (l = pending; l != NULL; l = l->next)
		{
			Jsonb	   *jb;
			char	   *v;

			if (strstr(l->text, db) == NULL ||
				(jb = line_jsonb(l->text, strlen(l->text))) == NULL)
				continue;
			v = jsonb_key_text(jb, "db");
			if (v == NULL || strcmp(v, db) != 0 || (v = jsonb_key_text(jb, "seq")) == NULL)
				continue;
			seq = strtoll(v, NULL, 10);
			v = jsonb_key_text(jb, "mac");
			mac = v ? v : "";
			break;				/* (newest first) */
		}
		if (seq > 0)
		{
			Datum		values[2];
			bool		nulls[2] = {false, false};

			values[0] = Int64GetDatum(seq);
			values[1] = PointerGetDatum(cstring_to_text(mac));
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	return (Datum) 0;
}
