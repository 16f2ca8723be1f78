//! The surface of the endpoint config: the serde + schemars types the user fills in, whose
//! titles and descriptions become the form in the Flow and Airbyte UIs. Nothing here checks a
//! value; `validate` turns these into the typed [`Config`](super::Config).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::bounds::{
    DEFAULT_ALLOW_INSECURE_HTTP, DEFAULT_INCLUDE_DELETED, DEFAULT_LOOKBACK_DAYS,
    DEFAULT_REQUESTS_PER_SECOND_PRODUCTION, DEFAULT_REQUESTS_PER_SECOND_SANDBOX, MAX_LOOKBACK_DAYS,
    MAX_REQUESTS_PER_SECOND, MIN_LOOKBACK_DAYS, MIN_REQUESTS_PER_SECOND,
};
use crate::registry::custom::CustomReportConfig;
use crate::registry::{Granularity, MetricGroup, RecordLayout};

/// A bound or default as the schema shows it: whole numbers without a fraction (`100`, not
/// `100.0`), so the form reads as written.
fn schema_number(value: f64) -> Value {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        json!(value as i64)
    } else {
        json!(value)
    }
}

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
    /// Groups of TikTok report metrics to add to every report stream, at the levels and report types TikTok serves each metric. Leave empty for the standard metrics: delivery, video and engagement, conversions and results, and the website and TikTok Shop funnel.
    #[schemars(
        title = "Metric Groups",
        with = "Option<Vec<MetricGroup>>",
        extend("default" = [])
    )]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) metric_groups: Option<Vec<String>>,
    /// Where report records carry their metrics: "nested" keeps TikTok's shape (every metric in one metrics object, one JSON column in a warehouse); "flat" makes each metric its own typed top-level field (a column), and a metric named like a key field gets the prefix metric_.
    #[schemars(
        title = "Record Layout",
        with = "Option<RecordLayout>",
        extend("default" = "nested")
    )]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) record_layout: Option<String>,
}
