//! A model's state as plain data, for snapshots and for carrying state across a config reload.
//!
//! The snapshot is semantic, not structural: windows are stored as their rows in eviction order and
//! rebuilt by pushing them again, so the derived structures (category counts, the ROC AUC
//! statistic) are rebuilt exactly and the format does not depend on their layout. A model whose schema
//! changed keeps what still fits: windows are matched by name and skipped if their rows no longer fit.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::{Model, Pending, ReferenceState, Warmup};
use crate::drift::columns::ColumnSet;
use crate::drift::reference::FrozenReference;
use crate::error::EventCode;
use crate::event::Predicted;
use crate::window::columns::Rows;
use crate::window::metric::Outcome;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WindowData {
    pub name: String,
    pub samples: Vec<(i64, Outcome)>,
    pub predictions: Rows,
    pub labels: Rows,
    pub previous_predictions: Option<Rows>,
    pub previous_labels: Option<Rows>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingData {
    pub id: String,
    /// Wall-clock arrival (Unix ns), so time spent down counts against `label_ttl`.
    pub arrival_wall: i64,
    pub ts: i64,
    pub predicted: Predicted,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum ReferenceData {
    None,
    Frozen(FrozenReference),
    Warmup(Box<WarmupData>),
    Moving,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WarmupData {
    pub target: usize,
    pub predictions: Rows,
    pub labels: Rows,
    pub features: Option<ColumnSet>,
    pub label_set: Option<ColumnSet>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Counters {
    pub predictions: u64,
    pub labels: u64,
    pub unmatched: u64,
    pub expired: u64,
    pub errors: u64,
    /// (error code, count)
    pub rejected: Vec<(String, u64)>,
    /// (feature index or None for unknown features, kind, count)
    pub violations: Vec<(Option<u32>, String, u64)>,
}

/// Everything a model holds, detached.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelData {
    pub name: String,
    /// Layout fingerprint: feature names and types, task and classes. Rows and category ids are only
    /// restored into a model with the same fingerprint.
    pub fingerprint: String,
    pub interners: Vec<Vec<String>>,
    pub windows: Vec<WindowData>,
    pub pending: Vec<PendingData>,
    pub reference: ReferenceData,
    pub counters: Counters,
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

    /// Copies the model's state. The lock is taken per window, so ingest waits at most for one copy.
    pub fn export(&self) -> ModelData {
        let now_wall = self.clock.now_ns();
        let now_mono = self.clock.monotonic_ns();
        let mut windows = Vec::with_capacity(self.config.windows.len());
        for i in 0..self.config.windows.len() {
            let state = self.state.lock();
            let w = &state.windows[i];
            windows.push(WindowData {
                name: w.config.name.clone(),
                samples: w.metric.export(),
                predictions: w.predictions.export(),
                labels: w.labels.export(),
                previous_predictions: w.predictions.previous().map(|p| p.export()),
                previous_labels: w.labels.previous().map(|p| p.export()),
            });
        }
        let (pending, reference) = {
            let state = self.state.lock();
            let pending = state
                .pending
                .iter()
                .map(|(id, p)| PendingData {
                    id: id.to_string(),
                    arrival_wall: now_wall - (now_mono - p.arrival),
                    ts: p.ts,
                    predicted: p.predicted.clone(),
                })
                .collect();
            let reference = match &state.reference {
                ReferenceState::None => ReferenceData::None,
                ReferenceState::Frozen(r) => ReferenceData::Frozen((**r).clone()),
                ReferenceState::Warmup(w) => ReferenceData::Warmup(Box::new(WarmupData {
                    target: w.target,
                    predictions: w.predictions.export(),
                    labels: w.labels.export(),
                    features: w.features.as_deref().cloned(),
                    label_set: w.label_set.as_deref().cloned(),
                })),
                ReferenceState::Moving => ReferenceData::Moving,
            };
            (pending, reference)
        };
        let t = &self.telemetry;
        let counters = Counters {
            predictions: t.predictions.get(),
            labels: t.labels.get(),
            unmatched: t.unmatched.get(),
            expired: t.expired.get(),
            errors: t.errors.get(),
            rejected: EventCode::ALL
                .iter()
                .map(|c| (c.as_str().to_string(), t.rejected(*c).get()))
                .filter(|(_, n)| *n > 0)
                .collect(),
            violations: t.violation_counts(),
        };
        ModelData {
            name: self.config.name.clone(),
            fingerprint: self.fingerprint(),
            interners: self.interners.export(),
            windows,
            pending,
            reference,
            counters,
        }
    }

    /// Loads exported state into this (fresh) model. Counters are added, so a restart does not look
    /// like a counter reset to `rate()`. Returns a note for each part that did not fit.
    pub fn import(&self, data: &ModelData, with_counters: bool) -> Vec<String> {
        let mut notes = Vec::new();
        if with_counters {
            self.import_counters(&data.counters);
        }
        if data.fingerprint != self.fingerprint() {
            notes.push(
                "its features, task or classes changed: windows and reference start empty"
                    .to_string(),
            );
            return notes;
        }
        self.interners.import(&data.interners);
        let now = self.clock.now_ns();
        let mono = self.clock.monotonic_ns();
        let mut state = self.state.lock();
        for wd in &data.windows {
            let Some(w) = state.windows.iter_mut().find(|w| w.config.name == wd.name) else {
                notes.push(format!("window {:?} is no longer configured", wd.name));
                continue;
            };
            // The previous stage first, so rows the window pushes out land behind them.
            if let (Some(rows), Some(_)) = (&wd.previous_predictions, w.predictions.previous()) {
                w.predictions.import_previous(rows, now);
            }
            if let (Some(rows), Some(_)) = (&wd.previous_labels, w.labels.previous()) {
                w.labels.import_previous(rows, now);
            }
            w.predictions.import(&wd.predictions, now);
            w.labels.import(&wd.labels, now);
            for (ts, o) in &wd.samples {
                w.metric.push(*ts, o.clone(), now);
            }
        }
        for p in &data.pending {
            let age = (now - p.arrival_wall).max(0);
            state.pending.insert(
                p.id.clone().into_boxed_str(),
                Pending {
                    arrival: mono - age,
                    ts: p.ts,
                    predicted: p.predicted.clone(),
                },
            );
        }
        while state.pending.len() > self.config.max_pending {
            state.pending.pop_front();
        }
        // A reference is restored only if the config still asks for the same kind of reference; a file
        // reference is reloaded from its file at start, and an uploaded one has no file to come from.
        match (&data.reference, &mut state.reference) {
            (ReferenceData::Frozen(r), ReferenceState::None | ReferenceState::Frozen(_))
                if r.source == crate::drift::reference::ReferenceSource::Api =>
            {
                state.reference = ReferenceState::Frozen(Arc::new(r.clone()));
            }
            (ReferenceData::Warmup(data), ReferenceState::Warmup(w)) if data.target == w.target => {
                let mut restored = Warmup::new(data.target, &self.schema);
                restored.predictions.import(&data.predictions, now);
                restored.labels.import(&data.labels, now);
                restored.features = data.features.clone().map(Arc::new);
                restored.label_set = data.label_set.clone().map(Arc::new);
                **w = restored;
            }
            _ => {}
        }
        notes
    }

    fn import_counters(&self, c: &Counters) {
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
        for (feature, kind, n) in &c.violations {
            if feature.is_some_and(|f| f as usize >= self.config.features.len()) {
                continue;
            }
            if let Some(kind) = crate::event::Violation::parse(kind) {
                t.violation(*feature, kind).inc_by(*n);
            }
        }
    }
}
