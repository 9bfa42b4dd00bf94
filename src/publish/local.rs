//! Output of `flext-quality analyze`: text grouped by file (coloured on a terminal), JSON,
//! SARIF 2.1.0 (one run per backend, with rule metadata) and Markdown.
//!
//! With a base, text and Markdown lead with what changed — the new findings, then the fixed
//! ones — and count the rest (`--all` lists them too). Nothing analysed shows no score, only
//! why. Markdown stays under GitHub's comment limit.

use super::markdown;
use crate::analysis::engine::{BackendReport, BackendStatus};
use crate::domain::finding::{Finding, Severity};
use crate::domain::gate::{GateResult, Verdict};
use crate::domain::score::{cap_explanation, Score};
use crate::domain::suppression::Suppression;
use crate::domain::test_code::TestCodeCount;
use serde::Serialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashSet};

/// Markdown output stays below this many characters (a GitHub comment takes 65,536).
pub const MAX_MARKDOWN_CHARS: usize = 60_000;

/// What a local analysis found, and against what.
pub struct LocalReport<'a> {
    pub findings: &'a [Finding],
    /// Fingerprints new against `--base`; `None` when there was no base.
    pub new: Option<&'a HashSet<String>>,
    pub fixed: &'a [Finding],
    pub base: Option<&'a str>,
    /// `None` when no backend produced a result.
    pub score: Option<&'a Score>,
    pub gate: &'a GateResult,
    pub backends: &'a [BackendReport],
    /// Suppressions the working directory added against the base.
    pub suppressions: Option<&'a [Suppression]>,
    /// List every finding even with a base (`--all`).
    pub all: bool,
    /// What the test-code policy did.
    pub test_code: &'a TestCodeCount,
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

fn status_text(b: &BackendReport) -> String {
    let mut s = match &b.status {
        BackendStatus::Ok => "ok".into(),
        BackendStatus::Failed(why) => format!("failed: {why}"),
        BackendStatus::TimedOut => "timed out".into(),
        BackendStatus::NotApplicable(why) => format!("not applicable ({why})"),
    };
    if b.over_limit > 0 {
        s.push_str(&format!("; {} more findings not kept", b.over_limit));
    }
    s
}

fn plural(n: usize, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// "blocker 0, critical 1, major 3, minor 12, info 0"
fn by_severity<'f>(findings: impl Iterator<Item = &'f Finding>) -> String {
    let counts = Severity::counts(findings.map(|f| f.severity));
    Severity::ALL
        .iter()
        .zip(counts)
        .map(|(s, n)| format!("{s} {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// "grade D: …" as the start of a sentence.
pub fn capitalised(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) => c.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Said instead of a score when every backend that applied failed.
const NO_SCORE: &str = "No score: no analysis tool ran, so there is nothing to grade.";

fn verdict_word(v: Verdict) -> &'static str {
    match v {
        Verdict::Success => "passed",
        Verdict::Failure => "failed",
        Verdict::Neutral => "no verdict",
    }
}

/// What the reader should know about the score: a capped grade, test code counted
/// differently.
fn explanations(r: &LocalReport<'_>, score: &Score) -> Vec<String> {
    let cap = cap_explanation(score, r.findings.iter().map(|f| (f.category, f.severity)))
        .map(|why| capitalised(&why));
    let counted = r
        .test_code
        .describe()
        .map(|c| format!("Counted differently: {c}"));
    cap.into_iter().chain(counted).collect()
}

fn nothing_analysed(r: &LocalReport<'_>) -> bool {
    r.gate.verdict == Verdict::Neutral
}

fn text_findings(
    out: &mut String,
    findings: &[&Finding],
    color: bool,
    mark_new: &dyn Fn(&Finding) -> bool,
) {
    let mut current: Option<&str> = None;
    for f in findings {
        if current != Some(f.path.as_str()) {
            out.push_str(&format!("{}\n", paint(color, "1", &f.path)));
            current = Some(&f.path);
        }
        let new = if mark_new(f) {
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
}

pub fn text(r: &LocalReport<'_>, color: bool) -> String {
    let mut out = String::new();
    match (r.new, r.base) {
        (Some(new), Some(base)) => {
            let fresh: Vec<&Finding> = r
                .findings
                .iter()
                .filter(|f| new.contains(&f.fingerprint))
                .collect();
            out.push_str(&paint(
                color,
                "1",
                &format!("New findings against {base}: {}\n", fresh.len()),
            ));
            text_findings(&mut out, &fresh, color, &|_| false);
            out.push_str(&paint(
                color,
                "1",
                &format!("\nFixed findings: {}\n", r.fixed.len()),
            ));
            let fixed: Vec<&Finding> = r.fixed.iter().collect();
            text_findings(&mut out, &fixed, color, &|_| false);
            let rest: Vec<&Finding> = r
                .findings
                .iter()
                .filter(|f| !new.contains(&f.fingerprint))
                .collect();
            if r.all {
                out.push_str(&paint(
                    color,
                    "1",
                    &format!("\nOther open findings: {}\n", rest.len()),
                ));
                text_findings(&mut out, &rest, color, &|_| false);
            } else {
                out.push_str(&format!(
                    "\nOther open findings: {} ({}); --all lists them\n",
                    rest.len(),
                    by_severity(rest.iter().copied())
                ));
            }
        }
        _ => {
            let all: Vec<&Finding> = r.findings.iter().collect();
            text_findings(&mut out, &all, color, &|_| false);
        }
    }
    if let Some(s) = r.suppressions.filter(|s| !s.is_empty()) {
        out.push_str(&format!("\nSuppressions added: {}\n", s.len()));
        for sup in s {
            out.push_str(&format!(
                "  {}:{} {}\n",
                sup.path,
                sup.line,
                sup.kind.label()
            ));
        }
    }
    out.push('\n');
    for b in r.backends {
        out.push_str(&format!(
            "{:<10} {:<10} {:>6.1}s  {:>12}  {}\n",
            b.name,
            b.version.as_deref().unwrap_or("-"),
            b.elapsed_ms as f64 / 1000.0,
            plural(b.findings, "finding"),
            status_text(b)
        ));
        for d in &b.dropped {
            out.push_str(&format!("           dropped: {d}\n"));
        }
        for n in &b.notes {
            out.push_str(&format!("           note: {n}\n"));
        }
    }
    if nothing_analysed(r) {
        out.push_str(&format!(
            "\n{}\n",
            paint(
                color,
                "1;33",
                r.gate.reason.as_deref().unwrap_or("nothing to analyse")
            )
        ));
        return out;
    }
    if let Some(score) = r.score {
        out.push_str(&format!(
            "\nscore {:.1} (security −{:.1}, reliability −{:.1}, maintainability −{:.1}) · grade {}\n",
            score.score,
            score.security,
            score.reliability,
            score.maintainability,
            score.grade
        ));
        for line in explanations(r, score) {
            out.push_str(&format!("{line}\n"));
        }
    } else {
        out.push_str(&format!("\n{NO_SCORE}\n"));
    }
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
    out.push('\n');
    out
}

/// The JSON document. Serialised straight from the findings, without building a tree of values
/// first: an analysis can hold tens of thousands, and `analyze --format json` after a one-file
/// change should cost little more than the tools.
#[derive(Serialize)]
pub struct JsonReport<'a> {
    score: Option<&'a Score>,
    gate: &'a GateResult,
    base: Option<&'a str>,
    findings: Vec<JsonFinding<'a>>,
    fixed: &'a [Finding],
    backends: &'a [BackendReport],
    test_code: &'a TestCodeCount,
}

#[derive(Serialize)]
struct JsonFinding<'a> {
    #[serde(flatten)]
    finding: &'a Finding,
    /// Only with a base.
    #[serde(skip_serializing_if = "Option::is_none")]
    is_new: Option<bool>,
}

pub fn json<'a>(r: &LocalReport<'a>) -> JsonReport<'a> {
    JsonReport {
        score: r.score,
        gate: r.gate,
        base: r.base,
        findings: r
            .findings
            .iter()
            .map(|f| JsonFinding {
                finding: f,
                is_new: r.new.map(|_| r.is_new(f)),
            })
            .collect(),
        fixed: r.fixed,
        backends: r.backends,
        test_code: r.test_code,
    }
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

/// One Markdown table row per finding.
fn markdown_rows(findings: &[&Finding]) -> Vec<String> {
    findings
        .iter()
        .map(|f| {
            format!(
                "| {} | {} | {} | {} |\n",
                markdown::code(&format!("{}:{}", f.path, f.start_line)),
                f.severity,
                markdown::code(&format!("{}:{}", f.backend, f.rule)),
                markdown::text(&f.message)
            )
        })
        .collect()
}

pub fn markdown(r: &LocalReport<'_>) -> String {
    let mut s = String::new();
    if nothing_analysed(r) {
        s.push_str(&format!(
            "## flext-quality: nothing to analyse\n\n{}\n\n",
            markdown::text(r.gate.reason.as_deref().unwrap_or("no backend applies"))
        ));
    } else if let Some(score) = r.score {
        s.push_str(&format!(
            "## flext-quality: grade {} · {:.1}\n\n**Gate:** {}\n\nScore = 100 − security {:.1} − reliability {:.1} − maintainability {:.1} ({} lines of code).\n",
            score.grade,
            score.score,
            verdict_word(r.gate.verdict),
            score.security,
            score.reliability,
            score.maintainability,
            score.ncloc
        ));
        for line in explanations(r, score) {
            s.push_str(&format!("\n{}.\n", markdown::text(&line)));
        }
        s.push('\n');
        if !r.gate.conditions.is_empty() {
            s.push_str(&super::gate_table(r.gate));
            s.push('\n');
        }
    } else {
        s.push_str(&format!(
            "## flext-quality: no tool ran\n\n**Gate:** {}\n\n{NO_SCORE}\n\n",
            verdict_word(r.gate.verdict)
        ));
        if !r.gate.conditions.is_empty() {
            s.push_str(&super::gate_table(r.gate));
            s.push('\n');
        }
    }
    s.push_str(
        "| backend | version | status | time | findings |\n| --- | --- | --- | --- | --- |\n",
    );
    for b in r.backends {
        s.push_str(&format!(
            "| {} | {} | {} | {:.1} s | {} |\n",
            markdown::text(&b.name),
            markdown::text(b.version.as_deref().unwrap_or("-")),
            markdown::text(&status_text(b)),
            b.elapsed_ms as f64 / 1000.0,
            plural(b.findings, "finding")
        ));
    }
    // The findings: with a base, the new ones, then the fixed ones, then a count of the rest.
    let mut sections: Vec<(String, Vec<&Finding>)> = Vec::new();
    match (r.new, r.base) {
        (Some(new), Some(base)) => {
            let fresh: Vec<&Finding> = r
                .findings
                .iter()
                .filter(|f| new.contains(&f.fingerprint))
                .collect();
            sections.push((
                format!(
                    "New findings against {} ({})",
                    markdown::code(base),
                    fresh.len()
                ),
                fresh,
            ));
            sections.push((
                format!("Fixed findings ({})", r.fixed.len()),
                r.fixed.iter().collect(),
            ));
            let rest: Vec<&Finding> = r
                .findings
                .iter()
                .filter(|f| !new.contains(&f.fingerprint))
                .collect();
            if r.all {
                sections.push((format!("Other open findings ({})", rest.len()), rest));
            } else {
                s.push_str(&format!(
                    "\nOther open findings: {} ({}).\n",
                    rest.len(),
                    by_severity(rest.iter().copied())
                ));
            }
        }
        _ => sections.push((
            format!("Findings ({})", r.findings.len()),
            r.findings.iter().collect(),
        )),
    }
    if let Some(sup) = r.suppressions.filter(|s| !s.is_empty()) {
        s.push_str(&format!(
            "\n**Suppressions added ({}):** {}\n",
            sup.len(),
            sup.iter()
                .map(|x| markdown::code(&format!("{}:{} {}", x.path, x.line, x.kind.label())))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let mut left_out = 0usize;
    for (title, findings) in sections {
        s.push_str(&format!("\n### {title}\n\n"));
        if findings.is_empty() {
            s.push_str("None.\n");
            continue;
        }
        s.push_str("| where | severity | rule | message |\n| --- | --- | --- | --- |\n");
        let rows = markdown_rows(&findings);
        let mut shown = 0;
        for row in &rows {
            // Leave room for the closing note.
            if s.len() + row.len() > MAX_MARKDOWN_CHARS - 500 {
                break;
            }
            s.push_str(row);
            shown += 1;
        }
        left_out += rows.len() - shown;
    }
    if left_out > 0 {
        s.push_str(&format!(
            "\n… and {left_out} more findings not shown here, to stay within GitHub's comment size; `--format sarif` or `--format json` has them all.\n"
        ));
    }
    s
}
