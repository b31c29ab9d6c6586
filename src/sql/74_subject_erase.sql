-- Erasure (GDPR Art. 17): the subject found by 70_subject_find.sql is
-- deleted where the law lets go, scrubbed where other subjects' rows
-- mention it, and kept and restricted where a legal minimum, a hold or a
-- reference keeps it; the consent history keeps its proof under a keyed
-- reference.

-- Erasure: replace the subject's identity in the consent history by its
-- keyed reference (consent part).  Returns the events changed, or NULL
-- when the consent part is not installed.
CREATE FUNCTION privacy_internal._subject_forget_consent(kinds text[], vals text[])
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  n bigint := 0;
  m bigint;
  i integer;
BEGIN
  IF pg_catalog.to_regprocedure('privacy_internal._consent_forget_identity(text,text)') IS NULL THEN
    RETURN NULL;
  END IF;
  -- only identifiers that have consent events (one query)
  FOREACH i IN ARRAY privacy_internal._subject_with_consent(kinds, vals) LOOP
    EXECUTE 'SELECT privacy_internal._consent_forget_identity($1, $2)' INTO m USING kinds[i], vals[i];
    n := n OPERATOR(pg_catalog.+) COALESCE(m, 0);
  END LOOP;
  RETURN n;
END
$$;

------------------------------------------------------------------------
-- Erasure (GDPR Art. 17)
------------------------------------------------------------------------

-- Registered tables with searchable identifiers, referencing tables
-- before the tables they reference, so children are deleted first.
CREATE FUNCTION privacy_internal._subject_table_order()
  RETURNS TABLE(tbl regclass, depth integer)
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
  WITH RECURSIVE t AS (SELECT DISTINCT sc.tbl FROM privacy_internal._subject_column sc),
  fk AS (SELECT DISTINCT c.conrelid::regclass AS child, c.confrelid::regclass AS parent
           FROM pg_catalog.pg_constraint c
          WHERE c.contype OPERATOR(pg_catalog.=) 'f'
            AND c.conrelid OPERATOR(pg_catalog.<>) c.confrelid
            AND c.conparentid OPERATOR(pg_catalog.=) 0),
  d(tbl, depth) AS (
    SELECT t.tbl, 0 FROM t
    UNION ALL
    SELECT fk.parent, d.depth OPERATOR(pg_catalog.+) 1 FROM d JOIN fk ON fk.child OPERATOR(pg_catalog.=) d.tbl
     WHERE d.depth OPERATOR(pg_catalog.<) 20)
  SELECT t.tbl, (SELECT pg_catalog.max(d.depth) FROM d WHERE d.tbl OPERATOR(pg_catalog.=) t.tbl)::integer
    FROM t
$$;

-- The work of erase_subject: returns the report rows.
CREATE FUNCTION privacy_internal._subject_erase(kind text, value text, at timestamptz)
  RETURNS TABLE(table_name regclass, action text, rows bigint, reason text, kept_until timestamptz)
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  dc      text := privacy_internal._default_country();
  ids     record;
  params  jsonb;
  t       record;
  c       privacy_internal._subject_column;
  h       record;
  holds   text;
  hold_until timestamptz;
  open_hold boolean := false;
  n       bigint;
  kept    bigint;
  until   timestamptz;
  deleted bigint;
  keep    record;
  keepcond text;
  nrows   bigint;
  kept_any boolean := false;
  max_until timestamptz;
  row_until timestamptz;
  forever boolean := false;
  heldcond text;
  held_args text[];
  any_hold boolean;
  scrubbed jsonb;
  referenced boolean;
  refd    boolean;
  order_  regclass[];
  cached  text;
  q       text;
  stmts   text[];
  ctids   text[];
  dels    text[];
  cols    privacy_internal._subject_column[] := privacy_internal._subject_cols();
  res     jsonb;
  reten   jsonb := privacy_internal._subject_retention_all();
BEGIN
  -- Writers of the subject's tables wait until the erasure commits, and an
  -- erasure waits for writers in flight: a row inserted concurrently is
  -- either seen and erased here or written after the erasure.  (Each
  -- statement below takes a new snapshot, so it sees what the writers we
  -- waited for committed.)
  cached := privacy_internal._subject_cache_get('order');
  IF cached IS NULL THEN
    SELECT pg_catalog.array_agg(o.tbl ORDER BY o.depth, o.tbl::text) INTO order_
      FROM privacy_internal._subject_table_order() o;
    PERFORM privacy_internal._subject_cache_put('order', COALESCE(order_::text, ''));
  ELSE
    order_ := NULLIF(cached, '')::regclass[];
  END IF;
  IF order_ IS NOT NULL THEN
    EXECUTE 'LOCK TABLE ' || (SELECT pg_catalog.string_agg(x::text, ', ' ORDER BY x::oid) FROM pg_catalog.unnest(order_) x)
            || ' IN SHARE ROW EXCLUSIVE MODE';
  END IF;
  ids := privacy_internal._subject_identifiers(kind, value, at);
  params := privacy_internal._subject_params(ids.kinds, ids.vals, ids.spans);

  FOR h IN SELECT * FROM privacy_internal._subject_holds(ids.kinds, ids.vals) LOOP
    holds := COALESCE(holds || '; ', '') || h.reason;
    IF h.until IS NULL THEN
      open_hold := true;
    ELSE
      hold_until := GREATEST(hold_until, h.until);
    END IF;
  END LOOP;
  IF open_hold THEN
    hold_until := NULL;
  END IF;

  PERFORM privacy_internal._subject_set_erasing(true);
  -- Fail closed before anything changes: a table whose protection was
  -- switched off may hold raw values the erasure would not find.  The
  -- check reads only the catalog (triggers, partitions, children), and
  -- every change there invalidates the table's relcache entry, which
  -- empties the per-backend cache: a success is remembered until then.
  IF privacy_internal._subject_cache_get('protected') IS NULL THEN
    PERFORM privacy_internal._check_protection(x) FROM pg_catalog.unnest(order_) x;
    PERFORM privacy_internal._subject_cache_put('protected', 'ok');
  END IF;
  any_hold := EXISTS (SELECT FROM privacy.legal_hold lh
                       WHERE lh.released_at IS NULL
                         AND (lh.until IS NULL OR lh.until OPERATOR(pg_catalog.>) pg_catalog.now()));
  FOR t IN SELECT x AS tbl FROM pg_catalog.unnest(order_) WITH ORDINALITY u(x, o) ORDER BY u.o LOOP
    table_name := t.tbl;
    IF holds IS NOT NULL THEN
      -- Under a hold nothing of the subject changes: count what is kept.
      n := 0;
      FOREACH c IN ARRAY cols LOOP
        CONTINUE WHEN c.tbl OPERATOR(pg_catalog.<>) t.tbl OR c.link IS NULL OR c.link OPERATOR(pg_catalog.<>) 'owner';
        CONTINUE WHEN NOT params OPERATOR(pg_catalog.?) (c.tbl::oid::text || '.' || c.attnum::text);
        nrows := (privacy_internal._subject_query(t.tbl,
                    'SELECT pg_catalog.to_jsonb(pg_catalog.count(DISTINCT (t.tableoid, t.ctid))) FROM ' || privacy_internal._subject_from(c, dc),
                    params) OPERATOR(pg_catalog.#>>) '{}')::bigint;
        n := GREATEST(n, nrows);
      END LOOP;
      IF n OPERATOR(pg_catalog.>) 0 THEN
        action := 'keep'; rows := n; kept_until := hold_until;
        reason := 'legal hold: ' || holds || COALESCE(' (until ' || pg_catalog.to_char(hold_until, 'YYYY-MM-DD') || ')', ' (until released)');
        kept_any := true;
        RETURN NEXT;
      END IF;
      CONTINUE;
    END IF;

    -- Legal minimum: rows under keep_at_least stay, by the purge's own
    -- rule (privacy_internal._legal_minimum_sql: period alignment and time zone).
    IF reten OPERATOR(pg_catalog.->) (t.tbl::oid::text) OPERATOR(pg_catalog.->>) 'keep_at_least' IS NULL THEN
      -- no legal minimum (privacy_internal._legal_minimum_sql would say so too)
      SELECT NULL::name AS time_column, NULL::interval AS keep_at_least, NULL::text AS keep_cond, NULL::text AS row_time
        INTO keep;
    ELSE
      SELECT (reten OPERATOR(pg_catalog.->) (t.tbl::oid::text) OPERATOR(pg_catalog.->>) 'time_column')::name AS time_column,
             (reten OPERATOR(pg_catalog.->) (t.tbl::oid::text) OPERATOR(pg_catalog.->>) 'keep_at_least')::interval AS keep_at_least,
             m.keep_cond, m.row_time
        INTO keep
        FROM privacy_internal._legal_minimum_sql(t.tbl, 't', pg_catalog.now()) m;
    END IF;
    keepcond := COALESCE(keep.keep_cond, 'false');
    -- A legal hold on any identifier a row holds keeps the row as it is,
    -- whoever's identifier it is (a call of this subject to a held
    -- number): neither deleted nor scrubbed.
    heldcond := NULL;
    IF any_hold THEN
      SELECT hp.held, hp.held_args INTO heldcond, held_args
        FROM privacy_internal._hold_predicate(t.tbl, 't', 'held.' || t.tbl::oid::text) hp;
    END IF;
    IF heldcond IS NOT NULL THEN
      -- the held values travel in the parameter, never in the SQL text
      params := params OPERATOR(pg_catalog.||)
                pg_catalog.jsonb_build_object('held.' || t.tbl::oid::text, pg_catalog.to_jsonb(held_args));
      n := 0;
      FOREACH c IN ARRAY cols LOOP
        CONTINUE WHEN c.tbl OPERATOR(pg_catalog.<>) t.tbl;
        CONTINUE WHEN NOT params OPERATOR(pg_catalog.?) (c.tbl::oid::text || '.' || c.attnum::text);
        nrows := (privacy_internal._subject_query(t.tbl,
                    'SELECT pg_catalog.to_jsonb(pg_catalog.count(DISTINCT (t.tableoid, t.ctid))) FROM '
                    || privacy_internal._subject_from(c, dc) || ' AND ' || heldcond,
                    params) OPERATOR(pg_catalog.#>>) '{}')::bigint;
        n := GREATEST(n, nrows);
      END LOOP;
      IF n OPERATOR(pg_catalog.>) 0 THEN
        action := 'keep'; rows := n; kept_until := NULL;
        reason := 'legal hold on another identifier these rows hold (until released)';
        kept_any := true;
        forever := true;
        RETURN NEXT;
      END IF;
      keepcond := '(' || keepcond || ' OR ' || heldcond || ')';
    END IF;
    deleted := 0; kept := 0; until := NULL; referenced := false;
    -- whether a foreign key references the table (or a partition of it),
    -- remembered per backend until the catalog changes
    cached := privacy_internal._subject_cache_get('referenced:' || t.tbl::oid::text);
    IF cached IS NULL THEN
      cached := privacy_internal._subject_cache_put('referenced:' || t.tbl::oid::text,
                  EXISTS (SELECT FROM pg_catalog.pg_constraint k
                           WHERE k.contype OPERATOR(pg_catalog.=) 'f'
                             AND (k.confrelid OPERATOR(pg_catalog.=) t.tbl
                                  OR k.confrelid IN (SELECT p.relid FROM pg_catalog.pg_partition_tree(t.tbl) p)))::text);
    END IF;
    refd := cached::boolean;
    -- An ordinary table no foreign key references: the rows of all its
    -- owner columns go in one DELETE (by their ctids; no concurrent writer,
    -- the table is locked), not one per column.  Not a table with
    -- inheritance children: a ctid names a row of one table only, and the
    -- same ctid in a child is another row.
    cached := privacy_internal._subject_cache_get('plain:' || t.tbl::oid::text);
    IF cached IS NULL THEN
      cached := privacy_internal._subject_cache_put('plain:' || t.tbl::oid::text,
                  EXISTS (SELECT FROM pg_catalog.pg_class k
                           WHERE k.oid OPERATOR(pg_catalog.=) t.tbl AND k.relkind OPERATOR(pg_catalog.=) 'r'
                             AND NOT EXISTS (SELECT FROM pg_catalog.pg_inherits i
                                              WHERE i.inhparent OPERATOR(pg_catalog.=) t.tbl))::text);
    END IF;
    ctids := '{}';
    dels := '{}';
    -- (cols is in order of table and attnum)
    FOREACH c IN ARRAY cols LOOP
      CONTINUE WHEN c.tbl OPERATOR(pg_catalog.<>) t.tbl OR c.link IS NULL OR c.link OPERATOR(pg_catalog.<>) 'owner';
      CONTINUE WHEN NOT params OPERATOR(pg_catalog.?) (c.tbl::oid::text || '.' || c.attnum::text);
      IF keep.keep_cond IS NOT NULL THEN
        res := privacy_internal._subject_query(t.tbl,
                 pg_catalog.format('SELECT pg_catalog.jsonb_build_array(pg_catalog.count(DISTINCT (t.tableoid, t.ctid)), pg_catalog.max(%s)) FROM %s AND %s AND NOT %s',
                                   keep.row_time, privacy_internal._subject_from(c, dc), keep.keep_cond,
                                   COALESCE(heldcond, 'false')),
                 params);
        nrows := (res OPERATOR(pg_catalog.->>) 0)::bigint;
        row_until := (res OPERATOR(pg_catalog.->>) 1)::timestamptz;
        kept := GREATEST(kept, nrows);
        until := GREATEST(until, privacy_internal._legal_minimum_until(t.tbl, row_until));
      END IF;
      IF NOT refd AND cached::boolean THEN
        ctids := ctids OPERATOR(pg_catalog.||) privacy_internal._subject_stmts('ctid', c, dc, params);
        dels := dels OPERATOR(pg_catalog.||) privacy_internal._subject_stmts('delete', c, dc, params);
        CONTINUE;
      END IF;
      -- the statements without their keep condition, built once per backend
      stmts := privacy_internal._subject_stmts('delete', c, dc, params);
      n := 0;
      IF NOT refd THEN
        -- no foreign key references the table: no subtransaction needed
        FOREACH q IN ARRAY stmts LOOP
          n := n OPERATOR(pg_catalog.+) privacy_internal._subject_exec(t.tbl, q || ' AND NOT ' || keepcond, params);
        END LOOP;
      ELSE
      BEGIN
        FOREACH q IN ARRAY stmts LOOP
          n := n OPERATOR(pg_catalog.+) privacy_internal._subject_exec(t.tbl, q || ' AND NOT ' || keepcond, params);
        END LOOP;
      EXCEPTION WHEN foreign_key_violation THEN
        -- Rows that other kept rows still reference stay as long as they do.
        nrows := (privacy_internal._subject_query(t.tbl, 'SELECT pg_catalog.to_jsonb(pg_catalog.count(*)) FROM ' || privacy_internal._subject_from(c, dc),
                                         params) OPERATOR(pg_catalog.#>>) '{}')::bigint;
        kept := GREATEST(kept, nrows);
        referenced := true;
        n := 0;
      END;
      END IF;
      deleted := deleted OPERATOR(pg_catalog.+) n;
    END LOOP;
    IF pg_catalog.cardinality(ctids) OPERATOR(pg_catalog.=) 1 THEN
      deleted := deleted OPERATOR(pg_catalog.+) privacy_internal._subject_exec(t.tbl, dels[1] || ' AND NOT ' || keepcond, params);
    ELSIF pg_catalog.cardinality(ctids) OPERATOR(pg_catalog.>) 1 THEN
      deleted := deleted OPERATOR(pg_catalog.+) privacy_internal._subject_exec(t.tbl,
                   'DELETE FROM ' || t.tbl::text || ' t WHERE t.ctid OPERATOR(pg_catalog.=) ANY (ARRAY('
                   || pg_catalog.array_to_string(ctids, ' UNION ALL ') || ')) AND NOT ' || keepcond,
                   params);
    END IF;
    IF deleted OPERATOR(pg_catalog.>) 0 THEN
      action := 'delete'; rows := deleted; kept_until := NULL;
      reason := 'erased at the data subject''s request (GDPR Art. 17)';
      RETURN NEXT;
    END IF;
    IF kept OPERATOR(pg_catalog.>) 0 THEN
      IF referenced THEN
        -- as long as the rows that reference them (tables referencing
        -- this one were handled before it)
        until := GREATEST(until, max_until);
      END IF;
      action := 'keep'; rows := kept; kept_until := until;
      reason := CASE WHEN referenced
                     THEN pg_catalog.format('referenced by rows kept in another table (until %s), restricted',
                                            COALESCE(pg_catalog.to_char(until, 'YYYY-MM-DD'), 'they go'))
                     ELSE pg_catalog.format('legal minimum: kept %s after %s (until %s), restricted',
                                            keep.keep_at_least, keep.time_column,
                                            pg_catalog.to_char(until, 'YYYY-MM-DD')) END;
      kept_any := true;
      IF kept_until IS NULL THEN
        forever := true;
      ELSE
        max_until := GREATEST(max_until, kept_until);
      END IF;
      RETURN NEXT;
    END IF;

    -- Mentions in other subjects' rows: the subject's identifier goes.
    scrubbed := '{}';
    n := 0;
    FOREACH c IN ARRAY cols LOOP
      CONTINUE WHEN c.tbl OPERATOR(pg_catalog.<>) t.tbl OR c.link IS NULL OR c.link OPERATOR(pg_catalog.<>) 'mention';
      CONTINUE WHEN NOT params OPERATOR(pg_catalog.?) (c.tbl::oid::text || '.' || c.attnum::text);
      IF c.notnull THEN
        RAISE EXCEPTION 'cannot scrub mentions in column "%" of relation %', c.col, c.tbl
          USING ERRCODE = '55000',
                DETAIL = 'The column is NOT NULL, so the subject''s identifier cannot be removed from other subjects'' rows.',
                HINT = 'Allow NULL in the column (ALTER TABLE ... ALTER COLUMN ... DROP NOT NULL).';
      END IF;
      nrows := 0;
      FOREACH q IN ARRAY privacy_internal._subject_stmts('scrub', c, dc, params) LOOP
        nrows := nrows OPERATOR(pg_catalog.+)
                 privacy_internal._subject_exec(t.tbl, q || ' AND NOT ' || COALESCE(heldcond, 'false'), params);
      END LOOP;
      IF nrows OPERATOR(pg_catalog.>) 0 THEN
        scrubbed := scrubbed OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(c.col, nrows);
        n := n OPERATOR(pg_catalog.+) nrows;
      END IF;
    END LOOP;
    IF n OPERATOR(pg_catalog.>) 0 THEN
      action := 'scrub'; rows := n; kept_until := NULL;
      reason := 'mentioned in other subjects'' rows: ' ||
                (SELECT pg_catalog.string_agg(pg_catalog.quote_ident(k), ', ' ORDER BY k)
                   FROM pg_catalog.jsonb_object_keys(scrubbed) k) || ' set to NULL';
      RETURN NEXT;
    END IF;
  END LOOP;
  PERFORM privacy_internal._subject_set_erasing(false);

  IF holds IS NULL THEN
    n := privacy_internal._subject_forget_consent(ids.kinds, ids.vals);
    IF n IS NOT NULL AND n OPERATOR(pg_catalog.>) 0 THEN
      table_name := pg_catalog.to_regclass('privacy.consent_event');
      action := 'pseudonymize'; rows := n; kept_until := NULL;
      reason := 'proof of consent kept (GDPR Art. 7(1)); the identifier replaced by a keyed reference';
      RETURN NEXT;
    END IF;
  END IF;

  IF kept_any THEN
    IF holds IS NOT NULL THEN
      until := hold_until;
      forever := open_hold;
    ELSE
      until := max_until;
    END IF;
    n := privacy_internal._restrict_ids(ids.kinds, ids.vals, ids.spans,
                               COALESCE('legal hold: ' || holds, 'rows kept after erasure'), 'erasure',
                               CASE WHEN forever THEN NULL ELSE until END);
    table_name := 'privacy.restriction'::regclass;
    action := 'restrict'; rows := n; kept_until := CASE WHEN forever THEN NULL ELSE until END;
    reason := 'the kept rows are restricted: stored, not processed or updated';
    RETURN NEXT;
  END IF;
END
$$;

CREATE FUNCTION privacy.erase_subject(kind text, value text, dry_run boolean DEFAULT false,
                                      at timestamptz DEFAULT NULL)
  RETURNS TABLE(table_name regclass, action text, rows bigint, reason text, kept_until timestamptz)
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  norm   text;
  report jsonb;
  e_state  text;
  e_msg    text;
  e_detail text;
  e_hint   text;
BEGIN
  norm := privacy_internal._identifier_normalize(kind, value);
  IF dry_run IS NULL THEN
    RAISE EXCEPTION 'dry_run must not be null' USING ERRCODE = '22004';
  END IF;
  IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed' THEN
    RAISE EXCEPTION 'erase_subject must run at isolation level READ COMMITTED'
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('The transaction runs at %s; its snapshot could miss rows written concurrently.',
                                       pg_catalog.current_setting('transaction_isolation'));
  END IF;
  IF dry_run THEN
    -- The same work, rolled back: the report is exactly what an erasure
    -- would do now.
    BEGIN
      SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(e)) INTO report
        FROM privacy_internal._subject_erase(kind, value, at) e;
      RAISE EXCEPTION USING ERRCODE = 'P0004', MESSAGE = 'pg_privacy dry run';
    EXCEPTION WHEN assert_failure THEN
      NULL;
    END;
  ELSE
    SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(e)) INTO report
      FROM privacy_internal._subject_erase(kind, value, at) e;
  END IF;
  report := COALESCE(report, '[]');
  PERFORM privacy_internal._audit(CASE WHEN dry_run THEN 'subject.erase_dry_run' ELSE 'subject.erase' END, NULL,
    pg_catalog.jsonb_build_object('kind', kind, 'subject', privacy_internal._audit_ref(kind, norm),
                                  'report', (SELECT COALESCE(pg_catalog.jsonb_agg(e OPERATOR(pg_catalog.-) 'reason'), '[]')
                                               FROM pg_catalog.jsonb_array_elements(report) e)));
  RETURN QUERY
    SELECT (e OPERATOR(pg_catalog.->>) 'table_name')::regclass, e OPERATOR(pg_catalog.->>) 'action',
           (e OPERATOR(pg_catalog.->>) 'rows')::bigint, e OPERATOR(pg_catalog.->>) 'reason',
           (e OPERATOR(pg_catalog.->>) 'kept_until')::timestamptz
      FROM pg_catalog.jsonb_array_elements(report) e;
EXCEPTION WHEN OTHERS THEN
  -- The statement that called this names a person: never logged with an
  -- error (errhidestmt), whatever the error.
  GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_msg = MESSAGE_TEXT,
                          e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
  PERFORM privacy_internal._raise_hidden(e_state, e_msg, NULLIF(e_detail, ''), NULLIF(e_hint, ''));
END
$$;
COMMENT ON FUNCTION privacy.erase_subject(text, text, boolean, timestamptz) IS
  'erase a data subject in one transaction (GDPR Art. 17): delete its rows, keep and restrict rows under a legal minimum or hold (saying why and until when), scrub its mentions in others'' rows, pseudonymize it in the consent history; dry_run reports without changing; audited';
