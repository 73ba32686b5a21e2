//! Reading and validating each `[[model]]` section and its parts: features, windows, the drift
//! reference and per-column tests, and alert thresholds.

use std::collections::HashSet;
use std::time::Duration;

use super::reader::TableReader;
use super::{
    AlertsConfig, ColumnTest, DriftConfig, DriftTest, FeatureConfig, FeatureKind, ModelConfig,
    RESERVED_COLUMNS, ReferenceConfig, Task, WindowConfig, WindowKind, defaults, is_valid_name,
};

/// Feature names are matched against JSON keys, so they may hold any printable text, but they become
/// label values too, so they are bounded in length.
fn is_valid_feature_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 128 && !name.chars().any(char::is_control)
}

pub(super) fn read_model(t: &mut TableReader<'_, '_, '_>) -> Option<ModelConfig> {
    let name = t.string("name");
    if let Some(n) = &name {
        if !is_valid_name(&n.value) {
            t.sink().push(
                Some(&n.span),
                n.key.clone(),
                format!(
                    "invalid model name {:?}: use 1 to 64 of A-Z a-z 0-9 _ . -",
                    n.value
                ),
            );
        }
    } else {
        t.error("name", "missing required key");
    }
    let task = match t.string("task") {
        Some(s) => match s.value.as_str() {
            "binary_classification" => Some(Task::BinaryClassification),
            "multiclass_classification" => Some(Task::MulticlassClassification),
            "regression" => Some(Task::Regression),
            other => {
                t.sink().push(
                    Some(&s.span),
                    s.key,
                    format!(
                        "unknown task {other:?}; expected binary_classification, \
                         multiclass_classification or regression"
                    ),
                );
                None
            }
        },
        None => {
            t.error("task", "missing required key");
            None
        }
    };

    let positive = t.class_value("positive_class");
    let negative = t.class_value("negative_class");
    let threshold = t.float("threshold");
    let classes = t.class_array("classes");

    let mut class_list = Vec::new();
    match task {
        Some(Task::BinaryClassification) => {
            if let Some(c) = &classes
                && let Some(first) = c.first()
            {
                t.sink().push(
                    Some(&first.span),
                    t.key_path("classes"),
                    "binary models name their classes with positive_class and negative_class",
                );
            }
            let pos = positive
                .as_ref()
                .map_or("1".to_string(), |p| p.value.clone());
            let neg = match &negative {
                Some(n) => Some(n.value.clone()),
                None => match pos.as_str() {
                    "1" => Some("0".to_string()),
                    "true" => Some("false".to_string()),
                    _ => {
                        t.error(
                            "negative_class",
                            format!(
                                "required when positive_class is {pos:?} (it defaults only for \"1\" and \"true\")"
                            ),
                        );
                        None
                    }
                },
            };
            if let Some(neg) = neg {
                if neg == pos {
                    t.error("negative_class", "must differ from positive_class");
                }
                class_list = vec![neg, pos];
            }
            if let Some(th) = &threshold
                && !(0.0..=1.0).contains(&th.value)
            {
                t.sink()
                    .push(Some(&th.span), th.key.clone(), "must be between 0 and 1");
            }
        }
        Some(other) => {
            for (key, present) in [
                ("positive_class", positive.as_ref().map(|p| p.span.clone())),
                ("negative_class", negative.as_ref().map(|p| p.span.clone())),
                ("threshold", threshold.as_ref().map(|p| p.span.clone())),
            ] {
                if let Some(span) = present {
                    t.sink().push(
                        Some(&span),
                        t.key_path(key),
                        format!("only binary_classification models take {key}"),
                    );
                }
            }
            if other == Task::MulticlassClassification {
                match &classes {
                    None => t.error("classes", "multiclass models need classes = [...]"),
                    Some(list) => {
                        let mut seen = HashSet::new();
                        for c in list {
                            if !seen.insert(c.value.clone()) {
                                t.sink().push(
                                    Some(&c.span),
                                    c.key.clone(),
                                    format!("duplicate class {:?}", c.value),
                                );
                            } else if c.value.is_empty() || c.value.len() > 128 {
                                t.sink().push(
                                    Some(&c.span),
                                    c.key.clone(),
                                    "class names must be 1 to 128 bytes",
                                );
                            }
                        }
                        if seen.len() < 2 {
                            t.error("classes", "multiclass models need at least two classes");
                        }
                        if seen.len() > 1000 {
                            t.error("classes", "at most 1000 classes are supported");
                        }
                        class_list = list.iter().map(|c| c.value.clone()).collect();
                    }
                }
            } else if let Some(list) = &classes
                && let Some(first) = list.first()
            {
                t.sink().push(
                    Some(&first.span),
                    t.key_path("classes"),
                    "regression models take no classes",
                );
            }
        }
        None => {}
    }

    let label_ttl = t
        .duration("label_ttl")
        .map_or(Duration::from_secs(defaults::LABEL_TTL_SECS), |d| d.value);
    let max_pending = t
        .integer_in("max_pending", 0, 100_000_000)
        .map_or(defaults::MAX_PENDING, |v| v.value as usize);
    let max_categories = t
        .integer_in("max_categories", 1, 1_000_000)
        .map_or(defaults::MAX_CATEGORIES, |v| v.value as usize);

    let mut windows = Vec::new();
    let mut window_names = HashSet::new();
    for mut w in t.array_of_tables("window") {
        if let Some(window) = read_window(&mut w) {
            if !window_names.insert(window.name.clone()) {
                w.error("name", format!("duplicate window name {:?}", window.name));
            }
            windows.push(window);
        }
        w.finish();
    }
    if windows.is_empty() {
        windows.push(WindowConfig {
            name: defaults::WINDOW_NAME.to_string(),
            kind: WindowKind::Count(defaults::WINDOW_EVENTS),
        });
    }

    let mut features = Vec::new();
    let mut feature_names = HashSet::new();
    for mut f in t.array_of_tables("feature") {
        if let Some(feature) = read_feature(&mut f) {
            if !feature_names.insert(feature.name.clone()) {
                f.error("name", format!("duplicate feature name {:?}", feature.name));
            }
            features.push(feature);
        }
        f.finish();
    }

    let reference = t.table("reference").and_then(|mut r| {
        let out = read_reference(&mut r);
        r.finish();
        out
    });
    let drift = match t.table("drift") {
        Some(mut d) => {
            let out = read_drift(&mut d, task);
            d.finish();
            out
        }
        None => DriftConfig::default(),
    };
    let alerts = match t.table("alerts") {
        Some(mut a) => {
            let out = read_alerts(&mut a);
            a.finish();
            out
        }
        None => AlertsConfig::default(),
    };
    if let (Some(ReferenceConfig::Warmup(n)), Some(max)) =
        (&reference, Some(drift.max_reference_rows))
        && *n > max
    {
        t.error(
            "reference",
            format!("warmup = {n} is above drift.max_reference_rows = {max}"),
        );
    }

    Some(ModelConfig {
        reference,
        drift,
        alerts,
        name: name?.value,
        task: task?,
        classes: class_list,
        threshold: threshold.map_or(defaults::THRESHOLD, |t| t.value),
        label_ttl,
        max_pending,
        max_categories,
        windows,
        features,
    })
}

fn read_reference(r: &mut TableReader<'_, '_, '_>) -> Option<ReferenceConfig> {
    let path = r.string("path");
    let warmup = r.integer_in("warmup", 1, defaults::MAX_REFERENCE_ROWS as i64 * 100);
    let moving = r.boolean("moving");
    let chosen = [
        path.is_some(),
        warmup.is_some(),
        moving.as_ref().is_some_and(|m| m.value),
    ]
    .iter()
    .filter(|&&b| b)
    .count();
    if chosen != 1 {
        r.error(
            "path",
            "a reference has exactly one of path = \"file.csv\", warmup = N or moving = true",
        );
        return None;
    }
    if let Some(p) = path {
        if p.value.is_empty() {
            r.sink().push(Some(&p.span), p.key, "must not be empty");
            return None;
        }
        return Some(ReferenceConfig::Path(p.value.into()));
    }
    if let Some(w) = warmup {
        return Some(ReferenceConfig::Warmup(w.value as usize));
    }
    Some(ReferenceConfig::Moving)
}

fn read_column_test(
    d: &mut TableReader<'_, '_, '_>,
    key: &str,
    threshold_key: &str,
    task: Option<Task>,
) -> ColumnTest {
    let test = d
        .string(key)
        .and_then(|t| match DriftTest::parse(&t.value) {
            Some(test) => Some(test),
            None => {
                d.sink()
                    .push(Some(&t.span), t.key, format!("unknown test {:?}", t.value));
                None
            }
        });
    // The column's type follows the task: regression columns are numeric, classifier columns are
    // categorical, except the binary prediction column, which is the score (numeric) when scores are sent.
    if let (Some(test), Some(task)) = (test, task) {
        let fits = match (task, key) {
            (Task::Regression, _) => test.applies_to(FeatureKind::Numeric),
            (Task::BinaryClassification, "prediction_test") => true,
            _ => test.applies_to(FeatureKind::Categorical),
        };
        if !fits {
            d.error(
                key,
                format!("{} does not apply to this column's type", test.as_str()),
            );
        }
    }
    ColumnTest {
        test,
        threshold: d.float(threshold_key).map(|v| v.value),
    }
}

fn read_drift(d: &mut TableReader<'_, '_, '_>, task: Option<Task>) -> DriftConfig {
    let mut c = DriftConfig::default();
    if let Some(a) = d.float("alpha") {
        if a.value > 0.0 && a.value < 1.0 {
            c.alpha = a.value;
        } else {
            d.sink()
                .push(Some(&a.span), a.key, "must be between 0 and 1 (exclusive)");
        }
    }
    if let Some(m) = d.integer_in("min_samples", 1, 1_000_000_000) {
        c.min_samples = m.value as usize;
    }
    if let Some(corr) = d.string("correction") {
        match corr.value.parse() {
            Ok(v) => c.correction = v,
            Err(e) => d.sink().push(Some(&corr.span), corr.key, format!("{e}")),
        }
    }
    if let Some(m) = d.float("min_effect") {
        if (0.0..=1.0).contains(&m.value) {
            c.min_effect = m.value;
        } else {
            d.sink()
                .push(Some(&m.span), m.key, "must be between 0 and 1");
        }
    }
    if let Some(s) = d.float("drift_share") {
        if s.value > 0.0 && s.value <= 1.0 {
            c.drift_share = s.value;
        } else {
            d.sink().push(Some(&s.span), s.key, "must be in (0, 1]");
        }
    }
    if let Some(i) = d.duration("interval") {
        c.interval = i.value;
    }
    if let Some(m) = d.integer_in("max_reference_rows", 1, 100_000_000) {
        c.max_reference_rows = m.value as usize;
    }
    c.prediction = read_column_test(d, "prediction_test", "prediction_threshold", task);
    c.label = read_column_test(d, "label_test", "label_threshold", task);
    for (col, key) in [(c.prediction, "prediction_test"), (c.label, "label_test")] {
        if col.test == Some(DriftTest::Wasserstein) && col.threshold.is_none() {
            d.error(
                key,
                "wasserstein is in data units and needs an explicit threshold",
            );
        }
    }
    c
}

fn read_alerts(a: &mut TableReader<'_, '_, '_>) -> AlertsConfig {
    let mut ratio = |key: &str| {
        a.float(key).and_then(|v| {
            if (0.0..=1.0).contains(&v.value) {
                Some(v.value)
            } else {
                a.sink()
                    .push(Some(&v.span), v.key, "must be between 0 and 1");
                None
            }
        })
    };
    let accuracy_min = ratio("accuracy_min");
    let f1_min = ratio("f1_min");
    let roc_auc_min = ratio("roc_auc_min");
    let error_rate_max = ratio("error_rate_max");
    let missing_ratio_max = ratio("missing_ratio_max");
    let mut positive = |key: &str| {
        a.float(key).and_then(|v| {
            if v.value >= 0.0 {
                Some(v.value)
            } else {
                a.sink().push(Some(&v.span), v.key, "must not be negative");
                None
            }
        })
    };
    AlertsConfig {
        accuracy_min,
        f1_min,
        roc_auc_min,
        mae_max: positive("mae_max"),
        rmse_max: positive("rmse_max"),
        latency_p95_max_ms: positive("latency_p95_max_ms"),
        error_rate_max,
        missing_ratio_max,
    }
}

fn read_window(w: &mut TableReader<'_, '_, '_>) -> Option<WindowConfig> {
    let name = w.string("name");
    match &name {
        Some(n) if !is_valid_name(&n.value) => w.sink().push(
            Some(&n.span),
            n.key.clone(),
            format!(
                "invalid window name {:?}: use 1 to 64 of A-Z a-z 0-9 _ . -",
                n.value
            ),
        ),
        Some(_) => {}
        None => w.error("name", "missing required key"),
    }
    let events = w.integer_in("events", 1, defaults::MAX_WINDOW_EVENTS);
    let duration = w.duration("duration");
    let max_events = w.integer_in("max_events", 1, defaults::MAX_WINDOW_EVENTS);
    let kind = match (events, duration) {
        (Some(e), None) => {
            if let Some(m) = &max_events {
                w.sink().push(
                    Some(&m.span),
                    m.key.clone(),
                    "max_events applies to time windows; a count window holds exactly `events` samples",
                );
            }
            WindowKind::Count(e.value as usize)
        }
        (None, Some(d)) => WindowKind::Time {
            duration: d.value,
            max_events: max_events.map_or(defaults::TIME_WINDOW_MAX_EVENTS, |m| m.value as usize),
        },
        (Some(_), Some(_)) => {
            w.error(
                "events",
                "a window has either events (count window) or duration (time window), not both",
            );
            return None;
        }
        (None, None) => {
            if !w.contains("events") && !w.contains("duration") {
                w.error(
                    "events",
                    "a window needs events = N (count window) or duration = \"1h\" (time window)",
                );
            }
            return None;
        }
    };
    let name = name?.value;
    if !is_valid_name(&name) {
        return None;
    }
    Some(WindowConfig { name, kind })
}

fn read_feature(f: &mut TableReader<'_, '_, '_>) -> Option<FeatureConfig> {
    let name = f.string("name");
    match &name {
        Some(n) if RESERVED_COLUMNS.contains(&n.value.as_str()) => f.sink().push(
            Some(&n.span),
            n.key.clone(),
            format!(
                "the feature name {:?} is reserved for drift detection of the model's own column",
                n.value
            ),
        ),
        Some(n) if !is_valid_feature_name(&n.value) => f.sink().push(
            Some(&n.span),
            n.key.clone(),
            "feature names must be 1 to 128 bytes without control characters",
        ),
        Some(_) => {}
        None => f.error("name", "missing required key"),
    }
    let kind = match f.string("type") {
        Some(t) => match t.value.as_str() {
            "numeric" => Some(FeatureKind::Numeric),
            "categorical" => Some(FeatureKind::Categorical),
            other => {
                f.sink().push(
                    Some(&t.span),
                    t.key,
                    format!("unknown feature type {other:?}; expected numeric or categorical"),
                );
                None
            }
        },
        None => {
            f.error("type", "missing required key");
            None
        }
    };
    let test = f.string("test").and_then(|t| match DriftTest::parse(&t.value) {
        Some(test) => {
            if let Some(k) = kind
                && !test.applies_to(k) {
                    f.sink().push(
                        Some(&t.span),
                        t.key.clone(),
                        format!("{} does not apply to {} features", test.as_str(), k.as_str()),
                    );
                }
            Some(test)
        }
        None => {
            f.sink().push(
                Some(&t.span),
                t.key,
                format!(
                    "unknown test {:?}; expected ks, chi2, wasserstein, wasserstein_normed, psi or jensen_shannon",
                    t.value
                ),
            );
            None
        }
    });
    let threshold = f.float("threshold");
    if let Some(th) = &threshold {
        let p_value = test.is_none_or(DriftTest::is_p_value);
        if p_value && !(th.value > 0.0 && th.value < 1.0) {
            f.sink().push(
                Some(&th.span),
                th.key.clone(),
                "a p-value threshold (alpha) must be in (0, 1)",
            );
        } else if th.value < 0.0 {
            f.sink()
                .push(Some(&th.span), th.key.clone(), "must not be negative");
        }
    }
    if test == Some(DriftTest::Wasserstein) && threshold.is_none() {
        f.error(
            "threshold",
            "wasserstein is in data units and needs an explicit threshold",
        );
    }
    Some(FeatureConfig {
        name: name?.value,
        kind: kind?,
        test,
        threshold: threshold.map(|t| t.value),
    })
}
