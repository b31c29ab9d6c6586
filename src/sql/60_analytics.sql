-- Safe analytics: measuring k-anonymity, publishing aggregates that single
-- no one out, and pseudonymized extracts for analysts.
--
-- Published objects are created with the rights of the role that creates
-- them and are owned by it: the functions below that build them run as
-- their caller, so nothing a caller writes ever runs with the extension
-- owner's rights.  What they publish is recorded in privacy.published.

CREATE TABLE privacy.published (
  view_name    regclass PRIMARY KEY,
  kind         text NOT NULL CHECK (kind IN ('safe_aggregate', 'pseudonymized_extract')),
  source       text NOT NULL,          -- the query, or the table extracted
  min_group    integer,                -- safe aggregates
  with_total   boolean,
  domain       text,                   -- extracts
  time_unit    text,
  created_by   name NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
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
  FOREACH c IN ARRAY quasi_identifiers LOOP
    IF c IS NULL OR NOT EXISTS (
         SELECT FROM pg_catalog.pg_attribute a
          WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attname OPERATOR(pg_catalog.=) c
            AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped) THEN
      RAISE EXCEPTION 'column "%" of relation % does not exist', c, tbl USING ERRCODE = '42703';
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
-- Safe aggregates
------------------------------------------------------------------------

CREATE FUNCTION privacy._analyze_grouped_query(query text)
  RETURNS TABLE(col name, type text, kind text)
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_analyze_grouped_query';
COMMENT ON FUNCTION privacy._analyze_grouped_query(text) IS
  'internal: output columns of a grouped SELECT (group, count, sum, other), or an error when it is not a plain grouped SELECT';

-- Split a schema-qualified name; raise when it is not one.
CREATE FUNCTION privacy._qualified_name(name text, what text) RETURNS text[]
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

-- Record a published view and audit it.  Only the view's owner may record
-- it, so the register holds nothing its caller did not create.
CREATE FUNCTION privacy._record_published(view_name regclass, kind text, source text,
                                          min_group integer, with_total boolean,
                                          domain text, time_unit text)
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  PERFORM privacy._check_owner(view_name);
  INSERT INTO privacy.published (view_name, kind, source, min_group, with_total, domain, time_unit, created_by)
       VALUES (view_name, kind, source, min_group, with_total, domain, time_unit, privacy._invoker());
  PERFORM privacy._audit('analytics.' || kind, view_name::text,
                         pg_catalog.jsonb_strip_nulls(pg_catalog.jsonb_build_object(
                           'min_group', min_group, 'with_total', with_total,
                           'domain', domain, 'time_unit', time_unit)));
END
$$;

-- Publish a grouped query as a view whose groups smaller than min_group
-- are suppressed.  The view is a security barrier (no leaky qual of a
-- reader reaches suppressed groups), is owned by the caller and reads with
-- the caller's rights, so a BI role granted SELECT on it sees the
-- published groups and nothing underneath.  With with_total, a total row
-- is added that sums the published groups only: a suppressed group can
-- never be recovered by subtracting the published ones from it.
CREATE FUNCTION privacy.create_safe_aggregate(view_name text, query text, min_group integer,
                                              count_column name DEFAULT 'n',
                                              with_total boolean DEFAULT false,
                                              grant_to name DEFAULT NULL)
  RETURNS regclass
  LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  parts text[];
  body text;
  q text;
  s record;
  sel text[] := '{}';
  tot text[] := '{}';
  found_count boolean := false;
  v regclass;
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
  parts := privacy._qualified_name(view_name, 'view');
  q := pg_catalog.regexp_replace(query, '[[:space:];]+$', '');

  FOR s IN SELECT * FROM privacy._analyze_grouped_query(q) LOOP
    IF s.col OPERATOR(pg_catalog.=) count_column THEN
      IF s.kind OPERATOR(pg_catalog.<>) 'count' THEN
        RAISE EXCEPTION 'column "%" of a safe aggregate must be count(*)', count_column
          USING ERRCODE = '22023',
                DETAIL = 'Only count(*) without FILTER or DISTINCT gives the true size of a group.';
      END IF;
      found_count := true;
    END IF;
    IF with_total AND s.kind NOT IN ('group', 'count', 'sum') THEN
      RAISE EXCEPTION 'column "%" cannot be totalled', s.col
        USING ERRCODE = '22023',
              DETAIL = 'A total over the published groups is only meaningful for count(*) and sum().',
              HINT = 'Publish without with_total, or drop that column.';
    END IF;
    sel := sel OPERATOR(pg_catalog.||) pg_catalog.format('q.%I', s.col);
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
  END IF;
  body := pg_catalog.format('WITH q AS MATERIALIZED (%s) SELECT %s FROM q WHERE q.%I OPERATOR(pg_catalog.>=) %s',
                            q, pg_catalog.array_to_string(sel, ', '), count_column, min_group);
  IF with_total THEN
    body := body || pg_catalog.format(' UNION ALL SELECT %s FROM q WHERE q.%I OPERATOR(pg_catalog.>=) %s',
                                      pg_catalog.array_to_string(tot, ', '), count_column, min_group);
  END IF;

  EXECUTE pg_catalog.format('CREATE VIEW %I.%I WITH (security_barrier) AS %s', parts[1], parts[2], body);
  v := pg_catalog.format('%I.%I', parts[1], parts[2])::regclass;
  EXECUTE pg_catalog.format('COMMENT ON VIEW %s IS %L', v,
                            pg_catalog.format('safe aggregate (pg_privacy): groups under %s suppressed%s',
                                              min_group,
                                              CASE WHEN with_total THEN '; total over published groups only' ELSE '' END));
  IF grant_to IS NOT NULL THEN
    EXECUTE pg_catalog.format('GRANT SELECT ON %s TO %I', v, grant_to);
  END IF;
  PERFORM privacy._record_published(v, 'safe_aggregate', q, min_group, with_total, NULL, NULL);
  RETURN v;
END
$$;
COMMENT ON FUNCTION privacy.create_safe_aggregate(text, text, integer, name, boolean, name) IS
  'publish a grouped query as a view with groups below min_group suppressed (optionally a total over the published groups only)';

------------------------------------------------------------------------
-- Pseudonymized extracts
------------------------------------------------------------------------

-- How each column of a registered table appears in an extract.  Runs as
-- the extension owner to read the catalog, for a caller who may read the
-- table.
CREATE FUNCTION privacy._extract_spec(tbl regclass)
  RETURNS TABLE(col name, type text, category text, identifies text, protect text, domain text)
  LANGUAGE plpgsql STABLE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT pg_catalog.has_table_privilege(privacy._invoker(), tbl, 'SELECT') THEN
    RAISE EXCEPTION 'permission denied for table %', tbl USING ERRCODE = '42501';
  END IF;
  RETURN QUERY
  SELECT a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
         c.category, c.identifies, c.protect, c.domain
    FROM pg_catalog.pg_attribute a
    LEFT JOIN privacy.registered_column c
      ON c.tbl OPERATOR(pg_catalog.=) _extract_spec.tbl AND c.col OPERATOR(pg_catalog.=) a.attname
   WHERE a.attrelid OPERATOR(pg_catalog.=) _extract_spec.tbl AND a.attnum OPERATOR(pg_catalog.>) 0
     AND NOT a.attisdropped
   ORDER BY a.attnum;
END
$$;

-- A pseudonymized extract of a registered table for analysts: every
-- registered personal column replaced by its keyed pseudonym under an
-- analytics domain (so distinct callers can be counted and extracts
-- joined, but not linked to other domains or re-identified), timestamps
-- of traffic data generalized to time_unit, location kept at country
-- level; undeclared columns pass unchanged.  Phone numbers are first
-- brought to one form (the msisdn_fpe pseudonym of the default domain,
-- which is how protected CDR columns store them), so a subscriber has the
-- same analytics pseudonym in every extract.
--
-- The rows come from a SECURITY DEFINER function without arguments, owned
-- by the caller: an analyst granted the view (and the function) cannot
-- feed the keyed functions values of his own choosing.
CREATE FUNCTION privacy.create_pseudonymized_extract(view_name text, tbl regclass,
                                                     domain text DEFAULT 'analytics',
                                                     time_unit text DEFAULT 'day',
                                                     grant_to name DEFAULT NULL)
  RETURNS regclass
  LANGUAGE plpgsql VOLATILE
AS $$
DECLARE
  parts text[];
  s record;
  expr text;
  sel text := '';
  cols text := '';
  fn text;
  src text;
  v regclass;
  npersonal integer := 0;
BEGIN
  IF view_name IS NULL OR tbl IS NULL OR domain IS NULL OR time_unit IS NULL THEN
    RAISE EXCEPTION 'view name, table, domain and time unit must not be null' USING ERRCODE = '22004';
  END IF;
  parts := privacy._qualified_name(view_name, 'view');
  IF NOT EXISTS (SELECT 1 FROM pg_catalog.unnest(ARRAY['minute','hour','day','week','month','quarter','year']) u
                  WHERE u OPERATOR(pg_catalog.=) time_unit) THEN
    RAISE EXCEPTION 'invalid generalization unit "%"', time_unit
      USING ERRCODE = '22023', HINT = 'Use one of: minute, hour, day, week, month, quarter, year.';
  END IF;
  IF domain OPERATOR(pg_catalog.=) 'default' OR pg_catalog.octet_length(domain) NOT BETWEEN 1 AND 200 THEN
    RAISE EXCEPTION 'invalid analytics domain "%"', domain
      USING ERRCODE = '22023',
            DETAIL = 'An extract needs a domain of its own (1 to 200 bytes, not "default"), so its pseudonyms link to nothing else.';
  END IF;
  FOR s IN SELECT * FROM privacy._extract_spec(tbl) LOOP
    expr := CASE
      WHEN s.category IS NULL THEN pg_catalog.format('t.%I', s.col)
      WHEN s.category OPERATOR(pg_catalog.=) 'traffic'
           AND s.type IN ('timestamp with time zone', 'timestamp without time zone', 'date')
        THEN pg_catalog.format('pg_catalog.date_trunc(%L, t.%I)', time_unit, s.col)
      WHEN s.category OPERATOR(pg_catalog.=) 'traffic' THEN pg_catalog.format('t.%I', s.col)
      WHEN s.category OPERATOR(pg_catalog.=) 'location'
        THEN pg_catalog.format('privacy.country_of(t.%I::text)', s.col)
      WHEN s.identifies OPERATOR(pg_catalog.=) 'msisdn' AND s.protect IS NULL
        THEN pg_catalog.format('privacy.pseudonymize(privacy.pseudonymize_msisdn(t.%I::text), %L)', s.col, domain)
      WHEN s.identifies OPERATOR(pg_catalog.=) 'email' AND s.protect IS NULL
        THEN pg_catalog.format('privacy.pseudonymize(pg_catalog.lower(pg_catalog.btrim(t.%I::text)), %L)', s.col, domain)
      ELSE pg_catalog.format('privacy.pseudonymize(t.%I::text, %L)', s.col, domain)
    END;
    IF s.category IS NOT NULL THEN
      npersonal := npersonal + 1;
    END IF;
    sel := sel || CASE WHEN sel OPERATOR(pg_catalog.=) '' THEN '' ELSE ', ' END
                || expr || pg_catalog.format(' AS %I', s.col);
    cols := cols || CASE WHEN cols OPERATOR(pg_catalog.=) '' THEN '' ELSE ', ' END
                 || pg_catalog.format('%I %s', s.col,
                      CASE WHEN s.category IS NULL OR s.category OPERATOR(pg_catalog.=) 'traffic' THEN s.type
                           ELSE 'text' END);
  END LOOP;
  IF npersonal OPERATOR(pg_catalog.=) 0 THEN
    RAISE EXCEPTION 'table % declares no personal column', tbl
      USING ERRCODE = '55000', HINT = 'Declare its columns with privacy.register_column() first.';
  END IF;

  fn := pg_catalog.format('%I.%I', parts[1], parts[2] || '_rows');
  -- the table by its qualified name: the function body runs with a pinned search_path
  SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) INTO src
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
   WHERE c.oid OPERATOR(pg_catalog.=) tbl;
  EXECUTE pg_catalog.format(
    'CREATE FUNCTION %s() RETURNS TABLE(%s) LANGUAGE sql STABLE SECURITY DEFINER '
    'SET search_path = pg_catalog, pg_temp AS %L',
    fn, cols, pg_catalog.format('SELECT %s FROM %s t', sel, src));
  EXECUTE pg_catalog.format('REVOKE ALL ON FUNCTION %s() FROM PUBLIC', fn);
  EXECUTE pg_catalog.format('CREATE VIEW %I.%I AS SELECT * FROM %s()', parts[1], parts[2], fn);
  v := pg_catalog.format('%I.%I', parts[1], parts[2])::regclass;
  EXECUTE pg_catalog.format('COMMENT ON VIEW %s IS %L', v,
                            pg_catalog.format('pseudonymized extract (pg_privacy) of %s: domain %s, time by %s',
                                              tbl, domain, time_unit));
  IF grant_to IS NOT NULL THEN
    EXECUTE pg_catalog.format('GRANT SELECT ON %s TO %I', v, grant_to);
    EXECUTE pg_catalog.format('GRANT EXECUTE ON FUNCTION %s() TO %I', fn, grant_to);
  END IF;
  PERFORM privacy._record_published(v, 'pseudonymized_extract', tbl::text, NULL, NULL, domain, time_unit);
  RETURN v;
END
$$;
COMMENT ON FUNCTION privacy.create_pseudonymized_extract(text, regclass, text, text, name) IS
  'publish a view of a registered table with personal columns pseudonymized under an analytics domain, time generalized, location at country level';
