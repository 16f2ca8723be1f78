//! Reconciliation: after the reports of a run, the sums of each additive metric over the rows
//! each daily report stream emitted at the campaign, ad group and ad level, per ad account and
//! day read in full, compared with the ledger's advertiser-level totals of that day. TikTok
//! rounds every row, so a level may differ from the totals by half a unit of the last decimal
//! it sends per row summed (and the total's own half unit); a larger difference is a row the
//! capture does not hold, or one the totals do not: one warning per account, level and stream
//! names the days, the metric, both figures and the likely cause where the connector knows it.
//!
//! Only rows of the auction and reach & frequency scope are summed: TikTok's advertiser-level
//! totals without a `buying_type` filter do not cover TopView, whose rows the report streams
//! read with a query of their own. Hourly reports are not compared (TikTok rounds small counts
//! per hour), nor breakdowns, custom reports or asynchronous tasks' rows.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::Ordering;
use std::sync::Mutex;

use chrono::NaiveDate;
use serde_json::value::RawValue;
use serde_json::Value;

use super::activity::{self, figure};
use super::context::Context;
use super::report::ReportUnit;
use super::shared::Known;
use crate::registry::metrics::{Granularity, Level, ReportType};

/// What the run's report units emitted, summed per account, level, stream and day.
#[derive(Debug, Default)]
pub(crate) struct Reconciler {
    sums: Mutex<HashMap<Key, DaySums>>,
    /// Days each (account, level, stream) read in full (queried windows), and the metrics
    /// compared: the stream's that the ledger holds.
    read: Mutex<HashMap<Group, ReadDays>>,
}

/// An account, a level and a stream.
type Group = (u64, Level, String);
/// The days a group read in full, and the metrics compared.
type ReadDays = (BTreeSet<NaiveDate>, Vec<String>);
type Key = (u64, Level, String, NaiveDate);

/// One day's sums at one level: per metric, the sum and the rounding it may carry.
#[derive(Debug, Default, Clone)]
struct DaySums {
    metrics: BTreeMap<String, (f64, f64)>,
}

/// Whether a unit's rows are compared: a built-in daily BASIC report at campaign, ad group or
/// ad level without a breakdown, for an account whose ledger the run read.
fn compared(ctx: &Context, unit: &ReportUnit<'_>) -> bool {
    let spec = unit.spec;
    spec.report_type == ReportType::Basic
        && matches!(spec.level, Level::Campaign | Level::AdGroup | Level::Ad)
        && spec.granularity == Granularity::Day
        && spec.dimensions.len() == 2
        && activity::applies(ctx, unit.stream)
}

impl Reconciler {
    /// Notes the days of a window a unit read in full.
    pub(crate) fn read_window(
        &self,
        ctx: &Context,
        unit: &ReportUnit<'_>,
        (from, to): (NaiveDate, NaiveDate),
    ) {
        if !compared(ctx, unit) {
            return;
        }
        let mut read = self.read.lock().unwrap_or_else(|e| e.into_inner());
        let (days, metrics) = read
            .entry((unit.advertiser.id, unit.spec.level, unit.stream.to_string()))
            .or_insert_with(|| (BTreeSet::new(), compared_metrics(ctx, unit)));
        let _ = metrics;
        days.extend(from.iter_days().take_while(|d| *d <= to));
    }

    /// Adds the rows a unit emitted (of the auction and reach & frequency scope).
    pub(crate) fn add_rows(&self, ctx: &Context, unit: &ReportUnit<'_>, rows: &[Box<RawValue>]) {
        if !compared(ctx, unit) {
            return;
        }
        let wanted = compared_metrics(ctx, unit);
        let mut sums = self.sums.lock().unwrap_or_else(|e| e.into_inner());
        for raw in rows {
            let Ok(row) = serde_json::from_str::<Value>(raw.get()) else {
                continue;
            };
            let Some(day) = row["dimensions"]["stat_time_day"]
                .as_str()
                .and_then(|t| NaiveDate::parse_from_str(t.get(..10)?, "%Y-%m-%d").ok())
            else {
                continue;
            };
            let key = (
                unit.advertiser.id,
                unit.spec.level,
                unit.stream.to_string(),
                day,
            );
            let entry = sums.entry(key).or_default();
            for name in &wanted {
                if let Some((x, rounding)) = figure(&row["metrics"][name.as_str()]) {
                    let slot = entry.metrics.entry(name.to_string()).or_default();
                    slot.0 += x;
                    slot.1 += rounding;
                }
            }
        }
    }
}

/// The metrics of a unit that are compared: those it requests that the ledger holds (every
/// such one is additive).
fn compared_metrics(ctx: &Context, unit: &ReportUnit<'_>) -> Vec<String> {
    let ledger = &ctx.activity.scope().daily;
    unit.spec
        .metrics
        .iter()
        .filter(|m| ledger.contains(&m.as_str()))
        .filter(|m| {
            crate::registry::metric_catalog::lookup(m).is_some_and(|metric| metric.additive)
        })
        .cloned()
        .collect()
}

/// One difference found: a day, a metric, the ledger's total and the level's sum.
struct Difference {
    day: NaiveDate,
    metric: String,
    ledger: f64,
    level: f64,
}

/// Compares every (account, level, stream) read in full with the ledger and warns once per
/// group that differs; returns the account-days compared and those that differ.
pub(crate) async fn reconcile(ctx: &Context) -> (u64, u64) {
    let read = std::mem::take(&mut *ctx.reconcile.read.lock().unwrap_or_else(|e| e.into_inner()));
    let sums = std::mem::take(&mut *ctx.reconcile.sums.lock().unwrap_or_else(|e| e.into_inner()));
    let mut compared: BTreeSet<(u64, NaiveDate)> = BTreeSet::new();
    let mut differing: BTreeSet<(u64, NaiveDate)> = BTreeSet::new();
    let mut groups: Vec<_> = read.into_iter().collect();
    groups.sort_by(|a, b| (a.0 .0, a.0 .2.as_str()).cmp(&(b.0 .0, b.0 .2.as_str())));
    for ((advertiser_id, level, stream), (days, metrics)) in groups {
        let Some(Known::Days(ledger)) = ctx.activity.days.peek(advertiser_id).await else {
            continue;
        };
        let mut found: Vec<Difference> = Vec::new();
        for day in days {
            if day < ledger.covered.0 || day > ledger.covered.1 {
                continue;
            }
            compared.insert((advertiser_id, day));
            let totals = ledger_day(&ledger.rows, day);
            let level_sums = sums
                .get(&(advertiser_id, level, stream.clone(), day))
                .cloned()
                .unwrap_or_default();
            for metric in &metrics {
                // A total the ledger could not read is not compared.
                let Some(&(total, total_rounding)) = totals.get(metric) else {
                    if ledger.rows.contains_key(&day) {
                        continue;
                    }
                    // No ledger row: the totals are zero that day.
                    let (sum, rounding) =
                        level_sums.metrics.get(metric).copied().unwrap_or_default();
                    if (sum).abs() > rounding + 1e-9 {
                        differing.insert((advertiser_id, day));
                        found.push(Difference {
                            day,
                            metric: metric.clone(),
                            ledger: 0.0,
                            level: sum,
                        });
                    }
                    continue;
                };
                let (sum, rounding) = level_sums.metrics.get(metric).copied().unwrap_or_default();
                if (total - sum).abs() > rounding + total_rounding + 1e-9 {
                    differing.insert((advertiser_id, day));
                    found.push(Difference {
                        day,
                        metric: metric.clone(),
                        ledger: total,
                        level: sum,
                    });
                }
            }
        }
        if let Some(first) = found.first() {
            let days: BTreeSet<NaiveDate> = found.iter().map(|d| d.day).collect();
            let days: Vec<String> = days.iter().map(|d| d.to_string()).collect();
            let metrics: BTreeSet<&str> = found.iter().map(|d| d.metric.as_str()).collect();
            let cause = likely_cause(ctx, advertiser_id).await;
            tracing::warn!(
                advertiser_id,
                level = level.data_level(),
                stream = stream.as_str(),
                days = days.join(", "),
                metric = first.metric.as_str(),
                day = %first.day,
                ledger_value = first.ledger,
                level_sum = first.level,
                metrics = ?metrics,
                likely_cause = cause,
                "The {} rows this stream captured do not add up to TikTok's advertiser-level \
                 totals on {} day(s): {} on {} is {} in the totals and {} over the rows. Likely \
                 cause: {cause}.",
                level.data_level(),
                days.len(),
                first.metric,
                first.day,
                first.ledger,
                first.level,
            );
        }
    }
    (compared.len() as u64, differing.len() as u64)
}

/// What the connector knows that makes a level's rows differ from the totals.
async fn likely_cause(ctx: &Context, advertiser_id: u64) -> &'static str {
    let over_cap = super::report::peek_inventory(ctx, advertiser_id)
        .await
        .is_some_and(|i| {
            i.auction_and_reach_frequency_ads > super::report::splits::MAX_ADS_PER_QUERY as u64
        });
    if over_cap {
        "the account is over TikTok's ads cap, so some answers cover only its newest ads"
    } else if !ctx.config.include_deleted {
        "include_deleted is false: the totals count deleted campaigns, ad groups and ads, the rows do not"
    } else {
        "not known to the connector: rows TikTok left out of one level's answers, or totals that do not cover every row"
    }
}

/// The ledger's totals of one day per metric, with their rounding (half a unit of the last
/// decimal sent).
fn ledger_day(
    rows: &BTreeMap<NaiveDate, Vec<Box<RawValue>>>,
    day: NaiveDate,
) -> HashMap<String, (f64, f64)> {
    let mut out: HashMap<String, (f64, f64)> = HashMap::new();
    for raw in rows.get(&day).map(Vec::as_slice).unwrap_or_default() {
        let Ok(row) = serde_json::from_str::<Value>(raw.get()) else {
            continue;
        };
        if let Some(metrics) = row["metrics"].as_object() {
            for (name, value) in metrics {
                if let Some((x, rounding)) = figure(value) {
                    let slot = out.entry(name.clone()).or_default();
                    slot.0 += x;
                    slot.1 += rounding;
                }
            }
        }
    }
    out
}

/// Records the outcome for the run's last log line.
pub(crate) async fn finish(ctx: &Context) {
    let (compared, differing) = reconcile(ctx).await;
    ctx.client
        .stats
        .reconciled_account_days
        .store(compared, Ordering::Relaxed);
    ctx.client
        .stats
        .differing_account_days
        .store(differing, Ordering::Relaxed);
}
