-- Retention: declarative policies, their legal minimums, and legal holds.
-- The purge that carries them out is in 55_purge.sql.
--
-- A policy says, for one registered table, which column dates a row, how
-- long a row is kept (optionally counted from the end of the calendar or
-- financial period the row falls in), whether an expired row is deleted or
-- anonymized, and the legal minimum no row is purged before.  A policy
-- turns into one instant per run, the cutoff: rows dated before it are
-- expired.
--
-- What a purge leaves alone: rows under a legal hold (the identifier in
-- any declared column of its kind, in any written form) and the
-- partitions holding one; rows under their legal minimum (the rule of
-- _legal_minimum_from, which erasure applies too); and, when anonymizing,
-- the rows of restricted data subjects (which may be stored, not changed).
-- The hold predicate (_hold_predicate) is shared by the purge and erasure.

------------------------------------------------------------------------
-- Catalog
------------------------------------------------------------------------

CREATE TABLE privacy.retention_policy (
  tbl           regclass PRIMARY KEY REFERENCES privacy.registered_table ON DELETE CASCADE,
  time_column   name NOT NULL,
  time_attnum   smallint NOT NULL,     -- kept current by _retention_policy_attnum
  keep          interval NOT NULL CHECK (keep OPERATOR(pg_catalog.>) interval '0'),
  action        text NOT NULL CHECK (action IN ('delete', 'anonymize')),
  keep_at_least interval CHECK (keep_at_least OPERATOR(pg_catalog.>) interval '0'),
  align         text CHECK (align IN ('day', 'week', 'month', 'quarter', 'year')),
  year_start    smallint NOT NULL DEFAULT 1 CHECK (year_start BETWEEN 1 AND 12),
  time_zone     text NOT NULL,
  generalize    text NOT NULL DEFAULT 'day'
                CHECK (generalize IN ('minute', 'hour', 'day', 'week', 'month', 'quarter', 'year')),
  set_at        timestamptz NOT NULL DEFAULT now(),
  set_by        name NOT NULL
);
COMMENT ON TABLE privacy.retention_policy IS
  'pg_privacy: retention policies, one per registered table';
CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE ON privacy.retention_policy
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._catalog_changed();   -- (src/subject.c)
CREATE TRIGGER catalog_truncated AFTER TRUNCATE ON privacy.retention_policy
  FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._catalog_changed();
ALTER TABLE privacy.retention_policy ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;

-- Legal holds: the identifier is kept normalized by its kind, because the
-- purge must find the subject's rows (through each column's transformation)
-- in tables declared after the hold was placed.
CREATE SEQUENCE privacy.legal_hold_id_seq;
CREATE TABLE privacy.legal_hold (
  id          bigint PRIMARY KEY DEFAULT pg_catalog.nextval('privacy.legal_hold_id_seq'),
  kind        text NOT NULL REFERENCES privacy.identifier_kind,
  value       text NOT NULL,          -- normalized identifier
  reason      text NOT NULL,
  placed_at   timestamptz NOT NULL DEFAULT now(),
  placed_by   name NOT NULL,
  until       timestamptz,
  released_at timestamptz,
  released_by name
);
ALTER SEQUENCE privacy.legal_hold_id_seq OWNED BY privacy.legal_hold.id;
CREATE INDEX legal_hold_active_idx ON privacy.legal_hold (kind) WHERE released_at IS NULL;
COMMENT ON TABLE privacy.legal_hold IS
  'pg_privacy: legal holds; rows of a subject under an active hold are never purged';

-- Work in progress of a purge, per table, committed with every batch.
CREATE TABLE privacy.retention_progress (
  tbl          regclass PRIMARY KEY REFERENCES privacy.retention_policy ON DELETE CASCADE,
  run_id       bigint NOT NULL,        -- the run now working on it
  first_run_id bigint NOT NULL,        -- the run that started this pass
  runs         integer NOT NULL DEFAULT 1,
  started_at   timestamptz NOT NULL,
  cutoff       timestamptz NOT NULL,
  phase        text NOT NULL CHECK (phase IN ('partitions', 'rows')),
  next_from    text,                   -- keyset: the next batch starts here
  rows         bigint NOT NULL DEFAULT 0,
  partitions   integer NOT NULL DEFAULT 0,
  dropped      text[] NOT NULL DEFAULT '{}',
  dropped_rows_estimate bigint NOT NULL DEFAULT 0,
  pending      oid[],                  -- expired partitions still to drop
  batches      integer NOT NULL DEFAULT 0
);
COMMENT ON TABLE privacy.retention_progress IS
  'pg_privacy: purges under way (an interrupted run_purge is continued from here)';

CREATE SEQUENCE privacy.retention_run_seq;

SELECT pg_catalog.pg_extension_config_dump('privacy.retention_policy', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.legal_hold', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.legal_hold_id_seq', '');

-- Keep time_attnum matching the column name, also for rows restored from a
-- dump (attribute numbers can change across a restore).
CREATE FUNCTION privacy_internal._retention_policy_attnum() RETURNS trigger
  LANGUAGE plpgsql
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  SELECT a.attnum INTO NEW.time_attnum FROM pg_catalog.pg_attribute a
   WHERE a.attrelid OPERATOR(pg_catalog.=) NEW.tbl
     AND a.attname OPERATOR(pg_catalog.=) NEW.time_column
     AND NOT a.attisdropped;
  IF NEW.time_attnum IS NULL THEN
    RAISE EXCEPTION 'column "%" of relation % does not exist', NEW.time_column, NEW.tbl
      USING ERRCODE = '42703';
  END IF;
  RETURN NEW;
END
$$;
CREATE TRIGGER retention_policy_attnum
  BEFORE INSERT OR UPDATE OF tbl, time_column ON privacy.retention_policy
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._retention_policy_attnum();
-- (also in logical replication's apply: the column's number on this server)
ALTER TABLE privacy.retention_policy ENABLE ALWAYS TRIGGER retention_policy_attnum;

-- A renamed time column is followed by the catalog's one rename-following
-- mechanism (privacy_internal._follow_column_rename, 20_catalog.sql).

------------------------------------------------------------------------
-- Internal helpers
------------------------------------------------------------------------

-- Statements run as a table's owner (src/retention.c).
CREATE FUNCTION privacy_internal._owner_exec(tbl regclass, sql text, args text[] DEFAULT '{}',
                                    lock_timeout_ms integer DEFAULT 0)
  RETURNS bigint
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_owner_exec';
COMMENT ON FUNCTION privacy_internal._owner_exec(regclass, text, text[], integer) IS
  'internal: run a statement with text parameters as the table owner in a security-restricted operation; rows processed';

CREATE FUNCTION privacy_internal._owner_query(tbl regclass, sql text, args text[] DEFAULT '{}',
                                     lock_timeout_ms integer DEFAULT 0)
  RETURNS text
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_owner_query';
COMMENT ON FUNCTION privacy_internal._owner_query(regclass, text, text[], integer) IS
  'internal: run a query as the table owner in a security-restricted operation; first value as text';

-- The advisory lock keys: one purge at a time; holds against batches.
CREATE FUNCTION privacy_internal._lock_key(what text) RETURNS integer
  LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN CASE what WHEN 'purge' THEN 1 WHEN 'hold' THEN 2 END;
END
$$;
COMMENT ON FUNCTION privacy_internal._lock_key(text) IS
  'internal: second key of the advisory locks of purge and holds (first key: 0x70677072)';

-- The start of the period (align) that ts falls in, in the time zone; the
-- financial year (and its quarters) start in month year_start.
CREATE FUNCTION privacy_internal._period_start(ts timestamptz, align text, year_start integer, zone text)
  RETURNS timestamptz
  LANGUAGE plpgsql STABLE PARALLEL SAFE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  local timestamp := ts AT TIME ZONE zone;
  shift interval := pg_catalog.make_interval(months => year_start OPERATOR(pg_catalog.-) 1);
BEGIN
  IF align IS NULL THEN
    RETURN ts;
  END IF;
  IF align IN ('quarter', 'year') THEN
    local := pg_catalog.date_trunc(align, local OPERATOR(pg_catalog.-) shift) OPERATOR(pg_catalog.+) shift;
  ELSE
    local := pg_catalog.date_trunc(align, local);
  END IF;
  RETURN local AT TIME ZONE zone;
END
$$;
COMMENT ON FUNCTION privacy_internal._period_start(timestamptz, text, integer, text) IS
  'internal: start of the day/week/month/quarter/(financial) year a time falls in, in a time zone';

-- The legal minimum, one rule for purge and erasure alike: at time `at`,
-- a row of the policy's table dated at or after _legal_minimum_from(p, at)
-- is still under its legal minimum (keep_at_least counted from the end of
-- the row's period, in the policy's time zone, or from the row's time
-- without alignment); NULL when the policy has none.  The purge never
-- takes such a row (its cutoff is at most this instant), and erasure keeps
-- it (privacy_internal._legal_minimum_sql).  _legal_minimum_until says until when a
-- row is kept: the first instant at which this rule lets it go.
CREATE FUNCTION privacy_internal._legal_minimum_from(p privacy.retention_policy, at timestamptz)
  RETURNS timestamptz
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF p.keep_at_least IS NULL OR at IS NULL THEN
    RETURN NULL;
  END IF;
  RETURN privacy_internal._period_start(((at AT TIME ZONE p.time_zone) OPERATOR(pg_catalog.-) p.keep_at_least) AT TIME ZONE p.time_zone,
                               p.align, p.year_start, p.time_zone);
END
$$;
COMMENT ON FUNCTION privacy_internal._legal_minimum_from(privacy.retention_policy, timestamptz) IS
  'internal: rows dated at or after this instant are under the legal minimum of the policy at time at (NULL: no minimum)';

-- The cutoff of a policy at a given time: rows dated before it are
-- expired.  A row is expired when `keep` has passed since the end of its
-- period (or since its time, without alignment), and its legal minimum
-- (privacy_internal._legal_minimum_from) as well.
CREATE FUNCTION privacy_internal._retention_cutoff(p privacy.retention_policy, at timestamptz)
  RETURNS timestamptz
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  local timestamp := at AT TIME ZONE p.time_zone;
  c timestamptz;
BEGIN
  c := privacy_internal._period_start((local OPERATOR(pg_catalog.-) p.keep) AT TIME ZONE p.time_zone,
                             p.align, p.year_start, p.time_zone);
  IF p.keep_at_least IS NOT NULL THEN
    c := LEAST(c, privacy_internal._legal_minimum_from(p, at));
  END IF;
  RETURN c;
END
$$;
COMMENT ON FUNCTION privacy_internal._retention_cutoff(privacy.retention_policy, timestamptz) IS
  'internal: the instant before which rows of a policy''s table are expired';

-- Until when the legal minimum of a table's policy keeps a row dated ts:
-- keep_at_least after the end of the row's period (or after ts without
-- alignment); NULL when the table has no legal minimum.  Erasure reports
-- it as kept_until; whether a row is kept is decided by
-- _legal_minimum_from, of which this is the inverse.
CREATE FUNCTION privacy_internal._legal_minimum_until(tbl regclass, ts timestamptz) RETURNS timestamptz
  LANGUAGE plpgsql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  p privacy.retention_policy;
  local timestamp;
BEGIN
  SELECT * INTO p FROM privacy.retention_policy r WHERE r.tbl OPERATOR(pg_catalog.=) _legal_minimum_until.tbl;
  IF NOT FOUND OR p.keep_at_least IS NULL THEN
    RETURN NULL;
  END IF;
  local := privacy_internal._period_start(ts, p.align, p.year_start, p.time_zone) AT TIME ZONE p.time_zone;
  IF p.align IS NOT NULL THEN
    local := local OPERATOR(pg_catalog.+)
             CASE p.align WHEN 'quarter' THEN interval '3 months' ELSE ('1 ' || p.align)::interval END;
  END IF;
  RETURN (local OPERATOR(pg_catalog.+) p.keep_at_least) AT TIME ZONE p.time_zone;
END
$$;
COMMENT ON FUNCTION privacy_internal._legal_minimum_until(regclass, timestamptz) IS
  'internal: until when the legal minimum of the table''s retention policy keeps a row dated ts (NULL: no minimum)';

-- The legal minimum as SQL over a row of tbl (alias `alias`), for erasure:
-- keep_cond is true for the rows still under it at `at` (NULL when the
-- table has no legal minimum), row_time the row's time as timestamptz in
-- the policy's time zone (for _legal_minimum_until).  Only built-in
-- operators and literals: the statement runs as the table's owner.
CREATE FUNCTION privacy_internal._legal_minimum_sql(tbl regclass, alias text, at timestamptz,
                                           OUT keep_cond text, OUT row_time text)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  p privacy.retention_policy;
  typ regtype;
  col text;
BEGIN
  SELECT * INTO p FROM privacy.retention_policy r WHERE r.tbl OPERATOR(pg_catalog.=) _legal_minimum_sql.tbl;
  IF NOT FOUND OR p.keep_at_least IS NULL THEN
    RETURN;
  END IF;
  SELECT pg_catalog.quote_ident(alias) || '.' || pg_catalog.quote_ident(a.attname), a.atttypid::regtype
    INTO col, typ
    FROM pg_catalog.pg_attribute a
   WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attnum OPERATOR(pg_catalog.=) p.time_attnum
     AND NOT a.attisdropped;
  IF typ IS NULL OR typ NOT IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype) THEN
    RAISE EXCEPTION 'the time column of the retention policy of % is missing or not a time', tbl
      USING ERRCODE = '55000', HINT = 'Set the policy again with privacy.set_retention().';
  END IF;
  -- the purge's own comparison, negated (a date is kept whole while any
  -- of its day is under the minimum)
  keep_cond := pg_catalog.format('(%s OPERATOR(pg_catalog.>=) %L::%s)', col,
                                 privacy_internal._retention_literal(privacy_internal._legal_minimum_from(p, at), typ, p.time_zone),
                                 typ);
  row_time := CASE typ
                WHEN 'timestamptz'::regtype THEN col
                WHEN 'timestamp'::regtype THEN pg_catalog.format('pg_catalog.timezone(%L, %s)', p.time_zone, col)
                ELSE pg_catalog.format('pg_catalog.timezone(%L, %s::pg_catalog.timestamp)', p.time_zone, col) END;
END
$$;
COMMENT ON FUNCTION privacy_internal._legal_minimum_sql(regclass, text, timestamptz) IS
  'internal: SQL condition that a row is under the legal minimum of the table''s policy, and its time, for erasure';

-- An interval in words ("5 years", "6 months", "1 year 2 days"), the
-- same whatever the session's IntervalStyle.
CREATE FUNCTION privacy_internal._interval_text(i interval) RETURNS text
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT COALESCE(NULLIF(pg_catalog.concat_ws(' ',
           CASE WHEN y OPERATOR(pg_catalog.=) 1 THEN '1 year' WHEN y OPERATOR(pg_catalog.<>) 0 THEN y || ' years' END,
           CASE WHEN m OPERATOR(pg_catalog.=) 1 THEN '1 month' WHEN m OPERATOR(pg_catalog.<>) 0 THEN m || ' months' END,
           CASE WHEN d OPERATOR(pg_catalog.=) 1 THEN '1 day' WHEN d OPERATOR(pg_catalog.<>) 0 THEN d || ' days' END,
           CASE WHEN t OPERATOR(pg_catalog.<>) interval '0' THEN pg_catalog.to_char(t, 'HH24:MI:SS') END), ''), '0')
    FROM (SELECT pg_catalog.date_part('year', i)::integer AS y, pg_catalog.date_part('month', i)::integer AS m,
                 pg_catalog.date_part('day', i)::integer AS d,
                 i OPERATOR(pg_catalog.-) pg_catalog.date_trunc('day', i) AS t) v
$$;

-- A policy in words, for the record of processing.
CREATE FUNCTION privacy_internal._retention_text(p privacy.retention_policy) RETURNS text
  LANGUAGE sql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT CASE WHEN p.tbl IS NOT NULL THEN pg_catalog.concat(
    CASE p.action WHEN 'delete' THEN 'deleted' ELSE 'anonymized' END,
    ' ', privacy_internal._interval_text(p.keep),
    CASE WHEN p.align IS NULL THEN ' after ' || p.time_column
         WHEN p.align OPERATOR(pg_catalog.=) 'year' AND p.year_start OPERATOR(pg_catalog.<>) 1
           THEN ' after the end of the financial year (from month ' || p.year_start || ') of ' || p.time_column
         ELSE ' after the end of the ' || p.align || ' of ' || p.time_column END,
    CASE WHEN p.keep_at_least IS NOT NULL THEN ', never before ' || privacy_internal._interval_text(p.keep_at_least) END) END
$$;

-- The form an identifier is stored in by a protect transformation; NULL
-- when the transformation refuses it (then no row can hold it there).
CREATE FUNCTION privacy_internal._stored_form(value text, protect text, domain text, identifies text)
  RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF value IS NULL OR protect IS NULL OR domain IS NULL THEN
    RETURN NULL;
  END IF;
  RETURN privacy_internal._transform(value, protect, domain, identifies);
EXCEPTION WHEN data_exception THEN
  RETURN NULL;
END
$$;

-- The usual written forms of normalized identifiers: a phone number in
-- E.164 also as 00<digits>, <digits>, and the national number of the
-- default country; others as they are.  A column protected before its
-- transformation normalized what it was given stores the transform of
-- the form that was typed; these are the forms a hold looks for there.
CREATE FUNCTION privacy_internal._retention_written_forms(vals text[], mode text, dc text) RETURNS text[]
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  v text;
  n text;
  i integer;
  out text[] := '{}';
BEGIN
  IF vals IS NULL THEN
    RETURN NULL;
  END IF;
  IF mode IS DISTINCT FROM 'msisdn' THEN
    RETURN vals;
  END IF;
  FOREACH v IN ARRAY vals LOOP
    out := out || v;
    CONTINUE WHEN v IS NULL OR v OPERATOR(pg_catalog.!~) '^\+[0-9]+$';
    out := out || ('00' || pg_catalog.substr(v, 2)) || pg_catalog.substr(v, 2);
    -- national forms: those the default country reads as this number
    FOR i IN 1..3 LOOP
      n := pg_catalog.substr(v, 2 OPERATOR(pg_catalog.+) i);
      IF privacy.lookup_value('msisdn', n, dc) IS NOT DISTINCT FROM v THEN
        out := out || n;
      END IF;
      IF privacy.lookup_value('msisdn', '0' || n, dc) IS NOT DISTINCT FROM v THEN
        out := out || ('0' || n);
      END IF;
    END LOOP;
  END LOOP;
  RETURN out;
END
$$;
COMMENT ON FUNCTION privacy_internal._retention_written_forms(text[], text, text) IS
  'internal: usual written forms of normalized identifiers (a number in E.164, 00 and national forms)';

-- The legal-hold predicate over a row of tbl: true when any registered
-- column that holds an identifier of a held kind (owner or mention) holds
-- a held identifier, in any written form.  Used by the purge and by
-- erasure, so that a hold keeps a row whichever subject is being purged or
-- erased.  The held values never enter the SQL text (it may be logged):
-- they are held_args, which the statement reads as $3, $4, ... (param_key
-- NULL, the purge) or from its jsonb parameter $1 under param_key (the
-- erasure's statements).  `alias` qualifies the columns.
CREATE FUNCTION privacy_internal._hold_arg(args text[], param_key text) RETURNS text
  LANGUAGE sql IMMUTABLE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT CASE WHEN param_key IS NULL
              THEN '$' || (pg_catalog.cardinality(args) OPERATOR(pg_catalog.+) 2)::text || '::pg_catalog.text[]'
              ELSE pg_catalog.format('($1 OPERATOR(pg_catalog.->) %L OPERATOR(pg_catalog.->>) %s)::pg_catalog.text[]',
                                     param_key, pg_catalog.cardinality(args) OPERATOR(pg_catalog.-) 1) END
$$;

CREATE FUNCTION privacy_internal._hold_predicate(tbl regclass, alias text, param_key text,
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
      -- and, while relations of the table are pending under an older key
      -- (src/sql/36_rekey.sql), a held number's pseudonym under that key
      -- too: its rows are kept whichever key they are under
      SELECT pg_catalog.array_agg(DISTINCT x.f) INTO vals
        FROM (SELECT f
                FROM pg_catalog.unnest(privacy_internal._retention_written_forms(c.vals, c.normalize, dc)) v,
                     privacy_internal._stored_form(v, c.protect, c.domain, c.identifies) f
              UNION
              SELECT privacy_internal._msisdn_under(k, v, c.domain, false)
                FROM pg_catalog.unnest(privacy_internal._rekey_keys(_hold_predicate.tbl)) k,
                     pg_catalog.unnest(c.vals) v
               WHERE c.protect OPERATOR(pg_catalog.=) 'msisdn_fpe') x
       WHERE x.f IS NOT NULL;
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
    -- an msisdn_fpe column, whose pseudonyms are numbers themselves,
    -- unless the table has no protect trigger: never protected, or
    -- unprotected since, its rows may hold the number raw; or rows from
    -- before protect_in_batches() are not converted yet: a hold keeps too
    -- much rather than too little)
    IF norms IS NOT NULL AND (c.protect IS DISTINCT FROM 'msisdn_fpe'
                              OR NOT privacy_internal._has_protect_trigger(_hold_predicate.tbl)
                              OR privacy_internal._raw_relation(_hold_predicate.tbl) IS NOT NULL) THEN
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
COMMENT ON FUNCTION privacy_internal._hold_predicate(regclass, text, text) IS
  'internal: SQL predicate true for rows of the table that hold an identifier under an active legal hold';

------------------------------------------------------------------------
-- Policies
------------------------------------------------------------------------

CREATE FUNCTION privacy.set_retention(tbl regclass, time_column name, keep interval,
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
COMMENT ON FUNCTION privacy.set_retention(regclass, name, interval, text, interval, text, integer, text, text) IS
  'set (or replace) the retention policy of a registered table: rows older than keep (counted from the end of the align period, a financial year starting in month year_start) are deleted or anonymized, never before keep_at_least';

CREATE FUNCTION privacy.drop_retention(tbl regclass) RETURNS void
  LANGUAGE plpgsql VOLATILE STRICT
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  old privacy.retention_policy;
BEGIN
  SELECT * INTO old FROM privacy.retention_policy p WHERE p.tbl OPERATOR(pg_catalog.=) drop_retention.tbl FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'table % has no retention policy', tbl USING ERRCODE = '55000';
  END IF;
  PERFORM privacy_internal._check_owner(tbl);
  DELETE FROM privacy.retention_policy p WHERE p.tbl OPERATOR(pg_catalog.=) drop_retention.tbl;
  PERFORM privacy_internal._audit('retention.drop', tbl::text,
                         pg_catalog.jsonb_build_object('previous', privacy_internal._retention_text(old)));
END
$$;
COMMENT ON FUNCTION privacy.drop_retention(regclass) IS 'remove the retention policy of a table';

CREATE VIEW privacy.retention_policies AS
SELECT p.tbl AS table_name, t.purpose, p.time_column, p.keep, p.align AS period,
       CASE WHEN p.align IN ('year', 'quarter') THEN p.year_start END AS year_start,
       p.action, p.keep_at_least, p.time_zone,
       CASE WHEN p.action OPERATOR(pg_catalog.=) 'anonymize' THEN p.generalize END AS generalize,
       privacy_internal._retention_cutoff(p, pg_catalog.now()) AS expired_before,
       privacy_internal._retention_text(p) AS description,
       p.set_at, p.set_by,
       g.tbl IS NOT NULL AS purge_under_way
  FROM privacy.retention_policy p
  JOIN privacy.registered_table t ON t.tbl OPERATOR(pg_catalog.=) p.tbl
  LEFT JOIN privacy.retention_progress g ON g.tbl OPERATOR(pg_catalog.=) p.tbl;
COMMENT ON VIEW privacy.retention_policies IS
  'retention policies: what is kept how long, what happens then, and the cutoff as of now';

------------------------------------------------------------------------
-- Legal holds
------------------------------------------------------------------------


CREATE FUNCTION privacy.hold(kind text, value text, reason text, until timestamptz DEFAULT NULL)
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  norm text;
  new_id bigint;
BEGIN
  IF kind IS NULL OR value IS NULL OR reason IS NULL THEN
    RAISE EXCEPTION 'kind, value and reason must not be null' USING ERRCODE = '22004';
  END IF;
  IF pg_catalog.btrim(reason) OPERATOR(pg_catalog.=) '' THEN
    RAISE EXCEPTION 'a legal hold needs a reason' USING ERRCODE = '22023';
  END IF;
  IF until IS NOT NULL AND until OPERATOR(pg_catalog.<=) pg_catalog.now() THEN
    RAISE EXCEPTION 'a legal hold must end in the future'
      USING ERRCODE = '22023', DETAIL = pg_catalog.format('until was %s.', until);
  END IF;
  -- the normal form under today's pg_privacy.default_country: a hold
  -- placed on a national number means the number it meant when placed
  norm := privacy_internal._identifier_normalize(kind, value);
  -- Wait for a purge batch in progress: it did not see this hold.  The
  -- next batch does.
  PERFORM pg_catalog.pg_advisory_xact_lock(1885827186, privacy_internal._lock_key('hold'));
  INSERT INTO privacy.legal_hold (kind, value, reason, placed_by, until)
       VALUES (kind, norm, reason, privacy_internal._invoker(), until)
    RETURNING id INTO new_id;
  PERFORM privacy_internal._audit('retention.hold', NULL,
                         pg_catalog.jsonb_build_object('hold', new_id, 'kind', kind,
                                                       'subject', privacy_internal._subject_ref(kind, value),
                                                       'until', until));
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION privacy.hold(text, text, text, timestamptz) IS
  'place a legal hold on a data subject: rows holding the identifier are not purged until the hold ends or is released';

CREATE FUNCTION privacy.release_hold(hold_id bigint) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  h privacy.legal_hold;
BEGIN
  IF hold_id IS NULL THEN
    RAISE EXCEPTION 'hold id must not be null' USING ERRCODE = '22004';
  END IF;
  SELECT * INTO h FROM privacy.legal_hold l WHERE l.id OPERATOR(pg_catalog.=) hold_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'legal hold % does not exist', hold_id USING ERRCODE = '22023';
  END IF;
  IF h.released_at IS NOT NULL THEN
    RAISE EXCEPTION 'legal hold % was already released', hold_id
      USING ERRCODE = '55000', DETAIL = pg_catalog.format('It was released at %s.', h.released_at);
  END IF;
  UPDATE privacy.legal_hold l SET released_at = pg_catalog.now(), released_by = privacy_internal._invoker()
   WHERE l.id OPERATOR(pg_catalog.=) hold_id;
  PERFORM privacy_internal._audit('retention.release_hold', NULL,
                         pg_catalog.jsonb_build_object('hold', hold_id, 'kind', h.kind,
                                                       'subject', privacy_internal._subject_ref(h.kind, h.value)));
END
$$;
COMMENT ON FUNCTION privacy.release_hold(bigint) IS
  'end a legal hold: the subject''s expired rows are purged by the next run';

CREATE VIEW privacy.legal_holds AS
SELECT h.id, h.kind,
       CASE k.normalize WHEN 'msisdn' THEN privacy.mask_msisdn(h.value)
                        ELSE pg_catalog.left(h.value, 2) || '***' END AS masked_value,
       h.reason, h.placed_at, h.placed_by, h.until, h.released_at, h.released_by,
       (h.released_at IS NULL AND (h.until IS NULL OR h.until OPERATOR(pg_catalog.>) pg_catalog.now())) AS active
  FROM privacy.legal_hold h
  JOIN privacy.identifier_kind k ON k.name OPERATOR(pg_catalog.=) h.kind;
COMMENT ON VIEW privacy.legal_holds IS
  'legal holds with masked identifiers, and whether each is active';
