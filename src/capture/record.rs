//! Turns TikTok's rows into the records we emit (product.md section 4): entity ids become exact
//! integers; report rows keep TikTok's nested `dimensions` and `metrics`, gain top-level copies
//! of their key dimensions and `advertiser_id`, and have every metric typed by the declared
//! table (`"-"` and `""` become null, decimal digits are kept as sent).

use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};

use crate::registry::metrics::{metric_type, MetricType};
use crate::registry::schema::dimension_type;
use crate::registry::ReportSpec;

/// The id fields of entity objects, converted to integers when TikTok sends them as strings.
const ENTITY_ID_FIELDS: &[&str] = &["advertiser_id", "campaign_id", "adgroup_id", "ad_id"];

/// An exact integer from a number or a numeric string.
fn as_id(value: &Value) -> Option<Value> {
    match value {
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(value.clone()),
        Value::String(s) => s
            .trim()
            .parse::<u64>()
            .ok()
            .map(|n| Value::Number(n.into())),
        _ => None,
    }
}

/// A JSON number from a number or a decimal string, keeping the digits TikTok sent.
fn as_number(value: &Value) -> Option<Value> {
    match value {
        Value::Number(_) => Some(value.clone()),
        Value::String(s) => {
            let t = s.trim();
            if t.is_empty() || t == "-" {
                return None;
            }
            // Some locales' thousands separators and percent signs appear in hand-made reports.
            let cleaned: std::borrow::Cow<str> = if t.contains(',') || t.ends_with('%') {
                t.replace(',', "").trim_end_matches('%').to_string().into()
            } else {
                t.into()
            };
            serde_json::from_str::<Number>(&cleaned)
                .ok()
                .map(Value::Number)
        }
        _ => None,
    }
}

fn typed(value: &Value, ty: Option<MetricType>) -> Value {
    if matches!(value, Value::String(s) if s == "-" || s.is_empty()) || value.is_null() {
        return Value::Null;
    }
    match ty {
        Some(MetricType::Number) => as_number(value).unwrap_or(Value::Null),
        Some(MetricType::Id) => as_id(value).unwrap_or(Value::Null),
        Some(MetricType::Text) | None => match value {
            Value::String(_) => value.clone(),
            Value::Number(n) => Value::String(n.to_string()),
            Value::Bool(b) => Value::String(b.to_string()),
            other => Value::String(other.to_string()),
        },
    }
}

/// An entity as we emit it, and its `modify_time` (if any).
pub struct EntityRecord {
    pub doc: String,
    pub modify_time: Option<String>,
}

/// An entity or list record: the four TikTok ids become integers, a nested key is copied to
/// `id_field` (spark ads), and a key that is not one of the four ids is kept as a string.
pub fn entity(
    raw: &RawValue,
    id_field: &str,
    id_from: Option<&str>,
) -> Result<EntityRecord, String> {
    let mut value: Value = serde_json::from_str(raw.get())
        .map_err(|e| format!("a record is not a JSON object: {e}"))?;
    if let Some(pointer) = id_from {
        let nested = value.pointer(pointer).cloned().unwrap_or(Value::Null);
        if let Some(object) = value.as_object_mut() {
            object.insert(id_field.to_string(), nested);
        }
    }
    let Value::Object(mut object) = value else {
        return Err("a record is not a JSON object".into());
    };
    for field in ENTITY_ID_FIELDS {
        if let Some(value) = object.get_mut(*field) {
            if let Some(id) = as_id(value) {
                *value = id;
            }
        }
    }
    let numeric_key = ENTITY_ID_FIELDS.contains(&id_field);
    match object.get_mut(id_field) {
        Some(Value::Number(_)) if numeric_key => {}
        Some(Value::String(s)) if !numeric_key && !s.is_empty() => {}
        Some(value @ Value::Number(_)) if !numeric_key => *value = Value::String(value.to_string()),
        other => return Err(format!("a record has no usable {id_field}: {other:?}")),
    }
    let modify_time = object
        .get("modify_time")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string);
    let doc = serde_json::to_string(&object).map_err(|e| e.to_string())?;
    Ok(EntityRecord { doc, modify_time })
}

/// An advertiser object from `advertiser/info/`.
pub fn advertiser(raw: &RawValue) -> Result<String, String> {
    entity(raw, "advertiser_id", None).map(|r| r.doc)
}

/// A report row as we emit it, and its time key (if any).
pub struct ReportRecord {
    pub doc: String,
    pub time: Option<String>,
}

pub fn report_row(
    raw: &RawValue,
    spec: &ReportSpec,
    advertiser_id: u64,
) -> Result<ReportRecord, String> {
    #[derive(serde::Deserialize)]
    struct Row {
        #[serde(default)]
        dimensions: Map<String, Value>,
        #[serde(default)]
        metrics: Map<String, Value>,
    }
    let row: Row =
        serde_json::from_str(raw.get()).map_err(|e| format!("a report row is unreadable: {e}"))?;
    let mut out = Map::new();
    let mut dimensions = Map::new();
    let mut time = None;
    for name in &spec.dimensions {
        let value = row.dimensions.get(name).unwrap_or(&Value::Null);
        let value = match dimension_type(name) {
            MetricType::Id => as_id(value),
            _ => match value {
                Value::String(s) if !s.is_empty() => Some(value.clone()),
                Value::Number(n) => Some(Value::String(n.to_string())),
                _ => None,
            },
        };
        let Some(value) = value else {
            return Err(format!(
                "a report row has no usable {name:?} (a key dimension): {}",
                raw.get().chars().take(300).collect::<String>()
            ));
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
        .map(|(name, value)| (name.clone(), typed(value, metric_type(name))))
        .collect();
    out.insert("dimensions".into(), Value::Object(dimensions));
    out.insert("metrics".into(), Value::Object(metrics));
    let doc = serde_json::to_string(&out).map_err(|e| e.to_string())?;
    Ok(ReportRecord { doc, time })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{find, Kind};
    use serde_json::json;

    fn raw(value: Value) -> Box<RawValue> {
        RawValue::from_string(value.to_string()).unwrap()
    }

    #[test]
    fn entity_ids_become_exact_integers() {
        let record = entity(
            &raw(
                json!({"ad_id": "7002238017842757633", "advertiser_id": 12, "campaign_id": "x",
                        "modify_time": "2024-01-02 04:00:00"}),
            ),
            "ad_id",
            None,
        )
        .unwrap();
        assert!(
            record.doc.contains("\"ad_id\":7002238017842757633"),
            "{}",
            record.doc
        );
        assert!(record.doc.contains("\"campaign_id\":\"x\""));
        assert_eq!(record.modify_time.as_deref(), Some("2024-01-02 04:00:00"));
        assert!(entity(&raw(json!({"name": "no id"})), "ad_id", None).is_err());
        let spark = entity(
            &raw(json!({"item_info": {"item_id": 12345}, "text": "x"})),
            "spark_ads_post_id",
            Some("/item_info/item_id"),
        )
        .unwrap();
        assert!(
            spark.doc.contains("\"spark_ads_post_id\":\"12345\""),
            "{}",
            spark.doc
        );
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
        )
        .err()
        .unwrap();
        assert!(err.contains("stat_time_day"));
    }
}
