//! The endpoint configuration in two layers. [`EndpointConfig`] is the surface the user sees:
//! serde + schemars types whose titles and descriptions become the form in the Flow and Airbyte
//! UIs. [`Config`] is what the rest of the connector works with: validated, typed values (dates,
//! ids, URL, secrets). [`parse`] is the only way from one to the other, and every error it
//! returns names the field and says what is expected. Secrets are wrapped in [`Secret`], whose
//! `Debug` is redacted, so no log line or error can print them.
//!
//! This module owns the typed layer, the defaults and bounds, and [`parse`]; its children own
//! the steps: `surface` (the form's types), `schema` (the JSON schema shown to users),
//! `migrate` (fields of earlier configs, and refusing unknown ones) and `validate` (the surface
//! checked and typed, field by field).

mod migrate;
mod schema;
mod surface;
mod validate;

use chrono::NaiveDate;
use serde_json::Value;
use url::Url;

use crate::error::{Error, Result};
use crate::registry::{CustomReport, Granularity};

use migrate::{migrate_earlier_fields, refuse_unknown_fields};
pub(crate) use schema::{endpoint_schema, Flavor};
use surface::EndpointConfig;
use validate::{precheck_credentials, validate};

pub(crate) const PRODUCTION_BASE_URL: &str = "https://business-api.tiktok.com";
pub(crate) const SANDBOX_BASE_URL: &str = "https://sandbox-ads.tiktok.com";

// The defaults and bounds of the config. The form's schema (defaults, minimum, maximum and the
// descriptions that quote them) and [`parse`] both read these constants, so they cannot disagree.
pub(crate) const DEFAULT_LOOKBACK_DAYS: u32 = 3;
pub(crate) const MIN_LOOKBACK_DAYS: u32 = 0;
pub(crate) const MAX_LOOKBACK_DAYS: u32 = 364;
pub(crate) const DEFAULT_INCLUDE_DELETED: bool = true;
pub(crate) const DEFAULT_ALLOW_INSECURE_HTTP: bool = false;
/// The request rate bounds. Below a tenth of a request per second a capture of even one
/// advertiser would take hours; above 100 exceeds every TikTok tier.
pub(crate) const MIN_REQUESTS_PER_SECOND: f64 = 0.1;
pub(crate) const MAX_REQUESTS_PER_SECOND: f64 = 100.0;
/// The production default: TikTok's basic tier allows 10 requests per second per app.
pub(crate) const DEFAULT_REQUESTS_PER_SECOND_PRODUCTION: f64 = 10.0;
/// The sandbox default: 27 requests a minute, within TikTok's sandbox limit of 30 per minute
/// (per endpoint), with room for the timing of a loaded network.
pub(crate) const DEFAULT_REQUESTS_PER_SECOND_SANDBOX: f64 = 0.45;

/// A secret string. `Debug` never shows it; code that needs the value calls [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub(crate) fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Which TikTok environment the config points at.
#[derive(Debug, Clone)]
pub enum Environment {
    Production { app_id: Secret, secret: Secret },
    Sandbox { advertiser_id: u64 },
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub(crate) environment: Environment,
    pub(crate) access_token: Secret,
    pub(crate) start_date: Option<NaiveDate>,
    pub(crate) end_date: Option<NaiveDate>,
    pub(crate) report_granularity: Option<Granularity>,
    pub(crate) advertiser_ids: Option<Vec<u64>>,
    pub(crate) lookback_days: u32,
    pub(crate) include_deleted: bool,
    pub(crate) requests_per_second: f64,
    /// The API root, always ending in `/open_api/v1.3/`.
    pub(crate) api_root: Url,
    pub(crate) custom_reports: Vec<CustomReport>,
    /// Where the run's "now" and "today" come from (the system clock outside tests).
    pub(crate) clock: crate::clock::Clock,
    /// Whether reports skip the days the activity index finds idle (always, outside tests that
    /// compare a run with and without it).
    pub(crate) activity_index: bool,
    /// The certificates of `advanced.ca_certificate` (PEM, each checked to parse), trusted
    /// besides the built-in and system roots.
    pub ca_certificates: Vec<reqwest::Certificate>,
    /// `advanced.metric_groups` and `advanced.record_layout`.
    pub(crate) report_options: crate::registry::ReportOptions,
}

impl Config {
    pub(crate) fn is_sandbox(&self) -> bool {
        matches!(self.environment, Environment::Sandbox { .. })
    }

    /// The secrets of this config, for scrubbing text that might echo them.
    pub(crate) fn secrets(&self) -> Vec<String> {
        let mut out = vec![self.access_token.expose().to_string()];
        if let Environment::Production { app_id, secret } = &self.environment {
            out.push(app_id.expose().to_string());
            out.push(secret.expose().to_string());
        }
        out.retain(|s| s.len() >= 4);
        out
    }
}

impl crate::registry::Scope for Config {
    fn is_sandbox(&self) -> bool {
        Config::is_sandbox(self)
    }

    fn report_granularity(&self) -> Option<Granularity> {
        self.report_granularity
    }

    fn custom_reports(&self) -> &[CustomReport] {
        &self.custom_reports
    }

    fn report_options(&self) -> &crate::registry::ReportOptions {
        &self.report_options
    }
}

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

    #[test]
    fn debug_never_shows_secrets() {
        let config = parse(&production()).unwrap();
        let text = format!("{config:?}");
        for secret in ["app-1234", "sec-5678", "tok-abcdef"] {
            assert!(!text.contains(secret), "{secret} leaked in {text}");
        }
    }
}
