//! The parameters of one synchronous report query (`report/integrated/get/`, the one place its
//! path is spelled): report type, data level, dimensions, metrics, dates or lifetime, and the
//! `filtering` list (deleted entities at the level, a custom report's own filters, an id filter
//! of a split, a buying scope's filter), whose entries are built and read through
//! [`Filter`].
//! Pure: it builds queries and sends none.

use chrono::NaiveDate;
use serde_json::{json, Value};

use super::filter::Filter;
use crate::capture::listing::BuyingScope;
use crate::client::Params;
use crate::registry::ReportSpec;

/// The synchronous report endpoint (Run a synchronous report, portal doc 1740302848100353).
pub const REPORT_PATH: &str = "report/integrated/get/";
/// The largest page of a report.
pub const PAGE_SIZE: u32 = 1000;

/// The `filtering` of a query: deleted entities at the level when wanted, the user's filters,
/// and an id filter when the query is split.
pub fn filtering(spec: &ReportSpec, include_deleted: bool, split: Option<&Value>) -> Vec<Value> {
    let mut out = Vec::new();
    if include_deleted {
        if let Some(field) = spec.level.status_filter_field() {
            if !filters_on(spec, &[field]) {
                out.push(Filter::is_in(field, &["STATUS_ALL"]).to_value());
            }
        }
    }
    out.extend(spec.filtering.iter().cloned());
    out.extend(split.cloned());
    out
}

/// The `filtering` of one query of a buying scope: [`filtering`], and the scope's own filter
/// (TopView's buying type).
pub(crate) fn scoped_filtering(
    spec: &ReportSpec,
    include_deleted: bool,
    scope: BuyingScope,
    split: Option<&Value>,
) -> Vec<Value> {
    let mut filters = filtering(spec, include_deleted, split);
    filters.extend(scope.report_filter());
    filters
}

/// The query parameters of one report request (without page and page_size).
///
/// One ad account per query. TikTok's multi-account form (`advertiser_ids`, up to five accounts
/// per BASIC or AUDIENCE query) would save requests, but its documentation (Run a synchronous
/// report, portal id 1740302848100353) says currency metrics then come without a decimal point
/// and times in UTC or each account's zone by choice, and the 20,000-ad cap counts the whole
/// batch: the rows would not be those of per-account queries, so the report streams do not use
/// it (the ledger does, only for whether accounts ever delivered:
/// [`crate::capture::activity::ACCOUNTS_PER_QUERY`]).
pub fn params(
    spec: &ReportSpec,
    advertiser_id: u64,
    window: Option<(NaiveDate, NaiveDate)>,
    filters: &[Value],
) -> Params {
    let mut params: Params = vec![
        ("advertiser_id", advertiser_id.to_string()),
        ("service_type", "AUCTION".into()),
        ("report_type", spec.report_type.as_api().into()),
        ("data_level", spec.level.data_level().into()),
        ("dimensions", json!(spec.dimensions).to_string()),
        ("metrics", json!(spec.metrics).to_string()),
    ];
    match window {
        Some((start, end)) => {
            params.push(("start_date", start.format("%Y-%m-%d").to_string()));
            params.push(("end_date", end.format("%Y-%m-%d").to_string()));
        }
        None => params.push(("query_lifetime", "true".into())),
    }
    if !filters.is_empty() {
        params.push(("filtering", json!(filters).to_string()));
    }
    params
}

/// The pages one query over `days` is expected to read, from the rows per day the last run
/// read (one page when unknown, as on a first run). Rows vary from query to query, so the
/// last page is half full on average: `rows / page size + 1/2`, at least one page.
pub(crate) fn expected_pages(rows_per_day: Option<f64>, days: i64) -> f64 {
    let rows = rows_per_day.unwrap_or(0.0).clamp(0.0, 1e9) * days.max(1) as f64;
    (rows / PAGE_SIZE as f64 + 0.5).max(1.0)
}

/// Whether a report's own filtering (a custom report's) already filters on one of `fields`.
pub(crate) fn filters_on(spec: &ReportSpec, fields: &[&str]) -> bool {
    spec.filtering
        .iter()
        .any(|f| Filter::field_of(f).is_some_and(|n| fields.contains(&n)))
}

/// One query of a report: its buying scope, window and id filter.
#[derive(Clone, Copy)]
pub(crate) struct Query<'a> {
    pub(crate) scope: BuyingScope,
    pub(crate) window: Option<(NaiveDate, NaiveDate)>,
    pub(crate) split: Option<&'a Value>,
}

impl Query<'_> {
    /// Its `filtering` entries.
    pub(crate) fn filtering(&self, spec: &ReportSpec, include_deleted: bool) -> Vec<Value> {
        scoped_filtering(spec, include_deleted, self.scope, self.split)
    }
}

/// An id filter: `field` (`campaign_ids`, `adgroup_ids`, `ad_ids`) IN `ids`.
pub(crate) fn id_filter(field: &str, ids: &[u64]) -> Value {
    Filter::is_in(field, ids).to_value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_follow_the_rows_per_day_of_the_last_run() {
        // Unknown (a first run): one page a query.
        assert_eq!(expected_pages(None, 30), 1.0);
        // 2,400 hourly rows a day: 2.4 pages and a half-full last one for a day; 72.5 for 30.
        assert_eq!(expected_pages(Some(2400.0), 1), 2.9);
        assert_eq!(expected_pages(Some(2400.0), 30), 72.5);
        // An idle stretch still costs the query; a hostile hint is bounded.
        assert_eq!(expected_pages(Some(0.0), 4), 1.0);
        assert_eq!(expected_pages(Some(-5.0), 4), 1.0);
        assert_eq!(expected_pages(Some(f64::MAX), 1), 1_000_000.5);
    }

    #[test]
    fn deleted_filter_matches_the_level() {
        let def = crate::registry::find("ad_groups_reports_daily").unwrap();
        let crate::registry::Kind::Report(r) = def.kind else {
            panic!()
        };
        let spec = ReportSpec::from_def(&r);
        let f = filtering(&spec, true, None);
        assert_eq!(
            f,
            [
                json!({"field_name": "adgroup_status", "filter_type": "IN", "filter_value": "[\"STATUS_ALL\"]"})
            ]
        );
        assert!(filtering(&spec, false, None).is_empty());
        let adv = crate::registry::find("advertisers_reports_daily").unwrap();
        let crate::registry::Kind::Report(r) = adv.kind else {
            panic!()
        };
        assert!(filtering(&ReportSpec::from_def(&r), true, None).is_empty());
    }
}
