//! The one report fetcher (`report/integrated/get/`), driven by a [`ReportSpec`]: it builds the
//! query (report type, data level, dimensions, metrics, level-correct `filtering`), cuts the
//! date range into windows (30 days for daily, one day for hourly; for reports without a time
//! dimension one lifetime query, or the 365 days ending on `end_date` or today where TikTok has
//! no lifetime metrics), keeps the cursor at the last complete day of the ad account's time zone, halves a
//! window TikTok finds too large (40067), and checkpoints after every window. It owns two things
//! TikTok does per report: reservation delivery (TopView rows come only with the `buying_type`
//! filter, so advertisers with TopView ads get a second query per window) and the cap of 20,000
//! most recently created ads per report, met by id filters of at most 100 ids, planned from the
//! ad count and narrowed further whenever an answer carries `X-Tt-Ads-Throttle`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use chrono::{Days, NaiveDate};
use futures::StreamExt;
use serde_json::{json, Value};

use super::advertisers::Advertiser;
use super::state::BindingState;
use super::{activity, record, Context, RowsOf, Warning};
use crate::client::{Page, Params};
use crate::error::{ErrorClass, Result};
use crate::registry::metrics::{Granularity, Level, ReportType};
use crate::registry::{self, EntityDef, Kind, ReportSpec, StreamDef, TOTALS_DAYS};

pub const REPORT_PATH: &str = "report/integrated/get/";
pub const PAGE_SIZE: u32 = 1000;
/// How many windows of one report and advertiser are fetched at once.
pub const CONCURRENT_WINDOWS: usize = 2;
/// The most days one daily query may span.
pub const MAX_DAILY_WINDOW: u64 = 30;
/// TikTok's synchronous reports process at most this many ads per query: the most recently
/// created ones (Run a synchronous report, portal doc 1740302848100353; Reporting FAQ,
/// 1738864850353154), in the default query mode this connector uses. TikTok's SDK text of 2023
/// said 10,000 in that mode (20,000 with `query_mode` CHUNK); its current text has no number.
/// Planning splits from it is an estimate: the `X-Tt-Ads-Throttle` header is the signal.
pub const MAX_ADS_PER_QUERY: usize = 20_000;
/// At most this many ids in one id filter.
pub const MAX_IDS_PER_FILTER: usize = 100;
/// When TikTok Ads began: the lower bound when nothing else is known.
pub const EARLIEST_DAY: NaiveDate = match NaiveDate::from_ymd_opt(2016, 9, 1) {
    Some(d) => d,
    None => panic!("valid date"),
};

/// What the config says of every report's dates: `start_date`, `end_date` and
/// `lookback_days`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateBounds {
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    pub lookback_days: u32,
}

impl DateBounds {
    pub fn of(config: &crate::config::Config) -> Self {
        DateBounds {
            start_date: config.start_date,
            end_date: config.end_date,
            lookback_days: config.lookback_days,
        }
    }
}

/// The date range one advertiser's report must cover this run, or `None` when it is empty.
pub fn date_range(
    bounds: &DateBounds,
    created: Option<NaiveDate>,
    cursor: Option<&str>,
    today: NaiveDate,
) -> Option<(NaiveDate, NaiveDate)> {
    let DateBounds {
        start_date,
        end_date,
        lookback_days,
    } = *bounds;
    let resume = cursor
        .and_then(|c| NaiveDate::parse_from_str(c.get(..10)?, "%Y-%m-%d").ok())
        .map(|c| {
            c.checked_sub_days(Days::new(lookback_days.into()))
                .unwrap_or(c)
        });
    let start = [start_date, created, resume]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(EARLIEST_DAY);
    let end = end_date.unwrap_or_else(|| today.checked_add_days(Days::new(1)).unwrap_or(today));
    (start <= end).then_some((start, end))
}

/// The range of totals that cannot be lifetime totals: the [`TOTALS_DAYS`] days ending on
/// `last` (the config's `end_date` when it is in the past, else today).
pub fn totals_window(last: NaiveDate) -> (NaiveDate, NaiveDate) {
    let start = last
        .checked_sub_days(Days::new(TOTALS_DAYS - 1))
        .unwrap_or(last);
    (start, last)
}

/// Cuts an inclusive range into query windows.
pub fn windows(
    start: NaiveDate,
    end: NaiveDate,
    granularity: Granularity,
) -> Vec<(NaiveDate, NaiveDate)> {
    let step = match granularity {
        Granularity::Hour => 1,
        Granularity::Day => MAX_DAILY_WINDOW,
        Granularity::Lifetime => return Vec::new(),
    };
    let mut out = Vec::new();
    let mut from = start;
    while from <= end {
        let to = from
            .checked_add_days(Days::new(step - 1))
            .unwrap_or(end)
            .min(end);
        out.push((from, to));
        match to.succ_opt() {
            Some(next) => from = next,
            None => break,
        }
    }
    out
}

/// The `filtering` of a query: deleted entities at the level when wanted, the user's filters,
/// and an id filter when the query is split.
pub fn filtering(spec: &ReportSpec, include_deleted: bool, split: Option<&Value>) -> Vec<Value> {
    let mut out = Vec::new();
    if include_deleted {
        if let Some(field) = spec.level.status_filter_field() {
            let already = spec
                .filtering
                .iter()
                .any(|f| f["field_name"] == json!(field));
            if !already {
                out.push(json!({
                    "field_name": field,
                    "filter_type": "IN",
                    "filter_value": json!(["STATUS_ALL"]).to_string(),
                }));
            }
        }
    }
    out.extend(spec.filtering.iter().cloned());
    out.extend(split.cloned());
    out
}

/// The `filtering` of one query of a buying scope: [`filtering`], and the scope's own filter
/// (TopView's buying type).
pub fn scoped_filtering(
    spec: &ReportSpec,
    include_deleted: bool,
    scope: BuyingScope,
    split: Option<&Value>,
) -> Vec<Value> {
    let mut filters = filtering(spec, include_deleted, split);
    filters.extend(scope.report_filter());
    filters
}

/// The query parameters of one report request (without page and page_size).
///
/// One ad account per query. TikTok's multi-account form (`advertiser_ids`, up to five accounts
/// per BASIC or AUDIENCE query) would save requests, but its documentation (Run a synchronous
/// report, portal id 1740302848100353) says currency metrics then come without a decimal point
/// and times in UTC or each account's zone by choice, and the 20,000-ad cap counts the whole
/// batch: the rows would not be those of per-account queries, so the report streams do not use
/// it (the activity index does, for whether days had anything at all:
/// [`super::activity::ACCOUNTS_PER_QUERY`]).
pub fn params(
    spec: &ReportSpec,
    advertiser_id: u64,
    window: Option<(NaiveDate, NaiveDate)>,
    filters: &[Value],
) -> Params {
    let mut params: Params = vec![
        ("advertiser_id", advertiser_id.to_string()),
        ("service_type", "AUCTION".into()),
        ("report_type", spec.report_type.as_api().into()),
        ("data_level", spec.level.data_level().into()),
        ("dimensions", json!(spec.dimensions).to_string()),
        ("metrics", json!(spec.metrics).to_string()),
    ];
    match window {
        Some((start, end)) => {
            params.push(("start_date", start.format("%Y-%m-%d").to_string()));
            params.push(("end_date", end.format("%Y-%m-%d").to_string()));
        }
        None => params.push(("query_lifetime", "true".into())),
    }
    if !filters.is_empty() {
        params.push(("filtering", json!(filters).to_string()));
    }
    params
}

/// One report binding's work for one ad account.
pub(crate) struct ReportUnit<'a> {
    pub binding: usize,
    pub stream: &'a str,
    pub spec: &'a ReportSpec,
    pub advertiser: &'a Advertiser,
    /// Rows read and days queried (each window's days once, whatever its queries) in the
    /// recent days, for the next run's plan.
    rows: AtomicU64,
    days: AtomicU64,
    /// The days whose rows tell the next run's size: the complete ones of the last week read
    /// (see [`ReportUnit::is_recent`]).
    recent: std::sync::OnceLock<(NaiveDate, NaiveDate)>,
    /// The last day the unit reads this run.
    last_day: std::sync::OnceLock<NaiveDate>,
}

impl<'a> ReportUnit<'a> {
    pub fn new(
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
        }
    }

    /// Whether a window's rows are counted: it reaches into the recent days and does not lie
    /// wholly after the last complete one. A daily window (up to 30 days) counts whole, so
    /// daily reports have a count too; an hourly one is a day, so only complete days count.
    fn is_recent(&self, (from, to): (NaiveDate, NaiveDate)) -> bool {
        self.recent
            .get()
            .is_some_and(|(first, last)| from <= *last && to >= *first)
    }

    /// Rows per queried recent day (one decimal), `None` before any such window.
    fn rows_per_day(&self) -> Option<f64> {
        let days = self.days.load(Ordering::Relaxed);
        let rows = self.rows.load(Ordering::Relaxed);
        (days > 0).then(|| (rows as f64 / days as f64 * 10.0).round() / 10.0)
    }
}

/// One report for one advertiser.
pub(crate) async fn unit(
    ctx: &Context,
    unit: &ReportUnit<'_>,
    incremental: bool,
    cursor: Option<String>,
) -> Result<()> {
    let (binding, stream, spec) = (unit.binding, unit.stream, unit.spec);
    if ctx.refused(binding).load(Ordering::Relaxed) {
        return Ok(());
    }
    let result = run_unit(ctx, unit, incremental, cursor).await;
    match result {
        Err(err)
            if err.api_code() == Some(40002)
                && spec.report_type == ReportType::Audience
                && spec.granularity == Granularity::Hour =>
        {
            if !ctx.refused(binding).swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    stream,
                    error = %err,
                    "TikTok refuses audience reports by hour (code 40002) since late 2022, so \
                     this binding captures nothing. Disable it, or use the daily stream."
                );
            }
            Ok(())
        }
        other => other,
    }
}

async fn run_unit(
    ctx: &Context,
    unit: &ReportUnit<'_>,
    incremental: bool,
    cursor: Option<String>,
) -> Result<()> {
    let (binding, stream, spec, advertiser) =
        (unit.binding, unit.stream, unit.spec, unit.advertiser);
    let clock = ctx.config.clock;
    if spec.granularity == Granularity::Lifetime {
        if !activity::ever_active(ctx, stream, advertiser.id).await? {
            return ctx.checkpoint(binding, json!({})).await;
        }
        let queries = report_queries(ctx, binding, spec, advertiser.id).await?;
        // Lifetime metrics where TikTok has them; otherwise totals over the longest range it
        // accepts without a time dimension, ending on `end_date` when the config sets one in
        // the past, else today in the ad account's time zone: never past what the config asks.
        let today = clock.today_at(advertiser.time_zone);
        let last = ctx.config.end_date.map_or(today, |end| end.min(today));
        let window = (!spec.uses_query_lifetime()).then(|| totals_window(last));
        fetch_queries(ctx, unit, &queries, window).await?;
        return ctx.checkpoint(binding, json!({})).await;
    }
    let cursor = cursor.filter(|_| incremental);
    // The cursor stops at the last day that is over where the account lives: the day in
    // progress is read again next run, whatever lookback_days says.
    let last_complete_day = clock.last_complete_day(advertiser.time_zone);
    let Some(UnitDays { start, end, pieces }) = unit_days(ctx, unit, cursor.as_deref()).await?
    else {
        return ctx.checkpoint(binding, json!({})).await;
    };
    if start == EARLIEST_DAY && ctx.first_warning(Warning::EarliestDay, None, advertiser.id) {
        tracing::warn!(
            advertiser_id = advertiser.id,
            "Neither start_date nor the ad account's creation date is known, so reports are \
             read from {EARLIEST_DAY}, when TikTok Ads began. Set start_date to read less."
        );
    }
    let week_before = end.checked_sub_days(Days::new(7)).unwrap_or(end);
    let _ = unit.recent.set((week_before, last_complete_day));
    let _ = unit.last_day.set(end);
    // Days without activity need no query: the pieces between the windows only move the cursor.
    // The ad count and split plan are asked only where a window is queried at all.
    let queries = if pieces.iter().any(|(_, _, fetch)| *fetch) {
        report_queries(ctx, binding, spec, advertiser.id).await?
    } else {
        ReportQueries::default()
    };
    // Windows run a few at a time; checkpoints follow in window order, so the cursor only ever
    // covers windows whose every row was sent before it. Each window sends its own checkpoint
    // once the previous one has: this loop only drives the windows and never waits on the
    // output itself, since a window whose turn on the bounded output came while its driver
    // was waiting there too would hold that turn unused, and enough of them stall the run.
    let queries = &queries;
    let mut previous: Option<tokio::sync::oneshot::Receiver<()>> = None;
    let mut steps = Vec::with_capacity(pieces.len());
    let last = pieces.len().saturating_sub(1);
    for (i, (from, to, fetch)) in pieces.into_iter().enumerate() {
        let (done, next) = tokio::sync::oneshot::channel::<()>();
        let after = previous.replace(next);
        steps.push(async move {
            if fetch {
                fetch_window(ctx, unit, queries, (from, to)).await?;
            }
            // The previous window failed: its error ends the unit, and no cursor may pass it.
            if let Some(after) = after {
                if after.await.is_err() {
                    return Ok(());
                }
            }
            let to = to.min(last_complete_day);
            let patch = if incremental {
                let cursor = to.format("%Y-%m-%d").to_string();
                // The last piece comes after every query of the unit: it also records the rows
                // per day seen, which the next run's plan counts pages with.
                let rows_per_day = unit.rows_per_day().filter(|_| i == last);
                BindingState::cursor_patch_with_rows(advertiser.id, &cursor, rows_per_day)
            } else {
                json!({})
            };
            ctx.checkpoint(binding, patch).await?;
            let _ = done.send(());
            Ok(())
        });
    }
    let results = futures::stream::iter(steps).buffered(CONCURRENT_WINDOWS);
    futures::pin_mut!(results);
    while let Some(result) = results.next().await {
        result?;
    }
    Ok(())
}

/// What a daily or hourly report unit covers this run: its date range, cut into pieces that
/// are queried (`true`) or, on days the activity index finds idle, only move the cursor.
pub(crate) struct UnitDays {
    pub start: NaiveDate,
    pub end: NaiveDate,
    pub pieces: Vec<(NaiveDate, NaiveDate, bool)>,
}

/// The days a unit reads from `cursor` (already dropped when the binding is not incremental):
/// `None` when its range is empty. The unit and the run's plan both cut them here, so the plan
/// counts the windows the unit will query.
pub(crate) async fn unit_days(
    ctx: &Context,
    unit: &ReportUnit<'_>,
    cursor: Option<&str>,
) -> Result<Option<UnitDays>> {
    let bounds = DateBounds::of(&ctx.config);
    let today = ctx.config.clock.today_utc();
    let Some((start, end)) = date_range(&bounds, unit.advertiser.created, cursor, today) else {
        return Ok(None);
    };
    let activity = activity::for_binding(ctx, unit.stream, unit.advertiser.id).await?;
    let pieces = activity::cut_windows(activity.as_deref(), start, end, unit.spec.granularity);
    Ok(Some(UnitDays { start, end, pieces }))
}

/// Fetches one window (every buying scope and id filter), halving it while TikTok finds it too
/// large (40067). Returns the window's last day once all of it is sent.
async fn fetch_window(
    ctx: &Context,
    unit: &ReportUnit<'_>,
    queries: &ReportQueries,
    (from, to): (NaiveDate, NaiveDate),
) -> Result<NaiveDate> {
    let advertiser_id = unit.advertiser.id;
    if unit.is_recent((from, to)) {
        let days = (to - from).num_days().max(0) as u64 + 1;
        unit.days.fetch_add(days, Ordering::Relaxed);
    }
    let mut queue: VecDeque<(NaiveDate, NaiveDate)> = VecDeque::from([(from, to)]);
    while let Some((from, to)) = queue.pop_front() {
        let outcome = fetch_queries(ctx, unit, queries, Some((from, to))).await;
        match outcome {
            Ok(()) => {}
            Err(err) if err.class() == ErrorClass::QueryTooLarge && to > from => {
                let half = (to - from).num_days() as u64 / 2;
                let mid = from.checked_add_days(Days::new(half)).unwrap_or(from);
                tracing::info!(advertiser_id, %from, %to, "TikTok found the query too large (40067); halving the window.");
                queue.push_front((mid.succ_opt().unwrap_or(to), to));
                queue.push_front((from, mid));
            }
            Err(err) => return Err(err),
        }
    }
    Ok(to)
}

/// Which buying types one report query covers. TikTok's `service_type=AUCTION` reports cover
/// auction and reach & frequency ads; TopView delivery comes only with the report filter
/// `buying_type` = `RESERVATION_TOP_VIEW` (Run a synchronous report, portal doc
/// 1740302848100353). An ad has one buying type, so the two answers never share a key. The
/// advertiser level already holds every buying type and is asked once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuyingScope {
    AuctionAndReachFrequency,
    TopView,
}

impl BuyingScope {
    /// The report filter this scope adds.
    pub fn report_filter(self) -> Option<Value> {
        match self {
            BuyingScope::AuctionAndReachFrequency => None,
            BuyingScope::TopView => Some(json!({
                "field_name": "buying_type",
                "filter_type": "IN",
                "filter_value": json!(["RESERVATION_TOP_VIEW"]).to_string(),
            })),
        }
    }
}

/// The queries one report makes in every window: per buying scope, its id filters (`None` =
/// no filter). A filter TikTok answers with `X-Tt-Ads-Throttle` is replaced by narrower ones
/// for the windows that follow; one that nothing can narrow is read, from then on, the way the
/// first window's was ([`OverCap`]).
#[derive(Default)]
pub(crate) struct ReportQueries {
    scopes: Vec<(BuyingScope, Splits, OverCap)>,
}

/// A buying scope's id filters (`None` = no filter), narrowed as TikTok's answers require.
type Splits = std::sync::Mutex<Vec<Option<Value>>>;

/// How a report reads a query over the ads cap that no id filter can narrow, once it has met
/// one: `UNKNOWN` until then (the synchronous query goes first), then as an asynchronous task
/// (no cap), or, where tasks are unavailable, as the capped synchronous answer. An hourly
/// advertiser-level report asks its task for [`DAYS_PER_TASK`] days at once (asynchronous
/// reports have no time-range limit) and keeps the days ahead for their own windows.
#[derive(Default)]
struct OverCap {
    how: std::sync::atomic::AtomicU8,
    ahead: tokio::sync::Mutex<DaysAhead>,
}

/// Days an hourly task read ahead of its window: the range it covered and each day's rows.
#[derive(Default)]
struct DaysAhead {
    range: Option<(NaiveDate, NaiveDate)>,
    days: std::collections::BTreeMap<Option<NaiveDate>, super::tasks::CsvTable>,
}

/// How many days one hourly advertiser-level task covers: a month of the day-by-day windows in
/// one task (a few hundred rows a day at most at that level).
pub const DAYS_PER_TASK: u64 = 30;

impl OverCap {
    const UNKNOWN: u8 = 0;
    const BY_TASK: u8 = 1;
    const CAPPED: u8 = 2;

    fn get(&self) -> u8 {
        self.how.load(Ordering::Relaxed)
    }

    fn set(&self, how: u8) {
        self.how.store(how, Ordering::Relaxed);
    }
}

/// Plans the queries of one report for one advertiser: a TopView scope when the advertiser has
/// TopView ads (none otherwise), and id filters when a scope holds more ads than one report
/// processes.
async fn report_queries(
    ctx: &Context,
    binding: usize,
    spec: &ReportSpec,
    advertiser_id: u64,
) -> Result<ReportQueries> {
    let inventory = inventory(ctx, binding, advertiser_id).await?;
    let mut scopes = vec![BuyingScope::AuctionAndReachFrequency];
    if asks_topview(spec, &inventory) {
        scopes.push(BuyingScope::TopView);
    }
    let mut planned = Vec::with_capacity(scopes.len());
    for scope in scopes {
        let ads = inventory.ads(scope);
        let splits = if ads > MAX_ADS_PER_QUERY as u64 && can_split(spec) {
            tracing::info!(
                advertiser_id,
                ads,
                level = spec.level.data_level(),
                "More than {MAX_ADS_PER_QUERY} ads: splitting the report by id filters."
            );
            let listing = inventory
                .listing(ctx, binding, advertiser_id, scope)
                .await?;
            let plan = plan_splits(&listing, spec.level, MAX_ADS_PER_QUERY)
                .filter(|_| listing.is_complete(ads));
            match plan {
                Some(splits) => splits,
                None => {
                    split_by_campaign(
                        ctx,
                        RowsOf {
                            binding,
                            advertiser_id,
                        },
                        scope,
                        &listing,
                    )
                    .await?
                }
            }
        } else {
            vec![None]
        };
        planned.push((scope, std::sync::Mutex::new(splits), OverCap::default()));
    }
    Ok(ReportQueries { scopes: planned })
}

/// Whether the report asks TopView delivery apart for an account with this inventory: below the
/// advertiser level (which holds every buying type), where the account has TopView ads, unless
/// a custom report filters on buying type itself.
pub(crate) fn asks_topview(spec: &ReportSpec, inventory: &AdInventory) -> bool {
    spec.level != Level::Advertiser
        && inventory.topview_ads > 0
        && !filters_on(spec, &["buying_type"])
}

/// Whether a report's own filtering (a custom report's) already filters on one of `fields`.
pub(crate) fn filters_on(spec: &ReportSpec, fields: &[&str]) -> bool {
    spec.filtering.iter().any(|f| {
        f["field_name"]
            .as_str()
            .is_some_and(|n| fields.contains(&n))
    })
}

/// Whether id filters can narrow this report: not at the advertiser level (TikTok takes none
/// there), nor when a custom report already filters by ids of its own.
fn can_split(spec: &ReportSpec) -> bool {
    spec.level != Level::Advertiser && !filters_on(spec, &["campaign_ids", "adgroup_ids", "ad_ids"])
}

/// Runs every query of one window (or of the lifetime report), narrowing the id filters of
/// any answer TikTok marks with `X-Tt-Ads-Throttle`.
async fn fetch_queries(
    ctx: &Context,
    unit: &ReportUnit<'_>,
    queries: &ReportQueries,
    window: Option<(NaiveDate, NaiveDate)>,
) -> Result<()> {
    let (binding, spec, advertiser_id) = (unit.binding, unit.spec, unit.advertiser.id);
    for (scope, splits, over_cap) in &queries.scopes {
        let planned = splits.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let mut queue: VecDeque<Option<Value>> = planned.into();
        let mut done = Vec::new();
        let mut narrowed = false;
        while let Some(split) = queue.pop_front() {
            let query = Query {
                scope: *scope,
                window,
                split: split.as_ref(),
            };
            // A query already known to be over the cap with nothing to narrow it: read it as
            // the first window's was, without asking the capped answer again.
            let known = if split.is_none() {
                over_cap.get()
            } else {
                OverCap::UNKNOWN
            };
            if known != OverCap::UNKNOWN {
                read_over_cap(ctx, unit, query, over_cap).await?;
                done.push(split);
                continue;
            }
            if fetch(ctx, unit, query, false).await? == Fetched::Whole {
                done.push(split);
                continue;
            }
            narrowed = true;
            let inventory = inventory(ctx, binding, advertiser_id).await?;
            let listing = if inventory.listable {
                inventory
                    .listing(ctx, binding, advertiser_id, *scope)
                    .await?
            } else {
                Arc::new(AdListing::default())
            };
            let parts = match &split {
                _ if !inventory.listable => None,
                None if can_split(spec) => {
                    // The ad count did not foresee the cap (or TikTok's cap is lower): split
                    // in at least two.
                    let per_query = MAX_ADS_PER_QUERY.min(listing.ads.len().div_ceil(2)).max(1);
                    let plan = plan_splits(&listing, spec.level, per_query)
                        .filter(|_| listing.is_complete(inventory.ads(*scope)));
                    match plan {
                        Some(parts) if parts.len() > 1 => Some(parts),
                        _ => {
                            let parts = split_by_campaign(
                                ctx,
                                RowsOf {
                                    binding,
                                    advertiser_id,
                                },
                                *scope,
                                &listing,
                            )
                            .await?;
                            (parts.len() > 1 || parts.first().is_some_and(Option::is_some))
                                .then_some(parts)
                        }
                    }
                }
                None => None,
                Some(filter) => subdivide(filter, &listing, spec.level),
            };
            match parts {
                Some(parts) => {
                    for part in parts.into_iter().rev() {
                        queue.push_front(part);
                    }
                }
                None => {
                    read_over_cap(ctx, unit, query, over_cap).await?;
                    done.push(split);
                }
            }
        }
        if narrowed {
            *splits.lock().unwrap_or_else(|e| e.into_inner()) = done;
        }
    }
    Ok(())
}

/// Reads a query over the ads cap that no id filter can narrow: as an asynchronous report task,
/// which TikTok does not cap ([`super::tasks`]), or, where tasks are unavailable, as the capped
/// synchronous answer, with one warning saying what its figures leave out and why. Only a
/// query without an id filter of ours remembers how it went (`over_cap`), for its next windows.
async fn read_over_cap(
    ctx: &Context,
    unit: &ReportUnit<'_>,
    query: Query<'_>,
    over_cap: &OverCap,
) -> Result<()> {
    let remember = |how| {
        if query.split.is_none() {
            over_cap.set(how);
        }
    };
    let reason = if over_cap.get() == OverCap::CAPPED && query.split.is_none() {
        None
    } else {
        let filters = query.filtering(unit.spec, ctx.config.include_deleted);
        match read_by_task(ctx, unit, query, over_cap, &filters).await? {
            Ok(()) => {
                remember(OverCap::BY_TASK);
                return Ok(());
            }
            Err(why) => Some(why),
        }
    };
    remember(OverCap::CAPPED);
    if ctx.first_warning(Warning::AdsCapped, Some(unit.binding), unit.advertiser.id) {
        tracing::warn!(
            advertiser_id = unit.advertiser.id,
            level = unit.spec.level.data_level(),
            filter = %query.split.map(|f| f.to_string()).unwrap_or_default(),
            why_not_asynchronous = reason.as_deref().unwrap_or_default(),
            "TikTok processed only the {MAX_ADS_PER_QUERY} most recently created ads of this \
             report (X-Tt-Ads-Throttle), no id filter can narrow it further at this level, and \
             no asynchronous report task (which TikTok does not cap) could be run instead: its \
             figures leave out older ads. The lower-level report streams are complete."
        );
    }
    fetch(ctx, unit, query, true).await?;
    Ok(())
}

/// Reads a query through an asynchronous task and emits its rows, or says why it could not.
/// An hourly advertiser-level day is taken from what an earlier task read ahead, or asks a
/// task for the [`DAYS_PER_TASK`] days from it (up to the unit's last day) and keeps the others
/// for their windows, which run after this one.
async fn read_by_task(
    ctx: &Context,
    unit: &ReportUnit<'_>,
    query: Query<'_>,
    over_cap: &OverCap,
    filters: &[Value],
) -> Result<std::result::Result<(), String>> {
    let day = match query.window {
        Some((from, to))
            if from == to
                && query.split.is_none()
                && unit.spec.level == Level::Advertiser
                && unit.spec.granularity == Granularity::Hour =>
        {
            from
        }
        window => {
            return Ok(
                match super::tasks::read(ctx, unit, window, filters).await? {
                    Ok(table) => table.emit(ctx, unit, window).await.map(Ok)?,
                    Err(why) => Err(why),
                },
            );
        }
    };
    // Held across the task, so the next day's window waits for what this one reads ahead.
    let mut ahead = over_cap.ahead.lock().await;
    if ahead
        .range
        .is_some_and(|(from, to)| from <= day && day <= to)
    {
        if let Some(rows) = ahead.days.remove(&Some(day)) {
            rows.emit(ctx, unit, query.window).await?;
        }
        return Ok(Ok(()));
    }
    let last_day = unit.last_day.get().copied().unwrap_or(day);
    let until = day
        .checked_add_days(Days::new(DAYS_PER_TASK - 1))
        .unwrap_or(day)
        .min(last_day)
        .max(day);
    let table = match super::tasks::read(ctx, unit, Some((day, until)), filters).await? {
        Ok(table) => table,
        Err(why) => return Ok(Err(why)),
    };
    let time_dimension = unit.spec.granularity.time_dimension().unwrap_or_default();
    let mut days = table.by_day(time_dimension);
    for key in [Some(day), None] {
        if let Some(rows) = days.remove(&key) {
            rows.emit(ctx, unit, query.window).await?;
        }
    }
    // Rows of days outside what the task was asked are not TikTok's answer to it: dropped.
    days.retain(|d, _| d.is_some_and(|d| day < d && d <= until));
    *ahead = DaysAhead {
        range: Some((day, until)),
        days,
    };
    Ok(Ok(()))
}

/// One query of a report: its buying scope, window and id filter.
#[derive(Clone, Copy)]
struct Query<'a> {
    scope: BuyingScope,
    window: Option<(NaiveDate, NaiveDate)>,
    split: Option<&'a Value>,
}

impl Query<'_> {
    fn filtering(&self, spec: &ReportSpec, include_deleted: bool) -> Vec<Value> {
        scoped_filtering(spec, include_deleted, self.scope, self.split)
    }
}

/// Whether a query's rows were all sent, or TikTok said they are incomplete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fetched {
    Whole,
    /// The answer carried `X-Tt-Ads-Throttle`; nothing of it was sent.
    Capped,
}

/// Fetches every page of one query and emits its rows. An answer over the ads cap is not
/// emitted (`Capped`) unless `accept_capped`.
async fn fetch(
    ctx: &Context,
    unit: &ReportUnit<'_>,
    query: Query<'_>,
    accept_capped: bool,
) -> Result<Fetched> {
    let (binding, spec, advertiser_id) = (unit.binding, unit.spec, unit.advertiser.id);
    let filters = query.filtering(spec, ctx.config.include_deleted);
    let params = params(spec, advertiser_id, query.window, &filters);
    let pages = ctx.client.pages(REPORT_PATH, params, "list", PAGE_SIZE);
    futures::pin_mut!(pages);
    while let Some(page) = pages.next().await {
        let page: Page = page?;
        ctx.count_request(binding);
        if page.ads_throttled && !accept_capped {
            return Ok(Fetched::Capped);
        }
        emit_rows(ctx, unit, query.window, &page.records).await?;
    }
    Ok(Fetched::Whole)
}

/// Turns TikTok's report rows of `window` (a page's, or an asynchronous task's) into records
/// and emits them; rows of the recent days are counted for the next run's plan.
pub(crate) async fn emit_rows(
    ctx: &Context,
    unit: &ReportUnit<'_>,
    window: Option<(NaiveDate, NaiveDate)>,
    rows: &[Box<serde_json::value::RawValue>],
) -> Result<()> {
    let (binding, spec, advertiser_id) = (unit.binding, unit.spec, unit.advertiser.id);
    if window.is_some_and(|w| unit.is_recent(w)) {
        unit.rows.fetch_add(rows.len() as u64, Ordering::Relaxed);
    }
    let mut docs = Vec::with_capacity(rows.len());
    let mut notes = record::Notes::new();
    for raw in rows {
        match record::report_row(raw, spec, advertiser_id, &mut notes) {
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
                docs.push(row.doc)
            }
            Err(err) => {
                ctx.log_notes(binding, &mut notes);
                ctx.row_error(binding, advertiser_id, err)?;
            }
        }
    }
    ctx.log_notes(binding, &mut notes);
    ctx.records(binding, docs).await
}

/// An entity row's listing, checked when compiled.
const fn entity_def(row: &StreamDef) -> EntityDef {
    match row.kind {
        Kind::Entity(def) => def,
        _ => panic!("an entity row"),
    }
}

/// The ads row (ad counts and the ids reports are split by) and its listing.
const ADS: (&StreamDef, EntityDef) = (&registry::ADS, entity_def(&registry::ADS));
/// The campaigns row (the split of last resort) and its listing.
const CAMPAIGNS: (&StreamDef, EntityDef) = (&registry::CAMPAIGNS, entity_def(&registry::CAMPAIGNS));

/// One buying scope's listing of an entity row, filtered and paged as the row's own binding
/// lists it ([`super::entity_listings`]), asking TikTok only for `fields`: its parameters but
/// the advertiser, and its page size.
fn scoped_listing(
    def: &EntityDef,
    scope: BuyingScope,
    rules: super::ListingRules,
    fields: &[&str],
) -> (Params, u32) {
    let mut listings = super::entity_listings(def, rules);
    let (filtering, page_size) = listings.swap_remove((scope as usize).min(listings.len() - 1));
    let mut params: Params = vec![("fields", json!(fields).to_string())];
    params.extend(filtering.map(|f| ("filtering", f.to_string())));
    (params, page_size)
}

/// Per advertiser: how many ads each buying scope holds, and (when a report must be split)
/// their listing. Read once per run and shared by every report binding.
#[derive(Debug, Default)]
pub struct AdInventory {
    pub auction_and_reach_frequency_ads: u64,
    pub topview_ads: u64,
    /// Whether the token may list the ads (`ad/get/`); without it no split can be planned.
    pub listable: bool,
    listings: [tokio::sync::OnceCell<Arc<AdListing>>; 2],
}

/// The ads of one buying scope, by parent. Ads TikTok lists without a campaign or ad group
/// are kept with what is known of them; ads without a readable id are only counted.
#[derive(Debug, Default)]
pub struct AdListing {
    pub ads: Vec<ListedAd>,
    pub unusable: u64,
}

impl AdListing {
    /// Whether the listing names every ad TikTok counted: a split planned from a shorter one
    /// would leave the unlisted ads out.
    pub fn is_complete(&self, counted: u64) -> bool {
        self.unusable == 0 && self.ads.len() as u64 >= counted
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListedAd {
    pub campaign: Option<u64>,
    pub adgroup: Option<u64>,
    pub ad: u64,
}

impl AdInventory {
    pub(crate) fn ads(&self, scope: BuyingScope) -> u64 {
        match scope {
            BuyingScope::AuctionAndReachFrequency => self.auction_and_reach_frequency_ads,
            BuyingScope::TopView => self.topview_ads,
        }
    }

    async fn listing(
        &self,
        ctx: &Context,
        binding: usize,
        advertiser_id: u64,
        scope: BuyingScope,
    ) -> Result<Arc<AdListing>> {
        let cell = &self.listings[scope as usize];
        cell.get_or_try_init(|| list_ads(ctx, binding, advertiser_id, scope))
            .await
            .cloned()
    }
}

/// The account's ad counts if this run already has them (no request).
pub(crate) async fn peek_inventory(ctx: &Context, advertiser_id: u64) -> Option<Arc<AdInventory>> {
    ctx.ad_inventory.peek(advertiser_id).await
}

pub(crate) async fn inventory(
    ctx: &Context,
    binding: usize,
    advertiser_id: u64,
) -> Result<Arc<AdInventory>> {
    ctx.ad_inventory
        .get_or_try_make(advertiser_id, || async {
            let count = |scope: BuyingScope| async move {
                let params = ad_listing_params(ctx, advertiser_id, scope).0;
                let probe = ctx
                    .client
                    .page(
                        ADS.0.endpoint,
                        &params,
                        ADS.1.list_key,
                        crate::client::Paging::first(1),
                    )
                    .await?;
                ctx.count_request(binding);
                Ok::<u64, crate::error::Error>(
                    probe.total_number.unwrap_or(probe.records.len() as u64),
                )
            };
            let counted = async {
                // First, since it also tells whether the server takes buying types at all.
                let topview_possible =
                    super::buying::may_have_topview(ctx, binding, advertiser_id).await?;
                let auction_and_reach_frequency =
                    count(BuyingScope::AuctionAndReachFrequency).await?;
                // No TopView campaign, no TopView ad: nothing to count.
                let topview = if topview_possible {
                    count(BuyingScope::TopView).await?
                } else {
                    0
                };
                Ok::<_, crate::error::Error>((auction_and_reach_frequency, topview))
            };
            match counted.await {
                Ok((auction_and_reach_frequency_ads, topview_ads)) => Ok(Arc::new(AdInventory {
                    auction_and_reach_frequency_ads,
                    topview_ads,
                    listable: true,
                    listings: Default::default(),
                })),
                // An app with the reporting scope but not the ads one: report anyway, TopView
                // included (it may exist), and rely on TikTok's header alone for the cap.
                Err(err) if err.class() == ErrorClass::Permission => {
                    tracing::warn!(
                        advertiser_id,
                        error = %err,
                        "This token cannot list the ad account's ads (ad/get/), so its reports \
                         cannot be split ahead of TikTok's 20,000-ads cap and TopView delivery is \
                         asked for without knowing whether it exists."
                    );
                    Ok(Arc::new(AdInventory {
                        auction_and_reach_frequency_ads: 0,
                        topview_ads: 1,
                        listable: false,
                        listings: Default::default(),
                    }))
                }
                Err(err) => Err(err),
            }
        })
        .await
}

/// The ad listing of one scope (ids and parents only) and its page size.
fn ad_listing_params(ctx: &Context, advertiser_id: u64, scope: BuyingScope) -> (Params, u32) {
    let fields = ["ad_id", "adgroup_id", "campaign_id"];
    let (mut params, page_size) = scoped_listing(&ADS.1, scope, ctx.listing_rules(), &fields);
    params.insert(0, ("advertiser_id", advertiser_id.to_string()));
    (params, page_size)
}

async fn list_ads(
    ctx: &Context,
    binding: usize,
    advertiser_id: u64,
    scope: BuyingScope,
) -> Result<Arc<AdListing>> {
    let (params, page_size) = ad_listing_params(ctx, advertiser_id, scope);
    let mut listing = AdListing::default();
    let mut unusable = 0u64;
    let pages = ctx
        .client
        .pages(ADS.0.endpoint, params, ADS.1.list_key, page_size);
    futures::pin_mut!(pages);
    while let Some(page) = pages.next().await {
        ctx.count_request(binding);
        for raw in page?.records {
            let v: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
            let id = |k: &str| record::id_of(&v[k]);
            match id("ad_id") {
                Some(ad) => listing.ads.push(ListedAd {
                    campaign: id("campaign_id"),
                    adgroup: id("adgroup_id"),
                    ad,
                }),
                None => unusable += 1,
            }
        }
    }
    listing.unusable = unusable;
    if unusable > 0 {
        tracing::warn!(
            advertiser_id,
            unusable,
            "TikTok listed ads without a readable ad_id; report splits cannot name them."
        );
    }
    Ok(Arc::new(listing))
}

/// The fallback when the ad listing cannot plan a split (empty, or ads without parents where
/// the level needs them): every campaign of the scope, 100 per `campaign_ids` filter, which
/// covers every ad whatever it lacks. `[None]` (one unsplit query, with a warning) when TikTok
/// lists no campaign either.
async fn split_by_campaign(
    ctx: &Context,
    RowsOf {
        binding,
        advertiser_id,
    }: RowsOf,
    scope: BuyingScope,
    listing: &AdListing,
) -> Result<Vec<Option<Value>>> {
    let (mut params, page_size) =
        scoped_listing(&CAMPAIGNS.1, scope, ctx.listing_rules(), &["campaign_id"]);
    params.insert(0, ("advertiser_id", advertiser_id.to_string()));
    let mut campaigns = std::collections::BTreeSet::new();
    campaigns.extend(listing.ads.iter().filter_map(|a| a.campaign));
    let pages = ctx.client.pages(
        CAMPAIGNS.0.endpoint,
        params,
        CAMPAIGNS.1.list_key,
        page_size,
    );
    futures::pin_mut!(pages);
    while let Some(page) = pages.next().await {
        ctx.count_request(binding);
        for raw in page?.records {
            let v: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
            campaigns.extend(record::id_of(&v["campaign_id"]));
        }
    }
    if campaigns.is_empty() {
        tracing::warn!(
            advertiser_id,
            ads = listing.ads.len(),
            "TikTok counts more ads than one report processes but lists no usable ad or \
             campaign to split by; querying unsplit, and its answers will say whether they are \
             complete."
        );
        return Ok(vec![None]);
    }
    let ids: Vec<u64> = campaigns.into_iter().collect();
    Ok(ids
        .chunks(MAX_IDS_PER_FILTER)
        .map(|chunk| Some(id_filter("campaign_ids", chunk)))
        .collect())
}

/// Id filters that cover every listed ad of a report at `level`, each selecting at most
/// `per_query` ads and holding at most [`MAX_IDS_PER_FILTER`] ids: whole campaigns where they
/// fit, else whole ad groups, else (at ad level) ads 100 at a time. `None` when the listing
/// cannot plan it: no ads, the advertiser level (no id filter there), or ads without the parent
/// the level needs.
pub fn plan_splits(
    listing: &AdListing,
    level: Level,
    per_query: usize,
) -> Option<Vec<Option<Value>>> {
    if listing.ads.is_empty() || level == Level::Advertiser {
        return None;
    }
    let per_query = per_query.max(1);
    let mut by_campaign: BTreeMap<u64, BTreeMap<u64, Vec<u64>>> = BTreeMap::new();
    let mut orphans: Vec<u64> = Vec::new();
    for ad in &listing.ads {
        match (ad.campaign, ad.adgroup) {
            (Some(c), Some(g)) => by_campaign
                .entry(c)
                .or_default()
                .entry(g)
                .or_default()
                .push(ad.ad),
            _ => orphans.push(ad.ad),
        }
    }
    if !orphans.is_empty() && level != Level::Ad {
        return None;
    }
    let mut filters = Vec::new();
    let pack = |field: &str, items: Vec<(u64, usize)>, filters: &mut Vec<Value>| {
        let mut ids: Vec<u64> = Vec::new();
        let mut count = 0;
        for (id, n) in items {
            if !ids.is_empty() && (count + n > per_query || ids.len() == MAX_IDS_PER_FILTER) {
                filters.push(id_filter(field, &ids));
                ids.clear();
                count = 0;
            }
            ids.push(id);
            count += n;
        }
        if !ids.is_empty() {
            filters.push(id_filter(field, &ids));
        }
    };
    let mut small_campaigns = Vec::new();
    for (campaign, groups) in &by_campaign {
        let n: usize = groups.values().map(Vec::len).sum();
        if n <= per_query || level == Level::Campaign {
            small_campaigns.push((*campaign, n));
            continue;
        }
        let mut small_groups = Vec::new();
        for (group, group_ads) in groups {
            if group_ads.len() <= per_query || level == Level::AdGroup {
                small_groups.push((*group, group_ads.len()));
            } else {
                for chunk in group_ads.chunks(MAX_IDS_PER_FILTER.min(per_query)) {
                    filters.push(id_filter("ad_ids", chunk));
                }
            }
        }
        pack("adgroup_ids", small_groups, &mut filters);
    }
    pack("campaign_ids", small_campaigns, &mut filters);
    for chunk in orphans.chunks(MAX_IDS_PER_FILTER.min(per_query)) {
        filters.push(id_filter("ad_ids", chunk));
    }
    Some(filters.into_iter().map(Some).collect())
}

/// Narrower filters for one TikTok answered over the cap: its ids in two halves, or a single
/// campaign's ad groups (or ads), or a single ad group's ads, as far as the level allows.
/// `None` when nothing narrower exists.
pub fn subdivide(filter: &Value, listing: &AdListing, level: Level) -> Option<Vec<Option<Value>>> {
    let field = filter["field_name"].as_str()?;
    let ids: Vec<u64> = serde_json::from_str::<Vec<Value>>(filter["filter_value"].as_str()?)
        .ok()?
        .iter()
        .filter_map(record::id_of)
        .collect();
    if ids.len() > 1 {
        let (a, b) = ids.split_at(ids.len() / 2);
        return Some(vec![Some(id_filter(field, a)), Some(id_filter(field, b))]);
    }
    let id = *ids.first()?;
    let chunks = |field: &str, mut children: Vec<u64>| {
        children.sort_unstable();
        children.dedup();
        (children.len() > 1).then(|| {
            children
                .chunks(MAX_IDS_PER_FILTER)
                .map(|c| Some(id_filter(field, c)))
                .collect::<Vec<_>>()
        })
    };
    let ads_of = |keep: &dyn Fn(&ListedAd) -> bool| -> Vec<u64> {
        listing
            .ads
            .iter()
            .filter(|a| keep(a))
            .map(|a| a.ad)
            .collect()
    };
    match (field, level) {
        ("campaign_ids", Level::AdGroup | Level::Ad) => {
            let groups: Vec<u64> = listing
                .ads
                .iter()
                .filter(|a| a.campaign == Some(id))
                .filter_map(|a| a.adgroup)
                .collect();
            chunks("adgroup_ids", groups).or_else(|| {
                (level == Level::Ad)
                    .then(|| chunks("ad_ids", ads_of(&|a| a.campaign == Some(id))))
                    .flatten()
            })
        }
        ("adgroup_ids", Level::Ad) => chunks("ad_ids", ads_of(&|a| a.adgroup == Some(id))),
        _ => None,
    }
}

fn id_filter(field: &str, ids: &[u64]) -> Value {
    let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
    json!({"field_name": field, "filter_type": "IN", "filter_value": json!(ids).to_string()})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn daily_windows_are_30_days_and_end_on_the_end_date() {
        let w = windows(d("2024-01-01"), d("2024-03-15"), Granularity::Day);
        assert_eq!(
            w,
            [
                (d("2024-01-01"), d("2024-01-30")),
                (d("2024-01-31"), d("2024-02-29")),
                (d("2024-03-01"), d("2024-03-15"))
            ]
        );
        let single = windows(d("2024-09-01"), d("2024-09-30"), Granularity::Day);
        assert_eq!(single, [(d("2024-09-01"), d("2024-09-30"))]);
        let hourly = windows(d("2024-01-01"), d("2024-01-02"), Granularity::Hour);
        assert_eq!(
            hourly,
            [
                (d("2024-01-01"), d("2024-01-01")),
                (d("2024-01-02"), d("2024-01-02"))
            ]
        );
    }

    fn bounds(
        start_date: Option<NaiveDate>,
        end_date: Option<NaiveDate>,
        lookback_days: u32,
    ) -> DateBounds {
        DateBounds {
            start_date,
            end_date,
            lookback_days,
        }
    }

    #[test]
    fn the_range_starts_at_the_latest_known_lower_bound() {
        let today = d("2024-06-10");
        // No state: the later of start_date and the creation date; end is today plus one.
        assert_eq!(
            date_range(
                &bounds(Some(d("2024-01-01")), None, 3),
                Some(d("2024-02-01")),
                None,
                today
            ),
            Some((d("2024-02-01"), d("2024-06-11")))
        );
        // With a cursor: the cursor minus the lookback.
        assert_eq!(
            date_range(
                &bounds(Some(d("2024-01-01")), None, 3),
                None,
                Some("2024-06-05"),
                today
            ),
            Some((d("2024-06-02"), d("2024-06-11")))
        );
        // Never before start_date, whatever the lookback.
        assert_eq!(
            date_range(
                &bounds(Some(d("2024-06-04")), Some(d("2024-06-08")), 30),
                None,
                Some("2024-06-05"),
                today
            ),
            Some((d("2024-06-04"), d("2024-06-08")))
        );
        // A finished end_date and a cursor past it: nothing to do.
        assert_eq!(
            date_range(
                &bounds(None, Some(d("2024-01-31")), 3),
                None,
                Some("2024-03-01"),
                today
            ),
            None
        );
        assert_eq!(
            date_range(&bounds(None, None, 3), None, None, today)
                .unwrap()
                .0,
            EARLIEST_DAY
        );
    }

    #[test]
    fn deleted_filter_matches_the_level() {
        let def = crate::registry::find("ad_groups_reports_daily").unwrap();
        let crate::registry::Kind::Report(r) = def.kind else {
            panic!()
        };
        let spec = ReportSpec::from_def(&r);
        let f = filtering(&spec, true, None);
        assert_eq!(
            f,
            [
                json!({"field_name": "adgroup_status", "filter_type": "IN", "filter_value": "[\"STATUS_ALL\"]"})
            ]
        );
        assert!(filtering(&spec, false, None).is_empty());
        let adv = crate::registry::find("advertisers_reports_daily").unwrap();
        let crate::registry::Kind::Report(r) = adv.kind else {
            panic!()
        };
        assert!(filtering(&ReportSpec::from_def(&r), true, None).is_empty());
    }

    fn listing(ads: &[(Option<u64>, Option<u64>, u64)]) -> AdListing {
        AdListing {
            ads: ads
                .iter()
                .map(|&(campaign, adgroup, ad)| ListedAd {
                    campaign,
                    adgroup,
                    ad,
                })
                .collect(),
            unusable: 0,
        }
    }

    /// The ads each filter of `filters` selects, checking both of TikTok's limits.
    fn coverage(filters: &[Option<Value>], listing: &AdListing, per_query: usize) -> Vec<u64> {
        let mut covered = Vec::new();
        for f in filters {
            let f = f.as_ref().expect("a filter");
            let ids: Vec<String> =
                serde_json::from_str(f["filter_value"].as_str().unwrap()).unwrap();
            assert!(ids.len() <= MAX_IDS_PER_FILTER, "{} ids", ids.len());
            let ids: std::collections::HashSet<u64> =
                ids.iter().map(|i| i.parse().unwrap()).collect();
            let field = f["field_name"].as_str().unwrap();
            let selected: Vec<u64> = listing
                .ads
                .iter()
                .filter(|a| {
                    let key = match field {
                        "campaign_ids" => a.campaign,
                        "adgroup_ids" => a.adgroup,
                        _ => Some(a.ad),
                    };
                    key.is_some_and(|k| ids.contains(&k))
                })
                .map(|a| a.ad)
                .collect();
            assert!(
                selected.len() <= per_query,
                "{field} filter selects {} ads",
                selected.len()
            );
            covered.extend(selected);
        }
        covered.sort_unstable();
        covered
    }

    #[test]
    fn ad_splits_respect_both_limits_and_cover_every_ad() {
        let mut ads = Vec::new();
        // 300 small campaigns of 80 ads, and one campaign of 45,000 ads in ad groups of 10,000
        // except one group of 25,000; plus 150 ads TikTok lists without parents.
        let mut next = 1_000_000u64;
        for c in 0..300u64 {
            for _ in 0..80 {
                next += 1;
                ads.push((Some(c), Some(10_000 + c), next));
            }
        }
        for g in 0..2u64 {
            for _ in 0..10_000 {
                next += 1;
                ads.push((Some(999), Some(20_000 + g), next));
            }
        }
        for _ in 0..25_000 {
            next += 1;
            ads.push((Some(999), Some(30_000), next));
        }
        for _ in 0..150 {
            next += 1;
            ads.push((None, None, next));
        }
        let listing = listing(&ads);
        let filters = plan_splits(&listing, Level::Ad, MAX_ADS_PER_QUERY).unwrap();
        let covered = coverage(&filters, &listing, MAX_ADS_PER_QUERY);
        let mut all: Vec<u64> = ads.iter().map(|a| a.2).collect();
        all.sort_unstable();
        assert_eq!(covered, all, "every ad exactly once");
        // Ad groups and campaigns: whole entities (an ad group cannot be split at its level),
        // every parent covered once; ads without parents make the plan impossible there.
        assert!(plan_splits(&listing, Level::AdGroup, MAX_ADS_PER_QUERY).is_none());
        assert!(plan_splits(&listing, Level::Advertiser, MAX_ADS_PER_QUERY).is_none());
        let parented = super::AdListing {
            unusable: 0,
            ads: listing
                .ads
                .iter()
                .copied()
                .filter(|a| a.campaign.is_some())
                .collect(),
        };
        let groups = plan_splits(&parented, Level::AdGroup, MAX_ADS_PER_QUERY).unwrap();
        let fields: std::collections::BTreeSet<&str> = groups
            .iter()
            .map(|f| f.as_ref().unwrap()["field_name"].as_str().unwrap())
            .collect();
        assert_eq!(
            fields,
            ["adgroup_ids", "campaign_ids"].into_iter().collect(),
            "campaign 999 is split by ad group"
        );
        let campaigns = plan_splits(&parented, Level::Campaign, MAX_ADS_PER_QUERY).unwrap();
        // Three filters of 100 small campaigns, and the campaign over the cap alone (TikTok
        // will mark it; nothing narrower exists at campaign level).
        assert_eq!(campaigns.len(), 4);
        assert_eq!(
            campaigns[3],
            Some(id_filter("campaign_ids", &[999])),
            "{campaigns:?}"
        );
        assert!(plan_splits(&AdListing::default(), Level::Ad, 10).is_none());
    }

    #[test]
    fn a_filter_over_the_cap_is_narrowed_as_far_as_the_level_allows() {
        let ads: Vec<(Option<u64>, Option<u64>, u64)> = (0..30u64)
            .map(|i| (Some(1 + i / 15), Some(100 + i / 5), 1000 + i))
            .collect();
        let listing = listing(&ads);
        // Several ids: two halves.
        let two = subdivide(
            &id_filter("campaign_ids", &[1, 2]),
            &listing,
            Level::Campaign,
        );
        assert_eq!(
            two,
            Some(vec![
                Some(id_filter("campaign_ids", &[1])),
                Some(id_filter("campaign_ids", &[2]))
            ])
        );
        // One campaign: nothing narrower at campaign level; its ad groups below it.
        assert_eq!(
            subdivide(&id_filter("campaign_ids", &[1]), &listing, Level::Campaign),
            None
        );
        assert_eq!(
            subdivide(&id_filter("campaign_ids", &[1]), &listing, Level::AdGroup),
            Some(vec![Some(id_filter("adgroup_ids", &[100, 101, 102]))])
        );
        // One ad group: its ads, at ad level only.
        assert_eq!(
            subdivide(&id_filter("adgroup_ids", &[100]), &listing, Level::Ad),
            Some(vec![Some(id_filter(
                "ad_ids",
                &[1000, 1001, 1002, 1003, 1004]
            ))])
        );
        assert_eq!(
            subdivide(&id_filter("adgroup_ids", &[100]), &listing, Level::AdGroup),
            None
        );
        assert_eq!(
            subdivide(&id_filter("ad_ids", &[1000]), &listing, Level::Ad),
            None
        );
        // Narrowing a plan to fewer ads per query than the cap (TikTok's cap lower than ours).
        let small = plan_splits(&listing, Level::Ad, 8).unwrap();
        let covered = coverage(&small, &listing, 8);
        assert_eq!(covered.len(), 30);
    }

    #[test]
    fn custom_reports_with_their_own_id_or_buying_filters_are_not_split_or_doubled() {
        let spec = |level: Level, filtering: Vec<Value>| ReportSpec {
            report_type: ReportType::Basic,
            level,
            granularity: Granularity::Day,
            dimensions: vec![level.id_field().into(), "stat_time_day".into()],
            metrics: vec!["spend".into()],
            filtering,
        };
        assert!(can_split(&spec(Level::Ad, Vec::new())));
        assert!(can_split(&spec(Level::Campaign, Vec::new())));
        assert!(!can_split(&spec(Level::Advertiser, Vec::new())));
        let own = vec![id_filter("campaign_ids", &[1])];
        assert!(!can_split(&spec(Level::Ad, own)));
        let buying = vec![BuyingScope::TopView.report_filter().unwrap()];
        assert!(filters_on(&spec(Level::Ad, buying), &["buying_type"]));
        assert!(!filters_on(&spec(Level::Ad, Vec::new()), &["buying_type"]));
    }

    #[test]
    fn topview_adds_the_buying_type_report_filter() {
        assert_eq!(BuyingScope::AuctionAndReachFrequency.report_filter(), None);
        assert_eq!(
            BuyingScope::TopView.report_filter(),
            Some(json!({"field_name": "buying_type", "filter_type": "IN",
                        "filter_value": "[\"RESERVATION_TOP_VIEW\"]"}))
        );
        let listing = |scope| {
            let rules = super::super::ListingRules {
                include_deleted: true,
                buying_types: true,
            };
            let (params, page_size) = scoped_listing(&ADS.1, scope, rules, &["ad_id"]);
            let filtering: Value = serde_json::from_str(&params[1].1).unwrap();
            (filtering["buying_types"].clone(), page_size, filtering)
        };
        let (types, page_size, filtering) = listing(BuyingScope::TopView);
        assert_eq!((types, page_size), (json!(["RESERVATION_TOP_VIEW"]), 100));
        assert_eq!(filtering["secondary_status"], "AD_STATUS_ALL");
        let (types, page_size, _) = listing(BuyingScope::AuctionAndReachFrequency);
        assert_eq!(
            (types, page_size),
            (json!(["AUCTION", "RESERVATION_RF"]), 1000)
        );
    }
}
