//! Reconciliation: when a daily report unit at the campaign, ad group or ad level ends, the sum
//! of each additive metric over the rows it emitted, per day it read in full, is compared with
//! the ledger's advertiser-level total of that day ([`super::activity`]). TikTok rounds every
//! row to the decimals it sends, so a level may differ from the totals by half a unit of the
//! last decimal of each figure summed, plus the total's own half unit; counts sent as whole
//! numbers are exact. A larger difference is a row the capture does not hold, or one the
//! totals count and no row shows: one warning per account, level and stream names the days (as
//! ranges), a metric, the ledger's value, the level's sum and the likely cause where the
//! connector knows it (a capped answer, an account over the ads cap, distrusted totals,
//! `include_deleted` false, a refused buying type filter). The opt-in stream
//! `reconciliation_daily` gets one record per account, day and level with both figures, their
//! differences and the verdict. The account-days compared and those that differ are counted
//! once per account ([`tally::RunCounts`]) and reported by `Capture finished.`.
//!
//! What is compared is only what both sides cover:
//! - Buying types. The level's rows of the auction and reach & frequency scope are summed,
//!   and its TopView rows (asked apart with the `buying_type` filter `RESERVATION_TOP_VIEW`)
//!   apart. TikTok's Run a synchronous report (portal doc 1740302848100353) says the
//!   advertiser level holds "data of all Auction Ads and Reservation Ads", yet below it
//!   TopView comes only with that filter, which the advertiser level does not take: whether
//!   the totals count TopView is not settled, so a day agrees when the totals match the
//!   level's rows either without or with its TopView rows.
//! - Deleted entities: the advertiser totals count their delivery (the level takes no status
//!   filter); the level rows do only with `include_deleted` (TikTok's report default is
//!   `STATUS_NOT_DELETE`). They are compared either way, and a difference names
//!   `include_deleted` false as its likely cause.
//! - Daily streams only. The hourly streams are the same delivery cut by hour and the record
//!   holds one figure per day and level; summing 24 rounded rows would widen the tolerance for
//!   no additional check, and TikTok serves fewer metrics by hour.
//! - No breakdowns (audience or country reports): TikTok does not document that its buckets
//!   cover every impression (an age or country it cannot tell), so their sums may rightly fall
//!   short of the level's. Nor custom reports, whose own filters select part of a level.
//! - Days over where the account lives: the day in progress keeps changing between the
//!   ledger's read and the level's. Days the ledger let the unit skip (exact zeros), days it
//!   could not read (refused, over the cap, unreadable) and figures that are not numbers (`-`)
//!   are not compared, and the record says why.

pub(crate) mod tally;

use std::collections::BTreeSet;
use std::fmt::Write as _;

use chrono::NaiveDate;
use serde_json::{json, Map, Value};

use super::activity::{self, LEDGER_ADS_CAP};
use super::binding::Binding;
use super::context::Context;
use super::report::ReportUnit;
use super::shared::Known;
use crate::error::Result;
use crate::registry::StreamSpec;
use tally::{differs, Figure, TallyDays};

/// The opt-in stream of the reconciliation's records.
pub(crate) const STREAM: &str = "reconciliation_daily";

/// Fixes how many compared report units each account has (one per compared binding), so an
/// account's days are counted once its last one ended.
pub(crate) fn plan(ctx: &Context, bindings: &[Binding]) {
    let compared = bindings
        .iter()
        .filter(|b| compared(ctx, b.stream.name.as_str(), &b.stream.spec))
        .count() as u64;
    ctx.reconciled
        .units_per_account
        .store(compared, std::sync::atomic::Ordering::Relaxed);
}

fn compared(ctx: &Context, stream: &str, spec: &StreamSpec) -> bool {
    match spec {
        StreamSpec::Report(spec) => activity::reconciled_metrics(ctx, stream, spec).is_some(),
        StreamSpec::Row(_) => false,
    }
}

/// How one day of one level compares with the ledger.
#[derive(Debug)]
enum Verdict {
    Agree,
    /// The metrics whose sums differ beyond the rounding.
    Differ(Vec<usize>),
    NotCompared(&'static str),
}

/// One day's figures and verdict.
struct DayVerdict {
    day: NaiveDate,
    rows: u64,
    ledger: Option<Vec<Figure>>,
    level: Option<Vec<Figure>>,
    verdict: Verdict,
}

/// Compares what a report unit emitted with the ledger, once the unit ended: warns once if
/// some day differs, counts its days, and emits the `reconciliation_daily` records when that
/// stream is enabled. Units of streams that are not compared pass through.
pub(crate) async fn unit_ended(ctx: &Context, unit: &ReportUnit<'_>) -> Result<()> {
    let advertiser_id = unit.advertiser.id;
    if activity::reconciled_metrics(ctx, unit.stream, unit.spec).is_none() {
        return Ok(());
    }
    let Some(tally) = unit.tally.get() else {
        // Nothing to read this run.
        ctx.reconciled.unit_ended(advertiser_id, [], []);
        return Ok(());
    };
    let days = tally.take();
    let verdicts = judge(ctx, unit, tally, &days).await;
    let compared = verdicts
        .iter()
        .filter(|v| !matches!(v.verdict, Verdict::NotCompared(_)))
        .map(|v| v.day);
    let differing: Vec<NaiveDate> = verdicts
        .iter()
        .filter(|v| matches!(v.verdict, Verdict::Differ(_)))
        .map(|v| v.day)
        .collect();
    ctx.reconciled
        .unit_ended(advertiser_id, compared, differing.iter().copied());
    let cause = if differing.is_empty() {
        None
    } else {
        let cause = likely_cause(ctx, advertiser_id, &days, &differing).await;
        warn(unit, &tally.metrics, &verdicts, cause);
        Some(cause)
    };
    emit(ctx, unit, &tally.metrics, &verdicts, cause).await
}

/// The verdict of every day the unit read in full or skipped, in day order.
async fn judge(
    ctx: &Context,
    unit: &ReportUnit<'_>,
    tally: &tally::Tally,
    days: &TallyDays,
) -> Vec<DayVerdict> {
    let ledger = ctx.activity.days.peek(unit.advertiser.id).await;
    let last_complete = ctx
        .config
        .clock
        .last_complete_day(unit.advertiser.time_zone);
    let all: BTreeSet<NaiveDate> = days.read.union(&days.skipped).copied().collect();
    let zeros = || vec![Figure::default(); tally.metrics.len()];
    let mut out = Vec::with_capacity(all.len());
    for day in all {
        let read = days.read.contains(&day);
        let sums = days.sums.get(&day);
        let mut level = sums.map_or_else(zeros, |s| s.figures.clone());
        let mut rows = sums.map_or(0, |s| s.rows);
        let (ledger, verdict) = match &ledger {
            _ if !read => (
                Some(zeros()),
                Verdict::NotCompared("skipped: the ledger's totals are zero"),
            ),
            _ if day > last_complete => (None, Verdict::NotCompared("the day is not over yet")),
            Some(Known::Days(activity))
                if activity.covered.0 <= day && day <= activity.covered.1 =>
            {
                let totals = tally.sum_of(activity.rows.get(&day).map_or(&[], Vec::as_slice));
                let mut verdict = compare(&totals, &level);
                // TikTok's documents read both ways on whether the advertiser totals hold
                // TopView: a day agrees with or without the level's TopView rows, and one that
                // differs either way is shown in the reading that differs in fewer metrics.
                if let (Verdict::Differ(without), Some(s)) = (&verdict, sums) {
                    if !s.topview.is_empty() {
                        let with: Vec<Figure> = level
                            .iter()
                            .zip(&s.topview)
                            .map(|(a, t)| a.plus(*t))
                            .collect();
                        let other = compare(&totals, &with);
                        let better = match &other {
                            Verdict::Differ(with_topview) => with_topview.len() < without.len(),
                            _ => true,
                        };
                        if better {
                            (verdict, level, rows) = (other, with, rows + s.topview_rows);
                        }
                    }
                }
                (Some(totals), verdict)
            }
            _ => (
                None,
                Verdict::NotCompared("no ledger totals for the day (unread, or over the ads cap)"),
            ),
        };
        out.push(DayVerdict {
            day,
            rows,
            ledger,
            level: read.then_some(level),
            verdict,
        });
    }
    out
}

/// A day's verdict from the ledger's totals and the level's sums, metric by metric.
fn compare(ledger: &[Figure], level: &[Figure]) -> Verdict {
    let mut any = false;
    let mut differing = Vec::new();
    for (i, (total, sum)) in ledger.iter().zip(level).enumerate() {
        match differs(*total, *sum) {
            Some(true) => differing.push(i),
            Some(false) => any = true,
            None => {}
        }
    }
    match (differing.is_empty(), any) {
        (false, _) => Verdict::Differ(differing),
        (true, true) => Verdict::Agree,
        (true, false) => Verdict::NotCompared("no figure of the day reads as a number"),
    }
}

/// What the connector knows that makes the level's rows differ from the totals.
async fn likely_cause(
    ctx: &Context,
    advertiser_id: u64,
    days: &TallyDays,
    differing: &[NaiveDate],
) -> &'static str {
    let ads = super::report::peek_inventory(ctx, advertiser_id)
        .await
        .map(|i| i.auction_and_reach_frequency_ads + i.topview_ads);
    if differing.iter().any(|d| days.capped.contains(d)) {
        "a query of this level was over TikTok's ads cap and read from its capped answer (no \
         asynchronous task could be run): its rows leave out older ads"
    } else if ads.is_some_and(|ads| ads > LEDGER_ADS_CAP) {
        "the account holds more ads than TikTok's advertiser-level totals are sure to cover \
         (the ads cap): the totals may leave out the delivery of older ads"
    } else if ctx.activity.is_distrusted(advertiser_id) {
        "the spot checks found this account's advertiser-level totals wrong"
    } else if !ctx.config.include_deleted {
        "include_deleted is false: TikTok's totals count deleted campaigns, ad groups and ads, \
         whose rows the level leaves out; set include_deleted to capture them"
    } else if ctx
        .buying_types_refused
        .load(std::sync::atomic::Ordering::Relaxed)
    {
        "the server refused the buying type filter, so the buying types could not be read apart"
    } else {
        "not known to the connector: rows TikTok left out of this level's answers (a row, or a \
         buying type it does not serve there), or totals that count rows no level shows"
    }
}

/// Days as ranges: `2026-11-01..2026-11-03, 2026-11-07`.
fn ranges(days: &[NaiveDate]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < days.len() {
        let start = days[i];
        let mut end = start;
        while i + 1 < days.len() && end.succ_opt() == Some(days[i + 1]) {
            i += 1;
            end = days[i];
        }
        if !out.is_empty() {
            out.push_str(", ");
        }
        let _ = match start == end {
            true => write!(out, "{start}"),
            false => write!(out, "{start}..{end}"),
        };
        i += 1;
    }
    out
}

/// One warning for the unit's differing days, naming the first difference.
fn warn(
    unit: &ReportUnit<'_>,
    metrics: &[&'static str],
    verdicts: &[DayVerdict],
    cause: &'static str,
) {
    let differing: Vec<&DayVerdict> = verdicts
        .iter()
        .filter(|v| matches!(v.verdict, Verdict::Differ(_)))
        .collect();
    let Some(first) = differing.first() else {
        return;
    };
    let Verdict::Differ(first_metrics) = &first.verdict else {
        return;
    };
    let index = first_metrics[0];
    let ledger_value = first.ledger.as_ref().map_or(0.0, |f| f[index].value);
    let level_sum = first.level.as_ref().map_or(0.0, |f| f[index].value);
    let names: BTreeSet<&str> = differing
        .iter()
        .filter_map(|v| match &v.verdict {
            Verdict::Differ(ms) => Some(ms.iter().map(|i| metrics[*i])),
            _ => None,
        })
        .flatten()
        .collect();
    let days: Vec<NaiveDate> = differing.iter().map(|v| v.day).collect();
    tracing::warn!(
        advertiser_id = unit.advertiser.id,
        level = unit.spec.level.data_level(),
        stream = unit.stream,
        days = ranges(&days),
        differing_days = days.len(),
        metric = metrics[index],
        day = %first.day,
        ledger_value,
        level_sum,
        metrics = names.into_iter().collect::<Vec<_>>().join(", "),
        likely_cause = cause,
        "The rows this stream captured at this level do not add up to TikTok's advertiser-level \
         totals on {} day(s): {} on {} is {} in the totals and {} over the rows. Likely cause: \
         {cause}.",
        days.len(),
        metrics[index],
        first.day,
        ledger_value,
        level_sum,
    );
}

/// Emits the unit's `reconciliation_daily` records, when that stream is enabled. A unit that
/// read no day (all of them idle by the ledger, as an account that never delivered) has none:
/// an agency's many idle accounts would otherwise fill the stream with zeros.
async fn emit(
    ctx: &Context,
    unit: &ReportUnit<'_>,
    metrics: &[&'static str],
    verdicts: &[DayVerdict],
    cause: Option<&'static str>,
) -> Result<()> {
    let Some(binding) = ctx.binding_of(STREAM) else {
        return Ok(());
    };
    if verdicts.iter().all(|v| v.level.is_none()) {
        return Ok(());
    }
    let docs: Vec<String> = verdicts
        .iter()
        .map(|v| record(unit, metrics, v, cause).to_string())
        .collect();
    ctx.records(binding, docs).await?;
    ctx.checkpoint(binding, super::state::StatePatch::Nothing)
        .await
}

/// One record: the account, day and level, the stream read, the figures and the verdict.
fn record(
    unit: &ReportUnit<'_>,
    metrics: &[&'static str],
    v: &DayVerdict,
    cause: Option<&'static str>,
) -> Value {
    let figures = |figures: &Option<Vec<Figure>>| -> Value {
        match figures {
            Some(figures) => Value::Object(
                metrics
                    .iter()
                    .zip(figures)
                    .map(|(m, f)| (m.to_string(), number(f)))
                    .collect::<Map<String, Value>>(),
            ),
            None => Value::Null,
        }
    };
    let differences = match (&v.ledger, &v.level) {
        (Some(ledger), Some(level)) => Value::Object(
            metrics
                .iter()
                .zip(ledger.iter().zip(level))
                .map(|(m, (total, sum))| {
                    let difference = match total.unreadable || sum.unreadable {
                        true => Value::Null,
                        false => json!(round(sum.value - total.value)),
                    };
                    (m.to_string(), difference)
                })
                .collect::<Map<String, Value>>(),
        ),
        _ => Value::Null,
    };
    let (verdict, reason, cause) = match &v.verdict {
        Verdict::Agree => ("agree", None, None),
        Verdict::Differ(_) => ("differ", None, cause),
        Verdict::NotCompared(why) => ("not_compared", Some(*why), None),
    };
    json!({
        "advertiser_id": unit.advertiser.id,
        "stat_time_day": format!("{} 00:00:00", v.day),
        "level": unit.spec.level.data_level(),
        "stream": unit.stream,
        "verdict": verdict,
        "reason": reason,
        "likely_cause": cause,
        "rows": v.rows,
        "ledger_totals": figures(&v.ledger),
        "level_sums": figures(&v.level),
        "differences": differences,
    })
}

/// A sum as a JSON number (null when some figure of it was not a number).
fn number(f: &Figure) -> Value {
    match f.unreadable {
        true => Value::Null,
        false => json!(round(f.value)),
    }
}

/// A sum of figures with at most six decimals (TikTok sends at most that many), without the
/// float noise of the addition.
fn round(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn days_are_named_as_ranges() {
        let days = [
            d("2026-11-01"),
            d("2026-11-02"),
            d("2026-11-03"),
            d("2026-11-07"),
            d("2026-11-09"),
            d("2026-11-10"),
        ];
        assert_eq!(
            ranges(&days),
            "2026-11-01..2026-11-03, 2026-11-07, 2026-11-09..2026-11-10"
        );
        assert_eq!(ranges(&[]), "");
    }

    #[test]
    fn a_day_agrees_differs_or_is_not_compared() {
        let f = |value: f64, rounding: f64| Figure {
            value,
            rounding,
            unreadable: false,
        };
        let unknown = Figure {
            unreadable: true,
            ..Figure::default()
        };
        assert!(matches!(
            compare(
                &[f(10.0, 0.005), f(3.0, 0.0)],
                &[f(10.01, 0.01), f(3.0, 0.0)]
            ),
            Verdict::Agree
        ));
        match compare(
            &[f(10.0, 0.005), f(3.0, 0.0)],
            &[f(10.0, 0.01), f(2.0, 0.0)],
        ) {
            Verdict::Differ(metrics) => assert_eq!(metrics, vec![1]),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            compare(&[unknown], &[f(1.0, 0.0)]),
            Verdict::NotCompared(_)
        ));
    }
}
