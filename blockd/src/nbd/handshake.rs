//! Option haggling of the newstyle fixed handshake, up to the choice of an
//! export.
//!
//! The server greets, reads the client flags, then answers options until
//! the client picks an export (`NBD_OPT_GO` acknowledged, or
//! `NBD_OPT_EXPORT_NAME`), aborts, or breaks the protocol. Export names are
//! secrets: `NBD_OPT_LIST` is refused with `NBD_REP_ERR_POLICY`, and the
//! replies never echo a name. Options the server does not implement
//! (structured replies, metadata contexts, TLS, extended headers) get
//! `NBD_REP_ERR_UNSUP`, which every client handles by falling back.

use std::io;
use std::net::IpAddr;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::exports::{Export, Refusal, Registry};
use super::proto::{self, InfoRequest, OptionHeader};

/// Options one client may send before it must have chosen an export.
/// QEMU and libnbd send fewer than ten; the bound stops a client that
/// loops forever.
const MAX_OPTIONS: usize = 64;

fn invalid(msg: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.into())
}

/// Runs the handshake. `Ok(Some(export))` enters transmission with it,
/// `Ok(None)` means the client aborted or was refused where only a hard
/// disconnect is possible; `Err` is an IO or protocol error.
pub(crate) async fn negotiate<S>(
    s: &mut S,
    peer: IpAddr,
    registry: &Registry,
) -> io::Result<Option<Export>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    s.write_all(&proto::greeting()).await?;
    s.flush().await?;
    let cflags =
        proto::parse_client_flags(s.read_u32().await?).map_err(|e| invalid(e.to_string()))?;
    for _ in 0..MAX_OPTIONS {
        let mut hdr = [0u8; proto::OPTION_HEADER_LEN];
        s.read_exact(&mut hdr).await?;
        let h = OptionHeader::parse(&hdr).map_err(|e| invalid(e.to_string()))?;
        if h.len > proto::MAX_OPTION_LEN {
            // The spec allows a hard disconnect for a payload large enough to
            // look like a denial of service; skipping it would mean reading it.
            return Err(invalid(format!("option of {} bytes", h.len)));
        }
        let mut data = vec![0u8; h.len as usize];
        s.read_exact(&mut data).await?;
        match h.option {
            proto::OPT_EXPORT_NAME => {
                let export = match proto::parse_export_name(&data) {
                    Some(name) => registry.lookup(&name, peer).await.ok(),
                    None => None,
                };
                // No error reply exists for this option: a refusal is a
                // hard disconnect (the spec's MUST).
                let Some(export) = export else {
                    return Ok(None);
                };
                let r = proto::export_name_reply(export.size, export.flags(), cflags.no_zeroes);
                s.write_all(&r).await?;
                s.flush().await?;
                return Ok(Some(export));
            }
            proto::OPT_ABORT => {
                // The client may already have gone; the reply is a courtesy.
                let _ = reply(s, h.option, proto::REP_ACK, b"").await;
                return Ok(None);
            }
            proto::OPT_LIST if !data.is_empty() => {
                reply(s, h.option, proto::REP_ERR_INVALID, b"LIST takes no data").await?
            }
            proto::OPT_LIST => {
                reply(
                    s,
                    h.option,
                    proto::REP_ERR_POLICY,
                    b"export names are not listed",
                )
                .await?
            }
            proto::OPT_INFO | proto::OPT_GO => {
                if let Some(e) = info_or_go(s, h.option, &data, peer, registry).await? {
                    return Ok(Some(e));
                }
            }
            _ => reply(s, h.option, proto::REP_ERR_UNSUP, b"").await?,
        }
    }
    Err(invalid("too many options"))
}

/// Answers `NBD_OPT_INFO` / `NBD_OPT_GO`; returns the export when a GO
/// succeeded.
async fn info_or_go<S>(
    s: &mut S,
    option: u32,
    data: &[u8],
    peer: IpAddr,
    registry: &Registry,
) -> io::Result<Option<Export>>
where
    S: AsyncWrite + Unpin,
{
    let Some(req) = InfoRequest::parse(data) else {
        reply(s, option, proto::REP_ERR_INVALID, b"malformed request").await?;
        return Ok(None);
    };
    let export = match registry.lookup(&req.name, peer).await {
        Ok(e) => e,
        Err(r) => {
            let (code, msg): (u32, &[u8]) = match r {
                Refusal::Unknown => (proto::REP_ERR_UNKNOWN, b"no such export"),
                Refusal::Policy => (
                    proto::REP_ERR_POLICY,
                    b"export not available to this address",
                ),
                Refusal::Failed => (proto::REP_ERR_UNKNOWN, b"export lookup failed"),
            };
            reply(s, option, code, msg).await?;
            return Ok(None);
        }
    };
    let mut out = proto::option_reply(
        option,
        proto::REP_INFO,
        &proto::info_export(export.size, export.flags()),
    );
    // Sent whether asked or not (allowed; clients ignore what they did not
    // ask for): minimum 1 since any byte range works, preferred the block
    // size (no read-modify-write), maximum the largest payload accepted.
    out.extend(proto::option_reply(
        option,
        proto::REP_INFO,
        &proto::info_block_size(1, export.preferred_block(), proto::MAX_PAYLOAD),
    ));
    out.extend(proto::option_reply(option, proto::REP_ACK, b""));
    s.write_all(&out).await?;
    s.flush().await?;
    Ok((option == proto::OPT_GO).then_some(export))
}

async fn reply<S>(s: &mut S, option: u32, code: u32, msg: &[u8]) -> io::Result<()>
where
    S: AsyncWrite + Unpin,
{
    s.write_all(&proto::option_reply(option, code, msg)).await?;
    s.flush().await
}
