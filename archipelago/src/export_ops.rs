//! Volume operations that block exports (NBD today, vhost-user-blk later)
//! need beyond `write_at`/`read_at`/`discard`: zeroing a range, and the
//! volume's sync point.
//!
//! Durability contract, as exports rely on it: `write_at` and `discard`
//! commit their blocks and map entries before they return, so a write is
//! durable once its call returns and [`Archipelago::flush_volume`] has
//! nothing left to do. When writes land in a volume write log first (DESIGN,
//! "Volume write path"), `flush_volume` becomes the point where that log is
//! made durable, and exports already call it for FLUSH and FUA.

use crate::error::{Error, Result};
use crate::meta::Kind;
use crate::Archipelago;

impl Archipelago {
    /// Makes `len` bytes at `offset` of a read-write resource read as zeros.
    ///
    /// Whole blocks in the range become holes and partial blocks at its
    /// edges are rewritten with zeros (the same map `write_at` of zeros
    /// would leave, since an all-zero block is never stored: thin
    /// provisioning has no allocation to keep). Unlike `discard`, the range
    /// is checked: it must lie inside the resource.
    pub async fn write_zeroes(&self, rid: &str, offset: u64, len: u64) -> Result<()> {
        let row = self.info(rid).await?;
        if row.kind != Kind::Rw {
            return Err(Error::ReadOnly(rid.to_string()));
        }
        if offset.checked_add(len).is_none_or(|end| end > row.size) {
            return Err(Error::OutOfRange {
                offset,
                len,
                size: row.size,
            });
        }
        if len == 0 {
            return Ok(());
        }
        self.discard(rid, offset, len).await
    }

    /// Returns once every write to `rid` that returned before this call is
    /// durable. Today that holds already (see the module docs); the call
    /// checks that the resource still exists so a flush of a deleted
    /// volume fails instead of pretending.
    pub async fn flush_volume(&self, rid: &str) -> Result<()> {
        self.info(rid).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use crate::testutil::setup;

    #[tokio::test]
    async fn write_zeroes_makes_holes_and_zeroes_edges() {
        let (_d, arch, _s) = setup(4096);
        let rid = arch
            .create_rw(5 * 4096 + 100, |_c, rid| {
                Ok::<_, crate::Error>(rid.to_string())
            })
            .await
            .unwrap();
        let data = Bytes::from(vec![0xab; 5 * 4096 + 100]);
        arch.write_at(&rid, 0, data).await.unwrap();
        // From the middle of block 0 into the middle of block 3.
        arch.write_zeroes(&rid, 1000, 3 * 4096).await.unwrap();
        let got = arch.read_at(&rid, 0, 5 * 4096 + 100).await.unwrap();
        assert!(got[..1000].iter().all(|&b| b == 0xab));
        assert!(got[1000..1000 + 3 * 4096].iter().all(|&b| b == 0));
        assert!(got[1000 + 3 * 4096..].iter().all(|&b| b == 0xab));
        // Zeroing the short last block.
        arch.write_zeroes(&rid, 5 * 4096, 100).await.unwrap();
        let tail = arch.read_at(&rid, 5 * 4096, 100).await.unwrap();
        assert!(tail.iter().all(|&b| b == 0));
    }

    #[tokio::test]
    async fn write_zeroes_checks_range_and_kind() {
        let (_d, arch, _s) = setup(4096);
        let rid = arch
            .create_rw(8192, |_c, rid| Ok::<_, crate::Error>(rid.to_string()))
            .await
            .unwrap();
        assert!(matches!(
            arch.write_zeroes(&rid, 8000, 200).await,
            Err(crate::Error::OutOfRange { .. })
        ));
        assert!(matches!(
            arch.write_zeroes(&rid, u64::MAX, 2).await,
            Err(crate::Error::OutOfRange { .. })
        ));
        arch.write_zeroes(&rid, 8192, 0).await.unwrap();
        let snap = arch
            .snapshot(&rid, |_c, rid| Ok::<_, crate::Error>(rid.to_string()))
            .await
            .unwrap();
        assert!(matches!(
            arch.write_zeroes(&snap, 0, 10).await,
            Err(crate::Error::ReadOnly(_))
        ));
        arch.flush_volume(&rid).await.unwrap();
        assert!(matches!(
            arch.flush_volume("nope").await,
            Err(crate::Error::NotFound(_))
        ));
    }
}
