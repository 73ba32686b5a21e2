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
use crate::window::columns::{ColumnWindow, Layout, Rows};
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

/// One side (predictions or labels) of a warmup reference. It collects rows until it holds `target`,
/// is then complete, and is frozen into sorted columns by the next drift evaluation. Freezing sorts
/// every column (about half a second for a million rows of 21 columns), so it happens outside the model
/// lock: under the lock a complete side is only moved into an `Arc`, and the evaluator sorts a shared
/// handle of it after releasing the lock (`Model::freeze_warmup`).
enum WarmupSide {
    Collecting(Box<ColumnWindow>),
    Complete(Arc<ColumnWindow>),
    Frozen(Arc<ColumnSet>),
}

impl WarmupSide {
    fn collecting(layout: Layout, target: usize) -> Self {
        WarmupSide::Collecting(Box::new(ColumnWindow::new(
            layout,
            Policy::Count(target),
            false,
        )))
    }

    /// Collects a row, and completes the side when it holds `target` rows: an O(1) move.
    fn push(&mut self, target: usize, ts: i64, num: &[f64], cat: &[u32]) {
        let WarmupSide::Collecting(w) = self else {
            return;
        };
        w.push(ts, num, cat, ts);
        if w.len() >= target {
            let empty = ColumnWindow::new(w.layout(), Policy::Count(1), false);
            let full = std::mem::replace(w.as_mut(), empty);
            *self = WarmupSide::Complete(Arc::new(full));
        }
    }

    /// Rows collected so far, or frozen.
    fn rows(&self) -> usize {
        match self {
            WarmupSide::Collecting(w) => w.len(),
            WarmupSide::Complete(w) => w.len(),
            WarmupSide::Frozen(c) => c.rows,
        }
    }

    fn is_complete(&self) -> bool {
        !matches!(self, WarmupSide::Collecting(_))
    }

    fn frozen(&self) -> Option<Arc<ColumnSet>> {
        match self {
            WarmupSide::Frozen(c) => Some(c.clone()),
            _ => None,
        }
    }

    /// The rows not yet frozen, for a snapshot: a restored side collects them again.
    fn unfrozen_rows(&self) -> Rows {
        match self {
            WarmupSide::Collecting(w) => w.export(),
            WarmupSide::Complete(w) => w.export(),
            WarmupSide::Frozen(_) => Rows::default(),
        }
    }

    /// A side restored from a snapshot: its frozen columns, or its rows collected again.
    fn restored(
        layout: Layout,
        target: usize,
        rows: &Rows,
        frozen: Option<Arc<ColumnSet>>,
        now: i64,
    ) -> Self {
        if let Some(c) = frozen {
            return WarmupSide::Frozen(c);
        }
        let mut w = ColumnWindow::new(layout, Policy::Count(target), false);
        w.import(rows, now);
        if w.len() >= target {
            WarmupSide::Complete(Arc::new(w))
        } else {
            WarmupSide::Collecting(Box::new(w))
        }
    }
}

/// The first N predictions and the first N labels, collected until each is complete.
struct Warmup {
    target: usize,
    predictions: WarmupSide,
    labels: WarmupSide,
    label_layout: Layout,
}

impl Warmup {
    fn new(target: usize, schema: &Schema) -> Self {
        Warmup {
            target,
            predictions: WarmupSide::collecting(schema.layout, target),
            labels: WarmupSide::collecting(schema.label_layout, target),
            label_layout: schema.label_layout,
        }
    }

    fn push_prediction(&mut self, ts: i64, num: &[f64], cat: &[u32]) {
        self.predictions.push(self.target, ts, num, cat);
    }

    fn push_label(&mut self, ts: i64, num: &[f64], cat: &[u32]) {
        self.labels.push(self.target, ts, num, cat);
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
    /// Set, under this lock, when a config reload handed this state over to a rebuilt model or removed
    /// the model. A writer that finds it set applies nothing here and goes where it points instead, so
    /// no write lands in a state that is being thrown away.
    retired: Option<Retired>,
}

/// Where the writes of a retired model go.
#[derive(Clone)]
pub enum Retired {
    /// A reload rebuilt the model; its state now lives in this one.
    Replaced(Arc<Model>),
    /// A reload removed the model.
    Removed,
}

impl Retired {
    /// The model that now takes the writes, if any.
    pub fn successor(self) -> Option<Arc<Model>> {
        match self {
            Retired::Replaced(m) => Some(m),
            Retired::Removed => None,
        }
    }
}

/// What applying (part of) a batch did. A batch whose model was retired part-way stops at an event
/// boundary: the events before `next_index` are applied (and were handed over with the state), the rest
/// are to be parsed again against the successor and applied there.
pub enum Applied<R> {
    Done(R),
    Moved {
        /// The counts of the events applied here (those with index below `next_index`).
        partial: R,
        next_index: usize,
        to: Retired,
    },
}

impl<R> Applied<R> {
    /// The counts of the events applied here, and, if the model was retired part-way, the index to go on
    /// from and where to.
    pub fn into_parts(self) -> (R, Option<(usize, Retired)>) {
        match self {
            Applied::Done(r) => (r, None),
            Applied::Moved {
                partial,
                next_index,
                to,
            } => (partial, Some((next_index, to))),
        }
    }
}

/// Most work one hold of a model lock does while applying a batch; then the lock is handed to any
/// waiting thread and taken again, so a big batch never stalls small requests or the ticker.
const SLICE_BUDGET: std::time::Duration = std::time::Duration::from_micros(500);
/// Events applied between two looks at the clock.
const SLICE_CHECK_EVERY: usize = 16;

/// The parse errors of the events with index in `[from, to)`: the part of a batch one call covered.
fn errors_between(errors: &[EventError], from: usize, to: usize) -> Vec<EventError> {
    errors
        .iter()
        .filter(|e| (from..to).contains(&e.index))
        .cloned()
        .collect()
}

/// Counter increments gathered while applying a batch under the model lock, and published before each
/// release of it: the counters of what the windows and pending labels hold change under the lock, so a
/// snapshot (taken under it) sees them agree with the rows.
#[derive(Default)]
struct Tally {
    predictions: u64,
    labels: u64,
    unmatched: u64,
    expired: u64,
    errors: u64,
}

/// The work done under one hold of the model lock while applying a batch.
struct Slice {
    start: std::time::Instant,
}

impl Slice {
    fn start() -> Self {
        Slice {
            start: std::time::Instant::now(),
        }
    }

    /// Called before each event (`done` events into the call): once the slice has used its budget,
    /// publishes the counters with the rows applied so far (under the lock, so a snapshot sees both or
    /// neither), then unlocks and relocks fairly, so a waiting request or the ticker goes first.
    fn yield_if_spent(
        &mut self,
        done: usize,
        state: &mut parking_lot::MutexGuard<'_, ModelState>,
        tally: &mut Tally,
        telemetry: &ModelTelemetry,
    ) {
        if done > 0
            && done.is_multiple_of(SLICE_CHECK_EVERY)
            && self.start.elapsed() >= SLICE_BUDGET
        {
            tally.publish(telemetry);
            parking_lot::MutexGuard::bump(state);
            self.start = std::time::Instant::now();
        }
    }
}

impl Tally {
    fn publish(&mut self, t: &ModelTelemetry) {
        t.predictions.inc_by(self.predictions);
        t.labels.inc_by(self.labels);
        t.unmatched.inc_by(self.unmatched);
        t.expired.inc_by(self.expired);
        t.errors.inc_by(self.errors);
        *self = Tally::default();
    }
}

/// Whether a model under config `b` can keep the state of a model under config `a` as it is: same task,
/// classes, features (names and types), windows, category cap and reference settings. Everything else
/// (the decision threshold, label TTL and pending cap, drift and alert settings, per-feature tests) is
/// read from the config when it is used, so such a change is applied without a rebuild.
pub fn same_layout(a: &ModelConfig, b: &ModelConfig) -> bool {
    let file_reference = matches!(a.reference, Some(ReferenceConfig::Path(_)));
    a.name == b.name
        && a.task == b.task
        && a.classes == b.classes
        && a.max_categories == b.max_categories
        && a.windows == b.windows
        && a.reference == b.reference
        // A file reference is read with the threshold (scores without a prediction) and row cap.
        && (!file_reference
            || (a.drift.max_reference_rows == b.drift.max_reference_rows
                && a.threshold == b.threshold))
        && a.features.len() == b.features.len()
        && a
            .features
            .iter()
            .zip(&b.features)
            .all(|(x, y)| x.name == y.name && x.kind == y.kind)
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
    /// Shared with a model reconfigured in place (same layout), like `state` and `drift`.
    pub interners: Arc<Interners>,
    pub telemetry: ModelTelemetry,
    clock: Clock,
    state: Arc<Mutex<ModelState>>,
    drift: Arc<arc_swap::ArcSwapOption<DriftReport>>,
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
#[derive(Default, Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
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

impl PredictionReport {
    /// Adds the counts of another part of the same batch (applied to a reload's successor model).
    pub fn absorb(&mut self, more: PredictionReport) {
        self.accepted += more.accepted;
        self.rejected += more.rejected;
        self.errors.extend(more.errors);
        self.errors_truncated |= more.errors_truncated || self.errors.len() > MAX_REPORTED_ERRORS;
        self.errors.truncate(MAX_REPORTED_ERRORS);
    }
}

impl LabelReport {
    /// Adds the counts of another part of the same batch (applied to a reload's successor model).
    pub fn absorb(&mut self, more: LabelReport) {
        self.accepted += more.accepted;
        self.rejected += more.rejected;
        self.matched += more.matched;
        self.unmatched += more.unmatched;
        self.unmatched_ids.extend(more.unmatched_ids);
        self.unmatched_ids.truncate(MAX_REPORTED_ERRORS);
        self.errors.extend(more.errors);
        self.errors_truncated |= more.errors_truncated || self.errors.len() > MAX_REPORTED_ERRORS;
        self.errors.truncate(MAX_REPORTED_ERRORS);
    }
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
            } = warmup.label_layout;
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
            interners: Arc::new(Interners::new(
                schema.categorical_features,
                config.max_categories,
            )),
            telemetry: telemetry.model(&config),
            state: Arc::new(Mutex::new(ModelState {
                windows,
                pending: LinkedHashMap::new(),
                reference,
                retired: None,
            })),
            drift: Arc::new(arc_swap::ArcSwapOption::empty()),
            schema,
            clock,
            config,
        }
    }

    /// Replaces the reference with a frozen one (from a file or `PUT .../reference`). A model configured
    /// with a moving reference keeps it: replacing it would silently change what the model means by drift.
    pub fn set_reference(&self, reference: FrozenReference) -> Result<(), crate::error::Error> {
        self.try_set_reference(reference).map(|_| ())
    }

    /// Like `set_reference`, but a retired model takes nothing and says where the reference should go
    /// (parsed again against that model's schema).
    pub fn try_set_reference(
        &self,
        reference: FrozenReference,
    ) -> Result<Option<Retired>, crate::error::Error> {
        let mut state = self.state.lock();
        if let Some(to) = &state.retired {
            return Ok(Some(to.clone()));
        }
        if matches!(state.reference, ReferenceState::Moving) {
            return Err(crate::error::Error::Conflict(
                "this model compares against a moving reference, which cannot be replaced"
                    .to_string(),
            ));
        }
        state.reference = ReferenceState::Frozen(Arc::new(reference));
        Ok(None)
    }

    /// The same model under a new config that keeps its layout (see `same_layout`): the windows, pending
    /// labels, reference, interners and drift report are shared, not copied, so the change costs nothing
    /// and no write can miss it. Requests that still hold this model keep writing into the same state.
    pub fn reconfigured(&self, config: Arc<ModelConfig>, telemetry: &Telemetry) -> Model {
        let model = Model {
            schema: Schema::new(&config),
            interners: self.interners.clone(),
            telemetry: telemetry.model(&config),
            clock: self.clock,
            state: self.state.clone(),
            drift: self.drift.clone(),
            config,
        };
        let mut state = model.state.lock();
        let mut trimmed = 0;
        while state.pending.len() > model.config.max_pending {
            state.pending.pop_front();
            trimmed += 1;
        }
        // Under the lock, like every counter of what the pending map holds (see `Tally`).
        model.telemetry.expired.inc_by(trimmed);
        drop(state);
        model
    }

    /// Hands this model's state over to its rebuilt successor and retires it, all under this model's
    /// lock: every write applied here before is in the copy, and every write after finds the model
    /// retired and goes to the successor. The successor is not yet visible to anyone else, so taking its
    /// lock inside this one cannot deadlock. An uploaded reference is carried only if the reference
    /// settings did not change. Returns a note for each part that did not fit.
    pub fn hand_over(&self, successor: &Arc<Model>) -> Vec<String> {
        let mut state = self.state.lock();
        let data = self.export_locked(&state);
        // `import` keeps an uploaded reference only while `[model.reference]` is unchanged.
        let notes = successor.import(&data, false);
        state.retired = Some(Retired::Replaced(successor.clone()));
        notes
    }

    /// Retires a model a reload removed: later writes to it are refused as to an unknown model.
    pub fn retire(&self) {
        self.state.lock().retired = Some(Retired::Removed);
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
                samples: w.predictions.rows(),
                label_samples: w.labels.rows(),
                ready: w.predictions.is_complete(),
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

    /// Applies a parsed batch of predictions to this model. For a model that no reload can retire
    /// (benchmarks, tools); the service goes through `apply_predictions`, which says where to go on.
    pub fn ingest_predictions(&self, batch: PredictionBatch) -> PredictionReport {
        self.apply_predictions(&batch, 0).into_parts().0
    }

    /// Applies the events of a parsed batch whose index is `from_index` or more, in slices of at most
    /// `SLICE_BUDGET` of work per hold of the lock. If a reload retires the model before or between
    /// slices, stops there and says where the rest goes.
    pub fn apply_predictions(
        &self,
        batch: &PredictionBatch,
        from_index: usize,
    ) -> Applied<PredictionReport> {
        let now = self.clock.now_ns();
        let mono = self.clock.monotonic_ns();
        let layout = self.schema.layout;
        let mut duplicates = Vec::new();
        let mut accepted = Vec::with_capacity(batch.events.len());
        let mut tally = Tally::default();
        let first = batch.events.partition_point(|e| e.index < from_index);
        let mut next = first;
        let mut moved = None;
        {
            let mut state = self.state.lock();
            tally.expired += self.expire_pending(&mut state, mono);
            let mut slice = Slice::start();
            while next < batch.events.len() {
                slice.yield_if_spent(next - first, &mut state, &mut tally, &self.telemetry);
                if let Some(to) = &state.retired {
                    moved = Some(to.clone());
                    break;
                }
                let i = next;
                next += 1;
                let event = &batch.events[i];
                let waits_for_label =
                    event.label.is_none() && event.predicted != Predicted::Nothing;
                if waits_for_label
                    && let Some(id) = &event.id
                    && state.pending.contains_key(id)
                {
                    duplicates.push(EventError {
                        index: event.index,
                        code: EventCode::DuplicateId,
                        message: "this id is already waiting for its label".to_string(),
                    });
                    continue;
                }
                accepted.push(i);
                tally.predictions += 1;
                tally.errors += u64::from(event.error);
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
                        tally.labels += 1;
                    }
                } else if let (true, Some(id)) = (waits_for_label, &event.id) {
                    if self.config.max_pending == 0 {
                        tally.expired += 1;
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
                        tally.expired += 1;
                    }
                }
            }
            tally.publish(&self.telemetry);
        }
        // The events this call covered: indices in [from_index, next_index).
        let next_index = match moved {
            Some(_) => batch.events.get(next).map_or(usize::MAX, |e| e.index),
            None => usize::MAX,
        };
        let mut errors = errors_between(&batch.errors, from_index, next_index);
        errors.extend(duplicates);
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
        let report = PredictionReport {
            accepted: accepted.len(),
            rejected,
            errors,
            errors_truncated,
        };
        match moved {
            None => Applied::Done(report),
            Some(to) => Applied::Moved {
                partial: report,
                next_index,
                to,
            },
        }
    }

    /// Applies a parsed batch of labels to this model (see `ingest_predictions`).
    pub fn ingest_labels(&self, batch: LabelBatch) -> LabelReport {
        self.apply_labels(&batch, 0).into_parts().0
    }

    /// Applies the labels of a parsed batch whose index is `from_index` or more, joining each to its
    /// pending prediction, in slices like `apply_predictions`.
    pub fn apply_labels(&self, batch: &LabelBatch, from_index: usize) -> Applied<LabelReport> {
        let now = self.clock.now_ns();
        let mono = self.clock.monotonic_ns();
        let mut unmatched_ids = Vec::new();
        let mut matched = 0usize;
        let mut tally = Tally::default();
        let first = batch.events.partition_point(|e| e.index < from_index);
        let mut next = first;
        let mut moved = None;
        {
            let mut state = self.state.lock();
            tally.expired += self.expire_pending(&mut state, mono);
            let mut slice = Slice::start();
            while next < batch.events.len() {
                slice.yield_if_spent(next - first, &mut state, &mut tally, &self.telemetry);
                if let Some(to) = &state.retired {
                    moved = Some(to.clone());
                    break;
                }
                let event = &batch.events[next];
                next += 1;
                let joined = state
                    .pending
                    .remove(&event.id)
                    .and_then(|p| outcome(&p.predicted, event.label).map(|o| (p.ts, o)));
                match joined {
                    Some((ts, o)) => {
                        state.push_label_everywhere(ts, &o, event.label, now);
                        matched += 1;
                        tally.labels += 1;
                    }
                    None => {
                        tally.unmatched += 1;
                        unmatched_ids.push(Unmatched {
                            index: event.index,
                            id: event.id.to_string(),
                        })
                    }
                }
            }
            tally.publish(&self.telemetry);
        }
        let next_index = match moved {
            Some(_) => batch.events.get(next).map_or(usize::MAX, |e| e.index),
            None => usize::MAX,
        };
        let t = &self.telemetry;
        let mut errors = errors_between(&batch.errors, from_index, next_index);
        for e in &errors {
            t.rejected(e.code).inc();
        }
        let unmatched = unmatched_ids.len();
        unmatched_ids.truncate(MAX_REPORTED_ERRORS);
        let errors_truncated = errors.len() > MAX_REPORTED_ERRORS;
        let rejected = errors.len();
        errors.truncate(MAX_REPORTED_ERRORS);
        let report = LabelReport {
            accepted: next - first,
            rejected,
            matched,
            unmatched,
            unmatched_ids,
            errors,
            errors_truncated,
        };
        match moved {
            None => Applied::Done(report),
            Some(to) => Applied::Moved {
                partial: report,
                next_index,
                to,
            },
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
