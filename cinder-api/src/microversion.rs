//! Cinder microversions: parsing the `OpenStack-API-Version: volume 3.x`
//! header and negotiating it against the range this API implements.
//! A request without the header gets 3.0, as Cinder's.

use crate::error::CinderError;

/// A `major.minor` API version; ordered by (major, minor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    pub major: u32,
    pub minor: u32,
}

impl ApiVersion {
    pub const fn new(major: u32, minor: u32) -> ApiVersion {
        ApiVersion { major, minor }
    }

    /// Parses `3.27`: `major.minor`, no sign, no leading zero except `0`.
    pub fn parse(s: &str) -> Option<ApiVersion> {
        let (a, b) = s.split_once('.')?;
        let num = |x: &str, zero_ok: bool| -> Option<u32> {
            if x.is_empty() || !x.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            if x.starts_with('0') && !(zero_ok && x == "0") {
                return None;
            }
            x.parse().ok()
        };
        Some(ApiVersion {
            major: num(a, false)?,
            minor: num(b, true)?,
        })
    }

    /// True when this request version is at least `v` (a feature's version).
    pub fn at_least(self, major: u32, minor: u32) -> bool {
        self >= ApiVersion::new(major, minor)
    }
}

impl std::fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Oldest version served.
pub const MIN: ApiVersion = ApiVersion::new(3, 0);
/// Newest version served (Cinder 2024.1 and later advertise 3.71).
pub const MAX: ApiVersion = ApiVersion::new(3, 71);

/// Header carrying the requested version.
pub const HEADER: &str = "OpenStack-API-Version";

/// Versions where behaviour the clients rely on changes.
pub mod features {
    use super::ApiVersion;
    pub const CLUSTER_SUPPORT: ApiVersion = ApiVersion::new(3, 7);
    pub const GROUP_VOLUME: ApiVersion = ApiVersion::new(3, 13);
    pub const PROVIDER_ID: ApiVersion = ApiVersion::new(3, 21);
    pub const NEW_ATTACH: ApiVersion = ApiVersion::new(3, 27);
    pub const SNAPSHOT_USER_ID: ApiVersion = ApiVersion::new(3, 41);
    pub const VOLUME_REVERT: ApiVersion = ApiVersion::new(3, 40);
    pub const EXTEND_IN_USE: ApiVersion = ApiVersion::new(3, 42);
    pub const COUNT_INFO: ApiVersion = ApiVersion::new(3, 45);
    pub const SHARED_TARGETS: ApiVersion = ApiVersion::new(3, 48);
    pub const BACKEND_STATE_REPORT: ApiVersion = ApiVersion::new(3, 49);
    pub const ATTACH_MODE_ARG: ApiVersion = ApiVersion::new(3, 54);
    pub const CLUSTER_NAME: ApiVersion = ApiVersion::new(3, 61);
    pub const VOLUME_TYPE_ID: ApiVersion = ApiVersion::new(3, 63);
    pub const USE_QUOTA: ApiVersion = ApiVersion::new(3, 65);
    pub const SNAPSHOT_IN_USE: ApiVersion = ApiVersion::new(3, 66);
    pub const SHARED_TARGETS_TRISTATE: ApiVersion = ApiVersion::new(3, 69);
}

/// The version a request asks for, from its `OpenStack-API-Version` header
/// (`None` when absent). Like Cinder: the header may list several services
/// separated by commas; the `volume` entry counts; `latest` means [`MAX`];
/// a malformed version is 400, one outside [`MIN`]..=[`MAX`] is 406.
pub fn negotiate(header: Option<&str>) -> Result<ApiVersion, CinderError> {
    let Some(h) = header else { return Ok(MIN) };
    let entry = h.split(',').find_map(|part| {
        let mut it = part.split_whitespace();
        match (it.next(), it.next()) {
            (Some(svc), Some(v)) if svc.eq_ignore_ascii_case("volume") => Some(v.to_string()),
            _ => None,
        }
    });
    // No volume entry (another service's header): the default, as Cinder
    // treats a request that does not ask.
    let Some(v) = entry else { return Ok(MIN) };
    if v.eq_ignore_ascii_case("latest") {
        return Ok(MAX);
    }
    let ver = ApiVersion::parse(&v).ok_or_else(|| {
        CinderError::BadRequest(format!(
            "API Version String {v} is of invalid format. Must be of format MajorNum.MinorNum."
        ))
    })?;
    if ver < MIN || ver > MAX {
        return Err(CinderError::NotAcceptable(format!(
            "Version {ver} is not supported by the API. Minimum is {MIN} and maximum is {MAX}."
        )));
    }
    Ok(ver)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_versions() {
        assert_eq!(ApiVersion::parse("3.0"), Some(ApiVersion::new(3, 0)));
        assert_eq!(ApiVersion::parse("3.71"), Some(ApiVersion::new(3, 71)));
        for bad in [
            "3", "3.", ".1", "03.1", "3.01", "3.x", "a.b", "3.1.2", "-3.1", "",
        ] {
            assert_eq!(ApiVersion::parse(bad), None, "{bad}");
        }
        assert!(ApiVersion::new(3, 10) > ApiVersion::new(3, 9));
    }

    #[test]
    fn negotiates_like_cinder() {
        assert_eq!(negotiate(None).unwrap(), MIN);
        assert_eq!(
            negotiate(Some("volume 3.27")).unwrap(),
            ApiVersion::new(3, 27)
        );
        assert_eq!(negotiate(Some("volume latest")).unwrap(), MAX);
        assert_eq!(
            negotiate(Some("compute 2.1, volume 3.40")).unwrap(),
            ApiVersion::new(3, 40)
        );
        assert_eq!(negotiate(Some("compute 2.1")).unwrap(), MIN);
        match negotiate(Some("volume 3.99")) {
            Err(CinderError::NotAcceptable(m)) => assert_eq!(
                m,
                "Version 3.99 is not supported by the API. Minimum is 3.0 and maximum is 3.71."
            ),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            negotiate(Some("volume 2.0")),
            Err(CinderError::NotAcceptable(_))
        ));
        assert!(matches!(
            negotiate(Some("volume 3.x")),
            Err(CinderError::BadRequest(_))
        ));
    }
}
