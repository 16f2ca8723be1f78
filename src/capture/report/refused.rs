//! Metrics TikTok refuses: a report query (synchronous, or an asynchronous task's creation)
//! answered 40002 for its metrics. TikTok's rules of which metric it serves at which level and
//! report type are not all documented, and change, so a metric the metric catalog allows may
//! still be refused; one such metric must not cost the binding its rows. This module finds
//! which metrics were refused: those TikTok's message names (read leniently, and only names
//! the query asked count), or, when it names none we can read, by asking the query's metrics
//! in halves (the same rows, window and filters, one row each) down to single metrics, within
//! a bound. A refusal that is not about metrics (the dimensions alone are refused, or nothing
//! is found) fails as before, with TikTok's message. Metrics a custom report names are the
//! user's choice and are never dropped: the binding fails naming them and the fix. The others
//! (the standard set, `metric_groups`) are dropped for the rest of the run from every query
//! of the binding ([`asked_spec`], which the report fetcher and task creation apply), with one
//! warning naming them; their columns stay empty in the stream's records, as for any row
//! TikTok sends without a metric. The caller then asks the refused query again. Each probe is
//! counted as a request of the binding and added to the plan.

use std::borrow::Cow;

use chrono::NaiveDate;
use serde_json::Value;

use super::query::{params, REPORT_PATH};
use crate::capture::context::Context;
use crate::client::Paging;
use crate::error::{Error, ErrorClass, Result};
use crate::registry::metrics::{Granularity, ReportType};
use crate::registry::ReportSpec;

/// TikTok's code for a parameter it refuses, among them a metric it does not serve in the
/// report ("Invalid metric fields: [...]"; error codes, portal doc 1737172488964097).
pub(crate) const REFUSED_PARAMETER: i64 = 40002;

/// The report of a binding as its queries ask it now: without the metrics TikTok refused in
/// this run (borrowed as it is while none was).
pub(crate) fn asked_spec<'s>(
    ctx: &Context,
    binding: usize,
    spec: &'s ReportSpec,
) -> Cow<'s, ReportSpec> {
    let dropped = ctx.counters[binding].refused_metrics.dropped();
    if dropped.is_empty() {
        return Cow::Borrowed(spec);
    }
    Cow::Owned(ReportSpec {
        metrics: spec
            .metrics
            .iter()
            .filter(|m| !dropped.contains(m))
            .cloned()
            .collect(),
        ..spec.clone()
    })
}

/// Whether an error is TikTok refusing a parameter of the query (40002), which may be about
/// its metrics.
pub(crate) fn is_refusal(err: &Error) -> bool {
    err.api_code() == Some(REFUSED_PARAMETER)
}

/// The metrics of the query `asked` that TikTok's message names: the names listed in
/// brackets (`[foo]`, `['foo', 'bar']`, `["foo"]`), or else after the first colon, whatever
/// the wording around them. Only names the query asked count, each once, in the query's
/// order; a message that names none of them gives none.
pub(crate) fn named_metrics(message: &str, asked: &[String]) -> Vec<String> {
    let listed = match (message.find('['), message.rfind(']')) {
        (Some(open), Some(close)) if open < close => &message[open + 1..close],
        (Some(open), _) => &message[open + 1..],
        (None, _) => message.split_once(':').map_or("", |(_, after)| after),
    };
    let words: Vec<&str> = listed
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    asked
        .iter()
        .filter(|m| words.contains(&m.as_str()))
        .cloned()
        .collect()
}

/// A query's error after `emitted` rows of it were sent: a refusal (40002) then is no refusal
/// of its metrics, which TikTok accepted for the pages before, and becomes a plain failure, so
/// the query is not asked again (its rows would be emitted twice).
pub(crate) fn after_rows(err: Error, emitted: bool) -> Error {
    if emitted && is_refusal(&err) {
        Error::Fatal(format!(
            "{err}. TikTok refused a later page of a report query whose first pages it \
             answered, so the refusal is not about the query's metrics"
        ))
    } else {
        err
    }
}

/// Where a refused query was asked: its window (`None`: lifetime) and `filtering`.
pub(crate) type Asked<'a> = (Option<(NaiveDate, NaiveDate)>, &'a [Value]);

/// Whose query was refused: the binding, its stream and report (as the table or the custom
/// report defines it), and the ad account.
#[derive(Clone, Copy)]
pub(crate) struct Whose<'a> {
    pub(crate) binding: usize,
    pub(crate) stream: &'a str,
    pub(crate) spec: &'a ReportSpec,
    pub(crate) advertiser_id: u64,
}

/// Meets TikTok's refusal `err` of a query of `unit` (a report binding, for one ad account)
/// that asked `asked` (the binding's metrics then) over `at`. `Ok(())`: the metrics it refused
/// are dropped for the binding (by this unit, or by another one while this one waited), and
/// the caller asks the query again. `Err`: the refusal is not about metrics (TikTok's error,
/// unchanged), or it refuses metrics a custom report names, or every metric of the stream; a
/// probe's error (credentials, quota) is returned as such.
pub(crate) async fn resolve(
    ctx: &Context,
    unit: Whose<'_>,
    at: Asked<'_>,
    err: Error,
    asked: &[String],
) -> Result<()> {
    let refused = &ctx.counters[unit.binding].refused_metrics;
    let _finding = refused.finding.lock().await;
    // Another unit of the binding dropped metrics while this one's query was out: asked
    // without them, the query may be accepted.
    if asked_spec(ctx, unit.binding, unit.spec).metrics != asked {
        return Ok(());
    }
    let message = match &err {
        Error::Api(api) => api.message.clone(),
        _ => return Err(err),
    };
    let named = named_metrics(&message, asked);
    let (found, probes) = if !named.is_empty() {
        (named, 0)
    } else if unit.spec.report_type == ReportType::Audience
        && unit.spec.granularity == Granularity::Hour
    {
        // TikTok's standing refusal of hourly audience reports, which the driver meets.
        return Err(err);
    } else {
        match find_refused(ctx, unit, at, asked).await? {
            (Some(found), probes) => (found, probes),
            (None, probes) => {
                tracing::info!(
                    stream = unit.stream,
                    advertiser_id = unit.advertiser_id,
                    probes,
                    "TikTok's refusal (code 40002) names no metric, and asking the query's \
                     metrics in parts found none it refuses: the refusal is not about metrics."
                );
                return Err(err);
            }
        }
    };
    grow_plan(ctx, unit.binding, probes + 1);
    if let Some(n) = ctx
        .config
        .custom_reports
        .iter()
        .position(|c| c.stream_name() == unit.stream)
    {
        return Err(Error::Fatal(format!(
            "TikTok refuses the {} {} of custom report stream {:?} (code 40002: {}). TikTok does \
             not serve {} in a {} report at data level {}: remove {} from `custom_reports[{n}].\
             metrics`.",
            plural(found.len(), "metric", "metrics"),
            quoted(&found),
            unit.stream,
            crate::scrub::excerpt(&message, 300),
            plural(found.len(), "it", "them"),
            unit.spec.report_type.as_api(),
            unit.spec.level.data_level(),
            plural(found.len(), "it", "them"),
        )));
    }
    if found.len() >= asked.len() {
        return Err(Error::Fatal(format!(
            "TikTok refuses every metric stream {:?} asks ({}; code 40002: {}), so it has \
             nothing to capture. Disable the stream, or remove the metric groups it asks from \
             `advanced.metric_groups`.",
            unit.stream,
            quoted(&found),
            crate::scrub::excerpt(&message, 300),
        )));
    }
    refused
        .dropped
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .extend(found.iter().cloned());
    tracing::warn!(
        stream = unit.stream,
        metrics = found.join(", ").as_str(),
        data_level = unit.spec.level.data_level(),
        report_type = unit.spec.report_type.as_api(),
        advertiser_id = unit.advertiser_id,
        found_by_probes = probes,
        "TikTok refuses these metrics in this stream's queries (code 40002): it does not serve \
         them at this data level and report type. They are left out of the stream's queries for \
         the rest of the run, so their values stay null (absent) in its records; every row is \
         still captured. Remove the metric group that adds them from `advanced.metric_groups`, \
         or tell us if they belong in the stream's standard metrics."
    );
    Ok(())
}

/// What one probe answered: TikTok accepted its metrics, refused them (40002), or found the
/// query too large to say (40067).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    Accepted,
    Refused,
    TooLarge,
}

/// Asks the refused query again with only `metrics` (`None`: the dimensions alone, with
/// TikTok's default metrics), one row of it, counted as a request of the binding.
async fn probe(
    ctx: &Context,
    unit: Whose<'_>,
    (window, filters): Asked<'_>,
    metrics: Option<&[String]>,
) -> Result<Probe> {
    let spec = ReportSpec {
        metrics: metrics.map(<[String]>::to_vec).unwrap_or_default(),
        ..unit.spec.clone()
    };
    let mut query = params(&spec, unit.advertiser_id, window, filters);
    if metrics.is_none() {
        query.retain(|(name, _)| *name != "metrics");
    }
    let answer = ctx
        .client
        .page(REPORT_PATH, &query, "list", Paging::first(1))
        .await;
    ctx.count_request(unit.binding);
    match answer {
        Ok(_) => Ok(Probe::Accepted),
        Err(err) if is_refusal(&err) => Ok(Probe::Refused),
        Err(err) if err.class() == ErrorClass::QueryTooLarge => Ok(Probe::TooLarge),
        Err(err) => Err(err),
    }
}

/// The most probes one refusal may take to find its metrics: one per metric asked, and the
/// query of the dimensions alone. Halving finds each of `k` refused metrics of `n` in about
/// `2 log2 n` probes, far below this unless most metrics are refused.
fn probe_budget(asked: usize) -> u64 {
    asked as u64 + 1
}

/// Finds the metrics of `asked` TikTok refuses when its message names none: first the
/// dimensions alone (refused too: the refusal is not about metrics), then halves of the
/// metrics, each refused half halved again down to single metrics. A half whose sibling was
/// accepted is refused without asking (the whole was); a part TikTok finds too large (40067)
/// is halved without a verdict. Returns the metrics found (`None`: the refusal is not about
/// metrics, or the budget ran out first) and the probes asked.
async fn find_refused(
    ctx: &Context,
    unit: Whose<'_>,
    at: Asked<'_>,
    asked: &[String],
) -> Result<(Option<Vec<String>>, u64)> {
    let budget = probe_budget(asked.len());
    let mut probes = 1;
    if probe(ctx, unit, at, None).await? == Probe::Refused {
        return Ok((None, probes));
    }
    /// A part of the metrics to settle: known refused when its parent was and the parts
    /// before it (its sibling's) were found to hold no refused metric.
    struct Part {
        metrics: Vec<String>,
        parent_refused: bool,
        found_before: usize,
    }
    let mut found: Vec<String> = Vec::new();
    let mut parts = vec![Part {
        metrics: asked.to_vec(),
        parent_refused: true,
        found_before: 0,
    }];
    while let Some(part) = parts.pop() {
        let known = part.parent_refused && found.len() == part.found_before;
        if !known {
            if probes >= budget {
                return Ok((None, probes));
            }
            probes += 1;
            match probe(ctx, unit, at, Some(&part.metrics)).await? {
                Probe::Accepted => continue,
                Probe::TooLarge if part.metrics.len() > 1 => {
                    let (first, second) = halves(part.metrics);
                    for metrics in [second, first] {
                        parts.push(Part {
                            metrics,
                            parent_refused: false,
                            found_before: found.len(),
                        });
                    }
                    continue;
                }
                // One metric too large to ask is no refusal of it.
                Probe::TooLarge => continue,
                Probe::Refused => {}
            }
        }
        if part.metrics.len() == 1 {
            found.extend(part.metrics);
            continue;
        }
        let (first, second) = halves(part.metrics);
        parts.push(Part {
            metrics: second,
            parent_refused: true,
            found_before: found.len(),
        });
        parts.push(Part {
            metrics: first,
            parent_refused: false,
            found_before: found.len(),
        });
    }
    Ok(((!found.is_empty()).then_some(found), probes))
}

/// `metrics` in two halves, in order (the first the longer).
fn halves(mut metrics: Vec<String>) -> (Vec<String>, Vec<String>) {
    let second = metrics.split_off(metrics.len().div_ceil(2));
    (metrics, second)
}

/// Adds to the plan the requests a refusal took beyond the query the plan counted: the
/// probes and the query asked again.
fn grow_plan(ctx: &Context, binding: usize, extra: u64) {
    ctx.counters[binding]
        .planned
        .fetch_add(extra, std::sync::atomic::Ordering::Relaxed);
    ctx.planned_total
        .fetch_add(extra, std::sync::atomic::Ordering::Relaxed);
}

/// `"a", "b"`.
fn quoted(metrics: &[String]) -> String {
    metrics
        .iter()
        .map(|m| format!("{m:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn plural<'a>(n: usize, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 {
        one
    } else {
        many
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn named_metrics_are_read_from_tiktoks_shapes_and_only_asked_ones_count() {
        let asked = names(&["spend", "clicks", "conversion", "real_time_conversion"]);
        for message in [
            "Invalid metric fields: [conversion]",
            "Invalid metric fields: ['conversion']",
            "Invalid metric fields: [\"conversion\"]",
            "Invalid metric fields: conversion",
            "metrics: Invalid metric fields [ 'conversion' ] at this data level.",
        ] {
            assert_eq!(named_metrics(message, &asked), ["conversion"], "{message}");
        }
        // Several, in the query's order, each once; names not asked do not count.
        assert_eq!(
            named_metrics(
                "Invalid metric fields: ['real_time_conversion', 'clicks', 'nonsense', 'clicks']",
                &asked
            ),
            ["clicks", "real_time_conversion"]
        );
        // A name is a whole word: no part of a longer one.
        assert!(named_metrics("Invalid metric fields: [conversion_rate]", &asked).is_empty());
        // Messages that name none of them.
        for message in [
            "Invalid metric fields.",
            "Invalid metric fields: []",
            "Conflict occurs. The input params including metrics and dimensions have no relation.",
            "filtering: campaign_status is not supported for data_level AUCTION_AD",
            "",
            "[",
            "]spend[",
        ] {
            assert!(named_metrics(message, &asked).is_empty(), "{message}");
        }
        // Outside the brackets, words of the message are not names.
        assert!(named_metrics("spend: Invalid metric fields: [foo]", &asked).is_empty());
    }

    #[test]
    fn halves_keep_the_order_and_every_metric() {
        let (a, b) = halves(names(&["a", "b", "c"]));
        assert_eq!((a, b), (names(&["a", "b"]), names(&["c"])));
        let (a, b) = halves(names(&["a"]));
        assert_eq!((a, b), (names(&["a"]), Vec::<String>::new()));
        assert_eq!(probe_budget(55), 56);
    }
}
