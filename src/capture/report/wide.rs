//! Wide queries: a report query TikTok finds too large (40067) even for the narrowest window (one
//! day, or a report without a time dimension) asks too many metrics at once. It is asked again as
//! several queries of the same rows (same dimensions, window and filters), each with part of the
//! metrics; the parts' rows are joined by their dimensions and emitted once all parts are read,
//! so each record carries every metric TikTok answered. What TikTok answered and refused is
//! kept as a width ([`Widths`]: the most metrics a query was answered with, the fewest it was
//! refused with), by the binding (for every ad account's windows, and in its state for the next
//! run, [`save_widths`]) and by the run (for the bindings that know none yet): a query wider
//! than the answered width starts in parts ([`parts_for`]), so refusals are paid once per
//! binding's life rather than per window or per run, and TikTok's limit, which it does not
//! document, is found between the two counts by one query at a time trying fewer parts. The
//! plan counts the parts a binding's state foresees and grows by the other queries
//! ([`planned_parts`], [`grow_plan`]). The rows of every part are held until the last is read,
//! so the windows of such a binding are cut to as many days as keep about [`VALUES_HELD`]
//! metric values ([`held_days`]), by the rows per day its queries in parts answered.
//! Asynchronous report tasks TikTok finds too large are split and joined here too
//! ([`read_in_parts`]).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::Ordering;

use chrono::NaiveDate;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use super::query::{params, Query, PAGE_SIZE, REPORT_PATH};
use crate::capture::context::{Context, CountFor};
use crate::capture::listing::ListQuery;
use crate::capture::shared::LearnedWidth;
use crate::capture::state::{MetricWidth, StatePatch};
use crate::client::Page;
use crate::error::{ErrorClass, Result};
use crate::registry::ReportSpec;

/// Whether a 40067 answer to this query can only be met by asking fewer metrics: its window
/// cannot be halved (one day, or none).
pub(super) fn narrowest(spec: &ReportSpec, window: Option<(NaiveDate, NaiveDate)>) -> bool {
    spec.granularity.time_dimension().is_none() || window.is_none_or(|(from, to)| from >= to)
}

/// The metric values a query read in parts may hold before its rows are emitted: some 35 MB of
/// TikTok's text (a metric's name and value take about 35 bytes). Every part must be read
/// before a row is whole, so a window whose rows would hold more is asked as windows of fewer
/// days ([`held_days`]).
pub(super) const VALUES_HELD: u64 = 1_000_000;

/// How many days a window of this binding may span when its queries are read in parts: as
/// many as keep the rows per day its earlier queries in parts answered, times its metrics,
/// within [`VALUES_HELD`] (at least one); `None` for a binding whose queries are not in parts,
/// or until such a query has been read (this run, or the last: the state's rows per day).
pub(super) fn held_days(ctx: &Context, binding: usize, spec: &ReportSpec) -> Option<u64> {
    if Widths::of_queries(ctx, binding).parts(spec.metrics.len()) < 2 {
        return None;
    }
    let rows_per_day = ctx.counters[binding]
        .wide_rows_per_day
        .load(Ordering::Relaxed);
    let values_per_day = rows_per_day.checked_mul(spec.metrics.len() as u64)?;
    (values_per_day > 0).then(|| (VALUES_HELD / values_per_day).max(1))
}

/// How many parts a query of `metrics` metrics is asked in, knowing `width` (1: whole), and
/// whether that tries fewer parts than the answered width needs (`may_probe`: this query has
/// the turn to). Nothing known: whole, as every query of the default metrics (which TikTok has
/// never refused) is asked. A width TikTok answered: parts no wider, unless the trial finds
/// fewer, halfway in parts between those and the fewest no refused width rules out. Only a
/// refusal known: parts of half the refused width (the halving that finds an answer soonest).
/// TikTok documents no limit, so none is assumed: everything here comes from its answers.
pub(super) fn parts_for(metrics: usize, width: MetricWidth, may_probe: bool) -> (usize, bool) {
    let metrics = metrics.max(1);
    match (width.answered, width.refused) {
        (None, None) => (1, false),
        (Some(answered), refused) => {
            let safe = metrics.div_ceil(answered.max(1) as usize);
            let fewest = match refused {
                Some(refused) if refused > 1 => metrics.div_ceil(refused as usize - 1),
                _ => 1,
            };
            let trial = fewest.midpoint(safe);
            match may_probe && trial < safe {
                true => (trial, true),
                false => (safe, false),
            }
        }
        (None, Some(refused)) if metrics < refused as usize => (1, false),
        (None, Some(refused)) => (metrics.div_ceil((refused as usize / 2).max(1)), false),
    }
}

/// The widths a query of one binding is cut by: the binding's own (its state's, then what its
/// queries learn), or the run's while the binding knows none. What a query learns goes to both.
#[derive(Clone, Copy)]
pub(crate) struct Widths<'a> {
    binding: &'a LearnedWidth,
    run: &'a LearnedWidth,
}

impl<'a> Widths<'a> {
    fn new(binding: &'a LearnedWidth, run: &'a LearnedWidth) -> Widths<'a> {
        Widths { binding, run }
    }

    /// Those of synchronous queries.
    pub(super) fn of_queries(ctx: &'a Context, binding: usize) -> Widths<'a> {
        Widths::new(&ctx.counters[binding].query_width, &ctx.query_width)
    }

    /// Those of the ledger's queries (learned for the run, kept in no state).
    pub(crate) fn of_ledger(ctx: &'a Context) -> Widths<'a> {
        let ledger = &ctx.activity.query_width;
        Widths::new(ledger, ledger)
    }

    /// Those of asynchronous tasks.
    pub(super) fn of_tasks(ctx: &'a Context, binding: usize) -> Widths<'a> {
        Widths::new(&ctx.counters[binding].task_width, &ctx.task_width)
    }

    /// The counts a query goes by, and whose they are (the trial turn is theirs).
    fn known(&self) -> (MetricWidth, &'a LearnedWidth) {
        let own = self.binding.get();
        match own.is_known() {
            true => (own, self.binding),
            false => (self.run.get(), self.run),
        }
    }

    /// Parts of a query of `metrics` metrics, without trying fewer (1: whole).
    pub(crate) fn parts(&self, metrics: usize) -> usize {
        parts_for(metrics, self.known().0, false).0
    }

    /// Whether anything is known (a query of the default metrics never learns anything).
    pub(super) fn is_known(&self) -> bool {
        self.known().0.is_known()
    }

    pub(super) fn answered(&self, metrics: usize) {
        let width = u32::try_from(metrics).unwrap_or(u32::MAX);
        self.binding.answered(width);
        self.run.answered(width);
    }

    pub(crate) fn refused(&self, metrics: usize) {
        let width = u32::try_from(metrics).unwrap_or(u32::MAX);
        self.binding.refused(width);
        self.run.refused(width);
    }

    /// The parts a query of `metrics` metrics starts in, taking the trial turn when it is free
    /// and fewer parts are worth trying (held until the guard drops).
    ///
    /// Only a width this run is learning is tried: one the binding's state held is used as it
    /// is, so a run after the one that learned it meets no refusal (a first run asks enough
    /// queries in parts to find TikTok's width; if it did not, the parts stay a few too many).
    fn start(&self, metrics: usize) -> (usize, Option<Trial<'a>>) {
        let (width, whose) = self.known();
        let (parts, _) = parts_for(metrics, width, false);
        let (fewer, trying) = parts_for(metrics, width, true);
        let learning = !whose.at_start.is_known();
        if trying && learning && fewer < parts && whose.start_probe() {
            return (fewer, Some(Trial(whose)));
        }
        (parts, None)
    }
}

/// The turn to try fewer parts than the answered width needs; given back when dropped.
struct Trial<'a>(&'a LearnedWidth);

impl Drop for Trial<'_> {
    fn drop(&mut self) {
        self.0.end_probe();
    }
}

/// The parts per query the run's plan counted for a binding of `metrics` metrics: those its
/// state's width foresees (1 without one).
pub(crate) fn planned_parts(width: Option<MetricWidth>, metrics: usize) -> u64 {
    parts_for(metrics, width.unwrap_or_default(), false).0 as u64
}

/// Patches the binding's state with what its queries learned of TikTok's width, if that
/// changed since the state had it, so the next run starts where this one ends.
pub(super) async fn save_widths(ctx: &Context, binding: usize) -> Result<()> {
    let counters = &ctx.counters[binding];
    let query = counters.query_width.unsaved();
    let task = counters.task_width.unsaved();
    if query.is_none() && task.is_none() {
        return Ok(());
    }
    tracing::info!(
        stream = ctx.stream_name(binding),
        query_width = ?query,
        task_width = ?task,
        "Keeping in the state how many metrics TikTok answers in one report query."
    );
    ctx.checkpoint(binding, StatePatch::Widths { query, task })
        .await
}

/// `metrics` cut into `parts` runs of nearly equal length, in order.
pub(crate) fn cut(metrics: &[String], parts: usize) -> Vec<Vec<String>> {
    let parts = parts.clamp(1, metrics.len().max(1));
    let per = metrics.len().div_ceil(parts).max(1);
    metrics.chunks(per).map(<[String]>::to_vec).collect()
}

/// The rows of a report joined across queries by their dimensions, in first-seen order. A row
/// that is not an object is kept as sent, for the record path to report as it does any other.
///
/// A joined row keeps its metrics as the JSON text TikTok sent (each part's members, one after
/// the other), not as parsed values: a thousand metrics of a few thousand rows are held until
/// the last part is read, and as text they take a few times less memory and no parsing twice
/// (the record builder reads them once, as it reads any row).
#[derive(Default)]
pub(crate) struct Joined {
    order: Vec<String>,
    rows: HashMap<String, JoinedRow>,
    unreadable: Vec<Box<RawValue>>,
}

/// One joined row: its dimensions as TikTok sent them, and the members of every part's
/// `metrics` object so far, comma-separated, without the braces.
struct JoinedRow {
    dimensions: Box<RawValue>,
    metrics: String,
}

/// A part's row, borrowed from its text: its dimensions and metrics unparsed.
#[derive(Deserialize)]
struct PartRow<'a> {
    #[serde(borrow, default)]
    dimensions: Option<&'a RawValue>,
    #[serde(borrow, default)]
    metrics: Option<&'a RawValue>,
}

/// The members of a JSON object's text, without its braces (`None`: not an object).
fn members(object: &RawValue) -> Option<&str> {
    object
        .get()
        .trim()
        .strip_prefix('{')?
        .strip_suffix('}')
        .map(str::trim)
}

impl Joined {
    /// Adds one part's row: its metrics join those of the row with the same dimensions.
    pub(crate) fn add(&mut self, spec: &ReportSpec, raw: Box<RawValue>) {
        // Serde would read an array as the struct's fields: only an object is a row.
        let row = Some(raw.get())
            .filter(|text| text.trim_start().starts_with('{'))
            .and_then(|text| serde_json::from_str::<PartRow>(text).ok());
        let Some(row) = row else {
            self.unreadable.push(raw);
            return;
        };
        let dimensions: Map<String, Value> = row
            .dimensions
            .and_then(|d| serde_json::from_str(d.get()).ok())
            .unwrap_or_default();
        let key = spec
            .dimensions
            .iter()
            .map(|d| dimensions.get(d).map(Value::to_string).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\u{1f}");
        // Anything but an object adds no metric (as an empty object would).
        let metrics = row.metrics.and_then(members).unwrap_or_default();
        let joined = match self.rows.get_mut(&key) {
            Some(joined) => joined,
            None => {
                let dimensions = row.dimensions.unwrap_or(RawValue::NULL).to_owned();
                self.order.push(key.clone());
                self.rows.entry(key).or_insert(JoinedRow {
                    dimensions,
                    metrics: String::new(),
                })
            }
        };
        if !metrics.is_empty() {
            if !joined.metrics.is_empty() {
                joined.metrics.push(',');
            }
            joined.metrics.push_str(metrics);
        }
    }

    /// The joined rows, as TikTok's row shape; each row's text is freed as its row is made.
    pub(crate) fn into_rows(mut self) -> Vec<Box<RawValue>> {
        let mut out: Vec<Box<RawValue>> = Vec::with_capacity(self.order.len());
        for key in &self.order {
            let Some(JoinedRow {
                dimensions,
                metrics,
            }) = self.rows.remove(key)
            else {
                continue;
            };
            let dimensions = dimensions.get();
            let mut text = String::with_capacity(dimensions.len() + metrics.len() + 32);
            text.push_str("{\"dimensions\":");
            text.push_str(dimensions);
            text.push_str(",\"metrics\":{");
            text.push_str(&metrics);
            text.push_str("}}");
            drop(metrics);
            // Members copied from valid objects make a valid object.
            if let Ok(row) = RawValue::from_string(text) {
                out.push(row);
            }
        }
        out.append(&mut self.unreadable);
        out
    }
}

/// Where a wide query is asked: the binding, its report and the ad account.
pub(super) struct WideQuery<'a> {
    pub(super) binding: usize,
    pub(super) spec: &'a ReportSpec,
    pub(super) advertiser_id: u64,
    pub(super) query: Query<'a>,
}

/// Reads one query as several of part of the metrics each and returns the rows joined, for the
/// caller to emit; `None` when a part's answer is over the ads cap and `accept_capped` is not
/// set (nothing is returned of it, as of any capped query). `refused` is 1 when the whole query
/// was asked (and refused) first.
pub(super) async fn fetch_split(
    ctx: &Context,
    wide: WideQuery<'_>,
    accept_capped: bool,
    refused: u64,
) -> Result<Option<Vec<Box<RawValue>>>> {
    let WideQuery {
        binding,
        spec,
        advertiser_id,
        query,
    } = wide;
    let filters = query.filtering(spec, ctx.config.include_deleted);
    let split = read_in_parts(
        spec,
        Widths::of_queries(ctx, binding),
        narrowest(spec, query.window),
        advertiser_id,
        async |part: ReportSpec| {
            let query_pages = ListQuery {
                endpoint: REPORT_PATH,
                params: params(&part, advertiser_id, query.window, &filters),
                list_key: "list",
                page_size: PAGE_SIZE,
            };
            read_part(ctx, binding, query_pages, accept_capped).await
        },
    )
    .await;
    if let Ok(Some(rows)) = &split.joined {
        let days = query
            .window
            .map_or(1, |(from, to)| (to - from).num_days().max(0) + 1);
        ctx.counters[binding]
            .wide_rows_per_day
            .fetch_max((rows.len() as u64).div_ceil(days as u64), Ordering::Relaxed);
    }
    // The plan counted this query as the parts the state foresaw: every other query asked for
    // it is added to the plan (or taken from it, when it took fewer).
    let at_start = ctx.counters[binding].query_width.at_start;
    let planned = planned_parts(Some(at_start), spec.metrics.len());
    grow_plan(
        ctx,
        binding,
        advertiser_id,
        (refused + split.asked) as i64 - planned as i64,
    );
    split.joined
}

/// What one part's query answered.
pub(crate) enum Part<E> {
    Rows(Vec<Box<RawValue>>),
    /// Over the ads cap, and the caller does not accept capped answers.
    Capped,
    /// TikTok found even this part too large (40067).
    TooLarge(E),
}

/// The outcome of a query read in parts: the rows joined (`None`: a part was capped) and how
/// many queries were asked.
pub(crate) struct Split<E> {
    pub(crate) joined: std::result::Result<Option<Vec<Box<RawValue>>>, E>,
    pub(super) asked: u64,
}

/// Asks the metrics of `spec` in parts of the same rows (at least two; as many as `widths`
/// says), each through `read_part` (a synchronous query, or an asynchronous task), and joins
/// the parts' rows by their dimensions. The one split and join of both paths. A part TikTok
/// finds too large is a width it refuses: the metrics not yet read are cut again by what is
/// known then (the answered width, or half the refused one), down to one metric. In a window
/// that can be halved (`narrowest` false) only a part wider than TikTok has answered says the
/// metrics are too many; any other may say the days are: its refusal is returned, unlearned,
/// for the caller to halve them.
pub(crate) async fn read_in_parts<E>(
    spec: &ReportSpec,
    widths: Widths<'_>,
    narrowest: bool,
    advertiser_id: u64,
    mut read_part: impl AsyncFnMut(ReportSpec) -> std::result::Result<Part<E>, E>,
) -> Split<E> {
    let (parts, mut trial) = widths.start(spec.metrics.len());
    let mut queue: VecDeque<Vec<String>> = cut(&spec.metrics, parts.max(2)).into();
    let mut split = Split {
        joined: Ok(None),
        asked: 0,
    };
    let mut joined = Joined::default();
    while let Some(metrics) = queue.pop_front() {
        let part = ReportSpec {
            metrics,
            ..spec.clone()
        };
        let width = part.metrics.len();
        let metrics = part.metrics.clone();
        split.asked += 1;
        match read_part(part).await {
            Ok(Part::Rows(rows)) => {
                for raw in rows {
                    joined.add(spec, raw);
                }
                widths.answered(width);
            }
            Ok(Part::Capped) => return split,
            Ok(Part::TooLarge(err)) => {
                // In a window of several days only a part wider than TikTok has answered says
                // the metrics are too many (a trial); otherwise it may be the days.
                let answered = widths.known().0.answered.map(|a| a as usize);
                let too_wide = narrowest || answered.is_some_and(|a| width > a);
                if width < 2 || !too_wide {
                    split.joined = Err(err);
                    return split;
                }
                widths.refused(width);
                // A trial that failed ends; the rest is cut by what is known now.
                trial = None;
                let rest: Vec<String> = std::iter::once(metrics)
                    .chain(queue.drain(..))
                    .flatten()
                    .collect();
                let parts = widths.parts(rest.len()).max(2);
                tracing::info!(
                    advertiser_id,
                    metrics = width,
                    parts,
                    "TikTok found a query of part of the metrics too large (40067); asking the \
                     metrics not yet read in narrower parts."
                );
                queue = cut(&rest, parts).into();
            }
            Err(err) => {
                split.joined = Err(err);
                return split;
            }
        }
    }
    drop(trial);
    split.joined = Ok(Some(joined.into_rows()));
    split
}

/// Reads every page of one part's query.
async fn read_part(
    ctx: &Context,
    binding: usize,
    query: ListQuery,
    accept_capped: bool,
) -> Result<Part<crate::error::Error>> {
    let pages = ctx.pages(CountFor::Binding(binding), query);
    futures::pin_mut!(pages);
    let mut rows: Vec<Box<RawValue>> = Vec::new();
    while let Some(page) = pages.next().await {
        match page {
            Ok(page) => {
                let page: Page = page;
                if page.ads_throttled && !accept_capped {
                    return Ok(Part::Capped);
                }
                rows.extend(page.records);
            }
            Err(err) if err.class() == ErrorClass::QueryTooLarge => return Ok(Part::TooLarge(err)),
            Err(err) => return Err(err),
        }
    }
    Ok(Part::Rows(rows))
}

/// Adds to the plan the `extra` requests a query read in parts took beyond those the plan
/// counted (takes them off when it took fewer).
pub(super) fn grow_plan(ctx: &Context, binding: usize, advertiser_id: u64, extra: i64) {
    if extra == 0 {
        return;
    }
    let change = |n: u64| Some(n.saturating_add_signed(extra));
    let counters = &ctx.counters[binding];
    let before = counters
        .planned
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, change)
        .unwrap_or_default();
    let _ = ctx
        .planned_total
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, change);
    tracing::info!(
        stream = ctx.stream_name(binding),
        advertiser_id,
        extra_requests = extra,
        planned_requests = before.saturating_add_signed(extra),
        "A report query took several queries of part of its metrics; the plan grows by them."
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::{find, Kind};

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("m{i}")).collect()
    }

    fn width(answered: Option<u32>, refused: Option<u32>) -> MetricWidth {
        MetricWidth { answered, refused }
    }

    #[test]
    fn a_query_is_cut_by_what_tiktok_answered_and_refused() {
        // Nothing known (the default metrics, which TikTok never refused): whole.
        assert_eq!(parts_for(1028, width(None, None), true), (1, false));
        // Only a refusal: half its width, and whole below it.
        assert_eq!(parts_for(1028, width(None, Some(1028)), false), (2, false));
        assert_eq!(parts_for(86, width(None, Some(1028)), false), (1, false));
        // Answered 129 and refused 257 (what halving 1,028 finds): 8 parts of 129 are safe,
        // 5 are the fewest not ruled out; a trial takes the middle, 6.
        assert_eq!(
            parts_for(1028, width(Some(129), Some(257)), false),
            (8, false)
        );
        assert_eq!(
            parts_for(1028, width(Some(129), Some(257)), true),
            (6, true)
        );
        // Found exactly: no trial is worth making.
        assert_eq!(
            parts_for(1028, width(Some(200), Some(201)), true),
            (6, false)
        );
        // As wide as answered, or narrower: whole.
        assert_eq!(
            parts_for(200, width(Some(200), Some(201)), true),
            (1, false)
        );
        assert_eq!(parts_for(86, width(Some(129), Some(257)), true), (1, false));
        // An answer whose refusal was dropped (TikTok's limit moved): anything may be tried.
        assert_eq!(parts_for(1028, width(Some(200), None), true), (3, true));
        assert_eq!(planned_parts(None, 1028), 1);
        assert_eq!(planned_parts(Some(width(Some(200), Some(201))), 1028), 6);
    }

    /// A server that refuses more than `limit` metrics a query, read three times with what the
    /// earlier reads learned: the first finds an answer by halving, the second tries fewer
    /// parts (its trial is refused and cut again), the third asks the fewest parts at once;
    /// every read joins every metric of every row.
    #[tokio::test]
    async fn queries_in_parts_learn_the_width_tiktok_answers() {
        let Kind::Report(def) = find("ads_reports_daily").unwrap().kind else {
            panic!()
        };
        let spec = ReportSpec {
            metrics: names(30),
            ..ReportSpec::from_def(&def)
        };
        let limit = 7;
        let (binding, run) = (LearnedWidth::default(), LearnedWidth::default());
        let widths = Widths::new(&binding, &run);
        // What `fetch` learns when the whole query is refused for one day.
        widths.refused(30);
        let mut asked_per_read = Vec::new();
        let mut widths_asked = Vec::new();
        for _ in 0..3 {
            let split = read_in_parts(&spec, widths, true, 1, async |part: ReportSpec| {
                widths_asked.push(part.metrics.len());
                if part.metrics.len() > limit {
                    return Ok(Part::TooLarge("40067"));
                }
                let metrics: Map<String, Value> = part
                    .metrics
                    .iter()
                    .map(|m| (m.clone(), Value::from("1")))
                    .collect();
                let row = serde_json::json!({"dimensions": {"ad_id": "1",
                    "stat_time_day": "2026-11-03 00:00:00"}, "metrics": metrics});
                Ok(Part::Rows(vec![
                    RawValue::from_string(row.to_string()).unwrap()
                ]))
            })
            .await;
            let rows = split.joined.unwrap().unwrap();
            assert_eq!(rows.len(), 1);
            let row: Value = serde_json::from_str(rows[0].get()).unwrap();
            assert_eq!(row["metrics"].as_object().unwrap().len(), 30);
            asked_per_read.push(split.asked);
        }
        // Halves of 15 (refused), then parts of 7 or fewer: 5 parts of 6.
        // Then a trial of 4 parts of 8 (refused), and 5 again; then 5 at once.
        assert_eq!(asked_per_read, [6, 6, 5], "{widths_asked:?}");
        assert_eq!(binding.get(), width(Some(6), Some(8)));
        // What the run shares with bindings that know nothing: another binding's first query
        // starts in as many parts.
        assert_eq!(run.get(), width(Some(6), Some(8)));
        let another = LearnedWidth::default();
        assert_eq!(Widths::new(&another, &run).parts(30), 5);
        assert_eq!(Widths::new(&another, &run).parts(6), 1);
        // A width no wider than answered, refused in a window of several days: the days are
        // too many, not the metrics, and the refusal is the caller's (to halve the window).
        let split = read_in_parts(&spec, widths, false, 1, async |_part: ReportSpec| {
            Ok::<_, &str>(Part::TooLarge("40067"))
        })
        .await;
        assert_eq!((split.joined.err(), split.asked), (Some("40067"), 1));
        assert_eq!(binding.get(), width(Some(6), Some(8)));
    }

    #[test]
    fn metrics_are_cut_in_order_into_nearly_equal_parts() {
        let parts = cut(&names(5), 2);
        assert_eq!(parts, vec![names(3), vec!["m3".into(), "m4".into()]]);
        assert_eq!(cut(&names(5), 9).len(), 5);
        assert_eq!(cut(&names(800), 5).iter().map(Vec::len).max(), Some(160));
        assert_eq!(cut(&names(800), 5).concat(), names(800));
        assert_eq!(cut(&names(1), 2), vec![names(1)]);
    }

    #[test]
    fn only_the_narrowest_window_splits_its_metrics() {
        let Kind::Report(daily) = find("ads_reports_daily").unwrap().kind else {
            panic!()
        };
        let Kind::Report(lifetime) = find("ads_reports_lifetime").unwrap().kind else {
            panic!()
        };
        let day = |d: u32| NaiveDate::from_ymd_opt(2026, 11, d).unwrap();
        let daily = ReportSpec::from_def(&daily);
        assert!(narrowest(&daily, Some((day(3), day(3)))));
        assert!(!narrowest(&daily, Some((day(3), day(4)))));
        assert!(narrowest(&ReportSpec::from_def(&lifetime), None));
    }

    #[test]
    fn parts_rows_join_by_their_dimensions() {
        let Kind::Report(def) = find("ads_reports_daily").unwrap().kind else {
            panic!()
        };
        let spec = ReportSpec::from_def(&def);
        let raw = |v: Value| RawValue::from_string(v.to_string()).unwrap();
        let mut joined = Joined::default();
        let day = "2026-11-03 00:00:00";
        for row in [
            serde_json::json!({"dimensions": {"ad_id": "1", "stat_time_day": day}, "metrics": {"spend": "1.50"}}),
            serde_json::json!({"dimensions": {"ad_id": "2", "stat_time_day": day}, "metrics": {"spend": "2.00"}}),
            serde_json::json!({"dimensions": {"ad_id": "1", "stat_time_day": day}, "metrics": {"complete_payment": "3"}}),
            // A row only the second part answered.
            serde_json::json!({"dimensions": {"ad_id": "3", "stat_time_day": day}, "metrics": {"complete_payment": "1"}}),
        ] {
            joined.add(&spec, raw(row));
        }
        let rows: Vec<Value> = joined
            .into_rows()
            .iter()
            .map(|r| serde_json::from_str(r.get()).unwrap())
            .collect();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0]["dimensions"]["ad_id"], "1");
        assert_eq!(rows[0]["metrics"]["spend"], "1.50");
        assert_eq!(rows[0]["metrics"]["complete_payment"], "3");
        assert_eq!(rows[1]["metrics"]["spend"], "2.00");
        assert!(rows[1]["metrics"].get("complete_payment").is_none());
        assert_eq!(rows[2]["dimensions"]["ad_id"], "3");
    }

    #[test]
    fn joined_rows_keep_the_text_sent_and_take_odd_parts_without_loss() {
        let Kind::Report(def) = find("ads_reports_daily").unwrap().kind else {
            panic!()
        };
        let spec = ReportSpec::from_def(&def);
        let raw = |text: &str| RawValue::from_string(text.into()).unwrap();
        let dims = r#"{"ad_id": "1", "stat_time_day": "2026-11-03 00:00:00"}"#;
        let mut joined = Joined::default();
        joined.add(
            &spec,
            raw(&format!(
                r#"{{"dimensions": {dims}, "metrics": {{"spend": 1.50e0}}}}"#
            )),
        );
        // An empty part, one whose metrics are not an object, one without metrics.
        joined.add(
            &spec,
            raw(&format!(r#"{{"dimensions": {dims}, "metrics": {{ }}}}"#)),
        );
        joined.add(
            &spec,
            raw(&format!(r#"{{"dimensions": {dims}, "metrics": [1]}}"#)),
        );
        joined.add(&spec, raw(&format!(r#"{{"dimensions": {dims}}}"#)));
        joined.add(
            &spec,
            raw(&format!(
                r#"{{"dimensions": {dims}, "metrics": {{"clicks": "7"}}}}"#
            )),
        );
        // Rows without dimensions join one another; a row that is no object is kept as sent.
        joined.add(&spec, raw(r#"{"metrics": {"spend": "2"}}"#));
        joined.add(
            &spec,
            raw(r#"{"dimensions": null, "metrics": {"clicks": "3"}}"#),
        );
        joined.add(&spec, raw("[1, 2]"));
        let rows = joined.into_rows();
        let texts: Vec<&str> = rows.iter().map(|r| r.get()).collect();
        assert_eq!(texts.len(), 3, "{texts:?}");
        let first: Value = serde_json::from_str(texts[0]).unwrap();
        let names: Vec<&String> = first["metrics"].as_object().unwrap().keys().collect();
        assert_eq!(names, ["spend", "clicks"]);
        assert_eq!(first["metrics"]["clicks"], "7");
        // The number's text as TikTok sent it, for the record builder to read.
        assert!(texts[0].contains("1.50e0"), "{}", texts[0]);
        let second: Value = serde_json::from_str(texts[1]).unwrap();
        assert_eq!(second["dimensions"], Value::Null);
        assert_eq!(
            second["metrics"],
            serde_json::json!({"spend": "2", "clicks": "3"})
        );
        assert_eq!(texts[2], "[1, 2]");
    }
}
