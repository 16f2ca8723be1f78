//! The deterministic entity data behind the simulated API: advertisers, campaigns, ad groups and
//! ads generated once from a [`SimConfig`] (seed and sizes), and their JSON as `advertiser/info/`
//! and `campaign|adgroup|ad/get/` return them. Everything is a pure function of the config; the
//! HTTP handlers only filter and paginate what this module renders.

use chrono::{NaiveDate, NaiveDateTime};
use serde_json::{json, Map, Value};

mod generate;

use super::assets::AssetSizes;
use super::SimConfig;
use generate::Generator;

/// splitmix64 finalizer: the one hash every generated value derives from.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Hash of a sequence of words.
pub(crate) fn hash(parts: &[u64]) -> u64 {
    parts.iter().fold(0x5EED_u64, |acc, &p| {
        mix(acc ^ p.wrapping_mul(0x2545_F491_4F6C_DD1D))
    })
}

/// FNV-1a of a string, for hashing names into the data.
pub(crate) fn str_hash(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The kinds of entity `*/get/` endpoints list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EntityKind {
    Campaign,
    AdGroup,
    Ad,
}

impl EntityKind {
    pub(crate) fn status_prefix(self) -> &'static str {
        match self {
            EntityKind::Campaign => "CAMPAIGN_STATUS",
            EntityKind::AdGroup => "ADGROUP_STATUS",
            EntityKind::Ad => "AD_STATUS",
        }
    }
}

/// A campaign's `buying_type`, which `campaign/get/` filters on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BuyingType {
    Auction,
    TopView,
    ReachFrequency,
}

impl BuyingType {
    pub(crate) const ALL: [BuyingType; 3] = [
        BuyingType::Auction,
        BuyingType::TopView,
        BuyingType::ReachFrequency,
    ];

    pub(crate) fn from_api(text: &str) -> Option<BuyingType> {
        BuyingType::ALL.into_iter().find(|b| b.as_api() == text)
    }

    pub(crate) fn as_api(self) -> &'static str {
        match self {
            BuyingType::Auction => "AUCTION",
            BuyingType::TopView => "RESERVATION_TOP_VIEW",
            BuyingType::ReachFrequency => "RESERVATION_RF",
        }
    }
}

/// When an entity exists and delivers. Times are advertiser-local epoch seconds; hours are
/// `seconds / 3600` (hour numbers since 1970-01-01 00:00 local).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Life {
    pub create_ts: i64,
    pub modify_ts: i64,
    pub deleted: bool,
    pub first_hour: i64,
    pub last_hour: i64,
}

impl Life {
    /// When the entity stops existing: its deletion, or the end of the history.
    fn end(&self, end_ts: i64) -> i64 {
        if self.deleted {
            self.modify_ts
        } else {
            end_ts
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Advertiser {
    pub id: u64,
    pub index: usize,
    pub name: String,
    pub h: u64,
    pub create_ts: i64,
    pub first_hour: i64,
    pub last_hour: i64,
    /// Never delivers (see [`DataShape::idle_account_share`](crate::DataShape::idle_account_share)).
    pub idle: bool,
    pub campaigns: Vec<Campaign>,
    pub adgroups: Vec<AdGroup>,
    pub ads: Vec<Ad>,
}

#[derive(Debug, Clone)]
pub(crate) struct Campaign {
    pub id: u64,
    pub name: String,
    pub h: u64,
    pub buying: BuyingType,
    pub life: Life,
}

#[derive(Debug, Clone)]
pub(crate) struct AdGroup {
    pub id: u64,
    pub campaign: u32,
    pub name: String,
    pub h: u64,
    pub life: Life,
}

#[derive(Debug, Clone)]
pub(crate) struct Ad {
    pub id: u64,
    pub campaign: u32,
    pub adgroup: u32,
    pub name: String,
    pub h: u64,
    pub life: Life,
}

/// The deterministic data of a simulated API. Pure: no I/O.
#[derive(Debug, Clone)]
pub struct Model {
    pub(crate) seed: u64,
    pub(crate) today: NaiveDate,
    pub(crate) days: u32,
    pub(crate) sandbox: bool,
    pub(crate) hourly_audience_refused: bool,
    pub(crate) buying_types: crate::BuyingTypes,
    pub(crate) empty_breakdown_values: bool,
    /// Ads one report processes at most (the most recently created ones).
    pub(crate) ads_cap: usize,
    /// See [`crate::MetricRules::max_metrics_per_query`].
    pub(crate) max_metrics_per_query: usize,
    /// See [`crate::MetricRules::refused`] and [`crate::MetricRules::refusal_wording`].
    pub(crate) refused_metrics: Vec<crate::RefusedMetric>,
    pub(crate) refusal_wording: crate::RefusalWording,
    /// Share of idle days of a delivering advertiser, in parts per 10,000.
    pub(crate) idle_day_parts: u64,
    pub(crate) assets: AssetSizes,
    pub(crate) advertisers: Vec<Advertiser>,
}

const ADJECTIVES: &[&str] = &[
    "Bold", "Bright", "Fresh", "Urban", "Cozy", "Swift", "Golden", "Wild", "Classic", "Neon",
];
const PRODUCTS: &[&str] = &[
    "Sneakers",
    "Skincare",
    "Headphones",
    "Coffee",
    "Backpacks",
    "Fitness App",
    "Snacks",
    "Streaming",
    "Sunglasses",
    "Plant Kits",
];
const THEMES: &[&str] = &[
    "Spring Sale",
    "Summer Drop",
    "Back to School",
    "Holiday Push",
    "Launch",
    "Retargeting",
    "Brand Awareness",
    "Always On",
];
const COMPANIES: &[&str] = &[
    "Acme Retail Ltd",
    "Northwind Goods Inc",
    "Blue Harbor Media",
    "Sunrise Apps GmbH",
    "Kite & Co",
    "Maple Street Brands",
];
/// (timezone, display_timezone, currency, country)
const LOCALES: &[(&str, &str, &str, &str)] = &[
    ("Etc/GMT+8", "America/Los_Angeles", "USD", "US"),
    ("Etc/GMT", "Europe/London", "GBP", "GB"),
    ("Etc/GMT-1", "Europe/Berlin", "EUR", "DE"),
    ("Etc/GMT-9", "Asia/Tokyo", "JPY", "JP"),
    ("Etc/GMT+5", "America/New_York", "USD", "US"),
    ("Etc/GMT-7", "Asia/Jakarta", "IDR", "ID"),
];
const OBJECTIVES: &[&str] = &[
    "TRAFFIC",
    "CONVERSIONS",
    "REACH",
    "VIDEO_VIEWS",
    "APP_PROMOTION",
    "LEAD_GENERATION",
    "ENGAGEMENT",
];
const CTAS: &[&str] = &["LEARN_MORE", "SHOP_NOW", "DOWNLOAD", "SIGN_UP", "ORDER_NOW"];
const OPT_GOALS: &[&str] = &["CLICK", "CONVERT", "REACH", "SHOW", "INSTALL", "VALUE"];

fn pick<'a>(list: &[&'a str], h: u64) -> &'a str {
    list[(h % list.len() as u64) as usize]
}

/// `YYYY-MM-DD HH:MM:SS` of advertiser-local epoch seconds.
pub(crate) fn fmt_ts(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0)
        .map(|dt| dt.naive_utc().format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_default()
}

pub(crate) fn day_start_ts(day: NaiveDate) -> i64 {
    day.and_hms_opt(0, 0, 0)
        .map(|dt: NaiveDateTime| dt.and_utc().timestamp())
        .unwrap_or(0)
}

/// Day number (days since 1970-01-01) of a date.
pub(crate) fn day_num(day: NaiveDate) -> i64 {
    day_start_ts(day).div_euclid(86_400)
}

/// Base of each kind's ids (19 digits), the seed's slice and the running index are added.
const ADVERTISER_BASE: u64 = 7_000_000_000_000_000_000;
const CAMPAIGN_BASE: u64 = 1_781_000_000_000_000_000;
const ADGROUP_BASE: u64 = 1_782_000_000_000_000_000;
const AD_BASE: u64 = 1_783_000_000_000_000_000;

impl Model {
    /// Generates the data of `cfg` (sizes, seed, today, deletions). Deterministic: the
    /// `Generator` walks advertisers, campaigns, ad groups and ads in one order.
    pub fn new(cfg: &SimConfig) -> Model {
        let seed = cfg.seed;
        let days = cfg.data.days.max(1);
        let today = cfg.today;
        let first_day = today - chrono::Duration::days(days as i64 - 1);
        let first_ts = day_start_ts(first_day);
        let end_ts = day_start_ts(today) + 86_399;
        let mut generator = Generator {
            data: &cfg.data,
            seed,
            slice: (mix(seed) % 100_000) * 10_000_000_000,
            first_ts,
            end_ts,
            campaigns: 0,
            adgroups: 0,
            ads: 0,
        };
        let idle_accounts = idle_accounts(seed, cfg.data.advertisers, cfg.data.idle_account_share);
        let mut advertisers = Vec::with_capacity(cfg.data.advertisers);
        for (a, &idle) in idle_accounts.iter().enumerate() {
            advertisers.push(generator.advertiser(a, idle));
        }
        Model {
            seed,
            today,
            days,
            sandbox: cfg.api.sandbox,
            hourly_audience_refused: cfg.api.hourly_audience_refused,
            buying_types: cfg.api.buying_types,
            empty_breakdown_values: cfg.api.empty_breakdown_values,
            ads_cap: cfg.api.ads_cap.max(1),
            max_metrics_per_query: cfg.api.metrics.max_metrics_per_query,
            refused_metrics: cfg.api.metrics.refused.clone(),
            refusal_wording: cfg.api.metrics.refusal_wording,
            idle_day_parts: share_parts(cfg.data.idle_day_share),
            assets: AssetSizes::of(cfg),
            advertisers,
        }
    }

    /// Whether a day (day number since 1970-01-01, in the advertiser's own time zone) is open
    /// to delivery: never for an idle account, and not on its idle days. Only its ads deliver:
    /// an open day before its first ad or after its last has no rows either (whether any row
    /// does is [`Model::advertiser_delivers_on`]).
    pub(crate) fn open_to_delivery(&self, adv: &Advertiser, day: i64) -> bool {
        !adv.idle
            && (self.idle_day_parts == 0
                || hash(&[self.seed ^ 0x1D1E, adv.id, day as u64]) % 10_000 >= self.idle_day_parts)
    }

    /// The first day with data.
    pub fn first_day(&self) -> NaiveDate {
        self.today - chrono::Duration::days(self.days as i64 - 1)
    }

    /// Every advertiser id, in order.
    pub fn advertiser_ids(&self) -> Vec<u64> {
        self.advertisers.iter().map(|a| a.id).collect()
    }

    pub(crate) fn advertiser(&self, id: u64) -> Option<&Advertiser> {
        // Ids are consecutive from the base; fall back to a scan for safety.
        let first = self.advertisers.first()?.id;
        let guess = id.checked_sub(first).map(|i| i as usize);
        match guess.and_then(|i| self.advertisers.get(i)) {
            Some(a) if a.id == id => Some(a),
            _ => self.advertisers.iter().find(|a| a.id == id),
        }
    }

    /// The `advertiser/info/` object of one advertiser.
    pub(crate) fn advertiser_info(&self, id: u64) -> Option<Value> {
        let a = self.advertiser(id)?;
        let (tz, display_tz, currency, country) = LOCALES[a.index % LOCALES.len()];
        let company = pick(COMPANIES, a.h >> 8);
        let balance_cents = a.h % 5_000_000;
        Some(json!({
            "advertiser_id": a.id.to_string(),
            "name": a.name,
            "company": company,
            "status": if a.index % 4 == 3 { "STATUS_LIMIT" } else { "STATUS_ENABLE" },
            "role": "ROLE_ADVERTISER",
            "currency": currency,
            "timezone": tz,
            "display_timezone": display_tz,
            "country": country,
            "language": "en",
            "industry": format!("29{:04}", a.h % 10_000),
            "address": format!("{} Market Street, Suite {}", 100 + a.h % 900, 1 + (a.h >> 12) % 50),
            "contacter": "Sim Contact",
            "email": format!("a***{}@example.com", a.index + 1),
            "cellphone_number": "+1***0000",
            "telephone_number": "",
            "license_no": "",
            "license_url": null,
            "description": format!("Simulated advertiser {} of {}", a.index + 1, company),
            "rejection_reason": "",
            "balance": cents_number(balance_cents),
            "create_time": a.create_ts,
        }))
    }

    /// Campaigns, ad groups or ads of an advertiser as `*/get/` returns them, every buying type,
    /// in id order; deleted ones only with `include_deleted`.
    pub fn entities(
        &self,
        kind: EntityKind,
        advertiser_id: u64,
        include_deleted: bool,
    ) -> Vec<Value> {
        let Some(adv) = self.advertiser(advertiser_id) else {
            return Vec::new();
        };
        let n = self.entity_count(adv, kind);
        (0..n)
            .filter(|&i| include_deleted || !self.entity_life(adv, kind, i).deleted)
            .map(|i| self.render_entity(adv, kind, i))
            .collect()
    }

    pub(crate) fn entity_count(&self, adv: &Advertiser, kind: EntityKind) -> usize {
        match kind {
            EntityKind::Campaign => adv.campaigns.len(),
            EntityKind::AdGroup => adv.adgroups.len(),
            EntityKind::Ad => adv.ads.len(),
        }
    }

    pub(crate) fn entity_life(&self, adv: &Advertiser, kind: EntityKind, i: usize) -> Life {
        match kind {
            EntityKind::Campaign => adv.campaigns[i].life,
            EntityKind::AdGroup => adv.adgroups[i].life,
            EntityKind::Ad => adv.ads[i].life,
        }
    }

    /// `secondary_status` of an entity.
    pub(crate) fn secondary_status(
        &self,
        adv: &Advertiser,
        kind: EntityKind,
        i: usize,
    ) -> &'static str {
        match kind {
            EntityKind::Campaign => {
                let c = &adv.campaigns[i];
                if c.life.deleted {
                    "CAMPAIGN_STATUS_DELETE"
                } else if campaign_disabled(c) {
                    "CAMPAIGN_STATUS_DISABLE"
                } else {
                    "CAMPAIGN_STATUS_ENABLE"
                }
            }
            EntityKind::AdGroup => {
                let g = &adv.adgroups[i];
                if g.life.deleted {
                    "ADGROUP_STATUS_DELETE"
                } else if campaign_disabled(&adv.campaigns[g.campaign as usize]) {
                    "ADGROUP_STATUS_CAMPAIGN_DISABLE"
                } else if g.h % 6 == 1 {
                    "ADGROUP_STATUS_DISABLE"
                } else {
                    "ADGROUP_STATUS_DELIVERY_OK"
                }
            }
            EntityKind::Ad => {
                let ad = &adv.ads[i];
                let g = &adv.adgroups[ad.adgroup as usize];
                if ad.life.deleted {
                    "AD_STATUS_DELETE"
                } else if campaign_disabled(&adv.campaigns[ad.campaign as usize]) {
                    "AD_STATUS_CAMPAIGN_DISABLE"
                } else if g.h % 6 == 1 {
                    "AD_STATUS_ADGROUP_DISABLE"
                } else if ad.h % 7 == 2 {
                    "AD_STATUS_DISABLE"
                } else {
                    "AD_STATUS_DELIVERY_OK"
                }
            }
        }
    }

    /// One entity as `*/get/` returns it: its status, then the kind's own record.
    pub(crate) fn render_entity(&self, adv: &Advertiser, kind: EntityKind, i: usize) -> Value {
        let status = self.secondary_status(adv, kind, i);
        let operation = if status.ends_with("_DELETE") || status.ends_with("STATUS_DISABLE") {
            "DISABLE"
        } else {
            "ENABLE"
        };
        match kind {
            EntityKind::Campaign => self.render_campaign(adv, i, status, operation),
            EntityKind::AdGroup => self.render_adgroup(adv, i, status, operation),
            EntityKind::Ad => self.render_ad(adv, i, status, operation),
        }
    }

    /// A campaign as `campaign/get/` returns it.
    fn render_campaign(&self, adv: &Advertiser, i: usize, status: &str, operation: &str) -> Value {
        let c = &adv.campaigns[i];
        let h = c.h;
        let daily = h % 2 == 0;
        json!({
            "advertiser_id": adv.id.to_string(),
            "campaign_id": c.id.to_string(),
            "campaign_name": c.name,
            "campaign_type": "REGULAR_CAMPAIGN",
            "objective_type": objective(c),
            "buying_type": c.buying.as_api(),
            "budget": cents_number(if daily { 5_000 + (h >> 8) % 50_000 } else { 0 }),
            "budget_mode": if daily { "BUDGET_MODE_DAY" } else { "BUDGET_MODE_INFINITE" },
            "operation_status": operation,
            "secondary_status": status,
            "is_new_structure": true,
            "is_smart_performance_campaign": h % 5 == 0,
            "is_search_campaign": false,
            "app_promotion_type": "UNSET",
            "rf_campaign_type": if c.buying == BuyingType::ReachFrequency { "STANDARD" } else { "UNSET" },
            "special_industries": [],
            "deep_bid_type": null,
            "roas_bid": 0.0,
            "create_time": fmt_ts(c.life.create_ts),
            "modify_time": fmt_ts(c.life.modify_ts),
        })
    }

    /// An ad group as `adgroup/get/` returns it.
    fn render_adgroup(&self, adv: &Advertiser, i: usize, status: &str, operation: &str) -> Value {
        let g = &adv.adgroups[i];
        let c = &adv.campaigns[g.campaign as usize];
        let h = g.h;
        let goal = pick(OPT_GOALS, h >> 8);
        let app = goal == "INSTALL";
        json!({
            "advertiser_id": adv.id.to_string(),
            "campaign_id": c.id.to_string(),
            "campaign_name": c.name,
            "adgroup_id": g.id.to_string(),
            "adgroup_name": g.name,
            "placement_type": placement_type(h),
            "placements": ["PLACEMENT_TIKTOK"],
            "promotion_type": if app { "APP_ANDROID" } else { "WEBSITE" },
            "location_ids": [pick(&["6252001", "2635167", "2921044", "1861060"], h)],
            "gender": pick(&["GENDER_UNLIMITED", "GENDER_MALE", "GENDER_FEMALE"], h >> 2),
            "age_groups": ["AGE_18_24", "AGE_25_34", "AGE_35_44"],
            "languages": ["en"],
            "budget": cents_number(2_000 + (h >> 16) % 20_000),
            "budget_mode": "BUDGET_MODE_DAY",
            "schedule_type": "SCHEDULE_FROM_NOW",
            "schedule_start_time": fmt_ts(g.life.create_ts),
            "schedule_end_time": fmt_ts(g.life.create_ts + 10 * 365 * 86_400),
            "dayparting": "1".repeat(336),
            "optimization_goal": goal,
            "billing_event": if goal == "CLICK" { "CPC" } else { "OCPM" },
            "bid_type": "BID_TYPE_NO_BID",
            "bid_price": 0.0,
            "conversion_bid_price": 0.0,
            "pacing": "PACING_MODE_SMOOTH",
            "operation_status": operation,
            "secondary_status": status,
            "app_id": if app { Value::String(format!("{}", 7_100_000_000_000_000_000 + h % 1_000_000)) } else { Value::Null },
            "pixel_id": if app { Value::Null } else { Value::String(format!("{}", 7_200_000_000_000_000_000 + h % 1_000_000)) },
            "frequency": null,
            "frequency_schedule": null,
            "is_new_structure": true,
            "create_time": fmt_ts(g.life.create_ts),
            "modify_time": fmt_ts(g.life.modify_ts),
        })
    }

    /// An ad as `ad/get/` returns it.
    fn render_ad(&self, adv: &Advertiser, i: usize, status: &str, operation: &str) -> Value {
        let ad = &adv.ads[i];
        let g = &adv.adgroups[ad.adgroup as usize];
        let c = &adv.campaigns[ad.campaign as usize];
        let h = ad.h;
        json!({
            "advertiser_id": adv.id.to_string(),
            "campaign_id": c.id.to_string(),
            "campaign_name": c.name,
            "adgroup_id": g.id.to_string(),
            "adgroup_name": g.name,
            "ad_id": ad.id.to_string(),
            "ad_name": ad.name,
            "ad_text": ad_text(ad),
            "ad_format": "SINGLE_VIDEO",
            "call_to_action": pick(CTAS, h >> 4),
            "display_name": adv.name,
            "identity_type": "CUSTOMIZED_USER",
            "identity_id": format!("{}", 7_300_000_000_000_000_000 + adv.index as u64),
            "video_id": format!("v10033g50000{:016x}", h),
            "image_ids": [format!("ad-site-i18n-sg/{:016x}", h >> 3)],
            "landing_page_url": format!("https://shop.example.com/p/{}?utm_source=tiktok", h % 100_000),
            "deeplink": "",
            "tracking_pixel_id": 0,
            "is_aco": false,
            "creative_authorized": h % 3 == 0,
            "operation_status": operation,
            "secondary_status": status,
            "create_time": fmt_ts(ad.life.create_ts),
            "modify_time": fmt_ts(ad.life.modify_ts),
        })
    }
}

/// A share from 0 to 1 in parts per 10,000 (out-of-range shares are clamped).
fn share_parts(share: f64) -> u64 {
    (share.clamp(0.0, 1.0) * 10_000.0).round() as u64
}

/// Which of `count` advertisers are idle: the `share` of them (rounded) whose hash by the seed
/// is lowest, so the count is exact and the choice changes with the seed.
fn idle_accounts(seed: u64, count: usize, share: f64) -> Vec<bool> {
    let idle_count = (share.clamp(0.0, 1.0) * count as f64).round() as usize;
    let mut ranked: Vec<(u64, usize)> = (0..count)
        .map(|a| (hash(&[seed ^ 0x1D1E, 0xAC, a as u64]), a))
        .collect();
    ranked.sort_unstable();
    let mut idle = vec![false; count];
    for &(_, a) in ranked.iter().take(idle_count) {
        idle[a] = true;
    }
    idle
}

/// The account currency of an advertiser.
pub(crate) fn currency(adv: &Advertiser) -> &'static str {
    LOCALES[adv.index % LOCALES.len()].2
}

fn campaign_disabled(c: &Campaign) -> bool {
    c.h % 8 == 7
}

/// Whether an ad group promotes an app (its `promotion_type` is APP_ANDROID) rather than a
/// website.
pub(crate) fn promotes_app(g: &AdGroup) -> bool {
    g.h.wrapping_shr(8) % 6 == 4
}

/// The conversion funnels an ad group runs (see [`crate::catalog::Funnel`]): what it promotes
/// decides between the app funnel and the website one; its campaign's objective adds TikTok
/// Shop (CONVERSIONS: product sales), offline events (LEAD_GENERATION) and messaging
/// (LEAD_GENERATION, ENGAGEMENT).
pub(crate) fn adgroup_funnels(c: &Campaign, g: &AdGroup) -> crate::catalog::Funnels {
    use crate::catalog::Funnel;
    let mut funnels = if promotes_app(g) {
        Funnel::App.bit()
    } else {
        Funnel::Website.bit()
    };
    match objective(c) {
        "CONVERSIONS" => funnels |= Funnel::Shop.bit(),
        "LEAD_GENERATION" => funnels |= Funnel::Offline.bit() | Funnel::Messaging.bit(),
        "ENGAGEMENT" => funnels |= Funnel::Messaging.bit(),
        _ => {}
    }
    funnels
}

pub(crate) fn objective(c: &Campaign) -> &'static str {
    match c.buying {
        BuyingType::TopView => "REACH",
        BuyingType::ReachFrequency => "RF_REACH",
        BuyingType::Auction => pick(OBJECTIVES, c.h >> 24),
    }
}

pub(crate) fn placement_type(h: u64) -> &'static str {
    if h % 3 == 0 {
        "PLACEMENT_TYPE_NORMAL"
    } else {
        "PLACEMENT_TYPE_AUTOMATIC"
    }
}

pub(crate) fn ad_text(ad: &Ad) -> String {
    format!(
        "{} {} - {} today!",
        pick(ADJECTIVES, ad.h >> 12),
        pick(PRODUCTS, ad.h >> 20),
        pick(
            &["Shop now", "Try it free", "Get yours", "See more"],
            ad.h >> 28
        )
    )
}

/// A JSON number with two decimals from cents.
pub(crate) fn cents_number(cents: u64) -> Value {
    let text = format!("{}.{:02}", cents / 100, cents % 100);
    serde_json::from_str::<serde_json::Number>(&text)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// Keeps only `fields` of a rendered object, in the object's order.
pub(crate) fn restrict(value: Value, fields: &[String]) -> Value {
    match value {
        Value::Object(map) => {
            let out: Map<String, Value> = map
                .into_iter()
                .filter(|(k, _)| fields.iter().any(|f| f == k))
                .collect();
            Value::Object(out)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DataShape;

    fn cfg() -> SimConfig {
        SimConfig {
            today: NaiveDate::from_ymd_opt(2024, 6, 30).unwrap(),
            ..SimConfig::default()
        }
    }

    #[test]
    fn same_seed_same_data_other_seed_other_ids() {
        let a = Model::new(&cfg());
        let b = Model::new(&cfg());
        let ids = a.advertiser_ids();
        assert_eq!(ids, b.advertiser_ids());
        assert_eq!(ids.len(), 2);
        for id in &ids {
            assert_eq!(a.advertiser_info(*id), b.advertiser_info(*id));
            for kind in [EntityKind::Campaign, EntityKind::AdGroup, EntityKind::Ad] {
                assert_eq!(a.entities(kind, *id, true), b.entities(kind, *id, true));
            }
        }
        let c = Model::new(&SimConfig { seed: 99, ..cfg() });
        assert_ne!(c.advertiser_ids(), ids);
    }

    #[test]
    fn sizes_ids_and_times_are_realistic() {
        let m = Model::new(&cfg());
        let first = m.first_day().format("%Y-%m-%d 00:00:00").to_string();
        let last = "2024-06-30 23:59:59";
        let mut campaigns = 0;
        let mut ads = 0;
        for id in m.advertiser_ids() {
            let info = m.advertiser_info(id).unwrap();
            assert_eq!(info["advertiser_id"], Value::String(id.to_string()));
            let create = info["create_time"].as_i64().unwrap();
            assert!(create <= day_start_ts(m.first_day()));
            assert!(info.as_object().unwrap().len() >= 15);
            for kind in [EntityKind::Campaign, EntityKind::AdGroup, EntityKind::Ad] {
                for e in m.entities(kind, id, true) {
                    let key = match kind {
                        EntityKind::Campaign => "campaign_id",
                        EntityKind::AdGroup => "adgroup_id",
                        EntityKind::Ad => "ad_id",
                    };
                    let eid = e[key].as_str().unwrap();
                    assert!((16..=19).contains(&eid.len()), "{eid}");
                    let ct = e["create_time"].as_str().unwrap();
                    let mt = e["modify_time"].as_str().unwrap();
                    assert!(ct >= first.as_str() && ct <= last, "{ct}");
                    assert!(mt >= ct && mt <= last, "{mt} < {ct}");
                }
            }
            campaigns += m.entities(EntityKind::Campaign, id, true).len();
            ads += m.entities(EntityKind::Ad, id, true).len();
        }
        assert_eq!(campaigns, 6);
        assert_eq!(ads, 24);
    }

    #[test]
    fn every_fifth_entity_is_deleted_and_children_follow() {
        let m = Model::new(&cfg());
        let mut deleted_ads = 0;
        for id in m.advertiser_ids() {
            let all = m.entities(EntityKind::Ad, id, true);
            let live = m.entities(EntityKind::Ad, id, false);
            deleted_ads += all.len() - live.len();
            for ad in &all {
                let deleted = ad["secondary_status"] == "AD_STATUS_DELETE";
                assert_eq!(deleted, !live.contains(ad));
            }
        }
        // Ads 5, 10, 15, 20 are deleted, plus the children of deleted ad groups and campaigns.
        assert!(deleted_ads >= 4, "{deleted_ads}");
        let none = Model::new(&SimConfig {
            data: DataShape {
                deleted_every: 0,
                ..cfg().data
            },
            ..cfg()
        });
        for id in none.advertiser_ids() {
            assert_eq!(
                none.entities(EntityKind::Ad, id, true).len(),
                none.entities(EntityKind::Ad, id, false).len()
            );
        }
    }
}
