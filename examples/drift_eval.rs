//! modelwatch's side of the peer comparison in `bench/peers/` (driven by `bench/peers/compare.py`).
//!
//! It reads the two samples the Python script wrote, `reference.f64` and `current.f64` in one
//! directory: header-less little-endian f64, column-major (all of column 0, then all of column 1, ...),
//! `--features` columns of equal length. Then it times two things on them:
//!
//! - **core**: the per-column statistics alone, on one thread. For every column both sides are turned
//!   into `NumericData` and handed to `drift::evaluate::compare`, which computes the KS test (scipy's
//!   semantics, p-value included), the Wasserstein and normed Wasserstein distances, PSI,
//!   Jensen–Shannon and the data-quality figures. Timed twice: with the sort of both sides included
//!   (scipy's `ks_2samp` is handed unsorted arrays and sorts them itself), and without it.
//! - **full**: `Model::evaluate_drift` of a regression model with these features and a count window as
//!   long as the current sample, after the reference went through the CSV reference parser and the
//!   current sample through the NDJSON prediction parser and ingest. That is the whole evaluation the
//!   sidecar runs: copying each column out of the window under the lock, sorting the copy after the
//!   lock is released, comparing it with the frozen (sorted once) reference, the prediction column too,
//!   and the window-level decision. On windows this large it judges columns on up to
//!   `min(available cores, 4)` threads; the output says how many.
//! - **full after updates**: the same, each run preceded (untimed) by the ingest of 2048 more events,
//!   as in service, where events keep arriving between evaluations.
//!
//! Every timing is the median of `--runs` runs after one untimed warm-up run. The result is one JSON
//! line on stdout, with the KS statistics and p-values of both paths so the caller can hold them to
//! scipy's.
//!
//! `cargo run --release --example drift_eval -- DIR [--features 20] [--runs 10]`

use std::borrow::Cow;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use clap::Parser as _;
use modelwatch::clock::Clock;
use modelwatch::config::{Config, DriftTest, FeatureKind, Limits};
use modelwatch::internals::drift::column_set::NumericData;
use modelwatch::internals::drift::evaluate::{ColumnData, ColumnSpec, Role, compare};
use modelwatch::internals::drift::reference::{ReferenceFormat, ReferenceSource, parse};
use modelwatch::internals::event::{BodyFormat, Parser};
use modelwatch::internals::model::Model;
use modelwatch::internals::telemetry::Telemetry;
use serde_json::json;

#[derive(clap::Parser)]
#[command(about = "Times modelwatch's drift evaluation on the data of bench/peers/compare.py")]
struct Args {
    /// Directory holding reference.f64 and current.f64.
    dir: PathBuf,
    /// Number of columns in each file.
    #[arg(long, default_value_t = 20)]
    features: usize,
    /// Timed runs of each measurement (the median is reported).
    #[arg(long, default_value_t = 10)]
    runs: usize,
    /// Values per column below which a column is not evaluated (the model's `drift.min_samples`).
    #[arg(long, default_value_t = 30)]
    min_samples: usize,
}

/// Reads a column-major f64 file into `features` columns.
fn read_columns(path: &Path, features: usize) -> Result<Vec<Vec<f64>>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if features == 0 || bytes.len() % (8 * features) != 0 {
        return Err(format!(
            "{}: {} bytes is not {features} columns of f64",
            path.display(),
            bytes.len()
        ));
    }
    let values: Vec<f64> = bytes
        .chunks_exact(8)
        .map(|b| f64::from_le_bytes(b.try_into().expect("chunks of 8")))
        .collect();
    let n = values.len() / features;
    Ok(values.chunks_exact(n).map(<[f64]>::to_vec).collect())
}

fn sorted(v: &[f64]) -> Vec<f64> {
    let mut v = v.to_vec();
    v.sort_unstable_by(f64::total_cmp);
    v
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    let m = xs.len() / 2;
    if xs.len() % 2 == 1 {
        xs[m]
    } else {
        (xs[m - 1] + xs[m]) / 2.0
    }
}

/// Runs `f` once untimed, then `runs` times timed; returns the seconds of each timed run.
/// `f` gets its input from `prepare`, which is not timed, and its result is dropped after the clock
/// stopped (so freeing large buffers is not counted either).
fn time_runs<T, R>(
    runs: usize,
    mut prepare: impl FnMut() -> T,
    mut f: impl FnMut(T) -> R,
) -> Vec<f64> {
    std::hint::black_box(f(prepare()));
    (0..runs)
        .map(|_| {
            let input = prepare();
            let start = Instant::now();
            let result = std::hint::black_box(f(input));
            let secs = start.elapsed().as_secs_f64();
            drop(result);
            secs
        })
        .collect()
}

/// The per-column statistics on one thread. Returns the timings with and without the sort, and the
/// (KS statistic, p-value) of each column.
fn core(
    reference: &[Vec<f64>],
    current: &[Vec<f64>],
    runs: usize,
    min_samples: usize,
) -> (Vec<f64>, Vec<f64>, Vec<(f64, f64)>) {
    // The configured test does not change what `compare` computes (every numeric statistic, always);
    // it only names the one the later decision uses.
    let spec = ColumnSpec::new(
        "x",
        Role::Feature,
        FeatureKind::Numeric,
        Some(DriftTest::Ks),
        None,
        &Default::default(),
    );
    // Returns the columns along with the (D, p) pairs so that they are freed outside the timer.
    let evaluate_sorted = |pairs: Vec<(NumericData, NumericData)>| {
        pairs
            .into_iter()
            .map(|(r, c)| {
                let data = ColumnData::Numeric {
                    current: c,
                    reference: Some(Cow::Owned(r)),
                };
                let report = compare(&spec, &data, min_samples);
                ((report.statistic(DriftTest::Ks), report.p_value), data)
            })
            .unzip::<_, _, Vec<_>, Vec<_>>()
    };

    // With the sort: every run starts from fresh unsorted copies (the copying is not timed).
    let unsorted = || -> Vec<(Vec<f64>, Vec<f64>)> {
        reference
            .iter()
            .cloned()
            .zip(current.iter().cloned())
            .collect()
    };
    let with_sort = time_runs(runs, unsorted, |pairs| {
        evaluate_sorted(
            pairs
                .into_iter()
                .map(|(mut r, mut c)| {
                    r.sort_unstable_by(f64::total_cmp);
                    c.sort_unstable_by(f64::total_cmp);
                    (NumericData::new(r, 0), NumericData::new(c, 0))
                })
                .collect(),
        )
    });

    // Without it: the sorted columns are prepared outside the timer, as fresh `NumericData` each run
    // so the reference's cached standard deviation is computed inside the timer every time.
    let sorted_ref: Vec<Vec<f64>> = reference.iter().map(|v| sorted(v)).collect();
    let sorted_cur: Vec<Vec<f64>> = current.iter().map(|v| sorted(v)).collect();
    let presorted = || -> Vec<(NumericData, NumericData)> {
        sorted_ref
            .iter()
            .zip(&sorted_cur)
            .map(|(r, c)| {
                (
                    NumericData::new(r.clone(), 0),
                    NumericData::new(c.clone(), 0),
                )
            })
            .collect()
    };
    let without_sort = time_runs(runs, presorted, evaluate_sorted);
    let (ks, _) = evaluate_sorted(presorted());
    (with_sort, without_sort, ks)
}

/// A regression model with one numeric feature per column, a count window and a reference as long as
/// the samples, fed through the same parsers as the HTTP API. Returns the model and the seconds spent
/// parsing the reference and parsing plus ingesting the current sample.
fn full_model(reference: &[Vec<f64>], current: &[Vec<f64>]) -> (Model, f64, f64) {
    let features = reference.len();
    let (n_ref, n_cur) = (reference[0].len(), current[0].len());
    let mut toml = format!(
        "[[model]]\nname = \"peers\"\ntask = \"regression\"\n\
         [model.drift]\nmax_reference_rows = {n_ref}\n\
         [[model.window]]\nname = \"count\"\nevents = {n_cur}\n"
    );
    for i in 0..features {
        toml.push_str(&format!(
            "[[model.feature]]\nname = \"f{i}\"\ntype = \"numeric\"\n"
        ));
    }
    let config = Config::parse(&toml).expect("benchmark config");
    let model = Model::new(
        Arc::new(config.models[0].clone()),
        &Telemetry::new(),
        Clock::new(),
    );
    let mut csv: String = (0..features).map(|i| format!("f{i},")).collect::<String>();
    csv.push_str("prediction\n");
    for row in 0..n_ref {
        for column in reference {
            csv.push_str(&format!("{},", column[row]));
        }
        csv.push_str(&format!("{}\n", prediction(reference, row)));
    }
    let start = Instant::now();
    let frozen = parse(
        csv.as_bytes(),
        ReferenceFormat::Csv,
        &model.schema,
        &model.interners,
        n_ref,
        ReferenceSource::Api,
    )
    .expect("reference CSV");
    model.set_reference(frozen).expect("reference accepted");
    let reference_secs = start.elapsed().as_secs_f64();

    let body = ndjson_rows(current, &(0..n_cur).collect::<Vec<_>>());
    let start = Instant::now();
    let ingested = ingest(&model, &body, n_cur);
    let ingest_secs = start.elapsed().as_secs_f64();
    assert_eq!(ingested, n_cur);
    (model, reference_secs, ingest_secs)
}

/// Events ingested between two timed evaluations in `full_evaluation_after_updates_s`.
const UPDATES_BETWEEN_EVALUATIONS: usize = 2048;

/// The prediction each row gets: the mean of the first two features (so the prediction column has data
/// on both sides, as it would in production).
fn prediction(cols: &[Vec<f64>], row: usize) -> f64 {
    let k = cols.len().min(2);
    cols[..k].iter().map(|c| c[row]).sum::<f64>() / k as f64
}

/// The given rows of `current` as an NDJSON prediction body. Rust's `{}` prints the shortest string
/// that parses back to the same f64, so the parsed data equals the files bit for bit.
fn ndjson_rows(current: &[Vec<f64>], rows: &[usize]) -> String {
    let features = current.len();
    let mut body = String::new();
    for &row in rows {
        body.push_str(&format!(
            "{{\"prediction\":{},\"features\":{{",
            prediction(current, row)
        ));
        for (i, column) in current.iter().enumerate() {
            let sep = if i + 1 < features { "," } else { "}}\n" };
            body.push_str(&format!("\"f{i}\":{}{sep}", column[row]));
        }
    }
    body
}

/// Sends an NDJSON body of `events` events through the prediction parser and ingest, as the HTTP API
/// would. Returns the number of events accepted.
fn ingest(model: &Model, body: &str, events: usize) -> usize {
    let parser = Parser {
        schema: &model.schema,
        interners: &model.interners,
        limits: Limits {
            max_events_per_request: events,
            ..Default::default()
        },
        now_ns: 0,
        latest_ts_ns: i64::MAX,
    };
    let batch = parser
        .predictions(body.as_bytes(), BodyFormat::Ndjson)
        .expect("NDJSON body");
    assert!(
        batch.errors.is_empty(),
        "events rejected: {:?}",
        batch.errors
    );
    let ingested = model.ingest_predictions(batch);
    assert_eq!(ingested.rejected, 0);
    ingested.accepted
}

fn main() {
    let args = Args::parse();
    let load = |name: &str| {
        read_columns(&args.dir.join(name), args.features).unwrap_or_else(|e| {
            eprintln!("drift_eval: {e}");
            std::process::exit(2)
        })
    };
    let (reference, current) = (load("reference.f64"), load("current.f64"));
    let runs = args.runs.max(1);

    let (with_sort, without_sort, core_ks) = core(&reference, &current, runs, args.min_samples);

    let (model, reference_secs, ingest_secs) = full_model(&reference, &current);
    let full = time_runs(runs, || (), |()| model.evaluate_drift());
    // In service, events keep arriving between evaluations: each run here is preceded, untimed, by the
    // ingest of 2048 more rows of the current sample.
    let mut next_row = 0;
    let full_after_updates = time_runs(
        runs,
        || {
            let rows: Vec<usize> = (0..UPDATES_BETWEEN_EVALUATIONS)
                .map(|k| (next_row + k) % current[0].len())
                .collect();
            next_row += UPDATES_BETWEEN_EVALUATIONS;
            ingest(&model, &ndjson_rows(&current, &rows), rows.len());
        },
        |()| model.evaluate_drift(),
    );
    let report = model.evaluate_drift();
    let window = &report.windows[0];
    let full_ks: Vec<(f64, f64)> = (0..args.features)
        .map(|i| {
            let name = format!("f{i}");
            let c = window
                .columns
                .iter()
                .find(|c| c.name == name)
                .expect("every feature is evaluated");
            (c.statistic(DriftTest::Ks), c.p_value)
        })
        .collect();

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // Mirrors the rule in `Model::evaluate_drift` (one thread below 20,000 values per column, else up to
    // four), which is private; stated here so the numbers are read with the right thread count.
    let full_threads = if current[0].len() < 20_000 {
        1
    } else {
        cores.min(4)
    };
    let split = |v: &[(f64, f64)]| -> (Vec<f64>, Vec<f64>) { v.iter().copied().unzip() };
    let (core_d, core_p) = split(&core_ks);
    let (full_d, full_p) = split(&full_ks);
    let out = json!({
        "features": args.features,
        "n_reference": reference[0].len(),
        "n_current": current[0].len(),
        "runs": runs,
        "available_parallelism": cores,
        "core_threads": 1,
        "full_threads": full_threads,
        "core_with_sort_s": median(with_sort.clone()),
        "core_without_sort_s": median(without_sort.clone()),
        "full_evaluation_s": median(full.clone()),
        "core_with_sort_runs_s": with_sort,
        "core_without_sort_runs_s": without_sort,
        "full_evaluation_runs_s": full,
        "updates_between_evaluations": UPDATES_BETWEEN_EVALUATIONS,
        "full_evaluation_after_updates_s": median(full_after_updates.clone()),
        "full_evaluation_after_updates_runs_s": full_after_updates,
        "full_columns_evaluated": window.columns.iter().filter(|c| c.detected.is_some()).count(),
        "full_drift_share": window.drift_share,
        "reference_parse_s": reference_secs,
        "current_parse_and_ingest_s": ingest_secs,
        "ks_statistic": core_d,
        "ks_p_value": core_p,
        "full_ks_statistic": full_d,
        "full_ks_p_value": full_p,
    });
    println!("{out}");
}
