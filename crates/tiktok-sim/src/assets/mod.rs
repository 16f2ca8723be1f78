//! The non-report, non-entity data of each simulated advertiser (the extra list streams): custom
//! audiences, the creative library (images, videos, music, portfolios), Spark Ads posts, pixels,
//! the instant-page events of objective/goal combinations and pixel event statistics. Every record
//! is a pure function of the seed, the advertiser and its index in the list, rendered on demand
//! by the same `render_asset` the HTTP pages use; the refusals the real API answers (production
//! only endpoints in sandbox, advertisers without pixel permission, unsupported objective/goal
//! combinations, bad pixel statistics windows) are decided here too, so the public accessors
//! return exactly what the server would.

mod records;

use chrono::NaiveDate;
use serde_json::{json, Value};

use super::model::{
    cents_number, currency, day_num, day_start_ts, fmt_ts, hash, mix, str_hash, Advertiser, Model,
};
use super::SimConfig;

type ApiError = (i64, String);

/// The paginated per-advertiser lists besides campaigns, ad groups and ads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssetKind {
    /// `dmp/custom_audience/list/`, id `audience_id`.
    Audience,
    /// `file/image/ad/search/`, id `image_id`.
    Image,
    /// `file/video/ad/search/`, id `video_id`.
    Video,
    /// `file/music/get/`, id `music_id`, records at `data.musics`.
    Music,
    /// `creative/portfolio/list/`, id `creative_portfolio_id`, records at
    /// `data.creative_portfolios`.
    Portfolio,
    /// `tt_video/list/` (production only), id `item_info.item_id`.
    SparkPost,
    /// `pixel/list/` (production only, needs pixel permission), id `pixel_id`, records at
    /// `data.pixels`.
    Pixel,
}

impl AssetKind {
    pub const ALL: [AssetKind; 7] = [
        AssetKind::Audience,
        AssetKind::Image,
        AssetKind::Video,
        AssetKind::Music,
        AssetKind::Portfolio,
        AssetKind::SparkPost,
        AssetKind::Pixel,
    ];

    /// The endpoint, relative to `/open_api/v1.3/`.
    pub fn path(self) -> &'static str {
        match self {
            AssetKind::Audience => "dmp/custom_audience/list/",
            AssetKind::Image => "file/image/ad/search/",
            AssetKind::Video => "file/video/ad/search/",
            AssetKind::Music => "file/music/get/",
            AssetKind::Portfolio => "creative/portfolio/list/",
            AssetKind::SparkPost => "tt_video/list/",
            AssetKind::Pixel => "pixel/list/",
        }
    }

    pub fn from_path(path: &str) -> Option<AssetKind> {
        AssetKind::ALL.into_iter().find(|k| k.path() == path)
    }

    /// The key of the records array inside `data`.
    pub fn list_key(self) -> &'static str {
        match self {
            AssetKind::Music => "musics",
            AssetKind::Portfolio => "creative_portfolios",
            AssetKind::Pixel => "pixels",
            _ => "list",
        }
    }

    /// The largest `page_size` the endpoint accepts.
    pub fn max_page_size(self) -> u64 {
        crate::rules::max_page_size(self.path())
    }

    /// The id field of a record (`item_info.item_id` is nested for Spark Ads posts).
    pub fn id_field(self) -> &'static str {
        match self {
            AssetKind::Audience => "audience_id",
            AssetKind::Image => "image_id",
            AssetKind::Video => "video_id",
            AssetKind::Music => "music_id",
            AssetKind::Portfolio => "creative_portfolio_id",
            AssetKind::SparkPost => "item_info.item_id",
            AssetKind::Pixel => "pixel_id",
        }
    }

    /// Sandbox answers 40014 for these.
    pub fn production_only(self) -> bool {
        matches!(self, AssetKind::SparkPost | AssetKind::Pixel)
    }

    fn code(self) -> u64 {
        20 + self as u64
    }
}

/// How many records of each kind an advertiser has, and which advertisers lack pixel permission.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct AssetSizes {
    pub audiences: usize,
    pub images: usize,
    pub videos: usize,
    pub music: usize,
    pub portfolios: usize,
    pub spark_posts: usize,
    pub pixels: usize,
    pub pixel_denied_every: usize,
}

impl AssetSizes {
    pub(crate) fn of(cfg: &SimConfig) -> AssetSizes {
        AssetSizes {
            audiences: cfg.assets.audiences_per_advertiser,
            images: cfg.assets.images_per_advertiser,
            videos: cfg.assets.videos_per_advertiser,
            music: cfg.assets.music_per_advertiser,
            portfolios: cfg.assets.portfolios_per_advertiser,
            spark_posts: cfg.assets.spark_posts_per_advertiser,
            pixels: cfg.assets.pixels_per_advertiser,
            pixel_denied_every: cfg.assets.pixel_denied_every,
        }
    }

    fn count(&self, kind: AssetKind) -> usize {
        match kind {
            AssetKind::Audience => self.audiences,
            AssetKind::Image => self.images,
            AssetKind::Video => self.videos,
            AssetKind::Music => self.music,
            AssetKind::Portfolio => self.portfolios,
            AssetKind::SparkPost => self.spark_posts,
            AssetKind::Pixel => self.pixels,
        }
    }
}

/// The `objective_type` values `pixel/instant_page/event/` accepts: TikTok's campaign objectives,
/// reservation ones included (the `objective_type` enum of `campaign/get/` in TikTok's SDK,
/// tiktok/tiktok-business-api-sdk).
pub const OBJECTIVE_TYPES: &[&str] = &[
    "APP_PROMOTION",
    "WEB_CONVERSIONS",
    "REACH",
    "TRAFFIC",
    "VIDEO_VIEWS",
    "PRODUCT_SALES",
    "ENGAGEMENT",
    "LEAD_GENERATION",
    "RF_REACH",
    "TOPVIEW_REACH",
];

/// The `optimization_goal` values `pixel/instant_page/event/` accepts: TikTok's ad group
/// optimization goals (the `optimization_goal` enum of `adgroup/get/` in TikTok's SDK).
pub const OPTIMIZATION_GOALS: &[&str] = &[
    "CLICK",
    "CONVERT",
    "INSTALL",
    "IN_APP_EVENT",
    "SHOW",
    "REACH",
    "LEAD_GENERATION",
    "CONVERSATION",
    "FOLLOWERS",
    "PAGE_VISIT",
    "VALUE",
    "AUTOMATIC_VALUE_OPTIMIZATION",
    "GMV",
    "PURCHASES",
    "INITIATE_CHECKOUTS",
    "MT_LIVE_ROOM",
    "PRODUCT_CLICK_IN_LIVE",
    "ENGAGED_VIEW",
    "ENGAGED_VIEW_FIFTEEN",
    "TRAFFIC_LANDING_PAGE_VIEW",
    "DESTINATION_VISIT",
    "PREFERRED_LEAD",
];

/// Does `pixel/instant_page/event/` serve this combination (else 40002)? A fixed property of the
/// simulated API, independent of seed and advertiser: about half of the 220 combinations.
pub(crate) fn instant_page_combination_supported(
    objective_type: &str,
    optimization_goal: &str,
) -> bool {
    OBJECTIVE_TYPES.contains(&objective_type)
        && OPTIMIZATION_GOALS.contains(&optimization_goal)
        && mix(str_hash(&format!("{objective_type}/{optimization_goal}"))) % 2 == 0
}

/// The most days a `pixel/event/stats/` window may span.
pub(crate) const MAX_PIXEL_STATS_DAYS: i64 = 30;
/// The most ids in one `pixel_ids`.
pub(crate) const MAX_PIXEL_IDS: usize = 20;

const AUDIENCE_BASE: u64 = 1_784_000_000_000_000_000;
const IMAGE_MATERIAL_BASE: u64 = 1_785_000_000_000_000_000;
const VIDEO_MATERIAL_BASE: u64 = 1_786_000_000_000_000_000;
const MUSIC_BASE: u64 = 1_787_000_000_000_000_000;
const MUSIC_MATERIAL_BASE: u64 = 1_788_000_000_000_000_000;
/// 18 digits, like the recorded fixture.
const PORTFOLIO_BASE: u64 = 170_000_000_000_000_000;
const SPARK_ITEM_BASE: u64 = 7_400_000_000_000_000_000;
const PIXEL_BASE: u64 = 7_210_000_000_000_000_000;
const PIXEL_EVENT_BASE: u64 = 7_220_000_000_000_000_000;

const AUDIENCE_TYPES: &[&str] = &[
    "Customer File Audience",
    "Engagement Audience",
    "Website Traffic Audience",
    "App Activity Audience",
    "Lookalike Audience",
    "Lead Generation Audience",
];
const CALCULATE_TYPES: &[&str] = &[
    "EMAIL_SHA256",
    "PHONE_SHA256",
    "IDFA_SHA256",
    "GAID_SHA256",
    "MULTIPLE_TYPES",
];
const IMAGE_SIZES: &[(u32, u32)] = &[(720, 1280), (1080, 1920), (1200, 628), (640, 640)];
const VIDEO_SIZES: &[(u32, u32)] = &[(720, 1280), (1080, 1920), (1280, 720), (540, 960)];
const PLACEMENTS: &[&str] = &[
    "PLACEMENT_TIKTOK",
    "PLACEMENT_PANGLE",
    "PLACEMENT_GLOBAL_APP_BUNDLE",
];
const MUSIC_STYLES: &[&str] = &["rock", "pop", "electronic", "hip hop", "ambient", "jazz"];
const PORTFOLIO_TYPES: &[&str] = &["CTA", "CARD", "GIFT_CODE", "DOWNLOAD_CARD", "STICKER"];
const TIKTOK_NAMES: &[&str] = &[
    "sunny.creates",
    "daily_drops",
    "maker.mika",
    "the_trend_lab",
    "citycook",
];
/// Standard pixel events: (type, event code, name).
const PIXEL_EVENTS: &[(&str, &str, &str)] = &[
    ("COMPLETE_PAYMENT", "CompletePayment", "Complete Payment"),
    ("ADD_TO_CART", "AddToCart", "Add to Cart"),
    ("VIEW_CONTENT", "ViewContent", "View Content"),
    ("SUBMIT_FORM", "SubmitForm", "Submit Form"),
    ("CLICK_BUTTON", "ClickButton", "Click Button"),
    ("INITIATE_CHECKOUT", "InitiateCheckout", "Initiate Checkout"),
    (
        "COMPLETE_REGISTRATION",
        "CompleteRegistration",
        "Complete Registration",
    ),
    ("PAGE_VIEW", "Pageview", "Page View"),
];
/// Events an instant page can report: (event_type, name).
const INSTANT_PAGE_EVENTS: &[(&str, &str)] = &[
    ("PAGE_VIEW", "Instant Page View"),
    ("CLICK_BUTTON", "Click Button"),
    ("CLICK_LANDING_PAGE", "Click to Landing Page"),
    ("SUBMIT_FORM", "Submit Form"),
    ("CLICK_DOWNLOAD", "Click Download"),
    ("CLICK_PRODUCT", "Click Product"),
    ("CLICK_CALL", "Click to Call"),
    ("STAY_5S", "Stay 5 Seconds"),
];

fn pick<T: Copy>(list: &[T], h: u64) -> T {
    list[(h % list.len() as u64) as usize]
}

/// 32 hex digits, like an MD5 signature.
fn signature(h: u64) -> String {
    format!("{:016x}{:016x}", mix(h ^ 0x5161), mix(h ^ 0x5162))
}

/// The answer of production-only endpoints in sandbox.
pub(crate) fn sandbox_refusal() -> ApiError {
    (
        40014,
        "This API is not supported in sandbox environment.".into(),
    )
}

/// What every asset record draws from its kind, account and position: the hash `h`, the
/// position among all accounts' assets of its kind (`global`), the seed's id slice and the
/// creation and modification times.
#[derive(Clone, Copy)]
struct Drawn {
    h: u64,
    global: u64,
    slice: u64,
    create: i64,
    modify: i64,
}

impl Model {
    fn asset_h(&self, adv: &Advertiser, kind: AssetKind, i: usize) -> u64 {
        hash(&[self.seed, kind.code(), adv.index as u64, i as u64])
    }

    /// A record's global number, for ids: advertisers do not share ids.
    fn asset_global(&self, adv: &Advertiser, kind: AssetKind, i: usize) -> u64 {
        (adv.index * self.assets.count(kind).max(1) + i) as u64
    }

    fn id_slice(&self) -> u64 {
        (mix(self.seed) % 100_000) * 10_000_000_000
    }

    fn end_ts(&self) -> i64 {
        day_start_ts(self.today) + 86_399
    }

    /// `(create_ts, modify_ts)` of a record made after the advertiser and before today's end.
    fn asset_times(&self, adv: &Advertiser, h: u64) -> (i64, i64) {
        let end = self.end_ts();
        let span = (end - adv.create_ts).max(1) as u64;
        let create = adv.create_ts + (h >> 7) as i64 % span as i64;
        let modify = create + ((h >> 29) % (end - create + 1).max(1) as u64) as i64;
        (create, modify)
    }

    /// Does the advertiser have permission to read pixels? With `pixel_denied_every = N` (> 0)
    /// advertisers number N, 2N, ... (1-based, in id order) do not. Unknown advertisers: false.
    pub fn pixel_permission(&self, advertiser_id: u64) -> bool {
        let every = self.assets.pixel_denied_every;
        self.advertiser(advertiser_id)
            .is_some_and(|a| every == 0 || (a.index + 1) % every != 0)
    }

    /// The advertiser of a request to a `kind` endpoint, or the refusal it gets: 40014 in sandbox
    /// for production-only endpoints, 40001 for unknown advertisers and (pixel endpoints) for
    /// advertisers without pixel permission.
    pub(crate) fn asset_access(
        &self,
        advertiser_id: u64,
        production_only: bool,
        pixel: bool,
    ) -> Result<&Advertiser, ApiError> {
        if production_only && self.sandbox {
            return Err(sandbox_refusal());
        }
        let Some(adv) = self.advertiser(advertiser_id) else {
            return Err((
                40001,
                format!(
                    "No permission to operate advertiser {advertiser_id}. Please check the advertiser authorization."
                ),
            ));
        };
        if pixel && !self.pixel_permission(advertiser_id) {
            return Err((
                40001,
                format!("No permission to operate pixels of advertiser {advertiser_id}."),
            ));
        }
        Ok(adv)
    }

    /// How many `kind` records an advertiser has (every advertiser has the configured count).
    pub(crate) fn asset_count(&self, kind: AssetKind) -> usize {
        self.assets.count(kind)
    }

    /// Every record of a `kind` endpoint for an advertiser, in the order the pages list them, or
    /// the refusal the endpoint answers (see [`AssetKind::production_only`],
    /// [`Model::pixel_permission`]).
    pub fn assets(&self, kind: AssetKind, advertiser_id: u64) -> Result<Vec<Value>, ApiError> {
        let adv = self.asset_access(
            advertiser_id,
            kind.production_only(),
            kind == AssetKind::Pixel,
        )?;
        Ok((0..self.asset_count(kind))
            .map(|i| self.render_asset(adv, kind, i))
            .collect())
    }

    /// Record `i` of a `kind` list: the values every kind draws, then the kind's own record.
    pub(crate) fn render_asset(&self, adv: &Advertiser, kind: AssetKind, i: usize) -> Value {
        let h = self.asset_h(adv, kind, i);
        let (create, modify) = self.asset_times(adv, h);
        let drawn = Drawn {
            h,
            global: self.asset_global(adv, kind, i),
            slice: self.id_slice(),
            create,
            modify,
        };
        match kind {
            AssetKind::Audience => self.render_audience(i, &drawn),
            AssetKind::Image => self.render_image(adv, i, &drawn),
            AssetKind::Video => self.render_video(adv, i, &drawn),
            AssetKind::Music => self.render_music(adv, i, &drawn),
            AssetKind::Portfolio => self.render_portfolio(&drawn),
            AssetKind::SparkPost => self.render_spark_post(adv, i, &drawn),
            AssetKind::Pixel => self.render_pixel(adv, i),
        }
    }

    fn pixel_id(&self, adv: &Advertiser, i: usize) -> u64 {
        PIXEL_BASE + self.id_slice() + self.asset_global(adv, AssetKind::Pixel, i)
    }

    fn pixel_code(h: u64) -> String {
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let mut x = h;
        let mut code = String::from("C");
        for k in 0..19 {
            if k % 12 == 11 {
                x = mix(x);
            }
            code.push(ALPHABET[(x % ALPHABET.len() as u64) as usize] as char);
            x /= ALPHABET.len() as u64;
        }
        code
    }

    /// Indexes into `PIXEL_EVENTS` of a pixel's events (2 to 5, distinct).
    fn pixel_event_indexes(h: u64) -> Vec<usize> {
        let n = 2 + (h >> 33) as usize % 4;
        let start = (h >> 37) as usize % PIXEL_EVENTS.len();
        (0..n).map(|k| (start + k) % PIXEL_EVENTS.len()).collect()
    }

    fn pixel_active(h: u64) -> bool {
        h % 4 != 3
    }

    /// Pixel `i` of an advertiser, its hash, number and create time drawn as for every asset.
    fn render_pixel(&self, adv: &Advertiser, i: usize) -> Value {
        let h = self.asset_h(adv, AssetKind::Pixel, i);
        let global = self.asset_global(adv, AssetKind::Pixel, i);
        let (create, _) = self.asset_times(adv, h);
        let events: Vec<Value> = Self::pixel_event_indexes(h)
            .into_iter()
            .enumerate()
            .map(|(k, e)| {
                let (etype, code, name) = PIXEL_EVENTS[e];
                let eh = mix(h ^ e as u64);
                json!({
                    "event_id": (PIXEL_EVENT_BASE + self.id_slice() + global * 8 + e as u64).to_string(),
                    "name": name,
                    "type": etype,
                    "event_code": code,
                    "statistic_type": if etype == "COMPLETE_REGISTRATION" || eh % 3 == 0 { "ONCE" } else { "EVERY_TIME" },
                    "optimization_event": etype,
                    "currency_value": if etype == "COMPLETE_PAYMENT" { cents_number(1_000 + eh % 9_000) } else { Value::Null },
                    "currency": currency(adv),
                    "rules": [],
                    "is_default": k == 0,
                })
            })
            .collect();
        json!({
            "pixel_id": self.pixel_id(adv, i).to_string(),
            "pixel_code": Self::pixel_code(h),
            "pixel_name": format!("{} pixel {}", adv.name, i + 1),
            "pixel_category": if h % 3 == 0 { "ONLINE_STORE" } else { "WEBSITE" },
            "pixel_setup_mode": pick(&["DEVELOPER", "MANUAL", "STANDARD"], h >> 3),
            "create_time": fmt_ts(create),
            "activity_status": if Self::pixel_active(h) { "ACTIVE" } else { "INACTIVE" },
            "advanced_matching_fields": {"email": h % 2 == 0, "phone_number": h % 5 == 1},
            "partner_name": null,
            "events": events,
        })
    }

    /// `pixel/instant_page/event/` for one combination: `data.list` (no pagination), or 40014 in
    /// sandbox, 40001 without pixel permission, 40002 for unknown values and unsupported
    /// combinations (`instant_page_combination_supported`). Each record:
    /// `{event_type, name, description, is_default}`; the events of a combination are fixed.
    pub fn instant_page_events(
        &self,
        advertiser_id: u64,
        objective_type: &str,
        optimization_goal: &str,
    ) -> Result<Vec<Value>, ApiError> {
        self.asset_access(advertiser_id, true, true)?;
        if !OBJECTIVE_TYPES.contains(&objective_type) {
            return Err((
                40002,
                format!("objective_type: invalid value {objective_type}"),
            ));
        }
        if !OPTIMIZATION_GOALS.contains(&optimization_goal) {
            return Err((
                40002,
                format!("optimization_goal: invalid value {optimization_goal}"),
            ));
        }
        if !instant_page_combination_supported(objective_type, optimization_goal) {
            return Err((
                40002,
                format!(
                    "unsupported objective_type/optimization_goal combination: {objective_type}/{optimization_goal}"
                ),
            ));
        }
        let h = str_hash(&format!("{objective_type}|{optimization_goal}"));
        let n = 2 + (h % 4) as usize;
        let start = (h >> 8) as usize % INSTANT_PAGE_EVENTS.len();
        Ok((0..n)
            .map(|k| {
                let (event_type, name) =
                    INSTANT_PAGE_EVENTS[(start + k) % INSTANT_PAGE_EVENTS.len()];
                json!({
                    "event_type": event_type,
                    "name": name,
                    "description": format!("{name} on an instant page ({optimization_goal} goal)"),
                    "is_default": k == 0,
                })
            })
            .collect())
    }

    /// `pixel/event/stats/` (no pagination): one record per requested pixel (in request order,
    /// duplicates once) and per event of that pixel (in `pixel/list/` order), counting what the
    /// pixel received over the inclusive window:
    /// `{pixel_id, pixel_code, event (the event's name), event_type, event_code, statistic_type,
    /// start_date, end_date, count}`. A pixel fires every day from its creation day on; inactive
    /// pixels count 0. Refusals: 40014 sandbox, 40001 unknown advertiser or no pixel permission,
    /// 40002 for an empty or too long `pixel_ids`, a pixel the advertiser does not own, or a
    /// window that is reversed, longer than 30 days or ends after today.
    pub(crate) fn pixel_event_stats(
        &self,
        advertiser_id: u64,
        pixel_ids: &[String],
        start_date: NaiveDate,
        end_date: NaiveDate,
    ) -> Result<Vec<Value>, ApiError> {
        let adv = self.asset_access(advertiser_id, true, true)?;
        self.check_pixel_stats_request(pixel_ids, start_date, end_date)?;
        let mut seen: Vec<&str> = Vec::new();
        let mut out = Vec::new();
        for id in pixel_ids {
            if seen.contains(&id.as_str()) {
                continue;
            }
            seen.push(id);
            let i = (0..self.asset_count(AssetKind::Pixel))
                .find(|&i| self.pixel_id(adv, i).to_string() == *id)
                .ok_or_else(|| {
                    (
                        40002,
                        format!(
                            "pixel_ids: pixel {id} does not exist or does not belong to advertiser {advertiser_id}."
                        ),
                    )
                })?;
            let h = self.asset_h(adv, AssetKind::Pixel, i);
            let (create, _) = self.asset_times(adv, h);
            let first_day = day_num(start_date).max(create.div_euclid(86_400));
            let last_day = day_num(end_date);
            let active = Self::pixel_active(h);
            for e in Self::pixel_event_indexes(h) {
                let (etype, code, name) = PIXEL_EVENTS[e];
                let scale = match etype {
                    "PAGE_VIEW" | "VIEW_CONTENT" => 5_000,
                    "CLICK_BUTTON" | "ADD_TO_CART" => 800,
                    _ => 120,
                };
                let count: u64 = if active {
                    (first_day..=last_day)
                        .map(|d| hash(&[self.seed, 0x51A7, h, e as u64, d as u64]) % scale)
                        .sum()
                } else {
                    0
                };
                let eh = mix(h ^ e as u64);
                out.push(json!({
                    "pixel_id": id,
                    "pixel_code": Self::pixel_code(h),
                    "event": name,
                    "event_type": etype,
                    "event_code": code,
                    "statistic_type": if etype == "COMPLETE_REGISTRATION" || eh % 3 == 0 { "ONCE" } else { "EVERY_TIME" },
                    "start_date": start_date.format("%Y-%m-%d").to_string(),
                    "end_date": end_date.format("%Y-%m-%d").to_string(),
                    "count": count,
                }));
            }
        }
        Ok(out)
    }

    /// The refusals of `pixel/event/stats/` about its request: 1 to [`MAX_PIXEL_IDS`] pixels, a
    /// window in order, of at most [`MAX_PIXEL_STATS_DAYS`] days, ending by today.
    fn check_pixel_stats_request(
        &self,
        pixel_ids: &[String],
        start_date: NaiveDate,
        end_date: NaiveDate,
    ) -> Result<(), ApiError> {
        if pixel_ids.is_empty() || pixel_ids.len() > MAX_PIXEL_IDS {
            return Err((
                40002,
                format!("pixel_ids: Length must be between 1 and {MAX_PIXEL_IDS}."),
            ));
        }
        if start_date > end_date {
            return Err((
                40002,
                "date_range: start_date must not be after end_date.".into(),
            ));
        }
        if (end_date - start_date).num_days() + 1 > MAX_PIXEL_STATS_DAYS {
            return Err((
                40002,
                format!("date_range: The time span cannot exceed {MAX_PIXEL_STATS_DAYS} days."),
            ));
        }
        if end_date > self.today {
            return Err((
                40002,
                "date_range: end_date cannot be later than today.".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ApiBehaviour, AssetCounts, DataShape};

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2024, 6, 30).unwrap()
    }

    fn cfg() -> SimConfig {
        SimConfig {
            today: today(),
            data: DataShape {
                advertisers: 8,
                ..Default::default()
            },
            ..SimConfig::default()
        }
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn id_of(kind: AssetKind, v: &Value) -> String {
        let v = match kind {
            AssetKind::SparkPost => &v["item_info"]["item_id"],
            _ => &v[kind.id_field()],
        };
        v.as_str().expect("ids are strings").to_string()
    }

    #[test]
    fn sizes_ids_and_times() {
        let m = Model::new(&cfg());
        let expected = [7, 25, 12, 5, 3, 6, 2];
        let first_allowed = m.advertiser_ids()[0];
        for (kind, n) in AssetKind::ALL.into_iter().zip(expected) {
            let mut seen = std::collections::HashSet::new();
            for adv in m.advertiser_ids() {
                let Ok(list) = m.assets(kind, adv) else {
                    assert_eq!(kind, AssetKind::Pixel);
                    continue;
                };
                assert_eq!(list.len(), n, "{kind:?}");
                for v in &list {
                    assert!(seen.insert(id_of(kind, v)), "{kind:?} ids are unique");
                    for key in ["create_time", "modify_time"] {
                        if let Some(t) = v.get(key) {
                            let t = t.as_str().unwrap();
                            assert_eq!(t.len(), 19, "{t}");
                            assert!(t <= "2024-06-30 23:59:59", "{t}");
                        }
                    }
                    if let (Some(c), Some(md)) = (v.get("create_time"), v.get("modify_time")) {
                        assert!(md.as_str() >= c.as_str());
                    }
                }
            }
            assert!(m.assets(kind, first_allowed).is_ok());
        }
        let portfolio = &m.assets(AssetKind::Portfolio, first_allowed).unwrap()[0];
        assert_eq!(
            portfolio["creative_portfolio_id"].as_str().unwrap().len(),
            18
        );
        // Every third track is system music without modify_time.
        let music = m.assets(AssetKind::Music, first_allowed).unwrap();
        assert!(music[2].get("modify_time").is_none());
        assert!(music[0]["modify_time"].is_string());
        assert!(music[0]["duration"].is_number());
        let video = &m.assets(AssetKind::Video, first_allowed).unwrap()[0];
        assert!(video["duration"].is_number());
        assert!(video["allowed_placements"].is_array());
        let pixel = &m.assets(AssetKind::Pixel, first_allowed).unwrap()[0];
        assert!(pixel["events"].as_array().unwrap().len() >= 2);
        assert_eq!(pixel["pixel_code"].as_str().unwrap().len(), 20);
    }

    #[test]
    fn same_seed_same_assets_other_seed_other_ids() {
        let a = Model::new(&cfg());
        let b = Model::new(&cfg());
        let c = Model::new(&SimConfig { seed: 42, ..cfg() });
        for kind in AssetKind::ALL {
            let (ia, ic) = (a.advertiser_ids()[0], c.advertiser_ids()[0]);
            assert_eq!(a.assets(kind, ia), b.assets(kind, ia));
            let ids = |m: &Model, id| -> Vec<String> {
                m.assets(kind, id)
                    .unwrap()
                    .iter()
                    .map(|v| id_of(kind, v))
                    .collect()
            };
            assert_ne!(ids(&a, ia), ids(&c, ic), "{kind:?}");
        }
    }

    #[test]
    fn sizes_are_configurable() {
        let m = Model::new(&SimConfig {
            assets: AssetCounts {
                images_per_advertiser: 250,
                pixels_per_advertiser: 0,
                ..cfg().assets
            },
            ..cfg()
        });
        let id = m.advertiser_ids()[0];
        assert_eq!(m.assets(AssetKind::Image, id).unwrap().len(), 250);
        assert!(m.assets(AssetKind::Pixel, id).unwrap().is_empty());
    }

    #[test]
    fn every_fourth_advertiser_has_no_pixel_permission() {
        let m = Model::new(&cfg());
        let ids = m.advertiser_ids();
        let denied: Vec<usize> = (0..ids.len())
            .filter(|&i| !m.pixel_permission(ids[i]))
            .collect();
        assert_eq!(denied, vec![3, 7]);
        let (code, msg) = m.assets(AssetKind::Pixel, ids[3]).unwrap_err();
        assert_eq!(code, 40001);
        assert!(msg.starts_with("No permission"), "{msg}");
        let ok_combo = OBJECTIVE_TYPES
            .iter()
            .flat_map(|o| OPTIMIZATION_GOALS.iter().map(move |g| (*o, *g)))
            .find(|(o, g)| instant_page_combination_supported(o, g))
            .unwrap();
        assert_eq!(
            m.instant_page_events(ids[3], ok_combo.0, ok_combo.1)
                .unwrap_err()
                .0,
            40001
        );
        assert!(m
            .instant_page_events(ids[0], ok_combo.0, ok_combo.1)
            .is_ok());
        let pixel = m.assets(AssetKind::Pixel, ids[0]).unwrap()[0]["pixel_id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(
            m.pixel_event_stats(ids[3], &[pixel], today(), today())
                .unwrap_err()
                .0,
            40001
        );
        // Other assets are not affected.
        assert!(m.assets(AssetKind::Image, ids[3]).is_ok());
        let all = Model::new(&SimConfig {
            assets: AssetCounts {
                pixel_denied_every: 0,
                ..cfg().assets
            },
            ..cfg()
        });
        assert!(all
            .advertiser_ids()
            .iter()
            .all(|&id| all.pixel_permission(id)));
        assert!(!all.pixel_permission(1));
    }

    #[test]
    fn sandbox_refuses_production_only_kinds() {
        let m = Model::new(&SimConfig {
            api: ApiBehaviour {
                sandbox: true,
                ..cfg().api
            },
            ..cfg()
        });
        let id = m.advertiser_ids()[0];
        for kind in AssetKind::ALL {
            let r = m.assets(kind, id);
            if kind.production_only() {
                assert_eq!(r.unwrap_err().0, 40014, "{kind:?}");
            } else {
                assert!(r.is_ok(), "{kind:?}");
            }
        }
        assert_eq!(
            m.instant_page_events(id, "TRAFFIC", "CLICK").unwrap_err().0,
            40014
        );
        assert_eq!(
            m.pixel_event_stats(id, &["1".into()], today(), today())
                .unwrap_err()
                .0,
            40014
        );
    }

    #[test]
    fn about_half_the_instant_page_combinations_are_supported() {
        let m = Model::new(&cfg());
        let id = m.advertiser_ids()[0];
        let mut supported = 0;
        for o in OBJECTIVE_TYPES {
            for g in OPTIMIZATION_GOALS {
                match m.instant_page_events(id, o, g) {
                    Ok(list) => {
                        assert!(instant_page_combination_supported(o, g));
                        assert!((2..=5).contains(&list.len()));
                        assert!(list
                            .iter()
                            .all(|e| e["event_type"].is_string() && e["name"].is_string()));
                        supported += 1;
                    }
                    Err((code, msg)) => {
                        assert!(!instant_page_combination_supported(o, g));
                        assert_eq!(code, 40002);
                        assert!(msg.starts_with(
                            "unsupported objective_type/optimization_goal combination"
                        ));
                    }
                }
            }
        }
        assert!((80..=140).contains(&supported), "{supported}");
        assert_eq!(
            m.instant_page_events(id, "NOPE", "CLICK").unwrap_err().0,
            40002
        );
        assert_eq!(
            m.instant_page_events(id, "TRAFFIC", "NOPE").unwrap_err().0,
            40002
        );
    }

    #[test]
    fn pixel_stats_windows_and_sums() {
        let m = Model::new(&cfg());
        let id = m.advertiser_ids()[0];
        let pixels = m.assets(AssetKind::Pixel, id).unwrap();
        let pid: Vec<String> = pixels
            .iter()
            .map(|p| p["pixel_id"].as_str().unwrap().to_string())
            .collect();
        let (start, end) = (date("2024-06-01"), date("2024-06-30"));
        let rows = m.pixel_event_stats(id, &pid, start, end).unwrap();
        let events: usize = pixels
            .iter()
            .map(|p| p["events"].as_array().unwrap().len())
            .sum();
        assert_eq!(rows.len(), events);
        for (p, pixel) in pid.iter().zip(&pixels) {
            let mine: Vec<&Value> = rows.iter().filter(|r| r["pixel_id"] == **p).collect();
            let names: Vec<&Value> = pixel["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| &e["name"])
                .collect();
            assert_eq!(mine.iter().map(|r| &r["event"]).collect::<Vec<_>>(), names);
        }
        // A 30-day count is the sum of its days.
        let mut by_day = vec![0u64; rows.len()];
        let mut d = start;
        while d <= end {
            let day = m.pixel_event_stats(id, &pid, d, d).unwrap();
            for (acc, r) in by_day.iter_mut().zip(&day) {
                *acc += r["count"].as_u64().unwrap();
            }
            d = d.succ_opt().unwrap();
        }
        let totals: Vec<u64> = rows.iter().map(|r| r["count"].as_u64().unwrap()).collect();
        assert_eq!(by_day, totals);
        // Duplicates are answered once.
        let twice = vec![pid[0].clone(), pid[0].clone()];
        let one = m.pixel_event_stats(id, &pid[..1], start, end).unwrap();
        assert_eq!(m.pixel_event_stats(id, &twice, start, end).unwrap(), one);

        let err = |ids: &[String], s: &str, e: &str| {
            m.pixel_event_stats(id, ids, date(s), date(e)).unwrap_err()
        };
        assert_eq!(err(&pid, "2024-05-31", "2024-06-30").0, 40002, "31 days");
        assert_eq!(err(&pid, "2024-06-10", "2024-06-09").0, 40002, "reversed");
        assert_eq!(err(&pid, "2024-06-30", "2024-07-01").0, 40002, "future");
        assert_eq!(err(&[], "2024-06-01", "2024-06-02").0, 40002, "empty");
        assert_eq!(
            err(&["123".to_string()], "2024-06-01", "2024-06-02").0,
            40002,
            "not this advertiser's pixel"
        );
        let other = m.assets(AssetKind::Pixel, m.advertiser_ids()[1]).unwrap()[0]["pixel_id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(err(&[other], "2024-06-01", "2024-06-02").0, 40002);
    }
}
