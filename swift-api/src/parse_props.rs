//! Property tests standing in for fuzz targets (cargo-fuzz needs a nightly
//! toolchain this project's machines cannot fetch): every parser of client
//! input returns a value or an error for any input, never panics, and keeps
//! its invariants.

use std::collections::BTreeMap;

use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;

use crate::range::{self, Ranges};
use crate::{listing, util, Limits};

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, .. ProptestConfig::default() })]

    #[test]
    fn path_parsing_never_panics_and_respects_limits(raw in "(/v1(\\.0)?/)?[ -~%\\u{80}-\\u{10ffff}]{0,300}") {
        let limits = Limits::default();
        if let Ok(p) = util::parse_path(&raw, &limits) {
            prop_assert!(!p.account.is_empty());
            prop_assert!(p.object.is_none() || p.container.is_some());
            prop_assert!(p.container.as_ref().is_none_or(|c| c.len() <= limits.max_container_name_length && !c.contains('/')));
            prop_assert!(p.object.as_ref().is_none_or(|o| o.len() <= limits.max_object_name_length));
        }
    }

    #[test]
    fn ranges_stay_inside_the_object(spec in "(bytes=)?[-0-9, ]{0,40}", size in 0u64..10_000) {
        match range::parse(Some(&spec), size) {
            Ranges::Whole | Ranges::Unsatisfiable => {}
            Ranges::Some(rs) => {
                prop_assert!(!rs.is_empty());
                for r in rs {
                    prop_assert!(r.start < r.end && r.end <= size, "{r:?} of {size}");
                }
            }
        }
    }

    #[test]
    fn listing_parameters_never_panic(
        q in proptest::collection::btree_map("[a-z_]{1,10}", "[ -~\\u{80}-\\u{3000}]{0,20}", 0..6),
        accept in "[ -~]{0,40}",
    ) {
        let mut h = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&accept) {
            h.insert(http::header::ACCEPT, v);
        }
        if let Ok(p) = listing::params(&q, &h, 10_000) {
            prop_assert!(p.limit <= 10_000);
        }
    }

    #[test]
    fn query_strings_never_panic(q in "[ -~%\\u{80}-\\u{3000}]{0,80}") {
        let _ = util::parse_query(&q);
    }

    #[test]
    fn metadata_headers_are_checked_not_trusted(
        items in proptest::collection::vec(("[a-z0-9-]{0,140}", "[ -~]{0,300}"), 0..100),
    ) {
        let limits = Limits::default();
        let mut h = HeaderMap::new();
        for (k, v) in &items {
            let (Ok(n), Ok(v)) = (
                HeaderName::from_bytes(format!("x-object-meta-{k}").as_bytes()),
                HeaderValue::from_str(v),
            ) else { continue };
            h.append(n, v);
        }
        if let Ok(m) = util::collect_meta(&h, "object", &[], &limits) {
            if util::check_meta_totals(&m, "object", &limits).is_ok() {
                let user: BTreeMap<_, _> = m.iter().filter(|(_, v)| !v.is_empty()).collect();
                prop_assert!(user.len() <= limits.max_meta_count);
                for (k, v) in user {
                    prop_assert!(k.len() - "X-Object-Meta-".len() <= limits.max_meta_name_length);
                    prop_assert!(v.len() <= limits.max_meta_value_length);
                }
            }
        }
    }
}
