//! Windows of labelled samples and the model metrics computed from them.
//!
//! Counts (confusion matrices) and the Mann–Whitney statistic behind ROC AUC are kept incrementally, in
//! exact integers, so they cost O(1) or O(log n) per sample and never drift. Log loss is kept as the
//! exact sum of its per-sample terms (`ExactSum`: adding a term and later removing it gives back the
//! sum before, bit for bit), so classification metrics cost O(1) to read and a scrape does not depend
//! on the window's length. Regression errors are computed from a copy of the window taken under the
//! model lock and evaluated after the lock is released.

use super::queue::{EvictionQueue, Policy};
use super::sorted::SortedList;
use crate::config::Task;
use crate::stats::exact_sum::ExactSum;
use crate::stats::metrics::{
    BinaryCounts, Confusion, RegressionMetrics, binary_log_loss_term, log_loss_from_sum,
    multiclass_log_loss_term, regression_metrics, roc_auc_from_u2,
};

/// What a labelled sample contributes to the model metrics.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum Outcome {
    Binary {
        predicted_positive: bool,
        actual_positive: bool,
        /// Probability of the positive class; NaN when the event carried no score.
        score: f64,
    },
    Multiclass {
        predicted: u32,
        actual: u32,
        /// Probabilities in the order of the configured classes, when the event carried `scores`.
        probs: Option<Box<[f64]>>,
    },
    Regression {
        predicted: f64,
        actual: f64,
    },
}

/// Incremental binary state: confusion counts, the scores of positive and negative samples kept
/// sorted so that twice the Mann–Whitney U (`u2`) can be updated in O(log n) per sample, and the exact
/// sum of the log-loss terms of the scored samples.
#[derive(Debug)]
struct BinaryState {
    counts: BinaryCounts,
    pos_scores: SortedList,
    neg_scores: SortedList,
    u2: u128,
    loss: ExactSum,
}

impl Default for BinaryState {
    fn default() -> Self {
        BinaryState {
            counts: BinaryCounts::default(),
            pos_scores: SortedList::new(),
            neg_scores: SortedList::new(),
            u2: 0,
            loss: ExactSum::new(),
        }
    }
}

impl BinaryState {
    /// 2U contribution of a positive sample with score `s` against the negatives: each negative with a
    /// lower score counts 2, each tie counts 1 (ties are half a win, as in ROC AUC's trapezoids).
    fn pos_contribution(&self, s: f64) -> u128 {
        let lt = self.neg_scores.count_lt(s);
        let le = self.neg_scores.count_le(s);
        (2 * lt + (le - lt)) as u128
    }

    /// 2U contribution of a negative sample with score `s` against the positives (those scored higher).
    fn neg_contribution(&self, s: f64) -> u128 {
        let lt = self.pos_scores.count_lt(s);
        let le = self.pos_scores.count_le(s);
        let gt = self.pos_scores.len() - le;
        (2 * gt + (le - lt)) as u128
    }

    fn add(&mut self, predicted_positive: bool, actual_positive: bool, score: f64) {
        bump(&mut self.counts, predicted_positive, actual_positive, true);
        if score.is_nan() {
            return;
        }
        self.loss.add(binary_log_loss_term(score, actual_positive));
        if actual_positive {
            self.u2 += self.pos_contribution(score);
            self.pos_scores.insert(score);
        } else {
            self.u2 += self.neg_contribution(score);
            self.neg_scores.insert(score);
        }
    }

    fn remove(&mut self, predicted_positive: bool, actual_positive: bool, score: f64) {
        bump(&mut self.counts, predicted_positive, actual_positive, false);
        if score.is_nan() {
            return;
        }
        self.loss
            .remove(binary_log_loss_term(score, actual_positive));
        if actual_positive {
            self.pos_scores.remove(score);
            self.u2 -= self.pos_contribution(score);
        } else {
            self.neg_scores.remove(score);
            self.u2 -= self.neg_contribution(score);
        }
    }
}

fn bump(c: &mut BinaryCounts, predicted: bool, actual: bool, add: bool) {
    let cell = match (actual, predicted) {
        (true, true) => &mut c.tp,
        (false, true) => &mut c.fp,
        (false, false) => &mut c.tn,
        (true, false) => &mut c.fn_,
    };
    if add {
        *cell += 1;
    } else {
        *cell -= 1;
    }
}

/// Incremental multiclass state: the confusion matrix, and the exact sum of the log-loss terms of the
/// samples that carried probabilities.
#[derive(Debug)]
struct MulticlassState {
    confusion: Confusion,
    loss: ExactSum,
    scored: u64,
}

enum State {
    Binary(BinaryState),
    Multiclass(MulticlassState),
    Regression,
}

pub struct MetricWindow {
    samples: Samples,
    state: State,
}

/// A binary sample as a window keeps it: 16 bytes, where an `Outcome` takes 32 (its multiclass form
/// holds a boxed slice). Binary windows are the common case, and at a million samples the difference
/// is 16 MB.
#[derive(Debug, Clone, Copy)]
struct BinarySample {
    score: f64,
    predicted_positive: bool,
    actual_positive: bool,
}

impl From<BinarySample> for Outcome {
    fn from(s: BinarySample) -> Self {
        Outcome::Binary {
            predicted_positive: s.predicted_positive,
            actual_positive: s.actual_positive,
            score: s.score,
        }
    }
}

/// The samples in eviction order, with a reusable buffer for the evicted ones.
enum Samples {
    Binary(EvictionQueue<BinarySample>, Vec<(i64, BinarySample)>),
    Other(EvictionQueue<Outcome>, Vec<(i64, Outcome)>),
}

impl MetricWindow {
    pub fn new(task: Task, n_classes: usize, policy: Policy) -> Self {
        let state = match task {
            Task::BinaryClassification => State::Binary(BinaryState::default()),
            Task::MulticlassClassification => State::Multiclass(MulticlassState {
                confusion: Confusion::new(n_classes),
                loss: ExactSum::new(),
                scored: 0,
            }),
            Task::Regression => State::Regression,
        };
        let samples = match task {
            Task::BinaryClassification => Samples::Binary(EvictionQueue::new(policy), Vec::new()),
            _ => Samples::Other(EvictionQueue::new(policy), Vec::new()),
        };
        MetricWindow { samples, state }
    }

    pub fn len(&self) -> usize {
        match &self.samples {
            Samples::Binary(q, _) => q.len(),
            Samples::Other(q, _) => q.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Adds a labelled sample whose prediction was made at `ts`.
    pub fn push(&mut self, ts: i64, outcome: Outcome, now: i64) {
        let MetricWindow { samples, state } = self;
        match samples {
            Samples::Binary(q, evicted) => {
                let Outcome::Binary {
                    predicted_positive,
                    actual_positive,
                    score,
                } = outcome
                else {
                    debug_assert!(false, "outcome does not match the window's task");
                    return;
                };
                if !q.admits(ts, now) {
                    return;
                }
                apply(state, &outcome, true);
                let sample = BinarySample {
                    score,
                    predicted_positive,
                    actual_positive,
                };
                q.push(ts, sample, evicted);
                q.expire(now, evicted);
                for (_, s) in evicted.drain(..) {
                    apply(state, &s.into(), false);
                }
            }
            Samples::Other(q, evicted) => {
                if !q.admits(ts, now) {
                    return;
                }
                apply(state, &outcome, true);
                q.push(ts, outcome, evicted);
                q.expire(now, evicted);
                for (_, o) in evicted.drain(..) {
                    apply(state, &o, false);
                }
            }
        }
    }

    pub fn expire(&mut self, now: i64) {
        let MetricWindow { samples, state } = self;
        match samples {
            Samples::Binary(q, evicted) => {
                q.expire(now, evicted);
                for (_, s) in evicted.drain(..) {
                    apply(state, &s.into(), false);
                }
            }
            Samples::Other(q, evicted) => {
                q.expire(now, evicted);
                for (_, o) in evicted.drain(..) {
                    apply(state, &o, false);
                }
            }
        }
    }

    /// Calls `f` on every sample, in eviction order for count windows.
    fn for_each(&self, mut f: impl FnMut(i64, &Outcome)) {
        match &self.samples {
            Samples::Binary(q, _) => q.for_each(|ts, s| f(ts, &(*s).into())),
            Samples::Other(q, _) => q.for_each(|ts, o| f(ts, o)),
        }
    }
}

/// Adds a sample to the incremental state of a window, or takes it out.
fn apply(state: &mut State, outcome: &Outcome, add: bool) {
    match (state, outcome) {
        (
            State::Binary(b),
            Outcome::Binary {
                predicted_positive,
                actual_positive,
                score,
            },
        ) => {
            if add {
                b.add(*predicted_positive, *actual_positive, *score);
            } else {
                b.remove(*predicted_positive, *actual_positive, *score);
            }
        }
        (
            State::Multiclass(m),
            Outcome::Multiclass {
                predicted,
                actual,
                probs,
            },
        ) => {
            let term = probs
                .as_ref()
                .map(|p| multiclass_log_loss_term(p[*actual as usize]));
            if add {
                m.confusion.add(*actual as usize, *predicted as usize);
                if let Some(t) = term {
                    m.loss.add(t);
                    m.scored += 1;
                }
            } else {
                m.confusion.remove(*actual as usize, *predicted as usize);
                if let Some(t) = term {
                    m.loss.remove(t);
                    m.scored -= 1;
                }
            }
        }
        (State::Regression, Outcome::Regression { .. }) => {}
        _ => debug_assert!(false, "outcome does not match the window's task"),
    }
}

impl MetricWindow {
    /// The samples in eviction order, for snapshots.
    pub fn export(&self) -> Vec<(i64, Outcome)> {
        let mut out = Vec::with_capacity(self.len());
        self.for_each(|ts, o| out.push((ts, o.clone())));
        out
    }

    /// Copies what the metrics need. Call under the model lock; evaluate the result after releasing it.
    /// Classification windows copy a few counters; regression windows copy their samples.
    pub fn snapshot(&self) -> MetricInputs {
        match &self.state {
            State::Binary(b) => MetricInputs::Binary {
                counts: b.counts,
                u2: b.u2,
                n_pos: b.pos_scores.len() as u64,
                n_neg: b.neg_scores.len() as u64,
                loss_sum: b.loss.value(),
            },
            State::Multiclass(m) => MetricInputs::Multiclass {
                confusion: m.confusion.clone(),
                loss_sum: m.loss.value(),
                scored: m.scored,
            },
            State::Regression => {
                let mut actual = Vec::with_capacity(self.len());
                let mut predicted = Vec::with_capacity(self.len());
                self.for_each(|_, o| {
                    if let Outcome::Regression {
                        predicted: p,
                        actual: a,
                    } = o
                    {
                        actual.push(*a);
                        predicted.push(*p);
                    }
                });
                MetricInputs::Regression { actual, predicted }
            }
        }
    }
}

/// A copy of a window's state, detached from the lock.
#[derive(Debug, Clone)]
pub enum MetricInputs {
    Binary {
        counts: BinaryCounts,
        u2: u128,
        /// Scored samples labelled positive and negative.
        n_pos: u64,
        n_neg: u64,
        /// Sum of the scored samples' log-loss terms.
        loss_sum: f64,
    },
    Multiclass {
        confusion: Confusion,
        /// Sum of the log-loss terms of the samples that carried probabilities, and their number.
        loss_sum: f64,
        scored: u64,
    },
    Regression {
        actual: Vec<f64>,
        predicted: Vec<f64>,
    },
}

/// Metrics of one window. Undefined values are NaN.
#[derive(Debug, Clone)]
pub enum TaskMetrics {
    Binary(BinaryMetrics),
    Multiclass(MulticlassMetrics),
    Regression(RegressionMetrics),
}

#[derive(Debug, Clone)]
pub struct BinaryMetrics {
    pub counts: BinaryCounts,
    pub accuracy: f64,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub roc_auc: f64,
    pub log_loss: f64,
    pub positive_rate: f64,
    pub label_positive_rate: f64,
    /// Samples that carried a score (ROC AUC and log loss are over these).
    pub scored: u64,
}

#[derive(Debug, Clone)]
pub struct MulticlassMetrics {
    pub confusion: Confusion,
    pub accuracy: f64,
    pub precision: Vec<f64>,
    pub recall: Vec<f64>,
    pub f1: Vec<f64>,
    pub precision_macro: f64,
    pub recall_macro: f64,
    pub f1_macro: f64,
    pub f1_weighted: f64,
    pub log_loss: f64,
    pub scored: u64,
}

impl MetricInputs {
    pub fn compute(&self) -> TaskMetrics {
        match self {
            MetricInputs::Binary {
                counts,
                u2,
                n_pos,
                n_neg,
                loss_sum,
            } => TaskMetrics::Binary(BinaryMetrics {
                counts: *counts,
                accuracy: counts.accuracy(),
                precision: counts.precision(),
                recall: counts.recall(),
                f1: counts.f1(),
                roc_auc: roc_auc_from_u2(*u2, *n_pos, *n_neg),
                log_loss: log_loss_from_sum(*loss_sum, n_pos + n_neg),
                positive_rate: counts.positive_rate(),
                label_positive_rate: counts.label_positive_rate(),
                scored: n_pos + n_neg,
            }),
            MetricInputs::Multiclass {
                confusion,
                loss_sum,
                scored,
            } => TaskMetrics::Multiclass(MulticlassMetrics {
                accuracy: confusion.accuracy(),
                precision: (0..confusion.k()).map(|c| confusion.precision(c)).collect(),
                recall: (0..confusion.k()).map(|c| confusion.recall(c)).collect(),
                f1: (0..confusion.k()).map(|c| confusion.f1(c)).collect(),
                precision_macro: confusion.precision_macro(),
                recall_macro: confusion.recall_macro(),
                f1_macro: confusion.f1_macro(),
                f1_weighted: confusion.f1_weighted(),
                log_loss: log_loss_from_sum(*loss_sum, *scored),
                scored: *scored,
                confusion: confusion.clone(),
            }),
            MetricInputs::Regression { actual, predicted } => {
                TaskMetrics::Regression(regression_metrics(actual, predicted))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::metrics::{binary_log_loss, mann_whitney_u2_sorted, multiclass_log_loss};
    use crate::testing::Lcg;

    /// Equal within 1e-13 relative (the running sum is exact, numpy's pairwise sum is not), or both NaN.
    fn close(a: f64, b: f64) -> bool {
        (a.is_nan() && b.is_nan()) || ((a - b) / b).abs() < 1e-13
    }

    /// ROC AUC's 2U and the running log-loss sum against a recount from the window's samples, as the
    /// window slides (ties, unscored samples, and extreme scores that clipping catches).
    #[test]
    fn incremental_state_matches_a_recount_as_the_window_slides() {
        let mut w = MetricWindow::new(Task::BinaryClassification, 2, Policy::Count(200));
        let mut rng = Lcg(7);
        for i in 0..3000 {
            // Scores on a coarse grid so ties between positives and negatives are frequent.
            let score = (rng.next() % 11) as f64 / 10.0;
            let actual = rng.next().is_multiple_of(3);
            let score = if i % 17 == 0 { f64::NAN } else { score };
            w.push(
                i,
                Outcome::Binary {
                    predicted_positive: score >= 0.5,
                    actual_positive: actual,
                    score,
                },
                i,
            );
            if i % 101 == 0 {
                let (mut pos, mut neg) = (Vec::new(), Vec::new());
                for (_, o) in w.export() {
                    let Outcome::Binary {
                        actual_positive,
                        score,
                        ..
                    } = o
                    else {
                        unreachable!()
                    };
                    if score.is_nan() {
                        continue;
                    }
                    if actual_positive { &mut pos } else { &mut neg }.push(score);
                }
                pos.sort_by(f64::total_cmp);
                neg.sort_by(f64::total_cmp);
                let inputs = w.snapshot();
                let MetricInputs::Binary {
                    u2, counts, n_pos, ..
                } = inputs
                else {
                    unreachable!()
                };
                assert_eq!(u2, mann_whitney_u2_sorted(&pos, &neg), "step {i}");
                assert_eq!(n_pos, pos.len() as u64);
                assert_eq!(counts.total(), w.len() as u64);
                let TaskMetrics::Binary(m) = inputs.compute() else {
                    unreachable!()
                };
                let want = binary_log_loss(&pos, &neg);
                assert!(
                    close(m.log_loss, want),
                    "step {i}: {} vs {want}",
                    m.log_loss
                );
            }
        }
    }

    #[test]
    fn multiclass_log_loss_follows_the_window() {
        let k = 3;
        let mut w = MetricWindow::new(Task::MulticlassClassification, k, Policy::Count(50));
        let mut rng = Lcg(11);
        let mut all = Vec::new();
        for i in 0..400 {
            let actual = (rng.next() % k as u64) as u32;
            let raw: Vec<f64> = (0..k).map(|_| (rng.next() % 100) as f64 + 0.5).collect();
            let total: f64 = raw.iter().sum();
            let probs = (i % 7 != 0).then(|| raw.iter().map(|p| p / total).collect::<Box<[f64]>>());
            all.push((actual, probs.clone()));
            w.push(
                i,
                Outcome::Multiclass {
                    predicted: 0,
                    actual,
                    probs,
                },
                i,
            );
            let (mut probs, mut labels) = (Vec::new(), Vec::new());
            for (actual, p) in &all[all.len().saturating_sub(50)..] {
                if let Some(p) = p {
                    probs.extend_from_slice(p);
                    labels.push(*actual as usize);
                }
            }
            let TaskMetrics::Multiclass(m) = w.snapshot().compute() else {
                unreachable!()
            };
            let want = multiclass_log_loss(&probs, &labels, k);
            assert_eq!(m.scored, labels.len() as u64);
            assert!(
                close(m.log_loss, want),
                "step {i}: {} vs {want}",
                m.log_loss
            );
        }
    }

    #[test]
    fn empty_window_metrics_are_nan() {
        let w = MetricWindow::new(Task::BinaryClassification, 2, Policy::Count(10));
        let TaskMetrics::Binary(m) = w.snapshot().compute() else {
            unreachable!()
        };
        assert!(m.accuracy.is_nan() && m.roc_auc.is_nan() && m.log_loss.is_nan());
        let w = MetricWindow::new(Task::Regression, 0, Policy::Count(10));
        let TaskMetrics::Regression(r) = w.snapshot().compute() else {
            unreachable!()
        };
        assert!(r.mae.is_nan() && r.r2.is_nan());
    }

    #[test]
    fn time_window_samples_leave_with_time() {
        let mut w = MetricWindow::new(
            Task::MulticlassClassification,
            3,
            Policy::Time {
                duration_ns: 100,
                max: 10,
            },
        );
        w.push(
            10,
            Outcome::Multiclass {
                predicted: 0,
                actual: 1,
                probs: None,
            },
            10,
        );
        w.push(
            60,
            Outcome::Multiclass {
                predicted: 2,
                actual: 2,
                probs: Some(vec![0.1, 0.1, 0.8].into()),
            },
            60,
        );
        assert_eq!(w.len(), 2);
        w.expire(120);
        assert_eq!(w.len(), 1);
        let TaskMetrics::Multiclass(m) = w.snapshot().compute() else {
            unreachable!()
        };
        assert_eq!(m.accuracy, 1.0);
        assert_eq!(m.confusion.get(1, 0), 0);
        assert_eq!(m.scored, 1);
        w.expire(1000);
        assert!(w.is_empty());
    }
}
