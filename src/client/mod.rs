//! The one TikTok client of the process. It owns the HTTP connection pool (reqwest, rustls), the
//! `Access-Token` header, the shared rate budget ([`limiter`]), retries with backoff, envelope
//! decoding (`code`, `message`, `request_id`, `data`), the code table ([`codes`]) and
//! pagination by `page_info`. Stream code hands it a path and parameters and gets records back;
//! it never sees HTTP. Every error text that leaves this module has the secrets scrubbed out.//!
//! This module owns the client, its options and its counters, and the requests stream code
//! makes (`get`, `post_json`, `get_text`); its children own the steps: `transport` (one request
//! with retries and backoff, one HTTP exchange, the transport errors), `envelope` (an answer
//! decoded into `data` or a classified error) and `pages` (paging a list endpoint and its
//! guards).

pub(crate) mod codes;
mod envelope;
pub mod limiter;
mod pages;
mod transport;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;
use serde_json::Value;
use url::Url;

use crate::config::{Config, Environment};
use crate::error::{Error, Result};
use crate::scrub::Scrubber;
pub use envelope::decode_data;
pub(crate) use envelope::from_raw;
use envelope::null_value;
use limiter::{Limiter, ThrottlePolicy};
pub use pages::{parse_page, Page, Paging};

/// Retry, timeout and size knobs. Production uses [`ClientOptions::default`]; tests build the
/// client (or run a capture through the library) with shorter ones. Nothing here is read from
/// the environment.
#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// A request that has failed for this long without one success fails the run.
    pub give_up_after: Duration,
    /// The first retry delay for server errors; it doubles up to `max_retry_delay`.
    pub first_retry_delay: Duration,
    pub max_retry_delay: Duration,
    pub throttle: ThrottlePolicy,
    /// Per-request timeout (connect to last byte).
    pub timeout: Duration,
    /// How many pages of one query are fetched at once.
    pub page_concurrency: usize,
    /// The largest answer body read; a longer one is cut off and counts as malformed (asked
    /// for `malformed_attempts` times, then the request fails).
    pub max_body_bytes: usize,
    /// How many times an answer that is not a TikTok envelope at all (no numeric `code`,
    /// trailing garbage, a `data` that is not an object) is asked for before the request
    /// fails. Such answers do not get better with time, so they are not retried for
    /// `give_up_after`.
    pub malformed_attempts: u32,
}

/// The largest answer body the client reads: 16 MiB. TikTok's largest pages are 1,000 report
/// rows with every metric, or 1,000 ads, a few MB each; this leaves several times that as
/// headroom while keeping an endless or huge body from taking the process's memory.
pub(crate) const MAX_BODY_BYTES: usize = 16 << 20;

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            give_up_after: Duration::from_secs(600),
            first_retry_delay: Duration::from_millis(500),
            max_retry_delay: Duration::from_secs(30),
            throttle: ThrottlePolicy::default(),
            timeout: Duration::from_secs(120),
            page_concurrency: 2,
            max_body_bytes: MAX_BODY_BYTES,
            malformed_attempts: 3,
        }
    }
}

impl ClientOptions {
    /// Every retry pause set to `delay` (and throttling pauses to at most eight times it): for
    /// tests and tools that exercise fault paths in milliseconds rather than minutes.
    pub fn with_retry_delay(mut self, delay: Duration) -> Self {
        self.first_retry_delay = delay;
        self.max_retry_delay = delay * 8;
        self.throttle.first_pause = delay;
        self.throttle.max_pause = delay * 8;
        self.throttle.minute_pause = delay * 20;
        self
    }
}

/// Counters the demo, the logs and the benchmark report.
#[derive(Debug, Default)]
pub struct ClientStats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub throttled: AtomicU64,
    /// The run's reconciliation of report rows with the ledger's totals (reported with the
    /// requests at the end): account-days compared, and those whose levels differ.
    pub reconciled_account_days: AtomicU64,
    pub differing_account_days: AtomicU64,
}

/// Answer buffers kept for reuse. A report page is a few MB; allocating one per request lets
/// the allocator's heap creep up with the number of pages read, reusing a few keeps peak memory
/// flat however many rows a capture reads.
#[derive(Default)]
struct BodyPool(std::sync::Mutex<Vec<Vec<u8>>>);

impl BodyPool {
    /// Buffers kept at most, and the largest kept.
    const KEEP: usize = 8;
    const MAX_BYTES: usize = 16 << 20;

    fn take(&self) -> Vec<u8> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop()
            .unwrap_or_default()
    }

    fn give(&self, mut body: Vec<u8>) {
        if body.capacity() > Self::MAX_BYTES {
            return;
        }
        body.clear();
        let mut pool = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < Self::KEEP {
            pool.push(body);
        }
    }
}

pub struct TikTokClient {
    bodies: BodyPool,
    http: reqwest::Client,
    root: Url,
    token: String,
    app: Option<(String, String)>,
    scrubber: Scrubber,
    limiter: Limiter,
    options: ClientOptions,
    pub stats: Arc<ClientStats>,
}

/// A query parameter list.
pub(crate) type Params = Vec<(&'static str, String)>;

/// What one request sends: query parameters, or a JSON body (TikTok's task endpoints are POST).
#[derive(Clone, Copy)]
enum Outgoing<'a> {
    Get(&'a [(&'static str, String)]),
    PostJson(&'a Value),
}

impl TikTokClient {
    pub fn new(config: &Config, options: ClientOptions) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(Duration::from_secs(20).min(options.timeout))
            .pool_max_idle_per_host(32)
            // TikTok's API never redirects. Following one would send the `Access-Token` header
            // (and, for `oauth2/advertiser/get/`, the app secret) to whatever host it names.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!(
                "source-tiktok-marketing/",
                env!("CARGO_PKG_VERSION")
            ));
        // Besides Mozilla's roots and the system's store: the CA of `advanced.ca_certificate`.
        let http = config
            .ca_certificates
            .iter()
            .fold(http, |http, ca| http.add_root_certificate(ca.clone()))
            .build()
            .map_err(|e| Error::Fatal(format!("building the HTTP client failed: {e}")))?;
        let app = match &config.environment {
            Environment::Production { app_id, secret } => {
                Some((app_id.expose().to_string(), secret.expose().to_string()))
            }
            Environment::Sandbox { .. } => None,
        };
        Ok(TikTokClient {
            bodies: BodyPool::default(),
            http,
            root: config.api_root.clone(),
            token: config.access_token.expose().to_string(),
            app,
            scrubber: {
                let secrets = config.secrets();
                crate::scrub::register(&secrets);
                Scrubber::new(&secrets)
            },
            limiter: Limiter::new(config.requests_per_second, options.throttle),
            options,
            stats: Arc::default(),
        })
    }

    /// The app id and secret (production), for `oauth2/advertiser/get/`.
    pub(crate) fn app_credentials(&self) -> Option<(&str, &str)> {
        self.app.as_ref().map(|(a, s)| (a.as_str(), s.as_str()))
    }

    /// Replaces every secret in a text (error bodies can echo request parameters).
    pub(crate) fn scrub(&self, text: &str) -> String {
        self.scrubber.scrub(text).into_owned()
    }

    /// GET `path` and return `data`, retrying what can be retried. Throttled answers back off
    /// as the limit they name asks ([`limiter`]); server errors back off this request alone. Fails when the request has
    /// not succeeded for `give_up_after`.
    pub async fn get(
        &self,
        path: &str,
        params: &[(&'static str, String)],
    ) -> Result<Box<RawValue>> {
        self.get_with(path, params, |data| {
            Ok(data.map(|d| d.to_owned()).unwrap_or_else(null_value))
        })
        .await
    }

    /// Like [`TikTokClient::get`], but hands `data` (borrowed from the body) to `finish`, so a
    /// page is parsed straight out of the body it came in: one copy of the records in memory,
    /// not three. An error from `finish` is retried like any other of its class.
    pub(crate) async fn get_with<T>(
        &self,
        path: &str,
        params: &[(&'static str, String)],
        finish: impl Fn(Option<&RawValue>) -> Result<T>,
    ) -> Result<T> {
        self.get_with_signal(path, params, finish)
            .await
            .map(|(value, _)| value)
    }

    /// Like [`TikTokClient::get_with`], and also whether the answer carried
    /// [`ADS_THROTTLE_HEADER`](transport::ADS_THROTTLE_HEADER).
    async fn get_with_signal<T>(
        &self,
        path: &str,
        params: &[(&'static str, String)],
        finish: impl Fn(Option<&RawValue>) -> Result<T>,
    ) -> Result<(T, bool)> {
        self.exchange(path, Outgoing::Get(params), |status, body, throttled| {
            decode_data(path, status, body, &self.scrubber)
                .and_then(&finish)
                .map(|value| (value, throttled))
        })
        .await
    }

    /// POST a JSON body to `path` (TikTok's task endpoints) and return `data`, retried and
    /// paced like every GET.
    pub(crate) async fn post_json(&self, path: &str, body: &Value) -> Result<Box<RawValue>> {
        self.exchange(path, Outgoing::PostJson(body), |status, answer, _| {
            decode_data(path, status, answer, &self.scrubber)
                .map(|data| data.map(|d| d.to_owned()).unwrap_or_else(null_value))
        })
        .await
    }

    /// GET `path` whose successful answer is a file (an asynchronous report's CSV), not an
    /// envelope. An envelope is still read as one: TikTok's refusals come as envelopes, and an
    /// envelope with `data` where a file was expected is malformed.
    pub(crate) async fn get_text(
        &self,
        path: &str,
        params: &[(&'static str, String)],
    ) -> Result<String> {
        self.exchange(path, Outgoing::Get(params), |status, body, _| {
            let looks_like_envelope = body
                .iter()
                .find(|b| !b.is_ascii_whitespace())
                .is_some_and(|b| *b == b'{');
            if looks_like_envelope || !(200..=299).contains(&status) {
                decode_data(path, status, body, &self.scrubber)?;
                // Asking again would get the same envelope.
                return Err(Error::Fatal(format!(
                    "TikTok's answer to {path} is an envelope where a file was expected"
                )));
            }
            String::from_utf8(body.to_vec())
                .map_err(|_| Error::Fatal(format!("TikTok's answer to {path} is not UTF-8 text")))
        })
        .await
    }
}
