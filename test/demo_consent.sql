-- make demo, consent part: called by test/demo.sh after the telephony data
-- set is loaded and declared (test/data/register.sql defines the consent
-- purpose "newsletter").  Replays the raw consent events, then shows a
-- grant, an enforced refusal, a withdrawal with its cascade, the history
-- and the receipt.  Run by psql with ON_ERROR_STOP; the statements that
-- are meant to fail run through pg_temp.refused(), which shows the refusal
-- as a row.
SET client_min_messages = warning;
\pset footer off
-- An intended refusal, shown as a result row instead of a raw error.
CREATE FUNCTION pg_temp.refused(statement text) RETURNS text
  LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE statement;
  RETURN 'NOT refused';
EXCEPTION WHEN OTHERS THEN
  RETURN 'refused, ' || SQLSTATE || ': ' || SQLERRM;
END
$$;

\echo
\echo '=== Consent: replay the events as they arrived (telco.consent_import)'
\echo '(identifiers as typed: e-mails in mixed case with stray spaces, numbers in every form;'
\echo ' the register refuses withdrawals of what was never granted, and events dated after now)'
SELECT privacy.define_purpose('marketing', 'consent',
  description => 'offers by SMS and e-mail', recipients => ARRAY['SMS gateway']) \g /dev/null
CREATE TEMP TABLE replay (event text, outcome text);
DO $$
DECLARE
  e record;
BEGIN
  FOR e IN SELECT * FROM telco.consent_import ORDER BY import_id LOOP
    BEGIN
      IF e.event = 'grant' THEN
        PERFORM privacy.grant_consent(e.kind, e.value, e.purpose, e.source, e.notice_version, at => e.at);
      ELSE
        PERFORM privacy.withdraw_consent(e.kind, e.value, e.purpose, e.source, at => e.at);
      END IF;
      INSERT INTO replay VALUES (e.event, 'recorded');
    EXCEPTION WHEN object_not_in_prerequisite_state OR invalid_parameter_value
                   OR invalid_text_representation THEN
      INSERT INTO replay VALUES (e.event, 'refused: ' || SQLERRM);
    END;
  END LOOP;
END
$$;
SELECT event, regexp_replace(outcome, '"[a-z_]+"', '"…"') AS outcome, count(*) AS events
  FROM replay GROUP BY 1, 2 ORDER BY 1, 2;

\echo
\echo 'One subject, however it was typed (has_consent normalizes as the identifier kind says):'
SELECT i.value AS typed, i.event, i.at::timestamp(0) AS at, i.source,
       privacy.has_consent(i.kind, i.value, i.purpose) AS consents_now
  FROM telco.consent_import i
  JOIN (SELECT privacy.normalize_msisdn(value) AS e164 FROM telco.consent_import
         WHERE kind = 'msisdn' AND purpose = 'marketing'
         GROUP BY 1 HAVING count(DISTINCT value) > 1
         ORDER BY count(*) DESC, 1 LIMIT 1) s
    ON i.kind = 'msisdn' AND i.purpose = 'marketing' AND privacy.normalize_msisdn(i.value) = s.e164
 ORDER BY i.import_id;

SELECT purpose, count(*) FILTER (WHERE granted) AS consenting, count(*) FILTER (WHERE NOT granted) AS withdrawn
  FROM privacy.consent_state GROUP BY purpose ORDER BY purpose;

\echo
\echo '=== Consent enforced: newsletter sign-ups require consent for "newsletter"; withdrawal deletes them'
SELECT privacy.require_consent('telco.newsletter_subscriber', 'email', 'newsletter', on_withdraw => 'delete');
SELECT table_name, subject_column, kind, purpose, on_withdraw, enforced FROM privacy.consent_requirements;
\echo 'Rows written before the requirement whose subject no longer consents (to clean up once):'
SELECT count(*) AS rows_without_consent FROM telco.newsletter_subscriber
 WHERE NOT privacy.has_consent('email', email, 'newsletter');

\echo
\echo 'A sign-up for someone who never consented is refused (the error names the purpose, not the person):'
SELECT pg_temp.refused($q$INSERT INTO telco.newsletter_subscriber (email, name, phone, subscribed_at, source)
VALUES ('Jens.Nielsen@Example.dk', 'Jens Nielsen', NULL, now(), 'web form')$q$) AS "sign-up without consent";

\echo
\echo 'Consent is granted (web form, notice nl-2026-06), and the same sign-up goes in:'
SELECT privacy.grant_consent('email', ' jens.nielsen@example.dk', 'newsletter', 'web form', 'nl-2026-06') > 0 AS granted;
INSERT INTO telco.newsletter_subscriber (email, name, phone, subscribed_at, source)
VALUES ('Jens.Nielsen@Example.dk', 'Jens Nielsen', NULL, now(), 'web form')
RETURNING subscriber_id, email, source;

\echo
\echo '=== Consent withdrawn at any time: the unsubscribe link, and the cascade in the same transaction'
SELECT count(*) AS jens_rows_before FROM telco.newsletter_subscriber WHERE lower(email) = 'jens.nielsen@example.dk';
SELECT privacy.withdraw_consent('email', 'JENS.NIELSEN@example.dk', 'newsletter', 'unsubscribe link') > 0 AS withdrawn;
SELECT count(*) AS jens_rows_after FROM telco.newsletter_subscriber WHERE lower(email) = 'jens.nielsen@example.dk';
SELECT privacy.has_consent('email', 'jens.nielsen@example.dk', 'newsletter') AS consents_now,
       privacy.has_consent('email', 'jens.nielsen@example.dk', 'newsletter',
                           (SELECT max(at) FROM privacy.consent_event
                             WHERE value = 'jens.nielsen@example.dk' AND event = 'grant')) AS consented_when_granted;
\echo 'The audit trail refers to Jens only by a keyed reference:'
SELECT id, event, object, detail - 'at' AS detail FROM privacy.audit_log ORDER BY id DESC LIMIT 2;

\echo
\echo '=== Consent, the proof (GDPR Art. 7(1)): history and consent receipt'
SELECT purpose, event, at::timestamp(0) AS at, source, notice_version
  FROM privacy.consent_history('email', 'jens.nielsen@example.dk');
\echo 'A subscriber from the import with the longest history:'
SELECT value AS email FROM privacy.consent_event WHERE kind = 'email' AND purpose = 'newsletter'
 GROUP BY value ORDER BY count(*) DESC, value LIMIT 1 \gset
SELECT purpose, event, at::timestamp(0) AS at, source, notice_version
  FROM privacy.consent_history('email', :'email');
SELECT jsonb_pretty(r - 'iat') AS consent_receipt
  FROM privacy.consent_receipt('email', :'email',
         controller => '{"piiController": "the operator (demo)", "country": "DK"}') r;
\echo 'The register is append-only, for the DBA too:'
SELECT pg_temp.refused(format('DELETE FROM privacy.consent_event WHERE value = %L', :'email')) AS "DELETE from the register";
SELECT count(*) AS events, coalesce(privacy.verify_audit_log()::text, 'intact') AS audit_chain
  FROM privacy.consent_event;
