//! The ledger: per ad account and day, TikTok's advertiser-level totals of every additive
//! metric (counts and money, never rates, averages, reach or frequency) that any report stream
//! of the run requests, read before the report bindings start and shared by all of them. It
//! decides which days the lower levels may skip, and only one kind of day is skipped: a day
//! whose ledger row reads an exact zero for every metric the skipping stream requests.
//!
//! Why no row with a non-zero metric can be lost: every additive metric of a report row (a
//! campaign's, an ad group's, an ad's, a breakdown's) is part of the account's total of the same
//! metric on the same day, so a total of exactly zero leaves no row with a non-zero value of it;
//! the other metrics (rates, averages, reach) derive from these and are zero or `-` with them.
//! A stream requesting an additive metric the ledger cannot ask at advertiser level reads every
//! day. Everything the ledger cannot read as an exact zero counts as activity and is read in
//! full: `-`, null, a value that is not a number, a metric missing from a row, a row of a day
//! or an account that was not asked about, a refused query, an answer over the ads cap (by its
//! `X-Tt-Ads-Throttle` header or by the run's own ad count of the account), and money read from
//! a multi-account answer (TikTok drops its decimals there). Days are read per account (a day
//! missing from a one-account answer has no data: TikTok omits such rows); several accounts
//! share only the lifetime question of whether they ever delivered, and an account missing from
//! that answer is asked alone.
//!
//! Trust is checked at run time: a seeded random sample of skipped account-days is read at the
//! ad level (at most 1% of the requests the ledger saves, at least one account-day per run that
//! skips anything). A non-zero row there means the totals are wrong for that account: nothing
//! of it is skipped, in this run and in the next ones (the mark is kept in its report cursors)
//! until a run's ad-level read of that day agrees with the totals.
//!
//! When `advertisers_reports_daily` is enabled, its query is the ledger's (the union of both
//! metric lists): the stream emits its own fields of the ledger's rows and makes no request of
//! its own for the days the ledger read. Custom reports may name any metric, so they are always
//! queried in full.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use chrono::NaiveDate;
use futures::StreamExt;
use serde_json::value::RawValue;
use serde_json::Value;

use super::advertisers::Advertiser;
use super::binding::Binding;
use super::context::{unit_concurrency, Context, CountFor, Warning};
pub(crate) use super::ledger_rows::Reading;
use super::ledger_rows::{self as parts, Answer, LedgerRow};
use super::listing::ListQuery;
use super::reconcile::tally::figure_text;
use super::report::asked::Unasked;
use super::report::query::{self as report_query, PAGE_SIZE, REPORT_PATH};
use super::report::wide::{read_in_parts, Part, Widths};
use super::report::window::{
    date_range, windows, DateBounds, CONCURRENT_WINDOWS, MAX_DAILY_WINDOW,
};
pub(crate) use super::shared::{Activity, ActivityIndex};
use super::shared::{Distrust, Known, LedgerScope};
use crate::client::Params;
use crate::config::Config;
use crate::error::{ErrorClass, Result};
use crate::registry::metric_catalog::{self, ReportShape};
use crate::registry::metrics::{Granularity, Level, ReportType};
use crate::registry::{RecordLayout, ReportSpec, StreamSpec};

/// Asked whatever the streams request: the delivery every other metric rests on.
const BASE_METRICS: &[&str] = &["spend", "impressions", "clicks"];

/// The stream whose query the ledger shares when it is enabled.
pub(crate) const SHARED_STREAM: &str = "advertisers_reports_daily";

/// The fewest ads over which an account's totals are not trusted. The same TikTok cap as
/// [`MAX_ADS_PER_QUERY`](super::report::splits::MAX_ADS_PER_QUERY), read the other way: TikTok
/// has given it as 10,000 ads (its SDK, default query mode) and as 20,000 (Reporting FAQ); query
/// planning takes the higher figure (the header corrects it), the ledger the lower, since a
/// skipped day is not corrected by anything.
pub(crate) const LEDGER_ADS_CAP: u64 = 10_000;

/// Reads one metric value. `rounded_money`: the answer covered several accounts, where TikTok
/// sends money without decimals, so a money zero there is not an exact zero.
pub(crate) fn read_value(metric: &str, value: Option<&Value>, rounded_money: bool) -> Reading {
    let number = match value {
        Some(Value::Number(n)) => n.as_f64(),
        Some(Value::String(s)) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match number {
        Some(x) if !x.is_finite() => Reading::Unknown,
        Some(x) if x != 0.0 => Reading::NonZero,
        Some(_) if rounded_money && is_money(metric) => Reading::Unknown,
        Some(_) => Reading::Zero,
        None => Reading::Unknown,
    }
}

/// Reads a row's metrics over the metrics asked: non-zero if any is, else unknown if any
/// cannot be read (or is missing), else zero.
pub(crate) fn read_row(metrics: &Value, asked: &[&str], rounded_money: bool) -> Reading {
    let mut out = Reading::Zero;
    for name in asked {
        match read_value(name, metrics.get(name), rounded_money) {
            Reading::NonZero => return Reading::NonZero,
            Reading::Unknown => out = Reading::Unknown,
            Reading::Zero => {}
        }
    }
    if !metrics.is_object() {
        return Reading::Unknown;
    }
    out
}

fn is_money(metric: &str) -> bool {
    metric_catalog::lookup(metric).is_some_and(|m| m.value_type == metric_catalog::ValueType::Money)
}

fn additive(metric: &str) -> bool {
    metric_catalog::lookup(metric).is_some_and(|m| m.additive)
}

fn allowed(metric: &str, level: Level, granularity: Granularity) -> bool {
    metric_catalog::check(
        metric,
        ReportShape {
            report_type: ReportType::Basic,
            level,
            granularity,
            breakdown: false,
        },
    )
    .is_ok()
}

/// What the ledger asks, from the report bindings it serves: the additive metrics they request
/// (with [`BASE_METRICS`]) that TikTok serves at advertiser level, the streams it cannot cover,
/// and the advertiser daily stream whose query it shares.
pub(crate) fn scope(config: &Config, bindings: &[Binding]) -> LedgerScope {
    let mut wanted: BTreeSet<&'static str> = BASE_METRICS.iter().copied().collect();
    let mut shared_stream = None;
    let reports = bindings.iter().filter_map(|b| match &b.stream.spec {
        StreamSpec::Report(spec) if !is_custom(config, &b.stream.name) => {
            Some((b.stream.name.as_str(), spec))
        }
        _ => None,
    });
    let reports: Vec<(&str, &ReportSpec)> = reports.collect();
    for (name, spec) in &reports {
        for m in &spec.metrics {
            if let Some(metric) = metric_catalog::lookup(m).filter(|m| m.additive) {
                wanted.insert(metric.name);
            }
        }
        if *name == SHARED_STREAM
            && spec
                .metrics
                .iter()
                .all(|m| metric_catalog::lookup(m).is_some())
            && spec.level == Level::Advertiser
            && spec.report_type == ReportType::Basic
            && spec.granularity == Granularity::Day
        {
            shared_stream = Some((name.to_string(), spec.metrics.clone()));
        }
    }
    let in_request_order = |g: Granularity| -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        // The shared stream's own metrics first, in its order, so its rows read as its own.
        if let (Some((_, own)), Granularity::Day) = (&shared_stream, g) {
            for m in own {
                if let Some(metric) = metric_catalog::lookup(m) {
                    out.push(metric.name);
                }
            }
        }
        for m in &wanted {
            if allowed(m, Level::Advertiser, g) && !out.contains(m) {
                out.push(m);
            }
        }
        out
    };
    let daily = in_request_order(Granularity::Day);
    let lifetime: Vec<&'static str> = in_request_order(Granularity::Lifetime)
        .into_iter()
        .filter(|m| additive(m))
        .collect();
    let uncovered = uncovered_streams(&reports, &daily, &lifetime);
    LedgerScope {
        daily,
        lifetime,
        uncovered,
        shared_stream,
    }
}

/// The report streams asking an additive metric the ledger cannot total at advertiser level:
/// every day of theirs is read.
fn uncovered_streams(
    reports: &[(&str, &ReportSpec)],
    daily: &[&'static str],
    lifetime: &[&'static str],
) -> BTreeSet<String> {
    let mut uncovered = BTreeSet::new();
    for (name, spec) in reports {
        let asked = if spec.granularity == Granularity::Lifetime {
            lifetime
        } else {
            daily
        };
        // `cash_spend` and `voucher_spend` are parts of `spend`, asked by day only.
        let missing: Vec<&str> = spec
            .metrics
            .iter()
            .map(String::as_str)
            .filter(|m| additive(m) && !asked.contains(m))
            .filter(|m| !(spec.granularity == Granularity::Lifetime && m.ends_with("_spend")))
            .collect();
        if !missing.is_empty() {
            tracing::info!(
                stream = name,
                metrics = ?missing,
                "TikTok has no advertiser-level totals of some metrics this report requests, \
                 so the ledger cannot show its idle days: every day is read."
            );
            uncovered.insert(name.to_string());
        }
    }
    uncovered
}

/// Records, per account, the range every dated report binding of this run will read, so
/// one ledger query series covers them all; fixes what the ledger asks; and takes over the
/// distrust an earlier run recorded in the report cursors.
pub(crate) fn plan(
    index: &ActivityIndex,
    config: &Config,
    bindings: &[Binding],
    advertisers: &[Advertiser],
    today: NaiveDate,
) {
    if !config.activity_index {
        tracing::info!("The ledger is off for this run: every report day is read.");
        index.off.store(true, Ordering::Relaxed);
        return;
    }
    let _ = index.scope.set(scope(config, bindings));
    let mut distrusted_before = index
        .distrusted_before
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    let mut ranges = index.ranges.lock().unwrap_or_else(|e| e.into_inner());
    for binding in bindings {
        let StreamSpec::Report(spec) = &binding.stream.spec else {
            continue;
        };
        for advertiser in advertisers {
            if let Some(day) = binding
                .state
                .ledger_distrust(advertiser.id)
                .map(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").unwrap_or(today))
            {
                distrusted_before.insert(advertiser.id, day);
            }
        }
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
    let mut distrusted = index.distrusted.lock().unwrap_or_else(|e| e.into_inner());
    for (id, day) in distrusted_before.iter() {
        distrusted.insert(*id, Distrust { day: *day });
    }
}

/// Whether the ledger decides for this binding: built-in reports whose additive metrics it
/// covers, outside sandbox (where advertiser-level reports do not exist).
pub(crate) fn applies(ctx: &Context, stream: &str) -> bool {
    !ctx.activity.off.load(Ordering::Relaxed)
        && !ctx.config.is_sandbox()
        && !is_custom(&ctx.config, stream)
        && !ctx.activity.scope().uncovered.contains(stream)
}

/// The metrics the reconciliation compares for a report stream, or `None` when it is not
/// compared: a built-in daily BASIC report at campaign, ad group or ad level without a
/// breakdown, for which the ledger decides, and of its metrics the additive ones the ledger
/// asks (in the ledger's order). See `reconcile` for what is left out and why.
pub(crate) fn reconciled_metrics(
    ctx: &Context,
    stream: &str,
    spec: &ReportSpec,
) -> Option<Vec<&'static str>> {
    let compared_shape = spec.report_type == ReportType::Basic
        && matches!(spec.level, Level::Campaign | Level::AdGroup | Level::Ad)
        && spec.granularity == Granularity::Day
        && spec.dimensions.len() == 2;
    if !compared_shape || !applies(ctx, stream) {
        return None;
    }
    let metrics: Vec<&'static str> = ctx
        .activity
        .scope()
        .daily
        .iter()
        .copied()
        .filter(|m| additive(m) && spec.metrics.iter().any(|own| own == m))
        .collect();
    (!metrics.is_empty()).then_some(metrics)
}

fn is_custom(config: &Config, stream: &str) -> bool {
    config
        .custom_reports
        .iter()
        .any(|c| c.stream_name() == stream)
}

/// Whether the account may skip anything: not distrusted, and not over the ads cap by the
/// run's own count of its ads.
async fn skipping_allowed(ctx: &Context, advertiser_id: u64) -> bool {
    if ctx.activity.is_distrusted(advertiser_id) {
        return false;
    }
    !over_cap_by_count(ctx, advertiser_id).await
}

/// Whether the run counted more ads in the account than TikTok's totals are sure to cover.
async fn over_cap_by_count(ctx: &Context, advertiser_id: u64) -> bool {
    super::report::peek_inventory(ctx, advertiser_id)
        .await
        .is_some_and(|i| i.auction_and_reach_frequency_ads + i.topview_ads > LEDGER_ADS_CAP)
}

/// The account's ledger over the run's range, or `None` when every day must be read.
pub(crate) async fn days(ctx: &Context, advertiser_id: u64) -> Result<Option<Arc<Activity>>> {
    let Some(range) = ctx.activity.range(advertiser_id) else {
        return Ok(None);
    };
    let known = ctx
        .activity
        .days
        .get_or_try_make(advertiser_id, || async {
            // One lifetime question first: an account that never delivered (most of an
            // agency's, on a typical day) needs no daily query at all.
            if !ever(ctx, advertiser_id).await? {
                return Ok(Known::Days(Arc::new(Activity {
                    covered: range,
                    active_days: BTreeSet::new(),
                    rows: BTreeMap::new(),
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

/// The ledger of the account for a binding, or `None` when the binding reads every day.
pub(crate) async fn for_binding(
    ctx: &Context,
    stream: &str,
    advertiser_id: u64,
) -> Result<Option<Arc<Activity>>> {
    if !applies(ctx, stream) {
        return Ok(None);
    }
    let days = days(ctx, advertiser_id).await?;
    if !skipping_allowed(ctx, advertiser_id).await {
        return Ok(None);
    }
    Ok(days)
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

/// Whether the account ever delivered, for a lifetime binding (always `true` where the ledger
/// does not decide).
pub(crate) async fn ever_active(ctx: &Context, stream: &str, advertiser_id: u64) -> Result<bool> {
    if !applies(ctx, stream) || !skipping_allowed(ctx, advertiser_id).await {
        return Ok(true);
    }
    ever(ctx, advertiser_id).await
}

/// Whether the account ever delivered (its lifetime totals, asked alone unless a batch already
/// told), asked once per run and before its days.
pub(crate) async fn ever(ctx: &Context, advertiser_id: u64) -> Result<bool> {
    ctx.activity
        .ever
        .get_or_try_make(advertiser_id, || async {
            let metrics = ctx.activity.scope().lifetime.clone();
            Ok(match query_one(ctx, advertiser_id, None, &metrics).await {
                Ok(Answer::Rows(rows)) => rows
                    .iter()
                    .any(|r| r.reading != Reading::Zero || r.account != Some(advertiser_id)),
                Ok(Answer::Capped) => {
                    log_capped(advertiser_id);
                    true
                }
                Err(err) if err.stops_the_run() || err.class() == ErrorClass::Permission => {
                    return Err(err)
                }
                Err(err) => {
                    log_unread(ctx, advertiser_id, &err);
                    true
                }
            })
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

fn log_capped(advertiser_id: u64) {
    // Over TikTok's ads cap the account's totals cover only its newest ads, so a day that
    // looks idle may not be: trust nothing of this answer.
    tracing::info!(
        advertiser_id,
        "The ledger's query is over TikTok's ads cap (X-Tt-Ads-Throttle); every report day of \
         this ad account is read."
    );
}

fn log_unread(ctx: &Context, advertiser_id: u64, err: &crate::error::Error) {
    if ctx.first_warning(Warning::NoActivityIndex, None, 0) {
        tracing::warn!(advertiser_id, error = %err, "TikTok did not answer the ledger's query, so every report day of this ad account is read (other accounts that fail the same way are logged at debug level).");
    } else {
        tracing::debug!(advertiser_id, error = %err, "No ledger for this ad account; every report day is read.");
    }
}

/// The account's days over `start..=end`, one query per 30 days. Anything the answers leave
/// unknown makes the whole account unknown (every day read).
async fn build_days(
    ctx: &Context,
    advertiser_id: u64,
    (start, end): (NaiveDate, NaiveDate),
) -> Result<Known> {
    let metrics = ctx.activity.scope().daily.clone();
    let results = futures::stream::iter(windows(start, end, Granularity::Day))
        .map(|window| {
            let metrics = &metrics;
            async move {
                // Too large a query of every additive metric (many metric groups) is asked in
                // parts of them.
                let answer = query_one(ctx, advertiser_id, Some(window), metrics).await;
                (window, answer)
            }
        })
        .buffered(CONCURRENT_WINDOWS);
    futures::pin_mut!(results);
    let mut active_days = BTreeSet::new();
    let mut rows_by_day: BTreeMap<NaiveDate, Vec<Box<RawValue>>> = BTreeMap::new();
    while let Some(((from, to), answer)) = results.next().await {
        let rows = match answer {
            Ok(Answer::Rows(rows)) => rows,
            Ok(Answer::Capped) => {
                log_capped(advertiser_id);
                return Ok(Known::Unknown);
            }
            Err(err) if err.stops_the_run() || err.class() == ErrorClass::Permission => {
                return Err(err)
            }
            Err(err) => {
                log_unread(ctx, advertiser_id, &err);
                return Ok(Known::Unknown);
            }
        };
        for row in rows {
            // A row without a readable day, or of a day not asked about: trust nothing of
            // this account.
            let asked_day = row.day.filter(|d| *d >= from && *d <= to);
            let Some(day) = asked_day.filter(|_| row.account == Some(advertiser_id)) else {
                tracing::info!(
                    advertiser_id,
                    %from,
                    %to,
                    "The ledger's answer holds a row of a day it did not ask about (or without a \
                     readable day); every report day of this ad account is read."
                );
                return Ok(Known::Unknown);
            };
            if row.reading != Reading::Zero {
                active_days.insert(day);
            }
            rows_by_day.entry(day).or_default().push(row.raw);
        }
    }
    tracing::debug!(
        advertiser_id,
        %start,
        %end,
        active_days = active_days.len(),
        "Ledger read."
    );
    Ok(Known::Days(Arc::new(Activity {
        covered: (start, end),
        active_days,
        rows: rows_by_day,
    })))
}

/// How many ad accounts one lifetime question covers (`advertiser_ids`; Run a synchronous
/// report, portal doc 1740302848100353).
///
/// TikTok's multi-account reports are not the rows of per-account queries (money metrics
/// without a decimal point, a cap counted over the batch), so no stream uses them, and the
/// ledger asks only whether each account ever delivered this way: a non-zero count in its
/// lifetime row tells that exactly. Whatever a batch cannot tell (refused, over the cap, an
/// account missing or without a readable row, money that reads as zero) is asked per account;
/// a refused batch ends batching for the run (the accounts may not belong to one TikTok for
/// Business user).
pub(crate) const ACCOUNTS_PER_QUERY: usize = 5;

/// Asks in batches whether each account ever delivered (those with days to read, and all when
/// a lifetime report runs). Fills what [`ever`] would otherwise ask per account.
pub(crate) async fn prime(ctx: &Context, advertisers: &[u64], any_lifetime: bool) -> Result<()> {
    let asked: Vec<u64> = advertisers
        .iter()
        .copied()
        .filter(|id| any_lifetime || ctx.activity.range(*id).is_some())
        .collect();
    let done = futures::stream::iter(asked.chunks(ACCOUNTS_PER_QUERY))
        .filter(|batch| std::future::ready(batch.len() > 1))
        .map(|batch| async move {
            for (id, ever) in batch_ever(ctx, batch).await? {
                ctx.activity.ever.set(id, ever).await;
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

/// One lifetime question over a batch: the accounts it tells about, and whether each ever
/// delivered. An account it does not tell about exactly is left out (asked alone later).
async fn batch_ever(ctx: &Context, batch: &[u64]) -> Result<Vec<(u64, bool)>> {
    if ctx.activity.no_batches.load(Ordering::Relaxed) {
        return Ok(Vec::new());
    }
    let metrics = ctx.activity.scope().lifetime.clone();
    let rows = match query_with(ctx, Accounts::Many(batch), None, &metrics).await {
        Ok(Answer::Rows(rows)) => rows,
        Ok(Answer::Capped) => return Ok(Vec::new()),
        Err(err) if err.stops_the_run() => return Err(err),
        Err(err) => {
            ctx.activity.no_batches.store(true, Ordering::Relaxed);
            tracing::info!(error = %err, "TikTok refused a ledger query over several ad accounts; the ledger asks per account for the rest of this run.");
            return Ok(Vec::new());
        }
    };
    let mut readings: HashMap<u64, Reading> = HashMap::new();
    for row in rows {
        // A row of an account not asked about (or without one): nothing of the answer is used.
        let Some(id) = row.account.filter(|id| batch.contains(id)) else {
            return Ok(Vec::new());
        };
        let reading = readings.entry(id).or_insert(Reading::Zero);
        *reading = match (*reading, row.reading) {
            (Reading::NonZero, _) | (_, Reading::NonZero) => Reading::NonZero,
            (Reading::Unknown, _) | (_, Reading::Unknown) => Reading::Unknown,
            _ => Reading::Zero,
        };
    }
    // Only a non-zero count tells for sure; a zero, a money zero without decimals or a missing
    // account is asked alone.
    Ok(readings
        .into_iter()
        .filter(|(_, r)| *r == Reading::NonZero)
        .map(|(id, _)| (id, true))
        .collect())
}

/// The ad accounts one ledger query covers.
#[derive(Clone, Copy)]
enum Accounts<'a> {
    One(u64),
    Many(&'a [u64]),
}

/// The parameters of one advertiser-level query: the shared stream's own query (its
/// dimensions and filters, the ledger's metrics) when it is enabled and one account is asked.
fn ledger_params(
    ctx: &Context,
    accounts: Accounts<'_>,
    window: Option<(NaiveDate, NaiveDate)>,
    metrics: &[&str],
) -> Params {
    let spec = parts::ledger_spec(window.is_some(), metrics);
    let filters = report_query::filtering(&spec, ctx.config.include_deleted, None);
    match accounts {
        Accounts::One(id) => report_query::params(&spec, id, window, &filters),
        Accounts::Many(ids) => {
            let mut params = report_query::params(&spec, ids[0], window, &filters);
            params.retain(|(k, _)| *k != "advertiser_id");
            let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
            params.push(("advertiser_ids", serde_json::json!(ids).to_string()));
            params.push(("multi_adv_report_in_utc_time", "false".into()));
            params
        }
    }
}

/// One account's ledger query (lifetime, or daily over `window`), asked in parts of its
/// metrics when TikTok finds it too large (many metric groups; see `ledger_rows`): at once once
/// a query of the run took parts.
async fn query_one(
    ctx: &Context,
    advertiser_id: u64,
    window: Option<(NaiveDate, NaiveDate)>,
    metrics: &[&str],
) -> Result<Answer> {
    let accounts = Accounts::One(advertiser_id);
    let widths = Widths::of_ledger(ctx);
    if widths.parts(metrics.len()) < 2 {
        let whole = query_with(ctx, accounts, window, metrics).await;
        if !parts::calls_for_parts(&whole, metrics) {
            return whole;
        }
        widths.refused(metrics.len());
    }
    let spec = parts::ledger_spec(window.is_some(), metrics);
    // The ledger never halves its windows: a part refused is a width refused.
    let split = read_in_parts(&spec, widths, true, advertiser_id, async |part| {
        let asked: Vec<&str> = part.metrics.iter().map(String::as_str).collect();
        match query_with(ctx, accounts, window, &asked).await {
            Ok(Answer::Rows(rows)) => Ok(Part::Rows(rows.into_iter().map(|r| r.raw).collect())),
            Ok(Answer::Capped) => Ok(Part::Capped),
            Err(err) if err.class() == ErrorClass::QueryTooLarge => Ok(Part::TooLarge(err)),
            Err(err) => Err(err),
        }
    })
    .await;
    // A day is idle only if every metric of every part reads zero: the joined rows are read
    // as one answer's.
    let judged: Vec<&str> = metrics.iter().copied().filter(|m| additive(m)).collect();
    Ok(match split.joined? {
        Some(rows) => Answer::Rows(
            rows.into_iter()
                .map(|raw| ledger_row(raw, accounts, window, &judged, false).0)
                .collect(),
        ),
        None => Answer::Capped,
    })
}

/// One ledger query (lifetime, or daily over `window`) and its rows.
async fn query_with(
    ctx: &Context,
    accounts: Accounts<'_>,
    window: Option<(NaiveDate, NaiveDate)>,
    metrics: &[&str],
) -> Result<Answer> {
    let query = ListQuery {
        endpoint: REPORT_PATH,
        params: ledger_params(ctx, accounts, window, metrics),
        list_key: "list",
        page_size: PAGE_SIZE,
    };
    let rounded_money = matches!(accounts, Accounts::Many(_));
    // Only the additive metrics decide; rates and costs of the shared stream's list are `-`
    // or zero on idle days and derive from these.
    let judged: Vec<&str> = metrics.iter().copied().filter(|m| additive(m)).collect();
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
            return Ok(Answer::Capped);
        }
        for raw in page.records {
            let (row, named) = ledger_row(raw, accounts, window, &judged, rounded_money);
            if let Some(unasked) = &mut unasked {
                // Counted for the one warning; the ledger reads such rows as unknown below.
                if unasked.keeps_account(named) {
                    unasked.keeps_day(row.day);
                }
            }
            rows.push(row);
        }
    }
    if let Some(unasked) = unasked {
        unasked.warn("activity index");
    }
    Ok(Answer::Rows(rows))
}

/// One row of a ledger answer as TikTok sent it, read: its account (a row naming another
/// account than the one asked is not this account's), its day (daily queries), and how the
/// `judged` metrics read; with the account the row names.
fn ledger_row(
    raw: Box<RawValue>,
    accounts: Accounts<'_>,
    window: Option<(NaiveDate, NaiveDate)>,
    judged: &[&str],
    rounded_money: bool,
) -> (LedgerRow, Option<u64>) {
    let row: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
    let named = crate::capture::record::id_of(&row["dimensions"]["advertiser_id"]);
    let account = match accounts {
        Accounts::One(id) => match named {
            Some(other) if other != id => None,
            _ => Some(id),
        },
        Accounts::Many(_) => named,
    };
    let day = parts::row_day(&row).filter(|_| window.is_some());
    let reading = read_row(&row["metrics"], judged, rounded_money);
    let row = LedgerRow {
        account,
        day,
        reading,
        raw,
    };
    (row, named)
}

/// The spot checks of a run: after the ledger of every account is read, and before any
/// report binding starts, a seeded random sample of the account-days the ledger lets the
/// bindings skip is read at the ad level; an account whose rows there are not zero is
/// distrusted. An account an earlier run distrusted has the day it found read again, and is
/// trusted again when the rows of that day add up to the totals.
pub(crate) async fn spot_check(
    ctx: &Context,
    bindings: &[Binding],
    advertisers: &[Advertiser],
) -> Result<()> {
    if ctx.activity.off.load(Ordering::Relaxed) || ctx.config.is_sandbox() {
        return Ok(());
    }
    recheck_distrusted(ctx).await?;
    let mut skipped: Vec<(u64, NaiveDate)> = Vec::new();
    for advertiser in advertisers {
        let id = advertiser.id;
        let Some((start, end)) = ctx.activity.range(id) else {
            continue;
        };
        if ctx.activity.is_distrusted(id) || over_cap_by_count(ctx, id).await {
            continue;
        }
        let Some(Known::Days(activity)) = ctx.activity.days.peek(id).await else {
            continue;
        };
        // Days not over yet where the account lives prove nothing: their rows are still coming.
        let last_complete = ctx.config.clock.last_complete_day(advertiser.time_zone);
        let mut day = start.max(activity.covered.0);
        while day <= end.min(activity.covered.1).min(last_complete) {
            if !activity.active_days.contains(&day) {
                skipped.push((id, day));
            }
            let Some(next) = day.succ_opt() else { break };
            day = next;
        }
    }
    if skipped.is_empty() {
        return Ok(());
    }
    let sample = sample_size(skipped.len() as u64, bindings);
    let seed = spot_check_seed();
    let chosen = choose(&skipped, sample, seed);
    tracing::info!(
        skipped_account_days = skipped.len(),
        spot_checks = chosen.len(),
        seed,
        "Spot checks: reading a sample of the account-days the ledger skips at the ad level."
    );
    let results = futures::stream::iter(chosen)
        .map(|(id, day)| async move { (id, day, ad_level_day(ctx, id, day).await) })
        .buffer_unordered(unit_concurrency(&ctx.config));
    futures::pin_mut!(results);
    while let Some((id, day, answer)) = results.next().await {
        ctx.activity.spot_checked.fetch_add(1, Ordering::Relaxed);
        match answer? {
            AdLevel::Totals(sums) => {
                if let Some((metric, value)) = sums.into_iter().find(|(_, v)| *v != 0.0) {
                    distrust(ctx, id, day, &metric, value);
                }
            }
            AdLevel::Unread => {}
        }
    }
    Ok(())
}

/// Logs what the ledger did this run: its requests, the account-days spot-checked, those that
/// disagreed, and the accounts whose days were all read for distrust.
pub(crate) fn log_summary(ctx: &Context) {
    let index = &ctx.activity;
    if index.off.load(Ordering::Relaxed) {
        return;
    }
    let distrusted = index
        .distrusted
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .len();
    tracing::info!(
        ledger_requests = index.requests.load(Ordering::Relaxed),
        spot_checked_account_days = index.spot_checked.load(Ordering::Relaxed),
        spot_checks_finding_rows = index.spot_check_failures.load(Ordering::Relaxed),
        distrusted_accounts = distrusted,
        "Ledger summary."
    );
}

/// How many account-days a run reads at ad level: one per 400 requests the skipped days save
/// (a quarter of the 1% the checks may cost), at least one. A skipped day saves a query per
/// hourly binding and about a thirtieth of one per daily binding.
fn sample_size(skipped_days: u64, bindings: &[Binding]) -> usize {
    let (mut hourly, mut daily) = (0u64, 0u64);
    for binding in bindings {
        if let StreamSpec::Report(spec) = &binding.stream.spec {
            match spec.granularity {
                Granularity::Hour => hourly += 1,
                Granularity::Day => daily += 1,
                Granularity::Lifetime => {}
            }
        }
    }
    let saved = skipped_days * hourly + skipped_days * daily / MAX_DAILY_WINDOW;
    (saved / 400).max(1) as usize
}

/// The sample's seed: the run's start time, so each run reads other days (and the log line
/// that names it lets a run be repeated).
fn spot_check_seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64)
}

/// `n` of `items`, chosen at random from `seed` (a partial Fisher-Yates shuffle).
fn choose<T: Copy>(items: &[T], n: usize, seed: u64) -> Vec<T> {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut pool = items.to_vec();
    let n = n.min(pool.len());
    for i in 0..n {
        let j = rng.random_range(i..pool.len());
        pool.swap(i, j);
    }
    pool.truncate(n);
    pool
}

/// Marks the account distrusted for this run and the next ones, with one warning.
fn distrust(ctx: &Context, advertiser_id: u64, day: NaiveDate, metric: &str, value: f64) {
    let mut distrusted = ctx
        .activity
        .distrusted
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if distrusted.contains_key(&advertiser_id) {
        return;
    }
    distrusted.insert(advertiser_id, Distrust { day });
    ctx.activity
        .spot_check_failures
        .fetch_add(1, Ordering::Relaxed);
    tracing::warn!(
        advertiser_id,
        %day,
        metric,
        ad_level_sum = value,
        "TikTok's advertiser-level totals and its ad-level rows disagree: the totals say the ad \
         account had nothing on this day, but its ads' rows are not zero. Every report day of \
         this ad account is read, in this run and the next ones, until a run's ad-level read \
         agrees with the totals."
    );
}

/// Reads again, at ad level, the day an earlier run found wrong for each distrusted account,
/// and trusts the account again when the totals of that day now show every metric its ad rows
/// show (a total of zero with non-zero rows is what skipping cannot survive).
async fn recheck_distrusted(ctx: &Context) -> Result<()> {
    let before: Vec<(u64, NaiveDate)> = ctx
        .activity
        .distrusted_before
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .iter()
        .map(|(id, day)| (*id, *day))
        .collect();
    for (id, day) in before {
        let Some(totals) = totals_of_day(ctx, id, day).await? else {
            continue;
        };
        let AdLevel::Totals(sums) = ad_level_day(ctx, id, day).await? else {
            continue;
        };
        ctx.activity.spot_checked.fetch_add(1, Ordering::Relaxed);
        // What skipping rests on: a total of zero means no row with that metric. The day
        // agrees when every metric its ad rows show is also in the totals.
        let agrees = sums.iter().all(|(metric, sum)| {
            *sum == 0.0 || totals.get(metric).is_some_and(|(total, _)| *total != 0.0)
        });
        if agrees {
            ctx.activity
                .distrusted
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&id);
            tracing::info!(
                advertiser_id = id,
                %day,
                "TikTok's totals now show what the ad-level rows of the day they were found \
                 wrong show: the account's idle days are skipped again."
            );
        }
    }
    Ok(())
}

/// The account's totals of one day per metric: from the ledger when it covers the day, else
/// asked (one query). `None` when they cannot be read.
async fn totals_of_day(
    ctx: &Context,
    advertiser_id: u64,
    day: NaiveDate,
) -> Result<Option<HashMap<String, (f64, f64)>>> {
    if let Some(Known::Days(activity)) = ctx.activity.days.peek(advertiser_id).await {
        if day >= activity.covered.0 && day <= activity.covered.1 {
            let rows = activity
                .rows
                .get(&day)
                .map(Vec::as_slice)
                .unwrap_or_default();
            return Ok(Some(day_totals(rows)));
        }
    }
    let metrics = ctx.activity.scope().daily.clone();
    match query_with(
        ctx,
        Accounts::One(advertiser_id),
        Some((day, day)),
        &metrics,
    )
    .await
    {
        Ok(Answer::Rows(rows)) => {
            let rows: Vec<Box<RawValue>> = rows
                .into_iter()
                .filter(|r| r.day == Some(day) && r.account == Some(advertiser_id))
                .map(|r| r.raw)
                .collect();
            Ok(Some(day_totals(&rows)))
        }
        Ok(Answer::Capped) => Ok(None),
        Err(err) if err.stops_the_run() => Err(err),
        Err(_) => Ok(None),
    }
}

/// The totals of one day's ledger rows per metric, with TikTok's rounding (half a unit of the
/// last decimal sent); none for a day without a row.
fn day_totals(rows: &[Box<RawValue>]) -> HashMap<String, (f64, f64)> {
    let mut out: HashMap<String, (f64, f64)> = HashMap::new();
    for raw in rows {
        let row: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
        if let Some(metrics) = row["metrics"].as_object() {
            for (name, value) in metrics {
                if let Some((x, tolerance)) = figure(value) {
                    let entry = out.entry(name.clone()).or_default();
                    entry.0 += x;
                    entry.1 += tolerance;
                }
            }
        }
    }
    out
}

/// A number TikTok sent (a JSON number, or a number in a string) and half a unit of its last
/// decimal (the reconciliation's reading of a figure, counts not told apart).
pub(crate) fn figure(value: &Value) -> Option<(f64, f64)> {
    match value {
        Value::Number(n) => figure_text(&n.to_string(), false),
        Value::String(s) => figure_text(s, false),
        _ => None,
    }
}

/// What an ad-level read of one account-day found.
enum AdLevel {
    /// The sum of each ledger metric over the day's ad rows.
    Totals(Vec<(String, f64)>),
    /// Refused, over the cap, or unreadable: it proves nothing either way.
    Unread,
}

/// Reads one account-day at ad level (every ad, deleted ones included) and sums each ledger
/// metric TikTok serves there.
async fn ad_level_day(ctx: &Context, advertiser_id: u64, day: NaiveDate) -> Result<AdLevel> {
    let metrics: Vec<String> = ctx
        .activity
        .scope()
        .daily
        .iter()
        .filter(|m| allowed(m, Level::Ad, Granularity::Day))
        .map(|m| m.to_string())
        .collect();
    let spec = ReportSpec {
        report_type: ReportType::Basic,
        level: Level::Ad,
        granularity: Granularity::Day,
        dimensions: vec!["ad_id".into(), "stat_time_day".into()],
        metrics: metrics.clone(),
        filtering: Vec::new(),
        layout: RecordLayout::Nested,
    };
    let filters = report_query::filtering(&spec, true, None);
    let query = ListQuery {
        endpoint: REPORT_PATH,
        params: report_query::params(&spec, advertiser_id, Some((day, day)), &filters),
        list_key: "list",
        page_size: PAGE_SIZE,
    };
    let pages = ctx.pages(CountFor::ActivityIndex, query);
    futures::pin_mut!(pages);
    let mut sums: Vec<(String, f64)> = metrics.into_iter().map(|m| (m, 0.0)).collect();
    while let Some(page) = pages.next().await {
        let page = match page {
            Ok(page) => page,
            Err(err) if err.stops_the_run() => return Err(err),
            Err(err) => {
                tracing::debug!(advertiser_id, %day, error = %err, "A spot check could not be read.");
                return Ok(AdLevel::Unread);
            }
        };
        if page.ads_throttled {
            return Ok(AdLevel::Unread);
        }
        for raw in &page.records {
            let row: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
            for (name, sum) in sums.iter_mut() {
                if let Some((x, _)) = figure(&row["metrics"][name.as_str()]) {
                    *sum += x;
                }
            }
        }
    }
    Ok(AdLevel::Totals(sums))
}

/// The rows of the shared advertiser daily stream for `from..=to`, when the ledger's query was
/// that stream's and covered those days: each with only the stream's own metrics, as its own
/// query would have answered. `None`: the stream queries those days itself.
pub(crate) async fn shared_rows(
    ctx: &Context,
    stream: &str,
    advertiser_id: u64,
    (from, to): (NaiveDate, NaiveDate),
) -> Option<Vec<Box<RawValue>>> {
    let (name, own) = ctx.activity.scope().shared_stream.as_ref()?;
    if name != stream || ctx.activity.off.load(Ordering::Relaxed) || ctx.config.is_sandbox() {
        return None;
    }
    let Some(Known::Days(activity)) = ctx.activity.days.peek(advertiser_id).await else {
        return None;
    };
    if from < activity.covered.0 || to > activity.covered.1 {
        return None;
    }
    let mut out = Vec::new();
    for rows in activity.rows.range(from..=to).map(|(_, rows)| rows) {
        for raw in rows {
            out.push(own_fields(raw, own)?);
        }
    }
    Some(out)
}

/// A ledger row with only `own` of its metrics, in the order sent.
fn own_fields(raw: &RawValue, own: &[String]) -> Option<Box<RawValue>> {
    let mut row: Value = serde_json::from_str(raw.get()).ok()?;
    row.get_mut("metrics")?
        .as_object_mut()?
        .retain(|name, _| own.iter().any(|m| m == name));
    serde_json::value::to_raw_value(&row).ok()
}

/// Whether the ledger reads the shared stream's days for it (the plan counts no request for
/// them).
pub(crate) async fn serves(
    ctx: &Context,
    stream: &str,
    advertiser_id: u64,
    window: (NaiveDate, NaiveDate),
) -> bool {
    shared_rows(ctx, stream, advertiser_id, window)
        .await
        .is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    /// The ledger's parts joined by day (the reports' `Joined`) read as one answer's rows: a day
    /// is idle only if every part reads zero, a dash in any part leaves it unknown, and another
    /// account's row is not the asked account's.
    #[test]
    fn a_day_of_parts_is_idle_only_if_every_part_reads_zero_and_its_rows_are_joined() {
        use crate::capture::report::wide::Joined;
        let spec = crate::capture::ledger_rows::ledger_spec(true, &["spend", "conversion"]);
        let row = |account: &str, day: &str, metrics: &str| {
            RawValue::from_string(format!(
                r#"{{"dimensions":{{"advertiser_id":"{account}","stat_time_day":"{day} 00:00:00"}},"metrics":{metrics}}}"#
            ))
            .unwrap()
        };
        let mut joined = Joined::default();
        for raw in [
            row("7", "2024-01-01", r#"{"spend":"0"}"#),
            row("7", "2024-01-02", r#"{"spend":"0"}"#),
            row("7", "2024-01-03", r#"{"spend":"1.00"}"#),
            row("8", "2024-01-01", r#"{"spend":"5"}"#),
            row("7", "2024-01-01", r#"{"conversion":"2"}"#),
            row("7", "2024-01-02", r#"{"conversion":"0"}"#),
            row("7", "2024-01-03", r#"{"conversion":"-"}"#),
        ] {
            joined.add(&spec, raw);
        }
        let window = Some((d("2024-01-01"), d("2024-01-03")));
        let judged = ["spend", "conversion"];
        let rows: Vec<LedgerRow> = joined
            .into_rows()
            .into_iter()
            .map(|raw| ledger_row(raw, Accounts::One(7), window, &judged, false).0)
            .collect();
        let by_day: BTreeMap<String, (Reading, Value)> = rows
            .iter()
            .filter(|r| r.account == Some(7))
            .map(|r| {
                let value: Value = serde_json::from_str(r.raw.get()).unwrap();
                (r.day.unwrap().to_string(), (r.reading, value))
            })
            .collect();
        assert_eq!(by_day.len(), 3);
        assert_eq!(by_day["2024-01-01"].0, Reading::NonZero);
        assert_eq!(by_day["2024-01-02"].0, Reading::Zero);
        assert_eq!(by_day["2024-01-03"].0, Reading::NonZero);
        assert_eq!(by_day["2024-01-01"].1["metrics"]["spend"], "0");
        assert_eq!(by_day["2024-01-01"].1["metrics"]["conversion"], "2");
        // Another account's row is left apart, for the caller to distrust.
        assert_eq!(rows.iter().filter(|r| r.account.is_none()).count(), 1);
        // A dash where every other figure is zero leaves the day unknown.
        let dash = json!({"spend": "0", "conversion": "-"});
        assert_eq!(read_row(&dash, &judged, false), Reading::Unknown);
    }

    #[test]
    fn only_an_exact_zero_reads_as_zero() {
        let asked = ["spend", "impressions", "clicks", "conversion"];
        let zero = json!({"spend": "0.000", "impressions": "0", "clicks": 0, "conversion": "0"});
        assert_eq!(read_row(&zero, &asked, false), Reading::Zero);
        // A rounded money zero from a multi-account answer is not an exact zero.
        assert_eq!(read_row(&zero, &asked, true), Reading::Unknown);
        let with = |name: &str, value: Value| {
            let mut row = zero.clone();
            row[name] = value;
            read_row(&row, &asked, false)
        };
        assert_eq!(with("conversion", json!("1")), Reading::NonZero);
        assert_eq!(with("spend", json!(0.01)), Reading::NonZero);
        for unreadable in [json!("-"), json!(null), json!("n/a"), json!(""), json!([])] {
            assert_eq!(
                with("conversion", unreadable.clone()),
                Reading::Unknown,
                "{unreadable}"
            );
        }
        // A metric asked but missing from the row.
        let mut missing = zero.clone();
        missing.as_object_mut().unwrap().remove("conversion");
        assert_eq!(read_row(&missing, &asked, false), Reading::Unknown);
        // Non-zero wins over unknown: the day is read either way.
        assert_eq!(
            read_row(
                &json!({"spend": "-", "impressions": "3"}),
                &["spend", "impressions"],
                false
            ),
            Reading::NonZero
        );
        assert_eq!(
            read_row(&json!("not an object"), &asked, false),
            Reading::Unknown
        );
    }

    #[test]
    fn days_outside_the_index_count_as_active() {
        let a = Activity {
            covered: (d("2024-06-01"), d("2024-06-30")),
            active_days: [d("2024-06-10")].into_iter().collect(),
            rows: BTreeMap::new(),
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
            rows: BTreeMap::new(),
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
