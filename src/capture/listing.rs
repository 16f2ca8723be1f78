//! How a run lists what TikTok lists: TikTok's buying types as this connector asks for them
//! ([`BuyingScope`]: which entity listings and report queries cover auction and reach &
//! frequency delivery, and which TopView), the listings of an entity row ([`entity_listings`],
//! one per buying scope where the row has them, deleted entities by their status filter), and
//! the shape of one paged listing ([`ListQuery`]). A leaf, pure: the entity streams, the TopView
//! campaign listing, the ad counts and the report queries all read it.

use serde::Serialize;
use serde_json::{json, Value};

use super::report::filter::Filter;
use crate::client::Params;
use crate::registry::{EntityDef, Kind, StreamDef};

/// Which buying types one listing or report query covers. TikTok's entity listings
/// (`filtering.buying_types`, Get campaigns, portal doc 1739315828649986; Get ad groups,
/// 1739314558673922; Get ads, 1735735588640770) default to auction and reach & frequency, and
/// TopView must be asked alone with `page_size` at most 100. Its `service_type=AUCTION` reports
/// cover auction and reach & frequency ads; TopView delivery comes only with the report filter
/// `buying_type` = `RESERVATION_TOP_VIEW` (Run a synchronous report, portal doc
/// 1740302848100353). An ad has one buying type, so the two answers never share a key. The
/// advertiser level already holds every buying type and is asked once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuyingScope {
    AuctionAndReachFrequency,
    TopView,
}

/// The largest page of a TopView listing.
pub(crate) const TOP_VIEW_PAGE_SIZE: u32 = 100;

impl BuyingScope {
    /// Every scope, in the order a binding lists them.
    pub(crate) const ALL: [BuyingScope; 2] =
        [BuyingScope::AuctionAndReachFrequency, BuyingScope::TopView];

    /// The `filtering.buying_types` of this scope's entity listings.
    pub(crate) fn buying_types(self) -> &'static [&'static str] {
        match self {
            BuyingScope::AuctionAndReachFrequency => &["AUCTION", "RESERVATION_RF"],
            BuyingScope::TopView => &["RESERVATION_TOP_VIEW"],
        }
    }

    /// The largest page this scope's entity listings may ask for.
    pub(crate) fn max_page_size(self) -> u32 {
        match self {
            BuyingScope::AuctionAndReachFrequency => u32::MAX,
            BuyingScope::TopView => TOP_VIEW_PAGE_SIZE,
        }
    }

    /// The report filter this scope adds.
    pub fn report_filter(self) -> Option<Value> {
        match self {
            BuyingScope::AuctionAndReachFrequency => None,
            BuyingScope::TopView => {
                Some(Filter::is_in("buying_type", &["RESERVATION_TOP_VIEW"]).to_value())
            }
        }
    }
}

/// One paged listing: the endpoint, its parameters (without the page), the key of its list in
/// `data`, and the page size.
#[derive(Debug, Clone)]
pub(crate) struct ListQuery {
    pub(crate) endpoint: &'static str,
    pub(crate) params: Params,
    pub(crate) list_key: &'static str,
    pub(crate) page_size: u32,
}

/// How a run lists entities: with deleted ones or not, and whether the server takes
/// `filtering.buying_types` (one that refuses it lists every buying type it has by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ListingRules {
    pub(crate) include_deleted: bool,
    pub(crate) buying_types: bool,
}

/// The `filtering` object of an entity listing (Get campaigns, ad groups, ads): the buying
/// types it asks for and the `secondary_status` that includes deleted entities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub(crate) struct ListingFilter {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) buying_types: Option<&'static [&'static str]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) secondary_status: Option<&'static str>,
}

/// One listing of an entity row for one advertiser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Listing {
    /// The buying scope it covers; `None` for rows without buying types, or a server that
    /// refuses them (its default listing then holds every buying type it has).
    pub(crate) scope: Option<BuyingScope>,
    pub(crate) filtering: Option<ListingFilter>,
    pub(crate) page_size: u32,
}

impl Listing {
    /// The listing's parameters for one advertiser, asking only for `fields` when given.
    pub(crate) fn params(&self, advertiser_id: u64, fields: Option<&[&str]>) -> Params {
        let mut params: Params = vec![("advertiser_id", advertiser_id.to_string())];
        params.extend(fields.map(|fields| ("fields", json!(fields).to_string())));
        params.extend(self.filtering.map(|f| ("filtering", json!(f).to_string())));
        params
    }

    /// The whole listing of `row` for one advertiser, every field.
    pub(crate) fn query(&self, row: &'static StreamDef, advertiser_id: u64) -> ListQuery {
        let list_key = match row.kind {
            Kind::Entity(def) => def.list_key,
            _ => "list",
        };
        ListQuery {
            endpoint: row.endpoint,
            params: self.params(advertiser_id, None),
            list_key,
            page_size: self.page_size,
        }
    }
}

/// The listings of one entity row for one advertiser. Rows with [`EntityDef::per_buying_type`]
/// have one per [`BuyingScope`] (one, without buying types, from a server that refuses them);
/// deleted entities are included by their `secondary_status` filter when asked for.
pub(crate) fn entity_listings(def: &EntityDef, rules: ListingRules) -> Vec<Listing> {
    let secondary_status = def.status_all.filter(|_| rules.include_deleted);
    if def.per_buying_type && rules.buying_types {
        BuyingScope::ALL
            .iter()
            .map(|&scope| Listing {
                scope: Some(scope),
                filtering: Some(ListingFilter {
                    buying_types: Some(scope.buying_types()),
                    secondary_status,
                }),
                page_size: def.page_size.min(scope.max_page_size()),
            })
            .collect()
    } else {
        vec![Listing {
            scope: None,
            filtering: secondary_status.map(|status| ListingFilter {
                buying_types: None,
                secondary_status: Some(status),
            }),
            page_size: def.page_size,
        }]
    }
}
