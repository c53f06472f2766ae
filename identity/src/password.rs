//! Password hashing (Argon2id, PHC string format) and generation.
//!
//! Hashing and verifying take tens of milliseconds of CPU on purpose; async
//! callers run them through [`hash_async`] and [`verify_async`], which move
//! the work onto tokio's blocking threads.

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use rand::Rng;

use crate::error::{Error, Result};

/// Hashes `password` with a fresh salt.
pub fn hash(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| Error::Internal(format!("hashing password: {e}")))
}

/// True if `password` matches `stored`. A stored value that is not a valid
/// hash (a user created without a password) matches nothing.
pub fn verify(stored: &str, password: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(h) => Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok(),
        Err(_) => false,
    }
}

/// [`hash`] off the async executor.
pub async fn hash_async(password: String) -> Result<String> {
    tokio::task::spawn_blocking(move || hash(&password))
        .await
        .map_err(|e| Error::Internal(format!("hashing task: {e}")))?
}

/// [`verify`] off the async executor.
pub async fn verify_async(stored: String, password: String) -> Result<bool> {
    tokio::task::spawn_blocking(move || verify(&stored, &password))
        .await
        .map_err(|e| Error::Internal(format!("verifying task: {e}")))
}

/// Verifies `password` against a fixed hash and discards the result: the
/// cost of a real check, for logins whose user does not exist.
pub async fn waste_a_verification(password: String) {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let _ = tokio::task::spawn_blocking(move || {
        let stored = DUMMY.get_or_init(|| hash("atoll-dummy-password").unwrap_or_default());
        verify(stored, &password)
    })
    .await;
}

/// A random 24-character alphanumeric password (about 142 bits).
pub fn generate() -> String {
    rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(24)
        .map(char::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash("s3cret").unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(!h.contains("s3cret"));
        assert!(verify(&h, "s3cret"));
        assert!(!verify(&h, "s3cret "));
        assert!(
            !verify("", "anything"),
            "a user without password cannot log in"
        );
        assert_ne!(hash("s3cret").unwrap(), h, "salts differ");
    }

    #[test]
    fn generated_passwords_differ() {
        let a = generate();
        assert_eq!(a.len(), 24);
        assert_ne!(a, generate());
    }
}
