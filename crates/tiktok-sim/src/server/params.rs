//! Request parameters as TikTok reads them: JSON-valued query parameters, the JSON body of a
//! `POST` flattened into parameters, the common parameters (`advertiser_id`, paging, booleans,
//! required strings) and `page_info`, each refused with TikTok's 40002 naming the field.

use chrono::NaiveDate;
use serde_json::{json, Value};

use super::{ApiError, Params};
use crate::rules;

/// The fields of a JSON object body as parameters: strings as they are, numbers and booleans as
/// their JSON text, arrays and objects as compact JSON text (the form of JSON-valued query
/// parameters), nulls left out. Anything but a JSON object is TikTok's 40002.
pub(super) fn body_params(body: &[u8]) -> Result<Params, ApiError> {
    let refused =
        || bad("The request body must be a JSON object (Content-Type: application/json).");
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(body) else {
        return Err(refused());
    };
    Ok(map
        .into_iter()
        .filter_map(|(k, v)| match v {
            Value::Null => None,
            v => Some((k, value_text(&v))),
        })
        .collect())
}

/// The text of a JSON value as a parameter or a CSV cell: a string unquoted, null as nothing,
/// anything else (numbers exact with `arbitrary_precision`, booleans, arrays, objects) as its
/// compact JSON text.
pub(crate) fn value_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

pub(crate) fn bad(message: impl Into<String>) -> ApiError {
    (40002, message.into())
}

pub(crate) fn parse_date(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").ok()
}

/// A JSON-valued query parameter.
pub(super) fn json_param(params: &Params, name: &str) -> Result<Option<Value>, ApiError> {
    match params.get(name) {
        None => Ok(None),
        Some(text) if text.trim().is_empty() => Ok(None),
        Some(text) => serde_json::from_str(text)
            .map(Some)
            .map_err(|_| bad(format!("{name}: Not a valid JSON value."))),
    }
}

pub(super) fn string_list(params: &Params, name: &str) -> Result<Option<Vec<String>>, ApiError> {
    match json_param(params, name)? {
        None => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<Vec<String>>>()
            .map(Some)
            .ok_or_else(|| bad(format!("{name}: Field must be set to array of strings."))),
        Some(_) => Err(bad(format!("{name}: Field must be set to array."))),
    }
}

pub(crate) fn advertiser_param(params: &Params) -> Result<u64, ApiError> {
    let text = params
        .get("advertiser_id")
        .ok_or_else(|| bad("advertiser_id: Missing data for required field."))?;
    text.trim()
        .parse()
        .map_err(|_| bad("advertiser_id: Not a valid integer."))
}

/// `(page, page_size)` with TikTok's defaults (1, 10) and the `page_size` limit of the endpoint
/// at `path` ([`rules::PAGE_SIZE_RULES`]).
pub(super) fn paging(params: &Params, path: &str) -> Result<(u64, u64), ApiError> {
    let page = match params.get("page") {
        None => 1,
        Some(p) => p
            .trim()
            .parse::<u64>()
            .map_err(|_| bad("page: Not a valid integer."))?,
    };
    let size = match params.get("page_size") {
        None => 10,
        Some(p) => p
            .trim()
            .parse::<u64>()
            .map_err(|_| bad("page_size: Not a valid integer."))?,
    };
    if page == 0 {
        return Err(bad("page: Must be greater than or equal to 1."));
    }
    rules::check_page_size(path, size)?;
    Ok((page, size))
}

pub(super) fn page_info(page: u64, size: u64, total: usize) -> Value {
    json!({
        "page": page,
        "page_size": size,
        "total_number": total,
        "total_page": (total as u64).div_ceil(size),
    })
}

/// The index range of a page.
pub(super) fn page_range(page: u64, size: u64, total: usize) -> (usize, usize) {
    let from = ((page - 1).saturating_mul(size)).min(total as u64) as usize;
    let to = (from as u64 + size).min(total as u64) as usize;
    (from, to)
}

/// A required plain string parameter.
pub(crate) fn required(params: &Params, name: &str) -> Result<String, ApiError> {
    match params.get(name).map(|v| v.trim()) {
        Some(v) if !v.is_empty() => Ok(v.to_string()),
        _ => Err(bad(format!("{name}: Missing data for required field."))),
    }
}

/// A boolean parameter (`true` or `false`), `default` when absent.
pub(crate) fn bool_param(params: &Params, name: &str, default: bool) -> Result<bool, ApiError> {
    match params.get(name).map(|v| v.trim()) {
        None => Ok(default),
        Some("true") => Ok(true),
        Some("false") => Ok(false),
        Some(other) => Err(bad(format!("{name}: Not a valid boolean: {other}"))),
    }
}

pub(crate) fn json_id(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}
