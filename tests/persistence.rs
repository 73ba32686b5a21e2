//! State snapshots: a graceful restart keeps every window value, counter and pending label; a corrupt
//! snapshot is moved aside without stopping start-up.

mod common;

use std::collections::BTreeMap;

use common::{Scrape, TestServer};
use modelwatch::clock::Clock;
use modelwatch::config::Config;
use serde_json::{Value, json};

fn config(dir: &std::path::Path) -> Config {
    Config::parse(&config_text(dir)).unwrap()
}

fn config_text(dir: &std::path::Path) -> String {
    format!(
        r#"
[server.state]
path = "{}"
snapshot_interval = "1h"

[[model]]
name = "fraud"
task = "binary_classification"
[model.reference]
warmup = 20
[model.drift]
interval = "100ms"
[[model.window]]
name = "last_50"
events = 50
[[model.window]]
name = "1h"
duration = "1h"
[[model.feature]]
name = "amount"
type = "numeric"
[[model.feature]]
name = "country"
type = "categorical"

[[model]]
name = "price"
task = "regression"
[model.reference]
moving = true
[model.drift]
interval = "100ms"
[[model.window]]
name = "last_10"
events = 10
"#,
        dir.join("state.bin").display()
    )
}

/// The values that must survive a restart: every modelwatch series except those that measure the process
/// itself (uptime, its own request latency) or the timing of the last drift evaluation.
fn durable(m: &Scrape) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for (name, samples) in &m.samples {
        let skip = !name.starts_with("modelwatch_")
            || name.starts_with("modelwatch_http_request_duration_seconds")
            || name.starts_with("modelwatch_prediction_latency_seconds")
            || name == "modelwatch_uptime_seconds"
            || name == "modelwatch_drift_last_evaluation_timestamp_seconds"
            || name == "modelwatch_drift_evaluation_duration_seconds";
        if skip {
            continue;
        }
        for (labels, v) in samples {
            out.insert(format!("{name}{labels:?}"), format!("{v:?}"));
        }
    }
    out
}

/// A scrape taken after both models' drift was evaluated on the current data.
async fn settled_scrape(s: &TestServer) -> Scrape {
    let since = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    for _ in 0..100 {
        let m = s.scrape().await;
        let done = ["fraud", "price"].iter().all(|model| {
            m.value(
                "modelwatch_drift_last_evaluation_timestamp_seconds",
                &[("model", model)],
            )
            .is_some_and(|t| t > since)
        });
        if done {
            return m;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("drift was not evaluated within 5 s");
}

fn events(n: usize, offset: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            let k = i + offset;
            let score = ((k * 37) % 100) as f64 / 100.0;
            let country = ["DE", "FR", "IT"][k % 3];
            let mut e = json!({
                "id": format!("p{k}"),
                "score": score,
                "features": {"amount": (k % 13) as f64 * 1.5, "country": country},
            });
            if k.is_multiple_of(2) {
                e["label"] = json!(k.is_multiple_of(4) as u8);
            }
            e
        })
        .collect()
}

#[tokio::test]
async fn a_graceful_restart_keeps_windows_counters_and_pending_labels() {
    let dir = std::env::temp_dir().join(format!("mw-persist-it-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let s = TestServer::start_with(config(&dir), Clock::new()).await;
    let (_, r) = s
        .post_json("/v1/models/fraud/predictions", &Value::Array(events(80, 0)))
        .await;
    assert_eq!(r["accepted"], 80);
    let (_, r) = s
        .post_json(
            "/v1/models/fraud/labels",
            &json!([{"id": "p1", "label": 1}, {"id": "p3", "label": 0}]),
        )
        .await;
    assert_eq!(r["matched"], 2);
    s.post_json("/v1/models/fraud/predictions", &json!({"score": 7}))
        .await;
    let reg: Vec<Value> = (0..25)
        .map(|i| json!({"prediction": i as f64 * 0.5, "label": i as f64}))
        .collect();
    s.post_json("/v1/models/price/predictions", &Value::Array(reg))
        .await;
    let before = durable(&settled_scrape(&s).await);
    assert!(
        before.len() > 50,
        "too few series to compare: {}",
        before.len()
    );
    s.stop().await;
    assert!(
        dir.join("state.bin").exists(),
        "no snapshot written on shutdown"
    );

    let s = TestServer::start_with(config(&dir), Clock::new()).await;
    let after = durable(&settled_scrape(&s).await);
    let diff: Vec<_> = before
        .iter()
        .filter(|(k, v)| after.get(*k) != Some(v))
        .map(|(k, v)| format!("{k}: {v} -> {:?}", after.get(k)))
        .collect();
    assert!(
        diff.is_empty(),
        "values changed across the restart:\n{}",
        diff.join("\n")
    );
    assert_eq!(before.len(), after.len());
    // Pending predictions survive: p5 still joins its label.
    let (_, r) = s
        .post_json("/v1/models/fraud/labels", &json!({"id": "p5", "label": 1}))
        .await;
    assert_eq!(r["matched"], 1);
    // The warmup reference was restored complete, so drift is evaluated against it.
    let (_, st) = s.get("/v1/models/fraud").await;
    assert_eq!(st["reference"]["source"], "warmup");
    assert_eq!(st["reference"]["ready"], true);
    s.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn a_corrupt_snapshot_is_moved_aside_and_start_up_goes_on() {
    let dir = std::env::temp_dir().join(format!("mw-persist-bad-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("state.bin"),
        b"MWSNAP\x00\x01 definitely not a snapshot",
    )
    .unwrap();
    let s = TestServer::start_with(config(&dir), Clock::new()).await;
    assert_eq!(s.get("/readyz").await.0, 200);
    let moved: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .starts_with("state.bin.corrupt-")
        })
        .collect();
    assert_eq!(moved.len(), 1);
    let m = s.scrape().await;
    assert_eq!(
        m.get("modelwatch_predictions_total", &[("model", "fraud")]),
        0.0
    );
    s.stop().await;
    // The shutdown snapshot replaced the bad one with a good one.
    let s = TestServer::start_with(config(&dir), Clock::new()).await;
    assert_eq!(
        std::fs::read_dir(&dir)
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("corrupt"))
            .count(),
        1
    );
    s.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mw-persist-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[tokio::test]
async fn an_uploaded_reference_survives_a_restart_over_a_configured_warmup() {
    let dir = temp_dir("uploaded");
    let s = TestServer::start_with(config(&dir), Clock::new()).await;
    let csv: String = std::iter::once("amount,country,score,label\n".to_string())
        .chain((0..5000).map(|i| {
            format!(
                "{},{},{},{}\n",
                i % 97,
                ["DE", "FR"][i % 2],
                (i % 10) as f64 / 10.0,
                i % 2
            )
        }))
        .collect();
    let resp = s
        .client
        .put(format!("{}/v1/models/fraud/reference", s.base))
        .header("content-type", "text/csv")
        .body(csv)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let (_, before) = s.get("/v1/models/fraud").await;
    assert_eq!(before["reference"]["source"], "api");
    assert_eq!(before["reference"]["samples"], 5000);
    s.stop().await;

    let s = TestServer::start_with(config(&dir), Clock::new()).await;
    let (_, after) = s.get("/v1/models/fraud").await;
    assert_eq!(
        after["reference"], before["reference"],
        "the uploaded reference was not restored"
    );
    s.stop().await;

    // With the reference settings changed, the config wins: the warmup starts, and the note that
    // `serve` logs as a warning says why.
    let changed = Config::parse(&config_text(&dir).replace("warmup = 20", "warmup = 30")).unwrap();
    let state = modelwatch::state::AppState::new(changed, Clock::new()).unwrap();
    let modelwatch::internals::persist::Loaded::Ok { snapshot, .. } =
        modelwatch::internals::persist::read(&dir.join("state.bin"))
    else {
        panic!("the snapshot does not load");
    };
    let notes = state.restore(&snapshot);
    assert!(
        notes.iter().any(|n| n.contains("fraud")
            && n.contains("uploaded reference is not restored")
            && n.contains("from warmup = 20 to warmup = 30")),
        "{notes:?}"
    );
    let info = state.model("fraud").unwrap().reference_info().unwrap();
    assert_eq!((info.source.as_str(), info.samples), ("warmup", 0));
    std::fs::remove_dir_all(&dir).ok();
}

#[tokio::test]
async fn an_unfinished_warmup_resumes_where_it_stopped() {
    let dir = temp_dir("warmup");
    let s = TestServer::start_with(config(&dir), Clock::new()).await;
    // 12 of the 20 warmup predictions, 6 of them labelled.
    let (_, r) = s
        .post_json("/v1/models/fraud/predictions", &Value::Array(events(12, 0)))
        .await;
    assert_eq!(r["accepted"], 12);
    s.stop().await;

    let s = TestServer::start_with(config(&dir), Clock::new()).await;
    let (_, st) = s.get("/v1/models/fraud").await;
    assert_eq!(st["reference"]["source"], "warmup");
    assert_eq!(st["reference"]["samples"], 12);
    assert_eq!(st["reference"]["label_samples"], 6);
    assert_eq!(st["reference"]["ready"], false);
    // 8 more complete it: the warmup went on from 12, it did not start again.
    s.post_json("/v1/models/fraud/predictions", &Value::Array(events(8, 12)))
        .await;
    let (_, st) = s.get("/v1/models/fraud").await;
    assert_eq!(st["reference"]["samples"], 20);
    assert_eq!(st["reference"]["ready"], true);
    s.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

/// Events for `cut_state`: `n` predictions, every other one labelled inline.
fn cut_batch(n: usize, seed: usize) -> Vec<u8> {
    let events: Vec<Value> = (0..n)
        .map(|i| {
            let k = seed + i;
            let mut e = json!({"score": (k % 100) as f64 / 100.0, "features": {"x": k as f64}});
            if k.is_multiple_of(2) {
                e["label"] = json!(k.is_multiple_of(4) as u8);
            }
            e
        })
        .collect();
    serde_json::to_vec(&events).unwrap()
}

#[test]
fn a_snapshot_is_one_cut_of_counters_and_windows() {
    // No window fills, so each holds every prediction and the counters must equal their row counts.
    // Several windows, so that a snapshot that is not one cut has several chances to show it.
    let windows: String = (0..6)
        .map(|i| {
            format!("[[model.window]]\nname = \"w{i}\"\nduration = \"1h\"\nmax_events = 1000000\n")
        })
        .collect();
    let config = Config::parse(&format!(
        r#"
[[model]]
name = "m"
task = "binary_classification"
[[model.window]]
name = "all"
events = 1000000
{windows}
[[model.feature]]
name = "x"
type = "numeric"
"#
    ))
    .unwrap();
    let state = modelwatch::state::AppState::new(config, Clock::new()).unwrap();
    let mut mismatches = Vec::new();
    let (mut snapshots, mut bad_snapshots) = (0, 0);
    std::thread::scope(|scope| {
        let ingest: Vec<_> = (0..3)
            .map(|t| {
                let state = &state;
                scope.spawn(move || {
                    for b in 0..100 {
                        let body = cut_batch(40, (t * 100 + b) * 40);
                        let r = state
                            .ingest_predictions("m", Some("application/json"), &body)
                            .unwrap();
                        assert_eq!(r.accepted, 40);
                    }
                })
            })
            .collect();
        while !ingest.iter().all(|h| h.is_finished()) || snapshots == 0 {
            // A pause between snapshots, so that ingest is not starved of the lock.
            std::thread::sleep(std::time::Duration::from_micros(500));
            let snapshot = state.snapshot();
            snapshots += 1;
            let m = &snapshot.models[0];
            let c = &m.counters;
            let before = mismatches.len();
            for w in &m.windows {
                let (rows, samples) = (w.predictions.ts.len() as u64, w.samples.len() as u64);
                if (rows, samples) != (c.predictions, c.labels) {
                    mismatches.push(format!(
                        "window {}: {rows} rows and {samples} samples, counters say {} predictions \
                         and {} labels",
                        w.name, c.predictions, c.labels
                    ));
                }
            }
            bad_snapshots += usize::from(mismatches.len() > before);
        }
    });
    let last = state.snapshot();
    assert_eq!(last.models[0].counters.predictions, 3 * 400 * 10);
    assert!(
        mismatches.is_empty(),
        "{bad_snapshots} of {snapshots} snapshots were not one cut, e.g. {:?}",
        &mismatches[..mismatches.len().min(3)]
    );
}

#[test]
fn snapshot_writes_to_one_file_never_overlap() {
    let dir = temp_dir("overlap");
    let path = dir.join("state.bin");
    let state = modelwatch::state::AppState::new(config(&dir), Clock::new()).unwrap();
    state
        .ingest_predictions(
            "fraud",
            Some("application/json"),
            &serde_json::to_vec(&Value::Array(events(50, 0))).unwrap(),
        )
        .unwrap();
    let failures = std::sync::Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                for _ in 0..25 {
                    if let Err(e) = modelwatch::server::write_snapshot(&state, &path) {
                        failures.lock().unwrap().push(e.to_string());
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    assert!(
        failures.is_empty(),
        "{} of 100 concurrent writes failed, e.g. {}",
        failures.len(),
        failures[0]
    );
    assert!(matches!(
        modelwatch::internals::persist::read(&path),
        modelwatch::internals::persist::Loaded::Ok { .. }
    ));
    std::fs::remove_dir_all(&dir).ok();
}

fn metrics_config(state: &std::path::Path) -> Config {
    Config::parse(&format!(
        r#"
[server.state]
path = "{}"
snapshot_interval = "100ms"

[[model]]
name = "m"
task = "regression"
[[model.window]]
name = "last_10"
events = 10
"#,
        state.display()
    ))
    .unwrap()
}

/// Polls the scrape until `done` holds, for at most 5 s.
async fn scrape_until(s: &TestServer, done: impl Fn(&Scrape) -> bool) -> Scrape {
    for _ in 0..100 {
        let m = s.scrape().await;
        if done(&m) {
            return m;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("the condition did not hold within 5 s");
}

#[tokio::test]
async fn snapshot_successes_and_failures_are_metrics() {
    let dir = temp_dir("metrics");
    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let s = TestServer::start_with(metrics_config(&dir.join("state.bin")), Clock::new()).await;
    let m = scrape_until(&s, |m| {
        m.value("modelwatch_snapshot_duration_seconds_count", &[])
            .is_some_and(|n| n >= 2.0)
    })
    .await;
    let last = m.get("modelwatch_snapshot_last_success_timestamp_seconds", &[]);
    assert!(last >= started, "last success {last}, started {started}");
    assert_eq!(m.get("modelwatch_snapshot_failures_total", &[]), 0.0);
    assert_eq!(m.get("modelwatch_snapshot_interval_seconds", &[]), 0.1);
    assert_eq!(m.types["modelwatch_snapshot_duration_seconds"], "histogram");
    let text = s
        .client
        .get(format!("{}/metrics", s.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for name in [
        "modelwatch_snapshot_last_success_timestamp_seconds",
        "modelwatch_snapshot_duration_seconds",
        "modelwatch_snapshot_failures_total",
        "modelwatch_snapshot_interval_seconds",
    ] {
        assert!(
            text.contains(&format!("# HELP {name} ")),
            "{name} has no HELP"
        );
    }
    s.stop().await;

    // A state path whose directory cannot be created (it is under a regular file): every snapshot fails,
    // and the metrics say so.
    std::fs::write(dir.join("file"), b"").unwrap();
    let s = TestServer::start_with(metrics_config(&dir.join("file/state.bin")), Clock::new()).await;
    let m = scrape_until(&s, |m| {
        m.value("modelwatch_snapshot_failures_total", &[])
            .is_some_and(|n| n >= 2.0)
    })
    .await;
    assert_eq!(
        m.get("modelwatch_snapshot_last_success_timestamp_seconds", &[]),
        0.0
    );
    assert_eq!(
        m.get("modelwatch_snapshot_duration_seconds_count", &[]),
        0.0
    );
    // The final snapshot fails too; what the shutdown does with that is the server's concern.
    let _ = s.server.stop().await;

    // Without [server.state] there are no snapshot series, so nothing can alert on them.
    let s = TestServer::start("[[model]]\nname = \"m\"\ntask = \"regression\"\n").await;
    let m = s.scrape().await;
    assert!(
        !m.samples
            .keys()
            .any(|k| k.starts_with("modelwatch_snapshot_"))
    );
    s.stop().await;
    std::fs::remove_dir_all(&dir).ok();
}

fn check_config(state: &std::path::Path) -> (bool, String) {
    let dir = temp_dir("check-config-file");
    let file = dir.join("modelwatch.toml");
    std::fs::write(
        &file,
        format!(
            "[server.state]\npath = {:?}\n\n[[model]]\nname = \"m\"\ntask = \"regression\"\n",
            state.display().to_string()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_modelwatch"))
        .arg("check-config")
        .arg(&file)
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).ok();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
    )
}

#[test]
fn check_config_refuses_a_state_directory_that_is_missing_or_not_writable() {
    let dir = temp_dir("check-config");
    let (ok, out) = check_config(&dir.join("state.bin"));
    assert!(ok, "{out}");

    let (ok, out) = check_config(&dir.join("absent/state.bin"));
    assert!(
        !ok && out.contains("server.state.path") && out.contains("absent"),
        "{out}"
    );

    std::fs::write(dir.join("file"), b"").unwrap();
    let (ok, out) = check_config(&dir.join("file/state.bin"));
    assert!(!ok && out.contains("not a directory"), "{out}");

    // Read-only: mode 555, or, where permissions do not bind (root), a directory no one can create
    // files in.
    use std::os::unix::fs::PermissionsExt;
    let ro = dir.join("read-only");
    std::fs::create_dir(&ro).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    let ro = if std::fs::write(ro.join("probe"), b"").is_ok() {
        std::path::PathBuf::from("/proc/self")
    } else {
        ro
    };
    let (ok, out) = check_config(&ro.join("state.bin"));
    assert!(!ok && out.contains("not writable"), "{out}");
    std::fs::remove_dir_all(&dir).ok();
}

/// The import a reload uses: an uploaded reference goes over to the rebuilt model when only the
/// threshold changed, and stays behind, with a note, when `[model.reference]` changed.
#[test]
fn an_uploaded_reference_is_carried_over_unless_the_reference_settings_changed() {
    use modelwatch::internals::drift::reference::{ReferenceFormat, ReferenceSource, parse};
    let text = |threshold: &str, warmup: &str| {
        format!(
            "[[model]]\nname = \"m\"\ntask = \"binary_classification\"\nthreshold = {threshold}\n\
             [model.reference]\nwarmup = {warmup}\n[[model.window]]\nname = \"w\"\nevents = 10\n\
             [[model.feature]]\nname = \"x\"\ntype = \"numeric\"\n"
        )
    };
    let telemetry = modelwatch::internals::telemetry::Telemetry::new();
    let model = |text: String| {
        let config = Config::parse(&text).unwrap();
        modelwatch::internals::model::Model::new(
            std::sync::Arc::new(config.models[0].clone()),
            &telemetry,
            Clock::new(),
        )
    };
    let old = model(text("0.5", "100"));
    let body: String = (0..30)
        .map(|i| format!("{{\"score\": 0.5, \"features\": {{\"x\": {i}}}}}\n"))
        .collect();
    let reference = parse(
        body.as_bytes(),
        ReferenceFormat::Jsonl,
        &old.schema,
        &old.interners,
        1000,
        ReferenceSource::Api,
    )
    .unwrap();
    old.set_reference(reference).unwrap();

    let same_reference = model(text("0.51", "100"));
    assert!(same_reference.import(&old.export(), false).is_empty());
    let info = same_reference.reference_info().unwrap();
    assert_eq!((info.source, info.samples), (ReferenceSource::Api, 30));

    let other_reference = model(text("0.5", "200"));
    let notes = other_reference.import(&old.export(), false);
    assert!(
        notes
            .iter()
            .any(|n| n.contains("from warmup = 100 to warmup = 200")),
        "{notes:?}"
    );
    assert_eq!(
        other_reference.reference_info().unwrap().source,
        ReferenceSource::Warmup
    );
}
