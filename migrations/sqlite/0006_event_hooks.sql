-- Outgoing events: what can be shown of a hook without opening its sealed URL (its host, never
-- the path or query, which may carry a token), the verdict a gate.changed delivery changed
-- from, and the publisher's lookup of an analysis's deliveries.
-- Kept in step with the other engine's migration by a test that compares the two schemas.

ALTER TABLE event_hooks ADD COLUMN url_host TEXT NOT NULL DEFAULT '';
ALTER TABLE event_deliveries ADD COLUMN previous_verdict TEXT;
CREATE INDEX event_deliveries_by_analysis ON event_deliveries (analysis_id);
