-- The hand-written part of the update from 0.4.0 to 0.5.0 that runs before
-- the generated functions: a column's own mask (privacy.set_mask) is kept
-- in the catalog.
ALTER TABLE privacy.registered_column ADD COLUMN mask text;
