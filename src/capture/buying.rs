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

use std::sync::Arc;

use futures::StreamExt;

use super::{entity_listings, Context};
use crate::client::{Page, Params};
use crate::error::Result;
use crate::registry::{self, Kind};

/// The TopView campaign listing of one account, or `None` when TikTok would not list them (then
/// every TopView listing is asked for, as if TopView existed).
pub type TopViewCampaigns = Option<Vec<Page>>;

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
/// TopView campaign listing is known to be empty.
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

fn has_any(listing: &TopViewCampaigns) -> bool {
    listing
        .as_ref()
        .is_none_or(|pages| pages.iter().any(|p| !p.records.is_empty()))
}

/// The `campaigns` row's own TopView listing (same filter, same page size), so its pages can
/// serve that binding unchanged.
async fn list(ctx: &Context, binding: usize, advertiser_id: u64) -> Result<Arc<TopViewCampaigns>> {
    let row = &registry::CAMPAIGNS;
    let Kind::Entity(def) = row.kind else {
        return Ok(Arc::new(None));
    };
    let Some((Some(filtering), page_size)) = entity_listings(&def, ctx.config.include_deleted)
        .into_iter()
        .nth(TOP_VIEW_LISTING)
    else {
        return Ok(Arc::new(None));
    };
    let params: Params = vec![
        ("advertiser_id", advertiser_id.to_string()),
        ("filtering", filtering.to_string()),
    ];
    let pages = ctx
        .client
        .pages(row.endpoint, params, def.list_key, page_size);
    futures::pin_mut!(pages);
    let mut listed = Vec::new();
    while let Some(page) = pages.next().await {
        match page {
            Ok(page) => {
                ctx.count_request(binding);
                listed.push(page);
            }
            Err(err) if err.stops_the_run() => return Err(err),
            // Not knowing costs requests, never rows: everything TopView is asked for. The
            // `campaigns` binding then lists them itself and meets the error on its own.
            Err(err) => {
                tracing::debug!(
                    advertiser_id,
                    error = %err,
                    "TopView campaigns cannot be listed; TopView ad groups, ads and delivery are \
                     asked for as if they existed."
                );
                return Ok(Arc::new(None));
            }
        }
    }
    Ok(Arc::new(Some(listed)))
}

/// The index of the TopView listing in [`super::BUYING_TYPE_LISTINGS`].
pub const TOP_VIEW_LISTING: usize = 1;
