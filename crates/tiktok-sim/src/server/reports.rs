//! `report/integrated/get/` over HTTP: its parameters parsed into a [`ReportQuery`], the plan
//! of a query cached for its following pages, one page rendered, and reports over several ad
//! accounts (`advertiser_ids`).

use std::sync::Arc;

use chrono::NaiveDate;

use serde_json::{json, Value};

use super::entities::known_advertiser;
use super::params::{json_param, page_info, page_range, paging, string_list};
use super::{
    advertiser_param, bad, bool_param, parse_date, Answered, ApiError, AppState, Params,
    PLAN_CACHE, REPORT_PATH,
};
use crate::catalog::{Level, ReportType};
use crate::report::ReportQuery;
use crate::rules;

/// A report over several ad accounts (`advertiser_ids`; Run a synchronous report,
/// [`rules::docs::SYNC_REPORT`]): at most [`rules::MAX_ADVERTISERS_PER_REPORT`] accounts of one
/// TikTok for Business user, BASIC or AUDIENCE reports only; `advertiser_id` is then ignored.
/// Each account's rows are those of its own query, in its own time zone (the default of
/// `multi_adv_report_in_utc_time`, the only one modelled), with `advertiser_id`, `currency` and
/// `timezone` added to the metrics; money metrics come without a decimal point (whole numbers
/// here). The ads cap counts the whole batch: over it, the answer carries the throttle header
/// (the rows are not cut as TikTok would; a client must act on the header).
fn multi_account_report(state: &AppState, params: &Params) -> Result<Answered, ApiError> {
    let ids: Vec<u64> = match json_param(params, "advertiser_ids")? {
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => s.trim().parse().ok(),
                Value::Number(n) => n.as_u64(),
                _ => None,
            })
            .collect::<Option<Vec<u64>>>()
            .ok_or_else(|| bad("advertiser_ids: Field must be set to array of advertiser IDs."))?,
        _ => return Err(bad("advertiser_ids: Field must be set to array.")),
    };
    if ids.is_empty() || ids.len() > rules::MAX_ADVERTISERS_PER_REPORT {
        return Err(bad(format!(
            "advertiser_ids: Length must be between 1 and {}.",
            rules::MAX_ADVERTISERS_PER_REPORT
        )));
    }
    for id in &ids {
        known_advertiser(state, *id)?;
    }
    let users = state.cfg.data.users.max(1);
    let owner = |id: u64| state.model.advertiser(id).map(|a| a.index % users);
    if ids.iter().any(|id| owner(*id) != owner(ids[0])) {
        return Err(bad(
            "advertiser_ids: The advertisers must belong to the same TikTok for Business user.",
        ));
    }
    let (page, size) = paging(params, REPORT_PATH)?;
    let mut rows = Vec::new();
    let (mut selected, mut throttled) = (0, false);
    for id in ids {
        let mut single = params.clone();
        single.remove("advertiser_ids");
        single.insert("advertiser_id".into(), id.to_string());
        let q = parse_report_query(&single)?;
        let plan = state.model.report_plan(&q)?;
        selected += plan.selected_ads();
        throttled |= plan.ads_throttled();
        let info = state.model.advertiser_info(id).unwrap_or(Value::Null);
        for mut row in state.model.render_rows(&plan, 0, plan.len()) {
            if let Some(metrics) = row["metrics"].as_object_mut() {
                for (name, value) in metrics.iter_mut() {
                    if is_money(name) {
                        if let Some(x) = value.as_str().and_then(|t| t.parse::<f64>().ok()) {
                            *value = json!(format!("{:.0}", x));
                        }
                    }
                }
                metrics.insert("advertiser_id".into(), json!(id.to_string()));
                metrics.insert("currency".into(), info["currency"].clone());
                metrics.insert("timezone".into(), info["timezone"].clone());
            }
            rows.push(row);
        }
    }
    let (from, to) = page_range(page, size, rows.len());
    let data = json!({"list": &rows[from..to], "page_info": page_info(page, size, rows.len())});
    Ok(Answered {
        data: data.to_string().into_bytes(),
        ads_throttled: throttled || selected > state.model.ads_cap(),
        file: None,
    })
}

/// Metrics in the account's currency.
fn is_money(metric: &str) -> bool {
    matches!(
        metric,
        "spend" | "cash_spend" | "voucher_spend" | "cpc" | "cpm"
    ) || metric.starts_with("cost_per_")
        || metric.ends_with("_cost")
}

/// Parses the query parameters of a report request.
pub(crate) fn parse_report_query(params: &Params) -> Result<ReportQuery, ApiError> {
    let advertiser_id = advertiser_param(params)?;
    if let Some(st) = params.get("service_type") {
        if st != "AUCTION" {
            return Err(bad(format!(
                "service_type: {st} is not served by the simulated API (only AUCTION)."
            )));
        }
    }
    let report_type = match params.get("report_type").map(String::as_str) {
        Some("BASIC") => ReportType::Basic,
        Some("AUDIENCE") => ReportType::Audience,
        Some(other) => {
            return Err(bad(format!(
                "report_type: {other} is not one of BASIC, AUDIENCE."
            )))
        }
        None => return Err(bad("report_type: Missing data for required field.")),
    };
    let level = match params.get("data_level") {
        Some(dl) => Level::from_data_level(dl)
            .ok_or_else(|| bad(format!("data_level: invalid value {dl}")))?,
        None => return Err(bad("data_level: Missing data for required field.")),
    };
    let dimensions = string_list(params, "dimensions")?
        .ok_or_else(|| bad("dimensions: Missing data for required field."))?;
    let metrics = string_list(params, "metrics")?
        .unwrap_or_else(|| vec!["spend".into(), "impressions".into()]);
    let date = |name: &str| -> Result<Option<NaiveDate>, ApiError> {
        match params.get(name) {
            None => Ok(None),
            Some(d) => parse_date(d)
                .map(Some)
                .ok_or_else(|| bad(format!("{name}: Not a valid date (YYYY-MM-DD)."))),
        }
    };
    let lifetime = bool_param(params, "query_lifetime", false)?;
    let filtering = match json_param(params, "filtering")? {
        None => Vec::new(),
        Some(Value::Array(items)) if items.iter().all(Value::is_object) => items,
        Some(_) => return Err(bad("filtering: Field must be set to array of objects.")),
    };
    Ok(ReportQuery {
        advertiser_id,
        report_type,
        level,
        dimensions,
        metrics,
        start_date: if lifetime { None } else { date("start_date")? },
        end_date: if lifetime { None } else { date("end_date")? },
        lifetime,
        filtering,
    })
}

pub(super) fn report_get(state: &AppState, params: &Params) -> Result<Answered, ApiError> {
    if params.contains_key("advertiser_ids") {
        return multi_account_report(state, params);
    }
    let q = parse_report_query(params)?;
    let (page, size) = paging(params, REPORT_PATH)?;
    let key = format!("{q:?}");
    let cached = state.plans.lock().ok().and_then(|p| p.get(&key).cloned());
    let plan = match cached {
        Some(plan) => plan,
        None => {
            let plan = Arc::new(state.model.report_plan(&q)?);
            if let Ok(mut plans) = state.plans.lock() {
                if plans.len() >= PLAN_CACHE {
                    plans.clear();
                }
                plans.insert(key, plan.clone());
            }
            plan
        }
    };
    let (from, to) = page_range(page, size, plan.len());
    let list = state.model.render_rows_json(&plan, from, to);
    let mut out = Vec::with_capacity(list.len() + 100);
    out.extend_from_slice(b"{\"list\":");
    out.extend_from_slice(&list);
    out.extend_from_slice(b",\"page_info\":");
    let _ = serde_json::to_writer(&mut out, &page_info(page, size, plan.len()));
    out.push(b'}');
    Ok(Answered {
        data: out,
        ads_throttled: plan.ads_throttled(),
        file: None,
    })
}
