//! The dashboard: server-rendered HTML from the templates in `templates/web/`, no JavaScript.
//! Every page is a handler that reads the store's read models, checks what the principal may
//! see, and renders one template inside `base.html`.

pub mod analysis;
pub mod api_keys;
pub mod audit;
pub mod charts;
pub mod compliance;
pub mod ecosystem;
pub mod project;
mod view;

pub use view::*;

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
    (
        "verdict.html",
        include_str!("../../../templates/web/verdict.html"),
    ),
    (
        "analyses_table.html",
        include_str!("../../../templates/web/analyses_table.html"),
    ),
    (
        "backends_table.html",
        include_str!("../../../templates/web/backends_table.html"),
    ),
    (
        "ecosystem.html",
        include_str!("../../../templates/web/ecosystem.html"),
    ),
    (
        "project.html",
        include_str!("../../../templates/web/project.html"),
    ),
    (
        "analysis.html",
        include_str!("../../../templates/web/analysis.html"),
    ),
    (
        "compliance.html",
        include_str!("../../../templates/web/compliance.html"),
    ),
    (
        "audit.html",
        include_str!("../../../templates/web/audit.html"),
    ),
    (
        "api_keys.html",
        include_str!("../../../templates/web/api_keys.html"),
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

#[cfg(test)]
mod tests {
    use super::*;

    /// WCAG 2.1 relative luminance of `#rrggbb` (or `#rgb`).
    fn luminance(hex: &str) -> f64 {
        let h = hex.trim_start_matches('#');
        let h: String = if h.len() == 3 {
            h.chars().flat_map(|c| [c, c]).collect()
        } else {
            h.to_owned()
        };
        let channel = |i: usize| {
            let c = f64::from(u8::from_str_radix(&h[i..i + 2], 16).expect("hex colour")) / 255.0;
            if c <= 0.040_45 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        0.2126 * channel(0) + 0.7152 * channel(2) + 0.0722 * channel(4)
    }

    /// WCAG 2.1 contrast ratio of two colours (1 to 21).
    fn contrast(a: &str, b: &str) -> f64 {
        let (la, lb) = (luminance(a), luminance(b));
        (la.max(lb) + 0.05) / (la.min(lb) + 0.05)
    }

    #[test]
    fn contrast_ratios_follow_wcag() {
        assert!((contrast("#000", "#fff") - 21.0).abs() < 1e-9);
        assert!((contrast("#777777", "#ffffff") - 4.48).abs() < 0.01);
    }

    /// The colour pairs of `base.html` meet WCAG AA: 4.5:1 for text, 3:1 for chart strokes.
    #[test]
    fn the_layout_colours_meet_wcag_aa() {
        let css = include_str!("../../../templates/web/base.html");
        let var = |name: &str| -> String {
            let at = css
                .find(&format!("--{name}: "))
                .unwrap_or_else(|| panic!("--{name} in base.html"));
            css[at + name.len() + 4..].chars().take(7).collect()
        };
        let (bg, band) = (var("bg"), var("band"));
        for text in ["fg", "muted", "link", "good", "bad", "warn"] {
            for (under, colour) in [("bg", &bg), ("band", &band)] {
                let r = contrast(&var(text), colour);
                assert!(r >= 4.5, "--{text} on --{under}: {r:.2}:1");
            }
        }
        // White text on each grade's background (and the ungraded one).
        let mut grades = 0;
        for (at, _) in css.match_indices("background: #") {
            let rule_start = css[..at].rfind(['}', '\n']).map_or(0, |i| i + 1);
            let selector = css[rule_start..at].split('{').next().unwrap_or("").trim();
            if selector.starts_with(".grade") {
                let colour: String = css[at + 12..].chars().take(7).collect();
                let r = contrast("#ffffff", &colour);
                assert!(r >= 4.5, "white on {selector}{colour}: {r:.2}:1");
                grades += 1;
            }
        }
        assert!(grades >= 6, "every grade's colour was checked ({grades})");
        // Chart strokes and marks are graphics: 3:1.
        for stroke in ["link", "bad"] {
            assert!(contrast(&var(stroke), &bg) >= 3.0, "--{stroke} strokes");
        }
    }

    #[test]
    fn every_template_compiles() {
        let env = environment();
        for (name, _) in TEMPLATES {
            env.get_template(name)
                .unwrap_or_else(|e| panic!("template {name}: {e}"));
        }
    }
}
