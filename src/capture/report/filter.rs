//! One entry of a report's `filtering` list ([`Filter`]): built here for every filter this
//! connector adds (deleted entities, id splits, TopView's buying type) and read here wherever
//! a filter's field or ids matter. A leaf, pure.

use serde_json::{json, Value};

/// One entry of a report's `filtering` as this connector writes it: a field, TikTok's `IN`
/// operator and the values, which TikTok takes as a JSON array in a string
/// (`{"field_name": "ad_ids", "filter_type": "IN", "filter_value": "[\"1\"]"}`; Run a
/// synchronous report, portal doc 1740302848100353). A custom report's own filters may use
/// other operators; they are passed on as the user wrote them and only read here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Filter {
    pub(crate) field: String,
    pub(crate) values: Vec<String>,
}

impl Filter {
    /// `field` IN `values`.
    pub(crate) fn is_in<T: ToString>(field: &str, values: &[T]) -> Filter {
        Filter {
            field: field.to_string(),
            values: values.iter().map(T::to_string).collect(),
        }
    }

    /// The entry as TikTok takes it.
    pub(crate) fn to_value(&self) -> Value {
        json!({
            "field_name": self.field,
            "filter_type": "IN",
            "filter_value": json!(self.values).to_string(),
        })
    }

    /// The field an entry of a `filtering` list filters on.
    pub(crate) fn field_of(entry: &Value) -> Option<&str> {
        entry["field_name"].as_str()
    }

    /// The field and ids of an id filter (ids written as strings or numbers); `None` for an
    /// entry that is not one.
    pub(crate) fn ids_of(entry: &Value) -> Option<(&str, Vec<u64>)> {
        let field = Filter::field_of(entry)?;
        let values: Vec<Value> = serde_json::from_str(entry["filter_value"].as_str()?).ok()?;
        let ids = values
            .iter()
            .filter_map(crate::capture::record::id_of)
            .collect();
        Some((field, ids))
    }
}
