//! TikTok's cap on synchronous reports: each processes only the 20,000 most recently created
//! ads of its query and marks a capped answer with `X-Tt-Ads-Throttle`. Per report and ad
//! account it plans the queries of every window ([`ReportQueries`]: one per buying scope, split
//! by id filters where the ad count says a scope is over the cap, from [`super::splits`]), narrows
//! a filter TikTok still answers capped, and reads a query nothing can narrow ([`OverCap`]) as
//! an asynchronous task ([`super::tasks`], not capped) or, failing that, as the capped answer
//! with one warning.

use std::collections::VecDeque;

use chrono::{Days, NaiveDate};
use serde_json::Value;

use super::asked::Unasked;
use super::fetch::{emit_rows, fetch, Fetched, ReportUnit};
use super::query::{filters_on, Query};
use super::splits::{
    inventory, listing, plan_splits, split_by_campaign, subdivide, AdInventory, MAX_ADS_PER_QUERY,
};
use super::tasks::{self, ByTask, CsvTable};
use crate::capture::context::{Context, RowsOf, Warning};
use crate::capture::listing::BuyingScope;
use crate::error::Result;
use crate::registry::metrics::{Granularity, Level};
use crate::registry::ReportSpec;

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
/// one ([`CapReading`]). An hourly advertiser-level report asks its task for [`DAYS_PER_TASK`]
/// days at once (asynchronous reports have no time-range limit) and keeps the days ahead for
/// their own windows.
#[derive(Default)]
struct OverCap {
    reading: std::sync::Mutex<CapReading>,
    ahead: tokio::sync::Mutex<DaysAhead>,
}

/// How a query over the cap is read: `Unknown` until one is met (the synchronous query goes
/// first), then as an asynchronous task (no cap), or, where tasks are unavailable, as the
/// capped synchronous answer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum CapReading {
    #[default]
    Unknown,
    ByTask,
    Capped,
}

/// Days an hourly task read ahead of its window: the range it covered and each day's rows.
#[derive(Default)]
struct DaysAhead {
    range: Option<(NaiveDate, NaiveDate)>,
    days: std::collections::BTreeMap<Option<NaiveDate>, CsvTable>,
}

/// How many days one hourly advertiser-level task covers: a month of the day-by-day windows in
/// one task (a few hundred rows a day at most at that level).
pub(super) const DAYS_PER_TASK: u64 = 30;

impl OverCap {
    fn get(&self) -> CapReading {
        *self.reading.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, reading: CapReading) {
        *self.reading.lock().unwrap_or_else(|e| e.into_inner()) = reading;
    }
}

/// Plans the queries of one report for one advertiser: a TopView scope when the advertiser has
/// TopView ads (none otherwise), and id filters when a scope holds more ads than one report
/// processes.
pub(crate) async fn report_queries(
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
            let listing = listing(&inventory, ctx, binding, advertiser_id, scope).await?;
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

/// Whether id filters can narrow this report: not at the advertiser level (TikTok takes none
/// there), nor when a custom report already filters by ids of its own.
fn can_split(spec: &ReportSpec) -> bool {
    spec.level != Level::Advertiser && !filters_on(spec, &["campaign_ids", "adgroup_ids", "ad_ids"])
}

/// Runs every query of one window (or of the lifetime report), narrowing the id filters of
/// any answer TikTok marks with `X-Tt-Ads-Throttle`.
pub(super) async fn fetch_queries(
    ctx: &Context,
    unit: &ReportUnit<'_>,
    queries: &ReportQueries,
    window: Option<(NaiveDate, NaiveDate)>,
) -> Result<()> {
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
                CapReading::Unknown
            };
            if known != CapReading::Unknown {
                read_over_cap(ctx, unit, query, over_cap).await?;
                done.push(split);
                continue;
            }
            if fetch(ctx, unit, query, false).await? == Fetched::Whole {
                done.push(split);
                continue;
            }
            narrowed = true;
            match narrower(ctx, unit, *scope, split.as_ref()).await? {
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

/// The narrower queries that replace one TikTok answered over the cap: a split of an unsplit
/// query (the ad count did not foresee the cap, or TikTok's cap is lower than ours), or a
/// subdivision of a split one. `None` when nothing narrower exists at the report's level.
async fn narrower(
    ctx: &Context,
    unit: &ReportUnit<'_>,
    scope: BuyingScope,
    split: Option<&Value>,
) -> Result<Option<Vec<Option<Value>>>> {
    let (binding, spec, advertiser_id) = (unit.binding, unit.spec, unit.advertiser.id);
    let inventory = inventory(ctx, binding, advertiser_id).await?;
    if !inventory.listable {
        return Ok(None);
    }
    let listing = listing(&inventory, ctx, binding, advertiser_id, scope).await?;
    Ok(match split {
        None if can_split(spec) => {
            // Split in at least two.
            let per_query = MAX_ADS_PER_QUERY.min(listing.ads.len().div_ceil(2)).max(1);
            let plan = plan_splits(&listing, spec.level, per_query)
                .filter(|_| listing.is_complete(inventory.ads(scope)));
            match plan {
                Some(parts) if parts.len() > 1 => Some(parts),
                _ => {
                    let rows_of = RowsOf {
                        binding,
                        advertiser_id,
                    };
                    let parts = split_by_campaign(ctx, rows_of, scope, &listing).await?;
                    (parts.len() > 1 || parts.first().is_some_and(Option::is_some)).then_some(parts)
                }
            }
        }
        None => None,
        Some(filter) => subdivide(filter, &listing, spec.level),
    })
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
    let reason = if over_cap.get() == CapReading::Capped && query.split.is_none() {
        None
    } else {
        let filters = query.filtering(unit.spec, ctx.config.include_deleted);
        match read_by_task(ctx, unit, query, over_cap, &filters).await? {
            ByTask::Done(()) => {
                remember(CapReading::ByTask);
                return Ok(());
            }
            ByTask::FallBack(why) => Some(why),
        }
    };
    remember(CapReading::Capped);
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
    if let (Some(tally), Some(window)) = (unit.tally.get(), query.window) {
        tally.capped(window);
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
) -> Result<ByTask<()>> {
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
            return Ok(match tasks::read(ctx, unit, window, filters).await? {
                ByTask::Done(table) => {
                    emit_table(ctx, unit, (window, query.scope), &table).await?;
                    ByTask::Done(())
                }
                ByTask::FallBack(why) => ByTask::FallBack(why),
            });
        }
    };
    // Held across the task, so the next day's window waits for what this one reads ahead.
    let mut ahead = over_cap.ahead.lock().await;
    if ahead
        .range
        .is_some_and(|(from, to)| from <= day && day <= to)
    {
        if let Some(rows) = ahead.days.remove(&Some(day)) {
            emit_table(ctx, unit, (query.window, query.scope), &rows).await?;
        }
        return Ok(ByTask::Done(()));
    }
    let last_day = unit.last_day.get().copied().unwrap_or(day);
    let until = day
        .checked_add_days(Days::new(DAYS_PER_TASK - 1))
        .unwrap_or(day)
        .min(last_day)
        .max(day);
    let table = match tasks::read(ctx, unit, Some((day, until)), filters).await? {
        ByTask::Done(table) => table,
        ByTask::FallBack(why) => return Ok(ByTask::FallBack(why)),
    };
    let time_dimension = unit.spec.granularity.time_dimension().unwrap_or_default();
    let mut days = table.by_day(time_dimension);
    for key in [Some(day), None] {
        if let Some(rows) = days.remove(&key) {
            emit_table(ctx, unit, (query.window, query.scope), &rows).await?;
        }
    }
    // Rows of days outside what the task was asked are not TikTok's answer to it: dropped.
    let mut unasked = Unasked::new(unit.advertiser.id, Some((day, until)));
    days.retain(|d, rows| {
        let kept = d.is_some_and(|d| day < d && d <= until);
        if !kept {
            for _ in 0..rows.len() {
                unasked.keeps_day(*d);
            }
        }
        kept
    });
    unasked.warn(unit.stream);
    *ahead = DaysAhead {
        range: Some((day, until)),
        days,
    };
    Ok(ByTask::Done(()))
}

/// Emits the rows of an asynchronous task's table (of `window`, in a buying scope), a batch
/// at a time.
async fn emit_table(
    ctx: &Context,
    unit: &ReportUnit<'_>,
    (window, scope): (Option<(NaiveDate, NaiveDate)>, BuyingScope),
    table: &CsvTable,
) -> Result<()> {
    let mut unasked = Unasked::new(unit.advertiser.id, window);
    let mut emitted = Ok(());
    for rows in table.batches() {
        emitted = emit_rows(ctx, unit, &rows, (&mut unasked, scope)).await;
        if emitted.is_err() {
            break;
        }
    }
    unasked.warn(unit.stream);
    emitted
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::capture::report::query::id_filter;
    use crate::registry::metrics::ReportType;

    #[test]
    fn custom_reports_with_their_own_id_or_buying_filters_are_not_split_or_doubled() {
        let spec = |level: Level, filtering: Vec<Value>| ReportSpec {
            report_type: ReportType::Basic,
            level,
            granularity: Granularity::Day,
            dimensions: vec![level.id_field().into(), "stat_time_day".into()],
            metrics: vec!["spend".into()],
            filtering,
            layout: crate::registry::RecordLayout::Nested,
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
}
