//! Turns TikTok's rows into the records we emit (product.md section 4): entity ids become exact
//! integers; report rows keep TikTok's nested `dimensions` and `metrics`, gain top-level copies
//! of their key dimensions and `advertiser_id`, and have every metric typed by the declared
//! table (`"-"` and `""` become null, decimal digits are kept as sent). A breakdown or time
//! breakdown dimension TikTok leaves empty (or null) is kept as an empty string, never a reason
//! to drop the row; only a row without its entity id or its time is unusable.

use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};

use crate::registry::metrics::{metric_type, MetricType, ID_FIELDS};
use crate::registry::schema::dimension_type;
use crate::registry::ReportSpec;

const TIME_DIMENSIONS: [&str; 2] = ["stat_time_day", "stat_time_hour"];

/// An id as an exact integer, from a number or a numeric string (TikTok sends both).
pub fn id_of(value: &Value) -> Option<u64> {
    match value {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// An exact integer from a number or a numeric string.
fn as_id(value: &Value) -> Option<Value> {
    match value {
        // Negative ids are kept as sent; numeric strings become numbers.
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(value.clone()),
        Value::String(_) => id_of(value).map(|n| Value::Number(n.into())),
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
    for field in ID_FIELDS {
        if let Some(value) = object.get_mut(field) {
            if let Some(id) = as_id(value) {
                *value = id;
            }
        }
    }
    let numeric_key = ID_FIELDS.contains(&id_field);
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
    /// A key dimension TikTok left empty (kept as `""`), for the caller's warning.
    pub empty_key: Option<String>,
}

/// Builds the record of one report row. The fast path writes the output straight from the
/// row's raw text (no intermediate maps or number parsing: report rows are most of what the
/// connector emits); rows it does not handle (escaped keys, odd shapes) take the general path.
pub fn report_row(
    raw: &RawValue,
    spec: &ReportSpec,
    advertiser_id: u64,
) -> Result<ReportRecord, String> {
    match fast::report_row(raw.get(), spec, advertiser_id) {
        Some(record) => Ok(record),
        None => report_row_general(raw, spec, advertiser_id),
    }
}

/// The general (slower) row builder: serde_json values all the way. The fast path falls
/// back to it for rows it does not handle, and the tests hold the fast path to it.
pub fn report_row_general(
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
    let mut empty_key = None;
    for name in &spec.dimensions {
        let value = row.dimensions.get(name).unwrap_or(&Value::Null);
        let value = match dimension_type(name) {
            MetricType::Id => as_id(value),
            _ => match value {
                Value::String(s) if !s.is_empty() => Some(value.clone()),
                Value::Number(n) => Some(Value::String(n.to_string())),
                // A breakdown TikTok could not attribute; a row without its time is unusable.
                Value::String(_) | Value::Null if !TIME_DIMENSIONS.contains(&name.as_str()) => {
                    empty_key.get_or_insert_with(|| name.clone());
                    Some(Value::String(String::new()))
                }
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
    Ok(ReportRecord {
        doc,
        time,
        empty_key,
    })
}

mod fast {
    //! The fast path of [`super::report_row`]: borrowed parsing of the row, typed values written
    //! from their raw JSON text. Returns `None` whenever the general path must decide.

    use std::fmt::Write;

    use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
    use serde_json::value::RawValue;

    use super::ReportRecord;
    use crate::registry::metrics::{metric_type, MetricType};
    use crate::registry::schema::dimension_type;
    use crate::registry::ReportSpec;

    /// An object's members in order, keys and values borrowed from the row's text.
    #[derive(Default)]
    struct Pairs<'a>(Vec<(&'a str, &'a RawValue)>);

    impl<'de: 'a, 'a> Deserialize<'de> for Pairs<'a> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct V<'a>(std::marker::PhantomData<&'a ()>);
            impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
                type Value = Pairs<'a>;
                fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                    f.write_str("an object")
                }
                fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                    let mut out = Vec::with_capacity(map.size_hint().unwrap_or(32));
                    while let Some((k, v)) = map.next_entry::<&'de str, &'de RawValue>()? {
                        out.push((k, v));
                    }
                    Ok(Pairs(out))
                }
            }
            d.deserialize_map(V(std::marker::PhantomData))
        }
    }

    #[derive(serde::Deserialize)]
    struct Row<'a> {
        #[serde(borrow, default)]
        dimensions: Pairs<'a>,
        #[serde(borrow, default)]
        metrics: Pairs<'a>,
    }

    /// The text of a JSON string without its quotes, when it has no escapes.
    fn plain_string(raw: &str) -> Option<&str> {
        let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
        (!inner.contains('\\')).then_some(inner)
    }

    /// JSON's number grammar: `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`
    pub(super) fn is_json_number(text: &str) -> bool {
        let b = text.as_bytes();
        let mut i = 0;
        if b.get(i) == Some(&b'-') {
            i += 1;
        }
        match b.get(i) {
            Some(b'0') => i += 1,
            Some(b'1'..=b'9') => {
                while b.get(i).is_some_and(u8::is_ascii_digit) {
                    i += 1;
                }
            }
            _ => return false,
        }
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == start {
                return false;
            }
        }
        if matches!(b.get(i), Some(b'e' | b'E')) {
            i += 1;
            if matches!(b.get(i), Some(b'+' | b'-')) {
                i += 1;
            }
            let start = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if i == start {
                return false;
            }
        }
        i == b.len()
    }

    fn is_integer(text: &str) -> bool {
        text.parse::<u64>().is_ok() || text.parse::<i64>().is_ok()
    }

    /// Writes a metric value typed by the table; `None` when the general path must decide.
    fn write_metric(out: &mut String, raw: &str, ty: Option<MetricType>) -> Option<()> {
        let first = raw.as_bytes().first()?;
        match first {
            b'n' => out.push_str("null"),
            b'"' => {
                let inner = plain_string(raw)?;
                // Text is kept as sent (only "" and "-" mean no value); numbers and ids are
                // read with surrounding blanks trimmed, as the general path reads them.
                let textual = matches!(ty, Some(MetricType::Text) | None);
                let value = if textual { inner } else { inner.trim() };
                if value.is_empty() || value == "-" {
                    out.push_str("null");
                    return Some(());
                }
                match ty {
                    Some(MetricType::Number) => {
                        if is_json_number(value) {
                            out.push_str(value);
                        } else {
                            return None;
                        }
                    }
                    Some(MetricType::Id) => match value.parse::<u64>() {
                        Ok(n) => write!(out, "{n}").ok()?,
                        Err(_) => out.push_str("null"),
                    },
                    Some(MetricType::Text) | None => out.push_str(raw),
                }
            }
            b'-' | b'0'..=b'9' => match ty {
                Some(MetricType::Number) => out.push_str(raw),
                Some(MetricType::Id) if is_integer(raw) => out.push_str(raw),
                Some(MetricType::Id) => out.push_str("null"),
                Some(MetricType::Text) | None => {
                    out.push('"');
                    out.push_str(raw);
                    out.push('"');
                }
            },
            _ => return None,
        }
        Some(())
    }

    /// Writes a key dimension typed by its kind; `None` when it is unusable or unusual.
    fn write_dimension(out: &mut String, name: &str, raw: &str) -> Option<()> {
        match dimension_type(name) {
            MetricType::Id => {
                let text = match raw.as_bytes().first()? {
                    b'"' => plain_string(raw)?.trim(),
                    _ => raw,
                };
                let n: u64 = text.parse().ok()?;
                write!(out, "{n}").ok()?;
            }
            _ => match raw.as_bytes().first()? {
                b'"' if raw.len() > 2 => out.push_str(raw),
                b'-' | b'0'..=b'9' => {
                    out.push('"');
                    out.push_str(raw);
                    out.push('"');
                }
                _ => return None,
            },
        }
        Some(())
    }

    fn key(out: &mut String, name: &str) {
        out.push('"');
        out.push_str(name);
        out.push_str("\":");
    }

    pub(super) fn report_row(
        raw: &str,
        spec: &ReportSpec,
        advertiser_id: u64,
    ) -> Option<ReportRecord> {
        let row: Row = serde_json::from_str(raw).ok()?;
        let find = |name: &str| {
            row.dimensions
                .0
                .iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| v.get())
        };
        let mut out = String::with_capacity(raw.len() + 64 * (spec.dimensions.len() + 2));
        let mut dims = String::with_capacity(64 * spec.dimensions.len());
        let mut time = None;
        out.push('{');
        for name in &spec.dimensions {
            let value = find(name)?;
            let start = out.len();
            key(&mut out, name);
            let value_at = out.len();
            write_dimension(&mut out, name, value)?;
            let typed = out[value_at..].to_string();
            if Some(name.as_str()) == spec.granularity.time_dimension() {
                time = plain_string(&typed).map(str::to_string);
            }
            out.push(',');
            dims.push_str(&out[start..]);
        }
        if !spec.dimensions.iter().any(|d| d == "advertiser_id") {
            write!(out, "\"advertiser_id\":{advertiser_id},").ok()?;
        }
        out.push_str("\"dimensions\":{");
        out.push_str(&dims);
        for (name, value) in &row.dimensions.0 {
            if !spec.dimensions.iter().any(|d| d == name) {
                key(&mut out, name);
                out.push_str(value.get());
                out.push(',');
            }
        }
        if out.ends_with(',') {
            out.pop();
        }
        out.push_str("},\"metrics\":{");
        for (n, (name, value)) in row.metrics.0.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            key(&mut out, name);
            write_metric(&mut out, value.get(), metric_type(name))?;
        }
        out.push_str("}}");
        Some(ReportRecord {
            doc: out,
            time,
            empty_key: None,
        })
    }
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
            7
        )
        .is_err());
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

    /// TikTok-like rows: ids as strings or numbers, metrics as decimal strings, numbers, "-",
    /// "", null, and the odd value.
    fn row_strategy() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let metric_value = prop_oneof![
            Just(json!("-")),
            Just(json!("")),
            Just(Value::Null),
            (0u32..100_000, 0u32..1000).prop_map(|(a, b)| json!(format!("{a}.{b:03}"))),
            any::<i64>().prop_map(|n| json!(n.to_string())),
            any::<u64>().prop_map(|n| json!(n)),
            (-1.0e6f64..1.0e6).prop_map(|f| json!(f)),
            Just(json!("1,234.5")),
            Just(json!("12%")),
            Just(json!(true)),
            Just(json!("say \"hi\"")),
            "[a-zA-Z ]{0,12}".prop_map(|t| json!(t)),
        ];
        let names = prop::sample::select(vec![
            "spend",
            "clicks",
            "ctr",
            "campaign_id",
            "adgroup_id",
            "tt_app_id",
            "ad_name",
            "mobile_app_id",
            "made_up_metric",
            "video_play_actions",
        ]);
        let metrics = prop::collection::btree_map(names, metric_value, 0..10);
        let id = prop_oneof![
            any::<u64>().prop_map(|n| json!(n.to_string())),
            any::<u64>().prop_map(|n| json!(n)),
            Just(json!(-5)),
            Just(json!("12x")),
        ];
        let text = prop_oneof![
            Just(json!("MALE")),
            Just(json!("2024-01-01 00:00:00")),
            Just(json!("")),
            Just(json!(7)),
            Just(json!("with \"quotes\"")),
        ];
        (id, text.clone(), text, metrics, any::<bool>()).prop_map(|(id, day, gender, metrics, extra)| {
            let mut dims = json!({"ad_id": id, "stat_time_day": day, "gender": gender, "age": "AGE_25_34"});
            if extra {
                dims["placement"] = json!("PLACEMENT_TIKTOK");
            }
            json!({"dimensions": dims, "metrics": metrics})
        })
    }

    proptest::proptest! {
        #[test]
        fn the_fast_path_writes_what_the_general_path_would(row in row_strategy()) {
            let Kind::Report(def) = find("ads_audience_reports_daily").unwrap().kind else { unreachable!() };
            let spec = ReportSpec::from_def(&def);
            let raw = raw(row.clone());
            let general = report_row_general(&raw, &spec, 42);
            if let Some(fast) = fast::report_row(raw.get(), &spec, 42) {
                let general = general.expect("the general path accepts what the fast path accepts");
                let a: Value = serde_json::from_str(&fast.doc).expect("the fast path writes JSON");
                let b: Value = serde_json::from_str(&general.doc).unwrap();
                proptest::prop_assert_eq!(a, b);
            }
        }
    }

    /// Blank and dash-padded text is text: both paths keep it as sent (a case proptest found).
    #[test]
    fn both_paths_keep_blank_text() {
        let Kind::Report(def) = find("ads_audience_reports_daily").unwrap().kind else {
            panic!()
        };
        let spec = ReportSpec::from_def(&def);
        for text in [" ", " - "] {
            let row = json!({"dimensions": {"ad_id": "1", "stat_time_day": "2024-01-01 00:00:00",
                                            "gender": "MALE", "age": "AGE_25_34"},
                             "metrics": {"ad_name": text, "spend": " "}});
            let raw = raw(row);
            let fast = fast::report_row(raw.get(), &spec, 42).expect("fast path");
            let general = report_row_general(&raw, &spec, 42).unwrap();
            let a: Value = serde_json::from_str(&fast.doc).unwrap();
            let b: Value = serde_json::from_str(&general.doc).unwrap();
            assert_eq!(a, b);
            assert_eq!(a["metrics"]["ad_name"], json!(text));
            assert_eq!(a["metrics"]["spend"], Value::Null);
        }
    }

    #[test]
    fn typical_rows_take_the_fast_path() {
        let Kind::Report(def) = find("ads_reports_daily").unwrap().kind else {
            panic!()
        };
        let spec = ReportSpec::from_def(&def);
        let row = json!({"dimensions": {"ad_id": "1714125042508817", "stat_time_day": "2024-01-01 00:00:00"},
                         "metrics": {"spend": "20.000", "clicks": "5830", "ctr": "-", "ad_name": "A",
                                     "campaign_id": 1714125042508817u64, "likes": 36, "cpc": null}});
        let fast = fast::report_row(&row.to_string(), &spec, 7).expect("fast path");
        assert!(fast.doc.contains("\"spend\":20.000"), "{}", fast.doc);
        assert_eq!(fast.time.as_deref(), Some("2024-01-01 00:00:00"));
        for ok in ["0", "-1.5", "12.340", "1e5", "2E-3"] {
            assert!(fast::is_json_number(ok), "{ok}");
        }
        for bad in ["", "-", "01", "1.", ".5", "1e", "12%", "1,234", "NaN", "+1"] {
            assert!(!fast::is_json_number(bad), "{bad}");
        }
    }
}
