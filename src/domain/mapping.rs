//! Default category and severity of the findings of every backend except Ruff (which lives in
//! [`super::policy::ruff_default`]), as DESIGN.md's "Default severity mapping" lists them.
//!
//! Pure functions of what the tool reports; a repository config or the server policy can
//! still override any single rule afterwards.

use super::finding::{Category, Severity};

/// MyPy: every error is a typing bug waiting to happen (reliability/major); notes, such as
/// `reveal_type` output, are informational.
pub fn mypy_default(severity: &str) -> (Category, Severity) {
    match severity {
        "note" => (Category::Reliability, Severity::Info),
        // Unknown levels count as errors: mypy has only the two, and a new one is likelier
        // to be something that fails the run than something harmless.
        _ => (Category::Reliability, Severity::Major),
    }
}

/// Bandit: HIGH/MEDIUM/LOW severity are critical/major/minor, one step lower when Bandit
/// itself has LOW confidence in the finding. Always security.
pub fn bandit_default(issue_severity: &str, issue_confidence: &str) -> Severity {
    let severity = match issue_severity.to_ascii_uppercase().as_str() {
        "HIGH" => Severity::Critical,
        "MEDIUM" => Severity::Major,
        "LOW" => Severity::Minor,
        // Bandit's UNDEFINED (and anything newer) gives no signal beyond "a security smell".
        _ => Severity::Info,
    };
    if issue_confidence.eq_ignore_ascii_case("LOW") {
        severity.lowered()
    } else {
        severity
    }
}

/// Semgrep: ERROR/WARNING/INFO are critical/major/minor; category from the rule's
/// `metadata.category`.
///
/// Semgrep also accepts the newer CRITICAL/HIGH/MEDIUM/LOW scale, where HIGH is what ERROR
/// used to be: CRITICAL and HIGH are both critical (the design caps Semgrep at critical),
/// MEDIUM major, LOW minor. EXPERIMENT and INVENTORY rules only record facts: info.
pub fn semgrep_default(severity: &str, metadata_category: Option<&str>) -> (Category, Severity) {
    let severity = match severity.to_ascii_uppercase().as_str() {
        "ERROR" | "CRITICAL" | "HIGH" => Severity::Critical,
        "WARNING" | "MEDIUM" => Severity::Major,
        "EXPERIMENT" | "INVENTORY" => Severity::Info,
        _ => Severity::Minor,
    };
    let category = match metadata_category.map(str::to_ascii_lowercase).as_deref() {
        Some("security") => Category::Security,
        Some("correctness" | "reliability" | "bug") => Category::Reliability,
        _ => Category::Maintainability,
    };
    (category, severity)
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

/// SARIF (any tool): a `security-severity` score (CVSS-like, 0–10, GitHub's convention)
/// makes a finding security, graded ≥9 critical, ≥7 major, ≥4 minor, >0 info. Otherwise the
/// SARIF level error/warning/note is major/minor/info (absent: warning, SARIF's default), in
/// reliability unless the rule is tagged `security`, or `maintainability`/`style`.
pub fn sarif_default(
    level: Option<&str>,
    security_severity: Option<f64>,
    tags: &[String],
) -> (Category, Severity) {
    if let Some(score) = security_severity.filter(|s| s.is_finite() && *s > 0.0) {
        let severity = if score >= 9.0 {
            Severity::Critical
        } else if score >= 7.0 {
            Severity::Major
        } else if score >= 4.0 {
            Severity::Minor
        } else {
            Severity::Info
        };
        return (Category::Security, severity);
    }
    let severity = match level.unwrap_or("warning") {
        "error" => Severity::Major,
        "note" | "none" => Severity::Info,
        _ => Severity::Minor,
    };
    let tagged = |names: &[&str]| {
        tags.iter()
            .any(|t| names.iter().any(|n| t.eq_ignore_ascii_case(n)))
    };
    let category = if tagged(&["security"]) {
        Category::Security
    } else if tagged(&["maintainability", "style"]) {
        Category::Maintainability
    } else {
        Category::Reliability
    };
    (category, severity)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Category::*;
    use Severity::*;

    #[test]
    fn mypy_table() {
        for (level, want) in [
            ("error", (Reliability, Major)),
            ("note", (Reliability, Info)),
            ("fatal", (Reliability, Major)),
        ] {
            assert_eq!(mypy_default(level), want, "{level}");
        }
    }

    #[test]
    fn bandit_table() {
        for (sev, conf, want) in [
            ("HIGH", "HIGH", Critical),
            ("HIGH", "MEDIUM", Critical),
            ("HIGH", "LOW", Major),
            ("MEDIUM", "HIGH", Major),
            ("MEDIUM", "LOW", Minor),
            ("LOW", "HIGH", Minor),
            ("LOW", "LOW", Info),
            ("low", "low", Info),
            ("UNDEFINED", "HIGH", Info),
        ] {
            assert_eq!(bandit_default(sev, conf), want, "{sev}/{conf}");
        }
    }

    #[test]
    fn semgrep_table() {
        for (sev, cat, want) in [
            ("ERROR", Some("security"), (Security, Critical)),
            ("WARNING", Some("correctness"), (Reliability, Major)),
            ("INFO", None, (Maintainability, Minor)),
            ("WARNING", Some("bug"), (Reliability, Major)),
            ("WARNING", Some("reliability"), (Reliability, Major)),
            ("ERROR", Some("best-practice"), (Maintainability, Critical)),
            ("ERROR", Some("Security"), (Security, Critical)),
            ("CRITICAL", Some("security"), (Security, Critical)),
            ("HIGH", None, (Maintainability, Critical)),
            ("MEDIUM", None, (Maintainability, Major)),
            ("LOW", None, (Maintainability, Minor)),
            ("INVENTORY", None, (Maintainability, Info)),
            ("weird", None, (Maintainability, Minor)),
        ] {
            assert_eq!(semgrep_default(sev, cat), want, "{sev}/{cat:?}");
        }
    }

    #[test]
    fn clippy_table() {
        for (level, code, want) in [
            ("error", Some("E0425"), (Reliability, Blocker)),
            ("error", None, (Reliability, Blocker)),
            ("error", Some("unused_variables"), (Reliability, Blocker)),
            ("warning", Some("E0133"), (Reliability, Major)),
            ("warning", Some("clippy::eq_op"), (Reliability, Major)),
            ("error", Some("clippy::eq_op"), (Reliability, Major)),
            (
                "warning",
                Some("clippy::suspicious_map"),
                (Reliability, Major),
            ),
            (
                "warning",
                Some("clippy::await_holding_lock"),
                (Reliability, Major),
            ),
            (
                "warning",
                Some("clippy::needless_return"),
                (Maintainability, Minor),
            ),
            (
                "error",
                Some("clippy::needless_return"),
                (Maintainability, Minor),
            ),
            ("warning", Some("clippy::ptr_arg"), (Maintainability, Minor)),
            (
                "warning",
                Some("unused_variables"),
                (Maintainability, Minor),
            ),
            ("warning", Some("arithmetic_overflow"), (Reliability, Major)),
            ("warning", None, (Maintainability, Minor)),
        ] {
            assert_eq!(clippy_default(level, code), want, "{level}/{code:?}");
        }
    }

    #[test]
    fn lint_lists_are_sorted_unique_snake_case() {
        for list in [CLIPPY_CORRECTNESS, CLIPPY_SUSPICIOUS, RUSTC_DENY_BY_DEFAULT] {
            let names: Vec<&str> = list.split_whitespace().collect();
            assert!(names.len() > 40);
            assert!(names.windows(2).all(|w| w[0] < w[1]), "not sorted/unique");
            assert!(names.iter().all(|n| n
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')));
        }
        assert_eq!(CLIPPY_CORRECTNESS.split_whitespace().count(), 68);
        assert_eq!(CLIPPY_SUSPICIOUS.split_whitespace().count(), 82);
    }

    #[test]
    fn sarif_table() {
        let tags = |t: &[&str]| t.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        for (level, sec, t, want) in [
            (Some("error"), Some(9.8), tags(&[]), (Security, Critical)),
            (Some("note"), Some(9.0), tags(&[]), (Security, Critical)),
            (None, Some(8.9), tags(&[]), (Security, Major)),
            (None, Some(7.0), tags(&[]), (Security, Major)),
            (None, Some(4.0), tags(&[]), (Security, Minor)),
            (None, Some(0.1), tags(&["style"]), (Security, Info)),
            (Some("error"), Some(0.0), tags(&[]), (Reliability, Major)),
            (
                Some("error"),
                Some(f64::NAN),
                tags(&[]),
                (Reliability, Major),
            ),
            (Some("warning"), None, tags(&[]), (Reliability, Minor)),
            (None, None, tags(&[]), (Reliability, Minor)),
            (Some("note"), None, tags(&[]), (Reliability, Info)),
            (Some("none"), None, tags(&[]), (Reliability, Info)),
            (
                Some("error"),
                None,
                tags(&["security", "external/cwe/cwe-79"]),
                (Security, Major),
            ),
            (
                Some("warning"),
                None,
                tags(&["Maintainability"]),
                (Maintainability, Minor),
            ),
            (
                Some("note"),
                None,
                tags(&["style"]),
                (Maintainability, Info),
            ),
        ] {
            assert_eq!(
                sarif_default(level, sec, &t),
                want,
                "{level:?}/{sec:?}/{t:?}"
            );
        }
    }
}
