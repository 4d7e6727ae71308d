//! Watching the modules directory, so a dropped `.so` is loaded within seconds.
//!
//! The watcher only says "something changed"; `Registry::scan` decides what. A periodic
//! scan backs it up (network filesystems and some containers deliver no events).

use std::path::Path;

use notify::{RecursiveMode, Watcher};
use tokio::sync::mpsc;

use provisor_store::error::{Error, Result};

/// Starts watching `dir`; every change sends a unit on the returned channel. Keep the
/// returned watcher alive as long as events are wanted.
pub fn watch(dir: &Path) -> Result<(notify::RecommendedWatcher, mpsc::Receiver<()>)> {
    let (tx, rx) = mpsc::channel(16);
    let mut watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        if event.is_ok() {
            // A full channel already holds a wake-up; dropping this one is fine.
            let _ = tx.try_send(());
        }
    })
    .map_err(|e| Error::Io(format!("cannot watch {}: {e}", dir.display())))?;
    watcher
        .watch(dir, RecursiveMode::NonRecursive)
        .map_err(|e| Error::Io(format!("cannot watch {}: {e}", dir.display())))?;
    Ok((watcher, rx))
}
