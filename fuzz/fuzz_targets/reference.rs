//! Fuzz target `reference`: parsing reference data, CSV and JSONL (`modelwatch::internals::drift::reference::parse`),
//! and then judging drift against whatever was parsed.
//!
//! A reference arrives from a file at start or from `PUT .../reference` at runtime, so its bytes are
//! untrusted. The parser must reject a bad file as a whole, naming a real line, and a file it accepts
//! must yield consistent columns: a value or a "missing" for every row of every column, sorted finite
//! numbers, category ids the interners know. A parsed reference then replaces the model's reference
//! and a fixed, valid batch of predictions is evaluated against it, so odd distributions (one value,
//! huge magnitudes, a single category) reach the drift statistics.
//!
//! Input: the first byte picks the model, the format and the row cap, the rest is the file.
//! - bits 0-1: the model, an index into `modelwatch_fuzz::MODELS`;
//! - bit 2: 0 for CSV, 1 for JSONL;
//! - bits 3-4: `max_rows`, one of 1, 3, 50 and 1,000,000.

#![no_main]

use libfuzzer_sys::fuzz_target;
use modelwatch::internals::drift::column_set::ColumnSet;
use modelwatch::internals::drift::reference::{
    ReferenceFormat, ReferenceSource, parse, sha256_hex,
};
use modelwatch::internals::event::{BodyFormat, Limits, Parser};
use modelwatch_fuzz as fx;

const MAX_ROWS: [usize; 4] = [1, 3, 50, 1_000_000];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, file)) = data.split_first() else {
        return;
    };
    let model_index = usize::from(selector & 0b11);
    let format = if selector & 0b100 == 0 {
        ReferenceFormat::Csv
    } else {
        ReferenceFormat::Jsonl
    };
    let max_rows = MAX_ROWS[usize::from((selector >> 3) & 0b11)];

    // Parse into the model's own interners, as the server does, so that reference and window category
    // ids agree in the drift evaluation below.
    let model = fx::new_model(model_index);
    let schema = &model.schema;
    let parsed = parse(
        file,
        format,
        schema,
        &model.interners,
        max_rows,
        ReferenceSource::Api,
    );
    let reference = match parsed {
        Ok(reference) => reference,
        Err(e) => {
            assert!(!e.message.is_empty(), "an error without a message");
            if let Some(line) = e.line {
                let lines = file.iter().filter(|&&b| b == b'\n').count() + 1;
                assert!(
                    (1..=lines).contains(&line),
                    "error names line {line} of a {lines}-line file: {e}"
                );
            }
            return;
        }
    };

    assert_eq!(reference.source, ReferenceSource::Api);
    assert_eq!(reference.sha256, sha256_hex(file));
    let rows = reference.features.rows;
    assert!(
        (1..=max_rows).contains(&rows),
        "{rows} rows with max_rows = {max_rows}"
    );
    let layout = schema.layout;
    check_columns(
        "features",
        &reference.features,
        layout.numeric,
        layout.categorical,
    );
    for (c, column) in reference.features.categorical.iter().enumerate() {
        // The last categorical column is the predicted class for classifiers; the others are features.
        let known = if Some(c) == schema.prediction_categorical {
            schema.classes.len()
        } else {
            model.interners.len(c)
        };
        assert!(
            column.counts.len() <= known,
            "categorical column {c} counts {} ids, only {known} exist",
            column.counts.len()
        );
    }
    if let Some(labels) = &reference.labels {
        let label_layout = schema.label_layout;
        check_columns(
            "labels",
            labels,
            label_layout.numeric,
            label_layout.categorical,
        );
        assert!(
            (1..=rows).contains(&labels.rows),
            "{} label rows for {rows} rows",
            labels.rows
        );
        for column in &labels.categorical {
            assert!(
                column.counts.len() <= schema.classes.len(),
                "label class out of range"
            );
        }
    }

    // A moving reference is the model's own past and cannot be replaced; any other can.
    let replaced = model.set_reference(reference);
    assert_eq!(replaced.is_err(), fx::has_moving_reference(model_index));

    let parser = Parser {
        schema,
        interners: &model.interners,
        limits: Limits::default(),
        now_ns: model.clock().now_ns(),
        latest_ts_ns: i64::MAX,
    };
    let batch = parser
        .predictions(fx::sample_predictions(model_index), BodyFormat::Ndjson)
        .expect("the sample batch is valid");
    assert!(
        batch.errors.is_empty(),
        "the sample batch is valid: {:?}",
        batch.errors
    );
    let events = batch.events.len();
    let report = model.ingest_predictions(batch);
    fx::check_prediction_report(&report, events);
    let drift = model.evaluate_drift();
    fx::check_drift(&model, &drift);
});

/// Every column of a set holds a value or a "missing" for each row, numeric values sorted and finite.
fn check_columns(what: &str, set: &ColumnSet, numeric: usize, categorical: usize) {
    assert_eq!(set.numeric.len(), numeric, "{what}: numeric column count");
    assert_eq!(
        set.categorical.len(),
        categorical,
        "{what}: categorical column count"
    );
    for (i, column) in set.numeric.iter().enumerate() {
        assert_eq!(
            column.sorted.len() as u64 + column.missing,
            set.rows as u64,
            "{what}: numeric column {i} does not account for every row"
        );
        assert!(
            column.sorted.iter().all(|v| v.is_finite()),
            "{what}: numeric column {i} holds a non-finite value"
        );
        assert!(
            column.sorted.windows(2).all(|w| w[0] <= w[1]),
            "{what}: numeric column {i} is not sorted"
        );
    }
    for (i, column) in set.categorical.iter().enumerate() {
        assert_eq!(
            column.total() + column.missing,
            set.rows as u64,
            "{what}: categorical column {i} does not account for every row"
        );
    }
}
