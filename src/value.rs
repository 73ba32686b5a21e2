//! Scalar values as they arrive in JSON, and the canonical string form of class values.
//!
//! Classes and labels may be sent as JSON strings, integers or booleans; they are compared by canonical
//! string, so `1`, `1.0` and `"1"` are the same class and `true` is `"true"`. Scalars are read from the raw
//! JSON text of a value (a `serde_json::value::RawValue`) rather than through serde's number handling, for
//! two reasons: integer literals keep every digit in their canonical form, and an out-of-range literal
//! such as `1e400` becomes an infinite float that the caller can report as non-finite, instead of failing
//! the whole event.

use std::borrow::Cow;

/// A JSON scalar, borrowed from the request body where possible.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    Null,
    Bool(bool),
    /// A number, together with its literal text (used for exact canonical integers).
    Number(f64, &'a str),
    Str(Cow<'a, str>),
    /// An object or an array: never a valid scalar.
    Composite,
}

impl<'a> Scalar<'a> {
    /// Parses the raw text of one JSON value. The text is known to be valid JSON, because it was captured by
    /// serde_json as a `RawValue`.
    pub fn parse(raw: &'a str) -> Scalar<'a> {
        let raw = raw.trim();
        match raw.as_bytes().first() {
            None => Scalar::Null,
            Some(b'n') => Scalar::Null,
            Some(b't') => Scalar::Bool(true),
            Some(b'f') => Scalar::Bool(false),
            Some(b'{') | Some(b'[') => Scalar::Composite,
            Some(b'"') => {
                let inner = &raw[1..raw.len() - 1];
                if inner.contains('\\') {
                    match serde_json::from_str::<String>(raw) {
                        Ok(s) => Scalar::Str(Cow::Owned(s)),
                        Err(_) => Scalar::Composite,
                    }
                } else {
                    Scalar::Str(Cow::Borrowed(inner))
                }
            }
            Some(_) => match raw.parse::<f64>() {
                Ok(v) => Scalar::Number(v, raw),
                Err(_) => Scalar::Composite,
            },
        }
    }

    /// A short name of the JSON type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Scalar::Null => "null",
            Scalar::Bool(_) => "boolean",
            Scalar::Number(..) => "number",
            Scalar::Str(_) => "string",
            Scalar::Composite => "object or array",
        }
    }

    /// The canonical class string: strings as they are, booleans as `true`/`false`, integer-valued numbers
    /// without a fractional part (`1.0` is `1`), other numbers in Rust's shortest round-trip form.
    /// `None` for null, composites and non-finite numbers.
    pub fn canonical_class(&self) -> Option<Cow<'a, str>> {
        match self {
            Scalar::Str(s) => Some(s.clone()),
            Scalar::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
            Scalar::Number(v, text) => canonical_number(*v, text),
            Scalar::Null | Scalar::Composite => None,
        }
    }
}

/// Canonical text of a JSON number given its value and literal.
fn canonical_number<'a>(v: f64, text: &'a str) -> Option<Cow<'a, str>> {
    if !v.is_finite() {
        return None;
    }
    // A plain integer literal is its own canonical form (minus a sign on zero), which keeps all digits of
    // ids and classes beyond 2^53.
    let digits = text.strip_prefix('-').unwrap_or(text);
    if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        if v == 0.0 {
            return Some(Cow::Borrowed("0"));
        }
        return Some(Cow::Borrowed(text));
    }
    canonical_f64(v).map(Cow::Owned)
}

/// Canonical text of a float class value: integers without a fractional part, others in shortest form.
pub fn canonical_f64(v: f64) -> Option<String> {
    if !v.is_finite() {
        return None;
    }
    if v == v.trunc() && v.abs() < 1e21 {
        // `{:.0}` prints the exact integer value, e.g. 1e20 as 100000000000000000000.
        let s = format!("{v:.0}");
        return Some(if s == "-0" { "0".to_string() } else { s });
    }
    Some(format!("{v}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn canon(raw: &str) -> Option<String> {
        Scalar::parse(raw).canonical_class().map(|c| c.into_owned())
    }

    #[test]
    fn integers_and_integer_floats_share_a_class() {
        assert_eq!(canon("1").as_deref(), Some("1"));
        assert_eq!(canon("1.0").as_deref(), Some("1"));
        assert_eq!(canon("1e0").as_deref(), Some("1"));
        assert_eq!(canon("\"1\"").as_deref(), Some("1"));
        assert_eq!(canon("-0").as_deref(), Some("0"));
        assert_eq!(canon("-0.0").as_deref(), Some("0"));
        assert_eq!(canon("2.5").as_deref(), Some("2.5"));
        assert_eq!(canon("1e20").as_deref(), Some("100000000000000000000"));
    }

    #[test]
    fn big_integer_literals_keep_their_digits() {
        assert_eq!(
            canon("9007199254740993").as_deref(),
            Some("9007199254740993")
        );
    }

    #[test]
    fn booleans_strings_and_escapes() {
        assert_eq!(canon("true").as_deref(), Some("true"));
        assert_eq!(canon("false").as_deref(), Some("false"));
        assert_eq!(canon("\"caf\\u00e9\"").as_deref(), Some("café"));
        assert_eq!(canon("null"), None);
        assert_eq!(canon("[1]"), None);
        assert_eq!(canon("{}"), None);
    }

    #[test]
    fn out_of_range_literals_are_infinite_not_errors() {
        match Scalar::parse("1e400") {
            Scalar::Number(v, _) => assert!(v.is_infinite()),
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(canon("1e400"), None);
    }
}
