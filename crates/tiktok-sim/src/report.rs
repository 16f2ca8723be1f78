//! `report/integrated/get/` over the simulated data, in three steps: `validate` (TikTok's
//! documented rules of report type, lifetime, time dimension and date span come from
//! [`crate::rules`]; dimensions, metrics, filters and buying types are checked here, per Run a
//! synchronous report, portal doc 1740302848100353, answered with TikTok's refusals), `plan`
//! (which rows exist: an entity delivers on a deterministic subset of hours from its creation to
//! today or its deletion, day and lifetime rows aggregate those hours; which buying types the
//! query covers; which ads the 20,000-ads cap leaves out) and render (the metric values and wire
//! formats of each row). Rows are planned as small keys first so the
//! server renders only the page it answers.
//!
//! The same steps serve TikTok's asynchronous report tasks ([`Flow::Async`]): validated with
//! the asynchronous differences of [`crate::rules::ASYNC_RULES`] (no date span limit, id
//! filters only), planned without the ads cap, and rendered whole as the CSV file
//! `report/task/download/` streams ([`Model::async_report_csv`]).

use std::collections::HashSet;

use chrono::NaiveDate;
use serde_json::Value;

use super::model::{
    ad_text, currency, day_num, hash, mix, objective, placement_type, str_hash, Advertiser,
    BuyingType, Life, Model,
};
use super::server::value_text;
use crate::catalog::{is_metric_allowed, metric_type, Granularity, Level, MetricType, ReportType};

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

const ID_DIMENSIONS: &[&str] = &["advertiser_id", "campaign_id", "adgroup_id", "ad_id"];
const TIME_DIMENSIONS: &[&str] = &["stat_time_day", "stat_time_hour"];
const BREAKDOWN_DIMENSIONS: &[&str] = &["gender", "age", "country_code", "platform", "province_id"];

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
    /// `u16` bit mask of the breakdown values this entity has rows for.
    bd_mask: u32,
    /// `(processed, total)` of the entity's ads when the ads cap leaves some out: its figures
    /// cover only the processed ones.
    share: Option<(u32, u32)>,
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

/// A report query that passed validation: what the planner needs to list its rows.
struct Validated<'m> {
    adv: &'m Advertiser,
    time: TimeDim,
    bd: Bd,
    /// Inclusive hour range of the rows.
    hours: (i64, i64),
    include_deleted: bool,
    only_deleted: bool,
    ids: IdFilters,
    buying: BuyingScope,
}

/// The id filters of a query (`campaign_ids`, `adgroup_ids`, `ad_ids`); `None` where the
/// query has none, which selects every id of that level.
#[derive(Default)]
struct IdFilters {
    campaign_ids: Option<HashSet<u64>>,
    adgroup_ids: Option<HashSet<u64>>,
    ad_ids: Option<HashSet<u64>>,
}

type ApiError = (i64, String);

fn bad(message: impl Into<String>) -> ApiError {
    (40002, message.into())
}

/// Inclusive day count of a window.
pub(crate) fn window_days(start: NaiveDate, end: NaiveDate) -> i64 {
    (end - start).num_days() + 1
}

/// Does the entity deliver in this hour?
fn hour_active(seed: u64, id: u64, hour: i64) -> bool {
    hash(&[seed, id, hour as u64]) % 3 != 0
}

/// What one hour of an entity's figures is drawn from: the seed, the entity, the hour, and
/// the breakdown with the index of its value (see [`Totals::add_hour`]).
#[derive(Debug, Clone, Copy)]
struct HourDraw {
    seed: u64,
    id: u64,
    hour: i64,
    bd: Bd,
    bd_index: u16,
}

/// One row being rendered: its advertiser, plan, entity and summed delivery, from which
/// each metric's value is read.
#[derive(Clone, Copy)]
struct RowFigures<'a> {
    adv: &'a Advertiser,
    plan: &'a ReportPlan,
    ent: &'a Ent,
    totals: &'a Totals,
}

/// Summed delivery of some hours.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    impressions: u64,
    clicks: u64,
    spend_m: u64,
    voucher_m: u64,
    reach: u64,
    conversions: u64,
    rt_conversions: u64,
    video_plays: u64,
    watched_2s: u64,
    watched_6s: u64,
    p25: u64,
    p50: u64,
    p75: u64,
    p100: u64,
    play_ms: u64,
    likes: u64,
    comments: u64,
    shares: u64,
    follows: u64,
    profile_visits: u64,
    music_clicks: u64,
    installs: u64,
    rt_installs: u64,
    purchases: u64,
    purchase_value_m: u64,
    registrations: u64,
    sales_leads: u64,
    pageviews: u64,
    add_to_cart: u64,
    onsite_shopping: u64,
    complete_payment: u64,
}

impl Totals {
    /// Keeps `processed / total` of every figure: what is left of an entity's delivery when the
    /// ads cap leaves some of its ads out.
    fn keep_share(&mut self, processed: u64, total: u64) {
        let part = |v: &mut u64| *v = (*v as u128 * processed as u128 / total as u128) as u64;
        for field in [
            &mut self.impressions,
            &mut self.clicks,
            &mut self.spend_m,
            &mut self.voucher_m,
            &mut self.reach,
            &mut self.conversions,
            &mut self.rt_conversions,
            &mut self.video_plays,
            &mut self.watched_2s,
            &mut self.watched_6s,
            &mut self.p25,
            &mut self.p50,
            &mut self.p75,
            &mut self.p100,
            &mut self.play_ms,
            &mut self.likes,
            &mut self.comments,
            &mut self.shares,
            &mut self.follows,
            &mut self.profile_visits,
            &mut self.music_clicks,
            &mut self.installs,
            &mut self.rt_installs,
            &mut self.purchases,
            &mut self.purchase_value_m,
            &mut self.registrations,
            &mut self.sales_leads,
            &mut self.pageviews,
            &mut self.add_to_cart,
            &mut self.onsite_shopping,
            &mut self.complete_payment,
        ] {
            part(field);
        }
    }

    /// Adds the figures drawn for one hour of one entity and breakdown value; `scale` (larger
    /// for higher levels) multiplies the impressions.
    fn add_hour(&mut self, draw: HourDraw, scale: u64) {
        let HourDraw {
            seed,
            id,
            hour,
            bd,
            bd_index,
        } = draw;
        let r1 = hash(&[
            seed ^ 0xA11CE,
            id,
            hour as u64,
            bd.code() << 16 | bd_index as u64,
        ]);
        let r2 = mix(r1);
        let r3 = mix(r2);
        let imp = (20 + r1 % 400) * scale / if bd == Bd::None { 1 } else { 3 };
        let clicks = imp * ((r1 >> 12) % 40) / 1000;
        let cpm_m = 2_000 + (r1 >> 20) % 8_000;
        let spend_m = imp * cpm_m / 1000;
        // Small counts round stochastically so hourly rows are not all zero.
        let conv = (clicks * ((r1 >> 36) % 25) + (r3 >> 60) * 6) / 100;
        let plays = imp * (30 + (r2 % 50)) / 100;
        let w2 = plays * (40 + (r2 >> 8) % 50) / 100;
        let w6 = w2 * (30 + (r2 >> 16) % 50) / 100;
        let p25 = plays * (50 + (r2 >> 24) % 40) / 100;
        let p50 = p25 * (50 + (r2 >> 32) % 40) / 100;
        let p75 = p50 * (50 + (r2 >> 40) % 40) / 100;
        let p100 = p75 * (40 + (r2 >> 48) % 50) / 100;
        let installs = (clicks * (r3 % 10) + (r2 >> 58) % 50) / 100;
        let purchases = conv * ((r3 >> 8) % 40) / 100;
        self.impressions += imp;
        self.clicks += clicks;
        self.spend_m += spend_m;
        self.voucher_m += spend_m * ((r1 >> 44) % 10) / 100;
        self.reach += imp * (55 + (r1 >> 28) % 40) / 100;
        self.conversions += conv;
        self.rt_conversions += conv * (80 + (r1 >> 52) % 20) / 100;
        self.video_plays += plays;
        self.watched_2s += w2;
        self.watched_6s += w6;
        self.p25 += p25;
        self.p50 += p50;
        self.p75 += p75;
        self.p100 += p100;
        self.play_ms += plays * (800 + (r2 >> 54) % 4_000);
        self.likes += plays * ((r3 >> 16) % 30) / 1000;
        self.comments += plays * ((r3 >> 24) % 6) / 1000;
        self.shares += plays * ((r3 >> 28) % 5) / 1000;
        self.follows += plays * ((r3 >> 32) % 4) / 1000;
        self.profile_visits += plays * ((r3 >> 36) % 12) / 1000;
        self.music_clicks += plays * ((r3 >> 40) % 3) / 1000;
        self.installs += installs;
        self.rt_installs += installs * (70 + (r3 >> 44) % 30) / 100;
        self.purchases += purchases;
        self.purchase_value_m += purchases * (5_000 + (r3 >> 48) % 95_000);
        self.registrations += conv * ((r3 >> 52) % 30) / 100;
        self.sales_leads += conv * ((r3 >> 56) % 20) / 100;
        self.pageviews += clicks * (100 + (r2 >> 4) % 150) / 100;
        self.add_to_cart += conv * (20 + (r2 >> 12) % 60) / 100;
        self.onsite_shopping += purchases / 2;
        self.complete_payment += purchases * (60 + (r2 >> 20) % 40) / 100;
    }
}

/// Text of a fixed-point value: `units` with `digits` decimals.
fn fixed(units: u64, digits: u32) -> String {
    let div = 10u64.pow(digits);
    format!(
        "{}.{:0width$}",
        units / div,
        units % div,
        width = digits as usize
    )
}

/// `num / den` with `digits` decimals (0 when `den` is 0), as fixed-point units.
fn ratio(num: u64, den: u64, digits: u32) -> u64 {
    if den == 0 {
        0
    } else {
        ((num as u128 * 10u128.pow(digits)) / den as u128) as u64
    }
}

/// One metric value, written straight into the response body.
enum Cell {
    Str(String),
    Static(&'static str),
    /// JSON number text.
    Num(String),
    Null,
}

impl Cell {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Cell::Str(s) => write_str(out, s),
            Cell::Static(s) => write_str(out, s),
            Cell::Num(n) => out.extend_from_slice(n.as_bytes()),
            Cell::Null => out.extend_from_slice(b"null"),
        }
    }
}

/// A JSON string literal.
fn write_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b < 0x7f)
    {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// How a metric travels on the wire in this report.
#[derive(Clone, Copy, Debug)]
enum Wire {
    Str,
    Num,
}

impl Wire {
    fn int(self, v: u64) -> Cell {
        match self {
            Wire::Str => Cell::Str(v.to_string()),
            Wire::Num => Cell::Num(v.to_string()),
        }
    }

    fn fixed(self, units: u64, digits: u32) -> Cell {
        let text = fixed(units, digits);
        match self {
            Wire::Str => Cell::Str(text),
            Wire::Num => Cell::Num(text),
        }
    }
}

/// What a plan knows about each requested metric, worked out once per query.
#[derive(Debug, Clone)]
struct MetricSpec {
    name: String,
    /// `"name":`, escaped.
    key: Vec<u8>,
    mtype: Option<MetricType>,
    wire: Wire,
}

fn json_key(name: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(name.len() + 3);
    write_str(&mut key, name);
    key.push(b':');
    key
}

/// BASIC reports send video and engagement metrics as JSON numbers; everything else numeric is a
/// decimal string (AUDIENCE reports send all of them as strings).
fn engagement_metric(name: &str) -> bool {
    name.starts_with("video_")
        || name.starts_with("average_video_play")
        || name.starts_with("engaged_view")
        || name.starts_with("paid_engaged_view")
        || name.starts_with("cost_per_")
            && !matches!(
                name,
                "cost_per_conversion"
                    | "cost_per_result"
                    | "cost_per_1000_reached"
                    | "cost_per_result_v2"
            )
            && !name.contains("secondary_goal")
        || matches!(
            name,
            "profile_visits"
                | "profile_visits_rate"
                | "likes"
                | "comments"
                | "shares"
                | "follows"
                | "clicks_on_music_disc"
                | "real_time_app_install"
                | "real_time_app_install_cost"
                | "app_install"
                | "purchase"
                | "purchase_rate"
                | "registration"
                | "registration_rate"
                | "sales_lead"
                | "sales_lead_rate"
                | "total_app_event_add_to_cart"
                | "engagements"
        )
}

impl Model {
    /// Every row `report/integrated/get/` would return for `q` (before pagination), or the
    /// TikTok error code and message the query gets.
    pub fn report_rows(&self, q: &ReportQuery) -> Result<Vec<Value>, (i64, String)> {
        let plan = self.report_plan(q)?;
        Ok(self.render_rows(&plan, 0, plan.len()))
    }

    /// Validates `q` and lists its rows as keys: [`Model::validate`], then [`Model::plan`]; the
    /// rows are rendered page by page with [`Model::render_rows_json`].
    /// The cap on the ads one report processes.
    pub(crate) fn ads_cap(&self) -> usize {
        self.ads_cap
    }

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

    /// The output of an asynchronous report task with `output_format` CSV_STRING, as
    /// `report/task/download/` streams it (Download the output of an async report task,
    /// [`crate::rules::docs::ASYNC_TASK_DOWNLOAD`]): a header row, then one line per row of
    /// [`Model::async_report_plan`] (the rows of `report/integrated/get/` for `q`, same values,
    /// same order, but no ads cap: "the API asynchronous report does not implement the
    /// 20,000-truncation for ads", Reporting FAQ, [`crate::rules::docs::REPORTING_FAQ`]). The columns are the requested dimensions, then
    /// the requested metrics, each in request order; their titles are translated
    /// ([`report_title`]) when `translate_titles` (`enable_report_title_translation`, true by
    /// default), the field names otherwise. Every cell is the text of the same cell in the JSON
    /// row ([`value_text`]: a string unquoted, a number as its JSON text, null as an empty cell),
    /// but a `country_code` cell, which holds the country's name ([`country_name`]).
    pub(crate) fn async_report_csv(
        &self,
        q: &ReportQuery,
        translate_titles: bool,
    ) -> Result<Vec<u8>, ApiError> {
        /// Rows rendered (as JSON) at a time, to bound the memory of a large report.
        const CHUNK: usize = 2_000;
        let plan = self.async_report_plan(q)?;
        let mut out = csv::Writer::from_writer(Vec::with_capacity(plan.len() * 64 + 256));
        let csv_error = |e: csv::Error| (50000, format!("System error: {e}"));
        let header: Vec<String> = q
            .dimensions
            .iter()
            .chain(&q.metrics)
            .map(|f| {
                if translate_titles {
                    report_title(f)
                } else {
                    f.clone()
                }
            })
            .collect();
        out.write_record(&header).map_err(csv_error)?;
        let mut record: Vec<String> = Vec::with_capacity(header.len());
        for from in (0..plan.len()).step_by(CHUNK) {
            for row in self.render_rows(&plan, from, from + CHUNK) {
                record.clear();
                for d in &q.dimensions {
                    let cell = value_text(&row["dimensions"][d.as_str()]);
                    record.push(if d == "country_code" {
                        country_name(&cell)
                    } else {
                        cell
                    });
                }
                for m in &q.metrics {
                    record.push(value_text(&row["metrics"][m.as_str()]));
                }
                out.write_record(&record).map_err(csv_error)?;
            }
        }
        out.into_inner()
            .map_err(|e| (50000, format!("System error: {e}")))
    }

    /// Everything TikTok checks before it answers a report query: the refusals, or what the
    /// planner needs.
    fn validate<'m>(&'m self, q: &ReportQuery, flow: Flow) -> Result<Validated<'m>, ApiError> {
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
        let audience = q.report_type == ReportType::Audience;

        // Dimensions.
        let mut seen = HashSet::new();
        let unknown: Vec<&String> = q
            .dimensions
            .iter()
            .filter(|d| {
                let d = d.as_str();
                !(ID_DIMENSIONS.contains(&d)
                    || TIME_DIMENSIONS.contains(&d)
                    || BREAKDOWN_DIMENSIONS.contains(&d))
            })
            .collect();
        if !unknown.is_empty() {
            return Err(bad(format!("Invalid dimension fields: {unknown:?}")));
        }
        if let Some(dup) = q.dimensions.iter().find(|d| !seen.insert(d.as_str())) {
            return Err(bad(format!("dimensions: duplicated dimension {dup}")));
        }
        let ids: Vec<&str> = q
            .dimensions
            .iter()
            .map(String::as_str)
            .filter(|d| ID_DIMENSIONS.contains(d))
            .collect();
        if ids.len() != 1 || ids[0] != q.level.id_field() {
            return Err(bad(format!(
                "dimensions: data_level {} needs exactly one id dimension, {}",
                q.level.data_level(),
                q.level.id_field()
            )));
        }
        let times: Vec<&str> = q
            .dimensions
            .iter()
            .map(String::as_str)
            .filter(|d| TIME_DIMENSIONS.contains(d))
            .collect();
        if times.len() > 1 {
            return Err(bad(
                "dimensions: at most one of stat_time_day and stat_time_hour",
            ));
        }
        let time = match times.first() {
            Some(&"stat_time_day") => TimeDim::Day,
            Some(_) => TimeDim::Hour,
            None => TimeDim::Aggregate,
        };
        let has = |d: &str| q.dimensions.iter().any(|x| x == d);
        let breakdowns: Vec<&str> = q
            .dimensions
            .iter()
            .map(String::as_str)
            .filter(|d| BREAKDOWN_DIMENSIONS.contains(d))
            .collect();
        let bd = match (has("gender"), has("age"), breakdowns.len()) {
            (_, _, 0) => Bd::None,
            (true, true, 2) => Bd::GenderAge,
            (true, false, 1) => Bd::Gender,
            (false, true, 1) => Bd::Age,
            (_, _, 1) if has("country_code") => Bd::Country,
            (_, _, 1) if has("platform") => Bd::Platform,
            (_, _, 1) => Bd::Province,
            _ => {
                return Err(bad(format!(
                    "dimensions: {breakdowns:?} cannot be combined (only gender with age)"
                )))
            }
        };
        if !audience && !matches!(bd, Bd::None | Bd::Country) {
            return Err(bad(format!(
                "dimensions: {breakdowns:?} are only available in AUDIENCE reports"
            )));
        }
        if audience && bd == Bd::None {
            return Err(bad(
                "dimensions: AUDIENCE reports need an audience dimension",
            ));
        }
        if bd == Bd::Province && q.level != Level::Ad {
            return Err(bad(
                "dimensions: province_id is only available at data_level AUCTION_AD",
            ));
        }
        // TikTok's documented rules of report type, lifetime, time dimension and date span (no
        // date span for asynchronous tasks).
        let shape = crate::rules::ReportShape {
            report_type: q.report_type,
            time: match time {
                TimeDim::Day => crate::rules::TimeDimension::Day,
                TimeDim::Hour => crate::rules::TimeDimension::Hour,
                TimeDim::Aggregate => crate::rules::TimeDimension::None,
            },
            has_country_code: has("country_code"),
            lifetime: q.lifetime,
            start_date: q.start_date,
            end_date: q.end_date,
            hourly_audience_refused: self.hourly_audience_refused,
        };
        match flow {
            Flow::Sync => crate::rules::check_report(&shape)?,
            Flow::Async => {
                crate::rules::check_async_report(&shape)?;
                crate::rules::check_async_uv_metrics(&q.metrics, &q.dimensions)?;
            }
        }

        // Window.
        let hours = match (q.lifetime, q.start_date, q.end_date) {
            (false, Some(start), Some(end)) => (day_num(start) * 24, day_num(end) * 24 + 23),
            _ => (adv.first_hour, adv.last_hour),
        };

        // Metrics.
        let granularity = match time {
            TimeDim::Day => Granularity::Day,
            TimeDim::Hour => Granularity::Hour,
            TimeDim::Aggregate => Granularity::Lifetime,
        };
        let invalid: Vec<&String> = q
            .metrics
            .iter()
            .filter(|m| {
                metric_type(m).is_none()
                    || !is_metric_allowed(m, q.report_type, q.level, granularity)
            })
            .collect();
        if !invalid.is_empty() {
            return Err(bad(format!("Invalid metric fields: {invalid:?}")));
        }

        // Filtering.
        let mut include_deleted = false;
        let mut only_deleted = false;
        let mut ids = IdFilters::default();
        let mut buying = match self.buying_types {
            crate::BuyingTypes::Documented => BuyingScope::Default,
            _ => BuyingScope::Every,
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
                    if q.level.status_filter_field() != Some(field) {
                        return Err(bad(format!(
                            "filtering: {field} is not supported for data_level {}",
                            q.level.data_level()
                        )));
                    }
                    for v in &values {
                        match v.as_str() {
                            "STATUS_ALL" => include_deleted = true,
                            "STATUS_NOT_DELETE" => {}
                            "STATUS_DELETE" => only_deleted = true,
                            other => {
                                return Err(bad(format!(
                                    "filtering: invalid {field} value {other}"
                                )))
                            }
                        }
                    }
                }
                "campaign_ids" | "adgroup_ids" | "ad_ids" => {
                    let rank = match field {
                        "campaign_ids" => Level::Campaign,
                        "adgroup_ids" => Level::AdGroup,
                        _ => Level::Ad,
                    };
                    if q.level < rank {
                        return Err(bad(format!(
                            "filtering: {field} is not supported for data_level {}",
                            q.level.data_level()
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
                        Level::Campaign => ids.campaign_ids = Some(set),
                        Level::AdGroup => ids.adgroup_ids = Some(set),
                        _ => ids.ad_ids = Some(set),
                    }
                }
                "buying_type" if self.buying_types == crate::BuyingTypes::Ignored => {}
                "buying_type" if self.buying_types == crate::BuyingTypes::Refused => {
                    return Err(bad("filtering: unknown field_name buying_type"));
                }
                "buying_type" => buying = buying_scope(q.level, &values)?,
                other => return Err(bad(format!("filtering: invalid field_name {other:?}"))),
            }
        }
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

    /// The rows of a valid query, as keys: the entities of the level the filters and the buying
    /// types select, the ads cap (`ads_cap` most recently created ads processed), then one key
    /// per time unit, entity and breakdown with delivery.
    fn plan(&self, q: &ReportQuery, v: Validated<'_>, ads_cap: usize) -> ReportPlan {
        let Validated {
            adv,
            time,
            bd,
            hours,
            include_deleted,
            only_deleted,
            ids,
            buying,
        } = v;
        let keep_deleted = |deleted: bool| {
            if only_deleted && !include_deleted {
                deleted
            } else {
                include_deleted || !deleted
            }
        };
        let in_set =
            |set: &Option<HashSet<u64>>, id: u64| set.as_ref().is_none_or(|s| s.contains(&id));

        // The ads the query processes: those of its buying types and id filters, at most
        // `ads_cap` of them, the most recently created.
        let ads = self.processed_ads(adv, buying, &ids, ads_cap);
        let covers = |c: u32| buying.covers(adv.campaigns[c as usize].buying);

        // Entities, in id order.
        let seed = self.seed;
        let mask_of = |id: u64| bd_mask(seed, id, bd);
        // An entity of the plan; `None` when the ads cap leaves out every one of its ads.
        let ent = |id: u64, index: usize, life: &Life, share: Option<(u32, u32)>| {
            if matches!(share, Some((0, _))) {
                return None;
            }
            Some(Ent {
                id,
                index: index as u32,
                first_hour: life.first_hour,
                last_hour: life.last_hour,
                bd_mask: mask_of(id),
                share,
            })
        };
        let mut ents: Vec<Ent> = Vec::new();
        match q.level {
            Level::Advertiser => ents.push(Ent {
                id: adv.id,
                index: 0,
                first_hour: adv.first_hour,
                last_hour: adv.last_hour,
                bd_mask: mask_of(adv.id),
                share: ads.share_of_all(),
            }),
            Level::Campaign => {
                for (i, c) in adv.campaigns.iter().enumerate() {
                    if covers(i as u32)
                        && keep_deleted(c.life.deleted)
                        && in_set(&ids.campaign_ids, c.id)
                    {
                        let share = ads.share_of_campaign(i);
                        ents.extend(ent(c.id, i, &c.life, share));
                    }
                }
            }
            Level::AdGroup => {
                for (i, g) in adv.adgroups.iter().enumerate() {
                    let c = &adv.campaigns[g.campaign as usize];
                    if covers(g.campaign)
                        && keep_deleted(g.life.deleted)
                        && in_set(&ids.campaign_ids, c.id)
                        && in_set(&ids.adgroup_ids, g.id)
                    {
                        let share = ads.share_of_adgroup(i);
                        ents.extend(ent(g.id, i, &g.life, share));
                    }
                }
            }
            Level::Ad => {
                for (i, a) in adv.ads.iter().enumerate() {
                    if covers(a.campaign)
                        && keep_deleted(a.life.deleted)
                        && in_set(&ids.campaign_ids, adv.campaigns[a.campaign as usize].id)
                        && in_set(&ids.adgroup_ids, adv.adgroups[a.adgroup as usize].id)
                        && in_set(&ids.ad_ids, a.id)
                    {
                        let share = ads.share_of_ad(i);
                        ents.extend(ent(a.id, i, &a.life, share));
                    }
                }
            }
        }

        // Row keys: by time, entity, breakdown.
        let mut keys = Vec::new();
        let push_bds = |keys: &mut Vec<RowKey>, time: i64, e: u32, mask: u32| {
            for b in 0..bd.count() {
                if mask & (1 << b) != 0 {
                    keys.push(RowKey {
                        time,
                        ent: e,
                        bd: b,
                    });
                }
            }
        };
        let delivers_hour =
            |e: &Ent, h: i64| hour_active(seed, e.id, h) && self.delivers_on(adv, h.div_euclid(24));
        let delivers = |e: &Ent, from: i64, to: i64| {
            let (from, to) = (from.max(e.first_hour), to.min(e.last_hour));
            (from..=to).any(|h| delivers_hour(e, h))
        };
        // Hours outside every entity's life have no rows: the loops below skip them (a range
        // of asynchronous task may span years).
        let lives = ents
            .iter()
            .map(|e| (e.first_hour, e.last_hour))
            .reduce(|(a, b), (c, d)| (a.min(c), b.max(d)));
        let (lo, hi) = match lives {
            Some((first, last)) => (hours.0.max(first), hours.1.min(last)),
            None => (1, 0),
        };
        match time {
            _ if lo > hi => {}
            TimeDim::Day => {
                // The clamp above may start or end mid-day (an entity's life); a day row sums
                // the whole day (`delivers` clamps by the entity's life only), which is right
                // because a daily window starts and ends on day boundaries (lifetime queries
                // have no time dimension).
                debug_assert!(
                    hours.0.rem_euclid(24) == 0 && hours.1.rem_euclid(24) == 23,
                    "daily window {hours:?} not on day boundaries"
                );
                for day in lo.div_euclid(24)..=hi.div_euclid(24) {
                    for (k, e) in ents.iter().enumerate() {
                        if delivers(e, day * 24, day * 24 + 23) {
                            push_bds(&mut keys, day, k as u32, e.bd_mask);
                        }
                    }
                }
            }
            TimeDim::Hour => {
                for hour in lo..=hi {
                    for (k, e) in ents.iter().enumerate() {
                        if hour >= e.first_hour && hour <= e.last_hour && delivers_hour(e, hour) {
                            push_bds(&mut keys, hour, k as u32, e.bd_mask);
                        }
                    }
                }
            }
            TimeDim::Aggregate => {
                for (k, e) in ents.iter().enumerate() {
                    if delivers(e, hours.0, hours.1) {
                        push_bds(&mut keys, 0, k as u32, e.bd_mask);
                    }
                }
            }
        }

        ReportPlan {
            advertiser_id: adv.id,
            level: q.level,
            dimensions: q
                .dimensions
                .iter()
                .map(|d| (d.clone(), json_key(d)))
                .collect(),
            metrics: q
                .metrics
                .iter()
                .map(|m| MetricSpec {
                    name: m.clone(),
                    key: json_key(m),
                    mtype: metric_type(m),
                    wire: if q.report_type == ReportType::Basic && engagement_metric(m) {
                        Wire::Num
                    } else {
                        Wire::Str
                    },
                })
                .collect(),
            bd,
            time,
            hours,
            ents,
            keys,
            ads_throttled: ads.capped,
            selected_ads: ads.all.1,
        }
    }

    /// Renders rows `from..to` of a plan as Values.
    pub(crate) fn render_rows(&self, plan: &ReportPlan, from: usize, to: usize) -> Vec<Value> {
        serde_json::from_slice(&self.render_rows_json(plan, from, to)).unwrap_or_default()
    }

    /// Renders rows `from..to` of a plan as a JSON array, ready for the response body.
    pub(crate) fn render_rows_json(&self, plan: &ReportPlan, from: usize, to: usize) -> Vec<u8> {
        let mut out = Vec::new();
        out.push(b'[');
        if let Some(adv) = self.advertiser(plan.advertiser_id) {
            let to = to.min(plan.keys.len());
            let from = from.min(to);
            out.reserve((to - from) * (64 + plan.metrics.len() * 24));
            for (i, key) in plan.keys[from..to].iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                self.render_row(adv, plan, key, &mut out);
            }
        }
        out.push(b']');
        out
    }

    fn render_row(&self, adv: &Advertiser, plan: &ReportPlan, key: &RowKey, out: &mut Vec<u8>) {
        let e = &plan.ents[key.ent as usize];
        let (from, to) = match plan.time {
            TimeDim::Day => (key.time * 24, key.time * 24 + 23),
            TimeDim::Hour => (key.time, key.time),
            TimeDim::Aggregate => plan.hours,
        };
        let scale = match plan.level {
            Level::Advertiser => 20,
            Level::Campaign => 6,
            Level::AdGroup => 3,
            Level::Ad => 1,
        };
        let mut totals = Totals::default();
        for hour in from.max(e.first_hour)..=to.min(e.last_hour) {
            if hour_active(self.seed, e.id, hour) && self.delivers_on(adv, hour.div_euclid(24)) {
                let draw = HourDraw {
                    seed: self.seed,
                    id: e.id,
                    hour,
                    bd: plan.bd,
                    bd_index: key.bd,
                };
                totals.add_hour(draw, scale);
            }
        }
        if let Some((processed, total)) = e.share {
            totals.keep_share(processed as u64, total.max(1) as u64);
        }

        out.extend_from_slice(b"{\"dimensions\":{");
        for (i, (d, dkey)) in plan.dimensions.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(dkey);
            let v = match d.as_str() {
                "stat_time_day" => format!("{} 00:00:00", date_of_day(key.time)),
                "stat_time_hour" => format!(
                    "{} {:02}:00:00",
                    date_of_day(key.time.div_euclid(24)),
                    key.time.rem_euclid(24)
                ),
                "advertiser_id" | "campaign_id" | "adgroup_id" | "ad_id" => e.id.to_string(),
                other => {
                    let value = plan.bd.value(other, key.bd);
                    if self.empty_breakdown_values && is_last_breakdown_value(other, value) {
                        String::new()
                    } else {
                        value.to_string()
                    }
                }
            };
            write_str(out, &v);
        }
        out.extend_from_slice(b"},\"metrics\":{");
        let row = RowFigures {
            adv,
            plan,
            ent: e,
            totals: &totals,
        };
        for (i, m) in plan.metrics.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&m.key);
            self.metric_value(&row, m).write(out);
        }
        out.extend_from_slice(b"}}");
    }

    fn metric_value(&self, row: &RowFigures, spec: &MetricSpec) -> Cell {
        let RowFigures {
            adv,
            plan,
            ent: e,
            totals: t,
        } = *row;
        let name = spec.name.as_str();
        let (campaign, adgroup, ad) = match plan.level {
            Level::Advertiser => (None, None, None),
            Level::Campaign => (Some(&adv.campaigns[e.index as usize]), None, None),
            Level::AdGroup => {
                let g = &adv.adgroups[e.index as usize];
                (Some(&adv.campaigns[g.campaign as usize]), Some(g), None)
            }
            Level::Ad => {
                let a = &adv.ads[e.index as usize];
                (
                    Some(&adv.campaigns[a.campaign as usize]),
                    Some(&adv.adgroups[a.adgroup as usize]),
                    Some(a),
                )
            }
        };
        let dash = || Cell::Static("-");
        let text = |s: Option<String>| s.map(Cell::Str).unwrap_or_else(dash);
        match spec.mtype {
            Some(MetricType::Text) => {
                return match name {
                    "campaign_name" => text(campaign.map(|c| c.name.clone())),
                    "adgroup_name" => text(adgroup.map(|g| g.name.clone())),
                    "ad_name" => text(ad.map(|a| a.name.clone())),
                    "ad_text" => text(ad.map(ad_text)),
                    "placement_type" => text(adgroup.map(|g| placement_type(g.h).to_string())),
                    "objective_type" => text(campaign.map(|c| objective(c).to_string())),
                    "promotion_type" => text(adgroup.map(|g| {
                        if g.h.wrapping_shr(8) % 6 == 4 {
                            "APP_ANDROID"
                        } else {
                            "WEBSITE"
                        }
                        .to_string()
                    })),
                    "currency" => Cell::Static(currency(adv)),
                    "dpa_target_audience_type" => Cell::Null,
                    _ => dash(),
                };
            }
            Some(MetricType::Id) => {
                let id = match name {
                    "campaign_id" => campaign.map(|c| c.id),
                    "adgroup_id" => adgroup.map(|g| g.id),
                    "ad_id" => ad.map(|a| a.id),
                    "advertiser_id" => Some(adv.id),
                    _ => Some(0), // tt_app_id: no app
                };
                return id.map(|id| Cell::Num(id.to_string())).unwrap_or_else(dash);
            }
            _ => {}
        }
        if name.contains("secondary_goal") {
            return dash();
        }
        let wire = spec.wire;
        let money = |m: u64| wire.fixed(m, 3);
        let rate = |num: u64, den: u64| wire.fixed(ratio(num * 100, den, 2), 2);
        let cost = |den: u64| wire.fixed(ratio(t.spend_m, den, 0), 3);
        match name {
            "spend" => money(t.spend_m),
            "cash_spend" => money(t.spend_m - t.voucher_m),
            "voucher_spend" => money(t.voucher_m),
            "cpc" => cost(t.clicks),
            "cpm" => money(ratio(t.spend_m * 1000, t.impressions, 0)),
            "cost_per_1000_reached" => money(ratio(t.spend_m * 1000, t.reach, 0)),
            "impressions" => wire.int(t.impressions),
            "gross_impressions" => wire.int(t.impressions + t.impressions / 20),
            "clicks" => wire.int(t.clicks),
            "ctr" => rate(t.clicks, t.impressions),
            "reach" => wire.int(t.reach),
            "frequency" => wire.fixed(ratio(t.impressions, t.reach, 2), 2),
            "conversion" | "result" => wire.int(t.conversions),
            "real_time_conversion" | "real_time_result" => wire.int(t.rt_conversions),
            "cost_per_conversion" | "cost_per_result" | "cost_per_result_v2" => cost(t.conversions),
            "real_time_cost_per_conversion" | "real_time_cost_per_result" => cost(t.rt_conversions),
            "conversion_rate" | "result_rate" | "conversion_rate_v2" => {
                rate(t.conversions, t.clicks)
            }
            "real_time_conversion_rate" | "real_time_result_rate" => {
                rate(t.rt_conversions, t.clicks)
            }
            "video_play_actions" => wire.int(t.video_plays),
            "video_watched_2s" => wire.int(t.watched_2s),
            "video_watched_6s" => wire.int(t.watched_6s),
            "video_views_p25" => wire.int(t.p25),
            "video_views_p50" => wire.int(t.p50),
            "video_views_p75" => wire.int(t.p75),
            "video_views_p100" => wire.int(t.p100),
            "average_video_play" => wire.fixed(ratio(t.play_ms, t.video_plays * 1000, 2), 2),
            "average_video_play_per_user" => wire.fixed(ratio(t.play_ms, t.reach * 1000, 2), 2),
            "profile_visits" => wire.int(t.profile_visits),
            "profile_visits_rate" => rate(t.profile_visits, t.impressions),
            "likes" => wire.int(t.likes),
            "comments" => wire.int(t.comments),
            "shares" => wire.int(t.shares),
            "follows" => wire.int(t.follows),
            "clicks_on_music_disc" => wire.int(t.music_clicks),
            "app_install" => wire.int(t.installs),
            "real_time_app_install" => wire.int(t.rt_installs),
            "real_time_app_install_cost" => cost(t.rt_installs),
            "cost_per_app_install" => cost(t.installs),
            "purchase" | "vta_purchase" | "cta_purchase" => {
                let share = match name {
                    "vta_purchase" => 3,
                    "cta_purchase" => 7,
                    _ => 10,
                };
                wire.int(t.purchases * share / 10)
            }
            "purchase_rate" => rate(t.purchases, t.clicks),
            "cost_per_purchase" => cost(t.purchases),
            "total_purchase_value" => money(t.purchase_value_m),
            "total_onsite_shopping_value" => money(t.purchase_value_m / 2),
            "onsite_shopping" => wire.int(t.onsite_shopping),
            "vta_conversion" => wire.int(t.conversions * 3 / 10),
            "cta_conversion" => wire.int(t.conversions * 7 / 10),
            "total_pageview" => wire.int(t.pageviews),
            "complete_payment" => wire.int(t.complete_payment),
            "value_per_complete_payment" => money(ratio(t.purchase_value_m, t.complete_payment, 0)),
            "total_complete_payment_rate" => rate(t.complete_payment, t.clicks),
            "registration" => wire.int(t.registrations),
            "registration_rate" => rate(t.registrations, t.clicks),
            "cost_per_registration" => cost(t.registrations),
            "sales_lead" => wire.int(t.sales_leads),
            "sales_lead_rate" => rate(t.sales_leads, t.clicks),
            "cost_per_sales_lead" | "cost_per_total_sales_lead" => cost(t.sales_leads),
            "total_app_event_add_to_cart" => wire.int(t.add_to_cart),
            "cost_per_total_app_event_add_to_cart" => cost(t.add_to_cart),
            other => {
                // Other declared numeric metrics: a stable share of impressions.
                let share = 1 + str_hash(other) % 200;
                if other.contains("rate") {
                    rate(t.clicks * share / 100, t.impressions)
                } else if other.contains("value") || other.starts_with("cost") {
                    money(t.spend_m * share / 100)
                } else {
                    wire.int(t.impressions * share / 1000)
                }
            }
        }
    }
}

/// Whether `value` is the last of its breakdown dimension's values (left empty when the model
/// says so).
fn is_last_breakdown_value(dim: &str, value: &str) -> bool {
    let list = match dim {
        "gender" => GENDERS,
        "age" => AGES,
        "country_code" => COUNTRIES,
        "platform" => PLATFORMS,
        "province_id" => PROVINCES,
        _ => return false,
    };
    list.last() == Some(&value)
}

// Reservation delivery and the ads cap (Run a synchronous report, portal doc 1740302848100353;
// Reporting FAQ, 1738864850353154):
// - `service_type=AUCTION` (the default) covers auction ads and reach & frequency ads; TopView
//   delivery needs the filter `buying_type` IN ["RESERVATION_TOP_VIEW"], asked alone. The
//   advertiser level ("data of all Auction Ads and Reservation Ads") has no such filter here.
// - One report processes the `ads_cap` most recently created ads of what it selects; the
//   figures of the others are left out, and the response carries `X-Tt-Ads-Throttle`. Id
//   filters (at most 100 ids each) narrow a report under the cap.

/// Which buying types a report covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BuyingScope {
    /// No `buying_type` filter: auction and reach & frequency.
    Default,
    Only(BuyingType),
    /// A server that ignores buying types (`SimConfig::buying_types` set to `BuyingTypes::Ignored` or `Refused`).
    Every,
}

impl BuyingScope {
    fn covers(self, buying: BuyingType) -> bool {
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

/// What the ads cap leaves of a report's ads.
struct ProcessedAds {
    capped: bool,
    /// Per ad of the advertiser: selected by the query but beyond the cap.
    dropped: Vec<bool>,
    /// `(processed, selected)` per campaign, per ad group, and over all.
    by_campaign: Vec<(u32, u32)>,
    by_adgroup: Vec<(u32, u32)>,
    all: (u32, u32),
}

impl ProcessedAds {
    fn part((kept, total): (u32, u32)) -> Option<(u32, u32)> {
        (kept < total).then_some((kept, total))
    }

    fn share_of_all(&self) -> Option<(u32, u32)> {
        Self::part(self.all).filter(|_| self.capped)
    }

    fn share_of_campaign(&self, i: usize) -> Option<(u32, u32)> {
        self.by_campaign.get(i).copied().and_then(Self::part)
    }

    fn share_of_adgroup(&self, i: usize) -> Option<(u32, u32)> {
        self.by_adgroup.get(i).copied().and_then(Self::part)
    }

    fn share_of_ad(&self, i: usize) -> Option<(u32, u32)> {
        self.dropped
            .get(i)
            .copied()
            .unwrap_or(false)
            .then_some((0, 1))
    }
}

impl Model {
    /// The ads a report selects (buying types and id filters) and which of them the cap keeps.
    fn processed_ads(
        &self,
        adv: &Advertiser,
        buying: BuyingScope,
        ids: &IdFilters,
        ads_cap: usize,
    ) -> ProcessedAds {
        let in_set =
            |set: &Option<HashSet<u64>>, id: u64| set.as_ref().is_none_or(|s| s.contains(&id));
        let mut selected: Vec<usize> = adv
            .ads
            .iter()
            .enumerate()
            .filter(|(_, a)| {
                buying.covers(adv.campaigns[a.campaign as usize].buying)
                    && in_set(&ids.campaign_ids, adv.campaigns[a.campaign as usize].id)
                    && in_set(&ids.adgroup_ids, adv.adgroups[a.adgroup as usize].id)
                    && in_set(&ids.ad_ids, a.id)
            })
            .map(|(i, _)| i)
            .collect();
        let total = selected.len();
        if total <= ads_cap {
            return ProcessedAds {
                capped: false,
                dropped: Vec::new(),
                by_campaign: Vec::new(),
                by_adgroup: Vec::new(),
                all: (total as u32, total as u32),
            };
        }
        // The most recently created first.
        selected.sort_by_key(|&i| std::cmp::Reverse((adv.ads[i].life.create_ts, adv.ads[i].id)));
        let mut dropped = vec![false; adv.ads.len()];
        let mut by_campaign = vec![(0u32, 0u32); adv.campaigns.len()];
        let mut by_adgroup = vec![(0u32, 0u32); adv.adgroups.len()];
        for (rank, &i) in selected.iter().enumerate() {
            let kept = rank < ads_cap;
            dropped[i] = !kept;
            let a = &adv.ads[i];
            for slot in [
                &mut by_campaign[a.campaign as usize],
                &mut by_adgroup[a.adgroup as usize],
            ] {
                slot.0 += kept as u32;
                slot.1 += 1;
            }
        }
        ProcessedAds {
            capped: true,
            dropped,
            by_campaign,
            by_adgroup,
            all: (ads_cap as u32, total as u32),
        }
    }
}

/// Which breakdown values an entity reaches (its targeting): about half, at least one.
fn bd_mask(seed: u64, id: u64, bd: Bd) -> u32 {
    if bd == Bd::None {
        return 1;
    }
    let n = bd.count() as u64;
    let mut mask = 0u32;
    for i in 0..n {
        if hash(&[seed ^ 0xB0, id, bd.code(), i]) % 2 == 0 {
            mask |= 1 << i;
        }
    }
    if mask == 0 {
        mask = 1 << (hash(&[seed, id, bd.code()]) % n);
    }
    mask
}

fn date_of_day(day: i64) -> String {
    chrono::DateTime::from_timestamp(day * 86_400, 0)
        .map(|d| d.date_naive().format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}

/// What an asynchronous report's `country_code` column holds for the code `code`: its country
/// name (TikTok's known issue: "asynchronous reports return the dimension country_code (e.g.
/// US) as country_name (e.g. United States)", Create an asynchronous report task,
/// [`crate::rules::docs::ASYNC_TASK_CREATE`]). An empty cell (no country) stays empty; every
/// code of [`COUNTRIES`] has a name in [`COUNTRY_NAMES`].
fn country_name(code: &str) -> String {
    match COUNTRIES.iter().position(|c| *c == code) {
        Some(i) => COUNTRY_NAMES[i].to_string(),
        None => {
            debug_assert!(code.is_empty(), "no country name for {code:?}");
            String::new()
        }
    }
}

/// The column title of a report field in a CSV file with `enable_report_title_translation`.
/// TikTok's titles where its docs show them: "Campaign ID", "Campaign Name", "Ad Group ID",
/// "Ad Group Name", "Age", "Gender", "Cost", "Impression", "Click" (the example of Download the
/// output of an async report task, [`crate::rules::docs::ASYNC_TASK_DOWNLOAD`]: "Campaign
/// ID,Campaign Name,Ad Group ID,Ad Group Name,Age,Gender,Cost,Impression,Click"), and "AD ID"
/// (the example of Create an asynchronous report task, [`crate::rules::docs::ASYNC_TASK_CREATE`],
/// where `enable_report_title_translation` false gives the title `ad_id` rather than `AD ID`). Every
/// other title is the simulator's guess: "Advertiser ID", "Date", "Hour", and the field name
/// with its underscores as spaces and each word capitalised.
pub(crate) fn report_title(field: &str) -> String {
    let known = match field {
        // TikTok's (the download and create docs' examples).
        "campaign_id" => "Campaign ID",
        "campaign_name" => "Campaign Name",
        "adgroup_id" => "Ad Group ID",
        "adgroup_name" => "Ad Group Name",
        "ad_id" => "AD ID",
        "age" => "Age",
        "gender" => "Gender",
        "spend" => "Cost",
        "impressions" => "Impression",
        "clicks" => "Click",
        // The simulator's guesses.
        "advertiser_id" => "Advertiser ID",
        "stat_time_day" => "Date",
        "stat_time_hour" => "Hour",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_string();
    }
    field
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            match chars.next() {
                Some(c) => c.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{metrics_for, Breakdown};
    use crate::{EntityKind, SimConfig};

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 6, 30).unwrap()
    }

    fn model() -> Model {
        Model::new(&SimConfig {
            today: today(),
            ..SimConfig::default()
        })
    }

    fn date(s: &str) -> Option<NaiveDate> {
        Some(NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap())
    }

    fn query(m: &Model, level: Level, dims: &[&str], metrics: &[&str]) -> ReportQuery {
        ReportQuery {
            advertiser_id: m.advertiser_ids()[0],
            report_type: ReportType::Basic,
            level,
            dimensions: dims.iter().map(|s| s.to_string()).collect(),
            metrics: metrics.iter().map(|s| s.to_string()).collect(),
            start_date: date("2024-06-01"),
            end_date: date("2024-06-30"),
            lifetime: false,
            filtering: Vec::new(),
        }
    }

    fn status_all(field: &str) -> Vec<Value> {
        vec![
            serde_json::json!({"field_name": field, "filter_type": "IN", "filter_value": "[\"STATUS_ALL\"]"}),
        ]
    }

    fn code(r: Result<Vec<Value>, (i64, String)>) -> (i64, String) {
        r.expect_err("expected an API error")
    }

    fn int(v: &Value) -> u64 {
        match v {
            Value::String(s) => s.parse().unwrap(),
            Value::Number(n) => n.as_u64().unwrap(),
            other => panic!("not a count: {other}"),
        }
    }

    /// TikTok's titles where its docs show them ("AD ID" from the create doc), the simulator's
    /// guesses otherwise.
    #[test]
    fn report_titles() {
        let titles: Vec<String> = [
            "ad_id",
            "adgroup_id",
            "adgroup_name",
            "campaign_name",
            "spend",
            "impressions",
            "clicks",
            "video_watched_2s",
        ]
        .into_iter()
        .map(report_title)
        .collect();
        assert_eq!(
            titles,
            [
                "AD ID",
                "Ad Group ID",
                "Ad Group Name",
                "Campaign Name",
                "Cost",
                "Impression",
                "Click",
                "Video Watched 2s"
            ]
        );
    }

    /// Every country code the model produces has a name for the asynchronous CSV.
    #[test]
    fn every_country_code_has_a_name() {
        for code in COUNTRIES {
            let name = country_name(code);
            assert!(name.len() > 2 && name != *code, "{code}: {name}");
        }
        assert_eq!(country_name("US"), "United States");
        assert_eq!(country_name(""), "");
    }

    #[test]
    fn day_windows_are_at_most_30_days_and_hour_windows_one_day() {
        let m = model();
        let mut q = query(&m, Level::Ad, &["ad_id", "stat_time_day"], &["spend"]);
        assert!(m.report_rows(&q).is_ok());
        q.start_date = date("2024-05-31");
        let (c, msg) = code(m.report_rows(&q));
        assert_eq!(c, 40002);
        assert!(msg.contains("30 days"), "{msg}");

        let mut q = query(&m, Level::Ad, &["ad_id", "stat_time_hour"], &["spend"]);
        q.start_date = date("2024-06-29");
        q.end_date = date("2024-06-30");
        assert_eq!(code(m.report_rows(&q)).0, 40002);
        q.start_date = date("2024-06-30");
        let rows = m.report_rows(&q).unwrap();
        assert!(!rows.is_empty());
        for r in &rows {
            assert!(r["dimensions"]["stat_time_hour"]
                .as_str()
                .unwrap()
                .starts_with("2024-06-30 "));
        }

        let mut q = query(&m, Level::Ad, &["ad_id", "stat_time_day"], &["spend"]);
        q.start_date = None;
        assert_eq!(code(m.report_rows(&q)).0, 40002);
        q.lifetime = true;
        assert_eq!(
            code(m.report_rows(&q)).0,
            40002,
            "no time dimension with lifetime"
        );
    }

    #[test]
    fn dimension_rules() {
        let m = model();
        let bad = |dims: &[&str], level| code(m.report_rows(&query(&m, level, dims, &["spend"]))).0;
        assert_eq!(bad(&["stat_time_day"], Level::Ad), 40002, "no id dimension");
        assert_eq!(
            bad(&["campaign_id", "stat_time_day"], Level::Ad),
            40002,
            "wrong id"
        );
        assert_eq!(
            bad(&["ad_id", "campaign_id", "stat_time_day"], Level::Ad),
            40002,
            "two ids"
        );
        assert_eq!(
            bad(&["ad_id", "stat_time_day", "stat_time_hour"], Level::Ad),
            40002
        );
        assert_eq!(
            bad(&["ad_id", "stat_time_day", "gender"], Level::Ad),
            40002,
            "BASIC has no gender"
        );
        assert_eq!(
            bad(&["ad_id", "stat_time_day", "made_up"], Level::Ad),
            40002
        );
        let ok = query(
            &m,
            Level::Ad,
            &["ad_id", "stat_time_day", "country_code"],
            &["spend"],
        );
        let rows = m.report_rows(&ok).unwrap();
        assert!(rows
            .iter()
            .all(|r| COUNTRIES.contains(&r["dimensions"]["country_code"].as_str().unwrap())));

        let mut aud = query(
            &m,
            Level::Campaign,
            &["campaign_id", "stat_time_day", "province_id"],
            &["spend"],
        );
        aud.report_type = ReportType::Audience;
        assert_eq!(
            code(m.report_rows(&aud)).0,
            40002,
            "province only at ad level"
        );
        aud.dimensions = vec!["campaign_id".into(), "stat_time_day".into()];
        assert_eq!(
            code(m.report_rows(&aud)).0,
            40002,
            "audience needs a breakdown"
        );
        aud.dimensions = vec![
            "campaign_id".into(),
            "gender".into(),
            "age".into(),
            "stat_time_day".into(),
        ];
        let rows = m.report_rows(&aud).unwrap();
        assert!(!rows.is_empty());
        for r in &rows {
            assert!(GENDERS.contains(&r["dimensions"]["gender"].as_str().unwrap()));
            assert!(AGES.contains(&r["dimensions"]["age"].as_str().unwrap()));
            // AUDIENCE metrics are strings.
            assert!(r["metrics"]["spend"].is_string());
        }
        // TikTok has no lifetime audience metrics (v1.3), at any level; totals over a date range
        // without a time dimension are served instead.
        for (level, id) in [
            (Level::Advertiser, "advertiser_id"),
            (Level::Campaign, "campaign_id"),
        ] {
            aud.level = level;
            aud.dimensions = vec![id.into(), "gender".into(), "age".into()];
            aud.lifetime = true;
            let (c, message) = code(m.report_rows(&aud));
            assert_eq!(c, 40002, "audience lifetime at {level:?}");
            assert!(message.starts_with("query_lifetime"), "{message}");
            aud.lifetime = false;
            aud.start_date = today().checked_sub_days(chrono::Days::new(364));
            aud.end_date = Some(today());
            let totals = m.report_rows(&aud).unwrap();
            assert!(!totals.is_empty(), "audience totals at {level:?}");
            aud.start_date = today().checked_sub_days(chrono::Days::new(365));
            assert_eq!(code(m.report_rows(&aud)).0, 40002, "366 days");
        }
    }

    #[test]
    fn lifetime_basic_refuses_country_code_but_a_range_serves_it() {
        let m = model();
        let mut q = query(
            &m,
            Level::Campaign,
            &["campaign_id", "country_code"],
            &["spend"],
        );
        q.lifetime = true;
        let (c, message) = code(m.report_rows(&q));
        assert_eq!(c, 40002);
        assert!(message.contains("country_code"), "{message}");
        q.lifetime = false;
        q.start_date = today().checked_sub_days(chrono::Days::new(364));
        q.end_date = Some(today());
        assert!(!m.report_rows(&q).unwrap().is_empty());
    }

    #[test]
    fn empty_breakdown_values_are_deterministic_and_keys_stay_distinct() {
        let m = Model::new(&SimConfig {
            today: today(),
            empty_breakdown_values: true,
            ..SimConfig::default()
        });
        let mut q = query(
            &m,
            Level::Campaign,
            &["campaign_id", "stat_time_day", "country_code"],
            &["spend"],
        );
        q.report_type = ReportType::Audience;
        let rows = m.report_rows(&q).unwrap();
        let empty = rows
            .iter()
            .filter(|r| r["dimensions"]["country_code"] == "")
            .count();
        assert!(empty > 0, "some rows have no country");
        assert!(rows.iter().all(|r| r["dimensions"]["country_code"] != "BR"));
        let keys: std::collections::HashSet<String> =
            rows.iter().map(|r| r["dimensions"].to_string()).collect();
        assert_eq!(keys.len(), rows.len(), "no two rows share a key");
        assert_eq!(rows, m.report_rows(&q).unwrap(), "deterministic");
    }

    #[test]
    fn hourly_audience_is_refused_like_today_unless_allowed() {
        let m = model();
        let mut q = query(
            &m,
            Level::Ad,
            &["ad_id", "stat_time_hour", "gender", "age"],
            &["spend"],
        );
        q.report_type = ReportType::Audience;
        q.start_date = date("2024-06-30");
        let (c, msg) = code(m.report_rows(&q));
        assert_eq!(c, 40002);
        assert_eq!(
            msg,
            "Conflict occurs. The input params including metrics and dimensions have no relation."
        );
        let allowed = Model::new(&SimConfig {
            today: today(),
            hourly_audience_refused: false,
            ..SimConfig::default()
        });
        assert!(!allowed.report_rows(&q).unwrap().is_empty());
    }

    #[test]
    fn metrics_must_be_known_and_allowed() {
        let m = model();
        let q = query(
            &m,
            Level::Ad,
            &["ad_id", "stat_time_day"],
            &["spend", "made_up_metric"],
        );
        let (c, msg) = code(m.report_rows(&q));
        assert_eq!(c, 40002);
        assert!(
            msg.starts_with("Invalid metric fields") && msg.contains("made_up_metric"),
            "{msg}"
        );
        let q = query(&m, Level::Ad, &["ad_id", "stat_time_day"], &["cash_spend"]);
        assert_eq!(code(m.report_rows(&q)).0, 40002);
        let q = query(
            &m,
            Level::Advertiser,
            &["advertiser_id", "stat_time_day"],
            &["cash_spend", "voucher_spend", "spend"],
        );
        let rows = m.report_rows(&q).unwrap();
        assert_eq!(rows.len(), 30);
        let mut q = query(&m, Level::Advertiser, &["advertiser_id"], &["cash_spend"]);
        q.lifetime = true;
        assert!(code(m.report_rows(&q)).1.contains("cash_spend"));
        // Every declared list is accepted at its level.
        for level in [
            Level::Advertiser,
            Level::Campaign,
            Level::AdGroup,
            Level::Ad,
        ] {
            let metrics = metrics_for(ReportType::Basic, level, Granularity::Day, Breakdown::None);
            let q = query(&m, level, &[level.id_field(), "stat_time_day"], &metrics);
            let rows = m.report_rows(&q).unwrap();
            assert_eq!(rows[0]["metrics"].as_object().unwrap().len(), metrics.len());
        }
    }

    #[test]
    fn metric_wire_formats() {
        let m = model();
        let metrics = metrics_for(
            ReportType::Basic,
            Level::Ad,
            Granularity::Day,
            Breakdown::None,
        );
        let q = query(&m, Level::Ad, &["ad_id", "stat_time_day"], &metrics);
        let rows = m.report_rows(&q).unwrap();
        let r = &rows[0];
        let spend = r["metrics"]["spend"].as_str().unwrap();
        assert_eq!(spend.split('.').nth(1).map(str::len), Some(3), "{spend}");
        assert!(r["metrics"]["impressions"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .is_ok());
        assert!(r["metrics"]["video_play_actions"].is_number());
        assert!(r["metrics"]["average_video_play"].is_number());
        assert!(r["metrics"]["campaign_id"].is_number());
        assert!(r["metrics"]["ad_name"].as_str().unwrap().contains("video"));
        assert_eq!(r["metrics"]["secondary_goal_result"], "-");
        assert_eq!(r["metrics"]["dpa_target_audience_type"], Value::Null);
        let day = r["dimensions"]["stat_time_day"].as_str().unwrap();
        assert!(day.ends_with(" 00:00:00") && day.len() == 19);
        assert!(r["dimensions"]["ad_id"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .is_ok());
    }

    #[test]
    fn days_sum_hours_and_lifetime_sums_days() {
        let m = model();
        let id = m.advertiser_ids()[0];
        let metrics = ["impressions", "clicks", "video_play_actions"];
        let q = query(
            &m,
            Level::Campaign,
            &["campaign_id", "stat_time_day"],
            &metrics,
        );
        let days = m.report_rows(&q).unwrap();
        // Ordered by time, then entity.
        let keys: Vec<(String, u64)> = days
            .iter()
            .map(|r| {
                let d = &r["dimensions"];
                (
                    d["stat_time_day"].as_str().unwrap().to_string(),
                    d["campaign_id"].as_str().unwrap().parse().unwrap(),
                )
            })
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);

        let day_row = &days[days.len() / 2];
        let day = &day_row["dimensions"]["stat_time_day"].as_str().unwrap()[..10];
        let cid = day_row["dimensions"]["campaign_id"].as_str().unwrap();
        let mut hq = query(
            &m,
            Level::Campaign,
            &["campaign_id", "stat_time_hour"],
            &metrics,
        );
        hq.start_date = date(day);
        hq.end_date = date(day);
        let hours = m.report_rows(&hq).unwrap();
        let hour_sum: u64 = hours
            .iter()
            .filter(|r| r["dimensions"]["campaign_id"] == cid)
            .map(|r| int(&r["metrics"]["impressions"]))
            .sum();
        assert_eq!(hour_sum, int(&day_row["metrics"]["impressions"]));

        let mut lq = query(&m, Level::Campaign, &["campaign_id"], &metrics);
        lq.lifetime = true;
        lq.start_date = None;
        lq.end_date = None;
        let lifetime = m.report_rows(&lq).unwrap();
        let mut first_window = query(
            &m,
            Level::Campaign,
            &["campaign_id", "stat_time_day"],
            &metrics,
        );
        first_window.start_date = Some(m.first_day());
        first_window.end_date = Some(m.first_day() + chrono::Duration::days(29));
        let all_days = m.report_rows(&first_window).unwrap();
        for row in &lifetime {
            let cid = &row["dimensions"]["campaign_id"];
            let sum: u64 = all_days
                .iter()
                .filter(|r| &r["dimensions"]["campaign_id"] == cid)
                .map(|r| int(&r["metrics"]["video_play_actions"]))
                .sum();
            assert_eq!(sum, int(&row["metrics"]["video_play_actions"]));
        }
        assert!(m.entities(EntityKind::Campaign, id, true).len() >= lifetime.len());
    }

    #[test]
    fn deleted_entities_need_status_all_at_the_right_level() {
        let m = Model::new(&SimConfig {
            today: today(),
            deleted_every: 2,
            ..SimConfig::default()
        });
        let mut q = query(&m, Level::Ad, &["ad_id"], &["spend"]);
        q.lifetime = true;
        let live = m.report_rows(&q).unwrap();
        q.filtering = status_all("ad_status");
        let all = m.report_rows(&q).unwrap();
        assert!(all.len() > live.len(), "{} vs {}", all.len(), live.len());
        let deleted: HashSet<String> = m
            .entities(EntityKind::Ad, q.advertiser_id, true)
            .into_iter()
            .filter(|a| a["secondary_status"] == "AD_STATUS_DELETE")
            .map(|a| a["ad_id"].as_str().unwrap().to_string())
            .collect();
        assert!(live
            .iter()
            .all(|r| !deleted.contains(r["dimensions"]["ad_id"].as_str().unwrap())));
        assert!(all
            .iter()
            .any(|r| deleted.contains(r["dimensions"]["ad_id"].as_str().unwrap())));
        q.filtering = status_all("campaign_status");
        let (c, msg) = code(m.report_rows(&q));
        assert_eq!(c, 40002);
        assert!(msg.contains("campaign_status"), "{msg}");
        let mut adv = query(
            &m,
            Level::Advertiser,
            &["advertiser_id", "stat_time_day"],
            &["spend"],
        );
        adv.filtering = status_all("ad_status");
        assert_eq!(code(m.report_rows(&adv)).0, 40002);
    }

    #[test]
    fn id_filters_restrict_rows_and_cap_at_100() {
        let m = model();
        let id = m.advertiser_ids()[0];
        let campaigns = m.entities(EntityKind::Campaign, id, false);
        let cid = campaigns[0]["campaign_id"].as_str().unwrap().to_string();
        let ads_of_campaign: HashSet<String> = m
            .entities(EntityKind::Ad, id, false)
            .into_iter()
            .filter(|a| a["campaign_id"] == cid.as_str())
            .map(|a| a["ad_id"].as_str().unwrap().to_string())
            .collect();
        let mut q = query(&m, Level::Ad, &["ad_id", "stat_time_day"], &["spend"]);
        q.filtering = vec![serde_json::json!({
            "field_name": "campaign_ids", "filter_type": "IN", "filter_value": format!("[\"{cid}\"]")
        })];
        let rows = m.report_rows(&q).unwrap();
        assert!(!rows.is_empty());
        assert!(rows
            .iter()
            .all(|r| ads_of_campaign.contains(r["dimensions"]["ad_id"].as_str().unwrap())));
        let many: Vec<String> = (0..101).map(|i| (1000 + i).to_string()).collect();
        q.filtering = vec![serde_json::json!({
            "field_name": "ad_ids", "filter_type": "IN", "filter_value": serde_json::to_string(&many).unwrap()
        })];
        assert_eq!(code(m.report_rows(&q)).0, 40002);
    }

    fn id_filter(field: &str, ids: &[u64]) -> Value {
        let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
        serde_json::json!({"field_name": field, "filter_type": "IN",
            "filter_value": serde_json::to_string(&ids).unwrap()})
    }

    fn buying_filter(value: &str) -> Value {
        serde_json::json!({"field_name": "buying_type", "filter_type": "IN",
            "filter_value": format!("[\"{value}\"]")})
    }

    /// `(id, impressions)` of every row of a lifetime query.
    fn lifetime_rows(
        m: &Model,
        q: &ReportQuery,
    ) -> (std::collections::BTreeMap<String, u64>, bool) {
        let plan = m.report_plan(q).unwrap();
        let rows = m.render_rows(&plan, 0, plan.len());
        let field = q.level.id_field();
        let by_id = rows
            .iter()
            .map(|r| {
                (
                    r["dimensions"][field].as_str().unwrap().to_string(),
                    int(&r["metrics"]["impressions"]),
                )
            })
            .collect();
        (by_id, plan.ads_throttled())
    }

    /// The cap at every level: a query selecting more ads than the cap processes only the most
    /// recently created ones (rows of the others are missing or their figures partial) and says
    /// so; id filters that select fewer ads than the cap get whole figures and no signal.
    #[test]
    fn the_ads_cap_applies_at_every_level_and_id_filters_narrow_under_it() {
        let sized = |ads_cap: usize| {
            Model::new(&SimConfig {
                today: today(),
                advertisers: 1,
                campaigns_per_advertiser: 4,
                adgroups_per_campaign: 3,
                ads_per_adgroup: 5,
                days: 5,
                deleted_every: 0,
                auction_only_every: 1,
                ads_cap,
                ..SimConfig::default()
            })
        };
        let m = sized(25);
        let adv = m.advertiser(m.advertiser_ids()[0]).unwrap();
        assert_eq!(adv.ads.len(), 60);
        for level in [
            Level::Advertiser,
            Level::Campaign,
            Level::AdGroup,
            Level::Ad,
        ] {
            let mut q = query(&m, level, &[level.id_field()], &["impressions"]);
            q.lifetime = true;
            let (capped, throttled) = lifetime_rows(&m, &q);
            assert!(
                throttled,
                "{level:?}: 60 ads over a cap of 25 must be signalled"
            );
            // Whole figures, entity by entity, from queries under the cap.
            let mut whole = std::collections::BTreeMap::new();
            if level == Level::Advertiser {
                let (all, throttled) = lifetime_rows(&sized(ADS_CAP), &q);
                assert!(!throttled);
                whole = all;
            } else {
                for c in &adv.campaigns {
                    let mut part = q.clone();
                    part.filtering = vec![id_filter("campaign_ids", &[c.id])];
                    let (rows, throttled) = lifetime_rows(&m, &part);
                    assert!(!throttled, "{level:?}: 15 ads per campaign");
                    whole.extend(rows);
                }
            }
            assert!(!whole.is_empty());
            assert_ne!(capped, whole, "{level:?}: the capped answer must differ");
            for (id, figure) in &capped {
                assert!(*figure <= whole[id], "{level:?} {id}");
            }
        }
        // At ad level the rows kept are those of the 25 most recently created ads.
        let mut q = query(&m, Level::Ad, &["ad_id"], &["impressions"]);
        q.lifetime = true;
        let (rows, _) = lifetime_rows(&m, &q);
        let mut newest: Vec<&super::super::model::Ad> = adv.ads.iter().collect();
        newest.sort_by_key(|a| std::cmp::Reverse((a.life.create_ts, a.id)));
        let kept: HashSet<String> = newest[..25].iter().map(|a| a.id.to_string()).collect();
        assert!(rows.keys().all(|id| kept.contains(id)));
        // Id filters hold at most 100 ids.
        let many: Vec<u64> = (0..101).map(|i| 1000 + i).collect();
        q.filtering = vec![id_filter("ad_ids", &many)];
        assert_eq!(code(m.report_rows(&q)).0, 40002);
    }

    /// Reservation delivery: without a `buying_type` filter a report covers auction and reach &
    /// frequency ads; TopView delivery comes only with the filter, asked alone; the advertiser
    /// level takes no such filter.
    #[test]
    fn topview_delivery_needs_the_buying_type_filter() {
        let m = Model::new(&SimConfig {
            today: today(),
            advertisers: 1,
            campaigns_per_advertiser: 20,
            deleted_every: 0,
            ..SimConfig::default()
        });
        let adv = m.advertiser(m.advertiser_ids()[0]).unwrap();
        let of = |b: BuyingType| -> HashSet<String> {
            adv.campaigns
                .iter()
                .filter(|c| c.buying == b)
                .map(|c| c.id.to_string())
                .collect()
        };
        let (auction, topview, rf) = (
            of(BuyingType::Auction),
            of(BuyingType::TopView),
            of(BuyingType::ReachFrequency),
        );
        assert!(!topview.is_empty() && !rf.is_empty() && !auction.is_empty());
        let mut q = query(&m, Level::Campaign, &["campaign_id"], &["impressions"]);
        q.lifetime = true;
        let (default, _) = lifetime_rows(&m, &q);
        assert!(default.keys().all(|id| !topview.contains(id)));
        assert!(default.keys().any(|id| rf.contains(id)));
        assert!(default.keys().any(|id| auction.contains(id)));
        q.filtering = vec![buying_filter("RESERVATION_TOP_VIEW")];
        let (top, _) = lifetime_rows(&m, &q);
        assert!(!top.is_empty());
        assert!(top.keys().all(|id| topview.contains(id)));
        // The same at ad level: an ad has one buying type, so the two answers never share a key.
        let mut ads = query(&m, Level::Ad, &["ad_id"], &["impressions"]);
        ads.lifetime = true;
        let (default_ads, _) = lifetime_rows(&m, &ads);
        ads.filtering = vec![buying_filter("RESERVATION_TOP_VIEW")];
        let (top_ads, _) = lifetime_rows(&m, &ads);
        assert!(!top_ads.is_empty());
        assert!(top_ads.keys().all(|id| !default_ads.contains_key(id)));
        // Refusals.
        q.filtering = vec![
            serde_json::json!({"field_name": "buying_type", "filter_type": "IN",
            "filter_value": "[\"RESERVATION_TOP_VIEW\",\"AUCTION\"]"}),
        ];
        assert_eq!(code(m.report_rows(&q)).0, 40002);
        q.filtering = vec![buying_filter("RESERVATION")];
        assert_eq!(code(m.report_rows(&q)).0, 40002);
        let mut a = query(&m, Level::Advertiser, &["advertiser_id"], &["impressions"]);
        a.lifetime = true;
        a.filtering = vec![buying_filter("RESERVATION_TOP_VIEW")];
        let (c, msg) = code(m.report_rows(&a));
        assert_eq!(c, 40002);
        assert!(msg.contains("buying_type"), "{msg}");
    }

    #[test]
    fn sandbox_refuses_advertiser_level_and_same_seed_same_rows() {
        let sandbox = Model::new(&SimConfig {
            today: today(),
            sandbox: true,
            ..SimConfig::default()
        });
        let q = query(
            &sandbox,
            Level::Advertiser,
            &["advertiser_id", "stat_time_day"],
            &["spend"],
        );
        assert_eq!(
            code(sandbox.report_rows(&q)),
            (
                40009,
                "Unsupported data_level in sandbox environment".into()
            )
        );
        let a = model();
        let b = model();
        let q = query(
            &a,
            Level::AdGroup,
            &["adgroup_id", "stat_time_day"],
            &["spend", "clicks", "ctr"],
        );
        assert_eq!(a.report_rows(&q).unwrap(), b.report_rows(&q).unwrap());
        let c = Model::new(&SimConfig {
            today: today(),
            seed: 2,
            ..SimConfig::default()
        });
        let mut qc = q.clone();
        qc.advertiser_id = c.advertiser_ids()[0];
        assert_ne!(a.report_rows(&q).unwrap(), c.report_rows(&qc).unwrap());
    }

    /// The breakdown reports of the extra report streams beyond gender/age: BASIC by country
    /// (ads and ad groups, daily and hourly) and AUDIENCE by country and platform at every level
    /// and by province at ad level, each with the metrics its stream requests.
    #[test]
    fn country_platform_and_province_breakdowns_are_served() {
        let m = model();
        let cases: &[(ReportType, Level, Granularity, Breakdown, &[&str])] = &[
            (
                ReportType::Basic,
                Level::Ad,
                Granularity::Day,
                Breakdown::Country,
                COUNTRIES,
            ),
            (
                ReportType::Basic,
                Level::Ad,
                Granularity::Hour,
                Breakdown::Country,
                COUNTRIES,
            ),
            (
                ReportType::Basic,
                Level::AdGroup,
                Granularity::Day,
                Breakdown::Country,
                COUNTRIES,
            ),
            (
                ReportType::Basic,
                Level::AdGroup,
                Granularity::Hour,
                Breakdown::Country,
                COUNTRIES,
            ),
            (
                ReportType::Audience,
                Level::Advertiser,
                Granularity::Day,
                Breakdown::Country,
                COUNTRIES,
            ),
            (
                ReportType::Audience,
                Level::Campaign,
                Granularity::Day,
                Breakdown::Country,
                COUNTRIES,
            ),
            (
                ReportType::Audience,
                Level::AdGroup,
                Granularity::Day,
                Breakdown::Country,
                COUNTRIES,
            ),
            (
                ReportType::Audience,
                Level::Ad,
                Granularity::Day,
                Breakdown::Country,
                COUNTRIES,
            ),
            (
                ReportType::Audience,
                Level::Advertiser,
                Granularity::Day,
                Breakdown::Platform,
                PLATFORMS,
            ),
            (
                ReportType::Audience,
                Level::Campaign,
                Granularity::Day,
                Breakdown::Platform,
                PLATFORMS,
            ),
            (
                ReportType::Audience,
                Level::AdGroup,
                Granularity::Day,
                Breakdown::Platform,
                PLATFORMS,
            ),
            (
                ReportType::Audience,
                Level::Ad,
                Granularity::Day,
                Breakdown::Platform,
                PLATFORMS,
            ),
            (
                ReportType::Audience,
                Level::Ad,
                Granularity::Day,
                Breakdown::Province,
                PROVINCES,
            ),
        ];
        for &(rt, level, g, bd, values) in cases {
            let time = g.time_dimension().unwrap();
            let mut dims = vec![level.id_field(), time];
            dims.extend(bd.dimensions());
            let metrics = metrics_for(rt, level, g, bd);
            let mut q = query(&m, level, &dims, &metrics);
            q.report_type = rt;
            if g == Granularity::Hour {
                q.start_date = date("2024-06-30");
            }
            let rows = m
                .report_rows(&q)
                .unwrap_or_else(|e| panic!("{rt:?} {level:?} {g:?} {bd:?}: {e:?}"));
            assert!(!rows.is_empty(), "{rt:?} {level:?} {g:?} {bd:?}");
            let key = bd.dimensions()[0];
            for r in &rows {
                let d = r["dimensions"].as_object().unwrap();
                assert_eq!(d.len(), 3);
                assert!(d.contains_key(level.id_field()) && d.contains_key(time));
                assert!(values.contains(&d[key].as_str().unwrap()), "{r}");
                assert_eq!(r["metrics"].as_object().unwrap().len(), metrics.len());
            }
        }
        // Province is an ad-level breakdown only.
        for level in [Level::Advertiser, Level::Campaign, Level::AdGroup] {
            let dims = [level.id_field(), "stat_time_day", "province_id"];
            let mut q = query(&m, level, &dims, &["spend"]);
            q.report_type = ReportType::Audience;
            assert_eq!(code(m.report_rows(&q)).0, 40002, "{level:?}");
        }
    }

    #[test]
    fn idle_accounts_and_idle_days_have_no_rows_at_any_level() {
        let cfg = SimConfig {
            today: today(),
            advertisers: 10,
            idle_account_share: 0.6,
            idle_day_share: 0.3,
            ..SimConfig::default()
        };
        let m = Model::new(&cfg);
        let idle: Vec<bool> = m.advertisers.iter().map(|a| a.idle).collect();
        assert_eq!(idle.iter().filter(|i| **i).count(), 6, "{idle:?}");
        // The same seed picks the same accounts and days; another seed others.
        let again = Model::new(&cfg);
        assert_eq!(
            again.advertisers.iter().map(|a| a.idle).collect::<Vec<_>>(),
            idle
        );
        let other = Model::new(&SimConfig {
            seed: 7,
            ..cfg.clone()
        });
        assert_ne!(
            other.advertisers.iter().map(|a| a.idle).collect::<Vec<_>>(),
            idle
        );

        let rows = |id: u64, level: Level, dims: &[&str], lifetime: bool| {
            let mut q = query(&m, level, dims, &["spend", "impressions"]);
            q.advertiser_id = id;
            if lifetime {
                (q.lifetime, q.start_date, q.end_date) = (true, None, None);
            }
            m.report_rows(&q).unwrap()
        };
        let (mut idle_days, mut busy_days) = (0, 0);
        for adv in &m.advertisers {
            let days: Vec<String> = rows(
                adv.id,
                Level::Advertiser,
                &["advertiser_id", "stat_time_day"],
                false,
            )
            .iter()
            .map(|r| r["dimensions"]["stat_time_day"].as_str().unwrap()[..10].to_string())
            .collect();
            let lifetime = rows(adv.id, Level::Advertiser, &["advertiser_id"], true);
            if adv.idle {
                assert!(days.is_empty() && lifetime.is_empty(), "{}", adv.id);
                assert!(rows(adv.id, Level::Ad, &["ad_id", "stat_time_day"], false).is_empty());
                continue;
            }
            assert_eq!(lifetime.len(), 1);
            for day in 1..=30 {
                let date = NaiveDate::from_ymd_opt(2024, 6, day).unwrap();
                let text = date.format("%Y-%m-%d").to_string();
                let delivers = m.advertiser_delivers_on(adv.id, date);
                assert_eq!(days.contains(&text), delivers, "{} {text}", adv.id);
                if delivers {
                    busy_days += 1;
                    continue;
                }
                idle_days += 1;
                // Nothing at any level, by hour either.
                for (level, id_dim) in [(Level::Campaign, "campaign_id"), (Level::Ad, "ad_id")] {
                    let mut q = query(&m, level, &[id_dim, "stat_time_hour"], &["spend"]);
                    (q.advertiser_id, q.start_date, q.end_date) = (adv.id, Some(date), Some(date));
                    assert!(m.report_rows(&q).unwrap().is_empty(), "{} {text}", adv.id);
                }
            }
        }
        // About 30% of the delivering accounts' days are idle.
        let share = idle_days as f64 / (idle_days + busy_days) as f64;
        assert!(
            (0.2..0.4).contains(&share),
            "{idle_days} idle of {}",
            idle_days + busy_days
        );
    }
}
