-- The hand-written part of the update from 0.1.0 to 0.2.0 that runs after
-- the generated functions, views and comments.

-- The head of the chain 0.1.0 wrote (plain SHA-256): its entries verify up
-- to here and only here.
INSERT INTO privacy.audit_legacy (last_id, last_hash)
SELECT h.last_id, h.last_hash FROM privacy.audit_head h
 WHERE h.last_id OPERATOR(pg_catalog.>) 0;
