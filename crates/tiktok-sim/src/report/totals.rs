//! The figures an ad delivers in one hour, drawn deterministically from the seed, the ad, the
//! hour and the breakdown value ([`Totals::add_hour`]), and their sums ([`Totals::absorb`]): the
//! only place the simulator invents delivery. Every field is an additive count or an amount in
//! thousandths of the account's currency, so a row above the ad level is the exact sum of its
//! ads' hours; rates, costs and ROAS are worked out from these sums when a row is rendered.

use super::Bd;
use crate::model::{hash, mix};

/// What one hour of an entity's figures is drawn from: the seed, the entity, the hour, and
/// the breakdown with the index of its value (see [`Totals::add_hour`]).
#[derive(Debug, Clone, Copy)]
pub(super) struct HourDraw {
    pub(super) seed: u64,
    pub(super) id: u64,
    pub(super) hour: i64,
    pub(super) bd: Bd,
    pub(super) bd_index: u16,
}

/// Declares [`Totals`] from one list of its figures, with [`Totals::absorb`] adding each of
/// them: a figure added to the struct can never be left out of the sums.
macro_rules! totals {
    ($($(#[$doc:meta])* $field:ident,)*) => {
        /// Summed delivery of some hours.
        #[derive(Debug, Clone, Copy, Default)]
        pub(super) struct Totals {
            $($(#[$doc])* pub(super) $field: u64,)*
        }

        impl Totals {
            /// Adds every figure of `other`: what a row above the ad level does with each of
            /// its ads'.
            pub(super) fn absorb(&mut self, other: &Totals) {
                $(self.$field += other.$field;)*
            }
        }
    };
}

totals! {
    impressions,
    clicks,
    spend_m,
    voucher_m,
    reach,
    conversions,
    rt_conversions,
    video_plays,
    watched_2s,
    watched_6s,
    p25,
    p50,
    p75,
    p100,
    play_ms,
    likes,
    comments,
    shares,
    follows,
    profile_visits,
    music_clicks,
    installs,
    rt_installs,
    purchases,
    purchase_value_m,
    registrations,
    sales_leads,
    pageviews,
    add_to_cart,
    onsite_shopping,
    complete_payment,
    /// The conversions and purchases TikTok attributes to a view (VTA); the rest of each are
    /// attributed to a click (CTA). Drawn per hour, so both parts add up across levels.
    vta_conversions,
    vta_purchases,
    /// What the website's complete payments and the TikTok Shop payments (`onsite_shopping`)
    /// are worth.
    paid_value_m,
    shop_paid_value_m,
    /// The website funnel between page views and complete payment, and what each stage's
    /// basket is worth.
    web_cart,
    web_checkout,
    web_cart_value_m,
    web_checkout_value_m,
    /// The TikTok Shop funnel above its payments (`onsite_shopping`), and its baskets.
    shop_detail,
    shop_cart,
    shop_checkout,
    shop_detail_value_m,
    shop_cart_value_m,
    shop_checkout_value_m,
}

impl Totals {
    /// Adds the figures drawn for one hour of one ad and breakdown value.
    pub(super) fn add_hour(&mut self, draw: HourDraw) {
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
        let imp = (20 + r1 % 400) / if bd == Bd::None { 1 } else { 3 };
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
        // One ad's hour holds a few conversions at most: its purchases, installs and payments
        // round stochastically too, so that an ad has some in a month and the rows above it
        // (which sum their ads) show them.
        let r4 = mix(r3 ^ 0x5EED);
        let installs = (clicks * (r3 % 10) + r4 % 100) / 100;
        let purchases = (conv * ((r3 >> 8) % 40) + (r4 >> 8) % 100) / 100;
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
        self.vta_conversions += conv * 3 / 10;
        self.vta_purchases += purchases * 3 / 10;
        let unit_price_m = 5_000 + (r3 >> 48) % 95_000;
        self.purchase_value_m += purchases * unit_price_m;
        self.registrations += conv * ((r3 >> 52) % 30) / 100;
        self.sales_leads += conv * ((r3 >> 56) % 20) / 100;
        let pageviews = clicks * (100 + (r2 >> 4) % 150) / 100;
        self.pageviews += pageviews;
        self.add_to_cart += conv * (20 + (r2 >> 12) % 60) / 100;
        let shop_paid = (purchases + (r4 >> 16) % 2) / 2;
        self.onsite_shopping += shop_paid;
        let paid = (purchases * (60 + (r2 >> 20) % 40) + (r4 >> 24) % 100) / 100;
        self.complete_payment += paid;
        let paid_value_m = paid * unit_price_m;
        self.paid_value_m += paid_value_m;
        self.add_funnels(mix(r3), pageviews, paid, paid_value_m, clicks, shop_paid);
    }

    /// The website and Shop funnels of one hour, drawn from `r` between the hour's page views
    /// (or product clicks) and its payments, so that each stage holds at most the one before:
    /// views >= add to cart >= checkout >= payment, and each basket is worth at least the
    /// payments' value.
    fn add_funnels(
        &mut self,
        r: u64,
        views: u64,
        paid: u64,
        paid_m: u64,
        clicks: u64,
        shop_paid: u64,
    ) {
        let unit_m = 5_000 + (r >> 16) % 95_000;
        let between = |low: u64, high: u64, pct: u64| low + high.saturating_sub(low) * pct / 100;
        let cart = between(paid, views, 10 + r % 30);
        let checkout = between(paid, cart, 40 + (r >> 8) % 50);
        self.web_cart += cart;
        self.web_checkout += checkout;
        self.web_cart_value_m += paid_m + (cart - paid) * unit_m;
        self.web_checkout_value_m += paid_m + (checkout - paid) * unit_m;
        let shop_paid_m = paid_m / 2;
        self.shop_paid_value_m += shop_paid_m;
        let detail = shop_paid + clicks * (20 + (r >> 32) % 40) / 100;
        let shop_cart = between(shop_paid, detail, 20 + (r >> 40) % 40);
        let shop_checkout = between(shop_paid, shop_cart, 40 + (r >> 48) % 50);
        self.shop_detail += detail;
        self.shop_cart += shop_cart;
        self.shop_checkout += shop_checkout;
        self.shop_detail_value_m += shop_paid_m + (detail - shop_paid) * unit_m;
        self.shop_cart_value_m += shop_paid_m + (shop_cart - shop_paid) * unit_m;
        self.shop_checkout_value_m += shop_paid_m + (shop_checkout - shop_paid) * unit_m;
    }
}
