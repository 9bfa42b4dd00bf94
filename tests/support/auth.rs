//! Authentication in the fake GitHub, checked as strictly as GitHub does: app JWTs (RS256,
//! `iss`, `iat`, `exp` and the 10-minute lifetime limit), installation tokens (expiry and
//! per-repository access) for the REST API, and HTTP Basic auth with an installation token
//! for git over smart HTTP.

use super::app_key::unix_now;
use super::fake_github::{gh_error, json_response, lock, RepoRef, Shared, State, Token};
use super::git_server;
use super::openapi::format_rfc3339;
use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use openssl::hash::MessageDigest;
use openssl::sign::Verifier;
use serde_json::{json, Value};
use std::collections::BTreeMap;

impl State {
    pub(crate) fn new_token(
        &mut self,
        installation_id: u64,
        repos: Vec<String>,
        permissions: BTreeMap<String, String>,
    ) -> (String, i64) {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        let mut raw = [0u8; 36];
        openssl::rand::rand_bytes(&mut raw).expect("random bytes");
        let token: String = std::iter::once("ghs_".to_string())
            .chain(
                raw.iter()
                    .map(|b| (ALPHABET[*b as usize % ALPHABET.len()] as char).to_string()),
            )
            .collect();
        let expires_at = unix_now() + 3600;
        self.tokens.insert(
            token.clone(),
            Token {
                installation_id,
                repos,
                expires_at,
                permissions,
            },
        );
        self.tokens_issued += 1;
        (token, expires_at)
    }

    /// `Err` carries the GitHub-like 401 message.
    pub(crate) fn verify_jwt(&self, headers: &HeaderMap) -> Result<(), String> {
        const UNDECODABLE: &str = "A JSON web token could not be decoded";
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let Some(jwt) = auth.strip_prefix("Bearer ") else {
            return Err(
                "A JSON web token could not be decoded (expected `Authorization: Bearer <JWT>`)"
                    .into(),
            );
        };
        let parts: Vec<&str> = jwt.trim().split('.').collect();
        let [h, p, s] = parts[..] else {
            return Err(UNDECODABLE.into());
        };
        let decode = |x: &str| URL_SAFE_NO_PAD.decode(x.trim_end_matches('=')).ok();
        let header: Value = decode(h)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(UNDECODABLE)?;
        let claims: Value = decode(p)
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(UNDECODABLE)?;
        let sig = decode(s).ok_or(UNDECODABLE)?;
        if header.get("alg").and_then(Value::as_str) != Some("RS256") {
            return Err(format!("{UNDECODABLE} (alg must be RS256)"));
        }
        let mut verifier =
            Verifier::new(MessageDigest::sha256(), &self.public_key).expect("verifier");
        verifier
            .update(format!("{h}.{p}").as_bytes())
            .expect("verify");
        if !verifier.verify(&sig).unwrap_or(false) {
            return Err(format!(
                "{UNDECODABLE} (signature does not verify with the app's public key)"
            ));
        }
        let iss_ok = match claims.get("iss") {
            Some(Value::Number(n)) => n.as_u64() == Some(self.app_id),
            Some(Value::String(s)) => s.parse::<u64>().ok() == Some(self.app_id),
            _ => false,
        };
        if !iss_ok {
            return Err(format!(
                "'Issuer' claim ('iss') must be the app id {}",
                self.app_id
            ));
        }
        let now = unix_now();
        let iat = claims.get("iat").and_then(Value::as_i64).ok_or(
            "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued",
        )?;
        let exp = claims.get("exp").and_then(Value::as_i64).ok_or(
            "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires",
        )?;
        if iat > now + 60 {
            return Err(
                "'Issued at' claim ('iat') must be an Integer representing a time in the past"
                    .into(),
            );
        }
        if exp <= now {
            return Err("'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires".into());
        }
        if exp - iat > 600 || exp > now + 600 {
            return Err("'Expiration time' claim ('exp') is too far in the future".into());
        }
        Ok(())
    }

    /// The token's installation, or the status and message GitHub would answer with. `needs`
    /// is the permission the request needs (`("checks", "write")`), any of several alternatives.
    pub(crate) fn installation_auth(
        &self,
        headers: &HeaderMap,
        repo: Option<(&str, &str)>,
        needs: &[(&str, &str)],
    ) -> Result<u64, (u16, &'static str)> {
        let auth = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let token = auth
            .strip_prefix("token ")
            .or_else(|| auth.strip_prefix("Bearer "));
        let Some(token) = token.and_then(|t| self.tokens.get(t.trim())) else {
            return Err((
                401,
                if auth.is_empty() {
                    "Requires authentication"
                } else {
                    "Bad credentials"
                },
            ));
        };
        if token.expires_at <= unix_now() {
            return Err((401, "Bad credentials"));
        }
        if let Some((owner, name)) = repo {
            if !token
                .repos
                .contains(&format!("{owner}/{name}").to_ascii_lowercase())
            {
                return Err((404, "Not Found"));
            }
        }
        let granted = |(name, level): &(&str, &str)| {
            token
                .permissions
                .get(*name)
                .is_some_and(|have| have == level || (have == "write" && *level == "read"))
        };
        if !needs.is_empty() && !needs.iter().any(granted) {
            return Err((403, "Resource not accessible by integration"));
        }
        Ok(token.installation_id)
    }

    pub(crate) fn repo_ref(&self, owner: &str, name: &str) -> Option<(u64, &RepoRef)> {
        self.installations.iter().find_map(|(inst, repos)| {
            repos
                .iter()
                .find(|r| r.owner.eq_ignore_ascii_case(owner) && r.name.eq_ignore_ascii_case(name))
                .map(|r| (*inst, r))
        })
    }
}

pub(crate) async fn git_request(
    state: &Shared,
    method: &str,
    path: &str,
    query: &str,
    headers: &HeaderMap,
    body: Bytes,
) -> Response {
    let unauthorized = |text: &str| {
        let mut r = git_server::plain(StatusCode::UNAUTHORIZED, text);
        r.headers_mut().insert(
            "www-authenticate",
            "Basic realm=\"GitHub\"".parse().unwrap(),
        );
        r
    };
    let root = {
        let mut st = lock(state);
        st.git_requests += 1;
        if let Some(r) = st.take_fault(path, None) {
            return r;
        }
        let segs: Vec<&str> = path.trim_start_matches("/git/").split('/').collect();
        let (owner, name) = match segs[..] {
            [o, n, ..] if n.ends_with(".git") => (o, n.trim_end_matches(".git")),
            _ => return git_server::plain(StatusCode::NOT_FOUND, "Repository not found."),
        };
        if path.ends_with("/git-receive-pack") || query.contains("service=git-receive-pack") {
            return git_server::plain(
                StatusCode::FORBIDDEN,
                "Write access to repository not granted.",
            );
        }
        let basic = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Basic "))
            .and_then(|b| STANDARD.decode(b.trim()).ok())
            .and_then(|b| String::from_utf8(b).ok());
        let Some((_user, password)) = basic.as_deref().and_then(|b| b.split_once(':')) else {
            return unauthorized("Authentication required");
        };
        let mut h = HeaderMap::new();
        h.insert(
            "authorization",
            format!("token {password}").parse().expect("header"),
        );
        match st.installation_auth(&h, Some((owner, name)), &[("contents", "read")]) {
            Ok(_) => {}
            Err((404, _)) => {
                return git_server::plain(StatusCode::NOT_FOUND, "Repository not found.")
            }
            Err((403, _)) => {
                return git_server::plain(
                    StatusCode::FORBIDDEN,
                    "Permission to read this repository's contents not granted.",
                )
            }
            Err(_) => return unauthorized("Invalid username or token."),
        }
        st.git_root.clone()
    };
    let path_info = &path["/git".len()..];
    git_server::http_backend(
        &root,
        method,
        path_info,
        query,
        headers,
        body,
        "x-access-token",
    )
    .await
}

pub(crate) fn access_token(st: &mut State, id: &str, body: &Value, doc: &str) -> Response {
    let Some(repos) = id
        .parse()
        .ok()
        .and_then(|id: u64| st.installations.get(&id).cloned())
    else {
        return gh_error(404, "Not Found", doc);
    };
    let installation_id: u64 = id.parse().expect("checked above");
    let mut granted: Vec<&RepoRef> = repos.iter().collect();
    let names = body.get("repositories").and_then(Value::as_array);
    let ids = body.get("repository_ids").and_then(Value::as_array);
    if names.is_some() || ids.is_some() {
        let wanted_names: Vec<String> = names
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_ascii_lowercase)
            .collect();
        let wanted_ids: Vec<u64> = ids
            .into_iter()
            .flatten()
            .filter_map(Value::as_u64)
            .collect();
        granted.retain(|r| {
            wanted_names.contains(&r.name.to_ascii_lowercase()) || wanted_ids.contains(&r.id)
        });
        if granted.len() != wanted_names.len() + wanted_ids.len() {
            return gh_error(422, "There is at least one repository that does not exist or is not accessible to the parent installation.", doc);
        }
    }
    let full: Vec<String> = granted
        .iter()
        .map(|r| format!("{}/{}", r.owner, r.name).to_ascii_lowercase())
        .collect();
    let repositories: Vec<Value> = granted
        .iter()
        .map(
            |r| json!({"id": r.id, "name": r.name, "full_name": format!("{}/{}", r.owner, r.name)}),
        )
        .collect();
    let app_permissions: BTreeMap<String, String> = [
        ("checks", "write"),
        ("contents", "read"),
        ("issues", "write"),
        ("metadata", "read"),
        ("pull_requests", "write"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let mut permissions = app_permissions.clone();
    if let Some(asked) = body.get("permissions").and_then(Value::as_object) {
        permissions.clear();
        for (name, level) in asked {
            let level = level.as_str().unwrap_or("");
            let allowed = app_permissions
                .get(name)
                .is_some_and(|have| have == level || (have == "write" && level == "read"));
            if !allowed {
                return gh_error(
                    422,
                    &format!("The permissions requested are not granted to this installation ({name}: {level})."),
                    doc,
                );
            }
            permissions.insert(name.clone(), level.to_owned());
        }
    }
    st.token_requests.push(body.clone());
    let (token, expires_at) = st.new_token(installation_id, full, permissions.clone());
    let mut out = json!({
        "token": token,
        "expires_at": format_rfc3339(expires_at),
        "permissions": permissions,
        "repository_selection": "selected",
    });
    if names.is_some() || ids.is_some() {
        out["repositories"] = Value::Array(repositories);
    }
    json_response(201, &out)
}
