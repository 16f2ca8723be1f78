//! The client's knobs: retry, timeout and size options, and the largest body it reads.

use std::time::Duration;

use super::limiter::ThrottlePolicy;

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
