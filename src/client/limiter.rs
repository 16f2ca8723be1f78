//! The request budget shared by every request of the process. A GCRA limiter (governor) spaces
//! requests at `requests_per_second` with no burst, so TikTok never sees more than the budget in
//! any one-second window. When TikTok throttles anyway, what happens depends on the limit its
//! message names ([`ThrottleLimit`]; Rate limits,
//! <https://business-api.tiktok.com/portal/docs?id=1740029171730433>):
//!
//! - the app's per-second limit, or a throttle that names no limit: TikTok says to retry the
//!   next second. The throttled request alone waits a jittered backoff that grows by half with
//!   each throttle it gets in a row ([`BACKOFF_GROWTH`]: 1 s, 1.5 s, 2.25 s, ... at most
//!   [`ThrottlePolicy::max_pause`], never the five-minute pause; a request that meets another's
//!   throttles by bad luck is not sent to the back of the queue for half a minute), and the
//!   whole process slows down by the share of recent answers
//!   that were throttles: when TikTok refuses a fifth of the requests, the app is over what it
//!   may send by about a fifth, so the limiter sends a fifth less ([`Limiter::slowdown`]). The
//!   share is taken over the last [`SHARE_WINDOW`] answers of the last minute, so the rate
//!   recovers as answers succeed and comes back whole after a quiet minute.
//! - the app's per-minute limit: TikTok advises pausing about five minutes, because requests
//!   during the restriction extend it, so every request pauses for
//!   [`ThrottlePolicy::minute_pause`], then runs at an eighth of the budget for a minute.
//! - one ad account's per-second limit (40133): that request backs off alone; nothing else of
//!   the process slows down.
//! - the daily limit never reaches the limiter: the client ends the run at its checkpoint.

use std::collections::VecDeque;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::Rng;
use tokio::time::Instant;

pub(crate) use super::codes::ThrottleLimit;

/// How long a throttle answer counts towards the slowdown, and how long the slowest rate lasts
/// after a per-minute pause.
const SLOWDOWN_PERIOD: Duration = Duration::from_secs(60);
/// The slowest the limiter goes: an eighth of the budget.
pub(crate) const MAX_SLOWDOWN: f64 = 8.0;
/// How much a request's throttle backoff grows with each throttle it gets in a row.
pub(crate) const BACKOFF_GROWTH: f64 = 1.5;
/// The answers (throttled or not) the share of throttles is taken over.
pub(crate) const SHARE_WINDOW: usize = 64;
/// The share is never taken over fewer answers than this, so one throttle among the first
/// answers of a run slows it a little, not to the slowest rate.
const MIN_SHARE_SAMPLES: usize = 10;

#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    /// The backoff ceiling of a request's first throttle (TikTok: retry the next second).
    pub first_pause: Duration,
    /// The longest backoff of one request under per-second throttling.
    pub max_pause: Duration,
    /// The pause of every request after a per-minute limit (TikTok's advice: five minutes).
    pub minute_pause: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        ThrottlePolicy {
            first_pause: Duration::from_secs(1),
            max_pause: Duration::from_secs(60),
            minute_pause: Duration::from_secs(300),
        }
    }
}

struct Penalty {
    /// Every request waits until then (a per-minute pause).
    pause_until: Option<Instant>,
    /// The slowest rate holds until then (after a per-minute pause).
    slowest_until: Option<Instant>,
    /// The app's recent answers: when, and whether TikTok throttled it.
    recent: VecDeque<(Instant, bool)>,
}

impl Penalty {
    fn record(&mut self, now: Instant, throttled: bool) {
        self.forget(now);
        if self.recent.len() == SHARE_WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back((now, throttled));
    }

    fn forget(&mut self, now: Instant) {
        while self
            .recent
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) >= SLOWDOWN_PERIOD)
        {
            self.recent.pop_front();
        }
    }

    /// The factor the request interval is stretched by (1 = the full budget).
    fn slowdown(&mut self, now: Instant) -> f64 {
        if self.slowest_until.is_some_and(|until| until > now) {
            return MAX_SLOWDOWN;
        }
        self.forget(now);
        let throttled = self.recent.iter().filter(|(_, t)| *t).count();
        if throttled == 0 {
            return 1.0;
        }
        let share = throttled as f64 / self.recent.len().max(MIN_SHARE_SAMPLES) as f64;
        (1.0 / (1.0 - share).max(1.0 / MAX_SLOWDOWN)).clamp(1.0, MAX_SLOWDOWN)
    }
}

pub(crate) struct Limiter {
    gcra: DefaultDirectRateLimiter,
    period: Duration,
    /// Serialises acquisition so a slowdown spaces the whole process, not each task.
    gate: tokio::sync::Mutex<()>,
    /// Short critical sections only; never held across an await.
    penalty: Mutex<Penalty>,
    policy: ThrottlePolicy,
}

impl Limiter {
    pub(crate) fn new(requests_per_second: f64, policy: ThrottlePolicy) -> Self {
        // The config refuses rates outside these bounds; the clamp keeps a limiter built any
        // other way from a period too long for `Duration` or too short to mean anything.
        let rps = if requests_per_second.is_finite() {
            requests_per_second.clamp(
                crate::config::MIN_REQUESTS_PER_SECOND,
                crate::config::MAX_REQUESTS_PER_SECOND,
            )
        } else {
            1.0
        };
        let period = Duration::from_secs_f64(1.0 / rps);
        let quota = Quota::with_period(period)
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(NonZeroU32::MIN);
        Limiter {
            gcra: RateLimiter::direct(quota),
            period,
            gate: tokio::sync::Mutex::new(()),
            penalty: Mutex::new(Penalty {
                pause_until: None,
                slowest_until: None,
                recent: VecDeque::with_capacity(SHARE_WINDOW),
            }),
            policy,
        }
    }

    fn penalty(&self) -> std::sync::MutexGuard<'_, Penalty> {
        // A poisoned lock only means another task panicked mid-update; the numbers are fine.
        self.penalty.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until the budget allows one more request.
    pub(crate) async fn acquire(&self) {
        let _turn = self.gate.lock().await;
        loop {
            let pause = self.penalty().pause_until.filter(|p| *p > Instant::now());
            match pause {
                Some(until) => tokio::time::sleep_until(until).await,
                None => break,
            }
        }
        self.gcra.until_ready().await;
        let slowdown = self.slowdown();
        if slowdown > 1.0 {
            tokio::time::sleep(self.period.mul_f64(slowdown - 1.0)).await;
        }
    }

    /// The factor the request interval is currently stretched by (1 = the full budget, at most
    /// [`MAX_SLOWDOWN`]).
    pub(crate) fn slowdown(&self) -> f64 {
        self.penalty().slowdown(Instant::now())
    }

    /// TikTok throttled a request under `limit`, the `streak`-th time in a row for this request
    /// (1 for its first). Returns how long that request waits before it is sent again (zero
    /// after a per-minute limit: then every request waits, in [`Limiter::acquire`]).
    pub(crate) fn on_throttle(&self, limit: ThrottleLimit, streak: u32) -> Duration {
        let now = Instant::now();
        let backoff = || {
            let exp = streak.saturating_sub(1).min(64) as i32;
            let ceiling = Duration::from_secs_f64(
                (self.policy.first_pause.as_secs_f64() * BACKOFF_GROWTH.powi(exp))
                    .min(self.policy.max_pause.as_secs_f64()),
            );
            // Half fixed, half random: spreads retries without ever retrying at once.
            ceiling.mul_f64(rand::rng().random_range(0.5..=1.0))
        };
        match limit {
            ThrottleLimit::Advertiser => backoff(),
            ThrottleLimit::PerSecond | ThrottleLimit::PerDay => {
                self.penalty().record(now, true);
                backoff()
            }
            ThrottleLimit::PerMinute => {
                let mut p = self.penalty();
                p.record(now, true);
                // Answers to requests sent before the pause began do not start it again.
                if p.pause_until.is_some_and(|until| until > now) {
                    return Duration::ZERO;
                }
                let pause = self.policy.minute_pause;
                p.pause_until = Some(now + pause);
                p.slowest_until = Some(now + pause + SLOWDOWN_PERIOD);
                drop(p);
                tracing::warn!(
                    pause_seconds = pause.as_secs(),
                    "TikTok says the app reached its per-minute limit (QPM): pausing every \
                     request for {} s as TikTok advises, since requests during the restriction \
                     would extend it. The capture goes on after the pause.",
                    pause.as_secs()
                );
                Duration::ZERO
            }
        }
    }

    /// A request succeeded: it counts towards the share of answers that were not throttled.
    pub(crate) fn on_success(&self) {
        self.penalty().record(Instant::now(), false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(first_ms: u64, max_ms: u64, minute_ms: u64) -> ThrottlePolicy {
        ThrottlePolicy {
            first_pause: Duration::from_millis(first_ms),
            max_pause: Duration::from_millis(max_ms),
            minute_pause: Duration::from_millis(minute_ms),
        }
    }

    #[tokio::test]
    async fn a_per_second_throttle_backs_the_request_off_and_slows_the_rest_by_the_share() {
        let limiter = Limiter::new(100.0, policy(40, 200, 300_000));
        assert_eq!(limiter.slowdown(), 1.0);
        // The throttled request waits its own jittered backoff, growing with its streak.
        let first = limiter.on_throttle(ThrottleLimit::PerSecond, 1);
        assert!(first >= Duration::from_millis(20) && first <= Duration::from_millis(40));
        let second = limiter.on_throttle(ThrottleLimit::PerSecond, 2);
        assert!(second >= Duration::from_millis(30) && second <= Duration::from_millis(60));
        let long = limiter.on_throttle(ThrottleLimit::PerSecond, 30);
        assert!(long >= Duration::from_millis(100) && long <= Duration::from_millis(200));
        // Three throttles of the minimum ten answers: the rate drops by that share.
        assert!(
            (limiter.slowdown() - 1.0 / 0.7).abs() < 1e-9,
            "{}",
            limiter.slowdown()
        );
        // The others are not held: one interval (10 ms) and the slowdown (4.3 ms) at most.
        let started = std::time::Instant::now();
        limiter.acquire().await;
        assert!(
            started.elapsed() < Duration::from_millis(20),
            "{:?}",
            started.elapsed()
        );
        // Successes bring the rate back, answer by answer.
        let mut last = limiter.slowdown();
        for _ in 0..SHARE_WINDOW {
            limiter.on_success();
            let now = limiter.slowdown();
            assert!(now <= last);
            last = now;
        }
        assert_eq!(limiter.slowdown(), 1.0, "the throttles left the window");
    }

    #[test]
    fn the_slowdown_is_the_share_of_throttled_answers() {
        // A server that refuses every 5th request slows the rate by a fifth, every 2nd by half.
        for (every, want) in [(5, 1.25), (2, 2.0), (1, MAX_SLOWDOWN)] {
            let limiter = Limiter::new(10.0, policy(1, 2, 300_000));
            for n in 1..=SHARE_WINDOW * 3 {
                if n % every == 0 {
                    limiter.on_throttle(ThrottleLimit::PerSecond, 1);
                } else {
                    limiter.on_success();
                }
            }
            let got = limiter.slowdown();
            assert!((got - want).abs() < 0.05, "every {every}: {got}");
        }
    }

    #[tokio::test]
    async fn only_a_per_minute_limit_pauses_every_request() {
        let limiter = Limiter::new(1000.0, policy(1, 2, 400));
        // However often a throttle names no limit (or the per-second one), or an ad account's
        // limit, no request but the throttled one waits, and never the long pause.
        for streak in 1..=40 {
            let pause = limiter.on_throttle(ThrottleLimit::PerSecond, streak);
            assert!(pause <= Duration::from_millis(2), "{pause:?}");
            let pause = limiter.on_throttle(ThrottleLimit::Advertiser, streak);
            assert!(pause <= Duration::from_millis(2), "{pause:?}");
        }
        let started = std::time::Instant::now();
        limiter.acquire().await;
        // The slowest rate (8 ms here), not the 400 ms pause.
        assert!(
            started.elapsed() < Duration::from_millis(200),
            "{:?}",
            started.elapsed()
        );
        // The per-minute limit pauses everyone, once however many answers name it.
        assert_eq!(
            limiter.on_throttle(ThrottleLimit::PerMinute, 1),
            Duration::ZERO
        );
        assert_eq!(
            limiter.on_throttle(ThrottleLimit::PerMinute, 1),
            Duration::ZERO
        );
        let started = std::time::Instant::now();
        limiter.acquire().await;
        assert!(
            started.elapsed() >= Duration::from_millis(350),
            "{:?}",
            started.elapsed()
        );
        assert!(
            started.elapsed() < Duration::from_millis(800),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(
            limiter.slowdown(),
            MAX_SLOWDOWN,
            "the slowest rate follows the pause"
        );
    }

    #[test]
    fn an_ad_accounts_limit_does_not_slow_the_app() {
        let limiter = Limiter::new(10.0, policy(1, 2, 300_000));
        for streak in 1..=20 {
            limiter.on_throttle(ThrottleLimit::Advertiser, streak);
        }
        assert_eq!(limiter.slowdown(), 1.0);
    }

    #[tokio::test]
    async fn requests_are_spaced_at_the_budget() {
        let limiter = Limiter::new(50.0, ThrottlePolicy::default());
        let started = std::time::Instant::now();
        for _ in 0..6 {
            limiter.acquire().await;
        }
        // Five intervals of 20 ms after the first request.
        assert!(
            started.elapsed() >= Duration::from_millis(90),
            "{:?}",
            started.elapsed()
        );
    }
}
