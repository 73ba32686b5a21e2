//! How long a state snapshot holds a model's lock, seen from ingest: single-event requests to the model
//! run on one thread while the main thread takes snapshots, and their longest wait is compared with the
//! same requests without snapshots. Windows of N rows (default 100,000) with 20 features.
//! `cargo run --release --example snapshot_pause -- 100000`

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use modelwatch::clock::Clock;
use modelwatch::config::Config;
use modelwatch::state::AppState;

fn event(k: usize) -> String {
    let mut features = Vec::new();
    for i in 0..16 {
        features.push(format!(
            "\"n{i}\": {}",
            ((k * 31 + i * 7) % 1000) as f64 * 0.5
        ));
    }
    for i in 0..4 {
        features.push(format!("\"c{i}\": \"v{}\"", (k + i) % 12));
    }
    format!(
        "{{\"score\": {}, \"label\": {}, \"features\": {{{}}}}}\n",
        (k % 100) as f64 / 100.0,
        k % 2,
        features.join(", ")
    )
}

/// Single-event requests until `stop`: their latencies, sorted.
fn single_events(state: &AppState, stop: &AtomicBool) -> Vec<Duration> {
    let mut out = Vec::new();
    let mut k = 0;
    while !stop.load(Ordering::Relaxed) {
        let body = event(k);
        let t = Instant::now();
        state
            .ingest_predictions("m", Some("application/json"), body.trim_end().as_bytes())
            .unwrap();
        out.push(t.elapsed());
        k += 1;
        std::thread::sleep(Duration::from_micros(200));
    }
    out.sort();
    out
}

fn summary(name: &str, lat: &[Duration]) {
    let p = |q: f64| lat[((lat.len() - 1) as f64 * q) as usize];
    println!(
        "{name}: {} requests, median {:?}, p99 {:?}, max {:?}",
        lat.len(),
        p(0.5),
        p(0.99),
        lat[lat.len() - 1]
    );
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(100_000, |a| a.parse().unwrap());
    let mut toml = String::from("[[model]]\nname = \"m\"\ntask = \"binary_classification\"\n");
    toml.push_str(&format!(
        "[[model.window]]\nname = \"count\"\nevents = {n}\n[[model.window]]\nname = \"1h\"\nduration = \"1h\"\nmax_events = {n}\n"
    ));
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
    let state = AppState::new(config, Clock::new()).unwrap();
    for b in 0..n.div_ceil(1000) {
        let body: String = (b * 1000..(b + 1) * 1000).map(event).collect();
        state
            .ingest_predictions("m", Some("application/x-ndjson"), body.as_bytes())
            .unwrap();
    }
    println!("windows of {n} rows, 20 features");
    for round in 0..2 {
        let stop = AtomicBool::new(false);
        let (base, with) = std::thread::scope(|s| {
            let h = s.spawn(|| single_events(&state, &stop));
            std::thread::sleep(Duration::from_secs(2));
            stop.store(true, Ordering::Relaxed);
            let base = h.join().unwrap();
            stop.store(false, Ordering::Relaxed);
            let h = s.spawn(|| single_events(&state, &stop));
            let mut took = Vec::new();
            for _ in 0..5 {
                std::thread::sleep(Duration::from_millis(200));
                let t = Instant::now();
                let snap = state.snapshot();
                took.push(t.elapsed());
                std::hint::black_box(snap);
            }
            stop.store(true, Ordering::Relaxed);
            took.sort();
            println!(
                "round {round}: snapshot capture median {:?} (of 5)",
                took[2]
            );
            (base, h.join().unwrap())
        });
        summary("  single events without snapshots", &base);
        summary("  single events during snapshots", &with);
    }
}
