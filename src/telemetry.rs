//! Prometheus counters and histograms that are updated as events arrive.
//!
//! Gauges that describe window contents are not here: they are computed at scrape time by
//! `exposition::WindowCollector`. Every label value used here comes from the config (model and feature
//! names) or from a fixed list (error codes, violation kinds), never from request data, so the number of
//! series does not depend on what clients send.

use std::sync::OnceLock;
use std::time::Duration;

use prometheus::{
    Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGaugeVec, Opts,
    Registry,
};

use crate::config::ModelConfig;
use crate::error::EventCode;
use crate::schema::Violation;

/// Label value of `feature` for violations that concern a feature not in the config.
pub const UNKNOWN_FEATURE: &str = "__unknown__";

/// Inference latency buckets, 0.5 ms to 10 s: dense where models usually answer (1-100 ms).
pub const LATENCY_BUCKETS: [f64; 17] = [
    0.0005, 0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5,
    5.0, 10.0,
];

/// Buckets for the time a state snapshot takes, 1 ms to a minute (a 1M-row window takes seconds).
pub const SNAPSHOT_BUCKETS: [f64; 13] = [
    0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// Buckets for the sidecar's own request latency: it should answer in well under a millisecond.
pub const HTTP_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
];

pub struct Telemetry {
    pub registry: Registry,
    predictions: IntCounterVec,
    labels: IntCounterVec,
    unmatched: IntCounterVec,
    expired: IntCounterVec,
    errors: IntCounterVec,
    rejected: IntCounterVec,
    latency: HistogramVec,
    violations: IntCounterVec,
    pub http_duration: HistogramVec,
    /// Registered only when state snapshots are configured, so that nothing alerts when they are off.
    snapshots: OnceLock<SnapshotTelemetry>,
    /// Tells this instance's cached histogram handles from another's (tests run several in a process).
    id: u64,
}

/// Telemetry instances created so far; gives each its `id`.
static INSTANCES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

type HttpKey = (u64, &'static str, &'static str, u16);

thread_local! {
    /// Each worker thread's handles to `http_duration` children. `with_label_values` hashes the labels
    /// and takes the family's lock on every call; a handle found here costs neither.
    static HTTP_HISTOGRAMS: std::cell::RefCell<rustc_hash::FxHashMap<HttpKey, prometheus::Histogram>> =
        std::cell::RefCell::new(rustc_hash::FxHashMap::default());
}

/// Entries per thread before the cache starts over; only reached by many short-lived instances.
const HTTP_CACHE_CAP: usize = 4096;

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter");
    registry
        .register(Box::new(c.clone()))
        .expect("registered once");
    c
}

impl Telemetry {
    pub fn new() -> Telemetry {
        let registry = Registry::new();
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("process collector registers once");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "modelwatch_prediction_latency_seconds",
                "Model inference latency reported in latency_ms of prediction events.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["model"],
        )
        .expect("valid histogram");
        registry
            .register(Box::new(latency.clone()))
            .expect("registered once");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "modelwatch_http_request_duration_seconds",
                "Time modelwatch took to answer its own HTTP requests, by matched route.",
            )
            .buckets(HTTP_BUCKETS.to_vec()),
            &["route", "method", "status"],
        )
        .expect("valid histogram");
        registry
            .register(Box::new(http_duration.clone()))
            .expect("registered once");
        let build = IntGaugeVec::new(
            Opts::new(
                "modelwatch_build_info",
                "Build information; the value is always 1.",
            ),
            &["version"],
        )
        .expect("valid gauge");
        build.with_label_values(&[env!("CARGO_PKG_VERSION")]).set(1);
        registry.register(Box::new(build)).expect("registered once");

        Telemetry {
            predictions: counter(
                &registry,
                "modelwatch_predictions_total",
                "Prediction events accepted, model errors included.",
                &["model"],
            ),
            labels: counter(
                &registry,
                "modelwatch_labels_total",
                "Labels that made a labelled sample, inline or joined to a pending prediction.",
                &["model"],
            ),
            unmatched: counter(
                &registry,
                "modelwatch_labels_unmatched_total",
                "Labels whose id matched no pending prediction (unknown, already labelled or expired).",
                &["model"],
            ),
            expired: counter(
                &registry,
                "modelwatch_predictions_expired_total",
                "Pending predictions dropped unlabelled, by label_ttl or by the max_pending cap.",
                &["model"],
            ),
            errors: counter(
                &registry,
                "modelwatch_prediction_errors_total",
                "Prediction events with \"error\": true.",
                &["model"],
            ),
            rejected: counter(
                &registry,
                "modelwatch_rejected_events_total",
                "Events rejected, by error code.",
                &["model", "reason"],
            ),
            violations: counter(
                &registry,
                "modelwatch_schema_violations_total",
                "Feature values that did not fit the schema; the event was still accepted.",
                &["model", "feature", "kind"],
            ),
            latency,
            http_duration,
            snapshots: OnceLock::new(),
            id: INSTANCES.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            registry,
        }
    }

    /// Registers the snapshot metrics (once; later calls return the same ones).
    pub fn enable_snapshots(&self, interval: Duration) -> &SnapshotTelemetry {
        self.snapshots.get_or_init(|| {
            let last_success = Gauge::new(
                "modelwatch_snapshot_last_success_timestamp_seconds",
                "Unix time of the last state snapshot written successfully; 0 until the first one.",
            )
            .expect("valid gauge");
            let duration = Histogram::with_opts(
                HistogramOpts::new(
                    "modelwatch_snapshot_duration_seconds",
                    "Time taken to capture and write a state snapshot that succeeded.",
                )
                .buckets(SNAPSHOT_BUCKETS.to_vec()),
            )
            .expect("valid histogram");
            let failures = IntCounter::new(
                "modelwatch_snapshot_failures_total",
                "State snapshots that could not be written (the error is logged).",
            )
            .expect("valid counter");
            let interval_gauge = Gauge::new(
                "modelwatch_snapshot_interval_seconds",
                "The configured snapshot_interval: how often a state snapshot is written.",
            )
            .expect("valid gauge");
            interval_gauge.set(interval.as_secs_f64());
            for c in [
                Box::new(last_success.clone()) as Box<dyn prometheus::core::Collector>,
                Box::new(duration.clone()),
                Box::new(failures.clone()),
                Box::new(interval_gauge.clone()),
            ] {
                self.registry.register(c).expect("registered once");
            }
            SnapshotTelemetry {
                last_success,
                duration,
                failures,
                interval: interval_gauge,
            }
        })
    }

    /// The snapshot metrics, if snapshots are configured.
    pub fn snapshots(&self) -> Option<&SnapshotTelemetry> {
        self.snapshots.get()
    }

    /// Records one of modelwatch's own HTTP requests in `modelwatch_http_request_duration_seconds`.
    pub fn observe_http(
        &self,
        route: &'static str,
        method: &'static str,
        status: u16,
        elapsed: std::time::Duration,
    ) {
        let key = (self.id, route, method, status);
        HTTP_HISTOGRAMS.with(|cache| {
            let mut cache = cache.borrow_mut();
            if cache.len() >= HTTP_CACHE_CAP && !cache.contains_key(&key) {
                cache.clear();
            }
            cache
                .entry(key)
                .or_insert_with(|| {
                    self.http_duration
                        .with_label_values(&[route, method, &status.to_string()])
                })
                .observe(elapsed.as_secs_f64());
        });
    }

    /// Handles to one model's series, created (at zero) so they exist from the first scrape.
    pub fn model(&self, config: &ModelConfig) -> ModelTelemetry {
        let m = config.name.as_str();
        let rejected = EventCode::ALL
            .iter()
            .map(|code| self.rejected.with_label_values(&[m, code.as_str()]))
            .collect();
        let per_feature = config
            .features
            .iter()
            .map(|f| {
                [
                    self.violations.with_label_values(&[
                        m,
                        &f.name,
                        Violation::TypeMismatch.as_str(),
                    ]),
                    self.violations
                        .with_label_values(&[m, &f.name, Violation::NonFinite.as_str()]),
                ]
            })
            .collect();
        ModelTelemetry {
            predictions: self.predictions.with_label_values(&[m]),
            labels: self.labels.with_label_values(&[m]),
            unmatched: self.unmatched.with_label_values(&[m]),
            expired: self.expired.with_label_values(&[m]),
            errors: self.errors.with_label_values(&[m]),
            latency: self.latency.with_label_values(&[m]),
            rejected,
            violations: per_feature,
            unknown_feature: self.violations.with_label_values(&[
                m,
                UNKNOWN_FEATURE,
                Violation::UnknownFeature.as_str(),
            ]),
        }
    }

    /// Drops every series of a model that was removed from the config.
    pub fn remove_model(&self, config: &ModelConfig) {
        let m = config.name.as_str();
        for vec in [
            &self.predictions,
            &self.labels,
            &self.unmatched,
            &self.expired,
            &self.errors,
        ] {
            let _ = vec.remove_label_values(&[m]);
        }
        let _ = self.latency.remove_label_values(&[m]);
        for code in EventCode::ALL {
            let _ = self.rejected.remove_label_values(&[m, code.as_str()]);
        }
        for f in &config.features {
            for kind in [Violation::TypeMismatch, Violation::NonFinite] {
                let _ = self
                    .violations
                    .remove_label_values(&[m, &f.name, kind.as_str()]);
            }
        }
        let _ = self.violations.remove_label_values(&[
            m,
            UNKNOWN_FEATURE,
            Violation::UnknownFeature.as_str(),
        ]);
    }
}

impl Telemetry {
    /// Drops the violation series of features that a changed model no longer has.
    pub fn remove_dropped_features(&self, old: &ModelConfig, new: &ModelConfig) {
        for f in &old.features {
            if !new.features.iter().any(|n| n.name == f.name) {
                for kind in [Violation::TypeMismatch, Violation::NonFinite] {
                    let _ =
                        self.violations
                            .remove_label_values(&[&old.name, &f.name, kind.as_str()]);
                }
            }
        }
    }
}

impl Default for Telemetry {
    fn default() -> Self {
        Telemetry::new()
    }
}

/// How state snapshots are doing.
pub struct SnapshotTelemetry {
    pub last_success: Gauge,
    pub duration: Histogram,
    pub failures: IntCounter,
    pub interval: Gauge,
}

impl SnapshotTelemetry {
    pub fn record_success(&self, now_secs: f64, took: Duration) {
        self.last_success.set(now_secs);
        self.duration.observe(took.as_secs_f64());
    }

    pub fn record_failure(&self) {
        self.failures.inc();
    }
}

/// One model's counters.
#[derive(Clone)]
pub struct ModelTelemetry {
    pub predictions: IntCounter,
    pub labels: IntCounter,
    pub unmatched: IntCounter,
    pub expired: IntCounter,
    pub errors: IntCounter,
    pub latency: Histogram,
    /// Indexed like `EventCode::ALL`.
    rejected: Vec<IntCounter>,
    /// Per configured feature: [type_mismatch, non_finite].
    violations: Vec<[IntCounter; 2]>,
    unknown_feature: IntCounter,
}

impl ModelTelemetry {
    pub fn rejected(&self, code: EventCode) -> &IntCounter {
        let i = EventCode::ALL
            .iter()
            .position(|c| *c == code)
            .expect("every code is listed");
        &self.rejected[i]
    }

    /// Every non-zero violation counter, for snapshots: (feature index, kind, count).
    pub fn violation_counts(&self) -> Vec<(Option<u32>, String, u64)> {
        let mut out = Vec::new();
        for (f, [mismatch, non_finite]) in self.violations.iter().enumerate() {
            for (kind, c) in [
                (Violation::TypeMismatch, mismatch),
                (Violation::NonFinite, non_finite),
            ] {
                if c.get() > 0 {
                    out.push((Some(f as u32), kind.as_str().to_string(), c.get()));
                }
            }
        }
        if self.unknown_feature.get() > 0 {
            out.push((
                None,
                Violation::UnknownFeature.as_str().to_string(),
                self.unknown_feature.get(),
            ));
        }
        out
    }

    pub fn violation(&self, feature: Option<u32>, kind: Violation) -> &IntCounter {
        match (feature, kind) {
            (Some(f), Violation::TypeMismatch) => &self.violations[f as usize][0],
            (Some(f), Violation::NonFinite) => &self.violations[f as usize][1],
            _ => &self.unknown_feature,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(t: &Telemetry, status: &str) -> u64 {
        t.http_duration
            .with_label_values(&["/metrics", "GET", status])
            .get_sample_count()
    }

    #[test]
    fn http_observations_go_to_their_own_instance() {
        // The handle cache is per thread and shared by every instance on it: each must still count
        // only its own requests.
        let (a, b) = (Telemetry::new(), Telemetry::new());
        a.observe_http("/metrics", "GET", 200, std::time::Duration::from_millis(1));
        a.observe_http("/metrics", "GET", 200, std::time::Duration::from_millis(2));
        b.observe_http("/metrics", "GET", 200, std::time::Duration::from_millis(3));
        b.observe_http("/metrics", "GET", 503, std::time::Duration::from_millis(3));
        assert_eq!((count(&a, "200"), count(&a, "503")), (2, 0));
        assert_eq!((count(&b, "200"), count(&b, "503")), (1, 1));
        let sum = a
            .http_duration
            .with_label_values(&["/metrics", "GET", "200"])
            .get_sample_sum();
        assert!((sum - 0.003).abs() < 1e-12, "{sum}");
    }
}
