//! How many rows the report queries of a first run will hold, for the run's plan. A later run
//! knows each account's rows per day from its state; a first run has no such count, and its
//! ad-level reports are where the pages beyond the first add up (a day of an account's hourly
//! ad rows easily fills several pages). So before the plan is logged, a large first run asks a
//! few of its queries with `page_size=1`: TikTok's `page_info.total_number` says how many rows
//! that query holds, and the rows per ad measured there size the same report of the other
//! accounts by their ad counts.
//!
//! Measuring costs requests that read no rows, so it is kept where it pays: never for a query
//! that cannot fill a page (a plain BASIC report holds at most one row per entity and time
//! unit, and an entity delivers only through its ads), nor for one whose next level down was
//! measured within a page; one measure per [`QUERIES_PER_PROBE`] queries that could fill more,
//! then, where those hold several pages each, up to one per [`QUERIES_PER_PROBE`] requests they
//! are expected to take; never more than [`PROBES_PER_BINDING`] per report binding. A capture
//! of a few small accounts makes none.

use chrono::NaiveDate;
use futures::StreamExt;

use super::binding::Binding;
use super::context::{unit_concurrency, Context};
use super::listing::BuyingScope;
use super::report::query::{self, PAGE_SIZE};
use super::report::splits;
use crate::client::Paging;
use crate::error::Result;
use crate::registry::metrics::{Granularity, Level};
use crate::registry::{ReportSpec, ReportType, StreamSpec};

/// At most this many measuring queries per report binding.
pub(crate) const PROBES_PER_BINDING: usize = 25;

/// One measuring query per this many queries whose pages are not known, or per this many of
/// the requests they are expected to take (so measuring adds at most 5% to them).
pub(crate) const QUERIES_PER_PROBE: usize = 20;

/// The most rows a measure is taken to say (a billion: far beyond any real report).
pub(crate) const MOST_ROWS: u64 = 1_000_000_000;

/// What a first run measured of one report binding.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct Sizing {
    measures: Vec<Measure>,
    /// The sizing of the report one level down, whose rows bound this one's (see [`measure`]).
    ceiling: Option<Box<Sizing>>,
}

/// What one measuring query found: the account, its ads, and the rows over the days asked.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Measure {
    pub(crate) advertiser_id: u64,
    pub(crate) ads: Option<u64>,
    pub(crate) rows: u64,
    pub(crate) days: i64,
}

impl Sizing {
    #[cfg(test)] // Only the tests build a sizing from bare measures.
    pub(crate) fn from_measures(measures: &[Measure]) -> Sizing {
        Sizing {
            measures: measures.to_vec(),
            ceiling: None,
        }
    }

    /// The rows per day each measure says an account with `ads` ads has: its own measures
    /// when it was measured, else every measure, scaled by ads where both counts are known.
    fn rows_per_day_samples(&self, advertiser_id: u64, ads: Option<u64>) -> Vec<f64> {
        let per_day = |m: &Measure| m.rows as f64 / m.days.max(1) as f64;
        let own: Vec<f64> = self
            .measures
            .iter()
            .filter(|m| m.advertiser_id == advertiser_id)
            .map(per_day)
            .collect();
        if !own.is_empty() {
            return own;
        }
        self.measures
            .iter()
            .map(|m| match (ads, m.ads) {
                (Some(ads), Some(measured)) if measured > 0 => {
                    per_day(m) * ads as f64 / measured as f64
                }
                _ => per_day(m),
            })
            .collect()
    }

    /// The pages one query of the account over `days` days is expected to read: the average
    /// of what each sample would need, since pages are whole (rows just over a page cost two
    /// requests, which an average of rows would hide). `None` when nothing was measured.
    pub(crate) fn pages(&self, advertiser_id: u64, ads: Option<u64>, days: i64) -> Option<f64> {
        let samples = self.rows_per_day_samples(advertiser_id, ads);
        if samples.is_empty() {
            return None;
        }
        let page = f64::from(PAGE_SIZE);
        let pages = samples
            .iter()
            .map(|rows| {
                let rows = rows.clamp(0.0, MOST_ROWS as f64) * days.max(1) as f64;
                (rows / page).ceil().max(1.0)
            })
            .sum::<f64>();
        Some(pages / samples.len() as f64)
    }

    /// Whether one query of the account over `days` days surely fits one page
    /// ([`fits_one_page`]), or is expected to because the ads' report of it does.
    pub(crate) fn one_page(
        &self,
        spec: &ReportSpec,
        advertiser_id: u64,
        ads: Option<u64>,
        days: i64,
    ) -> bool {
        fits_one_page(spec, ads, days)
            || self
                .ceiling
                .as_ref()
                .is_some_and(|ceiling| ceiling.expects_one_page(advertiser_id, ads, days))
    }

    /// Whether this report's query is expected to fit a page: by its measures, or else by
    /// those of the report that bounds it.
    fn expects_one_page(&self, advertiser_id: u64, ads: Option<u64>, days: i64) -> bool {
        match self.pages(advertiser_id, ads, days) {
            Some(pages) => pages <= 1.0,
            None => self
                .ceiling
                .as_ref()
                .is_some_and(|ceiling| ceiling.expects_one_page(advertiser_id, ads, days)),
        }
    }
}

/// Whether one query of `spec` over `days` days surely fits one page: a plain BASIC report (an
/// id and a time dimension, no breakdown) holds at most one row per entity and time unit, one
/// entity at the advertiser level and at most one per ad below it. Audience reports and
/// breakdowns hold an unknown number of rows per entity.
pub(crate) fn fits_one_page(spec: &ReportSpec, ads: Option<u64>, days: i64) -> bool {
    let entities = match spec.level {
        Level::Advertiser => Some(1),
        _ => ads,
    };
    let units = match spec.granularity {
        Granularity::Hour => 24 * days.max(1) as u64,
        Granularity::Day => days.max(1) as u64,
        Granularity::Lifetime => 1,
    };
    plain(spec) && entities.is_some_and(|n| n.saturating_mul(units) <= u64::from(PAGE_SIZE))
}

/// A BASIC report with an id and a time dimension only (no breakdown): at most one row per
/// entity and time unit.
fn plain(spec: &ReportSpec) -> bool {
    spec.report_type == ReportType::Basic && spec.dimensions.len() <= 2
}

/// The ads of the account's auction and reach & frequency scope, which its main report query
/// covers, when this run counted them.
pub(crate) async fn main_scope_ads(ctx: &Context, advertiser_id: u64) -> Option<u64> {
    splits::peek_inventory(ctx, advertiser_id)
        .await
        .filter(|i| i.listable)
        .map(|i| i.ads(BuyingScope::AuctionAndReachFrequency))
}

/// One binding's queries for one account whose pages are not known: none when an earlier run
/// counted its rows. `windows` are the days the unit will query.
pub(crate) struct Unsized {
    pub(crate) advertiser_id: u64,
    pub(crate) ads: Option<u64>,
    pub(crate) windows: Vec<(NaiveDate, NaiveDate)>,
}

/// Measures each report binding of a first run where it pays (see the module text). `work`
/// gives, per binding, its accounts without a rows count and the windows they will query
/// (empty for bindings that are not daily or hourly reports). Lower levels are measured first:
/// a plain BASIC report holds no more rows than the same report one level down (a campaign
/// delivers through its ad groups, an ad group through its ads), so where that one fits a
/// page, so does it, and it is not measured.
pub(crate) async fn measure(
    ctx: &Context,
    bindings: &[Binding],
    work: &[Vec<Unsized>],
) -> Result<Vec<Sizing>> {
    let mut out = vec![Sizing::default(); bindings.len()];
    // Ads, then ad groups, then the rest: each level's measures bound the next one's.
    let rank = |i: &usize| match &bindings[*i].stream.spec {
        StreamSpec::Report(s) if s.level == Level::Ad => 0,
        StreamSpec::Report(s) if s.level == Level::AdGroup => 1,
        _ => 2,
    };
    let mut order: Vec<usize> = (0..bindings.len()).collect();
    order.sort_by_key(rank);
    for index in order {
        let binding = &bindings[index];
        let StreamSpec::Report(spec) = &binding.stream.spec else {
            continue;
        };
        let ceiling = ceiling_binding(bindings, spec).map(|i| Box::new(out[i].clone()));
        let sizing = Sizing {
            ceiling,
            ..Sizing::default()
        };
        out[index] = measure_binding(ctx, Target { index, spec }, &work[index], sizing).await?;
    }
    Ok(out)
}

/// The binding whose rows bound this one's: for a plain BASIC report of campaigns, the same
/// report of ad groups (or else of ads); for one of ad groups, the same report of ads.
fn ceiling_binding(bindings: &[Binding], spec: &ReportSpec) -> Option<usize> {
    let below: &[Level] = match spec.level {
        Level::Campaign => &[Level::AdGroup, Level::Ad],
        Level::AdGroup => &[Level::Ad],
        _ => &[],
    };
    if !plain(spec) {
        return None;
    }
    below.iter().find_map(|level| {
        bindings.iter().position(|b| {
            matches!(&b.stream.spec, StreamSpec::Report(s)
                if plain(s) && s.level == *level && s.granularity == spec.granularity
                    && s.filtering == spec.filtering)
        })
    })
}

/// The report binding being measured: its index in the run and its query.
#[derive(Clone, Copy)]
struct Target<'a> {
    index: usize,
    spec: &'a ReportSpec,
}

async fn measure_binding(
    ctx: &Context,
    target: Target<'_>,
    accounts: &[Unsized],
    mut sizing: Sizing,
) -> Result<Sizing> {
    let spec = target.spec;
    // Each account's uncertain windows, the largest accounts first (their pages weigh most in
    // the plan).
    let mut uncertain = 0;
    let mut open: Vec<Unsized> = Vec::new();
    for account in accounts {
        let windows: Vec<_> = account
            .windows
            .iter()
            .copied()
            .filter(|(from, to)| {
                !sizing.one_page(spec, account.advertiser_id, account.ads, days(*from, *to))
            })
            .collect();
        uncertain += windows.len();
        // An account over the ads cap answers capped: it cannot be measured this way.
        let cappable = account
            .ads
            .is_some_and(|ads| ads > splits::MAX_ADS_PER_QUERY as u64);
        if !windows.is_empty() && !cappable {
            open.push(Unsized {
                windows,
                ..*account
            });
        }
    }
    open.sort_by(|a, b| (b.ads.cmp(&a.ads)).then(a.advertiser_id.cmp(&b.advertiser_id)));
    let candidates = round_robin(&open, PROBES_PER_BINDING);
    // One measure per 20 uncertain queries first; then, if they hold several pages each, up to
    // one per 20 of the requests they are expected to take (a few heavy queries, such as a
    // month of ad-level audience rows, are worth more measures than their count says).
    let first = candidates.len().min(uncertain / QUERIES_PER_PROBE);
    let mut measures = measure_each(ctx, target, &candidates[..first]).await?;
    sizing.measures = measures.clone();
    if let Some(mean_pages) = mean_pages(&sizing, &open) {
        let expected_requests = uncertain as f64 * mean_pages;
        let more = ((expected_requests / QUERIES_PER_PROBE as f64) as usize).min(candidates.len());
        if more > first {
            measures.extend(measure_each(ctx, target, &candidates[first..more]).await?);
        }
    }
    sizing.measures = measures;
    Ok(sizing)
}

/// The pages a query of the measured accounts is expected to take, on average over their
/// uncertain windows (`None` before any measure).
fn mean_pages(sizing: &Sizing, open: &[Unsized]) -> Option<f64> {
    let mut sum = 0.0;
    let mut n = 0;
    for account in open {
        for (from, to) in &account.windows {
            if let Some(p) = sizing.pages(account.advertiser_id, account.ads, days(*from, *to)) {
                sum += p;
                n += 1;
            }
        }
    }
    (n > 0).then(|| sum / n as f64)
}

/// Up to `most` windows to measure, going round the accounts (each account's middle window
/// first, so a growing or shrinking account is measured near its average, then windows
/// between).
fn round_robin(open: &[Unsized], most: usize) -> Vec<(Option<u64>, u64, (NaiveDate, NaiveDate))> {
    let mut candidates = Vec::with_capacity(most);
    'rounds: for round in 0.. {
        for account in open {
            if candidates.len() == most {
                break 'rounds;
            }
            // Uneven counts can meet a window twice: it is measured once.
            let candidate = spread(&account.windows, round)
                .map(|window| (account.ads, account.advertiser_id, window));
            if let Some(candidate) = candidate.filter(|c| !candidates.contains(c)) {
                candidates.push(candidate);
            }
        }
        if round >= open.iter().map(|a| a.windows.len()).max().unwrap_or(0) {
            break;
        }
    }
    candidates
}

/// Asks each candidate's row count; what cannot be measured is left out (the unit meets the
/// same query again, and reports what went wrong), unless it stops the run.
async fn measure_each(
    ctx: &Context,
    target: Target<'_>,
    candidates: &[(Option<u64>, u64, (NaiveDate, NaiveDate))],
) -> Result<Vec<Measure>> {
    let Target { index, spec } = target;
    let answers = futures::stream::iter(candidates.iter().copied())
        .map(|(ads, advertiser_id, window)| async move {
            let rows = count_rows(ctx, spec, advertiser_id, window).await;
            ctx.count_request(index);
            rows.map(|rows| {
                rows.map(|rows| Measure {
                    advertiser_id,
                    ads,
                    rows,
                    days: days(window.0, window.1),
                })
            })
        })
        .buffer_unordered(unit_concurrency(&ctx.config))
        .collect::<Vec<_>>()
        .await;
    let mut measures = Vec::with_capacity(answers.len());
    for answer in answers {
        match answer {
            Ok(Some(measure)) => measures.push(measure),
            Ok(None) => {}
            Err(err) if err.stops_the_run() => return Err(err),
            Err(err) => tracing::debug!(
                stream = ctx.stream_name(index),
                error = %err,
                "Could not measure a report's size."
            ),
        }
    }
    Ok(measures)
}

/// The window of `windows` that round `round` measures: the middle one, then the middles of
/// the halves before and after it, and so on (`None` once every window is taken).
fn spread<T: Copy>(windows: &[T], round: usize) -> Option<T> {
    let n = windows.len();
    if round >= n {
        return None;
    }
    // Round r takes the (2k+1)/2^(level+1) points of its level, in order.
    let level = (usize::BITS - (round + 1).leading_zeros() - 1) as usize;
    let k = round + 1 - (1 << level);
    let slots = 1usize << (level + 1);
    let index = ((2 * k + 1) * n / slots).min(n - 1);
    Some(windows[index])
}

/// The rows one main-scope query of the report holds over `window`, as TikTok counts them.
async fn count_rows(
    ctx: &Context,
    spec: &ReportSpec,
    advertiser_id: u64,
    window: (NaiveDate, NaiveDate),
) -> Result<Option<u64>> {
    let filters = query::scoped_filtering(
        spec,
        ctx.config.include_deleted,
        BuyingScope::AuctionAndReachFrequency,
        None,
    );
    let params = query::params(spec, advertiser_id, Some(window), &filters);
    let page = ctx
        .client
        .page(query::REPORT_PATH, &params, "list", Paging::first(1))
        .await?;
    // A capped answer counts only part of the rows: no measure. A count is the server's word:
    // bounded, like the rows per day a state may hold.
    Ok(page
        .total_number
        .filter(|_| !page.ads_throttled)
        .map(|rows| rows.min(MOST_ROWS)))
}

/// Inclusive days of a window.
pub(crate) fn days(from: NaiveDate, to: NaiveDate) -> i64 {
    (to - from).num_days() + 1
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::metrics::Breakdown;
    use crate::registry::ReportDef;

    fn spec(report_type: ReportType, level: Level, granularity: Granularity) -> ReportSpec {
        ReportSpec::from_def(&ReportDef {
            report_type,
            level,
            granularity,
            breakdown: Breakdown::None,
        })
    }

    #[test]
    fn only_plain_basic_reports_of_few_ads_surely_fit_one_page() {
        let hourly_ads = spec(ReportType::Basic, Level::Ad, Granularity::Hour);
        // 41 ads x 24 hours = 984 rows at most; 42 x 24 = 1,008 may not fit.
        assert!(fits_one_page(&hourly_ads, Some(41), 1));
        assert!(!fits_one_page(&hourly_ads, Some(42), 1));
        // Unknown ads: unknown rows.
        assert!(!fits_one_page(&hourly_ads, None, 1));
        // 30 days of 33 ads: 990 rows; of 34: 1,020.
        let daily_ads = spec(ReportType::Basic, Level::Ad, Granularity::Day);
        assert!(fits_one_page(&daily_ads, Some(33), 30));
        assert!(!fits_one_page(&daily_ads, Some(34), 30));
        // One advertiser row per hour, whatever its ads.
        let hourly_account = spec(ReportType::Basic, Level::Advertiser, Granularity::Hour);
        assert!(fits_one_page(&hourly_account, None, 1));
        // Audience rows per ad are not known ahead.
        let audience = spec(ReportType::Audience, Level::Ad, Granularity::Day);
        assert!(!fits_one_page(&audience, Some(1), 1));
    }

    #[test]
    fn probes_spread_over_an_accounts_windows() {
        let windows: Vec<u32> = (0..8).collect();
        let taken: Vec<u32> = (0..10).map_while(|r| spread(&windows, r)).collect();
        // The middle, the middles of each half, then of each quarter.
        assert_eq!(taken, vec![4, 2, 6, 1, 3, 5, 7, 0]);
        assert_eq!(spread(&[9], 0), Some(9));
        assert_eq!(spread(&[9], 1), None);
        assert_eq!(spread::<u32>(&[], 0), None);
    }

    #[test]
    fn measured_rows_size_other_accounts_by_their_ads() {
        let measure = |advertiser_id, ads, rows, days| Measure {
            advertiser_id,
            ads,
            rows,
            days,
        };
        // 2,100 rows in a day of 100 ads; 600 in 3 days of 50 ads.
        let sizing = Sizing::from_measures(&[
            measure(1, Some(100), 2_100, 1),
            measure(2, Some(50), 600, 3),
        ]);
        // A measured account: its own rows. 2,100 a day: three pages a day, 63 in 30 days.
        assert_eq!(sizing.pages(1, Some(100), 1), Some(3.0));
        assert_eq!(sizing.pages(1, Some(100), 30), Some(63.0));
        assert_eq!(sizing.pages(2, Some(50), 1), Some(1.0));
        // Another of 100 ads: like the first (3 pages) or like the second with twice its ads
        // (400 rows, 1 page): 2 on average.
        assert_eq!(sizing.pages(3, Some(100), 1), Some(2.0));
        // Without its ads: the samples as they are, 2,100 and 200 rows.
        assert_eq!(sizing.pages(3, None, 1), Some(2.0));
        assert_eq!(sizing.pages(3, None, 10), Some((21.0 + 2.0) / 2.0));
        // Nothing measured: nothing known.
        assert_eq!(Sizing::from_measures(&[]).pages(3, Some(30), 1), None);
        // A huge count scaled by a huge account stays a bounded number of pages.
        let hostile = Sizing::from_measures(&[measure(1, Some(1), MOST_ROWS, 1)]);
        assert_eq!(hostile.pages(2, Some(u64::MAX), 1), Some(1_000_000.0));
    }

    #[test]
    fn a_level_whose_lower_level_fits_a_page_fits_one_too() {
        let campaigns = spec(ReportType::Basic, Level::Campaign, Granularity::Hour);
        let ads_measured = |rows| {
            Sizing::from_measures(&[Measure {
                advertiser_id: 1,
                ads: Some(100),
                rows,
                days: 1,
            }])
        };
        let above = |ceiling: Sizing| Sizing {
            ceiling: Some(Box::new(ceiling)),
            ..Sizing::default()
        };
        // 100 ads x 24 hours could be 2,400 rows: not sure without a measure.
        assert!(!Sizing::default().one_page(&campaigns, 1, Some(100), 1));
        // The ads' report held 500 rows that day: the campaigns' holds no more.
        assert!(above(ads_measured(500)).one_page(&campaigns, 1, Some(100), 1));
        assert!(!above(ads_measured(2_100)).one_page(&campaigns, 1, Some(100), 1));
        // Through an unmeasured level between (ad groups, all within a page by the ads).
        let ad_groups = above(ads_measured(500));
        assert!(above(ad_groups).one_page(&campaigns, 1, Some(100), 1));
        // Two days of 500 rows may not fit.
        assert!(!above(ads_measured(500)).one_page(&campaigns, 1, Some(100), 3));
    }
}
