//! Staff accounts: add (the first one only as owner), list, show, disable and enable,
//! a new password, a new role, new departments, and taking a task.
//!
//! Rules: the first staff account is made as an owner, and only while there is none
//! ([`add_owner`]); afterwards only an owner makes another owner. Staff are managed
//! by an owner (or the shell). The last enabled owner is never disabled or demoted.
//! Disabling ends the account's sessions, and its tokens are refused while it is
//! disabled.
//!
//! Owns: those rules. Must not: show a password hash or a TOTP secret.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, TransactionTrait,
};
use serde::Serialize;
use serde_json::json;

use provisor_store::entities::kinds::Role;
use provisor_store::entities::{department, session, staff, staff_department, task};
use provisor_store::error::{Error, ErrorKind, Message, Name, Result};
use provisor_store::{db_err, input, Store};

use super::password::{self, Password};
use super::{role_includes, Actor};
use crate::audit::{self, Action};

/// A staff account as shown: never its password hash or TOTP secret.
#[derive(Debug, Clone, Serialize)]
pub struct StaffView {
    /// Row id.
    pub id: i64,
    /// Login email.
    pub email: String,
    /// Name shown beside their actions.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Departments, by name.
    pub departments: Vec<String>,
    /// Whether a TOTP second factor is on.
    pub totp: bool,
    /// When it was disabled, if it is.
    pub disabled_at: Option<DateTime<Utc>>,
    /// When it was made.
    pub created_at: DateTime<Utc>,
}

/// A staff account to add.
#[derive(Debug, Clone)]
pub struct NewStaff {
    /// Login email (checked and lowercased here).
    pub email: String,
    /// Name shown beside their actions.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Password, parsed at the edge against the policy.
    pub password: Password,
    /// Departments, by name.
    pub departments: Vec<String>,
}

/// The account with `email`, as stored.
pub async fn find(store: &Store, email: &str) -> Result<staff::Model> {
    let email = input::email(Name::Field("email"), email)?;
    find_row(store, &email)
        .await?
        .ok_or_else(|| Error::not_found(format!("no staff account {email}; see the list of staff")))
}

pub(crate) async fn find_row(store: &Store, email: &str) -> Result<Option<staff::Model>> {
    staff::Entity::find()
        .filter(staff::Column::Email.eq(email))
        .one(store.db())
        .await
        .map_err(db_err("reading staff"))
}

/// The account with id `id`.
pub async fn get(store: &Store, id: i64) -> Result<staff::Model> {
    staff::Entity::find_by_id(id)
        .one(store.db())
        .await
        .map_err(db_err("reading staff"))?
        .ok_or_else(|| Error::not_found(format!("no staff account #{id}")))
}

/// Whether any staff account exists.
pub async fn any(store: &Store) -> Result<bool> {
    Ok(staff::Entity::find()
        .count(store.db())
        .await
        .map_err(db_err("counting staff"))?
        > 0)
}

fn forbidden(why: impl Into<Message>) -> Error {
    Error::refused(ErrorKind::Forbidden, why)
}

/// Refuses unless `actor` may manage staff (an owner, or the shell); answers the
/// acting account when it is one.
async fn manager(store: &Store, actor: &Actor) -> Result<Option<staff::Model>> {
    match actor {
        Actor::Shell { .. }
        | Actor::Token {
            role: Role::Owner, ..
        } => Ok(None),
        Actor::Staff { id } => {
            let me = get(store, *id).await?;
            if me.role == Role::Owner && me.disabled_at.is_none() {
                Ok(Some(me))
            } else {
                Err(forbidden(format!(
                    "staff account {} is {}; only an owner manages staff",
                    me.email, me.role
                )))
            }
        }
        _ => Err(forbidden("only an owner manages staff")),
    }
}

/// Refuses unless `actor` is the account itself or may manage staff.
pub(crate) async fn self_or_manager(
    store: &Store,
    actor: &Actor,
    target: &staff::Model,
) -> Result<()> {
    if *actor == (Actor::Staff { id: target.id }) {
        return Ok(());
    }
    manager(store, actor).await.map(|_| ())
}

/// Refuses unless `actor` is an owner's staff account: only an owner makes another.
async fn owner_maker(store: &Store, actor: &Actor) -> Result<()> {
    if let Some(me) = manager(store, actor).await? {
        return if me.role == Role::Owner {
            Ok(())
        } else {
            Err(forbidden("only an owner makes another owner"))
        };
    }
    Err(forbidden(
        "once the first owner exists, only an owner's own account makes another owner; log in as an owner",
    ))
}

/// The first staff account, an owner; refused once any staff account exists.
pub async fn add_owner(
    store: &Store,
    by: &audit::Actor,
    new: NewStaff,
    now: DateTime<Utc>,
) -> Result<StaffView> {
    if any(store).await? {
        return Err(forbidden(
            "a staff account already exists; only an owner makes another owner",
        ));
    }
    insert(
        store,
        by,
        NewStaff {
            role: Role::Owner,
            ..new
        },
        now,
    )
    .await
}

/// A staff account, made by an owner (or the shell). The first account must be made
/// with [`add_owner`]; an owner only by another owner. `actor` is judged by the rules,
/// `by` is recorded in the audit log (the same one, as the log names it).
pub async fn add(
    store: &Store,
    actor: &Actor,
    by: &audit::Actor,
    new: NewStaff,
    now: DateTime<Utc>,
) -> Result<StaffView> {
    if !any(store).await? {
        return Err(Error::invalid(
            "there is no staff account yet: the first one must be an owner",
        ));
    }
    manager(store, actor).await?;
    if new.role == Role::Owner {
        owner_maker(store, actor).await?;
    }
    insert(store, by, new, now).await
}

async fn insert(
    store: &Store,
    by: &audit::Actor,
    new: NewStaff,
    now: DateTime<Utc>,
) -> Result<StaffView> {
    let email = input::email(Name::Field("email"), &new.email)?;
    let name = new.name.trim().to_string();
    if name.is_empty() {
        return Err(Error::invalid(Message::about("name", "needs a name")));
    }
    input::check_line(Name::Field("name"), &name, input::NAME_MAX)?;
    if find_row(store, &email).await?.is_some() {
        return Err(Error::invalid(Message::about(
            "email",
            format!("{email}: a staff account with this email already exists"),
        )));
    }
    let departments = department_ids(store, &new.departments).await?;
    let hash = password::hash(&new.password).await?;
    let _turn = store.write_turn().await;
    let txn = store.db().begin().await.map_err(db_err("adding staff"))?;
    let row = staff::ActiveModel {
        email: Set(email),
        name: Set(name),
        role: Set(new.role),
        password_hash: Set(hash),
        totp_secret: Set(None),
        disabled_at: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(&txn)
    .await
    .map_err(db_err("storing the staff account"))?;
    let mut names: Vec<&str> = departments.iter().map(|d| d.name.as_str()).collect();
    names.sort_unstable();
    let after = json!({
        "email": row.email, "name": row.name, "role": row.role.to_string(), "departments": names,
    });
    for d in &departments {
        staff_department::ActiveModel {
            staff_id: Set(row.id),
            department_id: Set(d.id),
        }
        .insert(&txn)
        .await
        .map_err(db_err("storing the staff account's departments"))?;
    }
    let id = Some(row.email.clone());
    audit::record(&txn, by, Action::StaffAdd, id, None, Some(after), now).await?;
    txn.commit().await.map_err(db_err("adding staff"))?;
    view(store, row).await
}

async fn department_ids(store: &Store, names: &[String]) -> Result<Vec<department::Model>> {
    let mut out: Vec<department::Model> = Vec::new();
    for name in names {
        provisor_engine::departments::require_department(store, name).await?;
        if let Some(d) = provisor_engine::departments::find_department(store, name).await? {
            if !out.iter().any(|o| o.id == d.id) {
                out.push(d);
            }
        }
    }
    Ok(out)
}

async fn departments_of(store: &Store, staff_id: i64) -> Result<Vec<String>> {
    let links = staff_department::Entity::find()
        .filter(staff_department::Column::StaffId.eq(staff_id))
        .find_also_related(department::Entity)
        .all(store.db())
        .await
        .map_err(db_err("reading staff departments"))?;
    let mut names: Vec<String> = links
        .into_iter()
        .filter_map(|(_, d)| d.map(|d| d.name))
        .collect();
    names.sort();
    Ok(names)
}

/// How an account is shown.
pub async fn view(store: &Store, row: staff::Model) -> Result<StaffView> {
    let departments = departments_of(store, row.id).await?;
    let totp = match &row.totp_secret {
        Some(sealed) => super::sealed::is_on(store, row.id, sealed)?,
        None => false,
    };
    Ok(StaffView {
        id: row.id,
        email: row.email,
        name: row.name,
        role: row.role,
        departments,
        totp,
        disabled_at: row.disabled_at,
        created_at: row.created_at,
    })
}

/// Every staff account, by email.
pub async fn list(store: &Store) -> Result<Vec<StaffView>> {
    let rows = staff::Entity::find()
        .order_by_asc(staff::Column::Email)
        .all(store.db())
        .await
        .map_err(db_err("reading staff"))?;
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        out.push(view(store, r).await?);
    }
    Ok(out)
}

/// One account.
pub async fn show(store: &Store, email: &str) -> Result<StaffView> {
    let row = find(store, email).await?;
    view(store, row).await
}

/// Refuses when `target` is the last enabled owner (it would leave no owner).
async fn keep_an_owner(store: &Store, target: &staff::Model, doing: &str) -> Result<()> {
    if target.role != Role::Owner || target.disabled_at.is_some() {
        return Ok(());
    }
    let owners = staff::Entity::find()
        .filter(staff::Column::Role.eq(Role::Owner))
        .filter(staff::Column::DisabledAt.is_null())
        .count(store.db())
        .await
        .map_err(db_err("counting owners"))?;
    if owners <= 1 {
        return Err(forbidden(format!(
            "staff account {} is the last enabled owner and cannot be {doing}: make another owner first",
            target.email
        )));
    }
    Ok(())
}

/// Ends every open session of a staff account.
pub(crate) async fn end_sessions<C: sea_orm::ConnectionTrait>(
    db: &C,
    staff_id: i64,
    now: DateTime<Utc>,
) -> Result<u64> {
    let r = session::Entity::update_many()
        .col_expr(
            session::Column::EndedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(session::Column::StaffId.eq(staff_id))
        .filter(session::Column::EndedAt.is_null())
        .exec(db)
        .await
        .map_err(db_err("ending sessions"))?;
    Ok(r.rows_affected)
}

/// One change to staff account `id`: `column` set to `value` (and `updated_at`), its
/// sessions ended when `end_sessions_too`, and the audit entry `action` — all in one
/// transaction, so no change commits without its entry. Answers the sessions ended.
async fn change(
    store: &Store,
    by: &audit::Actor,
    target: &staff::Model,
    (column, value): (staff::Column, sea_orm::Value),
    end_sessions_too: bool,
    (action, before, after): (Action, Option<serde_json::Value>, Option<serde_json::Value>),
    now: DateTime<Utc>,
) -> Result<u64> {
    let doing = action.as_str();
    let _turn = store.write_turn().await;
    let txn = store.db().begin().await.map_err(db_err(doing))?;
    staff::Entity::update_many()
        .col_expr(column, sea_orm::sea_query::Expr::value(value))
        .col_expr(
            staff::Column::UpdatedAt,
            sea_orm::sea_query::Expr::value(now),
        )
        .filter(staff::Column::Id.eq(target.id))
        .exec(&txn)
        .await
        .map_err(db_err(doing))?;
    let ended = if end_sessions_too {
        end_sessions(&txn, target.id, now).await?
    } else {
        0
    };
    let after = after.map(|mut a| {
        if end_sessions_too {
            a["sessions_ended"] = json!(ended);
        }
        a
    });
    let id = Some(target.email.clone());
    audit::record(&txn, by, action, id, before, after, now).await?;
    txn.commit().await.map_err(db_err(doing))?;
    Ok(ended)
}

/// Disables an account: it can no longer log in, its sessions end and its tokens are
/// refused. The last enabled owner is never disabled.
pub async fn disable(
    store: &Store,
    actor: &Actor,
    by: &audit::Actor,
    email: &str,
    now: DateTime<Utc>,
) -> Result<StaffView> {
    manager(store, actor).await?;
    let target = find(store, email).await?;
    if target.disabled_at.is_some() {
        return view(store, target).await;
    }
    keep_an_owner(store, &target, "disabled").await?;
    let entry = (
        Action::StaffDisable,
        Some(json!({ "disabled": false })),
        Some(json!({ "disabled": true })),
    );
    let set = (staff::Column::DisabledAt, Some(now).into());
    change(store, by, &target, set, true, entry, now).await?;
    view(store, get(store, target.id).await?).await
}

/// Enables a disabled account again (its ended sessions stay ended).
pub async fn enable(
    store: &Store,
    actor: &Actor,
    by: &audit::Actor,
    email: &str,
    now: DateTime<Utc>,
) -> Result<StaffView> {
    manager(store, actor).await?;
    let target = find(store, email).await?;
    if target.disabled_at.is_none() {
        return view(store, target).await;
    }
    let entry = (
        Action::StaffEnable,
        Some(json!({ "disabled": true })),
        Some(json!({ "disabled": false })),
    );
    let set = (
        staff::Column::DisabledAt,
        Option::<DateTime<Utc>>::None.into(),
    );
    change(store, by, &target, set, false, entry, now).await?;
    view(store, get(store, target.id).await?).await
}

/// A new password for an account, by a manager or the account itself; every session
/// of the account ends.
pub async fn passwd(
    store: &Store,
    actor: &Actor,
    by: &audit::Actor,
    email: &str,
    password: &Password,
    now: DateTime<Utc>,
) -> Result<StaffView> {
    let target = find(store, email).await?;
    self_or_manager(store, actor, &target).await?;
    let hash = password::hash(password).await?;
    let set = (staff::Column::PasswordHash, hash.into());
    change(
        store,
        by,
        &target,
        set,
        true,
        (Action::StaffPasswd, None, None),
        now,
    )
    .await?;
    view(store, target).await
}

/// A new role. Only an owner makes an owner; the last enabled owner keeps its role.
pub async fn set_role(
    store: &Store,
    actor: &Actor,
    by: &audit::Actor,
    email: &str,
    role: Role,
    now: DateTime<Utc>,
) -> Result<StaffView> {
    manager(store, actor).await?;
    let target = find(store, email).await?;
    if target.role == role {
        return view(store, target).await;
    }
    if role == Role::Owner {
        owner_maker(store, actor).await?;
    }
    keep_an_owner(store, &target, "demoted").await?;
    let entry = (
        Action::StaffRole,
        Some(json!({ "role": target.role.to_string() })),
        Some(json!({ "role": role.to_string() })),
    );
    let set = (staff::Column::Role, role.as_str().into());
    change(store, by, &target, set, false, entry, now).await?;
    view(store, get(store, target.id).await?).await
}

/// The departments an account works in, replaced by `names`.
pub async fn set_departments(
    store: &Store,
    actor: &Actor,
    by: &audit::Actor,
    email: &str,
    names: &[String],
    now: DateTime<Utc>,
) -> Result<StaffView> {
    manager(store, actor).await?;
    let target = find(store, email).await?;
    let departments = department_ids(store, names).await?;
    let before = departments_of(store, target.id).await?;
    let mut after: Vec<&str> = departments.iter().map(|d| d.name.as_str()).collect();
    after.sort_unstable();
    let _turn = store.write_turn().await;
    let txn = store
        .db()
        .begin()
        .await
        .map_err(db_err("setting departments"))?;
    staff_department::Entity::delete_many()
        .filter(staff_department::Column::StaffId.eq(target.id))
        .exec(&txn)
        .await
        .map_err(db_err("setting departments"))?;
    for d in &departments {
        staff_department::ActiveModel {
            staff_id: Set(target.id),
            department_id: Set(d.id),
        }
        .insert(&txn)
        .await
        .map_err(db_err("setting departments"))?;
    }
    if before != after {
        audit::record(
            &txn,
            by,
            Action::StaffDepartments,
            Some(target.email.clone()),
            Some(json!({ "departments": before })),
            Some(json!({ "departments": after })),
            now,
        )
        .await?;
    }
    txn.commit().await.map_err(db_err("setting departments"))?;
    view(store, target).await
}

/// A staff account takes a task: it must be enabled and work in the task's department
/// (an owner or admin takes any task).
pub async fn take_task(
    store: &Store,
    task_id: i64,
    email: &str,
    now: DateTime<Utc>,
) -> Result<task::Model> {
    let t = provisor_engine::tasks::get_task(store, task_id).await?;
    let email = input::email(Name::Field("staff"), email)?;
    let who = find(store, &email).await?;
    if who.disabled_at.is_some() {
        return Err(forbidden(format!(
            "staff account {} is disabled and cannot take tasks",
            who.email
        )));
    }
    if !role_includes(who.role, Role::Admin) {
        let mine = departments_of(store, who.id).await?;
        if !mine.contains(&t.department) {
            return Err(forbidden(format!(
                "staff account {} does not work in department {}, which task #{task_id} belongs to: add the department to the account first",
                who.email, t.department
            )));
        }
    }
    provisor_engine::tasks::take(store, task_id, who.id, &who.name, now).await
}
