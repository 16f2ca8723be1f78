//! The surface checked and typed, field by field: credentials into an [`Environment`] and
//! [`Secret`]s, dates, advertiser ids, bounds, the API root and CA certificates. Every error
//! names the field and says what is expected.

use chrono::NaiveDate;
use serde_json::Value;
use url::Url;

use super::bounds::*;
use super::surface::{CredentialsConfig, EndpointConfig};
use super::typed::{Config, Environment, Secret};
use crate::error::{Error, Result};
use crate::registry::custom::{validate_custom_report, CustomReportConfig};
use crate::registry::{CustomReport, ReportOptions};

/// Gives the credentials object a precise message before serde's generic one.
pub(super) fn precheck_credentials(credentials: &Value) -> Result<()> {
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

pub(super) fn validate(surface: EndpointConfig) -> Result<Config> {
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
    let report_options =
        ReportOptions::from_config(advanced.metric_groups, advanced.record_layout)?;

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
        report_options,
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

#[cfg(test)]
mod tests {
    use serde_json::{json, Value};

    use crate::config::bounds::*;
    use crate::config::tests::production;
    use crate::config::*;
    use crate::error::{Error, Result};
    use crate::registry::Granularity;

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
            with_production(
                json!({"advanced": {"metric_groups": ["website", "webiste"]}}),
                "advanced.metric_groups[1]",
            ),
            with_production(
                json!({"advanced": {"metric_groups": "website"}}),
                "advanced.metric_groups",
            ),
            with_production(
                json!({"advanced": {"record_layout": "wide"}}),
                "advanced.record_layout",
            ),
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
}
