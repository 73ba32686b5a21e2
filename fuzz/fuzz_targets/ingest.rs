//! Fuzz target `ingest`: the whole ingest path of one model without HTTP, from body to windows to the
//! numbers a scrape exports.
//!
//! A sequence of request bodies is parsed as the server parses them and applied to a fresh
//! `modelwatch::internals::model::Model` (predictions, then labels that join pending predictions, then more
//! predictions, ...); afterwards the model is snapshotted and its drift evaluated. Nothing may panic,
//! and the reports must add up: every event of a batch is accepted or rejected, every accepted label is
//! matched or unmatched, no window grows past its cap and no share leaves [0, 1].
//!
//! Input: the first byte picks the model and the framing, the rest is a list of bodies separated by NUL
//! bytes (which valid JSON never contains), alternately predictions and labels.
//! - bits 0-1: the model, an index into `modelwatch_fuzz::MODELS`;
//! - bit 2: predictions are sent as NDJSON rather than JSON;
//! - bit 3: labels are sent as NDJSON rather than JSON.

#![no_main]

use libfuzzer_sys::fuzz_target;
use modelwatch::internals::event::{BodyFormat, Limits, Parser};
use modelwatch_fuzz as fx;

/// Bodies beyond this many are ignored: longer sequences add run time but no new kind of state.
const MAX_BODIES: usize = 8;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let model_index = usize::from(selector & 0b11);
    let framing = |bit: u8| {
        if selector & bit == 0 {
            BodyFormat::Json
        } else {
            BodyFormat::Ndjson
        }
    };
    let (prediction_format, label_format) = (framing(0b100), framing(0b1000));

    let model = fx::new_model(model_index);
    let mut accepted_predictions = 0;
    for (i, body) in rest.split(|&b| b == 0).take(MAX_BODIES).enumerate() {
        // As the HTTP handler does: the parser borrows the model's schema and interners, and "now" is
        // the model's clock.
        let parser = Parser {
            schema: &model.schema,
            interners: &model.interners,
            limits: Limits::default(),
            now_ns: model.clock().now_ns(),
            latest_ts_ns: i64::MAX,
        };
        if i % 2 == 0 {
            let Ok(batch) = parser.predictions(body, prediction_format) else {
                continue;
            };
            let events = batch.events.len() + batch.errors.len();
            let report = model.ingest_predictions(batch);
            fx::check_prediction_report(&report, events);
            accepted_predictions += report.accepted;
        } else {
            let Ok(batch) = parser.labels(body, label_format) else {
                continue;
            };
            let events = batch.events.len() + batch.errors.len();
            let pending_before = model.pending();
            let report = model.ingest_labels(batch);
            fx::check_label_report(&report, events);
            assert!(
                report.matched <= pending_before,
                "{} labels matched but only {pending_before} predictions were pending",
                report.matched
            );
        }
        assert!(
            model.pending() <= model.config.max_pending,
            "pending above max_pending"
        );
        model.tick();
    }

    let snapshot = model.snapshot();
    fx::check_snapshot(&model, &snapshot, accepted_predictions);
    let report = model.evaluate_drift();
    fx::check_drift(&model, &report);
    if let Some(info) = model.reference_info() {
        assert!(
            info.samples <= accepted_predictions,
            "reference holds more rows than were sent"
        );
    }
});
