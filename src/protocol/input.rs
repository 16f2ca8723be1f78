//! How the protocol layer describes input of the wrong shape: by the field and the kind of
//! value, never its text (which may hold a secret). A leaf: both protocols' requests and
//! messages use it, and it imports nothing from them.

/// Describes a JSON value by its kind only (never its text, which may hold a secret), for
/// errors about input of the wrong shape.
pub(crate) fn json_kind(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Array(items) => format!("an array of {} item(s)", items.len()),
        Value::Object(map) if map.is_empty() => "an empty object".into(),
        Value::Object(map) => format!(
            "an object with the field(s) {}",
            map.keys()
                .take(5)
                .map(|k| k.chars().take(40).collect::<String>())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        scalar => crate::error::json_kind(scalar).into(),
    }
}

/// Rewords a serde error at `path` so that it names the field and what was expected, but
/// never repeats the value it found (serde quotes strings it refuses, and those may be
/// secrets).
pub(crate) fn field_problem(path: &str, serde_message: &str) -> String {
    if let Some(field) = serde_message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
    {
        return format!("{path}.{field} is missing");
    }
    match serde_message.rsplit_once(", expected ") {
        Some((_, expected)) => format!("{path} is not valid: expected {expected}"),
        None => format!("{path} is not valid"),
    }
}
