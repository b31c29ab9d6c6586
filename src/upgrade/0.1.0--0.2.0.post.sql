-- The hand-written part of the update from 0.1.0 to 0.2.0 that runs after
-- the generated functions, views and comments.

-- The head of the chain 0.1.0 wrote (plain SHA-256): its entries verify up
-- to here and only here.
INSERT INTO privacy.audit_legacy (last_id, last_hash)
SELECT h.last_id, h.last_hash FROM privacy.audit_head h
 WHERE h.last_id OPERATOR(pg_catalog.>) 0;

-- Seal the legacy chain at once: the first keyed entry's MAC covers the
-- legacy head (its prev_hash).  Without a usable key (55000) the next
-- keyed entry seals it.
DO $$
BEGIN
  IF EXISTS (SELECT FROM privacy.audit_legacy) THEN
    PERFORM privacy._audit('extension.update', 'pg_privacy',
                           pg_catalog.jsonb_build_object('from', '0.1.0', 'to', '0.2.0',
                             'legacy_last_id', (SELECT l.last_id FROM privacy.audit_legacy l)));
  END IF;
EXCEPTION WHEN object_not_in_prerequisite_state THEN
  NULL;
END
$$;
