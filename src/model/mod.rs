//! One monitored model: its windows, its pending predictions, and the label join.
//!
//! Each model is a shard with its own lock, so models never contend with each other. The lock is taken
//! once per request (not per event), is never held across an `.await`, and is held only for O(log n)
//! window updates per event, or for the memory copy that a scrape takes before computing metrics.

mod evaluate_drift;
pub mod persist;

use std::sync::Arc;

use hashlink::LinkedHashMap;
use parking_lot::Mutex;
use serde::Serialize;

use crate::clock::Clock;
use crate::config::{ModelConfig, ReferenceConfig, WindowConfig};
use crate::drift::DriftReport;
use crate::drift::column_set::ColumnSet;
use crate::drift::reference::{FrozenReference, ReferenceSource};
use crate::error::{EventCode, EventError};
use crate::event::{LabelBatch, LabelValue, Predicted, PredictionBatch};
use crate::schema::{Interners, Schema};
use crate::telemetry::{ModelTelemetry, Telemetry};
use crate::window::columns::{ColumnWindow, Layout};
use crate::window::metric::{MetricWindow, Outcome, TaskMetrics};
use crate::window::queue::Policy;

/// At most this many per-event errors are listed in one response; the counts are always complete.
pub const MAX_REPORTED_ERRORS: usize = 1000;

/// A prediction waiting for its label.
struct Pending {
    /// Monotonic arrival time, for `label_ttl`.
    arrival: i64,
    /// The prediction's timestamp, which decides its place in time windows once labelled.
    ts: i64,
    predicted: Predicted,
}

/// The windows of one configured window name.
struct WindowState {
    config: WindowConfig,
    /// Labelled samples, for model metrics.
    metric: MetricWindow,
    /// Every prediction's feature and prediction values, for drift and data quality.
    predictions: ColumnWindow,
    /// Labels of the labelled samples, for label drift.
    labels: ColumnWindow,
}

/// The first N predictions and the first N labels, collected until each is complete.
struct Warmup {
    target: usize,
    predictions: ColumnWindow,
    labels: ColumnWindow,
    features: Option<Arc<ColumnSet>>,
    label_set: Option<Arc<ColumnSet>>,
}

impl Warmup {
    fn new(target: usize, schema: &Schema) -> Self {
        Warmup {
            target,
            predictions: ColumnWindow::new(schema.layout, Policy::Count(target), false),
            labels: ColumnWindow::new(schema.label_layout, Policy::Count(target), false),
            features: None,
            label_set: None,
        }
    }

    fn push_prediction(&mut self, ts: i64, num: &[f64], cat: &[u32]) {
        if self.features.is_some() {
            return;
        }
        self.predictions.push(ts, num, cat, ts);
        if self.predictions.len() >= self.target {
            // Freeze: copy the columns once and free the collecting window.
            self.features = Some(Arc::new(ColumnSet::of_window(&self.predictions)));
            self.predictions.clear();
        }
    }

    fn push_label(&mut self, ts: i64, num: &[f64], cat: &[u32]) {
        if self.label_set.is_some() {
            return;
        }
        self.labels.push(ts, num, cat, ts);
        if self.labels.len() >= self.target {
            self.label_set = Some(Arc::new(ColumnSet::of_window(&self.labels)));
            self.labels.clear();
        }
    }
}

/// What the windows are compared to.
enum ReferenceState {
    None,
    Frozen(Arc<FrozenReference>),
    Warmup(Box<Warmup>),
    Moving,
}

struct ModelState {
    windows: Vec<WindowState>,
    pending: LinkedHashMap<Box<str>, Pending>,
    reference: ReferenceState,
}

/// What `modelwatch_reference_info` and `modelwatch_reference_samples` show.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferenceInfo {
    pub source: ReferenceSource,
    pub sha256: String,
    /// Prediction rows in the reference (for warmup: collected so far; for moving: in the first window's
    /// previous stage).
    pub samples: usize,
    pub label_samples: usize,
    /// Whether the reference is complete and drift is being evaluated against it.
    pub ready: bool,
}

pub struct Model {
    pub config: Arc<ModelConfig>,
    pub schema: Schema,
    pub interners: Interners,
    pub telemetry: ModelTelemetry,
    clock: Clock,
    state: Mutex<ModelState>,
    drift: arc_swap::ArcSwapOption<DriftReport>,
}

/// Answer to a batch of predictions.
#[derive(Default, Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct PredictionReport {
    pub accepted: usize,
    pub rejected: usize,
    pub errors: Vec<EventError>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub errors_truncated: bool,
}

/// A label that matched no pending prediction.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Unmatched {
    pub index: usize,
    pub id: String,
}

/// Answer to a batch of labels.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct LabelReport {
    pub accepted: usize,
    pub rejected: usize,
    /// Labels joined to a pending prediction.
    pub matched: usize,
    /// Labels for an unknown, already labelled or expired id: not an error, but counted and listed.
    pub unmatched: usize,
    pub unmatched_ids: Vec<Unmatched>,
    pub errors: Vec<EventError>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub errors_truncated: bool,
}

/// Metrics of one window, computed from a snapshot.
#[derive(Debug, Clone)]
pub struct WindowSnapshot {
    pub name: String,
    /// Labelled samples in the window.
    pub samples: usize,
    /// Predictions (labelled or not) in the window.
    pub predictions: usize,
    pub metrics: TaskMetrics,
}

#[derive(Debug, Clone)]
pub struct ModelSnapshot {
    pub pending: usize,
    pub windows: Vec<WindowSnapshot>,
}

fn outcome(predicted: &Predicted, label: LabelValue) -> Option<Outcome> {
    match (predicted, label) {
        (Predicted::Binary { positive, score }, LabelValue::Binary(actual)) => {
            Some(Outcome::Binary {
                predicted_positive: *positive,
                actual_positive: actual,
                score: *score,
            })
        }
        (Predicted::Multiclass { class, probs }, LabelValue::Class(actual)) => {
            Some(Outcome::Multiclass {
                predicted: *class,
                actual,
                probs: probs.clone(),
            })
        }
        (Predicted::Regression(p), LabelValue::Number(actual)) => Some(Outcome::Regression {
            predicted: *p,
            actual,
        }),
        _ => None,
    }
}

/// The row of the label column for a label value.
fn label_row(label: LabelValue) -> ([f64; 1], [u32; 1]) {
    match label {
        LabelValue::Binary(b) => ([f64::NAN], [b as u32]),
        LabelValue::Class(c) => ([f64::NAN], [c]),
        LabelValue::Number(v) => ([v], [0]),
    }
}

impl WindowState {
    /// `moving`: keep a previous stage of every column window, the moving reference.
    fn new(config: &WindowConfig, schema: &Schema, moving: bool) -> Self {
        let policy = Policy::from_kind(config.kind);
        WindowState {
            config: config.clone(),
            metric: MetricWindow::new(schema.task, schema.classes.len(), policy),
            predictions: ColumnWindow::new(schema.layout, policy, moving),
            labels: ColumnWindow::new(schema.label_layout, policy, moving),
        }
    }

    fn push_labelled(&mut self, ts: i64, outcome: Outcome, label: LabelValue, now: i64) {
        let (num, cat) = label_row(label);
        let Layout {
            numeric,
            categorical,
        } = self.labels.layout();
        self.labels
            .push(ts, &num[..numeric], &cat[..categorical], now);
        self.metric.push(ts, outcome, now);
    }

    fn expire(&mut self, now: i64) {
        self.metric.expire(now);
        self.predictions.expire(now);
        self.labels.expire(now);
    }
}

impl ModelState {
    fn push_label_everywhere(&mut self, ts: i64, outcome: &Outcome, label: LabelValue, now: i64) {
        for w in self.windows.iter_mut() {
            w.push_labelled(ts, outcome.clone(), label, now);
        }
        if let ReferenceState::Warmup(warmup) = &mut self.reference {
            let (num, cat) = label_row(label);
            let Layout {
                numeric,
                categorical,
            } = warmup.labels.layout();
            warmup.push_label(ts, &num[..numeric], &cat[..categorical]);
        }
    }
}

impl Model {
    /// A model with empty windows. A file reference, if configured, is loaded by the caller and set with
    /// `set_reference`.
    pub fn new(config: Arc<ModelConfig>, telemetry: &Telemetry, clock: Clock) -> Model {
        let schema = Schema::new(&config);
        let moving = config.reference == Some(ReferenceConfig::Moving);
        let windows = config
            .windows
            .iter()
            .map(|w| WindowState::new(w, &schema, moving))
            .collect();
        let reference = match &config.reference {
            Some(ReferenceConfig::Warmup(n)) => {
                ReferenceState::Warmup(Box::new(Warmup::new(*n, &schema)))
            }
            Some(ReferenceConfig::Moving) => ReferenceState::Moving,
            Some(ReferenceConfig::Path(_)) | None => ReferenceState::None,
        };
        Model {
            interners: Interners::new(schema.categorical_features, config.max_categories),
            telemetry: telemetry.model(&config),
            state: Mutex::new(ModelState {
                windows,
                pending: LinkedHashMap::new(),
                reference,
            }),
            drift: arc_swap::ArcSwapOption::empty(),
            schema,
            clock,
            config,
        }
    }

    /// Replaces the reference with a frozen one (from a file or `PUT .../reference`). A model configured
    /// with a moving reference keeps it: replacing it would silently change what the model means by drift.
    pub fn set_reference(&self, reference: FrozenReference) -> Result<(), crate::error::Error> {
        let mut state = self.state.lock();
        if matches!(state.reference, ReferenceState::Moving) {
            return Err(crate::error::Error::Conflict(
                "this model compares against a moving reference, which cannot be replaced"
                    .to_string(),
            ));
        }
        state.reference = ReferenceState::Frozen(Arc::new(reference));
        Ok(())
    }

    pub fn reference_info(&self) -> Option<ReferenceInfo> {
        let state = self.state.lock();
        match &state.reference {
            ReferenceState::None => None,
            ReferenceState::Frozen(r) => Some(ReferenceInfo {
                source: r.source,
                sha256: r.sha256.clone(),
                samples: r.features.rows,
                label_samples: r.labels.as_ref().map_or(0, |l| l.rows),
                ready: true,
            }),
            ReferenceState::Warmup(w) => Some(ReferenceInfo {
                source: ReferenceSource::Warmup,
                sha256: String::new(),
                samples: w.features.as_ref().map_or(w.predictions.len(), |f| f.rows),
                label_samples: w.label_set.as_ref().map_or(w.labels.len(), |l| l.rows),
                ready: w.features.is_some(),
            }),
            ReferenceState::Moving => {
                let prev = state.windows.first().and_then(|w| w.predictions.previous());
                let labels = state.windows.first().and_then(|w| w.labels.previous());
                Some(ReferenceInfo {
                    source: ReferenceSource::Moving,
                    sha256: String::new(),
                    samples: prev.map_or(0, ColumnWindow::len),
                    label_samples: labels.map_or(0, ColumnWindow::len),
                    ready: true,
                })
            }
        }
    }

    /// The last drift evaluation, if one has run.
    pub fn drift_report(&self) -> Option<Arc<DriftReport>> {
        self.drift.load_full()
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// Drops pending predictions older than `label_ttl`. Returns how many expired.
    fn expire_pending(&self, state: &mut ModelState, mono: i64) -> u64 {
        let ttl = self.config.label_ttl.as_nanos().min(i64::MAX as u128) as i64;
        let cutoff = mono.saturating_sub(ttl);
        let mut expired = 0;
        while state
            .pending
            .front()
            .is_some_and(|(_, p)| p.arrival <= cutoff)
        {
            state.pending.pop_front();
            expired += 1;
        }
        expired
    }

    /// Applies a parsed batch of predictions.
    pub fn ingest_predictions(&self, batch: PredictionBatch) -> PredictionReport {
        let now = self.clock.now_ns();
        let mono = self.clock.monotonic_ns();
        let layout = self.schema.layout;
        let mut errors = batch.errors.clone();
        let mut accepted = Vec::with_capacity(batch.events.len());
        let (mut expired, mut inline_labels, mut model_errors) = (0u64, 0u64, 0u64);
        {
            let mut state = self.state.lock();
            expired += self.expire_pending(&mut state, mono);
            for (i, event) in batch.events.iter().enumerate() {
                let waits_for_label =
                    event.label.is_none() && event.predicted != Predicted::Nothing;
                if waits_for_label
                    && let Some(id) = &event.id
                    && state.pending.contains_key(id)
                {
                    errors.push(EventError {
                        index: event.index,
                        code: EventCode::DuplicateId,
                        message: "this id is already waiting for its label".to_string(),
                    });
                    continue;
                }
                accepted.push(i);
                model_errors += u64::from(event.error);
                let (num, cat) = batch.row(i, layout.numeric, layout.categorical);
                for w in state.windows.iter_mut() {
                    w.predictions.push(event.ts, num, cat, now);
                }
                if let ReferenceState::Warmup(warmup) = &mut state.reference {
                    warmup.push_prediction(event.ts, num, cat);
                }
                if let Some(label) = event.label {
                    if let Some(o) = outcome(&event.predicted, label) {
                        state.push_label_everywhere(event.ts, &o, label, now);
                        inline_labels += 1;
                    }
                } else if let (true, Some(id)) = (waits_for_label, &event.id) {
                    if self.config.max_pending == 0 {
                        expired += 1;
                        continue;
                    }
                    state.pending.insert(
                        id.clone(),
                        Pending {
                            arrival: mono,
                            ts: event.ts,
                            predicted: event.predicted.clone(),
                        },
                    );
                    if state.pending.len() > self.config.max_pending {
                        state.pending.pop_front();
                        expired += 1;
                    }
                }
            }
            // The counters of what the windows and pending labels hold change under the lock, so that a
            // snapshot (taken under it) sees them agree.
            let t = &self.telemetry;
            t.predictions.inc_by(accepted.len() as u64);
            t.labels.inc_by(inline_labels);
            t.expired.inc_by(expired);
            t.errors.inc_by(model_errors);
        }
        // The rest describe the input, not the windows: updated after the lock is released.
        let t = &self.telemetry;
        for &i in &accepted {
            let event = &batch.events[i];
            if let Some(l) = event.latency_seconds {
                t.latency.observe(l);
            }
            for &(feature, kind) in batch.violations_of(event) {
                t.violation(feature, kind).inc();
            }
        }
        for e in &errors {
            t.rejected(e.code).inc();
        }
        errors.sort_by_key(|e| e.index);
        let rejected = errors.len();
        let errors_truncated = errors.len() > MAX_REPORTED_ERRORS;
        errors.truncate(MAX_REPORTED_ERRORS);
        PredictionReport {
            accepted: accepted.len(),
            rejected,
            errors,
            errors_truncated,
        }
    }

    /// Applies a parsed batch of labels, joining each to its pending prediction.
    pub fn ingest_labels(&self, batch: LabelBatch) -> LabelReport {
        let now = self.clock.now_ns();
        let mono = self.clock.monotonic_ns();
        let mut unmatched_ids = Vec::new();
        let mut matched = 0usize;
        {
            let mut state = self.state.lock();
            let expired = self.expire_pending(&mut state, mono);
            for event in &batch.events {
                let joined = state
                    .pending
                    .remove(&event.id)
                    .and_then(|p| outcome(&p.predicted, event.label).map(|o| (p.ts, o)));
                match joined {
                    Some((ts, o)) => {
                        state.push_label_everywhere(ts, &o, event.label, now);
                        matched += 1;
                    }
                    None => unmatched_ids.push(Unmatched {
                        index: event.index,
                        id: event.id.to_string(),
                    }),
                }
            }
            // Under the lock, like in `ingest_predictions`.
            let t = &self.telemetry;
            t.labels.inc_by(matched as u64);
            t.unmatched.inc_by(unmatched_ids.len() as u64);
            t.expired.inc_by(expired);
        }
        let t = &self.telemetry;
        for e in &batch.errors {
            t.rejected(e.code).inc();
        }
        let mut errors = batch.errors;
        let unmatched = unmatched_ids.len();
        unmatched_ids.truncate(MAX_REPORTED_ERRORS);
        let errors_truncated = errors.len() > MAX_REPORTED_ERRORS;
        let rejected = errors.len();
        errors.truncate(MAX_REPORTED_ERRORS);
        LabelReport {
            accepted: batch.events.len(),
            rejected,
            matched,
            unmatched,
            unmatched_ids,
            errors,
            errors_truncated,
        }
    }

    /// Time-based housekeeping: expires pending predictions and old window samples even with no traffic.
    pub fn tick(&self) {
        let now = self.clock.now_ns();
        let mono = self.clock.monotonic_ns();
        let mut state = self.state.lock();
        for w in state.windows.iter_mut() {
            w.expire(now);
        }
        let expired = self.expire_pending(&mut state, mono);
        // Under the lock, like in `ingest_predictions`.
        self.telemetry.expired.inc_by(expired);
    }

    pub fn pending(&self) -> usize {
        self.state.lock().pending.len()
    }

    /// Metrics of every window. The lock is taken once per window, only to expire old samples and copy
    /// the window's inputs; the metrics are computed after it is released.
    pub fn snapshot(&self) -> ModelSnapshot {
        let now = self.clock.now_ns();
        let n_windows = self.config.windows.len();
        let mut windows = Vec::with_capacity(n_windows);
        let mut pending = 0;
        for i in 0..n_windows {
            let (name, samples, predictions, inputs) = {
                let mut state = self.state.lock();
                pending = state.pending.len();
                let w = &mut state.windows[i];
                w.expire(now);
                (
                    w.config.name.clone(),
                    w.metric.len(),
                    w.predictions.len(),
                    w.metric.snapshot(),
                )
            };
            windows.push(WindowSnapshot {
                name,
                samples,
                predictions,
                metrics: inputs.compute(),
            });
        }
        ModelSnapshot { pending, windows }
    }
}
