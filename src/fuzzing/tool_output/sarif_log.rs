//! Generated SARIF logs for the SARIF parser and `analyze --sarif`: every way the format lets
//! a tool name a rule, a location and a file, with the parts that are missing, null or hostile.

use super::super::{object, odd_number, odd_text, odd_value, Entropy};
use super::{line, tool_path};
use serde_json::{json, Value};
use std::path::Path;

/// A SARIF log with the parts the parser reads: drivers and extensions with rules, base URIs,
/// artifacts, results with every way of naming a location and a rule, suppressions, kinds,
/// and invocations that did or did not succeed.
pub fn sarif_doc(e: &mut Entropy, root: &Path) -> Value {
    let r = root.display().to_string();
    let uri = move |e: &mut Entropy| -> Value {
        match e.below(10) {
            0 => json!(format!("file://{r}/a.py")),
            1 => json!("pkg%2Fmod.py"),
            2 => json!("%2e%2e/outside.py"),
            3 => json!("https://example.com/a.py"),
            4 => json!("%"),
            5 => json!("a%ZZ.py"),
            _ => json!(tool_path(e, Path::new(&r))),
        }
    };
    let rule = |e: &mut Entropy| {
        object(
            e,
            &[
                ("id", &|e: &mut Entropy| {
                    json!(e.pick(&["R1", "js/xss", "py/sql-injection"]))
                }),
                ("helpUri", &|e: &mut Entropy| json!(odd_text(e))),
                (
                    "shortDescription",
                    &|e: &mut Entropy| json!({ "text": odd_text(e) }),
                ),
                (
                    "fullDescription",
                    &|e: &mut Entropy| json!({ "text": odd_text(e) }),
                ),
                (
                    "messageStrings",
                    &|e: &mut Entropy| json!({ "default": { "text": "{0} and {1} and {9999999999}" }, "x": odd_value(e, 1) }),
                ),
                (
                    "defaultConfiguration",
                    &|e: &mut Entropy| json!({ "level": e.pick(&["error", "warning", "note", "none", "x"]) }),
                ),
                ("properties", &|e: &mut Entropy| {
                    let severity = match e.below(4) {
                        0 => json!("9.8"),
                        1 => json!(7.5),
                        2 => json!("not a number"),
                        _ => odd_value(e, 1),
                    };
                    json!({ "security-severity": severity, "tags": [odd_text(e), "security"] })
                }),
            ],
        )
    };
    let location = |e: &mut Entropy| {
        json!({ "physicalLocation": object(e, &[
            ("artifactLocation", &|e: &mut Entropy| object(e, &[
                ("uri", &uri),
                ("uriBaseId", &|e: &mut Entropy| json!(e.pick(&["SRCROOT", "%SRCROOT%", "NOPE", "LOOP"]))),
                ("index", &|e: &mut Entropy| if e.flag() { json!(e.below(4)) } else { odd_number(e) }),
            ])),
            ("region", &|e: &mut Entropy| object(e, &[
                ("startLine", &line), ("endLine", &line), ("startColumn", &line), ("endColumn", &line),
            ])),
        ]) })
    };
    let result = |e: &mut Entropy| {
        object(
            e,
            &[
                ("ruleId", &|e: &mut Entropy| {
                    json!(e.pick(&["R1", "js/xss", "unknown-rule"]))
                }),
                ("ruleIndex", &|e: &mut Entropy| {
                    if e.flag() {
                        json!(e.below(3))
                    } else {
                        odd_number(e)
                    }
                }),
                (
                    "rule",
                    &|e: &mut Entropy| json!({ "id": "R1", "index": odd_number(e), "toolComponent": { "index": odd_number(e) } }),
                ),
                ("level", &|e: &mut Entropy| {
                    json!(e.pick(&["error", "warning", "note", "none", ""]))
                }),
                ("kind", &|e: &mut Entropy| {
                    json!(e.pick(&["fail", "pass", "notApplicable", "review", "open"]))
                }),
                ("message", &|e: &mut Entropy| {
                    object(
                        e,
                        &[
                            ("text", &|e: &mut Entropy| json!(odd_text(e))),
                            ("markdown", &|e: &mut Entropy| json!(odd_text(e))),
                            ("id", &|e: &mut Entropy| json!(e.pick(&["default", "x"]))),
                            ("arguments", &|e: &mut Entropy| {
                                Value::Array((0..e.below(3)).map(|_| odd_value(e, 1)).collect())
                            }),
                        ],
                    )
                }),
                ("locations", &|e: &mut Entropy| {
                    Value::Array((0..e.below(3)).map(|_| location(e)).collect())
                }),
                (
                    "suppressions",
                    &|e: &mut Entropy| json!([{ "kind": e.pick(&["inSource", "external"]), "status": e.pick(&["accepted", "rejected", "underReview"]) }]),
                ),
                (
                    "properties",
                    &|e: &mut Entropy| json!({ "tags": [odd_text(e)] }),
                ),
            ],
        )
    };
    let run = |e: &mut Entropy| {
        let rules = |e: &mut Entropy| Value::Array((0..e.below(3)).map(|_| rule(e)).collect());
        object(
            e,
            &[
                ("tool", &|e: &mut Entropy| {
                    json!({
                        "driver": { "name": odd_text(e), "rules": rules(e) },
                        "extensions": [{ "name": "ext", "rules": rules(e) }],
                    })
                }),
                ("originalUriBaseIds", &|e: &mut Entropy| {
                    let base = match e.below(5) {
                        0 => json!({ "uri": format!("file://{}/", root.display()) }),
                        1 => json!({ "uri": "pkg/", "uriBaseId": "SRCROOT" }),
                        2 => json!({ "uri": "x/", "uriBaseId": "LOOP" }),
                        3 => json!({ "uri": "file:///etc/" }),
                        _ => odd_value(e, 2),
                    };
                    json!({ "SRCROOT": base.clone(), "LOOP": { "uri": "y/", "uriBaseId": "LOOP" }, "NOPE": odd_value(e, 1) })
                }),
                ("artifacts", &|e: &mut Entropy| {
                    Value::Array(
                        (0..e.below(3))
                            .map(|_| json!({ "location": { "uri": uri(e) } }))
                            .collect(),
                    )
                }),
                ("results", &|e: &mut Entropy| {
                    Value::Array((0..e.below(5)).map(|_| result(e)).collect())
                }),
                (
                    "invocations",
                    &|e: &mut Entropy| json!([{ "executionSuccessful": e.below(4) != 0, "toolExecutionNotifications": [{ "message": { "text": odd_text(e) } }] }]),
                ),
            ],
        )
    };
    object(
        e,
        &[
            ("version", &|_: &mut Entropy| json!("2.1.0")),
            ("$schema", &|e: &mut Entropy| json!(odd_text(e))),
            ("runs", &|e: &mut Entropy| {
                Value::Array((0..e.below(3)).map(|_| run(e)).collect())
            }),
        ],
    )
}
