//! Row types, one module per table.
//!
//! Each `Relation` mirrors the foreign keys of migration m0012 (`ON DELETE RESTRICT`):
//! `belongs_to` on the referencing side, `has_many` (`has_one` where the column is
//! unique) on the referenced side, each with a `Related` impl, so `find_related`,
//! `find_also_related` and joins can use them. The module log's relations have no keys
//! (`skip_fk`, see m0012). An addon refers to its service through `parent_id`
//! (`service::Relation::Parent`, and `Addon` the other way); a plan and its handlers are
//! related through `plan_handlers`.

/// `impl Related<super::M::Entity> for Entity` through `Relation::V`, for each `M => V`.
macro_rules! related {
    ($($m:ident => $v:ident),* $(,)?) => {
        $(
            impl Related<super::$m::Entity> for Entity {
                fn to() -> RelationDef {
                    Relation::$v.def()
                }
            }
        )*
    };
}

pub mod billable_item;
pub mod billing_action;
pub mod billing_term;
pub mod client;
pub mod credit_entry;
pub mod currency;
pub mod daily_run;
pub mod department;
pub mod handler;
pub mod invoice;
pub mod invoice_line;
pub mod invoice_sequence;
pub mod kv_entry;
pub mod module_event;
pub mod module_file;
pub mod module_log;
pub mod operation;
pub mod operation_attempt;
pub mod outbox;
pub mod payment;
pub mod plan;
pub mod plan_deposit;
pub mod plan_handler;
pub mod plan_price;
pub mod renewal;
pub mod secret_key;
pub mod service;
pub mod status;
pub mod task;
pub mod tax_rate;
pub mod usage_charge;
pub mod usage_invoice;
pub mod usage_item;
pub mod usage_plan;
pub mod usage_price;
pub mod usage_record;

#[cfg(test)]
mod tests {
    use sea_orm::{DbBackend, EntityTrait, Iterable, JoinType, QuerySelect, QueryTrait};
    use sea_orm::{RelationTrait, RelationType};

    /// (table, column, referenced table) of every `belongs_to` relation of the given
    /// entities, read from the join each one builds: those with a foreign key, and
    /// those without (`skip_fk`).
    macro_rules! belongs_to {
        ($($m:ident),* $(,)?) => {{
            let mut out = (Vec::new(), Vec::new());
            $(
                for r in super::$m::Relation::iter() {
                    let def = r.def();
                    if def.rel_type == RelationType::HasOne && !def.is_owner {
                        let list = if def.skip_fk { &mut out.1 } else { &mut out.0 };
                        let sql = super::$m::Entity::find()
                            .join_as(JoinType::InnerJoin, def, "r")
                            .build(DbBackend::Sqlite)
                            .to_string();
                        list.push(reference(&sql));
                    }
                }
            )*
            out
        }};
    }

    /// `INNER JOIN "parent" AS "r" ON "table"."column" = "r"."id"` → (table, column,
    /// parent).
    fn reference(sql: &str) -> (String, String, String) {
        let join = sql.split("INNER JOIN ").nth(1).expect("a join");
        let words: Vec<&str> = join.split('"').collect();
        // [ "", parent, " AS ", r, " ON ", table, ".", column, " = ", r, ".", id, …]
        assert_eq!(words[11], "id", "{sql}");
        (words[5].into(), words[7].into(), words[1].into())
    }

    #[test]
    fn relations_mirror_the_foreign_keys() {
        let (mut relations, without_keys) = belongs_to!(
            module_file,
            module_event,
            handler,
            secret_key,
            kv_entry,
            module_log,
            department,
            client,
            plan,
            plan_handler,
            service,
            operation,
            operation_attempt,
            task,
            outbox,
            currency,
            tax_rate,
            plan_price,
            plan_deposit,
            invoice,
            invoice_line,
            invoice_sequence,
            payment,
            credit_entry,
            usage_plan,
            usage_price,
            usage_record,
            billable_item,
            usage_item,
            usage_charge,
            usage_invoice,
            billing_term,
            renewal,
            billing_action,
            daily_run,
        );
        let mut keys: Vec<(String, String, String)> = super::super::migration::foreign_keys()
            .into_iter()
            .map(|(t, c, p)| (t.into(), c.into(), p.into()))
            .collect();
        relations.sort();
        keys.sort();
        assert_eq!(relations, keys);
        let log = |c: &str, p: &str| ("module_log".to_string(), c.to_string(), p.to_string());
        assert_eq!(
            without_keys,
            [
                log("service_id", "services"),
                log("operation_id", "operations")
            ]
        );
    }
}
