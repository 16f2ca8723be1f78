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
//! This module is the face: what the rest of the crate imports, and [`report_row`], which picks
//! the fast or the general path. Its children own the steps, and none imports from this file:
//! `note` (the notes), `text` (a row's text parsed, lone surrogates repaired, depth bounded),
//! `convert` (the declared types and every conversion to them), `entity` (entity and list
//! records), `report` (report records, the general path) and `fast` (report records written
//! straight from the row's text).

mod convert;
mod entity;
mod fast;
mod note;
mod report;
mod text;

pub(crate) use convert::id_of;
pub use convert::FieldTypes;
pub(crate) use entity::object_record;
pub use entity::{advertiser, entity, EntityRecord, RecordKey};
pub use note::{Note, Notes};
pub use report::{MetricSink, ReportRecord};
pub(crate) use text::parse_row;
pub use text::RowError;

use serde_json::value::RawValue;

use crate::registry::ReportSpec;
use report::report_row_general;

/// Builds the record of one report row. The fast path writes the output straight from the
/// row's raw text (no intermediate maps or number parsing: report rows are most of what the
/// connector emits); rows it does not handle (escaped keys, odd shapes) take the general path.
pub fn report_row(
    raw: &RawValue,
    spec: &ReportSpec,
    advertiser_id: u64,
    notes: &mut Notes,
) -> Result<ReportRecord, RowError> {
    report_row_with(raw, spec, advertiser_id, notes, &mut ())
}

/// [`report_row`] that hands the row's metrics to `sink` as well (see [`MetricSink`]), so a
/// reader of the figures does not parse the row again.
pub fn report_row_with(
    raw: &RawValue,
    spec: &ReportSpec,
    advertiser_id: u64,
    notes: &mut Notes,
    sink: &mut dyn MetricSink,
) -> Result<ReportRecord, RowError> {
    sink.clear();
    match fast::report_row_into(raw.get(), spec, advertiser_id, sink) {
        Some(record) => Ok(record),
        None => {
            sink.clear();
            sink.whole_row(raw.get());
            report_row_general(raw, spec, advertiser_id, notes)
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::value::RawValue;
    use serde_json::Value;

    pub(super) fn raw(value: Value) -> Box<RawValue> {
        RawValue::from_string(value.to_string()).unwrap()
    }
}
