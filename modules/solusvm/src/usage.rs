//! Post-paid usage: the calendar months of a period, the panel's per-VM uptime rows
//! and the token arithmetic that turns them into billed items at the handler's price.

use std::fmt;

use provisor_module_api::serde_json::json;
use provisor_module_api::*;

use crate::*;

/// `tokens × price` as decimal text with the price's number of decimals.
pub fn multiply(tokens: u64, price: &str) -> Option<String> {
    let (whole, fraction) = price.split_once('.').unwrap_or((price, ""));
    let digits: u128 = format!("{whole}{fraction}").parse().ok()?;
    let product = digits.checked_mul(u128::from(tokens))?.to_string();
    if fraction.is_empty() {
        return Some(product);
    }
    let scale = fraction.len();
    let padded = format!("{product:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    Some(format!("{int}.{frac}"))
}

/// Tokens for one VM and month: every started hour at the rate, capped by the monthly
/// price (a cap of 0 means the plan has no monthly price, so no cap).
pub fn tokens_for(hours: u64, tokens_per_hour: u64, tokens_per_month: u64) -> (u64, bool) {
    let hourly = hours.saturating_mul(tokens_per_hour);
    if tokens_per_month > 0 && hourly > tokens_per_month {
        (tokens_per_month, true)
    } else {
        (hourly, false)
    }
}

/// A `YYYY-MM-DD` date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Date {
    year: u32,
    month: u32,
    day: u32,
}

impl Date {
    /// Parses `YYYY-MM-DD`.
    pub fn parse(text: &str) -> Option<Date> {
        let b = text.as_bytes();
        if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let n = |r: std::ops::Range<usize>| text.get(r)?.parse::<u32>().ok();
        let date = Date {
            year: n(0..4)?,
            month: n(5..7)?,
            day: n(8..10)?,
        };
        ((1..=12).contains(&date.month) && (1..=31).contains(&date.day)).then_some(date)
    }

    fn first_of_next_month(self) -> Date {
        if self.month == 12 {
            Date {
                year: self.year + 1,
                month: 1,
                day: 1,
            }
        } else {
            Date {
                year: self.year,
                month: self.month + 1,
                day: 1,
            }
        }
    }
}

impl fmt::Display for Date {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}-{:02}", self.year, self.month, self.day)
    }
}

/// Splits `[start, end)` at calendar-month boundaries: the monthly cap applies per month.
pub fn month_chunks(start: Date, end: Date) -> Vec<(Date, Date)> {
    let mut out = Vec::new();
    let mut from = start;
    while from < end {
        let to = from.first_of_next_month().min(end);
        out.push((from, to));
        from = to;
    }
    out
}

fn month_name(date: Date) -> &'static str {
    const NAMES: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    NAMES[(date.month as usize).saturating_sub(1) % 12]
}

impl SolusVm {
    fn price(&self, currency: &str) -> Result<&str, ModuleError> {
        self.settings
            .token_price
            .get(currency)
            .map(String::as_str)
            .ok_or_else(|| {
                ModuleError::invalid_config(format!(
                    "token_price has no price for {currency:?} (the client's currency): add it to the handler's settings, e.g. \"{currency}\": \"0.01\""
                ))
            })
    }

    /// The usage report for a period: see [`Module::usage`].
    pub(crate) fn usage_report(&self, request: &UsageRequest) -> Result<UsageReport, ModuleError> {
        let service = &request.service;
        let user_id = Self::require_user_id(service, "usage")?;
        let (Some(start), Some(end)) = (
            Date::parse(&request.period_start),
            Date::parse(&request.period_end),
        ) else {
            return Err(ModuleError::permanent(format!(
                "usage: the period {} to {} is not two YYYY-MM-DD dates",
                request.period_start, request.period_end
            )));
        };
        if start >= end {
            return Err(ModuleError::permanent(format!(
                "usage: the period {start} to {end} is empty (the end is exclusive)"
            )));
        }
        if let Some(record) = self.read_record(user_id)? {
            let biller = record.biller(service.id);
            if biller != service.id {
                self.host.info(&format!(
                    "usage: SolusVM user #{user_id} is shared; service #{biller} bills its VMs"
                ));
                return Ok(UsageReport { items: Vec::new() });
            }
        }
        let currency = service.client.currency.as_str();
        let price = self.price(currency)?;
        let mut items = Vec::new();
        for (from, to) in month_chunks(start, end) {
            let path = format!(
                "{}?period_start={from}&period_end={to}",
                USAGE_PATH.replace("{id}", &user_id.to_string())
            );
            let what = format!("usage of SolusVM user #{user_id} from {from} to {to}");
            let rows: Data<Vec<UsageRow>> = self.call(&what, "GET", &path, None)?;
            for row in rows.data.into_iter().filter(|r| r.hours > 0) {
                let (tokens, capped) =
                    tokens_for(row.hours, row.tokens_per_hour, row.tokens_per_month);
                let amount = multiply(tokens, price).ok_or_else(|| {
                    ModuleError::permanent(format!(
                        "usage: {tokens} tokens × {price} {currency} does not fit in a number"
                    ))
                })?;
                let working = if capped {
                    format!(
                        "{} h × {} tokens/h = {}, capped at {} tokens/month",
                        row.hours,
                        row.tokens_per_hour,
                        row.hours.saturating_mul(row.tokens_per_hour),
                        row.tokens_per_month
                    )
                } else {
                    format!("{} h × {} tokens/h", row.hours, row.tokens_per_hour)
                };
                let name = if row.name.is_empty() {
                    format!("#{}", row.server_id)
                } else {
                    row.name.clone()
                };
                items.push(UsageItem {
                    key: format!("server/{}/{from}", row.server_id),
                    description: format!(
                        "VM {name}, {} {}{}: {working}",
                        month_name(from),
                        from.year,
                        if from.day != 1 || to != from.first_of_next_month() {
                            format!(" ({from} to {to})")
                        } else {
                            String::new()
                        }
                    ),
                    unit: "token".into(),
                    quantity: tokens.to_string(),
                    rate: Some(price.to_string()),
                    amount: Some(amount),
                    details: json!({
                        "server_id": row.server_id,
                        "server_uuid": row.server_uuid,
                        "name": row.name,
                        "period_start": from.to_string(),
                        "period_end": to.to_string(),
                        "hours": row.hours,
                        "tokens_per_hour": row.tokens_per_hour,
                        "tokens_per_month": row.tokens_per_month,
                        "tokens": tokens,
                        "capped": capped,
                        "token_price": price,
                        "currency": currency,
                    }),
                });
            }
        }
        Ok(UsageReport { items })
    }
}
