//! The capture engine, shared by Flow `open` and Airbyte `read`. Given the enabled bindings and
//! their states, it finds the advertisers, then runs one unit of work per binding and advertiser
//! concurrently (within the client's shared rate budget) and sends [`Event`]s — records and
//! per-advertiser state patches — to the single emitter. A unit's checkpoint follows all of its
//! records on the channel, so a state is never committed ahead of the rows it covers: a capture
//! killed at any moment resumes from its last checkpoint without losing a row.
//!
//! This module keeps the run loop, the per-binding summaries, the progress log and the quota
//! warnings; what the units share is `context`, the units themselves are `unit` (one kind
//! per stream module: `entity`, [`pixels`], [`report`], the advertisers stream), and the
//! request plan is [`plan`].

pub(crate) mod activity;
pub mod advertisers;
pub(crate) mod binding;
pub(crate) mod buying;
pub(crate) mod context;
pub(crate) mod entity;
pub(crate) mod ledger_rows;
pub(crate) mod listing;
pub(crate) mod pixels;
pub(crate) mod plan;
pub(crate) mod reconcile;
pub mod record;
pub mod report;
pub(crate) mod shared;
pub(crate) mod sizing;
pub mod state;
pub(crate) mod unit;

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::mpsc;

use crate::client::TikTokClient;
use crate::config::Config;
use crate::error::{Error, ErrorClass, Result};
use advertisers::{Advertiser, Advertisers};
use context::{unit_concurrency, Context, Warning};
use state::StatePatch;
use unit::Unit;

pub(crate) use binding::Binding;
pub use context::CaptureOptions;
pub(crate) use context::Event;

/// What a run did, per binding.
#[derive(Debug, Clone)]
pub(crate) struct BindingSummary {
    pub(crate) name: String,
    pub(crate) records: u64,
    pub(crate) requests: u64,
    pub(crate) seconds: f64,
    pub(crate) error: Option<String>,
}

/// What a run did: per binding, and the reconciliation's account-days (compared with the
/// ledger, and those whose levels differ from it).
#[derive(Debug, Clone, Default)]
pub(crate) struct RunSummary {
    pub(crate) bindings: Vec<BindingSummary>,
    pub(crate) reconciled_account_days: u64,
    pub(crate) differing_account_days: u64,
    /// The metrics TikTok refused and the run left out, per stream (`stream: a, b`).
    pub(crate) metrics_dropped: Vec<String>,
}

/// Runs a capture to its end. Returns per-binding summaries; fails only on errors that stop the
/// whole run (credentials, config). A binding whose units fail otherwise is reported in its
/// summary and with `Event::Finished { error }`, and the other bindings go on.
pub(crate) async fn run(
    config: Arc<Config>,
    mut bindings: Vec<Binding>,
    client: Arc<TikTokClient>,
    options: CaptureOptions,
    tx: mpsc::Sender<Event>,
) -> Result<RunSummary> {
    let started = Instant::now();
    let today = config.clock.now().date_naive();
    let mut future_cursors = Vec::new();
    for (index, binding) in bindings.iter_mut().enumerate() {
        let cut = binding.state.check(today).map_err(|why| {
            Error::config(format!(
                "The state of stream {:?} {why}. Such a cursor was not written by this \
                 connector; fix the state, or reset (backfill) the stream to start it afresh.",
                binding.stream.name
            ))
        })?;
        warn_future_cursors(&binding.stream.name, &cut);
        future_cursors.extend(cut.into_iter().map(|cut| (index, cut)));
    }
    for binding in 0..bindings.len() {
        send(&tx, Event::Started { binding }).await?;
    }
    let ctx = Arc::new(Context::new(
        client,
        config,
        options,
        tx.clone(),
        &bindings,
        started,
    ));
    // Aborted also if this run is dropped (a stop signal drops it): the task holds the output
    // channel, which must close for the writer to end.
    // The stored state loses the future cursors too, so the next run does not meet them again.
    for (index, cut) in &future_cursors {
        ctx.checkpoint(*index, cut.patch()).await?;
    }
    let mut progress = crate::shutdown::AbortOnDrop(spawn_progress_log(
        ctx.clone(),
        bindings.iter().map(|b| b.stream.name.clone()).collect(),
    ));
    let result = run_units(&ctx, &bindings).await;
    progress.0.abort();
    // Wait for the aborted task to drop its handle on the context (and the output channel).
    let _ = (&mut progress.0).await;
    let endings = result?;
    let bindings = summarize(&ctx, &bindings, endings, &tx).await?;
    let (reconciled_account_days, differing_account_days) = ctx.reconciled.finish();
    let metrics_dropped = (0..bindings.len())
        .filter_map(|index| {
            let dropped = ctx.counters[index].refused_metrics.dropped();
            (!dropped.is_empty())
                .then(|| format!("{}: {}", ctx.stream_name(index), dropped.join(", ")))
        })
        .collect();
    Ok(RunSummary {
        bindings,
        reconciled_account_days,
        differing_account_days,
        metrics_dropped,
    })
}

/// One warning per cursor of the state that lay in the future (which no run of this connector
/// writes: a clock that was wrong, or a state edited by hand): it is not used, and the
/// advertiser's rows are read as on a first run, from `start_date` (or the account's creation,
/// or TikTok's earliest day), so none is skipped.
fn warn_future_cursors(stream: &str, cut: &[state::FutureCursor]) {
    for cut in cut {
        let advertiser = cut.advertiser_id.as_deref().unwrap_or("default_cursor");
        tracing::warn!(
            stream,
            advertiser_id = %crate::scrub::excerpt(advertiser, 60),
            cursor = %crate::scrub::excerpt(&cut.cursor, 60),
            "The state's cursor for this ad account lies in the future, which no run could have \
             written: it is not used, and the account is read from start_date (or its creation \
             date, or {}) as on a first run.",
            report::EARLIEST_DAY
        );
    }
}

/// Ends every binding (`Event::Finished`) and logs and returns its summary.
async fn summarize(
    ctx: &Context,
    bindings: &[Binding],
    endings: Vec<Ending>,
    tx: &mpsc::Sender<Event>,
) -> Result<Vec<BindingSummary>> {
    let mut summaries = Vec::new();
    for ((index, binding), ending) in bindings.iter().enumerate().zip(endings) {
        let cut_short = ending == Ending::CutShort;
        let error = match ending {
            Ending::Failed(error) => Some(error),
            Ending::Complete | Ending::CutShort => None,
        };
        send(
            tx,
            Event::Finished {
                binding: index,
                error: error.clone(),
                cut_short,
            },
        )
        .await?;
        if cut_short {
            tracing::warn!(
                stream = binding.stream.name.as_str(),
                "This stream is incomplete: TikTok's daily quota of an endpoint it needs is used \
                 up, so it stopped at its last checkpoint. The next run after 00:00 UTC goes on \
                 from there; nothing is lost."
            );
        }
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
            seconds: finished.duration_since(ctx.started).as_secs_f64(),
            error,
        };
        // The metrics TikTok refused, which the stream's records lack (absent when none).
        let dropped = counters.refused_metrics.dropped();
        tracing::info!(
            stream = summary.name.as_str(),
            records = summary.records,
            requests = summary.requests,
            seconds = summary.seconds,
            complete = summary.error.is_none() && !cut_short,
            metrics_dropped = (!dropped.is_empty()).then(|| dropped.join(", ")),
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

/// Runs every unit; returns how each binding ended.
async fn run_units(ctx: &Arc<Context>, bindings: &[Binding]) -> Result<Vec<Ending>> {
    if bindings.is_empty() {
        return Ok(Vec::new());
    }
    let advertisers = match advertisers::resolve(&ctx.client, &ctx.config).await {
        Ok(advertisers) => advertisers,
        Err(err) if err.class() == ErrorClass::QuotaExhausted => {
            warn_quota_exhausted(ctx, None, None, &err);
            return Ok(vec![Ending::CutShort; bindings.len()]);
        }
        Err(err) => return Err(err),
    };
    prune_states(ctx, bindings, &advertisers).await?;
    activity::plan(
        &ctx.activity,
        &ctx.config,
        bindings,
        &advertisers.list,
        ctx.config.clock.today_utc(),
    );
    reconcile::plan(ctx, bindings);
    let plan = plan::prepare(ctx, bindings, &advertisers.list).await?;
    for (counters, planned) in ctx.counters.iter().zip(&plan.per_binding) {
        counters.planned.store(*planned, Ordering::Relaxed);
    }
    ctx.planned_total.store(plan.total, Ordering::Relaxed);
    // Every (binding, advertiser) pair, in binding order; futures are made lazily, so a capture
    // of thousands of accounts holds only the units that run.
    let pairs = unit_pairs(bindings, &advertisers.list);
    let mut outcomes = Outcomes::new(bindings, &pairs);
    let ctx: &Context = ctx;
    let advertisers = &advertisers;
    let results = futures::stream::iter(pairs)
        .map(|(index, advertiser)| async move {
            let binding = &bindings[index];
            let result = match Unit::of(index, binding, advertiser) {
                Some(unit) => unit.run(ctx, binding, advertisers).await,
                None => Ok(()),
            };
            (index, advertiser.map(|a| a.id), result)
        })
        .buffer_unordered(unit_concurrency(&ctx.config));
    futures::pin_mut!(results);
    while let Some((index, advertiser_id, result)) = results.next().await {
        outcomes.record(ctx, index, advertiser_id, result)?;
    }
    activity::log_summary(ctx);
    Ok(outcomes.endings(bindings))
}

/// Every (binding, advertiser) pair of the run, in binding order: one pair per account, or one
/// without an account for the advertisers stream.
fn unit_pairs<'a>(
    bindings: &[Binding],
    advertisers: &'a [Advertiser],
) -> Vec<(usize, Option<&'a Advertiser>)> {
    let mut pairs = Vec::new();
    for (index, binding) in bindings.iter().enumerate() {
        if Unit::per_account(binding) {
            pairs.extend(advertisers.iter().map(|a| (index, Some(a))));
        } else {
            pairs.push((index, None));
        }
    }
    pairs
}

/// How a binding's work ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ending {
    /// Everything due was read.
    Complete,
    /// TikTok's daily quota of an endpoint it needs is spent: it stopped at its last checkpoint
    /// and goes on next run. Incomplete, but not a failure.
    CutShort,
    /// It failed, for this reason.
    Failed(String),
}

/// What the units of a run came to, per binding.
struct Outcomes {
    /// Units not yet ended, and units in all.
    remaining: Vec<usize>,
    planned: Vec<usize>,
    /// Advertisers refused for lack of permission, and the last such refusal.
    refused: Vec<(usize, Option<Error>)>,
    /// The first error.
    errors: Vec<Option<String>>,
    /// Bindings a spent daily quota cut short.
    cut_short: Vec<bool>,
    /// Paths whose spent daily quota has been warned about.
    quota_warned: HashSet<String>,
}

impl Outcomes {
    fn new(bindings: &[Binding], pairs: &[(usize, Option<&Advertiser>)]) -> Outcomes {
        let mut planned = vec![0; bindings.len()];
        for (index, _) in pairs {
            planned[*index] += 1;
        }
        Outcomes {
            remaining: planned.clone(),
            planned,
            refused: (0..bindings.len()).map(|_| (0, None)).collect(),
            errors: vec![None; bindings.len()],
            cut_short: vec![false; bindings.len()],
            quota_warned: HashSet::new(),
        }
    }

    /// Takes one unit's result: an error that stops the run is returned; a spent daily quota
    /// cuts the unit's binding short (its checkpoints stand; the client asks that endpoint
    /// nothing more this run, so every unit that needs it ends at once, and the others go on),
    /// said once per endpoint; a refused advertiser is skipped with a warning; any other error
    /// fails the binding while the others go on.
    fn record(
        &mut self,
        ctx: &Context,
        index: usize,
        advertiser_id: Option<u64>,
        result: Result<()>,
    ) -> Result<()> {
        self.remaining[index] -= 1;
        if self.remaining[index] == 0 {
            *ctx.counters[index]
                .finished_at
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        }
        let Err(err) = result else {
            return Ok(());
        };
        let stream = ctx.stream_name(index);
        if err.stops_the_run() {
            return Err(err);
        }
        if err.class() == ErrorClass::QuotaExhausted {
            self.cut_short[index] = true;
            let path = match &err {
                Error::Api(api) => api.path.clone(),
                _ => String::new(),
            };
            if self.quota_warned.insert(path) {
                warn_quota_exhausted(ctx, Some(stream), advertiser_id, &err);
            }
            return Ok(());
        }
        if err.class() == ErrorClass::Permission {
            self.refused[index].0 += 1;
            if ctx.first_warning(
                Warning::NoPermission,
                Some(index),
                advertiser_id.unwrap_or(0),
            ) {
                tracing::warn!(stream, advertiser_id, error = %err, "Skipping an advertiser this token cannot read.");
            }
            self.refused[index].1 = Some(err);
            return Ok(());
        }
        tracing::error!(stream, advertiser_id, error = %err, "A stream failed for one advertiser; the others go on.");
        if self.errors[index].is_none() {
            self.errors[index] = Some(match advertiser_id {
                Some(id) => format!("Stream {stream:?}, advertiser {id}: {err}"),
                None => format!("Stream {stream:?}: {err}"),
            });
        }
        Ok(())
    }

    /// How each binding ended: its first error, or cut short by a spent daily quota, or
    /// complete. A binding whose every advertiser was refused captured nothing: that is not a
    /// skip but a missing permission of the app, which the user must grant.
    fn endings(self, bindings: &[Binding]) -> Vec<Ending> {
        let mut errors = self.errors;
        for (index, (count, last)) in self.refused.into_iter().enumerate() {
            let Some(err) = last else { continue };
            if count == self.planned[index] && errors[index].is_none() {
                let message = every_advertiser_refused(&bindings[index].stream.name, count, &err);
                tracing::error!(stream = bindings[index].stream.name.as_str(), "{message}");
                errors[index] = Some(message);
            }
        }
        errors
            .into_iter()
            .zip(self.cut_short)
            .map(|(error, cut_short)| match (error, cut_short) {
                (Some(error), _) => Ending::Failed(error),
                (None, true) => Ending::CutShort,
                (None, false) => Ending::Complete,
            })
            .collect()
    }
}

/// Drops the cursors of advertisers this run does not capture (the token no longer reaches
/// them, or the config no longer names them), so a state holds only what the next run can use
/// and does not grow with every account ever seen. One merge patch per binding that has any.
async fn prune_states(
    ctx: &Context,
    bindings: &[Binding],
    advertisers: &Advertisers,
) -> Result<()> {
    if advertisers.list.is_empty() {
        return Ok(());
    }
    let current: HashSet<String> = advertisers.list.iter().map(|a| a.id.to_string()).collect();
    for (index, binding) in bindings.iter().enumerate() {
        let gone: Vec<&compact_str::CompactString> = binding
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
            let ids = ids.iter().map(|id| id.to_string()).collect();
            ctx.checkpoint(index, StatePatch::DropAdvertisers(ids))
                .await?;
        }
    }
    Ok(())
}

/// The most advertisers one pruning checkpoint removes.
const PRUNE_BATCH: usize = 10_000;

/// The warning of an endpoint whose daily quota is used up: the streams that need it end.
fn warn_quota_exhausted(
    ctx: &Context,
    stream: Option<&str>,
    advertiser_id: Option<u64>,
    err: &Error,
) {
    let path = match err {
        Error::Api(api) => api.path.as_str(),
        _ => "an endpoint",
    };
    let now = ctx.config.clock.now();
    let resets = quota_reset_after(now);
    let wait = resets - now;
    tracing::warn!(
        stream,
        advertiser_id,
        error = %err,
        resumes_after = %resets.format("%Y-%m-%d %H:%M UTC"),
        "TikTok's daily request quota is used up for {path}, so the streams that need it end \
         here at their last checkpoint, without losing anything (the others go on). They go on \
         where they stopped once TikTok resets the quota at 00:00 UTC, in about {} h {} min.",
        wait.num_hours(),
        wait.num_minutes() % 60
    );
}

/// When TikTok resets daily quotas after `now`: the next 00:00 UTC (Rate limits,
/// <https://business-api.tiktok.com/portal/docs?id=1740029171730433>).
pub(crate) fn quota_reset_after(
    now: chrono::DateTime<chrono::Utc>,
) -> chrono::DateTime<chrono::Utc> {
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
