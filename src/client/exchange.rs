//! [`TikTokClient`] and its requests: the connection pool, the `Access-Token` header, one
//! request with retries (throttled answers back off as the limit they name asks, server errors
//! back off this request alone), and one HTTP exchange (redirects refused, bodies bounded).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use serde_json::value::RawValue;
use serde_json::Value;
use url::Url;

use super::codes;
use super::envelope::{decode_data, null_value};
use super::limiter::Limiter;
use super::options::ClientOptions;
use super::transport::{ads_throttled, certificate_problem, error_chain, redirect_error};
use crate::config::{Config, Environment};
use crate::error::{ApiError, Error, ErrorClass, Result};
use crate::scrub::Scrubber;

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
    budget: super::budget::RunBudget,
    pub(super) options: ClientOptions,
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
            budget: super::budget::RunBudget::default(),
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
    /// as the limit they name asks ([`limiter`](super::limiter)); server errors back off this request alone. Fails when the request has
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
    /// [`ADS_THROTTLE_HEADER`](super::transport::ADS_THROTTLE_HEADER).
    pub(super) async fn get_with_signal<T>(
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
    /// ([`limiter`](super::limiter)), server errors back off this request alone, and `decode`
    /// (status, body, ads-throttle header) turns the answer into a value or a classified error.
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
                return Err(quota_spent(path, message));
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
            let Some(delay) = self.retry_delay(path, &err, attempt, &mut throttled) else {
                return Err(err);
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

    /// How long to wait before asking again after `err`, or `None` when it is not retried:
    /// throttled answers back off as the limit they name asks (`throttled` counts them in a
    /// row for this request), server errors back off this request alone, doubling from
    /// `first_retry_delay` up to `max_retry_delay`, with jitter.
    fn retry_delay(
        &self,
        path: &str,
        err: &Error,
        attempt: u32,
        throttled: &mut u32,
    ) -> Option<Duration> {
        match err.class() {
            ErrorClass::RateLimited => {
                self.stats.throttled.fetch_add(1, Ordering::Relaxed);
                *throttled += 1;
                let limit = match err {
                    Error::Api(api) => codes::throttle_limit(api.code, &api.message),
                    _ => codes::ThrottleLimit::PerSecond,
                };
                let pause = self.limiter.on_throttle(limit, *throttled);
                tracing::debug!(path, ?limit, pause_ms = pause.as_millis() as u64, error = %err, "TikTok throttled a request; backing off.");
                Some(pause)
            }
            ErrorClass::Retryable => {
                let ceiling = self
                    .options
                    .first_retry_delay
                    .saturating_mul(1u32 << attempt.min(16))
                    .min(self.options.max_retry_delay);
                *throttled = 0;
                Some(ceiling.mul_f64(rand::rng().random_range(0.5..=1.0)))
            }
            _ => None,
        }
    }

    /// One HTTP exchange: the status, the whole body and whether it carried
    /// [`ADS_THROTTLE_HEADER`](super::transport::ADS_THROTTLE_HEADER). Redirects are refused, and
    /// a body longer than `max_body_bytes` is cut off (an [`Error::Malformed`]) without being
    /// held.
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

/// The error a request to `path` meets, unsent, once TikTok said that path's daily quota is
/// spent (`message`: TikTok's words).
fn quota_spent(path: &str, message: String) -> Error {
    Error::Api(Box::new(ApiError {
        code: 40100,
        message,
        request_id: None,
        path: path.to_string(),
        class: ErrorClass::QuotaExhausted,
        hint: None,
    }))
}
