/* pg_privacy--0.16.0--0.17.0.sql: ALTER EXTENSION pg_privacy UPDATE TO '0.17.0'
 *
 * Assembled by src/upgrade/gen_upgrade.py from src/upgrade/0.16.0--0.17.0.pre.sql,
 * the differences between the 0.16.0 and 0.17.0 install scripts, and
 * src/upgrade/0.16.0--0.17.0.post.sql.  Edit those, not this file.
 */

\echo Use "ALTER EXTENSION pg_privacy UPDATE TO '0.17.0'" to load this file. \quit

-- privacy.rekey() converts a relation in batches (src/sql/36_rekey.sql,
-- src/rekey.c): how far it has come in each pending relation.
ALTER TABLE privacy.rekey_pending
  ADD COLUMN order_col  name,
  ADD COLUMN order_type regtype,
  ADD COLUMN watermark  bytea,
  ADD COLUMN rows_done  bigint      NOT NULL DEFAULT 0,
  ADD COLUMN started_at timestamptz,
  ADD COLUMN high_mark  bytea,
  ADD CONSTRAINT rekey_pending_order_check CHECK ((order_col IS NULL) = (order_type IS NULL)),
  ADD CONSTRAINT rekey_pending_watermark_check CHECK (watermark IS NULL OR order_col IS NOT NULL),
  ADD CONSTRAINT rekey_pending_high_mark_check CHECK (high_mark IS NULL OR order_col IS NOT NULL);
-- rekey(lock_timeout_ms) is rekey(batch_size, lock_timeout_ms) now
DROP PROCEDURE privacy.rekey(integer);
-- the view gains a column at its end, and its rows count the batches
DROP VIEW privacy.rekey_progress;

-- Tables new in 0.17.0 (generated)

-- Functions removed, or whose arguments or result changed (generated)

DROP FUNCTION privacy_internal._subject_rows(regclass, text, jsonb);

DROP FUNCTION privacy_internal._subject_ids(jsonb, text);

DROP FUNCTION privacy_internal._subject_ids_span(jsonb, text, boolean);

DROP FUNCTION privacy_internal._rekey_protected(regclass, name[]);

DROP FUNCTION privacy_internal._rekey_rel(regclass, integer);

DROP FUNCTION privacy_internal._rekey_todo();


-- Functions new or changed in 0.17.0, in the order of its install script (generated)

CREATE OR REPLACE FUNCTION privacy.accept_key_change(old_fingerprint text, holds text DEFAULT 'refuse') RETURNS text
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  stored text;
  loaded text := privacy.key_fingerprint();
  held_n bigint;
  held_kinds text;
  ledger text;
  pending bigint;
BEGIN
  IF old_fingerprint IS NULL THEN
    RAISE EXCEPTION 'old fingerprint must not be null' USING ERRCODE = '22004';
  END IF;
  SELECT s.fingerprint INTO stored FROM privacy.key_state s FOR UPDATE;
  IF stored IS NULL THEN
    RAISE EXCEPTION 'this database has no recorded key'
      USING ERRCODE = '55000',
            HINT = 'The first keyed work records the loaded key; there is nothing to change.';
  END IF;
  IF stored OPERATOR(pg_catalog.<>) old_fingerprint THEN
    RAISE EXCEPTION 'fingerprint % is not the database''s key', old_fingerprint
      USING ERRCODE = '22023',
            DETAIL = pg_catalog.format('The database''s key has fingerprint %s.', stored);
  END IF;
  IF stored OPERATOR(pg_catalog.=) loaded THEN
    RAISE EXCEPTION 'the loaded key is already the database''s key' USING ERRCODE = '55000';
  END IF;
  -- The relations whose phone-number pseudonyms stay under the replaced
  -- key until privacy.rekey() converts them (src/sql/36_rekey.sql).
  pending := privacy_internal._rekey_mark(stored, loaded);
  -- A legal hold finds the rows that hold its identifier in a protected
  -- column by transforming the identifier under the current key: rows
  -- written under the replaced key would no longer be recognized, and the
  -- purge or an erasure would remove what the hold must keep.  Refuse
  -- while such a hold is active.
  SELECT pg_catalog.count(*), pg_catalog.string_agg(DISTINCT h.kind, ', ')
    INTO held_n, held_kinds
    FROM privacy.legal_hold h
   WHERE h.released_at IS NULL
     AND (h.until IS NULL OR h.until OPERATOR(pg_catalog.>) pg_catalog.now())
     AND EXISTS (SELECT FROM privacy.registered_column c
                  WHERE c.identifies OPERATOR(pg_catalog.=) h.kind
                    AND c.protect IN ('pseudonym', 'msisdn_fpe', 'email_pseudonym'));
  IF holds IS NULL OR holds NOT IN ('refuse', 'release') THEN
    RAISE EXCEPTION 'invalid holds option "%"', holds
      USING ERRCODE = '22023', HINT = 'Use ''refuse'' (the default) or ''release''.';
  END IF;
  IF held_n OPERATOR(pg_catalog.>) 0 AND holds OPERATOR(pg_catalog.=) 'refuse' THEN
    RAISE EXCEPTION 'cannot accept a new key while legal holds cover protected columns'
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('%s active hold(s) on %s identifiers; rows protected under the key %s would no longer be recognized as held.',
                                       held_n, held_kinds, stored),
            HINT = 'Install the key file of the database''s key again; or secure the rows the holds keep and call accept_key_change(..., holds => ''release''), which releases them with the key change.';
  END IF;
  IF held_n OPERATOR(pg_catalog.>) 0 THEN
    -- released with the key change, explicitly: recorded in its audit entry
    UPDATE privacy.legal_hold h SET released_at = pg_catalog.now(), released_by = privacy_internal._invoker()
     WHERE h.released_at IS NULL
       AND (h.until IS NULL OR h.until OPERATOR(pg_catalog.>) pg_catalog.now())
       AND EXISTS (SELECT FROM privacy.registered_column c
                    WHERE c.identifies OPERATOR(pg_catalog.=) h.kind
                      AND c.protect IN ('pseudonym', 'msisdn_fpe', 'email_pseudonym'));
  END IF;
  UPDATE privacy.key_state SET fingerprint = loaded, recorded_at = pg_catalog.now();
  -- With an erasure ledger: the change is a line of the database's chain,
  -- made under the replaced key; without that key, a new chain
  -- (src/sql/75_subject_ledger.sql).
  ledger := privacy_internal._ledger_record_key_change(stored, loaded);
  -- The audit entries and erasure ledger lines made under the replaced key
  -- are checked with it: kept listed after the new one, they stay
  -- verifiable (privacy.key_versions).
  IF NOT privacy_internal._key_listed(stored) THEN
    RAISE WARNING 'the replaced key % is not listed in pg_privacy.key_file', stored
      USING DETAIL = 'The audit entries and erasure ledger lines made under it cannot be verified while it is not.'
                     || CASE WHEN ledger OPERATOR(pg_catalog.=) 'forked'
                             THEN ' This database''s erasures go on in a new chain of the erasure ledger.' ELSE '' END,
            HINT = pg_catalog.format('List its file after the new key''s in pg_privacy.key_file (see privacy.key_versions), or keep the key file of fingerprint %s where it can be listed again.', stored);
  END IF;
  PERFORM privacy_internal._invalidate('privacy.key_state'::regclass);
  -- The rules the shards of protected Citus tables carry are signed
  -- under the key (src/protect.c): signed again under the new one.
  PERFORM privacy_internal._protect_citus_resign(NULL);
  PERFORM privacy_internal._audit('key.change', NULL,
                         pg_catalog.jsonb_build_object('from', stored, 'to', loaded,
                                                       'holds_released', held_n, 'erasure_ledger', ledger,
                                                       'rekey_pending', pending));
  IF pending OPERATOR(pg_catalog.>) 0 THEN
    RAISE NOTICE '% relation(s) hold phone-number pseudonyms under the replaced key', pending
      USING DETAIL = 'Until privacy.rekey() converts them, rows written there are pseudonymized under the replaced key; export, erasure and restriction find their rows under either key, and privacy.reidentify_msisdn() needs the key of the row (privacy.row_key()).',
            HINT = 'Run CALL privacy.rekey() now (privacy.rekey_progress shows what is left); keep the replaced key listed in pg_privacy.key_file until it is done.';
  END IF;
  RETURN loaded;
END
$$;

CREATE OR REPLACE FUNCTION privacy.register_table(tbl regclass, purpose text) RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  rel record;
  parent regclass;
BEGIN
  IF tbl IS NULL THEN
    RAISE EXCEPTION 'table must not be null' USING ERRCODE = '22004';
  END IF;
  SELECT c.relkind, c.relpersistence, c.relispartition, n.nspname, c.reloftype
    INTO rel
    FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
   WHERE c.oid OPERATOR(pg_catalog.=) tbl;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'relation with OID % does not exist', tbl::oid USING ERRCODE = '42P01';
  END IF;
  IF rel.relkind NOT IN ('r', 'p', 'f') THEN
    RAISE EXCEPTION '% is not a table', tbl
      USING ERRCODE = '42809',
            DETAIL = 'Only ordinary, partitioned and foreign tables hold personal data in the catalog.';
  END IF;
  IF rel.relpersistence OPERATOR(pg_catalog.=) 't' THEN
    RAISE EXCEPTION 'cannot register temporary table %', tbl USING ERRCODE = '42809';
  END IF;
  -- A typed table's columns follow its composite type: ALTER TYPE ...
  -- CASCADE renames, drops and retypes them under a command tag no event
  -- trigger of pg_privacy sees (the catalog would not follow, the
  -- protection could be turned onto another column).
  IF rel.reloftype OPERATOR(pg_catalog.<>) 0 THEN
    RAISE EXCEPTION 'cannot register typed table %', tbl
      USING ERRCODE = '0A000',
            DETAIL = pg_catalog.format('Its columns follow composite type %s, which ALTER TYPE ... CASCADE changes without the checks that keep a registered table''s declarations and protection in force.',
                                       rel.reloftype::regtype),
            HINT = pg_catalog.format('Make it an ordinary table first: ALTER TABLE %s NOT OF.', tbl);
  END IF;
  IF rel.nspname IN ('pg_catalog', 'information_schema', 'privacy', 'privacy_internal') THEN
    RAISE EXCEPTION 'cannot register system or pg_privacy table %', tbl USING ERRCODE = '42809';
  END IF;
  IF rel.relispartition THEN
    SELECT i.inhparent::regclass INTO parent FROM pg_catalog.pg_inherits i
     WHERE i.inhrelid OPERATOR(pg_catalog.=) tbl;
    RAISE EXCEPTION 'cannot register partition % on its own', tbl
      USING ERRCODE = '42809',
            DETAIL = pg_catalog.format('It is a partition of %s.', parent),
            HINT = 'Register the partitioned table; its declarations apply to every partition.';
  END IF;
  PERFORM privacy_internal._check_owner(tbl);
  PERFORM privacy_internal._check_purpose(purpose);
  IF EXISTS (SELECT FROM privacy.registered_table t WHERE t.tbl OPERATOR(pg_catalog.=) register_table.tbl) THEN
    RAISE EXCEPTION 'table % is already registered', tbl
      USING ERRCODE = '42710',
            HINT = 'Use privacy.set_purpose() to change its purpose.';
  END IF;
  INSERT INTO privacy.registered_table (tbl, purpose, registered_by)
       VALUES (tbl, purpose, privacy_internal._invoker());
  PERFORM privacy_internal._audit('catalog.register_table', tbl::text,
                         pg_catalog.jsonb_build_object('purpose', purpose));
END
$$;

CREATE OR REPLACE FUNCTION privacy.reidentify_msisdn(pseudonym text, domain text DEFAULT 'default')
  RETURNS text
  LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  result text;
BEGIN
  -- A pseudonym of a relation privacy.rekey() has not converted is under
  -- the replaced key: decrypted under the current one it gives another,
  -- valid-looking number.  The pseudonym does not say where it comes
  -- from, so none is read back while any is left (src/sql/36_rekey.sql),
  -- but by the form that names the key of its row.
  IF EXISTS (SELECT FROM privacy.rekey_pending) THEN
    RAISE EXCEPTION 'cannot tell which key a phone-number pseudonym is under while a key rotation runs'
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('%s relation(s) hold phone-number pseudonyms under a replaced key, which privacy.rekey() has not converted: decrypted under the current key, such a pseudonym gives another, valid-looking number.',
                                       (SELECT pg_catalog.count(*) FROM privacy.rekey_pending)),
            HINT = 'Name the key of the row the pseudonym comes from: privacy.reidentify_msisdn(t.col, domain, privacy.row_key(t.tableoid, t.*)); or run CALL privacy.rekey() first.';
  END IF;
  result := privacy_internal._msisdn_decrypt(pseudonym, domain);
  PERFORM privacy_internal._audit('pseudonym.reidentify', NULL,
                         pg_catalog.jsonb_build_object('domain', domain, 'kind', 'msisdn',
                                                       'subject', privacy_internal._subject_ref('msisdn', result)));
  RETURN result;
END
$$;

CREATE FUNCTION privacy.reidentify_msisdn(pseudonym text, domain text, key_fingerprint text)
  RETURNS text
  LANGUAGE plpgsql VOLATILE STRICT PARALLEL UNSAFE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  result text;
BEGIN
  result := privacy_internal._msisdn_under(key_fingerprint, pseudonym, domain, true);
  PERFORM privacy_internal._audit('pseudonym.reidentify', NULL,
                         pg_catalog.jsonb_build_object('domain', domain, 'kind', 'msisdn', 'key', key_fingerprint,
                                                       'subject', privacy_internal._subject_ref('msisdn', result)));
  RETURN result;
END
$$;

COMMENT ON FUNCTION privacy.reidentify_msisdn(text, text, text) IS
  'the phone number behind a phone-number pseudonym made under the listed key of that fingerprint (privacy.row_key gives a row''s); every call is audited';

CREATE OR REPLACE FUNCTION privacy_internal._protect_on_ddl_end(may_switch_off boolean) RETURNS void
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
  SET jit = off
AS $$
DECLARE
  reg regclass;
  e record;
  who name := privacy_internal._invoker();
  fn regprocedure := pg_catalog.to_regprocedure('privacy_internal._protect_trigger()');
BEGIN
  -- A command that only created restriction checks as _restrict_install
  -- makes them (AFTER UPDATE statement triggers of that name and function,
  -- with no condition and no column list) adds enforcement: nothing to
  -- install or check.  The install makes one per table and partition, and
  -- an install started again by each of them nested one level deeper per
  -- table (restrict_subject ran out of stack at about 220).
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_event_trigger_ddl_commands() d
                  WHERE NOT (d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::pg_catalog.regclass
                             AND EXISTS (SELECT FROM pg_catalog.pg_trigger g
                                          WHERE g.oid OPERATOR(pg_catalog.=) d.objid
                                            AND g.tgname OPERATOR(pg_catalog.=) 'zx_pg_privacy_restrict'
                                            AND g.tgfoid OPERATOR(pg_catalog.=) pg_catalog.to_regprocedure('privacy_internal._restrict_trigger()')
                                            AND g.tgtype OPERATOR(pg_catalog.=) 16
                                            AND g.tgenabled OPERATOR(pg_catalog.=) 'O'
                                            AND g.tgqual IS NULL
                                            AND pg_catalog.cardinality(g.tgattr::pg_catalog.int2[]) OPERATOR(pg_catalog.=) 0))) THEN
    RETURN;
  END IF;
  -- A registered table made a typed table (ALTER TABLE ... OF type): its
  -- columns would follow ALTER TYPE ... CASCADE, which no check of
  -- pg_privacy sees (register_table refuses typed tables).
  FOR e IN
    SELECT DISTINCT t.tbl, k.reloftype::regtype AS typ
      FROM pg_catalog.pg_event_trigger_ddl_commands() d
      JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) d.objid
      JOIN privacy.registered_table t ON t.tbl OPERATOR(pg_catalog.=) k.oid
     WHERE d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass
       AND k.reloftype OPERATOR(pg_catalog.<>) 0
  LOOP
    RAISE EXCEPTION 'cannot make registered table % a typed table', e.tbl
      USING ERRCODE = '0A000',
            DETAIL = pg_catalog.format('Its columns would follow composite type %s, which ALTER TYPE ... CASCADE changes without the checks that keep its declarations and protection in force.', e.typ);
  END LOOP;
  -- The column privacy.rekey() converts a relation in order of tells which
  -- of its rows are under which key (src/rekey.c): until the relation is
  -- converted it may be neither dropped, nor renamed, nor given another
  -- type (the rows' keys could no longer be told apart).
  IF pg_catalog.to_regclass('privacy.rekey_pending') IS NOT NULL THEN
    FOR e IN
      SELECT p.rel, p.order_col, p.order_type
        FROM privacy.rekey_pending p
       WHERE (p.watermark IS NOT NULL OR p.high_mark IS NOT NULL)
         AND EXISTS (SELECT FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) p.rel)
         AND NOT EXISTS (SELECT FROM pg_catalog.pg_attribute a
                          WHERE a.attrelid OPERATOR(pg_catalog.=) p.rel
                            AND a.attname OPERATOR(pg_catalog.=) p.order_col
                            AND NOT a.attisdropped
                            AND a.atttypid OPERATOR(pg_catalog.=) p.order_type)
       ORDER BY p.rel::pg_catalog.oid
       LIMIT 1
    LOOP
      RAISE EXCEPTION 'cannot drop, rename or retype column % of relation % while privacy.rekey() converts it in order of that column', e.order_col, e.rel
        USING ERRCODE = '55000',
              DETAIL = 'Which of its rows are under the current key and which under the replaced one is told by that column.',
              HINT = 'Run CALL privacy.rekey() to the end (privacy.rekey_progress), then change the column.';
    END LOOP;
  END IF;
  -- The protect trigger with a signed rule (a Citus table's, src/protect.c)
  -- is written by protect() alone: an owner putting back an older rule read
  -- from pg_trigger would have the shards transform by a rule the catalog no
  -- longer gives (a revoked domain, a column declared since).  Neither may
  -- anyone but pg_privacy create one on a shard or disable a shard's, on any
  -- node (Citus itself does not stop a table's owner there).
  FOR e IN
    SELECT g.tgrelid::regclass AS rel, g.tgname,
           CASE WHEN d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::regclass AND g.tgnargs OPERATOR(pg_catalog.>) 0
                THEN 'a protect trigger with a rule was created' ELSE 'its protect trigger was disabled' END AS problem
      FROM pg_catalog.pg_event_trigger_ddl_commands() d
      JOIN pg_catalog.pg_trigger g
        ON g.tgfoid OPERATOR(pg_catalog.=) fn
       AND ((d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::regclass AND g.oid OPERATOR(pg_catalog.=) d.objid)
            OR (d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass AND g.tgrelid OPERATOR(pg_catalog.=) d.objid))
     WHERE NOT privacy_internal._protect_ddl_allowed(g.tgrelid::regclass)
       AND NOT privacy_internal._protect_own_worker_ddl(who)
       AND ((d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::regclass AND g.tgnargs OPERATOR(pg_catalog.>) 0)
            -- (a shard, placed on this node or not yet: the tables of a
            -- new placement a move builds are served once it is recorded)
            OR (g.tgenabled OPERATOR(pg_catalog.<>) 'O'
                AND privacy_internal._citus_shard_named(g.tgrelid::regclass) IS NOT NULL))
  LOOP
    IF may_switch_off THEN
      RAISE WARNING 'protection of table % is not as pg_privacy made it: %', e.rel, e.problem;
      RAISE LOG 'pg_privacy: superuser % changed the protect trigger % of table %: %', who, e.tgname, e.rel, e.problem;
      CONTINUE;
    END IF;
    RAISE LOG 'pg_privacy: refused DDL of role % on the protect trigger % of table %: %', who, e.tgname, e.rel, e.problem;
    -- a shard's new placement, built by a move or a split as the owner
    IF e.problem OPERATOR(pg_catalog.=) 'a protect trigger with a rule was created'
       AND privacy_internal._citus_shard_named(e.rel) IS NOT NULL AND privacy_internal._protect_shard_table(e.rel) IS NULL THEN
      RAISE EXCEPTION 'cannot move or split the shards of protected table %, owned by %',
                      privacy_internal._citus_shard_named(e.rel),
                      (SELECT k.relowner::pg_catalog.regrole FROM pg_catalog.pg_class k
                        WHERE k.oid OPERATOR(pg_catalog.=) privacy_internal._citus_shard_named(e.rel))
        USING ERRCODE = '55000',
              DETAIL = 'Citus builds the new placement of a shard as the table''s owner, and pg_privacy cannot tell its copy of '
                       'the protect trigger and the rows from what the owner could write there herself.',
              HINT = 'Give the table to a superuser for the move, then back, and run privacy.protect() on it again '
                     '(see doc/operations.md, Citus).';
    END IF;
    RAISE EXCEPTION 'cannot change the protect trigger % of table %', e.tgname, e.rel
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.upper(pg_catalog.left(e.problem, 1)) || pg_catalog.substr(e.problem, 2)
                     || '; only privacy.protect() writes a signed rule, and Citus copies it onto the shards.',
            HINT = 'Run privacy.protect() on the table on the coordinator.';
  END LOOP;
  -- (A partition created or attached under a subject table while subjects
  -- are restricted gets its restriction check from
  -- privacy_internal._restrict_on_partition_ddl, which src/protect.c calls
  -- after CREATE TABLE and ATTACH PARTITION only.)
  FOR reg IN
    SELECT DISTINCT t.tbl
      FROM pg_catalog.pg_event_trigger_ddl_commands() d
      CROSS JOIN LATERAL (
        SELECT CASE WHEN d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::regclass THEN d.objid
                    WHEN d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_trigger'::regclass
                    THEN (SELECT g.tgrelid FROM pg_catalog.pg_trigger g WHERE g.oid OPERATOR(pg_catalog.=) d.objid)
               END AS relid) x
      JOIN privacy_internal._enforced_table t
        ON t.tbl::oid OPERATOR(pg_catalog.=) ANY (ARRAY(SELECT pg_catalog.pg_partition_ancestors(x.relid)))
        OR t.tbl::oid OPERATOR(pg_catalog.=) x.relid
        -- ALTER TABLE ... INHERIT a protected table
        OR t.tbl::oid IN (SELECT i.inhparent FROM pg_catalog.pg_inherits i
                           WHERE i.inhrelid OPERATOR(pg_catalog.=) x.relid)
     WHERE x.relid IS NOT NULL
  LOOP
    FOR e IN SELECT p.* FROM privacy_internal._enforced_table f,
                    LATERAL privacy_internal._enforcement_problems(f.tbl, f.registered, f.consent_required, f.restricted) p
              WHERE f.tbl OPERATOR(pg_catalog.=) reg LOOP
      IF may_switch_off THEN
        RAISE WARNING '% of table % is not in force', e.what, reg
          USING DETAIL = e.problem, HINT = 'Restore it before writing to the table; privacy.catalog_problems lists it.';
        RAISE LOG 'pg_privacy: superuser % switched off % of table %: %', who, e.what, reg, e.problem;
        BEGIN
          PERFORM privacy_internal._audit(CASE e.what WHEN 'protection' THEN 'protect.weakened'
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

CREATE FUNCTION privacy_internal._rekey_batch(rel regclass, cols name[], order_col name, order_type regtype,
                                      lo bytea, mark bytea, batch_size integer, count_rows boolean,
                                      OUT hi bytea, OUT rows bigint)
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_rekey_batch';

COMMENT ON FUNCTION privacy_internal._rekey_batch(regclass, name[], name, regtype, bytea, bytea, integer, boolean) IS
  'internal: convert the msisdn_fpe pseudonyms of one batch of a relation (past the watermark lo, batch_size rows in order of order_col, up to the high mark) from its pending key to the current one, through the protect trigger, as the table owner; hi: the new watermark, NULL when the relation is done';

CREATE FUNCTION privacy_internal._rekey_high_mark(rel regclass, order_col name, order_type regtype) RETURNS bytea
  LANGUAGE c VOLATILE
  AS 'MODULE_PATHNAME', 'pgp_rekey_high_mark';

COMMENT ON FUNCTION privacy_internal._rekey_high_mark(regclass, name, regtype) IS
  'internal: the largest value of a relation''s order column (binary form) when its conversion begins, read as its owner';

CREATE FUNCTION privacy_internal._rekey_order_columns(rel regclass, tbl regclass)
  RETURNS TABLE(col name, typ regtype)
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT a.attname, a.atttypid::regtype
    FROM pg_catalog.pg_index i
    JOIN pg_catalog.pg_class ic ON ic.oid OPERATOR(pg_catalog.=) i.indexrelid
    JOIN pg_catalog.pg_am am ON am.oid OPERATOR(pg_catalog.=) ic.relam
    JOIN pg_catalog.pg_attribute a
      ON a.attrelid OPERATOR(pg_catalog.=) i.indrelid AND a.attnum OPERATOR(pg_catalog.=) i.indkey[0]
    JOIN pg_catalog.pg_opclass oc ON oc.oid OPERATOR(pg_catalog.=) i.indclass[0]
   WHERE i.indrelid OPERATOR(pg_catalog.=) _rekey_order_columns.rel
     AND am.amname OPERATOR(pg_catalog.=) 'btree'
     AND i.indisvalid AND i.indisready AND i.indpred IS NULL
     AND i.indkey[0] OPERATOR(pg_catalog.<>) 0
     AND oc.opcdefault AND oc.opcintype OPERATOR(pg_catalog.=) a.atttypid
     AND (i.indoption[0] OPERATOR(pg_catalog.&) 1) OPERATOR(pg_catalog.=) 0
     AND NOT a.attisdropped AND a.attgenerated OPERATOR(pg_catalog.=) ''
     AND a.atttypid IN ('pg_catalog.int2'::regtype, 'pg_catalog.int4'::regtype, 'pg_catalog.int8'::regtype,
                        'pg_catalog.numeric'::regtype, 'pg_catalog.date'::regtype,
                        'pg_catalog.timestamp'::regtype, 'pg_catalog.timestamptz'::regtype,
                        'pg_catalog.uuid'::regtype)
     AND NOT EXISTS (SELECT FROM privacy.registered_column c
                      WHERE c.tbl OPERATOR(pg_catalog.=) _rekey_order_columns.tbl
                        AND c.col OPERATOR(pg_catalog.=) a.attname
                        AND c.protect IS NOT NULL)
   ORDER BY i.indisunique DESC, i.indisprimary DESC, i.indexrelid
$$;

CREATE OR REPLACE FUNCTION privacy_internal._rekey_mark(from_key text, to_key text) RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  citus regclass;
  part record;
  n bigint;
BEGIN
  SELECT r.tbl INTO citus FROM privacy_internal._rekey_relations() r
   WHERE privacy_internal._citus_table(r.tbl) LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'cannot change the key while table %, which Citus manages, has a column protected by msisdn_fpe', citus
      USING ERRCODE = '0A000',
            DETAIL = 'Its phone-number pseudonyms are under the database''s key on the shards; converting them to a new key is not built for tables Citus manages, and they would be looked up under the wrong key.',
            HINT = 'Keep the database''s key; nothing was changed.';
  END IF;
  -- A relation privacy.rekey() has converted in part holds rows under two
  -- keys already; a third could not be told apart.
  SELECT p.rel, p.from_key INTO part FROM privacy.rekey_pending p
   WHERE (p.watermark IS NOT NULL OR p.high_mark IS NOT NULL) AND EXISTS (SELECT FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) p.rel)
   ORDER BY p.since, p.rel::pg_catalog.oid LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'cannot change the key while privacy.rekey() has converted relation % in part', part.rel
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('Some of its phone-number pseudonyms are under key %s, the others under the current key; rows under a third key could not be told apart.', part.from_key),
            HINT = 'Run CALL privacy.rekey() to the end (privacy.rekey_progress shows what is left), then change the key; nothing was changed.';
  END IF;
  DELETE FROM privacy.rekey_pending p WHERE p.from_key OPERATOR(pg_catalog.=) _rekey_mark.to_key;
  INSERT INTO privacy.rekey_pending (rel, tbl, from_key)
  SELECT DISTINCT ON (r.rel) r.rel, r.tbl, _rekey_mark.from_key
    FROM privacy_internal._rekey_relations() r
   ORDER BY r.rel
  ON CONFLICT (rel) DO NOTHING;
  -- relations dropped since (one detached stays pending: its pseudonyms
  -- are under its key wherever it is attached again)
  DELETE FROM privacy.rekey_pending p
   WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) p.rel);
  SELECT pg_catalog.count(*) INTO n FROM privacy.rekey_pending;
  -- the protect trigger of each relation reads its pending key again
  -- (also where it is pending no more)
  PERFORM privacy_internal._invalidate(r.tbl)
     FROM (SELECT DISTINCT x.tbl FROM privacy_internal._rekey_relations() x) r;
  RETURN n;
END
$$;

CREATE FUNCTION privacy_internal._rekey_keys(tbl regclass) RETURNS text[]
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
  SELECT COALESCE(pg_catalog.array_agg(DISTINCT p.from_key ORDER BY p.from_key), '{}')
    FROM privacy.rekey_pending p
   -- a part of the table now, whichever table it was pending with
   WHERE p.rel OPERATOR(pg_catalog.=) _rekey_keys.tbl
      OR p.rel IN (SELECT x.relid FROM pg_catalog.pg_partition_tree(_rekey_keys.tbl) x)
$$;

COMMENT ON FUNCTION privacy_internal._rekey_keys(regclass) IS
  'internal: the older keys the phone-number pseudonyms of a table are pending under';

CREATE FUNCTION privacy_internal._msisdn_under(fingerprint text, number text, domain text, decrypt boolean)
  RETURNS text
  LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'pgp_msisdn_under';

COMMENT ON FUNCTION privacy_internal._msisdn_under(text, text, text, boolean) IS
  'internal: a phone number''s msisdn_fpe pseudonym under the listed key of that fingerprint (decrypt: the number a pseudonym under it stands for)';

CREATE FUNCTION privacy_internal._row_key(rel oid, r record) RETURNS text
  LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'pgp_row_key';

COMMENT ON FUNCTION privacy_internal._row_key(oid, record) IS
  'internal: the fingerprint of the key a row''s phone-number pseudonyms are under (the pending key until privacy.rekey() reaches the row)';

CREATE FUNCTION privacy.row_key(rel regclass, r record) RETURNS text
  LANGUAGE c STABLE
  AS 'MODULE_PATHNAME', 'pgp_row_key';

COMMENT ON FUNCTION privacy.row_key(regclass, record) IS
  'the fingerprint of the key under which the phone-number pseudonyms of a row (its tableoid, the row) are stored: the replaced key until privacy.rekey() converts the row';

CREATE FUNCTION privacy_internal._rekey_column_ddl(rel regclass, col name) RETURNS void
  LANGUAGE plpgsql
  SECURITY DEFINER
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  p record;
BEGIN
  SELECT x.rel INTO p FROM privacy.rekey_pending x
   WHERE (x.watermark IS NOT NULL OR x.high_mark IS NOT NULL) AND x.order_col OPERATOR(pg_catalog.=) _rekey_column_ddl.col
     AND (x.rel OPERATOR(pg_catalog.=) _rekey_column_ddl.rel
          OR x.rel IN (SELECT t.relid FROM pg_catalog.pg_partition_tree(_rekey_column_ddl.rel) t))
   ORDER BY x.rel::pg_catalog.oid LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'cannot drop, rename or retype column % of relation % while privacy.rekey() converts it in order of that column', col, p.rel
      USING ERRCODE = '55000',
            DETAIL = 'Which of its rows are under the current key and which under the replaced one is told by that column.',
            HINT = 'Run CALL privacy.rekey() to the end (privacy.rekey_progress), then change the column.';
  END IF;
END
$$;

CREATE OR REPLACE FUNCTION privacy_internal._check_rekeyed(tbl regclass, kinds text[] DEFAULT NULL) RETURNS void
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  r record;
BEGIN
  IF NOT EXISTS (SELECT FROM privacy.rekey_pending) THEN
    RETURN;
  END IF;
  -- each pending relation with the registered table it is a part of now
  -- (itself, or an ancestor: one detached is searched with no table, one
  -- attached to another table is searched with that one)
  SELECT g.tbl, pg_catalog.count(*) AS n, pg_catalog.min(g.from_key) AS k INTO r
    FROM (SELECT p.rel, p.from_key,
                 (SELECT t.tbl FROM privacy.registered_table t
                   WHERE t.tbl OPERATOR(pg_catalog.=) p.rel
                      OR t.tbl IN (SELECT a.relid FROM pg_catalog.pg_partition_ancestors(p.rel) a)
                   ORDER BY t.tbl::pg_catalog.oid LIMIT 1) AS tbl
            FROM privacy.rekey_pending p) g
   WHERE g.tbl IS NOT NULL
     AND (_check_rekeyed.tbl IS NULL OR g.rel OPERATOR(pg_catalog.=) _check_rekeyed.tbl
          OR g.rel IN (SELECT x.relid FROM pg_catalog.pg_partition_tree(_check_rekeyed.tbl) x))
     AND (kinds IS NULL
          OR EXISTS (SELECT FROM privacy.registered_column c
                      WHERE c.tbl OPERATOR(pg_catalog.=) g.tbl
                        AND c.identifies OPERATOR(pg_catalog.=) ANY (kinds)))
   GROUP BY g.tbl
   ORDER BY g.tbl::pg_catalog.oid
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'the phone-number pseudonyms of table % are not yet under the current key', r.tbl
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('%s of its relations hold pseudonyms made under key %s, which privacy.rekey() has not converted: looked up under the current key they would be missed, or taken for another number.',
                                       r.n, r.k),
            HINT = 'Run CALL privacy.rekey() (privacy.rekey_progress shows what is left), then try again.';
  END IF;
END
$$;

CREATE FUNCTION privacy_internal._rekey_rel(rel regclass, lock_timeout_ms integer, batch_size integer DEFAULT 2147483647,
                                            OUT rows bigint, OUT finished boolean)
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  p privacy.rekey_pending;
  cur text;
  cols name[];
  b record;
  count_rows boolean := false;
  bsize integer := _rekey_rel.batch_size;
  started timestamptz := pg_catalog.clock_timestamp();
BEGIN
  finished := true;
  -- the key this conversion writes under cannot change meanwhile
  SELECT s.fingerprint INTO cur FROM privacy.key_state s FOR SHARE;
  -- one conversion of a relation at a time (a second CALL waits, then
  -- finds it done)
  SELECT * INTO p FROM privacy.rekey_pending x WHERE x.rel OPERATOR(pg_catalog.=) _rekey_rel.rel FOR UPDATE;
  IF NOT FOUND THEN
    RETURN;
  END IF;
  IF bsize OPERATOR(pg_catalog.=) 0 AND p.started_at IS NOT NULL THEN
    -- (rekey's first pass: begun already)
    rows := 0;
    finished := false;
    RETURN;
  END IF;
  IF NOT privacy_internal._key_listed(p.from_key) THEN
    RAISE EXCEPTION 'no key of fingerprint % is loaded', p.from_key
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('The phone-number pseudonyms of %s are under that key; they can be converted only with it.', p.rel),
            HINT = 'List that key''s file after the current one in pg_privacy.key_file and reload the configuration (privacy.key_versions).';
  END IF;
  -- Writers wait while this relation is converted, so that each relation
  -- is under one key when this commits.  Taken first: while it waits for
  -- a writer, this transaction holds no other lock (the purge may drop
  -- other partitions meanwhile).
  IF EXISTS (SELECT FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) p.rel) THEN
    PERFORM pg_catalog.set_config('lock_timeout', lock_timeout_ms::text, true);
    EXECUTE pg_catalog.format('LOCK TABLE ONLY %s IN SHARE ROW EXCLUSIVE MODE', p.rel);
    PERFORM pg_catalog.set_config('lock_timeout', '0', true);
  END IF;
  -- dropped since: nothing left to convert
  IF NOT EXISTS (SELECT FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) p.rel) THEN
    DELETE FROM privacy.rekey_pending x WHERE x.rel OPERATOR(pg_catalog.=) p.rel;
    RETURN;
  END IF;
  -- detached from its table, or the table no longer protected by
  -- msisdn_fpe: its pseudonyms stay under their key, and it stays pending
  -- (attached again, it is converted then)
  IF NOT (p.rel OPERATOR(pg_catalog.=) p.tbl
          OR p.tbl IN (SELECT a.relid FROM pg_catalog.pg_partition_ancestors(p.rel) a))
     OR NOT EXISTS (SELECT FROM privacy.registered_column c
                     WHERE c.tbl OPERATOR(pg_catalog.=) p.tbl AND c.protect OPERATOR(pg_catalog.=) 'msisdn_fpe')
     OR NOT privacy_internal._has_protect_trigger(p.tbl) THEN
    RAISE EXCEPTION 'relation % is no longer a protected part of table %', p.rel, p.tbl
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('Its phone-number pseudonyms are under key %s; they are converted only through the protect trigger of its table.', p.from_key),
            HINT = pg_catalog.format('Attach it to %s again (or protect that table again) and run CALL privacy.rekey(); or drop it.', p.tbl);
  END IF;
  PERFORM privacy_internal._check_protection(p.tbl);
  IF pg_catalog.current_setting('session_replication_role') OPERATOR(pg_catalog.<>) 'origin' THEN
    RAISE EXCEPTION 'cannot rekey with session_replication_role = %', pg_catalog.current_setting('session_replication_role')
      USING ERRCODE = '55000',
            DETAIL = 'The protect trigger, which converts the pseudonyms, does not fire then.',
            HINT = 'SET session_replication_role = origin, then run CALL privacy.rekey() again.';
  END IF;
  -- A stored generated column computed by a function of the owner (or
  -- anything else not built in: only those are recorded in pg_depend) is
  -- computed after the protect trigger: it could change the row of a
  -- subject past the consent and restriction checks the conversion skips.
  IF EXISTS (SELECT FROM pg_catalog.pg_attrdef ad
               JOIN pg_catalog.pg_attribute a
                 ON a.attrelid OPERATOR(pg_catalog.=) ad.adrelid AND a.attnum OPERATOR(pg_catalog.=) ad.adnum
               JOIN pg_catalog.pg_depend d
                 ON d.classid OPERATOR(pg_catalog.=) 'pg_catalog.pg_attrdef'::pg_catalog.regclass
                AND d.objid OPERATOR(pg_catalog.=) ad.oid
              WHERE ad.adrelid OPERATOR(pg_catalog.=) p.rel AND a.attgenerated OPERATOR(pg_catalog.=) 's'
                AND NOT (d.refclassid OPERATOR(pg_catalog.=) 'pg_catalog.pg_class'::pg_catalog.regclass
                         AND d.refobjid OPERATOR(pg_catalog.=) p.rel)) THEN
    RAISE EXCEPTION 'cannot rekey relation %, which has a generated column computed by a function that is not built in', p.rel
      USING ERRCODE = '55000',
            DETAIL = 'The column is computed after the protect trigger, during the conversion, which skips the consent and restriction checks.',
            HINT = 'Drop the generated column, or compute it with built-in functions only, then run CALL privacy.rekey() again.';
  END IF;
  -- A foreign key between phone-number columns: the two sides cannot be
  -- converted one after the other (the key's check, or its cascade into
  -- the other side's protect trigger, fails at the first).
  IF EXISTS (SELECT FROM pg_catalog.pg_constraint k
              WHERE k.contype OPERATOR(pg_catalog.=) 'f'
                AND (k.conrelid OPERATOR(pg_catalog.=) p.rel OR k.confrelid OPERATOR(pg_catalog.=) p.rel
                     OR k.conrelid IN (SELECT a.relid FROM pg_catalog.pg_partition_ancestors(p.rel) a)
                     OR k.confrelid IN (SELECT a.relid FROM pg_catalog.pg_partition_ancestors(p.rel) a))
                AND EXISTS (SELECT FROM (VALUES (k.conrelid, k.conkey), (k.confrelid, k.confkey)) side(r, keys)
                              JOIN pg_catalog.pg_attribute a
                                ON a.attrelid OPERATOR(pg_catalog.=) side.r AND a.attnum OPERATOR(pg_catalog.=) ANY (side.keys)
                              JOIN privacy.registered_column c
                                ON c.col OPERATOR(pg_catalog.=) a.attname
                               AND c.protect OPERATOR(pg_catalog.=) 'msisdn_fpe'
                               AND (c.tbl OPERATOR(pg_catalog.=) side.r
                                    OR c.tbl IN (SELECT x.relid FROM pg_catalog.pg_partition_ancestors(side.r) x)))) THEN
    RAISE EXCEPTION 'cannot rekey relation %, whose phone-number column takes part in a foreign key', p.rel
      USING ERRCODE = '55000',
            DETAIL = 'The referencing and the referenced pseudonyms would be under different keys between the two conversions.',
            HINT = 'Drop the foreign key for the rotation, run CALL privacy.rekey(), and create it again.';
  END IF;
  -- A rule of the owner could make the UPDATE convert nothing, or other rows.
  IF EXISTS (SELECT FROM pg_catalog.pg_rewrite w WHERE w.ev_class OPERATOR(pg_catalog.=) p.rel) THEN
    RAISE EXCEPTION 'cannot rekey relation %, which has rules', p.rel
      USING ERRCODE = '55000',
            DETAIL = 'A rule could keep the conversion''s UPDATE from reaching its rows.',
            HINT = 'Drop the rules of the relation, then run CALL privacy.rekey() again.';
  END IF;
  -- The rows of the batch, counted under the lock when a BEFORE UPDATE row
  -- trigger of the owner could skip one (return NULL) and leave it under
  -- the old key.  (The lock keeps her from adding one meanwhile.)
  count_rows := EXISTS (SELECT FROM pg_catalog.pg_trigger g
                          JOIN pg_catalog.pg_proc f ON f.oid OPERATOR(pg_catalog.=) g.tgfoid
                         WHERE g.tgrelid OPERATOR(pg_catalog.=) p.rel AND NOT g.tgisinternal
                           AND g.tgenabled OPERATOR(pg_catalog.<>) 'D'
                           AND (g.tgtype::integer OPERATOR(pg_catalog.&) 19) OPERATOR(pg_catalog.=) 19   -- ROW, BEFORE, UPDATE
                           AND f.pronamespace OPERATOR(pg_catalog.<>) 'privacy_internal'::regnamespace);
  SELECT pg_catalog.array_agg(c.col ORDER BY c.attnum) INTO cols
    FROM privacy.registered_column c
   WHERE c.tbl OPERATOR(pg_catalog.=) p.tbl AND c.protect OPERATOR(pg_catalog.=) 'msisdn_fpe';
  -- The conversion begins: it chooses the order column (none: the
  -- relation is converted whole, in one batch) and records the high mark,
  -- the column's largest value now (read after the lock, at READ
  -- COMMITTED): rows written above it from now on are under the current
  -- key, and the batches stop at it.  batch_size 0 (rekey's first pass):
  -- only that (a relation without an order column is left to its one
  -- batch).
  IF p.started_at IS NULL THEN
    SELECT o.col, o.typ INTO p.order_col, p.order_type
      FROM privacy_internal._rekey_order_columns(p.rel, p.tbl) o LIMIT 1;
    p.started_at := started;
    IF p.order_col IS NOT NULL THEN
      p.high_mark := privacy_internal._rekey_high_mark(p.rel, p.order_col, p.order_type);
    END IF;
    UPDATE privacy.rekey_pending x SET order_col = p.order_col, order_type = p.order_type, started_at = p.started_at,
                                       high_mark = p.high_mark
     WHERE x.rel OPERATOR(pg_catalog.=) p.rel;
    -- the protect trigger writes above the mark under the current key
    PERFORM privacy_internal._invalidate(p.rel);
    IF p.order_col IS NULL THEN
      RAISE NOTICE 'relation % has no index rekey can convert it in order of: it is converted in one transaction, its writers held meanwhile', p.rel
        USING HINT = 'An index on a column of type smallint, integer, bigint, numeric, date, timestamp, timestamptz or uuid that is neither protected nor generated lets rekey convert it in batches.';
    ELSIF _rekey_rel.batch_size OPERATOR(pg_catalog.=) 0 AND p.high_mark IS NULL THEN
      -- nothing to mark: converted now, in one batch (its rows, if any,
      -- have no value in the order column), so that its new rows are
      -- under the current key at once
      bsize := 2147483647;
    END IF;
  END IF;
  IF bsize OPERATOR(pg_catalog.=) 0 THEN
    -- begun, and left to the batches
    rows := 0;
    finished := false;
    RETURN;
  END IF;
  -- (an index on the order column dropped since the conversion began:
  -- each batch reads the relation whole from then on)
  IF (p.watermark IS NOT NULL OR p.high_mark IS NOT NULL)
     AND NOT EXISTS (SELECT FROM privacy_internal._rekey_order_columns(p.rel, p.tbl) o
                      WHERE o.col OPERATOR(pg_catalog.=) p.order_col) THEN
    RAISE WARNING 'relation % has no index on column % any more, which rekey converts it in order of: each batch reads the relation whole', p.rel, p.order_col
      USING HINT = pg_catalog.format('Create an index on %s (%I), or convert the rest in one batch: CALL privacy.rekey(batch_size => 2147483647, only_table => ''%s'').',
                                     p.rel, p.order_col, p.tbl);
  END IF;
  b := privacy_internal._rekey_batch(p.rel, cols, p.order_col, p.order_type, p.watermark, p.high_mark,
                                     bsize, count_rows);
  rows := b.rows;
  p.rows_done := p.rows_done OPERATOR(pg_catalog.+) b.rows;
  -- the relation's state in every backend, read again with the watermark
  PERFORM privacy_internal._invalidate(p.rel);
  IF b.hi IS NOT NULL THEN
    UPDATE privacy.rekey_pending x SET watermark = b.hi, rows_done = p.rows_done
     WHERE x.rel OPERATOR(pg_catalog.=) p.rel;
    finished := false;
    RETURN;
  END IF;
  DELETE FROM privacy.rekey_pending x WHERE x.rel OPERATOR(pg_catalog.=) p.rel;
  INSERT INTO privacy.rekey_log (rel, tbl, from_key, to_key, rows, started_at, finished_at)
  VALUES (p.rel::text, p.tbl::text, p.from_key, cur, p.rows_done, p.started_at, pg_catalog.clock_timestamp());
  PERFORM privacy_internal._audit('key.rekey', p.rel::text,
                         pg_catalog.jsonb_build_object('table', p.tbl::text, 'from', p.from_key, 'to', cur,
                                                       'columns', pg_catalog.cardinality(cols), 'rows', p.rows_done,
                                                       'order_column', p.order_col));
END
$$;

COMMENT ON FUNCTION privacy_internal._rekey_rel(regclass, integer, integer) IS
  'internal: one step of privacy.rekey(): convert one batch of a pending relation''s phone-number pseudonyms to the current key';

CREATE FUNCTION privacy_internal._rekey_todo(tbl regclass DEFAULT NULL) RETURNS regclass[]
  LANGUAGE sql STABLE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
  SELECT COALESCE(pg_catalog.array_agg(p.rel ORDER BY p.since, p.rel::pg_catalog.oid), '{}')
    FROM privacy.rekey_pending p
   WHERE _rekey_todo.tbl IS NULL OR p.tbl OPERATOR(pg_catalog.=) _rekey_todo.tbl
$$;

COMMENT ON FUNCTION privacy_internal._rekey_todo(regclass) IS
  'internal: the relations privacy.rekey() has left to convert';

CREATE PROCEDURE privacy.rekey(batch_size integer DEFAULT 10000, lock_timeout_ms integer DEFAULT 1000,
                               only_table regclass DEFAULT NULL, max_seconds integer DEFAULT NULL)
  LANGUAGE plpgsql
AS $$
DECLARE
  todo regclass[];
  r regclass;
  nrows bigint;
  fin boolean;
  done integer := 0;
  total bigint := 0;
  failed jsonb := pg_catalog.jsonb_build_array();
  st text;
  msg text;
  began timestamptz := pg_catalog.clock_timestamp();
  out_of_time boolean := false;
BEGIN
  IF batch_size IS NULL OR batch_size OPERATOR(pg_catalog.<) 1 THEN
    RAISE EXCEPTION 'invalid batch_size %', batch_size
      USING ERRCODE = '22023', HINT = 'batch_size, the rows converted per transaction, must be at least 1.';
  END IF;
  IF lock_timeout_ms IS NULL OR lock_timeout_ms OPERATOR(pg_catalog.<) 1 THEN
    RAISE EXCEPTION 'invalid lock_timeout_ms %', lock_timeout_ms
      USING ERRCODE = '22023', HINT = 'lock_timeout_ms must be at least 1.';
  END IF;
  IF max_seconds OPERATOR(pg_catalog.<) 1 THEN
    RAISE EXCEPTION 'invalid max_seconds %', max_seconds
      USING ERRCODE = '22023', HINT = 'max_seconds, after which no further batch is begun, must be at least 1 (NULL: no limit).';
  END IF;
  -- Fails here, before anything is locked, when CALLed inside a
  -- transaction block (where the batches could not commit one by one).
  COMMIT;
  -- Each batch reads its rows after it has locked the relation: at
  -- READ COMMITTED only (src/protect.c, protect_self_update).
  IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed' THEN
    RAISE EXCEPTION 'rekey must run at isolation level READ COMMITTED'
      USING ERRCODE = '55000',
            DETAIL = pg_catalog.format('Its transactions run at %s: a batch''s snapshot could be older than its lock, and a row committed in between would not be converted.',
                                       pg_catalog.upper(pg_catalog.current_setting('transaction_isolation'))),
            HINT = 'SET default_transaction_isolation = ''read committed'', then CALL privacy.rekey() again.';
  END IF;
  todo := privacy_internal._rekey_todo(only_table);
  IF pg_catalog.cardinality(todo) OPERATOR(pg_catalog.=) 0 THEN
    IF only_table IS NULL THEN
      RAISE NOTICE 'nothing to rekey: every phone-number pseudonym is under the current key';
    ELSE
      RAISE NOTICE 'nothing to rekey in %: its phone-number pseudonyms are under the current key', only_table;
    END IF;
    RETURN;
  END IF;
  -- A first pass begins every relation not yet begun that it can lock at
  -- once (each committed): its high mark recorded, the rows written into
  -- it above the mark are under the current key from then on, while the
  -- batches go from relation to relation.  A relation a writer holds is
  -- begun by its first batch instead.  (_rekey_rel skips one begun
  -- already: the caller, a role the DBA granted rekey to, reads nothing
  -- of pg_privacy's catalog itself.)
  FOREACH r IN ARRAY todo LOOP
    EXIT WHEN max_seconds IS NOT NULL
              AND pg_catalog.clock_timestamp() OPERATOR(pg_catalog.>=) (began OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs => max_seconds));
    BEGIN
      SELECT s.rows, s.finished INTO nrows, fin FROM privacy_internal._rekey_rel(r, LEAST(lock_timeout_ms, 100), 0) s;
      total := total OPERATOR(pg_catalog.+) COALESCE(nrows, 0);
      IF fin AND nrows IS NOT NULL THEN
        done := done OPERATOR(pg_catalog.+) 1;   -- (nothing to mark: converted)
      END IF;
    EXCEPTION
      WHEN query_canceled THEN
        RAISE;
      WHEN OTHERS THEN
        NULL;   -- (its first batch reports it)
    END;
    COMMIT;
  END LOOP;
  FOREACH r IN ARRAY todo LOOP
    -- batch after batch, each committed, until the relation is done (or
    -- the time given is up: no further batch is begun)
    LOOP
      IF max_seconds IS NOT NULL
         AND pg_catalog.clock_timestamp() OPERATOR(pg_catalog.>=) (began OPERATOR(pg_catalog.+) pg_catalog.make_interval(secs => max_seconds)) THEN
        out_of_time := true;
        fin := NULL;
        EXIT;
      END IF;
      BEGIN
        SELECT s.rows, s.finished INTO nrows, fin
          FROM privacy_internal._rekey_rel(r, lock_timeout_ms, batch_size) s;
        total := total OPERATOR(pg_catalog.+) COALESCE(nrows, 0);
      EXCEPTION
        WHEN query_canceled THEN
          RAISE;
        WHEN OTHERS THEN
          GET STACKED DIAGNOSTICS st = RETURNED_SQLSTATE, msg = MESSAGE_TEXT;
          RAISE WARNING 'rekey of % failed (SQLSTATE %): %', r, st, msg;
          failed := failed OPERATOR(pg_catalog.||)
                    pg_catalog.jsonb_build_object('relation', r::text, 'sqlstate', st, 'message', msg);
          fin := NULL;
      END;
      COMMIT;
      EXIT WHEN fin IS NOT FALSE;   -- done, or failed
    END LOOP;
    IF fin AND nrows IS NOT NULL THEN
      done := done OPERATOR(pg_catalog.+) 1;
    END IF;
    EXIT WHEN out_of_time;
  END LOOP;
  RAISE NOTICE 'rekeyed % relation(s), % row(s)', done, total;
  IF out_of_time THEN
    RAISE NOTICE 'stopped after % second(s), with relations left to convert', max_seconds
      USING HINT = 'CALL privacy.rekey() again goes on from where each relation''s last batch left it (privacy.rekey_progress).';
  END IF;
  IF pg_catalog.jsonb_array_length(failed) OPERATOR(pg_catalog.>) 0 THEN
    RAISE EXCEPTION 'rekey failed for % relation(s)', pg_catalog.jsonb_array_length(failed)
      USING ERRCODE = '55000',
            DETAIL = (SELECT pg_catalog.string_agg(pg_catalog.format('%s: %s (%s)', f->>'relation', f->>'message', f->>'sqlstate'), '; ')
                        FROM pg_catalog.jsonb_array_elements(failed) f),
            HINT = 'The other relations were converted; CALL privacy.rekey() again continues with these, from where they stopped.';
  END IF;
END
$$;

COMMENT ON PROCEDURE privacy.rekey(integer, integer, regclass, integer) IS
  'convert every phone-number pseudonym (msisdn_fpe) still under an older key (of one table: only_table) to the current key, batch_size rows per transaction, each relation in order of an indexed column, beginning no batch after max_seconds; resumable; CALL it outside a transaction block';

CREATE OR REPLACE FUNCTION privacy.withdraw_consent(kind text, value text, purpose text,
                                         source text DEFAULT NULL, at timestamptz DEFAULT NULL)
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  norm   text;
  st     privacy.consent_state;
  new_id bigint;
  r      record;
  n      bigint;
  how    text;
  match  text;
  total  bigint := 0;
  tables jsonb := '{}';
  locks  text;
  pend   text[];
  fp     text;
BEGIN
  norm := privacy_internal._consent_subject(kind, value, purpose);
  -- One lock order for every path that writes user tables and the audit
  -- log (erase_subject takes the same): the user tables first, in order of
  -- their oid, then the consent state, the audit head last.  So the tables
  -- the cascade deletes from are locked before anything else: an erasure
  -- holding them makes the withdrawal wait here, holding nothing it needs.
  SELECT pg_catalog.string_agg(x.tbl::text, ', ' ORDER BY x.tbl::oid) INTO locks
    FROM (SELECT DISTINCT q.tbl FROM privacy.consent_requirement q
           WHERE q.purpose OPERATOR(pg_catalog.=) withdraw_consent.purpose
             AND q.kind OPERATOR(pg_catalog.=) withdraw_consent.kind
             AND q.on_withdraw OPERATOR(pg_catalog.=) 'delete') x;
  IF locks IS NOT NULL THEN
    EXECUTE 'LOCK TABLE ' || locks || ' IN ROW EXCLUSIVE MODE';
  END IF;
  st := privacy_internal._consent_lock_state(kind, norm, purpose, true);
  IF st.granted IS NULL OR st.event_id IS NULL THEN
    PERFORM privacy_internal._raise_hidden('55000', pg_catalog.format('no consent to withdraw for purpose "%s"', purpose),
                                  'Consent for this identifier and purpose was never granted.');
  END IF;
  IF NOT st.granted THEN
    -- Withdrawing twice (a second click on an unsubscribe link) changes
    -- nothing: the withdrawal in force is the answer.
    RAISE NOTICE 'consent for purpose "%" is already withdrawn', purpose
      USING DETAIL = pg_catalog.format('Withdrawn at %s (event %s).', st.at, st.event_id);
    RETURN st.event_id;
  END IF;
  -- The withdrawal is in force before anything of a table's owner runs
  -- (a trigger of hers writing the subject's row anew is refused).
  new_id := privacy_internal._consent_append(kind, norm, purpose, 'withdraw', at, source, NULL, st);
  -- Stop processing: delete the subject's rows where the requirement says
  -- so, as each table's owner, in this transaction; the audit head is
  -- locked last.
  FOR r IN SELECT q.tbl, q.col, c.protect, c.domain, privacy_internal._has_protect_trigger(q.tbl) AS is_protected,
                  k.normalize
             FROM privacy.consent_requirement q
             JOIN privacy.identifier_kind k ON k.name OPERATOR(pg_catalog.=) q.kind
             LEFT JOIN privacy.registered_column c
               ON c.tbl OPERATOR(pg_catalog.=) q.tbl AND c.col OPERATOR(pg_catalog.=) q.col
            WHERE q.purpose OPERATOR(pg_catalog.=) withdraw_consent.purpose
              AND q.kind OPERATOR(pg_catalog.=) withdraw_consent.kind
              AND q.on_withdraw OPERATOR(pg_catalog.=) 'delete'
            ORDER BY q.tbl::oid, q.col
  LOOP
    IF r.is_protected AND r.protect IS NOT NULL THEN
      -- fail closed where protection was switched off (raw values)
      PERFORM privacy_internal._check_protection(r.tbl);
      how := 'equal';
      match := privacy_internal._transform(norm, r.protect, r.domain, kind);
      pend := CASE WHEN r.protect OPERATOR(pg_catalog.=) 'msisdn_fpe'
                   THEN privacy_internal._rekey_keys(r.tbl) ELSE '{}' END;
      IF pg_catalog.cardinality(pend) OPERATOR(pg_catalog.>) 0 THEN
        -- a key rotation runs (src/sql/36_rekey.sql): the number under
        -- each key, matched with the rows under that key only
        n := 0;
        FOREACH fp IN ARRAY privacy.key_fingerprint() OPERATOR(pg_catalog.||) pend LOOP
          n := n OPERATOR(pg_catalog.+)
               privacy_internal._consent_delete(r.tbl, r.col, 'under:' || fp,
                                                privacy_internal._msisdn_under(fp, norm, r.domain, false));
        END LOOP;
        total := total OPERATOR(pg_catalog.+) n;
        tables := tables OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(r.tbl::text, n);
        CONTINUE;
      END IF;
    ELSIF r.normalize IN ('msisdn', 'email') THEN
      how := r.normalize;
      match := norm;
    ELSE
      how := 'equal';
      match := norm;
    END IF;
    n := privacy_internal._consent_delete(r.tbl, r.col, how, match);
    total := total OPERATOR(pg_catalog.+) n;
    tables := tables OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object(r.tbl::text, n);
  END LOOP;
  PERFORM privacy_internal._consent_audit(new_id);
  IF tables OPERATOR(pg_catalog.<>) '{}'::jsonb THEN
    PERFORM privacy_internal._audit('consent.withdraw_cascade', purpose,
                           pg_catalog.jsonb_build_object('subject', privacy_internal._subject_ref(kind, norm),
                                                         'event_id', new_id, 'deleted', tables));
  END IF;
  RETURN new_id;
END
$$;

CREATE OR REPLACE FUNCTION privacy_internal._hold_predicate(tbl regclass, alias text, param_key text,
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
    -- an msisdn_fpe column, whose pseudonyms are numbers themselves)
    IF norms IS NOT NULL AND c.protect IS DISTINCT FROM 'msisdn_fpe' THEN
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

CREATE FUNCTION privacy_internal._retention_fpe_norm_under(fingerprint text, val text, domain text) RETURNS text
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
  RETURN COALESCE(privacy_internal._msisdn_under(fingerprint, val, domain, true), '');
EXCEPTION WHEN data_exception THEN
  RETURN '';
END
$$;

COMMENT ON FUNCTION privacy_internal._retention_fpe_norm_under(text, text, text) IS
  'internal: the number an msisdn_fpe stored value holds under an older key, empty when it cannot be read back';

CREATE OR REPLACE FUNCTION privacy_internal._retention_restricted(w privacy_internal._retention_work, wh text, args text[],
                                             lock_timeout_ms integer,
                                             OUT pred text, OUT pargs text[])
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  dc text := privacy_internal._default_country();
  c record;
  raw text;
  vals text[];
  rvals text[];
  rspans tstzmultirange[];
  keys text[];
  pend text[];
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
  -- the keys the restrictions in force were made with, read once
  keys := privacy_internal._restriction_keys();
  pend := privacy_internal._rekey_keys((w.policy).tbl);
  FOR c IN SELECT * FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc
            WHERE sc.tbl OPERATOR(pg_catalog.=) (w.policy).tbl AND sc.link OPERATOR(pg_catalog.=) 'owner'
              AND (sc.protect IS NULL OR sc.protect OPERATOR(pg_catalog.=) 'msisdn_fpe')
            ORDER BY sc.attnum LOOP
    CONTINUE WHEN NOT EXISTS (SELECT FROM privacy.restriction r
                               WHERE r.kind OPERATOR(pg_catalog.=) c.kind
                                 AND (r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()));
    raw := privacy_internal._owner_query((w.policy).tbl,
             pg_catalog.format('SELECT pg_catalog.array_agg(DISTINCT %I::pg_catalog.text) FROM %s WHERE %s AND %I IS NOT NULL',
                               c.col, w.rel, wh, c.col),
             args, lock_timeout_ms);
    CONTINUE WHEN raw IS NULL;
    vals := raw::text[];
    -- (a stored value that cannot be read back, which the trigger would
    -- refuse as well, is left alone as if restricted)
    -- A stored number read back under the current key and, while
    -- relations of the table are pending under an older key
    -- (src/sql/36_rekey.sql), under that key too: a restricted subject's
    -- row is left out whichever key it is under.
    WITH v AS (
      SELECT u.val,
             CASE WHEN c.protect IS NOT NULL THEN privacy_internal._retention_fpe_norm(u.val, c.domain)
                  ELSE privacy.lookup_value(c.mode, u.val, dc) END AS norm
        FROM pg_catalog.unnest(vals) u(val)
      UNION
      SELECT u.val, privacy_internal._retention_fpe_norm_under(k, u.val, c.domain)
        FROM pg_catalog.unnest(vals) u(val), pg_catalog.unnest(pend) k
       WHERE c.protect IS NOT NULL)
    SELECT pg_catalog.array_agg(x.val ORDER BY x.val), pg_catalog.array_agg(x.span ORDER BY x.val)
      INTO rvals, rspans
      FROM (SELECT v.val, r.span
              FROM v CROSS JOIN pg_catalog.unnest(keys) k(fp)
              JOIN privacy.restriction r
                ON r.kind OPERATOR(pg_catalog.=) c.kind
               AND r.subject_ref OPERATOR(pg_catalog.=) privacy_internal._audit_ref_under(k.fp, c.kind, v.norm)
             WHERE r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()
            UNION ALL
            SELECT v.val, '{(,)}'::pg_catalog.tstzmultirange FROM v WHERE v.norm OPERATOR(pg_catalog.=) '') x;
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
  IF pg_catalog.cardinality(conds) OPERATOR(pg_catalog.>) 0 AND privacy_internal._citus_table((w.policy).tbl) THEN
    RAISE EXCEPTION 'the expired rows of % cannot be anonymized while a data subject of its rows is restricted', (w.policy).tbl
      USING ERRCODE = '0A000',
            DETAIL = 'Citus manages the table: the anonymizing UPDATE cannot leave the restricted subjects'' rows out on its shards.',
            HINT = 'The purge anonymizes the table once the restrictions end (privacy.unrestrict_subject), or use action ''delete''.';
  END IF;
  IF pg_catalog.cardinality(conds) OPERATOR(pg_catalog.>) 0 THEN
    pred := pg_catalog.array_to_string(conds, ' AND ');
  END IF;
END
$$;

CREATE OR REPLACE FUNCTION privacy_internal._purge_error(sqlstate text, message text) RETURNS jsonb
  LANGUAGE plpgsql IMMUTABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  m text := COALESCE(message, '');
BEGIN
  m := pg_catalog.regexp_replace(m, $r$'[^']*'$r$, $r$'...'$r$, 'g');
  m := pg_catalog.regexp_replace(m, $r$[^[:space:]"']*@[^[:space:]"']*$r$, '...', 'g');
  -- numbers (inside a word too: an account number, phone4520...), but
  -- not the digits of a key's fingerprint (pgp1:<16 hex digits>, which
  -- the key errors name)
  m := pg_catalog.regexp_replace(m, '(?<!pgp[0-9]:[0-9a-f]{0,15})\+?[0-9][0-9 ().-]{4,}[0-9]', '...', 'g');
  -- data and integrity errors, and errors a trigger raised, quote values
  IF pg_catalog.left(sqlstate, 2) IN ('22', '23', 'P0') THEN
    m := pg_catalog.regexp_replace(m, '"[^"]*"', '"..."', 'g');
  END IF;
  RETURN pg_catalog.jsonb_build_object('sqlstate', sqlstate, 'message', pg_catalog.left(m, 300));
END
$$;

CREATE FUNCTION privacy_internal._subject_rows(tbl regclass, sql text, params jsonb)
  RETURNS TABLE(pri integer, m text, j jsonb, k text)
  LANGUAGE c STABLE STRICT
  AS 'MODULE_PATHNAME', 'pgp_subject_rows';

COMMENT ON FUNCTION privacy_internal._subject_rows(regclass, text, jsonb) IS
  'internal: the rows of a generated read-only query over a table, run as the table owner in a security-restricted operation';

CREATE OR REPLACE FUNCTION privacy_internal._subject_match(c privacy_internal._subject_column, dc text)
  RETURNS text
  LANGUAGE sql STABLE
AS $$
  SELECT CASE
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

CREATE FUNCTION privacy_internal._subject_row_key_sql(tbl regclass)
  RETURNS text
  LANGUAGE sql STABLE
AS $$
  SELECT CASE WHEN NOT privacy_internal._citus_table(tbl)
              THEN 'CASE WHEN f.o THEN NULL::pg_catalog.text ELSE privacy_internal._row_key(t.tableoid, t.*) END'
              ELSE 'NULL::pg_catalog.text' END
$$;

CREATE FUNCTION privacy_internal._subject_row_key_expr(c privacy_internal._subject_column)
  RETURNS text
  LANGUAGE sql STABLE
AS $$
  SELECT CASE WHEN c.protect OPERATOR(pg_catalog.=) 'msisdn_fpe' THEN privacy_internal._subject_row_key_sql(c.tbl)
              ELSE 'NULL::pg_catalog.text' END
$$;

CREATE FUNCTION privacy_internal._subject_ids(params jsonb, key text)
  RETURNS TABLE(s text, span tstzmultirange, b boolean, k text, o boolean)
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE ROWS 4
  AS 'MODULE_PATHNAME', 'pgp_subject_ids';

CREATE FUNCTION privacy_internal._subject_ids_span(params jsonb, key text, bounded boolean)
  RETURNS TABLE(s text, span tstzmultirange, b boolean, lo timestamptz, hi timestamptz, k text, o boolean)
  LANGUAGE c IMMUTABLE STRICT PARALLEL SAFE ROWS 4
  AS 'MODULE_PATHNAME', 'pgp_subject_ids_span';

CREATE OR REPLACE FUNCTION privacy_internal._subject_parts(c privacy_internal._subject_column, dc text)
  RETURNS TABLE(ids text, cond text, each boolean)
  LANGUAGE sql STABLE
AS $$
  SELECT x.ids, x.cond, x.each
    FROM (SELECT 1 AS o, privacy_internal._subject_ids_sql(c.tbl::oid::text || '.' || c.attnum::text) AS ids,
                 privacy_internal._subject_match(c, dc) AS cond, false AS each
           WHERE c.event_time IS NULL OR c.is_validity
          UNION ALL
          SELECT 2, CASE WHEN p.partitioned
                         THEN '(SELECT $2::pg_catalog.text AS s, $3::pg_catalog.tstzmultirange AS span, true AS b,'
                              ' $4::pg_catalog.timestamptz AS lo, $5::pg_catalog.timestamptz AS hi,'
                              ' $6::pg_catalog.text AS k, $7::pg_catalog.bool AS o) f'
                         ELSE pg_catalog.format('privacy_internal._subject_ids_span($1, %L, true) f',
                                                c.tbl::oid::text || '.' || c.attnum::text) END,
                 privacy_internal._subject_match(c, dc)
                 || pg_catalog.format(' AND t.%1$I::timestamptz OPERATOR(pg_catalog.>=) f.lo AND t.%1$I::timestamptz OPERATOR(pg_catalog.<=) f.hi',
                                      c.event_time),
                 p.partitioned
            FROM (SELECT EXISTS (SELECT FROM pg_catalog.pg_class k
                                  WHERE k.oid OPERATOR(pg_catalog.=) c.tbl
                                    AND k.relkind OPERATOR(pg_catalog.=) 'p') AS partitioned) p
           WHERE c.event_time IS NOT NULL AND NOT c.is_validity
          UNION ALL
          SELECT 3, pg_catalog.format('privacy_internal._subject_ids_span($1, %L, false) f', c.tbl::oid::text || '.' || c.attnum::text),
                 privacy_internal._subject_match(c, dc), false
           WHERE c.event_time IS NOT NULL AND NOT c.is_validity) x
   ORDER BY x.o
$$;

CREATE OR REPLACE FUNCTION privacy_internal._subject_link_sql(dc text)
  RETURNS text[]
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  c        privacy_internal._subject_column;
  t        record;
  link_sql text[] := '{}';
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
      link_sql := link_sql OPERATOR(pg_catalog.||)
        (t.tbl::oid::text || '|' || c.tbl::oid::text || '.' || c.attnum::text || '|' ||
         pg_catalog.format('SELECT x.k, x.v, x.s, x.d, x.r FROM %s CROSS JOIN LATERAL (VALUES %s) x(k, v, s, d, r) WHERE x.v IS NOT NULL',
           privacy_internal._subject_from(c, dc),
           (SELECT pg_catalog.string_agg(pg_catalog.format('(%L, %s, %s, %L::pg_catalog.text, %s)', l.kind,
                                                           privacy_internal._subject_value_expr(l, dc),
                                                           privacy_internal._subject_span_expr(l),
                                                           privacy_internal._subject_decrypt_domain(l),
                                                           privacy_internal._subject_row_key_expr(l)), ', ' ORDER BY l.attnum)
              FROM pg_catalog.unnest(privacy_internal._subject_cols()) l
             WHERE l.tbl OPERATOR(pg_catalog.=) t.tbl AND l.links)));
    END LOOP;
  END LOOP;
  RETURN link_sql;
END
$$;

CREATE OR REPLACE FUNCTION privacy_internal._subject_row_json(tbl regclass, mention_col name)
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
      -- under the key of its row (x.k) while a key rotation runs
      clear := pg_catalog.format('CASE WHEN x.k IS NULL THEN privacy_internal._msisdn_decrypt(x.j OPERATOR(pg_catalog.->>) %1$L, %2$L)'
                                 ' ELSE privacy_internal._msisdn_under(x.k, x.j OPERATOR(pg_catalog.->>) %1$L, %2$L, true) END',
                                 r.col, r.domain);
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

CREATE OR REPLACE FUNCTION privacy_internal._subject_rows_sql(tbl regclass, dc text, OUT q text, OUT shown text)
  LANGUAGE plpgsql STABLE
  SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
  c        privacy_internal._subject_column;
  branches text[] := '{}';
  whens    text[] := '{}';
  own_json text;
  key      text := tbl::oid::text || ':' || dc;
  cached   text := privacy_internal._subject_cache_get('rows:' || key);
  froms    text[];
  f        text;
  bounded  text[] := '{}';   -- the branches without those of open periods only
  -- a row is its relation and ctid; on Citus, where each shard's OID is
  -- its node's own (shards on two nodes may share one), its shard's name
  rid      text;
  -- the key of the row's phone-number pseudonyms while a key rotation
  -- runs (NULL: the current key), which shows them decrypted
  rkey     text := CASE WHEN EXISTS (SELECT FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc
                                      WHERE sc.tbl OPERATOR(pg_catalog.=) _subject_rows_sql.tbl
                                        AND sc.protect OPERATOR(pg_catalog.=) 'msisdn_fpe')
                        THEN privacy_internal._subject_row_key_sql(tbl)
                        ELSE 'NULL::pg_catalog.text' END;
BEGIN
  -- two entries (no separator that a column name could hold), used only
  -- together
  IF cached IS NOT NULL THEN
    shown := privacy_internal._subject_cache_get('shown:' || key);
    IF shown IS NOT NULL THEN
      q := NULLIF(cached, '');
      shown := NULLIF(shown, '');
      RETURN;
    END IF;
    shown := NULL;
  END IF;
  rid := CASE WHEN privacy_internal._citus_table(tbl)
              THEN 't.tableoid::pg_catalog.regclass::pg_catalog.text' ELSE 't.tableoid' END;
  FOR c IN SELECT * FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc WHERE sc.tbl OPERATOR(pg_catalog.=) _subject_rows_sql.tbl
            ORDER BY sc.link DESC, sc.attnum LOOP
    -- A table partitioned by its event time: each identifier's rows are
    -- read from the partitions of its period only (the bounds lo, hi of
    -- _subject_ids_span, open periods infinite, pruned per identifier as
    -- the query runs), and the rows without an event time, which only an
    -- open period takes, from the partition that holds them.
    IF c.event_time IS NOT NULL AND NOT c.is_validity
       AND EXISTS (SELECT FROM pg_catalog.pg_class k
                    WHERE k.oid OPERATOR(pg_catalog.=) tbl AND k.relkind OPERATOR(pg_catalog.=) 'p') THEN
      froms := ARRAY[
        pg_catalog.format('(SELECT * FROM privacy_internal._subject_ids_span($1, %1$L, true)'
                          ' UNION ALL SELECT * FROM privacy_internal._subject_ids_span($1, %1$L, false)) f'
                          ' JOIN %2$s t ON %3$s AND t.%4$I::pg_catalog.timestamptz OPERATOR(pg_catalog.>=) f.lo'
                          ' AND t.%4$I::pg_catalog.timestamptz OPERATOR(pg_catalog.<=) f.hi',
                          c.tbl::oid::text || '.' || c.attnum::text, c.tbl, privacy_internal._subject_match(c, dc), c.event_time),
        pg_catalog.format('privacy_internal._subject_ids_span($1, %1$L, false) f JOIN %2$s t ON %3$s AND t.%4$I IS NULL',
                          c.tbl::oid::text || '.' || c.attnum::text, c.tbl, privacy_internal._subject_match(c, dc), c.event_time)];
    ELSE
      froms := ARRAY[privacy_internal._subject_from(c, dc)];
    END IF;
    -- (of two froms, the second reads the rows of open periods only)
    IF c.link OPERATOR(pg_catalog.=) 'owner' THEN
      own_json := COALESCE(own_json, privacy_internal._subject_row_json(tbl, NULL));
      FOREACH f IN ARRAY froms LOOP
        branches := branches OPERATOR(pg_catalog.||)
          pg_catalog.format('SELECT 0 AS pri, NULL::pg_catalog.text AS m, %s AS o, t.ctid AS d, pg_catalog.to_jsonb(t.*) AS j, %s AS k FROM %s', rid, rkey, f);
      END LOOP;
      bounded := bounded OPERATOR(pg_catalog.||) branches[pg_catalog.cardinality(branches) OPERATOR(pg_catalog.-) pg_catalog.cardinality(froms) OPERATOR(pg_catalog.+) 1];
    ELSE
      FOREACH f IN ARRAY froms LOOP
        branches := branches OPERATOR(pg_catalog.||)
          pg_catalog.format('SELECT 1 AS pri, %L::pg_catalog.text AS m, %s AS o, t.ctid AS d, pg_catalog.to_jsonb(t.*) AS j, %s AS k FROM %s',
                            c.col, rid, rkey, f);
      END LOOP;
      bounded := bounded OPERATOR(pg_catalog.||) branches[pg_catalog.cardinality(branches) OPERATOR(pg_catalog.-) pg_catalog.cardinality(froms) OPERATOR(pg_catalog.+) 1];
      whens := whens OPERATOR(pg_catalog.||)
        pg_catalog.format('WHEN x.m OPERATOR(pg_catalog.=) %L THEN %s', c.col, privacy_internal._subject_row_json(tbl, c.col));
    END IF;
  END LOOP;
  IF pg_catalog.cardinality(branches) OPERATOR(pg_catalog.>) 0 THEN
    q := 'SELECT u.pri, u.m, u.j, u.k FROM (SELECT DISTINCT ON (u.o, u.d) u.pri, u.m, u.o, u.d, u.j, u.k FROM ('
         || pg_catalog.array_to_string(branches, ' UNION ALL ')
         || ') u ORDER BY u.o, u.d, u.pri) u ORDER BY u.pri, u.o, u.d';
    shown := 'CASE WHEN x.pri OPERATOR(pg_catalog.=) 0 THEN ' || COALESCE(own_json, 'NULL::pg_catalog.jsonb') || ' '
             || pg_catalog.array_to_string(whens, ' ') || ' END';
  END IF;
  PERFORM privacy_internal._subject_cache_put('shown:' || key, COALESCE(shown, ''));
  -- The same query without the branches of open periods only, for a
  -- subject whose identifiers of the table all have bounded periods
  -- (src/engine.c): over a table partitioned by its event time, every
  -- branch is one more scan of each partition to set up.
  PERFORM privacy_internal._subject_cache_put('rowsb:' || key,
    CASE WHEN pg_catalog.cardinality(bounded) OPERATOR(pg_catalog.>) 0
         THEN 'SELECT u.pri, u.m, u.j, u.k FROM (SELECT DISTINCT ON (u.o, u.d) u.pri, u.m, u.o, u.d, u.j, u.k FROM ('
              || pg_catalog.array_to_string(bounded, ' UNION ALL ')
              || ') u ORDER BY u.o, u.d, u.pri) u ORDER BY u.pri, u.o, u.d'
         ELSE '' END);
  PERFORM privacy_internal._subject_cache_put('rows:' || key, COALESCE(q, ''));
END
$$;

CREATE OR REPLACE FUNCTION privacy_internal._restrict_matches(fired regclass, vals jsonb)
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

CREATE OR REPLACE FUNCTION privacy.replay_erasures(since timestamptz DEFAULT NULL)
  RETURNS TABLE(database_id uuid, seq bigint, erased_at timestamptz, result text, report jsonb)
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  s      privacy.erasure_ledger_state;
  chains jsonb;
  lines  jsonb;
  todo   jsonb;
  wanted text[];
  stable text[];
  ekeys  text[];
  known  jsonb := '{}';
  c      privacy_internal._subject_column;
  dc     text := privacy_internal._default_country();
  q      text;
  dom    text;
  e      jsonb;
  fk     text;
  fv     text;
  fref   text;
  bad    jsonb;
  moved  boolean;
  eid    uuid;
  eseq   bigint;
  eat    timestamptz;
  strangers bigint;
BEGIN
  IF NOT privacy_internal._ledger_configured() THEN
    RAISE EXCEPTION 'no erasure ledger is configured'
      USING ERRCODE = '55000',
            HINT = 'Set pg_privacy.erasure_ledger_file to the ledger the erasures were recorded in, and reload.';
  END IF;
  PERFORM privacy_internal._citus_refuse(t.tbl, 'replay_erasures') FROM privacy.registered_table t;
  IF pg_catalog.current_setting('transaction_isolation') OPERATOR(pg_catalog.<>) 'read committed' THEN
    RAISE EXCEPTION 'replay_erasures must run at isolation level READ COMMITTED' USING ERRCODE = '55000';
  END IF;
  s := privacy_internal._ledger_state();
  moved := s.here OPERATOR(pg_catalog.<>) privacy_internal._ledger_here();
  -- the chains to follow, each from where this database is in it: its own,
  -- and those it came from
  chains := pg_catalog.jsonb_build_array(pg_catalog.jsonb_build_object('db', s.database_id, 'seq', s.last_seq, 'mac', s.last_mac))
            OPERATOR(pg_catalog.||) s.sources;
  -- their lines, read once
  SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.jsonb_build_object(
           'lineno', x.lineno, 'chain', x.chain, 'seq', x.seq, 'at', x.at, 'mac', x.mac, 'mac_ok', x.mac_ok,
           'verified', x.verified, 'body', x.body, 'from', (ch OPERATOR(pg_catalog.->>) 'seq')::bigint,
           'from_mac', ch OPERATOR(pg_catalog.->>) 'mac') ORDER BY x.lineno), '[]')
    INTO lines
    FROM privacy_internal._ledger_entries() x
    JOIN pg_catalog.jsonb_array_elements(chains) ch ON x.chain::text OPERATOR(pg_catalog.=) (ch OPERATOR(pg_catalog.->>) 'db');

  -- Where this database is in each chain must be in the ledger, as it
  -- recorded it (the same entry, by its MAC); every line after it must be
  -- as written: its MAC under the loaded key, its place in the chain.  A
  -- line not as written, a line missing, a foreign or garbled line in the
  -- chain: nothing is replayed.
  SELECT ch INTO bad FROM pg_catalog.jsonb_array_elements(chains) ch
   WHERE (ch OPERATOR(pg_catalog.->>) 'seq')::bigint OPERATOR(pg_catalog.>) 0
     AND NOT EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(lines) l
                      WHERE (l OPERATOR(pg_catalog.->>) 'chain') OPERATOR(pg_catalog.=) (ch OPERATOR(pg_catalog.->>) 'db')
                        AND (l OPERATOR(pg_catalog.->>) 'seq')::bigint OPERATOR(pg_catalog.=) (ch OPERATOR(pg_catalog.->>) 'seq')::bigint
                        AND (ch OPERATOR(pg_catalog.->>) 'mac' IS NULL
                             OR (l OPERATOR(pg_catalog.->>) 'mac') OPERATOR(pg_catalog.=) (ch OPERATOR(pg_catalog.->>) 'mac')))
   LIMIT 1;
  IF FOUND THEN
    RAISE EXCEPTION 'the erasure ledger does not hold this database''s last erasure (number %)', bad OPERATOR(pg_catalog.->>) 'seq'
      USING ERRCODE = '55000',
            DETAIL = 'The file named by pg_privacy.erasure_ledger_file is not the ledger this database recorded its erasures in, lost lines, or its entry was altered.',
            HINT = 'Set pg_privacy.erasure_ledger_file to this database''s ledger; nothing was replayed.';
  END IF;
  -- The first line that is not as written, after where this database is
  -- or among those since asks for again: made under a key
  -- pg_privacy.key_file does not list (it cannot be checked), or damaged.
  -- Nothing is replayed.
  SELECT l INTO bad FROM pg_catalog.jsonb_array_elements(lines) l
   WHERE (l OPERATOR(pg_catalog.->>) 'verified')::boolean IS NOT TRUE
     AND ((l OPERATOR(pg_catalog.->>) 'lineno')::bigint OPERATOR(pg_catalog.>) COALESCE(
           (SELECT pg_catalog.max((a OPERATOR(pg_catalog.->>) 'lineno')::bigint) FROM pg_catalog.jsonb_array_elements(lines) a
             WHERE (a OPERATOR(pg_catalog.->>) 'chain') OPERATOR(pg_catalog.=) (l OPERATOR(pg_catalog.->>) 'chain')
               AND (a OPERATOR(pg_catalog.->>) 'seq')::bigint OPERATOR(pg_catalog.=) (l OPERATOR(pg_catalog.->>) 'from')::bigint
               AND (l OPERATOR(pg_catalog.->>) 'from')::bigint OPERATOR(pg_catalog.>) 0), 0)
          OR (since IS NOT NULL AND ((l OPERATOR(pg_catalog.->>) 'at')::timestamptz OPERATOR(pg_catalog.>=) since
                                     OR l OPERATOR(pg_catalog.->>) 'at' IS NULL)))
   ORDER BY (l OPERATOR(pg_catalog.->>) 'lineno')::bigint LIMIT 1;
  IF FOUND AND pg_catalog.jsonb_typeof(bad OPERATOR(pg_catalog.->) 'verified') OPERATOR(pg_catalog.=) 'null' THEN
    RAISE EXCEPTION 'line % of the erasure ledger was made under key %, which pg_privacy.key_file does not list',
                    bad OPERATOR(pg_catalog.->>) 'lineno',
                    CASE WHEN bad OPERATOR(pg_catalog.#>>) '{body,key}' OPERATOR(pg_catalog.~) '^pgp1:[0-9a-f]{16}$'
                         THEN bad OPERATOR(pg_catalog.#>>) '{body,key}' ELSE '(not a key fingerprint)' END
      USING ERRCODE = '55000',
            DETAIL = 'Its MAC can be checked, and its subject matched, only with that key: it was written before a key change, or not by pg_privacy.',
            HINT = 'List the file of that key after the current one in pg_privacy.key_file and reload (privacy.key_versions); nothing was replayed.';
  ELSIF FOUND THEN
    RAISE EXCEPTION 'the erasure ledger is damaged or was altered at line %', bad OPERATOR(pg_catalog.->>) 'lineno'
      USING ERRCODE = 'XX001',
            DETAIL = 'Its MAC does not verify under the key it names, it does not follow the entry before it, or it is not an entry.',
            HINT = 'Put back the ledger file from its own backup, with the key it was written under; nothing was replayed.';
  END IF;

  -- the entries to apply, oldest first
  SELECT COALESCE(pg_catalog.jsonb_agg(l OPERATOR(pg_catalog.->) 'body'
                                       ORDER BY (l OPERATOR(pg_catalog.->>) 'at')::timestamptz, (l OPERATOR(pg_catalog.->>) 'lineno')::bigint), '[]')
    INTO todo
    FROM pg_catalog.jsonb_array_elements(lines) l
   WHERE (l OPERATOR(pg_catalog.->>) 'seq')::bigint OPERATOR(pg_catalog.>) (l OPERATOR(pg_catalog.->>) 'from')::bigint
      OR (since IS NOT NULL AND (l OPERATOR(pg_catalog.->>) 'at')::timestamptz OPERATOR(pg_catalog.>=) since);

  -- Who they are here: the references of the identifiers the subjects held
  -- for good, in the columns that hold a subject's own rows, smallest
  -- tables first, until every entry has one identifier found (each column
  -- read once, as its table's owner; the references computed here).  A
  -- kind that is reassigned here (a phone number) is never used: it may
  -- be another person's now.
  stable := ARRAY(SELECT DISTINCT sc.kind FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc
                   WHERE NOT EXISTS (SELECT FROM pg_catalog.unnest(privacy_internal._subject_cols()) v
                                      WHERE v.kind OPERATOR(pg_catalog.=) sc.kind AND v.is_validity));
  -- the keys the entries were made under (each entry's references are
  -- under its own)
  ekeys := ARRAY(SELECT DISTINCT t OPERATOR(pg_catalog.->>) 'key' FROM pg_catalog.jsonb_array_elements(todo) t);
  wanted := ARRAY(SELECT DISTINCT (i OPERATOR(pg_catalog.->>) 'kind') || ':' || (i OPERATOR(pg_catalog.->>) 'ref')
                    FROM pg_catalog.jsonb_array_elements(todo) t,
                         pg_catalog.jsonb_array_elements(t OPERATOR(pg_catalog.->) 'ids') i
                   WHERE NOT i OPERATOR(pg_catalog.?) 'span'
                     AND i OPERATOR(pg_catalog.->>) 'kind' OPERATOR(pg_catalog.=) ANY (stable));
  FOR c IN SELECT sc.* FROM pg_catalog.unnest(privacy_internal._subject_cols()) sc
             JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) sc.tbl
            WHERE sc.link OPERATOR(pg_catalog.=) 'owner' AND sc.kind OPERATOR(pg_catalog.=) ANY (stable)
            ORDER BY k.reltuples, sc.tbl::text, sc.attnum LOOP
    EXIT WHEN NOT EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(todo) t
                           WHERE NOT EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(t OPERATOR(pg_catalog.->) 'ids') i
                                              WHERE known OPERATOR(pg_catalog.?) ((i OPERATOR(pg_catalog.->>) 'kind') || ':' || (i OPERATOR(pg_catalog.->>) 'ref'))));
    CONTINUE WHEN NOT EXISTS (SELECT FROM pg_catalog.unnest(wanted) w
                               WHERE pg_catalog.split_part(w, ':', 1) OPERATOR(pg_catalog.=) c.kind);
    dom := privacy_internal._subject_decrypt_domain(c);
    -- stored numbers read back under the key of their row (k, while a key
    -- rotation runs: src/sql/36_rekey.sql)
    q := pg_catalog.format('SELECT 0, NULL::pg_catalog.text, pg_catalog.to_jsonb(x.v), x.k FROM (SELECT DISTINCT %s AS v, %s AS k FROM %s t) x WHERE x.v IS NOT NULL',
                           privacy_internal._subject_value_expr(c, dc),
                           CASE WHEN dom IS NOT NULL
                                     AND pg_catalog.cardinality(privacy_internal._rekey_keys(c.tbl)) OPERATOR(pg_catalog.>) 0
                                THEN 'privacy_internal._row_key(t.tableoid, t.*)' ELSE 'NULL::pg_catalog.text' END,
                           c.tbl);
    known := known OPERATOR(pg_catalog.||) COALESCE((
      SELECT pg_catalog.jsonb_object_agg(m.key, m.v)
        FROM (SELECT DISTINCT ON (y.key) y.key, y.v
                FROM (SELECT c.kind || ':' || privacy_internal._audit_ref_under(kf.fp, 'ledger:' || c.kind, z.v) AS key, z.v
                        FROM (SELECT CASE WHEN dom IS NULL THEN r.j OPERATOR(pg_catalog.#>>) '{}'
                                          WHEN r.k IS NOT NULL THEN privacy_internal._msisdn_under(r.k, r.j OPERATOR(pg_catalog.#>>) '{}', dom, true)
                                          ELSE privacy_internal._msisdn_decrypt(r.j OPERATOR(pg_catalog.#>>) '{}', dom) END AS v
                                FROM privacy_internal._subject_rows(c.tbl, q, '{}'::jsonb) r) z,
                             pg_catalog.unnest(ekeys) kf(fp)
                       WHERE z.v IS NOT NULL) y
               WHERE y.key OPERATOR(pg_catalog.=) ANY (wanted)) m), '{}');
  END LOOP;

  -- Each entry: erased again with the legal exceptions in force here
  -- (holds, legal minimums), and this database's place moved past it.
  FOR e IN SELECT t FROM pg_catalog.jsonb_array_elements(todo) t LOOP
    fk := NULL;
    fv := NULL;
    fref := NULL;
    SELECT i OPERATOR(pg_catalog.->>) 'kind', known OPERATOR(pg_catalog.->>) ((i OPERATOR(pg_catalog.->>) 'kind') || ':' || (i OPERATOR(pg_catalog.->>) 'ref')),
           i OPERATOR(pg_catalog.->>) 'ref'
      INTO fk, fv, fref
      FROM pg_catalog.jsonb_array_elements(e OPERATOR(pg_catalog.->) 'ids') WITH ORDINALITY u(i, o)
     WHERE known OPERATOR(pg_catalog.?) ((i OPERATOR(pg_catalog.->>) 'kind') || ':' || (i OPERATOR(pg_catalog.->>) 'ref'))
     ORDER BY u.o LIMIT 1;
    eid := (e OPERATOR(pg_catalog.->>) 'db')::uuid;
    eseq := (e OPERATOR(pg_catalog.->>) 'seq')::bigint;
    eat := (e OPERATOR(pg_catalog.->>) 'at')::timestamptz;
    report := '[]';
    IF e OPERATOR(pg_catalog.->>) 'type' OPERATOR(pg_catalog.=) 'key_change' THEN
      -- a key change: nothing to apply; the database's place moves past it
      result := NULL;
    ELSIF fv IS NULL THEN
      result := 'not in this database';
    ELSE
      -- The person found here must be the one erased: every identifier
      -- it holds for good here is one the entry names.  An identifier
      -- that passed to someone else since (an e-mail address taken by a
      -- new customer) would otherwise erase that other person.
      SELECT pg_catalog.count(*) INTO strangers
        FROM privacy_internal._subject_identifiers(fk, fv, NULL) h,
             ROWS FROM (pg_catalog.unnest(h.kinds), pg_catalog.unnest(h.vals)) u(k, v)
       WHERE u.k OPERATOR(pg_catalog.=) ANY (stable)
         AND NOT EXISTS (SELECT FROM pg_catalog.jsonb_array_elements(e OPERATOR(pg_catalog.->) 'ids') i
                          WHERE i OPERATOR(pg_catalog.->>) 'kind' OPERATOR(pg_catalog.=) u.k
                            AND i OPERATOR(pg_catalog.->>) 'ref' OPERATOR(pg_catalog.=)
                                privacy_internal._audit_ref_under(e OPERATOR(pg_catalog.->>) 'key', 'ledger:' || u.k, u.v));
      IF strangers OPERATOR(pg_catalog.>) 0 THEN
        result := 'ambiguous: not erased';
      ELSE
        SELECT COALESCE(pg_catalog.jsonb_agg(pg_catalog.to_jsonb(x)), '[]') INTO report
          FROM privacy_internal._subject_erase(fk, fv, NULL) x;
        result := 'erased again';
      END IF;
    END IF;
    IF result IS NOT NULL THEN
      PERFORM privacy_internal._audit('subject.erase_replay', NULL,
        pg_catalog.jsonb_build_object('database', eid, 'seq', eseq, 'erased_at', eat,
                                      'kind', fk, 'subject', fref, 'result', result,
                                      'report', (SELECT COALESCE(pg_catalog.jsonb_agg(r OPERATOR(pg_catalog.-) 'reason'), '[]')
                                                   FROM pg_catalog.jsonb_array_elements(report) r)));
    END IF;
    IF eid OPERATOR(pg_catalog.=) s.database_id THEN
      UPDATE privacy.erasure_ledger_state x
         SET last_seq = eseq, last_mac = e OPERATOR(pg_catalog.->>) 'mac', last_at = eat
       WHERE x.database_id OPERATOR(pg_catalog.=) s.database_id AND x.last_seq OPERATOR(pg_catalog.<) eseq;
    ELSE
      UPDATE privacy.erasure_ledger_state x
         SET sources = (SELECT pg_catalog.jsonb_agg(CASE WHEN src OPERATOR(pg_catalog.->>) 'db' OPERATOR(pg_catalog.=) eid::text
                                                          AND (src OPERATOR(pg_catalog.->>) 'seq')::bigint OPERATOR(pg_catalog.<) eseq
                                                         THEN src OPERATOR(pg_catalog.||) pg_catalog.jsonb_build_object('seq', eseq, 'mac', e OPERATOR(pg_catalog.->>) 'mac')
                                                         ELSE src END)
                          FROM pg_catalog.jsonb_array_elements(x.sources) src)
       WHERE x.database_id OPERATOR(pg_catalog.=) s.database_id;
    END IF;
    IF result IS NOT NULL THEN
      database_id := eid;
      seq := eseq;
      erased_at := eat;
      RETURN NEXT;
    END IF;
  END LOOP;
  UPDATE privacy.erasure_ledger_state x SET replayed_at = pg_catalog.clock_timestamp()
   WHERE x.database_id OPERATOR(pg_catalog.=) s.database_id;

  -- Restored or copied elsewhere: from now on a chain of its own, which
  -- remembers the one it came from.
  IF moved THEN
    PERFORM privacy_internal._ledger_fork(s.database_id);
  END IF;
END
$$;

CREATE OR REPLACE FUNCTION privacy.health()
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
      FROM privacy.rekey_pending p;
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

-- Views, triggers, comments and configuration new or changed in 0.17.0 (generated)

CREATE VIEW privacy.rekey_progress AS
WITH k AS (SELECT s.fingerprint, s.recorded_at FROM privacy.key_state s),
done AS (
  SELECT l.tbl, pg_catalog.count(*) AS rels, pg_catalog.sum(l.rows) AS rows,
         pg_catalog.sum(pg_catalog.date_part('epoch', l.finished_at OPERATOR(pg_catalog.-) l.started_at)) AS secs,
         pg_catalog.min(l.started_at) AS first_at, pg_catalog.max(l.finished_at) AS last_at
    FROM privacy.rekey_log l, k
   WHERE l.to_key OPERATOR(pg_catalog.=) k.fingerprint AND l.finished_at OPERATOR(pg_catalog.>=) k.recorded_at
   GROUP BY l.tbl),
todo AS (
  -- qualified, as rekey_log names it (whatever the reader's search_path)
  SELECT (SELECT pg_catalog.format('%I.%I', n.nspname, x.relname)
            FROM pg_catalog.pg_class x JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) x.relnamespace
           WHERE x.oid OPERATOR(pg_catalog.=) p.tbl) AS tbl,
         pg_catalog.count(*) AS rels,
         pg_catalog.sum(GREATEST(GREATEST(c.reltuples, 0)::bigint OPERATOR(pg_catalog.-) p.rows_done, 0))::bigint AS rows,
         pg_catalog.min(p.from_key) AS from_key,
         pg_catalog.count(*) FILTER (WHERE p.watermark IS NOT NULL OR p.high_mark IS NOT NULL) AS part,
         pg_catalog.sum(p.rows_done) AS rows_part,
         pg_catalog.sum(pg_catalog.date_part('epoch', pg_catalog.now() OPERATOR(pg_catalog.-) p.started_at))
           FILTER (WHERE p.watermark IS NOT NULL OR p.high_mark IS NOT NULL) AS secs_part
    FROM privacy.rekey_pending p
    JOIN pg_catalog.pg_class c ON c.oid OPERATOR(pg_catalog.=) p.rel
   GROUP BY p.tbl),
t AS (
  SELECT COALESCE(t.tbl, d.tbl) AS tbl, t.from_key, d.rels AS drels, t.rels AS trels, t.part, t.rows AS left_rows,
         COALESCE(d.rows, 0) OPERATOR(pg_catalog.+) COALESCE(t.rows_part, 0) AS done_rows,
         COALESCE(d.secs, 0) OPERATOR(pg_catalog.+) COALESCE(t.secs_part, 0) AS secs,
         d.last_at
    FROM todo t
    FULL JOIN done d ON d.tbl OPERATOR(pg_catalog.=) t.tbl)
SELECT t.tbl,
       t.from_key,
       COALESCE(t.drels, 0) AS relations_done,
       COALESCE(t.trels, 0) AS relations_left,
       t.done_rows::bigint AS rows_done,
       COALESCE(t.left_rows, 0) AS rows_left,
       CASE WHEN t.secs OPERATOR(pg_catalog.>) 0 THEN pg_catalog.round((t.done_rows OPERATOR(pg_catalog./) t.secs)::numeric) END AS rows_per_second,
       CASE WHEN COALESCE(t.trels, 0) OPERATOR(pg_catalog.=) 0 THEN t.last_at
            WHEN t.secs OPERATOR(pg_catalog.>) 0 AND t.done_rows OPERATOR(pg_catalog.>) 0
              THEN pg_catalog.now() OPERATOR(pg_catalog.+)
                   pg_catalog.make_interval(secs => (t.left_rows OPERATOR(pg_catalog.*) t.secs OPERATOR(pg_catalog./) t.done_rows)::double precision)
       END AS estimated_end,
       COALESCE(t.part, 0) AS relations_in_part
  FROM t;

COMMENT ON VIEW privacy.rekey_progress IS
  'the key rotation of phone-number pseudonyms per table: relations and rows converted to the current key and left, rate, estimated end (the finish time when nothing is left), relations converted in part';

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
   -- the list of privacy_internal._identifier_type_ok, inline: whoever may read
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
   -- as privacy_internal._domain_allowed() decides, readable by whoever reads the view
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
  FROM privacy_internal._enforced_table t
  CROSS JOIN LATERAL privacy_internal._enforcement_problems(t.tbl, t.registered, t.consent_required, t.restricted) e
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
 WHERE NOT EXISTS (SELECT FROM pg_catalog.pg_class k WHERE k.oid OPERATOR(pg_catalog.=) t.tbl)
UNION ALL
-- (Citus makes a table that references a reference table a Citus local
-- table: it renames the table into its shard and makes a new one of the
-- old name; the declarations stay with the shard)
SELECT t.tbl, NULL,
       pg_catalog.format('Citus made this table a shard of table %s: declare that table instead', x.logical)
  FROM privacy.registered_table t
  CROSS JOIN LATERAL (SELECT privacy_internal._citus_shard_named(t.tbl) AS logical) x
 WHERE x.logical IS NOT NULL
UNION ALL
-- (registered before register_table refused typed tables, 0.17.0)
SELECT t.tbl, NULL,
       pg_catalog.format('typed table of composite type %s: ALTER TYPE ... CASCADE changes its columns out of sight of every check; make it an ordinary table (ALTER TABLE ... NOT OF)',
                         k.reloftype::regtype)
  FROM privacy.registered_table t
  JOIN pg_catalog.pg_class k ON k.oid OPERATOR(pg_catalog.=) t.tbl
 WHERE k.reloftype OPERATOR(pg_catalog.<>) 0;

-- The changed view rekey_progress is generated.  The protect trigger's
-- DDL checks also run after CREATE SCHEMA, whose schema elements (tables,
-- triggers) fire no event trigger of their own.
DROP EVENT TRIGGER pg_privacy_protect_ddl_end;
CREATE EVENT TRIGGER pg_privacy_protect_ddl_end ON ddl_command_end
  WHEN TAG IN ('ALTER TABLE', 'ALTER FOREIGN TABLE', 'CREATE TABLE', 'CREATE TRIGGER', 'ALTER TRIGGER', 'CREATE SCHEMA')
  EXECUTE FUNCTION privacy_internal._protect_event_trigger();


-- Privileges: every GRANT and REVOKE of the 0.17.0 install script, in its order (generated)

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA privacy FROM PUBLIC;

REVOKE ALL ON ALL FUNCTIONS IN SCHEMA privacy_internal FROM PUBLIC;

REVOKE ALL ON ALL TABLES IN SCHEMA privacy FROM PUBLIC;

REVOKE ALL ON ALL TABLES IN SCHEMA privacy_internal FROM PUBLIC;

REVOKE ALL ON ALL SEQUENCES IN SCHEMA privacy FROM PUBLIC;

REVOKE ALL ON ALL SEQUENCES IN SCHEMA privacy_internal FROM PUBLIC;

REVOKE ALL ON PROCEDURE privacy.run_purge(integer, integer, integer) FROM PUBLIC;

REVOKE ALL ON PROCEDURE privacy.rekey(integer, integer, regclass, integer) FROM PUBLIC;

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
                          privacy_internal._enforcement_problems(regclass, boolean, boolean, boolean),
                          privacy_internal._citus_shard_named(regclass) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._extract_msisdn(text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._extract_country(text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._subject_key(text, text, text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._subject_ids(jsonb, text) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._subject_ids_span(jsonb, text, boolean) TO PUBLIC;

GRANT EXECUTE ON FUNCTION privacy_internal._row_key(oid, record) TO PUBLIC;
