//! Parsing and validation of event bodies: one JSON object, a JSON array, or NDJSON.
//!
//! An event is validated against its model's schema before any lock is taken. Each event is parsed on
//! its own, so a bad event is reported with its index and the good events beside it are still accepted.
//! Fields are captured as raw JSON text and read by `value::Scalar`, which keeps error codes precise (a
//! string where a score belongs is `invalid_score`, not a generic parse failure) and lets an out-of-range
//! number such as `1e400` count as a non-finite feature value instead of failing the event.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

pub use crate::config::Limits;
use crate::config::Task;
use crate::error::{Error, EventCode, EventError};
use crate::schema::{Interners, Schema, Slot, Violation};
use crate::value::Scalar;
use crate::window::columns::MISSING;

/// How the body is framed, from the Content-Type header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFormat {
    /// One event object or an array of events.
    Json,
    /// One event per line.
    Ndjson,
}

impl BodyFormat {
    /// Accepts `application/json` (also when the header is absent) and the NDJSON / JSON Lines types.
    pub fn from_content_type(content_type: Option<&str>) -> Result<BodyFormat, Error> {
        let Some(ct) = content_type else {
            return Ok(BodyFormat::Json);
        };
        // Media types are case-insensitive; compare without allocating a lowercase copy.
        let essence = ct.split(';').next().unwrap_or("").trim();
        let is = |name: &str| essence.eq_ignore_ascii_case(name);
        if is("application/json") || is("text/json") {
            Ok(BodyFormat::Json)
        } else if is("application/x-ndjson")
            || is("application/ndjson")
            || is("application/jsonl")
            || is("application/x-jsonlines")
            || is("application/jsonlines")
        {
            Ok(BodyFormat::Ndjson)
        } else {
            Err(Error::UnsupportedMediaType(format!(
                "unsupported content type {:?}; send application/json or application/x-ndjson",
                essence.to_ascii_lowercase()
            )))
        }
    }
}

/// One event's text, with its index in the request.
struct RawEvent<'a> {
    index: usize,
    /// The event's text; `None` when it is not valid UTF-8 (JSON must be). Parsing from `&str` lets
    /// serde_json borrow raw values without checking their UTF-8 again for each one.
    text: Option<&'a str>,
}

impl<'a> RawEvent<'a> {
    fn text(&self) -> Result<&'a str, EventError> {
        self.text.ok_or_else(|| {
            err(
                self.index,
                EventCode::InvalidJson,
                "the event is not valid UTF-8",
            )
        })
    }
}

/// Splits a body into events. Returns the events and whether the body was a single object (whose
/// invalid event is a 422 rather than a line in a 200 response).
fn split_body<'a>(
    body: &'a [u8],
    format: BodyFormat,
    limits: &Limits,
) -> Result<(Vec<RawEvent<'a>>, bool), Error> {
    match format {
        BodyFormat::Json => {
            let first = body.iter().find(|b| !b.is_ascii_whitespace());
            match first {
                Some(b'{') => Ok((
                    vec![RawEvent {
                        index: 0,
                        text: std::str::from_utf8(body).ok(),
                    }],
                    true,
                )),
                Some(b'[') => {
                    let items: Vec<&RawValue> = serde_json::from_slice(body).map_err(|e| {
                        Error::InvalidJson(format!("malformed JSON array: {}", describe(&e)))
                    })?;
                    check_count(items.len(), limits)?;
                    Ok((
                        items
                            .into_iter()
                            .enumerate()
                            .map(|(index, raw)| RawEvent {
                                index,
                                text: Some(raw.get()),
                            })
                            .collect(),
                        false,
                    ))
                }
                Some(_) => Err(Error::InvalidJson(
                    "expected a JSON object (one event) or an array of events".to_string(),
                )),
                None => Err(Error::InvalidJson("empty body".to_string())),
            }
        }
        BodyFormat::Ndjson => {
            let lines = body.iter().filter(|&&b| b == b'\n').count() + 1;
            let mut events = Vec::with_capacity(lines.min(limits.max_events_per_request + 1));
            // Validate the whole body once and split the text; a body with a broken line is split as
            // bytes and checked line by line, so only the broken lines fail.
            match std::str::from_utf8(body) {
                Ok(text) => {
                    for (index, line) in text.split('\n').enumerate() {
                        let trimmed = line.trim_matches(|c: char| c.is_ascii_whitespace());
                        if trimmed.is_empty() {
                            continue;
                        }
                        events.push(RawEvent {
                            index,
                            text: Some(trimmed),
                        });
                        check_count(events.len(), limits)?;
                    }
                }
                Err(_) => {
                    for (index, line) in body.split(|&b| b == b'\n').enumerate() {
                        let trimmed = line.trim_ascii();
                        if trimmed.is_empty() {
                            continue;
                        }
                        events.push(RawEvent {
                            index,
                            text: std::str::from_utf8(trimmed).ok(),
                        });
                        check_count(events.len(), limits)?;
                    }
                }
            }
            Ok((events, false))
        }
    }
}

fn check_count(n: usize, limits: &Limits) -> Result<(), Error> {
    if n > limits.max_events_per_request {
        return Err(Error::TooManyEvents(format!(
            "more than {} events in one request; split the batch",
            limits.max_events_per_request
        )));
    }
    Ok(())
}

/// A serde error without the parts that echo internal type names.
fn describe(e: &serde_json::Error) -> String {
    match e.classify() {
        serde_json::error::Category::Eof => format!(
            "unexpected end of input at line {} column {}",
            e.line(),
            e.column()
        ),
        _ => {
            let msg = e.to_string();
            msg.split(" at line ").next().unwrap_or(&msg).to_string()
                + &format!(" at line {} column {}", e.line(), e.column())
        }
    }
}

/// The scalar fields of a prediction event, each captured as raw JSON. The `features` object is not
/// captured: the event visitor streams it straight into the row, so the bulk of an event is read once.
#[derive(Default)]
struct RawPrediction<'a> {
    id: Option<&'a RawValue>,
    timestamp: Option<&'a RawValue>,
    prediction: Option<&'a RawValue>,
    score: Option<&'a RawValue>,
    scores: Option<&'a RawValue>,
    label: Option<&'a RawValue>,
    latency_ms: Option<&'a RawValue>,
    error: Option<&'a RawValue>,
}

/// Reads one prediction event object in a single pass: scalar fields into `RawPrediction`, features
/// into the sink's row.
struct EventVisitor<'x, 'p, 's, 'b> {
    sink: &'x mut FeatureSink<'p, 's, 'b>,
    /// Whether numeric features are parsed in place (see `FeatureVisitor`).
    direct: bool,
}

impl<'de> Visitor<'de> for EventVisitor<'_, '_, '_, '_> {
    type Value = RawPrediction<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an event object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut ev = RawPrediction::default();
        let mut features_seen = false;
        while let Some(key) = map.next_key::<KeyStr<'de>>()? {
            let slot = match key.0.as_ref() {
                "id" => &mut ev.id,
                "timestamp" => &mut ev.timestamp,
                "prediction" => &mut ev.prediction,
                "score" => &mut ev.score,
                "scores" => &mut ev.scores,
                "label" => &mut ev.label,
                "latency_ms" => &mut ev.latency_ms,
                "error" => &mut ev.error,
                "features" => {
                    if std::mem::replace(&mut features_seen, true) {
                        return Err(de::Error::custom("duplicate field `features`"));
                    }
                    map.next_value_seed(FeatureVisitor {
                        sink: &mut *self.sink,
                        direct: self.direct,
                    })?;
                    continue;
                }
                // Unknown fields are ignored: clients may send metadata of their own.
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                    continue;
                }
            };
            if slot.is_some() {
                return Err(de::Error::custom(format!("duplicate field `{}`", key.0)));
            }
            *slot = map.next_value::<Option<&'de RawValue>>()?;
        }
        Ok(ev)
    }
}

#[derive(Deserialize)]
struct RawLabel<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    label: Option<&'a RawValue>,
    #[serde(borrow)]
    timestamp: Option<&'a RawValue>,
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

/// Maps serde's failure on one event to `invalid_json` (not JSON at all) or `invalid_type` (JSON, but
/// not an event object).
fn event_parse_error(index: usize, e: &serde_json::Error) -> EventError {
    match e.classify() {
        serde_json::error::Category::Syntax
        | serde_json::error::Category::Eof
        | serde_json::error::Category::Io => err(
            index,
            EventCode::InvalidJson,
            format!("malformed JSON: {}", describe(e)),
        ),
        serde_json::error::Category::Data => err(
            index,
            EventCode::InvalidType,
            "an event must be a JSON object with distinct field names, and features an object",
        ),
    }
}

/// Parses one event object.
fn parse_object<'a, T: Deserialize<'a>>(raw: &RawEvent<'a>) -> Result<T, EventError> {
    serde_json::from_str::<T>(raw.text()?).map_err(|e| event_parse_error(raw.index, &e))
}

/// Whole-request failure when the body was a single object, or NDJSON whose every line is broken JSON.
fn whole_request_failure(single: bool, raws: usize, errors: &[EventError]) -> Option<Error> {
    if single {
        if let Some(e) = errors.first() {
            if e.code == EventCode::InvalidJson {
                return Some(Error::InvalidJson(e.message.clone()));
            }
            return Some(Error::InvalidEvent(e.clone()));
        }
    } else if raws > 0
        && errors.len() == raws
        && errors.iter().all(|e| e.code == EventCode::InvalidJson)
    {
        return Some(Error::InvalidJson(format!(
            "no line of the body is valid JSON (first: {})",
            errors[0].message
        )));
    }
    None
}

/// Context for validating events of one model.
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

impl<'s> Parser<'s> {
    /// Parses a body of predictions. Whole-request problems are errors; per-event problems are listed in
    /// the batch.
    pub fn predictions(&self, body: &[u8], format: BodyFormat) -> Result<PredictionBatch, Error> {
        let (raws, single) = split_body(body, format, &self.limits)?;
        let layout = self.schema.layout;
        let mut batch = PredictionBatch {
            events: Vec::with_capacity(raws.len()),
            num: Vec::with_capacity(raws.len() * layout.numeric),
            cat: Vec::with_capacity(raws.len() * layout.categorical),
            single,
            ..Default::default()
        };
        for raw in &raws {
            let (num_len, cat_len, viol_len) =
                (batch.num.len(), batch.cat.len(), batch.violations.len());
            match self.prediction(raw, &mut batch) {
                Ok(event) => batch.events.push(event),
                Err(e) => {
                    batch.num.truncate(num_len);
                    batch.cat.truncate(cat_len);
                    batch.violations.truncate(viol_len);
                    batch.errors.push(e);
                }
            }
        }
        if let Some(e) = whole_request_failure(single, raws.len(), &batch.errors) {
            return Err(e);
        }
        Ok(batch)
    }

    /// Parses a body of labels.
    pub fn labels(&self, body: &[u8], format: BodyFormat) -> Result<LabelBatch, Error> {
        let (raws, single) = split_body(body, format, &self.limits)?;
        let mut batch = LabelBatch {
            events: Vec::with_capacity(raws.len()),
            single,
            ..Default::default()
        };
        for raw in &raws {
            match self.label_event(raw) {
                Ok(e) => batch.events.push(e),
                Err(e) => batch.errors.push(e),
            }
        }
        if let Some(e) = whole_request_failure(single, raws.len(), &batch.errors) {
            return Err(e);
        }
        Ok(batch)
    }

    fn label_event(&self, raw: &RawEvent<'_>) -> Result<LabelEvent, EventError> {
        let ev: RawLabel<'_> = parse_object(raw)?;
        let index = raw.index;
        let id = match ev.id {
            Some(r) => self.id(index, r)?,
            None => {
                return Err(err(
                    index,
                    EventCode::MissingId,
                    "a label event needs the id of its prediction",
                ));
            }
        };
        if let Some(ts) = ev.timestamp {
            self.timestamp(index, ts)?;
        }
        let label = match ev.label {
            Some(r) => self.label(index, r)?,
            None => {
                return Err(err(
                    index,
                    EventCode::InvalidLabel,
                    "a label event needs a label",
                ));
            }
        };
        Ok(LabelEvent { index, id, label })
    }

    fn prediction(
        &self,
        raw: &RawEvent<'_>,
        batch: &mut PredictionBatch,
    ) -> Result<PredictionEvent, EventError> {
        let index = raw.index;
        // The row: features first, then the prediction columns. The caller truncates it on error.
        let layout = self.schema.layout;
        let num_start = batch.num.len();
        let cat_start = batch.cat.len();
        batch.num.resize(num_start + layout.numeric, f64::NAN);
        batch.cat.resize(cat_start + layout.categorical, MISSING);
        let viol_start = batch.violations.len();
        let text = raw.text()?;
        // Numeric features are first parsed in place. serde_json rejects a number beyond the range of
        // f64 (1e400) that the captured path records as a non-finite value, so an event that fails to
        // parse this way is read again with every value captured first: that path decides every
        // error and violation, and the fast one only ever agrees with it.
        let mut direct = true;
        let (parsed, mut sink) = loop {
            let mut sink = FeatureSink {
                parser: self,
                num: &mut batch.num[num_start..num_start + layout.numeric],
                cat: &mut batch.cat[cat_start..cat_start + layout.categorical],
                violations: &mut batch.violations,
                seen: 0,
                unknown: false,
                failure: None,
            };
            let mut de = serde_json::Deserializer::from_str(text);
            let parsed = de::Deserializer::deserialize_map(
                &mut de,
                EventVisitor {
                    sink: &mut sink,
                    direct,
                },
            )
            .and_then(|ev| de.end().map(|()| ev));
            if parsed.is_ok() || sink.failure.is_some() || !direct {
                break (parsed, sink);
            }
            sink.num.fill(f64::NAN);
            sink.cat.fill(MISSING);
            sink.violations.truncate(viol_start);
            direct = false;
        };
        if let Some(failure) = sink.failure.take() {
            return Err(err(index, failure.0, failure.1));
        }
        let ev = parsed.map_err(|e| event_parse_error(index, &e))?;
        if sink.unknown {
            sink.violations.push((None, Violation::UnknownFeature));
        }
        let id = ev.id.map(|r| self.id(index, r)).transpose()?;
        let ts = match ev.timestamp {
            Some(r) => self.timestamp(index, r)?,
            None => self.now_ns,
        };
        if ts > self.latest_ts_ns {
            return Err(err(
                index,
                EventCode::TimestampInFuture,
                "timestamp is further ahead of the server's clock than max_clock_skew",
            ));
        }
        let error = match ev.error.map(|r| Scalar::parse(r.get())) {
            None | Some(Scalar::Null) => false,
            Some(Scalar::Bool(b)) => b,
            Some(other) => {
                return Err(err(
                    index,
                    EventCode::InvalidType,
                    format!("error must be a boolean, found {}", other.type_name()),
                ));
            }
        };
        let latency_seconds = match ev.latency_ms.map(|r| Scalar::parse(r.get())) {
            None | Some(Scalar::Null) => None,
            Some(Scalar::Number(v, _)) if v.is_finite() && v >= 0.0 => Some(v / 1000.0),
            Some(Scalar::Number(..)) => {
                return Err(err(
                    index,
                    EventCode::InvalidLatency,
                    "latency_ms must be a finite number >= 0",
                ));
            }
            Some(other) => {
                return Err(err(
                    index,
                    EventCode::InvalidType,
                    format!("latency_ms must be a number, found {}", other.type_name()),
                ));
            }
        };
        let predicted = self.predicted(index, &ev, error)?;
        let label = ev.label.map(|r| self.label(index, r)).transpose()?;
        if label.is_some() && predicted == Predicted::Nothing {
            return Err(err(
                index,
                EventCode::MissingPrediction,
                "a labelled event needs a prediction (or a score)",
            ));
        }

        match &predicted {
            Predicted::Binary { positive, score } => {
                if let Some(c) = self.schema.prediction_numeric {
                    batch.num[num_start + c] = *score;
                }
                if let Some(c) = self.schema.prediction_categorical {
                    batch.cat[cat_start + c] = *positive as u32;
                }
            }
            Predicted::Multiclass { class, .. } => {
                if let Some(c) = self.schema.prediction_categorical {
                    batch.cat[cat_start + c] = *class;
                }
            }
            Predicted::Regression(v) => {
                if let Some(c) = self.schema.prediction_numeric {
                    batch.num[num_start + c] = *v;
                }
            }
            Predicted::Nothing => {}
        }
        Ok(PredictionEvent {
            index,
            id,
            ts,
            predicted,
            label,
            latency_seconds,
            error,
            violations: (viol_start as u32, batch.violations.len() as u32),
        })
    }

    fn id(&self, index: usize, raw: &RawValue) -> Result<Box<str>, EventError> {
        let scalar = Scalar::parse(raw.get());
        let id = match &scalar {
            Scalar::Str(_) | Scalar::Number(..) => scalar.canonical_class(),
            _ => None,
        };
        match id {
            Some(id) if id.is_empty() => {
                Err(err(index, EventCode::InvalidId, "id must not be empty"))
            }
            Some(id) if id.len() > self.limits.max_id_bytes => Err(err(
                index,
                EventCode::InvalidId,
                format!("id is longer than {} bytes", self.limits.max_id_bytes),
            )),
            Some(id) => Ok(id.into()),
            None => Err(err(
                index,
                EventCode::InvalidType,
                format!(
                    "id must be a string or an integer, found {}",
                    scalar.type_name()
                ),
            )),
        }
    }

    fn timestamp(&self, index: usize, raw: &RawValue) -> Result<i64, EventError> {
        // Unix seconds below 2^33 (year 2242) fit in i64 nanoseconds with room to spare.
        const MAX_SECONDS: f64 = 8_589_934_592.0;
        match Scalar::parse(raw.get()) {
            Scalar::Str(s) => OffsetDateTime::parse(&s, &Rfc3339)
                .ok()
                .map(|t| t.unix_timestamp_nanos())
                .filter(|&ns| ns >= 0 && ns < (MAX_SECONDS as i128) * 1_000_000_000)
                .map(|ns| ns as i64)
                .ok_or_else(|| {
                    err(
                        index,
                        EventCode::InvalidTimestamp,
                        "timestamp must be RFC 3339 (e.g. 2026-11-22T10:00:00Z) between 1970 and 2242",
                    )
                }),
            Scalar::Number(v, _) if (0.0..MAX_SECONDS).contains(&v) => Ok((v * 1e9).round() as i64),
            Scalar::Number(..) => Err(err(
                index,
                EventCode::InvalidTimestamp,
                "a numeric timestamp is Unix seconds between 0 and 8589934592",
            )),
            other => Err(err(
                index,
                EventCode::InvalidTimestamp,
                format!("timestamp must be an RFC 3339 string or Unix seconds, found {}", other.type_name()),
            )),
        }
    }

    /// Resolves a class value (prediction or label) to its index.
    fn class(
        &self,
        index: usize,
        scalar: &Scalar<'_>,
        what: &str,
        type_code: EventCode,
    ) -> Result<u32, EventError> {
        let Some(canonical) = scalar.canonical_class() else {
            return Err(err(
                index,
                type_code,
                format!(
                    "{what} must be a class (string, integer or boolean), found {}",
                    scalar.type_name()
                ),
            ));
        };
        self.schema.class(&canonical).ok_or_else(|| {
            let shown: String = canonical.chars().take(64).collect();
            err(
                index,
                EventCode::UnknownClass,
                format!(
                    "{what} {shown:?} is not one of the model's classes {:?}",
                    self.schema.classes
                ),
            )
        })
    }

    fn label(&self, index: usize, raw: &RawValue) -> Result<LabelValue, EventError> {
        let scalar = Scalar::parse(raw.get());
        match self.schema.task {
            Task::BinaryClassification => self
                .class(index, &scalar, "label", EventCode::InvalidLabel)
                .map(|c| LabelValue::Binary(c == 1)),
            Task::MulticlassClassification => self
                .class(index, &scalar, "label", EventCode::InvalidLabel)
                .map(LabelValue::Class),
            Task::Regression => match scalar {
                Scalar::Number(v, _) if v.is_finite() => Ok(LabelValue::Number(v)),
                other => Err(err(
                    index,
                    EventCode::InvalidLabel,
                    format!(
                        "a regression label must be a finite number, found {}",
                        other.type_name()
                    ),
                )),
            },
        }
    }

    fn score(&self, index: usize, scalar: Scalar<'_>, what: &str) -> Result<f64, EventError> {
        match scalar {
            Scalar::Number(v, _) if (0.0..=1.0).contains(&v) => Ok(v),
            Scalar::Number(v, _) => Err(err(
                index,
                EventCode::InvalidScore,
                format!("{what} must be a probability in [0, 1], found {v}"),
            )),
            other => Err(err(
                index,
                EventCode::InvalidScore,
                format!(
                    "{what} must be a number in [0, 1], found {}",
                    other.type_name()
                ),
            )),
        }
    }

    fn predicted(
        &self,
        index: usize,
        ev: &RawPrediction<'_>,
        error: bool,
    ) -> Result<Predicted, EventError> {
        let prediction = ev
            .prediction
            .map(|r| Scalar::parse(r.get()))
            .filter(|s| *s != Scalar::Null);
        match self.schema.task {
            Task::BinaryClassification => {
                let score = match present(ev.score) {
                    Some(r) => self.score(index, Scalar::parse(r.get()), "score")?,
                    None => f64::NAN,
                };
                let positive = match &prediction {
                    Some(p) => self.class(index, p, "prediction", EventCode::InvalidType)? == 1,
                    None if !score.is_nan() => score >= self.schema.threshold,
                    None if error => return Ok(Predicted::Nothing),
                    None => {
                        return Err(err(
                            index,
                            EventCode::MissingPrediction,
                            "a binary event needs a prediction or a score",
                        ));
                    }
                };
                Ok(Predicted::Binary { positive, score })
            }
            Task::MulticlassClassification => {
                let probs = match present(ev.scores) {
                    Some(r) => Some(self.class_scores(index, r)?),
                    None => None,
                };
                let class = match (&prediction, &probs) {
                    (Some(p), _) => self.class(index, p, "prediction", EventCode::InvalidType)?,
                    // The first of equal maxima wins, as numpy's argmax does.
                    (None, Some(probs)) => {
                        probs
                            .iter()
                            .enumerate()
                            .fold((0, f64::NEG_INFINITY), |best, (i, &p)| {
                                if p > best.1 { (i, p) } else { best }
                            })
                            .0 as u32
                    }
                    (None, None) if error => return Ok(Predicted::Nothing),
                    (None, None) => {
                        return Err(err(
                            index,
                            EventCode::MissingPrediction,
                            "a multiclass event needs a prediction or scores",
                        ));
                    }
                };
                Ok(Predicted::Multiclass { class, probs })
            }
            Task::Regression => match prediction {
                Some(Scalar::Number(v, _)) if v.is_finite() => Ok(Predicted::Regression(v)),
                Some(Scalar::Number(..)) => Err(err(
                    index,
                    EventCode::InvalidPrediction,
                    "a regression prediction must be a finite number",
                )),
                Some(other) => Err(err(
                    index,
                    EventCode::InvalidType,
                    format!(
                        "a regression prediction must be a number, found {}",
                        other.type_name()
                    ),
                )),
                None if error => Ok(Predicted::Nothing),
                None => Err(err(
                    index,
                    EventCode::MissingPrediction,
                    "a regression event needs a prediction",
                )),
            },
        }
    }

    /// `scores`: an object of class to probability. Classes left out have probability 0.
    fn class_scores(&self, index: usize, raw: &RawValue) -> Result<Box<[f64]>, EventError> {
        let map: Vec<(KeyStr<'_>, &RawValue)> =
            match serde_json::from_str::<MapEntries<'_>>(raw.get()) {
                Ok(m) => m.0,
                Err(_) => {
                    return Err(err(
                        index,
                        EventCode::InvalidScore,
                        "scores must be an object mapping each class to a probability",
                    ));
                }
            };
        let mut probs = vec![0.0; self.schema.classes.len()];
        for (key, value) in map {
            let class = self.schema.class(&key.0).ok_or_else(|| {
                let shown: String = key.0.chars().take(64).collect();
                err(
                    index,
                    EventCode::UnknownClass,
                    format!("scores names an unknown class {shown:?}"),
                )
            })?;
            probs[class as usize] = self.score(index, Scalar::parse(value.get()), "each score")?;
        }
        Ok(probs.into_boxed_slice())
    }
}

/// A field that is present and not `null`.
fn present(r: Option<&RawValue>) -> Option<&RawValue> {
    r.filter(|r| r.get() != "null")
}

/// A map key borrowed from the body when it has no escapes.
struct KeyStr<'a>(Cow<'a, str>);

impl<'de> Deserialize<'de> for KeyStr<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KeyStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(KeyStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(KeyStr(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_str(V)
    }
}

/// The entries of a JSON object, in order, with raw values.
struct MapEntries<'a>(Vec<(KeyStr<'a>, &'a RawValue)>);

impl<'de> Deserialize<'de> for MapEntries<'de> {
    fn deserialize<D: de::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MapEntries<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = map.next_key::<KeyStr<'de>>()? {
                    let v: &'de RawValue = map.next_value()?;
                    out.push((k, v));
                }
                Ok(MapEntries(out))
            }
        }
        d.deserialize_map(V)
    }
}

/// Receives feature values straight into the event's row, without building a map.
struct FeatureSink<'p, 's, 'b> {
    parser: &'p Parser<'s>,
    num: &'b mut [f64],
    cat: &'b mut [u32],
    violations: &'b mut Vec<(Option<u32>, Violation)>,
    seen: usize,
    unknown: bool,
    failure: Option<(EventCode, String)>,
}

impl FeatureSink<'_, '_, '_> {
    fn set(&mut self, feature: usize, value: Scalar<'_>) {
        let f = Some(feature as u32);
        match self.parser.schema.slots[feature] {
            Slot::Numeric(c) => match value {
                Scalar::Number(v, _) if v.is_finite() => self.num[c] = v,
                Scalar::Number(..) => self.violations.push((f, Violation::NonFinite)),
                Scalar::Null => {}
                _ => self.violations.push((f, Violation::TypeMismatch)),
            },
            Slot::Categorical(c) => {
                let canonical = match &value {
                    Scalar::Number(v, _) if !v.is_finite() => {
                        self.violations.push((f, Violation::NonFinite));
                        return;
                    }
                    Scalar::Null => return,
                    Scalar::Composite => {
                        self.violations.push((f, Violation::TypeMismatch));
                        return;
                    }
                    other => other.canonical_class(),
                };
                if let Some(s) = canonical {
                    if s.len() > self.parser.limits.max_string_bytes {
                        self.failure = Some((
                            EventCode::StringTooLong,
                            format!(
                                "the value of feature {:?} is longer than {} bytes",
                                self.parser.schema.feature_names()[feature],
                                self.parser.limits.max_string_bytes
                            ),
                        ));
                        return;
                    }
                    self.cat[c] = self.parser.interners.intern(c, &s);
                }
            }
        }
    }
}

/// Streams the `features` object into the sink. With `direct`, numeric features are parsed in place
/// by serde_json (correctly rounded: the crate is built with `float_roundtrip`); otherwise, and always
/// for categorical features, each value's text is captured and parsed by `Scalar`, which keeps the
/// literal of a categorical number and reads 1e400 as a non-finite value instead of failing.
struct FeatureVisitor<'x, 'p, 's, 'b> {
    sink: &'x mut FeatureSink<'p, 's, 'b>,
    direct: bool,
}

impl<'de> Visitor<'de> for FeatureVisitor<'_, '_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of feature values")
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        // `"features": null` is the same as no features.
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let sink = self.sink;
        let schema = sink.parser.schema;
        while let Some(key) = map.next_key::<KeyStr<'de>>()? {
            let feature = schema.feature(&key.0);
            let value = match feature.map(|f| &schema.slots[f]) {
                Some(Slot::Numeric(_)) if self.direct => Some(map.next_value_seed(InPlaceSeed)?),
                Some(_) => Some(Scalar::parse(map.next_value::<&'de RawValue>()?.get())),
                None => {
                    map.next_value::<&'de RawValue>()?;
                    None
                }
            };
            sink.seen += 1;
            if sink.seen > sink.parser.limits.max_features_per_event {
                sink.failure = Some((
                    EventCode::TooManyFeatures,
                    format!(
                        "more than {} features in one event",
                        sink.parser.limits.max_features_per_event
                    ),
                ));
                return Ok(());
            }
            match feature.zip(value) {
                Some((feature, value)) => sink.set(feature, value),
                None => sink.unknown = true,
            }
            if sink.failure.is_some() {
                return Ok(());
            }
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for FeatureVisitor<'_, '_, '_, '_> {
    type Value = ();
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

/// Parses a numeric feature's value in place, as the `Scalar` that `Scalar::parse` would make of its
/// text: a number (without its literal, which only categorical features read), null, or any other
/// JSON type as `Composite` (all of them a type mismatch for a numeric feature).
struct InPlaceSeed;

impl<'de> DeserializeSeed<'de> for InPlaceSeed {
    type Value = Scalar<'static>;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Scalar<'static>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for InPlaceSeed {
    type Value = Scalar<'static>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a feature value")
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Scalar<'static>, E> {
        Ok(Scalar::Number(v, ""))
    }

    // An integer literal converts with one rounding to nearest, ties to even: the value `str::parse`
    // gives for the same literal.
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Scalar<'static>, E> {
        Ok(Scalar::Number(v as f64, ""))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Scalar<'static>, E> {
        Ok(Scalar::Number(v as f64, ""))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Scalar<'static>, E> {
        Ok(Scalar::Null)
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Scalar<'static>, E> {
        Ok(Scalar::Composite)
    }

    fn visit_str<E: de::Error>(self, _: &str) -> Result<Scalar<'static>, E> {
        Ok(Scalar::Composite)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Scalar<'static>, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(Scalar::Composite)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Scalar<'static>, A::Error> {
        while map
            .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
            .is_some()
        {}
        Ok(Scalar::Composite)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

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
