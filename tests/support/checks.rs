//! The fake GitHub's check-run endpoints and the state they keep.
//!
//! Request bodies arrive here already validated against the OpenAPI description and
//! authenticated; this module adds the stateful rules (see `fake_github.rs` for the list).

use super::app_key::unix_now;
use super::fake_github::{gh_error, json_response, State};
use super::openapi::format_rfc3339;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;

/// One annotation as the app sent it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Annotation {
    pub path: String,
    pub start_line: i64,
    pub end_line: i64,
    pub start_column: Option<i64>,
    pub end_column: Option<i64>,
    pub annotation_level: String,
    pub message: String,
    pub title: Option<String>,
    pub raw_details: Option<String>,
}

/// A status/conclusion the check run went through, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusChange {
    pub status: String,
    pub conclusion: Option<String>,
    pub at: String,
}

/// Everything the fake knows about a check run.
#[derive(Debug, Clone)]
pub struct CheckRun {
    pub id: u64,
    pub owner: String,
    pub repo: String,
    pub name: String,
    pub head_sha: String,
    pub status: String,
    pub conclusion: Option<String>,
    pub started_at: Option<String>,
    pub completed_at: Option<String>,
    pub external_id: Option<String>,
    pub details_url: Option<String>,
    pub title: Option<String>,
    pub summary: Option<String>,
    pub text: Option<String>,
    pub actions: Vec<Value>,
    /// Every annotation of every create/update request, in order (GitHub appends them).
    pub annotations: Vec<Annotation>,
    pub history: Vec<StatusChange>,
    /// Number of successful PATCH requests.
    pub update_count: usize,
}

impl CheckRun {
    fn in_repo(&self, owner: &str, repo: &str) -> bool {
        self.owner.eq_ignore_ascii_case(owner) && self.repo.eq_ignore_ascii_case(repo)
    }

    fn to_json(&self, base: &str) -> Value {
        let api = format!(
            "{base}/repos/{}/{}/check-runs/{}",
            self.owner, self.repo, self.id
        );
        json!({
            "id": self.id,
            "node_id": format!("CR_{}", self.id),
            "head_sha": self.head_sha,
            "external_id": self.external_id.clone().unwrap_or_default(),
            "url": api,
            "html_url": format!("{base}/{}/{}/runs/{}", self.owner, self.repo, self.id),
            "details_url": self.details_url,
            "status": self.status,
            "conclusion": self.conclusion,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
            "name": self.name,
            "output": {
                "title": self.title,
                "summary": self.summary,
                "text": self.text,
                "annotations_count": self.annotations.len(),
                "annotations_url": format!("{api}/annotations"),
            },
            "check_suite": {"id": 5_000_000_000u64 + self.id % 1_000_000},
            "app": {"slug": "flext-quality"},
            "pull_requests": [],
        })
    }

    /// Apply the fields common to create and update; `Err` is a 422 reason.
    fn apply(&mut self, body: &Value) -> Result<(), String> {
        let s = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_string);
        let conclusion = s("conclusion");
        if let Some(status) = s("status") {
            if self.status == "completed" && status != "completed" && conclusion.is_none() {
                return Err(format!(
                    "check run {} is already completed; status cannot become {status}",
                    self.id
                ));
            }
        }
        if let Some(name) = s("name") {
            self.name = name;
        }
        self.details_url = s("details_url").or(self.details_url.take());
        self.external_id = s("external_id").or(self.external_id.take());
        self.started_at = s("started_at").or(self.started_at.take());
        let before = (self.status.clone(), self.conclusion.clone());
        if let Some(c) = conclusion {
            self.status = "completed".into();
            self.conclusion = Some(c);
            self.completed_at = s("completed_at").or_else(|| Some(format_rfc3339(unix_now())));
        } else if let Some(status) = s("status") {
            self.status = status;
        }
        if (self.status.clone(), self.conclusion.clone()) != before || self.history.is_empty() {
            self.history.push(StatusChange {
                status: self.status.clone(),
                conclusion: self.conclusion.clone(),
                at: format_rfc3339(unix_now()),
            });
        }
        if let Some(output) = body.get("output") {
            let o = |k: &str| output.get(k).and_then(Value::as_str).map(str::to_string);
            self.title = o("title").or(self.title.take());
            self.summary = o("summary").or(self.summary.take());
            self.text = o("text").or(self.text.take());
            for a in output
                .get("annotations")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let a: Annotation =
                    serde_json::from_value(a.clone()).map_err(|e| format!("annotation: {e}"))?;
                self.annotations.push(a);
            }
        }
        if let Some(actions) = body.get("actions").and_then(Value::as_array) {
            self.actions = actions.clone();
        }
        Ok(())
    }
}

/// GitHub's `per_page`/`page` pagination with a `Link` header.
pub(crate) fn paginate(
    st: &State,
    path: &str,
    q: &HashMap<String, String>,
    items: Vec<Value>,
    wrap: Option<&str>,
) -> Response {
    let per_page = q
        .get("per_page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(30usize)
        .clamp(1, 100);
    let page = q
        .get("page")
        .and_then(|p| p.parse().ok())
        .unwrap_or(1usize)
        .max(1);
    let last = items.len().div_ceil(per_page).max(1);
    let total = items.len();
    let slice: Vec<Value> = items
        .into_iter()
        .skip((page - 1) * per_page)
        .take(per_page)
        .collect();
    let body = match wrap {
        Some(key) => json!({"total_count": total, key: slice}),
        None => Value::Array(slice),
    };
    let mut resp = json_response(200, &body);
    let mut extra: Vec<String> = q
        .iter()
        .filter(|(k, _)| *k != "page" && *k != "per_page")
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    extra.sort();
    let link_to = |p: usize, rel: &str| {
        let mut qs = extra.clone();
        qs.push(format!("per_page={per_page}"));
        qs.push(format!("page={p}"));
        format!("<{}{path}?{}>; rel=\"{rel}\"", st.base_url, qs.join("&"))
    };
    let mut links = Vec::new();
    if page < last {
        links.push(link_to(page + 1, "next"));
        links.push(link_to(last, "last"));
    }
    if page > 1 {
        links.push(link_to(1, "first"));
        links.push(link_to(page - 1, "prev"));
    }
    if !links.is_empty() {
        resp.headers_mut()
            .insert("link", links.join(", ").parse().expect("link header"));
    }
    resp
}

/// `Err` is the 422 reason GitHub gives for a SHA it does not know.
fn resolve_commit(st: &State, owner: &str, repo: &str, rev: &str) -> Result<String, String> {
    let bare = st.git_root.join(owner).join(format!("{repo}.git"));
    let full_sha = rev.len() == 40
        && rev
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    if !bare.exists() {
        return if full_sha {
            Ok(rev.to_string())
        } else {
            Err(format!("No commit found for SHA: {rev}"))
        };
    }
    let out = std::process::Command::new("git")
        .current_dir(&bare)
        .args([
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{rev}^{{commit}}"),
        ])
        .output()
        .map_err(|e| format!("git: {e}"))?;
    let resolved = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if out.status.success() && (!full_sha || resolved == rev) {
        Ok(resolved)
    } else {
        Err(format!("No commit found for SHA: {rev}"))
    }
}

/// Route check-run and comment requests; `None` when the path is not one of them.
pub(crate) fn route(
    st: &mut State,
    method: &str,
    segs: &[&str],
    q: &HashMap<String, String>,
    body: &Value,
    doc: &str,
) -> Option<Response> {
    let path = format!("/{}", segs.join("/"));
    let base = st.base_url.clone();
    let not_found = || gh_error(404, "Not Found", doc);
    let unprocessable = |st: &mut State, reason: String| {
        st.violation(method, &path, &reason);
        gh_error(422, &format!("Invalid request.\n\n{reason}"), doc)
    };
    let resp = match (method, segs) {
        ("POST", ["repos", owner, repo, "check-runs"]) => {
            let head_sha = body["head_sha"].as_str().unwrap_or_default().to_string();
            if let Err(reason) = resolve_commit(st, owner, repo, &head_sha) {
                return Some(unprocessable(st, reason));
            }
            let id = st.next_check_run_id;
            let mut run = CheckRun {
                id,
                owner: owner.to_string(),
                repo: repo.to_string(),
                name: body["name"].as_str().unwrap_or_default().to_string(),
                head_sha,
                status: "queued".into(),
                conclusion: None,
                started_at: Some(format_rfc3339(unix_now())),
                completed_at: None,
                external_id: None,
                details_url: None,
                title: None,
                summary: None,
                text: None,
                actions: Vec::new(),
                annotations: Vec::new(),
                history: Vec::new(),
                update_count: 0,
            };
            if let Err(reason) = run.apply(body) {
                return Some(unprocessable(st, reason));
            }
            st.next_check_run_id += 1;
            let out = run.to_json(&base);
            st.check_runs.insert(id, run);
            json_response(201, &out)
        }
        ("PATCH" | "GET", ["repos", owner, repo, "check-runs", id]) => {
            let id = id.parse().unwrap_or(0);
            let Some(run) = st.check_runs.get(&id).filter(|r| r.in_repo(owner, repo)) else {
                return Some(not_found());
            };
            if method == "GET" {
                return Some(json_response(200, &run.to_json(&base)));
            }
            let mut updated = run.clone();
            if let Err(reason) = updated.apply(body) {
                return Some(unprocessable(st, reason));
            }
            updated.update_count += 1;
            let out = updated.to_json(&base);
            st.check_runs.insert(id, updated);
            json_response(200, &out)
        }
        ("GET", ["repos", owner, repo, "check-runs", id, "annotations"]) => {
            let id = id.parse().unwrap_or(0);
            let Some(run) = st.check_runs.get(&id).filter(|r| r.in_repo(owner, repo)) else {
                return Some(not_found());
            };
            let items = run
                .annotations
                .iter()
                .map(|a| {
                    json!({
                        "path": a.path, "start_line": a.start_line, "end_line": a.end_line,
                        "start_column": a.start_column, "end_column": a.end_column,
                        "annotation_level": a.annotation_level, "title": a.title,
                        "message": a.message, "raw_details": a.raw_details,
                        "blob_href": format!("{base}/{owner}/{repo}/blob/{}/{}", run.head_sha, a.path),
                    })
                })
                .collect();
            paginate(st, &path, q, items, None)
        }
        ("GET", ["repos", owner, repo, "commits", rev, "check-runs"]) => {
            let sha = match resolve_commit(st, owner, repo, rev) {
                Ok(sha) => sha,
                Err(reason) => return Some(gh_error(422, &reason, doc)),
            };
            let mut runs: Vec<&CheckRun> = st
                .check_runs
                .values()
                .filter(|r| r.in_repo(owner, repo) && r.head_sha == sha)
                .filter(|r| q.get("check_name").is_none_or(|n| &r.name == n))
                .filter(|r| q.get("status").is_none_or(|s| &r.status == s))
                .collect();
            // `filter=latest` (the default) keeps only the newest run of each name.
            if q.get("filter").map(String::as_str) != Some("all") {
                let newest: HashMap<&str, u64> = runs.iter().fold(HashMap::new(), |mut m, r| {
                    let e = m.entry(r.name.as_str()).or_insert(r.id);
                    *e = (*e).max(r.id);
                    m
                });
                runs.retain(|r| newest[r.name.as_str()] == r.id);
            }
            runs.sort_by_key(|r| std::cmp::Reverse(r.id));
            let items = runs.iter().map(|r| r.to_json(&base)).collect();
            paginate(st, &path, q, items, Some("check_runs"))
        }
        _ => return None,
    };
    Some(resp)
}
