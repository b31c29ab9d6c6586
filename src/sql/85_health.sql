------------------------------------------------------------------------
-- Health: one place to ask "is pg_privacy working?"
------------------------------------------------------------------------

-- privacy.health() reports, one row per finding, whether each part of
-- pg_privacy is in force: the library, the key, the scheduled purge and
-- its last run, data-subject request deadlines, the catalog, undeclared
-- personal columns, protection, and restrictions and holds past their
-- end.  status is 'ok', 'warning' (something to look at) or 'error'
-- (a guarantee is not being kept).  An area without findings gets one
-- 'ok' row.
--
-- It only reads (no audit entry, no key recorded): it runs on a standby
-- and in a read-only transaction.  It shows no personal value: requests,
-- restrictions and holds by id and kind only.
--
-- An API entry point (caller.c): it runs as the extension owner, so that
-- a monitoring role needs nothing but
--   GRANT USAGE ON SCHEMA privacy TO monitoring;
--   GRANT EXECUTE ON FUNCTION privacy.health() TO monitoring;
-- Executable by nobody else by default (90_privileges.sql).
CREATE FUNCTION privacy.health()
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

  -- 2c. Key rotation: relations whose phone-number pseudonyms are still
  -- under a replaced key (src/sql/36_rekey.sql).
  area := 'key rotation';
  BEGIN
    SELECT pg_catalog.count(*),
           pg_catalog.count(*) FILTER (WHERE NOT privacy_internal._key_listed(p.from_key)),
           pg_catalog.string_agg(DISTINCT p.tbl::text, ', '),
           pg_catalog.string_agg(DISTINCT p.from_key, ', ')
      INTO n, m, conn, stored
      FROM privacy.rekey_pending p
     WHERE p.from_key OPERATOR(pg_catalog.<>) 'raw';
  EXCEPTION WHEN OTHERS THEN
    n := NULL;
    conn := SQLERRM;
  END;
  IF n IS NULL THEN
    status := 'error';
    detail := pg_catalog.format('cannot tell whether the keys of the relations left to convert are listed: %s', conn);
    hint := 'Check pg_privacy.key_file (the area key says more).';
  ELSIF m OPERATOR(pg_catalog.>) 0 THEN
    status := 'error';
    detail := pg_catalog.format('%s relation(s) of %s hold phone-number pseudonyms under a key pg_privacy.key_file does not list (%s)', m, conn, stored);
    hint := 'List that key''s file after the current one and reload: until then writes to those relations refuse; then run CALL privacy.rekey().';
  ELSIF n OPERATOR(pg_catalog.>) 0 THEN
    status := 'warning';
    detail := pg_catalog.format('%s relation(s) of %s hold phone-number pseudonyms under the replaced key %s (%s of them converted in part); the replaced key must stay listed until they are converted',
                                n, conn, stored,
                                (SELECT pg_catalog.count(*) FROM privacy.rekey_pending p WHERE p.watermark IS NOT NULL OR p.high_mark IS NOT NULL));
    hint := 'Run CALL privacy.rekey() (privacy.rekey_progress shows what is left; max_seconds bounds a run to a maintenance window).';
  ELSE
    status := 'ok';
    detail := 'every phone-number pseudonym is under the current key';
    hint := NULL;
  END IF;
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
  -- rows held before protect_in_batches(), not converted yet
  FOR r IN SELECT p.tbl, pg_catalog.count(*) AS rels FROM privacy.rekey_pending p
            WHERE p.from_key OPERATOR(pg_catalog.=) 'raw'
            GROUP BY p.tbl ORDER BY p.tbl::text LOOP
    n := n OPERATOR(pg_catalog.+) 1;
    status := 'warning';
    detail := pg_catalog.format('%s relation(s) of %s hold rows from before its protection that privacy.rekey() has not converted yet: their protected columns cannot be changed, and export, erasure and restriction read them raw, scanning the table',
                                r.rels, r.tbl);
    hint := 'Run CALL privacy.rekey() (privacy.rekey_progress shows what is left).';
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
COMMENT ON FUNCTION privacy.health() IS
  'is pg_privacy working? one row per area (library, key, key history, purge, subject requests, catalog, undeclared columns, protection, restrictions and holds, masking, erasure ledger) with status ok, warning or error, what was found and what to do; read-only, runs on a standby';
