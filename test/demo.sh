#!/usr/bin/env bash
# make demo: the telephony data set under pg_privacy, printed for a person.
# Runs as the cluster's OS user against the throwaway cluster that
# test/run.sh set up (PGHOST/PGPORT are set).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SCALE=${DEMO_SCALE:-20}
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -d postgres)

title() { printf '\n\033[1m=== %s\033[0m\n' "$*"; }
sql()   { "${PSQL[@]}" -P footer=off -c "$1"; }

title "1. Install pg_privacy and the operator's schema"
"${PSQL[@]}" -c 'CREATE EXTENSION pg_privacy' -c 'CREATE EXTENSION IF NOT EXISTS pg_cron' 2>/dev/null || true
sql "SELECT privacy.key_fingerprint() AS \"master key (fingerprint only)\""
"${PSQL[@]}" -f "$HERE/data/telephony.sql" >/dev/null
echo "schema telco: customers, subscriptions, CDRs (24 monthly partitions), invoices, newsletter, tickets, consents"

title "2. Declare the personal data (test/data/register.sql): purposes, columns, CDR protection"
"${PSQL[@]}" -f "$HERE/data/register.sql" >/dev/null
sql "SELECT event, count(*) AS entries FROM privacy.audit_log GROUP BY event ORDER BY min(id)"

title "3. Load the data set (seed 42, scale $SCALE); CDRs pass the protect trigger on the way in"
sql "SELECT table_name AS \"table\", rows FROM telco.generate(42, $SCALE)"

title "4. The record of processing (privacy.personal_data, GDPR Art. 30)"
sql "SELECT table_name AS \"table\", purpose, legal_basis AS basis,
            array_to_string(recipients, ', ') AS recipients,
            string_agg(column_name || coalesce(' [' || protect || ']', ''), ', ' ORDER BY column_name) AS \"personal columns [on-write protection]\"
       FROM privacy.personal_data
      GROUP BY table_name, purpose, legal_basis, recipients
      ORDER BY table_name::text"

title "5. Columns that look personal but nobody declared (privacy.undeclared_columns)"
echo "(a developer adds two columns without telling the DBA)"
"${PSQL[@]}" -c "ALTER TABLE telco.customer ADD COLUMN mobile_phone text, ADD COLUMN birth_date date"
sql "SELECT table_name AS \"table\", column_name AS \"column\", suggested_category FROM privacy.undeclared_columns
      WHERE table_name::text LIKE 'telco.%' ORDER BY 1::text, 2"

title "6. Call detail records as stored: A/B-numbers are FF1 pseudonyms, still E.164, same country and length"
sql "SELECT date_trunc('second', started_at) AS started, a_number, b_number, duration_s, price, country
       FROM telco.cdr ORDER BY cdr_id LIMIT 6"

title "7. One subscriber: the pseudonym joins the CDRs; re-identification is audited"
sql "WITH s AS (SELECT msisdn FROM telco.subscription ORDER BY subscription_id LIMIT 1)
     SELECT privacy.mask_msisdn(s.msisdn) AS subscriber,
            privacy.pseudonymize_msisdn(s.msisdn) AS stored_as,
            (SELECT count(*) FROM telco.cdr c WHERE c.a_number = privacy.pseudonymize_msisdn(s.msisdn)) AS calls_made,
            privacy.pseudonymize(s.msisdn, 'analytics') AS analytics_pseudonym,
            privacy.reidentify_msisdn(privacy.pseudonymize_msisdn(s.msisdn)) = s.msisdn AS reidentified
       FROM s"

title "8. Numbers as people type them, normalized (support tickets)"
sql "SELECT msisdn_raw AS typed, privacy.normalize_msisdn(msisdn_raw) AS e164,
            privacy.mask_msisdn(msisdn_raw) AS shown_to_support
       FROM telco.support_ticket WHERE msisdn_raw IS NOT NULL ORDER BY ticket_id LIMIT 6"

title "9. The audit trail: hash-chained, no raw identifiers"
sql "SELECT id, date_trunc('second', at) AS at, role, event, object, detail FROM privacy.audit_log ORDER BY id DESC LIMIT 5"
sql "SELECT count(*) AS entries, coalesce(privacy.verify_audit_log()::text, 'intact') AS chain FROM privacy.audit_log"

title "10. Figures for the parent group: a safe aggregate (groups under 50 calls suppressed)"
"${PSQL[@]}" -c "CREATE SCHEMA IF NOT EXISTS bi" -c "CREATE ROLE bi_reader" 2>/dev/null || true
"${PSQL[@]}" -c "GRANT USAGE ON SCHEMA bi TO bi_reader" >/dev/null
sql "SELECT privacy.create_safe_aggregate('bi.calls_per_country_month',
       'SELECT country, date_trunc(''month'', started_at)::date AS month, count(*) AS n,
               round(sum(duration_s) / 60.0) AS minutes
          FROM telco.cdr WHERE started_at >= ''2026-09-01'' GROUP BY 1, 2', 50,
       grant_to => 'bi_reader') AS published"
sql "SELECT country, month, n AS calls, minutes FROM bi.calls_per_country_month ORDER BY month, n DESC"
echo "(what the view withholds, seen by the DBA only:)"
sql "SELECT month, count(*) AS groups_suppressed, sum(calls) AS calls_in_them
       FROM (SELECT country, date_trunc('month', started_at)::date AS month, count(*) AS calls
               FROM telco.cdr WHERE started_at >= '2026-09-01' GROUP BY 1, 2 HAVING count(*) < 50) g
      GROUP BY month ORDER BY month"
sql "SELECT * FROM privacy.k_anonymity('telco.cdr', ARRAY['country', 'call_type'], 50)"

title "11. A pseudonymized extract for analysts (domain 'analytics', time by hour)"
sql "SELECT privacy.create_pseudonymized_extract('bi.cdr_extract', 'telco.cdr', 'analytics', 'hour',
                                                 grant_to => 'bi_reader') AS published"
sql "SELECT cdr_id, a_number, b_number, started_at, duration_s, country FROM bi.cdr_extract ORDER BY cdr_id LIMIT 4"
sql "SET ROLE bi_reader; SELECT count(DISTINCT a_number) AS distinct_callers, count(*) AS calls FROM bi.cdr_extract"
{ "${PSQL[@]}" -c "SET ROLE bi_reader; SELECT count(*) FROM telco.cdr" 2>&1 || true; } | head -1 | sed 's/^/bi_reader reading telco.cdr directly: /'

# The consent, retention, data-subject and masking parts, each a psql script.
for part in consent retention subject mask; do
  if [ -f "$HERE/demo_$part.sql" ]; then
    "${PSQL[@]}" -P footer=off -f "$HERE/demo_$part.sql"
  fi
done

# A development copy: pg_dump run as the masked role support, restored into
# a database of this cluster that has no pg_privacy.  Left out of the
# restore: pg_privacy's triggers and the indexes on its functions
# (register_subject.sql's lookup indexes), which need the extension.
if [ -f "$HERE/demo_mask.sql" ]; then
  title "Masking by role 2/2: a development copy, made by pg_dump run as support"
  TMP=$(mktemp -d)
  trap 'rm -rf "$TMP"' EXIT
  pg_dump -U support -d postgres -n telco -Fc -f "$TMP/telco.dump"
  pgp_idx=$("${PSQL[@]}" -At -c "SELECT string_agg(c.relname, ' ') FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
                                   WHERE c.relnamespace = 'telco'::regnamespace
                                     AND pg_get_indexdef(i.indexrelid) ~ '\mprivacy(_internal)?\.'")
  pg_restore -l "$TMP/telco.dump" \
    | awk -v idx="$pgp_idx" 'BEGIN { n = split(idx, a, " "); for (i = 1; i <= n; i++) skip[a[i]] = 1 }
                             $4 == "TRIGGER" { t++; next }  $4 == "INDEX" && ($6 in skip) { x++; next }  { print }
                             END { printf "%d %d\n", t, x > "/dev/stderr" }' >"$TMP/list" 2>"$TMP/left_out"
  "${PSQL[@]}" -c 'CREATE DATABASE telco_dev'
  pg_restore -L "$TMP/list" --exit-on-error --no-owner -d telco_dev "$TMP/telco.dump"
  echo "pg_dump -U support -n telco -Fc, pg_restore into telco_dev, a database without pg_privacy (left out: $(
    read -r t x <"$TMP/left_out"; echo "$t trigger(s), $x index(es) on pg_privacy's functions"))"
  "${PSQL[@]}" -d telco_dev -P footer=off -c "SELECT customer_no, contact_name, email, bank_account FROM telco.customer ORDER BY cvr LIMIT 2"
  "${PSQL[@]}" -At -c "SELECT email FROM telco.customer UNION SELECT lower(btrim(email)) FROM telco.newsletter_subscriber
                       UNION SELECT lower(btrim(contact_email)) FROM telco.support_ticket WHERE contact_email IS NOT NULL" >"$TMP/emails"
  found=$(pg_dump --data-only -d telco_dev | { grep -F -i -o -f "$TMP/emails" || true; } | sort -u | wc -l)
  "${PSQL[@]}" -d telco_dev -At -c "
    SELECT 'telco_dev: ' || count(*) FILTER (WHERE NOT part) || ' tables + ' || count(*) FILTER (WHERE part)
           || ' CDR partitions, ' || sum(n) || ' rows; '
           || CASE WHEN $found = 0 THEN 'no source e-mail address found in the copy'
                   ELSE '$found source e-mail addresses FOUND in the copy' END
           || ' (' || $(wc -l <"$TMP/emails") || ' looked for)'
      FROM (SELECT c.relispartition AS part,
                   (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM ONLY %s', c.oid::regclass),
                                                        false, true, '')))[1]::text::bigint AS n
              FROM pg_class c WHERE c.relnamespace = 'telco'::regnamespace AND c.relkind IN ('r', 'p')) t"
fi

title "The audit trail at the end"
sql "SELECT event, count(*) AS entries FROM privacy.audit_log GROUP BY event ORDER BY min(id)"
sql "SELECT count(*) AS entries, coalesce(privacy.verify_audit_log()::text, 'intact') AS chain FROM privacy.audit_log"

title "Is it working? privacy.health()"
echo "(the nightly purge scheduled the way the README says: pg_cron runs it in a background worker, no connection needed)"
"${PSQL[@]}" -c "SELECT privacy.schedule_purge('30 3 * * *')" >/dev/null 2>&1 \
  || echo "(pg_cron is not available in this database: health() reports the purge as not scheduled)"
sql "SELECT area, status, detail, hint FROM privacy.health()"
sql "SELECT count(*) FILTER (WHERE status = 'ok') AS ok, count(*) FILTER (WHERE status = 'warning') AS warnings,
            count(*) FILTER (WHERE status = 'error') AS errors FROM privacy.health()"

title "What was shown, and what it proves"
cat <<'TXT'
- Declared personal data (purposes, legal bases, columns) gives the record of processing (GDPR Art. 30);
  columns nobody declared are found by their names and reported.
- CDR numbers are stored as keyed FF1 pseudonyms on the way in: still E.164, still joinable,
  re-identified only by an audited call; the audit log is a hash chain, verified intact.
- Analysts get figures only: small groups suppressed, extracts pseudonymized in their own domain,
  no direct access to the source.
- Consent is replayed, normalized, enforced on write, and its withdrawal cascades in the same transaction.
- Retention: a dry run shows what would go, the real run drops and anonymizes in committed batches,
  a legal hold keeps its rows, and every run leaves a receipt without personal data.
- Data-subject rights: export, requests with deadlines, restriction, and erasure with its report;
  the erasure also written to a ledger outside the data directory, so that no restore undoes it.
- Masking by role: support reads every declared column masked by its category, in any query;
  pg_dump run as that role is an anonymized development copy whose keys still join.
- privacy.health() answers "is it working?" in one query, read-only: library, key, purge job and its
  last run, overdue requests, catalog, undeclared columns, protection, restrictions and holds,
  masking, the erasure ledger.
TXT
"${PSQL[@]}" -At -c "SELECT '- Left to do, as health() says: ' || coalesce(string_agg(area || ' (' || status || ')', ', ' ORDER BY area), 'nothing') || '.'
                       FROM privacy.health() WHERE status <> 'ok'"
