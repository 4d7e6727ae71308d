//! Plain-text tables and JSON output for listings.

use serde::Serialize;

/// The widest a table cell is printed; longer cells are cut with `…` (JSON output
/// keeps every character).
pub const CELL_MAX: usize = 80;

/// The widest the last column (reasons, errors) is printed.
pub const LAST_CELL_MAX: usize = 1000;

/// A cell as printed: control characters escaped (a stored ESC or newline cannot
/// move the cursor or fake a row) and cut to [`CELL_MAX`] characters.
pub fn cell(text: &str) -> String {
    cut(text, CELL_MAX)
}

fn cut(text: &str, max: usize) -> String {
    crate::input::shown(text, max)
}

/// Prints rows as an aligned table with a header. Cells are made safe with [`cell`];
/// the last column (reasons, errors) may be up to [`LAST_CELL_MAX`] characters.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    let last = headers.len().saturating_sub(1);
    let shown: Vec<Vec<String>> = rows
        .iter()
        .map(|row| {
            row.iter()
                .enumerate()
                .map(|(i, c)| {
                    if i >= last {
                        cut(c, LAST_CELL_MAX)
                    } else {
                        cell(c)
                    }
                })
                .collect()
        })
        .collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in &shown {
        for (i, c) in row.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let line = |cells: &[String]| {
        let n = cells.len();
        let mut out = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i > 0 {
                out.push_str("  ");
            }
            out.push_str(c);
            if i + 1 < n {
                // Padding by hand: `format!("{:<w$}")` panics when w exceeds u16.
                let w = widths.get(i).copied().unwrap_or(0);
                let pad = w.saturating_sub(c.chars().count());
                out.extend(std::iter::repeat_n(' ', pad));
            }
        }
        println!("{}", out.trim_end());
    };
    line(&headers.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    for row in &shown {
        line(row);
    }
}

/// Prints a value as pretty JSON.
pub fn json<T: Serialize>(value: &T) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(e) => eprintln!("error: cannot encode JSON output: {e}"),
    }
}

/// `-` for an empty optional.
pub fn opt(v: &Option<String>) -> String {
    v.clone()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "-".to_string())
}
