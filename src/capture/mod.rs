//! The capture engine, shared by Flow `open` and Airbyte `read`. Given the enabled bindings and
//! their states, it finds the advertisers, then runs one unit of work per binding and advertiser
//! concurrently (within the client's shared rate budget) and sends [`Event`]s — records and
//! per-advertiser state patches — to the single emitter. A unit's checkpoint follows all of its
//! records on the channel, so a state is never committed ahead of the rows it covers: a capture
//! killed at any moment resumes from its last checkpoint without losing a row.

pub mod activity;
pub mod advertisers;
pub mod pixels;
pub mod plan;
pub mod record;
pub mod report;
pub mod state;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use crate::client::{Params, TikTokClient};
use crate::config::Config;
use crate::error::{Error, ErrorClass, Result};
use crate::registry::{EntityDef, Stream, StreamSpec};
use advertisers::Advertiser;
use state::BindingState;

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
    /// TikTok refused or garbled the activity index of an account (logged once per run).
    NoActivityIndex,
}

/// Shared by every unit of one run.
pub(crate) struct Context {
    pub client: Arc<TikTokClient>,
    pub config: Arc<Config>,
    pub tx: mpsc::Sender<Event>,
    pub today: NaiveDate,
    counters: Vec<Counters>,
    pub ad_splits: report::AdSplitCache,
    /// Which days each ad account had activity, shared by the report bindings.
    pub activity: activity::ActivityIndex,
    /// Every request the plan expects, 0 until it is made.
    planned_total: AtomicU64,
    started: Instant,
    /// Warnings already logged, by topic, binding (if the warning is about one) and advertiser.
    warned: Mutex<HashSet<(Warning, Option<usize>, u64)>>,
}

impl Context {
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

    pub fn count_request(&self, binding: usize) {
        self.counters[binding]
            .requests
            .fetch_add(1, Ordering::Relaxed);
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
    for binding in 0..bindings.len() {
        send(&tx, Event::Started { binding }).await?;
    }
    let ctx = Arc::new(Context {
        client: client.clone(),
        config: config.clone(),
        tx: tx.clone(),
        today: chrono::Utc::now().date_naive(),
        counters: bindings.iter().map(|_| Counters::default()).collect(),
        ad_splits: Default::default(),
        activity: Default::default(),
        planned_total: AtomicU64::new(0),
        started,
        warned: Default::default(),
    });
    let progress = spawn_progress_log(
        ctx.clone(),
        bindings.iter().map(|b| b.stream.name.clone()).collect(),
    );

    let result = run_units(&ctx, &bindings).await;
    progress.abort();
    // Wait for the aborted task to drop its handle on the context (and the output channel).
    let _ = progress.await;
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
    let advertisers = advertisers::resolve(&ctx.client, &ctx.config).await?;
    ctx.activity
        .plan(&ctx.config, bindings, &advertisers.list, ctx.today);
    let plan = plan::prepare(ctx, bindings, &advertisers.list).await?;
    for (counters, planned) in ctx.counters.iter().zip(&plan.per_binding) {
        counters.planned.store(*planned, Ordering::Relaxed);
    }
    ctx.planned_total.store(plan.total, Ordering::Relaxed);
    // Every (binding, advertiser) pair, in binding order; futures are made lazily, so a capture
    // of thousands of accounts holds only the units that run.
    let mut remaining: Vec<usize> = vec![0; bindings.len()];
    let mut plan: Vec<(usize, Option<&Advertiser>)> = Vec::new();
    for (index, binding) in bindings.iter().enumerate() {
        let before = plan.len();
        match binding.stream.spec {
            StreamSpec::Advertisers => plan.push((index, None)),
            _ => plan.extend(advertisers.list.iter().map(|a| (index, Some(a)))),
        }
        remaining[index] = plan.len() - before;
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
                (StreamSpec::Advertisers, _) => advertisers::emit(ctx, index, advertisers).await,
                (StreamSpec::Entity(def), Some(advertiser)) => {
                    entity_unit(ctx, index, def, advertiser, incremental, cursor).await
                }
                (StreamSpec::PixelInstantPageEvents, Some(advertiser)) => {
                    let last_read = binding.state.cursor(advertiser.id).filter(|_| incremental);
                    pixels::instant_page_events(ctx, index, advertiser, incremental, last_read)
                        .await
                }
                (StreamSpec::PixelEventStats, Some(advertiser)) => {
                    pixels::event_statistics(ctx, index, advertiser).await
                }
                (StreamSpec::Report(spec), Some(advertiser)) => {
                    let name = &binding.stream.name;
                    report::unit(ctx, index, name, spec, advertiser, incremental, cursor).await
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
        if err.class() == ErrorClass::Permission {
            if ctx.first_warning(
                Warning::NoPermission,
                Some(index),
                advertiser_id.unwrap_or(0),
            ) {
                tracing::warn!(stream, advertiser_id, error = %err, "Skipping an advertiser this token cannot read.");
            }
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
    Ok(errors)
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

/// The campaign buying types, each asked for separately (see `EntityDef::per_buying_type`).
const CAMPAIGN_BUYING_TYPES: &[&str] = &["AUCTION", "RESERVATION_TOP_VIEW", "RESERVATION_RF"];

/// An entity stream for one advertiser: read the full list, emit what changed since the cursor
/// (everything on the first pass), then move the cursor to the newest `modify_time` seen.
/// The whole list is asked for because TikTok documents no modified-since filter for
/// `campaign|adgroup|ad/get/` (only creation-time bounds), and it also shows deletions.
async fn entity_unit(
    ctx: &Context,
    binding: usize,
    def: &EntityDef,
    advertiser: &Advertiser,
    incremental: bool,
    cursor: Option<String>,
) -> Result<()> {
    let deleted = def.status_all.filter(|_| ctx.config.include_deleted);
    let filterings: Vec<Option<Value>> = if def.per_buying_type {
        CAMPAIGN_BUYING_TYPES
            .iter()
            .map(|bt| {
                let mut f = json!({"buying_types": [bt]});
                if let Some(all) = deleted {
                    f["secondary_status"] = json!(all);
                }
                Some(f)
            })
            .collect()
    } else if let Some(all) = deleted {
        vec![Some(json!({"secondary_status": all}))]
    } else {
        vec![None]
    };
    // Streams without a cursor are read whole every run.
    let incremental = incremental && def.cursor.is_some();
    let cursor = cursor.filter(|_| incremental);
    let mut newest = cursor.clone();
    for filtering in filterings {
        let mut params: Params = vec![("advertiser_id", advertiser.id.to_string())];
        if let Some(f) = filtering {
            params.push(("filtering", f.to_string()));
        }
        let pages = ctx
            .client
            .pages(def.endpoint, params, def.list_key, def.page_size);
        futures::pin_mut!(pages);
        while let Some(page) = pages.next().await {
            let page = page?;
            ctx.count_request(binding);
            let mut docs = Vec::with_capacity(page.records.len());
            for raw in &page.records {
                let entity = match record::entity(raw, def.id_field, def.id_from) {
                    Ok(entity) => entity,
                    Err(why) => {
                        tracing::warn!(
                            endpoint = def.endpoint,
                            advertiser_id = advertiser.id,
                            "Skipping an unreadable entity: {why}."
                        );
                        continue;
                    }
                };
                let changed = match (&cursor, &entity.modify_time) {
                    (Some(c), Some(t)) => t.as_str() >= c.as_str(),
                    _ => true,
                };
                if let Some(t) = &entity.modify_time {
                    if newest.as_deref().is_none_or(|n| t.as_str() > n) {
                        newest = Some(t.clone());
                    }
                }
                if changed || !incremental {
                    docs.push(entity.doc);
                }
            }
            ctx.records(binding, docs).await?;
        }
    }
    let patch = match newest {
        Some(newest) if incremental && Some(&newest) != cursor.as_ref() => {
            BindingState::cursor_patch(advertiser.id, &newest)
        }
        _ => json!({}),
    };
    ctx.checkpoint(binding, patch).await
}
