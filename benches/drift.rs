//! Drift evaluation cost: each test on 20 numeric features, 10k and 100k values against references of the
//! same size, and one full evaluation of a model (column copies under the lock included).

use std::borrow::Cow;
use std::hint::black_box;
use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use modelwatch::clock::Clock;
use modelwatch::config::{Config, DriftTest, FeatureKind};
use modelwatch::internals::drift::column_set::NumericData;
use modelwatch::internals::drift::evaluate::{ColumnData, ColumnSpec, Role, compare};
use modelwatch::internals::drift::reference::{ReferenceFormat, ReferenceSource, parse};
use modelwatch::internals::model::Model;
use modelwatch::internals::stats::distance::{
    bin_counts_sorted, jensen_shannon, psi, psi_edges, wasserstein_sorted,
};
use modelwatch::internals::stats::ks::ks_2samp_sorted;
use modelwatch::internals::telemetry::Telemetry;

/// Deterministic standard normals (Box–Muller on a 64-bit LCG).
struct Normals(u64);
impl Normals {
    fn uniform(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    fn next(&mut self) -> f64 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
    }
}

pub const FEATURES: usize = 20;

/// 20 sorted columns of n values; feature i is shifted by `shift * (i % 4)` (so a quarter of the columns
/// do not move at all and the rest drift by different amounts).
fn columns(n: usize, seed: u64, shift: f64) -> Vec<Vec<f64>> {
    let mut g = Normals(seed);
    (0..FEATURES)
        .map(|i| {
            let mut v: Vec<f64> = (0..n).map(|_| g.next() + shift * (i % 4) as f64).collect();
            v.sort_by(f64::total_cmp);
            v
        })
        .collect()
}

fn bench_tests(c: &mut Criterion) {
    for n in [10_000usize, 100_000] {
        let reference = columns(n, 1, 0.0);
        // A shift of 0.05 sd per step gives KS D of about 0.02 to 0.06 at 100k: the Smirnov branch.
        let current = columns(n, 2, 0.05);
        let mut g = c.benchmark_group(format!("drift_20_features_{}k", n / 1000));
        g.sample_size(20);
        g.bench_function("ks", |b| {
            b.iter(|| {
                for (r, c) in reference.iter().zip(&current) {
                    black_box(ks_2samp_sorted(r, c));
                }
            })
        });
        g.bench_function("wasserstein", |b| {
            b.iter(|| {
                for (r, c) in reference.iter().zip(&current) {
                    black_box(wasserstein_sorted(r, c));
                }
            })
        });
        g.bench_function("psi_and_jensen_shannon", |b| {
            b.iter(|| {
                for (r, c) in reference.iter().zip(&current) {
                    let edges = psi_edges(r);
                    let (rb, cb) = (bin_counts_sorted(r, &edges), bin_counts_sorted(c, &edges));
                    black_box((psi(&rb, &cb), jensen_shannon(&rb, &cb)));
                }
            })
        });
        let refs: Vec<NumericData> = reference
            .iter()
            .map(|v| NumericData::new(v.clone(), 0))
            .collect();
        let spec = ColumnSpec::new(
            "x",
            Role::Feature,
            FeatureKind::Numeric,
            Some(DriftTest::Ks),
            None,
            &Default::default(),
        );
        g.bench_function("all_statistics_and_quality", |b| {
            b.iter(|| {
                for (r, c) in refs.iter().zip(&current) {
                    let data = ColumnData::Numeric {
                        current: NumericData::new(c.clone(), 0),
                        reference: Some(Cow::Borrowed(r)),
                    };
                    black_box(compare(&spec, &data, 30));
                }
            })
        });
        g.finish();
    }
}

/// A model with 20 numeric features, a 100k count window full of drifted traffic and a 100k reference.
fn full_model(n: usize) -> Model {
    let mut toml = format!(
        "[[model]]\nname = \"m\"\ntask = \"regression\"\n[model.drift]\nmax_reference_rows = {n}\n[[model.window]]\nname = \"w\"\nevents = {n}\n"
    );
    for i in 0..FEATURES {
        toml.push_str(&format!(
            "[[model.feature]]\nname = \"f{i}\"\ntype = \"numeric\"\n"
        ));
    }
    let config = Config::parse(&toml).unwrap();
    let telemetry = Telemetry::new();
    let model = Model::new(Arc::new(config.models[0].clone()), &telemetry, Clock::new());
    let reference = columns(n, 3, 0.0);
    let mut csv = (0..FEATURES)
        .map(|i| format!("f{i}"))
        .collect::<Vec<_>>()
        .join(",");
    csv.push_str(",prediction\n");
    for row in 0..n {
        let line: Vec<String> = (0..FEATURES)
            .map(|i| reference[i][(row * 7919) % n].to_string())
            .collect();
        csv.push_str(&line.join(","));
        csv.push_str(&format!(",{}\n", row % 100));
    }
    let frozen = parse(
        csv.as_bytes(),
        ReferenceFormat::Csv,
        &model.schema,
        &model.interners,
        n,
        ReferenceSource::Api,
    )
    .unwrap();
    model.set_reference(frozen).unwrap();
    let current = columns(n, 4, 0.05);
    let body: String = (0..n)
        .map(|row| {
            let feats: Vec<String> = (0..FEATURES)
                .map(|i| format!("\"f{i}\":{}", current[i][(row * 104729) % n]))
                .collect();
            format!(
                "{{\"prediction\":{},\"features\":{{{}}}}}\n",
                row % 100,
                feats.join(",")
            )
        })
        .collect();
    let parser = modelwatch::internals::event::Parser {
        schema: &model.schema,
        interners: &model.interners,
        limits: modelwatch::config::Limits {
            max_events_per_request: n,
            ..Default::default()
        },
        now_ns: 0,
        latest_ts_ns: i64::MAX,
    };
    let batch = parser
        .predictions(
            body.as_bytes(),
            modelwatch::internals::event::BodyFormat::Ndjson,
        )
        .unwrap();
    assert!(batch.errors.is_empty());
    model.ingest_predictions(batch);
    model
}

fn bench_full_evaluation(c: &mut Criterion) {
    let model = full_model(100_000);
    let report = model.evaluate_drift();
    assert_eq!(report.windows[0].columns.len(), FEATURES + 2);
    let mut g = c.benchmark_group("full_evaluation");
    g.sample_size(20);
    g.bench_function("model_20_numeric_features_100k_vs_100k", |b| {
        b.iter(|| black_box(model.evaluate_drift()))
    });
    g.finish();
}

criterion_group!(benches, bench_tests, bench_full_evaluation);
criterion_main!(benches);
