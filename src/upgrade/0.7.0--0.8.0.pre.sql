-- Restrictions remember the key their references were made with
-- (privacy.restriction.key_fingerprint), so that a restriction made before
-- a key change is matched under that key.  An existing restriction was
-- made in the transaction of the audit entry that recorded it (restrict_subject,
-- erase_subject), under that entry's key; without such an entry, under the
-- database's key.
ALTER TABLE privacy.restriction ADD COLUMN key_fingerprint text;
UPDATE privacy.restriction r
   SET key_fingerprint = COALESCE(
         (SELECT a.key_fingerprint FROM privacy.audit_log a
           WHERE a.at OPERATOR(pg_catalog.>=) r.restricted_at AND a.key_fingerprint IS NOT NULL
             AND a.event IN ('subject.restrict', 'subject.erase')
           ORDER BY a.id LIMIT 1),
         (SELECT s.fingerprint FROM privacy.key_state s),
         privacy.key_fingerprint());
ALTER TABLE privacy.restriction ALTER COLUMN key_fingerprint SET DEFAULT privacy.key_fingerprint(),
                                ALTER COLUMN key_fingerprint SET NOT NULL;
