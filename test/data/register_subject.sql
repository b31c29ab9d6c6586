-- Declares, for the data-subject rights (export_subject, erase_subject,
-- restrict_subject), how a data subject is found in the telephony data
-- set: which identifier a subscription holds only for a period (numbers
-- are reassigned), when each row's event happened, which columns tie a
-- subject's identifiers together, and where the data comes from.  Run
-- after test/data/register.sql.  Also creates the indexes that
-- privacy.missing_indexes asks for, so no lookup scans a table.
\set ON_ERROR_STOP on
SET client_min_messages = warning;

SELECT privacy.set_subject_table('telco.customer',
  source => 'given by the customer at sign-up and in customer service') \g /dev/null
SELECT privacy.set_subject_table('telco.subscription',
  validity_column => 'msisdn', valid_from => 'valid_from', valid_to => 'valid_to',
  source => 'the customer''s orders') \g /dev/null
SELECT privacy.set_subject_table('telco.cdr', event_time => 'started_at',
  source => 'our network (calls made from the subscription)') \g /dev/null
SELECT privacy.set_subject_table('telco.invoice',
  source => 'our billing, from the subscriptions and calls') \g /dev/null
SELECT privacy.set_subject_table('telco.newsletter_subscriber', event_time => 'subscribed_at',
  source => 'the newsletter sign-up form, sales calls and trade fairs') \g /dev/null
-- A ticket's contact e-mail and number are whoever raised it (a colleague,
-- a private address): they find the ticket but do not link to the customer.
SELECT privacy.set_subject_table('telco.support_ticket', event_time => 'opened_at',
  link_columns => ARRAY['customer_id']::name[],
  source => 'customer service (e-mail and phone)') \g /dev/null

-- The indexes privacy.missing_indexes suggests.
DO $$
DECLARE
  q text;
BEGIN
  FOR q IN SELECT suggested_index FROM privacy.missing_indexes LOOP
    EXECUTE q;
  END LOOP;
END
$$;
ANALYZE telco.customer, telco.subscription, telco.newsletter_subscriber, telco.support_ticket;
