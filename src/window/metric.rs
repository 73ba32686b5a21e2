//! Windows of labelled samples and the model metrics computed from them.
//!
//! Counts (confusion matrices) and the Mann–Whitney statistic behind ROC AUC are kept incrementally, in
//! exact integers, so they cost O(1) or O(log n) per sample and never drift. Metrics that are sums of
//! floats (log loss, regression errors) are computed from a copy of the window taken under the model
//! lock and evaluated after the lock is released: the copy is a memory walk, the arithmetic is not, and
//! computing from scratch each time keeps them exactly as scikit-learn defines them.

use super::queue::{EvictionQueue, Policy};
use super::sorted::SortedList;
use crate::config::Task;
use crate::stats::metrics::{
    BinaryCounts, Confusion, RegressionMetrics, binary_log_loss, multiclass_log_loss,
    regression_metrics, roc_auc_from_u2,
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

/// Incremental binary state: confusion counts, plus the scores of positive and negative samples kept
/// sorted so that twice the Mann–Whitney U (`u2`) can be updated in O(log n) per sample.
#[derive(Debug)]
struct BinaryState {
    counts: BinaryCounts,
    pos_scores: SortedList,
    neg_scores: SortedList,
    u2: u128,
}

impl Default for BinaryState {
    fn default() -> Self {
        BinaryState {
            counts: BinaryCounts::default(),
            // Four rank queries per labelled sample: these lists keep their ranks fast.
            pos_scores: SortedList::with_ranks(),
            neg_scores: SortedList::with_ranks(),
            u2: 0,
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

enum State {
    Binary(BinaryState),
    Multiclass(Confusion),
    Regression,
}

pub struct MetricWindow {
    queue: EvictionQueue<Outcome>,
    state: State,
    evicted: Vec<(i64, Outcome)>,
}

impl MetricWindow {
    pub fn new(task: Task, n_classes: usize, policy: Policy) -> Self {
        let state = match task {
            Task::BinaryClassification => State::Binary(BinaryState::default()),
            Task::MulticlassClassification => State::Multiclass(Confusion::new(n_classes)),
            Task::Regression => State::Regression,
        };
        MetricWindow {
            queue: EvictionQueue::new(policy),
            state,
            evicted: Vec::new(),
        }
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Adds a labelled sample whose prediction was made at `ts`.
    pub fn push(&mut self, ts: i64, outcome: Outcome, now: i64) {
        if !self.queue.admits(ts, now) {
            return;
        }
        self.apply(&outcome, true);
        let mut evicted = std::mem::take(&mut self.evicted);
        self.queue.push(ts, outcome, &mut evicted);
        self.queue.expire(now, &mut evicted);
        self.release(&mut evicted);
        self.evicted = evicted;
    }

    pub fn expire(&mut self, now: i64) {
        let mut evicted = std::mem::take(&mut self.evicted);
        self.queue.expire(now, &mut evicted);
        self.release(&mut evicted);
        self.evicted = evicted;
    }

    fn release(&mut self, evicted: &mut Vec<(i64, Outcome)>) {
        for (_, outcome) in evicted.drain(..) {
            self.apply(&outcome, false);
        }
    }

    fn apply(&mut self, outcome: &Outcome, add: bool) {
        match (&mut self.state, outcome) {
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
                State::Multiclass(c),
                Outcome::Multiclass {
                    predicted, actual, ..
                },
            ) => {
                if add {
                    c.add(*actual as usize, *predicted as usize);
                } else {
                    c.remove(*actual as usize, *predicted as usize);
                }
            }
            (State::Regression, Outcome::Regression { .. }) => {}
            _ => debug_assert!(false, "outcome does not match the window's task"),
        }
    }

    /// The samples in eviction order, for snapshots.
    pub fn export(&self) -> Vec<(i64, Outcome)> {
        let mut out = Vec::with_capacity(self.queue.len());
        self.queue.for_each(|ts, o| out.push((ts, o.clone())));
        out
    }

    /// Copies what the metrics need. Call under the model lock; evaluate the result after releasing it.
    pub fn snapshot(&self) -> MetricInputs {
        match &self.state {
            State::Binary(b) => MetricInputs::Binary {
                counts: b.counts,
                u2: b.u2,
                pos_scores: b.pos_scores.to_vec(),
                neg_scores: b.neg_scores.to_vec(),
            },
            State::Multiclass(c) => {
                let k = c.k();
                let mut probs = Vec::new();
                let mut labels = Vec::new();
                self.queue.for_each(|_, o| {
                    if let Outcome::Multiclass {
                        actual,
                        probs: Some(p),
                        ..
                    } = o
                    {
                        probs.extend_from_slice(p);
                        labels.push(*actual as usize);
                    }
                });
                MetricInputs::Multiclass {
                    confusion: c.clone(),
                    probs,
                    labels,
                    k,
                }
            }
            State::Regression => {
                let mut actual = Vec::with_capacity(self.queue.len());
                let mut predicted = Vec::with_capacity(self.queue.len());
                self.queue.for_each(|_, o| {
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
        pos_scores: Vec<f64>,
        neg_scores: Vec<f64>,
    },
    Multiclass {
        confusion: Confusion,
        probs: Vec<f64>,
        labels: Vec<usize>,
        k: usize,
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
                pos_scores,
                neg_scores,
            } => TaskMetrics::Binary(BinaryMetrics {
                counts: *counts,
                accuracy: counts.accuracy(),
                precision: counts.precision(),
                recall: counts.recall(),
                f1: counts.f1(),
                roc_auc: roc_auc_from_u2(*u2, pos_scores.len() as u64, neg_scores.len() as u64),
                log_loss: binary_log_loss(pos_scores, neg_scores),
                positive_rate: counts.positive_rate(),
                label_positive_rate: counts.label_positive_rate(),
                scored: (pos_scores.len() + neg_scores.len()) as u64,
            }),
            MetricInputs::Multiclass {
                confusion,
                probs,
                labels,
                k,
            } => TaskMetrics::Multiclass(MulticlassMetrics {
                accuracy: confusion.accuracy(),
                precision: (0..*k).map(|c| confusion.precision(c)).collect(),
                recall: (0..*k).map(|c| confusion.recall(c)).collect(),
                f1: (0..*k).map(|c| confusion.f1(c)).collect(),
                precision_macro: confusion.precision_macro(),
                recall_macro: confusion.recall_macro(),
                f1_macro: confusion.f1_macro(),
                f1_weighted: confusion.f1_weighted(),
                log_loss: if labels.is_empty() {
                    f64::NAN
                } else {
                    multiclass_log_loss(probs, labels, *k)
                },
                scored: labels.len() as u64,
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
    use crate::stats::metrics::mann_whitney_u2_sorted;
    use crate::testing::Lcg;

    #[test]
    fn incremental_u2_matches_a_recount_as_the_window_slides() {
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
                let MetricInputs::Binary {
                    u2,
                    pos_scores,
                    neg_scores,
                    counts,
                } = w.snapshot()
                else {
                    unreachable!()
                };
                assert_eq!(
                    u2,
                    mann_whitney_u2_sorted(&pos_scores, &neg_scores),
                    "step {i}"
                );
                assert_eq!(counts.total(), w.len() as u64);
            }
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
