//! The catalog's rows of §Core metrics on TikTok's Metrics page, in the page's order (named so, not
//! `core`, to leave the `core` crate its name).

use super::super::row::{m, Metric, ADVERTISER_DAILY, ANY, BASIC_ONLY};

#[rustfmt::skip]
pub(super) const ROWS: &[Metric] = &[
    // §Core metrics
    m!("spend", Core, Money, true, ANY, MetricsPage),
    m!("billed_cost", Core, Money, true, BASIC_ONLY, MetricsPage),
    m!("cash_spend", Core, Money, true, ADVERTISER_DAILY, MetricsPage),
    m!("voucher_spend", Core, Money, true, ADVERTISER_DAILY, MetricsPage),
    m!("cpc", Core, Money, false, ANY, MetricsPage),
    m!("cpm", Core, Money, false, ANY, MetricsPage),
    m!("impressions", Core, Count, true, ANY, MetricsPage),
    m!("gross_impressions", Core, Count, true, ANY, MetricsPage),
    m!("clicks", Core, Count, true, ANY, MetricsPage),
    m!("ctr", Core, Rate, false, ANY, MetricsPage),
    m!("reach", Core, Count, false, ANY, MetricsPage),
    m!("cost_per_1000_reached", Core, Money, false, ANY, MetricsPage),
    m!("frequency", Core, Average, false, ANY, MetricsPage),
    m!("conversion", Core, Count, true, ANY, MetricsPage),
    m!("cost_per_conversion", Core, Money, false, ANY, MetricsPage),
    m!("conversion_rate", Core, Rate, false, ANY, MetricsPage),
    m!("conversion_rate_v2", Core, Rate, false, ANY, MetricsPage),
    m!("real_time_conversion", Core, Count, true, ANY, MetricsPage),
    m!("real_time_cost_per_conversion", Core, Money, false, ANY, MetricsPage),
    m!("real_time_conversion_rate", Core, Rate, false, ANY, MetricsPage),
    m!("real_time_conversion_rate_v2", Core, Rate, false, ANY, MetricsPage),
    m!("result", Core, Count, false, ANY, MetricsPage),
    m!("cost_per_result", Core, Money, false, ANY, MetricsPage),
    m!("result_rate", Core, Rate, false, ANY, MetricsPage),
    m!("real_time_result", Core, Count, false, ANY, MetricsPage),
    m!("real_time_cost_per_result", Core, Money, false, ANY, MetricsPage),
    m!("real_time_result_rate", Core, Rate, false, ANY, MetricsPage),
    m!("secondary_goal_result", Core, Count, false, ANY, MetricsPage),
    m!("cost_per_secondary_goal_result", Core, Money, false, ANY, MetricsPage),
    m!("secondary_goal_result_rate", Core, Rate, false, ANY, MetricsPage),
    m!("skan_result", Core, Count, false, ANY, MetricsPage),
    m!("skan_cost_per_result", Core, Money, false, ANY, MetricsPage),
    m!("skan_result_rate", Core, Rate, false, ANY, MetricsPage),
    m!("skan_conversion", Core, Count, true, ANY, MetricsPage),
    m!("skan_cost_per_conversion", Core, Money, false, ANY, MetricsPage),
    m!("skan_conversion_rate_v2", Core, Rate, false, ANY, MetricsPage),
    m!("skan_conversion_rate", Core, Rate, false, ANY, LegacyMetricsPage),
    m!("skan_click_time_conversion", Core, Count, true, ANY, LegacyMetricsPage),
    m!("skan_click_time_cost_per_conversion", Core, Money, false, ANY, LegacyMetricsPage),
    m!("skan_click_time_conversion_rate", Core, Rate, false, ANY, LegacyMetricsPage),
];
