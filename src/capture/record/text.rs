//! A row's text parsed: lone UTF-16 surrogate escapes repaired (noted), and a row nested
//! deeper than the parser allows refused with an error naming the stream, never dropped.

use serde_json::Value;

use super::note::{Note, Notes};

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

#[cfg(test)]
mod tests {
    use serde_json::value::RawValue;

    use super::*;
    use crate::capture::record::*;
    use crate::registry::{find, Kind, ReportSpec};

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
}
