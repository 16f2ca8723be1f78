//! The two pixel streams that are not plain lists. `pixel_instant_page_events` asks
//! `pixel/instant_page/event/` for every objective type and optimization goal (TikTok answers
//! 40002 for combinations it does not support; those are skipped), at most once a day per ad
//! account when the binding is incremental. `pixel_events_statistics`
//! asks `pixel/event/stats/` for each pixel of the advertiser over the last 30 days, with
//! `pixel_ids` as a JSON array and `date_range` as a JSON object (the parameters other
//! connectors got wrong).

use chrono::Days;
use futures::StreamExt;
use serde_json::{json, Map, Value};

use super::advertisers::Advertiser;
use super::binding::Binding;
use super::context::{Context, CountFor, RowsOf};
use super::listing::ListQuery;
use super::record;
use super::state::StatePatch;
use crate::client::{parse_page, Params};
use crate::error::{Error, Result};
use crate::registry::{Kind, StreamDef};

pub(crate) const OBJECTIVE_TYPES: &[&str] = &[
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

pub(crate) const OPTIMIZATION_GOALS: &[&str] = &[
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

/// Pixel records are keyed by the advertiser and the query fields added to them.
const ADVERTISER_KEY: record::RecordKey = record::RecordKey::new("advertiser_id", None);

/// How many combinations are asked at once (the rate budget still sets the pace).
const CONCURRENT_COMBINATIONS: usize = 4;

/// The records of one answer with fields added, each serialized and typed by the schema.
fn with_fields(
    ctx: &Context,
    of: RowsOf,
    records: Vec<Box<serde_json::value::RawValue>>,
    extra: &Map<String, Value>,
) -> Result<Vec<String>> {
    ctx.page_records(of, records, |raw, types, notes| {
        let record = record::object_record(&raw, (ADVERTISER_KEY, extra), types, notes)?;
        Ok(Some(record.doc))
    })
}

/// One ad account of a `pixel_instant_page_events` binding: what [`instant_page_events`] reads.
pub(crate) struct InstantPageUnit<'a> {
    pub(crate) binding: usize,
    pub(crate) row: &'static StreamDef,
    pub(crate) advertiser: &'a Advertiser,
}

impl InstantPageUnit<'_> {
    /// Reads the account's instant page events unless it was read today: see
    /// [`instant_page_events`].
    pub(crate) async fn run(
        &self,
        ctx: &Context,
        incremental: bool,
        last_read: Option<&str>,
    ) -> Result<()> {
        instant_page_events(ctx, self, incremental, last_read).await
    }

    /// One request per objective type and optimization goal, unless the account was read
    /// today (incremental bindings).
    pub(crate) fn planned_requests(&self, binding: &Binding, today: &str) -> u64 {
        let read_today =
            binding.incremental && binding.state.cursor(self.advertiser.id) == Some(today);
        if read_today {
            0
        } else {
            (OBJECTIVE_TYPES.len() * OPTIMIZATION_GOALS.len()) as u64
        }
    }
}

/// One ad account of a `pixel_events_statistics` binding: its pixels come from the `pixels`
/// row's endpoint.
pub(crate) struct EventStatsUnit<'a> {
    pub(crate) binding: usize,
    pub(crate) row: &'static StreamDef,
    pub(crate) pixels: &'static StreamDef,
    pub(crate) advertiser: &'a Advertiser,
}

impl EventStatsUnit<'_> {
    /// Reads the statistics of each of the account's pixels: see [`event_statistics`].
    pub(crate) async fn run(&self, ctx: &Context) -> Result<()> {
        event_statistics(ctx, self.binding, (self.row, self.pixels), self.advertiser).await
    }

    /// The pixel list, then (usually) one pixel.
    pub(crate) fn planned_requests(&self) -> u64 {
        2
    }
}

/// `pixel_instant_page_events` costs 220 requests per ad account and holds configuration, not
/// delivery, so an incremental binding reads each account at most once a day (UTC): its state
/// records the day of the last complete read. A full-refresh binding reads it every run.
async fn instant_page_events(
    ctx: &Context,
    unit: &InstantPageUnit<'_>,
    incremental: bool,
    last_read: Option<&str>,
) -> Result<()> {
    let &InstantPageUnit {
        binding,
        row,
        advertiser,
    } = unit;
    let today = ctx.config.clock.today_utc().format("%Y-%m-%d").to_string();
    if incremental && last_read == Some(today.as_str()) {
        tracing::debug!(
            advertiser_id = advertiser.id,
            "Instant page events were read today already; skipped until tomorrow."
        );
        return ctx.checkpoint(binding, StatePatch::Nothing).await;
    }
    let path = row.endpoint;
    let of = RowsOf {
        binding,
        advertiser_id: advertiser.id,
    };
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
        let docs = with_fields(ctx, of, page.records, &extra)?;
        ctx.records(binding, docs).await?;
    }
    let patch = if incremental {
        StatePatch::cursor(advertiser.id, &today)
    } else {
        StatePatch::Nothing
    };
    ctx.checkpoint(binding, patch).await
}

/// `row` is the statistics row, `pixels` the row whose list gives the pixels.
async fn event_statistics(
    ctx: &Context,
    binding: usize,
    (row, pixels): (&'static StreamDef, &'static StreamDef),
    advertiser: &Advertiser,
) -> Result<()> {
    let Kind::Entity(pixel_list) = pixels.kind else {
        return Err(Error::Fatal(format!(
            "The stream {:?} lists pixels with the row {:?}, which is not a list.",
            row.name, pixels.name
        )));
    };
    let of = RowsOf {
        binding,
        advertiser_id: advertiser.id,
    };
    let mut pixel_ids: Vec<String> = Vec::new();
    let listing = ListQuery {
        endpoint: pixels.endpoint,
        params: vec![("advertiser_id", advertiser.id.to_string())],
        list_key: pixel_list.list_key,
        page_size: pixel_list.page_size,
    };
    let pages = ctx.pages(CountFor::Binding(binding), listing);
    futures::pin_mut!(pages);
    while let Some(page) = pages.next().await {
        let mut notes = record::Notes::new();
        for raw in page?.records {
            let value = match record::parse_row(raw.get(), &mut notes) {
                Ok(value) => value,
                Err(err) => {
                    ctx.row_error(binding, advertiser.id, err)?;
                    continue;
                }
            };
            match &value["pixel_id"] {
                Value::String(s) => pixel_ids.push(s.clone()),
                Value::Number(n) => pixel_ids.push(n.to_string()),
                other => tracing::warn!(
                    advertiser_id = advertiser.id,
                    "Skipping a pixel without a usable pixel_id: {other}."
                ),
            }
        }
        ctx.log_notes(binding, &mut notes);
    }
    let today = ctx.config.clock.today_utc();
    let end = ctx.config.end_date.unwrap_or(today).min(today);
    let start = end.checked_sub_days(Days::new(29)).unwrap_or(end);
    let date_range = json!({"start_date": start.format("%Y-%m-%d").to_string(),
                            "end_date": end.format("%Y-%m-%d").to_string()});
    let path = row.endpoint;
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
        let docs = with_fields(ctx, of, page.records, &extra)?;
        ctx.records(binding, docs).await?;
    }
    ctx.checkpoint(binding, StatePatch::Nothing).await
}
