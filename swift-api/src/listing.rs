//! Account and container listings: parameters (prefix, delimiter, marker,
//! end_marker, limit, reverse), Swift's delimiter roll-up, and the plain,
//! JSON and XML renderings.

use std::collections::BTreeMap;

use http::HeaderMap;

use crate::error::{Result, SwiftError};
use crate::util::header;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Plain,
    Json,
    Xml,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Plain => "text/plain; charset=utf-8",
            Format::Json => "application/json; charset=utf-8",
            Format::Xml => "application/xml; charset=utf-8",
        }
    }
}

#[derive(Debug, Clone)]
pub struct ListParams {
    pub prefix: String,
    pub delimiter: Option<String>,
    /// `path=` (Swift's pseudo-hierarchical listing): only the names right
    /// under `prefix` (which is then the path plus `/`), deeper ones skipped.
    pub path: bool,
    pub marker: Option<String>,
    pub end_marker: Option<String>,
    pub limit: usize,
    pub reverse: bool,
    pub format: Format,
}

/// Reads listing parameters from the query and Accept header as Swift does.
pub fn params(q: &BTreeMap<String, String>, h: &HeaderMap, max_limit: usize) -> Result<ListParams> {
    // Swift (constrain_req_limit) uses a limit only when it is all digits;
    // anything else (`5000.0`, `-1`) falls back to the maximum.
    let limit = match q.get("limit") {
        Some(l) if !l.is_empty() && l.bytes().all(|b| b.is_ascii_digit()) => {
            match l.parse::<usize>() {
                Ok(n) if n <= max_limit => n,
                _ => {
                    return Err(SwiftError::PreconditionMessage(format!(
                        "Maximum limit is {max_limit}"
                    )))
                }
            }
        }
        _ => max_limit,
    };
    let mut prefix = q.get("prefix").cloned().unwrap_or_default();
    let mut delimiter = q.get("delimiter").filter(|d| !d.is_empty()).cloned();
    let path = q.get("path").cloned();
    if let Some(path) = &path {
        let trimmed = path.trim_end_matches('/');
        prefix = if path.is_empty() {
            String::new()
        } else {
            format!("{trimmed}/")
        };
        delimiter = Some("/".into());
    }
    let format = match q.get("format").map(|s| s.to_ascii_lowercase()) {
        Some(f) if f == "json" => Format::Json,
        Some(f) if f == "xml" => Format::Xml,
        Some(_) => Format::Plain,
        None => {
            let accept = header(h, "accept").unwrap_or("");
            if accept.contains("application/json") {
                Format::Json
            } else if accept.contains("application/xml") || accept.contains("text/xml") {
                Format::Xml
            } else {
                Format::Plain
            }
        }
    };
    let truthy = |v: &str| {
        matches!(
            v.to_ascii_lowercase().as_str(),
            "true" | "1" | "yes" | "on" | "t" | "y"
        )
    };
    Ok(ListParams {
        prefix,
        delimiter,
        path: path.is_some(),
        marker: q.get("marker").filter(|m| !m.is_empty()).cloned(),
        end_marker: q.get("end_marker").filter(|m| !m.is_empty()).cloned(),
        limit,
        reverse: q.get("reverse").is_some_and(|v| truthy(v)),
        format,
    })
}

/// One listing entry: a real item or a rolled-up `subdir`.
pub enum Entry<T> {
    Item(T),
    Subdir(String),
}

/// Runs Swift's listing algorithm over a paged source. `page(after,
/// before, limit)` returns rows in listing order, strictly after `after`
/// (before, when reversed) and within the prefix.
pub fn list<T>(
    p: &ListParams,
    name: impl Fn(&T) -> &str,
    mut page: impl FnMut(Option<&str>, Option<&str>, i64) -> Result<Vec<T>>,
) -> Result<Vec<Entry<T>>> {
    let mut out = Vec::new();
    // In reverse the marker bounds from above and end_marker from below.
    let (mut after, mut before) = if p.reverse {
        (p.end_marker.clone(), p.marker.clone())
    } else {
        (p.marker.clone(), p.end_marker.clone())
    };
    'outer: while out.len() < p.limit {
        let rows = page(
            after.as_deref(),
            before.as_deref(),
            (p.limit - out.len()) as i64,
        )?;
        if rows.is_empty() {
            break;
        }
        for row in rows {
            let n = name(&row).to_string();
            if p.reverse {
                before = Some(n.clone());
            } else {
                after = Some(n.clone());
            }
            if let Some(d) = p.delimiter.as_deref() {
                let from = p.prefix.len().min(n.len());
                // Past every name under `n[..pos]` + delimiter: the listing
                // bound is exclusive, and no valid name (UTF-8, at most 1024
                // bytes) under that prefix sorts above the prefix followed
                // by 256 of the highest code point.
                let skip_past =
                    |pos: usize| format!("{}{}", &n[..pos + d.len()], "\u{10FFFF}".repeat(256));
                if p.path {
                    // Only direct children: the path itself and anything
                    // deeper are skipped, `dir/` markers are listed as items.
                    if n == p.prefix {
                        continue;
                    }
                    if let Some(rel) = n[from..].find(d) {
                        let pos = from + rel;
                        if n.len() > pos + d.len() {
                            if p.reverse {
                                before = Some(n[..pos + d.len()].to_string());
                            } else {
                                after = Some(skip_past(pos));
                            }
                            continue 'outer;
                        }
                    }
                } else if let Some(rel) = n[from..].find(d) {
                    let pos = from + rel;
                    let dir = n[..pos + d.len()].to_string();
                    if Some(&dir) != p.marker.as_ref() || p.reverse {
                        out.push(Entry::Subdir(dir.clone()));
                    }
                    if p.reverse {
                        before = Some(dir);
                    } else {
                        after = Some(skip_past(pos));
                    }
                    continue 'outer;
                }
            }
            out.push(Entry::Item(row));
            if out.len() >= p.limit {
                break 'outer;
            }
        }
    }
    Ok(out)
}

/// How one kind of listing item (a container in an account listing, an
/// object in a container listing) is rendered.
pub trait Listed {
    fn name(&self) -> &str;
    /// The item's JSON object.
    fn json(&self) -> serde_json::Value;
    /// The item's XML element.
    fn xml(&self) -> String;
}

/// Renders a listing as Swift does: one name a line (plain), a JSON array,
/// or an XML document whose root is `<{root} name="{root_name}">`.
pub fn render<T: Listed>(
    root: &str,
    root_name: &str,
    entries: &[Entry<T>],
    format: Format,
) -> String {
    match format {
        Format::Plain => entries
            .iter()
            .map(|e| match e {
                Entry::Item(r) => format!("{}\n", r.name()),
                Entry::Subdir(d) => format!("{d}\n"),
            })
            .collect(),
        Format::Json => {
            let v: Vec<serde_json::Value> = entries
                .iter()
                .map(|e| match e {
                    Entry::Item(r) => r.json(),
                    Entry::Subdir(d) => serde_json::json!({ "subdir": d }),
                })
                .collect();
            serde_json::Value::Array(v).to_string()
        }
        Format::Xml => {
            let mut s = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{root} name=\"{}\">",
                xml_escape(root_name)
            );
            for e in entries {
                match e {
                    Entry::Item(r) => s.push_str(&r.xml()),
                    Entry::Subdir(d) => s.push_str(&format!(
                        "<subdir name=\"{0}\"><name>{0}</name></subdir>",
                        xml_escape(d)
                    )),
                }
            }
            s.push_str(&format!("</{root}>"));
            s
        }
    }
}

/// Escapes text for XML listings.
pub fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#x27;"),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(names: &[&str], p: &ListParams) -> Vec<String> {
        let mut sorted: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        sorted.sort();
        let r = list(
            p,
            |s: &String| s.as_str(),
            |after, before, limit| {
                let mut v: Vec<String> = sorted
                    .iter()
                    .filter(|n| n.starts_with(&p.prefix))
                    .filter(|n| after.is_none_or(|a| n.as_str() > a))
                    .filter(|n| before.is_none_or(|b| n.as_str() < b))
                    .cloned()
                    .collect();
                if p.reverse {
                    v.reverse();
                }
                v.truncate(limit as usize);
                Ok(v)
            },
        )
        .unwrap();
        r.into_iter()
            .map(|e| match e {
                Entry::Item(s) => s,
                Entry::Subdir(d) => format!("subdir:{d}"),
            })
            .collect()
    }

    fn p() -> ListParams {
        ListParams {
            prefix: String::new(),
            delimiter: None,
            path: false,
            marker: None,
            end_marker: None,
            limit: 100,
            reverse: false,
            format: Format::Plain,
        }
    }

    #[test]
    fn delimiter_rolls_up_like_swift() {
        let names = ["a", "b/1", "b/2", "b/c/3", "c", "d/x"];
        let mut q = p();
        q.delimiter = Some("/".into());
        assert_eq!(run(&names, &q), ["a", "subdir:b/", "c", "subdir:d/"]);
        q.prefix = "b/".into();
        assert_eq!(run(&names, &q), ["b/1", "b/2", "subdir:b/c/"]);
        let mut q = p();
        q.delimiter = Some("/".into());
        q.reverse = true;
        assert_eq!(run(&names, &q), ["subdir:d/", "c", "subdir:b/", "a"]);
        let mut q = p();
        q.marker = Some("b/1".into());
        q.end_marker = Some("d".into());
        q.limit = 2;
        assert_eq!(run(&names, &q), ["b/2", "b/c/3"]);
    }

    #[test]
    fn multi_character_delimiters_and_names_right_after_a_subdir() {
        let names = ["test", "test-&bar", "test-&foo", "test-'", "a/1", "a0"];
        let mut q = p();
        q.delimiter = Some("-&".into());
        assert_eq!(
            run(&names, &q),
            ["a/1", "a0", "test", "subdir:test-&", "test-'"]
        );
        q.reverse = true;
        assert_eq!(
            run(&names, &q),
            ["test-'", "subdir:test-&", "test", "a0", "a/1"]
        );
        // "a0" sorts right after every "a/..." name: the roll-up of "a/"
        // must not skip it.
        let mut q = p();
        q.delimiter = Some("/".into());
        assert_eq!(
            run(&names, &q),
            [
                "subdir:a/",
                "a0",
                "test",
                "test-&bar",
                "test-&foo",
                "test-'"
            ]
        );
    }

    #[test]
    fn path_lists_only_direct_children() {
        let names = [
            "dir1/",
            "dir1/file2",
            "dir1/subdir1/",
            "dir1/subdir1/file3",
            "dir2/",
            "file1",
        ];
        let parse = |path: &str| {
            let q: BTreeMap<String, String> = [("path".to_string(), path.to_string())].into();
            params(&q, &HeaderMap::new(), 100).unwrap()
        };
        assert_eq!(run(&names, &parse("")), ["dir1/", "dir2/", "file1"]);
        assert_eq!(run(&names, &parse("dir1")), ["dir1/file2", "dir1/subdir1/"]);
        assert_eq!(run(&names, &parse("dir1/subdir1/")), ["dir1/subdir1/file3"]);
    }

    #[test]
    fn limit_is_used_only_when_all_digits() {
        let q =
            |l: &str| -> BTreeMap<String, String> { [("limit".to_string(), l.to_string())].into() };
        let h = HeaderMap::new();
        assert_eq!(params(&q("5000.0"), &h, 10_000).unwrap().limit, 10_000);
        assert_eq!(params(&q("-1"), &h, 10_000).unwrap().limit, 10_000);
        assert_eq!(params(&q("7"), &h, 10_000).unwrap().limit, 7);
        assert!(params(&q("10001"), &h, 10_000).is_err());
    }
}
