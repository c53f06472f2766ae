//! Container quotas, as Swift's `container_quotas` middleware keeps them:
//! `X-Container-Meta-Quota-Bytes` and `X-Container-Meta-Quota-Count`, set
//! by whoever may change the container's metadata, bound what uploads
//! (PUTs, copies, manifests) may add to it.

use crate::error::{Result, SwiftError};
use crate::http::HttpRequest;
use crate::store::ContainerRow;
use crate::util::{self, header};

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
