//! Comparing current columns with reference columns: the drift statistics, the data-quality ratios, and
//! the decision (multiple-testing correction, effect size, drift share).
//!
//! Everything here works on detached `ColumnSet` data, so it runs outside any lock, on the blocking pool.

use std::borrow::Cow;

use crate::config::{DriftConfig, DriftTest, FeatureKind};
use crate::stats::chi2::chi2_homogeneity;
use crate::stats::distance::{
    bin_counts_sorted, jensen_shannon, merge_statistics, psi, psi_edges, wasserstein_normed,
};
use crate::stats::ks::ks_from_statistic;
use crate::stats::multitest::adjust;
use crate::stats::quantile::quantile_sorted;

use super::column_set::{CategoricalData, NumericData};

/// The quantiles exported as `modelwatch_feature_quantile`.
pub const QUANTILES: [f64; 5] = [0.05, 0.25, 0.5, 0.75, 0.95];
/// Label value of the quantiles above, as Prometheus shows them.
pub const QUANTILE_LABELS: [&str; 5] = ["0.05", "0.25", "0.5", "0.75", "0.95"];
/// How many reference categories get their own `modelwatch_category_ratio` series.
pub const TOP_CATEGORIES: usize = 20;
/// Label value of the share of values outside the top reference categories.
pub const OTHER: &str = "__other__";

/// What a column is to the model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Feature,
    Prediction,
    Label,
}

/// Data quality of one column of one window.
#[derive(Debug, Clone, Default)]
pub struct Quality {
    /// Share of rows where the value is absent, null or NaN.
    pub missing_ratio: f64,
    /// Numeric: share of values outside the reference's [min, max].
    pub out_of_range_ratio: Option<f64>,
    /// Categorical: share of values in categories the reference never saw.
    pub new_category_ratio: Option<f64>,
    /// Numeric: `QUANTILES` of the current values.
    pub quantiles: Option<[f64; 5]>,
    pub mean: Option<f64>,
    /// Numeric: the number and the sum of the non-missing values.
    pub count: u64,
    pub sum: f64,
    /// Categorical: share of each of the top reference categories, then `__other__`.
    pub categories: Vec<(String, f64)>,
}

/// Drift and quality of one column of one window.
#[derive(Debug, Clone)]
pub struct ColumnReport {
    pub name: String,
    pub role: Role,
    pub kind: FeatureKind,
    /// Non-missing values compared.
    pub current: usize,
    pub reference: usize,
    /// Every statistic that applies to the column type (NaN when not evaluated).
    pub statistics: Vec<(DriftTest, f64)>,
    /// The column's p-value test (ks or chi2) and its raw and adjusted p-values.
    pub p_test: DriftTest,
    pub p_value: f64,
    pub p_value_adjusted: f64,
    /// KS D or Cramér's V.
    pub effect: f64,
    /// The detection test and its threshold (alpha for p-value tests).
    pub test: DriftTest,
    pub threshold: f64,
    /// `None` when the column was not evaluated (no reference, or too few values).
    pub detected: Option<bool>,
    pub quality: Quality,
}

impl ColumnReport {
    pub fn statistic(&self, test: DriftTest) -> f64 {
        self.statistics
            .iter()
            .find(|(t, _)| *t == test)
            .map_or(f64::NAN, |(_, v)| *v)
    }
}

/// Drift of one window.
#[derive(Debug, Clone)]
pub struct WindowReport {
    pub name: String,
    pub columns: Vec<ColumnReport>,
    /// Share of feature columns (not prediction or label) that drifted; NaN if none was evaluated.
    pub drift_share: f64,
    /// 1 when the share reached `drift_share`, 0 if not, NaN if not evaluated.
    pub dataset_drift: f64,
}

/// How one column is to be judged.
#[derive(Debug, Clone)]
pub struct ColumnSpec {
    pub name: String,
    pub role: Role,
    pub kind: FeatureKind,
    pub test: DriftTest,
    pub threshold: f64,
}

impl ColumnSpec {
    /// The detection test and threshold for a column, from its configured test (if it applies) or the
    /// defaults of its type.
    pub fn new(
        name: &str,
        role: Role,
        kind: FeatureKind,
        test: Option<DriftTest>,
        threshold: Option<f64>,
        drift: &DriftConfig,
    ) -> ColumnSpec {
        let (test, threshold) = match test {
            Some(t) if t.applies_to(kind) => (t, threshold),
            // A configured test of the other type (the binary prediction column without scores) falls back
            // to the default of the type it has, with the default threshold.
            _ => (DriftTest::default_for(kind), None),
        };
        let threshold = threshold.unwrap_or_else(|| {
            if test.is_p_value() {
                drift.alpha
            } else {
                test.default_threshold().unwrap_or(f64::INFINITY)
            }
        });
        ColumnSpec {
            name: name.to_string(),
            role,
            kind,
            test,
            threshold,
        }
    }
}

/// The current and reference data of one column. A frozen reference is borrowed, never copied.
pub enum ColumnData<'a> {
    Numeric {
        current: NumericData,
        reference: Option<Cow<'a, NumericData>>,
    },
    Categorical {
        current: CategoricalData,
        reference: Option<Cow<'a, CategoricalData>>,
        /// Names of category ids (for the top-category series).
        names: Vec<String>,
    },
}

/// Compares one column. The decision (`detected`) is made later, across the window, by `decide`.
pub fn compare(spec: &ColumnSpec, data: &ColumnData<'_>, min_samples: usize) -> ColumnReport {
    let mut report = ColumnReport {
        name: spec.name.clone(),
        role: spec.role,
        kind: spec.kind,
        current: 0,
        reference: 0,
        statistics: Vec::new(),
        p_test: DriftTest::Ks,
        p_value: f64::NAN,
        p_value_adjusted: f64::NAN,
        effect: f64::NAN,
        test: spec.test,
        threshold: spec.threshold,
        detected: None,
        quality: Quality::default(),
    };
    match data {
        ColumnData::Numeric { current, reference } => {
            report.current = current.len();
            let reference = reference.as_deref();
            report.reference = reference.map_or(0, NumericData::len);
            report.quality = numeric_quality(current, reference);
            let values = match reference {
                Some(r) if current.len() >= min_samples && r.len() >= min_samples => {
                    Some(compare_numeric(current, r))
                }
                _ => None,
            };
            let v = values.unwrap_or([f64::NAN; 6]);
            report.statistics = DriftTest::NUMERIC
                .iter()
                .zip(v)
                .map(|(t, x)| (*t, x))
                .collect();
            report.p_test = DriftTest::Ks;
            report.p_value = v[5];
            report.effect = v[0];
        }
        ColumnData::Categorical {
            current,
            reference,
            names,
        } => {
            report.current = current.total() as usize;
            let reference = reference.as_deref();
            report.reference = reference.map_or(0, |r| r.total() as usize);
            report.quality = categorical_quality(current, reference, names);
            let values = match reference {
                Some(r) if report.current >= min_samples && report.reference >= min_samples => {
                    Some(compare_categorical(current, r))
                }
                _ => None,
            };
            let v = values.unwrap_or([f64::NAN; 5]);
            report.statistics = DriftTest::CATEGORICAL
                .iter()
                .zip(v)
                .map(|(t, x)| (*t, x))
                .collect();
            report.p_test = DriftTest::Chi2;
            report.p_value = v[3];
            report.effect = v[4];
        }
    }
    report
}

/// [ks D, wasserstein, wasserstein_normed, psi, jensen_shannon, ks p-value]
fn compare_numeric(current: &NumericData, reference: &NumericData) -> [f64; 6] {
    // The Wasserstein distance and the KS statistic come from one call, in two passes over the samples
    // (a lane-split merge for KS, a walk of the quantile grid for W).
    let merged = merge_statistics(&reference.sorted, &current.sorted);
    let ks = ks_from_statistic(reference.len(), current.len(), merged.ks_statistic);
    let w = merged.wasserstein;
    let edges = psi_edges(&reference.sorted);
    let ref_bins = bin_counts_sorted(&reference.sorted, &edges);
    let cur_bins = bin_counts_sorted(&current.sorted, &edges);
    [
        ks.statistic,
        w,
        wasserstein_normed(w, reference.std()),
        psi(&ref_bins, &cur_bins),
        jensen_shannon(&ref_bins, &cur_bins),
        ks.p_value,
    ]
}

/// [chi2 statistic, psi, jensen_shannon, chi2 p-value, Cramér's V], over the union of categories.
fn compare_categorical(current: &CategoricalData, reference: &CategoricalData) -> [f64; 5] {
    let k = current.counts.len().max(reference.counts.len());
    let (mut r, mut c) = (Vec::with_capacity(k), Vec::with_capacity(k));
    for id in 0..k {
        let (rc, cc) = (reference.count(id), current.count(id));
        if rc > 0 || cc > 0 {
            r.push(rc);
            c.push(cc);
        }
    }
    let chi2 = chi2_homogeneity(&r, &c);
    [
        chi2.statistic,
        psi(&r, &c),
        jensen_shannon(&r, &c),
        chi2.p_value,
        chi2.cramers_v,
    ]
}

fn ratio(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        f64::NAN
    } else {
        part as f64 / whole as f64
    }
}

fn numeric_quality(current: &NumericData, reference: Option<&NumericData>) -> Quality {
    let n = current.len() as u64;
    let s = &current.sorted;
    let out_of_range = reference.filter(|r| !r.is_empty()).map(|r| {
        let (lo, hi) = (r.sorted[0], r.sorted[r.len() - 1]);
        let below = s.partition_point(|&v| v < lo) as u64;
        let above = (s.len() - s.partition_point(|&v| v <= hi)) as u64;
        ratio(below + above, n)
    });
    // The sum (exported as the summary's `_sum`) is kept by the window, or computed once.
    let total = current.sum();
    Quality {
        missing_ratio: ratio(current.missing, current.missing + n),
        out_of_range_ratio: out_of_range,
        new_category_ratio: None,
        quantiles: Some(QUANTILES.map(|q| quantile_sorted(s, q))),
        mean: Some(if n == 0 { f64::NAN } else { total / n as f64 }),
        count: n,
        sum: total,
        categories: Vec::new(),
    }
}

fn categorical_quality(
    current: &CategoricalData,
    reference: Option<&CategoricalData>,
    names: &[String],
) -> Quality {
    let n = current.total();
    let mut q = Quality {
        missing_ratio: ratio(current.missing, current.missing + n),
        ..Quality::default()
    };
    if let Some(r) = reference {
        let new: u64 = current
            .counts
            .iter()
            .enumerate()
            .filter(|&(id, _)| r.count(id) == 0)
            .map(|(_, c)| *c)
            .sum();
        q.new_category_ratio = Some(ratio(new, n));
        // The most frequent reference categories; ties go to the lower id (the one seen first).
        // The bucket of values beyond the category cap is itself called `__other__`; it belongs to the
        // residual share below, never to the named top categories (it would duplicate that series).
        let is_other = |id: usize| names.get(id).is_some_and(|n| n == OTHER);
        let mut ids: Vec<usize> = (0..r.counts.len())
            .filter(|&id| r.counts[id] > 0 && !is_other(id))
            .collect();
        ids.sort_by(|&a, &b| r.counts[b].cmp(&r.counts[a]).then(a.cmp(&b)));
        ids.truncate(TOP_CATEGORIES);
        let mut covered = 0;
        for id in ids {
            let c = current.count(id);
            covered += c;
            let name = names.get(id).cloned().unwrap_or_else(|| format!("#{id}"));
            q.categories.push((name, ratio(c, n)));
        }
        q.categories
            .push((OTHER.to_string(), ratio(n - covered, n)));
    }
    q
}

/// Applies the multiple-testing correction across the window's columns, decides drift per column, and
/// computes the drift share of the features.
pub fn decide(name: &str, mut columns: Vec<ColumnReport>, drift: &DriftConfig) -> WindowReport {
    let raw: Vec<f64> = columns.iter().map(|c| c.p_value).collect();
    let adjusted = adjust(&raw, drift.correction);
    for (c, p_adj) in columns.iter_mut().zip(adjusted) {
        c.p_value_adjusted = p_adj;
        c.detected = if c.test.is_p_value() {
            (!p_adj.is_nan()).then_some(p_adj < c.threshold && c.effect >= drift.min_effect)
        } else {
            let s = c.statistic(c.test);
            (!s.is_nan()).then_some(s >= c.threshold)
        };
    }
    let judged: Vec<bool> = columns
        .iter()
        .filter(|c| c.role == Role::Feature)
        .filter_map(|c| c.detected)
        .collect();
    let drift_share = if judged.is_empty() {
        f64::NAN
    } else {
        judged.iter().filter(|&&d| d).count() as f64 / judged.len() as f64
    };
    let dataset_drift = if drift_share.is_nan() {
        f64::NAN
    } else {
        (drift_share >= drift.drift_share) as u8 as f64
    };
    WindowReport {
        name: name.to_string(),
        columns,
        drift_share,
        dataset_drift,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::multitest::Correction;

    fn numeric(values: Vec<f64>, missing: u64) -> NumericData {
        let mut v = values;
        v.sort_by(f64::total_cmp);
        NumericData::new(v, missing)
    }

    fn spec(kind: FeatureKind, role: Role, test: Option<DriftTest>) -> ColumnSpec {
        ColumnSpec::new("x", role, kind, test, None, &DriftConfig::default())
    }

    #[test]
    fn numeric_column_statistics_and_quality() {
        let reference = numeric((0..100).map(f64::from).collect(), 0);
        let current = numeric((50..150).map(f64::from).collect(), 25);
        let r = compare(
            &spec(FeatureKind::Numeric, Role::Feature, None),
            &ColumnData::Numeric {
                current,
                reference: Some(Cow::Owned(reference)),
            },
            30,
        );
        assert_eq!((r.current, r.reference), (100, 100));
        assert_eq!(r.statistic(DriftTest::Ks), 0.5);
        assert_eq!(r.effect, 0.5);
        assert_eq!(r.statistic(DriftTest::Wasserstein), 50.0);
        assert!(r.p_value < 1e-10);
        assert_eq!(r.quality.missing_ratio, 0.2);
        assert_eq!(r.quality.out_of_range_ratio, Some(0.5));
        assert_eq!(r.quality.mean, Some(99.5));
        assert_eq!(r.quality.quantiles.unwrap()[2], 99.5);
    }

    #[test]
    fn too_few_samples_means_nan_but_quality_still_reported() {
        let r = compare(
            &spec(FeatureKind::Numeric, Role::Feature, None),
            &ColumnData::Numeric {
                current: numeric(vec![1.0, 2.0], 0),
                reference: Some(Cow::Owned(numeric((0..100).map(f64::from).collect(), 0))),
            },
            30,
        );
        assert!(r.statistics.iter().all(|(_, v)| v.is_nan()));
        assert!(r.p_value.is_nan());
        assert_eq!(r.quality.mean, Some(1.5));
        let w = decide("w", vec![r], &DriftConfig::default());
        assert_eq!(w.columns[0].detected, None);
        assert!(w.drift_share.is_nan() && w.dataset_drift.is_nan());
    }

    #[test]
    fn categorical_union_new_categories_and_top_list() {
        let reference = CategoricalData {
            counts: vec![50, 30, 20, 0],
            missing: 0,
        };
        let current = CategoricalData {
            counts: vec![40, 0, 20, 40],
            missing: 0,
        };
        let names = vec!["a".into(), "b".into(), "c".into(), "d".into()];
        let r = compare(
            &spec(FeatureKind::Categorical, Role::Feature, None),
            &ColumnData::Categorical {
                current,
                reference: Some(Cow::Owned(reference)),
                names,
            },
            30,
        );
        assert_eq!(r.quality.new_category_ratio, Some(0.4));
        assert_eq!(
            r.quality.categories,
            vec![
                ("a".into(), 0.4),
                ("b".into(), 0.0),
                ("c".into(), 0.2),
                (OTHER.into(), 0.4)
            ]
        );
        assert!(r.statistic(DriftTest::Chi2) > 0.0);
        assert!(r.effect > 0.0 && r.effect <= 1.0);
    }

    #[test]
    fn the_overflow_bucket_is_reported_once_as_other() {
        let reference = CategoricalData {
            counts: vec![5, 90, 5],
            missing: 0,
        };
        let current = CategoricalData {
            counts: vec![10, 80, 10],
            missing: 0,
        };
        let names = vec!["a".into(), OTHER.into(), "b".into()];
        let r = compare(
            &spec(FeatureKind::Categorical, Role::Feature, None),
            &ColumnData::Categorical {
                current,
                reference: Some(Cow::Owned(reference)),
                names,
            },
            30,
        );
        assert_eq!(
            r.quality.categories,
            vec![("a".into(), 0.1), ("b".into(), 0.1), (OTHER.into(), 0.8)]
        );
    }

    #[test]
    fn decisions_use_adjusted_p_values_effect_and_thresholds() {
        let mk = |p: f64, effect: f64, role: Role| ColumnReport {
            name: "c".into(),
            role,
            kind: FeatureKind::Numeric,
            current: 100,
            reference: 100,
            statistics: vec![(DriftTest::Ks, effect)],
            p_test: DriftTest::Ks,
            p_value: p,
            p_value_adjusted: f64::NAN,
            effect,
            test: DriftTest::Ks,
            threshold: 0.05,
            detected: None,
            quality: Quality::default(),
        };
        let cols = vec![
            mk(0.02, 0.3, Role::Feature),
            mk(0.03, 0.01, Role::Feature),
            mk(0.5, 0.3, Role::Feature),
            mk(0.001, 0.3, Role::Label),
        ];
        let none = decide("w", cols.clone(), &DriftConfig::default());
        let detected: Vec<_> = none.columns.iter().map(|c| c.detected).collect();
        assert_eq!(
            detected,
            vec![Some(true), Some(true), Some(false), Some(true)]
        );
        assert_eq!(none.drift_share, 2.0 / 3.0);
        assert_eq!(none.dataset_drift, 1.0);
        // Bonferroni over 4 tests: 0.02*4 = 0.08 is no longer significant.
        let bonf = decide(
            "w",
            cols.clone(),
            &DriftConfig {
                correction: Correction::Bonferroni,
                ..DriftConfig::default()
            },
        );
        assert_eq!(bonf.columns[0].p_value_adjusted, 0.08);
        assert_eq!(bonf.columns[0].detected, Some(false));
        assert_eq!(bonf.columns[3].detected, Some(true));
        // min_effect drops the tiny effect.
        let eff = decide(
            "w",
            cols,
            &DriftConfig {
                min_effect: 0.1,
                ..DriftConfig::default()
            },
        );
        assert_eq!(eff.columns[1].detected, Some(false));
        assert_eq!(eff.drift_share, 1.0 / 3.0);
        assert_eq!(eff.dataset_drift, 0.0);
    }

    #[test]
    fn a_configured_test_of_the_wrong_type_falls_back_to_the_default() {
        let s = ColumnSpec::new(
            "prediction",
            Role::Prediction,
            FeatureKind::Categorical,
            Some(DriftTest::WassersteinNormed),
            Some(0.3),
            &DriftConfig::default(),
        );
        assert_eq!((s.test, s.threshold), (DriftTest::Chi2, 0.05));
        let s = ColumnSpec::new(
            "x",
            Role::Feature,
            FeatureKind::Numeric,
            Some(DriftTest::Psi),
            None,
            &DriftConfig::default(),
        );
        assert_eq!((s.test, s.threshold), (DriftTest::Psi, 0.2));
    }
}
