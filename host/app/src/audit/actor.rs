//! Who does a change: a person, a token, a module through an operation, or Provisor.

use serde::Serialize;

use provisor_store::entities::kinds::ActorKind;

/// Who does a change, as the audit log records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    /// What kind of actor.
    pub kind: ActorKind,
    /// Its row id (a staff account, client, token or operation), where it has one.
    pub id: Option<i64>,
    /// As shown: an email, a token's name, a handler's name, the OS user.
    pub name: String,
    /// The address a request came from (the API and web pages set it).
    pub source: Option<String>,
}

impl Actor {
    /// Someone with a shell on the server, through the CLI: the operating system's user
    /// this process runs as (its name from `/etc/passwd`, else `uid N`).
    pub fn shell() -> Self {
        Self::of(ActorKind::Shell, None, os_user())
    }

    /// Provisor itself: `what` is the part that acted (`cron`, `scheduler`).
    pub fn system(what: &str) -> Self {
        Self::of(ActorKind::System, None, what.to_string())
    }

    /// A module, through operation `operation_id` of the handler `handler`.
    pub fn module(operation_id: i64, handler: &str) -> Self {
        Self::of(ActorKind::Module, Some(operation_id), handler.to_string())
    }

    /// A staff account.
    pub fn staff(id: i64, name: &str) -> Self {
        Self::of(ActorKind::Staff, Some(id), name.to_string())
    }

    /// A client, through their login.
    pub fn client(id: i64, name: &str) -> Self {
        Self::of(ActorKind::Client, Some(id), name.to_string())
    }

    /// An API token not bound to a staff account.
    pub fn token(id: i64, name: &str) -> Self {
        Self::of(ActorKind::Token, Some(id), name.to_string())
    }

    /// Someone who gave `name` (an email, as typed) to log in to the `kind` realm
    /// (staff or client) and was refused: no account id is known.
    pub fn claimed(kind: ActorKind, name: &str) -> Self {
        Self::of(kind, None, name.to_string())
    }

    /// The same actor, acting from the address `addr`.
    #[must_use]
    pub fn from_addr(mut self, addr: &impl ToString) -> Self {
        self.source = Some(addr.to_string());
        self
    }

    fn of(kind: ActorKind, id: Option<i64>, name: String) -> Self {
        Self {
            kind,
            id,
            name,
            source: None,
        }
    }
}

/// The name of the user this process runs as: its uid (the owner of `/proc/self`)
/// looked up in `/etc/passwd`; `uid N` when it has no entry, `unknown` off Linux.
fn os_user() -> String {
    use std::os::unix::fs::MetadataExt;
    let Ok(uid) = std::fs::metadata("/proc/self").map(|m| m.uid()) else {
        return "unknown".to_string();
    };
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    passwd
        .lines()
        .find_map(|line| {
            let mut f = line.split(':');
            let name = f.next()?;
            let id: u32 = f.nth(1)?.parse().ok()?;
            (id == uid && !name.is_empty()).then(|| name.to_string())
        })
        .unwrap_or_else(|| format!("uid {uid}"))
}
