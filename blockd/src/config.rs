//! Configuration: the plain serde shape the binary parses from TOML, and
//! its validation into the runtime [`Policy`] values the store uses.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use crate::codec::CodeId;
use crate::error::BlockdError;

/// The chunk store's configuration (`[blockd]` in atoll's TOML). Every field
/// has a default; unknown keys are rejected.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreConfig {
    /// Data root. Default `/var/lib/atoll/blocks`.
    pub root: PathBuf,
    /// Fragment directories, each one failure domain (put each on its own
    /// disk). Default: `<root>/dev0` .. `<root>/dev5`.
    pub devices: Vec<PathBuf>,
    /// Policy used when `put` names none. Default `"default"`.
    pub default_policy: String,
    /// Named policies. A `"default"` entry (4+2, see [`PolicyConfig`]) is
    /// added when absent.
    pub policies: BTreeMap<String, PolicyConfig>,
    /// Number of I/O worker threads, each with its own io_uring. Default 8:
    /// a put holds its worker until its fsyncs return, and 4 concurrent
    /// 64 MiB uploads measured 240 MB/s with 2 workers, 435 MB/s with 8.
    pub io_threads: usize,
    /// `"auto"` (io_uring, falling back to pread/pwrite if the kernel
    /// refuses it), `"uring"` (fail if unavailable) or `"sync"`.
    pub io_engine: String,
    /// Submission queue entries per ring. Default 128.
    pub ring_entries: u32,
    /// Payload bytes per checksum chunk. Default 64 KiB.
    pub checksum_chunk: u32,
    /// Blocks whose fragment locations and headers are kept in memory (the
    /// probe cache), so a read of a hot block opens only the fragment files
    /// holding its range instead of reading all `k + m` headers first. A
    /// cached entry of a 4 MiB 4+2 block takes about 2 KiB. Only blocks
    /// whose every fragment checked out are cached; a read that then finds
    /// a fragment bad drops the entry and probes afresh. Default 16384
    /// (64 GiB of 4 MiB blocks); 0 disables.
    pub probe_cache_entries: usize,
    /// Memory for verified block bytes kept by small reads (the read cache,
    /// as Open vStorage's block cache), in bytes. Shared by every read of
    /// the store (NBD and HTTP alike); blocks are immutable, so entries
    /// only leave by eviction or delete. Default 128 MiB; 0 disables.
    pub read_cache_bytes: u64,
    /// Granularity of the read cache: a miss reads and keeps whole units of
    /// this many block bytes, aligned in the block. A power of two from
    /// 4 KiB to 4 MiB; default 64 KiB, the checksum chunk, which a ranged
    /// read has to fetch and verify whole anyway.
    pub read_cache_unit: u32,
    /// Reads longer than this many bytes neither use nor fill the read
    /// cache (sequential streams would only churn it; the page cache and
    /// read-ahead serve them). Default 256 KiB.
    pub read_cache_max_read: u64,
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig {
            root: PathBuf::from("/var/lib/atoll/blocks"),
            devices: Vec::new(),
            default_policy: "default".into(),
            policies: BTreeMap::new(),
            io_threads: 8,
            io_engine: "auto".into(),
            ring_entries: 128,
            checksum_chunk: 64 << 10,
            probe_cache_entries: 16 << 10,
            read_cache_bytes: 128 << 20,
            read_cache_unit: 64 << 10,
            read_cache_max_read: 256 << 10,
        }
    }
}

impl StoreConfig {
    /// A default configuration rooted at `root`.
    pub fn with_root(root: impl Into<PathBuf>) -> StoreConfig {
        StoreConfig {
            root: root.into(),
            ..StoreConfig::default()
        }
    }

    /// The device directories in use (the configured ones or the defaults).
    pub fn device_dirs(&self) -> Vec<PathBuf> {
        if self.devices.is_empty() {
            (0..6).map(|i| self.root.join(format!("dev{i}"))).collect()
        } else {
            self.devices.clone()
        }
    }
}

/// One storage policy, in ALBA's terms `(k, m, c, x)`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// Data fragments. Default 4.
    pub k: u8,
    /// Parity fragments. Default 2.
    pub m: u8,
    /// Fragments that must be durable before `put` returns. Default `k + 1`
    /// (capped at `k + m`): an acknowledged block already survives one more
    /// device loss, and one slow or failed device does not fail writes.
    pub c: Option<u8>,
    /// Most fragments of one block on one device. Default 1.
    pub x: u8,
    /// Blocks smaller than this are stored as `m + 1` full copies instead
    /// of `k + m` fragments (same number of losses survived, a quarter of
    /// the files to read, no tiny fragments). Default 256 KiB; 0 disables.
    pub replicate_below: u64,
}

impl Default for PolicyConfig {
    fn default() -> PolicyConfig {
        PolicyConfig {
            k: 4,
            m: 2,
            c: None,
            x: 1,
            replicate_below: 256 << 10,
        }
    }
}

/// A validated way of storing one block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Scheme {
    pub code: CodeId,
    pub k: u8,
    pub m: u8,
    /// Fragments that must be durable to acknowledge.
    pub c: u8,
}

/// A validated policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub name: String,
    pub coded: Scheme,
    pub replicated: Scheme,
    pub x: u8,
    pub replicate_below: u64,
}

impl Policy {
    /// The scheme a block of `size` bytes is stored with.
    pub fn scheme_for(&self, size: u64) -> Scheme {
        if size < self.replicate_below {
            self.replicated
        } else {
            self.coded
        }
    }
}

/// Checks every policy against the device count and returns them by name.
pub(crate) fn validate(
    cfg: &StoreConfig,
    ndevices: usize,
    code: CodeId,
) -> Result<BTreeMap<String, Policy>, BlockdError> {
    let mut raw = cfg.policies.clone();
    raw.entry("default".into()).or_default();
    if !raw.contains_key(&cfg.default_policy) {
        return Err(BlockdError::UnknownPolicy(cfg.default_policy.clone()));
    }
    if cfg.checksum_chunk < 512 || !cfg.checksum_chunk.is_power_of_two() {
        return Err(BlockdError::Config(
            "checksum_chunk must be a power of two >= 512".into(),
        ));
    }
    let unit = cfg.read_cache_unit;
    if !unit.is_power_of_two() || !(4 << 10..=4 << 20).contains(&unit) {
        return Err(BlockdError::Config(
            "read_cache_unit must be a power of two from 4 KiB to 4 MiB".into(),
        ));
    }
    let mut out = BTreeMap::new();
    for (name, p) in raw {
        let bad = |why: String| BlockdError::Config(format!("policy {name:?}: {why}"));
        let n = usize::from(p.k) + usize::from(p.m);
        if p.k == 0 || n > 255 {
            return Err(bad(format!(
                "need k >= 1 and k + m <= 255, got {}+{}",
                p.k, p.m
            )));
        }
        let c = p.c.unwrap_or(p.k.saturating_add(1).min(p.k + p.m));
        if c > p.k + p.m {
            return Err(bad(format!("c = {c} exceeds the {n} fragments written")));
        }
        if c < p.k {
            return Err(bad(format!(
                "c = {c} is below k = {}: acknowledged blocks could be unreadable",
                p.k
            )));
        }
        if p.x == 0 || n.div_ceil(ndevices) > usize::from(p.x) {
            return Err(bad(format!(
                "{n} fragments on {ndevices} devices need x >= {}",
                n.div_ceil(ndevices)
            )));
        }
        let coded = if p.k == 1 {
            Scheme {
                code: CodeId::Replicate,
                k: 1,
                m: p.m,
                c,
            }
        } else {
            Scheme {
                code,
                k: p.k,
                m: p.m,
                c,
            }
        };
        // Replication tolerates as many failed writes as the coded scheme.
        let copies = p.m + 1;
        let replicated = Scheme {
            code: CodeId::Replicate,
            k: 1,
            m: p.m,
            c: copies - (p.k + p.m - c).min(p.m),
        };
        let policy = Policy {
            name: name.clone(),
            coded,
            replicated,
            x: p.x,
            replicate_below: p.replicate_below,
        };
        out.insert(name, policy);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_4_2_with_c_5_over_six_devices() {
        let cfg = StoreConfig::with_root("/r");
        assert_eq!(cfg.device_dirs().len(), 6);
        let p = validate(&cfg, 6, CodeId::IsalCauchy).unwrap();
        let d = &p["default"];
        assert_eq!(
            d.coded,
            Scheme {
                code: CodeId::IsalCauchy,
                k: 4,
                m: 2,
                c: 5
            }
        );
        assert_eq!(
            d.replicated,
            Scheme {
                code: CodeId::Replicate,
                k: 1,
                m: 2,
                c: 2
            }
        );
        assert_eq!(d.scheme_for(100 << 10).k, 1);
        assert_eq!(d.scheme_for(4 << 20).k, 4);
    }

    #[test]
    fn toml_shape_parses_and_unknown_keys_are_refused() {
        let cfg: StoreConfig = toml::from_str(
            "root = '/d'\ndefault_policy = 'wide'\n[policies.wide]\nk = 8\nm = 3\nc = 11\nx = 2\n",
        )
        .unwrap();
        let p = validate(&cfg, 6, CodeId::IsalCauchy).unwrap();
        assert_eq!(p["wide"].coded.c, 11);
        assert!(toml::from_str::<StoreConfig>("rooot = '/d'").is_err());
    }

    #[test]
    fn cache_keys_parse_and_the_unit_is_checked() {
        let cfg: StoreConfig = toml::from_str(
            "probe_cache_entries = 0\nread_cache_bytes = 0\nread_cache_unit = 131072\nread_cache_max_read = 0\n",
        )
        .unwrap();
        assert_eq!((cfg.probe_cache_entries, cfg.read_cache_bytes), (0, 0));
        validate(&cfg, 6, CodeId::IsalCauchy).unwrap();
        for bad in [1000, 2048, 8 << 20] {
            let cfg = StoreConfig {
                read_cache_unit: bad,
                ..StoreConfig::with_root("/r")
            };
            assert!(validate(&cfg, 6, CodeId::IsalCauchy).is_err(), "{bad}");
        }
    }

    #[test]
    fn placement_limit_is_checked() {
        let mut cfg = StoreConfig::with_root("/r");
        cfg.policies.insert(
            "big".into(),
            PolicyConfig {
                k: 6,
                m: 3,
                ..PolicyConfig::default()
            },
        );
        assert!(matches!(
            validate(&cfg, 6, CodeId::IsalCauchy),
            Err(BlockdError::Config(_))
        ));
    }

    #[test]
    fn c_must_lie_between_k_and_k_plus_m() {
        for c in [3, 7] {
            let mut cfg = StoreConfig::with_root("/r");
            let p = PolicyConfig {
                c: Some(c),
                ..PolicyConfig::default()
            };
            cfg.policies.insert("p".into(), p);
            let r = validate(&cfg, 6, CodeId::IsalCauchy);
            assert!(matches!(r, Err(BlockdError::Config(_))), "c = {c}");
        }
    }
}
