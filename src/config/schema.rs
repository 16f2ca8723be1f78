//! The JSON schema of the endpoint config as Flow and Airbyte show it: generated from the
//! surface types, then given the UI annotations both read (`secret`, `order`, the credentials
//! `discriminator`, the OAuth provider) and, for Airbyte, both spellings of the app fields.

use serde_json::{json, Value};

use super::surface::EndpointConfig;

/// Which protocol the schema is for: Flow names the OAuth app fields `client_id` and
/// `client_secret` (its OAuth flow fills them), Airbyte `app_id` and `secret`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flavor {
    Flow,
    Airbyte,
}

/// The JSON schema of the endpoint config (draft-07), with the UI annotations Flow and Airbyte
/// read: `secret`, `order`, the credentials `discriminator` and the OAuth provider.
pub(crate) fn endpoint_schema(flavor: Flavor) -> Value {
    let mut settings = schemars::generate::SchemaSettings::draft07();
    settings.inline_subschemas = true;
    let schema = settings
        .into_generator()
        .into_root_schema_for::<EndpointConfig>();
    let mut schema = serde_json::to_value(schema).unwrap_or_else(|_| json!({}));
    strip_nullable(&mut schema);
    let credentials = &mut schema["properties"]["credentials"];
    credentials["discriminator"] = json!({"propertyName": "auth_type"});
    credentials["type"] = json!("object");
    if let Some(branches) = credentials.get_mut("oneOf").and_then(Value::as_array_mut) {
        for branch in branches {
            let Some(tag) = branch["properties"]["auth_type"]["const"]
                .as_str()
                .map(str::to_string)
            else {
                continue;
            };
            branch["properties"]["auth_type"]["default"] = json!(tag);
            branch["properties"]["auth_type"]["order"] = json!(0);
            if tag == "oauth2.0" {
                branch["x-oauth2-provider"] = json!("tiktok");
                if flavor == Flavor::Airbyte {
                    accept_both_app_spellings(branch);
                }
            }
        }
    }
    let order = [
        "credentials",
        "start_date",
        "end_date",
        "report_granularity",
        "custom_reports",
        "advanced",
    ];
    for (n, key) in order.iter().enumerate() {
        if let Some(p) = schema["properties"].get_mut(*key) {
            p["order"] = json!(n);
        }
    }
    schema["properties"]["advanced"]["advanced"] = json!(true);
    schema["properties"]["start_date"]["pattern"] = json!("^$|^[0-9]{4}-[0-9]{2}-[0-9]{2}$");
    schema["properties"]["end_date"]["pattern"] = json!("^$|^[0-9]{4}-[0-9]{2}-[0-9]{2}$");
    schema
}

/// The OAuth branch of the Airbyte spec: Airbyte's own TikTok connector names the app fields
/// `app_id` and `secret`, Estuary and this connector's README `client_id` and `client_secret`.
/// Clients such as PyAirbyte validate the config against the spec before a read, so the branch
/// accepts either pair (one of them required). The form shows Airbyte's spelling and hides the
/// other (`airbyte_hidden`); [`parse`](super::parse) reads both.
fn accept_both_app_spellings(branch: &mut Value) {
    const PAIRS: [(&str, &str); 2] = [("client_id", "app_id"), ("client_secret", "secret")];
    let Some(props) = branch.get_mut("properties").and_then(Value::as_object_mut) else {
        return;
    };
    let mut reordered = serde_json::Map::new();
    for (key, value) in std::mem::take(props) {
        match PAIRS.iter().find(|(ours, _)| *ours == key) {
            Some((ours, airbyte)) => {
                reordered.insert((*airbyte).to_string(), value.clone());
                let mut hidden = value;
                hidden["description"] = json!(format!(
                    "The same as `{airbyte}`, under the name Estuary's configs use. Fill in \
                     one of the two."
                ));
                hidden["airbyte_hidden"] = json!(true);
                reordered.insert((*ours).to_string(), hidden);
            }
            None => {
                reordered.insert(key, value);
            }
        }
    }
    *props = reordered;
    if let Some(required) = branch.get_mut("required").and_then(Value::as_array_mut) {
        required.retain(|r| !PAIRS.iter().any(|(ours, _)| r == ours));
    }
    branch["anyOf"] = json!([
        {"required": ["app_id", "secret"]},
        {"required": ["client_id", "client_secret"]},
    ]);
}

/// schemars describes `Option<T>` as "T or null"; the UI wants optional, non-null fields.
fn strip_nullable(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            if let Some(Value::Array(types)) = map.get_mut("type") {
                types.retain(|t| t != "null");
                if types.len() == 1 {
                    let only = types[0].clone();
                    map.insert("type".into(), only);
                }
            }
            for key in ["anyOf", "oneOf"] {
                if let Some(Value::Array(options)) = map.get(key) {
                    let non_null: Vec<Value> = options
                        .iter()
                        .filter(|o| o.get("type") != Some(&json!("null")))
                        .cloned()
                        .collect();
                    if non_null.len() == 1 && options.len() == 2 {
                        map.remove(key);
                        if let Value::Object(inner) = &non_null[0] {
                            for (k, v) in inner {
                                map.entry(k.clone()).or_insert(v.clone());
                            }
                        }
                    }
                }
            }
            if let Some(Value::Array(values)) = map.get_mut("enum") {
                values.retain(|v| !v.is_null());
            }
            for value in map.values_mut() {
                strip_nullable(value);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(strip_nullable),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::bounds::*;
    use crate::config::tests::production;
    use crate::config::*;
    use crate::registry::{Granularity, Level};

    #[test]
    fn schema_defaults_and_bounds_are_the_ones_parse_applies() {
        let schema = endpoint_schema(Flavor::Flow);
        let advanced = &schema["properties"]["advanced"]["properties"];
        let lookback = &advanced["lookback_days"];
        assert_eq!(lookback["default"], json!(DEFAULT_LOOKBACK_DAYS));
        assert_eq!(lookback["minimum"], json!(MIN_LOOKBACK_DAYS));
        assert_eq!(lookback["maximum"], json!(MAX_LOOKBACK_DAYS));
        let rps = &advanced["requests_per_second"];
        assert_eq!(rps["minimum"].as_f64(), Some(MIN_REQUESTS_PER_SECOND));
        assert_eq!(rps["maximum"].as_f64(), Some(MAX_REQUESTS_PER_SECOND));
        assert_eq!(
            advanced["include_deleted"]["default"],
            json!(DEFAULT_INCLUDE_DELETED)
        );
        assert_eq!(
            advanced["allow_insecure_http"]["default"],
            json!(DEFAULT_ALLOW_INSECURE_HTTP)
        );
        // What the form says is what an empty `advanced` gets, and its bounds are the ones
        // validation enforces.
        let config = parse(&production()).unwrap();
        assert_eq!(json!(config.lookback_days), lookback["default"]);
        assert_eq!(
            json!(config.include_deleted),
            advanced["include_deleted"]["default"]
        );
        let description = rps["description"].as_str().unwrap();
        assert!(
            description.contains(&format!(
                "Defaults to {} in production",
                config.requests_per_second
            )),
            "{description}"
        );
        for (days, ok) in [
            (lookback["maximum"].as_i64().unwrap(), true),
            (lookback["maximum"].as_i64().unwrap() + 1, false),
            (lookback["minimum"].as_i64().unwrap() - 1, false),
        ] {
            let mut raw = production();
            raw["advanced"] = json!({"lookback_days": days});
            assert_eq!(parse(&raw).is_ok(), ok, "{days}");
        }
    }

    #[test]
    fn report_enums_use_the_wire_spellings() {
        let schema = endpoint_schema(Flavor::Flow);
        assert_eq!(
            schema["properties"]["report_granularity"]["enum"],
            json!(["DAY", "HOUR", "LIFETIME"])
        );
        let custom = &schema["properties"]["custom_reports"]["items"]["properties"];
        assert_eq!(custom["report_type"]["enum"], json!(["BASIC", "AUDIENCE"]));
        let levels: Vec<Level> =
            serde_json::from_value(custom["data_level"]["enum"].clone()).unwrap();
        for level in levels {
            assert_eq!(json!(level), json!(level.data_level()));
        }
        for granularity in [Granularity::Day, Granularity::Hour, Granularity::Lifetime] {
            assert_eq!(json!(granularity), json!(granularity.as_config()));
        }
    }

    #[test]
    fn schema_marks_secrets_and_oauth() {
        let schema = endpoint_schema(Flavor::Flow);
        let oauth = &schema["properties"]["credentials"]["oneOf"][0];
        assert_eq!(oauth["x-oauth2-provider"], "tiktok");
        assert_eq!(oauth["properties"]["client_id"]["secret"], true);
        assert_eq!(oauth["properties"]["access_token"]["secret"], true);
        let airbyte = endpoint_schema(Flavor::Airbyte);
        let oauth = &airbyte["properties"]["credentials"]["oneOf"][0];
        assert_eq!(oauth["properties"]["app_id"]["secret"], true);
        assert_eq!(oauth["properties"]["client_id"]["secret"], true);
        assert_eq!(oauth["properties"]["client_id"]["airbyte_hidden"], true);
        assert_eq!(oauth["required"], json!(["auth_type", "access_token"]));
        let text = schema.to_string();
        assert!(!text.contains("\"null\""), "nullable types leaked: {text}");
    }
}
