//! The endpoint configuration in two layers. [`EndpointConfig`] is the surface the user sees:
//! serde + schemars types whose titles and descriptions become the form in the Flow and Airbyte
//! UIs. [`Config`] is what the rest of the connector works with: validated, typed values (dates,
//! ids, URL, secrets). [`parse`] is the only way from one to the other, and every error it
//! returns names the field and says what is expected. Secrets are wrapped in `Secret`, whose
//! `Debug` is redacted, so no log line or error can print them.
//!
//! This module is the face: [`parse`] and what the rest of the crate imports. Its children own
//! the parts, and none imports from this file: `bounds` (the defaults and bounds), `typed` (the
//! typed layer), `surface` (the form's types), `schema` (the JSON schema shown to users),
//! `migrate` (fields of earlier configs, and refusing unknown ones) and `validate` (the surface
//! checked and typed, field by field).

mod bounds;
mod migrate;
mod schema;
mod surface;
mod typed;
mod validate;

use serde_json::Value;

use crate::error::{Error, Result};

pub(crate) use bounds::{MAX_REQUESTS_PER_SECOND, MIN_REQUESTS_PER_SECOND};
use migrate::{migrate_earlier_fields, refuse_unknown_fields};
pub(crate) use schema::{endpoint_schema, Flavor};
use surface::EndpointConfig;
pub use typed::Config;
pub(crate) use typed::Environment;
use validate::{precheck_credentials, validate};

/// Parses and validates an endpoint config. Errors name the field and say what is expected.
pub fn parse(raw: &Value) -> Result<Config> {
    // Before anything can fail: no error about this config may echo one of its secrets.
    crate::scrub::register_config(raw);
    let Some(object) = raw.as_object() else {
        return Err(Error::config(format!(
            "The config must be a JSON object with at least `credentials`; got {}.",
            crate::error::json_kind(raw)
        )));
    };
    // Fields earlier configs carried are read as today's; a field this connector does not know
    // (a typo such as `start_dat`) is refused rather than ignored with its default used.
    let migrated = migrate_earlier_fields(object)?;
    let object = &migrated;
    refuse_unknown_fields(object)?;
    let raw = &Value::Object(migrated.clone());
    let Some(credentials) = object.get("credentials") else {
        return Err(Error::config(
            "Config field `credentials` is missing: add the OAuth credentials \
             (auth_type \"oauth2.0\" with client_id, client_secret, access_token) or a sandbox \
             token (auth_type \"sandbox_access_token\" with advertiser_id, access_token).",
        ));
    };
    precheck_credentials(credentials)?;
    // serde accepts a struct written as an array; a user who wrote one made a mistake.
    if let Some(advanced) = object
        .get("advanced")
        .filter(|v| !v.is_object() && !v.is_null())
    {
        return Err(Error::config(format!(
            "Config field `advanced` must be an object such as {{\"lookback_days\": 3}}; got {}.",
            crate::error::json_kind(advanced)
        )));
    }
    let surface: EndpointConfig = serde_path_to_error::deserialize(raw).map_err(|err| {
        let path = err.path().to_string();
        let inner = err.into_inner().to_string();
        Error::config(format!(
            "Config field `{}` is invalid: {}. Check the value against the connector's spec.",
            if path == "." { "(root)".into() } else { path },
            inner
        ))
    })?;
    validate(surface)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    pub(super) fn production() -> Value {
        json!({"credentials": {"auth_type": "oauth2.0", "client_id": "app-1234",
               "client_secret": "sec-5678", "access_token": "tok-abcdef"}})
    }

    #[test]
    fn minimal_production_config_gets_defaults() {
        let config = parse(&production()).unwrap();
        assert!(!config.is_sandbox());
        assert_eq!(config.lookback_days, 3);
        assert!(config.include_deleted);
        assert_eq!(config.requests_per_second, 10.0);
        assert_eq!(
            config.api_root.as_str(),
            "https://business-api.tiktok.com/open_api/v1.3/"
        );
        assert_eq!(config.start_date, None);
    }
}
