//! Running the service: binding the listener, background housekeeping, graceful shutdown.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::clock::Clock;
use crate::config::Config;
use crate::connections;
use crate::http;
use crate::persist;
use crate::state::AppState;

/// How often time windows and pending labels are expired when no traffic arrives.
const TICK: Duration = Duration::from_secs(1);

/// How often the drift evaluator checks which models are due.
const DRIFT_POLL: Duration = Duration::from_millis(250);

/// A running server, for tests and for `serve`.
pub struct Server {
    pub state: AppState,
    pub addr: SocketAddr,
    shutdown: tokio::sync::watch::Sender<bool>,
    task: JoinHandle<()>,
    background: Vec<JoinHandle<()>>,
    state_file: Option<PathBuf>,
}

impl Server {
    /// Binds `listen` (port 0 picks a free port) and starts serving.
    pub async fn start(
        config: Config,
        listen: SocketAddr,
        clock: Clock,
    ) -> std::io::Result<Server> {
        let state_file = config
            .server
            .state
            .as_ref()
            .map(|s| (config.resolve(&s.path), s.snapshot_interval));
        let state = AppState::new(config, clock).map_err(std::io::Error::other)?;
        if let Some((path, _)) = &state_file {
            restore(&state, path);
        }
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let (shutdown, rx) = tokio::sync::watch::channel(false);
        let app = http::app(state.clone());
        let task = tokio::spawn(connections::serve(listener, app, state.clone(), rx));
        let mut background = vec![
            spawn_ticker(state.clone()),
            spawn_drift_evaluator(state.clone()),
        ];
        if let Some((path, interval)) = &state_file {
            background.push(spawn_snapshotter(state.clone(), path.clone(), *interval));
        }
        tracing::info!(%addr, models = state.models().len(), "modelwatch listening");
        Ok(Server {
            state,
            addr,
            shutdown,
            task,
            background,
            state_file: state_file.map(|(p, _)| p),
        })
    }

    /// Stops accepting connections, gives requests in flight at most `shutdown_grace` to finish,
    /// stops background tasks and writes the final snapshot. Fails when the final snapshot (if
    /// configured) was not written.
    pub async fn stop(self) -> std::io::Result<()> {
        self.state.set_ready(false);
        let _ = self.shutdown.send(true);
        let served = self
            .task
            .await
            .map_err(|e| std::io::Error::other(format!("the server task failed: {e}")));
        for task in self.background {
            task.abort();
        }
        // Requests in flight have finished, or had their connections closed after the grace period:
        // this snapshot holds every event that was answered 2xx.
        if let Some(path) = self.state_file {
            let state = self.state.clone();
            let written = tokio::task::spawn_blocking(move || write_snapshot(&state, &path)).await;
            let failed = match written {
                Ok(Ok(_)) => None,
                Ok(Err(e)) => Some(e.to_string()),
                Err(e) => Some(e.to_string()),
            };
            if let Some(e) = failed {
                tracing::error!(error = %e, "final snapshot failed");
                return Err(std::io::Error::other(format!("final snapshot failed: {e}")));
            }
        }
        served
    }

    /// Serves until `signal` resolves, then shuts down gracefully.
    pub async fn run_until(self, signal: impl Future<Output = ()>) -> std::io::Result<()> {
        signal.await;
        tracing::info!("shutting down");
        self.stop().await
    }
}

fn spawn_ticker(state: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(TICK);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            state.tick();
        }
    })
}

/// Evaluates each model's drift every `drift.interval`, on the blocking pool, one model at a time, so
/// evaluation never runs on the ingest path and never competes with itself.
fn spawn_drift_evaluator(state: AppState) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut last: HashMap<String, tokio::time::Instant> = HashMap::new();
        let mut interval = tokio::time::interval(DRIFT_POLL);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            for model in state.models().iter() {
                let now = tokio::time::Instant::now();
                let due = last
                    .get(model.name())
                    .is_none_or(|t| now.duration_since(*t) >= model.config.drift.interval);
                if !due {
                    continue;
                }
                last.insert(model.name().to_string(), now);
                let m = model.clone();
                if let Err(e) = tokio::task::spawn_blocking(move || m.evaluate_drift()).await {
                    tracing::error!(model = model.name(), error = %e, "drift evaluation failed");
                }
            }
        }
    })
}

fn restore(state: &AppState, path: &Path) {
    match persist::read(path) {
        persist::Loaded::Missing => {
            tracing::info!(path = %path.display(), "no state snapshot yet; starting empty")
        }
        persist::Loaded::Ok { snapshot, format } => {
            for note in state.restore(&snapshot) {
                tracing::warn!(%note, "part of the snapshot was not restored");
            }
            if format != crate::snapshot::VERSION {
                tracing::warn!(
                    path = %path.display(),
                    from = format,
                    to = crate::snapshot::VERSION,
                    "the snapshot was written in an older format and was migrated; the next snapshot \
                     replaces it in the current format"
                );
            }
            tracing::info!(path = %path.display(), models = snapshot.models.len(), "state restored");
        }
        persist::Loaded::Quarantined { reason, moved_to } => tracing::error!(
            path = %path.display(),
            moved_to = %moved_to.display(),
            %reason,
            "the state snapshot is unusable and was moved aside; starting empty"
        ),
    }
    // A directory that exists but cannot be written would otherwise show only at the first snapshot.
    if path.parent().is_some_and(Path::is_dir)
        && let Err(e) = persist::check_writable(path)
    {
        tracing::error!(path = %path.display(), error = %e, "state snapshots will fail");
    }
}

/// Captures and writes one snapshot, and records it in the snapshot metrics (when snapshots are
/// configured). Writes to one file are serialized by `persist::write`, so an interrupted periodic write
/// and the final one never share the temporary file. Returns the bytes written.
pub fn write_snapshot(state: &AppState, path: &Path) -> Result<usize, persist::WriteError> {
    let started = std::time::Instant::now();
    let result = persist::write(path, || state.snapshot());
    let metrics = state.telemetry().snapshots();
    match &result {
        Ok(bytes) => {
            if let Some(m) = metrics {
                m.record_success(state.clock().now_secs(), started.elapsed());
            }
            tracing::debug!(bytes, elapsed = ?started.elapsed(), "state snapshot written");
        }
        Err(_) => {
            if let Some(m) = metrics {
                m.record_failure();
            }
        }
    }
    result
}

/// Writes a snapshot every `interval` on the blocking pool, and registers the snapshot metrics.
fn spawn_snapshotter(state: AppState, path: PathBuf, interval: Duration) -> JoinHandle<()> {
    state.telemetry().enable_snapshots(interval);
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            ticker.tick().await;
            let (s, p) = (state.clone(), path.clone());
            match tokio::task::spawn_blocking(move || write_snapshot(&s, &p)).await {
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::error!(error = %e, "state snapshot failed"),
                Err(e) => tracing::error!(error = %e, "state snapshot task failed"),
            }
        }
    })
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
