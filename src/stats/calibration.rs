//! Calibration of binary probabilities: the reliability curve of scikit-learn 1.9's
//! `calibration_curve(strategy="uniform")` and the expected calibration error over its bins.
//!
//! Bins: `n_bins` equal-width bins over [0, 1] with inner edges eⱼ = j·(1/n_bins) (numpy's `linspace`
//! arithmetic, so 3·0.1 = 0.30000000000000004). A probability p goes to the bin numbered by how many
//! inner edges lie strictly below it (`numpy.searchsorted(edges, p)`, side left): a value exactly on an
//! edge belongs to the bin below it, 0.0 to the first bin and 1.0 to the last.
//!
//! Per non-empty bin: the mean predicted probability and the fraction of positives. Bin sums are
//! accumulated in sample order, as `numpy.bincount` accumulates its weights.
//!
//! Expected calibration error = Σ over non-empty bins of (count/n)·|fraction positive − mean predicted|,
//! summed in bin order (numpy's pairwise order).
//!
//! Undefined: no samples, no bins, or a probability outside [0, 1] or NaN (scikit-learn refuses those):
//! `None`. One class only is fine, as in scikit-learn.

use super::quantile::numpy_pairwise_sum;

/// One non-empty bin of the reliability curve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CalibrationBin {
    /// The bin's number, 0-based, among all `n_bins`.
    pub index: usize,
    pub count: u64,
    pub mean_predicted: f64,
    pub fraction_positive: f64,
}

/// The reliability curve (non-empty bins only, in bin order) and the expected calibration error.
#[derive(Debug, Clone, PartialEq)]
pub struct Calibration {
    pub bins: Vec<CalibrationBin>,
    pub expected_calibration_error: f64,
}

/// The bin of probability `p` among `n_bins` uniform bins (see the module doc for the edge rule).
pub fn uniform_bin(p: f64, n_bins: usize) -> usize {
    let step = 1.0 / n_bins as f64;
    // Inner edges j·step, j = 1 .. n_bins − 1, are increasing; count those strictly below p.
    let (mut lo, mut hi) = (1usize, n_bins);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if (mid as f64) * step < p {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo - 1
}

/// The calibration of `probs` against `positive` over `n_bins` uniform bins.
pub fn calibration(probs: &[f64], positive: &[bool], n_bins: usize) -> Option<Calibration> {
    debug_assert_eq!(probs.len(), positive.len());
    let n = probs.len();
    if n == 0 || n_bins == 0 || probs.iter().any(|p| !(0.0..=1.0).contains(p)) {
        return None;
    }
    let mut sums = vec![0.0f64; n_bins];
    let mut trues = vec![0u64; n_bins];
    let mut totals = vec![0u64; n_bins];
    for (&p, &y) in probs.iter().zip(positive) {
        let b = uniform_bin(p, n_bins);
        sums[b] += p;
        trues[b] += y as u64;
        totals[b] += 1;
    }
    let bins: Vec<CalibrationBin> = (0..n_bins)
        .filter(|&b| totals[b] > 0)
        .map(|b| CalibrationBin {
            index: b,
            count: totals[b],
            mean_predicted: sums[b] / totals[b] as f64,
            fraction_positive: trues[b] as f64 / totals[b] as f64,
        })
        .collect();
    let ece = numpy_pairwise_sum(bins.len(), |i| {
        let b = &bins[i];
        b.count as f64 / n as f64 * (b.fraction_positive - b.mean_predicted).abs()
    });
    Some(Calibration {
        bins,
        expected_calibration_error: ece,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edges_belong_to_the_bin_below() {
        assert_eq!(uniform_bin(0.0, 10), 0);
        assert_eq!(uniform_bin(0.1, 10), 0);
        assert_eq!(uniform_bin(0.1000000001, 10), 1);
        assert_eq!(uniform_bin(0.2, 10), 1);
        // 0.3 lies below the edge 3·0.1 = 0.30000000000000004.
        assert_eq!(uniform_bin(0.3, 10), 2);
        assert_eq!(uniform_bin(1.0, 10), 9);
        assert_eq!(uniform_bin(1.0, 1), 0);
        assert_eq!(uniform_bin(0.5, 2), 0);
    }

    #[test]
    fn refuses_what_scikit_learn_refuses() {
        assert!(calibration(&[], &[], 10).is_none());
        assert!(calibration(&[1.5], &[true], 10).is_none());
        assert!(calibration(&[f64::NAN], &[true], 10).is_none());
        assert!(calibration(&[0.5], &[true], 0).is_none());
    }
}
