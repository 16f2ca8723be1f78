//! Per-binding capture state: one cursor per advertiser, plus a `default_cursor` that applies
//! to advertisers without their own (what a migrated single-cursor state becomes). The same
//! object is the Flow `bindingStateV1` entry and the Airbyte stream state. State written by
//! earlier versions of this connector (Airbyte 3.x global cursors, Airbyte 4.x per-partition
//! `states` lists) is read and migrated here, never thrown away.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BindingState {
    /// Cursor per advertiser id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub advertisers: BTreeMap<String, AdvertiserCursor>,
    /// The cursor of advertisers without an entry (from a migrated global cursor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_cursor: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdvertiserCursor {
    /// Entities: the largest `modify_time` seen (`YYYY-MM-DD HH:MM:SS`). Reports: the last day
    /// fully read (`YYYY-MM-DD`).
    pub cursor: String,
}

impl BindingState {
    pub fn cursor(&self, advertiser_id: u64) -> Option<&str> {
        self.advertisers
            .get(&advertiser_id.to_string())
            .map(|c| c.cursor.as_str())
            .or(self.default_cursor.as_deref())
    }

    /// The merge patch that sets one advertiser's cursor.
    pub fn cursor_patch(advertiser_id: u64, cursor: &str) -> Value {
        json!({"advertisers": {advertiser_id.to_string(): {"cursor": cursor}}})
    }

    /// Reads a state in any shape this connector has ever written. Unknown shapes yield
    /// `None`, so the caller can report them.
    pub fn from_any(value: &Value) -> Option<BindingState> {
        match value {
            Value::Null => Some(BindingState::default()),
            Value::Object(map) if map.is_empty() => Some(BindingState::default()),
            Value::Object(map) => {
                if map.contains_key("advertisers") || map.contains_key("default_cursor") {
                    return serde_json::from_value(value.clone()).ok();
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
                            out.advertisers.insert(id, AdvertiserCursor { cursor });
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

/// Applies an RFC 7396 merge patch (what Flow does with our checkpoints; the Airbyte emitter
/// folds patches the same way to emit whole stream states).
pub fn merge_patch(target: &mut Value, patch: &Value) {
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
    fn our_own_shape_round_trips() {
        let mut state = BindingState::default();
        state.advertisers.insert(
            "7".into(),
            AdvertiserCursor {
                cursor: "2024-01-02".into(),
            },
        );
        let value = serde_json::to_value(&state).unwrap();
        assert_eq!(BindingState::from_any(&value), Some(state.clone()));
        assert_eq!(state.cursor(7), Some("2024-01-02"));
        assert_eq!(state.cursor(8), None);
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
    fn merge_patch_follows_rfc_7396() {
        let mut target = json!({"a": {"b": 1, "c": 2}, "d": 3});
        merge_patch(&mut target, &json!({"a": {"b": null, "e": 4}, "d": [1]}));
        assert_eq!(target, json!({"a": {"c": 2, "e": 4}, "d": [1]}));
    }
}
