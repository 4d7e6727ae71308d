//! The home's daemon lock (`daemon.lock`): one `provisor serve` per home, and how other
//! processes tell that one runs (they then leave recording module state to it).

use std::fs::File;

use provisor_store::error::{Error, Result};
use provisor_store::home::Home;

/// Whether a daemon holds the home's lock.
pub fn is_running(home: &Home) -> bool {
    match File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(home.daemon_lock())
    {
        Ok(file) => match file.try_lock() {
            Ok(()) => {
                let _ = file.unlock();
                false
            }
            Err(_) => true,
        },
        Err(_) => false,
    }
}

/// Takes the home's daemon lock, refused while another `provisor serve` holds it.
pub fn take(home: &Home) -> Result<File> {
    home.ensure()?;
    let path = home.daemon_lock();
    let file = File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
    file.try_lock().map_err(|_| {
        Error::Invalid(format!(
            "another daemon is already running for {}; stop it first",
            home.root().display()
        ))
    })?;
    Ok(file)
}
