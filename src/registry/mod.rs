//! The stream registry: one row per resource the connector offers ([`STREAMS`]), and the
//! resolution of a stream name against a config into a runnable [`Stream`] (legacy unsuffixed
//! names, custom reports, sandbox availability). A row says everything about its stream: the
//! endpoint, what kind of requests it takes, its key and cursor, its JSON schema (compiled in by
//! the row), where it is offered, whether it is enabled by default and what it costs. Discovery,
//! validation and the capture engine all read this table; per-stream behaviour is a `match` on
//! the row's kind, never a module per stream. Invariant tests over the table live at the bottom.

pub(crate) mod custom;
pub(crate) mod metric_catalog;
pub mod metrics;
pub mod report_options;
mod report_spec;
pub(crate) mod schema;

use serde_json::Value;

use crate::error::{Error, Result};
pub(crate) use metrics::{Breakdown, Granularity, Level, ReportType};
pub use report_options::{MetricGroup, RecordLayout, ReportOptions};
pub(crate) use report_spec::TOTALS_DAYS;
pub use report_spec::{ReportDef, ReportSpec};

/// How a paginated list endpoint is read per advertiser: the entities (`campaign/get/` and
/// friends) and the creative, audience, spark-ads and pixel lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntityDef {
    /// Where the records are in `data` (`list`, `musics`, `pixels`, ...).
    pub(crate) list_key: &'static str,
    /// A JSON pointer to copy the key from, when TikTok nests it (spark ads).
    pub(crate) id_from: Option<&'static str>,
    /// The `secondary_status` filter value that includes deleted entities.
    pub(crate) status_all: Option<&'static str>,
    pub(crate) page_size: u32,
    /// Asked once for auction and reach & frequency (what `*/get/` lists by default) and once
    /// for TopView, which TikTok lists only when asked alone, at most 100 a page.
    pub(crate) per_buying_type: bool,
}

/// What a row captures, that is how the engine asks the row's endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The details of every advertiser the token reaches, in batches.
    Advertisers,
    /// A paginated list per advertiser.
    Entity(EntityDef),
    /// `report/integrated/get/` windows per advertiser.
    Report(ReportDef),
    /// One request for every objective type and optimization goal.
    PixelInstantPageEvents,
    /// One request per pixel over the last 30 days; the pixels come from the `pixels` row.
    PixelEventStats { pixels: &'static StreamDef },
    /// No request: the daily campaign, ad group and ad report rows of the run compared with
    /// the ledger's advertiser totals (`capture::reconcile`), one record per account, day and
    /// level.
    Reconciliation,
}

/// The key of a row's records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Key {
    /// These top-level fields, in order.
    Fields(&'static [&'static str]),
    /// A report's dimensions: the level id, the time dimension, the breakdowns.
    Dimensions,
}

/// One row of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamDef {
    pub name: &'static str,
    /// Path below the API root, with its trailing slash.
    pub(crate) endpoint: &'static str,
    pub kind: Kind,
    pub(crate) key: Key,
    /// The incremental cursor field, when records carry one.
    pub(crate) cursor: Option<&'static str>,
    /// The JSON schema of the records (`schemas/<name>.json`, compiled in by the row).
    pub(crate) schema: &'static str,
    /// One of the 25 core resources (the streams of the earlier Airbyte-based connector; the
    /// others are extras).
    pub core: bool,
    /// Offered to sandbox configs (every row is offered in production).
    pub(crate) sandbox: bool,
    /// Discovered by Flow with `disable: true`: offered, not enabled by default. Every extra is
    /// opt-in (a new capture costs what the core resources cost until the user enables more),
    /// and so are the hourly audience reports TikTok refuses.
    pub disabled_by_default: bool,
    /// The unsuffixed name earlier versions used when `report_granularity` was set.
    pub(crate) legacy_name: Option<&'static str>,
    /// What a run costs per ad account, in TikTok requests (the README's table shows it).
    pub(crate) cost: &'static str,
}

impl StreamDef {
    /// The parsed schema of the row. The tests parse every row's file, so the fallback (an
    /// object schema) is never used in a build that passed them.
    pub(crate) fn schema(&self) -> Value {
        serde_json::from_str(self.schema).unwrap_or_else(|_| serde_json::json!({"type": "object"}))
    }
}

/// The path of a stream's schema file, as a literal for `include_str!`.
macro_rules! schema_file {
    ($name:literal) => {
        include_str!(concat!("../../schemas/", $name, ".json"))
    };
}

/// A row whose schema is `schemas/<name>.json`: `row!(constructor, "name", arguments...)`
/// calls the constructor with the name and that file, so no second list of names exists.
macro_rules! row {
    ($constructor:ident, $name:literal $(, $arg:expr)* $(,)?) => {
        $constructor($name, schema_file!($name) $(, $arg)*)
    };
}

/// The sandbox availability of entity and list rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Offered {
    Everywhere,
    ProductionOnly,
}

/// The columns of a core entity row.
struct EntityRow {
    level: Level,
    endpoint: &'static str,
    /// The `secondary_status` filter value that includes deleted entities.
    status_all: &'static str,
    cost: &'static str,
}

/// A core entity list (`campaign/get/`, `adgroup/get/`, `ad/get/`): keyed by the level's id,
/// incremental on `modify_time`, deleted entities on request.
const fn entity(name: &'static str, schema: &'static str, row: EntityRow) -> StreamDef {
    let EntityRow {
        level,
        endpoint,
        status_all,
        cost,
    } = row;
    StreamDef {
        name,
        endpoint,
        kind: Kind::Entity(EntityDef {
            list_key: "list",
            id_from: None,
            status_all: Some(status_all),
            page_size: 1000,
            per_buying_type: matches!(level, Level::Campaign | Level::AdGroup | Level::Ad),
        }),
        key: Key::Fields(level.id_key()),
        cursor: Some("modify_time"),
        schema,
        core: true,
        sandbox: true,
        disabled_by_default: false,
        legacy_name: None,
        cost,
    }
}

/// The columns of an extra list row.
struct ListRow {
    endpoint: &'static str,
    /// Where the records are in `data`.
    list_key: &'static str,
    key: &'static [&'static str],
    cursor: Option<&'static str>,
    page_size: u32,
    offered: Offered,
    cost: &'static str,
}

/// An extra list stream (creative assets, audiences, pixels, ...).
const fn list(name: &'static str, schema: &'static str, row: ListRow) -> StreamDef {
    let ListRow {
        endpoint,
        list_key,
        key,
        cursor,
        page_size,
        offered,
        cost,
    } = row;
    StreamDef {
        name,
        endpoint,
        kind: Kind::Entity(EntityDef {
            list_key,
            id_from: None,
            status_all: None,
            page_size,
            per_buying_type: false,
        }),
        key: Key::Fields(key),
        cursor,
        schema,
        core: false,
        sandbox: matches!(offered, Offered::Everywhere),
        disabled_by_default: true,
        legacy_name: None,
        cost,
    }
}

/// A core report row, with the unsuffixed name earlier versions used for its family.
const fn report(
    name: &'static str,
    schema: &'static str,
    def: ReportDef,
    legacy_name: &'static str,
) -> StreamDef {
    report_row(name, schema, def, Some(legacy_name))
}

/// An extra report (breakdowns by country, platform, province, ...): no legacy name.
const fn extra_report(name: &'static str, schema: &'static str, def: ReportDef) -> StreamDef {
    report_row(name, schema, def, None)
}

/// A report row's columns.
const fn r(
    report_type: ReportType,
    level: Level,
    granularity: Granularity,
    breakdown: Breakdown,
) -> ReportDef {
    ReportDef {
        report_type,
        level,
        granularity,
        breakdown,
    }
}

/// The availability rules of every report row: TikTok refuses the advertiser level and the
/// basic by-country reports in sandbox, and the hour dimension in audience reports since late
/// 2022 (those rows are offered but not enabled). Key, cursor and cost follow from the report.
const fn report_row(
    name: &'static str,
    schema: &'static str,
    def: ReportDef,
    legacy_name: Option<&'static str>,
) -> StreamDef {
    let basic_by_country =
        matches!(def.report_type, ReportType::Basic) && matches!(def.breakdown, Breakdown::Country);
    StreamDef {
        name,
        endpoint: REPORT_ENDPOINT,
        kind: Kind::Report(def),
        key: Key::Dimensions,
        cursor: def.granularity.time_dimension(),
        schema,
        core: legacy_name.is_some(),
        sandbox: !matches!(def.level, Level::Advertiser) && !basic_by_country,
        disabled_by_default: legacy_name.is_none()
            || (matches!(def.report_type, ReportType::Audience)
                && matches!(def.granularity, Granularity::Hour)),
        legacy_name,
        cost: match def.granularity {
            Granularity::Hour => "1 per day and 1,000-row page",
            Granularity::Day => "1 per 30 days and 1,000-row page",
            Granularity::Lifetime => "1 per 1,000-row page",
        },
    }
}

/// Every report row (and custom report) asks this endpoint.
pub(crate) const REPORT_ENDPOINT: &str = "report/integrated/get/";

use Breakdown as B;
use Granularity as G;
use Level as L;
use Offered::{Everywhere, ProductionOnly};
use ReportType as R;

/// The advertisers row; the engine lists the ad accounts through its endpoint.
pub(crate) const ADVERTISERS: StreamDef = StreamDef {
    name: "advertisers",
    endpoint: "advertiser/info/",
    kind: Kind::Advertisers,
    key: Key::Fields(&["advertiser_id"]),
    cursor: None,
    schema: schema_file!("advertisers"),
    core: true,
    sandbox: true,
    disabled_by_default: false,
    legacy_name: None,
    cost: "1 per 100 accounts (shared by the run)",
};

/// The campaigns row; the connection check reads one page of it.
pub(crate) const CAMPAIGNS: StreamDef = row!(
    entity,
    "campaigns",
    EntityRow {
        level: L::Campaign,
        endpoint: "campaign/get/",
        status_all: "CAMPAIGN_STATUS_ALL",
        cost: "2 (auction and reach & frequency; TopView), plus 1 per 1,000 campaigns"
    }
);

/// The ads row; ad-level reports of large accounts are split by the ids it lists.
pub(crate) const ADS: StreamDef = row!(
    entity,
    "ads",
    EntityRow {
        level: L::Ad,
        endpoint: "ad/get/",
        status_all: "AD_STATUS_ALL",
        cost:
            "1 per 1,000 ads, plus 1 per 100 TopView ones where the account has TopView campaigns"
    }
);

/// The pixels row; the pixel event statistics are asked per pixel it lists.
pub(crate) const PIXELS: StreamDef = row!(
    list,
    "pixels",
    ListRow {
        endpoint: "pixel/list/",
        list_key: "pixels",
        key: &["pixel_id"],
        cursor: None,
        page_size: 20,
        offered: ProductionOnly,
        cost: "1 per 20 pixels"
    }
);

/// Every resource, in discovery order: the 25 core resources, then the extra list streams and
/// the extra reports.
#[rustfmt::skip]
pub const STREAMS: &[StreamDef] = &[
    ADVERTISERS,
    CAMPAIGNS,
    row!(entity, "ad_groups", EntityRow { level: L::AdGroup, endpoint: "adgroup/get/", status_all: "ADGROUP_STATUS_ALL", cost: "1 per 1,000 ad groups, plus 1 per 100 TopView ones where the account has TopView campaigns" }),
    ADS,
    row!(report, "ads_reports_hourly", r(R::Basic, L::Ad, G::Hour, B::None), "ads_reports"),
    row!(report, "ads_reports_daily", r(R::Basic, L::Ad, G::Day, B::None), "ads_reports"),
    row!(report, "ads_reports_lifetime", r(R::Basic, L::Ad, G::Lifetime, B::None), "ads_reports"),
    row!(report, "ad_groups_reports_hourly", r(R::Basic, L::AdGroup, G::Hour, B::None), "ad_groups_reports"),
    row!(report, "ad_groups_reports_daily", r(R::Basic, L::AdGroup, G::Day, B::None), "ad_groups_reports"),
    row!(report, "ad_groups_reports_lifetime", r(R::Basic, L::AdGroup, G::Lifetime, B::None), "ad_groups_reports"),
    row!(report, "campaigns_reports_hourly", r(R::Basic, L::Campaign, G::Hour, B::None), "campaigns_reports"),
    row!(report, "campaigns_reports_daily", r(R::Basic, L::Campaign, G::Day, B::None), "campaigns_reports"),
    row!(report, "campaigns_reports_lifetime", r(R::Basic, L::Campaign, G::Lifetime, B::None), "campaigns_reports"),
    row!(report, "advertisers_reports_hourly", r(R::Basic, L::Advertiser, G::Hour, B::None), "advertisers_reports"),
    row!(report, "advertisers_reports_daily", r(R::Basic, L::Advertiser, G::Day, B::None), "advertisers_reports"),
    row!(report, "advertisers_reports_lifetime", r(R::Basic, L::Advertiser, G::Lifetime, B::None), "advertisers_reports"),
    row!(report, "advertisers_audience_reports_hourly", r(R::Audience, L::Advertiser, G::Hour, B::GenderAge), "advertisers_audience_reports"),
    row!(report, "advertisers_audience_reports_daily", r(R::Audience, L::Advertiser, G::Day, B::GenderAge), "advertisers_audience_reports"),
    row!(report, "advertisers_audience_reports_lifetime", r(R::Audience, L::Advertiser, G::Lifetime, B::GenderAge), "advertisers_audience_reports"),
    row!(report, "ad_group_audience_reports_hourly", r(R::Audience, L::AdGroup, G::Hour, B::GenderAge), "ad_group_audience_reports"),
    row!(report, "ad_group_audience_reports_daily", r(R::Audience, L::AdGroup, G::Day, B::GenderAge), "ad_group_audience_reports"),
    row!(report, "ads_audience_reports_hourly", r(R::Audience, L::Ad, G::Hour, B::GenderAge), "ads_audience_reports"),
    row!(report, "ads_audience_reports_daily", r(R::Audience, L::Ad, G::Day, B::GenderAge), "ads_audience_reports"),
    row!(report, "campaigns_audience_reports_by_country_hourly", r(R::Audience, L::Campaign, G::Hour, B::Country), "campaigns_audience_reports_by_country"),
    row!(report, "campaigns_audience_reports_by_country_daily", r(R::Audience, L::Campaign, G::Day, B::Country), "campaigns_audience_reports_by_country"),
    // Extras: creative assets, audiences, spark ads, pixels.
    row!(list, "audiences", ListRow { endpoint: "dmp/custom_audience/list/", list_key: "list", key: &["audience_id"], cursor: None, page_size: 100, offered: Everywhere, cost: "1 per 100 audiences" }),
    row!(list, "creative_assets_images", ListRow { endpoint: "file/image/ad/search/", list_key: "list", key: &["image_id"], cursor: Some("modify_time"), page_size: 100, offered: Everywhere, cost: "1 per 100 images" }),
    row!(list, "creative_assets_videos", ListRow { endpoint: "file/video/ad/search/", list_key: "list", key: &["video_id"], cursor: Some("modify_time"), page_size: 100, offered: Everywhere, cost: "1 per 100 videos" }),
    row!(list, "creative_assets_music", ListRow { endpoint: "file/music/get/", list_key: "musics", key: &["music_id"], cursor: None, page_size: 100, offered: Everywhere, cost: "1 per 100 tracks" }),
    row!(list, "creative_assets_portfolios", ListRow { endpoint: "creative/portfolio/list/", list_key: "creative_portfolios", key: &["creative_portfolio_id"], cursor: None, page_size: 100, offered: Everywhere, cost: "1 per 100 portfolios" }),
    StreamDef {
        kind: Kind::Entity(EntityDef {
            list_key: "list",
            id_from: Some("/item_info/item_id"),
            status_all: None,
            page_size: 50,
            per_buying_type: false,
        }),
        ..row!(list, "spark_ads", ListRow { endpoint: "tt_video/list/", list_key: "list", key: &["spark_ads_post_id"], cursor: None, page_size: 50, offered: ProductionOnly, cost: "1 per 50 posts" })
    },
    PIXELS,
    StreamDef {
        name: "pixel_instant_page_events",
        endpoint: "pixel/instant_page/event/",
        kind: Kind::PixelInstantPageEvents,
        key: Key::Fields(&["advertiser_id", "objective_type", "optimization_goal", "event_type"]),
        cursor: None,
        schema: schema_file!("pixel_instant_page_events"),
        core: false,
        sandbox: false,
        disabled_by_default: true,
        legacy_name: None,
        cost: "220 (every objective type and optimization goal pair)",
    },
    StreamDef {
        name: "pixel_events_statistics",
        endpoint: "pixel/event/stats/",
        kind: Kind::PixelEventStats { pixels: &PIXELS },
        key: Key::Fields(&["advertiser_id", "pixel_id", "event"]),
        cursor: None,
        schema: schema_file!("pixel_events_statistics"),
        core: false,
        sandbox: false,
        disabled_by_default: true,
        legacy_name: None,
        cost: "1 per 20 pixels, plus 1 per pixel",
    },
    StreamDef {
        name: "reconciliation_daily",
        endpoint: "report/integrated/get/",
        kind: Kind::Reconciliation,
        key: Key::Fields(&["advertiser_id", "stat_time_day", "level"]),
        cursor: None,
        schema: schema_file!("reconciliation_daily"),
        core: false,
        sandbox: false,
        disabled_by_default: true,
        legacy_name: None,
        cost: "none (the rows the daily report streams read, compared with the ledger)",
    },
    // Extras: basic reports by country, audience reports by country, platform and province.
    row!(extra_report, "ads_reports_by_country_hourly", r(R::Basic, L::Ad, G::Hour, B::Country)),
    row!(extra_report, "ads_reports_by_country_daily", r(R::Basic, L::Ad, G::Day, B::Country)),
    row!(extra_report, "ad_groups_reports_by_country_hourly", r(R::Basic, L::AdGroup, G::Hour, B::Country)),
    row!(extra_report, "ad_groups_reports_by_country_daily", r(R::Basic, L::AdGroup, G::Day, B::Country)),
    row!(extra_report, "campaigns_audience_reports_daily", r(R::Audience, L::Campaign, G::Day, B::GenderAge)),
    row!(extra_report, "campaigns_audience_reports_by_platform_daily", r(R::Audience, L::Campaign, G::Day, B::Platform)),
    row!(extra_report, "ad_group_audience_reports_by_country_daily", r(R::Audience, L::AdGroup, G::Day, B::Country)),
    row!(extra_report, "ad_group_audience_reports_by_platform_daily", r(R::Audience, L::AdGroup, G::Day, B::Platform)),
    row!(extra_report, "ads_audience_reports_by_country_daily", r(R::Audience, L::Ad, G::Day, B::Country)),
    row!(extra_report, "ads_audience_reports_by_platform_daily", r(R::Audience, L::Ad, G::Day, B::Platform)),
    row!(extra_report, "ads_audience_reports_by_province_daily", r(R::Audience, L::Ad, G::Day, B::Province)),
    row!(extra_report, "advertisers_audience_reports_by_country_daily", r(R::Audience, L::Advertiser, G::Day, B::Country)),
    row!(extra_report, "advertisers_audience_reports_by_platform_daily", r(R::Audience, L::Advertiser, G::Day, B::Platform)),
];

/// What of a config decides which streams are offered. The config implements it; the
/// registry knows nothing else of the config (dependencies point from config to registry).
pub trait Scope {
    /// A sandbox account: production-only rows are not offered.
    fn is_sandbox(&self) -> bool;
    /// Set by configs of earlier versions: the unsuffixed report names at this granularity.
    fn report_granularity(&self) -> Option<Granularity>;
    fn custom_reports(&self) -> &[CustomReport];
    /// The metric groups and record layout of the reports; the standard ones unless the config
    /// chooses.
    fn report_options(&self) -> &ReportOptions {
        &STANDARD_OPTIONS
    }
}

/// What a config that chooses neither metric groups nor a record layout gets.
static STANDARD_OPTIONS: ReportOptions = ReportOptions::STANDARD;

/// A shared config (the engine holds it in an `Arc`) is the same scope.
impl<T: Scope + ?Sized> Scope for std::sync::Arc<T> {
    fn is_sandbox(&self) -> bool {
        (**self).is_sandbox()
    }
    fn report_granularity(&self) -> Option<Granularity> {
        (**self).report_granularity()
    }
    fn custom_reports(&self) -> &[CustomReport] {
        (**self).custom_reports()
    }
    fn report_options(&self) -> &ReportOptions {
        (**self).report_options()
    }
}

/// A validated custom report of a config.
#[derive(Debug, Clone, PartialEq)]
pub struct CustomReport {
    pub(crate) name: String,
    /// The report as the engine runs it (dimensions in the order given).
    pub(crate) spec: ReportSpec,
}

impl CustomReport {
    pub(crate) fn stream_name(&self) -> String {
        format!("custom_report_{}", self.name)
    }
}

/// What a runnable stream captures: a row of the table, or a report (a row's or a custom
/// one) resolved to its dimensions and metrics.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum StreamSpec {
    /// A row that is not a report: the row says how to ask for it.
    Row(&'static StreamDef),
    Report(ReportSpec),
}

/// A stream resolved against a config: what discovery offers and what the engine runs.
#[derive(Debug, Clone)]
pub struct Stream {
    /// The name the user sees (and the resource config carries).
    pub name: String,
    pub(crate) spec: StreamSpec,
    /// The key, as top-level field names.
    pub key: Vec<String>,
    /// The cursor field, when the stream is incremental.
    pub(crate) cursor: Option<String>,
    pub disabled_by_default: bool,
    pub schema: Value,
}

impl Stream {
    pub fn key_pointers(&self) -> Vec<String> {
        self.key.iter().map(|k| format!("/{k}")).collect()
    }

    pub fn report(&self) -> Option<&ReportSpec> {
        match &self.spec {
            StreamSpec::Report(r) => Some(r),
            StreamSpec::Row(_) => None,
        }
    }

    /// The stream of a row, under the name the user sees (the row's or its legacy name).
    /// Everything comes from the row: a new row needs no code here.
    fn from_def(def: &'static StreamDef, name: &str, options: &ReportOptions) -> Self {
        let spec = match def.kind {
            Kind::Report(r) => StreamSpec::Report(ReportSpec::with_options(&r, options)),
            _ => StreamSpec::Row(def),
        };
        // A report under metric groups or the flat layout has the schema its request and layout
        // make; otherwise the row's file (which the schema tests keep equal to the generated one).
        let schema = match &spec {
            StreamSpec::Report(report) if !options.is_standard() => {
                schema::report_schema(def.name, report)
            }
            _ => def.schema(),
        };
        let key = match (def.key, &spec) {
            (Key::Fields(fields), _) => fields.iter().map(|f| f.to_string()).collect(),
            (Key::Dimensions, StreamSpec::Report(report)) => report.dimensions.clone(),
            // A row keyed by dimensions that is not a report is refused by the table's tests.
            (Key::Dimensions, StreamSpec::Row(_)) => Vec::new(),
        };
        Stream {
            name: name.to_string(),
            spec,
            key,
            cursor: def.cursor.map(str::to_string),
            disabled_by_default: def.disabled_by_default,
            schema,
        }
    }
}

/// Reports are keyed by their dimensions: the level id, the time and the breakdowns.
/// Entity ids are unique across advertisers, so the table's reports need no advertiser id in
/// their key; custom reports add it (see [`custom_stream`]).
fn report_key(spec: &ReportSpec) -> (Vec<String>, Option<String>) {
    let key = spec.dimensions.clone();
    let cursor = spec.granularity.time_dimension().map(str::to_string);
    (key, cursor)
}

fn custom_stream(report: &CustomReport, options: &ReportOptions) -> Stream {
    let mut spec = report.spec.clone();
    spec.layout = options.record_layout;
    let (mut key, cursor) = report_key(&spec);
    // A custom report's key is its dimensions plus the advertiser, whatever they are.
    if !key.iter().any(|k| k == "advertiser_id") {
        key.push("advertiser_id".to_string());
    }
    let name = report.stream_name();
    let schema = schema::report_schema(&name, &spec);
    Stream {
        name,
        spec: StreamSpec::Report(spec),
        key,
        cursor,
        disabled_by_default: false,
        schema,
    }
}

pub fn find(name: &str) -> Option<&'static StreamDef> {
    STREAMS.iter().find(|d| d.name == name)
}

/// Whether a name is a legacy unsuffixed report family.
fn legacy_family(name: &str) -> bool {
    STREAMS.iter().any(|d| d.legacy_name == Some(name))
}

/// The streams discovery offers for a config, in a stable order.
pub fn catalog(config: &impl Scope) -> Vec<Stream> {
    let sandbox = config.is_sandbox();
    let mut out = Vec::new();
    match config.report_granularity() {
        None => {
            for def in STREAMS.iter().filter(|d| d.sandbox || !sandbox) {
                out.push(Stream::from_def(def, def.name, config.report_options()));
            }
        }
        Some(granularity) => {
            for def in STREAMS.iter().filter(|d| d.sandbox || !sandbox) {
                match def.legacy_name {
                    None => out.push(Stream::from_def(def, def.name, config.report_options())),
                    Some(legacy) => {
                        let Kind::Report(r) = def.kind else { continue };
                        if r.granularity == granularity {
                            out.push(Stream::from_def(def, legacy, config.report_options()));
                        }
                    }
                }
            }
        }
    }
    out.extend(
        config
            .custom_reports()
            .iter()
            .map(|r| custom_stream(r, config.report_options())),
    );
    out
}

/// Resolves any known stream name (suffixed, legacy or custom) against a config, or says why it
/// cannot be captured with it.
pub fn resolve(name: &str, config: &impl Scope) -> Result<Stream> {
    let sandbox = config.is_sandbox();
    let unavailable = |def: &StreamDef| {
        Error::config(format!(
            "Stream {name:?} is not available in the TikTok sandbox: TikTok refuses \
             advertiser-level reports there. Disable the binding, or use production \
             credentials (auth_type \"oauth2.0\") to capture it (resolved to {}).",
            def.name
        ))
    };
    if let Some(def) = find(name) {
        if sandbox && !def.sandbox {
            return Err(unavailable(def));
        }
        return Ok(Stream::from_def(def, name, config.report_options()));
    }
    if legacy_family(name) {
        let granularity = config.report_granularity().unwrap_or(Granularity::Day);
        let def = STREAMS.iter().find(|d| {
            d.legacy_name == Some(name)
                && matches!(d.kind, Kind::Report(r) if r.granularity == granularity)
        });
        let Some(def) = def else {
            return Err(Error::config(format!(
                "Stream {name:?} does not exist at report_granularity {}: TikTok offers \
                 lifetime audience reports only for advertisers. Disable the binding or choose \
                 another report_granularity.",
                granularity.as_config()
            )));
        };
        if sandbox && !def.sandbox {
            return Err(unavailable(def));
        }
        return Ok(Stream::from_def(def, name, config.report_options()));
    }
    if let Some(report) = config
        .custom_reports()
        .iter()
        .find(|r| r.stream_name() == name)
    {
        if sandbox && report.spec.level == Level::Advertiser {
            return Err(Error::config(format!(
                "Custom report {name:?} is at AUCTION_ADVERTISER, which the TikTok sandbox \
                 refuses. Use production credentials or another data level."
            )));
        }
        return Ok(custom_stream(report, config.report_options()));
    }
    let mut known: Vec<&str> = STREAMS.iter().map(|d| d.name).collect();
    known.sort();
    let close = known
        .iter()
        .filter(|k| k.starts_with(name.split('_').next().unwrap_or(name)))
        .take(5)
        .copied()
        .collect::<Vec<_>>();
    let hint = if close.is_empty() {
        String::new()
    } else {
        format!(" Did you mean one of {close:?}?")
    };
    Err(Error::config(format!(
        "Unknown stream {name:?}: it is not a TikTok Marketing resource, a legacy report name or \
         a custom report of this config.{hint} Run discover to see the streams this config offers."
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::HashSet;

    /// A config as far as the registry sees one.
    struct TestScope {
        sandbox: bool,
        report_granularity: Option<Granularity>,
        custom_reports: Vec<CustomReport>,
        report_options: ReportOptions,
    }

    impl Scope for TestScope {
        fn is_sandbox(&self) -> bool {
            self.sandbox
        }
        fn report_granularity(&self) -> Option<Granularity> {
            self.report_granularity
        }
        fn custom_reports(&self) -> &[CustomReport] {
            &self.custom_reports
        }
        fn report_options(&self) -> &ReportOptions {
            &self.report_options
        }
    }

    fn scope(sandbox: bool, granularity: Option<&str>) -> TestScope {
        TestScope {
            sandbox,
            report_granularity: granularity.map(|g| serde_json::from_value(json!(g)).unwrap()),
            custom_reports: Vec::new(),
            report_options: ReportOptions::default(),
        }
    }

    fn production(granularity: Option<&str>) -> TestScope {
        scope(false, granularity)
    }

    fn sandbox(granularity: Option<&str>) -> TestScope {
        scope(true, granularity)
    }

    const CORE: &[&str] = &[
        "advertisers",
        "campaigns",
        "ad_groups",
        "ads",
        "ads_reports_hourly",
        "ads_reports_daily",
        "ads_reports_lifetime",
        "ad_groups_reports_hourly",
        "ad_groups_reports_daily",
        "ad_groups_reports_lifetime",
        "campaigns_reports_hourly",
        "campaigns_reports_daily",
        "campaigns_reports_lifetime",
        "advertisers_reports_hourly",
        "advertisers_reports_daily",
        "advertisers_reports_lifetime",
        "advertisers_audience_reports_hourly",
        "advertisers_audience_reports_daily",
        "advertisers_audience_reports_lifetime",
        "ad_group_audience_reports_hourly",
        "ad_group_audience_reports_daily",
        "ads_audience_reports_hourly",
        "ads_audience_reports_daily",
        "campaigns_audience_reports_by_country_hourly",
        "campaigns_audience_reports_by_country_daily",
    ];

    #[test]
    fn names_are_unique_and_cover_the_core_resources() {
        let names: HashSet<&str> = STREAMS.iter().map(|d| d.name).collect();
        assert_eq!(names.len(), STREAMS.len(), "duplicate names");
        for core in CORE {
            assert!(names.contains(core), "{core} has no row");
        }
        let core: Vec<&str> = STREAMS.iter().filter(|d| d.core).map(|d| d.name).collect();
        assert_eq!(
            core, CORE,
            "the core rows are exactly the 25 core resources, in order"
        );
    }

    #[test]
    fn report_rows_are_unique_by_type_level_granularity_breakdown() {
        let mut seen = HashSet::new();
        for def in STREAMS {
            if let Kind::Report(r) = def.kind {
                assert!(seen.insert((r.report_type, r.level, r.granularity, r.breakdown)));
                assert!(def.name.ends_with(r.granularity.suffix()), "{}", def.name);
                if let Some(legacy) = def.legacy_name {
                    assert_eq!(def.name, format!("{legacy}{}", r.granularity.suffix()));
                }
                assert_eq!(def.legacy_name.is_some(), def.core, "{}", def.name);
            }
        }
    }

    #[test]
    fn production_only_rows_are_the_documented_ones() {
        // Advertiser-level reports, basic by-country reports, spark ads and
        // the pixel streams are not offered in sandbox.
        for def in STREAMS {
            let production_only = match def.kind {
                Kind::Report(r) => {
                    r.level == Level::Advertiser
                        || (r.report_type == ReportType::Basic && r.breakdown == Breakdown::Country)
                }
                Kind::Entity(_) => matches!(def.endpoint, "tt_video/list/" | "pixel/list/"),
                Kind::PixelInstantPageEvents | Kind::PixelEventStats { .. } => true,
                // It compares with advertiser-level totals, which sandbox does not have.
                Kind::Reconciliation => true,
                Kind::Advertisers => false,
            };
            assert_eq!(def.sandbox, !production_only, "{}", def.name);
            let per_buying_type = matches!(def.kind, Kind::Entity(e) if e.per_buying_type);
            assert_eq!(
                per_buying_type,
                matches!(def.name, "campaigns" | "ad_groups" | "ads"),
                "{}",
                def.name
            );
        }
    }

    #[test]
    fn only_core_resources_are_enabled_by_default() {
        let hourly_audience = [
            "advertisers_audience_reports_hourly",
            "ad_group_audience_reports_hourly",
            "ads_audience_reports_hourly",
            "campaigns_audience_reports_by_country_hourly",
        ];
        for def in STREAMS {
            let expected = !def.core || hourly_audience.contains(&def.name);
            assert_eq!(def.disabled_by_default, expected, "{}", def.name);
        }
        let enabled = STREAMS.iter().filter(|d| !d.disabled_by_default).count();
        assert_eq!(
            enabled, 21,
            "the 25 core resources less the 4 hourly audience ones"
        );
    }

    /// What a row must have, each problem said so that whoever added the row knows what they
    /// forgot: the guard [`every_row_is_complete`] runs it over the table, and
    /// [`the_recipe_for_a_report_stream_is_checked`] follows the recipe of
    /// docs/architecture.md through it.
    fn row_problems(def: &'static StreamDef) -> Vec<String> {
        let name = def.name;
        let mut problems = Vec::new();
        if !def.endpoint.ends_with('/') || def.endpoint.starts_with('/') {
            problems.push(format!(
                "{name}: the endpoint {:?} must be a path below the API root with its trailing \
                 slash, such as \"campaign/get/\"",
                def.endpoint
            ));
        }
        if def.cost.is_empty() {
            problems.push(format!(
                "{name}: no cost: say what one run costs per ad account, in TikTok requests \
                 (such as \"1 per 1,000 ads\"); the README's stream table shows it"
            ));
        }
        let schema: Value = match serde_json::from_str(def.schema) {
            Ok(schema) => schema,
            Err(e) => {
                problems.push(format!(
                    "{name}: schemas/{name}.json does not parse ({e}): write the record schema \
                     there (for a report, create it with `echo '{{}}' > schemas/{name}.json` \
                     and let the schema test fill it in)"
                ));
                return problems;
            }
        };
        if schema["type"] != "object" {
            problems.push(format!(
                "{name}: schemas/{name}.json is not an object schema (\"type\": \"object\")"
            ));
        }
        match (def.kind, def.key) {
            (Kind::Report(r), Key::Dimensions) => {
                if def.endpoint != REPORT_ENDPOINT {
                    problems.push(format!("{name}: a report reads {REPORT_ENDPOINT}"));
                }
                if def.cursor != r.granularity.time_dimension() {
                    problems.push(format!(
                        "{name}: a report's cursor is its time dimension, {:?}",
                        r.granularity.time_dimension()
                    ));
                }
                let generated = schema::report_schema(name, &ReportSpec::from_def(&r));
                if schema != generated {
                    problems.push(format!(
                        "{name}: schemas/{name}.json is not the schema the table generates for \
                         this report: run `UPDATE_SCHEMAS=1 cargo test --lib registry::schema` \
                         to write it, then review and commit the file"
                    ));
                }
            }
            (Kind::Report(_), Key::Fields(_)) => {
                problems.push(format!("{name}: reports are keyed by dimensions"))
            }
            (_, Key::Dimensions) => problems.push(format!("{name}: only reports have dimensions")),
            (_, Key::Fields([])) => problems.push(format!(
                "{name}: no key: name the field(s) that identify a record, such as \
                 Key::Fields(&[\"campaign_id\"])"
            )),
            (_, Key::Fields(_)) => {}
        }
        if let Some(cursor) = def.cursor {
            if schema["properties"].get(cursor).is_none() {
                problems.push(format!(
                    "{name}: the cursor {cursor} is not a property of schemas/{name}.json"
                ));
            }
        }
        let stream = Stream::from_def(def, name, &ReportOptions::STANDARD);
        let required = schema["required"].as_array().cloned().unwrap_or_default();
        for key in &stream.key {
            let ty = &schema["properties"][key]["type"];
            if !required.contains(&json!(key)) || !ty.is_string() || ty == "null" {
                problems.push(format!(
                    "{name}: the key field {key} must be listed in `required` of \
                     schemas/{name}.json with one non-null type; it has {ty}"
                ));
            }
        }
        if let Kind::PixelEventStats { pixels } = def.kind {
            if !matches!(pixels.kind, Kind::Entity(_)) {
                problems.push(format!("{name}: its pixels come from a list row"));
            }
        }
        problems
    }

    #[test]
    fn every_row_is_complete() {
        for def in STREAMS {
            let name = def.name;
            let problems = row_problems(def);
            assert!(problems.is_empty(), "{}", problems.join("\n"));
            assert_eq!(def.schema()["type"], "object", "{name}");
            if let Kind::PixelEventStats { pixels } = def.kind {
                assert!(
                    STREAMS.contains(pixels),
                    "{name}: its pixel list is not a row"
                );
            }
        }
        for named in [ADVERTISERS, CAMPAIGNS, ADS, PIXELS] {
            assert_eq!(
                find(named.name),
                Some(&named),
                "{} is not in the table",
                named.name
            );
        }
        // No two rows ask the same endpoint for the same thing.
        let mut lists = HashSet::new();
        for def in STREAMS
            .iter()
            .filter(|d| !matches!(d.kind, Kind::Report(_)))
        {
            assert!(
                lists.insert(def.endpoint),
                "{} repeats {}",
                def.name,
                def.endpoint
            );
        }
    }

    /// Adding a plain report stream is one row plus its schema file: everything discovery and
    /// the engine need follows from the row. The row here is not in the table (its schema is
    /// generated, as the schema test does for a new file).
    #[test]
    fn a_plain_report_is_one_row_plus_its_schema() {
        const NAME: &str = "campaigns_audience_reports_by_province_daily";
        assert!(find(NAME).is_none(), "pick a name the table does not have");
        let report = r(R::Audience, L::Campaign, G::Day, B::Province);
        let schema = schema::report_schema(NAME, &ReportSpec::from_def(&report));
        let text: &'static str =
            Box::leak(serde_json::to_string(&schema).unwrap().into_boxed_str());
        let def: &'static StreamDef = Box::leak(Box::new(extra_report(NAME, text, report)));
        let stream = Stream::from_def(def, def.name, &ReportOptions::STANDARD);
        assert_eq!(stream.name, NAME);
        assert_eq!(stream.key, ["campaign_id", "stat_time_day", "province_id"]);
        assert_eq!(stream.cursor.as_deref(), Some("stat_time_day"));
        assert!(stream.disabled_by_default, "extras are opt-in");
        assert!(def.sandbox && !def.core && def.legacy_name.is_none());
        assert_eq!(def.cost, "1 per 30 days and 1,000-row page");
        assert_eq!(stream.schema, schema);
        let spec = stream.report().unwrap();
        assert_eq!(spec.dimensions, stream.key);
        assert!(spec.metrics.iter().any(|m| m == "spend"));
        // And every report row of the table is exactly such a row.
        for def in STREAMS {
            let Kind::Report(report) = def.kind else {
                continue;
            };
            let built = if def.core {
                report_row(def.name, def.schema, report, def.legacy_name)
            } else {
                extra_report(def.name, def.schema, report)
            };
            assert_eq!(built, *def, "{}", def.name);
        }
    }

    /// docs/architecture.md's recipe "add a stream", followed for a plain report: the row, its
    /// schema file created empty and then written by the schema test, and what the guards say
    /// when a step is left out.
    #[test]
    fn the_recipe_for_a_report_stream_is_checked() {
        const NAME: &str = "campaigns_audience_reports_by_province_daily";
        assert!(find(NAME).is_none(), "pick a name the table does not have");
        let report = r(R::Audience, L::Campaign, G::Day, B::Province);
        let leak = |text: String| -> &'static str { Box::leak(text.into_boxed_str()) };
        let problems = |def: StreamDef| row_problems(Box::leak(Box::new(def))).join("\n");

        // Step 1: the row, and its schema file created empty (`echo '{}' > ...`): the guard says
        // how to fill it in.
        let first = extra_report(NAME, "{}", report);
        let said = problems(first);
        assert!(
            said.contains(&format!("{NAME}: schemas/{NAME}.json is not the schema"))
                && said.contains("UPDATE_SCHEMAS=1 cargo test --lib registry::schema"),
            "{said}"
        );
        // No file at all (an empty text here; the build's include_str! stops first in the
        // table) is named too.
        let said = problems(extra_report(NAME, "", report));
        assert!(
            said.contains(&format!("{NAME}: schemas/{NAME}.json does not parse")),
            "{said}"
        );

        // Step 2: the schema test writes the file; the row then passes every check.
        let generated = schema::report_schema(NAME, &ReportSpec::from_def(&report));
        let text = leak(serde_json::to_string_pretty(&generated).unwrap() + "\n");
        let row = extra_report(NAME, text, report);
        assert_eq!(problems(row), "");

        // Left out: the cost (a row written by hand rather than by `extra_report`).
        let said = problems(StreamDef { cost: "", ..row });
        assert!(said.contains(&format!("{NAME}: no cost")), "{said}");
        // Left out: a key field in the schema (edited by hand after the schema test wrote it).
        let mut edited = generated.clone();
        edited["required"]
            .as_array_mut()
            .unwrap()
            .retain(|field| field != "province_id");
        let said = problems(extra_report(NAME, leak(edited.to_string()), report));
        assert!(
            said.contains(&format!("{NAME}: the key field province_id")),
            "{said}"
        );
        // Left out: the key of a list row.
        let said = problems(StreamDef {
            key: Key::Fields(&[]),
            ..CAMPAIGNS
        });
        assert!(said.contains("campaigns: no key"), "{said}");
    }

    /// The README's stream table is the registry's, column by column.
    #[test]
    fn the_readme_stream_table_matches_the_rows() {
        let readme = include_str!("../../README.md");
        let rows: Vec<Vec<&str>> = readme
            .lines()
            .filter(|l| l.starts_with("| `"))
            .map(|l| l.trim_matches('|').split(" | ").map(str::trim).collect())
            .filter(|cells: &Vec<&str>| cells.len() == 8)
            .collect();
        for def in STREAMS {
            let shown = format!("`{}`", def.name);
            assert!(
                rows.iter()
                    .any(|cells| cells[0].split(" (").next() == Some(shown.as_str())),
                "{}: the README's stream table has no row for it: add one (stream, set, Flow \
                 default, key, cursor, production, sandbox, requests per ad account and run), in \
                 the table's order",
                def.name
            );
        }
        assert_eq!(rows.len(), STREAMS.len(), "one README row per stream");
        let production = production(None);
        for (cells, def) in rows.iter().zip(STREAMS) {
            let name = def.name;
            // The name, and perhaps a note on what the stream holds in parentheses.
            let shown = cells[0].split(" (").next().unwrap_or_default();
            assert_eq!(shown, format!("`{name}`"));
            assert_eq!(cells[1], if def.core { "core" } else { "extra" }, "{name}");
            assert_eq!(cells[2] == "on", !def.disabled_by_default, "{name}");
            let stream = resolve(name, &production).unwrap();
            assert_eq!(cells[3], stream.key.join(", "), "{name}");
            assert_eq!(cells[4], def.cursor.unwrap_or("—"), "{name}");
            assert_eq!(cells[5], "yes", "{name}");
            assert_eq!(cells[6], if def.sandbox { "yes" } else { "no" }, "{name}");
            assert_eq!(cells[7], def.cost, "{name}");
        }
    }

    #[test]
    fn keys_are_required_and_non_null_in_every_schema() {
        for stream in catalog(&production(None)) {
            let required: Vec<&str> = stream.schema["required"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            for key in &stream.key {
                assert!(required.contains(&key.as_str()), "{}: {key}", stream.name);
                let ty = &stream.schema["properties"][key]["type"];
                assert!(
                    ty.is_string() && ty != "null",
                    "{}: {key} must have one non-null type, has {ty}",
                    stream.name
                );
            }
        }
    }

    #[test]
    fn keys_follow_level_time_and_breakdowns() {
        let stream = resolve("ads_audience_reports_daily", &production(None)).unwrap();
        assert_eq!(stream.key, ["ad_id", "stat_time_day", "gender", "age"]);
        assert_eq!(stream.cursor.as_deref(), Some("stat_time_day"));
        let stream = resolve("campaigns_reports_lifetime", &production(None)).unwrap();
        assert_eq!(stream.key, ["campaign_id"]);
        assert_eq!(stream.cursor, None);
        let stream = resolve("ads", &production(None)).unwrap();
        assert_eq!(stream.key, ["ad_id"]);
        assert_eq!(stream.cursor.as_deref(), Some("modify_time"));
    }

    #[test]
    fn discovery_offers_25_core_in_production_and_19_in_sandbox_then_the_extras() {
        let prod: Vec<String> = catalog(&production(None))
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(prod[..25], *CORE);
        assert_eq!(prod.len(), STREAMS.len());
        let sand: Vec<String> = catalog(&sandbox(None))
            .into_iter()
            .map(|s| s.name)
            .collect();
        let sand_core = sand.iter().filter(|n| CORE.contains(&n.as_str())).count();
        assert_eq!(sand_core, 19);
        assert!(sand.iter().all(|n| !n.starts_with("advertisers_")));
        for production_only in ["spark_ads", "pixels", "ads_reports_by_country_daily"] {
            assert!(
                !sand.iter().any(|n| n == production_only),
                "{production_only}"
            );
        }
        assert_eq!(sand.len(), 31);
    }

    /// Discovery shows each report under the config's metric groups and layout: nested, the
    /// `metrics` object holds the grown request; flat, each metric is a typed top-level field
    /// and there is no `metrics` object. Entities and the standard config are unchanged.
    #[test]
    fn discovery_follows_the_metric_groups_and_the_record_layout() {
        let standard = catalog(&production(None));
        for (groups, layout) in [
            (vec![MetricGroup::All], RecordLayout::Nested),
            (vec![MetricGroup::All], RecordLayout::Flat),
            (vec![], RecordLayout::Flat),
            (
                vec![MetricGroup::Website, MetricGroup::Skan],
                RecordLayout::Nested,
            ),
        ] {
            let mut config = production(None);
            config.report_options = ReportOptions {
                metric_groups: groups.clone(),
                record_layout: layout,
            };
            let streams = catalog(&config);
            assert_eq!(streams.len(), standard.len());
            for (stream, before) in streams.iter().zip(&standard) {
                assert_eq!(stream.name, before.name);
                assert_eq!(stream.key, before.key, "{}", stream.name);
                let Some(report) = stream.report() else {
                    assert_eq!(stream.schema, before.schema, "{}", stream.name);
                    continue;
                };
                assert_eq!(report.layout, layout);
                let asked_before = &before.report().unwrap().metrics;
                assert_eq!(report.metrics[..asked_before.len()], asked_before[..]);
                assert_eq!(
                    report.metrics.len() > asked_before.len(),
                    !groups.is_empty()
                );
                let properties = &stream.schema["properties"];
                for metric in &report.metrics {
                    let declared = match layout {
                        RecordLayout::Nested => &properties["metrics"]["properties"][metric],
                        RecordLayout::Flat => {
                            let field = report_options::flat_field(metric, &report.dimensions);
                            &properties[field.as_ref()]
                        }
                    };
                    let expected = match metric_catalog::metric_type(metric) {
                        Some(metrics::MetricType::Number) => json!(["number", "null"]),
                        Some(metrics::MetricType::Id) => json!(["integer", "null"]),
                        _ => json!(["string", "null"]),
                    };
                    assert_eq!(declared["type"], expected, "{}: {metric}", stream.name);
                }
                assert_eq!(
                    properties.get("metrics").is_some(),
                    layout == RecordLayout::Nested,
                    "{}",
                    stream.name
                );
                for key in &stream.key {
                    assert_eq!(properties[key], before.schema["properties"][key], "{key}");
                }
                // Resolution by name gives the same stream discovery offers.
                let resolved = resolve(&stream.name, &config).unwrap();
                assert_eq!(resolved.schema, stream.schema, "{}", stream.name);
            }
        }
    }

    #[test]
    fn report_granularity_offers_the_legacy_names() {
        let names = |c: &TestScope| catalog(c).into_iter().map(|s| s.name).collect::<Vec<_>>();
        assert_eq!(
            names(&production(Some("DAY")))[..12],
            [
                "advertisers",
                "campaigns",
                "ad_groups",
                "ads",
                "ads_reports",
                "ad_groups_reports",
                "campaigns_reports",
                "advertisers_reports",
                "advertisers_audience_reports",
                "ad_group_audience_reports",
                "ads_audience_reports",
                "campaigns_audience_reports_by_country"
            ]
        );
        let lifetime = names(&production(Some("LIFETIME")));
        assert!(lifetime.contains(&"advertisers_audience_reports".to_string()));
        assert!(!lifetime.contains(&"ads_audience_reports".to_string()));
        let sandbox_hour = catalog(&sandbox(Some("HOUR")));
        let audience = sandbox_hour
            .iter()
            .find(|s| s.name == "ads_audience_reports")
            .unwrap();
        assert!(audience.disabled_by_default);
        assert!(!sandbox_hour.iter().any(|s| s.name == "advertisers_reports"));
    }

    #[test]
    fn every_known_name_resolves_either_way() {
        for config in [production(None), production(Some("HOUR"))] {
            for core in CORE {
                assert_eq!(resolve(core, &config).unwrap().name, *core);
            }
            let legacy = resolve("ads_reports", &config).unwrap();
            assert_eq!(legacy.name, "ads_reports");
        }
        let daily = resolve("ads_reports", &production(None)).unwrap();
        assert_eq!(daily.report().unwrap().granularity, Granularity::Day);
        let hourly = resolve("ads_reports", &production(Some("HOUR"))).unwrap();
        assert_eq!(hourly.report().unwrap().granularity, Granularity::Hour);
    }

    #[test]
    fn custom_reports_are_keyed_by_their_dimensions_and_the_advertiser() {
        let mut config = production(None);
        config.custom_reports.push(CustomReport {
            name: "by_country".into(),
            spec: ReportSpec {
                report_type: ReportType::Basic,
                level: Level::Campaign,
                granularity: Granularity::Lifetime,
                dimensions: vec!["campaign_id".into(), "country_code".into()],
                metrics: vec!["spend".into(), "my_new_metric".into()],
                filtering: Vec::new(),
                layout: crate::registry::RecordLayout::Nested,
            },
        });
        let stream = resolve("custom_report_by_country", &config).unwrap();
        assert_eq!(stream.key, ["campaign_id", "country_code", "advertiser_id"]);
        assert_eq!(stream.cursor, None, "no time dimension: lifetime totals");
        let metrics = &stream.schema["properties"]["metrics"]["properties"];
        assert_eq!(metrics["spend"]["type"], json!(["number", "null"]));
        assert_eq!(metrics["my_new_metric"]["type"], json!(["string", "null"]));
        assert!(catalog(&config)
            .iter()
            .any(|s| s.name == "custom_report_by_country"));
    }

    #[test]
    fn resolution_errors_say_why() {
        let err = resolve("advertisers_reports_daily", &sandbox(None)).unwrap_err();
        assert!(err
            .to_string()
            .contains("not available in the TikTok sandbox"));
        let err = resolve("ads_repots_daily", &production(None)).unwrap_err();
        assert!(err
            .to_string()
            .contains("Unknown stream \"ads_repots_daily\""));
        let err = resolve("ads_audience_reports", &production(Some("LIFETIME"))).unwrap_err();
        assert!(err.to_string().contains("LIFETIME"), "{err}");
    }
}
