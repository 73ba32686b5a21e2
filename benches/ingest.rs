//! Ingest cost per event: parsing and validating a 20-feature prediction event and applying it to a
//! model with two windows, alone and in NDJSON batches of 1000.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use modelwatch::clock::Clock;
use modelwatch::config::Config;
use modelwatch::internals::event::{BodyFormat, Parser};
use modelwatch::internals::model::Model;
use modelwatch::internals::telemetry::Telemetry;

/// A binary model with 16 numeric and 4 categorical features. `windows` is the window part of its
/// config: empty for the default (one count window of the last 1000 samples).
fn model(windows: &str) -> Model {
    let mut toml = String::from(
        "[[model]]\nname = \"m\"\ntask = \"binary_classification\"\nmax_pending = 1000000\n",
    );
    toml.push_str(windows);
    for i in 0..16 {
        toml.push_str(&format!(
            "[[model.feature]]\nname = \"n{i}\"\ntype = \"numeric\"\n"
        ));
    }
    for i in 0..4 {
        toml.push_str(&format!(
            "[[model.feature]]\nname = \"c{i}\"\ntype = \"categorical\"\n"
        ));
    }
    let config = Config::parse(&toml).unwrap();
    Model::new(
        Arc::new(config.models[0].clone()),
        &Telemetry::new(),
        Clock::new(),
    )
}

/// One event with 20 features, an id, a score, an inline label on every other event and a latency.
fn event(k: u64) -> String {
    let mut features = Vec::with_capacity(20);
    for i in 0..16 {
        features.push(format!(
            "\"n{i}\":{}.{:03}",
            (k * 7 + i) % 1000,
            (k * 13 + i * 7) % 1000
        ));
    }
    for i in 0..4 {
        features.push(format!("\"c{i}\":\"v{}\"", (k + i) % 50));
    }
    let label = if k.is_multiple_of(2) {
        format!(",\"label\":{}", k.is_multiple_of(3))
    } else {
        String::new()
    };
    format!(
        "{{\"id\":\"req-{k}\",\"features\":{{{}}},\"score\":0.{:03},\"latency_ms\":4.2{label}}}",
        features.join(","),
        k % 1000
    )
    .replace("true", "1")
    .replace("false", "0")
}

/// The default window, and a heavy configuration: a 10,000-sample count window plus a one-hour time
/// window that grows to a million samples during the run.
const CONFIGS: [(&str, &str); 2] = [
    ("default_window", ""),
    (
        "count_10k_and_1h_windows",
        "[[model.window]]\nname = \"last_10000\"\nevents = 10000\n[[model.window]]\nname = \"1h\"\nduration = \"1h\"\n",
    ),
];

fn bench_ingest(c: &mut Criterion) {
    for (label, windows) in CONFIGS {
        bench_config(c, label, windows);
    }
}

fn bench_config(c: &mut Criterion, label: &str, windows: &str) {
    let m = model(windows);
    let single: Vec<String> = (0..10_000).map(event).collect();
    let batch: String = (0..1000).map(|k| event(k) + "\n").collect();
    let mut g = c.benchmark_group(format!("ingest_20_features_{label}"));
    g.throughput(Throughput::Elements(1));
    let mut k = 0usize;
    g.bench_function("single_event_parse_and_apply", |b| {
        b.iter(|| {
            let body = &single[k % single.len()];
            k += 1;
            let parser = Parser {
                schema: &m.schema,
                interners: &m.interners,
                limits: Default::default(),
                now_ns: m.clock().now_ns(),
                latest_ts_ns: i64::MAX,
            };
            let parsed = parser
                .predictions(body.as_bytes(), BodyFormat::Json)
                .unwrap();
            black_box(m.ingest_predictions(parsed))
        })
    });
    g.bench_function("ndjson_batch_of_1000_parse_only", |b| {
        b.iter(|| {
            let parser = Parser {
                schema: &m.schema,
                interners: &m.interners,
                limits: Default::default(),
                now_ns: 0,
                latest_ts_ns: i64::MAX,
            };
            black_box(
                parser
                    .predictions(batch.as_bytes(), BodyFormat::Ndjson)
                    .unwrap(),
            )
        })
    });
    g.throughput(Throughput::Elements(1));
    g.bench_function("single_event_parse_only", |b| {
        b.iter(|| {
            let body = &single[k % single.len()];
            k += 1;
            let parser = Parser {
                schema: &m.schema,
                interners: &m.interners,
                limits: Default::default(),
                now_ns: 0,
                latest_ts_ns: i64::MAX,
            };
            black_box(
                parser
                    .predictions(body.as_bytes(), BodyFormat::Json)
                    .unwrap(),
            )
        })
    });
    g.throughput(Throughput::Elements(1000));
    g.bench_function("ndjson_batch_of_1000_parse_and_apply", |b| {
        let mut round = 0usize;
        b.iter_batched(
            || {
                round += 1;
                batch.replace("req-", &format!("b{round}-"))
            },
            |body| {
                let parser = Parser {
                    schema: &m.schema,
                    interners: &m.interners,
                    limits: Default::default(),
                    now_ns: m.clock().now_ns(),
                    latest_ts_ns: i64::MAX,
                };
                let parsed = parser
                    .predictions(body.as_bytes(), BodyFormat::Ndjson)
                    .unwrap();
                black_box(m.ingest_predictions(parsed))
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

criterion_group!(benches, bench_ingest);
criterion_main!(benches);
