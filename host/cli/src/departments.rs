//! `provisor departments`: who takes manual tasks.

use clap::Subcommand;

use super::{output, Ctx, JsonFlag};
use provisor_engine::views;
use provisor_store::error::Result;

#[derive(Debug, Subcommand)]
pub(crate) enum DepartmentsCmd {
    /// Adds a department (it takes the manual tasks of the handlers that name it).
    Add {
        name: String,
        #[arg(long)]
        email: Option<String>,
    },
    /// Every department with its open tasks.
    List(JsonFlag),
}

pub(crate) async fn run(ctx: &Ctx, cmd: DepartmentsCmd) -> Result<()> {
    let store = ctx.store().await?;
    match cmd {
        DepartmentsCmd::Add { name, email } => {
            let d = provisor_app::catalog::add_department(
                &store,
                &provisor_app::audit::Actor::shell(),
                &name,
                email,
                ctx.clock.now(),
            )
            .await?;
            println!("department {} added", d.name);
        }
        DepartmentsCmd::List(flag) => {
            let rows: Vec<serde_json::Value> = views::departments(&store)
                .await?
                .into_iter()
                .map(|d| serde_json::json!({"name": d.name, "email": d.email, "open_tasks": d.open_tasks}))
                .collect();
            if flag.json {
                output::json(&rows);
            } else {
                output::table(
                    &["NAME", "EMAIL", "OPEN TASKS"],
                    &rows
                        .iter()
                        .map(|r| {
                            vec![
                                r["name"].as_str().unwrap_or("").to_string(),
                                r["email"].as_str().unwrap_or("-").to_string(),
                                r["open_tasks"].to_string(),
                            ]
                        })
                        .collect::<Vec<_>>(),
                );
            }
        }
    }
    Ok(())
}
