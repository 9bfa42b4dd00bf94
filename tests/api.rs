//! The REST API over real HTTP on data made by real analyses: its answers validate against
//! its own OpenAPI document (objects closed: an undocumented field fails); strangers get 401
//! from every route; a viewer cannot change the policy and an admin can, audited; a key works
//! until revoked; bad input gets a JSON 4xx; a maintainer triggers an analysis of a branch.

mod harness;
mod support;

use flext_quality::config::Settings;
use flext_quality::domain::status::Role;
use flext_quality::store::Dialect;
use harness::dsl::{run_test, Options, Tester, INSTALLATION};
use serde_json::{json, Value};
use support::openapi::Spec;

const CONFIG: &str = "[backends]\nruff = {}\n";
const SESSION_KEY: &str = "a test server's session key";

fn with_session_key(s: &mut Settings) {
    s.web.session_key = Some(SESSION_KEY.to_owned().into());
}

/// A request to the API; the status and the JSON answer (`Null` when not JSON).
async fn call(
    t: &Tester,
    method: &str,
    path: &str,
    auth: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    let mut req = t
        .http()
        .request(method.parse().unwrap(), format!("{}{path}", t.url()));
    if let Some(key) = auth {
        req = req.header("authorization", format!("Bearer {key}"));
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn key(t: &Tester, role: Role) -> String {
    t.store()
        .create_api_key("test", &format!("{role} key"), role)
        .await
        .unwrap()
        .1
}

/// A repository with a baseline push, a failing push and a pull request: the data to read.
async fn analysed(t: &Tester) -> (i64, String) {
    let repo = t.repo("acme/widgets");
    let first = repo.commit(
        "main",
        &[("a.py", "X = 1\n"), (".flext-quality.toml", CONFIG)],
    );
    repo.push(None, &first).await;
    t.expect_check_run(&first).await;
    let second = repo.commit("main", &[("b.py", "print(missing)\nimport os\n")]);
    repo.push(Some(&first), &second).await;
    t.expect_check_run(&second).await;
    t.wait_idle().await;
    assert_eq!(
        t.slack().take().len(),
        1,
        "the failing push is told to Slack"
    );
    let project = t
        .store()
        .find_project("acme/widgets")
        .await
        .unwrap()
        .unwrap();
    (project.id, second)
}

/// Checks one answer against the document; the operation it matched.
fn conforms(spec: &Spec, method: &str, path: &str, status: u16, body: &Value) -> String {
    let path_only = path.split('?').next().unwrap();
    let op = spec
        .find(method, path_only)
        .unwrap_or_else(|| panic!("{method} {path_only} is not in the OpenAPI document"));
    let schema = spec
        .response_schema(op, status)
        .unwrap_or_else(|| panic!("{method} {path}: status {status} is not documented: {body}"));
    let errors = spec.validate_value(schema, body);
    assert!(
        errors.is_empty(),
        "{method} {path} ({status}) does not match its schema:\n{}\n{body:#}",
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join("\n")
    );
    op.operation_id.clone()
}

async fn answers_match_the_document(dialect: Dialect) {
    run_test(Options::on(dialect), |t| async move {
        let (project, sha) = analysed(&t).await;
        let admin = key(&t, Role::Admin).await;
        let (status, doc) = call(&t, "GET", "/api/v1/openapi.json", Some(&admin), None).await;
        assert_eq!(status, 200);
        assert!(
            doc["openapi"].as_str().unwrap().starts_with("3.1"),
            "{}",
            doc["openapi"]
        );
        let spec = Spec::closed(doc);

        let (_, page) = call(
            &t,
            "GET",
            &format!("/api/v1/projects/{project}/analyses"),
            Some(&admin),
            None,
        )
        .await;
        let latest = page["items"][0]["id"].as_i64().unwrap();
        assert_eq!(page["items"][0]["sha"], sha.as_str());
        let requests = [
            ("GET", "/api/v1/projects".to_owned(), None),
            ("GET", "/api/v1/projects?name=WIDG&limit=1".to_owned(), None),
            ("GET", format!("/api/v1/projects/{project}"), None),
            (
                "GET",
                format!("/api/v1/projects/{project}/analyses?limit=1"),
                None,
            ),
            ("GET", format!("/api/v1/analyses/{latest}"), None),
            (
                "GET",
                format!("/api/v1/findings?analysis={latest}&state=new"),
                None,
            ),
            (
                "GET",
                format!("/api/v1/findings?project={project}&backend=ruff&severity=major"),
                None,
            ),
            ("GET", "/api/v1/policy".to_owned(), None),
            ("GET", "/api/v1/compliance".to_owned(), None),
            (
                "PUT",
                "/api/v1/policy".to_owned(),
                Some(json!({"text": "[compliance]\nmin_grade = \"B\"\n"})),
            ),
            ("GET", "/api/v1/api-keys".to_owned(), None),
            (
                "POST",
                "/api/v1/api-keys".to_owned(),
                Some(json!({"name": "ci", "role": "viewer"})),
            ),
            ("GET", "/api/v1/audit?limit=5".to_owned(), None),
            (
                "PUT",
                "/api/v1/users/octocat/role".to_owned(),
                Some(json!({"role": "maintainer"})),
            ),
            (
                "PUT",
                format!("/api/v1/projects/{project}/settings"),
                Some(json!({"slack_webhook_url": null})),
            ),
            ("POST", "/api/v1/event-hooks".to_owned(), Some(json!({"url": "https://ci.example.com/hook?token=x", "secret": "s3cret-s3cret", "events": ["gate.changed"]}))),
            ("GET", "/api/v1/event-hooks".to_owned(), None),
            ("DELETE", "/api/v1/event-hooks/1".to_owned(), None),
            ("GET", "/api/v1/event-deliveries?limit=10".to_owned(), None),
            // Refusals are documented too.
            ("POST", "/api/v1/event-hooks".to_owned(), Some(json!({"url": "ftp://x", "secret": "s", "events": ["nope"]}))),
            ("GET", "/api/v1/projects/999999".to_owned(), None),
            ("GET", "/api/v1/projects/not-a-number".to_owned(), None),
            (
                "GET",
                "/api/v1/findings?analysis=1&state=sideways".to_owned(),
                None,
            ),
            (
                "PUT",
                "/api/v1/policy".to_owned(),
                Some(json!({"text": "[gate]\nmin_score = \"high\"\n"})),
            ),
            ("DELETE", "/api/v1/api-keys/424242".to_owned(), None),
        ];
        let mut seen = std::collections::BTreeSet::new();
        for (method, path, body) in requests {
            let (status, answer) = call(&t, method, &path, Some(&admin), body).await;
            assert!(status < 500, "{method} {path}: {status} {answer}");
            seen.insert(conforms(&spec, method, &path, status, &answer));
        }

        // What the answers say, not only their shape. A hook is shown by its host only.
        let (_, hooks) = call(&t, "GET", "/api/v1/event-hooks", Some(&admin), None).await;
        assert_eq!(hooks[0]["url_host"], "ci.example.com", "{hooks}");
        assert!(!hooks.to_string().contains("token") && !hooks.to_string().contains("s3cret"));
        let (_, audit) = call(&t, "GET", "/api/v1/audit?limit=50", Some(&admin), None).await;
        assert!(!audit.to_string().contains("token=x") && !audit.to_string().contains("s3cret"));
        let (_, projects) = call(&t, "GET", "/api/v1/projects", Some(&admin), None).await;
        let p = &projects["items"][0];
        assert_eq!(p["full_name"], "acme/widgets");
        assert_eq!(p["latest_analysis_id"].as_i64(), Some(latest));
        assert!(p["grade"].is_string() && p["score"].is_number(), "{p}");
        let (_, new) = call(
            &t,
            "GET",
            &format!("/api/v1/findings?analysis={latest}&state=new"),
            Some(&admin),
            None,
        )
        .await;
        let rules: std::collections::BTreeSet<&str> = new["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["rule"].as_str().unwrap())
            .collect();
        assert!(
            rules.contains("F821") && rules.contains("F401"),
            "{rules:?}"
        );
        let (_, one) = call(
            &t,
            "GET",
            &format!("/api/v1/findings?analysis={latest}&state=new&limit=1"),
            Some(&admin),
            None,
        )
        .await;
        let cursor = one["next_cursor"]
            .as_i64()
            .expect("a full page has a next cursor");
        let (_, rest) = call(
            &t,
            "GET",
            &format!("/api/v1/findings?analysis={latest}&state=new&cursor={cursor}"),
            Some(&admin),
            None,
        )
        .await;
        assert_eq!(
            rest["items"].as_array().unwrap().len() + 1,
            new["items"].as_array().unwrap().len()
        );

        // Every operation but the trigger (its own test) was exercised here.
        for op in spec.operations() {
            if op.operation_id != "trigger_analysis" {
                assert!(
                    seen.contains(&op.operation_id),
                    "{} was not exercised",
                    op.operation_id
                );
            }
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn answers_match_the_openapi_document_postgres() {
    answers_match_the_document(Dialect::Postgres).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn answers_match_the_openapi_document_sqlite() {
    answers_match_the_document(Dialect::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn strangers_are_refused_everywhere() {
    run_test(Options::default(), |t| async move {
        let (project, _) = analysed(&t).await;
        let admin = key(&t, Role::Admin).await;
        let (_, doc) = call(&t, "GET", "/api/v1/openapi.json", Some(&admin), None).await;
        let spec = Spec::closed(doc);
        let revoked = key(&t, Role::Admin).await;
        let id = t.store().list_api_keys().await.unwrap().last().unwrap().id;
        assert!(t.store().revoke_api_key("test", id).await.unwrap());

        let mut routes: Vec<(String, String)> = spec
            .operations()
            .iter()
            .map(|op| {
                let path = op
                    .template
                    .replace("{id}", &project.to_string())
                    .replace("{login}", "octocat")
                    .replace("{hook}", "1");
                (op.method.clone(), path)
            })
            .collect();
        routes.push(("GET".into(), "/api/v1/openapi.json".into()));
        routes.push(("POST".into(), "/api/graphql".into()));
        for (method, path) in &routes {
            for auth in [None, Some("fq_not_a_key"), Some(revoked.as_str())] {
                let (status, body) = call(&t, method, path, auth, Some(json!({}))).await;
                assert_eq!(status, 401, "{method} {path} with {auth:?}: {body}");
                assert_eq!(body["error"], "unauthenticated", "{method} {path}");
                assert!(!body["detail"].as_str().unwrap().is_empty());
            }
        }

        // Pages send a stranger to sign in, and come back after.
        let no_redirects = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        for page in [
            "/",
            &format!("/projects/{project}"),
            "/compliance",
            "/audit",
        ] {
            let resp = no_redirects
                .get(format!("{}{page}", t.url()))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), 303, "{page}");
            let to = resp.headers()["location"].to_str().unwrap().to_owned();
            assert!(to.starts_with("/signin?next=%2F"), "{page} → {to}");
        }
        // Open to all: health, readiness, the webhook (its own signature), sign-in.
        for open in ["/healthz", "/readyz", "/signin"] {
            let resp = no_redirects
                .get(format!("{}{open}", t.url()))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status().as_u16(), 200, "{open}");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn roles_decide_who_changes_the_policy_and_every_change_is_audited() {
    run_test(Options::default(), |t| async move {
        let viewer = key(&t, Role::Viewer).await;
        let maintainer = key(&t, Role::Maintainer).await;
        let admin = key(&t, Role::Admin).await;
        let policy = json!({"text": "[compliance]\nmin_grade = \"A\"\nmax_age_days = 7\n"});
        for (who, k) in [("viewer", &viewer), ("maintainer", &maintainer)] {
            let (status, body) =
                call(&t, "PUT", "/api/v1/policy", Some(k), Some(policy.clone())).await;
            assert_eq!(status, 403, "{who}: {body}");
            assert_eq!(body["error"], "forbidden");
            let (status, _) = call(&t, "GET", "/api/v1/audit", Some(k), None).await;
            assert_eq!(status, 403);
        }
        let (status, _) = call(
            &t,
            "POST",
            "/api/v1/api-keys",
            Some(&maintainer),
            Some(json!({"name": "x", "role": "admin"})),
        )
        .await;
        assert_eq!(status, 403, "a maintainer cannot mint an admin key");

        let (status, body) = call(
            &t,
            "PUT",
            "/api/v1/policy",
            Some(&admin),
            Some(policy.clone()),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["source"], "api");
        let (_, audit) = call(&t, "GET", "/api/v1/audit", Some(&admin), None).await;
        let entry = &audit["items"][0];
        assert_eq!(entry["action"], "policy.update");
        assert_eq!(entry["actor"], "api-key:admin key");
        assert_eq!(entry["after"], policy["text"]);
        // The policy in force is what analyses use next.
        let in_force = t.ctx().policy().await.unwrap();
        assert_eq!(in_force.compliance.max_age_days, Some(7));

        // An invalid policy is refused with the reason and nothing changes.
        let (status, body) = call(
            &t,
            "PUT",
            "/api/v1/policy",
            Some(&admin),
            Some(json!({"text": "[compliance]\nmin_grade = \"Z\"\n"})),
        )
        .await;
        assert_eq!(status, 400, "{body}");
        assert!(
            body["detail"].as_str().unwrap().contains("min_grade"),
            "{body}"
        );
        let (_, audit) = call(&t, "GET", "/api/v1/audit", Some(&admin), None).await;
        assert_eq!(audit["items"][0]["id"], entry["id"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_key_works_until_revoked_and_a_viewer_sees_only_their_installations() {
    run_test(
        Options {
            settings: with_session_key,
            ..Options::default()
        },
        |t| async move {
            let (project, _) = analysed(&t).await;
            let admin = key(&t, Role::Admin).await;
            let (status, created) = call(
                &t,
                "POST",
                "/api/v1/api-keys",
                Some(&admin),
                Some(json!({"name": "ci", "role": "viewer"})),
            )
            .await;
            assert_eq!(status, 201);
            let ci = created["key"].as_str().unwrap().to_owned();
            let id = created["listed"]["id"].as_i64().unwrap();
            let (status, _) = call(&t, "GET", "/api/v1/projects", Some(&ci), None).await;
            assert_eq!(status, 200);
            let (_, keys) = call(&t, "GET", "/api/v1/api-keys", Some(&admin), None).await;
            let listed = keys
                .as_array()
                .unwrap()
                .iter()
                .find(|k| k["id"] == id)
                .unwrap();
            assert!(
                listed["last_used_at"].is_i64(),
                "last use recorded: {listed}"
            );
            assert!(
                !keys.to_string().contains(&ci),
                "a key is never shown again"
            );
            let (status, _) = call(
                &t,
                "DELETE",
                &format!("/api/v1/api-keys/{id}"),
                Some(&admin),
                None,
            )
            .await;
            assert_eq!(status, 200);
            let (status, body) = call(&t, "GET", "/api/v1/projects", Some(&ci), None).await;
            assert_eq!(status, 401, "{body}");

            // A person signed in through GitHub sees the projects of the installations GitHub
            // said they can see: here, none of this one.
            let auth = flext_quality::web::auth::Auth::new(&t.settings().web, None);
            t.store()
                .sign_in("stranger", &[INSTALLATION as i64 + 1])
                .await
                .unwrap();
            let cookie = auth.session_cookie("stranger", flext_quality::store::now_ms());
            let cookie = cookie.split(';').next().unwrap().to_owned();
            let get = |path: String| {
                let cookie = cookie.clone();
                let t = t.clone();
                async move {
                    let r = t
                        .http()
                        .get(format!("{}{path}", t.url()))
                        .header("cookie", cookie)
                        .send()
                        .await
                        .unwrap();
                    (
                        r.status().as_u16(),
                        r.json::<Value>().await.unwrap_or(Value::Null),
                    )
                }
            };
            let (status, body) = get("/api/v1/projects".into()).await;
            assert_eq!(
                (status, body["items"].as_array().unwrap().len()),
                (200, 0),
                "{body}"
            );
            let (status, _) = get(format!("/api/v1/projects/{project}")).await;
            assert_eq!(
                status, 404,
                "another installation's project does not exist for them"
            );
            t.store()
                .sign_in("member", &[INSTALLATION as i64])
                .await
                .unwrap();
            let member = auth.session_cookie("member", flext_quality::store::now_ms());
            let member = member.split(';').next().unwrap().to_owned();
            let r = t
                .http()
                .get(format!("{}/api/v1/projects/{project}", t.url()))
                .header("cookie", &member)
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
            // A change with a session cookie needs the CSRF token (another site could send it).
            let r = t
                .http()
                .put(format!("{}/api/v1/policy", t.url()))
                .header("cookie", &member)
                .json(&json!({"text": ""}))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 403);
            // A forged cookie is nobody.
            let forged = flext_quality::web::auth::Auth::new(&Default::default(), None)
                .session_cookie("member", flext_quality::store::now_ms());
            let r = t
                .http()
                .get(format!("{}/api/v1/projects", t.url()))
                .header("cookie", forged.split(';').next().unwrap())
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 401);
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn bad_input_gets_a_json_4xx_with_a_reason() {
    run_test(Options::default(), |t| async move {
        let admin = key(&t, Role::Admin).await;
        let raw = |method: &str, path: &str, body: &'static str, ctype: &'static str| {
            let req = t
                .http()
                .request(method.parse().unwrap(), format!("{}{path}", t.url()))
                .header("authorization", format!("Bearer {admin}"))
                .header("content-type", ctype)
                .body(body);
            async move {
                let r = req.send().await.unwrap();
                (
                    r.status().as_u16(),
                    r.json::<Value>().await.unwrap_or(Value::Null),
                )
            }
        };
        let cases = [
            (
                "PUT",
                "/api/v1/policy",
                "{not json",
                "application/json",
                400,
            ),
            (
                "PUT",
                "/api/v1/policy",
                "{\"text\": 5}",
                "application/json",
                422,
            ),
            (
                "PUT",
                "/api/v1/policy",
                "{\"text\": \"\", \"extra\": 1}",
                "application/json",
                422,
            ),
            (
                "PUT",
                "/api/v1/policy",
                "text=x",
                "application/x-www-form-urlencoded",
                415,
            ),
            (
                "POST",
                "/api/v1/api-keys",
                "{\"name\": \"x\", \"role\": \"god\"}",
                "application/json",
                400,
            ),
            (
                "POST",
                "/api/v1/api-keys",
                "{\"name\": \"\", \"role\": \"viewer\"}",
                "application/json",
                400,
            ),
            (
                "GET",
                "/api/v1/projects?limit=many",
                "",
                "application/json",
                400,
            ),
            (
                "GET",
                "/api/v1/projects?cursor=99999999999999999999999",
                "",
                "application/json",
                400,
            ),
            ("GET", "/api/v1/analyses/-1", "", "application/json", 404),
            ("GET", "/api/v1/findings", "", "application/json", 400),
            (
                "GET",
                "/api/v1/findings?analysis=1&severity=awful",
                "",
                "application/json",
                404,
            ),
            (
                "PUT",
                "/api/v1/users/bad%20login/role",
                "{\"role\": \"admin\"}",
                "application/json",
                400,
            ),
            ("GET", "/api/v1/nothing-here", "", "application/json", 404),
        ];
        for (method, path, body, ctype, want) in cases {
            let (status, answer) = raw(method, path, body, ctype).await;
            assert_eq!(status, want, "{method} {path} {body}: {answer}");
            assert!(
                answer["error"].is_string() && answer["detail"].is_string(),
                "{method} {path}: {answer}"
            );
            assert!(!answer["detail"].as_str().unwrap().contains('\n'));
        }
        let huge = "x".repeat(3 << 20);
        let r = t
            .http()
            .put(format!("{}/api/v1/policy", t.url()))
            .header("authorization", format!("Bearer {admin}"))
            .json(&json!({"text": huge}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 413);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_maintainer_triggers_an_analysis_of_a_branch() {
    run_test(Options::default(), |t| async move {
        let repo = t.repo("acme/gadgets");
        let first = repo.commit(
            "main",
            &[("a.py", "X = 1\n"), (".flext-quality.toml", CONFIG)],
        );
        repo.push(None, &first).await;
        t.expect_check_run(&first).await;
        t.wait_idle().await;
        let feature = repo.commit("feature", &[("f.py", "print(nope)\n")]);
        repo.set_ref("refs/heads/feature", &feature);
        let project = t
            .store()
            .find_project("acme/gadgets")
            .await
            .unwrap()
            .unwrap()
            .id;
        let viewer = key(&t, Role::Viewer).await;
        let maintainer = key(&t, Role::Maintainer).await;
        let path = format!("/api/v1/projects/{project}/analyses");
        let (status, _) = call(
            &t,
            "POST",
            &path,
            Some(&viewer),
            Some(json!({"ref": "feature"})),
        )
        .await;
        assert_eq!(status, 403);
        for bad in ["--upload-pack=x", "a..b", "x y", ""] {
            let (status, body) = call(
                &t,
                "POST",
                &path,
                Some(&maintainer),
                Some(json!({"ref": bad})),
            )
            .await;
            assert_eq!(status, 400, "{bad}: {body}");
        }
        let (status, body) = call(
            &t,
            "POST",
            &path,
            Some(&maintainer),
            Some(json!({"ref": "feature"})),
        )
        .await;
        assert_eq!(status, 202, "{body}");
        let run = t.expect_check_run(&feature).await;
        assert!(run.conclusion.is_some());
        t.wait_idle().await;
        let (_, list) = call(
            &t,
            "GET",
            &format!("{path}?ref=refs/heads/feature"),
            Some(&maintainer),
            None,
        )
        .await;
        let a = &list["items"][0];
        assert_eq!(
            (a["sha"].as_str(), a["requested_by"].as_str()),
            (Some(feature.as_str()), Some("api-key:maintainer key"))
        );
        // A ref that is not there: the job gives up with the reason, nothing is analysed.
        let (status, _) = call(
            &t,
            "POST",
            &path,
            Some(&maintainer),
            Some(json!({"ref": "no-such-branch"})),
        )
        .await;
        assert_eq!(status, 202);
        t.wait_idle().await;
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn graphql_answers_what_rest_answers_and_refuses_deep_queries() {
    run_test(Options::default(), |t| async move {
        let (project, _) = analysed(&t).await;
        let viewer = key(&t, Role::Viewer).await;
        let (_, rest) = call(&t, "GET", &format!("/api/v1/projects/{project}"), Some(&viewer), None).await;
        let latest = rest["project"]["latest_analysis_id"].as_i64().unwrap();
        let (_, rest_new) = call(&t, "GET", &format!("/api/v1/findings?analysis={latest}&state=new"), Some(&viewer), None).await;
        let query = format!(
            "{{ project(id: {project}) {{ fullName grade score open {{ major minor }} sparkline
                 analyses(first: 5) {{ id sha }} }}
               findings(analysis: {latest}, state: \"new\") {{ id rule path startLine severity }} }}"
        );
        let (status, gql) = call(&t, "POST", "/api/graphql", Some(&viewer), Some(json!({"query": query}))).await;
        assert_eq!(status, 200, "{gql}");
        assert!(gql.get("errors").is_none(), "{gql}");
        let p = &gql["data"]["project"];
        let r = &rest["project"];
        assert_eq!(p["fullName"], r["full_name"]);
        assert_eq!(p["grade"], r["grade"]);
        assert_eq!(p["score"], r["score"]);
        assert_eq!(p["open"]["major"], r["open"]["major"]);
        assert_eq!(p["sparkline"], r["sparkline"]);
        assert_eq!(p["analyses"][0]["id"].as_i64(), Some(latest));
        let g: Vec<(i64, String, String, i64)> = gql["data"]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["id"].as_i64().unwrap(), f["rule"].as_str().unwrap().into(), f["path"].as_str().unwrap().into(), f["startLine"].as_i64().unwrap()))
            .collect();
        let r: Vec<(i64, String, String, i64)> = rest_new["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| (f["id"].as_i64().unwrap(), f["rule"].as_str().unwrap().into(), f["path"].as_str().unwrap().into(), f["start_line"].as_i64().unwrap()))
            .collect();
        assert_eq!(g, r);
        assert!(!g.is_empty());

        // Round and round: a project's analyses' project's analyses … is refused before it runs.
        let deep = format!(
            "{{ project(id: {project}) {{ analyses {{ project {{ analyses {{ project {{ analyses {{ project {{ fullName }} }} }} }} }} }} }} }}"
        );
        let (status, body) = call(&t, "POST", "/api/graphql", Some(&viewer), Some(json!({"query": deep}))).await;
        assert_eq!(status, 400, "{body}");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("too deep"), "{body}");
        let (status, body) = call(&t, "POST", "/api/graphql", Some(&viewer), Some(json!({"query": "{ nope }"}))).await;
        assert_eq!(status, 400, "{body}");
        // Unseen projects are null, as they are 404 in REST.
        let (_, body) = call(&t, "POST", "/api/graphql", Some(&viewer), Some(json!({"query": "{ project(id: 424242) { fullName } }"}))).await;
        assert_eq!(body["data"]["project"], Value::Null);
    })
    .await;
}
