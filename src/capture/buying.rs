//! What a run knows of each ad account's TopView campaigns: their listing, made once per
//! account and shared by the `campaigns` binding (its TopView rows), the ad group and ad
//! listings and the report planner.
//!
//! TikTok lists TopView campaigns, ad groups and ads only when asked for them alone
//! (`filtering.buying_types = ["RESERVATION_TOP_VIEW"]`, Get campaigns, portal doc
//! 1739315828649986; Get ad groups 1739314558673922; Get ads 1735735588640770). An ad group or an
//! ad has its campaign's buying type, so an account whose TopView campaign listing is empty has
//! no TopView ad group or ad either: their listings, the TopView ad count and TopView report
//! queries are not asked for it. Deleted campaigns are in the listing whenever deleted entities
//! are captured, so their ad groups and ads are still found.
//!
//! Where the TopView listing holds campaigns, the account's auction and reach & frequency
//! listing is read alongside (and shared with the `campaigns` binding, so it costs nothing
//! there): a campaign has one buying type, so a campaign in both listings means the server does
//! not apply `buying_types` and its default listing already holds every campaign. Then nothing is
//! asked for TopView, which would only repeat every listing and report query of the account.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures::StreamExt;

use super::context::{Context, CountFor, Warning};
use super::listing::{entity_listings, BuyingScope};
pub(crate) use super::shared::TopViewCampaigns;
use crate::client::Page;
use crate::error::Result;
use crate::registry::{self, Kind};

/// The account's TopView campaigns, listed on first use (its requests count for `binding`).
pub(crate) async fn topview_campaigns(
    ctx: &Context,
    binding: usize,
    advertiser_id: u64,
) -> Result<Arc<TopViewCampaigns>> {
    ctx.topview
        .get_or_try_make(advertiser_id, || list(ctx, binding, advertiser_id))
        .await
}

/// Whether the account may have TopView campaigns, ad groups or ads: `false` only when its
/// TopView campaign listing is known to be empty, or not to be one.
pub(crate) async fn may_have_topview(
    ctx: &Context,
    binding: usize,
    advertiser_id: u64,
) -> Result<bool> {
    Ok(has_any(
        &*topview_campaigns(ctx, binding, advertiser_id).await?,
    ))
}

/// What [`may_have_topview`] would answer, without asking (`true` while unknown).
pub(crate) async fn peek_may_have_topview(ctx: &Context, advertiser_id: u64) -> bool {
    ctx.topview
        .peek(advertiser_id)
        .await
        .is_none_or(|listing| has_any(&listing))
}

/// Whether the account's auction and reach & frequency campaigns were listed ahead (no request).
pub(crate) async fn peek_auction_listed(ctx: &Context, advertiser_id: u64) -> bool {
    ctx.topview
        .peek(advertiser_id)
        .await
        .is_some_and(|listing| listing.auction.is_some())
}

fn has_any(listing: &TopViewCampaigns) -> bool {
    !listing.filter_ignored
        && listing
            .topview
            .as_ref()
            .is_none_or(|pages| pages.iter().any(|p| !p.records.is_empty()))
}

/// One listing of the `campaigns` row (its own filter and page size, so its pages can serve
/// that binding unchanged).
async fn list_campaigns(
    ctx: &Context,
    binding: usize,
    advertiser_id: u64,
    scope: BuyingScope,
) -> Result<Vec<Page>> {
    let row = &registry::CAMPAIGNS;
    let Kind::Entity(def) = row.kind else {
        return Ok(Vec::new());
    };
    let Some(listing) = entity_listings(&def, ctx.listing_rules())
        .into_iter()
        .find(|listing| listing.scope == Some(scope))
    else {
        return Ok(Vec::new());
    };
    let pages = ctx.pages(
        CountFor::Binding(binding),
        listing.query(row, advertiser_id),
    );
    futures::pin_mut!(pages);
    let mut listed = Vec::new();
    while let Some(page) = pages.next().await {
        listed.push(page?);
    }
    Ok(listed)
}

/// The TopView listing, and where it holds campaigns the auction and reach & frequency one,
/// checked against each other. A listing that cannot be read is not known (`None`): not
/// knowing costs requests, never rows, since the bindings then list for themselves and meet
/// the error on their own.
async fn list(ctx: &Context, binding: usize, advertiser_id: u64) -> Result<Arc<TopViewCampaigns>> {
    if ctx.buying_types_refused.load(Ordering::Relaxed) {
        return Ok(Arc::new(TopViewCampaigns {
            filter_ignored: true,
            ..TopViewCampaigns::default()
        }));
    }
    let unknown = |err: crate::error::Error, what: &str| {
        if err.stops_the_run() {
            return Err(err);
        }
        tracing::debug!(advertiser_id, error = %err, "{what} campaigns cannot be listed ahead.");
        Ok(None)
    };
    let topview = match list_campaigns(ctx, binding, advertiser_id, BuyingScope::TopView).await {
        Ok(pages) => Some(pages),
        // TikTok documents the filter: a server that refuses it as a parameter error does not
        // know buying types, and its default listing holds every campaign it has.
        Err(err) if err.api_code() == Some(40002) => {
            ctx.buying_types_refused.store(true, Ordering::Relaxed);
            warn_buying_types(ctx, advertiser_id, "refuses filtering.buying_types");
            return Ok(Arc::new(TopViewCampaigns {
                filter_ignored: true,
                ..TopViewCampaigns::default()
            }));
        }
        Err(err) => unknown(err, "TopView")?,
    };
    let holds_any = topview
        .as_ref()
        .is_some_and(|pages| pages.iter().any(|p| !p.records.is_empty()));
    if !holds_any {
        return Ok(Arc::new(TopViewCampaigns {
            topview,
            ..TopViewCampaigns::default()
        }));
    }
    let auction = match list_campaigns(
        ctx,
        binding,
        advertiser_id,
        BuyingScope::AuctionAndReachFrequency,
    )
    .await
    {
        Ok(pages) => Some(pages),
        Err(err) => unknown(err, "Auction and reach & frequency")?,
    };
    let filter_ignored = match (&topview, &auction) {
        (Some(topview), Some(auction)) => {
            let listed = campaign_ids(auction);
            campaign_ids(topview).iter().any(|id| listed.contains(id))
        }
        _ => false,
    };
    if filter_ignored {
        warn_buying_types(
            ctx,
            advertiser_id,
            "lists the same campaigns as TopView and as auction or reach & frequency: it does \
             not apply filtering.buying_types",
        );
    }
    Ok(Arc::new(TopViewCampaigns {
        topview,
        auction,
        filter_ignored,
    }))
}

/// Says once per run that the server does not keep buying types apart.
fn warn_buying_types(ctx: &Context, advertiser_id: u64, what: &str) {
    if ctx.first_warning(Warning::BuyingTypesIgnored, None, 0) {
        tracing::warn!(
            advertiser_id,
            "The server {what}, so its listings already hold every campaign and nothing is asked \
             for TopView apart."
        );
    }
}

/// The `campaign_id`s of listed pages (whether TikTok sent a string or a number).
fn campaign_ids(pages: &[Page]) -> std::collections::HashSet<u64> {
    pages
        .iter()
        .flat_map(|p| &p.records)
        .filter_map(|raw| {
            let row: serde_json::Value = serde_json::from_str(raw.get()).ok()?;
            super::record::id_of(&row["campaign_id"])
        })
        .collect()
}
