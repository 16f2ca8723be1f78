//! The generator of a model's entities: advertisers, their campaigns, ad groups and ads, in
//! the one order every seed's data depends on.

use super::{
    hash, pick, Ad, AdGroup, Advertiser, BuyingType, Campaign, Life, ADGROUP_BASE, ADJECTIVES,
    ADVERTISER_BASE, AD_BASE, CAMPAIGN_BASE, COMPANIES, OPT_GOALS, PRODUCTS, THEMES,
};
use crate::DataShape;

/// The walk that generates a model's entities: advertisers in order, each one's campaigns, each
/// campaign's ad groups, each ad group's ads. The order is part of the data: the running
/// counters over all advertisers give each entity its id, its hash and whether it is deleted,
/// so every seed's data depends on it.
pub(super) struct Generator<'a> {
    pub(super) data: &'a DataShape,
    pub(super) seed: u64,
    /// The seed's slice of the id space.
    pub(super) slice: u64,
    pub(super) first_ts: i64,
    pub(super) end_ts: i64,
    /// Campaigns, ad groups and ads generated so far, over all advertisers.
    pub(super) campaigns: usize,
    pub(super) adgroups: usize,
    pub(super) ads: usize,
}

impl Generator<'_> {
    /// Whether the entity at running position `global` of its kind is deleted.
    fn nth(&self, global: usize) -> bool {
        self.data.deleted_every > 0 && (global + 1) % self.data.deleted_every == 0
    }

    /// A child created within the first third of what remains of its parent's life.
    fn child_life(
        &self,
        (parent_ts, parent_end): (i64, i64),
        h: u64,
        own_deleted: bool,
        parent: Option<&Life>,
    ) -> Life {
        let end_ts = self.end_ts;
        let span = ((parent_end - parent_ts) / 3).max(1) as u64;
        let create_ts = (parent_ts + 60 + (h % span) as i64).min(parent_end);
        let remaining = (end_ts - create_ts).max(1) as u64;
        let parent_deleted = parent.map(|p| p.deleted).unwrap_or(false);
        let (deleted, modify_ts) = if parent_deleted {
            (
                true,
                parent
                    .map(|p| p.modify_ts)
                    .unwrap_or(create_ts)
                    .max(create_ts),
            )
        } else if own_deleted {
            let del = create_ts + 3_600 + ((h >> 20) % (remaining / 2).max(1)) as i64;
            (true, del.min(end_ts))
        } else {
            (false, create_ts + ((h >> 20) % remaining) as i64)
        };
        Life {
            create_ts,
            modify_ts,
            deleted,
            first_hour: create_ts.div_euclid(3_600),
            last_hour: if deleted {
                modify_ts.div_euclid(3_600)
            } else {
                end_ts.div_euclid(3_600)
            },
        }
    }

    /// Advertiser `a` and everything below it.
    pub(super) fn advertiser(&mut self, a: usize, idle: bool) -> Advertiser {
        let (seed, slice, first_ts, end_ts) = (self.seed, self.slice, self.first_ts, self.end_ts);
        let ah = hash(&[seed, 1, a as u64]);
        let id = ADVERTISER_BASE + slice + a as u64;
        // Created between 0 and 200 days before the first day of data.
        let create_ts = first_ts - 86_400 * (ah % 200) as i64 - (ah >> 16) as i64 % 86_400;
        let mut adv = Advertiser {
            id,
            index: a,
            name: format!(
                "{} {}",
                pick(COMPANIES, ah >> 8).split(' ').next().unwrap_or("Sim"),
                a + 1
            ) + " Ads",
            h: ah,
            create_ts,
            first_hour: first_ts.div_euclid(3_600),
            last_hour: end_ts.div_euclid(3_600),
            idle,
            campaigns: Vec::with_capacity(self.data.campaigns_per_advertiser),
            adgroups: Vec::new(),
            ads: Vec::new(),
        };
        let auction_only =
            self.data.auction_only_every > 0 && (a + 1) % self.data.auction_only_every == 0;
        for _ in 0..self.data.campaigns_per_advertiser {
            self.campaign(&mut adv, auction_only);
        }
        adv
    }

    /// The next campaign of `adv`, and its ad groups.
    fn campaign(&mut self, adv: &mut Advertiser, auction_only: bool) {
        let (seed, slice, first_ts, end_ts) = (self.seed, self.slice, self.first_ts, self.end_ts);
        let gc = self.campaigns;
        let h = hash(&[seed, 2, gc as u64]);
        let buying = if auction_only {
            BuyingType::Auction
        } else if gc % 7 == 3 {
            BuyingType::TopView
        } else if gc % 9 == 5 {
            BuyingType::ReachFrequency
        } else {
            BuyingType::Auction
        };
        // Campaigns start within the first two thirds of the history.
        let life = self.child_life(
            (first_ts - 60, first_ts + (end_ts - first_ts) * 2),
            h,
            self.nth(gc),
            None,
        );
        let c_index = adv.campaigns.len() as u32;
        adv.campaigns.push(Campaign {
            id: CAMPAIGN_BASE + slice + gc as u64,
            name: format!(
                "{} {} - {} #{}",
                pick(ADJECTIVES, h),
                pick(PRODUCTS, h >> 8),
                pick(THEMES, h >> 16),
                gc + 1
            ),
            h,
            buying,
            life,
        });
        self.campaigns += 1;
        for _ in 0..self.data.adgroups_per_campaign {
            self.adgroup(adv, c_index);
        }
    }

    /// The next ad group of campaign `c_index`, and its ads.
    fn adgroup(&mut self, adv: &mut Advertiser, c_index: u32) {
        let gg = self.adgroups;
        let h = hash(&[self.seed, 3, gg as u64]);
        let parent = adv.campaigns[c_index as usize].life;
        let parent_end = parent.end(self.end_ts);
        let life = self.child_life(
            (parent.create_ts, parent_end),
            h,
            self.nth(gg),
            Some(&parent),
        );
        let g_index = adv.adgroups.len() as u32;
        adv.adgroups.push(AdGroup {
            id: ADGROUP_BASE + self.slice + gg as u64,
            campaign: c_index,
            name: format!(
                "{} - {} #{}",
                pick(PRODUCTS, h),
                pick(OPT_GOALS, h >> 8),
                gg + 1
            ),
            h,
            life,
        });
        self.adgroups += 1;
        for _ in 0..self.data.ads_per_adgroup {
            self.ad(adv, c_index, g_index);
        }
    }

    /// The next ad of ad group `g_index`.
    fn ad(&mut self, adv: &mut Advertiser, c_index: u32, g_index: u32) {
        let ga = self.ads;
        let h = hash(&[self.seed, 4, ga as u64]);
        let parent = adv.adgroups[g_index as usize].life;
        let parent_end = parent.end(self.end_ts);
        let life = self.child_life(
            (parent.create_ts, parent_end),
            h,
            self.nth(ga),
            Some(&parent),
        );
        adv.ads.push(Ad {
            id: AD_BASE + self.slice + ga as u64,
            campaign: c_index,
            adgroup: g_index,
            name: format!(
                "{} {} video #{}",
                pick(ADJECTIVES, h),
                pick(PRODUCTS, h >> 8),
                ga + 1
            ),
            h,
            life,
        });
        self.ads += 1;
    }
}
