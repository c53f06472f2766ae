//! Bulk delete (`POST /v1/{account}?bulk-delete`), also used for deleting
//! an SLO with its segments.

use crate::http::{HttpRequest, HttpResponse, Payload, Response};

use crate::auth::Caller;
use crate::error::Result;
use crate::util::{header, SwiftPath};
use crate::{object, store, Swift, SwiftError};

/// The outcome of a bulk delete, rendered as Swift's bulk middleware does.
#[derive(Debug, Default)]
pub struct Report {
    pub deleted: u64,
    pub not_found: u64,
    pub errors: Vec<(String, String)>,
}

/// `POST /v1/{account}?bulk-delete`: body lists `/container[/object]` paths,
/// one a line, URL-encoded.
#[utoipa::path(post, path = "/v1/{account}?bulk-delete", tag = "account",
    params(("account" = String, Path)),
    request_body(content = String, description = "Newline-separated /container/object paths", content_type = "text/plain"),
    responses((status = 200, description = "Per-path outcome (Number Deleted, Number Not Found, Errors)")))]
pub async fn delete(
    swift: &Swift,
    req: &HttpRequest,
    path: &SwiftPath,
    caller: &Caller,
    mut body: Payload,
) -> Result<Response> {
    if caller.ctx.is_none() {
        return Err(SwiftError::Unauthorized);
    }
    let raw =
        object::read_small_body(&mut body, swift.limits().max_deletes_per_request * 1100).await?;
    let text = String::from_utf8_lossy(&raw);
    let paths: Vec<String> = text
        .lines()
        .map(|l| {
            percent_encoding::percent_decode_str(l.trim())
                .decode_utf8_lossy()
                .into_owned()
        })
        .filter(|l| !l.is_empty())
        .collect();
    if paths.len() > swift.limits().max_deletes_per_request {
        return Err(SwiftError::TooLarge(format!(
            "Maximum Bulk Deletes: {} per request",
            swift.limits().max_deletes_per_request
        )));
    }
    let report = delete_paths(swift, caller, &path.account, &paths).await?;
    Ok(respond(req, report))
}

/// Deletes each path, checking the caller's rights per path.
pub async fn delete_paths(
    swift: &Swift,
    caller: &Caller,
    account: &str,
    paths: &[String],
) -> Result<Report> {
    let mut r = Report::default();
    for p in paths {
        let t = p.trim_start_matches('/');
        let (c, o) = match t.split_once('/') {
            Some((c, o)) if !o.is_empty() => (c.to_string(), Some(o.to_string())),
            _ => (t.trim_end_matches('/').to_string(), None),
        };
        let crow = {
            let (a, cc) = (account.to_string(), c.clone());
            swift
                .db()
                .run(move |conn| Ok(store::container(conn, &a, &cc)))
                .await??
        };
        let outcome = match &o {
            Some(obj) => match caller.require_write(
                swift,
                account,
                &c,
                crow.as_ref().and_then(|c| c.write_acl.as_deref()),
            ) {
                Err(_) => Err("403 Forbidden".to_string()),
                Ok(()) => match object::delete_as_client(swift, account, &c, obj).await {
                    Ok(deleted) => Ok(deleted),
                    // One object's refusal (say, a versioned container's
                    // missing archive) is that object's error, as Swift's
                    // sub-request status is.
                    Err(e @ (SwiftError::PreconditionFailed | SwiftError::Conflict)) => {
                        let s = e.status_code();
                        Err(format!(
                            "{} {}",
                            s.as_u16(),
                            s.canonical_reason().unwrap_or("")
                        ))
                    }
                    Err(e) => return Err(e),
                },
            },
            None => match caller.require_owner(swift, account) {
                Err(_) => Err("403 Forbidden".to_string()),
                Ok(()) => {
                    let (a, cc) = (account.to_string(), c.clone());
                    match swift
                        .db()
                        .transaction(move |conn| store::delete_container(conn, &a, &cc))
                        .await
                    {
                        Ok(()) => Ok(true),
                        Err(SwiftError::NotFound) => Ok(false),
                        Err(SwiftError::Conflict) => Err("409 Conflict".to_string()),
                        Err(e) => return Err(e),
                    }
                }
            },
        };
        match outcome {
            Ok(true) => r.deleted += 1,
            Ok(false) => r.not_found += 1,
            Err(e) => r.errors.push((p.clone(), e)),
        }
    }
    Ok(r)
}

/// Renders a report in the format the request's Accept header asks for.
pub fn respond(req: &HttpRequest, r: Report) -> Response {
    let status = if r.errors.is_empty() {
        "200 OK"
    } else {
        "400 Bad Request"
    };
    let accept = header(req.headers(), "accept").unwrap_or("");
    if accept.contains("application/json") {
        let body = serde_json::json!({
            "Number Deleted": r.deleted,
            "Number Not Found": r.not_found,
            "Response Body": "",
            "Response Status": status,
            "Errors": r.errors.iter().map(|(p, e)| vec![p.clone(), e.clone()]).collect::<Vec<_>>(),
        });
        return HttpResponse::Ok()
            .content_type("application/json")
            .body(body.to_string());
    }
    let mut s = format!(
        "Number Deleted: {}\nNumber Not Found: {}\nResponse Body: \nResponse Status: {status}\nErrors:\n",
        r.deleted, r.not_found
    );
    for (p, e) in &r.errors {
        s.push_str(&format!("{p}, {e}\n"));
    }
    HttpResponse::Ok().content_type("text/plain").body(s)
}
