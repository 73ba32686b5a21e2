//! Fuzz target `config`: parsing and validating config text (`modelwatch::config::Config::parse`), and
//! building a working model from whatever it accepts.
//!
//! `modelwatch check-config` and a config reload run the parser on text an operator wrote by hand, so it
//! must report problems, never panic. A config it accepts must honour what validation promises (at
//! least one model, valid and distinct names, a window per model, two classes for a binary model, ...)
//! and must work: each model is built as the server builds it and fed a small valid batch, which it
//! must accept whole, and then snapshotted and evaluated for drift.
//!
//! Input: the whole input is the TOML text (invalid UTF-8 is replaced, so every input is parsed).

#![no_main]

use std::collections::HashSet;

use libfuzzer_sys::fuzz_target;
use modelwatch::clock::Clock;
use modelwatch::config::{Config, ModelConfig, RESERVED_COLUMNS, Task, is_valid_name};
use modelwatch::internals::event::{BodyFormat, Limits, Parser};
use modelwatch::internals::model::Model;
use modelwatch_fuzz as fx;

/// Only models this small are built. Validation allows up to 1000 classes and any number of windows,
/// and each window keeps a classes-by-classes confusion matrix: building the largest configs on every
/// input would measure memory, not find bugs.
const MAX_BUILT_FEATURES: usize = 64;
const MAX_BUILT_WINDOWS: usize = 8;
const MAX_BUILT_CLASSES: usize = 64;
const MAX_BUILT_MODELS: usize = 3;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let config = match Config::parse(&text) {
        Ok(config) => config,
        Err(errors) => {
            assert!(!errors.is_empty(), "a rejected config must say why");
            for e in &errors {
                assert!(!e.message.is_empty(), "an error without a message: {e:?}");
                if let Some(line) = e.line {
                    // Counted as the parser counts: the lines before the problem, plus one.
                    let lines = text.bytes().filter(|&b| b == b'\n').count() + 1;
                    assert!(
                        (1..=lines).contains(&line),
                        "error on line {line} of {lines}: {e}"
                    );
                }
            }
            return;
        }
    };

    assert!(!config.models.is_empty(), "a valid config has a model");
    let mut names = HashSet::new();
    for model in &config.models {
        check_model(model);
        assert!(
            names.insert(&model.name),
            "duplicate model name {:?}",
            model.name
        );
    }

    for model in config.models.iter().take(MAX_BUILT_MODELS) {
        if model.features.len() <= MAX_BUILT_FEATURES
            && model.windows.len() <= MAX_BUILT_WINDOWS
            && model.classes.len() <= MAX_BUILT_CLASSES
        {
            exercise(model);
        }
    }
});

/// What validation promises about an accepted model.
fn check_model(model: &ModelConfig) {
    assert!(
        is_valid_name(&model.name),
        "invalid model name {:?}",
        model.name
    );
    assert!(!model.windows.is_empty(), "a model without a window");
    let mut windows = HashSet::new();
    for w in &model.windows {
        assert!(is_valid_name(&w.name), "invalid window name {:?}", w.name);
        assert!(
            windows.insert(&w.name),
            "duplicate window name {:?}",
            w.name
        );
    }
    let mut features = HashSet::new();
    for f in &model.features {
        assert!(
            !f.name.is_empty() && f.name.len() <= 128,
            "feature name {:?}",
            f.name
        );
        assert!(
            !RESERVED_COLUMNS.contains(&f.name.as_str()),
            "reserved feature name {:?}",
            f.name
        );
        assert!(
            features.insert(&f.name),
            "duplicate feature name {:?}",
            f.name
        );
    }
    let classes: HashSet<&String> = model.classes.iter().collect();
    assert_eq!(
        classes.len(),
        model.classes.len(),
        "duplicate classes {:?}",
        model.classes
    );
    match model.task {
        Task::BinaryClassification => {
            assert_eq!(model.classes.len(), 2, "binary classes {:?}", model.classes);
            assert!(
                (0.0..=1.0).contains(&model.threshold),
                "threshold {}",
                model.threshold
            );
        }
        Task::MulticlassClassification => {
            assert!(
                (2..=1000).contains(&model.classes.len()),
                "{} classes",
                model.classes.len()
            );
        }
        Task::Regression => assert!(model.classes.is_empty(), "regression with classes"),
    }
}

/// Builds the model as the server would and runs one valid batch through ingest, snapshot and drift.
fn exercise(config: &ModelConfig) {
    let config = std::sync::Arc::new(config.clone());
    let telemetry = fx::telemetry();
    let model = Model::new(
        config.clone(),
        telemetry,
        Clock::starting_at(fx::CLOCK_START_NS),
    );
    let body = fx::sample_body(&config);
    let parser = Parser {
        schema: &model.schema,
        interners: &model.interners,
        limits: Limits::default(),
        now_ns: model.clock().now_ns(),
        latest_ts_ns: i64::MAX,
    };
    let batch = parser
        .predictions(body.as_bytes(), BodyFormat::Ndjson)
        .unwrap_or_else(|e| panic!("a valid config rejects its own sample batch: {e:?}\n{body}"));
    assert!(
        batch.errors.is_empty(),
        "a valid config rejects events of its own sample batch: {:?}\n{body}",
        batch.errors
    );
    let events = batch.events.len();
    let report = model.ingest_predictions(batch);
    fx::check_prediction_report(&report, events);
    let snapshot = model.snapshot();
    fx::check_snapshot(&model, &snapshot, report.accepted);
    let drift = model.evaluate_drift();
    fx::check_drift(&model, &drift);
    // Model names come from the input: drop their series, or the shared registry would grow with every
    // input the fuzzer tries.
    telemetry.remove_model(&config);
}
