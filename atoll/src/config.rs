//! atoll's configuration: the TOML shape with its defaults (every key is
//! documented in the README), command-line overrides, and validation into
//! the runtime settings each crate takes. Library crates never read files
//! or the environment; this module does it for them.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde::Deserialize;

/// The whole configuration file. Unknown keys are an error that names them.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FileConfig {
    /// Where metadata (`meta.db`), fragments (`blocks/`) and `openrc` live.
    pub data_dir: PathBuf,
    pub listen: Listen,
    pub identity: IdentitySection,
    pub storage: Storage,
    pub gc: Gc,
    pub swift: SwiftSection,
    /// The volume data path (write log in front of the resource layer).
    pub volumes: Volumes,
    /// The chunk store (devices, policies, IO engine): blockd's own shape.
    pub blockd: Option<blockd::StoreConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Listen {
    /// Address every API binds to. Loopback unless configured otherwise.
    pub host: String,
    /// Host name put into catalog URLs and TempAuth storage URLs.
    pub public_host: String,
    pub identity_port: u16,
    pub object_port: u16,
    /// Image (Glance v2) port.
    pub image_port: u16,
    /// Volume (Cinder v3) port.
    pub volume_port: u16,
    /// NBD port where attached volumes are exported.
    pub nbd_port: u16,
    /// HTTP worker threads per API (0: one per core).
    pub workers: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IdentitySection {
    pub token_ttl_secs: u64,
    pub region: String,
    /// Password of the bootstrap `admin` user (or `ATOLL_ADMIN_PASSWORD`,
    /// `--admin-password`). When given it is set at every start, as
    /// `keystone-manage bootstrap` does; when never given, the first start
    /// generates one and shows it once.
    pub admin_password: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Storage {
    /// Block size of new resources in bytes.
    pub block_size: u32,
    /// Blocks smaller than this are stored inline in the metadata store.
    pub inline_threshold: u32,
    /// Blocks one upload hashes and stores concurrently (memory per upload
    /// is about this many blocks).
    pub upload_parallelism: usize,
    /// Blocks in flight across all uploads (bounds upload memory).
    pub max_blocks_in_flight: usize,
    /// Memory for resolved block maps kept for repeated reads (bytes; 0
    /// disables).
    pub map_cache_bytes: usize,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Gc {
    /// Seconds between garbage-collection passes.
    pub interval_secs: u64,
    /// Unreferenced blocks younger than this are kept (in-flight writes).
    pub grace_secs: u64,
    /// Seconds between repair passes (check every fragment, rewrite the
    /// missing or corrupt ones).
    pub repair_interval_secs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SwiftSection {
    /// Seconds between object-expirer passes (X-Delete-At).
    pub expirer_interval_secs: u64,
    /// Roles that own their project's account (keystoneauth's
    /// `operator_roles`).
    pub operator_roles: Vec<String>,
    /// The role that owns every account and alone sets account quotas
    /// (keystoneauth's `reseller_admin_role`).
    pub reseller_admin_role: String,
}

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            data_dir: PathBuf::from("atoll-data"),
            listen: Listen::default(),
            identity: IdentitySection::default(),
            storage: Storage::default(),
            gc: Gc::default(),
            swift: SwiftSection::default(),
            blockd: None,
            volumes: Volumes::default(),
        }
    }
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            host: "127.0.0.1".into(),
            public_host: "127.0.0.1".into(),
            identity_port: 5000,
            object_port: 8080,
            image_port: 9292,
            volume_port: 8776,
            nbd_port: 10809,
            workers: 0,
        }
    }
}

impl Default for IdentitySection {
    fn default() -> Self {
        IdentitySection {
            token_ttl_secs: 3600,
            region: "RegionOne".into(),
            admin_password: None,
        }
    }
}

impl Default for Storage {
    fn default() -> Self {
        Storage {
            block_size: 4 << 20,
            inline_threshold: 64 << 10,
            upload_parallelism: 6,
            max_blocks_in_flight: 24,
            map_cache_bytes: archipelago::Config::default().map_cache_bytes,
        }
    }
}

/// `[volumes]`: the write log NBD writes land in (`<data_dir>/wlog/`).
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Volumes {
    /// Writes go through the write log (off: every write rewrites its
    /// block before the reply, as before).
    pub write_log: bool,
    /// Size at which a new log segment file starts (MiB).
    pub wlog_segment_mib: u64,
    /// Log space budget (MiB); writers wait for the destager beyond it.
    /// At least four segments.
    pub wlog_max_mib: u64,
    /// Write the log with O_DIRECT (the fdatasync after a group is then a
    /// device cache flush).
    pub wlog_direct_io: bool,
    /// Acknowledge every write after its group's fdatasync (off: writes
    /// without FUA are acknowledged once written, FLUSH/FUA wait).
    pub wlog_durable_acks: bool,
    /// With `wlog_durable_acks` off: MiB of acknowledged writes that may
    /// wait in memory for the log write (a page cache's dirty limit).
    pub wlog_writeback_mib: u64,
    /// A volume's pending writes are destaged once it has taken no write
    /// for this long (ms); also when the log is half full, before a
    /// snapshot, and past `destage_max_age_ms`.
    pub destage_delay_ms: u64,
    /// Longest a write stays only in the log while its volume keeps being
    /// written (ms).
    pub destage_max_age_ms: u64,
    /// Blocks merged and committed per destage transaction.
    pub destage_batch_blocks: usize,
    /// How long this host's claim to write a volume lasts without renewal
    /// (renewed every quarter of it): how long a crashed host keeps
    /// another from exporting its volumes for writing.
    pub owner_lease_secs: u64,
}

impl Default for Volumes {
    fn default() -> Self {
        let d = blockd::wlog::WlogConfig::default();
        Volumes {
            write_log: true,
            wlog_segment_mib: d.segment_bytes >> 20,
            wlog_max_mib: d.max_bytes >> 20,
            wlog_direct_io: d.direct_io,
            wlog_durable_acks: d.durable_acks,
            wlog_writeback_mib: (d.writeback_bytes >> 20) as u64,
            destage_delay_ms: d.destage_delay.as_millis() as u64,
            destage_max_age_ms: d.destage_max_age.as_millis() as u64,
            destage_batch_blocks: d.destage_batch_blocks,
            owner_lease_secs: blockd::nbd::NbdConfig::default().owner_lease.as_secs(),
        }
    }
}

impl Default for Gc {
    fn default() -> Self {
        Gc {
            interval_secs: 300,
            grace_secs: 3600,
            repair_interval_secs: 3600,
        }
    }
}

impl Default for SwiftSection {
    fn default() -> Self {
        SwiftSection {
            expirer_interval_secs: 30,
            operator_roles: swift_api::DEFAULT_OPERATOR_ROLES.map(String::from).to_vec(),
            reseller_admin_role: swift_api::DEFAULT_RESELLER_ADMIN_ROLE.into(),
        }
    }
}

/// Reads the file if given; defaults otherwise.
pub fn load(path: Option<&Path>) -> anyhow::Result<FileConfig> {
    let Some(path) = path else {
        return Ok(FileConfig::default());
    };
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let cfg: FileConfig =
        toml::from_str(&text).with_context(|| format!("in {}", path.display()))?;
    Ok(cfg)
}

impl FileConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        let bs = self.storage.block_size;
        if !(64 << 10..=64 << 20).contains(&bs) || !bs.is_power_of_two() {
            bail!("storage.block_size must be a power of two between 64 KiB and 64 MiB, not {bs}");
        }
        if self.storage.inline_threshold > bs {
            bail!("storage.inline_threshold must not exceed storage.block_size");
        }
        if self.gc.interval_secs == 0
            || self.gc.repair_interval_secs == 0
            || self.swift.expirer_interval_secs == 0
        {
            bail!("gc.interval_secs, gc.repair_interval_secs and swift.expirer_interval_secs must be positive");
        }
        Ok(())
    }

    pub fn identity_url(&self) -> String {
        format!(
            "http://{}:{}",
            self.listen.public_host, self.listen.identity_port
        )
    }

    pub fn object_url(&self) -> String {
        format!(
            "http://{}:{}",
            self.listen.public_host, self.listen.object_port
        )
    }

    pub fn image_url(&self) -> String {
        format!(
            "http://{}:{}",
            self.listen.public_host, self.listen.image_port
        )
    }

    pub fn volume_url(&self) -> String {
        format!(
            "http://{}:{}",
            self.listen.public_host, self.listen.volume_port
        )
    }

    pub fn identity_config(&self) -> identity::IdentityConfig {
        identity::IdentityConfig {
            token_ttl_secs: self.identity.token_ttl_secs,
            region: self.identity.region.clone(),
            public_url: self.identity_url(),
            catalog: self.catalog(),
            ..identity::IdentityConfig::default()
        }
    }

    /// The service catalog: every API this process serves. The volume API
    /// is published under the three types clients look for.
    fn catalog(&self) -> Vec<identity::CatalogService> {
        let svc = |t: &str, n: &str, url: String| identity::CatalogService {
            service_type: t.into(),
            name: n.into(),
            url,
        };
        let volume = format!("{}/v3/$(project_id)s", self.volume_url());
        vec![
            svc("image", "glance", self.image_url()),
            svc(
                "object-store",
                "swift",
                format!("{}/v1/AUTH_$(project_id)s", self.object_url()),
            ),
            svc("block-storage", "cinder", volume.clone()),
            svc("volumev3", "cinderv3", volume.clone()),
            svc("volume", "cinder-volume", volume),
        ]
    }

    pub fn glance_config(&self) -> glance_api::GlanceConfig {
        glance_api::GlanceConfig {
            public_url: self.image_url(),
            stores: self.policy_names(),
            ..glance_api::GlanceConfig::default()
        }
    }

    pub fn cinder_config(&self) -> cinder_api::CinderConfig {
        cinder_api::CinderConfig {
            public_url: self.volume_url(),
            nbd_host: self.listen.public_host.clone(),
            nbd_port: self.listen.nbd_port,
            volume_types: self
                .policy_names()
                .into_iter()
                .enumerate()
                .map(|(i, p)| cinder_api::VolumeTypeConfig {
                    name: if i == 0 {
                        "__DEFAULT__".into()
                    } else {
                        p.clone()
                    },
                    policy: p,
                })
                .collect(),
            ..cinder_api::CinderConfig::default()
        }
    }

    /// Storage policy names, the default one first.
    fn policy_names(&self) -> Vec<String> {
        let sc = self.store_config();
        let mut names: Vec<String> = sc.policies.keys().cloned().collect();
        // blockd adds a "default" policy when the file names others only.
        if !names.iter().any(|n| n == "default") {
            names.push("default".into());
        }
        names.sort();
        if let Some(i) = names.iter().position(|n| *n == sc.default_policy) {
            let d = names.remove(i);
            names.insert(0, d);
        }
        names
    }

    pub fn store_config(&self) -> blockd::StoreConfig {
        let mut c = self.blockd.clone().unwrap_or_default();
        if self.blockd.is_none() || c.root == blockd::StoreConfig::default().root {
            c.root = self.data_dir.join("blocks");
        }
        c
    }

    /// The write log's settings, `None` when it is off.
    pub fn wlog_config(&self) -> Option<blockd::wlog::WlogConfig> {
        let v = &self.volumes;
        v.write_log.then(|| blockd::wlog::WlogConfig {
            segment_bytes: v.wlog_segment_mib.max(1) << 20,
            max_bytes: v.wlog_max_mib.max(4 * v.wlog_segment_mib.max(1)) << 20,
            direct_io: v.wlog_direct_io,
            durable_acks: v.wlog_durable_acks,
            writeback_bytes: (v.wlog_writeback_mib as usize) << 20,
            destage_delay: std::time::Duration::from_millis(v.destage_delay_ms),
            destage_max_age: std::time::Duration::from_millis(v.destage_max_age_ms),
            destage_batch_blocks: v.destage_batch_blocks.max(1),
            ..Default::default()
        })
    }

    pub fn archipelago_config(&self) -> archipelago::Config {
        archipelago::Config {
            block_size: self.storage.block_size,
            inline_threshold: self.storage.inline_threshold,
            upload_parallelism: self.storage.upload_parallelism.max(1),
            max_blocks_in_flight: self.storage.max_blocks_in_flight.max(1),
            map_cache_bytes: self.storage.map_cache_bytes,
            gc_grace: std::time::Duration::from_secs(self.gc.grace_secs),
            ..archipelago::Config::default()
        }
    }
}
