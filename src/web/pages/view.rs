//! What every dashboard page shares: refusals answered as HTML pages (400 for a malformed id,
//! 403, 404 for what does not exist or may not be seen, 500 with the cause only in the log),
//! query parameters read without ever failing the request, and the formatting of times,
//! scores, commits and links the templates show as given.

use super::{render, Page};
use crate::web::auth::{encode_component, Principal};
use crate::web::AppState;
use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

/// Why a page is not shown; rendered as a message page with its status.
#[derive(Debug)]
pub struct Refusal {
    pub status: StatusCode,
    pub message: String,
}

impl Refusal {
    pub fn bad_request(message: impl Into<String>) -> Refusal {
        Refusal {
            status: StatusCode::BAD_REQUEST,
            message: message.into(),
        }
    }

    pub fn forbidden(message: impl Into<String>) -> Refusal {
        Refusal {
            status: StatusCode::FORBIDDEN,
            message: message.into(),
        }
    }

    pub fn not_found(message: impl Into<String>) -> Refusal {
        Refusal {
            status: StatusCode::NOT_FOUND,
            message: message.into(),
        }
    }
}

/// A failure of ours: logged with its cause, shown without it.
impl From<anyhow::Error> for Refusal {
    fn from(e: anyhow::Error) -> Refusal {
        tracing::error!(error = format!("{e:#}"), "a dashboard page failed");
        Refusal {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: "The page could not be made; the cause is in the server's log.".into(),
        }
    }
}

impl From<crate::web::error::ApiError> for Refusal {
    fn from(e: crate::web::error::ApiError) -> Refusal {
        Refusal {
            status: e.status.0,
            message: e.detail,
        }
    }
}

pub type PageResult = Result<Response, Refusal>;

/// The page, or the refusal as a page (with the layout, as the principal is signed in).
pub fn finish(state: &AppState, principal: &Principal, result: PageResult) -> Response {
    match result {
        Ok(page) => page,
        Err(r) => {
            let heading = match r.status {
                StatusCode::BAD_REQUEST => "Bad request",
                StatusCode::FORBIDDEN => "Not allowed",
                StatusCode::NOT_FOUND => "Not found",
                _ => "Something went wrong",
            };
            render(
                state,
                r.status,
                "message.html",
                &Page::of(state, principal, heading),
                minijinja::context! { heading, message => r.message, link => "/" },
            )
        }
    }
}

/// A path id: a positive integer, else 400.
pub fn parse_id(text: &str, what: &str) -> Result<i64, Refusal> {
    text.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| Refusal::bad_request(format!("`{text}` is not {what} id (a number)")))
}

/// The query string's parameters; never rejects a request (a malformed one reads as empty).
pub struct Params(pub Vec<(String, String)>);

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let pairs = Query::<Vec<(String, String)>>::from_request_parts(parts, state)
            .await
            .map(|q| q.0)
            .unwrap_or_default();
        Ok(Params(pairs))
    }
}

impl Params {
    /// The first non-empty value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, v)| k == name && !v.trim().is_empty())
            .map(|(_, v)| v.trim())
    }

    /// A cursor (an id) parameter: absent, or a positive integer, else 400.
    pub fn cursor(&self, name: &str) -> Result<Option<i64>, Refusal> {
        self.get(name).map(|v| parse_id(v, "a cursor")).transpose()
    }
}

/// `?a=1&b=x` from the pairs whose value is set, percent-encoded; empty without any.
pub fn query(pairs: &[(&str, Option<String>)]) -> String {
    let set: Vec<String> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", encode_component(v))))
        .collect();
    if set.is_empty() {
        String::new()
    } else {
        format!("?{}", set.join("&"))
    }
}

/// A moment as pages show it: relative for people, ISO 8601 for `<time datetime>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct When {
    pub iso: String,
    pub ago: String,
    /// `YYYY-MM-DD`.
    pub date: String,
}

pub fn when(ms: Option<i64>) -> Option<When> {
    let ms = ms?;
    Some(When {
        iso: iso_datetime(ms),
        ago: ago(ms, crate::store::now_ms()),
        date: iso_datetime(ms)[..10].to_owned(),
    })
}

/// `2024-05-01T12:30:00Z` (UTC) from Unix milliseconds.
pub fn iso_datetime(ms: i64) -> String {
    crate::domain::time::rfc3339(ms.div_euclid(1000))
}

/// "just now", "5 min ago", "3 h ago", "12 days ago", or the date past a year.
pub fn ago(ms: i64, now_ms: i64) -> String {
    let secs = (now_ms - ms).max(0) / 1000;
    match secs {
        0..=59 => "just now".into(),
        60..=3599 => format!("{} min ago", secs / 60),
        3600..=86_399 => format!("{} h ago", secs / 3600),
        86_400..=172_799 => "yesterday".into(),
        _ if secs < 365 * 86_400 => format!("{} days ago", secs / 86_400),
        _ => iso_datetime(ms)[..10].to_owned(),
    }
}

/// A score with one decimal, or a dash.
pub fn score_text(score: Option<f64>) -> String {
    score.map_or_else(|| "—".into(), |s| format!("{s:.1}"))
}

/// A signed change of score (`+1.5`, `−2.0`, `±0.0`), when both are known.
pub fn change_text(score: Option<f64>, base: Option<f64>) -> Option<String> {
    let d = score? - base?;
    Some(if d >= 0.05 {
        format!("+{d:.1}")
    } else if d <= -0.05 {
        format!("−{:.1}", -d)
    } else {
        "±0.0".into()
    })
}

pub fn short_sha(sha: &str) -> String {
    sha.chars().take(7).collect()
}

/// `main` from `refs/heads/main`; other refs as they are.
pub fn branch_name(head_ref: Option<&str>) -> Option<String> {
    head_ref.map(|r| r.strip_prefix("refs/heads/").unwrap_or(r).to_owned())
}

/// GitHub's web address for links people follow: `GITHUB_WEB_URL` (GitHub Enterprise, say),
/// by default the one the API URL belongs to (`https://github.com` for `https://api.github.com`).
pub fn github_web(state: &AppState) -> String {
    state.github.borrow().web_url.clone()
}

/// A link to a line of a file at a commit on GitHub.
pub fn blob_url(web: &str, full_name: &str, sha: &str, path: &str, line: i64) -> String {
    let path: Vec<String> = path.split('/').map(encode_component).collect();
    format!("{web}/{full_name}/blob/{sha}/{}#L{line}", path.join("/"))
}

/// A backend of an analysis as the project and analysis pages list it.
#[derive(Debug, Clone, Serialize)]
pub struct BackendView {
    pub name: String,
    pub version: Option<String>,
    /// `ok`, `failed`, `timed out`, `not applicable`.
    pub status: &'static str,
    pub ok: bool,
    /// Why it failed or did not apply.
    pub reason: Option<String>,
    pub time: String,
    pub findings: usize,
    pub notes: Vec<String>,
}

pub fn backend_views(reports: &[crate::analysis::engine::BackendReport]) -> Vec<BackendView> {
    use crate::analysis::engine::BackendStatus;
    reports
        .iter()
        .map(|b| {
            let (status, reason) = match &b.status {
                BackendStatus::Ok => ("ok", None),
                BackendStatus::Failed(r) => ("failed", Some(r.clone())),
                BackendStatus::TimedOut => ("timed out", None),
                BackendStatus::NotApplicable(r) => ("not applicable", Some(r.clone())),
            };
            let mut notes = b.notes.clone();
            notes.extend(b.tool_errors.iter().cloned());
            notes.extend(b.dropped.iter().cloned());
            BackendView {
                name: b.name.clone(),
                version: b.version.clone(),
                status,
                ok: b.status == BackendStatus::Ok,
                reason,
                time: duration_text(b.elapsed_ms),
                findings: b.findings,
                notes,
            }
        })
        .collect()
}

/// `850 ms`, `12.3 s`, `2 min 5 s`.
pub fn duration_text(ms: u64) -> String {
    match ms {
        0..=999 => format!("{ms} ms"),
        1000..=59_999 => format!("{:.1} s", ms as f64 / 1000.0),
        _ => format!("{} min {} s", ms / 60_000, ms % 60_000 / 1000),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_ages() {
        assert_eq!(iso_datetime(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso_datetime(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(iso_datetime(1_714_566_600_000), "2024-05-01T12:30:00Z");
        let now = 1_714_566_600_000;
        assert_eq!(ago(now - 5_000, now), "just now");
        assert_eq!(ago(now - 5 * 60_000, now), "5 min ago");
        assert_eq!(ago(now - 3 * 3_600_000, now), "3 h ago");
        assert_eq!(ago(now - 30 * 3_600_000, now), "yesterday");
        assert_eq!(ago(now - 12 * 86_400_000, now), "12 days ago");
        assert_eq!(ago(0, now), "1970-01-01");
    }

    #[test]
    fn numbers_ids_and_links() {
        assert_eq!(score_text(Some(87.25)), "87.2");
        assert_eq!(score_text(None), "—");
        assert_eq!(change_text(Some(90.0), Some(88.5)).as_deref(), Some("+1.5"));
        assert_eq!(change_text(Some(80.0), Some(82.0)).as_deref(), Some("−2.0"));
        assert_eq!(change_text(Some(80.0), None), None);
        assert!(parse_id("12", "a project").is_ok());
        for bad in ["0", "-3", "x", "1e3", "99999999999999999999"] {
            assert_eq!(
                parse_id(bad, "a project").unwrap_err().status,
                StatusCode::BAD_REQUEST
            );
        }
        assert_eq!(
            query(&[("name", Some("a b&c".into())), ("cursor", None)]),
            "?name=a%20b%26c"
        );
        assert_eq!(query(&[("cursor", None)]), "");
        assert_eq!(
            blob_url("https://github.com", "acme/w", "abc", "src/a b.py", 3),
            "https://github.com/acme/w/blob/abc/src/a%20b.py#L3"
        );
        assert_eq!(
            branch_name(Some("refs/heads/main")).as_deref(),
            Some("main")
        );
        assert_eq!(duration_text(850), "850 ms");
        assert_eq!(duration_text(12_345), "12.3 s");
        assert_eq!(duration_text(125_000), "2 min 5 s");
    }
}
