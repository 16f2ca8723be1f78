//! What a report query asked for, and what of its answer it did not ask: rows of another ad
//! account, or of a day outside the query's window. TikTok answers a query with the rows of the
//! account and days it names; anything else is a proxy's or an API's mistake, and emitting it
//! would put one customer's rows into another's capture or a day into a window that never
//! asked for it. [`Unasked`] drops such rows wherever report rows are read (synchronous pages,
//! task files, the activity index) and says so once per query, naming a few of the accounts and
//! days with their counts. A leaf: pure but for that one warning.

use std::collections::BTreeSet;

use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::Value;

/// At most this many accounts and days are named in a warning (the counts say the rest).
const NAMED: usize = 5;

/// One query's scope (the account and window it asked) and the rows of its answer dropped as
/// outside it.
#[derive(Debug)]
pub(crate) struct Unasked {
    advertiser_id: u64,
    window: Option<(NaiveDate, NaiveDate)>,
    rows: u64,
    accounts: BTreeSet<u64>,
    more_accounts: bool,
    days: BTreeSet<NaiveDate>,
    more_days: bool,
}

impl Unasked {
    /// The scope of a query for `advertiser_id` over `window` (`None`: no days asked, as for
    /// lifetime totals, so no row is dropped for its day).
    pub(crate) fn new(advertiser_id: u64, window: Option<(NaiveDate, NaiveDate)>) -> Unasked {
        Unasked {
            advertiser_id,
            window,
            rows: 0,
            accounts: BTreeSet::new(),
            more_accounts: false,
            days: BTreeSet::new(),
            more_days: false,
        }
    }

    /// Whether a row naming `account` (`None`: it names none, so it is the asked account's, as
    /// TikTok's rows below the advertiser level are) was asked; a row of another account is
    /// counted as dropped.
    pub(crate) fn keeps_account(&mut self, account: Option<u64>) -> bool {
        match account {
            Some(id) if id != self.advertiser_id => {
                self.rows += 1;
                if self.accounts.len() < NAMED {
                    self.accounts.insert(id);
                } else if !self.accounts.contains(&id) {
                    self.more_accounts = true;
                }
                false
            }
            _ => true,
        }
    }

    /// Whether a row of `day` (`None`: no readable day, which the record builder judges) lies
    /// in the asked window; a row outside it is counted as dropped.
    pub(crate) fn keeps_day(&mut self, day: Option<NaiveDate>) -> bool {
        match (day, self.window) {
            (Some(day), Some((from, to))) if day < from || day > to => {
                self.rows += 1;
                if self.days.len() < NAMED {
                    self.days.insert(day);
                } else if !self.days.contains(&day) {
                    self.more_days = true;
                }
                false
            }
            _ => true,
        }
    }

    /// The window the query asked (`None`: lifetime).
    pub(crate) fn window(&self) -> Option<(NaiveDate, NaiveDate)> {
        self.window
    }

    /// How many rows were dropped.
    pub(crate) fn dropped(&self) -> u64 {
        self.rows
    }

    /// Says once what this query's answer held that it did not ask (nothing when all was
    /// asked). `what` names the reader: a stream, or the activity index.
    pub(crate) fn warn(&self, what: &str) {
        if self.rows == 0 {
            return;
        }
        let listed = |items: Vec<String>, more: bool| {
            let mut text = items.join(", ");
            if more {
                text.push_str(", ...");
            }
            text
        };
        let other_accounts = listed(
            self.accounts.iter().map(u64::to_string).collect(),
            self.more_accounts,
        );
        let days_outside = listed(
            self.days.iter().map(NaiveDate::to_string).collect(),
            self.more_days,
        );
        let window = self
            .window
            .map(|(from, to)| format!("{from} to {to}"))
            .unwrap_or_else(|| "lifetime".into());
        tracing::warn!(
            stream = what,
            advertiser_id = self.advertiser_id,
            window = window.as_str(),
            dropped_rows = self.rows,
            other_accounts = other_accounts.as_str(),
            days_outside = days_outside.as_str(),
            "The server answered a report query with rows it did not ask for (another ad \
             account's, or days outside the query's window); they are dropped, not emitted. A \
             proxy or an API fault may be mixing answers: check the base URL and any proxy."
        );
    }
}

/// The day a report row's time dimension begins with (`2026-11-01` of
/// `2026-11-01 13:00:00`), if it reads as one.
pub(crate) fn day_of(time: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(time.get(..10)?, "%Y-%m-%d").ok()
}

/// The ad account a report row names in its `dimensions` (`advertiser_id`), if it names one
/// that reads as an id. Only rows that mention the field are parsed, so rows below the
/// advertiser level (which carry no account) cost a substring search.
pub(crate) fn row_account(raw: &str) -> Option<u64> {
    if !raw.contains("\"advertiser_id\"") {
        return None;
    }
    #[derive(Deserialize)]
    struct Row {
        #[serde(default)]
        dimensions: Option<Dimensions>,
    }
    #[derive(Deserialize)]
    struct Dimensions {
        #[serde(default)]
        advertiser_id: Option<Value>,
    }
    let row: Row = serde_json::from_str(raw).ok()?;
    crate::capture::record::id_of(row.dimensions?.advertiser_id.as_ref()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn rows_of_other_accounts_or_days_are_dropped_and_counted() {
        let mut unasked = Unasked::new(7, Some((d("2024-01-01"), d("2024-01-30"))));
        assert!(unasked.keeps_account(None));
        assert!(unasked.keeps_account(Some(7)));
        assert!(!unasked.keeps_account(Some(8)));
        assert!(unasked.keeps_day(Some(d("2024-01-01"))));
        assert!(unasked.keeps_day(Some(d("2024-01-30"))));
        assert!(unasked.keeps_day(None));
        assert!(!unasked.keeps_day(Some(d("2023-12-31"))));
        assert!(!unasked.keeps_day(Some(d("2024-01-31"))));
        assert_eq!(unasked.dropped(), 3);
        // A lifetime query drops no row for its day.
        let mut lifetime = Unasked::new(7, None);
        assert!(lifetime.keeps_day(Some(d("1999-01-01"))));
        assert_eq!(lifetime.dropped(), 0);
    }

    #[test]
    fn a_warning_names_a_few_accounts_and_days_whatever_comes() {
        let mut unasked = Unasked::new(7, Some((d("2024-01-01"), d("2024-01-01"))));
        for id in 100..100_000 {
            unasked.keeps_account(Some(id));
        }
        assert_eq!(unasked.accounts.len(), NAMED);
        assert!(unasked.more_accounts);
        assert_eq!(unasked.dropped(), 99_900);
    }

    #[test]
    fn the_account_of_a_row_is_read_from_its_dimensions_only() {
        assert_eq!(
            row_account(
                r#"{"dimensions":{"advertiser_id":"42","stat_time_day":"x"},"metrics":{}}"#
            ),
            Some(42)
        );
        assert_eq!(
            row_account(r#"{"metrics":{"spend":"1"},"dimensions":{"advertiser_id":43}}"#),
            Some(43)
        );
        assert_eq!(
            row_account(r#"{"dimensions":{"campaign_id":"1"},"metrics":{"spend":"1"}}"#),
            None
        );
        assert_eq!(
            row_account(r#"{"dimensions":{"campaign_id":"1"},"metrics":{"advertiser_id":"9"}}"#),
            None
        );
        assert_eq!(day_of("2024-01-02 13:00:00"), Some(d("2024-01-02")));
        assert_eq!(day_of("2024-01"), None);
    }
}
