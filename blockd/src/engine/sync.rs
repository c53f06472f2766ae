//! The fallback engine: the same operations as plain syscalls, one at a
//! time, on the worker thread.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use super::{EngineKind, FileWrite, Io, ReadReq, ReadResult};
use crate::durable;

/// pread/pwrite engine.
pub struct SyncIo;

/// Reads up to `len` bytes at `off`, stopping early only at end of file.
pub(crate) fn read_full_at(f: &File, off: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let mut got = 0;
    while got < len {
        match f.read_at(&mut buf[got..], off + got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(got);
    Ok(buf)
}

impl Io for SyncIo {
    fn kind(&self) -> EngineKind {
        EngineKind::Sync
    }

    fn write_durable(&mut self, files: &[FileWrite], done: &mut dyn FnMut(usize, io::Result<()>)) {
        for (i, f) in files.iter().enumerate() {
            done(
                i,
                durable::write_durable(&f.dir, &f.name, &[&f.header, &f.payload]),
            );
        }
    }

    fn read(&mut self, reqs: &[ReadReq]) -> Vec<ReadResult> {
        reqs.iter()
            .map(|r| {
                let f = File::open(&r.path)?;
                r.ranges
                    .iter()
                    .map(|&(off, len)| read_full_at(&f, off, len))
                    .collect()
            })
            .collect()
    }
}
