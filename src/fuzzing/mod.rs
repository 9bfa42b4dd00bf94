//! Generators of hostile input and the checks each input must pass, shared by the `proptest`
//! suites in `tests/fuzz_*.rs`, the `cargo fuzz` targets in `fuzz/` and the million-body
//! benchmark (`benches/ingress_million.rs`). Only built with the `test-support` feature.
//!
//! Every generator reads its choices from an [`Entropy`], a plain byte string: libFuzzer hands
//! its bytes straight in, proptest hands in a generated `Vec<u8>` (and shrinks it), the
//! benchmark hands in pseudo-random bytes. One generator therefore serves all three, and a
//! failing input from any of them can be replayed by the others. Running out of bytes always
//! means "the simplest choice", so shorter inputs are simpler inputs.
//!
//! Each `check_*` function runs one input through the real code and returns `Err` with a
//! one-line description when an invariant does not hold; a panic inside the code under test is
//! left to propagate, so libFuzzer and proptest both record it as the failure it is.

pub mod git_tree;
pub mod repo_config;
pub mod sarif_import;
pub mod tool_output;
pub mod webhook;

use serde_json::{json, Map, Value};

/// Choices read from a byte string; exhausted, every choice is its simplest (zero).
pub struct Entropy<'a> {
    data: &'a [u8],
    at: usize,
}

impl<'a> Entropy<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        Entropy { data, at: 0 }
    }

    pub fn is_exhausted(&self) -> bool {
        self.at >= self.data.len()
    }

    pub fn byte(&mut self) -> u8 {
        let b = self.data.get(self.at).copied().unwrap_or(0);
        self.at = self.at.saturating_add(1);
        b
    }

    /// A number in `0..n` (0 when `n` is 0); one byte for small ranges, four for large ones.
    pub fn below(&mut self, n: usize) -> usize {
        if n <= 1 {
            return 0;
        }
        let raw = if n <= 256 {
            self.byte() as usize
        } else {
            u32::from_le_bytes([self.byte(), self.byte(), self.byte(), self.byte()]) as usize
        };
        raw % n
    }

    /// True about once in `n` draws; never once the bytes run out.
    pub fn one_in(&mut self, n: u8) -> bool {
        !self.is_exhausted() && self.byte() % n.max(1) == n.max(1) - 1
    }

    /// A coin toss; false once the bytes run out (so loops driven by it end).
    pub fn flag(&mut self) -> bool {
        self.byte() & 1 == 1
    }

    pub fn pick<'t, T>(&mut self, items: &'t [T]) -> &'t T {
        &items[self.below(items.len())]
    }

    /// Up to `max` raw bytes.
    pub fn bytes(&mut self, max: usize) -> Vec<u8> {
        let n = self.below(max.saturating_add(1));
        (0..n).map(|_| self.byte()).collect()
    }

    /// The bytes not read yet.
    pub fn rest(&mut self) -> &'a [u8] {
        let rest = self.data.get(self.at..).unwrap_or(&[]);
        self.at = self.data.len();
        rest
    }
}

/// Text that has broken parsers, paths, databases and renderers before: empty, NUL, control
/// characters, line breaks, right-to-left marks, multi-byte characters at cut points,
/// markup, separators, and very long strings.
pub fn odd_text(e: &mut Entropy) -> String {
    const POOL: &[&str] = &[
        "",
        "a",
        "x y",
        "\u{0}",
        "a\u{0}b",
        "\n",
        "first\nsecond",
        "\r\n",
        "\t",
        " ",
        "é",
        "🦀",
        "\u{202e}evil",
        "\u{feff}",
        "\u{fffd}",
        "%00",
        "%2e%2e/",
        "../",
        "/",
        "\\",
        "<script>alert(1)</script>",
        "`code`",
        "| a | b |",
        "**",
        "[link](javascript:x)",
        "${HOME}",
        "{{ x }}",
        "' OR 1=1 --",
        "NaN",
        "-1",
        "9223372036854775808",
        "E501",
        "B101",
        "HIGH",
        "error",
        "warning",
        "https://example.com/rule",
        "javascript:alert(1)",
    ];
    match e.below(8) {
        0..=3 => (*e.pick(POOL)).to_owned(),
        4 => String::from_utf8_lossy(&e.bytes(48)).into_owned(),
        5 => {
            let unit = *e.pick(POOL);
            let unit = if unit.is_empty() { "é" } else { unit };
            unit.repeat(1 + e.below(70_000) / unit.len().max(1))
        }
        6 => format!("{}{}", odd_text(e), odd_text(e)),
        _ => (0..e.below(12))
            .map(|_| char::from(b'a' + (e.byte() % 26)))
            .collect(),
    }
}

/// JSON numbers at the edges of every integer type a parser might convert them to.
pub fn odd_number(e: &mut Entropy) -> Value {
    match e.below(16) {
        0 => json!(0),
        1 => json!(1),
        2 => json!(-1),
        3 => json!(i64::MAX),
        4 => json!(i64::MIN),
        5 => json!(u64::MAX),
        6 => json!(u32::MAX),
        7 => json!(u32::MAX as u64 + 1),
        8 => json!(1.5),
        9 => json!(-0.0),
        10 => json!(1e308),
        11 => json!(i32::MAX),
        _ => json!(e.below(2000) as i64 - 5),
    }
}

/// Any JSON value, nested up to `depth`.
pub fn odd_value(e: &mut Entropy, depth: u8) -> Value {
    match e.below(if depth == 0 { 4 } else { 6 }) {
        0 => Value::Null,
        1 => Value::Bool(e.flag()),
        2 => odd_number(e),
        3 => Value::String(odd_text(e)),
        4 => Value::Array((0..e.below(4)).map(|_| odd_value(e, depth - 1)).collect()),
        _ => {
            let mut m = Map::new();
            for _ in 0..e.below(4) {
                m.insert(odd_text(e), odd_value(e, depth - 1));
            }
            Value::Object(m)
        }
    }
}

/// A field as a tool or a sender might really write it: mostly `good`, sometimes left out
/// (`None`), null, or a value of the wrong type.
pub fn field(e: &mut Entropy, good: impl FnOnce(&mut Entropy) -> Value) -> Option<Value> {
    match e.below(16) {
        13 => None,
        14 => Some(Value::Null),
        15 => Some(odd_value(e, 2)),
        _ => Some(good(e)),
    }
}

/// A field of a generated JSON object: its name and how its value is made.
pub type FieldGen<'a> = (&'a str, &'a dyn Fn(&mut Entropy) -> Value);

/// An object of `fields`, each drawn through [`field`] (so any may be missing or wrong).
pub fn object(e: &mut Entropy, fields: &[FieldGen<'_>]) -> Value {
    let mut m = Map::new();
    for &(name, good) in fields {
        if let Some(v) = field(e, good) {
            m.insert(name.to_owned(), v);
        }
    }
    if e.one_in(16) {
        m.insert(odd_text(e), odd_value(e, 1));
    }
    Value::Object(m)
}

/// A byte-level mutation of `text`: cut short, bytes replaced or inserted (mostly bytes that
/// matter to JSON and TOML), a slice duplicated elsewhere, or nothing at all.
pub fn mutate_bytes(e: &mut Entropy, text: &[u8]) -> Vec<u8> {
    const INTERESTING: &[u8] = b"{}[]\",:0123456789-.eE \n\\/=#'tfnul\x00\xff";
    let mut bytes = text.to_vec();
    match e.below(4) {
        0 => {}
        1 => bytes.truncate(e.below(bytes.len() + 1)),
        2 if !bytes.is_empty() => {
            let from = e.below(bytes.len());
            let to = from + e.below(bytes.len() - from + 1);
            let chunk = bytes[from..to].to_vec();
            let at = e.below(bytes.len() + 1);
            bytes.splice(at..at, chunk);
        }
        _ => {
            for _ in 0..1 + e.below(8) {
                let at = e.below(bytes.len() + 1);
                let b = if e.flag() {
                    *e.pick(INTERESTING)
                } else {
                    e.byte()
                };
                if at < bytes.len() && e.flag() {
                    bytes[at] = b;
                } else {
                    bytes.insert(at, b);
                }
            }
        }
    }
    bytes
}

/// Whether `s` is one non-empty line (what a refusal's reason must be).
pub fn is_one_line(s: &str) -> bool {
    let t = s.trim();
    !t.is_empty() && !t.contains('\n') && !t.contains('\r')
}

/// The message of a caught panic.
pub fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "(a panic without a message)".to_owned())
}

/// xorshift64*, for callers that need many inputs from one seed (the benchmark): fills
/// `buf` with `len` pseudo-random bytes.
pub fn fill_bytes(state: &mut u64, buf: &mut Vec<u8>, len: usize) {
    buf.clear();
    while buf.len() < len {
        *state ^= *state >> 12;
        *state ^= *state << 25;
        *state ^= *state >> 27;
        let v = state.wrapping_mul(0x2545_f491_4f6c_dd1d);
        buf.extend_from_slice(&v.to_le_bytes());
    }
    buf.truncate(len);
}
