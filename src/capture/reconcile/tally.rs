//! What one report unit emitted, summed for the reconciliation: per day, the rows of the
//! auction and reach & frequency scope and the sum of each compared metric, with the rounding
//! TikTok's figures may carry; and which days the unit read in full, skipped as idle (the
//! ledger's exact zeros) or read from a capped answer. A leaf: the report fetcher fills it
//! while it emits, and the reconciliation (`super`) reads it when the unit ends, so it dies
//! with the unit (memory stays bounded by the units running at once). It also holds the run's
//! account-day counts ([`RunCounts`]), which the context keeps.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::registry::metric_catalog::{self, ValueType};

/// The sums of one report unit (one stream, level and ad account), filled as it emits.
#[derive(Debug)]
pub(crate) struct Tally {
    /// The metrics compared: the stream's additive metrics the ledger asks, in the ledger's
    /// order.
    pub(crate) metrics: Vec<&'static str>,
    days: Mutex<TallyDays>,
}

/// What a [`Tally`] holds once its unit ended.
#[derive(Debug, Default)]
pub(crate) struct TallyDays {
    pub(crate) sums: BTreeMap<NaiveDate, DaySums>,
    /// Days of windows whose every query was read (their sums are complete).
    pub(crate) read: BTreeSet<NaiveDate>,
    /// Days the ledger let the unit skip (no query).
    pub(crate) skipped: BTreeSet<NaiveDate>,
    /// Days some query of which was read from an answer over the ads cap (partial figures).
    pub(crate) capped: BTreeSet<NaiveDate>,
}

/// One day's sums at the unit's level: the rows summed and, per compared metric, the figure,
/// of the auction and reach & frequency scope and apart of TopView (empty without TopView
/// rows).
#[derive(Debug, Clone, Default)]
pub(crate) struct DaySums {
    pub(crate) rows: u64,
    pub(crate) figures: Vec<Figure>,
    pub(crate) topview_rows: u64,
    pub(crate) topview: Vec<Figure>,
}

/// A sum of figures TikTok sent: the value, the most TikTok's rounding of the figures summed
/// can account for (half a unit of the last decimal each was sent with), and whether some
/// figure could not be read as a number (`-`, missing, text), which leaves the sum unknown.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Figure {
    pub(crate) value: f64,
    pub(crate) rounding: f64,
    pub(crate) unreadable: bool,
}

impl Figure {
    /// Two sums added (a level's scopes together).
    pub(crate) fn plus(self, other: Figure) -> Figure {
        Figure {
            value: self.value + other.value,
            rounding: self.rounding + other.rounding,
            unreadable: self.unreadable || other.unreadable,
        }
    }

    fn add(&mut self, other: Option<(f64, f64)>) {
        match other {
            Some((value, rounding)) => {
                self.value += value;
                self.rounding += rounding;
            }
            None => self.unreadable = true,
        }
    }
}

/// The metrics of a report row, borrowed from its text.
#[derive(Deserialize)]
struct RowMetrics<'a> {
    #[serde(borrow, default)]
    metrics: HashMap<Cow<'a, str>, &'a RawValue>,
}

impl Tally {
    pub(crate) fn new(metrics: Vec<&'static str>) -> Tally {
        Tally {
            metrics,
            days: Mutex::new(TallyDays::default()),
        }
    }

    fn days(&self) -> std::sync::MutexGuard<'_, TallyDays> {
        self.days.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds emitted rows (each with its day) of the auction and reach & frequency scope, or of
    /// TopView (`topview`).
    pub(crate) fn add_rows<'r>(
        &self,
        rows: impl IntoIterator<Item = (&'r RawValue, NaiveDate)>,
        topview: bool,
    ) {
        let mut days = self.days();
        for (raw, day) in rows {
            let sums = days.sums.entry(day).or_insert_with(|| DaySums {
                figures: vec![Figure::default(); self.metrics.len()],
                ..DaySums::default()
            });
            let figures = if topview {
                sums.topview_rows += 1;
                if sums.topview.is_empty() {
                    sums.topview = vec![Figure::default(); self.metrics.len()];
                }
                &mut sums.topview
            } else {
                sums.rows += 1;
                &mut sums.figures
            };
            self.add_row(figures, raw);
        }
    }

    /// Adds one row's figures of the tally's metrics to `sums` (a metric the row lacks, or
    /// a row that is not JSON, leaves that sum unknown).
    fn add_row(&self, sums: &mut [Figure], raw: &RawValue) {
        let parsed = serde_json::from_str::<RowMetrics<'_>>(raw.get()).ok();
        for (name, sum) in self.metrics.iter().zip(sums.iter_mut()) {
            let value = parsed
                .as_ref()
                .and_then(|row| row.metrics.get(*name).copied());
            sum.add(value.and_then(|v| figure(name, v)));
        }
    }

    /// Sums rows that are not the unit's (the ledger's rows of a day) over the same metrics.
    pub(crate) fn sum_of(&self, rows: &[Box<RawValue>]) -> Vec<Figure> {
        let mut out = vec![Figure::default(); self.metrics.len()];
        for raw in rows {
            self.add_row(&mut out, raw);
        }
        out
    }

    /// Notes the days of a window whose every query was read.
    pub(crate) fn read(&self, (from, to): (NaiveDate, NaiveDate)) {
        self.days().read.extend(days_of(from, to));
    }

    /// Notes days the unit skipped as idle.
    pub(crate) fn skipped(&self, (from, to): (NaiveDate, NaiveDate)) {
        self.days().skipped.extend(days_of(from, to));
    }

    /// Notes a window read from an answer over the ads cap.
    pub(crate) fn capped(&self, (from, to): (NaiveDate, NaiveDate)) {
        self.days().capped.extend(days_of(from, to));
    }

    /// What the unit summed, leaving the tally empty.
    pub(crate) fn take(&self) -> TallyDays {
        std::mem::take(&mut *self.days())
    }
}

fn days_of(from: NaiveDate, to: NaiveDate) -> impl Iterator<Item = NaiveDate> {
    from.iter_days().take_while(move |d| *d <= to)
}

/// One metric value as TikTok sent it (a JSON number, or a number in a string): the number and
/// the rounding it may carry, `None` when it is not a number (`-`, null, text). TikTok rounds
/// money and fractional figures to the decimals it sends, so such a figure may be off by half
/// a unit of its last decimal; a count sent without decimals is a whole number of events,
/// exact. Money sent without decimals may be rounded to whole units (TikTok's multi-account
/// answers drop the decimals), so it carries half a unit.
pub(crate) fn figure(metric: &str, raw: &RawValue) -> Option<(f64, f64)> {
    let text: Cow<'_, str> = if raw.get().starts_with('"') {
        Cow::Owned(serde_json::from_str::<String>(raw.get()).ok()?)
    } else {
        Cow::Borrowed(raw.get())
    };
    let text = text.trim();
    let value: f64 = text.parse().ok().filter(|x: &f64| x.is_finite())?;
    let mantissa = text.split(['e', 'E']).next().unwrap_or(text);
    let decimals = mantissa.split_once('.').map_or(0, |(_, frac)| frac.len());
    let rounding = if decimals == 0 && is_count(metric) {
        0.0
    } else {
        0.5 * 10f64.powi(-(decimals.min(30) as i32))
    };
    Some((value, rounding))
}

fn is_count(metric: &str) -> bool {
    metric_catalog::lookup(metric).is_some_and(|m| m.value_type == ValueType::Count)
}

/// Whether a level's sum and the ledger's total of one metric differ by more than the
/// rounding both may carry (and a float's error over the sum). `None` when either is unknown.
pub(crate) fn differs(ledger: Figure, level: Figure) -> Option<bool> {
    if ledger.unreadable || level.unreadable {
        return None;
    }
    let slack = ledger.rounding
        + level.rounding
        + 1e-9 * ledger.value.abs().max(level.value.abs()).max(1.0);
    Some((ledger.value - level.value).abs() > slack)
}

/// The run's account-days compared and differing, counted once per account over its levels:
/// an account's days are held until its last compared unit ended, then counted and dropped.
#[derive(Debug, Default)]
pub(crate) struct RunCounts {
    /// Compared report units per account (the same for every account).
    pub(crate) units_per_account: AtomicU64,
    accounts: Mutex<HashMap<u64, AccountDays>>,
    pub(crate) reconciled: AtomicU64,
    pub(crate) differing: AtomicU64,
}

#[derive(Debug, Default)]
struct AccountDays {
    units_ended: u64,
    compared: DaySet,
    differing: DaySet,
}

/// A set of days as bits from a base day (a few words for a run's range, where a tree of
/// dates would take a node per few days: an agency's accounts wait here until their last
/// compared binding reads them).
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct DaySet {
    /// The day of bit 0 of `words[0]`, as days from the common era; a multiple of 64.
    base: i64,
    words: Vec<u64>,
}

impl DaySet {
    pub(crate) fn insert(&mut self, day: NaiveDate) {
        let n = i64::from(chrono::Datelike::num_days_from_ce(&day));
        let word_of = |n: i64| n.div_euclid(64) * 64;
        if self.words.is_empty() {
            self.base = word_of(n);
        } else if n < self.base {
            let before = ((self.base - word_of(n)) / 64) as usize;
            self.words.splice(0..0, std::iter::repeat_n(0, before));
            self.base = word_of(n);
        }
        let bit = (n - self.base) as usize;
        if self.words.len() <= bit / 64 {
            self.words.resize(bit / 64 + 1, 0);
        }
        self.words[bit / 64] |= 1 << (bit % 64);
    }

    /// The days in the set.
    pub(crate) fn len(&self) -> u64 {
        self.words.iter().map(|w| u64::from(w.count_ones())).sum()
    }
}

impl RunCounts {
    /// Adds what one unit of the account compared; counts the account once its last unit
    /// ended. A unit that compared nothing keeps no entry for an account that has none (an
    /// idle account costs nothing; one whose later units compare days is counted at the end).
    pub(crate) fn unit_ended(
        &self,
        advertiser_id: u64,
        compared: impl IntoIterator<Item = NaiveDate>,
        differing: impl IntoIterator<Item = NaiveDate>,
    ) {
        let compared: Vec<NaiveDate> = compared.into_iter().collect();
        let mut accounts = self.accounts.lock().unwrap_or_else(|e| e.into_inner());
        if compared.is_empty() && !accounts.contains_key(&advertiser_id) {
            return;
        }
        let entry = accounts.entry(advertiser_id).or_default();
        entry.units_ended += 1;
        compared.into_iter().for_each(|d| entry.compared.insert(d));
        differing
            .into_iter()
            .for_each(|d| entry.differing.insert(d));
        if entry.units_ended >= self.units_per_account.load(Ordering::Relaxed) {
            if let Some(done) = accounts.remove(&advertiser_id) {
                self.count(&done);
            }
        }
    }

    /// Counts the accounts some of whose units did not end (a failed binding), at the run's
    /// end.
    pub(crate) fn finish(&self) -> (u64, u64) {
        let rest = std::mem::take(&mut *self.accounts.lock().unwrap_or_else(|e| e.into_inner()));
        for days in rest.values() {
            self.count(days);
        }
        (
            self.reconciled.load(Ordering::Relaxed),
            self.differing.load(Ordering::Relaxed),
        )
    }

    fn count(&self, days: &AccountDays) {
        self.reconciled
            .fetch_add(days.compared.len(), Ordering::Relaxed);
        self.differing
            .fetch_add(days.differing.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(text: &str) -> Box<RawValue> {
        RawValue::from_string(text.to_string()).unwrap()
    }

    #[test]
    fn figures_carry_the_rounding_of_their_last_decimal() {
        assert_eq!(figure("spend", &raw("\"12.34\"")), Some((12.34, 0.005)));
        assert_eq!(figure("spend", &raw("12.5")), Some((12.5, 0.05)));
        // Money without decimals may be rounded to whole units; a count is exact.
        assert_eq!(figure("spend", &raw("\"7\"")), Some((7.0, 0.5)));
        assert_eq!(figure("impressions", &raw("\"7\"")), Some((7.0, 0.0)));
        assert_eq!(figure("impressions", &raw("\"-\"")), None);
        assert_eq!(figure("impressions", &raw("null")), None);
        assert_eq!(figure("impressions", &raw("\"NaN\"")), None);
    }

    #[test]
    fn rows_sum_per_day_and_an_unreadable_figure_leaves_the_sum_unknown() {
        let tally = Tally::new(vec!["spend", "impressions"]);
        let d1 = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let d2 = NaiveDate::from_ymd_opt(2026, 11, 2).unwrap();
        let rows = [
            raw(r#"{"metrics":{"spend":"1.10","impressions":"10"}}"#),
            raw(r#"{"metrics":{"spend":"2.25","impressions":"5"}}"#),
            raw(r#"{"metrics":{"spend":"0.50","impressions":"-"}}"#),
        ];
        tally.add_rows([(&*rows[0], d1), (&*rows[1], d1), (&*rows[2], d2)], false);
        tally.add_rows([(&*rows[0], d1)], true);
        let days = tally.take();
        let one = &days.sums[&d1];
        assert_eq!(one.rows, 2);
        assert!((one.figures[0].value - 3.35).abs() < 1e-9);
        assert!((one.figures[0].rounding - 0.01).abs() < 1e-12);
        assert_eq!(one.figures[1].value, 15.0);
        assert_eq!(one.figures[1].rounding, 0.0);
        assert_eq!((one.topview_rows, one.topview[1].value), (1, 10.0));
        assert!(days.sums[&d2].topview.is_empty());
        assert!(days.sums[&d2].figures[1].unreadable);
        assert!(!days.sums[&d2].figures[0].unreadable);
    }

    #[test]
    fn a_difference_beyond_the_rounding_differs() {
        let total = Figure {
            value: 3.35,
            rounding: 0.005,
            unreadable: false,
        };
        let sum = |value, rounding| Figure {
            value,
            rounding,
            unreadable: false,
        };
        assert_eq!(differs(total, sum(3.36, 0.01)), Some(false));
        assert_eq!(differs(total, sum(3.40, 0.01)), Some(true));
        // Counts are exact: one impression off differs.
        assert_eq!(differs(sum(15.0, 0.0), sum(14.0, 0.0)), Some(true));
        let unknown = Figure {
            unreadable: true,
            ..total
        };
        assert_eq!(differs(total, unknown), None);
    }

    #[test]
    fn a_day_set_holds_each_day_once_in_any_order() {
        let mut set = DaySet::default();
        let d = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
        for day in [
            "2026-11-01",
            "2026-11-03",
            "2026-11-01",
            "2026-06-30",
            "2027-02-01",
        ] {
            set.insert(d(day));
        }
        assert_eq!(set.len(), 4);
        let mut again = DaySet::default();
        for day in ["2027-02-01", "2026-06-30", "2026-11-03", "2026-11-01"] {
            again.insert(d(day));
        }
        assert_eq!(set.len(), again.len());
        assert_eq!(DaySet::default().len(), 0);
    }

    #[test]
    fn an_account_is_counted_once_its_last_unit_ended() {
        let counts = RunCounts::default();
        counts.units_per_account.store(2, Ordering::Relaxed);
        let d1 = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let d2 = NaiveDate::from_ymd_opt(2026, 11, 2).unwrap();
        counts.unit_ended(1, [d1, d2], [d2]);
        assert_eq!(counts.reconciled.load(Ordering::Relaxed), 0);
        counts.unit_ended(1, [d1, d2], [d1]);
        assert_eq!(counts.reconciled.load(Ordering::Relaxed), 2);
        assert_eq!(counts.differing.load(Ordering::Relaxed), 2);
        counts.unit_ended(2, [d1], []);
        assert_eq!(counts.finish(), (3, 2));
    }
}
