//! Configuration: the types of the TOML file format, their defaults, loading, and the embedded default.
//!
//! Every key is documented in `docs/configuration.md`. Parsing collects all problems (with line and key)
//! instead of stopping at the first, so `modelwatch check-config` can list them at once.

mod model;
mod reader;
mod server;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use toml::de::DeTable;

use model::read_model;
pub use reader::ConfigError;
use reader::{Sink, TableReader};
use server::read_server;

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
