//! Memory per retained numeric value: fills a count window of 500,000 events with 20 numeric features
//! (10 million values in the window, each kept once, in its column's ring) and reports
//! the growth of the resident set size per value.
//! `cargo run --release --example memory [events] [features]`

use std::sync::Arc;

use modelwatch::clock::Clock;
use modelwatch::config::{Config, Limits};
use modelwatch::internals::event::{BodyFormat, Parser};
use modelwatch::internals::model::Model;
use modelwatch::internals::telemetry::Telemetry;

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc");
    statm
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse::<u64>()
        .unwrap()
        * 4096
}

fn main() {
    let mut args = std::env::args().skip(1);
    let events: usize = args.next().map_or(500_000, |a| a.parse().unwrap());
    let features: usize = args.next().map_or(20, |a| a.parse().unwrap());
    let mut toml = format!(
        "[[model]]\nname = \"m\"\ntask = \"regression\"\n[[model.window]]\nname = \"w\"\nevents = {events}\n"
    );
    for f in 0..features {
        toml.push_str(&format!(
            "[[model.feature]]\nname = \"f{f}\"\ntype = \"numeric\"\n"
        ));
    }
    let config = Config::parse(&toml).unwrap();
    let model = Model::new(
        Arc::new(config.models[0].clone()),
        &Telemetry::new(),
        Clock::new(),
    );
    let before = rss_bytes();
    let batch = 10_000;
    let mut state = 1u64;
    for start in (0..events).step_by(batch) {
        let body: String = (start..(start + batch).min(events))
            .map(|_| {
                let feats: Vec<String> = (0..features)
                    .map(|f| {
                        state = state
                            .wrapping_mul(6364136223846793005)
                            .wrapping_add(1442695040888963407);
                        format!("\"f{f}\":{}", (state >> 11) as f64 / (1u64 << 53) as f64)
                    })
                    .collect();
                format!(
                    "{{\"prediction\":1.5,\"features\":{{{}}}}}\n",
                    feats.join(",")
                )
            })
            .collect();
        let parser = Parser {
            schema: &model.schema,
            interners: &model.interners,
            limits: Limits {
                max_events_per_request: batch,
                ..Limits::default()
            },
            now_ns: 0,
            latest_ts_ns: i64::MAX,
        };
        let parsed = parser
            .predictions(body.as_bytes(), BodyFormat::Ndjson)
            .unwrap();
        model.ingest_predictions(parsed);
    }
    let after = rss_bytes();
    // Numeric values retained: every feature plus the prediction column, for each event in the window.
    let values = events * (features + 1);
    println!(
        "{events} events x {} numeric columns = {values} values retained; RSS grew {:.1} MiB: {:.1} bytes per value",
        features + 1,
        (after - before) as f64 / (1 << 20) as f64,
        (after - before) as f64 / values as f64
    );
    std::hint::black_box(&model);
}
