//! Where fragments live: `<device>/<first two hex digits of id>/<hex id>.<index>`.
//!
//! Placement is rendezvous hashing: for each block the devices are ranked by
//! a hash of (block id, device number) and fragment `i` goes to the device
//! ranked `i mod devices`. So with at least `k + m` devices every fragment
//! has its own device (x = 1), and readers compute the same homes without
//! any index. Readers still look on the other devices when a fragment is
//! not at home (a reordered device list, a fragment repaired elsewhere).

use std::path::{Path, PathBuf};

use archipelago::BlockId;

/// The configured devices.
#[derive(Debug, Clone)]
pub struct Layout {
    devices: Vec<PathBuf>,
}

/// splitmix64 finaliser: a cheap, well-mixed 64-bit hash.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl Layout {
    /// A layout over `devices` (each a failure domain).
    pub fn new(devices: Vec<PathBuf>) -> Layout {
        Layout { devices }
    }

    /// The device directories.
    pub fn devices(&self) -> &[PathBuf] {
        &self.devices
    }

    /// Devices ranked for `id` (rendezvous hashing). The id is already a
    /// uniform hash, so mixing its first word with the device number is
    /// enough.
    pub fn ranking(&self, id: &BlockId) -> Vec<usize> {
        let seed = u64::from_le_bytes(id.0[..8].try_into().unwrap_or_default());
        let mut ranked: Vec<(u64, usize)> = (0..self.devices.len())
            .map(|d| (mix(seed ^ mix(d as u64 + 1)), d))
            .collect();
        ranked.sort_unstable();
        ranked.into_iter().map(|(_, d)| d).collect()
    }

    /// The device fragment `index` of `id` is written to.
    pub fn home(&self, id: &BlockId, index: usize) -> usize {
        let r = self.ranking(id);
        r[index % r.len()]
    }

    /// The prefix directory of `id` on `device`.
    pub fn dir(&self, device: usize, id: &BlockId) -> PathBuf {
        self.devices[device].join(&id.to_hex()[..2])
    }

    /// Path of fragment `index` of `id` on `device`.
    pub fn path(&self, device: usize, id: &BlockId, index: usize) -> PathBuf {
        self.dir(device, id).join(file_name(id, index))
    }
}

/// File name of fragment `index` of `id`.
pub fn file_name(id: &BlockId, index: usize) -> String {
    format!("{}.{index}", id.to_hex())
}

/// Parses a final fragment file name; `None` for temp files and strangers.
pub fn parse_name(name: &str) -> Option<(BlockId, usize)> {
    let (hex, idx) = name.split_once('.')?;
    if idx.is_empty() || !idx.bytes().all(|b| b.is_ascii_digit()) || idx.len() > 3 {
        return None;
    }
    Some((BlockId::from_hex(hex)?, idx.parse().ok()?))
}

/// True when `p` names a prefix directory (two lowercase hex digits).
pub fn is_prefix_dir(p: &Path) -> bool {
    p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
        n.len() == 2
            && n.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn six_fragments_on_six_devices_land_on_distinct_devices() {
        let l = Layout::new((0..6).map(|i| PathBuf::from(format!("/d{i}"))).collect());
        for n in 0..200u8 {
            let id = BlockId::of(&[n]);
            let mut homes: Vec<usize> = (0..6).map(|i| l.home(&id, i)).collect();
            homes.sort();
            assert_eq!(homes, vec![0, 1, 2, 3, 4, 5]);
        }
    }

    #[test]
    fn names_roundtrip_and_temps_are_not_fragments() {
        let id = BlockId::of(b"x");
        assert_eq!(parse_name(&file_name(&id, 5)), Some((id, 5)));
        assert_eq!(
            parse_name(&crate::durable::temp_name(&file_name(&id, 5))),
            None
        );
    }
}
