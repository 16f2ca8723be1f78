//! What a row of the catalog says: the page section ([`Group`]), the value type, the source
//! page, the restrictions TikTok states ([`Rule`] and its named constants, each quoting TikTok),
//! the [`Metric`] itself and `m!`, the macro a row is written with. A leaf: the rows and the
//! catalog's lookups import it, and it imports only the report vocabulary of `metrics`.

use crate::registry::metrics::{Granularity, Level, MetricType, ReportType};

/// The section of TikTok's Metrics page a metric is listed in (the page's current grouping:
/// attribute, core, interaction and conversion sections, attribution).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Group {
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
    /// TikTok's "TikTok metrics": events on TikTok itself (instant pages, forms, onsite events).
    Onsite,
    NativeGrowth,
    Offline,
    Messaging,
    Shop,
    Attribution,
}

impl Group {
    /// Every group, in the order of TikTok's page.
    #[cfg(test)] // The tests check the catalog's groups against this list.
    pub(crate) const ALL: [Group; 20] = [
        Group::Attribute,
        Group::Core,
        Group::Video,
        Group::Clicks,
        Group::Social,
        Group::Live,
        Group::Playable,
        Group::Image,
        Group::InteractiveAddOns,
        Group::InstantExperience,
        Group::Product,
        Group::App,
        Group::Skan,
        Group::Website,
        Group::Onsite,
        Group::NativeGrowth,
        Group::Offline,
        Group::Messaging,
        Group::Shop,
        Group::Attribution,
    ];

    /// The section title on TikTok's Metrics page.
    #[cfg(test)] // For `Metric::citation`.
    pub(crate) fn section(self) -> &'static str {
        match self {
            Group::Attribute => "Attribute metrics",
            Group::Core => "Core metrics",
            Group::Video => "Interaction metrics > Videos metrics",
            Group::Clicks => "Interaction metrics > Clicks metrics",
            Group::Social => "Interaction metrics > Social metrics",
            Group::Live => "Interaction metrics > LIVE metrics",
            Group::Playable => "Interaction metrics > Playable metrics",
            Group::Image => "Interaction metrics > Image metrics",
            Group::InteractiveAddOns => "Interaction metrics > Interactive add-ons metrics",
            Group::InstantExperience => "Interaction metrics > Instant experience metrics",
            Group::Product => "Interaction metrics > Product metrics",
            Group::App => "Conversions metrics > App metrics",
            Group::Skan => "Conversions metrics > App metrics (SKAN)",
            Group::Website => "Conversions metrics > Website metrics",
            Group::Onsite => "Conversions metrics > TikTok metrics",
            Group::NativeGrowth => "Conversions metrics > Native Growth metrics",
            Group::Offline => "Conversions metrics > Offline metrics",
            Group::Messaging => "Conversions metrics > Messaging metrics",
            Group::Shop => "Conversions metrics > Shop metrics",
            Group::Attribution => "Attribution metrics",
        }
    }
}

/// What a metric's value is. Money, counts, rates and averages are JSON numbers in records;
/// ids are exact integers; text is a string.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ValueType {
    /// An amount in the ad account's currency: spend, costs per event, event values, budgets.
    Money,
    /// A number of events, impressions or people.
    Count,
    /// A percentage or a ratio of two figures (rates, ROAS).
    Rate,
    /// An average that is neither money nor a rate (seconds watched, impressions per person).
    Average,
    /// A numeric TikTok id (the level ids, the promoted app's id).
    Id,
    /// Names, settings and other text, ids that are not numbers (an app store id, a video id)
    /// and TikTok's yes/no and time attributes, which arrive as text.
    Text,
}

impl ValueType {
    /// The JSON type records and schemas give the metric.
    pub(crate) fn json_type(self) -> MetricType {
        match self {
            ValueType::Money | ValueType::Count | ValueType::Rate | ValueType::Average => {
                MetricType::Number
            }
            ValueType::Id => MetricType::Id,
            ValueType::Text => MetricType::Text,
        }
    }
}

/// The TikTok page a row comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[expect(
    clippy::enum_variant_names,
    reason = "each variant is a page of TikTok's"
)]
pub(crate) enum Source {
    /// TikTok's Metrics page.
    MetricsPage,
    /// A name TikTok's Metrics page listed in its earlier editions and no longer does; TikTok
    /// still answers it for old integrations.
    LegacyMetricsPage,
    /// TikTok's metrics page for Upgraded Smart+ creative reports, which lists these report
    /// metrics under the same sections and names.
    SmartPlusPage,
    /// TikTok's synchronous report page (its list of the fields a report returns).
    SyncReportPage,
    /// TikTok's page of metrics supported for Promote ads.
    PromotePage,
}

impl Source {
    /// The page, as a reader finds it.
    #[cfg(test)] // For `Metric::citation`.
    pub(crate) fn page(self) -> &'static str {
        match self {
            Source::MetricsPage => "TikTok's Metrics page (portal doc 1751443967255553)",
            Source::LegacyMetricsPage => {
                "TikTok's Metrics page (portal doc 1751443967255553), earlier editions"
            }
            Source::SmartPlusPage => {
                "TikTok's metrics of Upgraded Smart+ creative reports (portal doc 1843337909199938)"
            }
            Source::SyncReportPage => {
                "TikTok's synchronous report page (portal doc 1740302848100353)"
            }
            Source::PromotePage => "TikTok's Promote ads report page (portal doc 1785880454546433)",
        }
    }
}

/// Which dimensions TikTok accepts beside a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dimensions {
    /// Whatever the report type accepts.
    Any,
    /// One id dimension, alone or with `stat_time_day` (no breakdown, no hour).
    IdAndDay,
    /// Only `image_id`, a dimension of carousel images that reports of this connector do not use.
    ImageId,
}

/// The restrictions TikTok states for a metric, and where it states them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rule {
    pub(crate) levels: &'static [Level],
    pub(crate) report_types: &'static [ReportType],
    pub(crate) granularities: &'static [Granularity],
    pub(crate) dimensions: Dimensions,
    /// What TikTok says, and where; empty when it states no restriction.
    pub(crate) stated: &'static str,
}

const ALL_LEVELS: &[Level] = &[
    Level::Advertiser,
    Level::Campaign,
    Level::AdGroup,
    Level::Ad,
];
const BOTH_TYPES: &[ReportType] = &[ReportType::Basic, ReportType::Audience];
const ALL_GRANULARITIES: &[Granularity] =
    &[Granularity::Hour, Granularity::Day, Granularity::Lifetime];

/// No restriction stated.
pub(crate) const ANY: Rule = Rule {
    levels: ALL_LEVELS,
    report_types: BOTH_TYPES,
    granularities: ALL_GRANULARITIES,
    dimensions: Dimensions::Any,
    stated: "",
};

/// Campaign attributes (name, objective, budget, ...).
pub(super) const FROM_CAMPAIGN: Rule = Rule {
    levels: &[Level::Campaign, Level::AdGroup, Level::Ad],
    stated: "supported at the campaign, ad group and ad levels (TikTok's Metrics page, portal \
             doc 1751443967255553, §Attribute metrics)",
    ..ANY
};

/// Ad group attributes, and the campaign id as a metric.
pub(super) const FROM_ADGROUP: Rule = Rule {
    levels: &[Level::AdGroup, Level::Ad],
    stated: "supported at the ad group and ad levels (TikTok's Metrics page, portal doc \
             1751443967255553, §Attribute metrics)",
    ..ANY
};

/// `is_aco`.
pub(super) const ADGROUP_ONLY: Rule = Rule {
    levels: &[Level::AdGroup],
    stated: "supported at the AUCTION_ADGROUP level (TikTok's Metrics page, portal doc \
             1751443967255553, §Attribute metrics)",
    ..ANY
};

/// Ad attributes, and the ad group id as a metric.
pub(super) const AD_ONLY: Rule = Rule {
    levels: &[Level::Ad],
    stated: "supported at the ad level only (TikTok's Metrics page, portal doc \
             1751443967255553, §Attribute metrics)",
    ..ANY
};

/// `cash_spend` and `voucher_spend`.
pub(super) const ADVERTISER_DAILY: Rule = Rule {
    levels: &[Level::Advertiser],
    report_types: &[ReportType::Basic],
    granularities: &[Granularity::Day],
    dimensions: Dimensions::Any,
    stated: "supported only in advertiser-level reports by day (stat_time_day): not hourly, not \
             lifetime (TikTok's Metrics page, portal doc 1751443967255553, §Core metrics)",
};

/// `billed_cost`.
pub(super) const BASIC_ONLY: Rule = Rule {
    report_types: &[ReportType::Basic],
    stated: "supported only in synchronous BASIC reports (TikTok's Metrics page, portal doc \
             1751443967255553, §Core metrics)",
    ..ANY
};

/// Paid focused views and the consideration audience.
pub(super) const ID_AND_DAY: Rule = Rule {
    report_types: &[ReportType::Basic],
    granularities: &[Granularity::Day, Granularity::Lifetime],
    dimensions: Dimensions::IdAndDay,
    stated: "usable only with one id dimension, alone or with stat_time_day (TikTok's Metrics \
             page, portal doc 1751443967255553, the metric's note)",
    ..ANY
};

/// Single-image metrics of carousel ads.
pub(super) const IMAGE_ID: Rule = Rule {
    dimensions: Dimensions::ImageId,
    stated: "supported only with the image_id dimension (TikTok's Metrics page, portal doc \
             1751443967255553, §Interaction metrics > Image metrics)",
    ..ANY
};

/// One documented metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Metric {
    pub(crate) name: &'static str,
    pub(crate) group: Group,
    pub(crate) value_type: ValueType,
    /// Whether summing it over rows (ads, breakdowns) and days gives the total: true for
    /// money totals and event counts; false for rates, averages, costs per event, unique
    /// counts (reach, deduplicated events), settings and attributes.
    pub(crate) additive: bool,
    pub(crate) rule: &'static Rule,
    pub(crate) source: Source,
}

impl Metric {
    /// Where TikTok documents the metric: the page and its section.
    #[cfg(test)] // The tests check every metric cites its page.
    pub(crate) fn citation(&self) -> String {
        format!("{}, §{}", self.source.page(), self.group.section())
    }
}

/// A row of `rows/`.
macro_rules! m {
    ($name:literal, $group:ident, $value:ident, $additive:literal, $rule:ident, $source:ident) => {
        $crate::registry::metric_catalog::row::Metric {
            name: $name,
            group: $crate::registry::metric_catalog::row::Group::$group,
            value_type: $crate::registry::metric_catalog::row::ValueType::$value,
            additive: $additive,
            rule: &$rule,
            source: $crate::registry::metric_catalog::row::Source::$source,
        }
    };
}
pub(super) use m;
