-- Erasure (GDPR Art. 17): the subject found by 70_subject_find.sql is
-- deleted where the law lets go, scrubbed where other subjects' rows
-- mention it, and kept and restricted where a legal minimum, a hold or a
-- reference keeps it; the consent history keeps its proof under a keyed
-- reference.

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

-- Whether foreign keys of other tables would refuse deleting rows of tbl
-- (an ordinary table), told without trying (src/engine.c, eng_fk_refused):
-- per constraint, the query that reads the keys of the rows about to go
-- as tbl's owner ("keys": a select list over tbl t, each referenced
-- column as text, aggregated) and the query that looks for rows holding
-- them as the referencing table's owner ("check": $1 those keys, with the
-- constraint's own equality operators), as a jsonb array; '-' when it
-- cannot be told so (a constraint that acts on delete, CASCADE, SET NULL
-- or SET DEFAULT, or is deferrable, or tbl referencing itself, or a key
-- of another type than integers, numeric, text, varchar, char and uuid, a
-- collation other than the built-in deterministic ones, an operator not
-- built in): the erasure then tries the deletion in a subtransaction.
-- Kept per backend by the engine until a table it names changes (it names
-- tables the subject cache does not watch).
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

-- The erasure and its report (src/engine.c): every searchable table locked
-- first; the subject found in a snapshot taken after the lock; tables in
-- order (referencing rows first: _subject_table_order); per table the
-- subject's rows deleted where no hold and no legal minimum keeps them,
-- kept (and the subject restricted) where one does, rows that other kept
-- rows still reference kept as long as they are, and the subject's
-- mentions in other subjects' rows scrubbed; then the consent history
-- pseudonymized (_subject_forget_consent) and what is kept restricted
-- (_restrict_ids).  The statements are the SQL builders' (_subject_stmts,
-- _subject_from), kept per backend and run as each table's owner.
CREATE FUNCTION privacy_internal._subject_erase(kind text, value text, at timestamptz)
  RETURNS TABLE(table_name regclass, action text, rows bigint, reason text, kept_until timestamptz)
  LANGUAGE c VOLATILE
  SET search_path = pg_catalog, pg_temp
  AS 'MODULE_PATHNAME', 'pgp_subject_erase';

-- The identifiers the last erasure of this transaction acted on (for the
-- erasure ledger, 75_subject_ledger.sql).
CREATE FUNCTION privacy_internal._subject_erased_identifiers(OUT kinds text[], OUT vals text[], OUT spans tstzmultirange[])
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_subject_erased_identifiers';
COMMENT ON FUNCTION privacy_internal._subject_erased_identifiers() IS
  'internal: the identifiers the last erasure of this transaction acted on';

-- The API entry (src/rights.c): refused as export_subject is, and when
-- it would keep rows while Citus manages a subject table (0A000,
-- _restrict_ids); the identifier normalized (22004, 22023, 22P02); dry_run
-- not null (22004); READ COMMITTED only (55000: an earlier snapshot could
-- miss rows written concurrently); with an erasure ledger, refused while
-- the database is behind it (_ledger_check, 75_subject_ledger.sql); the
-- erasure (_subject_erase's engine; a dry run does it in a subtransaction
-- rolled back, so that its report is exactly what an erasure would do
-- now); with a ledger, its entry (_ledger_record) when it found anything;
-- one audit entry (the kind, the subject's keyed reference, the report
-- without its reasons); the report.
CREATE FUNCTION privacy.erase_subject(kind text, value text, dry_run boolean DEFAULT false,
                                      at timestamptz DEFAULT NULL)
  RETURNS TABLE(table_name regclass, action text, rows bigint, reason text, kept_until timestamptz)
  LANGUAGE c VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
  AS 'MODULE_PATHNAME', 'pgp_erase_subject';
COMMENT ON FUNCTION privacy.erase_subject(text, text, boolean, timestamptz) IS
  'erase a data subject in one transaction (GDPR Art. 17): delete its rows, keep and restrict rows under a legal minimum or hold (saying why and until when), scrub its mentions in others'' rows, pseudonymize it in the consent history; dry_run reports without changing; audited';
