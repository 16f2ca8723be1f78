//! The config before it is typed: fields earlier configs carried (the Airbyte-based image,
//! Airbyte's own TikTok connector) are read as today's or refused with the fix, and a field this
//! connector does not know (a typo) is refused naming the nearest known one, so that no
//! misspelling silently falls back to a default.

use serde_json::{json, Value};

use super::schema::{endpoint_schema, Flavor};
use crate::error::{Error, Result};

/// The root key sops adds to a config it encrypted (its metadata), and the suffix it marks
/// encrypted fields with: neither is a field of this connector, and neither is a typo.
const SOPS_METADATA: &str = "sops";
const SOPS_SUFFIX: &str = "_sops";

/// Reads the fields earlier configs carried as today's, and refuses the layouts that cannot be
/// read: the Airbyte-based image and Airbyte's own TikTok connector (4.x) had `attribution_window`
/// and `include_deleted` at the root and `credentials.advertiser_id` to capture one production
/// account; their oldest releases had `access_token` and `environment` at the root. Each
/// migration is logged once per parse, naming the old field and the new one.
pub(super) fn migrate_earlier_fields(
    object: &serde_json::Map<String, Value>,
) -> Result<serde_json::Map<String, Value>> {
    let mut object = object.clone();
    if let Some(old) = ["access_token", "environment"]
        .into_iter()
        .find(|k| object.contains_key(*k))
    {
        return Err(Error::config(format!(
            "Config field `{old}` belongs to the layout of the earliest Airbyte TikTok \
             connectors (`access_token` and `environment` at the top level), which this \
             connector does not read: put the token and the app in `credentials` (auth_type \
             \"oauth2.0\" with app_id, secret and access_token, or \"sandbox_access_token\" with \
             advertiser_id and access_token)."
        )));
    }
    let moves = [
        ("attribution_window", "lookback_days"),
        ("include_deleted", "include_deleted"),
    ];
    for (old, new) in moves {
        let Some(value) = object.remove(old) else {
            continue;
        };
        let advanced = object.entry("advanced").or_insert_with(|| json!({}));
        if advanced.is_null() {
            *advanced = json!({});
        }
        let Some(advanced) = advanced.as_object_mut() else {
            // `advanced` of the wrong type: its own check names it.
            continue;
        };
        match advanced.get(new) {
            Some(current) if *current != value => {
                return Err(Error::config(format!(
                    "Config fields `{old}` (the name Airbyte's TikTok connector uses) and \
                     `advanced.{new}` disagree ({value} and {current}): keep only \
                     `advanced.{new}`."
                )))
            }
            Some(_) => {}
            None => {
                tracing::info!(
                    field = old,
                    "Config field `{old}` (the name Airbyte's TikTok connector uses) is read as \
                     `advanced.{new}`."
                );
                advanced.insert(new.to_string(), value);
            }
        }
    }
    migrate_oauth_account(&mut object)?;
    Ok(object)
}

/// Reads `credentials.advertiser_id` of an OAuth config (how Airbyte's TikTok connector limits
/// a production capture to one ad account) as `advanced.advertiser_ids`, refusing a config
/// that sets both differently.
fn migrate_oauth_account(object: &mut serde_json::Map<String, Value>) -> Result<()> {
    let oauth_account = object
        .get_mut("credentials")
        .and_then(Value::as_object_mut)
        .filter(|c| c.get("auth_type").and_then(Value::as_str) == Some("oauth2.0"))
        .and_then(|c| c.remove("advertiser_id"));
    if let Some(account) = oauth_account.filter(|a| !a.is_null()) {
        let advanced = object.entry("advanced").or_insert_with(|| json!({}));
        if advanced.is_null() {
            *advanced = json!({});
        }
        if let Some(advanced) = advanced.as_object_mut() {
            match advanced.get("advertiser_ids") {
                Some(ids) if *ids != json!([account.clone()]) && !ids.is_null() => {
                    return Err(Error::config(
                        "Config fields `credentials.advertiser_id` (how Airbyte's TikTok \
                         connector limits a production capture to one ad account) and \
                         `advanced.advertiser_ids` are both set: keep only \
                         `advanced.advertiser_ids`.",
                    ))
                }
                _ => {
                    tracing::info!(
                        "Config field `credentials.advertiser_id` (how Airbyte's TikTok connector \
                         limits a production capture to one ad account) is read as \
                         `advanced.advertiser_ids`."
                    );
                    advanced.insert("advertiser_ids".into(), json!([account]));
                }
            }
        }
    }
    Ok(())
}

/// Refuses every config field this connector does not know, naming the nearest known one: a
/// misspelled `start_date` would otherwise be ignored and its default (all history) used. The
/// known fields are those of the Airbyte form, which has every spelling either protocol
/// accepts; sops metadata is not a field and is let through.
pub(super) fn refuse_unknown_fields(object: &serde_json::Map<String, Value>) -> Result<()> {
    let schema = endpoint_schema(Flavor::Airbyte);
    let mut unknown = Vec::new();
    unknown_fields(object, &schema, "", &mut unknown);
    if unknown.is_empty() {
        return Ok(());
    }
    let described: Vec<String> = unknown
        .iter()
        .map(|(path, nearest)| match nearest {
            Some(nearest) => format!("`{path}` (did you mean `{nearest}`?)"),
            None => format!("`{path}`"),
        })
        .collect();
    let (noun, verb) = if unknown.len() == 1 {
        ("field", "is not a field")
    } else {
        ("fields", "are not fields")
    };
    Err(Error::config(format!(
        "Config {noun} {} {verb} of this connector: rename or remove {}, since the capture \
         would otherwise run without {}.",
        described.join(", "),
        if unknown.len() == 1 { "it" } else { "them" },
        if unknown.len() == 1 { "it" } else { "them" },
    )))
}

/// The unknown keys of `value` (at `path`) against `schema`, each with the nearest known
/// field. Objects are checked against their `properties` (for the credentials, every
/// branch's); arrays item by item; a schema
/// without `properties` (such as a custom report's `filtering`) is not looked into.
fn unknown_fields(
    object: &serde_json::Map<String, Value>,
    schema: &Value,
    path: &str,
    out: &mut Vec<(String, Option<String>)>,
) {
    let properties = known_properties(schema);
    if properties.is_empty() {
        return;
    }
    for (key, value) in object {
        let shown = crate::scrub::excerpt(key, 64);
        let at = if path.is_empty() {
            shown
        } else {
            format!("{path}.{shown}")
        };
        if (path.is_empty() && key == SOPS_METADATA) || key.ends_with(SOPS_SUFFIX) {
            continue;
        }
        let Some(property) = properties.get(key) else {
            out.push((at, nearest_field(key, path, &properties)));
            continue;
        };
        match value {
            Value::Object(inner) => unknown_fields(inner, property, &at, out),
            Value::Array(items) => {
                for (n, item) in items.iter().enumerate() {
                    if let Value::Object(inner) = item {
                        unknown_fields(inner, &property["items"], &format!("{at}[{n}]"), out);
                    }
                }
            }
            _ => {}
        }
    }
}

/// The properties an object may have under `schema`: its own, and for a `oneOf` (the
/// credentials) those of every branch, so that a field left over from the other
/// authentication method (a form switched from one to the other keeps it) is not refused.
fn known_properties(schema: &Value) -> serde_json::Map<String, Value> {
    let mut known = schema["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    for branch in schema["oneOf"].as_array().into_iter().flatten() {
        if let Some(props) = branch["properties"].as_object() {
            known.extend(props.clone());
        }
    }
    known
}

/// The known field nearest to a misspelled `key` at `path`: one of its neighbours, or a field
/// of `advanced` written at the top level (`lookback_days` for `advanced.lookback_days`).
fn nearest_field(
    key: &str,
    path: &str,
    properties: &serde_json::Map<String, Value>,
) -> Option<String> {
    let qualify = |name: &str| {
        if path.is_empty() {
            name.to_string()
        } else {
            format!("{path}.{name}")
        }
    };
    let lower = key.to_ascii_lowercase();
    let mut candidates: Vec<(String, String)> = properties
        .keys()
        .map(|name| (name.clone(), qualify(name)))
        .collect();
    if path.is_empty() {
        if let Some(advanced) = properties
            .get("advanced")
            .and_then(|a| a["properties"].as_object())
        {
            candidates.extend(
                advanced
                    .keys()
                    .map(|name| (name.clone(), format!("advanced.{name}"))),
            );
        }
    }
    candidates
        .into_iter()
        .map(|(name, full)| (strsim::levenshtein(&lower, &name), name, full))
        .filter(|(distance, name, _)| *distance <= (name.len() / 3).max(2))
        .min_by_key(|(distance, _, _)| *distance)
        .map(|(_, _, full)| full)
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::config::parse;
    use crate::config::tests::production;

    /// The production config with `patch` merged in (one level deep for `advanced` and
    /// `credentials`).
    fn production_with(patch: Value) -> Value {
        let mut config = production();
        for (key, value) in patch.as_object().unwrap() {
            match (config.get_mut(key), value) {
                (Some(Value::Object(target)), Value::Object(fields)) => {
                    target.extend(fields.clone());
                }
                _ => {
                    config[key] = value.clone();
                }
            }
        }
        config
    }

    fn refusal(config: &Value) -> String {
        parse(config).map(|_| ()).unwrap_err().to_string()
    }

    #[test]
    fn a_misspelled_field_is_refused_naming_the_nearest_known_one() {
        let cases = [
            (
                json!({"start_dat": "2024-01-01"}),
                "`start_dat` (did you mean `start_date`?)",
            ),
            (
                json!({"advanced": {"lookback_day": 7}}),
                "`advanced.lookback_day` (did you mean `advanced.lookback_days`?)",
            ),
            // A field of `advanced` written at the top level.
            (
                json!({"lookback_days": 7}),
                "`lookback_days` (did you mean `advanced.lookback_days`?)",
            ),
            (
                json!({"credentials": {"acess_token": "x"}}),
                "`credentials.acess_token` (did you mean `credentials.access_token`?)",
            ),
            (
                json!({"custom_reports": [{"name": "x", "report_type": "BASIC",
                    "data_level": "AUCTION_AD", "dimensions": ["ad_id"], "metric": ["spend"]}]}),
                "`custom_reports[0].metric` (did you mean `custom_reports[0].metrics`?)",
            ),
            // Nothing near: named without a guess.
            (
                json!({"favourite_colour": "blue"}),
                "`favourite_colour` is not a field",
            ),
        ];
        for (patch, expected) in cases {
            let message = refusal(&production_with(patch.clone()));
            assert!(message.contains(expected), "{patch}: {message}");
            assert!(message.contains("rename or remove"), "{patch}: {message}");
        }
        // Every unknown field is named at once.
        let message = refusal(&production_with(
            json!({"start_dat": "2024-01-01", "end_dat": "2024-02-01"}),
        ));
        assert!(
            message.contains("`start_dat`") && message.contains("`end_dat`"),
            "{message}"
        );
    }

    #[test]
    fn sops_metadata_and_every_documented_spelling_are_not_unknown_fields() {
        let config = production_with(json!({
            "sops": {"kms": [], "mac": "ENC[...]", "encrypted_suffix": "_sops"},
            "advanced": {"lookback_days": 2, "include_deleted": false, "base_url": "https://proxy.example",
                         "requests_per_second": 5, "allow_insecure_http": false,
                         "advertiser_ids": ["7002238017842757633"]},
            "report_granularity": "DAY", "start_date": "2024-01-01", "end_date": "2024-02-01",
            "custom_reports": [{"name": "x", "report_type": "BASIC", "data_level": "AUCTION_AD",
                "dimensions": ["ad_id"], "metrics": ["spend"],
                "filtering": [{"field_name": "campaign_ids", "filter_type": "IN",
                    "filter_value": "[\"1\"]"}]}]
        }));
        let parsed = parse(&config).unwrap();
        assert_eq!(parsed.lookback_days, 2);
        // A field sops marked encrypted keeps its suffix only if the runtime left it: not a typo.
        let mut marked = production();
        marked["credentials"]["access_token_sops"] = json!("ENC[...]");
        assert!(parse(&marked).is_ok());
        // A field left over from the other authentication method is not refused either.
        let mut leftover = production();
        leftover["credentials"]["advertiser_id"] = Value::Null;
        assert!(parse(&leftover).is_ok());
    }

    #[test]
    fn fields_of_earlier_configs_are_migrated_or_named() {
        // Airbyte's TikTok connector (and the image built on it): attribution_window,
        // include_deleted at the top level, one production account in credentials.
        let config = parse(&production_with(json!({
            "attribution_window": 7,
            "include_deleted": false,
            "credentials": {"advertiser_id": "7002238017842757633"}
        })))
        .unwrap();
        assert_eq!(config.lookback_days, 7);
        assert!(!config.include_deleted);
        assert_eq!(config.advertiser_ids, Some(vec![7002238017842757633]));
        // The same value under both names is fine; different values are refused, naming both.
        let same =
            production_with(json!({"attribution_window": 7, "advanced": {"lookback_days": 7}}));
        assert_eq!(parse(&same).unwrap().lookback_days, 7);
        let message = refusal(&production_with(
            json!({"attribution_window": 7, "advanced": {"lookback_days": 3}}),
        ));
        assert!(
            message.contains("`attribution_window`")
                && message.contains("`advanced.lookback_days`"),
            "{message}"
        );
        let message = refusal(&production_with(json!({
            "credentials": {"advertiser_id": "1"},
            "advanced": {"advertiser_ids": ["2"]}
        })));
        assert!(message.contains("`credentials.advertiser_id`"), "{message}");
        // `advanced: null` (a form that left it empty) takes the migrated value too.
        let mut empty_advanced = production();
        empty_advanced["advanced"] = Value::Null;
        empty_advanced["attribution_window"] = json!(5);
        assert_eq!(parse(&empty_advanced).unwrap().lookback_days, 5);
        // A migrated value is still validated under its new name.
        let message = refusal(&production_with(json!({"attribution_window": 400})));
        assert!(message.contains("advanced.lookback_days"), "{message}");
        // The sandbox account stays where it is.
        let sandbox = json!({"credentials": {"auth_type": "sandbox_access_token",
            "advertiser_id": "7000000000000000001", "access_token": "tok-abcdef"}});
        assert!(parse(&sandbox).unwrap().is_sandbox());
        // The earliest flat layout cannot be read: named, with the fix.
        let flat = json!({"access_token": "tok-abcdef", "environment": {"app_id": "1",
            "secret": "s", "advertiser_id": "2"}});
        let message = refusal(&flat);
        assert!(
            message.contains("earliest Airbyte TikTok") && message.contains("credentials"),
            "{message}"
        );
        assert!(!message.contains("tok-abcdef"), "{message}");
    }
}
