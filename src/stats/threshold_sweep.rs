//! Binary metrics read off the sweep over score thresholds, as scikit-learn 1.9 computes them:
//! `average_precision_score` (the uninterpolated area under the precision-recall curve), the KS
//! separation max |TPR − FPR| over the points of `roc_curve`, and the Gini coefficient 2·AUC − 1.
//!
//! Scores may be probabilities or any finite decision values: only their order matters. Each distinct
//! score is one threshold, so tied scores enter the curve together (this is how scikit-learn's
//! `_binary_clf_curve` handles ties, and why the result does not depend on the order of tied samples).
//!
//! Undefined values follow scikit-learn: average precision is 0.0 when there is no positive sample
//! (scikit-learn warns and returns 0.0); the KS separation and the Gini coefficient are NaN with one
//! class only; everything is NaN on an empty input or a non-finite score.

use super::metrics::roc_auc_from_u2;
use super::quantile::numpy_pairwise_sum;

/// Cumulative true and false positive counts at each distinct threshold, highest score first.
struct Sweep {
    tps: Vec<u64>,
    fps: Vec<u64>,
}

impl Sweep {
    /// `None` when a score is not finite (scikit-learn refuses such input).
    fn new(scores: &[f64], positive: &[bool]) -> Option<Sweep> {
        debug_assert_eq!(scores.len(), positive.len());
        if scores.iter().any(|s| !s.is_finite()) {
            return None;
        }
        let mut order: Vec<usize> = (0..scores.len()).collect();
        // Finite scores only, so partial_cmp is total here; −0.0 and 0.0 compare equal as in numpy.
        order.sort_by(|&a, &b| scores[b].partial_cmp(&scores[a]).unwrap());
        let (mut tps, mut fps) = (Vec::new(), Vec::new());
        let (mut tp, mut fp) = (0u64, 0u64);
        for (j, &i) in order.iter().enumerate() {
            if positive[i] {
                tp += 1;
            } else {
                fp += 1;
            }
            let last_of_tie = j + 1 == order.len() || scores[order[j + 1]] != scores[i];
            if last_of_tie {
                tps.push(tp);
                fps.push(fp);
            }
        }
        Some(Sweep { tps, fps })
    }
}

/// `average_precision_score(y_true, scores)`: Σ (Rₙ − Rₙ₋₁)·Pₙ over the thresholds, summed as
/// scikit-learn sums it (lowest threshold first, numpy's pairwise order). 0.0 without positives, NaN on
/// an empty input.
pub fn average_precision(scores: &[f64], positive: &[bool]) -> f64 {
    let Some(sweep) = Sweep::new(scores, positive) else {
        return f64::NAN;
    };
    let m = sweep.tps.len();
    if m == 0 {
        return f64::NAN;
    }
    let total_pos = sweep.tps[m - 1];
    if total_pos == 0 {
        return 0.0;
    }
    // scikit-learn's arrays run from the lowest threshold (index m − 1 of the sweep) up, then end with
    // recall 0 and precision 1; its sum is −Σ_j (recall[j+1] − recall[j]) · precision[j].
    let recall = |j: usize| -> f64 {
        if j == m {
            0.0
        } else {
            sweep.tps[m - 1 - j] as f64 / total_pos as f64
        }
    };
    let precision = |j: usize| -> f64 {
        let i = m - 1 - j;
        sweep.tps[i] as f64 / (sweep.tps[i] + sweep.fps[i]) as f64
    };
    let s = numpy_pairwise_sum(m, |j| (recall(j + 1) - recall(j)) * precision(j));
    let ap = -s;
    // Python's max(0.0, ap): 0.0 unless ap is greater.
    if ap > 0.0 { ap } else { 0.0 }
}

/// The KS separation of `roc_curve`: max over thresholds of |TPR − FPR|. NaN with one class only or
/// without samples.
pub fn ks_separation(scores: &[f64], positive: &[bool]) -> f64 {
    let Some(sweep) = Sweep::new(scores, positive) else {
        return f64::NAN;
    };
    let Some(&total_pos) = sweep.tps.last() else {
        return f64::NAN;
    };
    let total_neg = *sweep.fps.last().unwrap();
    if total_pos == 0 || total_neg == 0 {
        return f64::NAN;
    }
    // The curve's first point (0, 0) contributes 0.
    sweep
        .tps
        .iter()
        .zip(&sweep.fps)
        .map(|(&tp, &fp)| (tp as f64 / total_pos as f64 - fp as f64 / total_neg as f64).abs())
        .fold(0.0, f64::max)
}

/// The Gini coefficient 2·AUC − 1 from twice the Mann–Whitney U statistic (see
/// [`super::metrics::mann_whitney_u2_sorted`]). NaN with one class only.
pub fn gini_from_u2(u2: u128, n_pos: u64, n_neg: u64) -> f64 {
    2.0 * roc_auc_from_u2(u2, n_pos, n_neg) - 1.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_enter_the_curve_together() {
        // All tied: one threshold, precision = prevalence, recall 1.
        let ap = average_precision(&[0.5; 4], &[true, false, true, false]);
        assert_eq!(ap, 0.5);
        assert_eq!(ks_separation(&[0.5; 4], &[true, false, true, false]), 0.0);
    }

    #[test]
    fn undefined_cases() {
        assert!(average_precision(&[], &[]).is_nan());
        assert_eq!(average_precision(&[0.1, 0.2], &[false, false]), 0.0);
        assert!(ks_separation(&[0.1, 0.2], &[true, true]).is_nan());
        assert!(average_precision(&[f64::NAN], &[true]).is_nan());
        assert!(gini_from_u2(0, 0, 3).is_nan());
    }
}
