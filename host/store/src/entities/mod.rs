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

/// For a typed column's enum (a sea-orm `DeriveActiveEnum` stored as text): `as_str`
/// (the stored word), `parse` (a word back to the variant), `ALL` (every variant, in
/// the order given), `join` (words for a message) and `Display` (the word). The words
/// must be the enum's `string_value`s, which `words_match!` checks in each file's tests.
/// No comparison with text: what people type is parsed first.
macro_rules! words {
    ($t:ident { $($v:ident => $w:literal),* $(,)? }) => {
        impl $t {
            /// Every variant, in the order the words are listed.
            pub const ALL: &'static [$t] = &[$($t::$v),*];

            /// The stored word.
            pub fn as_str(&self) -> &'static str {
                match self {
                    $($t::$v => $w,)*
                }
            }

            /// The variant stored as `word`, if any.
            pub fn parse(word: &str) -> Option<$t> {
                match word {
                    $($w => Some($t::$v),)*
                    _ => None,
                }
            }

            /// The words of `list`, `sep` between them (`"active or suspended"`).
            pub fn join(list: &[$t], sep: &str) -> String {
                list.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(sep)
            }
        }

        impl std::fmt::Display for $t {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

/// Checks what `words!` promises for each enum named: every variant's word is its
/// stored value, its `Display` and its JSON text, `parse` gives the variant back, and
/// `ALL` lists every variant in declaration order.
#[cfg(test)]
macro_rules! words_match {
    ($($t:ident),* $(,)?) => {$(
        {
            use sea_orm::{ActiveEnum, Iterable};
            assert_eq!($t::iter().collect::<Vec<_>>(), $t::ALL.to_vec());
            for v in $t::iter() {
                assert_eq!(v.as_str(), v.to_value());
                assert_eq!(v.to_string(), v.to_value());
                assert_eq!(serde_json::to_value(v).unwrap(), v.to_value().as_str());
                assert_eq!($t::parse(v.as_str()), Some(v));
            }
            assert_eq!($t::parse("no such word"), None);
            assert_eq!(
                $t::join(&$t::ALL[..2], " or "),
                format!("{} or {}", $t::ALL[0], $t::ALL[1])
            );
        }
    )*};
}

pub mod api_token;
pub mod audit_entry;
pub mod billable_item;
pub mod billing_action;
pub mod billing_term;
pub mod client;
pub mod client_login;
pub mod credit_entry;
pub mod currency;
pub mod daily_run;
pub mod department;
pub mod handler;
pub mod idempotency_key;
pub mod invoice;
pub mod invoice_line;
pub mod invoice_sequence;
pub mod kinds;
pub mod kv_entry;
pub mod login_attempt;
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
pub mod session;
pub mod staff;
pub mod staff_department;
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
            staff,
            staff_department,
            client_login,
            session,
            api_token,
            audit_entry,
            login_attempt,
            idempotency_key,
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
