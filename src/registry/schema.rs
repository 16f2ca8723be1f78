//! JSON schemas of the records. Entity schemas are written by hand under `schemas/`; report
//! schemas follow from the report's dimensions and the metric catalog's types, and the ones of
//! the table's rows are also kept under `schemas/` (a test regenerates and compares them, so a
//! change to the table shows up as a reviewed file diff). Each row of the table compiles its
//! own file into the binary; custom reports get theirs from [`report_schema`].

use serde_json::{json, Map, Value};

use super::metric_catalog::metric_type;
use super::metrics::MetricType;
use super::report_options::{flat_field, RecordLayout};
use super::report_spec::{ReportSpec, TOTALS_DAYS};

/// The type of a dimension value in records.
pub(crate) fn dimension_type(dimension: &str) -> MetricType {
    if super::metrics::ID_FIELDS.contains(&dimension) {
        MetricType::Id
    } else {
        MetricType::Text
    }
}

fn dimension_schema(dimension: &str) -> Value {
    match (dimension, dimension_type(dimension)) {
        (_, MetricType::Id) => json!({"type": "integer"}),
        ("stat_time_day", _) => json!({
            "type": "string",
            "description": "The day, as YYYY-MM-DD 00:00:00 in the advertiser's time zone."
        }),
        ("stat_time_hour", _) => json!({
            "type": "string",
            "description": "The hour, as YYYY-MM-DD HH:00:00 in the advertiser's time zone."
        }),
        _ => json!({"type": "string"}),
    }
}

fn metric_schema(metric: &str) -> Value {
    match metric_type(metric) {
        Some(MetricType::Number) => json!({"type": ["number", "null"]}),
        Some(MetricType::Id) => json!({"type": ["integer", "null"]}),
        Some(MetricType::Text) | None => json!({"type": ["string", "null"]}),
    }
}

/// The schema of a report's records: the id, time and breakdown keys at the top level with
/// `advertiser_id`, TikTok's nested `dimensions`, and the metrics in TikTok's nested `metrics`
/// or, in the flat layout, each at the top level (see [`flat_field`] for names that collide).
pub(crate) fn report_schema(name: &str, report: &ReportSpec) -> Value {
    let mut properties = Map::new();
    let mut required: Vec<Value> = Vec::new();
    let mut dimension_properties = Map::new();
    for dimension in &report.dimensions {
        properties.insert(dimension.clone(), dimension_schema(dimension));
        dimension_properties.insert(dimension.clone(), dimension_schema(dimension));
        required.push(json!(dimension));
    }
    if !properties.contains_key("advertiser_id") {
        properties.insert("advertiser_id".into(), dimension_schema("advertiser_id"));
        required.push(json!("advertiser_id"));
    }
    properties.insert(
        "dimensions".into(),
        json!({
            "type": "object",
            "required": report.dimensions,
            "properties": dimension_properties,
        }),
    );
    required.push(json!("dimensions"));
    match report.layout {
        RecordLayout::Nested => {
            let metric_properties: Map<String, Value> = report
                .metrics
                .iter()
                .map(|m| (m.clone(), metric_schema(m)))
                .collect();
            properties.insert(
                "metrics".into(),
                json!({"type": "object", "properties": metric_properties}),
            );
            required.push(json!("metrics"));
        }
        RecordLayout::Flat => {
            for metric in &report.metrics {
                let field = flat_field(metric, &report.dimensions).into_owned();
                properties.insert(field, metric_schema(metric));
            }
        }
    }
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": name,
        "description": format!(
            "TikTok {} report rows at {} level{}.",
            report.report_type.as_api(),
            report.level.data_level(),
            match report.granularity.time_dimension() {
                Some(t) => format!(", one per {t}"),
                None if report.uses_query_lifetime() =>
                    ", lifetime totals (TikTok's lifetime metrics)".to_string(),
                None => format!(
                    ", totals over the {TOTALS_DAYS} days ending on end_date, or today in the ad \
                     account's time zone when end_date is unset or later (the longest range \
                     TikTok accepts without a time dimension; TikTok has no lifetime metrics for \
                     this report), read again in full every run"
                ),
            }
        ),
        "type": "object",
        "required": required,
        "properties": properties,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{Kind, ReportSpec, STREAMS};
    use super::*;

    /// Report schema files are what the table generates. Run with UPDATE_SCHEMAS=1 to rewrite
    /// them after a deliberate change to the table.
    #[test]
    fn report_schema_files_match_the_table() {
        let update = std::env::var_os("UPDATE_SCHEMAS").is_some();
        for def in STREAMS {
            let Kind::Report(r) = def.kind else { continue };
            let generated = report_schema(def.name, &ReportSpec::from_def(&r));
            let path = format!("{}/schemas/{}.json", env!("CARGO_MANIFEST_DIR"), def.name);
            let text = serde_json::to_string_pretty(&generated).unwrap() + "\n";
            if update {
                std::fs::write(&path, &text).unwrap();
                continue;
            }
            let on_disk = std::fs::read_to_string(&path).unwrap_or_default();
            assert_eq!(
                on_disk, text,
                "{path} differs from the table; run UPDATE_SCHEMAS=1 cargo test"
            );
        }
    }

    #[test]
    fn every_row_has_a_parsable_schema_file() {
        for def in STREAMS {
            let value: Value = serde_json::from_str(def.schema)
                .unwrap_or_else(|e| panic!("{}: the schema file does not parse: {e}", def.name));
            assert_eq!(value["type"], "object", "{}", def.name);
        }
    }

    #[test]
    fn metrics_are_typed_by_the_declared_table() {
        let def = super::super::find("ads_reports_daily").unwrap();
        let Kind::Report(r) = def.kind else { panic!() };
        let schema = report_schema("x", &ReportSpec::from_def(&r));
        let metrics = &schema["properties"]["metrics"]["properties"];
        assert_eq!(metrics["spend"]["type"], json!(["number", "null"]));
        assert_eq!(metrics["ad_name"]["type"], json!(["string", "null"]));
        assert_eq!(metrics["campaign_id"]["type"], json!(["integer", "null"]));
        assert_eq!(metrics["mobile_app_id"]["type"], json!(["string", "null"]));
    }
}
