//! The one clock of the connector: every "now" and "today" of a run comes from here, so that a
//! test can set the time (a fixed instant) and cross a day boundary on purpose. Production reads
//! the system clock; tests fix it through the library (`protocol::RunOptions`), never through
//! the environment, which the binary does not read for it. Also owns the ad account's time zone
//! as TikTok states it (an IANA name such as `Europe/Moscow` or `America/Los_Angeles`, or an
//! `Etc/GMT+8` style offset), since which day is complete depends on it: every day boundary of a
//! capture (report cursors, the last complete day, totals ranges) is taken in that zone, daylight
//! saving included, through the tz database of chrono-tz.

use chrono::{DateTime, Days, FixedOffset, NaiveDate, Offset, Utc};
use chrono_tz::Tz;

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
    pub(crate) fn now(&self) -> DateTime<Utc> {
        match self {
            Clock::System => Utc::now(),
            Clock::Fixed(at) => *at,
        }
    }

    /// Today in UTC.
    pub(crate) fn today_utc(&self) -> NaiveDate {
        self.now().date_naive()
    }

    /// Today in an ad account's time zone (`None` = unknown: the westernmost offset).
    pub(crate) fn today_at(&self, zone: Option<Tz>) -> NaiveDate {
        let now = self.now();
        match zone {
            Some(zone) => now.with_timezone(&zone).date_naive(),
            None => now.with_timezone(&westernmost()).date_naive(),
        }
    }

    /// The last day that is over in a time zone (`None` = unknown: the westernmost zone, so
    /// that no zone's day in progress is taken as complete).
    pub(crate) fn last_complete_day(&self, zone: Option<Tz>) -> NaiveDate {
        let today = self.today_at(zone);
        today.checked_sub_days(Days::new(1)).unwrap_or(today)
    }
}

fn westernmost() -> FixedOffset {
    FixedOffset::east_opt(WESTERNMOST_OFFSET_SECONDS).unwrap_or(Utc.fix())
}

/// The time zone of an ad account's `timezone` as `advertiser/info/` gives it: an IANA name
/// (`Europe/Moscow`, `America/Los_Angeles`: their offset on each day, daylight saving
/// included), an `Etc/GMT+8` style offset (eight hours *west* of UTC: the POSIX sign convention
/// TikTok's values follow), or `UTC`, `GMT`, `Etc/UTC`, `Etc/GMT`. A name the tz database does
/// not know is `None`: the caller then assumes the westernmost zone and says so.
pub(crate) fn zone_of(timezone: &str) -> Option<Tz> {
    timezone.trim().parse::<Tz>().ok()
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

    /// The account's offset from UTC at `instant` (seconds east).
    fn offset_at(zone: Option<Tz>, instant: &str) -> i32 {
        let now = at(instant).now();
        chrono::TimeZone::offset_from_utc_datetime(&zone.unwrap(), &now.naive_utc())
            .fix()
            .local_minus_utc()
    }

    #[test]
    fn etc_gmt_offsets_follow_the_posix_sign() {
        let noon = "2024-06-30T12:00:00Z";
        assert_eq!(offset_at(zone_of("Etc/GMT+8"), noon), -8 * 3600);
        assert_eq!(offset_at(zone_of("Etc/GMT-9"), noon), 9 * 3600);
        assert_eq!(offset_at(zone_of("Etc/GMT"), noon), 0);
        assert_eq!(offset_at(zone_of(" UTC "), noon), 0);
        assert_eq!(zone_of("Etc/GMT+99"), None);
        assert_eq!(zone_of("Etc/GMT+"), None);
        assert_eq!(zone_of("Mars/Olympus_Mons"), None);
        assert_eq!(zone_of(""), None);
    }

    #[test]
    fn iana_zones_are_known_with_their_offset_on_each_day() {
        // The zones of real ad accounts in a public recording of TikTok answers.
        assert_eq!(
            offset_at(zone_of("Europe/Moscow"), "2024-06-30T12:00:00Z"),
            3 * 3600
        );
        assert_eq!(
            offset_at(zone_of("Europe/Istanbul"), "2024-01-15T12:00:00Z"),
            3 * 3600
        );
        let los_angeles = zone_of("America/Los_Angeles");
        assert_eq!(offset_at(los_angeles, "2024-01-15T12:00:00Z"), -8 * 3600);
        assert_eq!(offset_at(los_angeles, "2024-06-30T12:00:00Z"), -7 * 3600);
    }

    #[test]
    fn the_last_complete_day_depends_on_the_zone() {
        // 23:30 UTC on June 30: already July 1 in Tokyo, still June 30 in Los Angeles.
        let clock = at("2024-06-30T23:30:00Z");
        let tokyo = zone_of("Etc/GMT-9");
        let los_angeles = zone_of("Etc/GMT+8");
        assert_eq!(clock.today_at(tokyo), day("2024-07-01"));
        assert_eq!(clock.last_complete_day(tokyo), day("2024-06-30"));
        assert_eq!(clock.today_at(los_angeles), day("2024-06-30"));
        assert_eq!(clock.last_complete_day(los_angeles), day("2024-06-29"));
        // 03:00 UTC on July 1: June 30 is over in Tokyo and London, not yet in Los Angeles.
        let clock = at("2024-07-01T03:00:00Z");
        assert_eq!(clock.last_complete_day(tokyo), day("2024-06-30"));
        assert_eq!(clock.last_complete_day(zone_of("UTC")), day("2024-06-30"));
        assert_eq!(clock.last_complete_day(los_angeles), day("2024-06-29"));
        // Unknown zone: as far west as zones go.
        assert_eq!(clock.last_complete_day(None), day("2024-06-29"));
    }

    #[test]
    fn a_moscow_day_is_over_at_21_00_utc() {
        // Moscow is UTC+3 all year: at 21:30 UTC on March 31 it is 00:30 on April 1 there, so
        // March 31 is complete. The westernmost fallback (UTC-12) would still be on March 31.
        let clock = at("2024-03-31T21:30:00Z");
        let moscow = zone_of("Europe/Moscow");
        assert_eq!(clock.today_at(moscow), day("2024-04-01"));
        assert_eq!(clock.last_complete_day(moscow), day("2024-03-31"));
        assert_eq!(clock.last_complete_day(None), day("2024-03-30"));
        // One hour earlier it is 23:30 on March 31 in Moscow: the day is still in progress.
        let clock = at("2024-03-31T20:30:00Z");
        assert_eq!(clock.last_complete_day(moscow), day("2024-03-30"));
    }

    #[test]
    fn los_angeles_days_follow_daylight_saving_time() {
        let los_angeles = zone_of("America/Los_Angeles");
        // Clocks go forward on March 10, 2024 (PST, UTC-8, to PDT, UTC-7). At 07:30 UTC on
        // March 11 it is 00:30 PDT on March 11: March 10 is over. A fixed UTC-8 would say 23:30
        // on March 10.
        let clock = at("2024-03-11T07:30:00Z");
        assert_eq!(clock.today_at(los_angeles), day("2024-03-11"));
        assert_eq!(clock.last_complete_day(los_angeles), day("2024-03-10"));
        assert_eq!(
            clock.last_complete_day(zone_of("Etc/GMT+8")),
            day("2024-03-09")
        );
        // The day of the change itself has 23 hours: at 07:30 UTC on March 10 it is 23:30 PST
        // on March 9 (the change comes at 02:00 local), at 08:30 UTC 00:30 PST on March 10.
        assert_eq!(
            at("2024-03-10T07:30:00Z").today_at(los_angeles),
            day("2024-03-09")
        );
        assert_eq!(
            at("2024-03-10T08:30:00Z").today_at(los_angeles),
            day("2024-03-10")
        );
        // Clocks go back on November 3, 2024 (PDT to PST). At 07:30 UTC on November 4 it is
        // 23:30 PST on November 3: still in progress. A fixed UTC-7 would say 00:30 November 4.
        let clock = at("2024-11-04T07:30:00Z");
        assert_eq!(clock.today_at(los_angeles), day("2024-11-03"));
        assert_eq!(clock.last_complete_day(los_angeles), day("2024-11-02"));
        assert_eq!(
            clock.last_complete_day(zone_of("Etc/GMT+7")),
            day("2024-11-03")
        );
        // The day of the change has 25 hours: 06:30 UTC on November 3 is 23:30 PDT on
        // November 2, 07:30 UTC is 00:30 PDT on November 3.
        assert_eq!(
            at("2024-11-03T06:30:00Z").today_at(los_angeles),
            day("2024-11-02")
        );
        assert_eq!(
            at("2024-11-03T07:30:00Z").today_at(los_angeles),
            day("2024-11-03")
        );
    }
}
