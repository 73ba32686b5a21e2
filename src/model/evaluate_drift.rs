//! `Model::evaluate_drift`: a model's drift evaluation, gathering its columns and comparing them.
//!
//! The evaluation copies one column at a time under the model lock (a memory walk), releases the lock,
//! and compares it outside. A frozen reference is shared through an `Arc`, never copied. Ingest never
//! waits for more than one column copy.

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Instant;

use super::{Model, ModelState, ReferenceState, WarmupSide};
use crate::config::{FeatureKind, Task};
use crate::drift::DriftReport;
use crate::drift::column_set::{CategoricalData, ColumnSet, categorical_of};
use crate::drift::evaluate::{ColumnData, ColumnSpec, Role, compare, decide};
use crate::schema::Slot;
use crate::window::columns::{ColumnWindow, NumericCopy};

/// Where a column's values live.
#[derive(Debug, Clone, Copy)]
enum Source {
    /// A numeric column of the prediction windows.
    Numeric(usize),
    /// A categorical column of the prediction windows.
    Categorical(usize),
    /// The label windows' single column.
    Label,
}

/// The frozen parts of a reference, shared for the duration of one evaluation.
struct FrozenParts {
    features: Option<Arc<ColumnSet>>,
    labels: Option<Arc<ColumnSet>>,
    moving: bool,
}

impl Model {
    /// Freezes the complete sides of a warmup reference into sorted columns. Under the lock a complete
    /// side is only shared (an `Arc` clone); the columns are copied and sorted after it is released, and
    /// stored if the side is still the one that was sorted.
    fn freeze_warmup(&self) {
        let complete = {
            let state = self.state.lock();
            let ReferenceState::Warmup(w) = &state.reference else {
                return;
            };
            [&w.predictions, &w.labels].map(|side| match side {
                WarmupSide::Complete(window) => Some(window.clone()),
                _ => None,
            })
        };
        if complete.iter().all(Option::is_none) {
            return;
        }
        let frozen = complete.map(|c| c.map(|w| (Arc::new(ColumnSet::of_window(&w)), w)));
        let mut state = self.state.lock();
        if let ReferenceState::Warmup(w) = &mut state.reference {
            for (side, done) in [&mut w.predictions, &mut w.labels].into_iter().zip(&frozen) {
                if let (Some((set, sorted)), WarmupSide::Complete(current)) = (done, &*side)
                    && Arc::ptr_eq(sorted, current)
                {
                    *side = WarmupSide::Frozen(set.clone());
                }
            }
        }
        // The complete windows are freed when `frozen` is dropped, after the lock is released.
        drop(state);
    }

    fn frozen_parts(&self) -> Option<FrozenParts> {
        self.freeze_warmup();
        let state = self.state.lock();
        match &state.reference {
            ReferenceState::None => None,
            ReferenceState::Frozen(r) => Some(FrozenParts {
                features: Some(r.features.clone()),
                labels: r.labels.clone(),
                moving: false,
            }),
            ReferenceState::Warmup(w) => Some(FrozenParts {
                features: w.predictions.frozen(),
                labels: w.labels.frozen(),
                moving: false,
            }),
            ReferenceState::Moving => Some(FrozenParts {
                features: None,
                labels: None,
                moving: true,
            }),
        }
    }

    /// The columns to judge, with their tests. The binary prediction column is the score when the
    /// reference (or, without one, the current window) holds scores, otherwise the predicted class.
    fn column_plan(&self, parts: Option<&FrozenParts>) -> Vec<(ColumnSpec, Source)> {
        let c = &self.config;
        let s = &self.schema;
        let drift = &c.drift;
        let mut plan = Vec::with_capacity(c.features.len() + 2);
        for (f, slot) in c.features.iter().zip(&s.slots) {
            let source = match *slot {
                Slot::Numeric(i) => Source::Numeric(i),
                Slot::Categorical(i) => Source::Categorical(i),
            };
            plan.push((
                ColumnSpec::new(&f.name, Role::Feature, f.kind, f.test, f.threshold, drift),
                source,
            ));
        }
        let prediction = match (s.task, s.prediction_numeric, s.prediction_categorical) {
            (Task::BinaryClassification, Some(n), Some(k)) => {
                let has_scores = match parts.and_then(|p| p.features.as_ref()) {
                    Some(features) => !features.numeric[n].is_empty(),
                    None => {
                        let state = self.state.lock();
                        state.windows.iter().any(|w| {
                            w.predictions.has_numeric_values(n)
                                || w.predictions
                                    .previous()
                                    .is_some_and(|p| p.has_numeric_values(n))
                        })
                    }
                };
                if has_scores {
                    Source::Numeric(n)
                } else {
                    Source::Categorical(k)
                }
            }
            (_, Some(n), None) => Source::Numeric(n),
            (_, _, Some(k)) => Source::Categorical(k),
            _ => unreachable!("every task has a prediction column"),
        };
        let kind_of = |source: Source| match source {
            Source::Numeric(_) => FeatureKind::Numeric,
            _ => FeatureKind::Categorical,
        };
        plan.push((
            ColumnSpec::new(
                "prediction",
                Role::Prediction,
                kind_of(prediction),
                drift.prediction.test,
                drift.prediction.threshold,
                drift,
            ),
            prediction,
        ));
        let label_kind = if s.task.is_classification() {
            FeatureKind::Categorical
        } else {
            FeatureKind::Numeric
        };
        plan.push((
            ColumnSpec::new(
                "label",
                Role::Label,
                label_kind,
                drift.label.test,
                drift.label.threshold,
                drift,
            ),
            Source::Label,
        ));
        plan
    }

    /// Names of the category ids of a categorical column.
    fn category_names(&self, source: Source, len: usize) -> Vec<String> {
        match source {
            Source::Categorical(i) if i < self.schema.categorical_features => (0..len
                .min(self.interners.len(i)))
                .map(|id| self.interners.name(i, id as u32))
                .collect(),
            _ => self.schema.classes.clone(),
        }
    }

    /// Copies one column of window `w` (and of its previous stage for a moving reference). `rows` is
    /// about the number of rows the window holds.
    fn copy_column<'a>(
        &self,
        w: usize,
        source: Source,
        moving: bool,
        rows: usize,
    ) -> ColumnData<'a> {
        // Copies are taken under the lock (one memory copy per column); numeric copies are sorted after
        // it is released. Their buffers are allocated and touched before, so that the lock is not held
        // through the page faults of a fresh allocation (2,000 of them for a million rows).
        let numeric_source = !matches!(source, Source::Categorical(_));
        let buffer = |wanted: bool| {
            let mut v = Vec::new();
            if wanted && numeric_source {
                v.resize(rows, 0.0f64);
                std::hint::black_box(&mut v);
            }
            v
        };
        let (mut current_buffer, mut previous_buffer) = (buffer(true), buffer(moving));
        enum Copied {
            Numeric(NumericCopy, Option<NumericCopy>),
            Categorical(CategoricalData, Option<CategoricalData>),
        }
        let copied = {
            let mut state = self.state.lock();
            let now = self.clock.now_ns();
            let ModelState { windows, .. } = &mut *state;
            let window = &mut windows[w];
            window.expire(now);
            let (cw, index): (&ColumnWindow, usize) = match source {
                Source::Numeric(i) | Source::Categorical(i) => (&window.predictions, i),
                Source::Label => (&window.labels, 0),
            };
            let numeric = match source {
                Source::Numeric(_) => true,
                Source::Categorical(_) => false,
                Source::Label => cw.layout().numeric == 1,
            };
            let previous = if moving { cw.previous() } else { None };
            if numeric {
                Copied::Numeric(
                    cw.numeric_copy_into(index, std::mem::take(&mut current_buffer)),
                    previous
                        .map(|p| p.numeric_copy_into(index, std::mem::take(&mut previous_buffer))),
                )
            } else {
                Copied::Categorical(
                    categorical_of(cw, index),
                    previous.map(|p| categorical_of(p, index)),
                )
            }
        };
        match copied {
            Copied::Numeric(current, reference) => ColumnData::Numeric {
                current: current.into(),
                reference: reference.map(|r| Cow::Owned(r.into())),
            },
            Copied::Categorical(current, reference) => ColumnData::Categorical {
                current,
                reference: reference.map(Cow::Owned),
                names: Vec::new(),
            },
        }
    }

    /// The number of predictions in the largest window, to size the evaluation.
    fn window_size_hint(&self) -> usize {
        let state = self.state.lock();
        state
            .windows
            .iter()
            .map(|w| w.predictions.len())
            .max()
            .unwrap_or(0)
    }

    /// Runs one full evaluation of every window and column, and stores the report for scrapes.
    pub fn evaluate_drift(&self) -> Arc<DriftReport> {
        let start = Instant::now();
        let parts = self.frozen_parts();
        let plan = self.column_plan(parts.as_ref());
        let moving = parts.as_ref().is_some_and(|p| p.moving);
        let min_samples = self.config.drift.min_samples;
        let mut windows = Vec::with_capacity(self.config.windows.len());
        let rows = self.window_size_hint();
        let workers = evaluation_workers(rows);
        for (w, wc) in self.config.windows.iter().enumerate() {
            let judge = |(spec, source): &(ColumnSpec, Source)| {
                let mut data = self.copy_column(w, *source, moving, rows);
                if !moving {
                    // Borrow the frozen reference column, if the reference is complete.
                    let set = match source {
                        Source::Label => parts.as_ref().and_then(|p| p.labels.as_deref()),
                        _ => parts.as_ref().and_then(|p| p.features.as_deref()),
                    };
                    attach_frozen(&mut data, set, *source);
                }
                if let ColumnData::Categorical {
                    current,
                    reference,
                    names,
                } = &mut data
                {
                    let len = current
                        .counts
                        .len()
                        .max(reference.as_ref().map_or(0, |r| r.counts.len()));
                    *names = self.category_names(*source, len);
                }
                compare(spec, &data, min_samples)
            };
            // Columns are independent: on large windows they are judged on several threads at once.
            let columns: Vec<_> = if workers > 1 {
                let chunk = plan.len().div_ceil(workers);
                std::thread::scope(|scope| {
                    let handles: Vec<_> = plan
                        .chunks(chunk)
                        .map(|part| scope.spawn(move || part.iter().map(judge).collect::<Vec<_>>()))
                        .collect();
                    handles
                        .into_iter()
                        .flat_map(|h| h.join().expect("a drift worker panicked"))
                        .collect()
                })
            } else {
                plan.iter().map(judge).collect()
            };
            windows.push(decide(&wc.name, columns, &self.config.drift));
        }
        let report = Arc::new(DriftReport {
            evaluated_at: self.clock.now_secs(),
            duration: start.elapsed().as_secs_f64(),
            windows,
        });
        self.drift.store(Some(report.clone()));
        report
    }
}

/// Threads for one evaluation: one below ~20,000 values per column (spawning would cost more than it
/// saves), otherwise up to the available cores, at most four.
fn evaluation_workers(values_per_column: usize) -> usize {
    if values_per_column < 20_000 {
        return 1;
    }
    std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
}

/// Points a column's reference at the matching column of a frozen set.
fn attach_frozen<'a>(data: &mut ColumnData<'a>, set: Option<&'a ColumnSet>, source: Source) {
    let Some(set) = set else { return };
    match (data, source) {
        (ColumnData::Numeric { reference, .. }, Source::Numeric(i)) => {
            *reference = set.numeric.get(i).map(Cow::Borrowed);
        }
        (ColumnData::Numeric { reference, .. }, Source::Label) => {
            *reference = set.numeric.first().map(Cow::Borrowed);
        }
        (ColumnData::Categorical { reference, .. }, Source::Categorical(i)) => {
            *reference = set.categorical.get(i).map(Cow::Borrowed);
        }
        (ColumnData::Categorical { reference, .. }, Source::Label) => {
            *reference = set.categorical.first().map(Cow::Borrowed);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::super::{Model, ReferenceState, WarmupSide};
    use crate::clock::Clock;
    use crate::config::{Config, Limits};
    use crate::event::{BodyFormat, Parser};
    use crate::telemetry::Telemetry;

    const CONFIG: &str = r#"
[[model]]
name = "m"
task = "binary_classification"
[model.reference]
warmup = 50
[[model.window]]
name = "w"
events = 100
[[model.feature]]
name = "x"
type = "numeric"
"#;

    fn model() -> Model {
        let config = Config::parse(CONFIG).unwrap();
        Model::new(
            Arc::new(config.models[0].clone()),
            &Telemetry::new(),
            Clock::new(),
        )
    }

    fn post(model: &Model, from: usize, n: usize) {
        let body: String = (from..from + n)
            .map(|i| format!("{{\"score\":0.5,\"label\":1,\"features\":{{\"x\":{i}}}}}\n"))
            .collect();
        let batch = Parser {
            schema: &model.schema,
            interners: &model.interners,
            limits: Limits::default(),
            now_ns: Clock::new().now_ns(),
            latest_ts_ns: i64::MAX,
        }
        .predictions(body.as_bytes(), BodyFormat::Ndjson)
        .unwrap();
        assert_eq!(model.ingest_predictions(batch).accepted, n);
    }

    fn sides(model: &Model) -> (&'static str, &'static str) {
        let name = |s: &WarmupSide| match s {
            WarmupSide::Collecting(_) => "collecting",
            WarmupSide::Complete(_) => "complete",
            WarmupSide::Frozen(_) => "frozen",
        };
        match &model.state.lock().reference {
            ReferenceState::Warmup(w) => (name(&w.predictions), name(&w.labels)),
            _ => panic!("a warmup reference"),
        }
    }

    /// Completing a warmup sorts nothing under the model lock: ingest only moves the complete rows
    /// aside, and the next evaluation freezes them into sorted columns outside the lock.
    #[test]
    fn a_completed_warmup_is_frozen_by_the_evaluation_not_by_ingest() {
        let m = model();
        post(&m, 0, 49);
        assert_eq!(sides(&m), ("collecting", "collecting"));
        post(&m, 49, 1);
        assert_eq!(sides(&m), ("complete", "complete"));
        let info = m.reference_info().unwrap();
        assert!(info.ready);
        assert_eq!((info.samples, info.label_samples), (50, 50));
        let report = m.evaluate_drift();
        assert_eq!(sides(&m), ("frozen", "frozen"));
        let x = report.windows[0]
            .columns
            .iter()
            .find(|c| c.name == "x")
            .expect("the feature is judged against the frozen warmup");
        assert_eq!(x.reference, 50);
        // Later rows never reach the frozen reference.
        post(&m, 50, 10);
        assert_eq!(m.reference_info().unwrap().samples, 50);
    }

    /// A snapshot taken between completion and freezing keeps the rows, and the restored side is
    /// complete again, so the next evaluation freezes the same reference.
    #[test]
    fn a_complete_but_unfrozen_warmup_survives_a_snapshot() {
        let m = model();
        post(&m, 0, 50);
        assert_eq!(sides(&m), ("complete", "complete"));
        let data = m.export();
        let restored = model();
        assert!(restored.import(&data, true).is_empty());
        assert_eq!(sides(&restored), ("complete", "complete"));
        restored.evaluate_drift();
        assert_eq!(sides(&restored), ("frozen", "frozen"));
        assert_eq!(restored.reference_info().unwrap().samples, 50);
    }
}
