//! Entity and list records: the four TikTok ids become exact integers, a nested key is copied
//! to its field (spark ads), and every other top-level field takes its declared type.

use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::convert::{conform, conform_id, null_non_finite, FieldTypes};
use super::note::{Note, Notes};
use super::text::{parse_row, RowError};
use crate::registry::metrics::ID_FIELDS;

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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::capture::record::tests::raw;
    use crate::registry::find;

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
}
