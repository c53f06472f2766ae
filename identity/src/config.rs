//! Identity configuration and the service catalog it describes.
//!
//! The binary parses TOML into [`IdentityConfig`] and hands it to
//! [`crate::Identity::new`]; this crate never reads files or the environment.
//! The catalog is pure configuration: adding the image or volumev3 service is
//! one more `[[identity.catalog]]` entry, no code.

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// Settings of the identity service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityConfig {
    /// Lifetime of an issued token, in seconds (default 3600, as Keystone).
    pub token_ttl_secs: u64,
    /// Region every catalog endpoint belongs to (default `RegionOne`).
    pub region: String,
    /// Public base URL of this identity service, without `/v3`
    /// (default `http://127.0.0.1:5000`). The catalog's identity entry is
    /// `<public_url>/v3` unless `catalog` lists an `identity` service itself.
    pub public_url: String,
    /// How often, in seconds, a host re-reads token revocations written by
    /// other hosts (default 5). Revocations made on this host apply at once.
    pub revocation_refresh_secs: u64,
    /// Services of the catalog, in the order clients see them.
    pub catalog: Vec<CatalogService>,
}

/// One service of the catalog. Its public, internal and admin endpoints all
/// get `url`, as in a single-region deployment without a separate admin
/// network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogService {
    /// Service type as clients look it up: `object-store`, `image`, `volumev3`.
    #[serde(rename = "type")]
    pub service_type: String,
    /// Service name shown by `openstack catalog list`: `swift`, `glance`.
    pub name: String,
    /// Endpoint URL; `$(project_id)s` (or `$(tenant_id)s`, `%(project_id)s`)
    /// is replaced by the token's project id.
    pub url: String,
}

impl Default for IdentityConfig {
    fn default() -> Self {
        IdentityConfig {
            token_ttl_secs: 3600,
            region: "RegionOne".into(),
            public_url: "http://127.0.0.1:5000".into(),
            revocation_refresh_secs: 5,
            catalog: vec![CatalogService {
                service_type: "object-store".into(),
                name: "swift".into(),
                url: "http://127.0.0.1:8080/v1/AUTH_$(project_id)s".into(),
            }],
        }
    }
}

impl IdentityConfig {
    /// Rejects settings that would make every token or catalog unusable.
    pub fn validate(&self) -> Result<(), Error> {
        let bad = |m: String| Err(Error::Config(m));
        if self.token_ttl_secs == 0 || self.token_ttl_secs > 366 * 24 * 3600 {
            return bad(format!(
                "token_ttl_secs must be 1..=31622400, not {}",
                self.token_ttl_secs
            ));
        }
        if self.region.is_empty() {
            return bad("region must not be empty".into());
        }
        if !self.public_url.starts_with("http://") && !self.public_url.starts_with("https://") {
            return bad(format!(
                "public_url must be an http(s) URL, not {:?}",
                self.public_url
            ));
        }
        for s in &self.catalog {
            if s.service_type.is_empty() || s.name.is_empty() || s.url.is_empty() {
                return bad(format!("catalog entry {s:?} needs type, name and url"));
            }
        }
        Ok(())
    }
}

/// Interfaces every service is published on, in Keystone's order.
pub const INTERFACES: [&str; 3] = ["public", "internal", "admin"];

/// An endpoint of the rendered catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// Stable id derived from service type and interface.
    pub id: String,
    /// `public`, `internal` or `admin`.
    pub interface: &'static str,
    /// URL with the project id substituted.
    pub url: String,
}

/// A service of the rendered catalog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Stable id derived from the service type.
    pub id: String,
    /// Service type (`identity`, `object-store`, ...).
    pub service_type: String,
    /// Service name (`keystone`, `swift`, ...).
    pub name: String,
    /// One endpoint per interface.
    pub endpoints: Vec<Endpoint>,
}

/// The catalog template built once from the configuration.
#[derive(Debug, Clone)]
pub(crate) struct Catalog {
    region: String,
    services: Vec<CatalogService>,
}

impl Catalog {
    pub(crate) fn new(cfg: &IdentityConfig) -> Catalog {
        let mut services = Vec::with_capacity(cfg.catalog.len() + 1);
        // Clients find the identity endpoint through the catalog too; publish
        // it unless the operator described it explicitly.
        if !cfg.catalog.iter().any(|s| s.service_type == "identity") {
            services.push(CatalogService {
                service_type: "identity".into(),
                name: "keystone".into(),
                url: format!("{}/v3", cfg.public_url.trim_end_matches('/')),
            });
        }
        services.extend(cfg.catalog.iter().cloned());
        Catalog {
            region: cfg.region.clone(),
            services,
        }
    }

    pub(crate) fn region(&self) -> &str {
        &self.region
    }

    /// The catalog as seen by a token scoped to `project_id`. Endpoints whose
    /// URL needs a project id are left out when there is none, as Keystone
    /// does for tokens that are not project-scoped.
    pub(crate) fn render(&self, project_id: Option<&str>) -> Vec<Service> {
        self.services
            .iter()
            .filter_map(|s| {
                let url = substitute(&s.url, project_id)?;
                Some(Service {
                    id: stable_id(&["service", &s.service_type]),
                    service_type: s.service_type.clone(),
                    name: s.name.clone(),
                    endpoints: INTERFACES
                        .iter()
                        .map(|i| Endpoint {
                            id: stable_id(&["endpoint", &s.service_type, i]),
                            interface: i,
                            url: url.clone(),
                        })
                        .collect(),
                })
            })
            .collect()
    }
}

const PROJECT_PLACEHOLDERS: [&str; 4] = [
    "$(project_id)s",
    "$(tenant_id)s",
    "%(project_id)s",
    "%(tenant_id)s",
];

fn substitute(url: &str, project_id: Option<&str>) -> Option<String> {
    let mut out = url.to_string();
    for p in PROJECT_PLACEHOLDERS {
        if out.contains(p) {
            out = out.replace(p, project_id?);
        }
    }
    Some(out)
}

/// A 32-hex-character id (Keystone's id shape) that is the same on every
/// host and across restarts, so clients caching endpoint ids stay right.
pub(crate) fn stable_id(parts: &[&str]) -> String {
    let mut h = blake3::Hasher::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update(&[0]);
    }
    hex::encode(&h.finalize().as_bytes()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_keystone_devstack() {
        let c = IdentityConfig::default();
        assert_eq!(c.token_ttl_secs, 3600);
        assert_eq!(c.region, "RegionOne");
        assert!(c.validate().is_ok());
    }

    #[test]
    fn catalog_substitutes_project_and_has_stable_ids() {
        let cat = Catalog::new(&IdentityConfig::default());
        let a = cat.render(Some("abc"));
        assert_eq!(a[0].service_type, "identity");
        assert_eq!(a[0].endpoints[0].url, "http://127.0.0.1:5000/v3");
        assert_eq!(a[1].endpoints[2].url, "http://127.0.0.1:8080/v1/AUTH_abc");
        assert_eq!(a[1].endpoints.len(), 3);
        let b = cat.render(Some("abc"));
        assert_eq!(a, b);
        assert_eq!(a[1].id.len(), 32);
        assert_ne!(a[1].endpoints[0].id, a[1].endpoints[1].id);
        // Without a project the object-store endpoint cannot be formed.
        assert_eq!(cat.render(None).len(), 1);
    }

    #[test]
    fn toml_shape_rejects_unknown_keys() {
        let v: Result<IdentityConfig, _> =
            serde_json::from_str(r#"{"token_ttl_secs": 60, "colour": "red"}"#);
        assert!(v.is_err());
        let v: IdentityConfig = serde_json::from_str(r#"{"token_ttl_secs": 60}"#).unwrap();
        assert_eq!(v.token_ttl_secs, 60);
        assert_eq!(v.region, "RegionOne");
    }
}
