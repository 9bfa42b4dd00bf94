//! The dashboard's pages over real HTTP against the whole app: every page answers 200 with
//! data from real analyses (real tools, a real database of each engine) and valid, accessible
//! HTML; a stranger is sent to sign in from every page; a viewer of one installation sees
//! nothing of another's; the audit log and API keys are an admin's; a form without the
//! session's CSRF token is refused; creating and revoking a key is audited; the compliance
//! CSV is escaped. (The same pages in a real browser: `tests/browser.rs`.)

mod harness;
mod support;

use flext_quality::web::auth::encode_component;
use harness::dsl::{run_test, Options, Tester, INSTALLATION};
use harness::html::{assert_valid, problems};
use harness::web::{analysed_project, csrf_of, get, post, sign_in, Answer, REPO};

fn ok_page(what: &str, a: &Answer) {
    assert_eq!(a.status, 200, "{what}: {}", a.body);
    assert!(
        a.content_type.starts_with("text/html"),
        "{what}: {}",
        a.content_type
    );
    assert_valid(what, &a.body);
}

/// Every page with the data of real analyses, on either database.
async fn pages_show_real_analyses(mut options: Options) {
    options.settings = |s| s.public_url = Some("http://quality.invalid".into());
    run_test(options, |t| async move {
        let data = analysed_project(&t).await;
        let admin = sign_in(&t).await;
        let cookie = Some(admin.as_str());
        let url = |path: &str| format!("{}{path}", t.url());
        let p = &data.project;
        let grade = p.grade.clone().expect("graded");
        let score = format!("{:.1}", p.score.expect("scored"));

        // The check runs' Details links point at the analysis pages.
        for (a, details) in [&data.first_push, &data.second_push, &data.pr]
            .iter()
            .zip(&data.details_urls)
        {
            assert_eq!(
                details.as_deref(),
                Some(format!("http://quality.invalid/analyses/{}", a.id).as_str())
            );
        }

        // So does the pull request comment's dashboard link.
        let dashboard = format!("(http://quality.invalid/analyses/{})", data.pr.id);
        assert!(data.comment.contains(&dashboard), "{}", data.comment);

        let home = get(&url("/"), cookie).await;
        ok_page("/", &home);
        for expected in [
            REPO,
            &format!("grade grade-{grade}\">{grade}</span>"),
            &score,
            "class=\"chart spark\"",
            "Score trend over the last 2 analyses",
            "✗<span class=\"word\"> failed</span>",
            "failing the gate",
        ] {
            assert!(home.text.contains(expected), "/ lacks {expected}:\n{}", home.text);
        }
        for query in ["?sort=-score", "?sort=grade", "?sort=analysed", "?name=WIDG"] {
            let page = get(&url(&format!("/{query}")), cookie).await;
            ok_page(query, &page);
            assert!(page.text.contains(REPO), "{query}");
        }
        let none = get(&url("/?name=no-such-project"), cookie).await;
        ok_page("/?name=…", &none);
        assert!(!none.text.contains(&format!(">{REPO}<")));
        assert!(none.text.contains("No project’s name contains"));

        let project = get(&url(&format!("/projects/{}", p.id)), cookie).await;
        ok_page("project", &project);
        for expected in [
            "<svg class=\"chart history\"",
            "role=\"img\" aria-label=\"Score of acme/widgets on main over time: 2 analyses, 1 with the gate failed",
            "class=\"fail-mark\"",
            "Security",
            "app.py",
            "helpers.py",
            "bandit",
            "ruff",
            &format!("/analyses/{}", data.pr.id),
            "PR #1",
            "&quot;gate&quot;",
        ] {
            assert!(project.text.contains(expected), "project lacks {expected}:\n{}", project.text);
        }

        let pr = get(&url(&format!("/analyses/{}", data.pr.id)), cookie).await;
        ok_page("PR analysis", &pr);
        let web = t.github().url();
        for f in data.pr_new.iter().chain(&data.pr_fixed) {
            assert!(pr.text.contains(&f.rule), "the analysis page lacks rule {}", f.rule);
        }
        let new = &data.pr_new[0];
        let link = format!(
            "{web}/{REPO}/blob/{}/{}#L{}",
            data.pr.sha, new.path, new.start_line
        );
        assert!(pr.text.contains(&link), "{link} in:\n{}", pr.text);
        let fixed = &data.pr_fixed[0];
        let compared = data.pr.compared_sha.as_deref().expect("compared");
        assert!(pr.text.contains(&format!("{web}/{REPO}/blob/{compared}/{}#L", fixed.path)));
        for expected in ["Quality gate", "✗ failed", "Timings", "analyse", "Fixed findings"] {
            assert!(pr.text.contains(expected), "the PR analysis lacks {expected}");
        }
        for a in [&data.first_push, &data.second_push] {
            ok_page("push analysis", &get(&url(&format!("/analyses/{}", a.id)), cookie).await);
        }

        let compliance = get(&url("/compliance"), cookie).await;
        ok_page("/compliance", &compliance);
        assert!(compliance.text.contains(REPO));
        assert!(compliance.text.contains("open critical security finding"), "{}", compliance.text);
        let json = get(&url("/compliance.json"), cookie).await;
        assert_eq!(json.status, 200);
        let json: serde_json::Value = serde_json::from_str(&json.body).unwrap();
        let row = &json["projects"][0];
        assert_eq!(row["full_name"], REPO);
        assert_eq!(row["grade"], grade.as_str());
        assert_eq!(row["compliant"], false);
        assert!(row["open_critical_security"].as_i64().unwrap() >= 1, "{row}");
        let csv = get(&url("/compliance.csv"), cookie).await;
        assert_eq!(csv.status, 200);
        assert!(csv.content_type.starts_with("text/csv"));
        assert!(csv.body.starts_with("project_id,full_name,grade,score"));
        assert!(csv.text.contains(&format!("{},{REPO},{grade},", p.id)), "{}", csv.body);

        ok_page("/audit", &get(&url("/audit"), cookie).await);
        ok_page("/settings/api-keys", &get(&url("/settings/api-keys"), cookie).await);

        // Malformed ids are 400 pages; unknown ones 404 pages; never a 500.
        for (path, status) in [
            ("/projects/abc", 400),
            ("/projects/0", 400),
            ("/analyses/-1", 400),
            ("/analyses/1e9", 400),
            ("/?cursor=x", 400),
            (&format!("/projects/{}?cursor=nope", p.id), 400),
            ("/projects/999999999", 404),
            ("/analyses/999999999", 404),
        ] {
            let a = get(&url(path), cookie).await;
            assert_eq!(a.status, status, "{path}: {}", a.body);
            assert!(a.content_type.starts_with("text/html"), "{path}");
            assert_valid(path, &a.body);
        }
    })
    .await;
}

on_both_databases!(pages_show_real_analyses);

const OTHER_INSTALLATION: i64 = 88;

/// Projects and an analysis put in the database directly: no analysis runs.
async fn seed(t: &Tester) {
    let i = INSTALLATION as i64;
    let rows = [
        format!("INSERT INTO projects (id, installation_id, full_name, default_branch, clone_url, created_at, updated_at) VALUES (501, {i}, 'acme/visible', 'main', '', 0, 0)"),
        format!("INSERT INTO projects (id, installation_id, full_name, default_branch, clone_url, created_at, updated_at) VALUES (502, {OTHER_INSTALLATION}, 'other/secret', 'main', '', 0, 0)"),
        format!("INSERT INTO projects (id, installation_id, full_name, default_branch, clone_url, created_at, updated_at) VALUES (503, {i}, '=cmd|x,\"quoted\"\nline <script>alert(1)</script>', 'main', '', 0, 0)"),
        "INSERT INTO analyses (id, project_id, sha, trigger, status, queued_at, completed_at, score, grade, verdict) VALUES (9001, 502, 'abc', 'push', 'completed', 0, 0, 50.0, 'D', 'failure')".into(),
        "UPDATE projects SET latest_analysis_id = 9001 WHERE id = 502".into(),
    ];
    for sql in rows {
        t.store().execute_admin(&sql).await.unwrap();
    }
}

const PAGES: &[&str] = &[
    "/",
    "/?name=acme&sort=-score",
    "/projects/501",
    "/analyses/9001",
    "/compliance",
    "/compliance.csv",
    "/compliance.json",
    "/audit",
    "/settings/api-keys",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn who_sees_what() {
    run_test(Options::default(), |t| async move {
        seed(&t).await;
        let url = |path: &str| format!("{}{path}", t.url());

        // A stranger is sent to sign in, back to the page asked for; forms too.
        for path in PAGES {
            let a = get(&url(path), None).await;
            assert_eq!(a.status, 303, "{path}");
            assert_eq!(
                a.location.as_deref(),
                Some(format!("/signin?next={}", encode_component(path)).as_str()),
                "{path}"
            );
        }
        for path in ["/settings/api-keys", "/settings/api-keys/1/revoke"] {
            let a = post(&url(path), None, &[("name", "x"), ("role", "viewer")]).await;
            assert_eq!(a.status, 303, "POST {path}");
        }
        // A forged or expired session is a stranger too.
        let a = get(&url("/"), Some("fq_session=forged.value")).await;
        assert_eq!(a.status, 303);

        // A viewer of installation A sees A's projects only; B's are not found.
        let viewer = t.session_cookie("octocat", &[INSTALLATION as i64]).await;
        let viewer = Some(viewer.as_str());
        let home = get(&url("/"), viewer).await;
        ok_page("viewer /", &home);
        assert!(home.text.contains("acme/visible"));
        assert!(!home.text.contains("other/secret"));
        assert!(
            home.text.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "escaped"
        );
        assert!(!home.text.contains("<script>alert"), "never raw");
        ok_page("viewer project", &get(&url("/projects/501"), viewer).await);
        for path in ["/projects/502", "/analyses/9001"] {
            let a = get(&url(path), viewer).await;
            assert_eq!(a.status, 404, "{path}: {}", a.body);
            assert!(!a.text.contains("other/secret"));
            assert_valid(path, &a.body);
        }
        for path in ["/compliance", "/compliance.csv", "/compliance.json"] {
            let a = get(&url(path), viewer).await;
            assert_eq!(a.status, 200, "{path}");
            assert!(a.text.contains("acme/visible"), "{path}");
            assert!(!a.text.contains("other/secret"), "{path}");
        }
        let totals = &home.text
            [home.text.find("<h1>").unwrap()..home.text.find("class=\"filter\"").unwrap()];
        assert!(
            totals.contains("<div class=\"big\">2</div>projects"),
            "{totals}"
        );

        // The audit log and the API keys are for admins.
        for path in ["/audit", "/settings/api-keys"] {
            let a = get(&url(path), viewer).await;
            assert_eq!(a.status, 403, "{path}");
            assert!(a.text.contains("is for admins"), "{path}");
            assert_valid(path, &a.body);
        }
        let token = csrf_of(&home.body);
        let a = post(
            &url("/settings/api-keys"),
            viewer,
            &[("csrf", &token), ("name", "ci"), ("role", "admin")],
        )
        .await;
        assert_eq!(a.status, 403, "a viewer cannot make a key");

        // An admin: the other installation's project, and the escaped CSV.
        let admin = harness::web::sign_in(&t).await;
        let admin = Some(admin.as_str());
        ok_page(
            "admin /projects/502",
            &get(&url("/projects/502"), admin).await,
        );
        ok_page(
            "admin /analyses/9001",
            &get(&url("/analyses/9001"), admin).await,
        );
        let csv = get(&url("/compliance.csv"), admin).await;
        assert!(
            csv.text.contains(
                "503,\"'=cmd|x,\"\"quoted\"\"\nline <script>alert(1)</script>\",,,,0,false,"
            ),
            "{}",
            csv.body
        );
        assert!(csv
            .text
            .contains("502,other/secret,D,50.0,1970-01-01T00:00:00Z,0,false,"));

        // Forms without the session's CSRF token are refused, and change nothing.
        let keys_page = get(&url("/settings/api-keys"), admin).await;
        ok_page("/settings/api-keys", &keys_page);
        let token = csrf_of(&keys_page.body);
        for bad in ["", "not-the-token", &csrf_of(&home.body)] {
            let a = post(
                &url("/settings/api-keys"),
                admin,
                &[("csrf", bad), ("name", "ci"), ("role", "viewer")],
            )
            .await;
            assert_eq!(a.status, 403, "csrf `{bad}`: {}", a.body);
            assert!(a.text.contains("CSRF"));
        }
        assert!(t.store().list_api_keys().await.unwrap().is_empty());

        // Create: the key is shown once, and audited.
        let created = post(
            &url("/settings/api-keys"),
            admin,
            &[
                ("csrf", &token),
                ("name", "ci <bot>"),
                ("role", "maintainer"),
            ],
        )
        .await;
        assert_eq!(created.status, 201, "{}", created.body);
        assert_valid("created", &created.body);
        let keys = t.store().list_api_keys().await.unwrap();
        assert_eq!(keys.len(), 1);
        let key_start = created.body.find("value=\"fq_").expect("the key is shown") + 7;
        let key =
            &created.body[key_start..key_start + created.body[key_start..].find('"').unwrap()];
        assert!(key.starts_with(&keys[0].prefix));
        assert!(created.text.contains("ci &lt;bot&gt;"));
        assert!(t.store().authenticate_key(key).await.unwrap().is_some());
        let listed = get(&url("/settings/api-keys"), admin).await;
        assert!(!listed.text.contains(key), "shown only once");

        // Bad input is a 400 page.
        for (name, role) in [("", "viewer"), ("ci", "owner")] {
            let a = post(
                &url("/settings/api-keys"),
                admin,
                &[("csrf", &token), ("name", name), ("role", role)],
            )
            .await;
            assert_eq!(a.status, 400, "{name:?} {role:?}");
        }

        // Revoke: audited, the key no longer works; again is a 404; a bad id a 400.
        let id = keys[0].id;
        let revoke = url(&format!("/settings/api-keys/{id}/revoke"));
        assert_eq!(post(&revoke, admin, &[]).await.status, 403, "no CSRF token");
        let a = post(&revoke, admin, &[("csrf", &token)]).await;
        assert_eq!(a.status, 303, "{}", a.body);
        assert_eq!(
            a.location.as_deref(),
            Some(format!("/settings/api-keys?revoked={id}").as_str())
        );
        assert!(t.store().authenticate_key(key).await.unwrap().is_none());
        assert_eq!(post(&revoke, admin, &[("csrf", &token)]).await.status, 404);
        let bad = post(
            &url("/settings/api-keys/x/revoke"),
            admin,
            &[("csrf", &token)],
        )
        .await;
        assert_eq!(bad.status, 400);

        let audit = t.store().list_audit(None, 50).await.unwrap();
        let actions: Vec<(&str, &str, &str)> = audit
            .iter()
            .map(|e| (e.actor.as_str(), e.action.as_str(), e.target.as_str()))
            .collect();
        let target = id.to_string();
        assert!(
            actions.contains(&("local-admin", "api_key.create", target.as_str())),
            "{actions:?}"
        );
        assert!(
            actions.contains(&("local-admin", "api_key.revoke", target.as_str())),
            "{actions:?}"
        );
        let page = get(&url("/audit"), admin).await;
        ok_page("/audit", &page);
        assert!(page.text.contains("api_key.revoke") && page.text.contains("api_key.create"));
    })
    .await;
}

#[test]
fn the_html_checks_find_what_they_look_for() {
    let good = r#"<!doctype html><html lang="en"><head><style>a > b {}</style></head><body>
        <h1>T</h1><img src="x" alt=""><label for="n">Name</label><input id="n" name="n">
        <input type="hidden" name="csrf" value="x"><select aria-label="Role"></select>
        <table><tr><th>a</th></tr></table><svg role="img" aria-label="c"><path d="M0 0"/></svg>
        <br></body></html>"#;
    assert_eq!(problems(good), Vec::<String>::new());
    let bad = r#"<html><body><h1>a</h1><h1>b</h1><img src="x"><input id="q" name="q">
        <table><tr><td>x</td></tr></table><svg role="img"></svg><p id="q"><b></p></body></html>"#;
    let p = problems(bad).join("\n");
    for expected in [
        "no lang",
        "2 <h1>",
        "<img> without alt",
        "<input> without a label",
        "<table> without <th>",
        "<svg role=img> without aria-label",
        "duplicate id `q`",
        "</p> closes <b>",
    ] {
        assert!(p.contains(expected), "{expected} in:\n{p}");
    }
}

/// Every list is paginated through the store's cursor: 50 projects a page, 20 analyses,
/// 50 findings, 50 audit entries — each "next" link leads to the rest and no further.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lists_are_paginated() {
    run_test(Options::default(), |t| async move {
        seed(&t).await;
        let i = INSTALLATION as i64;
        let store = t.store();
        // 52 more projects (54 visible to a viewer of INSTALLATION with 501 and 503).
        let values: Vec<String> = (0..52)
            .map(|n| format!("({}, {i}, 'bulk/p-{n:02}', 'main', '', 0, 0)", 1000 + n))
            .collect();
        store
            .execute_admin(&format!(
                "INSERT INTO projects (id, installation_id, full_name, default_branch, clone_url, created_at, updated_at) VALUES {}",
                values.join(", ")
            ))
            .await
            .unwrap();
        // 24 more analyses of project 502 (25 in all).
        let values: Vec<String> = (0..24)
            .map(|n| format!("({}, 502, 'sha{n}', 'push', 'completed', {n}, {n}, 60.0, 'C', 'success')", 9100 + n))
            .collect();
        store
            .execute_admin(&format!(
                "INSERT INTO analyses (id, project_id, sha, trigger, status, queued_at, completed_at, score, grade, verdict) VALUES {}",
                values.join(", ")
            ))
            .await
            .unwrap();
        // 55 new findings of analysis 9001, 3 of them critical or blocker security ones.
        let values: Vec<String> = (0..55)
            .map(|n| {
                let (category, severity, rule) = match n {
                    0 => ("security", "critical", "B602"),
                    1 => ("security", "blocker", "B999"),
                    2 => ("security", "critical", "B307"),
                    _ => ("reliability", "major", "F821"),
                };
                format!(
                    "(9001, 'fp{n}', 'ruff', '{rule}', '{category}', '{severity}', 'src/m{n:02}.py', {n}, {n}, 'message {n}', 5, 1)"
                )
            })
            .collect();
        store
            .execute_admin(&format!(
                "INSERT INTO findings (analysis_id, fingerprint, backend, rule, category, severity, path, start_line, end_line, message, effort_minutes, is_new) VALUES {}",
                values.join(", ")
            ))
            .await
            .unwrap();
        let values: Vec<String> = (0..55)
            .map(|n| format!("({n}, 'someone', 'test.entry', 'target-{n:02}', NULL, 'value {n}')"))
            .collect();
        store
            .execute_admin(&format!(
                "INSERT INTO audit_log (at, actor, action, target, before_value, after_value) VALUES {}",
                values.join(", ")
            ))
            .await
            .unwrap();

        let url = |path: &str| format!("{}{path}", t.url());
        let admin = harness::web::sign_in(&t).await;
        let admin = Some(admin.as_str());
        let rows = |html: &str, needle: &str| html.matches(needle).count();
        let next_link = |a: &Answer, label: &str| -> Option<String> {
            let at = a.text.find(&format!("\">{label}</a>"))?;
            let start = a.text[..at].rfind("href=\"")? + 6;
            let end = start + a.text[start..].find('"')?;
            Some(a.text[start..end].replace("&amp;", "&"))
        };

        // Projects: a viewer sees 54; 50, then 4.
        let viewer = t.session_cookie("octocat", &[i]).await;
        let viewer = Some(viewer.as_str());
        let first = get(&url("/?sort=-name"), viewer).await;
        ok_page("/ page 1", &first);
        assert_eq!(rows(&first.text, "<td><a href=\"/projects/"), 50);
        let next = next_link(&first, "Next page").expect("a next page");
        assert!(next.contains("sort=-name") && next.contains("cursor="), "{next}");
        let second = get(&url(&next), viewer).await;
        ok_page("/ page 2", &second);
        assert_eq!(rows(&second.text, "<td><a href=\"/projects/"), 4, "{}", second.text);
        assert!(next_link(&second, "Next page").is_none());
        assert!(next_link(&second, "First page").is_some());
        assert!(!first.text.contains("other/secret") && !second.text.contains("other/secret"));
        let totals = &first.text[first.text.find("<h1>").unwrap()..];
        assert!(totals.contains("<div class=\"big\">54</div>projects"), "totals over every page");

        // Analyses of a project: 20, then 5.
        let project = get(&url("/projects/502"), admin).await;
        ok_page("/projects/502", &project);
        assert_eq!(rows(&project.text, "<td><a href=\"/analyses/"), 20);
        let older = next_link(&project, "Older analyses").expect("older analyses");
        let rest = get(&url(&older), admin).await;
        ok_page("older analyses", &rest);
        assert_eq!(rows(&rest.text, "<td><a href=\"/analyses/"), 5);
        assert!(next_link(&rest, "Older analyses").is_none());
        // The chart has every completed default-branch analysis; 25 points, none failed but 9001.
        assert!(project.text.contains("25 analyses, 1 with the gate failed"), "{}", project.text);

        // Findings of an analysis: 50 new (and 50 open), then 5.
        let analysis = get(&url("/analyses/9001"), admin).await;
        ok_page("/analyses/9001", &analysis);
        let more = next_link(&analysis, "More new findings").expect("more new findings");
        assert!(more.ends_with("#new"), "{more}");
        let rest = get(&url(&more), admin).await;
        ok_page("more new findings", &rest);
        let new_section = |html: &str| {
            let s = html.find("id=\"new\"").unwrap();
            let e = html.find("id=\"fixed\"").unwrap();
            html[s..e].matches("class=\"message\"").count()
        };
        assert_eq!(new_section(&analysis.text), 50);
        assert_eq!(new_section(&rest.text), 5);

        // The grouped count of open critical security findings, by visibility.
        let json = get(&url("/compliance.json"), admin).await;
        let json: serde_json::Value = serde_json::from_str(&json.body).unwrap();
        let secret = json["projects"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["full_name"] == "other/secret")
            .expect("an admin sees every installation");
        assert_eq!(secret["open_critical_security"], 3);
        assert!(secret["violations"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!("3 open critical security findings")));
        assert_eq!(json["projects"].as_array().unwrap().len(), 55);

        // The audit log (the 55 entries and the sign-in link's admin grant): 50, then 6.
        let audit = get(&url("/audit"), admin).await;
        ok_page("/audit", &audit);
        assert_eq!(rows(&audit.text, "<tr>\n    <td><time"), 50);
        assert!(audit.text.contains("<code>role.grant</code>"));
        assert_eq!(rows(&audit.text, "<code>test.entry</code>"), 49);
        let older = next_link(&audit, "Older entries").expect("older entries");
        let rest = get(&url(&older), admin).await;
        assert_eq!(rows(&rest.text, "<code>test.entry</code>"), 6);
        assert!(next_link(&rest, "Older entries").is_none());
        assert!(rest.text.contains("target-00") && !rest.text.contains("target-54"));
    })
    .await;
}
