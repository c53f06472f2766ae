//! Tokens: HS256-signed JWTs whose claims carry everything a frontend needs,
//! so validating one is a signature check plus a look at the in-memory
//! revocation list, never a database query.
//!
//! The signing key is 32 random bytes kept in the `settings` row
//! [`KEY_SETTING`] (standard base64). Every host sharing the database loads
//! the same key, so a token issued by one host is valid on all of them.
//!
//! Claims (JSON, short names keep the `X-Subject-Token` header small):
//!
//! | claim | meaning |
//! |---|---|
//! | `sub` | user id |
//! | `unm`, `udm` | user name, user domain id |
//! | `pid`, `pnm`, `pdm` | project id, name, domain id (absent when unscoped) |
//! | `sys` | true for a system-scoped token (absent otherwise) |
//! | `apc`, `apn`, `apr` | application credential id, name, and whether it is restricted (absent unless issued for one) |
//! | `roles` | effective role names, implied roles included |
//! | `mth` | authentication methods |
//! | `aid`, `acid` | audit id, audit id of the token it was re-scoped from |
//! | `iat`, `exp` | issued and expiry time, seconds since the epoch |
//! | `iat_us` | issue time in microseconds: a revocation event at time T revokes tokens with `iat_us <= T`, so a token issued in the same second just after the event survives it |

use base64::Engine;
use diesel::prelude::*;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::context::AuthContext;
use crate::error::{Error, Result};
use db::schema::settings;

/// `settings` key under which the token signing key is stored.
pub const KEY_SETTING: &str = "identity.token_signing_key";

/// Tokens longer than this are rejected before any parsing.
const MAX_TOKEN_LEN: usize = 8192;

/// The signed content of a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Claims {
    pub sub: String,
    pub unm: String,
    pub udm: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pnm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pdm: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub sys: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apc: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apn: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub apr: bool,
    pub roles: Vec<String>,
    pub mth: Vec<String>,
    pub aid: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acid: Option<String>,
    pub iat: i64,
    pub iat_us: i64,
    pub exp: i64,
}

impl Claims {
    /// The audit ids a revocation by audit id can match: revoking a token
    /// also revokes the tokens re-scoped from it.
    pub(crate) fn audit_ids(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.aid.as_str()).chain(self.acid.as_deref())
    }

    pub(crate) fn to_context(&self) -> AuthContext {
        let ts =
            |s: i64| OffsetDateTime::from_unix_timestamp(s).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        AuthContext {
            user_id: self.sub.clone(),
            user_name: self.unm.clone(),
            domain_id: self.udm.clone(),
            project_id: self.pid.clone(),
            project_name: self.pnm.clone(),
            project_domain_id: self.pdm.clone(),
            system: self.sys,
            application_credential: self.apc.clone(),
            restricted: self.apc.is_some() && self.apr,
            roles: self.roles.clone(),
            methods: self.mth.clone(),
            issued_at: ts(self.iat),
            expires_at: ts(self.exp),
            audit_id: self.aid.clone(),
            audit_chain_id: self.acid.clone(),
        }
    }
}

/// A fresh audit id: 16 random bytes, URL-safe base64 without padding
/// (22 characters, Keystone's shape).
pub(crate) fn new_audit_id() -> String {
    let mut b = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut b);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

/// Signs and verifies tokens with the deployment's key.
#[derive(Clone)]
pub(crate) struct Signer {
    enc: EncodingKey,
    dec: DecodingKey,
    validation: Validation,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.write_str("Signer(..)")
    }
}

impl Signer {
    pub(crate) fn new(key: &[u8]) -> Signer {
        // Only HS256 is accepted, so a token cannot pick a weaker algorithm;
        // no leeway, so an expired token is rejected on the second.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 0;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Signer {
            enc: EncodingKey::from_secret(key),
            dec: DecodingKey::from_secret(key),
            validation,
        }
    }

    pub(crate) fn sign(&self, claims: &Claims) -> Result<String> {
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), claims, &self.enc)
            .map_err(|e| Error::Internal(format!("signing token: {e}")))
    }

    /// Checks signature and expiry. Every failure is the same 401: the caller
    /// must not learn whether the token was forged, mangled or just old.
    pub(crate) fn verify(&self, token: &str) -> Result<Claims> {
        if token.is_empty() || token.len() > MAX_TOKEN_LEN {
            return Err(Error::Unauthorized);
        }
        let data = jsonwebtoken::decode::<Claims>(token, &self.dec, &self.validation)
            .map_err(|_| Error::Unauthorized)?;
        if data.claims.exp <= OffsetDateTime::now_utc().unix_timestamp() {
            return Err(Error::Unauthorized);
        }
        Ok(data.claims)
    }
}

/// Loads the signing key, creating it on first start. Insert-or-ignore then
/// read makes two hosts starting together agree on one key.
pub(crate) fn load_or_create_key(db: &db::Db) -> Result<Vec<u8>> {
    let mut fresh = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut fresh);
    let encoded = base64::engine::general_purpose::STANDARD.encode(fresh);
    let stored: String = db.transaction_blocking(|c| {
        diesel::insert_or_ignore_into(settings::table)
            .values((settings::key.eq(KEY_SETTING), settings::value.eq(&encoded)))
            .execute(c)?;
        settings::table
            .find(KEY_SETTING)
            .select(settings::value)
            .first::<String>(c)
            .map_err(Error::from)
    })?;
    let key = base64::engine::general_purpose::STANDARD
        .decode(stored.trim())
        .map_err(|_| Error::Internal("stored token signing key is not base64".into()))?;
    if key.len() < 32 {
        return Err(Error::Internal(
            "stored token signing key is shorter than 32 bytes".into(),
        ));
    }
    Ok(key)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn claims(exp_in: i64) -> Claims {
        let now = OffsetDateTime::now_utc();
        Claims {
            sub: "u1".into(),
            unm: "alice".into(),
            udm: "default".into(),
            pid: Some("p1".into()),
            pnm: Some("demo".into()),
            pdm: Some("default".into()),
            sys: false,
            apc: None,
            apn: None,
            apr: false,
            roles: vec!["member".into(), "reader".into()],
            mth: vec!["password".into()],
            aid: new_audit_id(),
            acid: None,
            iat: now.unix_timestamp(),
            iat_us: (now.unix_timestamp_nanos() / 1000) as i64,
            exp: now.unix_timestamp() + exp_in,
        }
    }

    #[test]
    fn round_trip() {
        let s = Signer::new(&[7u8; 32]);
        let c = claims(60);
        let t = s.sign(&c).unwrap();
        assert_eq!(s.verify(&t).unwrap(), c);
        let ctx = c.to_context();
        assert_eq!(ctx.project_id.as_deref(), Some("p1"));
        assert_eq!(ctx.audit_id.len(), 22);
    }

    #[test]
    fn tampered_token_is_rejected() {
        let s = Signer::new(&[7u8; 32]);
        let t = s.sign(&claims(60)).unwrap();
        // Swap the payload for one claiming admin, keeping the signature.
        let mut parts: Vec<&str> = t.split('.').collect();
        let mut c = claims(60);
        c.roles = vec!["admin".into()];
        let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&c).unwrap());
        parts[1] = &forged;
        assert!(matches!(
            s.verify(&parts.join(".")),
            Err(Error::Unauthorized)
        ));
        // A flipped signature character.
        let mut bad = t.clone().into_bytes();
        let last = bad.len() - 2;
        bad[last] = if bad[last] == b'A' { b'B' } else { b'A' };
        assert!(s.verify(&String::from_utf8(bad).unwrap()).is_err());
        // Another deployment's key.
        assert!(Signer::new(&[8u8; 32]).verify(&t).is_err());
        assert!(s.verify("").is_err());
        assert!(s.verify("not.a.jwt").is_err());
    }

    #[test]
    fn expired_token_is_rejected() {
        let s = Signer::new(&[7u8; 32]);
        let t = s.sign(&claims(-1)).unwrap();
        assert!(matches!(s.verify(&t), Err(Error::Unauthorized)));
        let t = s.sign(&claims(0)).unwrap();
        assert!(
            s.verify(&t).is_err(),
            "a token is dead at its expiry second"
        );
    }

    #[test]
    fn alg_none_is_rejected() {
        let s = Signer::new(&[7u8; 32]);
        let b64 = |v: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v);
        let t = format!(
            "{}.{}.",
            b64(br#"{"alg":"none","typ":"JWT"}"#),
            b64(&serde_json::to_vec(&claims(60)).unwrap())
        );
        assert!(s.verify(&t).is_err());
    }
}
