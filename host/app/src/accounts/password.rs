//! Passwords: the policy a new password must meet, and argon2id hashing with OWASP's
//! parameters (m = 19456 KiB, t = 2, p = 1) into PHC strings. Hashing and checking run
//! on a blocking thread, off the async runtime.
//!
//! Owns: [`Password`], the policy, the hash format, the dummy hash an unknown account
//! is checked against. Must not: log, print or keep a password or a hash anywhere but
//! the account's row.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};

use provisor_store::error::{Error, ErrorKind, Message, Result};

/// The shortest password accepted, in characters.
pub const MIN_CHARS: usize = 12;
/// The longest password accepted, in characters (it bounds the work of a hash).
pub const MAX_CHARS: usize = 1024;

/// A password as typed, parsed at the edge. Its `Debug` never shows the value.
#[derive(Clone)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(hidden)")
    }
}

impl Password {
    /// A new password, checked against the policy: at least [`MIN_CHARS`] and at most
    /// [`MAX_CHARS`] characters, and not the account's email.
    pub fn new(text: impl Into<String>, email: &str) -> Result<Password> {
        let text = text.into();
        let n = text.chars().count();
        if n < MIN_CHARS {
            return Err(Error::invalid(Message::about(
                "password",
                format!("is {n} characters long; a password needs at least {MIN_CHARS}"),
            )));
        }
        if n > MAX_CHARS {
            return Err(Error::invalid(Message::about(
                "password",
                format!("is {n} characters long; the limit is {MAX_CHARS}"),
            )));
        }
        if text.trim().eq_ignore_ascii_case(email.trim()) {
            return Err(Error::invalid(Message::about(
                "password",
                "is the account's email; choose another",
            )));
        }
        Ok(Password(text))
    }

    /// A password given to log in: not checked against the policy (an old password
    /// may predate it), only bounded, so a huge input costs no more than a long one.
    pub fn given(text: impl Into<String>) -> Password {
        let text: String = text.into();
        Password(text.chars().take(MAX_CHARS + 1).collect())
    }

    fn bytes(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

/// The hasher with OWASP's argon2id parameters.
fn hasher() -> Result<Argon2<'static>> {
    let params = Params::new(19_456, 2, 1, None)
        .map_err(|e| Error::Io(format!("the argon2 parameters are refused: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// The PHC string of `password`, with a fresh random salt (on a blocking thread).
pub async fn hash(password: &Password) -> Result<String> {
    let password = password.clone();
    tokio::task::spawn_blocking(move || {
        let mut salt = [0u8; 16];
        getrandom::getrandom(&mut salt)
            .map_err(|e| Error::Io(format!("the system's random source failed: {e}")))?;
        let salt = SaltString::encode_b64(&salt)
            .map_err(|e| Error::Io(format!("cannot encode a password salt: {e}")))?;
        hasher()?
            .hash_password(password.bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| Error::Io(format!("cannot hash the password: {e}")))
    })
    .await
    .map_err(|e| Error::Io(format!("the password hashing thread failed: {e}")))?
}

/// A hash of a password nobody has, made with the same parameters: an unknown account
/// is checked against it, so it takes as long to refuse as a wrong password.
const DUMMY: &str = "$argon2id$v=19$m=19456,t=2,p=1$cHJvdmlzb3ItZHVtbXktc2FsdA$6w7u0Q2Cl7c3b1mQZ9i3nR0wX0JX0r3v0y6Q3Q2bI4M";

/// Whether `password` matches the PHC string `phc` (on a blocking thread). With no
/// hash (no such account) it is checked against a dummy hash and answers false, in
/// the same time.
pub async fn verify(password: &Password, phc: Option<&str>) -> Result<bool> {
    let password = password.clone();
    let known = phc.is_some();
    let phc = phc.unwrap_or(DUMMY).to_string();
    tokio::task::spawn_blocking(move || {
        count_check();
        if password.0.chars().count() > MAX_CHARS {
            // Still take a hash's time: a refusal should not be faster than a check.
            let _ = check(&Password(String::new()), &phc);
            return Ok(false);
        }
        let ok = check(&password, &phc)?;
        Ok(ok && known)
    })
    .await
    .map_err(|e| Error::Io(format!("the password checking thread failed: {e}")))?
}

fn check(password: &Password, phc: &str) -> Result<bool> {
    let parsed = PasswordHash::new(phc).map_err(|e| {
        Error::refused(
            ErrorKind::Io,
            format!("a stored password hash is not a PHC string ({e}); set the password again"),
        )
    })?;
    Ok(hasher()?.verify_password(password.bytes(), &parsed).is_ok())
}

#[cfg(test)]
static CHECKS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Counts a hash check, for the tests that prove a refusal checked none.
fn count_check() {
    #[cfg(test)]
    CHECKS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
}

/// How many password hashes were checked in this process (tests only).
#[cfg(test)]
pub(crate) fn checks() -> u64 {
    CHECKS.load(std::sync::atomic::Ordering::SeqCst)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_refuses_short_long_and_the_email() {
        assert!(Password::new("short", "a@b.example").is_err());
        assert!(Password::new("x".repeat(MAX_CHARS + 1), "a@b.example").is_err());
        assert!(Password::new("A@B.example.org", "a@b.example.org").is_err());
        let p = Password::new("correct horse battery", "a@b.example").expect("good");
        assert_eq!(format!("{p:?}"), "Password(hidden)");
    }

    #[tokio::test]
    async fn a_hash_is_argon2id_with_owasp_parameters_and_verifies() {
        let p = Password::new("correct horse battery", "a@b.example").expect("good");
        let h = hash(&p).await.expect("hash");
        assert!(h.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{h}");
        assert!(!h.contains("correct horse"));
        assert!(verify(&p, Some(&h)).await.expect("verify"));
        assert!(!verify(&Password::given("wrong one here"), Some(&h))
            .await
            .expect("verify"));
        // The dummy hash parses, and never matches.
        assert!(!verify(&p, None).await.expect("verify"));
        assert!(PasswordHash::new(DUMMY).is_ok());
    }
}
