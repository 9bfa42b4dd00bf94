-- What the dashboard and the API read, indexed for their pages (measured by
-- benches/dashboard.rs on 500 projects, 200,000 analyses, 5,000,000 findings).
-- Kept in step with the other engine's migration by a test that compares the two schemas.

-- A page of an analysis's findings in id order after a cursor reads just that page. With
-- (analysis_id) alone PostgreSQL may walk the primary key instead for a large analysis (its
-- findings are the newest ids) and read millions of rows; this index also serves everything
-- the old one did.
DROP INDEX findings_analysis;
CREATE INDEX findings_by_analysis ON findings (analysis_id, id);

-- A project's default-branch history straight from the index, newest first, without
-- visiting the scattered analysis rows.
CREATE INDEX analyses_history ON analyses (project_id, id, sha, completed_at, score, grade, verdict)
    WHERE pr_number IS NULL AND trigger <> 'base' AND status = 'completed';

-- A pull request's analyses without reading the project's whole history.
CREATE INDEX analyses_by_pull ON analyses (project_id, pr_number, id) WHERE pr_number IS NOT NULL;
