//! Custom reports: the report a user designs in the config (`custom_reports`, the form's
//! [`CustomReportConfig`]) and its validation into a [`CustomReport`] the engine runs. The
//! dimension rules (the level's id, at most one time dimension, the breakdowns of each report
//! type) live here, next to the table's own reports.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::metrics::{Granularity, Level, ReportType, ID_FIELDS};
use super::{CustomReport, ReportSpec};
use crate::error::{Error, Result};

/// A report of your own design.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug)]
pub struct CustomReportConfig {
    /// A short name of letters, digits and underscores; the stream is named custom_report_ followed by it.
    #[schemars(title = "Name")]
    pub name: String,
    /// BASIC or AUDIENCE.
    #[schemars(title = "Report Type")]
    pub report_type: ReportType,
    /// The level of the rows.
    #[schemars(title = "Data Level")]
    pub data_level: Level,
    /// The dimensions: the level's id (such as ad_id), at most one of stat_time_day or stat_time_hour (none for totals: lifetime totals for BASIC reports without country_code, otherwise totals over the 365 days ending on end_date or today, since TikTok has no lifetime metrics for those), and breakdowns such as gender, age, country_code or platform.
    #[schemars(title = "Dimensions")]
    pub dimensions: Vec<String>,
    /// The metrics, such as spend, impressions and clicks.
    #[schemars(title = "Metrics")]
    pub metrics: Vec<String>,
    /// Optional TikTok filters, each {"field_name", "filter_type", "filter_value"}.
    #[schemars(title = "Filtering")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filtering: Option<Vec<Value>>,
}

const TIME_DIMENSIONS: &[&str] = &["stat_time_day", "stat_time_hour"];
const BASIC_BREAKDOWNS: &[&str] = &["country_code"];
const AUDIENCE_BREAKDOWNS: &[&str] = &["gender", "age", "country_code", "platform", "province_id"];
/// Metrics TikTok serves only in advertiser-level daily BASIC reports.
const ADVERTISER_DAILY_METRICS: &[&str] = &["cash_spend", "voucher_spend"];

pub fn validate_custom_report(report: CustomReportConfig, n: usize) -> Result<CustomReport> {
    let name = report.name.trim().to_string();
    let field = |f: &str| format!("custom_reports[{n}].{f}");
    let valid_name = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid_name {
        return Err(Error::config(format!(
            "Config field `{}` is {:?}: use 1 to 64 lowercase letters, digits and underscores.",
            field("name"),
            report.name
        )));
    }
    let at = |f: &str| format!("Custom report {name:?}, field `{}`", field(f));
    let report_type = report.report_type;
    let level = report.data_level;
    let mut dimensions: Vec<String> = Vec::new();
    for d in &report.dimensions {
        let d = d.trim().to_string();
        if dimensions.contains(&d) {
            return Err(Error::config(format!(
                "{}: the dimension {d:?} is listed twice.",
                at("dimensions")
            )));
        }
        dimensions.push(d);
    }
    let ids: Vec<&String> = dimensions
        .iter()
        .filter(|d| ID_FIELDS.contains(&d.as_str()))
        .collect();
    let level_id = level.id_field();
    if ids.is_empty() {
        return Err(Error::config(format!(
            "{}: there is no id dimension. Add {level_id:?}: TikTok requires the level's id \
             among the dimensions.",
            at("dimensions")
        )));
    }
    if ids.len() > 1 || ids[0] != level_id {
        return Err(Error::config(format!(
            "{}: at data level {} the id dimension must be {level_id:?} alone; got {:?}.",
            at("dimensions"),
            level.data_level(),
            ids
        )));
    }
    let times: Vec<&String> = dimensions
        .iter()
        .filter(|d| TIME_DIMENSIONS.contains(&d.as_str()))
        .collect();
    if times.len() > 1 {
        return Err(Error::config(format!(
            "{}: use at most one time dimension (stat_time_day or stat_time_hour); got {:?}.",
            at("dimensions"),
            times
        )));
    }
    let granularity = match times.first().map(|s| s.as_str()) {
        Some("stat_time_day") => Granularity::Day,
        Some(_) => Granularity::Hour,
        None => Granularity::Lifetime,
    };
    if report_type == ReportType::Audience && granularity == Granularity::Hour {
        return Err(Error::config(format!(
            "{}: TikTok refuses stat_time_hour in AUDIENCE reports (code 40002). Use \
             stat_time_day.",
            at("dimensions")
        )));
    }
    let breakdowns = match report_type {
        ReportType::Basic => BASIC_BREAKDOWNS,
        ReportType::Audience => AUDIENCE_BREAKDOWNS,
    };
    for d in &dimensions {
        let known = ID_FIELDS.contains(&d.as_str())
            || TIME_DIMENSIONS.contains(&d.as_str())
            || breakdowns.contains(&d.as_str());
        if !known {
            return Err(Error::config(format!(
                "{}: {d:?} is not a dimension of {} reports. Use the level id, a time dimension \
                 and breakdowns among {:?}.",
                at("dimensions"),
                report_type.as_api(),
                breakdowns
            )));
        }
    }
    let mut metrics: Vec<String> = Vec::new();
    for m in &report.metrics {
        let m = m.trim().to_string();
        if m.is_empty() || metrics.contains(&m) {
            return Err(Error::config(format!(
                "{}: the metric {m:?} is empty or listed twice.",
                at("metrics")
            )));
        }
        metrics.push(m);
    }
    if metrics.is_empty() {
        return Err(Error::config(format!(
            "{}: list at least one metric, such as \"spend\".",
            at("metrics")
        )));
    }
    if report_type == ReportType::Audience
        && !dimensions
            .iter()
            .any(|d| AUDIENCE_BREAKDOWNS.contains(&d.as_str()))
    {
        return Err(Error::config(format!(
            "{}: AUDIENCE reports need an audience dimension among {AUDIENCE_BREAKDOWNS:?} \
             (TikTok refuses them without one); use report_type BASIC for plain totals.",
            at("dimensions")
        )));
    }
    let advertiser_daily = report_type == ReportType::Basic
        && level == Level::Advertiser
        && granularity == Granularity::Day;
    if let Some(m) = metrics
        .iter()
        .find(|m| ADVERTISER_DAILY_METRICS.contains(&m.as_str()))
        .filter(|_| !advertiser_daily)
    {
        return Err(Error::config(format!(
            "{}: TikTok offers {m:?} only in BASIC reports at AUCTION_ADVERTISER with \
             stat_time_day (it answers 40002 \"Invalid metric fields\" otherwise). Remove it, \
             or change the report.",
            at("metrics")
        )));
    }
    let filtering = report.filtering.unwrap_or_default();
    for (i, f) in filtering.iter().enumerate() {
        let ok = f.get("field_name").is_some_and(Value::is_string)
            && f.get("filter_type").is_some_and(Value::is_string)
            && f.get("filter_value").is_some();
        if !ok {
            return Err(Error::config(format!(
                "{}[{i}]: each filter is an object with \"field_name\", \"filter_type\" and \
                 \"filter_value\".",
                at("filtering")
            )));
        }
    }
    Ok(CustomReport {
        name,
        spec: ReportSpec {
            report_type,
            level,
            granularity,
            dimensions,
            metrics,
            filtering,
        },
    })
}
