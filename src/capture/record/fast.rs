//! The fast path of [`report_row`](super::report_row): borrowed parsing of the row, typed values
//! written from their raw JSON text. Returns `None` whenever the general path must decide.

use std::fmt::Write;

use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

use super::report::{MetricSink, ReportRecord};
use crate::registry::metric_catalog::metric_type;
use crate::registry::metrics::{MetricType, ID_FIELDS};
use crate::registry::report_options::flat_field;
use crate::registry::schema::dimension_type;
use crate::registry::{RecordLayout, ReportSpec};

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

/// A positive 64-bit id written as digits; anything else is for the general path.
fn positive_id(text: &str) -> Option<u64> {
    text.parse::<u64>().ok().filter(|n| *n > 0)
}

/// A JSON number surely finite in double precision: no exponent, at most 64 characters.
pub(super) fn is_plain_number(text: &str) -> bool {
    text.len() <= 64 && !text.contains(['e', 'E']) && is_json_number(text)
}

/// Writes a metric value typed by the table; `None` when the general path must decide.
fn write_metric(out: &mut String, name: &str, raw: &str, ty: Option<MetricType>) -> Option<()> {
    // Level ids must be positive (else the general path notes them); other id metrics
    // (`tt_app_id`) use 0 for "none".
    let id = |text: &str| match ID_FIELDS.contains(&name) {
        true => positive_id(text),
        false => text.parse::<u64>().ok(),
    };
    let first = raw.as_bytes().first()?;
    match first {
        b'n' => out.push_str("null"),
        b'"' => {
            let inner = plain_string(raw)?;
            // Blank text and a padded "-" mean no value, as in the general path.
            let value = inner.trim();
            if value.is_empty() || value == "-" {
                out.push_str("null");
                return Some(());
            }
            match ty {
                Some(MetricType::Number) => {
                    if is_plain_number(value) {
                        out.push_str(value);
                    } else {
                        return None;
                    }
                }
                Some(MetricType::Id) => write!(out, "{}", id(value)?).ok()?,
                Some(MetricType::Text) | None => out.push_str(raw),
            }
        }
        b'-' | b'0'..=b'9' if !is_plain_number(raw) => return None,
        b'-' | b'0'..=b'9' => match ty {
            Some(MetricType::Number) => out.push_str(raw),
            Some(MetricType::Id) => write!(out, "{}", id(raw)?).ok()?,
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
            write!(out, "{}", positive_id(text)?).ok()?;
        }
        _ => match raw.as_bytes().first()? {
            b'"' if raw.len() > 2 && plain_string(raw).is_some() => out.push_str(raw),
            b'-' | b'0'..=b'9' if is_plain_number(raw) => {
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

#[cfg(test)]
pub(super) fn report_row(raw: &str, spec: &ReportSpec, advertiser_id: u64) -> Option<ReportRecord> {
    report_row_into(raw, spec, advertiser_id, &mut ())
}

/// [`report_row`] that hands each metric it writes to `sink` too.
pub(super) fn report_row_into(
    raw: &str,
    spec: &ReportSpec,
    advertiser_id: u64,
    sink: &mut dyn MetricSink,
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
            // Only plain text is copied as is; the general path checks the rest.
            plain_string(value.get())?;
            key(&mut out, name);
            out.push_str(value.get());
            out.push(',');
        }
    }
    if out.ends_with(',') {
        out.pop();
    }
    match spec.layout {
        RecordLayout::Nested => {
            out.push_str("},\"metrics\":{");
            for (n, (name, value)) in row.metrics.0.iter().enumerate() {
                if n > 0 {
                    out.push(',');
                }
                key(&mut out, name);
                write_metric(&mut out, name, value.get(), metric_type(name))?;
                sink.metric(name, value.get());
            }
            out.push_str("}}");
        }
        RecordLayout::Flat => {
            out.push('}');
            for (name, value) in &row.metrics.0 {
                out.push(',');
                key(&mut out, &flat_field(name, &spec.dimensions));
                write_metric(&mut out, name, value.get(), metric_type(name))?;
                sink.metric(name, value.get());
            }
            out.push('}');
        }
    }
    Some(ReportRecord {
        doc: out,
        time,
        empty_key: None,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use super::*;
    use crate::capture::record::report::report_row_general;
    use crate::capture::record::tests::raw;
    use crate::capture::record::*;
    use crate::registry::{find, Kind};

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
            let general = report_row_general(&raw, &spec, 42, &mut Notes::new());
            if let Some(fast) = fast::report_row(raw.get(), &spec, 42) {
                let general = general.expect("the general path accepts what the fast path accepts");
                let a: Value = serde_json::from_str(&fast.doc).expect("the fast path writes JSON");
                let b: Value = serde_json::from_str(&general.doc).unwrap();
                proptest::prop_assert_eq!(a, b);
            }
        }
    }

    /// Blank and dash-padded text means no value in both paths (a case proptest found).
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
            let general = report_row_general(&raw, &spec, 42, &mut Notes::new()).unwrap();
            let a: Value = serde_json::from_str(&fast.doc).unwrap();
            let b: Value = serde_json::from_str(&general.doc).unwrap();
            assert_eq!(a, b);
            assert_eq!(a["metrics"]["ad_name"], Value::Null, "{text:?}");
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
