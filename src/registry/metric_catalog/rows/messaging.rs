//! The catalog's rows of §Conversions metrics > Messaging metrics on TikTok's Metrics page, in the
//! page's order.

use super::super::row::{m, Metric, ANY};

#[rustfmt::skip]
pub(super) const ROWS: &[Metric] = &[
    // §Conversions metrics > Messaging metrics
    m!("messaging_total_conversation_tiktok_direct_message", Messaging, Count, true, ANY, MetricsPage),
    m!("messaging_cost_per_conversation_tiktok_direct_message", Messaging, Money, false, ANY, MetricsPage),
    m!("messaging_conversation_rate_tiktok_direct_message", Messaging, Rate, false, ANY, MetricsPage),
    m!("messaging_total_conversation_instant_messaging_app", Messaging, Count, true, ANY, MetricsPage),
    m!("messaging_cost_per_conversation_instant_messaging_app", Messaging, Money, false, ANY, MetricsPage),
    m!("messaging_conversation_rate_instant_messaging_app", Messaging, Rate, false, ANY, MetricsPage),
];
