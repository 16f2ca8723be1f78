//! The one report fetcher (`report/integrated/get/`), driven by a
//! [`ReportSpec`](crate::registry::ReportSpec): it builds the
//! query (report type, data level, dimensions, metrics, level-correct `filtering`), cuts the
//! date range into windows (30 days for daily, one day for hourly; for reports without a time
//! dimension one lifetime query, or the 365 days ending on `end_date` or today where TikTok has
//! no lifetime metrics), keeps the cursor at the last complete day of the ad account's time zone, halves a
//! window TikTok finds too large (40067), and checkpoints after every window. It owns two things
//! TikTok does per report: reservation delivery (TopView rows come only with the `buying_type`
//! filter, so advertisers with TopView ads get a second query per window) and the cap of 20,000
//! most recently created ads per report, met by id filters of at most 100 ids, planned from the
//! ad count and narrowed further whenever an answer carries `X-Tt-Ads-Throttle`.

mod ads_cap;
pub(crate) mod asked;
mod fetch;
pub(crate) mod filter;
pub(crate) mod query;
mod refused;
pub(crate) mod splits;
pub(crate) mod tasks;
pub(crate) mod wide;
pub(crate) mod window;

use std::collections::VecDeque;
use std::sync::atomic::Ordering;

use chrono::{Days, NaiveDate};
use futures::StreamExt;

use super::activity;
use super::context::{Context, Warning};
use super::reconcile::tally::Tally;
use super::sizing::{self, Sizing};
use super::state::StatePatch;
use crate::error::{ErrorClass, Result};
use crate::registry::metrics::{Granularity, ReportType};
use ads_cap::{fetch_queries, report_queries, ReportQueries};
use window::CONCURRENT_WINDOWS;

pub(crate) use ads_cap::asks_topview;
pub(crate) use fetch::ReportUnit;
// The report's pure parts, for callers outside the engine (tests, tools).
pub(crate) use splits::{inventory, peek_inventory};
pub(crate) use window::{date_range, DateBounds, EARLIEST_DAY};
// Exported for the integration tests, which build report queries and windows by hand.
pub use super::listing::BuyingScope;
pub use query::{filtering, params, PAGE_SIZE, REPORT_PATH};
pub use window::totals_window;

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

/// The requests one report unit is expected to make: a query per window it will query (none
/// for days the activity index finds idle), each as many pages as the rows per day of the last
/// run (or this run's size measures) make, and a TopView query more per window for accounts
/// with TopView ads (small: one page). A lifetime report is one query, if the account ever
/// delivered.
///
/// `hint` is the rows per day the last run read; the result is the requests, and whether some
/// window's pages could not be counted (no hint, no size measure). A binding whose state says
/// how many metrics TikTok answers in one query counts each query as the parts it will take.
pub(crate) async fn planned_requests(
    ctx: &Context,
    unit: &ReportUnit<'_>,
    (windows, sizing): (&[(NaiveDate, NaiveDate)], &Sizing),
    index_applies: bool,
    hint: Option<f64>,
) -> (u64, bool) {
    let (requests, pages_unknown) =
        planned_queries(ctx, unit, (windows, sizing), index_applies, hint).await;
    let at_start = ctx.counters[unit.binding].query_width.at_start;
    let parts = wide::planned_parts(Some(at_start), unit.spec.metrics.len());
    (requests * parts, pages_unknown)
}

/// [`planned_requests`] as if every query were asked whole.
async fn planned_queries(
    ctx: &Context,
    unit: &ReportUnit<'_>,
    (windows, sizing): (&[(NaiveDate, NaiveDate)], &Sizing),
    index_applies: bool,
    hint: Option<f64>,
) -> (u64, bool) {
    let (spec, advertiser_id) = (unit.spec, unit.advertiser.id);
    let topview = peek_inventory(ctx, advertiser_id)
        .await
        .is_some_and(|inventory| asks_topview(spec, &inventory));
    let queries = u64::from(topview) + 1;
    if spec.granularity == Granularity::Lifetime {
        let active = !index_applies || activity::peek_ever(ctx, advertiser_id).await;
        return (u64::from(active) * queries, false);
    }
    let ads = sizing::main_scope_ads(ctx, advertiser_id).await;
    let mut pages: f64 = 0.0;
    let mut pages_unknown = false;
    for &(from, to) in windows {
        if activity::serves(ctx, unit.stream, advertiser_id, (from, to)).await {
            continue;
        }
        let days = sizing::days(from, to);
        let main = match hint {
            Some(_) => Some(query::expected_pages(hint, days)),
            None if sizing.one_page(spec, advertiser_id, ads, days) => Some(1.0),
            None => sizing.pages(advertiser_id, ads, days),
        };
        pages_unknown |= main.is_none();
        pages += main.unwrap_or(1.0) + (queries - 1) as f64;
    }
    (pages.round() as u64, pages_unknown)
}

async fn run_unit(
    ctx: &Context,
    unit: &ReportUnit<'_>,
    incremental: bool,
    cursor: Option<String>,
) -> Result<()> {
    if unit.spec.granularity == Granularity::Lifetime {
        run_lifetime(ctx, unit).await
    } else {
        run_dated(ctx, unit, incremental, cursor).await
    }
}

/// A report without a time dimension: one query (per buying scope and split), no cursor.
async fn run_lifetime(ctx: &Context, unit: &ReportUnit<'_>) -> Result<()> {
    let (binding, stream, spec, advertiser) =
        (unit.binding, unit.stream, unit.spec, unit.advertiser);
    if !activity::ever_active(ctx, stream, advertiser.id).await? {
        return ctx.checkpoint(binding, StatePatch::Nothing).await;
    }
    let queries = report_queries(ctx, binding, spec, advertiser.id).await?;
    // Lifetime metrics where TikTok has them; otherwise totals over the longest range it
    // accepts without a time dimension, ending on `end_date` when the config sets one in
    // the past, else today in the ad account's time zone: never past what the config asks.
    let today = ctx.config.clock.today_at(advertiser.time_zone);
    let last = ctx.config.end_date.map_or(today, |end| end.min(today));
    let window = (!spec.uses_query_lifetime()).then(|| totals_window(last));
    fetch_queries(ctx, unit, &queries, window).await?;
    wide::save_widths(ctx, binding).await?;
    ctx.checkpoint(binding, StatePatch::Nothing).await
}

/// A daily or hourly report: its days cut into windows, each checkpointed in order.
async fn run_dated(
    ctx: &Context,
    unit: &ReportUnit<'_>,
    incremental: bool,
    cursor: Option<String>,
) -> Result<()> {
    let (binding, spec, advertiser) = (unit.binding, unit.spec, unit.advertiser);
    let clock = ctx.config.clock;
    let cursor = cursor.filter(|_| incremental);
    // The cursor stops at the last day that is over where the account lives: the day in
    // progress is read again next run, whatever lookback_days says.
    let last_complete_day = clock.last_complete_day(advertiser.time_zone);
    let Some(UnitDays { start, end, pieces }) = unit_days(ctx, unit, cursor.as_deref()).await?
    else {
        return ctx.checkpoint(binding, StatePatch::Nothing).await;
    };
    let cursor_day = cursor.as_deref().and_then(asked::day_of);
    if let Some(day) = cursor_day.filter(|day| *day < EARLIEST_DAY) {
        if ctx.first_warning(
            Warning::CursorBeforeEarliestDay,
            Some(binding),
            advertiser.id,
        ) {
            tracing::warn!(
                stream = unit.stream,
                advertiser_id = advertiser.id,
                cursor = %day,
                "The state's cursor for this ad account lies before {EARLIEST_DAY}, when TikTok \
                 Ads began, which no run could have written: reports are read from {start}."
            );
        }
    }
    let nothing_known = ctx.config.start_date.is_none() && advertiser.created.is_none();
    if start == EARLIEST_DAY
        && nothing_known
        && cursor_day.is_none()
        && ctx.first_warning(Warning::EarliestDay, None, advertiser.id)
    {
        tracing::warn!(
            advertiser_id = advertiser.id,
            "Neither start_date nor the ad account's creation date is known, so reports are \
             read from {EARLIEST_DAY}, when TikTok Ads began. Set start_date to read less."
        );
    }
    if let Some(metrics) = activity::reconciled_metrics(ctx, unit.stream, unit.spec) {
        let _ = unit.tally.set(Tally::new(metrics));
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
    let cursors = incremental.then_some(last_complete_day);
    run_windows(ctx, unit, &queries, pieces, cursors).await
}

/// Runs the pieces of a dated unit and checkpoints each in order; `cursors` is the last
/// complete day when the binding keeps cursors (incremental), which no cursor passes.
async fn run_windows(
    ctx: &Context,
    unit: &ReportUnit<'_>,
    queries: &ReportQueries,
    pieces: Vec<(NaiveDate, NaiveDate, bool)>,
    cursors: Option<NaiveDate>,
) -> Result<()> {
    let (binding, advertiser) = (unit.binding, unit.advertiser);
    // Windows run a few at a time; checkpoints follow in window order, so the cursor only ever
    // covers windows whose every row was sent before it. Each window sends its own checkpoint
    // once the previous one has: this loop only drives the windows and never waits on the
    // output itself, since a window whose turn on the bounded output came while its driver
    // was waiting there too would hold that turn unused, and enough of them stall the run.
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
            if let Some(tally) = unit.tally.get() {
                match fetch {
                    true => tally.read((from, to)),
                    false => tally.skipped((from, to)),
                }
            }
            // The previous window failed: its error ends the unit, and no cursor may pass it.
            if let Some(after) = after {
                if after.await.is_err() {
                    return Ok(());
                }
            }
            let patch = if let Some(last_complete_day) = cursors {
                let cursor = to.min(last_complete_day).format("%Y-%m-%d").to_string();
                // The last piece comes after every query of the unit: it also records the rows
                // per day seen, which the next run's plan counts pages with.
                let rows_per_day = unit.rows_per_day().filter(|_| i == last);
                StatePatch::cursor_with_rows(advertiser.id, &cursor, rows_per_day)
                    .with_distrust(ctx.activity.distrust_patch(advertiser.id))
            } else {
                StatePatch::Nothing
            };
            wide::save_widths(ctx, binding).await?;
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
    pub(crate) start: NaiveDate,
    pub(crate) end: NaiveDate,
    pub(crate) pieces: Vec<(NaiveDate, NaiveDate, bool)>,
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
    // The ledger's query was this stream's: its rows are emitted without a request.
    if let Some(rows) = activity::shared_rows(ctx, unit.stream, advertiser_id, (from, to)).await {
        // The advertiser level's one query holds every buying type its totals count.
        let scope = crate::capture::listing::BuyingScope::AuctionAndReachFrequency;
        fetch::emit_answer(ctx, unit, (Some((from, to)), scope), &rows).await?;
        return Ok(to);
    }
    let mut queue: VecDeque<(NaiveDate, NaiveDate)> = VecDeque::from([(from, to)]);
    // Whether the window's first day was asked alone after a refusal (see below).
    let mut first_day_alone = false;
    // The days the next query in parts may ask while its binding's rows per day are known
    // from few (see below): twice the last.
    let mut growing: Option<u64> = None;
    while let Some((from, to)) = queue.pop_front() {
        let days = (to - from).num_days() as u64 + 1;
        // While they are known from few days, a window holds half the days the rows per day
        // seen allow: rows grow from day to day as an account's ads start delivering.
        let held_half = wide::held_days(ctx, unit.binding, unit.spec).map(|d| (d / 2).max(1));
        let limit = growing.map(|g| held_half.map_or(g, |h| g.min(h)));
        if let Some(limit) = limit.filter(|limit| *limit < days) {
            let end = from
                .checked_add_days(Days::new(limit - 1))
                .unwrap_or(to)
                .min(to);
            growing = growing.map(|g| g * 2);
            wide::grow_plan(ctx, unit.binding, advertiser_id, 1);
            queue.push_front((end.succ_opt().unwrap_or(to), to));
            queue.push_front((from, end));
            continue;
        }
        // A report read in parts holds a window's rows until its last part: a window of more
        // rows than that allows is asked as shorter ones, each counted in the plan.
        if let Some(held) = wide::held_days(ctx, unit.binding, unit.spec).filter(|d| *d < days) {
            let mut day = from;
            let mut pieces = Vec::new();
            while day <= to {
                let end = day
                    .checked_add_days(Days::new(held - 1))
                    .unwrap_or(to)
                    .min(to);
                pieces.push((day, end));
                day = match end.succ_opt() {
                    Some(next) => next,
                    None => break,
                };
            }
            let extra = pieces.len() as i64 - 1;
            wide::grow_plan(ctx, unit.binding, advertiser_id, extra);
            for piece in pieces.into_iter().rev() {
                queue.push_front(piece);
            }
            continue;
        }
        let widths = wide::Widths::of_queries(ctx, unit.binding);
        let in_parts = widths.parts(unit.spec.metrics.len()) > 1;
        // Until the binding's queries in parts have shown how many rows a day holds (which
        // bounds the days a window in parts may hold), a window asked in parts has its first
        // day asked alone, and the rest in windows of twice the days of the last while the
        // rows per day (the most any query in parts answered) bound them less: what TikTok's
        // width says of a binding, or its state, says nothing of its rows, and one day may
        // hold fewer than the next.
        if in_parts
            && to > from
            && growing.is_none()
            && wide::held_days(ctx, unit.binding, unit.spec).is_none()
        {
            growing = Some(2);
            wide::grow_plan(ctx, unit.binding, advertiser_id, 1);
            queue.push_front((from.succ_opt().unwrap_or(to), to));
            queue.push_front((from, from));
            continue;
        }
        let outcome = fetch_queries(ctx, unit, queries, Some((from, to))).await;
        match outcome {
            Ok(()) => {}
            // Asked whole while another query learned that its metrics are too many for one
            // query: the window is asked again in parts, not halved (its days were not shown
            // to be too many).
            Err(err)
                if err.class() == ErrorClass::QueryTooLarge
                    && to > from
                    && !in_parts
                    && widths.parts(unit.spec.metrics.len()) > 1 =>
            {
                tracing::info!(advertiser_id, %from, %to, "TikTok found the query too large (40067), and other queries found its metrics too many for one query; asking the window in parts.");
                queue.push_front((from, to));
            }
            // TikTok says too large for too many metrics or too many days. While nothing is
            // known of its width, the first day is asked alone once: refused, it is the
            // metrics, and the rest of the window is asked in parts at once (not halved down
            // to one day, a refusal per halving, on every window of the run's first wave);
            // answered, it is the days, and the rest is halved as before.
            Err(err)
                if err.class() == ErrorClass::QueryTooLarge
                    && to > from
                    && !first_day_alone
                    && !widths.is_known() =>
            {
                first_day_alone = true;
                growing = Some(2);
                tracing::info!(advertiser_id, %from, %to, "TikTok found the query too large (40067); asking its first day alone, to tell whether its metrics or its days are too many.");
                queue.push_front((from.succ_opt().unwrap_or(to), to));
                queue.push_front((from, from));
            }
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
