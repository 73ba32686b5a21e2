//! The shared application state: a cheap-to-clone handle to the models, the telemetry and the limits.
//!
//! The HTTP layer calls the methods here and only translates their results into responses. The set of
//! models sits behind an `ArcSwap`, so a request holds a consistent set for its whole life.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use arc_swap::ArcSwap;
use prometheus::Encoder;

use crate::clock::Clock;
use crate::config::Config;
use crate::drift::reference::{
    self, LoadReferenceError, ReferenceFormat, ReferenceSource, load_configured,
};
use crate::error::Error;
use crate::event::{BodyFormat, Parser};
use crate::exposition::WindowCollector;
use crate::model::{LabelReport, Model, PredictionReport, Retired, same_layout};
use crate::models::Models;
use crate::snapshot::Snapshot;
use crate::status::{ModelList, ModelStatus, ReferenceAnswer};
use crate::telemetry::Telemetry;

/// Why a configured model could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Its reference file is missing, of an unknown format, or invalid (the error names the file, and
    /// the line and column where it can).
    #[error("model {model:?}: reference {source}")]
    Reference {
        model: String,
        source: LoadReferenceError,
    },
    /// The model refused the reference.
    #[error("model {model:?}: {source}")]
    SetReference { model: String, source: Error },
}

/// Builds a model and loads its file reference, if it has one.
fn build_model(
    config: &Config,
    m: &crate::config::ModelConfig,
    telemetry: &Telemetry,
    clock: Clock,
) -> Result<Model, BuildError> {
    let model = Model::new(Arc::new(m.clone()), telemetry, clock);
    if let Some(reference) =
        load_configured(config, m, &model.schema, &model.interners).map_err(|source| {
            BuildError::Reference {
                model: m.name.clone(),
                source,
            }
        })?
    {
        model
            .set_reference(reference)
            .map_err(|source| BuildError::SetReference {
                model: m.name.clone(),
                source,
            })?;
    }
    Ok(model)
}

/// Gives memory freed by a rebuild back to the system. A hand-over copies a model's windows and the
/// old model is dropped soon after; glibc keeps such freed small blocks in its heap, so without this a
/// process that rebuilds a large model keeps its peak size for good.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free heap pages to the kernel; it touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// What a config reload did, by model name.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct ReloadSummary {
    pub unchanged: Vec<String>,
    pub changed: Vec<String>,
    pub added: Vec<String>,
    pub removed: Vec<String>,
}

impl std::fmt::Display for ReloadSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "unchanged {:?}, changed {:?}, added {:?}, removed {:?}",
            self.unchanged, self.changed, self.added, self.removed
        )
    }
}

struct Inner {
    models: Arc<ArcSwap<Models>>,
    telemetry: Arc<Telemetry>,
    config: ArcSwap<Config>,
    /// The file the config came from, for reloads; `None` for the embedded default.
    config_path: parking_lot::Mutex<Option<std::path::PathBuf>>,
    /// Serialises reloads.
    reloading: parking_lot::Mutex<()>,
    /// Where reloads from async callers wait their turn.
    reload_queue: tokio::sync::Mutex<()>,
    /// Models a reload rebuilt, until the last handle on each is gone and their memory can be given
    /// back (see `release_freed_memory`).
    replaced: parking_lot::Mutex<Vec<std::sync::Weak<Model>>>,
    clock: Clock,
    ready: AtomicBool,
    /// Permits for requests in flight (`max_concurrency`).
    in_flight: Arc<tokio::sync::Semaphore>,
}

#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

impl AppState {
    /// Builds the state, loading every file reference. A bad reference fails it with an error naming
    /// the model, the file, and the line and column.
    pub fn new(config: Config, clock: Clock) -> Result<AppState, BuildError> {
        let telemetry = Arc::new(Telemetry::new());
        let mut models = Vec::with_capacity(config.models.len());
        for m in &config.models {
            models.push(Arc::new(build_model(&config, m, &telemetry, clock)?));
        }
        let models = Arc::new(ArcSwap::from_pointee(Models::new(models)));
        telemetry
            .registry
            .register(Box::new(WindowCollector::new(models.clone())))
            .expect("the window collector registers once");
        let max_concurrency = config.server.max_concurrency;
        Ok(AppState {
            inner: Arc::new(Inner {
                models,
                telemetry,
                config: ArcSwap::from_pointee(config),
                config_path: parking_lot::Mutex::new(None),
                reloading: parking_lot::Mutex::new(()),
                reload_queue: tokio::sync::Mutex::new(()),
                replaced: parking_lot::Mutex::new(Vec::new()),
                clock,
                ready: AtomicBool::new(true),
                in_flight: Arc::new(tokio::sync::Semaphore::new(max_concurrency)),
            }),
        })
    }

    /// Remembers where the config came from, so `reload` can read it again.
    pub fn set_config_path(&self, path: Option<std::path::PathBuf>) {
        *self.inner.config_path.lock() = path;
    }

    /// Reloads the config file. Unchanged models keep their state untouched. A changed model whose layout
    /// stays (`same_layout`: e.g. a new threshold or alert level) takes the new config in place, sharing
    /// its state; any other changed model is rebuilt and gets back what still fits of its windows,
    /// pending labels and reference, handed over under the old model's lock so no accepted write is
    /// lost. New models start empty; removed models and their series go. An invalid config is refused and
    /// the old one stays.
    pub fn reload(&self) -> Result<ReloadSummary, Error> {
        let _one_at_a_time = self.inner.reloading.lock();
        let path = self.inner.config_path.lock().clone();
        let config = match &path {
            Some(p) => Config::load(p).map_err(|e| Error::InvalidConfig(e.to_string()))?,
            None => Config::default_config(),
        }
        .with_env_tokens();
        let old_config = self.config_to_keep();
        if config.server.listen != old_config.server.listen
            || config.server.state != old_config.server.state
        {
            tracing::warn!(
                "[server] listen and [server.state] changes take effect only after a restart"
            );
        }
        let old = self.models();
        let telemetry = &self.inner.telemetry;
        let mut summary = ReloadSummary::default();
        let mut models = Vec::with_capacity(config.models.len());
        // Everything that can fail (a bad reference file) happens before any model is touched.
        let mut hand_overs = Vec::new();
        for m in &config.models {
            let name = m.name.clone();
            match old.get(&m.name) {
                Some(existing) if *existing.config == *m => {
                    models.push(existing.clone());
                    summary.unchanged.push(name);
                }
                Some(existing) if same_layout(&existing.config, m) => {
                    models.push(Arc::new(
                        existing.reconfigured(Arc::new(m.clone()), telemetry),
                    ));
                    summary.changed.push(name);
                }
                Some(existing) => {
                    let model = Arc::new(
                        build_model(&config, m, telemetry, self.inner.clock)
                            .map_err(|e| Error::InvalidConfig(e.to_string()))?,
                    );
                    hand_overs.push((existing.clone(), model.clone()));
                    models.push(model);
                    summary.changed.push(name);
                }
                None => {
                    models.push(Arc::new(
                        build_model(&config, m, telemetry, self.inner.clock)
                            .map_err(|e| Error::InvalidConfig(e.to_string()))?,
                    ));
                    summary.added.push(name);
                }
            }
        }
        for (existing, model) in &hand_overs {
            let started = std::time::Instant::now();
            for note in existing.hand_over(model) {
                tracing::warn!(model = %model.name(), %note, "state not carried over the reload");
            }
            tracing::info!(
                model = %model.name(),
                seconds = started.elapsed().as_secs_f64(),
                "model rebuilt; its ingest waited for the hand-over"
            );
            telemetry.remove_dropped_features(&existing.config, &model.config);
        }
        for m in old.iter() {
            if config.model(m.name()).is_none() {
                m.retire();
                telemetry.remove_model(&m.config);
                summary.removed.push(m.name().to_string());
            }
        }
        self.inner.config.store(Arc::new(config));
        self.inner.models.store(Arc::new(Models::new(models)));
        self.inner
            .replaced
            .lock()
            .extend(hand_overs.iter().map(|(old, _)| Arc::downgrade(old)));
        // The replaced models go with the last handle on them: normally these, else a request that
        // was still using one, and then the next tick gives their memory back.
        drop(hand_overs);
        drop(old);
        self.release_replaced();
        Ok(summary)
    }

    /// Gives the memory of replaced models back once every one of them is gone.
    fn release_replaced(&self) {
        let mut replaced = self.inner.replaced.lock();
        if replaced.is_empty() || replaced.iter().any(|m| m.strong_count() > 0) {
            return;
        }
        replaced.clear();
        release_freed_memory();
    }

    /// `reload` for the async callers: reloads queue here without holding a blocking thread each, and
    /// run one at a time on the blocking pool.
    pub async fn reload_async(&self) -> Result<ReloadSummary, Error> {
        let _queued = self.inner.reload_queue.lock().await;
        let state = self.clone();
        tokio::task::spawn_blocking(move || state.reload())
            .await
            .map_err(|e| Error::Internal(format!("reload task failed: {e}")))?
    }

    /// The configuration as an `Arc`, to hold across a reload or an `.await`.
    pub fn config_to_keep(&self) -> Arc<Config> {
        self.inner.config.load_full()
    }

    /// The configuration for one request, borrowed without taking a reference count: on the
    /// per-request path both workers bumping one shared count would cost more than the read. Not to be
    /// held across an `.await`.
    pub fn config_for_request(&self) -> arc_swap::Guard<Arc<Config>> {
        self.inner.config.load()
    }

    pub fn models(&self) -> Arc<Models> {
        self.inner.models.load_full()
    }

    pub fn model(&self, name: &str) -> Result<Arc<Model>, Error> {
        self.inner
            .models
            .load()
            .get(name)
            .cloned()
            .ok_or_else(|| Error::UnknownModel(name.chars().take(64).collect()))
    }

    pub fn telemetry(&self) -> &Telemetry {
        &self.inner.telemetry
    }

    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    pub fn max_body_bytes(&self) -> usize {
        self.inner.config.load().server.max_body_bytes
    }

    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Relaxed)
    }

    pub fn set_ready(&self, ready: bool) {
        self.inner.ready.store(ready, Ordering::Relaxed);
    }

    /// A permit for one more request in flight, or `None` when `max_concurrency` are already running.
    pub fn try_admit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        self.inner.in_flight.clone().try_acquire_owned().ok()
    }

    fn parser<'m>(&self, model: &'m Model) -> Parser<'m> {
        let config = self.inner.config.load();
        let now_ns = self.inner.clock.now_ns();
        let skew = config
            .server
            .max_clock_skew
            .as_nanos()
            .min(i64::MAX as u128) as i64;
        Parser {
            schema: &model.schema,
            interners: &model.interners,
            limits: config.server.limits,
            now_ns,
            latest_ts_ns: now_ns.saturating_add(skew),
        }
    }

    /// Parses and applies a body of prediction events. If a reload retires the model while the batch is
    /// applied, the events not yet applied are parsed again against its successor and applied there.
    pub fn ingest_predictions(
        &self,
        model: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<PredictionReport, Error> {
        let name = model;
        let mut model = self.model(name)?;
        let format = BodyFormat::from_content_type(content_type)?;
        let mut total = PredictionReport::default();
        let mut from_index = 0;
        loop {
            let batch = self
                .parser(&model)
                .predictions(body, format)
                .inspect_err(|e| {
                    if let Error::InvalidEvent(ev) = e {
                        model.telemetry.rejected(ev.code).inc();
                    }
                })?;
            let single = batch.single;
            let (report, moved) = model.apply_predictions(&batch, from_index).into_parts();
            total.absorb(report);
            match moved {
                None => {
                    if single && let Some(e) = total.errors.first() {
                        return Err(Error::InvalidEvent(e.clone()));
                    }
                    return Ok(total);
                }
                Some((next_index, to)) => {
                    model = self.successor(name, to)?;
                    from_index = next_index;
                }
            }
        }
    }

    /// Parses and applies a body of label events, following a reload like `ingest_predictions`.
    pub fn ingest_labels(
        &self,
        model: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<LabelReport, Error> {
        let name = model;
        let mut model = self.model(name)?;
        let format = BodyFormat::from_content_type(content_type)?;
        let mut total = LabelReport::default();
        let mut from_index = 0;
        loop {
            let batch = self.parser(&model).labels(body, format).inspect_err(|e| {
                if let Error::InvalidEvent(ev) = e {
                    model.telemetry.rejected(ev.code).inc();
                }
            })?;
            let (report, moved) = model.apply_labels(&batch, from_index).into_parts();
            total.absorb(report);
            match moved {
                None => return Ok(total),
                Some((next_index, to)) => {
                    model = self.successor(name, to)?;
                    from_index = next_index;
                }
            }
        }
    }

    /// The model that took over from a retired one, or `unknown_model` if a reload removed it.
    fn successor(&self, name: &str, to: Retired) -> Result<Arc<Model>, Error> {
        to.successor()
            .ok_or_else(|| Error::UnknownModel(name.chars().take(64).collect()))
    }

    /// Replaces a model's reference with an uploaded CSV or JSONL body, then re-evaluates drift against it.
    pub fn replace_reference(
        &self,
        model: &str,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<ReferenceAnswer, Error> {
        let name = model;
        let mut model = self.model(name)?;
        let format = ReferenceFormat::from_content_type(content_type).ok_or_else(|| {
            Error::UnsupportedMediaType(
                "a reference is sent as text/csv or application/x-ndjson (JSONL prediction events)"
                    .to_string(),
            )
        })?;
        loop {
            if model.config.reference == Some(crate::config::ReferenceConfig::Moving) {
                // Refused before parsing, so the upload interns nothing.
                return Err(Error::Conflict(
                    "this model compares against a moving reference, which cannot be replaced"
                        .to_string(),
                ));
            }
            let reference = reference::parse_limited(
                body,
                format,
                &model.schema,
                &model.interners,
                model.config.drift.max_reference_rows,
                self.inner.config.load().server.limits.max_string_bytes,
                ReferenceSource::Api,
            )
            .map_err(|e| Error::InvalidReference {
                message: e.to_string(),
            })?;
            let answer = ReferenceAnswer::of(&reference);
            match model.try_set_reference(reference)? {
                None => {
                    model.evaluate_drift();
                    return Ok(answer);
                }
                Some(to) => model = self.successor(name, to)?,
            }
        }
    }

    /// The status of one model.
    pub fn status(&self, model: &str) -> Result<ModelStatus, Error> {
        let model = self.model(model)?;
        Ok(ModelStatus::of(&model))
    }

    /// The configured models.
    pub fn list_models(&self) -> ModelList {
        ModelList::of(&self.models())
    }

    /// The Prometheus text exposition (format 0.0.4).
    pub fn render_metrics(&self) -> Result<String, Error> {
        let families = self.inner.telemetry.registry.gather();
        let mut out = Vec::with_capacity(64 * 1024);
        prometheus::TextEncoder::new()
            .encode(&families, &mut out)
            .map_err(|e| Error::Internal(format!("encoding metrics: {e}")))?;
        String::from_utf8(out).map_err(|e| Error::Internal(format!("metrics are not UTF-8: {e}")))
    }

    /// Every model's state, for a snapshot.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            taken_at_ns: self.inner.clock.now_ns(),
            models: self.models().iter().map(|m| m.export()).collect(),
        }
    }

    /// Loads a snapshot into the (fresh) models, counters included. Models no longer configured are
    /// skipped; the notes say what did not fit.
    pub fn restore(&self, snapshot: &Snapshot) -> Vec<String> {
        let models = self.models();
        let mut notes = Vec::new();
        for data in &snapshot.models {
            match models.get(&data.name) {
                Some(model) => notes.extend(
                    model
                        .import(data, true)
                        .into_iter()
                        .map(|n| format!("model {:?}: {n}", data.name)),
                ),
                None => notes.push(format!("model {:?} is no longer configured", data.name)),
            }
        }
        notes
    }

    /// Time-based housekeeping for every model.
    pub fn tick(&self) {
        for model in self.inner.models.load().iter() {
            model.tick();
        }
        self.release_replaced();
    }
}
