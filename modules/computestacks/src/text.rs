//! Text the controller sends that needs reading with care: times (RFC 3339 with any
//! offset) and decimals (ASSUMPTION: Rails renders `BigDecimal` as a string and computed
//! figures as JSON numbers; both are read, never through `f64`). No date or decimal
//! crate: the module only compares dates and passes money on as the controller wrote it.

use provisor_module_api::serde_json::Value;

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Parses `YYYY-MM-DD` (midnight UTC) or RFC 3339 (`Z` or `±HH:MM`; a space instead of
/// `T` and fractions of a second are accepted) into Unix seconds.
pub fn parse_time(text: &str) -> Option<i64> {
    let t = text.trim();
    let num = |s: &str| -> Option<i64> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    let (y, m, d) = (num(t.get(0..4)?)?, num(t.get(5..7)?)?, num(t.get(8..10)?)?);
    if t.get(4..5)? != "-"
        || t.get(7..8)? != "-"
        || !(1..=12).contains(&m)
        || !(1..=31).contains(&d)
    {
        return None;
    }
    let day = days_from_civil(y, m as u32, d as u32) * 86_400;
    if t.len() == 10 {
        return Some(day);
    }
    if !matches!(t.get(10..11)?, "T" | "t" | " ") || t.get(13..14)? != ":" || t.get(16..17)? != ":"
    {
        return None;
    }
    let (h, mi, s) = (
        num(t.get(11..13)?)?,
        num(t.get(14..16)?)?,
        num(t.get(17..19)?)?,
    );
    if h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = t.get(19..)?;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ => {
            let sign = match rest.get(0..1)? {
                "+" => 1,
                "-" => -1,
                _ => return None,
            };
            if rest.len() != 6 || rest.get(3..4)? != ":" {
                return None;
            }
            sign * (num(rest.get(1..3)?)? * 3600 + num(rest.get(4..6)?)? * 60)
        }
    };
    Some(day + h * 3600 + mi * 60 + s - offset)
}

/// Unix seconds as RFC 3339 UTC (`2026-11-30T23:00:00Z`).
pub fn format_time(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let s = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Unix seconds as the UTC date (`2026-11-30`) at midnight, else as RFC 3339 without
/// seconds (`2026-11-30T23:00Z`): for one-line descriptions.
pub fn short_time(secs: i64) -> String {
    let full = format_time(secs);
    if secs.rem_euclid(86_400) == 0 {
        full[..10].to_string()
    } else {
        format!("{}Z", &full[..16])
    }
}

/// A decimal the controller sent (a JSON string or number) as canonical decimal text
/// (`"12.5"`, `"-0.001"`), without exponent; `None` for anything else.
pub fn decimal(value: &Value) -> Option<String> {
    let raw = match value {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => n.to_string(),
        _ => return None,
    };
    normalise(&raw)
}

/// Canonical decimal text of `-?digits(.digits)?([eE][+-]?digits)?`.
fn normalise(raw: &str) -> Option<String> {
    let (neg, body) = match raw.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, raw.strip_prefix('+').unwrap_or(raw)),
    };
    let (mantissa, exp) = match body.find(['e', 'E']) {
        Some(i) => (&body[..i], body[i + 1..].parse::<i32>().ok()?),
        None => (body, 0),
    };
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
        || exp.unsigned_abs() > 64
    {
        return None;
    }
    // All digits, and where the point goes after applying the exponent.
    let digits = format!("{int}{frac}");
    let point = int.len() as i64 + i64::from(exp);
    let (int_part, frac_part) = if point <= 0 {
        (
            "0".to_string(),
            format!("{}{digits}", "0".repeat(point.unsigned_abs() as usize)),
        )
    } else if point as usize >= digits.len() {
        (
            format!("{digits}{}", "0".repeat(point as usize - digits.len())),
            String::new(),
        )
    } else {
        (
            digits[..point as usize].to_string(),
            digits[point as usize..].to_string(),
        )
    };
    let int_part = int_part.trim_start_matches('0');
    let int_part = if int_part.is_empty() { "0" } else { int_part };
    let frac_part = frac_part.trim_end_matches('0');
    let text = if frac_part.is_empty() {
        int_part.to_string()
    } else {
        format!("{int_part}.{frac_part}")
    };
    Some(if neg && text != "0" {
        format!("-{text}")
    } else {
        text
    })
}

/// Decimal text rounded half away from zero to two places, for display (`"12.50"`).
pub fn money(text: &str) -> String {
    let (neg, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let mut cents: Vec<u8> = format!("{int}{:0<2}", &frac[..frac.len().min(2)])
        .bytes()
        .map(|b| b - b'0')
        .collect();
    if frac.as_bytes().get(2).is_some_and(|&b| b >= b'5') {
        let mut i = cents.len();
        loop {
            if i == 0 {
                cents.insert(0, 1);
                break;
            }
            i -= 1;
            if cents[i] == 9 {
                cents[i] = 0;
            } else {
                cents[i] += 1;
                break;
            }
        }
    }
    let digits: String = cents.iter().map(|d| char::from(b'0' + d)).collect();
    let (i, f) = digits.split_at(digits.len() - 2);
    let i = i.trim_start_matches('0');
    let i = if i.is_empty() { "0" } else { i };
    let out = format!("{i}.{f}");
    if neg && out != "0.00" {
        format!("-{out}")
    } else {
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provisor_module_api::serde_json::json;

    #[test]
    fn times_in_any_offset_become_utc() {
        let t = parse_time("2026-11-30T23:00:00Z").unwrap();
        assert_eq!(format_time(t), "2026-11-30T23:00:00Z");
        assert_eq!(parse_time("2026-12-01T01:00:00.000+02:00"), Some(t));
        assert_eq!(parse_time("2026-11-30 18:00:00-05:00"), Some(t));
        assert_eq!(parse_time("2026-11-30"), Some(t - 23 * 3600));
        assert_eq!(short_time(t), "2026-11-30T23:00Z");
        assert_eq!(short_time(t - 23 * 3600), "2026-11-30");
        for bad in [
            "",
            "yesterday",
            "2026-13-01",
            "2026-11-30T25:00:00Z",
            "2026-11-30T10:00:00",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
        assert_eq!(format_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(short_time(parse_time("2024-02-29").unwrap()), "2024-02-29");
    }

    #[test]
    fn decimals_from_strings_and_numbers() {
        for (v, want) in [
            (json!("12.50"), Some("12.5")),
            (json!("0.0125"), Some("0.0125")),
            (json!(3.84), Some("3.84")),
            (json!(7), Some("7")),
            (json!(1e-5), Some("0.00001")),
            (json!("1.5E3"), Some("1500")),
            (json!("-0.000"), Some("0")),
            (json!("-2.10"), Some("-2.1")),
            (json!(".5"), Some("0.5")),
            (json!("abc"), None),
            (json!("1.2.3"), None),
            (json!(null), None),
            (json!(true), None),
        ] {
            assert_eq!(decimal(&v).as_deref(), want, "{v}");
        }
    }

    #[test]
    fn money_rounds_half_away_from_zero() {
        for (text, want) in [
            ("12.5", "12.50"),
            ("0.005", "0.01"),
            ("0.004", "0.00"),
            ("9.995", "10.00"),
            ("99.999", "100.00"),
            ("7", "7.00"),
            ("-1.235", "-1.24"),
            ("-0.001", "0.00"),
        ] {
            assert_eq!(money(text), want, "{text}");
        }
    }
}
