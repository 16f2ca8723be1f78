//! The rows of the ledger's queries (see `activity`): how a row's figures read, one answer's
//! rows, and the daily query asked in parts. The ledger asks every additive metric the report
//! streams request, so with many metric groups (`all`) TikTok may find its query too large
//! (40067). Its rows are then asked as several queries of part of the metrics each (same
//! account, window and dimensions), halving a part TikTok still finds too large; a day reads as
//! idle only if every part reads zero on it, and the parts' rows are joined by their
//! dimensions, so the totals the reconciliation compares and the rows the advertiser stream
//! takes from the ledger carry every metric. The run remembers how many parts an answered query
//! took, so the accounts asked after the first start split.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::NaiveDate;
use serde_json::value::RawValue;
use serde_json::Value;

use crate::capture::report::wide::{cut, Joined};
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

/// One account's ledger rows asked in parts of `metrics` through `ask` (at least two parts, or
/// as many as `learned`, the parts the run's earlier queries took, which it raises), halving a
/// part TikTok finds too large, and joined.
pub(crate) async fn in_parts(
    advertiser_id: u64,
    metrics: &[&str],
    learned: &AtomicUsize,
    ask: impl AsyncFn(&[&str]) -> Result<Answer>,
) -> Result<Answer> {
    let names: Vec<String> = metrics.iter().map(|m| m.to_string()).collect();
    let mut queue: VecDeque<Vec<String>> =
        cut(&names, learned.load(Ordering::Relaxed).max(2)).into();
    let mut rows = Vec::new();
    let mut answered = 0;
    while let Some(part) = queue.pop_front() {
        let asked: Vec<&str> = part.iter().map(String::as_str).collect();
        match ask(&asked).await {
            Ok(Answer::Rows(part_rows)) => {
                rows.extend(part_rows);
                answered += 1;
            }
            Ok(Answer::Capped) => return Ok(Answer::Capped),
            Err(err) if err.class() == ErrorClass::QueryTooLarge && part.len() > 1 => {
                tracing::debug!(
                    advertiser_id,
                    metrics = part.len(),
                    "TikTok found a part of the ledger's query too large (40067); halving it."
                );
                let mut halves = cut(&part, 2);
                queue.push_front(halves.pop().unwrap_or_default());
                queue.push_front(halves.pop().unwrap_or_default());
            }
            Err(err) => return Err(err),
        }
    }
    learned.fetch_max(answered, Ordering::Relaxed);
    Ok(Answer::Rows(join(advertiser_id, rows)))
}

/// The parts' rows as one row per day: the readings combined (any part non-zero makes the day
/// non-zero; else any unknown, unknown; else zero), the rows joined by their dimensions. Rows
/// without a day or of another account are kept as they are, for the caller to distrust.
fn join(advertiser_id: u64, rows: Vec<LedgerRow>) -> Vec<LedgerRow> {
    let spec = ledger_day_spec();
    let mut readings: BTreeMap<NaiveDate, Reading> = BTreeMap::new();
    let mut joined = Joined::default();
    let mut out = Vec::new();
    for row in rows {
        match (row.account, row.day) {
            (Some(account), Some(day)) if account == advertiser_id => {
                let reading = readings.entry(day).or_insert(Reading::Zero);
                *reading = combined(*reading, row.reading);
                joined.add(&spec, row.raw);
            }
            _ => out.push(row),
        }
    }
    for raw in joined.into_rows() {
        let row: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
        let day = row_day(&row);
        out.push(LedgerRow {
            account: Some(advertiser_id),
            day,
            reading: day
                .and_then(|d| readings.get(&d).copied())
                .unwrap_or(Reading::Unknown),
            raw,
        });
    }
    out
}

fn combined(a: Reading, b: Reading) -> Reading {
    match (a, b) {
        (Reading::NonZero, _) | (_, Reading::NonZero) => Reading::NonZero,
        (Reading::Unknown, _) | (_, Reading::Unknown) => Reading::Unknown,
        _ => Reading::Zero,
    }
}

/// The shape of the ledger's daily rows, for joining them by their dimensions.
fn ledger_day_spec() -> ReportSpec {
    ReportSpec {
        report_type: ReportType::Basic,
        level: Level::Advertiser,
        granularity: Granularity::Day,
        dimensions: vec!["advertiser_id".into(), "stat_time_day".into()],
        metrics: Vec::new(),
        filtering: Vec::new(),
        layout: RecordLayout::Nested,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(day: &str, metrics: &str, reading: Reading) -> LedgerRow {
        let text = format!(
            r#"{{"dimensions":{{"advertiser_id":"7","stat_time_day":"{day} 00:00:00"}},"metrics":{metrics}}}"#
        );
        LedgerRow {
            account: Some(7),
            day: NaiveDate::parse_from_str(day, "%Y-%m-%d").ok(),
            reading,
            raw: RawValue::from_string(text).unwrap(),
        }
    }

    #[test]
    fn a_day_is_idle_only_if_every_part_reads_zero_and_its_rows_are_joined() {
        let rows = vec![
            row("2024-01-01", r#"{"spend":"0"}"#, Reading::Zero),
            row("2024-01-02", r#"{"spend":"0"}"#, Reading::Zero),
            row("2024-01-03", r#"{"spend":"1.00"}"#, Reading::NonZero),
            row("2024-01-01", r#"{"conversion":"2"}"#, Reading::NonZero),
            row("2024-01-02", r#"{"conversion":"0"}"#, Reading::Zero),
            row("2024-01-03", r#"{"conversion":"-"}"#, Reading::Unknown),
        ];
        let mut stranger = row("2024-01-01", r#"{"spend":"5"}"#, Reading::NonZero);
        stranger.account = Some(8);
        let mut all = rows;
        all.push(stranger);
        let joined = join(7, all);
        let by_day: BTreeMap<String, (Reading, Value)> = joined
            .iter()
            .filter(|r| r.account == Some(7))
            .map(|r| {
                let value: Value = serde_json::from_str(r.raw.get()).unwrap();
                (r.day.unwrap().to_string(), (r.reading, value))
            })
            .collect();
        assert_eq!(by_day.len(), 3);
        assert_eq!(by_day["2024-01-01"].0, Reading::NonZero);
        assert_eq!(by_day["2024-01-02"].0, Reading::Zero);
        assert_eq!(by_day["2024-01-03"].0, Reading::NonZero);
        assert_eq!(by_day["2024-01-01"].1["metrics"]["spend"], "0");
        assert_eq!(by_day["2024-01-01"].1["metrics"]["conversion"], "2");
        // Another account's row is left as it came, for the caller to distrust.
        assert_eq!(joined.iter().filter(|r| r.account == Some(8)).count(), 1);
        assert_eq!(combined(Reading::Zero, Reading::Unknown), Reading::Unknown);
    }
}
