//! The one clock of the connector: every "now" and "today" of a run comes from here, so that a
//! test can set the time (a fixed instant) and cross a day boundary on purpose. Production reads
//! the system clock; tests fix it through the library (`protocol::RunOptions`), never through
//! the environment, which the binary does not read for it. Also owns the ad
//! account's time zone as TikTok states it (`Etc/GMT+8` style offsets), since which day is
//! complete depends on it.

use chrono::{DateTime, Days, FixedOffset, NaiveDate, Offset, Utc};

/// Where the time comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Clock {
    /// The system clock.
    #[default]
    System,
    /// Always this instant.
    Fixed(DateTime<Utc>),
}

/// The westernmost offset in use (UTC-12): when an account's zone is unknown, its day is
/// assumed to end no earlier than there, so a day is never taken as complete too soon.
const WESTERNMOST_OFFSET_SECONDS: i32 = -12 * 3600;

impl Clock {
    pub fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Fixed(at) => *at,
        }
    }

    /// Today in UTC.
    pub fn today_utc(&self) -> NaiveDate {
        self.now().date_naive()
    }

    /// Today in a time zone (`None` = unknown).
    pub fn today_at(&self, offset: Option<FixedOffset>) -> NaiveDate {
        let offset = offset.unwrap_or_else(westernmost);
        self.now().with_timezone(&offset).date_naive()
    }

    /// The last day that is over in a time zone (`None` = unknown: the westernmost zone, so
    /// that no zone's day in progress is taken as complete).
    pub fn last_complete_day(&self, offset: Option<FixedOffset>) -> NaiveDate {
        let today = self.today_at(offset);
        today.checked_sub_days(Days::new(1)).unwrap_or(today)
    }
}

fn westernmost() -> FixedOffset {
    FixedOffset::east_opt(WESTERNMOST_OFFSET_SECONDS).unwrap_or(utc())
}

fn utc() -> FixedOffset {
    Utc.fix()
}

/// The UTC offset of an ad account's `timezone` as `advertiser/info/` gives it: `Etc/GMT+8` is
/// eight hours *west* of UTC (the POSIX sign convention TikTok's values follow), `Etc/GMT-9`
/// nine hours east; `UTC`, `GMT`, `Etc/UTC` and `Etc/GMT` are UTC. Other names (IANA regions)
/// are `None`: the caller then assumes the westernmost zone.
pub fn utc_offset_of(timezone: &str) -> Option<FixedOffset> {
    let tz = timezone.trim();
    if matches!(
        tz,
        "UTC" | "GMT" | "Etc/UTC" | "Etc/GMT" | "Etc/UCT" | "Etc/Zulu"
    ) {
        return Some(utc());
    }
    let rest = tz.strip_prefix("Etc/GMT")?;
    let (sign, hours) = match rest.split_at_checked(1)? {
        ("+", h) => (-1, h),
        ("-", h) => (1, h),
        _ => return None,
    };
    let hours: i32 = hours.parse().ok()?;
    if !(0..=14).contains(&hours) {
        return None;
    }
    FixedOffset::east_opt(sign * hours * 3600)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Clock {
        Clock::Fixed(
            DateTime::parse_from_rfc3339(text)
                .unwrap()
                .with_timezone(&Utc),
        )
    }

    fn day(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn etc_gmt_offsets_follow_the_posix_sign() {
        assert_eq!(utc_offset_of("Etc/GMT+8"), FixedOffset::west_opt(8 * 3600));
        assert_eq!(utc_offset_of("Etc/GMT-9"), FixedOffset::east_opt(9 * 3600));
        assert_eq!(utc_offset_of("Etc/GMT"), FixedOffset::east_opt(0));
        assert_eq!(utc_offset_of("America/Los_Angeles"), None);
        assert_eq!(utc_offset_of("Etc/GMT+99"), None);
        assert_eq!(utc_offset_of("Etc/GMT+"), None);
    }

    #[test]
    fn the_last_complete_day_depends_on_the_zone() {
        // 23:30 UTC on June 30: already July 1 in Tokyo, still June 30 in Los Angeles.
        let clock = at("2024-06-30T23:30:00Z");
        let tokyo = utc_offset_of("Etc/GMT-9");
        let los_angeles = utc_offset_of("Etc/GMT+8");
        assert_eq!(clock.today_at(tokyo), day("2024-07-01"));
        assert_eq!(clock.last_complete_day(tokyo), day("2024-06-30"));
        assert_eq!(clock.today_at(los_angeles), day("2024-06-30"));
        assert_eq!(clock.last_complete_day(los_angeles), day("2024-06-29"));
        // 03:00 UTC on July 1: June 30 is over in Tokyo and London, not yet in Los Angeles.
        let clock = at("2024-07-01T03:00:00Z");
        assert_eq!(clock.last_complete_day(tokyo), day("2024-06-30"));
        assert_eq!(
            clock.last_complete_day(utc_offset_of("UTC")),
            day("2024-06-30")
        );
        assert_eq!(clock.last_complete_day(los_angeles), day("2024-06-29"));
        // Unknown zone: as far west as zones go.
        assert_eq!(clock.last_complete_day(None), day("2024-06-29"));
    }
}
