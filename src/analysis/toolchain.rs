//! Where the analysis tools live: the pinned tools' virtual environment, the Python
//! interpreter it was made from, and the Rust toolchain Clippy builds with.
//!
//! The environment and the interpreter are resolved at start, so the jail can show exactly
//! these directories (read-only) and nothing else of the machine: a virtual environment's
//! `python` is a link to the interpreter it was created from (under pyenv, say,
//! `~/.pyenv/versions/3.11.7`). The Rust toolchain is asked for the first time a program is
//! looked for outside the environment (Clippy's `cargo`): `rustc --print sysroot` through
//! rustup's proxy costs a tenth of a second that an analysis of Python alone need not pay, and
//! only a program of the toolchain sees the toolchain in its jail.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, OnceLock};

#[derive(Debug, Clone)]
pub struct Toolchain {
    /// `<tools dir>/venv`, holding the pinned Python tools.
    pub venv: PathBuf,
    /// The interpreter's installation (`sys.base_prefix`), when it is outside `/usr`.
    pub python_home: Option<PathBuf>,
    /// The Rust toolchain's sysroot (`rustc --print sysroot`), once asked; `None` inside when
    /// Rust is not installed.
    rust: Arc<OnceLock<Option<PathBuf>>>,
}

impl PartialEq for Toolchain {
    fn eq(&self, other: &Toolchain) -> bool {
        self.venv == other.venv
            && self.python_home == other.python_home
            && self.rust_sysroot() == other.rust_sysroot()
    }
}

impl Eq for Toolchain {}

/// Directories every jail shows read-only: the system's programs and libraries.
pub const SYSTEM_DIRS: [&str; 1] = ["/usr"];

fn first_line(mut command: Command) -> Option<String> {
    let out = command
        .env_remove("PYTHONHOME")
        .env_remove("PYTHONPATH")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next()?.trim();
    (!line.is_empty()).then(|| line.to_owned())
}

fn outside_system_dirs(path: PathBuf) -> Option<PathBuf> {
    let path = path.canonicalize().unwrap_or(path);
    (!SYSTEM_DIRS.iter().any(|d| path.starts_with(d))).then_some(path)
}

impl Toolchain {
    /// Looks the tools up under `tools_dir` (which need not exist yet: installing the tools later
    /// calls this again). Blocking: it asks the interpreter and `rustc` where they live.
    pub fn resolve(tools_dir: &Path) -> Toolchain {
        let venv = absolute(&tools_dir.join("venv"));
        let python = venv.join("bin").join("python3");
        let python_home = if python.exists() {
            let mut c = Command::new(&python);
            c.args(["-I", "-c", "import sys; print(sys.base_prefix)"]);
            first_line(c)
                .map(PathBuf::from)
                .and_then(outside_system_dirs)
        } else {
            None
        };
        Toolchain {
            venv,
            python_home,
            rust: Arc::default(),
        }
    }

    /// The Rust toolchain's sysroot, when Rust is installed (asked once, then remembered).
    pub fn rust_sysroot(&self) -> Option<&Path> {
        self.rust
            .get_or_init(|| {
                let mut c = Command::new("rustc");
                c.args(["--print", "sysroot"]);
                first_line(c)
                    .map(PathBuf::from)
                    .filter(|p| p.join("bin").join("cargo").is_file())
            })
            .as_deref()
    }

    /// The sysroot, when `program` is one of the toolchain's (never asks `rustc`: a program of
    /// the toolchain was found through it, which asked already).
    fn sysroot_of(&self, program: &Path) -> Option<&Path> {
        self.rust
            .get()?
            .as_deref()
            .filter(|sysroot| program.starts_with(sysroot))
    }

    /// Finds a program: the tools' environment, then the Rust toolchain, then PATH.
    pub fn find(&self, name: &str) -> Option<PathBuf> {
        let in_venv = self.venv.join("bin").join(name);
        if in_venv.is_file() {
            return Some(in_venv);
        }
        if let Some(sysroot) = self.rust_sysroot() {
            let p = sysroot.join("bin").join(name);
            if p.is_file() {
                return Some(p);
            }
        }
        find_on_path(name)
    }

    /// Directories every jailed tool needs besides the system's: the environment and the
    /// interpreter. Read-only.
    pub fn read_only_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = vec![self.venv.clone()];
        dirs.extend(self.python_home.iter().cloned());
        dirs
    }

    /// What a run of `program` sees read-only besides the system: [`Toolchain::read_only_dirs`],
    /// and the Rust toolchain for a program of the toolchain.
    pub fn read_only_dirs_for(&self, program: &Path) -> Vec<PathBuf> {
        let mut dirs = self.read_only_dirs();
        dirs.extend(self.sysroot_of(program).map(Path::to_path_buf));
        dirs
    }

    /// PATH inside a run of `program`: the environment's programs first, then the toolchain's
    /// for a program of the toolchain, then the system's.
    pub fn path_dirs(&self, program: &Path) -> Vec<PathBuf> {
        let mut dirs = vec![self.venv.join("bin")];
        dirs.extend(self.sysroot_of(program).map(|s| s.join("bin")));
        dirs.extend(["/usr/local/bin", "/usr/bin", "/bin"].map(PathBuf::from));
        dirs
    }
}

/// `path` made absolute against the working directory (without resolving links).
pub fn absolute(path: &Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    std::env::current_dir()
        .map(|cwd| cwd.join(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// The first executable file called `name` on PATH.
pub fn find_on_path(name: &str) -> Option<PathBuf> {
    if name.contains('/') {
        let p = absolute(Path::new(name));
        return p.is_file().then_some(p);
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| absolute(&p.join(name)))
            .find(|p| p.is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_the_interpreter_and_toolchain_of_an_installed_environment() {
        let tools = crate::analysis::backends::testutil::tools_dir();
        let t = Toolchain::resolve(&tools);
        assert!(
            t.venv.is_absolute() && t.venv.join("bin/python3").exists(),
            "{t:?}"
        );
        // The interpreter the environment links to is visible through these directories.
        let real = t.venv.join("bin/python3").canonicalize().unwrap();
        let visible = SYSTEM_DIRS
            .iter()
            .map(PathBuf::from)
            .chain(t.read_only_dirs())
            .any(|d| real.starts_with(d));
        assert!(visible, "{} is not under {t:?}", real.display());
        assert!(t.find("ruff").is_some_and(|p| p.starts_with(&t.venv)));
        assert!(
            t.rust.get().is_none(),
            "Rust is not asked for a tool of the environment"
        );
        let ruff = t.find("ruff").unwrap();
        assert!(!t
            .path_dirs(&ruff)
            .iter()
            .any(|d| d.starts_with("/root/.rustup")));
        let cargo = t.find("cargo").expect("cargo is found");
        assert!(
            t.rust_sysroot().is_some_and(|s| cargo.starts_with(s)),
            "cargo should come from the toolchain, not rustup's proxy: {}",
            cargo.display()
        );
        // Only a program of the toolchain sees the toolchain.
        let sysroot = t.rust_sysroot().unwrap().to_path_buf();
        assert!(t.read_only_dirs_for(&cargo).contains(&sysroot));
        assert!(t.path_dirs(&cargo).contains(&sysroot.join("bin")));
        assert!(!t.read_only_dirs_for(&ruff).contains(&sysroot));
        assert!(!t.path_dirs(&ruff).contains(&sysroot.join("bin")));
    }

    #[test]
    fn relative_tools_dirs_become_absolute() {
        let t = Toolchain::resolve(Path::new("no-such-dir/tools"));
        assert!(t.venv.is_absolute());
        assert_eq!(t.python_home, None);
    }
}
