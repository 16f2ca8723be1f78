//! The catalog's rows of §Conversions metrics > Shop metrics on TikTok's Metrics page, in the
//! page's order.

use super::super::row::{m, Metric, ANY};

#[rustfmt::skip]
pub(super) const ROWS: &[Metric] = &[
    // §Conversions metrics > Shop metrics
    m!("onsite_shopping_roas", Shop, Rate, false, ANY, MetricsPage),
    m!("onsite_shopping", Shop, Count, true, ANY, MetricsPage),
    m!("cost_per_onsite_shopping", Shop, Money, false, ANY, MetricsPage),
    m!("onsite_shopping_rate", Shop, Rate, false, ANY, MetricsPage),
    m!("value_per_onsite_shopping", Shop, Money, false, ANY, MetricsPage),
    m!("total_onsite_shopping_value", Shop, Money, true, ANY, MetricsPage),
    m!("shop_total_purchase_by_order_submission", Shop, Count, true, ANY, MetricsPage),
    m!("shop_gross_revenue_by_order_submission", Shop, Money, true, ANY, MetricsPage),
    m!("shop_total_items_purchased", Shop, Count, true, ANY, MetricsPage),
    m!("onsite_initiate_checkout_count", Shop, Count, true, ANY, MetricsPage),
    m!("cost_per_onsite_initiate_checkout_count", Shop, Money, false, ANY, MetricsPage),
    m!("onsite_initiate_checkout_count_rate", Shop, Rate, false, ANY, MetricsPage),
    m!("value_per_onsite_initiate_checkout_count", Shop, Money, false, ANY, MetricsPage),
    m!("total_onsite_initiate_checkout_count_value", Shop, Money, true, ANY, MetricsPage),
    m!("onsite_on_web_detail", Shop, Count, true, ANY, MetricsPage),
    m!("cost_per_onsite_on_web_detail", Shop, Money, false, ANY, MetricsPage),
    m!("onsite_on_web_detail_rate", Shop, Rate, false, ANY, MetricsPage),
    m!("value_per_onsite_on_web_detail", Shop, Money, false, ANY, MetricsPage),
    m!("total_onsite_on_web_detail_value", Shop, Money, true, ANY, MetricsPage),
    m!("onsite_on_web_cart", Shop, Count, true, ANY, MetricsPage),
    m!("cost_per_onsite_on_web_cart", Shop, Money, false, ANY, MetricsPage),
    m!("onsite_on_web_cart_rate", Shop, Rate, false, ANY, MetricsPage),
    m!("value_per_onsite_on_web_cart", Shop, Money, false, ANY, MetricsPage),
    m!("total_onsite_on_web_cart_value", Shop, Money, true, ANY, MetricsPage),
];
