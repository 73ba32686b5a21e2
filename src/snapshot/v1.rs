//! Format 1 of the snapshot, read only to migrate it to format 2.
//!
//! Format 1 encoded the internal structures of that time directly. These types mirror their encoding
//! field by field (postcard writes `usize` as `u64`, `Box<[f64]>` and `Arc<T>` like `Vec<f64>` and `T`),
//! so a file written then still decodes after those structures changed.

use serde::Deserialize;

use super::v2;

#[derive(Debug, Deserialize)]
pub struct Snapshot {
    pub version: u32,
    pub taken_at: i64,
    pub models: Vec<ModelData>,
}

#[derive(Debug, Deserialize)]
pub struct ModelData {
    pub name: String,
    pub fingerprint: String,
    pub interners: Vec<Vec<String>>,
    pub windows: Vec<WindowData>,
    pub pending: Vec<PendingData>,
    pub reference: ReferenceData,
    pub counters: Counters,
}

#[derive(Debug, Deserialize)]
pub struct WindowData {
    pub name: String,
    pub samples: Vec<(i64, Outcome)>,
    pub predictions: Rows,
    pub labels: Rows,
    pub previous_predictions: Option<Rows>,
    pub previous_labels: Option<Rows>,
}

#[derive(Debug, Deserialize)]
pub struct Rows {
    pub numeric: u64,
    pub categorical: u64,
    pub ts: Vec<i64>,
    pub num: Vec<f64>,
    pub cat: Vec<u32>,
}

#[derive(Debug, Deserialize)]
pub enum Outcome {
    Binary {
        predicted_positive: bool,
        actual_positive: bool,
        score: f64,
    },
    Multiclass {
        predicted: u32,
        actual: u32,
        probs: Option<Vec<f64>>,
    },
    Regression {
        predicted: f64,
        actual: f64,
    },
}

#[derive(Debug, Deserialize)]
pub struct PendingData {
    pub id: String,
    pub arrival_wall: i64,
    pub ts: i64,
    pub predicted: Predicted,
}

#[derive(Debug, Deserialize)]
pub enum Predicted {
    Binary { positive: bool, score: f64 },
    Multiclass { class: u32, probs: Option<Vec<f64>> },
    Regression(f64),
    Nothing,
}

#[derive(Debug, Deserialize)]
pub enum ReferenceData {
    None,
    Frozen(FrozenReference),
    Warmup(WarmupData),
    Moving,
}

#[derive(Debug, Deserialize)]
pub enum ReferenceSource {
    File,
    Api,
    Warmup,
    Moving,
}

#[derive(Debug, Deserialize)]
pub struct FrozenReference {
    pub source: ReferenceSource,
    pub sha256: String,
    pub features: ColumnSet,
    pub labels: Option<ColumnSet>,
}

#[derive(Debug, Deserialize)]
pub struct ColumnSet {
    pub rows: u64,
    pub numeric: Vec<NumericData>,
    pub categorical: Vec<CategoricalData>,
}

#[derive(Debug, Deserialize)]
pub struct NumericData {
    pub sorted: Vec<f64>,
    pub missing: u64,
}

#[derive(Debug, Deserialize)]
pub struct CategoricalData {
    pub counts: Vec<u64>,
    pub missing: u64,
}

#[derive(Debug, Deserialize)]
pub struct WarmupData {
    pub target: u64,
    pub predictions: Rows,
    pub labels: Rows,
    pub features: Option<ColumnSet>,
    pub label_set: Option<ColumnSet>,
}

#[derive(Debug, Deserialize)]
pub struct Counters {
    pub predictions: u64,
    pub labels: u64,
    pub unmatched: u64,
    pub expired: u64,
    pub errors: u64,
    pub rejected: Vec<(String, u64)>,
    /// (feature index, or None for features not in the config; kind; count)
    pub violations: Vec<(Option<u32>, String, u64)>,
}

impl From<Rows> for v2::Rows {
    fn from(r: Rows) -> Self {
        v2::Rows {
            numeric: r.numeric as u32,
            categorical: r.categorical as u32,
            ts: r.ts,
            num: r.num,
            cat: r.cat,
        }
    }
}

impl From<Outcome> for v2::Outcome {
    fn from(o: Outcome) -> Self {
        match o {
            Outcome::Binary {
                predicted_positive,
                actual_positive,
                score,
            } => v2::Outcome::Binary {
                predicted_positive,
                actual_positive,
                score,
            },
            Outcome::Multiclass {
                predicted,
                actual,
                probs,
            } => v2::Outcome::Multiclass {
                predicted,
                actual,
                probs,
            },
            Outcome::Regression { predicted, actual } => {
                v2::Outcome::Regression { predicted, actual }
            }
        }
    }
}

impl From<Predicted> for v2::Predicted {
    fn from(p: Predicted) -> Self {
        match p {
            Predicted::Binary { positive, score } => v2::Predicted::Binary { positive, score },
            Predicted::Multiclass { class, probs } => v2::Predicted::Multiclass { class, probs },
            Predicted::Regression(v) => v2::Predicted::Regression(v),
            Predicted::Nothing => v2::Predicted::Nothing,
        }
    }
}

impl From<ColumnSet> for v2::Columns {
    fn from(c: ColumnSet) -> Self {
        v2::Columns {
            rows: c.rows,
            numeric: c
                .numeric
                .into_iter()
                .map(|n| v2::Numeric {
                    sorted: n.sorted,
                    missing: n.missing,
                })
                .collect(),
            categorical: c
                .categorical
                .into_iter()
                .map(|c| v2::Categorical {
                    counts: c.counts,
                    missing: c.missing,
                })
                .collect(),
        }
    }
}

/// Feature names in index order, from a format-1 fingerprint `task|classes|name:type,name:type`
/// (feature names cannot hold `|`, `,` or `:`).
fn feature_names(fingerprint: &str) -> Vec<String> {
    let features = fingerprint.rsplit('|').next().unwrap_or_default();
    features
        .split(',')
        .filter(|f| !f.is_empty())
        .map(|f| f.rsplit_once(':').map_or(f, |(name, _)| name).to_string())
        .collect()
}

impl From<ModelData> for v2::Model {
    fn from(m: ModelData) -> Self {
        let names = feature_names(&m.fingerprint);
        let reference = match m.reference {
            ReferenceData::None => v2::Reference::None,
            ReferenceData::Frozen(r) => match r.source {
                ReferenceSource::Api => v2::Reference::Uploaded(v2::Frozen {
                    sha256: r.sha256,
                    features: r.features.into(),
                    labels: r.labels.map(Into::into),
                }),
                // Format 1 kept a file reference's rows too; the file is read again at start.
                _ => v2::Reference::File { sha256: r.sha256 },
            },
            ReferenceData::Warmup(w) => v2::Reference::Warmup(v2::Warmup {
                target: w.target,
                predictions: w.predictions.into(),
                labels: w.labels.into(),
                features: w.features.map(Into::into),
                label_columns: w.label_set.map(Into::into),
            }),
            ReferenceData::Moving => v2::Reference::Moving,
        };
        let c = m.counters;
        v2::Model {
            name: m.name,
            fingerprint: m.fingerprint,
            reference_setting: v2::ReferenceSetting::Unknown,
            categories: m.interners,
            windows: m
                .windows
                .into_iter()
                .map(|w| v2::Window {
                    name: w.name,
                    samples: w
                        .samples
                        .into_iter()
                        .map(|(ts, o)| v2::Sample {
                            ts,
                            outcome: o.into(),
                        })
                        .collect(),
                    predictions: w.predictions.into(),
                    labels: w.labels.into(),
                    previous_predictions: w.previous_predictions.map(Into::into),
                    previous_labels: w.previous_labels.map(Into::into),
                })
                .collect(),
            pending: m
                .pending
                .into_iter()
                .map(|p| v2::Pending {
                    id: p.id,
                    arrival_wall_ns: p.arrival_wall,
                    ts: p.ts,
                    predicted: p.predicted.into(),
                })
                .collect(),
            reference,
            counters: v2::Counters {
                predictions: c.predictions,
                labels: c.labels,
                unmatched: c.unmatched,
                expired: c.expired,
                errors: c.errors,
                rejected: c.rejected,
                violations: c
                    .violations
                    .into_iter()
                    .filter_map(|(feature, kind, count)| {
                        let feature = match feature {
                            Some(i) => Some(names.get(i as usize)?.clone()),
                            None => None,
                        };
                        Some(v2::ViolationCount {
                            feature,
                            kind,
                            count,
                        })
                    })
                    .collect(),
            },
        }
    }
}

impl From<Snapshot> for v2::Snapshot {
    fn from(s: Snapshot) -> Self {
        v2::Snapshot {
            taken_at_ns: s.taken_at,
            models: s.models.into_iter().map(Into::into).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_names_come_from_the_fingerprint() {
        assert_eq!(
            feature_names("binary_classification|0,1|amount:numeric,country:categorical"),
            vec!["amount", "country"]
        );
        assert!(feature_names("regression||").is_empty());
    }
}
