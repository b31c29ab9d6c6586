-- The purge: retention policies carried out (src/retention.c runs each
-- statement as the table's owner), by hand with privacy.purge() or nightly
-- by pg_cron with CALL privacy.run_purge().
--
-- The purge works in batches (_purge_batch), each one of:
--   - dropping one whole expired partition (range partitions on the time
--     column whose upper bound is at or before the cutoff and which hold no
--     row under a legal hold; never merely detached);
--   - deleting or anonymizing the rows of one key range [lo, hi) of the
--     time column, hi chosen so that the range holds batch_size rows; the
--     next batch starts at hi (keyset), so every row is visited once and
--     rows under a hold are skipped without being visited again.
-- Each batch's statement runs as the table's owner in a security-restricted
-- operation, with a lock_timeout and retries.  Progress (phase, next key,
-- counts) is kept per table in privacy.retention_progress (50_retention.sql)
-- and committed
-- with each batch, so an interrupted run_purge is continued by the next
-- run, and nothing is counted twice.
-- When a table is done, its receipt goes to the audit log: action, rows,
-- partitions, the time window, and no personal data.
--
-- CALL privacy.run_purge() commits after every batch: it is a plain
-- procedure calling entry points per batch, because only such a procedure
-- may commit.  privacy.purge() does the same work in the caller's
-- transaction.
--
-- Failures stay with their table: each batch (run_purge) or each table's
-- whole work (purge()) runs in a subtransaction; a table that fails (its
-- owner's trigger raises, a lock is not granted, a policy no longer fits
-- the table) is left as its last committed batch left it, audited
-- (retention.purge_failed: the table, the SQLSTATE and the message with
-- values masked) and listed in the run's receipt, and the other tables
-- are purged.
--
-- Concurrency: one purge at a time (an advisory lock: run_purge skips when
-- another purge runs, purge() waits); a batch holds a shared lock that
-- privacy.hold() takes exclusively, so a hold is either seen by a batch or
-- placed after it.  Dropping a partition locks the partition, then the
-- default partition, then the parent, each without waiting in a lock
-- queue (_lock_nowait), so the application's writers never queue behind a
-- purge that is itself waiting.

-- Lock relations in ACCESS EXCLUSIVE mode, in the order given, without
-- waiting: 55P03 at the first one another session holds (src/retention.c).
CREATE FUNCTION privacy_internal._lock_nowait(rels regclass[])
  RETURNS void
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_lock_nowait';
COMMENT ON FUNCTION privacy_internal._lock_nowait(regclass[]) IS
  'internal: take ACCESS EXCLUSIVE locks on relations in order without waiting (55P03 when one is taken)';

-- A text value of the time column's type from an instant, in a form every
-- DateStyle reads back the same.
CREATE FUNCTION privacy_internal._retention_literal(ts timestamptz, typ regtype, zone text) RETURNS text
  LANGUAGE plpgsql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF typ OPERATOR(pg_catalog.=) 'timestamptz'::regtype THEN
    RETURN pg_catalog.to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') OPERATOR(pg_catalog.||) 'Z';
  ELSIF typ OPERATOR(pg_catalog.=) 'timestamp'::regtype THEN
    RETURN pg_catalog.to_char(ts AT TIME ZONE zone, 'YYYY-MM-DD"T"HH24:MI:SS.US');
  END IF;
  -- a date: the rows of a day are expired when the whole day is
  RETURN pg_catalog.to_char(ts AT TIME ZONE zone, 'YYYY-MM-DD');
END
$$;

-- A purge on Citus (distributed and reference tables): partitions are
-- dropped and rows deleted or anonymized through Citus's own planning,
-- holds included (their predicate has only IMMUTABLE functions of the row,
-- and its arguments are evaluated on the coordinator); an anonymizing
-- UPDATE generalizes times with IMMUTABLE functions only
-- (privacy_internal._retention_work), and is refused where it would change the
-- distribution column or would have to leave a restricted subject's rows
-- out (privacy_internal._retention_restricted).

-- What a purge of one table needs to know, built from the catalog: the
-- relation to query, the time column, the predicate that leaves rows
-- under a hold alone (with its parameters), and for anonymize the SET list
-- and the predicate of rows not yet anonymized.
CREATE TYPE privacy_internal._retention_work AS (
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

CREATE FUNCTION privacy_internal._retention_work(tbl regclass) RETURNS privacy_internal._retention_work
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  w privacy_internal._retention_work;
  p privacy.retention_policy;
  c record;
  sets text[] := '{}';
  todo text[] := '{}';
  written name[] := '{}';
  notnull_col name;         -- the first column anonymize cannot empty
  notnull_protected boolean;
  expr text;
  citus boolean;
  dcol text;
BEGIN
  -- Fail closed on a table whose protection was switched off: its rows may
  -- hold raw values that the hold predicate would not recognize.
  PERFORM privacy_internal._check_protection(tbl);
  SELECT * INTO p FROM privacy.retention_policy r WHERE r.tbl OPERATOR(pg_catalog.=) _retention_work.tbl;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'table % has no retention policy', tbl
      USING ERRCODE = '55000', HINT = 'Set one with privacy.set_retention().';
  END IF;
  citus := privacy_internal._citus_table(tbl);
  w.policy := p;
  SELECT k.relkind INTO w.relkind FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) tbl;
  w.rel := CASE WHEN w.relkind OPERATOR(pg_catalog.=) 'p' THEN tbl::text ELSE 'ONLY ' || tbl::text END;
  SELECT pg_catalog.quote_ident(a.attname), a.atttypid::regtype INTO w.tcol, w.ttype
    FROM pg_catalog.pg_attribute a
   WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attnum OPERATOR(pg_catalog.=) p.time_attnum
     AND NOT a.attisdropped;
  IF w.tcol IS NULL THEN
    RAISE EXCEPTION 'the time column of the retention policy of % no longer exists', tbl
      USING ERRCODE = '55000', HINT = 'Set the policy again with privacy.set_retention().';
  END IF;
  IF w.ttype NOT IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype) THEN
    RAISE EXCEPTION 'time column % of relation % has type %', w.tcol, tbl, w.ttype
      USING ERRCODE = '42804', HINT = 'The time column must be timestamptz, timestamp or date.';
  END IF;

  -- Holds (privacy_internal._hold_predicate): the predicate's arguments are $3...
  SELECT hp.held, hp.held_args, hp.held_cols INTO w.held, w.held_args, w.held_cols
    FROM privacy_internal._hold_predicate(tbl, NULL, NULL) hp;

  IF p.action OPERATOR(pg_catalog.=) 'anonymize' THEN
    -- the time column and other registered traffic times: generalized
    FOR c IN
      SELECT a.attname, a.atttypid::regtype AS typ
        FROM pg_catalog.pg_attribute a
       WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND NOT a.attisdropped
         AND a.atttypid IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype)
         AND (a.attnum OPERATOR(pg_catalog.=) p.time_attnum
              OR EXISTS (SELECT FROM privacy.registered_column rc
                          WHERE rc.tbl OPERATOR(pg_catalog.=) _retention_work.tbl
                            AND rc.col OPERATOR(pg_catalog.=) a.attname
                            AND rc.category OPERATOR(pg_catalog.=) 'traffic'))
       ORDER BY a.attnum
    LOOP
      -- On a Citus table, the time zone's truncation written with
      -- IMMUTABLE functions only, which Citus runs on the shards (the
      -- same result, but in the hour repeated when summer time ends,
      -- which an 'hour' or 'minute' generalization names by its second
      -- occurrence).
      expr := CASE
        WHEN c.typ OPERATOR(pg_catalog.=) 'timestamptz'::regtype AND citus THEN
          pg_catalog.format('pg_catalog.timezone(%L, pg_catalog.date_trunc(%L, pg_catalog.timezone(%L, %I)))',
                            p.time_zone, p.generalize, p.time_zone, c.attname)
        WHEN c.typ OPERATOR(pg_catalog.=) 'timestamptz'::regtype THEN
          pg_catalog.format('pg_catalog.date_trunc(%L, %I, %L)', p.generalize, c.attname, p.time_zone)
        WHEN c.typ OPERATOR(pg_catalog.=) 'timestamp'::regtype THEN
          pg_catalog.format('pg_catalog.date_trunc(%L, %I)', p.generalize, c.attname)
        ELSE pg_catalog.format('pg_catalog.date_trunc(%L, %I::pg_catalog.timestamp)::pg_catalog.date', p.generalize, c.attname) END;
      sets := sets || pg_catalog.format('%I = %s', c.attname, expr);
      written := written || c.attname;
      todo := todo || pg_catalog.format('%I OPERATOR(pg_catalog.<>) %s', c.attname, expr);
    END LOOP;
    -- every other registered column, unless it is a traffic or location fact
    FOR c IN
      SELECT rc.col, a.attnotnull, a.atttypid, rc.protect
        FROM privacy.registered_column rc
        JOIN pg_catalog.pg_attribute a
          ON a.attrelid OPERATOR(pg_catalog.=) rc.tbl AND a.attname OPERATOR(pg_catalog.=) rc.col
         AND NOT a.attisdropped
       WHERE rc.tbl OPERATOR(pg_catalog.=) _retention_work.tbl
         AND a.attnum OPERATOR(pg_catalog.<>) p.time_attnum
         AND (rc.identifies IS NOT NULL OR rc.category NOT IN ('traffic', 'location'))
       ORDER BY a.attnum
    LOOP
      written := written || c.col;
      IF NOT c.attnotnull THEN
        sets := sets || pg_catalog.format('%I = NULL', c.col);
        todo := todo || pg_catalog.format('%I IS NOT NULL', c.col);
      ELSIF c.protect IS NULL
            AND c.atttypid IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype) THEN
        sets := sets || pg_catalog.format('%I = %L', c.col, '');
        todo := todo || pg_catalog.format('%I OPERATOR(pg_catalog.<>) %L', c.col, '');
      ELSIF notnull_col IS NULL THEN
        notnull_col := c.col;   -- refused below
        notnull_protected := c.protect IS NOT NULL;
      END IF;
    END LOOP;
    -- Citus routes each row by its distribution column and changes it in
    -- no UPDATE
    dcol := CASE WHEN citus THEN privacy_internal._citus_dist_column(tbl) END;
    IF dcol OPERATOR(pg_catalog.=) ANY (written) THEN
      RAISE EXCEPTION 'retention action "anonymize" would change column "%" of %, its distribution column', dcol, tbl
        USING ERRCODE = '0A000',
              DETAIL = 'Citus places each row by its distribution column, and an UPDATE cannot change it; anonymizing empties personal columns and generalizes times.',
              HINT = 'Use action ''delete'', or distribute the table by a column that holds no personal data and no time.';
    END IF;
    IF notnull_col IS NOT NULL THEN
      RAISE EXCEPTION 'column "%" of relation % is NOT NULL and cannot be anonymized', notnull_col, tbl
        USING ERRCODE = '55000',
              DETAIL = CASE WHEN notnull_protected
                            THEN 'Its protect transformation applies to any value but NULL, so only NULL hides it.'
                            ELSE 'Only NULL (or an empty text) carries no personal data.' END,
              HINT = pg_catalog.format('Allow NULL in it (ALTER TABLE %s ALTER COLUMN %I DROP NOT NULL) or use action ''delete''.',
                                       tbl, notnull_col);
    END IF;
    w.set_list := pg_catalog.array_to_string(sets, ', ');
    w.todo := '(' || pg_catalog.array_to_string(todo, ' OR ') || ')';
  END IF;
  RETURN w;
END
$$;
COMMENT ON FUNCTION privacy_internal._retention_work(regclass) IS
  'internal: the relation, time column, hold predicate and anonymization of one table''s purge';

-- The WHERE clause of a batch: [lo <= t] and t < hi ($1), not held,
-- not anonymized yet.  $2 is lo.
CREATE FUNCTION privacy_internal._retention_where(w privacy_internal._retention_work, with_lo boolean) RETURNS text
  LANGUAGE plpgsql IMMUTABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN pg_catalog.concat_ws(' AND ',
    CASE WHEN with_lo THEN pg_catalog.format('%s OPERATOR(pg_catalog.>=) $2::%s', w.tcol, w.ttype) END,
    pg_catalog.format('%s OPERATOR(pg_catalog.<) $1::%s', w.tcol, w.ttype),
    CASE WHEN w.held IS NOT NULL THEN 'NOT ' OPERATOR(pg_catalog.||) w.held END,
    w.todo);
END
$$;

-- Rows of restricted data subjects (GDPR Art. 18, privacy.restrict_subject)
-- are left as they are by an anonymizing purge: restriction allows storing
-- them, not changing them (privacy_internal._restrict_trigger refuses the UPDATE).
-- Returns the predicate that leaves them out of the rows `wh` selects (with
-- the parameters args), and its parameters to append; NULL when no active
-- restriction concerns the table.  The owner identifiers of those rows are
-- read as the table's owner; which of them are restricted is decided here,
-- by the restriction trigger's own match (keyed reference, and the period
-- for which the identifier was the subject's).
-- The number a value stored by msisdn_fpe stands for, to be matched
-- against restrictions: '' when it cannot be read back (not a pseudonym of
-- that domain).
CREATE FUNCTION privacy_internal._retention_fpe_norm(val text, domain text) RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN COALESCE(privacy_internal._msisdn_decrypt(val, domain), '');
EXCEPTION WHEN data_exception THEN
  RETURN '';
END
$$;
COMMENT ON FUNCTION privacy_internal._retention_fpe_norm(text, text) IS
  'internal: the number an msisdn_fpe stored value holds, empty when it cannot be read back';

-- The same under an older key still listed (a relation pending under it:
-- src/sql/36_rekey.sql); 55000 when it is not listed.
CREATE FUNCTION privacy_internal._retention_fpe_norm_under(fingerprint text, val text, domain text) RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN COALESCE(privacy_internal._msisdn_under(fingerprint, val, domain, true), '');
EXCEPTION WHEN data_exception THEN
  RETURN '';
END
$$;
COMMENT ON FUNCTION privacy_internal._retention_fpe_norm_under(text, text, text) IS
  'internal: the number an msisdn_fpe stored value holds under an older key, empty when it cannot be read back';

CREATE FUNCTION privacy_internal._retention_restricted(w privacy_internal._retention_work, wh text, args text[],
                                             lock_timeout_ms integer,
                                             OUT pred text, OUT pargs text[])
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  dc text := privacy_internal._default_country();
  c record;
  raw text;
  vals text[];
  rvals text[];
  rspans tstzmultirange[];
  keys text[];
  pend text[];
  rel text := (w.policy).tbl::text;     -- qualifies the outer row below
  conds text[] := '{}';
  n integer := pg_catalog.cardinality(args);
BEGIN
  pargs := '{}';
  IF (w.policy).action OPERATOR(pg_catalog.<>) 'anonymize'
     OR NOT EXISTS (SELECT FROM privacy.restriction r
                     WHERE r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()) THEN
    RETURN;
  END IF;
  -- the keys the restrictions in force were made with, read once
  keys := privacy_internal._restriction_keys();
  pend := privacy_internal._rekey_keys((w.policy).tbl);
  FOR c IN SELECT * FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc
            WHERE sc.tbl OPERATOR(pg_catalog.=) (w.policy).tbl AND sc.link OPERATOR(pg_catalog.=) 'owner'
              AND (sc.protect IS NULL OR sc.protect OPERATOR(pg_catalog.=) 'msisdn_fpe')
            ORDER BY sc.attnum LOOP
    CONTINUE WHEN NOT EXISTS (SELECT FROM privacy.restriction r
                               WHERE r.kind OPERATOR(pg_catalog.=) c.kind
                                 AND (r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()));
    raw := privacy_internal._owner_query((w.policy).tbl,
             pg_catalog.format('SELECT pg_catalog.array_agg(DISTINCT %I::pg_catalog.text) FROM %s WHERE %s AND %I IS NOT NULL',
                               c.col, w.rel, wh, c.col),
             args, lock_timeout_ms);
    CONTINUE WHEN raw IS NULL;
    vals := raw::text[];
    -- (a stored value that cannot be read back, which the trigger would
    -- refuse as well, is left alone as if restricted)
    -- A stored number read back under the current key and, while
    -- relations of the table are pending under an older key
    -- (src/sql/36_rekey.sql), under that key too: a restricted subject's
    -- row is left out whichever key it is under.
    WITH v AS (
      SELECT u.val,
             CASE WHEN c.protect IS NOT NULL THEN privacy_internal._retention_fpe_norm(u.val, c.domain)
                  ELSE privacy.lookup_value(c.mode, u.val, dc) END AS norm
        FROM pg_catalog.unnest(vals) u(val)
      UNION
      SELECT u.val, privacy_internal._retention_fpe_norm_under(k, u.val, c.domain)
        FROM pg_catalog.unnest(vals) u(val), pg_catalog.unnest(pend) k
       WHERE c.protect IS NOT NULL)
    SELECT pg_catalog.array_agg(x.val ORDER BY x.val), pg_catalog.array_agg(x.span ORDER BY x.val)
      INTO rvals, rspans
      FROM (SELECT v.val, r.span
              FROM v CROSS JOIN pg_catalog.unnest(keys) k(fp)
              JOIN privacy.restriction r
                ON r.kind OPERATOR(pg_catalog.=) c.kind
               AND r.subject_ref OPERATOR(pg_catalog.=) privacy_internal._audit_ref_under(k.fp, c.kind, v.norm)
             WHERE r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()
            UNION ALL
            SELECT v.val, '{(,)}'::pg_catalog.tstzmultirange FROM v WHERE v.norm OPERATOR(pg_catalog.=) '') x;
    CONTINUE WHEN rvals IS NULL;
    pargs := pargs || rvals::text || rspans::text;
    conds := conds || pg_catalog.format(
      'NOT EXISTS (SELECT FROM ROWS FROM (pg_catalog.unnest($%s::pg_catalog.text[]), pg_catalog.unnest($%s::pg_catalog.tstzmultirange[])) AS pgp_r(pgp_v, pgp_s) '
      'WHERE %s.%I::pg_catalog.text OPERATOR(pg_catalog.=) pgp_r.pgp_v%s)',
      n OPERATOR(pg_catalog.+) pg_catalog.cardinality(pargs) OPERATOR(pg_catalog.-) 1,
      n OPERATOR(pg_catalog.+) pg_catalog.cardinality(pargs),
      rel, c.col,
      CASE WHEN c.is_validity THEN
             pg_catalog.format(' AND pgp_r.pgp_s OPERATOR(pg_catalog.&&) pg_catalog.tstzrange(%s, %s, ''[)'')',
                               COALESCE(rel || '.' || pg_catalog.quote_ident(c.valid_from) || '::pg_catalog.timestamptz', 'NULL'),
                               COALESCE(rel || '.' || pg_catalog.quote_ident(c.valid_to) || '::pg_catalog.timestamptz', 'NULL'))
           WHEN c.event_time IS NOT NULL THEN
             pg_catalog.format(' AND (pgp_r.pgp_s OPERATOR(pg_catalog.=) ''{(,)}'' OR pgp_r.pgp_s OPERATOR(pg_catalog.@>) %s.%I::pg_catalog.timestamptz)',
                               rel, c.event_time)
           ELSE '' END);
  END LOOP;
  IF pg_catalog.cardinality(conds) OPERATOR(pg_catalog.>) 0 AND privacy_internal._citus_table((w.policy).tbl) THEN
    RAISE EXCEPTION 'the expired rows of % cannot be anonymized while a data subject of its rows is restricted', (w.policy).tbl
      USING ERRCODE = '0A000',
            DETAIL = 'Citus manages the table: the anonymizing UPDATE cannot leave the restricted subjects'' rows out on its shards.',
            HINT = 'The purge anonymizes the table once the restrictions end (privacy.unrestrict_subject), or use action ''delete''.';
  END IF;
  IF pg_catalog.cardinality(conds) OPERATOR(pg_catalog.>) 0 THEN
    pred := pg_catalog.array_to_string(conds, ' AND ');
  END IF;
END
$$;
COMMENT ON FUNCTION privacy_internal._retention_restricted(privacy_internal._retention_work, text, text[], integer) IS
  'internal: the predicate that leaves rows of restricted data subjects out of an anonymizing purge batch';

-- Whole partitions that a purge of tbl drops: leaves range-partitioned on
-- the time column alone, whose upper bound is at or before the cutoff (so
-- every row they can hold is expired).  Rows under a hold are checked by
-- the caller.
CREATE FUNCTION privacy_internal._retention_expired_partitions(w privacy_internal._retention_work, cutoff timestamptz)
  RETURNS TABLE(leaf regclass, upper_bound timestamptz)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET datestyle = 'ISO, YMD'
AS $$
DECLARE
  r record;
  bound text;
  ub timestamptz;
BEGIN
  IF w.relkind OPERATOR(pg_catalog.<>) 'p' THEN
    RETURN;
  END IF;
  FOR r IN
    SELECT t.relid AS leaf, t.parentrelid AS parent,
           pg_catalog.pg_get_expr(c.relpartbound, c.oid) AS spec
      FROM pg_catalog.pg_partition_tree((w.policy).tbl) t
      JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.relid
      JOIN pg_catalog.pg_partitioned_table pt ON pt.partrelid OPERATOR(pg_catalog.=) t.parentrelid
      JOIN pg_catalog.pg_attribute a ON a.attrelid OPERATOR(pg_catalog.=) t.parentrelid
                                    AND a.attnum OPERATOR(pg_catalog.=) pt.partattrs[0]
     WHERE t.isleaf AND c.relkind OPERATOR(pg_catalog.=) 'r'
       AND pt.partstrat OPERATOR(pg_catalog.=) 'r' AND pt.partnatts OPERATOR(pg_catalog.=) 1
       AND a.attname OPERATOR(pg_catalog.=) (w.policy).time_column
  LOOP
    bound := pg_catalog.substring(r.spec, '\) TO \((.*)\)$');
    CONTINUE WHEN bound IS NULL OR bound !~ '^''.*''$';     -- MAXVALUE
    bound := pg_catalog.replace(pg_catalog.substr(bound, 2, pg_catalog.length(bound) OPERATOR(pg_catalog.-) 2), '''''', '''');
    ub := CASE w.ttype
            WHEN 'timestamptz'::regtype THEN bound::timestamptz
            WHEN 'timestamp'::regtype THEN bound::timestamp AT TIME ZONE (w.policy).time_zone
            ELSE bound::date::timestamp AT TIME ZONE (w.policy).time_zone END;
    -- for a date column a row's whole day must be expired: compare dates
    IF (w.ttype OPERATOR(pg_catalog.=) 'date'::regtype
        AND bound::date OPERATOR(pg_catalog.<=) privacy_internal._retention_literal(cutoff, w.ttype, (w.policy).time_zone)::date)
       OR (w.ttype OPERATOR(pg_catalog.<>) 'date'::regtype AND ub OPERATOR(pg_catalog.<=) cutoff) THEN
      leaf := r.leaf;
      upper_bound := ub;
      RETURN NEXT;
    END IF;
  END LOOP;
END
$$;

-- Raise 42501 unless the invoking role may run purges.
CREATE FUNCTION privacy_internal._check_purge_privilege() RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT (pg_catalog.has_function_privilege(privacy_internal._invoker(), 'privacy.purge(boolean, regclass, integer, integer)', 'EXECUTE')
          OR pg_catalog.has_function_privilege(privacy_internal._invoker(), 'privacy.run_purge(integer, integer, integer)', 'EXECUTE')) THEN
    RAISE EXCEPTION 'permission denied to purge'
      USING ERRCODE = '42501',
            HINT = 'Grant EXECUTE on privacy.purge() or privacy.run_purge() to this role.';
  END IF;
END
$$;

------------------------------------------------------------------------
-- The purge
------------------------------------------------------------------------

-- One batch of the purge of one table.  Returns done when the table is
-- finished (its receipt is then in the audit log), with the totals of its
-- pass so far.
CREATE FUNCTION privacy_internal._purge_batch(tbl regclass, run_id bigint, batch_size integer,
                                     lock_timeout_ms integer, retries integer,
                                     OUT done boolean, OUT action text,
                                     OUT rows bigint, OUT partitions integer)
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET jit = off
  SET pg_privacy.definer = 'api'
  SET datestyle = 'ISO, YMD'
AS $$
DECLARE
  w privacy_internal._retention_work;
  g privacy.retention_progress;
  cutoff timestamptz;
  cut text;
  hi text;
  n bigint := 0;
  leaf regclass;
  leafname text;
  dropped_one boolean;
  pend oid[];
  i integer;
  est bigint;
  attempt integer;
  wh text;
  q text;
  args text[];
  parent regclass;
  r record;
BEGIN
  PERFORM privacy_internal._check_purge_privilege();
  -- A hold placed from now on waits for this batch; one placed before is seen.
  PERFORM pg_catalog.pg_advisory_xact_lock_shared(1885827186, privacy_internal._lock_key('hold'));
  IF NOT EXISTS (SELECT FROM privacy.retention_policy p WHERE p.tbl OPERATOR(pg_catalog.=) _purge_batch.tbl) THEN
    -- the policy (or the table) went away since the run started
    done := true;
    RETURN;
  END IF;
  w := privacy_internal._retention_work(tbl);
  action := (w.policy).action;

  SELECT * INTO g FROM privacy.retention_progress p WHERE p.tbl OPERATOR(pg_catalog.=) _purge_batch.tbl FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO privacy.retention_progress AS p (tbl, run_id, first_run_id, started_at, cutoff, phase)
         VALUES (tbl, run_id, run_id, pg_catalog.now(), privacy_internal._retention_cutoff(w.policy, pg_catalog.now()),
                 CASE WHEN w.relkind OPERATOR(pg_catalog.=) 'p' AND (w.policy).action OPERATOR(pg_catalog.=) 'delete'
                      THEN 'partitions' ELSE 'rows' END)
      RETURNING * INTO g;
  ELSIF g.run_id OPERATOR(pg_catalog.<>) run_id THEN
    -- continuing an interrupted run: the cutoff as of now
    UPDATE privacy.retention_progress p
       SET run_id = _purge_batch.run_id, runs = p.runs OPERATOR(pg_catalog.+) 1,
           cutoff = privacy_internal._retention_cutoff(w.policy, pg_catalog.now())
     WHERE p.tbl OPERATOR(pg_catalog.=) _purge_batch.tbl
      RETURNING * INTO g;
  END IF;
  cutoff := g.cutoff;

  -- In one transaction (purge()), a partition dropped before holds the
  -- parent's ACCESS EXCLUSIVE lock until the end: every writer of the
  -- table waits for as long as this transaction does.  Then no lock is
  -- waited for any more: the first one not granted fails the table, and
  -- its work is undone (releasing the parent) instead.
  IF EXISTS (SELECT FROM pg_catalog.pg_locks l
              WHERE l.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()
                AND l.locktype OPERATOR(pg_catalog.=) 'relation'
                AND l.mode OPERATOR(pg_catalog.=) 'AccessExclusiveLock' AND l.granted
                AND l.database OPERATOR(pg_catalog.=) (SELECT d.oid FROM pg_catalog.pg_database d
                                                        WHERE d.datname OPERATOR(pg_catalog.=) pg_catalog.current_database())
                AND l.relation IN (SELECT t.relid FROM pg_catalog.pg_partition_tree(tbl) t WHERE NOT t.isleaf)) THEN
    lock_timeout_ms := 1;
    retries := 0;
  END IF;

  IF g.phase OPERATOR(pg_catalog.=) 'partitions' THEN
    -- the expired partitions, listed once per pass, oldest first; each
    -- batch drops the next one that holds no row under a hold
    pend := g.pending;
    IF pend IS NULL THEN
      pend := ARRAY(SELECT e.leaf::oid FROM privacy_internal._retention_expired_partitions(w, cutoff) e
                     ORDER BY e.upper_bound, e.leaf::text);
    END IF;
    i := 1;
    WHILE i OPERATOR(pg_catalog.<=) pg_catalog.cardinality(pend) LOOP
      SELECT c.oid::regclass, GREATEST(c.reltuples, 0)::bigint INTO leaf, est
        FROM pg_catalog.pg_class c WHERE c.oid OPERATOR(pg_catalog.=) pend[i];
      i := i OPERATOR(pg_catalog.+) 1;
      CONTINUE WHEN leaf IS NULL;   -- dropped meanwhile
      leafname := leaf::text;       -- the name, before the oid is gone
      dropped_one := false;
      attempt := 0;
      LOOP
        -- Dropping a partition takes ACCESS EXCLUSIVE on it, on its parent
        -- and on the parent's default partition.  Every INSERT into the
        -- table queues behind a lock request on the parent, so the parent
        -- is locked last, only once the partition (and the default) are
        -- held, and never waited for: each lock is tried without waiting,
        -- and a failed try gives back all of them (the subtransaction
        -- ends), sleeps, and tries again.
        BEGIN
          PERFORM privacy_internal._lock_nowait(ARRAY[leaf]);
          IF w.held IS NULL
             OR privacy_internal._owner_query(leaf, pg_catalog.format('SELECT EXISTS (SELECT 1 FROM ONLY %s WHERE %s LIMIT 1)', leafname, w.held),
                                     ARRAY[NULL, NULL]::text[] || w.held_args, lock_timeout_ms)::boolean IS FALSE THEN
            SELECT i.inhparent::regclass INTO parent FROM pg_catalog.pg_inherits i
             WHERE i.inhrelid OPERATOR(pg_catalog.=) leaf;
            PERFORM privacy_internal._lock_nowait(ARRAY(
              SELECT d.partdefid::regclass FROM pg_catalog.pg_partitioned_table d
               WHERE d.partrelid OPERATOR(pg_catalog.=) parent
                 AND d.partdefid OPERATOR(pg_catalog.<>) 0 AND d.partdefid OPERATOR(pg_catalog.<>) leaf
              UNION ALL SELECT parent WHERE parent IS NOT NULL));
            PERFORM privacy_internal._owner_exec(leaf, pg_catalog.format('DROP TABLE %s', leafname), '{}', lock_timeout_ms);
            dropped_one := true;
          END IF;
          EXIT;
        EXCEPTION WHEN lock_not_available THEN
          attempt := attempt OPERATOR(pg_catalog.+) 1;
          IF attempt OPERATOR(pg_catalog.>) retries THEN
            RAISE EXCEPTION 'could not lock partition % to drop it', leafname
              USING ERRCODE = '55P03',
                    DETAIL = pg_catalog.format('Gave up after %s attempts with lock_timeout %s ms.', attempt, lock_timeout_ms),
                    HINT = 'The next run tries again; the purge continues where it stopped.';
          END IF;
          PERFORM pg_catalog.pg_sleep(lock_timeout_ms OPERATOR(pg_catalog./) 1000.0);
        END;
      END LOOP;
      IF dropped_one THEN
        UPDATE privacy.retention_progress p
           SET partitions = p.partitions OPERATOR(pg_catalog.+) 1,
               dropped = p.dropped OPERATOR(pg_catalog.||) leafname,
               dropped_rows_estimate = p.dropped_rows_estimate OPERATOR(pg_catalog.+) est,
               pending = pend[i:],
               batches = p.batches OPERATOR(pg_catalog.+) 1
         WHERE p.tbl OPERATOR(pg_catalog.=) _purge_batch.tbl
          RETURNING * INTO g;
        done := false;
        rows := g.rows;
        partitions := g.partitions;
        RETURN;
      END IF;
      -- it holds a row under a hold: its other rows go by rows below
    END LOOP;
    UPDATE privacy.retention_progress p SET phase = 'rows', pending = '{}'
     WHERE p.tbl OPERATOR(pg_catalog.=) _purge_batch.tbl
      RETURNING * INTO g;
  END IF;

  -- Rows: the key range [next_from, hi) holding batch_size rows to purge.
  cut := privacy_internal._retention_literal(cutoff, w.ttype, (w.policy).time_zone);
  args := ARRAY[cut, g.next_from] OPERATOR(pg_catalog.||) w.held_args;
  wh := privacy_internal._retention_where(w, g.next_from IS NOT NULL);
  IF (w.policy).action OPERATOR(pg_catalog.=) 'delete' THEN
    q := pg_catalog.format('DELETE FROM %s WHERE %s', w.rel, wh);
  ELSE
    q := pg_catalog.format('UPDATE %s SET %s WHERE %s', w.rel, w.set_list, wh);
  END IF;
  attempt := 0;
  LOOP
    BEGIN
      args[1] := cut;
      hi := privacy_internal._owner_query(tbl,
              pg_catalog.format('SELECT %s FROM %s WHERE %s ORDER BY %s OFFSET %s LIMIT 1',
                                w.tcol, w.rel, wh, w.tcol, batch_size), args, lock_timeout_ms);
      IF hi IS NOT NULL AND hi OPERATOR(pg_catalog.=) g.next_from THEN
        -- batch_size rows or more share one time: take them all
        hi := privacy_internal._owner_query(tbl,
                pg_catalog.format('SELECT pg_catalog.min(%s) FROM %s WHERE %s AND %s OPERATOR(pg_catalog.>) $2::%s',
                                  w.tcol, w.rel, wh, w.tcol, w.ttype), args, lock_timeout_ms);
      END IF;
      args[1] := COALESCE(hi, cut);
      -- anonymize: the rows of restricted subjects stay as they are
      r := privacy_internal._retention_restricted(w, wh, args, lock_timeout_ms);
      IF r.pred IS NULL THEN
        n := privacy_internal._owner_exec(tbl, q, args, lock_timeout_ms);
      ELSE
        n := privacy_internal._owner_exec(tbl, q || ' AND ' || r.pred, args || r.pargs, lock_timeout_ms);
      END IF;
      EXIT;
    EXCEPTION WHEN lock_not_available THEN
      attempt := attempt OPERATOR(pg_catalog.+) 1;
      IF attempt OPERATOR(pg_catalog.>) retries THEN
        RAISE EXCEPTION 'could not lock rows of % to purge them', tbl
          USING ERRCODE = '55P03',
                DETAIL = pg_catalog.format('Gave up after %s attempts with lock_timeout %s ms.', attempt, lock_timeout_ms),
                HINT = 'The next run tries again; the purge continues where it stopped.';
      END IF;
      PERFORM pg_catalog.pg_sleep(0.05 OPERATOR(pg_catalog.*) attempt);
    END;
  END LOOP;
  UPDATE privacy.retention_progress p
     SET rows = p.rows OPERATOR(pg_catalog.+) n, next_from = hi,
         batches = p.batches OPERATOR(pg_catalog.+) 1
   WHERE p.tbl OPERATOR(pg_catalog.=) _purge_batch.tbl
    RETURNING * INTO g;
  rows := g.rows;
  partitions := g.partitions;
  done := hi IS NULL;
  IF done THEN
    -- the receipt: no personal data, only what was done to which table
    PERFORM privacy_internal._audit('retention.purge', tbl::text,
      pg_catalog.jsonb_build_object(
        'run', g.first_run_id, 'action', (w.policy).action,
        'rows', g.rows, 'partitions', g.partitions,
        'dropped', pg_catalog.to_jsonb(g.dropped),
        'dropped_rows_estimate', g.dropped_rows_estimate,
        'expired_before', g.cutoff,
        'policy', privacy_internal._retention_text(w.policy),
        'held_columns', w.held_cols,
        'started_at', g.started_at, 'finished_at', pg_catalog.clock_timestamp(),
        'batches', g.batches, 'runs', g.runs));
    DELETE FROM privacy.retention_progress p WHERE p.tbl OPERATOR(pg_catalog.=) _purge_batch.tbl;
  END IF;
END
$$;
COMMENT ON FUNCTION privacy_internal._purge_batch(regclass, bigint, integer, integer, integer) IS
  'internal: one batch of a table''s purge (drop one expired partition, or purge one key range of rows), as the table owner';

-- What a purge of one table would do now: the expired partitions it
-- would drop and the rows it would delete or anonymize, counted with the
-- same predicates (a dry run).
CREATE FUNCTION privacy_internal._purge_preview(tbl regclass,
                                       OUT action text, OUT rows bigint, OUT partitions integer)
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET jit = off
  SET pg_privacy.definer = 'api'
  SET datestyle = 'ISO, YMD'
AS $$
DECLARE
  w privacy_internal._retention_work;
  g privacy.retention_progress;
  cutoff timestamptz;
  leaf regclass;
  dropped oid[] := '{}';
  args text[];
  wh text;
  r record;
BEGIN
  PERFORM privacy_internal._check_purge_privilege();
  w := privacy_internal._retention_work(tbl);
  action := (w.policy).action;
  partitions := 0;
  SELECT * INTO g FROM privacy.retention_progress p WHERE p.tbl OPERATOR(pg_catalog.=) _purge_preview.tbl;
  cutoff := privacy_internal._retention_cutoff(w.policy, pg_catalog.now());
  IF w.relkind OPERATOR(pg_catalog.=) 'p' AND (w.policy).action OPERATOR(pg_catalog.=) 'delete'
     AND (g.tbl IS NULL OR g.phase OPERATOR(pg_catalog.=) 'partitions') THEN
    FOR leaf IN
      SELECT c.oid::regclass FROM pg_catalog.pg_class c
       WHERE g.pending IS NOT NULL AND c.oid OPERATOR(pg_catalog.=) ANY (g.pending)
      UNION ALL
      SELECT e.leaf FROM privacy_internal._retention_expired_partitions(w, cutoff) e WHERE g.pending IS NULL
    LOOP
      IF w.held IS NULL
         OR privacy_internal._owner_query(leaf, pg_catalog.format('SELECT EXISTS (SELECT 1 FROM ONLY %s WHERE %s LIMIT 1)', leaf, w.held),
                                 ARRAY[NULL, NULL]::text[] || w.held_args)::boolean IS FALSE THEN
        partitions := partitions OPERATOR(pg_catalog.+) 1;
        dropped := dropped OPERATOR(pg_catalog.||) leaf::oid;
      END IF;
    END LOOP;
  END IF;
  args := ARRAY[privacy_internal._retention_literal(cutoff, w.ttype, (w.policy).time_zone), g.next_from]
          OPERATOR(pg_catalog.||) w.held_args;
  wh := privacy_internal._retention_where(w, g.next_from IS NOT NULL);
  IF privacy_internal._citus_table(tbl) THEN
    -- On Citus a row's tableoid is its shard's: the rows of the partitions
    -- dropped are counted apart and taken off (only a purge that deletes
    -- drops partitions, and those hold no row under a hold)
    rows := privacy_internal._owner_query(tbl, pg_catalog.format('SELECT pg_catalog.count(*) FROM %s WHERE %s', w.rel, wh), args)::bigint;
    FOREACH leaf IN ARRAY dropped::regclass[] LOOP
      rows := rows OPERATOR(pg_catalog.-)
              privacy_internal._owner_query(leaf, pg_catalog.format('SELECT pg_catalog.count(*) FROM ONLY %s WHERE %s', leaf, wh), args)::bigint;
    END LOOP;
    -- (an anonymizing purge refuses there while a subject of its rows is
    -- restricted: so does its dry run)
    PERFORM privacy_internal._retention_restricted(w, wh, args, 0);
    RETURN;
  END IF;
  args := args OPERATOR(pg_catalog.||) dropped::text;
  wh := wh || pg_catalog.format(' AND tableoid OPERATOR(pg_catalog.<>) ALL ($%s::pg_catalog.oid[])', pg_catalog.cardinality(args));
  r := privacy_internal._retention_restricted(w, wh, args, 0);
  IF r.pred IS NOT NULL THEN
    wh := wh || ' AND ' || r.pred;
    args := args || r.pargs;
  END IF;
  rows := privacy_internal._owner_query(tbl, pg_catalog.format('SELECT pg_catalog.count(*) FROM %s WHERE %s', w.rel, wh), args)::bigint;
END
$$;
COMMENT ON FUNCTION privacy_internal._purge_preview(regclass) IS
  'internal: what a purge of the table would do now (dry run)';

CREATE FUNCTION privacy.purge(dry_run boolean DEFAULT false, tbl regclass DEFAULT NULL,
                              lock_timeout_ms integer DEFAULT 1000, retries integer DEFAULT 5)
  RETURNS TABLE(table_name regclass, action text, rows bigint, partitions integer)
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET jit = off
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  tables regclass[];
  t regclass;
  b record;
  run bigint;
  total_rows bigint := 0;
  total_parts integer := 0;
  failed jsonb := '[]';
  f jsonb;
  st text;
  msg text;
BEGIN
  IF dry_run IS NULL THEN
    RAISE EXCEPTION 'dry_run must not be null' USING ERRCODE = '22004';
  END IF;
  IF lock_timeout_ms IS NULL OR lock_timeout_ms OPERATOR(pg_catalog.<) 1
     OR retries IS NULL OR retries OPERATOR(pg_catalog.<) 0 THEN
    RAISE EXCEPTION 'invalid lock_timeout_ms % or retries %', lock_timeout_ms, retries
      USING ERRCODE = '22023', HINT = 'lock_timeout_ms must be at least 1, retries at least 0.';
  END IF;
  PERFORM privacy_internal._check_purge_privilege();
  IF tbl IS NOT NULL
     AND NOT EXISTS (SELECT FROM privacy.retention_policy p WHERE p.tbl OPERATOR(pg_catalog.=) purge.tbl) THEN
    RAISE EXCEPTION 'table % has no retention policy', tbl
      USING ERRCODE = '55000', HINT = 'Set one with privacy.set_retention().';
  END IF;
  tables := ARRAY(SELECT p.tbl FROM privacy.retention_policy p
                   WHERE purge.tbl IS NULL OR p.tbl OPERATOR(pg_catalog.=) purge.tbl
                   ORDER BY p.tbl::text);
  IF pg_catalog.cardinality(tables) OPERATOR(pg_catalog.=) 0 THEN
    RAISE NOTICE 'nothing to purge: no table has a retention policy'
      USING HINT = 'Set one with privacy.set_retention(table, time_column, keep), for example privacy.set_retention(''app.cdr'', ''started_at'', ''6 months'').';
  END IF;
  IF dry_run THEN
    FOREACH t IN ARRAY tables LOOP
      BEGIN
        SELECT * INTO b FROM privacy_internal._purge_preview(t);
        table_name := t; action := b.action; rows := b.rows; partitions := b.partitions;
      EXCEPTION
        WHEN query_canceled THEN
          RAISE;
        WHEN OTHERS THEN
          GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
          f := privacy_internal._purge_error(st, msg);
          RAISE WARNING 'purge of % would fail: %', t, f OPERATOR(pg_catalog.->>) 'message'
            USING DETAIL = pg_catalog.format('SQLSTATE %s.', st);
          table_name := t; action := 'failed'; rows := NULL; partitions := NULL;
      END;
      RETURN NEXT;
    END LOOP;
    RETURN;
  END IF;

  -- A batch must see holds placed while the purge runs: READ COMMITTED.
  IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed' THEN
    RAISE EXCEPTION 'purge must run at isolation level READ COMMITTED'
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('The transaction runs at %s; a snapshot taken earlier would not see a legal hold placed meanwhile.',
                                       pg_catalog.upper(pg_catalog.current_setting('transaction_isolation'))),
            HINT = 'Run it in a READ COMMITTED transaction, or use a dry run.';
  END IF;
  -- One purge at a time: wait for one in progress.
  PERFORM pg_catalog.pg_advisory_xact_lock(1885827186, privacy_internal._lock_key('purge'));
  run := pg_catalog.nextval('privacy.retention_run_seq');
  FOREACH t IN ARRAY tables LOOP
    -- Each table in a subtransaction of its own: a table that fails (its
    -- owner's trigger raises, a partition stays locked, its protection is
    -- not in force) is left as it was, reported and audited, and the
    -- other tables are purged.
    BEGIN
      LOOP
        SELECT * INTO b FROM privacy_internal._purge_batch(t, run, 10000, lock_timeout_ms, retries);
        EXIT WHEN b.done;
      END LOOP;
    EXCEPTION
      WHEN query_canceled THEN
        RAISE;
      WHEN OTHERS THEN
        GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
        f := pg_catalog.jsonb_build_object('table', t::text) OPERATOR(pg_catalog.||) privacy_internal._purge_error(st, msg);
        failed := failed OPERATOR(pg_catalog.||) f;
        PERFORM privacy_internal._audit('retention.purge_failed', t::text,
                               pg_catalog.jsonb_build_object('run', run, 'via', 'purge',
                                                             'sqlstate', f OPERATOR(pg_catalog.->>) 'sqlstate',
                                                             'message', f OPERATOR(pg_catalog.->>) 'message'));
        RAISE WARNING 'purge of % failed: %', t, f OPERATOR(pg_catalog.->>) 'message'
          USING DETAIL = pg_catalog.format('SQLSTATE %s. Nothing of this table was purged; the other tables were.', st);
        table_name := t; action := 'failed'; rows := NULL; partitions := NULL;
        RETURN NEXT;
        CONTINUE;
    END;
    CONTINUE WHEN b.action IS NULL;     -- its policy was dropped meanwhile
    table_name := t; action := b.action; rows := b.rows; partitions := b.partitions;
    total_rows := total_rows OPERATOR(pg_catalog.+) b.rows;
    total_parts := total_parts OPERATOR(pg_catalog.+) b.partitions;
    RETURN NEXT;
  END LOOP;
  PERFORM privacy_internal._audit('retention.run', NULL,
                         pg_catalog.jsonb_build_object('run', run, 'via', 'purge', 'tables', pg_catalog.cardinality(tables),
                                                       'rows', total_rows, 'partitions', total_parts,
                                                       'failed', failed));
END
$$;
COMMENT ON FUNCTION privacy.purge(boolean, regclass, integer, integer) IS
  'purge expired rows of every table with a retention policy (or of one): drop expired partitions, delete or anonymize rows, keep rows under a hold; dry_run reports what it would do; one transaction, a table that fails is left as it was and reported (action failed)';

-- run_purge's steps (SECURITY DEFINER); the procedure itself cannot be.
CREATE FUNCTION privacy_internal._purge_begin(OUT run_id bigint, OUT tables regclass[])
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
BEGIN
  PERFORM privacy_internal._check_purge_privilege();
  -- A run of this session that was interrupted may have kept the lock.
  IF EXISTS (SELECT FROM pg_catalog.pg_locks l
              WHERE l.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()
                AND l.locktype OPERATOR(pg_catalog.=) 'advisory'
                AND l.classid OPERATOR(pg_catalog.=) 1885827186
                AND l.objid OPERATOR(pg_catalog.=) privacy_internal._lock_key('purge')::oid
                AND l.objsubid OPERATOR(pg_catalog.=) 2 AND l.mode OPERATOR(pg_catalog.=) 'ExclusiveLock'
                AND l.granted) THEN
    PERFORM pg_catalog.pg_advisory_unlock(1885827186, privacy_internal._lock_key('purge'));
  END IF;
  IF NOT pg_catalog.pg_try_advisory_lock(1885827186, privacy_internal._lock_key('purge')) THEN
    run_id := NULL;
    RETURN;
  END IF;
  run_id := pg_catalog.nextval('privacy.retention_run_seq');
  tables := ARRAY(SELECT p.tbl FROM privacy.retention_policy p ORDER BY p.tbl::text);
END
$$;
COMMENT ON FUNCTION privacy_internal._purge_begin() IS
  'internal: start a run_purge (one purge at a time); NULL run id when another purge runs';

CREATE FUNCTION privacy_internal._purge_end(run_id bigint, tables integer, rows bigint, partitions integer,
                                   failed jsonb)
  RETURNS jsonb
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  f jsonb;
  reported jsonb := '[]';
BEGIN
  PERFORM privacy_internal._check_purge_privilege();
  IF failed IS NOT NULL THEN
    -- each failed table audited, with what went wrong and no value
    FOR f IN SELECT e FROM pg_catalog.jsonb_array_elements(failed) e LOOP
      f := pg_catalog.jsonb_build_object('table', f OPERATOR(pg_catalog.->>) 'table')
           OPERATOR(pg_catalog.||) privacy_internal._purge_error(f OPERATOR(pg_catalog.->>) 'sqlstate', f OPERATOR(pg_catalog.->>) 'message');
      reported := reported OPERATOR(pg_catalog.||) f;
      PERFORM privacy_internal._audit('retention.purge_failed', f OPERATOR(pg_catalog.->>) 'table',
                             pg_catalog.jsonb_build_object('run', run_id, 'via', 'run_purge',
                                                           'sqlstate', f OPERATOR(pg_catalog.->>) 'sqlstate',
                                                           'message', f OPERATOR(pg_catalog.->>) 'message'));
    END LOOP;
    IF tables IS NOT NULL THEN
      PERFORM privacy_internal._audit('retention.run', NULL,
                             pg_catalog.jsonb_build_object('run', run_id, 'via', 'run_purge', 'tables', tables,
                                                           'rows', rows, 'partitions', partitions,
                                                           'failed', reported));
    END IF;
  END IF;
  IF EXISTS (SELECT FROM pg_catalog.pg_locks l
              WHERE l.pid OPERATOR(pg_catalog.=) pg_catalog.pg_backend_pid()
                AND l.locktype OPERATOR(pg_catalog.=) 'advisory'
                AND l.classid OPERATOR(pg_catalog.=) 1885827186
                AND l.objid OPERATOR(pg_catalog.=) privacy_internal._lock_key('purge')::oid
                AND l.objsubid OPERATOR(pg_catalog.=) 2 AND l.mode OPERATOR(pg_catalog.=) 'ExclusiveLock'
                AND l.granted) THEN
    PERFORM pg_catalog.pg_advisory_unlock(1885827186, privacy_internal._lock_key('purge'));
  END IF;
  RETURN CASE WHEN failed IS NOT NULL THEN reported END;
END
$$;
COMMENT ON FUNCTION privacy_internal._purge_end(bigint, integer, bigint, integer, jsonb) IS
  'internal: finish a run_purge: each failed table and the run''s receipt audited, the lock released; returns the failures as recorded';

-- A table's failure as the audit log and the receipt record it: the
-- SQLSTATE and the message, without what may be a personal value (an
-- error raised over a row, by a cast or by the owner's own trigger, can
-- quote one): quoted literals, e-mail addresses and digit runs are masked.
CREATE FUNCTION privacy_internal._purge_error(sqlstate text, message text) RETURNS jsonb
  LANGUAGE plpgsql IMMUTABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  m text := COALESCE(message, '');
BEGIN
  m := pg_catalog.regexp_replace(m, $r$'[^']*'$r$, $r$'...'$r$, 'g');
  m := pg_catalog.regexp_replace(m, $r$[^[:space:]"']*@[^[:space:]"']*$r$, '...', 'g');
  -- numbers (inside a word too: an account number, phone4520...), but
  -- not the digits of a key's fingerprint (pgp1:<16 hex digits>, which
  -- the key errors name)
  m := pg_catalog.regexp_replace(m, '(?<!pgp[0-9]:[0-9a-f]{0,15})\+?[0-9][0-9 ().-]{4,}[0-9]', '...', 'g');
  -- data and integrity errors, and errors a trigger raised, quote values
  IF pg_catalog.left(sqlstate, 2) IN ('22', '23', 'P0') THEN
    m := pg_catalog.regexp_replace(m, '"[^"]*"', '"..."', 'g');
  END IF;
  RETURN pg_catalog.jsonb_build_object('sqlstate', sqlstate, 'message', pg_catalog.left(m, 300));
END
$$;
COMMENT ON FUNCTION privacy_internal._purge_error(text, text) IS
  'internal: a purge failure as recorded: SQLSTATE and the message with values masked';

-- The nightly job.  Not SECURITY DEFINER and without SET clauses, so that
-- it may COMMIT; every name and operator in it is qualified, because it
-- runs with the caller's search_path (pg_cron's superuser's among them).
CREATE PROCEDURE privacy.run_purge(batch_size integer DEFAULT 10000,
                                   lock_timeout_ms integer DEFAULT 1000,
                                   retries integer DEFAULT 5)
  LANGUAGE plpgsql
AS $$
DECLARE
  b record;
  run bigint;
  tables regclass[];
  t regclass;
  total_rows bigint := 0;
  total_parts integer := 0;
  failed jsonb := pg_catalog.jsonb_build_array();
  st text;
  msg text;
  table_failed boolean;
  tbl_done boolean;
  tbl_action text;
  tbl_rows bigint;
  tbl_parts integer;
BEGIN
  IF batch_size IS NULL OR batch_size OPERATOR(pg_catalog.<) 1 THEN
    RAISE EXCEPTION 'batch size must be positive' USING ERRCODE = '22023',
          DETAIL = pg_catalog.format('batch_size was %s.', batch_size);
  END IF;
  IF lock_timeout_ms IS NULL OR lock_timeout_ms OPERATOR(pg_catalog.<) 1
     OR retries IS NULL OR retries OPERATOR(pg_catalog.<) 0 THEN
    RAISE EXCEPTION 'invalid lock_timeout_ms % or retries %', lock_timeout_ms, retries
      USING ERRCODE = '22023', HINT = 'lock_timeout_ms must be at least 1, retries at least 0.';
  END IF;
  -- Fails here, before anything is locked, when CALLed inside a
  -- transaction block (where the batches could not commit).
  COMMIT;
  SELECT * INTO b FROM privacy_internal._purge_begin();
  IF b.run_id IS NULL THEN
    RAISE NOTICE 'another purge is running; this one does nothing';
    RETURN;
  END IF;
  run := b.run_id;
  tables := b.tables;
  IF pg_catalog.cardinality(tables) OPERATOR(pg_catalog.=) 0 THEN
    RAISE NOTICE 'nothing to purge: no table has a retention policy'
      USING HINT = 'Set one with privacy.set_retention(table, time_column, keep), for example privacy.set_retention(''app.cdr'', ''started_at'', ''6 months'').';
  END IF;
  COMMIT;
  FOREACH t IN ARRAY tables LOOP
    -- Each batch in a subtransaction of its own, committed after it: a
    -- batch that fails is undone, the table is reported (and audited by
    -- _purge_end), and the other tables are purged.  (The COMMIT is
    -- outside the block: PL/pgSQL cannot commit inside one that catches
    -- errors.)
    table_failed := false;
    tbl_done := false;
    tbl_action := NULL;
    LOOP
      BEGIN
        SELECT x.done, x.action, x.rows, x.partitions INTO tbl_done, tbl_action, tbl_rows, tbl_parts
          FROM privacy_internal._purge_batch(t, run, batch_size, lock_timeout_ms, retries) x;
      EXCEPTION
        WHEN query_canceled THEN
          PERFORM privacy_internal._purge_end(run, NULL, NULL, NULL, NULL);
          RAISE;
        WHEN OTHERS THEN
          GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
          RAISE WARNING 'purge of % failed (SQLSTATE %); the other tables go on', t, st;
          failed := failed OPERATOR(pg_catalog.||)
                    pg_catalog.jsonb_build_object('table', t::text, 'sqlstate', st, 'message', msg);
          table_failed := true;
      END;
      COMMIT;
      EXIT WHEN table_failed OR tbl_done;
    END LOOP;
    IF NOT table_failed AND tbl_action IS NOT NULL THEN
      total_rows := total_rows OPERATOR(pg_catalog.+) tbl_rows;
      total_parts := total_parts OPERATOR(pg_catalog.+) tbl_parts;
      RAISE NOTICE 'purged %: % % rows, % partitions dropped', t, tbl_action, tbl_rows, tbl_parts;
    END IF;
  END LOOP;
  failed := privacy_internal._purge_end(run, pg_catalog.cardinality(tables), total_rows, total_parts, failed);
  COMMIT;
  IF pg_catalog.jsonb_array_length(failed) OPERATOR(pg_catalog.>) 0 THEN
    RAISE EXCEPTION 'purge failed for % of % tables', pg_catalog.jsonb_array_length(failed), pg_catalog.cardinality(tables)
      USING ERRCODE = failed OPERATOR(pg_catalog.->) 0 OPERATOR(pg_catalog.->>) 'sqlstate',
            DETAIL = (SELECT pg_catalog.string_agg(pg_catalog.format('%s: %s', f OPERATOR(pg_catalog.->>) 'table',
                                                                     f OPERATOR(pg_catalog.->>) 'message'), '; ')
                        FROM pg_catalog.jsonb_array_elements(failed) f),
            HINT = 'The other tables were purged; the next run continues the failed ones where they stopped.';
  END IF;
END
$$;
COMMENT ON PROCEDURE privacy.run_purge(integer, integer, integer) IS
  'purge every table with a retention policy in batches, committing after each; CALL it outside a transaction block (pg_cron does)';

------------------------------------------------------------------------
-- Scheduling with pg_cron
------------------------------------------------------------------------

CREATE FUNCTION privacy_internal._check_pg_cron() RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_extension e WHERE e.extname OPERATOR(pg_catalog.=) 'pg_cron') THEN
    RAISE EXCEPTION 'pg_cron is not installed in database %', pg_catalog.current_database()
      USING ERRCODE = '55000',
            HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database and cron.use_background_workers = on, restart, and run CREATE EXTENSION pg_cron; or schedule CALL privacy.run_purge() with another scheduler.';
  END IF;
END
$$;

-- How pg_cron will run the purge job: in a background worker
-- (cron.use_background_workers = on: no connection, nothing to
-- authenticate), or as a client connecting to cron.host.  A connection
-- over TCP (cron.host defaults to localhost) needs a password on a stock
-- Debian cluster, whose pg_hba.conf asks for one on host lines; pg_cron
-- has none to give unless the server's OS user keeps it in ~/.pgpass,
-- which the server cannot see.  So schedule_purge refuses a job that
-- would connect over TCP, and says how to make it run without one.  A
-- connection through the Unix socket (cron.host set to the socket
-- directory) uses Debian's "local ... peer" line and is accepted.
-- Returns NULL when the job will run, else why not.
CREATE FUNCTION privacy_internal._cron_connection_problem() RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  bgw text := pg_catalog.current_setting('cron.use_background_workers', true);
  host text := COALESCE(pg_catalog.current_setting('cron.host', true), 'localhost');
BEGIN
  IF bgw OPERATOR(pg_catalog.=) 'on' THEN
    RETURN NULL;
  END IF;
  IF pg_catalog.left(host, 1) OPERATOR(pg_catalog.=) '/' THEN
    RETURN NULL;
  END IF;
  RETURN pg_catalog.format('cron.use_background_workers is off, so pg_cron would connect over TCP to %s port %s, where a stock pg_hba.conf asks for a password pg_cron does not have',
                           host, pg_catalog.current_setting('port'));
END
$$;
COMMENT ON FUNCTION privacy_internal._cron_connection_problem() IS
  'internal: why the purge job scheduled with pg_cron would fail to connect (NULL when it runs in a background worker or over the Unix socket)';

CREATE FUNCTION privacy.schedule_purge(schedule text DEFAULT '30 3 * * *', batch_size integer DEFAULT 10000)
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  job bigint;
  old record;
  cmd text;
  problem text;
  host text := COALESCE(pg_catalog.current_setting('cron.host', true), 'localhost');
  port integer := pg_catalog.current_setting('port')::integer;
  how text;
  st text;
  msg text;
BEGIN
  IF schedule IS NULL OR batch_size IS NULL THEN
    RAISE EXCEPTION 'schedule and batch size must not be null' USING ERRCODE = '22004';
  END IF;
  IF batch_size OPERATOR(pg_catalog.<) 1 THEN
    RAISE EXCEPTION 'batch size must be positive' USING ERRCODE = '22023',
          DETAIL = pg_catalog.format('batch_size was %s.', batch_size);
  END IF;
  PERFORM privacy_internal._check_pg_cron();
  problem := privacy_internal._cron_connection_problem();
  IF problem IS NOT NULL THEN
    RAISE EXCEPTION 'the purge job would not run: %', problem
      USING ERRCODE = '55000',
            HINT = 'Set cron.use_background_workers = on in postgresql.conf and restart (jobs then run without a connection); '
                   'or set cron.host to the Unix socket directory (e.g. ''/var/run/postgresql''). '
                   'If a ~/.pgpass of the server''s OS user provides the password, schedule it yourself: '
                   'SELECT cron.schedule_in_database(''pg_privacy_purge'', ''30 3 * * *'', ''CALL privacy.run_purge()'', current_database()).';
  END IF;
  -- One statement only: pg_cron then runs it outside a transaction block,
  -- where the procedure may commit after every batch.
  cmd := pg_catalog.format('CALL privacy.run_purge(%s)', batch_size);
  EXECUTE 'SELECT j.jobid, j.nodename, j.nodeport FROM cron.job j
            WHERE j.jobname OPERATOR(pg_catalog.=) $1 AND j.username OPERATOR(pg_catalog.=) CURRENT_USER'
    INTO old USING 'pg_privacy_purge';
  BEGIN
    IF old.jobid IS NOT NULL AND old.nodename IS NOT DISTINCT FROM host
       AND old.nodeport IS NOT DISTINCT FROM port THEN
      -- Same server: update the job in place (its run history stays).
      EXECUTE 'SELECT cron.alter_job($1, $2, $3, $4, NULL, true)'
        USING old.jobid, schedule, cmd, pg_catalog.current_database();
      job := old.jobid;
      how := 'updated';
    ELSE
      -- A job made for another node name or port (cron.host changed, the
      -- cluster restored elsewhere) keeps them when altered: replace it.
      IF old.jobid IS NOT NULL THEN
        EXECUTE 'SELECT cron.unschedule($1)' USING old.jobid;
        how := 'replaced';
      ELSE
        how := 'created';
      END IF;
      EXECUTE 'SELECT cron.schedule_in_database($1, $2, $3, $4)' INTO job
        USING 'pg_privacy_purge', schedule, cmd, pg_catalog.current_database();
    END IF;
  EXCEPTION WHEN OTHERS THEN
    GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
    IF msg LIKE 'invalid schedule%' THEN
      RAISE EXCEPTION 'invalid schedule "%"', schedule
        USING ERRCODE = '22023', HINT = 'Use cron syntax, for example ''30 3 * * *'' (03:30 every night).';
    END IF;
    RAISE;
  END;
  PERFORM privacy_internal._audit('retention.schedule', NULL,
                         pg_catalog.jsonb_build_object('job', job, 'schedule', schedule, 'batch_size', batch_size,
                                                       'job_was', how));
  RETURN job;
END
$$;
COMMENT ON FUNCTION privacy.schedule_purge(text, integer) IS
  'schedule CALL privacy.run_purge() with pg_cron (job "pg_privacy_purge" in this database; an existing one is updated, or replaced when made for another node); refuses a job that would need a connection pg_cron cannot make; returns the job id';

CREATE FUNCTION privacy.unschedule_purge() RETURNS boolean
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  job bigint;
BEGIN
  PERFORM privacy_internal._check_pg_cron();
  EXECUTE 'SELECT j.jobid FROM cron.job j WHERE j.jobname OPERATOR(pg_catalog.=) $1 AND j.username OPERATOR(pg_catalog.=) CURRENT_USER'
    INTO job USING 'pg_privacy_purge';
  IF job IS NULL THEN
    RETURN false;
  END IF;
  EXECUTE 'SELECT cron.unschedule($1)' USING job;
  PERFORM privacy_internal._audit('retention.unschedule', NULL, pg_catalog.jsonb_build_object('job', job));
  RETURN true;
END
$$;
COMMENT ON FUNCTION privacy.unschedule_purge() IS
  'remove the pg_cron job of the purge; false when none was scheduled';
