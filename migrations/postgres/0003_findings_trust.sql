-- Findings people trust: copies of a finding are paired with the base along the diff (line_key),
-- and test code is marked (in_tests). Kept in step with the other engine's migration by a test.

ALTER TABLE findings ADD COLUMN line_key TEXT NOT NULL DEFAULT '';
ALTER TABLE findings ADD COLUMN in_tests BIGINT NOT NULL DEFAULT 0;
