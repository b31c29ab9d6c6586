-- Restriction (GDPR Art. 18): a restricted subject's rows may be stored
-- and exported, not updated; the restriction check (src/subject.c) on
-- every subject table refuses an UPDATE that touches them.

------------------------------------------------------------------------
-- Restriction (GDPR Art. 18)
------------------------------------------------------------------------

-- The restriction trigger: AFTER UPDATE, FOR EACH STATEMENT, with the old
-- rows as a transition table (src/subject.c).  It fires for the table's
-- owner's (or any writer's) UPDATE and works in steps, so that the old
-- rows are read, and anything of their types evaluated, only with the
-- rights of the table's owner:
--   1. as the extension owner, _restrict_values_sql: NULL at once when
--      no restriction is in force; else the query over the old rows;
--   2. as the owner of the table, in a security-restricted operation: that
--      query, giving each distinct (column, stored value) of the old rows'
--      owner identifiers once, all built-in text;
--   3. as the extension owner, _restrict_hits: the keyed reference of each
--      distinct value (decrypted when stored by msisdn_fpe), against the
--      restrictions in force whatever their periods; NULL, the usual
--      answer, ends the check;
--   4. only for values some restriction holds: as the table's owner again,
--      _restrict_rows_sql's query, the rows that hold them with their
--      periods (validity or event time); and as the extension owner,
--      _restrict_check, the periods against the restrictions', an error on
--      a hit.
-- The period of a row is read only in step 4: an UPDATE of many rows
-- costs one reference per distinct identifier, not a value per row.

-- The owner identifier columns of fired (a registered table or a partition
-- of one) that the restriction check reads, each checked against its
-- declaration (fail closed on a column whose type changed since).
CREATE FUNCTION privacy_internal._restrict_cols(fired regclass)
  RETURNS SETOF privacy_internal._subject_column
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  reg regclass;
  c   privacy_internal._subject_column;
BEGIN
  SELECT a.relid INTO reg
    FROM (SELECT fired AS relid, 0 AS o
          UNION ALL
          SELECT p.relid, p.o FROM pg_catalog.pg_partition_ancestors(fired) WITH ORDINALITY p(relid, o)) a
    JOIN privacy.registered_table t ON t.tbl OPERATOR(pg_catalog.=) a.relid
   ORDER BY a.o LIMIT 1;
  FOR c IN SELECT * FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc
            WHERE sc.tbl OPERATOR(pg_catalog.=) reg AND sc.link OPERATOR(pg_catalog.=) 'owner'
              AND (sc.protect IS NULL OR sc.protect OPERATOR(pg_catalog.=) 'msisdn_fpe')
            ORDER BY sc.attnum LOOP
    PERFORM privacy_internal._subject_check(c);
    RETURN NEXT c;
  END LOOP;
END
$$;
COMMENT ON FUNCTION privacy_internal._restrict_cols(regclass) IS
  'internal: the owner identifier columns the restriction check of a table reads';

-- The restriction check of the library before 0.10.0 (a backend that
-- loaded it before the package was upgraded, until it ends): the owner's
-- query over all the old rows of fired with their periods, for
-- _restrict_check, or NULL when there is nothing to check.
CREATE FUNCTION privacy_internal._restrict_sql(fired regclass)
  RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF NOT EXISTS (SELECT FROM privacy.restriction r
                  WHERE r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()) THEN
    RETURN NULL;
  END IF;
  RETURN privacy_internal._restrict_rows_sql(fired, false);
END
$$;
COMMENT ON FUNCTION privacy_internal._restrict_sql(regclass) IS
  'internal: the restriction trigger''s query over the old rows, run as the table''s owner; NULL when no restriction is active';

-- Step 1: the owner's query over the old rows of fired, giving each
-- distinct (column, stored value) once as [[column, value], ...], or NULL
-- when there is nothing to check.  Kept per backend.  (Values compared
-- byte for byte, whatever the columns' collations: "C".)
CREATE FUNCTION privacy_internal._restrict_values_sql(fired regclass)
  RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  key   text := 'restrict_values:' || fired::oid::text;
  q     text;
BEGIN
  IF NOT EXISTS (SELECT FROM privacy.restriction r
                  WHERE r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()) THEN
    RETURN NULL;
  END IF;
  q := privacy_internal._subject_cache_get(key);
  IF q IS NOT NULL THEN
    RETURN NULLIF(q, '');
  END IF;
  SELECT 'SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(u.col, u.val)) FROM (SELECT DISTINCT x.col, x.val FROM ('
         || pg_catalog.string_agg(pg_catalog.format(
              'SELECT %L::pg_catalog.text AS col, t.%I::pg_catalog.text COLLATE pg_catalog."C" AS val FROM pgp_old_rows t WHERE t.%I IS NOT NULL',
              c.col, c.col, c.col), ' UNION ALL ' ORDER BY c.attnum)
         || ') x) u'
    INTO q
    FROM privacy_internal._restrict_cols(fired) c;
  PERFORM privacy_internal._subject_cache_put(key, COALESCE(q, ''));
  RETURN q;
END
$$;
COMMENT ON FUNCTION privacy_internal._restrict_values_sql(regclass) IS
  'internal: the restriction trigger''s query over the old rows (each distinct identifier once), run as the table''s owner; NULL when no restriction is in force';

-- The restrictions in force that hold a value of vals ([[column, stored
-- value, ...], ...]), whatever their periods: per distinct (column,
-- value), its keyed reference under every key a restriction was made with
-- (read once; the value decrypted first when stored by msisdn_fpe).
-- Its query is planned once per backend (a generic plan): it runs for
-- every UPDATE statement of a registered table while a restriction is in
-- force, and a plan made for each call's values cost more than the check.
CREATE FUNCTION privacy_internal._restrict_matches(fired regclass, vals jsonb)
  RETURNS TABLE(col text, val text, is_validity boolean, has_event boolean, reason text, span tstzmultirange)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET plan_cache_mode = force_generic_plan
AS $$
DECLARE
  dc   text := privacy_internal._default_country();
  keys text[] := privacy_internal._restriction_keys();
  -- While relations of the table are pending under an older key
  -- (src/sql/36_rekey.sql), a stored phone number is read back under that
  -- key too: a restricted subject's row is refused whichever key it is
  -- under (and, rarely, another row whose number under the other key is
  -- hers: refused too, never hers let through).
  pend text[] := CASE WHEN EXISTS (SELECT FROM privacy.rekey_pending)
                      THEN privacy_internal._rekey_keys(fired) ELSE '{}' END;
BEGIN
  RETURN QUERY
  WITH n AS MATERIALIZED (
         SELECT d.col, d.val, c.kind, c.is_validity, c.event_time IS NOT NULL AS has_event, r.norm
           FROM (SELECT DISTINCT x OPERATOR(pg_catalog.->>) 0 AS col, x OPERATOR(pg_catalog.->>) 1 AS val
                   FROM pg_catalog.jsonb_array_elements(vals) x) d
           JOIN privacy_internal._restrict_cols(fired) c ON c.col OPERATOR(pg_catalog.=) d.col::name
           CROSS JOIN LATERAL (
             SELECT CASE WHEN c.protect IS NOT NULL THEN privacy_internal._msisdn_decrypt(d.val, c.domain)
                         ELSE privacy.lookup_value(c.mode, d.val, dc) END
             UNION
             SELECT privacy_internal._msisdn_under(k.fp, d.val, c.domain, true)
               FROM pg_catalog.unnest(pend) k(fp)
              WHERE c.protect IS NOT NULL
             -- and read as a raw number: a row written before the table was
             -- protected, or while it was not (a number read both ways
             -- that is a restricted subject's is refused either way)
             UNION
             SELECT privacy.lookup_value(c.mode, d.val, dc)
              WHERE c.protect IS NOT NULL) r(norm)),
       -- (each reference computed once per value and key)
       nk AS MATERIALIZED (
         SELECT n.col, n.val, n.kind, n.is_validity, n.has_event,
                privacy_internal._audit_ref_under(k.fp, n.kind, n.norm) AS ref
           FROM n CROSS JOIN pg_catalog.unnest(keys) k(fp)
          WHERE n.norm IS NOT NULL)
  SELECT nk.col, nk.val, nk.is_validity, nk.has_event, r.reason, r.span
    FROM nk JOIN privacy.restriction r
      ON r.kind OPERATOR(pg_catalog.=) nk.kind AND r.subject_ref OPERATOR(pg_catalog.=) nk.ref
   WHERE r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now();
END
$$;
COMMENT ON FUNCTION privacy_internal._restrict_matches(regclass, jsonb) IS
  'internal: the restrictions in force that hold an identifier value of the old rows, whatever their periods';

-- Step 3: of vals ([[column, stored value], ...] from step 2), the stored
-- values a restriction in force holds, whatever its period; NULL when
-- none.
-- (PL/pgSQL, whose plan is kept, where an SQL function with settings
-- would be parsed and planned at every call.)
CREATE FUNCTION privacy_internal._restrict_hits(fired regclass, vals jsonb)
  RETURNS text[]
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN (SELECT pg_catalog.array_agg(DISTINCT m.val) FROM privacy_internal._restrict_matches(fired, vals) m);
END
$$;
COMMENT ON FUNCTION privacy_internal._restrict_hits(regclass, jsonb) IS
  'internal: the old rows'' identifier values a restriction in force holds (whatever its period), or NULL';

-- Step 4: the owner's query over the old rows of fired that hold one of
-- the values $1 (text[], from step 3; filtered false: every old row),
-- giving [[column, stored value, period], ...] for _restrict_check.  Kept
-- per backend.
CREATE FUNCTION privacy_internal._restrict_rows_sql(fired regclass, filtered boolean DEFAULT true)
  RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  key   text := CASE WHEN filtered THEN 'restrict_rows:' ELSE 'restrict:' END || fired::oid::text;
  q     text;
BEGIN
  q := privacy_internal._subject_cache_get(key);
  IF q IS NOT NULL THEN
    RETURN NULLIF(q, '');
  END IF;
  SELECT 'SELECT pg_catalog.jsonb_agg(DISTINCT pg_catalog.jsonb_build_array(u.col, u.val, u.span)) FROM ('
         || pg_catalog.string_agg(pg_catalog.format(
              'SELECT %L::pg_catalog.text AS col, t.%I::pg_catalog.text AS val, %s AS span FROM pgp_old_rows t WHERE %s',
              c.col, c.col,
              CASE WHEN c.is_validity THEN
                     pg_catalog.format('pg_catalog.tstzrange(t.%s::pg_catalog.timestamptz, t.%s::pg_catalog.timestamptz, ''[)'')::pg_catalog.text',
                                       COALESCE(pg_catalog.quote_ident(c.valid_from), 'NULL'),
                                       COALESCE(pg_catalog.quote_ident(c.valid_to), 'NULL'))
                   WHEN c.event_time IS NOT NULL THEN
                     pg_catalog.format('t.%I::pg_catalog.timestamptz::pg_catalog.text', c.event_time)
                   ELSE 'NULL::pg_catalog.text' END,
              CASE WHEN filtered
                   THEN pg_catalog.format('t.%I::pg_catalog.text COLLATE pg_catalog."C" OPERATOR(pg_catalog.=) ANY ($1)', c.col)
                   ELSE pg_catalog.format('t.%I IS NOT NULL', c.col) END),
              ' UNION ALL ' ORDER BY c.attnum)
         || ') u'
    INTO q
    FROM privacy_internal._restrict_cols(fired) c;
  PERFORM privacy_internal._subject_cache_put(key, COALESCE(q, ''));
  RETURN q;
END
$$;
COMMENT ON FUNCTION privacy_internal._restrict_rows_sql(regclass, boolean) IS
  'internal: the restriction trigger''s query over the old rows holding restricted values (or all of them), with their periods, run as the table''s owner';

-- Step 4, the check: refuse the UPDATE when an old row belongs to a
-- restricted subject in the restriction's period.  vals: [[column, stored
-- value, period], ...] from _restrict_rows_sql's query.  The keyed
-- reference is computed once per distinct value.
CREATE FUNCTION privacy_internal._restrict_check(fired regclass, vals jsonb)
  RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  hit  record;
BEGIN
  IF vals IS NULL THEN
    RETURN;
  END IF;
  WITH e AS (SELECT x OPERATOR(pg_catalog.->>) 0 AS col, x OPERATOR(pg_catalog.->>) 1 AS val,
                    x OPERATOR(pg_catalog.->>) 2 AS span
               FROM pg_catalog.jsonb_array_elements(vals) x)
  SELECT h.col, h.reason INTO hit
    FROM privacy_internal._restrict_matches(fired, vals) h
    JOIN e ON e.col OPERATOR(pg_catalog.=) h.col AND e.val OPERATOR(pg_catalog.=) h.val
   WHERE CASE WHEN h.is_validity THEN h.span OPERATOR(pg_catalog.&&) e.span::tstzrange
              WHEN h.has_event THEN h.span OPERATOR(pg_catalog.=) '{(,)}'::tstzmultirange
                                    OR h.span OPERATOR(pg_catalog.@>) e.span::timestamptz
              ELSE true END
   LIMIT 1;
  IF hit.col IS NOT NULL THEN
    -- the UPDATE statement may name the subject: not logged
    PERFORM privacy_internal._raise_hidden('55000', 'cannot update a row of a data subject whose processing is restricted',
            pg_catalog.format('A row of %s belongs, by its column "%s", to a restricted subject (%s).',
                              fired, hit.col, hit.reason),
            'Rows of a restricted subject can be stored and exported only; lift the restriction with privacy.unrestrict_subject().');
  END IF;
END
$$;
COMMENT ON FUNCTION privacy_internal._restrict_check(regclass, jsonb) IS
  'internal: refuses the UPDATE when an old row''s identifier belongs to a restricted subject';

CREATE FUNCTION privacy_internal._restrict_trigger() RETURNS trigger
  LANGUAGE c
  AS 'MODULE_PATHNAME', 'pgp_restrict_trigger';
COMMENT ON FUNCTION privacy_internal._restrict_trigger() IS
  'internal: refuses UPDATE of rows of restricted data subjects (statement-level, transition table; reads the old rows as the table''s owner)';

-- Install the restriction trigger on every registered table with owner
-- identifiers (and on each partition, for UPDATEs aimed at a partition).
-- Not on a table Citus manages: Citus takes no statement trigger with a
-- transition table there, and the CREATE TRIGGER would fail the DDL that
-- ran this (every DDL of the database, while a restriction exists).  Such
-- a table shows in catalog_problems and health() instead, its restriction
-- check missing; restrict_subject refuses while Citus manages a
-- registered table (doc/operations.md, Citus).
CREATE FUNCTION privacy_internal._restrict_install()
  RETURNS integer
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r record;
  n integer := 0;
BEGIN
  FOR r IN SELECT p.relid
             FROM (SELECT DISTINCT sc.tbl FROM privacy_internal._subject_column sc
                    WHERE sc.link OPERATOR(pg_catalog.=) 'owner') t
             CROSS JOIN LATERAL (SELECT t.tbl::oid::regclass AS relid
                                 UNION SELECT pt.relid FROM pg_catalog.pg_partition_tree(t.tbl) pt) p
             JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) p.relid
            WHERE k.relkind IN ('r', 'p')
              AND NOT EXISTS (SELECT FROM pg_catalog.pg_trigger g
                               WHERE g.tgrelid OPERATOR(pg_catalog.=) p.relid
                                 AND g.tgname OPERATOR(pg_catalog.=) 'zx_pg_privacy_restrict')
              AND NOT privacy_internal._citus_table(p.relid)
            ORDER BY p.relid LOOP
    -- (checked again: the event trigger that follows each CREATE TRIGGER
    -- installs what is missing too)
    CONTINUE WHEN EXISTS (SELECT FROM pg_catalog.pg_trigger g
                           WHERE g.tgrelid OPERATOR(pg_catalog.=) r.relid
                             AND g.tgname OPERATOR(pg_catalog.=) 'zx_pg_privacy_restrict');
    EXECUTE pg_catalog.format(
      'CREATE TRIGGER zx_pg_privacy_restrict AFTER UPDATE ON %s REFERENCING OLD TABLE AS pgp_old_rows '
      'FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._restrict_trigger()', r.relid::regclass);
    n := n OPERATOR(pg_catalog.+) 1;
  END LOOP;
  RETURN n;
END
$$;

-- After CREATE TABLE and ALTER TABLE ... ATTACH PARTITION (called by the
-- event trigger, src/protect.c, and granted to no one): while subjects are
-- restricted, a partition created or attached under a subject table gets
-- its restriction check (statement triggers are not cloned to
-- partitions).  After those commands only: pg_restore creates the checks
-- of the tables it restores itself, after their indexes and constraints,
-- whose DDL would otherwise have installed them first and made its own
-- CREATE TRIGGER fail (and with it a restore in one transaction).
CREATE FUNCTION privacy_internal._restrict_on_partition_ddl()
  RETURNS void
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF EXISTS (SELECT FROM privacy.restriction) THEN
    PERFORM privacy_internal._restrict_install();
  END IF;
END
$$;

-- Why the restriction check of a subject table is not in force (see
-- privacy_internal._trigger_problem), or NULL.  The check is an AFTER UPDATE
-- statement trigger on the table and on each partition (statement triggers
-- are not cloned to partitions; _restrict_install adds them, also to
-- partitions created later).  It must be in force while any subject is
-- restricted.  Reads pg_catalog only.
CREATE FUNCTION privacy_internal._restrict_problem(tbl regclass) RETURNS text
  LANGUAGE sql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT privacy_internal._trigger_problem(tbl, 'zx_pg_privacy_restrict', 'privacy_internal._restrict_trigger()'::regprocedure,
                                  16, NULL)   -- 16: STATEMENT AFTER UPDATE
$$;

-- Record restrictions of the subject's identifiers; returns how many.
CREATE FUNCTION privacy_internal._restrict_ids(kinds text[], vals text[], spans tstzmultirange[],
                                      reason text, origin text, until timestamptz)
  RETURNS integer
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  n integer;
  c regclass;
BEGIN
  -- The restriction check cannot be put on a table Citus manages
  -- (_restrict_install): a restriction would not hold there, and DDL on it
  -- would be refused for as long as it lasts.  Fail closed, for
  -- restrict_subject and for the erasure that would restrict what it keeps.
  SELECT t.tbl INTO c
    FROM (SELECT DISTINCT sc.tbl FROM privacy_internal._subject_column sc
           WHERE sc.link OPERATOR(pg_catalog.=) 'owner') t
   WHERE privacy_internal._citus_table(t.tbl)
   ORDER BY t.tbl::text LIMIT 1;
  IF c IS NOT NULL THEN
    RAISE EXCEPTION 'cannot restrict a data subject while Citus manages subject table %', c
      USING ERRCODE = '0A000',
            DETAIL = 'A restriction (GDPR Art. 18) is enforced by a check on every table that holds data subjects'' rows, '
                     'and pg_privacy cannot put that check on tables Citus manages: updates of the subject''s rows there '
                     'would not be refused. An erasure restricts the rows it keeps (legal minimum, legal hold, referenced rows), '
                     'so an erasure that keeps rows refuses too, and changes nothing.',
            HINT = 'Erase the subject once its rows are past their legal minimum and no legal hold is on it, '
                   'or keep the tables with a legal minimum out of Citus (see doc/operations.md, Citus).';
  END IF;
  INSERT INTO privacy.restriction AS r (kind, subject_ref, span, reason, origin, until, restricted_by, key_fingerprint)
  SELECT u.k, privacy_internal._audit_ref(u.k, u.v), u.s, reason, origin, until, privacy_internal._invoker(),
         privacy.key_fingerprint()
    FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(vals), pg_catalog.unnest(spans)) u(k, v, s)
  ON CONFLICT ON CONSTRAINT restriction_pkey DO UPDATE
     SET span = r.span OPERATOR(pg_catalog.+) EXCLUDED.span,
         -- (the same reference made now: it is under the current key)
         key_fingerprint = EXCLUDED.key_fingerprint,
         reason = EXCLUDED.reason, origin = EXCLUDED.origin,
         until = CASE WHEN r.until IS NULL OR EXCLUDED.until IS NULL THEN NULL
                      ELSE GREATEST(r.until, EXCLUDED.until) END;
  GET DIAGNOSTICS n = ROW_COUNT;
  PERFORM privacy_internal._restrict_install();
  RETURN n;
END
$$;

CREATE FUNCTION privacy.restrict_subject(kind text, value text, reason text, at timestamptz DEFAULT NULL)
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  ids  record;
  n    integer;
BEGIN
  -- audited: on the coordinator only; refused while Citus manages a
  -- subject table (_restrict_ids: the check cannot be put there)
  PERFORM privacy_internal._citus_refuse_worker('restrict_subject');
  IF reason IS NULL OR pg_catalog.btrim(reason) OPERATOR(pg_catalog.=) '' THEN
    RAISE EXCEPTION 'a restriction needs a reason' USING ERRCODE = '22023',
      HINT = 'Say why processing is restricted, e.g. ''accuracy contested (Art. 18(1)(a))''.';
  END IF;
  ids := privacy_internal._subject_identifiers(kind, value, at);
  n := privacy_internal._restrict_ids(ids.kinds, ids.vals, ids.spans, reason, 'request', NULL);
  PERFORM privacy_internal._audit('subject.restrict', NULL,
    pg_catalog.jsonb_build_object('kind', kind, 'subject', privacy_internal._audit_ref(kind, ids.vals[1]),
                                  'identifiers', n, 'reason', reason));
END
$$;
COMMENT ON FUNCTION privacy.restrict_subject(text, text, text, timestamptz) IS
  'restrict processing of a data subject (GDPR Art. 18): every identifier of the subject is restricted; its rows can be stored and exported, not updated; audited';

CREATE FUNCTION privacy.unrestrict_subject(kind text, value text, at timestamptz DEFAULT NULL)
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  ids record;
  n   integer;
BEGIN
  ids := privacy_internal._subject_identifiers(kind, value, at);
  DELETE FROM privacy.restriction r
   WHERE r.origin OPERATOR(pg_catalog.=) 'request'
     AND (r.kind, r.subject_ref) IN (SELECT u.k, x.ref
                                       FROM ROWS FROM (pg_catalog.unnest(ids.kinds), pg_catalog.unnest(ids.vals)) u(k, v),
                                            pg_catalog.unnest(privacy_internal._restriction_refs(u.k, u.v, false)) x(ref));
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n OPERATOR(pg_catalog.=) 0 THEN
    PERFORM privacy_internal._raise_hidden('55000', 'data subject is not restricted',
      'No identifier of this subject has a restriction requested by the subject; restrictions kept after an erasure end on their own.');
  END IF;
  PERFORM privacy_internal._audit('subject.unrestrict', NULL,
    pg_catalog.jsonb_build_object('kind', kind, 'subject', privacy_internal._audit_ref(kind, ids.vals[1]),
                                  'identifiers', n));
END
$$;
COMMENT ON FUNCTION privacy.unrestrict_subject(text, text, timestamptz) IS
  'lift the restriction of a data subject requested with restrict_subject; audited';

CREATE FUNCTION privacy.is_restricted(kind text, value text)
  RETURNS boolean
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  norm text;
BEGIN
  norm := privacy_internal._identifier_normalize(kind, value);
  RETURN EXISTS (SELECT FROM privacy.restriction r
                  WHERE r.kind OPERATOR(pg_catalog.=) is_restricted.kind
                    AND r.subject_ref OPERATOR(pg_catalog.=) ANY (privacy_internal._restriction_refs(is_restricted.kind, norm))
                    AND (r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()));
END
$$;
COMMENT ON FUNCTION privacy.is_restricted(text, text) IS
  'whether processing of the identifier''s subject is restricted (by request, or for rows kept after an erasure)';
