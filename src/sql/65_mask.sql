-- Masking by role (src/mask.c): a masked role reads every declared
-- personal column of a registered table through the mask of its category
-- (or the column's own mask, set_mask), under the table's own name, in
-- every statement it plans and in COPY ... TO.  The masks are applied by
-- the planner, not by views: the role's queries, views, functions,
-- cursors and pg_dump all read the same masked values.

CREATE TABLE privacy.masked_role (
  role               regrole PRIMARY KEY,
  privacy_by_default boolean NOT NULL DEFAULT false,
  masked_at          timestamptz NOT NULL DEFAULT now(),
  masked_by          name NOT NULL DEFAULT current_user
);
COMMENT ON TABLE privacy.masked_role IS
  'pg_privacy: roles that read registered tables masked (privacy.mask_role)';
SELECT pg_catalog.pg_extension_config_dump('privacy.masked_role', '');

------------------------------------------------------------------------
-- The masks of the categories: keyless, for anyone to call
------------------------------------------------------------------------

CREATE FUNCTION privacy.mask_name(value text) RETURNS text
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_mask_name';
COMMENT ON FUNCTION privacy.mask_name(text) IS
  'a name reduced to its initials: "Jens Peter Hansen" -> "J. P. H."';

CREATE FUNCTION privacy.mask_email(value text) RETURNS text
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_mask_email';
COMMENT ON FUNCTION privacy.mask_email(text) IS
  'an e-mail address partially hidden: "jens.hansen@firma.dk" -> "j***@firma.dk"; anything else -> "***"';

CREATE FUNCTION privacy.mask_address(value text) RETURNS text
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_mask_address';
COMMENT ON FUNCTION privacy.mask_address(text) IS
  'a postal address reduced to postal code and town: "Vestergade 12, 8000 Aarhus C" -> "8000 Aarhus C"; a street -> NULL';

CREATE FUNCTION privacy.mask_account(value text, visible integer DEFAULT 4) RETURNS text
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_mask_account';
COMMENT ON FUNCTION privacy.mask_account(text, integer) IS
  'an account number with every digit but the last `visible` replaced by X, its format kept';

------------------------------------------------------------------------
-- The keyed masks of identifiers: applied by masking only
------------------------------------------------------------------------

-- Whoever could call these on a value of his choice could test guesses
-- against the pseudonyms a masked role reads.  EXECUTE is granted to
-- PUBLIC (the masked role's own statements run them), but each refuses
-- (42501) unless the planner put it there as a column's mask.  PARALLEL
-- RESTRICTED: the mark the planner gives them does not travel to parallel
-- workers (plans are serialized without parse locations), so they run in
-- the leader.
CREATE FUNCTION privacy_internal._mask_pseudonym(value text) RETURNS text
  LANGUAGE c STABLE STRICT PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_mask_pseudonym_text';
CREATE FUNCTION privacy_internal._mask_pseudonym(value bigint) RETURNS bigint
  LANGUAGE c STABLE STRICT PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_mask_pseudonym_int8';
CREATE FUNCTION privacy_internal._mask_pseudonym(value integer) RETURNS integer
  LANGUAGE c STABLE STRICT PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_mask_pseudonym_int4';
CREATE FUNCTION privacy_internal._mask_pseudonym(value smallint) RETURNS smallint
  LANGUAGE c STABLE STRICT PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_mask_pseudonym_int2';
COMMENT ON FUNCTION privacy_internal._mask_pseudonym(text) IS
  'internal: keyed pseudonym of an identifier (128 bits, base64url), as a masked role reads it';
COMMENT ON FUNCTION privacy_internal._mask_pseudonym(bigint) IS
  'internal: keyed permutation of bigint identifiers (FF1), as a masked role reads them';
COMMENT ON FUNCTION privacy_internal._mask_pseudonym(integer) IS
  'internal: keyed permutation of integer identifiers (FF1), as a masked role reads them';
COMMENT ON FUNCTION privacy_internal._mask_pseudonym(smallint) IS
  'internal: keyed permutation of smallint identifiers (FF1), as a masked role reads them';

-- What a masked role reads of one column: the rule and the expression.
CREATE FUNCTION privacy_internal._mask_column(tbl regclass, col name, privacy_by_default boolean,
                                              OUT rule text, OUT expression text)
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_mask_column';
COMMENT ON FUNCTION privacy_internal._mask_column(regclass, name, boolean) IS
  'internal: the mask a masked role reads a column through (rule, SQL expression)';

-- A column's own mask, checked: one expression over the table's columns.
CREATE FUNCTION privacy_internal._mask_check(tbl regclass, col name, expression text) RETURNS void
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_mask_check';
COMMENT ON FUNCTION privacy_internal._mask_check(regclass, name, text) IS
  'internal: refuses a column mask that is not one scalar expression over the table''s own row';

CREATE FUNCTION privacy_internal._mask_preloaded() RETURNS boolean
  LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'pgp_mask_preloaded';
COMMENT ON FUNCTION privacy_internal._mask_preloaded() IS
  'internal: was the library loaded at server start (the masking hooks in every session)';

-- How a role could read around the masks (mask_role refuses it, health()
-- reports it): it reads the server's files or the WAL (a superuser, a
-- replication role, a member of a server-file role, INHERIT or not: it can
-- SET ROLE), or it owns or may add triggers to registered tables (NEW and
-- OLD are not masked), or may reference them in a foreign key (the check
-- runs as the table's owner, through the casts and operators of the
-- referencing column's type, which are the role's own code), as itself or
-- as a role it can SET ROLE to.
CREATE FUNCTION privacy_internal._mask_reads_around(role oid, OUT files boolean, OUT tables text)
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT COALESCE(a.rolsuper OR a.rolreplication
                  OR pg_catalog.pg_has_role(a.oid, 'pg_read_server_files', 'MEMBER')
                  OR pg_catalog.pg_has_role(a.oid, 'pg_write_server_files', 'MEMBER')
                  OR pg_catalog.pg_has_role(a.oid, 'pg_execute_server_program', 'MEMBER'), false),
         (SELECT pg_catalog.string_agg(t.tbl::text, ', ' ORDER BY t.tbl::text)
            FROM privacy.registered_table t
            JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.tbl
           WHERE pg_catalog.pg_has_role(a.oid, c.relowner, 'MEMBER')
              OR EXISTS (SELECT FROM pg_catalog.pg_roles g
                          WHERE pg_catalog.pg_has_role(a.oid, g.oid, 'MEMBER')
                            AND (pg_catalog.has_table_privilege(g.oid, t.tbl, 'TRIGGER')
                                 OR pg_catalog.has_any_column_privilege(g.oid, t.tbl, 'REFERENCES'))))
    FROM pg_catalog.pg_roles a
   WHERE a.oid OPERATOR(pg_catalog.=) role
$$;
COMMENT ON FUNCTION privacy_internal._mask_reads_around(oid) IS
  'internal: how a role could read around the masks: the server''s files, or registered tables it owns, may add triggers to or may reference';

------------------------------------------------------------------------
-- The API
------------------------------------------------------------------------

CREATE FUNCTION privacy.mask_role(role name, privacy_by_default boolean DEFAULT false) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  r      record;
  around record;
  writes text;
BEGIN
  IF role IS NULL OR privacy_by_default IS NULL THEN
    RAISE EXCEPTION 'role and privacy_by_default must not be null' USING ERRCODE = '22004';
  END IF;
  SELECT a.oid INTO r FROM pg_catalog.pg_roles a
   WHERE a.rolname OPERATOR(pg_catalog.=) mask_role.role;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'role "%" does not exist', role USING ERRCODE = '42704';
  END IF;
  -- A role that reads around the masks: masking it would be a promise the
  -- database cannot keep.
  SELECT x.files, x.tables INTO around FROM privacy_internal._mask_reads_around(r.oid) x;
  IF around.files THEN
    RAISE EXCEPTION 'role "%" cannot be masked', role
      USING ERRCODE = '42501',
            DETAIL = 'A superuser, a replication role and a member of pg_read_server_files, '
                     'pg_write_server_files or pg_execute_server_program can read the data without the planner.';
  END IF;
  IF around.tables IS NOT NULL THEN
    RAISE EXCEPTION 'role "%" cannot be masked', role
      USING ERRCODE = '42501',
            DETAIL = pg_catalog.format('It owns, may add triggers to, or may reference in a foreign key, registered tables: %s. '
                                       'Its triggers, and its code in a foreign-key check, would see their rows in clear.', around.tables),
            HINT = 'Let another role own the tables, and revoke TRIGGER and REFERENCES.';
  END IF;
  -- The masks are applied by hooks every session has only when the
  -- library is loaded at server start.
  IF NOT privacy_internal._mask_preloaded() THEN
    RAISE EXCEPTION 'masking needs pg_privacy in shared_preload_libraries'
      USING ERRCODE = '55000',
            DETAIL = 'Sessions that have not loaded the library would read the tables unmasked.',
            HINT = 'Add pg_privacy to shared_preload_libraries in postgresql.conf and restart the server.';
  END IF;
  INSERT INTO privacy.masked_role AS m (role, privacy_by_default, masked_by)
       VALUES (r.oid::regrole, mask_role.privacy_by_default, privacy_internal._invoker())
  ON CONFLICT ON CONSTRAINT masked_role_pkey DO UPDATE
     SET privacy_by_default = EXCLUDED.privacy_by_default,
         masked_at = EXCLUDED.masked_at, masked_by = EXCLUDED.masked_by;
  -- Plans made before (prepared statements, functions) are made again.
  PERFORM privacy_internal._invalidate(t.tbl) FROM privacy.registered_table t;
  PERFORM privacy_internal._invalidate('privacy.masked_role'::pg_catalog.regclass);
  PERFORM privacy_internal._audit('mask.role', role::text,
                         pg_catalog.jsonb_build_object('privacy_by_default', privacy_by_default));
  -- A masked role writes no registered table it reads masked (its writes
  -- are refused): say where it may, so that the DBA knows.
  SELECT pg_catalog.string_agg(t.tbl::text, ', ' ORDER BY t.tbl::text) INTO writes
    FROM privacy.registered_table t
   WHERE pg_catalog.has_table_privilege(r.oid, t.tbl, 'INSERT, UPDATE');
  IF writes IS NOT NULL THEN
    RAISE WARNING 'masked role "%" may write registered tables: %', role, writes
      USING DETAIL = 'While it is masked its writes to them are refused: their checks and errors would show or test their values in clear.',
            HINT = 'Give masked roles read access only, and write as a role that is not masked.';
  END IF;
END
$$;
COMMENT ON FUNCTION privacy.mask_role(name, boolean) IS
  'the role reads every declared personal column of registered tables masked by its category; with privacy_by_default undeclared columns read as NULL';

CREATE FUNCTION privacy.unmask_role(role name) RETURNS boolean
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  rid oid;
BEGIN
  IF role IS NULL THEN
    RAISE EXCEPTION 'role must not be null' USING ERRCODE = '22004';
  END IF;
  SELECT a.oid INTO rid FROM pg_catalog.pg_roles a WHERE a.rolname OPERATOR(pg_catalog.=) unmask_role.role;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'role "%" does not exist', role USING ERRCODE = '42704';
  END IF;
  DELETE FROM privacy.masked_role m WHERE m.role::oid OPERATOR(pg_catalog.=) rid;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  PERFORM privacy_internal._invalidate(t.tbl) FROM privacy.registered_table t;
  PERFORM privacy_internal._invalidate('privacy.masked_role'::pg_catalog.regclass);
  PERFORM privacy_internal._audit('mask.unmask_role', role::text);
  RETURN true;
END
$$;
COMMENT ON FUNCTION privacy.unmask_role(name) IS
  'the role reads registered tables unmasked again; false if it was not masked';

CREATE FUNCTION privacy.set_mask(tbl regclass, col name, expression text) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
BEGIN
  IF tbl IS NULL OR col IS NULL THEN
    RAISE EXCEPTION 'table and column must not be null' USING ERRCODE = '22004';
  END IF;
  PERFORM privacy_internal._check_owner(tbl);
  IF NOT EXISTS (SELECT FROM privacy.registered_column c
                  WHERE c.tbl OPERATOR(pg_catalog.=) set_mask.tbl AND c.col OPERATOR(pg_catalog.=) set_mask.col) THEN
    RAISE EXCEPTION 'column "%" of relation % is not declared', col, tbl
      USING ERRCODE = '42704',
            HINT = 'Declare it with privacy.register_column() first.';
  END IF;
  IF expression IS NOT NULL THEN
    PERFORM privacy_internal._mask_check(tbl, col, expression);
  END IF;
  UPDATE privacy.registered_column c SET mask = expression
   WHERE c.tbl OPERATOR(pg_catalog.=) set_mask.tbl AND c.col OPERATOR(pg_catalog.=) set_mask.col;
  PERFORM privacy_internal._invalidate(tbl);
  PERFORM privacy_internal._audit('mask.set_mask', tbl::text,
                         pg_catalog.jsonb_build_object('column', col, 'expression', expression));
END
$$;
COMMENT ON FUNCTION privacy.set_mask(regclass, name, text) IS
  'the expression a masked role reads a declared column through, instead of its category''s mask (NULL: the category''s again)';

-- What masked roles read of each declared column (privacy_by_default
-- adds: undeclared columns read as NULL).
CREATE VIEW privacy.column_masks AS
SELECT c.tbl AS table_name, c.col AS column_name, c.category, m.rule, m.expression
  FROM privacy.registered_column c
  CROSS JOIN LATERAL privacy_internal._mask_column(c.tbl, c.col, false) m;
COMMENT ON VIEW privacy.column_masks IS
  'pg_privacy: the mask a masked role reads each declared column through';
