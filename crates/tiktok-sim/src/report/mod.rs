//! `report/integrated/get/` over the simulated data, in three steps: `validate` (TikTok's
//! documented rules of report type, lifetime, time dimension and date span come from
//! [`crate::rules`]; dimensions, metrics, filters and buying types are checked here, per Run a
//! synchronous report, portal doc 1740302848100353, answered with TikTok's refusals), `plan`
//! (which rows exist: an ad delivers on a deterministic subset of hours from its creation to
//! today or its deletion, and a campaign, ad group or advertiser through its ads; day and
//! lifetime rows aggregate those hours; which buying types the query covers; which ads the
//! 20,000-ads cap leaves out) and render (the metric values and wire formats of each row). Rows
//! are planned as small keys first so the server renders only the page it answers.
//!
//! The levels add up as TikTok's do: ads are the only unit whose figures are drawn, and a row
//! above the ad level holds the sum of its ads' hours (those the query processes, deleted ones
//! included), so the campaigns' rows of a day sum to the advertiser's totals, the ad groups'
//! to their campaign's, the ads' to their ad group's.
//!
//! The same steps serve TikTok's asynchronous report tasks ([`Flow::Async`]): validated with
//! the asynchronous differences of [`crate::rules::ASYNC_RULES`] (no date span limit, id
//! filters only), planned without the ads cap, and rendered whole as the CSV file
//! `report/task/download/` streams ([`Model::async_report_csv`]).

mod plan;
mod render;
mod task_csv;
#[cfg(test)]
mod tests;
mod totals;
mod validate;

use chrono::NaiveDate;
use serde_json::Value;

use super::model::Model;
use crate::catalog::{Level, ReportType};
use render::MetricSpec;

/// One `report/integrated/get/` query, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportQuery {
    pub advertiser_id: u64,
    pub report_type: ReportType,
    pub level: Level,
    pub dimensions: Vec<String>,
    pub metrics: Vec<String>,
    pub start_date: Option<NaiveDate>,
    pub end_date: Option<NaiveDate>,
    pub lifetime: bool,
    /// `{field_name, filter_type, filter_value}` objects; `filter_value` a JSON-array string.
    pub filtering: Vec<Value>,
}

/// How many ads one report processes: the most recently created ones (Run a synchronous report,
/// portal doc 1740302848100353; Reporting FAQ, 1738864850353154).
pub(crate) const ADS_CAP: usize = 20_000;
/// The response header that says a report processed only the most recently created ads (at
/// most `ADS_CAP` of them).
pub const ADS_THROTTLE_HEADER: &str = "X-Tt-Ads-Throttle";
/// Ids per `campaign_ids` / `adgroup_ids` / `ad_ids` filter.
const MAX_FILTER_IDS: usize = 100;

const GENDERS: &[&str] = &["MALE", "FEMALE", "NONE"];
const AGES: &[&str] = &[
    "AGE_13_17",
    "AGE_18_24",
    "AGE_25_34",
    "AGE_35_44",
    "AGE_45_54",
    "AGE_55_100",
];
const COUNTRIES: &[&str] = &["US", "GB", "DE", "FR", "JP", "BR"];
/// The country names of [`COUNTRIES`], in the same order: what an asynchronous report's
/// `country_code` column holds (TikTok's known issue, [`crate::rules::ASYNC_RULES`]'s
/// `async_country_code_as_name`).
const COUNTRY_NAMES: [&str; COUNTRIES.len()] = [
    "United States",
    "United Kingdom",
    "Germany",
    "France",
    "Japan",
    "Brazil",
];
const PLATFORMS: &[&str] = &["ANDROID", "IPHONE", "PC"];
/// Geoname ids of California, Texas, New York and Florida.
const PROVINCES: &[&str] = &["5332921", "4736286", "5128638", "4155751"];

/// The breakdown of a query: which values split each entity's rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Bd {
    None,
    Gender,
    Age,
    GenderAge,
    Country,
    Platform,
    Province,
}

impl Bd {
    fn count(self) -> u16 {
        match self {
            Bd::None => 1,
            Bd::Gender => GENDERS.len() as u16,
            Bd::Age => AGES.len() as u16,
            Bd::GenderAge => (GENDERS.len() * AGES.len()) as u16,
            Bd::Country => COUNTRIES.len() as u16,
            Bd::Platform => PLATFORMS.len() as u16,
            Bd::Province => PROVINCES.len() as u16,
        }
    }

    fn code(self) -> u64 {
        self as u64 + 1
    }

    fn value(self, dim: &str, i: u16) -> &'static str {
        let i = i as usize;
        match (self, dim) {
            (Bd::Gender, "gender") => GENDERS[i],
            (Bd::GenderAge, "gender") => GENDERS[i / AGES.len()],
            (Bd::Age, "age") => AGES[i],
            (Bd::GenderAge, "age") => AGES[i % AGES.len()],
            (Bd::Country, _) => COUNTRIES[i],
            (Bd::Platform, _) => PLATFORMS[i],
            (Bd::Province, _) => PROVINCES[i],
            _ => "",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimeDim {
    Day,
    Hour,
    /// No time dimension: one row per entity and breakdown, aggregated over the window.
    Aggregate,
}

/// An entity rows can be about, at the query's level.
#[derive(Debug, Clone, Copy)]
struct Ent {
    id: u64,
    /// Index into the advertiser's campaigns / ad groups / ads (unused at advertiser level).
    index: u32,
    first_hour: i64,
    last_hour: i64,
    /// `u16` bit mask of the breakdown values this entity's ads reach.
    bd_mask: u32,
    /// `(start, count)` in [`ReportPlan::members`]: the ads the query processes whose hours
    /// the entity's rows sum (the ad itself at the ad level).
    members: (u32, u32),
    /// The conversion funnels the entity's ads run ([`crate::catalog::Funnel`] bits).
    funnels: crate::catalog::Funnels,
}

/// An ad whose delivery an entity's rows sum, with the funnels its ad group runs.
#[derive(Debug, Clone, Copy)]
struct Member {
    /// Index into the advertiser's ads.
    ad: u32,
    funnels: crate::catalog::Funnels,
}

#[derive(Debug, Clone, Copy)]
struct RowKey {
    /// Day number (Day), hour number (Hour) or unused (Aggregate).
    time: i64,
    ent: u32,
    bd: u16,
}

/// The rows a report query answers, as keys; render any slice with [`Model::render_rows`].
#[derive(Debug, Clone)]
pub(crate) struct ReportPlan {
    advertiser_id: u64,
    level: Level,
    dimensions: Vec<(String, Vec<u8>)>,
    metrics: Vec<MetricSpec>,
    bd: Bd,
    time: TimeDim,
    /// Inclusive hour range the rows aggregate (Aggregate) or are limited to.
    hours: (i64, i64),
    ents: Vec<Ent>,
    /// The member ads of every entity, entity after entity (see [`Ent::members`]).
    members: Vec<Member>,
    /// The funnels the query's metrics count: the rows sum those per funnel.
    asked_funnels: crate::catalog::Funnels,
    keys: Vec<RowKey>,
    /// The query covered more ads than the cap: TikTok says so with [`ADS_THROTTLE_HEADER`].
    ads_throttled: bool,
    /// The ads the query selects (before the cap).
    selected_ads: u32,
}

impl ReportPlan {
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// The ads the query selects, before the cap.
    pub(crate) fn selected_ads(&self) -> usize {
        self.selected_ads as usize
    }

    /// Whether the answer carries [`ADS_THROTTLE_HEADER`].
    pub(crate) fn ads_throttled(&self) -> bool {
        self.ads_throttled
    }
}

/// Which report flow a query comes from: `report/integrated/get/`, or an asynchronous report
/// task (`report/task/create/`; Run an asynchronous report,
/// [`crate::rules::docs::ASYNC_REPORT`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Flow {
    Sync,
    /// No date span limit, only id filters, no UV metric with an audience dimension, and no
    /// ads cap.
    Async,
}

type ApiError = (i64, String);

fn bad(message: impl Into<String>) -> ApiError {
    (40002, message.into())
}

/// Inclusive day count of a window.
pub(crate) fn window_days(start: NaiveDate, end: NaiveDate) -> i64 {
    (end - start).num_days() + 1
}

impl Model {
    /// Every row `report/integrated/get/` would return for `q` (before pagination), or the
    /// TikTok error code and message the query gets.
    pub fn report_rows(&self, q: &ReportQuery) -> Result<Vec<Value>, (i64, String)> {
        let plan = self.report_plan(q)?;
        Ok(self.render_rows(&plan, 0, plan.len()))
    }

    /// The cap on the ads one report processes.
    pub(crate) fn ads_cap(&self) -> usize {
        self.ads_cap
    }

    /// Validates `q` and lists its rows as keys: [`Model::validate`], then [`Model::plan`]; the
    /// rows are rendered page by page with [`Model::render_rows_json`].
    pub(crate) fn report_plan(&self, q: &ReportQuery) -> Result<ReportPlan, ApiError> {
        let valid = self.validate(q, Flow::Sync)?;
        Ok(self.plan(q, valid, self.ads_cap))
    }

    /// The refusal `report/task/create/` answers for `q`, if any (see [`Flow::Async`]).
    pub(crate) fn validate_async(&self, q: &ReportQuery) -> Result<(), ApiError> {
        self.validate(q, Flow::Async).map(|_| ())
    }

    /// The rows of an asynchronous report task: validated as such, every ad processed.
    pub(crate) fn async_report_plan(&self, q: &ReportQuery) -> Result<ReportPlan, ApiError> {
        let valid = self.validate(q, Flow::Async)?;
        Ok(self.plan(q, valid, usize::MAX))
    }
}
