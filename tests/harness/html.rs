//! HTML checks for the dashboard's pages, in Rust, without a browser: the tags balance, `<html
//! lang>`, exactly one `<h1>`, every `<img>` has `alt`, every form control has a `<label for>`
//! or an `aria-label`, every table has header cells, every `<svg role="img">` is labelled, ids
//! are unique. Good enough for the HTML we write (no unquoted `>` in attributes, no comments
//! with tags in them); not a general parser.

use std::collections::{BTreeMap, BTreeSet};

const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

/// A start or end tag: its name (lower case), attributes, and whether it closes itself.
#[derive(Debug, Clone)]
pub struct Tag {
    pub name: String,
    pub end: bool,
    pub self_closing: bool,
    pub attrs: BTreeMap<String, String>,
}

/// The tags of `html` in order (comments, the doctype, and `<style>` text skipped).
pub fn tags(html: &str) -> Vec<Tag> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        rest = &rest[open..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |e| &after[e + 3..]);
            continue;
        }
        let Some(close) = rest.find('>') else { break };
        let inner = &rest[1..close];
        rest = &rest[close + 1..];
        if inner.starts_with('!') || inner.starts_with('?') {
            continue;
        }
        let end = inner.starts_with('/');
        let inner = inner.trim_start_matches('/');
        let self_closing = inner.ends_with('/');
        let inner = inner.trim_end_matches('/');
        let name_len = inner
            .find(|c: char| c.is_whitespace())
            .unwrap_or(inner.len());
        let name = inner[..name_len].to_ascii_lowercase();
        let tag = Tag {
            attrs: attributes(&inner[name_len..]),
            name,
            end,
            self_closing,
        };
        let raw_text = !tag.end && (tag.name == "style" || tag.name == "script");
        let raw_name = tag.name.clone();
        out.push(tag);
        if raw_text {
            let closing = format!("</{raw_name}");
            if let Some(e) = rest.find(&closing) {
                rest = &rest[e..];
            }
        }
    }
    out
}

fn attributes(mut s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    loop {
        s = s.trim_start();
        if s.is_empty() {
            return out;
        }
        let name_end = s
            .find(|c: char| c == '=' || c.is_whitespace())
            .unwrap_or(s.len());
        let name = s[..name_end].to_ascii_lowercase();
        s = s[name_end..].trim_start();
        let value = if let Some(v) = s.strip_prefix('=') {
            let v = v.trim_start();
            if let Some(q) = v.chars().next().filter(|c| *c == '"' || *c == '\'') {
                let body = &v[1..];
                let e = body.find(q).unwrap_or(body.len());
                s = body.get(e + 1..).unwrap_or("");
                body[..e].to_owned()
            } else {
                let e = v.find(char::is_whitespace).unwrap_or(v.len());
                s = &v[e..];
                v[..e].to_owned()
            }
        } else {
            String::new()
        };
        out.insert(name, value);
    }
}

/// What is wrong with a page's HTML; empty when nothing is.
pub fn problems(html: &str) -> Vec<String> {
    let tags = tags(html);
    let mut out = Vec::new();
    let starts = |name: &'static str| tags.iter().filter(move |t| !t.end && t.name == name);

    match starts("html").next() {
        Some(t) if t.attrs.get("lang").is_some_and(|l| !l.is_empty()) => {}
        _ => out.push("<html> has no lang".to_owned()),
    }
    let h1 = starts("h1").count();
    if h1 != 1 {
        out.push(format!("{h1} <h1> elements, not one"));
    }
    for img in starts("img") {
        if !img.attrs.contains_key("alt") {
            out.push(format!("<img> without alt: {:?}", img.attrs));
        }
    }
    let labelled: BTreeSet<&str> = starts("label")
        .filter_map(|l| l.attrs.get("for").map(String::as_str))
        .collect();
    for control in tags
        .iter()
        .filter(|t| !t.end && matches!(t.name.as_str(), "input" | "select" | "textarea"))
    {
        let kind = control.attrs.get("type").map_or("text", String::as_str);
        if matches!(kind, "hidden" | "submit" | "button" | "reset") {
            continue;
        }
        let by_label = control
            .attrs
            .get("id")
            .is_some_and(|id| labelled.contains(id.as_str()));
        if !by_label && !control.attrs.contains_key("aria-label") {
            out.push(format!(
                "<{}> without a label: {:?}",
                control.name, control.attrs
            ));
        }
    }
    for svg in starts("svg") {
        if svg.attrs.get("role").map(String::as_str) == Some("img")
            && svg.attrs.get("aria-label").is_none_or(|l| l.is_empty())
        {
            out.push("<svg role=img> without aria-label".to_owned());
        }
    }
    // Tables: each has a <th> before it ends.
    let mut open_tables: Vec<bool> = Vec::new();
    for t in &tags {
        match (t.name.as_str(), t.end) {
            ("table", false) => open_tables.push(false),
            ("th", false) => {
                if let Some(has) = open_tables.last_mut() {
                    *has = true;
                }
            }
            ("table", true) if open_tables.pop() == Some(false) => {
                out.push("a <table> without <th>".to_owned());
            }
            _ => {}
        }
    }
    let mut ids = BTreeSet::new();
    for t in tags.iter().filter(|t| !t.end) {
        if let Some(id) = t.attrs.get("id") {
            if !ids.insert(id.clone()) {
                out.push(format!("duplicate id `{id}`"));
            }
        }
    }
    // Balance: every element closed, in order (void and self-closed ones excepted).
    let mut stack: Vec<&str> = Vec::new();
    for t in &tags {
        if VOID.contains(&t.name.as_str()) || t.self_closing {
            continue;
        }
        if !t.end {
            stack.push(&t.name);
        } else if stack.last() == Some(&t.name.as_str()) {
            stack.pop();
        } else {
            out.push(format!(
                "</{}> closes <{}>",
                t.name,
                stack.last().unwrap_or(&"nothing")
            ));
            break;
        }
    }
    if !stack.is_empty() && out.iter().all(|p| !p.contains("closes")) {
        out.push(format!("unclosed elements: {stack:?}"));
    }
    out
}

/// Panics listing what is wrong with `html` (a page at `what`).
pub fn assert_valid(what: &str, html: &str) {
    let p = problems(html);
    assert!(p.is_empty(), "{what}: {}", p.join("\n  "));
}
