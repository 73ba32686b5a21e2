//! Fixtures shared by the fuzz targets in `fuzz_targets/`.
//!
//! Every target reads raw bytes whose first byte picks the model (and options) and whose rest is the
//! body under test, so a corpus entry is a plain file that can be read and edited by hand. This crate
//! holds what the targets have in common: the model configs they pick from, one telemetry registry and
//! one clock for the whole process, and the invariant checks that more than one target asserts.
//!
//! The checks panic with a message naming the broken invariant; libFuzzer reports any panic as a crash
//! and saves the input under `fuzz/artifacts/<target>/`.

use std::sync::{Arc, OnceLock};

use modelwatch::clock::Clock;
use modelwatch::config::{Config, FeatureKind, ModelConfig, ReferenceConfig, Task, WindowKind};
use modelwatch::internals::drift::DriftReport;
use modelwatch::internals::event::{BodyFormat, LabelValue, Limits, Predicted};
use modelwatch::internals::model::{MAX_REPORTED_ERRORS, Model, ModelSnapshot};
use modelwatch::internals::schema::{Interners, Schema};
use modelwatch::internals::telemetry::Telemetry;
use modelwatch::internals::window::metric::TaskMetrics;
use serde_json::value::RawValue;

/// The models the targets pick from, one per task plus a binary model with named classes, so every
/// branch of class resolution and every column layout is reachable. The windows, warmups and
/// `min_samples` are small so that a few dozen events already fill windows, freeze a warmup reference
/// and run real drift statistics instead of stopping at "too few samples".
pub const MODELS: [&str; 4] = [
    // 0: binary with the default classes "0"/"1", a warmup reference, a count and a time window, a
    // category cap of 4 (so `__other__` is reached) and room for few pending predictions (so eviction
    // happens).
    r#"
[[model]]
name = "fraud"
task = "binary_classification"
label_ttl = "1h"
max_pending = 16
max_categories = 4
[model.reference]
warmup = 20
[model.drift]
min_samples = 5
correction = "holm"
[[model.window]]
name = "last_50"
events = 50
[[model.window]]
name = "1h"
duration = "1h"
max_events = 100
[[model.feature]]
name = "amount"
type = "numeric"
[[model.feature]]
name = "country"
type = "categorical"
[[model.feature]]
name = "age"
type = "numeric"
test = "psi"
"#,
    // 1: binary with named classes and a custom threshold, no reference, no pending at all, and
    // feature names that need JSON escapes.
    r#"
[[model]]
name = "churn"
task = "binary_classification"
positive_class = "yes"
negative_class = "no"
threshold = 0.7
max_pending = 0
[model.drift]
min_samples = 5
[[model.window]]
name = "last_10"
events = 10
[[model.feature]]
name = "plan"
type = "categorical"
test = "jensen_shannon"
[[model.feature]]
name = "tenure \"days\""
type = "numeric"
test = "wasserstein"
threshold = 2.0
[[model.feature]]
name = "größe"
type = "numeric"
"#,
    // 2: multiclass with classes given as a string, an integer and a boolean, and a moving reference.
    r#"
[[model]]
name = "animals"
task = "multiclass_classification"
classes = ["cat", "dog", 3, true]
max_pending = 32
[model.reference]
moving = true
[model.drift]
min_samples = 5
correction = "fdr_bh"
[[model.window]]
name = "last_20"
events = 20
[[model.window]]
name = "10m"
duration = "10m"
[[model.feature]]
name = "weight"
type = "numeric"
[[model.feature]]
name = "color"
type = "categorical"
test = "psi"
"#,
    // 3: regression with a warmup reference and a category cap of 3.
    r#"
[[model]]
name = "price"
task = "regression"
max_pending = 64
max_categories = 3
[model.reference]
warmup = 10
[model.drift]
min_samples = 5
min_effect = 0.05
correction = "bonferroni"
[[model.window]]
name = "last_30"
events = 30
[[model.window]]
name = "1h"
duration = "1h"
max_events = 40
[[model.feature]]
name = "size"
type = "numeric"
test = "wasserstein_normed"
[[model.feature]]
name = "rooms"
type = "numeric"
[[model.feature]]
name = "city"
type = "categorical"
"#,
];

/// Limits small enough for short fuzz inputs to hit every one of them.
pub const TIGHT_LIMITS: Limits = Limits {
    max_events_per_request: 8,
    max_features_per_event: 3,
    max_string_bytes: 8,
    max_id_bytes: 8,
};

/// Wall-clock start of the fuzzing clock: 2026-11-22T10:00:00Z, the date the seeds' timestamps use, so
/// seeded events land inside the time windows rather than being too old for them.
pub const CLOCK_START_NS: i64 = 1_795_341_600_000_000_000;

/// The parsed config of model `i` (modulo the number of models), parsed once per process.
pub fn model_config(i: usize) -> Arc<ModelConfig> {
    static CONFIGS: OnceLock<Vec<Arc<ModelConfig>>> = OnceLock::new();
    let configs = CONFIGS.get_or_init(|| {
        MODELS
            .iter()
            .map(|text| {
                let config = Config::parse(text).expect("the fuzz model configs are valid");
                Arc::new(config.models.into_iter().next().expect("one model"))
            })
            .collect()
    });
    configs[i % configs.len()].clone()
}

/// The schema of model `i`, built once: it is immutable, unlike the interners.
pub fn schema(i: usize) -> &'static Schema {
    static SCHEMAS: OnceLock<Vec<Schema>> = OnceLock::new();
    let schemas = SCHEMAS.get_or_init(|| {
        (0..MODELS.len())
            .map(|m| Schema::new(&model_config(m)))
            .collect()
    });
    &schemas[i % schemas.len()]
}

/// Fresh interners for a schema. Each input gets its own, so that a run depends on its input alone.
pub fn interners(config: &ModelConfig, schema: &Schema) -> Interners {
    Interners::new(schema.categorical_features, config.max_categories)
}

/// One registry for the process: building one per input would cost more than the input itself, and
/// counters only ever grow, so sharing them cannot make one input's outcome depend on another's.
pub fn telemetry() -> &'static Telemetry {
    static TELEMETRY: OnceLock<Telemetry> = OnceLock::new();
    TELEMETRY.get_or_init(Telemetry::new)
}

/// A model with empty windows and its own clock, as the server builds one.
pub fn new_model(i: usize) -> Model {
    Model::new(
        model_config(i),
        telemetry(),
        Clock::starting_at(CLOCK_START_NS),
    )
}

/// How many events `Parser` must account for (accepted plus rejected) in a body it parsed without a
/// whole-request error, computed independently of the parser.
pub fn raw_event_count(body: &[u8], format: BodyFormat) -> usize {
    match format {
        BodyFormat::Ndjson => body
            .split(|&b| b == b'\n')
            .filter(|line| !line.trim_ascii().is_empty())
            .count(),
        BodyFormat::Json => match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'[') => serde_json::from_slice::<Vec<&RawValue>>(body)
                .expect("the parser accepted this array, so it is valid JSON")
                .len(),
            _ => 1,
        },
    }
}

/// A value that should be a share or a probability: NaN (undefined) or within [0, 1].
pub fn assert_unit(what: &str, v: f64) {
    assert!(
        v.is_nan() || (0.0..=1.0).contains(&v),
        "{what} = {v} is outside [0, 1]"
    );
}

/// Asserts what must hold of any resolved label for a schema.
pub fn check_label(schema: &Schema, label: LabelValue) {
    match (schema.task, label) {
        (Task::BinaryClassification, LabelValue::Binary(_)) => {}
        (Task::MulticlassClassification, LabelValue::Class(c)) => {
            assert!(
                (c as usize) < schema.classes.len(),
                "label class {c} out of range"
            )
        }
        (Task::Regression, LabelValue::Number(v)) => {
            assert!(v.is_finite(), "regression label {v} is not finite")
        }
        (task, other) => panic!("label {other:?} does not fit a {task:?} model"),
    }
}

/// Asserts what must hold of any parsed prediction for a schema.
pub fn check_predicted(schema: &Schema, predicted: &Predicted) {
    match (schema.task, predicted) {
        (_, Predicted::Nothing) => {}
        (Task::BinaryClassification, Predicted::Binary { score, .. }) => {
            assert_unit("binary score", *score)
        }
        (Task::MulticlassClassification, Predicted::Multiclass { class, probs }) => {
            assert!(
                (*class as usize) < schema.classes.len(),
                "predicted class {class} out of range"
            );
            if let Some(probs) = probs {
                assert_eq!(probs.len(), schema.classes.len(), "one score per class");
                for &p in probs.iter() {
                    assert_unit("class score", p);
                }
            }
        }
        (Task::Regression, Predicted::Regression(v)) => {
            assert!(v.is_finite(), "regression prediction {v} is not finite")
        }
        (task, other) => panic!("prediction {other:?} does not fit a {task:?} model"),
    }
}

/// Asserts the invariants of a snapshot: one entry per configured window, windows never above their
/// caps, and every metric that is a share within [0, 1].
pub fn check_snapshot(model: &Model, snapshot: &ModelSnapshot, predictions_accepted: usize) {
    let config = &model.config;
    assert_eq!(snapshot.windows.len(), config.windows.len());
    assert!(
        snapshot.pending <= config.max_pending,
        "{} pending predictions above max_pending = {}",
        snapshot.pending,
        config.max_pending
    );
    for (w, wc) in snapshot.windows.iter().zip(&config.windows) {
        assert_eq!(w.name, wc.name);
        let cap = match wc.kind {
            WindowKind::Count(n) => n,
            WindowKind::Time { max_events, .. } => max_events,
        };
        assert!(
            w.predictions <= cap,
            "window {} holds {} predictions",
            w.name,
            w.predictions
        );
        assert!(
            w.samples <= cap,
            "window {} holds {} samples",
            w.name,
            w.samples
        );
        assert!(
            w.predictions <= predictions_accepted,
            "window {} holds {} predictions but only {predictions_accepted} were accepted",
            w.name,
            w.predictions
        );
        match &w.metrics {
            TaskMetrics::Binary(m) => {
                assert_eq!(
                    m.counts.total() as usize,
                    w.samples,
                    "confusion counts vs samples"
                );
                for (name, v) in [
                    ("accuracy", m.accuracy),
                    ("precision", m.precision),
                    ("recall", m.recall),
                    ("f1", m.f1),
                    ("roc_auc", m.roc_auc),
                    ("positive_rate", m.positive_rate),
                    ("label_positive_rate", m.label_positive_rate),
                ] {
                    assert_unit(name, v);
                }
                assert!(m.scored as usize <= w.samples);
                assert!(
                    m.log_loss.is_nan() || m.log_loss >= 0.0,
                    "log loss {}",
                    m.log_loss
                );
            }
            TaskMetrics::Multiclass(m) => {
                assert_unit("accuracy", m.accuracy);
                for (name, values) in [
                    ("precision", &m.precision),
                    ("recall", &m.recall),
                    ("f1", &m.f1),
                ] {
                    assert_eq!(values.len(), model.schema.classes.len());
                    for &v in values {
                        assert_unit(name, v);
                    }
                }
                assert!(m.scored as usize <= w.samples);
                assert!(
                    m.log_loss.is_nan() || m.log_loss >= 0.0,
                    "log loss {}",
                    m.log_loss
                );
            }
            TaskMetrics::Regression(m) => {
                for (name, v) in [
                    ("mae", m.mae),
                    ("mse", m.mse),
                    ("rmse", m.rmse),
                    ("mape", m.mape),
                ] {
                    assert!(v.is_nan() || v >= 0.0, "{name} = {v} is negative");
                }
            }
        }
    }
}

/// Asserts the invariants of a drift report: one entry per window, every configured feature plus the
/// prediction and the label column in each, and p-values, effects and ratios that are shares.
pub fn check_drift(model: &Model, report: &DriftReport) {
    let config = &model.config;
    assert_eq!(report.windows.len(), config.windows.len());
    for w in &report.windows {
        assert_eq!(
            w.columns.len(),
            config.features.len() + 2,
            "window {}: a column per feature, plus prediction and label",
            w.name
        );
        assert_unit("drift_share", w.drift_share);
        assert!(
            w.dataset_drift.is_nan() || w.dataset_drift == 0.0 || w.dataset_drift == 1.0,
            "dataset_drift = {}",
            w.dataset_drift
        );
        for c in &w.columns {
            let at = format!("window {} column {:?}", w.name, c.name);
            assert_unit(&format!("{at}: p-value"), c.p_value);
            assert_unit(&format!("{at}: adjusted p-value"), c.p_value_adjusted);
            assert_unit(&format!("{at}: effect"), c.effect);
            assert_unit(&format!("{at}: missing ratio"), c.quality.missing_ratio);
            if let Some(r) = c.quality.out_of_range_ratio {
                assert_unit(&format!("{at}: out-of-range ratio"), r);
            }
            if let Some(r) = c.quality.new_category_ratio {
                assert_unit(&format!("{at}: new-category ratio"), r);
            }
            for (name, share) in &c.quality.categories {
                assert_unit(&format!("{at}: share of category {name:?}"), *share);
            }
            if let Some(q) = c.quality.quantiles
                && q.iter().all(|v| v.is_finite())
            {
                // Quantiles of sorted values never decrease. Only finite ones are compared: like numpy,
                // the interpolation overflows to ±inf between values near ±f64::MAX (the spread
                // exceeds f64::MAX), and then the order is lost.
                assert!(
                    q.windows(2).all(|p| p[0] <= p[1]),
                    "{at}: quantiles out of order: {q:?}"
                );
            }
            // A column without a reference, or with too few values, is not judged. The reference is
            // the configured one or one set at run time (`PUT .../reference`), which a model without a
            // configured reference accepts too; `reference_info` knows both.
            if c.detected.is_some() {
                assert!(
                    model.reference_info().is_some(),
                    "{at}: judged without a reference"
                );
            }
        }
    }
}

/// `sample_body` of model `i`, built once.
pub fn sample_predictions(i: usize) -> &'static [u8] {
    static BODIES: OnceLock<Vec<String>> = OnceLock::new();
    let bodies = BODIES.get_or_init(|| {
        (0..MODELS.len())
            .map(|m| sample_body(&model_config(m)))
            .collect()
    });
    bodies[i % bodies.len()].as_bytes()
}

/// A well-formed NDJSON batch of 12 labelled predictions for a model, built from its config alone:
/// every feature has a value, predictions and labels use the configured classes. Targets that fuzz
/// something else (a reference, a config) feed it to the model so that its windows hold data when
/// drift is evaluated. Any valid config must accept every event of it.
pub fn sample_body(config: &ModelConfig) -> String {
    let mut body = String::new();
    for n in 0..12 {
        let mut features = serde_json::Map::new();
        for f in &config.features {
            let value = match f.kind {
                FeatureKind::Numeric => serde_json::json!(n as f64 * 1.5),
                FeatureKind::Categorical => serde_json::json!(["a", "b", "c"][n % 3]),
            };
            features.insert(f.name.clone(), value);
        }
        let (prediction, label) = match config.task {
            Task::BinaryClassification => (
                serde_json::json!({ "score": n as f64 / 12.0 }),
                serde_json::json!(config.classes[n % 2]),
            ),
            Task::MulticlassClassification => {
                let k = config.classes.len();
                (
                    serde_json::json!({ "prediction": config.classes[n % k] }),
                    serde_json::json!(config.classes[(n / 2) % k]),
                )
            }
            Task::Regression => (
                serde_json::json!({ "prediction": n as f64 * 2.0 }),
                serde_json::json!(n as f64 * 2.0 + 1.0),
            ),
        };
        let mut event = prediction;
        event["features"] = serde_json::Value::Object(features);
        event["label"] = label;
        body.push_str(&event.to_string());
        body.push('\n');
    }
    body
}

/// Whether model `i` compares against a moving reference (which cannot be replaced).
pub fn has_moving_reference(i: usize) -> bool {
    model_config(i).reference == Some(ReferenceConfig::Moving)
}

/// Everything the report of one batch of predictions must satisfy, given how many events it had.
pub fn check_prediction_report(
    report: &modelwatch::internals::model::PredictionReport,
    events: usize,
) {
    assert_eq!(
        report.accepted + report.rejected,
        events,
        "accepted + rejected must count every event: {report:?}"
    );
    assert_eq!(
        report.errors_truncated,
        report.rejected > MAX_REPORTED_ERRORS
    );
    assert_eq!(
        report.errors.len(),
        report.rejected.min(MAX_REPORTED_ERRORS)
    );
    assert!(
        report.errors.windows(2).all(|e| e[0].index <= e[1].index),
        "errors are listed by index"
    );
}

/// Everything the report of one batch of labels must satisfy, given how many events it had.
pub fn check_label_report(report: &modelwatch::internals::model::LabelReport, events: usize) {
    assert_eq!(
        report.accepted + report.rejected,
        events,
        "accepted + rejected must count every event: {report:?}"
    );
    assert_eq!(
        report.matched + report.unmatched,
        report.accepted,
        "every accepted label is matched or unmatched: {report:?}"
    );
    assert_eq!(
        report.unmatched_ids.len(),
        report.unmatched.min(MAX_REPORTED_ERRORS)
    );
    assert_eq!(
        report.errors_truncated,
        report.rejected > MAX_REPORTED_ERRORS
    );
    assert_eq!(
        report.errors.len(),
        report.rejected.min(MAX_REPORTED_ERRORS)
    );
}
