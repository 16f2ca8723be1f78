//! The capture engine, shared by Flow `open` and Airbyte `read`. Given the enabled bindings and
//! their states, it finds the advertisers, then runs one unit of work per binding and advertiser
//! concurrently (within the client's shared rate budget) and sends [`Event`]s — records and
//! per-advertiser state patches — to the single emitter. A unit's checkpoint follows all of its
//! records on the channel, so a state is never committed ahead of the rows it covers: a capture
//! killed at any moment resumes from its last checkpoint without losing a row.

pub mod activity;
pub mod advertisers;
pub mod buying;
pub mod pixels;
pub mod plan;
pub mod record;
pub mod report;
pub mod sizing;
pub mod state;
pub mod tasks;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::client::{Params, TikTokClient};
use crate::config::Config;
use crate::error::{Error, ErrorClass, Result};
use crate::registry::{EntityDef, Key, Kind, Stream, StreamDef, StreamSpec};
use advertisers::Advertiser;
use record::RecordKey;
use state::BindingState;

/// Whose rows a page holds: a binding's, for one advertiser (named in row warnings).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowsOf {
    pub binding: usize,
    pub advertiser_id: u64,
}

/// Something a run learns once per ad account and shares between its units (ad counts, TopView
/// campaigns, the activity index): the first unit that needs it asks, the others wait for that
/// answer instead of asking again.
#[derive(Debug)]
pub(crate) struct PerAccount<T>(tokio::sync::Mutex<HashMap<u64, Arc<tokio::sync::OnceCell<T>>>>);

impl<T> Default for PerAccount<T> {
    fn default() -> Self {
        PerAccount(Default::default())
    }
}

impl<T: Clone> PerAccount<T> {
    /// The account's value, made by `make` if no unit has made it yet. An error is returned
    /// to the caller and nothing is kept, so the next one asks again.
    pub async fn get_or_try_make<F, Fut>(&self, advertiser_id: u64, make: F) -> Result<T>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        self.cell(advertiser_id)
            .await
            .get_or_try_init(make)
            .await
            .cloned()
    }

    /// Sets the account's value, unless a unit has already made (or is making) it.
    pub async fn set(&self, advertiser_id: u64, value: T) {
        let _ = self.cell(advertiser_id).await.set(value);
    }

    async fn cell(&self, advertiser_id: u64) -> Arc<tokio::sync::OnceCell<T>> {
        let mut cells = self.0.lock().await;
        cells.entry(advertiser_id).or_default().clone()
    }

    /// The account's value if this run already has it (no request).
    pub async fn peek(&self, advertiser_id: u64) -> Option<T> {
        let cell = self.0.lock().await.get(&advertiser_id).cloned();
        cell.and_then(|c| c.get().cloned())
    }
}

/// What the engine tells the emitter.
#[derive(Debug)]
pub enum Event {
    /// Records (serialized JSON objects) of a binding, a page or part of one at a time: one
    /// hand-over to the writer per batch, not per record.
    Records { binding: usize, docs: Vec<String> },
    /// A merge patch of one binding's state, covering every record sent before it.
    Checkpoint { binding: usize, patch: Value },
    /// The binding's work begins.
    Started { binding: usize },
    /// The binding's work ended; `error` says why it is incomplete.
    Finished {
        binding: usize,
        error: Option<String>,
    },
}

/// One enabled binding and where it left off.
#[derive(Debug, Clone)]
pub struct Binding {
    pub stream: Stream,
    /// Incremental: resume from the state. Full refresh: read everything, keep no cursor.
    pub incremental: bool,
    pub state: BindingState,
}

/// What a run did, per binding.
#[derive(Debug, Clone)]
pub struct BindingSummary {
    pub name: String,
    pub records: u64,
    pub requests: u64,
    pub seconds: f64,
    pub error: Option<String>,
}

#[derive(Debug, Default)]
struct Counters {
    records: AtomicU64,
    requests: AtomicU64,
    /// Set when TikTok refuses the binding's query for good (hourly audience, 40002).
    refused: AtomicBool,
    /// Requests the plan expects.
    planned: AtomicU64,
    finished_at: Mutex<Option<Instant>>,
}

/// The warnings logged once per binding or run and advertiser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Warning {
    /// The token cannot read the advertiser.
    NoPermission,
    /// Reports must start at TikTok Ads' first day for lack of a better bound.
    EarliestDay,
    /// A `modify_time` later than now: it does not move the cursor.
    FutureModifyTime,
    /// A `modify_time` that is not a `YYYY-MM-DD HH:MM:SS` time: it does not move the cursor.
    UnreadableModifyTime,
    /// Report rows came with an empty key dimension (kept as "").
    EmptyKey,
    /// A report over TikTok's ads cap that no id filter can narrow (partial figures).
    AdsCapped,
    /// TikTok refused or garbled the activity index of an account (logged once per run).
    NoActivityIndex,
    /// The server answers `campaign/get/` alike whatever `buying_types` says (logged once).
    BuyingTypesIgnored,
}

/// How far a server time may be ahead of this machine's UTC clock and still become a cursor.
/// TikTok's times carry no zone, and some answers are in the ad account's zone (up to 14 hours
/// ahead of UTC), so a day; a time past that (2099) is an error, not a clock difference.
pub const CLOCK_SKEW: Duration = Duration::from_secs(24 * 3600);

/// Shared by every unit of one run.
pub(crate) struct Context {
    pub client: Arc<TikTokClient>,
    pub config: Arc<Config>,
    pub tx: mpsc::Sender<Event>,
    counters: Vec<Counters>,
    /// The stream name of each binding, for messages.
    stream_names: Vec<String>,
    pub ad_inventory: PerAccount<Arc<report::AdInventory>>,
    /// Each ad account's TopView campaigns, listed once and shared.
    pub topview: PerAccount<Arc<buying::TopViewCampaigns>>,
    /// The server refused `filtering.buying_types` (see [`buying`]): entities are listed
    /// without it.
    pub buying_types_refused: std::sync::atomic::AtomicBool,
    /// Which days each ad account had activity, shared by the report bindings.
    pub activity: activity::ActivityIndex,
    /// Asynchronous report tasks: whether TikTok runs them for this app, and their pacing.
    pub tasks: tasks::TaskState,
    /// Every request the plan expects, 0 until it is made.
    planned_total: AtomicU64,
    started: Instant,
    /// Warnings already logged, by topic, binding (if the warning is about one) and advertiser.
    warned: Mutex<HashSet<(Warning, Option<usize>, u64)>>,
    /// The stream name of each binding (for warnings).
    names: Vec<String>,
    /// The declared field types of each binding's records.
    field_types: Vec<record::FieldTypes>,
    /// Record notes already logged, by binding, kind and field.
    noted: Mutex<HashSet<(usize, &'static str, String)>>,
}

impl Context {
    /// How this run lists entities.
    pub fn listing_rules(&self) -> ListingRules {
        ListingRules {
            include_deleted: self.config.include_deleted,
            buying_types: !self.buying_types_refused.load(Ordering::Relaxed),
        }
    }

    /// Sends records to the writer, at most [`RECORD_BATCH`] per event.
    pub async fn records(&self, binding: usize, mut docs: Vec<String>) -> Result<()> {
        while !docs.is_empty() {
            let rest = docs.split_off(docs.len().min(RECORD_BATCH));
            let batch = std::mem::replace(&mut docs, rest);
            self.counters[binding]
                .records
                .fetch_add(batch.len() as u64, Ordering::Relaxed);
            self.tx
                .send(Event::Records {
                    binding,
                    docs: batch,
                })
                .await
                .map_err(|_| {
                    Error::Fatal("the output closed while records were being written".into())
                })?;
        }
        Ok(())
    }

    pub async fn checkpoint(&self, binding: usize, patch: Value) -> Result<()> {
        self.tx
            .send(Event::Checkpoint { binding, patch })
            .await
            .map_err(|_| {
                Error::Fatal("the output closed while a checkpoint was being written".into())
            })
    }

    /// The declared field types of a binding's records.
    pub fn field_types(&self, binding: usize) -> &record::FieldTypes {
        &self.field_types[binding]
    }

    /// Logs the record notes of a binding, each kind and field once per run, and empties them.
    pub fn log_notes(&self, binding: usize, notes: &mut record::Notes) {
        if notes.is_empty() {
            return;
        }
        let mut noted = self.noted.lock().unwrap_or_else(|e| e.into_inner());
        for note in notes.drain(..) {
            let (kind, field) = note.topic();
            if noted.insert((binding, kind, field.to_string())) {
                note.warn(&self.names[binding]);
            }
        }
    }

    /// The one loop from a page's rows to records. `make` turns a row into its record, or
    /// `None` to leave the row out (unchanged since the cursor); a row that cannot become a
    /// record is skipped with a warning or fails the unit ([`Context::row_error`]), and the
    /// notes of the page are logged once per run. The records come back in row order.
    pub fn page_records<R>(
        &self,
        of: RowsOf,
        rows: impl IntoIterator<Item = R>,
        mut make: impl FnMut(
            R,
            &record::FieldTypes,
            &mut record::Notes,
        ) -> std::result::Result<Option<String>, record::RowError>,
    ) -> Result<Vec<String>> {
        let rows = rows.into_iter();
        let mut docs = Vec::with_capacity(rows.size_hint().0);
        let mut notes = record::Notes::new();
        let types = self.field_types(of.binding);
        for row in rows {
            match make(row, types, &mut notes) {
                Ok(Some(doc)) => docs.push(doc),
                Ok(None) => {}
                Err(err) => {
                    self.log_notes(of.binding, &mut notes);
                    self.row_error(of.binding, of.advertiser_id, err)?;
                }
            }
        }
        self.log_notes(of.binding, &mut notes);
        Ok(docs)
    }

    /// The error of a row that cannot become a record: a row nested too deep fails the unit
    /// (naming the stream); any other is logged and the row skipped.
    pub fn row_error(
        &self,
        binding: usize,
        advertiser_id: u64,
        err: record::RowError,
    ) -> Result<()> {
        match err {
            record::RowError::TooDeep => Err(record::RowError::too_deep(&self.names[binding])),
            record::RowError::Unreadable(why) => {
                tracing::warn!(
                    stream = self.names[binding].as_str(),
                    advertiser_id,
                    "Skipping a row TikTok sent: {why}."
                );
                Ok(())
            }
        }
    }

    pub fn count_request(&self, binding: usize) {
        self.counters[binding]
            .requests
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Requests made for a binding so far.
    pub fn requests_of(&self, binding: usize) -> u64 {
        self.counters[binding].requests.load(Ordering::Relaxed)
    }

    pub fn stream_name(&self, binding: usize) -> &str {
        self.stream_names
            .get(binding)
            .map(String::as_str)
            .unwrap_or_default()
    }

    pub fn refused(&self, binding: usize) -> &AtomicBool {
        &self.counters[binding].refused
    }

    /// Whether this warning is the first of its kind for this binding (or the whole run) and
    /// advertiser: the rest are not logged again.
    pub(crate) fn first_warning(
        &self,
        topic: Warning,
        binding: Option<usize>,
        advertiser: u64,
    ) -> bool {
        self.warned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert((topic, binding, advertiser))
    }
}

/// The most records in one event: bounds what waits in the channel (a few MB at most).
pub const RECORD_BATCH: usize = 256;

/// How many units run at once. The rate limiter sets the pace; this bounds memory and keeps
/// enough requests in flight to fill the budget when TikTok is slow.
pub(crate) fn unit_concurrency(config: &Config) -> usize {
    ((config.requests_per_second * 4.0).ceil() as usize).clamp(4, 64)
}

/// Runs a capture to its end. Returns per-binding summaries; fails only on errors that stop the
/// whole run (credentials, config). A binding whose units fail otherwise is reported in its
/// summary and with `Event::Finished { error }`, and the other bindings go on.
pub async fn run(
    config: Arc<Config>,
    bindings: Vec<Binding>,
    client: Arc<TikTokClient>,
    tx: mpsc::Sender<Event>,
) -> Result<Vec<BindingSummary>> {
    let started = Instant::now();
    let today = config.clock.now().date_naive();
    for binding in &bindings {
        binding.state.check(today).map_err(|why| {
            Error::config(format!(
                "The state of stream {:?} {why}. Such a cursor was not written by this \
                 connector; fix the state, or reset (backfill) the stream to start it afresh.",
                binding.stream.name
            ))
        })?;
    }
    for binding in 0..bindings.len() {
        send(&tx, Event::Started { binding }).await?;
    }
    let ctx = Arc::new(Context {
        client: client.clone(),
        config: config.clone(),
        tx: tx.clone(),
        counters: bindings.iter().map(|_| Counters::default()).collect(),
        stream_names: bindings.iter().map(|b| b.stream.name.clone()).collect(),
        ad_inventory: Default::default(),
        topview: Default::default(),
        buying_types_refused: Default::default(),
        activity: Default::default(),
        tasks: Default::default(),
        planned_total: AtomicU64::new(0),
        started,
        warned: Default::default(),
        names: bindings.iter().map(|b| b.stream.name.clone()).collect(),
        field_types: bindings
            .iter()
            .map(|b| record::FieldTypes::from_schema(&b.stream.schema))
            .collect(),
        noted: Default::default(),
    });
    // Aborted also if this run is dropped (a stop signal drops it): the task holds the output
    // channel, which must close for the writer to end.
    let mut progress = crate::shutdown::AbortOnDrop(spawn_progress_log(
        ctx.clone(),
        bindings.iter().map(|b| b.stream.name.clone()).collect(),
    ));

    let result = run_units(&ctx, &bindings).await;
    progress.0.abort();
    // Wait for the aborted task to drop its handle on the context (and the output channel).
    let _ = (&mut progress.0).await;
    let errors = match result {
        Ok(errors) => errors,
        Err(err) => return Err(err),
    };
    let mut summaries = Vec::new();
    for (index, binding) in bindings.iter().enumerate() {
        let error = errors[index].clone();
        send(
            &tx,
            Event::Finished {
                binding: index,
                error: error.clone(),
            },
        )
        .await?;
        let counters = &ctx.counters[index];
        let finished = counters
            .finished_at
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .unwrap_or_else(Instant::now);
        let summary = BindingSummary {
            name: binding.stream.name.clone(),
            records: counters.records.load(Ordering::Relaxed),
            requests: counters.requests.load(Ordering::Relaxed),
            seconds: finished.duration_since(started).as_secs_f64(),
            error,
        };
        tracing::info!(
            stream = summary.name.as_str(),
            records = summary.records,
            requests = summary.requests,
            seconds = summary.seconds,
            "Stream finished."
        );
        summaries.push(summary);
    }
    Ok(summaries)
}

async fn send(tx: &mpsc::Sender<Event>, event: Event) -> Result<()> {
    tx.send(event)
        .await
        .map_err(|_| Error::Fatal("the output closed before the capture ended".into()))
}

/// Runs every unit; returns the first error of each binding (if any).
async fn run_units(ctx: &Arc<Context>, bindings: &[Binding]) -> Result<Vec<Option<String>>> {
    let mut errors: Vec<Option<String>> = vec![None; bindings.len()];
    if bindings.is_empty() {
        return Ok(errors);
    }
    let advertisers = match advertisers::resolve(&ctx.client, &ctx.config).await {
        Ok(advertisers) => advertisers,
        Err(err) if err.class() == ErrorClass::QuotaExhausted => {
            warn_quota_exhausted(ctx, None, None, &err);
            return Ok(errors);
        }
        Err(err) => return Err(err),
    };
    prune_states(ctx, bindings, &advertisers).await?;
    ctx.activity.plan(
        &ctx.config,
        bindings,
        &advertisers.list,
        ctx.config.clock.today_utc(),
    );
    let plan = plan::prepare(ctx, bindings, &advertisers.list).await?;
    for (counters, planned) in ctx.counters.iter().zip(&plan.per_binding) {
        counters.planned.store(*planned, Ordering::Relaxed);
    }
    ctx.planned_total.store(plan.total, Ordering::Relaxed);
    // Every (binding, advertiser) pair, in binding order; futures are made lazily, so a capture
    // of thousands of accounts holds only the units that run.
    let mut remaining: Vec<usize> = vec![0; bindings.len()];
    let mut planned: Vec<usize> = vec![0; bindings.len()];
    // Per binding: advertisers refused for lack of permission, and the last such refusal.
    let mut refused: Vec<(usize, Option<Error>)> = (0..bindings.len()).map(|_| (0, None)).collect();
    let mut plan: Vec<(usize, Option<&Advertiser>)> = Vec::new();
    for (index, binding) in bindings.iter().enumerate() {
        let before = plan.len();
        match binding.stream.spec {
            StreamSpec::Row(StreamDef {
                kind: Kind::Advertisers,
                ..
            }) => plan.push((index, None)),
            _ => plan.extend(advertisers.list.iter().map(|a| (index, Some(a)))),
        }
        remaining[index] = plan.len() - before;
        planned[index] = remaining[index];
    }
    let ctx: &Context = ctx;
    let advertisers = &advertisers;
    let outcomes = futures::stream::iter(plan)
        .map(|(index, advertiser)| async move {
            let binding = &bindings[index];
            let incremental = binding.incremental;
            let cursor = advertiser
                .and_then(|a| binding.state.cursor(a.id))
                .filter(|_| incremental)
                .map(str::to_string);
            let result = match (&binding.stream.spec, advertiser) {
                (StreamSpec::Row(row), advertiser) => match (row.kind, advertiser) {
                    (Kind::Advertisers, _) => advertisers::emit(ctx, index, advertisers).await,
                    (Kind::Entity(def), Some(advertiser)) => {
                        let unit = EntityUnit {
                            binding: index,
                            row,
                            def,
                            advertiser,
                        };
                        entity_unit(ctx, &unit, incremental, cursor).await
                    }
                    (Kind::PixelInstantPageEvents, Some(advertiser)) => {
                        let last_read = binding.state.cursor(advertiser.id).filter(|_| incremental);
                        let unit = pixels::InstantPageUnit {
                            binding: index,
                            row,
                            advertiser,
                        };
                        pixels::instant_page_events(ctx, &unit, incremental, last_read).await
                    }
                    (Kind::PixelEventStats { pixels }, Some(advertiser)) => {
                        pixels::event_statistics(ctx, index, (row, pixels), advertiser).await
                    }
                    _ => Ok(()),
                },
                (StreamSpec::Report(spec), Some(advertiser)) => {
                    let unit =
                        report::ReportUnit::new(index, &binding.stream.name, spec, advertiser);
                    report::unit(ctx, &unit, incremental, cursor).await
                }
                _ => Ok(()),
            };
            (index, advertiser.map(|a| a.id), result)
        })
        .buffer_unordered(unit_concurrency(&ctx.config));
    futures::pin_mut!(outcomes);
    while let Some((index, advertiser_id, result)) = outcomes.next().await {
        remaining[index] -= 1;
        if remaining[index] == 0 {
            *ctx.counters[index]
                .finished_at
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        }
        let Err(err) = result else { continue };
        let stream = &bindings[index].stream.name;
        if err.stops_the_run() {
            return Err(err);
        }
        if err.class() == ErrorClass::QuotaExhausted {
            // Nothing succeeds before TikTok resets its daily quotas: stop starting work and
            // end at the checkpoints already written (units in flight are dropped; their rows
            // after the last checkpoint are read again next run).
            warn_quota_exhausted(ctx, Some(stream), advertiser_id, &err);
            break;
        }
        if err.class() == ErrorClass::Permission {
            refused[index].0 += 1;
            if ctx.first_warning(
                Warning::NoPermission,
                Some(index),
                advertiser_id.unwrap_or(0),
            ) {
                tracing::warn!(stream, advertiser_id, error = %err, "Skipping an advertiser this token cannot read.");
            }
            refused[index].1 = Some(err);
            continue;
        }
        tracing::error!(stream, advertiser_id, error = %err, "A stream failed for one advertiser; the others go on.");
        if errors[index].is_none() {
            errors[index] = Some(match advertiser_id {
                Some(id) => format!("Stream {stream:?}, advertiser {id}: {err}"),
                None => format!("Stream {stream:?}: {err}"),
            });
        }
    }
    // A binding whose every advertiser was refused captured nothing: that is not a skip but a
    // missing permission of the app, which the user must grant.
    for (index, (count, last)) in refused.into_iter().enumerate() {
        let Some(err) = last else { continue };
        if count == planned[index] && errors[index].is_none() {
            let message = every_advertiser_refused(&bindings[index].stream.name, count, &err);
            tracing::error!(stream = bindings[index].stream.name.as_str(), "{message}");
            errors[index] = Some(message);
        }
    }
    Ok(errors)
}

/// Drops the cursors of advertisers this run does not capture (the token no longer reaches
/// them, or the config no longer names them), so a state holds only what the next run can use
/// and does not grow with every account ever seen. One merge patch per binding that has any.
async fn prune_states(
    ctx: &Context,
    bindings: &[Binding],
    advertisers: &advertisers::Advertisers,
) -> Result<()> {
    if advertisers.list.is_empty() {
        return Ok(());
    }
    let current: HashSet<String> = advertisers.list.iter().map(|a| a.id.to_string()).collect();
    for (index, binding) in bindings.iter().enumerate() {
        let gone: Vec<&String> = binding
            .state
            .advertisers
            .keys()
            .filter(|id| !current.contains(id.as_str()))
            .collect();
        if gone.is_empty() {
            continue;
        }
        tracing::info!(
            stream = binding.stream.name.as_str(),
            advertisers = gone.len(),
            "Dropping the cursors of advertisers this run does not capture."
        );
        // In patches of bounded size: a million removals as one JSON patch would cost more
        // memory than the state itself.
        for ids in gone.chunks(PRUNE_BATCH) {
            let entries: serde_json::Map<String, Value> =
                ids.iter().map(|id| (id.to_string(), Value::Null)).collect();
            ctx.checkpoint(index, json!({ "advertisers": entries }))
                .await?;
        }
    }
    Ok(())
}

/// The most advertisers one pruning checkpoint removes.
const PRUNE_BATCH: usize = 10_000;

/// The warning of a run that ends because TikTok's daily quota is used up.
fn warn_quota_exhausted(
    ctx: &Context,
    stream: Option<&str>,
    advertiser_id: Option<u64>,
    err: &Error,
) {
    let now = ctx.config.clock.now();
    let resets = quota_reset_after(now);
    let wait = resets - now;
    tracing::warn!(
        stream,
        advertiser_id,
        error = %err,
        resumes_after = %resets.format("%Y-%m-%d %H:%M UTC"),
        "TikTok's daily request quota is used up, so this run ends here at its last checkpoint, \
         without losing anything. The capture goes on where it stopped once TikTok resets the \
         quota at 00:00 UTC, in about {} h {} min.",
        wait.num_hours(),
        wait.num_minutes() % 60
    );
}

/// When TikTok resets daily quotas after `now`: the next 00:00 UTC (Rate limits,
/// <https://business-api.tiktok.com/portal/docs?id=1740029171730433>).
pub fn quota_reset_after(now: chrono::DateTime<chrono::Utc>) -> chrono::DateTime<chrono::Utc> {
    let tomorrow = now.date_naive().succ_opt().unwrap_or(now.date_naive());
    tomorrow.and_time(chrono::NaiveTime::MIN).and_utc()
}

/// The failure of a binding whose every advertiser was refused (code 40001 and the like),
/// naming the permission scope the app lacks.
fn every_advertiser_refused(stream: &str, count: usize, err: &Error) -> String {
    let path = match err {
        Error::Api(api) => api.path.as_str(),
        _ => "",
    };
    let scope = match crate::client::codes::permission_scope(path) {
        Some(scope) => format!("the permission scope \"{scope}\" ({path})"),
        None => format!("the permission for {path}"),
    };
    format!(
        "Stream {stream:?}: TikTok refused all {count} advertiser(s) of this binding, so it \
         captured nothing. The app most likely lacks {scope}: add it to the app in TikTok for \
         Business (My Apps, Scope of permission), re-authorize the capture, or disable the \
         binding. TikTok said: {err}"
    )
}

fn spawn_progress_log(ctx: Arc<Context>, names: Vec<String>) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(Duration::from_secs(30));
        ticker.tick().await;
        loop {
            ticker.tick().await;
            for (index, name) in names.iter().enumerate() {
                let c = &ctx.counters[index];
                tracing::info!(
                    stream = name.as_str(),
                    records = c.records.load(Ordering::Relaxed),
                    requests = c.requests.load(Ordering::Relaxed),
                    planned_requests = c.planned.load(Ordering::Relaxed),
                    "Capture in progress."
                );
            }
            let planned = ctx.planned_total.load(Ordering::Relaxed);
            if planned == 0 {
                continue;
            }
            let done = ctx.client.stats.requests.load(Ordering::Relaxed);
            let (planned, left) = plan::progress(
                planned,
                done,
                ctx.started.elapsed(),
                ctx.config.requests_per_second,
            );
            tracing::info!(
                requests = done,
                planned_requests = planned,
                eta_seconds = left.as_secs(),
                "Capture progress: {done} of about {planned} requests, about {} left.",
                plan::human(left)
            );
        }
    })
}

/// The listings of an entity stream with `EntityDef::per_buying_type` (Get campaigns, portal
/// doc 1739315828649986; Get ad groups, 1739314558673922; Get ads, 1735735588640770):
/// `filtering.buying_types` defaults to auction and reach & frequency, and TopView must be asked
/// alone with `page_size` at most 100. Each entry: the buying types and the page size cap.
pub const BUYING_TYPE_LISTINGS: [(&[&str], u32); 2] = [
    (&["AUCTION", "RESERVATION_RF"], u32::MAX),
    (&["RESERVATION_TOP_VIEW"], TOP_VIEW_PAGE_SIZE),
];
/// The largest page of a TopView listing.
pub const TOP_VIEW_PAGE_SIZE: u32 = 100;

/// How a run lists entities: with deleted ones or not, and whether the server takes
/// `filtering.buying_types` (one that refuses it lists every buying type it has by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListingRules {
    pub include_deleted: bool,
    pub buying_types: bool,
}

/// The listings of one entity row for one advertiser: each one's `filtering` (if any) and page
/// size. Rows with [`EntityDef::per_buying_type`] have one per [`BUYING_TYPE_LISTINGS`] entry
/// (one, without buying types, from a server that refuses them); deleted entities are included
/// by their `secondary_status` filter when asked for.
pub(crate) fn entity_listings(def: &EntityDef, rules: ListingRules) -> Vec<(Option<Value>, u32)> {
    let deleted = def.status_all.filter(|_| rules.include_deleted);
    if def.per_buying_type && rules.buying_types {
        BUYING_TYPE_LISTINGS
            .iter()
            .map(|(types, max_page)| {
                let mut f = json!({"buying_types": types});
                if let Some(all) = deleted {
                    f["secondary_status"] = json!(all);
                }
                (Some(f), def.page_size.min(*max_page))
            })
            .collect()
    } else if let Some(all) = deleted {
        vec![(Some(json!({"secondary_status": all})), def.page_size)]
    } else {
        vec![(None, def.page_size)]
    }
}

/// One list row for one advertiser: what [`entity_unit`] reads.
struct EntityUnit<'a> {
    binding: usize,
    row: &'static StreamDef,
    def: EntityDef,
    advertiser: &'a Advertiser,
}

impl EntityUnit<'_> {
    /// The records' key field (list rows have one).
    fn id_field(&self) -> &'static str {
        match self.row.key {
            Key::Fields(&[id, ..]) => id,
            _ => "id",
        }
    }
}

/// An entity stream for one advertiser: read the full list, emit what changed since the cursor
/// (everything on the first pass), then move the cursor to the newest `modify_time` seen.
/// The whole list is asked for because TikTok documents no modified-since filter for
/// `campaign|adgroup|ad/get/` (only creation-time bounds), and it also shows deletions.
async fn entity_unit(
    ctx: &Context,
    unit: &EntityUnit<'_>,
    incremental: bool,
    cursor: Option<String>,
) -> Result<()> {
    let EntityUnit {
        binding,
        row,
        def,
        advertiser,
    } = *unit;
    let id_field = unit.id_field();
    let listing_began = ctx.config.clock.now().naive_utc();
    // Streams without a cursor are read whole every run.
    let incremental = incremental && row.cursor.is_some();
    let cursor = cursor.filter(|_| incremental);
    let mut newest = cursor.clone();
    let of = RowsOf {
        binding,
        advertiser_id: advertiser.id,
    };
    let mut rows_of_page = |records: &[Box<serde_json::value::RawValue>]| {
        ctx.page_records(of, records, |raw, types, notes| {
            let entity = record::entity(raw, RecordKey::new(id_field, def.id_from), types, notes)?;
            let modify_time = entity
                .modify_time
                .as_deref()
                .map(|t| (t, cursor_time(ctx, unit, t)));
            // A row whose time cannot be read is always emitted; a time in the future is
            // compared as usual (it is after the cursor) but does not move it.
            let changed = match (&cursor, modify_time) {
                (Some(c), Some((t, CursorTime::Trusted | CursorTime::Future))) => t >= c.as_str(),
                _ => true,
            };
            if let Some((t, CursorTime::Trusted)) = modify_time {
                if newest.as_deref().is_none_or(|n| t > n) {
                    newest = Some(t.to_string());
                }
            }
            Ok((changed || !incremental).then_some(entity.doc))
        })
    };
    for (listing, (filtering, page_size)) in entity_listings(&def, ctx.listing_rules())
        .into_iter()
        .enumerate()
    {
        if def.per_buying_type && row.endpoint == crate::registry::CAMPAIGNS.endpoint {
            // Listed once per account before the bindings start, and shared: its pages are
            // this listing's. A TopView listing that repeats the other one is not emitted.
            let shared = buying::topview_campaigns(ctx, binding, advertiser.id).await?;
            let pages = match listing {
                buying::TOP_VIEW_LISTING if shared.filter_ignored => continue,
                buying::TOP_VIEW_LISTING => shared.topview.as_ref(),
                _ => shared.auction.as_ref(),
            };
            if let Some(pages) = pages {
                for page in pages {
                    let docs = rows_of_page(&page.records)?;
                    ctx.records(binding, docs).await?;
                }
                continue;
            }
        } else if def.per_buying_type
            && listing == buying::TOP_VIEW_LISTING
            && !buying::may_have_topview(ctx, binding, advertiser.id).await?
        {
            continue;
        }
        let mut params: Params = vec![("advertiser_id", advertiser.id.to_string())];
        if let Some(f) = filtering {
            params.push(("filtering", f.to_string()));
        }
        let pages = ctx
            .client
            .pages(row.endpoint, params, def.list_key, page_size);
        futures::pin_mut!(pages);
        while let Some(page) = pages.next().await {
            let page = page?;
            ctx.count_request(binding);
            let docs = rows_of_page(&page.records)?;
            ctx.records(binding, docs).await?;
        }
    }
    let newest = newest.map(|newest| newest.min(cursor_ceiling(listing_began)));
    let patch = match newest {
        Some(newest) if incremental && cursor.as_ref().is_none_or(|c| newest > *c) => {
            BindingState::cursor_patch(advertiser.id, &newest)
        }
        _ => json!({}),
    };
    ctx.checkpoint(binding, patch).await
}

/// The latest entity cursor a listing that began at `began` (UTC) may leave. An entity changed
/// while its account is listed, after its page was read, carries a time before changes that
/// later pages (or the next buying type's listing) show; a cursor at the newest time seen would
/// pass it, and that change would never be emitted. TikTok's times carry no zone (UTC, or the
/// ad account's, up to 14 hours either side), so the cursor stays [`CLOCK_SKEW`] before the
/// listing began: the next run emits that last day's changes again (duplicates by key, never a
/// gap), at no extra request, since the lists are read whole.
fn cursor_ceiling(began: chrono::NaiveDateTime) -> String {
    (began - CLOCK_SKEW)
        .format(state::ENTITY_CURSOR_FORMAT)
        .to_string()
}

/// What a `modify_time` may do to the cursor.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CursorTime {
    /// A `YYYY-MM-DD HH:MM:SS` time no later than now (plus [`CLOCK_SKEW`]).
    Trusted,
    /// A time later than that.
    Future,
    /// Not a time at all.
    Unreadable,
}

/// Judges a `modify_time`. Anything but a trusted time is logged once per binding and
/// advertiser: the row is still emitted, but the cursor stays where it was, so one bad value
/// can neither freeze the stream nor make it skip rows.
fn cursor_time(ctx: &Context, unit: &EntityUnit<'_>, text: &str) -> CursorTime {
    let (binding, advertiser_id, endpoint) = (unit.binding, unit.advertiser.id, unit.row.endpoint);
    let Ok(time) = chrono::NaiveDateTime::parse_from_str(text, state::ENTITY_CURSOR_FORMAT) else {
        if ctx.first_warning(Warning::UnreadableModifyTime, Some(binding), advertiser_id) {
            tracing::warn!(
                endpoint,
                advertiser_id,
                modify_time = text,
                "TikTok sent a modify_time that is not a YYYY-MM-DD HH:MM:SS time; the row is \
                 kept but does not move the cursor."
            );
        }
        return CursorTime::Unreadable;
    };
    let latest = ctx.config.clock.now().naive_utc() + CLOCK_SKEW;
    if time > latest {
        if ctx.first_warning(Warning::FutureModifyTime, Some(binding), advertiser_id) {
            tracing::warn!(
                endpoint,
                advertiser_id,
                modify_time = text,
                "TikTok sent a modify_time later than now; the row is kept but does not move \
                 the cursor, which would otherwise skip every change until then."
            );
        }
        return CursorTime::Future;
    }
    CursorTime::Trusted
}
