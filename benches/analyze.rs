//! Benchmark: `flext-quality analyze` on a generated Python repository of 2,000 files, against
//! the same tools run bare, in one run. See benches/README.md.
//!
//! Part 1, Ruff and Bandit only (the repository config a new user writes to try them): each bare
//! tool, their sum and the slowest; `analyze` cold, cold on one core (Bandit unsharded), and
//! after one file changed; the ratios against their targets (cold ≤ 0.75× the bare tools in
//! sequence and ≤ 1.2× the slowest bare tool; one changed file ≤ 0.1× cold).
//!
//! Part 2, every default tool (MyPy too): bare, `analyze` cold in the jail and without it, and
//! after one file changed. Skipped by `FQ_BENCH_SMOKE=1`, which also makes the project small.

#[path = "shared/python_repo.rs"]
mod python_repo;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn timed(name: &str, cmd: &mut Command) -> Duration {
    let started = Instant::now();
    let out = cmd.output().unwrap_or_else(|e| panic!("{name}: {e}"));
    let elapsed = started.elapsed();
    assert!(
        out.status.code().is_some_and(|c| c <= 1),
        "{name} failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    elapsed
}

fn tools_dir() -> PathBuf {
    std::env::var("FLEXT_QUALITY_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| flext_quality::config::default_tools_dir())
}

fn tool(name: &str) -> PathBuf {
    let p = tools_dir().join("venv/bin").join(name);
    assert!(
        p.is_file(),
        "{} missing: run `flext-quality tools install` (scripts/test.sh does)",
        p.display()
    );
    p
}

fn bare_ruff(root: &Path) -> Duration {
    timed(
        "ruff",
        Command::new(tool("ruff"))
            .args([
                "check",
                "--output-format=json",
                "--exit-zero",
                "--isolated",
                "--no-cache",
                ".",
            ])
            .current_dir(root),
    )
}

fn bare_bandit(root: &Path) -> Duration {
    timed(
        "bandit",
        Command::new(tool("bandit"))
            .args(["-f", "json", "-q", "-r", "."])
            .current_dir(root),
    )
}

fn bare_mypy(root: &Path, cache: &Path) -> Duration {
    timed(
        "mypy",
        Command::new(tool("mypy"))
            .args([
                "--output",
                "json",
                "--no-error-summary",
                "--show-column-numbers",
                "--cache-dir",
            ])
            .arg(cache)
            .arg(".")
            .current_dir(root),
    )
}

/// `flext-quality analyze` on `root` with its own data dir (so its own result cache).
fn analyze(root: &Path, data: &Path, sandbox: &str, cores: Option<usize>) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_flext-quality"));
    c.args(["analyze", "--format", "json", "--sandbox", sandbox])
        .arg(root)
        .env("FLEXT_QUALITY_DATA_DIR", data)
        .env("FLEXT_QUALITY_TOOLS_DIR", tools_dir())
        .env_remove("FLEXT_QUALITY_ANALYSIS_CORES")
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null());
    if let Some(n) = cores {
        c.env("FLEXT_QUALITY_ANALYSIS_CORES", n.to_string());
    }
    c
}

/// Adds a function with a finding to module `i`, as an edit would.
fn change_one_file(root: &Path, i: usize) {
    let changed = root.join(format!("pkg{}/mod{i}.py", i / 100));
    let mut text = std::fs::read_to_string(&changed).unwrap();
    text.push_str("\n\ndef added() -> int:\n    return undefined_name\n");
    std::fs::write(&changed, text).unwrap();
}

/// `analyze` after one file changed, three times (a different module each time, each run on
/// the data dir the one before left): the median, since one run of a few tenths of a second
/// moves with whatever else the machine does.
fn changed_median(root: &Path, data: &Path, count: usize) -> Duration {
    let mut runs: Vec<Duration> = [count / 2, count / 3, count / 4]
        .into_iter()
        .map(|i| {
            change_one_file(root, i);
            timed(
                "analyze (one file changed)",
                &mut analyze(root, data, "required", None),
            )
        })
        .collect();
    runs.sort();
    runs[1]
}

fn secs(d: Duration) -> f64 {
    d.as_secs_f64()
}

/// `label  ours / peer  ratio×  (target ≤ t×) met|MISSED`.
fn ratio(label: &str, ours: Duration, peer: Duration, target: f64) {
    let r = secs(ours) / secs(peer);
    println!(
        "{label:<44} {r:>6.2}×  (target ≤ {target:.2}×) {}",
        if r <= target { "met" } else { "MISSED" }
    );
}

fn main() {
    let smoke = std::env::var_os("FQ_BENCH_SMOKE").is_some();
    let count = if smoke && std::env::var_os("FQ_BENCH_FILES").is_none() {
        300
    } else {
        python_repo::file_count()
    };
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    println!(
        "analyze benchmark: {count} generated Python modules, {cores} cores{}",
        if smoke { " (smoke run)" } else { "" }
    );

    // Part 1: Ruff and Bandit only.
    let repo = tempfile::tempdir().unwrap();
    let root = repo.path();
    python_repo::write(root, count);
    std::fs::write(
        root.join(".flext-quality.toml"),
        python_repo::RUFF_AND_BANDIT,
    )
    .unwrap();
    let ruff = bare_ruff(root);
    let bandit = bare_bandit(root);
    let sequence = ruff + bandit;
    let slowest = ruff.max(bandit);
    let one_core_data = tempfile::tempdir().unwrap();
    let one_core = timed(
        "analyze (cold, one core)",
        &mut analyze(root, one_core_data.path(), "required", Some(1)),
    );
    let data = tempfile::tempdir().unwrap();
    let cold = timed(
        "analyze (cold)",
        &mut analyze(root, data.path(), "required", None),
    );
    let changed = changed_median(root, data.path(), count);
    println!();
    println!("Ruff + Bandit ([backends] ruff, bandit), seconds");
    println!("  bare ruff                          {:>8.2}", secs(ruff));
    println!("  bare bandit                        {:>8.2}", secs(bandit));
    println!(
        "  bare ruff + bandit, in sequence    {:>8.2}",
        secs(sequence)
    );
    println!(
        "  analyze cold, one core (unsharded) {:>8.2}",
        secs(one_core)
    );
    println!("  analyze cold (jail, all cores)     {:>8.2}", secs(cold));
    println!(
        "  analyze, one file changed (median) {:>8.2}",
        secs(changed)
    );
    ratio("  cold / bare tools in sequence", cold, sequence, 0.75);
    ratio("  cold / slowest bare tool (bandit)", cold, slowest, 1.2);
    ratio("  one file changed / cold", changed, cold, 0.10);
    println!(
        "  {:<42} {:>6.2}×  (Bandit sharded over {cores} cores vs one process)",
        "cold / cold on one core",
        secs(cold) / secs(one_core)
    );
    if smoke {
        return;
    }

    // Part 2: every tool that applies by default (Ruff, MyPy, Bandit; Semgrep has no rules).
    let repo = tempfile::tempdir().unwrap();
    let root = repo.path();
    python_repo::write(root, count);
    let scratch = tempfile::tempdir().unwrap();
    let ruff = bare_ruff(root);
    let mypy = bare_mypy(root, &scratch.path().join("mypy"));
    let bandit = bare_bandit(root);
    let sequence = ruff + mypy + bandit;
    let unjailed_data = tempfile::tempdir().unwrap();
    let unjailed = timed(
        "analyze (cold, no jail)",
        &mut analyze(root, unjailed_data.path(), "off", None),
    );
    let data = tempfile::tempdir().unwrap();
    let cold = timed(
        "analyze (cold)",
        &mut analyze(root, data.path(), "required", None),
    );
    let changed = changed_median(root, data.path(), count);
    println!();
    println!("Every default tool (Ruff, MyPy, Bandit; no config file), seconds");
    println!("  bare ruff                          {:>8.2}", secs(ruff));
    println!("  bare mypy                          {:>8.2}", secs(mypy));
    println!("  bare bandit                        {:>8.2}", secs(bandit));
    println!(
        "  bare tools in sequence             {:>8.2}",
        secs(sequence)
    );
    println!(
        "  bare slowest                       {:>8.2}",
        secs(ruff.max(mypy).max(bandit))
    );
    println!(
        "  analyze cold, no jail              {:>8.2}",
        secs(unjailed)
    );
    println!("  analyze cold (jail)                {:>8.2}", secs(cold));
    println!(
        "  analyze, one file changed (median) {:>8.2}",
        secs(changed)
    );
    ratio("  cold / bare tools in sequence", cold, sequence, 1.10);
    ratio("  one file changed / cold", changed, cold, 0.20);
    println!(
        "  {:<42} {:>6.2}×  (what the jail costs, cold)",
        "jail / no jail",
        secs(cold) / secs(unjailed)
    );
}
