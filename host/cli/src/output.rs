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
    provisor_store::input::shown(text, max)
}

/// The fewest characters the last column keeps when the table is cut to the
/// terminal's width (narrower terminals wrap instead).
const LAST_CELL_MIN: usize = 16;

/// The width tables are cut to: `COLUMNS` when set to a number, else the terminal's
/// width when standard output is a terminal, else none (a pipe or file gets the full
/// text, up to [`LAST_CELL_MAX`]).
pub fn width() -> Option<usize> {
    if let Some(n) = std::env::var("COLUMNS")
        .ok()
        .and_then(|v| v.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
    {
        return Some(n);
    }
    if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        terminal_size::terminal_size().map(|(w, _)| usize::from(w.0))
    } else {
        None
    }
}

/// Prints rows as an aligned table with a header. Cells are made safe with [`cell`];
/// the last column (reasons, errors) may be up to [`LAST_CELL_MAX`] characters, and is
/// cut with `…` to what the terminal's width leaves it (see [`width`]); the full text
/// is in the matching `show` command and in `--json`.
pub fn table(headers: &[&str], rows: &[Vec<String>]) {
    table_in(headers, rows, width());
}

fn table_in(headers: &[&str], rows: &[Vec<String>], screen: Option<usize>) {
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
            if i < widths.len() && i < last {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    // What the columns before the last take, with their two-space gaps.
    let before: usize = widths.iter().take(last).map(|w| w + 2).sum();
    let last_max = screen.map(|w| w.saturating_sub(before).max(LAST_CELL_MIN));
    let shown: Vec<Vec<String>> = match last_max {
        None => shown,
        Some(max) => shown
            .into_iter()
            .map(|mut row| {
                if let Some(c) = row.get_mut(last) {
                    if c.chars().count() > max {
                        let mut t: String = c.chars().take(max.saturating_sub(1)).collect();
                        t.push('…');
                        *c = t;
                    }
                }
                row
            })
            .collect(),
    };
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
    line(&headers.iter().map(ToString::to_string).collect::<Vec<_>>());
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
pub fn opt(v: Option<&str>) -> String {
    v.filter(|s| !s.is_empty())
        .map_or_else(|| "-".to_string(), str::to_string)
}

/// `--limit` and `--offset` of a long listing.
#[derive(Debug, Clone, Copy, clap::Args)]
pub struct Paging {
    /// Show at most this many rows (1 to 1000000).
    #[arg(long, default_value_t = 100)]
    pub limit: u64,
    /// Skip this many rows first (the next page: --offset 100, 200, …).
    #[arg(long, default_value_t = 0)]
    pub offset: u64,
}

/// The most rows one page may ask for.
pub const LIMIT_MAX: u64 = 1_000_000;

impl Paging {
    /// Refuses a limit of 0 or above [`LIMIT_MAX`]; answers how many rows to read:
    /// one more than the limit, to tell whether more exist.
    pub fn fetch(&self) -> provisor_store::error::Result<u64> {
        if self.limit == 0 || self.limit > LIMIT_MAX {
            return Err(provisor_store::error::Error::Invalid(format!(
                "--limit {} is out of range: give 1 to {LIMIT_MAX} (and --offset for the next page)",
                self.limit
            )));
        }
        Ok(self.limit + 1)
    }

    /// Cuts the extra row [`Paging::fetch`] asked for; answers whether there was one.
    pub fn trim<T>(&self, rows: &mut Vec<T>) -> bool {
        let more = rows.len() as u64 > self.limit;
        rows.truncate(self.limit as usize);
        more
    }

    /// The line printed under a table when more rows exist.
    pub fn more_note(&self, shown: usize) {
        println!(
            "… more rows: this shows {shown} from offset {}; the next page is --offset {}",
            self.offset,
            self.offset + shown as u64
        );
    }
}
