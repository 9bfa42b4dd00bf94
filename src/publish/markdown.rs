//! Text from analysed code made safe to put into GitHub Markdown.
//!
//! Finding messages, paths and rule names come from the analysed commit (a string literal in a
//! Bandit message, a Semgrep metavariable): they are data. Rendered raw, a message could forge a
//! "Quality gate: passed" heading, close a `<details>` block, break a table or inject a link.
//! Every such text goes through one of these functions.

/// Escapes text for a Markdown paragraph, list item or table cell: the punctuation that
/// makes emphasis, code, links, images, headings and tables is backslashed, HTML's `<`, `>`
/// and `&` become entities, line breaks become spaces (one item per line), and bare URLs are
/// kept from becoming links.
pub fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\n' | '\r' | '\t' => out.push(' '),
            // `_` is left alone: GitHub does not make emphasis inside words, and identifiers
            // (`snake_case`, `FLEXT_QUALITY_…`) stay readable.
            '\\' | '`' | '*' | '[' | ']' | '#' | '!' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out.replace("://", "\\://").replace("www.", "www\\.")
}

/// Inline code: the text shown literally, whatever backticks it holds (the fence is longer
/// than any run of backticks inside), on one line, with `|` escaped so tables stay whole.
pub fn code(s: &str) -> String {
    let one_line: String = s
        .chars()
        .map(|c| {
            if c == '\n' || c == '\r' || c == '\t' {
                ' '
            } else {
                c
            }
        })
        .filter(|c| !c.is_control())
        .collect();
    let longest = one_line
        .split(|c| c != '`')
        .map(str::len)
        .max()
        .unwrap_or(0);
    let fence = "`".repeat(longest + 1);
    // GitHub ends a table cell at `|` even inside code spans.
    let body = one_line.replace('|', "\\|");
    let pad = if body.starts_with('`') || body.ends_with('`') || body.is_empty() {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{body}{pad}{fence}")
}

/// A link whose text is escaped like [`text`] and whose target must be an http(s) URL; the
/// characters that would end a Markdown link target early are percent-encoded. Anything else
/// is shown as text without a link.
pub fn link(label: &str, url: &str) -> String {
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return text(label);
    }
    let mut target = String::with_capacity(url.len());
    for c in url.chars() {
        match c {
            ' ' | '(' | ')' | '<' | '>' | '"' | '\'' | '|' | '[' | ']' | '`' | '\\' => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    target.push_str(&format!("%{b:02X}"));
                }
            }
            c if c.is_control() => {}
            c => target.push(c),
        }
    }
    format!("[{}]({target})", text(label))
}

/// A fenced block showing `s` verbatim (for error output): the fence is longer than any run
/// of backticks in the text.
pub fn block(s: &str) -> String {
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat((longest + 1).max(3));
    format!("{fence}text\n{}\n{fence}", s.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a message from analysed code may try.
    const HOSTILE: &str = "x</details>\n\n### Quality gate: passed ✅\n| a | b |\n[click](https://evil.example) <img src=x onerror=alert(1)> **bold** `tick` ``` &amp;";

    #[test]
    fn links_are_http_and_cannot_be_broken_out_of() {
        assert_eq!(
            link("a b.py:3", "https://github.com/o/r/blob/abc/a b(1).py#L3"),
            "[a b.py:3](https://github.com/o/r/blob/abc/a%20b%281%29.py#L3)"
        );
        assert_eq!(
            link("x](javascript:alert(1))", "javascript:alert(1)"),
            "x\\](javascript:alert(1))"
        );
        assert_eq!(
            link("[x]", "https://e.example/"),
            "[\\[x\\]](https://e.example/)"
        );
    }

    #[test]
    fn text_cannot_open_structure() {
        let t = text(HOSTILE);
        assert!(!t.contains('\n'), "{t}");
        assert!(!t.contains("</details>") && !t.contains("<img"), "{t}");
        assert!(!t.contains("### "), "{t}");
        assert!(t.contains("\\[click\\]") && !t.contains("**"), "{t}");
        assert!(!t.contains(" | "), "{t}");
        assert!(t.contains("&lt;/details&gt;"), "{t}");
        assert!(t.contains("passed ✅"), "the words stay readable: {t}");
        assert!(!t.contains("https://"), "no bare link: {t}");
    }

    #[test]
    fn code_spans_hold_any_backticks() {
        assert_eq!(code("a.py"), "`a.py`");
        assert_eq!(code("x`y"), "``x`y``");
        assert_eq!(code("``"), "``` `` ```");
        assert_eq!(code("`a"), "`` `a ``");
        assert_eq!(code("a|b\nc"), "`a\\|b c`");
        let c = code(HOSTILE);
        assert!(!c.contains('\n'));
        let fence_len = c.chars().take_while(|ch| *ch == '`').count();
        assert!(fence_len > 3, "{c}");
    }

    #[test]
    fn blocks_cannot_be_closed_from_inside() {
        let b = block("oops\n```\n### passed");
        assert!(b.starts_with("````text\n"), "{b}");
        assert!(b.ends_with("\n````"), "{b}");
    }
}
