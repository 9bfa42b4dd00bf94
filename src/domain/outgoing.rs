//! Outgoing events: what a completed analysis tells the operators' event hooks, and what a hook
//! may be registered with.
//!
//! `analysis.completed` is told for every analysis that completed with a result. `gate.changed`
//! is told when the gate went from passing to failing or back against the branch's or pull
//! request's previous state — the same notion of "previous" Slack uses (a push against the
//! commit it replaced), so the two never disagree about what changed. A neutral verdict (nothing
//! to analyse) neither passes nor fails: going between it and success is no change, going
//! between it and failure is one (the gate stopped or started failing).

use super::gate::Verdict;
use super::status::HookEvent;

/// What an analysis tells the hooks: the events, and the verdict it changed from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Announcement {
    pub events: Vec<HookEvent>,
    /// The previous state's verdict; carried by `gate.changed`.
    pub previous_verdict: Option<Verdict>,
}

/// Whether going from `before` to `after` changed whether the gate fails. Without a previous
/// state nothing changed: a first analysis is a baseline.
pub fn gate_changed(before: Option<Verdict>, after: Verdict) -> bool {
    before.is_some_and(|b| (b == Verdict::Failure) != (after == Verdict::Failure))
}

/// The events a completed analysis with verdict `after` tells, `before` being the previous
/// state's verdict (if any).
pub fn announce(before: Option<Verdict>, after: Verdict) -> Announcement {
    let mut events = vec![HookEvent::AnalysisCompleted];
    if gate_changed(before, after) {
        events.push(HookEvent::GateChanged);
    }
    Announcement {
        events,
        previous_verdict: before,
    }
}

/// A hook as an operator asked for it, checked: where it goes (only its host is ever shown)
/// and what it hears.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidHook {
    /// `host` or `host:port`: the part of the URL that is safe to show and log.
    pub host: String,
    /// Known events, deduplicated, in a stable order.
    pub events: Vec<HookEvent>,
}

/// Checks a hook's URL, secret and events. Errors never quote the URL or the secret: the URL
/// may carry a token in its path or query.
pub fn validate_hook(url: &str, secret: &str, events: &[String]) -> Result<ValidHook, String> {
    let parsed = reqwest::Url::parse(url.trim())
        .map_err(|e| format!("the hook URL is not a valid URL ({e})"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("the hook URL must start with https:// (or http://)".into());
    }
    let host = url_host(&parsed).ok_or("the hook URL has no host")?;
    if secret.is_empty() {
        return Err(format!(
            "the hook to {host} has an empty secret: events are signed with it"
        ));
    }
    if events.is_empty() {
        return Err(format!(
            "the hook to {host} subscribes to no event (known: {})",
            known()
        ));
    }
    let mut parsed_events = Vec::new();
    for e in events {
        let event: HookEvent = e.parse().map_err(|_| {
            format!(
                "the hook to {host}: unknown event `{}` (known: {})",
                e.chars().take(40).collect::<String>(),
                known()
            )
        })?;
        parsed_events.push(event);
    }
    parsed_events.sort();
    parsed_events.dedup();
    Ok(ValidHook {
        host,
        events: parsed_events,
    })
}

/// `host` or `host:port` of a URL: never its user, password, path or query.
pub fn url_host(url: &reqwest::Url) -> Option<String> {
    let host = url.host_str().filter(|h| !h.is_empty())?;
    Some(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    })
}

fn known() -> String {
    HookEvent::ALL
        .iter()
        .map(|e| e.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use HookEvent::*;
    use Verdict::*;

    #[test]
    fn the_gate_changes_when_failing_starts_or_stops() {
        let cases = [
            (None, Failure, false),
            (None, Success, false),
            (Some(Success), Failure, true),
            (Some(Failure), Success, true),
            (Some(Failure), Failure, false),
            (Some(Success), Success, false),
            (Some(Neutral), Failure, true),
            (Some(Failure), Neutral, true),
            (Some(Neutral), Success, false),
            (Some(Success), Neutral, false),
            (Some(Neutral), Neutral, false),
        ];
        for (before, after, changed) in cases {
            assert_eq!(
                gate_changed(before, after),
                changed,
                "{before:?} → {after:?}"
            );
            let a = announce(before, after);
            let expected = if changed {
                vec![AnalysisCompleted, GateChanged]
            } else {
                vec![AnalysisCompleted]
            };
            assert_eq!(a.events, expected, "{before:?} → {after:?}");
            assert_eq!(a.previous_verdict, before);
        }
    }

    #[test]
    fn hooks_are_checked_without_quoting_the_url_or_secret() {
        let events = |e: &[&str]| e.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let ok = validate_hook(
            "https://user:pw@hooks.example.com:8443/in/TOKEN?token=canary",
            "s3cret",
            &events(&["gate.changed", "analysis.completed", "gate.changed"]),
        )
        .unwrap();
        assert_eq!(ok.host, "hooks.example.com:8443");
        assert_eq!(ok.events, [AnalysisCompleted, GateChanged]);
        assert_eq!(
            validate_hook("http://example.com", "s", &events(&["gate.changed"]))
                .unwrap()
                .host,
            "example.com"
        );
        let bad = [
            (
                "ftp://example.com/x?token=canary",
                "s",
                vec!["gate.changed"],
            ),
            ("not a url canary", "s", vec!["gate.changed"]),
            ("https://example.com/canary", "", vec!["gate.changed"]),
            ("https://example.com/canary", "s", vec![]),
            ("https://example.com/canary", "s", vec!["push"]),
            ("file:///etc/canary", "s", vec!["gate.changed"]),
        ];
        for (url, secret, list) in bad {
            let err = validate_hook(url, secret, &events(&list)).unwrap_err();
            assert!(!err.contains("canary"), "{err}");
        }
        assert!(
            validate_hook("https://example.com", "s", &events(&["push"]))
                .unwrap_err()
                .contains("unknown event `push` (known: analysis.completed, gate.changed)")
        );
    }
}
