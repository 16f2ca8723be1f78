//! The activity index: per ad account, whether it ever delivered and which days had any
//! delivery or any attributed result, learned from the cheapest reports TikTok offers
//! (advertiser level, lifetime totals then one row per day, a handful of metrics, 30 days and up
//! to five accounts per request) and shared by every report binding of the run. Report windows
//! and hourly days without activity are then not queried, and an account that never delivered
//! gets no report query at all.
//!
//! Why no row with a non-zero metric can be lost: every metric of the entity reports (campaign,
//! ad group, ad, and their audience breakdowns) counts delivery or results of the account's
//! ads, which the advertiser-level totals of the same day contain. A day counts as active when
//! any of [`ACTIVITY_METRICS`] is non-zero (spend, impressions, clicks, reach, video plays,
//! engagement, app installs, conversions, results, real-time conversions and results); a day
//! on which all of them are zero for the whole account has no delivery and no attributed
//! result, so its rows at any level could only carry zeros, and those rows are not emitted.
//! The index never hides what it cannot see: an answer it cannot read, a refused query or a
//! day outside what it asked about all count as active. Custom reports may name any metric, so
//! they are always queried in full.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use chrono::NaiveDate;
use futures::StreamExt;
use serde_json::Value;

use super::advertisers::Advertiser;
use super::binding::Binding;
use super::context::{unit_concurrency, Context, CountFor, Warning};
use super::listing::ListQuery;
use super::report::asked::{day_of, Unasked};
use super::report::query::{PAGE_SIZE, REPORT_PATH};
use super::report::window::{
    date_range, windows, DateBounds, CONCURRENT_WINDOWS, MAX_DAILY_WINDOW,
};
use super::shared::Known;
pub(crate) use super::shared::{Activity, ActivityIndex};
use crate::client::Params;
use crate::config::Config;
use crate::error::{ErrorClass, Result};
use crate::registry::metrics::Granularity;
use crate::registry::StreamSpec;

/// What the index asks for: any of these non-zero makes a day active. The first group is what
/// the advertiser-level daily stream already requests; the second adds the attributed results.
pub(crate) const ACTIVITY_METRICS: &[&str] = &[
    "spend",
    "impressions",
    "clicks",
    "reach",
    "video_play_actions",
    "likes",
    "comments",
    "shares",
    "follows",
    "profile_visits",
    "app_install",
    "real_time_app_install",
    "conversion",
    "real_time_conversion",
    "result",
    "real_time_result",
];
/// How many of [`ACTIVITY_METRICS`] belong to the basic metric list, asked alone when TikTok
/// refuses the result metrics at advertiser level.
const BASIC_ACTIVITY_METRICS: usize = 12;

/// Records, per account, the range every dated report binding of this run will read, so
/// one index query series covers them all.
pub(crate) fn plan(
    index: &ActivityIndex,
    config: &Config,
    bindings: &[Binding],
    advertisers: &[Advertiser],
    today: NaiveDate,
) {
    if !config.activity_index {
        tracing::info!("The activity index is off for this run: every report day is read.");
        index.off.store(true, Ordering::Relaxed);
        return;
    }
    let mut ranges = index.ranges.lock().unwrap_or_else(|e| e.into_inner());
    for binding in bindings {
        let StreamSpec::Report(spec) = &binding.stream.spec else {
            continue;
        };
        if spec.granularity == Granularity::Lifetime || is_custom(config, &binding.stream.name) {
            continue;
        }
        for advertiser in advertisers {
            let cursor = binding
                .state
                .cursor(advertiser.id)
                .filter(|_| binding.incremental);
            let bounds = DateBounds::of(config);
            let Some((start, end)) = date_range(&bounds, advertiser.created, cursor, today) else {
                continue;
            };
            ranges
                .entry(advertiser.id)
                .and_modify(|r| *r = (r.0.min(start), r.1.max(end)))
                .or_insert((start, end));
        }
    }
}

/// Whether the index applies to this binding: built-in reports, outside sandbox (where
/// advertiser-level reports do not exist).
pub(crate) fn applies(ctx: &Context, stream: &str) -> bool {
    !ctx.activity.off.load(Ordering::Relaxed)
        && !ctx.config.is_sandbox()
        && !is_custom(&ctx.config, stream)
}

fn is_custom(config: &Config, stream: &str) -> bool {
    config
        .custom_reports
        .iter()
        .any(|c| c.stream_name() == stream)
}

/// The account's active days over the run's range, or `None` when every day must be read.
pub(crate) async fn days(ctx: &Context, advertiser_id: u64) -> Result<Option<Arc<Activity>>> {
    let Some(range) = ctx.activity.range(advertiser_id) else {
        return Ok(None);
    };
    let known = ctx
        .activity
        .days
        .get_or_try_make(advertiser_id, || async {
            // One lifetime query first: an account that never delivered (most of an agency's,
            // on a typical day) needs no daily query at all.
            if !ever(ctx, advertiser_id).await? {
                return Ok(Known::Days(Arc::new(Activity {
                    covered: range,
                    active_days: BTreeSet::new(),
                })));
            }
            build_days(ctx, advertiser_id, range).await
        })
        .await?;
    Ok(match known {
        Known::Unknown => None,
        Known::Days(days) => Some(days.clone()),
    })
}

/// The activity of the account for a binding, or `None` when the binding reads every day.
pub(crate) async fn for_binding(
    ctx: &Context,
    stream: &str,
    advertiser_id: u64,
) -> Result<Option<Arc<Activity>>> {
    if !applies(ctx, stream) {
        return Ok(None);
    }
    days(ctx, advertiser_id).await
}

/// Cuts `start..=end` into report windows (at most 30 days for daily, one day for hourly) that
/// cover every active day, and the stretches between them that need no query (`false`). The
/// pieces are contiguous and in order, so a cursor moved to each piece's end stays exact.
pub(crate) fn cut_windows(
    activity: Option<&Activity>,
    start: NaiveDate,
    end: NaiveDate,
    granularity: Granularity,
) -> Vec<(NaiveDate, NaiveDate, bool)> {
    let Some(activity) = activity else {
        return windows(start, end, granularity)
            .into_iter()
            .map(|(from, to)| (from, to, true))
            .collect();
    };
    let step = match granularity {
        Granularity::Day => MAX_DAILY_WINDOW,
        Granularity::Hour => 1,
        Granularity::Lifetime => return Vec::new(),
    };
    let mut out = Vec::new();
    let mut from = start;
    while from <= end {
        // The first day from here on that needs a query.
        let next_active = std::iter::successors(Some(from), |d| d.succ_opt())
            .take_while(|d| *d <= end)
            .find(|d| activity.any_active(*d, *d));
        let Some(first) = next_active else {
            out.push((from, end, false));
            break;
        };
        if first > from {
            out.push((from, first.pred_opt().unwrap_or(first), false));
        }
        let to = first
            .checked_add_days(chrono::Days::new(step - 1))
            .unwrap_or(end)
            .min(end);
        out.push((first, to, true));
        match to.succ_opt() {
            Some(next) => from = next,
            None => break,
        }
    }
    out
}

/// Whether the account ever delivered, for a lifetime binding (always `true` where the index
/// does not apply).
pub(crate) async fn ever_active(ctx: &Context, stream: &str, advertiser_id: u64) -> Result<bool> {
    if !applies(ctx, stream) {
        return Ok(true);
    }
    ever(ctx, advertiser_id).await
}

/// Whether the account ever delivered (one lifetime query at advertiser level), asked once per
/// run and before its active days.
pub(crate) async fn ever(ctx: &Context, advertiser_id: u64) -> Result<bool> {
    ctx.activity
        .ever
        .get_or_try_make(advertiser_id, || async {
            match query(ctx, advertiser_id, None).await? {
                Some(rows) => Ok(rows.iter().any(|(_, active)| *active)),
                None => Ok(true),
            }
        })
        .await
}

/// What [`ever`] found, without asking: `true` unless the account is known never to deliver.
pub(crate) async fn peek_ever(ctx: &Context, advertiser_id: u64) -> bool {
    known_ever(ctx, advertiser_id).await.unwrap_or(true)
}

/// What [`ever`] found, if it was asked this run.
pub(crate) async fn known_ever(ctx: &Context, advertiser_id: u64) -> Option<bool> {
    ctx.activity.ever.peek(advertiser_id).await
}

async fn build_days(
    ctx: &Context,
    advertiser_id: u64,
    (start, end): (NaiveDate, NaiveDate),
) -> Result<Known> {
    let results = futures::stream::iter(windows(start, end, Granularity::Day))
        .map(|window| query(ctx, advertiser_id, Some(window)))
        .buffered(CONCURRENT_WINDOWS);
    futures::pin_mut!(results);
    let mut active_days = BTreeSet::new();
    while let Some(rows) = results.next().await {
        let Some(rows) = rows? else {
            return Ok(Known::Unknown);
        };
        for (day, active) in rows {
            match (day, active) {
                (Some(day), true) => {
                    active_days.insert(day);
                }
                (Some(_), false) => {}
                // A row whose day cannot be read: trust nothing of this account.
                (None, _) => return Ok(Known::Unknown),
            }
        }
    }
    tracing::debug!(
        advertiser_id,
        %start,
        %end,
        active_days = active_days.len(),
        "Activity index built."
    );
    Ok(Known::Days(Arc::new(Activity {
        covered: (start, end),
        active_days,
    })))
}

/// How many ad accounts one index query covers (`advertiser_ids`; Run a synchronous report,
/// portal doc 1740302848100353).
///
/// TikTok's multi-account reports are not the rows of per-account queries (money metrics
/// without a decimal point, a cap counted over the batch), so no stream uses them; the index
/// only needs to know, per account and day, whether anything at all happened, and they tell
/// that exactly: each account's days are in its own time zone (`multi_adv_report_in_utc_time`
/// left false), a day with any delivery has non-zero impressions or clicks (spend is charged
/// for them) whatever the rounding of money, results are counts, and an answer over the ads cap
/// is not used. Whatever a batch cannot tell (refused, over the cap, an account without a
/// readable row) is asked per account, as without batches; a refused batch ends batching for
/// the run (the accounts may not belong to one TikTok for Business user).
pub(crate) const ACCOUNTS_PER_QUERY: usize = 5;

/// Asks in batches whether each account ever delivered, then which days those that did were
/// active (accounts reading the same range share a batch). Fills what the per-account
/// functions [`ever`] and [`days`] would otherwise ask for.
pub(crate) async fn prime(ctx: &Context, advertisers: &[u64], any_lifetime: bool) -> Result<()> {
    // Whether it ever delivered is asked of every account with days to read, and of all when a
    // lifetime report runs.
    let asked: Vec<u64> = advertisers
        .iter()
        .copied()
        .filter(|id| any_lifetime || ctx.activity.range(*id).is_some())
        .collect();
    let batches: Vec<Batch<'_>> = asked
        .chunks(ACCOUNTS_PER_QUERY)
        .map(|batch| (batch, None))
        .collect();
    run_batches(ctx, batches).await?;
    let mut by_range: std::collections::BTreeMap<(NaiveDate, NaiveDate), Vec<u64>> =
        Default::default();
    for id in &asked {
        if let (Some(range), Some(true)) = (ctx.activity.range(*id), known_ever(ctx, *id).await) {
            by_range.entry(range).or_default().push(*id);
        }
    }
    let batches = by_range
        .iter()
        .flat_map(|(range, ids)| {
            ids.chunks(ACCOUNTS_PER_QUERY)
                .map(move |batch| (batch, Some(*range)))
        })
        .collect();
    run_batches(ctx, batches).await
}

/// Accounts asked about together, and the range of days (`None`: whether they ever delivered).
type Batch<'a> = (&'a [u64], Option<(NaiveDate, NaiveDate)>);

/// Runs batches a few at a time: lifetime ones (`None`) set whether each account ever
/// delivered, dated ones its active days over the range.
async fn run_batches(ctx: &Context, batches: Vec<Batch<'_>>) -> Result<()> {
    let done = futures::stream::iter(batches)
        .filter(|(batch, _)| std::future::ready(batch.len() > 1))
        .map(|(batch, range)| async move {
            match range {
                None => {
                    if let Some(answer) = batch_query(ctx, batch, None).await? {
                        // An account without a row has no data, as when asked alone.
                        for id in batch {
                            if let Some(rows) = answer.trusted(*id) {
                                let ever = rows.iter().any(|(_, active)| *active);
                                ctx.activity.ever.set(*id, ever).await;
                            }
                        }
                    }
                }
                Some(range) => batch_days(ctx, batch, range).await?,
            }
            Ok::<(), crate::error::Error>(())
        })
        .buffer_unordered(unit_concurrency(&ctx.config));
    futures::pin_mut!(done);
    while let Some(result) = done.next().await {
        result?;
    }
    Ok(())
}

/// The active days of a batch of accounts over one range (30 days a query).
async fn batch_days(
    ctx: &Context,
    batch: &[u64],
    (start, end): (NaiveDate, NaiveDate),
) -> Result<()> {
    let mut days: HashMap<u64, BTreeSet<NaiveDate>> = HashMap::new();
    let mut untrusted = BTreeSet::new();
    for window in windows(start, end, Granularity::Day) {
        let Some(answer) = batch_query(ctx, batch, Some(window)).await? else {
            return Ok(());
        };
        untrusted.extend(answer.unreadable);
        for (id, rows) in answer.rows {
            days.entry(id).or_default().extend(
                rows.into_iter()
                    .filter(|(_, active)| *active)
                    .filter_map(|(day, _)| day),
            );
        }
    }
    // An account with an unreadable row in any window is asked on its own; one without a row
    // had no active day, as when asked alone.
    for id in batch {
        if untrusted.contains(id) {
            continue;
        }
        let activity = Activity {
            covered: (start, end),
            active_days: days.remove(id).unwrap_or_default(),
        };
        ctx.activity
            .days
            .set(*id, Known::Days(Arc::new(activity)))
            .await;
    }
    Ok(())
}

/// What one batch query told: each account's rows, and the accounts with a row that could not
/// be read (nothing of theirs is used).
struct BatchAnswer {
    rows: HashMap<u64, Vec<(Option<NaiveDate>, bool)>>,
    unreadable: BTreeSet<u64>,
}

impl BatchAnswer {
    /// An account's rows (none: no data), unless one could not be read.
    fn trusted(&self, id: u64) -> Option<&[(Option<NaiveDate>, bool)]> {
        if self.unreadable.contains(&id) {
            return None;
        }
        Some(self.rows.get(&id).map_or(&[], Vec::as_slice))
    }
}

/// One batch query (lifetime, or daily over `window`). `None` when the batch tells nothing
/// (refused, over the ads cap, a row of an account not asked about).
async fn batch_query(
    ctx: &Context,
    batch: &[u64],
    window: Option<(NaiveDate, NaiveDate)>,
) -> Result<Option<BatchAnswer>> {
    if ctx.activity.no_batches.load(Ordering::Relaxed) {
        return Ok(None);
    }
    let answer = match query_with(ctx, Accounts::Many(batch), window, ACTIVITY_METRICS).await {
        Ok(answer) => answer,
        Err(err) if err.stops_the_run() => return Err(err),
        Err(err) => {
            ctx.activity.no_batches.store(true, Ordering::Relaxed);
            tracing::info!(error = %err, "TikTok refused an activity index query over several ad accounts; the index asks per account for the rest of this run.");
            return Ok(None);
        }
    };
    let Some(rows) = answer else {
        return Ok(None);
    };
    let mut out = BatchAnswer {
        rows: HashMap::new(),
        unreadable: BTreeSet::new(),
    };
    for (account, day, active) in rows {
        match account.filter(|id| batch.contains(id)) {
            Some(id) if window.is_none() || day.is_some() => {
                out.rows.entry(id).or_default().push((day, active))
            }
            Some(id) => {
                out.unreadable.insert(id);
            }
            None => return Ok(None),
        }
    }
    Ok(Some(out))
}

/// One advertiser-level query (daily over `window`, or lifetime); its rows as (day, active).
/// `None` when TikTok refuses it or answers something unreadable: the caller then reads all.
async fn query(
    ctx: &Context,
    advertiser_id: u64,
    window: Option<(NaiveDate, NaiveDate)>,
) -> Result<Option<Vec<(Option<NaiveDate>, bool)>>> {
    let mut metrics: &[&str] = ACTIVITY_METRICS;
    loop {
        match query_with(ctx, Accounts::One(advertiser_id), window, metrics).await {
            Ok(Some(rows)) => {
                return Ok(Some(rows.into_iter().map(|(_, d, a)| (d, a)).collect()));
            }
            Ok(None) => {
                // Over TikTok's ads cap the account's totals cover only its newest ads, so a
                // day that looks idle may not be: trust nothing of this answer.
                tracing::info!(
                    advertiser_id,
                    "The activity index query is over TikTok's ads cap (X-Tt-Ads-Throttle); \
                     every report day of this ad account is read."
                );
                return Ok(Some(vec![(None, true)]));
            }
            Err(err) if err.stops_the_run() || err.class() == ErrorClass::Permission => {
                return Err(err)
            }
            Err(err) if err.api_code() == Some(40002) && metrics.len() > BASIC_ACTIVITY_METRICS => {
                tracing::info!(advertiser_id, error = %err, "TikTok refused the result metrics at advertiser level; the activity index asks for delivery metrics only.");
                metrics = &ACTIVITY_METRICS[..BASIC_ACTIVITY_METRICS];
            }
            Err(err) => {
                if ctx.first_warning(Warning::NoActivityIndex, None, 0) {
                    tracing::warn!(advertiser_id, error = %err, "TikTok did not answer the activity index query, so every report day of this ad account is read (other accounts that fail the same way are logged at debug level).");
                } else {
                    tracing::debug!(advertiser_id, error = %err, "No activity index for this ad account; every report day is read.");
                }
                return Ok(None);
            }
        }
    }
}

/// The ad accounts one index query covers.
#[derive(Clone, Copy)]
enum Accounts<'a> {
    One(u64),
    Many(&'a [u64]),
}

/// The rows of one index query as (account, day, active); the account is the one asked for,
/// or (several asked) the row's `advertiser_id`. `None` when the answer is over the ads cap.
async fn query_with(
    ctx: &Context,
    accounts: Accounts<'_>,
    window: Option<(NaiveDate, NaiveDate)>,
    metrics: &[&str],
) -> Result<Option<Vec<(Option<u64>, Option<NaiveDate>, bool)>>> {
    let dimensions: &[&str] = match window {
        Some(_) => &["advertiser_id", "stat_time_day"],
        None => &["advertiser_id"],
    };
    let mut params: Params = match accounts {
        Accounts::One(id) => vec![("advertiser_id", id.to_string())],
        Accounts::Many(ids) => {
            let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
            vec![
                ("advertiser_ids", serde_json::json!(ids).to_string()),
                ("multi_adv_report_in_utc_time", "false".into()),
            ]
        }
    };
    params.extend([
        ("service_type", "AUCTION".into()),
        ("report_type", "BASIC".into()),
        ("data_level", "AUCTION_ADVERTISER".into()),
        ("dimensions", serde_json::json!(dimensions).to_string()),
        ("metrics", serde_json::json!(metrics).to_string()),
    ]);
    match window {
        Some((start, end)) => {
            params.push(("start_date", start.format("%Y-%m-%d").to_string()));
            params.push(("end_date", end.format("%Y-%m-%d").to_string()));
        }
        None => params.push(("query_lifetime", "true".into())),
    }
    let query = ListQuery {
        endpoint: REPORT_PATH,
        params,
        list_key: "list",
        page_size: PAGE_SIZE,
    };
    let pages = ctx.pages(CountFor::ActivityIndex, query);
    futures::pin_mut!(pages);
    let mut rows = Vec::new();
    // Rows the query did not ask (another account's, a day outside the window) are dropped and
    // said once; the account's answer is then not trusted to tell idle days (its own rows may
    // be what was replaced), so its days are all read.
    let mut unasked = match accounts {
        Accounts::One(id) => Some(Unasked::new(id, window)),
        Accounts::Many(_) => None,
    };
    while let Some(page) = pages.next().await {
        let page = page?;
        if page.ads_throttled {
            return Ok(None);
        }
        for raw in &page.records {
            let row: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
            let named = crate::capture::record::id_of(&row["dimensions"]["advertiser_id"]);
            let account = match accounts {
                Accounts::One(id) => Some(id),
                Accounts::Many(_) => named,
            };
            let day = row["dimensions"]["stat_time_day"].as_str().and_then(day_of);
            let day = if window.is_some() { day } else { None };
            let asked = match &mut unasked {
                Some(unasked) => unasked.keeps_account(named) && unasked.keeps_day(day),
                // Over several accounts, another account's row spoils the batch (see
                // `batch_query`); a day outside the window marks its account unreadable.
                None => day.is_none_or(|d| window.is_none_or(|(f, t)| f <= d && d <= t)),
            };
            if !asked || (window.is_some() && day.is_none()) {
                rows.push((account, None, true));
                continue;
            }
            rows.push((account, day, row_active(&row["metrics"])));
        }
    }
    if let Some(unasked) = unasked {
        unasked.warn("activity index");
    }
    Ok(Some(rows))
}

/// Whether any metric of a row is non-zero. `"-"` and null mean "not applicable" (zero here);
/// a value that is not a number counts as activity, so nothing unreadable hides a day.
pub(crate) fn row_active(metrics: &Value) -> bool {
    let Some(map) = metrics.as_object() else {
        return true;
    };
    map.values().any(|v| match v {
        Value::Null => false,
        Value::Number(n) => n.as_f64().is_none_or(|x| x != 0.0),
        Value::String(s) if s == "-" || s.is_empty() => false,
        Value::String(s) => !s.trim().parse::<f64>().is_ok_and(|x| x == 0.0),
        _ => true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn a_row_is_active_when_any_metric_is_non_zero_or_unreadable() {
        assert!(!row_active(
            &json!({"spend": "0.000", "impressions": "0", "clicks": 0, "reach": "-", "x": null})
        ));
        assert!(row_active(&json!({"spend": "0.000", "conversion": "1"})));
        assert!(row_active(&json!({"spend": 0.01})));
        assert!(row_active(&json!({"spend": "n/a"})));
        assert!(row_active(&json!("not an object")));
    }

    #[test]
    fn days_outside_the_index_count_as_active() {
        let a = Activity {
            covered: (d("2024-06-01"), d("2024-06-30")),
            active_days: [d("2024-06-10")].into_iter().collect(),
        };
        assert!(a.any_active(d("2024-06-01"), d("2024-06-30")));
        assert!(a.any_active(d("2024-06-10"), d("2024-06-10")));
        assert!(!a.any_active(d("2024-06-11"), d("2024-06-30")));
        assert!(!a.any_active(d("2024-06-01"), d("2024-06-09")));
        // Partly outside: read it.
        assert!(a.any_active(d("2024-05-31"), d("2024-06-01")));
        assert!(a.any_active(d("2024-06-30"), d("2024-07-01")));
    }

    #[test]
    fn windows_cover_every_active_day_and_skip_the_idle_stretches() {
        let active = |days: &[&str]| Activity {
            covered: (d("2024-01-01"), d("2024-03-31")),
            active_days: days.iter().map(|s| d(s)).collect(),
        };
        let a = active(&["2024-01-05", "2024-01-06", "2024-02-20", "2024-02-21"]);
        assert_eq!(
            cut_windows(Some(&a), d("2024-01-01"), d("2024-03-31"), Granularity::Day),
            [
                (d("2024-01-01"), d("2024-01-04"), false),
                (d("2024-01-05"), d("2024-02-03"), true),
                (d("2024-02-04"), d("2024-02-19"), false),
                (d("2024-02-20"), d("2024-03-20"), true),
                (d("2024-03-21"), d("2024-03-31"), false),
            ]
        );
        assert_eq!(
            cut_windows(
                Some(&a),
                d("2024-01-04"),
                d("2024-01-08"),
                Granularity::Hour
            ),
            [
                (d("2024-01-04"), d("2024-01-04"), false),
                (d("2024-01-05"), d("2024-01-05"), true),
                (d("2024-01-06"), d("2024-01-06"), true),
                (d("2024-01-07"), d("2024-01-08"), false),
            ]
        );
        // An idle account: one piece, no query.
        let idle = active(&[]);
        assert_eq!(
            cut_windows(
                Some(&idle),
                d("2024-01-01"),
                d("2024-03-31"),
                Granularity::Day
            ),
            [(d("2024-01-01"), d("2024-03-31"), false)]
        );
        // Days past what the index covers are read; without an index, everything is.
        assert_eq!(
            cut_windows(
                Some(&idle),
                d("2024-03-30"),
                d("2024-04-01"),
                Granularity::Hour
            ),
            [
                (d("2024-03-30"), d("2024-03-31"), false),
                (d("2024-04-01"), d("2024-04-01"), true),
            ]
        );
        assert_eq!(
            cut_windows(None, d("2024-01-01"), d("2024-03-15"), Granularity::Day),
            windows(d("2024-01-01"), d("2024-03-15"), Granularity::Day)
                .into_iter()
                .map(|(f, t)| (f, t, true))
                .collect::<Vec<_>>()
        );
    }
}
