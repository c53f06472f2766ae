//! Container quotas, as Swift's `container_quotas` middleware keeps them:
//! `X-Container-Meta-Quota-Bytes` and `X-Container-Meta-Quota-Count`, set
//! by whoever may change the container's metadata, bound what uploads
//! (PUTs, copies, manifests) may add to it.
//!
//! Account quotas, as its `account_quotas` middleware keeps them:
//! `X-Account-Quota-Bytes` and `X-Account-Quota-Count` (and the legacy
//! `X-Account-Meta-Quota-Bytes`), which only a reseller admin sets, bound
//! the account's bytes and objects; uploads by anyone else stop at them.

use crate::error::{Result, SwiftError};
use crate::http::HttpRequest;
use crate::store::{AccountRow, ContainerRow};
use crate::util::{self, header};
use crate::Swift;

/// The account quota headers: Swift's current ones (bytes and object
/// count), kept with the account and shown to whoever reads it, and the
/// legacy metadata one (bytes).
pub const ACCOUNT_QUOTA_HEADERS: [&str; 2] = ["x-account-quota-bytes", "x-account-quota-count"];
const LEGACY_BYTES: &str = "x-account-meta-quota-bytes";

/// Prefixes of the per-storage-policy quotas (`...-Policy-<name>`).
const POLICY_QUOTA_PREFIXES: [(&str, &str); 2] = [
    (
        "x-account-quota-bytes-policy-",
        "X-Account-Quota-Bytes-Policy-",
    ),
    (
        "x-account-quota-count-policy-",
        "X-Account-Quota-Count-Policy-",
    ),
];

/// The stored key of a per-policy quota header (`None`: not one). The one
/// storage policy answers to its name and its alias `Policy-0`; another
/// name is a 400.
fn policy_quota_key(name: &str) -> Result<Option<String>> {
    for (prefix, canonical) in POLICY_QUOTA_PREFIXES {
        if let Some(policy) = name.strip_prefix(prefix) {
            if !policy.eq_ignore_ascii_case(crate::info::POLICY)
                && !policy.eq_ignore_ascii_case("policy-0")
            {
                return Err(SwiftError::BadRequest(format!(
                    "Invalid storage policy: {policy}"
                )));
            }
            return Ok(Some(format!("{canonical}{}", crate::info::POLICY)));
        }
    }
    Ok(None)
}

/// On an account PUT or POST: refuses setting or removing an account
/// quota (overall, per policy or legacy) to anyone but a reseller admin
/// (403), and a quota that is not a whole number (400). Returns what to
/// store beside the metadata: per-policy quotas and removals (`X-Remove-`),
/// as stored key and value (`REMOVED` to remove).
pub fn account_quota_headers(
    req: &HttpRequest,
    reseller: bool,
) -> Result<std::collections::BTreeMap<String, String>> {
    let mut out = std::collections::BTreeMap::new();
    let mut touched = false;
    for (name, value) in req.headers() {
        let n = name.as_str();
        let (n, remove) = match n.strip_prefix("x-remove-") {
            Some(rest) => (format!("x-{rest}"), true),
            None => (n.to_string(), false),
        };
        let is_policy = POLICY_QUOTA_PREFIXES.iter().any(|(p, _)| n.starts_with(p));
        if !reseller {
            // Whatever the policy named: only a reseller sets quotas.
            touched |=
                is_policy || ACCOUNT_QUOTA_HEADERS.contains(&n.as_str()) || n == LEGACY_BYTES;
            continue;
        }
        let key = if ACCOUNT_QUOTA_HEADERS.contains(&n.as_str()) || n == LEGACY_BYTES {
            util::title_case(&n)
        } else if let Some(k) = policy_quota_key(&n)? {
            k
        } else {
            continue;
        };
        if remove {
            out.insert(key, util::REMOVED.to_string());
            continue;
        }
        let v = value
            .to_str()
            .ok()
            .filter(|v| v.is_empty() || is_digits(v))
            .ok_or_else(|| SwiftError::BadRequest("Invalid quota.".into()))?;
        if key.contains("-Policy-") {
            out.insert(key, v.to_string());
        }
    }
    if touched && !reseller {
        return Err(SwiftError::Forbidden);
    }
    Ok(out)
}

/// 413 when one more object of `adding` bytes would take the account past
/// its byte or object-count quota (the current bytes header wins over the
/// legacy one, as in Swift).
pub fn check_account_row(row: Option<&AccountRow>, adding: u64) -> Result<()> {
    let Some(row) = row else {
        return Ok(());
    };
    let meta = util::meta_from_json(&row.metadata);
    let quota = |name: &str| {
        meta.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .filter(|(_, v)| is_digits(v))
            .and_then(|(_, v)| v.parse::<u128>().ok())
    };
    // The one storage policy holds all of the account: its quotas bound
    // the same totals.
    let policy = |kind: &str| {
        quota(&format!(
            "X-Account-Quota-{kind}-Policy-{}",
            crate::info::POLICY
        ))
    };
    let bytes = quota(ACCOUNT_QUOTA_HEADERS[0]).or_else(|| quota(LEGACY_BYTES));
    let new_bytes = row.bytes_used.max(0) as u128 + u128::from(adding);
    let new_count = row.object_count.max(0) as u128 + 1;
    let over_bytes = [bytes, policy("Bytes")]
        .into_iter()
        .flatten()
        .any(|q| q < new_bytes);
    let over_count = [quota(ACCOUNT_QUOTA_HEADERS[1]), policy("Count")]
        .into_iter()
        .flatten()
        .any(|q| q < new_count);
    if over_bytes || over_count {
        return Err(SwiftError::TooLarge("Upload exceeds quota.".into()));
    }
    Ok(())
}

/// [`check_account_row`] on the stored account.
pub async fn check_account(swift: &Swift, account: &str, adding: u64) -> Result<()> {
    let a = account.to_string();
    let row = swift
        .db()
        .run(move |c| Ok(crate::store::account(c, &a)))
        .await??;
    check_account_row(row.as_ref(), adding)
}

/// A container PUT or POST may only set quotas that are whole numbers (an
/// empty value removes one).
pub fn validate(req: &HttpRequest) -> Result<()> {
    for (name, what) in [
        ("x-container-meta-quota-bytes", "bytes"),
        ("x-container-meta-quota-count", "count"),
    ] {
        if let Some(v) = header(req.headers(), name) {
            if !v.is_empty() && !is_digits(v) {
                return Err(SwiftError::BadRequest(format!("Invalid {what} quota.")));
            }
        }
    }
    Ok(())
}

/// Python's `str.isdigit` for what a header can hold.
fn is_digits(v: &str) -> bool {
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())
}

/// 413 when adding one object of `adding` bytes would take the container
/// past a quota. As in Swift, the size is what the request says it sends
/// (0 for a chunked upload) and the check is made before the data arrives.
pub fn check(row: &ContainerRow, adding: u64) -> Result<()> {
    let meta = util::meta_from_json(&row.metadata);
    let quota = |name: &str| {
        meta.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .filter(|(_, v)| is_digits(v))
            .and_then(|(_, v)| v.parse::<u128>().ok())
    };
    let exceeded = quota("x-container-meta-quota-bytes")
        .is_some_and(|q| q < row.bytes_used.max(0) as u128 + u128::from(adding))
        || quota("x-container-meta-quota-count")
            .is_some_and(|q| q < row.object_count.max(0) as u128 + 1);
    if exceeded {
        return Err(SwiftError::TooLarge("Upload exceeds quota.".into()));
    }
    Ok(())
}
