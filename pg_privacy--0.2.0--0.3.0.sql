/* pg_privacy--0.2.0--0.3.0.sql: ALTER EXTENSION pg_privacy UPDATE TO '0.3.0'
 *
 * Assembled by src/upgrade/gen_upgrade.py from src/upgrade/0.2.0--0.3.0.pre.sql,
 * the differences between the 0.2.0 and 0.3.0 install scripts, and
 * src/upgrade/0.2.0--0.3.0.post.sql.  Edit those, not this file.
 */

\echo Use "ALTER EXTENSION pg_privacy UPDATE TO '0.3.0'" to load this file. \quit

-- The hand-written part of the update from 0.2.0 to 0.3.0 that runs before
-- the generated functions, after the generated moves (new schemas first,
-- then every privacy._name moved to privacy_internal with ALTER ... SET
-- SCHEMA, keeping its OID): changes to existing tables and types, written
-- with the names after the moves.

-- Tables new in 0.3.0 (generated)

-- Functions removed, or whose arguments or result changed (generated)

DROP FUNCTION privacy._identifier_normalize(text, text);

DROP FUNCTION privacy.normalize_msisdn(text, text);

DROP FUNCTION privacy.pseudonymize_msisdn(text, text, text);

DROP FUNCTION privacy._normalize_identifier(text, text);

DROP FUNCTION privacy._identifier_key(text, text);

DROP FUNCTION privacy._retention_on_ddl_end();


-- Functions new or changed in 0.3.0, in the order of its install script (generated)

CREATE FUNCTION privacy._renamed_column(cmd pg_catalog.pg_ddl_command,
                                        OUT relid regclass, OUT old_name name, OUT new_name name)
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_renamed_column';

COMMENT ON FUNCTION privacy._renamed_column(pg_catalog.pg_ddl_command) IS
  'internal: the relation, old and new name of a column renamed by a collected DDL command';

CREATE FUNCTION privacy._follow_column_rename(tbl regclass, old_name name, new_name name)
  RETURNS void
  LANGUAGE plpgsql VOLATILE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  detail jsonb := pg_catalog.jsonb_build_object('from', old_name, 'to', new_name);
  n bigint;
  followed boolean := false;
BEGIN
  UPDATE privacy.registered_column c SET col = new_name
   WHERE c.tbl OPERATOR(pg_catalog.=) _follow_column_rename.tbl AND c.col OPERATOR(pg_catalog.=) old_name;
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n OPERATOR(pg_catalog.>) 0 THEN
    PERFORM privacy._audit('catalog.column_renamed', tbl::text, detail);
    followed := true;
  END IF;

  UPDATE privacy.consent_requirement q SET col = new_name
   WHERE q.tbl OPERATOR(pg_catalog.=) _follow_column_rename.tbl AND q.col OPERATOR(pg_catalog.=) old_name;
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n OPERATOR(pg_catalog.>) 0 THEN
    PERFORM privacy._audit('consent.column_renamed', tbl::text, detail);
    followed := true;
  END IF;

  UPDATE privacy.retention_policy p SET time_column = new_name
   WHERE p.tbl OPERATOR(pg_catalog.=) _follow_column_rename.tbl AND p.time_column OPERATOR(pg_catalog.=) old_name;
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n OPERATOR(pg_catalog.>) 0 THEN
    PERFORM privacy._audit('retention.column_renamed', tbl::text, detail);
    followed := true;
  END IF;

  UPDATE privacy.subject_table s
     SET event_time = CASE WHEN s.event_time OPERATOR(pg_catalog.=) old_name THEN new_name ELSE s.event_time END,
         validity_column = CASE WHEN s.validity_column OPERATOR(pg_catalog.=) old_name THEN new_name
                                ELSE s.validity_column END,
         valid_from = CASE WHEN s.valid_from OPERATOR(pg_catalog.=) old_name THEN new_name ELSE s.valid_from END,
         valid_to = CASE WHEN s.valid_to OPERATOR(pg_catalog.=) old_name THEN new_name ELSE s.valid_to END,
         link_columns = pg_catalog.array_replace(s.link_columns, old_name, new_name)
   WHERE s.tbl OPERATOR(pg_catalog.=) _follow_column_rename.tbl
     AND (old_name OPERATOR(pg_catalog.=) ANY (ARRAY[s.event_time, s.validity_column, s.valid_from, s.valid_to])
          OR old_name OPERATOR(pg_catalog.=) ANY (s.link_columns));
  GET DIAGNOSTICS n = ROW_COUNT;
  IF n OPERATOR(pg_catalog.>) 0 THEN
    PERFORM privacy._audit('subject.column_renamed', tbl::text, detail);
    followed := true;
  END IF;

  IF followed THEN
    PERFORM privacy._invalidate(tbl);
  END IF;
END
$$;

COMMENT ON FUNCTION privacy._follow_column_rename(regclass, name, name) IS
  'internal: carries a renamed column along in every catalog table that names columns';

CREATE OR REPLACE FUNCTION privacy._on_ddl_end() RETURNS event_trigger
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r record;
BEGIN
  FOR r IN
    SELECT x.relid, x.old_name, x.new_name
      FROM pg_catalog.pg_event_trigger_ddl_commands() d,
           LATERAL privacy._renamed_column(d.command) x
     WHERE x.relid IS NOT NULL
  LOOP
    PERFORM privacy._follow_column_rename(r.relid, r.old_name, r.new_name);
  END LOOP;
END
$$;

CREATE FUNCTION privacy.lookup_value(normalization text, value text, default_country text)
  RETURNS text
  LANGUAGE c IMMUTABLE PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_identifier_key';

COMMENT ON FUNCTION privacy.lookup_value(text, text, text) IS
  'lookup value of an identifier as typed: normal form by normalization (msisdn, email, text), NULL when it has none; IMMUTABLE, for expression indexes';

CREATE FUNCTION privacy._identifier_normalize(kind text, value text)
  RETURNS text
  LANGUAGE c STABLE PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_identifier_normalize_kind';

COMMENT ON FUNCTION privacy._identifier_normalize(text, text) IS
  'internal: an identifier in its kind''s normal form under pg_privacy.default_country, or an error';

CREATE FUNCTION privacy._default_country()
  RETURNS text
  LANGUAGE c STABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_identifier_default_country';

COMMENT ON FUNCTION privacy._default_country() IS
  'internal: pg_privacy.default_country';

CREATE FUNCTION privacy.normalize_msisdn(raw text, default_country text DEFAULT NULL)
  RETURNS text
  LANGUAGE c STABLE PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_normalize_msisdn';

COMMENT ON FUNCTION privacy.normalize_msisdn(text, text) IS
  'E.164 form (+<country code><number>) of a phone number as people type it; national numbers of default_country (NULL: pg_privacy.default_country)';

CREATE FUNCTION privacy.pseudonymize_msisdn(msisdn text, domain text DEFAULT 'default',
                                            default_country text DEFAULT NULL)
  RETURNS text
  LANGUAGE c STABLE PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_pseudonymize_msisdn';

COMMENT ON FUNCTION privacy.pseudonymize_msisdn(text, text, text) IS
  'format-preserving pseudonym of a phone number (FF1/AES-256): same country code, first digit and length; reversible only by reidentify_msisdn';

CREATE OR REPLACE FUNCTION privacy._subject_ref(kind text, value text) RETURNS text
  LANGUAGE sql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT privacy._audit_ref(kind, privacy._identifier_normalize(kind, value))
$$;

CREATE FUNCTION privacy._trigger_problem(tbl regclass, tgname name, fn regprocedure, tgtype integer,
                                         may_follow name[])
  RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r record;
  g record;
BEGIN
  FOR r IN SELECT c.oid::regclass AS rel FROM pg_catalog.pg_class c
            WHERE (c.oid OPERATOR(pg_catalog.=) tbl
                   OR c.oid IN (SELECT p.relid FROM pg_catalog.pg_partition_tree(tbl) p))
              AND c.relkind IN ('r', 'p', 'f')
            ORDER BY c.oid OPERATOR(pg_catalog.<>) tbl, c.oid::regclass::text
  LOOP
    SELECT t.tgfoid, t.tgtype, t.tgenabled, t.tgqual IS NOT NULL AS has_when,
           pg_catalog.cardinality(t.tgattr::pg_catalog.int2[]) OPERATOR(pg_catalog.>) 0 AS has_cols
      INTO g
      FROM pg_catalog.pg_trigger t
     WHERE t.tgrelid OPERATOR(pg_catalog.=) r.rel
       AND t.tgname OPERATOR(pg_catalog.=) _trigger_problem.tgname;
    IF NOT FOUND THEN
      RETURN pg_catalog.format('trigger %I is missing on %s', tgname, r.rel);
    ELSIF g.tgfoid OPERATOR(pg_catalog.<>) fn THEN
      RETURN pg_catalog.format('trigger %I on %s does not run %s', tgname, r.rel, fn);
    ELSIF g.tgtype OPERATOR(pg_catalog.<>) _trigger_problem.tgtype OR g.has_cols THEN
      RETURN pg_catalog.format('trigger %I on %s is not of the type pg_privacy created', tgname, r.rel);
    ELSIF g.has_when THEN
      RETURN pg_catalog.format('trigger %I on %s has a WHEN condition', tgname, r.rel);
    ELSIF g.tgenabled OPERATOR(pg_catalog.<>) 'O' THEN
      RETURN pg_catalog.format('trigger %I on %s is %s', tgname, r.rel,
                               CASE g.tgenabled WHEN 'D' THEN 'disabled'
                                                WHEN 'R' THEN 'enabled for replica sessions only'
                                                ELSE 'enabled always, not as created' END);
    END IF;
    IF (tgtype OPERATOR(pg_catalog.&) 3) OPERATOR(pg_catalog.=) 3 THEN        -- ROW, BEFORE
      SELECT t.tgname INTO g FROM pg_catalog.pg_trigger t
       WHERE t.tgrelid OPERATOR(pg_catalog.=) r.rel
         AND NOT t.tgisinternal
         AND t.tgenabled IN ('O', 'A')
         AND (t.tgtype::integer OPERATOR(pg_catalog.&) 3) OPERATOR(pg_catalog.=) 3
         AND (t.tgtype::integer OPERATOR(pg_catalog.&) 20) OPERATOR(pg_catalog.<>) 0
         AND t.tgname OPERATOR(pg_catalog.>) _trigger_problem.tgname
         AND NOT (t.tgname OPERATOR(pg_catalog.=) ANY (COALESCE(may_follow, '{}'::name[])))
       ORDER BY t.tgname LIMIT 1;
      IF FOUND THEN
        RETURN pg_catalog.format('trigger %I on %s fires after %I', g.tgname, r.rel, tgname);
      END IF;
    END IF;
  END LOOP;
  RETURN NULL;
END
$$;

COMMENT ON FUNCTION privacy._trigger_problem(regclass, name, regprocedure, integer, name[]) IS
  'internal: why an enforcement trigger of pg_privacy is not in force on a table or one of its partitions (NULL: in force)';

CREATE FUNCTION privacy._enforcement_problems(tbl regclass, registered boolean, consent_required boolean,
                                              restricted boolean, OUT what text, OUT problem text)
  RETURNS SETOF record
  LANGUAGE plpgsql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  IF registered AND privacy._has_protect_trigger(tbl) THEN
    what := 'protection';
    problem := privacy._protection_problem(tbl);
    IF problem IS NOT NULL THEN
      RETURN NEXT;
    END IF;
  END IF;
  IF consent_required THEN
    what := 'consent check';
    problem := privacy._consent_problem(tbl);
    IF problem IS NOT NULL THEN
      RETURN NEXT;
    END IF;
  END IF;
  IF restricted THEN
    what := 'restriction check';
    problem := privacy._restrict_problem(tbl);
    IF problem IS NOT NULL THEN
      RETURN NEXT;
    END IF;
  END IF;
END
$$;

COMMENT ON FUNCTION privacy._enforcement_problems(regclass, boolean, boolean, boolean) IS
  'internal: the protection, consent check and restriction check of a table that are not in force, and why';

CREATE OR REPLACE FUNCTION privacy._protect_on_ddl_end(may_switch_off boolean) RETURNS void
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  reg regclass;
  e record;
  who name := privacy._invoker();
BEGIN
  -- A partition created or attached under a subject table while subjects
  -- are restricted gets its restriction check (statement triggers are not
  -- cloned to partitions).
  IF EXISTS (SELECT FROM privacy.restriction) THEN
    PERFORM privacy._restrict_install();
  END IF;
  FOR reg IN
    SELECT DISTINCT t.tbl
      FROM pg_catalog.pg_event_trigger_ddl_commands() d
      CROSS JOIN LATERAL (
        SELECT CASE WHEN d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass THEN d.objid
                    WHEN d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::regclass
                    THEN (SELECT g.tgrelid FROM pg_catalog.pg_trigger g WHERE g.oid OPERATOR(pg_catalog.=) d.objid)
               END AS relid) x
      JOIN privacy._enforced_table t
        ON t.tbl::oid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT pg_catalog.pg_partition_ancestors(x.relid)))
        OR t.tbl::oid OPERATOR(pg_catalog.=) x.relid
        -- ALTER TABLE ... INHERIT a protected table
        OR t.tbl::oid IN (SELECT i.inhparent FROM pg_catalog.pg_inherits i
                           WHERE i.inhrelid OPERATOR(pg_catalog.=) x.relid)
     WHERE x.relid IS NOT NULL
  LOOP
    FOR e IN SELECT p.* FROM privacy._enforced_table f,
                    LATERAL privacy._enforcement_problems(f.tbl, f.registered, f.consent_required, f.restricted) p
              WHERE f.tbl OPERATOR(pg_catalog.=) reg LOOP
      IF may_switch_off THEN
        RAISE WARNING '% of table % is not in force', e.what, reg
          USING DETAIL = e.problem, HINT = 'Restore it before writing to the table; privacy.catalog_problems lists it.';
        RAISE LOG 'pg_privacy: superuser % switched off % of table %: %', who, e.what, reg, e.problem;
        BEGIN
          PERFORM privacy._audit(CASE e.what WHEN 'protection' THEN 'protect.weakened'
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

CREATE OR REPLACE FUNCTION privacy._protect_on_sql_drop(may_switch_off boolean) RETURNS void
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  o record;
  rel regclass;
  what text;
  who name := privacy._invoker();
BEGIN
  FOR o IN SELECT * FROM pg_catalog.pg_event_trigger_dropped_objects() x
            WHERE x.object_type OPERATOR(pg_catalog.=) 'trigger'
              AND x.address_names[3] IN ('zz_pg_privacy_protect', 'zy_pg_privacy_consent', 'zx_pg_privacy_restrict')
  LOOP
    rel := pg_catalog.to_regclass(pg_catalog.format('%I.%I', o.address_names[1], o.address_names[2]));
    CONTINUE WHEN rel IS NULL;
    IF o.address_names[3] OPERATOR(pg_catalog.=) 'zz_pg_privacy_protect' THEN
      CONTINUE WHEN NOT EXISTS (SELECT FROM privacy.registered_table t WHERE t.tbl OPERATOR(pg_catalog.=) rel);
      CONTINUE WHEN privacy._protect_ddl_allowed(rel);
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
        PERFORM privacy._audit(CASE what WHEN 'protect trigger' THEN 'protect.weakened'
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

CREATE OR REPLACE FUNCTION privacy._consent_subject(kind text, value text, purpose text)
  RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  norm text;
  p    privacy.purpose;
BEGIN
  IF kind IS NULL OR value IS NULL OR purpose IS NULL THEN
    RAISE EXCEPTION 'identifier kind, value and purpose must not be null'
      USING ERRCODE = '22004';
  END IF;
  SELECT k.normalize INTO norm FROM privacy.identifier_kind k
   WHERE k.name OPERATOR(pg_catalog.=) _consent_subject.kind;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unknown identifier kind "%"', kind
      USING ERRCODE = '22023',
            HINT = 'Use one of: ' || (SELECT pg_catalog.string_agg(k.name, ', ' ORDER BY k.name)
                                        FROM privacy.identifier_kind k) || '.';
  END IF;
  SELECT * INTO p FROM privacy.purpose q WHERE q.name OPERATOR(pg_catalog.=) _consent_subject.purpose;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'purpose "%" does not exist', purpose
      USING ERRCODE = '22023',
            HINT = 'Define it first with privacy.define_purpose().';
  END IF;
  IF NOT p.requires_consent THEN
    RAISE EXCEPTION 'purpose "%" is not based on consent', purpose
      USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('Its legal basis is "%s"; consent is recorded only for purposes whose legal basis is consent.',
                                       p.legal_basis);
  END IF;
  RETURN privacy._identifier_normalize(kind, value);
END
$$;

CREATE OR REPLACE FUNCTION privacy.consent_history(kind text, value text)
  RETURNS TABLE(purpose text, event text, at timestamptz, source text, notice_version text,
                event_id bigint, recorded_at timestamptz, actor name)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  norm text;
  ref  text;
  e_state  text;
  e_msg    text;
  e_detail text;
  e_hint   text;
BEGIN
  IF kind IS NULL OR value IS NULL THEN
    RAISE EXCEPTION 'identifier kind and value must not be null' USING ERRCODE = '22004';
  END IF;
  SELECT k.normalize INTO norm FROM privacy.identifier_kind k
   WHERE k.name OPERATOR(pg_catalog.=) consent_history.kind;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unknown identifier kind "%"', kind USING ERRCODE = '22023';
  END IF;
  -- By the keyed subject reference, so the history of an erased identifier
  -- (value nulled, reference kept) is still found by whoever knows it.
  ref := privacy._subject_ref(kind, privacy._identifier_normalize(kind, value));
  RETURN QUERY
    SELECT e.purpose, e.event, e.at, e.source, e.notice_version, e.id, e.recorded_at, e.actor
      FROM privacy.consent_event e
     WHERE e.subject_ref OPERATOR(pg_catalog.=) ref
       AND e.kind OPERATOR(pg_catalog.=) consent_history.kind
     ORDER BY e.at, e.id;
EXCEPTION WHEN OTHERS THEN
  -- The statement that called this names a person: never logged with an
  -- error (errhidestmt), whatever the error.
  GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_msg = MESSAGE_TEXT,
                          e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
  PERFORM privacy._raise_hidden(e_state, e_msg, NULLIF(e_detail, ''), NULLIF(e_hint, ''));
END
$$;

CREATE OR REPLACE FUNCTION privacy.consent_receipt(kind text, value text, controller jsonb DEFAULT NULL)
  RETURNS jsonb
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  norm    text;
  normv   text;
  ref     text;
  records jsonb;
  last_id bigint;
  e_state  text;
  e_msg    text;
  e_detail text;
  e_hint   text;
BEGIN
  IF kind IS NULL OR value IS NULL THEN
    RAISE EXCEPTION 'identifier kind and value must not be null' USING ERRCODE = '22004';
  END IF;
  SELECT k.normalize INTO norm FROM privacy.identifier_kind k
   WHERE k.name OPERATOR(pg_catalog.=) consent_receipt.kind;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'unknown identifier kind "%"', kind USING ERRCODE = '22023';
  END IF;
  normv := privacy._identifier_normalize(kind, value);
  ref := privacy._subject_ref(kind, normv);
  SELECT pg_catalog.jsonb_agg(r ORDER BY r OPERATOR(pg_catalog.->>) 'purpose'), pg_catalog.max(m.last_id)
    INTO records, last_id
    FROM (
      SELECT pg_catalog.jsonb_build_object(
               'purpose', p.name,
               'purposeDescription', p.description,
               'legalBasis', p.legal_basis,
               'legalBasisArticle', b.article,
               'consentType', 'EXPLICIT',
               'thirdPartyDisclosure', pg_catalog.cardinality(p.recipients) OPERATOR(pg_catalog.>) 0,
               'thirdPartyName', pg_catalog.to_jsonb(p.recipients),
               'termination', 'withdrawal at any time, as easy as giving it (GDPR Art. 7(3))',
               'state', CASE pg_catalog.max(e.id) FILTER (WHERE e.event OPERATOR(pg_catalog.=) 'grant')
                              OPERATOR(pg_catalog.=) pg_catalog.max(e.id)
                             WHEN true THEN 'active' ELSE 'withdrawn' END,
               'events', pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
                           'eventId', e.id,
                           'eventType', CASE e.event WHEN 'grant' THEN 'given' ELSE 'withdrawn' END,
                           'eventTime', e.at,
                           'recordedTime', e.recorded_at,
                           'collectionMethod', e.source,
                           'noticeVersion', e.notice_version,
                           'recordedBy', e.actor) ORDER BY e.at, e.id)) AS r,
             pg_catalog.max(e.id) AS last_id
        FROM privacy.consent_event e
        JOIN privacy.purpose p ON p.name OPERATOR(pg_catalog.=) e.purpose
        JOIN privacy.legal_basis b ON b.name OPERATOR(pg_catalog.=) p.legal_basis
       WHERE e.subject_ref OPERATOR(pg_catalog.=) ref
         AND e.kind OPERATOR(pg_catalog.=) consent_receipt.kind
       GROUP BY p.name, p.description, p.legal_basis, b.article, p.recipients) m;
  RETURN pg_catalog.jsonb_build_object(
    'version', 'KI-CR-v1.1.0',
    'model', 'ISO/IEC TS 27560 consent record',
    'jurisdiction', 'DK',
    'language', 'da',
    -- Same subject and same last event give the same receipt id.
    'consentReceiptID', CASE WHEN last_id IS NULL THEN NULL ELSE
        pg_catalog.left(pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(ref || '|' || last_id::text, 'UTF8')), 'hex'), 32)::uuid::text END,
    'iat', pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.now()))::bigint,
    'piiPrincipalId', pg_catalog.jsonb_build_object('kind', kind, 'value', normv),
    'piiControllers', CASE WHEN controller IS NULL THEN '[]'::jsonb
                           ELSE pg_catalog.jsonb_build_array(controller) END,
    'sensitive', false,
    'spiCat', '[]'::jsonb,
    'consents', COALESCE(records, '[]'::jsonb));
EXCEPTION WHEN OTHERS THEN
  -- The statement that called this names a person: never logged with an
  -- error (errhidestmt), whatever the error.
  GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_msg = MESSAGE_TEXT,
                          e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
  PERFORM privacy._raise_hidden(e_state, e_msg, NULLIF(e_detail, ''), NULLIF(e_hint, ''));
END
$$;

CREATE FUNCTION privacy._consent_problem(tbl regclass) RETURNS text
  LANGUAGE sql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT privacy._trigger_problem(tbl, 'zy_pg_privacy_consent', 'privacy._consent_trigger()'::regprocedure,
                                  23, ARRAY['zz_pg_privacy_protect']::name[])   -- 23: ROW BEFORE INSERT UPDATE
$$;

CREATE OR REPLACE FUNCTION privacy._retention_written_forms(vals text[], mode text, dc text) RETURNS text[]
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

CREATE OR REPLACE FUNCTION privacy._hold_predicate(tbl regclass, alias text, param_key text,
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
  dc text := privacy._default_country();
BEGIN
  -- Holds: every registered column that holds an identifier of the kind
  -- (owner or mention), whatever form it is written in.  A stored
  -- (transformed) value is compared with the transformation of the held
  -- identifier and of its usual written forms; a value as typed, and one
  -- written before the column was protected, by its kind's normal form
  -- (privacy.lookup_value: '20 55 66 77', '004520556677' and '+4520556677'
  -- are one number; the expression export and erasure use, so one index
  -- serves them all).  Only built-in operators and the keyless, PUBLIC
  -- identifier_key: the predicate runs as the table's owner.  Holds store
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
    -- the normal forms (as identifier_key writes them) of the held values
    SELECT pg_catalog.array_agg(DISTINCT f) INTO norms
      FROM pg_catalog.unnest(c.vals) v,
           LATERAL (VALUES (v), (privacy.lookup_value(c.normalize, v, dc))) x(f)
     WHERE f IS NOT NULL;
    cond := '{}';
    IF c.protect IS NOT NULL THEN
      SELECT pg_catalog.array_agg(DISTINCT f) INTO vals
        FROM pg_catalog.unnest(privacy._retention_written_forms(c.vals, c.normalize, dc)) v,
             privacy._stored_form(v, c.protect, c.domain, c.identifies) f
       WHERE f IS NOT NULL;
      IF vals IS NOT NULL THEN
        held_args := held_args || vals::text;
        cond := cond || pg_catalog.format('%s::pg_catalog.text OPERATOR(pg_catalog.=) ANY (%s)',
                                          colref, privacy._hold_arg(held_args, param_key));
      END IF;
    ELSE
      held_args := held_args || c.vals::text;
      cond := cond || pg_catalog.format('%s::pg_catalog.text OPERATOR(pg_catalog.=) ANY (%s)',
                                        colref, privacy._hold_arg(held_args, param_key));
    END IF;
    -- as typed, or raw from before protection: by the normal form (not in
    -- an msisdn_fpe column, whose pseudonyms are numbers themselves)
    IF norms IS NOT NULL AND c.protect IS DISTINCT FROM 'msisdn_fpe' THEN
      held_args := held_args || norms::text;
      cond := cond || pg_catalog.format('privacy.lookup_value(%L, %s::pg_catalog.text, %L) OPERATOR(pg_catalog.=) ANY (%s)',
                                        c.normalize, colref, dc, privacy._hold_arg(held_args, param_key));
    END IF;
    CONTINUE WHEN pg_catalog.cardinality(cond) OPERATOR(pg_catalog.=) 0;
    parts := parts || pg_catalog.format('COALESCE(%s, false)', pg_catalog.array_to_string(cond, ' OR '));
  END LOOP;
  held_cols := pg_catalog.cardinality(parts);
  held := CASE WHEN pg_catalog.cardinality(parts) OPERATOR(pg_catalog.=) 0 THEN NULL
               ELSE '(' || pg_catalog.array_to_string(parts, ' OR ') || ')' END;
END
$$;

CREATE OR REPLACE FUNCTION privacy._retention_restricted(w privacy._retention_work, wh text, args text[],
                                             lock_timeout_ms integer,
                                             OUT pred text, OUT pargs text[])
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  dc text := privacy._default_country();
  c record;
  raw text;
  vals text[];
  rvals text[];
  rspans tstzmultirange[];
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
  FOR c IN SELECT * FROM pg_catalog.unnest(privacy._subject_cols()) sc
            WHERE sc.tbl OPERATOR(pg_catalog.=) (w.policy).tbl AND sc.link OPERATOR(pg_catalog.=) 'owner'
              AND (sc.protect IS NULL OR sc.protect OPERATOR(pg_catalog.=) 'msisdn_fpe')
            ORDER BY sc.attnum LOOP
    CONTINUE WHEN NOT EXISTS (SELECT FROM privacy.restriction r
                               WHERE r.kind OPERATOR(pg_catalog.=) c.kind
                                 AND (r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()));
    raw := privacy._owner_query((w.policy).tbl,
             pg_catalog.format('SELECT pg_catalog.array_agg(DISTINCT %I::pg_catalog.text) FROM %s WHERE %s AND %I IS NOT NULL',
                               c.col, w.rel, wh, c.col),
             args, lock_timeout_ms);
    CONTINUE WHEN raw IS NULL;
    vals := raw::text[];
    -- (a stored value that cannot be read back, which the trigger would
    -- refuse as well, is left alone as if restricted)
    WITH v AS (
      SELECT u.val,
             CASE WHEN c.protect IS NOT NULL THEN privacy._retention_fpe_ref(c.kind, u.val, c.domain)
                  ELSE privacy._audit_ref(c.kind, privacy.lookup_value(c.mode, u.val, dc)) END AS ref
        FROM pg_catalog.unnest(vals) u(val))
    SELECT pg_catalog.array_agg(x.val ORDER BY x.val), pg_catalog.array_agg(x.span ORDER BY x.val)
      INTO rvals, rspans
      FROM (SELECT v.val, r.span
              FROM v JOIN privacy.restriction r
                ON r.kind OPERATOR(pg_catalog.=) c.kind AND r.subject_ref OPERATOR(pg_catalog.=) v.ref
             WHERE r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()
            UNION ALL
            SELECT v.val, '{(,)}'::pg_catalog.tstzmultirange FROM v WHERE v.ref OPERATOR(pg_catalog.=) '') x;
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
  IF pg_catalog.cardinality(conds) OPERATOR(pg_catalog.>) 0 THEN
    pred := pg_catalog.array_to_string(conds, ' AND ');
  END IF;
END
$$;

CREATE OR REPLACE FUNCTION privacy.hold(kind text, value text, reason text, until timestamptz DEFAULT NULL)
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
  norm := privacy._identifier_normalize(kind, value);
  -- Wait for a purge batch in progress: it did not see this hold.  The
  -- next batch does.
  PERFORM pg_catalog.pg_advisory_xact_lock(1885827186, privacy._lock_key('hold'));
  INSERT INTO privacy.legal_hold (kind, value, reason, placed_by, until)
       VALUES (kind, norm, reason, privacy._invoker(), until)
    RETURNING id INTO new_id;
  PERFORM privacy._audit('retention.hold', NULL,
                         pg_catalog.jsonb_build_object('hold', new_id, 'kind', kind,
                                                       'subject', privacy._subject_ref(kind, value),
                                                       'until', until));
  RETURN new_id;
END
$$;

CREATE OR REPLACE FUNCTION privacy.create_pseudonymized_extract(view_name text, tbl regclass,
                                                     domain text DEFAULT 'analytics',
                                                     time_unit text DEFAULT 'day',
                                                     grant_to name DEFAULT NULL)
  RETURNS regclass
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  caller name := privacy._invoker();
  parts text[];
  s record;
  expr text;
  sel text := '';
  cols text := '';
  src text;
  npersonal integer := 0;
  keyed boolean := false;
  fpe boolean := false;
BEGIN
  IF view_name IS NULL OR tbl IS NULL OR domain IS NULL OR time_unit IS NULL THEN
    RAISE EXCEPTION 'view name, table, domain and time unit must not be null' USING ERRCODE = '22004';
  END IF;
  parts := privacy._qualified_name(view_name, 'view');
  IF time_unit OPERATOR(pg_catalog.<>) ALL (ARRAY['minute','hour','day','week','month','quarter','year']) THEN
    RAISE EXCEPTION 'invalid generalization unit "%"', time_unit
      USING ERRCODE = '22023', HINT = 'Use one of: minute, hour, day, week, month, quarter, year.';
  END IF;
  IF domain OPERATOR(pg_catalog.=) 'default' OR pg_catalog.octet_length(domain) NOT BETWEEN 1 AND 200 THEN
    RAISE EXCEPTION 'invalid analytics domain "%"', domain
      USING ERRCODE = '22023',
            DETAIL = 'An extract needs a domain of its own (1 to 200 bytes, not "default"), so its pseudonyms link to nothing else.';
  END IF;
  IF NOT pg_catalog.has_table_privilege(caller, tbl, 'SELECT') THEN
    RAISE EXCEPTION 'permission denied for table %', tbl USING ERRCODE = '42501';
  END IF;
  -- the rows are computed with the caller's rights: no policy of the
  -- table owner's may run then
  IF EXISTS (SELECT FROM pg_catalog.pg_class c
              WHERE c.oid OPERATOR(pg_catalog.=) tbl AND c.relrowsecurity
                AND NOT EXISTS (SELECT FROM pg_catalog.pg_roles r
                                 WHERE r.rolname OPERATOR(pg_catalog.=) caller AND (r.rolsuper OR r.rolbypassrls))
                AND (c.relforcerowsecurity OR NOT pg_catalog.pg_has_role(caller, c.relowner, 'USAGE'))) THEN
    RAISE EXCEPTION 'an extract cannot read %, whose row-level security policies would apply', tbl
      USING ERRCODE = '0A000', HINT = 'Publish it as the table''s owner.';
  END IF;
  PERFORM privacy._check_publish_schema(parts[1], caller);
  FOR s IN
    SELECT a.attname AS col, a.atttypid AS typid, pg_catalog.format_type(a.atttypid, a.atttypmod) AS type,
           c.category, c.identifies, c.protect,
           (SELECT np.category FROM privacy.name_pattern np
             WHERE a.attname::text OPERATOR(pg_catalog.~*) np.pattern
             ORDER BY np.pattern LIMIT 1) AS looks
      FROM pg_catalog.pg_attribute a
      -- a partition is declared by its partitioned table
      LEFT JOIN LATERAL (
             SELECT c0.category, c0.identifies, c0.protect FROM privacy.registered_column c0
              WHERE c0.tbl OPERATOR(pg_catalog.=) ANY (
                      SELECT create_pseudonymized_extract.tbl
                      UNION SELECT pa.relid FROM pg_catalog.pg_partition_ancestors(create_pseudonymized_extract.tbl) pa)
                AND c0.col OPERATOR(pg_catalog.=) a.attname
              LIMIT 1) c ON true
     WHERE a.attrelid OPERATOR(pg_catalog.=) create_pseudonymized_extract.tbl AND a.attnum OPERATOR(pg_catalog.>) 0
       AND NOT a.attisdropped
     ORDER BY a.attnum
  LOOP
    -- an undeclared column that looks personal would pass raw: declare it first
    IF s.category IS NULL AND s.looks IS NOT NULL THEN
      RAISE EXCEPTION 'column "%" of % looks like personal data (%) and is not declared', s.col, tbl, s.looks
        USING ERRCODE = '42501',
              HINT = 'Declare it with privacy.register_column(); an extract passes undeclared columns unchanged.';
    END IF;
    -- what the extract computes over, it computes over built-in types only
    IF s.category IS NOT NULL AND s.typid OPERATOR(pg_catalog.>=) 16384 THEN
      RAISE EXCEPTION 'column "%" of % has type %, which an extract cannot transform', s.col, tbl, s.type
        USING ERRCODE = '0A000', DETAIL = 'Declared columns are transformed as built-in types only.';
    END IF;
    expr := CASE
      WHEN s.category IS NULL THEN pg_catalog.format('t.%I', s.col)
      WHEN s.category OPERATOR(pg_catalog.=) 'traffic'
           AND s.type OPERATOR(pg_catalog.=) ANY (ARRAY['timestamp with time zone', 'timestamp without time zone', 'date'])
        THEN pg_catalog.format('pg_catalog.date_trunc(%L, t.%I)', time_unit, s.col)
      WHEN s.category OPERATOR(pg_catalog.=) 'traffic' THEN pg_catalog.format('t.%I', s.col)
      WHEN s.category OPERATOR(pg_catalog.=) 'location'
        THEN pg_catalog.format('privacy._extract_country(t.%I::text)', s.col)
      WHEN s.identifies OPERATOR(pg_catalog.=) 'msisdn' AND s.protect IS NULL
        THEN pg_catalog.format('privacy.pseudonymize(privacy.pseudonymize_msisdn(privacy._extract_msisdn(t.%I::text)), %L)', s.col, domain)
      WHEN s.identifies OPERATOR(pg_catalog.=) 'email' AND s.protect IS NULL
        -- the e-mail normal form (src/identifier.c), as protect stores it
        THEN pg_catalog.format('privacy.pseudonymize(COALESCE(privacy.lookup_value(''email'', t.%I::text, NULL), t.%I::text), %L)',
                               s.col, s.col, domain)
      ELSE pg_catalog.format('privacy.pseudonymize(t.%I::text, %L)', s.col, domain)
    END;
    IF s.category IS NOT NULL THEN
      npersonal := npersonal OPERATOR(pg_catalog.+) 1;
      keyed := keyed OR s.category OPERATOR(pg_catalog.<>) ALL (ARRAY['traffic', 'location']);
      fpe := fpe OR (s.identifies OPERATOR(pg_catalog.=) 'msisdn' AND s.protect IS NULL);
    END IF;
    sel := sel OPERATOR(pg_catalog.||) CASE WHEN sel OPERATOR(pg_catalog.=) '' THEN '' ELSE ', ' END
               OPERATOR(pg_catalog.||) expr OPERATOR(pg_catalog.||) pg_catalog.format(' AS %I', s.col);
    cols := cols OPERATOR(pg_catalog.||) CASE WHEN cols OPERATOR(pg_catalog.=) '' THEN '' ELSE ', ' END
                 OPERATOR(pg_catalog.||) pg_catalog.format('%I %s', s.col,
                      CASE WHEN s.category IS NULL OR s.category OPERATOR(pg_catalog.=) 'traffic' THEN s.type
                           ELSE 'text' END);
  END LOOP;
  IF npersonal OPERATOR(pg_catalog.=) 0 THEN
    RAISE EXCEPTION 'table % declares no personal column', tbl
      USING ERRCODE = '55000', HINT = 'Declare its columns with privacy.register_column() first.';
  END IF;
  -- the rows are computed with the caller's rights: the caller must hold the keys
  IF keyed AND NOT pg_catalog.has_function_privilege(caller, 'privacy.pseudonymize(text, text)', 'EXECUTE') THEN
    RAISE EXCEPTION 'permission denied for function pseudonymize' USING ERRCODE = '42501';
  END IF;
  IF fpe AND NOT pg_catalog.has_function_privilege(caller, 'privacy.pseudonymize_msisdn(text, text, text)', 'EXECUTE') THEN
    RAISE EXCEPTION 'permission denied for function pseudonymize_msisdn' USING ERRCODE = '42501';
  END IF;

  -- the table by its qualified name: the rows are computed with a pinned search_path
  SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) INTO src
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
   WHERE c.oid OPERATOR(pg_catalog.=) tbl;
  RETURN privacy._publish(parts, cols, pg_catalog.format('SELECT %s FROM %s t', sel, src),
                          'pseudonymized_extract', tbl::text, NULL, NULL, domain, time_unit,
                          grant_to, caller,
                          pg_catalog.format('pseudonymized extract (pg_privacy) of %s: domain %s, time by %s',
                                            tbl, domain, time_unit),
                          pg_catalog.jsonb_build_object('domain', domain, 'time_unit', time_unit));
END
$$;

CREATE OR REPLACE FUNCTION privacy._subject_key(mode text, value text, default_country text)
  RETURNS text
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_identifier_key';

COMMENT ON FUNCTION privacy._subject_key(text, text, text) IS
  'internal: privacy.lookup_value under the subject engine''s name';

CREATE OR REPLACE FUNCTION privacy._subject_normalize(kind text, value text)
  RETURNS text
  LANGUAGE c STABLE PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_identifier_normalize_kind';

COMMENT ON FUNCTION privacy._subject_normalize(text, text) IS
  'internal: an identifier in its kind''s normal form, or an error (privacy._identifier_normalize)';

CREATE OR REPLACE FUNCTION privacy._subject_match(c privacy._subject_column, dc text)
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

CREATE OR REPLACE FUNCTION privacy._subject_value_expr(c privacy._subject_column, dc text)
  RETURNS text
  LANGUAGE sql STABLE
AS $$
  SELECT CASE
           WHEN c.protect OPERATOR(pg_catalog.=) 'msisdn_fpe' THEN pg_catalog.format('t.%I::pg_catalog.text', c.col)
           WHEN c.protect IS NOT NULL THEN 'NULL::pg_catalog.text'
           ELSE pg_catalog.format('privacy.lookup_value(%L, t.%I::pg_catalog.text, %L)', c.mode, c.col, dc)
         END
$$;

CREATE OR REPLACE FUNCTION privacy._subject_identifiers(kind text, value text, at timestamptz DEFAULT NULL,
                                             OUT kinds text[], OUT vals text[], OUT spans tstzmultirange[])
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  dc       text := privacy._default_country();
  norm     text := privacy._subject_normalize(kind, value);
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
            WHERE sc.link OPERATOR(pg_catalog.=) 'owner'
            GROUP BY sc.tbl
           HAVING pg_catalog.count(*) FILTER (WHERE sc.links) OPERATOR(pg_catalog.>=) 1
              AND pg_catalog.count(*) OPERATOR(pg_catalog.>=) 2
            ORDER BY sc.tbl::oid LOOP
    EXIT WHEN cached IS NOT NULL;
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

CREATE OR REPLACE FUNCTION privacy._subject_export(kind text, value text, at timestamptz)
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
  reten  jsonb := privacy._subject_retention_all();
BEGIN
  ids := privacy._subject_identifiers(kind, value, at);
  params := privacy._subject_params(ids.kinds, ids.vals, ids.spans);
  FOR t IN SELECT sc.tbl FROM pg_catalog.unnest(privacy._subject_cols()) sc GROUP BY sc.tbl ORDER BY sc.tbl::text LOOP
    CONTINUE WHEN NOT EXISTS (SELECT FROM pg_catalog.unnest(privacy._subject_cols()) sc
                               WHERE sc.tbl OPERATOR(pg_catalog.=) t.tbl
                                 AND params OPERATOR(pg_catalog.?) (sc.tbl::oid::text || '.' || sc.attnum::text));
    rs := privacy._subject_rows_sql(t.tbl, dc);
    CONTINUE WHEN rs.q IS NULL;
    -- the rows, read as the table's owner; shown from their JSON here
    EXECUTE 'SELECT pg_catalog.jsonb_agg(' || rs.shown || ') FILTER (WHERE x.pri OPERATOR(pg_catalog.=) 0),
                    pg_catalog.jsonb_agg(' || rs.shown || ') FILTER (WHERE x.pri OPERATOR(pg_catalog.=) 1)
               FROM (SELECT (e OPERATOR(pg_catalog.->>) 0)::pg_catalog.int4 AS pri, e OPERATOR(pg_catalog.->>) 1 AS m,
                            e OPERATOR(pg_catalog.->) 2 AS j
                       FROM privacy._subject_rows($1, $2, $3) e) x'
      INTO own, ment USING t.tbl, rs.q, params;
    CONTINUE WHEN own IS NULL AND ment IS NULL;
    tables := tables OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_array(
                privacy._subject_table_json(t.tbl, reten) OPERATOR(pg_catalog.||)
                pg_catalog.jsonb_build_object('rows', COALESCE(own, '[]'), 'mentions', COALESCE(ment, '[]')));
  END LOOP;
  RETURN privacy._subject_header(kind, ids.vals[1], ids.kinds, ids.vals, ids.spans)
         OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('tables', tables);
END
$$;

CREATE OR REPLACE FUNCTION privacy._subject_export_stream(kind text, value text, chunk_rows integer, at timestamptz)
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

CREATE OR REPLACE FUNCTION privacy._restrict_check(fired regclass, vals jsonb)
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

CREATE OR REPLACE FUNCTION privacy._restrict_install()
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

CREATE FUNCTION privacy._restrict_problem(tbl regclass) RETURNS text
  LANGUAGE sql STABLE STRICT
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT privacy._trigger_problem(tbl, 'zx_pg_privacy_restrict', 'privacy._restrict_trigger()'::regprocedure,
                                  16, NULL)   -- 16: STATEMENT AFTER UPDATE
$$;

CREATE OR REPLACE FUNCTION privacy._subject_erase(kind text, value text, at timestamptz)
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
  order_  regclass[];
  cached  text;
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
  -- switched off may hold raw values the erasure would not find.
  PERFORM privacy._check_protection(x) FROM pg_catalog.unnest(order_) x;
  any_hold := EXISTS (SELECT FROM privacy.legal_hold lh
                       WHERE lh.released_at IS NULL
                         AND (lh.until IS NULL OR lh.until OPERATOR(pg_catalog.>) pg_catalog.now()));
  FOR t IN SELECT x AS tbl FROM pg_catalog.unnest(order_) WITH ORDINALITY u(x, o) ORDER BY u.o LOOP
    table_name := t.tbl;
    IF holds IS NOT NULL THEN
      -- Under a hold nothing of the subject changes: count what is kept.
      n := 0;
      FOR c IN SELECT * FROM pg_catalog.unnest(privacy._subject_cols()) sc
                WHERE sc.tbl OPERATOR(pg_catalog.=) t.tbl AND sc.link OPERATOR(pg_catalog.=) 'owner' LOOP
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
    SELECT (reten OPERATOR(pg_catalog.->) (t.tbl::oid::text) OPERATOR(pg_catalog.->>) 'time_column')::name AS time_column,
           (reten OPERATOR(pg_catalog.->) (t.tbl::oid::text) OPERATOR(pg_catalog.->>) 'keep_at_least')::interval AS keep_at_least,
           m.keep_cond, m.row_time
      INTO keep
      FROM privacy._legal_minimum_sql(t.tbl, 't', pg_catalog.now()) m;
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
      FOR c IN SELECT * FROM pg_catalog.unnest(privacy._subject_cols()) sc
                WHERE sc.tbl OPERATOR(pg_catalog.=) t.tbl LOOP
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
    FOR c IN SELECT * FROM pg_catalog.unnest(privacy._subject_cols()) sc
              WHERE sc.tbl OPERATOR(pg_catalog.=) t.tbl AND sc.link OPERATOR(pg_catalog.=) 'owner'
              ORDER BY sc.attnum LOOP
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
      BEGIN
        n := privacy._subject_exec(t.tbl,
               pg_catalog.format('DELETE FROM %s t USING %s WHERE %s AND NOT %s',
                                 t.tbl, privacy._subject_ids_sql(c.tbl::oid::text || '.' || c.attnum::text),
                                 privacy._subject_match(c, dc), keepcond),
               params);
      EXCEPTION WHEN foreign_key_violation THEN
        -- Rows that other kept rows still reference stay as long as they do.
        nrows := (privacy._subject_query(t.tbl, 'SELECT pg_catalog.to_jsonb(pg_catalog.count(*)) FROM ' || privacy._subject_from(c, dc),
                                         params) OPERATOR(pg_catalog.#>>) '{}')::bigint;
        kept := GREATEST(kept, nrows);
        referenced := true;
        n := 0;
      END;
      deleted := deleted OPERATOR(pg_catalog.+) n;
    END LOOP;
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
    FOR c IN SELECT * FROM pg_catalog.unnest(privacy._subject_cols()) sc
              WHERE sc.tbl OPERATOR(pg_catalog.=) t.tbl AND sc.link OPERATOR(pg_catalog.=) 'mention'
              ORDER BY sc.attnum LOOP
      CONTINUE WHEN NOT params OPERATOR(pg_catalog.?) (c.tbl::oid::text || '.' || c.attnum::text);
      IF c.notnull THEN
        RAISE EXCEPTION 'cannot scrub mentions in column "%" of relation %', c.col, c.tbl
          USING ERRCODE = '55000',
                DETAIL = 'The column is NOT NULL, so the subject''s identifier cannot be removed from other subjects'' rows.',
                HINT = 'Allow NULL in the column (ALTER TABLE ... ALTER COLUMN ... DROP NOT NULL).';
      END IF;
      nrows := privacy._subject_exec(t.tbl,
               pg_catalog.format('UPDATE %s t SET %I = NULL FROM %s WHERE %s AND NOT %s',
                                 t.tbl, c.col, privacy._subject_ids_sql(c.tbl::oid::text || '.' || c.attnum::text),
                                 privacy._subject_match(c, dc), COALESCE(heldcond, 'false')),
               params);
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

CREATE OR REPLACE FUNCTION privacy.health()
  RETURNS TABLE(area text, status text, detail text, hint text)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
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
  conn text;
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
        conn := privacy._cron_connection_problem();
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
            FROM privacy.undeclared_columns u) x;
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
                                COALESCE(privacy._protection_problem(r.table_name),
                                                    'it has protect declarations but no protect trigger'));
    hint := CASE WHEN privacy._has_protect_trigger(r.table_name)
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
END
$$;

-- Views, triggers, comments and configuration new or changed in 0.3.0 (generated)

CREATE OR REPLACE VIEW privacy.consent_requirements AS
SELECT q.tbl AS table_name, q.col AS subject_column, q.kind, q.purpose, q.on_withdraw,
       privacy._consent_problem(q.tbl) IS NULL AS enforced,
       q.required_at, q.required_by
  FROM privacy.consent_requirement q;

CREATE OR REPLACE VIEW privacy.missing_indexes AS
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
                        OPERATOR(pg_catalog.~) ('(^|\.)identifier_key\(''' || c.mode || '''::text, '
                                                || pg_catalog.regexp_replace(pg_catalog.quote_ident(c.col), '([^a-zA-Z0-9_])', '\\\1', 'g')
                                                || '(::text)?, ''' || privacy._default_country() || '''::text\)$')
               ELSE i.indkey[0] OPERATOR(pg_catalog.=) c.attnum END);

CREATE VIEW privacy._enforced_table AS
SELECT t.tbl,
       EXISTS (SELECT FROM privacy.registered_table r WHERE r.tbl OPERATOR(pg_catalog.=) t.tbl) AS registered,
       EXISTS (SELECT FROM privacy.consent_requirement q WHERE q.tbl OPERATOR(pg_catalog.=) t.tbl) AS consent_required,
       EXISTS (SELECT FROM privacy.restriction)
       AND EXISTS (SELECT FROM privacy.registered_column c
                    WHERE c.tbl OPERATOR(pg_catalog.=) t.tbl
                      AND c.identifies IS NOT NULL AND c.link OPERATOR(pg_catalog.=) 'owner') AS restricted
  FROM (SELECT r.tbl FROM privacy.registered_table r
        UNION SELECT q.tbl FROM privacy.consent_requirement q) t
 WHERE EXISTS (SELECT FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) t.tbl);

CREATE OR REPLACE VIEW privacy.personal_data AS
SELECT c.tbl                          AS table_name,
       c.col                          AS column_name,
       pg_catalog.format_type(a.atttypid, a.atttypmod) AS data_type,
       c.category,
       c.identifies,
       c.link,
       c.protect,
       CASE WHEN c.protect IN ('pseudonym', 'msisdn_fpe', 'email_pseudonym') THEN c.domain END
                                      AS protect_domain,
       t.purpose,
       p.legal_basis,
       b.article                      AS legal_basis_article,
       p.requires_consent,
       p.recipients,
       p.description                  AS purpose_description,
       privacy._retention_text(r)     AS retention,
       r.keep                         AS retention_keep,
       r.action                       AS retention_action,
       r.keep_at_least                AS retention_keep_at_least
  FROM privacy.registered_column c
  JOIN privacy.registered_table t ON t.tbl OPERATOR(pg_catalog.=) c.tbl
  JOIN privacy.purpose p ON p.name OPERATOR(pg_catalog.=) t.purpose
  JOIN privacy.legal_basis b ON b.name OPERATOR(pg_catalog.=) p.legal_basis
  LEFT JOIN pg_catalog.pg_attribute a
         ON a.attrelid OPERATOR(pg_catalog.=) c.tbl AND a.attname OPERATOR(pg_catalog.=) c.col
        AND NOT a.attisdropped
  LEFT JOIN privacy.retention_policy r ON r.tbl OPERATOR(pg_catalog.=) c.tbl;

COMMENT ON VIEW privacy.personal_data IS
  'the record of processing (GDPR Art. 30): every declared personal column with purpose, legal basis, recipients and retention';

CREATE OR REPLACE VIEW privacy.catalog_problems AS
SELECT c.tbl AS table_name, c.col AS column_name,
       'column does not exist'::text AS problem
  FROM privacy.registered_column c
 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a
                    WHERE a.attrelid OPERATOR(pg_catalog.=) c.tbl
                      AND a.attname OPERATOR(pg_catalog.=) c.col AND NOT a.attisdropped)
UNION ALL
SELECT c.tbl, c.col,
       pg_catalog.format('type %s does not suit protect transformation "%s"',
                         pg_catalog.format_type(a.atttypid, NULL), c.protect)
  FROM privacy.registered_column c
  JOIN pg_catalog.pg_attribute a
    ON a.attrelid OPERATOR(pg_catalog.=) c.tbl AND a.attname OPERATOR(pg_catalog.=) c.col
   AND NOT a.attisdropped
 WHERE c.protect IS NOT NULL AND c.protect OPERATOR(pg_catalog.<>) 'null'
   AND a.atttypid NOT IN ('text'::regtype, 'varchar'::regtype)
   AND NOT (c.protect OPERATOR(pg_catalog.=) 'country' AND a.atttypid OPERATOR(pg_catalog.=) 'bpchar'::regtype)
UNION ALL
SELECT c.tbl, c.col,
       pg_catalog.format('identifier column has type %s, not a built-in text or integer type',
                         pg_catalog.format_type(a.atttypid, NULL))
  FROM privacy.registered_column c
  JOIN pg_catalog.pg_attribute a
    ON a.attrelid OPERATOR(pg_catalog.=) c.tbl AND a.attname OPERATOR(pg_catalog.=) c.col
   AND NOT a.attisdropped
 WHERE c.identifies IS NOT NULL
   -- the list of privacy._identifier_type_ok, inline: whoever may read
   -- this view needs no grant on an internal function
   AND a.atttypid NOT IN ('text'::regtype, 'varchar'::regtype, 'bpchar'::regtype,
                          'int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'numeric'::regtype)
UNION ALL
SELECT c.tbl, c.col, 'protected column is generated and would be stored untransformed'
  FROM privacy.registered_column c
  JOIN pg_catalog.pg_attribute a
    ON a.attrelid OPERATOR(pg_catalog.=) c.tbl AND a.attname OPERATOR(pg_catalog.=) c.col
   AND NOT a.attisdropped
 WHERE c.protect IS NOT NULL AND a.attgenerated OPERATOR(pg_catalog.<>) ''
UNION ALL
SELECT c.tbl, c.col,
       pg_catalog.format('owner %s of the table may not produce pseudonyms of domain "%s"',
                         pg_catalog.pg_get_userbyid(k.relowner), c.domain)
  FROM privacy.registered_column c
  JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) c.tbl
 WHERE c.protect IN ('pseudonym', 'msisdn_fpe', 'email_pseudonym')
   -- as privacy._domain_allowed() decides, readable by whoever reads the view
   AND NOT pg_catalog.pg_has_role(k.relowner,
                                  (SELECT o.relowner FROM pg_catalog.pg_class o
                                    WHERE o.oid OPERATOR(pg_catalog.=) 'privacy.registered_table'::regclass),
                                  'USAGE')
   AND NOT EXISTS (SELECT FROM privacy.domain_grant g
                     JOIN pg_catalog.pg_roles r ON r.oid OPERATOR(pg_catalog.=) g.grantee::pg_catalog.oid
                    WHERE g.domain OPERATOR(pg_catalog.=) c.domain
                      AND pg_catalog.pg_has_role(k.relowner, g.grantee::pg_catalog.oid, 'USAGE'))
UNION ALL
SELECT t.tbl, NULL, e.what || ' is not in force: ' || e.problem
  FROM privacy._enforced_table t
  CROSS JOIN LATERAL privacy._enforcement_problems(t.tbl, t.registered, t.consent_required, t.restricted) e
UNION ALL
SELECT q.tbl, q.col, pg_catalog.format('consent requirement for purpose "%s" names a column that does not exist', q.purpose)
  FROM privacy.consent_requirement q
 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a
                    WHERE a.attrelid OPERATOR(pg_catalog.=) q.tbl
                      AND a.attname OPERATOR(pg_catalog.=) q.col AND NOT a.attisdropped)
UNION ALL
SELECT p.tbl, p.time_column, 'retention policy names a time column that does not exist'
  FROM privacy.retention_policy p
 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a
                    WHERE a.attrelid OPERATOR(pg_catalog.=) p.tbl
                      AND a.attname OPERATOR(pg_catalog.=) p.time_column AND NOT a.attisdropped)
UNION ALL
SELECT s.tbl, x.col, pg_catalog.format('subject table''s %s column does not exist', x.role)
  FROM privacy.subject_table s
  CROSS JOIN LATERAL (VALUES ('event_time', s.event_time), ('validity', s.validity_column),
                             ('valid_from', s.valid_from), ('valid_to', s.valid_to)
                      UNION ALL
                      SELECT 'link', l FROM pg_catalog.unnest(s.link_columns) l) x(role, col)
 WHERE x.col IS NOT NULL
   AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a
                    WHERE a.attrelid OPERATOR(pg_catalog.=) s.tbl
                      AND a.attname OPERATOR(pg_catalog.=) x.col AND NOT a.attisdropped)
UNION ALL
SELECT t.tbl, NULL, 'table does not exist'
  FROM privacy.registered_table t
 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) t.tbl);

-- The hand-written part of the update from 0.2.0 to 0.3.0 that runs after
-- the generated functions, views and comments.

-- The query of a published view is stored as text (privacy.published.body)
-- and run by the view's row function: the helpers it names
-- (_extract_msisdn, _extract_country) moved to privacy_internal.
UPDATE privacy.published
   SET body = pg_catalog.regexp_replace(body, '(^|[^[:alnum:]_."])privacy\._', '\1privacy_internal._', 'g')
 WHERE body OPERATOR(pg_catalog.~) 'privacy\._';


-- Privileges: every GRANT and REVOKE of the 0.3.0 install script, in its order (generated)

GRANT USAGE ON SCHEMA privacy TO PUBLIC;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA privacy FROM PUBLIC;

REVOKE ALL ON ALL TABLES IN SCHEMA privacy FROM PUBLIC;

REVOKE ALL ON ALL SEQUENCES IN SCHEMA privacy FROM PUBLIC;

GRANT EXECUTE ON FUNCTION privacy.normalize_msisdn(text, text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy.lookup_value(text, text, text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy.mask_msisdn(text, integer) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy.country_of(text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy.generalize(timestamptz, text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy._protect_trigger() TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy._is_protected(regclass), privacy._has_protect_trigger(regclass),
                          privacy._protection_problem(regclass),
                          privacy._trigger_problem(regclass, name, regprocedure, integer, name[]),
                          privacy._consent_problem(regclass), privacy._restrict_problem(regclass),
                          privacy._enforcement_problems(regclass, boolean, boolean, boolean) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy.k_anonymity(regclass, name[], integer) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy._extract_msisdn(text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy._extract_country(text) TO PUBLIC;

REVOKE ALL ON PROCEDURE privacy.run_purge(integer, integer, integer) FROM PUBLIC;

GRANT EXECUTE ON FUNCTION privacy._subject_key(text, text, text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy._subject_ids(jsonb, text) TO PUBLIC;

REVOKE ALL ON FUNCTION privacy.health() FROM PUBLIC;
