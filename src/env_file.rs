//! Keeping settings the way an operator would by hand: merged into the `.env` file `serve`
//! reads at start (readable by its owner only), or as the `fly secrets set` line to run where
//! the disk does not outlive a deploy. Used by `/setup` for the App it creates.
//!
//! Values are secrets: they are written, never logged, and errors name keys, not values.

use anyhow::{bail, Context, Result};
use secrecy::{ExposeSecret, SecretString};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// What [`merge`] did, by key name.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Merged {
    /// Keys the file set before (their old values are gone).
    pub replaced: Vec<String>,
    /// Keys added at the end.
    pub added: Vec<String>,
}

/// The key a `.env` line sets (`KEY=…` or `export KEY=…`), if any.
fn key_of(line: &str) -> Option<&str> {
    let t = line.trim_start();
    if t.starts_with('#') {
        return None;
    }
    let t = t.strip_prefix("export ").unwrap_or(t);
    let (key, _) = t.split_once('=')?;
    let key = key.trim();
    (!key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')).then_some(key)
}

/// One `KEY='value'` line. Single quotes keep the value literal when dotenvy reads it back
/// (no `$` expansion); a PEM's newlines become `\n`, which the settings turn back into
/// newlines. A value that cannot be written so is refused (GitHub's never are).
fn line(key: &str, value: &SecretString) -> Result<String> {
    let v = value.expose_secret().trim_end().replace("\r\n", "\n");
    let v = v.replace('\n', "\\n");
    if v.contains('\'') || v.contains('\r') {
        bail!("{key}: the value has a character a .env line cannot hold");
    }
    Ok(format!("{key}='{v}'"))
}

/// The file to write: the target when `path` is a symbolic link (so a linked `.env` stays
/// linked), else `path`.
fn target(path: &Path) -> PathBuf {
    std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Merges `values` into the `.env` at `path`: a line setting one of the keys is replaced in
/// place (later ones for the same key are dropped), every other line is kept as it was, and
/// keys the file lacked are appended. The result is written to a new file of mode 0600 beside
/// it and renamed over it, so the file is never half-written nor readable by others, even for
/// a moment (an existing file's looser mode goes with it).
pub fn merge(path: &Path, values: &[(&str, SecretString)]) -> Result<Merged> {
    let path = target(path);
    let old = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let mut merged = Merged::default();
    let mut out = Vec::new();
    for l in old.lines() {
        match key_of(l).and_then(|k| values.iter().find(|(name, _)| *name == k)) {
            None => out.push(l.to_owned()),
            Some((name, value)) => {
                if !merged.replaced.iter().any(|r| r == name) {
                    merged.replaced.push((*name).to_owned());
                    out.push(line(name, value)?);
                }
            }
        }
    }
    let missing: Vec<_> = values
        .iter()
        .filter(|(name, _)| !merged.replaced.iter().any(|r| r == name))
        .collect();
    if !missing.is_empty() {
        out.push("# The GitHub App, written by flext-quality's /setup.".to_owned());
    }
    for (name, value) in missing {
        merged.added.push((*name).to_owned());
        out.push(line(name, value)?);
    }
    let mut text = out.join("\n");
    text.push('\n');
    write_private(&path, text.as_bytes())?;
    Ok(merged)
}

/// Writes `bytes` to `path` through a temporary file of mode 0600 in the same directory.
fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let dir = dir.unwrap_or(Path::new("."));
    let mut suffix = [0u8; 6];
    openssl::rand::rand_bytes(&mut suffix).context("randomness")?;
    let name: String = suffix.iter().map(|b| format!("{b:02x}")).collect();
    let tmp = dir.join(format!(".env.{name}.tmp"));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        // The umask cannot loosen 0600, but say it outright.
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(e).with_context(|| format!("writing {}", path.display()));
    }
    Ok(())
}

/// A value as one shell word: bare when it is plain, else in single quotes. The private key
/// goes in double quotes with its newlines as `\n` (the shell keeps them as typed; the
/// settings turn them back into newlines).
fn shell_word(key: &str, value: &str) -> Result<String> {
    let plain = |c: char| c.is_ascii_alphanumeric() || "._-/:+=,@".contains(c);
    if key == "GITHUB_PRIVATE_KEY" {
        let v = value.trim_end().replace("\r\n", "\n");
        if !v.chars().all(|c| plain(c) || c == ' ' || c == '\n') {
            bail!("{key}: the key has a character the command line cannot hold as typed");
        }
        return Ok(format!("\"{}\"", v.replace('\n', "\\n")));
    }
    if !value.is_empty() && value.chars().all(plain) {
        Ok(value.to_owned())
    } else if !value.contains('\'') {
        Ok(format!("'{value}'"))
    } else {
        bail!("{key}: the value has a character the command line cannot hold as typed")
    }
}

/// `fly secrets set [--app APP] KEY=value …`, to copy and run once (it restarts the machines
/// with the secrets). A secret itself, as it holds the values.
pub fn fly_secrets_line(
    app: Option<&str>,
    values: &[(&str, SecretString)],
) -> Result<SecretString> {
    let mut line = String::from("fly secrets set");
    if let Some(app) = app {
        line.push_str(" --app ");
        line.push_str(&shell_word("FLY_APP_NAME", app)?);
    }
    for (key, value) in values {
        line.push(' ');
        line.push_str(key);
        line.push('=');
        line.push_str(&shell_word(key, value.expose_secret())?);
    }
    Ok(SecretString::from(line))
}

/// `KEY='value'` lines, for an operator to put where their settings live when the server could
/// not write them itself.
pub fn env_lines(values: &[(&str, SecretString)]) -> Result<SecretString> {
    let lines: Result<Vec<String>> = values.iter().map(|(k, v)| line(k, v)).collect();
    Ok(SecretString::from(lines?.join("\n")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &str) -> SecretString {
        SecretString::from(v.to_owned())
    }

    #[test]
    fn merging_keeps_other_lines_replaces_old_values_and_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        std::fs::write(
            &path,
            "# mine\nPORT=4000\nexport GITHUB_APP_ID=1\nGITHUB_APP_ID=2\n# GITHUB_WEBHOOK_SECRET=x\n",
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIB+/=\n-----END RSA PRIVATE KEY-----\n";
        let merged = merge(
            &path,
            &[
                ("GITHUB_APP_ID", s("77")),
                ("GITHUB_PRIVATE_KEY", s(pem)),
                ("GITHUB_WEBHOOK_SECRET", s("a$b")),
            ],
        )
        .unwrap();
        assert_eq!(merged.replaced, ["GITHUB_APP_ID"]);
        assert_eq!(
            merged.added,
            ["GITHUB_PRIVATE_KEY", "GITHUB_WEBHOOK_SECRET"]
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with("# mine\nPORT=4000\nGITHUB_APP_ID='77'\n# GITHUB_WEBHOOK_SECRET=x\n"),
            "{text}"
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // dotenvy reads back exactly what was meant (no `$` expansion); the settings turn the
        // PEM's `\n` into newlines.
        let read: std::collections::HashMap<String, String> = dotenvy::from_path_iter(&path)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(read["GITHUB_APP_ID"], "77");
        assert_eq!(read["GITHUB_WEBHOOK_SECRET"], "a$b");
        assert_eq!(
            read["GITHUB_PRIVATE_KEY"].replace("\\n", "\n"),
            pem.trim_end()
        );
        let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file left");
    }

    #[test]
    fn a_new_file_is_created_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(".env");
        merge(&path, &[("GITHUB_CLIENT_ID", s("Iv1.abc"))]).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert!(std::fs::read_to_string(&path)
            .unwrap()
            .ends_with("GITHUB_CLIENT_ID='Iv1.abc'\n"));
    }

    #[test]
    fn the_fly_line_quotes_what_the_shell_would_change() {
        let line = fly_secrets_line(
            Some("my-app"),
            &[
                ("GITHUB_APP_ID", s("12")),
                (
                    "GITHUB_PRIVATE_KEY",
                    s("-----BEGIN X-----\nAB+/=\n-----END X-----\n"),
                ),
                ("GITHUB_CLIENT_SECRET", s("x y")),
            ],
        )
        .unwrap();
        assert_eq!(
            line.expose_secret(),
            "fly secrets set --app my-app GITHUB_APP_ID=12 GITHUB_PRIVATE_KEY=\"-----BEGIN X-----\\nAB+/=\\n-----END X-----\" GITHUB_CLIENT_SECRET='x y'"
        );
        assert!(fly_secrets_line(None, &[("GITHUB_PRIVATE_KEY", s("$(rm -rf ~)"))]).is_err());
        assert!(fly_secrets_line(None, &[("K", s("it's"))]).is_err());
    }
}
