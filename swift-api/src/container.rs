//! Container PUT/GET/HEAD/POST/DELETE: metadata, ACLs and object listings.

use crate::http::{HttpRequest, HttpResponse, Response};

use crate::auth::{Access, Caller};
use crate::error::{Result, SwiftError};
use crate::listing::{self, Format};
use crate::quota;
use crate::store;
use crate::util::{self, header, SwiftPath};
use crate::versions;
use crate::Swift;

fn name(path: &SwiftPath) -> String {
    path.container.clone().unwrap_or_default()
}

/// Reads `X-Container-Read`/`-Write` (and their `X-Remove-` forms) from a
/// request: `None` leaves the ACL as it is, `Some(None)` clears it.
#[allow(clippy::type_complexity)]
fn acl_headers(req: &HttpRequest) -> (Option<Option<String>>, Option<Option<String>>) {
    let h = req.headers();
    let pick = |set: &str, remove: &str| {
        if h.contains_key(remove) {
            Some(None)
        } else {
            header(h, set).map(|v| {
                let v = v.trim();
                (!v.is_empty()).then(|| v.to_string())
            })
        }
    };
    (
        pick("x-container-read", "x-remove-container-read"),
        pick("x-container-write", "x-remove-container-write"),
    )
}

/// Merges a metadata update and ACL changes into a container row,
/// checking Swift's metadata limits on the result.
fn apply_update(
    row: &mut store::ContainerRow,
    update: &std::collections::BTreeMap<String, String>,
    read: Option<Option<String>>,
    write: Option<Option<String>>,
    limits: &crate::Limits,
) -> Result<()> {
    let merged = util::merge_meta(&row.metadata, update);
    util::check_meta_totals(&merged, "container", limits)?;
    row.metadata = util::meta_json(&merged);
    if let Some(r) = read {
        row.read_acl = r;
    }
    if let Some(w) = write {
        row.write_acl = w;
    }
    Ok(())
}

fn check_policy(req: &HttpRequest) -> Result<()> {
    match header(req.headers(), "x-storage-policy") {
        None => Ok(()),
        // Empty asks for the default, as Swift takes it.
        Some(p)
            if p.trim().is_empty()
                || p.eq_ignore_ascii_case("default")
                || p.eq_ignore_ascii_case("Policy-0") =>
        {
            Ok(())
        }
        Some(p) => Err(SwiftError::BadRequest(format!(
            "Invalid X-Storage-Policy '{p}'"
        ))),
    }
}

/// `PUT /v1/{account}/{container}`: creates a container (201) or updates
/// an existing one's metadata (202).
#[utoipa::path(put, path = "/v1/{account}/{container}", tag = "container",
    params(("account" = String, Path), ("container" = String, Path)),
    responses((status = 201, description = "Created"), (status = 202, description = "Existed; metadata updated"),
        (status = 400, description = "Bad name or metadata"), (status = 403, description = "Not the owner")))]
pub async fn put(
    swift: &Swift,
    req: &HttpRequest,
    path: &SwiftPath,
    caller: &Caller,
) -> Result<Response> {
    quota::validate(req)?;
    caller.require_owner(swift, &path.account)?;
    check_policy(req)?;
    let mut update = util::collect_meta(req.headers(), "container", &[], swift.limits())?;
    update.extend(versions::container_update(req)?);
    let (read, write) = acl_headers(req);
    let (acct, cname, limits) = (path.account.clone(), name(path), swift.limits().clone());
    let created = swift
        .db()
        .transaction(move |c| match store::container(c, &acct, &cname)? {
            None => {
                let merged = util::merge_meta("{}", &update);
                util::check_meta_totals(&merged, "container", &limits)?;
                store::create_container(
                    c,
                    &acct,
                    &cname,
                    &util::meta_json(&merged),
                    read.flatten().as_deref(),
                    write.flatten().as_deref(),
                )
            }
            Some(mut row) => {
                apply_update(&mut row, &update, read, write, &limits)?;
                store::update_container(c, &row)?;
                Ok(false)
            }
        })
        .await?;
    let mut r = if created {
        HttpResponse::Created()
    } else {
        HttpResponse::Accepted()
    };
    Ok(r.content_type("text/html; charset=UTF-8").finish())
}

/// `POST /v1/{account}/{container}`: updates metadata and ACLs.
#[utoipa::path(post, path = "/v1/{account}/{container}", tag = "container",
    params(("account" = String, Path), ("container" = String, Path)),
    responses((status = 204, description = "Updated"), (status = 404, description = "No such container")))]
pub async fn post(
    swift: &Swift,
    req: &HttpRequest,
    path: &SwiftPath,
    caller: &Caller,
) -> Result<Response> {
    quota::validate(req)?;
    caller.require_owner(swift, &path.account)?;
    let mut update = util::collect_meta(req.headers(), "container", &[], swift.limits())?;
    update.extend(versions::container_update(req)?);
    let (read, write) = acl_headers(req);
    let (acct, cname, limits) = (path.account.clone(), name(path), swift.limits().clone());
    swift
        .db()
        .transaction(move |c| {
            let mut row = store::container_required(c, &acct, &cname)?;
            apply_update(&mut row, &update, read, write, &limits)?;
            store::update_container(c, &row)
        })
        .await?;
    Ok(HttpResponse::NoContent()
        .content_type("text/html; charset=UTF-8")
        .finish())
}

/// `DELETE /v1/{account}/{container}`: 204, or 409 while it holds objects.
#[utoipa::path(delete, path = "/v1/{account}/{container}", tag = "container",
    params(("account" = String, Path), ("container" = String, Path)),
    responses((status = 204, description = "Deleted"), (status = 404, description = "No such container"),
        (status = 409, description = "Not empty")))]
pub async fn delete(
    swift: &Swift,
    _req: &HttpRequest,
    path: &SwiftPath,
    caller: &Caller,
) -> Result<Response> {
    caller.require_owner(swift, &path.account)?;
    let (acct, cname) = (path.account.clone(), name(path));
    swift
        .db()
        .transaction(move |c| store::delete_container(c, &acct, &cname))
        .await?;
    Ok(HttpResponse::NoContent()
        .content_type("text/html; charset=UTF-8")
        .finish())
}

/// `GET`/`HEAD /v1/{account}/{container}`: metadata and object listing.
#[utoipa::path(get, path = "/v1/{account}/{container}", tag = "container",
    params(("account" = String, Path), ("container" = String, Path),
        ("prefix" = Option<String>, Query), ("delimiter" = Option<String>, Query), ("path" = Option<String>, Query), ("marker" = Option<String>, Query),
        ("end_marker" = Option<String>, Query), ("limit" = Option<u32>, Query), ("reverse" = Option<bool>, Query),
        ("format" = Option<String>, Query, description = "json, xml or plain")),
    responses((status = 200, description = "Listing"), (status = 204, description = "Empty (plain) or HEAD"),
        (status = 404, description = "No such container")))]
pub async fn get(
    swift: &Swift,
    req: &HttpRequest,
    path: &SwiftPath,
    caller: &Caller,
    head: bool,
) -> Result<Response> {
    let q = util::parse_query(req.query_string());
    let p = listing::params(&q, req.headers(), swift.limits().container_listing_limit)?;
    let (acct, cname) = (path.account.clone(), name(path));
    let row = {
        let (a, n) = (acct.clone(), cname.clone());
        swift
            .db()
            .run(move |c| Ok(store::container(c, &a, &n)))
            .await??
    };
    // Authorize before revealing whether the container exists.
    caller.require_read(
        swift,
        &acct,
        &cname,
        row.as_ref().and_then(|r| r.read_acl.as_deref()),
        true,
    )?;
    let row = row.ok_or(SwiftError::NotFound)?;
    let entries = if head {
        Vec::new()
    } else {
        let p2 = p.clone();
        let now = db::now_micros();
        swift
            .db()
            .run(move |c| {
                Ok(listing::list(
                    &p2,
                    |r: &store::ObjectRow| r.name.as_str(),
                    |after, before, limit| {
                        let mut rows = store::object_page(
                            c, &acct, &cname, after, before, &p2.prefix, p2.reverse, limit,
                        )?;
                        rows.retain(|r| !r.expired(now));
                        Ok(rows)
                    },
                ))
            })
            .await??
    };
    let mut resp = if head || (entries.is_empty() && p.format == Format::Plain) {
        HttpResponse::NoContent()
    } else {
        HttpResponse::Ok()
    };
    resp.insert_header(("X-Container-Object-Count", row.object_count.to_string()))
        .insert_header(("X-Container-Bytes-Used", row.bytes_used.to_string()))
        .insert_header(("X-Timestamp", util::x_timestamp(row.created_at)))
        .insert_header(("X-Put-Timestamp", util::x_timestamp(row.put_timestamp)))
        .insert_header(("Last-Modified", util::http_date(row.put_timestamp)))
        .insert_header(("X-Storage-Policy", crate::info::POLICY))
        .insert_header(("Accept-Ranges", "bytes"))
        .insert_header(("Content-Type", p.format.content_type()));
    let owner = caller.access(swift, &path.account) == Access::Owner;
    if owner {
        if let Some(r) = &row.read_acl {
            resp.insert_header(("X-Container-Read", r.as_str()));
        }
        if let Some(w) = &row.write_acl {
            resp.insert_header(("X-Container-Write", w.as_str()));
        }
    }
    let meta = util::meta_from_json(&row.metadata);
    if let Some((name, loc)) = versions::container_header(&meta) {
        resp.insert_header((name, loc));
    }
    for (k, v) in meta {
        if k.starts_with(versions::SYSMETA_PREFIX) {
            continue;
        }
        if owner || !crate::tempurl::is_key_header(&k) {
            resp.insert_header((k, v));
        }
    }
    if head {
        return Ok(resp.finish());
    }
    Ok(resp.body(listing::render("container", &row.name, &entries, p.format)))
}

/// The `hash` a listing shows: an SLO's is its manifest's MD5 (the SLO's
/// own ETag goes in `slo_etag`), as in Swift.
fn listed_hash(row: &store::ObjectRow) -> String {
    if row.slo {
        if let Some(h) = util::meta_from_json(&row.metadata).remove(util::SLO_MANIFEST_ETAG) {
            return h;
        }
    }
    row.etag.clone()
}

impl listing::Listed for store::ObjectRow {
    fn name(&self) -> &str {
        &self.name
    }
    fn json(&self) -> serde_json::Value {
        let mut v = serde_json::json!({
            "name": self.name,
            "hash": listed_hash(self),
            "bytes": self.size,
            "content_type": self.content_type,
            "last_modified": util::iso_timestamp(self.last_modified),
        });
        if self.slo {
            v["slo_etag"] = format!("\"{}\"", self.etag).into();
        }
        v
    }
    fn xml(&self) -> String {
        let x = listing::xml_escape;
        format!(
            "<object><name>{}</name><hash>{}</hash><bytes>{}</bytes><content_type>{}</content_type><last_modified>{}</last_modified></object>",
            x(&self.name),
            listed_hash(self),
            self.size,
            x(&self.content_type),
            util::iso_timestamp(self.last_modified)
        )
    }
}
