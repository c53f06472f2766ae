//! Image tags: `PUT` and `DELETE /v2/images/{id}/tags/{tag}`.

use actix_web::{web, HttpResponse};
use db::images;

use crate::dto;
use crate::error::{GlanceError, Result};
use crate::http::{no_image, Caller};
use crate::images::load_owned;
use crate::Glance;

/// Adds or removes one tag; 404 when removing a tag the image lacks.
async fn change(g: &Glance, caller: &Caller, id: &str, tag: &str, add: bool) -> Result<()> {
    if tag.chars().count() > 255 {
        return Err(GlanceError::BadRequest(
            "Tag is too long: at most 255 characters".into(),
        ));
    }
    let row = load_owned(g, caller, id, "modify_image").await?;
    let (id, tag) = (row.id.clone(), tag.to_string());
    g.db()
        .transaction(move |c| {
            let Some(mut cur) = images::get(c, &id)? else {
                return Err(no_image(&id));
            };
            let mut tags = dto::tags(&cur);
            let had = tags.contains(&tag);
            if add && !had {
                tags.push(tag);
            } else if !add {
                if !had {
                    return Err(GlanceError::NotFound(format!(
                        "Tag {tag} not found for image {id}"
                    )));
                }
                tags.retain(|t| *t != tag);
            }
            cur.tags = serde_json::to_string(&tags).unwrap_or_else(|_| "[]".into());
            cur.updated_at = db::now_micros();
            images::update(c, &cur)?;
            Ok(())
        })
        .await
}

/// `PUT /v2/images/{image_id}/tags/{tag}`
#[utoipa::path(put, path = "/v2/images/{image_id}/tags/{tag}", tag = "images",
    params(("image_id" = String, Path), ("tag" = String, Path)),
    responses((status = 204), (status = 403), (status = 404)))]
pub async fn add(
    g: web::Data<Glance>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (id, tag) = path.into_inner();
    change(&g, &caller, &id, &tag, true).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `DELETE /v2/images/{image_id}/tags/{tag}`
#[utoipa::path(delete, path = "/v2/images/{image_id}/tags/{tag}", tag = "images",
    params(("image_id" = String, Path), ("tag" = String, Path)),
    responses((status = 204), (status = 403), (status = 404)))]
pub async fn remove(
    g: web::Data<Glance>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse> {
    let (id, tag) = path.into_inner();
    change(&g, &caller, &id, &tag, false).await?;
    Ok(HttpResponse::NoContent().finish())
}
