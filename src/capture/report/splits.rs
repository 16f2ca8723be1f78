//! What the ads cap needs to know of an ad account: how many ads each buying scope holds
//! ([`AdInventory`], counted once per run and shared by every report binding), their listing by
//! campaign and ad group when a report must be split, and the id filters that split it
//! ([`plan_splits`]; [`subdivide`] for one TikTok still answers capped; every campaign as the
//! fallback).

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;

use futures::StreamExt;

use super::filter::Filter;
use super::query::id_filter;
use crate::capture::buying;
use crate::capture::context::{Context, CountFor, RowsOf};
use crate::capture::listing::{entity_listings, BuyingScope, ListQuery, ListingRules};
use crate::capture::record;
pub(crate) use crate::capture::shared::{AdInventory, AdListing, ListedAd};
use crate::error::{ErrorClass, Result};
use crate::registry::metrics::Level;
use crate::registry::{self, EntityDef, Kind, StreamDef};

/// TikTok's synchronous reports process at most this many ads per query: the most recently
/// created ones (Run a synchronous report, portal doc 1740302848100353; Reporting FAQ,
/// 1738864850353154), in the default query mode this connector uses. TikTok's SDK text of 2023
/// said 10,000 in that mode (20,000 with `query_mode` CHUNK); its current text has no number.
/// Planning splits from it is an estimate: the `X-Tt-Ads-Throttle` header is the signal.
pub(crate) const MAX_ADS_PER_QUERY: usize = 20_000;
/// At most this many ids in one id filter.
pub(crate) const MAX_IDS_PER_FILTER: usize = 100;

/// An entity row's listing, checked when compiled.
const fn entity_def(row: &StreamDef) -> EntityDef {
    match row.kind {
        Kind::Entity(def) => def,
        _ => panic!("an entity row"),
    }
}

/// The ads row (ad counts and the ids reports are split by) and its listing.
const ADS: (&StreamDef, EntityDef) = (&registry::ADS, entity_def(&registry::ADS));
/// The campaigns row (the split of last resort) and its listing.
const CAMPAIGNS: (&StreamDef, EntityDef) = (&registry::CAMPAIGNS, entity_def(&registry::CAMPAIGNS));

/// One buying scope's listing of an entity row for one advertiser, filtered and paged as the
/// row's own binding lists it ([`entity_listings`]), asking TikTok only for `fields`.
fn scoped_listing(
    (row, def): (&'static StreamDef, EntityDef),
    scope: BuyingScope,
    rules: ListingRules,
    advertiser_id: u64,
    fields: &[&str],
) -> ListQuery {
    let listings = entity_listings(&def, rules);
    // A server that refuses buying types has one listing, which holds every scope.
    let listing = listings
        .iter()
        .find(|listing| listing.scope == Some(scope))
        .or(listings.first());
    ListQuery {
        endpoint: row.endpoint,
        params: match listing {
            Some(listing) => listing.params(advertiser_id, Some(fields)),
            None => Vec::new(),
        },
        list_key: def.list_key,
        page_size: listing.map_or(def.page_size, |listing| listing.page_size),
    }
}

/// The listing of a scope's ads, made on first use and kept with the inventory.
pub(super) async fn listing(
    inventory: &AdInventory,
    ctx: &Context,
    binding: usize,
    advertiser_id: u64,
    scope: BuyingScope,
) -> Result<Arc<AdListing>> {
    inventory
        .listing_cell(scope)
        .get_or_try_init(|| list_ads(ctx, binding, advertiser_id, scope))
        .await
        .cloned()
}

/// The account's ad counts if this run already has them (no request).
pub(crate) async fn peek_inventory(ctx: &Context, advertiser_id: u64) -> Option<Arc<AdInventory>> {
    ctx.ad_inventory.peek(advertiser_id).await
}

pub(crate) async fn inventory(
    ctx: &Context,
    binding: usize,
    advertiser_id: u64,
) -> Result<Arc<AdInventory>> {
    ctx.ad_inventory
        .get_or_try_make(advertiser_id, || async {
            let count = |scope: BuyingScope| async move {
                let query = ad_listing(ctx, advertiser_id, scope);
                let probe = ctx
                    .client
                    .page(
                        query.endpoint,
                        &query.params,
                        query.list_key,
                        crate::client::Paging::first(1),
                    )
                    .await?;
                ctx.count_request(binding);
                Ok::<u64, crate::error::Error>(
                    probe.total_number.unwrap_or(probe.records.len() as u64),
                )
            };
            let counted = async {
                // First, since it also tells whether the server takes buying types at all.
                let topview_possible =
                    buying::may_have_topview(ctx, binding, advertiser_id).await?;
                let auction_and_reach_frequency =
                    count(BuyingScope::AuctionAndReachFrequency).await?;
                // No TopView campaign, no TopView ad: nothing to count.
                let topview = if topview_possible {
                    count(BuyingScope::TopView).await?
                } else {
                    0
                };
                Ok::<_, crate::error::Error>((auction_and_reach_frequency, topview))
            };
            match counted.await {
                Ok((auction_and_reach_frequency_ads, topview_ads)) => Ok(Arc::new(AdInventory {
                    auction_and_reach_frequency_ads,
                    topview_ads,
                    listable: true,
                    listings: Default::default(),
                })),
                // An app with the reporting scope but not the ads one: report anyway, TopView
                // included (it may exist), and rely on TikTok's header alone for the cap.
                Err(err) if err.class() == ErrorClass::Permission => {
                    tracing::warn!(
                        advertiser_id,
                        error = %err,
                        "This token cannot list the ad account's ads (ad/get/), so its reports \
                         cannot be split ahead of TikTok's 20,000-ads cap and TopView delivery is \
                         asked for without knowing whether it exists."
                    );
                    Ok(Arc::new(AdInventory {
                        auction_and_reach_frequency_ads: 0,
                        topview_ads: 1,
                        listable: false,
                        listings: Default::default(),
                    }))
                }
                Err(err) => Err(err),
            }
        })
        .await
}

/// The ad listing of one scope: ids and parents only.
fn ad_listing(ctx: &Context, advertiser_id: u64, scope: BuyingScope) -> ListQuery {
    let fields = ["ad_id", "adgroup_id", "campaign_id"];
    scoped_listing(ADS, scope, ctx.listing_rules(), advertiser_id, &fields)
}

async fn list_ads(
    ctx: &Context,
    binding: usize,
    advertiser_id: u64,
    scope: BuyingScope,
) -> Result<Arc<AdListing>> {
    let mut listing = AdListing::default();
    let mut unusable = 0u64;
    let pages = ctx.pages(
        CountFor::Binding(binding),
        ad_listing(ctx, advertiser_id, scope),
    );
    futures::pin_mut!(pages);
    while let Some(page) = pages.next().await {
        for raw in page?.records {
            let v: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
            let id = |k: &str| record::id_of(&v[k]);
            match id("ad_id") {
                Some(ad) => listing.ads.push(ListedAd {
                    campaign: id("campaign_id"),
                    adgroup: id("adgroup_id"),
                    ad,
                }),
                None => unusable += 1,
            }
        }
    }
    listing.unusable = unusable;
    if unusable > 0 {
        tracing::warn!(
            advertiser_id,
            unusable,
            "TikTok listed ads without a readable ad_id; report splits cannot name them."
        );
    }
    Ok(Arc::new(listing))
}

/// The fallback when the ad listing cannot plan a split (empty, or ads without parents where
/// the level needs them): every campaign of the scope, 100 per `campaign_ids` filter, which
/// covers every ad whatever it lacks. `[None]` (one unsplit query, with a warning) when TikTok
/// lists no campaign either.
pub(super) async fn split_by_campaign(
    ctx: &Context,
    RowsOf {
        binding,
        advertiser_id,
    }: RowsOf,
    scope: BuyingScope,
    listing: &AdListing,
) -> Result<Vec<Option<Value>>> {
    let query = scoped_listing(
        CAMPAIGNS,
        scope,
        ctx.listing_rules(),
        advertiser_id,
        &["campaign_id"],
    );
    let mut campaigns = std::collections::BTreeSet::new();
    campaigns.extend(listing.ads.iter().filter_map(|a| a.campaign));
    let pages = ctx.pages(CountFor::Binding(binding), query);
    futures::pin_mut!(pages);
    while let Some(page) = pages.next().await {
        for raw in page?.records {
            let v: Value = serde_json::from_str(raw.get()).unwrap_or(Value::Null);
            campaigns.extend(record::id_of(&v["campaign_id"]));
        }
    }
    if campaigns.is_empty() {
        tracing::warn!(
            advertiser_id,
            ads = listing.ads.len(),
            "TikTok counts more ads than one report processes but lists no usable ad or \
             campaign to split by; querying unsplit, and its answers will say whether they are \
             complete."
        );
        return Ok(vec![None]);
    }
    let ids: Vec<u64> = campaigns.into_iter().collect();
    Ok(ids
        .chunks(MAX_IDS_PER_FILTER)
        .map(|chunk| Some(id_filter("campaign_ids", chunk)))
        .collect())
}

/// Id filters that cover every listed ad of a report at `level`, each selecting at most
/// `per_query` ads and holding at most [`MAX_IDS_PER_FILTER`] ids: whole campaigns where they
/// fit, else whole ad groups, else (at ad level) ads 100 at a time. `None` when the listing
/// cannot plan it: no ads, the advertiser level (no id filter there), or ads without the parent
/// the level needs.
pub(crate) fn plan_splits(
    listing: &AdListing,
    level: Level,
    per_query: usize,
) -> Option<Vec<Option<Value>>> {
    if listing.ads.is_empty() || level == Level::Advertiser {
        return None;
    }
    let per_query = per_query.max(1);
    let mut by_campaign: BTreeMap<u64, BTreeMap<u64, Vec<u64>>> = BTreeMap::new();
    let mut orphans: Vec<u64> = Vec::new();
    for ad in &listing.ads {
        match (ad.campaign, ad.adgroup) {
            (Some(c), Some(g)) => by_campaign
                .entry(c)
                .or_default()
                .entry(g)
                .or_default()
                .push(ad.ad),
            _ => orphans.push(ad.ad),
        }
    }
    if !orphans.is_empty() && level != Level::Ad {
        return None;
    }
    let mut filters = Vec::new();
    let pack = |field: &str, items: Vec<(u64, usize)>, filters: &mut Vec<Value>| {
        let mut ids: Vec<u64> = Vec::new();
        let mut count = 0;
        for (id, n) in items {
            if !ids.is_empty() && (count + n > per_query || ids.len() == MAX_IDS_PER_FILTER) {
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
        if n <= per_query || level == Level::Campaign {
            small_campaigns.push((*campaign, n));
            continue;
        }
        let mut small_groups = Vec::new();
        for (group, group_ads) in groups {
            if group_ads.len() <= per_query || level == Level::AdGroup {
                small_groups.push((*group, group_ads.len()));
            } else {
                for chunk in group_ads.chunks(MAX_IDS_PER_FILTER.min(per_query)) {
                    filters.push(id_filter("ad_ids", chunk));
                }
            }
        }
        pack("adgroup_ids", small_groups, &mut filters);
    }
    pack("campaign_ids", small_campaigns, &mut filters);
    for chunk in orphans.chunks(MAX_IDS_PER_FILTER.min(per_query)) {
        filters.push(id_filter("ad_ids", chunk));
    }
    Some(filters.into_iter().map(Some).collect())
}

/// Narrower filters for one TikTok answered over the cap: its ids in two halves, or a single
/// campaign's ad groups (or ads), or a single ad group's ads, as far as the level allows.
/// `None` when nothing narrower exists.
pub(crate) fn subdivide(
    filter: &Value,
    listing: &AdListing,
    level: Level,
) -> Option<Vec<Option<Value>>> {
    let (field, ids) = Filter::ids_of(filter)?;
    if ids.len() > 1 {
        let (a, b) = ids.split_at(ids.len() / 2);
        return Some(vec![Some(id_filter(field, a)), Some(id_filter(field, b))]);
    }
    let id = *ids.first()?;
    let chunks = |field: &str, mut children: Vec<u64>| {
        children.sort_unstable();
        children.dedup();
        (children.len() > 1).then(|| {
            children
                .chunks(MAX_IDS_PER_FILTER)
                .map(|c| Some(id_filter(field, c)))
                .collect::<Vec<_>>()
        })
    };
    let ads_of = |keep: &dyn Fn(&ListedAd) -> bool| -> Vec<u64> {
        listing
            .ads
            .iter()
            .filter(|a| keep(a))
            .map(|a| a.ad)
            .collect()
    };
    match (field, level) {
        ("campaign_ids", Level::AdGroup | Level::Ad) => {
            let groups: Vec<u64> = listing
                .ads
                .iter()
                .filter(|a| a.campaign == Some(id))
                .filter_map(|a| a.adgroup)
                .collect();
            chunks("adgroup_ids", groups).or_else(|| {
                (level == Level::Ad)
                    .then(|| chunks("ad_ids", ads_of(&|a| a.campaign == Some(id))))
                    .flatten()
            })
        }
        ("adgroup_ids", Level::Ad) => chunks("ad_ids", ads_of(&|a| a.adgroup == Some(id))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn listing(ads: &[(Option<u64>, Option<u64>, u64)]) -> AdListing {
        AdListing {
            ads: ads
                .iter()
                .map(|&(campaign, adgroup, ad)| ListedAd {
                    campaign,
                    adgroup,
                    ad,
                })
                .collect(),
            unusable: 0,
        }
    }

    /// The ads each filter of `filters` selects, checking both of TikTok's limits.
    fn coverage(filters: &[Option<Value>], listing: &AdListing, per_query: usize) -> Vec<u64> {
        let mut covered = Vec::new();
        for f in filters {
            let f = f.as_ref().expect("a filter");
            let ids: Vec<String> =
                serde_json::from_str(f["filter_value"].as_str().unwrap()).unwrap();
            assert!(ids.len() <= MAX_IDS_PER_FILTER, "{} ids", ids.len());
            let ids: std::collections::HashSet<u64> =
                ids.iter().map(|i| i.parse().unwrap()).collect();
            let field = f["field_name"].as_str().unwrap();
            let selected: Vec<u64> = listing
                .ads
                .iter()
                .filter(|a| {
                    let key = match field {
                        "campaign_ids" => a.campaign,
                        "adgroup_ids" => a.adgroup,
                        _ => Some(a.ad),
                    };
                    key.is_some_and(|k| ids.contains(&k))
                })
                .map(|a| a.ad)
                .collect();
            assert!(
                selected.len() <= per_query,
                "{field} filter selects {} ads",
                selected.len()
            );
            covered.extend(selected);
        }
        covered.sort_unstable();
        covered
    }

    #[test]
    fn ad_splits_respect_both_limits_and_cover_every_ad() {
        let mut ads = Vec::new();
        // 300 small campaigns of 80 ads, and one campaign of 45,000 ads in ad groups of 10,000
        // except one group of 25,000; plus 150 ads TikTok lists without parents.
        let mut next = 1_000_000u64;
        for c in 0..300u64 {
            for _ in 0..80 {
                next += 1;
                ads.push((Some(c), Some(10_000 + c), next));
            }
        }
        for g in 0..2u64 {
            for _ in 0..10_000 {
                next += 1;
                ads.push((Some(999), Some(20_000 + g), next));
            }
        }
        for _ in 0..25_000 {
            next += 1;
            ads.push((Some(999), Some(30_000), next));
        }
        for _ in 0..150 {
            next += 1;
            ads.push((None, None, next));
        }
        let listing = listing(&ads);
        let filters = plan_splits(&listing, Level::Ad, MAX_ADS_PER_QUERY).unwrap();
        let covered = coverage(&filters, &listing, MAX_ADS_PER_QUERY);
        let mut all: Vec<u64> = ads.iter().map(|a| a.2).collect();
        all.sort_unstable();
        assert_eq!(covered, all, "every ad exactly once");
        // Ad groups and campaigns: whole entities (an ad group cannot be split at its level),
        // every parent covered once; ads without parents make the plan impossible there.
        assert!(plan_splits(&listing, Level::AdGroup, MAX_ADS_PER_QUERY).is_none());
        assert!(plan_splits(&listing, Level::Advertiser, MAX_ADS_PER_QUERY).is_none());
        let parented = super::AdListing {
            unusable: 0,
            ads: listing
                .ads
                .iter()
                .copied()
                .filter(|a| a.campaign.is_some())
                .collect(),
        };
        let groups = plan_splits(&parented, Level::AdGroup, MAX_ADS_PER_QUERY).unwrap();
        let fields: std::collections::BTreeSet<&str> = groups
            .iter()
            .map(|f| f.as_ref().unwrap()["field_name"].as_str().unwrap())
            .collect();
        assert_eq!(
            fields,
            ["adgroup_ids", "campaign_ids"].into_iter().collect(),
            "campaign 999 is split by ad group"
        );
        let campaigns = plan_splits(&parented, Level::Campaign, MAX_ADS_PER_QUERY).unwrap();
        // Three filters of 100 small campaigns, and the campaign over the cap alone (TikTok
        // will mark it; nothing narrower exists at campaign level).
        assert_eq!(campaigns.len(), 4);
        assert_eq!(
            campaigns[3],
            Some(id_filter("campaign_ids", &[999])),
            "{campaigns:?}"
        );
        assert!(plan_splits(&AdListing::default(), Level::Ad, 10).is_none());
    }

    #[test]
    fn a_filter_over_the_cap_is_narrowed_as_far_as_the_level_allows() {
        let ads: Vec<(Option<u64>, Option<u64>, u64)> = (0..30u64)
            .map(|i| (Some(1 + i / 15), Some(100 + i / 5), 1000 + i))
            .collect();
        let listing = listing(&ads);
        // Several ids: two halves.
        let two = subdivide(
            &id_filter("campaign_ids", &[1, 2]),
            &listing,
            Level::Campaign,
        );
        assert_eq!(
            two,
            Some(vec![
                Some(id_filter("campaign_ids", &[1])),
                Some(id_filter("campaign_ids", &[2]))
            ])
        );
        // One campaign: nothing narrower at campaign level; its ad groups below it.
        assert_eq!(
            subdivide(&id_filter("campaign_ids", &[1]), &listing, Level::Campaign),
            None
        );
        assert_eq!(
            subdivide(&id_filter("campaign_ids", &[1]), &listing, Level::AdGroup),
            Some(vec![Some(id_filter("adgroup_ids", &[100, 101, 102]))])
        );
        // One ad group: its ads, at ad level only.
        assert_eq!(
            subdivide(&id_filter("adgroup_ids", &[100]), &listing, Level::Ad),
            Some(vec![Some(id_filter(
                "ad_ids",
                &[1000, 1001, 1002, 1003, 1004]
            ))])
        );
        assert_eq!(
            subdivide(&id_filter("adgroup_ids", &[100]), &listing, Level::AdGroup),
            None
        );
        assert_eq!(
            subdivide(&id_filter("ad_ids", &[1000]), &listing, Level::Ad),
            None
        );
        // Narrowing a plan to fewer ads per query than the cap (TikTok's cap lower than ours).
        let small = plan_splits(&listing, Level::Ad, 8).unwrap();
        let covered = coverage(&small, &listing, 8);
        assert_eq!(covered.len(), 30);
    }

    #[test]
    fn topview_adds_the_buying_type_report_filter() {
        assert_eq!(BuyingScope::AuctionAndReachFrequency.report_filter(), None);
        assert_eq!(
            BuyingScope::TopView.report_filter(),
            Some(json!({"field_name": "buying_type", "filter_type": "IN",
                        "filter_value": "[\"RESERVATION_TOP_VIEW\"]"}))
        );
        let listing = |scope| {
            let rules = ListingRules {
                include_deleted: true,
                buying_types: true,
            };
            let query = scoped_listing(ADS, scope, rules, 7, &["ad_id"]);
            assert_eq!(
                query.params[..2],
                [
                    ("advertiser_id", "7".to_string()),
                    ("fields", r#"["ad_id"]"#.to_string())
                ]
            );
            let filtering: Value = serde_json::from_str(&query.params[2].1).unwrap();
            (
                filtering["buying_types"].clone(),
                query.page_size,
                filtering,
            )
        };
        let (types, page_size, filtering) = listing(BuyingScope::TopView);
        assert_eq!((types, page_size), (json!(["RESERVATION_TOP_VIEW"]), 100));
        assert_eq!(filtering["secondary_status"], "AD_STATUS_ALL");
        let (types, page_size, _) = listing(BuyingScope::AuctionAndReachFrequency);
        assert_eq!(
            (types, page_size),
            (json!(["AUCTION", "RESERVATION_RF"]), 1000)
        );
    }
}
