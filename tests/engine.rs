//! The analysis engine on real projects written into temporary directories, running the real
//! pinned tools (Ruff, MyPy, Bandit, Semgrep from `<tools dir>/venv/bin`, the tools dir being
//! `FLEXT_QUALITY_TOOLS_DIR` or the default, as the engine finds them) in the real jail.
//!
//! Covers: the per-file result cache changes nothing (no cache, cold, warm, and after one file
//! changed), each backend's normalised findings are exactly the bare tool's (none lost, none
//! duplicated), a failing backend does not sink the others, the repository config (excluded
//! paths, rule severity overrides, choosing backends), and that no finding ever points outside
//! the repository through a symbolic link.
//!
//! A missing tool fails the tests with the path it was looked for in; nothing skips.

mod harness;
mod support;

use harness::tools::{tool, tools_dir};

use flext_quality::analysis::backends::LocalFiles;
use flext_quality::analysis::engine::{
    AnalysisInput, BackendReport, BackendStatus, Engine, TreeAnalysis,
};
use flext_quality::analysis::jail::{Jail, JailState, SandboxSetting};
use flext_quality::analysis::repo_config::{parse_repo_config, ConfigSource, RepoConfig};
use flext_quality::analysis::toolchain::Toolchain;
use flext_quality::domain::finding::Severity;
use flext_quality::domain::policy::RuleOverrides;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

const FILES: usize = 30;

/// A module with one finding for each per-file backend and one for MyPy.
fn module(i: usize) -> String {
    format!(
        "import os\nimport subprocess\n\n\ndef run_{i}(cmd: str) -> int:\n    return subprocess.call(cmd, shell=True)\n\n\ndef convert_{i}(x: int) -> str:\n    return x\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_changes_nothing_cold_warm_or_after_an_edit() {
    let started = Instant::now();
    let files: Vec<(String, String)> = (0..FILES)
        .map(|i| (format!("pkg/mod_{i:02}.py"), module(i)))
        .chain([("pkg/__init__.py".to_owned(), String::new())])
        .collect();
    let n = files.len();
    let project = project(&files);
    let root = project.path();
    let config = RepoConfig::default();
    let cache = tempfile::tempdir().unwrap();

    let uncached = analyse(&engine(None), root, &config).await;
    let cold = analyse(&engine(Some(cache.path().into())), root, &config).await;
    let warm = analyse(&engine(Some(cache.path().into())), root, &config).await;
    for a in [&uncached, &cold, &warm] {
        assert_ran(a, &["ruff", "mypy", "bandit"]);
    }
    for backend in ["ruff", "mypy", "bandit"] {
        let count = uncached
            .findings
            .iter()
            .filter(|f| f.backend == backend)
            .count();
        assert!(
            count >= FILES,
            "{backend}: {count} findings, expected one per module at least"
        );
    }
    assert_eq!(uncached.findings, cold.findings, "no cache vs cold cache");
    assert_eq!(uncached.findings, warm.findings, "no cache vs warm cache");
    assert_eq!(uncached.ncloc, warm.ncloc);
    assert_eq!(report(&cold, "ruff").cached_files, 0);
    for backend in ["ruff", "bandit"] {
        assert_eq!(report(&warm, backend).cached_files, n, "{backend} warm");
    }

    // One file changes: only that file is re-run, and the result is what a fresh run says.
    let changed = root.join("pkg/mod_07.py");
    let text = std::fs::read_to_string(&changed).unwrap();
    std::fs::write(
        &changed,
        format!("{text}\n\ndef extra() -> int:\n    return eval(\"2\") + missing_name\n"),
    )
    .unwrap();
    let after = analyse(&engine(Some(cache.path().into())), root, &config).await;
    let fresh = analyse(&engine(None), root, &config).await;
    assert_ran(&after, &["ruff", "mypy", "bandit"]);
    for backend in ["ruff", "bandit"] {
        assert_eq!(
            report(&after, backend).cached_files,
            n - 1,
            "{backend} after one edit"
        );
    }
    assert_eq!(
        after.findings, fresh.findings,
        "cached vs fresh after one edit"
    );
    assert!(
        after.findings.len() > warm.findings.len(),
        "the edit added findings"
    );
    assert!(after
        .findings
        .iter()
        .any(|f| f.path == "pkg/mod_07.py" && f.backend == "bandit" && f.rule == "B307"));
    eprintln!("cache test: {:.1}s", started.elapsed().as_secs_f64());
}

const SEMGREP_RULE: &str = "rules:\n  - id: shell-true\n    languages: [python]\n    severity: ERROR\n    message: subprocess with shell=True\n    pattern: subprocess.call(..., shell=True)\n";

const PROBLEMS: &str = "import os\nimport subprocess\n\n\ndef run(cmd: str) -> int:\n    subprocess.call(cmd, shell=True)\n    return subprocess.call(cmd, shell=True)\n\n\ndef convert(x: int) -> str:\n    return x\n\n\ndef check() -> int:\n    assert undefined_name\n    return eval(\"1\")\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_backend_reports_exactly_what_the_bare_tool_reports() {
    let project = project(&[
        ("main.py", PROBLEMS.to_owned()),
        ("pkg/__init__.py", String::new()),
        ("pkg/helpers.py", PROBLEMS.replace("convert", "to_text")),
        ("pkg/clean.py", "VALUE = 1\n".to_owned()),
        ("rules/shell.yml", SEMGREP_RULE.to_owned()),
    ]);
    let root = project.path();
    let config = config(
        "[backends]\nruff = {}\nmypy = {}\nbandit = {}\nsemgrep = { config = [\"rules/\"] }\n",
    );
    let a = analyse(&engine(None), root, &config).await;
    assert_ran(&a, &["ruff", "mypy", "bandit", "semgrep"]);
    let scratch = tempfile::tempdir().unwrap();
    let mypy_cache = scratch.path().join("mypy-cache");

    let ruff: Value = tool_json(
        root,
        "ruff",
        &[
            "check",
            "--output-format=json",
            "--isolated",
            "--no-cache",
            ".",
        ],
    );
    let ruff: Vec<Key> = ruff
        .as_array()
        .expect("ruff output is an array")
        .iter()
        .map(|d| {
            let rule = d["code"].as_str().unwrap_or("invalid-syntax");
            key(root, &d["filename"], &d["location"]["row"], rule)
        })
        .collect();

    let mypy_out = run_tool(
        root,
        "mypy",
        &[
            "--output",
            "json",
            "--cache-dir",
            mypy_cache.to_str().unwrap(),
            ".",
        ],
    );
    let mypy: Vec<Key> = mypy_out
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| {
            let d: Value = serde_json::from_str(l).unwrap();
            key(
                root,
                &d["file"],
                &d["line"],
                d["code"].as_str().unwrap_or("misc"),
            )
        })
        .collect();

    let bandit: Value = tool_json(root, "bandit", &["-f", "json", "-q", "-r", "."]);
    let bandit: Vec<Key> = bandit["results"]
        .as_array()
        .expect("bandit results")
        .iter()
        .map(|r| {
            key(
                root,
                &r["filename"],
                &r["line_number"],
                r["test_id"].as_str().unwrap(),
            )
        })
        .collect();

    let semgrep: Value = tool_json(
        root,
        "semgrep",
        &["scan", "--json", "--metrics=off", "--config", "rules/", "."],
    );
    let semgrep: Vec<Key> = semgrep["results"]
        .as_array()
        .expect("semgrep results")
        .iter()
        .map(|r| {
            key(
                root,
                &r["path"],
                &r["start"]["line"],
                r["check_id"].as_str().unwrap(),
            )
        })
        .collect();

    for (backend, bare) in [
        ("ruff", ruff),
        ("mypy", mypy),
        ("bandit", bandit),
        ("semgrep", semgrep),
    ] {
        assert!(
            bare.len() >= 2,
            "{backend}: the sample should give findings, got {bare:?}"
        );
        let mut ours: Vec<Key> = a
            .findings
            .iter()
            .filter(|f| f.backend == backend)
            .map(|f| (f.path.clone(), f.start_line as i64, f.rule.clone()))
            .collect();
        let mut bare = bare;
        ours.sort();
        bare.sort();
        assert_eq!(ours, bare, "{backend}: engine findings vs the bare tool");
        assert_eq!(report(&a, backend).findings, bare.len());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_backend_does_not_sink_the_others() {
    let project = project(&[
        ("main.py", PROBLEMS.to_owned()),
        ("rules/broken.yml", "rules:\n  - id: broken\n    languages: [python]\n    severity: ERROR\n    message: x\n    pattern: \"def (((\"\n".to_owned()),
        ("rules/not-yaml.yml", "rules: [ {{ : :\n".to_owned()),
    ]);
    let config = config("[backends]\nruff = {}\nsemgrep = { config = [\"rules/\"] }\n");
    let a = analyse(&engine(None), project.path(), &config).await;
    let semgrep = report(&a, "semgrep");
    assert!(
        matches!(semgrep.status, BackendStatus::Failed(_)),
        "semgrep with broken rules should fail: {semgrep:?}"
    );
    assert_eq!(
        report(&a, "ruff").status,
        BackendStatus::Ok,
        "{:?}",
        a.reports
    );
    assert!(a
        .findings
        .iter()
        .any(|f| f.backend == "ruff" && f.rule == "F821"));
    assert!(a.findings.iter().all(|f| f.backend != "semgrep"));
    assert!(a.any_backend_ran());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn config_excludes_paths_overrides_severities_and_chooses_backends() {
    let project = project(&[
        ("app.py", PROBLEMS.to_owned()),
        ("vendor/lib.py", PROBLEMS.to_owned()),
        ("vendor/deep/more.py", PROBLEMS.to_owned()),
    ]);
    let root = project.path();
    let e = engine(None);

    let all = analyse(&e, root, &RepoConfig::default()).await;
    assert_ran(&all, &["ruff", "mypy", "bandit"]);
    assert!(all.findings.iter().any(|f| f.path.starts_with("vendor/")));
    let f401 = |a: &TreeAnalysis| -> Vec<Severity> {
        a.findings
            .iter()
            .filter(|f| f.backend == "ruff" && f.rule == "F401")
            .map(|f| f.severity)
            .collect()
    };
    assert!(!f401(&all).is_empty() && f401(&all).iter().all(|s| *s == Severity::Minor));

    let excluded = analyse(&e, root, &config("[paths]\nexclude = [\"vendor/**\"]\n")).await;
    assert_ran(&excluded, &["ruff", "mypy", "bandit"]);
    let paths: Vec<&str> = excluded.findings.iter().map(|f| f.path.as_str()).collect();
    assert!(paths.iter().all(|p| !p.starts_with("vendor/")), "{paths:?}");
    assert!(paths.contains(&"app.py"));
    assert!(
        excluded.ncloc < all.ncloc,
        "excluded files are not counted in ncloc"
    );

    let overridden = analyse(
        &e,
        root,
        &config("[rules]\n\"ruff:F401\" = { severity = \"info\" }\n"),
    )
    .await;
    assert!(!f401(&overridden).is_empty());
    assert!(f401(&overridden).iter().all(|s| *s == Severity::Info));
    let others = |a: &TreeAnalysis| -> Vec<(String, u32, Severity)> {
        a.findings
            .iter()
            .filter(|f| f.rule != "F401")
            .map(|f| (f.rule.clone(), f.start_line, f.severity))
            .collect()
    };
    assert_eq!(others(&overridden), others(&all), "only F401 changes");

    let only_ruff = analyse(&e, root, &config("[backends]\nruff = {}\n")).await;
    assert_eq!(report(&only_ruff, "ruff").status, BackendStatus::Ok);
    for name in ["mypy", "bandit", "semgrep", "clippy"] {
        match &report(&only_ruff, name).status {
            BackendStatus::NotApplicable(why) => assert!(!why.is_empty(), "{name}: empty reason"),
            other => panic!("{name} should not run with `[backends] ruff = {{}}`: {other:?}"),
        }
    }
    assert!(only_ruff.findings.iter().all(|f| f.backend == "ruff"));
    assert!(!only_ruff.findings.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_finding_points_outside_the_repository() {
    let outside = project(&[
        ("bad.py", PROBLEMS.to_owned()),
        ("__init__.py", String::new()),
    ]);
    let project = project(&[
        (
            "main.py",
            "import escape.bad\n\nprint(escape.bad.convert(1) + undefined_here)\n".to_owned(),
        ),
        ("rules/shell.yml", SEMGREP_RULE.to_owned()),
    ]);
    let root = project.path();
    std::os::unix::fs::symlink(outside.path(), root.join("escape")).unwrap();
    std::os::unix::fs::symlink(outside.path().join("bad.py"), root.join("leak.py")).unwrap();
    let config = config(
        "[backends]\nruff = {}\nmypy = {}\nbandit = {}\nsemgrep = { config = [\"rules/\"] }\n",
    );
    let cache = tempfile::tempdir().unwrap();
    for e in [engine(None), engine(Some(cache.path().into()))] {
        let a = analyse(&e, root, &config).await;
        assert_ran(&a, &["ruff", "bandit", "semgrep"]);
        // In the jail the links lead nowhere: MyPy cannot follow `import escape.bad` out of
        // the tree, stops there, and says so.
        match &report(&a, "mypy").status {
            BackendStatus::Failed(why) => {
                assert!(why.contains("escape: error: Cannot read file"), "{why}")
            }
            other => panic!("mypy read a file outside the tree: {other:?}"),
        }
        assert!(
            a.findings
                .iter()
                .any(|f| f.path == "main.py" && f.rule == "F821"),
            "main.py is analysed: {:?}",
            a.findings
        );
        let canonical_root = root.canonicalize().unwrap();
        for f in &a.findings {
            assert!(
                !f.path.starts_with("escape/") && f.path != "leak.py",
                "finding behind a symlink to outside the repository: {f:?}"
            );
            let real = root.join(&f.path).canonicalize().unwrap();
            assert!(
                real.starts_with(&canonical_root),
                "{f:?} resolves to {}",
                real.display()
            );
        }
        assert!(!a
            .findings
            .iter()
            .any(|f| f.message.contains(outside.path().to_str().unwrap())));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_backend_reports_its_version_without_delay() {
    let project = project(&[
        ("main.py", PROBLEMS.to_owned()),
        ("rules/shell.yml", SEMGREP_RULE.to_owned()),
    ]);
    let config = config(
        "[backends]\nruff = {}\nmypy = {}\nbandit = {}\nsemgrep = { config = [\"rules/\"] }\n",
    );
    let started = Instant::now();
    let a = analyse(&engine(None), project.path(), &config).await;
    let elapsed = started.elapsed();
    assert_ran(&a, &["ruff", "mypy", "bandit", "semgrep"]);
    for name in ["ruff", "mypy", "bandit", "semgrep"] {
        let bare = run_tool(project.path(), name, &["--version"]);
        let r = report(&a, name);
        let version = r.version.as_deref().unwrap_or_else(|| {
            panic!(
                "{name} reported no version (bare `{name} --version` says {:?}); the analysis must record tool versions: {r:?}",
                bare.trim()
            )
        });
        assert!(bare.contains(version), "{name}: {version} vs {bare}");
    }
    // Bare, each of these tools takes a few seconds on this project.
    assert!(
        elapsed < Duration::from_secs(45),
        "the analysis took {elapsed:?}: {:?}",
        a.reports
    );
}

/// Ruff's judgement of a file can depend on more than its content: I001 classifies `import
/// mymod` as first-party when `mymod.py` exists in the tree. Adding that file must not leave
/// the cache answering for the unchanged importer with the old verdict.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_follows_other_files_that_change_a_files_verdict() {
    let project = project(&[(
        "a.py",
        "import mymod\nimport requests\n\nprint(mymod, requests)\n",
    )]);
    let root = project.path();
    let config = config("[backends]\nruff = {}\n");
    let cache = tempfile::tempdir().unwrap();
    let before = analyse(&engine(Some(cache.path().into())), root, &config).await;
    assert!(
        before.findings.iter().all(|f| f.rule != "I001"),
        "{:?}",
        before.findings
    );
    std::fs::write(root.join("mymod.py"), "X = 1\n").unwrap();
    let cached = analyse(&engine(Some(cache.path().into())), root, &config).await;
    let fresh = analyse(&engine(None), root, &config).await;
    assert!(
        fresh
            .findings
            .iter()
            .any(|f| f.path == "a.py" && f.rule == "I001"),
        "{:?}",
        fresh.findings
    );
    assert_eq!(
        cached.findings, fresh.findings,
        "the cache answered a.py with a stale verdict"
    );
}

/// EXE001/EXE002 depend on the executable bit, which is not part of a file's content.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_follows_the_executable_bit() {
    use std::os::unix::fs::PermissionsExt as _;
    let project = project(&[("tool.py", "X = 1\n")]);
    let root = project.path();
    let config = config("[backends]\nruff = {}\n");
    let cache = tempfile::tempdir().unwrap();
    let before = analyse(&engine(Some(cache.path().into())), root, &config).await;
    assert!(before.findings.is_empty(), "{:?}", before.findings);
    std::fs::set_permissions(root.join("tool.py"), std::fs::Permissions::from_mode(0o755)).unwrap();
    let cached = analyse(&engine(Some(cache.path().into())), root, &config).await;
    let fresh = analyse(&engine(None), root, &config).await;
    assert!(
        fresh.findings.iter().any(|f| f.rule == "EXE002"),
        "{:?}",
        fresh.findings
    );
    assert_eq!(
        cached.findings, fresh.findings,
        "the cache ignored the mode change"
    );
}

/// Bandit sharded over four cores says exactly what one Bandit process says, each slice's
/// result is cached per file, and a slice that fails fails the backend (not the others) while
/// the other slices' results are still cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bandit_sharded_over_the_cores_equals_one_process() {
    // About 420 KiB of Python: enough for four slices of at least 64 KiB.
    let files: Vec<(String, String)> = (0..320)
        .map(|i| (format!("pkg{}/mod_{i:03}.py", i / 80), shard_module(i)))
        .chain((0..4).map(|p| (format!("pkg{p}/__init__.py"), String::new())))
        .collect();
    let n = files.len();
    let project = project(&files);
    let root = project.path();
    let config = config("[backends]\nruff = {}\nbandit = {}\n");

    let one = cored(engine(None), 1);
    let four = cored(engine(None), 4);
    let single = analyse(&one, root, &config).await;
    let sharded = analyse(&four, root, &config).await;
    assert_ran(&single, &["ruff", "bandit"]);
    assert_ran(&sharded, &["ruff", "bandit"]);
    assert_eq!(one.tool_runs(), 2, "one Ruff run, one Bandit run");
    assert_eq!(
        four.tool_runs(),
        1 + 4,
        "one Ruff run, Bandit in four slices"
    );
    let bandit = single
        .findings
        .iter()
        .filter(|f| f.backend == "bandit")
        .count();
    assert!(bandit >= 3 * 320, "{bandit} Bandit findings");
    assert_eq!(single.findings, sharded.findings, "one process vs four");
    assert_eq!(single.ncloc, sharded.ncloc);

    // Cached per file: a cold sharded run fills the cache, a warm one runs nothing.
    let cache = tempfile::tempdir().unwrap();
    let cold = analyse(&cored(engine(Some(cache.path().into())), 4), root, &config).await;
    let warm_engine = cored(engine(Some(cache.path().into())), 4);
    let warm = analyse(&warm_engine, root, &config).await;
    assert_eq!(cold.findings, single.findings, "cold cache, sharded");
    assert_eq!(warm.findings, single.findings, "warm cache, sharded");
    assert_eq!(report(&warm, "bandit").cached_files, n);
    assert_eq!(warm_engine.tool_runs(), 0, "everything came from the cache");

    // Two files Bandit cannot parse, at either end of the tree: Bandit fails with the reason,
    // Ruff still counts, and the slices that ran clean are cached.
    for bad in ["pkg0/a_broken.py", "pkg3/z_broken.py"] {
        std::fs::write(root.join(bad), "def f(:\n").unwrap();
    }
    let cache = tempfile::tempdir().unwrap();
    let broken = analyse(&cored(engine(Some(cache.path().into())), 4), root, &config).await;
    let status = &report(&broken, "bandit").status;
    let BackendStatus::Failed(why) = status else {
        panic!("Bandit should fail on files it cannot parse: {status:?}");
    };
    assert!(why.contains("_broken.py"), "{why}");
    assert_eq!(report(&broken, "ruff").status, BackendStatus::Ok);
    let again = analyse(&cored(engine(Some(cache.path().into())), 4), root, &config).await;
    let cached = report(&again, "bandit").cached_files;
    assert!(
        cached > 0 && cached < n,
        "clean slices cached, broken ones not: {cached} of {}",
        n + 2
    );
}

/// Two analyses at once of trees that share their files (a pull request's head and base) run
/// each per-file tool once per file: what one is running, the other waits for.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_analyses_run_each_shared_file_once() {
    let files: Vec<(String, String)> = (0..40)
        .map(|i| (format!("pkg/mod_{i:02}.py"), shard_module(i)))
        .collect();
    let head = project(&files);
    let base = project(&files);
    let config = config("[backends]\nruff = {}\nbandit = {}\n");
    let cache = tempfile::tempdir().unwrap();
    let shared = engine(Some(cache.path().into()));
    let (a, b) = tokio::join!(
        analyse(&shared, head.path(), &config),
        analyse(&shared, base.path(), &config)
    );
    assert_ran(&a, &["ruff", "bandit"]);
    assert_ran(&b, &["ruff", "bandit"]);
    assert_eq!(a.findings, b.findings);
    let uncached = analyse(&engine(None), head.path(), &config).await;
    assert_eq!(a.findings, uncached.findings);
    for backend in ["ruff", "bandit"] {
        let cached = report(&a, backend).cached_files + report(&b, backend).cached_files;
        assert_eq!(
            cached,
            files.len(),
            "{backend}: every file ran once, in one of the two"
        );
    }
}

/// A module of about 1.3 KiB with several Bandit findings.
fn shard_module(i: usize) -> String {
    format!(
        "\"\"\"Module {i}.\"\"\"\n\nimport hashlib\nimport pickle\nimport subprocess\n\n\
         PASSWORD = \"hunter{i}\"\n\n\ndef run_{i}(command: str) -> int:\n    \
         return subprocess.call(command, shell=True)\n\n\ndef load_{i}(blob: bytes) -> object:\n    \
         return pickle.loads(blob)\n\n\ndef digest_{i}(data: bytes) -> str:\n    \
         return hashlib.md5(data).hexdigest()\n\n\ndef total_{i}(values: list[int]) -> int:\n    \
         result = 0\n    for value in values:\n        result += value\n    return result\n{}",
        "\n# padding so each module weighs about the same as real code\n".repeat(16)
    )
}

// ---------------------------------------------------------------------------------------------
// Helpers

type Key = (String, i64, String);

fn engine(cache_dir: Option<PathBuf>) -> Engine {
    for name in ["ruff", "mypy", "bandit", "semgrep"] {
        tool(name);
    }
    let jail = Jail::new(SandboxSetting::Required, Toolchain::resolve(&tools_dir()));
    assert_eq!(
        jail.state(),
        &JailState::Jailed,
        "the jail must work here (scripts/test.sh installs bubblewrap)"
    );
    Engine {
        jail,
        timeout: Duration::from_secs(300),
        result_cache: cache_dir.map(|d| d.join("results")),
        tool_cache: None,
        policy: RuleOverrides::default(),
        sarif_tools: Vec::new(),
        max_findings: flext_quality::analysis::engine::DEFAULT_MAX_FINDINGS,
        runs: Default::default(),
    }
}

/// The engine with its own budget of `cores` (Bandit is sharded over them).
fn cored(mut engine: Engine, cores: usize) -> Engine {
    engine.jail = engine.jail.with_cores(cores);
    engine
}

fn config(text: &str) -> RepoConfig {
    parse_repo_config(text, ConfigSource::FlextToml).unwrap_or_else(|e| panic!("{e}"))
}

async fn analyse(engine: &Engine, root: &Path, config: &RepoConfig) -> TreeAnalysis {
    let input = AnalysisInput {
        root: root.to_path_buf(),
        config: config.clone(),
        config_files: Arc::new(LocalFiles {
            root: root.to_path_buf(),
        }),
    };
    engine.analyse(&input, None).await.expect("analysis")
}

fn report<'a>(a: &'a TreeAnalysis, name: &str) -> &'a BackendReport {
    a.reports
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no report for {name}: {:?}", a.reports))
}

/// Each named backend ran; a missing or crashing tool fails here with its reason.
fn assert_ran(a: &TreeAnalysis, names: &[&str]) {
    for name in names {
        let r = report(a, name);
        assert_eq!(r.status, BackendStatus::Ok, "{name} did not run: {r:?}");
        assert!(
            r.tool_errors.is_empty(),
            "{name} tool errors: {:?}",
            r.tool_errors
        );
    }
}

fn project<S: AsRef<str>, T: AsRef<str>>(files: &[(S, T)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        let path = dir.path().join(name.as_ref());
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text.as_ref()).unwrap();
    }
    dir
}

/// Runs a tool bare in `root` (HOME a scratch dir, no version check) and returns its stdout.
fn run_tool(root: &Path, name: &str, args: &[&str]) -> String {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(tool(name))
        .args(args)
        .current_dir(root)
        .env("HOME", home.path())
        .env("SEMGREP_ENABLE_VERSION_CHECK", "0")
        .env("SEMGREP_SEND_METRICS", "off")
        .output()
        .unwrap_or_else(|e| panic!("running {name}: {e}"));
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{name} {args:?} failed with {:?}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn tool_json(root: &Path, name: &str, args: &[&str]) -> Value {
    let text = run_tool(root, name, args);
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{name} output is not JSON ({e}): {text}"))
}

/// (repository-relative path, line, rule) from a tool's own path (absolute, `./x` or `x`).
fn key(root: &Path, path: &Value, line: &Value, rule: &str) -> Key {
    let path = path.as_str().expect("path is a string");
    let canonical = root.canonicalize().unwrap();
    let rel = Path::new(path)
        .strip_prefix(&canonical)
        .or_else(|_| Path::new(path).strip_prefix(root))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| path.trim_start_matches("./").to_owned());
    (
        rel,
        line.as_i64().expect("line is a number"),
        rule.to_owned(),
    )
}
