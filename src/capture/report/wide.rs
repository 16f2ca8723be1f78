//! Wide queries: a report query TikTok finds too large (40067) even for the narrowest window (one
//! day, or a report without a time dimension) asks too many metrics at once. It is asked again as
//! several queries of the same rows (same dimensions, window and filters), each with part of the
//! metrics, halving a part TikTok still finds too large; the parts' rows are joined by their
//! dimensions and emitted once all parts are read, so each record carries every metric TikTok
//! answered. A binding remembers how many parts its queries took, so its next windows (of every
//! ad account) start split, and the run's plan grows by the queries the parts add (the plan
//! counts a query as one). The rows of every part are held until the last is read, so the
//! windows of such a binding are cut to as many days as keep about [`VALUES_HELD`] metric values
//! ([`held_days`]), by the rows per day its queries in parts answered. Asynchronous report
//! tasks TikTok finds too large are split and joined here too ([`read_in_parts`]).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;

use chrono::NaiveDate;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::query::{params, Query, PAGE_SIZE, REPORT_PATH};
use crate::capture::context::{Context, CountFor};
use crate::capture::listing::ListQuery;
use crate::client::Page;
use crate::error::{ErrorClass, Result};
use crate::registry::ReportSpec;

/// Whether a 40067 answer to this query can only be met by asking fewer metrics: its window
/// cannot be halved (one day, or none).
pub(super) fn narrowest(spec: &ReportSpec, window: Option<(NaiveDate, NaiveDate)>) -> bool {
    spec.granularity.time_dimension().is_none() || window.is_none_or(|(from, to)| from >= to)
}

/// The metric values a query read in parts may hold before its rows are emitted: some 35 MB of
/// TikTok's text (a metric's name and value take about 35 bytes). Every part must be read
/// before a row is whole, so a window whose rows would hold more is asked as windows of fewer
/// days ([`held_days`]).
pub(super) const VALUES_HELD: u64 = 1_000_000;

/// How many days a window of this binding may span when its queries are read in parts: as
/// many as keep the rows per day its earlier queries in parts answered, times its metrics,
/// within [`VALUES_HELD`] (at least one); `None` until such a query has been read.
pub(super) fn held_days(ctx: &Context, binding: usize, spec: &ReportSpec) -> Option<u64> {
    let counters = &ctx.counters[binding];
    if counters.metric_parts.load(Ordering::Relaxed) < 2 {
        return None;
    }
    let rows_per_day = counters.wide_rows_per_day.load(Ordering::Relaxed);
    let values_per_day = rows_per_day.checked_mul(spec.metrics.len() as u64)?;
    (values_per_day > 0).then(|| (VALUES_HELD / values_per_day).max(1))
}

/// `metrics` cut into `parts` runs of nearly equal length, in order.
pub(super) fn cut(metrics: &[String], parts: usize) -> Vec<Vec<String>> {
    let parts = parts.clamp(1, metrics.len().max(1));
    let per = metrics.len().div_ceil(parts).max(1);
    metrics.chunks(per).map(<[String]>::to_vec).collect()
}

/// The rows of a report joined across queries by their dimensions, in first-seen order. A row
/// that is not an object is kept as sent, for the record path to report as it does any other.
///
/// A joined row keeps its metrics as the JSON text TikTok sent (each part's members, one after
/// the other), not as parsed values: a thousand metrics of a few thousand rows are held until
/// the last part is read, and as text they take a few times less memory and no parsing twice
/// (the record builder reads them once, as it reads any row).
#[derive(Default)]
pub(super) struct Joined {
    order: Vec<String>,
    rows: HashMap<String, JoinedRow>,
    unreadable: Vec<Box<RawValue>>,
}

/// One joined row: its dimensions as TikTok sent them, and the members of every part's
/// `metrics` object so far, comma-separated, without the braces.
struct JoinedRow {
    dimensions: Box<RawValue>,
    metrics: String,
}

/// A part's row, borrowed from its text: its dimensions and metrics unparsed.
#[derive(Deserialize)]
struct PartRow<'a> {
    #[serde(borrow, default)]
    dimensions: Option<&'a RawValue>,
    #[serde(borrow, default)]
    metrics: Option<&'a RawValue>,
}

/// The members of a JSON object's text, without its braces (`None`: not an object).
fn members(object: &RawValue) -> Option<&str> {
    object
        .get()
        .trim()
        .strip_prefix('{')?
        .strip_suffix('}')
        .map(str::trim)
}

impl Joined {
    /// Adds one part's row: its metrics join those of the row with the same dimensions.
    pub(super) fn add(&mut self, spec: &ReportSpec, raw: Box<RawValue>) {
        // Serde would read an array as the struct's fields: only an object is a row.
        let row = Some(raw.get())
            .filter(|text| text.trim_start().starts_with('{'))
            .and_then(|text| serde_json::from_str::<PartRow>(text).ok());
        let Some(row) = row else {
            self.unreadable.push(raw);
            return;
        };
        let dimensions: Map<String, Value> = row
            .dimensions
            .and_then(|d| serde_json::from_str(d.get()).ok())
            .unwrap_or_default();
        let key = spec
            .dimensions
            .iter()
            .map(|d| dimensions.get(d).map(Value::to_string).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\u{1f}");
        // Anything but an object adds no metric (as an empty object would).
        let metrics = row.metrics.and_then(members).unwrap_or_default();
        let joined = match self.rows.get_mut(&key) {
            Some(joined) => joined,
            None => {
                let dimensions = row.dimensions.unwrap_or(RawValue::NULL).to_owned();
                self.order.push(key.clone());
                self.rows.entry(key).or_insert(JoinedRow {
                    dimensions,
                    metrics: String::new(),
                })
            }
        };
        if !metrics.is_empty() {
            if !joined.metrics.is_empty() {
                joined.metrics.push(',');
            }
            joined.metrics.push_str(metrics);
        }
    }

    /// The joined rows, as TikTok's row shape; each row's text is freed as its row is made.
    pub(super) fn into_rows(mut self) -> Vec<Box<RawValue>> {
        let mut out: Vec<Box<RawValue>> = Vec::with_capacity(self.order.len());
        for key in &self.order {
            let Some(JoinedRow {
                dimensions,
                metrics,
            }) = self.rows.remove(key)
            else {
                continue;
            };
            let dimensions = dimensions.get();
            let mut text = String::with_capacity(dimensions.len() + metrics.len() + 32);
            text.push_str("{\"dimensions\":");
            text.push_str(dimensions);
            text.push_str(",\"metrics\":{");
            text.push_str(&metrics);
            text.push_str("}}");
            drop(metrics);
            // Members copied from valid objects make a valid object.
            if let Ok(row) = RawValue::from_string(text) {
                out.push(row);
            }
        }
        out.append(&mut self.unreadable);
        out
    }
}

/// Where a wide query is asked: the binding, its report and the ad account.
pub(super) struct WideQuery<'a> {
    pub(super) binding: usize,
    pub(super) spec: &'a ReportSpec,
    pub(super) advertiser_id: u64,
    pub(super) query: Query<'a>,
}

/// Reads one query as several of part of the metrics each and returns the rows joined, for the
/// caller to emit; `None` when a part's answer is over the ads cap and `accept_capped` is not
/// set (nothing is returned of it, as of any capped query). `refused` is 1 when the whole query
/// was asked (and refused) first.
pub(super) async fn fetch_split(
    ctx: &Context,
    wide: WideQuery<'_>,
    accept_capped: bool,
    refused: u64,
) -> Result<Option<Vec<Box<RawValue>>>> {
    let WideQuery {
        binding,
        spec,
        advertiser_id,
        query,
    } = wide;
    let learned = &ctx.counters[binding].metric_parts;
    let filters = query.filtering(spec, ctx.config.include_deleted);
    let split = read_in_parts(
        spec,
        learned.load(Ordering::Relaxed),
        advertiser_id,
        async |part: ReportSpec| {
            let query_pages = ListQuery {
                endpoint: REPORT_PATH,
                params: params(&part, advertiser_id, query.window, &filters),
                list_key: "list",
                page_size: PAGE_SIZE,
            };
            read_part(ctx, binding, query_pages, accept_capped).await
        },
    )
    .await;
    if let Ok(Some(rows)) = &split.joined {
        learned.fetch_max(split.read_parts, Ordering::Relaxed);
        let days = query
            .window
            .map_or(1, |(from, to)| (to - from).num_days().max(0) + 1);
        ctx.counters[binding]
            .wide_rows_per_day
            .fetch_max((rows.len() as u64).div_ceil(days as u64), Ordering::Relaxed);
    }
    // The plan counted this query once: every other query asked for it is added to the plan.
    grow_plan(
        ctx,
        binding,
        advertiser_id,
        (refused + split.asked).saturating_sub(1),
    );
    split.joined
}

/// What one part's query answered.
pub(super) enum Part<E> {
    Rows(Vec<Box<RawValue>>),
    /// Over the ads cap, and the caller does not accept capped answers.
    Capped,
    /// TikTok found even this part too large (40067).
    TooLarge(E),
}

/// The outcome of a query read in parts: the rows joined (`None`: a part was capped), how many
/// queries were asked and how many parts were read.
pub(super) struct Split<E> {
    pub(super) joined: std::result::Result<Option<Vec<Box<RawValue>>>, E>,
    pub(super) asked: u64,
    pub(super) read_parts: usize,
}

/// Asks the metrics of `spec` in at least two parts (`learned`, when more) of the same rows,
/// each through `read_part` (a synchronous query, or an asynchronous task), halving a part
/// TikTok finds too large until it has one metric, and joins the parts' rows by their
/// dimensions. The one split and join of both paths.
pub(super) async fn read_in_parts<E>(
    spec: &ReportSpec,
    learned: usize,
    advertiser_id: u64,
    mut read_part: impl AsyncFnMut(ReportSpec) -> std::result::Result<Part<E>, E>,
) -> Split<E> {
    let mut queue: VecDeque<Vec<String>> = cut(&spec.metrics, learned.max(2)).into();
    let mut split = Split {
        joined: Ok(None),
        asked: 0,
        read_parts: 0,
    };
    let mut joined = Joined::default();
    while let Some(metrics) = queue.pop_front() {
        let part = ReportSpec {
            metrics,
            ..spec.clone()
        };
        let width = part.metrics.len();
        let metrics = part.metrics.clone();
        split.asked += 1;
        match read_part(part).await {
            Ok(Part::Rows(rows)) => {
                for raw in rows {
                    joined.add(spec, raw);
                }
                split.read_parts += 1;
            }
            Ok(Part::Capped) => return split,
            Ok(Part::TooLarge(err)) if width < 2 => {
                split.joined = Err(err);
                return split;
            }
            Ok(Part::TooLarge(_)) => {
                tracing::info!(
                    advertiser_id,
                    metrics = width,
                    "TikTok found a query of part of the metrics too large (40067); halving it."
                );
                let mut halves = cut(&metrics, 2);
                queue.push_front(halves.pop().unwrap_or_default());
                queue.push_front(halves.pop().unwrap_or_default());
            }
            Err(err) => {
                split.joined = Err(err);
                return split;
            }
        }
    }
    split.joined = Ok(Some(joined.into_rows()));
    split
}

/// Reads every page of one part's query.
async fn read_part(
    ctx: &Context,
    binding: usize,
    query: ListQuery,
    accept_capped: bool,
) -> Result<Part<crate::error::Error>> {
    let pages = ctx.pages(CountFor::Binding(binding), query);
    futures::pin_mut!(pages);
    let mut rows: Vec<Box<RawValue>> = Vec::new();
    while let Some(page) = pages.next().await {
        match page {
            Ok(page) => {
                let page: Page = page;
                if page.ads_throttled && !accept_capped {
                    return Ok(Part::Capped);
                }
                rows.extend(page.records);
            }
            Err(err) if err.class() == ErrorClass::QueryTooLarge => return Ok(Part::TooLarge(err)),
            Err(err) => return Err(err),
        }
    }
    Ok(Part::Rows(rows))
}

/// Adds to the plan the `extra` requests a query read in parts took beyond the one the plan
/// counted.
pub(super) fn grow_plan(ctx: &Context, binding: usize, advertiser_id: u64, extra: u64) {
    let planned = ctx.counters[binding]
        .planned
        .fetch_add(extra, Ordering::Relaxed)
        + extra;
    ctx.planned_total.fetch_add(extra, Ordering::Relaxed);
    tracing::info!(
        stream = ctx.stream_name(binding),
        advertiser_id,
        extra_requests = extra,
        planned_requests = planned,
        "A report query took several queries of part of its metrics; the plan grows by them."
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{find, Kind};

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("m{i}")).collect()
    }

    #[test]
    fn metrics_are_cut_in_order_into_nearly_equal_parts() {
        let parts = cut(&names(5), 2);
        assert_eq!(parts, vec![names(3), vec!["m3".into(), "m4".into()]]);
        assert_eq!(cut(&names(5), 9).len(), 5);
        assert_eq!(cut(&names(800), 5).iter().map(Vec::len).max(), Some(160));
        assert_eq!(cut(&names(800), 5).concat(), names(800));
        assert_eq!(cut(&names(1), 2), vec![names(1)]);
    }

    #[test]
    fn only_the_narrowest_window_splits_its_metrics() {
        let Kind::Report(daily) = find("ads_reports_daily").unwrap().kind else {
            panic!()
        };
        let Kind::Report(lifetime) = find("ads_reports_lifetime").unwrap().kind else {
            panic!()
        };
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        let daily = ReportSpec::from_def(&daily);
        assert!(narrowest(&daily, Some((day(3), day(3)))));
        assert!(!narrowest(&daily, Some((day(3), day(4)))));
        assert!(narrowest(&ReportSpec::from_def(&lifetime), None));
    }

    #[test]
    fn parts_rows_join_by_their_dimensions() {
        let Kind::Report(def) = find("ads_reports_daily").unwrap().kind else {
            panic!()
        };
        let spec = ReportSpec::from_def(&def);
        let raw = |v: Value| RawValue::from_string(v.to_string()).unwrap();
        let mut joined = Joined::default();
        let day = "2026-11-03 00:00:00";
        for row in [
            serde_json::json!({"dimensions": {"ad_id": "1", "stat_time_day": day}, "metrics": {"spend": "1.50"}}),
            serde_json::json!({"dimensions": {"ad_id": "2", "stat_time_day": day}, "metrics": {"spend": "2.00"}}),
            serde_json::json!({"dimensions": {"ad_id": "1", "stat_time_day": day}, "metrics": {"complete_payment": "3"}}),
            // A row only the second part answered.
            serde_json::json!({"dimensions": {"ad_id": "3", "stat_time_day": day}, "metrics": {"complete_payment": "1"}}),
        ] {
            joined.add(&spec, raw(row));
        }
        let rows: Vec<Value> = joined
            .into_rows()
            .iter()
            .map(|r| serde_json::from_str(r.get()).unwrap())
            .collect();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0]["dimensions"]["ad_id"], "1");
        assert_eq!(rows[0]["metrics"]["spend"], "1.50");
        assert_eq!(rows[0]["metrics"]["complete_payment"], "3");
        assert_eq!(rows[1]["metrics"]["spend"], "2.00");
        assert!(rows[1]["metrics"].get("complete_payment").is_none());
        assert_eq!(rows[2]["dimensions"]["ad_id"], "3");
    }

    #[test]
    fn joined_rows_keep_the_text_sent_and_take_odd_parts_without_loss() {
        let Kind::Report(def) = find("ads_reports_daily").unwrap().kind else {
            panic!()
        };
        let spec = ReportSpec::from_def(&def);
        let raw = |text: &str| RawValue::from_string(text.into()).unwrap();
        let dims = r#"{"ad_id": "1", "stat_time_day": "2026-11-03 00:00:00"}"#;
        let mut joined = Joined::default();
        joined.add(
            &spec,
            raw(&format!(
                r#"{{"dimensions": {dims}, "metrics": {{"spend": 1.50e0}}}}"#
            )),
        );
        // An empty part, one whose metrics are not an object, one without metrics.
        joined.add(
            &spec,
            raw(&format!(r#"{{"dimensions": {dims}, "metrics": {{ }}}}"#)),
        );
        joined.add(
            &spec,
            raw(&format!(r#"{{"dimensions": {dims}, "metrics": [1]}}"#)),
        );
        joined.add(&spec, raw(&format!(r#"{{"dimensions": {dims}}}"#)));
        joined.add(
            &spec,
            raw(&format!(
                r#"{{"dimensions": {dims}, "metrics": {{"clicks": "7"}}}}"#
            )),
        );
        // Rows without dimensions join one another; a row that is no object is kept as sent.
        joined.add(&spec, raw(r#"{"metrics": {"spend": "2"}}"#));
        joined.add(
            &spec,
            raw(r#"{"dimensions": null, "metrics": {"clicks": "3"}}"#),
        );
        joined.add(&spec, raw("[1, 2]"));
        let rows = joined.into_rows();
        let texts: Vec<&str> = rows.iter().map(|r| r.get()).collect();
        assert_eq!(texts.len(), 3, "{texts:?}");
        let first: Value = serde_json::from_str(texts[0]).unwrap();
        let names: Vec<&String> = first["metrics"].as_object().unwrap().keys().collect();
        assert_eq!(names, ["spend", "clicks"]);
        assert_eq!(first["metrics"]["clicks"], "7");
        // The number's text as TikTok sent it, for the record builder to read.
        assert!(texts[0].contains("1.50e0"), "{}", texts[0]);
        let second: Value = serde_json::from_str(texts[1]).unwrap();
        assert_eq!(second["dimensions"], Value::Null);
        assert_eq!(
            second["metrics"],
            serde_json::json!({"spend": "2", "clicks": "3"})
        );
        assert_eq!(texts[2], "[1, 2]");
    }
}
