//! What every unit of one run shares ([`Context`]): the client, the config and options, the
//! output channel, the per-binding counters and stream names, what the run learns once per ad
//! account (ad counts, TopView campaigns, the activity index, asynchronous task pacing), and
//! the once-per-run warnings and record notes. It also owns the one loop from a page's rows to
//! records ([`Context::page_records`]) and the sending of records and checkpoints.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::mpsc;

use super::binding::Binding;
use super::listing::{ListQuery, ListingRules};
use super::reconcile::tally::RunCounts;
use super::record;
use super::shared::{
    ActivityIndex, AdInventory, PerAccount, RefusedMetrics, TaskState, TopViewCampaigns,
    TASK_DEADLINE,
};
use super::state::StatePatch;
use crate::client::{Page, TikTokClient};
use crate::config::Config;
use crate::error::{Error, Result};

/// Whose rows a page holds: a binding's, for one advertiser (named in row warnings).
#[derive(Debug, Clone, Copy)]
pub(crate) struct RowsOf {
    pub(crate) binding: usize,
    pub(crate) advertiser_id: u64,
}

/// What the engine tells the emitter.
#[derive(Debug)]
pub(crate) enum Event {
    /// Records (serialized JSON objects) of a binding, a page or part of one at a time: one
    /// hand-over to the writer per batch, not per record.
    Records { binding: usize, docs: Vec<String> },
    /// A change to one binding's state, covering every record sent before it.
    Checkpoint { binding: usize, patch: StatePatch },
    /// The binding's work begins.
    Started { binding: usize },
    /// The binding's work ended; `error` says why it failed, and `cut_short` that a spent
    /// daily quota ended it before everything due was read (incomplete, not a failure).
    Finished {
        binding: usize,
        error: Option<String>,
        cut_short: bool,
    },
}

/// What a run counts of one binding, for its progress lines and summary.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) records: AtomicU64,
    pub(crate) requests: AtomicU64,
    /// Set when TikTok refuses the binding's query for good (hourly audience, 40002).
    pub(crate) refused: AtomicBool,
    /// Requests the plan expects.
    pub(crate) planned: AtomicU64,
    /// How many queries of part of the metrics each the binding's report queries take: 0 until
    /// TikTok finds one too large even for one day (see `report::wide`), then shared by every
    /// ad account's windows.
    pub(crate) metric_parts: std::sync::atomic::AtomicUsize,
    /// The same for the binding's asynchronous report tasks (TikTok's limits of the two may
    /// differ): 0 until TikTok refuses a task as too large (see `report::tasks`).
    pub(crate) task_metric_parts: std::sync::atomic::AtomicUsize,
    /// The most rows per day a query of the binding read in parts answered (0 until one has):
    /// what bounds the days such a query asks at once (see `report::wide`).
    pub(crate) wide_rows_per_day: AtomicU64,
    /// The metrics TikTok refused in the binding's report queries, left out of its later ones.
    pub(crate) refused_metrics: RefusedMetrics,
    /// When the binding's last unit ended.
    pub(crate) finished_at: Mutex<Option<Instant>>,
}

/// What a caller of the library may set on the capture engine that production leaves at its
/// defaults.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaptureOptions {
    /// How long an asynchronous report task may take before its report falls back to the
    /// synchronous answer (see `report::tasks`).
    pub task_deadline: Duration,
}

impl Default for CaptureOptions {
    fn default() -> Self {
        CaptureOptions {
            task_deadline: TASK_DEADLINE,
        }
    }
}

/// Whose request count a listing's pages add to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum CountFor {
    Binding(usize),
    /// The activity index, which serves every report binding.
    ActivityIndex,
}

/// The warnings logged once per binding or run and advertiser.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Warning {
    /// The token cannot read the advertiser.
    NoPermission,
    /// Reports must start at TikTok Ads' first day for lack of a better bound.
    EarliestDay,
    /// A report cursor of the state lies before TikTok Ads began (it is clamped).
    CursorBeforeEarliestDay,
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

/// Shared by every unit of one run.
pub(crate) struct Context {
    pub(crate) client: Arc<TikTokClient>,
    pub(crate) config: Arc<Config>,
    pub(crate) options: CaptureOptions,
    pub(crate) tx: mpsc::Sender<Event>,
    pub(crate) counters: Vec<Counters>,
    /// The stream name of each binding, for messages.
    stream_names: Vec<String>,
    pub(crate) ad_inventory: PerAccount<Arc<AdInventory>>,
    /// Each ad account's TopView campaigns, listed once and shared.
    pub(crate) topview: PerAccount<Arc<TopViewCampaigns>>,
    /// The server refused `filtering.buying_types` (see [`buying`](super::buying)): entities are listed
    /// without it.
    pub(crate) buying_types_refused: std::sync::atomic::AtomicBool,
    /// Which days each ad account had activity, shared by the report bindings.
    pub(crate) activity: ActivityIndex,
    /// The account-days the reconciliation compared with the ledger, and those that differ.
    pub(crate) reconciled: RunCounts,
    /// Asynchronous report tasks: whether TikTok runs them for this app, and their pacing.
    pub(crate) tasks: TaskState,
    /// Every request the plan expects, 0 until it is made.
    pub(crate) planned_total: AtomicU64,
    pub(crate) started: Instant,
    /// Warnings already logged, by topic, binding (if the warning is about one) and advertiser.
    warned: Mutex<HashSet<(Warning, Option<usize>, u64)>>,
    /// The declared field types of each binding's records.
    field_types: Vec<record::FieldTypes>,
    /// Record notes already logged, by binding, kind and field.
    noted: Mutex<HashSet<(usize, &'static str, String)>>,
}

impl Context {
    /// The context of a run of `bindings`, started at `started`.
    pub(crate) fn new(
        client: Arc<TikTokClient>,
        config: Arc<Config>,
        options: CaptureOptions,
        tx: mpsc::Sender<Event>,
        bindings: &[Binding],
        started: Instant,
    ) -> Context {
        Context {
            client,
            config,
            options,
            tx,
            counters: bindings.iter().map(|_| Counters::default()).collect(),
            stream_names: bindings.iter().map(|b| b.stream.name.clone()).collect(),
            ad_inventory: Default::default(),
            topview: Default::default(),
            buying_types_refused: Default::default(),
            activity: Default::default(),
            reconciled: Default::default(),
            tasks: Default::default(),
            planned_total: AtomicU64::new(0),
            started,
            warned: Default::default(),
            field_types: bindings
                .iter()
                .map(|b| record::FieldTypes::from_schema(&b.stream.schema))
                .collect(),
            noted: Default::default(),
        }
    }

    /// Every page of one listing, in order, each counted as a request of `count_for` once
    /// received: the one paged-listing loop of the engine (the client follows the pages).
    pub(crate) fn pages(
        &self,
        count_for: CountFor,
        query: ListQuery,
    ) -> impl futures::Stream<Item = Result<Page>> + Send + '_ {
        let ListQuery {
            endpoint,
            params,
            list_key,
            page_size,
        } = query;
        self.client
            .pages(endpoint, params, list_key, page_size)
            .inspect(move |page| {
                if page.is_ok() {
                    match count_for {
                        CountFor::Binding(binding) => self.count_request(binding),
                        CountFor::ActivityIndex => {
                            self.activity.requests.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            })
    }

    /// How this run lists entities.
    pub(crate) fn listing_rules(&self) -> ListingRules {
        ListingRules {
            include_deleted: self.config.include_deleted,
            buying_types: !self.buying_types_refused.load(Ordering::Relaxed),
        }
    }

    /// Sends records to the writer, at most [`RECORD_BATCH`] per event.
    pub(crate) async fn records(&self, binding: usize, mut docs: Vec<String>) -> Result<()> {
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

    /// Sends a state patch of a binding, after every record sent before it.
    pub(crate) async fn checkpoint(&self, binding: usize, patch: StatePatch) -> Result<()> {
        self.tx
            .send(Event::Checkpoint { binding, patch })
            .await
            .map_err(|_| {
                Error::Fatal("the output closed while a checkpoint was being written".into())
            })
    }

    /// The declared field types of a binding's records.
    pub(crate) fn field_types(&self, binding: usize) -> &record::FieldTypes {
        &self.field_types[binding]
    }

    /// Logs the record notes of a binding, each kind and field once per run, and empties them.
    pub(crate) fn log_notes(&self, binding: usize, notes: &mut record::Notes) {
        if notes.is_empty() {
            return;
        }
        let mut noted = self.noted.lock().unwrap_or_else(|e| e.into_inner());
        for note in notes.drain(..) {
            let (kind, field) = note.topic();
            if noted.insert((binding, kind, field.to_string())) {
                note.warn(self.stream_name(binding));
            }
        }
    }

    /// The one loop from a page's rows to records. `make` turns a row into its record, or
    /// `None` to leave the row out (unchanged since the cursor); a row that cannot become a
    /// record is skipped with a warning or fails the unit ([`Context::row_error`]), and the
    /// notes of the page are logged once per run. The records come back in row order.
    pub(crate) fn page_records<R>(
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
    pub(crate) fn row_error(
        &self,
        binding: usize,
        advertiser_id: u64,
        err: record::RowError,
    ) -> Result<()> {
        match err {
            record::RowError::TooDeep => Err(record::RowError::too_deep(self.stream_name(binding))),
            record::RowError::Unreadable(why) => {
                tracing::warn!(
                    stream = self.stream_name(binding),
                    advertiser_id,
                    "Skipping a row TikTok sent: {why}."
                );
                Ok(())
            }
        }
    }

    pub(crate) fn count_request(&self, binding: usize) {
        self.counters[binding]
            .requests
            .fetch_add(1, Ordering::Relaxed);
    }

    /// Requests made for a binding so far.
    pub(crate) fn requests_of(&self, binding: usize) -> u64 {
        self.counters[binding].requests.load(Ordering::Relaxed)
    }

    pub(crate) fn stream_name(&self, binding: usize) -> &str {
        self.stream_names
            .get(binding)
            .map(String::as_str)
            .unwrap_or_default()
    }

    /// The binding of a stream, when the run captures it.
    pub(crate) fn binding_of(&self, stream: &str) -> Option<usize> {
        self.stream_names.iter().position(|name| name == stream)
    }

    pub(crate) fn refused(&self, binding: usize) -> &AtomicBool {
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
pub(crate) const RECORD_BATCH: usize = 256;

/// How many units run at once. The rate limiter sets the pace; this bounds memory and keeps
/// enough requests in flight to fill the budget when TikTok is slow.
pub(crate) fn unit_concurrency(config: &Config) -> usize {
    ((config.requests_per_second * 4.0).ceil() as usize).clamp(4, 64)
}
