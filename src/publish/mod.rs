//! What flext-quality tells people: the check run (title, summary, annotations) and the local
//! `analyze` output.

pub mod check_run;
pub mod local;
pub mod markdown;

use crate::domain::gate::GateResult;

/// The gate's conditions as a Markdown table (empty when there are none).
pub fn gate_table(gate: &GateResult) -> String {
    if gate.conditions.is_empty() {
        return String::new();
    }
    let mut s =
        String::from("| condition | actual | required | result |\n| --- | --- | --- | --- |\n");
    for c in &gate.conditions {
        s.push_str(&format!(
            "| {} | {} | {} | {} |\n",
            c.name,
            c.actual,
            c.threshold,
            if c.passed { "pass" } else { "**fail**" }
        ));
    }
    s
}
