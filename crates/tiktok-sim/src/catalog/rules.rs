//! The restrictions TikTok states for report metrics, one row per statement, each with the
//! metrics it covers, what it allows and where TikTok says so. A metric no row names is served
//! at every level, in BASIC and AUDIENCE reports, hourly, daily and lifetime: TikTok states no
//! restriction for it. [`check`] answers for one metric and report.

use super::{Granularity, Level, ReportShape, ReportType};

/// Why TikTok refuses a metric in a report (answered with 40002 "Invalid metric fields").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// TikTok's Metrics page does not list the name.
    Undocumented,
    /// TikTok documents the metric as unsupported in this report: the row's citation.
    Unsupported(&'static str),
}

/// Which dimensions a metric may be asked with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dimensions {
    Any,
    /// One id dimension, alone or with `stat_time_day`.
    IdAlone,
    /// Only `image_id`, a dimension of carousel images `report/integrated/get/` does not
    /// offer at the four auction levels: never served here.
    ImageId,
}

/// One restriction TikTok states.
struct RuleRow {
    metrics: &'static [&'static str],
    levels: &'static [Level],
    report_types: &'static [ReportType],
    granularities: &'static [Granularity],
    dimensions: Dimensions,
    /// TikTok's statement and where it is made.
    cite: &'static str,
}

const EVERY_LEVEL: &[Level] = &[
    Level::Advertiser,
    Level::Campaign,
    Level::AdGroup,
    Level::Ad,
];
const BOTH_TYPES: &[ReportType] = &[ReportType::Basic, ReportType::Audience];
const EVERY_GRANULARITY: &[Granularity] =
    &[Granularity::Hour, Granularity::Day, Granularity::Lifetime];

const NO_RESTRICTION: RuleRow = RuleRow {
    metrics: &[],
    levels: EVERY_LEVEL,
    report_types: BOTH_TYPES,
    granularities: EVERY_GRANULARITY,
    dimensions: Dimensions::Any,
    cite: "",
};

/// Every restriction, in the order of the Metrics page.
const RULES: &[RuleRow] = &[
    RuleRow {
        metrics: &[
            "campaign_name",
            "objective_type",
            "split_test",
            "campaign_budget",
            "campaign_dedicate_type",
            "app_promotion_type",
        ],
        levels: &[Level::Campaign, Level::AdGroup, Level::Ad],
        cite: "supported at the campaign, ad group and ad levels (Metrics page, portal doc \
               1751443967255553, §Attribute metrics)",
        ..NO_RESTRICTION
    },
    RuleRow {
        metrics: &[
            "campaign_id",
            "adgroup_name",
            "placement_type",
            "promotion_type",
            "opt_status",
            "adgroup_download_url",
            "profile_image",
            "dpa_target_audience_type",
            "budget",
            "smart_target",
            "pricing_category",
            "billing_event",
            "bid_strategy",
            "bid",
            "bid_secondary_goal",
            "aeo_type",
            "tt_app_id",
            "tt_app_name",
            "mobile_app_id",
        ],
        levels: &[Level::AdGroup, Level::Ad],
        cite: "supported at the ad group and ad levels (Metrics page, portal doc \
               1751443967255553, §Attribute metrics)",
        ..NO_RESTRICTION
    },
    RuleRow {
        metrics: &[
            "adgroup_id",
            "ad_name",
            "ad_id",
            "ad_text",
            "call_to_action",
            "ad_profile_image",
            "ad_url",
            "image_mode",
            "is_smart_creative",
        ],
        levels: &[Level::Ad],
        cite: "supported at the ad level only (Metrics page, portal doc 1751443967255553, \
               §Attribute metrics)",
        ..NO_RESTRICTION
    },
    RuleRow {
        metrics: &["is_aco"],
        levels: &[Level::AdGroup],
        cite: "supported at the AUCTION_ADGROUP level (Metrics page, portal doc \
               1751443967255553, §Attribute metrics)",
        ..NO_RESTRICTION
    },
    RuleRow {
        metrics: &["billed_cost"],
        report_types: &[ReportType::Basic],
        cite: "supported only in synchronous BASIC reports (Metrics page, portal doc \
               1751443967255553, §Core metrics)",
        ..NO_RESTRICTION
    },
    RuleRow {
        metrics: &["cash_spend", "voucher_spend"],
        levels: &[Level::Advertiser],
        report_types: &[ReportType::Basic],
        granularities: &[Granularity::Day],
        cite: "supported only at the advertiser level and by day, not lifetime, not by hour \
               (Metrics page, portal doc 1751443967255553, §Core metrics)",
        ..NO_RESTRICTION
    },
    RuleRow {
        metrics: &[
            "paid_engaged_view",
            "paid_engagement_engaged_view",
            "paid_engaged_view_15s",
            "paid_engagement_engaged_view_15s",
        ],
        granularities: &[Granularity::Day, Granularity::Lifetime],
        dimensions: Dimensions::IdAlone,
        cite: "needs one id dimension, alone or with stat_time_day (Metrics page, portal doc \
               1751443967255553, §Interaction metrics > Videos metrics)",
        ..NO_RESTRICTION
    },
    RuleRow {
        metrics: &[
            "cost_per_consideration",
            "new_consideration_rate",
            "new_consideration_size",
        ],
        granularities: &[Granularity::Day, Granularity::Lifetime],
        dimensions: Dimensions::IdAlone,
        cite: "needs one id dimension, alone or with stat_time_day (Metrics page, portal doc \
               1751443967255553, §Interaction metrics > Social metrics)",
        ..NO_RESTRICTION
    },
    RuleRow {
        metrics: &[
            "single_image_impressions",
            "single_image_impression_rate",
            "single_image_ctr",
        ],
        dimensions: Dimensions::ImageId,
        cite: "supported only with the image_id dimension (Metrics page, portal doc \
               1751443967255553, §Interaction metrics > Image metrics)",
        ..NO_RESTRICTION
    },
];

impl RuleRow {
    fn allows(&self, shape: ReportShape) -> bool {
        self.levels.contains(&shape.level)
            && self.report_types.contains(&shape.report_type)
            && self.granularities.contains(&shape.granularity)
            && match self.dimensions {
                Dimensions::Any => true,
                Dimensions::IdAlone => !shape.breakdown,
                Dimensions::ImageId => false,
            }
    }
}

/// Whether every restriction TikTok states for a documented metric allows this report.
pub(super) fn check(metric: &str, shape: ReportShape) -> Result<(), Refusal> {
    match RULES
        .iter()
        .find(|r| r.metrics.contains(&metric) && !r.allows(shape))
    {
        Some(row) => Err(Refusal::Unsupported(row.cite)),
        None => Ok(()),
    }
}

/// The citation of every row, for the tests.
#[cfg(test)]
pub(super) fn rows() -> impl Iterator<Item = (&'static [&'static str], &'static str)> {
    RULES.iter().map(|r| (r.metrics, r.cite))
}
