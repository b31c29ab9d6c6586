-- The hand-written part of the update from 0.1.0 to 0.2.0 that runs before
-- the generated functions: changes to existing tables and types.

-- The audit log: each entry names the key it was chained under.  Entries
-- 0.1.0 wrote keep NULL there and their plain SHA-256 hashes: they are not
-- rewritten.  They verify as the legacy prefix of the chain, up to the head
-- recorded in privacy.audit_legacy below (see src/sql/15_audit.sql).
ALTER TABLE privacy.audit_log ADD COLUMN key_fingerprint text;

-- Published views: the query behind the rows and the row function.
ALTER TABLE privacy.published ADD COLUMN body text, ADD COLUMN row_function regprocedure;

-- The purge's work description gained a column in the middle: the type and
-- the functions taking or returning it are made again.
DROP FUNCTION privacy._retention_expired_partitions(privacy._retention_work, timestamptz);
DROP FUNCTION privacy._retention_where(privacy._retention_work, boolean);
DROP FUNCTION privacy._retention_work(regclass);
DROP TYPE privacy._retention_work;
CREATE TYPE privacy._retention_work AS (
  policy       privacy.retention_policy,
  relkind      "char",
  rel          text,       -- relation as written in the statements
  tcol         text,       -- quoted time column
  ttype        regtype,
  held         text,       -- predicate: the row is under a hold ($3...)
  held_args    text[],
  held_cols    integer,    -- how many columns the hold predicate looks at
  set_list     text,       -- anonymize: SET ...
  todo         text        -- anonymize: the row is not anonymized yet
);

-- A column of catalog_problems changes collation: the view is made again.
DROP VIEW privacy.catalog_problems;
