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

CREATE FUNCTION privacy.mask_role(role name, privacy_by_default boolean DEFAULT false) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  r      record;
  writes text;
BEGIN
  IF role IS NULL OR privacy_by_default IS NULL THEN
    RAISE EXCEPTION 'role and privacy_by_default must not be null' USING ERRCODE = '22004';
  END IF;
  SELECT a.oid, a.rolsuper, a.rolreplication INTO r FROM pg_catalog.pg_roles a
   WHERE a.rolname OPERATOR(pg_catalog.=) mask_role.role;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'role "%" does not exist', role USING ERRCODE = '42704';
  END IF;
  -- A role that can read the data files, or stream the WAL, reads around
  -- any mask: masking it would be a promise the database cannot keep.
  IF r.rolsuper OR r.rolreplication
     OR pg_catalog.pg_has_role(r.oid, 'pg_read_server_files', 'USAGE')
     OR pg_catalog.pg_has_role(r.oid, 'pg_write_server_files', 'USAGE')
     OR pg_catalog.pg_has_role(r.oid, 'pg_execute_server_program', 'USAGE') THEN
    RAISE EXCEPTION 'role "%" cannot be masked', role
      USING ERRCODE = '42501',
            DETAIL = 'A superuser, a replication role and a role with the privileges of pg_read_server_files, '
                     'pg_write_server_files or pg_execute_server_program can read the data without the planner.';
  END IF;
  -- The owner of a registered table, or a role that may add triggers to
  -- one, sees the rows in clear in its own triggers (NEW and OLD are not
  -- masked): masking it would be a false promise too.
  SELECT pg_catalog.string_agg(t.tbl::text, ', ' ORDER BY t.tbl::text) INTO writes
    FROM privacy.registered_table t
    JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.tbl
   WHERE pg_catalog.pg_has_role(r.oid, c.relowner, 'USAGE')
      OR pg_catalog.has_table_privilege(r.oid, t.tbl, 'TRIGGER');
  IF writes IS NOT NULL THEN
    RAISE EXCEPTION 'role "%" cannot be masked', role
      USING ERRCODE = '42501',
            DETAIL = pg_catalog.format('It owns, or may add triggers to, registered tables: %s. '
                                       'Its triggers would see their rows in clear.', writes),
            HINT = 'Let another role own the tables, and revoke TRIGGER.';
  END IF;
  -- The masks are applied by hooks every session has only when the
  -- library is loaded at server start.
  IF NOT privacy_internal._mask_preloaded() THEN
    RAISE EXCEPTION 'masking needs pg_privacy in shared_preload_libraries'
      USING ERRCODE = '55000',
            DETAIL = 'Sessions that have not loaded the library would read the tables unmasked.',
            HINT = 'Add pg_privacy to shared_preload_libraries in postgresql.conf and restart the server.';
  END IF;
  INSERT INTO privacy.masked_role AS m (role, privacy_by_default)
       VALUES (r.oid::regrole, mask_role.privacy_by_default)
  ON CONFLICT ON CONSTRAINT masked_role_pkey DO UPDATE
     SET privacy_by_default = EXCLUDED.privacy_by_default;
  -- Plans made before (prepared statements, functions) are made again.
  PERFORM privacy_internal._invalidate(t.tbl) FROM privacy.registered_table t;
  PERFORM privacy_internal._invalidate('privacy.masked_role'::pg_catalog.regclass);
  PERFORM privacy_internal._audit('mask.role', role::text,
                         pg_catalog.jsonb_build_object('privacy_by_default', privacy_by_default));
  -- A role that writes a registered table can read the masks of values
  -- it chose itself (an INSERT then a SELECT): say where.
  SELECT pg_catalog.string_agg(t.tbl::text, ', ' ORDER BY t.tbl::text) INTO writes
    FROM privacy.registered_table t
   WHERE pg_catalog.has_table_privilege(r.oid, t.tbl, 'INSERT, UPDATE');
  IF writes IS NOT NULL THEN
    RAISE WARNING 'masked role "%" may write registered tables: %', role, writes
      USING DETAIL = 'It can read the masked form of values it writes itself, and so test guesses against keyed masks.',
            HINT = 'Give masked roles read access only.';
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
           COALESCE(a.rolsuper OR a.rolreplication
                    OR pg_catalog.pg_has_role(a.oid, 'pg_read_server_files', 'USAGE')
                    OR pg_catalog.pg_has_role(a.oid, 'pg_write_server_files', 'USAGE')
                    OR pg_catalog.pg_has_role(a.oid, 'pg_execute_server_program', 'USAGE'), false) AS reads_files,
           (SELECT pg_catalog.string_agg(t.tbl::text, ', ' ORDER BY t.tbl::text)
              FROM privacy.registered_table t
              JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) t.tbl
             WHERE a.oid IS NOT NULL
               AND (pg_catalog.pg_has_role(a.oid, c.relowner, 'USAGE')
                    OR pg_catalog.has_table_privilege(a.oid, t.tbl, 'TRIGGER'))) AS owns
      FROM privacy.masked_role m
      LEFT JOIN pg_catalog.pg_roles a ON a.oid OPERATOR(pg_catalog.=) m.role::oid
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
                     ELSE pg_catalog.format('masked role %I owns, or may add triggers to, registered tables (%s): its triggers see their rows in clear', r.rolname, r.owns) END;
      hint := 'Take the attribute, the membership, the ownership or the TRIGGER privilege back (mask_role refuses such roles).';
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
