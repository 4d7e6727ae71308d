//! Key rotation: every handler's secrets, and every staff account's TOTP state, sealed
//! again with a new key.

use sea_orm::{ActiveValue::Set, ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use serde_json::Value;

use super::{open_settings, seal_settings, sealed_key_ids};
use crate::entities::{handler, secret_key, staff};
use crate::error::{Error, ErrorKind, Fix, Message, Result};
use crate::{db_err, Store};

/// What `provisor secrets rotate` did.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Rotation {
    /// The key every secret is now sealed with.
    pub key_id: String,
    /// The keys it replaced.
    pub retired: Vec<String>,
    /// Handlers whose secrets were sealed again.
    pub handlers: usize,
    /// Secret values sealed again.
    pub values: usize,
    /// Where the key lives.
    pub source: String,
}

/// Seals every handler's secrets with a new key: the key file first gains the new key
/// (the old one stays readable), then every value is sealed again in one transaction,
/// and only after the commit does the key file drop the old key. A crash at any point
/// leaves every value readable; running it again finishes the job.
pub async fn rotate(store: &Store) -> Result<Rotation> {
    let ring = store
        .secrets()
        .ok_or_else(|| Error::Invalid("this process has no secret key to rotate".to_string()))?;
    let before = ring.ids();
    let key_id = ring.begin_rotation()?;
    let db = store.db();
    let mut handlers_done = 0;
    let mut values = 0;
    // A handler added by another process while this runs may still be sealed with the
    // old key: sealing is repeated until none is, before the old key is dropped.
    for _round in 0..5 {
        let _turn = store.write_turn().await;
        let txn = db
            .begin()
            .await
            .map_err(db_err("starting the key rotation"))?;
        let rows = handler::Entity::find()
            .all(&txn)
            .await
            .map_err(db_err("reading handlers"))?;
        let mut changed_here = 0;
        for h in rows {
            let Ok(mut v) = serde_json::from_str::<Value>(&h.settings) else {
                continue;
            };
            let mut ids = Vec::new();
            sealed_key_ids(&v, &mut ids);
            if ids.iter().all(|id| *id == key_id) {
                continue;
            }
            let paths = open_settings(Some(ring), &h.name, &mut v)?;
            let n = seal_settings(ring, &h.name, &mut v, &paths)?;
            handler::Entity::update_many()
                .col_expr(
                    handler::Column::Settings,
                    sea_orm::sea_query::Expr::value(v.to_string()),
                )
                .filter(handler::Column::Id.eq(h.id))
                .exec(&txn)
                .await
                .map_err(db_err("storing re-sealed settings"))?;
            changed_here += 1;
            values += n;
        }
        let totp_here = reseal_totp(ring, &key_id, &txn).await?;
        values += totp_here;
        secret_key::Entity::insert(secret_key::ActiveModel {
            id: Set(1),
            key_id: Set(key_id.clone()),
            // Wall time: when the key changed, an event of the key file that other
            // processes also see; the store holds no clock.
            updated_at: Set(chrono::Utc::now()),
        })
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(secret_key::Column::Id)
                .update_columns([secret_key::Column::KeyId, secret_key::Column::UpdatedAt])
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await
        .map_err(db_err("recording the new secret key"))?;
        txn.commit()
            .await
            .map_err(db_err("committing the key rotation"))?;
        handlers_done += changed_here;
        if changed_here == 0 && totp_here == 0 {
            ring.finish_rotation()?;
            return Ok(Rotation {
                retired: before.into_iter().filter(|id| *id != key_id).collect(),
                key_id,
                handlers: handlers_done,
                values,
                source: ring.source().to_string(),
            });
        }
    }
    Err(Error::refused(
        ErrorKind::Storage,
        Message::new("handlers kept being written with an older key while rotating; every value is readable (the key file still holds the older key): ")
            .fix(Fix::RotateSecrets)
            .text(" when no other process is adding handlers"),
    ))
}

/// Seals every staff account's TOTP state sealed with another key again with `key_id`;
/// answers how many were.
async fn reseal_totp(
    ring: &super::KeyRing,
    key_id: &str,
    txn: &sea_orm::DatabaseTransaction,
) -> Result<usize> {
    let rows = staff::Entity::find()
        .filter(staff::Column::TotpSecret.is_not_null())
        .all(txn)
        .await
        .map_err(db_err("reading staff TOTP secrets"))?;
    let mut n = 0;
    for s in rows {
        let Some(sealed) = s.totp_secret else {
            continue;
        };
        if sealed.split(':').nth(1) == Some(key_id) {
            continue;
        }
        let aad = super::staff_totp_aad(s.id);
        let value = ring.open(&sealed, &aad).map_err(|e| {
            Error::Invalid(format!(
                "staff account {}: its TOTP secret does not open with the secret key ({e:?}); turn TOTP off for it and rotate again"
            , s.email))
        })?;
        let again = ring.seal(&value, &aad)?;
        let Some(text) = super::sealed_text(&again) else {
            continue;
        };
        staff::Entity::update_many()
            .col_expr(
                staff::Column::TotpSecret,
                sea_orm::sea_query::Expr::value(text.to_string()),
            )
            .filter(staff::Column::Id.eq(s.id))
            .exec(txn)
            .await
            .map_err(db_err("storing a re-sealed TOTP secret"))?;
        n += 1;
    }
    Ok(n)
}
