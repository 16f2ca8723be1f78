//! Fault injection, a layer around the endpoints ([`FaultLayer`]): which requests a
//! [`FaultRule`] applies to and what it does to them (answer in the endpoint's place, refuse an
//! advertiser or a window, slow, cut or drop the answer), the realistic message of each
//! injected TikTok code, and the small text syntax of `--fault` (`40100/5`, `http504/10`,
//! `drop/7`, `truncate/9`, `slow=30000/11`, `40067>7`, `noperm=ID`, `storm=70000`, `qps/2`,
//! `qpm/5`, `qpd/9`, each optionally followed by `@path,path` to restrict it to some endpoints).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::report::window_days;
use super::server::{json_id, parse_date, ApiError, Params, REPORT_PATH};
use super::{Fault, FaultRule, Limit};

/// The fault rules of a server, each with its count of the requests it matched.
pub(crate) struct FaultLayer {
    rules: Vec<FaultRule>,
    counts: Vec<AtomicU64>,
    /// When the server started: a [`Fault::RateLimitStorm`] lasts from then.
    started: Instant,
}

/// How the body of an answer is delivered.
#[derive(Default)]
pub(crate) struct Delivery {
    pub(crate) slow: Option<Duration>,
    pub(crate) drop: bool,
    pub(crate) truncate: bool,
    /// The answer carries `X-Tt-Ads-Throttle`: the report left out ads beyond the cap.
    pub(crate) ads_throttled: bool,
}

/// What the fault layer does to one request: how its answer is delivered, and the fault that
/// answers in the endpoint's place (a [`Fault::Code`] or a [`Fault::Http`]), if any.
pub(crate) struct Injected {
    pub(crate) delivery: Delivery,
    pub(crate) forced: Option<Fault>,
}

impl FaultLayer {
    pub(crate) fn new(rules: Vec<FaultRule>) -> FaultLayer {
        FaultLayer {
            counts: rules.iter().map(|_| AtomicU64::new(0)).collect(),
            rules,
            started: Instant::now(),
        }
    }

    /// The faults of a request to `rel`: every rule that matches it counts it, and those whose
    /// turn it is (every `every`th matching request) apply. The first answering fault wins;
    /// the slowest delay wins. The rules about advertisers and windows answer later, after the
    /// token check ([`FaultLayer::refusal`]).
    pub(crate) fn draw(&self, rel: &str) -> Injected {
        let mut delivery = Delivery::default();
        let mut forced: Option<Fault> = None;
        for (rule, counter) in self.rules.iter().zip(&self.counts) {
            if !rule.matches(rel) {
                continue;
            }
            match &rule.fault {
                Fault::RateLimitStorm(d) => {
                    if self.started.elapsed() < *d && forced.is_none() {
                        forced = Some(Fault::Code(40100));
                    }
                }
                Fault::QueryTooLarge { .. } | Fault::NoPermission { .. } => {}
                fault => {
                    let count = counter.fetch_add(1, Ordering::Relaxed) + 1;
                    if count % rule.every.max(1) as u64 != 0 {
                        continue;
                    }
                    match fault {
                        Fault::Slow(d) => {
                            delivery.slow = Some(delivery.slow.unwrap_or_default().max(*d))
                        }
                        Fault::DropConnection => delivery.drop = true,
                        Fault::TruncatedJson => delivery.truncate = true,
                        other => {
                            if forced.is_none() {
                                forced = Some(other.clone());
                            }
                        }
                    }
                }
            }
        }
        Injected { delivery, forced }
    }

    /// The refusal of the rules about advertisers ([`Fault::NoPermission`]: 40001 for every
    /// request naming the advertiser) and report windows ([`Fault::QueryTooLarge`]: 40067 for a
    /// report window longer than `max_days`, lifetime queries excepted).
    pub(crate) fn refusal(&self, rel: &str, params: &Params) -> Result<(), ApiError> {
        for rule in &self.rules {
            if !rule.matches(rel) {
                continue;
            }
            match rule.fault {
                Fault::NoPermission { advertiser_id }
                    if mentions_advertiser(params, advertiser_id) =>
                {
                    return Err((40001, code_message(40001, Some(&advertiser_id.to_string()))));
                }
                Fault::QueryTooLarge { max_days } if rel == REPORT_PATH => {
                    let start = params.get("start_date").and_then(|d| parse_date(d));
                    let end = params.get("end_date").and_then(|d| parse_date(d));
                    if let (Some(s), Some(e)) = (start, end) {
                        if window_days(s, e) > max_days as i64
                            && params.get("query_lifetime").map(String::as_str) != Some("true")
                        {
                            return Err((40067, code_message(40067, None)));
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// Does the request name this advertiser, in `advertiser_id` or in `advertiser_ids`?
fn mentions_advertiser(params: &Params, id: u64) -> bool {
    let id = id.to_string();
    params.get("advertiser_id") == Some(&id)
        || params
            .get("advertiser_ids")
            .and_then(|v| serde_json::from_str::<Value>(v).ok())
            .and_then(|v| v.as_array().cloned())
            .is_some_and(|ids| {
                ids.iter()
                    .any(|x| json_id(x).as_deref() == Some(id.as_str()))
            })
}

/// The API path of a request relative to `/open_api/v1.3/`, without a leading slash.
pub(crate) fn normalize_path(path: &str) -> &str {
    let p = path.trim_start_matches('/');
    p.strip_prefix("open_api/v1.3/").unwrap_or(p)
}

impl FaultRule {
    /// Does this rule look at requests to `rel_path` (relative to `/open_api/v1.3/`)?
    pub(crate) fn matches(&self, rel_path: &str) -> bool {
        match &self.paths {
            None => true,
            Some(paths) => paths.iter().any(|p| {
                let p = normalize_path(p);
                rel_path == p || rel_path.trim_end_matches('/') == p.trim_end_matches('/')
            }),
        }
    }
}

/// The message TikTok sends with a code.
pub(crate) fn code_message(code: i64, advertiser_id: Option<&str>) -> String {
    match code {
        40100 => "Requests made too frequently. Please try again later. Requests from App are temporarily restricted.".into(),
        40016 => "The request frequency of this API exceeds the limit of your app. Please try again later.".into(),
        40133 => format!(
            "Advertiser ({})'s QPS (21) reaches QPS limit 20 for current path, request is temporarily restricted.",
            advertiser_id.unwrap_or("0")
        ),
        40067 => "Your query is too large, please reduce the query size (e.g. fewer metrics or time range) and retry after a while.".into(),
        40001 => format!(
            "No permission to operate advertiser {}. Please check the advertiser authorization.",
            advertiser_id.unwrap_or("")
        ),
        40002 => "Parameter error.".into(),
        40102 => "Access token is expired.".into(),
        40105 => "Access token is incorrect or has been revoked.".into(),
        50000 => "System error.".into(),
        50002 => "Error processing request on TikTok side, please try again later.".into(),
        51002 => "internal error".into(),
        51305 => "Satellite service error, please try again later.".into(),
        60001 => "The system is under maintenance. Please try again later.".into(),
        other => format!("Simulated error {other}."),
    }
}

/// The message of a 40100 for one of the app's limits, at the Basic tier's figures (10 QPS, 600
/// QPM, 864,000 QPD; Rate limits, portal doc 1740029171730433). The QPS text is TikTok's as
/// users report it ("App … reaches the QPS limit 10, current QPS is 11"); the QPM and QPD texts
/// are the simulator's, naming the limit the same way.
pub(crate) fn throttle_message(limit: Limit, app_id: &str) -> String {
    match limit {
        Limit::Qps => format!("App {app_id} reaches the QPS limit 10, current QPS is 11."),
        Limit::Qpm => crate::rules::per_minute_message(600),
        Limit::Qpd => crate::rules::per_day_message(864_000),
    }
}

/// The HTML body of an HTTP fault, like a gateway's.
pub(crate) fn html_body(status: u16) -> String {
    let reason = match status {
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Time-out",
        405 => "Not Allowed",
        429 => "Too Many Requests",
        _ => "Error",
    };
    format!(
        "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
}

fn number<T: std::str::FromStr>(text: &str, what: &str, spec: &str) -> Result<T, String> {
    text.parse::<T>()
        .map_err(|_| format!("fault {spec:?}: {what} must be a non-negative integer, got {text:?}"))
}

/// Parses one `--fault` value: its paths after `@`, then the faults of every matching request
/// (`storm=`, `noperm=`, `40067>`), else a counted fault ([`parse_counted_fault`]).
pub(crate) fn parse_fault(spec: &str) -> Result<FaultRule, String> {
    let spec = spec.trim();
    if spec.is_empty() {
        return Err("fault: empty specification".into());
    }
    let (body, paths) = match spec.split_once('@') {
        Some((body, paths)) => {
            let list: Vec<String> = paths
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(|p| normalize_path(p).to_string())
                .collect();
            if list.is_empty() {
                return Err(format!("fault {spec:?}: no path after '@'"));
            }
            (body.trim(), Some(list))
        }
        None => (spec, None),
    };
    let single = |fault| {
        Ok(FaultRule {
            fault,
            every: 1,
            paths: paths.clone(),
        })
    };

    if let Some(ms) = body.strip_prefix("storm=") {
        return single(Fault::RateLimitStorm(Duration::from_millis(number(
            ms,
            "storm duration (ms)",
            spec,
        )?)));
    }
    if let Some(id) = body.strip_prefix("noperm=") {
        return single(Fault::NoPermission {
            advertiser_id: number(id, "advertiser id", spec)?,
        });
    }
    if let Some((code, days)) = body.split_once('>') {
        if code != "40067" {
            return Err(format!(
                "fault {spec:?}: only 40067 takes a window limit ('40067>DAYS')"
            ));
        }
        return single(Fault::QueryTooLarge {
            max_days: number(days, "max days", spec)?,
        });
    }
    let (fault, every) = parse_counted_fault(body, spec)?;
    Ok(FaultRule {
        fault,
        every,
        paths,
    })
}

/// A fault of every Nth matching request: `KIND/N` (or `KIND`, every request), where KIND is
/// `drop`, `truncate`, `slow=MS`, `httpSTATUS` or a TikTok code.
fn parse_counted_fault(body: &str, spec: &str) -> Result<(Fault, u32), String> {
    let (kind, every) = match body.split_once('/') {
        Some((kind, every)) => (kind, number::<u32>(every, "every", spec)?),
        None => (body, 1),
    };
    if every == 0 {
        return Err(format!(
            "fault {spec:?}: '/0' would never fire; use /1 for every request"
        ));
    }
    let fault = if let Some(limit) = match kind {
        "qps" => Some(Limit::Qps),
        "qpm" => Some(Limit::Qpm),
        "qpd" => Some(Limit::Qpd),
        _ => None,
    } {
        Fault::Throttled(limit)
    } else if kind == "drop" {
        Fault::DropConnection
    } else if kind == "truncate" {
        Fault::TruncatedJson
    } else if let Some(ms) = kind.strip_prefix("slow=") {
        Fault::Slow(Duration::from_millis(number(ms, "slow delay (ms)", spec)?))
    } else if let Some(status) = kind.strip_prefix("http") {
        let status: u16 = number(status, "HTTP status", spec)?;
        if !(400..=599).contains(&status) {
            return Err(format!("fault {spec:?}: HTTP status must be 400-599"));
        }
        Fault::Http(status)
    } else if kind.chars().all(|c| c.is_ascii_digit()) && !kind.is_empty() {
        let code: i64 = number(kind, "TikTok code", spec)?;
        if code == 0 {
            return Err(format!("fault {spec:?}: code 0 is success, not a fault"));
        }
        Fault::Code(code)
    } else {
        return Err(format!(
            "fault {spec:?}: unknown kind {kind:?}; expected CODE/N, httpSTATUS/N, drop/N, truncate/N, \
             slow=MS/N, qps/N, qpm/N, qpd/N, 40067>DAYS, noperm=ADVERTISER_ID or storm=MS \
             (optionally @path,path)"
        ));
    };
    Ok((fault, every))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_kind() {
        let p = |s| parse_fault(s).unwrap();
        assert_eq!(
            p("40100/5"),
            FaultRule {
                fault: Fault::Code(40100),
                every: 5,
                paths: None
            }
        );
        assert_eq!(
            p("50000"),
            FaultRule {
                fault: Fault::Code(50000),
                every: 1,
                paths: None
            }
        );
        assert_eq!(p("http500/10").fault, Fault::Http(500));
        assert_eq!(p("http504/10").every, 10);
        assert_eq!(
            p("drop/7"),
            FaultRule {
                fault: Fault::DropConnection,
                every: 7,
                paths: None
            }
        );
        assert_eq!(p("truncate/9").fault, Fault::TruncatedJson);
        assert_eq!(
            p("qpm/5"),
            FaultRule {
                fault: Fault::Throttled(Limit::Qpm),
                every: 5,
                paths: None
            }
        );
        assert_eq!(p("qps/2").fault, Fault::Throttled(Limit::Qps));
        assert_eq!(p("qpd").fault, Fault::Throttled(Limit::Qpd));
        assert_eq!(
            p("slow=30000/11"),
            FaultRule {
                fault: Fault::Slow(Duration::from_secs(30)),
                every: 11,
                paths: None
            }
        );
        assert_eq!(p("40067>7").fault, Fault::QueryTooLarge { max_days: 7 });
        assert_eq!(
            p("noperm=7000000000000000001").fault,
            Fault::NoPermission {
                advertiser_id: 7_000_000_000_000_000_001
            }
        );
        assert_eq!(
            p("storm=70000").fault,
            Fault::RateLimitStorm(Duration::from_secs(70))
        );
        assert_eq!(
            p("40133/3@report/integrated/get/,/open_api/v1.3/ad/get/").paths,
            Some(vec![
                "report/integrated/get/".to_string(),
                "ad/get/".to_string()
            ])
        );
    }

    #[test]
    fn bad_specs_say_what_is_wrong() {
        let e = |s| parse_fault(s).unwrap_err();
        assert!(e("").contains("empty"));
        assert!(
            e("40100/x").contains("every must be a non-negative integer"),
            "{}",
            e("40100/x")
        );
        assert!(e("40100/0").contains("never fire"));
        assert!(e("explode/3").contains("unknown kind \"explode\""));
        assert!(e("40100>3").contains("only 40067"));
        assert!(e("http200/2").contains("400-599"));
        assert!(e("slow=abc/2").contains("slow delay"));
        assert!(e("noperm=").contains("advertiser id"));
        assert!(e("0/2").contains("success"));
        assert!(e("drop/3@").contains("no path"));
    }

    #[test]
    fn path_matching_is_relative_and_slash_tolerant() {
        let rule = parse_fault("drop/1@report/integrated/get/").unwrap();
        assert!(rule.matches("report/integrated/get/"));
        assert!(!rule.matches("ad/get/"));
        assert!(parse_fault("drop/1").unwrap().matches("anything/"));
        assert_eq!(normalize_path("/open_api/v1.3/ad/get/"), "ad/get/");
    }
}
