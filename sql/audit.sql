-- The audit log: append-only, hash-chained, verifiable.
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
SELECT privacy._audit('forged');
SELECT privacy.verify_audit_log();
RESET ROLE;
DROP ROLE regress_audit_user;

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

-- A failed call leaves no entry.
SELECT count(*) AS before FROM privacy.audit_log \gset
SELECT privacy.define_purpose('regress_audit', 'no_such_basis');
SELECT count(*) - :before AS new_entries FROM privacy.audit_log;

SELECT privacy.drop_purpose('regress_audit');
