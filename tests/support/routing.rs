//! How the fake GitHub reads a request: the permission an endpoint needs (as GitHub documents
//! it per endpoint), and URL decoding of paths and query strings.

use std::collections::HashMap;

/// The permission an installation token needs for a request, as GitHub documents it per
/// endpoint (any one of the alternatives).
pub(crate) fn required_permission(
    method: &str,
    segs: &[&str],
) -> &'static [(&'static str, &'static str)] {
    let write = method != "GET";
    match segs {
        ["repos", _, _, "check-runs" | "check-suites", ..]
        | ["repos", _, _, "commits", _, "check-runs" | "check-suites"] => {
            if write {
                &[("checks", "write")]
            } else {
                &[("checks", "read")]
            }
        }
        ["repos", _, _, "issues", ..] => {
            if write {
                &[("issues", "write"), ("pull_requests", "write")]
            } else {
                &[("issues", "read"), ("pull_requests", "read")]
            }
        }
        ["repos", _, _, "pulls", ..] => {
            if write {
                &[("pull_requests", "write")]
            } else {
                &[("pull_requests", "read")]
            }
        }
        ["repos", _, _, "collaborators", ..] => &[("metadata", "read")],
        _ => &[],
    }
}

pub(crate) fn percent_decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(x) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(x);
                i += 3;
                continue;
            }
        }
        out.push(if plus_is_space && b[i] == b'+' {
            b' '
        } else {
            b[i]
        });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

pub(crate) fn parse_query(query: &str) -> HashMap<String, String> {
    query
        .split('&')
        .filter(|kv| !kv.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .collect()
}
