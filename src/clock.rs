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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_late_evening_in_copenhagen_is_still_that_day() {
        let t: DateTime<Utc> = "2026-06-30T22:30:00Z".parse().expect("time");
        assert_eq!(local_date(t, "Europe/Copenhagen").to_string(), "2026-07-01");
        assert_eq!(local_date(t, "UTC").to_string(), "2026-06-30");
    }
}
