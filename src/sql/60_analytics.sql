-- Safe analytics: measuring k-anonymity, publishing aggregates that single
-- no one out, and pseudonymized extracts for analysts.
--
-- A published view is SELECT * FROM <view>_rows(), a function without
-- arguments that returns the figures only: its rows are computed (in C,
-- pgp_published_rows) from the definition recorded in privacy.published,
-- with the rights of the role that published it, in a security-restricted
-- operation.  The view and its function belong to the extension owner, so
-- neither the publisher nor a reader can change what the register says was
-- published; the builders are API entry points, check the caller's rights
-- themselves, and record what they built (no one can record anything
-- else).  A reader's EXPLAIN shows a function scan, never the plan over
-- the source.

CREATE TABLE privacy.published (
  view_name    regclass PRIMARY KEY,
  kind         text NOT NULL CHECK (kind IN ('safe_aggregate', 'pseudonymized_extract')),
  source       text NOT NULL,          -- the query, or the table extracted
  min_group    integer,                -- safe aggregates
  with_total   boolean,
  domain       text,                   -- extracts
  time_unit    text,
  created_by   name NOT NULL,          -- the rows are computed with this role's rights
  created_at   timestamptz NOT NULL DEFAULT now(),
  body         text,                   -- the query that computes the rows
  row_function regprocedure            -- <view_name>_rows(), which the view reads
);
COMMENT ON TABLE privacy.published IS
  'pg_privacy: safe aggregates and pseudonymized extracts published for analysts';
SELECT pg_catalog.pg_extension_config_dump('privacy.published', '');

------------------------------------------------------------------------
-- k-anonymity
------------------------------------------------------------------------

CREATE FUNCTION privacy.k_anonymity(tbl regclass, quasi_identifiers name[], k integer DEFAULT 5)
  RETURNS TABLE(min_group_size bigint, groups bigint, rows bigint,
                groups_below_k bigint, rows_below_k bigint)
  LANGUAGE plpgsql STABLE
AS $$
DECLARE
  cols text;
  c name;
  typid oid;
BEGIN
  IF tbl IS NULL OR quasi_identifiers IS NULL OR k IS NULL THEN
    RAISE EXCEPTION 'table, quasi-identifiers and k must not be null' USING ERRCODE = '22004';
  END IF;
  IF k OPERATOR(pg_catalog.<) 2 THEN
    RAISE EXCEPTION 'k must be at least 2'
      USING ERRCODE = '22023', DETAIL = pg_catalog.format('The value given was %s.', k);
  END IF;
  IF pg_catalog.cardinality(quasi_identifiers) OPERATOR(pg_catalog.=) 0 THEN
    RAISE EXCEPTION 'at least one quasi-identifier is needed' USING ERRCODE = '22023';
  END IF;
  -- Nothing of a table owner's may run with the caller's (perhaps a
  -- superuser's) rights: tables and published views only, grouped by
  -- columns of built-in types.
  IF NOT EXISTS (
       SELECT FROM pg_catalog.pg_class r
        WHERE r.oid OPERATOR(pg_catalog.=) tbl
          AND (r.relkind OPERATOR(pg_catalog.=) ANY (ARRAY['r', 'p', 'm']::"char"[])
               OR (r.relkind OPERATOR(pg_catalog.=) 'v'
                   AND r.relowner OPERATOR(pg_catalog.=) (SELECT e.extowner FROM pg_catalog.pg_extension e
                                                           WHERE e.extname OPERATOR(pg_catalog.=) 'pg_privacy')))) THEN
    RAISE EXCEPTION 'k_anonymity cannot read %', tbl
      USING ERRCODE = '0A000', DETAIL = 'It reads tables, materialized views and published views only.';
  END IF;
  FOREACH c IN ARRAY quasi_identifiers LOOP
    SELECT a.atttypid INTO typid FROM pg_catalog.pg_attribute a
     WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attname OPERATOR(pg_catalog.=) c
       AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
    IF c IS NULL OR NOT FOUND THEN
      RAISE EXCEPTION 'column "%" of relation % does not exist', c, tbl USING ERRCODE = '42703';
    END IF;
    IF typid OPERATOR(pg_catalog.>=) 16384 THEN
      RAISE EXCEPTION 'column "%" of % has type %, which k_anonymity cannot group by', c, tbl, typid::regtype
        USING ERRCODE = '0A000', DETAIL = 'Quasi-identifiers must be of built-in types.';
    END IF;
  END LOOP;
  SELECT pg_catalog.string_agg(pg_catalog.quote_ident(q), ', ') INTO cols
    FROM pg_catalog.unnest(quasi_identifiers) q;
  -- Runs with the caller's rights: the caller must be able to read tbl.
  RETURN QUERY EXECUTE pg_catalog.format(
    'SELECT pg_catalog.min(n)::bigint, pg_catalog.count(*)::bigint, COALESCE(pg_catalog.sum(n), 0)::bigint,'
    '       pg_catalog.count(*) FILTER (WHERE n OPERATOR(pg_catalog.<) $1)::bigint,'
    '       COALESCE(pg_catalog.sum(n) FILTER (WHERE n OPERATOR(pg_catalog.<) $1), 0)::bigint'
    '  FROM (SELECT pg_catalog.count(*) AS n FROM %s GROUP BY %s) g', tbl, cols)
    USING k;
END
$$;
COMMENT ON FUNCTION privacy.k_anonymity(regclass, name[], integer) IS
  'smallest group size over the quasi-identifiers, number of groups and rows, and how many fall in groups below k';

------------------------------------------------------------------------
-- Publishing
------------------------------------------------------------------------

-- Split a schema-qualified name; raise when it is not one.
CREATE FUNCTION privacy_internal._qualified_name(name text, what text) RETURNS text[]
  LANGUAGE plpgsql IMMUTABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  parts text[];
BEGIN
  BEGIN
    parts := pg_catalog.parse_ident(name);
  EXCEPTION WHEN OTHERS THEN
    RAISE EXCEPTION 'invalid % name "%"', what, name USING ERRCODE = '22023';
  END;
  IF pg_catalog.cardinality(parts) OPERATOR(pg_catalog.<>) 2 THEN
    RAISE EXCEPTION '% name "%" must be schema-qualified', what, name
      USING ERRCODE = '22023', HINT = 'Write it as schema.name.';
  END IF;
  RETURN parts;
END
$$;

-- Create a published view: its row function and the view over it, both
-- owned by the extension owner; record and audit it.  Internal, called by
-- the builders (API entry points) after their checks.
CREATE FUNCTION privacy_internal._publish(parts text[], coldefs text, body text, kind text, source text,
                                 min_group integer, with_total boolean, domain text,
                                 time_unit text, grant_to name, creator name, comment text,
                                 detail jsonb)
  RETURNS regclass
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  fn text := pg_catalog.format('%I.%I', parts[1], parts[2] OPERATOR(pg_catalog.||) '_rows');
  vq text := pg_catalog.format('%I.%I', parts[1], parts[2]);
  v regclass;
BEGIN
  -- The row function computes the rows from the register (src/analytics.c,
  -- pgp_published_rows): the view's readers see a function scan only.
  EXECUTE pg_catalog.format(
    'CREATE FUNCTION %s() RETURNS TABLE(%s) LANGUAGE c STABLE SECURITY DEFINER '
    'SET search_path = pg_catalog, pg_temp AS %L, %L',
    fn, coldefs, 'MODULE_PATHNAME', 'pgp_published_rows');
  EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s() FROM PUBLIC', fn);
  EXECUTE pg_catalog.format('CREATE VIEW %s WITH (security_barrier) AS SELECT * FROM %s()', vq, fn);
  v := vq::regclass;
  INSERT INTO privacy.published (view_name, kind, source, min_group, with_total, domain, time_unit,
                                 created_by, body, row_function)
       VALUES (v, kind, source, min_group, with_total, domain, time_unit, creator, body,
               (fn OPERATOR(pg_catalog.||) '()')::pg_catalog.regprocedure);
  EXECUTE pg_catalog.format('COMMENT ON VIEW %s IS %L', v, comment);
  IF grant_to IS NOT NULL THEN
    EXECUTE pg_catalog.format('GRANT SELECT ON %s TO %I', v, grant_to);
    EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s() TO %I', fn, grant_to);
  END IF;
  PERFORM privacy_internal._audit('analytics.' OPERATOR(pg_catalog.||) kind, v::text,
                         pg_catalog.jsonb_strip_nulls(detail));
  RETURN v;
END
$$;


-- The caller may create the view in the schema.
CREATE FUNCTION privacy_internal._check_publish_schema(schema_name text, caller name)
  RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_namespace n
                  WHERE n.nspname OPERATOR(pg_catalog.=) schema_name) THEN
    RAISE EXCEPTION 'schema "%" does not exist', schema_name USING ERRCODE = '3F000';
  END IF;
  IF NOT pg_catalog.has_schema_privilege(caller, schema_name, 'CREATE') THEN
    RAISE EXCEPTION 'permission denied for schema %', schema_name USING ERRCODE = '42501';
  END IF;
END
$$;

------------------------------------------------------------------------
-- Safe aggregates
------------------------------------------------------------------------

CREATE FUNCTION privacy_internal._analyze_grouped_query(query text, as_role oid)
  RETURNS TABLE(what text, col name, type text, kind text, rel regclass, rtindex integer)
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_analyze_grouped_query';
COMMENT ON FUNCTION privacy_internal._analyze_grouped_query(text, oid) IS
  'internal: tables, columns and output columns of a grouped SELECT analyzed as as_role, or an error when a safe aggregate may not publish it';

CREATE FUNCTION privacy_internal._grouped_query_def(query text, as_role oid, subject_rtindex integer[],
                                           subject_col name[])
  RETURNS text
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_grouped_query_def';
COMMENT ON FUNCTION privacy_internal._grouped_query_def(text, oid, integer[], name[]) IS
  'internal: a checked grouped SELECT as fully qualified SQL, with the distinct count of each given subject column added';

-- May a safe aggregate use this column (anywhere in its query)?  Declared
-- columns: only traffic and location data that identify no one.
-- Undeclared columns: yes, unless the name looks personal by
-- privacy.name_pattern (as privacy.undeclared_columns lists them): then
-- it must be declared first.
CREATE FUNCTION privacy_internal._check_publishable(rel regclass, col name)
  RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  d record;
  looks text;
BEGIN
  -- a partition is declared by its partitioned table
  SELECT c.category, c.identifies INTO d FROM privacy.registered_column c
   WHERE c.tbl OPERATOR(pg_catalog.=) ANY (SELECT rel UNION SELECT a.relid FROM pg_catalog.pg_partition_ancestors(rel) a)
     AND c.col OPERATOR(pg_catalog.=) _check_publishable.col
   LIMIT 1;
  IF FOUND THEN
    IF d.identifies IS NOT NULL
       OR d.category OPERATOR(pg_catalog.<>) ALL (ARRAY['traffic', 'location']) THEN
      RAISE EXCEPTION 'column "%" of % identifies a person and cannot be used in a safe aggregate', col, rel
        USING ERRCODE = '42501',
              DETAIL = pg_catalog.format('It is declared as %s. A safe aggregate counts and sums traffic and location data only, grouped by them.',
                                         CASE WHEN d.identifies IS NOT NULL
                                              THEN pg_catalog.format('identifier "%s"', d.identifies)
                                              ELSE pg_catalog.format('personal data of category "%s"', d.category) END);
    END IF;
    RETURN;
  END IF;
  SELECT np.category INTO looks FROM privacy.name_pattern np
   WHERE col::text OPERATOR(pg_catalog.~*) np.pattern
   ORDER BY np.pattern LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'column "%" of % looks like personal data (%) and is not declared', col, rel, looks
      USING ERRCODE = '42501',
            HINT = 'Declare it with privacy.register_column(); traffic and location data can be published.';
  END IF;
END
$$;

-- Publish a grouped query as a view whose groups smaller than min_group
-- are suppressed.  Only counts and sums of non-identifying columns,
-- grouped by non-identifying columns, over tables; where a table declares
-- an owner identifier a group's size is its number of distinct data
-- subjects, not of rows.  With with_total, a total row is added that
-- sums the published groups only: a suppressed group can never be
-- recovered by subtracting the published ones from it.
CREATE FUNCTION privacy.create_safe_aggregate(view_name text, query text, min_group integer,
                                              count_column name DEFAULT 'n',
                                              with_total boolean DEFAULT false,
                                              grant_to name DEFAULT NULL)
  RETURNS regclass
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  caller name := privacy_internal._invoker();
  caller_id oid;
  parts text[];
  body text;
  q text;
  s record;
  d record;
  sel text[] := '{}';
  tot text[] := '{}';
  coldefs text[] := '{}';
  found_count boolean := false;
  subj_rti integer[] := '{}';
  subj_col name[] := '{}';
  size_expr text;
BEGIN
  IF view_name IS NULL OR query IS NULL OR min_group IS NULL OR count_column IS NULL
     OR with_total IS NULL THEN
    RAISE EXCEPTION 'view name, query, min_group, count_column and with_total must not be null'
      USING ERRCODE = '22004';
  END IF;
  IF min_group OPERATOR(pg_catalog.<) 2 THEN
    RAISE EXCEPTION 'min_group must be at least 2'
      USING ERRCODE = '22023', DETAIL = pg_catalog.format('The value given was %s.', min_group);
  END IF;
  parts := privacy_internal._qualified_name(view_name, 'view');
  SELECT r.oid INTO caller_id FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) caller;
  PERFORM privacy_internal._check_publish_schema(parts[1], caller);
  q := pg_catalog.regexp_replace(query, '[[:space:];]+$', '');

  -- analyzed as the caller, who must be able to read what it reads
  FOR s IN SELECT * FROM privacy_internal._analyze_grouped_query(q, caller_id) LOOP
    IF s.what OPERATOR(pg_catalog.=) 'relation' THEN
      FOR d IN SELECT c.col FROM privacy.registered_column c
                WHERE c.tbl OPERATOR(pg_catalog.=) ANY (SELECT s.rel UNION SELECT a.relid FROM pg_catalog.pg_partition_ancestors(s.rel) a)
                  AND c.identifies IS NOT NULL
                  AND c.link OPERATOR(pg_catalog.=) 'owner'
                ORDER BY c.attnum LOOP
        subj_rti := subj_rti OPERATOR(pg_catalog.||) s.rtindex;
        subj_col := subj_col OPERATOR(pg_catalog.||) d.col;
      END LOOP;
      CONTINUE;
    END IF;
    IF s.what OPERATOR(pg_catalog.=) 'column' THEN
      PERFORM privacy_internal._check_publishable(s.rel, s.col);
      CONTINUE;
    END IF;
    IF s.col OPERATOR(pg_catalog.=) count_column THEN
      IF s.kind OPERATOR(pg_catalog.<>) 'count' THEN
        RAISE EXCEPTION 'column "%" of a safe aggregate must be count(*)', count_column
          USING ERRCODE = '22023',
                DETAIL = 'Only count(*) without FILTER or DISTINCT gives the true size of a group.';
      END IF;
      found_count := true;
    END IF;
    IF with_total AND s.col OPERATOR(pg_catalog.=) 'total' THEN
      RAISE EXCEPTION 'column name "total" is reserved for the total row'
        USING ERRCODE = '22023', HINT = 'Name the column otherwise, or publish without with_total.';
    END IF;
    IF with_total AND s.kind OPERATOR(pg_catalog.<>) ALL (ARRAY['group', 'count', 'sum']) THEN
      RAISE EXCEPTION 'column "%" cannot be totalled', s.col
        USING ERRCODE = '22023',
              DETAIL = 'A total over the published groups is only meaningful for count(*) and sum().',
              HINT = 'Publish without with_total, or drop that column.';
    END IF;
    sel := sel OPERATOR(pg_catalog.||) pg_catalog.format('q.%I', s.col);
    coldefs := coldefs OPERATOR(pg_catalog.||) pg_catalog.format('%I %s', s.col, s.type);
    tot := tot OPERATOR(pg_catalog.||)
           CASE WHEN s.kind OPERATOR(pg_catalog.=) 'group'
                THEN pg_catalog.format('NULL::%s AS %I', s.type, s.col)
                ELSE pg_catalog.format('pg_catalog.sum(q.%I)::%s AS %I', s.col, s.type, s.col) END;
  END LOOP;
  IF NOT found_count THEN
    RAISE EXCEPTION 'the query of a safe aggregate must return count(*) as column "%"', count_column
      USING ERRCODE = '22023', HINT = 'Add count(*) AS n to the select list, or name the column with count_column.';
  END IF;
  IF with_total THEN
    sel := sel OPERATOR(pg_catalog.||) 'false AS total'::text;
    tot := tot OPERATOR(pg_catalog.||) 'true AS total'::text;
    coldefs := coldefs OPERATOR(pg_catalog.||) 'total boolean'::text;
  END IF;

  -- A group's size: its rows, or where tables declare an owner identifier
  -- its data subjects (per table the largest distinct count of its owner
  -- identifiers, over the tables the smallest).
  IF pg_catalog.cardinality(subj_rti) OPERATOR(pg_catalog.=) 0 THEN
    size_expr := pg_catalog.format('q.%I', count_column);
  ELSE
    SELECT 'LEAST(' OPERATOR(pg_catalog.||) pg_catalog.string_agg(g, ', ') OPERATOR(pg_catalog.||) ')'
      INTO size_expr
      FROM (SELECT 'GREATEST(' OPERATOR(pg_catalog.||)
                   pg_catalog.string_agg(pg_catalog.format('q.%I', '_pgp_subjects_' OPERATOR(pg_catalog.||) u.i), ', ')
                   OPERATOR(pg_catalog.||) ')' AS g
              FROM pg_catalog.unnest(subj_rti) WITH ORDINALITY u(rti, i)
             GROUP BY u.rti) x;
  END IF;
  body := pg_catalog.format('WITH q AS MATERIALIZED (%s) SELECT %s FROM q WHERE %s OPERATOR(pg_catalog.>=) %s',
                            privacy_internal._grouped_query_def(q, caller_id, subj_rti, subj_col),
                            pg_catalog.array_to_string(sel, ', '), size_expr, min_group);
  IF with_total THEN
    body := body OPERATOR(pg_catalog.||)
            pg_catalog.format(' UNION ALL SELECT %s FROM q WHERE %s OPERATOR(pg_catalog.>=) %s',
                              pg_catalog.array_to_string(tot, ', '), size_expr, min_group);
  END IF;

  RETURN privacy_internal._publish(parts, pg_catalog.array_to_string(coldefs, ', '), body, 'safe_aggregate', q,
                          min_group, with_total, NULL, NULL, grant_to, caller,
                          pg_catalog.format('safe aggregate (pg_privacy): groups under %s %s suppressed%s',
                                            min_group,
                                            CASE WHEN pg_catalog.cardinality(subj_rti) OPERATOR(pg_catalog.=) 0
                                                 THEN 'rows' ELSE 'data subjects' END,
                                            CASE WHEN with_total THEN '; total over published groups only' ELSE '' END),
                          pg_catalog.jsonb_build_object('min_group', min_group, 'with_total', with_total,
                                                        'counts', CASE WHEN pg_catalog.cardinality(subj_rti) OPERATOR(pg_catalog.=) 0
                                                                       THEN 'rows' ELSE 'subjects' END));
END
$$;
COMMENT ON FUNCTION privacy.create_safe_aggregate(text, text, integer, name, boolean, name) IS
  'publish a grouped query (counts and sums of non-identifying columns) as a view with groups below min_group data subjects suppressed (optionally a total over the published groups only)';

------------------------------------------------------------------------
-- Pseudonymized extracts
------------------------------------------------------------------------

CREATE FUNCTION privacy_internal._extract_msisdn(raw text)
  RETURNS text
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_extract_msisdn';
COMMENT ON FUNCTION privacy_internal._extract_msisdn(text) IS
  'internal: E.164 form of a phone number that pseudonymize_msisdn accepts, else NULL';

CREATE FUNCTION privacy_internal._extract_country(value text)
  RETURNS text
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_extract_country';
COMMENT ON FUNCTION privacy_internal._extract_country(text) IS
  'internal: country_of(value), or NULL where no country can be derived';

-- A pseudonymized extract of a registered table for analysts: every
-- registered personal column replaced by its keyed pseudonym under an
-- analytics domain (so distinct callers can be counted and extracts
-- joined, but not linked to other domains or re-identified), timestamps
-- of traffic data generalized to time_unit, location kept at country
-- level; undeclared columns pass unchanged.  Phone numbers are first
-- brought to one form (the msisdn_fpe pseudonym of the default domain,
-- which is how protected CDR columns store them), so a subscriber has the
-- same analytics pseudonym in every extract.  A value that cannot be
-- transformed (a malformed number) shows as NULL, never raw.
--
-- The rows are computed with the caller's rights (SELECT on the table,
-- EXECUTE on the keyed functions); an analyst granted the view cannot
-- feed the keyed functions values of his own choosing.
CREATE FUNCTION privacy.create_pseudonymized_extract(view_name text, tbl regclass,
                                                     domain text DEFAULT 'analytics',
                                                     time_unit text DEFAULT 'day',
                                                     grant_to name DEFAULT NULL)
  RETURNS regclass
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  caller name := privacy_internal._invoker();
  parts text[];
  s record;
  expr text;
  sel text := '';
  cols text := '';
  src text;
  npersonal integer := 0;
  keyed boolean := false;
  fpe boolean := false;
BEGIN
  IF view_name IS NULL OR tbl IS NULL OR domain IS NULL OR time_unit IS NULL THEN
    RAISE EXCEPTION 'view name, table, domain and time unit must not be null' USING ERRCODE = '22004';
  END IF;
  parts := privacy_internal._qualified_name(view_name, 'view');
  IF time_unit OPERATOR(pg_catalog.<>) ALL (ARRAY['minute','hour','day','week','month','quarter','year']) THEN
    RAISE EXCEPTION 'invalid generalization unit "%"', time_unit
      USING ERRCODE = '22023', HINT = 'Use one of: minute, hour, day, week, month, quarter, year.';
  END IF;
  IF domain OPERATOR(pg_catalog.=) 'default' OR pg_catalog.octet_length(domain) NOT BETWEEN 1 AND 200 THEN
    RAISE EXCEPTION 'invalid analytics domain "%"', domain
      USING ERRCODE = '22023',
            DETAIL = 'An extract needs a domain of its own (1 to 200 bytes, not "default"), so its pseudonyms link to nothing else.';
  END IF;
  IF NOT pg_catalog.has_table_privilege(caller, tbl, 'SELECT') THEN
    RAISE EXCEPTION 'permission denied for table %', tbl USING ERRCODE = '42501';
  END IF;
  -- the rows are computed with the caller's rights: no policy of the
  -- table owner's may run then
  IF EXISTS (SELECT FROM pg_catalog.pg_class c
              WHERE c.oid OPERATOR(pg_catalog.=) tbl AND c.relrowsecurity
                AND NOT EXISTS (SELECT FROM pg_catalog.pg_roles r
                                 WHERE r.rolname OPERATOR(pg_catalog.=) caller AND (r.rolsuper OR r.rolbypassrls))
                AND (c.relforcerowsecurity OR NOT pg_catalog.pg_has_role(caller, c.relowner, 'USAGE'))) THEN
    RAISE EXCEPTION 'an extract cannot read %, whose row-level security policies would apply', tbl
      USING ERRCODE = '0A000', HINT = 'Publish it as the table''s owner.';
  END IF;
  PERFORM privacy_internal._check_publish_schema(parts[1], caller);
  FOR s IN
    SELECT a.attname AS col, a.atttypid AS typid, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
           c.category, c.identifies, c.protect,
           (SELECT np.category FROM privacy.name_pattern np
             WHERE a.attname::text OPERATOR(pg_catalog.~*) np.pattern
             ORDER BY np.pattern LIMIT 1) AS looks
      FROM pg_catalog.pg_attribute a
      -- a partition is declared by its partitioned table
      LEFT JOIN LATERAL (
             SELECT c0.category, c0.identifies, c0.protect FROM privacy.registered_column c0
              WHERE c0.tbl OPERATOR(pg_catalog.=) ANY (
                      SELECT create_pseudonymized_extract.tbl
                      UNION SELECT pa.relid FROM pg_catalog.pg_partition_ancestors(create_pseudonymized_extract.tbl) pa)
                AND c0.col OPERATOR(pg_catalog.=) a.attname
              LIMIT 1) c ON true
     WHERE a.attrelid OPERATOR(pg_catalog.=) create_pseudonymized_extract.tbl AND a.attnum OPERATOR(pg_catalog.>) 0
       AND NOT a.attisdropped
     ORDER BY a.attnum
  LOOP
    -- an undeclared column that looks personal would pass raw: declare it first
    IF s.category IS NULL AND s.looks IS NOT NULL THEN
      RAISE EXCEPTION 'column "%" of % looks like personal data (%) and is not declared', s.col, tbl, s.looks
        USING ERRCODE = '42501',
              HINT = 'Declare it with privacy.register_column(); an extract passes undeclared columns unchanged.';
    END IF;
    -- what the extract computes over, it computes over built-in types only
    IF s.category IS NOT NULL AND s.typid OPERATOR(pg_catalog.>=) 16384 THEN
      RAISE EXCEPTION 'column "%" of % has type %, which an extract cannot transform', s.col, tbl, s.type
        USING ERRCODE = '0A000', DETAIL = 'Declared columns are transformed as built-in types only.';
    END IF;
    expr := CASE
      WHEN s.category IS NULL THEN pg_catalog.format('t.%I', s.col)
      WHEN s.category OPERATOR(pg_catalog.=) 'traffic'
           AND s.type OPERATOR(pg_catalog.=) ANY (ARRAY['timestamp with time zone', 'timestamp without time zone', 'date'])
        THEN pg_catalog.format('pg_catalog.date_trunc(%L, t.%I)', time_unit, s.col)
      WHEN s.category OPERATOR(pg_catalog.=) 'traffic' THEN pg_catalog.format('t.%I', s.col)
      WHEN s.category OPERATOR(pg_catalog.=) 'location'
        THEN pg_catalog.format('privacy_internal._extract_country(t.%I::text)', s.col)
      WHEN s.identifies OPERATOR(pg_catalog.=) 'msisdn' AND s.protect IS NULL
        THEN pg_catalog.format('privacy.pseudonymize(privacy.pseudonymize_msisdn(privacy_internal._extract_msisdn(t.%I::text)), %L)', s.col, domain)
      WHEN s.identifies OPERATOR(pg_catalog.=) 'email' AND s.protect IS NULL
        -- the e-mail normal form (src/identifier.c), as protect stores it
        THEN pg_catalog.format('privacy.pseudonymize(COALESCE(privacy.lookup_value(''email'', t.%I::text, NULL), t.%I::text), %L)',
                               s.col, s.col, domain)
      ELSE pg_catalog.format('privacy.pseudonymize(t.%I::text, %L)', s.col, domain)
    END;
    IF s.category IS NOT NULL THEN
      npersonal := npersonal OPERATOR(pg_catalog.+) 1;
      keyed := keyed OR s.category OPERATOR(pg_catalog.<>) ALL (ARRAY['traffic', 'location']);
      fpe := fpe OR (s.identifies OPERATOR(pg_catalog.=) 'msisdn' AND s.protect IS NULL);
    END IF;
    sel := sel OPERATOR(pg_catalog.||) CASE WHEN sel OPERATOR(pg_catalog.=) '' THEN '' ELSE ', ' END
               OPERATOR(pg_catalog.||) expr OPERATOR(pg_catalog.||) pg_catalog.format(' AS %I', s.col);
    cols := cols OPERATOR(pg_catalog.||) CASE WHEN cols OPERATOR(pg_catalog.=) '' THEN '' ELSE ', ' END
                 OPERATOR(pg_catalog.||) pg_catalog.format('%I %s', s.col,
                      CASE WHEN s.category IS NULL OR s.category OPERATOR(pg_catalog.=) 'traffic' THEN s.type
                           ELSE 'text' END);
  END LOOP;
  IF npersonal OPERATOR(pg_catalog.=) 0 THEN
    RAISE EXCEPTION 'table % declares no personal column', tbl
      USING ERRCODE = '55000', HINT = 'Declare its columns with privacy.register_column() first.';
  END IF;
  -- the rows are computed with the caller's rights: the caller must hold the keys
  IF keyed AND NOT pg_catalog.has_function_privilege(caller, 'privacy.pseudonymize(text, text)', 'EXECUTE') THEN
    RAISE EXCEPTION 'permission denied for function pseudonymize' USING ERRCODE = '42501';
  END IF;
  IF fpe AND NOT pg_catalog.has_function_privilege(caller, 'privacy.pseudonymize_msisdn(text, text, text)', 'EXECUTE') THEN
    RAISE EXCEPTION 'permission denied for function pseudonymize_msisdn' USING ERRCODE = '42501';
  END IF;

  -- the table by its qualified name: the rows are computed with a pinned search_path
  SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) INTO src
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
   WHERE c.oid OPERATOR(pg_catalog.=) tbl;
  RETURN privacy_internal._publish(parts, cols, pg_catalog.format('SELECT %s FROM %s t', sel, src),
                          'pseudonymized_extract', tbl::text, NULL, NULL, domain, time_unit,
                          grant_to, caller,
                          pg_catalog.format('pseudonymized extract (pg_privacy) of %s: domain %s, time by %s',
                                            tbl, domain, time_unit),
                          pg_catalog.jsonb_build_object('domain', domain, 'time_unit', time_unit));
END
$$;
COMMENT ON FUNCTION privacy.create_pseudonymized_extract(text, regclass, text, text, name) IS
  'publish a view of a registered table with personal columns pseudonymized under an analytics domain, time generalized, location at country level';

------------------------------------------------------------------------
-- Withdrawing
------------------------------------------------------------------------

-- Drop a published view and its row function.  Its publisher (or a member
-- of the publishing role) and the owner of its schema may; the view and
-- the function belong to the extension owner, so this is how a publisher
-- takes back (and republishes) what it published.
CREATE FUNCTION privacy.unpublish(view_name regclass)
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  caller name := privacy_internal._invoker();
  creator name;
  schema_owner oid;
  fn regprocedure;
BEGIN
  IF view_name IS NULL THEN
    RAISE EXCEPTION 'view name must not be null' USING ERRCODE = '22004';
  END IF;
  SELECT p.created_by INTO creator FROM privacy.published p
   WHERE p.view_name OPERATOR(pg_catalog.=) unpublish.view_name;
  IF NOT FOUND THEN
    RAISE EXCEPTION '% is not a published view', view_name USING ERRCODE = '55000';
  END IF;
  SELECT n.nspowner INTO schema_owner
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
   WHERE c.oid OPERATOR(pg_catalog.=) view_name;
  IF NOT (pg_catalog.pg_has_role(caller, schema_owner, 'MEMBER')
          OR (EXISTS (SELECT FROM pg_catalog.pg_roles r WHERE r.rolname OPERATOR(pg_catalog.=) creator)
              AND pg_catalog.pg_has_role(caller, creator, 'MEMBER'))) THEN
    RAISE EXCEPTION 'must be the publisher of % or the owner of its schema', view_name
      USING ERRCODE = '42501';
  END IF;
  SELECT p.row_function INTO fn FROM privacy.published p
   WHERE p.view_name OPERATOR(pg_catalog.=) unpublish.view_name;
  -- the event trigger takes it off the register and audits it
  EXECUTE pg_catalog.format('DROP VIEW %s', view_name);
  IF fn IS NOT NULL THEN
    EXECUTE pg_catalog.format('DROP FUNCTION %s', fn);
  END IF;
END
$$;
COMMENT ON FUNCTION privacy.unpublish(regclass) IS
  'drop a published view and its row function (its publisher or the owner of its schema)';
