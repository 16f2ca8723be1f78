//! The first step of a report query: everything TikTok checks before it answers, in TikTok's
//! order (the advertiser, the documented rules of [`crate::rules`] with the dimensions first,
//! the metrics, the filters), giving either TikTok's refusal or the [`Validated`] query the planner lists rows
//! for. Also the buying types a query covers ([`BuyingScope`]).

use std::collections::HashSet;

use serde_json::Value;

use super::{bad, ApiError, Bd, Flow, ReportQuery, TimeDim, MAX_FILTER_IDS};
use crate::catalog::{check_metric, Granularity, Level, ReportShape};
use crate::model::{day_num, Advertiser, BuyingType, Model};
use crate::rules::TIME_DIMENSIONS;

/// A report query that passed validation: what the planner needs to list its rows.
pub(super) struct Validated<'m> {
    pub(super) adv: &'m Advertiser,
    pub(super) time: TimeDim,
    pub(super) bd: Bd,
    /// Inclusive hour range of the rows.
    pub(super) hours: (i64, i64),
    pub(super) include_deleted: bool,
    pub(super) only_deleted: bool,
    pub(super) ids: IdFilters,
    pub(super) buying: BuyingScope,
}

impl Validated<'_> {
    /// Whether an entity deleted or not (`deleted`) is in the answer: TikTok's `include_deleted`
    /// adds deleted entities, and a filter on deleted statuses alone asks only for them.
    pub(super) fn keeps(&self, deleted: bool) -> bool {
        if self.only_deleted && !self.include_deleted {
            deleted
        } else {
            self.include_deleted || !deleted
        }
    }
}

/// The id filters of a query (`campaign_ids`, `adgroup_ids`, `ad_ids`); `None` where the
/// query has none, which selects every id of that level.
#[derive(Default)]
pub(super) struct IdFilters {
    pub(super) campaign_ids: Option<HashSet<u64>>,
    pub(super) adgroup_ids: Option<HashSet<u64>>,
    pub(super) ad_ids: Option<HashSet<u64>>,
}

/// What a query's filters select: deleted entities or not, ids, buying types.
struct Filters {
    include_deleted: bool,
    only_deleted: bool,
    ids: IdFilters,
    buying: BuyingScope,
}

impl Model {
    /// Everything TikTok checks before it answers a report query, in TikTok's order: the
    /// refusals, or what the planner needs.
    pub(super) fn validate<'m>(
        &'m self,
        q: &ReportQuery,
        flow: Flow,
    ) -> Result<Validated<'m>, ApiError> {
        if self.sandbox && q.level == Level::Advertiser {
            return Err((
                40009,
                "Unsupported data_level in sandbox environment".into(),
            ));
        }
        let Some(adv) = self.advertiser(q.advertiser_id) else {
            return Err((
                40001,
                format!("No permission to operate advertiser {}.", q.advertiser_id),
            ));
        };
        // Every documented rule of the query (its dimensions first), then what they make sure of.
        self.check_documented_rules(q, flow)?;
        let (time, bd) = (time_dimension(q), breakdown(q));
        let hours = match (q.lifetime, q.start_date, q.end_date) {
            (false, Some(start), Some(end)) => (day_num(start) * 24, day_num(end) * 24 + 23),
            _ => (adv.first_hour, adv.last_hour),
        };
        // Asynchronous tasks are TikTok's way to large reports: no limit on their metrics.
        let max_metrics = (flow == Flow::Sync).then_some(self.max_metrics_per_query);
        self.check_metrics(q, time, bd, max_metrics)?;
        let Filters {
            include_deleted,
            only_deleted,
            ids,
            buying,
        } = self.filters(q, flow)?;
        Ok(Validated {
            adv,
            time,
            bd,
            hours,
            include_deleted,
            only_deleted,
            ids,
            buying,
        })
    }

    /// TikTok's documented rules of dimensions, report type, lifetime, time dimension and date
    /// span ([`crate::rules::REPORT_RULES`]; no date span for asynchronous tasks, which also
    /// refuse UV metrics with audience dimensions).
    fn check_documented_rules(&self, q: &ReportQuery, flow: Flow) -> Result<(), ApiError> {
        let shape = crate::rules::ReportShape {
            report_type: q.report_type,
            level: q.level,
            dimensions: q.dimensions.clone(),
            time: match time_dimension(q) {
                TimeDim::Day => crate::rules::TimeDimension::Day,
                TimeDim::Hour => crate::rules::TimeDimension::Hour,
                TimeDim::Aggregate => crate::rules::TimeDimension::None,
            },
            has_country_code: q.dimensions.iter().any(|d| d == "country_code"),
            lifetime: q.lifetime,
            start_date: q.start_date,
            end_date: q.end_date,
            hourly_audience_refused: self.hourly_audience_refused,
        };
        match flow {
            Flow::Sync => crate::rules::check_report(&shape),
            Flow::Async => {
                crate::rules::check_async_report(&shape)?;
                crate::rules::check_async_uv_metrics(&q.metrics, &q.dimensions)
            }
        }
    }

    /// The query's filters, each checked: `filter_type` IN, a JSON array of values, a field
    /// the level supports (only id filters in asynchronous tasks).
    fn filters(&self, q: &ReportQuery, flow: Flow) -> Result<Filters, ApiError> {
        let mut filters = Filters {
            include_deleted: false,
            only_deleted: false,
            ids: IdFilters::default(),
            // The advertiser level holds "data of all Auction Ads and Reservation Ads" (see
            // below): its totals count every buying type, TopView included.
            buying: match self.buying_types {
                crate::BuyingTypes::Documented if q.level != Level::Advertiser => {
                    BuyingScope::Default
                }
                _ => BuyingScope::Every,
            },
        };
        for f in &q.filtering {
            let field = f
                .get("field_name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            if flow == Flow::Async {
                crate::rules::check_async_filter(field)?;
            }
            let ftype = f
                .get("filter_type")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let values = filter_values(f.get("filter_value")).ok_or_else(|| {
                bad(format!(
                    "filtering: filter_value of {field} must be a JSON array string"
                ))
            })?;
            if ftype != "IN" {
                return Err(bad(format!(
                    "filtering: filter_type {ftype:?} is not supported for {field}"
                )));
            }
            match field {
                "campaign_status" | "adgroup_status" | "ad_status" => {
                    filters.status(q.level, field, &values)?
                }
                "campaign_ids" | "adgroup_ids" | "ad_ids" => {
                    filters.ids(q.level, field, &values)?
                }
                "buying_type" if self.buying_types == crate::BuyingTypes::Ignored => {}
                "buying_type" if self.buying_types == crate::BuyingTypes::Refused => {
                    return Err(bad("filtering: unknown field_name buying_type"));
                }
                "buying_type" => filters.buying = buying_scope(q.level, &values)?,
                other => return Err(bad(format!("filtering: invalid field_name {other:?}"))),
            }
        }
        Ok(filters)
    }
}

impl Filters {
    /// A status filter (`campaign_status`, ...), of the level's own field only.
    fn status(&mut self, level: Level, field: &str, values: &[String]) -> Result<(), ApiError> {
        if level.status_filter_field() != Some(field) {
            return Err(bad(format!(
                "filtering: {field} is not supported for data_level {}",
                level.data_level()
            )));
        }
        for v in values {
            match v.as_str() {
                "STATUS_ALL" => self.include_deleted = true,
                "STATUS_NOT_DELETE" => {}
                "STATUS_DELETE" => self.only_deleted = true,
                other => return Err(bad(format!("filtering: invalid {field} value {other}"))),
            }
        }
        Ok(())
    }

    /// An id filter (`campaign_ids`, ...), of the query's level or a higher one, with 1 to
    /// [`MAX_FILTER_IDS`] numeric ids.
    fn ids(&mut self, level: Level, field: &str, values: &[String]) -> Result<(), ApiError> {
        let rank = match field {
            "campaign_ids" => Level::Campaign,
            "adgroup_ids" => Level::AdGroup,
            _ => Level::Ad,
        };
        if level < rank {
            return Err(bad(format!(
                "filtering: {field} is not supported for data_level {}",
                level.data_level()
            )));
        }
        if values.is_empty() || values.len() > MAX_FILTER_IDS {
            return Err(bad(format!(
                "filtering: {field} must hold between 1 and {MAX_FILTER_IDS} ids"
            )));
        }
        let set = values
            .iter()
            .map(|v| v.parse::<u64>())
            .collect::<Result<HashSet<u64>, _>>()
            .map_err(|_| bad(format!("filtering: {field} must hold numeric ids")))?;
        match rank {
            Level::Campaign => self.ids.campaign_ids = Some(set),
            Level::AdGroup => self.ids.adgroup_ids = Some(set),
            _ => self.ids.ad_ids = Some(set),
        }
        Ok(())
    }
}

/// The time dimension of a query (its first, when it has several, which the rules refuse).
fn time_dimension(q: &ReportQuery) -> TimeDim {
    match q
        .dimensions
        .iter()
        .map(String::as_str)
        .find(|d| TIME_DIMENSIONS.contains(d))
    {
        Some("stat_time_day") => TimeDim::Day,
        Some(_) => TimeDim::Hour,
        None => TimeDim::Aggregate,
    }
}

/// The breakdown of a query whose dimensions passed the rules: none, one dimension, or
/// gender with age.
fn breakdown(q: &ReportQuery) -> Bd {
    let has = |d: &str| q.dimensions.iter().any(|x| x == d);
    if has("gender") && has("age") {
        Bd::GenderAge
    } else if has("gender") {
        Bd::Gender
    } else if has("age") {
        Bd::Age
    } else if has("country_code") {
        Bd::Country
    } else if has("platform") {
        Bd::Platform
    } else if has("province_id") {
        Bd::Province
    } else {
        Bd::None
    }
}

impl Model {
    /// Every metric documented, and served in a report of this type, level, granularity and
    /// breakdown (TikTok's Metrics page and the restrictions it states, [`crate::catalog`]),
    /// and not one the simulator is told to refuse at the level
    /// ([`crate::MetricRules::refused`]): otherwise 40002 "Invalid metric fields", naming them
    /// (unless [`crate::RefusalWording::Unnamed`]). TikTok answers 40002 for a metric it does
    /// not serve in the report (Run a synchronous report, portal doc 1740302848100353; error
    /// codes, doc 1737172488964097). Then no more metrics than the simulator's limit for
    /// synchronous reports ([`crate::MetricRules::max_metrics_per_query`]): otherwise 40067.
    fn check_metrics(
        &self,
        q: &ReportQuery,
        time: TimeDim,
        bd: Bd,
        max_metrics: Option<usize>,
    ) -> Result<(), ApiError> {
        let shape = ReportShape {
            report_type: q.report_type,
            level: q.level,
            granularity: match time {
                TimeDim::Day => Granularity::Day,
                TimeDim::Hour => Granularity::Hour,
                TimeDim::Aggregate => Granularity::Lifetime,
            },
            breakdown: bd != Bd::None,
        };
        let refused_here = |metric: &str| {
            self.refused_metrics
                .iter()
                .any(|r| r.metric == metric && r.level.is_none_or(|level| level == q.level))
        };
        let invalid: Vec<&String> = q
            .metrics
            .iter()
            .filter(|m| check_metric(m, shape).is_err() || refused_here(m))
            .collect();
        if !invalid.is_empty() {
            return Err(bad(match self.refusal_wording {
                crate::RefusalWording::Named => format!("Invalid metric fields: {invalid:?}"),
                crate::RefusalWording::Unnamed => "Invalid metric fields.".to_string(),
            }));
        }
        if max_metrics.is_some_and(|max| q.metrics.len() > max) {
            return Err((40067, crate::faults::code_message(40067, None)));
        }
        Ok(())
    }
}

// Reservation delivery and the ads cap (Run a synchronous report, portal doc 1740302848100353;
// Reporting FAQ, 1738864850353154):
// - `service_type=AUCTION` (the default) covers auction ads and reach & frequency ads; TopView
//   delivery needs the filter `buying_type` IN ["RESERVATION_TOP_VIEW"], asked alone. The
//   advertiser level ("data of all Auction Ads and Reservation Ads") has no such filter: its
//   totals count every buying type, so they equal the sum of the lower levels' answers without
//   the filter and with it.
// - One report processes the `ads_cap` most recently created ads of what it selects; the
//   figures of the others are left out, and the response carries `X-Tt-Ads-Throttle`. Id
//   filters (at most 100 ids each) narrow a report under the cap.

/// Which buying types a report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum BuyingScope {
    /// No `buying_type` filter below the advertiser level: auction and reach & frequency.
    Default,
    Only(BuyingType),
    /// The advertiser level, or a server that ignores buying types (`SimConfig::buying_types`
    /// set to `BuyingTypes::Ignored` or `Refused`).
    Every,
}

impl BuyingScope {
    pub(super) fn covers(self, buying: BuyingType) -> bool {
        match self {
            BuyingScope::Default => buying != BuyingType::TopView,
            BuyingScope::Only(only) => only == buying,
            BuyingScope::Every => true,
        }
    }
}

/// The scope a `buying_type` filter asks for, or TikTok's refusal.
fn buying_scope(level: Level, values: &[String]) -> Result<BuyingScope, ApiError> {
    if level == Level::Advertiser {
        return Err(bad(
            "filtering: buying_type is not supported for data_level AUCTION_ADVERTISER",
        ));
    }
    let mut types = Vec::with_capacity(values.len().min(BuyingType::ALL.len()));
    for v in values {
        let buying = BuyingType::from_api(v)
            .ok_or_else(|| bad(format!("filtering: invalid buying_type value {v}")))?;
        if !types.contains(&buying) {
            types.push(buying);
        }
    }
    match types.as_slice() {
        [] => Err(bad("filtering: buying_type needs a value")),
        [only] => Ok(BuyingScope::Only(*only)),
        many if many.contains(&BuyingType::TopView) => Err(bad(
            "filtering: buying_type RESERVATION_TOP_VIEW cannot be combined with other buying types",
        )),
        _ => Ok(BuyingScope::Default),
    }
}

/// The values of a filter: a JSON-array string (as the API wants) or a JSON array.
fn filter_values(v: Option<&Value>) -> Option<Vec<String>> {
    let parsed;
    let array = match v? {
        Value::String(s) => {
            parsed = serde_json::from_str::<Value>(s).ok()?;
            parsed.as_array()?
        }
        Value::Array(a) => a,
        _ => return None,
    };
    array
        .iter()
        .map(|x| match x {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .collect()
}
