//! The dashboard: server-rendered HTML from the templates in `templates/web/`, no JavaScript.
//! Every page is a handler that reads the store's read models, checks what the principal may
//! see, and renders one template inside `base.html`.

use super::auth::Principal;
use super::AppState;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use minijinja::Environment;
use serde::Serialize;

/// The templates, compiled into the binary.
const TEMPLATES: &[(&str, &str)] = &[
    (
        "base.html",
        include_str!("../../../templates/web/base.html"),
    ),
    (
        "signin.html",
        include_str!("../../../templates/web/signin.html"),
    ),
    (
        "message.html",
        include_str!("../../../templates/web/message.html"),
    ),
    (
        "setup.html",
        include_str!("../../../templates/web/setup.html"),
    ),
    (
        "setup_done.html",
        include_str!("../../../templates/web/setup_done.html"),
    ),
];

/// The template environment every page renders with (HTML autoescaping on `.html`).
pub fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    for (name, source) in TEMPLATES {
        env.add_template(name, source)
            .unwrap_or_else(|e| panic!("template {name}: {e}"));
    }
    env
}

/// What the layout needs besides the page's own data.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    pub title: String,
    /// The signed-in actor, if any.
    pub actor: Option<String>,
    pub role: Option<String>,
    /// The CSRF token every form on the page carries.
    pub csrf: String,
    pub is_admin: bool,
}

impl Page {
    pub fn anonymous(title: &str) -> Page {
        Page {
            title: title.into(),
            actor: None,
            role: None,
            csrf: String::new(),
            is_admin: false,
        }
    }

    pub fn of(state: &AppState, principal: &Principal, title: impl Into<String>) -> Page {
        Page {
            title: title.into(),
            actor: Some(principal.actor.clone()),
            role: Some(principal.role.as_str().to_owned()),
            csrf: principal.csrf(&state.auth),
            is_admin: principal.role == crate::domain::status::Role::Admin,
        }
    }
}

/// Renders `template` with the layout's `page` and the page's own `data`.
pub fn render<S: Serialize>(
    state: &AppState,
    status: StatusCode,
    template: &str,
    page: &Page,
    data: S,
) -> Response {
    let result = state.templates.get_template(template).and_then(|t| {
        t.render(minijinja::context! {
            page => minijinja::Value::from(minijinja::value::Serde(page)),
            ..minijinja::Value::from(minijinja::value::Serde(&data))
        })
    });
    match result {
        Ok(html) => (
            status,
            [
                (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            html,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(
                error = format!("{e:#}"),
                template,
                "rendering a page failed"
            );
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "the page could not be rendered; the cause is in the server's log\n",
            )
                .into_response()
        }
    }
}
