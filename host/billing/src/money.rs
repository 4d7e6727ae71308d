//! Money: exact decimal amounts, each currency's minor units and rounding rule,
//! conversions through the default currency, invoice line arithmetic, and the
//! canonical text every amount is stored as.
//!
//! Nothing here touches the database or uses a float. Amounts are `rust_decimal`
//! values; what is stored is `Currency::text` (`12.10`: exactly the currency's minor
//! units, no exponent, no sign on zero), read back with [`from_db`].

use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::Serialize;

use provisor_store::error::{Error, Name, Result};

/// The most digits after the point a currency may have.
pub const MAX_MINOR_UNITS: u32 = 4;
/// The most digits before the point an amount typed in may have (below 10^12).
pub const MAX_INTEGER_DIGITS: usize = 12;

/// How a currency rounds an amount to its minor units.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rounding {
    /// Halves away from zero: 0.125 → 0.13, −0.125 → −0.13 (commercial rounding).
    HalfUp,
    /// Halves to the even neighbour: 0.125 → 0.12, 0.135 → 0.14 (banker's rounding).
    HalfEven,
    /// Towards zero: 0.129 → 0.12 (truncation).
    Down,
}

impl Rounding {
    /// Parses `half-up`, `half-even` or `down`.
    pub fn parse(text: &str) -> Result<Rounding> {
        match text.trim().to_ascii_lowercase().replace('_', "-").as_str() {
            "half-up" => Ok(Rounding::HalfUp),
            "half-even" => Ok(Rounding::HalfEven),
            "down" => Ok(Rounding::Down),
            _ => Err(Error::Invalid(format!(
                "rounding {text:?} is not known: use half-up, half-even or down"
            ))),
        }
    }

    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Rounding::HalfUp => "half-up",
            Rounding::HalfEven => "half-even",
            Rounding::Down => "down",
        }
    }

    fn strategy(self) -> RoundingStrategy {
        match self {
            Rounding::HalfUp => RoundingStrategy::MidpointAwayFromZero,
            Rounding::HalfEven => RoundingStrategy::MidpointNearestEven,
            Rounding::Down => RoundingStrategy::ToZero,
        }
    }
}

/// A currency as billing uses it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Currency {
    /// ISO 4217 code.
    pub code: String,
    /// What amounts are printed with.
    pub symbol: String,
    /// Digits after the point.
    pub minor_units: u32,
    /// Units of this currency one unit of the default currency buys (1 for the default).
    pub rate: Decimal,
    /// How amounts are rounded to the minor units.
    pub rounding: Rounding,
    /// Whether it is the default currency.
    pub is_default: bool,
}

impl Currency {
    /// `amount` rounded to the minor units by this currency's rule, in canonical form.
    pub fn round(&self, amount: Decimal) -> Decimal {
        canonical(
            amount.round_dp_with_strategy(self.minor_units, self.rounding.strategy()),
            self.minor_units,
        )
    }

    /// The canonical text of an amount already rounded (`12.10`); what is stored.
    pub fn text(&self, amount: Decimal) -> String {
        self.round(amount).to_string()
    }

    /// For people: `€12.10`, `CHF 12.10`, `-€5.00`.
    pub fn format(&self, amount: Decimal) -> String {
        let a = self.round(amount);
        let sign = if a.is_sign_negative() { "-" } else { "" };
        let digits = a.abs().to_string();
        if self.symbol.chars().count() == 1 {
            format!("{sign}{}{digits}", self.symbol)
        } else {
            format!("{sign}{} {digits}", self.symbol)
        }
    }

    /// The smallest amount: 0.01 for two minor units.
    pub fn unit(&self) -> Decimal {
        Decimal::new(1, self.minor_units)
    }

    /// Parses an amount typed in this currency: a plain decimal with at most the
    /// currency's minor units (more would need rounding nobody asked for).
    /// `what` names the input in an error.
    pub fn parse_amount<'a>(&self, text: &str, what: impl Into<Name<'a>>) -> Result<Decimal> {
        let what = what.into();
        let value = parse_decimal(text, what)?;
        if value.normalize().scale() > self.minor_units {
            return Err(Error::invalid(what.message().text(format!(
                " {text:?} has more decimals than {} allows ({}): write it like {}",
                self.code,
                self.minor_units,
                self.text(Decimal::new(1234, 2)),
            ))));
        }
        Ok(canonical(value, self.minor_units))
    }
}

/// Sets the scale to `minor_units` (the value must already fit) and drops the sign of
/// zero, so equal amounts have equal text.
fn canonical(mut value: Decimal, minor_units: u32) -> Decimal {
    value.rescale(minor_units);
    if value.is_zero() {
        value.set_sign_positive(true);
    }
    value
}

/// Parses a plain decimal typed by a person: optional sign, digits, optional point and
/// digits. No exponent, no thousands separators, at most 12 digits before the point.
/// `what` names the input in an error.
pub fn parse_decimal<'a>(text: &str, what: impl Into<Name<'a>>) -> Result<Decimal> {
    let what = what.into();
    let refuse = |rest: String| Error::invalid(what.message().text(rest));
    let t = text.trim();
    let body = t.strip_prefix(['-', '+']).unwrap_or(t);
    let (int, frac) = match body.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (body, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let well_formed = digits(int) && frac.is_none_or(digits);
    if !well_formed {
        let hint = if body.contains(',') {
            " (use a point for decimals and no thousands separators)"
        } else {
            ""
        };
        return Err(refuse(format!(
            " {text:?} is not a number{hint}: write it like 12.50"
        )));
    }
    if int.trim_start_matches('0').len() > MAX_INTEGER_DIGITS {
        return Err(refuse(format!(
            " {text:?} is too large: at most {MAX_INTEGER_DIGITS} digits before the point"
        )));
    }
    if frac.is_some_and(|f| f.len() > 12) {
        return Err(refuse(format!(
            " {text:?} has too many decimals (at most 12)"
        )));
    }
    Decimal::from_str(t).map_err(|e| refuse(format!(" {text:?} is not a number: {e}")))
}

/// Reads decimal text written by this module back from the database.
pub fn from_db(text: &str, what: &str) -> Result<Decimal> {
    Decimal::from_str(text).map_err(|_| {
        Error::Storage(format!(
            "{what}: the stored amount {text:?} is not decimal text; the database was changed by hand"
        ))
    })
}

/// Converts `amount` in `from` to `to`, through the default currency, rounding once,
/// at the end, by `to`'s rule. Always convert from the original amount: a converted
/// amount is never converted again, so nothing drifts.
pub fn convert(amount: Decimal, from: &Currency, to: &Currency) -> Result<Decimal> {
    if from.code == to.code {
        return Ok(to.round(amount));
    }
    let overflow = || {
        Error::Invalid(format!(
            "{amount} {} is too large to convert to {}",
            from.code, to.code
        ))
    };
    let in_default = amount.checked_div(from.rate).ok_or_else(overflow)?;
    let converted = in_default.checked_mul(to.rate).ok_or_else(overflow)?;
    Ok(to.round(converted))
}

/// A rate (a currency's, a tax rate): a decimal within bounds, with at most `max_dp`
/// decimals. `what` names the input in an error.
pub fn parse_bounded<'a>(
    text: &str,
    what: impl Into<Name<'a>>,
    min: Decimal,
    min_inclusive: bool,
    max: Decimal,
    max_dp: u32,
) -> Result<Decimal> {
    let what = what.into();
    let value = parse_decimal(text, what)?;
    let below = if min_inclusive {
        value < min
    } else {
        value <= min
    };
    if below || value > max {
        let lower = if min_inclusive { "from" } else { "above" };
        return Err(Error::invalid(what.message().text(format!(
            " {text:?} is out of range: it must be {lower} {min} up to {max}"
        ))));
    }
    if value.normalize().scale() > max_dp {
        return Err(Error::invalid(what.message().text(format!(
            " {text:?} has too many decimals (at most {max_dp})"
        ))));
    }
    Ok(value.normalize())
}

/// The rounded amounts of one invoice line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineAmounts {
    /// quantity × unit price, rounded.
    pub net: Decimal,
    /// net × tax rate / 100, rounded: tax is computed and shown per line.
    pub tax: Decimal,
    /// net + tax (both already rounded, so no further rounding).
    pub total: Decimal,
}

/// A line's amounts: net rounded first, tax on the rounded net, total their sum.
pub fn line_amounts(
    quantity: Decimal,
    unit_price: Decimal,
    tax_rate_percent: Decimal,
    currency: &Currency,
) -> LineAmounts {
    let net = currency.round(quantity * unit_price);
    let tax = currency.round(net * tax_rate_percent / Decimal::ONE_HUNDRED);
    LineAmounts {
        net,
        tax,
        total: canonical(net + tax, currency.minor_units),
    }
}

/// An invoice's totals: sums of its rounded lines, never rounded again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Totals {
    /// The sum of the lines' net amounts.
    pub subtotal: Decimal,
    /// The sum of the lines' tax.
    pub tax: Decimal,
    /// subtotal + tax.
    pub total: Decimal,
}

/// Adds up lines in `currency`.
pub fn totals<'a>(lines: impl IntoIterator<Item = &'a LineAmounts>, currency: &Currency) -> Totals {
    let mut t = Totals {
        subtotal: Decimal::ZERO,
        tax: Decimal::ZERO,
        total: Decimal::ZERO,
    };
    for l in lines {
        t.subtotal += l.net;
        t.tax += l.tax;
        t.total += l.total;
    }
    Totals {
        subtotal: canonical(t.subtotal, currency.minor_units),
        tax: canonical(t.tax, currency.minor_units),
        total: canonical(t.total, currency.minor_units),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cur(code: &str, minor_units: u32, rate: &str, rounding: Rounding) -> Currency {
        Currency {
            code: code.into(),
            symbol: code.into(),
            minor_units,
            rate: Decimal::from_str(rate).unwrap(),
            rounding,
            is_default: rate == "1",
        }
    }

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).unwrap()
    }

    #[test]
    fn rounding_rules_at_the_midpoint() {
        let up = cur("EUR", 2, "1", Rounding::HalfUp);
        let even = cur("EUR", 2, "1", Rounding::HalfEven);
        let down = cur("EUR", 2, "1", Rounding::Down);
        assert_eq!(up.text(d("0.125")), "0.13");
        assert_eq!(even.text(d("0.125")), "0.12");
        assert_eq!(even.text(d("0.135")), "0.14");
        assert_eq!(down.text(d("0.129")), "0.12");
        assert_eq!(up.text(d("-0.125")), "-0.13");
        assert_eq!(down.text(d("-0.129")), "-0.12");
        assert_eq!(up.text(d("-0.001")), "0.00");
        let yen = cur("JPY", 0, "160", Rounding::HalfUp);
        assert_eq!(yen.text(d("1234.5")), "1235");
        assert_eq!(up.text(d("7")), "7.00");
    }

    #[test]
    fn hand_computed_lines_and_conversion() {
        let eur = cur("EUR", 2, "1", Rounding::HalfUp);
        // 3 × 3.33 = 9.99; 21 % of 9.99 = 2.0979 → 2.10; total 12.09.
        let l = line_amounts(d("3"), d("3.33"), d("21"), &eur);
        assert_eq!((l.net, l.tax, l.total), (d("9.99"), d("2.10"), d("12.09")));
        // 10.00 EUR at 1.0845 USD per EUR = 10.845 → half-up 10.85, half-even 10.84.
        let usd = cur("USD", 2, "1.0845", Rounding::HalfUp);
        let usd_even = cur("USD", 2, "1.0845", Rounding::HalfEven);
        assert_eq!(convert(d("10.00"), &eur, &usd).unwrap(), d("10.85"));
        assert_eq!(convert(d("10.00"), &eur, &usd_even).unwrap(), d("10.84"));
        // Back: 10.85 / 1.0845 = 10.00461… → 10.00.
        assert_eq!(convert(d("10.85"), &usd, &eur).unwrap(), d("10.00"));
    }

    #[test]
    fn typed_amounts_are_strict() {
        let eur = cur("EUR", 2, "1", Rounding::HalfUp);
        assert_eq!(
            eur.parse_amount("10", Name::Field("amount"))
                .unwrap()
                .to_string(),
            "10.00"
        );
        assert_eq!(
            eur.parse_amount("10.5", Name::Field("amount"))
                .unwrap()
                .to_string(),
            "10.50"
        );
        assert_eq!(
            eur.parse_amount("10.500", Name::Field("amount"))
                .unwrap()
                .to_string(),
            "10.50"
        );
        for bad in [
            "", "abc", "1e3", "1,50", "1_000", "1.", ".5", "--1", "NaN", "12.345",
        ] {
            assert!(
                eur.parse_amount(bad, Name::Field("amount")).is_err(),
                "{bad:?}"
            );
        }
        assert!(eur
            .parse_amount("1234567890123", Name::Field("amount"))
            .is_err());
        assert!(eur
            .parse_amount("123456789012", Name::Field("amount"))
            .is_ok());
    }

    fn rounding() -> impl Strategy<Value = Rounding> {
        prop_oneof![
            Just(Rounding::HalfUp),
            Just(Rounding::HalfEven),
            Just(Rounding::Down)
        ]
    }

    /// An amount with up to 8 decimals, |x| < 10^10.
    fn raw_amount() -> impl Strategy<Value = Decimal> {
        (-(10i128.pow(18))..10i128.pow(18)).prop_map(|n| Decimal::from_i128_with_scale(n, 8))
    }

    fn currency() -> impl Strategy<Value = Currency> {
        (0u32..=MAX_MINOR_UNITS, 1i64..=100_000_000i64, rounding()).prop_map(|(mu, r, rule)| {
            // Rates from 0.000001 to 100 with six decimals.
            Currency {
                code: "XXX".into(),
                symbol: "X".into(),
                minor_units: mu,
                rate: Decimal::new(r, 6),
                rounding: rule,
                is_default: false,
            }
        })
    }

    proptest! {
        #[test]
        fn stored_text_reads_back_exactly(minor in -(10i64.pow(16))..10i64.pow(16), mu in 0u32..=MAX_MINOR_UNITS) {
            let c = Currency { minor_units: mu, ..cur("EUR", mu, "1", Rounding::HalfUp) };
            let x = Decimal::new(minor, mu);
            let text = c.text(x);
            prop_assert_eq!(from_db(&text, "t").unwrap(), x);
            prop_assert_eq!(text.split_once('.').map_or(0, |(_, f)| f.len()) as u32, mu);
            prop_assert!(!text.contains('e'));
            if x.is_zero() {
                prop_assert!(!text.starts_with('-'));
            }
        }

        #[test]
        fn rounding_is_bounded_and_idempotent(x in raw_amount(), c in currency()) {
            let r = c.round(x);
            prop_assert_eq!(r.scale(), c.minor_units);
            prop_assert_eq!(c.round(r), r);
            let err = (r - x).abs();
            match c.rounding {
                Rounding::HalfUp | Rounding::HalfEven => prop_assert!(err * Decimal::TWO <= c.unit()),
                Rounding::Down => {
                    prop_assert!(err < c.unit());
                    prop_assert!(r.abs() <= x.abs());
                }
            }
        }

        #[test]
        fn totals_equal_the_sum_of_their_rounded_lines(
            lines in prop::collection::vec((1i64..100_000, -100_000_000i64..100_000_000, 0i64..3000), 1..40),
            c in currency(),
        ) {
            let amounts: Vec<LineAmounts> = lines
                .iter()
                .map(|&(q, p, t)| line_amounts(Decimal::new(q, 2), Decimal::new(p, 2), Decimal::new(t, 2), &c))
                .collect();
            for l in &amounts {
                prop_assert_eq!(c.round(l.net), l.net);
                prop_assert_eq!(c.round(l.tax), l.tax);
                prop_assert_eq!(l.total, l.net + l.tax);
            }
            let t = totals(&amounts, &c);
            prop_assert_eq!(t.subtotal, amounts.iter().map(|l| l.net).sum::<Decimal>());
            prop_assert_eq!(t.tax, amounts.iter().map(|l| l.tax).sum::<Decimal>());
            prop_assert_eq!(t.total, amounts.iter().map(|l| l.total).sum::<Decimal>());
            prop_assert_eq!(t.total, t.subtotal + t.tax);
            // What is stored is what is added up: the text of each line sums to the
            // text of the total.
            let stored: Decimal = amounts.iter().map(|l| from_db(&c.text(l.total), "t").unwrap()).sum();
            prop_assert_eq!(c.text(stored), c.text(t.total));
        }

        #[test]
        fn conversions_round_as_configured_and_do_not_drift(
            minor in 0i64..100_000_000_000,
            target in currency(),
        ) {
            let eur = cur("EUR", 2, "1", Rounding::HalfUp);
            let x = Decimal::new(minor, 2);
            let y = convert(x, &eur, &target).unwrap();
            // Exactly the configured rounding of the exact product.
            prop_assert_eq!(y, target.round(x * target.rate));
            // The same conversion gives the same answer however often it is done.
            prop_assert_eq!(convert(x, &eur, &target).unwrap(), y);
            // Back again, the error is at most what the two roundings allow.
            let back = convert(y, &target, &eur).unwrap();
            let per_unit = |c: &Currency| match c.rounding {
                Rounding::Down => c.unit(),
                _ => c.unit() / Decimal::TWO,
            };
            let bound = per_unit(&eur) + per_unit(&target) / target.rate + Decimal::new(1, 20);
            prop_assert!((back - x).abs() <= bound, "{} -> {} -> {} (bound {})", x, y, back, bound);
        }

        #[test]
        fn same_currency_conversion_is_identity(minor in -100_000_000_000i64..100_000_000_000, mu in 0u32..=MAX_MINOR_UNITS) {
            let c = cur("EUR", mu, "1", Rounding::HalfEven);
            let x = Decimal::new(minor, mu);
            prop_assert_eq!(convert(x, &c, &c).unwrap(), x);
        }
    }
}
