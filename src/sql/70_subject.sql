-- Data-subject rights: finding a subject across every registered table,
-- export (GDPR Art. 15 and 20), erasure (Art. 17), restriction (Art. 18)
-- and the one-month deadline of every request (Art. 12(3)).
--
-- Finding a subject.  A subject is reached from one identifier (kind,
-- value), normalized by its kind.  Rows of a registered table whose owner
-- columns hold one identifier of the subject give the subject's other
-- identifiers (a subscription row ties a customer to a number): the search
-- follows them to a fixed point, at most 10 rounds and 500 identifiers.
-- Only owner columns link; a mention never pulls anyone in.
--
-- Reassigned identifiers.  privacy.set_subject_table() declares, per
-- table, which column's identifier is held only for a period
-- (validity_column, valid_from, valid_to: telco.subscription holds an
-- msisdn from valid_from to valid_to) and when a row's event happened
-- (event_time: telco.cdr.started_at).  A kind with a validity column is
-- "reassignable".  An identifier of a reassignable kind found through a
-- validity row is the subject's only during that row's period; one found
-- in a row with an event time is the subject's at that moment.  A row found
-- through a bounded identifier belongs to the subject only when its
-- validity overlaps, or its event time falls in, the identifier's period:
-- so the next holder of a number and the calls made from it are not the
-- subject's.  Starting from a reassignable identifier, the subject is its
-- holder at `at` (default now; the latest holder before that when nobody
-- holds it then).  Tables that declare no time take every row of the
-- identifier.
--
-- Columns stored transformed are searched through their transformation
-- (privacy._transform of the normalized value); msisdn_fpe columns are
-- also read back (privacy._msisdn_decrypt) to follow links.  Raw columns
-- of kind msisdn or email are searched by the normal form of what people
-- typed (privacy.lookup_value), which an expression index can serve;
-- privacy.missing_indexes lists identifying columns without a usable index.
--
-- Acting as the table's owner.  Every statement that reads or writes a
-- registered table runs as that table's owner in a security-restricted
-- operation with search_path pg_catalog, pg_temp (src/owner.c, through
-- src/subject.c: _subject_query and _subject_rows read, _subject_exec
-- writes; the restriction trigger reads the old rows the same way), never
-- as the extension owner or the caller: a cast to json of the owner's type
-- in the export, her trigger on the erasure's DELETE, her index
-- expressions run with her rights only.  These statements call nothing
-- the owner may not execute: the subject's identifiers travel as their
-- jsonb parameter, read by the pure C functions _subject_ids and
-- _subject_ids_span; keyed work (decrypting an msisdn_fpe column, keyed
-- references) is done by the extension on what the owner's query
-- returned, which is plain JSON and text.
--
-- Identifier columns (and the time columns that bound them) have built-in
-- types: text, varchar, char, smallint, integer, bigint or numeric
-- (timestamptz, timestamp or date), checked when declared
-- (register_column, set_subject_table) and again at every use
-- (privacy._subject_check): a column changed since to a domain, an enum or
-- any type of the owner's stops export, erasure and restriction with 42804
-- until it is changed back or unregistered, and privacy.catalog_problems
-- lists it.  So nothing of the owner's is evaluated where the extension
-- computes (casting, matching, normalizing identifiers).
--
-- Nothing here writes a raw identifier outside the registered tables:
-- restrictions and requests keep privacy._subject_ref() references, and
-- the audit log the same.

------------------------------------------------------------------------
-- Declarations
------------------------------------------------------------------------

CREATE TABLE privacy.subject_table (
  tbl             regclass PRIMARY KEY REFERENCES privacy.registered_table ON DELETE CASCADE,
  event_time      name,     -- when a row's event happened (timestamptz/date/timestamp)
  validity_column name,     -- the identifier column held only for a period
  valid_from      name,     -- period start (inclusive), NULL: since ever
  valid_to        name,     -- period end (exclusive), NULL: still held
  link_columns    name[],   -- owner identifier columns that tie identifiers together (NULL: all)
  source          text      -- where the data comes from (GDPR Art. 15(1)(g))
);
COMMENT ON TABLE privacy.subject_table IS
  'pg_privacy: how to find a data subject in a registered table: event time, validity of reassigned identifiers, linking columns, source';
SELECT pg_catalog.pg_extension_config_dump('privacy.subject_table', '');

-- Restricted identifiers (GDPR Art. 18), by keyed reference only.
CREATE TABLE privacy.restriction (
  kind          text        NOT NULL REFERENCES privacy.identifier_kind,
  subject_ref   text        NOT NULL,   -- privacy._subject_ref(kind, value)
  span          tstzmultirange NOT NULL DEFAULT '{(,)}',  -- when the identifier was the subject's
  reason        text        NOT NULL,
  origin        text        NOT NULL CHECK (origin IN ('request', 'erasure')),
  until         timestamptz,            -- NULL: until lifted
  restricted_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
  restricted_by name        NOT NULL,
  PRIMARY KEY (kind, subject_ref)
);
COMMENT ON TABLE privacy.restriction IS
  'pg_privacy: restricted data subjects (GDPR Art. 18) by keyed identifier reference; their rows can be stored and exported, not updated';
SELECT pg_catalog.pg_extension_config_dump('privacy.restriction', '');

CREATE SEQUENCE privacy.subject_request_id_seq;
CREATE TABLE privacy.subject_request (
  id               bigint      PRIMARY KEY DEFAULT pg_catalog.nextval('privacy.subject_request_id_seq'),
  kind             text        NOT NULL REFERENCES privacy.identifier_kind,
  subject_ref      text        NOT NULL,
  request          text        NOT NULL CHECK (request IN ('access', 'portability', 'erasure',
                                                            'rectification', 'restriction', 'objection')),
  received_at      timestamptz NOT NULL,
  extension_months integer     NOT NULL DEFAULT 0 CHECK (extension_months BETWEEN 0 AND 2),
  extension_reason text,
  closed_at        timestamptz,
  outcome          text,
  opened_by        name        NOT NULL,
  CHECK ((extension_months OPERATOR(pg_catalog.=) 0) = (extension_reason IS NULL)),
  CHECK ((closed_at IS NULL) = (outcome IS NULL))
);
CREATE INDEX subject_request_subject ON privacy.subject_request (subject_ref);
COMMENT ON TABLE privacy.subject_request IS
  'pg_privacy: data-subject requests (GDPR Art. 15-21) and their deadlines; subjects by keyed reference only';
SELECT pg_catalog.pg_extension_config_dump('privacy.subject_request', '');
SELECT pg_catalog.pg_extension_config_dump('privacy.subject_request_id_seq', '');

------------------------------------------------------------------------
-- C helpers (src/subject.c)
------------------------------------------------------------------------

-- privacy.lookup_value under the name 0.2.0's missing_indexes proposed for
-- expression indexes: kept so that such an index survives the update.  The
-- statements search by the public name (one index serves consent, holds,
-- export, erasure and restriction), so missing_indexes proposes the index
-- on privacy.lookup_value, and the old one can be dropped.
CREATE FUNCTION privacy._subject_key(mode text, value text, default_country text)
  RETURNS text
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_lookup_value';
COMMENT ON FUNCTION privacy._subject_key(text, text, text) IS
  'internal: privacy.lookup_value under its 0.2.0 name, for expression indexes made then';

CREATE FUNCTION privacy._subject_exec(tbl regclass, sql text, params jsonb)
  RETURNS bigint
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_subject_exec';
COMMENT ON FUNCTION privacy._subject_exec(regclass, text, jsonb) IS
  'internal: one erasure statement run as the table owner in a security-restricted operation';

CREATE FUNCTION privacy._subject_set_erasing(on_ boolean)
  RETURNS void
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_subject_set_erasing';
COMMENT ON FUNCTION privacy._subject_set_erasing(boolean) IS
  'internal: marks this transaction as running erase_subject (reset at transaction end)';

CREATE FUNCTION privacy._subject_erasing()
  RETURNS boolean
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_subject_erasing';
COMMENT ON FUNCTION privacy._subject_erasing() IS
  'internal: true while erase_subject runs its statements';

CREATE FUNCTION privacy._subject_query(tbl regclass, sql text, params jsonb)
  RETURNS jsonb
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_subject_query';
COMMENT ON FUNCTION privacy._subject_query(regclass, text, jsonb) IS
  'internal: one generated read-only query over a table and the subject''s identifiers, run as the table owner in a security-restricted operation, through a kept prepared plan';

CREATE FUNCTION privacy._subject_rows(tbl regclass, sql text, params jsonb)
  RETURNS SETOF jsonb
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_subject_rows';
COMMENT ON FUNCTION privacy._subject_rows(regclass, text, jsonb) IS
  'internal: the rows of a generated read-only query over a table, run as the table owner in a security-restricted operation';

CREATE FUNCTION privacy._subject_eval(sql text, tbl regclass, q text, params jsonb)
  RETURNS jsonb
  LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'pgp_subject_eval';
COMMENT ON FUNCTION privacy._subject_eval(text, regclass, text, jsonb) IS
  'internal: run a query built from the catalog over _subject_rows($1, $2, $3) through a plan kept per backend';

CREATE FUNCTION privacy._subject_cache_get(key text)
  RETURNS text
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_subject_cache_get';
COMMENT ON FUNCTION privacy._subject_cache_get(text) IS
  'internal: SQL generated from the catalog, cached per backend until a relcache invalidation';

CREATE FUNCTION privacy._subject_cache_put(key text, value text)
  RETURNS text
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_subject_cache_put';
COMMENT ON FUNCTION privacy._subject_cache_put(text, text) IS
  'internal: remember SQL generated from the catalog in the per-backend cache';

------------------------------------------------------------------------
-- Declaring how a table is searched
------------------------------------------------------------------------

-- The column's type, or an error naming what is wrong.
CREATE FUNCTION privacy._subject_check_column(tbl regclass, col name, what text, time_column boolean)
  RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  typ regtype;
BEGIN
  SELECT a.atttypid::regtype INTO typ FROM pg_catalog.pg_attribute a
   WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attname OPERATOR(pg_catalog.=) col
     AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'column "%" of relation % does not exist', col, tbl
      USING ERRCODE = '42703', DETAIL = pg_catalog.format('It was given as %s.', what);
  END IF;
  IF time_column AND typ NOT IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype) THEN
    RAISE EXCEPTION '% column "%" of relation % must be a date or time stamp', what, col, tbl
      USING ERRCODE = '42804',
            DETAIL = pg_catalog.format('It has type %s.', typ);
  END IF;
END
$$;

CREATE FUNCTION privacy.set_subject_table(tbl regclass,
                                          event_time name DEFAULT NULL,
                                          validity_column name DEFAULT NULL,
                                          valid_from name DEFAULT NULL,
                                          valid_to name DEFAULT NULL,
                                          link_columns name[] DEFAULT NULL,
                                          source text DEFAULT NULL)
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  c name;
BEGIN
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'table must not be null' USING ERRCODE = '22004';
  END IF;
  IF NOT EXISTS (SELECT FROM privacy.registered_table t WHERE t.tbl OPERATOR(pg_catalog.=) set_subject_table.tbl) THEN
    RAISE EXCEPTION 'table % is not registered', tbl
      USING ERRCODE = '55000', HINT = 'Register it with privacy.register_table() first.';
  END IF;
  PERFORM privacy._check_owner(tbl);
  IF event_time IS NOT NULL THEN
    PERFORM privacy._subject_check_column(tbl, event_time, 'event_time', true);
  END IF;
  IF (validity_column IS NULL) <> (valid_from IS NULL AND valid_to IS NULL) THEN
    RAISE EXCEPTION 'a validity column needs valid_from or valid_to, and they need a validity column'
      USING ERRCODE = '22023',
            HINT = 'Pass validity_column => ''msisdn'', valid_from => ''valid_from'', valid_to => ''valid_to''.';
  END IF;
  IF validity_column IS NOT NULL THEN
    IF NOT EXISTS (SELECT FROM privacy.registered_column r
                    WHERE r.tbl OPERATOR(pg_catalog.=) set_subject_table.tbl
                      AND r.col OPERATOR(pg_catalog.=) validity_column
                      AND r.identifies IS NOT NULL AND r.link OPERATOR(pg_catalog.=) 'owner') THEN
      RAISE EXCEPTION 'column "%" of relation % is not a registered owner identifier', validity_column, tbl
        USING ERRCODE = '22023',
              HINT = 'Register it with privacy.register_column(..., identifies => ...).';
    END IF;
    IF valid_from IS NOT NULL THEN
      PERFORM privacy._subject_check_column(tbl, valid_from, 'valid_from', true);
    END IF;
    IF valid_to IS NOT NULL THEN
      PERFORM privacy._subject_check_column(tbl, valid_to, 'valid_to', true);
    END IF;
  END IF;
  IF link_columns IS NOT NULL THEN
    FOREACH c IN ARRAY link_columns LOOP
      IF c IS NULL OR NOT EXISTS (SELECT FROM privacy.registered_column r
                                   WHERE r.tbl OPERATOR(pg_catalog.=) set_subject_table.tbl
                                     AND r.col OPERATOR(pg_catalog.=) c
                                     AND r.identifies IS NOT NULL
                                     AND r.link OPERATOR(pg_catalog.=) 'owner') THEN
        RAISE EXCEPTION 'link column "%" of relation % is not a registered owner identifier', c, tbl
          USING ERRCODE = '22023';
      END IF;
    END LOOP;
  END IF;
  INSERT INTO privacy.subject_table AS s (tbl, event_time, validity_column, valid_from, valid_to, link_columns, source)
       VALUES (tbl, event_time, validity_column, valid_from, valid_to, link_columns, source)
  ON CONFLICT ON CONSTRAINT subject_table_pkey DO UPDATE
       SET event_time = EXCLUDED.event_time, validity_column = EXCLUDED.validity_column,
           valid_from = EXCLUDED.valid_from, valid_to = EXCLUDED.valid_to,
           link_columns = EXCLUDED.link_columns, source = EXCLUDED.source;
  -- Every backend forgets the SQL it generated from the old declaration.
  PERFORM privacy._invalidate(tbl);
  PERFORM privacy._audit('subject.set_table', tbl::text,
                         pg_catalog.jsonb_build_object('event_time', event_time,
                                                       'validity_column', validity_column,
                                                       'valid_from', valid_from, 'valid_to', valid_to,
                                                       'link_columns', link_columns, 'source', source));
END
$$;
COMMENT ON FUNCTION privacy.set_subject_table(regclass, name, name, name, name, name[], text) IS
  'declare how a data subject is found in a registered table: event time of a row, the identifier held only from valid_from to valid_to, the columns that link identifiers, and the data''s source';

-- Every identifying column that can be searched, with what the search needs.
-- type_problem is NULL when the column (and the table's time columns) still
-- have the built-in types the search computes with; otherwise it says what
-- is wrong, and every use of the column fails closed (privacy._subject_check).
CREATE VIEW privacy._subject_column AS
SELECT c.tbl, c.col, c.attnum, c.identifies AS kind, c.link, c.protect, c.domain,
       k.normalize AS mode, a.atttypid::regtype AS typ, a.attnotnull AS notnull,
       s.event_time, s.valid_from, s.valid_to,
       (s.validity_column OPERATOR(pg_catalog.=) c.col) IS TRUE AS is_validity,
       (c.link OPERATOR(pg_catalog.=) 'owner'
        AND (s.link_columns IS NULL OR c.col OPERATOR(pg_catalog.=) ANY (s.link_columns))
        AND (c.protect IS NULL OR c.protect OPERATOR(pg_catalog.=) 'msisdn_fpe')) AS links,
       EXISTS (SELECT FROM privacy.subject_table v
                 JOIN privacy.registered_column vc
                   ON vc.tbl OPERATOR(pg_catalog.=) v.tbl AND vc.col OPERATOR(pg_catalog.=) v.validity_column
                WHERE vc.identifies OPERATOR(pg_catalog.=) c.identifies) AS reassignable,
       s.source,
       CASE WHEN NOT privacy._identifier_type_ok(a.atttypid)
            THEN pg_catalog.format('identifier column "%s" of relation %s has type %s',
                                   c.col, c.tbl, pg_catalog.format_type(a.atttypid, NULL))
            ELSE (SELECT pg_catalog.format('time column "%s" of relation %s has type %s',
                                           ta.attname, c.tbl, pg_catalog.format_type(ta.atttypid, NULL))
                    FROM pg_catalog.pg_attribute ta
                   WHERE ta.attrelid OPERATOR(pg_catalog.=) c.tbl AND NOT ta.attisdropped
                     AND ta.attname IN (s.event_time, s.valid_from, s.valid_to)
                     AND ta.atttypid NOT IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype)
                   ORDER BY ta.attnum LIMIT 1) END AS type_problem
  FROM privacy.registered_column c
  JOIN privacy.identifier_kind k ON k.name OPERATOR(pg_catalog.=) c.identifies
  JOIN pg_catalog.pg_attribute a
    ON a.attrelid OPERATOR(pg_catalog.=) c.tbl AND a.attname OPERATOR(pg_catalog.=) c.col AND NOT a.attisdropped
  LEFT JOIN privacy.subject_table s ON s.tbl OPERATOR(pg_catalog.=) c.tbl
 WHERE c.protect IS NULL OR c.protect IN ('msisdn_fpe', 'pseudonym', 'email_pseudonym');
COMMENT ON VIEW privacy._subject_column IS
  'internal: identifying columns a data subject can be searched by';

-- Fail closed on a column whose type is no longer one the search computes
-- with (a column changed to a domain, an enum or any type of the owner's
-- since it was declared): its casts, checks and operators are the owner's
-- code, and what it holds can no longer be matched as declared.
CREATE FUNCTION privacy._subject_check(c privacy._subject_column)
  RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF c.type_problem IS NOT NULL THEN
    RAISE EXCEPTION 'cannot search % for data subjects', c.tbl
      USING ERRCODE = '42804',
            DETAIL = pg_catalog.upper(pg_catalog.left(c.type_problem, 1)) || pg_catalog.substr(c.type_problem, 2)
                     || '; identifier columns must be text, varchar, char, smallint, integer, bigint or numeric, and time columns timestamptz, timestamp or date.',
            HINT = 'Change the column back to a built-in type, or unregister it (privacy.catalog_problems lists it).';
  END IF;
END
$$;

-- The searchable columns, from the per-backend cache (src/subject.c);
-- NULL when there is none.
CREATE FUNCTION privacy._subject_cols()
  RETURNS privacy._subject_column[]
  LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'pgp_subject_cols';
COMMENT ON FUNCTION privacy._subject_cols() IS
  'internal: the searchable identifier columns, kept per backend until a relcache invalidation';

-- Identifying columns whose lookup has no index: every export and erasure
-- then scans the table.
CREATE VIEW privacy.missing_indexes AS
SELECT c.tbl AS table_name, c.col AS column_name, c.kind AS identifies, c.link,
       CASE WHEN c.protect IS NULL AND c.mode IN ('msisdn', 'email') THEN 'normal form'
            ELSE 'stored value' END AS lookup,
       CASE WHEN c.protect IS NULL AND c.mode IN ('msisdn', 'email')
            THEN pg_catalog.format('CREATE INDEX ON %s (privacy.lookup_value(%L, %I%s, %L))',
                                   c.tbl, c.mode, c.col,
                                   CASE WHEN c.typ OPERATOR(pg_catalog.=) 'text'::regtype THEN '' ELSE '::text' END,
                                   privacy._default_country())
            ELSE pg_catalog.format('CREATE INDEX ON %s (%I)', c.tbl, c.col) END AS suggested_index
  FROM privacy._subject_column c
 WHERE NOT EXISTS (
   SELECT FROM pg_catalog.pg_index i
    WHERE i.indrelid OPERATOR(pg_catalog.=) c.tbl
      AND CASE WHEN c.protect IS NULL AND c.mode IN ('msisdn', 'email')
               THEN i.indkey[0] OPERATOR(pg_catalog.=) 0
                    AND pg_catalog.pg_get_indexdef(i.indexrelid, 1, true)
                        OPERATOR(pg_catalog.~) ('(^|\.)lookup_value\(''' || c.mode || '''::text, '
                                                || pg_catalog.regexp_replace(pg_catalog.quote_ident(c.col), '([^a-zA-Z0-9_])', '\\\1', 'g')
                                                || '(::text)?, ''' || privacy._default_country() || '''::text\)$')
               ELSE i.indkey[0] OPERATOR(pg_catalog.=) c.attnum END);
COMMENT ON VIEW privacy.missing_indexes IS
  'identifying columns without an index for the data-subject lookup (export, erasure, restriction), with the index to create';

------------------------------------------------------------------------
-- Finding a subject
------------------------------------------------------------------------

-- The SQL condition that a row (alias t) holds the identifier of a record
-- f(s text, span tstzmultirange, b boolean) in column c: f.s is the value as
-- the column stores it (prepared by _subject_params); for a bounded span
-- (f.b) the row's validity or event time must fall in it.
CREATE FUNCTION privacy._subject_match(c privacy._subject_column, dc text)
  RETURNS text
  LANGUAGE sql STABLE
AS $$
  SELECT CASE
           WHEN c.protect IS NOT NULL THEN pg_catalog.format('t.%I OPERATOR(pg_catalog.=) f.s', c.col)
           WHEN c.mode IN ('msisdn', 'email') THEN
             pg_catalog.format('privacy.lookup_value(%L, t.%I%s, %L) OPERATOR(pg_catalog.=) f.s', c.mode, c.col,
                               CASE WHEN c.typ OPERATOR(pg_catalog.=) 'text'::regtype THEN '' ELSE '::text' END, dc)
           WHEN c.typ IN ('text'::regtype, 'varchar'::regtype) THEN pg_catalog.format('t.%I OPERATOR(pg_catalog.=) f.s', c.col)
           -- built-in types only (privacy._subject_check): their casts
           ELSE pg_catalog.format('t.%I OPERATOR(pg_catalog.=) f.s::pg_catalog.%s', c.col,
                                  (SELECT y.typname FROM pg_catalog.pg_type y WHERE y.oid OPERATOR(pg_catalog.=) c.typ))
         END
      || CASE
           WHEN c.is_validity THEN
             pg_catalog.format(' AND (NOT f.b OR f.span OPERATOR(pg_catalog.&&) pg_catalog.tstzrange(t.%s::timestamptz, t.%s::timestamptz, ''[)''))',
                               COALESCE(pg_catalog.quote_ident(c.valid_from), 'NULL'),
                               COALESCE(pg_catalog.quote_ident(c.valid_to), 'NULL'))
           WHEN c.event_time IS NOT NULL THEN
             pg_catalog.format(' AND (NOT f.b OR f.span OPERATOR(pg_catalog.@>) t.%I::timestamptz)', c.event_time)
           ELSE ''
         END
$$;

-- The identifier a column of row t holds, in normal form (NULL when the
-- column's transformation cannot be reversed), as the table's owner can
-- compute it: a column protected by msisdn_fpe gives its stored pseudonym,
-- which the caller decrypts (privacy._subject_decrypt_expr) outside the
-- owner's query.
CREATE FUNCTION privacy._subject_value_expr(c privacy._subject_column, dc text)
  RETURNS text
  LANGUAGE sql STABLE
AS $$
  SELECT CASE
           WHEN c.protect OPERATOR(pg_catalog.=) 'msisdn_fpe' THEN pg_catalog.format('t.%I::pg_catalog.text', c.col)
           WHEN c.protect IS NOT NULL THEN 'NULL::pg_catalog.text'
           ELSE pg_catalog.format('privacy.lookup_value(%L, t.%I::pg_catalog.text, %L)', c.mode, c.col, dc)
         END
$$;

-- The domain whose key decrypts what _subject_value_expr gives for c, or
-- NULL when it is the identifier already.
CREATE FUNCTION privacy._subject_decrypt_domain(c privacy._subject_column)
  RETURNS text
  LANGUAGE sql STABLE
AS $$
  SELECT CASE WHEN c.protect OPERATOR(pg_catalog.=) 'msisdn_fpe' THEN c.domain END
$$;

-- The period for which an identifier found in column c of row t is the
-- subject's.
CREATE FUNCTION privacy._subject_span_expr(c privacy._subject_column)
  RETURNS text
  LANGUAGE sql STABLE
AS $$
  SELECT CASE
           WHEN c.is_validity THEN
             pg_catalog.format('pg_catalog.tstzmultirange(pg_catalog.tstzrange(t.%s::timestamptz, t.%s::timestamptz, ''[)''))',
                               COALESCE(pg_catalog.quote_ident(c.valid_from), 'NULL'),
                               COALESCE(pg_catalog.quote_ident(c.valid_to), 'NULL'))
           WHEN c.reassignable AND c.event_time IS NOT NULL THEN
             pg_catalog.format('pg_catalog.tstzmultirange(pg_catalog.tstzrange(t.%1$I::timestamptz, t.%1$I::timestamptz, ''[]''))',
                               c.event_time)
           ELSE '''{(,)}''::pg_catalog.tstzmultirange'
         END
$$;

-- For every searchable column, the subject's identifiers of its kind as
-- the column stores them: {"<table oid>.<attnum>": [{"s", "span", "b"}]}
-- (src/subject.c).  Every use fails closed on a column whose type changed
-- (privacy._subject_check); protected columns get the value through
-- privacy._transform; values that cannot be cast to a non-text column's
-- built-in type are left out.
CREATE FUNCTION privacy._subject_params(kinds text[], vals text[], spans tstzmultirange[])
  RETURNS jsonb
  LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'pgp_subject_params';

-- The subject's identifiers for one column (alias f), taken from the
-- statement's parameter $1 (_subject_params).  The generated statements run
-- as the table's owner, so they read the identifiers from their parameter
-- with built-in functions only, never through an internal helper the owner
-- may not execute.
-- The identifiers of one column in the statement's parameter, as rows
-- (src/subject.c).  A function of its own, so that the planner counts a
-- handful of rows (ROWS 4), not jsonb_to_recordset's hundred, and probes
-- each partition's index instead of scanning the table.  Pure: it reads
-- nothing but its argument, so the table owners the statements run as may
-- execute it (granted to PUBLIC in 94_subject_privileges.sql).
CREATE FUNCTION privacy._subject_ids(params jsonb, key text)
  RETURNS TABLE(s text, span tstzmultirange, b boolean)
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE ROWS 4
  AS 'MODULE_PATHNAME', 'pgp_subject_ids';

CREATE FUNCTION privacy._subject_ids_sql(key text)
  RETURNS text
  LANGUAGE sql IMMUTABLE
AS $$
  SELECT pg_catalog.format('privacy._subject_ids($1, %L) f', key)
$$;

-- The FROM clause of one branch: the subject's identifiers for column c
-- joined to the table's rows that hold them.
CREATE FUNCTION privacy._subject_from(c privacy._subject_column, dc text)
  RETURNS text
  LANGUAGE sql STABLE
AS $$
  SELECT pg_catalog.format(
           '%s JOIN %s t ON %s',
           privacy._subject_ids_sql(c.tbl::oid::text || '.' || c.attnum::text), c.tbl, privacy._subject_match(c, dc))
$$;

-- The identifiers of a column with an event time, split by whether their
-- period is bounded (src/subject.c, _subject_ids_span): the bounded ones
-- also join on the event time between the bounds of the period, which
-- skips, per identifier, the partitions of a table partitioned by its
-- event time that lie outside it.  (Not for the others: an open period
-- also takes rows without an event time.)
CREATE FUNCTION privacy._subject_ids_span(params jsonb, key text, bounded boolean)
  RETURNS TABLE(s text, span tstzmultirange, b boolean, lo timestamptz, hi timestamptz)
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE ROWS 4
  AS 'MODULE_PATHNAME', 'pgp_subject_ids_span';

-- The parts of column c's statements, in order: the identifiers (alias f)
-- and the condition joining the table's rows (alias t) to them.  One part
-- (all identifiers), or for a column with an event time two: bounded
-- periods first, then open ones.
CREATE FUNCTION privacy._subject_parts(c privacy._subject_column, dc text)
  RETURNS TABLE(ids text, cond text)
  LANGUAGE sql STABLE
AS $$
  SELECT x.ids, x.cond
    FROM (SELECT 1 AS o, privacy._subject_ids_sql(c.tbl::oid::text || '.' || c.attnum::text) AS ids,
                 privacy._subject_match(c, dc) AS cond
           WHERE c.event_time IS NULL OR c.is_validity
          UNION ALL
          SELECT 2, pg_catalog.format('privacy._subject_ids_span($1, %L, true) f', c.tbl::oid::text || '.' || c.attnum::text),
                 privacy._subject_match(c, dc)
                 || pg_catalog.format(' AND t.%1$I::timestamptz OPERATOR(pg_catalog.>=) f.lo AND t.%1$I::timestamptz OPERATOR(pg_catalog.<=) f.hi',
                                      c.event_time)
           WHERE c.event_time IS NOT NULL AND NOT c.is_validity
          UNION ALL
          SELECT 3, pg_catalog.format('privacy._subject_ids_span($1, %L, false) f', c.tbl::oid::text || '.' || c.attnum::text),
                 privacy._subject_match(c, dc)
           WHERE c.event_time IS NOT NULL AND NOT c.is_validity) x
   ORDER BY x.o
$$;

-- The erasure's statements for column c (verb delete: its rows; ctid: the
-- ctids of its rows; scrub: its mentions set to NULL), without the keep
-- condition the caller adds,
-- for the identifiers params holds: built once per backend and kept
-- (privacy._subject_cache_get) until the catalog changes.
CREATE FUNCTION privacy._subject_stmts(verb text, c privacy._subject_column, dc text, params jsonb)
  RETURNS text[]
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  k      text := c.tbl::oid::text || '.' || c.attnum::text;
  ck     text := verb || ':' || k || ':' || dc;
  cached text := privacy._subject_cache_get(ck);
  stmts  text[];
BEGIN
  IF cached IS NULL THEN
    SELECT pg_catalog.array_agg(pg_catalog.format(
             CASE verb WHEN 'delete' THEN 'DELETE FROM %1$s t USING %2$s WHERE %3$s'
                       WHEN 'ctid' THEN 'SELECT t.ctid FROM %2$s JOIN %1$s t ON %3$s'
                       ELSE 'UPDATE %1$s t SET %4$I = NULL FROM %2$s WHERE %3$s' END,
             c.tbl, p.ids, p.cond, c.col))
      INTO stmts
      FROM privacy._subject_parts(c, dc) p;
    cached := privacy._subject_cache_put(ck, stmts::text);
  END IF;
  stmts := cached::text[];
  IF pg_catalog.cardinality(stmts) OPERATOR(pg_catalog.=) 1 THEN
    RETURN stmts;
  END IF;
  -- bounded, then open periods: only those the subject has
  RETURN CASE WHEN params OPERATOR(pg_catalog.->) k OPERATOR(pg_catalog.@>) '[{"b": true}]'::jsonb
              THEN ARRAY[stmts[1]] ELSE '{}'::text[] END
         OPERATOR(pg_catalog.||)
         CASE WHEN params OPERATOR(pg_catalog.->) k OPERATOR(pg_catalog.@>) '[{"b": false}]'::jsonb
              THEN ARRAY[stmts[2]] ELSE '{}'::text[] END;
END
$$;

-- All identifiers of the subject reached from (kind, value): the fixed
-- point described at the top of this file.
CREATE FUNCTION privacy._subject_identifiers(kind text, value text, at timestamptz DEFAULT NULL,
                                             OUT kinds text[], OUT vals text[], OUT spans tstzmultirange[])
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  dc       text := privacy._default_country();
  norm     text := privacy._identifier_normalize(kind, value);
  span0    tstzmultirange := '{(,)}';
  c        privacy._subject_column;
  t        record;
  r        record;
  q        text;
  branches text[];
  rs       tstzrange[];
  cached   text;
  keys     text[];
  link_all jsonb;
  link_sql text[] := '{}';
  fk       text[];
  fv       text[];
  fs       tstzmultirange[];
  nk       text[];
  nv       text[];
  ns       tstzmultirange[];
  params   jsonb;
  rounds   integer := 0;
  i        integer;
  ranges   tstzrange[];
  chosen   tstzmultirange;
BEGIN
  at := COALESCE(at, pg_catalog.now());
  -- A reassignable identifier: its holder at `at`.
  IF EXISTS (SELECT FROM pg_catalog.unnest(privacy._subject_cols()) sc WHERE sc.kind OPERATOR(pg_catalog.=) _subject_identifiers.kind
                AND sc.is_validity) THEN
    params := privacy._subject_params(ARRAY[kind], ARRAY[norm], ARRAY['{(,)}'::tstzmultirange]);
    ranges := '{}';
    FOR c IN SELECT * FROM pg_catalog.unnest(privacy._subject_cols()) sc
              WHERE sc.kind OPERATOR(pg_catalog.=) _subject_identifiers.kind AND sc.is_validity LOOP
      IF params OPERATOR(pg_catalog.?) (c.tbl::oid::text || '.' || c.attnum::text) THEN
        -- read as the table's owner
        rs := (privacy._subject_query(c.tbl,
                 pg_catalog.format('SELECT pg_catalog.to_jsonb(pg_catalog.array_agg(pg_catalog.tstzrange(t.%s::pg_catalog.timestamptz, t.%s::pg_catalog.timestamptz, ''[)''))::pg_catalog.text) FROM %s',
                                   COALESCE(pg_catalog.quote_ident(c.valid_from), 'NULL'),
                                   COALESCE(pg_catalog.quote_ident(c.valid_to), 'NULL'),
                                   privacy._subject_from(c, dc)),
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
      span0 := chosen;
    END IF;
  END IF;

  -- One query per linking table: for each searchable owner column, the
  -- rows holding a current identifier, and from them every linking
  -- column's identifier with its period.  Each runs as its table's owner
  -- and gives what the owner can compute: an msisdn_fpe column's stored
  -- pseudonym comes with its domain (d), and is decrypted here.
  cached := privacy._subject_cache_get('link:' || dc);
  IF cached IS NOT NULL THEN
    link_sql := cached::text[];
  END IF;
  FOR t IN SELECT sc.tbl FROM pg_catalog.unnest(privacy._subject_cols()) sc
            WHERE cached IS NULL AND sc.link OPERATOR(pg_catalog.=) 'owner'
            GROUP BY sc.tbl
           HAVING pg_catalog.count(*) FILTER (WHERE sc.links) OPERATOR(pg_catalog.>=) 1
              AND pg_catalog.count(*) OPERATOR(pg_catalog.>=) 2
            ORDER BY sc.tbl::oid LOOP
    branches := '{}';
    keys := '{}';
    FOR c IN SELECT * FROM pg_catalog.unnest(privacy._subject_cols()) sc
              WHERE sc.tbl OPERATOR(pg_catalog.=) t.tbl AND sc.link OPERATOR(pg_catalog.=) 'owner'
              ORDER BY sc.attnum LOOP
      q := pg_catalog.format('SELECT x.k, x.v, x.s, x.d FROM %s CROSS JOIN LATERAL (VALUES %s) x(k, v, s, d) WHERE x.v IS NOT NULL',
             privacy._subject_from(c, dc),
             (SELECT pg_catalog.string_agg(pg_catalog.format('(%L, %s, %s, %L::pg_catalog.text)', l.kind,
                                                             privacy._subject_value_expr(l, dc),
                                                             privacy._subject_span_expr(l),
                                                             privacy._subject_decrypt_domain(l)), ', ' ORDER BY l.attnum)
                FROM pg_catalog.unnest(privacy._subject_cols()) l
               WHERE l.tbl OPERATOR(pg_catalog.=) t.tbl AND l.links));
      branches := branches OPERATOR(pg_catalog.||)
                  pg_catalog.format('SELECT * FROM (%s) b WHERE $1 OPERATOR(pg_catalog.?) %L', q, c.tbl::oid::text || '.' || c.attnum::text);
      keys := keys OPERATOR(pg_catalog.||) (c.tbl::oid::text || '.' || c.attnum::text);
    END LOOP;
    -- "table|key key ...|query": the query runs, as the table's owner,
    -- only when a key has identifiers
    link_sql := link_sql OPERATOR(pg_catalog.||)
                (t.tbl::oid::text || '|' || pg_catalog.array_to_string(keys, ' ') || '|'
                 || 'SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_array(z.k, z.v, z.s::pg_catalog.text, z.d)) FROM ('
                 || pg_catalog.array_to_string(branches, ' UNION ALL ') || ') z');
  END LOOP;
  IF cached IS NULL THEN
    PERFORM privacy._subject_cache_put('link:' || dc, link_sql::text);
  END IF;

  kinds := ARRAY[kind];
  vals := ARRAY[norm];
  spans := ARRAY[span0];
  fk := kinds; fv := vals; fs := spans;
  WHILE pg_catalog.cardinality(fk) OPERATOR(pg_catalog.>) 0 LOOP
    rounds := rounds OPERATOR(pg_catalog.+) 1;
    IF rounds OPERATOR(pg_catalog.>) 10 THEN
      PERFORM privacy._raise_hidden('54000', 'the identifiers of this data subject do not reach a fixed point in 10 rounds', NULL,
              'An identifier shared by many subjects links them; declare the linking columns with privacy.set_subject_table(link_columns => ...).');
    END IF;
    params := privacy._subject_params(fk, fv, fs);
    nk := '{}'; nv := '{}'; ns := '{}';
    -- One query per round and linking table with identifiers to look up,
    -- as its owner (a branch without identifiers of its column's kind
    -- returns nothing at once); stored pseudonyms decrypted here.
    link_all := NULL;
    FOR i IN 1 .. COALESCE(pg_catalog.cardinality(link_sql), 0) LOOP
      q := link_sql[i];
      CONTINUE WHEN NOT params OPERATOR(pg_catalog.?|)
                        pg_catalog.string_to_array(pg_catalog.split_part(q, '|', 2), ' ');
      link_all := COALESCE(link_all, '[]'::jsonb) OPERATOR(pg_catalog.||)
                  COALESCE(privacy._subject_query(pg_catalog.split_part(q, '|', 1)::oid::regclass,
                                                  pg_catalog.substr(q, pg_catalog.length(pg_catalog.split_part(q, '|', 1))
                                                                       OPERATOR(pg_catalog.+) pg_catalog.length(pg_catalog.split_part(q, '|', 2))
                                                                       OPERATOR(pg_catalog.+) 3),
                                                  params), '[]'::jsonb);
    END LOOP;
    IF link_all IS NOT NULL THEN
      FOR r IN SELECT x.k, x.v, x.s
                 FROM (SELECT e OPERATOR(pg_catalog.->>) 0 AS k,
                              CASE WHEN e OPERATOR(pg_catalog.->>) 3 IS NULL THEN e OPERATOR(pg_catalog.->>) 1
                                   ELSE privacy._msisdn_decrypt(e OPERATOR(pg_catalog.->>) 1, e OPERATOR(pg_catalog.->>) 3) END AS v,
                              (e OPERATOR(pg_catalog.->>) 2)::tstzmultirange AS s
                         FROM pg_catalog.jsonb_array_elements(link_all) e) x
                WHERE x.v IS NOT NULL
                ORDER BY x.k, x.v LOOP
        i := pg_catalog.array_position(vals, r.v);
        WHILE i IS NOT NULL AND kinds[i] OPERATOR(pg_catalog.<>) r.k LOOP
          i := pg_catalog.array_position(vals, r.v, i OPERATOR(pg_catalog.+) 1);
        END LOOP;
        IF i IS NULL THEN
          kinds := kinds OPERATOR(pg_catalog.||) r.k::text;
          vals := vals OPERATOR(pg_catalog.||) r.v::text;
          spans := spans OPERATOR(pg_catalog.||) r.s::tstzmultirange;
          i := pg_catalog.cardinality(kinds);
        ELSIF spans[i] OPERATOR(pg_catalog.@>) r.s::tstzmultirange THEN
          CONTINUE;
        ELSE
          spans[i] := spans[i] OPERATOR(pg_catalog.+) r.s::tstzmultirange;
        END IF;
        IF pg_catalog.cardinality(kinds) OPERATOR(pg_catalog.>) 500 THEN
          PERFORM privacy._raise_hidden('54000', 'this data subject has more than 500 identifiers', NULL,
                  'An identifier shared by many subjects links them; declare the linking columns with privacy.set_subject_table(link_columns => ...).');
        END IF;
        nk := nk OPERATOR(pg_catalog.||) kinds[i];
        nv := nv OPERATOR(pg_catalog.||) vals[i];
        ns := ns OPERATOR(pg_catalog.||) spans[i];
      END LOOP;
    END IF;
    fk := nk; fv := nv; fs := ns;
  END LOOP;
END
$$;
COMMENT ON FUNCTION privacy._subject_identifiers(text, text, timestamptz) IS
  'internal: every identifier of the data subject reached from one, with the period it is the subject''s';

-- The identifiers as the export shows them.
CREATE FUNCTION privacy._subject_identifiers_json(kinds text[], vals text[], spans tstzmultirange[])
  RETURNS jsonb
  LANGUAGE plpgsql IMMUTABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN (
  SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
           'kind', k, 'value', v,
           'periods', CASE WHEN s OPERATOR(pg_catalog.=) '{(,)}'::tstzmultirange THEN NULL
                           ELSE (SELECT pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                                          'from', pg_catalog.lower(r), 'to', pg_catalog.upper(r)) ORDER BY r)
                                   FROM pg_catalog.unnest(s) r) END) ORDER BY o), '[]')
    FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(vals), pg_catalog.unnest(spans)) WITH ORDINALITY u(k, v, s, o));
END
$$;

-- The keyed references of the subject's identifiers.
CREATE FUNCTION privacy._subject_refs(kinds text[], vals text[])
  RETURNS text[]
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN (
  SELECT COALESCE(pg_catalog.array_agg(privacy._audit_ref(k, v)), '{}')
    FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(vals)) u(k, v));
END
$$;

------------------------------------------------------------------------
-- Integration with retention and consent (when installed)
------------------------------------------------------------------------

-- Every table's retention policy, by table oid (one query; empty without
-- the retention part).
CREATE FUNCTION privacy._subject_retention_all()
  RETURNS jsonb
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  result jsonb;
BEGIN
  IF pg_catalog.to_regclass('privacy.retention_policy') IS NULL THEN
    RETURN '{}';
  END IF;
  -- static SQL: planned once per backend
  SELECT pg_catalog.jsonb_object_agg(p.tbl::pg_catalog.oid::text,
           pg_catalog.jsonb_build_object('time_column', p.time_column, 'keep', p.keep,
                                         'action', p.action, 'keep_at_least', p.keep_at_least))
    INTO result
    FROM privacy.retention_policy p;
  RETURN COALESCE(result, '{}');
END
$$;

-- Active holds on any of the subject's identifiers: (reason, until),
-- until NULL for an open-ended hold.  Read from the retention part's
-- holds when installed.
CREATE FUNCTION privacy._subject_holds(kinds text[], vals text[])
  RETURNS TABLE(hold_id bigint, reason text, until timestamptz)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF pg_catalog.to_regclass('privacy.legal_hold') IS NULL THEN
    RETURN;
  END IF;
  RETURN QUERY
    SELECT h.id, h.reason, h.until FROM privacy.legal_hold h
     WHERE h.released_at IS NULL
       AND (h.until IS NULL OR h.until OPERATOR(pg_catalog.>) pg_catalog.now())
       AND (h.kind, h.value) IN (SELECT u.k, u.v FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(vals)) u(k, v))
     ORDER BY h.id;
END
$$;

-- The positions of the identifiers that have consent events (consent
-- part; empty without it), found with one query.
CREATE FUNCTION privacy._subject_with_consent(kinds text[], vals text[])
  RETURNS integer[]
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  result integer[];
BEGIN
  IF pg_catalog.to_regclass('privacy.consent_event') IS NULL THEN
    RETURN '{}';
  END IF;
  -- A scalar subquery per identifier, so that each is one probe of the
  -- subject_ref index (an EXISTS may be planned as a hash join over the
  -- whole register).
  SELECT pg_catalog.array_agg(i ORDER BY i) INTO result
    FROM pg_catalog.generate_subscripts(kinds, 1) i
   WHERE (SELECT true FROM privacy.consent_event e
           WHERE e.subject_ref OPERATOR(pg_catalog.=) privacy._audit_ref(kinds[i], vals[i])
             AND e.kind OPERATOR(pg_catalog.=) kinds[i] LIMIT 1);
  RETURN COALESCE(result, '{}');
END
$$;

-- The subject's consent receipts (consent part): one per identifier that
-- has consent events; an empty array without the consent part.
CREATE FUNCTION privacy._subject_consent(kinds text[], vals text[])
  RETURNS jsonb
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  result jsonb := '[]';
  receipt jsonb;
  i integer;
BEGIN
  IF pg_catalog.to_regprocedure('privacy.consent_receipt(text,text,jsonb)') IS NULL THEN
    RETURN result;    -- the consent part is not installed: no receipts
  END IF;
  -- a receipt only for identifiers with consent events (one query)
  FOREACH i IN ARRAY privacy._subject_with_consent(kinds, vals) LOOP
    EXECUTE 'SELECT privacy.consent_receipt($1, $2)' INTO receipt USING kinds[i], vals[i];
    IF receipt IS NOT NULL AND pg_catalog.jsonb_array_length(COALESCE(receipt OPERATOR(pg_catalog.->) 'consents', '[]'))
                                OPERATOR(pg_catalog.>) 0 THEN
      result := result OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_array(receipt);
    END IF;
  END LOOP;
  RETURN result;
END
$$;

-- Erasure: replace the subject's identity in the consent history by its
-- keyed reference (consent part).  Returns the events changed, or NULL
-- when the consent part is not installed.
CREATE FUNCTION privacy._subject_forget_consent(kinds text[], vals text[])
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  n bigint := 0;
  m bigint;
  i integer;
BEGIN
  IF pg_catalog.to_regprocedure('privacy._consent_forget_identity(text,text)') IS NULL THEN
    RETURN NULL;
  END IF;
  -- only identifiers that have consent events (one query)
  FOREACH i IN ARRAY privacy._subject_with_consent(kinds, vals) LOOP
    EXECUTE 'SELECT privacy._consent_forget_identity($1, $2)' INTO m USING kinds[i], vals[i];
    n := n OPERATOR(pg_catalog.+) COALESCE(m, 0);
  END LOOP;
  RETURN n;
END
$$;

------------------------------------------------------------------------
-- Requests and their deadlines (GDPR Art. 12(3))
------------------------------------------------------------------------

CREATE FUNCTION privacy.open_request(kind text, value text, request text,
                                     received_at timestamptz DEFAULT pg_catalog.now())
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  norm   text;
  new_id bigint;
  e_state  text;
  e_msg    text;
  e_detail text;
  e_hint   text;
BEGIN
  norm := privacy._identifier_normalize(kind, value);
  IF request IS NULL OR request NOT IN ('access', 'portability', 'erasure', 'rectification', 'restriction', 'objection') THEN
    RAISE EXCEPTION 'invalid request "%"', request
      USING ERRCODE = '22023',
            HINT = 'Use one of: access, portability, erasure, rectification, restriction, objection.';
  END IF;
  IF received_at IS NULL OR received_at OPERATOR(pg_catalog.>) pg_catalog.now() THEN
    RAISE EXCEPTION 'a request cannot be received in the future'
      USING ERRCODE = '22023', DETAIL = pg_catalog.format('received_at is %s.', received_at);
  END IF;
  INSERT INTO privacy.subject_request (kind, subject_ref, request, received_at, opened_by)
       VALUES (kind, privacy._audit_ref(kind, norm), request, received_at, privacy._invoker())
    RETURNING id INTO new_id;
  PERFORM privacy._audit('subject.request_open', request,
    pg_catalog.jsonb_build_object('id', new_id, 'kind', kind, 'subject', privacy._audit_ref(kind, norm),
                                  'received_at', received_at));
  RETURN new_id;
EXCEPTION WHEN OTHERS THEN
  -- The statement that called this names a person: never logged with an
  -- error (errhidestmt), whatever the error.
  GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_msg = MESSAGE_TEXT,
                          e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
  PERFORM privacy._raise_hidden(e_state, e_msg, NULLIF(e_detail, ''), NULLIF(e_hint, ''));
END
$$;
COMMENT ON FUNCTION privacy.open_request(text, text, text, timestamptz) IS
  'record a data-subject request (access, portability, erasure, rectification, restriction, objection); due one month after receipt; returns its id';

CREATE FUNCTION privacy.extend_request(request_id bigint, months integer, reason text)
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  r privacy.subject_request;
BEGIN
  IF months IS NULL OR months NOT BETWEEN 1 AND 2 THEN
    RAISE EXCEPTION 'a request can be extended by one or two months' USING ERRCODE = '22023',
      DETAIL = pg_catalog.format('months is %s.', COALESCE(months::text, 'NULL'));
  END IF;
  IF reason IS NULL OR pg_catalog.btrim(reason) OPERATOR(pg_catalog.=) '' THEN
    RAISE EXCEPTION 'an extension needs a reason' USING ERRCODE = '22023',
      HINT = 'GDPR Art. 12(3): the subject must be told why, within the first month.';
  END IF;
  SELECT * INTO r FROM privacy.subject_request q WHERE q.id OPERATOR(pg_catalog.=) request_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'request % does not exist', request_id USING ERRCODE = '22023';
  END IF;
  IF r.closed_at IS NOT NULL THEN
    RAISE EXCEPTION 'request % is closed', request_id USING ERRCODE = '55000';
  END IF;
  IF (r.extension_months OPERATOR(pg_catalog.+) months) OPERATOR(pg_catalog.>) 2 THEN
    RAISE EXCEPTION 'request % cannot be extended beyond two months', request_id USING ERRCODE = '55000',
      DETAIL = pg_catalog.format('It is already extended by %s month(s).', r.extension_months);
  END IF;
  IF pg_catalog.now() OPERATOR(pg_catalog.>) (r.received_at OPERATOR(pg_catalog.+) pg_catalog.make_interval(months => 1 OPERATOR(pg_catalog.+) r.extension_months)) THEN
    RAISE EXCEPTION 'request % is overdue and can no longer be extended', request_id USING ERRCODE = '55000';
  END IF;
  UPDATE privacy.subject_request q
     SET extension_months = q.extension_months OPERATOR(pg_catalog.+) months,
         extension_reason = COALESCE(q.extension_reason || '; ', '') || reason
   WHERE q.id OPERATOR(pg_catalog.=) request_id;
  PERFORM privacy._audit('subject.request_extend', r.request,
    pg_catalog.jsonb_build_object('id', request_id, 'months', months, 'reason', reason));
END
$$;
COMMENT ON FUNCTION privacy.extend_request(bigint, integer, text) IS
  'extend the deadline of a request by one or two months (at most two in all) with the reason told to the subject (GDPR Art. 12(3))';

CREATE FUNCTION privacy.close_request(request_id bigint, outcome text)
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  r privacy.subject_request;
BEGIN
  IF outcome IS NULL OR pg_catalog.btrim(outcome) OPERATOR(pg_catalog.=) '' THEN
    RAISE EXCEPTION 'closing a request needs an outcome' USING ERRCODE = '22023',
      HINT = 'Say what was done, e.g. ''exported and sent'' or ''erased; invoices kept (bookkeeping)''.';
  END IF;
  SELECT * INTO r FROM privacy.subject_request q WHERE q.id OPERATOR(pg_catalog.=) request_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'request % does not exist', request_id USING ERRCODE = '22023';
  END IF;
  IF r.closed_at IS NOT NULL THEN
    RAISE EXCEPTION 'request % is already closed', request_id USING ERRCODE = '55000',
      DETAIL = pg_catalog.format('It was closed at %s.', r.closed_at);
  END IF;
  UPDATE privacy.subject_request q SET closed_at = pg_catalog.now(), outcome = close_request.outcome
   WHERE q.id OPERATOR(pg_catalog.=) request_id;
  PERFORM privacy._audit('subject.request_close', r.request,
    pg_catalog.jsonb_build_object('id', request_id, 'outcome', outcome,
      'late', pg_catalog.now() OPERATOR(pg_catalog.>) (r.received_at OPERATOR(pg_catalog.+)
              pg_catalog.make_interval(months => 1 OPERATOR(pg_catalog.+) r.extension_months))));
END
$$;
COMMENT ON FUNCTION privacy.close_request(bigint, text) IS
  'close a data-subject request with its outcome';

CREATE VIEW privacy.request_deadlines AS
SELECT q.id, q.kind, q.subject_ref, q.request, q.received_at,
       q.received_at OPERATOR(pg_catalog.+) pg_catalog.make_interval(months => 1 OPERATOR(pg_catalog.+) q.extension_months) AS due_at,
       q.extension_months, q.extension_reason, q.closed_at, q.outcome,
       CASE WHEN q.closed_at IS NOT NULL THEN 'closed' ELSE 'open' END AS status,
       (COALESCE(q.closed_at, pg_catalog.now()) OPERATOR(pg_catalog.>)
        (q.received_at OPERATOR(pg_catalog.+) pg_catalog.make_interval(months => 1 OPERATOR(pg_catalog.+) q.extension_months))) AS overdue,
       CASE WHEN q.closed_at IS NULL THEN
         (q.received_at OPERATOR(pg_catalog.+) pg_catalog.make_interval(months => 1 OPERATOR(pg_catalog.+) q.extension_months))::date
         OPERATOR(pg_catalog.-) pg_catalog.now()::date END AS days_left
  FROM privacy.subject_request q;
COMMENT ON VIEW privacy.request_deadlines IS
  'data-subject requests with their due date (one month from receipt, plus extensions of up to two months), status and overdue flag (closed late counts as overdue)';

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

-- The JSON of one row of table tbl as the export shows it, as an
-- expression over x.j (the row as the owner's to_jsonb(t) gave it).  In
-- the subject's own rows (mention_col NULL) the owner identifiers are
-- shown in clear and every mention is masked; in another subject's row
-- that mentions the subject (mention_col), only that column is shown, the
-- row's owner identifiers and other personal data are masked, and
-- traffic and location data stay.
CREATE FUNCTION privacy._subject_row_json(tbl regclass, mention_col name)
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
      clear := pg_catalog.format('privacy._msisdn_decrypt(x.j OPERATOR(pg_catalog.->>) %L, %L)', r.col, r.domain);
      clear_text := clear;
    ELSE
      clear := pg_catalog.format('x.j OPERATOR(pg_catalog.->) %L', r.col);
      clear_text := pg_catalog.format('x.j OPERATOR(pg_catalog.->>) %L', r.col);
    END IF;
    masked := pg_catalog.format('CASE WHEN x.j OPERATOR(pg_catalog.->>) %L IS NOT NULL THEN ''(masked)'' END', r.col);
    IF mention_col IS NULL THEN
      IF r.link OPERATOR(pg_catalog.=) 'mention' THEN
        parts := parts OPERATOR(pg_catalog.||) pg_catalog.format('%L, %s', r.col,
                   CASE WHEN r.identifies OPERATOR(pg_catalog.=) 'msisdn'
                        THEN pg_catalog.format('privacy.mask_msisdn(%s)', clear_text)
                        ELSE masked END);
      ELSIF r.identifies IS NOT NULL AND r.protect OPERATOR(pg_catalog.=) 'msisdn_fpe' THEN
        parts := parts OPERATOR(pg_catalog.||) pg_catalog.format('%L, %s', r.col, clear);
      END IF;
    ELSE
      IF r.col OPERATOR(pg_catalog.=) mention_col THEN
        parts := parts OPERATOR(pg_catalog.||) pg_catalog.format('%L, %s', r.col, clear);
      ELSIF r.identifies OPERATOR(pg_catalog.=) 'msisdn' THEN
        parts := parts OPERATOR(pg_catalog.||) pg_catalog.format('%L, privacy.mask_msisdn(%s)', r.col, clear_text);
      ELSIF r.category NOT IN ('traffic', 'location') THEN
        parts := parts OPERATOR(pg_catalog.||) pg_catalog.format('%L, %s', r.col, masked);
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
-- table, each once, as jsonb [pri, mention column, to_jsonb(t)] (pri 0 =
-- the subject's own row, 1 = a row that mentions the subject), in order of
-- pri; and the expression over x.pri, x.m, x.j that shows such a row
-- (_subject_row_json).  Both NULL when no column of the table can hold the
-- subject's identifiers.
CREATE FUNCTION privacy._subject_rows_sql(tbl regclass, dc text, OUT q text, OUT shown text)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  c        privacy._subject_column;
  branches text[] := '{}';
  whens    text[] := '{}';
  own_json text;
  key      text := tbl::oid::text || ':' || dc;
  cached   text := privacy._subject_cache_get('rows:' || key);
BEGIN
  -- two entries (no separator that a column name could hold), used only
  -- together
  IF cached IS NOT NULL THEN
    shown := privacy._subject_cache_get('shown:' || key);
    IF shown IS NOT NULL THEN
      q := NULLIF(cached, '');
      shown := NULLIF(shown, '');
      RETURN;
    END IF;
    shown := NULL;
  END IF;
  FOR c IN SELECT * FROM pg_catalog.unnest(privacy._subject_cols()) sc WHERE sc.tbl OPERATOR(pg_catalog.=) _subject_rows_sql.tbl
            ORDER BY sc.link DESC, sc.attnum LOOP
    IF c.link OPERATOR(pg_catalog.=) 'owner' THEN
      own_json := COALESCE(own_json, privacy._subject_row_json(tbl, NULL));
      branches := branches OPERATOR(pg_catalog.||)
        pg_catalog.format('SELECT 0 AS pri, NULL::pg_catalog.text AS m, t.tableoid AS o, t.ctid AS d, pg_catalog.to_jsonb(t) AS j FROM %s',
                          privacy._subject_from(c, dc));
    ELSE
      branches := branches OPERATOR(pg_catalog.||)
        pg_catalog.format('SELECT 1 AS pri, %L::pg_catalog.text AS m, t.tableoid AS o, t.ctid AS d, pg_catalog.to_jsonb(t) AS j FROM %s',
                          c.col, privacy._subject_from(c, dc));
      whens := whens OPERATOR(pg_catalog.||)
        pg_catalog.format('WHEN x.m OPERATOR(pg_catalog.=) %L THEN %s', c.col, privacy._subject_row_json(tbl, c.col));
    END IF;
  END LOOP;
  IF pg_catalog.cardinality(branches) OPERATOR(pg_catalog.>) 0 THEN
    q := 'SELECT pg_catalog.jsonb_build_array(u.pri, u.m, u.j) FROM (SELECT DISTINCT ON (u.o, u.d) u.pri, u.m, u.o, u.d, u.j FROM ('
         || pg_catalog.array_to_string(branches, ' UNION ALL ')
         || ') u ORDER BY u.o, u.d, u.pri) u ORDER BY u.pri, u.o, u.d';
    shown := 'CASE WHEN x.pri OPERATOR(pg_catalog.=) 0 THEN ' || COALESCE(own_json, 'NULL::pg_catalog.jsonb') || ' '
             || pg_catalog.array_to_string(whens, ' ') || ' END';
  END IF;
  PERFORM privacy._subject_cache_put('shown:' || key, COALESCE(shown, ''));
  PERFORM privacy._subject_cache_put('rows:' || key, COALESCE(q, ''));
END
$$;

-- What the export says about a table besides its rows (GDPR Art. 15(1)).
CREATE FUNCTION privacy._subject_table_json(tbl regclass, retention jsonb)
  RETURNS jsonb
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN (
  SELECT pg_catalog.jsonb_build_object(
           'table', t.tbl::text,
           'purpose', p.name,
           'purpose_description', p.description,
           'legal_basis', p.legal_basis,
           'legal_basis_article', b.article,
           'recipients', pg_catalog.to_jsonb(p.recipients),
           'retention', retention OPERATOR(pg_catalog.->) (t.tbl::oid::text),
           'source', s.source,
           'categories', (SELECT pg_catalog.jsonb_agg(DISTINCT rc.category)
                            FROM privacy.registered_column rc WHERE rc.tbl OPERATOR(pg_catalog.=) t.tbl))
    FROM privacy.registered_table t
    JOIN privacy.purpose p ON p.name OPERATOR(pg_catalog.=) t.purpose
    JOIN privacy.legal_basis b ON b.name OPERATOR(pg_catalog.=) p.legal_basis
    LEFT JOIN privacy.subject_table s ON s.tbl OPERATOR(pg_catalog.=) t.tbl
   WHERE t.tbl OPERATOR(pg_catalog.=) _subject_table_json.tbl);
END
$$;

-- The subject's requests as the export shows them.
CREATE FUNCTION privacy._subject_requests_json(refs text[])
  RETURNS jsonb
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN (
  SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
           'id', d.id, 'request', d.request, 'received_at', d.received_at, 'due_at', d.due_at,
           'status', d.status) ORDER BY d.id), '[]')
    FROM privacy.request_deadlines d
   WHERE d.subject_ref OPERATOR(pg_catalog.=) ANY (refs) AND d.closed_at IS NULL);
END
$$;

-- The export's header: everything but the rows.
CREATE FUNCTION privacy._subject_header(kind text, norm text, kinds text[], vals text[], spans tstzmultirange[])
  RETURNS jsonb
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  refs text[] := privacy._subject_refs(kinds, vals);    -- keyed, computed once
BEGIN
  RETURN (
  SELECT pg_catalog.jsonb_build_object(
           'format', 'pg_privacy.subject_export',
           'version', 1,
           'generated_at', pg_catalog.now(),
           'subject', pg_catalog.jsonb_build_object('kind', kind, 'value', norm),
           'identifiers', privacy._subject_identifiers_json(kinds, vals, spans),
           'restricted', EXISTS (SELECT FROM privacy.restriction r
                                  WHERE r.subject_ref OPERATOR(pg_catalog.=) ANY (refs)
                                    AND (r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now())),
           'consent', privacy._subject_consent(kinds, vals),
           'requests', privacy._subject_requests_json(refs)));
END
$$;

-- The whole export, read in one snapshot (a STABLE function sees the
-- snapshot of the statement calling it): a concurrent erasure is seen
-- entirely or not at all.
CREATE FUNCTION privacy._subject_export(kind text, value text, at timestamptz)
  RETURNS jsonb
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  dc     text := privacy._default_country();
  ids    record;
  params jsonb;
  t      record;
  rs     record;
  own    jsonb;
  ment   jsonb;
  tables jsonb := '[]';
  res    jsonb;
  cols   privacy._subject_column[] := privacy._subject_cols();
  c      privacy._subject_column;
  has_ids boolean;
  reten  jsonb := privacy._subject_retention_all();
BEGIN
  ids := privacy._subject_identifiers(kind, value, at);
  params := privacy._subject_params(ids.kinds, ids.vals, ids.spans);
  FOR t IN SELECT sc.tbl FROM pg_catalog.unnest(cols) sc GROUP BY sc.tbl ORDER BY sc.tbl::text LOOP
    -- only tables with a column that can hold one of the identifiers
    has_ids := false;
    FOREACH c IN ARRAY cols LOOP
      IF c.tbl OPERATOR(pg_catalog.=) t.tbl AND params OPERATOR(pg_catalog.?) (c.tbl::oid::text || '.' || c.attnum::text) THEN
        has_ids := true;
        EXIT;
      END IF;
    END LOOP;
    CONTINUE WHEN NOT has_ids;
    rs := privacy._subject_rows_sql(t.tbl, dc);
    CONTINUE WHEN rs.q IS NULL;
    -- the rows, read as the table's owner; shown from their JSON here
    -- (planned once per backend and table: _subject_eval keeps the plan)
    res := privacy._subject_eval(
             'SELECT pg_catalog.jsonb_build_array(pg_catalog.jsonb_agg(' || rs.shown || ') FILTER (WHERE x.pri OPERATOR(pg_catalog.=) 0),
                    pg_catalog.jsonb_agg(' || rs.shown || ') FILTER (WHERE x.pri OPERATOR(pg_catalog.=) 1))
               FROM (SELECT (e OPERATOR(pg_catalog.->>) 0)::pg_catalog.int4 AS pri, e OPERATOR(pg_catalog.->>) 1 AS m,
                            e OPERATOR(pg_catalog.->) 2 AS j
                       FROM privacy._subject_rows($1, $2, $3) e) x',
             t.tbl, rs.q, params);
    own := NULLIF(res OPERATOR(pg_catalog.->) 0, 'null'::jsonb);
    ment := NULLIF(res OPERATOR(pg_catalog.->) 1, 'null'::jsonb);
    CONTINUE WHEN own IS NULL AND ment IS NULL;
    tables := tables OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_array(
                privacy._subject_table_json(t.tbl, reten) OPERATOR(pg_catalog.||)
                pg_catalog.jsonb_build_object('rows', COALESCE(own, '[]'), 'mentions', COALESCE(ment, '[]')));
  END LOOP;
  RETURN privacy._subject_header(kind, ids.vals[1], ids.kinds, ids.vals, ids.spans)
         OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('tables', tables);
END
$$;

CREATE FUNCTION privacy.export_subject(kind text, value text, at timestamptz DEFAULT NULL)
  RETURNS jsonb
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  doc  jsonb;
  norm text;
  e_state  text;
  e_msg    text;
  e_detail text;
  e_hint   text;
BEGIN
  norm := privacy._identifier_normalize(kind, value);
  doc := privacy._subject_export(kind, value, at);
  PERFORM privacy._audit('subject.export', NULL,
    pg_catalog.jsonb_build_object(
      'kind', kind, 'subject', privacy._audit_ref(kind, norm),
      'identifiers', pg_catalog.jsonb_array_length(doc OPERATOR(pg_catalog.->) 'identifiers'),
      'tables', (SELECT COALESCE(pg_catalog.jsonb_object_agg(e OPERATOR(pg_catalog.->>) 'table',
                                   pg_catalog.jsonb_array_length(e OPERATOR(pg_catalog.->) 'rows')
                                   OPERATOR(pg_catalog.+) pg_catalog.jsonb_array_length(e OPERATOR(pg_catalog.->) 'mentions')), '{}')
                   FROM pg_catalog.jsonb_array_elements(doc OPERATOR(pg_catalog.->) 'tables') e)));
  RETURN doc;
EXCEPTION WHEN OTHERS THEN
  -- The statement that called this names a person: never logged with an
  -- error (errhidestmt), whatever the error.
  GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_msg = MESSAGE_TEXT,
                          e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
  PERFORM privacy._raise_hidden(e_state, e_msg, NULLIF(e_detail, ''), NULLIF(e_hint, ''));
END
$$;
COMMENT ON FUNCTION privacy.export_subject(text, text, timestamptz) IS
  'everything the database holds about a data subject as one JSON document (GDPR Art. 15 and 20): rows grouped by table with purpose, legal basis, retention, recipients and source, counterparties masked, consent receipts and open requests; audited';

-- The same export as a stream: one row for the header, then per table one
-- row of metadata and its rows in chunks of chunk_rows, so a subject with
-- millions of rows is exported without one huge value.
CREATE FUNCTION privacy._subject_export_stream(kind text, value text, chunk_rows integer, at timestamptz)
  RETURNS TABLE(part integer, section text, table_name regclass, data jsonb)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  dc     text := privacy._default_country();
  ids    record;
  params jsonb;
  t      record;
  r      record;
  rs     record;
  chunk  jsonb[];
  cpri   integer;
  meta   boolean;
  reten  jsonb := privacy._subject_retention_all();
BEGIN
  IF chunk_rows IS NULL OR chunk_rows OPERATOR(pg_catalog.<) 1 THEN
    RAISE EXCEPTION 'chunk_rows must be at least 1' USING ERRCODE = '22023';
  END IF;
  ids := privacy._subject_identifiers(kind, value, at);
  params := privacy._subject_params(ids.kinds, ids.vals, ids.spans);
  part := 0;
  section := 'subject';
  table_name := NULL;
  data := privacy._subject_header(kind, ids.vals[1], ids.kinds, ids.vals, ids.spans);
  RETURN NEXT;
  FOR t IN SELECT sc.tbl FROM pg_catalog.unnest(privacy._subject_cols()) sc GROUP BY sc.tbl ORDER BY sc.tbl::text LOOP
    CONTINUE WHEN NOT EXISTS (SELECT FROM pg_catalog.unnest(privacy._subject_cols()) sc
                               WHERE sc.tbl OPERATOR(pg_catalog.=) t.tbl
                                 AND params OPERATOR(pg_catalog.?) (sc.tbl::oid::text || '.' || sc.attnum::text));
    rs := privacy._subject_rows_sql(t.tbl, dc);
    CONTINUE WHEN rs.q IS NULL;
    meta := false;
    chunk := '{}';
    cpri := 0;
    -- the rows, read as the table's owner (in order of pri); shown here
    FOR r IN EXECUTE 'SELECT x.pri, ' || rs.shown || ' AS j
                        FROM (SELECT (e OPERATOR(pg_catalog.->>) 0)::pg_catalog.int4 AS pri, e OPERATOR(pg_catalog.->>) 1 AS m,
                                     e OPERATOR(pg_catalog.->) 2 AS j
                                FROM privacy._subject_rows($1, $2, $3) e) x'
               USING t.tbl, rs.q, params LOOP
      IF NOT meta THEN
        part := part OPERATOR(pg_catalog.+) 1;
        section := 'table';
        table_name := t.tbl;
        data := privacy._subject_table_json(t.tbl, reten);
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
  e_state  text;
  e_msg    text;
  e_detail text;
  e_hint   text;
BEGIN
  norm := privacy._identifier_normalize(kind, value);
  FOR part, section, table_name, data IN SELECT * FROM privacy._subject_export_stream(kind, value, chunk_rows, at) LOOP
    IF section IN ('rows', 'mentions') THEN
      tabs := tabs OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(table_name::text,
                COALESCE((tabs OPERATOR(pg_catalog.->>) table_name::text)::bigint, 0)
                OPERATOR(pg_catalog.+) pg_catalog.jsonb_array_length(data));
    END IF;
    n := n OPERATOR(pg_catalog.+) 1;
    RETURN NEXT;
  END LOOP;
  PERFORM privacy._audit('subject.export', NULL,
    pg_catalog.jsonb_build_object('kind', kind, 'subject', privacy._audit_ref(kind, norm),
                                  'chunks', n, 'tables', tabs));
EXCEPTION WHEN OTHERS THEN
  -- The statement that called this names a person: never logged with an
  -- error (errhidestmt), whatever the error.
  GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_msg = MESSAGE_TEXT,
                          e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
  PERFORM privacy._raise_hidden(e_state, e_msg, NULLIF(e_detail, ''), NULLIF(e_hint, ''));
END
$$;
COMMENT ON FUNCTION privacy.export_subject_chunks(text, text, integer, timestamptz) IS
  'the export of export_subject as a stream: a header row, then per table a metadata row and its rows in chunks of chunk_rows (for subjects with very many rows); audited';

------------------------------------------------------------------------
-- Restriction (GDPR Art. 18)
------------------------------------------------------------------------

-- The restriction trigger: AFTER UPDATE, FOR EACH STATEMENT, with the old
-- rows as a transition table (src/subject.c).  It fires for the table's
-- owner's (or any writer's) UPDATE and works in three steps, so that the
-- old rows are read, and anything of their types evaluated, only with the
-- rights of the table's owner:
--   1. as the extension owner, _restrict_sql: NULL at once when no
--      restriction is active; else the query over the old rows;
--   2. as the owner of the table, in a security-restricted operation: that
--      query, giving the distinct (column, stored value, period) of the old
--      rows' owner identifiers, all built-in text;
--   3. as the extension owner, _restrict_check: the keyed reference of each
--      distinct value (decrypted when stored by msisdn_fpe), against the
--      active restrictions and their periods; an error on a hit.

-- Step 1: the owner's query over the old rows of fired (a registered table
-- or a partition of one), or NULL when there is nothing to check.
CREATE FUNCTION privacy._restrict_sql(fired regclass)
  RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  reg   regclass;
  c     privacy._subject_column;
  parts text[] := '{}';
  key   text := 'restrict:' || fired::oid::text;
  q     text;
BEGIN
  IF NOT EXISTS (SELECT FROM privacy.restriction r
                  WHERE r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()) THEN
    RETURN NULL;
  END IF;
  q := privacy._subject_cache_get(key);
  IF q IS NOT NULL THEN
    RETURN NULLIF(q, '');
  END IF;
  SELECT a.relid INTO reg
    FROM (SELECT fired AS relid, 0 AS o
          UNION ALL
          SELECT p.relid, p.o FROM pg_catalog.pg_partition_ancestors(fired) WITH ORDINALITY p(relid, o)) a
    JOIN privacy.registered_table t ON t.tbl OPERATOR(pg_catalog.=) a.relid
   ORDER BY a.o LIMIT 1;
  FOR c IN SELECT * FROM pg_catalog.unnest(privacy._subject_cols()) sc
            WHERE sc.tbl OPERATOR(pg_catalog.=) reg AND sc.link OPERATOR(pg_catalog.=) 'owner'
              AND (sc.protect IS NULL OR sc.protect OPERATOR(pg_catalog.=) 'msisdn_fpe')
            ORDER BY sc.attnum LOOP
    -- Fail closed on a column whose type changed since it was declared.
    PERFORM privacy._subject_check(c);
    parts := parts OPERATOR(pg_catalog.||) pg_catalog.format(
      'SELECT %L::pg_catalog.text AS col, t.%I::pg_catalog.text AS val, %s AS span FROM pgp_old_rows t WHERE t.%I IS NOT NULL',
      c.col, c.col,
      CASE WHEN c.is_validity THEN
             pg_catalog.format('pg_catalog.tstzrange(t.%s::pg_catalog.timestamptz, t.%s::pg_catalog.timestamptz, ''[)'')::pg_catalog.text',
                               COALESCE(pg_catalog.quote_ident(c.valid_from), 'NULL'),
                               COALESCE(pg_catalog.quote_ident(c.valid_to), 'NULL'))
           WHEN c.event_time IS NOT NULL THEN
             pg_catalog.format('t.%I::pg_catalog.timestamptz::pg_catalog.text', c.event_time)
           ELSE 'NULL::pg_catalog.text' END,
      c.col);
  END LOOP;
  IF pg_catalog.cardinality(parts) OPERATOR(pg_catalog.>) 0 THEN
    q := 'SELECT pg_catalog.jsonb_agg(DISTINCT pg_catalog.jsonb_build_array(u.col, u.val, u.span)) FROM ('
         || pg_catalog.array_to_string(parts, ' UNION ALL ') || ') u';
  END IF;
  PERFORM privacy._subject_cache_put(key, COALESCE(q, ''));
  RETURN q;
END
$$;
COMMENT ON FUNCTION privacy._restrict_sql(regclass) IS
  'internal: the restriction trigger''s query over the old rows, run as the table''s owner; NULL when no restriction is active';

-- Step 3: refuse the UPDATE when an old row belongs to a restricted
-- subject.  vals: [[column, stored value, period], ...] from step 2.  The
-- keyed reference is computed once per distinct value, and the period
-- checked only for values that are restricted.
CREATE FUNCTION privacy._restrict_check(fired regclass, vals jsonb)
  RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  dc  text := privacy._default_country();
  reg regclass;
  hit record;
BEGIN
  IF vals IS NULL THEN
    RETURN;
  END IF;
  SELECT a.relid INTO reg
    FROM (SELECT fired AS relid, 0 AS o
          UNION ALL
          SELECT p.relid, p.o FROM pg_catalog.pg_partition_ancestors(fired) WITH ORDINALITY p(relid, o)) a
    JOIN privacy.registered_table t ON t.tbl OPERATOR(pg_catalog.=) a.relid
   ORDER BY a.o LIMIT 1;
  WITH e AS (SELECT x OPERATOR(pg_catalog.->>) 0 AS col, x OPERATOR(pg_catalog.->>) 1 AS val,
                    x OPERATOR(pg_catalog.->>) 2 AS span
               FROM pg_catalog.jsonb_array_elements(vals) x),
       n AS (SELECT d.col, d.val, c.kind, c.is_validity, c.event_time IS NOT NULL AS has_event,
                    CASE WHEN c.protect IS NOT NULL THEN privacy._msisdn_decrypt(d.val, c.domain)
                         ELSE privacy.lookup_value(c.mode, d.val, dc) END AS norm
               FROM (SELECT DISTINCT e.col, e.val FROM e) d
               JOIN pg_catalog.unnest(privacy._subject_cols()) c
                 ON c.tbl OPERATOR(pg_catalog.=) reg AND c.col OPERATOR(pg_catalog.=) d.col::name),
       h AS (SELECT n.col, n.val, n.is_validity, n.has_event, r.reason, r.span
               FROM n JOIN privacy.restriction r
                 ON r.kind OPERATOR(pg_catalog.=) n.kind
                AND r.subject_ref OPERATOR(pg_catalog.=) privacy._audit_ref(n.kind, n.norm)
              WHERE n.norm IS NOT NULL
                AND (r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()))
  SELECT h.col, h.reason INTO hit
    FROM h JOIN e ON e.col OPERATOR(pg_catalog.=) h.col AND e.val OPERATOR(pg_catalog.=) h.val
   WHERE CASE WHEN h.is_validity THEN h.span OPERATOR(pg_catalog.&&) e.span::tstzrange
              WHEN h.has_event THEN h.span OPERATOR(pg_catalog.=) '{(,)}'::tstzmultirange
                                    OR h.span OPERATOR(pg_catalog.@>) e.span::timestamptz
              ELSE true END
   LIMIT 1;
  IF hit.col IS NOT NULL THEN
    -- the UPDATE statement may name the subject: not logged
    PERFORM privacy._raise_hidden('55000', 'cannot update a row of a data subject whose processing is restricted',
            pg_catalog.format('A row of %s belongs, by its column "%s", to a restricted subject (%s).',
                              fired, hit.col, hit.reason),
            'Rows of a restricted subject can be stored and exported only; lift the restriction with privacy.unrestrict_subject().');
  END IF;
END
$$;
COMMENT ON FUNCTION privacy._restrict_check(regclass, jsonb) IS
  'internal: refuses the UPDATE when an old row''s identifier belongs to a restricted subject';

CREATE FUNCTION privacy._restrict_trigger() RETURNS trigger
  LANGUAGE c
  AS 'MODULE_PATHNAME', 'pgp_restrict_trigger';
COMMENT ON FUNCTION privacy._restrict_trigger() IS
  'internal: refuses UPDATE of rows of restricted data subjects (statement-level, transition table; reads the old rows as the table''s owner)';

-- Install the restriction trigger on every registered table with owner
-- identifiers (and on each partition, for UPDATEs aimed at a partition).
CREATE FUNCTION privacy._restrict_install()
  RETURNS integer
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r record;
  n integer := 0;
BEGIN
  FOR r IN SELECT p.relid
             FROM (SELECT DISTINCT sc.tbl FROM privacy._subject_column sc
                    WHERE sc.link OPERATOR(pg_catalog.=) 'owner') t
             CROSS JOIN LATERAL (SELECT t.tbl::oid::regclass AS relid
                                 UNION SELECT pt.relid FROM pg_catalog.pg_partition_tree(t.tbl) pt) p
             JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) p.relid
            WHERE k.relkind IN ('r', 'p')
              AND NOT EXISTS (SELECT FROM pg_catalog.pg_trigger g
                               WHERE g.tgrelid OPERATOR(pg_catalog.=) p.relid
                                 AND g.tgname OPERATOR(pg_catalog.=) 'zx_pg_privacy_restrict')
            ORDER BY p.relid LOOP
    -- (checked again: the event trigger that follows each CREATE TRIGGER
    -- installs what is missing too)
    CONTINUE WHEN EXISTS (SELECT FROM pg_catalog.pg_trigger g
                           WHERE g.tgrelid OPERATOR(pg_catalog.=) r.relid
                             AND g.tgname OPERATOR(pg_catalog.=) 'zx_pg_privacy_restrict');
    EXECUTE pg_catalog.format(
      'CREATE TRIGGER zx_pg_privacy_restrict AFTER UPDATE ON %s REFERENCING OLD TABLE AS pgp_old_rows '
      'FOR EACH STATEMENT EXECUTE FUNCTION privacy._restrict_trigger()', r.relid::regclass);
    n := n OPERATOR(pg_catalog.+) 1;
  END LOOP;
  RETURN n;
END
$$;

-- Why the restriction check of a subject table is not in force (see
-- privacy._trigger_problem), or NULL.  The check is an AFTER UPDATE
-- statement trigger on the table and on each partition (statement triggers
-- are not cloned to partitions; _restrict_install adds them, also to
-- partitions created later).  It must be in force while any subject is
-- restricted.  Reads pg_catalog only.
CREATE FUNCTION privacy._restrict_problem(tbl regclass) RETURNS text
  LANGUAGE sql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT privacy._trigger_problem(tbl, 'zx_pg_privacy_restrict', 'privacy._restrict_trigger()'::regprocedure,
                                  16, NULL)   -- 16: STATEMENT AFTER UPDATE
$$;

-- Record restrictions of the subject's identifiers; returns how many.
CREATE FUNCTION privacy._restrict_ids(kinds text[], vals text[], spans tstzmultirange[],
                                      reason text, origin text, until timestamptz)
  RETURNS integer
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  n integer;
BEGIN
  INSERT INTO privacy.restriction AS r (kind, subject_ref, span, reason, origin, until, restricted_by)
  SELECT u.k, privacy._audit_ref(u.k, u.v), u.s, reason, origin, until, privacy._invoker()
    FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(vals), pg_catalog.unnest(spans)) u(k, v, s)
  ON CONFLICT ON CONSTRAINT restriction_pkey DO UPDATE
     SET span = r.span OPERATOR(pg_catalog.+) EXCLUDED.span,
         reason = EXCLUDED.reason, origin = EXCLUDED.origin,
         until = CASE WHEN r.until IS NULL OR EXCLUDED.until IS NULL THEN NULL
                      ELSE GREATEST(r.until, EXCLUDED.until) END;
  GET DIAGNOSTICS n = ROW_COUNT;
  PERFORM privacy._restrict_install();
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
  e_state  text;
  e_msg    text;
  e_detail text;
  e_hint   text;
BEGIN
  IF reason IS NULL OR pg_catalog.btrim(reason) OPERATOR(pg_catalog.=) '' THEN
    RAISE EXCEPTION 'a restriction needs a reason' USING ERRCODE = '22023',
      HINT = 'Say why processing is restricted, e.g. ''accuracy contested (Art. 18(1)(a))''.';
  END IF;
  ids := privacy._subject_identifiers(kind, value, at);
  n := privacy._restrict_ids(ids.kinds, ids.vals, ids.spans, reason, 'request', NULL);
  PERFORM privacy._audit('subject.restrict', NULL,
    pg_catalog.jsonb_build_object('kind', kind, 'subject', privacy._audit_ref(kind, ids.vals[1]),
                                  'identifiers', n, 'reason', reason));
EXCEPTION WHEN OTHERS THEN
  -- The statement that called this names a person: never logged with an
  -- error (errhidestmt), whatever the error.
  GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_msg = MESSAGE_TEXT,
                          e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
  PERFORM privacy._raise_hidden(e_state, e_msg, NULLIF(e_detail, ''), NULLIF(e_hint, ''));
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
  e_state  text;
  e_msg    text;
  e_detail text;
  e_hint   text;
BEGIN
  ids := privacy._subject_identifiers(kind, value, at);
  DELETE FROM privacy.restriction r
   WHERE r.origin OPERATOR(pg_catalog.=) 'request'
     AND (r.kind, r.subject_ref) IN (SELECT u.k, privacy._audit_ref(u.k, u.v)
                                       FROM ROWS FROM (pg_catalog.unnest(ids.kinds), pg_catalog.unnest(ids.vals)) u(k, v));
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n OPERATOR(pg_catalog.=) 0 THEN
    PERFORM privacy._raise_hidden('55000', 'data subject is not restricted',
      'No identifier of this subject has a restriction requested by the subject; restrictions kept after an erasure end on their own.');
  END IF;
  PERFORM privacy._audit('subject.unrestrict', NULL,
    pg_catalog.jsonb_build_object('kind', kind, 'subject', privacy._audit_ref(kind, ids.vals[1]),
                                  'identifiers', n));
EXCEPTION WHEN OTHERS THEN
  -- The statement that called this names a person: never logged with an
  -- error (errhidestmt), whatever the error.
  GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_msg = MESSAGE_TEXT,
                          e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
  PERFORM privacy._raise_hidden(e_state, e_msg, NULLIF(e_detail, ''), NULLIF(e_hint, ''));
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
  e_state  text;
  e_msg    text;
  e_detail text;
  e_hint   text;
BEGIN
  norm := privacy._identifier_normalize(kind, value);
  RETURN EXISTS (SELECT FROM privacy.restriction r
                  WHERE r.kind OPERATOR(pg_catalog.=) is_restricted.kind
                    AND r.subject_ref OPERATOR(pg_catalog.=) privacy._audit_ref(is_restricted.kind, norm)
                    AND (r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()));
EXCEPTION WHEN OTHERS THEN
  -- The statement that called this names a person: never logged with an
  -- error (errhidestmt), whatever the error.
  GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_msg = MESSAGE_TEXT,
                          e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
  PERFORM privacy._raise_hidden(e_state, e_msg, NULLIF(e_detail, ''), NULLIF(e_hint, ''));
END
$$;
COMMENT ON FUNCTION privacy.is_restricted(text, text) IS
  'whether processing of the identifier''s subject is restricted (by request, or for rows kept after an erasure)';

------------------------------------------------------------------------
-- Erasure (GDPR Art. 17)
------------------------------------------------------------------------

-- Registered tables with searchable identifiers, referencing tables
-- before the tables they reference, so children are deleted first.
CREATE FUNCTION privacy._subject_table_order()
  RETURNS TABLE(tbl regclass, depth integer)
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
  WITH RECURSIVE t AS (SELECT DISTINCT sc.tbl FROM privacy._subject_column sc),
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
CREATE FUNCTION privacy._subject_erase(kind text, value text, at timestamptz)
  RETURNS TABLE(table_name regclass, action text, rows bigint, reason text, kept_until timestamptz)
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  dc      text := privacy._default_country();
  ids     record;
  params  jsonb;
  t       record;
  c       privacy._subject_column;
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
  cols    privacy._subject_column[] := privacy._subject_cols();
  res     jsonb;
  reten   jsonb := privacy._subject_retention_all();
BEGIN
  -- Writers of the subject's tables wait until the erasure commits, and an
  -- erasure waits for writers in flight: a row inserted concurrently is
  -- either seen and erased here or written after the erasure.  (Each
  -- statement below takes a new snapshot, so it sees what the writers we
  -- waited for committed.)
  cached := privacy._subject_cache_get('order');
  IF cached IS NULL THEN
    SELECT pg_catalog.array_agg(o.tbl ORDER BY o.depth, o.tbl::text) INTO order_
      FROM privacy._subject_table_order() o;
    PERFORM privacy._subject_cache_put('order', COALESCE(order_::text, ''));
  ELSE
    order_ := NULLIF(cached, '')::regclass[];
  END IF;
  IF order_ IS NOT NULL THEN
    EXECUTE 'LOCK TABLE ' || (SELECT pg_catalog.string_agg(x::text, ', ' ORDER BY x::oid) FROM pg_catalog.unnest(order_) x)
            || ' IN SHARE ROW EXCLUSIVE MODE';
  END IF;
  ids := privacy._subject_identifiers(kind, value, at);
  params := privacy._subject_params(ids.kinds, ids.vals, ids.spans);

  FOR h IN SELECT * FROM privacy._subject_holds(ids.kinds, ids.vals) LOOP
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

  PERFORM privacy._subject_set_erasing(true);
  -- Fail closed before anything changes: a table whose protection was
  -- switched off may hold raw values the erasure would not find.  The
  -- check reads only the catalog (triggers, partitions, children), and
  -- every change there invalidates the table's relcache entry, which
  -- empties the per-backend cache: a success is remembered until then.
  IF privacy._subject_cache_get('protected') IS NULL THEN
    PERFORM privacy._check_protection(x) FROM pg_catalog.unnest(order_) x;
    PERFORM privacy._subject_cache_put('protected', 'ok');
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
        nrows := (privacy._subject_query(t.tbl,
                    'SELECT pg_catalog.to_jsonb(pg_catalog.count(DISTINCT (t.tableoid, t.ctid))) FROM ' || privacy._subject_from(c, dc),
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
    -- rule (privacy._legal_minimum_sql: period alignment and time zone).
    IF reten OPERATOR(pg_catalog.->) (t.tbl::oid::text) OPERATOR(pg_catalog.->>) 'keep_at_least' IS NULL THEN
      -- no legal minimum (privacy._legal_minimum_sql would say so too)
      SELECT NULL::name AS time_column, NULL::interval AS keep_at_least, NULL::text AS keep_cond, NULL::text AS row_time
        INTO keep;
    ELSE
      SELECT (reten OPERATOR(pg_catalog.->) (t.tbl::oid::text) OPERATOR(pg_catalog.->>) 'time_column')::name AS time_column,
             (reten OPERATOR(pg_catalog.->) (t.tbl::oid::text) OPERATOR(pg_catalog.->>) 'keep_at_least')::interval AS keep_at_least,
             m.keep_cond, m.row_time
        INTO keep
        FROM privacy._legal_minimum_sql(t.tbl, 't', pg_catalog.now()) m;
    END IF;
    keepcond := COALESCE(keep.keep_cond, 'false');
    -- A legal hold on any identifier a row holds keeps the row as it is,
    -- whoever's identifier it is (a call of this subject to a held
    -- number): neither deleted nor scrubbed.
    heldcond := NULL;
    IF any_hold THEN
      SELECT hp.held, hp.held_args INTO heldcond, held_args
        FROM privacy._hold_predicate(t.tbl, 't', 'held.' || t.tbl::oid::text) hp;
    END IF;
    IF heldcond IS NOT NULL THEN
      -- the held values travel in the parameter, never in the SQL text
      params := params OPERATOR(pg_catalog.||)
                pg_catalog.jsonb_build_object('held.' || t.tbl::oid::text, pg_catalog.to_jsonb(held_args));
      n := 0;
      FOREACH c IN ARRAY cols LOOP
        CONTINUE WHEN c.tbl OPERATOR(pg_catalog.<>) t.tbl;
        CONTINUE WHEN NOT params OPERATOR(pg_catalog.?) (c.tbl::oid::text || '.' || c.attnum::text);
        nrows := (privacy._subject_query(t.tbl,
                    'SELECT pg_catalog.to_jsonb(pg_catalog.count(DISTINCT (t.tableoid, t.ctid))) FROM '
                    || privacy._subject_from(c, dc) || ' AND ' || heldcond,
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
    cached := privacy._subject_cache_get('referenced:' || t.tbl::oid::text);
    IF cached IS NULL THEN
      cached := privacy._subject_cache_put('referenced:' || t.tbl::oid::text,
                  EXISTS (SELECT FROM pg_catalog.pg_constraint k
                           WHERE k.contype OPERATOR(pg_catalog.=) 'f'
                             AND (k.confrelid OPERATOR(pg_catalog.=) t.tbl
                                  OR k.confrelid IN (SELECT p.relid FROM pg_catalog.pg_partition_tree(t.tbl) p)))::text);
    END IF;
    refd := cached::boolean;
    -- An ordinary table no foreign key references: the rows of all its
    -- owner columns go in one DELETE (by their ctids; no concurrent writer,
    -- the table is locked), not one per column.
    cached := privacy._subject_cache_get('plain:' || t.tbl::oid::text);
    IF cached IS NULL THEN
      cached := privacy._subject_cache_put('plain:' || t.tbl::oid::text,
                  EXISTS (SELECT FROM pg_catalog.pg_class k
                           WHERE k.oid OPERATOR(pg_catalog.=) t.tbl AND k.relkind OPERATOR(pg_catalog.=) 'r')::text);
    END IF;
    ctids := '{}';
    dels := '{}';
    -- (cols is in order of table and attnum)
    FOREACH c IN ARRAY cols LOOP
      CONTINUE WHEN c.tbl OPERATOR(pg_catalog.<>) t.tbl OR c.link IS NULL OR c.link OPERATOR(pg_catalog.<>) 'owner';
      CONTINUE WHEN NOT params OPERATOR(pg_catalog.?) (c.tbl::oid::text || '.' || c.attnum::text);
      IF keep.keep_cond IS NOT NULL THEN
        res := privacy._subject_query(t.tbl,
                 pg_catalog.format('SELECT pg_catalog.jsonb_build_array(pg_catalog.count(DISTINCT (t.tableoid, t.ctid)), pg_catalog.max(%s)) FROM %s AND %s AND NOT %s',
                                   keep.row_time, privacy._subject_from(c, dc), keep.keep_cond,
                                   COALESCE(heldcond, 'false')),
                 params);
        nrows := (res OPERATOR(pg_catalog.->>) 0)::bigint;
        row_until := (res OPERATOR(pg_catalog.->>) 1)::timestamptz;
        kept := GREATEST(kept, nrows);
        until := GREATEST(until, privacy._legal_minimum_until(t.tbl, row_until));
      END IF;
      IF NOT refd AND cached::boolean THEN
        ctids := ctids OPERATOR(pg_catalog.||) privacy._subject_stmts('ctid', c, dc, params);
        dels := dels OPERATOR(pg_catalog.||) privacy._subject_stmts('delete', c, dc, params);
        CONTINUE;
      END IF;
      -- the statements without their keep condition, built once per backend
      stmts := privacy._subject_stmts('delete', c, dc, params);
      n := 0;
      IF NOT refd THEN
        -- no foreign key references the table: no subtransaction needed
        FOREACH q IN ARRAY stmts LOOP
          n := n OPERATOR(pg_catalog.+) privacy._subject_exec(t.tbl, q || ' AND NOT ' || keepcond, params);
        END LOOP;
      ELSE
      BEGIN
        FOREACH q IN ARRAY stmts LOOP
          n := n OPERATOR(pg_catalog.+) privacy._subject_exec(t.tbl, q || ' AND NOT ' || keepcond, params);
        END LOOP;
      EXCEPTION WHEN foreign_key_violation THEN
        -- Rows that other kept rows still reference stay as long as they do.
        nrows := (privacy._subject_query(t.tbl, 'SELECT pg_catalog.to_jsonb(pg_catalog.count(*)) FROM ' || privacy._subject_from(c, dc),
                                         params) OPERATOR(pg_catalog.#>>) '{}')::bigint;
        kept := GREATEST(kept, nrows);
        referenced := true;
        n := 0;
      END;
      END IF;
      deleted := deleted OPERATOR(pg_catalog.+) n;
    END LOOP;
    IF pg_catalog.cardinality(ctids) OPERATOR(pg_catalog.=) 1 THEN
      deleted := deleted OPERATOR(pg_catalog.+) privacy._subject_exec(t.tbl, dels[1] || ' AND NOT ' || keepcond, params);
    ELSIF pg_catalog.cardinality(ctids) OPERATOR(pg_catalog.>) 1 THEN
      deleted := deleted OPERATOR(pg_catalog.+) privacy._subject_exec(t.tbl,
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
      FOREACH q IN ARRAY privacy._subject_stmts('scrub', c, dc, params) LOOP
        nrows := nrows OPERATOR(pg_catalog.+)
                 privacy._subject_exec(t.tbl, q || ' AND NOT ' || COALESCE(heldcond, 'false'), params);
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
  PERFORM privacy._subject_set_erasing(false);

  IF holds IS NULL THEN
    n := privacy._subject_forget_consent(ids.kinds, ids.vals);
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
    n := privacy._restrict_ids(ids.kinds, ids.vals, ids.spans,
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
  norm := privacy._identifier_normalize(kind, value);
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
        FROM privacy._subject_erase(kind, value, at) e;
      RAISE EXCEPTION USING ERRCODE = 'P0004', MESSAGE = 'pg_privacy dry run';
    EXCEPTION WHEN assert_failure THEN
      NULL;
    END;
  ELSE
    SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(e)) INTO report
      FROM privacy._subject_erase(kind, value, at) e;
  END IF;
  report := COALESCE(report, '[]');
  PERFORM privacy._audit(CASE WHEN dry_run THEN 'subject.erase_dry_run' ELSE 'subject.erase' END, NULL,
    pg_catalog.jsonb_build_object('kind', kind, 'subject', privacy._audit_ref(kind, norm),
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
  PERFORM privacy._raise_hidden(e_state, e_msg, NULLIF(e_detail, ''), NULLIF(e_hint, ''));
END
$$;
COMMENT ON FUNCTION privacy.erase_subject(text, text, boolean, timestamptz) IS
  'erase a data subject in one transaction (GDPR Art. 17): delete its rows, keep and restrict rows under a legal minimum or hold (saying why and until when), scrub its mentions in others'' rows, pseudonymize it in the consent history; dry_run reports without changing; audited';

