//! The metrics each report stream requests, per report type, level and granularity, in TikTok's
//! request order, and the enums that describe a report (type, level, granularity, breakdown).
//! A metric's type comes from the metric catalog ([`super::metric_catalog::metric_type`]).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How a metric (or a dimension) is typed in records and schemas.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum MetricType {
    /// Money, counts and rates: a JSON number with TikTok's decimal digits kept.
    Number,
    /// An entity id: an exact 64-bit integer.
    Id,
    /// Names and free text: a string.
    Text,
}

/// The id fields of TikTok's four levels: entity keys, id dimensions and id metrics, emitted as
/// exact integers wherever they appear.
pub(crate) const ID_FIELDS: [&str; 4] = [
    Level::Advertiser.id_field(),
    Level::Campaign.id_field(),
    Level::AdGroup.id_field(),
    Level::Ad.id_field(),
];

/// BASIC report base list, appended after the level list.
pub(crate) const M_BASE: &[&str] = &[
    "spend",
    "cpc",
    "cpm",
    "impressions",
    "clicks",
    "ctr",
    "reach",
    "cost_per_1000_reached",
    "frequency",
    "video_play_actions",
    "video_watched_2s",
    "video_watched_6s",
    "average_video_play",
    "average_video_play_per_user",
    "video_views_p25",
    "video_views_p50",
    "video_views_p75",
    "video_views_p100",
    "profile_visits",
    "likes",
    "comments",
    "shares",
    "follows",
    "clicks_on_music_disc",
    "real_time_app_install",
    "real_time_app_install_cost",
    "app_install",
];

/// AUDIENCE report base list.
pub(crate) const M_AUD: &[&str] = &["spend", "cpc", "cpm", "impressions", "clicks", "ctr"];

/// Advertiser level, daily only: TikTok refuses these at hour and lifetime granularity.
pub(crate) const L_ADV_DAY: &[&str] = &["cash_spend", "voucher_spend"];

/// Campaign level.
pub(crate) const L_CAMP: &[&str] = &["campaign_name"];

/// Ad group level (BASIC).
pub(crate) const L_ADGROUP: &[&str] = &[
    "campaign_name",
    "campaign_id",
    "adgroup_name",
    "placement_type",
    "tt_app_id",
    "tt_app_name",
    "mobile_app_id",
    "promotion_type",
    "dpa_target_audience_type",
    "conversion",
    "cost_per_conversion",
    "conversion_rate",
    "real_time_conversion",
    "real_time_cost_per_conversion",
    "real_time_conversion_rate",
    "result",
    "cost_per_result",
    "result_rate",
    "real_time_result",
    "real_time_cost_per_result",
    "real_time_result_rate",
    "secondary_goal_result",
    "cost_per_secondary_goal_result",
    "secondary_goal_result_rate",
];

/// The conversion and result metrics the ad group and ad levels ask (part of [`L_ADGROUP`]), which
/// the campaign level asks too: without them campaign-level conversion reporting is impossible.
const CONVERSIONS: &[&str] = &[
    "conversion",
    "cost_per_conversion",
    "conversion_rate",
    "real_time_conversion",
    "real_time_cost_per_conversion",
    "real_time_conversion_rate",
    "result",
    "cost_per_result",
    "result_rate",
    "real_time_result",
    "real_time_cost_per_result",
    "real_time_result_rate",
    "secondary_goal_result",
    "cost_per_secondary_goal_result",
    "secondary_goal_result_rate",
];

/// The core of TikTok's website and Shop funnel, as Ads Manager shows it: page views, add to
/// cart, checkout and complete payment with their total values, the complete-payment ROAS, and
/// onsite shopping (TikTok Shop purchases) with its value and ROAS. The campaign, ad group and ad
/// levels ask them after their other metrics (the ad level already asks some; a metric is asked
/// once), where the metric catalog says TikTok serves them
/// ([`super::report_options::requested_metrics`] leaves out the others). Names from TikTok's Metrics page,
/// §Conversions metrics > Website metrics and > Shop metrics (portal doc 1751443967255553).
pub(crate) const FUNNEL: &[&str] = &[
    "total_pageview",
    "total_value_per_pageview",
    "web_event_add_to_cart",
    "total_web_event_add_to_cart_value",
    "initiate_checkout",
    "total_initiate_checkout_value",
    "complete_payment",
    // TikTok's name for the total value of complete payments (a money total, not a rate).
    "total_complete_payment_rate",
    "complete_payment_roas",
    "onsite_shopping",
    "total_onsite_shopping_value",
    "onsite_shopping_roas",
];

/// What the ad level adds to [`L_ADGROUP`] (BASIC).
const L_AD_EXTRA: &[&str] = &[
    "adgroup_id",
    "ad_name",
    "ad_text",
    "total_purchase_value",
    "total_onsite_shopping_value",
    "onsite_shopping",
    "vta_purchase",
    "vta_conversion",
    "cta_purchase",
    "cta_conversion",
    "total_pageview",
    "complete_payment",
    "value_per_complete_payment",
    "total_complete_payment_rate",
    "profile_visits_rate",
    "purchase",
    "purchase_rate",
    "registration",
    "registration_rate",
    "sales_lead",
    "sales_lead_rate",
    "cost_per_app_install",
    "cost_per_purchase",
    "cost_per_registration",
    "cost_per_sales_lead",
    "cost_per_total_sales_lead",
    "cost_per_total_app_event_add_to_cart",
    "total_app_event_add_to_cart",
];

/// What the ad level adds to the ad group audience list.
const L_AD_AUD_EXTRA: &[&str] = &["adgroup_id", "ad_name", "ad_text"];

/// The three `secondary_goal_*` metrics that audience reports do not offer.
const SECONDARY_GOAL: &[&str] = &[
    "secondary_goal_result",
    "cost_per_secondary_goal_result",
    "secondary_goal_result_rate",
];

/// Metrics the ad-level by-country BASIC report does not offer.
pub(crate) const NOT_BY_COUNTRY: &[&str] = &["purchase", "purchase_rate", "cost_per_purchase"];

/// Report type, as TikTok's `report_type` parameter names it (and custom reports in the config).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
pub enum ReportType {
    #[serde(rename = "BASIC")]
    Basic,
    #[serde(rename = "AUDIENCE")]
    Audience,
}

impl ReportType {
    pub fn as_api(self) -> &'static str {
        match self {
            ReportType::Basic => "BASIC",
            ReportType::Audience => "AUDIENCE",
        }
    }
}

/// The level a report or entity stream is at; serialized as TikTok's `data_level` value.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum Level {
    #[serde(rename = "AUCTION_ADVERTISER")]
    Advertiser,
    #[serde(rename = "AUCTION_CAMPAIGN")]
    Campaign,
    #[serde(rename = "AUCTION_ADGROUP")]
    AdGroup,
    #[serde(rename = "AUCTION_AD")]
    Ad,
}

impl Level {
    /// TikTok's `data_level` value.
    pub fn data_level(self) -> &'static str {
        match self {
            Level::Advertiser => "AUCTION_ADVERTISER",
            Level::Campaign => "AUCTION_CAMPAIGN",
            Level::AdGroup => "AUCTION_ADGROUP",
            Level::Ad => "AUCTION_AD",
        }
    }

    /// The id dimension of rows at this level.
    pub const fn id_field(self) -> &'static str {
        self.id_key()[0]
    }

    /// The key of entities at this level: their id field alone.
    pub(crate) const fn id_key(self) -> &'static [&'static str] {
        match self {
            Level::Advertiser => &["advertiser_id"],
            Level::Campaign => &["campaign_id"],
            Level::AdGroup => &["adgroup_id"],
            Level::Ad => &["ad_id"],
        }
    }

    /// The `filtering` field that asks a report at this level for deleted entities too.
    /// The advertiser level has none: an advertiser is never deleted from its own reports.
    pub(crate) fn status_filter_field(self) -> Option<&'static str> {
        match self {
            Level::Advertiser => None,
            Level::Campaign => Some("campaign_status"),
            Level::AdGroup => Some("adgroup_status"),
            Level::Ad => Some("ad_status"),
        }
    }
}

/// Report time granularity; serialized as the config value of `report_granularity`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum Granularity {
    #[serde(rename = "DAY")]
    Day,
    #[serde(rename = "HOUR")]
    Hour,
    #[serde(rename = "LIFETIME")]
    Lifetime,
}

impl Granularity {
    /// The time dimension of rows at this granularity; lifetime rows have none.
    pub(crate) const fn time_dimension(self) -> Option<&'static str> {
        match self {
            Granularity::Hour => Some("stat_time_hour"),
            Granularity::Day => Some("stat_time_day"),
            Granularity::Lifetime => None,
        }
    }

    /// The suffix of suffixed stream names (`_hourly`, `_daily`, `_lifetime`).
    #[cfg(test)] // The tests check stream names against their granularity.
    pub(crate) fn suffix(self) -> &'static str {
        match self {
            Granularity::Hour => "_hourly",
            Granularity::Day => "_daily",
            Granularity::Lifetime => "_lifetime",
        }
    }

    /// The config value (`HOUR`, `DAY`, `LIFETIME`).
    pub(crate) fn as_config(self) -> &'static str {
        match self {
            Granularity::Hour => "HOUR",
            Granularity::Day => "DAY",
            Granularity::Lifetime => "LIFETIME",
        }
    }
}

/// Which breakdown a report carries beside its id and time dimensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Breakdown {
    None,
    GenderAge,
    Country,
    Platform,
    Province,
}

impl Breakdown {
    pub(crate) fn dimensions(self) -> &'static [&'static str] {
        match self {
            Breakdown::None => &[],
            Breakdown::GenderAge => &["gender", "age"],
            Breakdown::Country => &["country_code"],
            Breakdown::Platform => &["platform"],
            Breakdown::Province => &["province_id"],
        }
    }
}

/// The metrics a stream requests, in request order: the level list, then the base list.
pub(crate) fn metrics_for(
    report_type: ReportType,
    level: Level,
    granularity: Granularity,
    breakdown: Breakdown,
) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    match (report_type, level) {
        (ReportType::Basic, Level::Advertiser) => {
            if granularity == Granularity::Day {
                out.extend(L_ADV_DAY);
            }
        }
        (ReportType::Basic, Level::Campaign) => {
            out.extend(L_CAMP);
            out.extend(CONVERSIONS);
        }
        (ReportType::Audience, Level::Campaign) => {
            out.extend(L_CAMP);
            out.extend(CONVERSIONS.iter().filter(|m| !SECONDARY_GOAL.contains(m)));
        }
        (ReportType::Basic, Level::AdGroup) => out.extend(L_ADGROUP),
        (ReportType::Basic, Level::Ad) => {
            out.extend(L_ADGROUP);
            out.extend(L_AD_EXTRA);
            if breakdown == Breakdown::Country {
                out.retain(|m| !NOT_BY_COUNTRY.contains(m));
            }
        }
        (ReportType::Audience, Level::Advertiser) => {}
        (ReportType::Audience, Level::AdGroup) => {
            out.extend(L_ADGROUP.iter().filter(|m| !SECONDARY_GOAL.contains(m)))
        }
        (ReportType::Audience, Level::Ad) => {
            out.extend(L_ADGROUP.iter().filter(|m| !SECONDARY_GOAL.contains(m)));
            out.extend(L_AD_AUD_EXTRA);
        }
    }
    match report_type {
        ReportType::Basic => out.extend(M_BASE),
        ReportType::Audience => out.extend(M_AUD),
    }
    if level != Level::Advertiser {
        for metric in FUNNEL {
            if !out.contains(metric) {
                out.push(metric);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::metric_catalog::{self, metric_type, ReportShape};
    use crate::registry::report_options::{requested_metrics, ReportOptions};

    #[test]
    fn request_sizes_match_the_api_table() {
        use Breakdown as B;
        use Granularity as G;
        use Level as L;
        use ReportType as R;
        let n = |r, l, g, b| metrics_for(r, l, g, b).len();
        // The sizes before the funnel, plus what it adds: 12 funnel metrics at the campaign, ad
        // group and ad levels (7 at the ad level, which asked the other 5 already) and the 15
        // conversion and result metrics at the campaign level (12 in audience reports).
        assert_eq!(n(R::Basic, L::Ad, G::Day, B::None), 79 + 7);
        assert_eq!(n(R::Basic, L::Ad, G::Day, B::Country), 76 + 7);
        assert_eq!(n(R::Basic, L::AdGroup, G::Day, B::None), 51 + 12);
        assert_eq!(n(R::Basic, L::Campaign, G::Hour, B::None), 28 + 15 + 12);
        assert_eq!(n(R::Basic, L::Advertiser, G::Day, B::None), 29);
        assert_eq!(n(R::Basic, L::Advertiser, G::Hour, B::None), 27);
        assert_eq!(n(R::Basic, L::Advertiser, G::Lifetime, B::None), 27);
        assert_eq!(n(R::Audience, L::Ad, G::Day, B::GenderAge), 30 + 12);
        assert_eq!(n(R::Audience, L::AdGroup, G::Day, B::GenderAge), 27 + 12);
        assert_eq!(n(R::Audience, L::Campaign, G::Day, B::Country), 7 + 12 + 12);
        assert_eq!(n(R::Audience, L::Advertiser, G::Day, B::GenderAge), 6);
    }

    /// Every level, report type, granularity and breakdown a stream can have.
    fn every_report() -> Vec<(ReportType, Level, Granularity, Breakdown)> {
        let mut out = Vec::new();
        for r in [ReportType::Basic, ReportType::Audience] {
            for l in [
                Level::Advertiser,
                Level::Campaign,
                Level::AdGroup,
                Level::Ad,
            ] {
                for g in [Granularity::Hour, Granularity::Day, Granularity::Lifetime] {
                    for b in [
                        Breakdown::None,
                        Breakdown::GenderAge,
                        Breakdown::Country,
                        Breakdown::Platform,
                        Breakdown::Province,
                    ] {
                        out.push((r, l, g, b));
                    }
                }
            }
        }
        out
    }

    #[test]
    fn campaigns_ask_the_conversions_the_ad_group_and_ad_levels_ask() {
        for m in CONVERSIONS {
            assert!(L_ADGROUP.contains(m), "{m} is not an ad group metric");
        }
        for (r, l, g, b) in every_report() {
            let asked = metrics_for(r, l, g, b);
            if l == Level::Advertiser {
                continue;
            }
            for m in CONVERSIONS {
                let expected = r == ReportType::Basic || !SECONDARY_GOAL.contains(m);
                assert_eq!(
                    asked.contains(m),
                    expected,
                    "{m} at {r:?} {l:?} {g:?} {b:?}"
                );
            }
        }
    }

    #[test]
    fn three_levels_ask_the_website_and_shop_funnel_where_tiktok_serves_it() {
        for (r, l, g, b) in every_report() {
            let asked = requested_metrics(r, l, g, b, &ReportOptions::STANDARD);
            let shape = ReportShape {
                report_type: r,
                level: l,
                granularity: g,
                breakdown: b != Breakdown::None,
            };
            for m in FUNNEL {
                let group = metric_catalog::lookup(m).map(|m| m.group);
                assert!(
                    matches!(
                        group,
                        Some(metric_catalog::Group::Website | metric_catalog::Group::Shop)
                    ),
                    "{m} is not a website or Shop metric: {group:?}"
                );
                let served = metric_catalog::check(m, shape).is_ok();
                let expected = l != Level::Advertiser && served;
                assert_eq!(
                    asked.contains(m),
                    expected,
                    "{m} at {r:?} {l:?} {g:?} {b:?}"
                );
            }
        }
        // Values and ROAS are numbers in records, never text.
        for m in FUNNEL {
            assert_eq!(metric_type(m), Some(MetricType::Number), "{m}");
        }
    }

    /// With `all`, every report holds each group's metrics that TikTok serves at its level,
    /// report type, granularity and breakdown (the catalog's restrictions), after the standard
    /// ones, once each; one group adds its own sections only.
    #[test]
    fn metric_groups_add_what_tiktok_serves_in_each_report() {
        use crate::registry::report_options::MetricGroup;
        let with = |groups: Vec<MetricGroup>| ReportOptions {
            metric_groups: groups,
            ..ReportOptions::default()
        };
        let all = with(vec![MetricGroup::All]);
        let website = with(vec![MetricGroup::Website]);
        for (r, l, g, b) in every_report() {
            let standard = metrics_for(r, l, g, b);
            let shape = ReportShape {
                report_type: r,
                level: l,
                granularity: g,
                breakdown: b != Breakdown::None,
            };
            let asked = requested_metrics(r, l, g, b, &all);
            assert_eq!(asked[..standard.len()], standard[..]);
            let mut seen = std::collections::HashSet::new();
            for m in &asked {
                assert!(
                    seen.insert(*m),
                    "{m} asked twice at {r:?} {l:?} {g:?} {b:?}"
                );
                assert!(metric_catalog::check(m, shape).is_ok(), "{m} at {l:?}");
            }
            for metric in metric_catalog::all() {
                if !all.adds(metric.group) {
                    continue;
                }
                let left_out = (r, l, b) == (ReportType::Basic, Level::Ad, Breakdown::Country)
                    && NOT_BY_COUNTRY.contains(&metric.name);
                let expected = metric.rule.allows(shape) && !left_out;
                assert_eq!(
                    asked.contains(&metric.name),
                    expected,
                    "{} at {r:?} {l:?} {g:?} {b:?}",
                    metric.name
                );
            }
            let only_website = requested_metrics(r, l, g, b, &website);
            for m in &only_website[standard.len()..] {
                let group = metric_catalog::lookup(m).unwrap().group;
                assert_eq!(group, metric_catalog::Group::Website, "{m}");
            }
            assert!(only_website.len() > standard.len());
            assert_eq!(requested_metrics(r, l, g, b, &with(vec![])), standard);
        }
        // Numbers: the groups hold no text or id metric.
        let asked = requested_metrics(
            ReportType::Basic,
            Level::Ad,
            Granularity::Day,
            Breakdown::None,
            &all,
        );
        assert!(asked.len() > 800, "{}", asked.len());
        let standard = metrics_for(
            ReportType::Basic,
            Level::Ad,
            Granularity::Day,
            Breakdown::None,
        );
        for m in &asked[standard.len()..] {
            assert_eq!(metric_type(m), Some(MetricType::Number), "{m}");
        }
    }

    #[test]
    fn every_requested_metric_is_typed() {
        for r in [ReportType::Basic, ReportType::Audience] {
            for l in [
                Level::Advertiser,
                Level::Campaign,
                Level::AdGroup,
                Level::Ad,
            ] {
                for g in [Granularity::Hour, Granularity::Day, Granularity::Lifetime] {
                    let metrics = metrics_for(r, l, g, Breakdown::None);
                    let mut seen = std::collections::HashSet::new();
                    let shape = crate::registry::metric_catalog::ReportShape {
                        report_type: r,
                        level: l,
                        granularity: g,
                        breakdown: false,
                    };
                    for m in &metrics {
                        assert!(metric_type(m).is_some(), "{m} has no declared type");
                        assert!(seen.insert(*m), "{m} requested twice");
                        assert!(
                            crate::registry::metric_catalog::check(m, shape).is_ok(),
                            "{m} is refused at {l:?} {g:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn text_and_id_metrics_are_not_numbers() {
        assert_eq!(metric_type("mobile_app_id"), Some(MetricType::Text));
        assert_eq!(metric_type("campaign_id"), Some(MetricType::Id));
        assert_eq!(metric_type("spend"), Some(MetricType::Number));
        assert_eq!(metric_type("made_up_metric"), None);
    }
}
