//! The one TikTok client of the process. It owns the HTTP connection pool (reqwest, rustls), the
//! `Access-Token` header, the shared rate budget ([`limiter`]), retries with backoff, envelope
//! decoding (`code`, `message`, `request_id`, `data`), the code table ([`codes`]) and
//! pagination by `page_info`. Stream code hands it a path and parameters and gets records back;
//! it never sees HTTP. Every error text that leaves this module has the secrets scrubbed out.

pub mod codes;
pub mod limiter;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use rand::Rng;
use serde::Deserialize;
use serde_json::value::RawValue;
use url::Url;

use crate::config::{Config, Environment};
use crate::error::{ApiError, Error, ErrorClass, Result};
use limiter::{Limiter, ThrottlePolicy};

/// Retry and timeout knobs. Production uses [`ClientOptions::default`]; tests shorten them.
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
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            give_up_after: Duration::from_secs(600),
            first_retry_delay: Duration::from_millis(500),
            max_retry_delay: Duration::from_secs(30),
            throttle: ThrottlePolicy::default(),
            timeout: Duration::from_secs(120),
            page_concurrency: 2,
        }
    }
}

impl ClientOptions {
    /// Defaults, with test-only overrides from the environment (`SOURCE_TIKTOK_GIVE_UP_SECS`,
    /// `SOURCE_TIKTOK_TIMEOUT_SECS`, `SOURCE_TIKTOK_RETRY_MS`) so end-to-end tests of the binary
    /// can exercise give-up and timeout paths in seconds rather than minutes.
    pub fn from_env() -> Self {
        let mut options = ClientOptions::default();
        let secs = |name: &str| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse::<f64>().ok())
                .filter(|v| v.is_finite() && *v > 0.0)
                .map(Duration::from_secs_f64)
        };
        if let Some(d) = secs("SOURCE_TIKTOK_GIVE_UP_SECS") {
            options.give_up_after = d;
        }
        if let Some(d) = secs("SOURCE_TIKTOK_TIMEOUT_SECS") {
            options.timeout = d;
        }
        if let Some(d) = secs("SOURCE_TIKTOK_RETRY_MS") {
            let d = d / 1000;
            options.first_retry_delay = d;
            options.max_retry_delay = d * 8;
            options.throttle.first_pause = d;
            options.throttle.max_pause = d * 8;
        }
        options
    }
}

/// One decoded page of a list endpoint.
#[derive(Debug)]
pub struct Page {
    pub records: Vec<Box<RawValue>>,
    pub page: u32,
    /// `page_info.total_page` when TikTok sent it.
    pub total_pages: Option<u32>,
    pub total_number: Option<u64>,
    /// The answer carried [`ADS_THROTTLE_HEADER`]: the report processed only the most recently
    /// created ads of what it selected, so its rows are incomplete.
    pub ads_throttled: bool,
}

/// TikTok's signal that a report hit its cap of 20,000 most recently created ads (Run a
/// synchronous report, portal doc 1740302848100353). Its value is not documented: any value
/// but an empty, `0` or `false` one counts.
pub const ADS_THROTTLE_HEADER: &str = "x-tt-ads-throttle";

fn ads_throttled(headers: &reqwest::header::HeaderMap) -> bool {
    headers.get(ADS_THROTTLE_HEADER).is_some_and(|v| {
        let v = v.to_str().unwrap_or("1").trim();
        !(v.is_empty() || v == "0" || v.eq_ignore_ascii_case("false"))
    })
}

#[derive(Deserialize)]
struct Envelope<'a> {
    code: Option<i64>,
    #[serde(default, borrow)]
    message: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    request_id: Option<String>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
struct PageInfo {
    #[serde(default)]
    total_page: Option<u32>,
    #[serde(default)]
    total_number: Option<u64>,
}

/// Counters the demo, the logs and the benchmark report.
#[derive(Debug, Default)]
pub struct ClientStats {
    pub requests: AtomicU64,
    pub retries: AtomicU64,
    pub throttled: AtomicU64,
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
    secrets: Vec<String>,
    limiter: Limiter,
    options: ClientOptions,
    pub stats: Arc<ClientStats>,
}

/// A query parameter list.
pub type Params = Vec<(&'static str, String)>;

impl TikTokClient {
    pub fn new(config: &Config, options: ClientOptions) -> Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(options.timeout)
            .connect_timeout(Duration::from_secs(20).min(options.timeout))
            .pool_max_idle_per_host(32)
            .user_agent(concat!(
                "source-tiktok-marketing/",
                env!("CARGO_PKG_VERSION")
            ))
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
            secrets: config.secrets(),
            limiter: Limiter::new(config.requests_per_second, options.throttle),
            options,
            stats: Arc::default(),
        })
    }

    pub fn options(&self) -> &ClientOptions {
        &self.options
    }

    /// The app id and secret (production), for `oauth2/advertiser/get/`.
    pub fn app_credentials(&self) -> Option<(&str, &str)> {
        self.app.as_ref().map(|(a, s)| (a.as_str(), s.as_str()))
    }

    /// Replaces every secret in a text (error bodies can echo request parameters).
    pub fn scrub(&self, text: &str) -> String {
        scrub(text, &self.secrets)
    }

    /// GET `path` and return `data`, retrying what can be retried. Rate-limited answers pause
    /// the whole process; server errors back off this request alone. Fails when the request has
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
    pub async fn get_with<T>(
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
    /// [`ADS_THROTTLE_HEADER`].
    async fn get_with_signal<T>(
        &self,
        path: &str,
        params: &[(&'static str, String)],
        finish: impl Fn(Option<&RawValue>) -> Result<T>,
    ) -> Result<(T, bool)> {
        let started = tokio::time::Instant::now();
        let mut attempt: u32 = 0;
        loop {
            self.limiter.acquire().await;
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            let answer = match self.get_once(path, params).await {
                Ok((status, body, throttled)) => {
                    let answer = decode_data(path, status, &body, &self.secrets)
                        .and_then(&finish)
                        .map(|value| (value, throttled));
                    self.bodies.give(body);
                    answer
                }
                Err(err) => Err(err),
            };
            let err = match answer {
                Ok(value) => {
                    self.limiter.on_success();
                    return Ok(value);
                }
                Err(err) => err,
            };
            let delay = match err.class() {
                ErrorClass::RateLimited => {
                    self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                    let pause = self.limiter.on_throttle();
                    tracing::debug!(path, pause_ms = pause.as_millis() as u64, error = %err, "TikTok throttled a request; pausing.");
                    Duration::ZERO
                }
                ErrorClass::Retryable => {
                    let ceiling = self
                        .options
                        .first_retry_delay
                        .saturating_mul(1u32 << attempt.min(16))
                        .min(self.options.max_retry_delay);
                    ceiling.mul_f64(rand::rng().random_range(0.5..=1.0))
                }
                _ => return Err(err),
            };
            attempt += 1;
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            if started.elapsed() + delay >= self.options.give_up_after {
                return Err(Error::GaveUp(format!(
                    "No progress for {} seconds: {path} kept failing after {attempt} attempts; \
                     the last answer was: {err}. TikTok or the network is unavailable; the \
                     capture will resume from its last checkpoint on the next run.",
                    self.options.give_up_after.as_secs()
                )));
            }
            if attempt == 3 || attempt % 10 == 0 {
                tracing::warn!(path, attempt, error = %err, "Request keeps failing; retrying.");
            }
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
        }
    }

    /// One HTTP exchange: the status, the whole body and whether it carried
    /// [`ADS_THROTTLE_HEADER`].
    async fn get_once(
        &self,
        path: &str,
        params: &[(&'static str, String)],
    ) -> Result<(u16, Vec<u8>, bool)> {
        let mut url = self
            .root
            .join(path)
            .map_err(|e| Error::Fatal(format!("bad API path {path}: {e}")))?;
        {
            let mut query = url.query_pairs_mut();
            for (k, v) in params {
                query.append_pair(k, v);
            }
        }
        let transport = |what: &str, e: reqwest::Error| {
            // Everything but a request we built wrongly is worth another try: timeouts, refused
            // or dropped connections, bodies cut short.
            let retryable = !e.is_builder();
            Error::Transport {
                message: self.scrub(&format!(
                    "{what} {path} failed: {}",
                    error_chain(&e.without_url())
                )),
                retryable,
            }
        };
        let mut response = self
            .http
            .get(url)
            .header("Access-Token", &self.token)
            .send()
            .await
            .map_err(|e| transport("Requesting", e))?;
        let status = response.status();
        let throttled = ads_throttled(response.headers());
        let mut body = self.bodies.take();
        if let Some(length) = response.content_length() {
            body.reserve(
                usize::try_from(length)
                    .unwrap_or(0)
                    .min(BodyPool::MAX_BYTES),
            );
        }
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transport("Reading the answer of", e))?
        {
            body.extend_from_slice(&chunk);
        }
        Ok((status.as_u16(), body, throttled))
    }

    /// Every page of a list endpoint, as a stream of pages in order. The first page tells the
    /// page count; the rest are fetched `page_concurrency` at a time. Without `page_info`, a
    /// page shorter than `page_size` is the last.
    pub fn pages<'a>(
        &'a self,
        path: &'a str,
        params: Params,
        list_key: &'a str,
        page_size: u32,
    ) -> impl futures::Stream<Item = Result<Page>> + Send + 'a {
        let params = Arc::new(params);
        let first = {
            let params = params.clone();
            async move { self.page(path, &params, list_key, 1, page_size).await }
        };
        futures::stream::once(first)
            .map_ok(move |first| {
                let rest: futures::stream::BoxStream<'a, Result<Page>> = match first.total_pages {
                    Some(total) => {
                        let params = params.clone();
                        futures::stream::iter(2..=total.max(1))
                            .map(move |n| {
                                let params = params.clone();
                                async move { self.page(path, &params, list_key, n, page_size).await }
                            })
                            .buffered(self.options.page_concurrency.max(1))
                            .boxed()
                    }
                    None if first.records.len() as u32 >= page_size => {
                        let params = params.clone();
                        futures::stream::try_unfold(Some(2u32), move |next| {
                            let params = params.clone();
                            async move {
                                let Some(n) = next else { return Ok(None) };
                                let page = self.page(path, &params, list_key, n, page_size).await?;
                                if page.records.is_empty() {
                                    return Ok(None);
                                }
                                let more = page.records.len() as u32 >= page_size;
                                Ok(Some((page, more.then_some(n + 1))))
                            }
                        })
                        .boxed()
                    }
                    None => futures::stream::empty().boxed(),
                };
                futures::stream::once(futures::future::ready(Ok(first))).chain(rest)
            })
            .try_flatten()
    }

    /// One page of a list endpoint.
    pub async fn page(
        &self,
        path: &str,
        params: &[(&'static str, String)],
        list_key: &str,
        page: u32,
        page_size: u32,
    ) -> Result<Page> {
        let mut all: Params = params.to_vec();
        all.push(("page", page.to_string()));
        all.push(("page_size", page_size.to_string()));
        let (mut page, throttled) = self
            .get_with_signal(path, &all, |data| match data {
                Some(data) => parse_page(path, data, list_key, page),
                None => Ok(Page {
                    records: Vec::new(),
                    page,
                    total_pages: None,
                    total_number: None,
                    ads_throttled: false,
                }),
            })
            .await?;
        page.ads_throttled = throttled;
        Ok(page)
    }
}

/// Splits `data` into its records and `page_info`.
pub fn parse_page(path: &str, data: &RawValue, list_key: &str, page: u32) -> Result<Page> {
    let unreadable = |e: serde_json::Error| Error::Transport {
        message: format!("TikTok's answer to {path} has an unreadable data object: {e}"),
        retryable: true,
    };
    if data.get().trim() == "null" {
        return Ok(Page {
            records: Vec::new(),
            page,
            total_pages: None,
            total_number: None,
            ads_throttled: false,
        });
    }
    let parsed: std::collections::HashMap<String, &RawValue> =
        serde_json::from_str(data.get()).map_err(unreadable)?;
    let records: Vec<Box<RawValue>> = match parsed.get(list_key) {
        Some(list) if list.get().trim() != "null" => {
            serde_json::from_str(list.get()).map_err(unreadable)?
        }
        _ => Vec::new(),
    };
    let info: PageInfo = match parsed.get("page_info") {
        Some(raw) => serde_json::from_str(raw.get()).unwrap_or_default(),
        None => PageInfo::default(),
    };
    Ok(Page {
        records,
        page,
        total_pages: info.total_page,
        total_number: info.total_number,
        ads_throttled: false,
    })
}

fn null_value() -> Box<RawValue> {
    RawValue::from_string("null".into()).expect("null is JSON")
}

/// Decodes one HTTP answer into `data` (borrowed from the body; `None` when absent) or a
/// classified error.
pub fn decode_data<'a>(
    path: &str,
    status: u16,
    body: &'a [u8],
    secrets: &[String],
) -> Result<Option<&'a RawValue>> {
    let envelope: std::result::Result<Envelope<'a>, _> = serde_json::from_slice(body);
    match envelope {
        Ok(Envelope {
            code: Some(code),
            message,
            request_id,
            data,
        }) => {
            if codes::is_success(code) {
                return Ok(data);
            }
            let (class, hint) = codes::classify(code);
            Err(Error::Api(Box::new(ApiError {
                code,
                message: scrub(message.as_deref().unwrap_or("(no message)"), secrets),
                request_id,
                path: path.to_string(),
                class,
                hint,
            })))
        }
        _ => {
            let text = String::from_utf8_lossy(body);
            // Scrub before cutting, so a secret straddling the cut cannot leak its first half.
            let snippet: String = scrub(&text, secrets)
                .chars()
                .take(200)
                .collect::<String>()
                .replace('\n', " ");
            let (retryable, what) = match status {
                429 => (true, "throttled (HTTP 429)".to_string()),
                500..=599 => (true, format!("a server error (HTTP {status})")),
                200..=299 => (true, "an incomplete or unreadable answer".to_string()),
                404 => (
                    false,
                    "HTTP 404: check advanced.base_url, it must point at the TikTok API root"
                        .into(),
                ),
                _ => (false, format!("HTTP {status}")),
            };
            let message = format!("TikTok answered {path} with {what}: {snippet:?}");
            if status == 429 {
                return Err(Error::Api(Box::new(ApiError {
                    code: 429,
                    message,
                    request_id: None,
                    path: path.to_string(),
                    class: ErrorClass::RateLimited,
                    hint: None,
                })));
            }
            Err(Error::Transport { message, retryable })
        }
    }
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

pub fn scrub(text: &str, secrets: &[String]) -> String {
    let mut out = text.to_string();
    for secret in secrets {
        if !secret.is_empty() && out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), "<redacted>");
        }
    }
    out
}

/// Parses a JSON value as `T` with a message naming the path on failure.
pub fn from_raw<T: serde::de::DeserializeOwned>(path: &str, raw: &RawValue) -> Result<T> {
    serde_json::from_str(raw.get()).map_err(|e| Error::Transport {
        message: format!("TikTok's answer to {path} is not what the connector expects: {e}"),
        retryable: false,
    })
}
