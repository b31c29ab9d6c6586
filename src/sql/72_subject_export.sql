-- Export (GDPR Art. 15 and 20): everything the database holds about a
-- subject, found by 70_subject_find.sql, as one JSON document or in
-- chunks; counterparties masked, each table with its purpose, legal basis,
-- recipients, source and retention.

------------------------------------------------------------------------
-- Export
------------------------------------------------------------------------

-- The export reads a table in two steps.  The table's owner reads the
-- subject's rows, each as to_jsonb(t) (_subject_rows_sql, run by
-- _subject_query/_subject_rows as the owner in a security-restricted
-- operation): whatever the row's types bring (a cast to json of the
-- owner's type) runs with the owner's rights.  The extension then shows
-- each row from that JSON alone (_subject_row_json): protected numbers
-- decrypted, counterparties masked; nothing of the owner's runs there.

-- A protected value of a row not yet converted since protect_in_batches(),
-- as the export shows it: what its conversion will store; a value the
-- conversion refuses (not a phone number, not an e-mail address), as it is
-- stored when it is the subject's own (own), else nothing.
CREATE FUNCTION privacy_internal._transform_shown(value text, protect text, domain text, identifies text, own boolean)
  RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN privacy_internal._transform(value, protect, domain, identifies);
EXCEPTION WHEN data_exception THEN
  RETURN CASE WHEN own THEN value END;
END
$$;
COMMENT ON FUNCTION privacy_internal._transform_shown(text, text, text, text, boolean) IS
  'internal: a protected value of a row not yet converted as the export shows it (its transformation; refused: the own value, else NULL)';

-- The JSON of one row of table tbl as the export shows it, as an
-- expression over x.j (the row as the owner's to_jsonb(t) gave it).  In
-- the subject's own rows (mention_col NULL) the owner identifiers are
-- shown in clear and every mention is masked; in another subject's row
-- that mentions the subject (mention_col), only that column is shown, the
-- row's owner identifiers and other personal data are masked, and
-- traffic and location data stay.  raw: the table holds rows not converted
-- since protect_in_batches() (x.k 'raw'): their protected columns are
-- shown as their conversion will store them, never raw.
CREATE FUNCTION privacy_internal._subject_row_json(tbl regclass, mention_col name, raw boolean DEFAULT false)
  RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r     record;
  parts text[] := '{}';
  clear text;
  clear_text text;
  masked text;
BEGIN
  FOR r IN SELECT rc.col, rc.category, rc.identifies, rc.link, rc.protect, rc.domain
             FROM privacy.registered_column rc WHERE rc.tbl OPERATOR(pg_catalog.=) _subject_row_json.tbl
            ORDER BY rc.attnum LOOP
    IF r.protect OPERATOR(pg_catalog.=) 'msisdn_fpe' THEN
      -- under the key of its row (x.k) while a key rotation runs
      clear := pg_catalog.format('CASE WHEN x.k IS NULL THEN privacy_internal._msisdn_decrypt(x.j OPERATOR(pg_catalog.->>) %1$L, %2$L)'
                                 ' ELSE privacy_internal._msisdn_under(x.k, x.j OPERATOR(pg_catalog.->>) %1$L, %2$L, true) END',
                                 r.col, r.domain);
      clear_text := clear;
    ELSIF raw AND r.protect IS NOT NULL THEN
      -- a row not yet converted: the value its conversion will store (one
      -- it will refuse: the subject's own as stored, another's not at all)
      clear_text := pg_catalog.format('CASE WHEN x.k OPERATOR(pg_catalog.=) ''raw'''
                                      ' THEN privacy_internal._transform_shown(x.j OPERATOR(pg_catalog.->>) %1$L, %2$L, %3$L, %4$L, %5$L)'
                                      ' ELSE x.j OPERATOR(pg_catalog.->>) %1$L END',
                                      r.col, r.protect, r.domain, r.identifies, mention_col IS NULL);
      clear := pg_catalog.format('CASE WHEN x.k OPERATOR(pg_catalog.=) ''raw'''
                                 ' THEN pg_catalog.to_jsonb(privacy_internal._transform_shown(x.j OPERATOR(pg_catalog.->>) %1$L, %2$L, %3$L, %4$L, %5$L))'
                                 ' ELSE x.j OPERATOR(pg_catalog.->) %1$L END',
                                 r.col, r.protect, r.domain, r.identifies, mention_col IS NULL);
    ELSE
      clear := pg_catalog.format('x.j OPERATOR(pg_catalog.->) %L', r.col);
      clear_text := pg_catalog.format('x.j OPERATOR(pg_catalog.->>) %L', r.col);
    END IF;
    -- (a column protected by null holds nothing once converted)
    masked := CASE WHEN raw AND r.protect OPERATOR(pg_catalog.=) 'null' THEN 'NULL::pg_catalog.text'
                   ELSE pg_catalog.format('CASE WHEN x.j OPERATOR(pg_catalog.->>) %L IS NOT NULL THEN ''(masked)'' END', r.col) END;
    IF mention_col IS NULL THEN
      IF r.link OPERATOR(pg_catalog.=) 'mention' THEN
        parts := parts OPERATOR(pg_catalog.||) pg_catalog.format('%L, %s', r.col,
                   CASE WHEN r.identifies OPERATOR(pg_catalog.=) 'msisdn'
                        THEN pg_catalog.format('privacy.mask_msisdn(%s)', clear_text)
                        ELSE masked END);
      ELSIF (r.identifies IS NOT NULL AND r.protect OPERATOR(pg_catalog.=) 'msisdn_fpe')
            OR (raw AND r.protect IS NOT NULL) THEN
        parts := parts OPERATOR(pg_catalog.||) pg_catalog.format('%L, %s', r.col, clear);
      END IF;
    ELSE
      IF r.col OPERATOR(pg_catalog.=) mention_col THEN
        parts := parts OPERATOR(pg_catalog.||) pg_catalog.format('%L, %s', r.col, clear);
      ELSIF r.identifies OPERATOR(pg_catalog.=) 'msisdn' THEN
        parts := parts OPERATOR(pg_catalog.||) pg_catalog.format('%L, privacy.mask_msisdn(%s)', r.col, clear_text);
      ELSIF r.category NOT IN ('traffic', 'location') THEN
        parts := parts OPERATOR(pg_catalog.||) pg_catalog.format('%L, %s', r.col, masked);
      ELSIF raw AND r.protect IS NOT NULL THEN
        parts := parts OPERATOR(pg_catalog.||) pg_catalog.format('%L, %s', r.col, clear);
      END IF;
    END IF;
  END LOOP;
  IF pg_catalog.cardinality(parts) OPERATOR(pg_catalog.=) 0 THEN
    RETURN 'x.j';
  END IF;
  -- jsonb_build_object takes at most 100 arguments: one call per 50 columns.
  RETURN 'x.j OPERATOR(pg_catalog.||) ' ||
         (SELECT pg_catalog.string_agg('pg_catalog.jsonb_build_object(' ||
                   pg_catalog.array_to_string(parts[g OPERATOR(pg_catalog.*) 50 OPERATOR(pg_catalog.+) 1 :
                                                    g OPERATOR(pg_catalog.*) 50 OPERATOR(pg_catalog.+) 50], ', ') || ')',
                   ' OPERATOR(pg_catalog.||) ')
            FROM pg_catalog.generate_series(0, (pg_catalog.cardinality(parts) OPERATOR(pg_catalog.-) 1) OPERATOR(pg_catalog./) 50) g);
END
$$;

-- The query, run as the table's owner, returning the subject's rows of one
-- table, each once (by relation and ctid, on Citus by shard and ctid), as
-- (pri, mention column, to_jsonb(t)) (pri 0 = the subject's own row, 1 = a
-- row that mentions the subject), in order of pri; and the expression over x.pri, x.m, x.j that shows such a row
-- (_subject_row_json).  Both NULL when no column of the table can hold the
-- subject's identifiers.  raw: the subject's identifiers include rows not
-- converted since protect_in_batches() (privacy_internal._subject_match;
-- kept under keys of their own).
CREATE FUNCTION privacy_internal._subject_rows_sql(tbl regclass, dc text, raw boolean DEFAULT false, OUT q text, OUT shown text)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  c        privacy_internal._subject_column;
  branches text[] := '{}';
  whens    text[] := '{}';
  own_json text;
  key      text := tbl::oid::text || ':' || dc || CASE WHEN raw THEN ':raw' ELSE '' END;
  cached   text := privacy_internal._subject_cache_get('rows:' || key);
  froms    text[];
  f        text;
  bounded  text[] := '{}';   -- the branches without those of open periods only
  -- a row is its relation and ctid; on Citus, where each shard's OID is
  -- its node's own (shards on two nodes may share one), its shard's name
  rid      text;
  -- the key of the row's phone-number pseudonyms while a key rotation
  -- runs (NULL: the current key), which shows them decrypted
  rkey     text := CASE WHEN raw OR EXISTS (SELECT FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc
                                             WHERE sc.tbl OPERATOR(pg_catalog.=) _subject_rows_sql.tbl
                                               AND sc.protect OPERATOR(pg_catalog.=) 'msisdn_fpe')
                        THEN privacy_internal._subject_row_key_sql(tbl)
                        ELSE 'NULL::pg_catalog.text' END;
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
  rid := CASE WHEN privacy_internal._citus_table(tbl)
              THEN 't.tableoid::pg_catalog.regclass::pg_catalog.text' ELSE 't.tableoid' END;
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
                          c.tbl::oid::text || '.' || c.attnum::text, c.tbl, privacy_internal._subject_match(c, dc, raw), c.event_time),
        pg_catalog.format('privacy_internal._subject_ids_span($1, %1$L, false) f JOIN %2$s t ON %3$s AND t.%4$I IS NULL',
                          c.tbl::oid::text || '.' || c.attnum::text, c.tbl, privacy_internal._subject_match(c, dc, raw), c.event_time)];
    ELSE
      froms := ARRAY[privacy_internal._subject_from(c, dc, raw)];
    END IF;
    -- (of two froms, the second reads the rows of open periods only)
    IF c.link OPERATOR(pg_catalog.=) 'owner' THEN
      own_json := COALESCE(own_json, privacy_internal._subject_row_json(tbl, NULL, raw));
      FOREACH f IN ARRAY froms LOOP
        branches := branches OPERATOR(pg_catalog.||)
          pg_catalog.format('SELECT 0 AS pri, NULL::pg_catalog.text AS m, %s AS o, t.ctid AS d, pg_catalog.to_jsonb(t.*) AS j, %s AS k FROM %s', rid, rkey, f);
      END LOOP;
      bounded := bounded OPERATOR(pg_catalog.||) branches[pg_catalog.cardinality(branches) OPERATOR(pg_catalog.-) pg_catalog.cardinality(froms) OPERATOR(pg_catalog.+) 1];
    ELSE
      FOREACH f IN ARRAY froms LOOP
        branches := branches OPERATOR(pg_catalog.||)
          pg_catalog.format('SELECT 1 AS pri, %L::pg_catalog.text AS m, %s AS o, t.ctid AS d, pg_catalog.to_jsonb(t.*) AS j, %s AS k FROM %s',
                            c.col, rid, rkey, f);
      END LOOP;
      bounded := bounded OPERATOR(pg_catalog.||) branches[pg_catalog.cardinality(branches) OPERATOR(pg_catalog.-) pg_catalog.cardinality(froms) OPERATOR(pg_catalog.+) 1];
      whens := whens OPERATOR(pg_catalog.||)
        pg_catalog.format('WHEN x.m OPERATOR(pg_catalog.=) %L THEN %s', c.col, privacy_internal._subject_row_json(tbl, c.col, raw));
    END IF;
  END LOOP;
  IF pg_catalog.cardinality(branches) OPERATOR(pg_catalog.>) 0 THEN
    q := 'SELECT u.pri, u.m, u.j, u.k FROM (SELECT DISTINCT ON (u.o, u.d) u.pri, u.m, u.o, u.d, u.j, u.k FROM ('
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
         THEN 'SELECT u.pri, u.m, u.j, u.k FROM (SELECT DISTINCT ON (u.o, u.d) u.pri, u.m, u.o, u.d, u.j, u.k FROM ('
              || pg_catalog.array_to_string(bounded, ' UNION ALL ')
              || ') u ORDER BY u.o, u.d, u.pri) u ORDER BY u.pri, u.o, u.d'
         ELSE '' END);
  PERFORM privacy_internal._subject_cache_put('rows:' || key, COALESCE(q, ''));
END
$$;

-- What the export says about each of the tables besides their rows (GDPR
-- Art. 15(1)): purpose, legal basis, recipients, retention, source and
-- categories, one element per table of tbls in its order (null for a table
-- not registered), all of them read by one statement, planned once.
CREATE FUNCTION privacy_internal._subject_tables_json(tbls oid[])
  RETURNS jsonb
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
  RETURN (
  SELECT COALESCE(pg_catalog.jsonb_agg(
           CASE WHEN t.tbl IS NOT NULL THEN
           pg_catalog.jsonb_build_object(
             'table', t.tbl::text,
             'purpose', p.name,
             'purpose_description', p.description,
             'legal_basis', p.legal_basis,
             'legal_basis_article', b.article,
             'recipients', pg_catalog.to_jsonb(p.recipients),
             'retention', CASE WHEN rp.tbl IS NOT NULL THEN
                            pg_catalog.jsonb_build_object('time_column', rp.time_column, 'keep', rp.keep,
                                                          'action', rp.action, 'keep_at_least', rp.keep_at_least) END,
             'source', s.source,
             'categories', (SELECT pg_catalog.jsonb_agg(DISTINCT rc.category)
                              FROM privacy.registered_column rc WHERE rc.tbl OPERATOR(pg_catalog.=) t.tbl)) END
           ORDER BY d.o), '[]')
    FROM pg_catalog.unnest(tbls) WITH ORDINALITY d(t, o)
    LEFT JOIN privacy.registered_table t ON t.tbl::pg_catalog.oid OPERATOR(pg_catalog.=) d.t
    LEFT JOIN privacy.purpose p ON p.name OPERATOR(pg_catalog.=) t.purpose
    LEFT JOIN privacy.legal_basis b ON b.name OPERATOR(pg_catalog.=) p.legal_basis
    LEFT JOIN privacy.subject_table s ON s.tbl OPERATOR(pg_catalog.=) t.tbl
    LEFT JOIN privacy.retention_policy rp ON rp.tbl OPERATOR(pg_catalog.=) t.tbl);
END
$$;

-- The export's header: everything but the rows (and the tables'
-- descriptions, _subject_tables_json), one statement over the arrays of
-- identifiers: planned once (see _consent_receipts in 40_consent.sql).
CREATE FUNCTION privacy_internal._subject_header(kind text, norm text, kinds text[], vals text[], spans tstzmultirange[])
  RETURNS jsonb
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET plan_cache_mode = force_generic_plan
AS $$
BEGIN
  RETURN (
  SELECT pg_catalog.jsonb_build_object(
           'format', 'pg_privacy.subject_export',
           'version', 1,
           'generated_at', pg_catalog.now(),
           'subject', pg_catalog.jsonb_build_object('kind', kind, 'value', norm),
           -- each identifier with the periods it was the subject's
           'identifiers', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                                    'kind', u.k, 'value', u.v,
                                    'periods', CASE WHEN u.s OPERATOR(pg_catalog.=) '{(,)}'::tstzmultirange THEN NULL
                                                    ELSE (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                                                                   'from', pg_catalog.lower(p), 'to', pg_catalog.upper(p)) ORDER BY p)
                                                            FROM pg_catalog.unnest(u.s) p) END) ORDER BY u.o), '[]')
                             FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(vals), pg_catalog.unnest(spans))
                                  WITH ORDINALITY u(k, v, s, o)),
           -- (under every key a restriction was made with)
           'restricted', EXISTS (SELECT FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(vals)) u(k, v)
                                   JOIN privacy.restriction x
                                     ON x.kind OPERATOR(pg_catalog.=) u.k
                                    AND x.subject_ref OPERATOR(pg_catalog.=) ANY (privacy_internal._restriction_refs(u.k, u.v))
                                  WHERE x.until IS NULL OR x.until OPERATOR(pg_catalog.>) pg_catalog.now()),
           -- a receipt per identifier with consent events
           'consent', (SELECT COALESCE(pg_catalog.jsonb_agg(c.receipt ORDER BY c.i), '[]')
                         FROM privacy_internal._consent_receipts(kinds, vals, NULL) c
                        WHERE pg_catalog.jsonb_array_length(c.receipt OPERATOR(pg_catalog.->) 'consents') OPERATOR(pg_catalog.>) 0),
           -- the open requests of the subject
           'requests', (SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                                 'id', d.id, 'request', d.request, 'received_at', d.received_at, 'due_at', d.due_at,
                                 'status', d.status) ORDER BY d.id), '[]')
                          FROM privacy.request_deadlines d
                         WHERE d.subject_ref OPERATOR(pg_catalog.=) ANY (r.refs) AND d.closed_at IS NULL))
    -- the identifiers' keyed references, computed once, under every key
    -- pg_privacy.key_file lists: a request opened before a key change is
    -- found (a request is a record; one made under a key no longer listed
    -- is not, and nothing fails)
    FROM (SELECT COALESCE(pg_catalog.array_agg(f.ref), '{}') AS refs
            FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(vals)) u(k, v),
                 pg_catalog.unnest(privacy_internal._audit_refs(u.k, u.v)) f(ref)) r);
END
$$;

-- The whole export, read in one snapshot (a STABLE function sees the
-- snapshot of the statement calling it): a concurrent erasure is seen
-- entirely or not at all (src/engine.c).
CREATE FUNCTION privacy_internal._subject_export(kind text, value text, at timestamptz)
  RETURNS jsonb
  LANGUAGE c STABLE
  SET search_path = pg_catalog, pg_temp
  AS 'MODULE_PATHNAME', 'pgp_subject_export';

-- The API entry (src/rights.c): refused on a Citus worker (0A000) and
-- while a table Citus manages is not ready for it (0A000, 55000:
-- src/citus.c, pgp_citus_refuse_unready); the identifier normalized
-- (22004, 22023, 22P02); the
-- document (_subject_export's engine) read in one snapshot taken at the
-- call; one audit entry (the kind, the subject's keyed reference, how many
-- identifiers, the rows per table).
CREATE FUNCTION privacy.export_subject(kind text, value text, at timestamptz DEFAULT NULL)
  RETURNS jsonb
  LANGUAGE c VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
  AS 'MODULE_PATHNAME', 'pgp_export_subject';
COMMENT ON FUNCTION privacy.export_subject(text, text, timestamptz) IS
  'everything the database holds about a data subject as one JSON document (GDPR Art. 15 and 20): rows grouped by table with purpose, legal basis, retention, recipients and source, counterparties masked, consent receipts and open requests; audited';

-- The same export as a stream: one row for the header, then per table one
-- row of metadata and its rows in chunks of chunk_rows, so a subject with
-- millions of rows is exported without one huge value.
CREATE FUNCTION privacy_internal._subject_export_stream(kind text, value text, chunk_rows integer, at timestamptz)
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
    rs := privacy_internal._subject_rows_sql(t.tbl, dc, params OPERATOR(pg_catalog.?) ('raw:' || t.tbl::oid::text));
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
        data := privacy_internal._subject_tables_json(ARRAY[t.tbl::pg_catalog.oid]) OPERATOR(pg_catalog.->) 0;
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

CREATE FUNCTION privacy.export_subject_chunks(kind text, value text, chunk_rows integer DEFAULT 10000,
                                              at timestamptz DEFAULT NULL)
  RETURNS TABLE(part integer, section text, table_name regclass, data jsonb)
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  norm text;
  n    bigint := 0;
  tabs jsonb := '{}';
BEGIN
  -- audited: on the coordinator only (tables Citus manages are read as
  -- the others there, src/owner.c)
  PERFORM privacy_internal._citus_refuse_worker('export_subject_chunks');
  PERFORM privacy_internal._citus_refuse_unready('export_subject_chunks');
  norm := privacy_internal._identifier_normalize(kind, value);
  FOR part, section, table_name, data IN SELECT * FROM privacy_internal._subject_export_stream(kind, value, chunk_rows, at) LOOP
    IF section IN ('rows', 'mentions') THEN
      tabs := tabs OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(table_name::text,
                COALESCE((tabs OPERATOR(pg_catalog.->>) table_name::text)::bigint, 0)
                OPERATOR(pg_catalog.+) pg_catalog.jsonb_array_length(data));
    END IF;
    n := n OPERATOR(pg_catalog.+) 1;
    RETURN NEXT;
  END LOOP;
  PERFORM privacy_internal._audit('subject.export', NULL,
    pg_catalog.jsonb_build_object('kind', kind, 'subject', privacy_internal._audit_ref(kind, norm),
                                  'chunks', n, 'tables', tabs));
END
$$;
COMMENT ON FUNCTION privacy.export_subject_chunks(text, text, integer, timestamptz) IS
  'the export of export_subject as a stream: a header row, then per table a metadata row and its rows in chunks of chunk_rows (for subjects with very many rows); audited';
