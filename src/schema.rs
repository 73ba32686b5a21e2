//! A model's schema: how JSON feature names, class values and the model's own prediction map onto window
//! columns, and the kinds of violation of it that are counted. Built once from the config; ingest
//! consults it for every event, so lookups are hash-based.

use rustc_hash::FxHashMap;

use parking_lot::RwLock;

use crate::config::{FeatureKind, ModelConfig, Task};
use crate::window::columns::Layout;

/// Name of the bucket that categorical values beyond the cap fall into.
pub const OTHER_CATEGORY: &str = "__other__";

/// Where a configured feature lands in a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    Numeric(usize),
    Categorical(usize),
}

#[derive(Debug)]
pub struct Schema {
    pub task: Task,
    pub classes: Vec<String>,
    class_index: FxHashMap<String, u32>,
    pub threshold: f64,
    feature_index: FxHashMap<String, usize>,
    names: Vec<String>,
    /// Slot of each configured feature, in config order.
    pub slots: Vec<Slot>,
    /// Layout of a prediction row: the numeric features, then a numeric prediction column (binary score or
    /// regression prediction) if any; the categorical features, then a categorical prediction column
    /// (predicted class) if any.
    pub layout: Layout,
    pub prediction_numeric: Option<usize>,
    pub prediction_categorical: Option<usize>,
    /// Layout of a label row: one categorical column for classifiers, one numeric for regression.
    pub label_layout: Layout,
    pub numeric_features: usize,
    pub categorical_features: usize,
}

impl Schema {
    pub fn new(config: &ModelConfig) -> Schema {
        let mut slots = Vec::with_capacity(config.features.len());
        let (mut n_num, mut n_cat) = (0, 0);
        for f in &config.features {
            match f.kind {
                FeatureKind::Numeric => {
                    slots.push(Slot::Numeric(n_num));
                    n_num += 1;
                }
                FeatureKind::Categorical => {
                    slots.push(Slot::Categorical(n_cat));
                    n_cat += 1;
                }
            }
        }
        let (prediction_numeric, prediction_categorical) = match config.task {
            Task::BinaryClassification => (Some(n_num), Some(n_cat)),
            Task::MulticlassClassification => (None, Some(n_cat)),
            Task::Regression => (Some(n_num), None),
        };
        let layout = Layout {
            numeric: n_num + prediction_numeric.is_some() as usize,
            categorical: n_cat + prediction_categorical.is_some() as usize,
        };
        let label_layout = if config.task.is_classification() {
            Layout {
                numeric: 0,
                categorical: 1,
            }
        } else {
            Layout {
                numeric: 1,
                categorical: 0,
            }
        };
        Schema {
            task: config.task,
            classes: config.classes.clone(),
            class_index: config
                .classes
                .iter()
                .enumerate()
                .map(|(i, c)| (c.clone(), i as u32))
                .collect(),
            threshold: config.threshold,
            feature_index: config
                .features
                .iter()
                .enumerate()
                .map(|(i, f)| (f.name.clone(), i))
                .collect(),
            names: config.features.iter().map(|f| f.name.clone()).collect(),
            slots,
            layout,
            prediction_numeric,
            prediction_categorical,
            label_layout,
            numeric_features: n_num,
            categorical_features: n_cat,
        }
    }

    /// Index of a configured feature by its JSON name.
    pub fn feature(&self, name: &str) -> Option<usize> {
        self.feature_index.get(name).copied()
    }

    /// Names of the configured features, in config order.
    pub fn feature_names(&self) -> &[String] {
        &self.names
    }

    /// Index of a class by its canonical string.
    pub fn class(&self, canonical: &str) -> Option<u32> {
        self.class_index.get(canonical).copied()
    }
}

/// Lookups here run for every feature of every event; the keys are short strings chosen by the
/// config or bounded by the cap, so a fast non-cryptographic hash (Fx) is the right trade-off.
///
/// Maps the values of one categorical feature to dense ids, remembering at most `cap` distinct values.
/// Later values share the id of `__other__`, so neither memory nor the number of categories grows with
/// hostile input.
#[derive(Debug, Clone)]
pub struct Interner {
    ids: FxHashMap<Box<str>, u32>,
    names: Vec<Box<str>>,
    cap: usize,
    other: Option<u32>,
}

impl Interner {
    pub fn new(cap: usize) -> Self {
        Interner {
            ids: FxHashMap::default(),
            names: Vec::new(),
            cap,
            other: None,
        }
    }

    pub fn get(&self, value: &str) -> Option<u32> {
        self.ids.get(value).copied()
    }

    /// The id of `value`, adding it if there is room, else the id of `__other__`.
    pub fn intern(&mut self, value: &str) -> u32 {
        if let Some(id) = self.ids.get(value) {
            return *id;
        }
        if self.names.len() < self.cap {
            return self.insert(value);
        }
        match self.other {
            Some(id) => id,
            None => {
                let id = self
                    .get(OTHER_CATEGORY)
                    .unwrap_or_else(|| self.insert(OTHER_CATEGORY));
                self.other = Some(id);
                id
            }
        }
    }

    fn insert(&mut self, value: &str) -> u32 {
        let id = self.names.len() as u32;
        self.names.push(value.into());
        self.ids.insert(value.into(), id);
        id
    }

    pub fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }

    pub fn len(&self) -> usize {
        self.names.len()
    }
}

/// One interner per categorical feature, each behind its own lock: ingest takes a read lock per value
/// and a write lock only for a value never seen before.
pub struct Interners(Vec<RwLock<Interner>>);

impl Interners {
    pub fn new(n: usize, cap: usize) -> Self {
        Interners((0..n).map(|_| RwLock::new(Interner::new(cap))).collect())
    }

    pub fn intern(&self, column: usize, value: &str) -> u32 {
        if let Some(id) = self.0[column].read().get(value) {
            return id;
        }
        self.0[column].write().intern(value)
    }

    pub fn get(&self, column: usize, value: &str) -> Option<u32> {
        self.0[column].read().get(value)
    }

    pub fn name(&self, column: usize, id: u32) -> String {
        self.0[column].read().name(id).to_string()
    }

    pub fn len(&self, column: usize) -> usize {
        self.0[column].read().len()
    }

    /// Every column's values in id order, for snapshots.
    pub fn export(&self) -> Vec<Vec<String>> {
        self.0
            .iter()
            .map(|i| {
                let i = i.read();
                (0..i.len())
                    .map(|id| i.name(id as u32).to_string())
                    .collect()
            })
            .collect()
    }

    /// A private copy to parse a reference into: values new to the model get ids in the copy only, so a
    /// rejected reference leaves no trace here. `commit` brings the new values over.
    pub fn staging(&self) -> Interners {
        Interners(
            self.0
                .iter()
                .map(|i| RwLock::new(i.read().clone()))
                .collect(),
        )
    }

    /// Interns the values a staging copy (made by `staging`) added, in its id order, and returns per
    /// column the model's id of every staging id. The two agree on every id the copy started with
    /// (interners only append); values the model learnt meanwhile may give the new ones other ids.
    pub fn commit(&self, staged: &Interners) -> Vec<Vec<u32>> {
        self.0
            .iter()
            .zip(&staged.0)
            .map(|(live, staged)| {
                let staged = staged.read();
                let mut live = live.write();
                (0..staged.len() as u32)
                    .map(|id| {
                        let name = staged.name(id);
                        live.get(name).unwrap_or_else(|| live.intern(name))
                    })
                    .collect()
            })
            .collect()
    }

    /// Re-interns exported values in order into empty interners, so ids come out the same.
    pub fn import(&self, columns: &[Vec<String>]) {
        for (interner, names) in self.0.iter().zip(columns) {
            let mut i = interner.write();
            for name in names {
                i.intern(name);
            }
        }
    }
}

/// Kinds of schema violation, counted per feature in `modelwatch_schema_violations_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Violation {
    TypeMismatch,
    UnknownFeature,
    NonFinite,
}

impl Violation {
    pub const ALL: [Violation; 3] = [
        Violation::TypeMismatch,
        Violation::UnknownFeature,
        Violation::NonFinite,
    ];

    pub fn parse(s: &str) -> Option<Violation> {
        Violation::ALL.into_iter().find(|v| v.as_str() == s)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Violation::TypeMismatch => "type_mismatch",
            Violation::UnknownFeature => "unknown_feature",
            Violation::NonFinite => "non_finite",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interner_caps_distinct_values() {
        let mut i = Interner::new(2);
        let a = i.intern("a");
        let b = i.intern("b");
        let c = i.intern("c");
        let d = i.intern("d");
        assert_eq!((a, b), (0, 1));
        assert_eq!(c, d);
        assert_eq!(i.name(c), OTHER_CATEGORY);
        assert_eq!(i.intern("a"), 0);
        assert_eq!(i.len(), 3);
    }

    #[test]
    fn schema_layout_adds_prediction_columns() {
        let c = crate::config::Config::default_config();
        let s = Schema::new(&c.models[0]);
        assert_eq!(s.layout.numeric, 5);
        assert_eq!(s.layout.categorical, 3);
        assert_eq!(s.prediction_numeric, Some(4));
        assert_eq!(s.prediction_categorical, Some(2));
        assert_eq!(s.class("1"), Some(1));
        assert_eq!(s.feature("country"), Some(4));
        assert_eq!(s.slots[4], Slot::Categorical(0));
    }
}
