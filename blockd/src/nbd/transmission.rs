//! The transmission phase: requests in, replies out, pipelined.
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
//! Replies are simple unless the client negotiated structured replies;
//! then a READ answers in chunks with holes as `OFFSET_HOLE` (the client
//! skips them instead of receiving zeros), errors travel as error chunks
//! with a message, and `NBD_CMD_BLOCK_STATUS` reports `base:allocation`
//! from the resource's map when that context was selected.
//!
//! Durability: with the write log (`crate::wlog`), a WRITE, TRIM or
//! WRITE_ZEROES becomes a log record and is answered once the log says so
//! (after its group's fdatasync, or for a cached write without FUA once
//! written when `durable_acks` is off); FLUSH waits for the writes sent
//! before it on its connection (see [`Unanswered`]), then for the log. Reads
//! overlay the log's pending ranges on the resource. Without a log, each
//! call goes to the resource layer, durable on return (see
//! `archipelago/src/export_ops.rs`).

use std::collections::BTreeSet;
use std::io;
use std::sync::Arc;

use archipelago::Archipelago;
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use super::exports::{Export, ExportWatch};
use super::handshake::Session;
use super::proto::{self, Request};
use super::structured::{self, Piece};
use crate::wlog::WriteLog;

/// Requests one connection may have in flight (QEMU uses up to 16, fio's
/// nbd engine its iodepth).
const MAX_IN_FLIGHT: usize = 64;
/// Payload bytes (WRITE data read, READ data not yet sent) one connection
/// may hold: at least one maximum payload.
const MAX_BYTES_IN_FLIGHT: u32 = 2 * proto::MAX_PAYLOAD;
/// Blocks one BLOCK_STATUS request looks at. The metadata query and the
/// reply (at most one 8-byte descriptor per block) stay bounded whatever
/// length a client asks for; a shorter answer is allowed and clients ask
/// again from where it ended. With 4 MiB blocks the bound is beyond any
/// 32-bit request length.
const MAX_STATUS_BLOCKS: u64 = 1 << 16;

/// One reply waiting for the writer: its wire bytes, in order, and the
/// permits it holds until it is sent.
struct Reply {
    segments: Vec<Bytes>,
    _permits: (OwnedSemaphorePermit, OwnedSemaphorePermit),
}

/// Arrival numbers of a connection's writes (WRITE, TRIM, WRITE_ZEROES)
/// not yet done.
///
/// Requests run as separate tasks in no particular order, so a FLUSH could
/// overtake a write sent before it: flushed first, that write would still
/// be answered before the FLUSH (a cached write is answered at once) yet
/// be lost to a crash after it. NBD's FLUSH only has to cover writes
/// answered before it was read; atoll covers every write sent before it,
/// which is what a client that pipelines writes and a FLUSH expects. So
/// a FLUSH first waits for the writes that arrived before it; later ones
/// do not hold it up.
type Unanswered = Arc<watch::Sender<BTreeSet<u64>>>;

/// A write in `unanswered` (arrival numbers of the connection's writes not
/// yet done) until dropped, even when its task fails.
struct WriteDone {
    unanswered: Unanswered,
    n: u64,
}

impl WriteDone {
    fn open(unanswered: &Unanswered, n: u64) -> WriteDone {
        unanswered.send_modify(|w| {
            w.insert(n);
        });
        WriteDone {
            unanswered: unanswered.clone(),
            n,
        }
    }
}

impl Drop for WriteDone {
    fn drop(&mut self) {
        self.unanswered.send_modify(|w| {
            w.remove(&self.n);
        });
    }
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
    session: Session,
    arch: Archipelago,
    wlog: Option<WriteLog>,
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
    let unanswered: Unanswered = Arc::new(watch::Sender::new(BTreeSet::new()));
    let mut arrived = 0u64;
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
            match read_payload(&mut rd, req.len as usize).await {
                Ok(b) => Some(b),
                Err(e) => break End::Io(e),
            }
        } else {
            None
        };
        arrived += 1;
        let write = matches!(
            req.kind,
            proto::CMD_WRITE | proto::CMD_TRIM | proto::CMD_WRITE_ZEROES
        );
        let done = write.then(|| WriteDone::open(&unanswered, arrived));
        let before = (req.kind == proto::CMD_FLUSH).then(|| (unanswered.subscribe(), arrived));
        let (arch, export, tx) = (arch.clone(), export.clone(), tx.clone());
        let io = Backend {
            arch,
            wlog: wlog.clone(),
        };
        tasks.spawn(async move {
            if let Some((mut open, me)) = before {
                // The sender outlives every task of the loop.
                let _ = open
                    .wait_for(|w| w.first().is_none_or(|&first| first > me))
                    .await;
            }
            let segments = respond(&io, &export, session, &req, payload).await;
            drop(done);
            let reply = Reply {
                segments,
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

/// Reads a request's `len` payload bytes into uninitialised capacity
/// (zeroing a buffer first cost as much CPU as the socket copy).
async fn read_payload<R: tokio::io::AsyncRead + Unpin>(
    rd: &mut R,
    len: usize,
) -> io::Result<Bytes> {
    let mut buf = BytesMut::with_capacity(len);
    while buf.len() < len {
        // Never past the payload: the next request's header follows.
        let mut part = (&mut *rd).take((len - buf.len()) as u64);
        if part.read_buf(&mut buf).await? == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
    }
    Ok(buf.freeze())
}

/// Writes replies in the order they complete; flushes when none is queued,
/// so pipelined replies share segments.
async fn write_replies(wr: OwnedWriteHalf, mut rx: mpsc::Receiver<Reply>) -> io::Result<()> {
    let mut w = BufWriter::with_capacity(256 << 10, wr);
    while let Some(r) = rx.recv().await {
        for seg in &r.segments {
            w.write_all(seg).await?;
        }
        drop(r);
        if rx.is_empty() {
            w.flush().await?;
        }
    }
    w.flush().await?;
    w.shutdown().await
}

/// Where a request's data goes: the resource layer, through the volume
/// write log when there is one.
struct Backend {
    arch: Archipelago,
    wlog: Option<WriteLog>,
}

impl Backend {
    async fn read_at(&self, rid: &str, off: u64, len: u64) -> archipelago::Result<Bytes> {
        match &self.wlog {
            Some(l) => l.read_at(&self.arch, rid, off, len).await,
            None => self.arch.read_at(rid, off, len).await,
        }
    }
    async fn read_sparse(
        &self,
        rid: &str,
        off: u64,
        len: u64,
    ) -> archipelago::Result<Vec<archipelago::Span>> {
        match &self.wlog {
            Some(l) => l.read_sparse(&self.arch, rid, off, len).await,
            None => self.arch.read_sparse(rid, off, len).await,
        }
    }
    async fn extents(
        &self,
        rid: &str,
        off: u64,
        len: u64,
    ) -> archipelago::Result<Vec<(u64, bool)>> {
        match &self.wlog {
            Some(l) => l.extents(&self.arch, rid, off, len).await,
            None => self.arch.extents(rid, off, len).await,
        }
    }
    async fn write(&self, rid: &str, off: u64, data: Bytes, fua: bool) -> archipelago::Result<()> {
        match &self.wlog {
            Some(l) => l.write(rid, off, data, fua).await,
            None => match self.arch.write_at(rid, off, data).await {
                Ok(()) if fua => self.arch.flush_volume(rid).await,
                r => r,
            },
        }
    }
    /// TRIM and WRITE_ZEROES: the same zero range either way (an all-zero
    /// block is never stored, so NO_HOLE has nothing to keep).
    async fn zero(
        &self,
        rid: &str,
        off: u64,
        len: u64,
        trim: bool,
        fua: bool,
    ) -> archipelago::Result<()> {
        match &self.wlog {
            Some(l) => l.zero(rid, off, len as u32, fua).await,
            None => {
                let r = if trim {
                    self.arch.discard(rid, off, len).await
                } else {
                    self.arch.write_zeroes(rid, off, len).await
                };
                match r {
                    Ok(()) if fua => self.arch.flush_volume(rid).await,
                    r => r,
                }
            }
        }
    }
    async fn flush(&self, rid: &str) -> archipelago::Result<()> {
        match &self.wlog {
            // Everything acknowledged lives in the log until destaged, and
            // a destage commits before the log lets go: the log's flush
            // is the whole flush (no metadata round trip per FLUSH).
            Some(l) => l.flush().await,
            None => self.arch.flush_volume(rid).await,
        }
    }
}

/// The whole reply to one request, simple or structured as negotiated.
async fn respond(
    arch: &Backend,
    ex: &Export,
    ses: Session,
    req: &Request,
    payload: Option<Bytes>,
) -> Vec<Bytes> {
    if let Err(e) = check(req, ex.size, ex.readonly, ses) {
        return error_reply(ses, req.cookie, e);
    }
    match req.kind {
        proto::CMD_READ if ses.structured => read_structured(arch, ex, req).await,
        proto::CMD_BLOCK_STATUS => block_status(arch, ex, ses, req).await,
        _ => match execute(arch, ex, req, payload).await {
            (0, data) => {
                // A payload-free success may stay simple with structured
                // replies too (the spec's MAY).
                let mut out = vec![Bytes::copy_from_slice(&proto::simple_reply(req.cookie, 0))];
                out.extend(data);
                out
            }
            (e, _) => error_reply(ses, req.cookie, e),
        },
    }
}

/// A failed request's reply: a simple reply, or with structured replies an
/// error chunk that can carry a message (a READ must not get a simple one).
fn error_reply(ses: Session, cookie: u64, error: u32) -> Vec<Bytes> {
    if !ses.structured {
        return vec![Bytes::copy_from_slice(&proto::simple_reply(cookie, error))];
    }
    let msg = match error {
        proto::EPERM => "export is read-only",
        proto::EINVAL => "invalid request",
        proto::ENOSPC => "write beyond the end of the export",
        proto::EIO => "storage error",
        _ => "request failed",
    };
    let c = structured::error_chunk(proto::REPLY_FLAG_DONE, cookie, error, msg);
    vec![Bytes::from(c)]
}

/// A READ with structured replies: holes as `OFFSET_HOLE`, one metadata
/// query for the map, data pieces sent without copying.
async fn read_structured(arch: &Backend, ex: &Export, req: &Request) -> Vec<Bytes> {
    let ses = Session {
        structured: true,
        base_allocation: None,
    };
    let rid = ex.resource_id.as_str();
    let spans = match arch.read_sparse(rid, req.offset, req.len as u64).await {
        Ok(s) => s,
        Err(e) => return error_reply(ses, req.cookie, error_value(req, &e)),
    };
    let got: u64 = spans.iter().map(|s| s.0).sum();
    if got != req.len as u64 {
        // As for simple replies: the resource shrank under us (it cannot
        // today) or the layer misbehaved; never claim bytes not covered.
        tracing::error!(resource = rid, got, want = req.len, "short sparse read");
        return error_reply(ses, req.cookie, proto::EIO);
    }
    let pieces: Vec<Piece> = spans
        .into_iter()
        .map(|(n, r)| match r {
            Ok(Some(d)) => Piece::Data(d),
            Ok(None) => Piece::Hole(n),
            Err(e) => Piece::Failed(n, error_value(req, &e)),
        })
        .collect();
    let df = req.flags & proto::CMD_FLAG_DF != 0;
    structured::read_reply(req.cookie, req.offset, &pieces, df)
}

/// `NBD_CMD_BLOCK_STATUS` for `base:allocation`: one metadata query over
/// at most [`MAX_STATUS_BLOCKS`] blocks, holes as `HOLE | ZERO`, data 0.
async fn block_status(arch: &Backend, ex: &Export, ses: Session, req: &Request) -> Vec<Bytes> {
    let Some(ctx) = ses.base_allocation else {
        return error_reply(ses, req.cookie, proto::EINVAL);
    };
    let bs = ex.block_size.max(1) as u64;
    let span = (req.len as u64).min(MAX_STATUS_BLOCKS * bs - req.offset % bs);
    let runs = match arch.extents(&ex.resource_id, req.offset, span).await {
        Ok(r) => r,
        Err(e) => return error_reply(ses, req.cookie, error_value(req, &e)),
    };
    let req_one = req.flags & proto::CMD_FLAG_REQ_ONE != 0;
    let descs = structured::descriptors(&runs, req.len, req_one);
    if descs.is_empty() {
        // In range by `check`, so only a resource smaller than its export
        // gets here; at least one descriptor is the spec's MUST.
        tracing::error!(resource = %ex.resource_id, offset = req.offset, "no extents in range");
        return error_reply(ses, req.cookie, proto::EIO);
    }
    let c = structured::block_status_chunk(proto::REPLY_FLAG_DONE, req.cookie, ctx, &descs);
    vec![Bytes::from(c)]
}

/// Checks a request against the export and the session without touching
/// data: the error to reply with, if any. Pure, so it is unit-tested below.
pub(crate) fn check(req: &Request, size: u64, readonly: bool, ses: Session) -> Result<(), u32> {
    let writes = matches!(
        req.kind,
        proto::CMD_WRITE | proto::CMD_TRIM | proto::CMD_WRITE_ZEROES
    );
    // DF exists only with structured replies (SEND_DF is offered only then).
    let df = if ses.structured {
        proto::CMD_FLAG_DF
    } else {
        0
    };
    let allowed_flags = match req.kind {
        proto::CMD_WRITE_ZEROES => proto::CMD_FLAG_FUA | proto::CMD_FLAG_NO_HOLE,
        // FUA is accepted on every command: the spec says existing clients
        // set it on reads and flushes too.
        proto::CMD_READ => proto::CMD_FLAG_FUA | df,
        proto::CMD_WRITE | proto::CMD_TRIM | proto::CMD_FLUSH => proto::CMD_FLAG_FUA,
        // Without a selected context there is nothing to report (the
        // spec's SHOULD: EINVAL); a zero length has no extent to describe.
        proto::CMD_BLOCK_STATUS if ses.base_allocation.is_some() && req.len > 0 => {
            proto::CMD_FLAG_FUA | proto::CMD_FLAG_REQ_ONE
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

/// Runs one request that `check` accepted: the reply's error value and,
/// for a READ, its data.
async fn execute(
    arch: &Backend,
    ex: &Export,
    req: &Request,
    payload: Option<Bytes>,
) -> (u32, Option<Bytes>) {
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
            arch.write(rid, off, data, fua).await
        }
        proto::CMD_TRIM if len == 0 => Ok(()),
        proto::CMD_TRIM => arch.zero(rid, off, len, true, fua).await,
        // NO_HOLE is accepted and needs no other path: the resource layer
        // never stores an all-zero block (thin provisioning, nothing to
        // preallocate), so zeros written are a hole whichever way.
        proto::CMD_WRITE_ZEROES if len == 0 => Ok(()),
        proto::CMD_WRITE_ZEROES => arch.zero(rid, off, len, false, fua).await,
        proto::CMD_FLUSH => arch.flush(rid).await,
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

    /// The check for a client without structured replies.
    fn chk(r: &Request, size: u64, ro: bool) -> Result<(), u32> {
        check(r, size, ro, Session::default())
    }

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
        assert_eq!(chk(&req(proto::CMD_READ, 0, 0, 4096), size, false), Ok(()));
        assert_eq!(
            chk(&req(proto::CMD_READ, 0, size, 1), size, false),
            Err(proto::EINVAL)
        );
        assert_eq!(
            chk(&req(proto::CMD_WRITE, 0, size - 512, 1024), size, false),
            Err(proto::ENOSPC)
        );
        assert_eq!(
            chk(&req(proto::CMD_WRITE_ZEROES, 0, size, 1), size, false),
            Err(proto::ENOSPC)
        );
        assert_eq!(
            chk(&req(proto::CMD_TRIM, 0, u64::MAX, 2), size, false),
            Err(proto::EINVAL)
        );
        assert_eq!(
            chk(
                &req(proto::CMD_READ, 0, 0, proto::MAX_PAYLOAD + 1),
                u64::MAX,
                false
            ),
            Err(proto::EINVAL)
        );
        // A write ending exactly at the end is fine.
        assert_eq!(
            chk(&req(proto::CMD_WRITE, 0, size - 1, 1), size, false),
            Ok(())
        );
    }

    #[test]
    fn readonly_refuses_writes_with_eperm() {
        for k in [proto::CMD_WRITE, proto::CMD_TRIM, proto::CMD_WRITE_ZEROES] {
            assert_eq!(chk(&req(k, 0, 0, 1), 4096, true), Err(proto::EPERM));
        }
        assert_eq!(chk(&req(proto::CMD_READ, 0, 0, 1), 4096, true), Ok(()));
        assert_eq!(chk(&req(proto::CMD_FLUSH, 0, 0, 0), 4096, true), Ok(()));
    }

    #[test]
    fn flags_and_unknown_commands() {
        assert_eq!(
            chk(
                &req(proto::CMD_WRITE_ZEROES, proto::CMD_FLAG_NO_HOLE, 0, 1),
                4096,
                false
            ),
            Ok(())
        );
        assert_eq!(
            chk(
                &req(proto::CMD_WRITE, proto::CMD_FLAG_NO_HOLE, 0, 1),
                4096,
                false
            ),
            Err(proto::EINVAL)
        );
        assert_eq!(
            chk(
                &req(proto::CMD_READ, proto::CMD_FLAG_FUA, 0, 1),
                4096,
                false
            ),
            Ok(())
        );
        // CACHE, BLOCK_STATUS and unknown types are not offered.
        for k in [5, 7, 99] {
            assert_eq!(chk(&req(k, 0, 0, 1), 4096, false), Err(proto::EINVAL));
        }
    }

    #[test]
    fn structured_flags_and_block_status() {
        let plain = Session::default();
        let sr = Session {
            structured: true,
            base_allocation: None,
        };
        let meta = Session {
            structured: true,
            base_allocation: Some(1),
        };
        let df = req(proto::CMD_READ, proto::CMD_FLAG_DF, 0, 512);
        assert_eq!(check(&df, 4096, false, plain), Err(proto::EINVAL));
        assert_eq!(check(&df, 4096, false, sr), Ok(()));
        let bs = req(proto::CMD_BLOCK_STATUS, proto::CMD_FLAG_REQ_ONE, 0, 4096);
        assert_eq!(check(&bs, 4096, true, sr), Err(proto::EINVAL));
        assert_eq!(check(&bs, 4096, true, meta), Ok(()));
        // Past the end, zero length, a flag of another command.
        let past = req(proto::CMD_BLOCK_STATUS, 0, 0, 4097);
        assert_eq!(check(&past, 4096, false, meta), Err(proto::EINVAL));
        let empty = req(proto::CMD_BLOCK_STATUS, 0, 0, 0);
        assert_eq!(check(&empty, 4096, false, meta), Err(proto::EINVAL));
        let df_bs = req(proto::CMD_BLOCK_STATUS, proto::CMD_FLAG_DF, 0, 1);
        assert_eq!(check(&df_bs, 4096, false, meta), Err(proto::EINVAL));
        // No payload limit: block status may ask about 4 GiB at once.
        let big = req(proto::CMD_BLOCK_STATUS, 0, 0, u32::MAX);
        assert_eq!(check(&big, u64::MAX, false, meta), Ok(()));
    }

    proptest! {
        #[test]
        fn accepted_requests_lie_inside_the_export(kind in 0u16..8, flags in any::<u16>(),
                                                   offset in any::<u64>(), len in any::<u32>(),
                                                   size in any::<u64>(), ro in any::<bool>()) {
            let r = req(kind, flags, offset, len);
            if chk(&r, size, ro).is_ok() && kind != proto::CMD_FLUSH {
                prop_assert!(offset as u128 + len as u128 <= size as u128);
                prop_assert!(!(ro && kind != proto::CMD_READ));
            }
        }
    }
}
