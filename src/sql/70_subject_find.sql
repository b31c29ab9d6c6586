-- Data-subject rights, the subject engine's first two phases: finding a
-- subject across every registered table (find), and what the law keeps of
-- it (decide: legal minimums, holds, consent).  The rights built on them:
-- requests and their deadlines (71_subject_requests.sql), export
-- (72_subject_export.sql), restriction (73_subject_restrict.sql), erasure
-- (74_subject_erase.sql).  The C side is src/subject.c.
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
-- (privacy_internal._transform of the normalized value); msisdn_fpe columns are
-- also read back (privacy_internal._msisdn_decrypt) to follow links.  Raw columns
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
-- (privacy_internal._subject_check): a column changed since to a domain, an enum or
-- any type of the owner's stops export, erasure and restriction with 42804
-- until it is changed back or unregistered, and privacy.catalog_problems
-- lists it.  So nothing of the owner's is evaluated where the extension
-- computes (casting, matching, normalizing identifiers).
--
-- Nothing here writes a raw identifier outside the registered tables:
-- restrictions and requests keep privacy_internal._subject_ref() references, and
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
CREATE TRIGGER catalog_changed AFTER INSERT OR UPDATE OR DELETE ON privacy.subject_table
  FOR EACH ROW EXECUTE FUNCTION privacy_internal._catalog_changed();   -- (src/subject.c)
CREATE TRIGGER catalog_truncated AFTER TRUNCATE ON privacy.subject_table
  FOR EACH STATEMENT EXECUTE FUNCTION privacy_internal._catalog_changed();
ALTER TABLE privacy.subject_table ENABLE ALWAYS TRIGGER catalog_changed, ENABLE ALWAYS TRIGGER catalog_truncated;

-- Restricted identifiers (GDPR Art. 18), by keyed reference only.
CREATE TABLE privacy.restriction (
  kind          text        NOT NULL REFERENCES privacy.identifier_kind,
  subject_ref   text        NOT NULL,   -- privacy_internal._subject_ref(kind, value)
  span          tstzmultirange NOT NULL DEFAULT '{(,)}',  -- when the identifier was the subject's
  reason        text        NOT NULL,
  origin        text        NOT NULL CHECK (origin IN ('request', 'erasure')),
  until         timestamptz,            -- NULL: until lifted
  restricted_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
  restricted_by name        NOT NULL,
  PRIMARY KEY (kind, subject_ref),
  -- the key subject_ref was made with: a restriction made before a key
  -- change is matched under it (privacy_internal._restriction_refs)
  key_fingerprint text      NOT NULL DEFAULT privacy.key_fingerprint()
);
CREATE INDEX restriction_key ON privacy.restriction (key_fingerprint);
COMMENT ON TABLE privacy.restriction IS
  'pg_privacy: restricted data subjects (GDPR Art. 18) by keyed identifier reference; their rows can be stored and exported, not updated';
SELECT pg_catalog.pg_extension_config_dump('privacy.restriction', '');

-- The keys the restrictions in force were made with, one index probe each
-- (a restriction past its end binds no key), and the current key whenever
-- there is a restriction: a reference
-- made under it is matched even where its row names another key (one made
-- in a transaction that a key change overlapped, named on the update to
-- 0.8.0 after the key in force when the transaction began).  in_force
-- false (unrestrict_subject, which also lifts a request's restriction past
-- its end): also the keys of restrictions made at a request and past their
-- end, while pg_privacy.key_file lists them; one whose key is gone stays,
-- binding nothing.
CREATE FUNCTION privacy_internal._restriction_keys(in_force boolean DEFAULT true)
  RETURNS text[]
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
  WITH RECURSIVE k(fp) AS (
    SELECT pg_catalog.min(r.key_fingerprint) FROM privacy.restriction r
     WHERE r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()
        OR (NOT in_force AND r.origin OPERATOR(pg_catalog.=) 'request'
            AND privacy_internal._key_listed(r.key_fingerprint))
    UNION ALL
    SELECT (SELECT pg_catalog.min(r.key_fingerprint) FROM privacy.restriction r
             WHERE r.key_fingerprint OPERATOR(pg_catalog.>) k.fp
               AND (r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()
                    OR (NOT in_force AND r.origin OPERATOR(pg_catalog.=) 'request'
                        AND privacy_internal._key_listed(r.key_fingerprint))))
      FROM k WHERE k.fp IS NOT NULL),
  labels AS (SELECT COALESCE(pg_catalog.array_agg(k.fp) FILTER (WHERE k.fp IS NOT NULL), '{}') AS fps FROM k)
  SELECT CASE WHEN pg_catalog.cardinality(l.fps) OPERATOR(pg_catalog.=) 0
                OR privacy.key_fingerprint() OPERATOR(pg_catalog.=) ANY (l.fps) THEN l.fps
              ELSE l.fps OPERATOR(pg_catalog.||) privacy.key_fingerprint() END
    FROM labels l
$$;
COMMENT ON FUNCTION privacy_internal._restriction_keys(boolean) IS
  'internal: the fingerprints of the keys the restrictions in force (in_force false: and the listed keys of requested ones past their end) were made with, and the current one';

-- The references an identifier (kind, normalized value) has under each key
-- a restriction was made with: a restriction made before a key change
-- still matches.  A key pg_privacy.key_file no longer lists fails closed
-- (55000): what that key's restrictions cover cannot be told.
CREATE FUNCTION privacy_internal._restriction_refs(kind text, value text, in_force boolean DEFAULT true)
  RETURNS text[]
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT COALESCE(pg_catalog.array_agg(privacy_internal._audit_ref_under(k.fp, kind, value)), '{}')
    FROM pg_catalog.unnest(privacy_internal._restriction_keys(in_force)) k(fp)
   WHERE value IS NOT NULL
$$;
COMMENT ON FUNCTION privacy_internal._restriction_refs(text, text, boolean) IS
  'internal: an identifier''s references under every key a restriction was made with';

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
CREATE FUNCTION privacy_internal._subject_key(mode text, value text, default_country text)
  RETURNS text
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_lookup_value';
COMMENT ON FUNCTION privacy_internal._subject_key(text, text, text) IS
  'internal: privacy.lookup_value under its 0.2.0 name, for expression indexes made then';

CREATE FUNCTION privacy_internal._subject_exec(tbl regclass, sql text, params jsonb)
  RETURNS bigint
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_subject_exec';
COMMENT ON FUNCTION privacy_internal._subject_exec(regclass, text, jsonb) IS
  'internal: one erasure statement run as the table owner in a security-restricted operation';

CREATE FUNCTION privacy_internal._subject_set_erasing(on_ boolean)
  RETURNS void
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_subject_set_erasing';
COMMENT ON FUNCTION privacy_internal._subject_set_erasing(boolean) IS
  'internal: marks this transaction as running erase_subject (reset at transaction end)';

CREATE FUNCTION privacy_internal._subject_erasing()
  RETURNS boolean
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_subject_erasing';
COMMENT ON FUNCTION privacy_internal._subject_erasing() IS
  'internal: true while erase_subject runs its statements';

CREATE FUNCTION privacy_internal._subject_query(tbl regclass, sql text, params jsonb)
  RETURNS jsonb
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_subject_query';
COMMENT ON FUNCTION privacy_internal._subject_query(regclass, text, jsonb) IS
  'internal: one generated read-only query over a table and the subject''s identifiers, run as the table owner in a security-restricted operation, through a kept prepared plan';

CREATE FUNCTION privacy_internal._subject_rows(tbl regclass, sql text, params jsonb)
  RETURNS TABLE(pri integer, m text, j jsonb, k text)
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_subject_rows';
COMMENT ON FUNCTION privacy_internal._subject_rows(regclass, text, jsonb) IS
  'internal: the rows of a generated read-only query over a table, run as the table owner in a security-restricted operation';

CREATE FUNCTION privacy_internal._subject_cache_get(key text)
  RETURNS text
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_subject_cache_get';
COMMENT ON FUNCTION privacy_internal._subject_cache_get(text) IS
  'internal: SQL generated from the catalog, cached per backend until a relcache invalidation';

CREATE FUNCTION privacy_internal._subject_cache_put(key text, value text)
  RETURNS text
  LANGUAGE c VOLATILE STRICT
  AS 'MODULE_PATHNAME', 'pgp_subject_cache_put';
COMMENT ON FUNCTION privacy_internal._subject_cache_put(text, text) IS
  'internal: remember SQL generated from the catalog in the per-backend cache';

------------------------------------------------------------------------
-- Declaring how a table is searched
------------------------------------------------------------------------

-- The column's type, or an error naming what is wrong.
CREATE FUNCTION privacy_internal._subject_check_column(tbl regclass, col name, what text, time_column boolean)
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
  PERFORM privacy_internal._check_owner(tbl);
  IF event_time IS NOT NULL THEN
    PERFORM privacy_internal._subject_check_column(tbl, event_time, 'event_time', true);
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
      PERFORM privacy_internal._subject_check_column(tbl, valid_from, 'valid_from', true);
    END IF;
    IF valid_to IS NOT NULL THEN
      PERFORM privacy_internal._subject_check_column(tbl, valid_to, 'valid_to', true);
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
  PERFORM privacy_internal._invalidate(tbl);
  PERFORM privacy_internal._audit('subject.set_table', tbl::text,
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
-- is wrong, and every use of the column fails closed (privacy_internal._subject_check).
CREATE VIEW privacy_internal._subject_column AS
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
       CASE WHEN NOT privacy_internal._identifier_type_ok(a.atttypid)
            THEN pg_catalog.format('identifier column "%s" of relation %s has type %s',
                                   c.col, c.tbl, pg_catalog.format_type(a.atttypid, NULL))
            ELSE (SELECT pg_catalog.format('time column "%s" of relation %s has type %s',
                                           ta.attname, c.tbl, pg_catalog.format_type(ta.atttypid, NULL))
                    FROM pg_catalog.pg_attribute ta
                   WHERE ta.attrelid OPERATOR(pg_catalog.=) c.tbl AND NOT ta.attisdropped
                     AND ta.attname IN (s.event_time, s.valid_from, s.valid_to)
                     AND ta.atttypid NOT IN ('timestamptz'::regtype, 'timestamp'::regtype, 'date'::regtype)
                   ORDER BY ta.attnum LIMIT 1) END AS type_problem,
       -- a column declared protected whose table has no protect trigger
       -- (never protected, or unprotected since), or whose protection is
       -- not in force (its trigger switched off by a superuser): its values
       -- may be raw, or pseudonyms, and cannot be told apart; every search
       -- of it fails closed (src/subject.c)
       CASE WHEN c.protect IS NULL THEN NULL
            WHEN NOT privacy_internal._has_protect_trigger(c.tbl)
            THEN pg_catalog.format('column "%s" of relation %s is declared protected by %s, but the table has no protect trigger',
                                   c.col, c.tbl, c.protect)
            -- (rows held before protect_in_batches() that privacy.rekey()
            -- has not converted yet are raw, and the search matches them
            -- raw: _subject_match; a library from before 0.19.0, still
            -- loaded after the update, fails here instead of reading them
            -- as pseudonyms)
            WHEN CASE WHEN privacy_internal._raw_relation(c.tbl) IS NOT NULL THEN NOT privacy_internal._library_reads_raw() END
            THEN pg_catalog.format('relation %s holds rows from before it was protected, which the pg_privacy library loaded in this session cannot read (restart the server after an update of pg_privacy)',
                                   privacy_internal._raw_relation(c.tbl))
            ELSE privacy_internal._protection_problem(c.tbl) END AS protect_problem
  FROM privacy.registered_column c
  JOIN privacy.identifier_kind k ON k.name OPERATOR(pg_catalog.=) c.identifies
  JOIN pg_catalog.pg_attribute a
    ON a.attrelid OPERATOR(pg_catalog.=) c.tbl AND a.attname OPERATOR(pg_catalog.=) c.col AND NOT a.attisdropped
  LEFT JOIN privacy.subject_table s ON s.tbl OPERATOR(pg_catalog.=) c.tbl
 WHERE c.protect IS NULL OR c.protect IN ('msisdn_fpe', 'pseudonym', 'email_pseudonym');
COMMENT ON VIEW privacy_internal._subject_column IS
  'internal: identifying columns a data subject can be searched by';

-- Fail closed on a column whose type is no longer one the search computes
-- with (a column changed to a domain, an enum or any type of the owner's
-- since it was declared): its casts, checks and operators are the owner's
-- code, and what it holds can no longer be matched as declared.
CREATE FUNCTION privacy_internal._subject_check(c privacy_internal._subject_column)
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

-- Fail closed on a column declared protected whose protection the search
-- cannot rely on (c.protect_problem): its values may be raw, and the search
-- matches their pseudonyms only.  Not called by the restriction trigger,
-- which reads a stored number both ways (73_subject_restrict.sql), so
-- that rows not yet converted by protect_in_batches() stay writable.
CREATE FUNCTION privacy_internal._subject_protect_check(c privacy_internal._subject_column)
  RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF c.protect_problem IS NOT NULL THEN
    RAISE EXCEPTION 'protection of table % is not in force', c.tbl
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.upper(pg_catalog.left(c.protect_problem, 1)) || pg_catalog.substr(c.protect_problem, 2)
                     || ': its values may be stored raw, and the search for a data subject matches their pseudonyms only.',
            HINT = 'Protect the table (SELECT privacy.protect(tbl, rewrite_existing => true) converts the rows it holds, privacy.protect_in_batches(tbl) in batches), or declare the column without protect if it is meant to hold raw values.';
  END IF;
END
$$;

-- The searchable columns, from the per-backend cache (src/subject.c);
-- NULL when there is none.
CREATE FUNCTION privacy_internal._subject_cols()
  RETURNS privacy_internal._subject_column[]
  LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'pgp_subject_cols';
COMMENT ON FUNCTION privacy_internal._subject_cols() IS
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
                                   privacy_internal._default_country())
            ELSE pg_catalog.format('CREATE INDEX ON %s (%I)', c.tbl, c.col) END AS suggested_index
  FROM privacy_internal._subject_column c
 WHERE NOT EXISTS (
   SELECT FROM pg_catalog.pg_index i
    WHERE i.indrelid OPERATOR(pg_catalog.=) c.tbl
      AND CASE WHEN c.protect IS NULL AND c.mode IN ('msisdn', 'email')
               THEN i.indkey[0] OPERATOR(pg_catalog.=) 0
                    AND pg_catalog.pg_get_indexdef(i.indexrelid, 1, true)
                        OPERATOR(pg_catalog.~) ('(^|\.)lookup_value\(''' || c.mode || '''::text, '
                                                || pg_catalog.regexp_replace(pg_catalog.quote_ident(c.col), '([^a-zA-Z0-9_])', '\\\1', 'g')
                                                || '(::text)?, ''' || privacy_internal._default_country() || '''::text\)$')
               ELSE i.indkey[0] OPERATOR(pg_catalog.=) c.attnum END);
COMMENT ON VIEW privacy.missing_indexes IS
  'identifying columns without an index for the data-subject lookup (export, erasure, restriction), with the index to create';

------------------------------------------------------------------------
-- Finding a subject
------------------------------------------------------------------------

-- The SQL condition that a row (alias t) holds the identifier of a record
-- f(s text, span tstzmultirange, b boolean, k text, o boolean) in column c:
-- f.s is the value as the column stores it (prepared by _subject_params);
-- for a bounded span (f.b) the row's validity or event time must fall in
-- it.  A phone-number pseudonym is matched under the key of its row: while
-- a key rotation runs, the table's rows are under the current key or a
-- pending one, and f holds the number under each (f.k the key; f.o when
-- every row of the table is under the current one).  So a row under the
-- old key whose pseudonym equals another number's under the new key is
-- never taken for that number's.
--
-- raw: the statement for a subject whose identifiers (_subject_params)
-- include, for column c, rows not converted since protect_in_batches()
-- (f.k 'raw', f.s the identifier in the normal form the conversion gives
-- it): such a row (privacy_internal._row_key 'raw') is matched by the
-- normal form of the value it holds raw, every other row by its stored
-- value under the current key.  It reads the whole table (no index serves
-- both), for as long as the conversion runs; the statements are chosen by
-- the subject's identifiers (the cache key says which), never by a state
-- read apart from them.  (Compared in the "C" collation: a column of a
-- case- or accent-insensitive collation of the owner's would take other
-- spellings for the subject's.)
CREATE FUNCTION privacy_internal._subject_match(c privacy_internal._subject_column, dc text, raw boolean DEFAULT false)
  RETURNS text
  LANGUAGE sql STABLE
AS $$
  SELECT CASE
           WHEN raw AND c.protect IS NOT NULL AND NOT privacy_internal._citus_table(c.tbl) THEN
             pg_catalog.format('((f.k OPERATOR(pg_catalog.=) ''raw'') IS NOT TRUE AND t.%1$I OPERATOR(pg_catalog.=) f.s'
                               ' AND (f.o OR privacy_internal._row_key(t.tableoid, t.*) OPERATOR(pg_catalog.=) f.k)'
                               ' OR f.k OPERATOR(pg_catalog.=) ''raw'''
                               ' AND privacy.lookup_value(%2$L, t.%1$I::pg_catalog.text, %3$L) COLLATE "C" OPERATOR(pg_catalog.=) f.s'
                               ' AND privacy_internal._row_key(t.tableoid, t.*) OPERATOR(pg_catalog.=) ''raw'')',
                               c.col, CASE WHEN c.protect OPERATOR(pg_catalog.=) 'msisdn_fpe' THEN 'msisdn' ELSE c.mode END, dc)
           -- (not on a table Citus manages, whose relations are never
           -- pending: a key change waits for it, src/sql/10_keys.sql; and
           -- Citus runs no STABLE function of a row in an UPDATE)
           WHEN c.protect OPERATOR(pg_catalog.=) 'msisdn_fpe' AND NOT privacy_internal._citus_table(c.tbl) THEN
             pg_catalog.format('t.%I OPERATOR(pg_catalog.=) f.s AND (f.o OR privacy_internal._row_key(t.tableoid, t.*) OPERATOR(pg_catalog.=) f.k)', c.col)
           WHEN c.protect IS NOT NULL THEN pg_catalog.format('t.%I OPERATOR(pg_catalog.=) f.s', c.col)
           WHEN c.mode IN ('msisdn', 'email') THEN
             pg_catalog.format('privacy.lookup_value(%L, t.%I%s, %L) OPERATOR(pg_catalog.=) f.s', c.mode, c.col,
                               CASE WHEN c.typ OPERATOR(pg_catalog.=) 'text'::regtype THEN '' ELSE '::text' END, dc)
           WHEN c.typ IN ('text'::regtype, 'varchar'::regtype) THEN pg_catalog.format('t.%I OPERATOR(pg_catalog.=) f.s', c.col)
           -- built-in types only (privacy_internal._subject_check): their casts
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
-- which the caller decrypts (privacy_internal._subject_decrypt_expr) outside the
-- owner's query.
CREATE FUNCTION privacy_internal._subject_value_expr(c privacy_internal._subject_column, dc text)
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
CREATE FUNCTION privacy_internal._subject_decrypt_domain(c privacy_internal._subject_column)
  RETURNS text
  LANGUAGE sql STABLE
AS $$
  SELECT CASE WHEN c.protect OPERATOR(pg_catalog.=) 'msisdn_fpe' THEN c.domain END
$$;

-- The key of a row t of table tbl that holds phone-number pseudonyms
-- (below; the export reads it with each row): NULL for the current key
-- (every row of the table under it: f.o); a table Citus manages is never
-- pending (a key change waits for it), and Citus runs no STABLE function
-- of a row in an UPDATE: NULL there.
CREATE FUNCTION privacy_internal._subject_row_key_sql(tbl regclass)
  RETURNS text
  LANGUAGE sql STABLE
AS $$
  SELECT CASE WHEN NOT privacy_internal._citus_table(tbl)
              THEN 'CASE WHEN f.o THEN NULL::pg_catalog.text ELSE privacy_internal._row_key(t.tableoid, t.*) END'
              ELSE 'NULL::pg_catalog.text' END
$$;

-- The key under which a stored pseudonym of column c of row t is to be
-- decrypted: NULL for the current key (every row of the table under it:
-- f.o; or nothing to decrypt), else the key of the row
-- (privacy_internal._row_key) while a key rotation runs.
CREATE FUNCTION privacy_internal._subject_row_key_expr(c privacy_internal._subject_column)
  RETURNS text
  LANGUAGE sql STABLE
AS $$
  SELECT CASE WHEN c.protect OPERATOR(pg_catalog.=) 'msisdn_fpe' THEN privacy_internal._subject_row_key_sql(c.tbl)
              ELSE 'NULL::pg_catalog.text' END
$$;

-- The period for which an identifier found in column c of row t is the
-- subject's.
CREATE FUNCTION privacy_internal._subject_span_expr(c privacy_internal._subject_column)
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
-- (privacy_internal._subject_check); protected columns get the value through
-- privacy_internal._transform; values that cannot be cast to a non-text column's
-- built-in type are left out.
CREATE FUNCTION privacy_internal._subject_params(kinds text[], vals text[], spans tstzmultirange[])
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
-- execute it (granted to PUBLIC in 90_privileges.sql).
CREATE FUNCTION privacy_internal._subject_ids(params jsonb, key text)
  RETURNS TABLE(s text, span tstzmultirange, b boolean, k text, o boolean)
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE ROWS 4
  AS 'MODULE_PATHNAME', 'pgp_subject_ids';

CREATE FUNCTION privacy_internal._subject_ids_sql(key text)
  RETURNS text
  LANGUAGE sql IMMUTABLE
AS $$
  SELECT pg_catalog.format('privacy_internal._subject_ids($1, %L) f', key)
$$;

-- The FROM clause of one branch: the subject's identifiers for column c
-- joined to the table's rows that hold them.
CREATE FUNCTION privacy_internal._subject_from(c privacy_internal._subject_column, dc text, raw boolean DEFAULT false)
  RETURNS text
  LANGUAGE sql STABLE
AS $$
  SELECT pg_catalog.format(
           '%s JOIN %s t ON %s',
           privacy_internal._subject_ids_sql(c.tbl::oid::text || '.' || c.attnum::text), c.tbl, privacy_internal._subject_match(c, dc, raw))
$$;

-- Whether the subject's identifiers for the column of key k (params, from
-- _subject_params) include rows not converted since protect_in_batches():
-- its statements are then the raw ones (_subject_match).
CREATE FUNCTION privacy_internal._subject_raw(params jsonb, k text)
  RETURNS boolean
  LANGUAGE sql IMMUTABLE
AS $$
  SELECT COALESCE(params OPERATOR(pg_catalog.->) k OPERATOR(pg_catalog.@>) '[{"k": "raw"}]'::jsonb, false)
$$;

-- The identifiers of a column with an event time, split by whether their
-- period is bounded (src/subject.c, _subject_ids_span): the bounded ones
-- also join on the event time between the bounds of the period, which
-- skips, per identifier, the partitions of a table partitioned by its
-- event time that lie outside it.  (Not for the others: an open period
-- also takes rows without an event time.)
CREATE FUNCTION privacy_internal._subject_ids_span(params jsonb, key text, bounded boolean)
  RETURNS TABLE(s text, span tstzmultirange, b boolean, lo timestamptz, hi timestamptz, k text, o boolean)
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE ROWS 4
  AS 'MODULE_PATHNAME', 'pgp_subject_ids_span';

-- The parts of column c's statements, in order: the identifiers (alias f)
-- and the condition joining the table's rows (alias t) to them.  One part
-- (all identifiers), or for a column with an event time two: bounded
-- periods first, then open ones.  Over a partitioned table, the bounded
-- part is run once per identifier (each: src/subject.c, _subject_exec),
-- f its value, period and the period's bounds as the parameters $2..$5:
-- its kept generic plan then reads only the partitions of that period
-- (pruned when it starts), where a join to all the identifiers plans and
-- probes every partition.
CREATE FUNCTION privacy_internal._subject_parts(c privacy_internal._subject_column, dc text, raw boolean DEFAULT false)
  RETURNS TABLE(ids text, cond text, each boolean)
  LANGUAGE sql STABLE
AS $$
  SELECT x.ids, x.cond, x.each
    FROM (SELECT 1 AS o, privacy_internal._subject_ids_sql(c.tbl::oid::text || '.' || c.attnum::text) AS ids,
                 privacy_internal._subject_match(c, dc, raw) AS cond, false AS each
           WHERE c.event_time IS NULL OR c.is_validity
          UNION ALL
          SELECT 2, CASE WHEN p.partitioned
                         THEN '(SELECT $2::pg_catalog.text AS s, $3::pg_catalog.tstzmultirange AS span, true AS b,'
                              ' $4::pg_catalog.timestamptz AS lo, $5::pg_catalog.timestamptz AS hi,'
                              ' $6::pg_catalog.text AS k, $7::pg_catalog.bool AS o) f'
                         ELSE pg_catalog.format('privacy_internal._subject_ids_span($1, %L, true) f',
                                                c.tbl::oid::text || '.' || c.attnum::text) END,
                 privacy_internal._subject_match(c, dc, raw)
                 || pg_catalog.format(' AND t.%1$I::timestamptz OPERATOR(pg_catalog.>=) f.lo AND t.%1$I::timestamptz OPERATOR(pg_catalog.<=) f.hi',
                                      c.event_time),
                 p.partitioned
            FROM (SELECT EXISTS (SELECT FROM pg_catalog.pg_class k
                                  WHERE k.oid OPERATOR(pg_catalog.=) c.tbl
                                    AND k.relkind OPERATOR(pg_catalog.=) 'p') AS partitioned) p
           WHERE c.event_time IS NOT NULL AND NOT c.is_validity
          UNION ALL
          SELECT 3, pg_catalog.format('privacy_internal._subject_ids_span($1, %L, false) f', c.tbl::oid::text || '.' || c.attnum::text),
                 privacy_internal._subject_match(c, dc, raw), false
           WHERE c.event_time IS NOT NULL AND NOT c.is_validity) x
   ORDER BY x.o
$$;

-- The erasure's statements for column c (verb delete: its rows; ctid: the
-- ctids of its rows, for an ordinary table only, so never run per
-- identifier; scrub: its mentions set
-- to NULL), without the keep condition the caller adds,
-- for the identifiers params holds: built once per backend and kept
-- (privacy_internal._subject_cache_get) until the catalog changes.  A
-- statement run once per identifier begins "/* per identifier <key> */"
-- (_subject_parts).
CREATE FUNCTION privacy_internal._subject_stmts(verb text, c privacy_internal._subject_column, dc text, params jsonb)
  RETURNS text[]
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  k      text := c.tbl::oid::text || '.' || c.attnum::text;
  -- (the raw statements under a key of their own: src/engine.c builds it too)
  raw    boolean := privacy_internal._subject_raw(params, c.tbl::oid::text || '.' || c.attnum::text);
  ck     text := verb || ':' || k || ':' || dc || CASE WHEN raw THEN ':raw' ELSE '' END;
  cached text := privacy_internal._subject_cache_get(ck);
  stmts  text[];
BEGIN
  IF cached IS NULL THEN
    SELECT pg_catalog.array_agg(
             CASE WHEN p.each THEN '/* per identifier ' || k || ' */ ' ELSE '' END
             || pg_catalog.format(
             CASE verb WHEN 'delete' THEN 'DELETE FROM %1$s t USING %2$s WHERE %3$s'
                       WHEN 'ctid' THEN 'SELECT t.ctid FROM %2$s JOIN %1$s t ON %3$s'
                       ELSE 'UPDATE %1$s t SET %4$I = NULL FROM %2$s WHERE %3$s' END,
             c.tbl, p.ids, p.cond, c.col))
      INTO stmts
      FROM privacy_internal._subject_parts(c, dc, raw) p;
    cached := privacy_internal._subject_cache_put(ck, stmts::text);
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

-- A reassignable identifier's subject is its holder at `at` (default
-- now; the latest holder before that when nobody holds it then): the
-- period it held the identifier, NULL when no validity row holds it (the
-- search then takes every row of it).  Run by the search (src/engine.c)
-- for a reassignable starting identifier only.
CREATE FUNCTION privacy_internal._subject_holder_span(kind text, norm text, at timestamptz)
  RETURNS tstzmultirange
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  dc       text := privacy_internal._default_country();
  c        privacy_internal._subject_column;
  params   jsonb;
  rs       tstzrange[];
  ranges   tstzrange[];
  chosen   tstzmultirange;
BEGIN
  at := COALESCE(at, pg_catalog.now());
  IF EXISTS (SELECT FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc WHERE sc.kind OPERATOR(pg_catalog.=) _subject_holder_span.kind
                AND sc.is_validity) THEN
    params := privacy_internal._subject_params(ARRAY[kind], ARRAY[norm], ARRAY['{(,)}'::tstzmultirange]);
    ranges := '{}';
    FOR c IN SELECT * FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc
              WHERE sc.kind OPERATOR(pg_catalog.=) _subject_holder_span.kind AND sc.is_validity LOOP
      IF params OPERATOR(pg_catalog.?) (c.tbl::oid::text || '.' || c.attnum::text) THEN
        -- read as the table's owner
        rs := (privacy_internal._subject_query(c.tbl,
                 pg_catalog.format('SELECT pg_catalog.to_jsonb(pg_catalog.array_agg(pg_catalog.tstzrange(t.%s::pg_catalog.timestamptz, t.%s::pg_catalog.timestamptz, ''[)''))::pg_catalog.text) FROM %s',
                                   COALESCE(pg_catalog.quote_ident(c.valid_from), 'NULL'),
                                   COALESCE(pg_catalog.quote_ident(c.valid_to), 'NULL'),
                                   privacy_internal._subject_from(c, dc,
                                     privacy_internal._subject_raw(params, c.tbl::oid::text || '.' || c.attnum::text))),
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
      RETURN chosen;
    END IF;
  END IF;

  RETURN NULL;
END
$$;

-- The search's queries, built from the catalog (kept per backend by
-- src/engine.c): for each searchable owner column of a linking table, the
-- rows holding one of the subject's identifiers of its column, and from
-- them every linking column's identifier with its period, as
-- "table|key|query".  The engine runs, per table and round, the union of
-- the queries of the columns that have identifiers, as the table's owner.
-- Each gives what the owner can compute: an msisdn_fpe column's stored
-- pseudonym comes with its domain (d) and, while a key rotation runs, the
-- key of its row (r), and the engine decrypts it under that key.  A
-- protected column's query is followed by its raw one (_subject_match),
-- "table|key#raw|query", which the engine runs instead when the subject's
-- identifiers of that column include raw ones (_subject_raw).
CREATE FUNCTION privacy_internal._subject_link_sql(dc text)
  RETURNS text[]
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  c        privacy_internal._subject_column;
  t        record;
  link_sql text[] := '{}';
  raw      boolean;
BEGIN
  FOR t IN SELECT sc.tbl FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc
            WHERE sc.link OPERATOR(pg_catalog.=) 'owner'
            GROUP BY sc.tbl
           HAVING pg_catalog.count(*) FILTER (WHERE sc.links) OPERATOR(pg_catalog.>=) 1
              AND pg_catalog.count(*) OPERATOR(pg_catalog.>=) 2
            ORDER BY sc.tbl::oid LOOP
    FOR c IN SELECT * FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc
              WHERE sc.tbl OPERATOR(pg_catalog.=) t.tbl AND sc.link OPERATOR(pg_catalog.=) 'owner'
              ORDER BY sc.attnum LOOP
      FOREACH raw IN ARRAY CASE WHEN c.protect IS NOT NULL AND NOT privacy_internal._citus_table(c.tbl)
                                THEN '{false,true}'::boolean[] ELSE '{false}'::boolean[] END LOOP
        link_sql := link_sql OPERATOR(pg_catalog.||)
          (t.tbl::oid::text || '|' || c.tbl::oid::text || '.' || c.attnum::text
           || CASE WHEN raw THEN '#raw' ELSE '' END || '|' ||
           pg_catalog.format('SELECT x.k, x.v, x.s, x.d, x.r FROM %s CROSS JOIN LATERAL (VALUES %s) x(k, v, s, d, r) WHERE x.v IS NOT NULL',
             privacy_internal._subject_from(c, dc, raw),
             (SELECT pg_catalog.string_agg(pg_catalog.format('(%L, %s, %s, %L::pg_catalog.text, %s)', l.kind,
                                                             privacy_internal._subject_value_expr(l, dc),
                                                             privacy_internal._subject_span_expr(l),
                                                             privacy_internal._subject_decrypt_domain(l),
                                                             privacy_internal._subject_row_key_expr(l)), ', ' ORDER BY l.attnum)
                FROM pg_catalog.unnest(privacy_internal._subject_cols()) l
               WHERE l.tbl OPERATOR(pg_catalog.=) t.tbl AND l.links)));
      END LOOP;
    END LOOP;
  END LOOP;
  RETURN link_sql;
END
$$;

-- All identifiers of the subject reached from (kind, value): the fixed
-- point described at the top of this file (src/engine.c).
CREATE FUNCTION privacy_internal._subject_identifiers(kind text, value text, at timestamptz DEFAULT NULL,
                                             OUT kinds text[], OUT vals text[], OUT spans tstzmultirange[])
  LANGUAGE c STABLE
  SET search_path = pg_catalog, pg_temp
  AS 'MODULE_PATHNAME', 'pgp_subject_identifiers';
COMMENT ON FUNCTION privacy_internal._subject_identifiers(text, text, timestamptz) IS
  'internal: every identifier of the data subject reached from one, with the period it is the subject''s';

------------------------------------------------------------------------
-- Integration with retention and consent (when installed)
------------------------------------------------------------------------

