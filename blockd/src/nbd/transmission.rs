//! The transmission phase: requests in, simple replies out, pipelined.
//!
//! One reader loop parses request headers (and WRITE payloads) in order and
//! hands each request to its own task, so a slow block write does not hold
//! up the reads queued behind it; replies go back in completion order
//! through one writer task that owns the socket's write half. How much is in
//! flight per connection is bounded twice: by count and by payload bytes.
//!
//! The loop stops reading at `NBD_CMD_DISC`, at a malformed header (bad
//! magic: the stream is out of step, so the connection closes), at server
//! shutdown, or when the export is detached. In every case the requests
//! already read run to completion and their replies are sent before the
//! socket closes.
//!
//! Durability: a WRITE, TRIM or WRITE_ZEROES is answered only after the
//! resource layer call returned, and that call is durable on return (see
//! `archipelago/src/export_ops.rs`). FLUSH and FUA go through
//! `flush_volume`, the volume's sync point, so a later write log only has
//! to make that call wait for its fsync.

use std::io;
use std::sync::Arc;

use archipelago::Archipelago;
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::exports::{Export, ExportWatch};
use super::proto::{self, Request};

/// Requests one connection may have in flight (QEMU uses up to 16, fio's
/// nbd engine its iodepth).
const MAX_IN_FLIGHT: usize = 64;
/// Payload bytes (WRITE data read, READ data not yet sent) one connection
/// may hold: at least one maximum payload.
const MAX_BYTES_IN_FLIGHT: u32 = 2 * proto::MAX_PAYLOAD;

/// One reply waiting for the writer; holds its permits until it is sent.
struct Reply {
    cookie: u64,
    error: u32,
    data: Option<Bytes>,
    _permits: (OwnedSemaphorePermit, OwnedSemaphorePermit),
}

/// Why the reader loop stopped.
#[derive(Debug)]
enum End {
    Disconnect,
    ClientClosed,
    Shutdown,
    Revoked,
    Protocol(String),
    Io(io::Error),
}

/// Serves requests on `sock` for `export` until one of the ends above.
pub(crate) async fn run(
    sock: TcpStream,
    export: Export,
    arch: Archipelago,
    mut gone: ExportWatch,
    mut stop: watch::Receiver<bool>,
) {
    let export = Arc::new(export);
    let (rd, wr) = sock.into_split();
    let mut rd = BufReader::with_capacity(256 << 10, rd);
    let (tx, rx) = mpsc::channel::<Reply>(MAX_IN_FLIGHT);
    let writer = tokio::spawn(write_replies(wr, rx));
    let count = Arc::new(Semaphore::new(MAX_IN_FLIGHT));
    let bytes = Arc::new(Semaphore::new(MAX_BYTES_IN_FLIGHT as usize));
    let mut tasks = JoinSet::new();
    let end = loop {
        while let Some(r) = tasks.try_join_next() {
            if let Err(e) = r {
                tracing::error!(error = %e, "nbd request task failed");
            }
        }
        let mut hdr = [0u8; proto::REQUEST_LEN];
        // Only the wait for a new header is interruptible: a request whose
        // header was read is always read whole and answered.
        tokio::select! {
            biased;
            _ = stop.wait_for(|s| *s) => break End::Shutdown,
            _ = gone.gone() => break End::Revoked,
            r = rd.read_exact(&mut hdr) => match r {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => break End::ClientClosed,
                Err(e) => break End::Io(e),
            },
        }
        let req = match Request::parse(&hdr) {
            Ok(r) => r,
            Err(e) => break End::Protocol(e.to_string()),
        };
        if req.kind == proto::CMD_DISC {
            break End::Disconnect;
        }
        if req.payload_len() > proto::MAX_PAYLOAD {
            // Larger than advertised: reading it would let a client pin
            // gigabytes; the spec allows a hard disconnect.
            break End::Protocol(format!("write payload of {} bytes", req.len));
        }
        let weight = match req.kind {
            proto::CMD_READ | proto::CMD_WRITE => req.len.clamp(1, proto::MAX_PAYLOAD),
            _ => 1,
        };
        let (Ok(p1), Ok(p2)) = (
            count.clone().acquire_owned().await,
            bytes.clone().acquire_many_owned(weight).await,
        ) else {
            unreachable!("semaphores are never closed");
        };
        let payload = if req.payload_len() > 0 {
            let mut buf = vec![0u8; req.len as usize];
            if let Err(e) = rd.read_exact(&mut buf).await {
                break End::Io(e);
            }
            Some(Bytes::from(buf))
        } else {
            None
        };
        let (arch, export, tx) = (arch.clone(), export.clone(), tx.clone());
        tasks.spawn(async move {
            let (error, data) = execute(&arch, &export, &req, payload).await;
            let reply = Reply {
                cookie: req.cookie,
                error,
                data,
                _permits: (p1, p2),
            };
            // The writer is gone only if the client is; nothing to tell.
            let _ = tx.send(reply).await;
        });
    };
    match &end {
        End::Disconnect | End::ClientClosed => tracing::debug!(?end, "nbd client done"),
        End::Shutdown => tracing::info!("nbd connection closed by shutdown"),
        End::Revoked => {
            tracing::info!(attachment = %export.attachment_id, "nbd export removed; closing connection")
        }
        End::Protocol(e) => tracing::warn!(error = %e, "nbd protocol error; closing connection"),
        End::Io(e) => tracing::debug!(error = %e, "nbd connection read failed"),
    }
    while let Some(r) = tasks.join_next().await {
        if let Err(e) = r {
            tracing::error!(error = %e, "nbd request task failed");
        }
    }
    drop(tx);
    match writer.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "nbd reply write failed"),
        Err(e) => tracing::error!(error = %e, "nbd reply writer failed"),
    }
}

/// Writes replies in the order they complete; flushes when none is queued,
/// so pipelined replies share segments.
async fn write_replies(wr: OwnedWriteHalf, mut rx: mpsc::Receiver<Reply>) -> io::Result<()> {
    let mut w = BufWriter::with_capacity(256 << 10, wr);
    while let Some(r) = rx.recv().await {
        w.write_all(&proto::simple_reply(r.cookie, r.error)).await?;
        if let Some(d) = &r.data {
            w.write_all(d).await?;
        }
        drop(r);
        if rx.is_empty() {
            w.flush().await?;
        }
    }
    w.flush().await?;
    w.shutdown().await
}

/// Checks a request against the export without touching data: the error
/// to reply with, if any. Pure, so it is unit-tested below.
pub(crate) fn check(req: &Request, size: u64, readonly: bool) -> Result<(), u32> {
    let writes = matches!(
        req.kind,
        proto::CMD_WRITE | proto::CMD_TRIM | proto::CMD_WRITE_ZEROES
    );
    let allowed_flags = match req.kind {
        proto::CMD_WRITE_ZEROES => proto::CMD_FLAG_FUA | proto::CMD_FLAG_NO_HOLE,
        // FUA is accepted on every command: the spec says existing clients
        // set it on reads and flushes too.
        proto::CMD_READ | proto::CMD_WRITE | proto::CMD_TRIM | proto::CMD_FLUSH => {
            proto::CMD_FLAG_FUA
        }
        _ => return Err(proto::EINVAL),
    };
    if req.flags & !allowed_flags != 0 {
        return Err(proto::EINVAL);
    }
    if writes && readonly {
        return Err(proto::EPERM);
    }
    if req.kind == proto::CMD_FLUSH {
        return Ok(());
    }
    if req.kind == proto::CMD_READ && req.len > proto::MAX_PAYLOAD {
        return Err(proto::EINVAL);
    }
    let in_range = req
        .offset
        .checked_add(req.len as u64)
        .is_some_and(|end| end <= size);
    if !in_range {
        // The spec: ENOSPC for writes past the end, EINVAL for reads/trims.
        return Err(match req.kind {
            proto::CMD_WRITE | proto::CMD_WRITE_ZEROES => proto::ENOSPC,
            _ => proto::EINVAL,
        });
    }
    Ok(())
}

/// Runs one request: the reply's error value and, for a READ, its data.
async fn execute(
    arch: &Archipelago,
    ex: &Export,
    req: &Request,
    payload: Option<Bytes>,
) -> (u32, Option<Bytes>) {
    if let Err(e) = check(req, ex.size, ex.readonly) {
        return (e, None);
    }
    let rid = ex.resource_id.as_str();
    let (off, len) = (req.offset, req.len as u64);
    let fua = req.flags & proto::CMD_FLAG_FUA != 0;
    let r = match req.kind {
        proto::CMD_READ if len == 0 => return (0, Some(Bytes::new())),
        proto::CMD_READ => match arch.read_at(rid, off, len).await {
            Ok(d) if d.len() as u64 == len => return (0, Some(d)),
            Ok(d) => {
                // The resource shrank under us (it cannot today) or the
                // layer misbehaved: never send a short payload.
                tracing::error!(resource = rid, got = d.len(), want = len, "short read");
                return (proto::EIO, None);
            }
            Err(e) => Err(e),
        },
        proto::CMD_WRITE => {
            let data = payload.unwrap_or_default();
            match arch.write_at(rid, off, data).await {
                Ok(()) if fua => arch.flush_volume(rid).await,
                r => r,
            }
        }
        proto::CMD_TRIM if len == 0 => Ok(()),
        proto::CMD_TRIM => match arch.discard(rid, off, len).await {
            Ok(()) if fua => arch.flush_volume(rid).await,
            r => r,
        },
        // NO_HOLE is accepted and needs no other path: the resource layer
        // never stores an all-zero block (thin provisioning, nothing to
        // preallocate), so zeros written are a hole whichever way.
        proto::CMD_WRITE_ZEROES => match arch.write_zeroes(rid, off, len).await {
            Ok(()) if fua => arch.flush_volume(rid).await,
            r => r,
        },
        proto::CMD_FLUSH => arch.flush_volume(rid).await,
        _ => return (proto::EINVAL, None),
    };
    match r {
        Ok(()) => (0, None),
        Err(e) => (error_value(req, &e), None),
    }
}

/// Maps a resource-layer error to an NBD error value, logging the ones
/// that are the server's fault.
fn error_value(req: &Request, e: &archipelago::Error) -> u32 {
    use archipelago::Error as E;
    match e {
        E::ReadOnly(_) => proto::EPERM,
        E::OutOfRange { .. } if req.kind == proto::CMD_WRITE => proto::ENOSPC,
        E::OutOfRange { .. } => proto::EINVAL,
        _ => {
            tracing::error!(error = %e, kind = req.kind, offset = req.offset, len = req.len, "nbd request failed");
            proto::EIO
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn req(kind: u16, flags: u16, offset: u64, len: u32) -> Request {
        Request {
            flags,
            kind,
            cookie: 1,
            offset,
            len,
        }
    }

    #[test]
    fn range_errors_follow_the_spec() {
        let size = 1 << 20;
        assert_eq!(
            check(&req(proto::CMD_READ, 0, 0, 4096), size, false),
            Ok(())
        );
        assert_eq!(
            check(&req(proto::CMD_READ, 0, size, 1), size, false),
            Err(proto::EINVAL)
        );
        assert_eq!(
            check(&req(proto::CMD_WRITE, 0, size - 512, 1024), size, false),
            Err(proto::ENOSPC)
        );
        assert_eq!(
            check(&req(proto::CMD_WRITE_ZEROES, 0, size, 1), size, false),
            Err(proto::ENOSPC)
        );
        assert_eq!(
            check(&req(proto::CMD_TRIM, 0, u64::MAX, 2), size, false),
            Err(proto::EINVAL)
        );
        assert_eq!(
            check(
                &req(proto::CMD_READ, 0, 0, proto::MAX_PAYLOAD + 1),
                u64::MAX,
                false
            ),
            Err(proto::EINVAL)
        );
        // A write ending exactly at the end is fine.
        assert_eq!(
            check(&req(proto::CMD_WRITE, 0, size - 1, 1), size, false),
            Ok(())
        );
    }

    #[test]
    fn readonly_refuses_writes_with_eperm() {
        for k in [proto::CMD_WRITE, proto::CMD_TRIM, proto::CMD_WRITE_ZEROES] {
            assert_eq!(check(&req(k, 0, 0, 1), 4096, true), Err(proto::EPERM));
        }
        assert_eq!(check(&req(proto::CMD_READ, 0, 0, 1), 4096, true), Ok(()));
        assert_eq!(check(&req(proto::CMD_FLUSH, 0, 0, 0), 4096, true), Ok(()));
    }

    #[test]
    fn flags_and_unknown_commands() {
        assert_eq!(
            check(
                &req(proto::CMD_WRITE_ZEROES, proto::CMD_FLAG_NO_HOLE, 0, 1),
                4096,
                false
            ),
            Ok(())
        );
        assert_eq!(
            check(
                &req(proto::CMD_WRITE, proto::CMD_FLAG_NO_HOLE, 0, 1),
                4096,
                false
            ),
            Err(proto::EINVAL)
        );
        assert_eq!(
            check(
                &req(proto::CMD_READ, proto::CMD_FLAG_FUA, 0, 1),
                4096,
                false
            ),
            Ok(())
        );
        // CACHE, BLOCK_STATUS and unknown types are not offered.
        for k in [5, 7, 99] {
            assert_eq!(check(&req(k, 0, 0, 1), 4096, false), Err(proto::EINVAL));
        }
    }

    proptest! {
        #[test]
        fn accepted_requests_lie_inside_the_export(kind in 0u16..8, flags in any::<u16>(),
                                                   offset in any::<u64>(), len in any::<u32>(),
                                                   size in any::<u64>(), ro in any::<bool>()) {
            let r = req(kind, flags, offset, len);
            if check(&r, size, ro).is_ok() && kind != proto::CMD_FLUSH {
                prop_assert!(offset as u128 + len as u128 <= size as u128);
                prop_assert!(!(ro && kind != proto::CMD_READ));
            }
        }
    }
}
