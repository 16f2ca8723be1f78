//! Wide queries: a report query TikTok finds too large (40067) even for the narrowest window (one
//! day, or a report without a time dimension) asks too many metrics at once. It is asked again as
//! several queries of the same rows (same dimensions, window and filters), each with part of the
//! metrics, halving a part TikTok still finds too large; the parts' rows are joined by their
//! dimensions and emitted once all parts are read, so each record carries every metric TikTok
//! answered. A binding remembers how many parts its queries took, so its next windows (of every
//! ad account) start split, and the run's plan grows by the queries the parts add (the plan
//! counts a query as one).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;

use chrono::NaiveDate;
use futures::StreamExt;
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

/// `metrics` cut into `parts` runs of nearly equal length, in order.
pub(super) fn cut(metrics: &[String], parts: usize) -> Vec<Vec<String>> {
    let parts = parts.clamp(1, metrics.len().max(1));
    let per = metrics.len().div_ceil(parts).max(1);
    metrics.chunks(per).map(<[String]>::to_vec).collect()
}

/// The rows of a report joined across queries by their dimensions, in first-seen order. A row
/// that does not parse is kept as sent, for the record path to report as it does any other.
#[derive(Default)]
pub(super) struct Joined {
    order: Vec<String>,
    rows: HashMap<String, (Value, Map<String, Value>)>,
    unreadable: Vec<Box<RawValue>>,
}

impl Joined {
    /// Adds one part's row: its metrics join those of the row with the same dimensions.
    pub(super) fn add(&mut self, spec: &ReportSpec, raw: Box<RawValue>) {
        let Ok(row) = serde_json::from_str::<Value>(raw.get()) else {
            self.unreadable.push(raw);
            return;
        };
        let dimensions = row.get("dimensions").cloned().unwrap_or(Value::Null);
        let key = spec
            .dimensions
            .iter()
            .map(|d| dimensions.get(d).map(Value::to_string).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\u{1f}");
        let metrics = match row.get("metrics") {
            Some(Value::Object(m)) => m.clone(),
            _ => Map::new(),
        };
        match self.rows.get_mut(&key) {
            Some((_, joined)) => joined.extend(metrics),
            None => {
                self.order.push(key.clone());
                self.rows.insert(key, (dimensions, metrics));
            }
        }
    }

    /// The joined rows, as TikTok's row shape.
    pub(super) fn into_rows(mut self) -> Vec<Box<RawValue>> {
        let mut out: Vec<Box<RawValue>> = self
            .order
            .iter()
            .filter_map(|key| self.rows.remove(key))
            .filter_map(|(dimensions, metrics)| {
                let row = serde_json::json!({"dimensions": dimensions, "metrics": metrics});
                RawValue::from_string(row.to_string()).ok()
            })
            .collect();
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
    let parts = learned.load(Ordering::Relaxed).max(2);
    let mut queue: VecDeque<Vec<String>> = cut(&spec.metrics, parts).into();
    let mut read_parts = 0usize;
    // The plan counted this query once: every other query asked for it is added to the plan.
    let mut asked = refused;
    let grow_plan = |asked: u64| grow_plan(ctx, binding, advertiser_id, asked);
    let mut joined = Joined::default();
    let filters = query.filtering(spec, ctx.config.include_deleted);
    while let Some(metrics) = queue.pop_front() {
        let part = ReportSpec {
            metrics,
            ..spec.clone()
        };
        let query_pages = ListQuery {
            endpoint: REPORT_PATH,
            params: params(&part, advertiser_id, query.window, &filters),
            list_key: "list",
            page_size: PAGE_SIZE,
        };
        asked += 1;
        let rows = match read_part(ctx, binding, query_pages, accept_capped).await {
            Ok(Part::Rows(rows)) => Ok(rows),
            Ok(Part::Capped) => {
                grow_plan(asked);
                return Ok(None);
            }
            Ok(Part::TooLarge(err)) => Err(err),
            Err(err) => {
                grow_plan(asked);
                return Err(err);
            }
        };
        if let Err(err) = rows {
            if part.metrics.len() < 2 {
                grow_plan(asked);
                return Err(err);
            }
            tracing::info!(
                advertiser_id,
                metrics = part.metrics.len(),
                "TikTok found a query of part of the metrics too large (40067); halving it."
            );
            let mut halves = cut(&part.metrics, 2);
            queue.push_front(halves.pop().unwrap_or_default());
            queue.push_front(halves.pop().unwrap_or_default());
            continue;
        }
        for raw in rows.into_iter().flatten() {
            joined.add(spec, raw);
        }
        read_parts += 1;
    }
    learned.fetch_max(read_parts, Ordering::Relaxed);
    grow_plan(asked);
    Ok(Some(joined.into_rows()))
}

/// What one part's query answered.
enum Part {
    Rows(Vec<Box<RawValue>>),
    /// Over the ads cap, and the caller does not accept capped answers.
    Capped,
    /// TikTok found even this part too large (40067).
    TooLarge(crate::error::Error),
}

/// Reads every page of one part's query.
async fn read_part(
    ctx: &Context,
    binding: usize,
    query: ListQuery,
    accept_capped: bool,
) -> Result<Part> {
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

/// Adds to the plan the queries a split query took beyond the one the plan counted.
fn grow_plan(ctx: &Context, binding: usize, advertiser_id: u64, asked: u64) {
    let extra = asked.saturating_sub(1);
    let planned = ctx.counters[binding]
        .planned
        .fetch_add(extra, Ordering::Relaxed)
        + extra;
    ctx.planned_total.fetch_add(extra, Ordering::Relaxed);
    tracing::info!(
        stream = ctx.stream_name(binding),
        advertiser_id,
        queries = asked,
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
}
