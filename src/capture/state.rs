//! Per-binding capture state: one cursor per advertiser, plus a `default_cursor` that applies
//! to advertisers without their own (what a migrated single-cursor state becomes). The same
//! object is the Flow `bindingStateV1` entry and the Airbyte stream state. State written by
//! earlier versions of this connector (Airbyte 3.x global cursors, Airbyte 4.x per-partition
//! `states` lists) is read and migrated here, never thrown away. A state can hold a million
//! advertisers, so its ids and cursors are [`CompactString`]s (no allocation each) and its map is
//! built from the parsed entries at once, its nodes full (see [`StateParts`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{json, Value};

use compact_str::CompactString;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "StateParts")]
pub struct BindingState {
    /// Cursor per advertiser id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) advertisers: BTreeMap<CompactString, AdvertiserCursor>,
    /// The cursor of advertisers without an entry (from a migrated global cursor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) default_cursor: Option<String>,
    /// Reports: how many metrics TikTok answered and refused in one synchronous query of this
    /// binding, once it found a query too large (40067); the next run starts its queries in
    /// parts that wide (see `report::wide`). A hint; nothing else depends on it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) query_width: Option<MetricWidth>,
    /// The same for the binding's asynchronous report tasks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) task_width: Option<MetricWidth>,
}

/// How many metrics TikTok answered and refused (40067, too large) in one report query: the
/// most it answered, and the fewest it refused. What a binding learned of TikTok's width,
/// kept between runs so a run starts its wide queries in parts instead of meeting refusals;
/// where TikTok's limit lies between the two is found by trying (see `report::wide`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct MetricWidth {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) answered: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) refused: Option<u32>,
}

impl MetricWidth {
    /// Whether it says anything.
    pub(crate) fn is_known(&self) -> bool {
        self.answered.is_some() || self.refused.is_some()
    }

    /// The patch that makes a state's width this one: a count it does not know is removed,
    /// and so is a width that knows nothing.
    fn to_json(self) -> Value {
        match self.is_known() {
            true => json!({"answered": self.answered, "refused": self.refused}),
            false => Value::Null,
        }
    }
}

/// A width that is not an object of counts is no hint, and neither is one whose counts are not
/// whole numbers of at least 1 or that answered as many metrics as it refused (TikTok does not
/// do both): a state edited by hand never fails a run for it.
fn width_hint<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<MetricWidth>, D::Error> {
    let value = Value::deserialize(d)?;
    let count = |field: &str| -> Result<Option<u32>, ()> {
        match value.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(n) => n
                .as_u64()
                .filter(|n| *n >= 1)
                .and_then(|n| u32::try_from(n).ok())
                .map(Some)
                .ok_or(()),
        }
    };
    if !value.is_object() {
        return Ok(None);
    }
    let (Ok(answered), Ok(refused)) = (count("answered"), count("refused")) else {
        return Ok(None);
    };
    let width = MetricWidth { answered, refused };
    let consistent = match (answered, refused) {
        (Some(a), Some(r)) => a < r,
        _ => true,
    };
    Ok(Some(width).filter(|w| consistent && w.is_known()))
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct AdvertiserCursor {
    /// Entities: the largest `modify_time` seen (`YYYY-MM-DD HH:MM:SS`). Reports: the last day
    /// fully read (`YYYY-MM-DD`).
    pub(crate) cursor: CompactString,
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
    pub(crate) ledger_distrust: Option<CompactString>,
}

/// A state as parsed, before its map is built: the advertisers in the order the text lists
/// them. Built into a `BTreeMap` at once ([`BTreeMap::from_iter`] sorts, keeps the last of a
/// repeated id as inserting would, and fills every node), the map takes about half the memory
/// of one grown by inserting entry after entry, which leaves its nodes about half empty; and
/// [`BindingState::from_raw_owned`] frees the text before the map is built.
#[derive(Deserialize)]
pub(crate) struct StateParts {
    #[serde(default)]
    advertisers: AdvertiserList,
    #[serde(default)]
    default_cursor: Option<String>,
    #[serde(default, deserialize_with = "width_hint")]
    query_width: Option<MetricWidth>,
    #[serde(default, deserialize_with = "width_hint")]
    task_width: Option<MetricWidth>,
}

/// The top-level fields of our own shape of state (an object with any of them is read as
/// ours; a state of a lifetime report may hold only a width).
const OWN_FIELDS: [&str; 4] = ["advertisers", "default_cursor", "query_width", "task_width"];

/// The advertisers of a state, as listed.
#[derive(Default)]
struct AdvertiserList(Vec<(CompactString, AdvertiserCursor)>);

impl<'de> Deserialize<'de> for AdvertiserList {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct ListVisitor;
        impl<'de> serde::de::Visitor<'de> for ListVisitor {
            type Value = AdvertiserList;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object of cursors by advertiser id")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<AdvertiserList, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(AdvertiserList(entries))
            }
        }
        d.deserialize_map(ListVisitor)
    }
}

impl From<StateParts> for BindingState {
    fn from(parts: StateParts) -> Self {
        BindingState {
            advertisers: parts.advertisers.0.into_iter().collect(),
            default_cursor: parts.default_cursor,
            query_width: parts.query_width,
            task_width: parts.task_width,
        }
    }
}

/// A distrust mark that is not a day is no mark... but it still distrusts: any string keeps the
/// account read in full (the safe side), so only a missing or null value clears it.
fn day_or_none<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<CompactString>, D::Error> {
    let value = Value::deserialize(d)?;
    Ok(match value {
        Value::Null => None,
        Value::String(s) => Some(s.into()),
        other => Some(other.to_string().into()),
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

/// A state cursor that lay in the future, taken out of the state (see
/// [`BindingState::check`]).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct FutureCursor {
    /// The advertiser whose cursor it was; `None` for the `default_cursor`.
    pub(crate) advertiser_id: Option<String>,
    /// The cursor as the state had it.
    pub(crate) cursor: String,
}

impl FutureCursor {
    /// The patch that takes it out of the state the runtime (or the Airbyte emitter) keeps.
    pub(crate) fn patch(&self) -> StatePatch {
        match &self.advertiser_id {
            Some(id) => StatePatch::DropAdvertisers(vec![id.clone()]),
            None => StatePatch::DropDefaultCursor,
        }
    }
}

impl BindingState {
    /// Refuses cursors that are not a day or a `modify_time` (a string that sorts after every
    /// date would freeze the stream), naming the advertiser and the value; and takes out those
    /// that lie in the future (after today, plus the margin this connector's own cursors can
    /// have), which would skip every row until their date: the advertiser then reads as
    /// without a cursor, from `start_date` (or its creation, or TikTok's earliest day). Returns
    /// what it took out, for the caller to warn of and to drop from the stored state.
    pub(crate) fn check(&mut self, today: chrono::NaiveDate) -> Result<Vec<FutureCursor>, String> {
        let latest = today
            .checked_add_days(chrono::Days::new(CURSOR_DAYS_AHEAD))
            .unwrap_or(today);
        let mut future = Vec::new();
        let entries = self
            .advertisers
            .iter()
            .map(|(id, c)| (Some(id.as_str()), c.cursor.as_str()))
            .chain(self.default_cursor.iter().map(|c| (None, c.as_str())));
        for (id, cursor) in entries {
            match cursor_day(cursor) {
                None => {
                    let whose = match id {
                        Some(id) => format!("advertiser {id}"),
                        None => "default_cursor".to_string(),
                    };
                    return Err(format!(
                        "has the cursor {:?} for {whose}, which is not a date (YYYY-MM-DD) nor \
                         a time (YYYY-MM-DD HH:MM:SS)",
                        crate::scrub::excerpt(cursor, 60)
                    ));
                }
                Some(day) if day > latest => future.push(FutureCursor {
                    advertiser_id: id.map(str::to_string),
                    cursor: cursor.to_string(),
                }),
                Some(_) => {}
            }
        }
        for cut in &future {
            match &cut.advertiser_id {
                Some(id) => {
                    self.advertisers.remove(id.as_str());
                }
                None => self.default_cursor = None,
            }
        }
        Ok(future)
    }

    pub(crate) fn cursor(&self, advertiser_id: u64) -> Option<&str> {
        self.advertisers
            .get(advertiser_id.to_string().as_str())
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
                            let kept = self.advertisers.remove(id.as_str());
                            let rows_per_day = match entry.get("rows_per_day") {
                                Some(Value::Number(n)) => n.as_f64(),
                                Some(_) => None,
                                None => kept.as_ref().and_then(|c| c.rows_per_day),
                            };
                            let ledger_distrust = match entry.get("ledger_distrust") {
                                Some(Value::String(day)) => Some(day.as_str().into()),
                                Some(_) => None,
                                None => kept.and_then(|c| c.ledger_distrust),
                            };
                            self.advertisers.insert(
                                id.as_str().into(),
                                AdvertiserCursor {
                                    cursor: cursor.into(),
                                    rows_per_day,
                                    ledger_distrust,
                                },
                            );
                        }
                        None => {
                            self.advertisers.remove(id.as_str());
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
        for (field, width) in [
            ("query_width", &mut self.query_width),
            ("task_width", &mut self.task_width),
        ] {
            match patch.get(field) {
                Some(Value::Object(counts)) => {
                    let mut merged = width.unwrap_or_default();
                    for (name, count) in [
                        ("answered", &mut merged.answered),
                        ("refused", &mut merged.refused),
                    ] {
                        match counts.get(name) {
                            Some(Value::Null) => *count = None,
                            Some(n) => *count = n.as_u64().and_then(|n| u32::try_from(n).ok()),
                            None => {}
                        }
                    }
                    *width = Some(merged).filter(MetricWidth::is_known);
                }
                Some(Value::Null) => *width = None,
                _ => {}
            }
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
                let kept = self.advertisers.remove(id.as_str());
                let kept_rows = kept.as_ref().and_then(|c| c.rows_per_day);
                let kept_mark = kept.and_then(|c| c.ledger_distrust);
                self.advertisers.insert(
                    id.into(),
                    AdvertiserCursor {
                        cursor: cursor.as_str().into(),
                        rows_per_day: rows_per_day.or(kept_rows),
                        ledger_distrust: match ledger_distrust {
                            Some(mark) => mark.as_deref().map(CompactString::from),
                            None => kept_mark,
                        },
                    },
                );
            }
            StatePatch::DropAdvertisers(ids) => {
                for id in ids {
                    self.advertisers.remove(id.as_str());
                }
            }
            StatePatch::DropDefaultCursor => self.default_cursor = None,
            StatePatch::Widths { query, task } => {
                let known = |width: &MetricWidth| Some(*width).filter(MetricWidth::is_known);
                if let Some(query) = query {
                    self.query_width = known(query);
                }
                if let Some(task) = task {
                    self.task_width = known(task);
                }
            }
        }
    }

    /// The day an earlier run found the advertiser's totals wrong, while that holds.
    pub(crate) fn ledger_distrust(&self, advertiser_id: u64) -> Option<&str> {
        self.advertisers
            .get(advertiser_id.to_string().as_str())
            .and_then(|c| c.ledger_distrust.as_deref())
    }

    /// For a binding whose queries TikTok found too wide (it has a `query_width`), the most
    /// rows per day the last run read for any advertiser: what bounds the days its queries in
    /// parts ask at once before this run has read any (0: none known).
    pub(crate) fn wide_rows_per_day(&self) -> u64 {
        if self.query_width.is_none() {
            return 0;
        }
        let most = self
            .advertisers
            .values()
            .filter_map(|c| c.rows_per_day)
            .fold(0.0_f64, f64::max);
        most.ceil() as u64
    }

    /// The rows per day the last run's reports read for this advertiser.
    pub(crate) fn rows_per_day(&self, advertiser_id: u64) -> Option<f64> {
        self.advertisers
            .get(advertiser_id.to_string().as_str())
            .and_then(|c| c.rows_per_day)
    }

    /// [`BindingState::from_any`] from the state's JSON text. Our own shape (an object with
    /// `advertisers` or `default_cursor`) is read straight into the typed state, so a state of
    /// a million advertisers is parsed once and never held as a JSON tree besides; the small
    /// shapes of earlier versions go through [`BindingState::from_any`].
    pub fn from_raw(raw: &RawValue) -> Option<BindingState> {
        Some(match Parsed::from_raw(raw)? {
            Parsed::Parts(parts) => parts.into(),
            Parsed::Whole(state) => state,
        })
    }

    /// [`BindingState::from_raw`] that frees the text once it is parsed, before the map is
    /// built, so the two never coexist. A text in no known shape is handed back, for the
    /// caller to describe.
    pub fn from_raw_owned(raw: Box<RawValue>) -> Result<BindingState, Box<RawValue>> {
        match Parsed::from_raw(&raw) {
            Some(Parsed::Parts(parts)) => {
                drop(raw);
                Ok(parts.into())
            }
            Some(Parsed::Whole(state)) => Ok(state),
            None => Err(raw),
        }
    }

    /// Reads a state in any shape this connector has ever written. Unknown shapes yield
    /// `None`, so the caller can report them.
    pub fn from_any(value: &Value) -> Option<BindingState> {
        match value {
            Value::Null => Some(BindingState::default()),
            Value::Object(map) if map.is_empty() => Some(BindingState::default()),
            Value::Object(map) => {
                if OWN_FIELDS.iter().any(|field| map.contains_key(*field)) {
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
                                id.into(),
                                AdvertiserCursor {
                                    cursor: cursor.into(),
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
                    default_cursor: Some(cursor),
                    ..BindingState::default()
                })
            }
            _ => None,
        }
    }
}

/// A state's text, parsed: our own shape not yet built into its map, or an earlier version's,
/// migrated.
enum Parsed {
    Parts(StateParts),
    Whole(BindingState),
}

impl Parsed {
    fn from_raw(raw: &RawValue) -> Option<Parsed> {
        let text = raw.get();
        if text.trim_start().starts_with('{') {
            // The top-level fields only, their values left as text.
            let fields: BTreeMap<String, &RawValue> = serde_json::from_str(text).ok()?;
            if OWN_FIELDS.iter().any(|field| fields.contains_key(*field)) {
                return serde_json::from_str(text).ok().map(Parsed::Parts);
            }
        }
        BindingState::from_any(&serde_json::from_str(text).ok()?).map(Parsed::Whole)
    }
}

/// The day of a cursor: a `YYYY-MM-DD` day or a `YYYY-MM-DD HH:MM:SS` time.
fn cursor_day(cursor: &str) -> Option<chrono::NaiveDate> {
    chrono::NaiveDate::parse_from_str(cursor, "%Y-%m-%d")
        .ok()
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(cursor, ENTITY_CURSOR_FORMAT)
                .ok()
                .map(|t| t.date())
        })
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
    /// The cursors of advertisers the run no longer captures (or that lay in the future) are
    /// dropped.
    DropAdvertisers(Vec<String>),
    /// The `default_cursor` is dropped (it lay in the future).
    DropDefaultCursor,
    /// What the binding learned of TikTok's width, for queries and for tasks: a width given
    /// replaces the state's (`None` keeps it).
    Widths {
        query: Option<MetricWidth>,
        task: Option<MetricWidth>,
    },
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
            StatePatch::DropDefaultCursor => json!({ "default_cursor": null }),
            StatePatch::Widths { query, task } => {
                let mut patch = json!({});
                if let Some(query) = query {
                    patch["query_width"] = query.to_json();
                }
                if let Some(task) = task {
                    patch["task_width"] = task.to_json();
                }
                patch
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

    /// What bounds a state's memory (README, "State size"): an advertiser's entry is its id,
    /// cursor and marks inline, 88 bytes with no allocation of its own, however it was read.
    #[test]
    fn an_advertisers_entry_is_small_and_allocates_nothing() {
        assert!(std::mem::size_of::<(CompactString, AdvertiserCursor)>() <= 88);
        assert_eq!(std::mem::size_of::<Option<CompactString>>(), 24);
        let text = r#"{"advertisers":{"7100000000000000000":{"cursor":"2024-02-01 00:00:00",
            "rows_per_day":2.5,"ledger_distrust":"2024-01-01"}}}"#;
        let raw = RawValue::from_string(text.into()).unwrap();
        for state in [
            BindingState::from_raw(&raw).unwrap(),
            BindingState::from_raw_owned(raw.clone()).unwrap(),
            BindingState::from_any(&serde_json::from_str(text).unwrap()).unwrap(),
        ] {
            let (id, entry) = state.advertisers.iter().next().unwrap();
            assert!(!id.is_heap_allocated() && !entry.cursor.is_heap_allocated());
            assert!(!entry.ledger_distrust.as_ref().unwrap().is_heap_allocated());
            assert_eq!(state.rows_per_day(7_100_000_000_000_000_000), Some(2.5));
        }
    }

    /// Entries listed out of order, or an id twice, make the same state as inserting them one
    /// by one would: sorted, the last of a repeated id kept.
    #[test]
    fn a_state_built_at_once_is_the_state_inserted_one_by_one() {
        let text = r#"{"advertisers":{"9":{"cursor":"c"},"10":{"cursor":"a"},
            "9":{"cursor":"d"},"1":{"cursor":"b"}}}"#;
        let state = BindingState::from_raw(&RawValue::from_string(text.into()).unwrap()).unwrap();
        let listed: Vec<(&str, &str)> = state
            .advertisers
            .iter()
            .map(|(id, c)| (id.as_str(), c.cursor.as_str()))
            .collect();
        assert_eq!(listed, [("1", "b"), ("10", "a"), ("9", "d")]);
        assert_eq!(
            serde_json::to_string(&state).unwrap(),
            r#"{"advertisers":{"1":{"cursor":"b"},"10":{"cursor":"a"},"9":{"cursor":"d"}}}"#
        );
    }

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
    fn cursors_that_are_not_dates_are_refused_and_those_ahead_taken_out() {
        let today = chrono::NaiveDate::from_ymd_opt(2025, 6, 1).unwrap();
        let with = |cursor: &str| BindingState {
            advertisers: BTreeMap::from([
                (
                    "42".into(),
                    AdvertiserCursor {
                        cursor: cursor.into(),
                        rows_per_day: Some(3.0),
                        ledger_distrust: None,
                    },
                ),
                (
                    "43".into(),
                    AdvertiserCursor {
                        cursor: "2025-05-01".into(),
                        rows_per_day: None,
                        ledger_distrust: None,
                    },
                ),
            ]),
            ..BindingState::default()
        };
        for good in [
            "2025-05-01",
            "2025-06-02",
            "2025-06-03",
            "2025-06-01 23:59:59",
        ] {
            let mut state = with(good);
            assert_eq!(state.check(today), Ok(vec![]), "{good}");
            assert_eq!(state, with(good));
        }
        for ahead in ["9999-12-31", "2025-06-04", "2099-01-01 00:00:00"] {
            let mut state = with(ahead);
            let cut = state.check(today).unwrap();
            assert_eq!(
                cut,
                [FutureCursor {
                    advertiser_id: Some("42".into()),
                    cursor: ahead.into()
                }]
            );
            // The advertiser reads as without a cursor; the other keeps its own.
            assert_eq!(
                (state.cursor(42), state.cursor(43)),
                (None, Some("2025-05-01"))
            );
            let mut stored = serde_json::to_value(with(ahead)).unwrap();
            merge_patch(&mut stored, &cut[0].patch().to_json());
            assert_eq!(stored, serde_json::to_value(&state).unwrap());
        }
        for bad in ["not-a-date", "2025-13-01", "2025-06-01T00:00:00", ""] {
            let why = with(bad).check(today).unwrap_err();
            assert!(
                why.contains("advertiser 42") && why.contains(&format!("{bad:?}")),
                "{why}"
            );
        }
        let migrated = |cursor: &str| BindingState {
            default_cursor: Some(cursor.into()),
            ..BindingState::default()
        };
        assert!(migrated("zzz")
            .check(today)
            .unwrap_err()
            .contains("default_cursor"));
        let mut state = migrated("2099-01-01");
        let cut = state.check(today).unwrap();
        assert_eq!(
            cut,
            [FutureCursor {
                advertiser_id: None,
                cursor: "2099-01-01".into()
            }]
        );
        assert_eq!(state, BindingState::default());
        let mut stored = serde_json::to_value(migrated("2099-01-01")).unwrap();
        merge_patch(&mut stored, &cut[0].patch().to_json());
        assert_eq!(stored, json!({}));
        let mut typed = migrated("2099-01-01");
        typed.apply(&cut[0].patch());
        assert_eq!(typed, state);
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
        let typed = folded_as_json_is(start, &patches);
        assert_eq!(
            typed.rows_per_day(3),
            Some(2.5),
            "a later cursor keeps the hint"
        );
    }

    /// `patches` applied to `start` by the typed fold, asserting after each that the state is
    /// what RFC 7396 makes of its JSON.
    fn folded_as_json_is(start: Value, patches: &[StatePatch]) -> BindingState {
        let mut typed = BindingState::from_any(&start).unwrap();
        let mut value = start;
        for patch in patches {
            typed.apply(patch);
            merge_patch(&mut value, &patch.to_json());
            assert_eq!(
                serde_json::to_value(&typed).unwrap(),
                value,
                "after {patch:?}"
            );
        }
        typed
    }

    fn width(answered: Option<u32>, refused: Option<u32>) -> MetricWidth {
        MetricWidth { answered, refused }
    }

    /// What a binding learned of TikTok's width is set, replaced (a count it no longer knows
    /// is removed) and taken out, by the typed fold and RFC 7396 alike, beside the cursors.
    #[test]
    fn widths_patch_the_state_as_their_json_does() {
        let start = json!({"advertisers": {"1": {"cursor": "a"}}});
        let patches = [
            StatePatch::Widths {
                query: Some(width(Some(129), Some(257))),
                task: None,
            },
            StatePatch::cursor(1, "b"),
            StatePatch::Widths {
                query: None,
                task: Some(width(None, Some(1028))),
            },
            StatePatch::Widths {
                query: Some(width(None, Some(100))),
                task: Some(width(Some(200), Some(201))),
            },
            StatePatch::Widths {
                query: Some(MetricWidth::default()),
                task: None,
            },
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
            let mut folded = BindingState::default();
            folded.apply_patch(&value);
            assert_eq!(folded, typed, "after {patch:?}");
            assert_eq!(BindingState::from_any(&value), Some(typed.clone()));
        }
        assert_eq!(typed.query_width, None);
        assert_eq!(typed.task_width, Some(width(Some(200), Some(201))));
        assert_eq!(typed.cursor(1), Some("b"));
    }

    /// A width that makes no sense is no hint, never a failure; a state that holds only a
    /// width (a lifetime report's, which keeps no cursor) is read as ours, in every reader.
    #[test]
    fn a_width_hint_is_read_leniently_and_alone() {
        for bad in [
            json!("lots"),
            json!(7),
            json!({"answered": -3}),
            json!({"answered": 1.5}),
            json!({"answered": 0}),
            json!({"refused": "200"}),
            json!({"answered": 300, "refused": 200}),
            json!({"answered": 5_000_000_000u64}),
            json!({}),
            json!(null),
        ] {
            let text = json!({"query_width": bad, "task_width": bad}).to_string();
            let state = BindingState::from_raw(&RawValue::from_string(text).unwrap()).unwrap();
            assert_eq!((state.query_width, state.task_width), (None, None), "{bad}");
        }
        let alone = json!({"query_width": {"answered": 200, "refused": 201}});
        let raw = RawValue::from_string(alone.to_string()).unwrap();
        for state in [
            BindingState::from_raw(&raw).unwrap(),
            BindingState::from_raw_owned(raw.clone()).unwrap(),
            BindingState::from_any(&alone).unwrap(),
        ] {
            assert_eq!(state.query_width, Some(width(Some(200), Some(201))));
            assert_eq!(serde_json::to_value(&state).unwrap(), alone);
        }
        let half = json!({"task_width": {"refused": 1028, "future": true}});
        assert_eq!(
            BindingState::from_any(&half).unwrap().task_width,
            Some(width(None, Some(1028)))
        );
    }

    #[test]
    fn merge_patch_follows_rfc_7396() {
        let mut target = json!({"a": {"b": 1, "c": 2}, "d": 3});
        merge_patch(&mut target, &json!({"a": {"b": null, "e": 4}, "d": [1]}));
        assert_eq!(target, json!({"a": {"c": 2, "e": 4}, "d": [1]}));
    }
}
