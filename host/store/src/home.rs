//! The Provisor home directory: where the database, the secret key, the modules and
//! the daemon's lock live. The home is private to the host's user (0700), the database
//! and the key 0600.

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

    /// Creates the directories the home needs; a home it creates is 0700.
    pub fn ensure(&self) -> Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        if !self.root.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&self.root)
                .map_err(|e| Error::io(format!("cannot create {}", self.root.display()), e))?;
        }
        for dir in [self.modules_dir(), self.loaded_dir()] {
            std::fs::create_dir_all(&dir)
                .map_err(|e| Error::io(format!("cannot create {}", dir.display()), e))?;
        }
        Ok(())
    }

    /// What `provisor init` checks first: it refuses a home that is world-writable or
    /// would be made in a world-writable directory without the sticky bit (anyone could
    /// swap the database or the key), then creates the home 0700 or takes group and
    /// other access away from an existing one. Answers what it changed, for the user.
    pub fn init(&self) -> Result<Option<String>> {
        use std::os::unix::fs::PermissionsExt;
        const WORLD_WRITABLE: u32 = 0o002;
        const STICKY: u32 = 0o1000;
        let existing = std::fs::metadata(&self.root).ok();
        let checked = match &existing {
            Some(meta) => {
                if !meta.is_dir() {
                    return Err(Error::Invalid(format!(
                        "{} exists and is not a directory: choose another home",
                        self.root.display()
                    )));
                }
                Some((self.root.clone(), meta.permissions().mode()))
            }
            None => self
                .root
                .ancestors()
                .skip(1)
                .find_map(|a| std::fs::metadata(a).ok().map(|m| (a.to_path_buf(), m)))
                .map(|(a, m)| (a, m.permissions().mode())),
        };
        if let Some((dir, mode)) = checked {
            let sticky_parent = existing.is_none() && mode & STICKY != 0;
            if mode & WORLD_WRITABLE != 0 && !sticky_parent {
                return Err(Error::Invalid(format!(
                    "refusing to initialise {}: {} is world-writable (mode {:o}), so anyone could replace the database or the secret key; use a home in a directory only you can write (or `chmod o-w {}`)",
                    self.root.display(),
                    dir.display(),
                    mode & 0o7777,
                    dir.display()
                )));
            }
        }
        let mut changed = None;
        if let Some(meta) = existing {
            let mode = meta.permissions().mode();
            if mode & 0o077 != 0 {
                std::fs::set_permissions(&self.root, std::fs::Permissions::from_mode(0o700))
                    .map_err(|e| {
                        Error::io(
                            format!("cannot make {} private (chmod 700)", self.root.display()),
                            e,
                        )
                    })?;
                changed = Some(format!(
                    "made {} private to its owner (mode {:o} -> 700)",
                    self.root.display(),
                    mode & 0o777
                ));
            }
        }
        self.ensure()?;
        Ok(changed)
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
    /// The secret key file (`secret.key`, 0600): seals the handlers' secret settings.
    pub fn secret_key(&self) -> PathBuf {
        self.root.join("secret.key")
    }
    /// The daemon's lock file: held while `provisor serve` runs.
    pub fn daemon_lock(&self) -> PathBuf {
        self.root.join("daemon.lock")
    }
}
