//! The JSON status documents of `GET /v1/models` and `GET /v1/models/{model}`.
//!
//! Undefined metric values (NaN) and infinities, which JSON cannot carry, are written as `null`.

use serde_json::{Map, Value, json};

use crate::config::WindowKind;
use crate::drift::evaluate::QUANTILE_LABELS;
use crate::drift::{DriftReport, Quality, Role};
use crate::error::EventCode;
use crate::model::Model;
use crate::state::Models;
use crate::window::metric::TaskMetrics;

/// A number, or `null` when it is not finite.
pub fn num(v: f64) -> Value {
    if v.is_finite() { json!(v) } else { Value::Null }
}

fn window_kind(kind: WindowKind) -> Value {
    match kind {
        WindowKind::Count(n) => json!({"type": "count", "events": n}),
        WindowKind::Time {
            duration,
            max_events,
        } => json!({
            "type": "time",
            "duration_seconds": duration.as_secs_f64(),
            "max_events": max_events,
        }),
    }
}

pub fn model_list(models: &Models) -> Value {
    let list: Vec<Value> = models
        .iter()
        .map(|m| {
            let c = &m.config;
            json!({
                "name": c.name,
                "task": c.task.as_str(),
                "classes": c.classes,
                "windows": c.windows.iter().map(|w| {
                    let mut v = window_kind(w.kind);
                    v["name"] = json!(w.name);
                    v
                }).collect::<Vec<_>>(),
                "features": c.features.iter().map(|f| json!({"name": f.name, "type": f.kind.as_str()})).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({ "models": list })
}

fn metrics_json(metrics: &TaskMetrics, classes: &[String]) -> Value {
    match metrics {
        TaskMetrics::Binary(b) => {
            let c = &b.counts;
            json!({
                "accuracy": num(b.accuracy),
                "precision": num(b.precision),
                "recall": num(b.recall),
                "f1_score": num(b.f1),
                "roc_auc": num(b.roc_auc),
                "log_loss": num(b.log_loss),
                "positive_rate": num(b.positive_rate),
                "label_positive_rate": num(b.label_positive_rate),
                "scored_samples": b.scored,
                "confusion_matrix": {
                    "classes": classes,
                    "counts": [[c.tn, c.fp], [c.fn_, c.tp]],
                },
            })
        }
        TaskMetrics::Multiclass(m) => {
            let mut per_class = Map::new();
            for (i, class) in classes.iter().enumerate() {
                per_class.insert(
                    class.clone(),
                    json!({
                        "precision": num(m.precision[i]),
                        "recall": num(m.recall[i]),
                        "f1_score": num(m.f1[i]),
                    }),
                );
            }
            let k = classes.len();
            let counts: Vec<Vec<u64>> = (0..k)
                .map(|a| (0..k).map(|p| m.confusion.get(a, p)).collect())
                .collect();
            json!({
                "accuracy": num(m.accuracy),
                "per_class": per_class,
                "precision_macro": num(m.precision_macro),
                "recall_macro": num(m.recall_macro),
                "f1_score_macro": num(m.f1_macro),
                "f1_score_weighted": num(m.f1_weighted),
                "log_loss": num(m.log_loss),
                "scored_samples": m.scored,
                "confusion_matrix": {"classes": classes, "counts": counts},
            })
        }
        TaskMetrics::Regression(r) => json!({
            "mae": num(r.mae),
            "mse": num(r.mse),
            "rmse": num(r.rmse),
            "r2": num(r.r2),
            "mape": num(r.mape),
            "mean_prediction": num(r.mean_prediction),
            "mean_label": num(r.mean_label),
        }),
    }
}

fn quality_json(q: &Quality) -> Value {
    let mut v = json!({"missing_ratio": num(q.missing_ratio)});
    if let Some(r) = q.out_of_range_ratio {
        v["out_of_range_ratio"] = num(r);
    }
    if let Some(r) = q.new_category_ratio {
        v["new_category_ratio"] = num(r);
    }
    if let Some(qs) = q.quantiles {
        let mut m = Map::new();
        for (label, x) in QUANTILE_LABELS.iter().zip(qs) {
            m.insert(label.to_string(), num(x));
        }
        v["quantiles"] = Value::Object(m);
    }
    if let Some(mean) = q.mean {
        v["mean"] = num(mean);
    }
    if !q.categories.is_empty() {
        let mut m = Map::new();
        for (c, r) in &q.categories {
            m.insert(c.clone(), num(*r));
        }
        v["category_ratios"] = Value::Object(m);
    }
    v
}

fn drift_json(report: &DriftReport) -> Value {
    let windows: Vec<Value> = report
        .windows
        .iter()
        .map(|w| {
            let columns: Vec<Value> = w
                .columns
                .iter()
                .map(|c| {
                    let mut stats = Map::new();
                    for (t, v) in &c.statistics {
                        stats.insert(t.as_str().to_string(), num(*v));
                    }
                    json!({
                        "name": c.name,
                        "role": match c.role { Role::Feature => "feature", Role::Prediction => "prediction", Role::Label => "label" },
                        "type": c.kind.as_str(),
                        "current_values": c.current,
                        "reference_values": c.reference,
                        "test": c.test.as_str(),
                        "threshold": num(c.threshold),
                        "detected": c.detected,
                        "statistics": stats,
                        "p_value": {"test": c.p_test.as_str(), "raw": num(c.p_value), "adjusted": num(c.p_value_adjusted)},
                        "effect": num(c.effect),
                        "quality": quality_json(&c.quality),
                    })
                })
                .collect();
            json!({
                "name": w.name,
                "drift_share": num(w.drift_share),
                "dataset_drift": num(w.dataset_drift),
                "columns": columns,
            })
        })
        .collect();
    json!({
        "evaluated_at": report.evaluated_at,
        "duration_seconds": report.duration,
        "windows": windows,
    })
}

pub fn model_status(model: &Model) -> Value {
    let snapshot = model.snapshot();
    let c = &model.config;
    let t = &model.telemetry;
    let windows: Vec<Value> = snapshot
        .windows
        .iter()
        .zip(&c.windows)
        .map(|(w, wc)| {
            json!({
                "name": w.name,
                "window": window_kind(wc.kind),
                "samples": w.samples,
                "predictions": w.predictions,
                "metrics": metrics_json(&w.metrics, &c.classes),
            })
        })
        .collect();
    let mut rejected = Map::new();
    for code in EventCode::ALL {
        let n = t.rejected(code).get();
        if n > 0 {
            rejected.insert(code.as_str().to_string(), json!(n));
        }
    }
    json!({
        "name": c.name,
        "task": c.task.as_str(),
        "classes": c.classes,
        "pending_labels": snapshot.pending,
        "counters": {
            "predictions_total": t.predictions.get(),
            "labels_total": t.labels.get(),
            "labels_unmatched_total": t.unmatched.get(),
            "predictions_expired_total": t.expired.get(),
            "prediction_errors_total": t.errors.get(),
            "rejected_events_total": rejected,
        },
        "windows": windows,
        "reference": model.reference_info().map(|r| json!({
            "source": r.source.as_str(),
            "sha256": r.sha256,
            "samples": r.samples,
            "label_samples": r.label_samples,
            "ready": r.ready,
        })),
        "drift": model.drift_report().map(|r| drift_json(&r)),
    })
}
