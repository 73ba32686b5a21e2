//! The command line: `serve`, `check-config` (and the traffic tools), with logging set up once.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};

use crate::clock::Clock;
use crate::config::{Config, LoadError};
use crate::demo::{self, DemoOptions};
use crate::drift::reference::load_configured;
use crate::replay::{self, ReplayOptions};
use crate::schema::{Interners, Schema};
use crate::server::{Server, shutdown_signal};

#[derive(Debug, Parser)]
#[command(
    name = "modelwatch",
    version,
    about = "Model-monitoring sidecar: model metrics, drift and data quality for Prometheus"
)]
pub struct Cli {
    /// Log format; the level comes from RUST_LOG (default: info).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the service.
    Serve(ServeArgs),
    /// Validate a config file and print every error with its line and key.
    CheckConfig {
        /// The config file.
        path: PathBuf,
    },
    /// Send simulated fraud-model traffic (predictions, delayed labels, drift after a while).
    Demo(DemoArgs),
    /// Post recorded events from a JSONL file.
    Replay(ReplayArgs),
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Base URL of modelwatch.
    #[arg(long, default_value = "http://127.0.0.1:8090")]
    pub url: String,
    /// Model to send to.
    #[arg(long, default_value = "demo")]
    pub model: String,
    /// Predictions per second.
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// When the simulated world starts to drift.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    pub drift_after: Duration,
    /// Random seed.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Stop after this long (default: run until interrupted).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<Duration>,
}

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// JSONL file of prediction and label events.
    pub file: PathBuf,
    /// Base URL of modelwatch.
    #[arg(long, default_value = "http://127.0.0.1:8090")]
    pub url: String,
    /// Model to send to.
    #[arg(long, default_value = "demo")]
    pub model: String,
    /// Events per request.
    #[arg(long, default_value_t = 500)]
    pub batch: usize,
    /// Events per second (default: as fast as modelwatch answers).
    #[arg(long)]
    pub rate: Option<f64>,
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// Config file (TOML). Without it, the embedded default config is served.
    #[arg(long, env = "MODELWATCH_CONFIG")]
    pub config: Option<PathBuf>,
    /// Address to listen on; overrides [server] listen.
    #[arg(long, env = "MODELWATCH_LISTEN")]
    pub listen: Option<SocketAddr>,
    /// Also run the demo traffic generator against this server, in the same process.
    #[arg(long)]
    pub demo: bool,
    /// With --demo: when the simulated world starts to drift.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration, requires = "demo")]
    pub drift_after: Duration,
}

/// Initialises tracing with the chosen format and RUST_LOG (default `info`).
pub fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    match cli.command {
        Command::CheckConfig { path } => check_config(&path),
        Command::Demo(a) => {
            let opts = DemoOptions {
                url: a.url,
                model: a.model,
                rate: a.rate,
                drift_after: a.drift_after,
                seed: a.seed,
                duration: a.duration,
            };
            runtime().block_on(async {
                tokio::select! {
                    () = demo::run(opts) => {},
                    _ = shutdown_signal() => {},
                }
            });
            ExitCode::SUCCESS
        }
        Command::Replay(a) => {
            let opts = ReplayOptions {
                file: a.file,
                url: a.url,
                model: a.model,
                batch: a.batch.max(1),
                rate: a.rate,
            };
            let result = runtime().block_on(replay::run(opts));
            if let Ok(s) = &result {
                println!(
                    "sent {} predictions and {} labels: {} accepted, {} rejected",
                    s.predictions, s.labels, s.accepted, s.rejected
                );
            }
            match result {
                Ok(_) => ExitCode::SUCCESS,
                Err(e) => fail(e),
            }
        }
        Command::Serve(args) => {
            let config = match load_config(args.config.as_deref()) {
                Ok(c) => c,
                Err(e) => return fail(e),
            };
            let listen = args.listen.unwrap_or(config.server.listen);
            let demo = args.demo.then_some(args.drift_after);
            match runtime().block_on(serve(config, args.config, listen, demo)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(e),
            }
        }
    }
}

/// Reports a command's error on stderr; the exit code is 1.
fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("modelwatch: {e}");
    ExitCode::from(1)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("the tokio runtime starts")
}

/// The config file, or the embedded default, plus the tokens given in the environment.
pub fn load_config(path: Option<&std::path::Path>) -> Result<Config, LoadError> {
    let config = match path {
        Some(p) => Config::load(p)?,
        None => {
            tracing::info!(
                "no --config given: serving the embedded default config (model \"demo\")"
            );
            Config::default_config()
        }
    };
    Ok(config.with_env_tokens())
}

/// Reloads the config on SIGHUP.
#[cfg(unix)]
fn spawn_reload_on_sighup(state: crate::state::AppState) {
    tokio::spawn(async move {
        let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        else {
            return;
        };
        while hup.recv().await.is_some() {
            let s = state.clone();
            match tokio::task::spawn_blocking(move || s.reload()).await {
                Ok(Ok(summary)) => tracing::info!(%summary, "config reloaded on SIGHUP"),
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "config reload refused; the old config stays")
                }
                Err(e) => tracing::error!(error = %e, "config reload failed"),
            }
        }
    });
}

async fn serve(
    config: Config,
    config_path: Option<PathBuf>,
    listen: SocketAddr,
    demo: Option<Duration>,
) -> std::io::Result<()> {
    let server = Server::start(config, listen, Clock::new()).await?;
    server.state.set_config_path(config_path);
    #[cfg(unix)]
    spawn_reload_on_sighup(server.state.clone());
    if let Some(drift_after) = demo {
        let model = server
            .state
            .models()
            .iter()
            .next()
            .map(|m| m.name().to_string());
        match model {
            Some(model) => {
                let opts = DemoOptions {
                    url: format!("http://{}", server.addr),
                    model,
                    rate: 200.0,
                    drift_after,
                    seed: 42,
                    duration: None,
                };
                tokio::spawn(demo::run(opts));
            }
            None => tracing::warn!("--demo: no model to send traffic to"),
        }
    }
    server.run_until(shutdown_signal()).await
}

fn check_config(path: &std::path::Path) -> ExitCode {
    match Config::load(path) {
        Ok(c) => {
            // References are part of the config: load each one to report bad rows and columns.
            let mut bad = 0;
            for (i, m) in c.models.iter().enumerate() {
                let schema = Schema::new(m);
                let interners = Interners::new(schema.categorical_features, m.max_categories);
                if let Err(e) = load_configured(&c, m, &schema, &interners) {
                    println!("{}: model[{i}].reference.path: {e}", path.display());
                    bad += 1;
                }
            }
            // So is the state directory: a missing or read-only one would only show at the first
            // snapshot, as a failure.
            if let Some(state) = &c.server.state
                && let Err(e) = crate::persist::check_writable(&c.resolve(&state.path))
            {
                println!("{}: server.state.path: {e}", path.display());
                bad += 1;
            }
            if bad > 0 {
                println!("{bad} error(s)");
                return ExitCode::from(1);
            }
            println!("{}: OK ({} model(s))", path.display(), c.models.len());
            ExitCode::SUCCESS
        }
        Err(LoadError::Invalid { origin, errors }) => {
            for e in &errors {
                println!("{origin}: {e}");
            }
            println!("{} error(s)", errors.len());
            ExitCode::from(1)
        }
        Err(e) => {
            println!("{e}");
            ExitCode::from(1)
        }
    }
}
