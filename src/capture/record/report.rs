//! Report records: TikTok's nested `dimensions` and `metrics` kept (in the flat layout of
//! `advanced.record_layout`, each metric at the top level instead), top-level copies of the key
//! dimensions and `advertiser_id` added, every metric typed: the general path, which
//! [`report_row`](super::report_row) falls back to when the fast path (`fast`) declines a row,
//! and which the tests hold the fast path to.

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::convert::{conform_id, null_non_finite, typed};
use super::note::Notes;
use super::text::{parse_row, RowError};
use crate::registry::metric_catalog::metric_type;
use crate::registry::metrics::MetricType;
use crate::registry::report_options::flat_field;
use crate::registry::schema::dimension_type;
use crate::registry::{RecordLayout, ReportSpec};

const TIME_DIMENSIONS: [&str; 2] = ["stat_time_day", "stat_time_hour"];

/// A report row as we emit it, and its time key (if any).
pub struct ReportRecord {
    pub(crate) doc: String,
    /// The row's time dimension; nothing in the capture reads it yet, the tests check it.
    pub time: Option<String>,
    /// A key dimension TikTok left empty (kept as `""`), for the caller's warning.
    pub(crate) empty_key: Option<String>,
}

/// What else reads a report row's metrics while its record is built, so the row's text is
/// parsed once: the fast path hands it each metric's name and raw JSON value as it writes
/// them ([`MetricSink::metric`]); a row it declines is handed over whole
/// ([`MetricSink::whole_row`]) after [`MetricSink::clear`] dropped what it had been given.
pub trait MetricSink {
    /// Forgets what it was given of the current row.
    fn clear(&mut self);
    /// One metric of the row, its value as the row's JSON text.
    fn metric(&mut self, name: &str, value: &str);
    /// The whole row's text, for a row the fast path declined.
    fn whole_row(&mut self, raw: &str);
}

/// Nothing reads the metrics besides the record.
impl MetricSink for () {
    fn clear(&mut self) {}
    fn metric(&mut self, _: &str, _: &str) {}
    fn whole_row(&mut self, _: &str) {}
}

/// The general (slower) row builder: serde_json values all the way. The fast path falls
/// back to it for rows it does not handle, and the tests hold the fast path to it.
pub(crate) fn report_row_general(
    raw: &RawValue,
    spec: &ReportSpec,
    advertiser_id: u64,
    notes: &mut Notes,
) -> Result<ReportRecord, RowError> {
    #[derive(serde::Deserialize)]
    struct Row {
        #[serde(default)]
        dimensions: Map<String, Value>,
        #[serde(default)]
        metrics: Map<String, Value>,
    }
    let mut value = parse_row(raw.get(), notes)?;
    if let Value::Object(object) = &mut value {
        for part in ["dimensions", "metrics"] {
            if let Some(Value::Object(members)) = object.get_mut(part) {
                for (name, value) in members.iter_mut() {
                    null_non_finite(&format!("{part}.{name}"), value, notes);
                }
            }
        }
    }
    let row: Row =
        serde_json::from_value(value).map_err(|e| format!("a report row is unreadable: {e}"))?;
    let mut out = Map::new();
    let mut dimensions = Map::new();
    let mut time = None;
    let mut empty_key = None;
    for name in &spec.dimensions {
        let value = row.dimensions.get(name).unwrap_or(&Value::Null);
        let Some(value) = key_dimension(name, value, &mut empty_key, notes) else {
            return Err(format!(
                "a report row has no usable {name:?} (a key dimension): {}",
                raw.get().chars().take(300).collect::<String>()
            )
            .into());
        };
        if Some(name.as_str()) == spec.granularity.time_dimension() {
            time = value.as_str().map(str::to_string);
        }
        out.insert(name.clone(), value.clone());
        dimensions.insert(name.clone(), value);
    }
    // Dimensions TikTok added beyond the ones asked for are kept as sent.
    for (name, value) in row.dimensions {
        dimensions.entry(name).or_insert(value);
    }
    if !out.contains_key("advertiser_id") {
        out.insert("advertiser_id".into(), Value::Number(advertiser_id.into()));
    }
    let metrics: Map<String, Value> = row
        .metrics
        .iter()
        .map(|(name, value)| (name.clone(), typed(name, value, metric_type(name), notes)))
        .collect();
    out.insert("dimensions".into(), Value::Object(dimensions));
    match spec.layout {
        RecordLayout::Nested => {
            out.insert("metrics".into(), Value::Object(metrics));
        }
        RecordLayout::Flat => {
            for (name, value) in metrics {
                out.insert(flat_field(&name, &spec.dimensions).into_owned(), value);
            }
        }
    }
    let doc = serde_json::to_string(&out).map_err(|e| e.to_string())?;
    Ok(ReportRecord {
        doc,
        time,
        empty_key,
    })
}

/// A key dimension's value as the record carries it (`None`: unusable); an empty breakdown
/// value is kept as `""` and named in `empty_key`.
fn key_dimension(
    name: &str,
    value: &Value,
    empty_key: &mut Option<String>,
    notes: &mut Notes,
) -> Option<Value> {
    match dimension_type(name) {
        MetricType::Id => conform_id(name, value, notes),
        _ => match value {
            Value::String(s) if !s.is_empty() => Some(value.clone()),
            Value::Number(n) => Some(Value::String(n.to_string())),
            // A breakdown TikTok could not attribute; a row without its time is unusable.
            Value::String(_) | Value::Null if !TIME_DIMENSIONS.contains(&name) => {
                empty_key.get_or_insert_with(|| name.to_string());
                Some(Value::String(String::new()))
            }
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::capture::record::report_row;
    use crate::capture::record::tests::raw;
    use crate::registry::{find, Kind};

    #[test]
    fn an_empty_breakdown_key_is_kept_as_an_empty_string() {
        let Kind::Report(def) = find("ads_audience_reports_daily").unwrap().kind else {
            panic!()
        };
        let spec = ReportSpec::from_def(&def);
        for gender in [json!(""), Value::Null] {
            let record = report_row(
                &raw(json!({
                    "dimensions": {"ad_id": "11", "stat_time_day": "2024-01-01 00:00:00",
                                   "gender": gender, "age": "AGE_25_34"},
                    "metrics": {"spend": "1.00"}
                })),
                &spec,
                7,
                &mut Notes::new(),
            )
            .expect("the row is kept");
            let doc: Value = serde_json::from_str(&record.doc).unwrap();
            assert_eq!(doc["gender"], "");
            assert_eq!(doc["dimensions"]["gender"], "");
            assert_eq!(record.empty_key.as_deref(), Some("gender"));
        }
        // A row without its entity id is still unusable.
        assert!(report_row(
            &raw(
                json!({"dimensions": {"ad_id": "", "stat_time_day": "2024-01-01 00:00:00",
                                       "gender": "MALE", "age": "AGE_25_34"}, "metrics": {}})
            ),
            &spec,
            7,
            &mut Notes::new(),
        )
        .is_err());
    }

    /// The flat layout puts each typed metric at the top level, both paths alike, with the
    /// same values the nested layout keeps under `metrics`; a metric named like a top-level
    /// field keeps the documented prefix.
    #[test]
    fn flat_records_carry_each_typed_metric_at_the_top_level() {
        let Kind::Report(def) = find("campaigns_reports_daily").unwrap().kind else {
            panic!()
        };
        let nested = ReportSpec::from_def(&def);
        let mut flat = nested.clone();
        flat.layout = RecordLayout::Flat;
        let row = raw(json!({
            "dimensions": {"campaign_id": "1714125042508817", "stat_time_day": "2024-01-01 00:00:00"},
            "metrics": {"spend": "20.000", "complete_payment_roas": "3.25", "ctr": "-",
                        "campaign_name": "C", "advertiser_id": "872746382648", "new_metric": 3}
        }));
        let nested_doc: Value = serde_json::from_str(
            &report_row(&row, &nested, 872746382648, &mut Notes::new())
                .unwrap()
                .doc,
        )
        .unwrap();
        let fast = report_row(&row, &flat, 872746382648, &mut Notes::new()).unwrap();
        let general = report_row_general(&row, &flat, 872746382648, &mut Notes::new()).unwrap();
        assert!(fast.doc.contains("\"spend\":20.000"), "{}", fast.doc);
        for record in [fast, general] {
            let doc: Value = serde_json::from_str(&record.doc).unwrap();
            assert!(doc.get("metrics").is_none(), "{doc}");
            assert_eq!(doc["campaign_id"], json!(1714125042508817u64));
            assert_eq!(doc["advertiser_id"], json!(872746382648u64));
            assert_eq!(doc["dimensions"], nested_doc["dimensions"]);
            assert_eq!(doc["spend"].to_string(), "20.000");
            assert_eq!(doc["complete_payment_roas"].to_string(), "3.25");
            assert_eq!(doc["ctr"], Value::Null);
            assert_eq!(doc["campaign_name"], "C");
            assert_eq!(doc["new_metric"], "3");
            // The metric `advertiser_id` would collide with the key field.
            assert_eq!(doc["metric_advertiser_id"], json!(872746382648u64));
            for (name, value) in nested_doc["metrics"].as_object().unwrap() {
                let field = crate::registry::report_options::flat_field(name, &flat.dimensions);
                assert_eq!(&doc[field.as_ref()], value, "{name}");
            }
            assert_eq!(record.time.as_deref(), Some("2024-01-01 00:00:00"));
        }
    }

    #[test]
    fn report_rows_are_typed_and_keyed() {
        let Kind::Report(def) = find("ads_audience_reports_daily").unwrap().kind else {
            panic!()
        };
        let spec = ReportSpec::from_def(&def);
        let record = report_row(
            &raw(json!({
                "dimensions": {"ad_id": "11111111", "stat_time_day": "2024-01-01 00:00:00",
                               "gender": "MALE", "age": "AGE_25_34"},
                "metrics": {"spend": "20.000", "clicks": "5830", "ctr": "-", "ad_name": "A",
                            "campaign_id": 1714125042508817u64, "cpc": "", "new_metric": 3}
            })),
            &spec,
            872746382648,
            &mut Notes::new(),
        )
        .unwrap();
        let doc: Value = serde_json::from_str(&record.doc).unwrap();
        assert_eq!(doc["ad_id"], json!(11111111));
        assert_eq!(doc["advertiser_id"], json!(872746382648u64));
        assert_eq!(doc["gender"], "MALE");
        assert_eq!(doc["stat_time_day"], "2024-01-01 00:00:00");
        assert_eq!(record.time.as_deref(), Some("2024-01-01 00:00:00"));
        // Decimal digits are kept exactly as TikTok sent them.
        assert!(record.doc.contains("\"spend\":20.000"), "{}", record.doc);
        assert_eq!(doc["metrics"]["clicks"], json!(5830));
        assert_eq!(doc["metrics"]["ctr"], Value::Null);
        assert_eq!(doc["metrics"]["cpc"], Value::Null);
        assert_eq!(doc["metrics"]["ad_name"], "A");
        assert_eq!(doc["metrics"]["campaign_id"], json!(1714125042508817u64));
        assert_eq!(doc["metrics"]["new_metric"], "3");
        assert_eq!(doc["dimensions"]["ad_id"], json!(11111111));
    }

    #[test]
    fn a_row_without_its_key_is_refused() {
        let Kind::Report(def) = find("ads_reports_daily").unwrap().kind else {
            panic!()
        };
        let spec = ReportSpec::from_def(&def);
        let err = report_row(
            &raw(json!({"dimensions": {"ad_id": "1"}, "metrics": {}})),
            &spec,
            1,
            &mut Notes::new(),
        )
        .err()
        .unwrap();
        assert!(err.to_string().contains("stat_time_day"));
    }
}
