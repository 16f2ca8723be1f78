//! Fault injection: which requests a [`FaultRule`] applies to, the realistic message of each
//! injected TikTok code, and the small text syntax of `--fault` (`40100/5`, `http504/10`,
//! `drop/7`, `truncate/9`, `slow=30000/11`, `40067>7`, `noperm=ID`, `storm=70000`, `qps/2`,
//! `qpm/5`, `qpd/9`, each optionally followed by `@path,path` to restrict it to some endpoints).

use std::time::Duration;

use super::{Fault, FaultRule, Limit};

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

/// Parses one `--fault` value.
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
    Ok(FaultRule {
        fault,
        every,
        paths,
    })
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
