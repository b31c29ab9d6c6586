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
