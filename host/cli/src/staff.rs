//! `provisor staff` and `provisor tokens`: staff accounts, their second factor, and API
//! tokens. Passwords come from a terminal prompt (not echoed) or `--password-stdin`,
//! never from an argument; a token is printed once, alone on stdout.

use std::io::{BufRead, IsTerminal};

use clap::{ArgGroup, Subcommand};

use super::{output, Ctx, JsonFlag};
use provisor_app::accounts::api_tokens::{self, NewToken, Scope, TokenView};
use provisor_app::accounts::staff::{self, NewStaff, StaffView};
use provisor_app::accounts::{totp, Actor, Password};
use provisor_store::entities::kinds::Role;
use provisor_store::error::{Error, Message, Result};

#[allow(
    clippy::doc_markdown,
    reason = "these doc comments are the --help text, which prints backticks as they are"
)]
#[derive(Debug, Subcommand)]
pub(crate) enum StaffCmd {
    /// Adds a staff account. The first one must be the owner (`--owner`), made only
    /// while there is no staff account; after that only an owner makes another.
    Add {
        email: String,
        #[arg(long)]
        name: String,
        /// owner, admin, billing or support.
        #[arg(long, required_unless_present = "owner")]
        role: Option<String>,
        /// A department the account works in (repeat).
        #[arg(long = "department")]
        departments: Vec<String>,
        /// Make the first owner (only while there is no staff account).
        #[arg(long)]
        owner: bool,
        /// Read the password from the first line of standard input.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Every staff account.
    List(JsonFlag),
    /// One staff account.
    Show {
        email: String,
        #[command(flatten)]
        json: JsonFlag,
    },
    /// Disables an account: it cannot log in, its sessions end, its tokens are refused.
    Disable { email: String },
    /// Enables a disabled account.
    Enable { email: String },
    /// Sets a new password (every session of the account ends).
    Passwd {
        email: String,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Sets the account's role (owner, admin, billing or support).
    Roles { email: String, role: String },
    /// Sets the departments the account works in (none: no department).
    Departments {
        email: String,
        departments: Vec<String>,
    },
    /// TOTP second factor: without a flag, enrols a new secret and prints its
    /// otpauth:// URI once; `--confirm CODE` turns it on; `--off` turns it off.
    #[command(group(ArgGroup::new("step").args(["confirm", "off"])))]
    Totp {
        email: String,
        /// A code from the authenticator app, to turn the enrolled secret on.
        #[arg(long, value_name = "CODE")]
        confirm: Option<String>,
        /// Turn the second factor off.
        #[arg(long)]
        off: bool,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum TokensCmd {
    /// Issues an API token and prints it once, alone on stdout.
    #[command(group(ArgGroup::new("scope").args(["staff", "role"]).multiple(true).required(true)))]
    Add {
        name: String,
        /// The staff account it acts for (with --role: narrowed to that role).
        #[arg(long)]
        staff: Option<String>,
        /// Its role: owner, admin, billing or support.
        #[arg(long)]
        role: Option<String>,
        /// Only reading requests.
        #[arg(long)]
        read_only: bool,
        /// A route it is limited to, `METHOD /v1/…`, `/v1/…` or `/v1/…/*` (repeat).
        #[arg(long = "endpoint")]
        endpoints: Vec<String>,
        /// When it stops working: YYYY-MM-DD (midnight UTC) or an RFC 3339 time.
        #[arg(long)]
        expires: Option<String>,
    },
    /// Every token: prefix, name, scope, expiry, last use, revocation (never the token).
    List(JsonFlag),
    /// Revokes a token.
    Revoke { id: i64 },
}

/// The CLI's actor: the shell user running it, by uid (read from `/proc/self`, not
/// from the environment, which anyone can set).
pub(crate) fn shell() -> Actor {
    use std::os::unix::fs::MetadataExt;
    let user = std::fs::metadata("/proc/self")
        .map_or_else(|_| "shell".to_string(), |m| format!("uid {}", m.uid()));
    Actor::Shell { user }
}

pub(crate) fn parse_role(word: &str) -> Result<Role> {
    Role::parse(&word.trim().to_lowercase()).ok_or_else(|| {
        Error::invalid(Message::about(
            "role",
            format!(
                "{:?} is not a role: give {}",
                provisor_store::input::preview(word),
                Role::join(Role::ALL, ", ")
            ),
        ))
    })
}

/// A password from the first line of stdin, or typed twice at the terminal.
pub(crate) fn read_password(from_stdin: bool, email: &str) -> Result<Password> {
    let text = if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| Error::io("cannot read the password from standard input", e))?;
        line.trim_end_matches(['\n', '\r']).to_string()
    } else if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("password for {email}: "))
            .map_err(|e| Error::io("cannot read the password", e))?;
        let again = rpassword::prompt_password("the same password again: ")
            .map_err(|e| Error::io("cannot read the password", e))?;
        if first != again {
            return Err(Error::invalid(
                "the two passwords differ; nothing was changed",
            ));
        }
        first
    } else {
        return Err(Error::invalid(
            "no password: standard input is not a terminal, so give --password-stdin and the password on its first line",
        ));
    };
    Password::new(text, email)
}

fn staff_row(s: &StaffView) -> Vec<String> {
    vec![
        s.id.to_string(),
        output::cell(&s.email),
        output::cell(&s.name),
        s.role.to_string(),
        output::cell(&s.departments.join(",")),
        if s.totp { "on" } else { "-" }.to_string(),
        s.disabled_at
            .map_or("enabled".to_string(), |_| "disabled".to_string()),
    ]
}

fn print_staff(list: &[StaffView], json: bool) {
    if json {
        output::json(&list);
    } else {
        output::table(
            &[
                "ID",
                "EMAIL",
                "NAME",
                "ROLE",
                "DEPARTMENTS",
                "TOTP",
                "STATE",
            ],
            &list.iter().map(staff_row).collect::<Vec<_>>(),
        );
    }
}

pub(crate) async fn run(ctx: &Ctx, cmd: StaffCmd) -> Result<()> {
    let store = ctx.store().await?;
    let now = ctx.clock.now();
    let me = shell();
    let by = provisor_app::audit::Actor::shell();
    match cmd {
        StaffCmd::Add {
            email,
            name,
            role,
            departments,
            owner,
            password_stdin,
        } => {
            let role = match (&role, owner) {
                (None, _) => Role::Owner,
                (Some(r), _) => parse_role(r)?,
            };
            if owner && role != Role::Owner {
                return Err(Error::invalid(Message::about(
                    "role",
                    format!("{role} contradicts --owner"),
                )));
            }
            let password = read_password(password_stdin, &email)?;
            let new = NewStaff {
                email,
                name,
                role,
                password,
                departments,
            };
            let s = if owner {
                staff::add_owner(&store, &by, new, now).await?
            } else {
                staff::add(&store, &me, &by, new, now).await?
            };
            println!("staff account #{} {} added as {}", s.id, s.email, s.role);
        }
        StaffCmd::List(flag) => print_staff(&staff::list(&store).await?, flag.json),
        StaffCmd::Show { email, json } => {
            let s = staff::show(&store, &email).await?;
            if json.json {
                output::json(&s);
            } else {
                print_staff(&[s], false);
            }
        }
        StaffCmd::Disable { email } => {
            let s = staff::disable(&store, &me, &by, &email, now).await?;
            println!("staff account {} disabled; its sessions ended", s.email);
        }
        StaffCmd::Enable { email } => {
            let s = staff::enable(&store, &me, &by, &email, now).await?;
            println!("staff account {} enabled", s.email);
        }
        StaffCmd::Passwd {
            email,
            password_stdin,
        } => {
            let password = read_password(password_stdin, &email)?;
            let s = staff::passwd(&store, &me, &by, &email, &password, now).await?;
            println!("password of {} changed; its sessions ended", s.email);
        }
        StaffCmd::Roles { email, role } => {
            let s = staff::set_role(&store, &me, &by, &email, parse_role(&role)?, now).await?;
            println!("staff account {} is now {}", s.email, s.role);
        }
        StaffCmd::Departments { email, departments } => {
            let s = staff::set_departments(&store, &me, &by, &email, &departments, now).await?;
            println!(
                "staff account {} works in: {}",
                s.email,
                if s.departments.is_empty() {
                    "no department".to_string()
                } else {
                    s.departments.join(", ")
                }
            );
        }
        StaffCmd::Totp {
            email,
            confirm,
            off,
        } => {
            if off {
                let s = totp::turn_off(&store, &me, &by, &email, now).await?;
                println!("TOTP is off for {}", s.email);
            } else if let Some(code) = confirm {
                let s = totp::confirm(&store, &me, &by, &email, &code, now).await?;
                println!("TOTP is on for {}: logins need a code from now on", s.email);
            } else {
                let e = totp::enroll(&store, &me, &by, &email, now).await?;
                println!("{}", e.uri);
                eprintln!(
                    "add this otpauth:// URI to an authenticator app (it is shown once), then turn it on with `provisor staff totp {email} --confirm CODE`"
                );
            }
        }
    }
    Ok(())
}

fn expires_at(text: &str) -> Result<chrono::DateTime<chrono::Utc>> {
    if let Ok(d) = chrono::NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d") {
        return Ok(d.and_time(chrono::NaiveTime::MIN).and_utc());
    }
    chrono::DateTime::parse_from_rfc3339(text.trim())
        .map(|t| t.with_timezone(&chrono::Utc))
        .map_err(|_| {
            Error::invalid(Message::about(
                "expires",
                format!(
                    "{:?} is not a date: give YYYY-MM-DD or an RFC 3339 time",
                    provisor_store::input::preview(text)
                ),
            ))
        })
}

fn token_row(t: &TokenView) -> Vec<String> {
    let scope = match (&t.staff, t.role) {
        (Some(s), Some(r)) => format!("{s} as {r}"),
        (Some(s), None) => s.clone(),
        (None, Some(r)) => r.to_string(),
        (None, None) => "-".to_string(),
    };
    let mut limits = Vec::new();
    if t.read_only {
        limits.push("read-only".to_string());
    }
    if let Some(e) = &t.endpoints {
        limits.push(e.join(","));
    }
    let time = |v: Option<chrono::DateTime<chrono::Utc>>| {
        v.map_or("-".to_string(), |t| t.format("%Y-%m-%d %H:%M").to_string())
    };
    vec![
        t.id.to_string(),
        format!("{}…", t.prefix),
        output::cell(&t.name),
        output::cell(&scope),
        output::cell(&if limits.is_empty() {
            "-".to_string()
        } else {
            limits.join(" ")
        }),
        time(t.expires_at),
        time(t.last_used_at),
        time(t.revoked_at),
    ]
}

pub(crate) async fn tokens(ctx: &Ctx, cmd: TokensCmd) -> Result<()> {
    let store = ctx.store().await?;
    let now = ctx.clock.now();
    match cmd {
        TokensCmd::Add {
            name,
            staff,
            role,
            read_only,
            endpoints,
            expires,
        } => {
            let role = role.as_deref().map(parse_role).transpose()?;
            let scope = match (staff, role) {
                (Some(email), role) => Scope::Staff { email, role },
                (None, Some(r)) => Scope::Role(r),
                (None, None) => {
                    return Err(Error::invalid(
                        "give the staff account or the role the token acts as",
                    ))
                }
            };
            let new = NewToken {
                name,
                scope,
                read_only,
                endpoints,
                expires_at: expires.as_deref().map(expires_at).transpose()?,
            };
            let issued = api_tokens::issue(
                &store,
                &shell(),
                &provisor_app::audit::Actor::shell(),
                new,
                now,
            )
            .await?;
            println!("{}", issued.token);
            eprintln!(
                "API token #{} {} issued; it is shown this once and cannot be read again",
                issued.view.id, issued.view.name
            );
        }
        TokensCmd::List(flag) => {
            let list = api_tokens::list(&store).await?;
            if flag.json {
                output::json(&list);
            } else {
                output::table(
                    &[
                        "ID",
                        "PREFIX",
                        "NAME",
                        "SCOPE",
                        "LIMITS",
                        "EXPIRES",
                        "LAST USED",
                        "REVOKED",
                    ],
                    &list.iter().map(token_row).collect::<Vec<_>>(),
                );
            }
        }
        TokensCmd::Revoke { id } => {
            let t = api_tokens::revoke(
                &store,
                &shell(),
                &provisor_app::audit::Actor::shell(),
                id,
                now,
            )
            .await?;
            println!("API token #{} {} revoked", t.id, t.name);
        }
    }
    Ok(())
}
