//! Self-tests of the fake GitHub in `tests/support`: they pin down what the fake accepts and
//! refuses, so end-to-end tests can trust it. They deliberately do not use `flext_quality`.

mod support;

use serde_json::{json, Value};
use support::{app_jwt, shared_app_key, sign_jwt, unix_now, FakeGitHub};

const APP_ID: u64 = 4242;
const INSTALLATION: u64 = 77;
const SHA: &str = "0123456789abcdef0123456789abcdef01234567";

async fn fake() -> FakeGitHub {
    let fake = FakeGitHub::start(APP_ID, &shared_app_key().1).await;
    fake.add_installation(
        INSTALLATION,
        &[("octo", "hello", 1001), ("octo", "git-repo", 1002)],
    );
    fake.add_installation(88, &[("other", "elsewhere", 2001)]);
    fake
}

fn client() -> reqwest::Client {
    reqwest::Client::new()
}

async fn send(req: reqwest::RequestBuilder) -> (u16, Value) {
    let resp = req
        .header("user-agent", "fake-selftest")
        .send()
        .await
        .expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn token_with(fake: &FakeGitHub, jwt: &str, installation: u64) -> (u16, Value) {
    let url = format!(
        "{}/app/installations/{installation}/access_tokens",
        fake.url()
    );
    send(client().post(url).bearer_auth(jwt)).await
}

async fn token(fake: &FakeGitHub) -> String {
    let (status, body) =
        token_with(fake, &app_jwt(&shared_app_key().0, APP_ID), INSTALLATION).await;
    assert_eq!(status, 201, "{body}");
    body["token"].as_str().unwrap().to_string()
}

async fn api(
    fake: &FakeGitHub,
    token: &str,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut req = client()
        .request(method, format!("{}{path}", fake.url()))
        .header("authorization", format!("token {token}"))
        .header("accept", "application/vnd.github+json");
    if let Some(b) = body {
        req = req.json(&b);
    }
    send(req).await
}

fn annotations(n: usize, from_line: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            json!({"path": "src/lib.rs", "start_line": from_line + i, "end_line": from_line + i,
                   "annotation_level": "warning", "message": format!("finding {i}")})
        })
        .collect()
}

#[tokio::test]
async fn valid_jwt_gets_an_installation_token() {
    let fake = fake().await;
    let now = unix_now();
    // GitHub accepts `iss` as a string, too.
    let jwt = sign_jwt(
        &shared_app_key().0,
        &json!({"iat": now - 60, "exp": now + 540, "iss": APP_ID.to_string()}),
    );
    let (status, body) = token_with(&fake, &jwt, INSTALLATION).await;
    assert_eq!(status, 201, "{body}");
    let token = body["token"].as_str().unwrap();
    assert!(token.starts_with("ghs_") && token.len() == 40, "{token}");
    let expires = support::openapi::parse_rfc3339(body["expires_at"].as_str().unwrap()).unwrap();
    assert!(
        (expires - now - 3600).abs() <= 5,
        "expires_at about an hour ahead"
    );
    assert_eq!(body["repository_selection"], "selected");
    assert!(body["permissions"].is_object());
    assert_eq!(fake.tokens_issued(), 1);
    assert_eq!(
        token_with(&fake, &jwt, 999).await.0,
        404,
        "unknown installation"
    );
    fake.assert_no_violations();
}

#[tokio::test]
async fn bad_jwts_are_rejected_with_401() {
    let fake = fake().await;
    let key = &shared_app_key().0;
    let other_key = support::generate_app_key().0;
    let now = unix_now();
    let cases = [
        (
            "bad signature",
            sign_jwt(
                &other_key,
                &json!({"iat": now - 60, "exp": now + 540, "iss": APP_ID}),
            ),
        ),
        (
            "exp too far",
            sign_jwt(
                key,
                &json!({"iat": now - 60, "exp": now + 600, "iss": APP_ID}),
            ),
        ),
        (
            "expired",
            sign_jwt(
                key,
                &json!({"iat": now - 700, "exp": now - 100, "iss": APP_ID}),
            ),
        ),
        (
            "iat in the future",
            sign_jwt(
                key,
                &json!({"iat": now + 120, "exp": now + 300, "iss": APP_ID}),
            ),
        ),
        (
            "other app",
            sign_jwt(
                key,
                &json!({"iat": now - 60, "exp": now + 540, "iss": APP_ID + 1}),
            ),
        ),
        ("not a JWT", "not.a.jwt".to_string()),
    ];
    for (what, jwt) in cases {
        let (status, body) = token_with(&fake, &jwt, INSTALLATION).await;
        assert_eq!(status, 401, "{what}: {body}");
        assert!(
            body["message"].is_string() && body["documentation_url"].is_string(),
            "{what}: {body}"
        );
    }
    let url = format!(
        "{}/app/installations/{INSTALLATION}/access_tokens",
        fake.url()
    );
    assert_eq!(
        send(client().post(url)).await.0,
        401,
        "no Authorization header"
    );
    assert_eq!(fake.tokens_issued(), 0);
}

#[tokio::test]
async fn installation_tokens_guard_the_repositories() {
    let fake = fake().await;
    let token = token(&fake).await;
    let path = format!("/repos/octo/hello/commits/{SHA}/check-runs");
    assert_eq!(api(&fake, &token, "GET", &path, None).await.0, 200);
    let bearer = send(
        client()
            .get(format!("{}{path}", fake.url()))
            .bearer_auth(&token),
    )
    .await;
    assert_eq!(bearer.0, 200, "Bearer works like token");
    assert_eq!(api(&fake, "ghs_nonsense", "GET", &path, None).await.0, 401);
    let jwt = app_jwt(&shared_app_key().0, APP_ID);
    assert_eq!(
        api(&fake, &jwt, "GET", &path, None).await.0,
        401,
        "a JWT is not an installation token"
    );
    let (status, body) = api(
        &fake,
        &token,
        "GET",
        &format!("/repos/other/elsewhere/commits/{SHA}/check-runs"),
        None,
    )
    .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (404, Some("Not Found")),
        "repository of another installation"
    );
    fake.expire_all_tokens();
    assert_eq!(
        api(&fake, &token, "GET", &path, None).await.0,
        401,
        "expired token"
    );
    assert_eq!(fake.api_request_count(), 7);
    fake.assert_no_violations();
}

#[tokio::test]
async fn check_run_lifecycle_appends_annotations() {
    let fake = fake().await;
    let token = token(&fake).await;
    let create = json!({"name": "flext-quality", "head_sha": SHA, "status": "in_progress", "external_id": "job-1"});
    let (status, run) = api(
        &fake,
        &token,
        "POST",
        "/repos/octo/hello/check-runs",
        Some(create),
    )
    .await;
    assert_eq!(status, 201, "{run}");
    assert_eq!(run["status"], "in_progress");
    let id = run["id"].as_u64().unwrap();
    let path = format!("/repos/octo/hello/check-runs/{id}");

    let first =
        json!({"output": {"title": "t", "summary": "s", "annotations": annotations(50, 1)}});
    let (status, body) = api(&fake, &token, "PATCH", &path, Some(first)).await;
    assert_eq!(status, 200, "{body}");
    let done = json!({"conclusion": "failure",
        "output": {"title": "Grade B", "summary": "2 new findings", "annotations": annotations(50, 100)}});
    let (status, body) = api(&fake, &token, "PATCH", &path, Some(done)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["status"].as_str(), body["conclusion"].as_str()),
        (Some("completed"), Some("failure"))
    );
    assert_eq!(body["output"]["annotations_count"], 100);
    assert!(body["completed_at"].is_string());

    let run = fake.consume_check_run(id).unwrap();
    assert_eq!(run.annotations.len(), 100);
    assert_eq!(run.annotations[99].start_line, 149);
    assert_eq!(run.summary.as_deref(), Some("2 new findings"));
    let statuses: Vec<&str> = run.history.iter().map(|h| h.status.as_str()).collect();
    assert_eq!(statuses, ["in_progress", "completed"]);
    assert_eq!(run.update_count, 2);

    let (status, page) = api(
        &fake,
        &token,
        "GET",
        &format!("{path}/annotations?per_page=100&page=1"),
        None,
    )
    .await;
    assert_eq!((status, page.as_array().unwrap().len()), (200, 100));
    let (_, listed) = api(
        &fake,
        &token,
        "GET",
        &format!("/repos/octo/hello/commits/{SHA}/check-runs?check_name=flext-quality"),
        None,
    )
    .await;
    assert_eq!(listed["total_count"], 1);
    assert_eq!(listed["check_runs"][0]["id"], id);

    let back = json!({"status": "in_progress"});
    assert_eq!(
        api(&fake, &token, "PATCH", &path, Some(back)).await.0,
        422,
        "completed cannot go back"
    );
    assert_eq!(fake.take_violations().len(), 1);
}

#[tokio::test]
async fn invalid_check_run_requests_are_422_and_violations() {
    let fake = fake().await;
    let token = token(&fake).await;
    let (_, run) = api(
        &fake,
        &token,
        "POST",
        "/repos/octo/hello/check-runs",
        Some(json!({"name": "q", "head_sha": SHA})),
    )
    .await;
    assert_eq!(run["status"], "queued");
    let path = format!("/repos/octo/hello/check-runs/{}", run["id"]);
    let bad: Vec<(&str, &str, Value)> = vec![
        (
            "PATCH",
            &path,
            json!({"output": {"title": "t", "summary": "s", "annotations": annotations(51, 1)}}),
        ),
        ("PATCH", &path, json!({"status": "completed"})),
        (
            "PATCH",
            &path,
            json!({"completed_at": "2024-01-01T00:00:00Z"}),
        ),
        (
            "POST",
            "/repos/octo/hello/check-runs",
            json!({"name": "q", "head_sha": SHA, "status": "completed"}),
        ),
        (
            "PATCH",
            &path,
            json!({"output": {"title": "t", "summary": "x".repeat(65_536)}}),
        ),
        ("PATCH", &path, json!({"started_at": "yesterday"})),
        ("PATCH", &path, json!({"conclusion": "stale"})),
        (
            "PATCH",
            &path,
            json!({"bogus": true, "status": "in_progress", "output": {"summary": "no title is fine"},
            "actions": [{"label": "a", "description": "b", "identifier": "c"}]}),
        ),
        (
            "PATCH",
            &path,
            json!({"output": {"title": "t", "summary": "s", "annotations": [
            {"path": "a", "start_line": 3, "end_line": 4, "start_column": 1, "annotation_level": "notice", "message": "m"}]}}),
        ),
        (
            "PATCH",
            &path,
            json!({"output": {"title": "t", "summary": "s", "annotations": [
            {"path": "a", "start_line": 0, "end_line": 0, "annotation_level": "notice", "message": "m"}]}}),
        ),
        (
            "POST",
            "/repos/octo/hello/check-runs",
            json!({"name": "q", "head_sha": "abc123"}),
        ),
    ];
    let mut expected_violations = 0;
    for (method, path, body) in bad {
        let (status, resp) = api(&fake, &token, method, path, Some(body.clone())).await;
        // An unknown property is allowed by the schema (no additionalProperties: false).
        if body.get("bogus").is_some() {
            assert_eq!(status, 200, "{resp}");
            continue;
        }
        expected_violations += 1;
        assert_eq!(status, 422, "{method} {body:.200}: {resp}");
        assert!(
            resp["message"]
                .as_str()
                .unwrap()
                .starts_with("Invalid request.\n\n"),
            "{resp}"
        );
    }
    let violations = fake.take_violations();
    assert_eq!(violations.len(), expected_violations, "{violations:#?}");
    assert!(
        violations[0].contains("/output/annotations"),
        "{}",
        violations[0]
    );

    let (status, _) = send(
        client()
            .patch(format!("{}{path}", fake.url()))
            .header("authorization", format!("token {token}"))
            .body("{not json"),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        fake.take_violations().len(),
        1,
        "malformed JSON is a violation"
    );
    let runs = fake.check_runs();
    assert_eq!(runs.len(), 1);
    fake.consume_check_run(runs[0].id);
}

#[tokio::test]
async fn unknown_routes_are_404_and_violations() {
    let fake = fake().await;
    let token = token(&fake).await;
    let (status, body) = api(
        &fake,
        &token,
        "GET",
        "/repos/octo/hello/not-an-endpoint",
        None,
    )
    .await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = api(
        &fake,
        &token,
        "POST",
        "/repos/octo/hello/check-runs/1/rerequest-all",
        None,
    )
    .await;
    assert_eq!(status, 404);
    let violations = fake.take_violations();
    assert_eq!(violations.len(), 2, "{violations:#?}");
    assert!(
        violations[0].starts_with("GET /repos/octo/hello/not-an-endpoint"),
        "{}",
        violations[0]
    );
}

#[tokio::test]
async fn issue_comments_round_trip() {
    let fake = fake().await;
    let token = token(&fake).await;
    let list = "/repos/octo/hello/issues/7/comments";
    let (status, c) = api(&fake, &token, "POST", list, Some(json!({"body": "first"}))).await;
    assert_eq!(status, 201, "{c}");
    let human = fake.add_issue_comment("octo", "hello", 7, "alice", "LGTM");
    let (_, all) = api(&fake, &token, "GET", list, None).await;
    assert_eq!(all.as_array().unwrap().len(), 2);
    assert_eq!(all[0]["user"]["type"], "Bot");
    let one = format!("/repos/octo/hello/issues/comments/{}", c["id"]);
    let (status, edited) = api(
        &fake,
        &token,
        "PATCH",
        &one,
        Some(json!({"body": "edited"})),
    )
    .await;
    assert_eq!((status, edited["body"].as_str()), (200, Some("edited")));
    let (status, _) = api(
        &fake,
        &token,
        "PATCH",
        &one,
        Some(json!({"body": "x".repeat(65_537)})),
    )
    .await;
    assert_eq!(status, 422);
    assert_eq!(fake.take_violations().len(), 1);
    assert_eq!(api(&fake, &token, "DELETE", &one, None).await.0, 204);
    let left = fake.issue_comments("octo", "hello", 7);
    assert_eq!(left.iter().map(|c| c.id).collect::<Vec<_>>(), [human]);
}

#[tokio::test]
async fn injected_faults_come_first() {
    let fake = fake().await;
    let token = token(&fake).await;
    let reset = (unix_now() + 30).to_string();
    fake.fail_next(
        "checks/create",
        403,
        1,
        &[
            ("x-ratelimit-remaining", "0"),
            ("x-ratelimit-reset", &reset),
        ],
    );
    fake.fail_next("/repos/octo/hello/issues", 502, 2, &[]);
    let url = format!("{}/repos/octo/hello/check-runs", fake.url());
    let body = json!({"name": "q", "head_sha": SHA});
    let resp = client()
        .post(&url)
        .header("authorization", format!("token {token}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 403);
    assert_eq!(resp.headers()["x-ratelimit-remaining"], "0");
    assert_eq!(
        api(
            &fake,
            &token,
            "POST",
            "/repos/octo/hello/check-runs",
            Some(body)
        )
        .await
        .0,
        201
    );
    let comments = "/repos/octo/hello/issues/1/comments";
    assert_eq!(api(&fake, &token, "GET", comments, None).await.0, 502);
    assert_eq!(api(&fake, &token, "GET", comments, None).await.0, 502);
    assert_eq!(api(&fake, &token, "GET", comments, None).await.0, 200);
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [201, 403, 201, 502, 502, 200]);
    let runs = fake.check_runs();
    assert_eq!(runs.len(), 1);
    fake.consume_check_run(runs[0].id);
}

async fn git_cli(args: &[&str], cwd: &std::path::Path) -> std::process::Output {
    tokio::process::Command::new("git")
        .args(args)
        .current_dir(cwd)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .await
        .expect("run git")
}

#[tokio::test]
async fn git_clone_over_http_needs_a_valid_token() {
    let fake = fake().await;
    fake.create_repo("octo", "git-repo");
    let sha = fake.commit(
        "octo",
        "git-repo",
        "main",
        &[("README.md", "hello\n")],
        "first",
    );
    let sha2 = fake.commit(
        "octo",
        "git-repo",
        "main",
        &[("src/a.py", "x = 1\n")],
        "second",
    );
    assert_ne!(sha, sha2);
    let token = token(&fake).await;
    let api_before = fake.api_request_count();
    let dir = tempfile::tempdir().unwrap();
    let url = fake.clone_url("octo", "git-repo");

    let out = git_cli(&["clone", "--quiet", &url, "anon"], dir.path()).await;
    assert!(!out.status.success(), "clone without credentials must fail");

    // Credentials in the URL exercise the 401 challenge, as libgit2 does.
    let with_creds = url.replacen("http://", &format!("http://x-access-token:{token}@"), 1);
    let out = git_cli(&["clone", "--quiet", &with_creds, "ok"], dir.path()).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("ok/README.md")).unwrap(),
        "hello\n"
    );
    let head = git_cli(&["rev-parse", "HEAD"], &dir.path().join("ok")).await;
    assert_eq!(String::from_utf8_lossy(&head.stdout).trim(), sha2);

    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("x-access-token:{token}"));
    let header = format!("http.extraHeader=Authorization: Basic {basic}");
    let out = git_cli(
        &["-c", &header, "clone", "--quiet", &url, "header"],
        dir.path(),
    )
    .await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let push = git_cli(
        &["-c", &header, "push", "origin", "HEAD:refs/heads/evil"],
        &dir.path().join("header"),
    )
    .await;
    assert!(!push.status.success(), "push over HTTP is refused");

    fake.expire_all_tokens();
    let out = git_cli(
        &["-c", &header, "clone", "--quiet", &url, "late"],
        dir.path(),
    )
    .await;
    assert!(!out.status.success(), "expired token");
    assert!(fake.git_request_count() >= 5);
    assert_eq!(
        fake.api_request_count(),
        api_before,
        "git traffic is not API traffic"
    );
}

#[tokio::test]
async fn check_run_head_sha_must_exist_in_a_hosted_repo() {
    let fake = fake().await;
    fake.create_repo("octo", "git-repo");
    let sha = fake.commit("octo", "git-repo", "main", &[("a", "1")], "c");
    let token = token(&fake).await;
    let path = "/repos/octo/git-repo/check-runs";
    assert_eq!(
        api(
            &fake,
            &token,
            "POST",
            path,
            Some(json!({"name": "q", "head_sha": SHA}))
        )
        .await
        .0,
        422
    );
    assert_eq!(fake.take_violations().len(), 1);
    assert_eq!(
        api(
            &fake,
            &token,
            "POST",
            path,
            Some(json!({"name": "q", "head_sha": sha}))
        )
        .await
        .0,
        201
    );
    let (_, by_branch) = api(
        &fake,
        &token,
        "GET",
        "/repos/octo/git-repo/commits/main/check-runs",
        None,
    )
    .await;
    assert_eq!(by_branch["total_count"], 1);
    let runs = fake.check_runs_for(&sha);
    assert_eq!(runs.len(), 1);
    fake.consume_check_run(runs[0].id);
}

fn teardown_panic(fake: FakeGitHub) -> String {
    let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(fake)))
        .expect_err("drop must panic");
    err.downcast_ref::<String>().cloned().unwrap_or_default()
}

#[tokio::test]
async fn teardown_panics_on_unconsumed_check_runs_and_untaken_violations() {
    let fake = fake().await;
    let token = token(&fake).await;
    api(
        &fake,
        &token,
        "POST",
        "/repos/octo/hello/check-runs",
        Some(json!({"name": "unchecked", "head_sha": SHA})),
    )
    .await;
    // Looking at it is not checking it.
    assert_eq!(fake.check_runs().len(), 1);
    let message = teardown_panic(fake);
    assert!(
        message.contains("no assertion consumed") && message.contains("unchecked"),
        "{message}"
    );

    let fake = self::fake().await;
    api(&fake, &token, "GET", "/nope", None).await;
    let message = teardown_panic(fake);
    assert!(message.contains("GET /nope"), "{message}");

    let fake = self::fake().await;
    let token = self::token(&fake).await;
    api(
        &fake,
        &token,
        "POST",
        "/repos/octo/hello/check-runs",
        Some(json!({"name": "x", "head_sha": SHA})),
    )
    .await;
    fake.ignore_unconsumed();
    drop(fake);
}

#[test]
fn validator_handles_refs_nullable_and_alternatives() {
    let spec = support::openapi::spec();
    let op = spec
        .find("POST", "/app/installations/5/access_tokens")
        .unwrap();
    assert_eq!(op.operation_id, "apps/create-installation-access-token");
    assert!(spec.validate(op, None).is_empty(), "body is optional");
    let errors = spec.validate(op, Some(&json!({"permissions": {"checks": "admin"}})));
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(
        errors[0].pointer, "/permissions/checks",
        "$ref to app-permissions is followed"
    );
    let schema = json!({"type": "object", "additionalProperties": false,
        "properties": {"a": {"type": "integer", "nullable": true, "minimum": 1},
                       "b": {"oneOf": [{"type": "string"}, {"type": "integer"}]}}});
    assert!(spec
        .validate_value(&schema, &json!({"a": null, "b": 3}))
        .is_empty());
    assert_eq!(
        spec.validate_value(&schema, &json!({"a": 0, "c": 1, "b": true}))
            .len(),
        3
    );
    assert_eq!(
        support::openapi::parse_rfc3339("1970-01-02T00:00:00+01:00"),
        Some(82_800)
    );
    assert_eq!(
        support::openapi::format_rfc3339(951_782_400),
        "2000-02-29T00:00:00Z"
    );
    assert!(support::openapi::parse_rfc3339("2023-02-29T00:00:00Z").is_none());
}
