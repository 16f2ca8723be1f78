//! The endpoint configuration in two layers. [`EndpointConfig`] is the surface the user sees:
//! serde + schemars types whose titles and descriptions become the form in the Flow and Airbyte
//! UIs. [`Config`] is what the rest of the connector works with: validated, typed values (dates,
//! ids, URL, secrets). [`parse`] is the only way from one to the other, and every error it
//! returns names the field and says what is expected. Secrets are wrapped in [`Secret`], whose
//! `Debug` is redacted, so no log line or error can print them.

use chrono::NaiveDate;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use url::Url;

use crate::error::{Error, Result};
use crate::registry::custom::{validate_custom_report, CustomReportConfig};
use crate::registry::{CustomReport, Granularity};

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

/// A bound or default as the schema shows it: whole numbers without a fraction (`100`, not
/// `100.0`), so the form reads as written.
fn schema_number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        json!(value as i64)
    } else {
        json!(value)
    }
}

// ---------------------------------------------------------------------------------------------
// The surface: what the user fills in.
// ---------------------------------------------------------------------------------------------

/// TikTok Marketing capture configuration.
#[derive(Serialize, Deserialize, JsonSchema)]
#[schemars(title = "TikTok Marketing")]
pub(crate) struct EndpointConfig {
    /// How the connector authenticates with TikTok.
    #[schemars(title = "Authentication")]
    pub(crate) credentials: CredentialsConfig,
    /// The first day to capture, as YYYY-MM-DD in the advertiser's time zone. Leave it empty to capture all data since each ad account was created.
    #[schemars(title = "Start Date", extend("format" = "date"))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) start_date: Option<String>,
    /// The last day to capture, as YYYY-MM-DD. Leave it empty to keep capturing up to today as days pass.
    #[schemars(title = "End Date", extend("format" = "date"))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) end_date: Option<String>,
    /// Set this only to keep the report streams of earlier versions (ads_reports, campaigns_reports, ...) at one granularity. Leave it empty to get the suffixed streams (ads_reports_daily, ads_reports_hourly, ...).
    #[schemars(title = "Report Granularity (earlier versions)")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) report_granularity: Option<Granularity>,
    /// Reports of your own design. Each becomes a stream named custom_report_ followed by its name.
    #[schemars(title = "Custom Reports")]
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) custom_reports: Vec<CustomReportConfig>,
    /// Settings most captures do not need to change.
    #[schemars(title = "Advanced")]
    #[serde(default)]
    pub(crate) advanced: AdvancedConfig,
}

/// The two ways to authenticate.
#[derive(Serialize, Deserialize, JsonSchema)]
#[serde(tag = "auth_type")]
pub(crate) enum CredentialsConfig {
    /// Sign in with TikTok (production ad accounts).
    #[serde(rename = "oauth2.0")]
    #[schemars(title = "OAuth2.0")]
    OAuth {
        /// The App ID of your TikTok for Business developer app.
        #[schemars(title = "App ID", extend("secret" = true))]
        #[serde(alias = "app_id")]
        client_id: String,
        /// The secret of your TikTok for Business developer app.
        #[schemars(title = "App Secret", extend("secret" = true))]
        #[serde(alias = "secret")]
        client_secret: String,
        /// The long-lived access token TikTok issued when you authorized the app.
        #[schemars(title = "Access Token", extend("secret" = true))]
        access_token: String,
    },
    /// A sandbox ad account and its access token.
    #[serde(rename = "sandbox_access_token")]
    #[schemars(title = "Sandbox Access Token")]
    Sandbox {
        /// The id of the sandbox ad account (advertiser).
        #[schemars(title = "Advertiser ID")]
        advertiser_id: String,
        /// The access token of the sandbox ad account.
        #[schemars(title = "Access Token", extend("secret" = true))]
        access_token: String,
    },
}

/// Settings most captures leave alone.
#[derive(Serialize, Deserialize, JsonSchema, Default)]
pub(crate) struct AdvancedConfig {
    /// Capture only these ad accounts (advertiser ids). Leave empty to capture every account the token can reach.
    #[schemars(title = "Advertiser IDs")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) advertiser_ids: Option<Vec<String>>,
    /// How many days of daily and hourly reports each run reads again (the form's text is the
    /// `description` below, which quotes the bounds).
    #[schemars(
        title = "Lookback Days",
        description = format!(
            "How many days of daily and hourly reports each run reads again, because TikTok \
             keeps revising conversions for days (the attribution window). From \
             {MIN_LOOKBACK_DAYS} to {MAX_LOOKBACK_DAYS}."
        ),
        range(min = MIN_LOOKBACK_DAYS, max = MAX_LOOKBACK_DAYS),
        extend("default" = DEFAULT_LOOKBACK_DAYS)
    )]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) lookback_days: Option<i64>,
    /// Also capture deleted campaigns, ad groups and ads, and their report rows. TikTok hides them unless asked.
    #[schemars(title = "Include Deleted", extend("default" = DEFAULT_INCLUDE_DELETED))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) include_deleted: Option<bool>,
    /// The request rate limit (the form's text is the `description` below, which quotes the
    /// bounds and defaults).
    #[schemars(
        title = "Requests Per Second",
        description = format!(
            "The most requests per second the connector sends to TikTok, shared by every \
             stream, from {MIN_REQUESTS_PER_SECOND} to {MAX_REQUESTS_PER_SECOND}. Defaults to \
             {DEFAULT_REQUESTS_PER_SECOND_PRODUCTION} in production (TikTok's basic tier) and \
             {DEFAULT_REQUESTS_PER_SECOND_SANDBOX} in sandbox (27 a minute, within TikTok's sandbox \
             limit of 30 a minute)."
        ),
        range(
            min = schema_number(MIN_REQUESTS_PER_SECOND),
            max = schema_number(MAX_REQUESTS_PER_SECOND)
        )
    )]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) requests_per_second: Option<f64>,
    /// Where the TikTok API lives. Leave empty for TikTok itself; set it to reach the API through a proxy or the simulated API.
    #[schemars(title = "API Base URL", extend("format" = "uri"))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) base_url: Option<String>,
    /// Allow an API Base URL that starts with http:// for a host other than this machine, such as a proxy inside your network. The access token and the app secret then travel unencrypted, so leave this off unless the network between the connector and that host is trusted.
    #[schemars(
        title = "Allow Insecure HTTP",
        extend("default" = DEFAULT_ALLOW_INSECURE_HTTP)
    )]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) allow_insecure_http: Option<bool>,
    /// A CA certificate to trust besides the usual public ones, in PEM form (-----BEGIN CERTIFICATE-----), for a proxy that inspects TLS or an API Base URL signed by your own CA. Several certificates may follow one another. A certificate is public, not a secret.
    #[schemars(title = "CA Certificate", extend("multiline" = true))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ca_certificate: Option<String>,
}

// ---------------------------------------------------------------------------------------------
// The typed layer: what the connector works with.
// ---------------------------------------------------------------------------------------------

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

/// The root key sops adds to a config it encrypted (its metadata), and the suffix it marks
/// encrypted fields with: neither is a field of this connector, and neither is a typo.
const SOPS_METADATA: &str = "sops";
const SOPS_SUFFIX: &str = "_sops";

/// Reads the fields earlier configs carried as today's, and refuses the layouts that cannot be
/// read: the Airbyte-based image and Airbyte's own TikTok connector (4.x) had `attribution_window`
/// and `include_deleted` at the root and `credentials.advertiser_id` to capture one production
/// account; their oldest releases had `access_token` and `environment` at the root. Each
/// migration is logged once per parse, naming the old field and the new one.
fn migrate_earlier_fields(
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
    Ok(object)
}

/// Refuses every config field this connector does not know, naming the nearest known one: a
/// misspelled `start_date` would otherwise be ignored and its default (all history) used. The
/// known fields are those of the Airbyte form, which has every spelling either protocol
/// accepts; sops metadata is not a field and is let through.
fn refuse_unknown_fields(object: &serde_json::Map<String, Value>) -> Result<()> {
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

/// Gives the credentials object a precise message before serde's generic one.
fn precheck_credentials(credentials: &Value) -> Result<()> {
    let Some(object) = credentials.as_object() else {
        return Err(Error::config(format!(
            "Config field `credentials` must be an object; got {}.",
            crate::error::json_kind(credentials)
        )));
    };
    let auth_type = match object.get("auth_type") {
        None => {
            return Err(Error::config(
                "Config field `credentials.auth_type` is missing: set it to \"oauth2.0\" for \
                 production or \"sandbox_access_token\" for a sandbox account.",
            ))
        }
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            return Err(Error::config(format!(
                "Config field `credentials.auth_type` must be the string \"oauth2.0\" or \
                 \"sandbox_access_token\"; got {}.",
                crate::error::json_kind(other)
            )))
        }
    };
    let required: &[(&str, Option<&str>)] = match auth_type {
        "oauth2.0" => &[
            ("client_id", Some("app_id")),
            ("client_secret", Some("secret")),
            ("access_token", None),
        ],
        "sandbox_access_token" => &[("advertiser_id", None), ("access_token", None)],
        other => {
            return Err(Error::config(format!(
                "Config field `credentials.auth_type` has the unknown value {other:?}: use \
                 \"oauth2.0\" for production or \"sandbox_access_token\" for a sandbox account."
            )))
        }
    };
    for (field, alias) in required {
        let value = object
            .get(*field)
            .or_else(|| alias.and_then(|a| object.get(a)));
        match value {
            None | Some(Value::Null) => {
                let also = alias.map(|a| format!(" (or `{a}`)")).unwrap_or_default();
                return Err(Error::config(format!(
                    "Config field `credentials.{field}`{also} is missing: it is required when \
                     auth_type is {auth_type:?}."
                )));
            }
            Some(Value::String(s)) if s.trim().is_empty() => {
                return Err(Error::config(format!(
                    "Config field `credentials.{field}` is empty: fill it in."
                )));
            }
            Some(Value::String(_)) => {}
            Some(other) => {
                return Err(Error::config(format!(
                    "Config field `credentials.{field}` must be a string; got {}.",
                    crate::error::json_kind(other)
                )));
            }
        }
    }
    Ok(())
}

fn validate(surface: EndpointConfig) -> Result<Config> {
    let (environment, access_token) = credentials(surface.credentials)?;
    let sandbox = matches!(environment, Environment::Sandbox { .. });

    let start_date = parse_date(surface.start_date.as_deref(), "start_date")?;
    let end_date = parse_date(surface.end_date.as_deref(), "end_date")?;
    if let (Some(start), Some(end)) = (start_date, end_date) {
        if end < start {
            return Err(Error::config(format!(
                "Config field `end_date` ({end}) is before `start_date` ({start}): set an end date \
                 on or after the start date, or leave it empty."
            )));
        }
    }

    let advanced = surface.advanced;
    let advertiser_ids = advertiser_ids(advanced.advertiser_ids, sandbox)?;
    let lookback_days = lookback_days(advanced.lookback_days)?;
    let requests_per_second = requests_per_second(advanced.requests_per_second, sandbox)?;
    let api_root = api_root(
        advanced.base_url.as_deref(),
        sandbox,
        advanced
            .allow_insecure_http
            .unwrap_or(DEFAULT_ALLOW_INSECURE_HTTP),
    )?;

    let ca_certificates = ca_certificates(advanced.ca_certificate.as_deref())?;
    let custom_reports = custom_reports(surface.custom_reports)?;

    Ok(Config {
        environment,
        access_token,
        start_date,
        end_date,
        report_granularity: surface.report_granularity,
        advertiser_ids,
        lookback_days,
        include_deleted: advanced.include_deleted.unwrap_or(DEFAULT_INCLUDE_DELETED),
        requests_per_second,
        api_root,
        custom_reports,
        clock: crate::clock::Clock::System,
        activity_index: true,
        ca_certificates,
    })
}

/// The environment the credentials name (production with the app's id and secret, or a
/// sandbox ad account) and the access token, trimmed and wrapped as secrets.
fn credentials(credentials: CredentialsConfig) -> Result<(Environment, Secret)> {
    Ok(match credentials {
        CredentialsConfig::OAuth {
            client_id,
            client_secret,
            access_token,
        } => (
            Environment::Production {
                app_id: Secret::new(client_id.trim()),
                secret: Secret::new(client_secret.trim()),
            },
            Secret::new(access_token.trim()),
        ),
        CredentialsConfig::Sandbox {
            advertiser_id,
            access_token,
        } => (
            Environment::Sandbox {
                advertiser_id: parse_advertiser_id(&advertiser_id, "credentials.advertiser_id")?,
            },
            Secret::new(access_token.trim()),
        ),
    })
}

/// `advanced.advertiser_ids`, parsed and without repeats (production only; empty means all).
fn advertiser_ids(ids: Option<Vec<String>>, sandbox: bool) -> Result<Option<Vec<u64>>> {
    Ok(match ids {
        None => None,
        Some(ids) if ids.is_empty() => None,
        Some(ids) => {
            if sandbox {
                return Err(Error::config(
                    "Config field `advanced.advertiser_ids` applies to production only: a \
                     sandbox capture reads `credentials.advertiser_id`. Remove it.",
                ));
            }
            let mut parsed = Vec::with_capacity(ids.len());
            for (n, id) in ids.iter().enumerate() {
                let id = parse_advertiser_id(id, &format!("advanced.advertiser_ids[{n}]"))?;
                if !parsed.contains(&id) {
                    parsed.push(id);
                }
            }
            Some(parsed)
        }
    })
}

/// `advanced.lookback_days`, within its bounds (the default when unset).
fn lookback_days(days: Option<i64>) -> Result<u32> {
    match days {
        None => Ok(DEFAULT_LOOKBACK_DAYS),
        Some(days) if (MIN_LOOKBACK_DAYS as i64..=MAX_LOOKBACK_DAYS as i64).contains(&days) => {
            Ok(days as u32)
        }
        Some(days) => Err(Error::config(format!(
            "Config field `advanced.lookback_days` is {days}: use a whole number of days from \
             {MIN_LOOKBACK_DAYS} to {MAX_LOOKBACK_DAYS}."
        ))),
    }
}

/// `advanced.requests_per_second`, within its bounds (the environment's default when unset).
fn requests_per_second(rps: Option<f64>, sandbox: bool) -> Result<f64> {
    match rps {
        None if sandbox => Ok(DEFAULT_REQUESTS_PER_SECOND_SANDBOX),
        None => Ok(DEFAULT_REQUESTS_PER_SECOND_PRODUCTION),
        Some(rps) if (MIN_REQUESTS_PER_SECOND..=MAX_REQUESTS_PER_SECOND).contains(&rps) => Ok(rps),
        Some(rps) => Err(Error::config(format!(
            "Config field `advanced.requests_per_second` is {rps}: use a number from \
             {MIN_REQUESTS_PER_SECOND} to {MAX_REQUESTS_PER_SECOND} (TikTok's basic tier \
             allows {DEFAULT_REQUESTS_PER_SECOND_PRODUCTION})."
        ))),
    }
}

/// Each custom report validated, under a name no other one has.
fn custom_reports(reports: Vec<CustomReportConfig>) -> Result<Vec<CustomReport>> {
    let mut custom_reports: Vec<CustomReport> = Vec::new();
    for (n, report) in reports.into_iter().enumerate() {
        let report = validate_custom_report(report, n)?;
        if custom_reports.iter().any(|r| r.name == report.name) {
            return Err(Error::config(format!(
                "Config field `custom_reports[{n}].name`: the name {:?} is used twice. Give each \
                 custom report its own name.",
                report.name
            )));
        }
        custom_reports.push(report);
    }
    Ok(custom_reports)
}

/// The certificates of `advanced.ca_certificate`: PEM text holding one or more
/// `CERTIFICATE` blocks, each of which must parse. Empty text means none.
fn ca_certificates(pem: Option<&str>) -> Result<Vec<reqwest::Certificate>> {
    let Some(pem) = pem.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(Vec::new());
    };
    let refuse = |why: &str| {
        Error::config(format!(
            "Config field `advanced.ca_certificate` {why}. Paste the CA certificate in PEM form: \
             the text from -----BEGIN CERTIFICATE----- to -----END CERTIFICATE-----, or leave \
             the field empty."
        ))
    };
    if !pem.contains("-----BEGIN CERTIFICATE-----") {
        return Err(refuse("holds no -----BEGIN CERTIFICATE----- block"));
    }
    let certificates = reqwest::Certificate::from_pem_bundle(pem.as_bytes())
        .map_err(|_| refuse("is not valid PEM"))?;
    // reqwest reads the DER lazily; building a client with each one proves it parses.
    for certificate in &certificates {
        reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(certificate.clone())
            .build()
            .map_err(|_| refuse("holds a certificate that cannot be read"))?;
    }
    Ok(certificates)
}

fn parse_date(value: Option<&str>, field: &str) -> Result<Option<NaiveDate>> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    // Accept a full timestamp too (older configs stored "2024-01-01T00:00:00Z").
    let date_part = value.get(..10).unwrap_or(value);
    match NaiveDate::parse_from_str(date_part, "%Y-%m-%d") {
        Ok(date) if date.year_ok() => Ok(Some(date)),
        _ => Err(Error::config(format!(
            "Config field `{field}` is {:?}: use a date as YYYY-MM-DD, for example 2024-01-31.",
            crate::scrub::echo(value)
        ))),
    }
}

trait YearOk {
    fn year_ok(&self) -> bool;
}

impl YearOk for NaiveDate {
    /// TikTok Ads started in 2016; anything before 2012 or after 2100 is a typo.
    fn year_ok(&self) -> bool {
        use chrono::Datelike;
        (2012..=2100).contains(&self.year())
    }
}

fn parse_advertiser_id(value: &str, field: &str) -> Result<u64> {
    let trimmed = value.trim();
    match trimmed.parse::<u64>() {
        Ok(id) if id > 0 => Ok(id),
        _ => Err(Error::config(format!(
            "Config field `{field}` is {:?}: an advertiser id is the number TikTok shows for \
             the ad account, such as \"7002238017842757633\".",
            crate::scrub::echo(value)
        ))),
    }
}

/// The API root from `advanced.base_url`. Errors name what is wrong but never echo the URL,
/// which may hold a password or a token.
fn api_root(base_url: Option<&str>, sandbox: bool, allow_insecure_http: bool) -> Result<Url> {
    let raw = base_url.map(str::trim).filter(|s| !s.is_empty());
    let text = raw.unwrap_or(if sandbox {
        SANDBOX_BASE_URL
    } else {
        PRODUCTION_BASE_URL
    });
    let refuse = |why: String| {
        Error::config(format!(
            "Config field `advanced.base_url` {why}. Use an https URL such as \
             {PRODUCTION_BASE_URL}, or leave it empty."
        ))
    };
    let mut url = Url::parse(text).map_err(|e| refuse(format!("is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refuse(format!(
            "has the scheme {:?}; only https (or http, see below) reaches the API",
            crate::scrub::excerpt(url.scheme(), 20)
        )));
    }
    let Some(host) = url.host() else {
        return Err(refuse("has no host".into()));
    };
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse(
            "holds a user name or password (user:password@): TikTok authenticates with the \
             access token alone, and a password in a URL would be sent as a Basic \
             Authorization header. Remove it"
                .into(),
        ));
    }
    if url.query().is_some() {
        return Err(refuse(
            "has a query (?...): the connector adds its own parameters, and one there could \
             carry a token. Remove it"
                .into(),
        ));
    }
    if url.fragment().is_some() {
        return Err(refuse("has a fragment (#...): remove it".into()));
    }
    let loopback = match host {
        url::Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    };
    if url.scheme() == "http" && !loopback && !allow_insecure_http {
        return Err(Error::config(
            "Config field `advanced.base_url` starts with http:// for a host other than this \
             machine, so the access token and app secret would cross the network unencrypted. \
             Use https, or set `advanced.allow_insecure_http` to true if the host is a proxy on \
             a network you trust.",
        ));
    }
    let path = url.path().trim_end_matches('/').to_string();
    let path = path.strip_suffix("/open_api/v1.3").unwrap_or(&path);
    url.set_path(&format!("{path}/open_api/v1.3/"));
    Ok(url)
}

// ---------------------------------------------------------------------------------------------
// The schema shown to users.
// ---------------------------------------------------------------------------------------------

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
/// other (`airbyte_hidden`); [`parse`] reads both.
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
    use crate::registry::Level;

    fn production() -> Value {
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

    #[test]
    fn airbyte_spellings_of_the_app_fields_are_accepted() {
        let raw = json!({"credentials": {"auth_type": "oauth2.0", "app_id": "app-1234",
                         "secret": "sec-5678", "access_token": "tok-abcdef"}});
        let config = parse(&raw).unwrap();
        match config.environment {
            Environment::Production { app_id, secret } => {
                assert_eq!(app_id.expose(), "app-1234");
                assert_eq!(secret.expose(), "sec-5678");
            }
            other => panic!("expected production, got {other:?}"),
        }
    }

    #[test]
    fn sandbox_defaults_within_30_requests_a_minute_and_the_sandbox_host() {
        let raw = json!({"credentials": {"auth_type": "sandbox_access_token",
                         "advertiser_id": "7000000000000000001", "access_token": "tok-abcdef"}});
        let config = parse(&raw).unwrap();
        assert!(config.is_sandbox());
        assert!(config.requests_per_second * 60.0 <= 30.0);
        assert_eq!(
            config.requests_per_second,
            DEFAULT_REQUESTS_PER_SECOND_SANDBOX
        );
        assert_eq!(
            config.api_root.as_str(),
            "https://sandbox-ads.tiktok.com/open_api/v1.3/"
        );
    }

    #[test]
    fn requests_per_second_is_bounded() {
        for (rps, ok) in [
            (1e-11, false),
            (0.001, false),
            (0.09, false),
            (0.1, true),
            (100.0, true),
            (100.5, false),
            (1e300, false),
        ] {
            let mut raw = production();
            raw["advanced"] = json!({"requests_per_second": rps});
            match parse(&raw) {
                Ok(config) => {
                    assert!(ok, "{rps} was accepted");
                    assert_eq!(config.requests_per_second, rps);
                }
                Err(err) => {
                    assert!(!ok, "{rps} was refused: {err}");
                    let text = err.to_string();
                    assert!(text.contains("advanced.requests_per_second"), "{text}");
                    assert!(text.contains("0.1") && text.contains("100"), "{text}");
                }
            }
        }
    }

    #[test]
    fn base_url_must_be_https_unless_loopback_or_allowed() {
        let parse_url = |url: &str, allow: Option<bool>| {
            let mut raw = production();
            raw["advanced"] = json!({"base_url": url});
            if let Some(allow) = allow {
                raw["advanced"]["allow_insecure_http"] = json!(allow);
            }
            parse(&raw)
        };
        for url in [
            "https://proxy.example.com",
            "http://127.0.0.1:8080",
            "http://127.9.9.9",
            "http://localhost:1234",
            "http://[::1]:99",
        ] {
            assert!(parse_url(url, None).is_ok(), "{url}");
        }
        let err = parse_url("http://proxy.example.com", None).unwrap_err();
        assert!(
            err.to_string().contains("advanced.allow_insecure_http"),
            "{err}"
        );
        assert!(err.to_string().contains("advanced.base_url"), "{err}");
        assert!(parse_url("http://proxy.example.com", Some(false)).is_err());
        assert!(parse_url("http://proxy.example.com", Some(true)).is_ok());
    }

    #[test]
    fn base_url_with_credentials_query_or_fragment_is_refused_without_echo() {
        for (url, names) in [
            ("https://user:hunter2pass@proxy.example.com", "password"),
            ("https://hunter2pass@proxy.example.com", "password"),
            (
                "https://proxy.example.com/?access_token=hunter2pass",
                "query",
            ),
            ("https://proxy.example.com/#hunter2pass", "fragment"),
            ("not a url hunter2pass", "not a URL"),
            ("ftp://hunter2pass.example.com", "scheme"),
        ] {
            let mut raw = production();
            raw["advanced"] = json!({"base_url": url});
            let text = parse(&raw).unwrap_err().to_string();
            assert!(text.contains("advanced.base_url"), "{text}");
            assert!(text.contains(names), "{url}: {text}");
            assert!(
                !text.contains("hunter2pass"),
                "{url}: the URL was echoed: {text}"
            );
        }
    }

    #[test]
    fn base_url_gets_the_api_path_once() {
        for given in [
            "http://127.0.0.1:9000",
            "http://127.0.0.1:9000/",
            "http://127.0.0.1:9000/open_api/v1.3",
            "http://127.0.0.1:9000/open_api/v1.3/",
        ] {
            let mut raw = production();
            raw["advanced"] = json!({"base_url": given});
            assert_eq!(
                parse(&raw).unwrap().api_root.as_str(),
                "http://127.0.0.1:9000/open_api/v1.3/",
                "{given}"
            );
        }
    }

    #[test]
    fn debug_never_shows_secrets() {
        let config = parse(&production()).unwrap();
        let text = format!("{config:?}");
        for secret in ["app-1234", "sec-5678", "tok-abcdef"] {
            assert!(!text.contains(secret), "{secret} leaked in {text}");
        }
    }

    #[test]
    fn invalid_configs_name_the_field() {
        let cases: Vec<(Value, &str)> = vec![
            (json!("nope"), "JSON object"),
            (json!({}), "`credentials`"),
            (json!({"credentials": "x"}), "`credentials`"),
            (
                json!({"credentials": {"client_id": "a"}}),
                "credentials.auth_type",
            ),
            (
                json!({"credentials": {"auth_type": "basic"}}),
                "credentials.auth_type",
            ),
            (
                json!({"credentials": {"auth_type": 3}}),
                "credentials.auth_type",
            ),
            (
                json!({"credentials": {"auth_type": "oauth2.0", "client_id": "a", "client_secret": "b"}}),
                "credentials.access_token",
            ),
            (
                json!({"credentials": {"auth_type": "oauth2.0", "client_id": "a", "access_token": "t"}}),
                "credentials.client_secret",
            ),
            (
                json!({"credentials": {"auth_type": "oauth2.0", "client_id": 5, "client_secret": "b", "access_token": "t"}}),
                "credentials.client_id",
            ),
            (
                json!({"credentials": {"auth_type": "sandbox_access_token", "access_token": "t"}}),
                "credentials.advertiser_id",
            ),
            (
                json!({"credentials": {"auth_type": "sandbox_access_token", "advertiser_id": "abc", "access_token": "t"}}),
                "credentials.advertiser_id",
            ),
            (
                json!({"credentials": {"auth_type": "sandbox_access_token", "advertiser_id": "1", "access_token": ""}}),
                "credentials.access_token",
            ),
        ];
        let with_production = |patch: Value, field: &'static str| {
            let mut raw = production();
            for (k, v) in patch.as_object().unwrap() {
                raw[k] = v.clone();
            }
            (raw, field)
        };
        let more = vec![
            with_production(json!({"start_date": "2024-13-01"}), "start_date"),
            with_production(json!({"start_date": "yesterday"}), "start_date"),
            with_production(json!({"start_date": 20240101}), "start_date"),
            with_production(json!({"end_date": "2024-02-30"}), "end_date"),
            with_production(
                json!({"start_date": "2024-03-01", "end_date": "2024-02-01"}),
                "end_date",
            ),
            with_production(json!({"report_granularity": "WEEK"}), "report_granularity"),
            with_production(
                json!({"advanced": {"lookback_days": -1}}),
                "advanced.lookback_days",
            ),
            with_production(
                json!({"advanced": {"lookback_days": 365}}),
                "advanced.lookback_days",
            ),
            with_production(
                json!({"advanced": {"lookback_days": "3"}}),
                "advanced.lookback_days",
            ),
            with_production(
                json!({"advanced": {"base_url": "not a url"}}),
                "advanced.base_url",
            ),
            with_production(
                json!({"advanced": {"base_url": "ftp://example.com"}}),
                "advanced.base_url",
            ),
            with_production(
                json!({"advanced": {"requests_per_second": 0}}),
                "advanced.requests_per_second",
            ),
            with_production(
                json!({"advanced": {"include_deleted": "yes"}}),
                "advanced.include_deleted",
            ),
            with_production(
                json!({"advanced": {"advertiser_ids": ["12x"]}}),
                "advanced.advertiser_ids[0]",
            ),
            with_production(
                json!({"advanced": {"advertiser_ids": "123"}}),
                "advanced.advertiser_ids",
            ),
            with_production(json!({"advanced": []}), "advanced"),
        ];
        for (raw, field) in cases.into_iter().chain(more) {
            let err = parse(&raw).expect_err(&format!("{raw} should fail"));
            let text = err.to_string();
            assert!(
                text.contains(field),
                "{raw}: {text:?} does not name {field}"
            );
            assert!(matches!(err, Error::Config(_)));
        }
    }

    fn custom(report: Value) -> Result<Config> {
        let mut raw = production();
        raw["custom_reports"] = json!([report]);
        parse(&raw)
    }

    #[test]
    fn custom_reports_take_their_granularity_from_the_time_dimension() {
        let config = custom(json!({"name": "ads_by_country", "report_type": "BASIC",
            "data_level": "AUCTION_AD", "dimensions": ["ad_id", "stat_time_day", "country_code"],
            "metrics": ["spend", "clicks"]}))
        .unwrap();
        let report = &config.custom_reports[0];
        assert_eq!(report.spec.granularity, Granularity::Day);
        assert_eq!(report.stream_name(), "custom_report_ads_by_country");
        let lifetime = custom(json!({"name": "totals", "report_type": "BASIC",
            "data_level": "AUCTION_CAMPAIGN", "dimensions": ["campaign_id"], "metrics": ["spend"]}))
        .unwrap();
        assert_eq!(
            lifetime.custom_reports[0].spec.granularity,
            Granularity::Lifetime
        );
        assert!(lifetime.custom_reports[0].spec.uses_query_lifetime());
        // Totals TikTok has no lifetime metrics for are accepted, as totals over a date range.
        for (report_type, dimensions) in [
            ("BASIC", json!(["campaign_id", "country_code"])),
            ("AUDIENCE", json!(["campaign_id", "gender", "age"])),
        ] {
            let totals = custom(json!({"name": "totals", "report_type": report_type,
                "data_level": "AUCTION_CAMPAIGN", "dimensions": dimensions,
                "metrics": ["spend"]}))
            .unwrap();
            let spec = &totals.custom_reports[0].spec;
            assert_eq!(spec.granularity, Granularity::Lifetime);
            assert!(!spec.uses_query_lifetime(), "{report_type} {dimensions}");
        }
    }

    #[test]
    fn custom_report_errors_name_the_report_and_the_field() {
        let cases = [
            (
                json!({"name": "a", "report_type": "BASIC", "data_level": "AUCTION_AD",
                       "dimensions": ["stat_time_day"], "metrics": ["spend"]}),
                "no id dimension",
            ),
            (
                json!({"name": "a", "report_type": "BASIC", "data_level": "AUCTION_AD",
                       "dimensions": ["ad_id", "stat_time_day", "stat_time_hour"], "metrics": ["spend"]}),
                "at most one time dimension",
            ),
            (
                json!({"name": "a", "report_type": "AUDIENCE", "data_level": "AUCTION_AD",
                       "dimensions": ["ad_id", "stat_time_hour", "gender"], "metrics": ["spend"]}),
                "stat_time_hour",
            ),
            (
                json!({"name": "a", "report_type": "BASIC", "data_level": "AUCTION_AD",
                       "dimensions": ["campaign_id", "stat_time_day"], "metrics": ["spend"]}),
                "\"ad_id\"",
            ),
            (
                json!({"name": "Bad Name", "report_type": "BASIC", "data_level": "AUCTION_AD",
                       "dimensions": ["ad_id"], "metrics": ["spend"]}),
                "custom_reports[0].name",
            ),
            (
                json!({"name": "a", "report_type": "BASIC", "data_level": "AUCTION_AD",
                       "dimensions": ["ad_id"], "metrics": []}),
                "at least one metric",
            ),
            (
                json!({"name": "a", "report_type": "AUDIENCE", "data_level": "AUCTION_AD",
                       "dimensions": ["ad_id", "stat_time_day"], "metrics": ["spend"]}),
                "audience dimension",
            ),
            (
                json!({"name": "a", "report_type": "BASIC", "data_level": "AUCTION_CAMPAIGN",
                       "dimensions": ["campaign_id", "stat_time_day"],
                       "metrics": ["spend", "cash_spend"]}),
                "custom_reports[0].metrics",
            ),
            (
                json!({"name": "a", "report_type": "BASIC", "data_level": "AUCTION_ADVERTISER",
                       "dimensions": ["advertiser_id"], "metrics": ["voucher_spend"]}),
                "\"voucher_spend\"",
            ),
            (
                json!({"name": "a", "report_type": "WEEKLY", "data_level": "AUCTION_AD",
                       "dimensions": ["ad_id"], "metrics": ["spend"]}),
                "custom_reports[0].report_type",
            ),
        ];
        for (report, needle) in cases {
            let text = custom(report.clone()).unwrap_err().to_string();
            assert!(text.contains(needle), "{report}: {text}");
            assert!(text.contains("custom_reports[0]"), "{report}: {text}");
        }
        let mut raw = production();
        let one = json!({"name": "same", "report_type": "BASIC", "data_level": "AUCTION_AD",
                         "dimensions": ["ad_id"], "metrics": ["spend"]});
        raw["custom_reports"] = json!([one.clone(), one]);
        let text = parse(&raw).unwrap_err().to_string();
        assert!(
            text.contains("used twice") && text.contains("custom_reports[1]"),
            "{text}"
        );
    }

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
