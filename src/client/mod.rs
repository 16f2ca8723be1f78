//! The one TikTok client of the process. It owns the HTTP connection pool (reqwest, rustls), the
//! `Access-Token` header, the shared rate budget ([`limiter`]), retries with backoff, envelope
//! decoding (`code`, `message`, `request_id`, `data`), the code table ([`codes`]) and
//! pagination by `page_info`. Stream code hands it a path and parameters and gets records back;
//! it never sees HTTP. Every error text that leaves this module has the secrets scrubbed out.

mod budget;
pub(crate) mod codes;
pub mod limiter;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use rand::Rng;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use url::Url;

use crate::config::{Config, Environment};
use crate::error::{ApiError, Error, ErrorClass, Result};
use crate::scrub::Scrubber;
use limiter::{Limiter, ThrottlePolicy};

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

/// Which page of a list to ask for: TikTok's two paging parameters, the page number `page`
/// (from 1) and `page_size`, the records a page holds.
#[derive(Debug, Clone, Copy)]
pub struct Paging {
    pub(crate) page: u32,
    pub(crate) page_size: u32,
}

impl Paging {
    /// The first page, when pages hold `page_size` records.
    pub fn first(page_size: u32) -> Self {
        Paging { page: 1, page_size }
    }
}

/// One decoded page of a list endpoint.
#[derive(Debug)]
pub struct Page {
    pub records: Vec<Box<RawValue>>,
    pub page: u32,
    /// `page_info.total_page` when TikTok sent it.
    pub total_pages: Option<u32>,
    pub(crate) total_number: Option<u64>,
    /// The answer carried [`ADS_THROTTLE_HEADER`]: the report processed only the most recently
    /// created ads of what it selected, so its rows are incomplete.
    pub ads_throttled: bool,
}

/// TikTok's signal that a report hit its cap of 20,000 most recently created ads (Run a
/// synchronous report, portal doc 1740302848100353). Its value is not documented: any value
/// but an empty, `0` or `false` one counts.
pub(crate) const ADS_THROTTLE_HEADER: &str = "x-tt-ads-throttle";

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
    scrubber: Scrubber,
    limiter: Limiter,
    /// The run's one give-up budget and the endpoints whose daily quota is spent.
    budget: budget::RunBudget,
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
            budget: budget::RunBudget::default(),
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
    /// [`ADS_THROTTLE_HEADER`].
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

    /// One request with retries: throttled answers back off as the limit they name asks
    /// ([`limiter`]), server errors back off this request alone, and `decode` (status, body, ads-throttle header) turns the
    /// answer into a value or a classified error.
    async fn exchange<T>(
        &self,
        path: &str,
        outgoing: Outgoing<'_>,
        decode: impl Fn(u16, &[u8], bool) -> Result<T>,
    ) -> Result<T> {
        let started = tokio::time::Instant::now();
        let mut attempt: u32 = 0;
        let mut malformed: u32 = 0;
        // Throttle answers in a row for this request: its backoff grows with them.
        let mut throttled: u32 = 0;
        loop {
            // TikTok's daily quota is per path: a path whose quota is spent is not asked again
            // this run (the answer would be the same), and every other path goes on.
            if let Some(message) = self.budget.quota_spent(path) {
                return Err(Error::Api(Box::new(ApiError {
                    code: 40100,
                    message,
                    request_id: None,
                    path: path.to_string(),
                    class: ErrorClass::QuotaExhausted,
                    hint: None,
                })));
            }
            self.limiter.acquire().await;
            self.stats.requests.fetch_add(1, Ordering::Relaxed);
            let answer = match self.send_once(path, outgoing).await {
                Ok((status, body, throttled)) => {
                    let answer = decode(status, &body, throttled);
                    self.bodies.give(body);
                    answer
                }
                Err(err) => Err(err),
            };
            let err = match answer {
                Ok(value) => {
                    self.limiter.on_success();
                    self.budget.on_success();
                    return Ok(value);
                }
                Err(err) => err,
            };
            if let Error::Api(api) = &err {
                if api.class == ErrorClass::QuotaExhausted {
                    self.budget.spend_quota(path, &api.message);
                }
            }
            if let Error::Malformed(what) = &err {
                malformed += 1;
                if malformed >= self.options.malformed_attempts.max(1) {
                    return Err(Error::Fatal(format!(
                        "{what}. The same came back {malformed} times in a row, and TikTok's \
                         API never answers like this: check that advanced.base_url points at \
                         the TikTok API and that no proxy rewrites its answers."
                    )));
                }
            }
            let delay = match err.class() {
                ErrorClass::RateLimited => {
                    self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                    throttled += 1;
                    let limit = match &err {
                        Error::Api(api) => codes::throttle_limit(api.code, &api.message),
                        _ => codes::ThrottleLimit::PerSecond,
                    };
                    let pause = self.limiter.on_throttle(limit, throttled);
                    tracing::debug!(path, ?limit, pause_ms = pause.as_millis() as u64, error = %err, "TikTok throttled a request; backing off.");
                    pause
                }
                ErrorClass::Retryable => {
                    let ceiling = self
                        .options
                        .first_retry_delay
                        .saturating_mul(1u32 << attempt.min(16))
                        .min(self.options.max_retry_delay);
                    throttled = 0;
                    ceiling.mul_f64(rand::rng().random_range(0.5..=1.0))
                }
                _ => return Err(err),
            };
            attempt += 1;
            self.stats.retries.fetch_add(1, Ordering::Relaxed);
            // One budget per run: the time this request has failed, or the time no request of
            // the run has succeeded, whichever is longer, so a server that refuses everything
            // ends the run once and not once per query.
            let failing = started.elapsed().max(self.budget.on_failure());
            if failing + delay >= self.options.give_up_after {
                // The time actually spent, and the limit the next pause would have passed.
                return Err(Error::GaveUp(format!(
                    "{path} kept failing for {} seconds ({attempt} attempts), and the next retry \
                     would pass the {}-second limit without progress; the last answer was: {}. \
                     TikTok or the network is unavailable",
                    // Rounded: a budget of 60 s spent to 59.8 s reads as 60, not 59.
                    failing.as_secs_f64().round(),
                    self.options.give_up_after.as_secs(),
                    err.to_string().trim_end_matches('.')
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
    /// [`ADS_THROTTLE_HEADER`]. Redirects are refused, and a body longer than `max_body_bytes`
    /// is cut off (an [`Error::Malformed`]) without being held.
    async fn send_once(&self, path: &str, outgoing: Outgoing<'_>) -> Result<(u16, Vec<u8>, bool)> {
        let mut url = self
            .root
            .join(path)
            .map_err(|e| Error::Fatal(format!("bad API path {path}: {e}")))?;
        if let Outgoing::Get(params) = outgoing {
            let mut query = url.query_pairs_mut();
            for (k, v) in params {
                query.append_pair(k, v);
            }
        }
        let transport = |what: &str, e: reqwest::Error| {
            if let Some(problem) = certificate_problem(&e) {
                return self.certificate_error(path, problem);
            }
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
        let request = match outgoing {
            Outgoing::Get(_) => self.http.get(url.clone()),
            Outgoing::PostJson(body) => self
                .http
                .post(url.clone())
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string()),
        };
        let mut response = request
            .header("Access-Token", &self.token)
            .send()
            .await
            .map_err(|e| transport("Requesting", e))?;
        let status = response.status();
        if status.is_redirection() {
            return Err(redirect_error(path, status.as_u16(), &url, &response));
        }
        let cap = self.options.max_body_bytes;
        // An answer many times TikTok's largest page will be as large on the next try: it is
        // malformed (a few quick tries, then the request fails), not a transient fault.
        let too_long = |announced: Option<u64>| {
            let announced = match announced {
                Some(length) => format!(" (it announced {length} bytes)"),
                None => String::new(),
            };
            Error::Malformed(format!(
                "TikTok's answer to {path} (HTTP {status}) is longer than {} MiB{announced}, far \
                 more than any TikTok page (a few MB at most); the connector stopped reading it",
                cap >> 20,
                status = status.as_u16(),
            ))
        };
        if let Some(length) = response.content_length().filter(|l| *l > cap as u64) {
            return Err(too_long(Some(length)));
        }
        let throttled = ads_throttled(response.headers());
        let mut body = self.bodies.take();
        if let Some(length) = response.content_length() {
            // At most the cap (checked above), so a server's number never sizes more than that.
            body.reserve(usize::try_from(length).unwrap_or(0).min(cap));
        }
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| transport("Reading the answer of", e))?
        {
            if body.len() + chunk.len() > cap {
                // Dropping the response closes the connection: nothing more is read.
                return Err(too_long(None));
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status.as_u16(), body, throttled))
    }

    /// Every page of a list endpoint, as a stream of pages in order. The first page tells the
    /// page count; the rest are fetched `page_concurrency` at a time. Without `page_info`, a
    /// page shorter than `page_size` is the last. Whatever the server claims, paging stops at
    /// `total_page`, at `total_number / page_size + 1` pages, at an empty page, and at a page
    /// that repeats the one before it; the last three are logged, as they mean the server's
    /// answers contradict each other.
    pub fn pages<'a>(
        &'a self,
        path: &'a str,
        params: Params,
        list_key: &'a str,
        page_size: u32,
    ) -> impl futures::Stream<Item = Result<Page>> + Send + 'a {
        let params = Arc::new(params);
        let paging = move |page| Paging { page, page_size };
        let first = {
            let params = params.clone();
            async move { self.page(path, &params, list_key, paging(1)).await }
        };
        futures::stream::once(first)
            .map_ok(move |first| {
                let limit = page_limit(first.total_pages, first.total_number, page_size);
                let more = match limit {
                    Some(limit) => limit > 1,
                    None => first.records.len() as u32 >= page_size,
                };
                let rest: futures::stream::BoxStream<'a, Result<Page>> = if more
                    && !first.records.is_empty()
                {
                    let params = params.clone();
                    let guard = PageGuard {
                        path,
                        previous: fingerprint(&first.records),
                        limit,
                        page_size,
                        done: false,
                    };
                    match limit {
                        Some(limit) => {
                            let mut guard = guard;
                            futures::stream::iter(2..=limit)
                                .map(move |n| {
                                    let params = params.clone();
                                    async move {
                                        self.page(path, &params, list_key, paging(n)).await
                                    }
                                })
                                .buffered(self.options.page_concurrency.max(1))
                                .scan((), move |_, page| futures::future::ready(guard.admit(page)))
                                .boxed()
                        }
                        // Without a count, pages are asked for one at a time, and none after
                        // the one that ends the list.
                        None => futures::stream::unfold(Some((2u32, guard)), move |next| {
                            let params = params.clone();
                            async move {
                                let (n, mut guard) = next?;
                                let page = self.page(path, &params, list_key, paging(n)).await;
                                let item = guard.admit(page)?;
                                let next = n.checked_add(1).filter(|_| !guard.done);
                                Some((item, next.map(|n| (n, guard))))
                            }
                        })
                        .boxed(),
                    }
                } else {
                    futures::stream::empty().boxed()
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
        paging: Paging,
    ) -> Result<Page> {
        let Paging { page, page_size } = paging;
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

/// The most pages a query may have: `total_page`, and never more than
/// `total_number / page_size + 1`. `None` when the server said neither.
pub(crate) fn page_limit(
    total_pages: Option<u32>,
    total_number: Option<u64>,
    page_size: u32,
) -> Option<u32> {
    let by_number = total_number.map(|n| {
        let pages = n / u64::from(page_size.max(1)) + 1;
        u32::try_from(pages).unwrap_or(u32::MAX)
    });
    match (total_pages, by_number) {
        (Some(pages), Some(by_number)) => Some(pages.min(by_number)),
        (pages, by_number) => pages.or(by_number),
    }
}

/// Decides, page by page after the first, whether paging goes on.
struct PageGuard<'a> {
    path: &'a str,
    /// The fingerprint of the previous page's records.
    previous: u64,
    limit: Option<u32>,
    page_size: u32,
    done: bool,
}

impl PageGuard<'_> {
    /// `Some` to pass the item on, `None` to end the stream.
    fn admit(&mut self, page: Result<Page>) -> Option<Result<Page>> {
        if self.done {
            return None;
        }
        let page = match page {
            Ok(page) => page,
            Err(err) => {
                self.done = true;
                return Some(Err(err));
            }
        };
        if page.records.is_empty() {
            if self.limit.is_some_and(|limit| page.page < limit) {
                tracing::warn!(
                    path = self.path,
                    page = page.page,
                    promised = self.limit,
                    "TikTok sent an empty page before the last page it announced; paging stops here."
                );
            }
            return None;
        }
        let fingerprint = fingerprint(&page.records);
        if fingerprint == self.previous {
            tracing::warn!(
                path = self.path,
                page = page.page,
                "TikTok sent the same rows as on the page before; paging stops here rather than \
                 repeating them."
            );
            return None;
        }
        self.previous = fingerprint;
        if self.limit.is_none() && (page.records.len() as u32) < self.page_size {
            self.done = true;
        }
        Some(Ok(page))
    }
}

/// A hash of a page's records, to notice a page that repeats the one before.
fn fingerprint(records: &[Box<RawValue>]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    records.len().hash(&mut hasher);
    for record in records {
        record.get().hash(&mut hasher);
    }
    hasher.finish()
}

/// Splits `data` into its records and `page_info`.
pub fn parse_page(path: &str, data: &RawValue, list_key: &str, page: u32) -> Result<Page> {
    let unreadable = |e: serde_json::Error| {
        Error::Malformed(format!(
            "TikTok's answer to {path} cannot be read: its data object is not a page of \
             `{list_key}` records ({})",
            crate::scrub::echo(&e.to_string())
        ))
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

/// The error for a redirect: names where it pointed (host and port only, never the path or
/// query, which may carry secrets) and says nothing was sent there.
fn redirect_error(path: &str, status: u16, url: &Url, response: &reqwest::Response) -> Error {
    let target = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|l| l.to_str().ok())
        .and_then(|l| url.join(l).ok());
    let host = match &target {
        Some(t) => match (t.host_str(), t.port_or_known_default()) {
            (Some(host), Some(port)) => format!("{host}:{port}"),
            (Some(host), None) => host.to_string(),
            (None, _) => format!("a {} URL without a host", t.scheme()),
        },
        None => "no readable Location".to_string(),
    };
    Error::Transport {
        message: crate::scrub::scrub(&format!(
            "TikTok's answer to {path} is a redirect (HTTP {status}) to {host}. TikTok's API \
             never redirects, so the connector does not follow it and sent nothing there: set \
             advanced.base_url to the API itself."
        ))
        .into_owned(),
        retryable: false,
    }
}

fn null_value() -> Box<RawValue> {
    RawValue::from_string("null".into()).expect("null is JSON")
}

/// Decodes one HTTP answer into `data` (borrowed from the body; `None` when absent) or a
/// classified error. A 2xx body cut short is retried like a dropped connection; a 2xx body
/// that is whole but not a TikTok envelope is [`Error::Malformed`].
pub fn decode_data<'a>(
    path: &str,
    status: u16,
    body: &'a [u8],
    scrubber: &Scrubber,
) -> Result<Option<&'a RawValue>> {
    let envelope: std::result::Result<Envelope<'a>, _> = serde_json::from_slice(body);
    let scrub = |text: &str| crate::scrub::scrub(&scrubber.scrub(text)).into_owned();
    let problem = match envelope {
        Ok(Envelope {
            code: Some(code),
            message,
            request_id,
            data,
        }) => {
            if codes::is_success(code) {
                return Ok(data);
            }
            let (mut class, hint) = codes::classify(code);
            let message = message.as_deref().unwrap_or("(no message)");
            if class == ErrorClass::RateLimited
                && codes::throttle_limit(code, message) == codes::ThrottleLimit::PerDay
            {
                class = ErrorClass::QuotaExhausted;
            }
            return Err(Error::Api(Box::new(ApiError {
                code,
                message: crate::scrub::echo(&scrub(message)),
                request_id: request_id.map(|id| crate::scrub::echo(&scrub(&id))),
                path: path.to_string(),
                class,
                hint,
            })));
        }
        Ok(Envelope { code: None, .. }) => "it has no `code`".to_string(),
        Err(e) if e.is_eof() => String::new(),
        Err(e) => format!(
            "it is not a TikTok envelope ({})",
            crate::scrub::echo(&e.to_string())
        ),
    };
    let text = String::from_utf8_lossy(body);
    // Scrub before cutting, so a secret straddling the cut cannot leak its first half.
    let snippet: String = scrub(&text)
        .chars()
        .take(200)
        .collect::<String>()
        .replace('\n', " ");
    if (200..=299).contains(&status) && !problem.is_empty() {
        return Err(Error::Malformed(format!(
            "TikTok's answer to {path} cannot be read: {problem}: {snippet:?}"
        )));
    }
    let (retryable, what) = match status {
        429 => (true, "throttled (HTTP 429)".to_string()),
        500..=599 => (true, format!("a server error (HTTP {status})")),
        200..=299 => (true, "an incomplete answer".to_string()),
        404 => (
            false,
            "HTTP 404: check advanced.base_url, it must point at the TikTok API root".into(),
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

/// The reason TLS refused the server's certificate (an unknown issuer, an expired or misnamed
/// certificate), when that is why a request failed: asking again cannot help. rustls's error
/// sits in reqwest's source chain inside `io::Error`s (two, today), and an `io::Error`'s
/// `source()` skips what it wraps, so each one is opened with `get_ref`.
fn certificate_problem<'e>(
    err: &'e (dyn std::error::Error + 'static),
) -> Option<&'e rustls::Error> {
    let mut current = Some(err);
    while let Some(err) = current {
        if let Some(tls @ rustls::Error::InvalidCertificate(_)) = err.downcast_ref() {
            return Some(tls);
        }
        current = match err.downcast_ref::<std::io::Error>() {
            Some(io) => io
                .get_ref()
                .map(|inner| inner as &(dyn std::error::Error + 'static)),
            None => err.source(),
        };
    }
    None
}

impl TikTokClient {
    /// The error for a server certificate that could not be verified: not retried, and it says
    /// how to make the connector trust the CA that signed it.
    fn certificate_error(&self, path: &str, problem: &rustls::Error) -> Error {
        let host = self.root.host_str().unwrap_or("the API host");
        Error::Transport {
            message: self.scrub(&format!(
                "Requesting {path} failed: the TLS certificate of {host} could not be verified \
                 ({problem}). If a proxy that inspects TLS or a server with a certificate from \
                 your own CA stands between the connector and TikTok, paste that CA certificate \
                 (PEM) into advanced.ca_certificate, or add it to the system's CA store (or \
                 point SSL_CERT_FILE at a PEM file that holds it). Not retried: the same \
                 certificate would be refused again."
            )),
            retryable: false,
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

/// Parses a JSON value as `T` with a message naming the path on failure.
pub(crate) fn from_raw<T: serde::de::DeserializeOwned>(path: &str, raw: &RawValue) -> Result<T> {
    serde_json::from_str(raw.get()).map_err(|e| Error::Transport {
        message: format!(
            "TikTok's answer to {path} is not what the connector expects: {}",
            crate::scrub::echo(&e.to_string())
        ),
        retryable: false,
    })
}
