-- The audit log: append-only and hash-chained.
--
-- Every privacy operation (catalog changes, and in later parts purges,
-- exports, erasures, restrictions, consent changes, re-identifications)
-- appends one entry through privacy._audit().  Each entry's hash covers the
-- previous entry's hash and every field of its own, so an entry changed,
-- removed or inserted behind the extension's back breaks the chain, which
-- privacy.verify_audit_log() reports.  Entries never hold a raw identifier:
-- subjects are referred to by keyed pseudonyms.

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
  hash       bytea       NOT NULL
);
COMMENT ON TABLE privacy.audit_log IS
  'pg_privacy audit trail: append-only, hash-chained; never holds a raw identifier';

-- The head of the chain: one row, locked by each writer, so entries are
-- chained in commit order and a removed last entry is still detected.
CREATE TABLE privacy.audit_head (
  singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  last_id    bigint  NOT NULL,
  last_hash  bytea   NOT NULL
);
COMMENT ON TABLE privacy.audit_head IS
  'pg_privacy: the id and hash of the newest audit entry';

SELECT pg_catalog.pg_extension_config_dump('privacy.audit_log', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.audit_log_id_seq', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.audit_head', '');

-- The hash of one entry: SHA-256 over the previous hash and each field,
-- every field length-prefixed so that no two entries serialize alike.
-- Time is taken as microseconds since the epoch, independent of settings.
CREATE FUNCTION privacy._audit_digest(prev bytea, id bigint, at timestamptz,
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
COMMENT ON FUNCTION privacy._audit_digest(bytea, bigint, timestamptz, name, name, text, text, jsonb) IS
  'internal: hash of one audit entry chained to the previous one';

-- Append one entry.  Internal: called by the extension's own functions.
CREATE FUNCTION privacy._audit(event text, object text DEFAULT NULL,
                               detail jsonb DEFAULT '{}')
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  prev   bytea;
  new_id bigint;
  ts     timestamptz := pg_catalog.clock_timestamp();
  who    name := pg_catalog.session_user();
  as_role name := privacy._invoker();
  h      bytea;
BEGIN
  IF event IS NULL THEN
    RAISE EXCEPTION 'audit event must not be null' USING ERRCODE = '22004';
  END IF;
  detail := COALESCE(detail, '{}'::jsonb);
  -- Lock the head: writers queue here, and under REPEATABLE READ a
  -- concurrent append raises a serialization failure instead of forking
  -- the chain.
  SELECT h0.last_hash INTO prev FROM privacy.audit_head h0 FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO privacy.audit_head VALUES (true, 0, '\x'::bytea)
      ON CONFLICT DO NOTHING;
    SELECT h0.last_hash INTO prev FROM privacy.audit_head h0 FOR UPDATE;
  END IF;
  new_id := pg_catalog.nextval('privacy.audit_log_id_seq');
  h := privacy._audit_digest(prev, new_id, ts, who, as_role, event, object, detail);
  INSERT INTO privacy.audit_log (id, at, actor, role, event, object, detail, prev_hash, hash)
       VALUES (new_id, ts, who, as_role, event, object, detail, prev, h);
  UPDATE privacy.audit_head SET last_id = new_id, last_hash = h;
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION privacy._audit(text, text, jsonb) IS
  'internal: append one entry to the hash-chained audit log';

-- NULL when the chain is intact, else the id of the first entry that does
-- not verify (changed, or following a removed entry).  A removed or changed
-- newest entry is reported as the id the chain head names.
CREATE FUNCTION privacy.verify_audit_log() RETURNS bigint
  LANGUAGE plpgsql STABLE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r       record;
  prev    bytea := '\x'::bytea;
  last_id bigint := 0;
  head    record;
BEGIN
  FOR r IN SELECT * FROM privacy.audit_log ORDER BY id LOOP
    IF r.prev_hash OPERATOR(pg_catalog.<>) prev
       OR r.hash OPERATOR(pg_catalog.<>) privacy._audit_digest(
            r.prev_hash, r.id, r.at, r.actor, r.role, r.event, r.object, r.detail) THEN
      RETURN r.id;
    END IF;
    prev := r.hash;
    last_id := r.id;
  END LOOP;
  SELECT * INTO head FROM privacy.audit_head;
  IF FOUND AND (head.last_id OPERATOR(pg_catalog.<>) last_id
                OR head.last_hash OPERATOR(pg_catalog.<>) prev) THEN
    RETURN head.last_id;
  END IF;
  IF NOT FOUND AND last_id OPERATOR(pg_catalog.<>) 0 THEN
    RETURN last_id;
  END IF;
  RETURN NULL;
END
$$;
COMMENT ON FUNCTION privacy.verify_audit_log() IS
  'NULL when the audit hash chain is intact, else the id of the first entry that does not verify';

-- Append-only: refuse UPDATE, DELETE and TRUNCATE to everyone, the table
-- owner included.  (A superuser can still disable the trigger; the hash
-- chain then shows what was done.)
CREATE FUNCTION privacy._audit_append_only() RETURNS trigger
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
  FOR EACH ROW EXECUTE FUNCTION privacy._audit_append_only();
CREATE TRIGGER audit_log_no_truncate
  BEFORE TRUNCATE ON privacy.audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION privacy._audit_append_only();
