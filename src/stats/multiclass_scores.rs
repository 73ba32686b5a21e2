//! Multiclass metrics computed from per-class scores, as scikit-learn 1.9 defines them:
//! `roc_auc_score(multi_class="ovr")` with macro and weighted averages, and `top_k_accuracy_score`.
//!
//! Scores are row-major n×k with column j the score of class j, and `labels[i] < k`. scikit-learn
//! reads score columns in the order of the sorted class labels; the caller passes them in that order
//! (it matters for the tie rule of top-k accuracy, below, and nowhere else).
//!
//! - One-vs-rest ROC AUC: the binary ROC AUC of each class against the rest (ties count half), then
//!   the plain mean (macro) or the mean weighted by class support (weighted). scikit-learn requires
//!   rows that sum to 1 (`numpy.allclose`, rtol 1e-5, atol 1e-8) and raises otherwise: NaN here. A class
//!   absent from the labels has an undefined AUC, which makes the macro average NaN; the weighted
//!   average gives it weight 0 and ignores it, as scikit-learn does.
//! - Top-k accuracy: a sample is a hit when its label is among the k highest-scored classes. Among
//!   tied scores, the class of the higher column ranks first (scikit-learn ranks by a reversed stable
//!   ascending sort). k ≥ number of classes makes every sample a hit.
//!
//! Everything is NaN without samples or with a non-finite score.

use super::metrics::{mann_whitney_u2_sorted, roc_auc_from_u2};
use super::quantile::numpy_pairwise_sum;

/// One-vs-rest ROC AUC, both averages.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct OvrAuc {
    pub macro_average: f64,
    pub weighted: f64,
}

fn rows_sum_to_one(scores: &[f64], n: usize, k: usize) -> bool {
    (0..n).all(|i| {
        let s = numpy_pairwise_sum(k, |j| scores[i * k + j]);
        (1.0 - s).abs() <= 1e-8 + 1e-5 * s.abs()
    })
}

/// `roc_auc_score(labels, scores, multi_class="ovr", average="macro" | "weighted", labels=classes)`.
pub fn roc_auc_ovr(scores: &[f64], labels: &[usize], k: usize) -> OvrAuc {
    let undefined = OvrAuc {
        macro_average: f64::NAN,
        weighted: f64::NAN,
    };
    let n = labels.len();
    debug_assert_eq!(scores.len(), n * k);
    if n == 0 || k == 0 || scores.iter().any(|s| !s.is_finite()) || !rows_sum_to_one(scores, n, k) {
        return undefined;
    }
    let mut auc = vec![0.0f64; k];
    let mut support = vec![0u64; k];
    for c in 0..k {
        let (mut pos, mut neg) = (Vec::new(), Vec::new());
        for (i, &label) in labels.iter().enumerate() {
            if label == c {
                pos.push(scores[i * k + c]);
            } else {
                neg.push(scores[i * k + c]);
            }
        }
        pos.sort_by(f64::total_cmp);
        neg.sort_by(f64::total_cmp);
        support[c] = pos.len() as u64;
        auc[c] = roc_auc_from_u2(
            mann_whitney_u2_sorted(&pos, &neg),
            pos.len() as u64,
            neg.len() as u64,
        );
    }
    let macro_average = numpy_pairwise_sum(k, |c| auc[c]) / k as f64;
    // Classes of weight 0 are set to 0 before averaging, so their NaN does not spread.
    let weight = numpy_pairwise_sum(k, |c| support[c] as f64);
    let weighted = numpy_pairwise_sum(k, |c| {
        if support[c] == 0 {
            0.0
        } else {
            auc[c] * support[c] as f64
        }
    }) / weight;
    OvrAuc {
        macro_average,
        weighted,
    }
}

/// `top_k_accuracy_score(labels, scores, k=top_k, labels=classes)` for k ≥ 3 classes.
pub fn top_k_accuracy(scores: &[f64], labels: &[usize], k: usize, top_k: usize) -> f64 {
    let n = labels.len();
    debug_assert_eq!(scores.len(), n * k);
    if n == 0 || k == 0 || scores.iter().any(|s| !s.is_finite()) {
        return f64::NAN;
    }
    let hits = labels
        .iter()
        .enumerate()
        .filter(|&(i, &label)| {
            let row = &scores[i * k..(i + 1) * k];
            let own = row[label];
            // Classes ranked ahead of the label: higher scores, and equal scores in higher columns.
            let ahead = (0..k)
                .filter(|&j| row[j] > own || (row[j] == own && j > label))
                .count();
            ahead < top_k
        })
        .count();
    hits as f64 / n as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ties_rank_the_higher_column_first() {
        let scores = [0.3, 0.3, 0.4, 0.3, 0.3, 0.4, 0.2, 0.2, 0.6];
        // Row 0 (label 0) ranks 2, 1, 0: a miss at k = 2; row 1 (label 1) a hit; row 2 a hit.
        assert_eq!(top_k_accuracy(&scores, &[0, 1, 2], 3, 2), 2.0 / 3.0);
        assert_eq!(top_k_accuracy(&scores, &[0, 1, 2], 3, 3), 1.0);
    }

    #[test]
    fn rows_must_be_probabilities() {
        let scores = [0.5, 0.5, 0.0, 0.2, 0.3, 0.6];
        assert!(roc_auc_ovr(&scores, &[0, 2], 3).macro_average.is_nan());
    }
}
