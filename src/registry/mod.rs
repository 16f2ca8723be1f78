//! The stream registry: one row per resource the connector offers ([`STREAMS`]), and the
//! resolution of a stream name against a config into a runnable [`Stream`] (legacy unsuffixed
//! names, custom reports, sandbox availability). Discovery, validation, the capture engine and
//! the simulated API all read this table; per-stream behaviour is a `match` on the row's kind,
//! never a module per stream. Invariant tests over the table live at the bottom.

pub mod metrics;
pub mod schema;

use serde_json::Value;

use crate::config::Config;
use crate::error::{Error, Result};
use metrics::{Breakdown, Granularity, Level, ReportType};

/// A paginated list endpoint per advertiser: the entities (`campaign/get/` and friends) and the
/// creative, audience, spark-ads and pixel lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntityDef {
    /// Path below the API root, with its trailing slash.
    pub endpoint: &'static str,
    /// Where the records are in `data` (`list`, `musics`, `pixels`, ...).
    pub list_key: &'static str,
    /// The key field of the records.
    pub id_field: &'static str,
    /// A JSON pointer to copy the key from, when TikTok nests it (spark ads).
    pub id_from: Option<&'static str>,
    /// The `secondary_status` filter value that includes deleted entities.
    pub status_all: Option<&'static str>,
    /// The incremental cursor field, when records carry one.
    pub cursor: Option<&'static str>,
    pub page_size: u32,
    /// Asked once for auction and reach & frequency (what `*/get/` lists by default) and once
    /// for TopView, which TikTok lists only when asked alone, at most 100 a page.
    pub per_buying_type: bool,
}

/// A report resource of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportDef {
    pub report_type: ReportType,
    pub level: Level,
    pub granularity: Granularity,
    pub breakdown: Breakdown,
}

/// What a row captures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `advertiser/info/` for every advertiser the token reaches.
    Advertisers,
    Entity(EntityDef),
    Report(ReportDef),
    /// `pixel/instant_page/event/` for every objective type and optimization goal.
    PixelInstantPageEvents,
    /// `pixel/event/stats/` for every pixel, over the last 30 days.
    PixelEventStats,
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct StreamDef {
    pub name: &'static str,
    pub kind: Kind,
    /// One of the 25 core resources (the streams of the earlier Airbyte-based connector; the
    /// others are extras).
    pub core: bool,
    /// Offered to sandbox configs (every row is offered in production).
    pub sandbox: bool,
    /// Discovered by Flow with `disable: true`: offered, not enabled by default. Every extra is
    /// opt-in (a new capture costs what the core resources cost until the user enables more),
    /// and so are the hourly audience reports TikTok refuses.
    pub disabled_by_default: bool,
    /// The unsuffixed name earlier versions used when `report_granularity` was set.
    pub legacy_name: Option<&'static str>,
}

const fn entity(
    name: &'static str,
    level: Level,
    endpoint: &'static str,
    status_all: &'static str,
) -> StreamDef {
    StreamDef {
        name,
        kind: Kind::Entity(EntityDef {
            endpoint,
            list_key: "list",
            id_field: level.id_field(),
            id_from: None,
            status_all: Some(status_all),
            cursor: Some("modify_time"),
            page_size: 1000,
            per_buying_type: matches!(level, Level::Campaign | Level::AdGroup | Level::Ad),
        }),
        core: true,
        sandbox: true,
        disabled_by_default: false,
        legacy_name: None,
    }
}

/// An extra list stream (creative assets, audiences, pixels, ...).
const fn list(
    name: &'static str,
    endpoint: &'static str,
    list_key: &'static str,
    id_field: &'static str,
    cursor: Option<&'static str>,
    page_size: u32,
    sandbox: bool,
) -> StreamDef {
    StreamDef {
        name,
        kind: Kind::Entity(EntityDef {
            endpoint,
            list_key,
            id_field,
            id_from: None,
            status_all: None,
            cursor,
            page_size,
            per_buying_type: false,
        }),
        core: false,
        sandbox,
        disabled_by_default: true,
        legacy_name: None,
    }
}

/// A core report row, with the unsuffixed name earlier versions used for its family.
const fn report(
    name: &'static str,
    report_type: ReportType,
    level: Level,
    granularity: Granularity,
    breakdown: Breakdown,
    legacy_name: &'static str,
) -> StreamDef {
    report_row(
        name,
        report_type,
        level,
        granularity,
        breakdown,
        Some(legacy_name),
    )
}

/// An extra report (breakdowns by country, platform, province, ...): no legacy name.
const fn extra_report(
    name: &'static str,
    report_type: ReportType,
    level: Level,
    granularity: Granularity,
    breakdown: Breakdown,
) -> StreamDef {
    report_row(name, report_type, level, granularity, breakdown, None)
}

/// The availability rules of every report row: TikTok refuses the advertiser level and the
/// basic by-country reports in sandbox, and the hour dimension in audience reports since late
/// 2022 (those rows are offered but not enabled).
const fn report_row(
    name: &'static str,
    report_type: ReportType,
    level: Level,
    granularity: Granularity,
    breakdown: Breakdown,
    legacy_name: Option<&'static str>,
) -> StreamDef {
    let basic_by_country =
        matches!(report_type, ReportType::Basic) && matches!(breakdown, Breakdown::Country);
    StreamDef {
        name,
        kind: Kind::Report(ReportDef {
            report_type,
            level,
            granularity,
            breakdown,
        }),
        core: legacy_name.is_some(),
        sandbox: !matches!(level, Level::Advertiser) && !basic_by_country,
        disabled_by_default: legacy_name.is_none()
            || (matches!(report_type, ReportType::Audience)
                && matches!(granularity, Granularity::Hour)),
        legacy_name,
    }
}

use Breakdown as B;
use Granularity as G;
use Level as L;
use ReportType as R;

/// Every resource, in discovery order: the 25 core resources, then the extra list streams and
/// the extra reports.
#[rustfmt::skip]
pub const STREAMS: &[StreamDef] = &[
    StreamDef {
        name: "advertisers",
        kind: Kind::Advertisers,
        core: true,
        sandbox: true,
        disabled_by_default: false,
        legacy_name: None,
    },
    entity(
        "campaigns",
        L::Campaign,
        "campaign/get/",
        "CAMPAIGN_STATUS_ALL",
    ),
    entity(
        "ad_groups",
        L::AdGroup,
        "adgroup/get/",
        "ADGROUP_STATUS_ALL",
    ),
    entity("ads", L::Ad, "ad/get/", "AD_STATUS_ALL"),
    report(
        "ads_reports_hourly",
        R::Basic,
        L::Ad,
        G::Hour,
        B::None,
        "ads_reports",
    ),
    report(
        "ads_reports_daily",
        R::Basic,
        L::Ad,
        G::Day,
        B::None,
        "ads_reports",
    ),
    report(
        "ads_reports_lifetime",
        R::Basic,
        L::Ad,
        G::Lifetime,
        B::None,
        "ads_reports",
    ),
    report(
        "ad_groups_reports_hourly",
        R::Basic,
        L::AdGroup,
        G::Hour,
        B::None,
        "ad_groups_reports",
    ),
    report(
        "ad_groups_reports_daily",
        R::Basic,
        L::AdGroup,
        G::Day,
        B::None,
        "ad_groups_reports",
    ),
    report(
        "ad_groups_reports_lifetime",
        R::Basic,
        L::AdGroup,
        G::Lifetime,
        B::None,
        "ad_groups_reports",
    ),
    report(
        "campaigns_reports_hourly",
        R::Basic,
        L::Campaign,
        G::Hour,
        B::None,
        "campaigns_reports",
    ),
    report(
        "campaigns_reports_daily",
        R::Basic,
        L::Campaign,
        G::Day,
        B::None,
        "campaigns_reports",
    ),
    report(
        "campaigns_reports_lifetime",
        R::Basic,
        L::Campaign,
        G::Lifetime,
        B::None,
        "campaigns_reports",
    ),
    report(
        "advertisers_reports_hourly",
        R::Basic,
        L::Advertiser,
        G::Hour,
        B::None,
        "advertisers_reports",
    ),
    report(
        "advertisers_reports_daily",
        R::Basic,
        L::Advertiser,
        G::Day,
        B::None,
        "advertisers_reports",
    ),
    report(
        "advertisers_reports_lifetime",
        R::Basic,
        L::Advertiser,
        G::Lifetime,
        B::None,
        "advertisers_reports",
    ),
    report(
        "advertisers_audience_reports_hourly",
        R::Audience,
        L::Advertiser,
        G::Hour,
        B::GenderAge,
        "advertisers_audience_reports",
    ),
    report(
        "advertisers_audience_reports_daily",
        R::Audience,
        L::Advertiser,
        G::Day,
        B::GenderAge,
        "advertisers_audience_reports",
    ),
    report(
        "advertisers_audience_reports_lifetime",
        R::Audience,
        L::Advertiser,
        G::Lifetime,
        B::GenderAge,
        "advertisers_audience_reports",
    ),
    report(
        "ad_group_audience_reports_hourly",
        R::Audience,
        L::AdGroup,
        G::Hour,
        B::GenderAge,
        "ad_group_audience_reports",
    ),
    report(
        "ad_group_audience_reports_daily",
        R::Audience,
        L::AdGroup,
        G::Day,
        B::GenderAge,
        "ad_group_audience_reports",
    ),
    report(
        "ads_audience_reports_hourly",
        R::Audience,
        L::Ad,
        G::Hour,
        B::GenderAge,
        "ads_audience_reports",
    ),
    report(
        "ads_audience_reports_daily",
        R::Audience,
        L::Ad,
        G::Day,
        B::GenderAge,
        "ads_audience_reports",
    ),
    report(
        "campaigns_audience_reports_by_country_hourly",
        R::Audience,
        L::Campaign,
        G::Hour,
        B::Country,
        "campaigns_audience_reports_by_country",
    ),
    report(
        "campaigns_audience_reports_by_country_daily",
        R::Audience,
        L::Campaign,
        G::Day,
        B::Country,
        "campaigns_audience_reports_by_country",
    ),
    // Extras: creative assets, audiences, spark ads, pixels.
    list("audiences", "dmp/custom_audience/list/", "list", "audience_id", None, 100, true),
    list("creative_assets_images", "file/image/ad/search/", "list", "image_id", Some("modify_time"), 100, true),
    list("creative_assets_videos", "file/video/ad/search/", "list", "video_id", Some("modify_time"), 100, true),
    list("creative_assets_music", "file/music/get/", "musics", "music_id", None, 100, true),
    list("creative_assets_portfolios", "creative/portfolio/list/", "creative_portfolios", "creative_portfolio_id", None, 100, true),
    StreamDef {
        name: "spark_ads",
        kind: Kind::Entity(EntityDef {
            endpoint: "tt_video/list/",
            list_key: "list",
            id_field: "spark_ads_post_id",
            id_from: Some("/item_info/item_id"),
            status_all: None,
            cursor: None,
            page_size: 50,
            per_buying_type: false,
        }),
        core: false,
        sandbox: false,
        disabled_by_default: true,
        legacy_name: None,
    },
    list("pixels", "pixel/list/", "pixels", "pixel_id", None, 20, false),
    StreamDef {
        name: "pixel_instant_page_events",
        kind: Kind::PixelInstantPageEvents,
        core: false,
        sandbox: false,
        disabled_by_default: true,
        legacy_name: None,
    },
    StreamDef {
        name: "pixel_events_statistics",
        kind: Kind::PixelEventStats,
        core: false,
        sandbox: false,
        disabled_by_default: true,
        legacy_name: None,
    },
    // Extras: basic reports by country, audience reports by country, platform and province.
    extra_report("ads_reports_by_country_hourly", R::Basic, L::Ad, G::Hour, B::Country),
    extra_report("ads_reports_by_country_daily", R::Basic, L::Ad, G::Day, B::Country),
    extra_report("ad_groups_reports_by_country_hourly", R::Basic, L::AdGroup, G::Hour, B::Country),
    extra_report("ad_groups_reports_by_country_daily", R::Basic, L::AdGroup, G::Day, B::Country),
    extra_report("campaigns_audience_reports_daily", R::Audience, L::Campaign, G::Day, B::GenderAge),
    extra_report("campaigns_audience_reports_by_platform_daily", R::Audience, L::Campaign, G::Day, B::Platform),
    extra_report("ad_group_audience_reports_by_country_daily", R::Audience, L::AdGroup, G::Day, B::Country),
    extra_report("ad_group_audience_reports_by_platform_daily", R::Audience, L::AdGroup, G::Day, B::Platform),
    extra_report("ads_audience_reports_by_country_daily", R::Audience, L::Ad, G::Day, B::Country),
    extra_report("ads_audience_reports_by_platform_daily", R::Audience, L::Ad, G::Day, B::Platform),
    extra_report("ads_audience_reports_by_province_daily", R::Audience, L::Ad, G::Day, B::Province),
    extra_report("advertisers_audience_reports_by_country_daily", R::Audience, L::Advertiser, G::Day, B::Country),
    extra_report("advertisers_audience_reports_by_platform_daily", R::Audience, L::Advertiser, G::Day, B::Platform),
];

/// A report as the capture engine runs it: a row of the table or a custom report.
#[derive(Debug, Clone, PartialEq)]
pub struct ReportSpec {
    pub report_type: ReportType,
    pub level: Level,
    pub granularity: Granularity,
    /// Every dimension in request order: the level id, the time dimension, the breakdowns.
    pub dimensions: Vec<String>,
    pub metrics: Vec<String>,
    /// Filters the user added (custom reports); the deleted-entities filter is added at request
    /// time from `include_deleted`.
    pub filtering: Vec<Value>,
}

impl ReportSpec {
    pub fn from_def(def: &ReportDef) -> Self {
        let mut dimensions = vec![def.level.id_field().to_string()];
        dimensions.extend(def.granularity.time_dimension().map(str::to_string));
        dimensions.extend(def.breakdown.dimensions().iter().map(|d| d.to_string()));
        ReportSpec {
            report_type: def.report_type,
            level: def.level,
            granularity: def.granularity,
            dimensions,
            metrics: metrics::metrics_for(
                def.report_type,
                def.level,
                def.granularity,
                def.breakdown,
            )
            .into_iter()
            .map(str::to_string)
            .collect(),
            filtering: Vec::new(),
        }
    }

    /// Whether the report's totals come from TikTok's lifetime metrics (`query_lifetime`).
    /// TikTok offers them for BASIC reports only, and refuses them with `country_code` (Basic
    /// reports, <https://business-api.tiktok.com/portal/docs?id=1738864915188737>; audience
    /// reports have no lifetime metrics in v1.3,
    /// <https://business-api.tiktok.com/portal/docs?id=1738864928947201>). Other reports without
    /// a time dimension are totals over the [`TOTALS_DAYS`] days ending today.
    pub fn uses_query_lifetime(&self) -> bool {
        self.granularity == Granularity::Lifetime
            && self.report_type == ReportType::Basic
            && !self.dimensions.iter().any(|d| d == "country_code")
    }
}

/// The longest range TikTok accepts for a report without a time dimension (365 days, both ends
/// included): what totals that cannot be lifetime totals cover, ending today.
pub const TOTALS_DAYS: u64 = 365;

/// What a runnable stream captures.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamSpec {
    Advertisers,
    Entity(EntityDef),
    Report(ReportSpec),
    PixelInstantPageEvents,
    PixelEventStats,
}

/// A stream resolved against a config: what discovery offers and what the engine runs.
#[derive(Debug, Clone)]
pub struct Stream {
    /// The name the user sees (and the resource config carries).
    pub name: String,
    pub spec: StreamSpec,
    /// The key, as top-level field names.
    pub key: Vec<String>,
    /// The cursor field, when the stream is incremental.
    pub cursor: Option<String>,
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
            _ => None,
        }
    }

    fn from_def(def: &StreamDef, name: &str) -> Self {
        let (spec, key, cursor) = match def.kind {
            Kind::Advertisers => (StreamSpec::Advertisers, vec!["advertiser_id".into()], None),
            Kind::Entity(e) => (
                StreamSpec::Entity(e),
                vec![e.id_field.to_string()],
                e.cursor.map(str::to_string),
            ),
            Kind::PixelInstantPageEvents => (
                StreamSpec::PixelInstantPageEvents,
                [
                    "advertiser_id",
                    "objective_type",
                    "optimization_goal",
                    "event_type",
                ]
                .map(String::from)
                .to_vec(),
                None,
            ),
            Kind::PixelEventStats => (
                StreamSpec::PixelEventStats,
                ["advertiser_id", "pixel_id", "event"]
                    .map(String::from)
                    .to_vec(),
                None,
            ),
            Kind::Report(r) => {
                let spec = ReportSpec::from_def(&r);
                let (key, cursor) = report_key(&spec);
                (StreamSpec::Report(spec), key, cursor)
            }
        };
        let schema = schema::for_stream(def.name, &spec);
        Stream {
            name: name.to_string(),
            spec,
            key,
            cursor,
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

fn custom_stream(report: &crate::config::CustomReport) -> Stream {
    let spec = report.spec.clone();
    let (mut key, cursor) = report_key(&spec);
    // A custom report's key is its dimensions plus the advertiser, whatever they are.
    if !key.iter().any(|k| k == "advertiser_id") {
        key.push("advertiser_id".to_string());
    }
    let name = report.stream_name();
    let schema = schema::for_stream(&name, &StreamSpec::Report(spec.clone()));
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
pub fn catalog(config: &Config) -> Vec<Stream> {
    let sandbox = config.is_sandbox();
    let mut out = Vec::new();
    match config.report_granularity {
        None => {
            for def in STREAMS.iter().filter(|d| d.sandbox || !sandbox) {
                out.push(Stream::from_def(def, def.name));
            }
        }
        Some(granularity) => {
            for def in STREAMS.iter().filter(|d| d.sandbox || !sandbox) {
                match def.legacy_name {
                    None => out.push(Stream::from_def(def, def.name)),
                    Some(legacy) => {
                        let Kind::Report(r) = def.kind else { continue };
                        if r.granularity == granularity {
                            out.push(Stream::from_def(def, legacy));
                        }
                    }
                }
            }
        }
    }
    out.extend(config.custom_reports.iter().map(custom_stream));
    out
}

/// Resolves any known stream name (suffixed, legacy or custom) against a config, or says why it
/// cannot be captured with it.
pub fn resolve(name: &str, config: &Config) -> Result<Stream> {
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
        return Ok(Stream::from_def(def, name));
    }
    if legacy_family(name) {
        let granularity = config.report_granularity.unwrap_or(Granularity::Day);
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
        return Ok(Stream::from_def(def, name));
    }
    if let Some(report) = config
        .custom_reports
        .iter()
        .find(|r| r.stream_name() == name)
    {
        if sandbox && report.spec.level == Level::Advertiser {
            return Err(Error::config(format!(
                "Custom report {name:?} is at AUCTION_ADVERTISER, which the TikTok sandbox \
                 refuses. Use production credentials or another data level."
            )));
        }
        return Ok(custom_stream(report));
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

    fn config(credentials: Value, granularity: Option<&str>) -> Config {
        let mut raw = json!({ "credentials": credentials });
        if let Some(g) = granularity {
            raw["report_granularity"] = json!(g);
        }
        crate::config::parse(&raw).unwrap()
    }

    fn production(granularity: Option<&str>) -> Config {
        config(
            json!({"auth_type": "oauth2.0", "client_id": "a", "client_secret": "b", "access_token": "t"}),
            granularity,
        )
    }

    fn sandbox(granularity: Option<&str>) -> Config {
        config(
            json!({"auth_type": "sandbox_access_token", "advertiser_id": "7", "access_token": "t"}),
            granularity,
        )
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
                Kind::Entity(e) => matches!(e.endpoint, "tt_video/list/" | "pixel/list/"),
                Kind::PixelInstantPageEvents | Kind::PixelEventStats => true,
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

    #[test]
    fn report_granularity_offers_the_legacy_names() {
        let names = |c: &Config| catalog(c).into_iter().map(|s| s.name).collect::<Vec<_>>();
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
        let raw = json!({"credentials": {"auth_type": "oauth2.0", "client_id": "a",
            "client_secret": "b", "access_token": "t"},
            "custom_reports": [{"name": "by_country", "report_type": "BASIC",
                "data_level": "AUCTION_CAMPAIGN", "dimensions": ["campaign_id", "country_code"],
                "metrics": ["spend", "my_new_metric"]}]});
        let config = crate::config::parse(&raw).unwrap();
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
