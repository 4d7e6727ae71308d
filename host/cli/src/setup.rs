//! `provisor init` and `provisor secrets`: the home, and the key that seals the
//! handlers' secret settings.

use std::io::IsTerminal;

use clap::{Args, Subcommand};

use super::{output, Ctx, JsonFlag};
use provisor_store::error::Result;

#[allow(
    clippy::doc_markdown,
    reason = "these doc comments are the --help text, which prints backticks as they are"
)]
#[derive(Debug, Subcommand)]
pub(crate) enum SecretsCmd {
    /// Makes a new key and seals every handler's secrets (and staff TOTP secrets) with it
    /// in one transaction;
    /// the key file keeps the old key until that has committed. With the key in
    /// PROVISOR_SECRET_KEY, put the new key first in the list (`NEW,OLD`), run this,
    /// then drop the old one.
    Rotate(JsonFlag),
}

#[derive(Debug, Args)]
pub(crate) struct InitArgs {
    /// The first owner's email (while there is no staff account).
    #[arg(long, requires = "owner_name")]
    owner_email: Option<String>,
    /// The first owner's name.
    #[arg(long, requires = "owner_email")]
    owner_name: Option<String>,
    /// Read the owner's password from the first line of standard input.
    #[arg(long, requires = "owner_email")]
    password_stdin: bool,
}

/// The first owner, from the flags or asked at a terminal, while there is no staff
/// account; otherwise a note on how to make one.
async fn first_owner(ctx: &Ctx, store: &provisor_store::Store, args: InitArgs) -> Result<()> {
    use provisor_app::accounts::staff;
    if staff::any(store).await? {
        if args.owner_email.is_some() {
            return Err(provisor_store::error::Error::refused(
                provisor_store::error::ErrorKind::Forbidden,
                "a staff account already exists: init makes the first owner only",
            ));
        }
        return Ok(());
    }
    let (email, name) = match (args.owner_email, args.owner_name) {
        (Some(e), Some(n)) => (e, n),
        _ if std::io::stdin().is_terminal() && !args.password_stdin => (
            ask("the first owner's email: ")?,
            ask("the first owner's name: ")?,
        ),
        _ => {
            println!("no staff account yet: make the owner with `provisor staff add EMAIL --name NAME --owner`");
            return Ok(());
        }
    };
    let password = super::staff::read_password(args.password_stdin, &email)?;
    let new = staff::NewStaff {
        email,
        name,
        role: provisor_store::entities::kinds::Role::Owner,
        password,
        departments: Vec::new(),
    };
    let s = staff::add_owner(
        store,
        &provisor_app::audit::Actor::shell(),
        new,
        ctx.clock.now(),
    )
    .await?;
    println!("owner {} ({}) added", s.email, s.name);
    Ok(())
}

fn ask(prompt: &str) -> Result<String> {
    use std::io::Write;
    print!("{prompt}");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    std::io::stdin()
        .read_line(&mut line)
        .map_err(|e| provisor_store::error::Error::io("cannot read the answer", e))?;
    Ok(line.trim().to_string())
}

/// `provisor init`: the home, the database and the secret key, and the first owner.
pub(crate) async fn init(ctx: &Ctx, args: InitArgs) -> Result<()> {
    if let Some(note) = ctx.home.init()? {
        println!("{note}");
    }
    if provisor_app::config::write_template(ctx.home.root())? {
        println!(
            "wrote {} (every setting at its default, commented out)",
            ctx.config.file.display()
        );
    }
    let store = ctx.store().await?;
    println!(
        "initialised {} (database {})",
        ctx.home.root().display(),
        store.url_shown()
    );
    if let Some(ring) = store.secrets() {
        println!(
            "handler secrets are sealed with key {} from {}: back it up, without it they cannot be read",
            ring.current_id(),
            ring.source()
        );
    }
    println!(
        "drop module files into {} or run `provisor modules install FILE`",
        ctx.home.modules_dir().display()
    );
    first_owner(ctx, &store, args).await
}

pub(crate) async fn secrets(ctx: &Ctx, cmd: SecretsCmd) -> Result<()> {
    let SecretsCmd::Rotate(flag) = cmd;
    let done =
        provisor_app::handlers::rotate_secrets(ctx, &provisor_app::audit::Actor::shell()).await?;
    if flag.json {
        output::json(&done);
    } else {
        println!(
            "sealed {} secret value(s) of {} handler(s) with key {}; {} now holds only that key{}",
            done.values,
            done.handlers,
            done.key_id,
            done.source,
            if done.retired.is_empty() {
                String::new()
            } else {
                format!(" (retired: {})", done.retired.join(", "))
            }
        );
    }
    Ok(())
}
