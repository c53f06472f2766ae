//! Account GET/HEAD (metadata, container listing) and POST (metadata).

use crate::http::{HttpRequest, HttpResponse, Response};

use crate::auth::Caller;
use crate::error::Result;
use crate::listing::{self, Format};
use crate::store;
use crate::util::{self, SwiftPath};
use crate::Swift;

/// `GET`/`HEAD /v1/{account}`: account metadata and its containers.
#[utoipa::path(get, path = "/v1/{account}", tag = "account",
    params(("account" = String, Path, description = "AUTH_<project_id>")),
    responses((status = 200, description = "Container listing"), (status = 204, description = "No containers (plain text) or HEAD"),
        (status = 401, description = "No valid token"), (status = 403, description = "Not allowed")))]
pub async fn get(
    swift: &Swift,
    req: &HttpRequest,
    path: &SwiftPath,
    caller: &Caller,
    head: bool,
) -> Result<Response> {
    caller.require_account_read(swift, &path.account)?;
    let q = util::parse_query(req.query_string());
    let p = listing::params(&q, req.headers(), swift.limits().account_listing_limit)?;
    let acct = path.account.clone();
    let p2 = p.clone();
    let (row, entries) = swift
        .db()
        .run(move |c| {
            Ok((|| {
                let row = store::account(c, &acct)?;
                let entries = if head || row.is_none() {
                    Vec::new()
                } else {
                    listing::list(
                        &p2,
                        |r: &store::ContainerRow| r.name.as_str(),
                        |after, before, limit| {
                            store::container_page(
                                c, &acct, after, before, &p2.prefix, p2.reverse, limit,
                            )
                        },
                    )?
                };
                Ok::<_, crate::SwiftError>((row, entries))
            })())
        })
        .await??;
    let now = db::now_micros();
    let (created, cc, oc, bu, meta) = match &row {
        Some(r) => (
            r.created_at,
            r.container_count,
            r.object_count,
            r.bytes_used,
            r.metadata.clone(),
        ),
        None => (now, 0, 0, 0, "{}".to_string()),
    };
    let mut resp = if head || (entries.is_empty() && p.format == Format::Plain) {
        HttpResponse::NoContent()
    } else {
        HttpResponse::Ok()
    };
    resp.insert_header(("X-Account-Container-Count", cc.to_string()))
        .insert_header(("X-Account-Object-Count", oc.to_string()))
        .insert_header(("X-Account-Bytes-Used", bu.to_string()))
        .insert_header(("X-Timestamp", util::x_timestamp(created)))
        .insert_header(("X-Put-Timestamp", util::x_timestamp(created)))
        .insert_header(("Accept-Ranges", "bytes"))
        .insert_header(("Content-Type", p.format.content_type()));
    if cc > 0 {
        // Per-policy usage, as Swift's account server reports it for every
        // policy holding containers (there is one).
        let pol = util::title_case(crate::info::POLICY);
        resp.insert_header((
            format!("X-Account-Storage-Policy-{pol}-Container-Count"),
            cc.to_string(),
        ))
        .insert_header((
            format!("X-Account-Storage-Policy-{pol}-Object-Count"),
            oc.to_string(),
        ))
        .insert_header((
            format!("X-Account-Storage-Policy-{pol}-Bytes-Used"),
            bu.to_string(),
        ));
    }
    let owner = caller.access(swift, &path.account) == crate::auth::Access::Owner;
    for (k, v) in util::meta_from_json(&meta) {
        if owner || !crate::tempurl::is_key_header(&k) {
            resp.insert_header((k, v));
        }
    }
    if head {
        return Ok(resp.finish());
    }
    let body = listing::render("account", &path.account, &entries, p.format);
    Ok(resp.body(body))
}

impl listing::Listed for store::ContainerRow {
    fn name(&self) -> &str {
        &self.name
    }
    fn json(&self) -> serde_json::Value {
        serde_json::json!({
            "name": self.name, "count": self.object_count, "bytes": self.bytes_used,
            "last_modified": util::iso_timestamp(self.put_timestamp),
            "storage_policy": crate::info::POLICY,
        })
    }
    fn xml(&self) -> String {
        format!(
            "<container><name>{}</name><count>{}</count><bytes>{}</bytes><last_modified>{}</last_modified><storage_policy>{}</storage_policy></container>",
            listing::xml_escape(&self.name),
            self.object_count,
            self.bytes_used,
            util::iso_timestamp(self.put_timestamp),
            crate::info::POLICY,
        )
    }
}

/// `POST /v1/{account}`: sets or removes account metadata.
#[utoipa::path(post, path = "/v1/{account}", tag = "account",
    params(("account" = String, Path, description = "AUTH_<project_id>")),
    responses((status = 204, description = "Metadata updated"), (status = 400, description = "Bad metadata")))]
pub async fn post(
    swift: &Swift,
    req: &HttpRequest,
    path: &SwiftPath,
    caller: &Caller,
) -> Result<Response> {
    caller.require_owner(swift, &path.account)?;
    // Swift's account_quotas: only a reseller admin sets the quotas.
    let quotas = crate::quota::account_quota_headers(req, caller.is_reseller_admin(swift))?;
    let mut update = util::collect_meta(
        req.headers(),
        "account",
        &crate::quota::ACCOUNT_QUOTA_HEADERS,
        swift.limits(),
    )?;
    update.extend(quotas);
    let acct = path.account.clone();
    let limits = swift.limits().clone();
    swift
        .db()
        .transaction(move |c| {
            store::ensure_account(c, &acct)?;
            let row = store::account(c, &acct)?.ok_or(crate::SwiftError::NotFound)?;
            let merged = util::merge_meta(&row.metadata, &update);
            util::check_meta_totals(&merged, "account", &limits)?;
            store::set_account_meta(c, &acct, &util::meta_json(&merged))
        })
        .await?;
    Ok(HttpResponse::NoContent()
        .content_type("text/html; charset=UTF-8")
        .finish())
}
