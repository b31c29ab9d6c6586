/*-------------------------------------------------------------------------
 *
 * pseudonym.c
 *	  Keyed pseudonymization, format-preserving phone numbers, masking.
 *
 * The transformations live here once and are used by the SQL functions
 * (pseudonymize, pseudonymize_msisdn, reidentify_msisdn,
 * pseudonymize_email, normalize_msisdn, mask_msisdn, country_of) and by the
 * protect trigger (protect.c), so a value written through the trigger is
 * byte-for-byte what the function returns.
 *
 *	- pseudonym: HMAC-SHA256 under a key derived for the domain, first 128
 *	  bits, base64url without padding (22 characters).
 *	- msisdn_fpe: the number is normalized to E.164; the country code and
 *	  the first digit of the national number stay, the remaining digits
 *	  (at least 6, so at least 10^6 values) are FF1-encrypted with AES-256
 *	  under a key derived for the domain.  The tweak binds the domain, the
 *	  country code and the kept digit, so equal subscriber digits under
 *	  different prefixes encrypt differently.  Reversible by
 *	  reidentify_msisdn only.
 *	- email_pseudonym: the trimmed, lower-cased local part becomes a keyed
 *	  pseudonym (128 bits, base32, 26 characters); the domain part stays.
 *
 * Hot path: per call, no catalog access, no allocation beyond the result,
 * and the working key is found through a PgpKeyRef cached in fn_extra.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pseudonym.h"
#include "schema.h"
#include "e164.h"
#include "identifier.h"
#include "keys.h"
#include "owner.h"

#include "catalog/namespace.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/acl.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/syscache.h"

static const char b64url[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";

/*
 * Check a domain argument: non-empty and short enough to be a tweak.
 */
void
pgp_check_domain(const char *domain, int len)
{
	if (len <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pseudonymization domain must not be empty")));
	if (len > PGP_MAX_DOMAIN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("pseudonymization domain is too long"),
				 errdetail("A domain has at most %d bytes; this one has %d.",
						   PGP_MAX_DOMAIN, len)));
}

/*
 * Pseudonym of len bytes of data: base64url of the first 16 bytes of
 * HMAC-SHA256 under k, into out (PGP_PSEUDONYM_LEN characters, no NUL).
 */
void
pgp_pseudonym(PgpKey *k, const char *data, int len, char *out)
{
	unsigned char mac[PGP_SHA256_LEN];
	int			i;
	int			o = 0;
	uint32		acc = 0;
	int			bits = 0;

	if (!pgp_hmac_sha256(pgp_key_hmac(k), (const unsigned char *) data, len, mac))
		pgp_crypto_error("HMAC");
	for (i = 0; i < 16; i++)
	{
		acc = (acc << 8) | mac[i];
		bits += 8;
		while (bits >= 6)
		{
			bits -= 6;
			out[o++] = b64url[(acc >> bits) & 0x3f];
		}
	}
	if (bits > 0)
		out[o++] = b64url[(acc << (6 - bits)) & 0x3f];
	Assert(o == PGP_PSEUDONYM_LEN);
}

/*
 * FF1 over the digits after the country code and the first national
 * digit of an E.164 number, in place (number is "+<digits>").  decrypt
 * selects the direction.  Raises 22023 when fewer than 6 digits would be
 * encrypted (a domain below 10^6 values is too small to hide anything).
 */
void
pgp_msisdn_ff1(PgpKey *k, PgpE164Result *res, const char *domain,
			   int domain_len, bool decrypt)
{
	unsigned char tweak[PGP_MAX_DOMAIN + 1 + 4];
	int			tlen = 0;
	uint8_t		digits[PGP_E164_MAX_DIGITS];
	int			keep = res->cc_len + 1;	/* country code + first digit */
	int			n = res->ndigits - keep;
	int			i;
	PgpFF1Status st;

	if (n < 6)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errhidestmt(true),
				 errmsg("phone number is too short for format-preserving pseudonymization"),
				 errdetail("A number with country code %.*s and %d national digits leaves %d digits to encrypt; at least 6 (10^6 values) are needed.",
						   res->cc_len + 1, res->number, res->ndigits - res->cc_len, n)));

	memcpy(tweak, domain, domain_len);
	tlen = domain_len;
	tweak[tlen++] = 0;
	memcpy(tweak + tlen, res->number + 1, keep);	/* cc digits + first */
	tlen += keep;

	for (i = 0; i < n; i++)
		digits[i] = (uint8_t) (res->number[1 + keep + i] - '0');
	if (decrypt)
		st = pgp_ff1_decrypt(pgp_key_ff1(k), 10, tweak, tlen, digits, digits, n);
	else
		st = pgp_ff1_encrypt(pgp_key_ff1(k), 10, tweak, tlen, digits, digits, n);
	if (st != PGP_FF1_OK)
		pgp_crypto_error("FF1");
	for (i = 0; i < n; i++)
		res->number[1 + keep + i] = (char) ('0' + digits[i]);
}

/*
 * Keyed pseudonym of an e-mail address: trimmed, local part lower-cased
 * and pseudonymized, domain part lower-cased and kept.  Returns a palloc'd
 * text.  Raises 22P02 for a value that is not an address.
 */
text *
pgp_email_pseudonym(PgpKey *k, const char *s, int len)
{
	int			start = 0;
	int			end = len;
	int			at = -1;
	int			i;
	char	   *local;
	int			llen;
	int			dlen;
	unsigned char mac[PGP_SHA256_LEN];
	text	   *result;
	char	   *p;
	uint32		acc = 0;
	int			bits = 0;

	while (start < end && (s[start] == ' ' || s[start] == '\t' || s[start] == '\n' || s[start] == '\r'))
		start++;
	while (end > start && (s[end - 1] == ' ' || s[end - 1] == '\t' || s[end - 1] == '\n' || s[end - 1] == '\r'))
		end--;
	for (i = start; i < end; i++)
		if (s[i] == '@')
			at = i;
	if (at < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errhidestmt(true),
				 errmsg("invalid e-mail address"),
				 errdetail("The address has no \"@\".")));
	llen = at - start;
	dlen = end - at - 1;
	if (llen == 0 || dlen == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errhidestmt(true),
				 errmsg("invalid e-mail address"),
				 errdetail("The %s part of the address is empty.", llen == 0 ? "local" : "domain")));
	for (i = start; i < end; i++)
		if (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
					 errhidestmt(true),
				 errmsg("invalid e-mail address"),
					 errdetail("The address contains white space at position %d.", i + 1)));

	local = palloc(llen);
	for (i = 0; i < llen; i++)
		local[i] = pg_ascii_tolower((unsigned char) s[start + i]);
	if (!pgp_hmac_sha256(pgp_key_hmac(k), (unsigned char *) local, llen, mac))
		pgp_crypto_error("HMAC");
	pfree(local);

	result = (text *) palloc(VARHDRSZ + PGP_EMAIL_LOCAL_LEN + 1 + dlen);
	SET_VARSIZE(result, VARHDRSZ + PGP_EMAIL_LOCAL_LEN + 1 + dlen);
	p = VARDATA(result);
	for (i = 0; i < 16; i++)
	{
		acc = (acc << 8) | mac[i];
		bits += 8;
		while (bits >= 5)
		{
			bits -= 5;
			*p++ = b32[(acc >> bits) & 0x1f];
		}
	}
	if (bits > 0)
		*p++ = b32[(acc << (5 - bits)) & 0x1f];
	*p++ = '@';
	for (i = 0; i < dlen; i++)
		*p++ = pg_ascii_tolower((unsigned char) s[at + 1 + i]);
	return result;
}

/* ---------------------------------------------------------------------
 * Domain grants: who may produce a domain's pseudonyms
 *
 * Whoever can make pseudonyms of a domain can reverse them by enumeration
 * (every Danish number in minutes), so a domain is a capability.  The
 * owner of pg_privacy's catalog (the extension owner) and superusers hold
 * every domain; any other role holds the domains privacy.domain_grant
 * lists for it or for a role whose privileges it has.  The SQL functions
 * check the current user; the protect trigger checks the owners of the
 * table and of the firing partition when it builds its per-relation
 * state, and protect()/register_column() check them when declared.
 *
 * Answers are cached per backend by (role, domain).  The cache is dropped
 * on any relcache invalidation of privacy.domain_grant (grant_domain and
 * revoke_domain send one) and on any change of roles or memberships.
 * ---------------------------------------------------------------------
 */

typedef struct DomainGrantKey
{
	Oid			roleid;
	int			len;
	char		domain[PGP_MAX_DOMAIN];
} DomainGrantKey;

typedef struct DomainGrantEntry
{
	DomainGrantKey key;
	bool		allowed;
} DomainGrantEntry;

static HTAB *domain_grant_cache = NULL;
static Oid	domain_grant_relid = InvalidOid;

/* Bumped whenever the cached answers are dropped (call-site memos). */
static uint64 domain_grant_generation = 1;

/* What else to drop with them (the protect trigger's relation state). */
static void (*domain_grant_callback) (void) = NULL;

/*
 * Drop every answer: a grant, a role or a membership changed (or the
 * extension was created again, so the table's OID is looked up anew).
 * The protect trigger's per-relation state, built under the grants of
 * the day, goes with it (through the callback it registered).
 */
static void
domain_grant_reset(void)
{
	domain_grant_generation++;
	domain_grant_relid = InvalidOid;
	if (domain_grant_cache != NULL)
	{
		hash_destroy(domain_grant_cache);
		domain_grant_cache = NULL;
	}
	if (domain_grant_callback != NULL)
		domain_grant_callback();
}

/*
 * Who else caches what the grants allowed: the protect trigger registers
 * itself here (protect.c), so that this file needs to know nothing of it.
 */
void
pgp_on_domain_grant_change(void (*callback) (void))
{
	domain_grant_callback = callback;
}

static void
domain_grant_relcache_cb(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == domain_grant_relid)
		domain_grant_reset();
}

static void
domain_grant_syscache_cb(Datum arg, int cacheid, uint32 hashvalue)
{
	domain_grant_reset();
}

/* Owner of pg_privacy's catalog: holds every domain. */
static Oid
catalog_owner(void)
{
	Oid			nsp = get_namespace_oid("privacy", false);
	Oid			catrel = get_relname_relid("registered_table", nsp);

	if (!OidIsValid(catrel))
		elog(ERROR, "privacy.registered_table is missing");
	return pgp_rel_owner(catrel);
}

/*
 * May roleid produce pseudonyms of the domain?
 */
bool
pgp_domain_allowed(Oid roleid, const char *domain, int len)
{
	static bool callbacks = false;
	DomainGrantKey key;
	DomainGrantEntry *e;
	bool		found;
	bool		allowed;

	if (len <= 0 || len > PGP_MAX_DOMAIN)
		return false;
	if (!OidIsValid(domain_grant_relid))
		domain_grant_relid = get_relname_relid("domain_grant",
											   get_namespace_oid("privacy", false));
	if (!callbacks)
	{
		pgp_on_relcache(domain_grant_relcache_cb, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHOID, domain_grant_syscache_cb, (Datum) 0);
		CacheRegisterSyscacheCallback(AUTHMEMROLEMEM, domain_grant_syscache_cb, (Datum) 0);
		callbacks = true;
	}
	if (domain_grant_cache == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(DomainGrantKey);
		ctl.entrysize = sizeof(DomainGrantEntry);
		ctl.hcxt = CacheMemoryContext;
		domain_grant_cache = hash_create("pg_privacy domain grants", 16, &ctl,
										 HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	memset(&key, 0, sizeof(key));
	key.roleid = roleid;
	key.len = len;
	memcpy(key.domain, domain, len);
	e = hash_search(domain_grant_cache, &key, HASH_FIND, &found);
	if (found)
		return e->allowed;

	if (superuser_arg(roleid) || has_privs_of_role(roleid, catalog_owner()))
		allowed = true;
	else
	{
		Oid			argtypes[2] = {OIDOID, TEXTOID};
		Datum		values[2];
		bool		isnull;

		values[0] = ObjectIdGetDatum(roleid);
		values[1] = PointerGetDatum(cstring_to_text_with_len(domain, len));
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		pgp_catalog_select("SELECT pg_catalog.bool_or(pg_catalog.pg_has_role($1, g.grantee::pg_catalog.oid, 'USAGE'))"
						   "  FROM privacy.domain_grant g"
						   "  JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) g.grantee::pg_catalog.oid"
						   " WHERE g.domain OPERATOR(pg_catalog.=) $2",
						   2, argtypes, values);
		allowed = SPI_processed == 1 &&
			DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) &&
			!isnull;
		SPI_finish();
	}

	/* the cache may have been dropped by an invalidation meanwhile */
	if (domain_grant_cache != NULL)
	{
		e = hash_search(domain_grant_cache, &key, HASH_ENTER, &found);
		e->allowed = allowed;
	}
	return allowed;
}

/*
 * Raise 42501 unless roleid may produce pseudonyms of the domain.
 */
void
pgp_check_domain_grant(Oid roleid, const char *domain, int len)
{
	if (!pgp_domain_allowed(roleid, domain, len))
	{
		char	   *rolname = GetUserNameFromId(roleid, true);

		ereport(ERROR,
				(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
				 errmsg("role \"%s\" may not produce pseudonyms of domain \"%.*s\"",
						rolname ? rolname : "?", len, domain),
				 errdetail("Whoever produces a domain's pseudonyms can reverse them by trying every value."),
				 errhint("The owner of pg_privacy grants a domain with privacy.grant_domain().")));
	}
}

PG_FUNCTION_INFO_V1(pgp_domain_allowed_sql);

/* _domain_allowed(role oid, domain text): may the role produce it? */
Datum
pgp_domain_allowed_sql(PG_FUNCTION_ARGS)
{
	Oid			roleid = PG_GETARG_OID(0);
	text	   *domain = PG_GETARG_TEXT_PP(1);

	PG_RETURN_BOOL(pgp_domain_allowed(roleid, VARDATA_ANY(domain),
									  VARSIZE_ANY_EXHDR(domain)));
}

/* ---------------------------------------------------------------------
 * SQL-callable functions
 * ---------------------------------------------------------------------
 */

/*
 * A call site's state, in fn_extra: its cached key reference, and the
 * answer of the domain-grant check for the key (purpose and domain) and
 * role it last saw, so that a call repeated over many rows pays the check
 * once (valid while neither the key cache nor the grants change).
 */
typedef struct FnCache
{
	PgpKeyRef	ref;			/* first: fn_keyref() returns it */
	PgpKey	   *granted_key;
	uint64		granted_keygen;
	uint64		granted_gen;
	Oid			granted_role;
} FnCache;

static FnCache *
fn_cache(FunctionCallInfo fcinfo)
{
	if (fcinfo->flinfo->fn_extra == NULL)
		fcinfo->flinfo->fn_extra =
			MemoryContextAllocZero(fcinfo->flinfo->fn_mcxt, sizeof(FnCache));
	return (FnCache *) fcinfo->flinfo->fn_extra;
}

/* The call site's cached key reference, in fn_extra. */
static PgpKeyRef *
fn_keyref(FunctionCallInfo fcinfo)
{
	return &fn_cache(fcinfo)->ref;
}

/*
 * The key of (purpose, domain) for this call site, after checking that
 * the current role may produce the domain's pseudonyms.
 */
static PgpKey *
fn_granted_key(FunctionCallInfo fcinfo, const char *purpose,
			   const char *domain, int dlen)
{
	FnCache    *c = fn_cache(fcinfo);
	PgpKey	   *k = pgp_key_cached(&c->ref, purpose, domain, dlen);
	Oid			role = GetUserId();

	if (c->granted_key != k || c->granted_keygen != pgp_key_generation ||
		c->granted_gen != domain_grant_generation || c->granted_role != role)
	{
		pgp_check_domain_grant(role, domain, dlen);
		c->granted_key = k;
		c->granted_keygen = pgp_key_generation;
		c->granted_gen = domain_grant_generation;
		c->granted_role = role;
	}
	return k;
}

/*
 * A default_country argument as a C string: SQL NULL (or no argument)
 * is pg_privacy.default_country (identifier.c).
 */
static char *
country_arg(FunctionCallInfo fcinfo, int argno)
{
	if (PG_NARGS() <= argno || PG_ARGISNULL(argno))
		return pgp_default_country;
	return text_to_cstring(PG_GETARG_TEXT_PP(argno));
}

/*
 * A keyed pseudonym as a text datum: prefix, then the base64url pseudonym
 * of value under the call site's key for (purpose, domain).
 */
static text *
keyed_pseudonym_text(FunctionCallInfo fcinfo, const char *purpose,
					 text *domain, text *value, const char *prefix)
{
	int			dlen = VARSIZE_ANY_EXHDR(domain);
	int			plen = strlen(prefix);
	PgpKey	   *k;
	text	   *result;

	pgp_check_domain(VARDATA_ANY(domain), dlen);
	if (strcmp(purpose, PGP_KP_AUDIT) != 0)
		k = fn_granted_key(fcinfo, purpose, VARDATA_ANY(domain), dlen);
	else
		k = pgp_key_cached(fn_keyref(fcinfo), purpose, VARDATA_ANY(domain), dlen);
	result = (text *) palloc(VARHDRSZ + plen + PGP_PSEUDONYM_LEN);
	SET_VARSIZE(result, VARHDRSZ + plen + PGP_PSEUDONYM_LEN);
	memcpy(VARDATA(result), prefix, plen);
	pgp_pseudonym(k, VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value), VARDATA(result) + plen);
	return result;
}

PG_FUNCTION_INFO_V1(pgp_pseudonymize);

/* pseudonymize(value text, domain text): keyed, deterministic, one-way. */
Datum
pgp_pseudonymize(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(keyed_pseudonym_text(fcinfo, PGP_KP_PSEUDONYM,
										  PG_GETARG_TEXT_PP(1), PG_GETARG_TEXT_PP(0), ""));
}

PG_FUNCTION_INFO_V1(pgp_normalize_msisdn);

/*
 * normalize_msisdn(raw text, default_country text): E.164 or 22P02; the
 * normalization of kind msisdn (identifier.c).
 */
Datum
pgp_normalize_msisdn(PG_FUNCTION_ARGS)
{
	text	   *raw;
	char	   *country;
	PgpE164Result res;

	/* not STRICT: a NULL default country is pg_privacy.default_country */
	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	raw = PG_GETARG_TEXT_PP(0);
	country = country_arg(fcinfo, 1);

	pgp_normalize_or_error(VARDATA_ANY(raw), VARSIZE_ANY_EXHDR(raw), country, &res);
	PG_RETURN_TEXT_P(cstring_to_text(res.number));
}

/* Shared body of pseudonymize_msisdn and the internal decryption. */
static Datum
msisdn_fpe(FunctionCallInfo fcinfo, bool decrypt)
{
	text	   *raw;
	text	   *domain;
	int			dlen;
	char	   *country;
	PgpE164Result res;
	PgpKey	   *k;

	/* pseudonymize_msisdn is not STRICT in its default country */
	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	raw = PG_GETARG_TEXT_PP(0);
	domain = PG_GETARG_TEXT_PP(1);
	dlen = VARSIZE_ANY_EXHDR(domain);
	country = decrypt ? NULL : country_arg(fcinfo, 2);

	pgp_check_domain(VARDATA_ANY(domain), dlen);
	k = decrypt ? pgp_key_cached(fn_keyref(fcinfo), PGP_KP_MSISDN_FPE, VARDATA_ANY(domain), dlen)
		: fn_granted_key(fcinfo, PGP_KP_MSISDN_FPE, VARDATA_ANY(domain), dlen);
	pgp_normalize_or_error(VARDATA_ANY(raw), VARSIZE_ANY_EXHDR(raw), country, &res);
	pgp_msisdn_ff1(k, &res, VARDATA_ANY(domain), dlen, decrypt);
	PG_RETURN_TEXT_P(cstring_to_text_with_len(res.number, res.ndigits + 1));
}

PG_FUNCTION_INFO_V1(pgp_pseudonymize_msisdn);

/* pseudonymize_msisdn(msisdn, domain, default_country): FF1, reversible. */
Datum
pgp_pseudonymize_msisdn(PG_FUNCTION_ARGS)
{
	return msisdn_fpe(fcinfo, false);
}

PG_FUNCTION_INFO_V1(pgp_msisdn_decrypt);

/*
 * _msisdn_decrypt(pseudonym, domain): the inverse of pseudonymize_msisdn.
 * Internal: reached through reidentify_msisdn, which audits every call.
 */
Datum
pgp_msisdn_decrypt(PG_FUNCTION_ARGS)
{
	return msisdn_fpe(fcinfo, true);
}

PG_FUNCTION_INFO_V1(pgp_pseudonymize_email);

/* pseudonymize_email(email, domain): keyed local part, domain kept. */
Datum
pgp_pseudonymize_email(PG_FUNCTION_ARGS)
{
	text	   *email = PG_GETARG_TEXT_PP(0);
	text	   *domain = PG_GETARG_TEXT_PP(1);
	int			dlen = VARSIZE_ANY_EXHDR(domain);
	PgpKey	   *k;

	pgp_check_domain(VARDATA_ANY(domain), dlen);
	k = fn_granted_key(fcinfo, PGP_KP_EMAIL, VARDATA_ANY(domain), dlen);
	PG_RETURN_TEXT_P(pgp_email_pseudonym(k, VARDATA_ANY(email), VARSIZE_ANY_EXHDR(email)));
}

PG_FUNCTION_INFO_V1(pgp_mask_msisdn);

/*
 * mask_msisdn(msisdn, visible): "+4520XXXXXX".  The number is normalized
 * (default country DK) and all but the first `visible` digits become X.
 * A value that is not a phone number is masked whole, as a fixed
 * "XXXXXXXX" that does not even tell its length.
 */
Datum
pgp_mask_msisdn(PG_FUNCTION_ARGS)
{
	text	   *raw = PG_GETARG_TEXT_PP(0);
	int32		visible = PG_GETARG_INT32(1);
	PgpE164Result res;
	int			i;
	int			len = VARSIZE_ANY_EXHDR(raw);

	if (visible < 0 || visible > PGP_E164_MAX_DIGITS)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("visible must be between 0 and %d", PGP_E164_MAX_DIGITS),
				 errdetail("The value given was %d.", visible)));

	if (pgp_e164_normalize(VARDATA_ANY(raw), len, "DK", &res) != PGP_E164_OK)
		PG_RETURN_TEXT_P(cstring_to_text("XXXXXXXX"));
	for (i = visible; i < res.ndigits; i++)
		res.number[1 + i] = 'X';
	PG_RETURN_TEXT_P(cstring_to_text(res.number));
}

PG_FUNCTION_INFO_V1(pgp_country_of);

/*
 * country_of(value): the country, as ISO 3166-1 alpha-2, of a phone
 * number or of a value that already is a two-letter country code.  This
 * is the 'country' protect transformation: location kept at country
 * level, never finer.
 */
Datum
pgp_country_of(PG_FUNCTION_ARGS)
{
	text	   *v = PG_GETARG_TEXT_PP(0);
	char		iso[3];

	pgp_country(VARDATA_ANY(v), VARSIZE_ANY_EXHDR(v), iso);
	PG_RETURN_TEXT_P(cstring_to_text(iso));
}

/*
 * The country of a value (see country_of) into iso[3], or raise 22P02.
 */
void
pgp_country(const char *s, int len, char *iso)
{
	PgpE164Result res;
	const char *c;

	while (len > 0 && (s[len - 1] == ' '))
		len--;					/* char(n) padding */
	if (len == 2 && isalpha((unsigned char) s[0]) && isalpha((unsigned char) s[1]))
	{
		iso[0] = pg_ascii_toupper((unsigned char) s[0]);
		iso[1] = pg_ascii_toupper((unsigned char) s[1]);
		iso[2] = '\0';
		if (pgp_e164_country_known(iso))
			return;
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errhidestmt(true),
				 errmsg("unknown country code"),
				 errdetail("The value is two letters that are not an ISO 3166-1 alpha-2 code."),
				 errhint("Use an ISO 3166-1 alpha-2 code or an E.164 phone number.")));
	}
	if (pgp_e164_normalize(s, len, NULL, &res) == PGP_E164_OK &&
		(c = pgp_e164_country_of(res.number + 1, res.cc_len)) != NULL)
	{
		memcpy(iso, c, 2);
		iso[2] = '\0';
		return;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errhidestmt(true),
			 errmsg("cannot derive a country from the value"),
			 errdetail("The value is neither an ISO 3166-1 alpha-2 code nor a phone number with a country code."),
			 errhint("Location is kept at country level: store a country code or an international phone number.")));
}

PG_FUNCTION_INFO_V1(pgp_audit_ref);

/*
 * _audit_ref(kind, value): how the audit log refers to a data subject's
 * identifier: a keyed pseudonym under the audit key, with the identifier
 * kind as domain.  One-way; whoever knows an identifier (and may use the
 * key) can find the entries about it, nobody can read identifiers out of
 * the log.  value is expected normalized (see privacy_internal._subject_ref).
 */
Datum
pgp_audit_ref(PG_FUNCTION_ARGS)
{
	PG_RETURN_TEXT_P(keyed_pseudonym_text(fcinfo, PGP_KP_AUDIT,
										  PG_GETARG_TEXT_PP(0), PG_GETARG_TEXT_PP(1), "ref:"));
}

/* _audit_ref(domain, value) under listed key m ("ref:" and the pseudonym) */
static text *
audit_ref_of(int m, text *domain, text *value)
{
	PgpKey	   *k = pgp_get_key_of(m, PGP_KP_AUDIT, VARDATA_ANY(domain),
								   VARSIZE_ANY_EXHDR(domain), PGP_KEY_VERSION);
	text	   *ref = (text *) palloc(VARHDRSZ + 4 + PGP_PSEUDONYM_LEN);

	SET_VARSIZE(ref, VARHDRSZ + 4 + PGP_PSEUDONYM_LEN);
	memcpy(VARDATA(ref), "ref:", 4);
	pgp_pseudonym(k, VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value), VARDATA(ref) + 4);
	return ref;
}

PG_FUNCTION_INFO_V1(pgp_audit_refs);

/*
 * _audit_refs(kind, value): _audit_ref(kind, value) under every key
 * pg_privacy.key_file lists that can be used, the current one first: to
 * match what was made before a key change (a request, a consent event of
 * an erased identifier).  A listed key whose file cannot be used is passed
 * over, as _key_list() reports it.
 */
Datum
pgp_audit_refs(PG_FUNCTION_ARGS)
{
	text	   *domain = PG_GETARG_TEXT_PP(0);
	text	   *value = PG_GETARG_TEXT_PP(1);
	int			dlen = VARSIZE_ANY_EXHDR(domain);
	int			n = pgp_key_count();
	Datum	   *refs = palloc(sizeof(Datum) * Max(n, 1));
	int			nrefs = 0;
	int			m;

	pgp_check_domain(VARDATA_ANY(domain), dlen);
	for (m = 0; m < n; m++)
	{
		char		fp[PGP_FINGERPRINT_LEN + 1];

		if (pgp_key_usable(m, fp, NULL))
			refs[nrefs++] = PointerGetDatum(audit_ref_of(m, domain, value));
	}
	PG_RETURN_ARRAYTYPE_P(construct_array(refs, nrefs, TEXTOID, -1, false, TYPALIGN_INT));
}

PG_FUNCTION_INFO_V1(pgp_audit_ref_under);

/*
 * _audit_ref_under(fingerprint, kind, value): _audit_ref(kind, value) under
 * the listed key of that fingerprint (the current one, or an older one
 * pg_privacy.key_file lists after it): to check and match what was made
 * before a key change.  55000 when no listed key has that fingerprint.
 */
Datum
pgp_audit_ref_under(PG_FUNCTION_ARGS)
{
	char	   *fp = text_to_cstring(PG_GETARG_TEXT_PP(0));
	text	   *domain = PG_GETARG_TEXT_PP(1);
	text	   *value = PG_GETARG_TEXT_PP(2);
	int			dlen = VARSIZE_ANY_EXHDR(domain);
	int			m;

	pgp_check_domain(VARDATA_ANY(domain), dlen);
	m = pgp_key_require(fp, "A reference");
	PG_RETURN_TEXT_P(audit_ref_of(m, domain, value));
}
