//! Departments: the staff groups that handlers escalate tasks to.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
};

use provisor_store::entities::department;
use provisor_store::error::{Error, Fix, Message, Name, Result};
use provisor_store::input;
use provisor_store::{db_err, Store};

pub(crate) fn check_label(what: &str, name: &str) -> Result<()> {
    input::check_line(&format!("the {what} name"), name, input::NAME_MAX)?;
    let ok = !name.trim().is_empty()
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | ' ' | '(' | ')' | '/'));
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "{what} name {:?} is not valid: use 1-{} letters, digits, spaces and - _ . ( ) /",
            input::preview(name),
            input::NAME_MAX
        )))
    }
}

/// Adds a department.
pub async fn add_department(
    store: &Store,
    name: &str,
    email: Option<String>,
    now: chrono::DateTime<Utc>,
) -> Result<department::Model> {
    check_label("department", name)?;
    let email = email
        .map(|e| input::email(Name::Field("email"), &e))
        .transpose()?;
    if find_department(store, name).await?.is_some() {
        return Err(Error::Invalid(format!("department {name} already exists")));
    }
    department::ActiveModel {
        name: Set(name.to_string()),
        email: Set(email),
        created_at: Set(now),
        ..Default::default()
    }
    .insert(store.db())
    .await
    .map_err(db_err("storing the department"))
}

/// The department called `name`, if any.
pub async fn find_department(store: &Store, name: &str) -> Result<Option<department::Model>> {
    department::Entity::find()
        .filter(department::Column::Name.eq(name))
        .one(store.db())
        .await
        .map_err(db_err("reading departments"))
}

/// Every department.
pub async fn departments(store: &Store) -> Result<Vec<department::Model>> {
    department::Entity::find()
        .order_by_asc(department::Column::Name)
        .all(store.db())
        .await
        .map_err(db_err("reading departments"))
}

/// Checks that a department exists, naming how to add it.
pub async fn require_department(store: &Store, name: &str) -> Result<()> {
    match find_department(store, name).await? {
        Some(_) => Ok(()),
        None => Err(Error::invalid(
            Message::new(format!("department {name} does not exist; ")).fix(Fix::AddDepartment {
                name: name.to_string(),
            }),
        )),
    }
}
