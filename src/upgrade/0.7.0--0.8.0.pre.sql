-- Restrictions remember the key their references were made with
-- (privacy.restriction.key_fingerprint), so that a restriction made before
-- a key change is matched under that key.  An existing restriction was
-- made under the key in force when it was made: the one before the first
-- key change recorded in the audit log (accept_key_change: key.change,
-- {from, to}), or the one the last change before it moved to; with no key
-- change at all, the database's key.  (One pass over the few key changes
-- per row, not over the audit log.)
ALTER TABLE privacy.restriction ADD COLUMN key_fingerprint text;
WITH ch AS (
  SELECT a.at, a.detail OPERATOR(pg_catalog.->>) 'from' AS f, a.detail OPERATOR(pg_catalog.->>) 'to' AS t,
         pg_catalog.row_number() OVER (ORDER BY a.id) AS n
    FROM privacy.audit_log a
   WHERE a.event OPERATOR(pg_catalog.=) 'key.change'),
periods AS MATERIALIZED (
  SELECT NULL::timestamptz AS since, ch.f AS fp FROM ch WHERE ch.n OPERATOR(pg_catalog.=) 1
  UNION ALL
  SELECT ch.at, ch.t FROM ch)
UPDATE privacy.restriction r
   SET key_fingerprint = COALESCE(
         (SELECT p.fp FROM periods p
           WHERE p.since IS NULL OR p.since OPERATOR(pg_catalog.<=) r.restricted_at
           ORDER BY p.since DESC NULLS LAST LIMIT 1),
         (SELECT s.fingerprint FROM privacy.key_state s),
         privacy.key_fingerprint());
ALTER TABLE privacy.restriction ALTER COLUMN key_fingerprint SET DEFAULT privacy.key_fingerprint(),
                                ALTER COLUMN key_fingerprint SET NOT NULL;
