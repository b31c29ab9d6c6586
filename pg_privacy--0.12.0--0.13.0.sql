/* pg_privacy--0.12.0--0.13.0.sql: ALTER EXTENSION pg_privacy UPDATE TO '0.13.0'
 *
 * Assembled by src/upgrade/gen_upgrade.py from src/upgrade/0.12.0--0.13.0.pre.sql,
 * the differences between the 0.12.0 and 0.13.0 install scripts, and
 * src/upgrade/0.12.0--0.13.0.post.sql.  Edit those, not this file.
 */

\echo Use "ALTER EXTENSION pg_privacy UPDATE TO '0.13.0'" to load this file. \quit

-- Nothing before the functions: 0.13.0 changes no table.

-- Tables new in 0.13.0 (generated)

-- Functions removed, or whose arguments or result changed (generated)

DROP FUNCTION privacy_internal._retention_citus_check(regclass, text);


-- Functions new or changed in 0.13.0, in the order of its install script (generated)

CREATE OR REPLACE FUNCTION privacy.set_retention(tbl regclass, time_column name, keep interval,
                                      action text DEFAULT 'delete',
                                      keep_at_least interval DEFAULT NULL,
                                      align text DEFAULT NULL,
                                      year_start integer DEFAULT 1,
                                      time_zone text DEFAULT NULL,
                                      generalize text DEFAULT 'day')
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  att record;
  old privacy.retention_policy;
  zone text := COALESCE(time_zone, pg_catalog.current_setting('TimeZone'));
  rel record;
  other regclass;
  w privacy_internal._retention_work;
BEGIN
  IF tbl IS NULL OR time_column IS NULL OR keep IS NULL OR action IS NULL THEN
    RAISE EXCEPTION 'table, time column, keep and action must not be null' USING ERRCODE = '22004';
  END IF;
  IF NOT EXISTS (SELECT FROM privacy.registered_table t WHERE t.tbl OPERATOR(pg_catalog.=) set_retention.tbl) THEN
    RAISE EXCEPTION 'table % is not registered', tbl
      USING ERRCODE = '55000',
            HINT = 'Register it with privacy.register_table() first; a policy is part of the record of processing.';
  END IF;
  PERFORM privacy_internal._check_owner(tbl);
  SELECT a.attnum, a.atttypid::regtype AS typ INTO att
    FROM pg_catalog.pg_attribute a
   WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attname OPERATOR(pg_catalog.=) time_column
     AND NOT a.attisdropped AND a.attnum OPERATOR(pg_catalog.>) 0;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'column "%" of relation % does not exist', time_column, tbl USING ERRCODE = '42703';
  END IF;
  IF att.typ NOT IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype) THEN
    RAISE EXCEPTION 'time column "%" of relation % has type %', time_column, tbl, att.typ
      USING ERRCODE = '42804',
            HINT = 'The column that dates a row must be of type timestamptz, timestamp or date.';
  END IF;
  IF keep OPERATOR(pg_catalog.<=) interval '0' THEN
    RAISE EXCEPTION 'retention period must be positive'
      USING ERRCODE = '22023', DETAIL = pg_catalog.format('keep was %s.', keep);
  END IF;
  IF keep_at_least IS NOT NULL AND keep_at_least OPERATOR(pg_catalog.<=) interval '0' THEN
    RAISE EXCEPTION 'legal minimum must be positive'
      USING ERRCODE = '22023', DETAIL = pg_catalog.format('keep_at_least was %s.', keep_at_least);
  END IF;
  IF keep_at_least IS NOT NULL AND keep OPERATOR(pg_catalog.<) keep_at_least THEN
    RAISE EXCEPTION 'retention period is shorter than the legal minimum'
      USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('keep was %s, keep_at_least %s: rows could never be purged when they expire.',
                                       keep, keep_at_least),
            HINT = 'Keep rows at least as long as the law requires.';
  END IF;
  IF action NOT IN ('delete', 'anonymize') THEN
    RAISE EXCEPTION 'invalid retention action "%"', action
      USING ERRCODE = '22023', HINT = 'Use "delete" or "anonymize".';
  END IF;
  IF align IS NOT NULL AND align NOT IN ('day', 'week', 'month', 'quarter', 'year') THEN
    RAISE EXCEPTION 'invalid period "%"', align
      USING ERRCODE = '22023', HINT = 'Use one of: day, week, month, quarter, year (the financial year with year_start).';
  END IF;
  IF year_start IS NULL OR year_start NOT BETWEEN 1 AND 12 THEN
    RAISE EXCEPTION 'invalid first month of the financial year: %', year_start
      USING ERRCODE = '22023', HINT = 'year_start is a month, 1 to 12.';
  END IF;
  IF year_start OPERATOR(pg_catalog.<>) 1 AND align IS DISTINCT FROM 'year' AND align IS DISTINCT FROM 'quarter' THEN
    RAISE EXCEPTION 'year_start applies only to periods "year" and "quarter"' USING ERRCODE = '22023';
  END IF;
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_timezone_names z WHERE z.name OPERATOR(pg_catalog.=) zone)
     AND NOT EXISTS (SELECT FROM pg_catalog.pg_timezone_abbrevs z WHERE z.abbrev OPERATOR(pg_catalog.=) zone) THEN
    RAISE EXCEPTION 'time zone "%" not recognized', zone USING ERRCODE = '22023';
  END IF;
  IF generalize IS NULL OR generalize NOT IN ('minute', 'hour', 'day', 'week', 'month', 'quarter', 'year') THEN
    RAISE EXCEPTION 'invalid generalization unit "%"', generalize
      USING ERRCODE = '22023', HINT = 'Use one of: minute, hour, day, week, month, quarter, year.';
  END IF;
  -- Conflicts: a table that inherits from, or is inherited by, a table
  -- with a policy would be purged under two policies.
  WITH RECURSIVE up(r) AS (
      SELECT i.inhparent FROM pg_catalog.pg_inherits i WHERE i.inhrelid OPERATOR(pg_catalog.=) tbl
      UNION SELECT i.inhparent FROM pg_catalog.pg_inherits i JOIN up ON i.inhrelid OPERATOR(pg_catalog.=) up.r),
    down(r) AS (
      SELECT i.inhrelid FROM pg_catalog.pg_inherits i WHERE i.inhparent OPERATOR(pg_catalog.=) tbl
      UNION SELECT i.inhrelid FROM pg_catalog.pg_inherits i JOIN down ON i.inhparent OPERATOR(pg_catalog.=) down.r)
  SELECT p.tbl INTO other FROM privacy.retention_policy p
   WHERE p.tbl::oid IN (SELECT r FROM up UNION SELECT r FROM down)
   LIMIT 1;
  IF other IS NOT NULL THEN
    RAISE EXCEPTION 'conflicting retention policy'
      USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('Table %s inherits from or is inherited by %s, which has a policy; its rows would be purged under both.',
                                       tbl, other),
            HINT = pg_catalog.format('Remove the policy of %s with privacy.drop_retention() first.', other);
  END IF;

  SELECT * INTO old FROM privacy.retention_policy p WHERE p.tbl OPERATOR(pg_catalog.=) set_retention.tbl FOR UPDATE;
  INSERT INTO privacy.retention_policy AS p
         (tbl, time_column, time_attnum, keep, action, keep_at_least, align, year_start, time_zone, generalize, set_by)
  VALUES (tbl, time_column, att.attnum, keep, action, keep_at_least, align, year_start, zone, generalize, privacy_internal._invoker())
  ON CONFLICT ON CONSTRAINT retention_policy_pkey DO UPDATE
     SET time_column = EXCLUDED.time_column, keep = EXCLUDED.keep, action = EXCLUDED.action,
         keep_at_least = EXCLUDED.keep_at_least, align = EXCLUDED.align, year_start = EXCLUDED.year_start,
         time_zone = EXCLUDED.time_zone, generalize = EXCLUDED.generalize,
         set_at = pg_catalog.now(), set_by = EXCLUDED.set_by;
  -- A purge under way continues under the new policy from the start.
  DELETE FROM privacy.retention_progress g WHERE g.tbl OPERATOR(pg_catalog.=) set_retention.tbl;
  -- Check that the purge can be carried out (anonymize: every personal
  -- column can be emptied); an error undoes the change.
  w := privacy_internal._retention_work(tbl);
  PERFORM privacy_internal._audit(
    CASE WHEN old.tbl IS NULL THEN 'retention.set' ELSE 'retention.change' END,
    tbl::text,
    pg_catalog.jsonb_build_object('time_column', time_column, 'keep', keep::text, 'action', action,
                                  'keep_at_least', keep_at_least::text, 'align', align,
                                  'year_start', year_start, 'time_zone', zone,
                                  'generalize', CASE WHEN action OPERATOR(pg_catalog.=) 'anonymize' THEN generalize END)
    OPERATOR(pg_catalog.||)
    CASE WHEN old.tbl IS NULL THEN '{}'::jsonb
         ELSE pg_catalog.jsonb_build_object('previous', privacy_internal._retention_text(old)) END);
END
$$;

CREATE OR REPLACE FUNCTION privacy_internal._retention_work(tbl regclass) RETURNS privacy_internal._retention_work
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

CREATE OR REPLACE FUNCTION privacy_internal._retention_restricted(w privacy_internal._retention_work, wh text, args text[],
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
    WITH v AS (
      SELECT u.val,
             CASE WHEN c.protect IS NOT NULL THEN privacy_internal._retention_fpe_norm(u.val, c.domain)
                  ELSE privacy.lookup_value(c.mode, u.val, dc) END AS norm
        FROM pg_catalog.unnest(vals) u(val))
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

CREATE OR REPLACE FUNCTION privacy_internal._purge_preview(tbl regclass,
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

-- Views, triggers, comments and configuration new or changed in 0.13.0 (generated)

-- Nothing after the functions: 0.13.0 changes no view, trigger or data.


-- Privileges: every GRANT and REVOKE of the 0.13.0 install script, in its order (generated)

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

GRANT EXECUTE ON FUNCTION privacy.mask_name(text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy.mask_email(text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy.mask_address(text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy.mask_account(text, integer) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._mask_pseudonym(text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._mask_pseudonym(bigint) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._mask_pseudonym(integer) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._mask_pseudonym(smallint) TO PUBLIC;

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
