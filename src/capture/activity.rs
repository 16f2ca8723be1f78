//! The activity index: per ad account, which days had any delivery or any attributed result,
//! learned from the cheapest report TikTok offers (advertiser level, one row per day, a handful
//! of metrics, 30 days per request) and shared by every report binding of the run. Report
//! windows and hourly days without activity are then not queried, and lifetime reports of an
//! account that never delivered are not either.
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
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use chrono::NaiveDate;
use futures::StreamExt;
use serde_json::Value;

use super::advertisers::Advertiser;
use super::report::{date_range, windows, PAGE_SIZE, REPORT_PATH};
use super::{Binding, Context, PerAccount, Warning};
use crate::client::Params;
use crate::config::Config;
use crate::error::{ErrorClass, Result};
use crate::registry::metrics::Granularity;
use crate::registry::StreamSpec;

/// What the index asks for: any of these non-zero makes a day active. The first group is what
/// the advertiser-level daily stream already requests; the second adds the attributed results.
pub const ACTIVITY_METRICS: &[&str] = &[
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

/// The days of one account with activity, within the range the index asked about.
#[derive(Debug, Clone, PartialEq)]
pub struct Activity {
    /// Inclusive range the index covers; days outside it count as active.
    pub covered: (NaiveDate, NaiveDate),
    pub active_days: BTreeSet<NaiveDate>,
}

impl Activity {
    /// Whether any day of `from..=to` may hold rows.
    pub fn any_active(&self, from: NaiveDate, to: NaiveDate) -> bool {
        if from < self.covered.0 || to > self.covered.1 {
            return true;
        }
        self.active_days.range(from..=to).next().is_some()
    }
}

/// What the index knows of one account.
#[derive(Debug, Clone)]
enum Known {
    /// The index could not be built (refused or unreadable): query everything.
    Unknown,
    Days(Arc<Activity>),
}

/// The run's index, built lazily per account by the first report unit that needs it.
#[derive(Debug, Default)]
pub struct ActivityIndex {
    off: std::sync::atomic::AtomicBool,
    /// Per account: the union of the date ranges of the run's dated report bindings.
    ranges: Mutex<HashMap<u64, (NaiveDate, NaiveDate)>>,
    days: PerAccount<Known>,
    ever: PerAccount<bool>,
    /// Requests the index made.
    pub requests: AtomicU64,
}

impl ActivityIndex {
    /// Records, per account, the range every dated report binding of this run will read, so
    /// one index query series covers them all.
    pub(crate) fn plan(
        &self,
        config: &Config,
        bindings: &[Binding],
        advertisers: &[Advertiser],
        today: NaiveDate,
    ) {
        if !config.activity_index {
            tracing::info!("The activity index is off for this run: every report day is read.");
            self.off.store(true, Ordering::Relaxed);
            return;
        }
        let mut ranges = self.ranges.lock().unwrap_or_else(|e| e.into_inner());
        for binding in bindings {
            let StreamSpec::Report(spec) = &binding.stream.spec else {
                continue;
            };
            if spec.granularity == Granularity::Lifetime || is_custom(config, &binding.stream.name)
            {
                continue;
            }
            for advertiser in advertisers {
                let cursor = binding
                    .state
                    .cursor(advertiser.id)
                    .filter(|_| binding.incremental);
                let bounds = super::report::DateBounds::of(config);
                let Some((start, end)) = date_range(&bounds, advertiser.created, cursor, today)
                else {
                    continue;
                };
                ranges
                    .entry(advertiser.id)
                    .and_modify(|r| *r = (r.0.min(start), r.1.max(end)))
                    .or_insert((start, end));
            }
        }
    }

    fn range(&self, advertiser_id: u64) -> Option<(NaiveDate, NaiveDate)> {
        self.ranges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&advertiser_id)
            .copied()
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
pub fn cut_windows(
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
        Granularity::Day => super::report::MAX_DAILY_WINDOW,
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
        .buffered(super::report::CONCURRENT_WINDOWS);
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

/// One advertiser-level query (daily over `window`, or lifetime); its rows as (day, active).
/// `None` when TikTok refuses it or answers something unreadable: the caller then reads all.
async fn query(
    ctx: &Context,
    advertiser_id: u64,
    window: Option<(NaiveDate, NaiveDate)>,
) -> Result<Option<Vec<(Option<NaiveDate>, bool)>>> {
    let mut metrics: &[&str] = ACTIVITY_METRICS;
    loop {
        match query_with(ctx, advertiser_id, window, metrics).await {
            Ok(rows) => return Ok(Some(rows)),
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

async fn query_with(
    ctx: &Context,
    advertiser_id: u64,
    window: Option<(NaiveDate, NaiveDate)>,
    metrics: &[&str],
) -> Result<Vec<(Option<NaiveDate>, bool)>> {
    let dimensions: &[&str] = match window {
        Some(_) => &["advertiser_id", "stat_time_day"],
        None => &["advertiser_id"],
    };
    let mut params: Params = vec![
        ("advertiser_id", advertiser_id.to_string()),
        ("service_type", "AUCTION".into()),
        ("report_type", "BASIC".into()),
        ("data_level", "AUCTION_ADVERTISER".into()),
        ("dimensions", serde_json::json!(dimensions).to_string()),
        ("metrics", serde_json::json!(metrics).to_string()),
    ];
    match window {
        Some((start, end)) => {
            params.push(("start_date", start.format("%Y-%m-%d").to_string()));
            params.push(("end_date", end.format("%Y-%m-%d").to_string()));
        }
        None => params.push(("query_lifetime", "true".into())),
    }
    let pages = ctx.client.pages(REPORT_PATH, params, "list", PAGE_SIZE);
    futures::pin_mut!(pages);
    let mut rows = Vec::new();
    while let Some(page) = pages.next().await {
        let page = page?;
        ctx.activity.requests.fetch_add(1, Ordering::Relaxed);
        // Over TikTok's ads cap the account's totals cover only its newest ads, so a day that
        // looks idle may not be: trust nothing of this answer and read every day.
        if page.ads_throttled {
            tracing::info!(
                advertiser_id,
                "The activity index query is over TikTok's ads cap (X-Tt-Ads-Throttle); every \
                 report day of this ad account is read."
            );
            return Ok(vec![(None, true)]);
        }
        for raw in &page.records {
            let row: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
            let day = row["dimensions"]["stat_time_day"]
                .as_str()
                .and_then(|t| NaiveDate::parse_from_str(t.get(..10)?, "%Y-%m-%d").ok());
            let day = if window.is_some() { day } else { None };
            if window.is_some() && day.is_none() {
                rows.push((None, true));
                continue;
            }
            rows.push((day, row_active(&row["metrics"])));
        }
    }
    Ok(rows)
}

/// Whether any metric of a row is non-zero. `"-"` and null mean "not applicable" (zero here);
/// a value that is not a number counts as activity, so nothing unreadable hides a day.
pub fn row_active(metrics: &Value) -> bool {
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
