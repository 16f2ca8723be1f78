//! The rows of the ledger's queries (see `activity`): how a row's figures read, one answer's
//! rows, and the shape of the ledger's query. The ledger asks every additive metric the report
//! streams request, so with many metric groups (`all`) TikTok may find its query too large
//! (40067); `activity` then asks it in parts of the metrics through the reports' one split and
//! join (`report::wide`), and reads the joined rows as one answer's: a day is idle only if every
//! metric of every part reads zero.

use chrono::NaiveDate;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::error::{ErrorClass, Result};
use crate::registry::metrics::{Granularity, Level, ReportType};
use crate::registry::{RecordLayout, ReportSpec};

/// Whether a figure TikTok sent reads as an exact zero, a non-zero number, or neither.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reading {
    Zero,
    NonZero,
    Unknown,
}

/// One row of a ledger answer: its account (the one asked, or the row's `advertiser_id` when
/// several were), its day (daily queries), how its metrics read, and the row as sent.
pub(crate) struct LedgerRow {
    pub(crate) account: Option<u64>,
    pub(crate) day: Option<NaiveDate>,
    pub(crate) reading: Reading,
    pub(crate) raw: Box<RawValue>,
}

/// What one ledger query answered.
pub(crate) enum Answer {
    Rows(Vec<LedgerRow>),
    /// Over the ads cap (`X-Tt-Ads-Throttle`): the totals are not to be trusted.
    Capped,
}

/// The day of a ledger row (`stat_time_day`), if it has a readable one.
pub(crate) fn row_day(row: &Value) -> Option<NaiveDate> {
    row["dimensions"]["stat_time_day"]
        .as_str()
        .and_then(|t| NaiveDate::parse_from_str(t.get(..10)?, "%Y-%m-%d").ok())
}

/// Whether an answer to the whole query calls for parts: TikTok found it too large and it has
/// metrics to share out.
pub(crate) fn calls_for_parts(answer: &Result<Answer>, metrics: &[&str]) -> bool {
    metrics.len() > 1 && matches!(answer, Err(err) if err.class() == ErrorClass::QueryTooLarge)
}

/// The shape of the ledger's advertiser-level query: by day (`daily`), or over its lifetime,
/// of these metrics (what its parameters are built from, and its parts joined by).
pub(crate) fn ledger_spec(daily: bool, metrics: &[&str]) -> ReportSpec {
    let dimensions: &[&str] = match daily {
        true => &["advertiser_id", "stat_time_day"],
        false => &["advertiser_id"],
    };
    ReportSpec {
        report_type: ReportType::Basic,
        level: Level::Advertiser,
        granularity: match daily {
            true => Granularity::Day,
            false => Granularity::Lifetime,
        },
        dimensions: dimensions.iter().map(|d| d.to_string()).collect(),
        metrics: metrics.iter().map(|m| m.to_string()).collect(),
        filtering: Vec::new(),
        layout: RecordLayout::Nested,
    }
}
