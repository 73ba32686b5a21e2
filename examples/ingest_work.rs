//! A fixed amount of ingest work (20,000 20-feature events in NDJSON batches of 1000) for instruction
//! counting with `valgrind --tool=callgrind`, which is repeatable on a noisy machine.
//! `cargo build --release --example ingest_work && valgrind --tool=callgrind target/release/examples/ingest_work`

use std::sync::Arc;

use modelwatch::clock::Clock;
use modelwatch::config::Config;
use modelwatch::internals::event::{BodyFormat, Parser};
use modelwatch::internals::model::Model;
use modelwatch::internals::telemetry::Telemetry;

fn main() {
    let windows = std::env::args().nth(1).unwrap_or_default();
    let mut toml = String::from("[[model]]\nname = \"m\"\ntask = \"binary_classification\"\n");
    if windows == "heavy" {
        toml.push_str("[[model.window]]\nname = \"last_10000\"\nevents = 10000\n[[model.window]]\nname = \"1h\"\nduration = \"1h\"\n");
    }
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
    let model = Model::new(
        Arc::new(config.models[0].clone()),
        &Telemetry::new(),
        Clock::new(),
    );
    let mut total = 0;
    for b in 0..20u64 {
        let body: String = (0..1000u64)
            .map(|i| {
                let k = b * 1000 + i;
                let mut f: Vec<String> = (0..16)
                    .map(|j| {
                        format!(
                            "\"n{j}\":{}.{:03}",
                            (k * 7 + j) % 1000,
                            (k * 13 + j * 7) % 1000
                        )
                    })
                    .collect();
                f.extend((0..4).map(|j| format!("\"c{j}\":\"v{}\"", (k + j) % 50)));
                format!(
                    "{{\"features\":{{{}}},\"score\":0.{:03},\"latency_ms\":4.2,\"label\":{}}}\n",
                    f.join(","),
                    k % 1000,
                    k % 2
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
        total += model.ingest_predictions(batch).accepted;
    }
    println!("{total} events");
}
