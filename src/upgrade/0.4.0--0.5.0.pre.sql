-- The hand-written part of the update from 0.4.0 to 0.5.0 that runs before
-- the generated functions: a column's own mask (privacy.set_mask) is kept
-- in the catalog.  The table of masked roles is new (created by the
-- generated part; its comment and dump registration are in the .post part).

ALTER TABLE privacy.registered_column ADD COLUMN mask text;
