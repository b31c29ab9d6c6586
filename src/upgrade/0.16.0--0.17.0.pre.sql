-- privacy.rekey() converts a relation in batches (src/sql/36_rekey.sql,
-- src/rekey.c): how far it has come in each pending relation.
ALTER TABLE privacy.rekey_pending
  ADD COLUMN order_col  name,
  ADD COLUMN order_type regtype,
  ADD COLUMN watermark  bytea,
  ADD COLUMN rows_done  bigint      NOT NULL DEFAULT 0,
  ADD COLUMN started_at timestamptz,
  ADD COLUMN high_mark  bytea,
  ADD CONSTRAINT rekey_pending_order_check CHECK ((order_col IS NULL) = (order_type IS NULL)),
  ADD CONSTRAINT rekey_pending_watermark_check CHECK (watermark IS NULL OR order_col IS NOT NULL),
  ADD CONSTRAINT rekey_pending_high_mark_check CHECK (high_mark IS NULL OR order_col IS NOT NULL);
-- rekey(lock_timeout_ms) is rekey(batch_size, lock_timeout_ms) now
DROP PROCEDURE privacy.rekey(integer);
-- the view gains a column at its end, and its rows count the batches
DROP VIEW privacy.rekey_progress;
