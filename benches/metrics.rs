//! Model metrics on a 100k window: the scrape-time computation of every binary metric (from the state
//! kept at ingest: confusion counts, ROC AUC's statistic, the exact log-loss sum), and the incremental
//! update behind them.
//! Also the cost of a whole `/metrics` scrape of 10 models × 20 features × 2 windows.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use modelwatch::clock::Clock;
use modelwatch::config::{Config, Task};
use modelwatch::internals::event::{BodyFormat, Parser};
use modelwatch::internals::window::metric::{MetricWindow, Outcome};
use modelwatch::internals::window::queue::Policy;
use modelwatch::state::AppState;

fn binary_window(n: usize) -> MetricWindow {
    let mut w = MetricWindow::new(Task::BinaryClassification, 2, Policy::Count(n));
    let mut s = 1u64;
    for i in 0..n as i64 {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let u = (s >> 11) as f64 / (1u64 << 53) as f64;
        let actual = u < 0.3;
        let score = ((u * 0.7 + if actual { 0.3 } else { 0.0 }) * 1000.0).round() / 1000.0;
        w.push(
            i,
            Outcome::Binary {
                predicted_positive: score >= 0.5,
                actual_positive: actual,
                score,
            },
            i,
        );
    }
    w
}

fn bench_binary_metrics(c: &mut Criterion) {
    let mut w = binary_window(100_000);
    let mut g = c.benchmark_group("binary_metrics_100k_window");
    g.bench_function("snapshot_and_all_metrics", |b| {
        b.iter(|| black_box(w.snapshot().compute()))
    });
    let mut i = 100_000i64;
    g.bench_function("incremental_update_one_sample", |b| {
        b.iter(|| {
            i += 1;
            let score = (i % 1000) as f64 / 1000.0;
            w.push(
                i,
                Outcome::Binary {
                    predicted_positive: score >= 0.5,
                    actual_positive: i % 3 == 0,
                    score,
                },
                i,
            );
        })
    });
    g.finish();
}

/// 10 binary models, 20 numeric features, windows of 1000 and 10,000, with a warmup reference and a
/// drift report: what a scrape of a busy sidecar has to render.
fn busy_state() -> AppState {
    let mut toml = String::new();
    for m in 0..10 {
        toml.push_str(&format!(
            "[[model]]\nname = \"m{m}\"\ntask = \"binary_classification\"\n[model.reference]\nwarmup = 1000\n\
             [[model.window]]\nname = \"last_1000\"\nevents = 1000\n[[model.window]]\nname = \"last_10000\"\nevents = 10000\n"
        ));
        for f in 0..20 {
            toml.push_str(&format!(
                "[[model.feature]]\nname = \"f{f}\"\ntype = \"numeric\"\n"
            ));
        }
    }
    let state = AppState::new(Config::parse(&toml).unwrap(), Clock::new()).unwrap();
    for model in state.models().iter() {
        let body: String = (0..10_000u64)
            .map(|k| {
                let feats: Vec<String> = (0..20)
                    .map(|f| format!("\"f{f}\":{}", (k * 31 + f * 17) % 997))
                    .collect();
                format!(
                    "{{\"score\":0.{:03},\"label\":{},\"features\":{{{}}}}}\n",
                    k % 1000,
                    k % 2,
                    feats.join(",")
                )
            })
            .collect();
        let parser = Parser {
            schema: &model.schema,
            interners: &model.interners,
            limits: Default::default(),
            now_ns: 0,
            latest_ts_ns: i64::MAX,
        };
        let batch = parser
            .predictions(body.as_bytes(), BodyFormat::Ndjson)
            .unwrap();
        model.ingest_predictions(batch);
        model.evaluate_drift();
    }
    state
}

fn bench_scrape(c: &mut Criterion) {
    let state = busy_state();
    let text = state.render_metrics().unwrap();
    assert!(text.contains("modelwatch_drift_p_value"));
    let mut g = c.benchmark_group("scrape");
    g.sample_size(30);
    g.bench_function(
        format!(
            "10_models_20_features_2_windows_{}_lines",
            text.lines().count()
        ),
        |b| b.iter(|| black_box(state.render_metrics().unwrap())),
    );
    g.finish();
}

criterion_group!(benches, bench_binary_metrics, bench_scrape);
criterion_main!(benches);
