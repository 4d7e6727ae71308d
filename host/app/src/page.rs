//! Cursor pagination over any listing ordered by id (Stripe's `limit` and
//! `starting_after`): the one way every listing of the HTTP API, and later the CLI's,
//! reads a page.
//!
//! Owns: the bounds of `limit` and what an unknown cursor means. Must not: know any
//! front end's parameter syntax or envelope; the web crate renders the page.

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select};

use provisor_store::db_err;
use provisor_store::error::{Error, Message, Result};
use provisor_store::Store;

/// The page size when none is asked for.
pub const DEFAULT_LIMIT: u64 = 20;
/// The largest page size.
pub const MAX_LIMIT: u64 = 100;

/// Which page: at most `limit` rows with ids above `starting_after`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// How many rows, 1 to [`MAX_LIMIT`].
    pub limit: u64,
    /// The id of the last row of the page before (none: the first page).
    pub starting_after: Option<i64>,
}

impl Default for Cursor {
    fn default() -> Self {
        Cursor {
            limit: DEFAULT_LIMIT,
            starting_after: None,
        }
    }
}

impl Cursor {
    /// A cursor from a page size as given (none: [`DEFAULT_LIMIT`]) and the id to start
    /// after; a size out of range is refused, naming `limit`.
    pub fn new(limit: Option<i64>, starting_after: Option<i64>) -> Result<Cursor> {
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(n) if (1..=MAX_LIMIT as i64).contains(&n) => n as u64,
            Some(n) => {
                return Err(Error::invalid(Message::about(
                    "limit",
                    format!(
                    "{n} is out of range: ask for 1 to {MAX_LIMIT} rows (default {DEFAULT_LIMIT})"
                ),
                )))
            }
        };
        Ok(Cursor {
            limit,
            starting_after,
        })
    }
}

/// One page of rows, in id order.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<M> {
    /// The rows.
    pub data: Vec<M>,
    /// Whether rows follow the last one.
    pub has_more: bool,
}

/// The page `cursor` asks for of `select` (any filters already applied), ordered by
/// `id`. A `starting_after` that is not among the rows `select` can see is refused,
/// naming `starting_after`: a cursor from another listing, or an object the caller may
/// not see, is never taken as a position.
pub async fn read<E, C>(
    store: &Store,
    select: Select<E>,
    id: C,
    cursor: Cursor,
) -> Result<Page<E::Model>>
where
    E: EntityTrait,
    C: ColumnTrait,
{
    walk(store, select, id, cursor, false).await
}

/// [`read`] newest first: ordered by `id` descending, a page's `starting_after` the
/// last (lowest) id of the page before, so the next page holds the older rows. For
/// logs (the audit log), where ids are the order rows were written in.
pub async fn read_newest_first<E, C>(
    store: &Store,
    select: Select<E>,
    id: C,
    cursor: Cursor,
) -> Result<Page<E::Model>>
where
    E: EntityTrait,
    C: ColumnTrait,
{
    walk(store, select, id, cursor, true).await
}

async fn walk<E, C>(
    store: &Store,
    select: Select<E>,
    id: C,
    cursor: Cursor,
    descending: bool,
) -> Result<Page<E::Model>>
where
    E: EntityTrait,
    C: ColumnTrait,
{
    let mut select = select;
    if let Some(after) = cursor.starting_after {
        let known = select
            .clone()
            .filter(id.eq(after))
            .one(store.db())
            .await
            .map_err(db_err("reading a listing"))?;
        if known.is_none() {
            return Err(Error::invalid(Message::about(
                "starting_after",
                format!("{after} is not an id in this listing: start from the first page, or pass the id of the last object of the page before"),
            )));
        }
        select = if descending {
            select.filter(id.lt(after))
        } else {
            select.filter(id.gt(after))
        };
    }
    let ordered = if descending {
        select.order_by_desc(id)
    } else {
        select.order_by_asc(id)
    };
    let mut data = ordered
        .limit(cursor.limit + 1)
        .all(store.db())
        .await
        .map_err(db_err("reading a listing"))?;
    let has_more = data.len() as u64 > cursor.limit;
    data.truncate(cursor.limit as usize);
    Ok(Page { data, has_more })
}

#[cfg(test)]
mod tests;
