//! One asset record per list kind, in TikTok's field order: audiences, images, videos, music,
//! creative portfolios and Spark Ads posts (pixels are rendered with their events in the
//! parent). Each takes the values every asset draws ([`Drawn`]).

use serde_json::{json, Value};

use super::*;
use crate::model::{Advertiser, Model};

impl Model {
    /// An audience of `dmp/custom_audience/list/`.
    pub(super) fn render_audience(&self, i: usize, drawn: &Drawn) -> Value {
        let Drawn {
            h,
            global,
            slice,
            create,
            ..
        } = *drawn;
        let audience_type = pick(AUDIENCE_TYPES, h >> 3);
        let file = audience_type == "Customer File Audience";
        json!({
            "audience_id": (AUDIENCE_BASE + slice + global).to_string(),
            "name": format!("{} #{}", audience_type.trim_end_matches(" Audience"), i + 1),
            "audience_type": audience_type,
            "cover_num": 1_000 + (h >> 11) % 2_000_000,
            "is_valid": h % 9 != 4,
            "is_expiring": h % 11 == 6,
            "is_creator": true,
            "shared": h % 5 == 2,
            "calculate_type": if file { Value::String(pick(CALCULATE_TYPES, h >> 19).into()) } else { Value::Null },
            "create_time": fmt_ts(create),
            "expired_time": fmt_ts(create + 365 * 86_400),
        })
    }

    /// An image of `file/image/ad/search/`.
    pub(super) fn render_image(&self, adv: &Advertiser, i: usize, drawn: &Drawn) -> Value {
        let Drawn {
            h,
            global,
            slice,
            create,
            modify,
        } = *drawn;
        let (width, height) = pick(IMAGE_SIZES, h >> 5);
        let format = if h % 4 == 0 { "png" } else { "jpeg" };
        json!({
            "image_id": format!("ad-site-i18n-sg/{:016x}", h),
            "material_id": (IMAGE_MATERIAL_BASE + slice + global).to_string(),
            "file_name": format!("{}-image-{}.{}", adv.index + 1, i + 1, if format == "png" { "png" } else { "jpg" }),
            "format": format,
            "width": width,
            "height": height,
            "size": 40_000 + (h >> 13) % 900_000,
            "signature": signature(h),
            "image_url": format!("https://p16-sign-sg.tiktokcdn.com/sim/{:016x}~tplv-noop.image", h),
            "is_carousel_usable": width == height || h % 3 == 0,
            "displayable": h % 10 != 7,
            "create_time": fmt_ts(create),
            "modify_time": fmt_ts(modify),
        })
    }

    /// A video of `file/video/ad/search/`.
    pub(super) fn render_video(&self, adv: &Advertiser, i: usize, drawn: &Drawn) -> Value {
        let Drawn {
            h,
            global,
            slice,
            create,
            modify,
        } = *drawn;
        let (width, height) = pick(VIDEO_SIZES, h >> 5);
        let duration_ms = 5_000 + (h >> 9) % 55_000;
        let placements: Vec<&str> =
            PLACEMENTS[..1 + (h >> 17) as usize % PLACEMENTS.len()].to_vec();
        json!({
            "video_id": format!("v10033g50000{:016x}", h),
            "material_id": (VIDEO_MATERIAL_BASE + slice + global).to_string(),
            "file_name": format!("{}-video-{}.mp4", adv.index + 1, i + 1),
            "format": "mp4",
            "duration": cents_number(duration_ms / 10),
            "width": width,
            "height": height,
            "size": 500_000 + (h >> 21) % 40_000_000,
            "bit_rate": 800_000 + (h >> 27) % 4_000_000,
            "signature": signature(h),
            "preview_url": format!("https://v16m-default.akamaized.net/sim/{:016x}/video.mp4", h),
            "preview_url_expire_time": fmt_ts(self.end_ts() + 6 * 3_600),
            "video_cover_url": format!("https://p16-sign-sg.tiktokcdn.com/sim/{:016x}~tplv-noop.image", mix(h)),
            "displayable": h % 10 != 7,
            "allow_download": h % 4 != 1,
            "allowed_placements": placements,
            "create_time": fmt_ts(create),
            "modify_time": fmt_ts(modify),
        })
    }

    /// A track of `file/music/get/`.
    pub(super) fn render_music(&self, adv: &Advertiser, i: usize, drawn: &Drawn) -> Value {
        let Drawn {
            h,
            global,
            slice,
            create,
            modify,
        } = *drawn;
        // Every third track is TikTok system music: no modify_time at all.
        let system = i % 3 == 2;
        let mut music = json!({
            "music_id": (MUSIC_BASE + slice + global).to_string(),
            "material_id": (MUSIC_MATERIAL_BASE + slice + global).to_string(),
            "sources": if system { json!([{"type": "system"}]) } else { json!([{"type": "main page"}]) },
            "author": if system { "TikTok Commercial Music".to_string() } else { format!("Sim Artist {}", 1 + (h >> 4) % 40) },
            "liked": h % 3 == 1,
            "cover_url": format!("https://p16-sign-sg.tiktokcdn.com/sim/{:016x}~music-cover.jpeg", h),
            "url": format!("https://sf16-sg.tiktokcdn.com/sim/{:016x}.mp3", h),
            "duration": cents_number(1_000 + (h >> 8) % 17_000),
            "style": pick(MUSIC_STYLES, h >> 14),
            "signature": signature(h),
            "name": format!("Track {}-{}", adv.index + 1, i + 1),
            "file_name": format!("track-{}-{}.mp3", adv.index + 1, i + 1),
            "copyright": if system { "TikTok commercial license" } else { "Owned by advertiser" },
            "create_time": fmt_ts(create),
        });
        if !system {
            music["modify_time"] = Value::String(fmt_ts(modify));
        }
        music
    }

    /// A creative portfolio of `creative/portfolio/list/`.
    pub(super) fn render_portfolio(&self, drawn: &Drawn) -> Value {
        let Drawn { h, global, .. } = *drawn;
        let id = PORTFOLIO_BASE + (mix(self.seed) % 100_000) * 1_000_000_000 + global;
        json!({
            "creative_portfolio_id": id.to_string(),
            "creative_portfolio_type": pick(PORTFOLIO_TYPES, h >> 6),
            "creative_portfolio_preview_url": format!("https://ads.tiktok.com/creative/portfolio/preview/{id}"),
        })
    }

    /// A Spark Ads post of `tt_video/list/`.
    pub(super) fn render_spark_post(&self, adv: &Advertiser, i: usize, drawn: &Drawn) -> Value {
        let Drawn {
            h,
            global,
            slice,
            create,
            ..
        } = *drawn;
        let (width, height) = pick(VIDEO_SIZES, h >> 5);
        let status = match h % 6 {
            4 => "EXPIRED",
            5 => "AUTHORIZATION_CANCELED",
            _ => "AUTHORIZED",
        };
        json!({
            "item_info": {
                "item_id": (SPARK_ITEM_BASE + slice + global).to_string(),
                "auth_code": format!("#{:016x}{:08x}", mix(h ^ 0xA0), h >> 40),
                "anchor_id": format!("{}", 7_500_000_000_000_000_000 + slice + global),
                "status": status,
                "text": format!("Our new drop is here #{}", i + 1),
                "auth_info": {
                    "ad_auth_status": status,
                    "invite_start_time": fmt_ts(create),
                    "auth_start_time": fmt_ts(create + 600),
                    "auth_end_time": fmt_ts(create + 600 + 30 * 86_400 * (1 + (h >> 44) % 12) as i64),
                },
            },
            "video_info": {
                "video_id": format!("v09044g40000{:016x}", h),
                "bit_rate": 800_000 + (h >> 27) % 4_000_000,
                "duration": cents_number(500 + (h >> 9) % 5_500),
                "file_name": format!("spark-{}-{}.mp4", adv.index + 1, i + 1),
                "format": "mp4",
                "width": width,
                "height": height,
                "size": 500_000 + (h >> 21) % 40_000_000,
                "signature": signature(h),
                "poster_url": format!("https://p16-sign-sg.tiktokcdn.com/sim/{:016x}~poster.jpeg", h),
                "preview_url": format!("https://v16m-default.akamaized.net/sim/{:016x}/spark.mp4", h),
            },
            "user_info": {
                "identity_id": format!("{}", 7_300_000_000_000_000_000 + adv.index as u64),
                "identity_type": "AUTH_CODE",
                "tiktok_name": pick(TIKTOK_NAMES, h >> 12),
                "profile_image": format!("https://p16-sign-sg.tiktokcdn.com/sim/{:016x}~avatar.jpeg", mix(h ^ 0xFACE)),
            },
        })
    }
}
