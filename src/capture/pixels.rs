//! The two pixel streams that are not plain lists. `pixel_instant_page_events` asks
//! `pixel/instant_page/event/` for every objective type and optimization goal (TikTok answers
//! 40002 for combinations it does not support; those are skipped), at most once a day per ad
//! account when the binding is incremental. `pixel_events_statistics`
//! asks `pixel/event/stats/` for each pixel of the advertiser over the last 30 days, with
//! `pixel_ids` as a JSON array and `date_range` as a JSON object (the parameters other
//! connectors got wrong, tiktok-api.md section 7).

use chrono::Days;
use futures::StreamExt;
use serde_json::{json, Map, Value};

use super::advertisers::Advertiser;
use super::state::BindingState;
use super::Context;
use crate::client::{parse_page, Params};
use crate::error::Result;

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

/// How many combinations are asked at once (the rate budget still sets the pace).
const CONCURRENT_COMBINATIONS: usize = 4;

/// The records of one answer with fields added, each serialized.
fn with_fields(
    records: Vec<Box<serde_json::value::RawValue>>,
    extra: &Map<String, Value>,
) -> Vec<String> {
    records
        .into_iter()
        .filter_map(|raw| {
            let mut object: Map<String, Value> = serde_json::from_str(raw.get()).ok()?;
            for (k, v) in extra {
                object.insert(k.clone(), v.clone());
            }
            serde_json::to_string(&object).ok()
        })
        .collect()
}

/// `pixel_instant_page_events` costs 220 requests per ad account and holds configuration, not
/// delivery, so an incremental binding reads each account at most once a day (UTC): its state
/// records the day of the last complete read. A full-refresh binding reads it every run.
pub(crate) async fn instant_page_events(
    ctx: &Context,
    binding: usize,
    advertiser: &Advertiser,
    incremental: bool,
    last_read: Option<&str>,
) -> Result<()> {
    let today = ctx.today.format("%Y-%m-%d").to_string();
    if incremental && last_read == Some(today.as_str()) {
        tracing::debug!(
            advertiser_id = advertiser.id,
            "Instant page events were read today already; skipped until tomorrow."
        );
        return ctx.checkpoint(binding, json!({})).await;
    }
    let path = "pixel/instant_page/event/";
    // Indexes, not string slices: a stream of borrowed tuples trips the compiler's
    // higher-ranked lifetime check once the unit is spawned.
    let combinations: Vec<(usize, usize)> = (0..OBJECTIVE_TYPES.len())
        .flat_map(|o| (0..OPTIMIZATION_GOALS.len()).map(move |g| (o, g)))
        .collect();
    let client = ctx.client.clone();
    let advertiser_id = advertiser.id;
    // Owned futures (no borrow of the context) so the unit stays `Send + 'static`.
    let answers = futures::stream::iter(combinations)
        .map(move |(o, g)| {
            let client = client.clone();
            async move {
                let (objective, goal) = (OBJECTIVE_TYPES[o], OPTIMIZATION_GOALS[g]);
                let params: Params = vec![
                    ("advertiser_id", advertiser_id.to_string()),
                    ("objective_type", objective.to_string()),
                    ("optimization_goal", goal.to_string()),
                ];
                (objective, goal, client.get(path, &params).await)
            }
        })
        .buffer_unordered(CONCURRENT_COMBINATIONS);
    futures::pin_mut!(answers);
    while let Some((objective, goal, answer)) = answers.next().await {
        ctx.count_request(binding);
        let data = match answer {
            Ok(data) => data,
            Err(err) if err.api_code() == Some(40002) => {
                tracing::debug!(
                    objective,
                    goal,
                    "TikTok does not support this combination; skipped."
                );
                continue;
            }
            Err(err) => return Err(err),
        };
        let page = parse_page(path, &data, "list", 1)?;
        let mut extra = Map::new();
        extra.insert("advertiser_id".into(), json!(advertiser.id));
        extra.insert("objective_type".into(), json!(objective));
        extra.insert("optimization_goal".into(), json!(goal));
        ctx.records(binding, with_fields(page.records, &extra))
            .await?;
    }
    let patch = if incremental {
        BindingState::cursor_patch(advertiser.id, &today)
    } else {
        json!({})
    };
    ctx.checkpoint(binding, patch).await
}

pub(crate) async fn event_statistics(
    ctx: &Context,
    binding: usize,
    advertiser: &Advertiser,
) -> Result<()> {
    let mut pixel_ids: Vec<String> = Vec::new();
    let pages = ctx.client.pages(
        "pixel/list/",
        vec![("advertiser_id", advertiser.id.to_string())],
        "pixels",
        20,
    );
    futures::pin_mut!(pages);
    while let Some(page) = pages.next().await {
        ctx.count_request(binding);
        for raw in page?.records {
            let value: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
            match &value["pixel_id"] {
                Value::String(s) => pixel_ids.push(s.clone()),
                Value::Number(n) => pixel_ids.push(n.to_string()),
                _ => {}
            }
        }
    }
    let end = ctx.config.end_date.unwrap_or(ctx.today).min(ctx.today);
    let start = end.checked_sub_days(Days::new(29)).unwrap_or(end);
    let date_range = json!({"start_date": start.format("%Y-%m-%d").to_string(),
                            "end_date": end.format("%Y-%m-%d").to_string()});
    let path = "pixel/event/stats/";
    for pixel_id in pixel_ids {
        let params: Params = vec![
            ("advertiser_id", advertiser.id.to_string()),
            ("pixel_ids", json!([pixel_id]).to_string()),
            ("date_range", date_range.to_string()),
        ];
        let data = ctx.client.get(path, &params).await?;
        ctx.count_request(binding);
        let page = parse_page(path, &data, "list", 1)?;
        let mut extra = Map::new();
        extra.insert("advertiser_id".into(), json!(advertiser.id));
        extra.insert("pixel_id".into(), json!(pixel_id));
        ctx.records(binding, with_fields(page.records, &extra))
            .await?;
    }
    ctx.checkpoint(binding, json!({})).await
}
