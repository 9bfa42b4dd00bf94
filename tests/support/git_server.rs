//! Git hosting for the fake GitHub: bare repositories on disk, served over the smart HTTP
//! protocol by running `git http-backend` as a CGI program, plus helpers that let tests put
//! commits into those repositories directly (never over HTTP, so pushes need no auth).
//!
//! Authentication is the fake's business (it knows the tokens); this module only runs the CGI.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use tokio::io::AsyncWriteExt;

/// Run `git` with a config isolated from the machine's and the user's, so tests do not depend
/// on whoever runs them; panics with git's stderr on failure and returns trimmed stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    git_with_env(dir, args, &[])
}

fn git_with_env(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=Fake Test",
            "-c",
            "user.email=fake@example.com",
        ])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "commit.gpgsign=false",
        ])
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .envs(env.iter().copied())
        .output()
        .expect("failed to run git");
    assert!(
        out.status.success(),
        "git {args:?} in {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Create `{root}/{owner}/{name}.git` as an empty bare repository whose HEAD is `main`.
pub fn init_bare(root: &Path, owner: &str, name: &str) -> PathBuf {
    let path = root.join(owner).join(format!("{name}.git"));
    std::fs::create_dir_all(&path).expect("create repository directory");
    git(
        &path,
        &["init", "--bare", "--quiet", "--initial-branch=main"],
    );
    path
}

/// File content that means "delete this file" in [`commit_files`].
pub const DELETED: &str = "\0flext-quality test: delete this file\0";

/// Commit `files` (path, content) on top of `branch` (or as a root commit if the branch does
/// not exist yet) straight into a bare repository and move the branch; returns the new SHA.
/// Files not listed keep their content from the parent; content [`DELETED`] removes a file.
/// Uses plumbing with a throw-away index so no work tree or clone is needed.
pub fn commit_files(bare: &Path, branch: &str, files: &[(&str, &str)], message: &str) -> String {
    let index_dir = tempfile::tempdir().expect("tempdir for index");
    let index = index_dir.path().join("index");
    let index = index.to_str().expect("utf-8 temp path");
    let env = [("GIT_INDEX_FILE", index)];
    let refname = format!("refs/heads/{branch}");
    let parent = Command::new("git")
        .current_dir(bare)
        .args([
            "rev-parse",
            "--verify",
            "--quiet",
            &format!("{refname}^{{commit}}"),
        ])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    if let Some(p) = &parent {
        git_with_env(bare, &["read-tree", p], &env);
    }
    for (path, content) in files {
        if *content == DELETED {
            // Plumbing on a bare repository: an empty work tree lets git drop the entry.
            let work = tempfile::tempdir().expect("tempdir for an empty work tree");
            let work_env = [env[0], ("GIT_WORK_TREE", work.path().to_str().unwrap())];
            git_with_env(bare, &["update-index", "--force-remove", path], &work_env);
            continue;
        }
        let blob_file = index_dir.path().join("blob");
        std::fs::write(&blob_file, content).expect("write blob");
        let blob = git(bare, &["hash-object", "-w", blob_file.to_str().unwrap()]);
        let info = format!("100644,{blob},{path}");
        git_with_env(bare, &["update-index", "--add", "--cacheinfo", &info], &env);
    }
    let tree = git_with_env(bare, &["write-tree"], &env);
    let mut args = vec!["commit-tree", tree.as_str(), "-m", message];
    if let Some(p) = &parent {
        args.extend(["-p", p.as_str()]);
    }
    let sha = git(bare, &args);
    git(bare, &["update-ref", &refname, &sha]);
    sha
}

/// Serve one smart-HTTP request with `git http-backend`.
///
/// `path_info` is the path below the project root (`/owner/name.git/info/refs`). The whole
/// body is handed over at once: pack negotiations in tests are small, and axum's body stream
/// would need an extra crate to forward piecewise.
pub async fn http_backend(
    project_root: &Path,
    method: &str,
    path_info: &str,
    query: &str,
    headers: &HeaderMap,
    body: Bytes,
    remote_user: &str,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    };
    let mut cmd = tokio::process::Command::new("git");
    cmd.arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", project_root)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_PROJECT_ROOT", project_root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GATEWAY_INTERFACE", "CGI/1.1")
        .env("SERVER_PROTOCOL", "HTTP/1.1")
        .env("REQUEST_METHOD", method)
        .env("PATH_INFO", path_info)
        .env("QUERY_STRING", query)
        .env("CONTENT_TYPE", header("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("REMOTE_USER", remote_user)
        .env("REMOTE_ADDR", "127.0.0.1");
    // CGI passes request headers as HTTP_*; git reads HTTP_GIT_PROTOCOL (protocol v2) and
    // HTTP_CONTENT_ENCODING (gzip-compressed negotiation) from there.
    for (name, value) in headers {
        if let Ok(v) = value.to_str() {
            let key = format!(
                "HTTP_{}",
                name.as_str().to_ascii_uppercase().replace('-', "_")
            );
            if key != "HTTP_AUTHORIZATION" && key != "HTTP_PROXY" {
                cmd.env(key, v);
            }
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("cannot run git http-backend: {e}"),
            )
        }
    };
    let mut stdin = child.stdin.take().expect("piped stdin");
    // Feed stdin concurrently with reading stdout, otherwise a large response could fill the
    // pipe while we are still writing and both sides would wait forever.
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&body).await;
    });
    let out = match child.wait_with_output().await {
        Ok(o) => o,
        Err(e) => {
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("git http-backend: {e}"),
            )
        }
    };
    let _ = writer.await;
    parse_cgi_output(&out.stdout).unwrap_or_else(|| {
        plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!(
                "bad CGI output from git http-backend: {}",
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    })
}

/// Turn CGI output (headers, blank line, body) into a response; `Status:` sets the code.
fn parse_cgi_output(raw: &[u8]) -> Option<Response> {
    let (head_len, sep_len) = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|p| (p, 4))
        .or_else(|| raw.windows(2).position(|w| w == b"\n\n").map(|p| (p, 2)))?;
    let head = std::str::from_utf8(&raw[..head_len]).ok()?;
    let mut status = StatusCode::OK;
    let mut builder = Response::builder();
    for line in head.lines() {
        let (name, value) = line.split_once(':')?;
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next()?.parse().ok()?;
            status = StatusCode::from_u16(code).ok()?;
        } else {
            builder = builder.header(
                HeaderName::from_bytes(name.trim().as_bytes()).ok()?,
                HeaderValue::from_str(value).ok()?,
            );
        }
    }
    let body = raw[head_len + sep_len..].to_vec();
    builder.status(status).body(Body::from(body)).ok()
}

pub(crate) fn plain(status: StatusCode, text: &str) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "text/plain; charset=utf-8")
        .body(Body::from(text.to_string()))
        .expect("valid response")
}
