//! The dashboard in a real browser: Debian's headless Chromium signs in with a one-time link
//! against the whole app (real analyses with the real tools, a real database, the fake
//! GitHub), keeps its session cookie in its profile between runs (the cookie has a Max-Age, so
//! it is written to disk), opens the ecosystem, project, analysis and compliance pages and
//! shows what matters — names, grades, scores, rule ids — in the DOM it built; the DOM passes
//! the HTML and accessibility checks; a fresh profile (a stranger) is sent to sign in.
//! Screenshots of every page at desktop (1280×900) and phone (375×800) widths are written to
//! `target/screenshots/`.
//!
//! Without Chromium the test fails (it never skips): `scripts/test.sh` installs it, or
//! `apt-get install chromium`.

mod harness;
mod support;

use harness::dsl::{run_test, Options};
use harness::html::assert_valid;
use harness::web::{analysed_project, REPO};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A Chromium profile: cookies kept on disk between runs of the browser.
struct Chromium {
    binary: PathBuf,
    profile: tempfile::TempDir,
}

impl Chromium {
    fn new() -> Chromium {
        let binary = std::env::var_os("PATH")
            .into_iter()
            .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
            .map(|dir| dir.join("chromium"))
            .find(|p| p.is_file())
            .unwrap_or_else(|| {
                panic!(
                    "Chromium is not installed, and the browser test needs a real browser: \
                     run scripts/test.sh or `apt-get install chromium`"
                )
            });
        Chromium {
            binary,
            profile: tempfile::tempdir().unwrap(),
        }
    }

    /// Runs the browser once, headless, on this profile; its standard output.
    async fn run(&self, args: &[&str]) -> String {
        let profile = format!("--user-data-dir={}", self.profile.path().display());
        let mut cmd = tokio::process::Command::new(&self.binary);
        cmd.args([
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--no-first-run",
            "--hide-scrollbars",
            &profile,
        ])
        .args(args)
        .kill_on_drop(true);
        let started = Instant::now();
        let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
            .await
            .unwrap_or_else(|_| panic!("chromium {args:?} did not finish within 60 s"))
            .expect("chromium runs");
        assert!(
            out.status.success(),
            "chromium {args:?} failed ({:?}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        eprintln!("chromium {args:?}: {:?}", started.elapsed());
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The DOM the browser built from `url` (after redirects).
    async fn dom(&self, url: &str) -> String {
        self.run(&["--dump-dom", url]).await
    }

    /// A screenshot of `url` at a window size, as a PNG file.
    async fn screenshot(&self, url: &str, file: &Path, (w, h): (u32, u32)) {
        let _ = std::fs::remove_file(file);
        let shot = format!("--screenshot={}", file.display());
        let size = format!("--window-size={w},{h}");
        self.run(&[&shot, &size, url]).await;
        let png = std::fs::read(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        assert!(
            png.starts_with(b"\x89PNG") && png.len() > 2_000,
            "{} is a real PNG",
            file.display()
        );
    }
}

/// `target/screenshots/`, next to the test binaries' target directory.
fn screenshots_dir() -> PathBuf {
    let target = Path::new(env!("CARGO_BIN_EXE_flext-quality"))
        .ancestors()
        .nth(2)
        .expect("the target directory")
        .to_path_buf();
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The text of a DOM with tags dropped and whitespace collapsed, to look for what a reader sees.
fn visible_text(dom: &str) -> String {
    let mut out = String::new();
    let mut in_tag = false;
    for c in dom.chars() {
        match c {
            '<' => {
                in_tag = true;
                out.push(' ');
            }
            '>' => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&amp;", "&")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_dashboard_in_a_real_browser() {
    // Before the app starts: a missing browser fails at once, saying so.
    let browser = Chromium::new();
    run_test(Options::default(), move |t| async move {
        let data = analysed_project(&t).await;
        let p = &data.project;
        let grade = p.grade.clone().expect("graded");
        let score = format!("{:.1}", p.score.expect("scored"));
        let url = |path: &str| format!("{}{path}", t.url());

        // Sign in: the link redirects to the ecosystem page with the session cookie set.
        let home = browser.dom(&t.sign_in_link().await).await;
        let text = visible_text(&home);
        assert!(text.contains("local-admin (admin)"), "signed in: {text}");
        assert!(text.contains(REPO), "{text}");

        // A second run of the browser still has the session: the cookie was kept on disk.
        let pages = [
            ("ecosystem", "/".to_owned()),
            ("project", format!("/projects/{}", p.id)),
            ("analysis", format!("/analyses/{}", data.pr.id)),
            ("compliance", "/compliance".to_owned()),
        ];
        let mut doms = Vec::new();
        for (name, path) in &pages {
            let dom = browser.dom(&url(path)).await;
            assert!(
                !dom.contains("<h1>Sign in</h1>"),
                "{name}: the session did not persist between browser runs:\n{dom}"
            );
            assert_valid(name, &dom);
            doms.push(visible_text(&dom));
        }
        let [home, project, analysis, compliance] = &doms[..] else {
            unreachable!()
        };
        for expected in [REPO, &grade, &score, "failing the gate", "✗ failed"] {
            assert!(
                home.contains(expected),
                "ecosystem lacks {expected}: {home}"
            );
        }
        assert!(doms[0].len() > 100);
        for expected in [
            REPO,
            "Score over time",
            "Open findings on main",
            "Security",
            "app.py",
            "Recent analyses",
            "PR #1",
            "bandit",
            "ruff",
            &score,
        ] {
            assert!(
                project.contains(expected),
                "project lacks {expected}: {project}"
            );
        }
        for f in data.pr_new.iter().chain(&data.pr_fixed) {
            assert!(
                analysis.contains(&f.rule),
                "analysis lacks rule {}: {analysis}",
                f.rule
            );
            assert!(analysis.contains(&f.path), "analysis lacks {}", f.path);
        }
        for expected in [
            "Quality gate",
            "New findings",
            "Fixed findings",
            "Backends",
            "Timings",
        ] {
            assert!(analysis.contains(expected), "analysis lacks {expected}");
        }
        for expected in [REPO, "✗ no", "open critical security finding", &grade] {
            assert!(
                compliance.contains(expected),
                "compliance lacks {expected}: {compliance}"
            );
        }

        // The admin's pages are valid too.
        let admin_pages = [
            ("audit", "/audit".to_owned()),
            ("api-keys", "/settings/api-keys".to_owned()),
        ];
        for (name, path) in &admin_pages {
            let dom = browser.dom(&url(path)).await;
            assert_valid(name, &dom);
            assert!(visible_text(&dom).contains("local-admin"), "{name}: {dom}");
        }

        // Screenshots at a laptop's and a phone's width.
        let dir = screenshots_dir();
        for (name, path) in pages.iter().chain(&admin_pages) {
            for (width, size) in [("desktop", (1280, 900)), ("phone", (375, 800))] {
                let file = dir.join(format!("{name}-{width}.png"));
                browser.screenshot(&url(path), &file, size).await;
            }
        }

        // A stranger (a fresh profile) is sent to sign in, and sees nothing of the project.
        let stranger = Chromium::new();
        let dom = stranger.dom(&url(&format!("/projects/{}", p.id))).await;
        assert!(dom.contains("<h1>Sign in</h1>"), "{dom}");
        assert!(!visible_text(&dom).contains(REPO), "{dom}");
        assert_valid("sign-in", &dom);
        stranger
            .screenshot(&url("/"), &dir.join("signin-phone.png"), (375, 800))
            .await;
    })
    .await;
}
