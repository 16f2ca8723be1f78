//! Per-binding capture state: one cursor per advertiser, plus a `default_cursor` that applies
//! to advertisers without their own (what a migrated single-cursor state becomes). The same
//! object is the Flow `bindingStateV1` entry and the Airbyte stream state. State written by
//! earlier versions of this connector (Airbyte 3.x global cursors, Airbyte 4.x per-partition
//! `states` lists) is read and migrated here, never thrown away.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BindingState {
    /// Cursor per advertiser id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) advertisers: BTreeMap<String, AdvertiserCursor>,
    /// The cursor of advertisers without an entry (from a migrated global cursor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) default_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct AdvertiserCursor {
    /// Entities: the largest `modify_time` seen (`YYYY-MM-DD HH:MM:SS`). Reports: the last day
    /// fully read (`YYYY-MM-DD`).
    pub(crate) cursor: String,
    /// Reports: the rows per day the last run read for this advertiser, from which the next
    /// run's plan counts pages (a hint; nothing else depends on it).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "hint"
    )]
    pub(crate) rows_per_day: Option<f64>,
    /// Reports: a day on which TikTok's advertiser totals said zero but the account's ad-level
    /// rows did not. While set, every report day of the advertiser is read (see the ledger in
    /// `capture::activity`); a run whose full read agrees with the totals clears it.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "day_or_none"
    )]
    pub(crate) ledger_distrust: Option<String>,
}

/// A distrust mark that is not a day is no mark... but it still distrusts: any string keeps the
/// account read in full (the safe side), so only a missing or null value clears it.
fn day_or_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let value = Value::deserialize(d)?;
    Ok(match value {
        Value::Null => None,
        Value::String(s) => Some(s),
        other => Some(other.to_string()),
    })
}

/// A hint that is not a non-negative number is no hint: a state edited by hand (or by another
/// tool) never fails a run for it.
fn hint<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    let value = Value::deserialize(d)?;
    Ok(value.as_f64().filter(|x| x.is_finite() && *x >= 0.0))
}

/// The format of entity cursors (`modify_time`); report cursors are `YYYY-MM-DD` days.
pub(crate) const ENTITY_CURSOR_FORMAT: &str = "%Y-%m-%d %H:%M:%S";

/// How far past today a report cursor may be: the connector reads up to tomorrow (UTC) so
/// accounts east of UTC keep today, so its own cursors can be a day ahead; one more day of
/// margin covers a slow clock.
const CURSOR_DAYS_AHEAD: u64 = 2;

impl BindingState {
    /// Refuses cursors this connector could not have written: values that are not a day or a
    /// `modify_time`, or that lie in the future. Such a cursor would freeze the stream (a
    /// string that sorts after every date) or skip every row until its date. The error names
    /// the advertiser and the value.
    pub(crate) fn check(&self, today: chrono::NaiveDate) -> Result<(), String> {
        let latest = today
            .checked_add_days(chrono::Days::new(CURSOR_DAYS_AHEAD))
            .unwrap_or(today);
        let entries = self
            .advertisers
            .iter()
            .map(|(id, c)| (format!("advertiser {id}"), c.cursor.as_str()))
            .chain(
                self.default_cursor
                    .iter()
                    .map(|c| ("default_cursor".to_string(), c.as_str())),
            );
        for (whose, cursor) in entries {
            let day = chrono::NaiveDate::parse_from_str(cursor, "%Y-%m-%d")
                .ok()
                .or_else(|| {
                    chrono::NaiveDateTime::parse_from_str(cursor, ENTITY_CURSOR_FORMAT)
                        .ok()
                        .map(|t| t.date())
                });
            let excerpt = crate::scrub::excerpt(cursor, 60);
            match day {
                None => {
                    return Err(format!(
                        "has the cursor {excerpt:?} for {whose}, which is not a date \
                         (YYYY-MM-DD) nor a time (YYYY-MM-DD HH:MM:SS)"
                    ))
                }
                Some(day) if day > latest => {
                    return Err(format!(
                        "has the cursor {excerpt:?} for {whose}, which is in the future"
                    ))
                }
                Some(_) => {}
            }
        }
        Ok(())
    }

    pub(crate) fn cursor(&self, advertiser_id: u64) -> Option<&str> {
        self.advertisers
            .get(&advertiser_id.to_string())
            .map(|c| c.cursor.as_str())
            .or(self.default_cursor.as_deref())
    }

    /// Applies a merge patch of the shapes the capture engine emits (cursors set or removed
    /// per advertiser, `default_cursor` set or removed), as RFC 7396 would on the state's JSON,
    /// but on the typed state. The emitter folds the engine's typed patches with
    /// [`BindingState::apply`]; this JSON form is for the tests, which hold the two to RFC 7396.
    #[cfg(test)]
    pub(crate) fn apply_patch(&mut self, patch: &Value) {
        let Some(patch) = patch.as_object() else {
            return;
        };
        match patch.get("advertisers") {
            Some(Value::Object(entries)) => {
                for (id, entry) in entries {
                    match entry.get("cursor").and_then(Value::as_str) {
                        Some(cursor) => {
                            let kept = self.advertisers.remove(id);
                            let rows_per_day = match entry.get("rows_per_day") {
                                Some(Value::Number(n)) => n.as_f64(),
                                Some(_) => None,
                                None => kept.as_ref().and_then(|c| c.rows_per_day),
                            };
                            let ledger_distrust = match entry.get("ledger_distrust") {
                                Some(Value::String(day)) => Some(day.clone()),
                                Some(_) => None,
                                None => kept.and_then(|c| c.ledger_distrust),
                            };
                            self.advertisers.insert(
                                id.clone(),
                                AdvertiserCursor {
                                    cursor: cursor.to_string(),
                                    rows_per_day,
                                    ledger_distrust,
                                },
                            );
                        }
                        None => {
                            self.advertisers.remove(id);
                        }
                    }
                }
            }
            Some(Value::Null) => self.advertisers.clear(),
            _ => {}
        }
        match patch.get("default_cursor") {
            Some(Value::String(cursor)) => self.default_cursor = Some(cursor.clone()),
            Some(Value::Null) => self.default_cursor = None,
            _ => {}
        }
    }

    /// Applies a patch the engine made, as an RFC 7396 merge of its JSON would (the tests hold
    /// the two to each other).
    pub(crate) fn apply(&mut self, patch: &StatePatch) {
        match patch {
            StatePatch::Nothing => {}
            StatePatch::Cursor {
                advertiser_id,
                cursor,
                rows_per_day,
                ledger_distrust,
            } => {
                let id = advertiser_id.to_string();
                let kept = self.advertisers.remove(&id);
                let kept_rows = kept.as_ref().and_then(|c| c.rows_per_day);
                let kept_mark = kept.and_then(|c| c.ledger_distrust);
                self.advertisers.insert(
                    id,
                    AdvertiserCursor {
                        cursor: cursor.clone(),
                        rows_per_day: rows_per_day.or(kept_rows),
                        ledger_distrust: match ledger_distrust {
                            Some(mark) => mark.clone(),
                            None => kept_mark,
                        },
                    },
                );
            }
            StatePatch::DropAdvertisers(ids) => {
                for id in ids {
                    self.advertisers.remove(id);
                }
            }
        }
    }

    /// The day an earlier run found the advertiser's totals wrong, while that holds.
    pub(crate) fn ledger_distrust(&self, advertiser_id: u64) -> Option<&str> {
        self.advertisers
            .get(&advertiser_id.to_string())
            .and_then(|c| c.ledger_distrust.as_deref())
    }

    /// The rows per day the last run's reports read for this advertiser.
    pub(crate) fn rows_per_day(&self, advertiser_id: u64) -> Option<f64> {
        self.advertisers
            .get(&advertiser_id.to_string())
            .and_then(|c| c.rows_per_day)
    }

    /// [`BindingState::from_any`] from the state's JSON text. Our own shape (an object with
    /// `advertisers` or `default_cursor`) is read straight into the typed state, so a state of
    /// a million advertisers is parsed once and never held as a JSON tree besides; the small
    /// shapes of earlier versions go through [`BindingState::from_any`].
    pub fn from_raw(raw: &RawValue) -> Option<BindingState> {
        let text = raw.get();
        if text.trim_start().starts_with('{') {
            // The top-level fields only, their values left as text.
            let fields: BTreeMap<String, &RawValue> = serde_json::from_str(text).ok()?;
            if fields.contains_key("advertisers") || fields.contains_key("default_cursor") {
                return serde_json::from_str(text).ok();
            }
        }
        BindingState::from_any(&serde_json::from_str(text).ok()?)
    }

    /// Reads a state in any shape this connector has ever written. Unknown shapes yield
    /// `None`, so the caller can report them.
    pub fn from_any(value: &Value) -> Option<BindingState> {
        match value {
            Value::Null => Some(BindingState::default()),
            Value::Object(map) if map.is_empty() => Some(BindingState::default()),
            Value::Object(map) => {
                if map.contains_key("advertisers") || map.contains_key("default_cursor") {
                    // Read through a reference: a state of a million advertisers is not copied.
                    return BindingState::deserialize(value).ok();
                }
                // Airbyte 4.x concurrent cursor: {"states": [{"partition": {...}, "cursor": {...}}]}
                if let Some(Value::Array(states)) = map.get("states") {
                    let mut out = BindingState::default();
                    for entry in states {
                        let id = entry["partition"]["advertiser_id"]
                            .as_str()
                            .map(str::to_string)
                            .or_else(|| {
                                entry["partition"]["advertiser_id"]
                                    .as_u64()
                                    .map(|n| n.to_string())
                            });
                        let cursor = legacy_cursor(&entry["cursor"]);
                        if let (Some(id), Some(cursor)) = (id, cursor) {
                            out.advertisers.insert(
                                id,
                                AdvertiserCursor {
                                    cursor,
                                    rows_per_day: None,
                                    ledger_distrust: None,
                                },
                            );
                        }
                    }
                    if let Some(global) = map.get("state").and_then(legacy_cursor) {
                        out.default_cursor = Some(global);
                    }
                    return Some(out);
                }
                // Airbyte 3.x: {"stat_time_day": "..."} or {"modify_time": "..."}.
                legacy_cursor(value).map(|cursor| BindingState {
                    advertisers: BTreeMap::new(),
                    default_cursor: Some(cursor),
                })
            }
            _ => None,
        }
    }
}

/// The cursor value of a legacy `{"<cursor field>": value}` object, normalised to our formats.
fn legacy_cursor(value: &Value) -> Option<String> {
    for field in ["modify_time", "stat_time_hour", "stat_time_day"] {
        if let Some(text) = value.get(field).and_then(Value::as_str) {
            let normal = text.replace('T', " ").trim_end_matches('Z').to_string();
            return Some(if field == "modify_time" {
                normal.chars().take(19).collect()
            } else {
                normal.chars().take(10).collect()
            });
        }
    }
    None
}

/// A change to one binding's state, in the shapes the engine makes: sent as a merge patch of
/// the state's JSON ([`StatePatch::to_json`]), which Flow merges; the Airbyte emitter applies
/// it to the typed state ([`BindingState::apply`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StatePatch {
    /// Nothing changes: the checkpoint only commits the records sent before it.
    Nothing,
    /// One advertiser's cursor, and the rows per day its reports read when known (without
    /// one, the state keeps the hint it has).
    Cursor {
        advertiser_id: u64,
        cursor: String,
        rows_per_day: Option<f64>,
        /// `Some(Some(day))` marks the advertiser's totals as distrusted, `Some(None)` lifts
        /// the mark, `None` keeps what the state has.
        ledger_distrust: Option<Option<String>>,
    },
    /// The cursors of advertisers the run no longer captures are dropped.
    DropAdvertisers(Vec<String>),
}

impl StatePatch {
    /// Sets one advertiser's cursor.
    pub(crate) fn cursor(advertiser_id: u64, cursor: &str) -> StatePatch {
        StatePatch::cursor_with_rows(advertiser_id, cursor, None)
    }

    /// Sets one advertiser's cursor and, when given, the rows per day its reports read.
    pub(crate) fn cursor_with_rows(
        advertiser_id: u64,
        cursor: &str,
        rows_per_day: Option<f64>,
    ) -> StatePatch {
        StatePatch::Cursor {
            advertiser_id,
            cursor: cursor.to_string(),
            rows_per_day,
            ledger_distrust: None,
        }
    }

    /// The same patch, also setting or lifting the ledger's distrust of the advertiser.
    pub(crate) fn with_distrust(self, mark: Option<Option<String>>) -> StatePatch {
        match self {
            StatePatch::Cursor {
                advertiser_id,
                cursor,
                rows_per_day,
                ..
            } => StatePatch::Cursor {
                advertiser_id,
                cursor,
                rows_per_day,
                ledger_distrust: mark,
            },
            other => other,
        }
    }

    /// The RFC 7396 merge patch of the state's JSON.
    pub(crate) fn to_json(&self) -> Value {
        match self {
            StatePatch::Nothing => json!({}),
            StatePatch::Cursor {
                advertiser_id,
                cursor,
                rows_per_day,
                ledger_distrust,
            } => {
                let mut entry = json!({ "cursor": cursor });
                if let Some(rows) = rows_per_day {
                    entry["rows_per_day"] = json!(rows);
                }
                if let Some(mark) = ledger_distrust {
                    entry["ledger_distrust"] = json!(mark);
                }
                json!({"advertisers": {advertiser_id.to_string(): entry}})
            }
            StatePatch::DropAdvertisers(ids) => {
                let entries: serde_json::Map<String, Value> =
                    ids.iter().map(|id| (id.clone(), Value::Null)).collect();
                json!({ "advertisers": entries })
            }
        }
    }
}

/// Applies an RFC 7396 merge patch (what Flow does with our checkpoints; the Airbyte emitter
/// folds patches the same way to emit whole stream states).
#[cfg(test)] // The reference the tests hold the typed fold to.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(patch_map) => {
            if !target.is_object() {
                *target = Value::Object(Default::default());
            }
            let map = target.as_object_mut().expect("made an object above");
            for (key, value) in patch_map {
                if value.is_null() {
                    map.remove(key);
                } else {
                    merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
                }
            }
        }
        other => *target = other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hint_that_is_not_a_number_is_ignored_not_refused() {
        for bad in [json!("lots"), json!(-3), json!({"x": 1}), json!(null)] {
            let state = BindingState::from_any(
                &json!({"advertisers": {"7": {"cursor": "2024-01-02", "rows_per_day": bad}}}),
            )
            .unwrap();
            assert_eq!(state.cursor(7), Some("2024-01-02"));
            assert_eq!(state.rows_per_day(7), None);
        }
    }

    #[test]
    fn a_cursor_patch_keeps_the_rows_hint_unless_it_sets_one() {
        let mut state = BindingState::default();
        state.apply_patch(&StatePatch::cursor_with_rows(7, "2024-01-02", Some(3.2)).to_json());
        assert_eq!(state.rows_per_day(7), Some(3.2));
        // A later cursor alone (the windows before the last) keeps it.
        state.apply_patch(&StatePatch::cursor(7, "2024-01-03").to_json());
        assert_eq!(
            (state.cursor(7), state.rows_per_day(7)),
            (Some("2024-01-03"), Some(3.2))
        );
        state.apply_patch(&StatePatch::cursor_with_rows(7, "2024-01-04", Some(1.0)).to_json());
        assert_eq!(state.rows_per_day(7), Some(1.0));
    }

    #[test]
    fn our_own_shape_round_trips() {
        let mut state = BindingState::default();
        state.advertisers.insert(
            "7".into(),
            AdvertiserCursor {
                cursor: "2024-01-02".into(),
                rows_per_day: Some(2.5),
                ledger_distrust: None,
            },
        );
        let value = serde_json::to_value(&state).unwrap();
        assert_eq!(BindingState::from_any(&value), Some(state.clone()));
        assert_eq!(state.cursor(7), Some("2024-01-02"));
        assert_eq!(state.cursor(8), None);
    }

    /// The ledger's distrust of an advertiser is set with a cursor, kept by later cursors that
    /// do not name it, and lifted by a patch that says so, the typed fold and RFC 7396 alike.
    #[test]
    fn the_ledgers_distrust_is_kept_until_lifted() {
        let mark =
            StatePatch::cursor(7, "2024-01-02").with_distrust(Some(Some("2024-01-01".into())));
        let keep = StatePatch::cursor(7, "2024-01-03");
        let lift = StatePatch::cursor(7, "2024-01-04").with_distrust(Some(None));
        let mut typed = BindingState::default();
        let mut json = json!({});
        let mut steps = Vec::new();
        for patch in [&mark, &keep, &lift] {
            typed.apply(patch);
            merge_patch(&mut json, &patch.to_json());
            let mut folded = BindingState::default();
            folded.apply_patch(&json);
            assert_eq!(folded, typed);
            assert_eq!(BindingState::from_any(&json), Some(typed.clone()));
            steps.push(typed.ledger_distrust(7).map(str::to_string));
        }
        assert_eq!(
            steps,
            [
                Some("2024-01-01".to_string()),
                Some("2024-01-01".to_string()),
                None
            ]
        );
        // A mark that is not a string still distrusts (the safe side).
        let odd = BindingState::from_any(
            &json!({"advertisers": {"7": {"cursor": "2024-01-02", "ledger_distrust": 5}}}),
        )
        .unwrap();
        assert_eq!(odd.ledger_distrust(7), Some("5"));
    }

    #[test]
    fn airbyte_3_global_cursor_becomes_the_default() {
        let state =
            BindingState::from_any(&json!({"stat_time_day": "2024-03-05 00:00:00"})).unwrap();
        assert_eq!(state.cursor(1), Some("2024-03-05"));
        let state =
            BindingState::from_any(&json!({"modify_time": "2024-03-05T10:11:12Z"})).unwrap();
        assert_eq!(state.cursor(1), Some("2024-03-05 10:11:12"));
    }

    #[test]
    fn airbyte_4_partitions_become_per_advertiser_cursors() {
        let state = BindingState::from_any(&json!({"states": [
            {"partition": {"advertiser_id": "872746382648", "parent_slice": {}},
             "cursor": {"stat_time_day": "2024-09-20"}},
            {"partition": {"advertiser_id": 111, "parent_slice": {}},
             "cursor": {"stat_time_day": "2024-09-10"}}]}))
        .unwrap();
        assert_eq!(state.cursor(872746382648), Some("2024-09-20"));
        assert_eq!(state.cursor(111), Some("2024-09-10"));
        assert_eq!(state.cursor(5), None);
    }

    #[test]
    fn unknown_shapes_are_refused() {
        assert_eq!(BindingState::from_any(&json!([1, 2])), None);
        assert_eq!(BindingState::from_any(&json!({"something": 1})), None);
    }

    #[test]
    fn cursors_that_are_not_dates_or_lie_ahead_are_refused() {
        let today = chrono::NaiveDate::from_ymd_opt(2025, 6, 1).unwrap();
        let with = |cursor: &str| BindingState {
            advertisers: BTreeMap::from([(
                "42".to_string(),
                AdvertiserCursor {
                    cursor: cursor.into(),
                    rows_per_day: None,
                    ledger_distrust: None,
                },
            )]),
            default_cursor: None,
        };
        for good in [
            "2025-05-01",
            "2025-06-02",
            "2025-06-03",
            "2025-06-01 23:59:59",
        ] {
            assert_eq!(with(good).check(today), Ok(()), "{good}");
        }
        for bad in [
            "not-a-date",
            "9999-12-31",
            "2025-06-04",
            "2025-13-01",
            "2025-06-01T00:00:00",
            "",
        ] {
            let why = with(bad).check(today).unwrap_err();
            assert!(
                why.contains("advertiser 42") && why.contains(&format!("{bad:?}")),
                "{why}"
            );
        }
        let migrated = BindingState {
            advertisers: BTreeMap::new(),
            default_cursor: Some("zzz".into()),
        };
        assert!(migrated
            .check(today)
            .unwrap_err()
            .contains("default_cursor"));
    }

    #[test]
    fn typed_patches_agree_with_json_merge_patches() {
        let start = json!({"advertisers": {"1": {"cursor": "a"}, "2": {"cursor": "b"}},
                           "default_cursor": "d"});
        let patches = [
            StatePatch::cursor(3, "c").to_json(),
            StatePatch::cursor_with_rows(3, "c2", Some(2.5)).to_json(),
            StatePatch::cursor(3, "c3").to_json(),
            StatePatch::cursor(1, "z").to_json(),
            StatePatch::DropAdvertisers(vec!["2".into()]).to_json(),
            StatePatch::Nothing.to_json(),
            json!({"default_cursor": null}),
            json!({"advertisers": null}),
            json!({"default_cursor": "e"}),
        ];
        let mut typed = BindingState::from_any(&start).unwrap();
        let mut value = start;
        for patch in &patches {
            typed.apply_patch(patch);
            merge_patch(&mut value, patch);
            assert_eq!(
                serde_json::to_value(&typed).unwrap(),
                value,
                "after {patch}"
            );
        }
    }

    #[test]
    fn engine_patches_apply_as_their_json_does() {
        let start = json!({"advertisers": {"1": {"cursor": "a", "rows_per_day": 4.5},
                                           "2": {"cursor": "b"}}});
        let patches = [
            StatePatch::cursor(3, "c"),
            StatePatch::cursor_with_rows(3, "c2", Some(2.5)),
            StatePatch::cursor(3, "c3"),
            StatePatch::cursor(1, "z"),
            StatePatch::cursor_with_rows(2, "y", Some(0.0)),
            StatePatch::DropAdvertisers(vec!["2".into(), "9".into()]),
            StatePatch::Nothing,
        ];
        let mut typed = BindingState::from_any(&start).unwrap();
        let mut value = start;
        for patch in &patches {
            typed.apply(patch);
            merge_patch(&mut value, &patch.to_json());
            assert_eq!(
                serde_json::to_value(&typed).unwrap(),
                value,
                "after {patch:?}"
            );
        }
        assert_eq!(
            typed.rows_per_day(3),
            Some(2.5),
            "a later cursor keeps the hint"
        );
    }

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut target = json!({"a": {"b": 1, "c": 2}, "d": 3});
        merge_patch(&mut target, &json!({"a": {"b": null, "e": 4}, "d": [1]}));
        assert_eq!(target, json!({"a": {"c": 2, "e": 4}, "d": [1]}));
    }
}
