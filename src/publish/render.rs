//! Renders a check run: its title, its Markdown summary and its annotations, within GitHub's
//! limits (50 annotations a request, 65,535 characters of summary).
//!
//! Pure functions of a saved outcome: the check-run publisher sends what these build.

use super::markdown;
use crate::analysis::engine::{BackendReport, BackendStatus};
use crate::domain::finding::{Finding, Severity};
use crate::domain::gate::{GateResult, Verdict};
use crate::domain::score::Score;
use crate::domain::suppression::Suppression;
use crate::domain::test_code::TestCodeCount;
use crate::github::checks::{
    Annotation, AnnotationLevel, CheckStatus, Conclusion, Output, UpdateCheckRun,
    ANNOTATIONS_PER_REQUEST, MAX_SUMMARY_CHARS,
};
use crate::store::SavedFinding;

/// Everything the completed check run shows.
pub struct Report<'a> {
    /// `None` when no backend produced a result.
    pub score: Option<&'a Score>,
    pub base_score: Option<f64>,
    pub gate: &'a GateResult,
    /// The commit's findings, each saying whether it is new and gets an annotation.
    pub findings: &'a [SavedFinding],
    pub fixed: &'a [Finding],
    pub compared_sha: Option<&'a str>,
    pub backends: &'a [BackendReport],
    pub max_annotations: usize,
    /// Inline suppressions the change added.
    pub suppressions: &'a [Suppression],
    /// How the tools ran, when not in the jail (said in every summary).
    pub jail: Option<&'a str>,
    /// What the test-code policy did.
    pub test_code: Option<&'a TestCodeCount>,
}

/// The check run's conclusion for a verdict.
pub fn conclusion(verdict: Verdict) -> Conclusion {
    match verdict {
        Verdict::Success => Conclusion::Success,
        Verdict::Failure => Conclusion::Failure,
        Verdict::Neutral => Conclusion::Neutral,
    }
}

pub fn title(
    score: Option<&Score>,
    new_count: usize,
    gate: &GateResult,
    backends: &[BackendReport],
) -> String {
    if gate.verdict == Verdict::Neutral {
        return "Nothing to analyse".into();
    }
    let Some(score) = score else {
        let failed = backends.iter().filter(|b| b.status.is_failure()).count();
        let plural = if failed == 1 { "" } else { "s" };
        return format!("No tool ran · {failed} backend{plural} failed");
    };
    let plural = if new_count == 1 { "" } else { "s" };
    format!(
        "Grade {} · {:.1} · {new_count} new finding{plural}",
        score.grade, score.score
    )
}

fn level(severity: Severity) -> AnnotationLevel {
    match severity {
        Severity::Blocker | Severity::Critical | Severity::Major => AnnotationLevel::Failure,
        Severity::Minor => AnnotationLevel::Warning,
        Severity::Info => AnnotationLevel::Notice,
    }
}

fn truncate(s: &str, max_chars: usize) -> String {
    if s.chars().count() <= max_chars {
        return s.to_owned();
    }
    let mut out: String = s.chars().take(max_chars.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The annotation GitHub shows on a finding's lines (plain text: GitHub does not render
/// Markdown in annotations).
pub fn annotation(f: &Finding) -> Annotation {
    let start_line = f.start_line.max(1);
    // GitHub accepts columns only on single-line annotations.
    let columns = match (f.start_column, f.end_column) {
        (Some(s), Some(e)) if f.start_line == f.end_line && e >= s => (Some(s), Some(e)),
        _ => (None, None),
    };
    Annotation {
        path: f.path.clone(),
        start_line,
        end_line: f.end_line.max(start_line),
        start_column: columns.0,
        end_column: columns.1,
        annotation_level: level(f.severity),
        message: truncate(&f.message, 4000),
        title: truncate(
            &format!("{} {} ({} {})", f.backend, f.rule, f.severity, f.category),
            255,
        ),
        raw_details: f
            .help_url
            .as_ref()
            .map(|url| truncate(&format!("Rule documentation: {url}"), 4000)),
    }
}

fn count_by_severity<'f>(findings: impl Iterator<Item = &'f Finding>) -> [usize; 5] {
    Severity::counts(findings.map(|f| f.severity))
}

/// The Markdown summary, cut to GitHub's limit if it ever grew that long.
pub fn summary(r: &Report<'_>, annotated: usize, to_annotate: usize) -> String {
    let mut s = String::new();
    let new: Vec<&Finding> = r
        .findings
        .iter()
        .filter(|f| f.is_new)
        .map(|f| &f.finding)
        .collect();
    if let Some(jail) = &r.jail {
        s.push_str(&format!("> ⚠️ {}\n\n", markdown::text(jail)));
    }
    if let Some(reason) = &r.gate.reason {
        s.push_str(&format!("**No verdict:** {}\n\n", markdown::text(reason)));
    }
    s.push_str(&format!(
        "### Quality gate: {}\n\n",
        match r.gate.verdict {
            Verdict::Success => "passed ✅",
            Verdict::Failure => "failed ❌",
            Verdict::Neutral => "no verdict",
        }
    ));
    if !r.gate.conditions.is_empty() {
        s.push_str(&super::gate_table(r.gate));
        s.push('\n');
    }
    if let Some(note) = &r.gate.note {
        s.push_str(&format!("{}\n\n", markdown::text(note)));
    }
    if r.gate.verdict == Verdict::Neutral {
        // Nothing was analysed: no score or grade to show, only why (above).
        return truncate(&s, MAX_SUMMARY_CHARS);
    }
    if let Some(score) = r.score {
        score_and_findings(&mut s, r, score, &new, annotated, to_annotate);
    } else {
        // A score over nothing analysed would read as "all clean".
        s.push_str("**No score:** no analysis tool ran, so there is nothing to grade; the backends below say why.\n");
    }
    s.push_str("\n### Backends\n\n| backend | version | status | time | findings |\n| --- | --- | --- | --- | --- |\n");
    for b in r.backends {
        let mut status = match &b.status {
            BackendStatus::Ok => "ok".to_owned(),
            BackendStatus::Failed(why) => format!("failed: {}", markdown::text(why)),
            BackendStatus::TimedOut => "timed out".to_owned(),
            BackendStatus::NotApplicable(why) => format!("not applicable: {}", markdown::text(why)),
        };
        if b.over_limit > 0 {
            status.push_str(&format!(
                "; kept the first {} findings, {} more not kept (FLEXT_QUALITY_MAX_FINDINGS_PER_BACKEND)",
                b.findings, b.over_limit
            ));
        }
        s.push_str(&format!(
            "| {} | {} | {} | {:.1} s | {} |\n",
            markdown::text(&b.name),
            markdown::text(b.version.as_deref().unwrap_or("?")),
            status,
            b.elapsed_ms as f64 / 1000.0,
            b.findings
        ));
    }
    truncate(&s, MAX_SUMMARY_CHARS)
}

/// The score, its explanation, the findings tables and the new, fixed and suppressed lists.
fn score_and_findings(
    s: &mut String,
    r: &Report<'_>,
    score: &Score,
    new: &[&Finding],
    annotated: usize,
    to_annotate: usize,
) {
    let change = match r.base_score {
        Some(b) => format!(" ({:+.1} against the base)", score.score - b),
        None => String::new(),
    };
    s.push_str(&format!(
        "### Score {:.1} · grade {}{change}\n\n100 − security {:.1} − reliability {:.1} − maintainability {:.1}, over {} lines of code.",
        score.score, score.grade, score.security, score.reliability, score.maintainability, score.ncloc
    ));
    let open = r
        .findings
        .iter()
        .map(|f| (f.finding.category, f.finding.severity));
    if let Some(why) = crate::domain::score::cap_explanation(score, open) {
        s.push_str(&format!(" {}.", super::local::capitalised(&why)));
    }
    if let Some(counted) = r.test_code.and_then(TestCodeCount::describe) {
        s.push_str(&format!("\n\nCounted differently: {counted}."));
    }
    s.push_str("\n\n### Findings\n\n| severity | open | new |\n| --- | --- | --- |\n");
    let all = count_by_severity(r.findings.iter().map(|f| &f.finding));
    let fresh = count_by_severity(new.iter().copied());
    for (i, sev) in Severity::ALL.iter().enumerate() {
        s.push_str(&format!("| {sev} | {} | {} |\n", all[i], fresh[i]));
    }
    let compared = r
        .compared_sha
        .map(|c| format!("against `{}`", &c[..c.len().min(12)]))
        .unwrap_or_else(|| "(no earlier analysis to compare with)".into());
    s.push_str(&format!(
        "\n**{} new**, **{} fixed** {compared}.\n",
        new.len(),
        r.fixed.len()
    ));
    if to_annotate > annotated {
        s.push_str(&format!(
            "\nOnly the first {annotated} of {to_annotate} findings to annotate are annotated (the maximum is {}).\n",
            r.max_annotations
        ));
    }
    if !new.is_empty() {
        s.push_str("\n<details><summary>New findings</summary>\n\n");
        for f in new.iter().take(200) {
            s.push_str(&format!(
                "- {} {} {} ({}): {}\n",
                markdown::code(&format!("{}:{}", f.path, f.start_line)),
                markdown::text(&f.backend),
                markdown::code(&f.rule),
                f.severity,
                markdown::text(&f.message)
            ));
        }
        if new.len() > 200 {
            s.push_str(&format!("- … and {} more\n", new.len() - 200));
        }
        s.push_str("\n</details>\n");
    }
    if !r.fixed.is_empty() {
        s.push_str(&format!(
            "\n<details><summary>Fixed findings ({})</summary>\n\n",
            r.fixed.len()
        ));
        for f in r.fixed.iter().take(100) {
            s.push_str(&format!(
                "- {} {} {}: {}\n",
                markdown::code(&f.path),
                markdown::text(&f.backend),
                markdown::code(&f.rule),
                markdown::text(&f.message)
            ));
        }
        s.push_str("\n</details>\n");
    }
    if !r.suppressions.is_empty() {
        s.push_str(&format!(
            "\n### Suppressions added ({})\n\n",
            r.suppressions.len()
        ));
        for sup in r.suppressions.iter().take(100) {
            s.push_str(&format!(
                "- {} {}\n",
                markdown::code(&format!("{}:{}", sup.path, sup.line)),
                markdown::code(sup.kind.label())
            ));
        }
        if r.suppressions.len() > 100 {
            s.push_str(&format!("- … and {} more\n", r.suppressions.len() - 100));
        }
    }
}

/// The PATCH bodies that complete a check run: annotation batches of at most 50, the
/// conclusion on the last one so the run completes only once every annotation is in.
pub fn completion_requests(r: &Report<'_>, completed_at: &str) -> Vec<UpdateCheckRun> {
    let to_annotate: Vec<&Finding> = r
        .findings
        .iter()
        .filter(|f| f.annotate)
        .map(|f| &f.finding)
        .collect();
    let annotated: Vec<Annotation> = to_annotate
        .iter()
        .take(r.max_annotations)
        .map(|f| annotation(f))
        .collect();
    let new_count = r.findings.iter().filter(|f| f.is_new).count();
    let output_title = title(r.score, new_count, r.gate, r.backends);
    let output_summary = summary(r, annotated.len(), to_annotate.len());
    let mut batches: Vec<Vec<Annotation>> = annotated
        .chunks(ANNOTATIONS_PER_REQUEST)
        .map(<[Annotation]>::to_vec)
        .collect();
    if batches.is_empty() {
        batches.push(Vec::new());
    }
    let last = batches.len() - 1;
    batches
        .into_iter()
        .enumerate()
        .map(|(i, annotations)| UpdateCheckRun {
            output: Some(Output {
                title: output_title.clone(),
                summary: output_summary.clone(),
                annotations,
            }),
            status: (i == last).then_some(CheckStatus::Completed),
            conclusion: (i == last).then(|| conclusion(r.gate.verdict)),
            completed_at: (i == last).then(|| completed_at.to_owned()),
            actions: if i == last {
                crate::github::checks::actions()
            } else {
                Vec::new()
            },
        })
        .collect()
}

#[cfg(test)]
mod tests;
