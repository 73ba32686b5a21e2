//! Fuzz target `events`: the parsing and validation of event bodies (`modelwatch::internals::event::Parser`), one
//! JSON object, a JSON array or NDJSON, of predictions or of labels, for every task.
//!
//! This is the code that reads untrusted request bodies before any lock is taken, so it must never
//! panic, and what it returns must be consistent whatever the body: every event is either accepted or
//! listed as an error (exactly once, with its index), rows stay aligned with the accepted events, and
//! every accepted value fits the model's schema.
//!
//! Input: the first byte picks what to parse, the rest is the body.
//! - bits 0-1: the model, an index into `modelwatch_fuzz::MODELS`;
//! - bit 2: 0 for `application/json`, 1 for NDJSON;
//! - bit 3: 0 for predictions, 1 for labels;
//! - bit 4: 0 for the default limits, 1 for `TIGHT_LIMITS`.
//!
//! The seeds use selector bytes from `@` (0x40) to `_` (0x5F), which spell these bits in a printable
//! character.

#![no_main]

use std::collections::BTreeSet;

use libfuzzer_sys::fuzz_target;
use modelwatch::internals::event::{BodyFormat, Limits, Parser};
use modelwatch::internals::schema::Slot;
use modelwatch::internals::window::columns::MISSING;
use modelwatch_fuzz as fx;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, body)) = data.split_first() else {
        return;
    };
    let model = usize::from(selector & 0b11);
    let format = if selector & 0b100 == 0 {
        BodyFormat::Json
    } else {
        BodyFormat::Ndjson
    };
    let labels = selector & 0b1000 != 0;
    let limits = if selector & 0b1_0000 == 0 {
        Limits::default()
    } else {
        fx::TIGHT_LIMITS
    };

    let config = fx::model_config(model);
    let schema = fx::schema(model);
    let interners = fx::interners(&config, schema);
    let parser = Parser {
        schema,
        interners: &interners,
        limits,
        now_ns: fx::CLOCK_START_NS,
        latest_ts_ns: i64::MAX,
    };

    // A whole-request error (malformed array, too many events, an invalid single event) is a fine
    // answer; only the per-event results of an accepted body have invariants to check.
    if labels {
        let Ok(batch) = parser.labels(body, format) else {
            return;
        };
        let indices: Vec<usize> = batch.events.iter().map(|e| e.index).collect();
        let failed: Vec<usize> = batch.errors.iter().map(|e| e.index).collect();
        check_accounting(body, format, batch.single, &indices, &failed);
        for event in &batch.events {
            assert!(!event.id.is_empty(), "an accepted label has an empty id");
            assert!(
                event.id.len() <= limits.max_id_bytes,
                "id above max_id_bytes"
            );
            fx::check_label(schema, event.label);
        }
        return;
    }

    let Ok(batch) = parser.predictions(body, format) else {
        return;
    };
    let indices: Vec<usize> = batch.events.iter().map(|e| e.index).collect();
    let failed: Vec<usize> = batch.errors.iter().map(|e| e.index).collect();
    check_accounting(body, format, batch.single, &indices, &failed);

    // Rows: one per accepted event, of the schema's width. A rejected event must leave no row (and no
    // violation) behind, or the rows of the events after it would be shifted.
    let layout = schema.layout;
    assert_eq!(
        batch.num.len(),
        batch.events.len() * layout.numeric,
        "numeric rows misaligned"
    );
    assert_eq!(
        batch.cat.len(),
        batch.events.len() * layout.categorical,
        "categorical rows misaligned"
    );

    for (i, event) in batch.events.iter().enumerate() {
        fx::check_predicted(schema, &event.predicted);
        if let Some(label) = event.label {
            fx::check_label(schema, label);
        }
        if let Some(id) = &event.id {
            assert!(
                !id.is_empty() && id.len() <= limits.max_id_bytes,
                "bad id {id:?}"
            );
        }
        if let Some(l) = event.latency_seconds {
            assert!(l.is_finite() && l >= 0.0, "latency {l}");
        }
        assert!(event.ts >= 0, "timestamp {} before 1970", event.ts);

        let (num, cat) = batch.row(i, layout.numeric, layout.categorical);
        for (f, slot) in schema.slots.iter().enumerate() {
            match *slot {
                // Non-finite feature values are violations, never stored.
                Slot::Numeric(c) => assert!(
                    num[c].is_nan() || num[c].is_finite(),
                    "feature {f} stored {}",
                    num[c]
                ),
                Slot::Categorical(c) => assert!(
                    cat[c] == MISSING || (cat[c] as usize) < interners.len(c),
                    "feature {f} stored category id {} of {}",
                    cat[c],
                    interners.len(c)
                ),
            }
        }
        if let Some(c) = schema.prediction_categorical {
            assert!(
                cat[c] == MISSING || (cat[c] as usize) < schema.classes.len(),
                "predicted class id {} out of range",
                cat[c]
            );
        }
        for &(feature, _) in batch.violations_of(event) {
            if let Some(f) = feature {
                assert!(
                    (f as usize) < schema.slots.len(),
                    "violation of feature {f}"
                );
            }
        }
    }
});

/// Every event of the body is accounted for exactly once: accepted or rejected, never both, never lost.
fn check_accounting(
    body: &[u8],
    format: BodyFormat,
    single: bool,
    accepted: &[usize],
    rejected: &[usize],
) {
    let expected = fx::raw_event_count(body, format);
    assert_eq!(
        accepted.len() + rejected.len(),
        expected,
        "{} accepted + {} rejected events, but the body holds {expected}",
        accepted.len(),
        rejected.len()
    );
    assert!(
        accepted.windows(2).all(|w| w[0] < w[1]),
        "accepted indices out of order"
    );
    assert!(
        rejected.windows(2).all(|w| w[0] < w[1]),
        "rejected indices out of order"
    );
    let all: BTreeSet<usize> = accepted.iter().chain(rejected).copied().collect();
    assert_eq!(
        all.len(),
        expected,
        "an event is both accepted and rejected"
    );
    if format == BodyFormat::Json {
        // Array elements (or the single object) are numbered 0..n.
        assert!(
            all.iter().copied().eq(0..expected),
            "indices are not 0..{expected}: {all:?}"
        );
    }
    if single {
        // A single object is all or nothing: its invalid event is a whole-request error.
        assert!(format == BodyFormat::Json && rejected.is_empty() && accepted == [0]);
    }
}
