//! The one place that reads the system clock. Everything else takes `now`
//! as a parameter or asks a [`Clock`], so tests can fix the time.

use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;

pub trait Clock: Send + Sync {
    fn now(&self) -> DateTime<Utc>;
}

/// The real clock.
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // INVARIANT: the one sanctioned clock read.
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// Seconds since this process first asked: for liveness (the mailer's
/// heartbeat, the scheduler's lag), which must follow real time even when
/// a test stops the clinical clock.
pub fn uptime_secs() -> i64 {
    static START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let start = START.get_or_init(std::time::Instant::now);
    i64::try_from(start.elapsed().as_secs()).unwrap_or(i64::MAX)
}

/// A clock stopped at one instant, for tests.
pub struct FixedClock(pub DateTime<Utc>);

impl Clock for FixedClock {
    fn now(&self) -> DateTime<Utc> {
        self.0
    }
}

/// A clock that stands still until it is moved, for tests of what time
/// changes (session expiry, schedules).
pub struct ManualClock(std::sync::Mutex<DateTime<Utc>>);

impl ManualClock {
    pub fn new(t: DateTime<Utc>) -> ManualClock {
        ManualClock(std::sync::Mutex::new(t))
    }

    /// Moves the clock forward by `d`.
    pub fn advance(&self, d: chrono::Duration) {
        if let Ok(mut t) = self.0.lock() {
            *t += d;
        }
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        match self.0.lock() {
            Ok(t) => *t,
            Err(poisoned) => *poisoned.into_inner(),
        }
    }
}

/// The calendar date of `t` in a clinic's time zone (Europe/Copenhagen when
/// the zone is unknown).
pub fn local_date(t: DateTime<Utc>, zone: &str) -> NaiveDate {
    let tz: Tz = zone.parse().unwrap_or(chrono_tz::Europe::Copenhagen);
    t.with_timezone(&tz).date_naive()
}

/// When an item opened at `opened` must have been dealt with: the end of
/// the clinic's day `working_days` working days (Monday to Friday) after
/// the day it opened, in the clinic's time zone. Zero is the same day,
/// whatever the day; from one on, a weekend's item has the Monday as its
/// first working day.
pub fn due_by(opened: DateTime<Utc>, zone: &str, working_days: u32) -> DateTime<Utc> {
    use chrono::{Datelike, Duration, TimeZone, Weekday};
    let tz: Tz = zone.parse().unwrap_or(chrono_tz::Europe::Copenhagen);
    let weekend = |d: NaiveDate| matches!(d.weekday(), Weekday::Sat | Weekday::Sun);
    let mut day = opened.with_timezone(&tz).date_naive();
    let mut left = working_days;
    if left > 0 && weekend(day) {
        while weekend(day) {
            day += Duration::days(1);
        }
        left -= 1;
    }
    while left > 0 {
        day += Duration::days(1);
        if !weekend(day) {
            left -= 1;
        }
    }
    // The first instant of the next local day (the earliest, around a
    // change of clocks).
    let next = (day + Duration::days(1))
        .and_hms_opt(0, 0, 0)
        .unwrap_or_default();
    match tz.from_local_datetime(&next).earliest() {
        Some(t) => t.with_timezone(&Utc),
        None => Utc.from_utc_datetime(&next),
    }
}

/// The instant before which an item opened is overdue at `now` (its
/// `due_by` has passed): the start of the latest clinic day whose items are
/// due by now. Items opened at or after it are not overdue.
pub fn overdue_before(now: DateTime<Utc>, zone: &str, working_days: u32) -> DateTime<Utc> {
    use chrono::{Duration, TimeZone};
    let tz: Tz = zone.parse().unwrap_or(chrono_tz::Europe::Copenhagen);
    let start = |d: NaiveDate| {
        let t = d.and_hms_opt(0, 0, 0).unwrap_or_default();
        match tz.from_local_datetime(&t).earliest() {
            Some(x) => x.with_timezone(&Utc),
            None => Utc.from_utc_datetime(&t),
        }
    };
    let mut day = now.with_timezone(&tz).date_naive();
    // `due_by` depends only on the day opened and grows with it: walk back
    // to the newest day already due (a few weeks at the most).
    for _ in 0..120 {
        if due_by(start(day), zone, working_days) <= now {
            return start(day + Duration::days(1));
        }
        day -= Duration::days(1);
    }
    start(day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_is_due_by_the_end_of_the_clinics_day_counting_working_days() {
        let due = |at: &str, days| {
            due_by(at.parse().expect("time"), "Europe/Copenhagen", days).to_rfc3339()
        };
        // Wednesday 2026-03-04, 10:00 local.
        assert_eq!(due("2026-03-04T09:00:00Z", 0), "2026-03-04T23:00:00+00:00");
        assert_eq!(due("2026-03-04T09:00:00Z", 1), "2026-03-05T23:00:00+00:00");
        // Late Friday evening local is still Friday: one working day is Monday.
        assert_eq!(due("2026-03-06T22:30:00Z", 1), "2026-03-09T23:00:00+00:00");
        // A red item on Saturday is due that Saturday.
        assert_eq!(due("2026-03-07T09:00:00Z", 0), "2026-03-07T23:00:00+00:00");
        // A yellow one on Saturday is due by the end of Monday.
        assert_eq!(due("2026-03-07T09:00:00Z", 1), "2026-03-09T23:00:00+00:00");
        assert_eq!(due("2026-03-07T09:00:00Z", 2), "2026-03-10T23:00:00+00:00");
        // What is overdue at a moment: items opened before the instant.
        let before = |now: &str, days| {
            overdue_before(now.parse().expect("time"), "Europe/Copenhagen", days).to_rfc3339()
        };
        // Thursday noon: red (same day) items from before today are late;
        // yellow (one working day) items from before yesterday.
        assert_eq!(
            before("2026-03-05T11:00:00Z", 0),
            "2026-03-04T23:00:00+00:00"
        );
        assert_eq!(
            before("2026-03-05T11:00:00Z", 1),
            "2026-03-03T23:00:00+00:00"
        );
        // Monday noon: a yellow from Friday is due tonight; one from
        // Thursday is late, and the weekend's are not.
        assert_eq!(
            before("2026-03-09T11:00:00Z", 1),
            "2026-03-05T23:00:00+00:00"
        );
        // Tuesday noon: the weekend's (due Monday) are late too.
        assert_eq!(
            before("2026-03-10T11:00:00Z", 1),
            "2026-03-08T23:00:00+00:00"
        );
        // Summer time: the local day ends at 22:00 UTC.
        assert_eq!(due("2026-07-01T09:00:00Z", 0), "2026-07-01T22:00:00+00:00");
    }

    #[test]
    fn a_late_evening_in_copenhagen_is_still_that_day() {
        let t: DateTime<Utc> = "2026-06-30T22:30:00Z".parse().expect("time");
        assert_eq!(local_date(t, "Europe/Copenhagen").to_string(), "2026-07-01");
        assert_eq!(local_date(t, "UTC").to_string(), "2026-06-30");
    }
}
