//! The typed layer: [`Config`], what the rest of the connector works with (validated dates,
//! ids, URL, secrets), and [`Secret`], whose `Debug` is redacted so no log line or error can
//! print one.

use chrono::NaiveDate;
use url::Url;

use crate::registry::{CustomReport, Granularity};

/// A secret string. `Debug` never shows it; code that needs the value calls [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

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
pub(crate) enum Environment {
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

#[cfg(test)]
mod tests {
    use crate::config::parse;
    use crate::config::tests::production;
    #[test]
    fn debug_never_shows_secrets() {
        let config = parse(&production()).unwrap();
        let text = format!("{config:?}");
        for secret in ["app-1234", "sec-5678", "tok-abcdef"] {
            assert!(!text.contains(secret), "{secret} leaked in {text}");
        }
    }
}
