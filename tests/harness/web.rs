//! For the dashboard's tests: a project analysed for real (two pushes to `main`, the second
//! failing the gate, and a pull request with new and fixed findings), and plain HTTP with a
//! session cookie and no redirects followed.

use super::dsl::Tester;
use flext_quality::store::{AnalysisRow, FindingQuery, FindingRow, ProjectSummary};

/// The first `main`: a shell command run through a shell (Bandit: a critical security
/// finding) and an undefined name (Ruff).
pub const APP_PY: &str = r#""""Widgets."""

import subprocess


def run(command):
    return subprocess.call(command, shell=True)
"#;

pub const UTIL_PY: &str = r#""""Utilities."""

import os


def legacy_path():
    return os.path.join("a", "b") + undefined_legacy
"#;

pub const UTIL_FIXED: &str = r#""""Utilities."""

import os


def legacy_path():
    return os.path.join("a", "b")
"#;

/// What the second push to `main` adds: new findings, so its gate fails.
pub const HELPERS_PY: &str = r#""""Helpers."""

import sys


def helper():
    return missing_helper_name
"#;

/// What the pull request adds.
pub const FEATURE_PY: &str = r#""""New feature."""

import json


def feature():
    return undefined_feature_name
"#;

pub const REPO: &str = "acme/widgets";

/// The analysed project and what the pages should show of it.
pub struct Analysed {
    pub project: ProjectSummary,
    pub first_push: AnalysisRow,
    pub second_push: AnalysisRow,
    pub pr: AnalysisRow,
    /// The pull request's new findings, as the store has them.
    pub pr_new: Vec<FindingRow>,
    pub pr_fixed: Vec<FindingRow>,
    /// The check runs' "Details" links, in the order above.
    pub details_urls: Vec<Option<String>>,
    /// The pull request's comment.
    pub comment: String,
}

/// Analyses `acme/widgets` for real: push, push (failing the gate), pull request.
pub async fn analysed_project(t: &Tester) -> Analysed {
    let repo = t.repo(REPO);
    let first = repo.commit("main", &[("app.py", APP_PY), ("util.py", UTIL_PY)]);
    repo.push(None, &first).await;
    let run1 = t.expect_check_run(&first).await;
    let second = repo.commit("main", &[("helpers.py", HELPERS_PY)]);
    repo.push(Some(&first), &second).await;
    let run2 = t.expect_check_run(&second).await;
    assert_eq!(run2.conclusion.as_deref(), Some("failure"), "{run2:?}");
    let pr = repo
        .open_pr(
            1,
            &second,
            &[("feature.py", FEATURE_PY), ("util.py", UTIL_FIXED)],
        )
        .await;
    let run3 = t.expect_check_run(&pr.head).await;
    // The failed push told Slack; the pull request got its comment. Looked at here.
    t.wait_idle().await;
    let slack = t.slack().take();
    assert!(
        slack.iter().any(|m| m.text.contains("quality gate failed")),
        "{slack:?}"
    );
    let comments: Vec<String> = t
        .github()
        .issue_comments("acme", "widgets", 1)
        .into_iter()
        .map(|c| {
            t.github().consume_comment(c.id);
            c.body
        })
        .collect();
    assert_eq!(comments.len(), 1, "{comments:?}");

    let store = t.store();
    let project_id = repo.id as i64;
    let analyses = store.list_analyses(project_id).await.unwrap();
    let of = |sha: &str| {
        analyses
            .iter()
            .find(|a| a.sha == sha && a.trigger.as_str() != "base")
            .cloned()
            .unwrap_or_else(|| panic!("an analysis of {sha}: {analyses:?}"))
    };
    let pr_row = of(&pr.head);
    let findings = |state: &str| FindingQuery {
        state: Some(state.into()),
        limit: Some(200),
        ..FindingQuery::default()
    };
    let pr_new = store
        .query_findings(pr_row.id, &findings("new"))
        .await
        .unwrap();
    let pr_fixed = store
        .query_findings(pr_row.id, &findings("fixed"))
        .await
        .unwrap();
    assert!(!pr_new.is_empty(), "the pull request has new findings");
    assert!(!pr_fixed.is_empty(), "the pull request fixes a finding");
    Analysed {
        project: store
            .project_summary(project_id)
            .await
            .unwrap()
            .expect("the project"),
        first_push: of(&first),
        second_push: of(&second),
        pr: pr_row,
        pr_new,
        pr_fixed,
        details_urls: vec![run1.details_url, run2.details_url, run3.details_url],
        comment: comments.into_iter().next().unwrap_or_default(),
    }
}

/// An HTTP client that follows no redirects (the tests look at them).
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// An answer: status, `Location`, body.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub content_type: String,
    pub body: String,
    /// The body with minijinja's escaped slashes (`&#x2f;`) back as `/`, to look for text in.
    pub text: String,
}

async fn answer(r: reqwest::Response) -> Answer {
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let location = header("location");
    let content_type = header("content-type").unwrap_or_default();
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    Answer {
        status,
        location,
        content_type,
        text: body.replace("&#x2f;", "/"),
        body,
    }
}

/// `GET url` with `cookie` (a `Cookie` header value) when given.
pub async fn get(url: &str, cookie: Option<&str>) -> Answer {
    let mut req = client().get(url);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    answer(req.send().await.expect("the server answers")).await
}

/// `POST url` with a form body.
pub async fn post(url: &str, cookie: Option<&str>, form: &[(&str, &str)]) -> Answer {
    let mut req = client().post(url).form(form);
    if let Some(c) = cookie {
        req = req.header("cookie", c);
    }
    answer(req.send().await.expect("the server answers")).await
}

/// Signs in with a one-time link: the session's `Cookie` header value.
pub async fn sign_in(t: &Tester) -> String {
    let link = t.sign_in_link().await;
    let r = client().get(&link).send().await.unwrap();
    assert_eq!(r.status().as_u16(), 303, "the link signs in and redirects");
    let cookie = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("fq_session=") && !v.starts_with("fq_session=;"))
        .unwrap_or_else(|| panic!("a session cookie: {:?}", r.headers()));
    assert!(cookie.contains("Max-Age=43200"), "{cookie}");
    cookie.split(';').next().unwrap().to_owned()
}

/// The CSRF token a page's forms carry.
pub fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token");
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').unwrap()].to_owned()
}
