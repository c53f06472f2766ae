//! List parameters (filters, sort, marker, limit) as Cinder reads them from
//! a query string, applied to rows the SQL filters already narrowed.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};

use crate::error::{CinderError, Result};
use crate::http::str_bool;

/// Cinder's `osapi_max_limit`.
pub const MAX_LIMIT: usize = 1000;

/// Parsed list parameters.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListParams {
    pub name: Option<String>,
    pub status: Option<String>,
    pub bootable: Option<bool>,
    pub metadata: BTreeMap<String, String>,
    pub all_tenants: bool,
    pub project_id: Option<String>,
    pub volume_id: Option<String>,
    pub limit: Option<usize>,
    pub offset: usize,
    pub marker: Option<String>,
    /// (key, descending) pairs; default `created_at` descending.
    pub sort: Vec<(String, bool)>,
    pub with_count: bool,
}

/// A metadata filter: JSON (`{"k": "v"}`) or a Python dict repr
/// (`{'k': 'v'}`, what cinderclient sends).
pub fn parse_metadata_filter(s: &str) -> Result<BTreeMap<String, String>> {
    let parsed: Option<serde_json::Map<String, serde_json::Value>> = serde_json::from_str(s)
        .ok()
        .or_else(|| serde_json::from_str(&s.replace('\'', "\"")).ok());
    let m = parsed
        .ok_or_else(|| CinderError::invalid_input(format!("Invalid metadata filter: {s}")))?;
    Ok(m.into_iter()
        .map(|(k, v)| {
            let v = match v {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            };
            (k, v)
        })
        .collect())
}

impl ListParams {
    pub fn parse(q: &HashMap<String, String>) -> Result<ListParams> {
        let mut p = ListParams {
            name: q.get("name").or(q.get("display_name")).cloned(),
            status: q.get("status").cloned(),
            bootable: match q.get("bootable") {
                Some(b) => Some(str_bool(b).ok_or_else(|| {
                    CinderError::invalid_input(format!("Invalid value '{b}' for bootable"))
                })?),
                None => None,
            },
            all_tenants: q
                .get("all_tenants")
                .is_some_and(|v| str_bool(v) != Some(false)),
            project_id: q.get("project_id").cloned(),
            volume_id: q.get("volume_id").cloned(),
            marker: q.get("marker").cloned(),
            with_count: q
                .get("with_count")
                .is_some_and(|v| str_bool(v) == Some(true)),
            ..Default::default()
        };
        if let Some(m) = q.get("metadata") {
            p.metadata = parse_metadata_filter(m)?;
        }
        if let Some(l) = q.get("limit") {
            let n: usize = l
                .parse()
                .map_err(|_| CinderError::BadRequest("limit param must be an integer".into()))?;
            p.limit = Some(n.min(MAX_LIMIT));
        }
        if let Some(o) = q.get("offset") {
            p.offset = o
                .parse()
                .map_err(|_| CinderError::BadRequest("offset param must be an integer".into()))?;
        }
        let dir_desc = |d: &str| -> Result<bool> {
            match d.to_ascii_lowercase().as_str() {
                "desc" => Ok(true),
                "asc" => Ok(false),
                other => Err(CinderError::invalid_input(format!(
                    "Unknown sort direction, must be 'desc' or 'asc': {other}"
                ))),
            }
        };
        if let Some(s) = q.get("sort") {
            for part in s.split(',').filter(|x| !x.is_empty()) {
                let (k, d) = part.split_once(':').unwrap_or((part, "desc"));
                p.sort.push((k.trim().to_string(), dir_desc(d.trim())?));
            }
        } else if let Some(k) = q.get("sort_key") {
            let d = q.get("sort_dir").map(String::as_str).unwrap_or("desc");
            p.sort.push((k.clone(), dir_desc(d)?));
        }
        if p.sort.is_empty() {
            p.sort.push(("created_at".into(), true));
        }
        Ok(p)
    }
}

/// What a list sorts and filters by, per row kind.
pub trait Listed {
    fn id(&self) -> &str;
    /// The value of sort key `key` as comparable text or number.
    fn sort_value(&self, key: &str) -> SortValue;
    /// True for the sort keys Cinder's database would sort by (its
    /// columns); others are Cinder's 400 "Sort key supplied is invalid.".
    fn sortable(_key: &str) -> bool {
        true
    }
    fn metadata(&self) -> BTreeMap<String, String>;
}

#[derive(Debug, Clone, PartialEq, PartialOrd)]
pub enum SortValue {
    Num(i64),
    Text(Option<String>),
}

/// Applies metadata filter, sort, marker, offset and limit; returns the page
/// and the number of rows that matched the filters (for `with_count`).
pub fn page<T: Listed + Clone>(rows: Vec<T>, p: &ListParams) -> Result<(Vec<T>, usize, bool)> {
    let mut rows: Vec<T> = rows
        .into_iter()
        .filter(|r| {
            let m = r.metadata();
            p.metadata.iter().all(|(k, v)| m.get(k) == Some(v))
        })
        .collect();
    if p.sort.iter().any(|(k, _)| !T::sortable(k)) {
        return Err(CinderError::BadRequest(
            "Sort key supplied is invalid.".into(),
        ));
    }
    let total = rows.len();
    rows.sort_by(|a, b| {
        for (k, desc) in &p.sort {
            let o = a
                .sort_value(k)
                .partial_cmp(&b.sort_value(k))
                .unwrap_or(Ordering::Equal);
            let o = if *desc { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        b.id().cmp(a.id())
    });
    let mut start = 0;
    if let Some(m) = &p.marker {
        let i = rows
            .iter()
            .position(|r| r.id() == m)
            .ok_or_else(|| CinderError::NotFound(format!("Marker {m} could not be found.")))?;
        start = i + 1;
    }
    start += p.offset;
    let limit = p.limit.unwrap_or(MAX_LIMIT);
    let end = start.saturating_add(limit).min(rows.len());
    let page = if start < rows.len() {
        rows[start..end].to_vec()
    } else {
        Vec::new()
    };
    // Cinder links a next page whenever this one is full, even if it
    // turns out empty (Tempest's pagination test expects exactly that).
    let more = limit > 0 && page.len() == limit;
    Ok((page, total, more))
}

impl Listed for db::volumes::VolumeRow {
    fn id(&self) -> &str {
        &self.id
    }
    fn sort_value(&self, key: &str) -> SortValue {
        match key {
            "size" => SortValue::Num(self.size),
            "created_at" => SortValue::Num(self.created_at),
            "updated_at" => SortValue::Num(self.updated_at),
            "name" | "display_name" => SortValue::Text(self.name.clone()),
            "status" => SortValue::Text(Some(self.status.clone())),
            "id" => SortValue::Text(Some(self.id.clone())),
            "bootable" => SortValue::Num(self.bootable as i64),
            _ => SortValue::Num(self.created_at),
        }
    }
    fn sortable(key: &str) -> bool {
        const COLUMNS: &[&str] = &[
            "id",
            "created_at",
            "updated_at",
            "size",
            "status",
            "name",
            "display_name",
            "description",
            "display_description",
            "availability_zone",
            "bootable",
            "user_id",
            "project_id",
            "volume_type_id",
            "attach_status",
            "host",
            "launched_at",
            "terminated_at",
            "snapshot_id",
            "source_volid",
            "multiattach",
            "replication_status",
            "consistencygroup_id",
            "group_id",
            "provider_id",
            "migration_status",
            "service_uuid",
            "shared_targets",
        ];
        COLUMNS.contains(&key)
    }
    fn metadata(&self) -> BTreeMap<String, String> {
        crate::views::meta_map(&self.metadata)
    }
}

impl Listed for db::volumes::SnapshotRow {
    fn id(&self) -> &str {
        &self.id
    }
    fn sort_value(&self, key: &str) -> SortValue {
        match key {
            "size" => SortValue::Num(self.size),
            "updated_at" => SortValue::Num(self.updated_at),
            "name" | "display_name" => SortValue::Text(self.name.clone()),
            "status" => SortValue::Text(Some(self.status.clone())),
            "id" => SortValue::Text(Some(self.id.clone())),
            _ => SortValue::Num(self.created_at),
        }
    }
    fn sortable(key: &str) -> bool {
        const COLUMNS: &[&str] = &[
            "id",
            "created_at",
            "updated_at",
            "status",
            "volume_id",
            "volume_size",
            "size",
            "name",
            "display_name",
            "description",
            "display_description",
            "progress",
            "project_id",
            "user_id",
            "volume_type_id",
            "group_snapshot_id",
            "provider_id",
        ];
        COLUMNS.contains(&key)
    }
    fn metadata(&self) -> BTreeMap<String, String> {
        crate::views::meta_map(&self.metadata)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug)]
    struct R(&'static str, i64, &'static str);
    impl Listed for R {
        fn id(&self) -> &str {
            self.0
        }
        fn sort_value(&self, key: &str) -> SortValue {
            match key {
                "size" => SortValue::Num(self.1),
                _ => SortValue::Text(Some(self.0.into())),
            }
        }
        fn metadata(&self) -> BTreeMap<String, String> {
            [("k".to_string(), self.2.to_string())].into()
        }
    }

    fn q(s: &[(&str, &str)]) -> HashMap<String, String> {
        s.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    #[test]
    fn parses_cinder_list_params() {
        let p = ListParams::parse(&q(&[
            ("sort", "size:asc,name"),
            ("limit", "5000"),
            ("metadata", "{'a': 'b'}"),
            ("all_tenants", "1"),
            ("with_count", "true"),
        ]))
        .unwrap();
        assert_eq!(p.sort, vec![("size".into(), false), ("name".into(), true)]);
        assert_eq!(p.limit, Some(MAX_LIMIT));
        assert_eq!(p.metadata.get("a").map(String::as_str), Some("b"));
        assert!(p.all_tenants && p.with_count);
        assert!(ListParams::parse(&q(&[("limit", "x")])).is_err());
        assert!(ListParams::parse(&q(&[("sort", "size:up")])).is_err());
        assert!(ListParams::parse(&q(&[("metadata", "nope")])).is_err());
        let d = ListParams::parse(&q(&[])).unwrap();
        assert_eq!(d.sort, vec![("created_at".into(), true)]);
    }

    #[test]
    fn pages_with_marker_filter_and_sort() {
        let rows = vec![
            R("a", 3, "x"),
            R("b", 1, "x"),
            R("c", 2, "y"),
            R("d", 4, "x"),
        ];
        let p = ListParams::parse(&q(&[("sort", "size:asc"), ("limit", "2")])).unwrap();
        let (pg, total, more) = page(rows.clone(), &p).unwrap();
        assert_eq!(pg.iter().map(|r| r.0).collect::<Vec<_>>(), ["b", "c"]);
        assert_eq!((total, more), (4, true));
        let p = ListParams::parse(&q(&[("sort", "size:asc"), ("marker", "c")])).unwrap();
        let (pg, _, more) = page(rows.clone(), &p).unwrap();
        assert_eq!(pg.iter().map(|r| r.0).collect::<Vec<_>>(), ["a", "d"]);
        assert!(!more);
        let p = ListParams::parse(&q(&[("metadata", r#"{"k":"x"}"#)])).unwrap();
        let (pg, total, _) = page(rows.clone(), &p).unwrap();
        assert_eq!((pg.len(), total), (3, 3));
        let p = ListParams::parse(&q(&[("marker", "zz")])).unwrap();
        assert!(page(rows, &p).is_err());
    }
}
