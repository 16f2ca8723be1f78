//! The second step of a report query: which rows exist, as keys. An entity delivers on a
//! deterministic subset of hours from its creation to today or its deletion; the plan selects
//! the entities of the query's level (filters, buying types, the ads cap) and lists one key per
//! time unit, entity and breakdown value with delivery.

use std::collections::HashSet;

use super::render::{engagement_metric, json_key, MetricSpec, Wire};
use super::validate::{BuyingScope, IdFilters, Validated};
use super::{Bd, Ent, ReportPlan, ReportQuery, RowKey, TimeDim};
use crate::catalog::{metric_type, section_of, Funnels, Level, ReportType, Section};
use crate::model::{adgroup_funnels, hash, Advertiser, Life, Model};

/// Does the entity deliver in this hour?
pub(super) fn hour_active(seed: u64, id: u64, hour: i64) -> bool {
    hash(&[seed, id, hour as u64]) % 3 != 0
}

impl Model {
    /// The rows of a valid query, as keys: the entities of the level the filters and the buying
    /// types select, the ads cap (`ads_cap` most recently created ads processed), then one key
    /// per time unit, entity and breakdown with delivery.
    pub(super) fn plan(&self, q: &ReportQuery, v: Validated<'_>, ads_cap: usize) -> ReportPlan {
        // The ads the query processes: those of its buying types and id filters, at most
        // `ads_cap` of them, the most recently created.
        let ads = self.processed_ads(v.adv, v.buying, &v.ids, ads_cap);
        let ents = self.plan_entities(q.level, &v, &ads);
        let keys = self.row_keys(&v, &ents);
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
            bd: v.bd,
            time: v.time,
            hours: v.hours,
            ents,
            keys,
            ads_throttled: ads.capped,
            selected_ads: ads.all.1,
        }
    }

    /// The entities of the query's level its status, id and buying type filters select, in id
    /// order, each with the share of its ads the cap processes; those the cap leaves without
    /// any ad are left out.
    fn plan_entities(&self, level: Level, v: &Validated<'_>, ads: &ProcessedAds) -> Vec<Ent> {
        let (adv, ids, bd) = (v.adv, &v.ids, v.bd);
        let keep_deleted = |deleted: bool| v.keeps(deleted);
        let covers = |c: u32| v.buying.covers(adv.campaigns[c as usize].buying);
        let seed = self.seed;
        let mask_of = |id: u64| bd_mask(seed, id, bd);
        let (group_funnels, campaign_funnels, advertiser_funnels) = funnels_of(adv);
        // An entity of the plan; `None` when the ads cap leaves out every one of its ads.
        let ent =
            |id: u64, index: usize, life: &Life, share: Option<(u32, u32)>, funnels: Funnels| {
                if matches!(share, Some((0, _))) {
                    return None;
                }
                Some(Ent {
                    id,
                    index: index as u32,
                    first_hour: life.first_hour,
                    last_hour: life.last_hour,
                    bd_mask: mask_of(id),
                    share,
                    funnels,
                })
            };
        let mut ents: Vec<Ent> = Vec::new();
        match level {
            Level::Advertiser => ents.push(Ent {
                id: adv.id,
                index: 0,
                first_hour: adv.first_hour,
                last_hour: adv.last_hour,
                bd_mask: mask_of(adv.id),
                share: ads.share_of_all(),
                funnels: advertiser_funnels,
            }),
            Level::Campaign => {
                for (i, c) in adv.campaigns.iter().enumerate() {
                    if covers(i as u32)
                        && keep_deleted(c.life.deleted)
                        && in_set(&ids.campaign_ids, c.id)
                    {
                        let share = ads.share_of_campaign(i);
                        ents.extend(ent(c.id, i, &c.life, share, campaign_funnels[i]));
                    }
                }
            }
            Level::AdGroup => {
                for (i, g) in adv.adgroups.iter().enumerate() {
                    let c = &adv.campaigns[g.campaign as usize];
                    if covers(g.campaign)
                        && keep_deleted(g.life.deleted)
                        && in_set(&ids.campaign_ids, c.id)
                        && in_set(&ids.adgroup_ids, g.id)
                    {
                        let share = ads.share_of_adgroup(i);
                        ents.extend(ent(g.id, i, &g.life, share, group_funnels[i]));
                    }
                }
            }
            Level::Ad => {
                for (i, a) in adv.ads.iter().enumerate() {
                    if covers(a.campaign)
                        && keep_deleted(a.life.deleted)
                        && in_set(&ids.campaign_ids, adv.campaigns[a.campaign as usize].id)
                        && in_set(&ids.adgroup_ids, adv.adgroups[a.adgroup as usize].id)
                        && in_set(&ids.ad_ids, a.id)
                    {
                        let share = ads.share_of_ad(i);
                        ents.extend(ent(
                            a.id,
                            i,
                            &a.life,
                            share,
                            group_funnels[a.adgroup as usize],
                        ));
                    }
                }
            }
        }
        ents
    }

    /// The row keys of the plan's entities: by time, entity, breakdown value, one for each
    /// time unit in which the entity delivers (the whole window without a time dimension).
    fn row_keys(&self, v: &Validated<'_>, ents: &[Ent]) -> Vec<RowKey> {
        let (adv, bd, hours, seed) = (v.adv, v.bd, v.hours, self.seed);
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
        let delivers_hour =
            |e: &Ent, h: i64| hour_active(seed, e.id, h) && self.delivers_on(adv, h.div_euclid(24));
        let delivers = |e: &Ent, from: i64, to: i64| {
            let (from, to) = (from.max(e.first_hour), to.min(e.last_hour));
            (from..=to).any(|h| delivers_hour(e, h))
        };
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
                // the whole day (`delivers` clamps by the entity's life only), which is right
                // because a daily window starts and ends on day boundaries (lifetime queries
                // have no time dimension).
                debug_assert!(
                    hours.0.rem_euclid(24) == 0 && hours.1.rem_euclid(24) == 23,
                    "daily window {hours:?} not on day boundaries"
                );
                for day in lo.div_euclid(24)..=hi.div_euclid(24) {
                    for (k, e) in ents.iter().enumerate() {
                        if delivers(e, day * 24, day * 24 + 23) {
                            push_bds(&mut keys, day, k as u32, e.bd_mask);
                        }
                    }
                }
            }
            TimeDim::Hour => {
                for hour in lo..=hi {
                    for (k, e) in ents.iter().enumerate() {
                        if hour >= e.first_hour && hour <= e.last_hour && delivers_hour(e, hour) {
                            push_bds(&mut keys, hour, k as u32, e.bd_mask);
                        }
                    }
                }
            }
            TimeDim::Aggregate => {
                for (k, e) in ents.iter().enumerate() {
                    if delivers(e, hours.0, hours.1) {
                        push_bds(&mut keys, 0, k as u32, e.bd_mask);
                    }
                }
            }
        }
        keys
    }
}

/// What the ads cap leaves of a report's ads.
struct ProcessedAds {
    capped: bool,
    /// Per ad of the advertiser: selected by the query but beyond the cap.
    dropped: Vec<bool>,
    /// `(processed, selected)` per campaign, per ad group, and over all.
    by_campaign: Vec<(u32, u32)>,
    by_adgroup: Vec<(u32, u32)>,
    all: (u32, u32),
}

impl ProcessedAds {
    fn part((kept, total): (u32, u32)) -> Option<(u32, u32)> {
        (kept < total).then_some((kept, total))
    }

    fn share_of_all(&self) -> Option<(u32, u32)> {
        Self::part(self.all).filter(|_| self.capped)
    }

    fn share_of_campaign(&self, i: usize) -> Option<(u32, u32)> {
        self.by_campaign.get(i).copied().and_then(Self::part)
    }

    fn share_of_adgroup(&self, i: usize) -> Option<(u32, u32)> {
        self.by_adgroup.get(i).copied().and_then(Self::part)
    }

    fn share_of_ad(&self, i: usize) -> Option<(u32, u32)> {
        self.dropped
            .get(i)
            .copied()
            .unwrap_or(false)
            .then_some((0, 1))
    }
}

impl Model {
    /// The ads a report selects (buying types and id filters) and which of them the cap keeps.
    fn processed_ads(
        &self,
        adv: &Advertiser,
        buying: BuyingScope,
        ids: &IdFilters,
        ads_cap: usize,
    ) -> ProcessedAds {
        let in_set =
            |set: &Option<HashSet<u64>>, id: u64| set.as_ref().is_none_or(|s| s.contains(&id));
        let mut selected: Vec<usize> = adv
            .ads
            .iter()
            .enumerate()
            .filter(|(_, a)| {
                buying.covers(adv.campaigns[a.campaign as usize].buying)
                    && in_set(&ids.campaign_ids, adv.campaigns[a.campaign as usize].id)
                    && in_set(&ids.adgroup_ids, adv.adgroups[a.adgroup as usize].id)
                    && in_set(&ids.ad_ids, a.id)
            })
            .map(|(i, _)| i)
            .collect();
        let total = selected.len();
        if total <= ads_cap {
            return ProcessedAds {
                capped: false,
                dropped: Vec::new(),
                by_campaign: Vec::new(),
                by_adgroup: Vec::new(),
                all: (total as u32, total as u32),
            };
        }
        // The most recently created first.
        selected.sort_by_key(|&i| std::cmp::Reverse((adv.ads[i].life.create_ts, adv.ads[i].id)));
        let mut dropped = vec![false; adv.ads.len()];
        let mut by_campaign = vec![(0u32, 0u32); adv.campaigns.len()];
        let mut by_adgroup = vec![(0u32, 0u32); adv.adgroups.len()];
        for (rank, &i) in selected.iter().enumerate() {
            let kept = rank < ads_cap;
            dropped[i] = !kept;
            let a = &adv.ads[i];
            for slot in [
                &mut by_campaign[a.campaign as usize],
                &mut by_adgroup[a.adgroup as usize],
            ] {
                slot.0 += kept as u32;
                slot.1 += 1;
            }
        }
        ProcessedAds {
            capped: true,
            dropped,
            by_campaign,
            by_adgroup,
            all: (ads_cap as u32, total as u32),
        }
    }
}

/// The funnels each ad group runs, and those of each campaign and of the advertiser: the
/// union of their ad groups'.
fn funnels_of(adv: &Advertiser) -> (Vec<Funnels>, Vec<Funnels>, Funnels) {
    let group_funnels: Vec<Funnels> = adv
        .adgroups
        .iter()
        .map(|g| adgroup_funnels(&adv.campaigns[g.campaign as usize], g))
        .collect();
    let mut campaign_funnels: Vec<Funnels> = vec![0; adv.campaigns.len()];
    for (g, f) in adv.adgroups.iter().zip(&group_funnels) {
        campaign_funnels[g.campaign as usize] |= f;
    }
    let advertiser_funnels = campaign_funnels.iter().fold(0, |all, f| all | f);
    (group_funnels, campaign_funnels, advertiser_funnels)
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
