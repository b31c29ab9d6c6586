/* pg_privacy--0.9.0--0.10.0.sql: ALTER EXTENSION pg_privacy UPDATE TO '0.10.0'
 *
 * Assembled by src/upgrade/gen_upgrade.py from src/upgrade/0.9.0--0.10.0.pre.sql,
 * the differences between the 0.9.0 and 0.10.0 install scripts, and
 * src/upgrade/0.9.0--0.10.0.post.sql.  Edit those, not this file.
 */

\echo Use "ALTER EXTENSION pg_privacy UPDATE TO '0.10.0'" to load this file. \quit

-- Nothing before the functions: 0.10.0 changes no table.

-- Tables new in 0.10.0 (generated)

-- Functions removed, or whose arguments or result changed (generated)


-- Functions new or changed in 0.10.0, in the order of its install script (generated)

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

CREATE OR REPLACE FUNCTION privacy_internal._restrict_sql(fired regclass)
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

CREATE FUNCTION privacy_internal._restrict_matches(fired regclass, vals jsonb)
  RETURNS TABLE(col text, val text, is_validity boolean, has_event boolean, reason text, span tstzmultirange)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  dc   text := privacy_internal._default_country();
  keys text[] := privacy_internal._restriction_keys();
BEGIN
  RETURN QUERY
  WITH n AS MATERIALIZED (
         SELECT d.col, d.val, c.kind, c.is_validity, c.event_time IS NOT NULL AS has_event,
                CASE WHEN c.protect IS NOT NULL THEN privacy_internal._msisdn_decrypt(d.val, c.domain)
                     ELSE privacy.lookup_value(c.mode, d.val, dc) END AS norm
           FROM (SELECT DISTINCT x OPERATOR(pg_catalog.->>) 0 AS col, x OPERATOR(pg_catalog.->>) 1 AS val
                   FROM pg_catalog.jsonb_array_elements(vals) x) d
           JOIN privacy_internal._restrict_cols(fired) c ON c.col OPERATOR(pg_catalog.=) d.col::name),
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

CREATE FUNCTION privacy_internal._restrict_hits(fired regclass, vals jsonb)
  RETURNS text[]
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT pg_catalog.array_agg(DISTINCT m.val) FROM privacy_internal._restrict_matches(fired, vals) m
$$;

COMMENT ON FUNCTION privacy_internal._restrict_hits(regclass, jsonb) IS
  'internal: the old rows'' identifier values a restriction in force holds (whatever its period), or NULL';

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

CREATE OR REPLACE FUNCTION privacy_internal._restrict_check(fired regclass, vals jsonb)
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

CREATE FUNCTION privacy_internal._subject_fk_checks(tbl regclass)
  RETURNS text
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
  WITH k AS (
    SELECT c.oid, c.conrelid, c.confdeltype, c.condeferrable,
           u.i, pa.attname AS pkcol, pa.atttypid AS pktype, fa.attname AS fkcol, fa.atttypid AS fktype,
           pa.attcollation AS pkcoll, fa.attcollation AS fkcoll,
           o.oid AS op, o.oprname, o.oprleft, o.oprright
      FROM pg_catalog.pg_constraint c
      CROSS JOIN LATERAL ROWS FROM (pg_catalog.unnest(c.confkey), pg_catalog.unnest(c.conkey), pg_catalog.unnest(c.conpfeqop)) WITH ORDINALITY u(pk, fk, op, i)
      JOIN pg_catalog.pg_attribute pa ON pa.attrelid OPERATOR(pg_catalog.=) c.confrelid AND pa.attnum OPERATOR(pg_catalog.=) u.pk
      JOIN pg_catalog.pg_attribute fa ON fa.attrelid OPERATOR(pg_catalog.=) c.conrelid AND fa.attnum OPERATOR(pg_catalog.=) u.fk
      JOIN pg_catalog.pg_operator o ON o.oid OPERATOR(pg_catalog.=) u.op
     WHERE c.contype OPERATOR(pg_catalog.=) 'f' AND c.confrelid OPERATOR(pg_catalog.=) tbl
       AND c.conparentid OPERATOR(pg_catalog.=) 0),
  per AS (
    SELECT k.oid, k.conrelid,
           pg_catalog.bool_and(k.confdeltype IN ('a', 'r') AND NOT k.condeferrable
                               AND k.conrelid OPERATOR(pg_catalog.<>) tbl::pg_catalog.oid
                               -- keys whose text form reads back exactly, compared
                               -- byte for byte (deterministic built-in collations)
                               AND k.pktype IN ('int2'::pg_catalog.regtype, 'int4'::pg_catalog.regtype, 'int8'::pg_catalog.regtype,
                                                'numeric'::pg_catalog.regtype, 'text'::pg_catalog.regtype,
                                                'varchar'::pg_catalog.regtype, 'bpchar'::pg_catalog.regtype,
                                                'uuid'::pg_catalog.regtype)
                               AND k.fktype OPERATOR(pg_catalog.<) 16384
                               AND k.pkcoll IN (0, 100, 950, 951) AND k.fkcoll IN (0, 100, 950, 951)
                               AND k.op OPERATOR(pg_catalog.<) 16384) AS ok,
           'SELECT pg_catalog.jsonb_build_array('
           || pg_catalog.string_agg(pg_catalog.format('COALESCE(pg_catalog.array_agg(t.%I::pg_catalog.text), ''{}'')', k.pkcol), ', ' ORDER BY k.i)
           || ')' AS keys,
           'SELECT pg_catalog.to_jsonb(EXISTS (SELECT FROM ROWS FROM ('
           || pg_catalog.string_agg(pg_catalog.format('pg_catalog.jsonb_array_elements_text($1 OPERATOR(pg_catalog.->) %s)', k.i - 1), ', ' ORDER BY k.i)
           || ') z(' || pg_catalog.string_agg('v' || k.i, ', ' ORDER BY k.i) || ') JOIN '
           || CASE WHEN (SELECT r.relkind FROM pg_catalog.pg_class r WHERE r.oid OPERATOR(pg_catalog.=) k.conrelid) OPERATOR(pg_catalog.=) 'p'
                   THEN '' ELSE 'ONLY ' END
           || k.conrelid::pg_catalog.regclass::pg_catalog.text || ' x ON '
           -- (both sides of the constraint's operator of its own input
           -- types, without a length: what resolves to it exactly)
           || pg_catalog.string_agg(pg_catalog.format('z.v%s::%s OPERATOR(pg_catalog.%s) x.%I%s',
                                                      k.i, pg_catalog.format_type(k.oprleft, -1), k.oprname, k.fkcol,
                                                      CASE WHEN k.fktype OPERATOR(pg_catalog.=) k.oprright THEN ''
                                                           ELSE '::' OPERATOR(pg_catalog.||) pg_catalog.format_type(k.oprright, -1) END),
                                    ' AND ' ORDER BY k.i)
           || '))' AS chk
      FROM k GROUP BY k.oid, k.conrelid)
  SELECT CASE WHEN pg_catalog.bool_and(per.ok) THEN
           pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object('fk', per.conrelid::pg_catalog.oid::pg_catalog.text, 'keys', per.keys, 'check', per.chk)
                                ORDER BY per.oid)::pg_catalog.text
         ELSE '-' END
    FROM per
$$;

-- Views, triggers, comments and configuration new or changed in 0.10.0 (generated)

-- Nothing after the functions: 0.10.0 changes no view, trigger or data.


-- Privileges: every GRANT and REVOKE of the 0.10.0 install script, in its order (generated)

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
