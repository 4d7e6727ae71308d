//! A simulator's state, kept in memory and saved as JSON after every change.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::{de::DeserializeOwned, Serialize};

/// State of type `T`, loaded from `path` when it exists and written back (to a
/// temporary file, then renamed) after every [`Persisted::update`].
pub struct Persisted<T> {
    path: Option<PathBuf>,
    value: Mutex<T>,
}

impl<T: Serialize + DeserializeOwned + Default> Persisted<T> {
    /// Loads the state from `path` (or starts empty when the file does not exist).
    /// `None` keeps the state in memory only.
    pub fn open(path: Option<&Path>) -> io::Result<Self> {
        let value = match path {
            Some(p) if p.exists() => {
                let text = fs::read_to_string(p)?;
                serde_json::from_str(&text).map_err(|e| {
                    io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!(
                            "simulator state {} is not valid: {e}; delete it to start empty",
                            p.display()
                        ),
                    )
                })?
            }
            _ => T::default(),
        };
        if let Some(dir) = path.and_then(Path::parent) {
            fs::create_dir_all(dir)?;
        }
        Ok(Persisted {
            path: path.map(Path::to_path_buf),
            value: Mutex::new(value),
        })
    }

    /// Reads the state.
    pub fn read<R>(&self, f: impl FnOnce(&T) -> R) -> R {
        f(&self.lock())
    }

    /// Changes the state and saves it before returning; the change is kept in memory
    /// even if saving fails (the error is logged), as a real panel's would be.
    pub fn update<R>(&self, f: impl FnOnce(&mut T) -> R) -> R {
        let mut guard = self.lock();
        let result = f(&mut guard);
        if let Err(e) = self.save(&guard) {
            tracing::error!(error = %e, "simulator state could not be saved");
        }
        result
    }

    fn lock(&self) -> MutexGuard<'_, T> {
        self.value.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn save(&self, value: &T) -> io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let tmp = path.with_extension("json.tmp");
        fs::write(&tmp, serde_json::to_vec_pretty(value)?)?;
        fs::rename(&tmp, path)
    }
}
