//! `/info` (capabilities, advertising exactly what is implemented) and
//! `/healthcheck`.

use crate::http::{HttpResponse, Response};

use crate::Swift;

/// The one storage policy: its name in `/info`, container headers and
/// account listings.
pub const POLICY: &str = "default";

/// The OpenStack Swift release whose API atoll follows (its functional
/// suite runs against atoll, see `scripts/test.sh`). `/info` reports it as
/// `swift.version`, which clients and Tempest compare to gate behaviour
/// (atoll's own version, 0.x, would read as a pre-1.0 Swift).
pub const SWIFT_API_VERSION: &str = "2.38.1";

/// `GET /healthcheck`: 200 `OK` while the service runs.
#[utoipa::path(get, path = "/healthcheck", tag = "info", responses((status = 200, description = "OK")))]
pub async fn healthcheck() -> Response {
    HttpResponse::Ok().content_type("text/plain").body("OK")
}

/// `GET /info`: the cluster's capabilities and constraints.
#[utoipa::path(get, path = "/info", tag = "info", responses((status = 200, description = "Capabilities")))]
pub async fn info(swift: &Swift) -> Response {
    let l = swift.limits();
    let body = serde_json::json!({
        "swift": {
            "version": SWIFT_API_VERSION,
            "max_file_size": l.max_file_size,
            "max_meta_name_length": l.max_meta_name_length,
            "max_meta_value_length": l.max_meta_value_length,
            "max_meta_count": l.max_meta_count,
            "max_meta_overall_size": l.max_meta_overall_size,
            "max_header_size": l.max_header_size,
            "max_object_name_length": l.max_object_name_length,
            "max_container_name_length": l.max_container_name_length,
            "max_account_name_length": l.max_account_name_length,
            "container_listing_limit": l.container_listing_limit,
            "account_listing_limit": l.account_listing_limit,
            "extra_header_count": 0,
            "valid_api_versions": ["v1", "v1.0"],
            "strict_cors_mode": true,
            "allow_account_management": false,
            "account_autocreate": true,
            "policies": [{"name": POLICY, "aliases": "default, Policy-0", "default": true}],
        },
        "slo": {
            "max_manifest_segments": l.max_manifest_segments,
            "max_manifest_size": l.max_manifest_size,
            "min_segment_size": 1,
        },
        "dlo": {"max_segments": 10000},
        "bulk_delete": {
            "max_deletes_per_request": l.max_deletes_per_request,
            "max_failed_deletes": l.max_deletes_per_request,
        },
        "container_quotas": {},
        "account_quotas": {},
        "versioned_writes": {"allowed_flags": crate::versions::FLAGS},
        "tempurl": {
            "methods": crate::tempurl::METHODS,
            "incoming_remove_headers": ["x-timestamp", "x-open-expired"],
            "incoming_allow_headers": [],
            "outgoing_remove_headers": ["x-object-meta-*"],
            "outgoing_allow_headers": ["x-object-meta-public-*"],
            "allowed_digests": crate::tempurl::DIGESTS,
            "deprecated_digests": ["sha1"],
        },
        "tempauth": {"account_acls": false},
        "keystoneauth": {},
    });
    HttpResponse::Ok()
        .content_type("application/json; charset=UTF-8")
        .body(body.to_string())
}
