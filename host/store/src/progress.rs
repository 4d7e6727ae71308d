//! Progress of long runs (handler import and sync, usage invoicing, benchmarks), drawn
//! with `indicatif` on standard error. Library code asks for a bar or a spinner here
//! and moves it; nothing is drawn unless the command line switched drawing on for a
//! terminal ([`enable`]). The daemon, scripts, pipes, `--json` and tests get hidden
//! bars that cost nothing.
//! Must not: draw to standard output, or on anything but a terminal.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

static SHOW: AtomicBool = AtomicBool::new(false);

/// Switches drawing on for this process when standard error is a terminal and the
/// command does not print JSON. Answers whether it is on.
pub fn enable(json: bool) -> bool {
    let on = !json && std::io::IsTerminal::is_terminal(&std::io::stderr());
    SHOW.store(on, Ordering::Relaxed);
    on
}

fn shown() -> bool {
    SHOW.load(Ordering::Relaxed)
}

/// A bar counting `total` steps of `what` (hidden unless drawing is on).
pub fn bar(total: u64, what: &str) -> ProgressBar {
    if !shown() {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:30}] {pos}/{len} ({elapsed}, about {eta} left)")
    {
        b.set_style(style.progress_chars("=> "));
    }
    b.set_message(what.to_string());
    b
}

/// A spinner for work whose size is not known beforehand (hidden unless drawing is on).
pub fn spinner(what: &str) -> ProgressBar {
    if !shown() {
        return ProgressBar::hidden();
    }
    let b = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{spinner} {msg} ({elapsed})") {
        b.set_style(style);
    }
    b.set_message(what.to_string());
    b.enable_steady_tick(Duration::from_millis(120));
    b
}
