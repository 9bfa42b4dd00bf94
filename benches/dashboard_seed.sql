-- Seeds the dashboard benchmark's database (benches/dashboard.rs), set-based, on PostgreSQL.
-- `{{name}}` are replaced before running: projects, per_project (analyses per project),
-- analyses (projects × per_project), findings (analyses × 25), now and span (Unix ms).
-- Each step starts at its `step:` comment line and runs as one batch, timed. Everything is
-- deterministic: project i's analysis n is analysis (n × projects + i + 1), findings repeat
-- across a project's analyses (same fingerprints) and drift slowly, as real ones do.

-- step: installations and projects
INSERT INTO installations (id, account_login, suspended, created_at, updated_at)
SELECT 1000 + i, (ARRAY['acme', 'globex', 'initech', 'umbrella'])[i], 0,
       {{now}} - {{span}} - 86400000, {{now}}
FROM generate_series(1, 4) i;

-- Uneven installations, as organisations are: 50 %, 30 %, 10 %, 10 % of the projects.
INSERT INTO projects (id, installation_id, full_name, default_branch, clone_url, policy,
                      created_at, updated_at, archived_at)
SELECT 600000000 + p * 7919,
       CASE WHEN p % 10 < 5 THEN 1001 WHEN p % 10 < 8 THEN 1002 WHEN p % 10 = 8 THEN 1003
            ELSE 1004 END,
       name, CASE WHEN p % 7 = 0 THEN 'master' ELSE 'main' END,
       'https://github.com/' || name || '.git',
       CASE WHEN p % 9 = 0 THEN '{"gate":{"min_grade":"B"}}' END,
       {{now}} - {{span}} - 3600000, {{now}},
       CASE WHEN p % 50 = 49 THEN {{now}} - 86400000 END
FROM (
    SELECT p, (ARRAY['acme', 'globex', 'initech', 'umbrella'])[
                 CASE WHEN p % 10 < 5 THEN 1 WHEN p % 10 < 8 THEN 2 WHEN p % 10 = 8 THEN 3 ELSE 4 END]
              || '/' || (ARRAY['billing', 'payments', 'search', 'auth', 'catalog', 'reports', 'ingest',
                                'notify', 'gateway', 'ledger', 'inventory', 'profile'])[1 + p % 12]
              || '-' || (ARRAY['api', 'service', 'worker', 'web', 'cli', 'lib', 'jobs'])[1 + (p / 12) % 7]
              || '-' || p AS name
    FROM generate_series(0, {{projects}} - 1) p
) n;

-- step: analyses
-- Per project, in blocks of 20: 12 pushes to the default branch, 1 re-run there, 5 pull-request
-- heads (one pull request), 2 comparison bases. Ids follow time, projects interleaved.
-- About 2 % failed; a few projects have their newest analysis still queued.
INSERT INTO analyses (id, project_id, sha, config_key, trigger, head_ref, base_ref, base_sha,
    compared_sha, pr_number, installation_id, status, check_run_id, tool_versions, ncloc, score,
    grade, deduction_security, deduction_reliability, deduction_maintainability, verdict, gate,
    error, queued_at, started_at, completed_at, timings, details, requested_by)
SELECT k, project_id, sha, config_key, trig, head_ref, base_ref, base_sha, compared_sha, pr,
       installation_id, status, check_run_id, tool_versions, ncloc,
       CASE WHEN done THEN score END,
       CASE WHEN NOT done THEN NULL WHEN score >= 90 THEN 'A' WHEN score >= 80 THEN 'B'
            WHEN score >= 70 THEN 'C' WHEN score >= 60 THEN 'D' ELSE 'F' END,
       CASE WHEN done THEN round(((100 - score) * 0.35)::numeric, 2)::float8 END,
       CASE WHEN done THEN round(((100 - score) * 0.25)::numeric, 2)::float8 END,
       CASE WHEN done THEN round(((100 - score) * 0.40)::numeric, 2)::float8 END,
       CASE WHEN NOT done THEN NULL WHEN trig = 'base' THEN 'neutral'
            WHEN score < 60 THEN 'failure' WHEN k % 17 = 0 THEN 'neutral' ELSE 'success' END,
       CASE WHEN done AND trig <> 'base' THEN
            '{"passed":' || (score >= 60) || ',"conditions":[{"metric":"new_blocker","threshold":0,'
            || '"actual":0,"passed":true},{"metric":"grade","threshold":"D","actual":"'
            || CASE WHEN score >= 60 THEN 'C' ELSE 'F' END || '","passed":' || (score >= 60) || '}]}'
       END,
       CASE WHEN status = 'failed' THEN 'bandit exited with status 2: error parsing pyproject.toml' END,
       queued_at,
       CASE WHEN status <> 'queued' THEN queued_at + 400 + k % 4000 END,
       CASE WHEN status <> 'queued' THEN queued_at + 15000 + (k * 31) % 90000 END,
       CASE WHEN status <> 'queued' THEN
            '{"fetch":' || (300 + k % 900) || ',"tools":' || (12000 + (k * 31) % 80000)
            || ',"compare":' || (20 + k % 200) || ',"save":' || (30 + k % 300) || '}'
       END,
       -- The details are real `AnalysisDetails` JSON, made by the benchmark from the types.
       CASE WHEN status = 'failed' THEN '{{details_failed}}'
            WHEN status <> 'queued' THEN '{{details_ok}}' END,
       CASE WHEN trig <> 'base' THEN 'dev-' || (k * 7) % 60 END
FROM (
    SELECT g.*, (status = 'completed') AS done,
           round(LEAST(99.5, GREATEST(25, 58 + (pidx * 37) % 36 + 8 * sin(seq / 15.0 + pidx)
                       + ((k * 7919) % 100) / 25.0))::numeric, 1)::float8 AS score
    FROM (
        SELECT k, pidx, seq, trig, p.id AS project_id, p.installation_id,
               md5('sha' || k) || substr(md5('sha2' || k), 1, 8) AS sha,
               CASE WHEN trig = 'base' THEN ''
                    ELSE substr(md5('cfg' || pidx || '-' || seq / 100), 1, 16) END AS config_key,
               CASE WHEN trig = 'pull_request' THEN 'refs/pull/' || (1 + seq / 20) || '/head'
                    WHEN trig = 'base' THEN NULL
                    ELSE 'refs/heads/' || p.default_branch END AS head_ref,
               CASE WHEN trig = 'pull_request' THEN p.default_branch END AS base_ref,
               CASE WHEN trig <> 'base' AND seq > 0
                    THEN md5('sha' || (k - {{projects}})) || substr(md5('sha2' || (k - {{projects}})), 1, 8)
               END AS base_sha,
               CASE WHEN trig <> 'base' AND seq > 0
                    THEN md5('sha' || (k - {{projects}})) || substr(md5('sha2' || (k - {{projects}})), 1, 8)
               END AS compared_sha,
               CASE WHEN trig = 'pull_request' THEN 1 + seq / 20 END AS pr,
               CASE WHEN seq = {{per_project}} - 1 AND pidx % 25 = 0 THEN 'queued'
                    WHEN k % 53 = 0 AND trig <> 'base' THEN 'failed'
                    ELSE 'completed' END AS status,
               CASE WHEN trig <> 'base' THEN 7000000000 + k END AS check_run_id,
               '{"bandit":"1.8.3","mypy":"1.15.0","ruff":"0.11.2","semgrep":"1.110.0"}' AS tool_versions,
               4000 + (pidx * 7919) % 90000 + seq * 12 AS ncloc,
               {{now}} - {{span}} + (k - 1) * ({{span}} / {{analyses}}) + (k * 7919) % 60000 AS queued_at
        FROM (
            SELECT k, (k - 1) % {{projects}} AS pidx, (k - 1) / {{projects}} AS seq,
                   CASE WHEN ((k - 1) / {{projects}}) % 20 < 12 THEN 'push'
                        WHEN ((k - 1) / {{projects}}) % 20 = 12 THEN 'rerun'
                        WHEN ((k - 1) / {{projects}}) % 20 < 18 THEN 'pull_request'
                        ELSE 'base' END AS trig
            FROM generate_series(1::bigint, {{analyses}}) k
        ) s
        JOIN projects p ON p.id = 600000000 + s.pidx * 7919
    ) g
) a
ORDER BY k;

SELECT setval('analyses_id_seq', {{analyses}});

-- step: findings plan
-- The findings go to completed analyses only (failed and queued ones have none), 25 or 26 each
-- so that the total is exact; ids are contiguous per analysis, as one save inserts them.
CREATE UNLOGGED TABLE bench_plan AS
SELECT id AS analysis_id, (id - 1) % {{projects}} AS pidx, (id - 1) / {{projects}} AS seq,
       compared_sha IS NOT NULL AS compared,
       ((rn - 1) * {{findings}}) / total AS first_id, (rn * {{findings}}) / total AS last_id
FROM (
    SELECT id, compared_sha, row_number() OVER (ORDER BY id) AS rn, count(*) OVER () AS total
    FROM analyses WHERE status = 'completed'
) c;
CREATE INDEX ON bench_plan (analysis_id);

-- step: findings
INSERT INTO findings (id, analysis_id, fingerprint, backend, rule, category, severity, path,
    start_line, end_line, start_column, end_column, message, help_url, effort_minutes, is_new,
    is_fixed, annotate, line_key, in_tests)
SELECT fid, analysis_id, md5('fp' || key || path), backend, rule,
       CASE WHEN backend IN ('bandit', 'semgrep') THEN 'security'
            WHEN backend = 'mypy' OR rule IN ('B006', 'E711') THEN 'reliability'
            ELSE 'maintainability' END,
       CASE WHEN backend IN ('bandit', 'semgrep') THEN
                CASE WHEN sv < 10 THEN 'blocker' WHEN sv < 40 THEN 'critical' WHEN sv < 80 THEN 'major'
                     ELSE 'minor' END
            WHEN backend = 'mypy' THEN CASE WHEN sv < 60 THEN 'major' ELSE 'minor' END
            ELSE CASE WHEN sv < 3 THEN 'critical' WHEN sv < 25 THEN 'major' WHEN sv < 80 THEN 'minor'
                      ELSE 'info' END
       END,
       path, line, line + h % 3, 1 + h % 40, 6 + h % 40,
       CASE backend
            WHEN 'ruff' THEN rule || ' ' || (ARRAY['`os` imported but unused', 'Line too long (112 > 100)',
                 'Do not use mutable data structures for argument defaults',
                 'Use a single `if` statement instead of nested `if` statements',
                 'Use `list` instead of `List` for type annotation', '`parse` is too complex (14 > 10)',
                 'Comparison to `None` should be `cond is None`', 'Too many arguments in function definition (7 > 5)'])[ri]
            WHEN 'mypy' THEN (ARRAY['Argument 1 to "find" has incompatible type "str"; expected "int"',
                 'Incompatible return value type (got "int | None", expected "int")',
                 'Item "None" of "Record | None" has no attribute "name"',
                 'Function is missing a type annotation', 'Incompatible types in assignment'])[ri]
            WHEN 'bandit' THEN (ARRAY['Use of assert detected. The enclosed code will be removed when compiling to optimised byte code.',
                 'subprocess call with shell=True identified, security issue.',
                 'Possible SQL injection vector through string-based query construction.',
                 'Possible hardcoded password: ''hunter2''',
                 'Standard pseudo-random generators are not suitable for security/cryptographic purposes.'])[ri]
            ELSE (ARRAY['Detected the use of eval(). eval() can be dangerous if used to evaluate dynamic content.',
                 'Detected a user-controlled value rendered without escaping: cross-site scripting.',
                 'Detected a request sent over plain HTTP with credentials.'])[ri]
       END,
       CASE backend
            WHEN 'ruff' THEN 'https://docs.astral.sh/ruff/rules/' || lower(rule)
            WHEN 'bandit' THEN 'https://bandit.readthedocs.io/en/latest/plugins/' || lower(rule) || '.html'
            WHEN 'semgrep' THEN 'https://semgrep.dev/r/' || rule
       END,
       5 + h % 30, is_new, is_fixed, is_new, substr(md5('lk' || key), 1, 24),
       (path LIKE 'tests/%')::int
FROM (
    SELECT r.*,
           CASE backend WHEN 'ruff' THEN (ARRAY['F401', 'E501', 'B006', 'SIM102', 'UP006', 'C901', 'E711', 'PLR0913'])[ri]
                        WHEN 'mypy' THEN (ARRAY['arg-type', 'return-value', 'union-attr', 'no-untyped-def', 'assignment'])[ri]
                        WHEN 'bandit' THEN (ARRAY['B101', 'B602', 'B608', 'B105', 'B311'])[ri]
                        ELSE (ARRAY['python.lang.security.audit.eval-detected',
                                    'python.flask.security.xss.audit.direct-use-of-jinja2',
                                    'python.requests.security.no-auth-over-http'])[ri] END AS rule
    FROM (
        SELECT q.*,
               1 + (h / 20) % CASE backend WHEN 'ruff' THEN 8 WHEN 'semgrep' THEN 3 ELSE 5 END AS ri,
               (h / 160) % 100 AS sv,
               (ARRAY['src/app/', 'src/app/api/', 'src/app/models/', 'src/app/services/', 'src/core/',
                      'src/util/', 'tests/', 'scripts/'])[1 + (h / 16000) % 8]
                 || 'mod_' || (h / 128000) % 40 || '.py' AS path,
               1 + (h / 7) % 800 AS line
        FROM (
            SELECT f.*,
                   CASE WHEN h % 20 < 10 THEN 'ruff' WHEN h % 20 < 15 THEN 'mypy'
                        WHEN h % 20 < 18 THEN 'bandit' ELSE 'semgrep' END AS backend
            FROM (
                SELECT fid, pl.analysis_id, pl.pidx * 1000 + (fid - pl.first_id) + pl.seq / 20 AS key,
                       (hashint8(pl.pidx * 1000 + (fid - pl.first_id) + pl.seq / 20)::bigint & 2147483647) AS h,
                       (pl.compared AND pl.analysis_id % 3 = 0 AND fid > pl.last_id - 2)::int AS is_fixed,
                       (pl.compared AND NOT (pl.analysis_id % 3 = 0 AND fid > pl.last_id - 2)
                        AND (hashint8(fid)::bigint & 2147483647) % 9 = 0)::int AS is_new
                FROM bench_plan pl CROSS JOIN LATERAL generate_series(pl.first_id + 1, pl.last_id) fid
                WHERE pl.analysis_id BETWEEN {{from}} AND {{to}}
            ) f
        ) q
    ) r
) x
ORDER BY fid;

-- step: counts and dashboard pointers
SELECT setval('findings_id_seq', {{findings}});
DROP TABLE bench_plan;

-- Open findings by severity, new and fixed counts, as save_analysis writes them.
UPDATE analyses a SET
    severity_counts = '[' || c.blocker || ',' || c.critical || ',' || c.major || ',' || c.minor
                      || ',' || c.info || ']',
    new_count = c.new, fixed_count = c.fixed
FROM (
    SELECT analysis_id,
           count(*) FILTER (WHERE is_fixed = 0 AND severity = 'blocker') AS blocker,
           count(*) FILTER (WHERE is_fixed = 0 AND severity = 'critical') AS critical,
           count(*) FILTER (WHERE is_fixed = 0 AND severity = 'major') AS major,
           count(*) FILTER (WHERE is_fixed = 0 AND severity = 'minor') AS minor,
           count(*) FILTER (WHERE is_fixed = 0 AND severity = 'info') AS info,
           count(*) FILTER (WHERE is_new = 1) AS new,
           count(*) FILTER (WHERE is_fixed = 1) AS fixed
    FROM findings GROUP BY analysis_id
) c
WHERE a.id = c.analysis_id;

-- What record_for_dashboard keeps: the newest completed default-branch analysis (not a base)
-- and the last 30 scores, oldest first.
UPDATE projects p SET latest_analysis_id = l.latest, score_history = l.history
FROM (
    SELECT project_id, max(id) AS latest,
           json_agg(json_build_array(id, score) ORDER BY id)::text AS history
    FROM (
        SELECT project_id, id, score,
               row_number() OVER (PARTITION BY project_id ORDER BY id DESC) AS rn
        FROM analyses
        WHERE status = 'completed' AND pr_number IS NULL AND trigger <> 'base'
    ) h
    WHERE rn <= 30
    GROUP BY project_id
) l
WHERE p.id = l.project_id;
