//! Turns TikTok's rows into the records we emit: entity ids become exact
//! integers; report rows keep TikTok's nested `dimensions` and `metrics`, gain top-level copies
//! of their key dimensions and `advertiser_id`, and have every metric typed by the declared
//! table (`"-"` and `""` become null, decimal digits are kept as sent). A breakdown
//! dimension TikTok leaves empty (or null) is kept as an empty string, never a reason to drop
//! the row; only a row without its entity id or its time is unusable.
//!
//! Every record fits its stream's schema, whatever JSON type TikTok used: each top-level field
//! is converted to its one declared type (a digit string to an integer, a number to a string,
//! ...), and a value that cannot be converted becomes null. Numbers outside the double range
//! become null, a lone UTF-16 surrogate (half an emoji) becomes U+FFFD, and an id that is not a
//! positive 64-bit integer is kept only where its type allows it. Each such change is reported
//! as a [`Note`], which the capture engine logs once per kind, field and stream.
//!
//! This module owns the notes; its children own the steps: `text` (a row's text parsed, lone
//! surrogates repaired, depth bounded), `convert` (the declared types and every conversion to
//! them), `entity` (entity and list records), `report` (report records, the general path) and
//! `fast` (report records written straight from the row's text).

mod convert;
mod entity;
mod fast;
mod report;
mod text;

pub(crate) use convert::id_of;
pub use convert::FieldTypes;
pub(crate) use entity::object_record;
pub use entity::{advertiser, entity, EntityRecord, RecordKey};
pub use report::{report_row, ReportRecord};
pub(crate) use text::parse_row;
pub use text::RowError;

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

#[cfg(test)]
mod tests {
    use serde_json::value::RawValue;
    use serde_json::Value;

    pub(super) fn raw(value: Value) -> Box<RawValue> {
        RawValue::from_string(value.to_string()).unwrap()
    }
}
