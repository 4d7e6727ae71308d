//! Reading the audit log: newest first, by actor, object, action and time.

use chrono::{DateTime, NaiveDate, Utc};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select};

use super::Action;
use provisor_store::db_err;
use provisor_store::entities::audit_entry;
use provisor_store::entities::kinds::ActorKind;
use provisor_store::error::{Error, Message, Result};
use provisor_store::Store;

/// Which entries to read. Build it from what people type with [`Filter::actor`],
/// [`Filter::object`], [`Filter::action`] and [`Filter::since`].
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Entries by this kind of actor.
    pub actor_kind: Option<ActorKind>,
    /// … with this id (a number) or name.
    pub actor: Option<String>,
    /// Entries about this kind of object.
    pub object_kind: Option<String>,
    /// … with this id.
    pub object_id: Option<String>,
    /// Entries of this action.
    pub action: Option<Action>,
    /// Entries at or after this time.
    pub since: Option<DateTime<Utc>>,
}

impl Filter {
    /// `KIND[:ID|NAME]`: `shell`, `staff:3`, `shell:root`, `module:12`.
    pub fn actor(mut self, text: &str) -> Result<Self> {
        let (kind, who) = match text.split_once(':') {
            Some((k, w)) => (k, Some(w)),
            None => (text, None),
        };
        let kind = match kind.trim() {
            "staff" => ActorKind::Staff,
            "client" => ActorKind::Client,
            "token" => ActorKind::Token,
            "module" => ActorKind::Module,
            "system" => ActorKind::System,
            "shell" => ActorKind::Shell,
            other => {
                return Err(Error::invalid(Message::about(
                    "actor",
                    format!(
                        "{other:?} is not a kind of actor: give staff, client, token, module, system or shell, optionally with :ID or :NAME"
                    ),
                )))
            }
        };
        self.actor_kind = Some(kind);
        self.actor = who
            .map(str::trim)
            .filter(|w| !w.is_empty())
            .map(str::to_string);
        Ok(self)
    }

    /// `KIND[:ID]`: `service`, `service:12`, `invoice:2026-000003`.
    pub fn object(mut self, text: &str) -> Result<Self> {
        let (kind, id) = match text.split_once(':') {
            Some((k, i)) => (k.trim(), Some(i.trim())),
            None => (text.trim(), None),
        };
        if !Action::ALL.iter().any(|a| a.object_kind() == kind) {
            let mut kinds: Vec<&str> = Action::ALL.iter().map(|a| a.object_kind()).collect();
            kinds.dedup();
            return Err(Error::invalid(Message::about(
                "object",
                format!(
                    "{kind:?} is not a kind of object the log records: give one of {}, optionally with :ID",
                    kinds.join(", ")
                ),
            )));
        }
        self.object_kind = Some(kind.to_string());
        self.object_id = id.filter(|i| !i.is_empty()).map(str::to_string);
        Ok(self)
    }

    /// An action as stored: `service.suspend`.
    pub fn action(mut self, text: &str) -> Result<Self> {
        self.action = Some(Action::parse(text.trim()).ok_or_else(|| {
            Error::invalid(Message::about(
                "action",
                format!(
                    "{text:?} is not an audited action: give one like service.suspend (docs/audit.md lists them)"
                ),
            ))
        })?);
        Ok(self)
    }

    /// A day (`YYYY-MM-DD`, from its start in UTC) or an RFC 3339 time.
    pub fn since(mut self, text: &str) -> Result<Self> {
        let text = text.trim();
        let at = if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            t.with_timezone(&Utc)
        } else if let Ok(d) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc()
        } else {
            return Err(Error::invalid(Message::about(
                "since",
                format!("{text:?} is neither a day (YYYY-MM-DD) nor an RFC 3339 time (2026-03-01T12:00:00Z)"),
            )));
        };
        self.since = Some(at);
        Ok(self)
    }
}

/// The entries `filter` selects, in no order yet: for [`list`], and for the HTTP API's
/// pages (`crate::page::read_newest_first`).
pub fn select(filter: &Filter) -> Select<audit_entry::Entity> {
    use audit_entry::Column as C;
    let mut q = audit_entry::Entity::find();
    if let Some(kind) = filter.actor_kind {
        q = q.filter(C::ActorKind.eq(kind));
    }
    if let Some(who) = &filter.actor {
        q = match who.parse::<i64>() {
            Ok(id) => q.filter(
                Condition::any()
                    .add(C::ActorId.eq(id))
                    .add(C::ActorName.eq(who.as_str())),
            ),
            Err(_) => q.filter(C::ActorName.eq(who.as_str())),
        };
    }
    if let Some(kind) = &filter.object_kind {
        q = q.filter(C::ObjectKind.eq(kind.as_str()));
    }
    if let Some(id) = &filter.object_id {
        q = q.filter(C::ObjectId.eq(id.as_str()));
    }
    if let Some(action) = filter.action {
        q = q.filter(C::Action.eq(action.as_str()));
    }
    if let Some(since) = filter.since {
        q = q.filter(C::At.gte(since));
    }
    q
}

/// The entries `filter` selects, newest first, at most `limit`.
pub async fn list(store: &Store, filter: &Filter, limit: u64) -> Result<Vec<audit_entry::Model>> {
    use audit_entry::Column as C;
    select(filter)
        .order_by_desc(C::At)
        .order_by_desc(C::Id)
        .limit(limit)
        .all(store.db())
        .await
        .map_err(db_err("reading the audit log"))
}

#[cfg(test)]
mod tests {
    use super::{Action, ActorKind, Filter};

    #[test]
    fn filters_are_read_from_what_people_type() {
        let f = Filter::default().actor("shell:root").unwrap();
        assert_eq!(
            (f.actor_kind, f.actor.as_deref()),
            (Some(ActorKind::Shell), Some("root"))
        );
        let f = Filter::default().actor("module").unwrap();
        assert_eq!((f.actor_kind, f.actor), (Some(ActorKind::Module), None));
        let f = Filter::default().object("invoice:2026-000001").unwrap();
        assert_eq!(
            (f.object_kind.as_deref(), f.object_id.as_deref()),
            (Some("invoice"), Some("2026-000001"))
        );
        let f = Filter::default().action("task.take").unwrap();
        assert_eq!(f.action, Some(Action::TaskTake));
        let day = Filter::default()
            .since("2026-03-01")
            .unwrap()
            .since
            .unwrap();
        assert_eq!(day.to_rfc3339(), "2026-03-01T00:00:00+00:00");
        let at = Filter::default()
            .since("2026-03-01T12:00:00+02:00")
            .unwrap()
            .since
            .unwrap();
        assert_eq!(at.to_rfc3339(), "2026-03-01T10:00:00+00:00");
        for (bad, field) in [
            (Filter::default().actor("robot"), "actor"),
            (Filter::default().object("spaceship:1"), "object"),
            (Filter::default().action("service"), "action"),
            (Filter::default().since("yesterday"), "since"),
        ] {
            assert_eq!(bad.unwrap_err().field(), Some(field));
        }
    }
}
