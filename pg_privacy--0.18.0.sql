-- pg_privacy install script, assembled by the Makefile from src/sql/*.sql
-- in file-name order.  This part: the schema and internal helpers.

\echo Use "CREATE EXTENSION pg_privacy" to load this file. \quit

COMMENT ON SCHEMA privacy IS
  'pg_privacy: personal-data catalog, keyed pseudonymization, retention, consent and data-subject rights';

-- Internal helpers live in a schema of their own, so that the API schema
-- holds exactly the API.  Only the extension owner creates objects in it.
CREATE SCHEMA privacy_internal;
COMMENT ON SCHEMA privacy_internal IS
  'pg_privacy: internal helpers, not part of the API; executable by no role but the extension owner unless granted in 90_privileges.sql';

-- The role on whose behalf a statement runs, even inside SECURITY DEFINER
-- functions (the role set by SET ROLE, else the session user).
CREATE FUNCTION privacy_internal._invoker() RETURNS name
  LANGUAGE c STABLE STRICT PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_invoker';
COMMENT ON FUNCTION privacy_internal._invoker() IS
  'internal: the role on whose behalf the current statement runs';

-- Raise an error unless the invoking role owns (is a member of the owner
-- of) the relation.  Catalog functions run as the extension owner, so they
-- check the caller's right to act on a table themselves.
CREATE FUNCTION privacy_internal._check_owner(tbl regclass) RETURNS void
  LANGUAGE plpgsql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  owner oid;
BEGIN
  SELECT c.relowner INTO owner FROM pg_catalog.pg_class c
   WHERE c.oid OPERATOR(pg_catalog.=) tbl;
  IF NOT pg_catalog.pg_has_role(privacy_internal._invoker(), owner, 'MEMBER') THEN
    RAISE EXCEPTION 'must be owner of table %', tbl
      USING ERRCODE = '42501';
  END IF;
END
$$;

-- Citus (src/citus.c): the functions whose guarantees do not hold on tables
-- Citus manages yet refuse there (0A000), and audited functions refuse to
-- run on a worker.  protect() works there (src/protect.c, signed rules),
-- and so do the purge, export and erasure (statements Citus plans).
CREATE FUNCTION privacy_internal._citus_refuse(tbl regclass, what text) RETURNS void
  LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'pgp_citus_refuse_sql';
COMMENT ON FUNCTION privacy_internal._citus_refuse(regclass, text) IS
  'internal: refuses (0A000) when Citus manages the table';
CREATE FUNCTION privacy_internal._citus_table(tbl regclass) RETURNS boolean
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_citus_table_sql';
COMMENT ON FUNCTION privacy_internal._citus_table(regclass) IS
  'internal: does Citus distribute, replicate or manage the table';
CREATE FUNCTION privacy_internal._citus_refuse_worker(what text) RETURNS void
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_citus_refuse_worker';
COMMENT ON FUNCTION privacy_internal._citus_refuse_worker(text) IS
  'internal: refuses (0A000) on a Citus worker';
CREATE FUNCTION privacy_internal._citus_shard_named(rel regclass) RETURNS regclass
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_citus_shard_named_sql';
COMMENT ON FUNCTION privacy_internal._citus_shard_named(regclass) IS
  'internal: the table Citus names the relation a shard of (placed on this node or not yet), or NULL';
CREATE FUNCTION privacy_internal._citus_refuse_unready(what text) RETURNS void
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_citus_refuse_unready_sql';
COMMENT ON FUNCTION privacy_internal._citus_refuse_unready(text) IS
  'internal: refuses while export and erasure cannot run on the tables Citus manages (src/citus.c)';
CREATE FUNCTION privacy_internal._citus_worker() RETURNS boolean
  LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'pgp_citus_worker_sql';
COMMENT ON FUNCTION privacy_internal._citus_worker() IS
  'internal: is this node a Citus worker';
CREATE FUNCTION privacy_internal._citus_dist_column(tbl regclass) RETURNS text
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_citus_dist_column';
COMMENT ON FUNCTION privacy_internal._citus_dist_column(regclass) IS
  'internal: the distribution column of a table Citus manages (NULL for a reference or local table)';

-- The trigger of the declaration tables: every backend forgets
-- what it derived from them when a change commits, however it was written
-- (src/protect.c).
CREATE FUNCTION privacy_internal._catalog_changed() RETURNS trigger
  LANGUAGE c
  AS 'MODULE_PATHNAME', 'pgp_catalog_changed';
COMMENT ON FUNCTION privacy_internal._catalog_changed() IS
  'internal: a declaration table changed; drops the sessions'' derived statements and descriptions';

-- Make every backend drop its cached protect-trigger state of a table (and
-- its partitions) at commit; called when a declaration changes.
CREATE FUNCTION privacy_internal._invalidate(tbl regclass) RETURNS void
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_invalidate';
-- Keys.  The master key is read by the C library from the file named by
-- pg_privacy.key_file; nothing here stores, takes or returns key material.

CREATE FUNCTION privacy.key_fingerprint() RETURNS text
  LANGUAGE c VOLATILE STRICT PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_key_fingerprint';
COMMENT ON FUNCTION privacy.key_fingerprint() IS
  'identifies the loaded master key without revealing it (equal fingerprints pseudonymize alike)';

-- The keys pg_privacy.key_file lists, in order (position 1: the current
-- key, then older keys kept to check what was made under them): each
-- one's fingerprint, or the problem of its file.  Never a path, never key
-- material.
CREATE FUNCTION privacy_internal._key_list()
  RETURNS TABLE(listed_at integer, fingerprint text, problem text)
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_key_list';
COMMENT ON FUNCTION privacy_internal._key_list() IS
  'internal: the keys pg_privacy.key_file lists (current first): fingerprint, or the problem of the file';

CREATE FUNCTION privacy_internal._key_listed(fingerprint text) RETURNS boolean
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_key_listed';
COMMENT ON FUNCTION privacy_internal._key_listed(text) IS
  'internal: whether pg_privacy.key_file lists a key of that fingerprint';

-- The key this database's pseudonyms, holds and keyed references were made
-- with, by fingerprint.  Recorded by the first keyed work in the database
-- and carried by pg_dump: keyed work under another key (a restore onto a
-- server with another key file, a wrong file after a reload) fails closed
-- with 55000 until the DBA declares the change with accept_key_change().
CREATE TABLE privacy.key_state (
  singleton   boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  fingerprint text NOT NULL CHECK (fingerprint ~ '^pgp1:[0-9a-f]{16}$'),
  recorded_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE privacy.key_state IS
  'pg_privacy: fingerprint of the master key this database''s keyed data was made with';
SELECT pg_catalog.pg_extension_config_dump('privacy.key_state', '');

-- Declare a deliberate key change: the database now belongs to the loaded
-- key.  The caller names the fingerprint being replaced, so a mistyped or
-- stale call cannot move a database to a wrong key.  Existing pseudonyms
-- are not converted by the change: HMAC pseudonyms cannot be (they are
-- one-way), and lookups of rows written under the old key no longer match
-- them, which is why the change is explicit and audited; the
-- phone-number pseudonyms of msisdn_fpe columns are converted afterwards
-- by privacy.rekey(), and until then the lookups that would meet them
-- refuse (src/sql/36_rekey.sql).
CREATE FUNCTION privacy.accept_key_change(old_fingerprint text, holds text DEFAULT 'refuse') RETURNS text
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  stored text;
  loaded text := privacy.key_fingerprint();
  held_n bigint;
  held_kinds text;
  ledger text;
  pending bigint;
BEGIN
  IF old_fingerprint IS NULL THEN
    RAISE EXCEPTION 'old fingerprint must not be null' USING ERRCODE = '22004';
  END IF;
  SELECT s.fingerprint INTO stored FROM privacy.key_state s FOR UPDATE;
  IF stored IS NULL THEN
    RAISE EXCEPTION 'this database has no recorded key'
      USING ERRCODE = '55000',
            HINT = 'The first keyed work records the loaded key; there is nothing to change.';
  END IF;
  IF stored OPERATOR(pg_catalog.<>) old_fingerprint THEN
    RAISE EXCEPTION 'fingerprint % is not the database''s key', old_fingerprint
      USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('The database''s key has fingerprint %s.', stored);
  END IF;
  IF stored OPERATOR(pg_catalog.=) loaded THEN
    RAISE EXCEPTION 'the loaded key is already the database''s key' USING ERRCODE = '55000';
  END IF;
  -- The relations whose phone-number pseudonyms stay under the replaced
  -- key until privacy.rekey() converts them (src/sql/36_rekey.sql).
  pending := privacy_internal._rekey_mark(stored, loaded);
  -- A legal hold finds the rows that hold its identifier in a protected
  -- column by transforming the identifier under the current key: rows
  -- written under the replaced key would no longer be recognized, and the
  -- purge or an erasure would remove what the hold must keep.  Refuse
  -- while such a hold is active.
  SELECT pg_catalog.count(*), pg_catalog.string_agg(DISTINCT h.kind, ', ')
    INTO held_n, held_kinds
    FROM privacy.legal_hold h
   WHERE h.released_at IS NULL
     AND (h.until IS NULL OR h.until OPERATOR(pg_catalog.>) pg_catalog.now())
     AND EXISTS (SELECT FROM privacy.registered_column c
                  WHERE c.identifies OPERATOR(pg_catalog.=) h.kind
                    AND c.protect IN ('pseudonym', 'msisdn_fpe', 'email_pseudonym'));
  IF holds IS NULL OR holds NOT IN ('refuse', 'release') THEN
    RAISE EXCEPTION 'invalid holds option "%"', holds
      USING ERRCODE = '22023', HINT = 'Use ''refuse'' (the default) or ''release''.';
  END IF;
  IF held_n OPERATOR(pg_catalog.>) 0 AND holds OPERATOR(pg_catalog.=) 'refuse' THEN
    RAISE EXCEPTION 'cannot accept a new key while legal holds cover protected columns'
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('%s active hold(s) on %s identifiers; rows protected under the key %s would no longer be recognized as held.',
                                       held_n, held_kinds, stored),
            HINT = 'Install the key file of the database''s key again; or secure the rows the holds keep and call accept_key_change(..., holds => ''release''), which releases them with the key change.';
  END IF;
  IF held_n OPERATOR(pg_catalog.>) 0 THEN
    -- released with the key change, explicitly: recorded in its audit entry
    UPDATE privacy.legal_hold h SET released_at = pg_catalog.now(), released_by = privacy_internal._invoker()
     WHERE h.released_at IS NULL
       AND (h.until IS NULL OR h.until OPERATOR(pg_catalog.>) pg_catalog.now())
       AND EXISTS (SELECT FROM privacy.registered_column c
                    WHERE c.identifies OPERATOR(pg_catalog.=) h.kind
                      AND c.protect IN ('pseudonym', 'msisdn_fpe', 'email_pseudonym'));
  END IF;
  UPDATE privacy.key_state SET fingerprint = loaded, recorded_at = pg_catalog.now();
  -- With an erasure ledger: the change is a line of the database's chain,
  -- made under the replaced key; without that key, a new chain
  -- (src/sql/75_subject_ledger.sql).
  ledger := privacy_internal._ledger_record_key_change(stored, loaded);
  -- The audit entries and erasure ledger lines made under the replaced key
  -- are checked with it: kept listed after the new one, they stay
  -- verifiable (privacy.key_versions).
  IF NOT privacy_internal._key_listed(stored) THEN
    RAISE WARNING 'the replaced key % is not listed in pg_privacy.key_file', stored
      USING DETAIL = 'The audit entries and erasure ledger lines made under it cannot be verified while it is not.'
                     || CASE WHEN ledger OPERATOR(pg_catalog.=) 'forked'
                             THEN ' This database''s erasures go on in a new chain of the erasure ledger.' ELSE '' END,
            HINT = pg_catalog.format('List its file after the new key''s in pg_privacy.key_file (see privacy.key_versions), or keep the key file of fingerprint %s where it can be listed again.', stored);
  END IF;
  PERFORM privacy_internal._invalidate('privacy.key_state'::regclass);
  -- The rules the shards of protected Citus tables carry are signed
  -- under the key (src/protect.c): signed again under the new one.
  PERFORM privacy_internal._protect_citus_resign(NULL);
  PERFORM privacy_internal._audit('key.change', NULL,
                         pg_catalog.jsonb_build_object('from', stored, 'to', loaded,
                                                       'holds_released', held_n, 'erasure_ledger', ledger,
                                                       'rekey_pending', pending));
  IF pending OPERATOR(pg_catalog.>) 0 THEN
    RAISE NOTICE '% relation(s) hold phone-number pseudonyms under the replaced key', pending
      USING DETAIL = 'Until privacy.rekey() converts them, rows written there are pseudonymized under the replaced key; export, erasure and restriction find their rows under either key, and privacy.reidentify_msisdn() needs the key of the row (privacy.row_key()).',
            HINT = 'Run CALL privacy.rekey() now (privacy.rekey_progress shows what is left); keep the replaced key listed in pg_privacy.key_file until it is done.';
  END IF;
  RETURN loaded;
END
$$;
COMMENT ON FUNCTION privacy.accept_key_change(text, text) IS
  'declare that the loaded master key replaces the database''s key of the given fingerprint (phone-number pseudonyms are then converted by privacy.rekey(), other pseudonyms are not; refused while legal holds cover protected columns unless holds => ''release'')';
-- The audit log: append-only, hash-chained under a key, anchored outside
-- the database.
--
-- Every privacy operation (catalog changes, purges, exports, erasures,
-- restrictions, consent changes, re-identifications) appends one entry
-- through privacy_internal._audit().  Entries never hold a raw identifier: subjects
-- are referred to by keyed pseudonyms.
--
-- The chain.  Each entry's hash is HMAC-SHA256 under the audit chain key,
-- a working key derived from the master key (HKDF, purpose "audit", a
-- domain of its own, key version 1), over the previous entry's hash and
-- every field of the entry, each length-prefixed (privacy_internal._audit_digest,
-- src/audit.c).  An entry changed, removed or inserted breaks the chain, and
-- whoever edits the table or a dump without the key cannot recompute it:
-- plain SHA-256 or any other keyless recomputation does not verify.  Each
-- entry names the fingerprint of the key it was chained under
-- (privacy.key_fingerprint()); that column is covered by the MAC.
--
-- The anchor.  A superuser of the live server can use the key, so the key
-- alone does not protect the chain against her.  When a transaction that
-- appended entries commits, the newest head is written to the server log,
-- and only there (never to the client, statement hidden):
--     LOG:  pg_privacy audit head: id=N hash=HEX key=pgp1:...
-- A log collector keeps these lines outside the database.  Because the line
-- is written at commit, a transaction or subtransaction that rolls back
-- writes none, and every anchor names a committed entry; the collector
-- keeps the newest.  (A crash between commit and log write loses one line,
-- which is harmless: the previous anchor still verifies.  A prepared
-- transaction writes no anchor.)  A superuser can write lines of her own to
-- the log, but cannot remove the ones the collector already holds.
--
-- Verification.  privacy.verify_audit_log() walks the chain in id order and
-- returns NULL when every link and every MAC verifies and privacy.audit_head
-- names the last entry, else the id of the first entry that does not verify
-- (changed, or following a removed entry; a removed or changed newest
-- entry is reported as the id the head row names).  It needs the key: with
-- no key loaded it fails with 55000.  Entries chained under another key
-- (a dump restored onto a server with another key file) cannot be verified
-- here: it fails with 55000 naming both fingerprints, and never says
-- intact.  In a database updated from 0.1.0, the entries 0.1.0 wrote
-- (key_fingerprint NULL, plain SHA-256) verify as the chain's prefix up to
-- the head recorded in privacy.audit_legacy, and only there (see that
-- table).  privacy.verify_audit_log(head_id, head_hash) does the same and
-- also checks that the chain holds the head the caller supplies (an anchor
-- taken from the log): an entry up to the head changed or removed, the
-- head's entry missing or with another hash (a truncated tail with the
-- head row rewritten, a recomputed chain), or an entry after it that does
-- not verify, is reported as the id of the first bad entry, the supplied
-- head_id when the chain does not hold the head.

CREATE SEQUENCE privacy.audit_log_id_seq;

CREATE TABLE privacy.audit_log (
  id         bigint      PRIMARY KEY,
  at         timestamptz NOT NULL,
  actor      name        NOT NULL,   -- session (login) user
  role       name        NOT NULL,   -- role the statement ran as (SET ROLE)
  event      text        NOT NULL,   -- e.g. 'catalog.register_column'
  object     text,                   -- e.g. the table concerned
  detail     jsonb       NOT NULL DEFAULT '{}',
  prev_hash  bytea       NOT NULL,
  hash       bytea       NOT NULL,   -- HMAC-SHA256 under the audit chain key
  key_fingerprint text               -- the key it was chained under (NULL:
                                     -- a 0.1.0 entry, see audit_legacy)
);
COMMENT ON TABLE privacy.audit_log IS
  'pg_privacy audit trail: append-only, hash-chained under a key; never holds a raw identifier';

-- The head of the chain: one row, locked by each writer, so entries are
-- chained in commit order and a removed last entry is still detected.
CREATE TABLE privacy.audit_head (
  singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  last_id    bigint  NOT NULL,
  last_hash  bytea   NOT NULL
);
COMMENT ON TABLE privacy.audit_head IS
  'pg_privacy: the id and hash of the newest audit entry';

-- Entries written by pg_privacy 0.1.0, before ALTER EXTENSION pg_privacy
-- UPDATE to 0.2.0: their hash is plain SHA-256 (no key) and their
-- key_fingerprint NULL.  The update records the legacy chain's head here;
-- a fresh 0.2.0 install leaves it empty, so it accepts no legacy entry.
-- Legacy entries verify only as the prefix of the chain up to this head
-- (never after a keyed entry, never beyond last_id): whoever cannot use
-- the key cannot append or downgrade entries.  They are weaker than keyed
-- ones: anyone who can write the table can recompute their plain SHA-256.
-- What binds them is the first keyed entry after them (its MAC covers the
-- legacy head as its prev_hash) and the head recorded here; the update
-- appends that keyed entry when a key is loaded.
CREATE TABLE privacy.audit_legacy (
  singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  last_id    bigint  NOT NULL,
  last_hash  bytea   NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE privacy.audit_legacy IS
  'pg_privacy: the head of the audit chain written by 0.1.0 (plain SHA-256), empty on a fresh install';

SELECT pg_catalog.pg_extension_config_dump('privacy.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.audit_log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.audit_head', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.audit_legacy', '');

-- The hash of a 0.1.0 entry: plain SHA-256 over the previous hash and the
-- fields, as pg_privacy 0.1.0 computed it.  Used only to verify the legacy
-- prefix of an updated database's chain (see audit_legacy); never to
-- append.  Internal.
CREATE FUNCTION privacy_internal._audit_legacy_digest(prev bytea, id bigint, at timestamptz,
                                             actor name, role name, event text,
                                             object text, detail jsonb)
  RETURNS bytea
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT pg_catalog.sha256(
    prev OPERATOR(pg_catalog.||) pg_catalog.convert_to(
      pg_catalog.concat_ws(
        '|',
        id::text,
        (EXTRACT(epoch FROM at) OPERATOR(pg_catalog.*) 1000000)::bigint::text,
        pg_catalog.length(actor::text) || ':' || actor::text,
        pg_catalog.length(role::text) || ':' || role::text,
        pg_catalog.length(event) || ':' || event,
        CASE WHEN object IS NULL THEN '-'
             ELSE pg_catalog.length(object) || ':' || object END,
        pg_catalog.length(detail::text) || ':' || detail::text),
      'UTF8'))
$$;
COMMENT ON FUNCTION privacy_internal._audit_legacy_digest(bytea, bigint, timestamptz, name, name, text, text, jsonb) IS
  'internal: plain SHA-256 hash of an audit entry written by pg_privacy 0.1.0 (verification only)';

-- The MAC of one entry under the audit chain key (src/audit.c): over the
-- previous hash and each field, every field length-prefixed.  Only object
-- may be NULL; 55000 without a usable key.  Internal, not for PUBLIC: whoever
-- may call it can forge entries.
CREATE FUNCTION privacy_internal._audit_digest(prev bytea, id bigint, at timestamptz,
                                      actor name, role name, event text,
                                      object text, detail jsonb,
                                      key_fingerprint text)
  RETURNS bytea
  LANGUAGE c STABLE PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_audit_digest';
COMMENT ON FUNCTION privacy_internal._audit_digest(bytea, bigint, timestamptz, name, name, text, text, jsonb, text) IS
  'internal: keyed hash (HMAC-SHA256 under the audit chain key) of one audit entry chained to the previous one';

-- Append one entry (src/audit.c): the head row locked (writers queue
-- there, and under REPEATABLE READ a concurrent append raises a
-- serialization failure instead of forking the chain), the entry chained
-- to the head's hash under the current key (55000 without one: nothing is
-- appended unkeyed), the head moved to it and noted for the server log at
-- commit.  Refused on a Citus worker: one chain, on the coordinator.  The
-- head row is found again by where this transaction last wrote it, so a
-- transaction appending many entries does not scan the versions it left
-- behind.  Internal: called by the extension's own functions.
CREATE FUNCTION privacy_internal._audit(event text, object text DEFAULT NULL,
                               detail jsonb DEFAULT '{}')
  RETURNS bigint
  LANGUAGE c VOLATILE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
  AS 'MODULE_PATHNAME', 'pgp_audit_append';
COMMENT ON FUNCTION privacy_internal._audit(text, text, jsonb) IS
  'internal: append one entry to the keyed, hash-chained audit log';

-- The walk behind both verify_audit_log functions (see the top of this
-- file).  head_id/head_hash NULL: no supplied head.  Every comparison is
-- NULL-safe: a NULL where the table says NOT NULL (constraints dropped by
-- a superuser) is a mismatch, never a pass.
CREATE FUNCTION privacy_internal._audit_verify(head_id bigint, head_hash bytea) RETURNS bigint
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r          record;
  prev       bytea := '\x'::bytea;
  last_id    bigint := 0;
  head       record;
  fp         text;
  head_seen  boolean := false;
  other_from bigint;
  other_to   bigint;
  other_fp   text;
  legacy     record;
  keyed_seen boolean := false;
  legacy_end boolean := false;
  cur_key    text;      -- the key of the keyed entries so far
  seg_start  bigint;    -- the first entry under it
  db_key     text;
BEGIN
  -- Fails closed (55000) when no usable key is loaded.
  fp := privacy.key_fingerprint();
  -- the head of the 0.1.0 chain of an updated database (none: fresh install)
  SELECT * INTO legacy FROM privacy.audit_legacy;
  FOR r IN SELECT * FROM privacy.audit_log ORDER BY id LOOP
    -- the supplied head's entry was passed over: it is not in the chain
    IF head_id IS NOT NULL AND NOT head_seen AND r.id OPERATOR(pg_catalog.>) head_id THEN
      RETURN head_id;
    END IF;
    IF (r.prev_hash OPERATOR(pg_catalog.=) prev) IS NOT TRUE THEN
      RETURN r.id;
    END IF;
    IF r.key_fingerprint IS NULL THEN
      -- A 0.1.0 entry (plain SHA-256, weaker: see audit_legacy).  Only the
      -- prefix of the chain up to the recorded legacy head may be legacy:
      -- never after a keyed entry, never on a fresh install.
      IF keyed_seen OR legacy_end OR legacy.last_id IS NULL
         OR r.id OPERATOR(pg_catalog.>) legacy.last_id
         OR (r.hash OPERATOR(pg_catalog.=) privacy_internal._audit_legacy_digest(
               r.prev_hash, r.id, r.at, r.actor, r.role, r.event, r.object, r.detail)) IS NOT TRUE THEN
        RETURN r.id;
      END IF;
      IF r.id OPERATOR(pg_catalog.=) legacy.last_id THEN
        IF (r.hash OPERATOR(pg_catalog.=) legacy.last_hash) IS NOT TRUE THEN
          RETURN r.id;
        END IF;
        legacy_end := true;
      END IF;
    ELSIF (r.key_fingerprint OPERATOR(pg_catalog.=) fp) IS TRUE
          OR (r.key_fingerprint IS NOT NULL AND privacy_internal._key_listed(r.key_fingerprint)) THEN
      -- under the loaded key, or an older one pg_privacy.key_file lists
      -- (_audit_digest takes the key the entry names).
      -- The legacy prefix, when there is one, ends at its recorded head
      IF legacy.last_id IS NOT NULL AND NOT legacy_end THEN
        RETURN r.id;
      END IF;
      keyed_seen := true;
      -- The chain's key changes only where accept_key_change says so: its
      -- entry, under the new key, names the key before and the new one.
      -- Whoever still holds a replaced key cannot append under it.
      IF cur_key IS NOT NULL AND r.key_fingerprint OPERATOR(pg_catalog.<>) cur_key
         AND (r.event OPERATOR(pg_catalog.<>) 'key.change'
              OR (r.detail OPERATOR(pg_catalog.->>) 'from') IS DISTINCT FROM cur_key
              OR (r.detail OPERATOR(pg_catalog.->>) 'to') IS DISTINCT FROM r.key_fingerprint) THEN
        RETURN r.id;
      END IF;
      IF cur_key IS DISTINCT FROM r.key_fingerprint THEN
        seg_start := r.id;
      END IF;
      cur_key := r.key_fingerprint;
      IF (r.hash OPERATOR(pg_catalog.=) privacy_internal._audit_digest(
            r.prev_hash, r.id, r.at, r.actor, r.role, r.event, r.object, r.detail,
            r.key_fingerprint)) IS NOT TRUE THEN
        RETURN r.id;
      END IF;
    ELSE
      -- chained under a key not listed: links are checked, MACs cannot be
      IF legacy.last_id IS NOT NULL AND NOT legacy_end THEN
        RETURN r.id;
      END IF;
      -- (never intact then: 55000 below, whatever else the walk finds)
      keyed_seen := true;
      other_from := COALESCE(other_from, r.id);
      other_to := r.id;
      other_fp := COALESCE(other_fp, r.key_fingerprint, '(none)');
    END IF;
    IF r.id OPERATOR(pg_catalog.=) head_id THEN
      IF (r.hash OPERATOR(pg_catalog.=) head_hash) IS NOT TRUE THEN
        RETURN head_id;
      END IF;
      head_seen := true;
    END IF;
    prev := r.hash;
    last_id := r.id;
  END LOOP;
  IF head_id IS NOT NULL AND NOT head_seen THEN
    RETURN head_id;
  END IF;
  -- the recorded legacy head must be in the chain
  IF legacy.last_id IS NOT NULL AND NOT legacy_end THEN
    RETURN legacy.last_id;
  END IF;
  SELECT * INTO head FROM privacy.audit_head;
  IF FOUND AND ((head.last_id OPERATOR(pg_catalog.=) last_id) IS NOT TRUE
                OR (head.last_hash OPERATOR(pg_catalog.=) prev) IS NOT TRUE) THEN
    RETURN COALESCE(head.last_id, last_id);
  END IF;
  IF NOT FOUND AND last_id OPERATOR(pg_catalog.<>) 0 THEN
    RETURN last_id;
  END IF;
  -- The newest entries are under the database's key: a tail under an
  -- older key was appended by whoever still holds it.
  IF other_from IS NULL AND cur_key IS DISTINCT FROM fp AND cur_key IS NOT NULL THEN
    SELECT s.fingerprint INTO db_key FROM privacy.key_state s;
    IF db_key IS DISTINCT FROM fp THEN
      RAISE EXCEPTION 'the loaded key is not the database''s key'
        USING ERRCODE = '55000',
              DETAIL = pg_catalog.format('The database''s key is %s; the loaded key is %s.', db_key, fp),
              HINT = 'Verify the audit log once the key change is declared with accept_key_change, or with the database''s key loaded.';
    END IF;
    RETURN seg_start;
  END IF;
  IF other_from IS NOT NULL THEN
    RAISE EXCEPTION 'the audit log was chained under another key'
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('Entries %s to %s name key %s, which pg_privacy.key_file does not list; the loaded key is %s.',
                                       other_from, other_to,
                                       CASE WHEN other_fp OPERATOR(pg_catalog.~) '^pgp1:[0-9a-f]{16}$' THEN other_fp
                                            ELSE '(not a key fingerprint)' END, fp),
            HINT = 'List the file of that key after the current one in pg_privacy.key_file and reload '
                   '(privacy.key_versions shows the keys the log needs); its entries cannot be verified under another key.';
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION privacy_internal._audit_verify(bigint, bytea) IS
  'internal: walk and verify the audit chain, optionally against a supplied head';

-- NULL when the chain is intact, else the id of the first entry that does
-- not verify (changed, or following a removed entry).  A removed or changed
-- newest entry is reported as the id the chain head names.  55000 without
-- the key, or when entries were chained under another key.
CREATE FUNCTION privacy.verify_audit_log() RETURNS bigint
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
  SELECT privacy_internal._audit_verify(NULL::bigint, NULL::bytea)
$$;
COMMENT ON FUNCTION privacy.verify_audit_log() IS
  'NULL when the audit hash chain is intact, else the id of the first entry that does not verify';

-- The same, and the chain must hold the head the caller supplies: an
-- anchor "pg_privacy audit head: id=N hash=HEX" from the server log,
-- e.g. verify_audit_log(N, decode('HEX', 'hex')).
CREATE FUNCTION privacy.verify_audit_log(head_id bigint, head_hash bytea) RETURNS bigint
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
BEGIN
  IF head_id IS NULL OR head_hash IS NULL THEN
    RAISE EXCEPTION 'audit head id and hash must not be null'
      USING ERRCODE = '22004',
            HINT = 'Pass the id and hash of a "pg_privacy audit head" line of the server log, '
                   'or call verify_audit_log() without a head.';
  END IF;
  RETURN privacy_internal._audit_verify(head_id, head_hash);
END
$$;
COMMENT ON FUNCTION privacy.verify_audit_log(bigint, bytea) IS
  'NULL when the audit chain is intact and holds the given head (from the server log), else the id of the first entry that does not verify';

-- Append-only: refuse UPDATE, DELETE and TRUNCATE to everyone, the table
-- owner included.  (A superuser can still disable the trigger; the hash
-- chain then shows what was done.)
CREATE FUNCTION privacy_internal._audit_append_only() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RAISE EXCEPTION 'privacy.audit_log is append-only'
    USING ERRCODE = '42501',
          DETAIL = pg_catalog.format('%s is not allowed on the audit log.', TG_OP);
END
$$;

CREATE TRIGGER audit_log_append_only
  BEFORE UPDATE OR DELETE ON privacy.audit_log
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._audit_append_only();
CREATE TRIGGER audit_log_no_truncate
  BEFORE TRUNCATE ON privacy.audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._audit_append_only();
-- The personal-data catalog: purposes, registered tables and columns.
--
-- The catalog is the record of processing (GDPR Art. 30) and the map every
-- other part of pg_privacy follows: the protect trigger reads each column's
-- transformation from it, retention its policies, export and erasure the
-- identifier kinds and links.  Tables are referred to by regclass, which
-- follows renames and survives pg_dump/pg_restore; columns by name, kept
-- right across renames and drops by the event triggers below.

CREATE TABLE privacy.legal_basis (
  name        text PRIMARY KEY,
  article     text NOT NULL,
  description text NOT NULL
);
COMMENT ON TABLE privacy.legal_basis IS 'pg_privacy: the lawful bases of GDPR Art. 6(1)';
INSERT INTO privacy.legal_basis VALUES
  ('consent',             'GDPR Art. 6(1)(a)', 'the data subject has given consent for the purpose'),
  ('contract',            'GDPR Art. 6(1)(b)', 'necessary for a contract with the data subject'),
  ('legal_obligation',    'GDPR Art. 6(1)(c)', 'necessary for a legal obligation of the controller'),
  ('vital_interest',      'GDPR Art. 6(1)(d)', 'necessary to protect vital interests'),
  ('public_task',         'GDPR Art. 6(1)(e)', 'necessary for a task in the public interest'),
  ('legitimate_interest', 'GDPR Art. 6(1)(f)', 'necessary for legitimate interests of the controller');

CREATE TABLE privacy.category (
  name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]*$'),
  description text NOT NULL,
  special     boolean NOT NULL DEFAULT false,   -- GDPR Art. 9/10 data
  builtin     boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE privacy.category IS 'pg_privacy: categories of personal data';
INSERT INTO privacy.category (name, description, special, builtin) VALUES
  ('name',              'a person''s name', false, true),
  ('email',             'e-mail address', false, true),
  ('phone',             'telephone number (MSISDN), own or a counterparty''s', false, true),
  ('postal_address',    'street, postal code, town', false, true),
  ('company',           'company name (personal data for sole traders)', false, true),
  ('business_id',       'business registration number (CVR)', false, true),
  ('customer_number',   'customer or account number', false, true),
  ('bank_account',      'bank account for direct debit', false, true),
  ('national_id',       'national identity number (CPR)', false, true),
  ('traffic',           'traffic data: time, duration, price of a call or session', false, true),
  ('location',          'location data (country level)', false, true),
  ('online_identifier', 'IP address, IMSI, IMEI and similar', false, true),
  ('free_text',         'free text that may mention a person', false, true),
  ('other',             'other personal data', false, true);

-- Identifier kinds: how a data subject is reached, and how values of the
-- kind are normalized before they are compared.
CREATE TABLE privacy.identifier_kind (
  name        text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]*$'),
  normalize   text NOT NULL CHECK (normalize IN ('msisdn', 'email', 'text')),
  description text,
  builtin     boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE privacy.identifier_kind IS
  'pg_privacy: kinds of identifier a data subject is reached by';
INSERT INTO privacy.identifier_kind VALUES
  ('customer', 'text',   'customer number', true),
  ('msisdn',   'msisdn', 'telephone number, E.164', true),
  ('email',    'email',  'e-mail address', true),
  ('cvr',      'text',   'Danish business registration number', true);

CREATE TABLE privacy.purpose (
  name             text PRIMARY KEY CHECK (name ~ '^[a-z][a-z0-9_]*$'),
  legal_basis      text NOT NULL REFERENCES privacy.legal_basis,
  requires_consent boolean NOT NULL DEFAULT false,
  description      text,
  recipients       text[] NOT NULL DEFAULT '{}',
  defined_at       timestamptz NOT NULL DEFAULT now(),
  CHECK (requires_consent = (legal_basis = 'consent'))
);
COMMENT ON TABLE privacy.purpose IS 'pg_privacy: purposes of processing and their legal basis';

CREATE TABLE privacy.registered_table (
  tbl           regclass PRIMARY KEY,
  purpose       text NOT NULL REFERENCES privacy.purpose ON UPDATE CASCADE,
  registered_at timestamptz NOT NULL DEFAULT now(),
  registered_by name NOT NULL DEFAULT current_user
);
COMMENT ON TABLE privacy.registered_table IS 'pg_privacy: tables holding personal data';

CREATE TABLE privacy.registered_column (
  tbl         regclass NOT NULL REFERENCES privacy.registered_table ON DELETE CASCADE,
  col         name NOT NULL,
  attnum      smallint NOT NULL,  -- kept current by _registered_column_attnum
  category    text NOT NULL REFERENCES privacy.category,
  identifies  text REFERENCES privacy.identifier_kind,
  link        text NOT NULL DEFAULT 'owner' CHECK (link IN ('owner', 'mention')),
  protect     text CHECK (protect IN ('pseudonym', 'msisdn_fpe', 'email_pseudonym', 'country', 'null')),
  domain      text NOT NULL DEFAULT 'default'
              CHECK (pg_catalog.octet_length(domain) BETWEEN 1 AND 200),
  mask        text,               -- privacy.set_mask: overrides the category's mask
  PRIMARY KEY (tbl, col)
);
COMMENT ON TABLE privacy.registered_column IS 'pg_privacy: columns holding personal data';

-- Pseudonymization domains are capabilities: whoever produces a domain's
-- pseudonyms (by the keyed functions, or by writing a table protected in
-- it and reading the result) can reverse them by trying every value.  The
-- extension owner and superusers hold every domain, "default" included;
-- any other role holds the domains granted here to it or to a role whose
-- privileges it has (privacy.grant_domain, privacy.revoke_domain).
CREATE TABLE privacy.domain_grant (
  domain      text NOT NULL CHECK (pg_catalog.octet_length(domain) BETWEEN 1 AND 200),
  grantee     regrole NOT NULL,
  granted_at  timestamptz NOT NULL DEFAULT now(),
  granted_by  name NOT NULL,
  PRIMARY KEY (domain, grantee)
);
COMMENT ON TABLE privacy.domain_grant IS
  'pg_privacy: roles that may produce the pseudonyms of a domain';

-- Column-name patterns that look personal, for privacy.undeclared_columns.
CREATE TABLE privacy.name_pattern (
  pattern  text PRIMARY KEY,        -- case-insensitive POSIX regular expression
  category text NOT NULL REFERENCES privacy.category,
  builtin  boolean NOT NULL DEFAULT false
);
COMMENT ON TABLE privacy.name_pattern IS
  'pg_privacy: column names that look personal (privacy.undeclared_columns)';
INSERT INTO privacy.name_pattern VALUES
  ('msisdn|phone|mobile|(^|_)tel(_|$)|telephone|(^|_)[ab]_?number$|caller|callee', 'phone', true),
  ('e_?mail', 'email', true),
  ('(^|_)((first|last|full|given|family|middle|sur|contact|person)_?)?name$', 'name', true),
  ('address|street|(^|_)addr|postal|(^|_)zip|postcode|(^|_)city$', 'postal_address', true),
  ('account|iban|(^|_)bic$|(^|_)reg_?no$', 'bank_account', true),
  ('(^|_)cpr|(^|_)ssn(_|$)|national_id|personnummer|birth|(^|_)dob$', 'national_id', true),
  ('(^|_)cvr|(^|_)vat_?(no|number|id)', 'business_id', true),
  ('ip_?addr|(^|_)imsi|(^|_)imei|mac_?addr', 'online_identifier', true),
  ('(^|_)company', 'company', true),
  ('customer_?(no|number|id)$', 'customer_number', true),
  -- Danish and Nordic names (with and without æ, ø, å, ä, ö)
  ('telefon|(^|_)tlf|mobil|puhelin', 'phone', true),
  ('e_?post|s[aä]hk[oö]posti', 'email', true),
  ('(^|_)((for|efter|mellem|fuld|kontakt|etter|f[oö]r|slekt)_?)?(navn|namn|nimi)$|(suku|etu)nimi', 'name', true),
  ('adresse|adress|osoite|(^|_)postnr|post_?nummer|postinumero|(^|_)gade(_|$)|(^|_)vej(_|$)|bynavn|(^|_)postby$|postort', 'postal_address', true),
  ('(^|_)cpr|person_?n(umme)?r|f(ø|oe|o)dsels_?(nummer|nr|dato)|f[oö]delse_?datum|henkil[oö]tunnus|(^|_)hetu$|syntym[aä]', 'national_id', true),
  ('kunde_?n(umme)?r|kund_?n(umme)?r|asiakas_?n(ume)?ro', 'customer_number', true),
  ('konto_?n(umme)?r|tilinumero|(^|_)reg_?nr', 'bank_account', true),
  ('org(anisations|anisasjons)?_?n(umme)?r|y_?tunnus', 'business_id', true),
  ('(^|_)firma|virksomhed|f[oö]retag|yritys', 'company', true);

SELECT pg_catalog.pg_extension_config_dump('privacy.category', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('privacy.identifier_kind', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('privacy.name_pattern', 'WHERE NOT builtin');
SELECT pg_catalog.pg_extension_config_dump('privacy.purpose', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.registered_table', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.registered_column', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.domain_grant', '');

-- May the role produce pseudonyms of the domain?  Cached per backend,
-- dropped when privacy.domain_grant or a role membership changes.
CREATE FUNCTION privacy_internal._domain_allowed(role oid, domain text) RETURNS boolean
  LANGUAGE c STABLE STRICT PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_domain_allowed_sql';
COMMENT ON FUNCTION privacy_internal._domain_allowed(oid, text) IS
  'internal: whether a role may produce the pseudonyms of a domain (privacy.domain_grant)';

-- Raise 42501 unless the owners of the table and of each of its partitions
-- hold the domain of every keyed protect transformation given.
CREATE FUNCTION privacy_internal._check_domain_owner(tbl regclass, domain text) RETURNS void
  LANGUAGE plpgsql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  owner oid;
BEGIN
  FOR owner IN
    SELECT DISTINCT c.relowner FROM pg_catalog.pg_class c
     WHERE c.oid OPERATOR(pg_catalog.=) tbl
        OR c.oid IN (SELECT p.relid FROM pg_catalog.pg_partition_tree(tbl) p)
  LOOP
    IF NOT privacy_internal._domain_allowed(owner, domain) THEN
      RAISE EXCEPTION 'role "%" may not produce pseudonyms of domain "%"',
                      pg_catalog.pg_get_userbyid(owner), domain
        USING ERRCODE = '42501',
              DETAIL = pg_catalog.format('Role %I owns %s (or a partition of it); whoever writes a protected table and reads it produces the domain''s pseudonyms, and can reverse them by trying every value.',
                                         pg_catalog.pg_get_userbyid(owner), tbl),
              HINT = 'The owner of pg_privacy grants a domain with privacy.grant_domain().';
    END IF;
  END LOOP;
END
$$;

-- Keep registered_column.attnum matching the column name, also when rows
-- come back from a dump (attribute numbers can change across a restore).
CREATE FUNCTION privacy_internal._registered_column_attnum() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  SELECT a.attnum INTO NEW.attnum FROM pg_catalog.pg_attribute a
   WHERE a.attrelid OPERATOR(pg_catalog.=) NEW.tbl
     AND a.attname OPERATOR(pg_catalog.=) NEW.col
     AND NOT a.attisdropped;
  IF NEW.attnum IS NULL THEN
    RAISE EXCEPTION 'column "%" of relation % does not exist', NEW.col, NEW.tbl
      USING ERRCODE = '42703';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER registered_column_attnum
  BEFORE INSERT OR UPDATE OF tbl, col ON privacy.registered_column
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._registered_column_attnum();
-- (also in logical replication's apply: the column's number on this server)
ALTER TABLE privacy.registered_column ENABLE ALWAYS TRIGGER registered_column_attnum;

-- A change of a declaration, however made, reaches every session's
-- derived statements and table descriptions (src/subject.c).  The
-- triggers fire ALWAYS: also in a session with session_replication_role =
-- replica, and in logical replication's apply of a declaration table, where
-- ordinary triggers stay silent and sessions would keep stale rules.
CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE ON privacy.identifier_kind
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._catalog_changed();
CREATE TRIGGER catalog_truncated AFTER TRUNCATE ON privacy.identifier_kind
  FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._catalog_changed();
ALTER TABLE privacy.identifier_kind ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;
CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE ON privacy.legal_basis
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._catalog_changed();
CREATE TRIGGER catalog_truncated AFTER TRUNCATE ON privacy.legal_basis
  FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._catalog_changed();
ALTER TABLE privacy.legal_basis ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;
CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE ON privacy.purpose
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._catalog_changed();
CREATE TRIGGER catalog_truncated AFTER TRUNCATE ON privacy.purpose
  FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._catalog_changed();
ALTER TABLE privacy.purpose ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;
CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE ON privacy.registered_table
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._catalog_changed();
CREATE TRIGGER catalog_truncated AFTER TRUNCATE ON privacy.registered_table
  FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._catalog_changed();
ALTER TABLE privacy.registered_table ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;
CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE ON privacy.registered_column
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._catalog_changed();
CREATE TRIGGER catalog_truncated AFTER TRUNCATE ON privacy.registered_column
  FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._catalog_changed();
ALTER TABLE privacy.registered_column ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;

------------------------------------------------------------------------
-- Declaring purposes, tables and columns
------------------------------------------------------------------------

CREATE FUNCTION privacy.define_purpose(name text, legal_basis text,
                                       requires_consent boolean DEFAULT false,
                                       description text DEFAULT NULL,
                                       recipients text[] DEFAULT '{}')
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  old privacy.purpose;
  needs_consent boolean;
BEGIN
  IF name IS NULL OR legal_basis IS NULL THEN
    RAISE EXCEPTION 'purpose name and legal basis must not be null'
      USING ERRCODE = '22004';
  END IF;
  IF name !~ '^[a-z][a-z0-9_]*$' OR pg_catalog.length(name) > 63 THEN
    RAISE EXCEPTION 'invalid purpose name "%"', name
      USING ERRCODE = '22023',
            DETAIL = 'A purpose name is 1 to 63 lower-case letters, digits and underscores, starting with a letter.';
  END IF;
  IF NOT EXISTS (SELECT FROM privacy.legal_basis b WHERE b.name OPERATOR(pg_catalog.=) legal_basis) THEN
    RAISE EXCEPTION 'unknown legal basis "%"', legal_basis
      USING ERRCODE = '22023',
            HINT = 'Use one of: ' || (SELECT pg_catalog.string_agg(b.name, ', ' ORDER BY b.name)
                                        FROM privacy.legal_basis b) || '.';
  END IF;
  needs_consent := COALESCE(requires_consent, false)
                   OR legal_basis OPERATOR(pg_catalog.=) 'consent';
  IF needs_consent AND legal_basis OPERATOR(pg_catalog.<>) 'consent' THEN
    RAISE EXCEPTION 'a purpose that requires consent must have legal basis "consent"'
      USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('Purpose "%s" was given legal basis "%s".', name, legal_basis);
  END IF;
  IF recipients IS NULL OR pg_catalog.array_position(recipients, NULL) IS NOT NULL THEN
    RAISE EXCEPTION 'recipients must not be null or hold null elements'
      USING ERRCODE = '22004';
  END IF;

  SELECT * INTO old FROM privacy.purpose p WHERE p.name OPERATOR(pg_catalog.=) define_purpose.name
    FOR UPDATE;
  INSERT INTO privacy.purpose AS p (name, legal_basis, requires_consent, description, recipients)
       VALUES (name, legal_basis, needs_consent, description, recipients)
  ON CONFLICT ON CONSTRAINT purpose_pkey DO UPDATE
       SET legal_basis = EXCLUDED.legal_basis,
           requires_consent = EXCLUDED.requires_consent,
           description = EXCLUDED.description,
           recipients = EXCLUDED.recipients;
  PERFORM privacy_internal._audit(
    CASE WHEN old.name IS NULL THEN 'catalog.define_purpose' ELSE 'catalog.redefine_purpose' END,
    name,
    pg_catalog.jsonb_build_object('legal_basis', legal_basis,
                                  'requires_consent', needs_consent,
                                  'recipients', pg_catalog.to_jsonb(recipients))
    OPERATOR(pg_catalog.||)
    CASE WHEN old.name IS NULL THEN '{}'::jsonb
         ELSE pg_catalog.jsonb_build_object('previous_legal_basis', old.legal_basis,
                                            'previous_recipients', pg_catalog.to_jsonb(old.recipients)) END);
END
$$;
COMMENT ON FUNCTION privacy.define_purpose(text, text, boolean, text, text[]) IS
  'define (or redefine) a purpose of processing with its legal basis and recipients';

CREATE FUNCTION privacy.drop_purpose(name text) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
BEGIN
  IF name IS NULL THEN
    RAISE EXCEPTION 'purpose must not be null' USING ERRCODE = '22004';
  END IF;
  IF EXISTS (SELECT FROM privacy.registered_table t WHERE t.purpose OPERATOR(pg_catalog.=) name) THEN
    RAISE EXCEPTION 'purpose "%" is still in use', name
      USING ERRCODE = '2BP01',
            DETAIL = (SELECT pg_catalog.format('Registered tables: %s.', pg_catalog.string_agg(t.tbl::text, ', ' ORDER BY t.tbl::text))
                        FROM privacy.registered_table t WHERE t.purpose OPERATOR(pg_catalog.=) name),
            HINT = 'Give those tables another purpose with privacy.set_purpose() first.';
  END IF;
  DELETE FROM privacy.purpose p WHERE p.name OPERATOR(pg_catalog.=) drop_purpose.name;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'purpose "%" does not exist', name USING ERRCODE = '22023';
  END IF;
  PERFORM privacy_internal._audit('catalog.drop_purpose', name);
END
$$;
COMMENT ON FUNCTION privacy.drop_purpose(text) IS 'remove a purpose no table uses';

-- Raise 22023 unless the purpose exists.
CREATE FUNCTION privacy_internal._check_purpose(purpose text) RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF purpose IS NULL THEN
    RAISE EXCEPTION 'purpose must not be null' USING ERRCODE = '22004';
  END IF;
  IF NOT EXISTS (SELECT FROM privacy.purpose p WHERE p.name OPERATOR(pg_catalog.=) purpose) THEN
    RAISE EXCEPTION 'purpose "%" does not exist', purpose
      USING ERRCODE = '22023',
            HINT = COALESCE((SELECT pg_catalog.format('Existing purposes: %s%s. Define a new one with privacy.define_purpose().',
                                                     pg_catalog.string_agg(x.name, ', ' ORDER BY x.name),
                                                     CASE WHEN (SELECT pg_catalog.count(*) FROM privacy.purpose) OPERATOR(pg_catalog.>) 20
                                                          THEN ', ...' ELSE '' END)
                               FROM (SELECT p.name FROM privacy.purpose p ORDER BY p.name LIMIT 20) x
                             HAVING pg_catalog.count(*) OPERATOR(pg_catalog.>) 0),
                            'No purpose is defined yet: define it first with privacy.define_purpose().');
  END IF;
END
$$;

CREATE FUNCTION privacy.register_table(tbl regclass, purpose text) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  rel record;
  parent regclass;
BEGIN
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'table must not be null' USING ERRCODE = '22004';
  END IF;
  SELECT c.relkind, c.relpersistence, c.relispartition, n.nspname, c.reloftype
    INTO rel
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
   WHERE c.oid OPERATOR(pg_catalog.=) tbl;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'relation with OID % does not exist', tbl::oid USING ERRCODE = '42P01';
  END IF;
  IF rel.relkind NOT IN ('r', 'p', 'f') THEN
    RAISE EXCEPTION '% is not a table', tbl
      USING ERRCODE = '42809',
            DETAIL = 'Only ordinary, partitioned and foreign tables hold personal data in the catalog.';
  END IF;
  IF rel.relpersistence OPERATOR(pg_catalog.=) 't' THEN
    RAISE EXCEPTION 'cannot register temporary table %', tbl USING ERRCODE = '42809';
  END IF;
  -- A typed table's columns follow its composite type: ALTER TYPE ...
  -- CASCADE renames, drops and retypes them under a command tag no event
  -- trigger of pg_privacy sees (the catalog would not follow, the
  -- protection could be turned onto another column).
  IF rel.reloftype OPERATOR(pg_catalog.<>) 0 THEN
    RAISE EXCEPTION 'cannot register typed table %', tbl
      USING ERRCODE = '0A000',
            DETAIL = pg_catalog.format('Its columns follow composite type %s, which ALTER TYPE ... CASCADE changes without the checks that keep a registered table''s declarations and protection in force.',
                                       rel.reloftype::regtype),
            HINT = pg_catalog.format('Make it an ordinary table first: ALTER TABLE %s NOT OF.', tbl);
  END IF;
  IF rel.nspname IN ('pg_catalog', 'information_schema', 'privacy', 'privacy_internal') THEN
    RAISE EXCEPTION 'cannot register system or pg_privacy table %', tbl USING ERRCODE = '42809';
  END IF;
  IF rel.relispartition THEN
    SELECT i.inhparent::regclass INTO parent FROM pg_catalog.pg_inherits i
     WHERE i.inhrelid OPERATOR(pg_catalog.=) tbl;
    RAISE EXCEPTION 'cannot register partition % on its own', tbl
      USING ERRCODE = '42809',
            DETAIL = pg_catalog.format('It is a partition of %s.', parent),
            HINT = 'Register the partitioned table; its declarations apply to every partition.';
  END IF;
  PERFORM privacy_internal._check_owner(tbl);
  PERFORM privacy_internal._check_purpose(purpose);
  IF EXISTS (SELECT FROM privacy.registered_table t WHERE t.tbl OPERATOR(pg_catalog.=) register_table.tbl) THEN
    RAISE EXCEPTION 'table % is already registered', tbl
      USING ERRCODE = '42710',
            HINT = 'Use privacy.set_purpose() to change its purpose.';
  END IF;
  INSERT INTO privacy.registered_table (tbl, purpose, registered_by)
       VALUES (tbl, purpose, privacy_internal._invoker());
  PERFORM privacy_internal._audit('catalog.register_table', tbl::text,
                         pg_catalog.jsonb_build_object('purpose', purpose));
END
$$;
COMMENT ON FUNCTION privacy.register_table(regclass, text) IS
  'declare that a table holds personal data, kept for a purpose';

CREATE FUNCTION privacy.set_purpose(tbl regclass, purpose text) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  old text;
BEGIN
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'table must not be null' USING ERRCODE = '22004';
  END IF;
  PERFORM privacy_internal._check_purpose(purpose);
  SELECT t.purpose INTO old FROM privacy.registered_table t
   WHERE t.tbl OPERATOR(pg_catalog.=) set_purpose.tbl FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'table % is not registered', tbl
      USING ERRCODE = '55000', HINT = 'Register it with privacy.register_table().';
  END IF;
  PERFORM privacy_internal._check_owner(tbl);
  UPDATE privacy.registered_table t SET purpose = set_purpose.purpose
   WHERE t.tbl OPERATOR(pg_catalog.=) set_purpose.tbl;
  PERFORM privacy_internal._audit('catalog.set_purpose', tbl::text,
                         pg_catalog.jsonb_build_object('purpose', purpose, 'previous_purpose', old));
END
$$;
COMMENT ON FUNCTION privacy.set_purpose(regclass, text) IS 'change the purpose a registered table is kept for';

CREATE FUNCTION privacy.unregister_table(tbl regclass) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
BEGIN
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'table must not be null' USING ERRCODE = '22004',
          HINT = 'A mistyped table name given to to_regclass() yields NULL; check the name.';
  END IF;
  PERFORM privacy_internal._check_owner(tbl);
  IF privacy_internal._has_protect_trigger(tbl) THEN
    RAISE EXCEPTION 'table % is protected', tbl
      USING ERRCODE = '55000',
            DETAIL = 'Without its declarations the protect trigger would store raw values.',
            HINT = 'Remove the protection with privacy.unprotect() first.';
  END IF;
  DELETE FROM privacy.registered_table t WHERE t.tbl OPERATOR(pg_catalog.=) unregister_table.tbl;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'table % is not registered', tbl USING ERRCODE = '55000';
  END IF;
  PERFORM privacy_internal._invalidate(tbl);
  PERFORM privacy_internal._audit('catalog.unregister_table', tbl::text);
END
$$;
COMMENT ON FUNCTION privacy.unregister_table(regclass) IS
  'remove a table and its columns from the catalog';

CREATE FUNCTION privacy.register_column(tbl regclass, col name, category text,
                                        identifies text DEFAULT NULL,
                                        link text DEFAULT 'owner',
                                        protect text DEFAULT NULL,
                                        domain text DEFAULT 'default')
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  att record;
BEGIN
  IF tbl IS NULL OR col IS NULL OR category IS NULL THEN
    RAISE EXCEPTION 'table, column and category must not be null' USING ERRCODE = '22004';
  END IF;
  IF NOT EXISTS (SELECT FROM privacy.registered_table t WHERE t.tbl OPERATOR(pg_catalog.=) register_column.tbl) THEN
    RAISE EXCEPTION 'table % is not registered', tbl
      USING ERRCODE = '55000',
            HINT = 'Register it with privacy.register_table() first.';
  END IF;
  PERFORM privacy_internal._check_owner(tbl);
  SELECT a.attnum, a.atttypid, a.attnotnull, a.attgenerated, t.typcategory
    INTO att
    FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_type t ON t.oid OPERATOR(pg_catalog.=) a.atttypid
   WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attname OPERATOR(pg_catalog.=) col
     AND NOT a.attisdropped;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'column "%" of relation % does not exist', col, tbl USING ERRCODE = '42703';
  END IF;
  IF att.attnum OPERATOR(pg_catalog.<=) 0 THEN
    RAISE EXCEPTION 'cannot register system column "%"', col USING ERRCODE = '22023';
  END IF;
  IF NOT EXISTS (SELECT FROM privacy.category c WHERE c.name OPERATOR(pg_catalog.=) category) THEN
    RAISE EXCEPTION 'unknown category "%"', category
      USING ERRCODE = '22023',
            HINT = 'Use one of: ' || (SELECT pg_catalog.string_agg(c.name, ', ' ORDER BY c.name)
                                        FROM privacy.category c) || '.';
  END IF;
  IF identifies IS NOT NULL
     AND NOT EXISTS (SELECT FROM privacy.identifier_kind k WHERE k.name OPERATOR(pg_catalog.=) identifies) THEN
    RAISE EXCEPTION 'unknown identifier kind "%"', identifies
      USING ERRCODE = '22023',
            HINT = 'Use one of: ' || (SELECT pg_catalog.string_agg(k.name, ', ' ORDER BY k.name)
                                        FROM privacy.identifier_kind k) || '.';
  END IF;
  IF link IS NULL OR link NOT IN ('owner', 'mention') THEN
    RAISE EXCEPTION 'invalid link "%"', link
      USING ERRCODE = '22023', HINT = 'Use "owner" or "mention".';
  END IF;
  IF link OPERATOR(pg_catalog.=) 'mention' AND identifies IS NULL THEN
    RAISE EXCEPTION 'a mention must say which identifier kind it holds'
      USING ERRCODE = '22023', HINT = 'Pass identifies => ''msisdn'' (or another kind).';
  END IF;
  IF protect IS NOT NULL THEN
    IF protect NOT IN ('pseudonym', 'msisdn_fpe', 'email_pseudonym', 'country', 'null') THEN
      RAISE EXCEPTION 'invalid protect transformation "%"', protect
        USING ERRCODE = '22023',
              HINT = 'Use one of: pseudonym, msisdn_fpe, email_pseudonym, country, null.';
    END IF;
    IF protect OPERATOR(pg_catalog.=) 'null' AND att.attnotnull THEN
      RAISE EXCEPTION 'column "%" of relation % is NOT NULL and cannot be protected by nulling', col, tbl
        USING ERRCODE = '22023';
    END IF;
    IF protect OPERATOR(pg_catalog.<>) 'null'
       AND att.atttypid NOT IN ('text'::regtype, 'varchar'::regtype)
       AND NOT (protect OPERATOR(pg_catalog.=) 'country' AND att.atttypid OPERATOR(pg_catalog.=) 'bpchar'::regtype) THEN
      RAISE EXCEPTION 'protect transformation "%" needs a text or varchar column', protect
        USING ERRCODE = '42804',
              DETAIL = pg_catalog.format('Column "%s" of relation %s has type %s.', col, tbl,
                                         pg_catalog.format_type(att.atttypid, NULL));
    END IF;
  END IF;
  -- Identifiers are matched, normalized and cast by the extension: only
  -- built-in text and integer types (privacy_internal._identifier_type_ok).
  IF identifies IS NOT NULL AND NOT privacy_internal._identifier_type_ok(att.atttypid) THEN
    RAISE EXCEPTION 'an identifier column must have a built-in text or integer type'
      USING ERRCODE = '42804',
            DETAIL = pg_catalog.format('Column "%s" of relation %s has type %s.', col, tbl,
                                       pg_catalog.format_type(att.atttypid, NULL)),
            HINT = 'Use text, varchar, char, smallint, integer, bigint or numeric.';
  END IF;
  IF domain IS NULL OR pg_catalog.octet_length(domain) NOT BETWEEN 1 AND 200 THEN
    RAISE EXCEPTION 'invalid pseudonymization domain'
      USING ERRCODE = '22023',
            DETAIL = 'A domain is a non-empty text of at most 200 bytes.';
  END IF;
  IF protect IS NOT NULL AND att.attgenerated OPERATOR(pg_catalog.<>) '' THEN
    RAISE EXCEPTION 'cannot protect generated column "%" of relation %', col, tbl
      USING ERRCODE = '55000',
            DETAIL = 'A generated column is computed after the protect trigger and would be stored untransformed.',
            HINT = 'Protect the columns it is computed from, or register it without protect.';
  END IF;
  -- A protected table produces the pseudonyms of its domain for its owner.
  IF protect IN ('pseudonym', 'msisdn_fpe', 'email_pseudonym') THEN
    PERFORM privacy_internal._check_domain_owner(tbl, domain);
  END IF;
  IF EXISTS (SELECT FROM privacy.registered_column c
              WHERE c.tbl OPERATOR(pg_catalog.=) register_column.tbl
                AND c.col OPERATOR(pg_catalog.=) register_column.col) THEN
    RAISE EXCEPTION 'column "%" of relation % is already registered', col, tbl
      USING ERRCODE = '42710',
            HINT = 'Unregister it with privacy.unregister_column() to declare it anew.';
  END IF;
  -- A protected table's trigger transforms the column from now on; the
  -- values it holds already would stay raw among them, never found by the
  -- search for a data subject, and no conversion could tell them apart.
  -- (Not a table whose trigger carries a rule for shards, as
  -- undistribute_table leaves it: it refuses every row, and what it holds
  -- was written through the shards' trigger.)
  IF protect IS NOT NULL AND privacy_internal._has_protect_trigger(tbl) AND NOT privacy_internal._citus_table(tbl)
     AND NOT EXISTS (SELECT FROM pg_catalog.pg_trigger g
                      WHERE g.tgrelid OPERATOR(pg_catalog.=) tbl AND g.tgname OPERATOR(pg_catalog.=) 'zz_pg_privacy_protect'
                        AND g.tgnargs OPERATOR(pg_catalog.>) 0)
     AND privacy_internal._has_rows(tbl, col) THEN
    RAISE EXCEPTION 'column "%" of protected table % holds values', col, tbl
      USING ERRCODE = '55000',
            DETAIL = 'Declared protected now, its values would stay raw beside the ones the protect trigger transforms from now on, and the search for a data subject would not find them.',
            HINT = 'Declare it without protect (its values are then searched as they are written), or set it NULL in every row first; if its values are pseudonyms already, unprotect the table, declare the column, and protect it again with rewrite_existing => false.';
  END IF;
  INSERT INTO privacy.registered_column (tbl, col, attnum, category, identifies, link, protect, domain)
       VALUES (tbl, col, att.attnum, category, identifies, link, protect, domain);
  -- the shards of a protected Citus table transform by the rule their
  -- trigger carries (src/protect.c): signed again with this column
  IF protect IS NOT NULL AND privacy_internal._has_protect_trigger(tbl) AND privacy_internal._citus_table(tbl) THEN
    PERFORM privacy_internal._protect_citus_dist_check(tbl);
    PERFORM privacy_internal._protect_citus_sign(tbl);
  END IF;
  -- A table that now holds subjects' own identifiers gets the restriction
  -- check at once while any subject is restricted (73_subject_restrict.sql).
  IF identifies IS NOT NULL AND link OPERATOR(pg_catalog.=) 'owner'
     AND EXISTS (SELECT FROM privacy.restriction) THEN
    PERFORM privacy_internal._restrict_install();
  END IF;
  PERFORM privacy_internal._invalidate(tbl);
  PERFORM privacy_internal._audit('catalog.register_column', tbl::text,
                         pg_catalog.jsonb_build_object('column', col, 'category', category,
                                                       'identifies', identifies, 'link', link,
                                                       'protect', protect, 'domain', domain));
END
$$;
COMMENT ON FUNCTION privacy.register_column(regclass, name, text, text, text, text, text) IS
  'declare a column of a registered table as personal data: category, identifier kind, link, on-write protection';

CREATE FUNCTION privacy.unregister_column(tbl regclass, col name) RETURNS void
  LANGUAGE plpgsql VOLATILE STRICT
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
BEGIN
  PERFORM privacy_internal._check_owner(tbl);
  IF privacy_internal._has_protect_trigger(tbl) AND EXISTS (
       SELECT FROM privacy.registered_column c
        WHERE c.tbl OPERATOR(pg_catalog.=) unregister_column.tbl
          AND c.col OPERATOR(pg_catalog.=) unregister_column.col AND c.protect IS NOT NULL) THEN
    RAISE EXCEPTION 'column "%" of relation % is protected', col, tbl
      USING ERRCODE = '55000',
            DETAIL = 'Without its declaration the protect trigger would store raw values in it.',
            HINT = 'Remove the protection with privacy.unprotect() first.';
  END IF;
  DELETE FROM privacy.registered_column c
   WHERE c.tbl OPERATOR(pg_catalog.=) unregister_column.tbl
     AND c.col OPERATOR(pg_catalog.=) unregister_column.col;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'column "%" of relation % is not registered', col, tbl USING ERRCODE = '55000';
  END IF;
  PERFORM privacy_internal._invalidate(tbl);
  PERFORM privacy_internal._audit('catalog.unregister_column', tbl::text,
                         pg_catalog.jsonb_build_object('column', col));
END
$$;
COMMENT ON FUNCTION privacy.unregister_column(regclass, name) IS 'remove a column from the catalog';

------------------------------------------------------------------------
-- Views
------------------------------------------------------------------------

-- Columns whose names look personal but are not declared.  Partitions are
-- covered by their parent; tables belonging to extensions are skipped.
CREATE VIEW privacy_internal._undeclared_by_name AS
SELECT c.oid::regclass                AS table_name,
       a.attname                      AS column_name,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS data_type,
       m.category                     AS suggested_category,
       (t.tbl IS NOT NULL)            AS table_registered
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
  JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.oid
  CROSS JOIN LATERAL (
        SELECT np.category FROM privacy.name_pattern np
         WHERE a.attname::text OPERATOR(pg_catalog.~*) np.pattern
         ORDER BY np.builtin, np.pattern LIMIT 1) m
  LEFT JOIN privacy.registered_table t ON t.tbl OPERATOR(pg_catalog.=) c.oid
 WHERE c.relkind IN ('r', 'p', 'f')
   AND NOT c.relispartition
   AND c.relpersistence OPERATOR(pg_catalog.<>) 't'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'privacy', 'privacy_internal')
   AND n.nspname !~ '^pg_toast'
   AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
   AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                    WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
                      AND d.objid OPERATOR(pg_catalog.=) c.oid
                      AND d.deptype OPERATOR(pg_catalog.=) 'e')
   AND NOT EXISTS (SELECT FROM privacy.registered_column rc
                    WHERE rc.tbl OPERATOR(pg_catalog.=) c.oid
                      AND rc.col OPERATOR(pg_catalog.=) a.attname);
COMMENT ON VIEW privacy_internal._undeclared_by_name IS
  'internal: columns whose names look personal but are not declared (privacy.undeclared_columns; privacy.health)';

-- Undeclared columns of built-in text types (text, varchar, char, json,
-- jsonb) whose content looks personal: of the first sample_rows rows of
-- each table (a bounded sample: a large table costs what a small one
-- does), the share of non-null values holding an e-mail address, a phone
-- number, a national identity number (Danish CPR, Norwegian, Swedish,
-- Finnish) or an IBAN anywhere in their text (so free text and JSON count
-- too).  Each table is read as its owner in a security-restricted
-- operation (privacy_internal._owner_query), casting only built-in types;
-- a table that cannot be read within 100 ms (a lock) or whose read fails
-- is left out, never stops the report.  The category is the one matched
-- by most values (ties: e-mail, national id, bank account, phone).
CREATE FUNCTION privacy_internal._undeclared_by_content(sample_rows integer DEFAULT 1000)
  RETURNS TABLE(table_name regclass, column_name name, suggested_category text, matched_share numeric, sampled bigint)
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  t       record;
  q       text;
  res     jsonb;
  i       integer;
  cnt     jsonb;
  best    text;
  bestn   bigint;
  k       integer;
  -- e-mail, national id, bank account, phone: in order of precedence
  kinds   text[] := ARRAY['email', 'national_id', 'bank_account', 'phone'];
  res_re  text[] := ARRAY[
    '[[:alnum:]._%+-]+@[[:alnum:]-]+(\.[[:alnum:]-]+)*\.[[:alpha:]]{2,}',
    '(^|[^[:alnum:]])((0[1-9]|[12][0-9]|3[01])(0[1-9]|1[0-2])[0-9]{2}[-+A]?[0-9]{3}[0-9A-Z]{1,2}|(19|20)?[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])[-+][0-9]{4})($|[^[:alnum:]])',
    '(^|[^[:alnum:]])[A-Z]{2}[0-9]{2}( ?[A-Z0-9]){11,30}($|[^[:alnum:]])',
    '(^|[^[:alnum:]+])((\+|00)[1-9][0-9]([ .-]?[0-9]){6,13}|[2-9][0-9]( ?[0-9]){6})($|[^[:alnum:]])'];
BEGIN
  IF sample_rows IS NULL OR sample_rows OPERATOR(pg_catalog.<) 1 OR sample_rows OPERATOR(pg_catalog.>) 1000000 THEN
    RAISE EXCEPTION 'sample_rows must be between 1 and 1000000' USING ERRCODE = '22023';
  END IF;
  FOR t IN
    SELECT c.oid::regclass AS tbl,
           pg_catalog.array_agg(a.attname ORDER BY a.attnum) AS cols
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
      JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.oid
     WHERE c.relkind IN ('r', 'p')
       AND NOT c.relispartition
       AND c.relpersistence OPERATOR(pg_catalog.<>) 't'
       AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'privacy', 'privacy_internal')
       AND n.nspname !~ '^pg_toast'
       AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
       AND a.atttypid IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype, 'json'::regtype, 'jsonb'::regtype)
       AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                        WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
                          AND d.objid OPERATOR(pg_catalog.=) c.oid
                          AND d.deptype OPERATOR(pg_catalog.=) 'e')
       AND NOT EXISTS (SELECT FROM privacy.registered_column rc
                        WHERE rc.tbl OPERATOR(pg_catalog.=) c.oid
                          AND rc.col OPERATOR(pg_catalog.=) a.attname)
     GROUP BY c.oid
     ORDER BY c.oid::regclass::text
  LOOP
    -- per column: [non-null values, matches of each kind]
    SELECT 'SELECT pg_catalog.jsonb_build_array(' || pg_catalog.string_agg(
             pg_catalog.format('pg_catalog.jsonb_build_array(pg_catalog.count(s.%1$I)%2$s)', 'v' || o,
               (SELECT pg_catalog.string_agg(pg_catalog.format(', pg_catalog.count(*) FILTER (WHERE s.%I OPERATOR(pg_catalog.~) %L)', 'v' || o, r), '' ORDER BY ro)
                  FROM pg_catalog.unnest(res_re) WITH ORDINALITY x(r, ro))), ', ' ORDER BY o)
           || ')::pg_catalog.text FROM (SELECT '
           || pg_catalog.string_agg(pg_catalog.format('t.%I::pg_catalog.text AS %I', col, 'v' || o), ', ' ORDER BY o)
           || pg_catalog.format(' FROM %s t LIMIT %s) s', t.tbl, sample_rows)
      INTO q
      FROM pg_catalog.unnest(t.cols) WITH ORDINALITY u(col, o);
    BEGIN
      res := privacy_internal._owner_query(t.tbl, q, '{}', 100)::jsonb;
    EXCEPTION WHEN OTHERS THEN
      CONTINUE;   -- locked, or unreadable: left out of this report
    END;
    FOR i IN 1 .. pg_catalog.cardinality(t.cols) LOOP
      cnt := res OPERATOR(pg_catalog.->) (i OPERATOR(pg_catalog.-) 1);
      CONTINUE WHEN (cnt OPERATOR(pg_catalog.->>) 0)::bigint OPERATOR(pg_catalog.=) 0;
      best := NULL;
      bestn := 0;
      FOR k IN 1 .. pg_catalog.cardinality(kinds) LOOP
        IF (cnt OPERATOR(pg_catalog.->>) k)::bigint OPERATOR(pg_catalog.>) bestn THEN
          best := kinds[k];
          bestn := (cnt OPERATOR(pg_catalog.->>) k)::bigint;
        END IF;
      END LOOP;
      CONTINUE WHEN best IS NULL;
      table_name := t.tbl;
      column_name := t.cols[i];
      suggested_category := best;
      sampled := (cnt OPERATOR(pg_catalog.->>) 0)::bigint;
      matched_share := pg_catalog.round(bestn::numeric OPERATOR(pg_catalog./) sampled, 3);
      RETURN NEXT;
    END LOOP;
  END LOOP;
END
$$;
COMMENT ON FUNCTION privacy_internal._undeclared_by_content(integer) IS
  'internal: undeclared text and JSON columns whose sampled content looks like e-mail addresses, phone numbers, national identity numbers or IBANs';

-- Columns that look personal but are not declared: by their name
-- (privacy.name_pattern), by their content (a sample of each table), or
-- both; the share of sampled values that matched says how sure.
CREATE VIEW privacy.undeclared_columns AS
SELECT COALESCE(nm.table_name, ct.table_name) AS table_name,
       COALESCE(nm.column_name, ct.column_name) AS column_name,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS data_type,
       COALESCE(nm.suggested_category, ct.suggested_category) AS suggested_category,
       EXISTS (SELECT FROM privacy.registered_table r
                WHERE r.tbl OPERATOR(pg_catalog.=) COALESCE(nm.table_name, ct.table_name)) AS table_registered,
       CASE WHEN nm.column_name IS NOT NULL AND ct.column_name IS NOT NULL THEN 'name, content'
            WHEN nm.column_name IS NOT NULL THEN 'name'
            ELSE 'content' END AS found_by,
       ct.matched_share,
       ct.sampled
  FROM privacy_internal._undeclared_by_name nm
  FULL JOIN privacy_internal._undeclared_by_content() ct
    ON ct.table_name OPERATOR(pg_catalog.=) nm.table_name AND ct.column_name OPERATOR(pg_catalog.=) nm.column_name
  JOIN pg_catalog.pg_attribute a
    ON a.attrelid OPERATOR(pg_catalog.=) COALESCE(nm.table_name, ct.table_name)
   AND a.attname OPERATOR(pg_catalog.=) COALESCE(nm.column_name, ct.column_name);
COMMENT ON VIEW privacy.undeclared_columns IS
  'columns that look personal but are not declared, by their name (phone, email, navn, cpr, kundenummer, ...) or their sampled content (phone numbers, e-mail addresses, CPR numbers, IBANs), with the share of sampled values that matched';

-- The types a declared identifier column may have: built-in text and
-- integer types, whose casts, comparisons and output are PostgreSQL's own
-- (never code of the table's owner).  Checked when a column is declared
-- and again wherever identifiers are used.
CREATE FUNCTION privacy_internal._identifier_type_ok(typ oid) RETURNS boolean
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT typ IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype,
                 'int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'numeric'::regtype)
$$;
COMMENT ON FUNCTION privacy_internal._identifier_type_ok(oid) IS
  'internal: whether a declared identifier column may have this type (built-in text and integer types)';

------------------------------------------------------------------------
-- Event triggers: follow renames and drops
------------------------------------------------------------------------

-- A dropped table or column leaves the catalog with it; the audit log says so.
CREATE FUNCTION privacy_internal._on_sql_drop() RETURNS event_trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
  SET jit = off
AS $$
DECLARE
  o record;
  n bigint;
BEGIN
  FOR o IN SELECT * FROM pg_catalog.pg_event_trigger_dropped_objects()
            WHERE object_type IN ('table', 'foreign table', 'table column', 'view')
  LOOP
    IF o.object_type OPERATOR(pg_catalog.=) 'view' THEN
      -- a published view (safe aggregate, extract) leaves the register
      DELETE FROM privacy.published p WHERE p.view_name::oid OPERATOR(pg_catalog.=) o.objid;
      GET DIAGNOSTICS n = ROW_COUNT;
      IF n OPERATOR(pg_catalog.>) 0 THEN
        PERFORM privacy_internal._audit('analytics.unpublished', o.object_identity);
      END IF;
    ELSIF o.object_type OPERATOR(pg_catalog.=) 'table column' THEN
      DELETE FROM privacy.registered_column c
       WHERE c.tbl::oid OPERATOR(pg_catalog.=) o.objid
         AND c.attnum OPERATOR(pg_catalog.=) o.objsubid;
      GET DIAGNOSTICS n = ROW_COUNT;
      IF n OPERATOR(pg_catalog.>) 0 THEN
        PERFORM privacy_internal._audit('catalog.column_dropped', o.object_identity);
      END IF;
    ELSE
      DELETE FROM privacy.registered_table t WHERE t.tbl::oid OPERATOR(pg_catalog.=) o.objid;
      GET DIAGNOSTICS n = ROW_COUNT;
      IF n OPERATOR(pg_catalog.>) 0 THEN
        PERFORM privacy_internal._audit('catalog.table_dropped', o.object_identity);
      END IF;
    END IF;
  END LOOP;
END
$$;

-- Which column an ALTER ... RENAME COLUMN renamed (src/catalog.c): read from
-- the command itself, inside the ddl_command_end event trigger only.
CREATE FUNCTION privacy_internal._renamed_column(cmd pg_catalog.pg_ddl_command,
                                        OUT relid regclass, OUT old_name name, OUT new_name name)
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_renamed_column';
COMMENT ON FUNCTION privacy_internal._renamed_column(pg_catalog.pg_ddl_command) IS
  'internal: the relation, old and new name of a column renamed by a collected DDL command';

-- A column of a user's table was renamed: every catalog table that names
-- columns follows it, here and nowhere else.  The list:
--   registered_column.col                 (20_catalog.sql)
--   consent_requirement.col               (40_consent.sql)
--   retention_policy.time_column          (50_retention.sql)
--   subject_table.event_time, validity_column, valid_from, valid_to,
--                 link_columns            (70_subject_find.sql)
-- Each change is audited under its module's event name; caches built from
-- the old names are dropped in every backend at commit.
CREATE FUNCTION privacy_internal._follow_column_rename(tbl regclass, old_name name, new_name name)
  RETURNS void
  LANGUAGE plpgsql VOLATILE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  ev text;
  followed boolean := false;
BEGIN
  -- The shards of a protected Citus table transform the columns their
  -- signed rule names (src/protect.c): a renamed protected column would be
  -- stored raw under its new name, another column transformed under the
  -- old one.
  IF privacy_internal._citus_table(tbl) AND privacy_internal._has_protect_trigger(tbl)
     AND EXISTS (SELECT FROM privacy.registered_column c
                  WHERE c.tbl OPERATOR(pg_catalog.=) _follow_column_rename.tbl
                    AND c.col OPERATOR(pg_catalog.=) old_name AND c.protect IS NOT NULL) THEN
    RAISE EXCEPTION 'cannot rename protected column "%" of table %, which Citus manages', old_name, tbl
      USING ERRCODE = '0A000',
            DETAIL = 'The protect trigger on its shards transforms the column by the name its signed rule gives.',
            HINT = 'Keep the name; or remove the protection with privacy.unprotect() while no row is written, rename the column, and protect the table again.';
  END IF;
  FOR ev IN
    WITH c AS (UPDATE privacy.registered_column c SET col = new_name
                WHERE c.tbl OPERATOR(pg_catalog.=) _follow_column_rename.tbl
                  AND c.col OPERATOR(pg_catalog.=) old_name
               RETURNING 'catalog.column_renamed'::text AS ev),
         q AS (UPDATE privacy.consent_requirement q SET col = new_name
                WHERE q.tbl OPERATOR(pg_catalog.=) _follow_column_rename.tbl
                  AND q.col OPERATOR(pg_catalog.=) old_name
               RETURNING 'consent.column_renamed'::text AS ev),
         p AS (UPDATE privacy.retention_policy p SET time_column = new_name
                WHERE p.tbl OPERATOR(pg_catalog.=) _follow_column_rename.tbl
                  AND p.time_column OPERATOR(pg_catalog.=) old_name
               RETURNING 'retention.column_renamed'::text AS ev),
         s AS (UPDATE privacy.subject_table s
                  SET event_time = CASE WHEN s.event_time OPERATOR(pg_catalog.=) old_name THEN new_name ELSE s.event_time END,
                      validity_column = CASE WHEN s.validity_column OPERATOR(pg_catalog.=) old_name THEN new_name
                                             ELSE s.validity_column END,
                      valid_from = CASE WHEN s.valid_from OPERATOR(pg_catalog.=) old_name THEN new_name ELSE s.valid_from END,
                      valid_to = CASE WHEN s.valid_to OPERATOR(pg_catalog.=) old_name THEN new_name ELSE s.valid_to END,
                      link_columns = pg_catalog.array_replace(s.link_columns, old_name, new_name)
                WHERE s.tbl OPERATOR(pg_catalog.=) _follow_column_rename.tbl
                  AND (old_name OPERATOR(pg_catalog.=) ANY (ARRAY[s.event_time, s.validity_column, s.valid_from, s.valid_to])
                       OR old_name OPERATOR(pg_catalog.=) ANY (s.link_columns))
               RETURNING 'subject.column_renamed'::text AS ev)
    SELECT DISTINCT u.ev FROM (TABLE c UNION ALL TABLE q UNION ALL TABLE p UNION ALL TABLE s) u
     ORDER BY 1
  LOOP
    PERFORM privacy_internal._audit(ev, tbl::text, pg_catalog.jsonb_build_object('from', old_name, 'to', new_name));
    followed := true;
  END LOOP;
  IF followed THEN
    PERFORM privacy_internal._invalidate(tbl);
  END IF;
END
$$;
COMMENT ON FUNCTION privacy_internal._follow_column_rename(regclass, name, name) IS
  'internal: carries a renamed column along in every catalog table that names columns';

-- After ALTER TABLE (and ALTER FOREIGN TABLE, ALTER VIEW): follow renamed
-- columns.
CREATE FUNCTION privacy_internal._on_ddl_end() RETURNS event_trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
  SET jit = off
AS $$
DECLARE
  r record;
BEGIN
  FOR r IN
    SELECT x.relid, x.old_name, x.new_name
      FROM pg_catalog.pg_event_trigger_ddl_commands() d,
           LATERAL privacy_internal._renamed_column(d.command) x
     WHERE x.relid IS NOT NULL
  LOOP
    PERFORM privacy_internal._follow_column_rename(r.relid, r.old_name, r.new_name);
  END LOOP;
END
$$;

CREATE EVENT TRIGGER pg_privacy_sql_drop ON sql_drop
  EXECUTE FUNCTION privacy_internal._on_sql_drop();
CREATE EVENT TRIGGER pg_privacy_ddl_end ON ddl_command_end
  WHEN TAG IN ('ALTER TABLE', 'ALTER FOREIGN TABLE', 'ALTER VIEW', 'ALTER MATERIALIZED VIEW')
  EXECUTE FUNCTION privacy_internal._on_ddl_end();
-- Identifiers (src/identifier.c): how a data subject's identifier is
-- written in normal form, by its kind's normalization
-- (privacy.identifier_kind.normalize):
--
--   msisdn  E.164, national numbers read as numbers of the default country
--   email   surrounding ASCII white space removed, ASCII letters A-Z
--           lower-cased, every other character kept as it is (the same
--           result under every locale and collation); needs an "@"
--   text    surrounding ASCII white space removed; not blank
--
-- The default country is one setting, pg_privacy.default_country.  What
-- pg_privacy stores about a subject (consent events, holds, restrictions,
-- requests, audit references) is the normal form computed when it was
-- written, so changing the setting later does not change what a stored
-- reference means.

-- The lookup value: the normal form, or NULL when the value has none.  Pure
-- and IMMUTABLE (the default country is an argument; NULL reads
-- international forms only), so it backs an expression index.  Consent's
-- withdrawal cascade, legal holds, export, erasure and restriction all
-- search a column of identifiers as people typed them by exactly
--   privacy.lookup_value('<normalization>', col, '<pg_privacy.default_country>')
-- so one index on that expression serves them all
-- (privacy.missing_indexes proposes it).
CREATE FUNCTION privacy.lookup_value(normalization text, value text, default_country text)
  RETURNS text
  LANGUAGE c IMMUTABLE PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_lookup_value';
COMMENT ON FUNCTION privacy.lookup_value(text, text, text) IS
  'lookup value of an identifier as typed: normal form by normalization (msisdn, email, text), NULL when it has none; IMMUTABLE, for expression indexes';

-- A kind's value in normal form under pg_privacy.default_country, or an
-- error: 22023 for an unknown kind, 22P02 for a value without a normal
-- form (the value never in the message).  What the API functions store
-- and look for.
CREATE FUNCTION privacy_internal._identifier_normalize(kind text, value text)
  RETURNS text
  LANGUAGE c STABLE PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_identifier_normalize_kind';
COMMENT ON FUNCTION privacy_internal._identifier_normalize(text, text) IS
  'internal: an identifier in its kind''s normal form under pg_privacy.default_country, or an error';

-- pg_privacy.default_country, defined by the library whether or not it
-- was loaded before: the literal the statements inline into the lookup value.
CREATE FUNCTION privacy_internal._default_country()
  RETURNS text
  LANGUAGE c STABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_identifier_default_country';
COMMENT ON FUNCTION privacy_internal._default_country() IS
  'internal: pg_privacy.default_country';
-- Pseudonymization, format-preserving phone numbers, masking, and the
-- protect trigger.  The transformations are C functions (pseudonym.c);
-- the protect trigger (protect.c) applies them on write.

-- STABLE: without a default_country (NULL) national numbers are read as
-- numbers of pg_privacy.default_country.  privacy.lookup_value is the
-- IMMUTABLE form, for indexes.
CREATE FUNCTION privacy.normalize_msisdn(raw text, default_country text DEFAULT NULL)
  RETURNS text
  LANGUAGE c STABLE PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_normalize_msisdn';
COMMENT ON FUNCTION privacy.normalize_msisdn(text, text) IS
  'E.164 form (+<country code><number>) of a phone number as people type it; national numbers of default_country (NULL: pg_privacy.default_country)';

CREATE FUNCTION privacy.pseudonymize(value text, domain text DEFAULT 'default')
  RETURNS text
  LANGUAGE c STABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_pseudonymize';
COMMENT ON FUNCTION privacy.pseudonymize(text, text) IS
  'keyed pseudonym (HMAC-SHA256 under a key derived for the domain, 128 bits, base64url): deterministic, one-way, domain-separated';

CREATE FUNCTION privacy.pseudonymize_msisdn(msisdn text, domain text DEFAULT 'default',
                                            default_country text DEFAULT NULL)
  RETURNS text
  LANGUAGE c STABLE PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_pseudonymize_msisdn';
COMMENT ON FUNCTION privacy.pseudonymize_msisdn(text, text, text) IS
  'format-preserving pseudonym of a phone number (FF1/AES-256): same country code, first digit and length; reversible only by reidentify_msisdn';

CREATE FUNCTION privacy_internal._msisdn_decrypt(pseudonym text, domain text)
  RETURNS text
  LANGUAGE c STABLE STRICT PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_msisdn_decrypt';
COMMENT ON FUNCTION privacy_internal._msisdn_decrypt(text, text) IS
  'internal: inverse of pseudonymize_msisdn; use reidentify_msisdn, which audits';

-- How the audit log refers to a subject's identifier: a keyed one-way
-- reference under the audit key, after the kind's normalization.
CREATE FUNCTION privacy_internal._audit_ref(kind text, value text) RETURNS text
  LANGUAGE c STABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_audit_ref';
COMMENT ON FUNCTION privacy_internal._audit_ref(text, text) IS
  'internal: keyed one-way reference to an identifier, as written to the audit log';

-- The same reference under a listed key of the given fingerprint (the
-- current one, or an older one pg_privacy.key_file lists after it): to
-- check and match what was made before a key change.  55000 when no listed
-- key has that fingerprint.
CREATE FUNCTION privacy_internal._audit_ref_under(fingerprint text, kind text, value text) RETURNS text
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_audit_ref_under';
COMMENT ON FUNCTION privacy_internal._audit_ref_under(text, text, text) IS
  'internal: _audit_ref under the listed key of a fingerprint';

-- The same reference under every key pg_privacy.key_file lists that can be
-- used, the current one first: to match what was made before a key change
-- (a request, the consent events of an erased identifier).
CREATE FUNCTION privacy_internal._audit_refs(kind text, value text) RETURNS text[]
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_audit_refs';
COMMENT ON FUNCTION privacy_internal._audit_refs(text, text) IS
  'internal: _audit_ref under every usable listed key, the current one first';

CREATE FUNCTION privacy_internal._subject_ref(kind text, value text) RETURNS text
  LANGUAGE sql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT privacy_internal._audit_ref(kind, privacy_internal._identifier_normalize(kind, value))
$$;
COMMENT ON FUNCTION privacy_internal._subject_ref(text, text) IS
  'internal: the audit log''s reference to a subject identifier (normalized by its kind, keyed, one-way)';

-- Re-identification is audited on every call: who, when, which domain,
-- and a keyed one-way reference to the number (never the number).
CREATE FUNCTION privacy.reidentify_msisdn(pseudonym text, domain text DEFAULT 'default')
  RETURNS text
  LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  result text;
BEGIN
  -- A pseudonym of a relation privacy.rekey() has not converted is under
  -- the replaced key: decrypted under the current one it gives another,
  -- valid-looking number.  The pseudonym does not say where it comes
  -- from, so none is read back while any is left (src/sql/36_rekey.sql),
  -- but by the form that names the key of its row.
  IF EXISTS (SELECT FROM privacy.rekey_pending p WHERE p.from_key OPERATOR(pg_catalog.<>) 'raw') THEN
    RAISE EXCEPTION 'cannot tell which key a phone-number pseudonym is under while a key rotation runs'
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('%s relation(s) hold phone-number pseudonyms under a replaced key, which privacy.rekey() has not converted: decrypted under the current key, such a pseudonym gives another, valid-looking number.',
                                       (SELECT pg_catalog.count(*) FROM privacy.rekey_pending p WHERE p.from_key OPERATOR(pg_catalog.<>) 'raw')),
            HINT = 'Name the key of the row the pseudonym comes from: privacy.reidentify_msisdn(t.col, domain, privacy.row_key(t.tableoid, t.*)); or run CALL privacy.rekey() first.';
  END IF;
  result := privacy_internal._msisdn_decrypt(pseudonym, domain);
  PERFORM privacy_internal._audit('pseudonym.reidentify', NULL,
                         pg_catalog.jsonb_build_object('domain', domain, 'kind', 'msisdn',
                                                       'subject', privacy_internal._subject_ref('msisdn', result)));
  RETURN result;
END
$$;
COMMENT ON FUNCTION privacy.reidentify_msisdn(text, text) IS
  'the phone number behind a pseudonymize_msisdn pseudonym; every call is audited';

-- The same under a key named by its fingerprint, one pg_privacy.key_file
-- lists (55000 otherwise): while a key rotation runs, the key of the row
-- the pseudonym was read from (privacy.row_key, src/sql/36_rekey.sql).
CREATE FUNCTION privacy.reidentify_msisdn(pseudonym text, domain text, key_fingerprint text)
  RETURNS text
  LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  result text;
BEGIN
  result := privacy_internal._msisdn_under(key_fingerprint, pseudonym, domain, true);
  PERFORM privacy_internal._audit('pseudonym.reidentify', NULL,
                         pg_catalog.jsonb_build_object('domain', domain, 'kind', 'msisdn', 'key', key_fingerprint,
                                                       'subject', privacy_internal._subject_ref('msisdn', result)));
  RETURN result;
END
$$;
COMMENT ON FUNCTION privacy.reidentify_msisdn(text, text, text) IS
  'the phone number behind a phone-number pseudonym made under the listed key of that fingerprint (privacy.row_key gives a row''s); every call is audited';

CREATE FUNCTION privacy.pseudonymize_email(email text, domain text DEFAULT 'default')
  RETURNS text
  LANGUAGE c STABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_pseudonymize_email';
COMMENT ON FUNCTION privacy.pseudonymize_email(text, text) IS
  'keyed pseudonym of the local part of an e-mail address (trimmed, lower-cased); the domain part is kept';

CREATE FUNCTION privacy.mask_msisdn(msisdn text, visible integer DEFAULT 4)
  RETURNS text
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_mask_msisdn';
COMMENT ON FUNCTION privacy.mask_msisdn(text, integer) IS
  'display mask of a phone number: +4520XXXXXX keeps the first `visible` digits';

CREATE FUNCTION privacy.country_of(value text)
  RETURNS text
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_country_of';
COMMENT ON FUNCTION privacy.country_of(text) IS
  'ISO 3166-1 alpha-2 country of a phone number (or of a country code): location kept at country level';

CREATE FUNCTION privacy.generalize(ts timestamptz, unit text)
  RETURNS timestamptz
  LANGUAGE plpgsql STABLE STRICT PARALLEL SAFE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF unit NOT IN ('minute', 'hour', 'day', 'week', 'month', 'quarter', 'year') THEN
    RAISE EXCEPTION 'invalid generalization unit "%"', unit
      USING ERRCODE = '22023',
            HINT = 'Use one of: minute, hour, day, week, month, quarter, year.';
  END IF;
  RETURN pg_catalog.date_trunc(unit, ts);
END
$$;
COMMENT ON FUNCTION privacy.generalize(timestamptz, text) IS
  'time generalized to the start of its minute, hour, day, week, month, quarter or year (in the session time zone)';

-- Every change of the grants, by these functions, by hand or by a
-- restore of the dumped table, makes every backend check them again.
CREATE FUNCTION privacy_internal._domain_grant_changed() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM privacy_internal._invalidate('privacy.domain_grant'::regclass);
  RETURN NULL;
END
$$;
CREATE TRIGGER domain_grant_changed
  AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON privacy.domain_grant
  FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._domain_grant_changed();
-- (also under session_replication_role = replica and in logical
-- replication's apply: a revoke written there reaches open sessions)
ALTER TABLE privacy.domain_grant ENABLE ALWAYS TRIGGER domain_grant_changed;

-- Domains are capabilities (see privacy.domain_grant).
CREATE FUNCTION privacy.grant_domain(domain text, grantee regrole) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
BEGIN
  IF domain IS NULL OR grantee IS NULL THEN
    RAISE EXCEPTION 'domain and grantee must not be null' USING ERRCODE = '22004';
  END IF;
  PERFORM privacy_internal._check_domain_admin();
  IF pg_catalog.octet_length(domain) NOT BETWEEN 1 AND 200 THEN
    RAISE EXCEPTION 'invalid pseudonymization domain'
      USING ERRCODE = '22023', DETAIL = 'A domain is a non-empty text of at most 200 bytes.';
  END IF;
  INSERT INTO privacy.domain_grant (domain, grantee, granted_by)
       VALUES (domain, grantee, privacy_internal._invoker())
  ON CONFLICT DO NOTHING;
  PERFORM privacy_internal._audit('pseudonym.grant_domain', domain,
                         pg_catalog.jsonb_build_object('grantee', grantee::text));
  -- the shards of protected Citus tables read the grant from their rule
  PERFORM privacy_internal._protect_citus_resign(domain);
END
$$;
COMMENT ON FUNCTION privacy.grant_domain(text, regrole) IS
  'let a role (and the roles that have its privileges) produce the pseudonyms of a domain, by the keyed functions or by tables it protects';

CREATE FUNCTION privacy.revoke_domain(domain text, grantee regrole) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
BEGIN
  IF domain IS NULL OR grantee IS NULL THEN
    RAISE EXCEPTION 'domain and grantee must not be null' USING ERRCODE = '22004';
  END IF;
  PERFORM privacy_internal._check_domain_admin();
  DELETE FROM privacy.domain_grant g
   WHERE g.domain OPERATOR(pg_catalog.=) revoke_domain.domain
     AND g.grantee OPERATOR(pg_catalog.=) revoke_domain.grantee;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'role % holds no grant of domain "%"', grantee, domain USING ERRCODE = '42704';
  END IF;
  PERFORM privacy_internal._audit('pseudonym.revoke_domain', domain,
                         pg_catalog.jsonb_build_object('grantee', grantee::text));
  -- the shards of protected Citus tables read the grant from their rule
  PERFORM privacy_internal._protect_citus_resign(domain);
END
$$;
COMMENT ON FUNCTION privacy.revoke_domain(text, regrole) IS
  'withdraw a domain grant; tables the role protects in the domain refuse writes until it is granted again';

-- Only the extension owner (or a superuser) grants domains.
CREATE FUNCTION privacy_internal._check_domain_admin() RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT pg_catalog.pg_has_role(privacy_internal._invoker(),
                                (SELECT c.relowner FROM pg_catalog.pg_class c
                                  WHERE c.oid OPERATOR(pg_catalog.=) 'privacy.domain_grant'::regclass),
                                'USAGE') THEN
    RAISE EXCEPTION 'only the owner of pg_privacy may grant or revoke pseudonymization domains'
      USING ERRCODE = '42501';
  END IF;
END
$$;
-- Protection on write: the protect trigger (src/protect.c) that transforms
-- declared columns as rows are written, protect() and unprotect(), the
-- rewrite of rows a table held before, and the event triggers that keep a
-- protection (and the consent and restriction checks) from being switched
-- off behind pg_privacy's back.

-- Protection is verified, not assumed.  A table's protection is in force
-- when the table and each of its partitions have the trigger
-- zz_pg_privacy_protect running privacy_internal._protect_trigger() as a BEFORE
-- INSERT OR UPDATE row trigger on every column, without WHEN condition,
-- enabled (origin mode), and no other enabled BEFORE INSERT/UPDATE row
-- trigger fires after it (row triggers fire in name order).  NULL when in
-- force, else the first reason it is not.
CREATE FUNCTION privacy_internal._protection_problem(tbl regclass) RETURNS text
  LANGUAGE plpgsql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  fn oid := pg_catalog.to_regprocedure('privacy_internal._protect_trigger()');
  r record;
  g record;
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) tbl) THEN
    RETURN pg_catalog.format('table with OID %s does not exist', tbl::oid);
  END IF;
  -- The common case in one query over the whole partition tree: every
  -- relation has the trigger as created, nothing fires after it or runs
  -- it twice, no child by inheritance.  Only otherwise is the tree walked
  -- below to name the problem.
  IF (SELECT pg_catalog.bool_and(
             EXISTS (SELECT FROM pg_catalog.pg_trigger t
                      WHERE t.tgrelid OPERATOR(pg_catalog.=) tree.relid
                        AND t.tgname OPERATOR(pg_catalog.=) 'zz_pg_privacy_protect'
                        AND t.tgfoid OPERATOR(pg_catalog.=) fn
                        AND t.tgtype OPERATOR(pg_catalog.=) 23
                        AND pg_catalog.cardinality(t.tgattr::pg_catalog.int2[]) OPERATOR(pg_catalog.=) 0
                        AND t.tgqual IS NULL
                        AND t.tgenabled OPERATOR(pg_catalog.=) 'O'
                        AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                                         WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::pg_catalog.regclass
                                           AND d.objid OPERATOR(pg_catalog.=) t.oid
                                           AND d.deptype OPERATOR(pg_catalog.=) 'x'))
             AND NOT EXISTS (SELECT FROM pg_catalog.pg_trigger t
                              WHERE t.tgrelid OPERATOR(pg_catalog.=) tree.relid
                                AND ((NOT t.tgisinternal AND t.tgenabled IN ('O', 'A')
                                      AND (t.tgtype::integer OPERATOR(pg_catalog.&) 3) OPERATOR(pg_catalog.=) 3
                                      AND (t.tgtype::integer OPERATOR(pg_catalog.&) 20) OPERATOR(pg_catalog.<>) 0
                                      AND t.tgname OPERATOR(pg_catalog.>) 'zz_pg_privacy_protect'::name)
                                     OR (t.tgfoid OPERATOR(pg_catalog.=) fn
                                         AND t.tgname OPERATOR(pg_catalog.<>) 'zz_pg_privacy_protect')))
             AND NOT EXISTS (SELECT FROM pg_catalog.pg_inherits i
                               JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.inhrelid
                              WHERE i.inhparent OPERATOR(pg_catalog.=) tree.relid AND NOT c.relispartition))
        FROM (SELECT tbl::oid AS relid
              UNION SELECT p.relid::oid FROM pg_catalog.pg_partition_tree(tbl) p) tree) THEN
    RETURN NULL;
  END IF;
  FOR r IN SELECT c.oid::regclass AS rel FROM pg_catalog.pg_class c
            WHERE c.oid OPERATOR(pg_catalog.=) tbl
               OR c.oid IN (SELECT p.relid FROM pg_catalog.pg_partition_tree(tbl) p)
            ORDER BY c.oid OPERATOR(pg_catalog.<>) tbl, c.oid::regclass::text
  LOOP
    SELECT t.tgfoid, t.tgtype, t.tgenabled, t.tgqual IS NOT NULL AS has_when,
           pg_catalog.cardinality(t.tgattr::pg_catalog.int2[]) OPERATOR(pg_catalog.>) 0 AS has_cols,
           EXISTS (SELECT FROM pg_catalog.pg_depend d
                    WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::pg_catalog.regclass
                      AND d.objid OPERATOR(pg_catalog.=) t.oid
                      AND d.deptype OPERATOR(pg_catalog.=) 'x') AS ext_dep
      INTO g
      FROM pg_catalog.pg_trigger t
     WHERE t.tgrelid OPERATOR(pg_catalog.=) r.rel
       AND t.tgname OPERATOR(pg_catalog.=) 'zz_pg_privacy_protect';
    IF NOT FOUND THEN
      RETURN pg_catalog.format('trigger zz_pg_privacy_protect is missing on %s', r.rel);
    ELSIF g.tgfoid OPERATOR(pg_catalog.<>) fn THEN
      RETURN pg_catalog.format('trigger zz_pg_privacy_protect on %s does not run privacy_internal._protect_trigger()', r.rel);
    ELSIF g.tgtype OPERATOR(pg_catalog.<>) 23 OR g.has_cols THEN
      -- 23 = ROW | BEFORE | INSERT | UPDATE
      RETURN pg_catalog.format('trigger zz_pg_privacy_protect on %s is not a BEFORE INSERT OR UPDATE row trigger on every column', r.rel);
    ELSIF g.has_when THEN
      RETURN pg_catalog.format('trigger zz_pg_privacy_protect on %s has a WHEN condition', r.rel);
    ELSIF g.tgenabled OPERATOR(pg_catalog.<>) 'O' THEN
      RETURN pg_catalog.format('trigger zz_pg_privacy_protect on %s is %s', r.rel,
                               CASE g.tgenabled WHEN 'D' THEN 'disabled'
                                                WHEN 'R' THEN 'enabled for replica sessions only'
                                                ELSE 'enabled always, not as created' END);
    ELSIF g.ext_dep THEN
      -- ALTER TRIGGER ... DEPENDS ON EXTENSION: DROP EXTENSION would drop it
      RETURN pg_catalog.format('trigger zz_pg_privacy_protect on %s depends on an extension', r.rel);
    END IF;
    SELECT t.tgname INTO g FROM pg_catalog.pg_trigger t
     WHERE t.tgrelid OPERATOR(pg_catalog.=) r.rel
       AND NOT t.tgisinternal
       AND t.tgenabled IN ('O', 'A')
       AND (t.tgtype::integer OPERATOR(pg_catalog.&) 3) OPERATOR(pg_catalog.=) 3     -- ROW, BEFORE
       AND (t.tgtype::integer OPERATOR(pg_catalog.&) 20) OPERATOR(pg_catalog.<>) 0   -- INSERT or UPDATE
       AND t.tgname OPERATOR(pg_catalog.>) 'zz_pg_privacy_protect'::name
     ORDER BY t.tgname LIMIT 1;
    IF FOUND THEN
      RETURN pg_catalog.format('trigger %I on %s fires after zz_pg_privacy_protect', g.tgname, r.rel);
    END IF;
    -- a second trigger running the protect function transforms twice
    SELECT t.tgname INTO g FROM pg_catalog.pg_trigger t
     WHERE t.tgrelid OPERATOR(pg_catalog.=) r.rel
       AND t.tgfoid OPERATOR(pg_catalog.=) fn
       AND t.tgname OPERATOR(pg_catalog.<>) 'zz_pg_privacy_protect'
     ORDER BY t.tgname LIMIT 1;
    IF FOUND THEN
      RETURN pg_catalog.format('trigger %I on %s runs privacy_internal._protect_trigger() a second time', g.tgname, r.rel);
    END IF;
    -- a child by inheritance (not a partition) gets no protect trigger:
    -- rows written to it are stored raw and show in every scan of the table
    SELECT i.inhrelid::regclass AS child INTO g
      FROM pg_catalog.pg_inherits i
      JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.inhrelid
     WHERE i.inhparent OPERATOR(pg_catalog.=) r.rel AND NOT c.relispartition
     ORDER BY i.inhrelid::regclass::text LIMIT 1;
    IF FOUND THEN
      RETURN pg_catalog.format('table %s inherits from %s: rows written to it are not protected', g.child, r.rel);
    END IF;
  END LOOP;
  RETURN NULL;
END
$$;

-- True when the table carries a protect trigger (by name or by function),
-- whether or not it is in force: the table is meant to be protected.
CREATE FUNCTION privacy_internal._has_protect_trigger(tbl regclass) RETURNS boolean
  LANGUAGE sql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT EXISTS (SELECT FROM pg_catalog.pg_trigger g
                  WHERE g.tgrelid OPERATOR(pg_catalog.=) tbl
                    AND (g.tgname OPERATOR(pg_catalog.=) 'zz_pg_privacy_protect'
                         OR g.tgfoid OPERATOR(pg_catalog.=) pg_catalog.to_regprocedure('privacy_internal._protect_trigger()')))
$$;

-- True when the table's protection is in force (see _protection_problem).
CREATE FUNCTION privacy_internal._is_protected(tbl regclass) RETURNS boolean
  LANGUAGE sql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT privacy_internal._protection_problem(tbl) IS NULL
$$;

-- Raise 55000 when a table meant to be protected is not protected now.
-- The purge and erasure paths call it before they touch a table.
CREATE FUNCTION privacy_internal._check_protection(tbl regclass) RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  problem text;
BEGIN
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'table must not be null' USING ERRCODE = '22004';
  END IF;
  IF NOT privacy_internal._has_protect_trigger(tbl) THEN
    RETURN;
  END IF;
  problem := privacy_internal._protection_problem(tbl);
  IF problem IS NOT NULL THEN
    RAISE LOG 'pg_privacy: protection of table % is not in force: % (role %)', tbl, problem, privacy_internal._invoker();
    RAISE EXCEPTION 'protection of table % is not in force', tbl
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.upper(pg_catalog.left(problem, 1)) || pg_catalog.substr(problem, 2) || '.',
            HINT = 'Restore the protect trigger, or remove the protection with privacy.unprotect() and install it again with privacy.protect().';
  END IF;
END
$$;

------------------------------------------------------------------------
-- The protect trigger
------------------------------------------------------------------------

CREATE FUNCTION privacy_internal._protect_trigger() RETURNS trigger
  LANGUAGE c
  AS 'MODULE_PATHNAME', 'pgp_protect_trigger';
COMMENT ON FUNCTION privacy_internal._protect_trigger() IS
  'internal: the on-write protect trigger created by privacy.protect()';

-- Rewrite the rows a table held before it was protected (see protect()).
-- Whether a table holds a row (col given: one whose col is not NULL), read
-- as its owner (src/protect.c).
CREATE FUNCTION privacy_internal._has_rows(tbl regclass, col name DEFAULT NULL) RETURNS boolean
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_has_rows';
COMMENT ON FUNCTION privacy_internal._has_rows(regclass, name) IS
  'internal: whether the table holds a row (whose col is not NULL), read as its owner';

CREATE FUNCTION privacy_internal._rewrite_protected(tbl regclass, cols name[])
  RETURNS bigint
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_rewrite_protected';
COMMENT ON FUNCTION privacy_internal._rewrite_protected(regclass, name[]) IS
  'internal: transform pre-existing rows through the protect trigger, as the table owner';

-- One value through a protect transformation, as the trigger stores it in
-- a column of identifier kind `identifies` (normalized by the kind first).
-- Not STRICT: NULL value gives NULL, NULL identifies means no kind.
CREATE FUNCTION privacy_internal._transform(value text, protect text, domain text,
                                   identifies text DEFAULT NULL)
  RETURNS text
  LANGUAGE c STABLE PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_transform';
COMMENT ON FUNCTION privacy_internal._transform(text, text, text, text) IS
  'internal: one value through a protect transformation, as the protect trigger stores it in a column of the identifier kind';

-- The rule and its signature that the protect trigger of a Citus table
-- carries onto every shard (src/protect.c, signed rules): built from the
-- catalog, never from an argument, but for the default country national
-- numbers are read in (NULL: pg_privacy.default_country).
CREATE FUNCTION privacy_internal._protect_shard_rule(tbl regclass, country text DEFAULT NULL) RETURNS text[]
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_protect_shard_rule';
COMMENT ON FUNCTION privacy_internal._protect_shard_rule(regclass, text) IS
  'internal: the signed rule for the protect trigger of a Citus table''s shards';

-- The default country of the rule the protect trigger of a Citus table
-- carries, or NULL.
-- (NULL when the rule does not read as one: protect() then signs with its
-- session's default country)
CREATE FUNCTION privacy_internal._protect_rule_country(tbl regclass) RETURNS text
  LANGUAGE plpgsql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  -- (the first argument: the bytes before the first NUL)
  RETURN (SELECT pg_catalog.convert_from(pg_catalog.substr(g.tgargs, 1, pg_catalog.position(g.tgargs, '\x00'::bytea) OPERATOR(pg_catalog.-) 1),
                                         pg_catalog.getdatabaseencoding())::jsonb OPERATOR(pg_catalog.->>) 'country'
            FROM pg_catalog.pg_trigger g
           WHERE g.tgrelid OPERATOR(pg_catalog.=) tbl AND g.tgname OPERATOR(pg_catalog.=) 'zz_pg_privacy_protect'
             AND g.tgnargs OPERATOR(pg_catalog.=) 2);
EXCEPTION WHEN OTHERS THEN
  RETURN NULL;
END
$$;

-- A rule and its signature as pg_trigger.tgargs holds them (each argument
-- followed by a NUL, in the database's encoding).
CREATE FUNCTION privacy_internal._protect_rule_args(r text[]) RETURNS bytea
  LANGUAGE sql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT pg_catalog.convert_to(r[1], pg_catalog.getdatabaseencoding()) OPERATOR(pg_catalog.||) '\x00'::bytea
         OPERATOR(pg_catalog.||) pg_catalog.convert_to(r[2], pg_catalog.getdatabaseencoding())
         OPERATOR(pg_catalog.||) '\x00'::bytea
$$;

-- (Re)create the protect trigger of a Citus table with its signed rule;
-- Citus copies it onto every shard.  Also after what makes the rule stale:
-- a declaration, a domain grant or revocation, a key change, a rename or a
-- new owner (the rule's default country kept unless `country` is given).
-- A rule that would not change is left as it is (dropping and creating the
-- trigger locks the table and every shard), unless `force`: protect()
-- writes it onto every shard again, whatever a shard holds.
CREATE FUNCTION privacy_internal._protect_citus_sign(tbl regclass, country text DEFAULT NULL,
                                                     force boolean DEFAULT false) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r      text[] := privacy_internal._protect_shard_rule(
                     tbl, COALESCE(country, privacy_internal._protect_rule_country(tbl)));
  unsafe text := pg_catalog.current_setting('citus.enable_unsafe_triggers', true);
  now_args bytea;
BEGIN
  SELECT g.tgargs INTO now_args FROM pg_catalog.pg_trigger g
   WHERE g.tgrelid OPERATOR(pg_catalog.=) tbl AND g.tgname OPERATOR(pg_catalog.=) 'zz_pg_privacy_protect';
  IF NOT force AND now_args OPERATOR(pg_catalog.=) privacy_internal._protect_rule_args(r) THEN
    RETURN;
  END IF;
  -- Citus creates a trigger on its tables' shards only when told that
  -- triggers there are safe: this one reads nothing but its row and its
  -- own rule
  PERFORM pg_catalog.set_config('citus.enable_unsafe_triggers', 'on', true);
  -- the event triggers let these pass (and only these: a rule is written
  -- by protect() alone)
  PERFORM privacy_internal._allow_protect_ddl(tbl);
  IF now_args IS NOT NULL THEN
    EXECUTE pg_catalog.format('DROP TRIGGER zz_pg_privacy_protect ON %s', tbl);
  END IF;
  EXECUTE pg_catalog.format(
    'CREATE TRIGGER zz_pg_privacy_protect BEFORE INSERT OR UPDATE ON %s '
    'FOR EACH ROW EXECUTE FUNCTION privacy_internal._protect_trigger(%L, %L)', tbl, r[1], r[2]);
  PERFORM privacy_internal._allow_protect_ddl(NULL);
  PERFORM pg_catalog.set_config('citus.enable_unsafe_triggers', COALESCE(unsafe, 'off'), true);
END
$$;

-- 0A000 when a protected column of a Citus table is its distribution
-- column: Citus routes a row by the value the coordinator sees, before the
-- trigger on the shard transforms it (protect(), register_column).
CREATE FUNCTION privacy_internal._protect_citus_dist_check(tbl regclass) RETURNS void
  LANGUAGE plpgsql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  d text := privacy_internal._citus_dist_column(tbl);
BEGIN
  IF d IS NOT NULL AND EXISTS (SELECT FROM privacy.registered_column c
                                WHERE c.tbl OPERATOR(pg_catalog.=) _protect_citus_dist_check.tbl AND c.protect IS NOT NULL
                                  AND c.col OPERATOR(pg_catalog.=) d) THEN
    RAISE EXCEPTION 'cannot protect column "%" of table %: it is the distribution column', d, tbl
      USING ERRCODE = '0A000',
            DETAIL = 'Citus routes a row by the value the coordinator sees, before the trigger on the shard transforms it: the row would lie in the shard of its raw value, and queries by pseudonym would not find it.',
            HINT = 'Distribute the table by another column (a customer or row id), or store the pseudonym itself: write privacy.pseudonymize_msisdn(...) in the INSERT and declare the column without protect.';
  END IF;
END
$$;

-- Whether the rule the protect trigger of a Citus table carries onto its
-- shards is not the one the catalog signs now (a rename, a new owner, a
-- domain taken away by a change of role membership): privacy.health().
CREATE FUNCTION privacy_internal._protect_rule_stale(tbl regclass) RETURNS boolean
  LANGUAGE plpgsql VOLATILE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r text[];
  now_args bytea;
BEGIN
  IF NOT privacy_internal._citus_table(tbl) THEN
    RETURN false;
  END IF;
  SELECT g.tgargs INTO now_args FROM pg_catalog.pg_trigger g
   WHERE g.tgrelid OPERATOR(pg_catalog.=) tbl AND g.tgname OPERATOR(pg_catalog.=) 'zz_pg_privacy_protect';
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  r := privacy_internal._protect_shard_rule(tbl, privacy_internal._protect_rule_country(tbl));
  RETURN now_args IS DISTINCT FROM privacy_internal._protect_rule_args(r);
END
$$;

-- Sign again the rules of the protected Citus tables (those with a column
-- in `domain`, or all for NULL), after what changes them.
CREATE FUNCTION privacy_internal._protect_citus_resign(domain text) RETURNS integer
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  t regclass;
  n integer := 0;
BEGIN
  FOR t IN SELECT r.tbl FROM privacy.registered_table r
            WHERE privacy_internal._has_protect_trigger(r.tbl)
              AND privacy_internal._citus_table(r.tbl)
              AND EXISTS (SELECT FROM privacy.registered_column c
                           WHERE c.tbl OPERATOR(pg_catalog.=) r.tbl AND c.protect IS NOT NULL
                             AND (_protect_citus_resign.domain IS NULL
                                  OR c.domain OPERATOR(pg_catalog.=) _protect_citus_resign.domain))
            ORDER BY r.tbl::text
  LOOP
    PERFORM privacy_internal._protect_citus_sign(t);
    n := n OPERATOR(pg_catalog.+) 1;
  END LOOP;
  RETURN n;
END
$$;

-- privacy.unprotect() lets its own DROP TRIGGER pass the event trigger.
CREATE FUNCTION privacy_internal._allow_protect_ddl(tbl regclass) RETURNS void
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_allow_protect_ddl';
CREATE FUNCTION privacy_internal._protect_ddl_allowed(tbl regclass) RETURNS boolean
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_protect_ddl_allowed';
-- The table Citus made rel a shard of (placed on this node), or NULL.
CREATE FUNCTION privacy_internal._protect_shard_table(rel regclass) RETURNS regclass
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_protect_shard_table';

-- protect() and protect_in_batches() (below): batched, the rows the table
-- holds are left to CALL privacy.rekey().
CREATE FUNCTION privacy_internal._protect(tbl regclass, rewrite_existing boolean, batched boolean) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  ncols integer;
  nrows bigint := 0;
  d text;
  citus boolean;
  had_trigger boolean := privacy_internal._has_protect_trigger(tbl);
BEGIN
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'table must not be null' USING ERRCODE = '22004',
          HINT = 'A mistyped table name given to to_regclass() yields NULL; check the name.';
  END IF;
  IF NOT EXISTS (SELECT FROM privacy.registered_table t WHERE t.tbl OPERATOR(pg_catalog.=) _protect.tbl) THEN
    RAISE EXCEPTION 'table % is not registered', tbl
      USING ERRCODE = '55000',
            HINT = 'Register it with privacy.register_table() and declare its columns with privacy.register_column().';
  END IF;
  PERFORM privacy_internal._check_owner(tbl);
  SELECT pg_catalog.count(*) INTO ncols FROM privacy.registered_column c
   WHERE c.tbl OPERATOR(pg_catalog.=) _protect.tbl AND c.protect IS NOT NULL;
  IF ncols OPERATOR(pg_catalog.=) 0 THEN
    RAISE EXCEPTION 'no column of table % has a protect transformation', tbl
      USING ERRCODE = '55000',
            HINT = 'Declare one with privacy.register_column(..., protect => ''pseudonym'').';
  END IF;
  -- A table Citus manages: its rows are on the shards, whose trigger reads
  -- the rule it carries (src/protect.c, signed rules).
  citus := privacy_internal._citus_table(tbl);
  IF citus THEN
    IF rewrite_existing THEN
      RAISE EXCEPTION 'rewrite_existing is not supported on table %, which Citus manages', tbl
        USING ERRCODE = '0A000',
              DETAIL = 'Rewriting the rows already on the shards through Citus is not built.',
              HINT = 'Protect an empty distributed table and load the rows into it (INSERT ... SELECT from the raw table): the shards transform them.';
    END IF;
    -- (Citus cuts and hashes the shard names of a longer name: the
    -- shards' trigger would not recognise them)
    IF pg_catalog.octet_length((SELECT k.relname FROM pg_catalog.pg_class k
                                 WHERE k.oid OPERATOR(pg_catalog.=) tbl)::text) OPERATOR(pg_catalog.>) 40 THEN
      RAISE EXCEPTION 'protect is not supported on table %, which Citus manages, with a name longer than 40 bytes', tbl
        USING ERRCODE = '0A000',
              DETAIL = 'Its shards would be named by a hash Citus adds, which the protect trigger on a shard does not check.',
              HINT = 'Rename the table to a shorter name.';
    END IF;
    PERFORM privacy_internal._protect_citus_dist_check(tbl);
  END IF;
  IF privacy_internal._has_protect_trigger(tbl) THEN
    PERFORM privacy_internal._check_protection(tbl);
    IF rewrite_existing THEN
      RAISE EXCEPTION 'table % is already protected', tbl
        USING ERRCODE = '55000',
              DETAIL = 'Its rows were protected on write; rewriting them would transform them twice.';
    END IF;
    -- A Citus table's rule is signed again below (as the catalog, owner,
    -- names and key now are); a table Citus no longer manages
    -- (undistribute_table) gets the local trigger instead of the one its
    -- shards carried, whose rule protects no local table.
    IF NOT citus AND NOT EXISTS (SELECT FROM pg_catalog.pg_trigger g
                                  WHERE g.tgrelid OPERATOR(pg_catalog.=) tbl
                                    AND g.tgname OPERATOR(pg_catalog.=) 'zz_pg_privacy_protect'
                                    AND g.tgnargs OPERATOR(pg_catalog.>) 0) THEN
      RAISE NOTICE 'table % is already protected', tbl;
      RETURN;
    END IF;
  END IF;
  -- The owner of the table (and of each partition) must hold the domains.
  FOR d IN SELECT DISTINCT c.domain FROM privacy.registered_column c
            WHERE c.tbl OPERATOR(pg_catalog.=) _protect.tbl
              AND c.protect IN ('pseudonym', 'msisdn_fpe', 'email_pseudonym')
  LOOP
    PERFORM privacy_internal._check_domain_owner(tbl, d);
  END LOOP;
  -- A generated column is computed after BEFORE triggers: stored raw.
  SELECT c.col INTO d FROM privacy.registered_column c
    JOIN pg_catalog.pg_attribute a
      ON a.attrelid OPERATOR(pg_catalog.=) c.tbl AND a.attname OPERATOR(pg_catalog.=) c.col
     AND NOT a.attisdropped
   WHERE c.tbl OPERATOR(pg_catalog.=) _protect.tbl AND c.protect IS NOT NULL
     AND a.attgenerated OPERATOR(pg_catalog.<>) '' LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'cannot protect generated column "%" of relation %', d, tbl
      USING ERRCODE = '55000',
            DETAIL = 'A generated column is computed after the protect trigger and would be stored untransformed.';
  END IF;
  -- No BEFORE row trigger may fire after ours and put a raw value back.
  SELECT pg_catalog.format('trigger %I on %s', g.tgname, g.tgrelid::regclass) INTO d
    FROM pg_catalog.pg_trigger g
   WHERE (g.tgrelid OPERATOR(pg_catalog.=) tbl
          OR g.tgrelid IN (SELECT p.relid FROM pg_catalog.pg_partition_tree(tbl) p))
     AND NOT g.tgisinternal AND g.tgenabled IN ('O', 'A')
     AND (g.tgtype::integer OPERATOR(pg_catalog.&) 3) OPERATOR(pg_catalog.=) 3
     AND (g.tgtype::integer OPERATOR(pg_catalog.&) 20) OPERATOR(pg_catalog.<>) 0
     AND g.tgname OPERATOR(pg_catalog.>) 'zz_pg_privacy_protect'::name
   ORDER BY g.tgname LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'table % has a BEFORE row trigger that would fire after the protect trigger', tbl
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('The %s sorts after zz_pg_privacy_protect and could store raw values.', d),
            HINT = 'Rename that trigger so that it sorts before zz_pg_privacy_protect.';
  END IF;
  -- Named to fire after the table's other BEFORE triggers (they fire in
  -- name order), so no later trigger can put a raw value back.
  IF citus THEN
    PERFORM privacy_internal._protect_citus_sign(tbl, pg_catalog.current_setting('pg_privacy.default_country'), true);
  ELSE
    IF privacy_internal._has_protect_trigger(tbl) THEN
      PERFORM privacy_internal._allow_protect_ddl(tbl);
      EXECUTE pg_catalog.format('DROP TRIGGER zz_pg_privacy_protect ON %s', tbl);
      PERFORM privacy_internal._allow_protect_ddl(NULL);
    END IF;
    EXECUTE pg_catalog.format(
      'CREATE TRIGGER zz_pg_privacy_protect BEFORE INSERT OR UPDATE ON %s '
      'FOR EACH ROW EXECUTE FUNCTION privacy_internal._protect_trigger()', tbl);
  END IF;
  -- Rows written before protection.  Left raw, they would be stored
  -- beside pseudonyms that cannot be told from them: export, erasure and
  -- restriction would not find them, and no later conversion could tell
  -- which rows to convert.  So a table that holds rows is protected only
  -- with an explicit choice (the trigger's creation above locks out
  -- concurrent writers until commit: no row comes in between).
  IF rewrite_existing IS NULL AND NOT had_trigger AND NOT citus AND privacy_internal._has_rows(tbl) THEN
    RAISE EXCEPTION 'table % holds rows written while it was not protected', tbl
      USING ERRCODE = '55000',
            DETAIL = 'Left as they are, raw values would stay beside the pseudonyms written from now on: the search for a data subject would not find them, and no later conversion could tell them apart. Nothing was changed.',
            HINT = pg_catalog.format('Convert them now: SELECT privacy.protect(%L, rewrite_existing => true); or, if they hold pseudonyms already (the table was protected before and nothing was written since privacy.unprotect()), leave them as they are: rewrite_existing => false.', tbl);
  END IF;
  IF rewrite_existing IS FALSE AND NOT had_trigger AND NOT citus AND privacy_internal._has_rows(tbl) THEN
    RAISE WARNING 'the rows table % held before privacy.protect() are left as they are', tbl
      USING DETAIL = 'Values written raw (before the table was protected, or while it was not) stay raw: export, erasure and restriction match its protected columns by pseudonym and do not find those rows by them.';
    nrows := -1;
  END IF;
  -- Rows written before protection, in batches: each relation (the table,
  -- or each of its partitions) is pending from 'raw' (privacy.rekey_pending,
  -- src/sql/36_rekey.sql) and begun now, under the trigger's lock: its
  -- high mark recorded, so that rows written from now on above it are
  -- protected as usual, while CALL privacy.rekey() converts the others in
  -- batches, each its own transaction.  Until then the protect trigger
  -- refuses to write a row left raw, and the search for a data subject
  -- refuses the table.  A relation that cannot be converted in batches (no
  -- order column, or nothing to mark) is converted now.
  IF batched THEN
    IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed' THEN
      RAISE EXCEPTION 'cannot convert the rows of relation % at isolation level %', tbl,
                      pg_catalog.upper(pg_catalog.current_setting('transaction_isolation'))
        USING ERRCODE = '55000',
              DETAIL = 'The transaction''s snapshot may be older than the lock that holds the writers off: a row committed in between would not be converted.',
              HINT = 'Run it at READ COMMITTED.';
    END IF;
    IF EXISTS (SELECT FROM privacy.rekey_pending p
                WHERE p.rel OPERATOR(pg_catalog.=) _protect.tbl
                   OR p.rel IN (SELECT x.relid FROM pg_catalog.pg_partition_tree(_protect.tbl) x)) THEN
      RAISE EXCEPTION 'relation % is pending in privacy.rekey_pending already', tbl
        USING ERRCODE = '55000', HINT = 'Run CALL privacy.rekey() to the end first.';
    END IF;
    INSERT INTO privacy.rekey_pending (rel, tbl, from_key)
    SELECT r.rel, _protect.tbl, 'raw'
      FROM (SELECT _protect.tbl::pg_catalog.oid AS rel
            UNION SELECT x.relid FROM pg_catalog.pg_partition_tree(_protect.tbl) x) r
      JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) r.rel
     WHERE k.relkind OPERATOR(pg_catalog.=) 'r';
    PERFORM privacy_internal._invalidate(tbl);
    FOR d IN SELECT p.rel::text FROM privacy.rekey_pending p
              WHERE p.tbl OPERATOR(pg_catalog.=) _protect.tbl AND p.from_key OPERATOR(pg_catalog.=) 'raw'
              ORDER BY p.rel::pg_catalog.oid
    LOOP
      nrows := nrows OPERATOR(pg_catalog.+)
               COALESCE((SELECT s.rows FROM privacy_internal._rekey_rel(d::regclass, 1000, 0) s), 0);
      IF EXISTS (SELECT FROM privacy.rekey_pending p
                  WHERE p.rel OPERATOR(pg_catalog.=) d::regclass AND p.high_mark IS NULL) THEN
        nrows := nrows OPERATOR(pg_catalog.+)
                 COALESCE((SELECT s.rows FROM privacy_internal._rekey_rel(d::regclass, 1000, 2147483647) s), 0);
      END IF;
    END LOOP;
  -- Rows written before protection: transformed in place through the new
  -- trigger, in this transaction, as the table's owner.
  ELSIF rewrite_existing THEN
    nrows := privacy_internal._rewrite_protected(tbl,
               ARRAY(SELECT c.col FROM privacy.registered_column c
                      WHERE c.tbl OPERATOR(pg_catalog.=) _protect.tbl AND c.protect IS NOT NULL
                      ORDER BY c.attnum));
  END IF;
  PERFORM privacy_internal._audit('protect.on', tbl::text,
                         pg_catalog.jsonb_build_object('columns', ncols, 'rows_rewritten', GREATEST(nrows, 0),
                                                       'rows_left_raw', nrows OPERATOR(pg_catalog.<) 0,
                                                       'batched', batched));
  IF batched AND EXISTS (SELECT FROM privacy.rekey_pending p WHERE p.tbl OPERATOR(pg_catalog.=) _protect.tbl
                                                             AND p.from_key OPERATOR(pg_catalog.=) 'raw') THEN
    RAISE NOTICE 'the rows table % held are converted by CALL privacy.rekey()', tbl
      USING DETAIL = 'New rows are protected now. Until a row is converted its protected columns cannot be changed, and export, erasure and restriction refuse the table.',
            HINT = 'Run CALL privacy.rekey() (privacy.rekey_progress shows what is left).';
  END IF;
END
$$;
COMMENT ON FUNCTION privacy_internal._protect(regclass, boolean, boolean) IS
  'internal: privacy.protect() and privacy.protect_in_batches()';

CREATE FUNCTION privacy.protect(tbl regclass, rewrite_existing boolean DEFAULT NULL) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
BEGIN
  PERFORM privacy_internal._protect(tbl, rewrite_existing, false);
END
$$;
COMMENT ON FUNCTION privacy.protect(regclass, boolean) IS
  'install the on-write protect trigger: each declared transformation is applied on INSERT, UPDATE and COPY, also on partitions; rewrite_existing converts rows already stored (true) or leaves them raw (false); a table that holds rows needs one or the other';

-- The same as protect(tbl, rewrite_existing => true), but the rows the
-- table holds are converted in batches by CALL privacy.rekey(), each its
-- own transaction, resumable: for a table too large for one.
CREATE FUNCTION privacy.protect_in_batches(tbl regclass) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
BEGIN
  PERFORM privacy_internal._protect(tbl, true, true);
END
$$;
COMMENT ON FUNCTION privacy.protect_in_batches(regclass) IS
  'install the on-write protect trigger, and leave the rows the table holds to CALL privacy.rekey(), which converts them in batches; until then the protected columns of a row not converted cannot be changed and the search for a data subject refuses the table';

CREATE FUNCTION privacy.unprotect(tbl regclass) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  unsafe text;
BEGIN
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'table must not be null' USING ERRCODE = '22004',
          HINT = 'A mistyped table name given to to_regclass() yields NULL; check the name.';
  END IF;
  PERFORM privacy_internal._check_owner(tbl);
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_trigger g
                  WHERE g.tgrelid OPERATOR(pg_catalog.=) tbl
                    AND g.tgname OPERATOR(pg_catalog.=) 'zz_pg_privacy_protect') THEN
    RAISE EXCEPTION 'table % is not protected', tbl USING ERRCODE = '55000';
  END IF;
  -- Rows it held before protect_in_batches() half converted:
  -- without the trigger, the two kinds could never be told apart.
  IF privacy_internal._raw_relation(tbl) IS NOT NULL THEN
    RAISE EXCEPTION 'cannot unprotect table % while privacy.rekey() converts the rows it held before it was protected', tbl
      USING ERRCODE = '55000',
            DETAIL = 'Its rows converted so far are pseudonyms, the others raw: without the protect trigger they could not be told apart.',
            HINT = 'Run CALL privacy.rekey() to the end (privacy.rekey_progress shows what is left), then unprotect it.';
  END IF;
  -- Citus drops it from every shard only when told triggers are safe
  IF privacy_internal._citus_table(tbl) THEN
    unsafe := pg_catalog.current_setting('citus.enable_unsafe_triggers', true);
    PERFORM pg_catalog.set_config('citus.enable_unsafe_triggers', 'on', true);
  END IF;
  -- The event trigger lets this one drop pass (and only this one).
  PERFORM privacy_internal._allow_protect_ddl(tbl);
  EXECUTE pg_catalog.format('DROP TRIGGER zz_pg_privacy_protect ON %s', tbl);
  PERFORM privacy_internal._allow_protect_ddl(NULL);
  IF unsafe IS NOT NULL THEN
    PERFORM pg_catalog.set_config('citus.enable_unsafe_triggers', unsafe, true);
  END IF;
  PERFORM privacy_internal._audit('protect.off', tbl::text);
END
$$;
COMMENT ON FUNCTION privacy.unprotect(regclass) IS 'remove the on-write protect trigger';

-- Which tables are protected.
CREATE VIEW privacy.protected_tables AS
SELECT t.tbl AS table_name,
       pg_catalog.array_agg(c.col::text || ':' || c.protect ORDER BY c.attnum) AS columns,
       privacy_internal._is_protected(t.tbl) AS protected
  FROM privacy.registered_table t
  JOIN privacy.registered_column c ON c.tbl OPERATOR(pg_catalog.=) t.tbl
 WHERE c.protect IS NOT NULL
 GROUP BY t.tbl;
COMMENT ON VIEW privacy.protected_tables IS
  'registered tables with protect transformations, and whether their protection is in force (trigger present, enabled, last, on every partition)';

------------------------------------------------------------------------
-- Protection cannot be switched off behind pg_privacy's back
------------------------------------------------------------------------

-- The enforcement triggers besides the protect trigger (the consent check
-- zy_pg_privacy_consent, the restriction check zx_pg_privacy_restrict) are
-- verified the same way: the first reason why trigger `tgname` is not in
-- force on tbl and on every relation of its partition tree, or NULL.  In
-- force means: present, running fn, of the trigger type it was created
-- with (tgtype), on every column, without WHEN condition, enabled as
-- created (origin mode); and, for a BEFORE row trigger, no enabled BEFORE
-- INSERT/UPDATE row trigger of the owner's fires after it (row triggers
-- fire in name order) but those listed in `may_follow` (pg_privacy's own,
-- by name and function); and no child by inheritance (it gets no check).
CREATE FUNCTION privacy_internal._trigger_problem(tbl regclass, tgname name, fn regprocedure, tgtype integer,
                                         may_follow name[])
  RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r record;
  g record;
BEGIN
  -- a check never answers "in force" for a table that is not there
  IF tbl IS NOT NULL AND NOT EXISTS (SELECT FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) tbl) THEN
    RETURN pg_catalog.format('table with OID %s does not exist', tbl::oid);
  END IF;
  FOR r IN SELECT c.oid::regclass AS rel FROM pg_catalog.pg_class c
            WHERE (c.oid OPERATOR(pg_catalog.=) tbl
                   OR c.oid IN (SELECT p.relid FROM pg_catalog.pg_partition_tree(tbl) p))
              AND c.relkind IN ('r', 'p', 'f')
            ORDER BY c.oid OPERATOR(pg_catalog.<>) tbl, c.oid::regclass::text
  LOOP
    SELECT t.tgfoid, t.tgtype, t.tgenabled, t.tgqual IS NOT NULL AS has_when,
           pg_catalog.cardinality(t.tgattr::pg_catalog.int2[]) OPERATOR(pg_catalog.>) 0 AS has_cols,
           EXISTS (SELECT FROM pg_catalog.pg_depend d
                    WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::pg_catalog.regclass
                      AND d.objid OPERATOR(pg_catalog.=) t.oid
                      AND d.deptype OPERATOR(pg_catalog.=) 'x') AS ext_dep
      INTO g
      FROM pg_catalog.pg_trigger t
     WHERE t.tgrelid OPERATOR(pg_catalog.=) r.rel
       AND t.tgname OPERATOR(pg_catalog.=) _trigger_problem.tgname;
    IF NOT FOUND THEN
      RETURN pg_catalog.format('trigger %I is missing on %s', tgname, r.rel);
    ELSIF g.tgfoid OPERATOR(pg_catalog.<>) fn THEN
      RETURN pg_catalog.format('trigger %I on %s does not run %s', tgname, r.rel, fn);
    ELSIF g.tgtype OPERATOR(pg_catalog.<>) _trigger_problem.tgtype OR g.has_cols THEN
      RETURN pg_catalog.format('trigger %I on %s is not of the type pg_privacy created', tgname, r.rel);
    ELSIF g.has_when THEN
      RETURN pg_catalog.format('trigger %I on %s has a WHEN condition', tgname, r.rel);
    ELSIF g.tgenabled OPERATOR(pg_catalog.<>) 'O' THEN
      RETURN pg_catalog.format('trigger %I on %s is %s', tgname, r.rel,
                               CASE g.tgenabled WHEN 'D' THEN 'disabled'
                                                WHEN 'R' THEN 'enabled for replica sessions only'
                                                ELSE 'enabled always, not as created' END);
    ELSIF g.ext_dep THEN
      -- ALTER TRIGGER ... DEPENDS ON EXTENSION: DROP EXTENSION would drop it
      RETURN pg_catalog.format('trigger %I on %s depends on an extension', tgname, r.rel);
    END IF;
    IF (tgtype OPERATOR(pg_catalog.&) 3) OPERATOR(pg_catalog.=) 3 THEN        -- ROW, BEFORE
      SELECT t.tgname INTO g FROM pg_catalog.pg_trigger t
       WHERE t.tgrelid OPERATOR(pg_catalog.=) r.rel
         AND NOT t.tgisinternal
         AND t.tgenabled IN ('O', 'A')
         AND (t.tgtype::integer OPERATOR(pg_catalog.&) 3) OPERATOR(pg_catalog.=) 3
         AND (t.tgtype::integer OPERATOR(pg_catalog.&) 20) OPERATOR(pg_catalog.<>) 0
         AND t.tgname OPERATOR(pg_catalog.>) _trigger_problem.tgname
         -- pg_privacy's own by name and function: a trigger of the owner's
         -- named zz_pg_privacy_protect on a table without protection is hers
         AND NOT (t.tgname OPERATOR(pg_catalog.=) ANY (COALESCE(may_follow, '{}'::name[]))
                  AND t.tgfoid IN (SELECT p.oid FROM pg_catalog.pg_proc p
                                    WHERE p.pronamespace OPERATOR(pg_catalog.=) 'privacy_internal'::pg_catalog.regnamespace))
       ORDER BY t.tgname LIMIT 1;
      IF FOUND THEN
        RETURN pg_catalog.format('trigger %I on %s fires after %I', g.tgname, r.rel, tgname);
      END IF;
    END IF;
    -- a child by inheritance (not a partition) gets no check: rows written
    -- to it, or updated in it, show in every scan of the table
    SELECT i.inhrelid::regclass AS child INTO g
      FROM pg_catalog.pg_inherits i
      JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) i.inhrelid
     WHERE i.inhparent OPERATOR(pg_catalog.=) r.rel AND NOT c.relispartition
     ORDER BY i.inhrelid::regclass::text LIMIT 1;
    IF FOUND THEN
      RETURN pg_catalog.format('table %s inherits from %s: trigger %I does not check its rows', g.child, r.rel, tgname);
    END IF;
  END LOOP;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION privacy_internal._trigger_problem(regclass, name, regprocedure, integer, name[]) IS
  'internal: why an enforcement trigger of pg_privacy is not in force on a table or one of its partitions (NULL: in force)';

-- Every enforcement pg_privacy keeps on tbl that is not in force, one row
-- per problem with what it switches off: the protection (a registered
-- table carrying the protect trigger), the consent check (when
-- consent_required: the table has a consent requirement) and the
-- restriction check (when restricted: a subject table while any subject is
-- restricted).  The flags come from the view privacy_internal._enforced_table;
-- this function reads pg_catalog only, so a role granted catalog_problems
-- needs nothing more.
CREATE FUNCTION privacy_internal._enforcement_problems(tbl regclass, registered boolean, consent_required boolean,
                                              restricted boolean, OUT what text, OUT problem text)
  RETURNS SETOF record
  LANGUAGE plpgsql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN QUERY
  SELECT x.w, x.p
    FROM (VALUES ('protection', CASE WHEN registered AND privacy_internal._has_protect_trigger(tbl)
                                     THEN privacy_internal._protection_problem(tbl) END),
                 ('consent check', CASE WHEN consent_required THEN privacy_internal._consent_problem(tbl) END),
                 ('restriction check', CASE WHEN restricted THEN privacy_internal._restrict_problem(tbl) END)) x(w, p)
   WHERE x.p IS NOT NULL;
END
$$;
COMMENT ON FUNCTION privacy_internal._enforcement_problems(regclass, boolean, boolean, boolean) IS
  'internal: the protection, consent check and restriction check of a table that are not in force, and why';

-- Is this DDL pg_privacy's own on a Citus worker?  protect() and
-- unprotect() on the coordinator reach a worker's shards as the role they
-- run as there: the extension owner.  (Asked only of DDL that touched a
-- shard's protect trigger.)
CREATE FUNCTION privacy_internal._protect_own_worker_ddl(who name) RETURNS boolean
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT privacy_internal._citus_worker()
         AND who OPERATOR(pg_catalog.=) (SELECT r.rolname FROM pg_catalog.pg_extension x
                                           JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) x.extowner
                                          WHERE x.extname OPERATOR(pg_catalog.=) 'pg_privacy')
$$;

-- After ALTER TABLE, CREATE TABLE, CREATE TRIGGER or ALTER TRIGGER: a
-- command that leaves an enforcement of a table not in force (its
-- protection, its consent check, its restriction check: see
-- _enforcement_problems), because it disabled, replaced or renamed the
-- trigger, added a BEFORE row trigger that fires after it, or attached a
-- partition that has one, is refused.  A superuser acting on its own (not inside a
-- security-restricted operation) may: a data-only restore with
-- --disable-triggers does.  That is logged and audited, and
-- catalog_problems shows it until the protection is back.  Called by the
-- event trigger function privacy_internal._protect_event_trigger() (protect.c),
-- which runs as the role executing the DDL and tells whether it may.
CREATE FUNCTION privacy_internal._protect_on_ddl_end(may_switch_off boolean) RETURNS void
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
  SET jit = off
AS $$
DECLARE
  reg regclass;
  e record;
  who name := privacy_internal._invoker();
  fn regprocedure := pg_catalog.to_regprocedure('privacy_internal._protect_trigger()');
BEGIN
  -- A command that only created restriction checks as _restrict_install
  -- makes them (AFTER UPDATE statement triggers of that name and function,
  -- with no condition and no column list) adds enforcement: nothing to
  -- install or check.  The install makes one per table and partition, and
  -- an install started again by each of them nested one level deeper per
  -- table (restrict_subject ran out of stack at about 220).
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_event_trigger_ddl_commands() d
                  WHERE NOT (d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::pg_catalog.regclass
                             AND EXISTS (SELECT FROM pg_catalog.pg_trigger g
                                          WHERE g.oid OPERATOR(pg_catalog.=) d.objid
                                            AND g.tgname OPERATOR(pg_catalog.=) 'zx_pg_privacy_restrict'
                                            AND g.tgfoid OPERATOR(pg_catalog.=) pg_catalog.to_regprocedure('privacy_internal._restrict_trigger()')
                                            AND g.tgtype OPERATOR(pg_catalog.=) 16
                                            AND g.tgenabled OPERATOR(pg_catalog.=) 'O'
                                            AND g.tgqual IS NULL
                                            AND pg_catalog.cardinality(g.tgattr::pg_catalog.int2[]) OPERATOR(pg_catalog.=) 0))) THEN
    RETURN;
  END IF;
  -- A registered table made a typed table (ALTER TABLE ... OF type): its
  -- columns would follow ALTER TYPE ... CASCADE, which no check of
  -- pg_privacy sees (register_table refuses typed tables).
  FOR e IN
    SELECT DISTINCT t.tbl, k.reloftype::regtype AS typ
      FROM pg_catalog.pg_event_trigger_ddl_commands() d
      JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) d.objid
      JOIN privacy.registered_table t ON t.tbl OPERATOR(pg_catalog.=) k.oid
     WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
       AND k.reloftype OPERATOR(pg_catalog.<>) 0
  LOOP
    RAISE EXCEPTION 'cannot make registered table % a typed table', e.tbl
      USING ERRCODE = '0A000',
            DETAIL = pg_catalog.format('Its columns would follow composite type %s, which ALTER TYPE ... CASCADE changes without the checks that keep its declarations and protection in force.', e.typ);
  END LOOP;
  -- The column privacy.rekey() converts a relation in order of tells which
  -- of its rows are under which key (src/rekey.c): until the relation is
  -- converted it may be neither dropped, nor renamed, nor given another
  -- type (the rows' keys could no longer be told apart).
  IF pg_catalog.to_regclass('privacy.rekey_pending') IS NOT NULL THEN
    FOR e IN
      SELECT p.rel, p.order_col, p.order_type
        FROM privacy.rekey_pending p
       WHERE (p.watermark IS NOT NULL OR p.high_mark IS NOT NULL)
         AND EXISTS (SELECT FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) p.rel)
         AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a
                          WHERE a.attrelid OPERATOR(pg_catalog.=) p.rel
                            AND a.attname OPERATOR(pg_catalog.=) p.order_col
                            AND NOT a.attisdropped
                            AND a.atttypid OPERATOR(pg_catalog.=) p.order_type)
       ORDER BY p.rel::pg_catalog.oid
       LIMIT 1
    LOOP
      RAISE EXCEPTION 'cannot drop, rename or retype column % of relation % while privacy.rekey() converts it in order of that column', e.order_col, e.rel
        USING ERRCODE = '55000',
              DETAIL = 'Which of its rows are under the current key and which under the replaced one is told by that column.',
              HINT = 'Run CALL privacy.rekey() to the end (privacy.rekey_progress), then change the column.';
    END LOOP;
  END IF;
  -- The protect trigger with a signed rule (a Citus table's, src/protect.c)
  -- is written by protect() alone: an owner putting back an older rule read
  -- from pg_trigger would have the shards transform by a rule the catalog no
  -- longer gives (a revoked domain, a column declared since).  Neither may
  -- anyone but pg_privacy create one on a shard or disable a shard's, on any
  -- node (Citus itself does not stop a table's owner there).
  FOR e IN
    SELECT g.tgrelid::regclass AS rel, g.tgname,
           CASE WHEN d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::regclass AND g.tgnargs OPERATOR(pg_catalog.>) 0
                THEN 'a protect trigger with a rule was created' ELSE 'its protect trigger was disabled' END AS problem
      FROM pg_catalog.pg_event_trigger_ddl_commands() d
      JOIN pg_catalog.pg_trigger g
        ON g.tgfoid OPERATOR(pg_catalog.=) fn
       AND ((d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::regclass AND g.oid OPERATOR(pg_catalog.=) d.objid)
            OR (d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass AND g.tgrelid OPERATOR(pg_catalog.=) d.objid))
     WHERE NOT privacy_internal._protect_ddl_allowed(g.tgrelid::regclass)
       AND NOT privacy_internal._protect_own_worker_ddl(who)
       AND ((d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::regclass AND g.tgnargs OPERATOR(pg_catalog.>) 0)
            -- (a shard, placed on this node or not yet: the tables of a
            -- new placement a move builds are served once it is recorded)
            OR (g.tgenabled OPERATOR(pg_catalog.<>) 'O'
                AND privacy_internal._citus_shard_named(g.tgrelid::regclass) IS NOT NULL))
  LOOP
    IF may_switch_off THEN
      RAISE WARNING 'protection of table % is not as pg_privacy made it: %', e.rel, e.problem;
      RAISE LOG 'pg_privacy: superuser % changed the protect trigger % of table %: %', who, e.tgname, e.rel, e.problem;
      CONTINUE;
    END IF;
    RAISE LOG 'pg_privacy: refused DDL of role % on the protect trigger % of table %: %', who, e.tgname, e.rel, e.problem;
    -- a shard's new placement, built by a move or a split as the owner
    IF e.problem OPERATOR(pg_catalog.=) 'a protect trigger with a rule was created'
       AND privacy_internal._citus_shard_named(e.rel) IS NOT NULL AND privacy_internal._protect_shard_table(e.rel) IS NULL THEN
      RAISE EXCEPTION 'cannot move or split the shards of protected table %, owned by %',
                      privacy_internal._citus_shard_named(e.rel),
                      (SELECT k.relowner::pg_catalog.regrole FROM pg_catalog.pg_class k
                        WHERE k.oid OPERATOR(pg_catalog.=) privacy_internal._citus_shard_named(e.rel))
        USING ERRCODE = '55000',
              DETAIL = 'Citus builds the new placement of a shard as the table''s owner, and pg_privacy cannot tell its copy of '
                       'the protect trigger and the rows from what the owner could write there herself.',
              HINT = 'Give the table to a superuser for the move, then back, and run privacy.protect() on it again '
                     '(see doc/operations.md, Citus).';
    END IF;
    RAISE EXCEPTION 'cannot change the protect trigger % of table %', e.tgname, e.rel
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.upper(pg_catalog.left(e.problem, 1)) || pg_catalog.substr(e.problem, 2)
                     || '; only privacy.protect() writes a signed rule, and Citus copies it onto the shards.',
            HINT = 'Run privacy.protect() on the table on the coordinator.';
  END LOOP;
  -- (A partition created or attached under a subject table while subjects
  -- are restricted gets its restriction check from
  -- privacy_internal._restrict_on_partition_ddl, which src/protect.c calls
  -- after CREATE TABLE and ATTACH PARTITION only.)
  FOR reg IN
    SELECT DISTINCT t.tbl
      FROM pg_catalog.pg_event_trigger_ddl_commands() d
      CROSS JOIN LATERAL (
        SELECT CASE WHEN d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass THEN d.objid
                    WHEN d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::regclass
                    THEN (SELECT g.tgrelid FROM pg_catalog.pg_trigger g WHERE g.oid OPERATOR(pg_catalog.=) d.objid)
               END AS relid) x
      JOIN privacy_internal._enforced_table t
        ON t.tbl::oid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT pg_catalog.pg_partition_ancestors(x.relid)))
        OR t.tbl::oid OPERATOR(pg_catalog.=) x.relid
        -- ALTER TABLE ... INHERIT a protected table
        OR t.tbl::oid IN (SELECT i.inhparent FROM pg_catalog.pg_inherits i
                           WHERE i.inhrelid OPERATOR(pg_catalog.=) x.relid)
     WHERE x.relid IS NOT NULL
  LOOP
    FOR e IN SELECT p.* FROM privacy_internal._enforced_table f,
                    LATERAL privacy_internal._enforcement_problems(f.tbl, f.registered, f.consent_required, f.restricted) p
              WHERE f.tbl OPERATOR(pg_catalog.=) reg LOOP
      IF may_switch_off THEN
        RAISE WARNING '% of table % is not in force', e.what, reg
          USING DETAIL = e.problem, HINT = 'Restore it before writing to the table; privacy.catalog_problems lists it.';
        RAISE LOG 'pg_privacy: superuser % switched off % of table %: %', who, e.what, reg, e.problem;
        BEGIN
          PERFORM privacy_internal._audit(CASE e.what WHEN 'protection' THEN 'protect.weakened'
                                             WHEN 'consent check' THEN 'consent.weakened'
                                             ELSE 'subject.restriction_weakened' END,
                                 reg::text, pg_catalog.jsonb_build_object('problem', e.problem));
        EXCEPTION WHEN unique_violation THEN
          -- a data-only restore loading the audit log itself: the server log has it
          NULL;
        END;
        CONTINUE;
      END IF;
      RAISE LOG 'pg_privacy: refused DDL of role % that would switch off % of table %: %', who, e.what, reg, e.problem;
      RAISE EXCEPTION 'cannot switch off the % of table %', e.what, reg
        USING ERRCODE = '55000',
              DETAIL = pg_catalog.upper(pg_catalog.left(e.problem, 1)) || pg_catalog.substr(e.problem, 2) || '.',
              HINT = CASE e.what WHEN 'protection' THEN 'Remove the protection with privacy.unprotect() first.'
                                 WHEN 'consent check' THEN 'Remove the requirement with privacy.unrequire_consent() first.'
                                 ELSE 'Lift the restrictions with privacy.unrestrict_subject() first.' END;
    END LOOP;
  END LOOP;
END
$$;

-- DROP TRIGGER of an enforcement trigger on a table that still exists is
-- refused: zz_pg_privacy_protect unless privacy.unprotect() drops it,
-- zy_pg_privacy_consent while the table requires consent,
-- zx_pg_privacy_restrict while any subject is restricted (DROP TABLE and
-- DETACH PARTITION drop them with the table or from the partition: allowed).
CREATE FUNCTION privacy_internal._protect_on_sql_drop(may_switch_off boolean) RETURNS void
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
  SET jit = off
AS $$
DECLARE
  o record;
  rel regclass;
  what text;
  who name := privacy_internal._invoker();
BEGIN
  -- the protect trigger of a shard (named after it by Citus), dropped by
  -- anyone but pg_privacy
  FOR o IN SELECT * FROM pg_catalog.pg_event_trigger_dropped_objects() x
            WHERE x.object_type OPERATOR(pg_catalog.=) 'trigger'
              AND x.address_names[3] LIKE 'zz\_pg\_privacy\_protect\_%'
  LOOP
    rel := pg_catalog.to_regclass(pg_catalog.format('%I.%I', o.address_names[1], o.address_names[2]));
    CONTINUE WHEN rel IS NULL OR privacy_internal._citus_shard_named(rel) IS NULL
                  OR privacy_internal._protect_ddl_allowed(rel)
                  OR privacy_internal._protect_own_worker_ddl(who);
    IF may_switch_off THEN
      RAISE WARNING 'protection of shard % is not in force', rel
        USING DETAIL = pg_catalog.format('Its trigger %I was dropped.', o.address_names[3]);
      RAISE LOG 'pg_privacy: superuser % dropped the protect trigger of shard %', who, rel;
      CONTINUE;
    END IF;
    RAISE LOG 'pg_privacy: refused DROP TRIGGER % of role % on shard %', o.address_names[3], who, rel;
    RAISE EXCEPTION 'cannot drop the protect trigger of shard %', rel
      USING ERRCODE = '55000',
            HINT = 'Remove the protection with privacy.unprotect() on the table on the coordinator.';
  END LOOP;
  FOR o IN SELECT * FROM pg_catalog.pg_event_trigger_dropped_objects() x
            WHERE x.object_type OPERATOR(pg_catalog.=) 'trigger'
              AND x.address_names[3] IN ('zz_pg_privacy_protect', 'zy_pg_privacy_consent', 'zx_pg_privacy_restrict')
  LOOP
    rel := pg_catalog.to_regclass(pg_catalog.format('%I.%I', o.address_names[1], o.address_names[2]));
    CONTINUE WHEN rel IS NULL;
    IF o.address_names[3] OPERATOR(pg_catalog.=) 'zz_pg_privacy_protect' THEN
      CONTINUE WHEN NOT EXISTS (SELECT FROM privacy.registered_table t WHERE t.tbl OPERATOR(pg_catalog.=) rel);
      CONTINUE WHEN privacy_internal._protect_ddl_allowed(rel);
      what := 'protect trigger';
    ELSIF o.address_names[3] OPERATOR(pg_catalog.=) 'zy_pg_privacy_consent' THEN
      -- privacy.unrequire_consent() drops it after the last requirement
      CONTINUE WHEN NOT EXISTS (SELECT FROM privacy.consent_requirement q
                                 WHERE q.tbl OPERATOR(pg_catalog.=) rel
                                    OR q.tbl::oid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT pg_catalog.pg_partition_ancestors(rel))));
      what := 'consent check';
    ELSE
      CONTINUE WHEN NOT EXISTS (SELECT FROM privacy.restriction);
      what := 'restriction check';
    END IF;
    IF may_switch_off THEN
      RAISE WARNING '% of table % is not in force', CASE what WHEN 'protect trigger' THEN 'protection' ELSE what END, rel
        USING DETAIL = pg_catalog.format('Its trigger %I was dropped.', o.address_names[3]);
      RAISE LOG 'pg_privacy: superuser % dropped the % of table %', who, what, rel;
      BEGIN
        PERFORM privacy_internal._audit(CASE what WHEN 'protect trigger' THEN 'protect.weakened'
                                         WHEN 'consent check' THEN 'consent.weakened'
                                         ELSE 'subject.restriction_weakened' END,
                               rel::text,
                               pg_catalog.jsonb_build_object('problem', pg_catalog.format('trigger %s dropped', o.address_names[3])));
      EXCEPTION WHEN unique_violation THEN
        NULL;
      END;
      CONTINUE;
    END IF;
    RAISE LOG 'pg_privacy: refused DROP TRIGGER % of role % on table %', o.address_names[3], who, rel;
    RAISE EXCEPTION 'cannot drop the % of table %', what, rel
      USING ERRCODE = '55000',
            HINT = CASE what WHEN 'protect trigger' THEN 'Remove the protection with privacy.unprotect() first.'
                             WHEN 'consent check' THEN 'Remove the requirement with privacy.unrequire_consent() first.'
                             ELSE 'Lift the restrictions with privacy.unrestrict_subject() first.' END;
  END LOOP;
END
$$;

CREATE FUNCTION privacy_internal._protect_event_trigger() RETURNS event_trigger
  LANGUAGE c
  AS 'MODULE_PATHNAME', 'pgp_protect_event_trigger';
COMMENT ON FUNCTION privacy_internal._protect_event_trigger() IS
  'internal: refuses DDL that switches off the protection of a protected table';

-- (CREATE SCHEMA too: the tables and triggers created by its schema
-- elements fire no event trigger of their own)
CREATE EVENT TRIGGER pg_privacy_protect_ddl_end ON ddl_command_end
  WHEN TAG IN ('ALTER TABLE', 'ALTER FOREIGN TABLE', 'CREATE TABLE', 'CREATE TRIGGER', 'ALTER TRIGGER', 'CREATE SCHEMA')
  EXECUTE FUNCTION privacy_internal._protect_event_trigger();
CREATE EVENT TRIGGER pg_privacy_protect_sql_drop ON sql_drop
  WHEN TAG IN ('DROP TRIGGER', 'ALTER TABLE', 'DROP EXTENSION')
  EXECUTE FUNCTION privacy_internal._protect_event_trigger();
-- Key rotation of phone-number pseudonyms.
--
-- A column protected by msisdn_fpe stores a phone number encrypted under
-- the key (format-preserving, reversible).  After accept_key_change() the
-- rows written before it still hold pseudonyms under the replaced key.
-- Those pseudonyms are numbers themselves: looked up under the new key
-- they are not found, or are taken for another person's number (a
-- pseudonym under one key equals another number's pseudonym under the
-- other key about as often as a random number of the same length is in the
-- table).  So the change records every relation (a table, or each
-- partition of a partitioned one) whose pseudonyms are under the replaced
-- key as pending, and until privacy.rekey() has converted it:
--
--   * the protect trigger writes each row under the key of its place
--     (below); a new partition is under the current key;
--   * export, erasure, restriction, the consent cascade, the link search
--     and the replay match and read each stored number under the key of
--     its row (privacy_internal._row_key, in the reading statement's
--     snapshot): never a silent miss, never another person's row; legal
--     holds and restrictions look a number up under every key in play;
--   * privacy.key_versions counts the relations that still need the key.
--
-- privacy.rekey() converts a relation in batches, each its own
-- transaction, in order of one of its columns (the order column: not
-- protected, of a built-in type with a total order, the leading column of
-- a btree index; src/rekey.c).  Each batch locks the relation against
-- writes (SHARE ROW EXCLUSIVE, waiting at most lock_timeout_ms) while it
-- decrypts each pseudonym of the rows past the watermark, up to
-- batch_size rows further, under the pending key and encrypts it under
-- the current one through the protect trigger, as the table's owner, and
-- moves the watermark; then commits.  When the conversion of a relation
-- begins (a first pass of privacy.rekey() begins every relation it can
-- lock at once), it records the largest value of the order column, the
-- high mark.  A row whose order column is at most the watermark, or above
-- the high mark (written since the conversion began), is under the
-- current key; any other row (between the two, or without a value in the
-- order column) under the pending key: the protect trigger writes each
-- row under the key of its place.  The last batch converts the rest up to
-- the high mark (the rows without a value in the order column too), drops
-- the relation from the pending list, logs and audits it.  A relation
-- with no order column is converted in one batch.  A crash or cancel
-- loses at most the batch under way: the next CALL goes on from the
-- watermark.

CREATE TABLE privacy.rekey_pending (
  rel      regclass    PRIMARY KEY,
  tbl      regclass    NOT NULL,
  -- the older key its pseudonyms are under, or 'raw': rows the table held
  -- before protect_in_batches(), which privacy.rekey() converts the same
  -- way (src/sql/35_protect.sql)
  from_key text        NOT NULL CHECK (from_key ~ '^pgp1:[0-9a-f]{16}$' OR from_key = 'raw'),
  since    timestamptz NOT NULL DEFAULT pg_catalog.now(),
  -- how far privacy.rekey() has come (src/rekey.c): rows whose order_col
  -- is at most watermark (the value in its type's binary form) are under
  -- the current key; NULL before the first batch
  order_col  name,
  order_type regtype,
  watermark  bytea,
  rows_done  bigint      NOT NULL DEFAULT 0,
  started_at timestamptz,
  -- the largest value of order_col when the conversion began (binary
  -- form): rows above it have been written under the current key since
  high_mark  bytea,
  CONSTRAINT rekey_pending_order_check CHECK ((order_col IS NULL) = (order_type IS NULL)),
  CONSTRAINT rekey_pending_watermark_check CHECK (watermark IS NULL OR order_col IS NOT NULL),
  CONSTRAINT rekey_pending_high_mark_check CHECK (high_mark IS NULL OR order_col IS NOT NULL)
);
COMMENT ON TABLE privacy.rekey_pending IS
  'pg_privacy: relations whose phone-number pseudonyms (msisdn_fpe) are under an older key until privacy.rekey() converts them';
SELECT pg_catalog.pg_extension_config_dump('privacy.rekey_pending', '');

-- Every write of it reaches every session (the lookups remember that
-- nothing is pending until it changes: src/protect.c), also by hand and in
-- logical replication's apply.
CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE ON privacy.rekey_pending
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._catalog_changed();
CREATE TRIGGER catalog_truncated AFTER TRUNCATE ON privacy.rekey_pending
  FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._catalog_changed();
ALTER TABLE privacy.rekey_pending ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;

CREATE SEQUENCE privacy.rekey_log_id_seq;
CREATE TABLE privacy.rekey_log (
  id          bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('privacy.rekey_log_id_seq'),
  rel         text        NOT NULL,
  tbl         text        NOT NULL,
  from_key    text        NOT NULL,
  to_key      text        NOT NULL,
  rows        bigint      NOT NULL,
  started_at  timestamptz NOT NULL,
  finished_at timestamptz NOT NULL
);
COMMENT ON TABLE privacy.rekey_log IS
  'pg_privacy: relations privacy.rekey() converted, with their row counts and times';
SELECT pg_catalog.pg_extension_config_dump('privacy.rekey_log', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.rekey_log_id_seq', '');

CREATE FUNCTION privacy_internal._rekey_batch(rel regclass, cols name[], order_col name, order_type regtype,
                                      lo bytea, mark bytea, batch_size integer, count_rows boolean,
                                      OUT hi bytea, OUT rows bigint)
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_rekey_batch';
COMMENT ON FUNCTION privacy_internal._rekey_batch(regclass, name[], name, regtype, bytea, bytea, integer, boolean) IS
  'internal: convert the msisdn_fpe pseudonyms of one batch of a relation (past the watermark lo, batch_size rows in order of order_col, up to the high mark) from its pending key to the current one, through the protect trigger, as the table owner; hi: the new watermark, NULL when the relation is done';

CREATE FUNCTION privacy_internal._rekey_high_mark(rel regclass, order_col name, order_type regtype) RETURNS bytea
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_rekey_high_mark';
COMMENT ON FUNCTION privacy_internal._rekey_high_mark(regclass, name, regtype) IS
  'internal: the largest value of a relation''s order column (binary form) when its conversion begins, read as its owner';

-- The columns privacy.rekey() can convert a relation in order of, best
-- first: the leading column of a valid btree index of the relation, by
-- the type's default order, of a type whose order no setting changes
-- (src/rekey.c), neither protected nor generated (the conversion leaves it
-- as it is); a unique index first.  The first batch takes the first (none:
-- the relation is converted in one batch); a later one warns when its
-- column is no longer among them.
CREATE FUNCTION privacy_internal._rekey_order_columns(rel regclass, tbl regclass)
  RETURNS TABLE(col name, typ regtype)
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT a.attname, a.atttypid::regtype
    FROM pg_catalog.pg_index i
    JOIN pg_catalog.pg_class ic ON ic.oid OPERATOR(pg_catalog.=) i.indexrelid
    JOIN pg_catalog.pg_am am ON am.oid OPERATOR(pg_catalog.=) ic.relam
    JOIN pg_catalog.pg_attribute a
      ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid AND a.attnum OPERATOR(pg_catalog.=) i.indkey[0]
    JOIN pg_catalog.pg_opclass oc ON oc.oid OPERATOR(pg_catalog.=) i.indclass[0]
   WHERE i.indrelid OPERATOR(pg_catalog.=) _rekey_order_columns.rel
     AND am.amname OPERATOR(pg_catalog.=) 'btree'
     AND i.indisvalid AND i.indisready AND i.indpred IS NULL
     AND i.indkey[0] OPERATOR(pg_catalog.<>) 0
     AND oc.opcdefault AND oc.opcintype OPERATOR(pg_catalog.=) a.atttypid
     AND (i.indoption[0] OPERATOR(pg_catalog.&) 1) OPERATOR(pg_catalog.=) 0
     AND NOT a.attisdropped AND a.attgenerated OPERATOR(pg_catalog.=) ''
     AND a.atttypid IN ('pg_catalog.int2'::regtype, 'pg_catalog.int4'::regtype, 'pg_catalog.int8'::regtype,
                        'pg_catalog.numeric'::regtype, 'pg_catalog.date'::regtype,
                        'pg_catalog.timestamp'::regtype, 'pg_catalog.timestamptz'::regtype,
                        'pg_catalog.uuid'::regtype)
     AND NOT EXISTS (SELECT FROM privacy.registered_column c
                      WHERE c.tbl OPERATOR(pg_catalog.=) _rekey_order_columns.tbl
                        AND c.col OPERATOR(pg_catalog.=) a.attname
                        AND c.protect IS NOT NULL)
   ORDER BY i.indisunique DESC, i.indisprimary DESC, i.indexrelid
$$;

-- The protected tables with a column protected by msisdn_fpe, and their
-- relations that hold rows (the table itself, or its leaf partitions).
CREATE FUNCTION privacy_internal._rekey_relations()
  RETURNS TABLE(tbl regclass, rel regclass)
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT t.tbl, p.relid::regclass
    FROM privacy.registered_table t
    -- the table itself (pg_partition_tree lists nothing for a table that
    -- is neither partitioned nor a partition), or its partitions
    CROSS JOIN LATERAL (SELECT t.tbl::pg_catalog.oid AS relid
                        UNION SELECT x.relid FROM pg_catalog.pg_partition_tree(t.tbl) x) p
    JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) p.relid
   WHERE k.relkind OPERATOR(pg_catalog.=) 'r'
     AND EXISTS (SELECT FROM privacy.registered_column c
                  WHERE c.tbl OPERATOR(pg_catalog.=) t.tbl
                    AND c.protect OPERATOR(pg_catalog.=) 'msisdn_fpe')
     AND privacy_internal._has_protect_trigger(t.tbl)
$$;

-- Called by accept_key_change() before it records the new key: every
-- relation of a table protected by msisdn_fpe that is not pending already
-- is pending from the replaced key (one already pending stays under the
-- older key it is under); relations pending from the new key are under it
-- already.  Refuses (0A000, nothing changed) on a table Citus manages,
-- whose shards' pseudonyms cannot be converted.  Returns the number of
-- relations pending.
CREATE FUNCTION privacy_internal._rekey_mark(from_key text, to_key text) RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  citus regclass;
  part record;
  n bigint;
BEGIN
  SELECT r.tbl INTO citus FROM privacy_internal._rekey_relations() r
   WHERE privacy_internal._citus_table(r.tbl) LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'cannot change the key while table %, which Citus manages, has a column protected by msisdn_fpe', citus
      USING ERRCODE = '0A000',
            DETAIL = 'Its phone-number pseudonyms are under the database''s key on the shards; converting them to a new key is not built for tables Citus manages, and they would be looked up under the wrong key.',
            HINT = 'Keep the database''s key; nothing was changed.';
  END IF;
  -- Rows a table held before protection, not converted yet: the rows
  -- converted so far are under the current key, and a second key among
  -- them could not be told apart.
  SELECT p.rel INTO part FROM privacy.rekey_pending p
   WHERE p.from_key OPERATOR(pg_catalog.=) 'raw'
     AND EXISTS (SELECT FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) p.rel)
   ORDER BY p.since, p.rel::pg_catalog.oid LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'cannot change the key while privacy.rekey() converts the rows relation % held before it was protected', part.rel
      USING ERRCODE = '55000',
            DETAIL = 'Its rows converted so far are under the current key, the others raw; rows under a second key could not be told apart.',
            HINT = 'Run CALL privacy.rekey() to the end (privacy.rekey_progress shows what is left), then change the key; nothing was changed.';
  END IF;
  -- A relation privacy.rekey() has converted in part holds rows under two
  -- keys already; a third could not be told apart.
  SELECT p.rel, p.from_key INTO part FROM privacy.rekey_pending p
   WHERE (p.watermark IS NOT NULL OR p.high_mark IS NOT NULL) AND EXISTS (SELECT FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) p.rel)
   ORDER BY p.since, p.rel::pg_catalog.oid LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'cannot change the key while privacy.rekey() has converted relation % in part', part.rel
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('Some of its phone-number pseudonyms are under key %s, the others under the current key; rows under a third key could not be told apart.', part.from_key),
            HINT = 'Run CALL privacy.rekey() to the end (privacy.rekey_progress shows what is left), then change the key; nothing was changed.';
  END IF;
  DELETE FROM privacy.rekey_pending p WHERE p.from_key OPERATOR(pg_catalog.=) _rekey_mark.to_key;
  INSERT INTO privacy.rekey_pending (rel, tbl, from_key)
  SELECT DISTINCT ON (r.rel) r.rel, r.tbl, _rekey_mark.from_key
    FROM privacy_internal._rekey_relations() r
   ORDER BY r.rel
  ON CONFLICT (rel) DO NOTHING;
  -- relations dropped since (one detached stays pending: its pseudonyms
  -- are under its key wherever it is attached again)
  DELETE FROM privacy.rekey_pending p
   WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) p.rel);
  SELECT pg_catalog.count(*) INTO n FROM privacy.rekey_pending;
  -- the protect trigger of each relation reads its pending key again
  -- (also where it is pending no more)
  PERFORM privacy_internal._invalidate(r.tbl)
     FROM (SELECT DISTINCT x.tbl FROM privacy_internal._rekey_relations() x) r;
  RETURN n;
END
$$;

-- The keys the phone-number pseudonyms of table tbl (itself, or its
-- attached partitions) are pending under, for the checks that keep a row
-- whichever key it is under while a rotation runs: legal holds in the
-- purge, restrictions in the purge and the restriction trigger.  Those
-- look a held or restricted number up under each of these keys as well
-- as the current one (privacy_internal._msisdn_under), so that a row under
-- either is kept; a row of another number whose pseudonym under the other
-- key is the same is kept too (about one chance in the size of the
-- numbering plan per row and number): kept a little longer, or its update
-- refused, never a held or restricted row lost.
CREATE FUNCTION privacy_internal._rekey_keys(tbl regclass) RETURNS text[]
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT COALESCE(pg_catalog.array_agg(DISTINCT p.from_key ORDER BY p.from_key), '{}')
    FROM privacy.rekey_pending p
   -- a part of the table now, whichever table it was pending with (rows
   -- left raw before protection are under no key)
   WHERE (p.rel OPERATOR(pg_catalog.=) _rekey_keys.tbl
          OR p.rel IN (SELECT x.relid FROM pg_catalog.pg_partition_tree(_rekey_keys.tbl) x))
     AND p.from_key OPERATOR(pg_catalog.<>) 'raw'
$$;
COMMENT ON FUNCTION privacy_internal._rekey_keys(regclass) IS
  'internal: the older keys the phone-number pseudonyms of a table are pending under';

-- A relation of table tbl (itself or a partition of it now, whichever
-- table it was protected with) that holds rows from before
-- protect_in_batches() not converted yet, or NULL.
CREATE FUNCTION privacy_internal._raw_relation(tbl regclass) RETURNS regclass
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT p.rel FROM privacy.rekey_pending p
   WHERE p.from_key OPERATOR(pg_catalog.=) 'raw'
     AND (p.rel OPERATOR(pg_catalog.=) _raw_relation.tbl
          OR p.rel IN (SELECT x.relid FROM pg_catalog.pg_partition_tree(_raw_relation.tbl) x))
   ORDER BY p.rel::pg_catalog.oid LIMIT 1
$$;
COMMENT ON FUNCTION privacy_internal._raw_relation(regclass) IS
  'internal: a relation of the table holding rows from before protect_in_batches() not converted yet';

CREATE FUNCTION privacy_internal._msisdn_under(fingerprint text, number text, domain text, decrypt boolean)
  RETURNS text
  LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'pgp_msisdn_under';
COMMENT ON FUNCTION privacy_internal._msisdn_under(text, text, text, boolean) IS
  'internal: a phone number''s msisdn_fpe pseudonym under the listed key of that fingerprint (decrypt: the number a pseudonym under it stands for)';

-- Which key a row's phone-number pseudonyms are under, for the subject
-- engine (export, erasure, restriction, the link search, the replay of
-- erasures), which matches and decrypts a stored pseudonym under the key of
-- its row (src/rekey.c, pgp_row_key): rel the row's relation (tableoid), r
-- the statement's whole row.  The watermark is read in the calling
-- statement's snapshot, the same state as the rows it reads.  The
-- statements run as the table's owner: PUBLIC may execute it
-- (90_privileges.sql), and it answers only a role that may read rel or a
-- table it is a partition of.
CREATE FUNCTION privacy_internal._row_key(rel oid, r record) RETURNS text
  LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'pgp_row_key';
COMMENT ON FUNCTION privacy_internal._row_key(oid, record) IS
  'internal: the fingerprint of the key a row''s phone-number pseudonyms are under (the pending key until privacy.rekey() reaches the row)';

-- The same for whoever re-identifies a number read from a row while a key
-- rotation runs: privacy.reidentify_msisdn(t.a_number, 'default',
-- privacy.row_key(t.tableoid, t.*)).  Granted to no one by default, as
-- reidentify_msisdn.
CREATE FUNCTION privacy.row_key(rel regclass, r record) RETURNS text
  LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'pgp_row_key';
COMMENT ON FUNCTION privacy.row_key(regclass, record) IS
  'the fingerprint of the key under which the phone-number pseudonyms of a row (its tableoid, the row) are stored: the replaced key until privacy.rekey() converts the row';

-- After ALTER TABLE rel ALTER COLUMN col TYPE ... or DROP COLUMN col
-- (called by the event trigger, src/protect.c): refused while col is the
-- order column of rel, or of a partition of it, that privacy.rekey() has
-- converted in part.  Its values tell which rows are under which key: a
-- rewrite (USING, a narrower precision) would move rows across the
-- watermark without the protect trigger, and a column dropped and added
-- again under the same name would pass for it.
CREATE FUNCTION privacy_internal._rekey_column_ddl(rel regclass, col name) RETURNS void
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  p record;
BEGIN
  SELECT x.rel INTO p FROM privacy.rekey_pending x
   WHERE (x.watermark IS NOT NULL OR x.high_mark IS NOT NULL) AND x.order_col OPERATOR(pg_catalog.=) _rekey_column_ddl.col
     AND (x.rel OPERATOR(pg_catalog.=) _rekey_column_ddl.rel
          OR x.rel IN (SELECT t.relid FROM pg_catalog.pg_partition_tree(_rekey_column_ddl.rel) t))
   ORDER BY x.rel::pg_catalog.oid LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'cannot drop, rename or retype column % of relation % while privacy.rekey() converts it in order of that column', col, p.rel
      USING ERRCODE = '55000',
            DETAIL = 'Which of its rows are under the current key and which under the replaced one is told by that column.',
            HINT = 'Run CALL privacy.rekey() to the end (privacy.rekey_progress), then change the column.';
  END IF;
END
$$;

-- Fail closed where a lookup would meet pseudonyms under an older key: a
-- table (or, tbl NULL, any table with a column of one of the kinds, NULL:
-- any) that has a column protected by msisdn_fpe and relations pending.
CREATE FUNCTION privacy_internal._check_rekeyed(tbl regclass, kinds text[] DEFAULT NULL) RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r record;
BEGIN
  IF NOT EXISTS (SELECT FROM privacy.rekey_pending) THEN
    RETURN;
  END IF;
  -- each pending relation with the registered table it is a part of now
  -- (itself, or an ancestor: one detached is searched with no table, one
  -- attached to another table is searched with that one)
  SELECT g.tbl, pg_catalog.count(*) AS n, pg_catalog.min(g.from_key) AS k INTO r
    FROM (SELECT p.rel, p.from_key,
                 (SELECT t.tbl FROM privacy.registered_table t
                   WHERE t.tbl OPERATOR(pg_catalog.=) p.rel
                      OR t.tbl IN (SELECT a.relid FROM pg_catalog.pg_partition_ancestors(p.rel) a)
                   ORDER BY t.tbl::pg_catalog.oid LIMIT 1) AS tbl
            FROM privacy.rekey_pending p) g
   WHERE g.tbl IS NOT NULL
     AND (_check_rekeyed.tbl IS NULL OR g.rel OPERATOR(pg_catalog.=) _check_rekeyed.tbl
          OR g.rel IN (SELECT x.relid FROM pg_catalog.pg_partition_tree(_check_rekeyed.tbl) x))
     AND (kinds IS NULL
          OR EXISTS (SELECT FROM privacy.registered_column c
                      WHERE c.tbl OPERATOR(pg_catalog.=) g.tbl
                        AND c.identifies OPERATOR(pg_catalog.=) ANY (kinds)))
   GROUP BY g.tbl
   ORDER BY g.tbl::pg_catalog.oid
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'the phone-number pseudonyms of table % are not yet under the current key', r.tbl
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('%s of its relations hold pseudonyms made under key %s, which privacy.rekey() has not converted: looked up under the current key they would be missed, or taken for another number.',
                                       r.n, r.k),
            HINT = 'Run CALL privacy.rekey() (privacy.rekey_progress shows what is left), then try again.';
  END IF;
END
$$;
COMMENT ON FUNCTION privacy_internal._check_rekeyed(regclass, text[]) IS
  'internal: 55000 when a table searched for the kinds still holds msisdn_fpe pseudonyms under an older key';

-- Convert one batch of a pending relation (one transaction: the caller
-- commits): rows, the rows converted (NULL when the relation is pending no
-- more), finished, whether the relation is converted whole now.
CREATE FUNCTION privacy_internal._rekey_rel(rel regclass, lock_timeout_ms integer, batch_size integer DEFAULT 2147483647,
                                            OUT rows bigint, OUT finished boolean)
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  p privacy.rekey_pending;
  cur text;
  cols name[];
  b record;
  count_rows boolean := false;
  bsize integer := _rekey_rel.batch_size;
  started timestamptz := pg_catalog.clock_timestamp();
BEGIN
  finished := true;
  -- the key this conversion writes under cannot change meanwhile
  SELECT s.fingerprint INTO cur FROM privacy.key_state s FOR SHARE;
  -- one conversion of a relation at a time (a second CALL waits, then
  -- finds it done)
  SELECT * INTO p FROM privacy.rekey_pending x WHERE x.rel OPERATOR(pg_catalog.=) _rekey_rel.rel FOR UPDATE;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF bsize OPERATOR(pg_catalog.=) 0 AND p.started_at IS NOT NULL THEN
    -- (rekey's first pass: begun already)
    rows := 0;
    finished := false;
    RETURN;
  END IF;
  IF p.from_key OPERATOR(pg_catalog.<>) 'raw' AND NOT privacy_internal._key_listed(p.from_key) THEN
    RAISE EXCEPTION 'no key of fingerprint % is loaded', p.from_key
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('The phone-number pseudonyms of %s are under that key; they can be converted only with it.', p.rel),
            HINT = 'List that key''s file after the current one in pg_privacy.key_file and reload the configuration (privacy.key_versions).';
  END IF;
  -- Writers wait while this relation is converted, so that each relation
  -- is under one key when this commits.  Taken first: while it waits for
  -- a writer, this transaction holds no other lock (the purge may drop
  -- other partitions meanwhile).
  IF EXISTS (SELECT FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) p.rel) THEN
    PERFORM pg_catalog.set_config('lock_timeout', lock_timeout_ms::text, true);
    EXECUTE pg_catalog.format('LOCK TABLE ONLY %s IN SHARE ROW EXCLUSIVE MODE', p.rel);
    PERFORM pg_catalog.set_config('lock_timeout', '0', true);
  END IF;
  -- dropped since: nothing left to convert
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) p.rel) THEN
    DELETE FROM privacy.rekey_pending x WHERE x.rel OPERATOR(pg_catalog.=) p.rel;
    RETURN;
  END IF;
  -- Rows from before protect_in_batches() are raw whatever table they
  -- belong to: a relation attached since to another registered table is
  -- converted by that table's declarations (and searched with it).
  IF p.from_key OPERATOR(pg_catalog.=) 'raw' THEN
    SELECT t.tbl INTO p.tbl
      FROM privacy.registered_table t
     WHERE t.tbl OPERATOR(pg_catalog.=) p.rel
        OR t.tbl IN (SELECT a.relid FROM pg_catalog.pg_partition_ancestors(p.rel) a)
     ORDER BY t.tbl OPERATOR(pg_catalog.=) p.rel DESC, t.tbl::pg_catalog.oid LIMIT 1;
    IF NOT FOUND THEN
      RAISE EXCEPTION 'relation % is no longer part of a registered table', p.rel
        USING ERRCODE = '55000',
              DETAIL = 'Its rows from before its protection are raw; they are converted only through the protect trigger of a protected table it is part of.',
              HINT = 'Attach it to a protected table and run CALL privacy.rekey(); or drop it.';
    END IF;
    UPDATE privacy.rekey_pending x SET tbl = p.tbl WHERE x.rel OPERATOR(pg_catalog.=) p.rel;
  END IF;
  -- detached from its table, or the table no longer protected by
  -- msisdn_fpe: its pseudonyms stay under their key, and it stays pending
  -- (attached again, it is converted then)
  IF NOT (p.rel OPERATOR(pg_catalog.=) p.tbl
          OR p.tbl IN (SELECT a.relid FROM pg_catalog.pg_partition_ancestors(p.rel) a))
     OR NOT EXISTS (SELECT FROM privacy.registered_column c
                     WHERE c.tbl OPERATOR(pg_catalog.=) p.tbl
                       AND (c.protect OPERATOR(pg_catalog.=) 'msisdn_fpe'
                            OR (p.from_key OPERATOR(pg_catalog.=) 'raw' AND c.protect IS NOT NULL)))
     OR NOT privacy_internal._has_protect_trigger(p.tbl) THEN
    RAISE EXCEPTION 'relation % is no longer a protected part of table %', p.rel, p.tbl
      USING ERRCODE = '55000',
            DETAIL = CASE WHEN p.from_key OPERATOR(pg_catalog.=) 'raw'
                          THEN 'Its rows from before protection are raw; they are converted only through the protect trigger of its table.'
                          ELSE pg_catalog.format('Its phone-number pseudonyms are under key %s; they are converted only through the protect trigger of its table.', p.from_key) END,
            HINT = pg_catalog.format('Attach it to %s again (or protect that table again) and run CALL privacy.rekey(); or drop it.', p.tbl);
  END IF;
  PERFORM privacy_internal._check_protection(p.tbl);
  IF pg_catalog.current_setting('session_replication_role') OPERATOR(pg_catalog.<>) 'origin' THEN
    RAISE EXCEPTION 'cannot rekey with session_replication_role = %', pg_catalog.current_setting('session_replication_role')
      USING ERRCODE = '55000',
            DETAIL = 'The protect trigger, which converts the pseudonyms, does not fire then.',
            HINT = 'SET session_replication_role = origin, then run CALL privacy.rekey() again.';
  END IF;
  -- A stored generated column computed by a function of the owner (or
  -- anything else not built in: only those are recorded in pg_depend) is
  -- computed after the protect trigger: it could change the row of a
  -- subject past the consent and restriction checks the conversion skips.
  IF EXISTS (SELECT FROM pg_catalog.pg_attrdef ad
               JOIN pg_catalog.pg_attribute a
                 ON a.attrelid OPERATOR(pg_catalog.=) ad.adrelid AND a.attnum OPERATOR(pg_catalog.=) ad.adnum
               JOIN pg_catalog.pg_depend d
                 ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_attrdef'::pg_catalog.regclass
                AND d.objid OPERATOR(pg_catalog.=) ad.oid
              WHERE ad.adrelid OPERATOR(pg_catalog.=) p.rel AND a.attgenerated OPERATOR(pg_catalog.=) 's'
                AND NOT (d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                         AND d.refobjid OPERATOR(pg_catalog.=) p.rel)) THEN
    RAISE EXCEPTION 'cannot rekey relation %, which has a generated column computed by a function that is not built in', p.rel
      USING ERRCODE = '55000',
            DETAIL = 'The column is computed after the protect trigger, during the conversion, which skips the consent and restriction checks.',
            HINT = 'Drop the generated column, or compute it with built-in functions only, then run CALL privacy.rekey() again.';
  END IF;
  -- A foreign key between phone-number columns: the two sides cannot be
  -- converted one after the other (the key's check, or its cascade into
  -- the other side's protect trigger, fails at the first).
  IF EXISTS (SELECT FROM pg_catalog.pg_constraint k
              WHERE k.contype OPERATOR(pg_catalog.=) 'f'
                AND (k.conrelid OPERATOR(pg_catalog.=) p.rel OR k.confrelid OPERATOR(pg_catalog.=) p.rel
                     OR k.conrelid IN (SELECT a.relid FROM pg_catalog.pg_partition_ancestors(p.rel) a)
                     OR k.confrelid IN (SELECT a.relid FROM pg_catalog.pg_partition_ancestors(p.rel) a))
                AND EXISTS (SELECT FROM (VALUES (k.conrelid, k.conkey), (k.confrelid, k.confkey)) side(r, keys)
                              JOIN pg_catalog.pg_attribute a
                                ON a.attrelid OPERATOR(pg_catalog.=) side.r AND a.attnum OPERATOR(pg_catalog.=) ANY (side.keys)
                              JOIN privacy.registered_column c
                                ON c.col OPERATOR(pg_catalog.=) a.attname
                               AND (c.protect OPERATOR(pg_catalog.=) 'msisdn_fpe'
                                    OR (p.from_key OPERATOR(pg_catalog.=) 'raw' AND c.protect IS NOT NULL))
                               AND (c.tbl OPERATOR(pg_catalog.=) side.r
                                    OR c.tbl IN (SELECT x.relid FROM pg_catalog.pg_partition_ancestors(side.r) x)))) THEN
    RAISE EXCEPTION 'cannot rekey relation %, whose phone-number column takes part in a foreign key', p.rel
      USING ERRCODE = '55000',
            DETAIL = 'The referencing and the referenced pseudonyms would be under different keys between the two conversions.',
            HINT = 'Drop the foreign key for the rotation, run CALL privacy.rekey(), and create it again.';
  END IF;
  -- A rule of the owner could make the UPDATE convert nothing, or other rows.
  IF EXISTS (SELECT FROM pg_catalog.pg_rewrite w WHERE w.ev_class OPERATOR(pg_catalog.=) p.rel) THEN
    RAISE EXCEPTION 'cannot rekey relation %, which has rules', p.rel
      USING ERRCODE = '55000',
            DETAIL = 'A rule could keep the conversion''s UPDATE from reaching its rows.',
            HINT = 'Drop the rules of the relation, then run CALL privacy.rekey() again.';
  END IF;
  -- The rows of the batch, counted under the lock when a BEFORE UPDATE row
  -- trigger of the owner could skip one (return NULL) and leave it under
  -- the old key.  (The lock keeps her from adding one meanwhile.)
  count_rows := EXISTS (SELECT FROM pg_catalog.pg_trigger g
                          JOIN pg_catalog.pg_proc f ON f.oid OPERATOR(pg_catalog.=) g.tgfoid
                         WHERE g.tgrelid OPERATOR(pg_catalog.=) p.rel AND NOT g.tgisinternal
                           AND g.tgenabled OPERATOR(pg_catalog.<>) 'D'
                           AND (g.tgtype::integer OPERATOR(pg_catalog.&) 19) OPERATOR(pg_catalog.=) 19   -- ROW, BEFORE, UPDATE
                           AND f.pronamespace OPERATOR(pg_catalog.<>) 'privacy_internal'::regnamespace);
  -- (rows from before protection: every protected column)
  SELECT pg_catalog.array_agg(c.col ORDER BY c.attnum) INTO cols
    FROM privacy.registered_column c
   WHERE c.tbl OPERATOR(pg_catalog.=) p.tbl
     AND (c.protect OPERATOR(pg_catalog.=) 'msisdn_fpe'
          OR (p.from_key OPERATOR(pg_catalog.=) 'raw' AND c.protect IS NOT NULL));
  -- The conversion begins: it chooses the order column (none: the
  -- relation is converted whole, in one batch) and records the high mark,
  -- the column's largest value now (read after the lock, at READ
  -- COMMITTED): rows written above it from now on are under the current
  -- key, and the batches stop at it.  batch_size 0 (rekey's first pass):
  -- only that (a relation without an order column is left to its one
  -- batch).
  IF p.started_at IS NULL THEN
    SELECT o.col, o.typ INTO p.order_col, p.order_type
      FROM privacy_internal._rekey_order_columns(p.rel, p.tbl) o LIMIT 1;
    p.started_at := started;
    IF p.order_col IS NOT NULL THEN
      p.high_mark := privacy_internal._rekey_high_mark(p.rel, p.order_col, p.order_type);
    END IF;
    UPDATE privacy.rekey_pending x SET order_col = p.order_col, order_type = p.order_type, started_at = p.started_at,
                                       high_mark = p.high_mark
     WHERE x.rel OPERATOR(pg_catalog.=) p.rel;
    -- the protect trigger writes above the mark under the current key
    PERFORM privacy_internal._invalidate(p.rel);
    IF p.order_col IS NULL THEN
      RAISE NOTICE 'relation % has no index rekey can convert it in order of: it is converted in one transaction, its writers held meanwhile', p.rel
        USING HINT = 'An index on a column of type smallint, integer, bigint, numeric, date, timestamp, timestamptz or uuid that is neither protected nor generated lets rekey convert it in batches.';
    ELSIF _rekey_rel.batch_size OPERATOR(pg_catalog.=) 0 AND p.high_mark IS NULL THEN
      -- nothing to mark: converted now, in one batch (its rows, if any,
      -- have no value in the order column), so that its new rows are
      -- under the current key at once
      bsize := 2147483647;
    END IF;
  END IF;
  IF bsize OPERATOR(pg_catalog.=) 0 THEN
    -- begun, and left to the batches
    rows := 0;
    finished := false;
    RETURN;
  END IF;
  -- (an index on the order column dropped since the conversion began:
  -- each batch reads the relation whole from then on)
  IF (p.watermark IS NOT NULL OR p.high_mark IS NOT NULL)
     AND NOT EXISTS (SELECT FROM privacy_internal._rekey_order_columns(p.rel, p.tbl) o
                      WHERE o.col OPERATOR(pg_catalog.=) p.order_col) THEN
    RAISE WARNING 'relation % has no index on column % any more, which rekey converts it in order of: each batch reads the relation whole', p.rel, p.order_col
      USING HINT = pg_catalog.format('Create an index on %s (%I), or convert the rest in one batch: CALL privacy.rekey(batch_size => 2147483647, only_table => ''%s'').',
                                     p.rel, p.order_col, p.tbl);
  END IF;
  b := privacy_internal._rekey_batch(p.rel, cols, p.order_col, p.order_type, p.watermark, p.high_mark,
                                     bsize, count_rows);
  rows := b.rows;
  p.rows_done := p.rows_done OPERATOR(pg_catalog.+) b.rows;
  -- the relation's state in every backend, read again with the watermark
  PERFORM privacy_internal._invalidate(p.rel);
  IF b.hi IS NOT NULL THEN
    UPDATE privacy.rekey_pending x SET watermark = b.hi, rows_done = p.rows_done
     WHERE x.rel OPERATOR(pg_catalog.=) p.rel;
    finished := false;
    RETURN;
  END IF;
  DELETE FROM privacy.rekey_pending x WHERE x.rel OPERATOR(pg_catalog.=) p.rel;
  INSERT INTO privacy.rekey_log (rel, tbl, from_key, to_key, rows, started_at, finished_at)
  VALUES (p.rel::text, p.tbl::text, p.from_key, cur, p.rows_done, p.started_at, pg_catalog.clock_timestamp());
  PERFORM privacy_internal._audit(CASE WHEN p.from_key OPERATOR(pg_catalog.=) 'raw' THEN 'protect.converted' ELSE 'key.rekey' END, p.rel::text,
                         pg_catalog.jsonb_build_object('table', p.tbl::text, 'from', p.from_key, 'to', cur,
                                                       'columns', pg_catalog.cardinality(cols), 'rows', p.rows_done,
                                                       'order_column', p.order_col));
END
$$;
COMMENT ON FUNCTION privacy_internal._rekey_rel(regclass, integer, integer) IS
  'internal: one step of privacy.rekey(): convert one batch of a pending relation''s phone-number pseudonyms to the current key';

-- The pending relations (of table tbl, NULL: of every table), in the
-- order rekey converts them.
CREATE FUNCTION privacy_internal._rekey_todo(tbl regclass DEFAULT NULL) RETURNS regclass[]
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
  SELECT COALESCE(pg_catalog.array_agg(p.rel ORDER BY p.since, p.rel::pg_catalog.oid), '{}')
    FROM privacy.rekey_pending p
   WHERE _rekey_todo.tbl IS NULL OR p.tbl OPERATOR(pg_catalog.=) _rekey_todo.tbl
$$;
COMMENT ON FUNCTION privacy_internal._rekey_todo(regclass) IS
  'internal: the relations privacy.rekey() has left to convert';

-- Not SECURITY DEFINER and without SET clauses, so that it may COMMIT;
-- every name and operator in it is qualified, because it runs with the
-- caller's search_path.
CREATE PROCEDURE privacy.rekey(batch_size integer DEFAULT 10000, lock_timeout_ms integer DEFAULT 1000,
                               only_table regclass DEFAULT NULL, max_seconds integer DEFAULT NULL)
  LANGUAGE plpgsql
AS $$
DECLARE
  todo regclass[];
  r regclass;
  nrows bigint;
  fin boolean;
  done integer := 0;
  total bigint := 0;
  failed jsonb := pg_catalog.jsonb_build_array();
  st text;
  msg text;
  began timestamptz := pg_catalog.clock_timestamp();
  out_of_time boolean := false;
BEGIN
  IF batch_size IS NULL OR batch_size OPERATOR(pg_catalog.<) 1 THEN
    RAISE EXCEPTION 'invalid batch_size %', batch_size
      USING ERRCODE = '22023', HINT = 'batch_size, the rows converted per transaction, must be at least 1.';
  END IF;
  IF lock_timeout_ms IS NULL OR lock_timeout_ms OPERATOR(pg_catalog.<) 1 THEN
    RAISE EXCEPTION 'invalid lock_timeout_ms %', lock_timeout_ms
      USING ERRCODE = '22023', HINT = 'lock_timeout_ms must be at least 1.';
  END IF;
  IF max_seconds OPERATOR(pg_catalog.<) 1 THEN
    RAISE EXCEPTION 'invalid max_seconds %', max_seconds
      USING ERRCODE = '22023', HINT = 'max_seconds, after which no further batch is begun, must be at least 1 (NULL: no limit).';
  END IF;
  -- Fails here, before anything is locked, when CALLed inside a
  -- transaction block (where the batches could not commit one by one).
  COMMIT;
  -- Each batch reads its rows after it has locked the relation: at
  -- READ COMMITTED only (src/protect.c, protect_self_update).
  IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed' THEN
    RAISE EXCEPTION 'rekey must run at isolation level READ COMMITTED'
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('Its transactions run at %s: a batch''s snapshot could be older than its lock, and a row committed in between would not be converted.',
                                       pg_catalog.upper(pg_catalog.current_setting('transaction_isolation'))),
            HINT = 'SET default_transaction_isolation = ''read committed'', then CALL privacy.rekey() again.';
  END IF;
  todo := privacy_internal._rekey_todo(only_table);
  IF pg_catalog.cardinality(todo) OPERATOR(pg_catalog.=) 0 THEN
    IF only_table IS NULL THEN
      RAISE NOTICE 'nothing to rekey: every phone-number pseudonym is under the current key';
    ELSE
      RAISE NOTICE 'nothing to rekey in %: its phone-number pseudonyms are under the current key', only_table;
    END IF;
    RETURN;
  END IF;
  -- A first pass begins every relation not yet begun that it can lock at
  -- once (each committed): its high mark recorded, the rows written into
  -- it above the mark are under the current key from then on, while the
  -- batches go from relation to relation.  A relation a writer holds is
  -- begun by its first batch instead.  (_rekey_rel skips one begun
  -- already: the caller, a role the DBA granted rekey to, reads nothing
  -- of pg_privacy's catalog itself.)
  FOREACH r IN ARRAY todo LOOP
    EXIT WHEN max_seconds IS NOT NULL
              AND pg_catalog.clock_timestamp() OPERATOR(pg_catalog.>=) (began OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs => max_seconds));
    BEGIN
      SELECT s.rows, s.finished INTO nrows, fin FROM privacy_internal._rekey_rel(r, LEAST(lock_timeout_ms, 100), 0) s;
      total := total OPERATOR(pg_catalog.+) COALESCE(nrows, 0);
      IF fin AND nrows IS NOT NULL THEN
        done := done OPERATOR(pg_catalog.+) 1;   -- (nothing to mark: converted)
      END IF;
    EXCEPTION
      WHEN query_canceled THEN
        RAISE;
      WHEN OTHERS THEN
        NULL;   -- (its first batch reports it)
    END;
    COMMIT;
  END LOOP;
  FOREACH r IN ARRAY todo LOOP
    -- batch after batch, each committed, until the relation is done (or
    -- the time given is up: no further batch is begun)
    LOOP
      IF max_seconds IS NOT NULL
         AND pg_catalog.clock_timestamp() OPERATOR(pg_catalog.>=) (began OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs => max_seconds)) THEN
        out_of_time := true;
        fin := NULL;
        EXIT;
      END IF;
      BEGIN
        SELECT s.rows, s.finished INTO nrows, fin
          FROM privacy_internal._rekey_rel(r, lock_timeout_ms, batch_size) s;
        total := total OPERATOR(pg_catalog.+) COALESCE(nrows, 0);
      EXCEPTION
        WHEN query_canceled THEN
          RAISE;
        WHEN OTHERS THEN
          GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
          RAISE WARNING 'rekey of % failed (SQLSTATE %): %', r, st, msg;
          failed := failed OPERATOR(pg_catalog.||)
                    pg_catalog.jsonb_build_object('relation', r::text, 'sqlstate', st, 'message', msg);
          fin := NULL;
      END;
      COMMIT;
      EXIT WHEN fin IS NOT FALSE;   -- done, or failed
    END LOOP;
    IF fin AND nrows IS NOT NULL THEN
      done := done OPERATOR(pg_catalog.+) 1;
    END IF;
    EXIT WHEN out_of_time;
  END LOOP;
  RAISE NOTICE 'rekeyed % relation(s), % row(s)', done, total;
  IF out_of_time THEN
    RAISE NOTICE 'stopped after % second(s), with relations left to convert', max_seconds
      USING HINT = 'CALL privacy.rekey() again goes on from where each relation''s last batch left it (privacy.rekey_progress).';
  END IF;
  IF pg_catalog.jsonb_array_length(failed) OPERATOR(pg_catalog.>) 0 THEN
    RAISE EXCEPTION 'rekey failed for % relation(s)', pg_catalog.jsonb_array_length(failed)
      USING ERRCODE = '55000',
            DETAIL = (SELECT pg_catalog.string_agg(pg_catalog.format('%s: %s (%s)', f->>'relation', f->>'message', f->>'sqlstate'), '; ')
                        FROM pg_catalog.jsonb_array_elements(failed) f),
            HINT = 'The other relations were converted; CALL privacy.rekey() again continues with these, from where they stopped.';
  END IF;
END
$$;
COMMENT ON PROCEDURE privacy.rekey(integer, integer, regclass, integer) IS
  'convert every phone-number pseudonym (msisdn_fpe) still under an older key (of one table: only_table) to the current key, batch_size rows per transaction, each relation in order of an indexed column, beginning no batch after max_seconds; resumable; CALL it outside a transaction block';

-- Progress of the rotation, per table: relations converted since the
-- current key was recorded and left, their rows (left: the planner's
-- estimate, less the rows of the batches done in relations converted in
-- part), the rate so far and the estimated end.  Readable from any
-- session while privacy.rekey() runs (each batch shows once it commits).
CREATE VIEW privacy.rekey_progress AS
WITH k AS (SELECT s.fingerprint, s.recorded_at FROM privacy.key_state s),
done AS (
  SELECT l.tbl, pg_catalog.count(*) AS rels, pg_catalog.sum(l.rows) AS rows,
         pg_catalog.sum(pg_catalog.date_part('epoch', l.finished_at OPERATOR(pg_catalog.-) l.started_at)) AS secs,
         pg_catalog.min(l.started_at) AS first_at, pg_catalog.max(l.finished_at) AS last_at
    FROM privacy.rekey_log l, k
   WHERE l.to_key OPERATOR(pg_catalog.=) k.fingerprint AND l.finished_at OPERATOR(pg_catalog.>=) k.recorded_at
   GROUP BY l.tbl),
todo AS (
  -- qualified, as rekey_log names it (whatever the reader's search_path)
  SELECT (SELECT pg_catalog.format('%I.%I', n.nspname, x.relname)
            FROM pg_catalog.pg_class x JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) x.relnamespace
           WHERE x.oid OPERATOR(pg_catalog.=) p.tbl) AS tbl,
         pg_catalog.count(*) AS rels,
         pg_catalog.sum(GREATEST(GREATEST(c.reltuples, 0)::bigint OPERATOR(pg_catalog.-) p.rows_done, 0))::bigint AS rows,
         pg_catalog.min(p.from_key) AS from_key,
         pg_catalog.count(*) FILTER (WHERE p.watermark IS NOT NULL OR p.high_mark IS NOT NULL) AS part,
         pg_catalog.sum(p.rows_done) AS rows_part,
         pg_catalog.sum(pg_catalog.date_part('epoch', pg_catalog.now() OPERATOR(pg_catalog.-) p.started_at))
           FILTER (WHERE p.watermark IS NOT NULL OR p.high_mark IS NOT NULL) AS secs_part
    FROM privacy.rekey_pending p
    JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) p.rel
   GROUP BY p.tbl),
t AS (
  SELECT COALESCE(t.tbl, d.tbl) AS tbl, t.from_key, d.rels AS drels, t.rels AS trels, t.part, t.rows AS left_rows,
         COALESCE(d.rows, 0) OPERATOR(pg_catalog.+) COALESCE(t.rows_part, 0) AS done_rows,
         COALESCE(d.secs, 0) OPERATOR(pg_catalog.+) COALESCE(t.secs_part, 0) AS secs,
         d.last_at
    FROM todo t
    FULL JOIN done d ON d.tbl OPERATOR(pg_catalog.=) t.tbl)
SELECT t.tbl,
       t.from_key,
       COALESCE(t.drels, 0) AS relations_done,
       COALESCE(t.trels, 0) AS relations_left,
       t.done_rows::bigint AS rows_done,
       COALESCE(t.left_rows, 0) AS rows_left,
       CASE WHEN t.secs OPERATOR(pg_catalog.>) 0 THEN pg_catalog.round((t.done_rows OPERATOR(pg_catalog./) t.secs)::numeric) END AS rows_per_second,
       CASE WHEN COALESCE(t.trels, 0) OPERATOR(pg_catalog.=) 0 THEN t.last_at
            WHEN t.secs OPERATOR(pg_catalog.>) 0 AND t.done_rows OPERATOR(pg_catalog.>) 0
              THEN pg_catalog.now() OPERATOR(pg_catalog.+)
                   pg_catalog.make_interval(secs => (t.left_rows OPERATOR(pg_catalog.*) t.secs OPERATOR(pg_catalog./) t.done_rows)::double precision)
       END AS estimated_end,
       COALESCE(t.part, 0) AS relations_in_part
  FROM t;
COMMENT ON VIEW privacy.rekey_progress IS
  'the key rotation of phone-number pseudonyms per table: relations and rows converted to the current key and left, rate, estimated end (the finish time when nothing is left), relations converted in part';
-- Consent: an append-only register of consent events, the current state
-- derived from it, requirements that make the database refuse writes
-- without consent, and the cascade that stops processing on withdrawal.
--
-- privacy.consent_event is the proof (GDPR Art. 7(1)): one row per grant
-- or withdrawal, never updated or deleted (only the erasure hook may null
-- the identifier, keeping the keyed subject reference).  privacy.consent_state
-- holds one row per (kind, value, purpose) with the latest event; it is
-- what the require_consent trigger locks (FOR KEY SHARE, in C) and what a
-- withdrawal locks FOR UPDATE before it appends its event and deletes the
-- subject's rows, so a write that depends on a consent and the withdrawal
-- of that consent are serialized.  has_consent and the trigger are C
-- (src/consent.c): direct index scans, no SPI and no catalog query per row.

CREATE SEQUENCE privacy.consent_event_id_seq;

CREATE TABLE privacy.consent_event (
  id             bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('privacy.consent_event_id_seq'),
  kind           text        NOT NULL REFERENCES privacy.identifier_kind,
  value          text,       -- normalized identifier; NULL once the subject is erased
  subject_ref    text        NOT NULL,   -- privacy_internal._subject_ref(kind, value): kept after erasure
  purpose        text        NOT NULL REFERENCES privacy.purpose,
  event          text        NOT NULL CHECK (event IN ('grant', 'withdraw')),
  at             timestamptz NOT NULL,   -- when the subject gave or withdrew consent
  source         text,                   -- channel: web form, SMS STOP, customer service ...
  notice_version text,                   -- the consent text shown (grants)
  actor          name        NOT NULL,   -- session user that recorded it
  role           name        NOT NULL,   -- role the statement ran as
  recorded_at    timestamptz NOT NULL    -- when it was recorded
);
COMMENT ON TABLE privacy.consent_event IS
  'pg_privacy consent register: append-only grants and withdrawals, the proof of consent (GDPR Art. 7(1))';
-- has_consent(..., at => t) and the hand-written equivalent: the latest
-- event at or before t is the first entry of this index.
CREATE INDEX consent_event_lookup ON privacy.consent_event (kind, value, purpose, at DESC, id DESC);
CREATE INDEX consent_event_subject ON privacy.consent_event (subject_ref);

CREATE TABLE privacy.consent_state (
  kind      text        NOT NULL,
  value     text        NOT NULL,
  purpose   text        NOT NULL,
  granted   boolean     NOT NULL,
  event_id  bigint,                     -- the latest event (NULL only inside the granting transaction)
  at        timestamptz,                -- its time
  PRIMARY KEY (kind, value, purpose)
);
COMMENT ON TABLE privacy.consent_state IS
  'pg_privacy: current consent per subject identifier and purpose, derived from privacy.consent_event';

CREATE TABLE privacy.consent_requirement (
  tbl          regclass    NOT NULL,
  col          name        NOT NULL,
  purpose      text        NOT NULL REFERENCES privacy.purpose,
  kind         text        NOT NULL REFERENCES privacy.identifier_kind,
  on_withdraw  text        NOT NULL CHECK (on_withdraw IN ('keep', 'delete')),
  required_at  timestamptz NOT NULL DEFAULT pg_catalog.now(),
  required_by  name        NOT NULL,
  PRIMARY KEY (tbl, col, purpose)
);
COMMENT ON TABLE privacy.consent_requirement IS
  'pg_privacy: tables that refuse rows of subjects without consent for a purpose (privacy.require_consent)';
-- A requirement written by hand reaches every session's consent trigger,
-- as one written by require_consent does (src/protect.c).
CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE ON privacy.consent_requirement
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._catalog_changed();
CREATE TRIGGER catalog_truncated AFTER TRUNCATE ON privacy.consent_requirement
  FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._catalog_changed();
ALTER TABLE privacy.consent_requirement ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;

SELECT pg_catalog.pg_extension_config_dump('privacy.consent_event', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.consent_event_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.consent_state', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.consent_requirement', '');

------------------------------------------------------------------------
-- C parts (src/consent.c)
------------------------------------------------------------------------

-- The register is append-only for everyone, its owner included; only
-- privacy_internal._consent_forget_identities (below) may null an identifier.
CREATE FUNCTION privacy_internal._consent_append_only() RETURNS trigger
  LANGUAGE c
  AS 'MODULE_PATHNAME', 'pgp_consent_append_only';
COMMENT ON FUNCTION privacy_internal._consent_append_only() IS
  'internal: refuses UPDATE, DELETE and TRUNCATE on the consent register';
CREATE TRIGGER consent_event_append_only
  BEFORE UPDATE OR DELETE ON privacy.consent_event
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._consent_append_only();
CREATE TRIGGER consent_event_no_truncate
  BEFORE TRUNCATE ON privacy.consent_event
  FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._consent_append_only();

CREATE FUNCTION privacy.has_consent(kind text, value text, purpose text,
                                    at timestamptz DEFAULT NULL)
  RETURNS boolean
  LANGUAGE c STABLE PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_has_consent';
COMMENT ON FUNCTION privacy.has_consent(text, text, text, timestamptz) IS
  'whether the subject identifier has consent for the purpose: now (at NULL: the latest event the statement sees) or at a past moment';

CREATE FUNCTION privacy_internal._consent_trigger() RETURNS trigger
  LANGUAGE c
  AS 'MODULE_PATHNAME', 'pgp_consent_trigger';
COMMENT ON FUNCTION privacy_internal._consent_trigger() IS
  'internal: the require_consent trigger (BEFORE INSERT OR UPDATE, FOR EACH ROW)';

-- Forget the trigger's per-transaction memory of checked consents; called
-- after this transaction changed a consent.
CREATE FUNCTION privacy_internal._consent_changed() RETURNS void
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_consent_changed';
COMMENT ON FUNCTION privacy_internal._consent_changed() IS
  'internal: resets the require_consent trigger''s per-transaction cache';

-- Delete a subject's rows from a table as the table's owner (withdrawal
-- cascade).  how: 'equal' (column as text equals match), 'msisdn' or
-- 'email' (column normalized equals match).
CREATE FUNCTION privacy_internal._consent_delete(tbl regclass, col name, how text, match text)
  RETURNS bigint
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_consent_delete';
COMMENT ON FUNCTION privacy_internal._consent_delete(regclass, name, text, text) IS
  'internal: deletes a subject''s rows from a table as its owner (withdrawal with on_withdraw => delete)';

-- The erasure hook.  Nulls the identifiers of every consent event of a
-- subject (the keyed subject_ref stays, so the proof of what was consented
-- and withdrawn survives without the identity) and drops the subject's
-- current state: all its identifiers (kinds[i], vals[i]) in one statement
-- each.  The append-only trigger lets exactly this through, and only while
-- this C function runs; EXECUTE stays with the extension owner (the
-- data-subject erasure path).  Returns the number of events.
CREATE FUNCTION privacy_internal._consent_forget_identities(kinds text[], vals text[]) RETURNS bigint
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_consent_forget_identities';
COMMENT ON FUNCTION privacy_internal._consent_forget_identities(text[], text[]) IS
  'internal (erasure path only): nulls a subject''s identifiers in the consent register, keeping subject_ref and the events';

-- Raise an error about a data subject without logging the statement that
-- names it (PL/pgSQL's RAISE cannot hide the statement); never echo the
-- value itself.  Any error that unwinds an API entry point (the consent and
-- data-subject functions among them, each called with an identifier) is
-- logged without its statement by the entry-point hook (src/caller.c), so
-- they need no exception handler of their own: none, so that a batch of
-- calls in one transaction starts no subtransaction per call.  Used where
-- PL/pgSQL raises such an error itself (the restriction trigger runs
-- outside any entry point).
CREATE FUNCTION privacy_internal._raise_hidden(sqlstate text, message text, detail text DEFAULT NULL,
                                      hint text DEFAULT NULL)
  RETURNS void
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_raise_hidden';
COMMENT ON FUNCTION privacy_internal._raise_hidden(text, text, text, text) IS
  'internal: raises an error about a data subject with the statement hidden from the server log';

------------------------------------------------------------------------
-- Recording consent
------------------------------------------------------------------------

-- Check a (kind, value, purpose) triple and return the value in its
-- kind's normal form.  Errors: NULLs 22004; unknown kind or purpose, a
-- purpose whose legal basis is not consent, no normal form: 22023/22P02.
CREATE FUNCTION privacy_internal._consent_subject(kind text, value text, purpose text)
  RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  norm text;
  p    privacy.purpose;
BEGIN
  IF kind IS NULL OR value IS NULL OR purpose IS NULL THEN
    RAISE EXCEPTION 'identifier kind, value and purpose must not be null'
      USING ERRCODE = '22004';
  END IF;
  SELECT k.normalize INTO norm FROM privacy.identifier_kind k
   WHERE k.name OPERATOR(pg_catalog.=) _consent_subject.kind;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unknown identifier kind "%"', kind
      USING ERRCODE = '22023',
            HINT = 'Use one of: ' || (SELECT pg_catalog.string_agg(k.name, ', ' ORDER BY k.name)
                                        FROM privacy.identifier_kind k) || '.';
  END IF;
  SELECT * INTO p FROM privacy.purpose q WHERE q.name OPERATOR(pg_catalog.=) _consent_subject.purpose;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'purpose "%" does not exist', purpose
      USING ERRCODE = '22023',
            HINT = 'Define it first with privacy.define_purpose().';
  END IF;
  IF NOT p.requires_consent THEN
    RAISE EXCEPTION 'purpose "%" is not based on consent', purpose
      USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('Its legal basis is "%s"; consent is recorded only for purposes whose legal basis is consent.',
                                       p.legal_basis);
  END IF;
  RETURN privacy_internal._identifier_normalize(kind, value);
END
$$;
COMMENT ON FUNCTION privacy_internal._consent_subject(text, text, text) IS
  'internal: checks a consent subject and purpose, returns the identifier in normal form';

-- Lock the current state of (kind, value, purpose) for a change, creating
-- it (not granted, no event) on first use.  Grants lock FOR NO KEY UPDATE,
-- which lets writers holding FOR KEY SHARE go on; withdrawals lock FOR
-- UPDATE, which waits for every transaction that wrote a row relying on
-- the consent, and makes later writers see the withdrawal.
CREATE FUNCTION privacy_internal._consent_lock_state(kind text, value text, purpose text, for_withdraw boolean)
  RETURNS privacy.consent_state
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  st privacy.consent_state;
BEGIN
  FOR i IN 1..2 LOOP
    IF for_withdraw THEN
      SELECT * INTO st FROM privacy.consent_state s
       WHERE s.kind OPERATOR(pg_catalog.=) _consent_lock_state.kind
         AND s.value OPERATOR(pg_catalog.=) _consent_lock_state.value
         AND s.purpose OPERATOR(pg_catalog.=) _consent_lock_state.purpose
         FOR UPDATE;
    ELSE
      SELECT * INTO st FROM privacy.consent_state s
       WHERE s.kind OPERATOR(pg_catalog.=) _consent_lock_state.kind
         AND s.value OPERATOR(pg_catalog.=) _consent_lock_state.value
         AND s.purpose OPERATOR(pg_catalog.=) _consent_lock_state.purpose
         FOR NO KEY UPDATE;
    END IF;
    IF FOUND OR for_withdraw THEN
      RETURN st;      -- NULL fields: never granted
    END IF;
    -- First grant: create the state row; a concurrent first grant makes
    -- this wait and then do nothing, and the loop locks its row.
    INSERT INTO privacy.consent_state (kind, value, purpose, granted)
         VALUES (kind, value, purpose, false)
    ON CONFLICT DO NOTHING;
  END LOOP;
  RAISE EXCEPTION 'could not lock the consent state' USING ERRCODE = 'XX000';
END
$$;
COMMENT ON FUNCTION privacy_internal._consent_lock_state(text, text, text, boolean) IS
  'internal: locks (creating on first grant) the consent state of an identifier and purpose';

-- Append one event and move the state to it.  Shared by grant and
-- withdraw once the state is locked; each audits the event afterwards
-- (privacy_internal._consent_audit), the audit head being the last lock taken.
CREATE FUNCTION privacy_internal._consent_append(kind text, value text, purpose text, event text,
                                        at timestamptz, source text, notice_version text,
                                        st privacy.consent_state)
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  new_id bigint;
  ts     timestamptz := pg_catalog.clock_timestamp();
  ref    text := privacy_internal._subject_ref(kind, value);
BEGIN
  IF at IS NULL THEN
    at := GREATEST(ts, st.at);
  ELSIF at OPERATOR(pg_catalog.>) ts THEN
    RAISE EXCEPTION 'consent % time is in the future', event
      USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('at is %s; it is now %s.', at, ts);
  ELSIF at OPERATOR(pg_catalog.<) st.at THEN
    RAISE EXCEPTION 'consent events must be recorded in time order'
      USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('at is %s; the latest event for this identifier and purpose is at %s.',
                                       at, st.at);
  END IF;
  INSERT INTO privacy.consent_event (kind, value, subject_ref, purpose, event, at, source,
                                     notice_version, actor, role, recorded_at)
       VALUES (kind, value, ref, purpose, event, at, source, notice_version,
               pg_catalog.session_user(), privacy_internal._invoker(), ts)
    RETURNING id INTO new_id;
  UPDATE privacy.consent_state s
     SET granted = (event OPERATOR(pg_catalog.=) 'grant'), event_id = new_id, at = _consent_append.at
   WHERE s.kind OPERATOR(pg_catalog.=) _consent_append.kind
     AND s.value OPERATOR(pg_catalog.=) _consent_append.value
     AND s.purpose OPERATOR(pg_catalog.=) _consent_append.purpose;
  PERFORM privacy_internal._consent_changed();
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION privacy_internal._consent_append(text, text, text, text, timestamptz, text, text, privacy.consent_state) IS
  'internal: appends one consent event and moves the state to it';

-- Audit one consent event (after every other lock of the change).
CREATE FUNCTION privacy_internal._consent_audit(event_id bigint)
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  e privacy.consent_event;
BEGIN
  SELECT * INTO e FROM privacy.consent_event x WHERE x.id OPERATOR(pg_catalog.=) event_id;
  PERFORM privacy_internal._audit('consent.' || e.event, e.purpose,
                         pg_catalog.jsonb_build_object('subject', e.subject_ref, 'kind', e.kind,
                                                       'event_id', e.id, 'at', e.at,
                                                       'source', e.source,
                                                       'notice_version', e.notice_version));
END
$$;
COMMENT ON FUNCTION privacy_internal._consent_audit(bigint) IS
  'internal: the audit entry of one consent event';

CREATE FUNCTION privacy.grant_consent(kind text, value text, purpose text,
                                      source text DEFAULT NULL, notice_version text DEFAULT NULL,
                                      at timestamptz DEFAULT NULL)
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  norm   text;
  st     privacy.consent_state;
  new_id bigint;
BEGIN
  norm := privacy_internal._consent_subject(kind, value, purpose);
  st := privacy_internal._consent_lock_state(kind, norm, purpose, false);
  new_id := privacy_internal._consent_append(kind, norm, purpose, 'grant', at, source, notice_version, st);
  PERFORM privacy_internal._consent_audit(new_id);
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION privacy.grant_consent(text, text, text, text, text, timestamptz) IS
  'record that a subject identifier gave consent for a purpose (source/channel, notice version shown, time); returns the event id';

CREATE FUNCTION privacy.withdraw_consent(kind text, value text, purpose text,
                                         source text DEFAULT NULL, at timestamptz DEFAULT NULL)
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  norm   text;
  st     privacy.consent_state;
  new_id bigint;
  r      record;
  n      bigint;
  how    text;
  match  text;
  total  bigint := 0;
  tables jsonb := '{}';
  locks  text;
  pend   text[];
  fp     text;
BEGIN
  norm := privacy_internal._consent_subject(kind, value, purpose);
  -- One lock order for every path that writes user tables and the audit
  -- log (erase_subject takes the same): the user tables first, in order of
  -- their oid, then the consent state, the audit head last.  So the tables
  -- the cascade deletes from are locked before anything else: an erasure
  -- holding them makes the withdrawal wait here, holding nothing it needs.
  SELECT pg_catalog.string_agg(x.tbl::text, ', ' ORDER BY x.tbl::oid) INTO locks
    FROM (SELECT DISTINCT q.tbl FROM privacy.consent_requirement q
           WHERE q.purpose OPERATOR(pg_catalog.=) withdraw_consent.purpose
             AND q.kind OPERATOR(pg_catalog.=) withdraw_consent.kind
             AND q.on_withdraw OPERATOR(pg_catalog.=) 'delete') x;
  IF locks IS NOT NULL THEN
    EXECUTE 'LOCK TABLE ' || locks || ' IN ROW EXCLUSIVE MODE';
  END IF;
  st := privacy_internal._consent_lock_state(kind, norm, purpose, true);
  IF st.granted IS NULL OR st.event_id IS NULL THEN
    PERFORM privacy_internal._raise_hidden('55000', pg_catalog.format('no consent to withdraw for purpose "%s"', purpose),
                                  'Consent for this identifier and purpose was never granted.');
  END IF;
  IF NOT st.granted THEN
    -- Withdrawing twice (a second click on an unsubscribe link) changes
    -- nothing: the withdrawal in force is the answer.
    RAISE NOTICE 'consent for purpose "%" is already withdrawn', purpose
      USING DETAIL = pg_catalog.format('Withdrawn at %s (event %s).', st.at, st.event_id);
    RETURN st.event_id;
  END IF;
  -- The withdrawal is in force before anything of a table's owner runs
  -- (a trigger of hers writing the subject's row anew is refused).
  new_id := privacy_internal._consent_append(kind, norm, purpose, 'withdraw', at, source, NULL, st);
  -- Stop processing: delete the subject's rows where the requirement says
  -- so, as each table's owner, in this transaction; the audit head is
  -- locked last.
  FOR r IN SELECT q.tbl, q.col, c.protect, c.domain,
                  privacy_internal._has_protect_trigger(q.tbl)
                  AND privacy_internal._raw_relation(q.tbl) IS NULL AS is_protected,
                  k.normalize
             FROM privacy.consent_requirement q
             JOIN privacy.identifier_kind k ON k.name OPERATOR(pg_catalog.=) q.kind
             LEFT JOIN privacy.registered_column c
               ON c.tbl OPERATOR(pg_catalog.=) q.tbl AND c.col OPERATOR(pg_catalog.=) q.col
            WHERE q.purpose OPERATOR(pg_catalog.=) withdraw_consent.purpose
              AND q.kind OPERATOR(pg_catalog.=) withdraw_consent.kind
              AND q.on_withdraw OPERATOR(pg_catalog.=) 'delete'
            ORDER BY q.tbl::oid, q.col
  LOOP
    -- A column declared protected in a table without the protect trigger
    -- (never protected, or unprotected since) may hold raw values or
    -- pseudonyms, which cannot be told apart: fail closed, as export and
    -- erasure do, rather than delete some of the subject's rows.
    IF NOT r.is_protected AND r.protect IN ('pseudonym', 'msisdn_fpe', 'email_pseudonym') THEN
      RAISE EXCEPTION 'protection of table % is not in force', r.tbl
        USING ERRCODE = '55000',
              DETAIL = pg_catalog.format('Column "%s" of relation %s is declared protected by %s, but the table has no protect trigger, or holds rows from before its protection that privacy.rekey() has not converted yet: its values may be stored raw, and the withdrawal''s deletion could not find all of the subject''s rows. Nothing was changed.',
                                         r.col, r.tbl, r.protect),
              HINT = 'Protect the table (SELECT privacy.protect(tbl, rewrite_existing => true) converts the rows it holds), or declare the column without protect if it is meant to hold raw values.';
    END IF;
    IF r.is_protected AND r.protect IS NOT NULL THEN
      -- fail closed where protection was switched off (raw values)
      PERFORM privacy_internal._check_protection(r.tbl);
      how := 'equal';
      match := privacy_internal._transform(norm, r.protect, r.domain, kind);
      pend := CASE WHEN r.protect OPERATOR(pg_catalog.=) 'msisdn_fpe'
                   THEN privacy_internal._rekey_keys(r.tbl) ELSE '{}' END;
      IF pg_catalog.cardinality(pend) OPERATOR(pg_catalog.>) 0 THEN
        -- a key rotation runs (src/sql/36_rekey.sql): the number under
        -- each key, matched with the rows under that key only
        n := 0;
        FOREACH fp IN ARRAY privacy.key_fingerprint() OPERATOR(pg_catalog.||) pend LOOP
          n := n OPERATOR(pg_catalog.+)
               privacy_internal._consent_delete(r.tbl, r.col, 'under:' || fp,
                                                privacy_internal._msisdn_under(fp, norm, r.domain, false));
        END LOOP;
        total := total OPERATOR(pg_catalog.+) n;
        tables := tables OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(r.tbl::text, n);
        CONTINUE;
      END IF;
    ELSIF r.normalize IN ('msisdn', 'email') THEN
      how := r.normalize;
      match := norm;
    ELSE
      how := 'equal';
      match := norm;
    END IF;
    n := privacy_internal._consent_delete(r.tbl, r.col, how, match);
    total := total OPERATOR(pg_catalog.+) n;
    tables := tables OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(r.tbl::text, n);
  END LOOP;
  PERFORM privacy_internal._consent_audit(new_id);
  IF tables OPERATOR(pg_catalog.<>) '{}'::jsonb THEN
    PERFORM privacy_internal._audit('consent.withdraw_cascade', purpose,
                           pg_catalog.jsonb_build_object('subject', privacy_internal._subject_ref(kind, norm),
                                                         'event_id', new_id, 'deleted', tables));
  END IF;
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION privacy.withdraw_consent(text, text, text, text, timestamptz) IS
  'record that a subject identifier withdrew consent for a purpose; deletes its rows where require_consent says on_withdraw => delete; returns the event id';

CREATE FUNCTION privacy.consent_history(kind text, value text)
  RETURNS TABLE(purpose text, event text, at timestamptz, source text, notice_version text,
                event_id bigint, recorded_at timestamptz, actor name)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  norm text;
  refs text[];
BEGIN
  IF kind IS NULL OR value IS NULL THEN
    RAISE EXCEPTION 'identifier kind and value must not be null' USING ERRCODE = '22004';
  END IF;
  SELECT k.normalize INTO norm FROM privacy.identifier_kind k
   WHERE k.name OPERATOR(pg_catalog.=) consent_history.kind;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unknown identifier kind "%"', kind USING ERRCODE = '22023';
  END IF;
  -- By the identifier, and by the keyed subject reference, so the history
  -- of an erased identifier (value nulled, reference kept) is still found
  -- by whoever knows it: under every key pg_privacy.key_file lists (an
  -- event recorded before a key change).
  norm := privacy_internal._identifier_normalize(kind, value);
  refs := privacy_internal._audit_refs(consent_history.kind, norm);
  RETURN QUERY
    SELECT e.purpose, e.event, e.at, e.source, e.notice_version, e.id, e.recorded_at, e.actor
      FROM privacy.consent_event e
     WHERE (e.subject_ref OPERATOR(pg_catalog.=) ANY (refs) OR e.value OPERATOR(pg_catalog.=) norm)
       AND e.kind OPERATOR(pg_catalog.=) consent_history.kind
     ORDER BY e.at, e.id;
END
$$;
COMMENT ON FUNCTION privacy.consent_history(text, text) IS
  'every consent event of a subject identifier, oldest first: purpose, grant/withdraw, time, source, notice version';

-- The receipts of identifiers already in their normal form, one row per
-- identifier in the order given (i counts from 1), made by one statement:
-- consent_receipt's without its checks, and the export's (an index probe
-- of the register per identifier).
CREATE FUNCTION privacy_internal._consent_receipts(kinds text[], normvs text[], controller jsonb)
  RETURNS TABLE(i bigint, receipt jsonb)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
  -- PL/pgSQL, so that the statement is planned once per session: with a
  -- generic plan, since a plan for the given arrays (their length known)
  -- always looks cheaper and would be made again at every call
  RETURN QUERY
  SELECT u.o, pg_catalog.jsonb_build_object(
    'version', 'KI-CR-v1.1.0',
    'model', 'ISO/IEC TS 27560 consent record',
    'jurisdiction', 'DK',
    'language', 'da',
    -- Same subject and same last event give the same receipt id.
    'consentReceiptID', CASE WHEN c.last_id IS NULL THEN NULL ELSE
        pg_catalog.left(pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(u.ref || '|' || c.last_id::text, 'UTF8')), 'hex'), 32)::uuid::text END,
    'iat', pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.now()))::bigint,
    'piiPrincipalId', pg_catalog.jsonb_build_object('kind', u.k, 'value', u.v),
    'piiControllers', CASE WHEN controller IS NULL THEN '[]'::jsonb
                           ELSE pg_catalog.jsonb_build_array(controller) END,
    'sensitive', false,
    'spiCat', '[]'::jsonb,
    'consents', COALESCE(c.records, '[]'::jsonb))
    -- events by the identifier, and by its keyed reference (an erased
    -- identifier's) under every key pg_privacy.key_file lists (an event
    -- recorded before a key change); the receipt id under the current key
    FROM (SELECT w.k, w.v, w.o, w.nv,
                 privacy_internal._audit_ref(w.k, w.nv) AS ref,
                 privacy_internal._audit_refs(w.k, w.nv) AS refs
            FROM (SELECT x.k, x.v, x.o, privacy_internal._identifier_normalize(x.k, x.v) AS nv
                    FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(normvs)) WITH ORDINALITY x(k, v, o)) w) u
    CROSS JOIN LATERAL (
      SELECT pg_catalog.jsonb_agg(m.r ORDER BY m.r OPERATOR(pg_catalog.->>) 'purpose') AS records,
             pg_catalog.max(m.last_id) AS last_id
        FROM (
          SELECT pg_catalog.jsonb_build_object(
                   'purpose', p.name,
                   'purposeDescription', p.description,
                   'legalBasis', p.legal_basis,
                   'legalBasisArticle', b.article,
                   'consentType', 'EXPLICIT',
                   'thirdPartyDisclosure', pg_catalog.cardinality(p.recipients) OPERATOR(pg_catalog.>) 0,
                   'thirdPartyName', pg_catalog.to_jsonb(p.recipients),
                   'termination', 'withdrawal at any time, as easy as giving it (GDPR Art. 7(3))',
                   'state', CASE pg_catalog.max(e.id) FILTER (WHERE e.event OPERATOR(pg_catalog.=) 'grant')
                                  OPERATOR(pg_catalog.=) pg_catalog.max(e.id)
                                 WHEN true THEN 'active' ELSE 'withdrawn' END,
                   'events', pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                               'eventId', e.id,
                               'eventType', CASE e.event WHEN 'grant' THEN 'given' ELSE 'withdrawn' END,
                               'eventTime', e.at,
                               'recordedTime', e.recorded_at,
                               'collectionMethod', e.source,
                               'noticeVersion', e.notice_version,
                               'recordedBy', e.actor) ORDER BY e.at, e.id)) AS r,
                 pg_catalog.max(e.id) AS last_id
            FROM privacy.consent_event e
            JOIN privacy.purpose p ON p.name OPERATOR(pg_catalog.=) e.purpose
            JOIN privacy.legal_basis b ON b.name OPERATOR(pg_catalog.=) p.legal_basis
           WHERE (e.subject_ref OPERATOR(pg_catalog.=) ANY (u.refs) OR e.value OPERATOR(pg_catalog.=) u.nv)
             AND e.kind OPERATOR(pg_catalog.=) u.k
           GROUP BY p.name, p.description, p.legal_basis, b.article, p.recipients) m) c;
END
$$;
COMMENT ON FUNCTION privacy_internal._consent_receipts(text[], text[], jsonb) IS
  'internal: the consent receipts of identifiers in their normal form, one statement';

-- A consent receipt: the subject's consents as JSON, with field names
-- after the Kantara Initiative Consent Receipt (v1.1) and the event model
-- of ISO/IEC TS 27560 (consent record, events given/withdrawn, state).
CREATE FUNCTION privacy.consent_receipt(kind text, value text, controller jsonb DEFAULT NULL)
  RETURNS jsonb
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  norm    text;
  normv   text;
BEGIN
  IF kind IS NULL OR value IS NULL THEN
    RAISE EXCEPTION 'identifier kind and value must not be null' USING ERRCODE = '22004';
  END IF;
  SELECT k.normalize INTO norm FROM privacy.identifier_kind k
   WHERE k.name OPERATOR(pg_catalog.=) consent_receipt.kind;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unknown identifier kind "%"', kind USING ERRCODE = '22023';
  END IF;
  normv := privacy_internal._identifier_normalize(kind, value);
  RETURN (SELECT r.receipt FROM privacy_internal._consent_receipts(ARRAY[kind], ARRAY[normv], controller) r);
END
$$;
COMMENT ON FUNCTION privacy.consent_receipt(text, text, jsonb) IS
  'the consents of a subject identifier as a receipt (Kantara Consent Receipt fields, ISO/IEC TS 27560 events)';

------------------------------------------------------------------------
-- Enforcement
------------------------------------------------------------------------

CREATE FUNCTION privacy.require_consent(tbl regclass, subject_column name, purpose text,
                                        on_withdraw text DEFAULT 'keep', kind text DEFAULT NULL)
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  rel      record;
  att      record;
  reg      record;
  p        privacy.purpose;
  old      privacy.consent_requirement;
  use_kind text := kind;
BEGIN
  IF tbl IS NULL OR subject_column IS NULL OR purpose IS NULL OR on_withdraw IS NULL THEN
    RAISE EXCEPTION 'table, subject column, purpose and on_withdraw must not be null'
      USING ERRCODE = '22004';
  END IF;
  SELECT c.relkind, c.relispartition, n.nspname INTO rel
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
   WHERE c.oid OPERATOR(pg_catalog.=) tbl;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'relation with OID % does not exist', tbl::oid USING ERRCODE = '42P01';
  END IF;
  IF rel.relkind NOT IN ('r', 'p') OR rel.nspname IN ('pg_catalog', 'information_schema', 'privacy', 'privacy_internal') THEN
    RAISE EXCEPTION '% is not a table that can require consent', tbl
      USING ERRCODE = '42809',
            DETAIL = 'Only ordinary and partitioned tables outside the system schemas can.';
  END IF;
  IF rel.relispartition THEN
    RAISE EXCEPTION 'cannot require consent on partition % on its own', tbl
      USING ERRCODE = '42809',
            HINT = 'Require it on the partitioned table; its trigger applies to every partition.';
  END IF;
  PERFORM privacy_internal._check_owner(tbl);
  PERFORM privacy_internal._citus_refuse(tbl, 'require_consent');
  SELECT a.attnum, a.atttypid, a.attgenerated INTO att FROM pg_catalog.pg_attribute a
   WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attname OPERATOR(pg_catalog.=) subject_column
     AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'column "%" of relation % does not exist', subject_column, tbl USING ERRCODE = '42703';
  END IF;
  -- A generated column is computed after the BEFORE row trigger: the check
  -- would see no subject (the trigger refuses every write to one, too).
  IF att.attgenerated OPERATOR(pg_catalog.<>) '' THEN
    RAISE EXCEPTION 'column "%" of relation % is a generated column', subject_column, tbl
      USING ERRCODE = '55000',
            DETAIL = 'A generated column is computed after the consent check, which would see no subject.',
            HINT = 'Require consent on the column it is computed from.';
  END IF;
  -- The trigger and the withdrawal read the column: built-in text and
  -- integer types only (checked again at each use).
  IF NOT privacy_internal._identifier_type_ok(att.atttypid) THEN
    RAISE EXCEPTION 'a subject column must have a built-in text or integer type'
      USING ERRCODE = '42804',
            DETAIL = pg_catalog.format('Column "%s" of relation %s has type %s.', subject_column, tbl,
                                       pg_catalog.format_type(att.atttypid, NULL)),
            HINT = 'Use text, varchar, char, smallint, integer, bigint or numeric.';
  END IF;
  SELECT * INTO p FROM privacy.purpose q WHERE q.name OPERATOR(pg_catalog.=) require_consent.purpose;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'purpose "%" does not exist', purpose
      USING ERRCODE = '22023', HINT = 'Define it first with privacy.define_purpose().';
  END IF;
  IF NOT p.requires_consent THEN
    RAISE EXCEPTION 'purpose "%" is not based on consent', purpose
      USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('Its legal basis is "%s"; consent is recorded only for purposes whose legal basis is consent.',
                                       p.legal_basis);
  END IF;
  IF on_withdraw NOT IN ('keep', 'delete') THEN
    RAISE EXCEPTION 'invalid on_withdraw "%"', on_withdraw
      USING ERRCODE = '22023', HINT = 'Use "keep" or "delete".';
  END IF;
  SELECT c.identifies, c.protect INTO reg FROM privacy.registered_column c
   WHERE c.tbl OPERATOR(pg_catalog.=) require_consent.tbl
     AND c.col OPERATOR(pg_catalog.=) subject_column;
  IF use_kind IS NULL THEN
    use_kind := reg.identifies;
  ELSIF reg.identifies IS NOT NULL AND reg.identifies OPERATOR(pg_catalog.<>) use_kind THEN
    RAISE EXCEPTION 'column "%" of relation % is declared to hold identifier kind "%", not "%"',
                    subject_column, tbl, reg.identifies, use_kind
      USING ERRCODE = '22023';
  END IF;
  IF use_kind IS NULL THEN
    RAISE EXCEPTION 'the identifier kind of column "%" of relation % is unknown', subject_column, tbl
      USING ERRCODE = '22023',
            HINT = 'Register the column with identifies => ..., or pass kind => ....';
  END IF;
  IF NOT EXISTS (SELECT FROM privacy.identifier_kind k WHERE k.name OPERATOR(pg_catalog.=) use_kind) THEN
    RAISE EXCEPTION 'unknown identifier kind "%"', use_kind USING ERRCODE = '22023';
  END IF;
  IF reg.protect IS NOT NULL AND reg.protect OPERATOR(pg_catalog.<>) 'msisdn_fpe' THEN
    RAISE EXCEPTION 'cannot require consent on column "%" of relation %', subject_column, tbl
      USING ERRCODE = '0A000',
            DETAIL = pg_catalog.format('The column is protected by "%s", which cannot be reversed, so an update could not tell whose row it is.', reg.protect),
            HINT = 'Require consent on a column that holds the identifier, raw or protected by msisdn_fpe.';
  END IF;

  SELECT * INTO old FROM privacy.consent_requirement q
   WHERE q.tbl OPERATOR(pg_catalog.=) require_consent.tbl
     AND q.col OPERATOR(pg_catalog.=) subject_column
     AND q.purpose OPERATOR(pg_catalog.=) require_consent.purpose
     FOR UPDATE;
  INSERT INTO privacy.consent_requirement AS q (tbl, col, purpose, kind, on_withdraw, required_by)
       VALUES (tbl, subject_column, purpose, use_kind, on_withdraw, privacy_internal._invoker())
  ON CONFLICT ON CONSTRAINT consent_requirement_pkey DO UPDATE
       SET kind = EXCLUDED.kind, on_withdraw = EXCLUDED.on_withdraw;
  -- Named to fire after the table's own BEFORE triggers and before the
  -- protect trigger (zz_pg_privacy_protect): it sees the raw identifier.
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_trigger g
                  WHERE g.tgrelid OPERATOR(pg_catalog.=) tbl
                    AND g.tgname OPERATOR(pg_catalog.=) 'zy_pg_privacy_consent') THEN
    EXECUTE pg_catalog.format(
      'CREATE TRIGGER zy_pg_privacy_consent BEFORE INSERT OR UPDATE ON %s '
      'FOR EACH ROW EXECUTE FUNCTION privacy_internal._consent_trigger()', tbl);
  END IF;
  PERFORM privacy_internal._invalidate(tbl);
  PERFORM privacy_internal._audit(CASE WHEN old.tbl IS NULL THEN 'consent.require' ELSE 'consent.require_changed' END,
                         tbl::text,
                         pg_catalog.jsonb_build_object('column', subject_column, 'purpose', purpose,
                                                       'kind', use_kind, 'on_withdraw', on_withdraw)
                         OPERATOR(pg_catalog.||)
                         CASE WHEN old.tbl IS NULL THEN '{}'::jsonb
                              ELSE pg_catalog.jsonb_build_object('previous_on_withdraw', old.on_withdraw) END);
END
$$;
COMMENT ON FUNCTION privacy.require_consent(regclass, name, text, text, text) IS
  'make the table refuse rows whose subject (in the column) has no consent for the purpose; on_withdraw => delete removes them on withdrawal';

CREATE FUNCTION privacy.unrequire_consent(tbl regclass, subject_column name, purpose text)
  RETURNS void
  LANGUAGE plpgsql VOLATILE STRICT
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
BEGIN
  PERFORM privacy_internal._check_owner(tbl);
  DELETE FROM privacy.consent_requirement q
   WHERE q.tbl OPERATOR(pg_catalog.=) unrequire_consent.tbl
     AND q.col OPERATOR(pg_catalog.=) subject_column
     AND q.purpose OPERATOR(pg_catalog.=) unrequire_consent.purpose;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'relation % does not require consent for purpose "%" in column "%"',
                    tbl, purpose, subject_column
      USING ERRCODE = '55000';
  END IF;
  IF NOT EXISTS (SELECT FROM privacy.consent_requirement q WHERE q.tbl OPERATOR(pg_catalog.=) unrequire_consent.tbl) THEN
    EXECUTE pg_catalog.format('DROP TRIGGER IF EXISTS zy_pg_privacy_consent ON %s', tbl);
  END IF;
  PERFORM privacy_internal._invalidate(tbl);
  PERFORM privacy_internal._audit('consent.unrequire', tbl::text,
                         pg_catalog.jsonb_build_object('column', subject_column, 'purpose', purpose));
END
$$;
COMMENT ON FUNCTION privacy.unrequire_consent(regclass, name, text) IS
  'stop requiring consent for the purpose in the table''s column';

-- A dropped table takes its requirements with it.
CREATE FUNCTION privacy_internal._consent_on_sql_drop() RETURNS event_trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
  SET jit = off
AS $$
DECLARE
  o record;
BEGIN
  FOR o IN SELECT * FROM pg_catalog.pg_event_trigger_dropped_objects()
            WHERE object_type OPERATOR(pg_catalog.=) 'table'
  LOOP
    DELETE FROM privacy.consent_requirement q WHERE q.tbl::oid OPERATOR(pg_catalog.=) o.objid;
  END LOOP;
END
$$;
COMMENT ON FUNCTION privacy_internal._consent_on_sql_drop() IS
  'internal: removes the consent requirements of dropped tables';
CREATE EVENT TRIGGER pg_privacy_consent_sql_drop ON sql_drop
  EXECUTE FUNCTION privacy_internal._consent_on_sql_drop();

-- Which tables require consent, with the trigger's presence.
-- Why the consent check of a table with a consent requirement is not in
-- force (see privacy_internal._trigger_problem), or NULL.  The check is named to fire
-- after the table's own BEFORE triggers and before the protect trigger, so
-- only the protect trigger may follow it.  Reads pg_catalog only.
CREATE FUNCTION privacy_internal._consent_problem(tbl regclass) RETURNS text
  LANGUAGE sql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT privacy_internal._trigger_problem(tbl, 'zy_pg_privacy_consent', 'privacy_internal._consent_trigger()'::regprocedure,
                                  23, ARRAY['zz_pg_privacy_protect']::name[])   -- 23: ROW BEFORE INSERT UPDATE
$$;

CREATE VIEW privacy.consent_requirements AS
SELECT q.tbl AS table_name, q.col AS subject_column, q.kind, q.purpose, q.on_withdraw,
       privacy_internal._consent_problem(q.tbl) IS NULL AS enforced,
       q.required_at, q.required_by
  FROM privacy.consent_requirement q;
COMMENT ON VIEW privacy.consent_requirements IS
  'tables that refuse rows of subjects without consent, per column and purpose';
-- Retention: declarative policies, their legal minimums, and legal holds.
-- The purge that carries them out is in 55_purge.sql.
--
-- A policy says, for one registered table, which column dates a row, how
-- long a row is kept (optionally counted from the end of the calendar or
-- financial period the row falls in), whether an expired row is deleted or
-- anonymized, and the legal minimum no row is purged before.  A policy
-- turns into one instant per run, the cutoff: rows dated before it are
-- expired.
--
-- What a purge leaves alone: rows under a legal hold (the identifier in
-- any declared column of its kind, in any written form) and the
-- partitions holding one; rows under their legal minimum (the rule of
-- _legal_minimum_from, which erasure applies too); and, when anonymizing,
-- the rows of restricted data subjects (which may be stored, not changed).
-- The hold predicate (_hold_predicate) is shared by the purge and erasure.

------------------------------------------------------------------------
-- Catalog
------------------------------------------------------------------------

CREATE TABLE privacy.retention_policy (
  tbl           regclass PRIMARY KEY REFERENCES privacy.registered_table ON DELETE CASCADE,
  time_column   name NOT NULL,
  time_attnum   smallint NOT NULL,     -- kept current by _retention_policy_attnum
  keep          interval NOT NULL CHECK (keep OPERATOR(pg_catalog.>) interval '0'),
  action        text NOT NULL CHECK (action IN ('delete', 'anonymize')),
  keep_at_least interval CHECK (keep_at_least OPERATOR(pg_catalog.>) interval '0'),
  align         text CHECK (align IN ('day', 'week', 'month', 'quarter', 'year')),
  year_start    smallint NOT NULL DEFAULT 1 CHECK (year_start BETWEEN 1 AND 12),
  time_zone     text NOT NULL,
  generalize    text NOT NULL DEFAULT 'day'
                CHECK (generalize IN ('minute', 'hour', 'day', 'week', 'month', 'quarter', 'year')),
  set_at        timestamptz NOT NULL DEFAULT now(),
  set_by        name NOT NULL
);
COMMENT ON TABLE privacy.retention_policy IS
  'pg_privacy: retention policies, one per registered table';
CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE ON privacy.retention_policy
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._catalog_changed();   -- (src/subject.c)
CREATE TRIGGER catalog_truncated AFTER TRUNCATE ON privacy.retention_policy
  FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._catalog_changed();
ALTER TABLE privacy.retention_policy ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;

-- Legal holds: the identifier is kept normalized by its kind, because the
-- purge must find the subject's rows (through each column's transformation)
-- in tables declared after the hold was placed.
CREATE SEQUENCE privacy.legal_hold_id_seq;
CREATE TABLE privacy.legal_hold (
  id          bigint PRIMARY KEY DEFAULT pg_catalog.nextval('privacy.legal_hold_id_seq'),
  kind        text NOT NULL REFERENCES privacy.identifier_kind,
  value       text NOT NULL,          -- normalized identifier
  reason      text NOT NULL,
  placed_at   timestamptz NOT NULL DEFAULT now(),
  placed_by   name NOT NULL,
  until       timestamptz,
  released_at timestamptz,
  released_by name
);
ALTER SEQUENCE privacy.legal_hold_id_seq OWNED BY privacy.legal_hold.id;
CREATE INDEX legal_hold_active_idx ON privacy.legal_hold (kind) WHERE released_at IS NULL;
COMMENT ON TABLE privacy.legal_hold IS
  'pg_privacy: legal holds; rows of a subject under an active hold are never purged';

-- Work in progress of a purge, per table, committed with every batch.
CREATE TABLE privacy.retention_progress (
  tbl          regclass PRIMARY KEY REFERENCES privacy.retention_policy ON DELETE CASCADE,
  run_id       bigint NOT NULL,        -- the run now working on it
  first_run_id bigint NOT NULL,        -- the run that started this pass
  runs         integer NOT NULL DEFAULT 1,
  started_at   timestamptz NOT NULL,
  cutoff       timestamptz NOT NULL,
  phase        text NOT NULL CHECK (phase IN ('partitions', 'rows')),
  next_from    text,                   -- keyset: the next batch starts here
  rows         bigint NOT NULL DEFAULT 0,
  partitions   integer NOT NULL DEFAULT 0,
  dropped      text[] NOT NULL DEFAULT '{}',
  dropped_rows_estimate bigint NOT NULL DEFAULT 0,
  pending      oid[],                  -- expired partitions still to drop
  batches      integer NOT NULL DEFAULT 0
);
COMMENT ON TABLE privacy.retention_progress IS
  'pg_privacy: purges under way (an interrupted run_purge is continued from here)';

CREATE SEQUENCE privacy.retention_run_seq;

SELECT pg_catalog.pg_extension_config_dump('privacy.retention_policy', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.legal_hold', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.legal_hold_id_seq', '');

-- Keep time_attnum matching the column name, also for rows restored from a
-- dump (attribute numbers can change across a restore).
CREATE FUNCTION privacy_internal._retention_policy_attnum() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  SELECT a.attnum INTO NEW.time_attnum FROM pg_catalog.pg_attribute a
   WHERE a.attrelid OPERATOR(pg_catalog.=) NEW.tbl
     AND a.attname OPERATOR(pg_catalog.=) NEW.time_column
     AND NOT a.attisdropped;
  IF NEW.time_attnum IS NULL THEN
    RAISE EXCEPTION 'column "%" of relation % does not exist', NEW.time_column, NEW.tbl
      USING ERRCODE = '42703';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER retention_policy_attnum
  BEFORE INSERT OR UPDATE OF tbl, time_column ON privacy.retention_policy
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._retention_policy_attnum();
-- (also in logical replication's apply: the column's number on this server)
ALTER TABLE privacy.retention_policy ENABLE ALWAYS TRIGGER retention_policy_attnum;

-- A renamed time column is followed by the catalog's one rename-following
-- mechanism (privacy_internal._follow_column_rename, 20_catalog.sql).

------------------------------------------------------------------------
-- Internal helpers
------------------------------------------------------------------------

-- Statements run as a table's owner (src/retention.c).
CREATE FUNCTION privacy_internal._owner_exec(tbl regclass, sql text, args text[] DEFAULT '{}',
                                    lock_timeout_ms integer DEFAULT 0)
  RETURNS bigint
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_owner_exec';
COMMENT ON FUNCTION privacy_internal._owner_exec(regclass, text, text[], integer) IS
  'internal: run a statement with text parameters as the table owner in a security-restricted operation; rows processed';

CREATE FUNCTION privacy_internal._owner_query(tbl regclass, sql text, args text[] DEFAULT '{}',
                                     lock_timeout_ms integer DEFAULT 0)
  RETURNS text
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_owner_query';
COMMENT ON FUNCTION privacy_internal._owner_query(regclass, text, text[], integer) IS
  'internal: run a query as the table owner in a security-restricted operation; first value as text';

-- The advisory lock keys: one purge at a time; holds against batches.
CREATE FUNCTION privacy_internal._lock_key(what text) RETURNS integer
  LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN CASE what WHEN 'purge' THEN 1 WHEN 'hold' THEN 2 END;
END
$$;
COMMENT ON FUNCTION privacy_internal._lock_key(text) IS
  'internal: second key of the advisory locks of purge and holds (first key: 0x70677072)';

-- The start of the period (align) that ts falls in, in the time zone; the
-- financial year (and its quarters) start in month year_start.
CREATE FUNCTION privacy_internal._period_start(ts timestamptz, align text, year_start integer, zone text)
  RETURNS timestamptz
  LANGUAGE plpgsql STABLE PARALLEL SAFE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  local timestamp := ts AT TIME ZONE zone;
  shift interval := pg_catalog.make_interval(months => year_start OPERATOR(pg_catalog.-) 1);
BEGIN
  IF align IS NULL THEN
    RETURN ts;
  END IF;
  IF align IN ('quarter', 'year') THEN
    local := pg_catalog.date_trunc(align, local OPERATOR(pg_catalog.-) shift) OPERATOR(pg_catalog.+) shift;
  ELSE
    local := pg_catalog.date_trunc(align, local);
  END IF;
  RETURN local AT TIME ZONE zone;
END
$$;
COMMENT ON FUNCTION privacy_internal._period_start(timestamptz, text, integer, text) IS
  'internal: start of the day/week/month/quarter/(financial) year a time falls in, in a time zone';

-- The legal minimum, one rule for purge and erasure alike: at time `at`,
-- a row of the policy's table dated at or after _legal_minimum_from(p, at)
-- is still under its legal minimum (keep_at_least counted from the end of
-- the row's period, in the policy's time zone, or from the row's time
-- without alignment); NULL when the policy has none.  The purge never
-- takes such a row (its cutoff is at most this instant), and erasure keeps
-- it (privacy_internal._legal_minimum_sql).  _legal_minimum_until says until when a
-- row is kept: the first instant at which this rule lets it go.
CREATE FUNCTION privacy_internal._legal_minimum_from(p privacy.retention_policy, at timestamptz)
  RETURNS timestamptz
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF p.keep_at_least IS NULL OR at IS NULL THEN
    RETURN NULL;
  END IF;
  RETURN privacy_internal._period_start(((at AT TIME ZONE p.time_zone) OPERATOR(pg_catalog.-) p.keep_at_least) AT TIME ZONE p.time_zone,
                               p.align, p.year_start, p.time_zone);
END
$$;
COMMENT ON FUNCTION privacy_internal._legal_minimum_from(privacy.retention_policy, timestamptz) IS
  'internal: rows dated at or after this instant are under the legal minimum of the policy at time at (NULL: no minimum)';

-- The cutoff of a policy at a given time: rows dated before it are
-- expired.  A row is expired when `keep` has passed since the end of its
-- period (or since its time, without alignment), and its legal minimum
-- (privacy_internal._legal_minimum_from) as well.
CREATE FUNCTION privacy_internal._retention_cutoff(p privacy.retention_policy, at timestamptz)
  RETURNS timestamptz
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  local timestamp := at AT TIME ZONE p.time_zone;
  c timestamptz;
BEGIN
  c := privacy_internal._period_start((local OPERATOR(pg_catalog.-) p.keep) AT TIME ZONE p.time_zone,
                             p.align, p.year_start, p.time_zone);
  IF p.keep_at_least IS NOT NULL THEN
    c := LEAST(c, privacy_internal._legal_minimum_from(p, at));
  END IF;
  RETURN c;
END
$$;
COMMENT ON FUNCTION privacy_internal._retention_cutoff(privacy.retention_policy, timestamptz) IS
  'internal: the instant before which rows of a policy''s table are expired';

-- Until when the legal minimum of a table's policy keeps a row dated ts:
-- keep_at_least after the end of the row's period (or after ts without
-- alignment); NULL when the table has no legal minimum.  Erasure reports
-- it as kept_until; whether a row is kept is decided by
-- _legal_minimum_from, of which this is the inverse.
CREATE FUNCTION privacy_internal._legal_minimum_until(tbl regclass, ts timestamptz) RETURNS timestamptz
  LANGUAGE plpgsql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  p privacy.retention_policy;
  local timestamp;
BEGIN
  SELECT * INTO p FROM privacy.retention_policy r WHERE r.tbl OPERATOR(pg_catalog.=) _legal_minimum_until.tbl;
  IF NOT FOUND OR p.keep_at_least IS NULL THEN
    RETURN NULL;
  END IF;
  local := privacy_internal._period_start(ts, p.align, p.year_start, p.time_zone) AT TIME ZONE p.time_zone;
  IF p.align IS NOT NULL THEN
    local := local OPERATOR(pg_catalog.+)
             CASE p.align WHEN 'quarter' THEN interval '3 months' ELSE ('1 ' || p.align)::interval END;
  END IF;
  RETURN (local OPERATOR(pg_catalog.+) p.keep_at_least) AT TIME ZONE p.time_zone;
END
$$;
COMMENT ON FUNCTION privacy_internal._legal_minimum_until(regclass, timestamptz) IS
  'internal: until when the legal minimum of the table''s retention policy keeps a row dated ts (NULL: no minimum)';

-- The legal minimum as SQL over a row of tbl (alias `alias`), for erasure:
-- keep_cond is true for the rows still under it at `at` (NULL when the
-- table has no legal minimum), row_time the row's time as timestamptz in
-- the policy's time zone (for _legal_minimum_until).  Only built-in
-- operators and literals: the statement runs as the table's owner.
CREATE FUNCTION privacy_internal._legal_minimum_sql(tbl regclass, alias text, at timestamptz,
                                           OUT keep_cond text, OUT row_time text)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  p privacy.retention_policy;
  typ regtype;
  col text;
BEGIN
  SELECT * INTO p FROM privacy.retention_policy r WHERE r.tbl OPERATOR(pg_catalog.=) _legal_minimum_sql.tbl;
  IF NOT FOUND OR p.keep_at_least IS NULL THEN
    RETURN;
  END IF;
  SELECT pg_catalog.quote_ident(alias) || '.' || pg_catalog.quote_ident(a.attname), a.atttypid::regtype
    INTO col, typ
    FROM pg_catalog.pg_attribute a
   WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attnum OPERATOR(pg_catalog.=) p.time_attnum
     AND NOT a.attisdropped;
  IF typ IS NULL OR typ NOT IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype) THEN
    RAISE EXCEPTION 'the time column of the retention policy of % is missing or not a time', tbl
      USING ERRCODE = '55000', HINT = 'Set the policy again with privacy.set_retention().';
  END IF;
  -- the purge's own comparison, negated (a date is kept whole while any
  -- of its day is under the minimum)
  keep_cond := pg_catalog.format('(%s OPERATOR(pg_catalog.>=) %L::%s)', col,
                                 privacy_internal._retention_literal(privacy_internal._legal_minimum_from(p, at), typ, p.time_zone),
                                 typ);
  row_time := CASE typ
                WHEN 'timestamptz'::regtype THEN col
                WHEN 'timestamp'::regtype THEN pg_catalog.format('pg_catalog.timezone(%L, %s)', p.time_zone, col)
                ELSE pg_catalog.format('pg_catalog.timezone(%L, %s::pg_catalog.timestamp)', p.time_zone, col) END;
END
$$;
COMMENT ON FUNCTION privacy_internal._legal_minimum_sql(regclass, text, timestamptz) IS
  'internal: SQL condition that a row is under the legal minimum of the table''s policy, and its time, for erasure';

-- An interval in words ("5 years", "6 months", "1 year 2 days"), the
-- same whatever the session's IntervalStyle.
CREATE FUNCTION privacy_internal._interval_text(i interval) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT COALESCE(NULLIF(pg_catalog.concat_ws(' ',
           CASE WHEN y OPERATOR(pg_catalog.=) 1 THEN '1 year' WHEN y OPERATOR(pg_catalog.<>) 0 THEN y || ' years' END,
           CASE WHEN m OPERATOR(pg_catalog.=) 1 THEN '1 month' WHEN m OPERATOR(pg_catalog.<>) 0 THEN m || ' months' END,
           CASE WHEN d OPERATOR(pg_catalog.=) 1 THEN '1 day' WHEN d OPERATOR(pg_catalog.<>) 0 THEN d || ' days' END,
           CASE WHEN t OPERATOR(pg_catalog.<>) interval '0' THEN pg_catalog.to_char(t, 'HH24:MI:SS') END), ''), '0')
    FROM (SELECT pg_catalog.date_part('year', i)::integer AS y, pg_catalog.date_part('month', i)::integer AS m,
                 pg_catalog.date_part('day', i)::integer AS d,
                 i OPERATOR(pg_catalog.-) pg_catalog.date_trunc('day', i) AS t) v
$$;

-- A policy in words, for the record of processing.
CREATE FUNCTION privacy_internal._retention_text(p privacy.retention_policy) RETURNS text
  LANGUAGE sql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT CASE WHEN p.tbl IS NOT NULL THEN pg_catalog.concat(
    CASE p.action WHEN 'delete' THEN 'deleted' ELSE 'anonymized' END,
    ' ', privacy_internal._interval_text(p.keep),
    CASE WHEN p.align IS NULL THEN ' after ' || p.time_column
         WHEN p.align OPERATOR(pg_catalog.=) 'year' AND p.year_start OPERATOR(pg_catalog.<>) 1
           THEN ' after the end of the financial year (from month ' || p.year_start || ') of ' || p.time_column
         ELSE ' after the end of the ' || p.align || ' of ' || p.time_column END,
    CASE WHEN p.keep_at_least IS NOT NULL THEN ', never before ' || privacy_internal._interval_text(p.keep_at_least) END) END
$$;

-- The form an identifier is stored in by a protect transformation; NULL
-- when the transformation refuses it (then no row can hold it there).
CREATE FUNCTION privacy_internal._stored_form(value text, protect text, domain text, identifies text)
  RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF value IS NULL OR protect IS NULL OR domain IS NULL THEN
    RETURN NULL;
  END IF;
  RETURN privacy_internal._transform(value, protect, domain, identifies);
EXCEPTION WHEN data_exception THEN
  RETURN NULL;
END
$$;

-- The usual written forms of normalized identifiers: a phone number in
-- E.164 also as 00<digits>, <digits>, and the national number of the
-- default country; others as they are.  A column protected before its
-- transformation normalized what it was given stores the transform of
-- the form that was typed; these are the forms a hold looks for there.
CREATE FUNCTION privacy_internal._retention_written_forms(vals text[], mode text, dc text) RETURNS text[]
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v text;
  n text;
  i integer;
  out text[] := '{}';
BEGIN
  IF vals IS NULL THEN
    RETURN NULL;
  END IF;
  IF mode IS DISTINCT FROM 'msisdn' THEN
    RETURN vals;
  END IF;
  FOREACH v IN ARRAY vals LOOP
    out := out || v;
    CONTINUE WHEN v IS NULL OR v OPERATOR(pg_catalog.!~) '^\+[0-9]+$';
    out := out || ('00' || pg_catalog.substr(v, 2)) || pg_catalog.substr(v, 2);
    -- national forms: those the default country reads as this number
    FOR i IN 1..3 LOOP
      n := pg_catalog.substr(v, 2 OPERATOR(pg_catalog.+) i);
      IF privacy.lookup_value('msisdn', n, dc) IS NOT DISTINCT FROM v THEN
        out := out || n;
      END IF;
      IF privacy.lookup_value('msisdn', '0' || n, dc) IS NOT DISTINCT FROM v THEN
        out := out || ('0' || n);
      END IF;
    END LOOP;
  END LOOP;
  RETURN out;
END
$$;
COMMENT ON FUNCTION privacy_internal._retention_written_forms(text[], text, text) IS
  'internal: usual written forms of normalized identifiers (a number in E.164, 00 and national forms)';

-- The legal-hold predicate over a row of tbl: true when any registered
-- column that holds an identifier of a held kind (owner or mention) holds
-- a held identifier, in any written form.  Used by the purge and by
-- erasure, so that a hold keeps a row whichever subject is being purged or
-- erased.  The held values never enter the SQL text (it may be logged):
-- they are held_args, which the statement reads as $3, $4, ... (param_key
-- NULL, the purge) or from its jsonb parameter $1 under param_key (the
-- erasure's statements).  `alias` qualifies the columns.
CREATE FUNCTION privacy_internal._hold_arg(args text[], param_key text) RETURNS text
  LANGUAGE sql IMMUTABLE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT CASE WHEN param_key IS NULL
              THEN '$' || (pg_catalog.cardinality(args) OPERATOR(pg_catalog.+) 2)::text || '::pg_catalog.text[]'
              ELSE pg_catalog.format('($1 OPERATOR(pg_catalog.->) %L OPERATOR(pg_catalog.->>) %s)::pg_catalog.text[]',
                                     param_key, pg_catalog.cardinality(args) OPERATOR(pg_catalog.-) 1) END
$$;

CREATE FUNCTION privacy_internal._hold_predicate(tbl regclass, alias text, param_key text,
                                        OUT held text, OUT held_args text[], OUT held_cols integer)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  c record;
  vals text[];
  norms text[];
  cond text[];
  parts text[] := '{}';
  colref text;
  dc text := privacy_internal._default_country();
BEGIN
  -- Holds: every registered column that holds an identifier of the kind
  -- (owner or mention), whatever form it is written in.  A stored
  -- (transformed) value is compared with the transformation of the held
  -- identifier and of its usual written forms; a value as typed, and one
  -- written before the column was protected, by its kind's normal form
  -- (privacy.lookup_value: '20 55 66 77', '004520556677' and '+4520556677'
  -- are one number; the expression export and erasure use, so one index
  -- serves them all).  Only built-in operators and the keyless, PUBLIC
  -- lookup_value: the predicate runs as the table's owner.  Holds store
  -- the normal form computed when they were placed (under the setting of
  -- that moment); today's default country reads the column.
  held_args := '{}';
  FOR c IN
    SELECT rc.col, rc.protect, rc.domain, rc.identifies, ik.normalize,
           (SELECT pg_catalog.array_agg(DISTINCT h.value)
              FROM privacy.legal_hold h
             WHERE h.kind OPERATOR(pg_catalog.=) rc.identifies
               AND h.released_at IS NULL
               AND (h.until IS NULL OR h.until OPERATOR(pg_catalog.>) pg_catalog.now())) AS vals
      FROM privacy.registered_column rc
      JOIN privacy.identifier_kind ik ON ik.name OPERATOR(pg_catalog.=) rc.identifies
     WHERE rc.tbl OPERATOR(pg_catalog.=) _hold_predicate.tbl
       AND (rc.protect IS NULL OR rc.protect NOT IN ('null', 'country'))
     ORDER BY rc.attnum
  LOOP
    CONTINUE WHEN c.vals IS NULL;
    colref := CASE WHEN alias IS NULL THEN pg_catalog.quote_ident(c.col)
                   ELSE pg_catalog.quote_ident(alias) || '.' || pg_catalog.quote_ident(c.col) END;
    -- the normal forms (as lookup_value writes them) of the held values
    SELECT pg_catalog.array_agg(DISTINCT f) INTO norms
      FROM pg_catalog.unnest(c.vals) v,
           LATERAL (VALUES (v), (privacy.lookup_value(c.normalize, v, dc))) x(f)
     WHERE f IS NOT NULL;
    cond := '{}';
    IF c.protect IS NOT NULL THEN
      -- and, while relations of the table are pending under an older key
      -- (src/sql/36_rekey.sql), a held number's pseudonym under that key
      -- too: its rows are kept whichever key they are under
      SELECT pg_catalog.array_agg(DISTINCT x.f) INTO vals
        FROM (SELECT f
                FROM pg_catalog.unnest(privacy_internal._retention_written_forms(c.vals, c.normalize, dc)) v,
                     privacy_internal._stored_form(v, c.protect, c.domain, c.identifies) f
              UNION
              SELECT privacy_internal._msisdn_under(k, v, c.domain, false)
                FROM pg_catalog.unnest(privacy_internal._rekey_keys(_hold_predicate.tbl)) k,
                     pg_catalog.unnest(c.vals) v
               WHERE c.protect OPERATOR(pg_catalog.=) 'msisdn_fpe') x
       WHERE x.f IS NOT NULL;
      IF vals IS NOT NULL THEN
        held_args := held_args || vals::text;
        cond := cond || pg_catalog.format('%s::pg_catalog.text OPERATOR(pg_catalog.=) ANY (%s)',
                                          colref, privacy_internal._hold_arg(held_args, param_key));
      END IF;
    ELSE
      held_args := held_args || c.vals::text;
      cond := cond || pg_catalog.format('%s::pg_catalog.text OPERATOR(pg_catalog.=) ANY (%s)',
                                        colref, privacy_internal._hold_arg(held_args, param_key));
    END IF;
    -- as typed, or raw from before protection: by the normal form (not in
    -- an msisdn_fpe column, whose pseudonyms are numbers themselves,
    -- unless the table has no protect trigger: never protected, or
    -- unprotected since, its rows may hold the number raw; or rows from
    -- before protect_in_batches() are not converted yet: a hold keeps too
    -- much rather than too little)
    IF norms IS NOT NULL AND (c.protect IS DISTINCT FROM 'msisdn_fpe'
                              OR NOT privacy_internal._has_protect_trigger(_hold_predicate.tbl)
                              OR privacy_internal._raw_relation(_hold_predicate.tbl) IS NOT NULL) THEN
      held_args := held_args || norms::text;
      cond := cond || pg_catalog.format('privacy.lookup_value(%L, %s::pg_catalog.text, %L) OPERATOR(pg_catalog.=) ANY (%s)',
                                        c.normalize, colref, dc, privacy_internal._hold_arg(held_args, param_key));
    END IF;
    CONTINUE WHEN pg_catalog.cardinality(cond) OPERATOR(pg_catalog.=) 0;
    -- (IS TRUE, not COALESCE: Citus plans no STABLE cast, such as the
    -- arguments' ::text[], inside a COALESCE of a distributed DELETE)
    parts := parts || pg_catalog.format('(%s) IS TRUE', pg_catalog.array_to_string(cond, ' OR '));
  END LOOP;
  held_cols := pg_catalog.cardinality(parts);
  held := CASE WHEN pg_catalog.cardinality(parts) OPERATOR(pg_catalog.=) 0 THEN NULL
               ELSE '(' || pg_catalog.array_to_string(parts, ' OR ') || ')' END;
END
$$;
COMMENT ON FUNCTION privacy_internal._hold_predicate(regclass, text, text) IS
  'internal: SQL predicate true for rows of the table that hold an identifier under an active legal hold';

------------------------------------------------------------------------
-- Policies
------------------------------------------------------------------------

CREATE FUNCTION privacy.set_retention(tbl regclass, time_column name, keep interval,
                                      action text DEFAULT 'delete',
                                      keep_at_least interval DEFAULT NULL,
                                      align text DEFAULT NULL,
                                      year_start integer DEFAULT 1,
                                      time_zone text DEFAULT NULL,
                                      generalize text DEFAULT 'day')
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  att record;
  old privacy.retention_policy;
  zone text := COALESCE(time_zone, pg_catalog.current_setting('TimeZone'));
  rel record;
  other regclass;
  w privacy_internal._retention_work;
BEGIN
  IF tbl IS NULL OR time_column IS NULL OR keep IS NULL OR action IS NULL THEN
    RAISE EXCEPTION 'table, time column, keep and action must not be null' USING ERRCODE = '22004';
  END IF;
  IF NOT EXISTS (SELECT FROM privacy.registered_table t WHERE t.tbl OPERATOR(pg_catalog.=) set_retention.tbl) THEN
    RAISE EXCEPTION 'table % is not registered', tbl
      USING ERRCODE = '55000',
            HINT = 'Register it with privacy.register_table() first; a policy is part of the record of processing.';
  END IF;
  PERFORM privacy_internal._check_owner(tbl);
  SELECT a.attnum, a.atttypid::regtype AS typ INTO att
    FROM pg_catalog.pg_attribute a
   WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attname OPERATOR(pg_catalog.=) time_column
     AND NOT a.attisdropped AND a.attnum OPERATOR(pg_catalog.>) 0;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'column "%" of relation % does not exist', time_column, tbl USING ERRCODE = '42703';
  END IF;
  IF att.typ NOT IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype) THEN
    RAISE EXCEPTION 'time column "%" of relation % has type %', time_column, tbl, att.typ
      USING ERRCODE = '42804',
            HINT = 'The column that dates a row must be of type timestamptz, timestamp or date.';
  END IF;
  IF keep OPERATOR(pg_catalog.<=) interval '0' THEN
    RAISE EXCEPTION 'retention period must be positive'
      USING ERRCODE = '22023', DETAIL = pg_catalog.format('keep was %s.', keep);
  END IF;
  IF keep_at_least IS NOT NULL AND keep_at_least OPERATOR(pg_catalog.<=) interval '0' THEN
    RAISE EXCEPTION 'legal minimum must be positive'
      USING ERRCODE = '22023', DETAIL = pg_catalog.format('keep_at_least was %s.', keep_at_least);
  END IF;
  IF keep_at_least IS NOT NULL AND keep OPERATOR(pg_catalog.<) keep_at_least THEN
    RAISE EXCEPTION 'retention period is shorter than the legal minimum'
      USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('keep was %s, keep_at_least %s: rows could never be purged when they expire.',
                                       keep, keep_at_least),
            HINT = 'Keep rows at least as long as the law requires.';
  END IF;
  IF action NOT IN ('delete', 'anonymize') THEN
    RAISE EXCEPTION 'invalid retention action "%"', action
      USING ERRCODE = '22023', HINT = 'Use "delete" or "anonymize".';
  END IF;
  IF align IS NOT NULL AND align NOT IN ('day', 'week', 'month', 'quarter', 'year') THEN
    RAISE EXCEPTION 'invalid period "%"', align
      USING ERRCODE = '22023', HINT = 'Use one of: day, week, month, quarter, year (the financial year with year_start).';
  END IF;
  IF year_start IS NULL OR year_start NOT BETWEEN 1 AND 12 THEN
    RAISE EXCEPTION 'invalid first month of the financial year: %', year_start
      USING ERRCODE = '22023', HINT = 'year_start is a month, 1 to 12.';
  END IF;
  IF year_start OPERATOR(pg_catalog.<>) 1 AND align IS DISTINCT FROM 'year' AND align IS DISTINCT FROM 'quarter' THEN
    RAISE EXCEPTION 'year_start applies only to periods "year" and "quarter"' USING ERRCODE = '22023';
  END IF;
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_timezone_names z WHERE z.name OPERATOR(pg_catalog.=) zone)
     AND NOT EXISTS (SELECT FROM pg_catalog.pg_timezone_abbrevs z WHERE z.abbrev OPERATOR(pg_catalog.=) zone) THEN
    RAISE EXCEPTION 'time zone "%" not recognized', zone USING ERRCODE = '22023';
  END IF;
  IF generalize IS NULL OR generalize NOT IN ('minute', 'hour', 'day', 'week', 'month', 'quarter', 'year') THEN
    RAISE EXCEPTION 'invalid generalization unit "%"', generalize
      USING ERRCODE = '22023', HINT = 'Use one of: minute, hour, day, week, month, quarter, year.';
  END IF;
  -- Conflicts: a table that inherits from, or is inherited by, a table
  -- with a policy would be purged under two policies.
  WITH RECURSIVE up(r) AS (
      SELECT i.inhparent FROM pg_catalog.pg_inherits i WHERE i.inhrelid OPERATOR(pg_catalog.=) tbl
      UNION SELECT i.inhparent FROM pg_catalog.pg_inherits i JOIN up ON i.inhrelid OPERATOR(pg_catalog.=) up.r),
    down(r) AS (
      SELECT i.inhrelid FROM pg_catalog.pg_inherits i WHERE i.inhparent OPERATOR(pg_catalog.=) tbl
      UNION SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN down ON i.inhparent OPERATOR(pg_catalog.=) down.r)
  SELECT p.tbl INTO other FROM privacy.retention_policy p
   WHERE p.tbl::oid IN (SELECT r FROM up UNION SELECT r FROM down)
   LIMIT 1;
  IF other IS NOT NULL THEN
    RAISE EXCEPTION 'conflicting retention policy'
      USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('Table %s inherits from or is inherited by %s, which has a policy; its rows would be purged under both.',
                                       tbl, other),
            HINT = pg_catalog.format('Remove the policy of %s with privacy.drop_retention() first.', other);
  END IF;

  SELECT * INTO old FROM privacy.retention_policy p WHERE p.tbl OPERATOR(pg_catalog.=) set_retention.tbl FOR UPDATE;
  INSERT INTO privacy.retention_policy AS p
         (tbl, time_column, time_attnum, keep, action, keep_at_least, align, year_start, time_zone, generalize, set_by)
  VALUES (tbl, time_column, att.attnum, keep, action, keep_at_least, align, year_start, zone, generalize, privacy_internal._invoker())
  ON CONFLICT ON CONSTRAINT retention_policy_pkey DO UPDATE
     SET time_column = EXCLUDED.time_column, keep = EXCLUDED.keep, action = EXCLUDED.action,
         keep_at_least = EXCLUDED.keep_at_least, align = EXCLUDED.align, year_start = EXCLUDED.year_start,
         time_zone = EXCLUDED.time_zone, generalize = EXCLUDED.generalize,
         set_at = pg_catalog.now(), set_by = EXCLUDED.set_by;
  -- A purge under way continues under the new policy from the start.
  DELETE FROM privacy.retention_progress g WHERE g.tbl OPERATOR(pg_catalog.=) set_retention.tbl;
  -- Check that the purge can be carried out (anonymize: every personal
  -- column can be emptied); an error undoes the change.
  w := privacy_internal._retention_work(tbl);
  PERFORM privacy_internal._audit(
    CASE WHEN old.tbl IS NULL THEN 'retention.set' ELSE 'retention.change' END,
    tbl::text,
    pg_catalog.jsonb_build_object('time_column', time_column, 'keep', keep::text, 'action', action,
                                  'keep_at_least', keep_at_least::text, 'align', align,
                                  'year_start', year_start, 'time_zone', zone,
                                  'generalize', CASE WHEN action OPERATOR(pg_catalog.=) 'anonymize' THEN generalize END)
    OPERATOR(pg_catalog.||)
    CASE WHEN old.tbl IS NULL THEN '{}'::jsonb
         ELSE pg_catalog.jsonb_build_object('previous', privacy_internal._retention_text(old)) END);
END
$$;
COMMENT ON FUNCTION privacy.set_retention(regclass, name, interval, text, interval, text, integer, text, text) IS
  'set (or replace) the retention policy of a registered table: rows older than keep (counted from the end of the align period, a financial year starting in month year_start) are deleted or anonymized, never before keep_at_least';

CREATE FUNCTION privacy.drop_retention(tbl regclass) RETURNS void
  LANGUAGE plpgsql VOLATILE STRICT
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  old privacy.retention_policy;
BEGIN
  SELECT * INTO old FROM privacy.retention_policy p WHERE p.tbl OPERATOR(pg_catalog.=) drop_retention.tbl FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'table % has no retention policy', tbl USING ERRCODE = '55000';
  END IF;
  PERFORM privacy_internal._check_owner(tbl);
  DELETE FROM privacy.retention_policy p WHERE p.tbl OPERATOR(pg_catalog.=) drop_retention.tbl;
  PERFORM privacy_internal._audit('retention.drop', tbl::text,
                         pg_catalog.jsonb_build_object('previous', privacy_internal._retention_text(old)));
END
$$;
COMMENT ON FUNCTION privacy.drop_retention(regclass) IS 'remove the retention policy of a table';

CREATE VIEW privacy.retention_policies AS
SELECT p.tbl AS table_name, t.purpose, p.time_column, p.keep, p.align AS period,
       CASE WHEN p.align IN ('year', 'quarter') THEN p.year_start END AS year_start,
       p.action, p.keep_at_least, p.time_zone,
       CASE WHEN p.action OPERATOR(pg_catalog.=) 'anonymize' THEN p.generalize END AS generalize,
       privacy_internal._retention_cutoff(p, pg_catalog.now()) AS expired_before,
       privacy_internal._retention_text(p) AS description,
       p.set_at, p.set_by,
       g.tbl IS NOT NULL AS purge_under_way
  FROM privacy.retention_policy p
  JOIN privacy.registered_table t ON t.tbl OPERATOR(pg_catalog.=) p.tbl
  LEFT JOIN privacy.retention_progress g ON g.tbl OPERATOR(pg_catalog.=) p.tbl;
COMMENT ON VIEW privacy.retention_policies IS
  'retention policies: what is kept how long, what happens then, and the cutoff as of now';

------------------------------------------------------------------------
-- Legal holds
------------------------------------------------------------------------


CREATE FUNCTION privacy.hold(kind text, value text, reason text, until timestamptz DEFAULT NULL)
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  norm text;
  new_id bigint;
BEGIN
  IF kind IS NULL OR value IS NULL OR reason IS NULL THEN
    RAISE EXCEPTION 'kind, value and reason must not be null' USING ERRCODE = '22004';
  END IF;
  IF pg_catalog.btrim(reason) OPERATOR(pg_catalog.=) '' THEN
    RAISE EXCEPTION 'a legal hold needs a reason' USING ERRCODE = '22023';
  END IF;
  IF until IS NOT NULL AND until OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
    RAISE EXCEPTION 'a legal hold must end in the future'
      USING ERRCODE = '22023', DETAIL = pg_catalog.format('until was %s.', until);
  END IF;
  -- the normal form under today's pg_privacy.default_country: a hold
  -- placed on a national number means the number it meant when placed
  norm := privacy_internal._identifier_normalize(kind, value);
  -- Wait for a purge batch in progress: it did not see this hold.  The
  -- next batch does.
  PERFORM pg_catalog.pg_advisory_xact_lock(1885827186, privacy_internal._lock_key('hold'));
  INSERT INTO privacy.legal_hold (kind, value, reason, placed_by, until)
       VALUES (kind, norm, reason, privacy_internal._invoker(), until)
    RETURNING id INTO new_id;
  PERFORM privacy_internal._audit('retention.hold', NULL,
                         pg_catalog.jsonb_build_object('hold', new_id, 'kind', kind,
                                                       'subject', privacy_internal._subject_ref(kind, value),
                                                       'until', until));
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION privacy.hold(text, text, text, timestamptz) IS
  'place a legal hold on a data subject: rows holding the identifier are not purged until the hold ends or is released';

CREATE FUNCTION privacy.release_hold(hold_id bigint) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  h privacy.legal_hold;
BEGIN
  IF hold_id IS NULL THEN
    RAISE EXCEPTION 'hold id must not be null' USING ERRCODE = '22004';
  END IF;
  SELECT * INTO h FROM privacy.legal_hold l WHERE l.id OPERATOR(pg_catalog.=) hold_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'legal hold % does not exist', hold_id USING ERRCODE = '22023';
  END IF;
  IF h.released_at IS NOT NULL THEN
    RAISE EXCEPTION 'legal hold % was already released', hold_id
      USING ERRCODE = '55000', DETAIL = pg_catalog.format('It was released at %s.', h.released_at);
  END IF;
  UPDATE privacy.legal_hold l SET released_at = pg_catalog.now(), released_by = privacy_internal._invoker()
   WHERE l.id OPERATOR(pg_catalog.=) hold_id;
  PERFORM privacy_internal._audit('retention.release_hold', NULL,
                         pg_catalog.jsonb_build_object('hold', hold_id, 'kind', h.kind,
                                                       'subject', privacy_internal._subject_ref(h.kind, h.value)));
END
$$;
COMMENT ON FUNCTION privacy.release_hold(bigint) IS
  'end a legal hold: the subject''s expired rows are purged by the next run';

CREATE VIEW privacy.legal_holds AS
SELECT h.id, h.kind,
       CASE k.normalize WHEN 'msisdn' THEN privacy.mask_msisdn(h.value)
                        ELSE pg_catalog.left(h.value, 2) || '***' END AS masked_value,
       h.reason, h.placed_at, h.placed_by, h.until, h.released_at, h.released_by,
       (h.released_at IS NULL AND (h.until IS NULL OR h.until OPERATOR(pg_catalog.>) pg_catalog.now())) AS active
  FROM privacy.legal_hold h
  JOIN privacy.identifier_kind k ON k.name OPERATOR(pg_catalog.=) h.kind;
COMMENT ON VIEW privacy.legal_holds IS
  'legal holds with masked identifiers, and whether each is active';
-- The purge: retention policies carried out (src/retention.c runs each
-- statement as the table's owner), by hand with privacy.purge() or nightly
-- by pg_cron with CALL privacy.run_purge().
--
-- The purge works in batches (_purge_batch), each one of:
--   - dropping one whole expired partition (range partitions on the time
--     column whose upper bound is at or before the cutoff and which hold no
--     row under a legal hold; never merely detached);
--   - deleting or anonymizing the rows of one key range [lo, hi) of the
--     time column, hi chosen so that the range holds batch_size rows; the
--     next batch starts at hi (keyset), so every row is visited once and
--     rows under a hold are skipped without being visited again.
-- Each batch's statement runs as the table's owner in a security-restricted
-- operation, with a lock_timeout and retries.  Progress (phase, next key,
-- counts) is kept per table in privacy.retention_progress (50_retention.sql)
-- and committed
-- with each batch, so an interrupted run_purge is continued by the next
-- run, and nothing is counted twice.
-- When a table is done, its receipt goes to the audit log: action, rows,
-- partitions, the time window, and no personal data.
--
-- CALL privacy.run_purge() commits after every batch: it is a plain
-- procedure calling entry points per batch, because only such a procedure
-- may commit.  privacy.purge() does the same work in the caller's
-- transaction.
--
-- Failures stay with their table: each batch (run_purge) or each table's
-- whole work (purge()) runs in a subtransaction; a table that fails (its
-- owner's trigger raises, a lock is not granted, a policy no longer fits
-- the table) is left as its last committed batch left it, audited
-- (retention.purge_failed: the table, the SQLSTATE and the message with
-- values masked) and listed in the run's receipt, and the other tables
-- are purged.
--
-- Concurrency: one purge at a time (an advisory lock: run_purge skips when
-- another purge runs, purge() waits); a batch holds a shared lock that
-- privacy.hold() takes exclusively, so a hold is either seen by a batch or
-- placed after it.  Dropping a partition locks the partition, then the
-- default partition, then the parent, each without waiting in a lock
-- queue (_lock_nowait), so the application's writers never queue behind a
-- purge that is itself waiting.

-- Lock relations in ACCESS EXCLUSIVE mode, in the order given, without
-- waiting: 55P03 at the first one another session holds (src/retention.c).
CREATE FUNCTION privacy_internal._lock_nowait(rels regclass[])
  RETURNS void
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_lock_nowait';
COMMENT ON FUNCTION privacy_internal._lock_nowait(regclass[]) IS
  'internal: take ACCESS EXCLUSIVE locks on relations in order without waiting (55P03 when one is taken)';

-- A text value of the time column's type from an instant, in a form every
-- DateStyle reads back the same.
CREATE FUNCTION privacy_internal._retention_literal(ts timestamptz, typ regtype, zone text) RETURNS text
  LANGUAGE plpgsql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF typ OPERATOR(pg_catalog.=) 'timestamptz'::regtype THEN
    RETURN pg_catalog.to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') OPERATOR(pg_catalog.||) 'Z';
  ELSIF typ OPERATOR(pg_catalog.=) 'timestamp'::regtype THEN
    RETURN pg_catalog.to_char(ts AT TIME ZONE zone, 'YYYY-MM-DD"T"HH24:MI:SS.US');
  END IF;
  -- a date: the rows of a day are expired when the whole day is
  RETURN pg_catalog.to_char(ts AT TIME ZONE zone, 'YYYY-MM-DD');
END
$$;

-- A purge on Citus (distributed and reference tables): partitions are
-- dropped and rows deleted or anonymized through Citus's own planning,
-- holds included (their predicate has only IMMUTABLE functions of the row,
-- and its arguments are evaluated on the coordinator); an anonymizing
-- UPDATE generalizes times with IMMUTABLE functions only
-- (privacy_internal._retention_work), and is refused where it would change the
-- distribution column or would have to leave a restricted subject's rows
-- out (privacy_internal._retention_restricted).

-- What a purge of one table needs to know, built from the catalog: the
-- relation to query, the time column, the predicate that leaves rows
-- under a hold alone (with its parameters), and for anonymize the SET list
-- and the predicate of rows not yet anonymized.
CREATE TYPE privacy_internal._retention_work AS (
  policy       privacy.retention_policy,
  relkind      "char",
  rel          text,       -- relation as written in the statements
  tcol         text,       -- quoted time column
  ttype        regtype,
  held         text,       -- predicate: the row is under a hold ($3...)
  held_args    text[],
  held_cols    integer,    -- how many columns the hold predicate looks at
  set_list     text,       -- anonymize: SET ...
  todo         text        -- anonymize: the row is not anonymized yet
);

CREATE FUNCTION privacy_internal._retention_work(tbl regclass) RETURNS privacy_internal._retention_work
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  w privacy_internal._retention_work;
  p privacy.retention_policy;
  c record;
  sets text[] := '{}';
  todo text[] := '{}';
  written name[] := '{}';
  notnull_col name;         -- the first column anonymize cannot empty
  notnull_protected boolean;
  expr text;
  citus boolean;
  dcol text;
BEGIN
  -- Fail closed on a table whose protection was switched off: its rows may
  -- hold raw values that the hold predicate would not recognize.
  PERFORM privacy_internal._check_protection(tbl);
  SELECT * INTO p FROM privacy.retention_policy r WHERE r.tbl OPERATOR(pg_catalog.=) _retention_work.tbl;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'table % has no retention policy', tbl
      USING ERRCODE = '55000', HINT = 'Set one with privacy.set_retention().';
  END IF;
  citus := privacy_internal._citus_table(tbl);
  w.policy := p;
  SELECT k.relkind INTO w.relkind FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) tbl;
  w.rel := CASE WHEN w.relkind OPERATOR(pg_catalog.=) 'p' THEN tbl::text ELSE 'ONLY ' || tbl::text END;
  SELECT pg_catalog.quote_ident(a.attname), a.atttypid::regtype INTO w.tcol, w.ttype
    FROM pg_catalog.pg_attribute a
   WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attnum OPERATOR(pg_catalog.=) p.time_attnum
     AND NOT a.attisdropped;
  IF w.tcol IS NULL THEN
    RAISE EXCEPTION 'the time column of the retention policy of % no longer exists', tbl
      USING ERRCODE = '55000', HINT = 'Set the policy again with privacy.set_retention().';
  END IF;
  IF w.ttype NOT IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype) THEN
    RAISE EXCEPTION 'time column % of relation % has type %', w.tcol, tbl, w.ttype
      USING ERRCODE = '42804', HINT = 'The time column must be timestamptz, timestamp or date.';
  END IF;

  -- Holds (privacy_internal._hold_predicate): the predicate's arguments are $3...
  SELECT hp.held, hp.held_args, hp.held_cols INTO w.held, w.held_args, w.held_cols
    FROM privacy_internal._hold_predicate(tbl, NULL, NULL) hp;

  IF p.action OPERATOR(pg_catalog.=) 'anonymize' THEN
    -- the time column and other registered traffic times: generalized
    FOR c IN
      SELECT a.attname, a.atttypid::regtype AS typ
        FROM pg_catalog.pg_attribute a
       WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND NOT a.attisdropped
         AND a.atttypid IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype)
         AND (a.attnum OPERATOR(pg_catalog.=) p.time_attnum
              OR EXISTS (SELECT FROM privacy.registered_column rc
                          WHERE rc.tbl OPERATOR(pg_catalog.=) _retention_work.tbl
                            AND rc.col OPERATOR(pg_catalog.=) a.attname
                            AND rc.category OPERATOR(pg_catalog.=) 'traffic'))
       ORDER BY a.attnum
    LOOP
      -- On a Citus table, the time zone's truncation written with
      -- IMMUTABLE functions only, which Citus runs on the shards (the
      -- same result, but in the hour repeated when summer time ends,
      -- which an 'hour' or 'minute' generalization names by its second
      -- occurrence).
      expr := CASE
        WHEN c.typ OPERATOR(pg_catalog.=) 'timestamptz'::regtype AND citus THEN
          pg_catalog.format('pg_catalog.timezone(%L, pg_catalog.date_trunc(%L, pg_catalog.timezone(%L, %I)))',
                            p.time_zone, p.generalize, p.time_zone, c.attname)
        WHEN c.typ OPERATOR(pg_catalog.=) 'timestamptz'::regtype THEN
          pg_catalog.format('pg_catalog.date_trunc(%L, %I, %L)', p.generalize, c.attname, p.time_zone)
        WHEN c.typ OPERATOR(pg_catalog.=) 'timestamp'::regtype THEN
          pg_catalog.format('pg_catalog.date_trunc(%L, %I)', p.generalize, c.attname)
        ELSE pg_catalog.format('pg_catalog.date_trunc(%L, %I::pg_catalog.timestamp)::pg_catalog.date', p.generalize, c.attname) END;
      sets := sets || pg_catalog.format('%I = %s', c.attname, expr);
      written := written || c.attname;
      todo := todo || pg_catalog.format('%I OPERATOR(pg_catalog.<>) %s', c.attname, expr);
    END LOOP;
    -- every other registered column, unless it is a traffic or location fact
    FOR c IN
      SELECT rc.col, a.attnotnull, a.atttypid, rc.protect
        FROM privacy.registered_column rc
        JOIN pg_catalog.pg_attribute a
          ON a.attrelid OPERATOR(pg_catalog.=) rc.tbl AND a.attname OPERATOR(pg_catalog.=) rc.col
         AND NOT a.attisdropped
       WHERE rc.tbl OPERATOR(pg_catalog.=) _retention_work.tbl
         AND a.attnum OPERATOR(pg_catalog.<>) p.time_attnum
         AND (rc.identifies IS NOT NULL OR rc.category NOT IN ('traffic', 'location'))
       ORDER BY a.attnum
    LOOP
      written := written || c.col;
      IF NOT c.attnotnull THEN
        sets := sets || pg_catalog.format('%I = NULL', c.col);
        todo := todo || pg_catalog.format('%I IS NOT NULL', c.col);
      ELSIF c.protect IS NULL
            AND c.atttypid IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype) THEN
        sets := sets || pg_catalog.format('%I = %L', c.col, '');
        todo := todo || pg_catalog.format('%I OPERATOR(pg_catalog.<>) %L', c.col, '');
      ELSIF notnull_col IS NULL THEN
        notnull_col := c.col;   -- refused below
        notnull_protected := c.protect IS NOT NULL;
      END IF;
    END LOOP;
    -- Citus routes each row by its distribution column and changes it in
    -- no UPDATE
    dcol := CASE WHEN citus THEN privacy_internal._citus_dist_column(tbl) END;
    IF dcol OPERATOR(pg_catalog.=) ANY (written) THEN
      RAISE EXCEPTION 'retention action "anonymize" would change column "%" of %, its distribution column', dcol, tbl
        USING ERRCODE = '0A000',
              DETAIL = 'Citus places each row by its distribution column, and an UPDATE cannot change it; anonymizing empties personal columns and generalizes times.',
              HINT = 'Use action ''delete'', or distribute the table by a column that holds no personal data and no time.';
    END IF;
    IF notnull_col IS NOT NULL THEN
      RAISE EXCEPTION 'column "%" of relation % is NOT NULL and cannot be anonymized', notnull_col, tbl
        USING ERRCODE = '55000',
              DETAIL = CASE WHEN notnull_protected
                            THEN 'Its protect transformation applies to any value but NULL, so only NULL hides it.'
                            ELSE 'Only NULL (or an empty text) carries no personal data.' END,
              HINT = pg_catalog.format('Allow NULL in it (ALTER TABLE %s ALTER COLUMN %I DROP NOT NULL) or use action ''delete''.',
                                       tbl, notnull_col);
    END IF;
    w.set_list := pg_catalog.array_to_string(sets, ', ');
    w.todo := '(' || pg_catalog.array_to_string(todo, ' OR ') || ')';
  END IF;
  RETURN w;
END
$$;
COMMENT ON FUNCTION privacy_internal._retention_work(regclass) IS
  'internal: the relation, time column, hold predicate and anonymization of one table''s purge';

-- The WHERE clause of a batch: [lo <= t] and t < hi ($1), not held,
-- not anonymized yet.  $2 is lo.
CREATE FUNCTION privacy_internal._retention_where(w privacy_internal._retention_work, with_lo boolean) RETURNS text
  LANGUAGE plpgsql IMMUTABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN pg_catalog.concat_ws(' AND ',
    CASE WHEN with_lo THEN pg_catalog.format('%s OPERATOR(pg_catalog.>=) $2::%s', w.tcol, w.ttype) END,
    pg_catalog.format('%s OPERATOR(pg_catalog.<) $1::%s', w.tcol, w.ttype),
    CASE WHEN w.held IS NOT NULL THEN 'NOT ' OPERATOR(pg_catalog.||) w.held END,
    w.todo);
END
$$;

-- Rows of restricted data subjects (GDPR Art. 18, privacy.restrict_subject)
-- are left as they are by an anonymizing purge: restriction allows storing
-- them, not changing them (privacy_internal._restrict_trigger refuses the UPDATE).
-- Returns the predicate that leaves them out of the rows `wh` selects (with
-- the parameters args), and its parameters to append; NULL when no active
-- restriction concerns the table.  The owner identifiers of those rows are
-- read as the table's owner; which of them are restricted is decided here,
-- by the restriction trigger's own match (keyed reference, and the period
-- for which the identifier was the subject's).
-- The number a value stored by msisdn_fpe stands for, to be matched
-- against restrictions: '' when it cannot be read back (not a pseudonym of
-- that domain).
CREATE FUNCTION privacy_internal._retention_fpe_norm(val text, domain text) RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN COALESCE(privacy_internal._msisdn_decrypt(val, domain), '');
EXCEPTION WHEN data_exception THEN
  RETURN '';
END
$$;
COMMENT ON FUNCTION privacy_internal._retention_fpe_norm(text, text) IS
  'internal: the number an msisdn_fpe stored value holds, empty when it cannot be read back';

-- The same under an older key still listed (a relation pending under it:
-- src/sql/36_rekey.sql); 55000 when it is not listed.
CREATE FUNCTION privacy_internal._retention_fpe_norm_under(fingerprint text, val text, domain text) RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN COALESCE(privacy_internal._msisdn_under(fingerprint, val, domain, true), '');
EXCEPTION WHEN data_exception THEN
  RETURN '';
END
$$;
COMMENT ON FUNCTION privacy_internal._retention_fpe_norm_under(text, text, text) IS
  'internal: the number an msisdn_fpe stored value holds under an older key, empty when it cannot be read back';

CREATE FUNCTION privacy_internal._retention_restricted(w privacy_internal._retention_work, wh text, args text[],
                                             lock_timeout_ms integer,
                                             OUT pred text, OUT pargs text[])
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  dc text := privacy_internal._default_country();
  c record;
  raw text;
  vals text[];
  rvals text[];
  rspans tstzmultirange[];
  keys text[];
  pend text[];
  rel text := (w.policy).tbl::text;     -- qualifies the outer row below
  conds text[] := '{}';
  n integer := pg_catalog.cardinality(args);
BEGIN
  pargs := '{}';
  IF (w.policy).action OPERATOR(pg_catalog.<>) 'anonymize'
     OR NOT EXISTS (SELECT FROM privacy.restriction r
                     WHERE r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()) THEN
    RETURN;
  END IF;
  -- the keys the restrictions in force were made with, read once
  keys := privacy_internal._restriction_keys();
  pend := privacy_internal._rekey_keys((w.policy).tbl);
  FOR c IN SELECT * FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc
            WHERE sc.tbl OPERATOR(pg_catalog.=) (w.policy).tbl AND sc.link OPERATOR(pg_catalog.=) 'owner'
              AND (sc.protect IS NULL OR sc.protect OPERATOR(pg_catalog.=) 'msisdn_fpe')
            ORDER BY sc.attnum LOOP
    CONTINUE WHEN NOT EXISTS (SELECT FROM privacy.restriction r
                               WHERE r.kind OPERATOR(pg_catalog.=) c.kind
                                 AND (r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()));
    raw := privacy_internal._owner_query((w.policy).tbl,
             pg_catalog.format('SELECT pg_catalog.array_agg(DISTINCT %I::pg_catalog.text) FROM %s WHERE %s AND %I IS NOT NULL',
                               c.col, w.rel, wh, c.col),
             args, lock_timeout_ms);
    CONTINUE WHEN raw IS NULL;
    vals := raw::text[];
    -- (a stored value that cannot be read back, which the trigger would
    -- refuse as well, is left alone as if restricted)
    -- A stored number read back under the current key and, while
    -- relations of the table are pending under an older key
    -- (src/sql/36_rekey.sql), under that key too: a restricted subject's
    -- row is left out whichever key it is under.
    WITH v AS (
      SELECT u.val,
             CASE WHEN c.protect IS NOT NULL THEN privacy_internal._retention_fpe_norm(u.val, c.domain)
                  ELSE privacy.lookup_value(c.mode, u.val, dc) END AS norm
        FROM pg_catalog.unnest(vals) u(val)
      UNION
      SELECT u.val, privacy_internal._retention_fpe_norm_under(k, u.val, c.domain)
        FROM pg_catalog.unnest(vals) u(val), pg_catalog.unnest(pend) k
       WHERE c.protect IS NOT NULL)
    SELECT pg_catalog.array_agg(x.val ORDER BY x.val), pg_catalog.array_agg(x.span ORDER BY x.val)
      INTO rvals, rspans
      FROM (SELECT v.val, r.span
              FROM v CROSS JOIN pg_catalog.unnest(keys) k(fp)
              JOIN privacy.restriction r
                ON r.kind OPERATOR(pg_catalog.=) c.kind
               AND r.subject_ref OPERATOR(pg_catalog.=) privacy_internal._audit_ref_under(k.fp, c.kind, v.norm)
             WHERE r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()
            UNION ALL
            SELECT v.val, '{(,)}'::pg_catalog.tstzmultirange FROM v WHERE v.norm OPERATOR(pg_catalog.=) '') x;
    CONTINUE WHEN rvals IS NULL;
    pargs := pargs || rvals::text || rspans::text;
    conds := conds || pg_catalog.format(
      'NOT EXISTS (SELECT FROM ROWS FROM (pg_catalog.unnest($%s::pg_catalog.text[]), pg_catalog.unnest($%s::pg_catalog.tstzmultirange[])) AS pgp_r(pgp_v, pgp_s) '
      'WHERE %s.%I::pg_catalog.text OPERATOR(pg_catalog.=) pgp_r.pgp_v%s)',
      n OPERATOR(pg_catalog.+) pg_catalog.cardinality(pargs) OPERATOR(pg_catalog.-) 1,
      n OPERATOR(pg_catalog.+) pg_catalog.cardinality(pargs),
      rel, c.col,
      CASE WHEN c.is_validity THEN
             pg_catalog.format(' AND pgp_r.pgp_s OPERATOR(pg_catalog.&&) pg_catalog.tstzrange(%s, %s, ''[)'')',
                               COALESCE(rel || '.' || pg_catalog.quote_ident(c.valid_from) || '::pg_catalog.timestamptz', 'NULL'),
                               COALESCE(rel || '.' || pg_catalog.quote_ident(c.valid_to) || '::pg_catalog.timestamptz', 'NULL'))
           WHEN c.event_time IS NOT NULL THEN
             pg_catalog.format(' AND (pgp_r.pgp_s OPERATOR(pg_catalog.=) ''{(,)}'' OR pgp_r.pgp_s OPERATOR(pg_catalog.@>) %s.%I::pg_catalog.timestamptz)',
                               rel, c.event_time)
           ELSE '' END);
  END LOOP;
  IF pg_catalog.cardinality(conds) OPERATOR(pg_catalog.>) 0 AND privacy_internal._citus_table((w.policy).tbl) THEN
    RAISE EXCEPTION 'the expired rows of % cannot be anonymized while a data subject of its rows is restricted', (w.policy).tbl
      USING ERRCODE = '0A000',
            DETAIL = 'Citus manages the table: the anonymizing UPDATE cannot leave the restricted subjects'' rows out on its shards.',
            HINT = 'The purge anonymizes the table once the restrictions end (privacy.unrestrict_subject), or use action ''delete''.';
  END IF;
  IF pg_catalog.cardinality(conds) OPERATOR(pg_catalog.>) 0 THEN
    pred := pg_catalog.array_to_string(conds, ' AND ');
  END IF;
END
$$;
COMMENT ON FUNCTION privacy_internal._retention_restricted(privacy_internal._retention_work, text, text[], integer) IS
  'internal: the predicate that leaves rows of restricted data subjects out of an anonymizing purge batch';

-- Whole partitions that a purge of tbl drops: leaves range-partitioned on
-- the time column alone, whose upper bound is at or before the cutoff (so
-- every row they can hold is expired).  Rows under a hold are checked by
-- the caller.
CREATE FUNCTION privacy_internal._retention_expired_partitions(w privacy_internal._retention_work, cutoff timestamptz)
  RETURNS TABLE(leaf regclass, upper_bound timestamptz)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET datestyle = 'ISO, YMD'
AS $$
DECLARE
  r record;
  bound text;
  ub timestamptz;
BEGIN
  IF w.relkind OPERATOR(pg_catalog.<>) 'p' THEN
    RETURN;
  END IF;
  FOR r IN
    SELECT t.relid AS leaf, t.parentrelid AS parent,
           pg_catalog.pg_get_expr(c.relpartbound, c.oid) AS spec
      FROM pg_catalog.pg_partition_tree((w.policy).tbl) t
      JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.relid
      JOIN pg_catalog.pg_partitioned_table pt ON pt.partrelid OPERATOR(pg_catalog.=) t.parentrelid
      JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) t.parentrelid
                                    AND a.attnum OPERATOR(pg_catalog.=) pt.partattrs[0]
     WHERE t.isleaf AND c.relkind OPERATOR(pg_catalog.=) 'r'
       AND pt.partstrat OPERATOR(pg_catalog.=) 'r' AND pt.partnatts OPERATOR(pg_catalog.=) 1
       AND a.attname OPERATOR(pg_catalog.=) (w.policy).time_column
  LOOP
    bound := pg_catalog.substring(r.spec, '\) TO \((.*)\)$');
    CONTINUE WHEN bound IS NULL OR bound !~ '^''.*''$';     -- MAXVALUE
    bound := pg_catalog.replace(pg_catalog.substr(bound, 2, pg_catalog.length(bound) OPERATOR(pg_catalog.-) 2), '''''', '''');
    ub := CASE w.ttype
            WHEN 'timestamptz'::regtype THEN bound::timestamptz
            WHEN 'timestamp'::regtype THEN bound::timestamp AT TIME ZONE (w.policy).time_zone
            ELSE bound::date::timestamp AT TIME ZONE (w.policy).time_zone END;
    -- for a date column a row's whole day must be expired: compare dates
    IF (w.ttype OPERATOR(pg_catalog.=) 'date'::regtype
        AND bound::date OPERATOR(pg_catalog.<=) privacy_internal._retention_literal(cutoff, w.ttype, (w.policy).time_zone)::date)
       OR (w.ttype OPERATOR(pg_catalog.<>) 'date'::regtype AND ub OPERATOR(pg_catalog.<=) cutoff) THEN
      leaf := r.leaf;
      upper_bound := ub;
      RETURN NEXT;
    END IF;
  END LOOP;
END
$$;

-- Raise 42501 unless the invoking role may run purges.
CREATE FUNCTION privacy_internal._check_purge_privilege() RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT (pg_catalog.has_function_privilege(privacy_internal._invoker(), 'privacy.purge(boolean, regclass, integer, integer)', 'EXECUTE')
          OR pg_catalog.has_function_privilege(privacy_internal._invoker(), 'privacy.run_purge(integer, integer, integer)', 'EXECUTE')) THEN
    RAISE EXCEPTION 'permission denied to purge'
      USING ERRCODE = '42501',
            HINT = 'Grant EXECUTE on privacy.purge() or privacy.run_purge() to this role.';
  END IF;
END
$$;

------------------------------------------------------------------------
-- The purge
------------------------------------------------------------------------

-- One batch of the purge of one table.  Returns done when the table is
-- finished (its receipt is then in the audit log), with the totals of its
-- pass so far.
CREATE FUNCTION privacy_internal._purge_batch(tbl regclass, run_id bigint, batch_size integer,
                                     lock_timeout_ms integer, retries integer,
                                     OUT done boolean, OUT action text,
                                     OUT rows bigint, OUT partitions integer)
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET jit = off
  SET pg_privacy.definer = 'api'
  SET datestyle = 'ISO, YMD'
AS $$
DECLARE
  w privacy_internal._retention_work;
  g privacy.retention_progress;
  cutoff timestamptz;
  cut text;
  hi text;
  n bigint := 0;
  leaf regclass;
  leafname text;
  dropped_one boolean;
  pend oid[];
  i integer;
  est bigint;
  attempt integer;
  wh text;
  q text;
  args text[];
  parent regclass;
  r record;
BEGIN
  PERFORM privacy_internal._check_purge_privilege();
  -- A hold placed from now on waits for this batch; one placed before is seen.
  PERFORM pg_catalog.pg_advisory_xact_lock_shared(1885827186, privacy_internal._lock_key('hold'));
  IF NOT EXISTS (SELECT FROM privacy.retention_policy p WHERE p.tbl OPERATOR(pg_catalog.=) _purge_batch.tbl) THEN
    -- the policy (or the table) went away since the run started
    done := true;
    RETURN;
  END IF;
  w := privacy_internal._retention_work(tbl);
  action := (w.policy).action;

  SELECT * INTO g FROM privacy.retention_progress p WHERE p.tbl OPERATOR(pg_catalog.=) _purge_batch.tbl FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO privacy.retention_progress AS p (tbl, run_id, first_run_id, started_at, cutoff, phase)
         VALUES (tbl, run_id, run_id, pg_catalog.now(), privacy_internal._retention_cutoff(w.policy, pg_catalog.now()),
                 CASE WHEN w.relkind OPERATOR(pg_catalog.=) 'p' AND (w.policy).action OPERATOR(pg_catalog.=) 'delete'
                      THEN 'partitions' ELSE 'rows' END)
      RETURNING * INTO g;
  ELSIF g.run_id OPERATOR(pg_catalog.<>) run_id THEN
    -- continuing an interrupted run: the cutoff as of now
    UPDATE privacy.retention_progress p
       SET run_id = _purge_batch.run_id, runs = p.runs OPERATOR(pg_catalog.+) 1,
           cutoff = privacy_internal._retention_cutoff(w.policy, pg_catalog.now())
     WHERE p.tbl OPERATOR(pg_catalog.=) _purge_batch.tbl
      RETURNING * INTO g;
  END IF;
  cutoff := g.cutoff;

  -- In one transaction (purge()), a partition dropped before holds the
  -- parent's ACCESS EXCLUSIVE lock until the end: every writer of the
  -- table waits for as long as this transaction does.  Then no lock is
  -- waited for any more: the first one not granted fails the table, and
  -- its work is undone (releasing the parent) instead.
  IF EXISTS (SELECT FROM pg_catalog.pg_locks l
              WHERE l.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()
                AND l.locktype OPERATOR(pg_catalog.=) 'relation'
                AND l.mode OPERATOR(pg_catalog.=) 'AccessExclusiveLock' AND l.granted
                AND l.database OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d
                                                        WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
                AND l.relation IN (SELECT t.relid FROM pg_catalog.pg_partition_tree(tbl) t WHERE NOT t.isleaf)) THEN
    lock_timeout_ms := 1;
    retries := 0;
  END IF;

  IF g.phase OPERATOR(pg_catalog.=) 'partitions' THEN
    -- the expired partitions, listed once per pass, oldest first; each
    -- batch drops the next one that holds no row under a hold
    pend := g.pending;
    IF pend IS NULL THEN
      pend := ARRAY(SELECT e.leaf::oid FROM privacy_internal._retention_expired_partitions(w, cutoff) e
                     ORDER BY e.upper_bound, e.leaf::text);
    END IF;
    i := 1;
    WHILE i OPERATOR(pg_catalog.<=) pg_catalog.cardinality(pend) LOOP
      SELECT c.oid::regclass, GREATEST(c.reltuples, 0)::bigint INTO leaf, est
        FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) pend[i];
      i := i OPERATOR(pg_catalog.+) 1;
      CONTINUE WHEN leaf IS NULL;   -- dropped meanwhile
      leafname := leaf::text;       -- the name, before the oid is gone
      dropped_one := false;
      attempt := 0;
      LOOP
        -- Dropping a partition takes ACCESS EXCLUSIVE on it, on its parent
        -- and on the parent's default partition.  Every INSERT into the
        -- table queues behind a lock request on the parent, so the parent
        -- is locked last, only once the partition (and the default) are
        -- held, and never waited for: each lock is tried without waiting,
        -- and a failed try gives back all of them (the subtransaction
        -- ends), sleeps, and tries again.
        BEGIN
          PERFORM privacy_internal._lock_nowait(ARRAY[leaf]);
          IF w.held IS NULL
             OR privacy_internal._owner_query(leaf, pg_catalog.format('SELECT EXISTS (SELECT 1 FROM ONLY %s WHERE %s LIMIT 1)', leafname, w.held),
                                     ARRAY[NULL, NULL]::text[] || w.held_args, lock_timeout_ms)::boolean IS FALSE THEN
            SELECT i.inhparent::regclass INTO parent FROM pg_catalog.pg_inherits i
             WHERE i.inhrelid OPERATOR(pg_catalog.=) leaf;
            PERFORM privacy_internal._lock_nowait(ARRAY(
              SELECT d.partdefid::regclass FROM pg_catalog.pg_partitioned_table d
               WHERE d.partrelid OPERATOR(pg_catalog.=) parent
                 AND d.partdefid OPERATOR(pg_catalog.<>) 0 AND d.partdefid OPERATOR(pg_catalog.<>) leaf
              UNION ALL SELECT parent WHERE parent IS NOT NULL));
            PERFORM privacy_internal._owner_exec(leaf, pg_catalog.format('DROP TABLE %s', leafname), '{}', lock_timeout_ms);
            dropped_one := true;
          END IF;
          EXIT;
        EXCEPTION WHEN lock_not_available THEN
          attempt := attempt OPERATOR(pg_catalog.+) 1;
          IF attempt OPERATOR(pg_catalog.>) retries THEN
            RAISE EXCEPTION 'could not lock partition % to drop it', leafname
              USING ERRCODE = '55P03',
                    DETAIL = pg_catalog.format('Gave up after %s attempts with lock_timeout %s ms.', attempt, lock_timeout_ms),
                    HINT = 'The next run tries again; the purge continues where it stopped.';
          END IF;
          PERFORM pg_catalog.pg_sleep(lock_timeout_ms OPERATOR(pg_catalog./) 1000.0);
        END;
      END LOOP;
      IF dropped_one THEN
        UPDATE privacy.retention_progress p
           SET partitions = p.partitions OPERATOR(pg_catalog.+) 1,
               dropped = p.dropped OPERATOR(pg_catalog.||) leafname,
               dropped_rows_estimate = p.dropped_rows_estimate OPERATOR(pg_catalog.+) est,
               pending = pend[i:],
               batches = p.batches OPERATOR(pg_catalog.+) 1
         WHERE p.tbl OPERATOR(pg_catalog.=) _purge_batch.tbl
          RETURNING * INTO g;
        done := false;
        rows := g.rows;
        partitions := g.partitions;
        RETURN;
      END IF;
      -- it holds a row under a hold: its other rows go by rows below
    END LOOP;
    UPDATE privacy.retention_progress p SET phase = 'rows', pending = '{}'
     WHERE p.tbl OPERATOR(pg_catalog.=) _purge_batch.tbl
      RETURNING * INTO g;
  END IF;

  -- Rows: the key range [next_from, hi) holding batch_size rows to purge.
  cut := privacy_internal._retention_literal(cutoff, w.ttype, (w.policy).time_zone);
  args := ARRAY[cut, g.next_from] OPERATOR(pg_catalog.||) w.held_args;
  wh := privacy_internal._retention_where(w, g.next_from IS NOT NULL);
  IF (w.policy).action OPERATOR(pg_catalog.=) 'delete' THEN
    q := pg_catalog.format('DELETE FROM %s WHERE %s', w.rel, wh);
  ELSE
    q := pg_catalog.format('UPDATE %s SET %s WHERE %s', w.rel, w.set_list, wh);
  END IF;
  attempt := 0;
  LOOP
    BEGIN
      args[1] := cut;
      hi := privacy_internal._owner_query(tbl,
              pg_catalog.format('SELECT %s FROM %s WHERE %s ORDER BY %s OFFSET %s LIMIT 1',
                                w.tcol, w.rel, wh, w.tcol, batch_size), args, lock_timeout_ms);
      IF hi IS NOT NULL AND hi OPERATOR(pg_catalog.=) g.next_from THEN
        -- batch_size rows or more share one time: take them all
        hi := privacy_internal._owner_query(tbl,
                pg_catalog.format('SELECT pg_catalog.min(%s) FROM %s WHERE %s AND %s OPERATOR(pg_catalog.>) $2::%s',
                                  w.tcol, w.rel, wh, w.tcol, w.ttype), args, lock_timeout_ms);
      END IF;
      args[1] := COALESCE(hi, cut);
      -- anonymize: the rows of restricted subjects stay as they are
      r := privacy_internal._retention_restricted(w, wh, args, lock_timeout_ms);
      IF r.pred IS NULL THEN
        n := privacy_internal._owner_exec(tbl, q, args, lock_timeout_ms);
      ELSE
        n := privacy_internal._owner_exec(tbl, q || ' AND ' || r.pred, args || r.pargs, lock_timeout_ms);
      END IF;
      EXIT;
    EXCEPTION WHEN lock_not_available THEN
      attempt := attempt OPERATOR(pg_catalog.+) 1;
      IF attempt OPERATOR(pg_catalog.>) retries THEN
        RAISE EXCEPTION 'could not lock rows of % to purge them', tbl
          USING ERRCODE = '55P03',
                DETAIL = pg_catalog.format('Gave up after %s attempts with lock_timeout %s ms.', attempt, lock_timeout_ms),
                HINT = 'The next run tries again; the purge continues where it stopped.';
      END IF;
      PERFORM pg_catalog.pg_sleep(0.05 OPERATOR(pg_catalog.*) attempt);
    END;
  END LOOP;
  UPDATE privacy.retention_progress p
     SET rows = p.rows OPERATOR(pg_catalog.+) n, next_from = hi,
         batches = p.batches OPERATOR(pg_catalog.+) 1
   WHERE p.tbl OPERATOR(pg_catalog.=) _purge_batch.tbl
    RETURNING * INTO g;
  rows := g.rows;
  partitions := g.partitions;
  done := hi IS NULL;
  IF done THEN
    -- the receipt: no personal data, only what was done to which table
    PERFORM privacy_internal._audit('retention.purge', tbl::text,
      pg_catalog.jsonb_build_object(
        'run', g.first_run_id, 'action', (w.policy).action,
        'rows', g.rows, 'partitions', g.partitions,
        'dropped', pg_catalog.to_jsonb(g.dropped),
        'dropped_rows_estimate', g.dropped_rows_estimate,
        'expired_before', g.cutoff,
        'policy', privacy_internal._retention_text(w.policy),
        'held_columns', w.held_cols,
        'started_at', g.started_at, 'finished_at', pg_catalog.clock_timestamp(),
        'batches', g.batches, 'runs', g.runs));
    DELETE FROM privacy.retention_progress p WHERE p.tbl OPERATOR(pg_catalog.=) _purge_batch.tbl;
  END IF;
END
$$;
COMMENT ON FUNCTION privacy_internal._purge_batch(regclass, bigint, integer, integer, integer) IS
  'internal: one batch of a table''s purge (drop one expired partition, or purge one key range of rows), as the table owner';

-- What a purge of one table would do now: the expired partitions it
-- would drop and the rows it would delete or anonymize, counted with the
-- same predicates (a dry run).
CREATE FUNCTION privacy_internal._purge_preview(tbl regclass,
                                       OUT action text, OUT rows bigint, OUT partitions integer)
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET jit = off
  SET pg_privacy.definer = 'api'
  SET datestyle = 'ISO, YMD'
AS $$
DECLARE
  w privacy_internal._retention_work;
  g privacy.retention_progress;
  cutoff timestamptz;
  leaf regclass;
  dropped oid[] := '{}';
  args text[];
  wh text;
  r record;
BEGIN
  PERFORM privacy_internal._check_purge_privilege();
  w := privacy_internal._retention_work(tbl);
  action := (w.policy).action;
  partitions := 0;
  SELECT * INTO g FROM privacy.retention_progress p WHERE p.tbl OPERATOR(pg_catalog.=) _purge_preview.tbl;
  cutoff := privacy_internal._retention_cutoff(w.policy, pg_catalog.now());
  IF w.relkind OPERATOR(pg_catalog.=) 'p' AND (w.policy).action OPERATOR(pg_catalog.=) 'delete'
     AND (g.tbl IS NULL OR g.phase OPERATOR(pg_catalog.=) 'partitions') THEN
    FOR leaf IN
      SELECT c.oid::regclass FROM pg_catalog.pg_class c
       WHERE g.pending IS NOT NULL AND c.oid OPERATOR(pg_catalog.=) ANY (g.pending)
      UNION ALL
      SELECT e.leaf FROM privacy_internal._retention_expired_partitions(w, cutoff) e WHERE g.pending IS NULL
    LOOP
      IF w.held IS NULL
         OR privacy_internal._owner_query(leaf, pg_catalog.format('SELECT EXISTS (SELECT 1 FROM ONLY %s WHERE %s LIMIT 1)', leaf, w.held),
                                 ARRAY[NULL, NULL]::text[] || w.held_args)::boolean IS FALSE THEN
        partitions := partitions OPERATOR(pg_catalog.+) 1;
        dropped := dropped OPERATOR(pg_catalog.||) leaf::oid;
      END IF;
    END LOOP;
  END IF;
  args := ARRAY[privacy_internal._retention_literal(cutoff, w.ttype, (w.policy).time_zone), g.next_from]
          OPERATOR(pg_catalog.||) w.held_args;
  wh := privacy_internal._retention_where(w, g.next_from IS NOT NULL);
  IF privacy_internal._citus_table(tbl) THEN
    -- On Citus a row's tableoid is its shard's: the rows of the partitions
    -- dropped are counted apart and taken off (only a purge that deletes
    -- drops partitions, and those hold no row under a hold)
    rows := privacy_internal._owner_query(tbl, pg_catalog.format('SELECT pg_catalog.count(*) FROM %s WHERE %s', w.rel, wh), args)::bigint;
    FOREACH leaf IN ARRAY dropped::regclass[] LOOP
      rows := rows OPERATOR(pg_catalog.-)
              privacy_internal._owner_query(leaf, pg_catalog.format('SELECT pg_catalog.count(*) FROM ONLY %s WHERE %s', leaf, wh), args)::bigint;
    END LOOP;
    -- (an anonymizing purge refuses there while a subject of its rows is
    -- restricted: so does its dry run)
    PERFORM privacy_internal._retention_restricted(w, wh, args, 0);
    RETURN;
  END IF;
  args := args OPERATOR(pg_catalog.||) dropped::text;
  wh := wh || pg_catalog.format(' AND tableoid OPERATOR(pg_catalog.<>) ALL ($%s::pg_catalog.oid[])', pg_catalog.cardinality(args));
  r := privacy_internal._retention_restricted(w, wh, args, 0);
  IF r.pred IS NOT NULL THEN
    wh := wh || ' AND ' || r.pred;
    args := args || r.pargs;
  END IF;
  rows := privacy_internal._owner_query(tbl, pg_catalog.format('SELECT pg_catalog.count(*) FROM %s WHERE %s', w.rel, wh), args)::bigint;
END
$$;
COMMENT ON FUNCTION privacy_internal._purge_preview(regclass) IS
  'internal: what a purge of the table would do now (dry run)';

CREATE FUNCTION privacy.purge(dry_run boolean DEFAULT false, tbl regclass DEFAULT NULL,
                              lock_timeout_ms integer DEFAULT 1000, retries integer DEFAULT 5)
  RETURNS TABLE(table_name regclass, action text, rows bigint, partitions integer)
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET jit = off
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  tables regclass[];
  t regclass;
  b record;
  run bigint;
  total_rows bigint := 0;
  total_parts integer := 0;
  failed jsonb := '[]';
  f jsonb;
  st text;
  msg text;
BEGIN
  IF dry_run IS NULL THEN
    RAISE EXCEPTION 'dry_run must not be null' USING ERRCODE = '22004';
  END IF;
  IF lock_timeout_ms IS NULL OR lock_timeout_ms OPERATOR(pg_catalog.<) 1
     OR retries IS NULL OR retries OPERATOR(pg_catalog.<) 0 THEN
    RAISE EXCEPTION 'invalid lock_timeout_ms % or retries %', lock_timeout_ms, retries
      USING ERRCODE = '22023', HINT = 'lock_timeout_ms must be at least 1, retries at least 0.';
  END IF;
  PERFORM privacy_internal._check_purge_privilege();
  IF tbl IS NOT NULL
     AND NOT EXISTS (SELECT FROM privacy.retention_policy p WHERE p.tbl OPERATOR(pg_catalog.=) purge.tbl) THEN
    RAISE EXCEPTION 'table % has no retention policy', tbl
      USING ERRCODE = '55000', HINT = 'Set one with privacy.set_retention().';
  END IF;
  tables := ARRAY(SELECT p.tbl FROM privacy.retention_policy p
                   WHERE purge.tbl IS NULL OR p.tbl OPERATOR(pg_catalog.=) purge.tbl
                   ORDER BY p.tbl::text);
  IF pg_catalog.cardinality(tables) OPERATOR(pg_catalog.=) 0 THEN
    RAISE NOTICE 'nothing to purge: no table has a retention policy'
      USING HINT = 'Set one with privacy.set_retention(table, time_column, keep), for example privacy.set_retention(''app.cdr'', ''started_at'', ''6 months'').';
  END IF;
  IF dry_run THEN
    FOREACH t IN ARRAY tables LOOP
      BEGIN
        SELECT * INTO b FROM privacy_internal._purge_preview(t);
        table_name := t; action := b.action; rows := b.rows; partitions := b.partitions;
      EXCEPTION
        WHEN query_canceled THEN
          RAISE;
        WHEN OTHERS THEN
          GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
          f := privacy_internal._purge_error(st, msg);
          RAISE WARNING 'purge of % would fail: %', t, f OPERATOR(pg_catalog.->>) 'message'
            USING DETAIL = pg_catalog.format('SQLSTATE %s.', st);
          table_name := t; action := 'failed'; rows := NULL; partitions := NULL;
      END;
      RETURN NEXT;
    END LOOP;
    RETURN;
  END IF;

  -- A batch must see holds placed while the purge runs: READ COMMITTED.
  IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed' THEN
    RAISE EXCEPTION 'purge must run at isolation level READ COMMITTED'
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('The transaction runs at %s; a snapshot taken earlier would not see a legal hold placed meanwhile.',
                                       pg_catalog.upper(pg_catalog.current_setting('transaction_isolation'))),
            HINT = 'Run it in a READ COMMITTED transaction, or use a dry run.';
  END IF;
  -- One purge at a time: wait for one in progress.
  PERFORM pg_catalog.pg_advisory_xact_lock(1885827186, privacy_internal._lock_key('purge'));
  run := pg_catalog.nextval('privacy.retention_run_seq');
  FOREACH t IN ARRAY tables LOOP
    -- Each table in a subtransaction of its own: a table that fails (its
    -- owner's trigger raises, a partition stays locked, its protection is
    -- not in force) is left as it was, reported and audited, and the
    -- other tables are purged.
    BEGIN
      LOOP
        SELECT * INTO b FROM privacy_internal._purge_batch(t, run, 10000, lock_timeout_ms, retries);
        EXIT WHEN b.done;
      END LOOP;
    EXCEPTION
      WHEN query_canceled THEN
        RAISE;
      WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
        f := pg_catalog.jsonb_build_object('table', t::text) OPERATOR(pg_catalog.||) privacy_internal._purge_error(st, msg);
        failed := failed OPERATOR(pg_catalog.||) f;
        PERFORM privacy_internal._audit('retention.purge_failed', t::text,
                               pg_catalog.jsonb_build_object('run', run, 'via', 'purge',
                                                             'sqlstate', f OPERATOR(pg_catalog.->>) 'sqlstate',
                                                             'message', f OPERATOR(pg_catalog.->>) 'message'));
        RAISE WARNING 'purge of % failed: %', t, f OPERATOR(pg_catalog.->>) 'message'
          USING DETAIL = pg_catalog.format('SQLSTATE %s. Nothing of this table was purged; the other tables were.', st);
        table_name := t; action := 'failed'; rows := NULL; partitions := NULL;
        RETURN NEXT;
        CONTINUE;
    END;
    CONTINUE WHEN b.action IS NULL;     -- its policy was dropped meanwhile
    table_name := t; action := b.action; rows := b.rows; partitions := b.partitions;
    total_rows := total_rows OPERATOR(pg_catalog.+) b.rows;
    total_parts := total_parts OPERATOR(pg_catalog.+) b.partitions;
    RETURN NEXT;
  END LOOP;
  PERFORM privacy_internal._audit('retention.run', NULL,
                         pg_catalog.jsonb_build_object('run', run, 'via', 'purge', 'tables', pg_catalog.cardinality(tables),
                                                       'rows', total_rows, 'partitions', total_parts,
                                                       'failed', failed));
END
$$;
COMMENT ON FUNCTION privacy.purge(boolean, regclass, integer, integer) IS
  'purge expired rows of every table with a retention policy (or of one): drop expired partitions, delete or anonymize rows, keep rows under a hold; dry_run reports what it would do; one transaction, a table that fails is left as it was and reported (action failed)';

-- run_purge's steps (SECURITY DEFINER); the procedure itself cannot be.
CREATE FUNCTION privacy_internal._purge_begin(OUT run_id bigint, OUT tables regclass[])
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
BEGIN
  PERFORM privacy_internal._check_purge_privilege();
  -- A run of this session that was interrupted may have kept the lock.
  IF EXISTS (SELECT FROM pg_catalog.pg_locks l
              WHERE l.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()
                AND l.locktype OPERATOR(pg_catalog.=) 'advisory'
                AND l.classid OPERATOR(pg_catalog.=) 1885827186
                AND l.objid OPERATOR(pg_catalog.=) privacy_internal._lock_key('purge')::oid
                AND l.objsubid OPERATOR(pg_catalog.=) 2 AND l.mode OPERATOR(pg_catalog.=) 'ExclusiveLock'
                AND l.granted) THEN
    PERFORM pg_catalog.pg_advisory_unlock(1885827186, privacy_internal._lock_key('purge'));
  END IF;
  IF NOT pg_catalog.pg_try_advisory_lock(1885827186, privacy_internal._lock_key('purge')) THEN
    run_id := NULL;
    RETURN;
  END IF;
  run_id := pg_catalog.nextval('privacy.retention_run_seq');
  tables := ARRAY(SELECT p.tbl FROM privacy.retention_policy p ORDER BY p.tbl::text);
END
$$;
COMMENT ON FUNCTION privacy_internal._purge_begin() IS
  'internal: start a run_purge (one purge at a time); NULL run id when another purge runs';

CREATE FUNCTION privacy_internal._purge_end(run_id bigint, tables integer, rows bigint, partitions integer,
                                   failed jsonb)
  RETURNS jsonb
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  f jsonb;
  reported jsonb := '[]';
BEGIN
  PERFORM privacy_internal._check_purge_privilege();
  IF failed IS NOT NULL THEN
    -- each failed table audited, with what went wrong and no value
    FOR f IN SELECT e FROM pg_catalog.jsonb_array_elements(failed) e LOOP
      f := pg_catalog.jsonb_build_object('table', f OPERATOR(pg_catalog.->>) 'table')
           OPERATOR(pg_catalog.||) privacy_internal._purge_error(f OPERATOR(pg_catalog.->>) 'sqlstate', f OPERATOR(pg_catalog.->>) 'message');
      reported := reported OPERATOR(pg_catalog.||) f;
      PERFORM privacy_internal._audit('retention.purge_failed', f OPERATOR(pg_catalog.->>) 'table',
                             pg_catalog.jsonb_build_object('run', run_id, 'via', 'run_purge',
                                                           'sqlstate', f OPERATOR(pg_catalog.->>) 'sqlstate',
                                                           'message', f OPERATOR(pg_catalog.->>) 'message'));
    END LOOP;
    IF tables IS NOT NULL THEN
      PERFORM privacy_internal._audit('retention.run', NULL,
                             pg_catalog.jsonb_build_object('run', run_id, 'via', 'run_purge', 'tables', tables,
                                                           'rows', rows, 'partitions', partitions,
                                                           'failed', reported));
    END IF;
  END IF;
  IF EXISTS (SELECT FROM pg_catalog.pg_locks l
              WHERE l.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()
                AND l.locktype OPERATOR(pg_catalog.=) 'advisory'
                AND l.classid OPERATOR(pg_catalog.=) 1885827186
                AND l.objid OPERATOR(pg_catalog.=) privacy_internal._lock_key('purge')::oid
                AND l.objsubid OPERATOR(pg_catalog.=) 2 AND l.mode OPERATOR(pg_catalog.=) 'ExclusiveLock'
                AND l.granted) THEN
    PERFORM pg_catalog.pg_advisory_unlock(1885827186, privacy_internal._lock_key('purge'));
  END IF;
  RETURN CASE WHEN failed IS NOT NULL THEN reported END;
END
$$;
COMMENT ON FUNCTION privacy_internal._purge_end(bigint, integer, bigint, integer, jsonb) IS
  'internal: finish a run_purge: each failed table and the run''s receipt audited, the lock released; returns the failures as recorded';

-- A table's failure as the audit log and the receipt record it: the
-- SQLSTATE and the message, without what may be a personal value (an
-- error raised over a row, by a cast or by the owner's own trigger, can
-- quote one): quoted literals, e-mail addresses and digit runs are masked.
CREATE FUNCTION privacy_internal._purge_error(sqlstate text, message text) RETURNS jsonb
  LANGUAGE plpgsql IMMUTABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  m text := COALESCE(message, '');
BEGIN
  m := pg_catalog.regexp_replace(m, $r$'[^']*'$r$, $r$'...'$r$, 'g');
  m := pg_catalog.regexp_replace(m, $r$[^[:space:]"']*@[^[:space:]"']*$r$, '...', 'g');
  -- numbers (inside a word too: an account number, phone4520...), but
  -- not the digits of a key's fingerprint (pgp1:<16 hex digits>, which
  -- the key errors name)
  m := pg_catalog.regexp_replace(m, '(?<!pgp[0-9]:[0-9a-f]{0,15})\+?[0-9][0-9 ().-]{4,}[0-9]', '...', 'g');
  -- data and integrity errors, and errors a trigger raised, quote values
  IF pg_catalog.left(sqlstate, 2) IN ('22', '23', 'P0') THEN
    m := pg_catalog.regexp_replace(m, '"[^"]*"', '"..."', 'g');
  END IF;
  RETURN pg_catalog.jsonb_build_object('sqlstate', sqlstate, 'message', pg_catalog.left(m, 300));
END
$$;
COMMENT ON FUNCTION privacy_internal._purge_error(text, text) IS
  'internal: a purge failure as recorded: SQLSTATE and the message with values masked';

-- The nightly job.  Not SECURITY DEFINER and without SET clauses, so that
-- it may COMMIT; every name and operator in it is qualified, because it
-- runs with the caller's search_path (pg_cron's superuser's among them).
CREATE PROCEDURE privacy.run_purge(batch_size integer DEFAULT 10000,
                                   lock_timeout_ms integer DEFAULT 1000,
                                   retries integer DEFAULT 5)
  LANGUAGE plpgsql
AS $$
DECLARE
  b record;
  run bigint;
  tables regclass[];
  t regclass;
  total_rows bigint := 0;
  total_parts integer := 0;
  failed jsonb := pg_catalog.jsonb_build_array();
  st text;
  msg text;
  table_failed boolean;
  tbl_done boolean;
  tbl_action text;
  tbl_rows bigint;
  tbl_parts integer;
BEGIN
  IF batch_size IS NULL OR batch_size OPERATOR(pg_catalog.<) 1 THEN
    RAISE EXCEPTION 'batch size must be positive' USING ERRCODE = '22023',
          DETAIL = pg_catalog.format('batch_size was %s.', batch_size);
  END IF;
  IF lock_timeout_ms IS NULL OR lock_timeout_ms OPERATOR(pg_catalog.<) 1
     OR retries IS NULL OR retries OPERATOR(pg_catalog.<) 0 THEN
    RAISE EXCEPTION 'invalid lock_timeout_ms % or retries %', lock_timeout_ms, retries
      USING ERRCODE = '22023', HINT = 'lock_timeout_ms must be at least 1, retries at least 0.';
  END IF;
  -- Fails here, before anything is locked, when CALLed inside a
  -- transaction block (where the batches could not commit).
  COMMIT;
  SELECT * INTO b FROM privacy_internal._purge_begin();
  IF b.run_id IS NULL THEN
    RAISE NOTICE 'another purge is running; this one does nothing';
    RETURN;
  END IF;
  run := b.run_id;
  tables := b.tables;
  IF pg_catalog.cardinality(tables) OPERATOR(pg_catalog.=) 0 THEN
    RAISE NOTICE 'nothing to purge: no table has a retention policy'
      USING HINT = 'Set one with privacy.set_retention(table, time_column, keep), for example privacy.set_retention(''app.cdr'', ''started_at'', ''6 months'').';
  END IF;
  COMMIT;
  FOREACH t IN ARRAY tables LOOP
    -- Each batch in a subtransaction of its own, committed after it: a
    -- batch that fails is undone, the table is reported (and audited by
    -- _purge_end), and the other tables are purged.  (The COMMIT is
    -- outside the block: PL/pgSQL cannot commit inside one that catches
    -- errors.)
    table_failed := false;
    tbl_done := false;
    tbl_action := NULL;
    LOOP
      BEGIN
        SELECT x.done, x.action, x.rows, x.partitions INTO tbl_done, tbl_action, tbl_rows, tbl_parts
          FROM privacy_internal._purge_batch(t, run, batch_size, lock_timeout_ms, retries) x;
      EXCEPTION
        WHEN query_canceled THEN
          PERFORM privacy_internal._purge_end(run, NULL, NULL, NULL, NULL);
          RAISE;
        WHEN OTHERS THEN
          GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
          RAISE WARNING 'purge of % failed (SQLSTATE %); the other tables go on', t, st;
          failed := failed OPERATOR(pg_catalog.||)
                    pg_catalog.jsonb_build_object('table', t::text, 'sqlstate', st, 'message', msg);
          table_failed := true;
      END;
      COMMIT;
      EXIT WHEN table_failed OR tbl_done;
    END LOOP;
    IF NOT table_failed AND tbl_action IS NOT NULL THEN
      total_rows := total_rows OPERATOR(pg_catalog.+) tbl_rows;
      total_parts := total_parts OPERATOR(pg_catalog.+) tbl_parts;
      RAISE NOTICE 'purged %: % % rows, % partitions dropped', t, tbl_action, tbl_rows, tbl_parts;
    END IF;
  END LOOP;
  failed := privacy_internal._purge_end(run, pg_catalog.cardinality(tables), total_rows, total_parts, failed);
  COMMIT;
  IF pg_catalog.jsonb_array_length(failed) OPERATOR(pg_catalog.>) 0 THEN
    RAISE EXCEPTION 'purge failed for % of % tables', pg_catalog.jsonb_array_length(failed), pg_catalog.cardinality(tables)
      USING ERRCODE = failed OPERATOR(pg_catalog.->) 0 OPERATOR(pg_catalog.->>) 'sqlstate',
            DETAIL = (SELECT pg_catalog.string_agg(pg_catalog.format('%s: %s', f OPERATOR(pg_catalog.->>) 'table',
                                                                     f OPERATOR(pg_catalog.->>) 'message'), '; ')
                        FROM pg_catalog.jsonb_array_elements(failed) f),
            HINT = 'The other tables were purged; the next run continues the failed ones where they stopped.';
  END IF;
END
$$;
COMMENT ON PROCEDURE privacy.run_purge(integer, integer, integer) IS
  'purge every table with a retention policy in batches, committing after each; CALL it outside a transaction block (pg_cron does)';

------------------------------------------------------------------------
-- Scheduling with pg_cron
------------------------------------------------------------------------

CREATE FUNCTION privacy_internal._check_pg_cron() RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'pg_cron') THEN
    RAISE EXCEPTION 'pg_cron is not installed in database %', pg_catalog.current_database()
      USING ERRCODE = '55000',
            HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database and cron.use_background_workers = on, restart, and run CREATE EXTENSION pg_cron; or schedule CALL privacy.run_purge() with another scheduler.';
  END IF;
END
$$;

-- How pg_cron will run the purge job: in a background worker
-- (cron.use_background_workers = on: no connection, nothing to
-- authenticate), or as a client connecting to cron.host.  A connection
-- over TCP (cron.host defaults to localhost) needs a password on a stock
-- Debian cluster, whose pg_hba.conf asks for one on host lines; pg_cron
-- has none to give unless the server's OS user keeps it in ~/.pgpass,
-- which the server cannot see.  So schedule_purge refuses a job that
-- would connect over TCP, and says how to make it run without one.  A
-- connection through the Unix socket (cron.host set to the socket
-- directory) uses Debian's "local ... peer" line and is accepted.
-- Returns NULL when the job will run, else why not.
CREATE FUNCTION privacy_internal._cron_connection_problem() RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  bgw text := pg_catalog.current_setting('cron.use_background_workers', true);
  host text := COALESCE(pg_catalog.current_setting('cron.host', true), 'localhost');
BEGIN
  IF bgw OPERATOR(pg_catalog.=) 'on' THEN
    RETURN NULL;
  END IF;
  IF pg_catalog.left(host, 1) OPERATOR(pg_catalog.=) '/' THEN
    RETURN NULL;
  END IF;
  RETURN pg_catalog.format('cron.use_background_workers is off, so pg_cron would connect over TCP to %s port %s, where a stock pg_hba.conf asks for a password pg_cron does not have',
                           host, pg_catalog.current_setting('port'));
END
$$;
COMMENT ON FUNCTION privacy_internal._cron_connection_problem() IS
  'internal: why the purge job scheduled with pg_cron would fail to connect (NULL when it runs in a background worker or over the Unix socket)';

CREATE FUNCTION privacy.schedule_purge(schedule text DEFAULT '30 3 * * *', batch_size integer DEFAULT 10000)
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  job bigint;
  old record;
  cmd text;
  problem text;
  host text := COALESCE(pg_catalog.current_setting('cron.host', true), 'localhost');
  port integer := pg_catalog.current_setting('port')::integer;
  how text;
  st text;
  msg text;
BEGIN
  IF schedule IS NULL OR batch_size IS NULL THEN
    RAISE EXCEPTION 'schedule and batch size must not be null' USING ERRCODE = '22004';
  END IF;
  IF batch_size OPERATOR(pg_catalog.<) 1 THEN
    RAISE EXCEPTION 'batch size must be positive' USING ERRCODE = '22023',
          DETAIL = pg_catalog.format('batch_size was %s.', batch_size);
  END IF;
  PERFORM privacy_internal._check_pg_cron();
  problem := privacy_internal._cron_connection_problem();
  IF problem IS NOT NULL THEN
    RAISE EXCEPTION 'the purge job would not run: %', problem
      USING ERRCODE = '55000',
            HINT = 'Set cron.use_background_workers = on in postgresql.conf and restart (jobs then run without a connection); '
                   'or set cron.host to the Unix socket directory (e.g. ''/var/run/postgresql''). '
                   'If a ~/.pgpass of the server''s OS user provides the password, schedule it yourself: '
                   'SELECT cron.schedule_in_database(''pg_privacy_purge'', ''30 3 * * *'', ''CALL privacy.run_purge()'', current_database()).';
  END IF;
  -- One statement only: pg_cron then runs it outside a transaction block,
  -- where the procedure may commit after every batch.
  cmd := pg_catalog.format('CALL privacy.run_purge(%s)', batch_size);
  EXECUTE 'SELECT j.jobid, j.nodename, j.nodeport FROM cron.job j
            WHERE j.jobname OPERATOR(pg_catalog.=) $1 AND j.username OPERATOR(pg_catalog.=) CURRENT_USER'
    INTO old USING 'pg_privacy_purge';
  BEGIN
    IF old.jobid IS NOT NULL AND old.nodename IS NOT DISTINCT FROM host
       AND old.nodeport IS NOT DISTINCT FROM port THEN
      -- Same server: update the job in place (its run history stays).
      EXECUTE 'SELECT cron.alter_job($1, $2, $3, $4, NULL, true)'
        USING old.jobid, schedule, cmd, pg_catalog.current_database();
      job := old.jobid;
      how := 'updated';
    ELSE
      -- A job made for another node name or port (cron.host changed, the
      -- cluster restored elsewhere) keeps them when altered: replace it.
      IF old.jobid IS NOT NULL THEN
        EXECUTE 'SELECT cron.unschedule($1)' USING old.jobid;
        how := 'replaced';
      ELSE
        how := 'created';
      END IF;
      EXECUTE 'SELECT cron.schedule_in_database($1, $2, $3, $4)' INTO job
        USING 'pg_privacy_purge', schedule, cmd, pg_catalog.current_database();
    END IF;
  EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    IF msg LIKE 'invalid schedule%' THEN
      RAISE EXCEPTION 'invalid schedule "%"', schedule
        USING ERRCODE = '22023', HINT = 'Use cron syntax, for example ''30 3 * * *'' (03:30 every night).';
    END IF;
    RAISE;
  END;
  PERFORM privacy_internal._audit('retention.schedule', NULL,
                         pg_catalog.jsonb_build_object('job', job, 'schedule', schedule, 'batch_size', batch_size,
                                                       'job_was', how));
  RETURN job;
END
$$;
COMMENT ON FUNCTION privacy.schedule_purge(text, integer) IS
  'schedule CALL privacy.run_purge() with pg_cron (job "pg_privacy_purge" in this database; an existing one is updated, or replaced when made for another node); refuses a job that would need a connection pg_cron cannot make; returns the job id';

CREATE FUNCTION privacy.unschedule_purge() RETURNS boolean
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  job bigint;
BEGIN
  PERFORM privacy_internal._check_pg_cron();
  EXECUTE 'SELECT j.jobid FROM cron.job j WHERE j.jobname OPERATOR(pg_catalog.=) $1 AND j.username OPERATOR(pg_catalog.=) CURRENT_USER'
    INTO job USING 'pg_privacy_purge';
  IF job IS NULL THEN
    RETURN false;
  END IF;
  EXECUTE 'SELECT cron.unschedule($1)' USING job;
  PERFORM privacy_internal._audit('retention.unschedule', NULL, pg_catalog.jsonb_build_object('job', job));
  RETURN true;
END
$$;
COMMENT ON FUNCTION privacy.unschedule_purge() IS
  'remove the pg_cron job of the purge; false when none was scheduled';
-- Safe analytics: measuring k-anonymity, publishing aggregates that single
-- no one out, and pseudonymized extracts for analysts.
--
-- A published view is SELECT * FROM <view>_rows(), a function without
-- arguments that returns the figures only: its rows are computed (in C,
-- pgp_published_rows) from the definition recorded in privacy.published,
-- with the rights of the role that published it, in a security-restricted
-- operation.  The view and its function belong to the extension owner, so
-- neither the publisher nor a reader can change what the register says was
-- published; the builders are API entry points, check the caller's rights
-- themselves, and record what they built (no one can record anything
-- else).  A reader's EXPLAIN shows a function scan, never the plan over
-- the source.

CREATE TABLE privacy.published (
  view_name    regclass PRIMARY KEY,
  kind         text NOT NULL CHECK (kind IN ('safe_aggregate', 'pseudonymized_extract')),
  source       text NOT NULL,          -- the query, or the table extracted
  min_group    integer,                -- safe aggregates
  with_total   boolean,
  domain       text,                   -- extracts
  time_unit    text,
  created_by   name NOT NULL,          -- the rows are computed with this role's rights
  created_at   timestamptz NOT NULL DEFAULT now(),
  body         text,                   -- the query that computes the rows
  row_function regprocedure            -- <view_name>_rows(), which the view reads
);
COMMENT ON TABLE privacy.published IS
  'pg_privacy: safe aggregates and pseudonymized extracts published for analysts';
SELECT pg_catalog.pg_extension_config_dump('privacy.published', '');

------------------------------------------------------------------------
-- k-anonymity
------------------------------------------------------------------------

CREATE FUNCTION privacy.k_anonymity(tbl regclass, quasi_identifiers name[], k integer DEFAULT 5)
  RETURNS TABLE(min_group_size bigint, groups bigint, rows bigint,
                groups_below_k bigint, rows_below_k bigint)
  LANGUAGE plpgsql STABLE
AS $$
DECLARE
  cols text;
  c name;
  typid oid;
BEGIN
  IF tbl IS NULL OR quasi_identifiers IS NULL OR k IS NULL THEN
    RAISE EXCEPTION 'table, quasi-identifiers and k must not be null' USING ERRCODE = '22004';
  END IF;
  IF k OPERATOR(pg_catalog.<) 2 THEN
    RAISE EXCEPTION 'k must be at least 2'
      USING ERRCODE = '22023', DETAIL = pg_catalog.format('The value given was %s.', k);
  END IF;
  IF pg_catalog.cardinality(quasi_identifiers) OPERATOR(pg_catalog.=) 0 THEN
    RAISE EXCEPTION 'at least one quasi-identifier is needed' USING ERRCODE = '22023';
  END IF;
  -- Nothing of a table owner's may run with the caller's (perhaps a
  -- superuser's) rights: tables and published views only, grouped by
  -- columns of built-in types.
  IF NOT EXISTS (
       SELECT FROM pg_catalog.pg_class r
        WHERE r.oid OPERATOR(pg_catalog.=) tbl
          AND (r.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p', 'm']::"char"[])
               OR (r.relkind OPERATOR(pg_catalog.=) 'v'
                   AND r.relowner OPERATOR(pg_catalog.=) (SELECT e.extowner FROM pg_catalog.pg_extension e
                                                           WHERE e.extname OPERATOR(pg_catalog.=) 'pg_privacy')))) THEN
    RAISE EXCEPTION 'k_anonymity cannot read %', tbl
      USING ERRCODE = '0A000', DETAIL = 'It reads tables, materialized views and published views only.';
  END IF;
  FOREACH c IN ARRAY quasi_identifiers LOOP
    SELECT a.atttypid INTO typid FROM pg_catalog.pg_attribute a
     WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attname OPERATOR(pg_catalog.=) c
       AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
    IF c IS NULL OR NOT FOUND THEN
      RAISE EXCEPTION 'column "%" of relation % does not exist', c, tbl USING ERRCODE = '42703';
    END IF;
    IF typid OPERATOR(pg_catalog.>=) 16384 THEN
      RAISE EXCEPTION 'column "%" of % has type %, which k_anonymity cannot group by', c, tbl, typid::regtype
        USING ERRCODE = '0A000', DETAIL = 'Quasi-identifiers must be of built-in types.';
    END IF;
  END LOOP;
  SELECT pg_catalog.string_agg(pg_catalog.quote_ident(q), ', ') INTO cols
    FROM pg_catalog.unnest(quasi_identifiers) q;
  -- Runs with the caller's rights: the caller must be able to read tbl.
  RETURN QUERY EXECUTE pg_catalog.format(
    'SELECT pg_catalog.min(n)::bigint, pg_catalog.count(*)::bigint, COALESCE(pg_catalog.sum(n), 0)::bigint,'
    '       pg_catalog.count(*) FILTER (WHERE n OPERATOR(pg_catalog.<) $1)::bigint,'
    '       COALESCE(pg_catalog.sum(n) FILTER (WHERE n OPERATOR(pg_catalog.<) $1), 0)::bigint'
    '  FROM (SELECT pg_catalog.count(*) AS n FROM %s GROUP BY %s) g', tbl, cols)
    USING k;
END
$$;
COMMENT ON FUNCTION privacy.k_anonymity(regclass, name[], integer) IS
  'smallest group size over the quasi-identifiers, number of groups and rows, and how many fall in groups below k';

------------------------------------------------------------------------
-- Publishing
------------------------------------------------------------------------

-- Split a schema-qualified name; raise when it is not one.
CREATE FUNCTION privacy_internal._qualified_name(name text, what text) RETURNS text[]
  LANGUAGE plpgsql IMMUTABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  parts text[];
BEGIN
  BEGIN
    parts := pg_catalog.parse_ident(name);
  EXCEPTION WHEN OTHERS THEN
    RAISE EXCEPTION 'invalid % name "%"', what, name USING ERRCODE = '22023';
  END;
  IF pg_catalog.cardinality(parts) OPERATOR(pg_catalog.<>) 2 THEN
    RAISE EXCEPTION '% name "%" must be schema-qualified', what, name
      USING ERRCODE = '22023', HINT = 'Write it as schema.name.';
  END IF;
  RETURN parts;
END
$$;

-- Create a published view: its row function and the view over it, both
-- owned by the extension owner; record and audit it.  Internal, called by
-- the builders (API entry points) after their checks.
CREATE FUNCTION privacy_internal._publish(parts text[], coldefs text, body text, kind text, source text,
                                 min_group integer, with_total boolean, domain text,
                                 time_unit text, grant_to name, creator name, comment text,
                                 detail jsonb)
  RETURNS regclass
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  fn text := pg_catalog.format('%I.%I', parts[1], parts[2] OPERATOR(pg_catalog.||) '_rows');
  vq text := pg_catalog.format('%I.%I', parts[1], parts[2]);
  v regclass;
BEGIN
  -- The row function computes the rows from the register (src/analytics.c,
  -- pgp_published_rows): the view's readers see a function scan only.
  EXECUTE pg_catalog.format(
    'CREATE FUNCTION %s() RETURNS TABLE(%s) LANGUAGE c STABLE SECURITY DEFINER '
    'SET search_path = pg_catalog, pg_temp AS %L, %L',
    fn, coldefs, 'MODULE_PATHNAME', 'pgp_published_rows');
  EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s() FROM PUBLIC', fn);
  EXECUTE pg_catalog.format('CREATE VIEW %s WITH (security_barrier) AS SELECT * FROM %s()', vq, fn);
  v := vq::regclass;
  INSERT INTO privacy.published (view_name, kind, source, min_group, with_total, domain, time_unit,
                                 created_by, body, row_function)
       VALUES (v, kind, source, min_group, with_total, domain, time_unit, creator, body,
               (fn OPERATOR(pg_catalog.||) '()')::pg_catalog.regprocedure);
  EXECUTE pg_catalog.format('COMMENT ON VIEW %s IS %L', v, comment);
  IF grant_to IS NOT NULL THEN
    EXECUTE pg_catalog.format('GRANT SELECT ON %s TO %I', v, grant_to);
    EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s() TO %I', fn, grant_to);
  END IF;
  PERFORM privacy_internal._audit('analytics.' OPERATOR(pg_catalog.||) kind, v::text,
                         pg_catalog.jsonb_strip_nulls(detail));
  RETURN v;
END
$$;


-- The caller may create the view in the schema.
CREATE FUNCTION privacy_internal._check_publish_schema(schema_name text, caller name)
  RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_namespace n
                  WHERE n.nspname OPERATOR(pg_catalog.=) schema_name) THEN
    RAISE EXCEPTION 'schema "%" does not exist', schema_name USING ERRCODE = '3F000';
  END IF;
  IF NOT pg_catalog.has_schema_privilege(caller, schema_name, 'CREATE') THEN
    RAISE EXCEPTION 'permission denied for schema %', schema_name USING ERRCODE = '42501';
  END IF;
END
$$;

------------------------------------------------------------------------
-- Safe aggregates
------------------------------------------------------------------------

CREATE FUNCTION privacy_internal._analyze_grouped_query(query text, as_role oid)
  RETURNS TABLE(what text, col name, type text, kind text, rel regclass, rtindex integer)
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_analyze_grouped_query';
COMMENT ON FUNCTION privacy_internal._analyze_grouped_query(text, oid) IS
  'internal: tables, columns and output columns of a grouped SELECT analyzed as as_role, or an error when a safe aggregate may not publish it';

CREATE FUNCTION privacy_internal._grouped_query_def(query text, as_role oid, subject_rtindex integer[],
                                           subject_col name[])
  RETURNS text
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_grouped_query_def';
COMMENT ON FUNCTION privacy_internal._grouped_query_def(text, oid, integer[], name[]) IS
  'internal: a checked grouped SELECT as fully qualified SQL, with the distinct count of each given subject column added';

-- May a safe aggregate use this column (anywhere in its query)?  Declared
-- columns: only traffic and location data that identify no one.
-- Undeclared columns: yes, unless the name looks personal by
-- privacy.name_pattern (as privacy.undeclared_columns lists them): then
-- it must be declared first.
CREATE FUNCTION privacy_internal._check_publishable(rel regclass, col name)
  RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  d record;
  looks text;
BEGIN
  -- a partition is declared by its partitioned table
  SELECT c.category, c.identifies INTO d FROM privacy.registered_column c
   WHERE c.tbl OPERATOR(pg_catalog.=) ANY (SELECT rel UNION SELECT a.relid FROM pg_catalog.pg_partition_ancestors(rel) a)
     AND c.col OPERATOR(pg_catalog.=) _check_publishable.col
   LIMIT 1;
  IF FOUND THEN
    IF d.identifies IS NOT NULL
       OR d.category OPERATOR(pg_catalog.<>) ALL (ARRAY['traffic', 'location']) THEN
      RAISE EXCEPTION 'column "%" of % identifies a person and cannot be used in a safe aggregate', col, rel
        USING ERRCODE = '42501',
              DETAIL = pg_catalog.format('It is declared as %s. A safe aggregate counts and sums traffic and location data only, grouped by them.',
                                         CASE WHEN d.identifies IS NOT NULL
                                              THEN pg_catalog.format('identifier "%s"', d.identifies)
                                              ELSE pg_catalog.format('personal data of category "%s"', d.category) END);
    END IF;
    RETURN;
  END IF;
  SELECT np.category INTO looks FROM privacy.name_pattern np
   WHERE col::text OPERATOR(pg_catalog.~*) np.pattern
   ORDER BY np.pattern LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'column "%" of % looks like personal data (%) and is not declared', col, rel, looks
      USING ERRCODE = '42501',
            HINT = 'Declare it with privacy.register_column(); traffic and location data can be published.';
  END IF;
END
$$;

-- Publish a grouped query as a view whose groups smaller than min_group
-- are suppressed.  Only counts and sums of non-identifying columns,
-- grouped by non-identifying columns, over tables; where a table declares
-- an owner identifier a group's size is its number of distinct data
-- subjects, not of rows.  With with_total, a total row is added that
-- sums the published groups only: a suppressed group can never be
-- recovered by subtracting the published ones from it.
CREATE FUNCTION privacy.create_safe_aggregate(view_name text, query text, min_group integer,
                                              count_column name DEFAULT 'n',
                                              with_total boolean DEFAULT false,
                                              grant_to name DEFAULT NULL)
  RETURNS regclass
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  caller name := privacy_internal._invoker();
  caller_id oid;
  parts text[];
  body text;
  q text;
  s record;
  d record;
  sel text[] := '{}';
  tot text[] := '{}';
  coldefs text[] := '{}';
  found_count boolean := false;
  subj_rti integer[] := '{}';
  subj_col name[] := '{}';
  size_expr text;
BEGIN
  IF view_name IS NULL OR query IS NULL OR min_group IS NULL OR count_column IS NULL
     OR with_total IS NULL THEN
    RAISE EXCEPTION 'view name, query, min_group, count_column and with_total must not be null'
      USING ERRCODE = '22004';
  END IF;
  IF min_group OPERATOR(pg_catalog.<) 2 THEN
    RAISE EXCEPTION 'min_group must be at least 2'
      USING ERRCODE = '22023', DETAIL = pg_catalog.format('The value given was %s.', min_group);
  END IF;
  parts := privacy_internal._qualified_name(view_name, 'view');
  SELECT r.oid INTO caller_id FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) caller;
  PERFORM privacy_internal._check_publish_schema(parts[1], caller);
  q := pg_catalog.regexp_replace(query, '[[:space:];]+$', '');

  -- analyzed as the caller, who must be able to read what it reads
  FOR s IN SELECT * FROM privacy_internal._analyze_grouped_query(q, caller_id) LOOP
    IF s.what OPERATOR(pg_catalog.=) 'relation' THEN
      FOR d IN SELECT c.col FROM privacy.registered_column c
                WHERE c.tbl OPERATOR(pg_catalog.=) ANY (SELECT s.rel UNION SELECT a.relid FROM pg_catalog.pg_partition_ancestors(s.rel) a)
                  AND c.identifies IS NOT NULL
                  AND c.link OPERATOR(pg_catalog.=) 'owner'
                ORDER BY c.attnum LOOP
        subj_rti := subj_rti OPERATOR(pg_catalog.||) s.rtindex;
        subj_col := subj_col OPERATOR(pg_catalog.||) d.col;
      END LOOP;
      CONTINUE;
    END IF;
    IF s.what OPERATOR(pg_catalog.=) 'column' THEN
      PERFORM privacy_internal._check_publishable(s.rel, s.col);
      CONTINUE;
    END IF;
    IF s.col OPERATOR(pg_catalog.=) count_column THEN
      IF s.kind OPERATOR(pg_catalog.<>) 'count' THEN
        RAISE EXCEPTION 'column "%" of a safe aggregate must be count(*)', count_column
          USING ERRCODE = '22023',
                DETAIL = 'Only count(*) without FILTER or DISTINCT gives the true size of a group.';
      END IF;
      found_count := true;
    END IF;
    IF with_total AND s.col OPERATOR(pg_catalog.=) 'total' THEN
      RAISE EXCEPTION 'column name "total" is reserved for the total row'
        USING ERRCODE = '22023', HINT = 'Name the column otherwise, or publish without with_total.';
    END IF;
    IF with_total AND s.kind OPERATOR(pg_catalog.<>) ALL (ARRAY['group', 'count', 'sum']) THEN
      RAISE EXCEPTION 'column "%" cannot be totalled', s.col
        USING ERRCODE = '22023',
              DETAIL = 'A total over the published groups is only meaningful for count(*) and sum().',
              HINT = 'Publish without with_total, or drop that column.';
    END IF;
    sel := sel OPERATOR(pg_catalog.||) pg_catalog.format('q.%I', s.col);
    coldefs := coldefs OPERATOR(pg_catalog.||) pg_catalog.format('%I %s', s.col, s.type);
    tot := tot OPERATOR(pg_catalog.||)
           CASE WHEN s.kind OPERATOR(pg_catalog.=) 'group'
                THEN pg_catalog.format('NULL::%s AS %I', s.type, s.col)
                ELSE pg_catalog.format('pg_catalog.sum(q.%I)::%s AS %I', s.col, s.type, s.col) END;
  END LOOP;
  IF NOT found_count THEN
    RAISE EXCEPTION 'the query of a safe aggregate must return count(*) as column "%"', count_column
      USING ERRCODE = '22023', HINT = 'Add count(*) AS n to the select list, or name the column with count_column.';
  END IF;
  IF with_total THEN
    sel := sel OPERATOR(pg_catalog.||) 'false AS total'::text;
    tot := tot OPERATOR(pg_catalog.||) 'true AS total'::text;
    coldefs := coldefs OPERATOR(pg_catalog.||) 'total boolean'::text;
  END IF;

  -- A group's size: its rows, or where tables declare an owner identifier
  -- its data subjects (per table the largest distinct count of its owner
  -- identifiers, over the tables the smallest).
  IF pg_catalog.cardinality(subj_rti) OPERATOR(pg_catalog.=) 0 THEN
    size_expr := pg_catalog.format('q.%I', count_column);
  ELSE
    SELECT 'LEAST(' OPERATOR(pg_catalog.||) pg_catalog.string_agg(g, ', ') OPERATOR(pg_catalog.||) ')'
      INTO size_expr
      FROM (SELECT 'GREATEST(' OPERATOR(pg_catalog.||)
                   pg_catalog.string_agg(pg_catalog.format('q.%I', '_pgp_subjects_' OPERATOR(pg_catalog.||) u.i), ', ')
                   OPERATOR(pg_catalog.||) ')' AS g
              FROM pg_catalog.unnest(subj_rti) WITH ORDINALITY u(rti, i)
             GROUP BY u.rti) x;
  END IF;
  body := pg_catalog.format('WITH q AS MATERIALIZED (%s) SELECT %s FROM q WHERE %s OPERATOR(pg_catalog.>=) %s',
                            privacy_internal._grouped_query_def(q, caller_id, subj_rti, subj_col),
                            pg_catalog.array_to_string(sel, ', '), size_expr, min_group);
  IF with_total THEN
    body := body OPERATOR(pg_catalog.||)
            pg_catalog.format(' UNION ALL SELECT %s FROM q WHERE %s OPERATOR(pg_catalog.>=) %s',
                              pg_catalog.array_to_string(tot, ', '), size_expr, min_group);
  END IF;

  RETURN privacy_internal._publish(parts, pg_catalog.array_to_string(coldefs, ', '), body, 'safe_aggregate', q,
                          min_group, with_total, NULL, NULL, grant_to, caller,
                          pg_catalog.format('safe aggregate (pg_privacy): groups under %s %s suppressed%s',
                                            min_group,
                                            CASE WHEN pg_catalog.cardinality(subj_rti) OPERATOR(pg_catalog.=) 0
                                                 THEN 'rows' ELSE 'data subjects' END,
                                            CASE WHEN with_total THEN '; total over published groups only' ELSE '' END),
                          pg_catalog.jsonb_build_object('min_group', min_group, 'with_total', with_total,
                                                        'counts', CASE WHEN pg_catalog.cardinality(subj_rti) OPERATOR(pg_catalog.=) 0
                                                                       THEN 'rows' ELSE 'subjects' END));
END
$$;
COMMENT ON FUNCTION privacy.create_safe_aggregate(text, text, integer, name, boolean, name) IS
  'publish a grouped query (counts and sums of non-identifying columns) as a view with groups below min_group data subjects suppressed (optionally a total over the published groups only)';

------------------------------------------------------------------------
-- Pseudonymized extracts
------------------------------------------------------------------------

CREATE FUNCTION privacy_internal._extract_msisdn(raw text)
  RETURNS text
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_extract_msisdn';
COMMENT ON FUNCTION privacy_internal._extract_msisdn(text) IS
  'internal: E.164 form of a phone number that pseudonymize_msisdn accepts, else NULL';

CREATE FUNCTION privacy_internal._extract_country(value text)
  RETURNS text
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_extract_country';
COMMENT ON FUNCTION privacy_internal._extract_country(text) IS
  'internal: country_of(value), or NULL where no country can be derived';

-- A pseudonymized extract of a registered table for analysts: every
-- registered personal column replaced by its keyed pseudonym under an
-- analytics domain (so distinct callers can be counted and extracts
-- joined, but not linked to other domains or re-identified), timestamps
-- of traffic data generalized to time_unit, location kept at country
-- level; undeclared columns pass unchanged.  Phone numbers are first
-- brought to one form (the msisdn_fpe pseudonym of the default domain,
-- which is how protected CDR columns store them), so a subscriber has the
-- same analytics pseudonym in every extract.  A value that cannot be
-- transformed (a malformed number) shows as NULL, never raw.
--
-- The rows are computed with the caller's rights (SELECT on the table,
-- EXECUTE on the keyed functions); an analyst granted the view cannot
-- feed the keyed functions values of his own choosing.
CREATE FUNCTION privacy.create_pseudonymized_extract(view_name text, tbl regclass,
                                                     domain text DEFAULT 'analytics',
                                                     time_unit text DEFAULT 'day',
                                                     grant_to name DEFAULT NULL)
  RETURNS regclass
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  caller name := privacy_internal._invoker();
  parts text[];
  s record;
  expr text;
  sel text := '';
  cols text := '';
  src text;
  npersonal integer := 0;
  keyed boolean := false;
  fpe boolean := false;
BEGIN
  IF view_name IS NULL OR tbl IS NULL OR domain IS NULL OR time_unit IS NULL THEN
    RAISE EXCEPTION 'view name, table, domain and time unit must not be null' USING ERRCODE = '22004';
  END IF;
  parts := privacy_internal._qualified_name(view_name, 'view');
  IF time_unit OPERATOR(pg_catalog.<>) ALL (ARRAY['minute','hour','day','week','month','quarter','year']) THEN
    RAISE EXCEPTION 'invalid generalization unit "%"', time_unit
      USING ERRCODE = '22023', HINT = 'Use one of: minute, hour, day, week, month, quarter, year.';
  END IF;
  IF domain OPERATOR(pg_catalog.=) 'default' OR pg_catalog.octet_length(domain) NOT BETWEEN 1 AND 200 THEN
    RAISE EXCEPTION 'invalid analytics domain "%"', domain
      USING ERRCODE = '22023',
            DETAIL = 'An extract needs a domain of its own (1 to 200 bytes, not "default"), so its pseudonyms link to nothing else.';
  END IF;
  IF NOT pg_catalog.has_table_privilege(caller, tbl, 'SELECT') THEN
    RAISE EXCEPTION 'permission denied for table %', tbl USING ERRCODE = '42501';
  END IF;
  -- the rows are computed with the caller's rights: no policy of the
  -- table owner's may run then
  IF EXISTS (SELECT FROM pg_catalog.pg_class c
              WHERE c.oid OPERATOR(pg_catalog.=) tbl AND c.relrowsecurity
                AND NOT EXISTS (SELECT FROM pg_catalog.pg_roles r
                                 WHERE r.rolname OPERATOR(pg_catalog.=) caller AND (r.rolsuper OR r.rolbypassrls))
                AND (c.relforcerowsecurity OR NOT pg_catalog.pg_has_role(caller, c.relowner, 'USAGE'))) THEN
    RAISE EXCEPTION 'an extract cannot read %, whose row-level security policies would apply', tbl
      USING ERRCODE = '0A000', HINT = 'Publish it as the table''s owner.';
  END IF;
  PERFORM privacy_internal._check_publish_schema(parts[1], caller);
  FOR s IN
    SELECT a.attname AS col, a.atttypid AS typid, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
           c.category, c.identifies, c.protect,
           (SELECT np.category FROM privacy.name_pattern np
             WHERE a.attname::text OPERATOR(pg_catalog.~*) np.pattern
             ORDER BY np.pattern LIMIT 1) AS looks
      FROM pg_catalog.pg_attribute a
      -- a partition is declared by its partitioned table
      LEFT JOIN LATERAL (
             SELECT c0.category, c0.identifies, c0.protect FROM privacy.registered_column c0
              WHERE c0.tbl OPERATOR(pg_catalog.=) ANY (
                      SELECT create_pseudonymized_extract.tbl
                      UNION SELECT pa.relid FROM pg_catalog.pg_partition_ancestors(create_pseudonymized_extract.tbl) pa)
                AND c0.col OPERATOR(pg_catalog.=) a.attname
              LIMIT 1) c ON true
     WHERE a.attrelid OPERATOR(pg_catalog.=) create_pseudonymized_extract.tbl AND a.attnum OPERATOR(pg_catalog.>) 0
       AND NOT a.attisdropped
     ORDER BY a.attnum
  LOOP
    -- an undeclared column that looks personal would pass raw: declare it first
    IF s.category IS NULL AND s.looks IS NOT NULL THEN
      RAISE EXCEPTION 'column "%" of % looks like personal data (%) and is not declared', s.col, tbl, s.looks
        USING ERRCODE = '42501',
              HINT = 'Declare it with privacy.register_column(); an extract passes undeclared columns unchanged.';
    END IF;
    -- what the extract computes over, it computes over built-in types only
    IF s.category IS NOT NULL AND s.typid OPERATOR(pg_catalog.>=) 16384 THEN
      RAISE EXCEPTION 'column "%" of % has type %, which an extract cannot transform', s.col, tbl, s.type
        USING ERRCODE = '0A000', DETAIL = 'Declared columns are transformed as built-in types only.';
    END IF;
    expr := CASE
      WHEN s.category IS NULL THEN pg_catalog.format('t.%I', s.col)
      WHEN s.category OPERATOR(pg_catalog.=) 'traffic'
           AND s.type OPERATOR(pg_catalog.=) ANY (ARRAY['timestamp with time zone', 'timestamp without time zone', 'date'])
        THEN pg_catalog.format('pg_catalog.date_trunc(%L, t.%I)', time_unit, s.col)
      WHEN s.category OPERATOR(pg_catalog.=) 'traffic' THEN pg_catalog.format('t.%I', s.col)
      WHEN s.category OPERATOR(pg_catalog.=) 'location'
        THEN pg_catalog.format('privacy_internal._extract_country(t.%I::text)', s.col)
      WHEN s.identifies OPERATOR(pg_catalog.=) 'msisdn' AND s.protect IS NULL
        THEN pg_catalog.format('privacy.pseudonymize(privacy.pseudonymize_msisdn(privacy_internal._extract_msisdn(t.%I::text)), %L)', s.col, domain)
      WHEN s.identifies OPERATOR(pg_catalog.=) 'email' AND s.protect IS NULL
        -- the e-mail normal form (src/identifier.c), as protect stores it
        THEN pg_catalog.format('privacy.pseudonymize(COALESCE(privacy.lookup_value(''email'', t.%I::text, NULL), t.%I::text), %L)',
                               s.col, s.col, domain)
      ELSE pg_catalog.format('privacy.pseudonymize(t.%I::text, %L)', s.col, domain)
    END;
    IF s.category IS NOT NULL THEN
      npersonal := npersonal OPERATOR(pg_catalog.+) 1;
      keyed := keyed OR s.category OPERATOR(pg_catalog.<>) ALL (ARRAY['traffic', 'location']);
      fpe := fpe OR (s.identifies OPERATOR(pg_catalog.=) 'msisdn' AND s.protect IS NULL);
    END IF;
    sel := sel OPERATOR(pg_catalog.||) CASE WHEN sel OPERATOR(pg_catalog.=) '' THEN '' ELSE ', ' END
               OPERATOR(pg_catalog.||) expr OPERATOR(pg_catalog.||) pg_catalog.format(' AS %I', s.col);
    cols := cols OPERATOR(pg_catalog.||) CASE WHEN cols OPERATOR(pg_catalog.=) '' THEN '' ELSE ', ' END
                 OPERATOR(pg_catalog.||) pg_catalog.format('%I %s', s.col,
                      CASE WHEN s.category IS NULL OR s.category OPERATOR(pg_catalog.=) 'traffic' THEN s.type
                           ELSE 'text' END);
  END LOOP;
  IF npersonal OPERATOR(pg_catalog.=) 0 THEN
    RAISE EXCEPTION 'table % declares no personal column', tbl
      USING ERRCODE = '55000', HINT = 'Declare its columns with privacy.register_column() first.';
  END IF;
  -- the rows are computed with the caller's rights: the caller must hold the keys
  IF keyed AND NOT pg_catalog.has_function_privilege(caller, 'privacy.pseudonymize(text, text)', 'EXECUTE') THEN
    RAISE EXCEPTION 'permission denied for function pseudonymize' USING ERRCODE = '42501';
  END IF;
  IF fpe AND NOT pg_catalog.has_function_privilege(caller, 'privacy.pseudonymize_msisdn(text, text, text)', 'EXECUTE') THEN
    RAISE EXCEPTION 'permission denied for function pseudonymize_msisdn' USING ERRCODE = '42501';
  END IF;

  -- the table by its qualified name: the rows are computed with a pinned search_path
  SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) INTO src
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
   WHERE c.oid OPERATOR(pg_catalog.=) tbl;
  RETURN privacy_internal._publish(parts, cols, pg_catalog.format('SELECT %s FROM %s t', sel, src),
                          'pseudonymized_extract', tbl::text, NULL, NULL, domain, time_unit,
                          grant_to, caller,
                          pg_catalog.format('pseudonymized extract (pg_privacy) of %s: domain %s, time by %s',
                                            tbl, domain, time_unit),
                          pg_catalog.jsonb_build_object('domain', domain, 'time_unit', time_unit));
END
$$;
COMMENT ON FUNCTION privacy.create_pseudonymized_extract(text, regclass, text, text, name) IS
  'publish a view of a registered table with personal columns pseudonymized under an analytics domain, time generalized, location at country level';

------------------------------------------------------------------------
-- Withdrawing
------------------------------------------------------------------------

-- Drop a published view and its row function.  Its publisher (or a member
-- of the publishing role) and the owner of its schema may; the view and
-- the function belong to the extension owner, so this is how a publisher
-- takes back (and republishes) what it published.
CREATE FUNCTION privacy.unpublish(view_name regclass)
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  caller name := privacy_internal._invoker();
  creator name;
  schema_owner oid;
  fn regprocedure;
BEGIN
  IF view_name IS NULL THEN
    RAISE EXCEPTION 'view name must not be null' USING ERRCODE = '22004';
  END IF;
  SELECT p.created_by INTO creator FROM privacy.published p
   WHERE p.view_name OPERATOR(pg_catalog.=) unpublish.view_name;
  IF NOT FOUND THEN
    RAISE EXCEPTION '% is not a published view', view_name USING ERRCODE = '55000';
  END IF;
  SELECT n.nspowner INTO schema_owner
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
   WHERE c.oid OPERATOR(pg_catalog.=) view_name;
  IF NOT (pg_catalog.pg_has_role(caller, schema_owner, 'MEMBER')
          OR (EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) creator)
              AND pg_catalog.pg_has_role(caller, creator, 'MEMBER'))) THEN
    RAISE EXCEPTION 'must be the publisher of % or the owner of its schema', view_name
      USING ERRCODE = '42501';
  END IF;
  SELECT p.row_function INTO fn FROM privacy.published p
   WHERE p.view_name OPERATOR(pg_catalog.=) unpublish.view_name;
  -- the event trigger takes it off the register and audits it
  EXECUTE pg_catalog.format('DROP VIEW %s', view_name);
  IF fn IS NOT NULL THEN
    EXECUTE pg_catalog.format('DROP FUNCTION %s', fn);
  END IF;
END
$$;
COMMENT ON FUNCTION privacy.unpublish(regclass) IS
  'drop a published view and its row function (its publisher or the owner of its schema)';
-- Masking by role (src/mask.c): a masked role reads every declared
-- personal column of a registered table through the mask of its category
-- (or the column's own mask, set_mask), under the table's own name, in
-- every statement it plans and in COPY ... TO.  The masks are applied by
-- the planner, not by views: the role's queries, views, functions,
-- cursors and pg_dump all read the same masked values.

CREATE TABLE privacy.masked_role (
  role               regrole PRIMARY KEY,
  privacy_by_default boolean NOT NULL DEFAULT false,
  masked_at          timestamptz NOT NULL DEFAULT now(),
  masked_by          name NOT NULL DEFAULT current_user
);
COMMENT ON TABLE privacy.masked_role IS
  'pg_privacy: roles that read registered tables masked (privacy.mask_role)';
SELECT pg_catalog.pg_extension_config_dump('privacy.masked_role', '');

------------------------------------------------------------------------
-- The masks of the categories: keyless, for anyone to call
------------------------------------------------------------------------

CREATE FUNCTION privacy.mask_name(value text) RETURNS text
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_mask_name';
COMMENT ON FUNCTION privacy.mask_name(text) IS
  'a name reduced to its initials: "Jens Peter Hansen" -> "J. P. H."';

CREATE FUNCTION privacy.mask_email(value text) RETURNS text
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_mask_email';
COMMENT ON FUNCTION privacy.mask_email(text) IS
  'an e-mail address partially hidden: "jens.hansen@firma.dk" -> "j***@firma.dk"; anything else -> "***"';

CREATE FUNCTION privacy.mask_address(value text) RETURNS text
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_mask_address';
COMMENT ON FUNCTION privacy.mask_address(text) IS
  'a postal address reduced to postal code and town: "Vestergade 12, 8000 Aarhus C" -> "8000 Aarhus C"; a street -> NULL';

CREATE FUNCTION privacy.mask_account(value text, visible integer DEFAULT 4) RETURNS text
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_mask_account';
COMMENT ON FUNCTION privacy.mask_account(text, integer) IS
  'an account number with every digit but the last `visible` replaced by X, its format kept';

------------------------------------------------------------------------
-- The keyed masks of identifiers: applied by masking only
------------------------------------------------------------------------

-- Whoever could call these on a value of his choice could test guesses
-- against the pseudonyms a masked role reads.  EXECUTE is granted to
-- PUBLIC (the masked role's own statements run them), but each refuses
-- (42501) unless the planner put it there as a column's mask.  PARALLEL
-- RESTRICTED: the mark the planner gives them does not travel to parallel
-- workers (plans are serialized without parse locations), so they run in
-- the leader.
CREATE FUNCTION privacy_internal._mask_pseudonym(value text) RETURNS text
  LANGUAGE c STABLE STRICT PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_mask_pseudonym_text';
CREATE FUNCTION privacy_internal._mask_pseudonym(value bigint) RETURNS bigint
  LANGUAGE c STABLE STRICT PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_mask_pseudonym_int8';
CREATE FUNCTION privacy_internal._mask_pseudonym(value integer) RETURNS integer
  LANGUAGE c STABLE STRICT PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_mask_pseudonym_int4';
CREATE FUNCTION privacy_internal._mask_pseudonym(value smallint) RETURNS smallint
  LANGUAGE c STABLE STRICT PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_mask_pseudonym_int2';
COMMENT ON FUNCTION privacy_internal._mask_pseudonym(text) IS
  'internal: keyed pseudonym of an identifier (128 bits, base64url), as a masked role reads it';
COMMENT ON FUNCTION privacy_internal._mask_pseudonym(bigint) IS
  'internal: keyed permutation of bigint identifiers (FF1), as a masked role reads them';
COMMENT ON FUNCTION privacy_internal._mask_pseudonym(integer) IS
  'internal: keyed permutation of integer identifiers (FF1), as a masked role reads them';
COMMENT ON FUNCTION privacy_internal._mask_pseudonym(smallint) IS
  'internal: keyed permutation of smallint identifiers (FF1), as a masked role reads them';

-- What a masked role reads of one column: the rule and the expression.
CREATE FUNCTION privacy_internal._mask_column(tbl regclass, col name, privacy_by_default boolean,
                                              OUT rule text, OUT expression text)
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_mask_column';
COMMENT ON FUNCTION privacy_internal._mask_column(regclass, name, boolean) IS
  'internal: the mask a masked role reads a column through (rule, SQL expression)';

-- A column's own mask, checked: one expression over the table's columns.
CREATE FUNCTION privacy_internal._mask_check(tbl regclass, col name, expression text) RETURNS void
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_mask_check';
COMMENT ON FUNCTION privacy_internal._mask_check(regclass, name, text) IS
  'internal: refuses a column mask that is not one scalar expression over the table''s own row';

CREATE FUNCTION privacy_internal._mask_preloaded() RETURNS boolean
  LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'pgp_mask_preloaded';
COMMENT ON FUNCTION privacy_internal._mask_preloaded() IS
  'internal: was the library loaded at server start (the masking hooks in every session)';

-- How a role could read around the masks (mask_role refuses it, health()
-- reports it): it reads the server's files or the WAL (a superuser, a
-- replication role, a member of a server-file role, INHERIT or not: it can
-- SET ROLE), or it owns or may add triggers to registered tables (NEW and
-- OLD are not masked), or may reference them in a foreign key (the check
-- runs as the table's owner, through the casts and operators of the
-- referencing column's type, which are the role's own code), as itself or
-- as a role it can SET ROLE to.
CREATE FUNCTION privacy_internal._mask_reads_around(role oid, OUT files boolean, OUT tables text)
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT COALESCE(a.rolsuper OR a.rolreplication
                  OR pg_catalog.pg_has_role(a.oid, 'pg_read_server_files', 'MEMBER')
                  OR pg_catalog.pg_has_role(a.oid, 'pg_write_server_files', 'MEMBER')
                  OR pg_catalog.pg_has_role(a.oid, 'pg_execute_server_program', 'MEMBER'), false),
         (SELECT pg_catalog.string_agg(t.tbl::text, ', ' ORDER BY t.tbl::text)
            FROM privacy.registered_table t
            JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.tbl
           WHERE pg_catalog.pg_has_role(a.oid, c.relowner, 'MEMBER')
              OR EXISTS (SELECT FROM pg_catalog.pg_roles g
                          WHERE pg_catalog.pg_has_role(a.oid, g.oid, 'MEMBER')
                            AND (pg_catalog.has_table_privilege(g.oid, t.tbl, 'TRIGGER')
                                 OR pg_catalog.has_any_column_privilege(g.oid, t.tbl, 'REFERENCES'))))
    FROM pg_catalog.pg_roles a
   WHERE a.oid OPERATOR(pg_catalog.=) role
$$;
COMMENT ON FUNCTION privacy_internal._mask_reads_around(oid) IS
  'internal: how a role could read around the masks: the server''s files, or registered tables it owns, may add triggers to or may reference';

------------------------------------------------------------------------
-- The API
------------------------------------------------------------------------

CREATE FUNCTION privacy.mask_role(role name, privacy_by_default boolean DEFAULT false) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  r      record;
  around record;
  writes text;
BEGIN
  IF role IS NULL OR privacy_by_default IS NULL THEN
    RAISE EXCEPTION 'role and privacy_by_default must not be null' USING ERRCODE = '22004';
  END IF;
  SELECT a.oid INTO r FROM pg_catalog.pg_roles a
   WHERE a.rolname OPERATOR(pg_catalog.=) mask_role.role;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'role "%" does not exist', role USING ERRCODE = '42704';
  END IF;
  -- A role that reads around the masks: masking it would be a promise the
  -- database cannot keep.
  SELECT x.files, x.tables INTO around FROM privacy_internal._mask_reads_around(r.oid) x;
  IF around.files THEN
    RAISE EXCEPTION 'role "%" cannot be masked', role
      USING ERRCODE = '42501',
            DETAIL = 'A superuser, a replication role and a member of pg_read_server_files, '
                     'pg_write_server_files or pg_execute_server_program can read the data without the planner.';
  END IF;
  IF around.tables IS NOT NULL THEN
    RAISE EXCEPTION 'role "%" cannot be masked', role
      USING ERRCODE = '42501',
            DETAIL = pg_catalog.format('It owns, may add triggers to, or may reference in a foreign key, registered tables: %s. '
                                       'Its triggers, and its code in a foreign-key check, would see their rows in clear.', around.tables),
            HINT = 'Let another role own the tables, and revoke TRIGGER and REFERENCES.';
  END IF;
  -- The masks are applied by hooks every session has only when the
  -- library is loaded at server start.
  IF NOT privacy_internal._mask_preloaded() THEN
    RAISE EXCEPTION 'masking needs pg_privacy in shared_preload_libraries'
      USING ERRCODE = '55000',
            DETAIL = 'Sessions that have not loaded the library would read the tables unmasked.',
            HINT = 'Add pg_privacy to shared_preload_libraries in postgresql.conf and restart the server.';
  END IF;
  INSERT INTO privacy.masked_role AS m (role, privacy_by_default, masked_by)
       VALUES (r.oid::regrole, mask_role.privacy_by_default, privacy_internal._invoker())
  ON CONFLICT ON CONSTRAINT masked_role_pkey DO UPDATE
     SET privacy_by_default = EXCLUDED.privacy_by_default,
         masked_at = EXCLUDED.masked_at, masked_by = EXCLUDED.masked_by;
  -- Plans made before (prepared statements, functions) are made again.
  PERFORM privacy_internal._invalidate(t.tbl) FROM privacy.registered_table t;
  PERFORM privacy_internal._invalidate('privacy.masked_role'::pg_catalog.regclass);
  PERFORM privacy_internal._audit('mask.role', role::text,
                         pg_catalog.jsonb_build_object('privacy_by_default', privacy_by_default));
  -- A masked role writes no registered table it reads masked (its writes
  -- are refused): say where it may, so that the DBA knows.
  SELECT pg_catalog.string_agg(t.tbl::text, ', ' ORDER BY t.tbl::text) INTO writes
    FROM privacy.registered_table t
   WHERE pg_catalog.has_table_privilege(r.oid, t.tbl, 'INSERT, UPDATE');
  IF writes IS NOT NULL THEN
    RAISE WARNING 'masked role "%" may write registered tables: %', role, writes
      USING DETAIL = 'While it is masked its writes to them are refused: their checks and errors would show or test their values in clear.',
            HINT = 'Give masked roles read access only, and write as a role that is not masked.';
  END IF;
END
$$;
COMMENT ON FUNCTION privacy.mask_role(name, boolean) IS
  'the role reads every declared personal column of registered tables masked by its category; with privacy_by_default undeclared columns read as NULL';

CREATE FUNCTION privacy.unmask_role(role name) RETURNS boolean
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  rid oid;
BEGIN
  IF role IS NULL THEN
    RAISE EXCEPTION 'role must not be null' USING ERRCODE = '22004';
  END IF;
  SELECT a.oid INTO rid FROM pg_catalog.pg_roles a WHERE a.rolname OPERATOR(pg_catalog.=) unmask_role.role;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'role "%" does not exist', role USING ERRCODE = '42704';
  END IF;
  DELETE FROM privacy.masked_role m WHERE m.role::oid OPERATOR(pg_catalog.=) rid;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  PERFORM privacy_internal._invalidate(t.tbl) FROM privacy.registered_table t;
  PERFORM privacy_internal._invalidate('privacy.masked_role'::pg_catalog.regclass);
  PERFORM privacy_internal._audit('mask.unmask_role', role::text);
  RETURN true;
END
$$;
COMMENT ON FUNCTION privacy.unmask_role(name) IS
  'the role reads registered tables unmasked again; false if it was not masked';

CREATE FUNCTION privacy.set_mask(tbl regclass, col name, expression text) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
BEGIN
  IF tbl IS NULL OR col IS NULL THEN
    RAISE EXCEPTION 'table and column must not be null' USING ERRCODE = '22004';
  END IF;
  PERFORM privacy_internal._check_owner(tbl);
  IF NOT EXISTS (SELECT FROM privacy.registered_column c
                  WHERE c.tbl OPERATOR(pg_catalog.=) set_mask.tbl AND c.col OPERATOR(pg_catalog.=) set_mask.col) THEN
    RAISE EXCEPTION 'column "%" of relation % is not declared', col, tbl
      USING ERRCODE = '42704',
            HINT = 'Declare it with privacy.register_column() first.';
  END IF;
  IF expression IS NOT NULL THEN
    PERFORM privacy_internal._mask_check(tbl, col, expression);
  END IF;
  UPDATE privacy.registered_column c SET mask = expression
   WHERE c.tbl OPERATOR(pg_catalog.=) set_mask.tbl AND c.col OPERATOR(pg_catalog.=) set_mask.col;
  PERFORM privacy_internal._invalidate(tbl);
  PERFORM privacy_internal._audit('mask.set_mask', tbl::text,
                         pg_catalog.jsonb_build_object('column', col, 'expression', expression));
END
$$;
COMMENT ON FUNCTION privacy.set_mask(regclass, name, text) IS
  'the expression a masked role reads a declared column through, instead of its category''s mask (NULL: the category''s again)';

-- What masked roles read of each declared column (privacy_by_default
-- adds: undeclared columns read as NULL).
CREATE VIEW privacy.column_masks AS
SELECT c.tbl AS table_name, c.col AS column_name, c.category, m.rule, m.expression
  FROM privacy.registered_column c
  CROSS JOIN LATERAL privacy_internal._mask_column(c.tbl, c.col, false) m;
COMMENT ON VIEW privacy.column_masks IS
  'pg_privacy: the mask a masked role reads each declared column through';
-- Data-subject rights, the subject engine's first two phases: finding a
-- subject across every registered table (find), and what the law keeps of
-- it (decide: legal minimums, holds, consent).  The rights built on them:
-- requests and their deadlines (71_subject_requests.sql), export
-- (72_subject_export.sql), restriction (73_subject_restrict.sql), erasure
-- (74_subject_erase.sql).  The C side is src/subject.c.
--
-- Finding a subject.  A subject is reached from one identifier (kind,
-- value), normalized by its kind.  Rows of a registered table whose owner
-- columns hold one identifier of the subject give the subject's other
-- identifiers (a subscription row ties a customer to a number): the search
-- follows them to a fixed point, at most 10 rounds and 500 identifiers.
-- Only owner columns link; a mention never pulls anyone in.
--
-- Reassigned identifiers.  privacy.set_subject_table() declares, per
-- table, which column's identifier is held only for a period
-- (validity_column, valid_from, valid_to: telco.subscription holds an
-- msisdn from valid_from to valid_to) and when a row's event happened
-- (event_time: telco.cdr.started_at).  A kind with a validity column is
-- "reassignable".  An identifier of a reassignable kind found through a
-- validity row is the subject's only during that row's period; one found
-- in a row with an event time is the subject's at that moment.  A row found
-- through a bounded identifier belongs to the subject only when its
-- validity overlaps, or its event time falls in, the identifier's period:
-- so the next holder of a number and the calls made from it are not the
-- subject's.  Starting from a reassignable identifier, the subject is its
-- holder at `at` (default now; the latest holder before that when nobody
-- holds it then).  Tables that declare no time take every row of the
-- identifier.
--
-- Columns stored transformed are searched through their transformation
-- (privacy_internal._transform of the normalized value); msisdn_fpe columns are
-- also read back (privacy_internal._msisdn_decrypt) to follow links.  Raw columns
-- of kind msisdn or email are searched by the normal form of what people
-- typed (privacy.lookup_value), which an expression index can serve;
-- privacy.missing_indexes lists identifying columns without a usable index.
--
-- Acting as the table's owner.  Every statement that reads or writes a
-- registered table runs as that table's owner in a security-restricted
-- operation with search_path pg_catalog, pg_temp (src/owner.c, through
-- src/subject.c: _subject_query and _subject_rows read, _subject_exec
-- writes; the restriction trigger reads the old rows the same way), never
-- as the extension owner or the caller: a cast to json of the owner's type
-- in the export, her trigger on the erasure's DELETE, her index
-- expressions run with her rights only.  These statements call nothing
-- the owner may not execute: the subject's identifiers travel as their
-- jsonb parameter, read by the pure C functions _subject_ids and
-- _subject_ids_span; keyed work (decrypting an msisdn_fpe column, keyed
-- references) is done by the extension on what the owner's query
-- returned, which is plain JSON and text.
--
-- Identifier columns (and the time columns that bound them) have built-in
-- types: text, varchar, char, smallint, integer, bigint or numeric
-- (timestamptz, timestamp or date), checked when declared
-- (register_column, set_subject_table) and again at every use
-- (privacy_internal._subject_check): a column changed since to a domain, an enum or
-- any type of the owner's stops export, erasure and restriction with 42804
-- until it is changed back or unregistered, and privacy.catalog_problems
-- lists it.  So nothing of the owner's is evaluated where the extension
-- computes (casting, matching, normalizing identifiers).
--
-- Nothing here writes a raw identifier outside the registered tables:
-- restrictions and requests keep privacy_internal._subject_ref() references, and
-- the audit log the same.

------------------------------------------------------------------------
-- Declarations
------------------------------------------------------------------------

CREATE TABLE privacy.subject_table (
  tbl             regclass PRIMARY KEY REFERENCES privacy.registered_table ON DELETE CASCADE,
  event_time      name,     -- when a row's event happened (timestamptz/date/timestamp)
  validity_column name,     -- the identifier column held only for a period
  valid_from      name,     -- period start (inclusive), NULL: since ever
  valid_to        name,     -- period end (exclusive), NULL: still held
  link_columns    name[],   -- owner identifier columns that tie identifiers together (NULL: all)
  source          text      -- where the data comes from (GDPR Art. 15(1)(g))
);
COMMENT ON TABLE privacy.subject_table IS
  'pg_privacy: how to find a data subject in a registered table: event time, validity of reassigned identifiers, linking columns, source';
SELECT pg_catalog.pg_extension_config_dump('privacy.subject_table', '');
CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE ON privacy.subject_table
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._catalog_changed();   -- (src/subject.c)
CREATE TRIGGER catalog_truncated AFTER TRUNCATE ON privacy.subject_table
  FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._catalog_changed();
ALTER TABLE privacy.subject_table ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;

-- Restricted identifiers (GDPR Art. 18), by keyed reference only.
CREATE TABLE privacy.restriction (
  kind          text        NOT NULL REFERENCES privacy.identifier_kind,
  subject_ref   text        NOT NULL,   -- privacy_internal._subject_ref(kind, value)
  span          tstzmultirange NOT NULL DEFAULT '{(,)}',  -- when the identifier was the subject's
  reason        text        NOT NULL,
  origin        text        NOT NULL CHECK (origin IN ('request', 'erasure')),
  until         timestamptz,            -- NULL: until lifted
  restricted_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
  restricted_by name        NOT NULL,
  PRIMARY KEY (kind, subject_ref),
  -- the key subject_ref was made with: a restriction made before a key
  -- change is matched under it (privacy_internal._restriction_refs)
  key_fingerprint text      NOT NULL DEFAULT privacy.key_fingerprint()
);
CREATE INDEX restriction_key ON privacy.restriction (key_fingerprint);
COMMENT ON TABLE privacy.restriction IS
  'pg_privacy: restricted data subjects (GDPR Art. 18) by keyed identifier reference; their rows can be stored and exported, not updated';
SELECT pg_catalog.pg_extension_config_dump('privacy.restriction', '');

-- The keys the restrictions in force were made with, one index probe each
-- (a restriction past its end binds no key), and the current key whenever
-- there is a restriction: a reference
-- made under it is matched even where its row names another key (one made
-- in a transaction that a key change overlapped, named on the update to
-- 0.8.0 after the key in force when the transaction began).  in_force
-- false (unrestrict_subject, which also lifts a request's restriction past
-- its end): also the keys of restrictions made at a request and past their
-- end, while pg_privacy.key_file lists them; one whose key is gone stays,
-- binding nothing.
CREATE FUNCTION privacy_internal._restriction_keys(in_force boolean DEFAULT true)
  RETURNS text[]
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
  WITH RECURSIVE k(fp) AS (
    SELECT pg_catalog.min(r.key_fingerprint) FROM privacy.restriction r
     WHERE r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()
        OR (NOT in_force AND r.origin OPERATOR(pg_catalog.=) 'request'
            AND privacy_internal._key_listed(r.key_fingerprint))
    UNION ALL
    SELECT (SELECT pg_catalog.min(r.key_fingerprint) FROM privacy.restriction r
             WHERE r.key_fingerprint OPERATOR(pg_catalog.>) k.fp
               AND (r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()
                    OR (NOT in_force AND r.origin OPERATOR(pg_catalog.=) 'request'
                        AND privacy_internal._key_listed(r.key_fingerprint))))
      FROM k WHERE k.fp IS NOT NULL),
  labels AS (SELECT COALESCE(pg_catalog.array_agg(k.fp) FILTER (WHERE k.fp IS NOT NULL), '{}') AS fps FROM k)
  SELECT CASE WHEN pg_catalog.cardinality(l.fps) OPERATOR(pg_catalog.=) 0
                OR privacy.key_fingerprint() OPERATOR(pg_catalog.=) ANY (l.fps) THEN l.fps
              ELSE l.fps OPERATOR(pg_catalog.||) privacy.key_fingerprint() END
    FROM labels l
$$;
COMMENT ON FUNCTION privacy_internal._restriction_keys(boolean) IS
  'internal: the fingerprints of the keys the restrictions in force (in_force false: and the listed keys of requested ones past their end) were made with, and the current one';

-- The references an identifier (kind, normalized value) has under each key
-- a restriction was made with: a restriction made before a key change
-- still matches.  A key pg_privacy.key_file no longer lists fails closed
-- (55000): what that key's restrictions cover cannot be told.
CREATE FUNCTION privacy_internal._restriction_refs(kind text, value text, in_force boolean DEFAULT true)
  RETURNS text[]
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT COALESCE(pg_catalog.array_agg(privacy_internal._audit_ref_under(k.fp, kind, value)), '{}')
    FROM pg_catalog.unnest(privacy_internal._restriction_keys(in_force)) k(fp)
   WHERE value IS NOT NULL
$$;
COMMENT ON FUNCTION privacy_internal._restriction_refs(text, text, boolean) IS
  'internal: an identifier''s references under every key a restriction was made with';

CREATE SEQUENCE privacy.subject_request_id_seq;
CREATE TABLE privacy.subject_request (
  id               bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('privacy.subject_request_id_seq'),
  kind             text        NOT NULL REFERENCES privacy.identifier_kind,
  subject_ref      text        NOT NULL,
  request          text        NOT NULL CHECK (request IN ('access', 'portability', 'erasure',
                                                            'rectification', 'restriction', 'objection')),
  received_at      timestamptz NOT NULL,
  extension_months integer     NOT NULL DEFAULT 0 CHECK (extension_months BETWEEN 0 AND 2),
  extension_reason text,
  closed_at        timestamptz,
  outcome          text,
  opened_by        name        NOT NULL,
  CHECK ((extension_months OPERATOR(pg_catalog.=) 0) = (extension_reason IS NULL)),
  CHECK ((closed_at IS NULL) = (outcome IS NULL))
);
CREATE INDEX subject_request_subject ON privacy.subject_request (subject_ref);
COMMENT ON TABLE privacy.subject_request IS
  'pg_privacy: data-subject requests (GDPR Art. 15-21) and their deadlines; subjects by keyed reference only';
SELECT pg_catalog.pg_extension_config_dump('privacy.subject_request', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.subject_request_id_seq', '');

------------------------------------------------------------------------
-- C helpers (src/subject.c)
------------------------------------------------------------------------

-- privacy.lookup_value under the name 0.2.0's missing_indexes proposed for
-- expression indexes: kept so that such an index survives the update.  The
-- statements search by the public name (one index serves consent, holds,
-- export, erasure and restriction), so missing_indexes proposes the index
-- on privacy.lookup_value, and the old one can be dropped.
CREATE FUNCTION privacy_internal._subject_key(mode text, value text, default_country text)
  RETURNS text
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_lookup_value';
COMMENT ON FUNCTION privacy_internal._subject_key(text, text, text) IS
  'internal: privacy.lookup_value under its 0.2.0 name, for expression indexes made then';

CREATE FUNCTION privacy_internal._subject_exec(tbl regclass, sql text, params jsonb)
  RETURNS bigint
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_subject_exec';
COMMENT ON FUNCTION privacy_internal._subject_exec(regclass, text, jsonb) IS
  'internal: one erasure statement run as the table owner in a security-restricted operation';

CREATE FUNCTION privacy_internal._subject_set_erasing(on_ boolean)
  RETURNS void
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_subject_set_erasing';
COMMENT ON FUNCTION privacy_internal._subject_set_erasing(boolean) IS
  'internal: marks this transaction as running erase_subject (reset at transaction end)';

CREATE FUNCTION privacy_internal._subject_erasing()
  RETURNS boolean
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_subject_erasing';
COMMENT ON FUNCTION privacy_internal._subject_erasing() IS
  'internal: true while erase_subject runs its statements';

CREATE FUNCTION privacy_internal._subject_query(tbl regclass, sql text, params jsonb)
  RETURNS jsonb
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_subject_query';
COMMENT ON FUNCTION privacy_internal._subject_query(regclass, text, jsonb) IS
  'internal: one generated read-only query over a table and the subject''s identifiers, run as the table owner in a security-restricted operation, through a kept prepared plan';

CREATE FUNCTION privacy_internal._subject_rows(tbl regclass, sql text, params jsonb)
  RETURNS TABLE(pri integer, m text, j jsonb, k text)
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_subject_rows';
COMMENT ON FUNCTION privacy_internal._subject_rows(regclass, text, jsonb) IS
  'internal: the rows of a generated read-only query over a table, run as the table owner in a security-restricted operation';

CREATE FUNCTION privacy_internal._subject_cache_get(key text)
  RETURNS text
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_subject_cache_get';
COMMENT ON FUNCTION privacy_internal._subject_cache_get(text) IS
  'internal: SQL generated from the catalog, cached per backend until a relcache invalidation';

CREATE FUNCTION privacy_internal._subject_cache_put(key text, value text)
  RETURNS text
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_subject_cache_put';
COMMENT ON FUNCTION privacy_internal._subject_cache_put(text, text) IS
  'internal: remember SQL generated from the catalog in the per-backend cache';

------------------------------------------------------------------------
-- Declaring how a table is searched
------------------------------------------------------------------------

-- The column's type, or an error naming what is wrong.
CREATE FUNCTION privacy_internal._subject_check_column(tbl regclass, col name, what text, time_column boolean)
  RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  typ regtype;
BEGIN
  SELECT a.atttypid::regtype INTO typ FROM pg_catalog.pg_attribute a
   WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attname OPERATOR(pg_catalog.=) col
     AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'column "%" of relation % does not exist', col, tbl
      USING ERRCODE = '42703', DETAIL = pg_catalog.format('It was given as %s.', what);
  END IF;
  IF time_column AND typ NOT IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype) THEN
    RAISE EXCEPTION '% column "%" of relation % must be a date or time stamp', what, col, tbl
      USING ERRCODE = '42804',
            DETAIL = pg_catalog.format('It has type %s.', typ);
  END IF;
END
$$;

CREATE FUNCTION privacy.set_subject_table(tbl regclass,
                                          event_time name DEFAULT NULL,
                                          validity_column name DEFAULT NULL,
                                          valid_from name DEFAULT NULL,
                                          valid_to name DEFAULT NULL,
                                          link_columns name[] DEFAULT NULL,
                                          source text DEFAULT NULL)
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  c name;
BEGIN
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'table must not be null' USING ERRCODE = '22004';
  END IF;
  IF NOT EXISTS (SELECT FROM privacy.registered_table t WHERE t.tbl OPERATOR(pg_catalog.=) set_subject_table.tbl) THEN
    RAISE EXCEPTION 'table % is not registered', tbl
      USING ERRCODE = '55000', HINT = 'Register it with privacy.register_table() first.';
  END IF;
  PERFORM privacy_internal._check_owner(tbl);
  IF event_time IS NOT NULL THEN
    PERFORM privacy_internal._subject_check_column(tbl, event_time, 'event_time', true);
  END IF;
  IF (validity_column IS NULL) <> (valid_from IS NULL AND valid_to IS NULL) THEN
    RAISE EXCEPTION 'a validity column needs valid_from or valid_to, and they need a validity column'
      USING ERRCODE = '22023',
            HINT = 'Pass validity_column => ''msisdn'', valid_from => ''valid_from'', valid_to => ''valid_to''.';
  END IF;
  IF validity_column IS NOT NULL THEN
    IF NOT EXISTS (SELECT FROM privacy.registered_column r
                    WHERE r.tbl OPERATOR(pg_catalog.=) set_subject_table.tbl
                      AND r.col OPERATOR(pg_catalog.=) validity_column
                      AND r.identifies IS NOT NULL AND r.link OPERATOR(pg_catalog.=) 'owner') THEN
      RAISE EXCEPTION 'column "%" of relation % is not a registered owner identifier', validity_column, tbl
        USING ERRCODE = '22023',
              HINT = 'Register it with privacy.register_column(..., identifies => ...).';
    END IF;
    IF valid_from IS NOT NULL THEN
      PERFORM privacy_internal._subject_check_column(tbl, valid_from, 'valid_from', true);
    END IF;
    IF valid_to IS NOT NULL THEN
      PERFORM privacy_internal._subject_check_column(tbl, valid_to, 'valid_to', true);
    END IF;
  END IF;
  IF link_columns IS NOT NULL THEN
    FOREACH c IN ARRAY link_columns LOOP
      IF c IS NULL OR NOT EXISTS (SELECT FROM privacy.registered_column r
                                   WHERE r.tbl OPERATOR(pg_catalog.=) set_subject_table.tbl
                                     AND r.col OPERATOR(pg_catalog.=) c
                                     AND r.identifies IS NOT NULL
                                     AND r.link OPERATOR(pg_catalog.=) 'owner') THEN
        RAISE EXCEPTION 'link column "%" of relation % is not a registered owner identifier', c, tbl
          USING ERRCODE = '22023';
      END IF;
    END LOOP;
  END IF;
  INSERT INTO privacy.subject_table AS s (tbl, event_time, validity_column, valid_from, valid_to, link_columns, source)
       VALUES (tbl, event_time, validity_column, valid_from, valid_to, link_columns, source)
  ON CONFLICT ON CONSTRAINT subject_table_pkey DO UPDATE
       SET event_time = EXCLUDED.event_time, validity_column = EXCLUDED.validity_column,
           valid_from = EXCLUDED.valid_from, valid_to = EXCLUDED.valid_to,
           link_columns = EXCLUDED.link_columns, source = EXCLUDED.source;
  -- Every backend forgets the SQL it generated from the old declaration.
  PERFORM privacy_internal._invalidate(tbl);
  PERFORM privacy_internal._audit('subject.set_table', tbl::text,
                         pg_catalog.jsonb_build_object('event_time', event_time,
                                                       'validity_column', validity_column,
                                                       'valid_from', valid_from, 'valid_to', valid_to,
                                                       'link_columns', link_columns, 'source', source));
END
$$;
COMMENT ON FUNCTION privacy.set_subject_table(regclass, name, name, name, name, name[], text) IS
  'declare how a data subject is found in a registered table: event time of a row, the identifier held only from valid_from to valid_to, the columns that link identifiers, and the data''s source';

-- Every identifying column that can be searched, with what the search needs.
-- type_problem is NULL when the column (and the table's time columns) still
-- have the built-in types the search computes with; otherwise it says what
-- is wrong, and every use of the column fails closed (privacy_internal._subject_check).
CREATE VIEW privacy_internal._subject_column AS
SELECT c.tbl, c.col, c.attnum, c.identifies AS kind, c.link, c.protect, c.domain,
       k.normalize AS mode, a.atttypid::regtype AS typ, a.attnotnull AS notnull,
       s.event_time, s.valid_from, s.valid_to,
       (s.validity_column OPERATOR(pg_catalog.=) c.col) IS TRUE AS is_validity,
       (c.link OPERATOR(pg_catalog.=) 'owner'
        AND (s.link_columns IS NULL OR c.col OPERATOR(pg_catalog.=) ANY (s.link_columns))
        AND (c.protect IS NULL OR c.protect OPERATOR(pg_catalog.=) 'msisdn_fpe')) AS links,
       EXISTS (SELECT FROM privacy.subject_table v
                 JOIN privacy.registered_column vc
                   ON vc.tbl OPERATOR(pg_catalog.=) v.tbl AND vc.col OPERATOR(pg_catalog.=) v.validity_column
                WHERE vc.identifies OPERATOR(pg_catalog.=) c.identifies) AS reassignable,
       s.source,
       CASE WHEN NOT privacy_internal._identifier_type_ok(a.atttypid)
            THEN pg_catalog.format('identifier column "%s" of relation %s has type %s',
                                   c.col, c.tbl, pg_catalog.format_type(a.atttypid, NULL))
            ELSE (SELECT pg_catalog.format('time column "%s" of relation %s has type %s',
                                           ta.attname, c.tbl, pg_catalog.format_type(ta.atttypid, NULL))
                    FROM pg_catalog.pg_attribute ta
                   WHERE ta.attrelid OPERATOR(pg_catalog.=) c.tbl AND NOT ta.attisdropped
                     AND ta.attname IN (s.event_time, s.valid_from, s.valid_to)
                     AND ta.atttypid NOT IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype)
                   ORDER BY ta.attnum LIMIT 1) END AS type_problem,
       -- a column declared protected whose table has no protect trigger
       -- (never protected, or unprotected since), or whose protection is
       -- not in force (its trigger switched off by a superuser): its values
       -- may be raw, or pseudonyms, and cannot be told apart; every search
       -- of it fails closed (src/subject.c)
       CASE WHEN c.protect IS NULL THEN NULL
            WHEN NOT privacy_internal._has_protect_trigger(c.tbl)
            THEN pg_catalog.format('column "%s" of relation %s is declared protected by %s, but the table has no protect trigger',
                                   c.col, c.tbl, c.protect)
            -- rows held before protect_in_batches() that
            -- privacy.rekey() has not converted yet: raw
            WHEN privacy_internal._raw_relation(c.tbl) IS NOT NULL
            THEN pg_catalog.format('relation %s holds rows from before it was protected that privacy.rekey() has not converted yet',
                                   privacy_internal._raw_relation(c.tbl))
            ELSE privacy_internal._protection_problem(c.tbl) END AS protect_problem
  FROM privacy.registered_column c
  JOIN privacy.identifier_kind k ON k.name OPERATOR(pg_catalog.=) c.identifies
  JOIN pg_catalog.pg_attribute a
    ON a.attrelid OPERATOR(pg_catalog.=) c.tbl AND a.attname OPERATOR(pg_catalog.=) c.col AND NOT a.attisdropped
  LEFT JOIN privacy.subject_table s ON s.tbl OPERATOR(pg_catalog.=) c.tbl
 WHERE c.protect IS NULL OR c.protect IN ('msisdn_fpe', 'pseudonym', 'email_pseudonym');
COMMENT ON VIEW privacy_internal._subject_column IS
  'internal: identifying columns a data subject can be searched by';

-- Fail closed on a column whose type is no longer one the search computes
-- with (a column changed to a domain, an enum or any type of the owner's
-- since it was declared): its casts, checks and operators are the owner's
-- code, and what it holds can no longer be matched as declared.
CREATE FUNCTION privacy_internal._subject_check(c privacy_internal._subject_column)
  RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF c.type_problem IS NOT NULL THEN
    RAISE EXCEPTION 'cannot search % for data subjects', c.tbl
      USING ERRCODE = '42804',
            DETAIL = pg_catalog.upper(pg_catalog.left(c.type_problem, 1)) || pg_catalog.substr(c.type_problem, 2)
                     || '; identifier columns must be text, varchar, char, smallint, integer, bigint or numeric, and time columns timestamptz, timestamp or date.',
            HINT = 'Change the column back to a built-in type, or unregister it (privacy.catalog_problems lists it).';
  END IF;
END
$$;

-- Fail closed on a column declared protected whose protection the search
-- cannot rely on (c.protect_problem): its values may be raw, and the search
-- matches their pseudonyms only.  Not called by the restriction trigger,
-- which reads a stored number both ways (73_subject_restrict.sql), so
-- that rows not yet converted by protect_in_batches() stay writable.
CREATE FUNCTION privacy_internal._subject_protect_check(c privacy_internal._subject_column)
  RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF c.protect_problem IS NOT NULL THEN
    RAISE EXCEPTION 'protection of table % is not in force', c.tbl
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.upper(pg_catalog.left(c.protect_problem, 1)) || pg_catalog.substr(c.protect_problem, 2)
                     || ': its values may be stored raw, and the search for a data subject matches their pseudonyms only.',
            HINT = CASE WHEN privacy_internal._raw_relation(c.tbl) IS NOT NULL
                        THEN 'Run CALL privacy.rekey() to the end (privacy.rekey_progress shows what is left), then try again.'
                        ELSE 'Protect the table (SELECT privacy.protect(tbl, rewrite_existing => true) converts the rows it holds), or declare the column without protect if it is meant to hold raw values.' END;
  END IF;
END
$$;

-- The searchable columns, from the per-backend cache (src/subject.c);
-- NULL when there is none.
CREATE FUNCTION privacy_internal._subject_cols()
  RETURNS privacy_internal._subject_column[]
  LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'pgp_subject_cols';
COMMENT ON FUNCTION privacy_internal._subject_cols() IS
  'internal: the searchable identifier columns, kept per backend until a relcache invalidation';

-- Identifying columns whose lookup has no index: every export and erasure
-- then scans the table.
CREATE VIEW privacy.missing_indexes AS
SELECT c.tbl AS table_name, c.col AS column_name, c.kind AS identifies, c.link,
       CASE WHEN c.protect IS NULL AND c.mode IN ('msisdn', 'email') THEN 'normal form'
            ELSE 'stored value' END AS lookup,
       CASE WHEN c.protect IS NULL AND c.mode IN ('msisdn', 'email')
            THEN pg_catalog.format('CREATE INDEX ON %s (privacy.lookup_value(%L, %I%s, %L))',
                                   c.tbl, c.mode, c.col,
                                   CASE WHEN c.typ OPERATOR(pg_catalog.=) 'text'::regtype THEN '' ELSE '::text' END,
                                   privacy_internal._default_country())
            ELSE pg_catalog.format('CREATE INDEX ON %s (%I)', c.tbl, c.col) END AS suggested_index
  FROM privacy_internal._subject_column c
 WHERE NOT EXISTS (
   SELECT FROM pg_catalog.pg_index i
    WHERE i.indrelid OPERATOR(pg_catalog.=) c.tbl
      AND CASE WHEN c.protect IS NULL AND c.mode IN ('msisdn', 'email')
               THEN i.indkey[0] OPERATOR(pg_catalog.=) 0
                    AND pg_catalog.pg_get_indexdef(i.indexrelid, 1, true)
                        OPERATOR(pg_catalog.~) ('(^|\.)lookup_value\(''' || c.mode || '''::text, '
                                                || pg_catalog.regexp_replace(pg_catalog.quote_ident(c.col), '([^a-zA-Z0-9_])', '\\\1', 'g')
                                                || '(::text)?, ''' || privacy_internal._default_country() || '''::text\)$')
               ELSE i.indkey[0] OPERATOR(pg_catalog.=) c.attnum END);
COMMENT ON VIEW privacy.missing_indexes IS
  'identifying columns without an index for the data-subject lookup (export, erasure, restriction), with the index to create';

------------------------------------------------------------------------
-- Finding a subject
------------------------------------------------------------------------

-- The SQL condition that a row (alias t) holds the identifier of a record
-- f(s text, span tstzmultirange, b boolean, k text, o boolean) in column c:
-- f.s is the value as the column stores it (prepared by _subject_params);
-- for a bounded span (f.b) the row's validity or event time must fall in
-- it.  A phone-number pseudonym is matched under the key of its row: while
-- a key rotation runs, the table's rows are under the current key or a
-- pending one, and f holds the number under each (f.k the key; f.o when
-- every row of the table is under the current one).  So a row under the
-- old key whose pseudonym equals another number's under the new key is
-- never taken for that number's.
CREATE FUNCTION privacy_internal._subject_match(c privacy_internal._subject_column, dc text)
  RETURNS text
  LANGUAGE sql STABLE
AS $$
  SELECT CASE
           -- (not on a table Citus manages, whose relations are never
           -- pending: a key change waits for it, src/sql/10_keys.sql; and
           -- Citus runs no STABLE function of a row in an UPDATE)
           WHEN c.protect OPERATOR(pg_catalog.=) 'msisdn_fpe' AND NOT privacy_internal._citus_table(c.tbl) THEN
             pg_catalog.format('t.%I OPERATOR(pg_catalog.=) f.s AND (f.o OR privacy_internal._row_key(t.tableoid, t.*) OPERATOR(pg_catalog.=) f.k)', c.col)
           WHEN c.protect IS NOT NULL THEN pg_catalog.format('t.%I OPERATOR(pg_catalog.=) f.s', c.col)
           WHEN c.mode IN ('msisdn', 'email') THEN
             pg_catalog.format('privacy.lookup_value(%L, t.%I%s, %L) OPERATOR(pg_catalog.=) f.s', c.mode, c.col,
                               CASE WHEN c.typ OPERATOR(pg_catalog.=) 'text'::regtype THEN '' ELSE '::text' END, dc)
           WHEN c.typ IN ('text'::regtype, 'varchar'::regtype) THEN pg_catalog.format('t.%I OPERATOR(pg_catalog.=) f.s', c.col)
           -- built-in types only (privacy_internal._subject_check): their casts
           ELSE pg_catalog.format('t.%I OPERATOR(pg_catalog.=) f.s::pg_catalog.%s', c.col,
                                  (SELECT y.typname FROM pg_catalog.pg_type y WHERE y.oid OPERATOR(pg_catalog.=) c.typ))
         END
      || CASE
           WHEN c.is_validity THEN
             pg_catalog.format(' AND (NOT f.b OR f.span OPERATOR(pg_catalog.&&) pg_catalog.tstzrange(t.%s::timestamptz, t.%s::timestamptz, ''[)''))',
                               COALESCE(pg_catalog.quote_ident(c.valid_from), 'NULL'),
                               COALESCE(pg_catalog.quote_ident(c.valid_to), 'NULL'))
           WHEN c.event_time IS NOT NULL THEN
             pg_catalog.format(' AND (NOT f.b OR f.span OPERATOR(pg_catalog.@>) t.%I::timestamptz)', c.event_time)
           ELSE ''
         END
$$;

-- The identifier a column of row t holds, in normal form (NULL when the
-- column's transformation cannot be reversed), as the table's owner can
-- compute it: a column protected by msisdn_fpe gives its stored pseudonym,
-- which the caller decrypts (privacy_internal._subject_decrypt_expr) outside the
-- owner's query.
CREATE FUNCTION privacy_internal._subject_value_expr(c privacy_internal._subject_column, dc text)
  RETURNS text
  LANGUAGE sql STABLE
AS $$
  SELECT CASE
           WHEN c.protect OPERATOR(pg_catalog.=) 'msisdn_fpe' THEN pg_catalog.format('t.%I::pg_catalog.text', c.col)
           WHEN c.protect IS NOT NULL THEN 'NULL::pg_catalog.text'
           ELSE pg_catalog.format('privacy.lookup_value(%L, t.%I::pg_catalog.text, %L)', c.mode, c.col, dc)
         END
$$;

-- The domain whose key decrypts what _subject_value_expr gives for c, or
-- NULL when it is the identifier already.
CREATE FUNCTION privacy_internal._subject_decrypt_domain(c privacy_internal._subject_column)
  RETURNS text
  LANGUAGE sql STABLE
AS $$
  SELECT CASE WHEN c.protect OPERATOR(pg_catalog.=) 'msisdn_fpe' THEN c.domain END
$$;

-- The key of a row t of table tbl that holds phone-number pseudonyms
-- (below; the export reads it with each row): NULL for the current key
-- (every row of the table under it: f.o); a table Citus manages is never
-- pending (a key change waits for it), and Citus runs no STABLE function
-- of a row in an UPDATE: NULL there.
CREATE FUNCTION privacy_internal._subject_row_key_sql(tbl regclass)
  RETURNS text
  LANGUAGE sql STABLE
AS $$
  SELECT CASE WHEN NOT privacy_internal._citus_table(tbl)
              THEN 'CASE WHEN f.o THEN NULL::pg_catalog.text ELSE privacy_internal._row_key(t.tableoid, t.*) END'
              ELSE 'NULL::pg_catalog.text' END
$$;

-- The key under which a stored pseudonym of column c of row t is to be
-- decrypted: NULL for the current key (every row of the table under it:
-- f.o; or nothing to decrypt), else the key of the row
-- (privacy_internal._row_key) while a key rotation runs.
CREATE FUNCTION privacy_internal._subject_row_key_expr(c privacy_internal._subject_column)
  RETURNS text
  LANGUAGE sql STABLE
AS $$
  SELECT CASE WHEN c.protect OPERATOR(pg_catalog.=) 'msisdn_fpe' THEN privacy_internal._subject_row_key_sql(c.tbl)
              ELSE 'NULL::pg_catalog.text' END
$$;

-- The period for which an identifier found in column c of row t is the
-- subject's.
CREATE FUNCTION privacy_internal._subject_span_expr(c privacy_internal._subject_column)
  RETURNS text
  LANGUAGE sql STABLE
AS $$
  SELECT CASE
           WHEN c.is_validity THEN
             pg_catalog.format('pg_catalog.tstzmultirange(pg_catalog.tstzrange(t.%s::timestamptz, t.%s::timestamptz, ''[)''))',
                               COALESCE(pg_catalog.quote_ident(c.valid_from), 'NULL'),
                               COALESCE(pg_catalog.quote_ident(c.valid_to), 'NULL'))
           WHEN c.reassignable AND c.event_time IS NOT NULL THEN
             pg_catalog.format('pg_catalog.tstzmultirange(pg_catalog.tstzrange(t.%1$I::timestamptz, t.%1$I::timestamptz, ''[]''))',
                               c.event_time)
           ELSE '''{(,)}''::pg_catalog.tstzmultirange'
         END
$$;

-- For every searchable column, the subject's identifiers of its kind as
-- the column stores them: {"<table oid>.<attnum>": [{"s", "span", "b"}]}
-- (src/subject.c).  Every use fails closed on a column whose type changed
-- (privacy_internal._subject_check); protected columns get the value through
-- privacy_internal._transform; values that cannot be cast to a non-text column's
-- built-in type are left out.
CREATE FUNCTION privacy_internal._subject_params(kinds text[], vals text[], spans tstzmultirange[])
  RETURNS jsonb
  LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'pgp_subject_params';

-- The subject's identifiers for one column (alias f), taken from the
-- statement's parameter $1 (_subject_params).  The generated statements run
-- as the table's owner, so they read the identifiers from their parameter
-- with built-in functions only, never through an internal helper the owner
-- may not execute.
-- The identifiers of one column in the statement's parameter, as rows
-- (src/subject.c).  A function of its own, so that the planner counts a
-- handful of rows (ROWS 4), not jsonb_to_recordset's hundred, and probes
-- each partition's index instead of scanning the table.  Pure: it reads
-- nothing but its argument, so the table owners the statements run as may
-- execute it (granted to PUBLIC in 90_privileges.sql).
CREATE FUNCTION privacy_internal._subject_ids(params jsonb, key text)
  RETURNS TABLE(s text, span tstzmultirange, b boolean, k text, o boolean)
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE ROWS 4
  AS 'MODULE_PATHNAME', 'pgp_subject_ids';

CREATE FUNCTION privacy_internal._subject_ids_sql(key text)
  RETURNS text
  LANGUAGE sql IMMUTABLE
AS $$
  SELECT pg_catalog.format('privacy_internal._subject_ids($1, %L) f', key)
$$;

-- The FROM clause of one branch: the subject's identifiers for column c
-- joined to the table's rows that hold them.
CREATE FUNCTION privacy_internal._subject_from(c privacy_internal._subject_column, dc text)
  RETURNS text
  LANGUAGE sql STABLE
AS $$
  SELECT pg_catalog.format(
           '%s JOIN %s t ON %s',
           privacy_internal._subject_ids_sql(c.tbl::oid::text || '.' || c.attnum::text), c.tbl, privacy_internal._subject_match(c, dc))
$$;

-- The identifiers of a column with an event time, split by whether their
-- period is bounded (src/subject.c, _subject_ids_span): the bounded ones
-- also join on the event time between the bounds of the period, which
-- skips, per identifier, the partitions of a table partitioned by its
-- event time that lie outside it.  (Not for the others: an open period
-- also takes rows without an event time.)
CREATE FUNCTION privacy_internal._subject_ids_span(params jsonb, key text, bounded boolean)
  RETURNS TABLE(s text, span tstzmultirange, b boolean, lo timestamptz, hi timestamptz, k text, o boolean)
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE ROWS 4
  AS 'MODULE_PATHNAME', 'pgp_subject_ids_span';

-- The parts of column c's statements, in order: the identifiers (alias f)
-- and the condition joining the table's rows (alias t) to them.  One part
-- (all identifiers), or for a column with an event time two: bounded
-- periods first, then open ones.  Over a partitioned table, the bounded
-- part is run once per identifier (each: src/subject.c, _subject_exec),
-- f its value, period and the period's bounds as the parameters $2..$5:
-- its kept generic plan then reads only the partitions of that period
-- (pruned when it starts), where a join to all the identifiers plans and
-- probes every partition.
CREATE FUNCTION privacy_internal._subject_parts(c privacy_internal._subject_column, dc text)
  RETURNS TABLE(ids text, cond text, each boolean)
  LANGUAGE sql STABLE
AS $$
  SELECT x.ids, x.cond, x.each
    FROM (SELECT 1 AS o, privacy_internal._subject_ids_sql(c.tbl::oid::text || '.' || c.attnum::text) AS ids,
                 privacy_internal._subject_match(c, dc) AS cond, false AS each
           WHERE c.event_time IS NULL OR c.is_validity
          UNION ALL
          SELECT 2, CASE WHEN p.partitioned
                         THEN '(SELECT $2::pg_catalog.text AS s, $3::pg_catalog.tstzmultirange AS span, true AS b,'
                              ' $4::pg_catalog.timestamptz AS lo, $5::pg_catalog.timestamptz AS hi,'
                              ' $6::pg_catalog.text AS k, $7::pg_catalog.bool AS o) f'
                         ELSE pg_catalog.format('privacy_internal._subject_ids_span($1, %L, true) f',
                                                c.tbl::oid::text || '.' || c.attnum::text) END,
                 privacy_internal._subject_match(c, dc)
                 || pg_catalog.format(' AND t.%1$I::timestamptz OPERATOR(pg_catalog.>=) f.lo AND t.%1$I::timestamptz OPERATOR(pg_catalog.<=) f.hi',
                                      c.event_time),
                 p.partitioned
            FROM (SELECT EXISTS (SELECT FROM pg_catalog.pg_class k
                                  WHERE k.oid OPERATOR(pg_catalog.=) c.tbl
                                    AND k.relkind OPERATOR(pg_catalog.=) 'p') AS partitioned) p
           WHERE c.event_time IS NOT NULL AND NOT c.is_validity
          UNION ALL
          SELECT 3, pg_catalog.format('privacy_internal._subject_ids_span($1, %L, false) f', c.tbl::oid::text || '.' || c.attnum::text),
                 privacy_internal._subject_match(c, dc), false
           WHERE c.event_time IS NOT NULL AND NOT c.is_validity) x
   ORDER BY x.o
$$;

-- The erasure's statements for column c (verb delete: its rows; ctid: the
-- ctids of its rows, for an ordinary table only, so never run per
-- identifier; scrub: its mentions set
-- to NULL), without the keep condition the caller adds,
-- for the identifiers params holds: built once per backend and kept
-- (privacy_internal._subject_cache_get) until the catalog changes.  A
-- statement run once per identifier begins "/* per identifier <key> */"
-- (_subject_parts).
CREATE FUNCTION privacy_internal._subject_stmts(verb text, c privacy_internal._subject_column, dc text, params jsonb)
  RETURNS text[]
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  k      text := c.tbl::oid::text || '.' || c.attnum::text;
  ck     text := verb || ':' || k || ':' || dc;
  cached text := privacy_internal._subject_cache_get(ck);
  stmts  text[];
BEGIN
  IF cached IS NULL THEN
    SELECT pg_catalog.array_agg(
             CASE WHEN p.each THEN '/* per identifier ' || k || ' */ ' ELSE '' END
             || pg_catalog.format(
             CASE verb WHEN 'delete' THEN 'DELETE FROM %1$s t USING %2$s WHERE %3$s'
                       WHEN 'ctid' THEN 'SELECT t.ctid FROM %2$s JOIN %1$s t ON %3$s'
                       ELSE 'UPDATE %1$s t SET %4$I = NULL FROM %2$s WHERE %3$s' END,
             c.tbl, p.ids, p.cond, c.col))
      INTO stmts
      FROM privacy_internal._subject_parts(c, dc) p;
    cached := privacy_internal._subject_cache_put(ck, stmts::text);
  END IF;
  stmts := cached::text[];
  IF pg_catalog.cardinality(stmts) OPERATOR(pg_catalog.=) 1 THEN
    RETURN stmts;
  END IF;
  -- bounded, then open periods: only those the subject has
  RETURN CASE WHEN params OPERATOR(pg_catalog.->) k OPERATOR(pg_catalog.@>) '[{"b": true}]'::jsonb
              THEN ARRAY[stmts[1]] ELSE '{}'::text[] END
         OPERATOR(pg_catalog.||)
         CASE WHEN params OPERATOR(pg_catalog.->) k OPERATOR(pg_catalog.@>) '[{"b": false}]'::jsonb
              THEN ARRAY[stmts[2]] ELSE '{}'::text[] END;
END
$$;

-- A reassignable identifier's subject is its holder at `at` (default
-- now; the latest holder before that when nobody holds it then): the
-- period it held the identifier, NULL when no validity row holds it (the
-- search then takes every row of it).  Run by the search (src/engine.c)
-- for a reassignable starting identifier only.
CREATE FUNCTION privacy_internal._subject_holder_span(kind text, norm text, at timestamptz)
  RETURNS tstzmultirange
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  dc       text := privacy_internal._default_country();
  c        privacy_internal._subject_column;
  params   jsonb;
  rs       tstzrange[];
  ranges   tstzrange[];
  chosen   tstzmultirange;
BEGIN
  at := COALESCE(at, pg_catalog.now());
  IF EXISTS (SELECT FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc WHERE sc.kind OPERATOR(pg_catalog.=) _subject_holder_span.kind
                AND sc.is_validity) THEN
    params := privacy_internal._subject_params(ARRAY[kind], ARRAY[norm], ARRAY['{(,)}'::tstzmultirange]);
    ranges := '{}';
    FOR c IN SELECT * FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc
              WHERE sc.kind OPERATOR(pg_catalog.=) _subject_holder_span.kind AND sc.is_validity LOOP
      IF params OPERATOR(pg_catalog.?) (c.tbl::oid::text || '.' || c.attnum::text) THEN
        -- read as the table's owner
        rs := (privacy_internal._subject_query(c.tbl,
                 pg_catalog.format('SELECT pg_catalog.to_jsonb(pg_catalog.array_agg(pg_catalog.tstzrange(t.%s::pg_catalog.timestamptz, t.%s::pg_catalog.timestamptz, ''[)''))::pg_catalog.text) FROM %s',
                                   COALESCE(pg_catalog.quote_ident(c.valid_from), 'NULL'),
                                   COALESCE(pg_catalog.quote_ident(c.valid_to), 'NULL'),
                                   privacy_internal._subject_from(c, dc)),
                 params) OPERATOR(pg_catalog.#>>) '{}')::tstzrange[];
        ranges := ranges OPERATOR(pg_catalog.||) COALESCE(rs, '{}');
      END IF;
    END LOOP;
    IF pg_catalog.cardinality(ranges) OPERATOR(pg_catalog.>) 0 THEN
      SELECT pg_catalog.range_agg(x) INTO chosen FROM pg_catalog.unnest(ranges) x
       WHERE x OPERATOR(pg_catalog.@>) at;
      IF chosen IS NULL THEN
        -- nobody holds it at `at`: its latest holder before, else the first after
        SELECT pg_catalog.tstzmultirange(x) INTO chosen FROM pg_catalog.unnest(ranges) x
         ORDER BY (pg_catalog.lower(x) OPERATOR(pg_catalog.<=) at) DESC,
                  CASE WHEN pg_catalog.lower(x) OPERATOR(pg_catalog.<=) at THEN pg_catalog.lower(x) END DESC NULLS LAST,
                  pg_catalog.lower(x)
         LIMIT 1;
      END IF;
      RETURN chosen;
    END IF;
  END IF;

  RETURN NULL;
END
$$;

-- The search's queries, built from the catalog (kept per backend by
-- src/engine.c): for each searchable owner column of a linking table, the
-- rows holding one of the subject's identifiers of its column, and from
-- them every linking column's identifier with its period, as
-- "table|key|query".  The engine runs, per table and round, the union of
-- the queries of the columns that have identifiers, as the table's owner.
-- Each gives what the owner can compute: an msisdn_fpe column's stored
-- pseudonym comes with its domain (d) and, while a key rotation runs, the
-- key of its row (r), and the engine decrypts it under that key.
CREATE FUNCTION privacy_internal._subject_link_sql(dc text)
  RETURNS text[]
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  c        privacy_internal._subject_column;
  t        record;
  link_sql text[] := '{}';
BEGIN
  FOR t IN SELECT sc.tbl FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc
            WHERE sc.link OPERATOR(pg_catalog.=) 'owner'
            GROUP BY sc.tbl
           HAVING pg_catalog.count(*) FILTER (WHERE sc.links) OPERATOR(pg_catalog.>=) 1
              AND pg_catalog.count(*) OPERATOR(pg_catalog.>=) 2
            ORDER BY sc.tbl::oid LOOP
    FOR c IN SELECT * FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc
              WHERE sc.tbl OPERATOR(pg_catalog.=) t.tbl AND sc.link OPERATOR(pg_catalog.=) 'owner'
              ORDER BY sc.attnum LOOP
      link_sql := link_sql OPERATOR(pg_catalog.||)
        (t.tbl::oid::text || '|' || c.tbl::oid::text || '.' || c.attnum::text || '|' ||
         pg_catalog.format('SELECT x.k, x.v, x.s, x.d, x.r FROM %s CROSS JOIN LATERAL (VALUES %s) x(k, v, s, d, r) WHERE x.v IS NOT NULL',
           privacy_internal._subject_from(c, dc),
           (SELECT pg_catalog.string_agg(pg_catalog.format('(%L, %s, %s, %L::pg_catalog.text, %s)', l.kind,
                                                           privacy_internal._subject_value_expr(l, dc),
                                                           privacy_internal._subject_span_expr(l),
                                                           privacy_internal._subject_decrypt_domain(l),
                                                           privacy_internal._subject_row_key_expr(l)), ', ' ORDER BY l.attnum)
              FROM pg_catalog.unnest(privacy_internal._subject_cols()) l
             WHERE l.tbl OPERATOR(pg_catalog.=) t.tbl AND l.links)));
    END LOOP;
  END LOOP;
  RETURN link_sql;
END
$$;

-- All identifiers of the subject reached from (kind, value): the fixed
-- point described at the top of this file (src/engine.c).
CREATE FUNCTION privacy_internal._subject_identifiers(kind text, value text, at timestamptz DEFAULT NULL,
                                             OUT kinds text[], OUT vals text[], OUT spans tstzmultirange[])
  LANGUAGE c STABLE
  SET search_path = pg_catalog, pg_temp
  AS 'MODULE_PATHNAME', 'pgp_subject_identifiers';
COMMENT ON FUNCTION privacy_internal._subject_identifiers(text, text, timestamptz) IS
  'internal: every identifier of the data subject reached from one, with the period it is the subject''s';

------------------------------------------------------------------------
-- Integration with retention and consent (when installed)
------------------------------------------------------------------------

-- Data-subject requests (GDPR Art. 12(3)): each request opened, extended
-- and closed with its deadline of one month (three when extended with a
-- reason), and the view of what is due.

------------------------------------------------------------------------
-- Requests and their deadlines (GDPR Art. 12(3))
------------------------------------------------------------------------

CREATE FUNCTION privacy.open_request(kind text, value text, request text,
                                     received_at timestamptz DEFAULT pg_catalog.now())
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  norm   text;
  new_id bigint;
BEGIN
  norm := privacy_internal._identifier_normalize(kind, value);
  IF request IS NULL OR request NOT IN ('access', 'portability', 'erasure', 'rectification', 'restriction', 'objection') THEN
    RAISE EXCEPTION 'invalid request "%"', request
      USING ERRCODE = '22023',
            HINT = 'Use one of: access, portability, erasure, rectification, restriction, objection.';
  END IF;
  IF received_at IS NULL OR received_at OPERATOR(pg_catalog.>) pg_catalog.now() THEN
    RAISE EXCEPTION 'a request cannot be received in the future'
      USING ERRCODE = '22023', DETAIL = pg_catalog.format('received_at is %s.', received_at);
  END IF;
  INSERT INTO privacy.subject_request (kind, subject_ref, request, received_at, opened_by)
       VALUES (kind, privacy_internal._audit_ref(kind, norm), request, received_at, privacy_internal._invoker())
    RETURNING id INTO new_id;
  PERFORM privacy_internal._audit('subject.request_open', request,
    pg_catalog.jsonb_build_object('id', new_id, 'kind', kind, 'subject', privacy_internal._audit_ref(kind, norm),
                                  'received_at', received_at));
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION privacy.open_request(text, text, text, timestamptz) IS
  'record a data-subject request (access, portability, erasure, rectification, restriction, objection); due one month after receipt; returns its id';

CREATE FUNCTION privacy.extend_request(request_id bigint, months integer, reason text)
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  r privacy.subject_request;
BEGIN
  IF months IS NULL OR months NOT BETWEEN 1 AND 2 THEN
    RAISE EXCEPTION 'a request can be extended by one or two months' USING ERRCODE = '22023',
      DETAIL = pg_catalog.format('months is %s.', COALESCE(months::text, 'NULL'));
  END IF;
  IF reason IS NULL OR pg_catalog.btrim(reason) OPERATOR(pg_catalog.=) '' THEN
    RAISE EXCEPTION 'an extension needs a reason' USING ERRCODE = '22023',
      HINT = 'GDPR Art. 12(3): the subject must be told why, within the first month.';
  END IF;
  SELECT * INTO r FROM privacy.subject_request q WHERE q.id OPERATOR(pg_catalog.=) request_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'request % does not exist', request_id USING ERRCODE = '22023';
  END IF;
  IF r.closed_at IS NOT NULL THEN
    RAISE EXCEPTION 'request % is closed', request_id USING ERRCODE = '55000';
  END IF;
  IF (r.extension_months OPERATOR(pg_catalog.+) months) OPERATOR(pg_catalog.>) 2 THEN
    RAISE EXCEPTION 'request % cannot be extended beyond two months', request_id USING ERRCODE = '55000',
      DETAIL = pg_catalog.format('It is already extended by %s month(s).', r.extension_months);
  END IF;
  IF pg_catalog.now() OPERATOR(pg_catalog.>) (r.received_at OPERATOR(pg_catalog.+) pg_catalog.make_interval(months => 1 OPERATOR(pg_catalog.+) r.extension_months)) THEN
    RAISE EXCEPTION 'request % is overdue and can no longer be extended', request_id USING ERRCODE = '55000';
  END IF;
  UPDATE privacy.subject_request q
     SET extension_months = q.extension_months OPERATOR(pg_catalog.+) months,
         extension_reason = COALESCE(q.extension_reason || '; ', '') || reason
   WHERE q.id OPERATOR(pg_catalog.=) request_id;
  PERFORM privacy_internal._audit('subject.request_extend', r.request,
    pg_catalog.jsonb_build_object('id', request_id, 'months', months, 'reason', reason));
END
$$;
COMMENT ON FUNCTION privacy.extend_request(bigint, integer, text) IS
  'extend the deadline of a request by one or two months (at most two in all) with the reason told to the subject (GDPR Art. 12(3))';

CREATE FUNCTION privacy.close_request(request_id bigint, outcome text)
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  r privacy.subject_request;
BEGIN
  IF outcome IS NULL OR pg_catalog.btrim(outcome) OPERATOR(pg_catalog.=) '' THEN
    RAISE EXCEPTION 'closing a request needs an outcome' USING ERRCODE = '22023',
      HINT = 'Say what was done, e.g. ''exported and sent'' or ''erased; invoices kept (bookkeeping)''.';
  END IF;
  SELECT * INTO r FROM privacy.subject_request q WHERE q.id OPERATOR(pg_catalog.=) request_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'request % does not exist', request_id USING ERRCODE = '22023';
  END IF;
  IF r.closed_at IS NOT NULL THEN
    RAISE EXCEPTION 'request % is already closed', request_id USING ERRCODE = '55000',
      DETAIL = pg_catalog.format('It was closed at %s.', r.closed_at);
  END IF;
  UPDATE privacy.subject_request q SET closed_at = pg_catalog.now(), outcome = close_request.outcome
   WHERE q.id OPERATOR(pg_catalog.=) request_id;
  PERFORM privacy_internal._audit('subject.request_close', r.request,
    pg_catalog.jsonb_build_object('id', request_id, 'outcome', outcome,
      'late', pg_catalog.now() OPERATOR(pg_catalog.>) (r.received_at OPERATOR(pg_catalog.+)
              pg_catalog.make_interval(months => 1 OPERATOR(pg_catalog.+) r.extension_months))));
END
$$;
COMMENT ON FUNCTION privacy.close_request(bigint, text) IS
  'close a data-subject request with its outcome';

CREATE VIEW privacy.request_deadlines AS
SELECT q.id, q.kind, q.subject_ref, q.request, q.received_at,
       q.received_at OPERATOR(pg_catalog.+) pg_catalog.make_interval(months => 1 OPERATOR(pg_catalog.+) q.extension_months) AS due_at,
       q.extension_months, q.extension_reason, q.closed_at, q.outcome,
       CASE WHEN q.closed_at IS NOT NULL THEN 'closed' ELSE 'open' END AS status,
       (COALESCE(q.closed_at, pg_catalog.now()) OPERATOR(pg_catalog.>)
        (q.received_at OPERATOR(pg_catalog.+) pg_catalog.make_interval(months => 1 OPERATOR(pg_catalog.+) q.extension_months))) AS overdue,
       CASE WHEN q.closed_at IS NULL THEN
         (q.received_at OPERATOR(pg_catalog.+) pg_catalog.make_interval(months => 1 OPERATOR(pg_catalog.+) q.extension_months))::date
         OPERATOR(pg_catalog.-) pg_catalog.now()::date END AS days_left
  FROM privacy.subject_request q;
COMMENT ON VIEW privacy.request_deadlines IS
  'data-subject requests with their due date (one month from receipt, plus extensions of up to two months), status and overdue flag (closed late counts as overdue)';

-- Export (GDPR Art. 15 and 20): everything the database holds about a
-- subject, found by 70_subject_find.sql, as one JSON document or in
-- chunks; counterparties masked, each table with its purpose, legal basis,
-- recipients, source and retention.

------------------------------------------------------------------------
-- Export
------------------------------------------------------------------------

-- The export reads a table in two steps.  The table's owner reads the
-- subject's rows, each as to_jsonb(t) (_subject_rows_sql, run by
-- _subject_query/_subject_rows as the owner in a security-restricted
-- operation): whatever the row's types bring (a cast to json of the
-- owner's type) runs with the owner's rights.  The extension then shows
-- each row from that JSON alone (_subject_row_json): protected numbers
-- decrypted, counterparties masked; nothing of the owner's runs there.

-- The JSON of one row of table tbl as the export shows it, as an
-- expression over x.j (the row as the owner's to_jsonb(t) gave it).  In
-- the subject's own rows (mention_col NULL) the owner identifiers are
-- shown in clear and every mention is masked; in another subject's row
-- that mentions the subject (mention_col), only that column is shown, the
-- row's owner identifiers and other personal data are masked, and
-- traffic and location data stay.
CREATE FUNCTION privacy_internal._subject_row_json(tbl regclass, mention_col name)
  RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r     record;
  parts text[] := '{}';
  clear text;
  clear_text text;
  masked text;
BEGIN
  FOR r IN SELECT rc.col, rc.category, rc.identifies, rc.link, rc.protect, rc.domain
             FROM privacy.registered_column rc WHERE rc.tbl OPERATOR(pg_catalog.=) _subject_row_json.tbl
            ORDER BY rc.attnum LOOP
    IF r.protect OPERATOR(pg_catalog.=) 'msisdn_fpe' THEN
      -- under the key of its row (x.k) while a key rotation runs
      clear := pg_catalog.format('CASE WHEN x.k IS NULL THEN privacy_internal._msisdn_decrypt(x.j OPERATOR(pg_catalog.->>) %1$L, %2$L)'
                                 ' ELSE privacy_internal._msisdn_under(x.k, x.j OPERATOR(pg_catalog.->>) %1$L, %2$L, true) END',
                                 r.col, r.domain);
      clear_text := clear;
    ELSE
      clear := pg_catalog.format('x.j OPERATOR(pg_catalog.->) %L', r.col);
      clear_text := pg_catalog.format('x.j OPERATOR(pg_catalog.->>) %L', r.col);
    END IF;
    masked := pg_catalog.format('CASE WHEN x.j OPERATOR(pg_catalog.->>) %L IS NOT NULL THEN ''(masked)'' END', r.col);
    IF mention_col IS NULL THEN
      IF r.link OPERATOR(pg_catalog.=) 'mention' THEN
        parts := parts OPERATOR(pg_catalog.||) pg_catalog.format('%L, %s', r.col,
                   CASE WHEN r.identifies OPERATOR(pg_catalog.=) 'msisdn'
                        THEN pg_catalog.format('privacy.mask_msisdn(%s)', clear_text)
                        ELSE masked END);
      ELSIF r.identifies IS NOT NULL AND r.protect OPERATOR(pg_catalog.=) 'msisdn_fpe' THEN
        parts := parts OPERATOR(pg_catalog.||) pg_catalog.format('%L, %s', r.col, clear);
      END IF;
    ELSE
      IF r.col OPERATOR(pg_catalog.=) mention_col THEN
        parts := parts OPERATOR(pg_catalog.||) pg_catalog.format('%L, %s', r.col, clear);
      ELSIF r.identifies OPERATOR(pg_catalog.=) 'msisdn' THEN
        parts := parts OPERATOR(pg_catalog.||) pg_catalog.format('%L, privacy.mask_msisdn(%s)', r.col, clear_text);
      ELSIF r.category NOT IN ('traffic', 'location') THEN
        parts := parts OPERATOR(pg_catalog.||) pg_catalog.format('%L, %s', r.col, masked);
      END IF;
    END IF;
  END LOOP;
  IF pg_catalog.cardinality(parts) OPERATOR(pg_catalog.=) 0 THEN
    RETURN 'x.j';
  END IF;
  -- jsonb_build_object takes at most 100 arguments: one call per 50 columns.
  RETURN 'x.j OPERATOR(pg_catalog.||) ' ||
         (SELECT pg_catalog.string_agg('pg_catalog.jsonb_build_object(' ||
                   pg_catalog.array_to_string(parts[g OPERATOR(pg_catalog.*) 50 OPERATOR(pg_catalog.+) 1 :
                                                    g OPERATOR(pg_catalog.*) 50 OPERATOR(pg_catalog.+) 50], ', ') || ')',
                   ' OPERATOR(pg_catalog.||) ')
            FROM pg_catalog.generate_series(0, (pg_catalog.cardinality(parts) OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog./) 50) g);
END
$$;

-- The query, run as the table's owner, returning the subject's rows of one
-- table, each once (by relation and ctid, on Citus by shard and ctid), as
-- (pri, mention column, to_jsonb(t)) (pri 0 = the subject's own row, 1 = a
-- row that mentions the subject), in order of pri; and the expression over x.pri, x.m, x.j that shows such a row
-- (_subject_row_json).  Both NULL when no column of the table can hold the
-- subject's identifiers.
CREATE FUNCTION privacy_internal._subject_rows_sql(tbl regclass, dc text, OUT q text, OUT shown text)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  c        privacy_internal._subject_column;
  branches text[] := '{}';
  whens    text[] := '{}';
  own_json text;
  key      text := tbl::oid::text || ':' || dc;
  cached   text := privacy_internal._subject_cache_get('rows:' || key);
  froms    text[];
  f        text;
  bounded  text[] := '{}';   -- the branches without those of open periods only
  -- a row is its relation and ctid; on Citus, where each shard's OID is
  -- its node's own (shards on two nodes may share one), its shard's name
  rid      text;
  -- the key of the row's phone-number pseudonyms while a key rotation
  -- runs (NULL: the current key), which shows them decrypted
  rkey     text := CASE WHEN EXISTS (SELECT FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc
                                      WHERE sc.tbl OPERATOR(pg_catalog.=) _subject_rows_sql.tbl
                                        AND sc.protect OPERATOR(pg_catalog.=) 'msisdn_fpe')
                        THEN privacy_internal._subject_row_key_sql(tbl)
                        ELSE 'NULL::pg_catalog.text' END;
BEGIN
  -- two entries (no separator that a column name could hold), used only
  -- together
  IF cached IS NOT NULL THEN
    shown := privacy_internal._subject_cache_get('shown:' || key);
    IF shown IS NOT NULL THEN
      q := NULLIF(cached, '');
      shown := NULLIF(shown, '');
      RETURN;
    END IF;
    shown := NULL;
  END IF;
  rid := CASE WHEN privacy_internal._citus_table(tbl)
              THEN 't.tableoid::pg_catalog.regclass::pg_catalog.text' ELSE 't.tableoid' END;
  FOR c IN SELECT * FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc WHERE sc.tbl OPERATOR(pg_catalog.=) _subject_rows_sql.tbl
            ORDER BY sc.link DESC, sc.attnum LOOP
    -- A table partitioned by its event time: each identifier's rows are
    -- read from the partitions of its period only (the bounds lo, hi of
    -- _subject_ids_span, open periods infinite, pruned per identifier as
    -- the query runs), and the rows without an event time, which only an
    -- open period takes, from the partition that holds them.
    IF c.event_time IS NOT NULL AND NOT c.is_validity
       AND EXISTS (SELECT FROM pg_catalog.pg_class k
                    WHERE k.oid OPERATOR(pg_catalog.=) tbl AND k.relkind OPERATOR(pg_catalog.=) 'p') THEN
      froms := ARRAY[
        pg_catalog.format('(SELECT * FROM privacy_internal._subject_ids_span($1, %1$L, true)'
                          ' UNION ALL SELECT * FROM privacy_internal._subject_ids_span($1, %1$L, false)) f'
                          ' JOIN %2$s t ON %3$s AND t.%4$I::pg_catalog.timestamptz OPERATOR(pg_catalog.>=) f.lo'
                          ' AND t.%4$I::pg_catalog.timestamptz OPERATOR(pg_catalog.<=) f.hi',
                          c.tbl::oid::text || '.' || c.attnum::text, c.tbl, privacy_internal._subject_match(c, dc), c.event_time),
        pg_catalog.format('privacy_internal._subject_ids_span($1, %1$L, false) f JOIN %2$s t ON %3$s AND t.%4$I IS NULL',
                          c.tbl::oid::text || '.' || c.attnum::text, c.tbl, privacy_internal._subject_match(c, dc), c.event_time)];
    ELSE
      froms := ARRAY[privacy_internal._subject_from(c, dc)];
    END IF;
    -- (of two froms, the second reads the rows of open periods only)
    IF c.link OPERATOR(pg_catalog.=) 'owner' THEN
      own_json := COALESCE(own_json, privacy_internal._subject_row_json(tbl, NULL));
      FOREACH f IN ARRAY froms LOOP
        branches := branches OPERATOR(pg_catalog.||)
          pg_catalog.format('SELECT 0 AS pri, NULL::pg_catalog.text AS m, %s AS o, t.ctid AS d, pg_catalog.to_jsonb(t.*) AS j, %s AS k FROM %s', rid, rkey, f);
      END LOOP;
      bounded := bounded OPERATOR(pg_catalog.||) branches[pg_catalog.cardinality(branches) OPERATOR(pg_catalog.-) pg_catalog.cardinality(froms) OPERATOR(pg_catalog.+) 1];
    ELSE
      FOREACH f IN ARRAY froms LOOP
        branches := branches OPERATOR(pg_catalog.||)
          pg_catalog.format('SELECT 1 AS pri, %L::pg_catalog.text AS m, %s AS o, t.ctid AS d, pg_catalog.to_jsonb(t.*) AS j, %s AS k FROM %s',
                            c.col, rid, rkey, f);
      END LOOP;
      bounded := bounded OPERATOR(pg_catalog.||) branches[pg_catalog.cardinality(branches) OPERATOR(pg_catalog.-) pg_catalog.cardinality(froms) OPERATOR(pg_catalog.+) 1];
      whens := whens OPERATOR(pg_catalog.||)
        pg_catalog.format('WHEN x.m OPERATOR(pg_catalog.=) %L THEN %s', c.col, privacy_internal._subject_row_json(tbl, c.col));
    END IF;
  END LOOP;
  IF pg_catalog.cardinality(branches) OPERATOR(pg_catalog.>) 0 THEN
    q := 'SELECT u.pri, u.m, u.j, u.k FROM (SELECT DISTINCT ON (u.o, u.d) u.pri, u.m, u.o, u.d, u.j, u.k FROM ('
         || pg_catalog.array_to_string(branches, ' UNION ALL ')
         || ') u ORDER BY u.o, u.d, u.pri) u ORDER BY u.pri, u.o, u.d';
    shown := 'CASE WHEN x.pri OPERATOR(pg_catalog.=) 0 THEN ' || COALESCE(own_json, 'NULL::pg_catalog.jsonb') || ' '
             || pg_catalog.array_to_string(whens, ' ') || ' END';
  END IF;
  PERFORM privacy_internal._subject_cache_put('shown:' || key, COALESCE(shown, ''));
  -- The same query without the branches of open periods only, for a
  -- subject whose identifiers of the table all have bounded periods
  -- (src/engine.c): over a table partitioned by its event time, every
  -- branch is one more scan of each partition to set up.
  PERFORM privacy_internal._subject_cache_put('rowsb:' || key,
    CASE WHEN pg_catalog.cardinality(bounded) OPERATOR(pg_catalog.>) 0
         THEN 'SELECT u.pri, u.m, u.j, u.k FROM (SELECT DISTINCT ON (u.o, u.d) u.pri, u.m, u.o, u.d, u.j, u.k FROM ('
              || pg_catalog.array_to_string(bounded, ' UNION ALL ')
              || ') u ORDER BY u.o, u.d, u.pri) u ORDER BY u.pri, u.o, u.d'
         ELSE '' END);
  PERFORM privacy_internal._subject_cache_put('rows:' || key, COALESCE(q, ''));
END
$$;

-- What the export says about each of the tables besides their rows (GDPR
-- Art. 15(1)): purpose, legal basis, recipients, retention, source and
-- categories, one element per table of tbls in its order (null for a table
-- not registered), all of them read by one statement, planned once.
CREATE FUNCTION privacy_internal._subject_tables_json(tbls oid[])
  RETURNS jsonb
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
  RETURN (
  SELECT COALESCE(pg_catalog.jsonb_agg(
           CASE WHEN t.tbl IS NOT NULL THEN
           pg_catalog.jsonb_build_object(
             'table', t.tbl::text,
             'purpose', p.name,
             'purpose_description', p.description,
             'legal_basis', p.legal_basis,
             'legal_basis_article', b.article,
             'recipients', pg_catalog.to_jsonb(p.recipients),
             'retention', CASE WHEN rp.tbl IS NOT NULL THEN
                            pg_catalog.jsonb_build_object('time_column', rp.time_column, 'keep', rp.keep,
                                                          'action', rp.action, 'keep_at_least', rp.keep_at_least) END,
             'source', s.source,
             'categories', (SELECT pg_catalog.jsonb_agg(DISTINCT rc.category)
                              FROM privacy.registered_column rc WHERE rc.tbl OPERATOR(pg_catalog.=) t.tbl)) END
           ORDER BY d.o), '[]')
    FROM pg_catalog.unnest(tbls) WITH ORDINALITY d(t, o)
    LEFT JOIN privacy.registered_table t ON t.tbl::pg_catalog.oid OPERATOR(pg_catalog.=) d.t
    LEFT JOIN privacy.purpose p ON p.name OPERATOR(pg_catalog.=) t.purpose
    LEFT JOIN privacy.legal_basis b ON b.name OPERATOR(pg_catalog.=) p.legal_basis
    LEFT JOIN privacy.subject_table s ON s.tbl OPERATOR(pg_catalog.=) t.tbl
    LEFT JOIN privacy.retention_policy rp ON rp.tbl OPERATOR(pg_catalog.=) t.tbl);
END
$$;

-- The export's header: everything but the rows (and the tables'
-- descriptions, _subject_tables_json), one statement over the arrays of
-- identifiers: planned once (see _consent_receipts in 40_consent.sql).
CREATE FUNCTION privacy_internal._subject_header(kind text, norm text, kinds text[], vals text[], spans tstzmultirange[])
  RETURNS jsonb
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
  RETURN (
  SELECT pg_catalog.jsonb_build_object(
           'format', 'pg_privacy.subject_export',
           'version', 1,
           'generated_at', pg_catalog.now(),
           'subject', pg_catalog.jsonb_build_object('kind', kind, 'value', norm),
           -- each identifier with the periods it was the subject's
           'identifiers', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                                    'kind', u.k, 'value', u.v,
                                    'periods', CASE WHEN u.s OPERATOR(pg_catalog.=) '{(,)}'::tstzmultirange THEN NULL
                                                    ELSE (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                                                                   'from', pg_catalog.lower(p), 'to', pg_catalog.upper(p)) ORDER BY p)
                                                            FROM pg_catalog.unnest(u.s) p) END) ORDER BY u.o), '[]')
                             FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(vals), pg_catalog.unnest(spans))
                                  WITH ORDINALITY u(k, v, s, o)),
           -- (under every key a restriction was made with)
           'restricted', EXISTS (SELECT FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(vals)) u(k, v)
                                   JOIN privacy.restriction x
                                     ON x.kind OPERATOR(pg_catalog.=) u.k
                                    AND x.subject_ref OPERATOR(pg_catalog.=) ANY (privacy_internal._restriction_refs(u.k, u.v))
                                  WHERE x.until IS NULL OR x.until OPERATOR(pg_catalog.>) pg_catalog.now()),
           -- a receipt per identifier with consent events
           'consent', (SELECT COALESCE(pg_catalog.jsonb_agg(c.receipt ORDER BY c.i), '[]')
                         FROM privacy_internal._consent_receipts(kinds, vals, NULL) c
                        WHERE pg_catalog.jsonb_array_length(c.receipt OPERATOR(pg_catalog.->) 'consents') OPERATOR(pg_catalog.>) 0),
           -- the open requests of the subject
           'requests', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                                 'id', d.id, 'request', d.request, 'received_at', d.received_at, 'due_at', d.due_at,
                                 'status', d.status) ORDER BY d.id), '[]')
                          FROM privacy.request_deadlines d
                         WHERE d.subject_ref OPERATOR(pg_catalog.=) ANY (r.refs) AND d.closed_at IS NULL))
    -- the identifiers' keyed references, computed once, under every key
    -- pg_privacy.key_file lists: a request opened before a key change is
    -- found (a request is a record; one made under a key no longer listed
    -- is not, and nothing fails)
    FROM (SELECT COALESCE(pg_catalog.array_agg(f.ref), '{}') AS refs
            FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(vals)) u(k, v),
                 pg_catalog.unnest(privacy_internal._audit_refs(u.k, u.v)) f(ref)) r);
END
$$;

-- The whole export, read in one snapshot (a STABLE function sees the
-- snapshot of the statement calling it): a concurrent erasure is seen
-- entirely or not at all (src/engine.c).
CREATE FUNCTION privacy_internal._subject_export(kind text, value text, at timestamptz)
  RETURNS jsonb
  LANGUAGE c STABLE
  SET search_path = pg_catalog, pg_temp
  AS 'MODULE_PATHNAME', 'pgp_subject_export';

-- The API entry (src/rights.c): refused on a Citus worker (0A000) and
-- while a table Citus manages is not ready for it (0A000, 55000:
-- src/citus.c, pgp_citus_refuse_unready); the identifier normalized
-- (22004, 22023, 22P02); the
-- document (_subject_export's engine) read in one snapshot taken at the
-- call; one audit entry (the kind, the subject's keyed reference, how many
-- identifiers, the rows per table).
CREATE FUNCTION privacy.export_subject(kind text, value text, at timestamptz DEFAULT NULL)
  RETURNS jsonb
  LANGUAGE c VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
  AS 'MODULE_PATHNAME', 'pgp_export_subject';
COMMENT ON FUNCTION privacy.export_subject(text, text, timestamptz) IS
  'everything the database holds about a data subject as one JSON document (GDPR Art. 15 and 20): rows grouped by table with purpose, legal basis, retention, recipients and source, counterparties masked, consent receipts and open requests; audited';

-- The same export as a stream: one row for the header, then per table one
-- row of metadata and its rows in chunks of chunk_rows, so a subject with
-- millions of rows is exported without one huge value.
CREATE FUNCTION privacy_internal._subject_export_stream(kind text, value text, chunk_rows integer, at timestamptz)
  RETURNS TABLE(part integer, section text, table_name regclass, data jsonb)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  dc     text := privacy_internal._default_country();
  ids    record;
  params jsonb;
  t      record;
  r      record;
  rs     record;
  chunk  jsonb[];
  cpri   integer;
  meta   boolean;
BEGIN
  IF chunk_rows IS NULL OR chunk_rows OPERATOR(pg_catalog.<) 1 THEN
    RAISE EXCEPTION 'chunk_rows must be at least 1' USING ERRCODE = '22023';
  END IF;
  ids := privacy_internal._subject_identifiers(kind, value, at);
  params := privacy_internal._subject_params(ids.kinds, ids.vals, ids.spans);
  part := 0;
  section := 'subject';
  table_name := NULL;
  data := privacy_internal._subject_header(kind, ids.vals[1], ids.kinds, ids.vals, ids.spans);
  RETURN NEXT;
  FOR t IN SELECT sc.tbl FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc GROUP BY sc.tbl ORDER BY sc.tbl::text LOOP
    CONTINUE WHEN NOT EXISTS (SELECT FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc
                               WHERE sc.tbl OPERATOR(pg_catalog.=) t.tbl
                                 AND params OPERATOR(pg_catalog.?) (sc.tbl::oid::text || '.' || sc.attnum::text));
    rs := privacy_internal._subject_rows_sql(t.tbl, dc);
    CONTINUE WHEN rs.q IS NULL;
    meta := false;
    chunk := '{}';
    cpri := 0;
    -- the rows, read as the table's owner (in order of pri); shown here
    FOR r IN EXECUTE 'SELECT x.pri, ' || rs.shown || ' AS j
                        FROM privacy_internal._subject_rows($1, $2, $3) x'
               USING t.tbl, rs.q, params LOOP
      IF NOT meta THEN
        part := part OPERATOR(pg_catalog.+) 1;
        section := 'table';
        table_name := t.tbl;
        data := privacy_internal._subject_tables_json(ARRAY[t.tbl::pg_catalog.oid]) OPERATOR(pg_catalog.->) 0;
        RETURN NEXT;
        meta := true;
      END IF;
      IF r.pri OPERATOR(pg_catalog.<>) cpri OR pg_catalog.cardinality(chunk) OPERATOR(pg_catalog.>=) chunk_rows THEN
        IF pg_catalog.cardinality(chunk) OPERATOR(pg_catalog.>) 0 THEN
          part := part OPERATOR(pg_catalog.+) 1;
          section := CASE cpri WHEN 0 THEN 'rows' ELSE 'mentions' END;
          data := pg_catalog.to_jsonb(chunk);
          RETURN NEXT;
        END IF;
        chunk := '{}';
        cpri := r.pri;
      END IF;
      chunk := chunk OPERATOR(pg_catalog.||) r.j;
    END LOOP;
    IF pg_catalog.cardinality(chunk) OPERATOR(pg_catalog.>) 0 THEN
      part := part OPERATOR(pg_catalog.+) 1;
      section := CASE cpri WHEN 0 THEN 'rows' ELSE 'mentions' END;
      table_name := t.tbl;
      data := pg_catalog.to_jsonb(chunk);
      RETURN NEXT;
    END IF;
  END LOOP;
END
$$;

CREATE FUNCTION privacy.export_subject_chunks(kind text, value text, chunk_rows integer DEFAULT 10000,
                                              at timestamptz DEFAULT NULL)
  RETURNS TABLE(part integer, section text, table_name regclass, data jsonb)
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  norm text;
  n    bigint := 0;
  tabs jsonb := '{}';
BEGIN
  -- audited: on the coordinator only (tables Citus manages are read as
  -- the others there, src/owner.c)
  PERFORM privacy_internal._citus_refuse_worker('export_subject_chunks');
  PERFORM privacy_internal._citus_refuse_unready('export_subject_chunks');
  norm := privacy_internal._identifier_normalize(kind, value);
  FOR part, section, table_name, data IN SELECT * FROM privacy_internal._subject_export_stream(kind, value, chunk_rows, at) LOOP
    IF section IN ('rows', 'mentions') THEN
      tabs := tabs OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(table_name::text,
                COALESCE((tabs OPERATOR(pg_catalog.->>) table_name::text)::bigint, 0)
                OPERATOR(pg_catalog.+) pg_catalog.jsonb_array_length(data));
    END IF;
    n := n OPERATOR(pg_catalog.+) 1;
    RETURN NEXT;
  END LOOP;
  PERFORM privacy_internal._audit('subject.export', NULL,
    pg_catalog.jsonb_build_object('kind', kind, 'subject', privacy_internal._audit_ref(kind, norm),
                                  'chunks', n, 'tables', tabs));
END
$$;
COMMENT ON FUNCTION privacy.export_subject_chunks(text, text, integer, timestamptz) IS
  'the export of export_subject as a stream: a header row, then per table a metadata row and its rows in chunks of chunk_rows (for subjects with very many rows); audited';
-- Restriction (GDPR Art. 18): a restricted subject's rows may be stored
-- and exported, not updated; the restriction check (src/subject.c) on
-- every subject table refuses an UPDATE that touches them.

------------------------------------------------------------------------
-- Restriction (GDPR Art. 18)
------------------------------------------------------------------------

-- The restriction trigger: AFTER UPDATE, FOR EACH STATEMENT, with the old
-- rows as a transition table (src/subject.c).  It fires for the table's
-- owner's (or any writer's) UPDATE and works in steps, so that the old
-- rows are read, and anything of their types evaluated, only with the
-- rights of the table's owner:
--   1. as the extension owner, _restrict_values_sql: NULL at once when
--      no restriction is in force; else the query over the old rows;
--   2. as the owner of the table, in a security-restricted operation: that
--      query, giving each distinct (column, stored value) of the old rows'
--      owner identifiers once, all built-in text;
--   3. as the extension owner, _restrict_hits: the keyed reference of each
--      distinct value (decrypted when stored by msisdn_fpe), against the
--      restrictions in force whatever their periods; NULL, the usual
--      answer, ends the check;
--   4. only for values some restriction holds: as the table's owner again,
--      _restrict_rows_sql's query, the rows that hold them with their
--      periods (validity or event time); and as the extension owner,
--      _restrict_check, the periods against the restrictions', an error on
--      a hit.
-- The period of a row is read only in step 4: an UPDATE of many rows
-- costs one reference per distinct identifier, not a value per row.

-- The owner identifier columns of fired (a registered table or a partition
-- of one) that the restriction check reads, each checked against its
-- declaration (fail closed on a column whose type changed since).
CREATE FUNCTION privacy_internal._restrict_cols(fired regclass)
  RETURNS SETOF privacy_internal._subject_column
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  reg regclass;
  c   privacy_internal._subject_column;
BEGIN
  SELECT a.relid INTO reg
    FROM (SELECT fired AS relid, 0 AS o
          UNION ALL
          SELECT p.relid, p.o FROM pg_catalog.pg_partition_ancestors(fired) WITH ORDINALITY p(relid, o)) a
    JOIN privacy.registered_table t ON t.tbl OPERATOR(pg_catalog.=) a.relid
   ORDER BY a.o LIMIT 1;
  FOR c IN SELECT * FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc
            WHERE sc.tbl OPERATOR(pg_catalog.=) reg AND sc.link OPERATOR(pg_catalog.=) 'owner'
              AND (sc.protect IS NULL OR sc.protect OPERATOR(pg_catalog.=) 'msisdn_fpe')
            ORDER BY sc.attnum LOOP
    PERFORM privacy_internal._subject_check(c);
    RETURN NEXT c;
  END LOOP;
END
$$;
COMMENT ON FUNCTION privacy_internal._restrict_cols(regclass) IS
  'internal: the owner identifier columns the restriction check of a table reads';

-- The restriction check of the library before 0.10.0 (a backend that
-- loaded it before the package was upgraded, until it ends): the owner's
-- query over all the old rows of fired with their periods, for
-- _restrict_check, or NULL when there is nothing to check.
CREATE FUNCTION privacy_internal._restrict_sql(fired regclass)
  RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM privacy.restriction r
                  WHERE r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()) THEN
    RETURN NULL;
  END IF;
  RETURN privacy_internal._restrict_rows_sql(fired, false);
END
$$;
COMMENT ON FUNCTION privacy_internal._restrict_sql(regclass) IS
  'internal: the restriction trigger''s query over the old rows, run as the table''s owner; NULL when no restriction is active';

-- Step 1: the owner's query over the old rows of fired, giving each
-- distinct (column, stored value) once as [[column, value], ...], or NULL
-- when there is nothing to check.  Kept per backend.  (Values compared
-- byte for byte, whatever the columns' collations: "C".)
CREATE FUNCTION privacy_internal._restrict_values_sql(fired regclass)
  RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  key   text := 'restrict_values:' || fired::oid::text;
  q     text;
BEGIN
  IF NOT EXISTS (SELECT FROM privacy.restriction r
                  WHERE r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()) THEN
    RETURN NULL;
  END IF;
  q := privacy_internal._subject_cache_get(key);
  IF q IS NOT NULL THEN
    RETURN NULLIF(q, '');
  END IF;
  SELECT 'SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(u.col, u.val)) FROM (SELECT DISTINCT x.col, x.val FROM ('
         || pg_catalog.string_agg(pg_catalog.format(
              'SELECT %L::pg_catalog.text AS col, t.%I::pg_catalog.text COLLATE pg_catalog."C" AS val FROM pgp_old_rows t WHERE t.%I IS NOT NULL',
              c.col, c.col, c.col), ' UNION ALL ' ORDER BY c.attnum)
         || ') x) u'
    INTO q
    FROM privacy_internal._restrict_cols(fired) c;
  PERFORM privacy_internal._subject_cache_put(key, COALESCE(q, ''));
  RETURN q;
END
$$;
COMMENT ON FUNCTION privacy_internal._restrict_values_sql(regclass) IS
  'internal: the restriction trigger''s query over the old rows (each distinct identifier once), run as the table''s owner; NULL when no restriction is in force';

-- The restrictions in force that hold a value of vals ([[column, stored
-- value, ...], ...]), whatever their periods: per distinct (column,
-- value), its keyed reference under every key a restriction was made with
-- (read once; the value decrypted first when stored by msisdn_fpe).
-- Its query is planned once per backend (a generic plan): it runs for
-- every UPDATE statement of a registered table while a restriction is in
-- force, and a plan made for each call's values cost more than the check.
CREATE FUNCTION privacy_internal._restrict_matches(fired regclass, vals jsonb)
  RETURNS TABLE(col text, val text, is_validity boolean, has_event boolean, reason text, span tstzmultirange)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  dc   text := privacy_internal._default_country();
  keys text[] := privacy_internal._restriction_keys();
  -- While relations of the table are pending under an older key
  -- (src/sql/36_rekey.sql), a stored phone number is read back under that
  -- key too: a restricted subject's row is refused whichever key it is
  -- under (and, rarely, another row whose number under the other key is
  -- hers: refused too, never hers let through).
  pend text[] := CASE WHEN EXISTS (SELECT FROM privacy.rekey_pending)
                      THEN privacy_internal._rekey_keys(fired) ELSE '{}' END;
BEGIN
  RETURN QUERY
  WITH n AS MATERIALIZED (
         SELECT d.col, d.val, c.kind, c.is_validity, c.event_time IS NOT NULL AS has_event, r.norm
           FROM (SELECT DISTINCT x OPERATOR(pg_catalog.->>) 0 AS col, x OPERATOR(pg_catalog.->>) 1 AS val
                   FROM pg_catalog.jsonb_array_elements(vals) x) d
           JOIN privacy_internal._restrict_cols(fired) c ON c.col OPERATOR(pg_catalog.=) d.col::name
           CROSS JOIN LATERAL (
             SELECT CASE WHEN c.protect IS NOT NULL THEN privacy_internal._msisdn_decrypt(d.val, c.domain)
                         ELSE privacy.lookup_value(c.mode, d.val, dc) END
             UNION
             SELECT privacy_internal._msisdn_under(k.fp, d.val, c.domain, true)
               FROM pg_catalog.unnest(pend) k(fp)
              WHERE c.protect IS NOT NULL
             -- and read as a raw number: a row written before the table was
             -- protected, or while it was not (a number read both ways
             -- that is a restricted subject's is refused either way)
             UNION
             SELECT privacy.lookup_value(c.mode, d.val, dc)
              WHERE c.protect IS NOT NULL) r(norm)),
       -- (each reference computed once per value and key)
       nk AS MATERIALIZED (
         SELECT n.col, n.val, n.kind, n.is_validity, n.has_event,
                privacy_internal._audit_ref_under(k.fp, n.kind, n.norm) AS ref
           FROM n CROSS JOIN pg_catalog.unnest(keys) k(fp)
          WHERE n.norm IS NOT NULL)
  SELECT nk.col, nk.val, nk.is_validity, nk.has_event, r.reason, r.span
    FROM nk JOIN privacy.restriction r
      ON r.kind OPERATOR(pg_catalog.=) nk.kind AND r.subject_ref OPERATOR(pg_catalog.=) nk.ref
   WHERE r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now();
END
$$;
COMMENT ON FUNCTION privacy_internal._restrict_matches(regclass, jsonb) IS
  'internal: the restrictions in force that hold an identifier value of the old rows, whatever their periods';

-- Step 3: of vals ([[column, stored value], ...] from step 2), the stored
-- values a restriction in force holds, whatever its period; NULL when
-- none.
-- (PL/pgSQL, whose plan is kept, where an SQL function with settings
-- would be parsed and planned at every call.)
CREATE FUNCTION privacy_internal._restrict_hits(fired regclass, vals jsonb)
  RETURNS text[]
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN (SELECT pg_catalog.array_agg(DISTINCT m.val) FROM privacy_internal._restrict_matches(fired, vals) m);
END
$$;
COMMENT ON FUNCTION privacy_internal._restrict_hits(regclass, jsonb) IS
  'internal: the old rows'' identifier values a restriction in force holds (whatever its period), or NULL';

-- Step 4: the owner's query over the old rows of fired that hold one of
-- the values $1 (text[], from step 3; filtered false: every old row),
-- giving [[column, stored value, period], ...] for _restrict_check.  Kept
-- per backend.
CREATE FUNCTION privacy_internal._restrict_rows_sql(fired regclass, filtered boolean DEFAULT true)
  RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  key   text := CASE WHEN filtered THEN 'restrict_rows:' ELSE 'restrict:' END || fired::oid::text;
  q     text;
BEGIN
  q := privacy_internal._subject_cache_get(key);
  IF q IS NOT NULL THEN
    RETURN NULLIF(q, '');
  END IF;
  SELECT 'SELECT pg_catalog.jsonb_agg(DISTINCT pg_catalog.jsonb_build_array(u.col, u.val, u.span)) FROM ('
         || pg_catalog.string_agg(pg_catalog.format(
              'SELECT %L::pg_catalog.text AS col, t.%I::pg_catalog.text AS val, %s AS span FROM pgp_old_rows t WHERE %s',
              c.col, c.col,
              CASE WHEN c.is_validity THEN
                     pg_catalog.format('pg_catalog.tstzrange(t.%s::pg_catalog.timestamptz, t.%s::pg_catalog.timestamptz, ''[)'')::pg_catalog.text',
                                       COALESCE(pg_catalog.quote_ident(c.valid_from), 'NULL'),
                                       COALESCE(pg_catalog.quote_ident(c.valid_to), 'NULL'))
                   WHEN c.event_time IS NOT NULL THEN
                     pg_catalog.format('t.%I::pg_catalog.timestamptz::pg_catalog.text', c.event_time)
                   ELSE 'NULL::pg_catalog.text' END,
              CASE WHEN filtered
                   THEN pg_catalog.format('t.%I::pg_catalog.text COLLATE pg_catalog."C" OPERATOR(pg_catalog.=) ANY ($1)', c.col)
                   ELSE pg_catalog.format('t.%I IS NOT NULL', c.col) END),
              ' UNION ALL ' ORDER BY c.attnum)
         || ') u'
    INTO q
    FROM privacy_internal._restrict_cols(fired) c;
  PERFORM privacy_internal._subject_cache_put(key, COALESCE(q, ''));
  RETURN q;
END
$$;
COMMENT ON FUNCTION privacy_internal._restrict_rows_sql(regclass, boolean) IS
  'internal: the restriction trigger''s query over the old rows holding restricted values (or all of them), with their periods, run as the table''s owner';

-- Step 4, the check: refuse the UPDATE when an old row belongs to a
-- restricted subject in the restriction's period.  vals: [[column, stored
-- value, period], ...] from _restrict_rows_sql's query.  The keyed
-- reference is computed once per distinct value.
CREATE FUNCTION privacy_internal._restrict_check(fired regclass, vals jsonb)
  RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  hit  record;
BEGIN
  IF vals IS NULL THEN
    RETURN;
  END IF;
  WITH e AS (SELECT x OPERATOR(pg_catalog.->>) 0 AS col, x OPERATOR(pg_catalog.->>) 1 AS val,
                    x OPERATOR(pg_catalog.->>) 2 AS span
               FROM pg_catalog.jsonb_array_elements(vals) x)
  SELECT h.col, h.reason INTO hit
    FROM privacy_internal._restrict_matches(fired, vals) h
    JOIN e ON e.col OPERATOR(pg_catalog.=) h.col AND e.val OPERATOR(pg_catalog.=) h.val
   WHERE CASE WHEN h.is_validity THEN h.span OPERATOR(pg_catalog.&&) e.span::tstzrange
              WHEN h.has_event THEN h.span OPERATOR(pg_catalog.=) '{(,)}'::tstzmultirange
                                    OR h.span OPERATOR(pg_catalog.@>) e.span::timestamptz
              ELSE true END
   LIMIT 1;
  IF hit.col IS NOT NULL THEN
    -- the UPDATE statement may name the subject: not logged
    PERFORM privacy_internal._raise_hidden('55000', 'cannot update a row of a data subject whose processing is restricted',
            pg_catalog.format('A row of %s belongs, by its column "%s", to a restricted subject (%s).',
                              fired, hit.col, hit.reason),
            'Rows of a restricted subject can be stored and exported only; lift the restriction with privacy.unrestrict_subject().');
  END IF;
END
$$;
COMMENT ON FUNCTION privacy_internal._restrict_check(regclass, jsonb) IS
  'internal: refuses the UPDATE when an old row''s identifier belongs to a restricted subject';

CREATE FUNCTION privacy_internal._restrict_trigger() RETURNS trigger
  LANGUAGE c
  AS 'MODULE_PATHNAME', 'pgp_restrict_trigger';
COMMENT ON FUNCTION privacy_internal._restrict_trigger() IS
  'internal: refuses UPDATE of rows of restricted data subjects (statement-level, transition table; reads the old rows as the table''s owner)';

-- Install the restriction trigger on every registered table with owner
-- identifiers (and on each partition, for UPDATEs aimed at a partition).
-- Not on a table Citus manages: Citus takes no statement trigger with a
-- transition table there, and the CREATE TRIGGER would fail the DDL that
-- ran this (every DDL of the database, while a restriction exists).  Such
-- a table shows in catalog_problems and health() instead, its restriction
-- check missing; restrict_subject refuses while Citus manages a
-- registered table (doc/operations.md, Citus).
CREATE FUNCTION privacy_internal._restrict_install()
  RETURNS integer
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r record;
  n integer := 0;
BEGIN
  FOR r IN SELECT p.relid
             FROM (SELECT DISTINCT sc.tbl FROM privacy_internal._subject_column sc
                    WHERE sc.link OPERATOR(pg_catalog.=) 'owner') t
             CROSS JOIN LATERAL (SELECT t.tbl::oid::regclass AS relid
                                 UNION SELECT pt.relid FROM pg_catalog.pg_partition_tree(t.tbl) pt) p
             JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) p.relid
            WHERE k.relkind IN ('r', 'p')
              AND NOT EXISTS (SELECT FROM pg_catalog.pg_trigger g
                               WHERE g.tgrelid OPERATOR(pg_catalog.=) p.relid
                                 AND g.tgname OPERATOR(pg_catalog.=) 'zx_pg_privacy_restrict')
              AND NOT privacy_internal._citus_table(p.relid)
            ORDER BY p.relid LOOP
    -- (checked again: the event trigger that follows each CREATE TRIGGER
    -- installs what is missing too)
    CONTINUE WHEN EXISTS (SELECT FROM pg_catalog.pg_trigger g
                           WHERE g.tgrelid OPERATOR(pg_catalog.=) r.relid
                             AND g.tgname OPERATOR(pg_catalog.=) 'zx_pg_privacy_restrict');
    EXECUTE pg_catalog.format(
      'CREATE TRIGGER zx_pg_privacy_restrict AFTER UPDATE ON %s REFERENCING OLD TABLE AS pgp_old_rows '
      'FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._restrict_trigger()', r.relid::regclass);
    n := n OPERATOR(pg_catalog.+) 1;
  END LOOP;
  RETURN n;
END
$$;

-- After CREATE TABLE and ALTER TABLE ... ATTACH PARTITION (called by the
-- event trigger, src/protect.c, and granted to no one): while subjects are
-- restricted, a partition created or attached under a subject table gets
-- its restriction check (statement triggers are not cloned to
-- partitions).  After those commands only: pg_restore creates the checks
-- of the tables it restores itself, after their indexes and constraints,
-- whose DDL would otherwise have installed them first and made its own
-- CREATE TRIGGER fail (and with it a restore in one transaction).
CREATE FUNCTION privacy_internal._restrict_on_partition_ddl()
  RETURNS void
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF EXISTS (SELECT FROM privacy.restriction) THEN
    PERFORM privacy_internal._restrict_install();
  END IF;
END
$$;

-- Why the restriction check of a subject table is not in force (see
-- privacy_internal._trigger_problem), or NULL.  The check is an AFTER UPDATE
-- statement trigger on the table and on each partition (statement triggers
-- are not cloned to partitions; _restrict_install adds them, also to
-- partitions created later).  It must be in force while any subject is
-- restricted.  Reads pg_catalog only.
CREATE FUNCTION privacy_internal._restrict_problem(tbl regclass) RETURNS text
  LANGUAGE sql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT privacy_internal._trigger_problem(tbl, 'zx_pg_privacy_restrict', 'privacy_internal._restrict_trigger()'::regprocedure,
                                  16, NULL)   -- 16: STATEMENT AFTER UPDATE
$$;

-- Record restrictions of the subject's identifiers; returns how many.
CREATE FUNCTION privacy_internal._restrict_ids(kinds text[], vals text[], spans tstzmultirange[],
                                      reason text, origin text, until timestamptz)
  RETURNS integer
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  n integer;
  c regclass;
BEGIN
  -- The restriction check cannot be put on a table Citus manages
  -- (_restrict_install): a restriction would not hold there, and DDL on it
  -- would be refused for as long as it lasts.  Fail closed, for
  -- restrict_subject and for the erasure that would restrict what it keeps.
  SELECT t.tbl INTO c
    FROM (SELECT DISTINCT sc.tbl FROM privacy_internal._subject_column sc
           WHERE sc.link OPERATOR(pg_catalog.=) 'owner') t
   WHERE privacy_internal._citus_table(t.tbl)
   ORDER BY t.tbl::text LIMIT 1;
  IF c IS NOT NULL THEN
    RAISE EXCEPTION 'cannot restrict a data subject while Citus manages subject table %', c
      USING ERRCODE = '0A000',
            DETAIL = 'A restriction (GDPR Art. 18) is enforced by a check on every table that holds data subjects'' rows, '
                     'and pg_privacy cannot put that check on tables Citus manages: updates of the subject''s rows there '
                     'would not be refused. An erasure restricts the rows it keeps (legal minimum, legal hold, referenced rows), '
                     'so an erasure that keeps rows refuses too, and changes nothing.',
            HINT = 'Erase the subject once its rows are past their legal minimum and no legal hold is on it, '
                   'or keep the tables with a legal minimum out of Citus (see doc/operations.md, Citus).';
  END IF;
  INSERT INTO privacy.restriction AS r (kind, subject_ref, span, reason, origin, until, restricted_by, key_fingerprint)
  SELECT u.k, privacy_internal._audit_ref(u.k, u.v), u.s, reason, origin, until, privacy_internal._invoker(),
         privacy.key_fingerprint()
    FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(vals), pg_catalog.unnest(spans)) u(k, v, s)
  ON CONFLICT ON CONSTRAINT restriction_pkey DO UPDATE
     SET span = r.span OPERATOR(pg_catalog.+) EXCLUDED.span,
         -- (the same reference made now: it is under the current key)
         key_fingerprint = EXCLUDED.key_fingerprint,
         reason = EXCLUDED.reason, origin = EXCLUDED.origin,
         until = CASE WHEN r.until IS NULL OR EXCLUDED.until IS NULL THEN NULL
                      ELSE GREATEST(r.until, EXCLUDED.until) END;
  GET DIAGNOSTICS n = ROW_COUNT;
  PERFORM privacy_internal._restrict_install();
  RETURN n;
END
$$;

CREATE FUNCTION privacy.restrict_subject(kind text, value text, reason text, at timestamptz DEFAULT NULL)
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  ids  record;
  n    integer;
BEGIN
  -- audited: on the coordinator only; refused while Citus manages a
  -- subject table (_restrict_ids: the check cannot be put there)
  PERFORM privacy_internal._citus_refuse_worker('restrict_subject');
  IF reason IS NULL OR pg_catalog.btrim(reason) OPERATOR(pg_catalog.=) '' THEN
    RAISE EXCEPTION 'a restriction needs a reason' USING ERRCODE = '22023',
      HINT = 'Say why processing is restricted, e.g. ''accuracy contested (Art. 18(1)(a))''.';
  END IF;
  ids := privacy_internal._subject_identifiers(kind, value, at);
  n := privacy_internal._restrict_ids(ids.kinds, ids.vals, ids.spans, reason, 'request', NULL);
  PERFORM privacy_internal._audit('subject.restrict', NULL,
    pg_catalog.jsonb_build_object('kind', kind, 'subject', privacy_internal._audit_ref(kind, ids.vals[1]),
                                  'identifiers', n, 'reason', reason));
END
$$;
COMMENT ON FUNCTION privacy.restrict_subject(text, text, text, timestamptz) IS
  'restrict processing of a data subject (GDPR Art. 18): every identifier of the subject is restricted; its rows can be stored and exported, not updated; audited';

CREATE FUNCTION privacy.unrestrict_subject(kind text, value text, at timestamptz DEFAULT NULL)
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  ids record;
  n   integer;
BEGIN
  ids := privacy_internal._subject_identifiers(kind, value, at);
  DELETE FROM privacy.restriction r
   WHERE r.origin OPERATOR(pg_catalog.=) 'request'
     AND (r.kind, r.subject_ref) IN (SELECT u.k, x.ref
                                       FROM ROWS FROM (pg_catalog.unnest(ids.kinds), pg_catalog.unnest(ids.vals)) u(k, v),
                                            pg_catalog.unnest(privacy_internal._restriction_refs(u.k, u.v, false)) x(ref));
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n OPERATOR(pg_catalog.=) 0 THEN
    PERFORM privacy_internal._raise_hidden('55000', 'data subject is not restricted',
      'No identifier of this subject has a restriction requested by the subject; restrictions kept after an erasure end on their own.');
  END IF;
  PERFORM privacy_internal._audit('subject.unrestrict', NULL,
    pg_catalog.jsonb_build_object('kind', kind, 'subject', privacy_internal._audit_ref(kind, ids.vals[1]),
                                  'identifiers', n));
END
$$;
COMMENT ON FUNCTION privacy.unrestrict_subject(text, text, timestamptz) IS
  'lift the restriction of a data subject requested with restrict_subject; audited';

CREATE FUNCTION privacy.is_restricted(kind text, value text)
  RETURNS boolean
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  norm text;
BEGIN
  norm := privacy_internal._identifier_normalize(kind, value);
  RETURN EXISTS (SELECT FROM privacy.restriction r
                  WHERE r.kind OPERATOR(pg_catalog.=) is_restricted.kind
                    AND r.subject_ref OPERATOR(pg_catalog.=) ANY (privacy_internal._restriction_refs(is_restricted.kind, norm))
                    AND (r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()));
END
$$;
COMMENT ON FUNCTION privacy.is_restricted(text, text) IS
  'whether processing of the identifier''s subject is restricted (by request, or for rows kept after an erasure)';
-- Erasure (GDPR Art. 17): the subject found by 70_subject_find.sql is
-- deleted where the law lets go, scrubbed where other subjects' rows
-- mention it, and kept and restricted where a legal minimum, a hold or a
-- reference keeps it; the consent history keeps its proof under a keyed
-- reference.

------------------------------------------------------------------------
-- Erasure (GDPR Art. 17)
------------------------------------------------------------------------

-- Registered tables with searchable identifiers, referencing tables
-- before the tables they reference, so children are deleted first.
CREATE FUNCTION privacy_internal._subject_table_order()
  RETURNS TABLE(tbl regclass, depth integer)
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
  WITH RECURSIVE t AS (SELECT DISTINCT sc.tbl FROM privacy_internal._subject_column sc),
  fk AS (SELECT DISTINCT c.conrelid::regclass AS child, c.confrelid::regclass AS parent
           FROM pg_catalog.pg_constraint c
          WHERE c.contype OPERATOR(pg_catalog.=) 'f'
            AND c.conrelid OPERATOR(pg_catalog.<>) c.confrelid
            AND c.conparentid OPERATOR(pg_catalog.=) 0),
  d(tbl, depth) AS (
    SELECT t.tbl, 0 FROM t
    UNION ALL
    SELECT fk.parent, d.depth OPERATOR(pg_catalog.+) 1 FROM d JOIN fk ON fk.child OPERATOR(pg_catalog.=) d.tbl
     WHERE d.depth OPERATOR(pg_catalog.<) 20)
  SELECT t.tbl, (SELECT pg_catalog.max(d.depth) FROM d WHERE d.tbl OPERATOR(pg_catalog.=) t.tbl)::integer
    FROM t
$$;

-- Whether foreign keys of other tables would refuse deleting rows of tbl
-- (an ordinary table), told without trying (src/engine.c, eng_fk_refused):
-- per constraint, the query that reads the keys of the rows about to go
-- as tbl's owner ("keys": a select list over tbl t, each referenced
-- column as text, aggregated) and the query that looks for rows holding
-- them as the referencing table's owner ("check": $1 those keys, with the
-- constraint's own equality operators), as a jsonb array; '-' when it
-- cannot be told so (a constraint that acts on delete, CASCADE, SET NULL
-- or SET DEFAULT, or is deferrable, or tbl referencing itself, or a key
-- of another type than integers, numeric, text, varchar, char and uuid, a
-- collation other than the built-in deterministic ones, an operator not
-- built in): the erasure then tries the deletion in a subtransaction.
-- Kept per backend by the engine until a table it names changes (it names
-- tables the subject cache does not watch).
CREATE FUNCTION privacy_internal._subject_fk_checks(tbl regclass)
  RETURNS text
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
  WITH k AS (
    SELECT c.oid, c.conrelid, c.confdeltype, c.condeferrable,
           u.i, pa.attname AS pkcol, pa.atttypid AS pktype, fa.attname AS fkcol, fa.atttypid AS fktype,
           pa.attcollation AS pkcoll, fa.attcollation AS fkcoll,
           o.oid AS op, o.oprname, o.oprleft, o.oprright
      FROM pg_catalog.pg_constraint c
      CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(c.confkey), pg_catalog.unnest(c.conkey), pg_catalog.unnest(c.conpfeqop)) WITH ORDINALITY u(pk, fk, op, i)
      JOIN pg_catalog.pg_attribute pa ON pa.attrelid OPERATOR(pg_catalog.=) c.confrelid AND pa.attnum OPERATOR(pg_catalog.=) u.pk
      JOIN pg_catalog.pg_attribute fa ON fa.attrelid OPERATOR(pg_catalog.=) c.conrelid AND fa.attnum OPERATOR(pg_catalog.=) u.fk
      JOIN pg_catalog.pg_operator o ON o.oid OPERATOR(pg_catalog.=) u.op
     WHERE c.contype OPERATOR(pg_catalog.=) 'f' AND c.confrelid OPERATOR(pg_catalog.=) tbl
       AND c.conparentid OPERATOR(pg_catalog.=) 0),
  per AS (
    SELECT k.oid, k.conrelid,
           pg_catalog.bool_and(k.confdeltype IN ('a', 'r') AND NOT k.condeferrable
                               AND k.conrelid OPERATOR(pg_catalog.<>) tbl::pg_catalog.oid
                               -- keys whose text form reads back exactly, compared
                               -- byte for byte (deterministic built-in collations)
                               AND k.pktype IN ('int2'::pg_catalog.regtype, 'int4'::pg_catalog.regtype, 'int8'::pg_catalog.regtype,
                                                'numeric'::pg_catalog.regtype, 'text'::pg_catalog.regtype,
                                                'varchar'::pg_catalog.regtype, 'bpchar'::pg_catalog.regtype,
                                                'uuid'::pg_catalog.regtype)
                               AND k.fktype OPERATOR(pg_catalog.<) 16384
                               AND k.pkcoll IN (0, 100, 950, 951) AND k.fkcoll IN (0, 100, 950, 951)
                               AND k.op OPERATOR(pg_catalog.<) 16384) AS ok,
           'SELECT pg_catalog.jsonb_build_array('
           || pg_catalog.string_agg(pg_catalog.format('COALESCE(pg_catalog.array_agg(t.%I::pg_catalog.text), ''{}'')', k.pkcol), ', ' ORDER BY k.i)
           || ')' AS keys,
           'SELECT pg_catalog.to_jsonb(EXISTS (SELECT FROM ROWS FROM ('
           || pg_catalog.string_agg(pg_catalog.format('pg_catalog.jsonb_array_elements_text($1 OPERATOR(pg_catalog.->) %s)', k.i - 1), ', ' ORDER BY k.i)
           || ') z(' || pg_catalog.string_agg('v' || k.i, ', ' ORDER BY k.i) || ') JOIN '
           || CASE WHEN (SELECT r.relkind FROM pg_catalog.pg_class r WHERE r.oid OPERATOR(pg_catalog.=) k.conrelid) OPERATOR(pg_catalog.=) 'p'
                   THEN '' ELSE 'ONLY ' END
           || k.conrelid::pg_catalog.regclass::pg_catalog.text || ' x ON '
           -- (both sides of the constraint's operator of its own input
           -- types, without a length: what resolves to it exactly)
           || pg_catalog.string_agg(pg_catalog.format('z.v%s::%s OPERATOR(pg_catalog.%s) x.%I%s',
                                                      k.i, pg_catalog.format_type(k.oprleft, -1), k.oprname, k.fkcol,
                                                      CASE WHEN k.fktype OPERATOR(pg_catalog.=) k.oprright THEN ''
                                                           ELSE '::' OPERATOR(pg_catalog.||) pg_catalog.format_type(k.oprright, -1) END),
                                    ' AND ' ORDER BY k.i)
           || '))' AS chk
      FROM k GROUP BY k.oid, k.conrelid)
  SELECT CASE WHEN pg_catalog.bool_and(per.ok) THEN
           pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('fk', per.conrelid::pg_catalog.oid::pg_catalog.text, 'keys', per.keys, 'check', per.chk)
                                ORDER BY per.oid)::pg_catalog.text
         ELSE '-' END
    FROM per
$$;

-- The erasure and its report (src/engine.c): every searchable table locked
-- first; the subject found in a snapshot taken after the lock; tables in
-- order (referencing rows first: _subject_table_order); per table the
-- subject's rows deleted where no hold and no legal minimum keeps them,
-- kept (and the subject restricted) where one does, rows that other kept
-- rows still reference kept as long as they are, and the subject's
-- mentions in other subjects' rows scrubbed; then the consent history
-- pseudonymized (_subject_forget_consent) and what is kept restricted
-- (_restrict_ids).  The statements are the SQL builders' (_subject_stmts,
-- _subject_from), kept per backend and run as each table's owner.
CREATE FUNCTION privacy_internal._subject_erase(kind text, value text, at timestamptz)
  RETURNS TABLE(table_name regclass, action text, rows bigint, reason text, kept_until timestamptz)
  LANGUAGE c VOLATILE
  SET search_path = pg_catalog, pg_temp
  AS 'MODULE_PATHNAME', 'pgp_subject_erase';

-- The identifiers the last erasure of this transaction acted on (for the
-- erasure ledger, 75_subject_ledger.sql).
CREATE FUNCTION privacy_internal._subject_erased_identifiers(OUT kinds text[], OUT vals text[], OUT spans tstzmultirange[])
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_subject_erased_identifiers';
COMMENT ON FUNCTION privacy_internal._subject_erased_identifiers() IS
  'internal: the identifiers the last erasure of this transaction acted on';

-- The API entry (src/rights.c): refused as export_subject is, and when
-- it would keep rows while Citus manages a subject table (0A000,
-- _restrict_ids); the identifier normalized (22004, 22023, 22P02); dry_run
-- not null (22004); READ COMMITTED only (55000: an earlier snapshot could
-- miss rows written concurrently); with an erasure ledger, refused while
-- the database is behind it (_ledger_check, 75_subject_ledger.sql); the
-- erasure (_subject_erase's engine; a dry run does it in a subtransaction
-- rolled back, so that its report is exactly what an erasure would do
-- now); with a ledger, its entry (_ledger_record) when it found anything;
-- one audit entry (the kind, the subject's keyed reference, the report
-- without its reasons); the report.
CREATE FUNCTION privacy.erase_subject(kind text, value text, dry_run boolean DEFAULT false,
                                      at timestamptz DEFAULT NULL)
  RETURNS TABLE(table_name regclass, action text, rows bigint, reason text, kept_until timestamptz)
  LANGUAGE c VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
  AS 'MODULE_PATHNAME', 'pgp_erase_subject';
COMMENT ON FUNCTION privacy.erase_subject(text, text, boolean, timestamptz) IS
  'erase a data subject in one transaction (GDPR Art. 17): delete its rows, keep and restrict rows under a legal minimum or hold (saying why and until when), scrub its mentions in others'' rows, pseudonymize it in the consent history; dry_run reports without changing; audited';
-- The erasure ledger: erasures that survive a restore (GDPR Art. 17).
--
-- An erasure is undone by any restore of a backup taken before it: the
-- subject comes back with the rest of the database.  So every erasure is
-- also written, as it commits, to a file outside the data directory that
-- no restore touches (pg_privacy.erasure_ledger_file, src/ledger.c), and
-- after a restore privacy.replay_erasures() erases again every subject the
-- ledger names that the restored database does not know was erased.
--
-- An entry names the subject by the keyed references of its identifiers
-- (privacy_internal._audit_ref, as the audit log does), never by an
-- identifier: whoever reads the file learns nothing without the key, and
-- the restored database, which holds the identifiers, recognizes them.
-- It says when, which open erasure requests it answered, and per table
-- what was deleted, scrubbed and kept, with the kind of reason for what
-- was kept (a hold's free-text reason is not copied).  The entries of one
-- database form a chain: each has the database's identity, a sequence
-- number, the MAC of the previous entry and its own MAC under the key
-- (any change to a line is seen).
--
-- The database remembers where it is in its chain
-- (privacy.erasure_ledger_state, dumped with it).  A database restored
-- from an older backup is behind its ledger: its erasures are refused
-- (55000) until replay_erasures() has run.  A database restored into
-- another cluster, or copied into another database, is somewhere else
-- than where its state was written (privacy_internal._ledger_here()):
-- replay_erasures() applies the ledger to it too, and then it starts a
-- chain of its own, remembering where it came from, so that a copy's own
-- erasures never reach the original and the original's later ones are
-- still replayed into the copy when it is asked to.

-- Where this database lives: the cluster's system identifier and the
-- database's OID.
CREATE FUNCTION privacy_internal._ledger_here() RETURNS text
  LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'pgp_ledger_here';
COMMENT ON FUNCTION privacy_internal._ledger_here() IS
  'internal: where this database lives (system identifier and database OID)';

CREATE FUNCTION privacy_internal._ledger_configured() RETURNS boolean
  LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'pgp_ledger_configured';
COMMENT ON FUNCTION privacy_internal._ledger_configured() IS
  'internal: whether pg_privacy.erasure_ledger_file is set';

CREATE FUNCTION privacy_internal._ledger_queue(line text) RETURNS void
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_ledger_queue';
COMMENT ON FUNCTION privacy_internal._ledger_queue(text) IS
  'internal: appends one line to the erasure ledger when the transaction commits (fsynced; the commit fails if it cannot)';

CREATE FUNCTION privacy_internal._ledger_lines()
  RETURNS TABLE(lineno bigint, body jsonb, line text)
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_ledger_lines';
COMMENT ON FUNCTION privacy_internal._ledger_lines() IS
  'internal: the lines of the erasure ledger file (body NULL for a line that is not a JSON object)';

CREATE FUNCTION privacy_internal._ledger_tail(db text)
  RETURNS TABLE(seq bigint, mac text)
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_ledger_tail';
COMMENT ON FUNCTION privacy_internal._ledger_tail(text) IS
  'internal: the sequence number and MAC of a database''s last entry in the erasure ledger';

-- Where this database is in its chain.  One row; a restore adds the
-- dumped row beside the one CREATE EXTENSION made, and the older one is
-- the database's (privacy_internal._ledger_state).
CREATE TABLE privacy.erasure_ledger_state (
  database_id uuid        PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
  created_at  timestamptz NOT NULL DEFAULT pg_catalog.clock_timestamp(),
  here        text        NOT NULL,
  last_seq    bigint      NOT NULL DEFAULT 0 CHECK (last_seq >= 0),
  last_mac    text,
  last_at     timestamptz,
  sources     jsonb       NOT NULL DEFAULT '[]',
  replayed_at timestamptz
);
COMMENT ON TABLE privacy.erasure_ledger_state IS
  'pg_privacy: this database''s identity and position in the erasure ledger (sources: the databases it was restored or copied from, and how far their erasures are applied here)';
INSERT INTO privacy.erasure_ledger_state (here) VALUES (privacy_internal._ledger_here());
SELECT pg_catalog.pg_extension_config_dump('privacy.erasure_ledger_state', '');

-- The database's state row, locked; the other rows (a restore's) gone.
CREATE FUNCTION privacy_internal._ledger_state() RETURNS privacy.erasure_ledger_state
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  s privacy.erasure_ledger_state;
BEGIN
  SELECT * INTO s FROM privacy.erasure_ledger_state x
   WHERE x.database_id OPERATOR(pg_catalog.=) (privacy_internal._ledger_identity()).database_id
     FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO privacy.erasure_ledger_state (here) VALUES (privacy_internal._ledger_here())
      RETURNING * INTO s;
  END IF;
  DELETE FROM privacy.erasure_ledger_state x WHERE x.database_id OPERATOR(pg_catalog.<>) s.database_id;
  RETURN s;
END
$$;
COMMENT ON FUNCTION privacy_internal._ledger_state() IS
  'internal: this database''s erasure ledger state, locked';

-- The ledger's entries: each line parsed (NULL where a field is missing
-- or malformed), and whether it is as written: its MAC under the key it
-- names (the loaded one, or an older one pg_privacy.key_file lists; NULL,
-- unknown, under a key not listed), and its place in its database's chain.  A line is counted in the
-- chain of every database identity its text names, whether it parses or
-- not (a garbled or foreign line in a chain breaks it); the first line of
-- a chain is its number 1 with no previous MAC, each next one the number
-- after and carrying the MAC of the line before it.  A key change is a line
-- of the chain too (accept_key_change), made under the key it replaces:
-- after it, the chain's lines are under the new key, so whoever still holds
-- the replaced one cannot continue the chain.
CREATE FUNCTION privacy_internal._ledger_entries()
  RETURNS TABLE(lineno bigint, chain uuid, db uuid, seq bigint, at timestamptz, datname text, type text,
                ids jsonb, report jsonb, requests jsonb, key_fingerprint text,
                prev text, mac text, mac_ok boolean, verified boolean, body jsonb)
  LANGUAGE sql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT z.lineno, z.chain, z.db, z.seq, z.at, z.datname, z.type, z.ids, z.report, z.requests, z.key_fingerprint,
         z.prev, z.mac, z.mac_ok,
         CASE WHEN COALESCE(z.type IN ('erasure', 'key_change')
                            AND z.db OPERATOR(pg_catalog.=) z.chain
                            AND CASE WHEN pg_catalog.lag(z.lineno) OVER w IS NULL
                                     THEN z.seq OPERATOR(pg_catalog.=) 1 AND z.prev IS NULL
                                     ELSE pg_catalog.lag(z.mac) OVER w OPERATOR(pg_catalog.=) z.prev
                                          AND pg_catalog.lag(z.seq) OVER w OPERATOR(pg_catalog.+) 1 OPERATOR(pg_catalog.=) z.seq END
                            -- under the key in force: after a key change, the new one
                            AND CASE WHEN z.type OPERATOR(pg_catalog.=) 'key_change'
                                     THEN z.key_fingerprint OPERATOR(pg_catalog.=) z.mfrom AND z.mto IS NOT NULL
                                          AND (pg_catalog.lag(z.in_force) OVER w IS NULL
                                               OR z.mfrom OPERATOR(pg_catalog.=) pg_catalog.lag(z.in_force) OVER w)
                                     ELSE z.in_force IS NULL OR z.key_fingerprint OPERATOR(pg_catalog.=) z.in_force END,
                            false) IS NOT TRUE THEN false
              ELSE z.mac_ok END,
         z.body
    FROM (SELECT y.*, pg_catalog.first_value(y.mto) OVER (PARTITION BY y.chain, y.changes ORDER BY y.lineno) AS in_force
            FROM (SELECT x.*,
                         pg_catalog.count(*) FILTER (WHERE x.type OPERATOR(pg_catalog.=) 'key_change')
                           OVER (PARTITION BY x.chain ORDER BY x.lineno ROWS UNBOUNDED PRECEDING) AS changes
                    FROM (SELECT l.lineno, l.body, c.chain,
                 CASE WHEN (l.body OPERATOR(pg_catalog.->>) 'db') OPERATOR(pg_catalog.~)
                           '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$'
                      THEN (l.body OPERATOR(pg_catalog.->>) 'db')::uuid END AS db,
                 CASE WHEN pg_catalog.jsonb_typeof(l.body OPERATOR(pg_catalog.->) 'seq') OPERATOR(pg_catalog.=) 'number'
                       AND (l.body OPERATOR(pg_catalog.->>) 'seq') OPERATOR(pg_catalog.~) '^[0-9]{1,18}$'
                      THEN (l.body OPERATOR(pg_catalog.->>) 'seq')::bigint END AS seq,
                 CASE WHEN (l.body OPERATOR(pg_catalog.->>) 'at') OPERATOR(pg_catalog.~)
                           '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])T([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\.[0-9]{1,6})?[+-](0[0-9]|1[0-5]):[0-5][0-9](:[0-5][0-9])?$'
                      THEN (l.body OPERATOR(pg_catalog.->>) 'at')::timestamptz END AS at,
                 l.body OPERATOR(pg_catalog.->>) 'datname' AS datname,
                 CASE WHEN l.body OPERATOR(pg_catalog.->>) 'v' OPERATOR(pg_catalog.=) '1'
                      THEN l.body OPERATOR(pg_catalog.->>) 'type' END AS type,
                 l.body OPERATOR(pg_catalog.->) 'ids' AS ids,
                 l.body OPERATOR(pg_catalog.->) 'report' AS report,
                 l.body OPERATOR(pg_catalog.->) 'requests' AS requests,
                 l.body OPERATOR(pg_catalog.->>) 'key' AS key_fingerprint,
                 l.body OPERATOR(pg_catalog.->>) 'prev' AS prev,
                 l.body OPERATOR(pg_catalog.->>) 'mac' AS mac,
                 CASE WHEN l.body OPERATOR(pg_catalog.->>) 'type' OPERATOR(pg_catalog.=) 'key_change' THEN l.body OPERATOR(pg_catalog.->>) 'from' END AS mfrom,
                 CASE WHEN l.body OPERATOR(pg_catalog.->>) 'type' OPERATOR(pg_catalog.=) 'key_change' THEN l.body OPERATOR(pg_catalog.->>) 'to' END AS mto,
                 CASE WHEN l.body IS NULL OR pg_catalog.jsonb_typeof(l.body OPERATOR(pg_catalog.->) 'key') IS DISTINCT FROM 'string'
                           OR pg_catalog.jsonb_typeof(l.body OPERATOR(pg_catalog.->) 'mac') IS DISTINCT FROM 'string' THEN false
                      WHEN privacy_internal._key_listed(l.body OPERATOR(pg_catalog.->>) 'key') THEN
                        (l.body OPERATOR(pg_catalog.->>) 'mac') OPERATOR(pg_catalog.=)
                          privacy_internal._audit_ref_under(l.body OPERATOR(pg_catalog.->>) 'key', 'pg_privacy erasure ledger',
                                                            (l.body OPERATOR(pg_catalog.-) 'mac')::text)
                 END AS mac_ok
            FROM privacy_internal._ledger_lines() l
            -- every identity the line's text names: its chains
            LEFT JOIN LATERAL (SELECT DISTINCT m[1]::uuid AS chain
                                 FROM pg_catalog.regexp_matches(COALESCE(l.line, ''),
                                        '([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})', 'g') m) c ON true) x) y) z
  WINDOW w AS (PARTITION BY z.chain ORDER BY z.lineno)
$$;
COMMENT ON FUNCTION privacy_internal._ledger_entries() IS
  'internal: the erasure ledger''s entries, parsed and verified';

-- The database's identity: its state row.  After a restore there are two
-- (the dumped one, and the one CREATE EXTENSION made); the one with a
-- history (entries, sources, or made somewhere else) is the database's,
-- else the older.
CREATE FUNCTION privacy_internal._ledger_identity() RETURNS privacy.erasure_ledger_state
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT x FROM privacy.erasure_ledger_state x
   ORDER BY (x.last_seq OPERATOR(pg_catalog.>) 0 OR x.sources OPERATOR(pg_catalog.<>) '[]'::jsonb
             OR x.here OPERATOR(pg_catalog.<>) privacy_internal._ledger_here()) DESC,
            x.created_at, x.database_id
   LIMIT 1
$$;
COMMENT ON FUNCTION privacy_internal._ledger_identity() IS
  'internal: this database''s erasure ledger state (not locked)';

-- The erasure ledger as SQL: this database's lines (its own chain and
-- those it was restored or copied from), whether each is as written.
CREATE VIEW privacy.erasure_ledger AS
SELECT e.lineno AS line, e.chain AS database_id, e.seq, e.at AS erased_at, e.datname AS database_name,
       e.ids AS identifiers, e.report, e.requests, e.key_fingerprint, COALESCE(e.verified, false) AS verified,
       e.chain OPERATOR(pg_catalog.=) s.database_id AS this_database,
       e.mac_ok IS NOT NULL AS key_listed,
       e.type AS entry_type
  FROM privacy_internal._ledger_entries() e
  JOIN LATERAL privacy_internal._ledger_identity() s ON true
 WHERE e.chain OPERATOR(pg_catalog.=) s.database_id
    OR e.chain::text OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT src OPERATOR(pg_catalog.->>) 'db'
                                                      FROM pg_catalog.jsonb_array_elements(s.sources) src));
COMMENT ON VIEW privacy.erasure_ledger IS
  'this database''s lines of the erasure ledger file (pg_privacy.erasure_ledger_file): one row per erasure (entry_type erasure) or key change (key_change), subjects by keyed reference only, verified against the key it names and the chain (false too when that key is not listed in pg_privacy.key_file: key_listed); this_database: its own chain, else one it was restored or copied from';

-- This database's ledger lines per key they were made under (none
-- without a ledger): for privacy.key_versions.  Counted as the lines say,
-- not verified (privacy.erasure_ledger verifies them).
CREATE FUNCTION privacy_internal._ledger_key_lines()
  RETURNS TABLE(fingerprint text, lines bigint)
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  s privacy.erasure_ledger_state;
BEGIN
  IF NOT privacy_internal._ledger_configured() THEN
    RETURN;
  END IF;
  s := privacy_internal._ledger_identity();
  RETURN QUERY
    SELECT l.body OPERATOR(pg_catalog.->>) 'key', pg_catalog.count(*)
      FROM privacy_internal._ledger_lines() l
     WHERE l.body OPERATOR(pg_catalog.->>) 'db' OPERATOR(pg_catalog.=) s.database_id::text
        OR l.body OPERATOR(pg_catalog.->>) 'db' OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT src OPERATOR(pg_catalog.->>) 'db'
                                                                               FROM pg_catalog.jsonb_array_elements(s.sources) src))
     GROUP BY 1;
END
$$;
COMMENT ON FUNCTION privacy_internal._ledger_key_lines() IS
  'internal: this database''s erasure ledger lines per key fingerprint';

-- Before an erasure: the database must be where its ledger is.  Returns
-- its state, locked (erasures are recorded one after the other), or NULL
-- when no ledger is configured.
CREATE FUNCTION privacy_internal._ledger_check() RETURNS privacy.erasure_ledger_state
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  s privacy.erasure_ledger_state;
  tail_seq bigint;
  tail_mac text;
BEGIN
  IF NOT privacy_internal._ledger_configured() THEN
    RETURN NULL;
  END IF;
  s := privacy_internal._ledger_state();
  IF s.here OPERATOR(pg_catalog.<>) privacy_internal._ledger_here() THEN
    RAISE EXCEPTION 'this database was restored or copied from another place: its erasure ledger must be replayed first'
      USING ERRCODE = '55000',
            DETAIL = 'Erasures recorded in the ledger after the backup it comes from are not applied here yet.',
            HINT = 'Run SELECT * FROM privacy.replay_erasures(); then erase.';
  END IF;
  SELECT t.seq, t.mac INTO tail_seq, tail_mac FROM privacy_internal._ledger_tail(s.database_id::text) t;
  IF tail_seq OPERATOR(pg_catalog.>) s.last_seq THEN
    RAISE EXCEPTION 'this database is older than its erasure ledger'
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('The ledger records %s erasure(s) of this database after its last one (number %s): it was restored from a backup taken before them, or an erasure whose line was written did not commit.',
                                       tail_seq OPERATOR(pg_catalog.-) s.last_seq, s.last_seq),
            HINT = 'Run SELECT * FROM privacy.replay_erasures(); then erase.';
  END IF;
  IF COALESCE(tail_seq, 0) OPERATOR(pg_catalog.<) s.last_seq THEN
    RAISE EXCEPTION 'the erasure ledger lacks this database''s erasures up to number %', s.last_seq
      USING ERRCODE = '55000',
            DETAIL = 'The file named by pg_privacy.erasure_ledger_file is not this database''s ledger, is missing, or lost lines.',
            HINT = 'Put the ledger file back from its own backup; if it is lost, SELECT privacy.fork_erasure_ledger(); starts a new chain for this database.';
  END IF;
  IF tail_seq IS NOT NULL AND tail_mac IS DISTINCT FROM s.last_mac THEN
    RAISE EXCEPTION 'another database wrote this database''s chain in the erasure ledger'
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('The ledger''s entry number %s of this database is not the one it wrote: a physical copy of it (a base backup, a promoted standby) erases into the same ledger.', tail_seq),
            HINT = 'In each copy that is not the original, SELECT privacy.fork_erasure_ledger(); before erasing. Then run SELECT * FROM privacy.replay_erasures(); here.';
  END IF;
  RETURN s;
END
$$;
COMMENT ON FUNCTION privacy_internal._ledger_check() IS
  'internal: refuses an erasure unless the database is where its erasure ledger is; its state, locked';

-- A chain of its own: the database's erasures from now on under a new
-- identity, the old one kept as its source (erasures recorded there after
-- this point are still replayed here when asked).  For a physical copy of
-- a database (a base backup, a promoted standby used apart), and for a
-- database whose ledger file is lost.
CREATE FUNCTION privacy_internal._ledger_fork(old uuid) RETURNS uuid
  LANGUAGE sql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
  UPDATE privacy.erasure_ledger_state x
     SET database_id = pg_catalog.gen_random_uuid(), created_at = pg_catalog.clock_timestamp(),
         here = privacy_internal._ledger_here(), last_seq = 0, last_mac = NULL, last_at = NULL,
         sources = pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('db', x.database_id, 'seq', x.last_seq, 'mac', x.last_mac))
                   OPERATOR(pg_catalog.||) x.sources
   WHERE x.database_id OPERATOR(pg_catalog.=) old
  RETURNING x.database_id
$$;
COMMENT ON FUNCTION privacy_internal._ledger_fork(uuid) IS
  'internal: this database''s erasures from now on under a new identity, the old one (and how far it came) kept as a source';

CREATE FUNCTION privacy.fork_erasure_ledger() RETURNS uuid
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  s privacy.erasure_ledger_state;
  new_id uuid;
BEGIN
  s := privacy_internal._ledger_state();
  new_id := privacy_internal._ledger_fork(s.database_id);
  PERFORM privacy_internal._audit('ledger.fork', NULL,
    pg_catalog.jsonb_build_object('from', s.database_id, 'from_seq', s.last_seq, 'to', new_id));
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION privacy.fork_erasure_ledger() IS
  'this database records its erasures in a chain of its own from now on, its old chain kept as its source (for a physical copy, or after the ledger file was lost); audited';

-- After an erasure: its entry, queued for the commit.  kinds/vals/spans
-- are the subject's identifiers (the erased one first) and the periods
-- they were the subject's (a reassigned phone number: only then; kept so
-- that a replay never takes the number's later holder for the subject),
-- report the erasure's.
CREATE FUNCTION privacy_internal._ledger_record(s privacy.erasure_ledger_state, kinds text[], vals text[],
                                               spans tstzmultirange[], report jsonb, asked_at timestamptz)
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  refs  text[];
  lrefs text[];
  entry jsonb;
  mac   text;
BEGIN
  -- the audit log's references, for the open requests (under every listed
  -- key: a request opened before a key change); the ledger's own, under a
  -- domain of its own (a reference read in the ledger cannot be matched
  -- against the audit log or the requests)
  refs := ARRAY(SELECT f.ref
                  FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(vals)) u(k, v),
                       pg_catalog.unnest(privacy_internal._audit_refs(u.k, u.v)) f(ref));
  lrefs := ARRAY(SELECT privacy_internal._audit_ref('ledger:' || u.k, u.v)
                   FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(vals)) WITH ORDINALITY u(k, v, o)
                  ORDER BY u.o);
  entry := pg_catalog.jsonb_build_object(
    'v', 1, 'type', 'erasure', 'db', s.database_id, 'seq', s.last_seq OPERATOR(pg_catalog.+) 1,
    'at', pg_catalog.clock_timestamp(), 'datname', pg_catalog.current_database(),
    'ids', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('kind', u.k, 'ref', u.r)
                                                  OPERATOR(pg_catalog.||)
                                                  CASE WHEN u.p IS NULL OR u.p OPERATOR(pg_catalog.=) '{(,)}'::tstzmultirange THEN '{}'::jsonb
                                                       ELSE pg_catalog.jsonb_build_object('span', u.p::text) END
                                                  ORDER BY u.o), '[]')
              FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(lrefs), pg_catalog.unnest(spans)) WITH ORDINALITY u(k, r, p, o)),
    'report', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                 'table', r OPERATOR(pg_catalog.->>) 'table_name',
                 'action', r OPERATOR(pg_catalog.->>) 'action',
                 'rows', r OPERATOR(pg_catalog.->) 'rows',
                 'kept_until', r OPERATOR(pg_catalog.->) 'kept_until',
                 'why', CASE WHEN r OPERATOR(pg_catalog.->>) 'action' OPERATOR(pg_catalog.<>) 'keep' THEN NULL
                             WHEN r OPERATOR(pg_catalog.->>) 'reason' LIKE 'legal hold%' THEN 'legal hold'
                             WHEN r OPERATOR(pg_catalog.->>) 'reason' LIKE 'legal minimum%' THEN 'legal minimum'
                             WHEN r OPERATOR(pg_catalog.->>) 'reason' LIKE 'referenced%' THEN 'referenced by kept rows'
                             ELSE 'kept' END)), '[]')
                 FROM pg_catalog.jsonb_array_elements(report) r),
    'requests', (SELECT COALESCE(pg_catalog.jsonb_agg(q.id ORDER BY q.id), '[]')
                   FROM privacy.subject_request q
                  WHERE q.request OPERATOR(pg_catalog.=) 'erasure' AND q.closed_at IS NULL
                    AND q.subject_ref OPERATOR(pg_catalog.=) ANY (refs)),
    'key', privacy.key_fingerprint(),
    'asked_at', asked_at,
    'prev', s.last_mac);
  mac := privacy_internal._audit_ref('pg_privacy erasure ledger', entry::text);
  PERFORM privacy_internal._ledger_queue((entry OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('mac', mac))::text);
  UPDATE privacy.erasure_ledger_state x
     SET last_seq = s.last_seq OPERATOR(pg_catalog.+) 1, last_mac = mac, last_at = pg_catalog.clock_timestamp()
   WHERE x.database_id OPERATOR(pg_catalog.=) s.database_id;
  RETURN s.last_seq OPERATOR(pg_catalog.+) 1;
END
$$;
COMMENT ON FUNCTION privacy_internal._ledger_record(privacy.erasure_ledger_state, text[], text[], tstzmultirange[], jsonb, timestamptz) IS
  'internal: queues an erasure''s ledger entry (keyed references only) for the commit';

-- A key change (accept_key_change): a line of the database's chain, made
-- under the key it replaces, saying which key the chain's lines are under
-- from then on: 'recorded'.  When the replaced key is not listed (lost),
-- that line cannot be made: the database's erasures go on in a chain of
-- its own, the old one kept as its source ('forked').  NULL without a
-- ledger, or for a chain with no line yet.
CREATE FUNCTION privacy_internal._ledger_record_key_change(old_fp text, new_fp text) RETURNS text
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  s     privacy.erasure_ledger_state;
  entry jsonb;
  mac   text;
BEGIN
  -- refused (55000) unless the database is where its ledger is: replay
  -- first, so that no restored database skips its replay by a key change
  s := privacy_internal._ledger_check();
  IF s.database_id IS NULL OR s.last_seq OPERATOR(pg_catalog.=) 0 THEN
    RETURN NULL;
  END IF;
  IF NOT privacy_internal._key_listed(old_fp) THEN
    PERFORM privacy_internal._ledger_fork(s.database_id);
    RETURN 'forked';
  END IF;
  entry := pg_catalog.jsonb_build_object(
    'v', 1, 'type', 'key_change', 'db', s.database_id, 'seq', s.last_seq OPERATOR(pg_catalog.+) 1,
    'at', pg_catalog.clock_timestamp(), 'datname', pg_catalog.current_database(),
    'from', old_fp, 'to', new_fp, 'key', old_fp, 'prev', s.last_mac);
  mac := privacy_internal._audit_ref_under(old_fp, 'pg_privacy erasure ledger', entry::text);
  PERFORM privacy_internal._ledger_queue((entry OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('mac', mac))::text);
  UPDATE privacy.erasure_ledger_state x
     SET last_seq = s.last_seq OPERATOR(pg_catalog.+) 1, last_mac = mac, last_at = pg_catalog.clock_timestamp()
   WHERE x.database_id OPERATOR(pg_catalog.=) s.database_id;
  RETURN 'recorded';
END
$$;
COMMENT ON FUNCTION privacy_internal._ledger_record_key_change(text, text) IS
  'internal: queues the line of a key change in the database''s erasure ledger chain, under the replaced key (or forks the chain when that key is not listed)';

-- Replay: erase again every subject the ledger names that this database
-- does not know was erased (restored from an older backup, or copied).
CREATE FUNCTION privacy.replay_erasures(since timestamptz DEFAULT NULL)
  RETURNS TABLE(database_id uuid, seq bigint, erased_at timestamptz, result text, report jsonb)
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  s      privacy.erasure_ledger_state;
  chains jsonb;
  lines  jsonb;
  todo   jsonb;
  wanted text[];
  stable text[];
  ekeys  text[];
  known  jsonb := '{}';
  c      privacy_internal._subject_column;
  dc     text := privacy_internal._default_country();
  q      text;
  dom    text;
  e      jsonb;
  fk     text;
  fv     text;
  fref   text;
  bad    jsonb;
  moved  boolean;
  eid    uuid;
  eseq   bigint;
  eat    timestamptz;
  strangers bigint;
BEGIN
  IF NOT privacy_internal._ledger_configured() THEN
    RAISE EXCEPTION 'no erasure ledger is configured'
      USING ERRCODE = '55000',
            HINT = 'Set pg_privacy.erasure_ledger_file to the ledger the erasures were recorded in, and reload.';
  END IF;
  PERFORM privacy_internal._citus_refuse(t.tbl, 'replay_erasures') FROM privacy.registered_table t;
  IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed' THEN
    RAISE EXCEPTION 'replay_erasures must run at isolation level READ COMMITTED' USING ERRCODE = '55000';
  END IF;
  s := privacy_internal._ledger_state();
  moved := s.here OPERATOR(pg_catalog.<>) privacy_internal._ledger_here();
  -- the chains to follow, each from where this database is in it: its own,
  -- and those it came from
  chains := pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('db', s.database_id, 'seq', s.last_seq, 'mac', s.last_mac))
            OPERATOR(pg_catalog.||) s.sources;
  -- their lines, read once
  SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
           'lineno', x.lineno, 'chain', x.chain, 'seq', x.seq, 'at', x.at, 'mac', x.mac, 'mac_ok', x.mac_ok,
           'verified', x.verified, 'body', x.body, 'from', (ch OPERATOR(pg_catalog.->>) 'seq')::bigint,
           'from_mac', ch OPERATOR(pg_catalog.->>) 'mac') ORDER BY x.lineno), '[]')
    INTO lines
    FROM privacy_internal._ledger_entries() x
    JOIN pg_catalog.jsonb_array_elements(chains) ch ON x.chain::text OPERATOR(pg_catalog.=) (ch OPERATOR(pg_catalog.->>) 'db');

  -- Where this database is in each chain must be in the ledger, as it
  -- recorded it (the same entry, by its MAC); every line after it must be
  -- as written: its MAC under the loaded key, its place in the chain.  A
  -- line not as written, a line missing, a foreign or garbled line in the
  -- chain: nothing is replayed.
  SELECT ch INTO bad FROM pg_catalog.jsonb_array_elements(chains) ch
   WHERE (ch OPERATOR(pg_catalog.->>) 'seq')::bigint OPERATOR(pg_catalog.>) 0
     AND NOT EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(lines) l
                      WHERE (l OPERATOR(pg_catalog.->>) 'chain') OPERATOR(pg_catalog.=) (ch OPERATOR(pg_catalog.->>) 'db')
                        AND (l OPERATOR(pg_catalog.->>) 'seq')::bigint OPERATOR(pg_catalog.=) (ch OPERATOR(pg_catalog.->>) 'seq')::bigint
                        AND (ch OPERATOR(pg_catalog.->>) 'mac' IS NULL
                             OR (l OPERATOR(pg_catalog.->>) 'mac') OPERATOR(pg_catalog.=) (ch OPERATOR(pg_catalog.->>) 'mac')))
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'the erasure ledger does not hold this database''s last erasure (number %)', bad OPERATOR(pg_catalog.->>) 'seq'
      USING ERRCODE = '55000',
            DETAIL = 'The file named by pg_privacy.erasure_ledger_file is not the ledger this database recorded its erasures in, lost lines, or its entry was altered.',
            HINT = 'Set pg_privacy.erasure_ledger_file to this database''s ledger; nothing was replayed.';
  END IF;
  -- The first line that is not as written, after where this database is
  -- or among those since asks for again: made under a key
  -- pg_privacy.key_file does not list (it cannot be checked), or damaged.
  -- Nothing is replayed.
  SELECT l INTO bad FROM pg_catalog.jsonb_array_elements(lines) l
   WHERE (l OPERATOR(pg_catalog.->>) 'verified')::boolean IS NOT TRUE
     AND ((l OPERATOR(pg_catalog.->>) 'lineno')::bigint OPERATOR(pg_catalog.>) COALESCE(
           (SELECT pg_catalog.max((a OPERATOR(pg_catalog.->>) 'lineno')::bigint) FROM pg_catalog.jsonb_array_elements(lines) a
             WHERE (a OPERATOR(pg_catalog.->>) 'chain') OPERATOR(pg_catalog.=) (l OPERATOR(pg_catalog.->>) 'chain')
               AND (a OPERATOR(pg_catalog.->>) 'seq')::bigint OPERATOR(pg_catalog.=) (l OPERATOR(pg_catalog.->>) 'from')::bigint
               AND (l OPERATOR(pg_catalog.->>) 'from')::bigint OPERATOR(pg_catalog.>) 0), 0)
          OR (since IS NOT NULL AND ((l OPERATOR(pg_catalog.->>) 'at')::timestamptz OPERATOR(pg_catalog.>=) since
                                     OR l OPERATOR(pg_catalog.->>) 'at' IS NULL)))
   ORDER BY (l OPERATOR(pg_catalog.->>) 'lineno')::bigint LIMIT 1;
  IF FOUND AND pg_catalog.jsonb_typeof(bad OPERATOR(pg_catalog.->) 'verified') OPERATOR(pg_catalog.=) 'null' THEN
    RAISE EXCEPTION 'line % of the erasure ledger was made under key %, which pg_privacy.key_file does not list',
                    bad OPERATOR(pg_catalog.->>) 'lineno',
                    CASE WHEN bad OPERATOR(pg_catalog.#>>) '{body,key}' OPERATOR(pg_catalog.~) '^pgp1:[0-9a-f]{16}$'
                         THEN bad OPERATOR(pg_catalog.#>>) '{body,key}' ELSE '(not a key fingerprint)' END
      USING ERRCODE = '55000',
            DETAIL = 'Its MAC can be checked, and its subject matched, only with that key: it was written before a key change, or not by pg_privacy.',
            HINT = 'List the file of that key after the current one in pg_privacy.key_file and reload (privacy.key_versions); nothing was replayed.';
  ELSIF FOUND THEN
    RAISE EXCEPTION 'the erasure ledger is damaged or was altered at line %', bad OPERATOR(pg_catalog.->>) 'lineno'
      USING ERRCODE = 'XX001',
            DETAIL = 'Its MAC does not verify under the key it names, it does not follow the entry before it, or it is not an entry.',
            HINT = 'Put back the ledger file from its own backup, with the key it was written under; nothing was replayed.';
  END IF;

  -- the entries to apply, oldest first
  SELECT COALESCE(pg_catalog.jsonb_agg(l OPERATOR(pg_catalog.->) 'body'
                                       ORDER BY (l OPERATOR(pg_catalog.->>) 'at')::timestamptz, (l OPERATOR(pg_catalog.->>) 'lineno')::bigint), '[]')
    INTO todo
    FROM pg_catalog.jsonb_array_elements(lines) l
   WHERE (l OPERATOR(pg_catalog.->>) 'seq')::bigint OPERATOR(pg_catalog.>) (l OPERATOR(pg_catalog.->>) 'from')::bigint
      OR (since IS NOT NULL AND (l OPERATOR(pg_catalog.->>) 'at')::timestamptz OPERATOR(pg_catalog.>=) since);

  -- Who they are here: the references of the identifiers the subjects held
  -- for good, in the columns that hold a subject's own rows, smallest
  -- tables first, until every entry has one identifier found (each column
  -- read once, as its table's owner; the references computed here).  A
  -- kind that is reassigned here (a phone number) is never used: it may
  -- be another person's now.
  stable := ARRAY(SELECT DISTINCT sc.kind FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc
                   WHERE NOT EXISTS (SELECT FROM pg_catalog.unnest(privacy_internal._subject_cols()) v
                                      WHERE v.kind OPERATOR(pg_catalog.=) sc.kind AND v.is_validity));
  -- the keys the entries were made under (each entry's references are
  -- under its own)
  ekeys := ARRAY(SELECT DISTINCT t OPERATOR(pg_catalog.->>) 'key' FROM pg_catalog.jsonb_array_elements(todo) t);
  wanted := ARRAY(SELECT DISTINCT (i OPERATOR(pg_catalog.->>) 'kind') || ':' || (i OPERATOR(pg_catalog.->>) 'ref')
                    FROM pg_catalog.jsonb_array_elements(todo) t,
                         pg_catalog.jsonb_array_elements(t OPERATOR(pg_catalog.->) 'ids') i
                   WHERE NOT i OPERATOR(pg_catalog.?) 'span'
                     AND i OPERATOR(pg_catalog.->>) 'kind' OPERATOR(pg_catalog.=) ANY (stable));
  FOR c IN SELECT sc.* FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc
             JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) sc.tbl
            WHERE sc.link OPERATOR(pg_catalog.=) 'owner' AND sc.kind OPERATOR(pg_catalog.=) ANY (stable)
            ORDER BY k.reltuples, sc.tbl::text, sc.attnum LOOP
    EXIT WHEN NOT EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(todo) t
                           WHERE NOT EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(t OPERATOR(pg_catalog.->) 'ids') i
                                              WHERE known OPERATOR(pg_catalog.?) ((i OPERATOR(pg_catalog.->>) 'kind') || ':' || (i OPERATOR(pg_catalog.->>) 'ref'))));
    CONTINUE WHEN NOT EXISTS (SELECT FROM pg_catalog.unnest(wanted) w
                               WHERE pg_catalog.split_part(w, ':', 1) OPERATOR(pg_catalog.=) c.kind);
    dom := privacy_internal._subject_decrypt_domain(c);
    -- stored numbers read back under the key of their row (k, while a key
    -- rotation runs: src/sql/36_rekey.sql)
    q := pg_catalog.format('SELECT 0, NULL::pg_catalog.text, pg_catalog.to_jsonb(x.v), x.k FROM (SELECT DISTINCT %s AS v, %s AS k FROM %s t) x WHERE x.v IS NOT NULL',
                           privacy_internal._subject_value_expr(c, dc),
                           CASE WHEN dom IS NOT NULL
                                     AND pg_catalog.cardinality(privacy_internal._rekey_keys(c.tbl)) OPERATOR(pg_catalog.>) 0
                                THEN 'privacy_internal._row_key(t.tableoid, t.*)' ELSE 'NULL::pg_catalog.text' END,
                           c.tbl);
    known := known OPERATOR(pg_catalog.||) COALESCE((
      SELECT pg_catalog.jsonb_object_agg(m.key, m.v)
        FROM (SELECT DISTINCT ON (y.key) y.key, y.v
                FROM (SELECT c.kind || ':' || privacy_internal._audit_ref_under(kf.fp, 'ledger:' || c.kind, z.v) AS key, z.v
                        FROM (SELECT CASE WHEN dom IS NULL THEN r.j OPERATOR(pg_catalog.#>>) '{}'
                                          WHEN r.k IS NOT NULL THEN privacy_internal._msisdn_under(r.k, r.j OPERATOR(pg_catalog.#>>) '{}', dom, true)
                                          ELSE privacy_internal._msisdn_decrypt(r.j OPERATOR(pg_catalog.#>>) '{}', dom) END AS v
                                FROM privacy_internal._subject_rows(c.tbl, q, '{}'::jsonb) r) z,
                             pg_catalog.unnest(ekeys) kf(fp)
                       WHERE z.v IS NOT NULL) y
               WHERE y.key OPERATOR(pg_catalog.=) ANY (wanted)) m), '{}');
  END LOOP;

  -- Each entry: erased again with the legal exceptions in force here
  -- (holds, legal minimums), and this database's place moved past it.
  FOR e IN SELECT t FROM pg_catalog.jsonb_array_elements(todo) t LOOP
    fk := NULL;
    fv := NULL;
    fref := NULL;
    SELECT i OPERATOR(pg_catalog.->>) 'kind', known OPERATOR(pg_catalog.->>) ((i OPERATOR(pg_catalog.->>) 'kind') || ':' || (i OPERATOR(pg_catalog.->>) 'ref')),
           i OPERATOR(pg_catalog.->>) 'ref'
      INTO fk, fv, fref
      FROM pg_catalog.jsonb_array_elements(e OPERATOR(pg_catalog.->) 'ids') WITH ORDINALITY u(i, o)
     WHERE known OPERATOR(pg_catalog.?) ((i OPERATOR(pg_catalog.->>) 'kind') || ':' || (i OPERATOR(pg_catalog.->>) 'ref'))
     ORDER BY u.o LIMIT 1;
    eid := (e OPERATOR(pg_catalog.->>) 'db')::uuid;
    eseq := (e OPERATOR(pg_catalog.->>) 'seq')::bigint;
    eat := (e OPERATOR(pg_catalog.->>) 'at')::timestamptz;
    report := '[]';
    IF e OPERATOR(pg_catalog.->>) 'type' OPERATOR(pg_catalog.=) 'key_change' THEN
      -- a key change: nothing to apply; the database's place moves past it
      result := NULL;
    ELSIF fv IS NULL THEN
      result := 'not in this database';
    ELSE
      -- The person found here must be the one erased: every identifier
      -- it holds for good here is one the entry names.  An identifier
      -- that passed to someone else since (an e-mail address taken by a
      -- new customer) would otherwise erase that other person.
      SELECT pg_catalog.count(*) INTO strangers
        FROM privacy_internal._subject_identifiers(fk, fv, NULL) h,
             ROWS FROM (pg_catalog.unnest(h.kinds), pg_catalog.unnest(h.vals)) u(k, v)
       WHERE u.k OPERATOR(pg_catalog.=) ANY (stable)
         AND NOT EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(e OPERATOR(pg_catalog.->) 'ids') i
                          WHERE i OPERATOR(pg_catalog.->>) 'kind' OPERATOR(pg_catalog.=) u.k
                            AND i OPERATOR(pg_catalog.->>) 'ref' OPERATOR(pg_catalog.=)
                                privacy_internal._audit_ref_under(e OPERATOR(pg_catalog.->>) 'key', 'ledger:' || u.k, u.v));
      IF strangers OPERATOR(pg_catalog.>) 0 THEN
        result := 'ambiguous: not erased';
      ELSE
        SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x)), '[]') INTO report
          FROM privacy_internal._subject_erase(fk, fv, NULL) x;
        result := 'erased again';
      END IF;
    END IF;
    IF result IS NOT NULL THEN
      PERFORM privacy_internal._audit('subject.erase_replay', NULL,
        pg_catalog.jsonb_build_object('database', eid, 'seq', eseq, 'erased_at', eat,
                                      'kind', fk, 'subject', fref, 'result', result,
                                      'report', (SELECT COALESCE(pg_catalog.jsonb_agg(r OPERATOR(pg_catalog.-) 'reason'), '[]')
                                                   FROM pg_catalog.jsonb_array_elements(report) r)));
    END IF;
    IF eid OPERATOR(pg_catalog.=) s.database_id THEN
      UPDATE privacy.erasure_ledger_state x
         SET last_seq = eseq, last_mac = e OPERATOR(pg_catalog.->>) 'mac', last_at = eat
       WHERE x.database_id OPERATOR(pg_catalog.=) s.database_id AND x.last_seq OPERATOR(pg_catalog.<) eseq;
    ELSE
      UPDATE privacy.erasure_ledger_state x
         SET sources = (SELECT pg_catalog.jsonb_agg(CASE WHEN src OPERATOR(pg_catalog.->>) 'db' OPERATOR(pg_catalog.=) eid::text
                                                          AND (src OPERATOR(pg_catalog.->>) 'seq')::bigint OPERATOR(pg_catalog.<) eseq
                                                         THEN src OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('seq', eseq, 'mac', e OPERATOR(pg_catalog.->>) 'mac')
                                                         ELSE src END)
                          FROM pg_catalog.jsonb_array_elements(x.sources) src)
       WHERE x.database_id OPERATOR(pg_catalog.=) s.database_id;
    END IF;
    IF result IS NOT NULL THEN
      database_id := eid;
      seq := eseq;
      erased_at := eat;
      RETURN NEXT;
    END IF;
  END LOOP;
  UPDATE privacy.erasure_ledger_state x SET replayed_at = pg_catalog.clock_timestamp()
   WHERE x.database_id OPERATOR(pg_catalog.=) s.database_id;

  -- Restored or copied elsewhere: from now on a chain of its own, which
  -- remembers the one it came from.
  IF moved THEN
    PERFORM privacy_internal._ledger_fork(s.database_id);
  END IF;
END
$$;
COMMENT ON FUNCTION privacy.replay_erasures(timestamptz) IS
  'after a restore or a copy: erase again every subject the erasure ledger names that this database does not know was erased (since: also those erased from that moment on), with the holds and legal minimums in force here; audited';
-- The catalog's reports: the record of processing and what is wrong with
-- the declarations.  They read the declarations of every module (catalog,
-- consent, retention, subject), so they come after all of them.

-- The tables pg_privacy enforces something on, and what: protection
-- (registered), the consent check (consent_required) and the restriction
-- check (restricted: a subject table while any subject is restricted).
-- Read by catalog_problems and by the event trigger that refuses DDL
-- switching an enforcement off.
CREATE VIEW privacy_internal._enforced_table AS
SELECT t.tbl,
       EXISTS (SELECT FROM privacy.registered_table r WHERE r.tbl OPERATOR(pg_catalog.=) t.tbl) AS registered,
       EXISTS (SELECT FROM privacy.consent_requirement q WHERE q.tbl OPERATOR(pg_catalog.=) t.tbl) AS consent_required,
       EXISTS (SELECT FROM privacy.restriction)
       AND EXISTS (SELECT FROM privacy.registered_column c
                    WHERE c.tbl OPERATOR(pg_catalog.=) t.tbl
                      AND c.identifies IS NOT NULL AND c.link OPERATOR(pg_catalog.=) 'owner') AS restricted
  FROM (SELECT r.tbl FROM privacy.registered_table r
        UNION SELECT q.tbl FROM privacy.consent_requirement q) t
 WHERE EXISTS (SELECT FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) t.tbl);

-- The record of processing (GDPR Art. 30): every declared column with its
-- purpose, legal basis, recipients and retention.
CREATE VIEW privacy.personal_data AS
SELECT c.tbl                          AS table_name,
       c.col                          AS column_name,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS data_type,
       c.category,
       c.identifies,
       c.link,
       c.protect,
       CASE WHEN c.protect IN ('pseudonym', 'msisdn_fpe', 'email_pseudonym') THEN c.domain END
                                      AS protect_domain,
       t.purpose,
       p.legal_basis,
       b.article                      AS legal_basis_article,
       p.requires_consent,
       p.recipients,
       p.description                  AS purpose_description,
       privacy_internal._retention_text(r)     AS retention,
       r.keep                         AS retention_keep,
       r.action                       AS retention_action,
       r.keep_at_least                AS retention_keep_at_least
  FROM privacy.registered_column c
  JOIN privacy.registered_table t ON t.tbl OPERATOR(pg_catalog.=) c.tbl
  JOIN privacy.purpose p ON p.name OPERATOR(pg_catalog.=) t.purpose
  JOIN privacy.legal_basis b ON b.name OPERATOR(pg_catalog.=) p.legal_basis
  LEFT JOIN pg_catalog.pg_attribute a
         ON a.attrelid OPERATOR(pg_catalog.=) c.tbl AND a.attname OPERATOR(pg_catalog.=) c.col
        AND NOT a.attisdropped
  LEFT JOIN privacy.retention_policy r ON r.tbl OPERATOR(pg_catalog.=) c.tbl;
COMMENT ON VIEW privacy.personal_data IS
  'the record of processing (GDPR Art. 30): every declared personal column with purpose, legal basis, recipients and retention';

-- What is wrong with the catalog: declared columns that no longer exist or
-- whose type no longer suits their protect transformation, and consent
-- requirements, retention policies and subject tables that name a column
-- no longer there.  Empty when all is well; the event triggers keep it
-- empty under ordinary DDL (renames are followed; a dropped column that a
-- consent requirement or a policy names stays listed here, and what it
-- drives fails closed).
CREATE VIEW privacy.catalog_problems AS
SELECT c.tbl AS table_name, c.col AS column_name,
       'column does not exist'::text AS problem
  FROM privacy.registered_column c
 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a
                    WHERE a.attrelid OPERATOR(pg_catalog.=) c.tbl
                      AND a.attname OPERATOR(pg_catalog.=) c.col AND NOT a.attisdropped)
UNION ALL
SELECT c.tbl, c.col,
       pg_catalog.format('type %s does not suit protect transformation "%s"',
                         pg_catalog.format_type(a.atttypid, NULL), c.protect)
  FROM privacy.registered_column c
  JOIN pg_catalog.pg_attribute a
    ON a.attrelid OPERATOR(pg_catalog.=) c.tbl AND a.attname OPERATOR(pg_catalog.=) c.col
   AND NOT a.attisdropped
 WHERE c.protect IS NOT NULL AND c.protect OPERATOR(pg_catalog.<>) 'null'
   AND a.atttypid NOT IN ('text'::regtype, 'varchar'::regtype)
   AND NOT (c.protect OPERATOR(pg_catalog.=) 'country' AND a.atttypid OPERATOR(pg_catalog.=) 'bpchar'::regtype)
UNION ALL
SELECT c.tbl, c.col,
       pg_catalog.format('identifier column has type %s, not a built-in text or integer type',
                         pg_catalog.format_type(a.atttypid, NULL))
  FROM privacy.registered_column c
  JOIN pg_catalog.pg_attribute a
    ON a.attrelid OPERATOR(pg_catalog.=) c.tbl AND a.attname OPERATOR(pg_catalog.=) c.col
   AND NOT a.attisdropped
 WHERE c.identifies IS NOT NULL
   -- the list of privacy_internal._identifier_type_ok, inline: whoever may read
   -- this view needs no grant on an internal function
   AND a.atttypid NOT IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype,
                          'int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'numeric'::regtype)
UNION ALL
SELECT c.tbl, c.col, 'protected column is generated and would be stored untransformed'
  FROM privacy.registered_column c
  JOIN pg_catalog.pg_attribute a
    ON a.attrelid OPERATOR(pg_catalog.=) c.tbl AND a.attname OPERATOR(pg_catalog.=) c.col
   AND NOT a.attisdropped
 WHERE c.protect IS NOT NULL AND a.attgenerated OPERATOR(pg_catalog.<>) ''
UNION ALL
SELECT c.tbl, c.col,
       pg_catalog.format('owner %s of the table may not produce pseudonyms of domain "%s"',
                         pg_catalog.pg_get_userbyid(k.relowner), c.domain)
  FROM privacy.registered_column c
  JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) c.tbl
 WHERE c.protect IN ('pseudonym', 'msisdn_fpe', 'email_pseudonym')
   -- as privacy_internal._domain_allowed() decides, readable by whoever reads the view
   AND NOT pg_catalog.pg_has_role(k.relowner,
                                  (SELECT o.relowner FROM pg_catalog.pg_class o
                                    WHERE o.oid OPERATOR(pg_catalog.=) 'privacy.registered_table'::regclass),
                                  'USAGE')
   AND NOT EXISTS (SELECT FROM privacy.domain_grant g
                     JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) g.grantee::pg_catalog.oid
                    WHERE g.domain OPERATOR(pg_catalog.=) c.domain
                      AND pg_catalog.pg_has_role(k.relowner, g.grantee::pg_catalog.oid, 'USAGE'))
UNION ALL
SELECT t.tbl, NULL, e.what || ' is not in force: ' || e.problem
  FROM privacy_internal._enforced_table t
  CROSS JOIN LATERAL privacy_internal._enforcement_problems(t.tbl, t.registered, t.consent_required, t.restricted) e
UNION ALL
SELECT q.tbl, q.col, pg_catalog.format('consent requirement for purpose "%s" names a column that does not exist', q.purpose)
  FROM privacy.consent_requirement q
 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a
                    WHERE a.attrelid OPERATOR(pg_catalog.=) q.tbl
                      AND a.attname OPERATOR(pg_catalog.=) q.col AND NOT a.attisdropped)
UNION ALL
SELECT p.tbl, p.time_column, 'retention policy names a time column that does not exist'
  FROM privacy.retention_policy p
 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a
                    WHERE a.attrelid OPERATOR(pg_catalog.=) p.tbl
                      AND a.attname OPERATOR(pg_catalog.=) p.time_column AND NOT a.attisdropped)
UNION ALL
SELECT s.tbl, x.col, pg_catalog.format('subject table''s %s column does not exist', x.role)
  FROM privacy.subject_table s
  CROSS JOIN LATERAL (VALUES ('event_time', s.event_time), ('validity', s.validity_column),
                             ('valid_from', s.valid_from), ('valid_to', s.valid_to)
                      UNION ALL
                      SELECT 'link', l FROM pg_catalog.unnest(s.link_columns) l) x(role, col)
 WHERE x.col IS NOT NULL
   AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a
                    WHERE a.attrelid OPERATOR(pg_catalog.=) s.tbl
                      AND a.attname OPERATOR(pg_catalog.=) x.col AND NOT a.attisdropped)
UNION ALL
SELECT t.tbl, NULL, 'table does not exist'
  FROM privacy.registered_table t
 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) t.tbl)
UNION ALL
-- (Citus makes a table that references a reference table a Citus local
-- table: it renames the table into its shard and makes a new one of the
-- old name; the declarations stay with the shard)
SELECT t.tbl, NULL,
       pg_catalog.format('Citus made this table a shard of table %s: declare that table instead', x.logical)
  FROM privacy.registered_table t
  CROSS JOIN LATERAL (SELECT privacy_internal._citus_shard_named(t.tbl) AS logical) x
 WHERE x.logical IS NOT NULL
UNION ALL
-- (registered before register_table refused typed tables, 0.17.0)
SELECT t.tbl, NULL,
       pg_catalog.format('typed table of composite type %s: ALTER TYPE ... CASCADE changes its columns out of sight of every check; make it an ordinary table (ALTER TABLE ... NOT OF)',
                         k.reloftype::regtype)
  FROM privacy.registered_table t
  JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) t.tbl
 WHERE k.reloftype OPERATOR(pg_catalog.<>) 0;
COMMENT ON VIEW privacy.catalog_problems IS
  'registered tables and columns the catalog no longer describes correctly (empty when all is well)';

-- The keys of this database: every key its keyed work was done under (by
-- the audit log, whose entries name their key, and privacy.key_state),
-- numbered in the order of their first use, and every key
-- pg_privacy.key_file lists; with what still needs each.  The audit
-- entries and erasure ledger lines made under a key are checked with it:
-- while there are any, its file stays listed (after the current key's), or
-- verify_audit_log and replay_erasures refuse (55000).  rekey_relations:
-- the tables and partitions whose phone-number pseudonyms are still under
-- the key until privacy.rekey() converts them (their writes and privacy.rekey()
-- need it listed).  HMAC pseudonyms stored under a key that
-- accept_key_change replaced are not converted; they are not counted.
CREATE VIEW privacy.key_versions AS
WITH audit AS (
  SELECT l.key_fingerprint AS fingerprint, pg_catalog.count(*) AS entries, pg_catalog.min(l.id) AS first_id,
         pg_catalog.min(l.at) AS first_at, pg_catalog.max(l.at) AS last_at
    FROM privacy.audit_log l
   WHERE l.key_fingerprint IS NOT NULL
   GROUP BY l.key_fingerprint),
keylist AS (SELECT k.listed_at, k.fingerprint, k.problem FROM privacy_internal._key_list() k),
-- one row per key (a key file listed twice, or a copy of it, counts once)
listed AS (SELECT pg_catalog.min(k.listed_at) AS listed_at, k.fingerprint FROM keylist k
            WHERE k.fingerprint IS NOT NULL GROUP BY k.fingerprint),
ledger AS (SELECT g.fingerprint, g.lines FROM privacy_internal._ledger_key_lines() g),
state AS (SELECT s.fingerprint, s.recorded_at FROM privacy.key_state s),
-- the restrictions in force (one past its end binds no key)
restr AS (SELECT r.key_fingerprint AS fingerprint, pg_catalog.count(*) AS n FROM privacy.restriction r
           WHERE r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()
           GROUP BY r.key_fingerprint),
-- the relations whose phone-number pseudonyms are still under the key
rekey AS (SELECT p.from_key AS fingerprint, pg_catalog.count(*) AS n FROM privacy.rekey_pending p
           WHERE p.from_key OPERATOR(pg_catalog.<>) 'raw'
           GROUP BY p.from_key),
used AS (
  SELECT u.fingerprint, pg_catalog.min(u.o) AS o
    FROM (SELECT a.fingerprint, a.first_id::numeric AS o FROM audit a
          UNION ALL SELECT s.fingerprint, 1e30 FROM state s
          UNION ALL SELECT g.fingerprint, 1e31 FROM ledger g WHERE g.fingerprint IS NOT NULL
          UNION ALL SELECT r.fingerprint, 1e32 FROM restr r
          UNION ALL SELECT x.fingerprint, 1e33 FROM rekey x) u
   GROUP BY u.fingerprint),
-- numbered by first use (keys known from the same source only: by fingerprint)
numbered AS (SELECT u.fingerprint, pg_catalog.row_number() OVER (ORDER BY u.o, u.fingerprint) AS version FROM used u),
known AS (
  SELECT u.fingerprint FROM used u
  UNION SELECT l.fingerprint FROM listed l WHERE l.fingerprint IS NOT NULL)
SELECT nb.version,
       k.fingerprint,
       k.fingerprint OPERATOR(pg_catalog.=) COALESCE((SELECT s.fingerprint FROM state s),
                                                      (SELECT l.fingerprint FROM listed l WHERE l.listed_at OPERATOR(pg_catalog.=) 1)) AS current,
       l.listed_at,
       COALESCE(a.entries, 0) AS audit_entries,
       COALESCE(g.lines, 0) AS ledger_lines,
       COALESCE(a.first_at, (SELECT s.recorded_at FROM state s WHERE s.fingerprint OPERATOR(pg_catalog.=) k.fingerprint)) AS first_used,
       a.last_at AS last_used,
       COALESCE(a.entries, 0) OPERATOR(pg_catalog.>) 0 OR COALESCE(g.lines, 0) OPERATOR(pg_catalog.>) 0
         OR COALESCE(r.n, 0) OPERATOR(pg_catalog.>) 0 OR COALESCE(x.n, 0) OPERATOR(pg_catalog.>) 0
         OR k.fingerprint OPERATOR(pg_catalog.=) (SELECT s.fingerprint FROM state s) AS needed,
       NULL::text AS problem,
       COALESCE(r.n, 0) AS restrictions,
       COALESCE(x.n, 0) AS rekey_relations
  FROM known k
  LEFT JOIN numbered nb ON nb.fingerprint OPERATOR(pg_catalog.=) k.fingerprint
  LEFT JOIN listed l ON l.fingerprint OPERATOR(pg_catalog.=) k.fingerprint
  LEFT JOIN audit a ON a.fingerprint OPERATOR(pg_catalog.=) k.fingerprint
  LEFT JOIN ledger g ON g.fingerprint OPERATOR(pg_catalog.=) k.fingerprint
  LEFT JOIN restr r ON r.fingerprint OPERATOR(pg_catalog.=) k.fingerprint
  LEFT JOIN rekey x ON x.fingerprint OPERATOR(pg_catalog.=) k.fingerprint
UNION ALL
-- a listed key whose file cannot be used
SELECT NULL, NULL, false, l.listed_at, NULL, NULL, NULL, NULL, NULL, l.problem, NULL, NULL
  FROM keylist l WHERE l.fingerprint IS NULL;
COMMENT ON VIEW privacy.key_versions IS
  'the keys of this database (numbered by first use) and of pg_privacy.key_file (listed_at: 1 the current key; problem: a listed file that cannot be used): the audit entries, erasure ledger lines and restrictions made under each, and the relations whose phone-number pseudonyms privacy.rekey() has not converted from it, which need it listed';
------------------------------------------------------------------------
-- Health: one place to ask "is pg_privacy working?"
------------------------------------------------------------------------

-- privacy.health() reports, one row per finding, whether each part of
-- pg_privacy is in force: the library, the key, the scheduled purge and
-- its last run, data-subject request deadlines, the catalog, undeclared
-- personal columns, protection, and restrictions and holds past their
-- end.  status is 'ok', 'warning' (something to look at) or 'error'
-- (a guarantee is not being kept).  An area without findings gets one
-- 'ok' row.
--
-- It only reads (no audit entry, no key recorded): it runs on a standby
-- and in a read-only transaction.  It shows no personal value: requests,
-- restrictions and holds by id and kind only.
--
-- An API entry point (caller.c): it runs as the extension owner, so that
-- a monitoring role needs nothing but
--   GRANT USAGE ON SCHEMA privacy TO monitoring;
--   GRANT EXECUTE ON FUNCTION privacy.health() TO monitoring;
-- Executable by nobody else by default (90_privileges.sql).
CREATE FUNCTION privacy.health()
  RETURNS TABLE(area text, status text, detail text, hint text)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET jit = off
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  ext_owner oid;
  libs text[];
  loaded text;
  stored text;
  r record;
  n bigint;
  m bigint;
  job record;
  last record;
  npolicies bigint;
  nkeys bigint;
  conn text;
  unlisted_restrictions numeric;
BEGIN
  -- Without the entry-point hook (the library loaded on demand, or not at
  -- all) this function runs with the caller's rights: say so and stop.
  SELECT e.extowner INTO ext_owner FROM pg_catalog.pg_extension e
   WHERE e.extname OPERATOR(pg_catalog.=) 'pg_privacy';
  IF ext_owner IS NULL OR NOT pg_catalog.pg_has_role(CURRENT_USER, ext_owner, 'USAGE') THEN
    area := 'library'; status := 'error';
    detail := 'pg_privacy''s API entry points are not in force in this session: the library is not preloaded';
    hint := 'Add pg_privacy to shared_preload_libraries in postgresql.conf and restart the server.';
    RETURN NEXT;
    RETURN;
  END IF;

  -- 1. The library.
  area := 'library';
  libs := ARRAY(SELECT pg_catalog.btrim(x, ' "')
                  FROM pg_catalog.regexp_split_to_table(
                         pg_catalog.current_setting('shared_preload_libraries'), ',') x);
  IF 'pg_privacy' OPERATOR(pg_catalog.=) ANY (libs)
     OR '$libdir/pg_privacy' OPERATOR(pg_catalog.=) ANY (libs) THEN
    status := 'ok'; detail := 'pg_privacy is preloaded (shared_preload_libraries)'; hint := NULL;
  ELSE
    status := 'error';
    detail := pg_catalog.format('pg_privacy is not in shared_preload_libraries (%s)',
                                COALESCE(NULLIF(pg_catalog.current_setting('shared_preload_libraries'), ''), 'empty'));
    hint := 'Add pg_privacy to shared_preload_libraries in postgresql.conf and restart the server: its API functions rely on a hook installed at load.';
  END IF;
  RETURN NEXT;

  -- 2. The key: configured, usable, and the database's own.
  area := 'key';
  BEGIN
    loaded := privacy.key_fingerprint();
  EXCEPTION WHEN OTHERS THEN
    status := 'error';
    detail := SQLERRM;
    hint := 'Set pg_privacy.key_file to a file of 64 hexadecimal digits (openssl rand -hex 32), mode 0600, outside the data directory, and reload.';
    RETURN NEXT;
  END;
  IF loaded IS NOT NULL THEN
    SELECT s.fingerprint INTO stored FROM privacy.key_state s;
    IF stored IS NULL THEN
      status := 'ok';
      detail := pg_catalog.format('key %s loaded; no keyed data yet (the first keyed work records it)', loaded);
      hint := NULL;
    ELSIF stored OPERATOR(pg_catalog.=) loaded THEN
      status := 'ok';
      detail := pg_catalog.format('key %s loaded, the database''s key', loaded);
      hint := NULL;
    ELSE
      status := 'error';
      detail := pg_catalog.format('the loaded key %s is not the database''s key %s: keyed work fails', loaded, stored);
      hint := pg_catalog.format('Install the key file of fingerprint %s and reload; if the key was replaced on purpose, run SELECT privacy.accept_key_change(%L).',
                                stored, stored);
    END IF;
    RETURN NEXT;
  END IF;

  -- 2b. Older keys: the audit entries and erasure ledger lines made under
  -- a replaced key are checked with it (privacy.key_versions).
  area := 'key history';
  BEGIN
    -- one read of the view (it reads the whole audit log and the ledger)
    SELECT pg_catalog.string_agg(pg_catalog.format('%s (version %s: %s audit entries, %s ledger lines, %s restrictions)',
                                                   v.fingerprint, v.version, v.audit_entries, v.ledger_lines, v.restrictions),
                                 '; ' ORDER BY v.version)
             FILTER (WHERE v.needed AND v.listed_at IS NULL AND v.fingerprint IS NOT NULL),
           pg_catalog.count(*) FILTER (WHERE v.needed AND v.listed_at IS NULL AND v.fingerprint IS NOT NULL),
           pg_catalog.string_agg(v.listed_at || ': ' || v.problem, '; ' ORDER BY v.listed_at) FILTER (WHERE v.fingerprint IS NULL),
           pg_catalog.count(*) FILTER (WHERE v.fingerprint IS NULL),
           pg_catalog.count(*) FILTER (WHERE v.listed_at IS NOT NULL),
           COALESCE(pg_catalog.sum(v.restrictions) FILTER (WHERE v.listed_at IS NULL AND v.fingerprint IS NOT NULL), 0)
      INTO conn, n, stored, m, nkeys, unlisted_restrictions
      FROM privacy.key_versions v;
    IF m OPERATOR(pg_catalog.>) 0 THEN
      status := 'error';
      detail := pg_catalog.format('pg_privacy.key_file lists key files that cannot be used: %s', stored);
      hint := 'Fix or remove them and reload: checking what was made under an older key fails while one cannot be read.';
    ELSIF unlisted_restrictions OPERATOR(pg_catalog.>) 0 THEN
      status := 'error';
      detail := pg_catalog.format('restrictions were made under %s replaced key(s) that are not listed: %s', n, conn);
      hint := 'List the file of each after the current key''s in pg_privacy.key_file and reload: until then every update of a table that holds data subjects, is_restricted, unrestrict_subject, export_subject and the purge''s anonymization refuse (they cannot tell whom those restrictions cover).';
    ELSIF n OPERATOR(pg_catalog.>) 0 THEN
      status := 'warning';
      detail := pg_catalog.format('what was made under %s replaced key(s) cannot be verified: %s', n, conn);
      hint := 'List the file of each after the current key''s in pg_privacy.key_file and reload; verify_audit_log and replay_erasures refuse until then.';
    ELSE
      status := 'ok';
      detail := pg_catalog.format('%s key(s) listed; every key the audit log, the erasure ledger and the restrictions need is listed', nkeys);
      hint := NULL;
    END IF;
  EXCEPTION WHEN OTHERS THEN
    status := 'error';
    detail := SQLERRM;
    hint := 'Check pg_privacy.key_file: every listed file must be a usable key file.';
  END;
  RETURN NEXT;
  conn := NULL;
  stored := NULL;

  -- 2c. Key rotation: relations whose phone-number pseudonyms are still
  -- under a replaced key (src/sql/36_rekey.sql).
  area := 'key rotation';
  BEGIN
    SELECT pg_catalog.count(*),
           pg_catalog.count(*) FILTER (WHERE NOT privacy_internal._key_listed(p.from_key)),
           pg_catalog.string_agg(DISTINCT p.tbl::text, ', '),
           pg_catalog.string_agg(DISTINCT p.from_key, ', ')
      INTO n, m, conn, stored
      FROM privacy.rekey_pending p
     WHERE p.from_key OPERATOR(pg_catalog.<>) 'raw';
  EXCEPTION WHEN OTHERS THEN
    n := NULL;
    conn := SQLERRM;
  END;
  IF n IS NULL THEN
    status := 'error';
    detail := pg_catalog.format('cannot tell whether the keys of the relations left to convert are listed: %s', conn);
    hint := 'Check pg_privacy.key_file (the area key says more).';
  ELSIF m OPERATOR(pg_catalog.>) 0 THEN
    status := 'error';
    detail := pg_catalog.format('%s relation(s) of %s hold phone-number pseudonyms under a key pg_privacy.key_file does not list (%s)', m, conn, stored);
    hint := 'List that key''s file after the current one and reload: until then writes to those relations refuse; then run CALL privacy.rekey().';
  ELSIF n OPERATOR(pg_catalog.>) 0 THEN
    status := 'warning';
    detail := pg_catalog.format('%s relation(s) of %s hold phone-number pseudonyms under the replaced key %s (%s of them converted in part); the replaced key must stay listed until they are converted',
                                n, conn, stored,
                                (SELECT pg_catalog.count(*) FROM privacy.rekey_pending p WHERE p.watermark IS NOT NULL OR p.high_mark IS NOT NULL));
    hint := 'Run CALL privacy.rekey() (privacy.rekey_progress shows what is left; max_seconds bounds a run to a maintenance window).';
  ELSE
    status := 'ok';
    detail := 'every phone-number pseudonym is under the current key';
    hint := NULL;
  END IF;
  RETURN NEXT;
  conn := NULL;
  stored := NULL;

  -- 3. The purge: scheduled with pg_cron, and its last run.
  area := 'purge';
  SELECT pg_catalog.count(*) INTO npolicies FROM privacy.retention_policy;
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'pg_cron') THEN
    status := 'warning';
    detail := CASE WHEN npolicies OPERATOR(pg_catalog.>) 0
                   THEN pg_catalog.format('pg_cron not installed in this database; tables with a retention policy: %s', npolicies)
                   ELSE 'pg_cron not installed in this database' END;
    hint := 'Schedule CALL privacy.run_purge() nightly: with pg_cron (cron.database_name = this database, cron.use_background_workers = on, CREATE EXTENSION pg_cron, SELECT privacy.schedule_purge()), '
            'or with cron.schedule_in_database() from pg_cron''s database, or another scheduler.';
    RETURN NEXT;
  ELSE
    EXECUTE 'SELECT j.jobid, j.schedule, j.command, j.nodename, j.nodeport, j.database, j.username, j.active
               FROM cron.job j WHERE j.jobname OPERATOR(pg_catalog.=) $1
              ORDER BY j.jobid DESC LIMIT 1'
      INTO job USING 'pg_privacy_purge';
    IF job.jobid IS NULL THEN
      status := CASE WHEN npolicies OPERATOR(pg_catalog.>) 0 THEN 'error' ELSE 'warning' END;
      detail := CASE WHEN npolicies OPERATOR(pg_catalog.>) 0
                     THEN pg_catalog.format('the purge is not scheduled; tables with a retention policy: %s', npolicies)
                     ELSE 'the purge is not scheduled (and no table has a retention policy)' END;
      hint := 'Schedule it with SELECT privacy.schedule_purge(''30 3 * * *'').';
      RETURN NEXT;
    ELSE
      EXECUTE 'SELECT d.status, d.return_message, d.start_time, d.end_time
                 FROM cron.job_run_details d WHERE d.jobid OPERATOR(pg_catalog.=) $1
                ORDER BY d.runid DESC LIMIT 1'
        INTO last USING job.jobid;
      IF NOT job.active THEN
        status := 'error';
        detail := pg_catalog.format('purge job %s is inactive', job.jobid);
        hint := 'Activate it again with SELECT privacy.schedule_purge(schedule).';
      ELSIF job.database OPERATOR(pg_catalog.<>) pg_catalog.current_database() THEN
        status := 'error';
        detail := pg_catalog.format('purge job %s runs in database %s, not in this one', job.jobid, job.database);
        hint := 'Schedule it again with SELECT privacy.schedule_purge(schedule).';
      ELSIF last.status IS NOT DISTINCT FROM 'failed' THEN
        status := 'error';
        detail := pg_catalog.format('the last run of purge job %s failed at %s: %s', job.jobid,
                                    pg_catalog.to_char(COALESCE(last.end_time, last.start_time), 'YYYY-MM-DD HH24:MI:SSOF'),
                                    COALESCE(last.return_message, 'no message'));
        hint := CASE
          WHEN last.return_message LIKE 'connection failed%'
            THEN 'pg_cron could not connect: set cron.use_background_workers = on in postgresql.conf, restart, and SELECT privacy.schedule_purge(schedule).'
          WHEN last.return_message LIKE 'could not start background process%'
            THEN 'Raise max_worker_processes (pg_cron''s jobs need background workers beside parallel query and replication) and restart.'
          ELSE 'See cron.job_run_details and privacy.audit_log (event retention.purge_failed); run CALL privacy.run_purge() by hand to see the error.' END;
      ELSIF pg_catalog.current_setting('cron.use_background_workers', true) IS DISTINCT FROM 'on'
            AND (job.nodename IS DISTINCT FROM COALESCE(pg_catalog.current_setting('cron.host', true), 'localhost')
                 OR job.nodeport IS DISTINCT FROM pg_catalog.current_setting('port')::integer) THEN
        -- pg_cron connects to the node the job names: one restored from
        -- another cluster, or made before cron.host changed, misses.
        status := 'warning';
        detail := pg_catalog.format('purge job %s connects to %s port %s, not to this server (%s port %s): its next run fails',
                                    job.jobid, job.nodename, job.nodeport,
                                    COALESCE(pg_catalog.current_setting('cron.host', true), 'localhost'),
                                    pg_catalog.current_setting('port'));
        hint := 'Schedule it again with SELECT privacy.schedule_purge(schedule): the job is made for this server.';
      ELSIF last.status IS NULL THEN
        conn := privacy_internal._cron_connection_problem();
        status := CASE WHEN conn IS NULL THEN 'ok' ELSE 'warning' END;
        detail := pg_catalog.format('purge job %s scheduled ''%s'' (%s), not run yet%s', job.jobid, job.schedule, job.command,
                                    CASE WHEN conn IS NULL THEN '' ELSE '; ' || conn END);
        hint := CASE WHEN conn IS NULL THEN NULL
                     ELSE 'Set cron.use_background_workers = on and restart, then SELECT privacy.schedule_purge(schedule).' END;
      ELSE
        status := 'ok';
        detail := pg_catalog.format('purge job %s scheduled ''%s''; last run %s at %s', job.jobid, job.schedule,
                                    last.status, pg_catalog.to_char(COALESCE(last.end_time, last.start_time), 'YYYY-MM-DD HH24:MI:SSOF'));
        hint := NULL;
      END IF;
      RETURN NEXT;
    END IF;
  END IF;

  -- 4. Data-subject requests past their deadline and still open.
  area := 'subject requests';
  SELECT pg_catalog.count(*),
         pg_catalog.string_agg(pg_catalog.format('%s (%s, due %s)', d.id, d.request, pg_catalog.to_char(d.due_at, 'YYYY-MM-DD')), ', ' ORDER BY d.due_at, d.id)
    INTO n, detail
    FROM privacy.request_deadlines d
   WHERE d.closed_at IS NULL AND d.due_at OPERATOR(pg_catalog.<) pg_catalog.now();
  IF n OPERATOR(pg_catalog.>) 0 THEN
    status := 'error';
    detail := pg_catalog.format('open requests past their deadline (%s): %s', n, detail);
    hint := 'Answer them and close them with privacy.close_request(id, outcome); privacy.request_deadlines lists them.';
  ELSE
    SELECT pg_catalog.count(*) INTO m FROM privacy.subject_request q WHERE q.closed_at IS NULL;
    status := 'ok';
    detail := pg_catalog.format('no open request is overdue (%s open)', m);
    hint := NULL;
  END IF;
  RETURN NEXT;

  -- 5. The catalog: each problem is an error.
  area := 'catalog';
  n := 0;
  FOR r IN SELECT p.table_name, p.column_name, p.problem FROM privacy.catalog_problems p
            ORDER BY p.table_name::text, p.column_name, p.problem LOOP
    n := n OPERATOR(pg_catalog.+) 1;
    status := 'error';
    detail := pg_catalog.format('%s%s: %s', r.table_name,
                                CASE WHEN r.column_name IS NULL THEN '' ELSE '.' || pg_catalog.quote_ident(r.column_name) END,
                                r.problem);
    hint := 'See privacy.catalog_problems; fix the table or its declaration (privacy.register_column, privacy.unregister_column).';
    RETURN NEXT;
  END LOOP;
  -- a protected Citus table whose shards carry another rule than the
  -- catalog signs now (src/protect.c, signed rules)
  -- (a rule can only be compared under the database's key: without it
  -- the key area reports, and this check is skipped)
  BEGIN
    FOR r IN SELECT t.tbl FROM privacy.registered_table t
              WHERE EXISTS (SELECT FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) t.tbl)
                AND privacy_internal._citus_table(t.tbl)
                AND privacy_internal._protect_rule_stale(t.tbl)
              ORDER BY t.tbl::text LOOP
      n := n OPERATOR(pg_catalog.+) 1;
      status := 'error';
      detail := pg_catalog.format('%s: the protect rule on its shards is not the one the catalog gives now (renamed, another owner, or a domain taken away)', r.tbl);
      hint := pg_catalog.format('Run SELECT privacy.protect(%L) on the coordinator.', r.tbl::text);
      RETURN NEXT;
    END LOOP;
  EXCEPTION WHEN object_not_in_prerequisite_state OR undefined_file OR invalid_parameter_value THEN
    NULL;
  END;
  IF n OPERATOR(pg_catalog.=) 0 THEN
    status := 'ok';
    detail := pg_catalog.format('no catalog problem (registered tables: %s)',
                                (SELECT pg_catalog.count(*) FROM privacy.registered_table));
    hint := NULL;
    RETURN NEXT;
  END IF;

  -- 6. Columns that look personal but are not declared.
  area := 'undeclared columns';
  SELECT pg_catalog.count(*),
         pg_catalog.string_agg(x.c, ', ' ORDER BY x.c) FILTER (WHERE x.i OPERATOR(pg_catalog.<=) 10)
    INTO n, detail
    FROM (SELECT u.table_name::text || '.' || pg_catalog.quote_ident(u.column_name) AS c,
                 pg_catalog.row_number() OVER (ORDER BY u.table_name::text, u.column_name) AS i
            FROM privacy_internal._undeclared_by_name u) x;
  IF n OPERATOR(pg_catalog.>) 0 THEN
    status := 'warning';
    detail := pg_catalog.format('columns that look personal but are not declared (%s): %s%s', n, detail,
                                CASE WHEN n OPERATOR(pg_catalog.>) 10 THEN ', ...' ELSE '' END);
    hint := 'Declare them with privacy.register_column() (see privacy.undeclared_columns).';
  ELSE
    status := 'ok'; detail := 'no undeclared personal column'; hint := NULL;
  END IF;
  RETURN NEXT;

  -- 7. Tables with protect transformations whose protection is not in force.
  area := 'protection';
  n := 0;
  FOR r IN SELECT p.table_name FROM privacy.protected_tables p WHERE NOT p.protected
            ORDER BY p.table_name::text LOOP
    n := n OPERATOR(pg_catalog.+) 1;
    status := 'error';
    detail := pg_catalog.format('protection of %s is not in force: %s', r.table_name,
                                COALESCE(privacy_internal._protection_problem(r.table_name),
                                                    'it has protect declarations but no protect trigger'));
    hint := CASE WHEN privacy_internal._has_protect_trigger(r.table_name)
                 THEN 'Restore the protect trigger (ALTER TABLE ... ENABLE TRIGGER zz_pg_privacy_protect, on every partition), or remove the protection with privacy.unprotect() and install it again with privacy.protect().'
                 ELSE pg_catalog.format('Run SELECT privacy.protect(%L) (rewrite_existing => true converts rows stored meanwhile).',
                                        r.table_name::text) END;
    RETURN NEXT;
  END LOOP;
  -- rows held before protect_in_batches(), not converted yet
  FOR r IN SELECT p.tbl, pg_catalog.count(*) AS rels FROM privacy.rekey_pending p
            WHERE p.from_key OPERATOR(pg_catalog.=) 'raw'
            GROUP BY p.tbl ORDER BY p.tbl::text LOOP
    n := n OPERATOR(pg_catalog.+) 1;
    status := 'warning';
    detail := pg_catalog.format('%s relation(s) of %s hold rows from before its protection that privacy.rekey() has not converted yet: their protected columns cannot be changed, and export, erasure and restriction refuse the table',
                                r.rels, r.tbl);
    hint := 'Run CALL privacy.rekey() (privacy.rekey_progress shows what is left).';
    RETURN NEXT;
  END LOOP;
  IF n OPERATOR(pg_catalog.=) 0 THEN
    status := 'ok';
    detail := pg_catalog.format('protection in force (protected tables: %s)', (SELECT pg_catalog.count(*) FROM privacy.protected_tables));
    hint := NULL;
    RETURN NEXT;
  END IF;

  -- 8. Restrictions and legal holds past their end and still in place.
  area := 'restrictions and holds';
  SELECT pg_catalog.count(*), pg_catalog.string_agg(DISTINCT x.kind, ', ')
    INTO n, detail
    FROM privacy.restriction x
   -- a restriction an erasure left on the rows it had to keep ends by
   -- itself at its end (restrict checks ignore it from then on); one the
   -- subject asked for is lifted by hand
   WHERE x.origin OPERATOR(pg_catalog.=) 'request'
     AND x.until IS NOT NULL AND x.until OPERATOR(pg_catalog.<) pg_catalog.now();
  SELECT pg_catalog.count(*) INTO m
    FROM privacy.legal_hold h
   WHERE h.released_at IS NULL AND h.until IS NOT NULL AND h.until OPERATOR(pg_catalog.<) pg_catalog.now();
  IF n OPERATOR(pg_catalog.>) 0 THEN
    status := 'warning';
    detail := pg_catalog.format('restrictions past their end and still in place (%s): kinds %s', n, detail);
    hint := 'Lift them with privacy.unrestrict_subject(kind, value) or restrict again with a new end.';
    RETURN NEXT;
  END IF;
  IF m OPERATOR(pg_catalog.>) 0 THEN
    status := 'warning';
    detail := pg_catalog.format('legal holds past their end and not released (%s): ids %s', m,
                                (SELECT pg_catalog.string_agg(h.id::text, ', ' ORDER BY h.id) FROM privacy.legal_hold h
                                  WHERE h.released_at IS NULL AND h.until IS NOT NULL
                                    AND h.until OPERATOR(pg_catalog.<) pg_catalog.now()));
    hint := 'Release them with privacy.release_hold(id), or place a new hold if the reason still holds (see privacy.legal_holds).';
    RETURN NEXT;
  END IF;
  IF n OPERATOR(pg_catalog.=) 0 AND m OPERATOR(pg_catalog.=) 0 THEN
    status := 'ok';
    detail := pg_catalog.format('no restriction or hold past its end (restrictions: %s, active holds: %s)',
                                (SELECT pg_catalog.count(*) FROM privacy.restriction),
                                (SELECT pg_catalog.count(*) FROM privacy.legal_hold h
                                  WHERE h.released_at IS NULL
                                    AND (h.until IS NULL OR h.until OPERATOR(pg_catalog.>=) pg_catalog.now())));
    hint := NULL;
    RETURN NEXT;
  END IF;

  -- 9. Masking: each masked role still one the masks hold for (mask_role's
  -- conditions, which a later GRANT or ALTER ROLE can break).
  area := 'masking';
  m := 0;
  FOR r IN
    SELECT m.role::oid AS rid, a.rolname, a.oid IS NULL AS gone,
           COALESCE(x.files, false) AS reads_files, x.tables AS owns
      FROM privacy.masked_role m
      LEFT JOIN pg_catalog.pg_roles a ON a.oid OPERATOR(pg_catalog.=) m.role::oid
      LEFT JOIN LATERAL privacy_internal._mask_reads_around(a.oid) x ON a.oid IS NOT NULL
     ORDER BY m.role::oid
  LOOP
    IF r.gone THEN
      status := 'warning';
      detail := pg_catalog.format('a masked role (OID %s) no longer exists', r.rid);
      hint := 'A role created again under its name is not masked: mask it with privacy.mask_role().';
      RETURN NEXT;
      m := m + 1;
    ELSIF r.reads_files OR r.owns IS NOT NULL THEN
      status := 'error';
      detail := CASE WHEN r.reads_files
                     THEN pg_catalog.format('masked role %I is a superuser, a replication role or may read the server''s files: it reads around the masks', r.rolname)
                     ELSE pg_catalog.format('masked role %I owns, may add triggers to, or may reference in a foreign key, registered tables (%s): its code sees their rows in clear', r.rolname, r.owns) END;
      hint := 'Take the attribute, the membership, the ownership, or the TRIGGER or REFERENCES privilege back (mask_role refuses such roles).';
      RETURN NEXT;
      m := m + 1;
    END IF;
  END LOOP;
  IF m OPERATOR(pg_catalog.=) 0 THEN
    status := 'ok';
    detail := pg_catalog.format('masked roles: %s', (SELECT pg_catalog.count(*) FROM privacy.masked_role));
    hint := NULL;
    RETURN NEXT;
  END IF;

  -- 11. The erasure ledger (75_subject_ledger.sql): configured, and the
  -- database where its ledger is.
  area := 'erasure ledger';
  hint := NULL;
  IF NOT privacy_internal._ledger_configured() THEN
    status := 'warning';
    detail := 'no erasure ledger: a restore from a backup taken before an erasure brings the erased subject back, and nothing says so';
    hint := 'Set pg_privacy.erasure_ledger_file to a file outside the data directory (doc/operations.md, "Erasures that survive a restore") and reload.';
    RETURN NEXT;
  ELSIF pg_catalog.pg_is_in_recovery() THEN
    status := 'ok';
    detail := 'a standby: the primary records erasures in the ledger';
    RETURN NEXT;
  ELSE
    BEGIN
      SELECT (i).* INTO r FROM (SELECT privacy_internal._ledger_identity() AS i) y;
      SELECT t.seq, t.mac INTO m, conn FROM privacy_internal._ledger_tail(r.database_id::text) t;
      -- this database's own lines after where it is, and its sources'
      SELECT pg_catalog.count(*) INTO n
        FROM privacy_internal._ledger_entries() e
        JOIN pg_catalog.jsonb_array_elements(pg_catalog.jsonb_build_array(
               pg_catalog.jsonb_build_object('db', r.database_id, 'seq', r.last_seq)) OPERATOR(pg_catalog.||) r.sources) ch
          ON e.chain::text OPERATOR(pg_catalog.=) (ch OPERATOR(pg_catalog.->>) 'db')
       WHERE e.verified IS NOT TRUE AND (e.seq IS NULL OR e.seq OPERATOR(pg_catalog.>) (ch OPERATOR(pg_catalog.->>) 'seq')::bigint);
      IF r.database_id IS NULL THEN
        status := 'error';
        detail := 'this database has no erasure ledger identity (privacy.erasure_ledger_state is empty)';
        hint := 'The next erasure makes one; erasures recorded under its old identity are not replayed here.';
      ELSIF n OPERATOR(pg_catalog.>) 0 THEN
        status := 'error';
        detail := pg_catalog.format('%s line(s) of this database''s erasure ledger do not verify (altered, damaged, or made under a key pg_privacy.key_file does not list)', n);
        hint := 'List the keys the ledger was written under in pg_privacy.key_file (privacy.key_versions), or put back the ledger file from its own backup; replay_erasures refuses until then.';
      ELSIF r.here OPERATOR(pg_catalog.<>) privacy_internal._ledger_here() THEN
        status := 'error';
        detail := 'this database was restored or copied from another place: erasures recorded after its backup may not be applied, and it refuses new ones';
        hint := 'Run SELECT * FROM privacy.replay_erasures();';
      ELSIF COALESCE(m, 0) OPERATOR(pg_catalog.>) r.last_seq THEN
        status := 'error';
        detail := pg_catalog.format('this database is older than its erasure ledger: %s erasure(s) recorded after its last one are not applied, and it refuses new ones',
                                    m OPERATOR(pg_catalog.-) r.last_seq);
        hint := 'Run SELECT * FROM privacy.replay_erasures();';
      ELSIF COALESCE(m, 0) OPERATOR(pg_catalog.<) r.last_seq THEN
        status := 'error';
        detail := pg_catalog.format('the erasure ledger lacks this database''s erasures up to number %s: it is not this database''s ledger, or lost lines', r.last_seq);
        hint := 'Set pg_privacy.erasure_ledger_file to this database''s ledger, or put the file back from its own backup (privacy.fork_erasure_ledger() starts a new chain if it is lost).';
      ELSIF m IS NOT NULL AND conn IS DISTINCT FROM r.last_mac THEN
        status := 'error';
        detail := pg_catalog.format('another database wrote this database''s chain in the erasure ledger (entry number %s is not the one it wrote)', m);
        hint := 'In each physical copy that is not the original, run SELECT privacy.fork_erasure_ledger(); then replay_erasures() here.';
      ELSIF EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(r.sources) src
                     WHERE (SELECT t.seq FROM privacy_internal._ledger_tail(src OPERATOR(pg_catalog.->>) 'db') t)
                           OPERATOR(pg_catalog.>) (src OPERATOR(pg_catalog.->>) 'seq')::bigint) THEN
        status := 'warning';
        detail := 'the database this one was restored or copied from recorded erasures since that are not applied here';
        hint := 'Run SELECT * FROM privacy.replay_erasures(); (a copy kept for tests: every night).';
      ELSE
        status := 'ok';
        detail := pg_catalog.format('%s erasure(s) recorded; the database is where its ledger is', r.last_seq);
      END IF;
    EXCEPTION WHEN OTHERS THEN
      status := 'error';
      detail := SQLERRM;
      hint := 'The erasure ledger cannot be read: see the server log, and doc/operations.md.';
    END;
    RETURN NEXT;
  END IF;
END
$$;
COMMENT ON FUNCTION privacy.health() IS
  'is pg_privacy working? one row per area (library, key, key history, purge, subject requests, catalog, undeclared columns, protection, restrictions and holds, masking, erasure ledger) with status ok, warning or error, what was found and what to do; read-only, runs on a standby';
-- Privileges: every grant and revoke of pg_privacy, in one place.
-- Nothing is usable by PUBLIC unless granted here; the README and each
-- page of doc/ show the grants a DBA gives to which role.

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA privacy FROM PUBLIC;
REVOKE ALL ON ALL FUNCTIONS IN SCHEMA privacy_internal FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA privacy FROM PUBLIC;
REVOKE ALL ON ALL TABLES IN SCHEMA privacy_internal FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA privacy FROM PUBLIC;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA privacy_internal FROM PUBLIC;
-- Procedures are not functions to REVOKE ... ON ALL FUNCTIONS.
REVOKE ALL ON PROCEDURE privacy.run_purge(integer, integer, integer) FROM PUBLIC;
-- The key rotation is the DBA's (it calls _rekey_todo and _rekey_rel).
REVOKE ALL ON PROCEDURE privacy.rekey(integer, integer, regclass, integer) FROM PUBLIC;
-- Said again for the one function whose report (table names, request ids,
-- the key's fingerprint) is for the DBA and the monitoring the DBA
-- chooses; it runs as the extension owner and only reads, so a monitoring
-- role needs nothing else:
--   GRANT USAGE ON SCHEMA privacy TO monitoring;
--   GRANT EXECUTE ON FUNCTION privacy.health() TO monitoring;
REVOKE ALL ON FUNCTION privacy.health() FROM PUBLIC;

------------------------------------------------------------------------
-- The schemas
------------------------------------------------------------------------

-- Everyone may look up names in the API schema; what each function or
-- relation allows is granted one by one below.
GRANT USAGE ON SCHEMA privacy TO PUBLIC;

-- Only the extension owner creates objects in the internal schema (no
-- CREATE is granted), so nobody can plant a look-alike helper there.
-- Every role may look names up in it (USAGE), because some statements
-- name a helper while running as a role that is not the extension owner;
-- what each helper allows is still its own EXECUTE grant:
--   * statements pg_privacy generates and runs as a table's owner (the
--     subject statements) call _subject_ids, _subject_ids_span and
--     _row_key by name;
--   * the views protected_tables and catalog_problems, read by anyone
--     granted them, call the enforcement checks by name;
--   * run_purge, a procedure running as its caller, calls its steps
--     _purge_begin/_purge_batch/_purge_end by name (a DBA grants them);
--   * expression indexes made under 0.2.0 name _subject_key.
GRANT USAGE ON SCHEMA privacy_internal TO PUBLIC;

------------------------------------------------------------------------
-- The API functions safe for everyone: no key involved
------------------------------------------------------------------------

GRANT EXECUTE ON FUNCTION privacy.normalize_msisdn(text, text) TO PUBLIC;
-- The lookup value of identifiers: pure, keyless, IMMUTABLE; users index
-- it, and the table owners that consent, holds, export and erasure act as
-- evaluate it (as does every writer of a table indexed by it).
GRANT EXECUTE ON FUNCTION privacy.lookup_value(text, text, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.mask_msisdn(text, integer) TO PUBLIC;
-- The masks of the categories (65_mask.sql): keyless display masks.
GRANT EXECUTE ON FUNCTION privacy.mask_name(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.mask_email(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.mask_address(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.mask_account(text, integer) TO PUBLIC;
-- The keyed masks of identifiers run in the statements of masked roles,
-- as those roles; each refuses (42501) wherever the planner did not put
-- it as a column's mask, so whoever calls it by name gets nothing.
GRANT EXECUTE ON FUNCTION privacy_internal._mask_pseudonym(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy_internal._mask_pseudonym(bigint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy_internal._mask_pseudonym(integer) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy_internal._mask_pseudonym(smallint) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.country_of(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy.generalize(timestamptz, text) TO PUBLIC;
-- Measuring k-anonymity reads only what the caller may read.
GRANT EXECUTE ON FUNCTION privacy.k_anonymity(regclass, name[], integer) TO PUBLIC;

-- Not granted to PUBLIC, each for its reason:
--   * the keyed functions (pseudonymize*, key_fingerprint): whoever can
--     call them can test guesses against pseudonyms; reidentify_msisdn
--     (and row_key, which names the key to re-identify a row's number
--     under during a key rotation) stays with the extension owner unless
--     granted;
--   * the consent register: has_consent reveals whether a person
--     consented, grant_consent/withdraw_consent write the proof,
--     consent_history and consent_receipt disclose it,
--     require_consent/unrequire_consent change enforcement, e.g.
--       GRANT EXECUTE ON FUNCTION privacy.has_consent(text, text, text, timestamptz) TO app;
--       GRANT EXECUTE ON FUNCTION privacy.grant_consent(text, text, text, text, text, timestamptz),
--                                 privacy.withdraw_consent(text, text, text, text, timestamptz) TO app;
--   * retention: policies and holds (set_retention, drop_retention, hold,
--     release_hold), purging (purge; for run_purge also its steps
--     _purge_begin, _purge_batch, _purge_end), scheduling (schedule_purge,
--     unschedule_purge);
--   * analytics builders (create_safe_aggregate,
--     create_pseudonymized_extract, unpublish): they check the caller's
--     rights themselves; their internal steps are granted to no one, so
--     nothing outside a builder can record a published view;
--   * data-subject rights: export, erasure, restriction and requests.
-- The protect, consent and restriction triggers need no grant: they fire
-- for every writer and read the catalog as its owner.

------------------------------------------------------------------------
-- Internal helpers PUBLIC may execute: no key, no data, called in the
-- context of another role (sql/trust.sql checks this list)
------------------------------------------------------------------------

-- The protect trigger's function: PostgreSQL checks EXECUTE on it when it
-- clones the trigger to a partition a table owner creates or attaches.  It
-- only runs as a BEFORE row trigger and only applies the catalog's
-- declarations, under the table owner's domain grants.
GRANT EXECUTE ON FUNCTION privacy_internal._protect_trigger() TO PUBLIC;
-- The consent check's function, for the same reason: without it the owner
-- of a table that requires consent could create or attach no partition
-- ("permission denied for function").  It only runs as a BEFORE row
-- trigger and only applies the table's consent requirements.
GRANT EXECUTE ON FUNCTION privacy_internal._consent_trigger() TO PUBLIC;
-- Whether a table's protection, consent check and restriction check are in
-- force, and whether Citus made a table a shard: read from the catalogs
-- only, for the views protected_tables, consent_requirements and
-- catalog_problems and whoever reads them.
GRANT EXECUTE ON FUNCTION privacy_internal._is_protected(regclass), privacy_internal._has_protect_trigger(regclass),
                          privacy_internal._protection_problem(regclass),
                          privacy_internal._trigger_problem(regclass, name, regprocedure, integer, name[]),
                          privacy_internal._consent_problem(regclass), privacy_internal._restrict_problem(regclass),
                          privacy_internal._enforcement_problems(regclass, boolean, boolean, boolean),
                          privacy_internal._citus_shard_named(regclass) TO PUBLIC;
-- Keyless and immutable, called in the rows of an extract, which are
-- computed with the publisher's rights.
GRANT EXECUTE ON FUNCTION privacy_internal._extract_msisdn(text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy_internal._extract_country(text) TO PUBLIC;
-- lookup_value under its 0.2.0 name: expression indexes made then name it,
-- and every role writing such a table evaluates it.
GRANT EXECUTE ON FUNCTION privacy_internal._subject_key(text, text, text) TO PUBLIC;
-- The identifiers of a generated statement's parameter as rows: pure (no
-- key, no data), executed by the table owners the statements run as.
GRANT EXECUTE ON FUNCTION privacy_internal._subject_ids(jsonb, text) TO PUBLIC;
GRANT EXECUTE ON FUNCTION privacy_internal._subject_ids_span(jsonb, text, boolean) TO PUBLIC;
-- The key a row's pseudonyms are under during a key rotation, called by
-- the same statements; it answers only a role that may read the relation.
GRANT EXECUTE ON FUNCTION privacy_internal._row_key(oid, record) TO PUBLIC;
