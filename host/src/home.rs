//! The Provisor home directory: where the database, the modules and the daemon's lock
//! live.

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// `$PROVISOR_HOME` and the paths inside it.
#[derive(Debug, Clone)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    /// Uses `root` (made absolute; `dlopen` needs absolute paths) as the home.
    pub fn new(root: impl AsRef<Path>) -> Result<Home> {
        let root = root.as_ref();
        let root = if root.is_absolute() {
            root.to_path_buf()
        } else {
            std::env::current_dir()
                .map_err(|e| Error::io("cannot read the current directory", e))?
                .join(root)
        };
        Ok(Home { root })
    }

    /// Creates the directories the home needs.
    pub fn ensure(&self) -> Result<()> {
        for dir in [self.root.clone(), self.modules_dir(), self.loaded_dir()] {
            std::fs::create_dir_all(&dir)
                .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
        }
        Ok(())
    }

    /// The home itself.
    pub fn root(&self) -> &Path {
        &self.root
    }
    /// Where hosters drop module files.
    pub fn modules_dir(&self) -> PathBuf {
        self.root.join("modules")
    }
    /// Where the host keeps the content-addressed copies it actually maps.
    pub fn loaded_dir(&self) -> PathBuf {
        self.modules_dir().join(".loaded")
    }
    /// The embedded database's URL.
    pub fn sqlite_url(&self) -> String {
        format!(
            "sqlite://{}?mode=rwc",
            self.root.join("provisor.db").display()
        )
    }
    /// The daemon's lock file: held while `provisor serve` runs.
    pub fn daemon_lock(&self) -> PathBuf {
        self.root.join("daemon.lock")
    }
}
