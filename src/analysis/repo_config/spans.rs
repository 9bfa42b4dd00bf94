//! Typed access to a parsed TOML table that turns every mistake into a [`ConfigError`] naming
//! the dotted key and its line.

use super::{ConfigError, Value};
use std::ops::Range;
use toml::de::{DeTable, DeValue};

/// Context for messages: the file name and its text, to turn byte spans into lines.
pub(super) struct Cx<'t> {
    pub(super) text: &'t str,
    pub(super) file: &'static str,
}

impl Cx<'_> {
    pub(super) fn line(&self, span: Range<usize>) -> usize {
        let end = span.start.min(self.text.len());
        let prefix = self.text.get(..end).unwrap_or(self.text);
        prefix.bytes().filter(|b| *b == b'\n').count() + 1
    }

    pub(super) fn bad(&self, v: &Value, key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::BadValue {
            file: self.file,
            line: self.line(v.span()),
            key: key.to_owned(),
            message: message.into(),
        }
    }

    pub(super) fn wrong(&self, v: &Value, key: &str, expected: &'static str) -> ConfigError {
        ConfigError::WrongType {
            file: self.file,
            line: self.line(v.span()),
            key: key.to_owned(),
            expected,
            found: v.get_ref().type_str(),
        }
    }

    /// Every key of `t` must be in `allowed`; `prefix` is the dotted path of `t` plus `.`.
    pub(super) fn keys(
        &self,
        t: &DeTable,
        prefix: &str,
        allowed: &[&str],
    ) -> Result<(), ConfigError> {
        for (k, _) in t.iter() {
            if !allowed.contains(&k.get_ref().as_ref()) {
                return Err(ConfigError::UnknownKey {
                    file: self.file,
                    line: self.line(k.span()),
                    key: format!("{prefix}{}", k.get_ref()),
                    expected: if allowed.is_empty() {
                        "none".to_owned()
                    } else {
                        allowed.join(", ")
                    },
                });
            }
        }
        Ok(())
    }

    pub(super) fn table<'a, 'i>(
        &self,
        v: &'a Value<'i>,
        key: &str,
    ) -> Result<&'a DeTable<'i>, ConfigError> {
        v.get_ref()
            .as_table()
            .ok_or_else(|| self.wrong(v, key, "a table"))
    }

    pub(super) fn bool(&self, v: &Value, key: &str) -> Result<bool, ConfigError> {
        v.get_ref()
            .as_bool()
            .ok_or_else(|| self.wrong(v, key, "true or false"))
    }

    pub(super) fn string<'a>(&self, v: &'a Value, key: &str) -> Result<&'a str, ConfigError> {
        v.get_ref()
            .as_str()
            .ok_or_else(|| self.wrong(v, key, "a string"))
    }

    pub(super) fn int(&self, v: &Value, key: &str, min: i64, max: i64) -> Result<i64, ConfigError> {
        let i = v
            .get_ref()
            .as_integer()
            .ok_or_else(|| self.wrong(v, key, "an integer"))?;
        match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(self.bad(v, key, format!("{i} is out of range ({min}..={max})"))),
        }
    }

    pub(super) fn number(
        &self,
        v: &Value,
        key: &str,
        min: f64,
        max: f64,
    ) -> Result<f64, ConfigError> {
        let x = match v.get_ref() {
            DeValue::Integer(i) => i64::from_str_radix(i.as_str(), i.radix())
                .ok()
                .map(|n| n as f64),
            DeValue::Float(f) => f.as_str().parse::<f64>().ok(),
            _ => return Err(self.wrong(v, key, "a number")),
        };
        match x {
            Some(x) if x.is_finite() && (min..=max).contains(&x) => Ok(x),
            _ => Err(self.bad(v, key, format!("must be a number from {min} to {max}"))),
        }
    }

    pub(super) fn strings(
        &self,
        v: &Value,
        key: &str,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> Result<Vec<String>, ConfigError> {
        let items = v
            .get_ref()
            .as_array()
            .ok_or_else(|| self.wrong(v, key, "an array of strings"))?;
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let k = format!("{key}[{i}]");
            let s = self.string(item, &k)?;
            check(s).map_err(|m| self.bad(item, &k, m))?;
            out.push(s.to_owned());
        }
        Ok(out)
    }
}

/// One `[backends.<name>]` table, handed to its backend to read its own options with the same
/// precise errors as the rest of the config.
pub struct OptionsTable<'a> {
    pub(super) cx: &'a Cx<'a>,
    pub(super) table: &'a DeTable<'a>,
    /// The table's dotted key (`backends.ruff`).
    pub(super) key: String,
}

impl OptionsTable<'_> {
    fn sub(&self, name: &str) -> String {
        format!("{}.{name}", self.key)
    }

    /// Every key must be one of `allowed`.
    pub fn allow(&self, allowed: &[&str]) -> Result<(), ConfigError> {
        self.cx.keys(self.table, &format!("{}.", self.key), allowed)
    }

    pub fn bool(&self, name: &str) -> Result<Option<bool>, ConfigError> {
        self.table
            .get(name)
            .map(|v| self.cx.bool(v, &self.sub(name)))
            .transpose()
    }

    pub fn int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, ConfigError> {
        self.table
            .get(name)
            .map(|v| self.cx.int(v, &self.sub(name), min, max))
            .transpose()
    }

    /// A string that must be one of `choices`; the error names them as `what`.
    pub fn choice(
        &self,
        name: &str,
        what: &str,
        choices: &[&str],
    ) -> Result<Option<String>, ConfigError> {
        let Some(v) = self.table.get(name) else {
            return Ok(None);
        };
        let key = self.sub(name);
        let s = self.cx.string(v, &key)?;
        if choices.contains(&s) {
            return Ok(Some(s.to_owned()));
        }
        let expected = match choices {
            [] => String::new(),
            [one] => (*one).to_owned(),
            [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
        };
        Err(self.cx.bad(
            v,
            &key,
            format!("unknown {what} `{s}` (expected {expected})"),
        ))
    }

    /// An array of strings, each passing `check`.
    pub fn strings(
        &self,
        name: &str,
        check: impl Fn(&str) -> Result<(), String>,
    ) -> Result<Option<Vec<String>>, ConfigError> {
        self.table
            .get(name)
            .map(|v| self.cx.strings(v, &self.sub(name), check))
            .transpose()
    }
}
