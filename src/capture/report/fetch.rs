//! One report binding's work for one ad account ([`ReportUnit`]) and the reading of one query:
//! every page of it fetched, its rows turned into records and emitted, and the rows of the
//! recent days counted for the next run's plan. The driver and the ads-cap machinery both read
//! queries here; an asynchronous task's rows are emitted here too. Rows the query did not ask
//! for (another account's, or of a day outside its window) are dropped here, for every path
//! ([`Unasked`]).

use std::sync::atomic::{AtomicU64, Ordering};

use chrono::NaiveDate;
use futures::StreamExt;

use super::asked::{day_of, row_account, Unasked};
use super::query::{params, Query, PAGE_SIZE, REPORT_PATH};
use crate::capture::advertisers::Advertiser;
use crate::capture::context::{Context, CountFor, Warning};
use crate::capture::listing::{BuyingScope, ListQuery};
use crate::capture::reconcile::tally::Tally;
use crate::capture::record;
use crate::client::Page;
use crate::error::{ErrorClass, Result};
use crate::registry::ReportSpec;

/// One report binding's work for one ad account.
pub(crate) struct ReportUnit<'a> {
    pub(crate) binding: usize,
    pub(crate) stream: &'a str,
    pub(crate) spec: &'a ReportSpec,
    pub(crate) advertiser: &'a Advertiser,
    /// Rows read and days queried (each window's days once, whatever its queries) in the
    /// recent days, for the next run's plan.
    pub(super) rows: AtomicU64,
    pub(super) days: AtomicU64,
    /// The days whose rows tell the next run's size: the complete ones of the last week read
    /// (see [`ReportUnit::is_recent`]).
    pub(super) recent: std::sync::OnceLock<(NaiveDate, NaiveDate)>,
    /// The last day the unit reads this run.
    pub(super) last_day: std::sync::OnceLock<NaiveDate>,
    /// What it emitted, summed for the reconciliation with the ledger (set when the unit's
    /// stream is compared).
    pub(crate) tally: std::sync::OnceLock<Tally>,
}

impl<'a> ReportUnit<'a> {
    pub(crate) fn new(
        binding: usize,
        stream: &'a str,
        spec: &'a ReportSpec,
        advertiser: &'a Advertiser,
    ) -> Self {
        ReportUnit {
            binding,
            stream,
            spec,
            advertiser,
            rows: AtomicU64::new(0),
            days: AtomicU64::new(0),
            recent: std::sync::OnceLock::new(),
            last_day: std::sync::OnceLock::new(),
            tally: std::sync::OnceLock::new(),
        }
    }

    /// Whether a window's rows are counted: it reaches into the recent days and does not lie
    /// wholly after the last complete one. A daily window (up to 30 days) counts whole, so
    /// daily reports have a count too; an hourly one is a day, so only complete days count.
    pub(super) fn is_recent(&self, (from, to): (NaiveDate, NaiveDate)) -> bool {
        self.recent
            .get()
            .is_some_and(|(first, last)| from <= *last && to >= *first)
    }

    /// Whose queries these are, for a refusal of their metrics ([`super::refused`]).
    pub(super) fn whose(&self) -> super::refused::Whose<'a> {
        super::refused::Whose {
            binding: self.binding,
            stream: self.stream,
            spec: self.spec,
            advertiser_id: self.advertiser.id,
        }
    }

    /// Rows per queried recent day (one decimal), `None` before any such window.
    pub(super) fn rows_per_day(&self) -> Option<f64> {
        let days = self.days.load(Ordering::Relaxed);
        let rows = self.rows.load(Ordering::Relaxed);
        (days > 0).then(|| (rows as f64 / days as f64 * 10.0).round() / 10.0)
    }
}

/// Rows turned into records at a time, from a whole answer (a task's file, read whole first so
/// nothing is emitted from a file that turns out unreadable; or the joined rows of a query in
/// parts): only this many are ever held as JSON or records beside it.
pub(crate) const ROWS_PER_BATCH: usize = 1_000;

/// Whether a query's rows were all sent, or TikTok said they are incomplete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fetched {
    Whole,
    /// The answer carried `X-Tt-Ads-Throttle`; nothing of it was sent.
    Capped,
}

/// Fetches every page of one query and emits its rows. An answer over the ads cap is not
/// emitted (`Capped`) unless `accept_capped`. A query TikTok finds too large (40067) whose window
/// cannot be halved is read as several queries of part of the metrics ([`super::wide`]). A
/// query refused for metrics TikTok does not serve (40002) before any of its rows was emitted
/// is asked again without them ([`super::refused`]).
pub(super) async fn fetch(
    ctx: &Context,
    unit: &ReportUnit<'_>,
    query: Query<'_>,
    accept_capped: bool,
) -> Result<Fetched> {
    loop {
        let asked = super::refused::asked_spec(ctx, unit.binding, unit.spec);
        match fetch_asked(ctx, unit, &asked, query, accept_capped).await {
            Err(err) if super::refused::is_refusal(&err) => {
                // The refused request is one of the binding's.
                ctx.count_request(unit.binding);
                let filters = query.filtering(unit.spec, ctx.config.include_deleted);
                let at = (query.window, filters.as_slice());
                super::refused::resolve(ctx, unit.whose(), at, err, &asked.metrics).await?;
            }
            other => return other,
        }
    }
}

/// [`fetch`] of the report as the binding asks it now (`spec`: without the metrics TikTok
/// refused).
async fn fetch_asked(
    ctx: &Context,
    unit: &ReportUnit<'_>,
    spec: &ReportSpec,
    query: Query<'_>,
    accept_capped: bool,
) -> Result<Fetched> {
    // Once a query of the binding took parts, its other windows start in parts.
    let refused = if ctx.counters[unit.binding]
        .metric_parts
        .load(Ordering::Relaxed)
        > 1
    {
        0
    } else {
        let narrowest = super::wide::narrowest(spec, query.window);
        match fetch_whole(ctx, unit, spec, query, accept_capped).await {
            Err(err) if narrowest && err.class() == ErrorClass::QueryTooLarge => {
                tracing::info!(
                    advertiser_id = unit.advertiser.id,
                    metrics = spec.metrics.len(),
                    "TikTok found the query too large (40067) for one day; asking its metrics in \
                     parts."
                );
                1
            }
            other => return other,
        }
    };
    let wide = super::wide::WideQuery {
        binding: unit.binding,
        spec,
        advertiser_id: unit.advertiser.id,
        query,
    };
    match super::wide::fetch_split(ctx, wide, accept_capped, refused).await? {
        Some(rows) => {
            emit_answer(ctx, unit, (query.window, query.scope), &rows).await?;
            Ok(Fetched::Whole)
        }
        None => Ok(Fetched::Capped),
    }
}

/// [`fetch`] in one query. A refusal (40002) after rows of the query were emitted is no
/// refusal of its metrics (TikTok accepted them for the first page): it fails the query as any
/// other error, so asking again cannot emit a row twice.
async fn fetch_whole(
    ctx: &Context,
    unit: &ReportUnit<'_>,
    spec: &ReportSpec,
    query: Query<'_>,
    accept_capped: bool,
) -> Result<Fetched> {
    let (binding, advertiser_id) = (unit.binding, unit.advertiser.id);
    let filters = query.filtering(spec, ctx.config.include_deleted);
    let params = params(spec, advertiser_id, query.window, &filters);
    let query_pages = ListQuery {
        endpoint: REPORT_PATH,
        params,
        list_key: "list",
        page_size: PAGE_SIZE,
    };
    let pages = ctx.pages(CountFor::Binding(binding), query_pages);
    futures::pin_mut!(pages);
    let mut unasked = Unasked::new(advertiser_id, query.window);
    let fetched = async {
        let mut emitted = false;
        while let Some(page) = pages.next().await {
            let page: Page = page.map_err(|err| super::refused::after_rows(err, emitted))?;
            if page.ads_throttled && !accept_capped {
                return Ok(Fetched::Capped);
            }
            emit_rows(ctx, unit, &page.records, (&mut unasked, query.scope)).await?;
            emitted = true;
        }
        Ok(Fetched::Whole)
    }
    .await;
    unasked.warn(unit.stream);
    fetched
}

/// Emits the rows of one whole answer to a query over `window` of a buying scope (rows the
/// query did not ask are dropped, and said once, even when emitting fails part way),
/// [`ROWS_PER_BATCH`] at a time, so only a batch of records is held beside the rows.
pub(super) async fn emit_answer(
    ctx: &Context,
    unit: &ReportUnit<'_>,
    (window, scope): (Option<(NaiveDate, NaiveDate)>, BuyingScope),
    rows: &[Box<serde_json::value::RawValue>],
) -> Result<()> {
    let mut unasked = Unasked::new(unit.advertiser.id, window);
    let mut emitted = Ok(());
    for batch in rows.chunks(ROWS_PER_BATCH) {
        emitted = emit_rows(ctx, unit, batch, (&mut unasked, scope)).await;
        if emitted.is_err() {
            break;
        }
    }
    unasked.warn(unit.stream);
    emitted
}

/// Turns TikTok's report rows of one query (a page's, or an asynchronous task's) into records
/// and emits them; rows of the recent days are counted for the next run's plan, and every row
/// is summed in the unit's tally (per buying scope) for the reconciliation. Rows outside what the query asked (`unasked`: its account and window) are
/// dropped and counted there.
pub(super) async fn emit_rows(
    ctx: &Context,
    unit: &ReportUnit<'_>,
    rows: &[Box<serde_json::value::RawValue>],
    (unasked, scope): (&mut Unasked, BuyingScope),
) -> Result<()> {
    let (binding, spec, advertiser_id) = (unit.binding, unit.spec, unit.advertiser.id);
    let dropped_before = unasked.dropped();
    let tally = unit.tally.get();
    // The figures the reconciliation sums, taken as each record is built.
    let mut figures = tally.map(Tally::reader);
    let mut docs = Vec::with_capacity(rows.len());
    let mut notes = record::Notes::new();
    for raw in rows {
        if !unasked.keeps_account(row_account(raw.get())) {
            continue;
        }
        let sink: &mut dyn record::MetricSink = match &mut figures {
            Some(reader) => reader,
            None => &mut (),
        };
        match record::report_row_with(raw, spec, advertiser_id, &mut notes, sink) {
            Ok(row) if !unasked.keeps_day(row.time.as_deref().and_then(day_of)) => {}
            Ok(row) => {
                if let Some(dimension) = &row.empty_key {
                    if ctx.first_warning(Warning::EmptyKey, Some(binding), 0) {
                        tracing::warn!(
                            stream = ctx.stream_name(binding),
                            dimension = dimension.as_str(),
                            advertiser_id,
                            "TikTok left a key dimension of some report rows empty; they are \
                                 kept, with an empty string as that dimension's value."
                        );
                    }
                }
                if let (Some(reader), Some(day)) =
                    (&mut figures, row.time.as_deref().and_then(day_of))
                {
                    reader.keep(day);
                }
                docs.push(row.doc)
            }
            Err(err) => {
                ctx.log_notes(binding, &mut notes);
                ctx.row_error(binding, advertiser_id, err)?;
            }
        }
    }
    ctx.log_notes(binding, &mut notes);
    if let (Some(tally), Some(reader)) = (tally, figures) {
        tally.add_read(reader, scope == BuyingScope::TopView);
    }
    if unasked.window().is_some_and(|w| unit.is_recent(w)) {
        let kept = rows.len() as u64 - (unasked.dropped() - dropped_before);
        unit.rows.fetch_add(kept, Ordering::Relaxed);
    }
    ctx.records(binding, docs).await
}
