-- Traces: the W3C traceparent a job continues (the webhook's span, or the job that queued it).
-- Kept in step with the other engine's migration by a test that compares the two schemas.

ALTER TABLE jobs ADD COLUMN traceparent TEXT;
