//! A strict, error-collecting reader over a spanned TOML document.
//!
//! `serde`'s derive stops at the first problem, but `modelwatch check-config` promises to print *every*
//! error with its line and key. This reader walks the parsed document by hand: each accessor records a
//! problem and carries on, and `finish` reports every key that no accessor asked for as unknown, so a
//! typo never passes silently.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// One problem found in a config file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// 1-based line, when the problem can be tied to a place in the file.
    pub line: Option<usize>,
    /// Dotted key path, e.g. `model[0].window[1].events`.
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.line, self.key.is_empty()) {
            (Some(line), false) => write!(f, "line {line}: {}: {}", self.key, self.message),
            (Some(line), true) => write!(f, "line {line}: {}", self.message),
            (None, false) => write!(f, "{}: {}", self.key, self.message),
            (None, true) => write!(f, "{}", self.message),
        }
    }
}

/// Shared sink of errors plus the source text, used to turn byte spans into line numbers.
pub struct Sink<'s> {
    source: &'s str,
    errors: RefCell<Vec<ConfigError>>,
}

impl<'s> Sink<'s> {
    pub fn new(source: &'s str) -> Self {
        Sink {
            source,
            errors: RefCell::new(Vec::new()),
        }
    }

    pub fn line_of(&self, span: &Range<usize>) -> usize {
        let end = span.start.min(self.source.len());
        self.source.as_bytes()[..end]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }

    pub fn push(
        &self,
        span: Option<&Range<usize>>,
        key: impl Into<String>,
        message: impl Into<String>,
    ) {
        let line = span.map(|s| self.line_of(s));
        self.errors.borrow_mut().push(ConfigError {
            line,
            key: key.into(),
            message: message.into(),
        });
    }

    pub fn has_errors(&self) -> bool {
        !self.errors.borrow().is_empty()
    }

    pub fn into_errors(self) -> Vec<ConfigError> {
        let mut errors = self.errors.into_inner();
        errors.sort_by_key(|e| e.line.unwrap_or(usize::MAX));
        errors
    }
}

/// A value together with where it came from, so later semantic checks can still name its line.
#[derive(Debug, Clone)]
pub struct Located<T> {
    pub value: T,
    pub span: Range<usize>,
    pub key: String,
}

/// Reads one TOML table, remembering which keys were consumed.
pub struct TableReader<'a, 'i, 's> {
    sink: &'a Sink<'s>,
    path: String,
    span: Range<usize>,
    table: &'a DeTable<'i>,
    used: BTreeSet<String>,
}

impl<'a, 'i, 's> TableReader<'a, 'i, 's> {
    pub fn new(sink: &'a Sink<'s>, path: String, table: &'a Spanned<DeTable<'i>>) -> Self {
        TableReader {
            sink,
            path,
            span: table.span(),
            table: table.get_ref(),
            used: BTreeSet::new(),
        }
    }

    fn from_value(
        sink: &'a Sink<'s>,
        path: String,
        value: &'a Spanned<DeValue<'i>>,
    ) -> Option<Self> {
        match value.get_ref() {
            DeValue::Table(table) => Some(TableReader {
                sink,
                path,
                span: value.span(),
                table,
                used: BTreeSet::new(),
            }),
            other => {
                sink.push(
                    Some(&value.span()),
                    path,
                    format!("expected a table, found {}", other.type_str()),
                );
                None
            }
        }
    }

    pub fn sink(&self) -> &'a Sink<'s> {
        self.sink
    }

    pub fn key_path(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.to_string()
        } else {
            format!("{}.{}", self.path, key)
        }
    }

    /// Records an error located at this table.
    pub fn error(&self, key: &str, message: impl Into<String>) {
        self.sink
            .push(Some(&self.span), self.key_path(key), message);
    }

    fn get(&mut self, key: &str) -> Option<&'a Spanned<DeValue<'i>>> {
        self.used.insert(key.to_string());
        self.table.get(key)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.table.get(key).is_some()
    }

    fn type_error(&self, key: &str, value: &Spanned<DeValue<'i>>, expected: &str) {
        self.sink.push(
            Some(&value.span()),
            self.key_path(key),
            format!("expected {expected}, found {}", value.get_ref().type_str()),
        );
    }

    pub fn string(&mut self, key: &str) -> Option<Located<String>> {
        let value = self.get(key)?;
        match value.get_ref() {
            DeValue::String(s) => Some(Located {
                value: s.to_string(),
                span: value.span(),
                key: self.key_path(key),
            }),
            _ => {
                self.type_error(key, value, "a string");
                None
            }
        }
    }

    /// A class value: TOML strings, integers, floats and booleans all become canonical strings, the same way
    /// JSON values do at ingest, so `classes = [0, 1]` and `classes = ["0", "1"]` mean the same thing.
    pub fn class_value(&mut self, key: &str) -> Option<Located<String>> {
        let value = self.get(key)?;
        let path = self.key_path(key);
        self.class_of(value, &path)
    }

    fn class_of(&self, value: &Spanned<DeValue<'i>>, path: &str) -> Option<Located<String>> {
        let canonical = match value.get_ref() {
            DeValue::String(s) => Some(s.to_string()),
            DeValue::Boolean(b) => Some(b.to_string()),
            DeValue::Integer(i) => parse_integer(i.as_str(), i.radix()).map(|i| i.to_string()),
            DeValue::Float(f) => f
                .as_str()
                .replace('_', "")
                .parse::<f64>()
                .ok()
                .and_then(crate::value::canonical_f64),
            _ => None,
        };
        match canonical {
            Some(value_string) => Some(Located {
                value: value_string,
                span: value.span(),
                key: path.to_string(),
            }),
            None => {
                self.sink.push(
                    Some(&value.span()),
                    path,
                    format!(
                        "expected a class value (string, integer or boolean), found {}",
                        value.get_ref().type_str()
                    ),
                );
                None
            }
        }
    }

    pub fn class_array(&mut self, key: &str) -> Option<Vec<Located<String>>> {
        let value = self.get(key)?;
        let path = self.key_path(key);
        match value.get_ref() {
            DeValue::Array(items) => Some(
                items
                    .iter()
                    .enumerate()
                    .filter_map(|(i, item)| self.class_of(item, &format!("{path}[{i}]")))
                    .collect(),
            ),
            _ => {
                self.type_error(key, value, "an array");
                None
            }
        }
    }

    pub fn string_array(&mut self, key: &str) -> Option<Vec<Located<String>>> {
        let value = self.get(key)?;
        let path = self.key_path(key);
        match value.get_ref() {
            DeValue::Array(items) => {
                let mut out = Vec::new();
                for (i, item) in items.iter().enumerate() {
                    match item.get_ref() {
                        DeValue::String(s) => out.push(Located {
                            value: s.to_string(),
                            span: item.span(),
                            key: format!("{path}[{i}]"),
                        }),
                        other => self.sink.push(
                            Some(&item.span()),
                            format!("{path}[{i}]"),
                            format!("expected a string, found {}", other.type_str()),
                        ),
                    }
                }
                Some(out)
            }
            _ => {
                self.type_error(key, value, "an array of strings");
                None
            }
        }
    }

    pub fn integer(&mut self, key: &str) -> Option<Located<i64>> {
        let value = self.get(key)?;
        match value.get_ref() {
            DeValue::Integer(i) => match parse_integer(i.as_str(), i.radix()) {
                Some(v) => Some(Located {
                    value: v,
                    span: value.span(),
                    key: self.key_path(key),
                }),
                None => {
                    self.sink.push(
                        Some(&value.span()),
                        self.key_path(key),
                        "integer out of range",
                    );
                    None
                }
            },
            _ => {
                self.type_error(key, value, "an integer");
                None
            }
        }
    }

    /// An integer that must lie in `[min, max]`.
    pub fn integer_in(&mut self, key: &str, min: i64, max: i64) -> Option<Located<i64>> {
        let v = self.integer(key)?;
        if v.value < min || v.value > max {
            self.sink.push(
                Some(&v.span),
                v.key.clone(),
                format!("must be between {min} and {max}, found {}", v.value),
            );
            return None;
        }
        Some(v)
    }

    /// A float; TOML integers are accepted too, since `threshold = 1` is an obvious float.
    pub fn float(&mut self, key: &str) -> Option<Located<f64>> {
        let value = self.get(key)?;
        let parsed = match value.get_ref() {
            DeValue::Float(f) => f.as_str().replace('_', "").parse::<f64>().ok(),
            DeValue::Integer(i) => parse_integer(i.as_str(), i.radix()).map(|i| i as f64),
            _ => {
                self.type_error(key, value, "a number");
                return None;
            }
        };
        match parsed {
            Some(v) if v.is_finite() => Some(Located {
                value: v,
                span: value.span(),
                key: self.key_path(key),
            }),
            _ => {
                self.sink.push(
                    Some(&value.span()),
                    self.key_path(key),
                    "expected a finite number",
                );
                None
            }
        }
    }

    pub fn boolean(&mut self, key: &str) -> Option<Located<bool>> {
        let value = self.get(key)?;
        match value.get_ref() {
            DeValue::Boolean(b) => Some(Located {
                value: *b,
                span: value.span(),
                key: self.key_path(key),
            }),
            _ => {
                self.type_error(key, value, "a boolean");
                None
            }
        }
    }

    /// A duration written the humantime way: `"30s"`, `"24h"`, `"1h 30m"`.
    /// A duration longer than zero and at most `max`.
    pub fn duration_at_most(&mut self, key: &str, max: Duration) -> Option<Located<Duration>> {
        let d = self.duration(key)?;
        if d.value > max {
            self.sink.push(
                Some(&d.span),
                d.key.clone(),
                format!(
                    "must be at most {}, found {}",
                    humantime::format_duration(max),
                    humantime::format_duration(d.value)
                ),
            );
            return None;
        }
        Some(d)
    }

    pub fn duration(&mut self, key: &str) -> Option<Located<Duration>> {
        let s = self.string(key)?;
        match humantime::parse_duration(&s.value) {
            Ok(d) if !d.is_zero() => Some(Located {
                value: d,
                span: s.span,
                key: s.key,
            }),
            Ok(_) => {
                self.sink
                    .push(Some(&s.span), s.key, "must be longer than zero");
                None
            }
            Err(e) => {
                self.sink.push(
                    Some(&s.span),
                    s.key,
                    format!(
                        "invalid duration {:?} ({e}); use e.g. \"30s\", \"10m\", \"24h\"",
                        s.value
                    ),
                );
                None
            }
        }
    }

    pub fn table(&mut self, key: &str) -> Option<TableReader<'a, 'i, 's>> {
        let value = self.get(key)?;
        let path = self.key_path(key);
        TableReader::from_value(self.sink, path, value)
    }

    /// `[[key]]` sections. A single `[key]` table is reported, since it is almost always a mistake.
    pub fn array_of_tables(&mut self, key: &str) -> Vec<TableReader<'a, 'i, 's>> {
        let Some(value) = self.get(key) else {
            return Vec::new();
        };
        let path = self.key_path(key);
        match value.get_ref() {
            DeValue::Array(items) => items
                .iter()
                .enumerate()
                .filter_map(|(i, item)| {
                    TableReader::from_value(self.sink, format!("{path}[{i}]"), item)
                })
                .collect(),
            other => {
                self.sink.push(
                    Some(&value.span()),
                    path,
                    format!(
                        "expected an array of tables ([[{key}]]), found {}",
                        other.type_str()
                    ),
                );
                Vec::new()
            }
        }
    }

    /// Reports every key nobody asked for.
    pub fn finish(self) {
        for (key, value) in self.table.iter() {
            let name: &str = key.get_ref();
            if !self.used.contains(name) {
                self.sink
                    .push(Some(&key.span()), self.key_path(name), "unknown key");
                let _ = value;
            }
        }
    }
}

fn parse_integer(text: &str, radix: u32) -> Option<i64> {
    let cleaned = text.replace('_', "");
    let digits = match radix {
        16 => cleaned.trim_start_matches("0x"),
        8 => cleaned.trim_start_matches("0o"),
        2 => cleaned.trim_start_matches("0b"),
        _ => cleaned.as_str(),
    };
    i64::from_str_radix(digits, radix).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_reader<R>(
        src: &str,
        f: impl FnOnce(&mut TableReader<'_, '_, '_>) -> R,
    ) -> (R, Vec<ConfigError>) {
        let doc = DeTable::parse(src).expect("valid toml");
        let sink = Sink::new(src);
        let out = {
            let mut reader = TableReader::new(&sink, String::new(), &doc);
            let out = f(&mut reader);
            reader.finish();
            out
        };
        (out, sink.into_errors())
    }

    #[test]
    fn unknown_keys_are_reported_with_line() {
        let (_, errors) = with_reader("a = 1\n\nbogus = 2\n", |r| r.integer("a").map(|v| v.value));
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].line, Some(3));
        assert_eq!(errors[0].key, "bogus");
        assert_eq!(errors[0].message, "unknown key");
    }

    #[test]
    fn type_errors_name_the_key_and_keep_going() {
        let (v, errors) = with_reader("a = \"x\"\nb = 1.5\nc = 2\n", |r| {
            (
                r.integer("a"),
                r.float("b").map(|v| v.value),
                r.float("c").map(|v| v.value),
            )
        });
        assert!(v.0.is_none());
        assert_eq!(v.1, Some(1.5));
        assert_eq!(v.2, Some(2.0));
        assert_eq!(errors.len(), 1);
        assert_eq!(
            errors[0].to_string(),
            "line 1: a: expected an integer, found string"
        );
    }

    #[test]
    fn class_values_are_canonical() {
        let (v, errors) = with_reader("c = [0, \"dog\", true, 1.0]\n", |r| {
            r.class_array("c")
                .map(|v| v.into_iter().map(|l| l.value).collect::<Vec<_>>())
        });
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(v.unwrap(), vec!["0", "dog", "true", "1"]);
    }

    #[test]
    fn durations_parse_and_reject_garbage() {
        let (v, errors) = with_reader("a = \"24h\"\nb = \"soon\"\nc = \"0s\"\n", |r| {
            (
                r.duration("a").map(|d| d.value),
                r.duration("b"),
                r.duration("c"),
            )
        });
        assert_eq!(v.0, Some(Duration::from_secs(86400)));
        assert!(v.1.is_none() && v.2.is_none());
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0].line, Some(2));
        assert_eq!(errors[1].line, Some(3));
    }
}
