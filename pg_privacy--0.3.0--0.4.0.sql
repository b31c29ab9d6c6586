/* pg_privacy--0.3.0--0.4.0.sql: ALTER EXTENSION pg_privacy UPDATE TO '0.4.0'
 *
 * Assembled by src/upgrade/gen_upgrade.py from src/upgrade/0.3.0--0.4.0.pre.sql,
 * the differences between the 0.3.0 and 0.4.0 install scripts, and
 * src/upgrade/0.3.0--0.4.0.post.sql.  Edit those, not this file.
 */

\echo Use "ALTER EXTENSION pg_privacy UPDATE TO '0.4.0'" to load this file. \quit

-- The hand-written part of the update from 0.3.0 to 0.4.0 that runs before
-- the generated functions: nothing changes in tables or types (the subject
-- engine's functions become C; privacy_internal._subject_rows returns
-- (pri, m, j), which the generated part drops and creates again).

-- Tables new in 0.4.0 (generated)

-- Functions removed, or whose arguments or result changed (generated)

DROP FUNCTION privacy_internal._subject_rows(regclass, text, jsonb);

DROP FUNCTION privacy_internal._subject_eval(text, regclass, text, jsonb);

DROP FUNCTION privacy_internal._subject_holds(text[], text[]);

DROP FUNCTION privacy_internal._subject_forget_consent(text[], text[]);


-- Functions new or changed in 0.4.0, in the order of its install script (generated)

CREATE FUNCTION privacy_internal._consent_receipt(kind text, normv text, controller jsonb)
  RETURNS jsonb
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  ref     text;
  records jsonb;
  last_id bigint;
BEGIN
  ref := privacy_internal._subject_ref(kind, normv);
  SELECT pg_catalog.jsonb_agg(r ORDER BY r OPERATOR(pg_catalog.->>) 'purpose'), pg_catalog.max(m.last_id)
    INTO records, last_id
    FROM (
      SELECT pg_catalog.jsonb_build_object(
               'purpose', p.name,
               'purposeDescription', p.description,
               'legalBasis', p.legal_basis,
               'legalBasisArticle', b.article,
               'consentType', 'EXPLICIT',
               'thirdPartyDisclosure', pg_catalog.cardinality(p.recipients) OPERATOR(pg_catalog.>) 0,
               'thirdPartyName', pg_catalog.to_jsonb(p.recipients),
               'termination', 'withdrawal at any time, as easy as giving it (GDPR Art. 7(3))',
               'state', CASE pg_catalog.max(e.id) FILTER (WHERE e.event OPERATOR(pg_catalog.=) 'grant')
                              OPERATOR(pg_catalog.=) pg_catalog.max(e.id)
                             WHEN true THEN 'active' ELSE 'withdrawn' END,
               'events', pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                           'eventId', e.id,
                           'eventType', CASE e.event WHEN 'grant' THEN 'given' ELSE 'withdrawn' END,
                           'eventTime', e.at,
                           'recordedTime', e.recorded_at,
                           'collectionMethod', e.source,
                           'noticeVersion', e.notice_version,
                           'recordedBy', e.actor) ORDER BY e.at, e.id)) AS r,
             pg_catalog.max(e.id) AS last_id
        FROM privacy.consent_event e
        JOIN privacy.purpose p ON p.name OPERATOR(pg_catalog.=) e.purpose
        JOIN privacy.legal_basis b ON b.name OPERATOR(pg_catalog.=) p.legal_basis
       WHERE e.subject_ref OPERATOR(pg_catalog.=) ref
         AND e.kind OPERATOR(pg_catalog.=) _consent_receipt.kind
       GROUP BY p.name, p.description, p.legal_basis, b.article, p.recipients) m;
  RETURN pg_catalog.jsonb_build_object(
    'version', 'KI-CR-v1.1.0',
    'model', 'ISO/IEC TS 27560 consent record',
    'jurisdiction', 'DK',
    'language', 'da',
    -- Same subject and same last event give the same receipt id.
    'consentReceiptID', CASE WHEN last_id IS NULL THEN NULL ELSE
        pg_catalog.left(pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(ref || '|' || last_id::text, 'UTF8')), 'hex'), 32)::uuid::text END,
    'iat', pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.now()))::bigint,
    'piiPrincipalId', pg_catalog.jsonb_build_object('kind', kind, 'value', normv),
    'piiControllers', CASE WHEN controller IS NULL THEN '[]'::jsonb
                           ELSE pg_catalog.jsonb_build_array(controller) END,
    'sensitive', false,
    'spiCat', '[]'::jsonb,
    'consents', COALESCE(records, '[]'::jsonb));
END
$$;

CREATE OR REPLACE FUNCTION privacy.consent_receipt(kind text, value text, controller jsonb DEFAULT NULL)
  RETURNS jsonb
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  norm    text;
  normv   text;
  e_state  text;
  e_msg    text;
  e_detail text;
  e_hint   text;
BEGIN
  IF kind IS NULL OR value IS NULL THEN
    RAISE EXCEPTION 'identifier kind and value must not be null' USING ERRCODE = '22004';
  END IF;
  SELECT k.normalize INTO norm FROM privacy.identifier_kind k
   WHERE k.name OPERATOR(pg_catalog.=) consent_receipt.kind;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unknown identifier kind "%"', kind USING ERRCODE = '22023';
  END IF;
  normv := privacy_internal._identifier_normalize(kind, value);
  RETURN privacy_internal._consent_receipt(kind, normv, controller);
EXCEPTION WHEN OTHERS THEN
  -- The statement that called this names a person: never logged with an
  -- error (errhidestmt), whatever the error.
  GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_msg = MESSAGE_TEXT,
                          e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
  PERFORM privacy_internal._raise_hidden(e_state, e_msg, NULLIF(e_detail, ''), NULLIF(e_hint, ''));
END
$$;

CREATE FUNCTION privacy_internal._subject_rows(tbl regclass, sql text, params jsonb)
  RETURNS TABLE(pri integer, m text, j jsonb)
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_subject_rows';

COMMENT ON FUNCTION privacy_internal._subject_rows(regclass, text, jsonb) IS
  'internal: the rows of a generated read-only query over a table, run as the table owner in a security-restricted operation';

CREATE FUNCTION privacy_internal._subject_holder_span(kind text, norm text, at timestamptz)
  RETURNS tstzmultirange
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  dc       text := privacy_internal._default_country();
  c        privacy_internal._subject_column;
  params   jsonb;
  rs       tstzrange[];
  ranges   tstzrange[];
  chosen   tstzmultirange;
BEGIN
  at := COALESCE(at, pg_catalog.now());
  IF EXISTS (SELECT FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc WHERE sc.kind OPERATOR(pg_catalog.=) _subject_holder_span.kind
                AND sc.is_validity) THEN
    params := privacy_internal._subject_params(ARRAY[kind], ARRAY[norm], ARRAY['{(,)}'::tstzmultirange]);
    ranges := '{}';
    FOR c IN SELECT * FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc
              WHERE sc.kind OPERATOR(pg_catalog.=) _subject_holder_span.kind AND sc.is_validity LOOP
      IF params OPERATOR(pg_catalog.?) (c.tbl::oid::text || '.' || c.attnum::text) THEN
        -- read as the table's owner
        rs := (privacy_internal._subject_query(c.tbl,
                 pg_catalog.format('SELECT pg_catalog.to_jsonb(pg_catalog.array_agg(pg_catalog.tstzrange(t.%s::pg_catalog.timestamptz, t.%s::pg_catalog.timestamptz, ''[)''))::pg_catalog.text) FROM %s',
                                   COALESCE(pg_catalog.quote_ident(c.valid_from), 'NULL'),
                                   COALESCE(pg_catalog.quote_ident(c.valid_to), 'NULL'),
                                   privacy_internal._subject_from(c, dc)),
                 params) OPERATOR(pg_catalog.#>>) '{}')::tstzrange[];
        ranges := ranges OPERATOR(pg_catalog.||) COALESCE(rs, '{}');
      END IF;
    END LOOP;
    IF pg_catalog.cardinality(ranges) OPERATOR(pg_catalog.>) 0 THEN
      SELECT pg_catalog.range_agg(x) INTO chosen FROM pg_catalog.unnest(ranges) x
       WHERE x OPERATOR(pg_catalog.@>) at;
      IF chosen IS NULL THEN
        -- nobody holds it at `at`: its latest holder before, else the first after
        SELECT pg_catalog.tstzmultirange(x) INTO chosen FROM pg_catalog.unnest(ranges) x
         ORDER BY (pg_catalog.lower(x) OPERATOR(pg_catalog.<=) at) DESC,
                  CASE WHEN pg_catalog.lower(x) OPERATOR(pg_catalog.<=) at THEN pg_catalog.lower(x) END DESC NULLS LAST,
                  pg_catalog.lower(x)
         LIMIT 1;
      END IF;
      RETURN chosen;
    END IF;
  END IF;

  RETURN NULL;
END
$$;

CREATE FUNCTION privacy_internal._subject_link_sql(dc text)
  RETURNS text[]
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  c        privacy_internal._subject_column;
  t        record;
  link_sql text[] := '{}';
BEGIN
  FOR t IN SELECT sc.tbl FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc
            WHERE sc.link OPERATOR(pg_catalog.=) 'owner'
            GROUP BY sc.tbl
           HAVING pg_catalog.count(*) FILTER (WHERE sc.links) OPERATOR(pg_catalog.>=) 1
              AND pg_catalog.count(*) OPERATOR(pg_catalog.>=) 2
            ORDER BY sc.tbl::oid LOOP
    FOR c IN SELECT * FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc
              WHERE sc.tbl OPERATOR(pg_catalog.=) t.tbl AND sc.link OPERATOR(pg_catalog.=) 'owner'
              ORDER BY sc.attnum LOOP
      link_sql := link_sql OPERATOR(pg_catalog.||)
        (t.tbl::oid::text || '|' || c.tbl::oid::text || '.' || c.attnum::text || '|' ||
         pg_catalog.format('SELECT x.k, x.v, x.s, x.d FROM %s CROSS JOIN LATERAL (VALUES %s) x(k, v, s, d) WHERE x.v IS NOT NULL',
           privacy_internal._subject_from(c, dc),
           (SELECT pg_catalog.string_agg(pg_catalog.format('(%L, %s, %s, %L::pg_catalog.text)', l.kind,
                                                           privacy_internal._subject_value_expr(l, dc),
                                                           privacy_internal._subject_span_expr(l),
                                                           privacy_internal._subject_decrypt_domain(l)), ', ' ORDER BY l.attnum)
              FROM pg_catalog.unnest(privacy_internal._subject_cols()) l
             WHERE l.tbl OPERATOR(pg_catalog.=) t.tbl AND l.links)));
    END LOOP;
  END LOOP;
  RETURN link_sql;
END
$$;

CREATE OR REPLACE FUNCTION privacy_internal._subject_identifiers(kind text, value text, at timestamptz DEFAULT NULL,
                                             OUT kinds text[], OUT vals text[], OUT spans tstzmultirange[])
  LANGUAGE c STABLE
  SET search_path = pg_catalog, pg_temp
  AS 'MODULE_PATHNAME', 'pgp_subject_identifiers';

CREATE OR REPLACE FUNCTION privacy_internal._subject_consent(kinds text[], vals text[])
  RETURNS jsonb
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  -- a receipt only for identifiers with consent events (one query), in
  -- the order of the identifiers; each receipt made once (OFFSET 0)
  RETURN (
  SELECT COALESCE(pg_catalog.jsonb_agg(r.receipt ORDER BY r.i), '[]')
    FROM (SELECT i, privacy_internal._consent_receipt(kinds[i], vals[i], NULL) AS receipt
            FROM pg_catalog.unnest(privacy_internal._subject_with_consent(kinds, vals)) i
          OFFSET 0) r
   WHERE r.receipt IS NOT NULL
     AND pg_catalog.jsonb_array_length(COALESCE(r.receipt OPERATOR(pg_catalog.->) 'consents', '[]'))
         OPERATOR(pg_catalog.>) 0);
END
$$;

CREATE OR REPLACE FUNCTION privacy_internal._subject_rows_sql(tbl regclass, dc text, OUT q text, OUT shown text)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  c        privacy_internal._subject_column;
  branches text[] := '{}';
  whens    text[] := '{}';
  own_json text;
  key      text := tbl::oid::text || ':' || dc;
  cached   text := privacy_internal._subject_cache_get('rows:' || key);
  froms    text[];
  f        text;
  bounded  text[] := '{}';   -- the branches without those of open periods only
BEGIN
  -- two entries (no separator that a column name could hold), used only
  -- together
  IF cached IS NOT NULL THEN
    shown := privacy_internal._subject_cache_get('shown:' || key);
    IF shown IS NOT NULL THEN
      q := NULLIF(cached, '');
      shown := NULLIF(shown, '');
      RETURN;
    END IF;
    shown := NULL;
  END IF;
  FOR c IN SELECT * FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc WHERE sc.tbl OPERATOR(pg_catalog.=) _subject_rows_sql.tbl
            ORDER BY sc.link DESC, sc.attnum LOOP
    -- A table partitioned by its event time: each identifier's rows are
    -- read from the partitions of its period only (the bounds lo, hi of
    -- _subject_ids_span, open periods infinite, pruned per identifier as
    -- the query runs), and the rows without an event time, which only an
    -- open period takes, from the partition that holds them.
    IF c.event_time IS NOT NULL AND NOT c.is_validity
       AND EXISTS (SELECT FROM pg_catalog.pg_class k
                    WHERE k.oid OPERATOR(pg_catalog.=) tbl AND k.relkind OPERATOR(pg_catalog.=) 'p') THEN
      froms := ARRAY[
        pg_catalog.format('(SELECT * FROM privacy_internal._subject_ids_span($1, %1$L, true)'
                          ' UNION ALL SELECT * FROM privacy_internal._subject_ids_span($1, %1$L, false)) f'
                          ' JOIN %2$s t ON %3$s AND t.%4$I::pg_catalog.timestamptz OPERATOR(pg_catalog.>=) f.lo'
                          ' AND t.%4$I::pg_catalog.timestamptz OPERATOR(pg_catalog.<=) f.hi',
                          c.tbl::oid::text || '.' || c.attnum::text, c.tbl, privacy_internal._subject_match(c, dc), c.event_time),
        pg_catalog.format('privacy_internal._subject_ids_span($1, %1$L, false) f JOIN %2$s t ON %3$s AND t.%4$I IS NULL',
                          c.tbl::oid::text || '.' || c.attnum::text, c.tbl, privacy_internal._subject_match(c, dc), c.event_time)];
    ELSE
      froms := ARRAY[privacy_internal._subject_from(c, dc)];
    END IF;
    -- (of two froms, the second reads the rows of open periods only)
    IF c.link OPERATOR(pg_catalog.=) 'owner' THEN
      own_json := COALESCE(own_json, privacy_internal._subject_row_json(tbl, NULL));
      FOREACH f IN ARRAY froms LOOP
        branches := branches OPERATOR(pg_catalog.||)
          pg_catalog.format('SELECT 0 AS pri, NULL::pg_catalog.text AS m, t.tableoid AS o, t.ctid AS d, pg_catalog.to_jsonb(t) AS j FROM %s', f);
      END LOOP;
      bounded := bounded OPERATOR(pg_catalog.||) branches[pg_catalog.cardinality(branches) OPERATOR(pg_catalog.-) pg_catalog.cardinality(froms) OPERATOR(pg_catalog.+) 1];
    ELSE
      FOREACH f IN ARRAY froms LOOP
        branches := branches OPERATOR(pg_catalog.||)
          pg_catalog.format('SELECT 1 AS pri, %L::pg_catalog.text AS m, t.tableoid AS o, t.ctid AS d, pg_catalog.to_jsonb(t) AS j FROM %s',
                            c.col, f);
      END LOOP;
      bounded := bounded OPERATOR(pg_catalog.||) branches[pg_catalog.cardinality(branches) OPERATOR(pg_catalog.-) pg_catalog.cardinality(froms) OPERATOR(pg_catalog.+) 1];
      whens := whens OPERATOR(pg_catalog.||)
        pg_catalog.format('WHEN x.m OPERATOR(pg_catalog.=) %L THEN %s', c.col, privacy_internal._subject_row_json(tbl, c.col));
    END IF;
  END LOOP;
  IF pg_catalog.cardinality(branches) OPERATOR(pg_catalog.>) 0 THEN
    q := 'SELECT u.pri, u.m, u.j FROM (SELECT DISTINCT ON (u.o, u.d) u.pri, u.m, u.o, u.d, u.j FROM ('
         || pg_catalog.array_to_string(branches, ' UNION ALL ')
         || ') u ORDER BY u.o, u.d, u.pri) u ORDER BY u.pri, u.o, u.d';
    shown := 'CASE WHEN x.pri OPERATOR(pg_catalog.=) 0 THEN ' || COALESCE(own_json, 'NULL::pg_catalog.jsonb') || ' '
             || pg_catalog.array_to_string(whens, ' ') || ' END';
  END IF;
  PERFORM privacy_internal._subject_cache_put('shown:' || key, COALESCE(shown, ''));
  -- The same query without the branches of open periods only, for a
  -- subject whose identifiers of the table all have bounded periods
  -- (src/engine.c): over a table partitioned by its event time, every
  -- branch is one more scan of each partition to set up.
  PERFORM privacy_internal._subject_cache_put('rowsb:' || key,
    CASE WHEN pg_catalog.cardinality(bounded) OPERATOR(pg_catalog.>) 0
         THEN 'SELECT u.pri, u.m, u.j FROM (SELECT DISTINCT ON (u.o, u.d) u.pri, u.m, u.o, u.d, u.j FROM ('
              || pg_catalog.array_to_string(bounded, ' UNION ALL ')
              || ') u ORDER BY u.o, u.d, u.pri) u ORDER BY u.pri, u.o, u.d'
         ELSE '' END);
  PERFORM privacy_internal._subject_cache_put('rows:' || key, COALESCE(q, ''));
END
$$;

CREATE OR REPLACE FUNCTION privacy_internal._subject_export(kind text, value text, at timestamptz)
  RETURNS jsonb
  LANGUAGE c STABLE
  SET search_path = pg_catalog, pg_temp
  AS 'MODULE_PATHNAME', 'pgp_subject_export';

CREATE OR REPLACE FUNCTION privacy_internal._subject_export_stream(kind text, value text, chunk_rows integer, at timestamptz)
  RETURNS TABLE(part integer, section text, table_name regclass, data jsonb)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  dc     text := privacy_internal._default_country();
  ids    record;
  params jsonb;
  t      record;
  r      record;
  rs     record;
  chunk  jsonb[];
  cpri   integer;
  meta   boolean;
  reten  jsonb := privacy_internal._subject_retention_all();
BEGIN
  IF chunk_rows IS NULL OR chunk_rows OPERATOR(pg_catalog.<) 1 THEN
    RAISE EXCEPTION 'chunk_rows must be at least 1' USING ERRCODE = '22023';
  END IF;
  ids := privacy_internal._subject_identifiers(kind, value, at);
  params := privacy_internal._subject_params(ids.kinds, ids.vals, ids.spans);
  part := 0;
  section := 'subject';
  table_name := NULL;
  data := privacy_internal._subject_header(kind, ids.vals[1], ids.kinds, ids.vals, ids.spans);
  RETURN NEXT;
  FOR t IN SELECT sc.tbl FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc GROUP BY sc.tbl ORDER BY sc.tbl::text LOOP
    CONTINUE WHEN NOT EXISTS (SELECT FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc
                               WHERE sc.tbl OPERATOR(pg_catalog.=) t.tbl
                                 AND params OPERATOR(pg_catalog.?) (sc.tbl::oid::text || '.' || sc.attnum::text));
    rs := privacy_internal._subject_rows_sql(t.tbl, dc);
    CONTINUE WHEN rs.q IS NULL;
    meta := false;
    chunk := '{}';
    cpri := 0;
    -- the rows, read as the table's owner (in order of pri); shown here
    FOR r IN EXECUTE 'SELECT x.pri, ' || rs.shown || ' AS j
                        FROM privacy_internal._subject_rows($1, $2, $3) x'
               USING t.tbl, rs.q, params LOOP
      IF NOT meta THEN
        part := part OPERATOR(pg_catalog.+) 1;
        section := 'table';
        table_name := t.tbl;
        data := privacy_internal._subject_table_json(t.tbl, reten);
        RETURN NEXT;
        meta := true;
      END IF;
      IF r.pri OPERATOR(pg_catalog.<>) cpri OR pg_catalog.cardinality(chunk) OPERATOR(pg_catalog.>=) chunk_rows THEN
        IF pg_catalog.cardinality(chunk) OPERATOR(pg_catalog.>) 0 THEN
          part := part OPERATOR(pg_catalog.+) 1;
          section := CASE cpri WHEN 0 THEN 'rows' ELSE 'mentions' END;
          data := pg_catalog.to_jsonb(chunk);
          RETURN NEXT;
        END IF;
        chunk := '{}';
        cpri := r.pri;
      END IF;
      chunk := chunk OPERATOR(pg_catalog.||) r.j;
    END LOOP;
    IF pg_catalog.cardinality(chunk) OPERATOR(pg_catalog.>) 0 THEN
      part := part OPERATOR(pg_catalog.+) 1;
      section := CASE cpri WHEN 0 THEN 'rows' ELSE 'mentions' END;
      table_name := t.tbl;
      data := pg_catalog.to_jsonb(chunk);
      RETURN NEXT;
    END IF;
  END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION privacy_internal._subject_erase(kind text, value text, at timestamptz)
  RETURNS TABLE(table_name regclass, action text, rows bigint, reason text, kept_until timestamptz)
  LANGUAGE c VOLATILE
  SET search_path = pg_catalog, pg_temp
  AS 'MODULE_PATHNAME', 'pgp_subject_erase';

-- Views, triggers, comments and configuration new or changed in 0.4.0 (generated)

-- The hand-written part of the update from 0.3.0 to 0.4.0 that runs after
-- the generated functions.

-- Every backend forgets the statements it built from the catalog with the
-- 0.3.0 builders (their rows queries return one jsonb, 0.4.0's three
-- columns): an invalidation of the catalog's tables empties the per-backend
-- cache of each session at its next statement.
SELECT privacy_internal._invalidate(t.tbl) FROM privacy.registered_table t;
SELECT privacy_internal._invalidate('privacy.registered_table'::pg_catalog.regclass);


-- Privileges: every GRANT and REVOKE of the 0.4.0 install script, in its order (generated)

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA privacy FROM PUBLIC;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA privacy_internal FROM PUBLIC;

REVOKE ALL ON ALL TABLES IN SCHEMA privacy FROM PUBLIC;

REVOKE ALL ON ALL TABLES IN SCHEMA privacy_internal FROM PUBLIC;

REVOKE ALL ON ALL SEQUENCES IN SCHEMA privacy FROM PUBLIC;

REVOKE ALL ON ALL SEQUENCES IN SCHEMA privacy_internal FROM PUBLIC;

REVOKE ALL ON PROCEDURE privacy.run_purge(integer, integer, integer) FROM PUBLIC;

REVOKE ALL ON FUNCTION privacy.health() FROM PUBLIC;

GRANT USAGE ON SCHEMA privacy TO PUBLIC;

GRANT USAGE ON SCHEMA privacy_internal TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy.normalize_msisdn(text, text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy.lookup_value(text, text, text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy.mask_msisdn(text, integer) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy.country_of(text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy.generalize(timestamptz, text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy.k_anonymity(regclass, name[], integer) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._protect_trigger() TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._consent_trigger() TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._is_protected(regclass), privacy_internal._has_protect_trigger(regclass),
                          privacy_internal._protection_problem(regclass),
                          privacy_internal._trigger_problem(regclass, name, regprocedure, integer, name[]),
                          privacy_internal._consent_problem(regclass), privacy_internal._restrict_problem(regclass),
                          privacy_internal._enforcement_problems(regclass, boolean, boolean, boolean) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._extract_msisdn(text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._extract_country(text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._subject_key(text, text, text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._subject_ids(jsonb, text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._subject_ids_span(jsonb, text, boolean) TO PUBLIC;
