//! The Clippy backend: `cargo clippy --message-format=json` on a crate at the tree's root.
//!
//! Cargo runs build scripts and procedural macros: analysed code runs. That is why it runs
//! only in the jail (or where the operator turned the jail off for trusted code), in a private
//! copy of the tree (cargo writes `Cargo.lock`), offline, with the jail's own `CARGO_HOME`
//! and target directory. The toolchain's own `cargo` is used, not rustup's proxy.
//!
//! Cargo writes one JSON object per line; the diagnostics are those with
//! `reason == "compiler-message"`. Measured with Rust 1.95: span columns are 1-based, the end
//! exclusive; `file_name` is relative to the workspace root; with `--all-targets` the library
//! and its unit-test build report the same diagnostic twice, so identical findings are merged.
//! Rustc's own lints and errors come along (`unused_variables`, `E0425`): they are findings of
//! this backend too. Compile errors end cargo with 101 and are findings (blockers); 101 with
//! no compiler error is cargo failing (a manifest it cannot read, a dependency it cannot get).

use super::{
    help_url, relative_path, Backend, Draft, FindingBuilder, Invocation, Parallelism, ParseError,
    ParseOutput, Prepare, ToolRun, TreeFacts,
};
use crate::analysis::repo_config::{ConfigError, OptionsTable};
use crate::domain::finding::{Category, Severity};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashSet;
use std::path::Path;

pub const NAME: &str = "clippy";

pub struct Clippy;

impl Backend for Clippy {
    fn name(&self) -> &str {
        NAME
    }

    fn program(&self) -> &str {
        "cargo"
    }

    fn version_args(&self) -> Vec<String> {
        vec!["clippy".into(), "--version".into()]
    }

    fn default_mapping(&self) -> &'static str {
        "compiler errors → reliability blocker; correctness and suspicious lints → reliability major; the rest → maintainability minor"
    }

    fn options(&self, table: Option<OptionsTable<'_>>) -> Result<Value, ConfigError> {
        if let Some(t) = table {
            t.allow(&[])?;
        }
        Ok(Value::Object(Default::default()))
    }

    fn applies(&self, facts: &TreeFacts, _: &Value) -> Result<(), String> {
        if !facts.has_cargo_toml {
            return Err("no Cargo.toml".into());
        }
        Ok(())
    }

    fn writes_in_tree(&self) -> bool {
        true
    }

    fn parallelism(&self) -> Parallelism {
        Parallelism::Threads
    }

    fn prepare(&self, p: &Prepare<'_>) -> Result<Invocation, String> {
        let home = &p.scratch.home;
        let args = [
            "clippy",
            "--message-format=json",
            "--quiet",
            "--offline",
            "--all-targets",
        ]
        .map(String::from)
        .to_vec();
        let env = vec![
            (
                "CARGO_HOME".into(),
                home.join("cargo").display().to_string(),
            ),
            (
                "CARGO_TARGET_DIR".into(),
                home.join("target").display().to_string(),
            ),
            ("CARGO_NET_OFFLINE".into(), "true".into()),
            ("CARGO_TERM_COLOR".into(), "never".into()),
            ("CARGO_INCREMENTAL".into(), "0".into()),
            ("CARGO_BUILD_JOBS".into(), p.cores.max(1).to_string()),
        ];
        Ok(Invocation {
            args,
            env,
            ..Invocation::default()
        })
    }

    fn parse(&self, run: &ToolRun<'_>) -> Result<ParseOutput, String> {
        if !matches!(run.exit_code, Some(0 | 101)) {
            return Err(run.exit_failure());
        }
        let out = parse_limited(run.stdout, run.root, run.root, run.max_findings)
            .map_err(|e| e.to_string())?;
        let compile_errors = out.findings.iter().any(|f| f.severity == Severity::Blocker);
        if run.exit_code == Some(101) && !compile_errors {
            let said = out.tool_errors.first().cloned().unwrap_or_default();
            return Err(format!("{} {said}", run.exit_failure()).trim().to_owned());
        }
        Ok(out)
    }
}

#[derive(Deserialize)]
struct CargoMessage {
    reason: String,
    message: Option<Diagnostic>,
}

#[derive(Deserialize)]
struct Diagnostic {
    message: String,
    code: Option<Code>,
    level: String,
    #[serde(default)]
    spans: Vec<Span>,
    #[serde(default)]
    children: Vec<Diagnostic>,
}

#[derive(Deserialize)]
struct Code {
    code: String,
}

#[derive(Deserialize)]
struct Span {
    file_name: String,
    line_start: Option<i64>,
    line_end: Option<i64>,
    column_start: Option<i64>,
    column_end: Option<i64>,
    #[serde(default)]
    is_primary: bool,
    expansion: Option<Box<Expansion>>,
}

#[derive(Deserialize)]
struct Expansion {
    span: Span,
}

/// Parses cargo's JSON messages when cargo ran in the repository root's workspace.
pub fn parse(output: &str, repo_root: &Path) -> Result<ParseOutput, ParseError> {
    parse_in_workspace(output, repo_root, repo_root)
}

/// Parses cargo's JSON messages when the workspace (where cargo ran) is `workspace_root`, a
/// directory inside the repository; paths are still made relative to `repo_root`.
pub fn parse_in_workspace(
    output: &str,
    repo_root: &Path,
    workspace_root: &Path,
) -> Result<ParseOutput, ParseError> {
    parse_limited(output, repo_root, workspace_root, usize::MAX)
}

fn parse_limited(
    output: &str,
    repo_root: &Path,
    workspace_root: &Path,
    limit: usize,
) -> Result<ParseOutput, ParseError> {
    let mut b = FindingBuilder::new(NAME, repo_root, limit);
    let mut seen = HashSet::new();
    for (n, line) in output.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        if !line.starts_with('{') {
            b.tool_error(format!("cargo: {line}"));
            continue;
        }
        let msg: CargoMessage = serde_json::from_str(line).map_err(|e| ParseError::Json {
            tool: NAME,
            detail: format!("line {}: {e}", n + 1),
        })?;
        let Some(d) = msg.message.filter(|_| msg.reason == "compiler-message") else {
            continue;
        };
        if !(d.level == "warning" || d.level.starts_with("error")) {
            continue; // top-level notes and "failure-note" summaries
        }
        if d.message.starts_with("aborting due to") {
            continue;
        }
        let code = d.code.as_ref().map(|c| c.code.as_str());
        let Some(primary) = d.spans.iter().find(|s| s.is_primary) else {
            // Crate-level problems (a missing dependency, a linker error) have no place in the
            // code but explain why there are no other findings.
            if d.level.starts_with("error") {
                b.tool_error(format!("clippy: {}: {}", d.level, d.message));
            }
            continue;
        };
        let Some((path, span)) = locate(primary, repo_root, workspace_root) else {
            b.dropped(format!(
                "clippy {}: {}: no location inside the repository",
                code.unwrap_or(&d.level),
                primary.file_name
            ));
            continue;
        };
        let rule = match code {
            Some(c) => c.to_owned(),
            None if d.level.starts_with("error") => "compiler-error".to_owned(),
            None => "compiler-warning".to_owned(),
        };
        let (category, severity) = clippy_default(&d.level, code);
        // With `--all-targets` the library and its test build report the same diagnostic.
        let key = (
            rule.clone(),
            path.clone(),
            span.line_start,
            span.column_start,
            span.line_end,
            span.column_end,
            d.message.clone(),
        );
        if !seen.insert(key) {
            continue;
        }
        b.push(Draft {
            help_url: rule_url(&rule, &d),
            rule,
            category,
            severity,
            message: d.message,
            path,
            start_line: span.line_start,
            end_line: span.line_end,
            start_column: span.column_start,
            end_column: span.column_end,
        });
    }
    Ok(b.finish())
}

/// The primary span, or, when it lies outside the repository (inside a macro from the
/// standard library or a dependency), the nearest macro call site that lies inside.
fn locate<'a>(primary: &'a Span, repo_root: &Path, workspace: &Path) -> Option<(String, &'a Span)> {
    let mut span = primary;
    for _ in 0..64 {
        // `<…>` names are synthetic sources (proc-macro output, command-line code).
        if !span.file_name.starts_with('<') {
            let full = workspace.join(&span.file_name);
            if let Ok(path) = relative_path(&full.to_string_lossy(), repo_root) {
                return Some((path, span));
            }
        }
        span = &span.expansion.as_ref()?.span;
    }
    None
}

fn rule_url(rule: &str, d: &Diagnostic) -> Option<String> {
    if let Some(lint) = rule.strip_prefix("clippy::") {
        // Clippy links the documentation of its own version; prefer that to `master`.
        let versioned = d.children.iter().find_map(|c| {
            c.message
                .strip_prefix("for further information visit ")
                .and_then(|u| help_url(Some(u)))
        });
        return versioned.or_else(|| {
            help_url(Some(&format!(
                "https://rust-lang.github.io/rust-clippy/master/index.html#{lint}"
            )))
        });
    }
    if is_error_code(rule) {
        return Some(format!("https://doc.rust-lang.org/error_codes/{rule}.html"));
    }
    if rule.starts_with("compiler-")
        || !rule
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b == b'_' || b.is_ascii_digit())
    {
        return None;
    }
    let page = if is_rustc_deny_by_default(rule) {
        "deny-by-default"
    } else {
        "warn-by-default"
    };
    Some(format!(
        "https://doc.rust-lang.org/rustc/lints/listing/{page}.html#{}",
        rule.replace('_', "-")
    ))
}

/// Clippy (and the compiler diagnostics `cargo clippy` reports alongside):
/// - a diagnostic at level `error` that is not a Clippy lint fails `cargo build`: reliability
///   blocker (E-codes such as E0425, code-less errors, rustc lints a crate denies);
/// - Clippy's `correctness` and `suspicious` groups, and rustc's deny-by-default lints or
///   E-coded diagnostics that a crate lowered to warnings: reliability major;
/// - everything else: maintainability minor.
///
/// Clippy lints are classified by group, not level, because a crate's `#![deny(clippy::...)]`
/// changes the level without making the lint more severe.
pub fn clippy_default(level: &str, code: Option<&str>) -> (Category, Severity) {
    let code = code.unwrap_or("");
    if let Some(lint) = code.strip_prefix("clippy::") {
        return if is_clippy_bug_lint(lint) {
            (Category::Reliability, Severity::Major)
        } else {
            (Category::Maintainability, Severity::Minor)
        };
    }
    if level.starts_with("error") {
        return (Category::Reliability, Severity::Blocker);
    }
    // Some lints borrow an error's code (E0133 for `unsafe_op_in_unsafe_fn`): an error
    // lowered to a warning is still about correctness.
    if is_error_code(code) || is_rustc_deny_by_default(code) {
        return (Category::Reliability, Severity::Major);
    }
    (Category::Maintainability, Severity::Minor)
}

/// `E0425` and friends: rustc's numbered errors.
pub fn is_error_code(code: &str) -> bool {
    code.len() == 5 && code.starts_with('E') && code[1..].bytes().all(|b| b.is_ascii_digit())
}

/// Members of `clippy::correctness` and `clippy::suspicious` in the Clippy shipped with Rust
/// 1.95 (from `clippy-driver -W help`). A lint added later falls into "the rest" until this
/// list is refreshed; the test below guards its shape.
pub const CLIPPY_CORRECTNESS: &str = "
    absurd_extreme_comparisons almost_swapped approx_constant async_yields_async bad_bit_mask 
    cast_slice_different_sizes char_indices_as_byte_indices deprecated_semver 
    derive_ord_xor_partial_ord derived_hash_with_manual_eq eager_transmute 
    enum_clike_unportable_variant eq_op erasing_op if_let_mutex ifs_same_cond 
    impl_hash_borrow_with_str_and_bytes impossible_comparisons ineffective_bit_mask 
    infinite_iter inherent_to_string_shadow_display inline_fn_without_body invalid_regex 
    inverted_saturating_sub invisible_characters iter_next_loop iter_skip_zero 
    iterator_step_by_zero let_underscore_lock lint_groups_priority match_str_case_mismatch 
    mem_replace_with_uninit min_max mistyped_literal_suffixes modulo_one mut_from_ref 
    never_loop non_octal_unix_permissions nonsensical_open_options not_unsafe_ptr_arg_deref 
    option_env_unwrap out_of_bounds_indexing overly_complex_bool_expr panicking_overflow_checks 
    panicking_unwrap possible_missing_comma read_line_without_trim recursive_format_impl 
    redundant_comparisons reversed_empty_ranges self_assignment serde_api_misuse 
    size_of_in_element_count suspicious_splitn transmute_null_to_fn transmuting_null 
    uninit_assumed_init uninit_vec unit_cmp unit_hash unit_return_expecting_ord 
    unsound_collection_transmute unused_io_amount useless_attribute vec_resize_to_zero 
    while_immutable_condition wrong_transmute zst_offset 
";

pub const CLIPPY_SUSPICIOUS: &str = "
    almost_complete_range arc_with_non_send_sync await_holding_invalid_type await_holding_lock 
    await_holding_refcell_ref blanket_clippy_restriction_lints cast_abs_to_unsigned 
    cast_enum_constructor cast_enum_truncation cast_nan_to_int cast_slice_from_raw_parts 
    confusing_method_to_numeric_cast const_is_empty crate_in_macro_def crosspointer_transmute 
    declare_interior_mutable_const deprecated_clippy_cfg_attr doc_nested_refdefs 
    doc_suspicious_footnotes drop_non_drop duplicate_mod duplicated_attributes empty_docs 
    empty_line_after_doc_comments empty_line_after_outer_attr empty_loop 
    float_equality_without_abs forget_non_drop four_forward_slashes from_raw_with_void_ptr 
    incompatible_msrv ineffective_open_options infallible_try_from iter_out_of_bounds 
    join_absolute_paths let_underscore_future lines_filter_map_ok macro_metavars_in_unsafe 
    manual_unwrap_or_default misnamed_getters misrefactored_assign_op 
    missing_transmute_annotations multi_assignments mut_range_bound mutable_key_type 
    needless_character_iteration needless_maybe_sized no_effect_replace 
    non_canonical_clone_impl non_canonical_partial_ord_impl octal_escapes path_ends_with_ext 
    permissions_set_readonly_false pointers_in_nomem_asm_block possible_missing_else 
    print_in_format_impl rc_clone_in_vec_init redundant_locals repeat_vec_with_capacity 
    repr_packed_without_abi single_range_in_vec_init size_of_ref suspicious_arithmetic_impl 
    suspicious_assignment_formatting suspicious_command_arg_space suspicious_doc_comments 
    suspicious_else_formatting suspicious_map suspicious_op_assign_impl suspicious_open_options 
    suspicious_to_owned suspicious_unary_op_formatting swap_ptr_to_ref test_attr_in_doctest 
    type_id_on_box unconditional_recursion unnecessary_clippy_cfg unnecessary_get_then_check 
    unnecessary_option_map_or_else unnecessary_result_map_or_else zero_repeat_side_effects 
    zombie_processes 
";

/// rustc's deny-by-default lints in Rust 1.95 (from `rustc -W help`).
pub const RUSTC_DENY_BY_DEFAULT: &str = "
    ambiguous_associated_items arithmetic_overflow binary_asm_labels bindings_with_variant_name 
    conflicting_repr_hints dangerous_implicit_autorefs default_overrides_default_fields 
    dependency_on_unit_never_type_fallback deref_nullptr 
    elided_lifetimes_in_associated_constant enum_intrinsics_non_enums 
    explicit_builtin_cfgs_in_flags ill_formed_attribute_input incomplete_include 
    ineffective_unstable_trait_impl invalid_atomic_ordering invalid_from_utf8_unchecked 
    invalid_macro_export_arguments invalid_null_arguments invalid_reference_casting 
    invalid_type_param_default legacy_derive_helpers let_underscore_lock 
    long_running_const_eval macro_expanded_macro_exports_accessed_by_absolute_paths 
    mutable_transmutes named_asm_labels never_type_fallback_flowing_into_unsafe 
    no_mangle_const_items out_of_scope_macro_calls overflowing_literals 
    patterns_in_fns_without_body proc_macro_derive_resolution_fallback 
    pub_use_of_private_extern_crate repr_transparent_non_zst_fields 
    semicolon_in_expressions_from_macros soft_unstable test_unstable_lint 
    text_direction_codepoint_in_comment text_direction_codepoint_in_literal unconditional_panic 
    undropped_manually_drops unknown_crate_types useless_deprecated 
";

/// Whether a Clippy lint (name without the `clippy::` prefix) is in `correctness` or
/// `suspicious`.
pub fn is_clippy_bug_lint(lint: &str) -> bool {
    let lint = lint.replace('-', "_");
    CLIPPY_CORRECTNESS
        .split_whitespace()
        .chain(CLIPPY_SUSPICIOUS.split_whitespace())
        .any(|l| l == lint)
}

pub fn is_rustc_deny_by_default(lint: &str) -> bool {
    RUSTC_DENY_BY_DEFAULT.split_whitespace().any(|l| l == lint)
}

#[cfg(test)]
mod tests;
