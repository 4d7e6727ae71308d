//! Gapless invoice numbers: one counter row per year, upserted and locked until the
//! transaction ends.

use super::*;

/// The next number of `year`: one upsert on the year's counter row, which stays locked
/// until the transaction ends.
pub(super) async fn next_number<C: ConnectionTrait>(db: &C, year: i32) -> Result<i64> {
    let backend = db.get_database_backend();
    // The same bound statement on both backends; only the placeholder syntax differs
    // (`$1` on PostgreSQL, `?1` on SQLite).
    let sql = match backend {
        DbBackend::Postgres => {
            "INSERT INTO invoice_sequences (year, last) VALUES ($1, 1) \
             ON CONFLICT (year) DO UPDATE SET last = invoice_sequences.last + 1 RETURNING last"
        }
        _ => {
            "INSERT INTO invoice_sequences (year, last) VALUES (?1, 1) \
             ON CONFLICT (year) DO UPDATE SET last = invoice_sequences.last + 1 RETURNING last"
        }
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(backend, sql, [year.into()]))
        .await
        .map_err(db_err("numbering the invoice"))?
        .ok_or_else(|| Error::Storage("numbering the invoice: no number came back".into()))?;
    row.try_get::<i64>("", "last")
        .map_err(db_err("numbering the invoice"))
}

/// Takes `n` consecutive numbers of `year` with one upsert on the year's counter row
/// (locked until the transaction ends, as [`next_number`]); returns the first.
pub(super) async fn reserve_numbers<C: ConnectionTrait>(db: &C, year: i32, n: i64) -> Result<i64> {
    let backend = db.get_database_backend();
    // As in `next_number`: one statement, only the placeholder syntax differs.
    let sql = match backend {
        DbBackend::Postgres => {
            "INSERT INTO invoice_sequences (year, last) VALUES ($1, $2) \
             ON CONFLICT (year) DO UPDATE SET last = invoice_sequences.last + $2 RETURNING last"
        }
        _ => {
            "INSERT INTO invoice_sequences (year, last) VALUES (?1, ?2) \
             ON CONFLICT (year) DO UPDATE SET last = invoice_sequences.last + ?2 RETURNING last"
        }
    };
    let row = db
        .query_one_raw(Statement::from_sql_and_values(
            backend,
            sql,
            [year.into(), n.into()],
        ))
        .await
        .map_err(db_err("numbering the invoices"))?
        .ok_or_else(|| Error::Storage("numbering the invoices: no number came back".into()))?;
    let last = row
        .try_get::<i64>("", "last")
        .map_err(db_err("numbering the invoices"))?;
    Ok(last - n + 1)
}
