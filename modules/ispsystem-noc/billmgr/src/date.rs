//! Calendar dates (`YYYY-MM-DD`, UTC) and the month arithmetic licenses need: expiry
//! minus a day, a month past expiry, a start date plus a lifetime.

use std::fmt;

/// A valid calendar date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Date {
    year: i32,
    month: u32,
    day: u32,
}

impl Date {
    /// Parses `YYYY-MM-DD` (a longer text such as an RFC 3339 time or
    /// `2026-01-31 10:00:00` is read by its first ten characters).
    pub fn parse(text: &str) -> Option<Date> {
        let head = text.trim().get(..10)?;
        let b = head.as_bytes();
        if b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let year: i32 = head[..4].parse().ok()?;
        let month: u32 = head[5..7].parse().ok()?;
        let day: u32 = head[8..10].parse().ok()?;
        if !(1..=12).contains(&month) || day == 0 || day > days_in_month(year, month) {
            return None;
        }
        Some(Date { year, month, day })
    }

    /// This date plus `months` (negative: minus), the day clamped to the month's last
    /// (`2026-01-31` plus one month is `2026-02-28`).
    #[must_use]
    pub fn add_months(self, months: i32) -> Date {
        let total = self.year * 12 + self.month as i32 - 1 + months;
        let year = total.div_euclid(12);
        let month = total.rem_euclid(12) as u32 + 1;
        Date {
            year,
            month,
            day: self.day.min(days_in_month(year, month)),
        }
    }

    /// This date plus `days` (negative: minus).
    #[must_use]
    pub fn add_days(self, days: i64) -> Date {
        Date::from_days(self.days() + days)
    }

    /// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
    fn days(self) -> i64 {
        let y = i64::from(self.year) - i64::from(self.month <= 2);
        let era = y.div_euclid(400);
        let yoe = y - era * 400;
        let m = i64::from(self.month);
        let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(self.day) - 1;
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        era * 146_097 + doe - 719_468
    }

    fn from_days(days: i64) -> Date {
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z - era * 146_097;
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
        let year = (yoe + era * 400 + i64::from(month <= 2)) as i32;
        Date { year, month, day }
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

fn days_in_month(year: i32, month: u32) -> u32 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        _ => 28,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> Date {
        Date::parse(text).unwrap()
    }

    #[test]
    fn parsing_refuses_what_is_not_a_date() {
        assert_eq!(d("2026-02-28").to_string(), "2026-02-28");
        assert_eq!(d("2026-11-21T23:00:00Z").to_string(), "2026-11-21");
        for bad in [
            "",
            "2026-02-29",
            "2026-13-01",
            "2026/01/01",
            "26-01-01",
            "2026-1-1",
        ] {
            assert!(Date::parse(bad).is_none(), "{bad}");
        }
        assert!(Date::parse("2024-02-29").is_some());
    }

    #[test]
    fn months_clamp_and_days_cross_boundaries() {
        assert_eq!(d("2026-01-31").add_months(1), d("2026-02-28"));
        assert_eq!(d("2026-12-15").add_months(1), d("2027-01-15"));
        assert_eq!(d("2026-03-31").add_months(-1), d("2026-02-28"));
        assert_eq!(d("2026-05-10").add_months(12), d("2027-05-10"));
        assert_eq!(d("2026-03-01").add_days(-1), d("2026-02-28"));
        assert_eq!(d("2024-03-01").add_days(-1), d("2024-02-29"));
        assert_eq!(d("2026-12-31").add_days(1), d("2027-01-01"));
        assert_eq!(d("1970-01-01").add_days(0), d("1970-01-01"));
        assert!(d("2026-01-31") < d("2026-02-01"));
    }
}
