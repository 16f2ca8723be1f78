//! TikTok's documented rules for the requests the simulated API serves, as one table each: which
//! report queries `report/integrated/get/` accepts (dimensions, report type, query_lifetime,
//! time dimensions, date spans), what the asynchronous report tasks (`report/task/create/`,
//! `check/`, `download/`) change about them (in `async_reports`), the largest `page_size` of every endpoint, which
//! permission scope each endpoint needs, and the request quotas of the sandbox. Every row cites
//! the TikTok page it comes from (by its portal id,
//! <https://business-api.tiktok.com/portal/docs?id=ID>), and the server and the report planner
//! ask these tables instead of repeating the rules. A refusal carries TikTok's code and a
//! message naming the parameter at fault.

mod async_reports;

use chrono::NaiveDate;

use crate::catalog::{Level, ReportType};
pub(crate) use async_reports::*;

/// TikTok doc pages the rules come from (portal ids).
// Some pages are cited only from doc comments, which the compiler does not count as a use.
#[allow(dead_code)]
pub(crate) mod docs {
    /// Run a synchronous report (`report/integrated/get/`).
    pub(crate) const SYNC_REPORT: &str =
        "https://business-api.tiktok.com/portal/docs?id=1740302848100353";
    /// Basic reports.
    pub(crate) const BASIC_REPORTS: &str =
        "https://business-api.tiktok.com/portal/docs?id=1738864915188737";
    /// Audience reports.
    pub(crate) const AUDIENCE_REPORTS: &str =
        "https://business-api.tiktok.com/portal/docs?id=1738864928947201";
    /// Reporting FAQ.
    pub(crate) const REPORTING_FAQ: &str =
        "https://business-api.tiktok.com/portal/docs?id=1738864850353154";
    /// Get campaigns.
    pub(crate) const GET_CAMPAIGNS: &str =
        "https://business-api.tiktok.com/portal/docs?id=1739315828649986";
    /// Get ad groups.
    pub(crate) const GET_ADGROUPS: &str =
        "https://business-api.tiktok.com/portal/docs?id=1739314558673922";
    /// Rate limits (global and sandbox quotas).
    pub(crate) const RATE_LIMITS: &str =
        "https://business-api.tiktok.com/portal/docs?id=1740029171730433";
    /// Permission scopes of an app.
    pub(crate) const PERMISSION_SCOPES: &str =
        "https://business-api.tiktok.com/portal/docs?id=1753986142651394";
    /// Sandbox accounts.
    pub(crate) const SANDBOX: &str =
        "https://business-api.tiktok.com/portal/docs?id=1738855331457026";
    /// Run an asynchronous report (the guide: allowlist, no time range limitations, filters).
    pub(crate) const ASYNC_REPORT: &str =
        "https://business-api.tiktok.com/portal/docs?id=1738864800380930";
    /// Create an asynchronous report task (`report/task/create/`).
    pub(crate) const ASYNC_TASK_CREATE: &str =
        "https://business-api.tiktok.com/portal/docs?id=1740302766489602";
    /// Get the status of an async report task (`report/task/check/`).
    pub(crate) const ASYNC_TASK_CHECK: &str =
        "https://business-api.tiktok.com/portal/docs?id=1740302781443073";
    /// Download the output of an async report task (`report/task/download/`).
    pub(crate) const ASYNC_TASK_DOWNLOAD: &str =
        "https://business-api.tiktok.com/portal/docs?id=1740302808815618";
    /// TikTok's SDK, generated from the API reference: each endpoint's parameters and ranges,
    /// for the endpoints whose portal page is not cited here.
    pub(crate) const SDK: &str = "https://github.com/tiktok/tiktok-business-api-sdk";
}

/// A refusal: TikTok's code and message.
pub(crate) type Refusal = (i64, String);

/// TikTok's code for invalid parameters.
pub(crate) const PARAMETER_ERROR: i64 = 40002;
/// TikTok's code for a missing permission.
pub(crate) const NO_PERMISSION: i64 = 40001;
/// TikTok's code for requests beyond a rate or a quota (per second, minute or day alike).
pub(crate) const TOO_FREQUENT: i64 = 40100;

/// The time dimension of a report query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TimeDimension {
    Day,
    Hour,
    /// No time dimension: one row per entity and breakdown over the whole range.
    None,
}

/// The id dimensions of a report, one per data level.
pub(crate) const ID_DIMENSIONS: &[&str] = &["advertiser_id", "campaign_id", "adgroup_id", "ad_id"];
/// The time dimensions of a report.
pub(crate) const TIME_DIMENSIONS: &[&str] = &["stat_time_day", "stat_time_hour"];
/// The breakdown dimensions the simulator serves: `country_code` in BASIC and AUDIENCE reports,
/// the others in AUDIENCE reports.
pub(crate) const BREAKDOWN_DIMENSIONS: &[&str] =
    &["gender", "age", "country_code", "platform", "province_id"];

/// What the report rules look at in a query.
#[derive(Debug, Clone)]
pub(crate) struct ReportShape {
    pub(crate) report_type: ReportType,
    pub(crate) level: Level,
    /// The requested dimensions, in request order.
    pub(crate) dimensions: Vec<String>,
    /// The time dimension (the first of them when there are several) and whether
    /// `country_code` is one of the dimensions, as the server reads them from `dimensions`
    /// (tests set them directly).
    pub(crate) time: TimeDimension,
    pub(crate) has_country_code: bool,
    pub(crate) lifetime: bool,
    pub(crate) start_date: Option<NaiveDate>,
    pub(crate) end_date: Option<NaiveDate>,
    /// The simulated API behaves like today's TikTok, which refuses hourly audience reports.
    pub(crate) hourly_audience_refused: bool,
}

impl ReportShape {
    /// The dimensions of `names`.
    fn of_kind<'s>(&'s self, names: &'s [&str]) -> impl Iterator<Item = &'s str> + 's {
        self.dimensions
            .iter()
            .map(String::as_str)
            .filter(move |d| names.contains(d))
    }

    fn has(&self, dimension: &str) -> bool {
        self.dimensions.iter().any(|d| d == dimension)
    }

    /// The dimensions no rule knows, in request order.
    fn unknown_dimensions(&self) -> Vec<&str> {
        self.dimensions
            .iter()
            .map(String::as_str)
            .filter(|d| {
                !(ID_DIMENSIONS.contains(d)
                    || TIME_DIMENSIONS.contains(d)
                    || BREAKDOWN_DIMENSIONS.contains(d))
            })
            .collect()
    }

    /// The first dimension named a second time.
    fn duplicated_dimension(&self) -> Option<&str> {
        let mut seen = std::collections::HashSet::new();
        self.dimensions
            .iter()
            .map(String::as_str)
            .find(|d| !seen.insert(*d))
    }

    /// The breakdown dimensions, in request order.
    fn breakdowns(&self) -> Vec<&str> {
        self.of_kind(BREAKDOWN_DIMENSIONS).collect()
    }

    /// Several breakdowns that are not gender with age.
    fn breakdowns_clash(&self) -> bool {
        let n = self.breakdowns().len();
        n > 1 && !(n == 2 && self.has("gender") && self.has("age"))
    }

    /// Inclusive day count of the range, when both ends are given.
    fn span_days(&self) -> Option<i64> {
        Some((self.end_date? - self.start_date?).num_days() + 1)
    }

    fn dated(&self) -> bool {
        !self.lifetime
    }
}

/// The longest range (inclusive days) of a daily report query.
pub(crate) const MAX_DAY_SPAN: i64 = 30;
/// The longest range (inclusive days) of an hourly report query.
pub(crate) const MAX_HOUR_SPAN: i64 = 1;
/// The most ad accounts one report query may name in `advertiser_ids` (BASIC and AUDIENCE
/// reports only; Run a synchronous report, [`docs::SYNC_REPORT`]).
pub(crate) const MAX_ADVERTISERS_PER_REPORT: usize = 5;
/// The longest range (inclusive days) of a report query without a time dimension.
pub(crate) const MAX_TOTALS_SPAN: i64 = 365;

/// One documented rule of `report/integrated/get/`: what it refuses, and how.
// Read by the tests that check every row names and cites its TikTok page; the server reads
// only the rule itself.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct ReportRule {
    /// A short name, for tests and logs.
    pub(crate) name: &'static str,
    /// The TikTok page that documents it.
    pub(crate) doc: &'static str,
    pub(crate) code: i64,
    /// The refusal's message: TikTok's text, or the simulator's where TikTok documents none.
    pub(crate) message: &'static str,
    /// For a message that names the query's own values: the message for a query, which then
    /// replaces `message` (a template for the reader).
    pub(crate) detail: Option<fn(&ReportShape) -> String>,
    pub(crate) refuses: fn(&ReportShape) -> bool,
    /// Only synchronous reports obey it: asynchronous report tasks "have no time range
    /// limitations" (Run an asynchronous report, [`docs::ASYNC_REPORT`]), so the date span
    /// rules do not apply to `report/task/create/` ([`check_async_report`]).
    pub(crate) sync_only: bool,
}

impl ReportRule {
    /// The message this rule refuses `shape` with.
    pub(crate) fn message_for(&self, shape: &ReportShape) -> String {
        match self.detail {
            Some(detail) => detail(shape),
            None => self.message.to_string(),
        }
    }
}

/// The rules of `report/integrated/get/`, checked in order; the first that refuses answers.
/// `report/task/create/` checks the same rules but those marked `sync_only`. The dimension
/// rules come first: the others read the time dimension they make sure of.
pub(crate) const REPORT_RULES: &[ReportRule] = &[
    ReportRule {
        name: "known_dimensions",
        doc: docs::SYNC_REPORT,
        code: PARAMETER_ERROR,
        message: "Invalid dimension fields: [...]",
        detail: Some(|q| format!("Invalid dimension fields: {:?}", q.unknown_dimensions())),
        refuses: |q| !q.unknown_dimensions().is_empty(),
        sync_only: false,
    },
    ReportRule {
        name: "dimensions_once",
        doc: docs::SYNC_REPORT,
        code: PARAMETER_ERROR,
        message: "dimensions: duplicated dimension ...",
        detail: Some(|q| {
            format!(
                "dimensions: duplicated dimension {}",
                q.duplicated_dimension().unwrap_or_default()
            )
        }),
        refuses: |q| q.duplicated_dimension().is_some(),
        sync_only: false,
    },
    ReportRule {
        name: "one_id_dimension_of_the_level",
        doc: docs::BASIC_REPORTS,
        code: PARAMETER_ERROR,
        message: "dimensions: data_level ... needs exactly one id dimension, ...",
        detail: Some(|q| {
            format!(
                "dimensions: data_level {} needs exactly one id dimension, {}",
                q.level.data_level(),
                q.level.id_field()
            )
        }),
        refuses: |q| {
            let ids: Vec<&str> = q.of_kind(ID_DIMENSIONS).collect();
            ids.len() != 1 || ids[0] != q.level.id_field()
        },
        sync_only: false,
    },
    ReportRule {
        name: "one_time_dimension",
        doc: docs::BASIC_REPORTS,
        code: PARAMETER_ERROR,
        message: "dimensions: at most one of stat_time_day and stat_time_hour",
        detail: None,
        refuses: |q| q.of_kind(TIME_DIMENSIONS).count() > 1,
        sync_only: false,
    },
    ReportRule {
        name: "breakdowns_gender_with_age_only",
        doc: docs::AUDIENCE_REPORTS,
        code: PARAMETER_ERROR,
        message: "dimensions: [...] cannot be combined (only gender with age)",
        detail: Some(|q| {
            format!(
                "dimensions: {:?} cannot be combined (only gender with age)",
                q.breakdowns()
            )
        }),
        refuses: ReportShape::breakdowns_clash,
        sync_only: false,
    },
    ReportRule {
        name: "audience_dimensions_in_audience_reports",
        doc: docs::AUDIENCE_REPORTS,
        code: PARAMETER_ERROR,
        message: "dimensions: [...] are only available in AUDIENCE reports",
        detail: Some(|q| {
            format!(
                "dimensions: {:?} are only available in AUDIENCE reports",
                q.breakdowns()
            )
        }),
        refuses: |q| {
            let breakdowns = q.breakdowns();
            q.report_type != ReportType::Audience
                && !breakdowns.is_empty()
                && breakdowns != ["country_code"]
        },
        sync_only: false,
    },
    ReportRule {
        name: "audience_reports_need_an_audience_dimension",
        doc: docs::AUDIENCE_REPORTS,
        code: PARAMETER_ERROR,
        message: "dimensions: AUDIENCE reports need an audience dimension",
        detail: None,
        refuses: |q| q.report_type == ReportType::Audience && q.breakdowns().is_empty(),
        sync_only: false,
    },
    ReportRule {
        name: "province_at_ad_level",
        doc: docs::AUDIENCE_REPORTS,
        code: PARAMETER_ERROR,
        message: "dimensions: province_id is only available at data_level AUCTION_AD",
        detail: None,
        refuses: |q| q.breakdowns() == ["province_id"] && q.level != Level::Ad,
        sync_only: false,
    },
    ReportRule {
        name: "dates_required",
        doc: docs::SYNC_REPORT,
        code: PARAMETER_ERROR,
        message: "start_date, end_date: Missing data for required field. They are required when \
                  query_lifetime is false.",
        detail: None,
        refuses: |q| q.dated() && (q.start_date.is_none() || q.end_date.is_none()),
        sync_only: false,
    },
    ReportRule {
        name: "start_before_end",
        doc: docs::SYNC_REPORT,
        code: PARAMETER_ERROR,
        message: "start_date: must not be later than end_date.",
        detail: None,
        refuses: |q| q.dated() && q.span_days().is_some_and(|d| d < 1),
        sync_only: false,
    },
    ReportRule {
        name: "audience_has_no_lifetime",
        doc: docs::AUDIENCE_REPORTS,
        code: PARAMETER_ERROR,
        message: "query_lifetime: Audience reports do not support lifetime metrics. Query a date \
                  range instead.",
        detail: None,
        refuses: |q| q.lifetime && q.report_type == ReportType::Audience,
        sync_only: false,
    },
    ReportRule {
        name: "lifetime_without_time_or_country",
        doc: docs::BASIC_REPORTS,
        code: PARAMETER_ERROR,
        message: "dimensions: when query_lifetime = True, dimensions can not contain \
                  stat_time_day, stat_time_hour or country_code.",
        detail: None,
        refuses: |q| q.lifetime && (q.time != TimeDimension::None || q.has_country_code),
        sync_only: false,
    },
    ReportRule {
        name: "hourly_audience_refused",
        doc: docs::AUDIENCE_REPORTS,
        code: PARAMETER_ERROR,
        message: "Conflict occurs. The input params including metrics and dimensions have no \
                  relation.",
        detail: None,
        refuses: |q| {
            q.hourly_audience_refused
                && q.report_type == ReportType::Audience
                && q.time == TimeDimension::Hour
        },
        sync_only: false,
    },
    ReportRule {
        name: "daily_span_30_days",
        doc: docs::REPORTING_FAQ,
        code: PARAMETER_ERROR,
        message: "The time range between start_date and end_date cannot exceed 30 days when \
                  dimensions contain stat_time_day.",
        detail: None,
        refuses: |q| {
            q.dated()
                && q.time == TimeDimension::Day
                && q.span_days().is_some_and(|d| d > MAX_DAY_SPAN)
        },
        sync_only: true,
    },
    ReportRule {
        name: "hourly_span_one_day",
        doc: docs::REPORTING_FAQ,
        code: PARAMETER_ERROR,
        message: "When dimensions contain stat_time_hour, start_date and end_date must be the \
                  same day.",
        detail: None,
        refuses: |q| {
            q.dated()
                && q.time == TimeDimension::Hour
                && q.span_days().is_some_and(|d| d > MAX_HOUR_SPAN)
        },
        sync_only: true,
    },
    ReportRule {
        name: "totals_span_365_days",
        doc: docs::REPORTING_FAQ,
        code: PARAMETER_ERROR,
        message: "The time range between start_date and end_date cannot exceed 365 days when \
                  dimensions contain no time dimension.",
        detail: None,
        refuses: |q| {
            q.dated()
                && q.time == TimeDimension::None
                && q.span_days().is_some_and(|d| d > MAX_TOTALS_SPAN)
        },
        sync_only: true,
    },
];

/// The first documented rule `shape` breaks, as TikTok's answer: every rule of
/// [`REPORT_RULES`] for `report/integrated/get/`, all but the date spans (`sync_only`) for an
/// asynchronous report task (`asynchronous`).
fn first_broken_rule(shape: &ReportShape, asynchronous: bool) -> Result<(), Refusal> {
    match REPORT_RULES
        .iter()
        .find(|rule| !(asynchronous && rule.sync_only) && (rule.refuses)(shape))
    {
        Some(rule) => Err((rule.code, rule.message_for(shape))),
        None => Ok(()),
    }
}

/// The first documented rule `shape` breaks, as TikTok's answer.
pub(crate) fn check_report(shape: &ReportShape) -> Result<(), Refusal> {
    first_broken_rule(shape, false)
}

/// The first documented rule an asynchronous report task of this `shape` breaks: the rules of
/// [`check_report`] but the date spans (`sync_only`).
pub(crate) fn check_async_report(shape: &ReportShape) -> Result<(), Refusal> {
    first_broken_rule(shape, true)
}

/// The largest `page_size` of one endpoint.
// Read by the tests that check every row names and cites its TikTok page; the server reads
// only the rule itself.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct PageSizeRule {
    pub(crate) path: &'static str,
    pub(crate) max: u64,
    pub(crate) doc: &'static str,
}

/// `page_size` limits per endpoint (TikTok's default page size is 10 everywhere).
pub(crate) const PAGE_SIZE_RULES: &[PageSizeRule] = &[
    PageSizeRule {
        path: "report/integrated/get/",
        max: 1000,
        doc: docs::SYNC_REPORT,
    },
    PageSizeRule {
        path: "campaign/get/",
        max: 1000,
        doc: docs::GET_CAMPAIGNS,
    },
    PageSizeRule {
        path: "adgroup/get/",
        max: 1000,
        doc: docs::GET_ADGROUPS,
    },
    PageSizeRule {
        path: "ad/get/",
        max: 1000,
        doc: docs::SDK,
    },
    PageSizeRule {
        path: "dmp/custom_audience/list/",
        max: 100,
        doc: docs::SDK,
    },
    PageSizeRule {
        path: "file/image/ad/search/",
        max: 100,
        doc: docs::SDK,
    },
    PageSizeRule {
        path: "file/video/ad/search/",
        max: 100,
        doc: docs::SDK,
    },
    PageSizeRule {
        path: "file/music/get/",
        max: 100,
        doc: docs::SDK,
    },
    PageSizeRule {
        path: "creative/portfolio/list/",
        max: 100,
        doc: docs::SDK,
    },
    PageSizeRule {
        path: "tt_video/list/",
        max: 50,
        doc: docs::SDK,
    },
    PageSizeRule {
        path: "pixel/list/",
        max: 20,
        doc: docs::SDK,
    },
];

/// The largest `page_size` the endpoint at `path` accepts (1000 for endpoints not listed).
pub(crate) fn max_page_size(path: &str) -> u64 {
    PAGE_SIZE_RULES
        .iter()
        .find(|r| r.path == path)
        .map_or(1000, |r| r.max)
}

/// The refusal of a `page_size` outside 1..=max.
pub(crate) fn check_page_size(path: &str, size: u64) -> Result<(), Refusal> {
    let max = max_page_size(path);
    if size == 0 || size > max {
        return Err((
            PARAMETER_ERROR,
            format!("page_size: Must be between 1 and {max}."),
        ));
    }
    Ok(())
}

/// A permission scope an app is granted by TikTok, and the endpoints it opens.
// Read by the tests that check every row names and cites its TikTok page; the server reads
// only the rule itself.
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct ScopeRule {
    pub(crate) scope: &'static str,
    pub(crate) paths: &'static [&'static str],
    pub(crate) doc: &'static str,
}

/// The scopes of the endpoints the simulated API serves.
pub(crate) const SCOPE_RULES: &[ScopeRule] = &[
    ScopeRule {
        scope: "Reporting",
        paths: &[
            "report/integrated/get/",
            "report/task/create/",
            "report/task/check/",
            "report/task/download/",
        ],
        doc: docs::PERMISSION_SCOPES,
    },
    ScopeRule {
        scope: "Ads Management",
        paths: &["campaign/get/", "adgroup/get/", "ad/get/"],
        doc: docs::PERMISSION_SCOPES,
    },
    ScopeRule {
        scope: "Ad Account Management",
        paths: &["advertiser/info/"],
        doc: docs::PERMISSION_SCOPES,
    },
    ScopeRule {
        scope: "Audience Management",
        paths: &["dmp/custom_audience/list/"],
        doc: docs::PERMISSION_SCOPES,
    },
    ScopeRule {
        scope: "Creative Management",
        paths: &[
            "file/image/ad/search/",
            "file/video/ad/search/",
            "file/music/get/",
            "creative/portfolio/list/",
            "tt_video/list/",
        ],
        doc: docs::PERMISSION_SCOPES,
    },
    ScopeRule {
        scope: "Pixel Management",
        paths: &[
            "pixel/list/",
            "pixel/event/stats/",
            "pixel/instant_page/event/",
        ],
        doc: docs::PERMISSION_SCOPES,
    },
];

/// The scope the endpoint at `path` needs, if any.
pub(crate) fn scope_of(path: &str) -> Option<&'static str> {
    SCOPE_RULES
        .iter()
        .find(|r| r.paths.contains(&path))
        .map(|r| r.scope)
}

/// TikTok's answer to a request the app has no scope for (every advertiser alike).
pub(crate) fn check_scope(path: &str, missing_scopes: &[String]) -> Result<(), Refusal> {
    match scope_of(path) {
        Some(scope) if missing_scopes.iter().any(|m| m.eq_ignore_ascii_case(scope)) => Err((
            NO_PERMISSION,
            format!(
                "No permission to operate. The app has not been granted the permission scope \
                 \"{scope}\" needed by /open_api/v1.3/{path}; add the scope to the app in \
                 TikTok for Business and re-authorize it."
            ),
        )),
        _ => Ok(()),
    }
}

/// Request quotas per endpoint; TikTok documents 30 a minute and 1,000 a day per endpoint for
/// the sandbox (`docs::RATE_LIMITS`, `docs::SANDBOX`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// Requests a minute.
    pub per_minute: u32,
    /// Requests a day (the simulated day never ends: a server lives for minutes).
    pub per_day: u32,
}

impl Quota {
    /// The sandbox's quotas, per endpoint.
    pub const SANDBOX: Quota = Quota {
        per_minute: 30,
        per_day: 1000,
    };
}

/// The message of a request beyond the per-minute quota.
pub(crate) fn per_minute_message(limit: u32) -> String {
    format!(
        "Requests made too frequently. The app reaches the QPM limit {limit} for current path, \
         request is temporarily restricted. Please pause for 5 minutes and try again."
    )
}

/// The message of a request beyond the daily quota (same code as the other limits; only the
/// message tells them apart).
pub(crate) fn per_day_message(limit: u32) -> String {
    format!(
        "Requests made too frequently. The app reaches the daily limit (QPD) {limit} for \
         current path, request is restricted until 00:00:00 UTC+0."
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> Option<NaiveDate> {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
    }

    /// A campaign report by country, valid in its dimensions for both report types.
    fn shape(report_type: ReportType, time: TimeDimension) -> ReportShape {
        let time_dimension = match time {
            TimeDimension::Day => Some("stat_time_day"),
            TimeDimension::Hour => Some("stat_time_hour"),
            TimeDimension::None => None,
        };
        ReportShape {
            report_type,
            level: Level::Campaign,
            dimensions: ["campaign_id"]
                .into_iter()
                .chain(time_dimension)
                .chain(["country_code"])
                .map(String::from)
                .collect(),
            time,
            has_country_code: false,
            lifetime: false,
            start_date: date("2024-03-01"),
            end_date: date("2024-03-01"),
            hourly_audience_refused: true,
        }
    }

    fn refusal(s: &ReportShape) -> Option<&'static str> {
        REPORT_RULES.iter().find(|r| (r.refuses)(s)).map(|r| r.name)
    }

    #[test]
    fn every_rule_cites_a_tiktok_page_and_has_a_unique_name() {
        let mut names = std::collections::HashSet::new();
        for rule in REPORT_RULES {
            assert!(names.insert(rule.name), "{} twice", rule.name);
            assert!(
                rule.doc
                    .starts_with("https://business-api.tiktok.com/portal/docs?id="),
                "{}",
                rule.name
            );
            assert!(rule.code == PARAMETER_ERROR);
        }
        for rule in PAGE_SIZE_RULES {
            assert!(
                rule.doc.contains("portal/docs?id=") || rule.doc == docs::SDK,
                "{}",
                rule.path
            );
        }
        for rule in SCOPE_RULES {
            assert!(rule.doc.contains("portal/docs?id="), "{}", rule.scope);
        }
    }

    /// The dimension rules refuse in order, each naming what is at fault in TikTok's 40002.
    #[test]
    fn dimension_rules_name_the_dimensions_at_fault() {
        let refused = |report_type, level, dims: &[&str]| {
            let s = ReportShape {
                report_type,
                level,
                dimensions: dims.iter().map(|d| d.to_string()).collect(),
                ..shape(ReportType::Basic, TimeDimension::Day)
            };
            check_report(&s).unwrap_err()
        };
        let (basic, audience) = (ReportType::Basic, ReportType::Audience);
        let cases: [(ReportType, Level, &[&str], &str); 8] = [
            (
                basic,
                Level::Campaign,
                &["campaign_id", "nope", "age_group"],
                r#"Invalid dimension fields: ["nope", "age_group"]"#,
            ),
            (
                basic,
                Level::Campaign,
                &["campaign_id", "stat_time_day", "stat_time_day"],
                "dimensions: duplicated dimension stat_time_day",
            ),
            (
                basic,
                Level::Ad,
                &["campaign_id", "ad_id"],
                "dimensions: data_level AUCTION_AD needs exactly one id dimension, ad_id",
            ),
            (
                basic,
                Level::Ad,
                &["ad_id", "stat_time_hour", "stat_time_day"],
                "dimensions: at most one of stat_time_day and stat_time_hour",
            ),
            (
                audience,
                Level::Ad,
                &["ad_id", "age", "platform"],
                r#"dimensions: ["age", "platform"] cannot be combined (only gender with age)"#,
            ),
            (
                basic,
                Level::Ad,
                &["ad_id", "gender", "age"],
                r#"dimensions: ["gender", "age"] are only available in AUDIENCE reports"#,
            ),
            (
                audience,
                Level::Ad,
                &["ad_id", "stat_time_day"],
                "dimensions: AUDIENCE reports need an audience dimension",
            ),
            (
                audience,
                Level::Campaign,
                &["campaign_id", "province_id"],
                "dimensions: province_id is only available at data_level AUCTION_AD",
            ),
        ];
        for (report_type, level, dims, message) in cases {
            assert_eq!(
                refused(report_type, level, dims),
                (PARAMETER_ERROR, message.to_string()),
                "{dims:?}"
            );
        }
        // Within the rules: gender with age, and country_code in BASIC reports.
        for (report_type, dims) in [
            (audience, &["ad_id", "gender", "age"][..]),
            (basic, &["ad_id", "country_code"][..]),
        ] {
            let s = ReportShape {
                report_type,
                level: Level::Ad,
                dimensions: dims.iter().map(|d| d.to_string()).collect(),
                ..shape(report_type, TimeDimension::None)
            };
            assert_eq!(check_report(&s), Ok(()), "{dims:?}");
        }
    }

    #[test]
    fn every_async_rule_cites_a_tiktok_page_and_has_a_unique_name() {
        let mut names = std::collections::HashSet::new();
        for rule in ASYNC_RULES {
            assert!(names.insert(rule.name), "{} twice", rule.name);
            assert!(
                rule.doc
                    .starts_with("https://business-api.tiktok.com/portal/docs?id="),
                "{}",
                rule.name
            );
        }
        for path in [
            "report/task/create/",
            "report/task/check/",
            "report/task/download/",
        ] {
            assert_eq!(scope_of(path), Some("Reporting"), "{path}");
        }
    }

    #[test]
    fn async_reports_drop_only_the_date_spans() {
        let spans: Vec<&str> = REPORT_RULES
            .iter()
            .filter(|r| r.sync_only)
            .map(|r| r.name)
            .collect();
        assert_eq!(
            spans,
            [
                "daily_span_30_days",
                "hourly_span_one_day",
                "totals_span_365_days"
            ]
        );
        let mut s = shape(ReportType::Basic, TimeDimension::Hour);
        s.start_date = date("2020-01-01");
        assert!(check_report(&s).is_err());
        assert!(check_async_report(&s).is_ok());
        s.start_date = date("2024-03-02");
        assert_eq!(
            check_async_report(&s).unwrap_err().1,
            "start_date: must not be later than end_date."
        );
        assert!(check_async_filter("ad_ids").is_ok());
        let (code, message) = check_async_filter("ad_status").unwrap_err();
        assert_eq!(code, PARAMETER_ERROR);
        assert!(message.contains("ad_status"), "{message}");
        assert_eq!(async_not_allowlisted().0, NO_PERMISSION);
    }

    #[test]
    fn async_uv_metrics_are_refused_with_audience_dimensions() {
        let list =
            |items: &[&str]| -> Vec<String> { items.iter().map(|s| s.to_string()).collect() };
        let (code, message) = check_async_uv_metrics(
            &list(&["spend", "reach"]),
            &list(&["campaign_id", "country_code"]),
        )
        .unwrap_err();
        assert_eq!(code, 40002);
        assert!(
            message.contains("reach") && message.contains("country_code"),
            "{message}"
        );
        assert!(check_async_uv_metrics(&list(&["reach"]), &list(&["campaign_id"])).is_ok());
        assert!(check_async_uv_metrics(&list(&["spend"]), &list(&["gender"])).is_ok());
        let (_, message) = check_async_filter("country_code").unwrap_err();
        assert!(message.contains("not modelled"), "{message}");
    }

    #[test]
    fn audience_reports_have_no_lifetime() {
        let mut s = shape(ReportType::Audience, TimeDimension::None);
        s.lifetime = true;
        assert_eq!(refusal(&s), Some("audience_has_no_lifetime"));
        s.report_type = ReportType::Basic;
        assert_eq!(refusal(&s), None, "BASIC lifetime without time dimension");
        let (code, message) = check_report(&ReportShape {
            report_type: ReportType::Audience,
            ..s
        })
        .unwrap_err();
        assert_eq!(code, 40002);
        assert!(message.starts_with("query_lifetime"), "{message}");
    }

    #[test]
    fn lifetime_refuses_time_dimensions_and_country_code() {
        for time in [TimeDimension::Day, TimeDimension::Hour] {
            let mut s = shape(ReportType::Basic, time);
            s.lifetime = true;
            assert_eq!(refusal(&s), Some("lifetime_without_time_or_country"));
        }
        let mut s = shape(ReportType::Basic, TimeDimension::None);
        s.lifetime = true;
        s.has_country_code = true;
        assert_eq!(refusal(&s), Some("lifetime_without_time_or_country"));
        // The same breakdown over a date range is accepted.
        s.lifetime = false;
        assert_eq!(refusal(&s), None);
    }

    #[test]
    fn spans_are_bounded_by_the_time_dimension() {
        let with = |time, start: &str, end: &str| {
            let mut s = shape(ReportType::Basic, time);
            s.start_date = date(start);
            s.end_date = date(end);
            refusal(&s)
        };
        assert_eq!(with(TimeDimension::Day, "2024-01-01", "2024-01-30"), None);
        assert_eq!(
            with(TimeDimension::Day, "2024-01-01", "2024-01-31"),
            Some("daily_span_30_days")
        );
        assert_eq!(with(TimeDimension::Hour, "2024-01-01", "2024-01-01"), None);
        assert_eq!(
            with(TimeDimension::Hour, "2024-01-01", "2024-01-02"),
            Some("hourly_span_one_day")
        );
        assert_eq!(with(TimeDimension::None, "2024-01-01", "2024-12-30"), None);
        assert_eq!(
            with(TimeDimension::None, "2024-01-01", "2024-12-31"),
            Some("totals_span_365_days"),
            "2024 is a leap year: 366 days"
        );
        assert_eq!(
            with(TimeDimension::Day, "2024-01-02", "2024-01-01"),
            Some("start_before_end")
        );
        let mut s = shape(ReportType::Basic, TimeDimension::Day);
        s.end_date = None;
        assert_eq!(refusal(&s), Some("dates_required"));
    }

    #[test]
    fn hourly_audience_is_refused_only_when_configured() {
        let mut s = shape(ReportType::Audience, TimeDimension::Hour);
        assert_eq!(refusal(&s), Some("hourly_audience_refused"));
        s.hourly_audience_refused = false;
        assert_eq!(refusal(&s), None);
    }

    #[test]
    fn page_sizes_per_endpoint() {
        assert!(check_page_size("report/integrated/get/", 1000).is_ok());
        assert!(check_page_size("report/integrated/get/", 1001).is_err());
        assert!(check_page_size("pixel/list/", 21).is_err());
        assert!(check_page_size("pixel/list/", 20).is_ok());
        assert!(check_page_size("tt_video/list/", 51).is_err());
        assert!(check_page_size("file/music/get/", 101).is_err());
        assert!(check_page_size("ad/get/", 0).is_err());
    }

    #[test]
    fn a_missing_scope_refuses_its_endpoints_naming_the_scope() {
        let missing = vec!["Reporting".to_string()];
        let (code, message) = check_scope("report/integrated/get/", &missing).unwrap_err();
        assert_eq!(code, 40001);
        assert!(message.contains("\"Reporting\""), "{message}");
        assert!(check_scope("campaign/get/", &missing).is_ok());
        assert!(check_scope("report/integrated/get/", &[]).is_ok());
    }
}
