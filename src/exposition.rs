//! Translation of window statistics into Prometheus gauges, at scrape time.
//!
//! `WindowCollector` is a `prometheus::core::Collector`: each scrape asks every model for a snapshot of
//! its windows (computed outside the model lock) and for its last drift report, and turns them into
//! metric families. This module only translates; it does no statistics.

use std::collections::BTreeMap;
use std::sync::Arc;

use prometheus::core::{Collector, Desc};
use prometheus::proto::{Gauge, LabelPair, Metric, MetricFamily, MetricType, Quantile, Summary};

use crate::drift::evaluate::QUANTILES;
use crate::drift::{DriftReport, Quality};
use crate::model::{Model, ModelSnapshot};
use crate::models::Models;
use crate::window::metric::TaskMetrics;

/// Gauge families under construction, by metric name.
#[derive(Default)]
pub struct Families {
    by_name: BTreeMap<&'static str, (&'static str, MetricType, Vec<Metric>)>,
}

fn label_pairs(labels: &[(&str, &str)]) -> Vec<LabelPair> {
    labels
        .iter()
        .map(|(k, v)| {
            let mut p = LabelPair::default();
            p.set_name(k.to_string());
            p.set_value(v.to_string());
            p
        })
        .collect()
}

impl Families {
    fn push(&mut self, name: &'static str, help: &'static str, kind: MetricType, m: Metric) {
        self.by_name
            .entry(name)
            .or_insert_with(|| (help, kind, Vec::new()))
            .2
            .push(m);
    }

    /// Adds one gauge sample.
    pub fn gauge(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &[(&str, &str)],
        value: f64,
    ) {
        let mut g = Gauge::default();
        g.set_value(value);
        let mut m = Metric::from_label(label_pairs(labels));
        m.set_gauge(g);
        self.push(name, help, MetricType::GAUGE, m);
    }

    /// Adds one summary: quantiles of a set of values, with their count and sum. Prometheus reserves the
    /// `quantile` label for summaries, so distribution quantiles are exported as one.
    pub fn summary(
        &mut self,
        name: &'static str,
        help: &'static str,
        labels: &[(&str, &str)],
        quantiles: &[(f64, f64)],
        count: u64,
        sum: f64,
    ) {
        let mut s = Summary::default();
        s.set_sample_count(count);
        s.set_sample_sum(sum);
        s.set_quantile(
            quantiles
                .iter()
                .map(|&(q, v)| {
                    let mut quantile = Quantile::default();
                    quantile.set_quantile(q);
                    quantile.set_value(v);
                    quantile
                })
                .collect(),
        );
        let mut m = Metric::from_label(label_pairs(labels));
        m.set_summary(s);
        self.push(name, help, MetricType::SUMMARY, m);
    }

    pub fn into_families(self) -> Vec<MetricFamily> {
        self.by_name
            .into_iter()
            .map(|(name, (help, kind, metrics))| {
                let mut mf = MetricFamily::default();
                mf.set_name(name.to_string());
                mf.set_help(help.to_string());
                mf.set_field_type(kind);
                mf.set_metric(metrics);
                mf
            })
            .collect()
    }
}

/// Collects window gauges for every configured model at scrape time.
pub struct WindowCollector {
    models: Arc<arc_swap::ArcSwap<Models>>,
    started: std::time::Instant,
}

impl WindowCollector {
    pub fn new(models: Arc<arc_swap::ArcSwap<Models>>) -> Self {
        WindowCollector {
            models,
            started: std::time::Instant::now(),
        }
    }
}

impl Collector for WindowCollector {
    fn desc(&self) -> Vec<&Desc> {
        // The families depend on the config, which can be reloaded, so they are not declared up front.
        Vec::new()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let mut f = Families::default();
        f.gauge(
            "modelwatch_uptime_seconds",
            "Seconds since modelwatch started.",
            &[],
            self.started.elapsed().as_secs_f64(),
        );
        let models = self.models.load();
        for model in models.iter() {
            let snapshot = model.snapshot();
            model_families(&mut f, model, &snapshot);
            reference_families(&mut f, model);
            threshold_families(&mut f, model);
            if let Some(report) = model.drift_report() {
                drift_families(&mut f, model.name(), &report);
            }
        }
        f.into_families()
    }
}

/// Gauges of one model's windows.
pub fn model_families(f: &mut Families, model: &Model, snapshot: &ModelSnapshot) {
    let m = model.name();
    f.gauge(
        "modelwatch_pending_labels",
        "Predictions waiting for their label.",
        &[("model", m)],
        snapshot.pending as f64,
    );
    let classes = &model.schema.classes;
    for w in &snapshot.windows {
        let labels = [("model", m), ("window", w.name.as_str())];
        f.gauge(
            "modelwatch_window_samples",
            "Labelled samples in the window.",
            &labels,
            w.samples as f64,
        );
        f.gauge(
            "modelwatch_prediction_window_samples",
            "Predictions, labelled or not, in the window.",
            &labels,
            w.predictions as f64,
        );
        match &w.metrics {
            TaskMetrics::Binary(b) => {
                for (name, help, v) in [
                    (
                        "modelwatch_accuracy",
                        "Accuracy of the labelled samples in the window.",
                        b.accuracy,
                    ),
                    (
                        "modelwatch_precision",
                        "Precision (positive class, or per class).",
                        b.precision,
                    ),
                    (
                        "modelwatch_recall",
                        "Recall (positive class, or per class).",
                        b.recall,
                    ),
                    (
                        "modelwatch_f1_score",
                        "F1 score (positive class, or per class).",
                        b.f1,
                    ),
                    (
                        "modelwatch_roc_auc",
                        "ROC AUC over the samples that carry a score.",
                        b.roc_auc,
                    ),
                    (
                        "modelwatch_log_loss",
                        "Log loss over the samples that carry a score or scores.",
                        b.log_loss,
                    ),
                    (
                        "modelwatch_positive_rate",
                        "Share of samples predicted positive.",
                        b.positive_rate,
                    ),
                    (
                        "modelwatch_label_positive_rate",
                        "Share of samples labelled positive.",
                        b.label_positive_rate,
                    ),
                ] {
                    f.gauge(name, help, &labels, v);
                }
                let c = &b.counts;
                let (neg, pos) = (classes[0].as_str(), classes[1].as_str());
                for (actual, predicted, count) in [
                    (neg, neg, c.tn),
                    (neg, pos, c.fp),
                    (pos, neg, c.fn_),
                    (pos, pos, c.tp),
                ] {
                    confusion_cell(f, &labels, actual, predicted, count);
                }
            }
            TaskMetrics::Multiclass(mc) => {
                f.gauge(
                    "modelwatch_accuracy",
                    "Accuracy of the labelled samples in the window.",
                    &labels,
                    mc.accuracy,
                );
                for (i, class) in classes.iter().enumerate() {
                    let with_class = [labels[0], labels[1], ("class", class.as_str())];
                    f.gauge(
                        "modelwatch_precision",
                        "Precision (positive class, or per class).",
                        &with_class,
                        mc.precision[i],
                    );
                    f.gauge(
                        "modelwatch_recall",
                        "Recall (positive class, or per class).",
                        &with_class,
                        mc.recall[i],
                    );
                    f.gauge(
                        "modelwatch_f1_score",
                        "F1 score (positive class, or per class).",
                        &with_class,
                        mc.f1[i],
                    );
                }
                for (name, help, v) in [
                    (
                        "modelwatch_precision_macro",
                        "Unweighted mean of per-class precision.",
                        mc.precision_macro,
                    ),
                    (
                        "modelwatch_recall_macro",
                        "Unweighted mean of per-class recall.",
                        mc.recall_macro,
                    ),
                    (
                        "modelwatch_f1_score_macro",
                        "Unweighted mean of per-class F1.",
                        mc.f1_macro,
                    ),
                    (
                        "modelwatch_f1_score_weighted",
                        "Support-weighted mean of per-class F1.",
                        mc.f1_weighted,
                    ),
                    (
                        "modelwatch_log_loss",
                        "Log loss over the samples that carry a score or scores.",
                        mc.log_loss,
                    ),
                ] {
                    f.gauge(name, help, &labels, v);
                }
                for (a, actual) in classes.iter().enumerate() {
                    for (p, predicted) in classes.iter().enumerate() {
                        confusion_cell(f, &labels, actual, predicted, mc.confusion.get(a, p));
                    }
                }
            }
            TaskMetrics::Regression(r) => {
                for (name, help, v) in [
                    ("modelwatch_mae", "Mean absolute error.", r.mae),
                    ("modelwatch_mse", "Mean squared error.", r.mse),
                    ("modelwatch_rmse", "Root mean squared error.", r.rmse),
                    ("modelwatch_r2", "Coefficient of determination (R²).", r.r2),
                    (
                        "modelwatch_mape",
                        "Mean absolute percentage error (a fraction, not %).",
                        r.mape,
                    ),
                    (
                        "modelwatch_mean_prediction",
                        "Mean prediction of the labelled samples.",
                        r.mean_prediction,
                    ),
                    (
                        "modelwatch_mean_label",
                        "Mean label of the labelled samples.",
                        r.mean_label,
                    ),
                ] {
                    f.gauge(name, help, &labels, v);
                }
            }
        }
    }
}

fn reference_families(f: &mut Families, model: &Model) {
    let Some(info) = model.reference_info() else {
        return;
    };
    let m = model.name();
    f.gauge(
        "modelwatch_reference_samples",
        "Prediction rows in the reference (for a warmup reference: collected so far).",
        &[("model", m)],
        info.samples as f64,
    );
    f.gauge(
        "modelwatch_reference_info",
        "Where the reference came from; sha256 of the file or body (empty for warmup and moving). Always 1.",
        &[("model", m), ("source", info.source.as_str()), ("sha256", &info.sha256)],
        1.0,
    );
}

fn threshold_families(f: &mut Families, model: &Model) {
    for (metric, direction, value) in model.config.alerts.thresholds() {
        f.gauge(
            "modelwatch_alert_threshold",
            "Alert thresholds from [model.alerts], for the shipped alert rules.",
            &[
                ("model", model.name()),
                ("metric", metric),
                ("direction", direction),
            ],
            value,
        );
    }
}

fn drift_families(f: &mut Families, m: &str, report: &DriftReport) {
    f.gauge(
        "modelwatch_drift_last_evaluation_timestamp_seconds",
        "Unix time of the last drift evaluation.",
        &[("model", m)],
        report.evaluated_at,
    );
    f.gauge(
        "modelwatch_drift_evaluation_duration_seconds",
        "How long the last full drift evaluation took.",
        &[("model", m)],
        report.duration,
    );
    for w in &report.windows {
        let wl = [("model", m), ("window", w.name.as_str())];
        f.gauge(
            "modelwatch_drift_share",
            "Share of feature columns that drifted (prediction and label excluded).",
            &wl,
            w.drift_share,
        );
        f.gauge(
            "modelwatch_dataset_drift",
            "1 when the drift share reached drift_share.",
            &wl,
            w.dataset_drift,
        );
        for c in &w.columns {
            let cl = [wl[0], wl[1], ("feature", c.name.as_str())];
            for (test, value) in &c.statistics {
                f.gauge(
                    "modelwatch_drift_statistic",
                    "Drift statistic of the column against the reference (NaN when not evaluated).",
                    &[cl[0], cl[1], cl[2], ("test", test.as_str())],
                    *value,
                );
            }
            let tl = [cl[0], cl[1], cl[2], ("test", c.p_test.as_str())];
            f.gauge(
                "modelwatch_drift_p_value",
                "Raw p-value of the column's test.",
                &tl,
                c.p_value,
            );
            f.gauge(
                "modelwatch_drift_p_value_adjusted",
                "p-value after the model's multiple-testing correction.",
                &tl,
                c.p_value_adjusted,
            );
            f.gauge(
                "modelwatch_drift_detected",
                "1 if the column's detection test flags drift, 0 if not, NaN if not evaluated.",
                &cl,
                c.detected.map_or(f64::NAN, |d| d as u8 as f64),
            );
            quality_families(f, &cl, &c.quality);
        }
    }
}

fn quality_families(f: &mut Families, cl: &[(&str, &str); 3], q: &Quality) {
    f.gauge(
        "modelwatch_missing_ratio",
        "Share of the window's rows where the value is absent, null or NaN.",
        cl,
        q.missing_ratio,
    );
    if let Some(r) = q.out_of_range_ratio {
        f.gauge(
            "modelwatch_out_of_range_ratio",
            "Share of numeric values outside the reference's [min, max].",
            cl,
            r,
        );
    }
    if let Some(r) = q.new_category_ratio {
        f.gauge(
            "modelwatch_new_category_ratio",
            "Share of categorical values in categories the reference never saw.",
            cl,
            r,
        );
    }
    if let Some(qs) = q.quantiles {
        let pairs: Vec<(f64, f64)> = QUANTILES.iter().copied().zip(qs).collect();
        f.summary(
            "modelwatch_feature_quantile",
            "Quantiles of the numeric values in the window (numpy's linear interpolation); _count and _sum \
             are the number and the sum of the non-missing values.",
            cl,
            &pairs,
            q.count,
            q.sum,
        );
    }
    if let Some(mean) = q.mean {
        f.gauge(
            "modelwatch_feature_mean",
            "Mean of the numeric values in the window.",
            cl,
            mean,
        );
    }
    for (category, ratio) in &q.categories {
        f.gauge(
            "modelwatch_category_ratio",
            "Share of the window's values in each of the top 20 reference categories, and in the rest.",
            &[cl[0], cl[1], cl[2], ("category", category.as_str())],
            *ratio,
        );
    }
}

fn confusion_cell(
    f: &mut Families,
    labels: &[(&str, &str); 2],
    actual: &str,
    predicted: &str,
    count: u64,
) {
    f.gauge(
        "modelwatch_confusion_matrix",
        "Labelled samples by actual and predicted class.",
        &[
            labels[0],
            labels[1],
            ("actual", actual),
            ("predicted", predicted),
        ],
        count as f64,
    );
}
