//! The entity streams (campaigns, ad groups, ads, creative assets, audiences...): one unit per
//! list row and ad account reads the row's listings whole (one per buying scope where the row
//! has them, TopView apart) and emits what changed since the cursor, which moves to the newest
//! trustworthy `modify_time`, never past the day before the listing began.

use std::time::Duration;

use futures::StreamExt;

use super::advertisers::Advertiser;
use super::buying;
use super::context::{Context, CountFor, RowsOf, Warning};
use super::listing::{entity_listings, BuyingScope, Listing};
use super::record::{self, RecordKey};
use super::state::{self, StatePatch};
use crate::error::Result;
use crate::registry::{EntityDef, Key, StreamDef};

/// How far a server time may be ahead of this machine's UTC clock and still become a cursor.
/// TikTok's times carry no zone, and some answers are in the ad account's zone (up to 14 hours
/// ahead of UTC), so a day; a time past that (2099) is an error, not a clock difference.
pub(crate) const CLOCK_SKEW: Duration = Duration::from_secs(24 * 3600);

/// One list row for one advertiser.
pub(crate) struct EntityUnit<'a> {
    pub(crate) binding: usize,
    pub(crate) row: &'static StreamDef,
    pub(crate) def: EntityDef,
    pub(crate) advertiser: &'a Advertiser,
}

impl EntityUnit<'_> {
    /// Reads the unit's listings: see [`entity_unit`].
    pub(crate) async fn run(
        &self,
        ctx: &Context,
        incremental: bool,
        cursor: Option<String>,
    ) -> Result<()> {
        entity_unit(ctx, self, incremental, cursor).await
    }

    /// One listing, plus one of TopView entities where the account may have them (rows with
    /// buying types). The campaigns' TopView listing was made before the plan, and their other
    /// one too where TopView campaigns were listed.
    pub(crate) async fn planned_requests(&self, ctx: &Context) -> u64 {
        let advertiser_id = self.advertiser.id;
        if !self.def.per_buying_type {
            1
        } else if self.row.name == crate::registry::CAMPAIGNS.name {
            u64::from(!buying::peek_auction_listed(ctx, advertiser_id).await)
        } else {
            1 + u64::from(buying::peek_may_have_topview(ctx, advertiser_id).await)
        }
    }

    /// The records' key field (list rows have one).
    fn id_field(&self) -> &'static str {
        match self.row.key {
            Key::Fields(&[id, ..]) => id,
            _ => "id",
        }
    }
}

/// An entity stream for one advertiser: read the full list, emit what changed since the cursor
/// (everything on the first pass), then move the cursor to the newest `modify_time` seen.
/// The whole list is asked for because TikTok documents no modified-since filter for
/// `campaign|adgroup|ad/get/` (only creation-time bounds), and it also shows deletions.
async fn entity_unit(
    ctx: &Context,
    unit: &EntityUnit<'_>,
    incremental: bool,
    cursor: Option<String>,
) -> Result<()> {
    let EntityUnit {
        binding,
        row,
        def,
        advertiser,
    } = *unit;
    let id_field = unit.id_field();
    let listing_began = ctx.config.clock.now().naive_utc();
    // Streams without a cursor are read whole every run.
    let incremental = incremental && row.cursor.is_some();
    let cursor = cursor.filter(|_| incremental);
    let mut newest = cursor.clone();
    let of = RowsOf {
        binding,
        advertiser_id: advertiser.id,
    };
    let mut rows_of_page = |records: &[Box<serde_json::value::RawValue>]| {
        ctx.page_records(of, records, |raw, types, notes| {
            let entity = record::entity(raw, RecordKey::new(id_field, def.id_from), types, notes)?;
            let modify_time = entity
                .modify_time
                .as_deref()
                .map(|t| (t, cursor_time(ctx, unit, t)));
            // A row whose time cannot be read is always emitted; a time in the future is
            // compared as usual (it is after the cursor) but does not move it.
            let changed = match (&cursor, modify_time) {
                (Some(c), Some((t, CursorTime::Trusted | CursorTime::Future))) => t >= c.as_str(),
                _ => true,
            };
            if let Some((t, CursorTime::Trusted)) = modify_time {
                if newest.as_deref().is_none_or(|n| t > n) {
                    newest = Some(t.to_string());
                }
            }
            Ok((changed || !incremental).then_some(entity.doc))
        })
    };
    for listing in entity_listings(&def, ctx.listing_rules()) {
        match listing_pages(ctx, unit, &listing).await? {
            ListingPages::Ask => {}
            ListingPages::Skip => continue,
            ListingPages::ListedAhead { shared, topview } => {
                let pages = match topview {
                    true => shared.topview.as_deref(),
                    false => shared.auction.as_deref(),
                };
                for page in pages.unwrap_or_default() {
                    let docs = rows_of_page(&page.records)?;
                    ctx.records(binding, docs).await?;
                }
                continue;
            }
        }
        let pages = ctx.pages(
            CountFor::Binding(binding),
            listing.query(row, advertiser.id),
        );
        futures::pin_mut!(pages);
        while let Some(page) = pages.next().await {
            let docs = rows_of_page(&page?.records)?;
            ctx.records(binding, docs).await?;
        }
    }
    let newest = newest.map(|newest| newest.min(cursor_ceiling(listing_began)));
    let patch = match newest {
        Some(newest) if incremental && cursor.as_ref().is_none_or(|c| newest > *c) => {
            StatePatch::cursor(advertiser.id, &newest)
        }
        _ => StatePatch::Nothing,
    };
    ctx.checkpoint(binding, patch).await
}

/// Where one listing's pages come from.
enum ListingPages {
    /// TikTok, now.
    Ask,
    /// Nowhere: a TopView listing of an account without TopView, or one that would repeat the
    /// other listing (the server ignores `buying_types`).
    Skip,
    /// The campaign listings made once per account before the bindings start, and shared.
    ListedAhead {
        shared: std::sync::Arc<buying::TopViewCampaigns>,
        topview: bool,
    },
}

async fn listing_pages(
    ctx: &Context,
    unit: &EntityUnit<'_>,
    listing: &Listing,
) -> Result<ListingPages> {
    let (binding, advertiser_id) = (unit.binding, unit.advertiser.id);
    let topview = listing.scope == Some(BuyingScope::TopView);
    if !unit.def.per_buying_type {
        return Ok(ListingPages::Ask);
    }
    if unit.row.endpoint == crate::registry::CAMPAIGNS.endpoint {
        let shared = buying::topview_campaigns(ctx, binding, advertiser_id).await?;
        if topview && shared.filter_ignored {
            return Ok(ListingPages::Skip);
        }
        let listed = match topview {
            true => shared.topview.is_some(),
            false => shared.auction.is_some(),
        };
        return Ok(match listed {
            true => ListingPages::ListedAhead { shared, topview },
            false => ListingPages::Ask,
        });
    }
    if topview && !buying::may_have_topview(ctx, binding, advertiser_id).await? {
        return Ok(ListingPages::Skip);
    }
    Ok(ListingPages::Ask)
}

/// The latest entity cursor a listing that began at `began` (UTC) may leave. An entity changed
/// while its account is listed, after its page was read, carries a time before changes that
/// later pages (or the next buying type's listing) show; a cursor at the newest time seen would
/// pass it, and that change would never be emitted. TikTok's times carry no zone (UTC, or the
/// ad account's, up to 14 hours either side), so the cursor stays [`CLOCK_SKEW`] before the
/// listing began: the next run emits that last day's changes again (duplicates by key, never a
/// gap), at no extra request, since the lists are read whole.
fn cursor_ceiling(began: chrono::NaiveDateTime) -> String {
    (began - CLOCK_SKEW)
        .format(state::ENTITY_CURSOR_FORMAT)
        .to_string()
}

/// What a `modify_time` may do to the cursor.
#[derive(Clone, Copy, PartialEq, Eq)]
enum CursorTime {
    /// A `YYYY-MM-DD HH:MM:SS` time no later than now (plus [`CLOCK_SKEW`]).
    Trusted,
    /// A time later than that.
    Future,
    /// Not a time at all.
    Unreadable,
}

/// Judges a `modify_time`. Anything but a trusted time is logged once per binding and
/// advertiser: the row is still emitted, but the cursor stays where it was, so one bad value
/// can neither freeze the stream nor make it skip rows.
fn cursor_time(ctx: &Context, unit: &EntityUnit<'_>, text: &str) -> CursorTime {
    let (binding, advertiser_id, endpoint) = (unit.binding, unit.advertiser.id, unit.row.endpoint);
    let Ok(time) = chrono::NaiveDateTime::parse_from_str(text, state::ENTITY_CURSOR_FORMAT) else {
        if ctx.first_warning(Warning::UnreadableModifyTime, Some(binding), advertiser_id) {
            tracing::warn!(
                endpoint,
                advertiser_id,
                modify_time = text,
                "TikTok sent a modify_time that is not a YYYY-MM-DD HH:MM:SS time; the row is \
                 kept but does not move the cursor."
            );
        }
        return CursorTime::Unreadable;
    };
    let latest = ctx.config.clock.now().naive_utc() + CLOCK_SKEW;
    if time > latest {
        if ctx.first_warning(Warning::FutureModifyTime, Some(binding), advertiser_id) {
            tracing::warn!(
                endpoint,
                advertiser_id,
                modify_time = text,
                "TikTok sent a modify_time later than now; the row is kept but does not move \
                 the cursor, which would otherwise skip every change until then."
            );
        }
        return CursorTime::Future;
    }
    CursorTime::Trusted
}
