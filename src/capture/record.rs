//! Turns TikTok's rows into the records we emit: entity ids become exact
//! integers; report rows keep TikTok's nested `dimensions` and `metrics`, gain top-level copies
//! of their key dimensions and `advertiser_id`, and have every metric typed by the declared
//! table (`"-"` and `""` become null, decimal digits are kept as sent; in the flat layout of
//! `advanced.record_layout` the typed metrics are top-level fields instead). A breakdown
//! dimension TikTok leaves empty (or null) is kept as an empty string, never a reason to drop
//! the row; only a row without its entity id or its time is unusable.
//!
//! Every record fits its stream's schema, whatever JSON type TikTok used: each top-level field
//! is converted to its one declared type (a digit string to an integer, a number to a string,
//! ...), and a value that cannot be converted becomes null. Numbers outside the double range
//! become null, a lone UTF-16 surrogate (half an emoji) becomes U+FFFD, and an id that is not a
//! positive 64-bit integer is kept only where its type allows it. Each such change is reported
//! as a [`Note`], which the capture engine logs once per kind, field and stream.

use std::collections::HashMap;

use serde_json::value::RawValue;
use serde_json::{Map, Number, Value};

use crate::registry::metrics::{metric_type, MetricType, ID_FIELDS};
use crate::registry::report_options::flat_field;
use crate::registry::schema::dimension_type;
use crate::registry::{RecordLayout, ReportSpec};

const TIME_DIMENSIONS: [&str; 2] = ["stat_time_day", "stat_time_hour"];

/// Something the record layer changed in a row so that it fits its schema.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Note {
    /// A value that cannot take its field's declared type became null.
    Unconvertible {
        field: String,
        declared: &'static str,
        sent: &'static str,
    },
    /// A number that is not finite in double precision (such as `1e+999`) became null.
    NotFinite { field: String },
    /// An id that is not a positive 64-bit integer, kept as given.
    OddId { field: String, value: String },
    /// A lone UTF-16 surrogate escape in a string became U+FFFD (the row is kept).
    LoneSurrogate,
}

impl Note {
    /// What makes two notes the same warning: the kind and the field (not the value).
    pub(crate) fn topic(&self) -> (&'static str, &str) {
        match self {
            Note::Unconvertible { field, .. } => ("unconvertible", field),
            Note::NotFinite { field } => ("not-finite", field),
            Note::OddId { field, .. } => ("odd-id", field),
            Note::LoneSurrogate => ("lone-surrogate", ""),
        }
    }

    /// Logs the note as a warning about this stream.
    pub(crate) fn warn(&self, stream: &str) {
        match self {
            Note::Unconvertible {
                field,
                declared,
                sent,
            } => tracing::warn!(
                stream,
                field = field.as_str(),
                "TikTok sent {sent} where the schema declares {declared}; the value is emitted as null (further ones in this field and stream are not logged)."
            ),
            Note::NotFinite { field } => tracing::warn!(
                stream,
                field = field.as_str(),
                "TikTok sent a number outside the double-precision range; it is emitted as null (further ones in this field and stream are not logged)."
            ),
            Note::OddId { field, value } => tracing::warn!(
                stream,
                field = field.as_str(),
                value = value.as_str(),
                "TikTok sent an id that is not a positive 64-bit integer; it is kept as given (further ones in this field and stream are not logged)."
            ),
            Note::LoneSurrogate => tracing::warn!(
                stream,
                "TikTok sent text with half of a UTF-16 surrogate pair (a cut emoji); it is emitted as U+FFFD and the row is kept (further ones in this stream are not logged)."
            ),
        }
    }
}

/// The notes of the rows being built; the caller drains and logs them.
pub type Notes = Vec<Note>;

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

    fn get(&self, field: &str) -> Option<Declared> {
        self.0.get(field).copied()
    }
}

/// The deepest nesting serde_json parses (its recursion limit).
const MAX_DEPTH: usize = 128;

/// Parses one row, repairing lone surrogate escapes (noted). A row nested deeper than the
/// parser allows is an error: the caller fails the stream with it rather than dropping the row.
pub(crate) fn parse_row(text: &str, notes: &mut Notes) -> Result<Value, RowError> {
    match serde_json::from_str::<Value>(text) {
        Ok(value) => Ok(value),
        Err(err) => {
            if let Some(repaired) = repair_lone_surrogates(text) {
                if let Ok(value) = serde_json::from_str::<Value>(&repaired) {
                    notes.push(Note::LoneSurrogate);
                    return Ok(value);
                }
            }
            if err.to_string().contains("recursion limit") {
                return Err(RowError::TooDeep);
            }
            Err(RowError::Unreadable(format!(
                "a row is not valid JSON: {err}"
            )))
        }
    }
}

/// Why a row could not become a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowError {
    /// The row is skipped (with a warning saying why).
    Unreadable(String),
    /// The row nests deeper than the parser allows: the stream fails, naming it.
    TooDeep,
}

impl RowError {
    /// The error that fails a stream for a row nested too deep, naming the stream.
    pub(crate) fn too_deep(stream: &str) -> crate::error::Error {
        crate::error::Error::Fatal(format!(
            "Stream {stream:?}: TikTok sent a row nested more than {MAX_DEPTH} levels deep, \
             deeper than the connector can read; no row was dropped silently, the stream stops \
             here. Report this answer to TikTok support."
        ))
    }
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RowError::Unreadable(why) => f.write_str(why),
            RowError::TooDeep => write!(f, "a row nests more than {MAX_DEPTH} levels deep"),
        }
    }
}

impl From<String> for RowError {
    fn from(why: String) -> Self {
        RowError::Unreadable(why)
    }
}

/// Replaces every `\uXXXX` escape of a lone UTF-16 surrogate in JSON text with `\ufffd`;
/// `None` when there is none. Pairs are kept; escaped backslashes are skipped whole, so
/// `\\ud83d` (a backslash, then text) is left alone.
pub(crate) fn repair_lone_surrogates(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let unit = |at: usize| -> Option<u16> {
        let hex = bytes.get(at..at + 4)?;
        if !hex.iter().all(u8::is_ascii_hexdigit) {
            return None;
        }
        u16::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()
    };
    let escape_at = |at: usize| bytes.get(at) == Some(&b'\\') && bytes.get(at + 1) == Some(&b'u');
    let mut out = String::new();
    let mut copied = 0;
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            i += 1;
            continue;
        }
        let Some(code) = escape_at(i).then(|| unit(i + 2)).flatten() else {
            i += 2;
            continue;
        };
        let lone = match code {
            0xD800..=0xDBFF => {
                let paired = escape_at(i + 6)
                    && unit(i + 8).is_some_and(|low| (0xDC00..=0xDFFF).contains(&low));
                if paired {
                    i += 12;
                    continue;
                }
                true
            }
            0xDC00..=0xDFFF => true,
            _ => false,
        };
        if lone {
            out.push_str(&text[copied..i]);
            out.push_str("\\ufffd");
            copied = i + 6;
        }
        i += 6;
    }
    if copied == 0 {
        return None;
    }
    out.push_str(&text[copied..]);
    Some(out)
}

/// Whether a JSON number is finite in double precision (`1e+999` is not).
fn is_finite(n: &Number) -> bool {
    n.is_u64() || n.is_i64() || n.as_f64().is_some_and(f64::is_finite)
}

/// Replaces every number that is not finite, at any depth, with null (noted by top field).
fn null_non_finite(field: &str, value: &mut Value, notes: &mut Notes) {
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
fn conform(field: &str, value: &mut Value, declared: Declared, notes: &mut Notes) {
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
fn conform_id(field: &str, value: &Value, notes: &mut Notes) -> Option<Value> {
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
fn typed(name: &str, value: &Value, ty: Option<MetricType>, notes: &mut Notes) -> Value {
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

/// An entity as we emit it, and its `modify_time` (if any).
pub struct EntityRecord {
    pub(crate) doc: String,
    pub(crate) modify_time: Option<String>,
}

/// An entity or list record: the four TikTok ids become integers, a nested key is copied to
/// `id_field` (spark ads), a key that is not one of the four ids is kept as a string, and every
/// other top-level field takes its declared type. `extra` fields (the advertiser and query of
/// pixel streams) are added as given.
pub fn entity(
    raw: &RawValue,
    key: RecordKey<'_>,
    types: &FieldTypes,
    notes: &mut Notes,
) -> Result<EntityRecord, RowError> {
    object_record(raw, (key, &Map::new()), types, notes)
}

/// The key of an entity or list record: its field, and where TikTok nests it (spark ads).
#[derive(Debug, Clone, Copy)]
pub struct RecordKey<'a> {
    pub(crate) id_field: &'a str,
    pub(crate) id_from: Option<&'a str>,
}

impl<'a> RecordKey<'a> {
    pub const fn new(id_field: &'a str, id_from: Option<&'a str>) -> Self {
        RecordKey { id_field, id_from }
    }
}

/// [`entity`] with `extra` fields added to the record.
pub(crate) fn object_record(
    raw: &RawValue,
    (key, extra): (RecordKey<'_>, &Map<String, Value>),
    types: &FieldTypes,
    notes: &mut Notes,
) -> Result<EntityRecord, RowError> {
    let RecordKey { id_field, id_from } = key;
    let mut value = parse_row(raw.get(), notes)?;
    if let Some(pointer) = id_from {
        let nested = value.pointer(pointer).cloned().unwrap_or(Value::Null);
        if let Some(object) = value.as_object_mut() {
            object.insert(id_field.to_string(), nested);
        }
    }
    let Value::Object(mut object) = value else {
        return Err(format!(
            "a record is {}, not a JSON object",
            crate::error::json_kind(&value)
        )
        .into());
    };
    for (k, v) in extra {
        object.insert(k.clone(), v.clone());
    }
    for (field, value) in object.iter_mut() {
        null_non_finite(field, value, notes);
    }
    for field in ID_FIELDS {
        let Some(value) = object.get_mut(field) else {
            continue;
        };
        if value.is_null() {
            continue;
        }
        match conform_id(field, value, notes) {
            Some(id) => *value = id,
            None if field == id_field => {
                return Err(
                    format!("its key {id_field} is {value}, not a positive 64-bit integer").into(),
                )
            }
            None => {
                notes.push(Note::Unconvertible {
                    field: field.to_string(),
                    declared: "an integer",
                    sent: crate::error::json_kind(value),
                });
                *value = Value::Null;
            }
        }
    }
    let numeric_key = ID_FIELDS.contains(&id_field);
    match object.get_mut(id_field) {
        Some(Value::Number(_)) if numeric_key => {}
        Some(Value::String(s)) if !numeric_key && !s.is_empty() => {}
        Some(value @ Value::Number(_)) if !numeric_key => *value = Value::String(value.to_string()),
        other => return Err(format!("a record has no usable {id_field}: {other:?}").into()),
    }
    for (field, value) in object.iter_mut() {
        if ID_FIELDS.contains(&field.as_str()) || field == id_field {
            continue;
        }
        if let Some(declared) = types.get(field) {
            conform(field, value, declared, notes);
        }
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
pub fn advertiser(
    raw: &RawValue,
    types: &FieldTypes,
    notes: &mut Notes,
) -> Result<String, RowError> {
    entity(raw, RecordKey::new("advertiser_id", None), types, notes).map(|r| r.doc)
}

/// A report row as we emit it, and its time key (if any).
pub struct ReportRecord {
    pub(crate) doc: String,
    /// The row's time dimension; nothing in the capture reads it yet, the tests check it.
    pub time: Option<String>,
    /// A key dimension TikTok left empty (kept as `""`), for the caller's warning.
    pub(crate) empty_key: Option<String>,
}

/// Builds the record of one report row. The fast path writes the output straight from the
/// row's raw text (no intermediate maps or number parsing: report rows are most of what the
/// connector emits); rows it does not handle (escaped keys, odd shapes) take the general path.
pub fn report_row(
    raw: &RawValue,
    spec: &ReportSpec,
    advertiser_id: u64,
    notes: &mut Notes,
) -> Result<ReportRecord, RowError> {
    match fast::report_row(raw.get(), spec, advertiser_id) {
        Some(record) => Ok(record),
        None => report_row_general(raw, spec, advertiser_id, notes),
    }
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
        let value = match dimension_type(name) {
            MetricType::Id => conform_id(name, value, notes),
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

mod fast {
    //! The fast path of [`super::report_row`]: borrowed parsing of the row, typed values written
    //! from their raw JSON text. Returns `None` whenever the general path must decide.

    use std::fmt::Write;

    use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};
    use serde_json::value::RawValue;

    use super::ReportRecord;
    use crate::registry::metrics::{metric_type, MetricType, ID_FIELDS};
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
                }
                out.push_str("}}");
            }
            RecordLayout::Flat => {
                out.push('}');
                for (name, value) in &row.metrics.0 {
                    out.push(',');
                    key(&mut out, &flat_field(name, &spec.dimensions));
                    write_metric(&mut out, name, value.get(), metric_type(name))?;
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
    fn pixel_and_business_center_ids_are_exact_integers_as_declared() {
        // TikTok sends `tracking_pixel_id` as a 64-bit number; `owner_bc_id` comes as digits.
        let ads = FieldTypes::from_schema(&find("ads").unwrap().schema());
        let record = entity(
            &raw(
                json!({"ad_id": "7002238017842757633", "tracking_pixel_id": 7216267239261995009_u64,
                        "page_id": "7216267239261995010"}),
            ),
            RecordKey::new("ad_id", None),
            &ads,
            &mut Notes::new(),
        )
        .unwrap();
        assert!(
            record
                .doc
                .contains("\"tracking_pixel_id\":7216267239261995009"),
            "{}",
            record.doc
        );
        assert!(
            record.doc.contains("\"page_id\":7216267239261995010"),
            "{}",
            record.doc
        );
        let advertisers = FieldTypes::from_schema(&find("advertisers").unwrap().schema());
        let doc = advertiser(
            &raw(json!({"advertiser_id": "7001035076276387841",
                        "owner_bc_id": "7012345678901234567", "advertiser_account_type": "AUCTION"})),
            &advertisers,
            &mut Notes::new(),
        )
        .unwrap();
        assert!(doc.contains("\"owner_bc_id\":7012345678901234567"), "{doc}");
        assert!(
            doc.contains("\"advertiser_account_type\":\"AUCTION\""),
            "{doc}"
        );
    }

    #[test]
    fn entity_ids_become_exact_integers() {
        let record = entity(
            &raw(
                json!({"ad_id": "7002238017842757633", "advertiser_id": 12, "campaign_id": "x",
                        "modify_time": "2024-01-02 04:00:00"}),
            ),
            RecordKey::new("ad_id", None),
            &FieldTypes::default(),
            &mut Notes::new(),
        )
        .unwrap();
        assert!(
            record.doc.contains("\"ad_id\":7002238017842757633"),
            "{}",
            record.doc
        );
        // A non-key id that is no integer cannot fit its schema: null, and noted.
        assert!(
            record.doc.contains("\"campaign_id\":null"),
            "{}",
            record.doc
        );
        assert_eq!(record.modify_time.as_deref(), Some("2024-01-02 04:00:00"));
        assert!(entity(
            &raw(json!({"name": "no id"})),
            RecordKey::new("ad_id", None),
            &FieldTypes::default(),
            &mut Notes::new()
        )
        .is_err());
        let spark = entity(
            &raw(json!({"item_info": {"item_id": 12345}, "text": "x"})),
            RecordKey::new("spark_ads_post_id", Some("/item_info/item_id")),
            &FieldTypes::default(),
            &mut Notes::new(),
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
    fn lone_surrogates_become_replacement_characters() {
        let repaired = |t: &str| repair_lone_surrogates(t);
        assert_eq!(repaired(r#""a\ud83db""#).as_deref(), Some(r#""a\ufffdb""#));
        assert_eq!(repaired(r#""\ude00""#).as_deref(), Some(r#""\ufffd""#));
        assert_eq!(
            repaired(r#""\ud83d\ud83d\ude00""#).as_deref(),
            Some(r#""\ufffd\ud83d\ude00""#)
        );
        assert_eq!(repaired(r#""\ud83d\ude00 \u00e9 \\ud83d""#), None);
        assert_eq!(repaired(r#""\ud83""#), None);

        let mut notes = Notes::new();
        let row =
            RawValue::from_string(r#"{"ad_id": 5, "ad_name": "Sale \ud83d!"}"#.into()).unwrap();
        let record = entity(
            &row,
            RecordKey::new("ad_id", None),
            &FieldTypes::default(),
            &mut notes,
        )
        .unwrap();
        let doc: Value = serde_json::from_str(&record.doc).unwrap();
        assert_eq!(doc["ad_name"], "Sale \u{FFFD}!");
        assert_eq!(notes, vec![Note::LoneSurrogate]);

        let Kind::Report(def) = find("ads_audience_reports_daily").unwrap().kind else {
            panic!()
        };
        let spec = ReportSpec::from_def(&def);
        let row = RawValue::from_string(
            r#"{"dimensions": {"ad_id": "1", "stat_time_day": "2024-01-01 00:00:00",
                "gender": "MALE", "age": "AGE_25_34"}, "metrics": {"ad_name": "\udc00x"}}"#
                .into(),
        )
        .unwrap();
        let mut notes = Notes::new();
        let record = report_row(&row, &spec, 9, &mut notes).unwrap();
        let doc: Value = serde_json::from_str(&record.doc).unwrap();
        assert_eq!(doc["metrics"]["ad_name"], "\u{FFFD}x");
        assert_eq!(notes, vec![Note::LoneSurrogate]);
    }

    #[test]
    fn rows_nested_too_deep_are_an_error_not_a_silent_drop() {
        let deep = format!(
            r#"{{"ad_id": 1, "x": {}{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        let row = RawValue::from_string(deep).unwrap();
        let err = entity(
            &row,
            RecordKey::new("ad_id", None),
            &FieldTypes::default(),
            &mut Notes::new(),
        )
        .err()
        .unwrap();
        assert_eq!(err, RowError::TooDeep);
        let text = RowError::too_deep("ads").to_string();
        assert!(
            text.contains("\"ads\"") && text.contains("nested"),
            "{text}"
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
