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
use serde_json::value::RawValue;

use crate::capture::record::MetricSink;
use crate::registry::metric_catalog::{self, ValueType};

/// The sums of one report unit (one stream, level and ad account), filled as it emits.
#[derive(Debug)]
pub(crate) struct Tally {
    /// The metrics compared: the stream's additive metrics the ledger asks, in the ledger's
    /// order.
    pub(crate) metrics: Vec<&'static str>,
    index: MetricIndex,
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

/// The compared metrics by name, for finding a row's metric among them without hashing: the
/// names sorted, each with its place in [`Tally::metrics`] and whether it is a count (exact
/// when sent without decimals), looked up in the catalog once per unit, not per figure.
#[derive(Debug)]
struct MetricIndex(Vec<(&'static str, usize, bool)>);

impl MetricIndex {
    fn new(metrics: &[&'static str]) -> MetricIndex {
        let mut by_name: Vec<(&'static str, usize, bool)> = metrics
            .iter()
            .enumerate()
            .map(|(i, name)| (*name, i, is_count(name)))
            .collect();
        by_name.sort_unstable_by_key(|(name, ..)| *name);
        MetricIndex(by_name)
    }

    /// The place of a compared metric and whether it is a count.
    fn find(&self, name: &str) -> Option<(usize, bool)> {
        let at = self.0.binary_search_by(|(n, ..)| (*n).cmp(name)).ok()?;
        let (_, place, count) = self.0[at];
        Some((place, count))
    }
}

/// The metric names of the rows read so far, by position, each with what the [`MetricIndex`]
/// said of it: TikTok sends every row of an answer with its metrics in the same order, so a
/// row's k-th name is checked against the last row's k-th (one comparison) before it is
/// searched for.
#[derive(Default)]
struct NameOrder(Vec<(String, Option<(usize, bool)>)>);

impl NameOrder {
    fn find(&mut self, index: &MetricIndex, position: usize, name: &str) -> Option<(usize, bool)> {
        match self.0.get(position) {
            Some((seen, found)) if seen == name => *found,
            _ => {
                let found = index.find(name);
                let entry = (name.to_string(), found);
                match self.0.get_mut(position) {
                    Some(slot) => *slot = entry,
                    None => self.0.push(entry),
                }
                found
            }
        }
    }
}

/// The figures of the compared metrics in the rows of one answer, taken as the record builder
/// reads each row ([`MetricSink`]: the row's text is parsed once), and kept, with the row's
/// day, for the rows emitted ([`RowReader::keep`]) until [`Tally::add_read`] sums them.
pub(crate) struct RowReader<'t> {
    index: &'t MetricIndex,
    order: NameOrder,
    /// The place in the current row of the next metric handed over.
    position: usize,
    /// The current row's figure of each compared metric (`None`: not seen yet).
    found: Vec<Option<Option<(f64, f64)>>>,
    kept_days: Vec<NaiveDate>,
    /// The figures of the rows kept, one run of `found.len()` per row (`None`: missing or not
    /// a number).
    kept: Vec<Option<(f64, f64)>>,
}

impl RowReader<'_> {
    /// Keeps the current row's figures, as the figures of a row of `day`.
    pub(crate) fn keep(&mut self, day: NaiveDate) {
        self.kept_days.push(day);
        self.kept.extend(self.found.iter().map(|f| f.flatten()));
    }
}

impl MetricSink for RowReader<'_> {
    fn clear(&mut self) {
        self.found.fill(None);
        self.position = 0;
    }

    fn metric(&mut self, name: &str, value: &str) {
        if let Some((place, count)) = self.order.find(self.index, self.position, name) {
            self.found[place] = Some(figure_of(value, count));
        }
        self.position += 1;
    }

    fn whole_row(&mut self, raw: &str) {
        let seed = RowFigures {
            index: self.index,
            order: &mut self.order,
            found: &mut self.found,
        };
        let mut reader = serde_json::Deserializer::from_str(raw);
        if serde::de::DeserializeSeed::deserialize(seed, &mut reader).is_err() {
            self.found.fill(None);
        }
    }
}

/// One row's figures of the compared metrics, read from its text in one pass: the row's
/// `metrics` object is walked member by member, a compared metric's figure parsed where it
/// stands and every other value skipped (no map of the row is built).
struct RowFigures<'t> {
    index: &'t MetricIndex,
    order: &'t mut NameOrder,
    /// Per compared metric, the figure the row sent (`None` until seen, `Some(None)`: not a
    /// number).
    found: &'t mut [Option<Option<(f64, f64)>>],
}

impl<'de> serde::de::DeserializeSeed<'de> for RowFigures<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for RowFigures<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a report row")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let RowFigures {
            index,
            order,
            found,
        } = self;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            if key == "metrics" {
                map.next_value_seed(MetricFigures {
                    index,
                    order: &mut *order,
                    found: &mut *found,
                })?;
            } else {
                map.next_value::<serde::de::IgnoredAny>()?;
            }
        }
        Ok(())
    }
}

/// The `metrics` object of a row (see [`RowFigures`]).
struct MetricFigures<'t> {
    index: &'t MetricIndex,
    order: &'t mut NameOrder,
    found: &'t mut [Option<Option<(f64, f64)>>],
}

impl<'de> serde::de::DeserializeSeed<'de> for MetricFigures<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for MetricFigures<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the metrics of a report row")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut position = 0;
        while let Some(name) = map.next_key::<Cow<'de, str>>()? {
            let found = self.order.find(self.index, position, &name);
            position += 1;
            match found {
                Some((place, count)) => {
                    let value: &'de RawValue = map.next_value()?;
                    self.found[place] = Some(figure_of(value.get(), count));
                }
                None => {
                    map.next_value::<serde::de::IgnoredAny>()?;
                }
            }
        }
        Ok(())
    }
}

impl Tally {
    pub(crate) fn new(metrics: Vec<&'static str>) -> Tally {
        Tally {
            index: MetricIndex::new(&metrics),
            metrics,
            days: Mutex::new(TallyDays::default()),
        }
    }

    fn days(&self) -> std::sync::MutexGuard<'_, TallyDays> {
        self.days.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A reader of the figures of rows as their records are built (see [`RowReader`]).
    pub(crate) fn reader(&self) -> RowReader<'_> {
        RowReader {
            index: &self.index,
            order: NameOrder::default(),
            position: 0,
            found: vec![None; self.metrics.len()],
            kept_days: Vec::new(),
            kept: Vec::new(),
        }
    }

    /// Adds the rows a reader kept, of the auction and reach & frequency scope or of TopView
    /// (`topview`).
    pub(crate) fn add_read(&self, reader: RowReader<'_>, topview: bool) {
        let width = self.metrics.len();
        let mut days = self.days();
        for (n, day) in reader.kept_days.into_iter().enumerate() {
            let sums = days.sums.entry(day).or_insert_with(|| DaySums {
                figures: vec![Figure::default(); width],
                ..DaySums::default()
            });
            let figures = if topview {
                sums.topview_rows += 1;
                if sums.topview.is_empty() {
                    sums.topview = vec![Figure::default(); width];
                }
                &mut sums.topview
            } else {
                sums.rows += 1;
                &mut sums.figures
            };
            let row = reader.kept.get(n * width..(n + 1) * width).unwrap_or(&[]);
            for (sum, figure) in figures.iter_mut().zip(row) {
                sum.add(*figure);
            }
        }
    }

    /// Adds rows (each with its day) read from their text.
    #[cfg(test)]
    fn add_rows<'r>(
        &self,
        rows: impl IntoIterator<Item = (&'r RawValue, NaiveDate)>,
        topview: bool,
    ) {
        let mut reader = self.reader();
        for (raw, day) in rows {
            reader.clear();
            reader.whole_row(raw.get());
            reader.keep(day);
        }
        self.add_read(reader, topview);
    }

    /// Sums rows that are not the unit's (the ledger's rows of a day) over the same metrics (a
    /// metric a row lacks, or a row that is not JSON, leaves that sum unknown).
    pub(crate) fn sum_of(&self, rows: &[Box<RawValue>]) -> Vec<Figure> {
        let mut out = vec![Figure::default(); self.metrics.len()];
        let mut reader = self.reader();
        for raw in rows {
            reader.clear();
            reader.whole_row(raw.get());
            for (sum, figure) in out.iter_mut().zip(&reader.found) {
                sum.add(figure.flatten());
            }
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
/// the rounding it may carry (see [`figure_text`]; `count`: the metric is a count), `None` when
/// it is not a number (`-`, null, text).
fn figure_of(json: &str, count: bool) -> Option<(f64, f64)> {
    let text: Cow<'_, str> = match json.strip_prefix('"').and_then(|s| s.strip_suffix('"')) {
        // Figures carry no escapes: the text between the quotes is the string.
        Some(inner) if !inner.contains('\\') => Cow::Borrowed(inner),
        Some(_) => Cow::Owned(serde_json::from_str::<String>(json).ok()?),
        None => Cow::Borrowed(json),
    };
    figure_text(&text, count)
}

/// A number written as text (a JSON number, or a string's content) and the rounding it may
/// carry, `None` when the text is no finite number. TikTok rounds money and fractional figures
/// to the decimals it sends, so such a figure may be off by half a unit of its last decimal; a
/// count sent without decimals (`count`) is a whole number of events, exact. Money sent without
/// decimals may be rounded to whole units (TikTok's multi-account answers drop the decimals),
/// so it carries half a unit.
pub(crate) fn figure_text(text: &str, count: bool) -> Option<(f64, f64)> {
    let text = text.trim();
    let value: f64 = text.parse().ok().filter(|x: &f64| x.is_finite())?;
    let mantissa = text.split(['e', 'E']).next().unwrap_or(text);
    let decimals = mantissa.split_once('.').map_or(0, |(_, frac)| frac.len());
    let rounding = if decimals == 0 && count {
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

    fn figure(metric: &str, raw: &RawValue) -> Option<(f64, f64)> {
        figure_of(raw.get(), is_count(metric))
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
    fn a_row_is_read_in_any_member_order_with_escapes_and_other_members_skipped() {
        let tally = Tally::new(vec!["spend", "impressions", "clicks"]);
        // Metrics before dimensions, an escaped name, nested values among the skipped members,
        // a number sent as a JSON number and one as an escaped string.
        let row = raw(concat!(
            r#"{"metrics":{"cpc":{"a":[1,2]},"sp\u0065nd":"1.5","impressions":12,"#,
            r#""clicks":"\u0033"},"dimensions":{"ad_id":"1"},"extra":[{"metrics":{}}]}"#
        ));
        let sums = tally.sum_of(&[row]);
        assert_eq!((sums[0].value, sums[0].rounding), (1.5, 0.05));
        assert_eq!((sums[1].value, sums[1].rounding), (12.0, 0.0));
        assert_eq!((sums[2].value, sums[2].unreadable), (3.0, false));
        // A metric the row lacks leaves its sum unknown, not the others'; the names in another
        // order than the row before are each still found.
        let rows = [
            raw(r#"{"metrics":{"spend":"1.00","impressions":"2","clicks":"1"}}"#),
            raw(r#"{"metrics":{"clicks":"1","spend":"2.00"}}"#),
        ];
        let sums = tally.sum_of(&rows);
        assert_eq!(
            sums.iter().map(|s| s.unreadable).collect::<Vec<_>>(),
            [false, true, false]
        );
        assert_eq!((sums[0].value, sums[2].value), (3.0, 2.0));
        // A row that is no object, or whose metrics are no object, leaves every sum unknown.
        for broken in [r#"[1,2]"#, r#"{"metrics":null}"#, r#"{"metrics":[]}"#] {
            let sums = tally.sum_of(&[raw(broken)]);
            assert!(sums.iter().all(|s| s.unreadable), "{broken}");
        }
    }

    #[test]
    fn figures_handed_over_by_the_record_builder_sum_like_the_rows_read_whole() {
        let tally = Tally::new(vec!["spend", "impressions"]);
        let day = NaiveDate::from_ymd_opt(2026, 11, 1).unwrap();
        let mut reader = tally.reader();
        // A row handed over metric by metric, then one the builder declined, handed whole,
        // after a clear that drops what it had been given of it.
        reader.clear();
        reader.metric("cpc", "\"0.10\"");
        reader.metric("spend", "\"1.25\"");
        reader.metric("impressions", "7");
        reader.keep(day);
        reader.clear();
        reader.metric("spend", "\"100.00\"");
        reader.clear();
        reader.whole_row(r#"{"metrics":{"spend":"0.75","impressions":"3"}}"#);
        reader.keep(day);
        // Handed over without clicks' row kept: a row not kept counts nothing.
        reader.clear();
        reader.metric("spend", "\"9.00\"");
        tally.add_read(reader, false);
        let days = tally.take();
        let sums = &days.sums[&day];
        assert_eq!(sums.rows, 2);
        assert!((sums.figures[0].value - 2.0).abs() < 1e-9);
        assert_eq!(sums.figures[1].value, 10.0);
        assert!(!sums.figures[0].unreadable && !sums.figures[1].unreadable);
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
