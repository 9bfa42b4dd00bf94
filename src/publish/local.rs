//! Output of `flext-quality analyze`: text grouped by file (coloured on a terminal), JSON,
//! SARIF 2.1.0 (one run per backend, with rule metadata) and Markdown.

use crate::analysis::engine::{BackendReport, BackendStatus};
use crate::domain::finding::{Finding, Severity};
use crate::domain::gate::{GateResult, Verdict};
use crate::domain::score::Score;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};

/// What a local analysis found, and against what.
pub struct LocalReport<'a> {
    pub findings: &'a [Finding],
    /// Fingerprints new against `--base`; `None` when there was no base.
    pub new: Option<&'a HashSet<String>>,
    pub fixed: &'a [Finding],
    pub base: Option<&'a str>,
    pub score: &'a Score,
    pub gate: &'a GateResult,
    pub backends: &'a [BackendReport],
}

impl LocalReport<'_> {
    fn is_new(&self, f: &Finding) -> bool {
        self.new.is_some_and(|n| n.contains(&f.fingerprint))
    }
}

fn paint(color: bool, code: &str, text: &str) -> String {
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_owned()
    }
}

fn severity_colour(s: Severity) -> &'static str {
    match s {
        Severity::Blocker | Severity::Critical => "1;31",
        Severity::Major => "31",
        Severity::Minor => "33",
        Severity::Info => "36",
    }
}

fn status_text(s: &BackendStatus) -> String {
    match s {
        BackendStatus::Ok => "ok".into(),
        BackendStatus::Failed(why) => format!("failed: {why}"),
        BackendStatus::TimedOut => "timed out".into(),
        BackendStatus::NotApplicable(why) => format!("not applicable ({why})"),
    }
}

pub fn text(r: &LocalReport<'_>, color: bool) -> String {
    let mut out = String::new();
    let mut current: Option<&str> = None;
    for f in r.findings {
        if current != Some(f.path.as_str()) {
            out.push_str(&format!("\n{}\n", paint(color, "1", &f.path)));
            current = Some(&f.path);
        }
        let new = if r.is_new(f) {
            paint(color, "1;35", " new")
        } else {
            String::new()
        };
        out.push_str(&format!(
            "  {:>5}:{:<4} {} {}{new} {}\n",
            f.start_line,
            f.start_column.unwrap_or(1),
            paint(
                color,
                severity_colour(f.severity),
                &format!("{:<8}", f.severity.as_str())
            ),
            paint(color, "2", &format!("{}:{}", f.backend, f.rule)),
            f.message.replace('\n', " ")
        ));
    }
    out.push('\n');
    for b in r.backends {
        out.push_str(&format!(
            "{:<10} {:<10} {:>6.1}s  {:>5} findings  {}\n",
            b.name,
            b.version.as_deref().unwrap_or("-"),
            b.elapsed_ms as f64 / 1000.0,
            b.findings,
            status_text(&b.status)
        ));
        for d in &b.dropped {
            out.push_str(&format!("           dropped: {d}\n"));
        }
    }
    if let (Some(new), Some(base)) = (r.new, r.base) {
        out.push_str(&format!(
            "\n{} new, {} fixed against {base}\n",
            new.len(),
            r.fixed.len()
        ));
    }
    out.push_str(&format!(
        "\nscore {:.1} (security −{:.1}, reliability −{:.1}, maintainability −{:.1}) · grade {}\n",
        r.score.score,
        r.score.security,
        r.score.reliability,
        r.score.maintainability,
        r.score.grade
    ));
    for c in &r.gate.conditions {
        let mark = if c.passed {
            paint(color, "32", "pass")
        } else {
            paint(color, "31", "FAIL")
        };
        out.push_str(&format!(
            "  {mark} {}: {} (required {})\n",
            c.name, c.actual, c.threshold
        ));
    }
    let verdict = match r.gate.verdict {
        Verdict::Success => paint(color, "1;32", "gate passed"),
        Verdict::Failure => paint(color, "1;31", "gate failed"),
        Verdict::Neutral => paint(color, "1;33", "no verdict"),
    };
    out.push_str(&verdict);
    if let Some(reason) = &r.gate.reason {
        out.push_str(&format!(": {reason}"));
    }
    out.push('\n');
    out
}

pub fn json(r: &LocalReport<'_>) -> Value {
    json!({
        "score": r.score,
        "gate": r.gate,
        "base": r.base,
        "findings": r.findings.iter().map(|f| {
            let mut v = serde_json::to_value(f).unwrap_or(Value::Null);
            if r.new.is_some() {
                v["is_new"] = json!(r.is_new(f));
            }
            v
        }).collect::<Vec<_>>(),
        "fixed": r.fixed,
        "backends": r.backends,
    })
}

fn sarif_level(s: Severity) -> &'static str {
    match s {
        Severity::Blocker | Severity::Critical | Severity::Major => "error",
        Severity::Minor => "warning",
        Severity::Info => "note",
    }
}

/// SARIF 2.1.0 with one run per backend that ran, each with the metadata of the rules it hit.
pub fn sarif(r: &LocalReport<'_>) -> Value {
    let mut runs = Vec::new();
    for b in r.backends.iter().filter(|b| b.status == BackendStatus::Ok) {
        let findings: Vec<&Finding> = r.findings.iter().filter(|f| f.backend == b.name).collect();
        let mut rules: BTreeMap<&str, &Finding> = BTreeMap::new();
        for f in &findings {
            rules.entry(f.rule.as_str()).or_insert(f);
        }
        let index: BTreeMap<&str, usize> = rules.keys().enumerate().map(|(i, k)| (*k, i)).collect();
        let rule_meta: Vec<Value> = rules
            .values()
            .map(|f| {
                let mut rule = json!({
                    "id": f.rule,
                    "defaultConfiguration": { "level": sarif_level(f.severity) },
                    "properties": { "category": f.category.as_str(), "severity": f.severity.as_str(), "tags": [f.category.as_str()] },
                });
                if let Some(url) = &f.help_url {
                    rule["helpUri"] = json!(url);
                }
                rule
            })
            .collect();
        let results: Vec<Value> = findings
            .iter()
            .map(|f| {
                let mut region = json!({ "startLine": f.start_line, "endLine": f.end_line });
                if let Some(c) = f.start_column {
                    region["startColumn"] = json!(c);
                }
                if let Some(c) = f.end_column {
                    region["endColumn"] = json!(c);
                }
                let mut result = json!({
                    "ruleId": f.rule,
                    "ruleIndex": index[f.rule.as_str()],
                    "level": sarif_level(f.severity),
                    "message": { "text": f.message },
                    "locations": [{ "physicalLocation": {
                        "artifactLocation": { "uri": f.path, "uriBaseId": "SRCROOT" },
                        "region": region,
                    }}],
                    "partialFingerprints": { "flextQuality/v1": f.fingerprint },
                });
                if r.new.is_some() {
                    result["baselineState"] = json!(if r.is_new(f) { "new" } else { "unchanged" });
                }
                result
            })
            .collect();
        runs.push(json!({
            "tool": { "driver": {
                "name": b.name,
                "version": b.version.clone().unwrap_or_default(),
                "rules": rule_meta,
            }},
            "originalUriBaseIds": { "SRCROOT": { "uri": "file:///" } },
            "results": results,
        }));
    }
    json!({
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": runs,
    })
}

pub fn markdown(r: &LocalReport<'_>) -> String {
    let mut s = format!(
        "## flext-quality: grade {} · {:.1}\n\n**Gate:** {}\n\n",
        r.score.grade,
        r.score.score,
        r.gate.verdict.as_str()
    );
    s.push_str(&format!(
        "Score = 100 − security {:.1} − reliability {:.1} − maintainability {:.1} ({} lines of code).\n\n",
        r.score.security, r.score.reliability, r.score.maintainability, r.score.ncloc
    ));
    if !r.gate.conditions.is_empty() {
        s.push_str(&super::gate_table(r.gate));
        s.push('\n');
    }
    s.push_str("| file | line | severity | rule | message |\n| --- | --- | --- | --- | --- |\n");
    for f in r.findings {
        let new = if r.is_new(f) { " (new)" } else { "" };
        s.push_str(&format!(
            "| `{}` | {} | {}{new} | {}:{} | {} |\n",
            f.path,
            f.start_line,
            f.severity,
            f.backend,
            f.rule,
            f.message.replace('|', "\\|").replace('\n', " ")
        ));
    }
    s
}
