//! The billing time zone and the month arithmetic of usage billing.

use chrono::{DateTime, Datelike, FixedOffset, Months, NaiveDate, NaiveDateTime, TimeZone, Utc};

use provisor_store::error::{Error, Result};

/// The billing time zone (`PROVISOR_BILLING_TZ`): `UTC` (default), a fixed offset such
/// as `+02:00`, `-0530` or `UTC+1`, or an IANA name such as `Europe/Berlin`, whose
/// daylight-saving rules are built in (chrono-tz).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BillingZone {
    /// A fixed offset from UTC (`UTC` itself is +00:00).
    Fixed(FixedOffset),
    /// An IANA zone, with its daylight-saving rules.
    Named(chrono_tz::Tz),
}

impl BillingZone {
    /// UTC, the default zone.
    pub fn utc() -> BillingZone {
        BillingZone::Fixed(FixedOffset::east_opt(0).expect("a zero offset is in range"))
    }

    /// Parses a billing time zone (see [`BillingZone`]).
    pub fn parse(raw: &str) -> Result<BillingZone> {
        let t = raw.trim();
        let bad = || {
            Error::Invalid(format!(
                "PROVISOR_BILLING_TZ={raw:?} is not a time zone: give UTC, a fixed offset such as +01:00 or -05:30, or an IANA name such as Europe/Berlin"
            ))
        };
        let rest = t
            .strip_prefix("UTC")
            .or_else(|| t.strip_prefix("utc"))
            .unwrap_or(t);
        if rest.is_empty() || rest == "Z" {
            return Ok(BillingZone::utc());
        }
        if rest.starts_with(['+', '-']) {
            return parse_offset(rest).map(BillingZone::Fixed).ok_or_else(bad);
        }
        t.parse::<chrono_tz::Tz>()
            .map(BillingZone::Named)
            .map_err(|_| bad())
    }

    /// The instant a wall-clock time happens in this zone. Where clocks go back and the
    /// time happens twice, the first; where they go forward past it, the moment they
    /// land (02:30 on a spring-forward night in Berlin is 03:00 CEST).
    pub fn instant(&self, local: NaiveDateTime) -> DateTime<Utc> {
        match self {
            BillingZone::Fixed(o) => first_instant(o, local),
            BillingZone::Named(z) => first_instant(z, local),
        }
    }

    /// The calendar day an instant falls on in this zone.
    pub fn date_of(&self, t: DateTime<Utc>) -> NaiveDate {
        self.local(t).date()
    }

    /// The wall-clock time of an instant in this zone.
    pub fn local(&self, t: DateTime<Utc>) -> NaiveDateTime {
        match self {
            BillingZone::Fixed(o) => t.with_timezone(o).naive_local(),
            BillingZone::Named(z) => t.with_timezone(z).naive_local(),
        }
    }

    /// When month-end collection happens on `date` (the last day of a month): 23:00
    /// there.
    pub fn month_end_cutoff(&self, date: NaiveDate) -> DateTime<Utc> {
        self.instant(date.and_hms_opt(23, 0, 0).expect("23:00"))
    }
}

fn first_instant<Z: TimeZone>(zone: &Z, local: NaiveDateTime) -> DateTime<Utc> {
    // A gap is at most a few hours long: step to its end a minute at a time.
    for minutes in 0..=24 * 60 {
        if let Some(t) = zone
            .from_local_datetime(&(local + chrono::Duration::minutes(minutes)))
            .earliest()
        {
            return t.with_timezone(&Utc);
        }
    }
    Utc.from_utc_datetime(&local)
}

/// Parses a fixed offset: `+02:00`, `-0530`, `+1`.
fn parse_offset(t: &str) -> Option<FixedOffset> {
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => return None,
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) || !matches!(digits.len(), 1 | 2 | 4) {
        return None;
    }
    let (h, m) = if digits.len() == 4 {
        (&digits[..2], &digits[2..])
    } else {
        (&digits[..], "0")
    };
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    if h > 14 || m > 59 {
        return None;
    }
    FixedOffset::east_opt(sign * (h * 3600 + m * 60))
}

/// The first day of `d`'s month.
pub fn month_start(d: NaiveDate) -> NaiveDate {
    d.with_day(1).expect("day 1 exists")
}

/// The first day of the month after `d`'s.
pub fn next_month(d: NaiveDate) -> NaiveDate {
    month_start(d) + Months::new(1)
}

/// The first day of the month before `d`'s.
pub fn prev_month(d: NaiveDate) -> NaiveDate {
    month_start(d) - Months::new(1)
}

/// Whether `d` is the last day of its month.
pub fn is_last_day(d: NaiveDate) -> bool {
    next_month(d).pred_opt() == Some(d)
}

pub(super) fn month_name(d: NaiveDate) -> String {
    d.format("%Y-%m").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn month_boundaries() {
        assert!(!is_last_day(d("2026-01-30")));
        assert!(is_last_day(d("2026-01-31")));
        assert!(is_last_day(d("2024-02-29")));
        assert!(!is_last_day(d("2024-02-28")));
        assert!(is_last_day(d("2025-02-28")));
        assert_eq!(prev_month(d("2026-03-01")), d("2026-02-01"));
        assert_eq!(next_month(d("2024-01-31")), d("2024-02-01"));
    }

    #[test]
    fn zones() {
        let off = |raw: &str| match BillingZone::parse(raw).unwrap() {
            BillingZone::Fixed(o) => o.local_minus_utc(),
            z @ BillingZone::Named(_) => panic!("{raw} parsed as {z:?}"),
        };
        assert_eq!(off(""), 0);
        assert_eq!(off("UTC"), 0);
        assert_eq!(off("+02:00"), 7200);
        assert_eq!(off("-0530"), -19800);
        assert_eq!(off("UTC+1"), 3600);
        assert!(matches!(
            BillingZone::parse("Europe/Berlin"),
            Ok(BillingZone::Named(chrono_tz::Tz::Europe__Berlin))
        ));
        for bad in ["+25:00", "Europe/Berln", "CEST+", "12"] {
            let e = BillingZone::parse(bad).unwrap_err().to_string();
            assert!(e.contains("Europe/Berlin") && e.contains("+01:00"), "{e}");
        }
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn month_end_cutoff_follows_daylight_saving() {
        let berlin = BillingZone::parse("Europe/Berlin").unwrap();
        let at = |day: &str, h: u32, m: u32| berlin.instant(d(day).and_hms_opt(h, m, 0).unwrap());
        // 23:00 on the last day: CET (+01:00) in January, CEST (+02:00) in March.
        assert_eq!(at("2026-01-31", 23, 0), utc("2026-01-31T22:00:00Z"));
        assert_eq!(at("2026-03-31", 23, 0), utc("2026-03-31T21:00:00Z"));
        assert_eq!(at("2026-10-31", 23, 0), utc("2026-10-31T22:00:00Z"));
        // Clocks go forward at 02:00 on 2026-03-29: 02:30 lands at 03:00 CEST.
        assert_eq!(at("2026-03-29", 2, 30), utc("2026-03-29T01:00:00Z"));
        // Clocks go back at 03:00 on 2026-10-25: 02:30 happens twice, the first counts.
        assert_eq!(at("2026-10-25", 2, 30), utc("2026-10-25T00:30:00Z"));
        // The day an instant falls on, around midnight.
        assert_eq!(berlin.date_of(utc("2026-01-31T23:30:00Z")), d("2026-02-01"));
        assert_eq!(berlin.date_of(utc("2026-07-31T21:59:00Z")), d("2026-07-31"));
        assert_eq!(berlin.date_of(utc("2026-07-31T22:00:00Z")), d("2026-08-01"));
    }
}
