//! The second step of a report query: which rows exist, as keys. Ads are the only unit that
//! delivers: an ad delivers on a deterministic subset of hours from its creation to today or
//! its deletion, to the breakdown values its targeting reaches. The plan selects the ads the
//! query processes (buying types, id filters, the ads cap), the entities of the query's level
//! (its status filter) with their member ads, and lists one key per time unit, entity and
//! breakdown value in which a member ad delivers: a campaign, ad group or advertiser row is
//! there exactly when one of its ads delivers in its bucket, and sums them (see `render`).

use std::collections::HashSet;

use super::render::{engagement_metric, json_key, MetricSpec, Wire};
use super::validate::{BuyingScope, IdFilters, Validated};
use super::{Bd, Ent, Member, ReportPlan, ReportQuery, RowKey, TimeDim};
use crate::catalog::{metric_type, section_of, Funnels, Level, ReportType, Section};
use crate::model::{adgroup_funnels, hash, Advertiser, Model};

/// Does the entity deliver in this hour?
pub(super) fn hour_active(seed: u64, id: u64, hour: i64) -> bool {
    hash(&[seed, id, hour as u64]) % 3 != 0
}

/// The `(id, index)` of the advertiser's entities at `level` that the status filter lists
/// (`keep` says whether a deleted or live one is kept), in index order: the advertiser itself
/// at its own level.
fn listed_entities(
    adv: &Advertiser,
    level: Level,
    keep: impl Fn(bool) -> bool,
) -> Vec<(u64, usize)> {
    let lives: Vec<(u64, bool)> = match level {
        Level::Advertiser => return vec![(adv.id, 0)],
        Level::Campaign => adv
            .campaigns
            .iter()
            .map(|c| (c.id, c.life.deleted))
            .collect(),
        Level::AdGroup => adv
            .adgroups
            .iter()
            .map(|g| (g.id, g.life.deleted))
            .collect(),
        Level::Ad => adv.ads.iter().map(|a| (a.id, a.life.deleted)).collect(),
    };
    lives
        .into_iter()
        .enumerate()
        .filter(|(_, (_, deleted))| keep(*deleted))
        .map(|(index, (id, _))| (id, index))
        .collect()
}

impl Model {
    /// The rows of a valid query, as keys: the entities of the level the filters and the buying
    /// types select, the ads cap (`ads_cap` most recently created ads processed), then one key
    /// per time unit, entity and breakdown with delivery.
    pub(super) fn plan(&self, q: &ReportQuery, v: Validated<'_>, ads_cap: usize) -> ReportPlan {
        // The ads the query processes: those of its buying types and id filters, at most
        // `ads_cap` of them, the most recently created.
        let ads = self.processed_ads(v.adv, v.buying, &v.ids, ads_cap);
        let (ents, members) = self.plan_entities(q.level, &v, &ads);
        let keys = self.row_keys(&v, &ents, &members);
        ReportPlan {
            advertiser_id: v.adv.id,
            level: q.level,
            dimensions: q
                .dimensions
                .iter()
                .map(|d| (d.clone(), json_key(d)))
                .collect(),
            metrics: q
                .metrics
                .iter()
                .map(|m| MetricSpec {
                    name: m.clone(),
                    key: json_key(m),
                    mtype: metric_type(m),
                    wire: if q.report_type == ReportType::Basic && engagement_metric(m) {
                        Wire::Num
                    } else {
                        Wire::Str
                    },
                    funnel: section_of(m).and_then(Section::funnel),
                })
                .collect(),
            asked_funnels: q
                .metrics
                .iter()
                .filter_map(|m| section_of(m).and_then(Section::funnel))
                .fold(0, |all, f| all | f.bit()),
            bd: v.bd,
            time: v.time,
            hours: v.hours,
            ents,
            members,
            keys,
            ads_throttled: ads.capped,
            selected_ads: ads.selected,
        }
    }

    /// The entities of the query's level its status, id and buying type filters select, in id
    /// order, each with its members: the ads under it the query processes (its buying types and
    /// id filters, what the ads cap keeps), deleted ones included, in ad order. An entity
    /// without any is left out: it has no delivery to show.
    ///
    /// The status filter (`campaign_status`, `adgroup_status`, `ad_status`: `STATUS_NOT_DELETE`
    /// by default, `STATUS_ALL`, `STATUS_DELETE`) applies to the query's data level only (Basic
    /// reports, [`crate::rules::docs::BASIC_REPORTS`]: each status filter is valid at its own
    /// data level, and the advertiser level has none): it decides which campaigns, ad groups or
    /// ads are listed, not what a listed one delivered. The advertiser's totals and a listed
    /// campaign's or ad group's figures hold what its deleted ads delivered before they were
    /// deleted, as TikTok's spend does (deleting an ad does not refund it), so a client
    /// reading a lower level without deleted entities sees less than the level above.
    fn plan_entities(
        &self,
        level: Level,
        v: &Validated<'_>,
        ads: &ProcessedAds,
    ) -> (Vec<Ent>, Vec<Member>) {
        let (adv, bd, seed) = (v.adv, v.bd, self.seed);
        // The buying type and id filters chose the processed ads: an entity outside them has
        // no members.
        let keep_deleted = |deleted: bool| v.keeps(deleted);
        let group_funnels: Vec<Funnels> = adv
            .adgroups
            .iter()
            .map(|g| adgroup_funnels(&adv.campaigns[g.campaign as usize], g))
            .collect();
        // The processed ads of each entity of the level, in ad order.
        let owner = |a: u32| -> usize {
            let ad = &adv.ads[a as usize];
            match level {
                Level::Advertiser => 0,
                Level::Campaign => ad.campaign as usize,
                Level::AdGroup => ad.adgroup as usize,
                Level::Ad => a as usize,
            }
        };
        let owners = match level {
            Level::Advertiser => 1,
            Level::Campaign => adv.campaigns.len(),
            Level::AdGroup => adv.adgroups.len(),
            Level::Ad => adv.ads.len(),
        };
        let mut by_owner: Vec<Vec<u32>> = vec![Vec::new(); owners];
        for &a in &ads.processed {
            by_owner[owner(a)].push(a);
        }
        let mut members: Vec<Member> = Vec::with_capacity(ads.processed.len());
        let mut ents: Vec<Ent> = Vec::new();
        let mut push = |id: u64, index: usize| {
            let own = &by_owner[index];
            if own.is_empty() {
                return;
            }
            let mut e = Ent {
                id,
                index: index as u32,
                first_hour: i64::MAX,
                last_hour: i64::MIN,
                bd_mask: 0,
                members: (members.len() as u32, own.len() as u32),
                funnels: 0,
            };
            for &a in own {
                let ad = &adv.ads[a as usize];
                let funnels = group_funnels[ad.adgroup as usize];
                e.first_hour = e.first_hour.min(ad.life.first_hour);
                e.last_hour = e.last_hour.max(ad.life.last_hour);
                e.bd_mask |= bd_mask(seed, ad.id, bd);
                e.funnels |= funnels;
                members.push(Member { ad: a, funnels });
            }
            ents.push(e);
        };
        for (id, index) in listed_entities(adv, level, keep_deleted) {
            push(id, index);
        }
        (ents, members)
    }

    /// The breakdown values entity `e`'s member ads deliver to between two hours (inclusive),
    /// as a bit mask of value indices.
    fn delivered_mask(
        &self,
        adv: &Advertiser,
        bd: Bd,
        e: &Ent,
        members: &[Member],
        (from, to): (i64, i64),
    ) -> u32 {
        let seed = self.seed;
        let (start, count) = (e.members.0 as usize, e.members.1 as usize);
        let mut mask = 0;
        for m in &members[start..start + count] {
            let ad = &adv.ads[m.ad as usize];
            let ad_mask = bd_mask(seed, ad.id, bd);
            if mask & ad_mask == ad_mask {
                continue;
            }
            let (from, to) = (from.max(ad.life.first_hour), to.min(ad.life.last_hour));
            let delivers = (from..=to).any(|h| {
                hour_active(seed, ad.id, h) && self.open_to_delivery(adv, h.div_euclid(24))
            });
            if delivers {
                mask |= ad_mask;
                if mask == e.bd_mask {
                    break;
                }
            }
        }
        mask
    }

    /// The row keys of the plan's entities: by time, entity, breakdown value, one for each
    /// time unit in which one of the entity's ads reaching that value delivers (the whole
    /// window without a time dimension).
    fn row_keys(&self, v: &Validated<'_>, ents: &[Ent], members: &[Member]) -> Vec<RowKey> {
        let (adv, bd, hours) = (v.adv, v.bd, v.hours);
        let mut keys = Vec::new();
        let push_bds = |keys: &mut Vec<RowKey>, time: i64, e: u32, mask: u32| {
            for b in 0..bd.count() {
                if mask & (1 << b) != 0 {
                    keys.push(RowKey {
                        time,
                        ent: e,
                        bd: b,
                    });
                }
            }
        };
        let delivered_mask =
            |e: &Ent, from: i64, to: i64| self.delivered_mask(adv, bd, e, members, (from, to));
        // Hours outside every entity's life have no rows: the loops below skip them (a range
        // of asynchronous task may span years).
        let lives = ents
            .iter()
            .map(|e| (e.first_hour, e.last_hour))
            .reduce(|(a, b), (c, d)| (a.min(c), b.max(d)));
        let (lo, hi) = match lives {
            Some((first, last)) => (hours.0.max(first), hours.1.min(last)),
            None => (1, 0),
        };
        match v.time {
            _ if lo > hi => {}
            TimeDim::Day => {
                // The clamp above may start or end mid-day (an entity's life); a day row sums
                // the whole day (each ad clamped by its own life), which is right because a
                // daily window starts and ends on day boundaries (lifetime queries have no
                // time dimension).
                debug_assert!(
                    hours.0.rem_euclid(24) == 0 && hours.1.rem_euclid(24) == 23,
                    "daily window {hours:?} not on day boundaries"
                );
                for day in lo.div_euclid(24)..=hi.div_euclid(24) {
                    for (k, e) in ents.iter().enumerate() {
                        let mask = delivered_mask(e, day * 24, day * 24 + 23);
                        push_bds(&mut keys, day, k as u32, mask);
                    }
                }
            }
            TimeDim::Hour => {
                for hour in lo..=hi {
                    for (k, e) in ents.iter().enumerate() {
                        if hour >= e.first_hour && hour <= e.last_hour {
                            push_bds(&mut keys, hour, k as u32, delivered_mask(e, hour, hour));
                        }
                    }
                }
            }
            TimeDim::Aggregate => {
                for (k, e) in ents.iter().enumerate() {
                    push_bds(&mut keys, 0, k as u32, delivered_mask(e, hours.0, hours.1));
                }
            }
        }
        keys
    }
}

impl Model {
    /// Whether the advertiser of `advertiser_id` delivers anything on `day` (its own date):
    /// whether one of its ads (every buying type, deleted ones included) delivers then, which
    /// is whether its advertiser-level daily totals have a row that day when the ads cap
    /// processes all of its ads, and whether its rows at every level do. An advertiser
    /// delivers only through its ads, so a day that is not idle but comes before its first ad
    /// (the first days of a short history often do) or after its last one has no row.
    pub fn advertiser_delivers_on(&self, advertiser_id: u64, day: chrono::NaiveDate) -> bool {
        let Some(adv) = self.advertiser(advertiser_id) else {
            return false;
        };
        let day = crate::model::day_num(day);
        self.open_to_delivery(adv, day)
            && adv.ads.iter().any(|ad| {
                let from = (day * 24).max(ad.life.first_hour);
                let to = (day * 24 + 23).min(ad.life.last_hour);
                (from..=to).any(|h| hour_active(self.seed, ad.id, h))
            })
    }
}

/// What the ads cap leaves of a report's ads.
struct ProcessedAds {
    capped: bool,
    /// The ads the query selects and the cap keeps, as indices in ad order.
    processed: Vec<u32>,
    /// How many ads the query selects (before the cap).
    selected: u32,
}

impl Model {
    /// The ads a report selects (buying types and id filters) and which of them the cap keeps:
    /// the `ads_cap` most recently created.
    fn processed_ads(
        &self,
        adv: &Advertiser,
        buying: BuyingScope,
        ids: &IdFilters,
        ads_cap: usize,
    ) -> ProcessedAds {
        let mut selected: Vec<u32> = adv
            .ads
            .iter()
            .enumerate()
            .filter(|(_, a)| {
                buying.covers(adv.campaigns[a.campaign as usize].buying)
                    && in_set(&ids.campaign_ids, adv.campaigns[a.campaign as usize].id)
                    && in_set(&ids.adgroup_ids, adv.adgroups[a.adgroup as usize].id)
                    && in_set(&ids.ad_ids, a.id)
            })
            .map(|(i, _)| i as u32)
            .collect();
        let total = selected.len() as u32;
        let capped = selected.len() > ads_cap;
        if capped {
            // The most recently created first; the cap keeps the first `ads_cap`.
            selected.sort_by_key(|&i| {
                let a = &adv.ads[i as usize];
                std::cmp::Reverse((a.life.create_ts, a.id))
            });
            selected.truncate(ads_cap);
            selected.sort_unstable();
        }
        ProcessedAds {
            capped,
            processed: selected,
            selected: total,
        }
    }
}

/// Which breakdown values an entity reaches (its targeting): about half, at least one.
fn bd_mask(seed: u64, id: u64, bd: Bd) -> u32 {
    if bd == Bd::None {
        return 1;
    }
    let n = bd.count() as u64;
    let mut mask = 0u32;
    for i in 0..n {
        if hash(&[seed ^ 0xB0, id, bd.code(), i]) % 2 == 0 {
            mask |= 1 << i;
        }
    }
    if mask == 0 {
        mask = 1 << (hash(&[seed, id, bd.code()]) % n);
    }
    mask
}

/// Whether `id` passes an id filter (`None`: the query filtered no ids of this kind).
fn in_set(set: &Option<HashSet<u64>>, id: u64) -> bool {
    set.as_ref().is_none_or(|s| s.contains(&id))
}

/// Whether an ad reaches breakdown value `index` (always, without a breakdown).
pub(super) fn reaches(seed: u64, ad_id: u64, bd: Bd, index: u16) -> bool {
    bd_mask(seed, ad_id, bd) & (1 << index) != 0
}
