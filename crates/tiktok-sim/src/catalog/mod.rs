//! What the simulated API knows of TikTok's report metrics: every name TikTok's Metrics page
//! (portal doc 1751443967255553) documents, the section it is listed in (`page.rs`), how TikTok
//! types it on the wire, and the restrictions TikTok states for it (`rules.rs`: levels, report
//! types, hourly and lifetime, dimensions), so that a query naming an undocumented or
//! unsupported metric gets TikTok's 40002. Written from TikTok's own pages, never from the
//! connector's tables (a test reads both crates' sources and fails if they share one), so a
//! misunderstanding of the connector cannot pass its tests by being echoed back. Other pages:
//! - Basic reports: <https://business-api.tiktok.com/portal/docs?id=1738864915188737>
//! - Audience reports: <https://business-api.tiktok.com/portal/docs?id=1738864928947201>
//! - Run a synchronous report (`report/integrated/get/`):
//!   <https://business-api.tiktok.com/portal/docs?id=1740302848100353>

mod page;
mod rules;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::OnceLock;

pub use rules::Refusal;

/// How a metric (or a dimension) is typed in records and schemas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricType {
    /// Money, counts and rates: a JSON number with TikTok's decimal digits kept.
    Number,
    /// An entity id: an exact 64-bit integer.
    Id,
    /// Names and free text: a string.
    Text,
}

/// The sections of TikTok's Metrics page, in the page's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Section {
    Attribute,
    Core,
    Video,
    Clicks,
    Social,
    Live,
    Playable,
    Image,
    InteractiveAddOns,
    InstantExperience,
    Product,
    App,
    Skan,
    Website,
    /// "TikTok metrics": events that happen on TikTok itself (instant pages, forms, onsite
    /// purchases).
    TikTokEvents,
    NativeGrowth,
    Offline,
    Messaging,
    Shop,
    Attribution,
}

impl Section {
    /// The section's title on TikTok's Metrics page, as a citation.
    pub fn title(self) -> &'static str {
        match self {
            Section::Attribute => "Attribute metrics",
            Section::Core => "Core metrics",
            Section::Video => "Interaction metrics > Videos metrics",
            Section::Clicks => "Interaction metrics > Clicks metrics",
            Section::Social => "Interaction metrics > Social metrics",
            Section::Live => "Interaction metrics > LIVE metrics",
            Section::Playable => "Interaction metrics > Playable metrics",
            Section::Image => "Interaction metrics > Image metrics",
            Section::InteractiveAddOns => "Interaction metrics > Interactive add-ons metrics",
            Section::InstantExperience => "Interaction metrics > Instant experience metrics",
            Section::Product => "Interaction metrics > Product metrics",
            Section::App => "Conversions metrics > App metrics",
            Section::Skan => "Conversions metrics > App metrics (SKAN)",
            Section::Website => "Conversions metrics > Website metrics",
            Section::TikTokEvents => "Conversions metrics > TikTok metrics",
            Section::NativeGrowth => "Conversions metrics > Native Growth metrics",
            Section::Offline => "Conversions metrics > Offline metrics",
            Section::Messaging => "Conversions metrics > Messaging metrics",
            Section::Shop => "Conversions metrics > Shop metrics",
            Section::Attribution => "Attribution metrics",
        }
    }

    /// The funnel whose events the section counts, if its figures exist only for advertisers
    /// that run that funnel (see [`Funnel`]); `None` for delivery, video, engagement and
    /// attribution figures, which every delivering ad has.
    pub fn funnel(self) -> Option<Funnel> {
        match self {
            Section::App | Section::Skan | Section::NativeGrowth => Some(Funnel::App),
            Section::Website => Some(Funnel::Website),
            Section::Shop => Some(Funnel::Shop),
            Section::Offline => Some(Funnel::Offline),
            Section::Messaging => Some(Funnel::Messaging),
            _ => None,
        }
    }
}

/// A conversion funnel an ad group runs, which decides which conversion sections of a report
/// carry figures for it (zero elsewhere): what it promotes and where its events are measured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Funnel {
    /// An app (`promotion_type` APP_*): app events, SKAN, Native Growth.
    App,
    /// A website with a pixel: page views, add to cart, checkout, complete payment.
    Website,
    /// TikTok Shop: product page views, add to cart, checkout, payments in the Shop.
    Shop,
    /// Offline events (CRM, stores) uploaded by lead generation advertisers.
    Offline,
    /// Conversations in TikTok direct messages or messaging apps.
    Messaging,
}

impl Funnel {
    /// The funnel's bit in a [`Funnels`] set.
    pub const fn bit(self) -> u8 {
        1 << self as u8
    }
}

/// A set of [`Funnel`]s, as bits.
pub type Funnels = u8;

/// Metrics TikTok sends as text (names, settings, enums, yes/no and time attributes), per
/// the value types of the Metrics page's §Attribute metrics and the synchronous report page.
const TEXT_METRICS: &[&str] = &[
    "advertiser_name",
    "campaign_automation_type",
    "campaign_name",
    "objective_type",
    "split_test",
    "campaign_dedicate_type",
    "app_promotion_type",
    "adgroup_name",
    "video_id",
    "file_name",
    "is_removed_from_spc",
    "identity_id",
    "tiktok_item_id",
    "tiktok_name",
    "catalog_name",
    "catalog_modify_time",
    "placement_type",
    "promotion_type",
    "opt_status",
    "adgroup_download_url",
    "profile_image",
    "dpa_target_audience_type",
    "smart_target",
    "pricing_category",
    "billing_event",
    "bid_strategy",
    "aeo_type",
    "ad_name",
    "ad_text",
    "call_to_action",
    "ad_profile_image",
    "ad_url",
    "tt_app_name",
    "mobile_app_id",
    "image_mode",
    "currency",
    "is_aco",
    "is_smart_creative",
    "image_info",
    "ad_display_name",
    "identity_type",
];

/// The id fields of TikTok's four levels: entity keys, id dimensions and id metrics, emitted as
/// exact integers wherever they appear.
pub const ID_FIELDS: [&str; 4] = [
    Level::Advertiser.id_field(),
    Level::Campaign.id_field(),
    Level::AdGroup.id_field(),
    Level::Ad.id_field(),
];

/// Metrics that carry an id beyond the level ids: the promoted app, the ad id of Smart+ ads.
const OTHER_ID_METRICS: &[&str] = &["tt_app_id", "ad_id_v2"];

/// The section of every documented name.
fn sections() -> &'static HashMap<&'static str, Section> {
    static INDEX: OnceLock<HashMap<&'static str, Section>> = OnceLock::new();
    INDEX.get_or_init(|| {
        page::PAGE
            .iter()
            .flat_map(|s| s.names.iter().map(move |n| (*n, s.section)))
            .collect()
    })
}

/// The section of TikTok's Metrics page that lists `name`, if TikTok documents it.
pub fn section_of(name: &str) -> Option<Section> {
    sections().get(name).copied()
}

/// The type of a metric by name; `None` for a name TikTok does not document.
pub fn metric_type(name: &str) -> Option<MetricType> {
    section_of(name)?;
    Some(if TEXT_METRICS.contains(&name) {
        MetricType::Text
    } else if ID_FIELDS.contains(&name) || OTHER_ID_METRICS.contains(&name) {
        MetricType::Id
    } else {
        MetricType::Number
    })
}

/// Where TikTok documents a metric: the page, and the Metrics page's section of its events.
pub fn citation(name: &str) -> Option<String> {
    let section = section_of(name)?.title();
    let page = page::OTHER_PAGES.iter().find(|(n, _)| *n == name).map_or(
        "TikTok's Metrics page (portal doc 1751443967255553)",
        |(_, p)| p,
    );
    Some(format!("{page}; §{section}"))
}

/// Every documented name, in the page's order.
pub fn documented() -> impl Iterator<Item = &'static str> {
    page::PAGE.iter().flat_map(|s| s.names.iter().copied())
}

/// The report a metric is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportShape {
    pub report_type: ReportType,
    pub level: Level,
    pub granularity: Granularity,
    /// Whether the query has a dimension beside one id and the time (a breakdown).
    pub breakdown: bool,
}

/// Whether TikTok serves `metric` in a report of this shape: `Ok` or why not.
pub fn check_metric(metric: &str, shape: ReportShape) -> Result<(), Refusal> {
    if section_of(metric).is_none() {
        return Err(Refusal::Undocumented);
    }
    rules::check(metric, shape)
}

/// A wide request for tests and benchmarks: every metric of the attribute, core, video,
/// clicks and social sections TikTok serves in a report of this shape (about 120 names).
pub fn sample_metrics(
    report_type: ReportType,
    level: Level,
    granularity: Granularity,
    breakdown: Breakdown,
) -> Vec<&'static str> {
    let shape = ReportShape {
        report_type,
        level,
        granularity,
        breakdown: breakdown != Breakdown::None,
    };
    page::PAGE
        .iter()
        .filter(|s| {
            matches!(
                s.section,
                Section::Attribute
                    | Section::Core
                    | Section::Video
                    | Section::Clicks
                    | Section::Social
            )
        })
        .flat_map(|s| s.names.iter().copied())
        .filter(|m| check_metric(m, shape).is_ok())
        .collect()
}

/// Report type, as TikTok's `report_type` parameter names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReportType {
    Basic,
    Audience,
}

impl ReportType {
    pub fn as_api(self) -> &'static str {
        match self {
            ReportType::Basic => "BASIC",
            ReportType::Audience => "AUDIENCE",
        }
    }

    /// The report type a `report_type` parameter names, if TikTok knows it.
    pub fn from_api(value: &str) -> Option<ReportType> {
        [ReportType::Basic, ReportType::Audience]
            .into_iter()
            .find(|r| r.as_api() == value)
    }
}

/// The level a report or entity stream is at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    Advertiser,
    Campaign,
    AdGroup,
    Ad,
}

/// TikTok's names for one report level: the `data_level` value of a synchronous report
/// (`report/integrated/get/`, doc 1740302848100353), the id dimension of its rows (Basic
/// reports, doc 1738864915188737: "dimensions" per data level), and the `filtering` field of
/// that level's status, through which deleted entities are asked (none at advertiser level).
struct LevelNames {
    level: Level,
    data_level: &'static str,
    id_dimension: &'static str,
    status_filter: Option<&'static str>,
}

/// One row per level, in the order of [`Level`].
const LEVELS: [LevelNames; 4] = [
    LevelNames {
        level: Level::Advertiser,
        data_level: "AUCTION_ADVERTISER",
        id_dimension: "advertiser_id",
        status_filter: None,
    },
    LevelNames {
        level: Level::Campaign,
        data_level: "AUCTION_CAMPAIGN",
        id_dimension: "campaign_id",
        status_filter: Some("campaign_status"),
    },
    LevelNames {
        level: Level::AdGroup,
        data_level: "AUCTION_ADGROUP",
        id_dimension: "adgroup_id",
        status_filter: Some("adgroup_status"),
    },
    LevelNames {
        level: Level::Ad,
        data_level: "AUCTION_AD",
        id_dimension: "ad_id",
        status_filter: Some("ad_status"),
    },
];

impl Level {
    const fn names(self) -> &'static LevelNames {
        &LEVELS[self as usize]
    }

    /// TikTok's `data_level` value.
    pub fn data_level(self) -> &'static str {
        self.names().data_level
    }

    /// The id dimension of rows at this level.
    pub const fn id_field(self) -> &'static str {
        self.names().id_dimension
    }

    /// The `filtering` field that asks a report at this level for deleted entities too.
    pub fn status_filter_field(self) -> Option<&'static str> {
        self.names().status_filter
    }

    pub fn from_data_level(value: &str) -> Option<Level> {
        LEVELS
            .iter()
            .find(|names| names.data_level == value)
            .map(|names| names.level)
    }
}

/// Report time granularity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Granularity {
    Hour,
    Day,
    Lifetime,
}

impl Granularity {
    /// The time dimension of rows at this granularity; lifetime rows have none.
    pub fn time_dimension(self) -> Option<&'static str> {
        match self {
            Granularity::Hour => Some("stat_time_hour"),
            Granularity::Day => Some("stat_time_day"),
            Granularity::Lifetime => None,
        }
    }
}

/// Which breakdown a report carries beside its id and time dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Breakdown {
    None,
    GenderAge,
    Country,
    Platform,
    Province,
}

impl Breakdown {
    pub fn dimensions(self) -> &'static [&'static str] {
        match self {
            Breakdown::None => &[],
            Breakdown::GenderAge => &["gender", "age"],
            Breakdown::Country => &["country_code"],
            Breakdown::Platform => &["platform"],
            Breakdown::Province => &["province_id"],
        }
    }
}
