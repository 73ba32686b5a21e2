//! A model's state as transfer data (`snapshot`), for snapshots and for carrying state across a config
//! reload.
//!
//! Export takes one cut: the windows, the pending labels, the reference and the counters of what they
//! hold are copied under one acquisition of the model lock, so that a restored model's counters agree
//! with its windows. Everything is converted to transfer types after the lock is released.
//!
//! Import is semantic: window rows are pushed again in eviction order, so the derived structures (category
//! counts, the ROC AUC statistic) are rebuilt exactly. A model whose schema changed keeps what
//! still fits; every part that is not restored comes back as a note saying why.

use std::sync::Arc;

use super::{Model, ModelState, Pending, ReferenceState, WarmupSide};
use crate::config::ReferenceConfig;
use crate::drift::reference::{FrozenReference, ReferenceSource};
use crate::error::EventCode;
use crate::schema::Violation;
use crate::snapshot;
use crate::window::columns::Rows;
use crate::window::metric::Outcome;

/// What one window held at the cut, before conversion.
struct WindowCut {
    name: String,
    samples: Vec<(i64, Outcome)>,
    predictions: Rows,
    labels: Rows,
    previous_predictions: Option<Rows>,
    previous_labels: Option<Rows>,
}

/// What `export` copies under the lock.
struct Cut {
    windows: Vec<WindowCut>,
    pending: Vec<snapshot::Pending>,
    reference: ReferenceCut,
    counters: snapshot::Counters,
}

enum ReferenceCut {
    None,
    Frozen(Arc<FrozenReference>),
    Warmup(Box<snapshot::Warmup>),
    Moving,
}

/// Optional rows converted, or `None` if they are malformed.
fn optional(rows: &Option<snapshot::Rows>) -> Option<Option<Rows>> {
    match rows {
        None => Some(None),
        Some(r) => r.to_internal().map(Some),
    }
}

fn setting_of(config: &Option<ReferenceConfig>) -> snapshot::ReferenceSetting {
    match config {
        None => snapshot::ReferenceSetting::None,
        Some(ReferenceConfig::Path(p)) => snapshot::ReferenceSetting::File {
            path: p.display().to_string(),
        },
        Some(ReferenceConfig::Warmup(n)) => {
            snapshot::ReferenceSetting::Warmup { target: *n as u64 }
        }
        Some(ReferenceConfig::Moving) => snapshot::ReferenceSetting::Moving,
    }
}

fn describe(setting: &snapshot::ReferenceSetting) -> String {
    match setting {
        snapshot::ReferenceSetting::None => "no reference".to_string(),
        snapshot::ReferenceSetting::File { path } => format!("path = {path:?}"),
        snapshot::ReferenceSetting::Warmup { target } => format!("warmup = {target}"),
        snapshot::ReferenceSetting::Moving => "moving = true".to_string(),
        snapshot::ReferenceSetting::Unknown => "unknown".to_string(),
    }
}

impl Model {
    /// What rows and ids of this model mean: if it changes, restored rows would be misread.
    pub fn fingerprint(&self) -> String {
        let c = &self.config;
        let features: Vec<String> = c
            .features
            .iter()
            .map(|f| format!("{}:{}", f.name, f.kind.as_str()))
            .collect();
        format!(
            "{}|{}|{}",
            c.task.as_str(),
            c.classes.join(","),
            features.join(",")
        )
    }

    /// Copies the model's state in one cut (see the module docs). The lock is held for the memory copy of
    /// the windows; the conversion runs after it is released.
    pub fn export(&self) -> snapshot::Model {
        let cut = self.cut(&self.state.lock());
        self.convert(cut)
    }

    /// Copies the model's state from under its lock, which the caller holds (a reload's hand-over).
    pub(super) fn export_locked(&self, state: &ModelState) -> snapshot::Model {
        self.convert(self.cut(state))
    }

    /// The memory copy of everything a snapshot holds, taken under the model lock.
    fn cut(&self, state: &ModelState) -> Cut {
        let now_wall = self.clock.now_ns();
        let now_mono = self.clock.monotonic_ns();
        let t = &self.telemetry;
        {
            let windows: Vec<WindowCut> = state
                .windows
                .iter()
                .map(|w| WindowCut {
                    name: w.config.name.clone(),
                    samples: w.metric.export(),
                    predictions: w.predictions.export(),
                    labels: w.labels.export(),
                    previous_predictions: w.predictions.previous().map(|p| p.export()),
                    previous_labels: w.labels.previous().map(|p| p.export()),
                })
                .collect();
            let pending: Vec<snapshot::Pending> = state
                .pending
                .iter()
                .map(|(id, p)| snapshot::Pending {
                    id: id.to_string(),
                    arrival_wall_ns: now_wall - (now_mono - p.arrival),
                    ts: p.ts,
                    predicted: (&p.predicted).into(),
                })
                .collect();
            let reference = match &state.reference {
                ReferenceState::None => ReferenceCut::None,
                ReferenceState::Frozen(r) => ReferenceCut::Frozen(r.clone()),
                ReferenceState::Warmup(w) => ReferenceCut::Warmup(Box::new(snapshot::Warmup {
                    target: w.target as u64,
                    predictions: w.predictions.unfrozen_rows().into(),
                    labels: w.labels.unfrozen_rows().into(),
                    features: w.predictions.frozen().as_deref().map(Into::into),
                    label_columns: w.labels.frozen().as_deref().map(Into::into),
                })),
                ReferenceState::Moving => ReferenceCut::Moving,
            };
            // These counters change only under the model lock (see `ingest_predictions`), so here they
            // count exactly what the windows and pending labels above hold.
            let counters = snapshot::Counters {
                predictions: t.predictions.get(),
                labels: t.labels.get(),
                unmatched: t.unmatched.get(),
                expired: t.expired.get(),
                errors: t.errors.get(),
                ..Default::default()
            };
            Cut {
                windows,
                pending,
                reference,
                counters,
            }
        }
    }

    /// The transfer types of a cut, built after the lock is released.
    fn convert(&self, cut: Cut) -> snapshot::Model {
        let t = &self.telemetry;
        let Cut {
            windows,
            pending,
            reference,
            counters,
        } = cut;
        // Rejections and schema violations describe input, not window contents: read after the cut.
        let counters = snapshot::Counters {
            rejected: EventCode::ALL
                .iter()
                .map(|c| (c.as_str().to_string(), t.rejected(*c).get()))
                .filter(|(_, n)| *n > 0)
                .collect(),
            violations: t
                .violation_counts()
                .into_iter()
                .filter_map(|(feature, kind, count)| {
                    let feature = match feature {
                        Some(f) => Some(self.config.features.get(f as usize)?.name.clone()),
                        None => None,
                    };
                    Some(snapshot::ViolationCount {
                        feature,
                        kind,
                        count,
                    })
                })
                .collect(),
            ..counters
        };
        let reference = match reference {
            ReferenceCut::None => snapshot::Reference::None,
            ReferenceCut::Frozen(r) if r.source == ReferenceSource::File => {
                snapshot::Reference::File {
                    sha256: r.sha256.clone(),
                }
            }
            ReferenceCut::Frozen(r) => snapshot::Reference::Uploaded(snapshot::Frozen {
                sha256: r.sha256.clone(),
                features: r.features.as_ref().into(),
                labels: r.labels.as_deref().map(Into::into),
            }),
            ReferenceCut::Warmup(w) => snapshot::Reference::Warmup(*w),
            ReferenceCut::Moving => snapshot::Reference::Moving,
        };
        snapshot::Model {
            name: self.config.name.clone(),
            fingerprint: self.fingerprint(),
            reference_setting: setting_of(&self.config.reference),
            // Read after the cut: ids are only ever added, so every id in the rows above has its name.
            categories: self.interners.export(),
            windows: windows
                .into_iter()
                .map(|w| snapshot::Window {
                    name: w.name,
                    samples: w
                        .samples
                        .iter()
                        .map(|(ts, o)| snapshot::Sample {
                            ts: *ts,
                            outcome: o.into(),
                        })
                        .collect(),
                    predictions: w.predictions.into(),
                    labels: w.labels.into(),
                    previous_predictions: w.previous_predictions.map(Into::into),
                    previous_labels: w.previous_labels.map(Into::into),
                })
                .collect(),
            pending,
            reference,
            counters,
        }
    }

    /// Loads exported state into this (fresh) model. Counters are added when `with_counters`, so a
    /// restart does not look like a counter reset to `rate()`. Returns a note for each part that was not
    /// restored, saying why.
    pub fn import(&self, data: &snapshot::Model, with_counters: bool) -> Vec<String> {
        let mut notes = Vec::new();
        if with_counters {
            self.import_counters(&data.counters);
        }
        if data.fingerprint != self.fingerprint() {
            let mut note =
                "its features, task or classes changed: windows and pending labels start empty"
                    .to_string();
            if !matches!(
                data.reference,
                snapshot::Reference::None | snapshot::Reference::Moving
            ) {
                note.push_str(", and the reference is not restored");
            }
            notes.push(note);
            return notes;
        }
        self.interners.import(&data.categories);
        let now = self.clock.now_ns();
        let mono = self.clock.monotonic_ns();
        let mut state = self.state.lock();
        for wd in &data.windows {
            let Some(w) = state.windows.iter_mut().find(|w| w.config.name == wd.name) else {
                notes.push(format!("window {:?} is no longer configured", wd.name));
                continue;
            };
            let (
                Some(predictions),
                Some(labels),
                Some(previous_predictions),
                Some(previous_labels),
            ) = (
                wd.predictions.to_internal(),
                wd.labels.to_internal(),
                optional(&wd.previous_predictions),
                optional(&wd.previous_labels),
            )
            else {
                notes.push(format!(
                    "window {:?}: malformed rows, not restored",
                    wd.name
                ));
                continue;
            };
            // The previous stage first, so rows the window pushes out land behind them.
            if let (Some(rows), Some(_)) = (&previous_predictions, w.predictions.previous()) {
                w.predictions.import_previous(rows, now);
            }
            if let (Some(rows), Some(_)) = (&previous_labels, w.labels.previous()) {
                w.labels.import_previous(rows, now);
            }
            w.predictions.import(&predictions, now);
            w.labels.import(&labels, now);
            for s in &wd.samples {
                w.metric.push(s.ts, (&s.outcome).into(), now);
            }
        }
        for p in &data.pending {
            let age = (now - p.arrival_wall_ns).max(0);
            state.pending.insert(
                p.id.clone().into_boxed_str(),
                Pending {
                    arrival: mono - age,
                    ts: p.ts,
                    predicted: (&p.predicted).into(),
                },
            );
        }
        while state.pending.len() > self.config.max_pending {
            state.pending.pop_front();
        }
        if let Some(note) = self.import_reference(&mut state.reference, data) {
            notes.push(note);
        }
        notes
    }

    /// Restores the snapshot's reference if the config still asks the same question, or says why not.
    fn import_reference(
        &self,
        current: &mut ReferenceState,
        data: &snapshot::Model,
    ) -> Option<String> {
        let now_setting = setting_of(&self.config.reference);
        let was = &data.reference_setting;
        let changed = *was != snapshot::ReferenceSetting::Unknown && *was != now_setting;
        let why_changed = || {
            format!(
                "[model.reference] changed from {} to {}",
                describe(was),
                describe(&now_setting)
            )
        };
        match &data.reference {
            snapshot::Reference::None | snapshot::Reference::Moving => None,
            snapshot::Reference::File { sha256 } => match &*current {
                ReferenceState::Frozen(r) if r.source == ReferenceSource::File => {
                    (r.sha256 != *sha256).then(|| {
                        "the reference file changed since the snapshot: its current content is used"
                            .to_string()
                    })
                }
                _ => Some(format!(
                    "the file reference is not restored: {}",
                    why_changed()
                )),
            },
            snapshot::Reference::Uploaded(f) => {
                if matches!(current, ReferenceState::Moving) {
                    return Some(
                        "the uploaded reference is not restored: the model now compares against a \
                         moving reference"
                            .to_string(),
                    );
                }
                if changed {
                    return Some(format!(
                        "the uploaded reference is not restored: {}",
                        why_changed()
                    ));
                }
                *current = ReferenceState::Frozen(Arc::new(FrozenReference {
                    source: ReferenceSource::Api,
                    sha256: f.sha256.clone(),
                    features: f.features.to_internal(),
                    labels: f.labels.as_ref().map(|l| l.to_internal()),
                }));
                None
            }
            snapshot::Reference::Warmup(data) => {
                let ReferenceState::Warmup(w) = current else {
                    return Some(format!(
                        "the warmup reference is not restored: {}",
                        why_changed()
                    ));
                };
                if data.target != w.target as u64 {
                    return Some(format!(
                        "the warmup reference is not restored: {}; the warmup starts again",
                        why_changed()
                    ));
                }
                let (Some(predictions), Some(labels)) =
                    (data.predictions.to_internal(), data.labels.to_internal())
                else {
                    return Some(
                        "the warmup reference is not restored: malformed rows; the warmup starts again"
                            .to_string(),
                    );
                };
                let now = self.clock.now_ns();
                let target = w.target;
                w.predictions = WarmupSide::restored(
                    self.schema.layout,
                    target,
                    &predictions,
                    data.features.as_ref().map(|c| c.to_internal()),
                    now,
                );
                w.labels = WarmupSide::restored(
                    self.schema.label_layout,
                    target,
                    &labels,
                    data.label_columns.as_ref().map(|c| c.to_internal()),
                    now,
                );
                None
            }
        }
    }

    fn import_counters(&self, c: &snapshot::Counters) {
        let t = &self.telemetry;
        t.predictions.inc_by(c.predictions);
        t.labels.inc_by(c.labels);
        t.unmatched.inc_by(c.unmatched);
        t.expired.inc_by(c.expired);
        t.errors.inc_by(c.errors);
        for (code, n) in &c.rejected {
            if let Some(code) = EventCode::ALL.iter().find(|e| e.as_str() == code) {
                t.rejected(*code).inc_by(*n);
            }
        }
        for v in &c.violations {
            let Some(kind) = Violation::parse(&v.kind) else {
                continue;
            };
            let feature = match &v.feature {
                Some(name) => match self.config.features.iter().position(|f| f.name == *name) {
                    Some(i) => Some(i as u32),
                    // A feature no longer configured: its series is gone.
                    None => continue,
                },
                None => None,
            };
            t.violation(feature, kind).inc_by(v.count);
        }
    }
}
