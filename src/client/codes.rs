//! The table of TikTok response codes and what the connector does about each. The
//! client classifies every non-zero code through [`classify`]; nothing else looks at
//! raw codes except the few callers that treat one code specially (40002 for the hourly
//! audience refusal, 40067 for window halving).

use crate::error::ErrorClass;

/// One row: a code, its class and, for the ones a user can fix, what to do.
pub(crate) struct CodeRule {
    pub(crate) code: i64,
    pub(crate) class: ErrorClass,
    pub(crate) hint: Option<&'static str>,
}

const fn rule(code: i64, class: ErrorClass, hint: Option<&'static str>) -> CodeRule {
    CodeRule { code, class, hint }
}

const REAUTH: &str = "Re-authenticate the capture with TikTok (a new access token), and check \
                      that the token was issued for this app";
const APP: &str = "Check credentials.client_id and credentials.client_secret: they must be the \
                   App ID and secret of the app that issued the access token";
const PERMISSION: &str = "The token cannot read this ad account or resource: grant the app access \
                          to it in TikTok for Business, or remove it from advanced.advertiser_ids";

use ErrorClass::*;

pub(crate) const CODES: &[CodeRule] = &[
    rule(40100, RateLimited, None),
    rule(40016, RateLimited, None),
    rule(40133, RateLimited, None),
    rule(40067, QueryTooLarge, None),
    rule(60001, Retryable, None),
    rule(40101, Auth, Some(APP)),
    rule(40113, Auth, Some(APP)),
    rule(40102, Auth, Some(REAUTH)),
    rule(40104, Auth, Some(REAUTH)),
    rule(40105, Auth, Some(REAUTH)),
    rule(40106, Auth, Some(REAUTH)),
    rule(40001, Permission, Some(PERMISSION)),
    rule(40007, Permission, Some(PERMISSION)),
    rule(40118, Permission, Some(PERMISSION)),
    rule(40119, Permission, Some(PERMISSION)),
    rule(40125, Permission, Some(PERMISSION)),
    rule(40300, Permission, Some(PERMISSION)),
    rule(40301, Permission, Some(PERMISSION)),
    rule(
        40013,
        Config,
        Some("The sandbox ad account does not exist: check credentials.advertiser_id"),
    ),
    rule(
        40008,
        Fatal,
        Some("TikTok does not offer this in the sandbox: disable the binding or use production credentials"),
    ),
    rule(
        40014,
        Fatal,
        Some("TikTok does not offer this in the sandbox: disable the binding or use production credentials"),
    ),
    rule(
        40009,
        Fatal,
        Some("TikTok does not offer this in the sandbox: disable the binding or use production credentials"),
    ),
];

/// The class of a TikTok code and the hint for the user, if any. Codes outside the table:
/// 5xxxx are TikTok server errors (retried), every other code is fatal for the request.
pub(crate) fn classify(code: i64) -> (ErrorClass, Option<&'static str>) {
    if let Some(rule) = CODES.iter().find(|r| r.code == code) {
        return (rule.class, rule.hint);
    }
    if (50000..60000).contains(&code) {
        return (Retryable, None);
    }
    (Fatal, None)
}

/// The permission scope (as TikTok names it in an app's "Scope of permission") that opens the
/// endpoint at `path`, for the message of a binding whose every advertiser was refused
/// (<https://business-api.tiktok.com/portal/docs?id=1753986142651394>).
pub(crate) fn permission_scope(path: &str) -> Option<&'static str> {
    const SCOPES: &[(&str, &[&str])] = &[
        ("Reporting", &["report/integrated/get/"]),
        (
            "Ads Management",
            &["campaign/get/", "adgroup/get/", "ad/get/"],
        ),
        ("Ad Account Management", &["advertiser/info/"]),
        ("Audience Management", &["dmp/custom_audience/list/"]),
        (
            "Creative Management",
            &[
                "file/image/ad/search/",
                "file/video/ad/search/",
                "file/music/get/",
                "creative/portfolio/list/",
                "tt_video/list/",
            ],
        ),
        (
            "Pixel Management",
            &[
                "pixel/list/",
                "pixel/event/stats/",
                "pixel/instant_page/event/",
            ],
        ),
    ];
    SCOPES
        .iter()
        .find(|(_, paths)| paths.contains(&path))
        .map(|(scope, _)| *scope)
}

/// Which of TikTok's limits a throttle answer is about. TikTok uses one code (40100, or 40016)
/// for the app's per-second, per-minute and per-day limits and tells them apart in the message
/// only, which names the limit by its acronym ("App … reaches the QPS limit 10, current QPS is
/// 11"); each asks for a different wait: "retry next second" for QPS, a pause of about five
/// minutes for QPM, 00:00 UTC for QPD (Rate limits,
/// <https://business-api.tiktok.com/portal/docs?id=1740029171730433>). 40133 is an ad account's
/// own per-second limit for one path, which concerns that account's requests only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ThrottleLimit {
    /// The app's per-second limit, or a throttle whose message names no limit (TikTok's
    /// generic "Requests made too frequently", an HTTP 429): retried after a short, growing,
    /// jittered backoff while the whole process slows down.
    PerSecond,
    /// The app's per-minute limit: every request pauses about five minutes.
    PerMinute,
    /// The app's daily limit: nothing succeeds before 00:00 UTC.
    PerDay,
    /// One ad account's per-second limit for one path (40133): that request backs off alone.
    Advertiser,
}

/// The limit a throttle answer (`code` classified [`ErrorClass::RateLimited`]) is about, from
/// its code and the acronym its message names. Only the acronym counts, as a word of its own
/// in any case: a message that merely says "daily" or "minute" names no limit and is treated
/// as the per-second one, whose short backoff is the safe reading of an unknown throttle.
pub(crate) fn throttle_limit(code: i64, message: &str) -> ThrottleLimit {
    if code == 40133 {
        return ThrottleLimit::Advertiser;
    }
    let names = |acronym: &str| {
        message
            .split(|c: char| !c.is_ascii_alphanumeric())
            .any(|word| word.eq_ignore_ascii_case(acronym))
    };
    if names("QPD") {
        ThrottleLimit::PerDay
    } else if names("QPM") {
        ThrottleLimit::PerMinute
    } else {
        ThrottleLimit::PerSecond
    }
}

/// `20001` is a partial success: the data is good, TikTok just says some of it is missing.
pub(crate) fn is_success(code: i64) -> bool {
    code == 0 || code == 20001
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn codes_are_unique() {
        let mut seen = HashSet::new();
        for rule in CODES {
            assert!(seen.insert(rule.code), "{} twice", rule.code);
        }
    }

    #[test]
    fn the_documented_codes_get_the_documented_action() {
        assert_eq!(classify(40100).0, RateLimited);
        assert_eq!(classify(40016).0, RateLimited);
        assert_eq!(classify(40133).0, RateLimited);
        assert_eq!(classify(50000).0, Retryable);
        assert_eq!(classify(50002).0, Retryable);
        assert_eq!(classify(51002).0, Retryable);
        assert_eq!(classify(51305).0, Retryable);
        assert_eq!(classify(60001).0, Retryable);
        assert_eq!(classify(40067).0, QueryTooLarge);
        assert_eq!(classify(40105).0, Auth);
        assert_eq!(classify(40001).0, Permission);
        assert_eq!(classify(40002).0, Fatal);
        assert!(is_success(20001));
    }

    #[test]
    fn the_daily_quota_is_told_from_the_other_limits_by_its_message() {
        use ThrottleLimit::*;
        assert_eq!(
            throttle_limit(
                40100,
                "Requests made too frequently. The app reaches the daily limit (QPD) 1000 for current path"
            ),
            PerDay
        );
        assert_eq!(
            throttle_limit(
                40100,
                "Requests made too frequently. Please try again later."
            ),
            PerSecond
        );
        assert_eq!(
            throttle_limit(40100, "The app reaches the QPM limit 30 for current path"),
            PerMinute
        );
    }

    /// TikTok's own texts for each limit, and the texts that only look like one.
    #[test]
    fn each_limit_is_named_by_its_acronym_and_nothing_else() {
        use ThrottleLimit::*;
        let cases = [
            // QPS, as TikTok words it (the app id and figures vary).
            (40100, "App 7055107885017071618 reaches the QPS limit 10, current QPS is 11.", PerSecond),
            (40100, "Due to too many requests, requests from App 123 are temporarily restricted.", PerSecond),
            (40016, "Too many requests", PerSecond),
            (40100, "The app reaches the QPM limit 600 for current path, request is temporarily restricted.", PerMinute),
            (40016, "qpm limit reached", PerMinute),
            (40100, "The app reaches the daily limit (QPD) 864000, restricted until 00:00:00 UTC+0.", PerDay),
            // Words are not acronyms: "daily" alone, or QPD inside another word, name nothing.
            (40100, "Too many requests today; the daily budget is shared by every app.", PerSecond),
            (40100, "Requests per day are high: try again after a minute", PerSecond),
            (40100, "Error QPDX at gateway-qpm1", PerSecond),
            // 40133 is the ad account's own limit, whatever the message says.
            (40133, "Advertiser (7)'s QPS (21) reaches QPS limit 20 for current path, request is temporarily restricted.", Advertiser),
            (40133, "QPD", Advertiser),
        ];
        for (code, message, want) in cases {
            assert_eq!(throttle_limit(code, message), want, "{code} {message:?}");
        }
    }

    #[test]
    fn every_user_facing_class_has_a_hint() {
        for rule in CODES {
            if matches!(rule.class, Auth | Permission | Config) {
                assert!(rule.hint.is_some(), "{} has no hint", rule.code);
            }
        }
    }
}
