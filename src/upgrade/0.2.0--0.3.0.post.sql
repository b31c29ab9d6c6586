-- The hand-written part of the update from 0.2.0 to 0.3.0 that runs after
-- the generated functions, views and comments.

-- The query of a published view is stored as text (privacy.published.body)
-- and run by the view's row function: the helpers it names
-- (_extract_msisdn, _extract_country) moved to privacy_internal.
UPDATE privacy.published
   SET body = pg_catalog.regexp_replace(body, '(^|[^[:alnum:]_."])privacy\._', '\1privacy_internal._', 'g')
 WHERE body OPERATOR(pg_catalog.~) 'privacy\._';
