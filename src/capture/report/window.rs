//! Pure date arithmetic of reports: the range one ad account's report covers this run (from
//! `start_date`, the account's creation, the cursor and `lookback_days`), the windows TikTok
//! accepts (30 days for daily queries, one day for hourly ones) and the range of totals that
//! cannot be lifetime totals. A leaf: it makes no request and imports nothing of the capture
//! engine, so the report driver, the activity index and the plan all cut days the same way.

use chrono::{Days, NaiveDate};

use crate::registry::metrics::Granularity;
use crate::registry::TOTALS_DAYS;

/// How many windows of one report and advertiser are fetched at once.
pub(crate) const CONCURRENT_WINDOWS: usize = 2;
/// The most days one daily query may span.
pub(crate) const MAX_DAILY_WINDOW: u64 = 30;
/// When TikTok Ads began: the lower bound when nothing else is known.
pub(crate) const EARLIEST_DAY: NaiveDate = match NaiveDate::from_ymd_opt(2016, 9, 1) {
    Some(d) => d,
    None => panic!("valid date"),
};

/// What the config says of every report's dates: `start_date`, `end_date` and
/// `lookback_days`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DateBounds {
    pub(crate) start_date: Option<NaiveDate>,
    pub(crate) end_date: Option<NaiveDate>,
    pub(crate) lookback_days: u32,
}

impl DateBounds {
    pub(crate) fn of(config: &crate::config::Config) -> Self {
        DateBounds {
            start_date: config.start_date,
            end_date: config.end_date,
            lookback_days: config.lookback_days,
        }
    }
}

/// The date range one advertiser's report must cover this run, or `None` when it is empty. It
/// never starts before [`EARLIEST_DAY`].
pub(crate) fn date_range(
    bounds: &DateBounds,
    created: Option<NaiveDate>,
    cursor: Option<&str>,
    today: NaiveDate,
) -> Option<(NaiveDate, NaiveDate)> {
    let DateBounds {
        start_date,
        end_date,
        lookback_days,
    } = *bounds;
    let resume = cursor
        .and_then(|c| NaiveDate::parse_from_str(c.get(..10)?, "%Y-%m-%d").ok())
        .map(|c| {
            c.checked_sub_days(Days::new(lookback_days.into()))
                .unwrap_or(c)
        });
    // Nothing before TikTok Ads began can have data: a start date, creation or cursor before it
    // (a state cursor of year 1) is clamped there, so no run asks for decades of empty days.
    let start = [start_date, created, resume]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(EARLIEST_DAY)
        .max(EARLIEST_DAY);
    let end = end_date.unwrap_or_else(|| today.checked_add_days(Days::new(1)).unwrap_or(today));
    (start <= end).then_some((start, end))
}

/// The range of totals that cannot be lifetime totals: the [`TOTALS_DAYS`] days ending on
/// `last` (the config's `end_date` when it is in the past, else today).
pub fn totals_window(last: NaiveDate) -> (NaiveDate, NaiveDate) {
    let start = last
        .checked_sub_days(Days::new(TOTALS_DAYS - 1))
        .unwrap_or(last);
    (start, last)
}

/// Cuts an inclusive range into query windows.
pub(crate) fn windows(
    start: NaiveDate,
    end: NaiveDate,
    granularity: Granularity,
) -> Vec<(NaiveDate, NaiveDate)> {
    let step = match granularity {
        Granularity::Hour => 1,
        Granularity::Day => MAX_DAILY_WINDOW,
        Granularity::Lifetime => return Vec::new(),
    };
    let mut out = Vec::new();
    let mut from = start;
    while from <= end {
        let to = from
            .checked_add_days(Days::new(step - 1))
            .unwrap_or(end)
            .min(end);
        out.push((from, to));
        match to.succ_opt() {
            Some(next) => from = next,
            None => break,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn daily_windows_are_30_days_and_end_on_the_end_date() {
        let w = windows(d("2024-01-01"), d("2024-03-15"), Granularity::Day);
        assert_eq!(
            w,
            [
                (d("2024-01-01"), d("2024-01-30")),
                (d("2024-01-31"), d("2024-02-29")),
                (d("2024-03-01"), d("2024-03-15"))
            ]
        );
        let single = windows(d("2024-09-01"), d("2024-09-30"), Granularity::Day);
        assert_eq!(single, [(d("2024-09-01"), d("2024-09-30"))]);
        let hourly = windows(d("2024-01-01"), d("2024-01-02"), Granularity::Hour);
        assert_eq!(
            hourly,
            [
                (d("2024-01-01"), d("2024-01-01")),
                (d("2024-01-02"), d("2024-01-02"))
            ]
        );
    }

    fn bounds(
        start_date: Option<NaiveDate>,
        end_date: Option<NaiveDate>,
        lookback_days: u32,
    ) -> DateBounds {
        DateBounds {
            start_date,
            end_date,
            lookback_days,
        }
    }

    #[test]
    fn the_range_starts_at_the_latest_known_lower_bound() {
        let today = d("2024-06-10");
        // No state: the later of start_date and the creation date; end is today plus one.
        assert_eq!(
            date_range(
                &bounds(Some(d("2024-01-01")), None, 3),
                Some(d("2024-02-01")),
                None,
                today
            ),
            Some((d("2024-02-01"), d("2024-06-11")))
        );
        // With a cursor: the cursor minus the lookback.
        assert_eq!(
            date_range(
                &bounds(Some(d("2024-01-01")), None, 3),
                None,
                Some("2024-06-05"),
                today
            ),
            Some((d("2024-06-02"), d("2024-06-11")))
        );
        // Never before start_date, whatever the lookback.
        assert_eq!(
            date_range(
                &bounds(Some(d("2024-06-04")), Some(d("2024-06-08")), 30),
                None,
                Some("2024-06-05"),
                today
            ),
            Some((d("2024-06-04"), d("2024-06-08")))
        );
        // A finished end_date and a cursor past it: nothing to do.
        assert_eq!(
            date_range(
                &bounds(None, Some(d("2024-01-31")), 3),
                None,
                Some("2024-03-01"),
                today
            ),
            None
        );
        assert_eq!(
            date_range(&bounds(None, None, 3), None, None, today)
                .unwrap()
                .0,
            EARLIEST_DAY
        );
    }
}
