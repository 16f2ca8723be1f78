//! One request with retries (throttled answers back off as the limit they name asks, server
//! errors back off this request alone), one HTTP exchange (redirects refused, bodies bounded,
//! TikTok's ads-throttle header read), and the transport errors, certificate problems named
//! with their fix.

use std::sync::atomic::Ordering;

use rand::Rng;
use url::Url;

use super::{codes, Outgoing, TikTokClient};
use crate::error::{Error, ErrorClass, Result};

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

impl TikTokClient {
    /// One request with retries: throttled answers back off as the limit they name asks
    /// ([`limiter`](super::limiter)), server errors back off this request alone, and `decode`
    /// (status, body, ads-throttle header) turns the answer into a value or a classified error.
    pub(super) async fn exchange<T>(
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
                    return Ok(value);
                }
                Err(err) => err,
            };
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
            if started.elapsed() + delay >= self.options.give_up_after {
                // The time actually spent, and the limit the next pause would have passed.
                return Err(Error::GaveUp(format!(
                    "{path} kept failing for {} seconds ({attempt} attempts), and the next retry \
                     would pass the {}-second limit without progress; the last answer was: {}. \
                     TikTok or the network is unavailable",
                    // Rounded: a budget of 60 s spent to 59.8 s reads as 60, not 59.
                    started.elapsed().as_secs_f64().round(),
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
