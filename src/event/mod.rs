//! Parsing and validation of event bodies: one JSON object, a JSON array, or NDJSON.
//!
//! An event is validated against its model's schema before any lock is taken. Each event is parsed on
//! its own, so a bad event is reported with its index and the good events beside it are still accepted.
//! Fields are captured as raw JSON text and read by `value::Scalar`, which keeps error codes precise (a
//! string where a score belongs is `invalid_score`, not a generic parse failure) and lets an out-of-range
//! number such as `1e400` count as a non-finite feature value instead of failing the event.
//!
//! This file holds the validated event and batch types; `framing` splits a body into events, `validate`
//! checks each event, and `features` is the single-pass path that reads an event's features.

mod features;
mod framing;
mod validate;

pub use crate::config::Limits;
use crate::error::{EventCode, EventError};
use crate::schema::{Interners, Schema, Violation};

pub use framing::BodyFormat;

/// Context for validating events of one model. Its methods (`predictions`, `labels`) are in
/// `validate`; the fast feature path in `features` writes through it.
pub struct Parser<'s> {
    pub schema: &'s Schema,
    pub interners: &'s Interners,
    pub limits: Limits,
    /// Arrival time in Unix nanoseconds, the default timestamp.
    pub now_ns: i64,
    /// The latest prediction timestamp accepted (Unix ns): arrival time plus `max_clock_skew`. A later
    /// one is rejected with `timestamp_in_future`, so it cannot hold a time window's place for ever.
    pub latest_ts_ns: i64,
}

/// A label value, resolved against the schema.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LabelValue {
    /// Binary: whether the label is the positive class.
    Binary(bool),
    /// Multiclass: the class index.
    Class(u32),
    /// Regression.
    Number(f64),
}

/// What the model predicted.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Predicted {
    Binary {
        positive: bool,
        score: f64,
    },
    Multiclass {
        class: u32,
        probs: Option<Box<[f64]>>,
    },
    Regression(f64),
    /// A model error with no prediction.
    Nothing,
}

/// A validated prediction event. Its row of column values lives in the batch.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionEvent {
    pub index: usize,
    pub id: Option<Box<str>>,
    pub ts: i64,
    pub predicted: Predicted,
    pub label: Option<LabelValue>,
    pub latency_seconds: Option<f64>,
    pub error: bool,
    /// Range of this event's schema violations in `PredictionBatch::violations`.
    violations: (u32, u32),
}

/// A parsed request of predictions.
#[derive(Debug, Default)]
pub struct PredictionBatch {
    pub events: Vec<PredictionEvent>,
    /// Row-major numeric values, `schema.layout.numeric` per event; NaN is missing.
    pub num: Vec<f64>,
    /// Row-major categorical ids, `schema.layout.categorical` per event; `MISSING` is missing.
    pub cat: Vec<u32>,
    pub errors: Vec<EventError>,
    /// (feature index or None for an unknown feature, kind)
    violations: Vec<(Option<u32>, Violation)>,
    /// The body was a single object.
    pub single: bool,
}

impl PredictionBatch {
    pub fn row(&self, i: usize, numeric: usize, categorical: usize) -> (&[f64], &[u32]) {
        (
            &self.num[i * numeric..(i + 1) * numeric],
            &self.cat[i * categorical..(i + 1) * categorical],
        )
    }

    /// The schema violations of one accepted event.
    pub fn violations_of(&self, e: &PredictionEvent) -> &[(Option<u32>, Violation)] {
        &self.violations[e.violations.0 as usize..e.violations.1 as usize]
    }
}

/// A validated label event.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelEvent {
    pub index: usize,
    pub id: Box<str>,
    pub label: LabelValue,
}

#[derive(Debug, Default)]
pub struct LabelBatch {
    pub events: Vec<LabelEvent>,
    pub errors: Vec<EventError>,
    pub single: bool,
}

fn err(index: usize, code: EventCode, message: impl Into<String>) -> EventError {
    EventError {
        index,
        code,
        message: message.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::error::Error;
    use crate::schema::{Interners, Schema};
    use crate::value::Scalar;
    use crate::window::columns::MISSING;

    fn fixture(toml: &str) -> (Schema, Interners) {
        let c = Config::parse(toml).unwrap();
        let m = &c.models[0];
        (
            Schema::new(m),
            Interners::new(m.features.len(), m.max_categories),
        )
    }

    const BINARY: &str = r#"
[[model]]
name = "m"
task = "binary_classification"
[[model.feature]]
name = "amount"
type = "numeric"
[[model.feature]]
name = "country"
type = "categorical"
"#;

    fn parse_preds(
        schema: &Schema,
        interners: &Interners,
        body: &str,
        format: BodyFormat,
    ) -> Result<PredictionBatch, Error> {
        Parser {
            schema,
            interners,
            limits: Limits::default(),
            now_ns: 1_000_000_000,
            latest_ts_ns: i64::MAX,
        }
        .predictions(body.as_bytes(), format)
    }

    #[test]
    fn a_full_binary_event() {
        let (s, i) = fixture(BINARY);
        let b = parse_preds(
            &s,
            &i,
            r#"{"id": "req-42", "timestamp": "2026-11-22T10:00:00Z", "features": {"amount": 12.5, "country": "DE"},
                "prediction": 1, "score": 0.93, "label": 1, "latency_ms": 4.2, "error": false}"#,
            BodyFormat::Json,
        )
        .unwrap();
        assert!(b.single);
        assert_eq!(b.events.len(), 1);
        let e = &b.events[0];
        assert_eq!(e.id.as_deref(), Some("req-42"));
        assert_eq!(e.ts, 1_795_341_600_000_000_000);
        assert_eq!(
            e.predicted,
            Predicted::Binary {
                positive: true,
                score: 0.93
            }
        );
        assert_eq!(e.label, Some(LabelValue::Binary(true)));
        assert_eq!(e.latency_seconds, Some(4.2 / 1000.0));
        let (num, cat) = b.row(0, s.layout.numeric, s.layout.categorical);
        assert_eq!(num, &[12.5, 0.93]);
        assert_eq!(cat, &[0, 1]);
        assert_eq!(i.name(0, 0), "DE");
    }

    #[test]
    fn prediction_defaults_to_score_threshold_and_timestamp_to_now() {
        let (s, i) = fixture(BINARY);
        let b = parse_preds(
            &s,
            &i,
            r#"[{"score": 0.5}, {"score": 0.49}, {"score": 1, "timestamp": 12.5}]"#,
            BodyFormat::Json,
        )
        .unwrap();
        assert_eq!(
            b.events[0].predicted,
            Predicted::Binary {
                positive: true,
                score: 0.5
            }
        );
        assert_eq!(
            b.events[1].predicted,
            Predicted::Binary {
                positive: false,
                score: 0.49
            }
        );
        assert_eq!(b.events[0].ts, 1_000_000_000);
        assert_eq!(b.events[2].ts, 12_500_000_000);
    }

    #[test]
    fn per_event_codes_in_a_batch() {
        let (s, i) = fixture(BINARY);
        let body = r#"[
            {"prediction": 1},
            {"features": {"amount": 1}},
            {"score": 1.5},
            {"prediction": "maybe"},
            {"prediction": 1, "timestamp": "yesterday"},
            {"prediction": 1, "id": {"a": 1}},
            {"prediction": 1, "label": 7},
            {"prediction": 1, "label": [1]},
            "not an object",
            {"prediction": 0, "latency_ms": -1},
            {"prediction": 0, "id": ""},
            {"error": true}
        ]"#;
        let b = parse_preds(&s, &i, body, BodyFormat::Json).unwrap();
        let codes: Vec<(usize, &str)> = b
            .errors
            .iter()
            .map(|e| (e.index, e.code.as_str()))
            .collect();
        assert_eq!(
            codes,
            vec![
                (1, "missing_prediction"),
                (2, "invalid_score"),
                (3, "unknown_class"),
                (4, "invalid_timestamp"),
                (5, "invalid_type"),
                (6, "unknown_class"),
                (7, "invalid_label"),
                (8, "invalid_type"),
                (9, "invalid_latency"),
                (10, "invalid_id"),
            ]
        );
        assert_eq!(b.events.len(), 2);
        assert_eq!(b.events[1].predicted, Predicted::Nothing);
        assert!(b.events[1].error);
        // Rows stay aligned with accepted events.
        assert_eq!(b.num.len(), 2 * s.layout.numeric);
    }

    #[test]
    fn schema_violations_are_recorded_and_the_event_kept() {
        let (s, i) = fixture(BINARY);
        let body = "{\"prediction\": 0, \"features\": {\"amount\": \"12\", \"country\": 49, \"extra\": 1, \"more\": 2}}\n\
                    {\"prediction\": 0, \"features\": {\"amount\": 1e400, \"country\": null}}\n\
                    not json\n\n";
        let b = parse_preds(&s, &i, body, BodyFormat::Ndjson).unwrap();
        assert_eq!(b.events.len(), 2);
        assert_eq!(b.errors.len(), 1);
        assert_eq!(
            (b.errors[0].index, b.errors[0].code),
            (2, EventCode::InvalidJson)
        );
        let v0 = b.violations_of(&b.events[0]);
        assert_eq!(
            v0,
            &[
                (Some(0), Violation::TypeMismatch),
                (None, Violation::UnknownFeature)
            ]
        );
        let v1 = b.violations_of(&b.events[1]);
        assert_eq!(v1, &[(Some(0), Violation::NonFinite)]);
        let (num, cat) = b.row(0, s.layout.numeric, s.layout.categorical);
        assert!(num[0].is_nan());
        assert_eq!(i.name(0, cat[0]), "49");
        let (num, cat) = b.row(1, s.layout.numeric, s.layout.categorical);
        assert!(num[0].is_nan());
        assert_eq!(cat[0], MISSING);
    }

    /// Numeric features parsed in place must read exactly what the captured path reads from the same
    /// literal: the correctly rounded value of `str::parse`, or the same violation.
    #[test]
    fn numbers_parsed_in_place_equal_the_literal_parse() {
        use crate::testing::XorShift;
        let (s, i) = fixture(BINARY);
        let mut literals: Vec<String> = [
            "0",
            "-0",
            "-0.0",
            "0.1",
            "1e5",
            "1E-5",
            "-2.5e+3",
            "9007199254740993",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "2.2250738585072011e-308",
            "4.9e-324",
            "2e-324",
            "1e-400",
            "1.7976931348623157e308",
            "1.7976931348623159e308",
            "1e400",
            "-1e400",
            "0.30000000000000001665",
            "123456789012345678901234567890e-10",
            "true",
            "false",
            "null",
            "\"12\"",
            "[1, 2]",
            "{\"a\": [1, {}]}",
            "[]",
        ]
        .iter()
        .map(|l| l.to_string())
        .collect();
        let mut rng = XorShift(0xf10a7);
        for _ in 0..3000 {
            let digits: String = (0..1 + rng.below(25))
                .map(|_| char::from(b'0' + rng.below(10) as u8))
                .collect();
            let digits = digits.trim_start_matches('0');
            let digits = if digits.is_empty() { "0" } else { digits };
            let sign = if rng.below(2) == 0 { "" } else { "-" };
            let lit = match rng.below(3) {
                0 => format!("{sign}{digits}"),
                1 => format!("{sign}{digits}.{}", rng.below(1_000_000_007)),
                _ => format!("{sign}{digits}e{}", rng.below(660) as i64 - 340),
            };
            literals.push(lit);
        }
        for lit in &literals {
            let body = format!(
                "{{\"prediction\": 0, \"features\": {{\"amount\": {lit}, \"country\": \"x\"}}}}"
            );
            let b = parse_preds(&s, &i, &body, BodyFormat::Json).unwrap();
            let (num, _) = b.row(0, s.layout.numeric, s.layout.categorical);
            let violations = b.violations_of(&b.events[0]);
            match Scalar::parse(lit) {
                Scalar::Number(v, _) if v.is_finite() => {
                    assert_eq!(num[0].to_bits(), v.to_bits(), "{lit}");
                    assert!(violations.is_empty(), "{lit}");
                }
                Scalar::Number(..) => {
                    assert!(num[0].is_nan(), "{lit}");
                    assert_eq!(violations, &[(Some(0), Violation::NonFinite)], "{lit}");
                }
                Scalar::Null => {
                    assert!(num[0].is_nan() && violations.is_empty(), "{lit}");
                }
                _ => {
                    assert!(num[0].is_nan(), "{lit}");
                    assert_eq!(violations, &[(Some(0), Violation::TypeMismatch)], "{lit}");
                }
            }
        }
    }

    #[test]
    fn a_line_that_is_not_utf8_fails_alone() {
        let (s, i) = fixture(BINARY);
        let mut body = b"{\"prediction\": 1}\n{\"prediction\": \"".to_vec();
        body.extend_from_slice(&[0xff, 0xfe]);
        body.extend_from_slice(b"\"}\n{\"prediction\": 0}\n");
        let b = Parser {
            schema: &s,
            interners: &i,
            limits: Limits::default(),
            now_ns: 0,
            latest_ts_ns: i64::MAX,
        }
        .predictions(&body, BodyFormat::Ndjson)
        .unwrap();
        assert_eq!(b.events.len(), 2);
        assert_eq!(
            (b.errors[0].index, b.errors[0].code),
            (1, EventCode::InvalidJson)
        );
    }

    #[test]
    fn whole_request_failures() {
        let (s, i) = fixture(BINARY);
        let r = parse_preds(&s, &i, "[{\"prediction\": 1},", BodyFormat::Json);
        assert!(matches!(r, Err(Error::InvalidJson(_))));
        let r = parse_preds(&s, &i, "{\"prediction\": 1", BodyFormat::Json);
        assert!(matches!(r, Err(Error::InvalidJson(_))));
        let r = parse_preds(&s, &i, "{\"score\": 2}", BodyFormat::Json);
        match r {
            Err(Error::InvalidEvent(e)) => assert_eq!(e.code, EventCode::InvalidScore),
            other => panic!("unexpected {other:?}"),
        }
        let r = parse_preds(&s, &i, "nope\n{bad\n", BodyFormat::Ndjson);
        assert!(matches!(r, Err(Error::InvalidJson(_))));
        let r = parse_preds(&s, &i, "42", BodyFormat::Json);
        assert!(matches!(r, Err(Error::InvalidJson(_))));
        assert!(matches!(
            BodyFormat::from_content_type(Some("text/csv")),
            Err(Error::UnsupportedMediaType(_))
        ));
        assert_eq!(
            BodyFormat::from_content_type(Some("application/x-ndjson; charset=utf-8")).unwrap(),
            BodyFormat::Ndjson
        );
    }

    #[test]
    fn multiclass_scores_and_argmax() {
        let (s, i) = fixture(
            "[[model]]\nname = \"m\"\ntask = \"multiclass_classification\"\nclasses = [\"cat\", \"dog\", 3]\n",
        );
        let b = parse_preds(
            &s,
            &i,
            r#"[{"scores": {"cat": 0.2, "dog": 0.5, "3": 0.3}, "label": 3.0},
                {"scores": {"cat": 0.4, "dog": 0.4}},
                {"scores": {"cow": 1}},
                {"scores": [0.1]}]"#,
            BodyFormat::Json,
        )
        .unwrap();
        assert_eq!(
            b.events[0].predicted,
            Predicted::Multiclass {
                class: 1,
                probs: Some(vec![0.2, 0.5, 0.3].into())
            }
        );
        assert_eq!(b.events[0].label, Some(LabelValue::Class(2)));
        assert!(matches!(
            b.events[1].predicted,
            Predicted::Multiclass { class: 0, .. }
        ));
        let codes: Vec<_> = b.errors.iter().map(|e| e.code).collect();
        assert_eq!(
            codes,
            vec![EventCode::UnknownClass, EventCode::InvalidScore]
        );
    }

    #[test]
    fn labels_need_an_id_and_a_valid_label() {
        let (s, i) = fixture("[[model]]\nname = \"m\"\ntask = \"regression\"\n");
        let b = Parser {
            schema: &s,
            interners: &i,
            limits: Limits::default(),
            now_ns: 0,
            latest_ts_ns: i64::MAX,
        }
        .labels(
            br#"[{"id": "a", "label": 2.5}, {"label": 1}, {"id": 7, "label": "x"}, {"id": 8}, {"id": 9, "label": 1, "timestamp": "bad"}]"#,
            BodyFormat::Json,
        )
        .unwrap();
        assert_eq!(
            b.events,
            vec![LabelEvent {
                index: 0,
                id: "a".into(),
                label: LabelValue::Number(2.5)
            }]
        );
        let codes: Vec<_> = b.errors.iter().map(|e| e.code.as_str()).collect();
        assert_eq!(
            codes,
            vec![
                "missing_id",
                "invalid_label",
                "invalid_label",
                "invalid_timestamp"
            ]
        );
    }

    #[test]
    fn limits_are_enforced() {
        let (s, i) = fixture(BINARY);
        let parser = Parser {
            schema: &s,
            interners: &i,
            limits: Limits {
                max_events_per_request: 3,
                max_features_per_event: 1,
                max_string_bytes: 4,
                max_id_bytes: 3,
            },
            now_ns: 0,
            latest_ts_ns: i64::MAX,
        };
        assert!(matches!(
            parser.predictions(b"[{}, {}, {}, {}]", BodyFormat::Json),
            Err(Error::TooManyEvents(_))
        ));
        let b = parser
            .predictions(
                br#"[{"prediction": 1, "features": {"amount": 1, "country": "x"}},
                     {"prediction": 1, "features": {"country": "toolong"}},
                     {"prediction": 1, "id": "abcd"}]"#,
                BodyFormat::Json,
            )
            .unwrap();
        let codes: Vec<_> = b.errors.iter().map(|e| e.code.as_str()).collect();
        assert_eq!(
            codes,
            vec!["too_many_features", "string_too_long", "invalid_id"]
        );
    }
}
