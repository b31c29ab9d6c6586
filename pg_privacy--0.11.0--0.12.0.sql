/* pg_privacy--0.11.0--0.12.0.sql: ALTER EXTENSION pg_privacy UPDATE TO '0.12.0'
 *
 * Assembled by src/upgrade/gen_upgrade.py from src/upgrade/0.11.0--0.12.0.pre.sql,
 * the differences between the 0.11.0 and 0.12.0 install scripts, and
 * src/upgrade/0.11.0--0.12.0.post.sql.  Edit those, not this file.
 */

\echo Use "ALTER EXTENSION pg_privacy UPDATE TO '0.12.0'" to load this file. \quit

-- Nothing before the functions: 0.12.0 changes no table.

-- Tables new in 0.12.0 (generated)

-- Functions removed, or whose arguments or result changed (generated)


-- Functions new or changed in 0.12.0, in the order of its install script (generated)

CREATE OR REPLACE FUNCTION privacy_internal._on_sql_drop() RETURNS event_trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
  SET jit = off
AS $$
DECLARE
  o record;
  n bigint;
BEGIN
  FOR o IN SELECT * FROM pg_catalog.pg_event_trigger_dropped_objects()
            WHERE object_type IN ('table', 'foreign table', 'table column', 'view')
  LOOP
    IF o.object_type OPERATOR(pg_catalog.=) 'view' THEN
      -- a published view (safe aggregate, extract) leaves the register
      DELETE FROM privacy.published p WHERE p.view_name::oid OPERATOR(pg_catalog.=) o.objid;
      GET DIAGNOSTICS n = ROW_COUNT;
      IF n OPERATOR(pg_catalog.>) 0 THEN
        PERFORM privacy_internal._audit('analytics.unpublished', o.object_identity);
      END IF;
    ELSIF o.object_type OPERATOR(pg_catalog.=) 'table column' THEN
      DELETE FROM privacy.registered_column c
       WHERE c.tbl::oid OPERATOR(pg_catalog.=) o.objid
         AND c.attnum OPERATOR(pg_catalog.=) o.objsubid;
      GET DIAGNOSTICS n = ROW_COUNT;
      IF n OPERATOR(pg_catalog.>) 0 THEN
        PERFORM privacy_internal._audit('catalog.column_dropped', o.object_identity);
      END IF;
    ELSE
      DELETE FROM privacy.registered_table t WHERE t.tbl::oid OPERATOR(pg_catalog.=) o.objid;
      GET DIAGNOSTICS n = ROW_COUNT;
      IF n OPERATOR(pg_catalog.>) 0 THEN
        PERFORM privacy_internal._audit('catalog.table_dropped', o.object_identity);
      END IF;
    END IF;
  END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION privacy_internal._on_ddl_end() RETURNS event_trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
  SET jit = off
AS $$
DECLARE
  r record;
BEGIN
  FOR r IN
    SELECT x.relid, x.old_name, x.new_name
      FROM pg_catalog.pg_event_trigger_ddl_commands() d,
           LATERAL privacy_internal._renamed_column(d.command) x
     WHERE x.relid IS NOT NULL
  LOOP
    PERFORM privacy_internal._follow_column_rename(r.relid, r.old_name, r.new_name);
  END LOOP;
END
$$;

CREATE FUNCTION privacy_internal._protect_own_worker_ddl(who name) RETURNS boolean
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT privacy_internal._citus_worker()
         AND who OPERATOR(pg_catalog.=) (SELECT r.rolname FROM pg_catalog.pg_extension x
                                           JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) x.extowner
                                          WHERE x.extname OPERATOR(pg_catalog.=) 'pg_privacy')
$$;

CREATE OR REPLACE FUNCTION privacy_internal._protect_on_ddl_end(may_switch_off boolean) RETURNS void
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
  SET jit = off
AS $$
DECLARE
  reg regclass;
  e record;
  who name := privacy_internal._invoker();
  fn regprocedure := pg_catalog.to_regprocedure('privacy_internal._protect_trigger()');
BEGIN
  -- The protect trigger with a signed rule (a Citus table's, src/protect.c)
  -- is written by protect() alone: an owner putting back an older rule read
  -- from pg_trigger would have the shards transform by a rule the catalog no
  -- longer gives (a revoked domain, a column declared since).  Neither may
  -- anyone but pg_privacy create one on a shard or disable a shard's, on any
  -- node (Citus itself does not stop a table's owner there).
  FOR e IN
    SELECT g.tgrelid::regclass AS rel, g.tgname,
           CASE WHEN d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::regclass AND g.tgnargs OPERATOR(pg_catalog.>) 0
                THEN 'a protect trigger with a rule was created' ELSE 'its protect trigger was disabled' END AS problem
      FROM pg_catalog.pg_event_trigger_ddl_commands() d
      JOIN pg_catalog.pg_trigger g
        ON g.tgfoid OPERATOR(pg_catalog.=) fn
       AND ((d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::regclass AND g.oid OPERATOR(pg_catalog.=) d.objid)
            OR (d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass AND g.tgrelid OPERATOR(pg_catalog.=) d.objid))
     WHERE NOT privacy_internal._protect_ddl_allowed(g.tgrelid::regclass)
       AND NOT privacy_internal._protect_own_worker_ddl(who)
       AND ((d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::regclass AND g.tgnargs OPERATOR(pg_catalog.>) 0)
            OR (g.tgenabled OPERATOR(pg_catalog.<>) 'O'
                AND privacy_internal._protect_shard_table(g.tgrelid::regclass) IS NOT NULL))
  LOOP
    IF may_switch_off THEN
      RAISE WARNING 'protection of table % is not as pg_privacy made it: %', e.rel, e.problem;
      RAISE LOG 'pg_privacy: superuser % changed the protect trigger % of table %: %', who, e.tgname, e.rel, e.problem;
      CONTINUE;
    END IF;
    RAISE LOG 'pg_privacy: refused DDL of role % on the protect trigger % of table %: %', who, e.tgname, e.rel, e.problem;
    RAISE EXCEPTION 'cannot change the protect trigger % of table %', e.tgname, e.rel
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.upper(pg_catalog.left(e.problem, 1)) || pg_catalog.substr(e.problem, 2)
                     || '; only privacy.protect() writes a signed rule, and Citus copies it onto the shards.',
            HINT = 'Run privacy.protect() on the table on the coordinator.';
  END LOOP;
  -- A partition created or attached under a subject table while subjects
  -- are restricted gets its restriction check (statement triggers are not
  -- cloned to partitions).
  IF EXISTS (SELECT FROM privacy.restriction) THEN
    PERFORM privacy_internal._restrict_install();
  END IF;
  FOR reg IN
    SELECT DISTINCT t.tbl
      FROM pg_catalog.pg_event_trigger_ddl_commands() d
      CROSS JOIN LATERAL (
        SELECT CASE WHEN d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass THEN d.objid
                    WHEN d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::regclass
                    THEN (SELECT g.tgrelid FROM pg_catalog.pg_trigger g WHERE g.oid OPERATOR(pg_catalog.=) d.objid)
               END AS relid) x
      JOIN privacy_internal._enforced_table t
        ON t.tbl::oid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT pg_catalog.pg_partition_ancestors(x.relid)))
        OR t.tbl::oid OPERATOR(pg_catalog.=) x.relid
        -- ALTER TABLE ... INHERIT a protected table
        OR t.tbl::oid IN (SELECT i.inhparent FROM pg_catalog.pg_inherits i
                           WHERE i.inhrelid OPERATOR(pg_catalog.=) x.relid)
     WHERE x.relid IS NOT NULL
  LOOP
    FOR e IN SELECT p.* FROM privacy_internal._enforced_table f,
                    LATERAL privacy_internal._enforcement_problems(f.tbl, f.registered, f.consent_required, f.restricted) p
              WHERE f.tbl OPERATOR(pg_catalog.=) reg LOOP
      IF may_switch_off THEN
        RAISE WARNING '% of table % is not in force', e.what, reg
          USING DETAIL = e.problem, HINT = 'Restore it before writing to the table; privacy.catalog_problems lists it.';
        RAISE LOG 'pg_privacy: superuser % switched off % of table %: %', who, e.what, reg, e.problem;
        BEGIN
          PERFORM privacy_internal._audit(CASE e.what WHEN 'protection' THEN 'protect.weakened'
                                             WHEN 'consent check' THEN 'consent.weakened'
                                             ELSE 'subject.restriction_weakened' END,
                                 reg::text, pg_catalog.jsonb_build_object('problem', e.problem));
        EXCEPTION WHEN unique_violation THEN
          -- a data-only restore loading the audit log itself: the server log has it
          NULL;
        END;
        CONTINUE;
      END IF;
      RAISE LOG 'pg_privacy: refused DDL of role % that would switch off % of table %: %', who, e.what, reg, e.problem;
      RAISE EXCEPTION 'cannot switch off the % of table %', e.what, reg
        USING ERRCODE = '55000',
              DETAIL = pg_catalog.upper(pg_catalog.left(e.problem, 1)) || pg_catalog.substr(e.problem, 2) || '.',
              HINT = CASE e.what WHEN 'protection' THEN 'Remove the protection with privacy.unprotect() first.'
                                 WHEN 'consent check' THEN 'Remove the requirement with privacy.unrequire_consent() first.'
                                 ELSE 'Lift the restrictions with privacy.unrestrict_subject() first.' END;
    END LOOP;
  END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION privacy_internal._protect_on_sql_drop(may_switch_off boolean) RETURNS void
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
  SET jit = off
AS $$
DECLARE
  o record;
  rel regclass;
  what text;
  who name := privacy_internal._invoker();
BEGIN
  -- the protect trigger of a shard (named after it by Citus), dropped by
  -- anyone but pg_privacy
  FOR o IN SELECT * FROM pg_catalog.pg_event_trigger_dropped_objects() x
            WHERE x.object_type OPERATOR(pg_catalog.=) 'trigger'
              AND x.address_names[3] LIKE 'zz\_pg\_privacy\_protect\_%'
  LOOP
    rel := pg_catalog.to_regclass(pg_catalog.format('%I.%I', o.address_names[1], o.address_names[2]));
    CONTINUE WHEN rel IS NULL OR privacy_internal._protect_shard_table(rel) IS NULL
                  OR privacy_internal._protect_ddl_allowed(rel)
                  OR privacy_internal._protect_own_worker_ddl(who);
    IF may_switch_off THEN
      RAISE WARNING 'protection of shard % is not in force', rel
        USING DETAIL = pg_catalog.format('Its trigger %I was dropped.', o.address_names[3]);
      RAISE LOG 'pg_privacy: superuser % dropped the protect trigger of shard %', who, rel;
      CONTINUE;
    END IF;
    RAISE LOG 'pg_privacy: refused DROP TRIGGER % of role % on shard %', o.address_names[3], who, rel;
    RAISE EXCEPTION 'cannot drop the protect trigger of shard %', rel
      USING ERRCODE = '55000',
            HINT = 'Remove the protection with privacy.unprotect() on the table on the coordinator.';
  END LOOP;
  FOR o IN SELECT * FROM pg_catalog.pg_event_trigger_dropped_objects() x
            WHERE x.object_type OPERATOR(pg_catalog.=) 'trigger'
              AND x.address_names[3] IN ('zz_pg_privacy_protect', 'zy_pg_privacy_consent', 'zx_pg_privacy_restrict')
  LOOP
    rel := pg_catalog.to_regclass(pg_catalog.format('%I.%I', o.address_names[1], o.address_names[2]));
    CONTINUE WHEN rel IS NULL;
    IF o.address_names[3] OPERATOR(pg_catalog.=) 'zz_pg_privacy_protect' THEN
      CONTINUE WHEN NOT EXISTS (SELECT FROM privacy.registered_table t WHERE t.tbl OPERATOR(pg_catalog.=) rel);
      CONTINUE WHEN privacy_internal._protect_ddl_allowed(rel);
      what := 'protect trigger';
    ELSIF o.address_names[3] OPERATOR(pg_catalog.=) 'zy_pg_privacy_consent' THEN
      -- privacy.unrequire_consent() drops it after the last requirement
      CONTINUE WHEN NOT EXISTS (SELECT FROM privacy.consent_requirement q
                                 WHERE q.tbl OPERATOR(pg_catalog.=) rel
                                    OR q.tbl::oid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT pg_catalog.pg_partition_ancestors(rel))));
      what := 'consent check';
    ELSE
      CONTINUE WHEN NOT EXISTS (SELECT FROM privacy.restriction);
      what := 'restriction check';
    END IF;
    IF may_switch_off THEN
      RAISE WARNING '% of table % is not in force', CASE what WHEN 'protect trigger' THEN 'protection' ELSE what END, rel
        USING DETAIL = pg_catalog.format('Its trigger %I was dropped.', o.address_names[3]);
      RAISE LOG 'pg_privacy: superuser % dropped the % of table %', who, what, rel;
      BEGIN
        PERFORM privacy_internal._audit(CASE what WHEN 'protect trigger' THEN 'protect.weakened'
                                         WHEN 'consent check' THEN 'consent.weakened'
                                         ELSE 'subject.restriction_weakened' END,
                               rel::text,
                               pg_catalog.jsonb_build_object('problem', pg_catalog.format('trigger %s dropped', o.address_names[3])));
      EXCEPTION WHEN unique_violation THEN
        NULL;
      END;
      CONTINUE;
    END IF;
    RAISE LOG 'pg_privacy: refused DROP TRIGGER % of role % on table %', o.address_names[3], who, rel;
    RAISE EXCEPTION 'cannot drop the % of table %', what, rel
      USING ERRCODE = '55000',
            HINT = CASE what WHEN 'protect trigger' THEN 'Remove the protection with privacy.unprotect() first.'
                             WHEN 'consent check' THEN 'Remove the requirement with privacy.unrequire_consent() first.'
                             ELSE 'Lift the restrictions with privacy.unrestrict_subject() first.' END;
  END LOOP;
END
$$;

CREATE OR REPLACE FUNCTION privacy_internal._consent_on_sql_drop() RETURNS event_trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
  SET jit = off
AS $$
DECLARE
  o record;
BEGIN
  FOR o IN SELECT * FROM pg_catalog.pg_event_trigger_dropped_objects()
            WHERE object_type OPERATOR(pg_catalog.=) 'table'
  LOOP
    DELETE FROM privacy.consent_requirement q WHERE q.tbl::oid OPERATOR(pg_catalog.=) o.objid;
  END LOOP;
END
$$;

CREATE FUNCTION privacy_internal._retention_citus_check(tbl regclass, action text) RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF action OPERATOR(pg_catalog.=) 'anonymize' AND privacy_internal._citus_table(tbl) THEN
    RAISE EXCEPTION 'retention action "anonymize" is not supported on %: Citus manages it', tbl
      USING ERRCODE = '0A000',
            DETAIL = 'Anonymizing generalizes each row''s times in the policy''s time zone and leaves the rows of restricted data subjects as they are; Citus cannot run that UPDATE on its shards.',
            HINT = 'Use action ''delete'' on tables Citus manages, or keep the table on the coordinator (undistribute_table).';
  END IF;
END
$$;

CREATE OR REPLACE FUNCTION privacy_internal._hold_predicate(tbl regclass, alias text, param_key text,
                                        OUT held text, OUT held_args text[], OUT held_cols integer)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  c record;
  vals text[];
  norms text[];
  cond text[];
  parts text[] := '{}';
  colref text;
  dc text := privacy_internal._default_country();
BEGIN
  -- Holds: every registered column that holds an identifier of the kind
  -- (owner or mention), whatever form it is written in.  A stored
  -- (transformed) value is compared with the transformation of the held
  -- identifier and of its usual written forms; a value as typed, and one
  -- written before the column was protected, by its kind's normal form
  -- (privacy.lookup_value: '20 55 66 77', '004520556677' and '+4520556677'
  -- are one number; the expression export and erasure use, so one index
  -- serves them all).  Only built-in operators and the keyless, PUBLIC
  -- lookup_value: the predicate runs as the table's owner.  Holds store
  -- the normal form computed when they were placed (under the setting of
  -- that moment); today's default country reads the column.
  held_args := '{}';
  FOR c IN
    SELECT rc.col, rc.protect, rc.domain, rc.identifies, ik.normalize,
           (SELECT pg_catalog.array_agg(DISTINCT h.value)
              FROM privacy.legal_hold h
             WHERE h.kind OPERATOR(pg_catalog.=) rc.identifies
               AND h.released_at IS NULL
               AND (h.until IS NULL OR h.until OPERATOR(pg_catalog.>) pg_catalog.now())) AS vals
      FROM privacy.registered_column rc
      JOIN privacy.identifier_kind ik ON ik.name OPERATOR(pg_catalog.=) rc.identifies
     WHERE rc.tbl OPERATOR(pg_catalog.=) _hold_predicate.tbl
       AND (rc.protect IS NULL OR rc.protect NOT IN ('null', 'country'))
     ORDER BY rc.attnum
  LOOP
    CONTINUE WHEN c.vals IS NULL;
    colref := CASE WHEN alias IS NULL THEN pg_catalog.quote_ident(c.col)
                   ELSE pg_catalog.quote_ident(alias) || '.' || pg_catalog.quote_ident(c.col) END;
    -- the normal forms (as lookup_value writes them) of the held values
    SELECT pg_catalog.array_agg(DISTINCT f) INTO norms
      FROM pg_catalog.unnest(c.vals) v,
           LATERAL (VALUES (v), (privacy.lookup_value(c.normalize, v, dc))) x(f)
     WHERE f IS NOT NULL;
    cond := '{}';
    IF c.protect IS NOT NULL THEN
      SELECT pg_catalog.array_agg(DISTINCT f) INTO vals
        FROM pg_catalog.unnest(privacy_internal._retention_written_forms(c.vals, c.normalize, dc)) v,
             privacy_internal._stored_form(v, c.protect, c.domain, c.identifies) f
       WHERE f IS NOT NULL;
      IF vals IS NOT NULL THEN
        held_args := held_args || vals::text;
        cond := cond || pg_catalog.format('%s::pg_catalog.text OPERATOR(pg_catalog.=) ANY (%s)',
                                          colref, privacy_internal._hold_arg(held_args, param_key));
      END IF;
    ELSE
      held_args := held_args || c.vals::text;
      cond := cond || pg_catalog.format('%s::pg_catalog.text OPERATOR(pg_catalog.=) ANY (%s)',
                                        colref, privacy_internal._hold_arg(held_args, param_key));
    END IF;
    -- as typed, or raw from before protection: by the normal form (not in
    -- an msisdn_fpe column, whose pseudonyms are numbers themselves)
    IF norms IS NOT NULL AND c.protect IS DISTINCT FROM 'msisdn_fpe' THEN
      held_args := held_args || norms::text;
      cond := cond || pg_catalog.format('privacy.lookup_value(%L, %s::pg_catalog.text, %L) OPERATOR(pg_catalog.=) ANY (%s)',
                                        c.normalize, colref, dc, privacy_internal._hold_arg(held_args, param_key));
    END IF;
    CONTINUE WHEN pg_catalog.cardinality(cond) OPERATOR(pg_catalog.=) 0;
    -- (IS TRUE, not COALESCE: Citus plans no STABLE cast, such as the
    -- arguments' ::text[], inside a COALESCE of a distributed DELETE)
    parts := parts || pg_catalog.format('(%s) IS TRUE', pg_catalog.array_to_string(cond, ' OR '));
  END LOOP;
  held_cols := pg_catalog.cardinality(parts);
  held := CASE WHEN pg_catalog.cardinality(parts) OPERATOR(pg_catalog.=) 0 THEN NULL
               ELSE '(' || pg_catalog.array_to_string(parts, ' OR ') || ')' END;
END
$$;

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
  PERFORM privacy_internal._retention_citus_check(tbl, action);
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
  expr text;
BEGIN
  -- Fail closed on a table whose protection was switched off: its rows may
  -- hold raw values that the hold predicate would not recognize.
  PERFORM privacy_internal._check_protection(tbl);
  SELECT * INTO p FROM privacy.retention_policy r WHERE r.tbl OPERATOR(pg_catalog.=) _retention_work.tbl;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'table % has no retention policy', tbl
      USING ERRCODE = '55000', HINT = 'Set one with privacy.set_retention().';
  END IF;
  -- (a policy set before Citus took the table over)
  PERFORM privacy_internal._retention_citus_check(tbl, p.action);
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
      expr := CASE c.typ
        WHEN 'timestamptz'::regtype THEN pg_catalog.format('pg_catalog.date_trunc(%L, %I, %L)', p.generalize, c.attname, p.time_zone)
        WHEN 'timestamp'::regtype THEN pg_catalog.format('pg_catalog.date_trunc(%L, %I)', p.generalize, c.attname)
        ELSE pg_catalog.format('pg_catalog.date_trunc(%L, %I::pg_catalog.timestamp)::pg_catalog.date', p.generalize, c.attname) END;
      sets := sets || pg_catalog.format('%I = %s', c.attname, expr);
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
      IF NOT c.attnotnull THEN
        sets := sets || pg_catalog.format('%I = NULL', c.col);
        todo := todo || pg_catalog.format('%I IS NOT NULL', c.col);
      ELSIF c.protect IS NULL
            AND c.atttypid IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype) THEN
        sets := sets || pg_catalog.format('%I = %L', c.col, '');
        todo := todo || pg_catalog.format('%I OPERATOR(pg_catalog.<>) %L', c.col, '');
      ELSE
        RAISE EXCEPTION 'column "%" of relation % is NOT NULL and cannot be anonymized', c.col, tbl
          USING ERRCODE = '55000',
                DETAIL = CASE WHEN c.protect IS NOT NULL
                              THEN 'Its protect transformation applies to any value but NULL, so only NULL hides it.'
                              ELSE 'Only NULL (or an empty text) carries no personal data.' END,
                HINT = pg_catalog.format('Allow NULL in it (ALTER TABLE %s ALTER COLUMN %I DROP NOT NULL) or use action ''delete''.',
                                         tbl, c.col);
      END IF;
    END LOOP;
    w.set_list := pg_catalog.array_to_string(sets, ', ');
    w.todo := '(' || pg_catalog.array_to_string(todo, ' OR ') || ')';
  END IF;
  RETURN w;
END
$$;

CREATE OR REPLACE FUNCTION privacy_internal._purge_batch(tbl regclass, run_id bigint, batch_size integer,
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

CREATE OR REPLACE FUNCTION privacy.purge(dry_run boolean DEFAULT false, tbl regclass DEFAULT NULL,
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

CREATE OR REPLACE FUNCTION privacy.health()
  RETURNS TABLE(area text, status text, detail text, hint text)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET jit = off
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
  nkeys bigint;
  conn text;
  unlisted_restrictions numeric;
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

  -- 2b. Older keys: the audit entries and erasure ledger lines made under
  -- a replaced key are checked with it (privacy.key_versions).
  area := 'key history';
  BEGIN
    -- one read of the view (it reads the whole audit log and the ledger)
    SELECT pg_catalog.string_agg(pg_catalog.format('%s (version %s: %s audit entries, %s ledger lines, %s restrictions)',
                                                   v.fingerprint, v.version, v.audit_entries, v.ledger_lines, v.restrictions),
                                 '; ' ORDER BY v.version)
             FILTER (WHERE v.needed AND v.listed_at IS NULL AND v.fingerprint IS NOT NULL),
           pg_catalog.count(*) FILTER (WHERE v.needed AND v.listed_at IS NULL AND v.fingerprint IS NOT NULL),
           pg_catalog.string_agg(v.listed_at || ': ' || v.problem, '; ' ORDER BY v.listed_at) FILTER (WHERE v.fingerprint IS NULL),
           pg_catalog.count(*) FILTER (WHERE v.fingerprint IS NULL),
           pg_catalog.count(*) FILTER (WHERE v.listed_at IS NOT NULL),
           COALESCE(pg_catalog.sum(v.restrictions) FILTER (WHERE v.listed_at IS NULL AND v.fingerprint IS NOT NULL), 0)
      INTO conn, n, stored, m, nkeys, unlisted_restrictions
      FROM privacy.key_versions v;
    IF m OPERATOR(pg_catalog.>) 0 THEN
      status := 'error';
      detail := pg_catalog.format('pg_privacy.key_file lists key files that cannot be used: %s', stored);
      hint := 'Fix or remove them and reload: checking what was made under an older key fails while one cannot be read.';
    ELSIF unlisted_restrictions OPERATOR(pg_catalog.>) 0 THEN
      status := 'error';
      detail := pg_catalog.format('restrictions were made under %s replaced key(s) that are not listed: %s', n, conn);
      hint := 'List the file of each after the current key''s in pg_privacy.key_file and reload: until then every update of a table that holds data subjects, is_restricted, unrestrict_subject, export_subject and the purge''s anonymization refuse (they cannot tell whom those restrictions cover).';
    ELSIF n OPERATOR(pg_catalog.>) 0 THEN
      status := 'warning';
      detail := pg_catalog.format('what was made under %s replaced key(s) cannot be verified: %s', n, conn);
      hint := 'List the file of each after the current key''s in pg_privacy.key_file and reload; verify_audit_log and replay_erasures refuse until then.';
    ELSE
      status := 'ok';
      detail := pg_catalog.format('%s key(s) listed; every key the audit log, the erasure ledger and the restrictions need is listed', nkeys);
      hint := NULL;
    END IF;
  EXCEPTION WHEN OTHERS THEN
    status := 'error';
    detail := SQLERRM;
    hint := 'Check pg_privacy.key_file: every listed file must be a usable key file.';
  END;
  RETURN NEXT;
  conn := NULL;
  stored := NULL;

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
  -- a protected Citus table whose shards carry another rule than the
  -- catalog signs now (src/protect.c, signed rules)
  -- (a rule can only be compared under the database's key: without it
  -- the key area reports, and this check is skipped)
  BEGIN
    FOR r IN SELECT t.tbl FROM privacy.registered_table t
              WHERE EXISTS (SELECT FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) t.tbl)
                AND privacy_internal._citus_table(t.tbl)
                AND privacy_internal._protect_rule_stale(t.tbl)
              ORDER BY t.tbl::text LOOP
      n := n OPERATOR(pg_catalog.+) 1;
      status := 'error';
      detail := pg_catalog.format('%s: the protect rule on its shards is not the one the catalog gives now (renamed, another owner, or a domain taken away)', r.tbl);
      hint := pg_catalog.format('Run SELECT privacy.protect(%L) on the coordinator.', r.tbl::text);
      RETURN NEXT;
    END LOOP;
  EXCEPTION WHEN object_not_in_prerequisite_state OR undefined_file OR invalid_parameter_value THEN
    NULL;
  END;
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

  -- 9. Masking: each masked role still one the masks hold for (mask_role's
  -- conditions, which a later GRANT or ALTER ROLE can break).
  area := 'masking';
  m := 0;
  FOR r IN
    SELECT m.role::oid AS rid, a.rolname, a.oid IS NULL AS gone,
           COALESCE(x.files, false) AS reads_files, x.tables AS owns
      FROM privacy.masked_role m
      LEFT JOIN pg_catalog.pg_roles a ON a.oid OPERATOR(pg_catalog.=) m.role::oid
      LEFT JOIN LATERAL privacy_internal._mask_reads_around(a.oid) x ON a.oid IS NOT NULL
     ORDER BY m.role::oid
  LOOP
    IF r.gone THEN
      status := 'warning';
      detail := pg_catalog.format('a masked role (OID %s) no longer exists', r.rid);
      hint := 'A role created again under its name is not masked: mask it with privacy.mask_role().';
      RETURN NEXT;
      m := m + 1;
    ELSIF r.reads_files OR r.owns IS NOT NULL THEN
      status := 'error';
      detail := CASE WHEN r.reads_files
                     THEN pg_catalog.format('masked role %I is a superuser, a replication role or may read the server''s files: it reads around the masks', r.rolname)
                     ELSE pg_catalog.format('masked role %I owns, may add triggers to, or may reference in a foreign key, registered tables (%s): its code sees their rows in clear', r.rolname, r.owns) END;
      hint := 'Take the attribute, the membership, the ownership, or the TRIGGER or REFERENCES privilege back (mask_role refuses such roles).';
      RETURN NEXT;
      m := m + 1;
    END IF;
  END LOOP;
  IF m OPERATOR(pg_catalog.=) 0 THEN
    status := 'ok';
    detail := pg_catalog.format('masked roles: %s', (SELECT pg_catalog.count(*) FROM privacy.masked_role));
    hint := NULL;
    RETURN NEXT;
  END IF;

  -- 11. The erasure ledger (75_subject_ledger.sql): configured, and the
  -- database where its ledger is.
  area := 'erasure ledger';
  hint := NULL;
  IF NOT privacy_internal._ledger_configured() THEN
    status := 'warning';
    detail := 'no erasure ledger: a restore from a backup taken before an erasure brings the erased subject back, and nothing says so';
    hint := 'Set pg_privacy.erasure_ledger_file to a file outside the data directory (doc/operations.md, "Erasures that survive a restore") and reload.';
    RETURN NEXT;
  ELSIF pg_catalog.pg_is_in_recovery() THEN
    status := 'ok';
    detail := 'a standby: the primary records erasures in the ledger';
    RETURN NEXT;
  ELSE
    BEGIN
      SELECT (i).* INTO r FROM (SELECT privacy_internal._ledger_identity() AS i) y;
      SELECT t.seq, t.mac INTO m, conn FROM privacy_internal._ledger_tail(r.database_id::text) t;
      -- this database's own lines after where it is, and its sources'
      SELECT pg_catalog.count(*) INTO n
        FROM privacy_internal._ledger_entries() e
        JOIN pg_catalog.jsonb_array_elements(pg_catalog.jsonb_build_array(
               pg_catalog.jsonb_build_object('db', r.database_id, 'seq', r.last_seq)) OPERATOR(pg_catalog.||) r.sources) ch
          ON e.chain::text OPERATOR(pg_catalog.=) (ch OPERATOR(pg_catalog.->>) 'db')
       WHERE e.verified IS NOT TRUE AND (e.seq IS NULL OR e.seq OPERATOR(pg_catalog.>) (ch OPERATOR(pg_catalog.->>) 'seq')::bigint);
      IF r.database_id IS NULL THEN
        status := 'error';
        detail := 'this database has no erasure ledger identity (privacy.erasure_ledger_state is empty)';
        hint := 'The next erasure makes one; erasures recorded under its old identity are not replayed here.';
      ELSIF n OPERATOR(pg_catalog.>) 0 THEN
        status := 'error';
        detail := pg_catalog.format('%s line(s) of this database''s erasure ledger do not verify (altered, damaged, or made under a key pg_privacy.key_file does not list)', n);
        hint := 'List the keys the ledger was written under in pg_privacy.key_file (privacy.key_versions), or put back the ledger file from its own backup; replay_erasures refuses until then.';
      ELSIF r.here OPERATOR(pg_catalog.<>) privacy_internal._ledger_here() THEN
        status := 'error';
        detail := 'this database was restored or copied from another place: erasures recorded after its backup may not be applied, and it refuses new ones';
        hint := 'Run SELECT * FROM privacy.replay_erasures();';
      ELSIF COALESCE(m, 0) OPERATOR(pg_catalog.>) r.last_seq THEN
        status := 'error';
        detail := pg_catalog.format('this database is older than its erasure ledger: %s erasure(s) recorded after its last one are not applied, and it refuses new ones',
                                    m OPERATOR(pg_catalog.-) r.last_seq);
        hint := 'Run SELECT * FROM privacy.replay_erasures();';
      ELSIF COALESCE(m, 0) OPERATOR(pg_catalog.<) r.last_seq THEN
        status := 'error';
        detail := pg_catalog.format('the erasure ledger lacks this database''s erasures up to number %s: it is not this database''s ledger, or lost lines', r.last_seq);
        hint := 'Set pg_privacy.erasure_ledger_file to this database''s ledger, or put the file back from its own backup (privacy.fork_erasure_ledger() starts a new chain if it is lost).';
      ELSIF m IS NOT NULL AND conn IS DISTINCT FROM r.last_mac THEN
        status := 'error';
        detail := pg_catalog.format('another database wrote this database''s chain in the erasure ledger (entry number %s is not the one it wrote)', m);
        hint := 'In each physical copy that is not the original, run SELECT privacy.fork_erasure_ledger(); then replay_erasures() here.';
      ELSIF EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(r.sources) src
                     WHERE (SELECT t.seq FROM privacy_internal._ledger_tail(src OPERATOR(pg_catalog.->>) 'db') t)
                           OPERATOR(pg_catalog.>) (src OPERATOR(pg_catalog.->>) 'seq')::bigint) THEN
        status := 'warning';
        detail := 'the database this one was restored or copied from recorded erasures since that are not applied here';
        hint := 'Run SELECT * FROM privacy.replay_erasures(); (a copy kept for tests: every night).';
      ELSE
        status := 'ok';
        detail := pg_catalog.format('%s erasure(s) recorded; the database is where its ledger is', r.last_seq);
      END IF;
    EXCEPTION WHEN OTHERS THEN
      status := 'error';
      detail := SQLERRM;
      hint := 'The erasure ledger cannot be read: see the server log, and doc/operations.md.';
    END;
    RETURN NEXT;
  END IF;
END
$$;

-- Views, triggers, comments and configuration new or changed in 0.12.0 (generated)

-- Nothing after the functions: 0.12.0 changes no view, trigger or data.


-- Privileges: every GRANT and REVOKE of the 0.12.0 install script, in its order (generated)

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
