//! Model metrics exactly as scikit-learn 1.9 defines them.
//!
//! Conventions (checked against scikit-learn's source and the fixtures in `tests/fixtures/model_metrics.json`):
//! - An undefined value is NaN: scikit-learn's `zero_division=np.nan` convention. Precision is undefined
//!   without predicted positives, recall without actual positives, F1 only when TP + FP + FN = 0 (it is
//!   2TP / (2TP + FP + FN)), ROC AUC with one class, R² with fewer than two samples, anything on an
//!   empty window.
//! - Macro averages skip undefined classes (`_nanaverage`); the weighted F1 weighs by support.
//! - Log loss clips probabilities to [ε, 1 − ε] with ε the f64 machine epsilon. A binary score p is the
//!   row [1 − p, p] before clipping. scikit-learn 1.9 no longer renormalises multiclass rows that do not
//!   sum to 1 (it only warns), and neither does this.
//! - Sums follow numpy's pairwise summation, so results agree with scikit-learn to the last bits when the
//!   samples come in the same order.

use super::quantile::numpy_pairwise_sum;

fn ratio(num: u64, den: u64) -> f64 {
    if den == 0 {
        f64::NAN
    } else {
        num as f64 / den as f64
    }
}

/// Binary confusion counts (positive = the configured positive class).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BinaryCounts {
    pub tp: u64,
    pub fp: u64,
    pub tn: u64,
    pub fn_: u64,
}

impl BinaryCounts {
    pub fn total(&self) -> u64 {
        self.tp + self.fp + self.tn + self.fn_
    }

    /// `accuracy_score`.
    pub fn accuracy(&self) -> f64 {
        ratio(self.tp + self.tn, self.total())
    }

    /// `precision_score` for the positive class.
    pub fn precision(&self) -> f64 {
        ratio(self.tp, self.tp + self.fp)
    }

    /// `recall_score` for the positive class.
    pub fn recall(&self) -> f64 {
        ratio(self.tp, self.tp + self.fn_)
    }

    /// `f1_score` for the positive class: 2TP / (2TP + FP + FN).
    pub fn f1(&self) -> f64 {
        ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn_)
    }

    /// Share of samples predicted positive.
    pub fn positive_rate(&self) -> f64 {
        ratio(self.tp + self.fp, self.total())
    }

    /// Share of samples labelled positive.
    pub fn label_positive_rate(&self) -> f64 {
        ratio(self.tp + self.fn_, self.total())
    }
}

/// `roc_auc_score` from twice the Mann–Whitney U statistic: the area under the ROC curve is the share of
/// (positive, negative) pairs ranked correctly, ties counting half. Keeping 2U as an integer makes it exact
/// under the window's incremental updates. NaN when one class is absent.
pub fn roc_auc_from_u2(u2: u128, n_pos: u64, n_neg: u64) -> f64 {
    if n_pos == 0 || n_neg == 0 {
        return f64::NAN;
    }
    u2 as f64 / (2.0 * n_pos as f64 * n_neg as f64)
}

/// 2U of positive against negative scores (both sorted ascending), in one merge pass: each negative
/// below a positive counts 2, each tie 1.
pub fn mann_whitney_u2_sorted(pos_sorted: &[f64], neg_sorted: &[f64]) -> u128 {
    let mut u2: u128 = 0;
    let (mut lt, mut le) = (0usize, 0usize);
    for &p in pos_sorted {
        while lt < neg_sorted.len() && neg_sorted[lt] < p {
            lt += 1;
        }
        if le < lt {
            le = lt;
        }
        while le < neg_sorted.len() && neg_sorted[le] <= p {
            le += 1;
        }
        u2 += (2 * lt + (le - lt)) as u128;
    }
    u2
}

/// Clips a probability the way `log_loss` does.
#[inline]
fn clip(p: f64) -> f64 {
    p.clamp(f64::EPSILON, 1.0 - f64::EPSILON)
}

/// Binary `log_loss(y_true, scores, labels=[negative, positive])`: `pos_scores` are the scores of the
/// samples labelled positive, `neg_scores` of those labelled negative. NaN when both are empty.
pub fn binary_log_loss(pos_scores: &[f64], neg_scores: &[f64]) -> f64 {
    let n = pos_scores.len() + neg_scores.len();
    if n == 0 {
        return f64::NAN;
    }
    let total = numpy_pairwise_sum(n, |i| {
        if i < pos_scores.len() {
            binary_log_loss_term(pos_scores[i], true)
        } else {
            binary_log_loss_term(neg_scores[i - pos_scores.len()], false)
        }
    });
    total / n as f64
}

/// One sample's term of the binary log loss: −ln of the probability given to the true class, clipped
/// as `log_loss` clips it. A window keeps the exact sum of these terms, so that the loss costs O(1) to
/// read whatever the window's length.
#[inline]
pub fn binary_log_loss_term(score: f64, actual_positive: bool) -> f64 {
    if actual_positive {
        -clip(score).ln()
    } else {
        // The negative column is 1 − p, formed before clipping, as scikit-learn forms it.
        -clip(1.0 - score).ln()
    }
}

/// One sample's term of the multiclass log loss: −ln of the (clipped) probability of its true class.
#[inline]
pub fn multiclass_log_loss_term(p_actual: f64) -> f64 {
    -clip(p_actual).ln()
}

/// The mean of `scored` log-loss terms whose sum is `total`; NaN when there are none.
pub fn log_loss_from_sum(total: f64, scored: u64) -> f64 {
    if scored == 0 {
        return f64::NAN;
    }
    total / scored as f64
}

/// Multiclass `log_loss(y_true, probs, labels=classes)`. `probs` is row-major n×k in the order of the
/// configured classes; `labels[i] < k`. NaN when there are no rows.
pub fn multiclass_log_loss(probs: &[f64], labels: &[usize], k: usize) -> f64 {
    let n = labels.len();
    if n == 0 || k == 0 {
        return f64::NAN;
    }
    debug_assert_eq!(probs.len(), n * k);
    let total = numpy_pairwise_sum(n, |i| multiclass_log_loss_term(probs[i * k + labels[i]]));
    total / n as f64
}

/// A k×k confusion matrix over the configured classes; row = actual, column = predicted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confusion {
    k: usize,
    counts: Vec<u64>,
}

impl Confusion {
    pub fn new(k: usize) -> Self {
        Confusion {
            k,
            counts: vec![0; k * k],
        }
    }

    /// A matrix from its row-major counts (row = actual, column = predicted).
    pub fn from_counts(k: usize, counts: Vec<u64>) -> Self {
        debug_assert_eq!(counts.len(), k * k, "a k×k matrix");
        Confusion { k, counts }
    }

    pub fn k(&self) -> usize {
        self.k
    }

    pub fn add(&mut self, actual: usize, predicted: usize) {
        self.counts[actual * self.k + predicted] += 1;
    }

    pub fn remove(&mut self, actual: usize, predicted: usize) {
        self.counts[actual * self.k + predicted] -= 1;
    }

    pub fn get(&self, actual: usize, predicted: usize) -> u64 {
        self.counts[actual * self.k + predicted]
    }

    pub fn total(&self) -> u64 {
        self.counts.iter().sum()
    }

    fn true_positives(&self, c: usize) -> u64 {
        self.get(c, c)
    }

    /// Samples whose label is class `c` (its support).
    fn actual(&self, c: usize) -> u64 {
        (0..self.k).map(|p| self.get(c, p)).sum()
    }

    /// Samples predicted as class `c`.
    fn predicted(&self, c: usize) -> u64 {
        (0..self.k).map(|a| self.get(a, c)).sum()
    }

    pub fn accuracy(&self) -> f64 {
        ratio(
            (0..self.k).map(|c| self.true_positives(c)).sum(),
            self.total(),
        )
    }

    pub fn precision(&self, c: usize) -> f64 {
        ratio(self.true_positives(c), self.predicted(c))
    }

    pub fn recall(&self, c: usize) -> f64 {
        ratio(self.true_positives(c), self.actual(c))
    }

    /// 2TP / (actual + predicted).
    pub fn f1(&self, c: usize) -> f64 {
        ratio(
            2 * self.true_positives(c),
            self.actual(c) + self.predicted(c),
        )
    }

    pub fn precision_macro(&self) -> f64 {
        nan_mean((0..self.k).map(|c| self.precision(c)))
    }

    pub fn recall_macro(&self) -> f64 {
        nan_mean((0..self.k).map(|c| self.recall(c)))
    }

    pub fn f1_macro(&self) -> f64 {
        nan_mean((0..self.k).map(|c| self.f1(c)))
    }

    /// F1 averaged with the support of each class as weight, skipping undefined classes.
    pub fn f1_weighted(&self) -> f64 {
        let rows: Vec<(f64, f64)> = (0..self.k)
            .map(|c| (self.f1(c), self.actual(c) as f64))
            .filter(|(f, _)| !f.is_nan())
            .collect();
        if rows.is_empty() {
            return f64::NAN;
        }
        let weight: f64 = rows.iter().map(|(_, w)| w).sum();
        if weight == 0.0 {
            // numpy's average raises on zero weights; scikit-learn then falls back to the plain mean.
            return rows.iter().map(|(f, _)| f).sum::<f64>() / rows.len() as f64;
        }
        numpy_pairwise_sum(rows.len(), |i| rows[i].0 * rows[i].1) / weight
    }
}

/// Mean of the values that are not NaN (`np.nanmean`); NaN when all are.
fn nan_mean(values: impl Iterator<Item = f64>) -> f64 {
    let kept: Vec<f64> = values.filter(|v| !v.is_nan()).collect();
    if kept.is_empty() {
        return f64::NAN;
    }
    numpy_pairwise_sum(kept.len(), |i| kept[i]) / kept.len() as f64
}

/// Regression metrics of one window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RegressionMetrics {
    pub mae: f64,
    pub mse: f64,
    pub rmse: f64,
    pub r2: f64,
    pub mape: f64,
    pub mean_prediction: f64,
    pub mean_label: f64,
}

/// `mean_absolute_error`, `mean_squared_error`, `root_mean_squared_error`, `r2_score` (with
/// `force_finite=True`: 1.0 for a perfect fit, 0.0 when the labels are constant but the fit is not; NaN
/// below two samples), `mean_absolute_percentage_error` (|y − ŷ| / max(|y|, ε), a fraction), and the
/// means of predictions and labels.
pub fn regression_metrics(y_true: &[f64], y_pred: &[f64]) -> RegressionMetrics {
    debug_assert_eq!(y_true.len(), y_pred.len());
    let n = y_true.len();
    if n == 0 {
        return RegressionMetrics {
            mae: f64::NAN,
            mse: f64::NAN,
            rmse: f64::NAN,
            r2: f64::NAN,
            mape: f64::NAN,
            mean_prediction: f64::NAN,
            mean_label: f64::NAN,
        };
    }
    let nf = n as f64;
    let mean = |f: &dyn Fn(usize) -> f64| numpy_pairwise_sum(n, f) / nf;
    let mae = mean(&|i| (y_true[i] - y_pred[i]).abs());
    let mse = mean(&|i| {
        let d = y_true[i] - y_pred[i];
        d * d
    });
    let mape = mean(&|i| (y_pred[i] - y_true[i]).abs() / y_true[i].abs().max(f64::EPSILON));
    let mean_label = mean(&|i| y_true[i]);
    let mean_prediction = mean(&|i| y_pred[i]);
    let r2 = if n < 2 {
        f64::NAN
    } else {
        let numerator = numpy_pairwise_sum(n, |i| {
            let d = y_true[i] - y_pred[i];
            d * d
        });
        let denominator = numpy_pairwise_sum(n, |i| {
            let d = y_true[i] - mean_label;
            d * d
        });
        if numerator == 0.0 {
            1.0
        } else if denominator == 0.0 {
            0.0
        } else {
            1.0 - numerator / denominator
        }
    };
    RegressionMetrics {
        mae,
        mse,
        rmse: mse.sqrt(),
        r2,
        mape,
        mean_prediction,
        mean_label,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    const FIXTURES: &str = include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/model_metrics.json"
    ));

    fn expected(v: &Value) -> f64 {
        match v {
            Value::Null => f64::NAN,
            Value::String(s) if s == "inf" => f64::INFINITY,
            Value::String(s) if s == "-inf" => f64::NEG_INFINITY,
            other => other.as_f64().expect("a number"),
        }
    }

    fn check(case: &str, what: &str, actual: f64, want: &Value) {
        let want = expected(want);
        if want.is_nan() || want.is_infinite() {
            assert!(
                actual.to_bits() == want.to_bits() || (want.is_nan() && actual.is_nan()),
                "{case} {what}: expected {want}, got {actual}"
            );
            return;
        }
        let err = if want == 0.0 {
            actual.abs()
        } else {
            ((actual - want) / want).abs()
        };
        assert!(
            err <= 1e-9,
            "{case} {what}: expected {want:e}, got {actual:e} (rel err {err:e})"
        );
    }

    fn class_string(v: &Value) -> String {
        match v {
            Value::String(s) => s.clone(),
            Value::Number(n) => {
                let f = n.as_f64().unwrap();
                if f == f.trunc() {
                    format!("{f:.0}")
                } else {
                    f.to_string()
                }
            }
            Value::Bool(b) => b.to_string(),
            other => panic!("not a class: {other}"),
        }
    }

    fn binary(case: &Value) {
        let name = case["name"].as_str().unwrap();
        let pos = case["positive_class"].as_str().unwrap();
        let threshold = case["threshold"].as_f64().unwrap_or(0.5);
        let e = &case["expected"];
        let mut counts = BinaryCounts::default();
        let (mut pos_scores, mut neg_scores) = (Vec::new(), Vec::new());
        for s in case["samples"].as_array().unwrap() {
            let actual = class_string(&s["label"]) == pos;
            let score = s["score"].as_f64();
            let predicted = match s.get("prediction") {
                Some(p) => class_string(p) == pos,
                None => score.unwrap() >= threshold,
            };
            match (actual, predicted) {
                (true, true) => counts.tp += 1,
                (false, true) => counts.fp += 1,
                (false, false) => counts.tn += 1,
                (true, false) => counts.fn_ += 1,
            }
            if let Some(score) = score {
                if actual {
                    pos_scores.push(score)
                } else {
                    neg_scores.push(score)
                }
            }
        }
        check(name, "accuracy", counts.accuracy(), &e["accuracy"]);
        check(name, "precision", counts.precision(), &e["precision"]);
        check(name, "recall", counts.recall(), &e["recall"]);
        check(name, "f1_score", counts.f1(), &e["f1_score"]);
        check(
            name,
            "positive_rate",
            counts.positive_rate(),
            &e["positive_rate"],
        );
        check(
            name,
            "label_positive_rate",
            counts.label_positive_rate(),
            &e["label_positive_rate"],
        );
        let cm = &e["confusion_matrix"];
        assert_eq!(
            [[counts.tn, counts.fp], [counts.fn_, counts.tp]],
            [
                [cm[0][0].as_u64().unwrap(), cm[0][1].as_u64().unwrap()],
                [cm[1][0].as_u64().unwrap(), cm[1][1].as_u64().unwrap()]
            ],
            "{name} confusion matrix"
        );
        check(
            name,
            "log_loss",
            binary_log_loss(&pos_scores, &neg_scores),
            &e["log_loss"],
        );
        pos_scores.sort_by(f64::total_cmp);
        neg_scores.sort_by(f64::total_cmp);
        let u2 = mann_whitney_u2_sorted(&pos_scores, &neg_scores);
        check(
            name,
            "roc_auc",
            roc_auc_from_u2(u2, pos_scores.len() as u64, neg_scores.len() as u64),
            &e["roc_auc"],
        );
    }

    fn multiclass(case: &Value) {
        let name = case["name"].as_str().unwrap();
        let classes: Vec<String> = case["classes"]
            .as_array()
            .unwrap()
            .iter()
            .map(class_string)
            .collect();
        let k = classes.len();
        let index = |v: &Value| classes.iter().position(|c| *c == class_string(v)).unwrap();
        let e = &case["expected"];
        let mut confusion = Confusion::new(k);
        let (mut probs, mut labels) = (Vec::new(), Vec::new());
        for s in case["samples"].as_array().unwrap() {
            let actual = index(&s["label"]);
            let row: Option<Vec<f64>> = s
                .get("scores")
                .map(|sc| classes.iter().map(|c| sc[c].as_f64().unwrap()).collect());
            let predicted = match s.get("prediction") {
                Some(p) => index(p),
                None => {
                    let r = row.as_ref().unwrap();
                    (0..k).fold(0, |best, j| if r[j] > r[best] { j } else { best })
                }
            };
            confusion.add(actual, predicted);
            if let Some(r) = row {
                probs.extend(r);
                labels.push(actual);
            }
        }
        check(name, "accuracy", confusion.accuracy(), &e["accuracy"]);
        for c in 0..k {
            check(
                name,
                "precision[c]",
                confusion.precision(c),
                &e["precision_per_class"][c],
            );
            check(
                name,
                "recall[c]",
                confusion.recall(c),
                &e["recall_per_class"][c],
            );
            check(name, "f1[c]", confusion.f1(c), &e["f1_per_class"][c]);
            for p in 0..k {
                assert_eq!(
                    confusion.get(c, p),
                    e["confusion_matrix"][c][p].as_u64().unwrap(),
                    "{name} cm"
                );
            }
        }
        check(
            name,
            "precision_macro",
            confusion.precision_macro(),
            &e["precision_macro"],
        );
        check(
            name,
            "recall_macro",
            confusion.recall_macro(),
            &e["recall_macro"],
        );
        check(
            name,
            "f1_score_macro",
            confusion.f1_macro(),
            &e["f1_score_macro"],
        );
        check(
            name,
            "f1_score_weighted",
            confusion.f1_weighted(),
            &e["f1_score_weighted"],
        );
        let ll = if labels.is_empty() {
            f64::NAN
        } else {
            multiclass_log_loss(&probs, &labels, k)
        };
        check(name, "log_loss", ll, &e["log_loss"]);
    }

    fn regression(case: &Value) {
        let name = case["name"].as_str().unwrap();
        let samples = case["samples"].as_array().unwrap();
        let y: Vec<f64> = samples
            .iter()
            .map(|s| s["label"].as_f64().unwrap())
            .collect();
        let p: Vec<f64> = samples
            .iter()
            .map(|s| s["prediction"].as_f64().unwrap())
            .collect();
        let r = regression_metrics(&y, &p);
        let e = &case["expected"];
        for (what, v) in [
            ("mae", r.mae),
            ("mse", r.mse),
            ("rmse", r.rmse),
            ("r2", r.r2),
            ("mape", r.mape),
            ("mean_prediction", r.mean_prediction),
            ("mean_label", r.mean_label),
        ] {
            check(name, what, v, &e[what]);
        }
    }

    #[test]
    fn every_fixture_case_matches_scikit_learn() {
        let doc: Value = serde_json::from_str(FIXTURES).unwrap();
        let cases = doc["cases"].as_array().unwrap();
        assert!(cases.len() >= 20);
        for case in cases {
            match case["task"].as_str().unwrap() {
                "binary_classification" => binary(case),
                "multiclass_classification" => multiclass(case),
                "regression" => regression(case),
                other => panic!("unknown task {other}"),
            }
        }
    }

    #[test]
    fn confusion_add_and_remove_are_inverse() {
        let mut c = Confusion::new(3);
        c.add(0, 1);
        c.add(2, 2);
        c.add(0, 1);
        c.remove(0, 1);
        assert_eq!(c.get(0, 1), 1);
        assert_eq!(c.total(), 2);
        c.remove(0, 1);
        c.remove(2, 2);
        assert_eq!(c, Confusion::new(3));
    }

    #[test]
    fn u2_counts_ties_as_half() {
        assert_eq!(mann_whitney_u2_sorted(&[0.5], &[0.5]), 1);
        assert_eq!(
            mann_whitney_u2_sorted(&[0.5, 0.9], &[0.1, 0.5, 0.95]),
            2 + 1 + 2 * 2
        );
        assert_eq!(roc_auc_from_u2(1, 1, 1), 0.5);
        assert!(roc_auc_from_u2(0, 0, 3).is_nan());
    }
}
