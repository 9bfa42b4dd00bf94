//! Who is asking. A person has a signed session cookie (set by sign-in); a script sends an API
//! key as `Authorization: Bearer …`. Either becomes a [`Principal`]: an actor name for the
//! audit log, a role, and the projects they may see. Pages answer a stranger with a redirect
//! to sign-in, the API with 401; forms and cookie-authenticated API changes carry a CSRF token.

use super::error::ApiError;
use super::AppState;
use crate::config::{OAuthSettings, WebSettings};
use crate::domain::status::Role;
use crate::store::Visible;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretBox};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::sync::Arc;

pub const SESSION_COOKIE: &str = "fq_session";
/// How long a session lasts.
pub const SESSION_MS: i64 = 12 * 3600 * 1000;
/// The header a cookie-authenticated API change carries its CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// Sign-in settings and the key sessions are signed with.
pub struct Auth {
    key: SecretBox<[u8; 32]>,
    pub admins: Vec<String>,
    /// GitHub sign-in, when the App's OAuth client is known; `/setup` sets it while running.
    oauth: std::sync::RwLock<Option<OAuthSettings>>,
    /// Cookies are `Secure` when the public URL is https.
    pub secure_cookies: bool,
}

impl Auth {
    pub fn new(settings: &WebSettings, public_url: Option<&str>) -> Auth {
        let key = match &settings.session_key {
            Some(k) => {
                let mut h = Sha256::new();
                h.update(b"flext-quality session key\0");
                h.update(k.expose_secret().as_bytes());
                h.finalize().into()
            }
            None => {
                let mut k = [0u8; 32];
                openssl::rand::rand_bytes(&mut k).expect("the system has randomness");
                k
            }
        };
        Auth {
            key: SecretBox::new(Box::new(key)),
            admins: settings.admins.clone(),
            oauth: std::sync::RwLock::new(settings.oauth.clone()),
            secure_cookies: public_url.is_some_and(|u| u.starts_with("https://")),
        }
    }

    /// GitHub sign-in's settings, if it is configured (now).
    pub fn oauth(&self) -> Option<OAuthSettings> {
        self.oauth.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Turns GitHub sign-in on (the App `/setup` created has an OAuth client).
    pub fn set_oauth(&self, oauth: OAuthSettings) {
        *self.oauth.write().unwrap_or_else(|e| e.into_inner()) = Some(oauth);
    }

    fn mac(&self, purpose: &str, data: &[u8]) -> Vec<u8> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.expose_secret())
            .expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }

    fn verify(&self, purpose: &str, data: &[u8], tag: &[u8]) -> bool {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.key.expose_secret())
            .expect("HMAC takes any key length");
        mac.update(purpose.as_bytes());
        mac.update(b"\0");
        mac.update(data);
        mac.verify_slice(tag).is_ok()
    }

    /// `payload` signed for `purpose`, as a cookie-safe string.
    pub fn sign(&self, purpose: &str, payload: &[u8]) -> String {
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(payload),
            URL_SAFE_NO_PAD.encode(self.mac(purpose, payload))
        )
    }

    /// The payload of a value [`Auth::sign`] made for `purpose`, if the signature holds.
    pub fn unsign(&self, purpose: &str, value: &str) -> Option<Vec<u8>> {
        let (payload, tag) = value.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        self.verify(purpose, &payload, &tag).then_some(payload)
    }

    /// A new session for `login`: the `Set-Cookie` value.
    pub fn session_cookie(&self, login: &str, now_ms: i64) -> String {
        let mut sid = [0u8; 16];
        openssl::rand::rand_bytes(&mut sid).expect("the system has randomness");
        let session = Session {
            login: login.to_lowercase(),
            expires: now_ms + SESSION_MS,
            sid: URL_SAFE_NO_PAD.encode(sid),
        };
        let value = self.sign(
            "session",
            &serde_json::to_vec(&session).expect("a session serialises"),
        );
        self.cookie(SESSION_COOKIE, &value, SESSION_MS / 1000)
    }

    /// A `Set-Cookie` value: `HttpOnly`, `SameSite=Lax`, for the whole site.
    pub fn cookie(&self, name: &str, value: &str, max_age_secs: i64) -> String {
        let secure = if self.secure_cookies { "; Secure" } else { "" };
        format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}")
    }

    /// The session a request's cookie holds, if it is signed by us and not expired.
    pub fn session(&self, headers: &HeaderMap, now_ms: i64) -> Option<Session> {
        let value = cookie(headers, SESSION_COOKIE)?;
        let payload = self.unsign("session", value)?;
        let session: Session = serde_json::from_slice(&payload).ok()?;
        (session.expires > now_ms).then_some(session)
    }

    /// The CSRF token of a session: forms carry it, and cookie-authenticated API changes.
    pub fn csrf_token(&self, sid: &str) -> String {
        URL_SAFE_NO_PAD.encode(self.mac("csrf", sid.as_bytes()))
    }

    pub fn csrf_ok(&self, sid: &str, token: &str) -> bool {
        URL_SAFE_NO_PAD
            .decode(token)
            .is_ok_and(|tag| self.verify("csrf", sid.as_bytes(), &tag))
    }

    pub fn is_admin(&self, login: &str) -> bool {
        self.admins.iter().any(|a| a.eq_ignore_ascii_case(login))
    }
}

/// What a session cookie says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    #[serde(rename = "l")]
    pub login: String,
    #[serde(rename = "e")]
    pub expires: i64,
    #[serde(rename = "s")]
    pub sid: String,
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// How a principal proved who they are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Via {
    /// A dashboard session (its id, which the CSRF token is bound to).
    Session {
        sid: String,
    },
    ApiKey {
        id: i64,
    },
}

/// Someone authenticated: who (for the audit log), what they may do, what they may see.
#[derive(Debug, Clone)]
pub struct Principal {
    /// A GitHub login, or `api-key:<name>`.
    pub actor: String,
    pub role: Role,
    pub visible: Visible,
    pub via: Via,
}

impl Principal {
    /// 403 unless the role allows `needed`.
    pub fn require(&self, needed: Role) -> Result<(), ApiError> {
        if self.role.allows(needed) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!(
                "this needs the {} role; {} has {}",
                needed.as_str(),
                self.actor,
                self.role.as_str()
            )))
        }
    }

    /// 404 (not 403: a stranger learns nothing) unless the project's installation is visible.
    pub fn may_see(&self, installation: Option<i64>, what: &str) -> Result<(), ApiError> {
        if self.visible.allows(installation) {
            Ok(())
        } else {
            Err(ApiError::not_found(format!("{what} does not exist")))
        }
    }

    /// The CSRF token for this principal's forms (empty for API keys, which need none).
    pub fn csrf(&self, auth: &Auth) -> String {
        match &self.via {
            Via::Session { sid } => auth.csrf_token(sid),
            Via::ApiKey { .. } => String::new(),
        }
    }

    /// Refuses a form post whose token is not this session's.
    pub fn check_csrf(&self, auth: &Auth, token: &str) -> Result<(), ApiError> {
        match &self.via {
            Via::Session { sid } if auth.csrf_ok(sid, token) => Ok(()),
            Via::Session { .. } => Err(ApiError::forbidden(
                "the form's CSRF token is missing or not this session's; reload the page",
            )),
            Via::ApiKey { .. } => Ok(()),
        }
    }
}

/// Why a request was not let in; pages redirect to sign-in, the API answers 401.
#[derive(Debug)]
pub struct Unauthenticated {
    api: bool,
    next: String,
    detail: &'static str,
}

impl IntoResponse for Unauthenticated {
    fn into_response(self) -> Response {
        if self.api {
            let mut r = ApiError::new(StatusCode::UNAUTHORIZED, "unauthenticated", self.detail)
                .into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"flext-quality\""),
            );
            r
        } else {
            Redirect::to(&format!("/signin?next={}", encode_component(&self.next))).into_response()
        }
    }
}

/// Percent-encodes everything but unreserved characters.
pub fn encode_component(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl FromRequestParts<Arc<AppState>> for Principal {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &Arc<AppState>,
    ) -> Result<Self, Self::Rejection> {
        let api = parts.uri.path().starts_with("/api/");
        let next = parts
            .uri
            .path_and_query()
            .map_or("/".to_owned(), |p| p.as_str().to_owned());
        let refuse = |detail: &'static str| {
            Unauthenticated {
                api,
                next: next.clone(),
                detail,
            }
            .into_response()
        };
        let store = &state.store;
        let now = crate::store::now_ms();

        if let Some(value) = parts.headers.get(header::AUTHORIZATION) {
            let key = value
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .ok_or_else(|| refuse("the Authorization header must be `Bearer <API key>`"))?;
            let key = store
                .authenticate_key(key)
                .await
                .map_err(|e| ApiError::internal(e).into_response())?
                .ok_or_else(|| refuse("the API key is unknown or revoked"))?;
            return Ok(Principal {
                actor: format!("api-key:{}", key.name),
                role: key.role.parse().unwrap_or(Role::Viewer),
                visible: Visible::All,
                via: Via::ApiKey { id: key.id },
            });
        }

        let session = state.auth.session(&parts.headers, now).ok_or_else(|| {
            refuse("sign in first, or send an API key as `Authorization: Bearer …`")
        })?;
        let user = store
            .user(&session.login)
            .await
            .map_err(|e| ApiError::internal(e).into_response())?
            .ok_or_else(|| refuse("this session's user no longer exists; sign in again"))?;
        let role = if state.auth.is_admin(&user.login) {
            Role::Admin
        } else {
            user.role
        };
        let principal = Principal {
            actor: user.login,
            visible: if role == Role::Admin {
                Visible::All
            } else {
                Visible::Installations(user.installations)
            },
            role,
            via: Via::Session { sid: session.sid },
        };
        // A cookie rides along on any request another site makes the browser send; an API
        // change made with one must prove it came from our own page.
        if api && !matches!(parts.method, Method::GET | Method::HEAD) {
            let token = parts
                .headers
                .get(CSRF_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("");
            principal
                .check_csrf(&state.auth, token)
                .map_err(IntoResponse::into_response)?;
        }
        Ok(principal)
    }
}
