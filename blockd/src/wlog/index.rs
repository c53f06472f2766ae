//! The in-memory index of one volume's pending writes: byte ranges mapped
//! to the log record that last wrote them (newest wins), trims as zero
//! ranges. Ranges never overlap; inserting splits or replaces what it
//! covers. Pure data structure, checked against a byte-array model below.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;

use super::io::LogFile;

/// Where a pending range's bytes are.
#[derive(Clone)]
pub enum Src {
    /// In a log segment at this file offset (of the range's first byte).
    Data { file: Arc<dyn LogFile>, at: u64 },
    /// Still in memory: acknowledged as a cached write before its group
    /// was written (the bytes of the range's start onwards).
    Mem(Bytes),
    /// Zeros (TRIM, WRITE_ZEROES).
    Zero,
}

impl Src {
    /// The same source `n` bytes further on.
    fn advance(&self, n: u64) -> Src {
        match self {
            Src::Data { file, at } => Src::Data {
                file: file.clone(),
                at: at + n,
            },
            Src::Mem(b) => Src::Mem(b.slice((n as usize).min(b.len())..)),
            Src::Zero => Src::Zero,
        }
    }
}

impl std::fmt::Debug for Src {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Src::Data { at, .. } => write!(f, "Data@{at}"),
            Src::Mem(b) => write!(f, "Mem({})", b.len()),
            Src::Zero => write!(f, "Zero"),
        }
    }
}

/// One pending range `[start, end)` written by record `seq`.
#[derive(Clone, Debug)]
pub struct Ext {
    pub start: u64,
    pub end: u64,
    pub seq: u64,
    pub src: Src,
}

/// A volume's pending ranges, keyed by start.
#[derive(Default)]
pub struct VolIndex {
    map: BTreeMap<u64, Ext>,
    /// Bytes of data ranges (memory and destage pressure).
    pub bytes: u64,
}

impl VolIndex {
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Records that `[start, end)` now reads from `src` (record `seq`,
    /// newer than everything already here).
    pub fn insert(&mut self, start: u64, end: u64, seq: u64, src: Src) {
        if start >= end {
            return;
        }
        self.cut(start, end);
        self.add(Ext {
            start,
            end,
            seq,
            src,
        });
    }

    fn add(&mut self, e: Ext) {
        self.bytes += e.end - e.start;
        self.map.insert(e.start, e);
    }

    fn take(&mut self, start: u64) -> Option<Ext> {
        let e = self.map.remove(&start)?;
        self.bytes -= e.end - e.start;
        Some(e)
    }

    /// Removes `[start, end)` from every range, keeping what lies outside.
    fn cut(&mut self, start: u64, end: u64) {
        for e in self.overlapping_keys(start, end) {
            let e = self.take(e).expect("key listed");
            if e.start < start {
                self.add(Ext {
                    end: start,
                    ..e.clone()
                });
            }
            if e.end > end {
                self.add(Ext {
                    start: end,
                    src: e.src.advance(end - e.start),
                    ..e
                });
            }
        }
    }

    fn overlapping_keys(&self, start: u64, end: u64) -> Vec<u64> {
        let mut keys = Vec::new();
        // The one range that may start before `start` and reach into it.
        if let Some((&k, e)) = self.map.range(..start).next_back() {
            if e.end > start {
                keys.push(k);
            }
        }
        keys.extend(self.map.range(start..end).map(|(&k, _)| k));
        keys
    }

    /// The pending pieces inside `[start, end)`, clipped, in order.
    pub fn lookup(&self, start: u64, end: u64) -> Vec<Ext> {
        self.overlapping_keys(start, end)
            .into_iter()
            .map(|k| {
                let e = &self.map[&k];
                let s = e.start.max(start);
                Ext {
                    start: s,
                    end: e.end.min(end),
                    seq: e.seq,
                    src: e.src.advance(s - e.start),
                }
            })
            .collect()
    }

    /// Drops the parts of `[start, end)` still written by record `seq`
    /// (after they were destaged); parts overwritten since stay.
    pub fn remove_if_seq(&mut self, start: u64, end: u64, seq: u64) {
        for p in self.lookup(start, end) {
            if p.seq == seq {
                self.cut(p.start, p.end);
            }
        }
    }

    /// Record `seq`, which wrote `[start, end)`, is now in `file` at `at`:
    /// its ranges still held in memory read from there from now on.
    pub fn written(&mut self, start: u64, end: u64, seq: u64, file: &Arc<dyn LogFile>, at: u64) {
        for k in self.overlapping_keys(start, end) {
            if let Some(e) = self.map.get_mut(&k) {
                if e.seq == seq && matches!(e.src, Src::Mem(_)) {
                    e.src = Src::Data {
                        file: file.clone(),
                        at: at + (e.start - start),
                    };
                }
            }
        }
    }

    /// The oldest record still needed, if any.
    pub fn min_seq(&self) -> Option<u64> {
        self.map.values().map(|e| e.seq).min()
    }

    /// Every range, in order.
    pub fn all(&self) -> impl Iterator<Item = &Ext> {
        self.map.values()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Ops on a 64 KiB volume: (start, len, seq-as-value or 0 for zero).
    fn model_apply(m: &mut [Option<(u64, u64)>], s: u64, e: u64, seq: u64, base: u64) {
        for (i, b) in m[s as usize..e as usize].iter_mut().enumerate() {
            *b = Some((seq, base + i as u64));
        }
    }

    #[test]
    fn ranges_in_memory_move_to_their_file_once_written() {
        let mut idx = VolIndex::default();
        idx.insert(0, 100, 1, Src::Mem(Bytes::from(vec![1u8; 100])));
        // A newer record splits the one still in memory.
        idx.insert(40, 60, 2, Src::Mem(Bytes::from(vec![2u8; 20])));
        let file: Arc<dyn LogFile> = Arc::new(crate::wlog::io::MemFile::default());
        idx.written(0, 100, 1, &file, 1000);
        let got: Vec<String> = idx
            .lookup(0, 100)
            .iter()
            .map(|p| format!("{}-{} {} {:?}", p.start, p.end, p.seq, p.src))
            .collect();
        assert_eq!(
            got,
            ["0-40 1 Data@1000", "40-60 2 Mem(20)", "60-100 1 Data@1060"]
        );
        // Record 2's range reads its own bytes meanwhile.
        match &idx.lookup(50, 55)[0].src {
            Src::Mem(b) => assert_eq!(b.len(), 10),
            other => panic!("{other:?}"),
        }
    }

    proptest! {
        #[test]
        fn index_matches_a_byte_model(ops in proptest::collection::vec(
            (0u64..4096, 1u64..600, any::<bool>(), any::<bool>()), 1..60)) {
            let mut idx = VolIndex::default();
            let mut model: Vec<Option<(u64, u64)>> = vec![None; 5000];
            let mut seq = 0;
            for (s, n, zero, remove) in ops {
                let e = (s + n).min(5000);
                seq += 1;
                if remove && seq > 2 {
                    // Drop what an older record still holds.
                    let old = seq / 2;
                    idx.remove_if_seq(s, e, old);
                    for b in &mut model[s as usize..e as usize] {
                        if matches!(b, Some((q, _)) if *q == old) { *b = None; }
                    }
                    continue;
                }
                // Data sources encode "file offset = seq * 1e6 + byte".
                let base = if zero { u64::MAX / 2 } else { seq * 1_000_000 };
                let src = if zero { Src::Zero } else {
                    Src::Data { file: Arc::new(crate::wlog::io::MemFile::default()), at: base }
                };
                idx.insert(s, e, seq, src);
                model_apply(&mut model, s, e, seq, base);
            }
            let mut got: Vec<Option<(u64, u64)>> = vec![None; 5000];
            let mut bytes = 0;
            for p in idx.lookup(0, 5000) {
                bytes += p.end - p.start;
                for b in p.start..p.end {
                    let at = match &p.src { Src::Data { at, .. } => *at, _ => u64::MAX / 2 } ;
                    let v = if matches!(p.src, Src::Zero) {
                        // Zero ranges carry no offset: compare by model base.
                        model[b as usize].map(|(_, x)| x).unwrap_or(0)
                    } else { at + (b - p.start) };
                    got[b as usize] = Some((p.seq, v));
                }
            }
            prop_assert_eq!(bytes, idx.bytes);
            prop_assert_eq!(got, model);
            // Clipped lookups agree with the full one.
            let part = idx.lookup(100, 200);
            prop_assert!(part.iter().all(|p| p.start >= 100 && p.end <= 200 && p.start < p.end));
        }
    }
}
