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

CREATE FUNCTION privacy_internal._undeclared_by_content(sample_rows integer DEFAULT 1000)
  RETURNS TABLE(table_name regclass, column_name name, suggested_category text, matched_share numeric, sampled bigint)
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  t       record;
  q       text;
  res     jsonb;
  i       integer;
  cnt     jsonb;
  best    text;
  bestn   bigint;
  k       integer;
  -- e-mail, national id, bank account, phone: in order of precedence
  kinds   text[] := ARRAY['email', 'national_id', 'bank_account', 'phone'];
  res_re  text[] := ARRAY[
    '[[:alnum:]._%+-]+@[[:alnum:]-]+(\.[[:alnum:]-]+)*\.[[:alpha:]]{2,}',
    '(^|[^[:alnum:]])((0[1-9]|[12][0-9]|3[01])(0[1-9]|1[0-2])[0-9]{2}[-+A]?[0-9]{3}[0-9A-Z]{1,2}|(19|20)?[0-9]{2}(0[1-9]|1[0-2])(0[1-9]|[12][0-9]|3[01])[-+][0-9]{4})($|[^[:alnum:]])',
    '(^|[^[:alnum:]])[A-Z]{2}[0-9]{2}( ?[A-Z0-9]){11,30}($|[^[:alnum:]])',
    '(^|[^[:alnum:]+])((\+|00)[1-9][0-9]([ .-]?[0-9]){6,13}|[2-9][0-9]( ?[0-9]){6})($|[^[:alnum:]])'];
BEGIN
  IF sample_rows IS NULL OR sample_rows OPERATOR(pg_catalog.<) 1 OR sample_rows OPERATOR(pg_catalog.>) 1000000 THEN
    RAISE EXCEPTION 'sample_rows must be between 1 and 1000000' USING ERRCODE = '22023';
  END IF;
  FOR t IN
    SELECT c.oid::regclass AS tbl,
           pg_catalog.array_agg(a.attname ORDER BY a.attnum) AS cols
      FROM pg_catalog.pg_class c
      JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
      JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.oid
     WHERE c.relkind IN ('r', 'p')
       AND NOT c.relispartition
       AND c.relpersistence OPERATOR(pg_catalog.<>) 't'
       AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'privacy', 'privacy_internal')
       AND n.nspname !~ '^pg_toast'
       AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
       AND a.atttypid IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype, 'json'::regtype, 'jsonb'::regtype)
       AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                        WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
                          AND d.objid OPERATOR(pg_catalog.=) c.oid
                          AND d.deptype OPERATOR(pg_catalog.=) 'e')
       AND NOT EXISTS (SELECT FROM privacy.registered_column rc
                        WHERE rc.tbl OPERATOR(pg_catalog.=) c.oid
                          AND rc.col OPERATOR(pg_catalog.=) a.attname)
     GROUP BY c.oid
     ORDER BY c.oid::regclass::text
  LOOP
    -- per column: [non-null values, matches of each kind]
    SELECT 'SELECT pg_catalog.jsonb_build_array(' || pg_catalog.string_agg(
             pg_catalog.format('pg_catalog.jsonb_build_array(pg_catalog.count(s.%1$I)%2$s)', 'v' || o,
               (SELECT pg_catalog.string_agg(pg_catalog.format(', pg_catalog.count(*) FILTER (WHERE s.%I OPERATOR(pg_catalog.~) %L)', 'v' || o, r), '' ORDER BY ro)
                  FROM pg_catalog.unnest(res_re) WITH ORDINALITY x(r, ro))), ', ' ORDER BY o)
           || ')::pg_catalog.text FROM (SELECT '
           || pg_catalog.string_agg(pg_catalog.format('t.%I::pg_catalog.text AS %I', col, 'v' || o), ', ' ORDER BY o)
           || pg_catalog.format(' FROM %s t LIMIT %s) s', t.tbl, sample_rows)
      INTO q
      FROM pg_catalog.unnest(t.cols) WITH ORDINALITY u(col, o);
    BEGIN
      res := privacy_internal._owner_query(t.tbl, q, '{}', 100)::jsonb;
    EXCEPTION WHEN OTHERS THEN
      CONTINUE;   -- locked, or unreadable: left out of this report
    END;
    FOR i IN 1 .. pg_catalog.cardinality(t.cols) LOOP
      cnt := res OPERATOR(pg_catalog.->) (i OPERATOR(pg_catalog.-) 1);
      CONTINUE WHEN (cnt OPERATOR(pg_catalog.->>) 0)::bigint OPERATOR(pg_catalog.=) 0;
      best := NULL;
      bestn := 0;
      FOR k IN 1 .. pg_catalog.cardinality(kinds) LOOP
        IF (cnt OPERATOR(pg_catalog.->>) k)::bigint OPERATOR(pg_catalog.>) bestn THEN
          best := kinds[k];
          bestn := (cnt OPERATOR(pg_catalog.->>) k)::bigint;
        END IF;
      END LOOP;
      CONTINUE WHEN best IS NULL;
      table_name := t.tbl;
      column_name := t.cols[i];
      suggested_category := best;
      sampled := (cnt OPERATOR(pg_catalog.->>) 0)::bigint;
      matched_share := pg_catalog.round(bestn::numeric OPERATOR(pg_catalog./) sampled, 3);
      RETURN NEXT;
    END LOOP;
  END LOOP;
END
$$;

COMMENT ON FUNCTION privacy_internal._undeclared_by_content(integer) IS
  'internal: undeclared text and JSON columns whose sampled content looks like e-mail addresses, phone numbers, national identity numbers or IBANs';

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

CREATE OR REPLACE FUNCTION privacy.health()
  RETURNS TABLE(area text, status text, detail text, hint text)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  ext_owner oid;
  libs text[];
  loaded text;
  stored text;
  r record;
  n bigint;
  m bigint;
  job record;
  last record;
  npolicies bigint;
  conn text;
BEGIN
  -- Without the entry-point hook (the library loaded on demand, or not at
  -- all) this function runs with the caller's rights: say so and stop.
  SELECT e.extowner INTO ext_owner FROM pg_catalog.pg_extension e
   WHERE e.extname OPERATOR(pg_catalog.=) 'pg_privacy';
  IF ext_owner IS NULL OR NOT pg_catalog.pg_has_role(CURRENT_USER, ext_owner, 'USAGE') THEN
    area := 'library'; status := 'error';
    detail := 'pg_privacy''s API entry points are not in force in this session: the library is not preloaded';
    hint := 'Add pg_privacy to shared_preload_libraries in postgresql.conf and restart the server.';
    RETURN NEXT;
    RETURN;
  END IF;

  -- 1. The library.
  area := 'library';
  libs := ARRAY(SELECT pg_catalog.btrim(x, ' "')
                  FROM pg_catalog.regexp_split_to_table(
                         pg_catalog.current_setting('shared_preload_libraries'), ',') x);
  IF 'pg_privacy' OPERATOR(pg_catalog.=) ANY (libs)
     OR '$libdir/pg_privacy' OPERATOR(pg_catalog.=) ANY (libs) THEN
    status := 'ok'; detail := 'pg_privacy is preloaded (shared_preload_libraries)'; hint := NULL;
  ELSE
    status := 'error';
    detail := pg_catalog.format('pg_privacy is not in shared_preload_libraries (%s)',
                                COALESCE(NULLIF(pg_catalog.current_setting('shared_preload_libraries'), ''), 'empty'));
    hint := 'Add pg_privacy to shared_preload_libraries in postgresql.conf and restart the server: its API functions rely on a hook installed at load.';
  END IF;
  RETURN NEXT;

  -- 2. The key: configured, usable, and the database's own.
  area := 'key';
  BEGIN
    loaded := privacy.key_fingerprint();
  EXCEPTION WHEN OTHERS THEN
    status := 'error';
    detail := SQLERRM;
    hint := 'Set pg_privacy.key_file to a file of 64 hexadecimal digits (openssl rand -hex 32), mode 0600, outside the data directory, and reload.';
    RETURN NEXT;
  END;
  IF loaded IS NOT NULL THEN
    SELECT s.fingerprint INTO stored FROM privacy.key_state s;
    IF stored IS NULL THEN
      status := 'ok';
      detail := pg_catalog.format('key %s loaded; no keyed data yet (the first keyed work records it)', loaded);
      hint := NULL;
    ELSIF stored OPERATOR(pg_catalog.=) loaded THEN
      status := 'ok';
      detail := pg_catalog.format('key %s loaded, the database''s key', loaded);
      hint := NULL;
    ELSE
      status := 'error';
      detail := pg_catalog.format('the loaded key %s is not the database''s key %s: keyed work fails', loaded, stored);
      hint := pg_catalog.format('Install the key file of fingerprint %s and reload; if the key was replaced on purpose, run SELECT privacy.accept_key_change(%L).',
                                stored, stored);
    END IF;
    RETURN NEXT;
  END IF;

  -- 3. The purge: scheduled with pg_cron, and its last run.
  area := 'purge';
  SELECT pg_catalog.count(*) INTO npolicies FROM privacy.retention_policy;
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'pg_cron') THEN
    status := 'warning';
    detail := CASE WHEN npolicies OPERATOR(pg_catalog.>) 0
                   THEN pg_catalog.format('pg_cron not installed in this database; tables with a retention policy: %s', npolicies)
                   ELSE 'pg_cron not installed in this database' END;
    hint := 'Schedule CALL privacy.run_purge() nightly: with pg_cron (cron.database_name = this database, cron.use_background_workers = on, CREATE EXTENSION pg_cron, SELECT privacy.schedule_purge()), '
            'or with cron.schedule_in_database() from pg_cron''s database, or another scheduler.';
    RETURN NEXT;
  ELSE
    EXECUTE 'SELECT j.jobid, j.schedule, j.command, j.nodename, j.nodeport, j.database, j.username, j.active
               FROM cron.job j WHERE j.jobname OPERATOR(pg_catalog.=) $1
              ORDER BY j.jobid DESC LIMIT 1'
      INTO job USING 'pg_privacy_purge';
    IF job.jobid IS NULL THEN
      status := CASE WHEN npolicies OPERATOR(pg_catalog.>) 0 THEN 'error' ELSE 'warning' END;
      detail := CASE WHEN npolicies OPERATOR(pg_catalog.>) 0
                     THEN pg_catalog.format('the purge is not scheduled; tables with a retention policy: %s', npolicies)
                     ELSE 'the purge is not scheduled (and no table has a retention policy)' END;
      hint := 'Schedule it with SELECT privacy.schedule_purge(''30 3 * * *'').';
      RETURN NEXT;
    ELSE
      EXECUTE 'SELECT d.status, d.return_message, d.start_time, d.end_time
                 FROM cron.job_run_details d WHERE d.jobid OPERATOR(pg_catalog.=) $1
                ORDER BY d.runid DESC LIMIT 1'
        INTO last USING job.jobid;
      IF NOT job.active THEN
        status := 'error';
        detail := pg_catalog.format('purge job %s is inactive', job.jobid);
        hint := 'Activate it again with SELECT privacy.schedule_purge(schedule).';
      ELSIF job.database OPERATOR(pg_catalog.<>) pg_catalog.current_database() THEN
        status := 'error';
        detail := pg_catalog.format('purge job %s runs in database %s, not in this one', job.jobid, job.database);
        hint := 'Schedule it again with SELECT privacy.schedule_purge(schedule).';
      ELSIF last.status IS NOT DISTINCT FROM 'failed' THEN
        status := 'error';
        detail := pg_catalog.format('the last run of purge job %s failed at %s: %s', job.jobid,
                                    pg_catalog.to_char(COALESCE(last.end_time, last.start_time), 'YYYY-MM-DD HH24:MI:SSOF'),
                                    COALESCE(last.return_message, 'no message'));
        hint := CASE
          WHEN last.return_message LIKE 'connection failed%'
            THEN 'pg_cron could not connect: set cron.use_background_workers = on in postgresql.conf, restart, and SELECT privacy.schedule_purge(schedule).'
          WHEN last.return_message LIKE 'could not start background process%'
            THEN 'Raise max_worker_processes (pg_cron''s jobs need background workers beside parallel query and replication) and restart.'
          ELSE 'See cron.job_run_details and privacy.audit_log (event retention.purge_failed); run CALL privacy.run_purge() by hand to see the error.' END;
      ELSIF pg_catalog.current_setting('cron.use_background_workers', true) IS DISTINCT FROM 'on'
            AND (job.nodename IS DISTINCT FROM COALESCE(pg_catalog.current_setting('cron.host', true), 'localhost')
                 OR job.nodeport IS DISTINCT FROM pg_catalog.current_setting('port')::integer) THEN
        -- pg_cron connects to the node the job names: one restored from
        -- another cluster, or made before cron.host changed, misses.
        status := 'warning';
        detail := pg_catalog.format('purge job %s connects to %s port %s, not to this server (%s port %s): its next run fails',
                                    job.jobid, job.nodename, job.nodeport,
                                    COALESCE(pg_catalog.current_setting('cron.host', true), 'localhost'),
                                    pg_catalog.current_setting('port'));
        hint := 'Schedule it again with SELECT privacy.schedule_purge(schedule): the job is made for this server.';
      ELSIF last.status IS NULL THEN
        conn := privacy_internal._cron_connection_problem();
        status := CASE WHEN conn IS NULL THEN 'ok' ELSE 'warning' END;
        detail := pg_catalog.format('purge job %s scheduled ''%s'' (%s), not run yet%s', job.jobid, job.schedule, job.command,
                                    CASE WHEN conn IS NULL THEN '' ELSE '; ' || conn END);
        hint := CASE WHEN conn IS NULL THEN NULL
                     ELSE 'Set cron.use_background_workers = on and restart, then SELECT privacy.schedule_purge(schedule).' END;
      ELSE
        status := 'ok';
        detail := pg_catalog.format('purge job %s scheduled ''%s''; last run %s at %s', job.jobid, job.schedule,
                                    last.status, pg_catalog.to_char(COALESCE(last.end_time, last.start_time), 'YYYY-MM-DD HH24:MI:SSOF'));
        hint := NULL;
      END IF;
      RETURN NEXT;
    END IF;
  END IF;

  -- 4. Data-subject requests past their deadline and still open.
  area := 'subject requests';
  SELECT pg_catalog.count(*),
         pg_catalog.string_agg(pg_catalog.format('%s (%s, due %s)', d.id, d.request, pg_catalog.to_char(d.due_at, 'YYYY-MM-DD')), ', ' ORDER BY d.due_at, d.id)
    INTO n, detail
    FROM privacy.request_deadlines d
   WHERE d.closed_at IS NULL AND d.due_at OPERATOR(pg_catalog.<) pg_catalog.now();
  IF n OPERATOR(pg_catalog.>) 0 THEN
    status := 'error';
    detail := pg_catalog.format('open requests past their deadline (%s): %s', n, detail);
    hint := 'Answer them and close them with privacy.close_request(id, outcome); privacy.request_deadlines lists them.';
  ELSE
    SELECT pg_catalog.count(*) INTO m FROM privacy.subject_request q WHERE q.closed_at IS NULL;
    status := 'ok';
    detail := pg_catalog.format('no open request is overdue (%s open)', m);
    hint := NULL;
  END IF;
  RETURN NEXT;

  -- 5. The catalog: each problem is an error.
  area := 'catalog';
  n := 0;
  FOR r IN SELECT p.table_name, p.column_name, p.problem FROM privacy.catalog_problems p
            ORDER BY p.table_name::text, p.column_name, p.problem LOOP
    n := n OPERATOR(pg_catalog.+) 1;
    status := 'error';
    detail := pg_catalog.format('%s%s: %s', r.table_name,
                                CASE WHEN r.column_name IS NULL THEN '' ELSE '.' || pg_catalog.quote_ident(r.column_name) END,
                                r.problem);
    hint := 'See privacy.catalog_problems; fix the table or its declaration (privacy.register_column, privacy.unregister_column).';
    RETURN NEXT;
  END LOOP;
  IF n OPERATOR(pg_catalog.=) 0 THEN
    status := 'ok';
    detail := pg_catalog.format('no catalog problem (registered tables: %s)',
                                (SELECT pg_catalog.count(*) FROM privacy.registered_table));
    hint := NULL;
    RETURN NEXT;
  END IF;

  -- 6. Columns that look personal but are not declared.
  area := 'undeclared columns';
  SELECT pg_catalog.count(*),
         pg_catalog.string_agg(x.c, ', ' ORDER BY x.c) FILTER (WHERE x.i OPERATOR(pg_catalog.<=) 10)
    INTO n, detail
    FROM (SELECT u.table_name::text || '.' || pg_catalog.quote_ident(u.column_name) AS c,
                 pg_catalog.row_number() OVER (ORDER BY u.table_name::text, u.column_name) AS i
            FROM privacy_internal._undeclared_by_name u) x;
  IF n OPERATOR(pg_catalog.>) 0 THEN
    status := 'warning';
    detail := pg_catalog.format('columns that look personal but are not declared (%s): %s%s', n, detail,
                                CASE WHEN n OPERATOR(pg_catalog.>) 10 THEN ', ...' ELSE '' END);
    hint := 'Declare them with privacy.register_column() (see privacy.undeclared_columns).';
  ELSE
    status := 'ok'; detail := 'no undeclared personal column'; hint := NULL;
  END IF;
  RETURN NEXT;

  -- 7. Tables with protect transformations whose protection is not in force.
  area := 'protection';
  n := 0;
  FOR r IN SELECT p.table_name FROM privacy.protected_tables p WHERE NOT p.protected
            ORDER BY p.table_name::text LOOP
    n := n OPERATOR(pg_catalog.+) 1;
    status := 'error';
    detail := pg_catalog.format('protection of %s is not in force: %s', r.table_name,
                                COALESCE(privacy_internal._protection_problem(r.table_name),
                                                    'it has protect declarations but no protect trigger'));
    hint := CASE WHEN privacy_internal._has_protect_trigger(r.table_name)
                 THEN 'Restore the protect trigger (ALTER TABLE ... ENABLE TRIGGER zz_pg_privacy_protect, on every partition), or remove the protection with privacy.unprotect() and install it again with privacy.protect().'
                 ELSE pg_catalog.format('Run SELECT privacy.protect(%L) (rewrite_existing => true converts rows stored meanwhile).',
                                        r.table_name::text) END;
    RETURN NEXT;
  END LOOP;
  IF n OPERATOR(pg_catalog.=) 0 THEN
    status := 'ok';
    detail := pg_catalog.format('protection in force (protected tables: %s)', (SELECT pg_catalog.count(*) FROM privacy.protected_tables));
    hint := NULL;
    RETURN NEXT;
  END IF;

  -- 8. Restrictions and legal holds past their end and still in place.
  area := 'restrictions and holds';
  SELECT pg_catalog.count(*), pg_catalog.string_agg(DISTINCT x.kind, ', ')
    INTO n, detail
    FROM privacy.restriction x
   -- a restriction an erasure left on the rows it had to keep ends by
   -- itself at its end (restrict checks ignore it from then on); one the
   -- subject asked for is lifted by hand
   WHERE x.origin OPERATOR(pg_catalog.=) 'request'
     AND x.until IS NOT NULL AND x.until OPERATOR(pg_catalog.<) pg_catalog.now();
  SELECT pg_catalog.count(*) INTO m
    FROM privacy.legal_hold h
   WHERE h.released_at IS NULL AND h.until IS NOT NULL AND h.until OPERATOR(pg_catalog.<) pg_catalog.now();
  IF n OPERATOR(pg_catalog.>) 0 THEN
    status := 'warning';
    detail := pg_catalog.format('restrictions past their end and still in place (%s): kinds %s', n, detail);
    hint := 'Lift them with privacy.unrestrict_subject(kind, value) or restrict again with a new end.';
    RETURN NEXT;
  END IF;
  IF m OPERATOR(pg_catalog.>) 0 THEN
    status := 'warning';
    detail := pg_catalog.format('legal holds past their end and not released (%s): ids %s', m,
                                (SELECT pg_catalog.string_agg(h.id::text, ', ' ORDER BY h.id) FROM privacy.legal_hold h
                                  WHERE h.released_at IS NULL AND h.until IS NOT NULL
                                    AND h.until OPERATOR(pg_catalog.<) pg_catalog.now()));
    hint := 'Release them with privacy.release_hold(id), or place a new hold if the reason still holds (see privacy.legal_holds).';
    RETURN NEXT;
  END IF;
  IF n OPERATOR(pg_catalog.=) 0 AND m OPERATOR(pg_catalog.=) 0 THEN
    status := 'ok';
    detail := pg_catalog.format('no restriction or hold past its end (restrictions: %s, active holds: %s)',
                                (SELECT pg_catalog.count(*) FROM privacy.restriction),
                                (SELECT pg_catalog.count(*) FROM privacy.legal_hold h
                                  WHERE h.released_at IS NULL
                                    AND (h.until IS NULL OR h.until OPERATOR(pg_catalog.>=) pg_catalog.now())));
    hint := NULL;
    RETURN NEXT;
  END IF;
END
$$;

-- Views, triggers, comments and configuration new or changed in 0.4.0 (generated)

CREATE VIEW privacy_internal._undeclared_by_name AS
SELECT c.oid::regclass                AS table_name,
       a.attname                      AS column_name,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS data_type,
       m.category                     AS suggested_category,
       (t.tbl IS NOT NULL)            AS table_registered
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
  JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) c.oid
  CROSS JOIN LATERAL (
        SELECT np.category FROM privacy.name_pattern np
         WHERE a.attname::text OPERATOR(pg_catalog.~*) np.pattern
         ORDER BY np.builtin, np.pattern LIMIT 1) m
  LEFT JOIN privacy.registered_table t ON t.tbl OPERATOR(pg_catalog.=) c.oid
 WHERE c.relkind IN ('r', 'p', 'f')
   AND NOT c.relispartition
   AND c.relpersistence OPERATOR(pg_catalog.<>) 't'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'privacy', 'privacy_internal')
   AND n.nspname !~ '^pg_toast'
   AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped
   AND NOT EXISTS (SELECT FROM pg_catalog.pg_depend d
                    WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
                      AND d.objid OPERATOR(pg_catalog.=) c.oid
                      AND d.deptype OPERATOR(pg_catalog.=) 'e')
   AND NOT EXISTS (SELECT FROM privacy.registered_column rc
                    WHERE rc.tbl OPERATOR(pg_catalog.=) c.oid
                      AND rc.col OPERATOR(pg_catalog.=) a.attname);

COMMENT ON VIEW privacy_internal._undeclared_by_name IS
  'internal: columns whose names look personal but are not declared (privacy.undeclared_columns; privacy.health)';

CREATE OR REPLACE VIEW privacy.undeclared_columns AS
SELECT COALESCE(nm.table_name, ct.table_name) AS table_name,
       COALESCE(nm.column_name, ct.column_name) AS column_name,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS data_type,
       COALESCE(nm.suggested_category, ct.suggested_category) AS suggested_category,
       EXISTS (SELECT FROM privacy.registered_table r
                WHERE r.tbl OPERATOR(pg_catalog.=) COALESCE(nm.table_name, ct.table_name)) AS table_registered,
       CASE WHEN nm.column_name IS NOT NULL AND ct.column_name IS NOT NULL THEN 'name, content'
            WHEN nm.column_name IS NOT NULL THEN 'name'
            ELSE 'content' END AS found_by,
       ct.matched_share,
       ct.sampled
  FROM privacy_internal._undeclared_by_name nm
  FULL JOIN privacy_internal._undeclared_by_content() ct
    ON ct.table_name OPERATOR(pg_catalog.=) nm.table_name AND ct.column_name OPERATOR(pg_catalog.=) nm.column_name
  JOIN pg_catalog.pg_attribute a
    ON a.attrelid OPERATOR(pg_catalog.=) COALESCE(nm.table_name, ct.table_name)
   AND a.attname OPERATOR(pg_catalog.=) COALESCE(nm.column_name, ct.column_name);

COMMENT ON VIEW privacy.undeclared_columns IS
  'columns that look personal but are not declared, by their name (phone, email, navn, cpr, kundenummer, ...) or their sampled content (phone numbers, e-mail addresses, CPR numbers, IBANs), with the share of sampled values that matched';

-- The hand-written part of the update from 0.3.0 to 0.4.0 that runs after
-- the generated functions.

-- Every backend forgets the statements it built from the catalog with the
-- 0.3.0 builders (their rows queries return one jsonb, 0.4.0's three
-- columns): an invalidation of the catalog's tables empties the per-backend
-- cache of each session at its next statement.
SELECT privacy_internal._invalidate(t.tbl) FROM privacy.registered_table t;
SELECT privacy_internal._invalidate('privacy.registered_table'::pg_catalog.regclass);

-- Danish and Nordic column names that look personal.
INSERT INTO privacy.name_pattern (pattern, category, builtin) VALUES
  ('telefon|(^|_)tlf|mobil|puhelin', 'phone', true),
  ('e_?post|s[aä]hk[oö]posti', 'email', true),
  ('(^|_)((for|efter|mellem|fuld|kontakt|etter|f[oö]r|slekt)_?)?(navn|namn|nimi)$|(suku|etu)nimi', 'name', true),
  ('adresse|adress|osoite|(^|_)postnr|post_?nummer|postinumero|(^|_)gade(_|$)|(^|_)vej(_|$)|bynavn|(^|_)postby$|postort', 'postal_address', true),
  ('(^|_)cpr|person_?n(umme)?r|f(ø|oe|o)dsels_?(nummer|nr|dato)|f[oö]delse_?datum|henkil[oö]tunnus|(^|_)hetu$|syntym[aä]', 'national_id', true),
  ('kunde_?n(umme)?r|kund_?n(umme)?r|asiakas_?n(ume)?ro', 'customer_number', true),
  ('konto_?n(umme)?r|tilinumero|(^|_)reg_?nr', 'bank_account', true),
  ('org(anisations|anisasjons)?_?n(umme)?r|y_?tunnus', 'business_id', true),
  ('(^|_)firma|virksomhed|f[oö]retag|yritys', 'company', true)
  ON CONFLICT (pattern) DO NOTHING;


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
