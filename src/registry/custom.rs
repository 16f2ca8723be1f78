//! Custom reports: the report a user designs in the config (`custom_reports`, the form's
//! [`CustomReportConfig`]) and its validation into a [`CustomReport`] the engine runs. The
//! dimension rules (the level's id, at most one time dimension, the breakdowns of each report
//! type) live here, next to the table's own reports; each metric is checked against the
//! metric catalog ([`super::metric_catalog`]): a name TikTok does not document, or one TikTok
//! documents as unsupported in the report, is refused with the nearest names the report can
//! take.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::metric_catalog::{self, Refusal, ReportShape};
use super::metrics::{Granularity, Level, ReportType, ID_FIELDS};
use super::{CustomReport, ReportSpec};
use crate::error::{Error, Result};

/// A report of your own design.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug)]
pub(crate) struct CustomReportConfig {
    /// A short name of letters, digits and underscores; the stream is named custom_report_ followed by it.
    #[schemars(title = "Name")]
    pub(crate) name: String,
    /// BASIC or AUDIENCE.
    #[schemars(title = "Report Type")]
    pub(crate) report_type: ReportType,
    /// The level of the rows.
    #[schemars(title = "Data Level")]
    pub(crate) data_level: Level,
    /// The dimensions: the level's id (such as ad_id), at most one of stat_time_day or stat_time_hour (none for totals: lifetime totals for BASIC reports without country_code, otherwise totals over the 365 days ending on end_date or today, since TikTok has no lifetime metrics for those), and breakdowns such as gender, age, country_code or platform.
    #[schemars(title = "Dimensions")]
    pub(crate) dimensions: Vec<String>,
    /// The metrics, such as spend, impressions and clicks.
    #[schemars(title = "Metrics")]
    pub(crate) metrics: Vec<String>,
    /// Optional TikTok filters, each {"field_name", "filter_type", "filter_value"}.
    #[schemars(title = "Filtering")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) filtering: Option<Vec<Value>>,
}

const TIME_DIMENSIONS: &[&str] = &["stat_time_day", "stat_time_hour"];
const BASIC_BREAKDOWNS: &[&str] = &["country_code"];
const AUDIENCE_BREAKDOWNS: &[&str] = &["gender", "age", "country_code", "platform", "province_id"];

pub(crate) fn validate_custom_report(report: CustomReportConfig, n: usize) -> Result<CustomReport> {
    let name = checked_name(&report.name, n)?;
    let at = Place { name: &name, n };
    let report_type = report.report_type;
    let level = report.data_level;
    let (dimensions, granularity) = checked_dimensions(&report.dimensions, report_type, level, at)?;
    let metrics = checked_metrics(&report.metrics, at)?;
    if report_type == ReportType::Audience
        && !dimensions
            .iter()
            .any(|d| AUDIENCE_BREAKDOWNS.contains(&d.as_str()))
    {
        return Err(Error::config(format!(
            "{}: AUDIENCE reports need an audience dimension among {AUDIENCE_BREAKDOWNS:?} \
             (TikTok refuses them without one); use report_type BASIC for plain totals.",
            at.field("dimensions")
        )));
    }
    let shape = ReportShape {
        report_type,
        level,
        granularity,
        breakdown: dimensions
            .iter()
            .any(|d| AUDIENCE_BREAKDOWNS.contains(&d.as_str())),
    };
    for m in &metrics {
        if let Err(refusal) = metric_catalog::check(m, shape) {
            return Err(Error::config(format!(
                "{}: {}",
                at.field("metrics"),
                metric_refusal(m, &refusal, shape)
            )));
        }
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
                at.field("filtering")
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
            // The config's `advanced.record_layout` is applied when the stream is resolved.
            layout: crate::registry::RecordLayout::Nested,
        },
    })
}

/// Where in the config a custom report's error points: its name and its index.
#[derive(Clone, Copy)]
struct Place<'a> {
    name: &'a str,
    n: usize,
}

impl Place<'_> {
    /// The place as errors name it: ``Custom report "name", field `custom_reports[n].f` ``.
    fn field(self, f: &str) -> String {
        format!(
            "Custom report {:?}, field `custom_reports[{}].{f}`",
            self.name, self.n
        )
    }
}

/// The report's name, trimmed: 1 to 64 lowercase letters, digits and underscores.
fn checked_name(raw: &str, n: usize) -> Result<String> {
    let name = raw.trim().to_string();
    let valid_name = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !valid_name {
        return Err(Error::config(format!(
            "Config field `custom_reports[{n}].name` is {:?}: use 1 to 64 lowercase letters, \
             digits and underscores.",
            crate::scrub::echo(raw)
        )));
    }
    Ok(name)
}

/// The dimensions as listed, trimmed; one listed twice is refused.
fn distinct_dimensions(raw: &[String], at: Place<'_>) -> Result<Vec<String>> {
    let mut dimensions: Vec<String> = Vec::new();
    for d in raw {
        let d = d.trim().to_string();
        if dimensions.contains(&d) {
            return Err(Error::config(format!(
                "{}: the dimension {:?} is listed twice.",
                at.field("dimensions"),
                crate::scrub::echo(&d)
            )));
        }
        dimensions.push(d);
    }
    Ok(dimensions)
}

/// The report's dimensions, trimmed and checked as TikTok would (no duplicate, the level's id
/// alone, at most one time dimension, no hour in AUDIENCE reports, only known breakdowns), and
/// the granularity their time dimension gives.
fn checked_dimensions(
    raw: &[String],
    report_type: ReportType,
    level: Level,
    at: Place<'_>,
) -> Result<(Vec<String>, Granularity)> {
    let dimensions = distinct_dimensions(raw, at)?;
    let ids: Vec<&String> = dimensions
        .iter()
        .filter(|d| ID_FIELDS.contains(&d.as_str()))
        .collect();
    let level_id = level.id_field();
    if ids.is_empty() {
        return Err(Error::config(format!(
            "{}: there is no id dimension. Add {level_id:?}: TikTok requires the level's id \
             among the dimensions.",
            at.field("dimensions")
        )));
    }
    if ids.len() > 1 || ids[0] != level_id {
        return Err(Error::config(format!(
            "{}: at data level {} the id dimension must be {level_id:?} alone; got {:?}.",
            at.field("dimensions"),
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
            at.field("dimensions"),
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
            at.field("dimensions")
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
                "{}: {:?} is not a dimension of {} reports. Use the level id, a time dimension \
                 and breakdowns among {:?}.",
                at.field("dimensions"),
                crate::scrub::echo(d),
                report_type.as_api(),
                breakdowns
            )));
        }
    }
    Ok((dimensions, granularity))
}

/// The report's metrics, trimmed: at least one, none empty or listed twice (whether TikTok
/// documents them is checked against the catalog once the report's shape is known).
fn checked_metrics(raw: &[String], at: Place<'_>) -> Result<Vec<String>> {
    let mut metrics: Vec<String> = Vec::new();
    for m in raw {
        let m = m.trim().to_string();
        if m.is_empty() || metrics.contains(&m) {
            return Err(Error::config(format!(
                "{}: the metric {:?} is empty or listed twice.",
                at.field("metrics"),
                crate::scrub::echo(&m)
            )));
        }
        metrics.push(m);
    }
    if metrics.is_empty() {
        return Err(Error::config(format!(
            "{}: list at least one metric, such as \"spend\".",
            at.field("metrics")
        )));
    }
    Ok(metrics)
}

/// How many "did you mean" names an error offers.
const HINTS: usize = 3;

/// Why TikTok would refuse a metric in a report, and the nearest documented names the report
/// can take instead.
fn metric_refusal(metric: &str, refusal: &Refusal, report: ReportShape) -> String {
    let hints = metric_catalog::nearest(metric, HINTS, |m| m.rule.allows(report));
    let hints = match hints.as_slice() {
        [] => String::new(),
        names => format!(
            " The nearest documented metrics this report can take: {}.",
            names
                .iter()
                .map(|n| format!("{n:?}"))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    match refusal {
        Refusal::Undocumented => format!(
            "TikTok does not document the metric {metric:?} (its Metrics page, portal doc \
             1751443967255553, lists every report metric); TikTok would answer 40002 \
             \"Invalid metric fields\". Correct the name or remove it.{hints}"
        ),
        Refusal::Unsupported(stated) => format!(
            "TikTok does not serve {metric:?} in a {} report at {} {}: it is {stated}; TikTok \
             would answer 40002 \"Invalid metric fields\". Remove it, or change the report.{hints}",
            report.report_type.as_api(),
            report.level.data_level(),
            match (report.granularity, report.breakdown) {
                (Granularity::Hour, _) => "by hour (stat_time_hour)",
                (Granularity::Day, false) => "by day (stat_time_day)",
                (Granularity::Day, true) => "by day with a breakdown",
                (Granularity::Lifetime, false) => "without a time dimension",
                (Granularity::Lifetime, true) => "with a breakdown and no time dimension",
            }
        ),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn report(
        report_type: &str,
        level: &str,
        dimensions: Value,
        metrics: Value,
    ) -> CustomReportConfig {
        serde_json::from_value(json!({"name": "funnel", "report_type": report_type,
            "data_level": level, "dimensions": dimensions, "metrics": metrics}))
        .unwrap()
    }

    fn refusal(config: CustomReportConfig) -> String {
        validate_custom_report(config, 2).unwrap_err().to_string()
    }

    #[test]
    fn an_undocumented_metric_is_refused_with_the_nearest_names() {
        let text = refusal(report(
            "BASIC",
            "AUCTION_AD",
            json!(["ad_id", "stat_time_day"]),
            json!(["spend", "complete_paymnet_roas"]),
        ));
        for needle in [
            "\"funnel\"",
            "custom_reports[2].metrics",
            "\"complete_paymnet_roas\"",
            "does not document",
            "\"complete_payment_roas\"",
        ] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
    }

    #[test]
    fn a_metric_tiktok_refuses_at_the_level_is_refused_naming_the_rule() {
        let text = refusal(report(
            "BASIC",
            "AUCTION_ADVERTISER",
            json!(["advertiser_id", "stat_time_day"]),
            json!(["spend", "campaign_name"]),
        ));
        for needle in [
            "\"funnel\"",
            "custom_reports[2].metrics",
            "\"campaign_name\"",
            "AUCTION_ADVERTISER",
            "campaign, ad group and ad levels",
            "1751443967255553",
            "nearest documented metrics this report can take: \"",
        ] {
            assert!(text.contains(needle), "{needle}: {text}");
        }
        // A breakdown TikTok does not allow beside the metric, and an hourly report.
        let text = refusal(report(
            "BASIC",
            "AUCTION_AD",
            json!(["ad_id", "stat_time_day", "country_code"]),
            json!(["paid_engaged_view"]),
        ));
        assert!(text.contains("with a breakdown"), "{text}");
        let text = refusal(report(
            "BASIC",
            "AUCTION_ADVERTISER",
            json!(["advertiser_id", "stat_time_hour"]),
            json!(["cash_spend"]),
        ));
        assert!(
            text.contains("by hour") && text.contains("\"cash_spend\""),
            "{text}"
        );
        // The report type.
        let text = refusal(report(
            "AUDIENCE",
            "AUCTION_AD",
            json!(["ad_id", "stat_time_day", "gender"]),
            json!(["billed_cost"]),
        ));
        assert!(
            text.contains("AUDIENCE") && text.contains("BASIC"),
            "{text}"
        );
    }

    #[test]
    fn documented_metrics_of_every_group_are_accepted_where_tiktok_serves_them() {
        let ok = validate_custom_report(
            report(
                "BASIC",
                "AUCTION_CAMPAIGN",
                json!(["campaign_id", "stat_time_day"]),
                json!([
                    "campaign_name",
                    "spend",
                    "complete_payment",
                    "complete_payment_roas",
                    "onsite_shopping",
                    "total_onsite_shopping_value",
                    "skan_conversion",
                    "paid_engaged_view",
                    "vta_purchase"
                ]),
            ),
            0,
        )
        .unwrap();
        assert_eq!(ok.spec.metrics.len(), 9);
        let ok = validate_custom_report(
            report(
                "AUDIENCE",
                "AUCTION_AD",
                json!(["ad_id", "stat_time_day", "age"]),
                json!(["ad_name", "spend", "conversion"]),
            ),
            0,
        );
        assert!(ok.is_ok(), "{ok:?}");
    }
}
