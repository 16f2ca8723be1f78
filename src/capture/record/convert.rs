//! The declared types and every conversion to them: a schema's one JSON type per field
//! ([`Declared`], [`FieldTypes`]), ids as exact positive 64-bit integers, metrics typed by the
//! metric table, numbers outside the double range nulled. Each change is a [`Note`].

use std::collections::HashMap;

use serde_json::{Number, Value};

use super::note::{Note, Notes};
use crate::registry::metrics::{MetricType, ID_FIELDS};

/// The one JSON type a schema declares for a field (besides null).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Declared {
    Integer,
    Number,
    String,
    Boolean,
    Object,
    Array,
}

impl Declared {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "integer" => Declared::Integer,
            "number" => Declared::Number,
            "string" => Declared::String,
            "boolean" => Declared::Boolean,
            "object" => Declared::Object,
            "array" => Declared::Array,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Declared::Integer => "an integer",
            Declared::Number => "a number",
            Declared::String => "a string",
            Declared::Boolean => "a boolean",
            Declared::Object => "an object",
            Declared::Array => "an array",
        }
    }
}

/// The declared type of each top-level field of a stream's records, read from its schema.
#[derive(Debug, Clone, Default)]
pub struct FieldTypes(HashMap<String, Declared>);

impl FieldTypes {
    pub fn from_schema(schema: &Value) -> Self {
        let mut types = HashMap::new();
        for (name, property) in schema["properties"].as_object().into_iter().flatten() {
            let declared = match &property["type"] {
                Value::String(t) => Declared::from_name(t),
                Value::Array(ts) => ts
                    .iter()
                    .filter_map(Value::as_str)
                    .find_map(Declared::from_name),
                _ => None,
            };
            if let Some(declared) = declared {
                types.insert(name.clone(), declared);
            }
        }
        FieldTypes(types)
    }

    pub(super) fn get(&self, field: &str) -> Option<Declared> {
        self.0.get(field).copied()
    }
}

/// Whether a JSON number is finite in double precision (`1e+999` is not).
fn is_finite(n: &Number) -> bool {
    n.is_u64() || n.is_i64() || n.as_f64().is_some_and(f64::is_finite)
}

/// Replaces every number that is not finite, at any depth, with null (noted by top field).
pub(super) fn null_non_finite(field: &str, value: &mut Value, notes: &mut Notes) {
    match value {
        Value::Number(n) if !is_finite(n) => {
            *value = Value::Null;
            notes.push(Note::NotFinite {
                field: field.to_string(),
            });
        }
        Value::Array(items) => items
            .iter_mut()
            .for_each(|v| null_non_finite(field, v, notes)),
        Value::Object(map) => map
            .values_mut()
            .for_each(|v| null_non_finite(field, v, notes)),
        _ => {}
    }
}

/// Converts a value to its field's declared type; unconvertible values become null (noted).
/// TikTok's `""` (no value) becomes null silently for every type but strings.
pub(super) fn conform(field: &str, value: &mut Value, declared: Declared, notes: &mut Notes) {
    let converted = match (declared, &*value) {
        (_, Value::Null) => return,
        (Declared::String, Value::String(_))
        | (Declared::Boolean, Value::Bool(_))
        | (Declared::Object, Value::Object(_))
        | (Declared::Array, Value::Array(_))
        | (Declared::Number, Value::Number(_)) => return,
        (Declared::Integer, Value::Number(n)) if n.is_u64() || n.is_i64() => return,
        (_, Value::String(s)) if s.trim().is_empty() => Some(Value::Null),
        (Declared::String, Value::Number(n)) => Some(Value::String(n.to_string())),
        (Declared::String, Value::Bool(b)) => Some(Value::String(b.to_string())),
        (Declared::String, other) => Some(Value::String(other.to_string())),
        (Declared::Integer, other) => as_integer(other),
        (Declared::Number, Value::String(s)) => {
            let t = s.trim();
            serde_json::from_str::<Number>(t)
                .ok()
                .filter(is_finite)
                .map(Value::Number)
        }
        (Declared::Boolean, Value::String(s)) => match s.trim() {
            "true" | "TRUE" | "True" => Some(Value::Bool(true)),
            "false" | "FALSE" | "False" => Some(Value::Bool(false)),
            _ => None,
        },
        (Declared::Boolean, Value::Number(n)) => match n.as_u64() {
            Some(0) => Some(Value::Bool(false)),
            Some(1) => Some(Value::Bool(true)),
            _ => None,
        },
        _ => None,
    };
    match converted {
        Some(v) => *value = v,
        None => {
            notes.push(Note::Unconvertible {
                field: field.to_string(),
                declared: declared.name(),
                sent: crate::error::json_kind(value),
            });
            *value = Value::Null;
        }
    }
}

/// An integer from an integer, a whole float (`3.0`) or a digit string.
fn as_integer(value: &Value) -> Option<Value> {
    match value {
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(value.clone()),
        Value::Number(n) => {
            let f = n.as_f64().filter(|f| f.is_finite() && f.fract() == 0.0)?;
            if f.abs() < 9.0e15 {
                Some(Value::Number((f as i64).into()))
            } else {
                None
            }
        }
        Value::String(s) => integer_text(s),
        _ => None,
    }
}

/// An exact 64-bit integer written as text (`" 42"`, `"-7"`).
fn integer_text(text: &str) -> Option<Value> {
    let t = text.trim();
    match t.parse::<u64>() {
        Ok(n) => Some(Value::Number(n.into())),
        Err(_) => t.parse::<i64>().ok().map(|n| Value::Number(n.into())),
    }
}

/// An id as an exact integer, from a number or a numeric string (TikTok sends both).
pub(crate) fn id_of(value: &Value) -> Option<u64> {
    match value {
        Value::String(s) => s.trim().parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

/// An exact 64-bit integer from a number or a numeric string.
fn as_id(value: &Value) -> Option<Value> {
    match value {
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(value.clone()),
        Value::String(s) => integer_text(s),
        _ => None,
    }
}

/// An id field's value made an exact integer. A negative or zero integer is kept as given
/// (noted); anything else is `None` (the caller nulls it, or skips the row for a key).
pub(super) fn conform_id(field: &str, value: &Value, notes: &mut Notes) -> Option<Value> {
    let id = as_id(value)?;
    if id.as_u64().is_none_or(|n| n == 0) {
        notes.push(Note::OddId {
            field: field.to_string(),
            value: id.to_string(),
        });
    }
    Some(id)
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
                .filter(is_finite)
                .map(Value::Number)
        }
        _ => None,
    }
}

/// A metric typed by the declared table; unconvertible values become null (noted).
pub(super) fn typed(name: &str, value: &Value, ty: Option<MetricType>, notes: &mut Notes) -> Value {
    if matches!(value, Value::String(s) if s.trim() == "-" || s.trim().is_empty())
        || value.is_null()
    {
        return Value::Null;
    }
    let (converted, declared) = match ty {
        Some(MetricType::Number) => (as_number(value), "a number"),
        // The level ids must be positive; other id metrics (`tt_app_id`) use 0 for "none".
        Some(MetricType::Id) if ID_FIELDS.contains(&name) => {
            (conform_id(name, value, notes), "an integer")
        }
        Some(MetricType::Id) => (as_id(value), "an integer"),
        Some(MetricType::Text) | None => {
            return match value {
                Value::String(_) => value.clone(),
                Value::Number(n) => Value::String(n.to_string()),
                Value::Bool(b) => Value::String(b.to_string()),
                other => Value::String(other.to_string()),
            }
        }
    };
    converted.unwrap_or_else(|| {
        notes.push(Note::Unconvertible {
            field: format!("metrics.{name}"),
            declared,
            sent: crate::error::json_kind(value),
        });
        Value::Null
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use serde_json::value::RawValue;

    use super::*;
    use crate::capture::record::tests::raw;
    use crate::capture::record::*;
    use crate::registry::{find, Kind, ReportSpec};

    fn types(schema: Value) -> FieldTypes {
        FieldTypes::from_schema(&json!({"properties": schema}))
    }

    #[test]
    fn values_take_their_declared_type() {
        let types = types(json!({
            "width": {"type": ["integer", "null"]}, "size": {"type": ["integer", "null"]},
            "ratio": {"type": ["number", "null"]}, "name": {"type": ["string", "null"]},
            "flag": {"type": ["boolean", "null"]}, "fields": {"type": ["object", "null"]},
            "tags": {"type": ["array", "null"]}, "count": {"type": ["integer", "null"]},
            "blank": {"type": ["integer", "null"]}, "note": {"type": ["string", "null"]},
        }));
        let mut notes = Notes::new();
        let record = entity(
            &raw(
                json!({"ad_id": "7", "width": "1080", "size": 3.0, "ratio": "0.25",
                        "name": 12, "flag": "true", "fields": [1], "tags": ["a"],
                        "count": "many", "blank": "", "note": {"a": 1}, "other": "kept"}),
            ),
            RecordKey::new("ad_id", None),
            &types,
            &mut notes,
        )
        .unwrap();
        let doc: Value = serde_json::from_str(&record.doc).unwrap();
        assert_eq!(doc["width"], json!(1080));
        assert_eq!(doc["size"], json!(3));
        assert_eq!(doc["ratio"], json!(0.25));
        assert_eq!(doc["name"], json!("12"));
        assert_eq!(doc["flag"], json!(true));
        assert_eq!(doc["tags"], json!(["a"]));
        assert_eq!(doc["note"], json!("{\"a\":1}"));
        assert_eq!(doc["blank"], Value::Null);
        assert_eq!(
            doc["other"],
            json!("kept"),
            "undeclared fields are left alone"
        );
        // What cannot be converted is null, and noted once per row and field.
        assert_eq!(doc["fields"], Value::Null);
        assert_eq!(doc["count"], Value::Null);
        assert_eq!(
            notes,
            vec![
                Note::Unconvertible {
                    field: "fields".into(),
                    declared: "an object",
                    sent: "an array"
                },
                Note::Unconvertible {
                    field: "count".into(),
                    declared: "an integer",
                    sent: "a string"
                },
            ]
        );
    }

    #[test]
    fn numbers_outside_the_double_range_become_null() {
        let types = types(json!({"size": {"type": ["integer", "null"]},
                                 "ratio": {"type": ["number", "null"]}}));
        let row = RawValue::from_string(
            r#"{"ad_id": 5, "ratio": 1e+999, "size": "1e999", "deep": {"a": [-1E400, 2]}}"#.into(),
        )
        .unwrap();
        let mut notes = Notes::new();
        let record = entity(&row, RecordKey::new("ad_id", None), &types, &mut notes).unwrap();
        let doc: Value = serde_json::from_str(&record.doc).unwrap();
        assert_eq!(doc["ratio"], Value::Null);
        assert_eq!(doc["size"], Value::Null);
        assert_eq!(doc["deep"], json!({"a": [null, 2]}));
        assert!(
            notes.contains(&Note::NotFinite {
                field: "ratio".into()
            }),
            "{notes:?}"
        );
        assert!(
            notes.contains(&Note::NotFinite {
                field: "deep".into()
            }),
            "{notes:?}"
        );

        let Kind::Report(def) = find("ads_reports_daily").unwrap().kind else {
            panic!()
        };
        let spec = ReportSpec::from_def(&def);
        for spend in ["1e+999", r#""1e+999""#, "-1e999"] {
            let text = format!(
                r#"{{"dimensions": {{"ad_id": "1", "stat_time_day": "2024-01-01 00:00:00"}},
                    "metrics": {{"spend": {spend}, "clicks": "3"}}}}"#
            );
            let row = RawValue::from_string(text).unwrap();
            assert!(fast::report_row(row.get(), &spec, 9).is_none(), "{spend}");
            let mut notes = Notes::new();
            let record = report_row(&row, &spec, 9, &mut notes).unwrap();
            let doc: Value = serde_json::from_str(&record.doc).unwrap();
            assert_eq!(doc["metrics"]["spend"], Value::Null, "{spend}");
            assert_eq!(doc["metrics"]["clicks"], json!(3));
            assert_eq!(notes.len(), 1, "{spend}: {notes:?}");
        }
    }

    #[test]
    fn ids_must_be_positive_64_bit_integers() {
        let build = |row: Value| {
            let mut notes = Notes::new();
            let result = entity(
                &raw(row),
                RecordKey::new("ad_id", None),
                &FieldTypes::default(),
                &mut notes,
            );
            (result, notes)
        };
        // Integers the schema allows are kept as given, with a note.
        let (record, notes) = build(json!({"ad_id": -5, "campaign_id": "0"}));
        let doc: Value = serde_json::from_str(&record.unwrap().doc).unwrap();
        assert_eq!(doc["ad_id"], json!(-5));
        assert_eq!(doc["campaign_id"], json!(0));
        assert_eq!(notes.len(), 2, "{notes:?}");
        assert!(notes.iter().any(
            |n| matches!(n, Note::OddId { field, value } if field == "ad_id" && value == "-5")
        ));
        // A key that is no integer skips the row, naming the key and the value.
        for bad in [
            json!(1.5),
            json!("12x"),
            json!(18446744073709551616u128 as f64),
            json!(true),
        ] {
            let (record, _) = build(json!({"ad_id": bad}));
            let err = record.err().unwrap().to_string();
            assert!(err.contains("ad_id"), "{bad}: {err}");
        }
        // Positive ids are not noted.
        let (record, notes) = build(json!({"ad_id": "18446744073709551615", "adgroup_id": 3}));
        assert!(record.unwrap().doc.contains("18446744073709551615"));
        assert!(notes.is_empty(), "{notes:?}");

        let Kind::Report(def) = find("ads_reports_daily").unwrap().kind else {
            panic!()
        };
        let spec = ReportSpec::from_def(&def);
        let row = |id: Value| {
            raw(
                json!({"dimensions": {"ad_id": id, "stat_time_day": "2024-01-01 00:00:00"},
                       "metrics": {"campaign_id": 0, "tt_app_id": 0}}),
            )
        };
        let mut notes = Notes::new();
        let record = report_row(&row(json!(0)), &spec, 9, &mut notes).unwrap();
        let doc: Value = serde_json::from_str(&record.doc).unwrap();
        assert_eq!(doc["ad_id"], json!(0));
        // tt_app_id is not a level id: 0 is TikTok's "no app", kept without a note.
        assert_eq!(doc["metrics"]["tt_app_id"], json!(0));
        assert_eq!(notes.len(), 2, "{notes:?}");
        let fast = fast::report_row(
            &json!({"dimensions": {"ad_id": 5, "stat_time_day": "2024-01-01 00:00:00"},
                    "metrics": {"tt_app_id": 0}})
            .to_string(),
            &spec,
            9,
        );
        assert!(fast.is_some(), "a tt_app_id of 0 keeps the fast path");
        assert!(report_row(&row(json!(1.5)), &spec, 9, &mut notes).is_err());
    }
}
