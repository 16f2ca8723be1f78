//! The request budget shared by every request of the process. A GCRA limiter (governor) spaces
//! requests at `requests_per_second` with no burst, so TikTok never sees more than the budget in
//! any one-second window. When TikTok throttles anyway (40100, 40016, 40133, HTTP 429), every
//! request pauses for a jittered, growing interval and the rate drops to a fraction of the
//! budget for a minute, then recovers step by step as requests succeed. App-level throttling
//! that repeats within a minute means TikTok's per-minute limit: TikTok advises pausing for
//! about five minutes then, because requests during the restriction extend it, so the limiter
//! pauses every request for [`ThrottlePolicy::minute_pause`] and logs it.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use rand::Rng;
use tokio::time::Instant;

/// How long a slowdown lasts before the rate steps back up.
const SLOWDOWN_PERIOD: Duration = Duration::from_secs(60);
/// The slowest the limiter goes: an eighth of the budget.
const MAX_SLOWDOWN: u32 = 8;
/// App-level throttle answers within a minute that mean the per-minute limit was hit.
pub const REPEATED_THROTTLES: usize = 3;
const MINUTE: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    /// The first pause after a throttle answer.
    pub first_pause: Duration,
    /// The longest pause.
    pub max_pause: Duration,
    /// The pause after repeated app-level throttling within a minute (TikTok's advice after a
    /// per-minute limit: five minutes).
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
    pause_until: Option<Instant>,
    consecutive: u32,
    slowdown: u32,
    slowdown_until: Instant,
    /// When the app-level throttle answers of the last minute came.
    recent: std::collections::VecDeque<Instant>,
}

pub struct Limiter {
    gcra: DefaultDirectRateLimiter,
    period: Duration,
    /// Serialises acquisition so a slowdown spaces the whole process, not each task.
    gate: tokio::sync::Mutex<()>,
    /// Short critical sections only; never held across an await.
    penalty: Mutex<Penalty>,
    policy: ThrottlePolicy,
}

impl Limiter {
    pub fn new(requests_per_second: f64, policy: ThrottlePolicy) -> Self {
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
                consecutive: 0,
                slowdown: 1,
                slowdown_until: Instant::now(),
                recent: Default::default(),
            }),
            policy,
        }
    }

    fn penalty(&self) -> std::sync::MutexGuard<'_, Penalty> {
        // A poisoned lock only means another task panicked mid-update; the numbers are fine.
        self.penalty.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until the budget allows one more request.
    pub async fn acquire(&self) {
        let _turn = self.gate.lock().await;
        loop {
            let pause = self.penalty().pause_until.filter(|p| *p > Instant::now());
            match pause {
                Some(until) => tokio::time::sleep_until(until).await,
                None => break,
            }
        }
        self.gcra.until_ready().await;
        let slowdown = self.current_slowdown();
        if slowdown > 1 {
            tokio::time::sleep(self.period * (slowdown - 1)).await;
        }
    }

    /// The current slowdown factor (1 = full budget).
    pub fn current_slowdown(&self) -> u32 {
        self.penalty().slowdown
    }

    /// TikTok throttled a request: pause everyone and slow down. Returns the pause chosen.
    /// `app_level` is true for the app's limits (40100, 40016), false for an advertiser's
    /// per-second limit (40133), which never calls for the long pause.
    pub fn on_throttle(&self, app_level: bool) -> Duration {
        let now = Instant::now();
        let mut p = self.penalty();
        // Answers to requests sent before the pause began do not escalate it again.
        if p.pause_until.is_some_and(|until| until > now) {
            return p.pause_until.map(|u| u - now).unwrap_or_default();
        }
        if app_level {
            while p
                .recent
                .front()
                .is_some_and(|t| now.duration_since(*t) >= MINUTE)
            {
                p.recent.pop_front();
            }
            p.recent.push_back(now);
            if p.recent.len() >= REPEATED_THROTTLES {
                let throttles = p.recent.len();
                p.recent.clear();
                let pause = self.policy.minute_pause;
                p.pause_until = Some(now + pause);
                p.slowdown = MAX_SLOWDOWN;
                p.slowdown_until = now + pause + SLOWDOWN_PERIOD;
                tracing::warn!(
                    throttles,
                    pause_seconds = pause.as_secs(),
                    "TikTok throttled the app repeatedly within a minute (its per-minute limit): \
                     pausing every request as TikTok advises, since requests during the \
                     restriction would extend it. The capture goes on after the pause."
                );
                return pause;
            }
        }
        p.consecutive = p.consecutive.saturating_add(1);
        let exp = p.consecutive.saturating_sub(1).min(16);
        let ceiling = self
            .policy
            .first_pause
            .saturating_mul(1u32 << exp)
            .min(self.policy.max_pause);
        // Half fixed, half random: spreads retries without ever retrying at once.
        let jitter = rand::rng().random_range(0.5..=1.0);
        let pause = ceiling.mul_f64(jitter);
        p.pause_until = Some(now + pause);
        p.slowdown = (p.slowdown * 2).min(MAX_SLOWDOWN);
        p.slowdown_until = now + SLOWDOWN_PERIOD;
        pause
    }

    /// A request succeeded: forget the throttle streak and, after a quiet period, step the rate
    /// back up.
    pub fn on_success(&self) {
        let now = Instant::now();
        let mut p = self.penalty();
        p.consecutive = 0;
        if p.slowdown > 1 && now >= p.slowdown_until {
            p.slowdown /= 2;
            p.slowdown_until = now + SLOWDOWN_PERIOD / 4;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn throttling_pauses_and_slows_then_recovers() {
        let limiter = Limiter::new(
            100.0,
            ThrottlePolicy {
                first_pause: Duration::from_millis(40),
                max_pause: Duration::from_millis(200),
                minute_pause: Duration::from_secs(300),
            },
        );
        assert_eq!(limiter.current_slowdown(), 1);
        let first = limiter.on_throttle(true);
        assert!(first >= Duration::from_millis(20) && first <= Duration::from_millis(40));
        assert_eq!(limiter.current_slowdown(), 2);
        // A second answer during the pause does not escalate.
        limiter.on_throttle(true);
        assert_eq!(limiter.current_slowdown(), 2);
        let started = std::time::Instant::now();
        limiter.acquire().await;
        assert!(started.elapsed() >= first.saturating_sub(Duration::from_millis(5)));
        // After the pause, the next throttle escalates.
        let second = limiter.on_throttle(true);
        assert_eq!(limiter.current_slowdown(), 4);
        assert!(second <= Duration::from_millis(80));
        limiter.on_success();
        assert_eq!(
            limiter.current_slowdown(),
            4,
            "recovery waits for the quiet period"
        );
    }

    #[tokio::test]
    async fn repeated_app_throttling_within_a_minute_pauses_as_tiktok_advises() {
        let limiter = Limiter::new(
            1000.0,
            ThrottlePolicy {
                first_pause: Duration::from_millis(1),
                max_pause: Duration::from_millis(2),
                minute_pause: Duration::from_millis(400),
            },
        );
        // Advertiser-level throttling (40133) never counts towards the long pause.
        for _ in 0..REPEATED_THROTTLES + 2 {
            let pause = limiter.on_throttle(false);
            assert!(pause <= Duration::from_millis(2));
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        let mut pauses = Vec::new();
        for _ in 0..REPEATED_THROTTLES {
            pauses.push(limiter.on_throttle(true));
            tokio::time::sleep(Duration::from_millis(3)).await;
        }
        assert!(pauses[..REPEATED_THROTTLES - 1]
            .iter()
            .all(|p| *p <= Duration::from_millis(2)));
        assert_eq!(pauses[REPEATED_THROTTLES - 1], Duration::from_millis(400));
        let started = std::time::Instant::now();
        limiter.acquire().await;
        assert!(started.elapsed() >= Duration::from_millis(350));
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
