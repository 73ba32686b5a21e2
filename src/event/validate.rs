//! Per-event validation: the `Parser` that checks each prediction and label event against its
//! model's schema and limits, reporting a bad event with its index and keeping the good ones.

use serde::Deserialize;
use serde::de::{self};
use serde_json::value::RawValue;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::config::Task;
use crate::error::{Error, EventCode, EventError};
use crate::schema::Violation;
use crate::value::Scalar;
use crate::window::columns::MISSING;

use super::features::{EventVisitor, FeatureSink, KeyStr, MapEntries, RawPrediction};
use super::framing::{BodyFormat, RawEvent, describe, split_body, whole_request_failure};
use super::{
    LabelBatch, LabelEvent, LabelValue, Parser, Predicted, PredictionBatch, PredictionEvent, err,
};

#[derive(Deserialize)]
struct RawLabel<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    #[serde(borrow)]
    label: Option<&'a RawValue>,
    #[serde(borrow)]
    timestamp: Option<&'a RawValue>,
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
