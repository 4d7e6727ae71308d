//! `provisor init` and `provisor secrets`: the home, and the key that seals the
//! handlers' secret settings.

use clap::Subcommand;

use super::{output, Ctx, JsonFlag};
use provisor_store::error::Result;

#[allow(
    clippy::doc_markdown,
    reason = "these doc comments are the --help text, which prints backticks as they are"
)]
#[derive(Debug, Subcommand)]
pub(crate) enum SecretsCmd {
    /// Makes a new key and seals every handler's secrets with it in one transaction;
    /// the key file keeps the old key until that has committed. With the key in
    /// PROVISOR_SECRET_KEY, put the new key first in the list (`NEW,OLD`), run this,
    /// then drop the old one.
    Rotate(JsonFlag),
}

/// `provisor init`: the home, the database and the secret key.
pub(crate) async fn init(ctx: &Ctx) -> Result<()> {
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
    Ok(())
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
