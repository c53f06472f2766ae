//! `GET /v2/images` query: filters, sorting (`sort_key`/`sort_dir` and the
//! `sort=key:dir,...` form), marker/limit pagination, and which images a
//! project may list (Glance's default listing rules). Pure functions over
//! the candidate rows `db::images::list_candidates` loaded.

use std::cmp::Ordering;
use std::collections::HashMap;

use db::images::ImageRow;

use crate::dto;
use crate::error::{GlanceError, Result};

/// Glance's `limit_param_default` and `api_limit_max`.
pub const DEFAULT_LIMIT: usize = 25;
pub const MAX_LIMIT: usize = 1000;

const SORT_KEYS: &[&str] = &[
    "name",
    "status",
    "container_format",
    "disk_format",
    "size",
    "id",
    "created_at",
    "updated_at",
];

/// Parsed listing parameters.
#[derive(Debug, Default, Clone)]
pub struct ListQuery {
    pub limit: usize,
    pub marker: Option<String>,
    pub sort: Vec<(String, bool)>,
    pub visibility: Option<String>,
    pub member_status: String,
    pub tags: Vec<String>,
    pub size_min: Option<i64>,
    pub size_max: Option<i64>,
    pub os_hidden: bool,
    /// Other filters: base attributes and custom properties, each a set of
    /// accepted values (`in:a,b` or one value).
    pub filters: Vec<(String, Vec<String>)>,
}

fn bad(msg: impl Into<String>) -> GlanceError {
    GlanceError::BadRequest(msg.into())
}

fn parse_size(name: &str, v: &str) -> Result<i64> {
    v.parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| bad(format!("Invalid value for {name}: {v}")))
}

/// Parses the query pairs of a listing request.
pub fn parse(pairs: &[(String, String)]) -> Result<ListQuery> {
    let mut q = ListQuery {
        limit: DEFAULT_LIMIT,
        member_status: "accepted".into(),
        ..Default::default()
    };
    let (mut keys, mut dirs, mut sort_new) = (Vec::new(), Vec::new(), None::<String>);
    for (k, v) in pairs {
        match k.as_str() {
            "limit" => {
                let n: i64 = v
                    .parse()
                    .map_err(|_| bad("limit param must be an integer"))?;
                if n < 0 {
                    return Err(bad("limit param must be positive"));
                }
                q.limit = (n as usize).min(MAX_LIMIT);
            }
            "marker" => q.marker = Some(v.clone()),
            "sort_key" => keys.push(v.clone()),
            "sort_dir" => dirs.push(v.clone()),
            "sort" => sort_new = Some(v.clone()),
            "visibility" => {
                if !["public", "private", "shared", "community", "all"].contains(&v.as_str()) {
                    return Err(bad(format!("Invalid visibility value: {v}")));
                }
                q.visibility = Some(v.clone());
            }
            "member_status" => {
                if !["pending", "accepted", "rejected", "all"].contains(&v.as_str()) {
                    return Err(bad(format!("Invalid status: {v}")));
                }
                q.member_status = v.clone();
            }
            "tag" => q.tags.push(v.clone()),
            "size_min" => q.size_min = Some(parse_size(k, v)?),
            "size_max" => q.size_max = Some(parse_size(k, v)?),
            // Glance lowercases os_hidden but not protected, and takes
            // only `true` and `false` for either.
            "os_hidden" => {
                q.os_hidden = match v.to_ascii_lowercase().as_str() {
                    "true" => true,
                    "false" => false,
                    other => {
                        return Err(bad(format!(
                            "Invalid value '{other}' for 'os_hidden' filter. \
                             Valid values are 'true' or 'false'."
                        )))
                    }
                }
            }
            "changes-since" => {
                return Err(bad(
                    "The \"changes-since\" filter is no longer available on v2.",
                ))
            }
            "protected" => {
                if v != "true" && v != "false" {
                    return Err(bad(format!(
                        "Invalid value '{v}' for 'protected' filter. \
                         Valid values are 'true' or 'false'."
                    )));
                }
                q.filters.push((k.clone(), vec![v.clone()]));
            }
            _ => {
                let values = match v.strip_prefix("in:") {
                    Some(list) => list.split(',').map(|s| s.trim().to_string()).collect(),
                    None => vec![v.clone()],
                };
                q.filters.push((k.clone(), values));
            }
        }
    }
    if let Some(s) = &sort_new {
        if !keys.is_empty() || !dirs.is_empty() {
            return Err(bad("Old and new sorting syntax cannot be combined"));
        }
        for part in s.split(',') {
            let (k, d) = part.split_once(':').unwrap_or((part, "desc"));
            q.sort.push((check_key(k.trim())?, check_dir(d.trim())?));
        }
    } else {
        if dirs.len() > 1 && dirs.len() != keys.len() {
            return Err(bad(
                "Number of sort dirs does not match the number of sort keys",
            ));
        }
        for (i, k) in keys.iter().enumerate() {
            let d = dirs
                .get(i)
                .or(dirs.first())
                .map(String::as_str)
                .unwrap_or("desc");
            q.sort.push((check_key(k)?, check_dir(d)?));
        }
        if keys.is_empty() {
            let d = dirs.first().map(String::as_str).unwrap_or("desc");
            q.sort.push(("created_at".into(), check_dir(d)?));
        }
    }
    // Glance's database layer breaks ties by created_at then id, in the
    // one direction given when only one was, else descending.
    let one_dir = match (sort_new.is_some(), dirs.len()) {
        (true, _) if q.sort.len() == 1 => q.sort[0].1,
        (false, 1) => q.sort[0].1,
        _ => false,
    };
    for key in ["created_at", "id"] {
        if !q.sort.iter().any(|(k, _)| k == key) {
            q.sort.push((key.into(), one_dir));
        }
    }
    Ok(q)
}

fn check_key(k: &str) -> Result<String> {
    if SORT_KEYS.contains(&k) {
        Ok(k.to_string())
    } else {
        Err(bad(format!(
            "Invalid sort key: {k}. It must be one of the following: {}.",
            SORT_KEYS.join(", ")
        )))
    }
}

/// True for ascending.
fn check_dir(d: &str) -> Result<bool> {
    match d {
        "asc" => Ok(true),
        "desc" => Ok(false),
        _ => Err(bad(format!("Invalid sort direction: {d}"))),
    }
}

/// True when a listing shows `row` to `project` (Glance's rules: owned,
/// public, and accepted shares by default; community only when asked for;
/// an admin sees every image).
pub fn listable(
    row: &ImageRow,
    q: &ListQuery,
    project: &str,
    admin: bool,
    membership: Option<&str>,
) -> bool {
    let owned = row.owner.as_deref() == Some(project);
    let member_ok = |m: Option<&str>| match m {
        Some(s) => q.member_status == "all" || q.member_status == s,
        None => false,
    };
    // What the caller may list at all: everything for an admin; else
    // public, community, owned, and shares in the asked member status.
    let candidate = admin
        || owned
        || row.visibility == "public"
        || row.visibility == "community"
        || (row.visibility == "shared" && member_ok(membership));
    // Then the visibility filter; without one, community images show only
    // to their owner (an admin included).
    candidate
        && match q.visibility.as_deref() {
            None => row.visibility != "community" || owned,
            Some("all") => true,
            Some(v) => row.visibility == v,
        }
}

/// The value of a filterable attribute as Glance compares it.
fn attr(row: &ImageRow, key: &str) -> Option<String> {
    match key {
        "name" => row.name.clone(),
        "status" => Some(row.status.clone()),
        "owner" => row.owner.clone(),
        "id" => Some(row.id.clone()),
        "container_format" => row.container_format.clone(),
        "disk_format" => row.disk_format.clone(),
        "protected" => Some(row.protected.to_string()),
        "min_ram" => Some(row.min_ram.to_string()),
        "min_disk" => Some(row.min_disk.to_string()),
        "checksum" => row.checksum.clone(),
        "os_hash_value" => row.os_hash_value.clone(),
        "size" => row.size.map(|s| s.to_string()),
        _ => {
            let view = dto::image_view(row);
            view.properties
                .get(key)
                .and_then(|v| v.as_str().map(str::to_string))
        }
    }
}

/// True when `row` passes every filter.
pub fn matches(row: &ImageRow, q: &ListQuery) -> bool {
    if row.os_hidden != q.os_hidden {
        return false;
    }
    if let Some(min) = q.size_min {
        if row.size.is_none_or(|s| s < min) {
            return false;
        }
    }
    if let Some(max) = q.size_max {
        if row.size.is_none_or(|s| s > max) {
            return false;
        }
    }
    if !q.tags.is_empty() {
        let tags = dto::tags(row);
        if !q.tags.iter().all(|t| tags.contains(t)) {
            return false;
        }
    }
    q.filters
        .iter()
        .all(|(k, values)| attr(row, k).is_some_and(|v| values.contains(&v)))
}

fn cmp_key(a: &ImageRow, b: &ImageRow, key: &str) -> Ordering {
    match key {
        "name" => a.name.cmp(&b.name),
        "status" => a.status.cmp(&b.status),
        "container_format" => a.container_format.cmp(&b.container_format),
        "disk_format" => a.disk_format.cmp(&b.disk_format),
        "size" => a.size.cmp(&b.size),
        "id" => a.id.cmp(&b.id),
        "updated_at" => a.updated_at.cmp(&b.updated_at),
        _ => a.created_at.cmp(&b.created_at),
    }
}

fn cmp_sorted(a: &ImageRow, b: &ImageRow, q: &ListQuery) -> Ordering {
    q.sort
        .iter()
        .map(|(k, asc)| {
            let o = cmp_key(a, b, k);
            if *asc {
                o
            } else {
                o.reverse()
            }
        })
        .find(|o| *o != Ordering::Equal)
        .unwrap_or(Ordering::Equal)
}

/// Sorts, then cuts the page after `marker`: the marker image's sort
/// values, as Glance's keyset pagination does, so a marker that the filters
/// leave out (but the caller may see) still places the page. Returns the
/// page and whether it is full (Glance then gives a `next` link).
pub fn page(
    mut rows: Vec<ImageRow>,
    q: &ListQuery,
    marker: Option<&ImageRow>,
) -> (Vec<ImageRow>, bool) {
    rows.sort_by(|a, b| cmp_sorted(a, b, q));
    let start = match marker {
        Some(m) => rows
            .iter()
            .position(|r| cmp_sorted(r, m, q) == Ordering::Greater)
            .unwrap_or(rows.len()),
        None => 0,
    };
    let out: Vec<ImageRow> = rows.into_iter().skip(start).take(q.limit).collect();
    let full = q.limit > 0 && out.len() == q.limit;
    (out, full)
}

/// Glance's `first`/`next` query: the request's parameters as a dict (one
/// value per name, the last one given, in first-seen order) without the
/// marker, form-encoded as Python's `urlencode` does.
pub fn link_query(pairs: &[(String, String)], marker: Option<&str>) -> String {
    let mut params: Vec<(&str, &str)> = Vec::new();
    for (k, v) in pairs.iter().filter(|(k, _)| k != "marker") {
        match params.iter_mut().find(|(pk, _)| pk == k) {
            Some(p) => p.1 = v,
            None => params.push((k, v)),
        }
    }
    if let Some(m) = marker {
        params.push(("marker", m));
    }
    params
        .iter()
        .map(|(k, v)| format!("{}={}", quote_plus(k), quote_plus(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Python's `urllib.parse.quote_plus`.
fn quote_plus(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Member statuses of `project` by image id.
pub fn membership_map(rows: Vec<db::images::MemberRow>) -> HashMap<String, String> {
    rows.into_iter().map(|m| (m.image_id, m.status)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(s: &[(&str, &str)]) -> Vec<(String, String)> {
        s.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn img(id: &str, name: &str, created: i64, size: i64) -> ImageRow {
        let mut r = ImageRow::queued(id.into(), Some("p".into()), created);
        r.name = Some(name.into());
        r.size = Some(size);
        r
    }

    #[test]
    fn sort_syntaxes() {
        let q = parse(&pairs(&[("sort", "name:asc,size")])).unwrap();
        assert_eq!(
            q.sort,
            vec![
                ("name".into(), true),
                ("size".into(), false),
                ("created_at".into(), false),
                ("id".into(), false)
            ]
        );
        let q = parse(&pairs(&[("sort_key", "name"), ("sort_dir", "asc")])).unwrap();
        assert_eq!(q.sort[0], ("name".into(), true));
        let q = parse(&[]).unwrap();
        assert_eq!(q.sort[0], ("created_at".into(), false));
        assert!(parse(&pairs(&[("sort", "name"), ("sort_key", "size")])).is_err());
        assert!(parse(&pairs(&[("sort_key", "owner")])).is_err());
        assert!(parse(&pairs(&[("sort_dir", "up")])).is_err());
        assert!(parse(&pairs(&[("limit", "x")])).is_err());
        assert!(parse(&pairs(&[("limit", "-1")])).is_err());
        assert!(parse(&pairs(&[("visibility", "secret")])).is_err());
        assert!(parse(&pairs(&[("member_status", "maybe")])).is_err());
        // Glance's tie-breakers: created_at then id, in the one direction.
        let q = parse(&pairs(&[("sort_key", "name"), ("sort_dir", "asc")])).unwrap();
        assert_eq!(
            q.sort,
            vec![
                ("name".into(), true),
                ("created_at".into(), true),
                ("id".into(), true)
            ]
        );
        let e = parse(&pairs(&[("sort_key", "owner")])).unwrap_err();
        assert!(e
            .to_string()
            .starts_with("Invalid sort key: owner. It must be one of"));
        assert!(parse(&pairs(&[("os_hidden", "TRUE")])).unwrap().os_hidden);
        assert!(parse(&pairs(&[("os_hidden", "yes")])).is_err());
        assert!(parse(&pairs(&[("protected", "True")])).is_err());
    }

    #[test]
    fn links_follow_glance_serializer() {
        let p = pairs(&[
            ("tag", "a"),
            ("sort", "name:asc"),
            ("tag", "b c"),
            ("marker", "m0"),
        ]);
        assert_eq!(link_query(&p, None), "tag=b+c&sort=name%3Aasc");
        assert_eq!(
            link_query(&p, Some("m1")),
            "tag=b+c&sort=name%3Aasc&marker=m1"
        );
    }

    #[test]
    fn filters_and_pages() {
        let rows: Vec<ImageRow> = (0..7)
            .map(|i| img(&format!("id{i}"), &format!("n{}", i % 3), i, i * 10))
            .collect();
        let q = parse(&pairs(&[
            ("size_min", "20"),
            ("size_max", "50"),
            ("sort", "size:asc"),
            ("limit", "2"),
        ]))
        .unwrap();
        let hits: Vec<ImageRow> = rows.iter().filter(|r| matches(r, &q)).cloned().collect();
        assert_eq!(hits.len(), 4);
        let (p1, full) = page(hits.clone(), &q, None);
        assert!(full);
        assert_eq!(
            p1.iter().map(|r| r.size.unwrap()).collect::<Vec<_>>(),
            [20, 30]
        );
        let (p2, _) = page(hits.clone(), &q, Some(&p1[1]));
        assert_eq!(
            p2.iter().map(|r| r.size.unwrap()).collect::<Vec<_>>(),
            [40, 50]
        );
        // A marker the filters leave out still places the page by its
        // sort values (size 35 sits between 30 and 40).
        let mut outside = p1[1].clone();
        outside.id = "zz".into();
        outside.size = Some(35);
        let (p3, _) = page(hits, &q, Some(&outside));
        assert_eq!(p3[0].size, Some(40));
        let q = parse(&pairs(&[("name", "in:n0,n2")])).unwrap();
        assert_eq!(rows.iter().filter(|r| matches(r, &q)).count(), 5);
    }

    #[test]
    fn custom_property_tag_and_hidden_filters() {
        let mut a = img("a", "a", 1, 1);
        a.properties = r#"{"os_distro":"debian","EXCLUDE_ALL_TASKS":"yes"}"#.into();
        a.tags = r#"["x","y"]"#.into();
        let mut b = img("b", "b", 2, 1);
        b.os_hidden = true;
        let q = parse(&pairs(&[
            ("os_distro", "debian"),
            ("tag", "x"),
            ("tag", "y"),
        ]))
        .unwrap();
        assert!(matches(&a, &q) && !matches(&b, &q));
        let q = parse(&pairs(&[("image_type", "snapshot")])).unwrap();
        assert!(matches(&a, &q));
        let q = parse(&[]).unwrap();
        assert!(!matches(&b, &q), "hidden images are not listed by default");
        let q = parse(&pairs(&[("os_hidden", "true")])).unwrap();
        assert!(matches(&b, &q));
    }

    #[test]
    fn visibility_rules() {
        let q = parse(&[]).unwrap();
        let mut r = img("a", "a", 1, 1);
        r.owner = Some("other".into());
        for (vis, membership, want) in [
            ("public", None, true),
            ("community", None, false),
            ("private", None, false),
            ("shared", None, false),
            ("shared", Some("pending"), false),
            ("shared", Some("accepted"), true),
        ] {
            r.visibility = vis.into();
            assert_eq!(
                listable(&r, &q, "me", false, membership),
                want,
                "{vis} {membership:?}"
            );
        }
        r.visibility = "private".into();
        assert!(listable(&r, &q, "me", true, None), "admins list everything");
        r.visibility = "community".into();
        assert!(
            !listable(&r, &q, "me", true, None),
            "but not others' community images unless asked"
        );
        let all = parse(&pairs(&[("visibility", "all")])).unwrap();
        assert!(listable(&r, &all, "me", true, None));
        let q = parse(&pairs(&[("visibility", "community")])).unwrap();
        r.visibility = "community".into();
        assert!(listable(&r, &q, "me", false, None));
        let q = parse(&pairs(&[
            ("visibility", "shared"),
            ("member_status", "pending"),
        ]))
        .unwrap();
        r.visibility = "shared".into();
        assert!(listable(&r, &q, "me", false, Some("pending")));
    }
}
