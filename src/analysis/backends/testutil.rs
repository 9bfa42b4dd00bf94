//! Helpers shared by the backends' tests: a deterministic input mutator for the no-panic
//! property tests, the location of the real tools, and small projects on disk.

use std::path::PathBuf;

/// xorshift64*: deterministic, so a failing iteration can be reproduced from its number.
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        XorShift(seed.max(1))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }
}

/// Bytes that matter to JSON and TOML parsers, so mutations reach deep code paths.
const INTERESTING: &[u8] = b"{}[]\",:0123456789-.eE \n\\/=#'tfnul";

/// One mutated variant of `sample`: truncated, bytes flipped, inserted, duplicated or
/// replaced with random ones; or pure random bytes. Always valid UTF-8 (lossy).
pub fn mutate(rng: &mut XorShift, sample: &str) -> String {
    let mut bytes = sample.as_bytes().to_vec();
    match rng.below(6) {
        0 => bytes.truncate(rng.below(bytes.len() + 1)),
        1 => {
            return String::from_utf8_lossy(
                &(0..rng.below(200))
                    .map(|_| rng.next_u64() as u8)
                    .collect::<Vec<u8>>(),
            )
            .into_owned()
        }
        2 if !bytes.is_empty() => {
            // Copy a slice somewhere else: duplicates keys, nests brackets.
            let a = rng.below(bytes.len());
            let b = a + rng.below(bytes.len() - a);
            let chunk = bytes[a..b].to_vec();
            let at = rng.below(bytes.len());
            bytes.splice(at..at, chunk);
        }
        _ => {
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(bytes.len() + 1);
                let c = INTERESTING[rng.below(INTERESTING.len())];
                if at < bytes.len() && rng.below(2) == 0 {
                    bytes[at] = c;
                } else {
                    bytes.insert(at, c);
                }
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Runs `f` on thousands of mutations of the samples; a panic fails the test with the
/// iteration number and input.
pub fn no_panic(samples: &[&str], iterations: usize, f: impl Fn(&str)) {
    let mut rng = XorShift::new(0x5eed_f1e7);
    for i in 0..iterations {
        let sample = samples[i % samples.len()];
        let input = mutate(&mut rng, sample);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&input)));
        assert!(r.is_ok(), "iteration {i} panicked on input {input:?}");
    }
}

/// Where the test script installed the pinned tools (`FLEXT_QUALITY_TOOLS_DIR`), or the
/// default place the app installs them.
pub fn tools_dir() -> PathBuf {
    std::env::var("FLEXT_QUALITY_TOOLS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|_| crate::config::default_tools_dir())
}

/// The real tool, found as the engine finds it. Missing tools fail the test: the test script
/// installs them, so absence is a setup bug, not a reason to skip.
pub fn tool(name: &str) -> PathBuf {
    let dir = tools_dir();
    crate::analysis::toolchain::Toolchain::resolve(&dir)
        .find(name)
        .unwrap_or_else(|| {
            panic!(
                "{name} is not installed in {}/venv/bin or on PATH: run scripts/test.sh (it installs the pinned tools)",
                dir.display()
            )
        })
}

/// The real jail over the installed tools; a machine where it cannot be made fails the test.
pub fn jail() -> crate::analysis::jail::Jail {
    use crate::analysis::jail::{Jail, JailState, SandboxSetting};
    let jail = Jail::new(
        SandboxSetting::Required,
        crate::analysis::toolchain::Toolchain::resolve(&tools_dir()),
    );
    assert_eq!(
        jail.state(),
        &JailState::Jailed,
        "the jail must work on this machine (scripts/test.sh installs bubblewrap)"
    );
    jail
}

/// Writes `files` into a fresh temporary directory and returns it.
pub fn project(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
    dir
}
