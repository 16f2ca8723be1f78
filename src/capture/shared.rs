//! What a run learns once and shares between its units, as plain data the [`Context`] holds:
//! per ad account ([`PerAccount`]) its TopView campaign listings, its ad counts and listings
//! ([`AdInventory`]), the activity index ([`ActivityIndex`]), the state of asynchronous
//! report tasks ([`TaskState`]), per report binding the metrics TikTok refused
//! ([`RefusedMetrics`]), and how many metrics TikTok answers in one report query
//! ([`LearnedWidth`]). The modules that fill them (`buying`, `report::splits`, `activity`,
//! `report::tasks`, `report::refused`, `report::wide`) make the requests; this one only keeps
//! the answers, so the context imports no part of the engine that imports it.
//!
//! [`Context`]: super::context::Context

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::NaiveDate;
use serde_json::value::RawValue;

use super::listing::BuyingScope;
use super::state::MetricWidth;
use crate::client::turn::RequestTurn;
use crate::client::Page;
use crate::error::Result;

/// Something a run learns once per ad account and shares between its units (ad counts, TopView
/// campaigns, the activity index): the first unit that needs it asks, the others wait for that
/// answer instead of asking again.
#[derive(Debug)]
pub(crate) struct PerAccount<T>(tokio::sync::Mutex<HashMap<u64, Arc<tokio::sync::OnceCell<T>>>>);

impl<T> Default for PerAccount<T> {
    fn default() -> Self {
        PerAccount(Default::default())
    }
}

impl<T: Clone> PerAccount<T> {
    /// The account's value, made by `make` if no unit has made it yet. An error is returned
    /// to the caller and nothing is kept, so the next one asks again.
    pub(crate) async fn get_or_try_make<F, Fut>(&self, advertiser_id: u64, make: F) -> Result<T>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        self.cell(advertiser_id)
            .await
            .get_or_try_init(make)
            .await
            .cloned()
    }

    /// Sets the account's value, unless a unit has already made (or is making) it.
    pub(crate) async fn set(&self, advertiser_id: u64, value: T) {
        let _ = self.cell(advertiser_id).await.set(value);
    }

    async fn cell(&self, advertiser_id: u64) -> Arc<tokio::sync::OnceCell<T>> {
        let mut cells = self.0.lock().await;
        cells.entry(advertiser_id).or_default().clone()
    }

    /// The account's value if this run already has it (no request).
    pub(crate) async fn peek(&self, advertiser_id: u64) -> Option<T> {
        let cell = self.0.lock().await.get(&advertiser_id).cloned();
        cell.and_then(|c| c.get().cloned())
    }
}

/// The campaign listings of one account that a run makes before its bindings start.
#[derive(Debug, Default)]
pub(crate) struct TopViewCampaigns {
    /// The TopView listing's pages; `None` when TikTok would not list them (then every TopView
    /// listing is asked for, as if TopView existed).
    pub(crate) topview: Option<Vec<Page>>,
    /// The auction and reach & frequency listing's pages, read where the TopView one holds
    /// campaigns (`None` elsewhere, or when it could not be read).
    pub(crate) auction: Option<Vec<Page>>,
    /// Both listings hold the same campaign: the server ignores `buying_types`.
    pub(crate) filter_ignored: bool,
}

/// Per advertiser: how many ads each buying scope holds, and (when a report must be split)
/// their listing. Read once per run and shared by every report binding.
#[derive(Debug, Default)]
pub(crate) struct AdInventory {
    pub(crate) auction_and_reach_frequency_ads: u64,
    pub(crate) topview_ads: u64,
    /// Whether the token may list the ads (`ad/get/`); without it no split can be planned.
    pub(crate) listable: bool,
    pub(crate) listings: [tokio::sync::OnceCell<Arc<AdListing>>; 2],
}

/// The ads of one buying scope, by parent. Ads TikTok lists without a campaign or ad group
/// are kept with what is known of them; ads without a readable id are only counted.
#[derive(Debug, Default)]
pub(crate) struct AdListing {
    pub(crate) ads: Vec<ListedAd>,
    pub(crate) unusable: u64,
}

impl AdListing {
    /// Whether the listing names every ad TikTok counted: a split planned from a shorter one
    /// would leave the unlisted ads out.
    pub(crate) fn is_complete(&self, counted: u64) -> bool {
        self.unusable == 0 && self.ads.len() as u64 >= counted
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ListedAd {
    pub(crate) campaign: Option<u64>,
    pub(crate) adgroup: Option<u64>,
    pub(crate) ad: u64,
}

impl AdInventory {
    /// The listing of a scope, once made.
    pub(crate) fn listing_cell(
        &self,
        scope: BuyingScope,
    ) -> &tokio::sync::OnceCell<Arc<AdListing>> {
        match scope {
            BuyingScope::AuctionAndReachFrequency => &self.listings[0],
            BuyingScope::TopView => &self.listings[1],
        }
    }

    /// The ads the scope holds.
    pub(crate) fn ads(&self, scope: BuyingScope) -> u64 {
        match scope {
            BuyingScope::AuctionAndReachFrequency => self.auction_and_reach_frequency_ads,
            BuyingScope::TopView => self.topview_ads,
        }
    }
}

/// What the ledger learned of one account over the range it asked about: the days on which
/// some ledger metric was not exactly zero (or could not be read as a number, which counts the
/// same), and the advertiser-level rows themselves, which also serve the advertiser daily
/// stream when its query was the ledger's.
#[derive(Debug, Clone)]
pub(crate) struct Activity {
    /// Inclusive range the ledger covers; days outside it count as active.
    pub(crate) covered: (NaiveDate, NaiveDate),
    pub(crate) active_days: BTreeSet<NaiveDate>,
    /// The rows TikTok answered, by day, as sent (empty when the account never delivered).
    pub(crate) rows: BTreeMap<NaiveDate, Vec<Box<RawValue>>>,
}

impl Activity {
    /// Whether any day of `from..=to` may hold rows.
    pub(crate) fn any_active(&self, from: NaiveDate, to: NaiveDate) -> bool {
        if from < self.covered.0 || to > self.covered.1 {
            return true;
        }
        self.active_days.range(from..=to).next().is_some()
    }
}

/// What the ledger knows of one account.
#[derive(Debug, Clone)]
pub(crate) enum Known {
    /// The ledger could not be read (refused, capped, unreadable): query everything.
    Unknown,
    Days(Arc<Activity>),
}

/// Why the ledger does not let an account skip anything this run, for the messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Distrust {
    /// The day whose ad-level rows were not zero where the totals said zero.
    pub(crate) day: NaiveDate,
}

/// The run's ledger, built per account before the report bindings start (see `activity`).
#[derive(Debug, Default)]
pub(crate) struct ActivityIndex {
    pub(crate) off: std::sync::atomic::AtomicBool,
    /// Per account: the union of the date ranges of the run's dated report bindings.
    pub(crate) ranges: Mutex<HashMap<u64, (NaiveDate, NaiveDate)>>,
    pub(crate) days: PerAccount<Known>,
    pub(crate) ever: PerAccount<bool>,
    /// TikTok refused a batch: ask per account for the rest of the run.
    pub(crate) no_batches: std::sync::atomic::AtomicBool,
    /// Requests the ledger made (spot checks included).
    pub(crate) requests: AtomicU64,
    /// What the ledger's queries learned of how many metrics TikTok answers in one (its own:
    /// the report bindings learn and keep theirs).
    pub(crate) query_width: LearnedWidth,
    /// What the ledger asks and whom it serves, fixed when the run starts.
    pub(crate) scope: std::sync::OnceLock<LedgerScope>,
    /// Accounts whose totals and rows disagreed: nothing of theirs is skipped.
    pub(crate) distrusted: Mutex<HashMap<u64, Distrust>>,
    /// Accounts an earlier run distrusted, and the day it found.
    pub(crate) distrusted_before: Mutex<HashMap<u64, NaiveDate>>,
    /// Account-days read at ad level to check the totals, and those that disagreed.
    pub(crate) spot_checked: AtomicU64,
    pub(crate) spot_check_failures: AtomicU64,
}

/// What the ledger asks of TikTok and which report bindings it may decide for.
#[derive(Debug, Default, Clone)]
pub(crate) struct LedgerScope {
    /// The additive metrics of every report binding it serves, daily (advertiser level, by
    /// day) and lifetime (advertiser level, no time dimension), in request order.
    pub(crate) daily: Vec<&'static str>,
    pub(crate) lifetime: Vec<&'static str>,
    /// Report streams requesting an additive metric the ledger cannot ask at advertiser level:
    /// they read every day.
    pub(crate) uncovered: BTreeSet<String>,
    /// The advertiser daily stream whose query the ledger shares (its name and metrics), when
    /// it is enabled.
    pub(crate) shared_stream: Option<(String, Vec<String>)>,
}

impl ActivityIndex {
    pub(crate) fn range(&self, advertiser_id: u64) -> Option<(NaiveDate, NaiveDate)> {
        self.ranges
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&advertiser_id)
            .copied()
    }

    /// The ledger's scope (empty before the run's plan set it).
    pub(crate) fn scope(&self) -> &LedgerScope {
        static EMPTY: std::sync::OnceLock<LedgerScope> = std::sync::OnceLock::new();
        self.scope
            .get()
            .unwrap_or_else(|| EMPTY.get_or_init(LedgerScope::default))
    }

    /// Whether the account's totals were found wrong (this run or an earlier one).
    pub(crate) fn is_distrusted(&self, advertiser_id: u64) -> bool {
        self.distrusted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&advertiser_id)
    }

    /// What the account's report cursors record about trust: `Some(Some(day))` while it is
    /// distrusted, `Some(None)` once an earlier run's distrust is lifted, `None` otherwise.
    pub(crate) fn distrust_patch(&self, advertiser_id: u64) -> Option<Option<String>> {
        let now = self
            .distrusted
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&advertiser_id)
            .map(|d| d.day);
        let before = self
            .distrusted_before
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains_key(&advertiser_id);
        match (now, before) {
            (Some(day), _) => Some(Some(day.format("%Y-%m-%d").to_string())),
            (None, true) => Some(None),
            (None, false) => None,
        }
    }
}

/// How long a task may take before the report falls back to the synchronous answer (the
/// default of [`crate::capture::CaptureOptions::task_deadline`]).
pub(crate) const TASK_DEADLINE: Duration = Duration::from_secs(15 * 60);
/// The least time between two task requests: TikTok's Reporting FAQ gives asynchronous
/// reporting 1 request per second per app (its rate limit page names 2 a second and 60 a minute
/// for `report/task/create/` alone; the stricter reading is kept, as a throttled request pauses
/// the whole capture); a tenth of a second of margin keeps clock jitter under it.
pub(crate) const REQUEST_SPACING: Duration = Duration::from_millis(1100);
/// What the run knows of asynchronous reports, shared by every report binding.
pub(crate) struct TaskState {
    /// Task requests go one at a time, [`REQUEST_SPACING`] apart, each attempt in its turn;
    /// the turn is closed, with the reason, once tasks are known to be unavailable in this run
    /// (the app is not allowlisted, the server does not speak the task protocol or never
    /// finishes a task).
    pub(crate) turn: RequestTurn,
}

/// The longest one attempt of a task request keeps the others waiting: an answer takes a
/// second or two, so an attempt still unanswered after this is slow (a delaying server, a large
/// file), and the others need not wait for it. (A failed attempt gives the turn back at once,
/// before its retry pause.)
const HELD_AT_MOST: Duration = Duration::from_secs(5);

impl Default for TaskState {
    fn default() -> Self {
        TaskState {
            turn: RequestTurn::new(REQUEST_SPACING, HELD_AT_MOST),
        }
    }
}

impl TaskState {
    pub(crate) fn unavailable(&self) -> Option<String> {
        self.turn.closed()
    }

    pub(crate) fn set_unavailable(&self, why: &str) {
        if self.turn.close(why) {
            tracing::info!(
                reason = why,
                "Asynchronous report tasks are not used for the rest of this run."
            );
        }
    }
}

/// The metrics TikTok refused (code 40002) in one report binding's queries this run, in the
/// order they were found: every later query of the binding, of every ad account, leaves them
/// out (see `report::refused`). `finding` lets one unit find what a refusal names while the
/// binding's other units wait for its answer instead of probing the same metrics again.
#[derive(Debug, Default)]
pub(crate) struct RefusedMetrics {
    pub(crate) dropped: Mutex<Vec<String>>,
    pub(crate) finding: tokio::sync::Mutex<()>,
}

impl RefusedMetrics {
    /// The metrics dropped so far.
    pub(crate) fn dropped(&self) -> Vec<String> {
        self.dropped
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// What a run knows of how many metrics TikTok answers in one report query (of a binding, or of
/// any binding of the run; synchronous queries and tasks each their own): the most it answered
/// and the fewest it refused (40067), from the state and from this run's answers. The policy
/// that reads it is `report::wide`'s; this only keeps the counts consistent (an answer wider
/// than a refusal, or a refusal no wider than an answer, drops the older count: TikTok's limit
/// moved, or the refusal was of the rows), lets one query at a time try a width between the
/// two, and says when the counts differ from what the binding's state holds.
#[derive(Debug, Default)]
pub(crate) struct LearnedWidth {
    /// What the state held when the run began (what the run's plan counted parts by).
    pub(crate) at_start: MetricWidth,
    known: Mutex<MetricWidth>,
    /// A query is trying a width between the answered and the refused one.
    probing: std::sync::atomic::AtomicBool,
    /// What the binding's state holds (read at the start, or last patched).
    saved: Mutex<MetricWidth>,
}

impl LearnedWidth {
    /// What a state held.
    pub(crate) fn from_state(width: Option<MetricWidth>) -> LearnedWidth {
        let width = width.unwrap_or_default();
        LearnedWidth {
            at_start: width,
            known: Mutex::new(width),
            probing: Default::default(),
            saved: Mutex::new(width),
        }
    }

    /// What every binding's state held: the widest answer and the narrowest refusal (a run
    /// shares what its bindings learned; kept only if the two agree).
    pub(crate) fn of_all(widths: impl Iterator<Item = Option<MetricWidth>>) -> LearnedWidth {
        let mut all = MetricWidth::default();
        for width in widths.flatten() {
            all.answered = all.answered.max(width.answered);
            all.refused = match (all.refused, width.refused) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
        }
        if let (Some(answered), Some(refused)) = (all.answered, all.refused) {
            if answered >= refused {
                all = MetricWidth::default();
            }
        }
        LearnedWidth {
            known: Mutex::new(all),
            ..LearnedWidth::default()
        }
    }

    pub(crate) fn get(&self) -> MetricWidth {
        *self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// TikTok answered a query of `width` metrics.
    pub(crate) fn answered(&self, width: u32) {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known.answered = known.answered.max(Some(width));
        if known.refused.is_some_and(|refused| refused <= width) {
            known.refused = None;
        }
    }

    /// TikTok refused a query of `width` metrics as too large.
    pub(crate) fn refused(&self, width: u32) {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        known.refused = Some(known.refused.map_or(width, |r| r.min(width)));
        if known.answered.is_some_and(|answered| answered >= width) {
            known.answered = None;
        }
    }

    /// Takes the one turn to try a width between the answered and the refused one (`false`:
    /// another query has it).
    pub(crate) fn start_probe(&self) -> bool {
        !self.probing.swap(true, std::sync::atomic::Ordering::AcqRel)
    }

    pub(crate) fn end_probe(&self) {
        self.probing
            .store(false, std::sync::atomic::Ordering::Release);
    }

    /// The counts, when they differ from what the state holds (which then counts as holding
    /// them).
    pub(crate) fn unsaved(&self) -> Option<MetricWidth> {
        let known = self.get();
        let mut saved = self.saved.lock().unwrap_or_else(|e| e.into_inner());
        (*saved != known).then(|| {
            *saved = known;
            known
        })
    }
}
