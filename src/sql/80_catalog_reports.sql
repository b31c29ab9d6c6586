-- The catalog's reports: the record of processing and what is wrong with
-- the declarations.  They read the declarations of every module (catalog,
-- consent, retention, subject), so they come after all of them.

-- The tables pg_privacy enforces something on, and what: protection
-- (registered), the consent check (consent_required) and the restriction
-- check (restricted: a subject table while any subject is restricted).
-- Read by catalog_problems and by the event trigger that refuses DDL
-- switching an enforcement off.
CREATE VIEW privacy_internal._enforced_table AS
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

-- The record of processing (GDPR Art. 30): every declared column with its
-- purpose, legal basis, recipients and retention.
CREATE VIEW privacy.personal_data AS
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
       privacy_internal._retention_text(r)     AS retention,
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

-- What is wrong with the catalog: declared columns that no longer exist or
-- whose type no longer suits their protect transformation, and consent
-- requirements, retention policies and subject tables that name a column
-- no longer there.  Empty when all is well; the event triggers keep it
-- empty under ordinary DDL (renames are followed; a dropped column that a
-- consent requirement or a policy names stays listed here, and what it
-- drives fails closed).
CREATE VIEW privacy.catalog_problems AS
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
COMMENT ON VIEW privacy.catalog_problems IS
  'registered tables and columns the catalog no longer describes correctly (empty when all is well)';

-- The keys of this database: every key its keyed work was done under (by
-- the audit log, whose entries name their key, and privacy.key_state),
-- numbered in the order of their first use, and every key
-- pg_privacy.key_file lists; with what still needs each.  The audit
-- entries and erasure ledger lines made under a key are checked with it:
-- while there are any, its file stays listed (after the current key's), or
-- verify_audit_log and replay_erasures refuse (55000).  rekey_relations:
-- the tables and partitions whose phone-number pseudonyms are still under
-- the key until privacy.rekey() converts them (their writes and privacy.rekey()
-- need it listed).  HMAC pseudonyms stored under a key that
-- accept_key_change replaced are not converted; they are not counted.
CREATE VIEW privacy.key_versions AS
WITH audit AS (
  SELECT l.key_fingerprint AS fingerprint, pg_catalog.count(*) AS entries, pg_catalog.min(l.id) AS first_id,
         pg_catalog.min(l.at) AS first_at, pg_catalog.max(l.at) AS last_at
    FROM privacy.audit_log l
   WHERE l.key_fingerprint IS NOT NULL
   GROUP BY l.key_fingerprint),
keylist AS (SELECT k.listed_at, k.fingerprint, k.problem FROM privacy_internal._key_list() k),
-- one row per key (a key file listed twice, or a copy of it, counts once)
listed AS (SELECT pg_catalog.min(k.listed_at) AS listed_at, k.fingerprint FROM keylist k
            WHERE k.fingerprint IS NOT NULL GROUP BY k.fingerprint),
ledger AS (SELECT g.fingerprint, g.lines FROM privacy_internal._ledger_key_lines() g),
state AS (SELECT s.fingerprint, s.recorded_at FROM privacy.key_state s),
-- the restrictions in force (one past its end binds no key)
restr AS (SELECT r.key_fingerprint AS fingerprint, pg_catalog.count(*) AS n FROM privacy.restriction r
           WHERE r.until IS NULL OR r.until OPERATOR(pg_catalog.>) pg_catalog.now()
           GROUP BY r.key_fingerprint),
-- the relations whose phone-number pseudonyms are still under the key
rekey AS (SELECT p.from_key AS fingerprint, pg_catalog.count(*) AS n FROM privacy.rekey_pending p
           WHERE p.from_key OPERATOR(pg_catalog.<>) 'raw'
           GROUP BY p.from_key),
used AS (
  SELECT u.fingerprint, pg_catalog.min(u.o) AS o
    FROM (SELECT a.fingerprint, a.first_id::numeric AS o FROM audit a
          UNION ALL SELECT s.fingerprint, 1e30 FROM state s
          UNION ALL SELECT g.fingerprint, 1e31 FROM ledger g WHERE g.fingerprint IS NOT NULL
          UNION ALL SELECT r.fingerprint, 1e32 FROM restr r
          UNION ALL SELECT x.fingerprint, 1e33 FROM rekey x) u
   GROUP BY u.fingerprint),
-- numbered by first use (keys known from the same source only: by fingerprint)
numbered AS (SELECT u.fingerprint, pg_catalog.row_number() OVER (ORDER BY u.o, u.fingerprint) AS version FROM used u),
known AS (
  SELECT u.fingerprint FROM used u
  UNION SELECT l.fingerprint FROM listed l WHERE l.fingerprint IS NOT NULL)
SELECT nb.version,
       k.fingerprint,
       k.fingerprint OPERATOR(pg_catalog.=) COALESCE((SELECT s.fingerprint FROM state s),
                                                      (SELECT l.fingerprint FROM listed l WHERE l.listed_at OPERATOR(pg_catalog.=) 1)) AS current,
       l.listed_at,
       COALESCE(a.entries, 0) AS audit_entries,
       COALESCE(g.lines, 0) AS ledger_lines,
       COALESCE(a.first_at, (SELECT s.recorded_at FROM state s WHERE s.fingerprint OPERATOR(pg_catalog.=) k.fingerprint)) AS first_used,
       a.last_at AS last_used,
       COALESCE(a.entries, 0) OPERATOR(pg_catalog.>) 0 OR COALESCE(g.lines, 0) OPERATOR(pg_catalog.>) 0
         OR COALESCE(r.n, 0) OPERATOR(pg_catalog.>) 0 OR COALESCE(x.n, 0) OPERATOR(pg_catalog.>) 0
         OR k.fingerprint OPERATOR(pg_catalog.=) (SELECT s.fingerprint FROM state s) AS needed,
       NULL::text AS problem,
       COALESCE(r.n, 0) AS restrictions,
       COALESCE(x.n, 0) AS rekey_relations
  FROM known k
  LEFT JOIN numbered nb ON nb.fingerprint OPERATOR(pg_catalog.=) k.fingerprint
  LEFT JOIN listed l ON l.fingerprint OPERATOR(pg_catalog.=) k.fingerprint
  LEFT JOIN audit a ON a.fingerprint OPERATOR(pg_catalog.=) k.fingerprint
  LEFT JOIN ledger g ON g.fingerprint OPERATOR(pg_catalog.=) k.fingerprint
  LEFT JOIN restr r ON r.fingerprint OPERATOR(pg_catalog.=) k.fingerprint
  LEFT JOIN rekey x ON x.fingerprint OPERATOR(pg_catalog.=) k.fingerprint
UNION ALL
-- a listed key whose file cannot be used
SELECT NULL, NULL, false, l.listed_at, NULL, NULL, NULL, NULL, NULL, l.problem, NULL, NULL
  FROM keylist l WHERE l.fingerprint IS NULL;
COMMENT ON VIEW privacy.key_versions IS
  'the keys of this database (numbered by first use) and of pg_privacy.key_file (listed_at: 1 the current key; problem: a listed file that cannot be used): the audit entries, erasure ledger lines and restrictions made under each, and the relations whose phone-number pseudonyms privacy.rekey() has not converted from it, which need it listed';
