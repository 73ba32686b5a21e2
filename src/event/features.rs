//! The fast feature path: a single-pass visitor that reads an event's scalar fields as raw JSON and
//! streams its `features` object straight into the event's row, parsing numeric values in place.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::error::EventCode;
use crate::schema::{Slot, Violation};
use crate::value::Scalar;

use super::Parser;

/// The scalar fields of a prediction event, each captured as raw JSON. The `features` object is not
/// captured: the event visitor streams it straight into the row, so the bulk of an event is read once.
#[derive(Default)]
pub(super) struct RawPrediction<'a> {
    pub(super) id: Option<&'a RawValue>,
    pub(super) timestamp: Option<&'a RawValue>,
    pub(super) prediction: Option<&'a RawValue>,
    pub(super) score: Option<&'a RawValue>,
    pub(super) scores: Option<&'a RawValue>,
    pub(super) label: Option<&'a RawValue>,
    pub(super) latency_ms: Option<&'a RawValue>,
    pub(super) error: Option<&'a RawValue>,
}

/// Reads one prediction event object in a single pass: scalar fields into `RawPrediction`, features
/// into the sink's row.
pub(super) struct EventVisitor<'x, 'p, 's, 'b> {
    pub(super) sink: &'x mut FeatureSink<'p, 's, 'b>,
    /// Whether numeric features are parsed in place (see `FeatureVisitor`).
    pub(super) direct: bool,
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

/// A map key borrowed from the body when it has no escapes.
pub(super) struct KeyStr<'a>(pub(super) Cow<'a, str>);

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
pub(super) struct MapEntries<'a>(pub(super) Vec<(KeyStr<'a>, &'a RawValue)>);

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
pub(super) struct FeatureSink<'p, 's, 'b> {
    pub(super) parser: &'p Parser<'s>,
    pub(super) num: &'b mut [f64],
    pub(super) cat: &'b mut [u32],
    pub(super) violations: &'b mut Vec<(Option<u32>, Violation)>,
    pub(super) seen: usize,
    pub(super) unknown: bool,
    pub(super) failure: Option<(EventCode, String)>,
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
pub(super) struct InPlaceSeed;

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
