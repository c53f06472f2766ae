//! Object PUT/GET/HEAD/POST/DELETE/COPY.
//!
//! PUT streams the body into the resource layer and commits the object row
//! with the resource in one transaction. COPY and `X-Copy-From` add a view
//! of the source's resource: no bytes move.

use std::collections::BTreeMap;

use crate::http::{HttpRequest, HttpResponse, Payload, Response};
use futures::StreamExt;

use crate::auth::Caller;
use crate::error::{Result, SwiftError};
use crate::range::{self, ByteRange, Ranges, Segment};
use crate::store::{self, ObjectRow};
use crate::util::{self, header, SwiftPath};
use crate::{slo, versions, Swift};

/// Non-meta headers Swift keeps with an object.
pub const ALLOWED_HEADERS: &[&str] = &[
    "content-disposition",
    "content-encoding",
    "content-language",
    "cache-control",
    "expires",
    "x-robots-tag",
    "x-object-manifest",
];

/// Bodies up to this size are sent from one buffer rather than streamed.
const SMALL_BODY: u64 = 256 << 10;

fn cname(p: &SwiftPath) -> String {
    p.container.clone().unwrap_or_default()
}
fn oname(p: &SwiftPath) -> String {
    p.object.clone().unwrap_or_default()
}

pub(crate) async fn container_row(
    swift: &Swift,
    account: &str,
    container: &str,
) -> Result<Option<store::ContainerRow>> {
    let (a, c) = (account.to_string(), container.to_string());
    swift
        .db()
        .run(move |conn| Ok(store::container(conn, &a, &c)))
        .await?
}

/// A container's row and its account's, read together (an upload checks
/// both quotas).
async fn container_and_account(
    swift: &Swift,
    account: &str,
    container: &str,
) -> Result<(Option<store::ContainerRow>, Option<store::AccountRow>)> {
    let (a, c) = (account.to_string(), container.to_string());
    swift
        .db()
        .run(move |conn| {
            Ok((|| {
                Ok::<_, SwiftError>((store::container(conn, &a, &c)?, store::account(conn, &a)?))
            })())
        })
        .await?
}

/// The container row after checking the caller may write into it (as
/// owner or through its write ACL); `None` when it does not exist.
async fn writable_container(
    swift: &Swift,
    caller: &Caller,
    account: &str,
    container: &str,
) -> Result<Option<store::ContainerRow>> {
    let crow = container_row(swift, account, container).await?;
    caller.require_write(
        swift,
        account,
        container,
        crow.as_ref().and_then(|c| c.write_acl.as_deref()),
    )?;
    Ok(crow)
}

/// Loads a live (not expired) object.
pub async fn load(
    swift: &Swift,
    account: &str,
    container: &str,
    name: &str,
) -> Result<Option<ObjectRow>> {
    let (a, c, n) = (account.to_string(), container.to_string(), name.to_string());
    let row = swift
        .db()
        .run(move |conn| Ok(store::object(conn, &a, &c, &n)))
        .await??;
    Ok(row.filter(|r| !r.expired(db::now_micros())))
}

/// Parses `X-Delete-At` / `X-Delete-After` into an absolute Unix time.
/// Largest delete-at Swift keeps (`normalize_delete_at_timestamp`: ten
/// digits); larger values are clamped to it.
const MAX_DELETE_AT: i64 = 9_999_999_999;

/// A Python `int()` of a header: optional sign, digits, surrounding
/// whitespace; clamped to Swift's delete-at range instead of overflowing.
fn delete_at_int(v: &str) -> Option<i64> {
    let t = v.trim();
    let (neg, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n = digits.parse::<i64>().unwrap_or(i64::MAX).min(MAX_DELETE_AT);
    Some(if neg { -n } else { n })
}

fn delete_at(req: &HttpRequest) -> Result<Option<i64>> {
    let now = db::now_micros() / 1_000_000;
    if let Some(v) = header(req.headers(), "x-delete-after") {
        let n = delete_at_int(v)
            .ok_or_else(|| SwiftError::BadRequest("Non-integer X-Delete-After".into()))?;
        if n < 0 {
            return Err(SwiftError::BadRequest("X-Delete-After in past".into()));
        }
        return Ok(Some((now + n).min(MAX_DELETE_AT)));
    }
    if let Some(v) = header(req.headers(), "x-delete-at") {
        let t = delete_at_int(v)
            .ok_or_else(|| SwiftError::BadRequest("Non-integer X-Delete-At".into()))?
            .max(0);
        if t < now {
            return Err(SwiftError::BadRequest("X-Delete-At in past".into()));
        }
        return Ok(Some(t));
    }
    Ok(None)
}

fn content_type(req: &HttpRequest, name: &str) -> Option<String> {
    let given = header(req.headers(), "content-type").map(str::to_string);
    let detect = header(req.headers(), "x-detect-content-type")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    if detect || given.is_none() {
        return Some(util::guess_content_type(name));
    }
    given
}

fn strip_quotes(s: &str) -> String {
    s.trim().trim_matches('"').to_ascii_lowercase()
}

/// Splits `container/object` (optionally with a leading slash and
/// percent-encoded) as X-Copy-From and Destination carry it.
fn split_copy_path(v: &str) -> Result<(String, String)> {
    let dec = percent_encoding::percent_decode_str(v)
        .decode_utf8()
        .map_err(|_| SwiftError::PreconditionMessage("Invalid UTF8 or contains NULL".into()))?;
    let t = dec.trim_start_matches('/');
    match t.split_once('/') {
        Some((c, o)) if !c.is_empty() && !o.is_empty() => Ok((c.to_string(), o.to_string())),
        _ => Err(SwiftError::PreconditionMessage(
            "Bad URL path: must be in the form /container/object".into(),
        )),
    }
}

/// The account named by `X-Copy-From-Account` or `Destination-Account`
/// (percent-encoded, as the copy middleware reads it).
fn copy_account(h: &http::HeaderMap, name: &str) -> Result<Option<String>> {
    let Some(v) = header(h, name) else {
        return Ok(None);
    };
    let a = percent_encoding::percent_decode_str(v)
        .decode_utf8()
        .map_err(|_| SwiftError::PreconditionMessage("Invalid UTF8 or contains NULL".into()))?;
    if a.is_empty() {
        return Err(SwiftError::PreconditionMessage(
            "Account name cannot be empty".into(),
        ));
    }
    if a.contains('/') {
        return Err(SwiftError::PreconditionMessage(
            "Account name cannot contain slashes".into(),
        ));
    }
    Ok(Some(a.into_owned()))
}

/// `?part-number=N` (1-based) where it applies (an SLO read as content):
/// Swift's 400 for anything but a positive integer.
fn part_number(q: &BTreeMap<String, String>, applies: bool) -> Result<Option<usize>> {
    match q.get("part-number") {
        Some(p) if applies => match p.trim().parse::<usize>() {
            Ok(n) if n > 0 => Ok(Some(n)),
            _ => Err(SwiftError::BadRequest(
                "Part number must be an integer greater than 0".into(),
            )),
        },
        _ => Ok(None),
    }
}

/// The bytes of part `n` of an SLO whose parts are `parts` long; `None`
/// past the last part.
fn slo_part(parts: &[u64], n: usize) -> Option<ByteRange> {
    let len = *parts.get(n - 1)?;
    let start: u64 = parts[..n - 1].iter().sum();
    Some(ByteRange {
        start,
        end: start + len,
    })
}

/// `PUT /v1/{account}/{container}/{object}`.
#[utoipa::path(put, path = "/v1/{account}/{container}/{object}", tag = "object",
    params(("account" = String, Path), ("container" = String, Path), ("object" = String, Path),
        ("multipart-manifest" = Option<String>, Query, description = "put: body is an SLO manifest")),
    request_body(content = Vec<u8>, description = "Object content", content_type = "application/octet-stream"),
    responses((status = 201, description = "Stored"), (status = 411, description = "No length"),
        (status = 422, description = "ETag mismatch"), (status = 413, description = "Too large"),
        (status = 404, description = "No such container")))]
pub async fn put(
    swift: &Swift,
    req: &HttpRequest,
    path: &SwiftPath,
    caller: &Caller,
    mut body: Payload,
) -> Result<Response> {
    let (acct, cont, name) = (path.account.clone(), cname(path), oname(path));
    let h = req.headers();
    if header(h, "x-copy-from").is_none() {
        // A missing container is a 404 only for callers allowed to know.
        // (A copy checks its source first, as Swift's copy middleware GETs
        // it before the PUT.)
        let (crow, arow) = container_and_account(swift, &acct, &cont).await?;
        caller.require_write(
            swift,
            &acct,
            &cont,
            crow.as_ref().and_then(|c| c.write_acl.as_deref()),
        )?;
        let crow = crow.ok_or(SwiftError::NotFound)?;
        let declared = header(h, "content-length")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        crate::quota::check(&crow, declared)?;
        if !caller.is_reseller_admin(swift) {
            crate::quota::check_account_row(arow.as_ref(), declared)?;
        }
    }

    // swob's is_chunked: one coding, and it must be chunked.
    let chunked =
        match header(h, "transfer-encoding") {
            None => false,
            Some(te) if te.contains(',') => return Err(SwiftError::NotImplementedMessage(
                "Unsupported Transfer-Coding header value specified in Transfer-Encoding header"
                    .into(),
            )),
            Some(te) if te.trim().eq_ignore_ascii_case("chunked") => true,
            Some(_) => {
                return Err(SwiftError::BadRequest(
                    "Invalid Transfer-Encoding header value".into(),
                ))
            }
        };
    let length: Option<u64> =
        match header(h, "content-length") {
            Some(v) => Some(v.trim().parse().map_err(|_| {
                SwiftError::BadRequest("Invalid Content-Length header value".into())
            })?),
            None => None,
        };
    if length.is_none() && !chunked && header(h, "x-copy-from").is_none() {
        return Err(SwiftError::LengthRequired);
    }
    if length.is_some_and(|l| l > swift.limits().max_file_size) {
        return Err(SwiftError::TooLarge("Your request is too large.".into()));
    }
    let mut meta = util::collect_meta(h, "object", ALLOWED_HEADERS, swift.limits())?;
    util::check_meta_totals(&meta, "object", swift.limits())?;
    let delete_at = delete_at(req)?;
    if let Some(inm) = header(h, "if-none-match") {
        // Swift's PUT knows only `*`: fail when the object exists.
        if !inm.split(',').any(|t| t.trim() == "*") {
            return Err(SwiftError::BadRequest(
                "If-None-Match only supports *".into(),
            ));
        }
        if load(swift, &acct, &cont, &name).await?.is_some() {
            return Err(SwiftError::PreconditionFailed);
        }
    }

    if let Some(src) = header(h, "x-copy-from") {
        if length.unwrap_or(0) != 0 {
            return Err(SwiftError::BadRequest(
                "Copy requests require a zero byte body".into(),
            ));
        }
        let (sc, so) = split_copy_path(src)?;
        let src_acct = copy_account(h, "x-copy-from-account")?.unwrap_or_else(|| acct.clone());
        return copy_object(
            swift,
            req,
            caller,
            (&src_acct, &sc, &so),
            (&acct, &cont, &name),
            meta,
            delete_at,
        )
        .await;
    }

    let q = util::parse_query(req.query_string());
    if q.get("multipart-manifest").map(String::as_str) == Some("put") {
        let raw = read_small_body(&mut body, swift.limits().max_manifest_size).await?;
        return slo::put_manifest(
            swift, req, caller, &acct, &cont, &name, raw, meta, delete_at,
        )
        .await;
    }

    let ctype = content_type(req, &name).unwrap_or_default();
    let expected = header(h, "etag").map(strip_quotes);
    let mut w = swift.arch.writer();
    let max = swift.limits().max_file_size;
    while let Some(chunk) = body.next().await {
        // A payload error is the client going away or breaking framing:
        // dropping the writer abandons everything received.
        let chunk = chunk.map_err(|_| SwiftError::ClientDisconnect)?;
        w.write(chunk).await?;
        if w.len() > max {
            return Err(SwiftError::TooLarge("Your request is too large.".into()));
        }
    }
    if let Some(l) = length {
        if w.len() != l {
            return Err(SwiftError::ClientDisconnect);
        }
    }
    let staged = w.finish().await?;
    if let Some(e) = &expected {
        if *e != staged.md5 {
            return Err(SwiftError::Unprocessable);
        }
    }
    let manifest = meta.remove("X-Object-Manifest");
    let now = db::now_micros();
    let row = ObjectRow {
        account: acct,
        container: cont,
        name,
        resource_id: String::new(),
        size: staged.size as i64,
        etag: staged.md5.clone(),
        content_type: ctype,
        metadata: util::meta_json(&meta),
        last_modified: now,
        delete_at,
        manifest,
        slo: false,
    };
    let etag = row.etag.clone();
    commit_new(swift, staged, row).await?;
    Ok(HttpResponse::Created()
        .insert_header(("ETag", etag))
        .insert_header(("Last-Modified", util::http_date(now)))
        .insert_header(("X-Timestamp", util::x_timestamp(now)))
        .content_type("text/html; charset=UTF-8")
        .finish())
}

/// Makes an uploaded resource visible as the object `row` describes, in
/// one transaction (replacing any object of that name).
pub async fn commit_new(
    swift: &Swift,
    staged: archipelago::StagedResource,
    row: ObjectRow,
) -> Result<()> {
    swift
        .arch
        .commit(staged, move |c, rid| {
            let mut row = row;
            row.resource_id = rid.to_string();
            store::put_object(c, &row)
        })
        .await
}

/// Reads a bounded request body into memory (manifests, bulk requests).
pub async fn read_small_body(body: &mut Payload, max: usize) -> Result<bytes::Bytes> {
    let mut buf = bytes::BytesMut::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|_| SwiftError::ClientDisconnect)?;
        if buf.len() + chunk.len() > max {
            return Err(SwiftError::TooLarge("Your request is too large.".into()));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

/// Makes `dst` a new object with `src`'s content (either may be in another
/// account than the request's). A plain source shares its resource; a
/// large-object manifest source, or a byte range of a source (the Range
/// header, as Swift's copy middleware honours it), is assembled into a new
/// one, as Swift copies what a GET of the source returns.
#[allow(clippy::too_many_arguments)]
async fn copy_object(
    swift: &Swift,
    req: &HttpRequest,
    caller: &Caller,
    (src_a, src_c, src_o): (&str, &str, &str),
    (acct, dst_c, dst_o): (&str, &str, &str),
    new_meta: BTreeMap<String, String>,
    delete_at: Option<i64>,
) -> Result<Response> {
    let scrow = container_row(swift, src_a, src_c).await?;
    caller.require_read(
        swift,
        src_a,
        src_c,
        scrow.as_ref().and_then(|c| c.read_acl.as_deref()),
        false,
    )?;
    let src = load(swift, src_a, src_c, src_o)
        .await?
        .ok_or(SwiftError::NotFound)?;
    let dcrow = container_row(swift, acct, dst_c).await?;
    caller.require_write(
        swift,
        acct,
        dst_c,
        dcrow.as_ref().and_then(|c| c.write_acl.as_deref()),
    )?;
    let dcrow = dcrow.ok_or(SwiftError::NotFound)?;
    // The copy's PUT declares the source's length (a ranged copy's is
    // smaller; the whole length is the bound checked here).
    crate::quota::check(&dcrow, src.size.max(0) as u64)?;
    if !caller.is_reseller_admin(swift) {
        crate::quota::check_account(swift, acct, src.size.max(0) as u64).await?;
    }

    let fresh =
        header(req.headers(), "x-fresh-metadata").is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let mut meta = if fresh {
        util::sysmeta_from_json(&src.metadata)
    } else {
        util::meta_from_json(&src.metadata)
    };
    for (k, v) in new_meta {
        util::set_meta(&mut meta, k, v);
    }
    util::check_meta_totals(&meta, "object", swift.limits())?;
    let ctype = header(req.headers(), "content-type")
        .map(str::to_string)
        .unwrap_or_else(|| src.content_type.clone());
    let now = db::now_micros();
    let mut row = ObjectRow {
        account: acct.to_string(),
        container: dst_c.to_string(),
        name: dst_o.to_string(),
        resource_id: src.resource_id.clone(),
        size: src.size,
        etag: src.etag.clone(),
        content_type: ctype,
        metadata: String::new(),
        last_modified: now,
        delete_at,
        manifest: None,
        slo: false,
    };
    let q = util::parse_query(req.query_string());
    // `?multipart-manifest=get` copies a manifest as a manifest.
    let manifest_copy = q.get("multipart-manifest").is_some_and(|v| v == "get");
    if manifest_copy && src.slo && src_a != acct {
        // The manifest's segment paths are account-relative: in another
        // account it is a new manifest, validated there as a PUT is.
        let body = slo::manifest_for_get(&slo::read_manifest(swift, &src).await?, true)?;
        meta.retain(|k, _| !k.starts_with(util::SYSMETA_PREFIX));
        return slo::put_manifest(
            swift,
            req,
            caller,
            acct,
            dst_c,
            dst_o,
            bytes::Bytes::from(body),
            meta,
            delete_at,
        )
        .await;
    }
    // `?part-number=N` of an SLO source copies that part.
    let part_number = part_number(&q, src.slo && !manifest_copy)?;
    let large = (src.slo || src.manifest.is_some()) && !manifest_copy;
    let ranged = header(req.headers(), "range").is_some() || part_number.is_some();
    if large || ranged {
        // Assemble the content (or its range) into a new resource.
        let (segments, parts) = if src.slo {
            let c = slo::content(swift, caller, &src).await?;
            (c.segments, c.parts)
        } else {
            (segments_of(swift, caller, &src).await?, Vec::new())
        };
        let total: u64 = segments.iter().map(|s| s.len).sum();
        let requested = match part_number {
            Some(n) => match slo_part(&parts, n) {
                Some(r) => Ranges::Some(vec![r]),
                None => Ranges::Unsatisfiable,
            },
            None => range::parse(header(req.headers(), "range"), total),
        };
        // What is assembled is a plain object: nothing of the source's
        // manifest stays.
        meta.retain(|k, _| !k.starts_with(util::SYSMETA_PREFIX));
        let part = match requested {
            Ranges::Whole => ByteRange {
                start: 0,
                end: total,
            },
            Ranges::Some(r) if r.len() == 1 => r[0],
            Ranges::Some(_) => {
                return Err(SwiftError::BadRequest(
                    "Copying several ranges of an object is not supported".into(),
                ))
            }
            Ranges::Unsatisfiable => return Err(SwiftError::RangeNotSatisfiable(total)),
        };
        let mut stream = range::stream_segments(swift.arch.clone(), segments, part);
        let mut w = swift.arch.writer();
        while let Some(b) = stream.next().await {
            w.write(b?).await?;
        }
        let staged = w.finish().await?;
        row.size = staged.size as i64;
        row.etag = staged.md5.clone();
        meta.remove("X-Object-Manifest");
        row.metadata = util::meta_json(&meta);
        let etag = row.etag.clone();
        commit_new(swift, staged, row).await?;
        return Ok(copied(src_a, src_c, src_o, &src, &etag, now, &meta));
    }
    if manifest_copy {
        row.manifest = src.manifest.clone();
        row.slo = src.slo;
    }
    if let Some(m) = meta.remove("X-Object-Manifest") {
        row.manifest = Some(m);
    }
    row.metadata = util::meta_json(&meta);
    let etag = row.etag.clone();
    swift
        .db()
        .transaction(move |c| {
            archipelago::meta::retain(c, &row.resource_id)?;
            store::put_object(c, &row)
        })
        .await?;
    Ok(copied(src_a, src_c, src_o, &src, &etag, now, &meta))
}

fn copied(
    src_a: &str,
    src_c: &str,
    src_o: &str,
    src: &ObjectRow,
    etag: &str,
    now: i64,
    meta: &BTreeMap<String, String>,
) -> Response {
    let enc = util::py_quote;
    let mut resp = HttpResponse::Created();
    // The new object's metadata, as Swift's copy answers with it.
    for (k, v) in meta {
        if k.starts_with(util::SYSMETA_PREFIX) || v == util::REMOVED {
            continue;
        }
        let (name, value) = util::meta_header(k, v);
        resp.insert_header_bytes(name, &value);
    }
    resp.insert_header(("ETag", etag.to_string()))
        .insert_header(("X-Copied-From", format!("{}/{}", enc(src_c), enc(src_o))))
        .insert_header(("X-Copied-From-Account", enc(src_a)))
        .insert_header((
            "X-Copied-From-Last-Modified",
            util::http_date(src.last_modified),
        ))
        .insert_header(("Last-Modified", util::http_date(now)))
        .insert_header(("X-Timestamp", util::x_timestamp(now)))
        .content_type("text/html; charset=UTF-8")
        .finish()
}

/// `COPY /v1/{account}/{container}/{object}` with `Destination: container/object`.
#[utoipa::path(post, path = "/v1/{account}/{container}/{object}?COPY", tag = "object",
    params(("account" = String, Path), ("container" = String, Path), ("object" = String, Path),
        ("Destination" = String, Header, description = "container/object")),
    responses((status = 201, description = "Copied (shares the source's resource)"), (status = 404, description = "No source")))]
pub async fn copy(
    swift: &Swift,
    req: &HttpRequest,
    path: &SwiftPath,
    caller: &Caller,
) -> Result<Response> {
    let dest = header(req.headers(), "destination").ok_or_else(|| {
        SwiftError::PreconditionMessage("You must specify a Destination header".into())
    })?;
    let (dc, dobj) = split_copy_path(dest)?;
    let dest_acct =
        copy_account(req.headers(), "destination-account")?.unwrap_or_else(|| path.account.clone());
    let meta = util::collect_meta(req.headers(), "object", ALLOWED_HEADERS, swift.limits())?;
    let delete_at = delete_at(req)?;
    copy_object(
        swift,
        req,
        caller,
        (&path.account, &cname(path), &oname(path)),
        (&dest_acct, &dc, &dobj),
        meta,
        delete_at,
    )
    .await
}

/// The content segments of an object: itself, or what its manifest names.
pub async fn segments_of(swift: &Swift, caller: &Caller, row: &ObjectRow) -> Result<Vec<Segment>> {
    if row.slo {
        return Ok(slo::content(swift, caller, row).await?.segments);
    }
    if let Some(m) = &row.manifest {
        return dlo_segments(swift, caller, &row.account, m)
            .await
            .map(|(s, _)| s);
    }
    Ok(vec![Segment {
        resource_id: row.resource_id.clone(),
        offset: 0,
        len: row.size as u64,
        inline: None,
    }])
}

/// A DLO's segments: objects of `container/prefix` in name order, and the
/// ETag Swift gives the whole (MD5 of the segments' ETags).
async fn dlo_segments(
    swift: &Swift,
    caller: &Caller,
    account: &str,
    manifest: &str,
) -> Result<(Vec<Segment>, String)> {
    let dec = percent_encoding::percent_decode_str(manifest)
        .decode_utf8_lossy()
        .into_owned();
    let (c, prefix) = dec.split_once('/').unwrap_or((dec.as_str(), ""));
    // Swift's DLO lists the segment container and reads the segments as the
    // caller: a readable manifest does not open a protected container.
    let crow = container_row(swift, account, c).await?;
    caller.require_read(
        swift,
        account,
        c,
        crow.as_ref().and_then(|r| r.read_acl.as_deref()),
        true,
    )?;
    let (a, c, prefix) = (account.to_string(), c.to_string(), prefix.to_string());
    let rows = swift
        .db()
        .run(move |conn| {
            let mut out = Vec::new();
            let mut after: Option<String> = None;
            loop {
                let page =
                    store::object_page(conn, &a, &c, after.as_deref(), None, &prefix, false, 1000)
                        .map_err(|e| match e {
                            SwiftError::Db(d) => d,
                            other => db::Error::Task(other.to_string()),
                        })?;
                if page.is_empty() {
                    break;
                }
                after = page.last().map(|r| r.name.clone());
                out.extend(page);
            }
            Ok(out)
        })
        .await?;
    let now = db::now_micros();
    let mut etags = String::new();
    let mut segs = Vec::new();
    for r in rows.into_iter().filter(|r| !r.expired(now)) {
        etags.push_str(&r.etag);
        segs.push(Segment {
            resource_id: r.resource_id,
            offset: 0,
            len: r.size as u64,
            inline: None,
        });
    }
    let etag = hex::encode(<md5::Md5 as md5::Digest>::digest(etags.as_bytes()));
    Ok((segs, etag))
}

/// `GET`/`HEAD /v1/{account}/{container}/{object}`.
#[utoipa::path(get, path = "/v1/{account}/{container}/{object}", tag = "object",
    params(("account" = String, Path), ("container" = String, Path), ("object" = String, Path),
        ("Range" = Option<String>, Header), ("If-Match" = Option<String>, Header), ("If-None-Match" = Option<String>, Header),
        ("multipart-manifest" = Option<String>, Query, description = "get: the SLO manifest itself")),
    responses((status = 200, description = "Content"), (status = 206, description = "Partial content"),
        (status = 304, description = "Not modified"), (status = 404, description = "No such object"),
        (status = 412, description = "Precondition failed"), (status = 416, description = "Range not satisfiable")))]
pub async fn get(
    swift: &Swift,
    req: &HttpRequest,
    path: &SwiftPath,
    caller: &Caller,
    head: bool,
) -> Result<Response> {
    let (acct, cont, name) = (path.account.clone(), cname(path), oname(path));
    let crow = container_row(swift, &acct, &cont).await?;
    caller.require_read(
        swift,
        &acct,
        &cont,
        crow.as_ref().and_then(|c| c.read_acl.as_deref()),
        false,
    )?;
    let row = load(swift, &acct, &cont, &name)
        .await?
        .ok_or(SwiftError::NotFound)?;
    let q = util::parse_query(req.query_string());
    let manifest_get = q.get("multipart-manifest").map(String::as_str) == Some("get");

    // `?part-number=N` of an SLO: the N-th manifest entry, as a range.
    let part_number = part_number(&q, row.slo && !manifest_get)?;
    let mut slo_headers: Vec<(&'static str, String)> = Vec::new();
    let mut part_range: Option<ByteRange> = None;

    // What the body is made of, its size and the ETag shown.
    let (segments, size, etag) = if row.slo && !manifest_get {
        let content = slo::content(swift, caller, &row).await?;
        let size: u64 = content.parts.iter().sum();
        slo_headers.push(("X-Manifest-Etag", content.manifest_etag));
        if let Some(n) = part_number {
            slo_headers.push(("X-Parts-Count", content.parts.len().to_string()));
            part_range = slo_part(&content.parts, n);
            if part_range.is_none() {
                let mut r = HttpResponse::build(http::StatusCode::RANGE_NOT_SATISFIABLE);
                headers(&mut r, &row, &format!("\"{}\"", row.etag));
                r.insert_header(("Content-Range", format!("bytes */{size}")));
                for (k, v) in slo_headers {
                    r.insert_header((k, v));
                }
                let body = if head {
                    Vec::new()
                } else {
                    b"The requested part number is not satisfiable".to_vec()
                };
                return Ok(r.content_type("text/plain; charset=UTF-8").body(body));
            }
        }
        (content.segments, size, format!("\"{}\"", row.etag))
    } else if row.slo {
        let raw = slo::read_manifest(swift, &row).await?;
        let raw_format = q.get("format").map(String::as_str) == Some("raw");
        let body = slo::manifest_for_get(&raw, raw_format)?;
        let mut r = HttpResponse::Ok();
        headers(
            &mut r,
            &row,
            // The manifest's own ETag, unquoted as the object server
            // sends it (the SLO's quoted ETag is for its content).
            &hex::encode(<md5::Md5 as md5::Digest>::digest(&body)),
        );
        // The raw form is what the client PUT: it keeps the object's type.
        if raw_format {
            r.insert_header(("Content-Type", row.content_type.clone()));
        } else {
            r.insert_header(("Content-Type", "application/json; charset=utf-8"));
        }
        return Ok(r.body(body));
    } else if let (Some(m), false) = (&row.manifest, manifest_get) {
        let (segs, etag) = dlo_segments(swift, caller, &acct, m).await?;
        let size: u64 = segs.iter().map(|s| s.len).sum();
        (segs, size, format!("\"{etag}\""))
    } else {
        let segs = vec![Segment {
            resource_id: row.resource_id.clone(),
            offset: 0,
            len: row.size as u64,
            inline: None,
        }];
        (segs, row.size as u64, row.etag.clone())
    };

    if let Some(status) = conditionals(req, &row, &etag) {
        // swob keeps the object's headers on a 304 or 412 and drops the body.
        let mut r = HttpResponse::build(status);
        headers(&mut r, &row, &etag);
        r.insert_header(("Content-Type", row.content_type.clone()));
        return Ok(r.finish());
    }
    let mut resp = HttpResponse::Ok();
    headers(&mut resp, &row, &etag);
    resp.insert_header(("Content-Type", row.content_type.clone()));
    for (k, v) in &slo_headers {
        resp.insert_header((*k, v.clone()));
    }
    if head {
        if let Some(r) = part_range {
            let mut p = HttpResponse::PartialContent();
            headers(&mut p, &row, &etag);
            p.insert_header(("Content-Type", row.content_type.clone()));
            p.insert_header((
                "Content-Range",
                format!("bytes {}-{}/{size}", r.start, r.end - 1),
            ));
            for (k, v) in slo_headers {
                p.insert_header((k, v));
            }
            return Ok(p.body(crate::http::SizedStream::new(
                r.end - r.start,
                futures::stream::empty::<Result<bytes::Bytes, SwiftError>>(),
            )));
        }
        return Ok(resp.body(crate::http::SizedStream::new(
            size,
            futures::stream::empty::<Result<bytes::Bytes, SwiftError>>(),
        )));
    }
    let mut ranges = match part_range {
        Some(r) => Ranges::Some(vec![r]),
        None => range::parse(header(req.headers(), "range"), size),
    };
    if row.manifest.is_some() && !manifest_get && matches!(&ranges, Ranges::Some(r) if r.len() > 1)
    {
        // Swift's DLO answers several ranges with the whole object.
        ranges = Ranges::Whole;
    }
    match ranges {
        Ranges::Whole => {
            let whole = ByteRange {
                start: 0,
                end: size,
            };
            let mut s = range::stream_segments(swift.arch.clone(), segments, whole);
            if size <= SMALL_BODY {
                // One buffer: headers and body leave in one write.
                let mut buf = Vec::with_capacity(size as usize);
                while let Some(part) = s.next().await {
                    buf.extend_from_slice(&part?);
                }
                return Ok(resp.body(buf));
            }
            Ok(resp.body(crate::http::SizedStream::new(size, s)))
        }
        Ranges::Unsatisfiable => {
            // The error's answer, with the object's headers (ETag,
            // Accept-Ranges) as swob keeps them.
            let mut b = HttpResponse::build(http::StatusCode::RANGE_NOT_SATISFIABLE);
            headers(&mut b, &row, &etag);
            Ok(SwiftError::RangeNotSatisfiable(size).response_with(b))
        }
        Ranges::Some(rs) if rs.len() == 1 => {
            let r = rs[0];
            let mut p = HttpResponse::PartialContent();
            headers(&mut p, &row, &etag);
            p.insert_header(("Content-Type", row.content_type.clone()));
            for (k, v) in slo_headers {
                p.insert_header((k, v));
            }
            p.insert_header((
                "Content-Range",
                format!("bytes {}-{}/{size}", r.start, r.end - 1),
            ));
            let s = range::stream_segments(swift.arch.clone(), segments, r);
            Ok(p.body(crate::http::SizedStream::new(r.end - r.start, s)))
        }
        Ranges::Some(rs) => {
            let boundary = uuid::Uuid::new_v4().simple().to_string();
            let (len, s) = range::multipart(
                swift.arch.clone(),
                segments,
                rs,
                size,
                &row.content_type,
                &boundary,
            );
            let mut p = HttpResponse::PartialContent();
            headers(&mut p, &row, &etag);
            p.insert_header((
                "Content-Type",
                format!("multipart/byteranges;boundary={boundary}"),
            ));
            Ok(p.body(crate::http::SizedStream::new(len, s)))
        }
    }
}

fn headers(r: &mut crate::http::HttpResponseBuilder, row: &ObjectRow, etag: &str) {
    r.insert_header(("ETag", etag.to_string()))
        .insert_header(("Last-Modified", util::http_date(row.last_modified)))
        .insert_header(("X-Timestamp", util::x_timestamp(row.last_modified)))
        .insert_header(("Accept-Ranges", "bytes"));
    for (k, v) in util::meta_from_json(&row.metadata) {
        if !k.starts_with(util::SYSMETA_PREFIX) {
            let (name, value) = util::meta_header(&k, &v);
            r.insert_header_bytes(name, &value);
        }
    }
    if let Some(d) = row.delete_at {
        r.insert_header(("X-Delete-At", d.to_string()));
    }
    if let Some(m) = &row.manifest {
        r.insert_header(("X-Object-Manifest", m.clone()));
    }
    if row.slo {
        r.insert_header(("X-Static-Large-Object", "True"));
    }
}

fn etag_matches(list: &str, etag: &str) -> bool {
    let e = etag.trim_matches('"');
    list.split(',')
        .map(|t| t.trim().trim_matches('"'))
        .any(|t| t == "*" || t == e)
}

/// If-Match, If-None-Match, If-Modified-Since, If-Unmodified-Since: the
/// status (412 or 304) when one of them stops the request.
fn conditionals(req: &HttpRequest, row: &ObjectRow, etag: &str) -> Option<http::StatusCode> {
    let h = req.headers();
    let modified_secs = (row.last_modified + 999_999) / 1_000_000;
    let secs = |v: &str| {
        httpdate::parse_http_date(v).ok().map(|t| {
            t.duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        })
    };
    if let Some(m) = header(h, "if-match") {
        if !etag_matches(m, etag) {
            return Some(http::StatusCode::PRECONDITION_FAILED);
        }
    }
    if let Some(since) = header(h, "if-unmodified-since").and_then(secs) {
        if modified_secs > since {
            return Some(http::StatusCode::PRECONDITION_FAILED);
        }
    }
    let not_modified = if let Some(n) = header(h, "if-none-match") {
        etag_matches(n, etag)
    } else if let Some(since) = header(h, "if-modified-since").and_then(secs) {
        modified_secs <= since
    } else {
        false
    };
    not_modified.then_some(http::StatusCode::NOT_MODIFIED)
}

/// `POST /v1/{account}/{container}/{object}`: replaces the object's metadata.
#[utoipa::path(post, path = "/v1/{account}/{container}/{object}", tag = "object",
    params(("account" = String, Path), ("container" = String, Path), ("object" = String, Path)),
    responses((status = 202, description = "Metadata replaced"), (status = 404, description = "No such object")))]
pub async fn post(
    swift: &Swift,
    req: &HttpRequest,
    path: &SwiftPath,
    caller: &Caller,
) -> Result<Response> {
    let (acct, cont, name) = (path.account.clone(), cname(path), oname(path));
    writable_container(swift, caller, &acct, &cont).await?;
    let row = load(swift, &acct, &cont, &name)
        .await?
        .ok_or(SwiftError::NotFound)?;
    // Swift's POST replaces all user metadata with what the request carries.
    let mut meta = util::collect_meta(req.headers(), "object", ALLOWED_HEADERS, swift.limits())?;
    // Removals have nothing to remove from; empty values are kept.
    meta.retain(|_, v| v != util::REMOVED);
    // What the service keeps about the object stays through a POST.
    meta.extend(util::sysmeta_from_json(&row.metadata));
    // A POST sets, changes or (when absent) removes a DLO's manifest, as
    // Swift's object POST replaces it with the other metadata.
    let manifest = meta
        .remove("X-Object-Manifest")
        .filter(|m| !row.slo && !m.is_empty());
    util::check_meta_totals(&meta, "object", swift.limits())?;
    let delete_at = match (
        header(req.headers(), "x-delete-at"),
        header(req.headers(), "x-delete-after"),
    ) {
        (None, None) if req.headers().contains_key("x-remove-delete-at") => None,
        (None, None) => row.delete_at,
        _ => delete_at(req)?,
    };
    let ctype = header(req.headers(), "content-type")
        .map(str::to_string)
        .unwrap_or_else(|| row.content_type.clone());
    swift
        .db()
        .transaction(move |c| {
            store::update_object_meta(c, &row, &meta, &ctype, delete_at, manifest.as_deref())
        })
        .await?;
    Ok(HttpResponse::Accepted()
        .content_type("text/html; charset=UTF-8")
        .finish())
}

/// `DELETE /v1/{account}/{container}/{object}`.
#[utoipa::path(delete, path = "/v1/{account}/{container}/{object}", tag = "object",
    params(("account" = String, Path), ("container" = String, Path), ("object" = String, Path),
        ("multipart-manifest" = Option<String>, Query, description = "delete: the SLO and its segments")),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such object")))]
pub async fn delete(
    swift: &Swift,
    req: &HttpRequest,
    path: &SwiftPath,
    caller: &Caller,
) -> Result<Response> {
    let (acct, cont, name) = (path.account.clone(), cname(path), oname(path));
    let if_delete_at = match header(req.headers(), "x-if-delete-at") {
        Some(v) => Some(
            v.trim()
                .parse::<i64>()
                .map_err(|_| SwiftError::BadRequest("Bad X-If-Delete-At header value".into()))?,
        ),
        None => None,
    };
    writable_container(swift, caller, &acct, &cont).await?;
    if let Some(want) = if_delete_at {
        // Only an object whose X-Delete-At is exactly this one goes.
        let row = load(swift, &acct, &cont, &name)
            .await?
            .ok_or(SwiftError::NotFound)?;
        if row.delete_at != Some(want) {
            return Err(SwiftError::PreconditionFailed);
        }
    }
    let q = util::parse_query(req.query_string());
    if q.get("multipart-manifest").map(String::as_str) == Some("delete") {
        if let Some(row) = load(swift, &acct, &cont, &name).await? {
            if row.slo {
                return slo::delete_with_segments(swift, req, caller, row).await;
            }
        }
    }
    if !delete_as_client(swift, &acct, &cont, &name).await? {
        return Err(SwiftError::NotFound);
    }
    Ok(HttpResponse::NoContent()
        .content_type("text/html; charset=UTF-8")
        .finish())
}

/// Deletes an object as a client's DELETE does (also each one of a bulk or
/// SLO delete): through versioning where the container has it. False when
/// there was no live object.
pub async fn delete_as_client(swift: &Swift, acct: &str, cont: &str, name: &str) -> Result<bool> {
    match versioned_delete(swift, acct, cont, name).await? {
        versions::Deleted::Done(d) => Ok(d),
        versions::Deleted::NotVersioned => delete_one(swift, acct, cont, name).await,
    }
}

/// A DELETE in a versioned container (see `versions`), in one
/// transaction; history mode's delete marker is a new empty resource.
async fn versioned_delete(
    swift: &Swift,
    acct: &str,
    cont: &str,
    name: &str,
) -> Result<versions::Deleted> {
    let (a, c) = (acct.to_string(), cont.to_string());
    let mode = swift
        .db()
        .run(move |conn| Ok(versions::archive_of(conn, &a, &c)))
        .await??;
    let (a, c, n) = (acct.to_string(), cont.to_string(), name.to_string());
    match mode {
        None => Ok(versions::Deleted::NotVersioned),
        Some((_, true)) => {
            let staged = swift.arch.writer().finish().await?;
            swift
                .arch
                .commit(staged, move |conn, rid| {
                    versions::delete(conn, &a, &c, &n, Some(rid))
                })
                .await
        }
        Some((_, false)) => {
            swift
                .db()
                .transaction(move |conn| versions::delete(conn, &a, &c, &n, None))
                .await
        }
    }
}

/// Deletes one object row; false when there was none.
pub async fn delete_one(swift: &Swift, acct: &str, cont: &str, name: &str) -> Result<bool> {
    let (a, c, n) = (acct.to_string(), cont.to_string(), name.to_string());
    swift
        .db()
        .transaction(move |conn| versions::remove_current(conn, &a, &c, &n))
        .await
}
