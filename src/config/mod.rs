//! Configuration: the TOML file format, its validation, and the embedded default.
//!
//! Every key is documented in `docs/configuration.md`. Parsing collects all problems (with line and key)
//! instead of stopping at the first, so `modelwatch check-config` can list them at once.

mod reader;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use toml::de::DeTable;

pub use reader::ConfigError;
use reader::{Sink, TableReader};

/// The config served when no `--config` is given: one binary classifier named `demo`.
pub const DEFAULT_CONFIG: &str = include_str!("default.toml");

/// Feature names that are reserved for the prediction and label columns of drift detection.
pub const RESERVED_COLUMNS: [&str; 2] = ["prediction", "label"];

#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub server: ServerConfig,
    pub models: Vec<ModelConfig>,
    /// Directory of the config file; relative reference paths are resolved against it.
    pub base_dir: Option<std::path::PathBuf>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    pub limits: Limits,
    /// Requests taking longer are answered 408.
    pub request_timeout: Duration,
    /// Requests in flight beyond this are shed with 503 and Retry-After (scrapes and health checks are
    /// never shed).
    pub max_concurrency: usize,
    /// A prediction stamped further ahead of the server's clock is rejected (`timestamp_in_future`), so
    /// a skewed client cannot fill a time window with samples that never leave it.
    pub max_clock_skew: Duration,
    pub auth: AuthConfig,
    pub state: Option<StateConfig>,
    /// A connection must deliver a request's headers within this long of sending its first byte.
    pub header_read_timeout: Duration,
    /// A keep-alive connection waiting this long for its next request is closed.
    pub idle_timeout: Duration,
    /// A request's body must arrive in full within this long of its headers.
    pub body_read_timeout: Duration,
    /// Open connections at most (lowered to what the open-file limit allows).
    pub max_connections: usize,
    /// After SIGTERM, how long requests in flight may take before their connections are closed.
    pub shutdown_grace: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: defaults::LISTEN.parse().expect("valid default"),
            max_body_bytes: defaults::MAX_BODY_BYTES,
            limits: Limits::default(),
            request_timeout: Duration::from_secs(defaults::REQUEST_TIMEOUT_SECS),
            max_concurrency: defaults::MAX_CONCURRENCY,
            max_clock_skew: Duration::from_secs(defaults::MAX_CLOCK_SKEW_SECS),
            auth: AuthConfig::default(),
            state: None,
            header_read_timeout: Duration::from_secs(defaults::HEADER_READ_TIMEOUT_SECS),
            idle_timeout: Duration::from_secs(defaults::IDLE_TIMEOUT_SECS),
            body_read_timeout: Duration::from_secs(defaults::BODY_READ_TIMEOUT_SECS),
            max_connections: defaults::MAX_CONNECTIONS,
            shutdown_grace: Duration::from_secs(defaults::SHUTDOWN_GRACE_SECS),
        }
    }
}

/// Limits on what one request may carry. Every one has a safe default and a config key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_events_per_request: usize,
    pub max_features_per_event: usize,
    pub max_string_bytes: usize,
    pub max_id_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_events_per_request: 100_000,
            max_features_per_event: 1000,
            max_string_bytes: 1024,
            max_id_bytes: 256,
        }
    }
}

/// Optional bearer tokens. Without any, the API is open (bind to localhost or a private network).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct AuthConfig {
    /// Any of these may POST and PUT.
    pub ingest_tokens: Vec<String>,
    /// Guards the `/v1/*` GETs and `/metrics` when set.
    pub read_token: Option<String>,
}

impl std::fmt::Debug for AuthConfig {
    // Tokens are secrets: never print them, not even in debug output.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AuthConfig")
            .field(
                "ingest_tokens",
                &format!("{} token(s)", self.ingest_tokens.len()),
            )
            .field("read_token", &self.read_token.as_ref().map(|_| "set"))
            .finish()
    }
}

/// Where and how often state is snapshotted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateConfig {
    pub path: std::path::PathBuf,
    pub snapshot_interval: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Task {
    BinaryClassification,
    MulticlassClassification,
    Regression,
}

impl Task {
    pub fn as_str(self) -> &'static str {
        match self {
            Task::BinaryClassification => "binary_classification",
            Task::MulticlassClassification => "multiclass_classification",
            Task::Regression => "regression",
        }
    }

    pub fn is_classification(self) -> bool {
        !matches!(self, Task::Regression)
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelConfig {
    pub name: String,
    pub task: Task,
    /// Canonical class strings. Binary: `[negative, positive]`. Multiclass: as configured. Regression: empty.
    pub classes: Vec<String>,
    /// Binary only: `prediction = score >= threshold` when the event has no prediction.
    pub threshold: f64,
    pub label_ttl: Duration,
    pub max_pending: usize,
    /// Cap on distinct values remembered per categorical feature; the rest count as `__other__`.
    pub max_categories: usize,
    pub windows: Vec<WindowConfig>,
    pub features: Vec<FeatureConfig>,
    /// What the current window is compared to; `None` disables the drift tests (data quality still runs).
    pub reference: Option<ReferenceConfig>,
    pub drift: DriftConfig,
    pub alerts: AlertsConfig,
}

impl ModelConfig {
    /// Index of the positive class in `classes` (binary models).
    pub const POSITIVE: usize = 1;
}

#[derive(Debug, Clone, PartialEq)]
pub struct WindowConfig {
    pub name: String,
    pub kind: WindowKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowKind {
    /// The last N samples.
    Count(usize),
    /// Samples whose timestamp is within `duration` of now, at most `max_events` of them.
    Time {
        duration: Duration,
        max_events: usize,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureKind {
    Numeric,
    Categorical,
}

impl FeatureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FeatureKind::Numeric => "numeric",
            FeatureKind::Categorical => "categorical",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FeatureConfig {
    pub name: String,
    pub kind: FeatureKind,
    /// The detection test; `None` means the default for the type (ks or chi2).
    pub test: Option<DriftTest>,
    /// Distance threshold, or the significance level of a p-value test; `None` means the default.
    pub threshold: Option<f64>,
}

/// A drift test or distance. Each column reports all the ones that apply to its type; one of them (the
/// detection test) decides `modelwatch_drift_detected`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DriftTest {
    Ks,
    Chi2,
    Wasserstein,
    WassersteinNormed,
    Psi,
    JensenShannon,
}

impl DriftTest {
    pub const NUMERIC: [DriftTest; 5] = [
        DriftTest::Ks,
        DriftTest::Wasserstein,
        DriftTest::WassersteinNormed,
        DriftTest::Psi,
        DriftTest::JensenShannon,
    ];
    pub const CATEGORICAL: [DriftTest; 3] =
        [DriftTest::Chi2, DriftTest::Psi, DriftTest::JensenShannon];

    pub fn as_str(self) -> &'static str {
        match self {
            DriftTest::Ks => "ks",
            DriftTest::Chi2 => "chi2",
            DriftTest::Wasserstein => "wasserstein",
            DriftTest::WassersteinNormed => "wasserstein_normed",
            DriftTest::Psi => "psi",
            DriftTest::JensenShannon => "jensen_shannon",
        }
    }

    pub fn parse(s: &str) -> Option<DriftTest> {
        [
            DriftTest::Ks,
            DriftTest::Chi2,
            DriftTest::Wasserstein,
            DriftTest::WassersteinNormed,
            DriftTest::Psi,
            DriftTest::JensenShannon,
        ]
        .into_iter()
        .find(|t| t.as_str() == s)
    }

    /// Whether the test yields a p-value (drift when p < alpha) rather than a distance (drift when the
    /// distance reaches the threshold).
    pub fn is_p_value(self) -> bool {
        matches!(self, DriftTest::Ks | DriftTest::Chi2)
    }

    pub fn applies_to(self, kind: FeatureKind) -> bool {
        match kind {
            FeatureKind::Numeric => DriftTest::NUMERIC.contains(&self),
            FeatureKind::Categorical => DriftTest::CATEGORICAL.contains(&self),
        }
    }

    /// The default detection test of a column type.
    pub fn default_for(kind: FeatureKind) -> DriftTest {
        match kind {
            FeatureKind::Numeric => DriftTest::Ks,
            FeatureKind::Categorical => DriftTest::Chi2,
        }
    }

    /// Default threshold of a distance test. The raw Wasserstein distance is in data units and has none.
    pub fn default_threshold(self) -> Option<f64> {
        match self {
            DriftTest::WassersteinNormed => Some(0.1),
            DriftTest::Psi => Some(0.2),
            DriftTest::JensenShannon => Some(0.1),
            DriftTest::Ks | DriftTest::Chi2 | DriftTest::Wasserstein => None,
        }
    }
}

/// Where the reference distribution comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ReferenceConfig {
    /// A CSV or JSONL file, loaded at start. Relative paths are relative to the config file.
    Path(std::path::PathBuf),
    /// The first N predictions (and the first N labels) become the reference, then it is frozen.
    Warmup(usize),
    /// The window of the same size just before the current one.
    Moving,
}

/// The detection test and threshold of the prediction or the label column.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColumnTest {
    pub test: Option<DriftTest>,
    pub threshold: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DriftConfig {
    pub alpha: f64,
    pub min_samples: usize,
    pub correction: crate::stats::multitest::Correction,
    pub min_effect: f64,
    pub drift_share: f64,
    pub interval: Duration,
    pub prediction: ColumnTest,
    pub label: ColumnTest,
    /// Largest reference file or upload, in rows.
    pub max_reference_rows: usize,
}

impl Default for DriftConfig {
    fn default() -> Self {
        DriftConfig {
            alpha: 0.05,
            min_samples: 30,
            correction: crate::stats::multitest::Correction::None,
            min_effect: 0.0,
            drift_share: 0.5,
            interval: Duration::from_secs(10),
            prediction: ColumnTest {
                test: None,
                threshold: None,
            },
            label: ColumnTest {
                test: None,
                threshold: None,
            },
            max_reference_rows: defaults::MAX_REFERENCE_ROWS,
        }
    }
}

/// Per-model alert thresholds, exported as `modelwatch_alert_threshold` for the shipped alert rules.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertsConfig {
    pub accuracy_min: Option<f64>,
    pub f1_min: Option<f64>,
    pub roc_auc_min: Option<f64>,
    pub mae_max: Option<f64>,
    pub rmse_max: Option<f64>,
    pub latency_p95_max_ms: Option<f64>,
    pub error_rate_max: Option<f64>,
    pub missing_ratio_max: Option<f64>,
}

impl AlertsConfig {
    /// (metric label, direction label, value) of every configured threshold, in export units.
    pub fn thresholds(&self) -> Vec<(&'static str, &'static str, f64)> {
        let mut out = Vec::new();
        let mut add = |metric, direction, v: Option<f64>| {
            if let Some(v) = v {
                out.push((metric, direction, v));
            }
        };
        add("accuracy", "min", self.accuracy_min);
        add("f1_score", "min", self.f1_min);
        add("roc_auc", "min", self.roc_auc_min);
        add("mae", "max", self.mae_max);
        add("rmse", "max", self.rmse_max);
        add(
            "latency_p95_seconds",
            "max",
            self.latency_p95_max_ms.map(|ms| ms / 1000.0),
        );
        add("error_rate", "max", self.error_rate_max);
        add("missing_ratio", "max", self.missing_ratio_max);
        out
    }
}

/// Defaults that are also documented in `docs/configuration.md`.
/// The largest `max_clock_skew`: a day ahead is already far beyond any clock error.
const MAX_CLOCK_SKEW_LIMIT_SECS: u64 = 24 * 3600;

pub mod defaults {
    pub const LISTEN: &str = "127.0.0.1:8090";
    pub const MAX_BODY_BYTES: usize = 10 * 1024 * 1024;
    pub const LABEL_TTL_SECS: u64 = 24 * 3600;
    pub const MAX_PENDING: usize = 1_000_000;
    pub const MAX_CATEGORIES: usize = 1000;
    pub const WINDOW_NAME: &str = "last_1000";
    pub const WINDOW_EVENTS: usize = 1000;
    pub const TIME_WINDOW_MAX_EVENTS: usize = 1_000_000;
    pub const THRESHOLD: f64 = 0.5;
    /// Largest count window, and largest `max_events` of a time window.
    pub const MAX_WINDOW_EVENTS: i64 = 50_000_000;
    pub const MAX_REFERENCE_ROWS: usize = 1_000_000;
    pub const REQUEST_TIMEOUT_SECS: u64 = 30;
    pub const MAX_CONCURRENCY: usize = 512;
    pub const MAX_CLOCK_SKEW_SECS: u64 = 5 * 60;
    pub const SNAPSHOT_INTERVAL_SECS: u64 = 30;
    pub const HEADER_READ_TIMEOUT_SECS: u64 = 10;
    pub const IDLE_TIMEOUT_SECS: u64 = 60;
    pub const BODY_READ_TIMEOUT_SECS: u64 = 10;
    pub const MAX_CONNECTIONS: usize = 4096;
    pub const SHUTDOWN_GRACE_SECS: u64 = 10;
}

/// Why a config could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{} error(s) in {origin}:\n{}", .errors.len(), render(.errors))]
    Invalid {
        origin: String,
        errors: Vec<ConfigError>,
    },
}

fn render(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(|e| format!("  {e}"))
        .collect::<Vec<_>>()
        .join("\n")
}

impl Config {
    /// Loads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, LoadError> {
        let text = std::fs::read_to_string(path).map_err(|source| LoadError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let mut config = Config::parse(&text).map_err(|errors| LoadError::Invalid {
            origin: path.display().to_string(),
            errors,
        })?;
        config.base_dir = path.parent().map(std::path::Path::to_path_buf);
        Ok(config)
    }

    /// Resolves a path from the config: absolute paths as they are, relative ones against the config
    /// file's directory (or the working directory for the embedded default).
    pub fn resolve(&self, path: &Path) -> std::path::PathBuf {
        match &self.base_dir {
            Some(base) if path.is_relative() => base.join(path),
            _ => path.to_path_buf(),
        }
    }

    /// The embedded default config.
    pub fn default_config() -> Config {
        Config::parse(DEFAULT_CONFIG).expect("the embedded default config is valid")
    }

    /// Parses and validates config text, returning every problem found.
    pub fn parse(text: &str) -> Result<Config, Vec<ConfigError>> {
        let (doc, syntax_errors) = DeTable::parse_recoverable(text);
        let sink = Sink::new(text);
        for e in &syntax_errors {
            sink.push(e.span().as_ref(), "", e.message().trim().to_string());
        }
        let config = if syntax_errors.is_empty() {
            let mut root = TableReader::new(&sink, String::new(), &doc);
            let config = read_config(&mut root);
            root.finish();
            Some(config)
        } else {
            None
        };
        match config {
            Some(config) if !sink.has_errors() => Ok(config),
            _ => Err(sink.into_errors()),
        }
    }

    /// Adds the tokens given in the environment (`MODELWATCH_INGEST_TOKEN`, `MODELWATCH_READ_TOKEN`), which
    /// keep secrets out of config files.
    pub fn with_env_tokens(mut self) -> Config {
        if let Ok(token) = std::env::var("MODELWATCH_INGEST_TOKEN")
            && !token.is_empty()
            && !self.server.auth.ingest_tokens.contains(&token)
        {
            self.server.auth.ingest_tokens.push(token);
        }
        if let Ok(token) = std::env::var("MODELWATCH_READ_TOKEN")
            && !token.is_empty()
        {
            self.server.auth.read_token = Some(token);
        }
        self
    }

    pub fn model(&self, name: &str) -> Option<&ModelConfig> {
        self.models.iter().find(|m| m.name == name)
    }
}

/// `[A-Za-z0-9_.-]{1,64}`: the rule for model and window names, which become Prometheus label values
/// and URL path segments.
pub fn is_valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-')
}

/// Feature names are matched against JSON keys, so they may hold any printable text, but they become
/// label values too, so they are bounded in length.
fn is_valid_feature_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 128 && !name.chars().any(char::is_control)
}

fn read_config(root: &mut TableReader<'_, '_, '_>) -> Config {
    let server = match root.table("server") {
        Some(mut t) => {
            let s = read_server(&mut t);
            t.finish();
            s
        }
        None => ServerConfig::default(),
    };
    let mut models = Vec::new();
    let mut seen = HashSet::new();
    let model_tables = root.array_of_tables("model");
    if model_tables.is_empty() && !root.contains("model") {
        root.error("model", "at least one [[model]] section is required");
    }
    for mut t in model_tables {
        if let Some(model) = read_model(&mut t) {
            if !seen.insert(model.name.clone()) {
                t.error("name", format!("duplicate model name {:?}", model.name));
            }
            models.push(model);
        }
        t.finish();
    }
    Config {
        server,
        models,
        base_dir: None,
    }
}

fn read_server(t: &mut TableReader<'_, '_, '_>) -> ServerConfig {
    let listen = match t.string("listen") {
        Some(l) => match l.value.parse::<SocketAddr>() {
            Ok(addr) => addr,
            Err(_) => {
                t.sink().push(
                    Some(&l.span),
                    l.key,
                    format!(
                        "invalid listen address {:?}; expected IP:PORT such as 127.0.0.1:8090",
                        l.value
                    ),
                );
                defaults::LISTEN.parse().expect("valid default")
            }
        },
        None => defaults::LISTEN.parse().expect("valid default"),
    };
    let d = ServerConfig::default();
    let max_body_bytes = t
        .integer_in("max_body_bytes", 1024, 1 << 32)
        .map_or(d.max_body_bytes, |v| v.value as usize);
    let dl = Limits::default();
    let limits = Limits {
        max_events_per_request: t
            .integer_in("max_events_per_request", 1, 10_000_000)
            .map_or(dl.max_events_per_request, |v| v.value as usize),
        max_features_per_event: t
            .integer_in("max_features_per_event", 1, 100_000)
            .map_or(dl.max_features_per_event, |v| v.value as usize),
        max_string_bytes: t
            .integer_in("max_string_bytes", 1, 1 << 20)
            .map_or(dl.max_string_bytes, |v| v.value as usize),
        max_id_bytes: t
            .integer_in("max_id_bytes", 1, 1 << 16)
            .map_or(dl.max_id_bytes, |v| v.value as usize),
    };
    let request_timeout = t
        .duration("request_timeout")
        .map_or(d.request_timeout, |v| v.value);
    let max_concurrency = t
        .integer_in("max_concurrency", 1, 1_000_000)
        .map_or(d.max_concurrency, |v| v.value as usize);
    let max_clock_skew = t
        .duration_at_most(
            "max_clock_skew",
            Duration::from_secs(MAX_CLOCK_SKEW_LIMIT_SECS),
        )
        .map_or(d.max_clock_skew, |v| v.value);
    let auth = match t.table("auth") {
        Some(mut a) => {
            let ingest_tokens: Vec<String> = a
                .string_array("ingest_tokens")
                .unwrap_or_default()
                .into_iter()
                .filter_map(|tok| {
                    if tok.value.len() < 16 {
                        a.sink().push(
                            Some(&tok.span),
                            tok.key,
                            "tokens must be at least 16 characters",
                        );
                        None
                    } else {
                        Some(tok.value)
                    }
                })
                .collect();
            let read_token = a.string("read_token").and_then(|tok| {
                if tok.value.len() < 16 {
                    a.sink().push(
                        Some(&tok.span),
                        tok.key,
                        "tokens must be at least 16 characters",
                    );
                    None
                } else {
                    Some(tok.value)
                }
            });
            a.finish();
            AuthConfig {
                ingest_tokens,
                read_token,
            }
        }
        None => AuthConfig::default(),
    };
    let state = t.table("state").and_then(|mut st| {
        let path = st.string("path");
        let interval = st
            .duration("snapshot_interval")
            .map_or(Duration::from_secs(defaults::SNAPSHOT_INTERVAL_SECS), |v| {
                v.value
            });
        if path.is_none() {
            st.error("path", "missing required key");
        }
        st.finish();
        path.map(|p| StateConfig {
            path: p.value.into(),
            snapshot_interval: interval,
        })
    });
    let header_read_timeout = t
        .duration("header_read_timeout")
        .map_or(d.header_read_timeout, |v| v.value);
    let idle_timeout = t
        .duration("idle_timeout")
        .map_or(d.idle_timeout, |v| v.value);
    let body_read_timeout = t
        .duration("body_read_timeout")
        .map_or(d.body_read_timeout, |v| v.value);
    let max_connections = t
        .integer_in("max_connections", 1, 1_000_000)
        .map_or(d.max_connections, |v| v.value as usize);
    let shutdown_grace = t
        .duration("shutdown_grace")
        .map_or(d.shutdown_grace, |v| v.value);
    ServerConfig {
        listen,
        max_body_bytes,
        limits,
        request_timeout,
        max_concurrency,
        max_clock_skew,
        auth,
        state,
        header_read_timeout,
        idle_timeout,
        body_read_timeout,
        max_connections,
        shutdown_grace,
    }
}

fn read_model(t: &mut TableReader<'_, '_, '_>) -> Option<ModelConfig> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_config_is_valid_and_binary() {
        let c = Config::default_config();
        assert_eq!(c.models.len(), 1);
        let m = &c.models[0];
        assert_eq!(m.name, "demo");
        assert_eq!(m.task, Task::BinaryClassification);
        assert_eq!(m.classes, vec!["0", "1"]);
        assert!(m.features.iter().any(|f| f.kind == FeatureKind::Numeric));
        assert!(
            m.features
                .iter()
                .any(|f| f.kind == FeatureKind::Categorical)
        );
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:8090");
    }

    #[test]
    fn the_documented_example_parses() {
        let text = r#"
[server]
listen = "127.0.0.1:8090"
max_body_bytes = 10485760

[[model]]
name = "fraud"
task = "binary_classification"
positive_class = "1"
threshold = 0.5
label_ttl = "24h"
max_pending = 1000000

[[model.window]]
name = "last_1000"
events = 1000
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
name = "animals"
task = "multiclass_classification"
classes = ["cat", "dog", "bird"]
"#;
        let c = Config::parse(text).unwrap();
        assert_eq!(c.models.len(), 2);
        let fraud = c.model("fraud").unwrap();
        assert_eq!(fraud.windows.len(), 2);
        assert_eq!(fraud.windows[0].kind, WindowKind::Count(1000));
        assert_eq!(
            fraud.windows[1].kind,
            WindowKind::Time {
                duration: Duration::from_secs(3600),
                max_events: defaults::TIME_WINDOW_MAX_EVENTS
            }
        );
        let animals = c.model("animals").unwrap();
        assert_eq!(animals.classes, vec!["cat", "dog", "bird"]);
        assert_eq!(animals.windows[0].name, "last_1000");
        assert_eq!(animals.windows[0].kind, WindowKind::Count(1000));
    }

    #[test]
    fn every_error_is_reported_with_line_and_key() {
        let text = r#"[server]
listen = "nowhere"

[[model]]
name = "bad name!"
task = "binary_classification"
threshhold = 0.5

[[model.window]]
name = "w"
events = 10
duration = "1h"

[[model.feature]]
name = "prediction"
type = "numeric"

[[model]]
name = "m2"
task = "multiclass_classification"
classes = ["a", "a"]
"#;
        let errors = Config::parse(text).unwrap_err();
        let rendered: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        let expect = [
            "line 2: server.listen: invalid listen address",
            "line 5: model[0].name: invalid model name",
            "line 7: model[0].threshhold: unknown key",
            "model[0].window[0].events: a window has either events",
            "line 15: model[0].feature[0].name: the feature name \"prediction\" is reserved",
            "line 21: model[1].classes[1]: duplicate class \"a\"",
            "model[1].classes: multiclass models need at least two classes",
        ];
        for e in expect {
            assert!(
                rendered.iter().any(|r| r.contains(e)),
                "missing {e:?} in {rendered:#?}"
            );
        }
        assert_eq!(errors.len(), expect.len(), "{rendered:#?}");
    }

    #[test]
    fn syntax_errors_have_lines() {
        let errors = Config::parse("[[model]]\nname = \n").unwrap_err();
        assert!(!errors.is_empty());
        assert_eq!(errors[0].line, Some(2));
    }

    #[test]
    fn connection_keys_have_safe_defaults_and_are_checked() {
        let model = "[[model]]\nname = \"m\"\ntask = \"regression\"\n";
        let d = Config::parse(model).unwrap().server;
        assert_eq!(d.header_read_timeout, Duration::from_secs(10));
        assert_eq!(d.idle_timeout, Duration::from_secs(60));
        assert_eq!(d.body_read_timeout, Duration::from_secs(10));
        assert_eq!(d.max_connections, 4096);
        assert_eq!(d.shutdown_grace, Duration::from_secs(10));
        let set = "[server]\nheader_read_timeout = \"2s\"\nidle_timeout = \"5m\"\nbody_read_timeout = \"500ms\"\nmax_connections = 100\nshutdown_grace = \"25s\"\n";
        let c = Config::parse(&format!("{set}{model}")).unwrap().server;
        assert_eq!(c.header_read_timeout, Duration::from_secs(2));
        assert_eq!(c.idle_timeout, Duration::from_secs(300));
        assert_eq!(c.body_read_timeout, Duration::from_millis(500));
        assert_eq!(c.max_connections, 100);
        assert_eq!(c.shutdown_grace, Duration::from_secs(25));
        let bad = "[server]\nheader_read_timeout = \"0s\"\nidle_timeout = \"soon\"\nbody_read_timeout = \"0ms\"\nmax_connections = 0\nshutdown_grace = 10\n";
        let errors = Config::parse(&format!("{bad}{model}")).unwrap_err();
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "server.header_read_timeout",
                "server.idle_timeout",
                "server.body_read_timeout",
                "server.max_connections",
                "server.shutdown_grace",
            ],
            "{errors:#?}"
        );
    }

    #[test]
    fn binary_negative_class_rules() {
        let base = "[[model]]\nname = \"m\"\ntask = \"binary_classification\"\n";
        let c = Config::parse(&format!("{base}positive_class = true\n")).unwrap();
        assert_eq!(c.models[0].classes, vec!["false", "true"]);
        let errors = Config::parse(&format!("{base}positive_class = \"fraud\"\n")).unwrap_err();
        assert!(
            errors[0].to_string().contains("negative_class"),
            "{errors:?}"
        );
        let c = Config::parse(&format!(
            "{base}positive_class = \"fraud\"\nnegative_class = \"ok\"\n"
        ))
        .unwrap();
        assert_eq!(c.models[0].classes, vec!["ok", "fraud"]);
    }

    #[test]
    fn missing_models_is_an_error() {
        let errors = Config::parse("[server]\nlisten = \"127.0.0.1:1\"\n").unwrap_err();
        assert!(errors[0].message.contains("at least one [[model]]"));
    }
}
