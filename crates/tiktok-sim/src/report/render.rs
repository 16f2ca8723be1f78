//! The third step of a report query: the rows of a plan rendered as JSON, straight into the
//! response body. Each row sums the figures drawn for the hours of its member ads
//! ([`Totals`], [`MemberSums`]): an ad's own hours at the ad level, every processed ad's under
//! a campaign, ad group or advertiser. Additive figures (counts, money in thousandths) are
//! exact sums; rates, averages, costs, frequency and ROAS are worked out from the summed
//! totals of the row. Then the row writes every requested dimension and metric in its wire
//! format (strings, or numbers for BASIC reports' engagement metrics).
//!
//! Money is rendered per row: this simulator sends all three decimals of its thousandths, so
//! its ad rows' spend sums exactly to their campaign's; TikTok rounds each row to the decimals
//! it sends, so there the sum of the rendered rows may differ from the rendered total by half a
//! unit of the last decimal per row summed (and no more).

use serde_json::Value;

use super::plan::{hour_active, reaches};
use super::totals::{HourDraw, Totals};
use super::{Ent, ReportPlan, RowKey, TimeDim, AGES, COUNTRIES, GENDERS, PLATFORMS, PROVINCES};
use crate::catalog::{Funnel, Level, MetricType};
use crate::model::{
    ad_text, currency, objective, placement_type, promotes_app, str_hash, Ad, AdGroup, Advertiser,
    Campaign, Model,
};

/// One row being rendered: its advertiser, plan, entity and summed delivery, from which
/// each metric's value is read.
#[derive(Clone, Copy)]
struct RowFigures<'a> {
    adv: &'a Advertiser,
    plan: &'a ReportPlan,
    ent: &'a Ent,
    figures: &'a MemberSums,
}

/// The delivery of a row's member ads: of all of them, and per funnel of those that run it
/// (indexed by [`Funnel`]; summed only for the funnels the query's metrics count). A funnel's
/// metrics read its sum, so a campaign's app installs are its app ads' and add up with the
/// ad rows, which show zero for a funnel their ad group does not run.
#[derive(Debug, Default)]
struct MemberSums {
    all: Totals,
    by_funnel: [Totals; FUNNELS],
}

/// How many [`Funnel`]s there are.
const FUNNELS: usize = Funnel::Messaging as usize + 1;

/// Text of a fixed-point value: `units` with `digits` decimals.
fn fixed(units: u64, digits: u32) -> String {
    let div = 10u64.pow(digits);
    format!(
        "{}.{:0width$}",
        units / div,
        units % div,
        width = digits as usize
    )
}

/// `num / den` with `digits` decimals (0 when `den` is 0), as fixed-point units.
fn ratio(num: u64, den: u64, digits: u32) -> u64 {
    if den == 0 {
        0
    } else {
        ((num as u128 * 10u128.pow(digits)) / den as u128) as u64
    }
}

/// One metric value, written straight into the response body.
enum Cell {
    Str(String),
    Static(&'static str),
    /// JSON number text.
    Num(String),
    Null,
}

impl Cell {
    fn write(&self, out: &mut Vec<u8>) {
        match self {
            Cell::Str(s) => write_str(out, s),
            Cell::Static(s) => write_str(out, s),
            Cell::Num(n) => out.extend_from_slice(n.as_bytes()),
            Cell::Null => out.extend_from_slice(b"null"),
        }
    }
}

/// A JSON string literal.
fn write_str(out: &mut Vec<u8>, s: &str) {
    if s.bytes()
        .all(|b| b >= 0x20 && b != b'"' && b != b'\\' && b < 0x7f)
    {
        out.push(b'"');
        out.extend_from_slice(s.as_bytes());
        out.push(b'"');
    } else {
        let _ = serde_json::to_writer(&mut *out, s);
    }
}

/// How a metric travels on the wire in this report.
#[derive(Clone, Copy, Debug)]
pub(super) enum Wire {
    Str,
    Num,
}

impl Wire {
    fn int(self, v: u64) -> Cell {
        match self {
            Wire::Str => Cell::Str(v.to_string()),
            Wire::Num => Cell::Num(v.to_string()),
        }
    }

    fn fixed(self, units: u64, digits: u32) -> Cell {
        let text = fixed(units, digits);
        match self {
            Wire::Str => Cell::Str(text),
            Wire::Num => Cell::Num(text),
        }
    }
}

/// What a plan knows about each requested metric, worked out once per query.
#[derive(Debug, Clone)]
pub(super) struct MetricSpec {
    pub(super) name: String,
    /// `"name":`, escaped.
    pub(super) key: Vec<u8>,
    pub(super) mtype: Option<MetricType>,
    pub(super) wire: Wire,
    /// The funnel the metric's section counts (zero for entities that do not run it).
    pub(super) funnel: Option<Funnel>,
}

pub(super) fn json_key(name: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(name.len() + 3);
    write_str(&mut key, name);
    key.push(b':');
    key
}

/// BASIC reports send video and engagement metrics as JSON numbers; everything else numeric is a
/// decimal string (AUDIENCE reports send all of them as strings).
pub(super) fn engagement_metric(name: &str) -> bool {
    name.starts_with("video_")
        || name.starts_with("average_video_play")
        || name.starts_with("engaged_view")
        || name.starts_with("paid_engaged_view")
        || name.starts_with("cost_per_")
            && !matches!(
                name,
                "cost_per_conversion"
                    | "cost_per_result"
                    | "cost_per_1000_reached"
                    | "cost_per_result_v2"
            )
            && !name.contains("secondary_goal")
        || matches!(
            name,
            "profile_visits"
                | "profile_visits_rate"
                | "likes"
                | "comments"
                | "shares"
                | "follows"
                | "clicks_on_music_disc"
                | "real_time_app_install"
                | "real_time_app_install_cost"
                | "app_install"
                | "purchase"
                | "purchase_rate"
                | "registration"
                | "registration_rate"
                | "sales_lead"
                | "sales_lead_rate"
                | "total_app_event_add_to_cart"
                | "engagements"
        )
}

impl Model {
    /// Renders rows `from..to` of a plan as Values.
    pub(crate) fn render_rows(&self, plan: &ReportPlan, from: usize, to: usize) -> Vec<Value> {
        serde_json::from_slice(&self.render_rows_json(plan, from, to)).unwrap_or_default()
    }

    /// Renders rows `from..to` of a plan as a JSON array, ready for the response body.
    pub(crate) fn render_rows_json(&self, plan: &ReportPlan, from: usize, to: usize) -> Vec<u8> {
        let mut out = Vec::new();
        out.push(b'[');
        if let Some(adv) = self.advertiser(plan.advertiser_id) {
            let to = to.min(plan.keys.len());
            let from = from.min(to);
            out.reserve((to - from) * (64 + plan.metrics.len() * 24));
            for (i, key) in plan.keys[from..to].iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                self.render_row(adv, plan, key, &mut out);
            }
        }
        out.push(b']');
        out
    }

    /// The figures of one row: the sum, over the entity's member ads reaching breakdown value
    /// `bd`, of each hour of `hours` in which the ad delivers, drawn as the ad level draws it.
    fn sum_members(
        &self,
        adv: &Advertiser,
        plan: &ReportPlan,
        e: &Ent,
        bd: u16,
        (from, to): (i64, i64),
    ) -> MemberSums {
        let mut sums = MemberSums::default();
        let (start, count) = (e.members.0 as usize, e.members.1 as usize);
        for m in &plan.members[start..start + count] {
            let ad = &adv.ads[m.ad as usize];
            if !reaches(self.seed, ad.id, plan.bd, bd) {
                continue;
            }
            let mut own = Totals::default();
            for hour in from.max(ad.life.first_hour)..=to.min(ad.life.last_hour) {
                if hour_active(self.seed, ad.id, hour)
                    && self.open_to_delivery(adv, hour.div_euclid(24))
                {
                    own.add_hour(HourDraw {
                        seed: self.seed,
                        id: ad.id,
                        hour,
                        bd: plan.bd,
                        bd_index: bd,
                    });
                }
            }
            sums.all.absorb(&own);
            for (f, totals) in sums.by_funnel.iter_mut().enumerate() {
                let bit = 1 << f;
                if plan.asked_funnels & m.funnels & bit != 0 {
                    totals.absorb(&own);
                }
            }
        }
        sums
    }

    fn render_row(&self, adv: &Advertiser, plan: &ReportPlan, key: &RowKey, out: &mut Vec<u8>) {
        let e = &plan.ents[key.ent as usize];
        let (from, to) = match plan.time {
            TimeDim::Day => (key.time * 24, key.time * 24 + 23),
            TimeDim::Hour => (key.time, key.time),
            TimeDim::Aggregate => plan.hours,
        };
        let figures = self.sum_members(adv, plan, e, key.bd, (from, to));
        out.extend_from_slice(b"{\"dimensions\":{");
        for (i, (d, dkey)) in plan.dimensions.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(dkey);
            let v = match d.as_str() {
                "stat_time_day" => format!("{} 00:00:00", date_of_day(key.time)),
                "stat_time_hour" => format!(
                    "{} {:02}:00:00",
                    date_of_day(key.time.div_euclid(24)),
                    key.time.rem_euclid(24)
                ),
                "advertiser_id" | "campaign_id" | "adgroup_id" | "ad_id" => e.id.to_string(),
                other => {
                    let value = plan.bd.value(other, key.bd);
                    if self.empty_breakdown_values && is_last_breakdown_value(other, value) {
                        String::new()
                    } else {
                        value.to_string()
                    }
                }
            };
            write_str(out, &v);
        }
        out.extend_from_slice(b"},\"metrics\":{");
        let row = RowFigures {
            adv,
            plan,
            ent: e,
            figures: &figures,
        };
        for (i, m) in plan.metrics.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(&m.key);
            self.metric_value(&row, m).write(out);
        }
        out.extend_from_slice(b"}}");
    }

    /// The value of one metric in one row: an attribute or id of the row's entity, `-` for
    /// secondary goals, or a figure of its summed delivery.
    fn metric_value(&self, row: &RowFigures, spec: &MetricSpec) -> Cell {
        let name = spec.name.as_str();
        match spec.mtype {
            Some(MetricType::Text) => return attribute_metric(row, name),
            Some(MetricType::Id) => return id_metric(row, name),
            _ => {}
        }
        if name.contains("secondary_goal") {
            return Cell::Static("-");
        }
        let wire = spec.wire;
        if spec.funnel.is_some_and(|f| row.ent.funnels & f.bit() == 0) {
            return zero(name, wire);
        }
        // A funnel's figures count the ads that run it, the others every ad; costs, rates per
        // click and ROAS divide by the whole row's spend and clicks.
        let all = &row.figures.all;
        let t = match spec.funnel {
            Some(f) => &row.figures.by_funnel[f as usize],
            None => all,
        };
        let staged = matches!(spec.funnel, Some(Funnel::Website | Funnel::Shop));
        staged
            .then(|| funnel_metric(name, wire, t, all))
            .flatten()
            .or_else(|| delivery_metric(name, wire, t))
            .or_else(|| video_metric(name, wire, t))
            .or_else(|| conversion_metric(name, wire, t, all))
            .unwrap_or_else(|| other_metric(name, wire, t))
    }
}

impl RowFigures<'_> {
    /// The campaign, ad group and ad the row is about (as far as its level goes).
    fn entities(&self) -> (Option<&Campaign>, Option<&AdGroup>, Option<&Ad>) {
        let (adv, e) = (self.adv, self.ent);
        match self.plan.level {
            Level::Advertiser => (None, None, None),
            Level::Campaign => (Some(&adv.campaigns[e.index as usize]), None, None),
            Level::AdGroup => {
                let g = &adv.adgroups[e.index as usize];
                (Some(&adv.campaigns[g.campaign as usize]), Some(g), None)
            }
            Level::Ad => {
                let a = &adv.ads[e.index as usize];
                (
                    Some(&adv.campaigns[a.campaign as usize]),
                    Some(&adv.adgroups[a.adgroup as usize]),
                    Some(a),
                )
            }
        }
    }
}

/// A text metric: an attribute of the row's entity, `-` where its level has none.
fn attribute_metric(row: &RowFigures, name: &str) -> Cell {
    let (campaign, adgroup, ad) = row.entities();
    let dash = || Cell::Static("-");
    let text = |s: Option<String>| s.map(Cell::Str).unwrap_or_else(dash);
    match name {
        "campaign_name" => text(campaign.map(|c| c.name.clone())),
        "adgroup_name" => text(adgroup.map(|g| g.name.clone())),
        "ad_name" => text(ad.map(|a| a.name.clone())),
        "ad_text" => text(ad.map(ad_text)),
        "placement_type" => text(adgroup.map(|g| placement_type(g.h).to_string())),
        "objective_type" => text(campaign.map(|c| objective(c).to_string())),
        "promotion_type" => text(adgroup.map(|g| {
            if promotes_app(g) {
                "APP_ANDROID"
            } else {
                "WEBSITE"
            }
            .to_string()
        })),
        "currency" => Cell::Static(currency(row.adv)),
        "dpa_target_audience_type" => Cell::Null,
        _ => dash(),
    }
}

/// An id metric: the id of the row's entity (or one above it), `-` below its level.
fn id_metric(row: &RowFigures, name: &str) -> Cell {
    let (campaign, adgroup, ad) = row.entities();
    let id = match name {
        "campaign_id" => campaign.map(|c| c.id),
        "adgroup_id" => adgroup.map(|g| g.id),
        "ad_id" => ad.map(|a| a.id),
        "advertiser_id" => Some(row.adv.id),
        _ => Some(0), // tt_app_id: no app
    };
    id.map(|id| Cell::Num(id.to_string()))
        .unwrap_or(Cell::Static("-"))
}

/// Spend, impressions, clicks, reach and the conversions of a row, and their rates and costs.
fn delivery_metric(name: &str, wire: Wire, t: &Totals) -> Option<Cell> {
    let money = |m: u64| wire.fixed(m, 3);
    let rate = |num: u64, den: u64| wire.fixed(ratio(num * 100, den, 2), 2);
    let cost = |den: u64| wire.fixed(ratio(t.spend_m, den, 0), 3);
    Some(match name {
        "spend" => money(t.spend_m),
        "cash_spend" => money(t.spend_m - t.voucher_m),
        "voucher_spend" => money(t.voucher_m),
        "cpc" => cost(t.clicks),
        "cpm" => money(ratio(t.spend_m * 1000, t.impressions, 0)),
        "cost_per_1000_reached" => money(ratio(t.spend_m * 1000, t.reach, 0)),
        "impressions" => wire.int(t.impressions),
        "gross_impressions" => wire.int(t.impressions + t.impressions / 20),
        "clicks" => wire.int(t.clicks),
        "ctr" => rate(t.clicks, t.impressions),
        "reach" => wire.int(t.reach),
        "frequency" => wire.fixed(ratio(t.impressions, t.reach, 2), 2),
        "conversion" | "result" => wire.int(t.conversions),
        "real_time_conversion" | "real_time_result" => wire.int(t.rt_conversions),
        "cost_per_conversion" | "cost_per_result" | "cost_per_result_v2" => cost(t.conversions),
        "real_time_cost_per_conversion" | "real_time_cost_per_result" => cost(t.rt_conversions),
        "conversion_rate" | "result_rate" | "conversion_rate_v2" => rate(t.conversions, t.clicks),
        "real_time_conversion_rate" | "real_time_result_rate" => rate(t.rt_conversions, t.clicks),
        _ => return None,
    })
}

/// Video plays and views, and the engagement (profile visits, likes, ...) they bring.
fn video_metric(name: &str, wire: Wire, t: &Totals) -> Option<Cell> {
    let rate = |num: u64, den: u64| wire.fixed(ratio(num * 100, den, 2), 2);
    Some(match name {
        "video_play_actions" => wire.int(t.video_plays),
        "video_watched_2s" => wire.int(t.watched_2s),
        "video_watched_6s" => wire.int(t.watched_6s),
        "video_views_p25" => wire.int(t.p25),
        "video_views_p50" => wire.int(t.p50),
        "video_views_p75" => wire.int(t.p75),
        "video_views_p100" => wire.int(t.p100),
        "average_video_play" => wire.fixed(ratio(t.play_ms, t.video_plays * 1000, 2), 2),
        "average_video_play_per_user" => wire.fixed(ratio(t.play_ms, t.reach * 1000, 2), 2),
        "profile_visits" => wire.int(t.profile_visits),
        "profile_visits_rate" => rate(t.profile_visits, t.impressions),
        "likes" => wire.int(t.likes),
        "comments" => wire.int(t.comments),
        "shares" => wire.int(t.shares),
        "follows" => wire.int(t.follows),
        "clicks_on_music_disc" => wire.int(t.music_clicks),
        _ => return None,
    })
}

/// App installs, purchases, registrations, sales leads and other conversion events (`t`),
/// their costs and rates per click (of the whole row, `all`).
fn conversion_metric(name: &str, wire: Wire, t: &Totals, all: &Totals) -> Option<Cell> {
    let money = |m: u64| wire.fixed(m, 3);
    let rate = |num: u64, den: u64| wire.fixed(ratio(num * 100, den, 2), 2);
    let cost = |den: u64| wire.fixed(ratio(all.spend_m, den, 0), 3);
    Some(match name {
        "app_install" => wire.int(t.installs),
        "real_time_app_install" => wire.int(t.rt_installs),
        "real_time_app_install_cost" => cost(t.rt_installs),
        "cost_per_app_install" => cost(t.installs),
        "purchase" => wire.int(t.purchases),
        "vta_purchase" => wire.int(t.vta_purchases),
        "cta_purchase" => wire.int(t.purchases - t.vta_purchases),
        "purchase_rate" => rate(t.purchases, all.clicks),
        "cost_per_purchase" => cost(t.purchases),
        "total_purchase_value" => money(t.purchase_value_m),
        "total_onsite_shopping_value" => money(t.shop_paid_value_m),
        "onsite_shopping" => wire.int(t.onsite_shopping),
        "vta_conversion" => wire.int(t.vta_conversions),
        "cta_conversion" => wire.int(t.conversions - t.vta_conversions),
        "total_pageview" => wire.int(t.pageviews),
        "complete_payment" => wire.int(t.complete_payment),
        "value_per_complete_payment" => money(ratio(t.paid_value_m, t.complete_payment, 0)),
        // Despite its name, the total value of the complete payments (TikTok's Metrics page,
        // website events), money that adds up.
        "total_complete_payment_rate" => money(t.paid_value_m),
        "registration" => wire.int(t.registrations),
        "registration_rate" => rate(t.registrations, all.clicks),
        "cost_per_registration" => cost(t.registrations),
        "sales_lead" => wire.int(t.sales_leads),
        "sales_lead_rate" => rate(t.sales_leads, all.clicks),
        "cost_per_sales_lead" | "cost_per_total_sales_lead" => cost(t.sales_leads),
        "total_app_event_add_to_cart" => wire.int(t.add_to_cart),
        "cost_per_total_app_event_add_to_cart" => cost(t.add_to_cart),
        _ => return None,
    })
}

/// The zero of a metric in its format: what a row shows for a funnel its entity does not run.
fn zero(name: &str, wire: Wire) -> Cell {
    if name.contains("rate") || name.contains("roas") {
        wire.fixed(0, 2)
    } else if name.contains("value") || name.contains("cost") {
        wire.fixed(0, 3)
    } else {
        wire.int(0)
    }
}

/// The stages of the website and TikTok Shop funnels: the event's name on TikTok's Metrics
/// page, its count and its value. TikTok names each stage's figures alike: `E`,
/// `cost_per_E`, `E_rate` (per click), `value_per_E`, `total_E_value`, `E_roas` (value per
/// unit of spend).
fn funnel_stages(t: &Totals) -> [(&'static str, u64, u64); 7] {
    [
        ("web_event_add_to_cart", t.web_cart, t.web_cart_value_m),
        ("initiate_checkout", t.web_checkout, t.web_checkout_value_m),
        // The payments' value is summed per hour, so it adds up across levels (value per
        // payment is that over the payments).
        ("complete_payment", t.complete_payment, t.paid_value_m),
        ("onsite_on_web_detail", t.shop_detail, t.shop_detail_value_m),
        ("onsite_on_web_cart", t.shop_cart, t.shop_cart_value_m),
        (
            "onsite_initiate_checkout_count",
            t.shop_checkout,
            t.shop_checkout_value_m,
        ),
        ("onsite_shopping", t.onsite_shopping, t.shop_paid_value_m),
    ]
}

/// A figure of a website or Shop funnel stage ([`funnel_stages`]) of the ads running the funnel
/// (`t`), its costs, rates per click and ROAS over the whole row (`all`).
fn funnel_metric(name: &str, wire: Wire, t: &Totals, all: &Totals) -> Option<Cell> {
    let money = |m: u64| wire.fixed(m, 3);
    for (stage, count, value_m) in funnel_stages(t) {
        if !name.contains(stage) {
            continue;
        }
        let cell = if name == stage {
            wire.int(count)
        } else if name.strip_prefix("cost_per_") == Some(stage) {
            wire.fixed(ratio(all.spend_m, count, 0), 3)
        } else if name.strip_suffix("_rate") == Some(stage) {
            wire.fixed(ratio(count * 100, all.clicks, 2), 2)
        } else if name.strip_prefix("value_per_") == Some(stage) {
            money(ratio(value_m, count, 0))
        } else if name
            .strip_prefix("total_")
            .and_then(|n| n.strip_suffix("_value"))
            == Some(stage)
        {
            money(value_m)
        } else if name.strip_suffix("_roas") == Some(stage) {
            wire.fixed(ratio(value_m, all.spend_m, 2), 2)
        } else {
            continue;
        };
        return Some(cell);
    }
    None
}

/// Other declared numeric metrics: rates a stable share of the clicks per impression; values
/// and costs a stable multiple of the vouchers' value, counts of the clicks. Whole multiples of
/// summed figures, so that every count and value adds up across levels as TikTok's do.
fn other_metric(other: &str, wire: Wire, t: &Totals) -> Cell {
    let money = |m: u64| wire.fixed(m, 3);
    let rate = |num: u64, den: u64| wire.fixed(ratio(num * 100, den, 2), 2);
    let share = str_hash(other) % 200;
    if other.contains("rate") {
        rate(t.clicks * (1 + share) / 100, t.impressions)
    } else if other.contains("value") || other.starts_with("cost") {
        money(t.voucher_m * (1 + share % 3))
    } else {
        wire.int(t.clicks * (share % 3))
    }
}

/// Whether `value` is the last of its breakdown dimension's values (left empty when the model
/// says so).
fn is_last_breakdown_value(dim: &str, value: &str) -> bool {
    let list = match dim {
        "gender" => GENDERS,
        "age" => AGES,
        "country_code" => COUNTRIES,
        "platform" => PLATFORMS,
        "province_id" => PROVINCES,
        _ => return false,
    };
    list.last() == Some(&value)
}

fn date_of_day(day: i64) -> String {
    chrono::DateTime::from_timestamp(day * 86_400, 0)
        .map(|d| d.date_naive().format("%Y-%m-%d").to_string())
        .unwrap_or_default()
}
