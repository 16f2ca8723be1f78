//! The one report fetcher (`report/integrated/get/`), driven by a [`ReportSpec`]: it builds the
//! query (report type, data level, dimensions, metrics, level-correct `filtering`), cuts the
//! date range into windows (30 days for daily, one day for hourly, one lifetime query), halves a
//! window TikTok finds too large (40067), splits ad-level queries over more than 10,000 ads by
//! id filters so TikTok cannot silently drop rows, and checkpoints after every window.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use chrono::{Days, NaiveDate};
use futures::StreamExt;
use serde_json::{json, Value};

use super::advertisers::Advertiser;
use super::state::BindingState;
use super::{activity, record, Context, Warning};
use crate::client::Params;
use crate::error::{ErrorClass, Result};
use crate::registry::metrics::{Granularity, Level, ReportType};
use crate::registry::ReportSpec;

pub const REPORT_PATH: &str = "report/integrated/get/";
pub const PAGE_SIZE: u32 = 1000;
/// How many windows of one report and advertiser are fetched at once.
pub const CONCURRENT_WINDOWS: usize = 2;
/// The most days one daily query may span.
pub const MAX_DAILY_WINDOW: u64 = 30;
/// TikTok's synchronous reports cover at most this many ads per query.
pub const MAX_ADS_PER_QUERY: usize = 10_000;
/// At most this many ids in one id filter.
pub const MAX_IDS_PER_FILTER: usize = 100;
/// When TikTok Ads began: the lower bound when nothing else is known.
pub const EARLIEST_DAY: NaiveDate = match NaiveDate::from_ymd_opt(2016, 9, 1) {
    Some(d) => d,
    None => panic!("valid date"),
};

/// The date range one advertiser's report must cover this run, or `None` when it is empty.
pub fn date_range(
    start_date: Option<NaiveDate>,
    end_date: Option<NaiveDate>,
    created: Option<NaiveDate>,
    cursor: Option<&str>,
    lookback_days: u32,
    today: NaiveDate,
) -> Option<(NaiveDate, NaiveDate)> {
    let resume = cursor
        .and_then(|c| NaiveDate::parse_from_str(c.get(..10)?, "%Y-%m-%d").ok())
        .map(|c| {
            c.checked_sub_days(Days::new(lookback_days.into()))
                .unwrap_or(c)
        });
    let start = [start_date, created, resume]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(EARLIEST_DAY);
    let end = end_date.unwrap_or_else(|| today.checked_add_days(Days::new(1)).unwrap_or(today));
    (start <= end).then_some((start, end))
}

/// Cuts an inclusive range into query windows.
pub fn windows(
    start: NaiveDate,
    end: NaiveDate,
    granularity: Granularity,
) -> Vec<(NaiveDate, NaiveDate)> {
    let step = match granularity {
        Granularity::Hour => 1,
        Granularity::Day => MAX_DAILY_WINDOW,
        Granularity::Lifetime => return Vec::new(),
    };
    let mut out = Vec::new();
    let mut from = start;
    while from <= end {
        let to = from
            .checked_add_days(Days::new(step - 1))
            .unwrap_or(end)
            .min(end);
        out.push((from, to));
        match to.succ_opt() {
            Some(next) => from = next,
            None => break,
        }
    }
    out
}

/// The `filtering` of a query: deleted entities at the level when wanted, the user's filters,
/// and an id filter when the query is split.
pub fn filtering(spec: &ReportSpec, include_deleted: bool, split: Option<&Value>) -> Vec<Value> {
    let mut out = Vec::new();
    if include_deleted {
        if let Some(field) = spec.level.status_filter_field() {
            let already = spec
                .filtering
                .iter()
                .any(|f| f["field_name"] == json!(field));
            if !already {
                out.push(json!({
                    "field_name": field,
                    "filter_type": "IN",
                    "filter_value": json!(["STATUS_ALL"]).to_string(),
                }));
            }
        }
    }
    out.extend(spec.filtering.iter().cloned());
    out.extend(split.cloned());
    out
}

/// The query parameters of one report request (without page and page_size).
///
/// One ad account per query. TikTok's multi-account form (`advertiser_ids`, up to five accounts
/// per BASIC or AUDIENCE query) would save requests, but its documentation (Run a synchronous
/// report, portal id 1740302848100353) says currency metrics then come without a decimal point
/// and times in UTC or each account's zone by choice, and the 20,000-ad cap counts the whole
/// batch: the rows would not be those of per-account queries, so it is not used.
pub fn params(
    spec: &ReportSpec,
    advertiser_id: u64,
    window: Option<(NaiveDate, NaiveDate)>,
    filters: &[Value],
) -> Params {
    let mut params: Params = vec![
        ("advertiser_id", advertiser_id.to_string()),
        ("service_type", "AUCTION".into()),
        ("report_type", spec.report_type.as_api().into()),
        ("data_level", spec.level.data_level().into()),
        ("dimensions", json!(spec.dimensions).to_string()),
        ("metrics", json!(spec.metrics).to_string()),
    ];
    match window {
        Some((start, end)) => {
            params.push(("start_date", start.format("%Y-%m-%d").to_string()));
            params.push(("end_date", end.format("%Y-%m-%d").to_string()));
        }
        None => params.push(("query_lifetime", "true".into())),
    }
    if !filters.is_empty() {
        params.push(("filtering", json!(filters).to_string()));
    }
    params
}

/// One report for one advertiser.
pub(crate) async fn unit(
    ctx: &Context,
    binding: usize,
    stream: &str,
    spec: &ReportSpec,
    advertiser: &Advertiser,
    incremental: bool,
    cursor: Option<String>,
) -> Result<()> {
    if ctx.refused(binding).load(Ordering::Relaxed) {
        return Ok(());
    }
    let result = run_unit(ctx, binding, stream, spec, advertiser, incremental, cursor).await;
    match result {
        Err(err)
            if err.api_code() == Some(40002)
                && spec.report_type == ReportType::Audience
                && spec.granularity == Granularity::Hour =>
        {
            if !ctx.refused(binding).swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    stream,
                    error = %err,
                    "TikTok refuses audience reports by hour (code 40002) since late 2022, so \
                     this binding captures nothing. Disable it, or use the daily stream."
                );
            }
            Ok(())
        }
        other => other,
    }
}

async fn run_unit(
    ctx: &Context,
    binding: usize,
    stream: &str,
    spec: &ReportSpec,
    advertiser: &Advertiser,
    incremental: bool,
    cursor: Option<String>,
) -> Result<()> {
    if spec.granularity == Granularity::Lifetime {
        if !activity::ever_active(ctx, stream, advertiser.id).await? {
            return ctx.checkpoint(binding, json!({})).await;
        }
        let splits = ad_splits(ctx, binding, spec, advertiser).await?;
        for split in &splits {
            fetch(ctx, binding, spec, advertiser.id, None, split.as_ref()).await?;
        }
        return ctx.checkpoint(binding, json!({})).await;
    }
    let config = &ctx.config;
    let cursor = cursor.filter(|_| incremental);
    let Some((start, end)) = date_range(
        config.start_date,
        config.end_date,
        advertiser.created,
        cursor.as_deref(),
        config.lookback_days,
        ctx.today,
    ) else {
        return ctx.checkpoint(binding, json!({})).await;
    };
    if start == EARLIEST_DAY && ctx.first_warning(Warning::EarliestDay, None, advertiser.id) {
        tracing::warn!(
            advertiser_id = advertiser.id,
            "Neither start_date nor the ad account's creation date is known, so reports are \
             read from {EARLIEST_DAY}, when TikTok Ads began. Set start_date to read less."
        );
    }
    // Days without activity need no query: the pieces between the windows only move the cursor.
    let activity = activity::for_binding(ctx, stream, advertiser.id).await?;
    let pieces = activity::cut_windows(activity.as_deref(), start, end, spec.granularity);
    let splits = if pieces.iter().any(|(_, _, fetch)| *fetch) {
        ad_splits(ctx, binding, spec, advertiser).await?
    } else {
        Vec::new()
    };
    // Windows run a few at a time; checkpoints follow in window order, so the cursor only ever
    // covers windows whose every row was sent before it. Each window sends its own checkpoint
    // once the previous one has: this loop only drives the windows and never waits on the
    // output itself, since a window whose turn on the bounded output came while its driver
    // was waiting there too would hold that turn unused, and enough of them stall the run.
    let splits = &splits;
    let mut previous: Option<tokio::sync::oneshot::Receiver<()>> = None;
    let mut steps = Vec::with_capacity(pieces.len());
    for (from, to, fetch) in pieces {
        let (done, next) = tokio::sync::oneshot::channel::<()>();
        let after = previous.replace(next);
        steps.push(async move {
            if fetch {
                fetch_window(ctx, binding, spec, advertiser.id, splits, from, to).await?;
            }
            // The previous window failed: its error ends the unit, and no cursor may pass it.
            if let Some(after) = after {
                if after.await.is_err() {
                    return Ok(());
                }
            }
            let patch = if incremental {
                BindingState::cursor_patch(advertiser.id, &to.format("%Y-%m-%d").to_string())
            } else {
                json!({})
            };
            ctx.checkpoint(binding, patch).await?;
            let _ = done.send(());
            Ok(())
        });
    }
    let results = futures::stream::iter(steps).buffered(CONCURRENT_WINDOWS);
    futures::pin_mut!(results);
    while let Some(result) = results.next().await {
        result?;
    }
    Ok(())
}

/// Fetches one window (every split), halving it while TikTok finds it too large (40067).
/// Returns the window's last day once all of it is sent.
async fn fetch_window(
    ctx: &Context,
    binding: usize,
    spec: &ReportSpec,
    advertiser_id: u64,
    splits: &[Option<Value>],
    from: NaiveDate,
    to: NaiveDate,
) -> Result<NaiveDate> {
    let mut queue: VecDeque<(NaiveDate, NaiveDate)> = VecDeque::from([(from, to)]);
    while let Some((from, to)) = queue.pop_front() {
        let mut outcome = Ok(());
        for split in splits {
            outcome = fetch(
                ctx,
                binding,
                spec,
                advertiser_id,
                Some((from, to)),
                split.as_ref(),
            )
            .await;
            if outcome.is_err() {
                break;
            }
        }
        match outcome {
            Ok(()) => {}
            Err(err) if err.class() == ErrorClass::QueryTooLarge && to > from => {
                let half = (to - from).num_days() as u64 / 2;
                let mid = from.checked_add_days(Days::new(half)).unwrap_or(from);
                tracing::info!(advertiser_id, %from, %to, "TikTok found the query too large (40067); halving the window.");
                queue.push_front((mid.succ_opt().unwrap_or(to), to));
                queue.push_front((from, mid));
            }
            Err(err) => return Err(err),
        }
    }
    Ok(to)
}

/// Fetches every page of one query and emits its rows.
async fn fetch(
    ctx: &Context,
    binding: usize,
    spec: &ReportSpec,
    advertiser_id: u64,
    window: Option<(NaiveDate, NaiveDate)>,
    split: Option<&Value>,
) -> Result<()> {
    let filters = filtering(spec, ctx.config.include_deleted, split);
    let params = params(spec, advertiser_id, window, &filters);
    let pages = ctx.client.pages(REPORT_PATH, params, "list", PAGE_SIZE);
    futures::pin_mut!(pages);
    while let Some(page) = pages.next().await {
        let page = page?;
        ctx.count_request(binding);
        let mut docs = Vec::with_capacity(page.records.len());
        for raw in &page.records {
            match record::report_row(raw, spec, advertiser_id) {
                Ok(row) => docs.push(row.doc),
                Err(why) => {
                    tracing::warn!(advertiser_id, "Skipping a report row: {why}.")
                }
            }
        }
        ctx.records(binding, docs).await?;
    }
    Ok(())
}

/// Per advertiser: the id filters that keep every ad-level query under TikTok's 10,000-ad
/// limit (`[None]` when no split is needed). Computed once per run and shared by the bindings.
pub type AdSplitCache =
    tokio::sync::Mutex<HashMap<u64, Arc<tokio::sync::OnceCell<Vec<Option<Value>>>>>>;

async fn ad_splits(
    ctx: &Context,
    binding: usize,
    spec: &ReportSpec,
    advertiser: &Advertiser,
) -> Result<Vec<Option<Value>>> {
    if spec.level != Level::Ad {
        return Ok(vec![None]);
    }
    let cell = {
        let mut cache = ctx.ad_splits.lock().await;
        cache.entry(advertiser.id).or_default().clone()
    };
    cell.get_or_try_init(|| compute_ad_splits(ctx, binding, advertiser.id))
        .await
        .cloned()
}

async fn compute_ad_splits(
    ctx: &Context,
    binding: usize,
    advertiser_id: u64,
) -> Result<Vec<Option<Value>>> {
    let mut params: Params = vec![
        ("advertiser_id", advertiser_id.to_string()),
        (
            "fields",
            json!(["ad_id", "adgroup_id", "campaign_id"]).to_string(),
        ),
    ];
    if ctx.config.include_deleted {
        params.push((
            "filtering",
            json!({"secondary_status": "AD_STATUS_ALL"}).to_string(),
        ));
    }
    let probe = ctx.client.page("ad/get/", &params, "list", 1, 1).await?;
    ctx.count_request(binding);
    let total = probe.total_number.unwrap_or(0) as usize;
    if total <= MAX_ADS_PER_QUERY {
        return Ok(vec![None]);
    }
    tracing::info!(
        advertiser_id,
        ads = total,
        "More than 10,000 ads: splitting ad-level reports by id filters."
    );
    let mut ads: Vec<(u64, u64, u64)> = Vec::with_capacity(total);
    let pages = ctx.client.pages("ad/get/", params, "list", 1000);
    futures::pin_mut!(pages);
    while let Some(page) = pages.next().await {
        ctx.count_request(binding);
        for raw in page?.records {
            let v: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
            let id = |k: &str| record::id_of(&v[k]);
            if let (Some(ad), Some(group), Some(campaign)) =
                (id("ad_id"), id("adgroup_id"), id("campaign_id"))
            {
                ads.push((campaign, group, ad));
            }
        }
    }
    Ok(split_ads(&ads).into_iter().map(Some).collect())
}

/// Packs ads into id filters of at most [`MAX_ADS_PER_QUERY`] ads and [`MAX_IDS_PER_FILTER`]
/// ids: whole campaigns where they fit, else whole ad groups, else ads 100 at a time.
pub fn split_ads(ads: &[(u64, u64, u64)]) -> Vec<Value> {
    let mut by_campaign: BTreeMap<u64, BTreeMap<u64, Vec<u64>>> = BTreeMap::new();
    for (campaign, group, ad) in ads {
        by_campaign
            .entry(*campaign)
            .or_default()
            .entry(*group)
            .or_default()
            .push(*ad);
    }
    let mut filters = Vec::new();
    let pack = |field: &str, items: Vec<(u64, usize)>, filters: &mut Vec<Value>| {
        let mut ids: Vec<u64> = Vec::new();
        let mut count = 0;
        for (id, n) in items {
            if !ids.is_empty() && (count + n > MAX_ADS_PER_QUERY || ids.len() == MAX_IDS_PER_FILTER)
            {
                filters.push(id_filter(field, &ids));
                ids.clear();
                count = 0;
            }
            ids.push(id);
            count += n;
        }
        if !ids.is_empty() {
            filters.push(id_filter(field, &ids));
        }
    };
    let mut small_campaigns = Vec::new();
    for (campaign, groups) in &by_campaign {
        let n: usize = groups.values().map(Vec::len).sum();
        if n <= MAX_ADS_PER_QUERY {
            small_campaigns.push((*campaign, n));
            continue;
        }
        let mut small_groups = Vec::new();
        for (group, group_ads) in groups {
            if group_ads.len() <= MAX_ADS_PER_QUERY {
                small_groups.push((*group, group_ads.len()));
            } else {
                for chunk in group_ads.chunks(MAX_IDS_PER_FILTER) {
                    filters.push(id_filter("ad_ids", chunk));
                }
            }
        }
        pack("adgroup_ids", small_groups, &mut filters);
    }
    pack("campaign_ids", small_campaigns, &mut filters);
    filters
}

fn id_filter(field: &str, ids: &[u64]) -> Value {
    let ids: Vec<String> = ids.iter().map(u64::to_string).collect();
    json!({"field_name": field, "filter_type": "IN", "filter_value": json!(ids).to_string()})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn daily_windows_are_30_days_and_end_on_the_end_date() {
        let w = windows(d("2024-01-01"), d("2024-03-15"), Granularity::Day);
        assert_eq!(
            w,
            [
                (d("2024-01-01"), d("2024-01-30")),
                (d("2024-01-31"), d("2024-02-29")),
                (d("2024-03-01"), d("2024-03-15"))
            ]
        );
        let single = windows(d("2024-09-01"), d("2024-09-30"), Granularity::Day);
        assert_eq!(single, [(d("2024-09-01"), d("2024-09-30"))]);
        let hourly = windows(d("2024-01-01"), d("2024-01-02"), Granularity::Hour);
        assert_eq!(
            hourly,
            [
                (d("2024-01-01"), d("2024-01-01")),
                (d("2024-01-02"), d("2024-01-02"))
            ]
        );
    }

    #[test]
    fn the_range_starts_at_the_latest_known_lower_bound() {
        let today = d("2024-06-10");
        // No state: the later of start_date and the creation date; end is today plus one.
        assert_eq!(
            date_range(
                Some(d("2024-01-01")),
                None,
                Some(d("2024-02-01")),
                None,
                3,
                today
            ),
            Some((d("2024-02-01"), d("2024-06-11")))
        );
        // With a cursor: the cursor minus the lookback.
        assert_eq!(
            date_range(
                Some(d("2024-01-01")),
                None,
                None,
                Some("2024-06-05"),
                3,
                today
            ),
            Some((d("2024-06-02"), d("2024-06-11")))
        );
        // Never before start_date, whatever the lookback.
        assert_eq!(
            date_range(
                Some(d("2024-06-04")),
                Some(d("2024-06-08")),
                None,
                Some("2024-06-05"),
                30,
                today
            ),
            Some((d("2024-06-04"), d("2024-06-08")))
        );
        // A finished end_date and a cursor past it: nothing to do.
        assert_eq!(
            date_range(
                None,
                Some(d("2024-01-31")),
                None,
                Some("2024-03-01"),
                3,
                today
            ),
            None
        );
        assert_eq!(
            date_range(None, None, None, None, 3, today).unwrap().0,
            EARLIEST_DAY
        );
    }

    #[test]
    fn deleted_filter_matches_the_level() {
        let def = crate::registry::find("ad_groups_reports_daily").unwrap();
        let crate::registry::Kind::Report(r) = def.kind else {
            panic!()
        };
        let spec = ReportSpec::from_def(&r);
        let f = filtering(&spec, true, None);
        assert_eq!(
            f,
            [
                json!({"field_name": "adgroup_status", "filter_type": "IN", "filter_value": "[\"STATUS_ALL\"]"})
            ]
        );
        assert!(filtering(&spec, false, None).is_empty());
        let adv = crate::registry::find("advertisers_reports_daily").unwrap();
        let crate::registry::Kind::Report(r) = adv.kind else {
            panic!()
        };
        assert!(filtering(&ReportSpec::from_def(&r), true, None).is_empty());
    }

    #[test]
    fn ad_splits_respect_both_limits_and_cover_every_ad() {
        let mut ads = Vec::new();
        // 300 small campaigns of 50 ads, and one campaign of 25,000 ads in ad groups of 5,000
        // except one group of 12,000.
        let mut next = 1_000_000u64;
        for c in 0..300u64 {
            for _ in 0..50 {
                next += 1;
                ads.push((c, 10_000 + c, next));
            }
        }
        for g in 0..3u64 {
            for _ in 0..5_000 {
                next += 1;
                ads.push((999, 20_000 + g, next));
            }
        }
        for _ in 0..12_000 {
            next += 1;
            ads.push((999, 30_000, next));
        }
        let filters = split_ads(&ads);
        let mut covered = std::collections::HashSet::new();
        for f in &filters {
            let ids: Vec<String> =
                serde_json::from_str(f["filter_value"].as_str().unwrap()).unwrap();
            assert!(ids.len() <= MAX_IDS_PER_FILTER);
            let field = f["field_name"].as_str().unwrap();
            let count = ads
                .iter()
                .filter(|(c, g, a)| {
                    let key = match field {
                        "campaign_ids" => c,
                        "adgroup_ids" => g,
                        _ => a,
                    };
                    ids.contains(&key.to_string())
                })
                .inspect(|(_, _, a)| {
                    covered.insert(*a);
                })
                .count();
            assert!(
                count <= MAX_ADS_PER_QUERY,
                "{field} filter covers {count} ads"
            );
        }
        assert_eq!(covered.len(), ads.len());
    }
}
