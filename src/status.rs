//! The JSON status documents of `GET /v1/models` and `GET /v1/models/{model}`, and the answer to a
//! reference upload, as typed structs: they serialise to the answer, and describe it in the OpenAPI
//! document.
//!
//! They are built from a model's configuration, snapshot, telemetry and last drift report, which hold
//! every number already computed: nothing is computed here. Undefined values (NaN) and infinities,
//! which JSON cannot carry, are written as `null` (see [`Num`]). Maps are `BTreeMap`s, so their keys
//! come out sorted, as before these documents were typed.

use std::collections::BTreeMap;

use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{RefOr, schema::SchemaType};

use crate::config::WindowKind;
use crate::drift::evaluate::QUANTILE_LABELS;
use crate::drift::reference::FrozenReference;
use crate::drift::{ColumnReport, DriftReport, Quality, Role};
use crate::error::EventCode;
use crate::model::{Model, ReferenceInfo};
use crate::models::Models;
use crate::window::metric::TaskMetrics;

/// A number, or `null` when it is undefined (NaN) or infinite.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Num(pub f64);

impl Serialize for Num {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.0.is_finite() {
            s.serialize_f64(self.0)
        } else {
            s.serialize_none()
        }
    }
}

impl utoipa::PartialSchema for Num {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::from_iter([Type::Number, Type::Null]))
            .description(Some("A number; null when undefined (NaN) or infinite."))
            .into()
    }
}

impl ToSchema for Num {}

/// The answer of `GET /v1/models`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelList {
    pub models: Vec<ModelSummary>,
}

/// A configured model: its task, classes, windows and features.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelSummary {
    pub name: String,
    /// `binary_classification`, `multiclass_classification` or `regression`.
    pub task: &'static str,
    pub classes: Vec<String>,
    pub windows: Vec<NamedWindow>,
    pub features: Vec<FeatureSummary>,
}

/// A window of the model list: its name and its kind.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum NamedWindow {
    /// The last `events` samples.
    Count { name: String, events: usize },
    /// The samples of the last `duration_seconds`, at most `max_events` of them.
    Time {
        name: String,
        duration_seconds: f64,
        max_events: usize,
    },
}

/// A window's kind, in a model's status.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum WindowShape {
    /// The last `events` samples.
    Count { events: usize },
    /// The samples of the last `duration_seconds`, at most `max_events` of them.
    Time {
        duration_seconds: f64,
        max_events: usize,
    },
}

impl WindowShape {
    fn of(kind: WindowKind) -> Self {
        match kind {
            WindowKind::Count(events) => WindowShape::Count { events },
            WindowKind::Time {
                duration,
                max_events,
            } => WindowShape::Time {
                duration_seconds: duration.as_secs_f64(),
                max_events,
            },
        }
    }

    fn named(self, name: String) -> NamedWindow {
        match self {
            WindowShape::Count { events } => NamedWindow::Count { name, events },
            WindowShape::Time {
                duration_seconds,
                max_events,
            } => NamedWindow::Time {
                name,
                duration_seconds,
                max_events,
            },
        }
    }
}

/// A feature and its type.
#[derive(Debug, Serialize, ToSchema)]
pub struct FeatureSummary {
    pub name: String,
    /// `numeric` or `categorical`.
    #[serde(rename = "type")]
    pub kind: &'static str,
}

impl ModelList {
    pub fn of(models: &Models) -> Self {
        let models = models
            .iter()
            .map(|m| {
                let c = &m.config;
                ModelSummary {
                    name: c.name.clone(),
                    task: c.task.as_str(),
                    classes: c.classes.clone(),
                    windows: c
                        .windows
                        .iter()
                        .map(|w| WindowShape::of(w.kind).named(w.name.clone()))
                        .collect(),
                    features: c
                        .features
                        .iter()
                        .map(|f| FeatureSummary {
                            name: f.name.clone(),
                            kind: f.kind.as_str(),
                        })
                        .collect(),
                }
            })
            .collect();
        ModelList { models }
    }
}

/// The answer of `GET /v1/models/{model}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ModelStatus {
    pub name: String,
    /// `binary_classification`, `multiclass_classification` or `regression`.
    pub task: &'static str,
    pub classes: Vec<String>,
    /// Predictions waiting for their label.
    pub pending_labels: usize,
    pub counters: Counters,
    pub windows: Vec<WindowStatus>,
    /// `null` when the model has no reference.
    #[schema(required = true)]
    pub reference: Option<ReferenceStatus>,
    /// The last drift report; `null` before the first evaluation.
    #[schema(required = true)]
    pub drift: Option<DriftStatus>,
}

/// The model's event counters since start.
#[derive(Debug, Serialize, ToSchema)]
pub struct Counters {
    pub predictions_total: u64,
    pub labels_total: u64,
    pub labels_unmatched_total: u64,
    pub predictions_expired_total: u64,
    pub prediction_errors_total: u64,
    /// Rejected events by error code; codes that never occurred are left out.
    pub rejected_events_total: BTreeMap<String, u64>,
}

/// One window of a model's status.
#[derive(Debug, Serialize, ToSchema)]
pub struct WindowStatus {
    pub name: String,
    pub window: WindowShape,
    /// Labelled samples in the window.
    pub samples: usize,
    /// Predictions (labelled or not) in the window.
    pub predictions: usize,
    pub metrics: Metrics,
}

/// A window's model metrics, by task.
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum Metrics {
    Binary(BinaryMetrics),
    Multiclass(MulticlassMetrics),
    Regression(RegressionMetrics),
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BinaryMetrics {
    pub accuracy: Num,
    pub precision: Num,
    pub recall: Num,
    pub f1_score: Num,
    pub roc_auc: Num,
    pub log_loss: Num,
    pub positive_rate: Num,
    pub label_positive_rate: Num,
    /// Samples that carried a score (ROC AUC and log loss are over these).
    pub scored_samples: u64,
    pub confusion_matrix: ConfusionMatrix,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MulticlassMetrics {
    pub accuracy: Num,
    pub per_class: BTreeMap<String, ClassMetrics>,
    pub precision_macro: Num,
    pub recall_macro: Num,
    pub f1_score_macro: Num,
    pub f1_score_weighted: Num,
    pub log_loss: Num,
    /// Samples that carried scores (log loss is over these).
    pub scored_samples: u64,
    pub confusion_matrix: ConfusionMatrix,
}

/// One class's metrics, one-vs-rest.
#[derive(Debug, Serialize, ToSchema)]
pub struct ClassMetrics {
    pub precision: Num,
    pub recall: Num,
    pub f1_score: Num,
}

/// `counts[actual][predicted]`, in the order of `classes`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ConfusionMatrix {
    pub classes: Vec<String>,
    pub counts: Vec<Vec<u64>>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RegressionMetrics {
    pub mae: Num,
    pub mse: Num,
    pub rmse: Num,
    pub r2: Num,
    pub mape: Num,
    pub mean_prediction: Num,
    pub mean_label: Num,
}

impl Metrics {
    fn of(metrics: &TaskMetrics, classes: &[String]) -> Self {
        match metrics {
            TaskMetrics::Binary(b) => {
                let c = &b.counts;
                Metrics::Binary(BinaryMetrics {
                    accuracy: Num(b.accuracy),
                    precision: Num(b.precision),
                    recall: Num(b.recall),
                    f1_score: Num(b.f1),
                    roc_auc: Num(b.roc_auc),
                    log_loss: Num(b.log_loss),
                    positive_rate: Num(b.positive_rate),
                    label_positive_rate: Num(b.label_positive_rate),
                    scored_samples: b.scored,
                    confusion_matrix: ConfusionMatrix {
                        classes: classes.to_vec(),
                        counts: vec![vec![c.tn, c.fp], vec![c.fn_, c.tp]],
                    },
                })
            }
            TaskMetrics::Multiclass(m) => {
                let per_class = classes
                    .iter()
                    .enumerate()
                    .map(|(i, class)| {
                        let metrics = ClassMetrics {
                            precision: Num(m.precision[i]),
                            recall: Num(m.recall[i]),
                            f1_score: Num(m.f1[i]),
                        };
                        (class.clone(), metrics)
                    })
                    .collect();
                let k = classes.len();
                let counts = (0..k)
                    .map(|a| (0..k).map(|p| m.confusion.get(a, p)).collect())
                    .collect();
                Metrics::Multiclass(MulticlassMetrics {
                    accuracy: Num(m.accuracy),
                    per_class,
                    precision_macro: Num(m.precision_macro),
                    recall_macro: Num(m.recall_macro),
                    f1_score_macro: Num(m.f1_macro),
                    f1_score_weighted: Num(m.f1_weighted),
                    log_loss: Num(m.log_loss),
                    scored_samples: m.scored,
                    confusion_matrix: ConfusionMatrix {
                        classes: classes.to_vec(),
                        counts,
                    },
                })
            }
            TaskMetrics::Regression(r) => Metrics::Regression(RegressionMetrics {
                mae: Num(r.mae),
                mse: Num(r.mse),
                rmse: Num(r.rmse),
                r2: Num(r.r2),
                mape: Num(r.mape),
                mean_prediction: Num(r.mean_prediction),
                mean_label: Num(r.mean_label),
            }),
        }
    }
}

/// The model's drift reference.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReferenceStatus {
    /// `file`, `api`, `warmup` or `moving`.
    pub source: &'static str,
    /// SHA-256 of the file or upload; empty for warmup and moving references.
    pub sha256: String,
    /// Prediction rows (for warmup: collected so far; for moving: in the first window's previous stage).
    pub samples: usize,
    pub label_samples: usize,
    /// Whether the reference is complete and drift is evaluated against it.
    pub ready: bool,
}

impl ReferenceStatus {
    fn of(r: ReferenceInfo) -> Self {
        ReferenceStatus {
            source: r.source.as_str(),
            sha256: r.sha256,
            samples: r.samples,
            label_samples: r.label_samples,
            ready: r.ready,
        }
    }
}

/// The last drift evaluation.
#[derive(Debug, Serialize, ToSchema)]
pub struct DriftStatus {
    /// Unix seconds when the evaluation finished.
    pub evaluated_at: Num,
    /// Seconds the evaluation took.
    pub duration_seconds: Num,
    pub windows: Vec<DriftWindow>,
}

/// Drift of one window.
#[derive(Debug, Serialize, ToSchema)]
pub struct DriftWindow {
    pub name: String,
    /// Share of feature columns that drifted; null if none was evaluated.
    pub drift_share: Num,
    /// 1 when the share reached the configured `drift_share`, 0 if not, null if not evaluated.
    pub dataset_drift: Num,
    pub columns: Vec<DriftColumn>,
}

/// Drift and data quality of one column of one window.
#[derive(Debug, Serialize, ToSchema)]
pub struct DriftColumn {
    pub name: String,
    /// `feature`, `prediction` or `label`.
    pub role: &'static str,
    /// `numeric` or `categorical`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// Non-missing values compared.
    pub current_values: usize,
    pub reference_values: usize,
    /// The detection test.
    pub test: &'static str,
    /// The detection test's threshold (alpha for p-value tests).
    pub threshold: Num,
    /// `null` when the column was not evaluated (no reference, or too few values).
    #[schema(required = true)]
    pub detected: Option<bool>,
    /// Every statistic that applies to the column type, by test name; null when not evaluated.
    pub statistics: BTreeMap<String, Num>,
    pub p_value: PValue,
    /// KS D or Cramér's V.
    pub effect: Num,
    pub quality: QualityStatus,
}

/// The column's p-value, raw and adjusted for multiple testing.
#[derive(Debug, Serialize, ToSchema)]
pub struct PValue {
    /// `ks` or `chi2`.
    pub test: &'static str,
    pub raw: Num,
    pub adjusted: Num,
}

/// Data quality of one column of one window. The keys other than `missing_ratio` are present only for
/// the column types they apply to.
#[derive(Debug, Serialize, ToSchema)]
pub struct QualityStatus {
    /// Share of rows where the value is absent, null or NaN.
    pub missing_ratio: Num,
    /// Numeric: share of values outside the reference's [min, max].
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Num, required = false)]
    pub out_of_range_ratio: Option<Num>,
    /// Categorical: share of values in categories the reference never saw.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Num, required = false)]
    pub new_category_ratio: Option<Num>,
    /// Numeric: quantiles of the current values, by level (`0.05` … `0.95`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantiles: Option<BTreeMap<String, Num>>,
    /// Numeric: mean of the current values.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Num, required = false)]
    pub mean: Option<Num>,
    /// Categorical: share of each of the top reference categories, and of `__other__`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub category_ratios: Option<BTreeMap<String, Num>>,
}

impl QualityStatus {
    fn of(q: &Quality) -> Self {
        QualityStatus {
            missing_ratio: Num(q.missing_ratio),
            out_of_range_ratio: q.out_of_range_ratio.map(Num),
            new_category_ratio: q.new_category_ratio.map(Num),
            quantiles: q.quantiles.map(|qs| {
                QUANTILE_LABELS
                    .iter()
                    .zip(qs)
                    .map(|(label, x)| (label.to_string(), Num(x)))
                    .collect()
            }),
            mean: q.mean.map(Num),
            category_ratios: (!q.categories.is_empty()).then(|| {
                q.categories
                    .iter()
                    .map(|(c, r)| (c.clone(), Num(*r)))
                    .collect()
            }),
        }
    }
}

impl DriftColumn {
    fn of(c: &ColumnReport) -> Self {
        DriftColumn {
            name: c.name.clone(),
            role: match c.role {
                Role::Feature => "feature",
                Role::Prediction => "prediction",
                Role::Label => "label",
            },
            kind: c.kind.as_str(),
            current_values: c.current,
            reference_values: c.reference,
            test: c.test.as_str(),
            threshold: Num(c.threshold),
            detected: c.detected,
            statistics: c
                .statistics
                .iter()
                .map(|(t, v)| (t.as_str().to_string(), Num(*v)))
                .collect(),
            p_value: PValue {
                test: c.p_test.as_str(),
                raw: Num(c.p_value),
                adjusted: Num(c.p_value_adjusted),
            },
            effect: Num(c.effect),
            quality: QualityStatus::of(&c.quality),
        }
    }
}

impl DriftStatus {
    fn of(report: &DriftReport) -> Self {
        DriftStatus {
            evaluated_at: Num(report.evaluated_at),
            duration_seconds: Num(report.duration),
            windows: report
                .windows
                .iter()
                .map(|w| DriftWindow {
                    name: w.name.clone(),
                    drift_share: Num(w.drift_share),
                    dataset_drift: Num(w.dataset_drift),
                    columns: w.columns.iter().map(DriftColumn::of).collect(),
                })
                .collect(),
        }
    }
}

impl ModelStatus {
    pub fn of(model: &Model) -> Self {
        let snapshot = model.snapshot();
        let c = &model.config;
        let t = &model.telemetry;
        let windows = snapshot
            .windows
            .iter()
            .zip(&c.windows)
            .map(|(w, wc)| WindowStatus {
                name: w.name.clone(),
                window: WindowShape::of(wc.kind),
                samples: w.samples,
                predictions: w.predictions,
                metrics: Metrics::of(&w.metrics, &c.classes),
            })
            .collect();
        let rejected_events_total = EventCode::ALL
            .into_iter()
            .map(|code| (code.as_str().to_string(), t.rejected(code).get()))
            .filter(|&(_, n)| n > 0)
            .collect();
        ModelStatus {
            name: c.name.clone(),
            task: c.task.as_str(),
            classes: c.classes.clone(),
            pending_labels: snapshot.pending,
            counters: Counters {
                predictions_total: t.predictions.get(),
                labels_total: t.labels.get(),
                labels_unmatched_total: t.unmatched.get(),
                predictions_expired_total: t.expired.get(),
                prediction_errors_total: t.errors.get(),
                rejected_events_total,
            },
            windows,
            reference: model.reference_info().map(ReferenceStatus::of),
            drift: model.drift_report().map(|r| DriftStatus::of(&r)),
        }
    }
}

/// The answer to a reference upload.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReferenceAnswer {
    /// Prediction rows in the new reference.
    pub rows: usize,
    /// Rows that carried a label.
    pub label_rows: usize,
    pub sha256: String,
    /// Always `api`.
    pub source: &'static str,
}

impl ReferenceAnswer {
    pub fn of(reference: &FrozenReference) -> Self {
        ReferenceAnswer {
            rows: reference.features.rows,
            label_rows: reference.labels.as_ref().map_or(0, |l| l.rows),
            sha256: reference.sha256.clone(),
            source: reference.source.as_str(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn undefined_numbers_are_null_and_documented_as_nullable() {
        assert_eq!(serde_json::to_string(&Num(0.25)).unwrap(), "0.25");
        for v in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
            assert_eq!(serde_json::to_string(&Num(v)).unwrap(), "null");
        }
        let schema = serde_json::to_value(<Num as utoipa::PartialSchema>::schema()).unwrap();
        assert_eq!(schema["type"], serde_json::json!(["number", "null"]));
    }
}
