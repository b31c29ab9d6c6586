-- The audit log: append-only, hash-chained under a key, verifiable, also
-- against a head anchored outside the database.
\set VERBOSITY terse
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS pg_privacy;
RESET client_min_messages;

SELECT privacy.define_purpose('regress_audit', 'contract');
SELECT privacy.define_purpose('regress_audit', 'contract', description => 'changed');
SELECT event, object, detail->>'legal_basis' AS basis, actor = session_user AS by_me
  FROM privacy.audit_log WHERE object = 'regress_audit' ORDER BY id;
SELECT privacy.verify_audit_log() AS first_bad_entry;

-- Every entry is chained to the one before.
SELECT count(*) AS broken_links
  FROM (SELECT prev_hash, lag(hash) OVER (ORDER BY id) AS prev FROM privacy.audit_log) s
 WHERE prev IS NOT NULL AND prev_hash <> prev;

-- Nobody may change it, the owner (a superuser here) included.
UPDATE privacy.audit_log SET event = 'x' WHERE object = 'regress_audit';
DELETE FROM privacy.audit_log WHERE object = 'regress_audit';
TRUNCATE privacy.audit_log;

-- Ordinary roles can neither read nor write it, nor call the writer.
CREATE ROLE regress_audit_user;
SET ROLE regress_audit_user;
SELECT count(*) FROM privacy.audit_log;
INSERT INTO privacy.audit_log VALUES (0, now(), 'x', 'x', 'x', NULL, '{}', '\x', '\x');
SELECT privacy_internal._audit('forged');
SELECT privacy.verify_audit_log();
SELECT privacy.verify_audit_log(1, '\x00');
-- nor compute a digest: whoever could would forge entries
SELECT privacy_internal._audit_digest('\x', 1, now(), 'x', 'x', 'x', NULL, '{}', 'x');
SELECT privacy_internal._audit_verify(NULL, NULL);
RESET ROLE;
DROP ROLE regress_audit_user;
SELECT p.oid::regprocedure AS executable_by_public
  FROM pg_proc p
 WHERE p.pronamespace IN ('privacy'::regnamespace, 'privacy_internal'::regnamespace)
   AND p.proname IN ('_audit', '_audit_digest', '_audit_anchor', '_audit_verify', 'verify_audit_log')
   AND has_function_privilege('public', p.oid, 'EXECUTE');

-- Each entry is chained under the loaded key and names its fingerprint.
SELECT count(*) FILTER (WHERE key_fingerprint <> privacy.key_fingerprint()) AS under_other_keys,
       count(*) FILTER (WHERE length(hash) <> 32) AS malformed
  FROM privacy.audit_log;

-- A superuser who goes behind the extension's back is caught.
BEGIN;
ALTER TABLE privacy.audit_log DISABLE TRIGGER audit_log_append_only;
UPDATE privacy.audit_log SET detail = '{"legal_basis": "consent"}'
 WHERE id = (SELECT min(id) FROM privacy.audit_log WHERE object = 'regress_audit');
SELECT privacy.verify_audit_log() = (SELECT min(id) FROM privacy.audit_log WHERE object = 'regress_audit')
       AS tampered_entry_found;
ROLLBACK;

-- Removing an entry breaks the link of the next one.
BEGIN;
ALTER TABLE privacy.audit_log DISABLE TRIGGER audit_log_append_only;
DELETE FROM privacy.audit_log
 WHERE id = (SELECT min(id) FROM privacy.audit_log WHERE object = 'regress_audit');
SELECT privacy.verify_audit_log() = (SELECT min(id) FROM privacy.audit_log WHERE object = 'regress_audit')
       AS gap_found;
ROLLBACK;

-- Removing the newest entry is caught through the chain head.
BEGIN;
ALTER TABLE privacy.audit_log DISABLE TRIGGER audit_log_append_only;
DELETE FROM privacy.audit_log WHERE id = (SELECT max(id) FROM privacy.audit_log);
SELECT privacy.verify_audit_log() = (SELECT last_id FROM privacy.audit_head) AS truncation_found;
ROLLBACK;

SELECT privacy.verify_audit_log() AS first_bad_entry;

-- The hash is keyed: the plain SHA-256 chain of 0.1.0 is not it.
SELECT count(*) AS plain_sha256_hashes
  FROM privacy.audit_log
 WHERE hash = sha256(prev_hash || convert_to(concat_ws('|', id::text,
          (EXTRACT(epoch FROM at) * 1000000)::bigint::text,
          length(actor::text) || ':' || actor::text, length(role::text) || ':' || role::text,
          length(event) || ':' || event,
          CASE WHEN object IS NULL THEN '-' ELSE length(object) || ':' || object END,
          length(detail::text) || ':' || detail::text), 'UTF8'));

-- A superuser rewrites an entry and recomputes the whole chain and the head
-- the way 0.1.0 computed it (plain SHA-256): without the key it does not
-- verify, from the first recomputed entry on.
BEGIN;
ALTER TABLE privacy.audit_log DISABLE TRIGGER audit_log_append_only;
UPDATE privacy.audit_log SET detail = '{"legal_basis": "consent"}'
 WHERE id = (SELECT min(id) FROM privacy.audit_log WHERE object = 'regress_audit');
DO $$
DECLARE
  r record;
  prev bytea := '\x';
  h bytea;
BEGIN
  FOR r IN SELECT * FROM privacy.audit_log ORDER BY id LOOP
    h := sha256(prev || convert_to(concat_ws('|', r.id::text,
           (EXTRACT(epoch FROM r.at) * 1000000)::bigint::text,
           length(r.actor::text) || ':' || r.actor::text, length(r.role::text) || ':' || r.role::text,
           length(r.event) || ':' || r.event,
           CASE WHEN r.object IS NULL THEN '-' ELSE length(r.object) || ':' || r.object END,
           length(r.detail::text) || ':' || r.detail::text), 'UTF8'));
    UPDATE privacy.audit_log SET prev_hash = prev, hash = h WHERE id = r.id;
    prev := h;
  END LOOP;
  UPDATE privacy.audit_head SET last_hash = prev;
END
$$;
SELECT privacy.verify_audit_log() = (SELECT min(id) FROM privacy.audit_log) AS recomputed_chain_found;
ROLLBACK;

-- The outcome of verify_audit_log(), errors included, with entry ids
-- replaced by placeholders (ids depend on the tests that ran before).
CREATE FUNCTION pg_temp.verify_outcome(first_id bigint, last_id bigint) RETURNS text
  LANGUAGE plpgsql AS $$
DECLARE
  st text; msg text; det text; hnt text;
BEGIN
  RETURN coalesce('first bad entry ' || privacy.verify_audit_log(), 'intact');
EXCEPTION WHEN OTHERS THEN
  GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT,
                          det = PG_EXCEPTION_DETAIL, hnt = PG_EXCEPTION_HINT;
  det := replace(det, format('Entries %s to %s ', first_id, last_id), 'Entries FIRST to LAST ');
  -- the loaded key's fingerprint depends on the server's key
  det := replace(det, privacy.key_fingerprint(), 'LOADED_KEY');
  RETURN format(E'%s: %s\nDETAIL: %s\nHINT: %s', st, msg, det, hnt);
END
$$;

-- Changing an entry's key fingerprint: it now claims another key, is not
-- verifiable here, and the log is never said to be intact.
BEGIN;
ALTER TABLE privacy.audit_log DISABLE TRIGGER audit_log_append_only;
UPDATE privacy.audit_log SET key_fingerprint = 'pgp1:0000000000000000'
 WHERE id = (SELECT max(id) FROM privacy.audit_log);
SELECT max(id) AS last_id FROM privacy.audit_log \gset
SELECT pg_temp.verify_outcome(:last_id, :last_id);
ROLLBACK;

-- A chain restored under another key (simulated: every entry names one):
-- fails closed, naming both keys.
BEGIN;
ALTER TABLE privacy.audit_log DISABLE TRIGGER audit_log_append_only;
UPDATE privacy.audit_log SET key_fingerprint = 'pgp1:0000000000000000';
SELECT min(id) AS first_id, max(id) AS last_id FROM privacy.audit_log \gset
SELECT pg_temp.verify_outcome(:first_id, :last_id);
ROLLBACK;

-- A changed entry under the loaded key is reported as such, even when
-- others name another key.
BEGIN;
ALTER TABLE privacy.audit_log DISABLE TRIGGER audit_log_append_only;
UPDATE privacy.audit_log SET key_fingerprint = 'pgp1:0000000000000000'
 WHERE id = (SELECT min(id) FROM privacy.audit_log);
UPDATE privacy.audit_log SET event = 'x' WHERE id = (SELECT max(id) FROM privacy.audit_log);
SELECT privacy.verify_audit_log() = (SELECT max(id) FROM privacy.audit_log) AS change_found;
ROLLBACK;

-- Verification against a head supplied by the caller: the anchor the
-- server log holds ("pg_privacy audit head: id=N hash=HEX"), here read from
-- the head row.
SELECT last_id AS anchor_id, last_hash AS anchor_hash FROM privacy.audit_head \gset
SELECT privacy.verify_audit_log(:anchor_id, :'anchor_hash') AS first_bad_entry;
SELECT privacy.verify_audit_log(:anchor_id, sha256('forged')) = :anchor_id AS wrong_hash_found;
SELECT privacy.verify_audit_log(:anchor_id + 1000, :'anchor_hash') = :anchor_id + 1000 AS unknown_head_found;
SELECT privacy.verify_audit_log(0, '\x') AS head_before_the_chain;
-- the chain goes on after the anchor: an older anchor still verifies
SELECT privacy.define_purpose('regress_audit_2', 'contract');
SELECT privacy.define_purpose('regress_audit_3', 'contract');
SELECT last_id AS new_id, last_hash AS new_hash FROM privacy.audit_head \gset
SELECT privacy.verify_audit_log(:anchor_id, :'anchor_hash') AS older_anchor,
       privacy.verify_audit_log(:new_id, :'new_hash') AS newest_anchor;

-- Entries after the supplied head are verified too.
BEGIN;
ALTER TABLE privacy.audit_log DISABLE TRIGGER audit_log_append_only;
UPDATE privacy.audit_log SET object = 'regress_audit_x' WHERE id = :new_id;
SELECT privacy.verify_audit_log(:anchor_id, :'anchor_hash') = :new_id AS later_change_found;
ROLLBACK;

-- A truncated tail: the entries after the anchor are removed and the head
-- row rewritten to name the last one kept.  The chain alone is consistent
-- again (verify_audit_log() cannot tell), the supplied newest head is not.
BEGIN;
ALTER TABLE privacy.audit_log DISABLE TRIGGER audit_log_append_only;
DELETE FROM privacy.audit_log WHERE id > :anchor_id;
UPDATE privacy.audit_head SET last_id = :anchor_id, last_hash = :'anchor_hash';
SELECT privacy.verify_audit_log() IS NULL AS chain_alone_consistent;
SELECT privacy.verify_audit_log(:new_id, :'new_hash') = :new_id AS truncation_found;
ROLLBACK;

-- A removed entry before the supplied head is reported at its successor.
BEGIN;
ALTER TABLE privacy.audit_log DISABLE TRIGGER audit_log_append_only;
DELETE FROM privacy.audit_log WHERE id = (SELECT max(id) FROM privacy.audit_log WHERE id < :new_id);
SELECT privacy.verify_audit_log(:new_id, :'new_hash') = :new_id AS gap_found;
ROLLBACK;

-- The anchor's own entry removed: the chain no longer holds the head.
BEGIN;
ALTER TABLE privacy.audit_log DISABLE TRIGGER audit_log_append_only;
DELETE FROM privacy.audit_log WHERE id = :anchor_id;
SELECT privacy.verify_audit_log(:anchor_id, :'anchor_hash') = :anchor_id AS removed_head_found;
ROLLBACK;

-- A rolled-back append leaves no entry and the chain verifies after it.
BEGIN;
SELECT privacy.define_purpose('regress_audit_rolled_back', 'contract');
ROLLBACK;
SELECT privacy.verify_audit_log(:new_id, :'new_hash') AS after_rollback;

-- NULL arguments: an error, never a NULL that reads as "intact".
SELECT privacy.verify_audit_log(NULL, NULL);
SELECT privacy.verify_audit_log(:new_id, NULL);
SELECT privacy.verify_audit_log(NULL, :'new_hash');
SELECT privacy_internal._audit_digest(NULL, 1, now(), 'x', 'x', 'x', NULL, '{}', 'x');
SELECT privacy_internal._audit_digest('\x', NULL, now(), 'x', 'x', 'x', NULL, '{}', 'x');
SELECT privacy_internal._audit_digest('\x', 1, now(), 'x', 'x', 'x', NULL, NULL, 'x');
SELECT privacy_internal._audit_digest('\x', 1, now(), 'x', 'x', 'x', NULL, '{}', NULL);
SELECT privacy_internal._audit_digest(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
SELECT length(privacy_internal._audit_digest('\x', 1, now(), 'x', 'x', 'x', NULL, '{}', 'x')) AS digest_bytes;
-- object NULL and object '' (or '-') are different entries
SELECT privacy_internal._audit_digest('\x', 1, '2026-01-01', 'x', 'x', 'x', NULL, '{}', 'x')
    <> privacy_internal._audit_digest('\x', 1, '2026-01-01', 'x', 'x', 'x', '', '{}', 'x') AS null_object_distinct;
-- moving bytes between fields changes the digest
SELECT privacy_internal._audit_digest('\x', 1, '2026-01-01', 'ab', 'c', 'x', NULL, '{}', 'x')
    <> privacy_internal._audit_digest('\x', 1, '2026-01-01', 'a', 'bc', 'x', NULL, '{}', 'x') AS fields_delimited;
SELECT privacy_internal._audit(NULL);

SELECT privacy.drop_purpose('regress_audit_2');
SELECT privacy.drop_purpose('regress_audit_3');
SELECT privacy.verify_audit_log() AS first_bad_entry;

-- A failed call leaves no entry.
SELECT count(*) AS before FROM privacy.audit_log \gset
SELECT privacy.define_purpose('regress_audit', 'no_such_basis');
SELECT count(*) - :before AS new_entries FROM privacy.audit_log;

SELECT privacy.drop_purpose('regress_audit');

-- A batch in one transaction: many entries, each in a subtransaction (as
-- every API function's exception block makes one), one in five rolled
-- back.  The head is found again where the transaction last wrote it, and
-- after a rollback (that version gone) by a scan: every entry kept is
-- chained to the one before it, the head names the newest, and an entry
-- rolled back leaves nothing.
SELECT max(id) AS before_batch FROM privacy.audit_log \gset
BEGIN;
DO $$
BEGIN
  FOR i IN 1..300 LOOP
    BEGIN
      PERFORM privacy_internal._audit('regress.batch', 'regress_audit_batch', jsonb_build_object('i', i));
      IF i % 5 = 0 THEN
        RAISE division_by_zero;
      END IF;
    EXCEPTION WHEN division_by_zero THEN
      NULL;
    END;
  END LOOP;
END
$$;
SELECT count(*) AS batch_entries,
       count(*) FILTER (WHERE (detail->>'i')::int % 5 = 0) AS rolled_back_entries
  FROM privacy.audit_log WHERE object = 'regress_audit_batch';
SELECT (SELECT last_id FROM privacy.audit_head) = (SELECT max(id) FROM privacy.audit_log) AS head_is_newest,
       privacy.verify_audit_log() AS first_bad_entry;
-- the head row changed behind pg_privacy's back in the same transaction
-- (a superuser's UPDATE moves it elsewhere): the next entry still finds it
UPDATE privacy.audit_head SET last_id = last_id;
SELECT privacy_internal._audit('regress.batch', 'regress_audit_batch') > :before_batch AS appended;
SELECT (SELECT last_id FROM privacy.audit_head) = (SELECT max(id) FROM privacy.audit_log) AS head_is_newest,
       privacy.verify_audit_log() AS first_bad_entry;
COMMIT;
SELECT count(*) AS batch_entries FROM privacy.audit_log WHERE object = 'regress_audit_batch';
-- and in the next transaction
SELECT privacy_internal._audit('regress.batch', 'regress_audit_batch') > :before_batch AS appended;
SELECT privacy.verify_audit_log() AS first_bad_entry;

-- A superuser's trigger on the head row that drops the head's move: the
-- append fails (40001) and leaves no entry, rather than fork the chain.
-- One that drops every update of it: the head cannot be locked (55000).
SELECT count(*) AS entries_before FROM privacy.audit_log \gset
BEGIN;
CREATE FUNCTION regress_keep_head() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.last_id <> OLD.last_id THEN
    RETURN NULL;
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER regress_keep_head BEFORE UPDATE ON privacy.audit_head
  FOR EACH ROW EXECUTE FUNCTION regress_keep_head();
SELECT privacy_internal._audit('regress.blocked');
ROLLBACK;
BEGIN;
CREATE FUNCTION regress_no_head() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RETURN NULL;
END
$$;
CREATE TRIGGER regress_no_head BEFORE UPDATE ON privacy.audit_head
  FOR EACH ROW EXECUTE FUNCTION regress_no_head();
SELECT privacy_internal._audit('regress.blocked');
ROLLBACK;
SELECT count(*) - :entries_before AS new_entries, privacy.verify_audit_log() AS first_bad_entry
  FROM privacy.audit_log;
