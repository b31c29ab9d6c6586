-- Data-subject requests (GDPR Art. 12(3)): each request opened, extended
-- and closed with its deadline of one month (three when extended with a
-- reason), and the view of what is due.

------------------------------------------------------------------------
-- Requests and their deadlines (GDPR Art. 12(3))
------------------------------------------------------------------------

CREATE FUNCTION privacy.open_request(kind text, value text, request text,
                                     received_at timestamptz DEFAULT pg_catalog.now())
  RETURNS bigint
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  norm   text;
  new_id bigint;
BEGIN
  norm := privacy_internal._identifier_normalize(kind, value);
  IF request IS NULL OR request NOT IN ('access', 'portability', 'erasure', 'rectification', 'restriction', 'objection') THEN
    RAISE EXCEPTION 'invalid request "%"', request
      USING ERRCODE = '22023',
            HINT = 'Use one of: access, portability, erasure, rectification, restriction, objection.';
  END IF;
  IF received_at IS NULL OR received_at OPERATOR(pg_catalog.>) pg_catalog.now() THEN
    RAISE EXCEPTION 'a request cannot be received in the future'
      USING ERRCODE = '22023', DETAIL = pg_catalog.format('received_at is %s.', received_at);
  END IF;
  INSERT INTO privacy.subject_request (kind, subject_ref, request, received_at, opened_by)
       VALUES (kind, privacy_internal._audit_ref(kind, norm), request, received_at, privacy_internal._invoker())
    RETURNING id INTO new_id;
  PERFORM privacy_internal._audit('subject.request_open', request,
    pg_catalog.jsonb_build_object('id', new_id, 'kind', kind, 'subject', privacy_internal._audit_ref(kind, norm),
                                  'received_at', received_at));
  RETURN new_id;
END
$$;
COMMENT ON FUNCTION privacy.open_request(text, text, text, timestamptz) IS
  'record a data-subject request (access, portability, erasure, rectification, restriction, objection); due one month after receipt; returns its id';

CREATE FUNCTION privacy.extend_request(request_id bigint, months integer, reason text)
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  r privacy.subject_request;
BEGIN
  IF months IS NULL OR months NOT BETWEEN 1 AND 2 THEN
    RAISE EXCEPTION 'a request can be extended by one or two months' USING ERRCODE = '22023',
      DETAIL = pg_catalog.format('months is %s.', COALESCE(months::text, 'NULL'));
  END IF;
  IF reason IS NULL OR pg_catalog.btrim(reason) OPERATOR(pg_catalog.=) '' THEN
    RAISE EXCEPTION 'an extension needs a reason' USING ERRCODE = '22023',
      HINT = 'GDPR Art. 12(3): the subject must be told why, within the first month.';
  END IF;
  SELECT * INTO r FROM privacy.subject_request q WHERE q.id OPERATOR(pg_catalog.=) request_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'request % does not exist', request_id USING ERRCODE = '22023';
  END IF;
  IF r.closed_at IS NOT NULL THEN
    RAISE EXCEPTION 'request % is closed', request_id USING ERRCODE = '55000';
  END IF;
  IF (r.extension_months OPERATOR(pg_catalog.+) months) OPERATOR(pg_catalog.>) 2 THEN
    RAISE EXCEPTION 'request % cannot be extended beyond two months', request_id USING ERRCODE = '55000',
      DETAIL = pg_catalog.format('It is already extended by %s month(s).', r.extension_months);
  END IF;
  IF pg_catalog.now() OPERATOR(pg_catalog.>) (r.received_at OPERATOR(pg_catalog.+) pg_catalog.make_interval(months => 1 OPERATOR(pg_catalog.+) r.extension_months)) THEN
    RAISE EXCEPTION 'request % is overdue and can no longer be extended', request_id USING ERRCODE = '55000';
  END IF;
  UPDATE privacy.subject_request q
     SET extension_months = q.extension_months OPERATOR(pg_catalog.+) months,
         extension_reason = COALESCE(q.extension_reason || '; ', '') || reason
   WHERE q.id OPERATOR(pg_catalog.=) request_id;
  PERFORM privacy_internal._audit('subject.request_extend', r.request,
    pg_catalog.jsonb_build_object('id', request_id, 'months', months, 'reason', reason));
END
$$;
COMMENT ON FUNCTION privacy.extend_request(bigint, integer, text) IS
  'extend the deadline of a request by one or two months (at most two in all) with the reason told to the subject (GDPR Art. 12(3))';

CREATE FUNCTION privacy.close_request(request_id bigint, outcome text)
  RETURNS void
  LANGUAGE plpgsql VOLATILE
  SET search_path = pg_catalog, pg_temp
  SET pg_privacy.definer = 'api'
AS $$
DECLARE
  r privacy.subject_request;
BEGIN
  IF outcome IS NULL OR pg_catalog.btrim(outcome) OPERATOR(pg_catalog.=) '' THEN
    RAISE EXCEPTION 'closing a request needs an outcome' USING ERRCODE = '22023',
      HINT = 'Say what was done, e.g. ''exported and sent'' or ''erased; invoices kept (bookkeeping)''.';
  END IF;
  SELECT * INTO r FROM privacy.subject_request q WHERE q.id OPERATOR(pg_catalog.=) request_id FOR UPDATE;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'request % does not exist', request_id USING ERRCODE = '22023';
  END IF;
  IF r.closed_at IS NOT NULL THEN
    RAISE EXCEPTION 'request % is already closed', request_id USING ERRCODE = '55000',
      DETAIL = pg_catalog.format('It was closed at %s.', r.closed_at);
  END IF;
  UPDATE privacy.subject_request q SET closed_at = pg_catalog.now(), outcome = close_request.outcome
   WHERE q.id OPERATOR(pg_catalog.=) request_id;
  PERFORM privacy_internal._audit('subject.request_close', r.request,
    pg_catalog.jsonb_build_object('id', request_id, 'outcome', outcome,
      'late', pg_catalog.now() OPERATOR(pg_catalog.>) (r.received_at OPERATOR(pg_catalog.+)
              pg_catalog.make_interval(months => 1 OPERATOR(pg_catalog.+) r.extension_months))));
END
$$;
COMMENT ON FUNCTION privacy.close_request(bigint, text) IS
  'close a data-subject request with its outcome';

CREATE VIEW privacy.request_deadlines AS
SELECT q.id, q.kind, q.subject_ref, q.request, q.received_at,
       q.received_at OPERATOR(pg_catalog.+) pg_catalog.make_interval(months => 1 OPERATOR(pg_catalog.+) q.extension_months) AS due_at,
       q.extension_months, q.extension_reason, q.closed_at, q.outcome,
       CASE WHEN q.closed_at IS NOT NULL THEN 'closed' ELSE 'open' END AS status,
       (COALESCE(q.closed_at, pg_catalog.now()) OPERATOR(pg_catalog.>)
        (q.received_at OPERATOR(pg_catalog.+) pg_catalog.make_interval(months => 1 OPERATOR(pg_catalog.+) q.extension_months))) AS overdue,
       CASE WHEN q.closed_at IS NULL THEN
         (q.received_at OPERATOR(pg_catalog.+) pg_catalog.make_interval(months => 1 OPERATOR(pg_catalog.+) q.extension_months))::date
         OPERATOR(pg_catalog.-) pg_catalog.now()::date END AS days_left
  FROM privacy.subject_request q;
COMMENT ON VIEW privacy.request_deadlines IS
  'data-subject requests with their due date (one month from receipt, plus extensions of up to two months), status and overdue flag (closed late counts as overdue)';

