/* pg_privacy--0.4.0--0.5.0.sql: ALTER EXTENSION pg_privacy UPDATE TO '0.5.0'
 *
 * Assembled by src/upgrade/gen_upgrade.py from src/upgrade/0.4.0--0.5.0.pre.sql,
 * the differences between the 0.4.0 and 0.5.0 install scripts, and
 * src/upgrade/0.4.0--0.5.0.post.sql.  Edit those, not this file.
 */

\echo Use "ALTER EXTENSION pg_privacy UPDATE TO '0.5.0'" to load this file. \quit

-- The hand-written part of the update from 0.4.0 to 0.5.0 that runs before
-- the generated functions: a column's own mask (privacy.set_mask) is kept
-- in the catalog.
ALTER TABLE privacy.registered_column ADD COLUMN mask text;

-- Tables new in 0.5.0 (generated)

CREATE TABLE privacy.masked_role (
  role               regrole PRIMARY KEY,
  privacy_by_default boolean NOT NULL DEFAULT false,
  masked_at          timestamptz NOT NULL DEFAULT now(),
  masked_by          name NOT NULL DEFAULT current_user
);

-- Functions removed, or whose arguments or result changed (generated)

DROP FUNCTION privacy_internal._consent_receipt(text, text, jsonb);

DROP FUNCTION privacy_internal._subject_with_consent(text[], text[]);


-- Functions new or changed in 0.5.0, in the order of its install script (generated)

CREATE FUNCTION privacy_internal._citus_refuse(tbl regclass, what text) RETURNS void
  LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'pgp_citus_refuse_sql';

COMMENT ON FUNCTION privacy_internal._citus_refuse(regclass, text) IS
  'internal: refuses (0A000) when Citus manages the table';

CREATE FUNCTION privacy_internal._citus_table(tbl regclass) RETURNS boolean
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_citus_table_sql';

COMMENT ON FUNCTION privacy_internal._citus_table(regclass) IS
  'internal: does Citus distribute, replicate or manage the table';

CREATE FUNCTION privacy_internal._citus_refuse_worker(what text) RETURNS void
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_citus_refuse_worker';

COMMENT ON FUNCTION privacy_internal._citus_refuse_worker(text) IS
  'internal: refuses (0A000) on a Citus worker';

CREATE OR REPLACE FUNCTION privacy_internal._audit(event text, object text DEFAULT NULL,
                               detail jsonb DEFAULT '{}')
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  prev   bytea;
  new_id bigint;
  ts     timestamptz := pg_catalog.clock_timestamp();
  who    name := pg_catalog.session_user();
  as_role name := privacy_internal._invoker();
  fp     text;
  h      bytea;
BEGIN
  IF event IS NULL THEN
    RAISE EXCEPTION 'audit event must not be null' USING ERRCODE = '22004';
  END IF;
  detail := COALESCE(detail, '{}'::jsonb);
  -- One chain, on the coordinator: never an entry in a Citus worker's own.
  PERFORM privacy_internal._citus_refuse_worker(event);
  -- Nothing is appended unkeyed: without a usable key this fails (55000).
  fp := privacy.key_fingerprint();
  -- Lock the head: writers queue here, and under REPEATABLE READ a
  -- concurrent append raises a serialization failure instead of forking
  -- the chain.
  SELECT h0.last_hash INTO prev FROM privacy.audit_head h0 FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO privacy.audit_head VALUES (true, 0, '\x'::bytea)
      ON CONFLICT DO NOTHING;
    SELECT h0.last_hash INTO prev FROM privacy.audit_head h0 FOR UPDATE;
  END IF;
  new_id := pg_catalog.nextval('privacy.audit_log_id_seq');
  h := privacy_internal._audit_digest(prev, new_id, ts, who, as_role, event, object, detail, fp);
  INSERT INTO privacy.audit_log (id, at, actor, role, event, object, detail, prev_hash, hash, key_fingerprint)
       VALUES (new_id, ts, who, as_role, event, object, detail, prev, h, fp);
  UPDATE privacy.audit_head SET last_id = new_id, last_hash = h;
  PERFORM privacy_internal._audit_anchor(new_id, h, fp);
  RETURN new_id;
END
$$;

CREATE OR REPLACE FUNCTION privacy.protect(tbl regclass, rewrite_existing boolean DEFAULT false) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  ncols integer;
  nrows bigint := 0;
  d text;
BEGIN
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'table must not be null' USING ERRCODE = '22004',
          HINT = 'A mistyped table name given to to_regclass() yields NULL; check the name.';
  END IF;
  IF rewrite_existing IS NULL THEN
    RAISE EXCEPTION 'rewrite_existing must not be null' USING ERRCODE = '22004';
  END IF;
  IF NOT EXISTS (SELECT FROM privacy.registered_table t WHERE t.tbl OPERATOR(pg_catalog.=) protect.tbl) THEN
    RAISE EXCEPTION 'table % is not registered', tbl
      USING ERRCODE = '55000',
            HINT = 'Register it with privacy.register_table() and declare its columns with privacy.register_column().';
  END IF;
  PERFORM privacy_internal._check_owner(tbl);
  PERFORM privacy_internal._citus_refuse(tbl, 'protect');
  SELECT pg_catalog.count(*) INTO ncols FROM privacy.registered_column c
   WHERE c.tbl OPERATOR(pg_catalog.=) protect.tbl AND c.protect IS NOT NULL;
  IF ncols OPERATOR(pg_catalog.=) 0 THEN
    RAISE EXCEPTION 'no column of table % has a protect transformation', tbl
      USING ERRCODE = '55000',
            HINT = 'Declare one with privacy.register_column(..., protect => ''pseudonym'').';
  END IF;
  IF privacy_internal._has_protect_trigger(tbl) THEN
    PERFORM privacy_internal._check_protection(tbl);
    IF rewrite_existing THEN
      RAISE EXCEPTION 'table % is already protected', tbl
        USING ERRCODE = '55000',
              DETAIL = 'Its rows were protected on write; rewriting them would transform them twice.';
    END IF;
    RAISE NOTICE 'table % is already protected', tbl;
    RETURN;
  END IF;
  -- The owner of the table (and of each partition) must hold the domains.
  FOR d IN SELECT DISTINCT c.domain FROM privacy.registered_column c
            WHERE c.tbl OPERATOR(pg_catalog.=) protect.tbl
              AND c.protect IN ('pseudonym', 'msisdn_fpe', 'email_pseudonym')
  LOOP
    PERFORM privacy_internal._check_domain_owner(tbl, d);
  END LOOP;
  -- A generated column is computed after BEFORE triggers: stored raw.
  SELECT c.col INTO d FROM privacy.registered_column c
    JOIN pg_catalog.pg_attribute a
      ON a.attrelid OPERATOR(pg_catalog.=) c.tbl AND a.attname OPERATOR(pg_catalog.=) c.col
     AND NOT a.attisdropped
   WHERE c.tbl OPERATOR(pg_catalog.=) protect.tbl AND c.protect IS NOT NULL
     AND a.attgenerated OPERATOR(pg_catalog.<>) '' LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'cannot protect generated column "%" of relation %', d, tbl
      USING ERRCODE = '55000',
            DETAIL = 'A generated column is computed after the protect trigger and would be stored untransformed.';
  END IF;
  -- No BEFORE row trigger may fire after ours and put a raw value back.
  SELECT pg_catalog.format('trigger %I on %s', g.tgname, g.tgrelid::regclass) INTO d
    FROM pg_catalog.pg_trigger g
   WHERE (g.tgrelid OPERATOR(pg_catalog.=) tbl
          OR g.tgrelid IN (SELECT p.relid FROM pg_catalog.pg_partition_tree(tbl) p))
     AND NOT g.tgisinternal AND g.tgenabled IN ('O', 'A')
     AND (g.tgtype::integer OPERATOR(pg_catalog.&) 3) OPERATOR(pg_catalog.=) 3
     AND (g.tgtype::integer OPERATOR(pg_catalog.&) 20) OPERATOR(pg_catalog.<>) 0
     AND g.tgname OPERATOR(pg_catalog.>) 'zz_pg_privacy_protect'::name
   ORDER BY g.tgname LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'table % has a BEFORE row trigger that would fire after the protect trigger', tbl
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('The %s sorts after zz_pg_privacy_protect and could store raw values.', d),
            HINT = 'Rename that trigger so that it sorts before zz_pg_privacy_protect.';
  END IF;
  -- Named to fire after the table's other BEFORE triggers (they fire in
  -- name order), so no later trigger can put a raw value back.
  EXECUTE pg_catalog.format(
    'CREATE TRIGGER zz_pg_privacy_protect BEFORE INSERT OR UPDATE ON %s '
    'FOR EACH ROW EXECUTE FUNCTION privacy_internal._protect_trigger()', tbl);
  -- Rows written before protection: transformed in place through the new
  -- trigger, in this transaction (the trigger's creation locks out
  -- concurrent writers until commit), as the table's owner.
  IF rewrite_existing THEN
    nrows := privacy_internal._rewrite_protected(tbl,
               ARRAY(SELECT c.col FROM privacy.registered_column c
                      WHERE c.tbl OPERATOR(pg_catalog.=) protect.tbl AND c.protect IS NOT NULL
                      ORDER BY c.attnum));
  END IF;
  PERFORM privacy_internal._audit('protect.on', tbl::text,
                         pg_catalog.jsonb_build_object('columns', ncols, 'rows_rewritten', nrows));
END
$$;

CREATE FUNCTION privacy_internal._consent_receipts(kinds text[], normvs text[], controller jsonb)
  RETURNS TABLE(i bigint, receipt jsonb)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  -- PL/pgSQL, so that the statement is planned once per session
  RETURN QUERY
  SELECT u.o, pg_catalog.jsonb_build_object(
    'version', 'KI-CR-v1.1.0',
    'model', 'ISO/IEC TS 27560 consent record',
    'jurisdiction', 'DK',
    'language', 'da',
    -- Same subject and same last event give the same receipt id.
    'consentReceiptID', CASE WHEN c.last_id IS NULL THEN NULL ELSE
        pg_catalog.left(pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(u.ref || '|' || c.last_id::text, 'UTF8')), 'hex'), 32)::uuid::text END,
    'iat', pg_catalog.floor(EXTRACT(epoch FROM pg_catalog.now()))::bigint,
    'piiPrincipalId', pg_catalog.jsonb_build_object('kind', u.k, 'value', u.v),
    'piiControllers', CASE WHEN controller IS NULL THEN '[]'::jsonb
                           ELSE pg_catalog.jsonb_build_array(controller) END,
    'sensitive', false,
    'spiCat', '[]'::jsonb,
    'consents', COALESCE(c.records, '[]'::jsonb))
    FROM (SELECT w.k, w.v, w.o,
                 privacy_internal._audit_ref(w.k, privacy_internal._identifier_normalize(w.k, w.v)) AS ref
            FROM ROWS FROM (pg_catalog.unnest(kinds), pg_catalog.unnest(normvs)) WITH ORDINALITY w(k, v, o)) u
    CROSS JOIN LATERAL (
      SELECT pg_catalog.jsonb_agg(m.r ORDER BY m.r OPERATOR(pg_catalog.->>) 'purpose') AS records,
             pg_catalog.max(m.last_id) AS last_id
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
           WHERE e.subject_ref OPERATOR(pg_catalog.=) u.ref
             AND e.kind OPERATOR(pg_catalog.=) u.k
           GROUP BY p.name, p.description, p.legal_basis, b.article, p.recipients) m) c;
END
$$;

COMMENT ON FUNCTION privacy_internal._consent_receipts(text[], text[], jsonb) IS
  'internal: the consent receipts of identifiers in their normal form, one statement';

CREATE OR REPLACE FUNCTION privacy.consent_receipt(kind text, value text, controller jsonb DEFAULT NULL)
  RETURNS jsonb
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  norm    text;
  normv   text;
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
  normv := privacy_internal._identifier_normalize(kind, value);
  RETURN (SELECT r.receipt FROM privacy_internal._consent_receipts(ARRAY[kind], ARRAY[normv], controller) r);
EXCEPTION WHEN OTHERS THEN
  -- The statement that called this names a person: never logged with an
  -- error (errhidestmt), whatever the error.
  GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_msg = MESSAGE_TEXT,
                          e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
  PERFORM privacy_internal._raise_hidden(e_state, e_msg, NULLIF(e_detail, ''), NULLIF(e_hint, ''));
END
$$;

CREATE OR REPLACE FUNCTION privacy.require_consent(tbl regclass, subject_column name, purpose text,
                                        on_withdraw text DEFAULT 'keep', kind text DEFAULT NULL)
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  rel      record;
  att      record;
  reg      record;
  p        privacy.purpose;
  old      privacy.consent_requirement;
  use_kind text := kind;
BEGIN
  IF tbl IS NULL OR subject_column IS NULL OR purpose IS NULL OR on_withdraw IS NULL THEN
    RAISE EXCEPTION 'table, subject column, purpose and on_withdraw must not be null'
      USING ERRCODE = '22004';
  END IF;
  SELECT c.relkind, c.relispartition, n.nspname INTO rel
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
   WHERE c.oid OPERATOR(pg_catalog.=) tbl;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'relation with OID % does not exist', tbl::oid USING ERRCODE = '42P01';
  END IF;
  IF rel.relkind NOT IN ('r', 'p') OR rel.nspname IN ('pg_catalog', 'information_schema', 'privacy', 'privacy_internal') THEN
    RAISE EXCEPTION '% is not a table that can require consent', tbl
      USING ERRCODE = '42809',
            DETAIL = 'Only ordinary and partitioned tables outside the system schemas can.';
  END IF;
  IF rel.relispartition THEN
    RAISE EXCEPTION 'cannot require consent on partition % on its own', tbl
      USING ERRCODE = '42809',
            HINT = 'Require it on the partitioned table; its trigger applies to every partition.';
  END IF;
  PERFORM privacy_internal._check_owner(tbl);
  PERFORM privacy_internal._citus_refuse(tbl, 'require_consent');
  SELECT a.attnum, a.atttypid, a.attgenerated INTO att FROM pg_catalog.pg_attribute a
   WHERE a.attrelid OPERATOR(pg_catalog.=) tbl AND a.attname OPERATOR(pg_catalog.=) subject_column
     AND a.attnum OPERATOR(pg_catalog.>) 0 AND NOT a.attisdropped;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'column "%" of relation % does not exist', subject_column, tbl USING ERRCODE = '42703';
  END IF;
  -- A generated column is computed after the BEFORE row trigger: the check
  -- would see no subject (the trigger refuses every write to one, too).
  IF att.attgenerated OPERATOR(pg_catalog.<>) '' THEN
    RAISE EXCEPTION 'column "%" of relation % is a generated column', subject_column, tbl
      USING ERRCODE = '55000',
            DETAIL = 'A generated column is computed after the consent check, which would see no subject.',
            HINT = 'Require consent on the column it is computed from.';
  END IF;
  -- The trigger and the withdrawal read the column: built-in text and
  -- integer types only (checked again at each use).
  IF NOT privacy_internal._identifier_type_ok(att.atttypid) THEN
    RAISE EXCEPTION 'a subject column must have a built-in text or integer type'
      USING ERRCODE = '42804',
            DETAIL = pg_catalog.format('Column "%s" of relation %s has type %s.', subject_column, tbl,
                                       pg_catalog.format_type(att.atttypid, NULL)),
            HINT = 'Use text, varchar, char, smallint, integer, bigint or numeric.';
  END IF;
  SELECT * INTO p FROM privacy.purpose q WHERE q.name OPERATOR(pg_catalog.=) require_consent.purpose;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'purpose "%" does not exist', purpose
      USING ERRCODE = '22023', HINT = 'Define it first with privacy.define_purpose().';
  END IF;
  IF NOT p.requires_consent THEN
    RAISE EXCEPTION 'purpose "%" is not based on consent', purpose
      USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('Its legal basis is "%s"; consent is recorded only for purposes whose legal basis is consent.',
                                       p.legal_basis);
  END IF;
  IF on_withdraw NOT IN ('keep', 'delete') THEN
    RAISE EXCEPTION 'invalid on_withdraw "%"', on_withdraw
      USING ERRCODE = '22023', HINT = 'Use "keep" or "delete".';
  END IF;
  SELECT c.identifies, c.protect INTO reg FROM privacy.registered_column c
   WHERE c.tbl OPERATOR(pg_catalog.=) require_consent.tbl
     AND c.col OPERATOR(pg_catalog.=) subject_column;
  IF use_kind IS NULL THEN
    use_kind := reg.identifies;
  ELSIF reg.identifies IS NOT NULL AND reg.identifies OPERATOR(pg_catalog.<>) use_kind THEN
    RAISE EXCEPTION 'column "%" of relation % is declared to hold identifier kind "%", not "%"',
                    subject_column, tbl, reg.identifies, use_kind
      USING ERRCODE = '22023';
  END IF;
  IF use_kind IS NULL THEN
    RAISE EXCEPTION 'the identifier kind of column "%" of relation % is unknown', subject_column, tbl
      USING ERRCODE = '22023',
            HINT = 'Register the column with identifies => ..., or pass kind => ....';
  END IF;
  IF NOT EXISTS (SELECT FROM privacy.identifier_kind k WHERE k.name OPERATOR(pg_catalog.=) use_kind) THEN
    RAISE EXCEPTION 'unknown identifier kind "%"', use_kind USING ERRCODE = '22023';
  END IF;
  IF reg.protect IS NOT NULL AND reg.protect OPERATOR(pg_catalog.<>) 'msisdn_fpe' THEN
    RAISE EXCEPTION 'cannot require consent on column "%" of relation %', subject_column, tbl
      USING ERRCODE = '0A000',
            DETAIL = pg_catalog.format('The column is protected by "%s", which cannot be reversed, so an update could not tell whose row it is.', reg.protect),
            HINT = 'Require consent on a column that holds the identifier, raw or protected by msisdn_fpe.';
  END IF;

  SELECT * INTO old FROM privacy.consent_requirement q
   WHERE q.tbl OPERATOR(pg_catalog.=) require_consent.tbl
     AND q.col OPERATOR(pg_catalog.=) subject_column
     AND q.purpose OPERATOR(pg_catalog.=) require_consent.purpose
     FOR UPDATE;
  INSERT INTO privacy.consent_requirement AS q (tbl, col, purpose, kind, on_withdraw, required_by)
       VALUES (tbl, subject_column, purpose, use_kind, on_withdraw, privacy_internal._invoker())
  ON CONFLICT ON CONSTRAINT consent_requirement_pkey DO UPDATE
       SET kind = EXCLUDED.kind, on_withdraw = EXCLUDED.on_withdraw;
  -- Named to fire after the table's own BEFORE triggers and before the
  -- protect trigger (zz_pg_privacy_protect): it sees the raw identifier.
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_trigger g
                  WHERE g.tgrelid OPERATOR(pg_catalog.=) tbl
                    AND g.tgname OPERATOR(pg_catalog.=) 'zy_pg_privacy_consent') THEN
    EXECUTE pg_catalog.format(
      'CREATE TRIGGER zy_pg_privacy_consent BEFORE INSERT OR UPDATE ON %s '
      'FOR EACH ROW EXECUTE FUNCTION privacy_internal._consent_trigger()', tbl);
  END IF;
  PERFORM privacy_internal._invalidate(tbl);
  PERFORM privacy_internal._audit(CASE WHEN old.tbl IS NULL THEN 'consent.require' ELSE 'consent.require_changed' END,
                         tbl::text,
                         pg_catalog.jsonb_build_object('column', subject_column, 'purpose', purpose,
                                                       'kind', use_kind, 'on_withdraw', on_withdraw)
                         OPERATOR(pg_catalog.||)
                         CASE WHEN old.tbl IS NULL THEN '{}'::jsonb
                              ELSE pg_catalog.jsonb_build_object('previous_on_withdraw', old.on_withdraw) END);
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
  PERFORM privacy_internal._citus_refuse(tbl, 'set_retention');
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
  expr text;
BEGIN
  -- Fail closed on a table whose protection was switched off: its rows may
  -- hold raw values that the hold predicate would not recognize.
  PERFORM privacy_internal._check_protection(tbl);
  PERFORM privacy_internal._citus_refuse(tbl, 'the purge');
  SELECT * INTO p FROM privacy.retention_policy r WHERE r.tbl OPERATOR(pg_catalog.=) _retention_work.tbl;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'table % has no retention policy', tbl
      USING ERRCODE = '55000', HINT = 'Set one with privacy.set_retention().';
  END IF;
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

CREATE FUNCTION privacy.mask_name(value text) RETURNS text
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_mask_name';

COMMENT ON FUNCTION privacy.mask_name(text) IS
  'a name reduced to its initials: "Jens Peter Hansen" -> "J. P. H."';

CREATE FUNCTION privacy.mask_email(value text) RETURNS text
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_mask_email';

COMMENT ON FUNCTION privacy.mask_email(text) IS
  'an e-mail address partially hidden: "jens.hansen@firma.dk" -> "j***@firma.dk"; anything else -> "***"';

CREATE FUNCTION privacy.mask_address(value text) RETURNS text
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_mask_address';

COMMENT ON FUNCTION privacy.mask_address(text) IS
  'a postal address reduced to postal code and town: "Vestergade 12, 8000 Aarhus C" -> "8000 Aarhus C"; a street -> NULL';

CREATE FUNCTION privacy.mask_account(value text, visible integer DEFAULT 4) RETURNS text
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE
  AS 'MODULE_PATHNAME', 'pgp_mask_account';

COMMENT ON FUNCTION privacy.mask_account(text, integer) IS
  'an account number with every digit but the last `visible` replaced by X, its format kept';

CREATE FUNCTION privacy_internal._mask_pseudonym(value text) RETURNS text
  LANGUAGE c STABLE STRICT PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_mask_pseudonym_text';

CREATE FUNCTION privacy_internal._mask_pseudonym(value bigint) RETURNS bigint
  LANGUAGE c STABLE STRICT PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_mask_pseudonym_int8';

CREATE FUNCTION privacy_internal._mask_pseudonym(value integer) RETURNS integer
  LANGUAGE c STABLE STRICT PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_mask_pseudonym_int4';

CREATE FUNCTION privacy_internal._mask_pseudonym(value smallint) RETURNS smallint
  LANGUAGE c STABLE STRICT PARALLEL RESTRICTED
  AS 'MODULE_PATHNAME', 'pgp_mask_pseudonym_int2';

COMMENT ON FUNCTION privacy_internal._mask_pseudonym(text) IS
  'internal: keyed pseudonym of an identifier (128 bits, base64url), as a masked role reads it';

COMMENT ON FUNCTION privacy_internal._mask_pseudonym(bigint) IS
  'internal: keyed permutation of bigint identifiers (FF1), as a masked role reads them';

COMMENT ON FUNCTION privacy_internal._mask_pseudonym(integer) IS
  'internal: keyed permutation of integer identifiers (FF1), as a masked role reads them';

COMMENT ON FUNCTION privacy_internal._mask_pseudonym(smallint) IS
  'internal: keyed permutation of smallint identifiers (FF1), as a masked role reads them';

CREATE FUNCTION privacy_internal._mask_column(tbl regclass, col name, privacy_by_default boolean,
                                              OUT rule text, OUT expression text)
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_mask_column';

COMMENT ON FUNCTION privacy_internal._mask_column(regclass, name, boolean) IS
  'internal: the mask a masked role reads a column through (rule, SQL expression)';

CREATE FUNCTION privacy_internal._mask_check(tbl regclass, col name, expression text) RETURNS void
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_mask_check';

COMMENT ON FUNCTION privacy_internal._mask_check(regclass, name, text) IS
  'internal: refuses a column mask that is not one scalar expression over the table''s own row';

CREATE FUNCTION privacy_internal._mask_preloaded() RETURNS boolean
  LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'pgp_mask_preloaded';

COMMENT ON FUNCTION privacy_internal._mask_preloaded() IS
  'internal: was the library loaded at server start (the masking hooks in every session)';

CREATE FUNCTION privacy_internal._mask_reads_around(role oid, OUT files boolean, OUT tables text)
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT COALESCE(a.rolsuper OR a.rolreplication
                  OR pg_catalog.pg_has_role(a.oid, 'pg_read_server_files', 'MEMBER')
                  OR pg_catalog.pg_has_role(a.oid, 'pg_write_server_files', 'MEMBER')
                  OR pg_catalog.pg_has_role(a.oid, 'pg_execute_server_program', 'MEMBER'), false),
         (SELECT pg_catalog.string_agg(t.tbl::text, ', ' ORDER BY t.tbl::text)
            FROM privacy.registered_table t
            JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.tbl
           WHERE pg_catalog.pg_has_role(a.oid, c.relowner, 'MEMBER')
              OR EXISTS (SELECT FROM pg_catalog.pg_roles g
                          WHERE pg_catalog.pg_has_role(a.oid, g.oid, 'MEMBER')
                            AND (pg_catalog.has_table_privilege(g.oid, t.tbl, 'TRIGGER')
                                 OR pg_catalog.has_any_column_privilege(g.oid, t.tbl, 'REFERENCES'))))
    FROM pg_catalog.pg_roles a
   WHERE a.oid OPERATOR(pg_catalog.=) role
$$;

COMMENT ON FUNCTION privacy_internal._mask_reads_around(oid) IS
  'internal: how a role could read around the masks: the server''s files, or registered tables it owns, may add triggers to or may reference';

CREATE FUNCTION privacy.mask_role(role name, privacy_by_default boolean DEFAULT false) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  r      record;
  around record;
  writes text;
BEGIN
  IF role IS NULL OR privacy_by_default IS NULL THEN
    RAISE EXCEPTION 'role and privacy_by_default must not be null' USING ERRCODE = '22004';
  END IF;
  SELECT a.oid INTO r FROM pg_catalog.pg_roles a
   WHERE a.rolname OPERATOR(pg_catalog.=) mask_role.role;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'role "%" does not exist', role USING ERRCODE = '42704';
  END IF;
  -- A role that reads around the masks: masking it would be a promise the
  -- database cannot keep.
  SELECT x.files, x.tables INTO around FROM privacy_internal._mask_reads_around(r.oid) x;
  IF around.files THEN
    RAISE EXCEPTION 'role "%" cannot be masked', role
      USING ERRCODE = '42501',
            DETAIL = 'A superuser, a replication role and a member of pg_read_server_files, '
                     'pg_write_server_files or pg_execute_server_program can read the data without the planner.';
  END IF;
  IF around.tables IS NOT NULL THEN
    RAISE EXCEPTION 'role "%" cannot be masked', role
      USING ERRCODE = '42501',
            DETAIL = pg_catalog.format('It owns, may add triggers to, or may reference in a foreign key, registered tables: %s. '
                                       'Its triggers, and its code in a foreign-key check, would see their rows in clear.', around.tables),
            HINT = 'Let another role own the tables, and revoke TRIGGER and REFERENCES.';
  END IF;
  -- The masks are applied by hooks every session has only when the
  -- library is loaded at server start.
  IF NOT privacy_internal._mask_preloaded() THEN
    RAISE EXCEPTION 'masking needs pg_privacy in shared_preload_libraries'
      USING ERRCODE = '55000',
            DETAIL = 'Sessions that have not loaded the library would read the tables unmasked.',
            HINT = 'Add pg_privacy to shared_preload_libraries in postgresql.conf and restart the server.';
  END IF;
  INSERT INTO privacy.masked_role AS m (role, privacy_by_default, masked_by)
       VALUES (r.oid::regrole, mask_role.privacy_by_default, privacy_internal._invoker())
  ON CONFLICT ON CONSTRAINT masked_role_pkey DO UPDATE
     SET privacy_by_default = EXCLUDED.privacy_by_default,
         masked_at = EXCLUDED.masked_at, masked_by = EXCLUDED.masked_by;
  -- Plans made before (prepared statements, functions) are made again.
  PERFORM privacy_internal._invalidate(t.tbl) FROM privacy.registered_table t;
  PERFORM privacy_internal._invalidate('privacy.masked_role'::pg_catalog.regclass);
  PERFORM privacy_internal._audit('mask.role', role::text,
                         pg_catalog.jsonb_build_object('privacy_by_default', privacy_by_default));
  -- A masked role writes no registered table it reads masked (its writes
  -- are refused): say where it may, so that the DBA knows.
  SELECT pg_catalog.string_agg(t.tbl::text, ', ' ORDER BY t.tbl::text) INTO writes
    FROM privacy.registered_table t
   WHERE pg_catalog.has_table_privilege(r.oid, t.tbl, 'INSERT, UPDATE');
  IF writes IS NOT NULL THEN
    RAISE WARNING 'masked role "%" may write registered tables: %', role, writes
      USING DETAIL = 'While it is masked its writes to them are refused: their checks and errors would show or test their values in clear.',
            HINT = 'Give masked roles read access only, and write as a role that is not masked.';
  END IF;
END
$$;

COMMENT ON FUNCTION privacy.mask_role(name, boolean) IS
  'the role reads every declared personal column of registered tables masked by its category; with privacy_by_default undeclared columns read as NULL';

CREATE FUNCTION privacy.unmask_role(role name) RETURNS boolean
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  rid oid;
BEGIN
  IF role IS NULL THEN
    RAISE EXCEPTION 'role must not be null' USING ERRCODE = '22004';
  END IF;
  SELECT a.oid INTO rid FROM pg_catalog.pg_roles a WHERE a.rolname OPERATOR(pg_catalog.=) unmask_role.role;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'role "%" does not exist', role USING ERRCODE = '42704';
  END IF;
  DELETE FROM privacy.masked_role m WHERE m.role::oid OPERATOR(pg_catalog.=) rid;
  IF NOT FOUND THEN
    RETURN false;
  END IF;
  PERFORM privacy_internal._invalidate(t.tbl) FROM privacy.registered_table t;
  PERFORM privacy_internal._invalidate('privacy.masked_role'::pg_catalog.regclass);
  PERFORM privacy_internal._audit('mask.unmask_role', role::text);
  RETURN true;
END
$$;

COMMENT ON FUNCTION privacy.unmask_role(name) IS
  'the role reads registered tables unmasked again; false if it was not masked';

CREATE FUNCTION privacy.set_mask(tbl regclass, col name, expression text) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
BEGIN
  IF tbl IS NULL OR col IS NULL THEN
    RAISE EXCEPTION 'table and column must not be null' USING ERRCODE = '22004';
  END IF;
  PERFORM privacy_internal._check_owner(tbl);
  IF NOT EXISTS (SELECT FROM privacy.registered_column c
                  WHERE c.tbl OPERATOR(pg_catalog.=) set_mask.tbl AND c.col OPERATOR(pg_catalog.=) set_mask.col) THEN
    RAISE EXCEPTION 'column "%" of relation % is not declared', col, tbl
      USING ERRCODE = '42704',
            HINT = 'Declare it with privacy.register_column() first.';
  END IF;
  IF expression IS NOT NULL THEN
    PERFORM privacy_internal._mask_check(tbl, col, expression);
  END IF;
  UPDATE privacy.registered_column c SET mask = expression
   WHERE c.tbl OPERATOR(pg_catalog.=) set_mask.tbl AND c.col OPERATOR(pg_catalog.=) set_mask.col;
  PERFORM privacy_internal._invalidate(tbl);
  PERFORM privacy_internal._audit('mask.set_mask', tbl::text,
                         pg_catalog.jsonb_build_object('column', col, 'expression', expression));
END
$$;

COMMENT ON FUNCTION privacy.set_mask(regclass, name, text) IS
  'the expression a masked role reads a declared column through, instead of its category''s mask (NULL: the category''s again)';

CREATE OR REPLACE FUNCTION privacy_internal._subject_consent(kinds text[], vals text[])
  RETURNS jsonb
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN (
  SELECT COALESCE(pg_catalog.jsonb_agg(r.receipt ORDER BY r.i), '[]')
    FROM privacy_internal._consent_receipts(kinds, vals, NULL) r
   WHERE pg_catalog.jsonb_array_length(r.receipt OPERATOR(pg_catalog.->) 'consents') OPERATOR(pg_catalog.>) 0);
END
$$;

CREATE OR REPLACE FUNCTION privacy.export_subject(kind text, value text, at timestamptz DEFAULT NULL)
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
  -- the subject's tables are searched, read and changed by statements
  -- Citus cannot plan: refused while Citus manages one (src/citus.c)
  PERFORM privacy_internal._citus_refuse(t.tbl, 'export_subject') FROM privacy.registered_table t;
  norm := privacy_internal._identifier_normalize(kind, value);
  doc := privacy_internal._subject_export(kind, value, at);
  PERFORM privacy_internal._audit('subject.export', NULL,
    pg_catalog.jsonb_build_object(
      'kind', kind, 'subject', privacy_internal._audit_ref(kind, norm),
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
  PERFORM privacy_internal._raise_hidden(e_state, e_msg, NULLIF(e_detail, ''), NULLIF(e_hint, ''));
END
$$;

CREATE OR REPLACE FUNCTION privacy.export_subject_chunks(kind text, value text, chunk_rows integer DEFAULT 10000,
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
  -- the subject's tables are searched, read and changed by statements
  -- Citus cannot plan: refused while Citus manages one (src/citus.c)
  PERFORM privacy_internal._citus_refuse(t.tbl, 'export_subject_chunks') FROM privacy.registered_table t;
  norm := privacy_internal._identifier_normalize(kind, value);
  FOR part, section, table_name, data IN SELECT * FROM privacy_internal._subject_export_stream(kind, value, chunk_rows, at) LOOP
    IF section IN ('rows', 'mentions') THEN
      tabs := tabs OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(table_name::text,
                COALESCE((tabs OPERATOR(pg_catalog.->>) table_name::text)::bigint, 0)
                OPERATOR(pg_catalog.+) pg_catalog.jsonb_array_length(data));
    END IF;
    n := n OPERATOR(pg_catalog.+) 1;
    RETURN NEXT;
  END LOOP;
  PERFORM privacy_internal._audit('subject.export', NULL,
    pg_catalog.jsonb_build_object('kind', kind, 'subject', privacy_internal._audit_ref(kind, norm),
                                  'chunks', n, 'tables', tabs));
EXCEPTION WHEN OTHERS THEN
  -- The statement that called this names a person: never logged with an
  -- error (errhidestmt), whatever the error.
  GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_msg = MESSAGE_TEXT,
                          e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
  PERFORM privacy_internal._raise_hidden(e_state, e_msg, NULLIF(e_detail, ''), NULLIF(e_hint, ''));
END
$$;

CREATE OR REPLACE FUNCTION privacy.restrict_subject(kind text, value text, reason text, at timestamptz DEFAULT NULL)
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
  -- the subject's tables are searched, read and changed by statements
  -- Citus cannot plan: refused while Citus manages one (src/citus.c)
  PERFORM privacy_internal._citus_refuse(t.tbl, 'restrict_subject') FROM privacy.registered_table t;
  IF reason IS NULL OR pg_catalog.btrim(reason) OPERATOR(pg_catalog.=) '' THEN
    RAISE EXCEPTION 'a restriction needs a reason' USING ERRCODE = '22023',
      HINT = 'Say why processing is restricted, e.g. ''accuracy contested (Art. 18(1)(a))''.';
  END IF;
  ids := privacy_internal._subject_identifiers(kind, value, at);
  n := privacy_internal._restrict_ids(ids.kinds, ids.vals, ids.spans, reason, 'request', NULL);
  PERFORM privacy_internal._audit('subject.restrict', NULL,
    pg_catalog.jsonb_build_object('kind', kind, 'subject', privacy_internal._audit_ref(kind, ids.vals[1]),
                                  'identifiers', n, 'reason', reason));
EXCEPTION WHEN OTHERS THEN
  -- The statement that called this names a person: never logged with an
  -- error (errhidestmt), whatever the error.
  GET STACKED DIAGNOSTICS e_state = RETURNED_SQLSTATE, e_msg = MESSAGE_TEXT,
                          e_detail = PG_EXCEPTION_DETAIL, e_hint = PG_EXCEPTION_HINT;
  PERFORM privacy_internal._raise_hidden(e_state, e_msg, NULLIF(e_detail, ''), NULLIF(e_hint, ''));
END
$$;

CREATE OR REPLACE FUNCTION privacy.erase_subject(kind text, value text, dry_run boolean DEFAULT false,
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
  -- the subject's tables are searched, read and changed by statements
  -- Citus cannot plan: refused while Citus manages one (src/citus.c)
  PERFORM privacy_internal._citus_refuse(t.tbl, 'erase_subject') FROM privacy.registered_table t;
  norm := privacy_internal._identifier_normalize(kind, value);
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
        FROM privacy_internal._subject_erase(kind, value, at) e;
      RAISE EXCEPTION USING ERRCODE = 'P0004', MESSAGE = 'pg_privacy dry run';
    EXCEPTION WHEN assert_failure THEN
      NULL;
    END;
  ELSE
    SELECT pg_catalog.jsonb_agg(pg_catalog.to_jsonb(e)) INTO report
      FROM privacy_internal._subject_erase(kind, value, at) e;
  END IF;
  report := COALESCE(report, '[]');
  PERFORM privacy_internal._audit(CASE WHEN dry_run THEN 'subject.erase_dry_run' ELSE 'subject.erase' END, NULL,
    pg_catalog.jsonb_build_object('kind', kind, 'subject', privacy_internal._audit_ref(kind, norm),
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
  PERFORM privacy_internal._raise_hidden(e_state, e_msg, NULLIF(e_detail, ''), NULLIF(e_hint, ''));
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
END
$$;

COMMENT ON FUNCTION privacy.health() IS
  'is pg_privacy working? one row per area (library, key, purge, subject requests, catalog, undeclared columns, protection, restrictions and holds, masking) with status ok, warning or error, what was found and what to do; read-only, runs on a standby';

-- Views, triggers, comments and configuration new or changed in 0.5.0 (generated)

COMMENT ON TABLE privacy.masked_role IS
  'pg_privacy: roles that read registered tables masked (privacy.mask_role)';

SELECT pg_catalog.pg_extension_config_dump('privacy.masked_role', '');

CREATE VIEW privacy.column_masks AS
SELECT c.tbl AS table_name, c.col AS column_name, c.category, m.rule, m.expression
  FROM privacy.registered_column c
  CROSS JOIN LATERAL privacy_internal._mask_column(c.tbl, c.col, false) m;

COMMENT ON VIEW privacy.column_masks IS
  'pg_privacy: the mask a masked role reads each declared column through';

-- The hand-written part of the update from 0.4.0 to 0.5.0 that runs after
-- the generated functions: nothing (the table of masked roles, its comment
-- and its dump registration, and the view column_masks are generated).


-- Privileges: every GRANT and REVOKE of the 0.5.0 install script, in its order (generated)

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
