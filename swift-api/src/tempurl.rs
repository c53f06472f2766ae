//! Temporary URLs, as Swift's `tempurl` middleware gives them: a URL that
//! carries an HMAC of the method, an expiry time and the object's path (or
//! a prefix of object names), signed with a key kept in the account's or
//! the container's metadata, grants that one kind of access without a
//! token until it expires.
//!
//! The signature covers `METHOD\nexpires\npath` (`ip=RANGE\n` first when
//! the URL is bound to client addresses), with HMAC-SHA1, -SHA256 or
//! -SHA512: hex of the digest's length, or `algo:base64`. A HEAD is let
//! through by a signature for HEAD, GET, PUT or POST. An account key grants
//! access anywhere in the account (a copy's source, a manifest's segments),
//! a container key only inside that container. Responses drop object
//! metadata other than `X-Object-Meta-Public-*`, and a GET or HEAD names
//! the download (`Content-Disposition`) and carries `Expires`.

use std::net::IpAddr;

use base64::Engine;
use hmac::{Hmac, Mac};
use http::header::{HeaderName, HeaderValue};

use crate::error::{Result, SwiftError};
use crate::http::{HttpRequest, Response};
use crate::util::{self, SwiftPath};
use crate::Swift;

/// Methods a temporary URL may be made for (Swift's default `methods`).
pub const METHODS: [&str; 5] = ["GET", "HEAD", "PUT", "POST", "DELETE"];

/// Digests accepted for signatures (Swift's defaults; SHA-1 deprecated).
pub const DIGESTS: [&str; 3] = ["sha1", "sha256", "sha512"];

/// Request headers a temporary URL may not carry on a write: they would
/// point the new object at data the URL does not grant.
const DISALLOWED: [&str; 2] = ["x-object-manifest", "x-symlink-target"];

/// What a valid temporary URL grants, and how its answers are dressed.
#[derive(Debug, Clone)]
pub struct Grant {
    pub account: String,
    /// Set when a container's key signed the URL: access stays inside it.
    pub container: Option<String>,
    expires: i64,
    filename: Option<String>,
    inline: bool,
}

impl Grant {
    /// True when the grant covers objects of `container` in `account`.
    pub fn covers(&self, account: &str, container: &str) -> bool {
        self.account == account && self.container.as_deref().is_none_or(|c| c == container)
    }
}

/// The temporary-URL parameters of a query, when it has any.
struct Params {
    sig: Option<String>,
    expires: Option<String>,
    prefix: Option<String>,
    filename: Option<String>,
    inline: bool,
    ip_range: Option<String>,
}

fn params(query: &str) -> Option<Params> {
    let mut p = Params {
        sig: None,
        expires: None,
        prefix: None,
        filename: None,
        inline: false,
        ip_range: None,
    };
    // The first occurrence wins, as `parse_qs(...)[name][0]` reads it.
    for (k, v) in util::query_pairs(query) {
        let slot = match k.as_str() {
            "temp_url_sig" => &mut p.sig,
            "temp_url_expires" => &mut p.expires,
            "temp_url_prefix" => &mut p.prefix,
            "filename" => &mut p.filename,
            "temp_url_ip_range" => &mut p.ip_range,
            "inline" => {
                p.inline = true;
                continue;
            }
            _ => continue,
        };
        slot.get_or_insert(v);
    }
    // Empty values count as absent, as Swift's `if filename:` reads them.
    p.filename = p.filename.filter(|f| !f.is_empty());
    p.ip_range = p.ip_range.filter(|r| !r.is_empty());
    (p.sig.is_some() || p.expires.is_some()).then_some(p)
}

/// Swift's `normalize_temp_url_expires`: an integer or
/// `%Y-%m-%dT%H:%M:%SZ`; anything else, or a time already past, is 0.
fn normalize_expires(v: &str, now: i64) -> i64 {
    let t = v.parse::<i64>().ok().or_else(|| {
        let fmt =
            time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
        time::PrimitiveDateTime::parse(v, &fmt)
            .ok()
            .map(|t| t.assume_utc().unix_timestamp())
    });
    match t {
        Some(t) if t >= now => t,
        _ => 0,
    }
}

/// Swift's `extract_digest_and_algorithm`: `(algorithm, digest bytes)`.
fn parse_sig(sig: &str) -> Option<(&'static str, Vec<u8>)> {
    if let Some((algo, b64)) = sig.split_once(':') {
        let algo = DIGESTS.into_iter().find(|d| *d == algo)?;
        // Standard and URL-safe alphabets; padding optional.
        let std = if (b64.contains('-') || b64.contains('_'))
            && !(b64.contains('+') || b64.contains('/'))
        {
            b64.replace('-', "+").replace('_', "/")
        } else {
            b64.to_string()
        };
        let digest = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(std.trim_end_matches('='))
            .ok()?;
        return Some((algo, digest));
    }
    // Swift compares the hex form with a lowercase hexdigest.
    if sig.bytes().any(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let digest = hex::decode(sig).ok()?;
    let algo = match sig.len() {
        40 => "sha1",
        64 => "sha256",
        128 => "sha512",
        _ => return None,
    };
    Some((algo, digest))
}

/// HMAC of `message` under `key` with `algo`, compared in constant time.
fn hmac_matches(algo: &str, key: &[u8], message: &[u8], sig: &[u8]) -> bool {
    macro_rules! check {
        ($d:ty) => {
            match Hmac::<$d>::new_from_slice(key) {
                Ok(mut mac) => {
                    mac.update(message);
                    mac.verify_slice(sig).is_ok()
                }
                Err(_) => false,
            }
        };
    }
    match algo {
        "sha1" => check!(sha1::Sha1),
        "sha256" => check!(sha2::Sha256),
        "sha512" => check!(sha2::Sha512),
        _ => false,
    }
}

/// Python's `ip_network(range)` (strict: no host bits set) containing
/// `addr`; a range that does not parse admits nobody.
fn in_range(range: &str, addr: IpAddr) -> bool {
    let (net, len) = match range.split_once('/') {
        Some((n, l)) => (n, Some(l)),
        None => (range, None),
    };
    let Ok(net) = net.parse::<IpAddr>() else {
        return false;
    };
    let bits = if net.is_ipv4() { 32 } else { 128 };
    let len = match len.map(str::parse::<u32>) {
        None => bits,
        Some(Ok(l)) if l <= bits => l,
        _ => return false,
    };
    // A v4 client on a dual-stack socket shows as `::ffff:a.b.c.d`.
    let addr = match addr {
        IpAddr::V6(a) => a.to_ipv4_mapped().map_or(IpAddr::V6(a), IpAddr::V4),
        a => a,
    };
    let (n, a) = match (net, addr) {
        (IpAddr::V4(n), IpAddr::V4(a)) => (u128::from(u32::from(n)), u128::from(u32::from(a))),
        (IpAddr::V6(n), IpAddr::V6(a)) => (u128::from(n), u128::from(a)),
        _ => return false,
    };
    let host_mask = if len == 0 {
        u128::MAX
    } else {
        (1u128 << (bits - len)).wrapping_sub(1)
    };
    let host_mask = if bits == 32 {
        host_mask & 0xffff_ffff
    } else {
        host_mask
    };
    if len < bits && n & host_mask != 0 {
        return false; // host bits set: ip_network refuses it
    }
    (n & !host_mask) == (a & !host_mask)
}

/// True for the metadata holding temporary-URL keys, which only the
/// account's owners may see (Swift's `swift_owner_headers`).
pub fn is_key_header(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ["x-account-meta-", "x-container-meta-"]
        .iter()
        .any(|p| matches!(n.strip_prefix(p), Some("temp-url-key" | "temp-url-key-2")))
}

/// The keys of metadata stored as a JSON map of title-cased header names.
fn keys_of(meta_json: &str, kind: &str) -> Vec<String> {
    let names = [
        format!("x-{kind}-meta-temp-url-key"),
        format!("x-{kind}-meta-temp-url-key-2"),
    ];
    util::meta_from_json(meta_json)
        .into_iter()
        .filter(|(k, v)| names.iter().any(|n| k.eq_ignore_ascii_case(n)) && !v.is_empty())
        .map(|(_, v)| v)
        .collect()
}

/// Checks a request's temporary-URL parameters. `Ok(None)`: it has none
/// (authenticate it the usual way). A grant when the signature is valid
/// for this method, path, time and client; otherwise the 401 Swift gives.
pub async fn verify(swift: &Swift, req: &HttpRequest, path: &SwiftPath) -> Result<Option<Grant>> {
    let Some(p) = params(req.query_string()) else {
        return Ok(None);
    };
    let now = db::now_micros() / 1_000_000;
    let expires = p.expires.as_deref().map(|e| normalize_expires(e, now));
    let (Some(sig), Some(expires)) = (
        p.sig.as_deref().filter(|s| !s.is_empty()),
        expires.filter(|e| *e != 0),
    ) else {
        return Err(SwiftError::TempUrlInvalid);
    };
    let Some((algo, digest)) = parse_sig(sig) else {
        return Err(SwiftError::TempUrlInvalid);
    };
    let method = req.method().as_str();
    // Only object paths under `/v1/` (Swift's `ver == 'v1'`), and only the
    // methods temporary URLs are made for.
    let (Some(container), Some(object)) = (&path.container, &path.object) else {
        return Err(SwiftError::TempUrlInvalid);
    };
    if !METHODS.contains(&method)
        || !req.uri().path().starts_with("/v1/")
        || object.trim_matches('/').is_empty()
    {
        return Err(SwiftError::TempUrlInvalid);
    }
    if let Some(range) = &p.ip_range {
        match req.peer() {
            Some(peer) if in_range(range, peer.ip()) => {}
            _ => return Err(SwiftError::TempUrlInvalid),
        }
    }
    let signed_path = match &p.prefix {
        None => format!("/v1/{}/{container}/{object}", path.account),
        Some(prefix) if object.starts_with(prefix.as_str()) => {
            format!("prefix:/v1/{}/{container}/{prefix}", path.account)
        }
        Some(_) => return Err(SwiftError::TempUrlInvalid),
    };
    let (acct, cont) = (path.account.clone(), container.clone());
    let (arow, crow) = swift
        .db()
        .run(move |c| {
            Ok((|| {
                Ok::<_, SwiftError>((
                    crate::store::account(c, &acct)?,
                    crate::store::container(c, &acct, &cont)?,
                ))
            })())
        })
        .await??;
    let account_keys = arow
        .map(|r| keys_of(&r.metadata, "account"))
        .unwrap_or_default();
    let container_keys = crow
        .map(|r| keys_of(&r.metadata, "container"))
        .unwrap_or_default();
    let methods: &[&str] = if method == "HEAD" {
        &["HEAD", "GET", "POST", "PUT"]
    } else {
        &[method]
    };
    let ip = p
        .ip_range
        .as_deref()
        .map(|r| format!("ip={r}\n"))
        .unwrap_or_default();
    let mut scope = None;
    'found: for m in methods {
        let message = format!("{ip}{m}\n{expires}\n{signed_path}");
        for (keys, container_scope) in [(&account_keys, false), (&container_keys, true)] {
            for k in keys {
                if hmac_matches(algo, k.as_bytes(), message.as_bytes(), &digest) {
                    scope = Some(container_scope);
                    break 'found;
                }
            }
        }
    }
    let Some(container_scope) = scope else {
        return Err(SwiftError::TempUrlInvalid);
    };
    if !matches!(method, "GET" | "HEAD") {
        if let Some(h) = DISALLOWED.iter().find(|h| req.headers().contains_key(**h)) {
            return Err(SwiftError::BadRequest(format!(
                "The header '{}' is not allowed in this tempurl",
                util::title_case(h)
            )));
        }
    }
    Ok(Some(Grant {
        account: path.account.clone(),
        container: container_scope.then(|| container.clone()),
        expires,
        filename: p.filename,
        inline: p.inline,
    }))
}

/// The query a request made through a temporary URL is served with: only
/// the temporary-URL parameters, as Swift's middleware rewrites it, so no
/// other parameter (`multipart-manifest`, `part-number`...) reaches the
/// handlers.
pub fn served_query(query: &str) -> String {
    query
        .split('&')
        .filter(|p| {
            let k = p.split_once('=').map_or(*p, |(k, _)| k);
            matches!(
                k,
                "temp_url_sig" | "temp_url_expires" | "temp_url_prefix" | "filename" | "inline"
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Swift's `disposition_format`.
fn disposition(kind: &str, filename: &str) -> String {
    const SAFE_SPACE_SLASH: &percent_encoding::AsciiSet = &util::PY_QUOTE_SET.remove(b' ');
    let quoted = percent_encoding::utf8_percent_encode(filename, SAFE_SPACE_SLASH).to_string();
    format!(
        "{kind}; filename=\"{quoted}\"; filename*=UTF-8''{}",
        util::py_quote(filename)
    )
}

/// Dresses an answer given through a temporary URL: object metadata other
/// than `X-Object-Meta-Public-*` goes; a successful GET or HEAD names the
/// download and says when the URL expires.
pub fn decorate(grant: &Grant, req: &HttpRequest, path: &SwiftPath, resp: &mut Response) {
    let h = resp.headers_mut();
    let private: Vec<HeaderName> = h
        .keys()
        .filter(|k| {
            let n = k.as_str();
            n.starts_with("x-object-meta-") && !n.starts_with("x-object-meta-public-")
        })
        .cloned()
        .collect();
    for k in private {
        h.remove(k);
    }
    if !matches!(req.method().as_str(), "GET" | "HEAD") || !resp.status().is_success() {
        return;
    }
    let existing = resp
        .headers_mut()
        .remove(http::header::CONTENT_DISPOSITION)
        .and_then(|v| v.to_str().ok().map(str::to_string));
    let value = match (&grant.filename, grant.inline, existing) {
        (Some(f), true, _) => disposition("inline", f),
        (None, true, _) => "inline".to_string(),
        (Some(f), false, _) => disposition("attachment", f),
        (None, false, Some(e)) => e,
        (None, false, None) => {
            let obj = path.object.as_deref().unwrap_or("").trim_end_matches('/');
            disposition("attachment", obj.rsplit('/').next().unwrap_or(obj))
        }
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&value.replace('\n', "%0A")) {
        h.insert(http::header::CONTENT_DISPOSITION, v);
    }
    // HTTP dates end with year 9999; a URL valid beyond gets no Expires.
    if grant.expires < 253_402_300_800 {
        if let Ok(v) = HeaderValue::from_str(&util::http_date(grant.expires * 1_000_000)) {
            h.insert(http::header::EXPIRES, v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_in_both_forms() {
        let sha1 = "a".repeat(40);
        assert_eq!(parse_sig(&sha1).unwrap().0, "sha1");
        assert_eq!(parse_sig(&"b".repeat(64)).unwrap().0, "sha256");
        assert_eq!(parse_sig(&"c".repeat(128)).unwrap().0, "sha512");
        assert!(parse_sig(&"a".repeat(41)).is_none());
        assert!(parse_sig(&"A".repeat(40)).is_none(), "uppercase hex");
        assert!(parse_sig("zz").is_none());
        let (algo, d) = parse_sig("sha512:AAEC_w").unwrap();
        assert_eq!((algo, d), ("sha512", vec![0, 1, 2, 255]));
        assert!(parse_sig("md5:AAEC").is_none());
    }

    #[test]
    fn hmac_as_swift_computes_it() {
        // Python: hmac.new(b'key', msg, 'sha1').hexdigest()
        let want = hex::decode("ebc61d3f9f4faf1c11d8ee9471e80a8af9670f1c").unwrap();
        let msg = b"GET\n1700000000\n/v1/AUTH_a/c/o";
        assert!(hmac_matches("sha1", b"key", msg, &want));
        let mut bad = want.clone();
        bad[0] ^= 1;
        assert!(!hmac_matches("sha1", b"key", msg, &bad));
        assert!(!hmac_matches("sha1", b"other", msg, &want));
        let want = hex::decode("d3193c2ab69056d2b8d1c0fd102f137d3ef5b3490d373c80506f584049388440")
            .unwrap();
        let msg = b"ip=127.0.0.1\nGET\n1700000000\n/v1/AUTH_a/c/o";
        assert!(hmac_matches("sha256", b"key", msg, &want));
    }

    #[test]
    fn expiry_forms() {
        assert_eq!(normalize_expires("2000000000", 1), 2000000000);
        assert_eq!(normalize_expires("2033-05-18T03:33:20Z", 1), 2000000000);
        assert_eq!(normalize_expires("5", 10), 0);
        assert_eq!(normalize_expires("soon", 1), 0);
    }

    #[test]
    fn ip_ranges_as_python_reads_them() {
        let a = |s: &str| s.parse::<IpAddr>().unwrap();
        assert!(in_range("127.0.0.1", a("127.0.0.1")));
        assert!(!in_range("127.0.0.1", a("127.0.0.2")));
        assert!(in_range("127.0.0.0/24", a("127.0.0.200")));
        assert!(!in_range("127.0.0.0/24", a("127.0.1.1")));
        assert!(!in_range("127.0.0.1/24", a("127.0.0.1")), "host bits set");
        assert!(in_range("0.0.0.0/0", a("10.1.2.3")));
        assert!(in_range("::1", a("::1")));
        assert!(in_range("fd00::/8", a("fd12::1")));
        assert!(!in_range("garbage", a("127.0.0.1")));
    }

    #[test]
    fn only_temp_url_parameters_are_served() {
        assert_eq!(
            served_query("temp_url_sig=a&multipart-manifest=delete&temp_url_expires=1&inline&part-number=2&filename=x"),
            "temp_url_sig=a&temp_url_expires=1&inline&filename=x"
        );
    }

    #[test]
    fn disposition_as_swift_formats_it() {
        assert_eq!(
            disposition("attachment", "a b/\u{fc}\"x.txt"),
            "attachment; filename=\"a b/%C3%BC%22x.txt\"; filename*=UTF-8''a%20b/%C3%BC%22x.txt"
        );
    }
}
